//! The feed refresher against a real HTTP server on 127.0.0.1: a feed is
//! pulled when it is due by its interval and not before, also by a new
//! refresher that reads the last pull from the feed's state.

mod common;

use common::{FolderServer, corpus_dir, quick_fetcher};
use intel::{FeedConfig, FeedFormat, FeedsFile, RefreshOptions, Refresher};
use store::Workspace;

const TICKS_PER_MINUTE: i64 = 600_000_000;

fn now_ticks() -> i64 {
    intel::indicator::now_ticks()
}

fn refresher(workspace: &Workspace) -> Refresher {
    Refresher::new(
        workspace.clone(),
        quick_fetcher(),
        RefreshOptions::default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_pull_when_due() {
    let server = FolderServer::start(&corpus_dir().join("misp/feeds-text"));
    let folder = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(folder.path()).unwrap();
    let mut feeds = FeedsFile::default();
    feeds
        .add(FeedConfig {
            pull_interval_minutes: Some(30),
            ..FeedConfig::new(
                "firehol",
                &server.url("firehol_level1.head100.netset"),
                FeedFormat::Freetext,
            )
        })
        .unwrap();
    feeds
        .add(FeedConfig {
            enabled: false,
            ..FeedConfig::new(
                "disabled",
                &server.url("firehol_level1.head100.netset"),
                FeedFormat::Freetext,
            )
        })
        .unwrap();
    feeds.save(folder.path()).unwrap();

    // Never pulled: due at once. The disabled feed is not pulled.
    let start = now_ticks();
    let first = refresher(&workspace).run_due_once(start).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].feed, "firehol");
    assert!(first[0].error.is_none(), "{:?}", first[0].error);
    assert!(first[0].added > 0, "the feed lists addresses");
    assert_eq!(server.take_requests().len(), 1);

    // A new refresher reads the last pull from the state: not due within
    // the 30 minutes.
    let early = refresher(&workspace)
        .run_due_once(start + 29 * TICKS_PER_MINUTE)
        .await
        .unwrap();
    assert!(early.is_empty());
    assert!(server.take_requests().is_empty());

    // Due after 30 minutes: pulled again; the server's ETag makes the
    // content unchanged, so nothing is added.
    let later = refresher(&workspace)
        .run_due_once(start + 31 * TICKS_PER_MINUTE)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].added, 0);
    assert_eq!(
        server.take_requests().values().sum::<usize>(),
        1,
        "one conditional request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_forever_pulls_then_stops() {
    let server = FolderServer::start(&corpus_dir().join("misp/feeds-text"));
    let folder = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(folder.path()).unwrap();
    let mut feeds = FeedsFile::default();
    feeds
        .add(FeedConfig::new(
            "firehol",
            &server.url("firehol_level1.head100.netset"),
            FeedFormat::Freetext,
        ))
        .unwrap();
    feeds.save(folder.path()).unwrap();

    let (reports_sender, mut reports_receiver) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(refresher(&workspace).run_forever(
        async {
            let _ = stopped.await;
        },
        move |reports| {
            let sender = reports_sender.clone();
            async move {
                sender.send(reports).unwrap();
            }
        },
    ));
    let reports = tokio::time::timeout(std::time::Duration::from_secs(30), reports_receiver.recv())
        .await
        .expect("the first tick pulls within 30 s")
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].added > 0);
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("the refresher stops within 10 s of shutdown")
        .unwrap();
}
