//! The scheduler's near-real-time path on crafted rows whose ingestion
//! times the test sets: each row is read by exactly one NRT run, also a row
//! that arrives late and across a restart, and `run_forever` stops on
//! shutdown.

use std::path::Path;
use std::time::Duration;

use detect::load::parse_rule;
use detect::{Rule, RunStatus, Scheduler, SchedulerOptions};
use engine::Engine;
use engine::time::parse_datetime;
use store::Workspace;
use store::builder::TableBatchBuilder;
use store::tables::SECURITY_EVENT;

const TICKS_PER_MINUTE: i64 = 600_000_000;

fn ticks(text: &str) -> i64 {
    parse_datetime(text).unwrap_or_else(|| panic!("bad datetime {text}"))
}

/// Imports failed logons (4625) with the given event times, all with
/// ingestion time `ingest_ticks`.
async fn import_failures(
    workspace: &Workspace,
    import_id: &str,
    ingest_ticks: i64,
    times: &[&str],
) {
    let column = |name: &str| SECURITY_EVENT.column_index(name).unwrap();
    let mut builder = TableBatchBuilder::new(&SECURITY_EVENT, import_id, ingest_ticks, times.len());
    for time in times {
        builder.set_time_generated(ticks(time));
        builder.set_int(column("EventID"), 4625);
        builder.set_string(column("Computer"), "PC01.corp.local");
        builder.set_string(column("IpAddress"), "10.0.0.5");
        builder.finish_row().unwrap();
    }
    let mut import = workspace.begin_import(import_id, "crafted events");
    import.write(&SECURITY_EVENT, builder.finish()).unwrap();
    import.commit().await.unwrap();
}

fn nrt_rule() -> Rule {
    let text = "id: nrt-1\nname: Failed logon\nseverity: Low\nkind: NRT\n\
                query: \"SecurityEvent | where EventID == 4625 | project TimeGenerated, Computer, IpAddress\"\n\
                eventGroupingSettings:\n  aggregationKind: AlertPerResult\n";
    parse_rule(text, Path::new("nrt.yaml")).unwrap()
}

async fn open_scheduler(workspace: &Workspace, start_ticks: Option<i64>) -> Scheduler {
    let options = SchedulerOptions {
        start_ticks,
        tick: Duration::from_millis(50),
        ..SchedulerOptions::default()
    };
    Scheduler::open(Engine::new(), workspace.clone(), vec![nrt_rule()], options)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nrt_reads_each_ingested_row_once() {
    let folder = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(folder.path()).unwrap();
    let start = ticks("2024-05-01T12:00:00Z");
    import_failures(
        &workspace,
        "first",
        start + 30 * 10_000_000,
        &["2024-05-01T11:59:00Z", "2024-05-01T11:59:10Z"],
    )
    .await;

    let mut scheduler = open_scheduler(&workspace, Some(start)).await;
    let tick = scheduler
        .run_due_once(start + TICKS_PER_MINUTE)
        .await
        .unwrap();
    assert_eq!(tick.runs.len(), 1);
    assert_eq!(tick.runs[0].window.start_ticks, start);
    assert_eq!(tick.runs[0].window.end_ticks, start + TICKS_PER_MINUTE);
    assert_eq!(tick.runs[0].result_rows, 2);
    assert_eq!(tick.alerts.len(), 2, "one alert per row");

    // Less than a minute later the rule is not due.
    let early = scheduler
        .run_due_once(start + TICKS_PER_MINUTE + 20 * 10_000_000)
        .await
        .unwrap();
    assert!(early.runs.is_empty());

    // A row ingested late, with an event time long before the first run's
    // window, is read by the next run because it was ingested since then.
    import_failures(
        &workspace,
        "late",
        start + 2 * TICKS_PER_MINUTE,
        &["2024-05-01T09:00:00Z"],
    )
    .await;
    let late = scheduler
        .run_due_once(start + 3 * TICKS_PER_MINUTE)
        .await
        .unwrap();
    assert_eq!(late.runs[0].window.start_ticks, start + TICKS_PER_MINUTE);
    assert_eq!(late.runs[0].result_rows, 1);
    assert_eq!(late.alerts.len(), 1);
    drop(scheduler);

    // A new scheduler continues from the recorded window end, so nothing
    // is read twice.
    let mut reopened = open_scheduler(&workspace, Some(start)).await;
    let after_restart = reopened
        .run_due_once(start + 5 * TICKS_PER_MINUTE)
        .await
        .unwrap();
    assert_eq!(
        after_restart.runs[0].window.start_ticks,
        start + 3 * TICKS_PER_MINUTE
    );
    assert_eq!(after_restart.runs[0].result_rows, 0);
    assert_eq!(after_restart.runs[0].status, RunStatus::Succeeded);
    assert!(after_restart.alerts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_forever_stops_on_shutdown() {
    let folder = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(folder.path()).unwrap();
    let scheduler = open_scheduler(&workspace, None).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = ticks.clone();
    let task = tokio::spawn(scheduler.run_forever(
        async {
            let _ = stopped.await;
        },
        move |_tick| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        },
    ));
    // The first tick runs at once; give it time to commit its run record.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the scheduler stops within 10 s of shutdown")
        .unwrap();
    assert!(ticks.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    let engine = Engine::new();
    let catalog = store::catalog::load(&workspace, &engine, None)
        .await
        .unwrap();
    let result = engine
        .run(
            "HomesocRuleRuns | where RuleId == 'nrt-1'",
            &catalog,
            &engine::QueryOptions::default(),
        )
        .await
        .unwrap();
    assert!(result.row_count() >= 1, "the first tick recorded a run");
}

fn hourly_rule() -> Rule {
    let text = "id: hourly-1\nname: Failed logons\nseverity: Low\nkind: Scheduled\n\
                queryFrequency: 1h\nqueryPeriod: 1h\ntriggerOperator: gt\ntriggerThreshold: 0\n\
                query: \"SecurityEvent | where EventID == 4625 | summarize count() by Computer\"\n";
    parse_rule(text, Path::new("hourly.yaml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_rule_skips_then_resumes_once() {
    let folder = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(folder.path()).unwrap();
    let start = ticks("2024-05-01T12:00:00Z");
    let hour = 60 * TICKS_PER_MINUTE;
    let options = SchedulerOptions {
        start_ticks: Some(start),
        ..SchedulerOptions::default()
    };
    let mut scheduler = Scheduler::open(
        Engine::new(),
        workspace.clone(),
        vec![hourly_rule()],
        options,
    )
    .await
    .unwrap();

    let mut states = detect::RuleStates::load(folder.path()).unwrap();
    states.set_enabled("hourly-1", false);
    states.save().unwrap();
    let while_disabled = scheduler.run_due_once(start + 5 * hour).await.unwrap();
    assert!(while_disabled.runs.is_empty(), "{:?}", while_disabled.runs);

    // Enabled again, the rule runs once at the next tick rather than
    // replaying the five hours it missed.
    let mut states = detect::RuleStates::load(folder.path()).unwrap();
    states.set_enabled("hourly-1", true);
    states.save().unwrap();
    let resumed = scheduler
        .run_due_once(start + 5 * hour + TICKS_PER_MINUTE)
        .await
        .unwrap();
    assert_eq!(resumed.runs.len(), 1, "{:?}", resumed.runs);
    assert_eq!(resumed.runs[0].status, RunStatus::Succeeded);

    // Then it keeps its hourly schedule.
    let soon = scheduler
        .run_due_once(start + 5 * hour + 2 * TICKS_PER_MINUTE)
        .await
        .unwrap();
    assert!(soon.runs.is_empty());
}
