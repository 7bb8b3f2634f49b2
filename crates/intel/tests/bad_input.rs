//! Feeds that fail: each pull ends with a recorded error in
//! `HomesocIntelPulls`, and the indicators of earlier pulls stay as they
//! were.

mod common;

use std::collections::BTreeMap;

use common::{Canned, FolderServer, corpus_dir, quick_fetcher, table_rows};
use intel::{FeedConfig, FeedFormat, FeedsFile, PullResult, pull_feed};
use store::Workspace;

const TII: &str = "ThreatIntelligenceIndicator";

/// A workspace with the Infoblox sample (212 indicators) and the Feodo CSV
/// sample (28) pulled from a copy of the corpus files served on 127.0.0.1.
struct Setup {
    _data: tempfile::TempDir,
    feed_dir: tempfile::TempDir,
    workspace: Workspace,
    server: FolderServer,
    infoblox: FeedConfig,
    feodo: FeedConfig,
}

async fn setup() -> Setup {
    let feed_dir = tempfile::tempdir().unwrap();
    for folder in ["misp/feed-misp-infoblox", "misp/feeds-text"] {
        for entry in std::fs::read_dir(corpus_dir().join(folder)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, feed_dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let server = FolderServer::start(feed_dir.path());
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let infoblox = FeedConfig::new("Infoblox", &server.url(""), FeedFormat::Misp);
    let feodo = FeedConfig {
        value_columns: vec![2],
        ..FeedConfig::new(
            "Feodo",
            &server.url("feodo_ipblocklist.csv"),
            FeedFormat::Csv,
        )
    };
    let fetcher = quick_fetcher();
    for feed in [&infoblox, &feodo] {
        let report = pull_feed(&workspace, &fetcher, &FeedsFile::default(), feed)
            .await
            .unwrap();
        assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    }
    Setup {
        _data: data,
        feed_dir,
        workspace,
        server,
        infoblox,
        feodo,
    }
}

/// Pulls `feed`, expects a failure whose message contains `expected`, and
/// checks that the failure is recorded and no indicator changed.
async fn expect_failure(setup: &Setup, feed: &FeedConfig, expected: &str) {
    let before = table_rows(&setup.workspace, TII, &["IndicatorId", "Active"]).await;
    let report = pull_feed(
        &setup.workspace,
        &quick_fetcher(),
        &FeedsFile::default(),
        feed,
    )
    .await
    .unwrap();
    assert_eq!(report.result, PullResult::Failed, "{report:?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.contains(expected),
        "error {error:?} should contain {expected:?}"
    );

    let after = table_rows(&setup.workspace, TII, &["IndicatorId", "Active"]).await;
    assert_eq!(after.len(), before.len(), "no indicator row was written");
    assert_eq!(after.len(), 212 + 28);
    let latest = intel::stored::latest_indicators(&setup.workspace)
        .await
        .unwrap();
    assert_eq!(
        latest.iter().filter(|i| i.active).count(),
        240,
        "every indicator is still active"
    );

    let pulls = table_rows(
        &setup.workspace,
        "HomesocIntelPulls",
        &["FeedName", "Result", "Error"],
    )
    .await;
    let recorded = pulls
        .iter()
        .filter(|r| r["FeedName"] == feed.name && r["Result"] == "Failed")
        .any(|r| r["Error"] == error);
    assert!(recorded, "the failure is recorded: {pulls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_manifest() {
    let setup = setup().await;
    setup.server.set_canned(
        "manifest.json",
        Canned {
            status: 200,
            content_type: "application/json",
            body: br#"{"not-a-uuid": {"timestamp": 1}}"#.to_vec(),
        },
    );
    expect_failure(&setup, &setup.infoblox, "invalid MISP manifest").await;
    setup.server.set_canned(
        "manifest.json",
        Canned {
            status: 200,
            content_type: "application/json",
            body: b"{\"truncated".to_vec(),
        },
    );
    expect_failure(&setup, &setup.infoblox, "invalid MISP manifest").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn event_file_not_json() {
    let setup = setup().await;
    let event = "dad88707-beb8-4a14-94e2-5ffecf5a5f85";
    let manifest_path = setup.feed_dir.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest[event]["timestamp"] = serde_json::json!(1900000000);
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    setup.server.set_canned(
        &format!("{event}.json"),
        Canned {
            status: 200,
            content_type: "application/json",
            body: b"this is not JSON".to_vec(),
        },
    );
    expect_failure(&setup, &setup.infoblox, "invalid MISP event").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_with_wrong_column() {
    let setup = setup().await;
    let feed = FeedConfig {
        value_columns: vec![9],
        ..setup.feodo.clone()
    };
    expect_failure(&setup, &feed, "has column 9").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_server() {
    let setup = setup().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let feed = FeedConfig {
        url: format!("http://127.0.0.1:{port}/feed"),
        ..setup.infoblox.clone()
    };
    expect_failure(&setup, &feed, "cannot fetch").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_failure() {
    let setup = setup().await;
    // The test server speaks plain HTTP, so the TLS handshake fails.
    let feed = FeedConfig {
        url: format!(
            "https://127.0.0.1:{}/feodo_ipblocklist.csv",
            setup.server.port
        ),
        ..setup.feodo.clone()
    };
    expect_failure(&setup, &feed, "cannot fetch").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_error_500() {
    let setup = setup().await;
    setup.server.set_canned(
        "manifest.json",
        Canned {
            status: 500,
            content_type: "application/json",
            body: br#"{"name":"An Internal Error Has Occurred."}"#.to_vec(),
        },
    );
    expect_failure(&setup, &setup.infoblox, "HTTP 500").await;
    let requests: BTreeMap<_, _> = setup.server.take_requests();
    assert!(requests["/manifest.json"] >= 3, "retried: {requests:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn html_page_served_as_feed() {
    let setup = setup().await;
    let page =
        b"<!DOCTYPE html><html><body>Login required: see https://portal.example.com/</body></html>"
            .to_vec();
    for content_type in ["text/html; charset=utf-8", "text/plain"] {
        setup.server.set_canned(
            "feodo_ipblocklist.csv",
            Canned {
                status: 200,
                content_type,
                body: page.clone(),
            },
        );
        expect_failure(&setup, &setup.feodo, "HTML page").await;
    }
}
