//! Sigma correlation rules end to end: `homesoc hunt` with the rules in
//! `tests/sigma-correlation/` over two real Security logs, checked against
//! detections worked out here from the raw events. The raw events come
//! from the `SecurityEvent` table's own columns and the windows are cut in
//! Rust, so neither the Sigma mapping nor the correlation query is reused.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use common::{cell_text, homesoc, stderr_text, stdout_text};
use serde_json::Value;
use tempfile::TempDir;

const TICKS_PER_SECOND: i64 = 10_000_000;

/// 3,561 failed logons (4625) in under three minutes, 2016-09-19.
const GUESSING: &str = "evtx__smb-password-guessing-security.evtx";
/// 294 logons with explicit credentials (4648) for 41 accounts from one
/// address, after one cleared log (1102), 2019-04-30.
const SPRAY: &str = "evtx__password-spray.evtx";

const FAILED_LOGON: &str = "7d0c3c5e-5b1f-4f0e-9c55-2f1a00000001";
const EXPLICIT_CREDENTIALS: &str = "7d0c3c5e-5b1f-4f0e-9c55-2f1a00000002";
const LOG_CLEARED: &str = "7d0c3c5e-5b1f-4f0e-9c55-2f1a00000003";
const BURST: &str = "7d0c3c5e-5b1f-4f0e-9c55-2f1a000000c1";
const USERS: &str = "7d0c3c5e-5b1f-4f0e-9c55-2f1a000000c2";
const CLEAR_AND_SPRAY: &str = "7d0c3c5e-5b1f-4f0e-9c55-2f1a000000c3";
const CLEAR_THEN_SPRAY: &str = "7d0c3c5e-5b1f-4f0e-9c55-2f1a000000c4";
const SPRAY_THEN_CLEAR: &str = "7d0c3c5e-5b1f-4f0e-9c55-2f1a000000c5";

fn fixtures() -> PathBuf {
    common::manifest_dir().join("tests/sigma-correlation")
}

/// One `homesoc hunt --format json` over both logs with the fixture rules;
/// the workspace is kept for the raw queries.
struct Hunt {
    data: TempDir,
    rows: Vec<Vec<Value>>,
    stderr: String,
}

fn hunt() -> &'static Hunt {
    static HUNT: OnceLock<Hunt> = OnceLock::new();
    HUNT.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        let files = [GUESSING, SPRAY].map(|name| {
            common::corpus_dir()
                .join(name)
                .to_string_lossy()
                .into_owned()
        });
        let rules = fixtures().to_string_lossy().into_owned();
        let output = homesoc(
            data.path(),
            &[
                "hunt", &files[0], &files[1], "--rules", &rules, "--format", "json",
            ],
        );
        let stderr = stderr_text(&output);
        assert!(output.status.success(), "hunt failed: {stderr}");
        let document: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("hunt printed no JSON ({err}): {}", stdout_text(&output)));
        let rows = document["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row.as_array().unwrap().clone())
            .collect();
        Hunt { data, rows, stderr }
    })
}

impl Hunt {
    /// Returns the detections of one rule: time, computer and the `Fields` pairs.
    fn detections(&self, rule_id: &str) -> Vec<(String, String, BTreeMap<String, String>)> {
        let mut found: Vec<_> = self
            .rows
            .iter()
            .filter(|row| row[2] == rule_id)
            .map(|row| {
                let fields = row[6]
                    .as_str()
                    .unwrap()
                    .split(" ¦ ")
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect();
                (cell_text(&row[0]), cell_text(&row[1]), fields)
            })
            .collect();
        found.sort();
        found
    }

