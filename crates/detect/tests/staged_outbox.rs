//! Notifications staged before a commit and settled after a crash.
//!
//! The crash is simulated by the state it leaves on disk: the test stages
//! notifications and commits (or does not commit) rows under the same id
//! with the functions `Detector::commit` calls, and stops before the step
//! that would follow. `recover_staged` must then queue exactly the
//! notifications whose commit reached the tables.

use detect::automation::Trigger;
use detect::automation::config::WebhookTarget;
use detect::automation::outbox::{Channel, Notification, Outbox, StagedRecovery, recover_staged};
use detect::run::{RunKind, RunRecord, RunStatus};
use detect::write::{PendingRows, commit_rows};
use store::{TimeWindow, Workspace};

/// 2025-01-01T00:00:00Z in ticks since the Unix epoch.
const NOW: i64 = 17_356_896_000_000_000;

fn notification(id: &str) -> Notification {
    Notification {
        id: id.to_string(),
        rule: "Notify on new incidents".to_string(),
        trigger: Trigger::Created,
        incident_number: 1,
        incident_name: "7d3c0a7e-0000-4000-8000-000000000001".to_string(),
        channel: Channel::Webhook(WebhookTarget {
            url: "http://127.0.0.1:9/hook".to_string(),
            secret: None,
            secret_env: None,
        }),
        payload: serde_json::json!({ "incident": 1 }),
        attempts: 0,
        queued_ticks: NOW,
        next_attempt_ticks: NOW,
    }
}

/// Builds the rows of one rule run, so that a commit writes something.
fn pending_run() -> PendingRows {
    PendingRows {
        runs: vec![RunRecord {
            rule_id: "rule-1".to_string(),
            rule_name: "Rule one".to_string(),
            kind: RunKind::Manual,
            at_ticks: NOW,
            window: TimeWindow {
                start_ticks: NOW - 36_000_000_000,
                end_ticks: NOW,
            },
            started_ticks: NOW,
            duration_ms: 1.0,
            result_rows: 1,
            alerts: 1,
            incidents: 1,
            status: RunStatus::Succeeded,
            error: None,
        }],
        ..PendingRows::default()
    }
}

fn queued_ids(outbox: &Outbox) -> Vec<String> {
    let mut ids: Vec<String> = outbox.list().unwrap().into_iter().map(|n| n.id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn staged_notifications_follow_their_commit() {
    let folder = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(folder.path()).unwrap();
    let outbox = Outbox::new(workspace.root());

    // Committed, then the process died before the notifications moved.
    outbox
        .stage("detect-written", &[notification("n1"), notification("n2")])
        .unwrap();
    commit_rows(&workspace, &pending_run(), NOW, "detect-written")
        .await
        .unwrap();
    // Died before its rows were committed.
    outbox.stage("detect-lost", &[notification("n3")]).unwrap();
    // Committed, then died after moving one of its two notifications.
    outbox
        .stage("detect-half", &[notification("n4"), notification("n5")])
        .unwrap();
    commit_rows(&workspace, &pending_run(), NOW, "detect-half")
        .await
        .unwrap();
    std::fs::create_dir_all(outbox.folder()).unwrap();
    std::fs::rename(
        workspace
            .root()
            .join(detect::automation::outbox::STAGED_FOLDER)
            .join("detect-half/n4.json"),
        outbox.folder().join("n4.json"),
    )
    .unwrap();

    // Nothing staged is sent before it is settled.
    assert_eq!(queued_ids(&outbox), ["n4"]);

    let recovery = recover_staged(&workspace).await.unwrap();
    assert_eq!(
        recovery,
        StagedRecovery {
            promoted: 3,
            dropped: 1
        }
    );
    assert_eq!(queued_ids(&outbox), ["n1", "n2", "n4", "n5"]);
    assert!(outbox.staged_commits().unwrap().is_empty());

    // Settling again changes nothing.
    assert_eq!(
        recover_staged(&workspace).await.unwrap(),
        StagedRecovery::default()
    );
    assert_eq!(queued_ids(&outbox), ["n1", "n2", "n4", "n5"]);
}

#[tokio::test]
async fn discard_staged_after_failed_commit() {
    let folder = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(folder.path()).unwrap();
    let outbox = Outbox::new(workspace.root());
    outbox
        .stage("detect-failed", &[notification("n1")])
        .unwrap();
    assert_eq!(outbox.staged_commits().unwrap(), ["detect-failed"]);
    assert_eq!(outbox.discard_staged("detect-failed").unwrap(), 1);
    assert!(outbox.staged_commits().unwrap().is_empty());
    assert!(queued_ids(&outbox).is_empty());
    // Staging nothing makes no folder.
    outbox.stage("detect-empty", &[]).unwrap();
    assert!(outbox.staged_commits().unwrap().is_empty());
}
