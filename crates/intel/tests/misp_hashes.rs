//! The `hashes.csv` of a MISP feed: stored at a pull, found by value
//! lookups, replaced, removed, and a malformed file failing the pull.
//! The test writes the file for the Infoblox sample as PyMISP's feed
//! generator does: one `md5(value),event_uuid` line per value, with
//! composite values split at `|`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Canned, FolderServer, corpus_dir, quick_fetcher, table_rows};
use intel::misp::hashes::{FeedListing, find_in_feed_hashes, stored_hashes_path};
use intel::{FeedConfig, FeedFormat, FeedsFile, PullReport, PullResult, pull_feed};
use md5::{Digest as _, Md5};
use store::Workspace;

const TII: &str = "ThreatIntelligenceIndicator";

/// The `filename|sha256` attribute of event 68f58844 whose value has no
/// `|`, so it makes no indicator.
const MALFORMED_VALUE: &str =
    "t1fde0f101c9395f39ecd16430b41041a59107c73c904087309fb8d0e8d87e0077129f3f";
const MALFORMED_EVENT: &str = "68f58844-4aa6-4e1c-8ee5-cfb58eb6665e";

/// Copies the Infoblox feed into `folder` and writes its hashes.csv.
/// Returns the number of lines.
fn write_feed_with_hashes(folder: &Path) -> usize {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(corpus_dir().join("misp/feed-misp-infoblox")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, folder.join(path.file_name().unwrap())).unwrap();
        if path.file_name().unwrap() == "manifest.json" {
            continue;
        }
        let event: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let event = &event["Event"];
        let uuid = event["uuid"].as_str().unwrap();
        let object_attributes = event["Object"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|object| object["Attribute"].as_array().unwrap());
        for attribute in event["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .chain(object_attributes)
        {
            for part in attribute["value"].as_str().unwrap().split('|') {
                let hex: String = Md5::digest(part.as_bytes())
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                lines.push(format!("{hex},{uuid}"));
            }
        }
    }
    std::fs::write(folder.join("hashes.csv"), lines.join("\n") + "\n").unwrap();
    lines.len()
}

async fn pull(workspace: &Workspace, feed: &FeedConfig) -> PullReport {
    pull_feed(workspace, &quick_fetcher(), &FeedsFile::default(), feed)
        .await
        .unwrap()
}

/// Raises one event's manifest timestamp, so that the next pull reads the
/// manifest as changed.
fn touch_manifest(folder: &Path) {
    let path = folder.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let timestamp = manifest[MALFORMED_EVENT]["timestamp"]
        .as_i64()
        .unwrap_or_else(|| {
            manifest[MALFORMED_EVENT]["timestamp"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        });
    manifest[MALFORMED_EVENT]["timestamp"] = serde_json::json!(timestamp + 1);
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn hashes_csv_listings() {
    let folder = tempfile::tempdir().unwrap();
    let lines = write_feed_with_hashes(folder.path());
    assert_eq!(
        lines, 213,
        "one line per value part, as the corpus notes say"
    );
    let server = FolderServer::start(folder.path());
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feed = FeedConfig::new("Infoblox", &server.url(""), FeedFormat::Misp);
    let feeds = FeedsFile {
        feeds: vec![feed.clone()],
        ..FeedsFile::default()
    };
    let root = workspace.root().to_path_buf();

    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.added, 212);
    let stored = stored_hashes_path(&root, "Infoblox");
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        std::fs::read(folder.path().join("hashes.csv")).unwrap(),
        "the pull stored the feed's hashes.csv"
    );

    // The malformed value makes no indicator, but the feed lists it.
    let listed = find_in_feed_hashes(&root, &feeds, MALFORMED_VALUE).unwrap();
    assert_eq!(
        listed,
        [FeedListing {
            feed: "Infoblox".into(),
            event_uuid: MALFORMED_EVENT.into(),
        }]
    );
    // 5.199.173.4 is in both decoy_dog events.
    let listed = find_in_feed_hashes(&root, &feeds, "5.199.173.4").unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        find_in_feed_hashes(&root, &feeds, "192.0.2.250")
            .unwrap()
            .is_empty()
    );
    let upper = MALFORMED_VALUE.to_ascii_uppercase();
    assert_eq!(
        find_in_feed_hashes(&root, &feeds, &upper).unwrap().len(),
        1,
        "a value in another case is found"
    );

    // A changed manifest with the same hashes.csv: the server answers 304
    // to the stored copy's ETag and the copy stays.
    touch_manifest(folder.path());
    server.take_requests();
    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    let requests: BTreeMap<String, usize> = server.take_requests();
    assert_eq!(requests["/hashes.csv"], 1, "{requests:?}");
    assert!(stored.exists());

    // The feed stops publishing the file: the stored copy goes too.
    std::fs::remove_file(folder.path().join("hashes.csv")).unwrap();
    touch_manifest(folder.path());
    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert!(
        !stored.exists(),
        "the copy of a withdrawn hashes.csv is removed"
    );
    assert!(
        find_in_feed_hashes(&root, &feeds, MALFORMED_VALUE)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_hashes_csv_fails_pull() {
    let folder = tempfile::tempdir().unwrap();
    write_feed_with_hashes(folder.path());
    let server = FolderServer::start(folder.path());
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feed = FeedConfig::new("Infoblox", &server.url(""), FeedFormat::Misp);
    assert_eq!(pull(&workspace, &feed).await.result, PullResult::Succeeded);
    let stored = stored_hashes_path(workspace.root(), "Infoblox");
    let before = std::fs::read(&stored).unwrap();

    touch_manifest(folder.path());
    server.set_canned(
        "hashes.csv",
        Canned {
            status: 200,
            content_type: "text/csv",
            body: format!(
                "5ababd603b22780302dd8d83498e5172,{MALFORMED_EVENT}\nexample.com,{MALFORMED_EVENT}\n"
            )
            .into_bytes(),
        },
    );
    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Failed, "{report:?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(error.contains("invalid MISP hashes.csv"), "{error}");
    assert!(error.contains("line 2 is \"example.com,"), "{error}");

    assert_eq!(
        std::fs::read(&stored).unwrap(),
        before,
        "the stored copy is kept"
    );
    assert_eq!(
        table_rows(&workspace, TII, &["IndicatorId"]).await.len(),
        212
    );
    let pulls = table_rows(&workspace, "HomesocIntelPulls", &["Result", "Error"]).await;
    assert!(
        pulls
            .iter()
            .any(|row| row["Result"] == "Failed" && row["Error"] == error),
        "the failure is recorded: {pulls:?}"
    );
}