    /// Security events of one event id: time text, ticks and the named
    /// `SecurityEvent` columns, in time order.
    fn events(&self, event_id: u32, columns: &[&str]) -> Vec<Event> {
        let kql = format!(
            "SecurityEvent | where EventID == {event_id} | project TimeGenerated, Ticks = tolong(TimeGenerated), {} | sort by Ticks asc",
            columns.join(", ")
        );
        let result = common::query(self.data.path(), &kql);
        let time = result.column("TimeGenerated");
        let ticks = result.column("Ticks");
        let indexes: Vec<usize> = columns.iter().map(|name| result.column(name)).collect();
        result
            .rows
            .iter()
            .map(|row| Event {
                time: cell_text(&row[time]),
                ticks: row[ticks].as_i64().expect("ticks are a long"),
                values: indexes
                    .iter()
                    .map(|index| cell_text(&row[*index]))
                    .collect(),
            })
            .collect()
    }

    /// Returns the instant `hunt` takes as `now()`: one second after the newest
    /// event.
    fn end_ticks(&self) -> i64 {
        let result = common::query(
            self.data.path(),
            "union SecurityEvent, Event | summarize End = max(tolong(TimeGenerated))",
        );
        result.rows[0][0].as_i64().unwrap() + TICKS_PER_SECOND
    }
}

#[derive(Debug, Clone)]
struct Event {
    time: String,
    ticks: i64,
    values: Vec<String>,
}

/// Returns the start of the tumbling window of `span` ticks that contains `ticks`,
/// with window edges at `anchor`.
fn window_start(ticks: i64, anchor: i64, span: i64) -> i64 {
    anchor + (ticks - anchor).div_euclid(span) * span
}

/// Groups events by window and by the value at `group`.
fn windows(
    events: &[Event],
    group: usize,
    anchor: i64,
    span: i64,
) -> BTreeMap<(i64, String), Vec<&Event>> {
    let mut windows: BTreeMap<(i64, String), Vec<&Event>> = BTreeMap::new();
    for event in events {
        windows
            .entry((
                window_start(event.ticks, anchor, span),
                event.values[group].clone(),
            ))
            .or_default()
            .push(event);
    }
    windows
}

