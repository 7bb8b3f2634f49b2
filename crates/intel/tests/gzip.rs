//! Gzip: responses with `Content-Encoding: gzip` from an HTTP server on
//! 127.0.0.1, `.gz` feed files over HTTP and on disk, and corrupt gzip data,
//! which fails the pull and leaves the indicators as they were.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{
    Canned, FolderServer, INDICATOR_COLUMNS, corpus_dir, gzip, quick_fetcher, table_rows,
};
use intel::{FeedConfig, FeedFormat, FeedsFile, PullReport, PullResult, pull_feed};
use store::Workspace;

const TII: &str = "ThreatIntelligenceIndicator";

async fn pull(workspace: &Workspace, feed: &FeedConfig) -> PullReport {
    pull_feed(workspace, &quick_fetcher(), &FeedsFile::default(), feed)
        .await
        .unwrap()
}

/// Collects the observable columns of every row into a set, so that two
/// pulls can be compared.
async fn observables(workspace: &Workspace) -> BTreeSet<Vec<String>> {
    table_rows(workspace, TII, INDICATOR_COLUMNS)
        .await
        .into_iter()
        .map(|row| {
            INDICATOR_COLUMNS
                .iter()
                .filter(|column| **column != "IndicatorId")
                .map(|column| row[*column].clone())
                .collect()
        })
        .collect()
}

fn copy_folder(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn misp_feed_with_gzip_encoding() {
    let infoblox = corpus_dir().join("misp/feed-misp-infoblox");
    let plain_server = FolderServer::start(&infoblox);
    let gzip_server = FolderServer::start(&infoblox);
    gzip_server.compress(true);

    let plain_data = tempfile::tempdir().unwrap();
    let plain_workspace = Workspace::open(plain_data.path()).unwrap();
    let plain_feed = FeedConfig::new("Infoblox", &plain_server.url(""), FeedFormat::Misp);
    let plain = pull(&plain_workspace, &plain_feed).await;
    assert_eq!(plain.result, PullResult::Succeeded, "{plain:?}");
    assert_eq!(plain_server.gzipped_answers(), 0);

    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feed = FeedConfig::new("Infoblox", &gzip_server.url(""), FeedFormat::Misp);
    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.events_fetched, 7);
    assert_eq!(report.added, 212);
    assert_eq!(
        gzip_server.gzipped_answers(),
        8,
        "the manifest and the 7 event files came gzip-encoded"
    );
    assert_eq!(
        observables(&workspace).await,
        observables(&plain_workspace).await,
        "the gzip pull wrote the rows of the plain pull"
    );

    gzip_server.take_requests();
    let again = pull(&workspace, &feed).await;
    assert_eq!(again.result, PullResult::NotModified, "{again:?}");
    let requests = gzip_server.take_requests();
    assert_eq!(
        requests.keys().collect::<Vec<_>>(),
        ["/manifest.json"],
        "only the manifest was requested again"
    );
    assert_eq!(
        table_rows(&workspace, TII, &["IndicatorId"]).await.len(),
        212
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gz_files_over_http_and_disk() {
    let text_feeds = corpus_dir().join("misp/feeds-text");
    let folder = tempfile::tempdir().unwrap();
    for name in ["feodo_ipblocklist.csv", "diamondfox_panels.head20.txt"] {
        let content = std::fs::read(text_feeds.join(name)).unwrap();
        std::fs::write(folder.path().join(format!("{name}.gz")), gzip(&content)).unwrap();
    }
    let server = FolderServer::start(folder.path());
    server.add_header("feodo_ipblocklist.csv.gz", "X-Served-As: application/gzip");

    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feodo = FeedConfig {
        value_columns: vec![2],
        ..FeedConfig::new(
            "Feodo",
            &server.url("feodo_ipblocklist.csv.gz"),
            FeedFormat::Csv,
        )
    };
    let report = pull(&workspace, &feodo).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.added, 28, "Feodo lists 28 addresses");

    let local_path = folder.path().join("diamondfox_panels.head20.txt.gz");
    let diamondfox = FeedConfig::new(
        "DiamondFox",
        local_path.to_str().unwrap(),
        FeedFormat::Freetext,
    );
    let report = pull(&workspace, &diamondfox).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.added, 38, "20 URLs and 18 SHA-256 hashes");

    let rows = table_rows(&workspace, TII, &["SourceSystem", "Url", "NetworkIP"]).await;
    assert_eq!(rows.len(), 66);
    assert!(
        rows.iter()
            .filter(|row| row["SourceSystem"] == "DiamondFox")
            .any(|row| row["Url"].starts_with("http://")),
        "decompressed URLs were refanged: {rows:?}"
    );
}

/// Checks that the last pull of `feed` failed with a gzip error, was
/// recorded, and that the table still has `rows` rows.
async fn assert_gzip_failure(workspace: &Workspace, report: &PullReport, rows: usize) {
    assert_eq!(report.result, PullResult::Failed, "{report:?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(error.contains("invalid gzip content"), "{error}");
    assert!(error.contains("corrupt or truncated"), "{error}");
    assert_eq!(
        table_rows(workspace, TII, &["IndicatorId"]).await.len(),
        rows
    );
    let latest = intel::stored::latest_indicators(workspace).await.unwrap();
    assert_eq!(
        latest.iter().filter(|indicator| indicator.active).count(),
        rows,
        "every indicator is still active"
    );
    let pulls = table_rows(
        workspace,
        "HomesocIntelPulls",
        &["FeedName", "Result", "Error"],
    )
    .await;
    assert!(
        pulls
            .iter()
            .any(|row| row["FeedName"] == report.feed && row["Error"] == error),
        "the failure is recorded: {pulls:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_gzip_fails_pull() {
    let folder = tempfile::tempdir().unwrap();
    copy_folder(&corpus_dir().join("misp/feed-misp-infoblox"), folder.path());
    let server = FolderServer::start(folder.path());
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feed = FeedConfig::new("Infoblox", &server.url(""), FeedFormat::Misp);
    assert_eq!(pull(&workspace, &feed).await.result, PullResult::Succeeded);

    // Data that claims to be gzip-encoded but is not.
    server.set_canned(
        "manifest.json",
        Canned {
            status: 200,
            content_type: "application/json",
            body: b"\x1f\x8b\x08\x00 this is not deflate data".to_vec(),
        },
    );
    server.add_header("manifest.json", "Content-Encoding: gzip");
    let report = pull(&workspace, &feed).await;
    assert_gzip_failure(&workspace, &report, 212).await;

    // A truncated gzip event file, served as it is without
    // Content-Encoding. The new URL makes the pull read every event.
    let event_file = folder
        .path()
        .join("dad88707-beb8-4a14-94e2-5ffecf5a5f85.json");
    let compressed = gzip(&std::fs::read(&event_file).unwrap());
    std::fs::write(&event_file, &compressed[..compressed.len() - 20]).unwrap();
    let second_server = FolderServer::start(folder.path());
    let moved = FeedConfig {
        url: second_server.url(""),
        ..feed.clone()
    };
    let report = pull(&workspace, &moved).await;
    assert_gzip_failure(&workspace, &report, 212).await;
}
