//! Pulls the MISP-format Infoblox sample from an HTTP server on 127.0.0.1
//! and checks the rows against the corpus's expected counts.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{
    FolderServer, INDICATOR_COLUMNS, corpus_dir, filled_counts, quick_fetcher, table_rows,
    value_counts,
};
use intel::{FeedConfig, FeedFormat, FeedsFile, PullResult, pull_feed};
use store::Workspace;

const TII: &str = "ThreatIntelligenceIndicator";

fn infoblox_dir() -> std::path::PathBuf {
    corpus_dir().join("misp/feed-misp-infoblox")
}

#[tokio::test(flavor = "multi_thread")]
async fn infoblox_pull_gives_expected_rows() {
    let server = FolderServer::start(&infoblox_dir());
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feeds = FeedsFile::default();
    let feed = FeedConfig::new("Infoblox", &server.url(""), FeedFormat::Misp);
    let fetcher = quick_fetcher();

    let report = pull_feed(&workspace, &fetcher, &feeds, &feed)
        .await
        .unwrap();
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.events_listed, 7);
    assert_eq!(report.events_fetched, 7);
    assert_eq!(report.added, 212);
    assert_eq!(report.rejected, 1);

    let rows = table_rows(&workspace, TII, INDICATOR_COLUMNS).await;
    assert_eq!(rows.len(), 212);
    let filled = filled_counts(&rows);
    let expected_filled = BTreeMap::from([
        ("DomainName", 153),
        ("NetworkIP", 40),
        ("NetworkDestinationIP", 40),
        ("FileHashValue", 12),
        ("FileHashType", 12),
        ("Url", 7),
    ]);
    for (column, count) in &expected_filled {
        assert_eq!(
            filled.get(*column).copied().unwrap_or(0),
            *count,
            "rows filling {column}"
        );
    }
    for column in [
        "NetworkSourceIP",
        "FileName",
        "EmailSenderAddress",
        "EmailRecipient",
        "NetworkCidrBlock",
    ] {
        assert_eq!(filled.get(column), None, "no row fills {column}");
    }
    assert_eq!(
        value_counts(&rows, "ThreatType"),
        BTreeMap::from([("WatchList".to_string(), 212)])
    );
    assert_eq!(
        value_counts(&rows, "ConfidenceScore"),
        BTreeMap::from([("50.0".to_string(), 212)])
    );
    assert_eq!(
        value_counts(&rows, "TrafficLightProtocolLevel"),
        BTreeMap::from([("White".to_string(), 212)])
    );
    assert_eq!(
        value_counts(&rows, "FileHashType"),
        BTreeMap::from([(String::new(), 200), ("sha256".to_string(), 12)])
    );
    assert_eq!(
        value_counts(&rows, "Active"),
        BTreeMap::from([("true".to_string(), 212)])
    );
    assert_eq!(
        value_counts(&rows, "SourceSystem"),
        BTreeMap::from([("Infoblox".to_string(), 212)])
    );

    let distinct = |column: &str| {
        rows.iter()
            .map(|r| r[column].clone())
            .filter(|v| !v.is_empty())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(distinct("DomainName").len(), 141);
    assert_eq!(distinct("NetworkIP").len(), 36);
    assert_eq!(distinct("FileHashValue").len(), 9);
    assert_eq!(distinct("Url").len(), 7);
    assert_eq!(
        distinct("ExternalIndicatorId").len(),
        212,
        "one row per attribute UUID"
    );
    assert!(
        !distinct("ExternalIndicatorId").contains("e1763fb6-c003-48bf-b51e-a255340b4160"),
        "malformed filename|sha256 is rejected"
    );
    let urls = distinct("Url");
    assert!(
        urls.iter()
            .all(|url| url.starts_with("http://") || url.starts_with("https://"))
    );
    for ip in [
        "120.79.173.34",
        "5.199.173.4",
        "72.167.52.130",
        "83.166.240.52",
    ] {
        assert!(distinct("NetworkIP").contains(ip), "{ip}");
    }

    let requests = server.take_requests();
    assert_eq!(requests["/manifest.json"], 1);
    assert_eq!(
        requests["/hashes.csv"], 1,
        "the optional hashes.csv is asked for"
    );
    assert_eq!(
        requests.len(),
        9,
        "manifest, hashes.csv and 7 events: {requests:?}"
    );

    let stix_rows = table_rows(
        &workspace,
        "ThreatIntelIndicators",
        &[
            "ObservableKey",
            "IsActive",
            "Confidence",
            "AdditionalFields",
        ],
    )
    .await;
    assert_eq!(stix_rows.len(), 212, "one STIX-shaped row per indicator");
    let keys = value_counts(&stix_rows, "ObservableKey");
    let expected_keys = BTreeMap::from([
        ("domain-name:value".to_string(), 153),
        ("ipv4-addr:value".to_string(), 40),
        ("file:hashes.'SHA-256'".to_string(), 12),
        ("url:value".to_string(), 7),
    ]);
    assert_eq!(keys, expected_keys);
    assert_eq!(
        value_counts(&stix_rows, "IsActive"),
        BTreeMap::from([("true".to_string(), 212)])
    );
    assert_eq!(
        value_counts(&stix_rows, "Confidence"),
        BTreeMap::from([("50".to_string(), 212)])
    );
    assert_eq!(
        value_counts(&stix_rows, "AdditionalFields"),
        BTreeMap::from([("{\"TLPLevel\":\"White\"}".to_string(), 212)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn second_pull_fetches_and_writes_nothing() {
    let server = FolderServer::start(&infoblox_dir());
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feeds = FeedsFile::default();
    let feed = FeedConfig::new("Infoblox", &server.url(""), FeedFormat::Misp);
    let fetcher = quick_fetcher();

    pull_feed(&workspace, &fetcher, &feeds, &feed)
        .await
        .unwrap();
    server.take_requests();
    let report = pull_feed(&workspace, &fetcher, &feeds, &feed)
        .await
        .unwrap();
    assert_eq!(report.result, PullResult::NotModified);
    assert_eq!(report.added + report.updated + report.deactivated, 0);

    let requests = server.take_requests();
    assert_eq!(
        requests.keys().collect::<Vec<_>>(),
        ["/manifest.json"],
        "only the manifest is requested"
    );
    let rows = table_rows(&workspace, TII, &["IndicatorId"]).await;
    assert_eq!(rows.len(), 212, "no row was written");
    let pulls = table_rows(
        &workspace,
        "HomesocIntelPulls",
        &["Result", "IndicatorsAdded"],
    )
    .await;
    let results: BTreeSet<_> = pulls
        .iter()
        .map(|r| (r["Result"].clone(), r["IndicatorsAdded"].clone()))
        .collect();
    assert_eq!(
        results,
        BTreeSet::from([
            ("Succeeded".to_string(), "212".to_string()),
            ("NotModified".to_string(), "0".to_string())
        ])
    );
}

/// Copies the sample feed into a folder the test may change.
fn copy_feed() -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(infoblox_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, folder.path().join(path.file_name().unwrap())).unwrap();
    }
    folder
}

fn edit_json(path: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(path, serde_json::to_vec(&json).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_event_is_refetched_and_withdrawn_attribute_deactivated() {
    let feed_dir = copy_feed();
    let server = FolderServer::start(feed_dir.path());
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feeds = FeedsFile::default();
    let feed = FeedConfig::new("Infoblox", &server.url(""), FeedFormat::Misp);
    let fetcher = quick_fetcher();
    pull_feed(&workspace, &fetcher, &feeds, &feed)
        .await
        .unwrap();
    server.take_requests();

    let event = "dad88707-beb8-4a14-94e2-5ffecf5a5f85";
    let withdrawn = "8df593ee-c8da-405c-9acd-334ab65fa949";
    edit_json(&feed_dir.path().join("manifest.json"), |json| {
        json[event]["timestamp"] = serde_json::json!(1800000000);
    });
    edit_json(&feed_dir.path().join(format!("{event}.json")), |json| {
        let attributes = json["Event"]["Attribute"].as_array_mut().unwrap();
        let attribute = attributes
            .iter_mut()
            .find(|a| a["uuid"] == withdrawn)
            .unwrap();
        attribute["to_ids"] = serde_json::json!(false);
    });

    let report = pull_feed(&workspace, &fetcher, &feeds, &feed)
        .await
        .unwrap();
    assert_eq!(report.result, PullResult::Succeeded);
    assert_eq!(report.events_fetched, 1);
    assert_eq!(
        (report.added, report.updated, report.deactivated),
        (0, 0, 1)
    );
    let requests = server.take_requests();
    assert_eq!(
        requests.keys().collect::<Vec<_>>(),
        [
            "/dad88707-beb8-4a14-94e2-5ffecf5a5f85.json",
            "/hashes.csv",
            "/manifest.json"
        ]
    );

    let rows = table_rows(
        &workspace,
        TII,
        &["ExternalIndicatorId", "Active", "DomainName"],
    )
    .await;
    assert_eq!(rows.len(), 213);
    let versions: Vec<_> = rows
        .iter()
        .filter(|r| r["ExternalIndicatorId"] == withdrawn)
        .collect();
    assert_eq!(versions.len(), 2);
    let states: BTreeSet<_> = versions.iter().map(|r| r["Active"].clone()).collect();
    assert_eq!(
        states,
        BTreeSet::from(["false".to_string(), "true".to_string()])
    );
    assert!(
        versions.iter().all(|r| r["DomainName"] == "claudfront.net"),
        "the inactive row keeps its observable"
    );

    let stored = intel::stored::latest_indicators(&workspace).await.unwrap();
    let latest = stored.iter().find(|i| i.external_id == withdrawn).unwrap();
    assert!(!latest.active, "the latest version is inactive");
    assert_eq!(stored.iter().filter(|i| i.active).count(), 211);
}
