//! Pulls the CSV and freetext samples from an HTTP server on 127.0.0.1 and
//! reads MISP's default feed list.

mod common;

use std::collections::BTreeMap;

use common::{
    FolderServer, INDICATOR_COLUMNS, corpus_dir, filled_counts, quick_fetcher, table_rows,
    value_counts,
};
use intel::misp::defaults::parse_default_feeds;
use intel::{FeedConfig, FeedFormat, FeedsFile, PullResult, pull_feed};
use store::Workspace;

const TII: &str = "ThreatIntelligenceIndicator";

/// Pulls one text feed into a new workspace and returns its rows.
async fn pull_rows(feed: FeedConfig, server: &FolderServer) -> Vec<BTreeMap<String, String>> {
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let fetcher = quick_fetcher();
    let report = pull_feed(&workspace, &fetcher, &FeedsFile::default(), &feed)
        .await
        .unwrap();
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");

    server.take_requests();
    let again = pull_feed(&workspace, &fetcher, &FeedsFile::default(), &feed)
        .await
        .unwrap();
    assert_eq!(again.result, PullResult::NotModified, "{again:?}");
    let rows = table_rows(&workspace, TII, INDICATOR_COLUMNS).await;
    assert_eq!(
        rows.len() as u64,
        report.added,
        "the second pull wrote no row"
    );
    for row in &rows {
        assert_eq!(row["TrafficLightProtocolLevel"], "Red");
        assert_eq!(row["ThreatType"], "WatchList");
        assert_eq!(row["ConfidenceScore"], "50.0");
    }
    rows
}

fn assert_filled(rows: &[BTreeMap<String, String>], expected: &[(&str, usize)]) {
    let filled = filled_counts(rows);
    for (column, count) in expected {
        assert_eq!(
            filled.get(*column).copied().unwrap_or(0),
            *count,
            "rows filling {column}"
        );
    }
}

fn text_server() -> FolderServer {
    FolderServer::start(&corpus_dir().join("misp/feeds-text"))
}

#[tokio::test(flavor = "multi_thread")]
async fn feodo_csv_value_column_two() {
    let server = text_server();
    let feed = FeedConfig {
        value_columns: vec![2],
        ..FeedConfig::new(
            "Feodo IP Blocklist",
            &server.url("feodo_ipblocklist.csv"),
            FeedFormat::Csv,
        )
    };
    let rows = pull_rows(feed, &server).await;
    assert_eq!(rows.len(), 28);
    assert_filled(
        &rows,
        &[
            ("NetworkDestinationIP", 28),
            ("NetworkIP", 28),
            ("Url", 0),
            ("DomainName", 0),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn diamondfox_freetext_refangs_urls() {
    let server = text_server();
    let feed = FeedConfig::new(
        "diamondfox_panels",
        &server.url("diamondfox_panels.head20.txt"),
        FeedFormat::Freetext,
    );
    let rows = pull_rows(feed, &server).await;
    assert_eq!(rows.len(), 38);
    assert_filled(
        &rows,
        &[("Url", 20), ("FileHashValue", 18), ("NetworkIP", 0)],
    );
    assert_eq!(value_counts(&rows, "FileHashType")["sha256"], 18);
    assert!(rows.iter().all(|r| !r["Url"].starts_with("hxxp")));
}

#[tokio::test(flavor = "multi_thread")]
async fn firehol_freetext_with_cidrs() {
    let server = text_server();
    let feed = FeedConfig::new(
        "firehol_level1",
        &server.url("firehol_level1.head100.netset"),
        FeedFormat::Freetext,
    );
    let rows = pull_rows(feed, &server).await;
    assert_eq!(rows.len(), 69);
    assert_filled(
        &rows,
        &[
            ("NetworkDestinationIP", 50),
            ("NetworkIP", 50),
            ("NetworkDestinationCidrBlock", 16),
            ("NetworkCidrBlock", 16),
            ("Url", 2),
            ("DomainName", 1),
        ],
    );
    assert_eq!(value_counts(&rows, "DomainName")["update-ipsets.sh"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn confidence_override_applies_to_every_row() {
    let server = text_server();
    let feed = FeedConfig {
        value_columns: vec![2],
        confidence: Some(100.0),
        ..FeedConfig::new(
            "trusted",
            &server.url("feodo_ipblocklist.csv"),
            FeedFormat::Csv,
        )
    };
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    pull_feed(&workspace, &quick_fetcher(), &FeedsFile::default(), &feed)
        .await
        .unwrap();
    let rows = table_rows(&workspace, TII, &["ConfidenceScore"]).await;
    assert_eq!(
        value_counts(&rows, "ConfidenceScore"),
        BTreeMap::from([("100.0".to_string(), 28)])
    );
}

#[test]
fn misp_default_feed_list_loads_all_84() {
    let path = corpus_dir().join("misp/feed-metadata/defaults.json");
    let feeds = parse_default_feeds(&std::fs::read(&path).unwrap(), "defaults.json").unwrap();
    assert_eq!(feeds.len(), 84);
    let formats = feeds.iter().fold(BTreeMap::new(), |mut counts, feed| {
        *counts.entry(feed.format.name()).or_insert(0) += 1;
        counts
    });
    assert_eq!(
        formats,
        BTreeMap::from([("csv", 42), ("freetext", 35), ("misp", 7)])
    );
    assert_eq!(feeds.iter().filter(|f| f.enabled).count(), 59);
    for feed in &feeds {
        feed.validate()
            .unwrap_or_else(|err| panic!("{}: {err}", feed.name));
    }

    let feodo = feeds
        .iter()
        .find(|f| f.name == "Feodo IP Blocklist")
        .unwrap();
    assert_eq!(feodo.value_columns, [2]);
    assert_eq!(feodo.delimiter, ',');
    let dataplane = feeds.iter().filter(|f| f.delimiter == '|').count();
    assert_eq!(dataplane, 12, "dataplane.org feeds use |");
    let column_three = feeds.iter().filter(|f| f.value_columns == [3]).count();
    assert_eq!(column_three, 19);
    assert!(
        feeds
            .iter()
            .any(|f| f.value_columns == [3, 4] && f.delimiter == ';')
    );
    let names: std::collections::BTreeSet<_> = feeds.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains("CIRCL OSINT Feed"));
}