#[test]
fn event_count_correlation_matches_raw_counts() {
    let hunt = hunt();
    let events = hunt.events(4625, &["IpAddress"]);
    assert_eq!(events.len(), 3561, "the recording's failed logons");
    let expected: Vec<(String, String)> =
        windows(&events, 0, hunt.end_ticks(), 60 * TICKS_PER_SECOND)
            .into_iter()
            .filter(|(_, events)| events.len() >= 1000)
            .map(|((_, address), events)| {
                (
                    events[0].time.clone(),
                    format!("{address}/{}", events.len()),
                )
            })
            .collect();
    assert!(
        !expected.is_empty(),
        "the fixture's threshold finds a burst"
    );

    let found: Vec<(String, String)> = hunt
        .detections(BURST)
        .into_iter()
        .map(|(time, _, fields)| {
            (
                time,
                format!("{}/{}", fields["IpAddress"], fields["EventCount"]),
            )
        })
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn value_count_correlation_matches_raw_distinct_users() {
    let hunt = hunt();
    let events = hunt.events(4648, &["IpAddress", "TargetUserName"]);
    let expected: Vec<(String, String)> =
        windows(&events, 0, hunt.end_ticks(), 60 * TICKS_PER_SECOND)
            .into_iter()
            .filter_map(|((_, address), events)| {
                let users: BTreeSet<&str> = events
                    .iter()
                    .map(|event| event.values[1].as_str())
                    .filter(|user| !user.is_empty())
                    .collect();
                (users.len() > 30)
                    .then(|| (events[0].time.clone(), format!("{address}/{}", users.len())))
            })
            .collect();
    assert!(
        !expected.is_empty(),
        "the fixture's threshold finds a window"
    );

    let found: Vec<(String, String)> = hunt
        .detections(USERS)
        .into_iter()
        .map(|(time, _, fields)| {
            (
                time,
                format!("{}/{}", fields["IpAddress"], fields["ValueCount"]),
            )
        })
        .collect();
    assert_eq!(found, expected);
}

/// Returns the one-hour windows per computer with a cleared log and an
/// explicit-credential logon. With `ordered`, it keeps those where a logon
/// follows the first cleared log (`Some(true)`), or where a cleared log
/// follows the first logon (`Some(false)`).
fn expected_temporal(hunt: &Hunt, ordered: Option<bool>) -> Vec<(String, String)> {
    let anchor = hunt.end_ticks();
    let span = 3600 * TICKS_PER_SECOND;
    let cleared_events = hunt.events(1102, &["Computer"]);
    let logon_events = hunt.events(4648, &["Computer"]);
    let cleared = windows(&cleared_events, 0, anchor, span);
    let logons = windows(&logon_events, 0, anchor, span);
    let mut expected = Vec::new();
    for (key, cleared_events) in &cleared {
        let Some(logon_events) = logons.get(key) else {
            continue;
        };
        let (first, then) = match ordered {
            None => {
                let first = cleared_events[0].min_by_time(logon_events[0]);
                expected.push((first.time.clone(), key.1.clone()));
                continue;
            }
            Some(true) => (cleared_events, logon_events),
            Some(false) => (logon_events, cleared_events),
        };
        if then.iter().any(|event| event.ticks > first[0].ticks) {
            expected.push((first[0].time.clone(), key.1.clone()));
        }
    }
    expected.sort();
    expected
}

impl Event {
    fn min_by_time<'a>(&'a self, other: &'a Event) -> &'a Event {
        if other.ticks < self.ticks {
            other
        } else {
            self
        }
    }
}

#[test]
fn temporal_correlations_match_raw_order() {
    let hunt = hunt();
    let pairs = |rule: &str| -> Vec<(String, String)> {
        hunt.detections(rule)
            .into_iter()
            .map(|(time, computer, _)| (time, computer))
            .collect()
    };
    let any_order = expected_temporal(hunt, None);
    assert!(!any_order.is_empty(), "the recording has both events");
    assert_eq!(pairs(CLEAR_AND_SPRAY), any_order);
    assert_eq!(pairs(CLEAR_THEN_SPRAY), expected_temporal(hunt, Some(true)));
    assert_eq!(
        pairs(SPRAY_THEN_CLEAR),
        expected_temporal(hunt, Some(false))
    );
    // The recording clears the log before the logons, so exactly one of
    // the two orders is found.
    assert_ne!(
        pairs(CLEAR_THEN_SPRAY).is_empty(),
        pairs(SPRAY_THEN_CLEAR).is_empty()
    );
}

#[test]
fn generate_decides_whether_base_rules_alert() {
    let hunt = hunt();
    // `generate: true` on the temporal correlations keeps these.
    assert_eq!(
        hunt.detections(EXPLICIT_CREDENTIALS).len(),
        hunt.events(4648, &["Computer"]).len()
    );
    assert_eq!(
        hunt.detections(LOG_CLEARED).len(),
        hunt.events(1102, &["Computer"]).len()
    );
    // The failed-logon rule only feeds correlations (`generate` unset).
    assert!(hunt.detections(FAILED_LOGON).is_empty());
    assert!(hunt.stderr.contains("detections"), "{}", hunt.stderr);
}

#[test]
fn rules_show_and_check_cover_correlations() {
    let data = tempfile::tempdir().unwrap();
    let rules = fixtures().to_string_lossy().into_owned();
    let output = homesoc(
        data.path(),
        &[
            "rules",
            "show",
            BURST,
            "--kql",
            "--rules",
            &rules,
            "--no-builtin",
        ],
    );
    assert!(output.status.success(), "{}", stderr_text(&output));
    let kql = stdout_text(&output);
    assert!(
        kql.starts_with("WindowsEvent\n| where Channel == \"Security\""),
        "{kql}"
    );
    assert!(
        kql.contains("by WindowStart = bin_at(TimeGenerated, 1m, now()), IpAddress\n| where EventCount >= 1000"),
        "{kql}"
    );

    let output = homesoc(data.path(), &["rules", "check", "--json", &rules]);
    assert!(output.status.success(), "{}", stderr_text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Eight rules in seven files, because failed-logon-burst.yml contains two.
    assert_eq!(report["summary"]["files"], 8, "{report}");
    assert_eq!(report["summary"]["planned"], 8, "{report}");
}

#[test]
fn rules_check_names_a_missing_base_rule() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("spray-accounts.yml"),
        rules.path().join("orphan.yml"),
    )
    .unwrap();
    std::fs::write(
        rules.path().join("monthly.yml"),
        std::fs::read_to_string(fixtures().join("failed-logon-burst.yml"))
            .unwrap()
            .replace("timespan: 1m", "timespan: 1M"),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let output = homesoc(
        data.path(),
        &["rules", "check", rules.path().to_str().unwrap()],
    );
    assert!(!output.status.success());
    let text = stdout_text(&output);
    assert!(
        text.contains("orphan.yml: does not load")
            && text.contains("names rule `7d0c3c5e-5b1f-4f0e-9c55-2f1a00000002`"),
        "{text}"
    );
    assert!(
        text.contains("monthly.yml: does not load: ")
            && text.contains(
                "unsupported Sigma feature: correlation `timespan` in calendar units (`1M`)"
            ),
        "{text}"
    );
    // The base rule of monthly.yml still loads.
    assert!(text.contains("monthly.yml: ok"), "{text}");
}

#[test]
fn backtest_runs_one_window_per_run() {
    let hunt = hunt();
    let data = tempfile::tempdir().unwrap();
    let recording = common::corpus_dir().join(GUESSING);
    let output = homesoc(
        data.path(),
        &["import", "evtx", "--json", recording.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr_text(&output));
    let rules = fixtures().to_string_lossy().into_owned();
    let from = "2016-09-19T16:49:30Z";
    let output = homesoc(
        data.path(),
        &[
            "rules",
            "backtest",
            BURST,
            "--rules",
            &rules,
            "--no-builtin",
            "--from",
            from,
            "--to",
            "2016-09-19T16:55:00Z",
            "--json",
        ],
    );
    assert!(output.status.success(), "{}", stderr_text(&output));
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut found: Vec<(String, String)> = document["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("no alerts array: {document}"))
        .iter()
        .map(|alert| {
            let address = alert["entities"]
                .as_array()
                .unwrap()
                .iter()
                .find(|entity| entity["Type"] == "ip")
                .map(|entity| cell_text(&entity["Address"]))
                .unwrap_or_default();
            (cell_text(&alert["timeGenerated"]), address)
        })
        .collect();
    found.sort();

    // Each run reads the minute before it, and the runs start one minute
    // after --from, so the windows have their edges at --from.
    let anchor = ticks_of(data.path(), from);
    let span = 60 * TICKS_PER_SECOND;
    let expected_windows: Vec<(i64, String)> =
        windows(&hunt.events(4625, &["IpAddress"]), 0, anchor, span)
            .into_iter()
            .filter(|(_, events)| events.len() >= 1000)
            .map(|((start, address), _)| (start + span, address))
            .collect();
    assert!(!expected_windows.is_empty());
    assert_eq!(
        found.len(),
        expected_windows.len(),
        "{found:?} vs {expected_windows:?}"
    );
    for ((time, address), (end, expected_address)) in found.iter().zip(&expected_windows) {
        assert_eq!(address, expected_address);
        assert_eq!(ticks_of(data.path(), time), *end, "alert time {time}");
    }
}

/// Returns the ticks of an ISO 8601 time, as the engine reads it.
fn ticks_of(data: &std::path::Path, text: &str) -> i64 {
    common::query(
        data,
        &format!("print T = tolong(todatetime({}))", common::kql_string(text)),
    )
    .rows[0][0]
        .as_i64()
        .unwrap_or_else(|| panic!("no ticks for {text}"))
}
