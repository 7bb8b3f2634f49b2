//! Runs the KQL conformance cases through the engine and fails when fewer
//! cases pass, in total or in any area, than the committed baseline.
//!
//! The cases come from the examples of Microsoft's KQL reference: each one
//! builds its own input and carries the result table the reference prints.
//! The full failure list goes to a file in the Cargo target folder, whose
//! path the test prints.

#[path = "conformance/compare.rs"]
mod compare;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use compare::{CaseRules, compare_tables, type_differences};

/// The crate folder, read when the test runs: Cargo can reuse a test binary
/// built in another checkout that shares the build cache, and a path fixed
/// at compile time would then point into that checkout.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

fn cases_path() -> PathBuf {
    manifest_dir().join("../../../shared/corpus/kql-conformance/cases.jsonl")
}

fn baseline_path() -> PathBuf {
    manifest_dir().join("tests/conformance-baseline.json")
}

const FAILURES_PATH: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/conformance-failures.txt");

/// The `now()` of every case. No case reads the clock, but a fixed instant
/// keeps runs repeatable if one starts to.
const NOW: &str = "2024-01-01T00:00:00Z";
/// The engine's own timeout for one query.
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the runner waits for a case before counting it as failed. It
/// exceeds [`QUERY_TIMEOUT`] because that timeout covers only execution,
/// not parsing and planning, which could also hang.
const CASE_DEADLINE: Duration = Duration::from_secs(40);
/// Prefix of the names of threads that run cases. The panic hook stays
/// quiet for these threads because the runner reports their panics itself.
const CASE_THREAD_PREFIX: &str = "kql-case";

/// One line of the cases file.
struct Case {
    id: String,
    area: String,
    feature: String,
    query: String,
    expected: Value,
    rules: CaseRules,
}

/// Result of one case.
enum Outcome {
    /// The result matched, with the advisory column type differences.
    Passed(Vec<String>),
    /// The case failed, with a label for grouping and a one-line reason.
    Failed { cause: String, reason: String },
}

/// Cases whose documented output contradicts the function's definition or
/// another documented example, with the reason; docs/kql.md ("Known
/// differences from Kusto") gives the evidence. They still run and count
/// in the baseline. The share of cases outside `geo` leaves them out.
const DISPUTED: &[(&str, &str)] = &[
    (
        "base64-decode-toguid-function-1",
        "swaps the third GUID group against the order of base64_encode_fromguid's example",
    ),
    (
        "series-fill-linear-function-1",
        "shows 74 and 38 where its other columns fill the same gaps with 73 and 36",
    ),
    (
        "variancepif-aggregation-function-1",
        "shows the sample variance (850), not the population variance (833)",
    ),
];

/// Prints the share of passed cases outside the `geo` area, leaving out
/// the failed cases of [`DISPUTED`].
fn print_share_outside_geo(cases: &[Case], outcomes: &[Outcome]) {
    let (mut passed, mut counted, mut disputed) = (0, 0, 0);
    for (case, outcome) in cases.iter().zip(outcomes) {
        if case.area == "geo" {
            continue;
        }
        match outcome {
            Outcome::Passed(_) => {
                passed += 1;
                counted += 1;
            }
            Outcome::Failed { .. } if DISPUTED.iter().any(|(id, _)| *id == case.id) => {
                disputed += 1;
            }
            Outcome::Failed { .. } => counted += 1,
        }
    }
    println!(
        "outside geo: {passed} of {counted} cases passed ({:.1}%), not counting {disputed} failed cases whose documented output is disputed",
        100.0 * passed as f64 / counted.max(1) as f64
    );
}

#[test]
fn conformance_cases() {
    let cases = load_cases();
    assert!(!cases.is_empty(), "no cases in {}", cases_path().display());
    install_quiet_panic_hook();

    let started = Instant::now();
    let outcomes = run_all(&cases);
    let elapsed = started.elapsed();

    let passed_by_area = summarize(&cases, &outcomes);
    let total_passed: usize = passed_by_area.values().sum();
    println!(
        "{total_passed} of {} cases passed in {:.1} s",
        cases.len(),
        elapsed.as_secs_f64()
    );
    print_share_outside_geo(&cases, &outcomes);

    let report = failure_report(&cases, &outcomes);
    match fs::write(FAILURES_PATH, report) {
        Ok(()) => println!("failure list written to {FAILURES_PATH}"),
        Err(error) => println!("writing the failure list to {FAILURES_PATH} failed: {error}"),
    }

    check_baseline(total_passed, &passed_by_area);
}

/// Reads every case of the corpus file.
fn load_cases() -> Vec<Case> {
    let path = cases_path();
    let path = path.display();
    let text = fs::read_to_string(cases_path()).unwrap_or_else(|error| {
        panic!("reading {path} failed: {error}. The corpus folder `shared` must sit beside the repository")
    });
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let case: Value = serde_json::from_str(line).unwrap_or_else(|error| {
                panic!("line {} of {path} is not JSON: {error}", index + 1)
            });
            let text_field = |name: &str| {
                case[name]
                    .as_str()
                    .unwrap_or_else(|| {
                        panic!("line {} of {path} has no string `{name}`", index + 1)
                    })
                    .to_string()
            };
            Case {
                id: text_field("id"),
                area: text_field("area"),
                feature: text_field("feature"),
                query: text_field("query"),
                expected: case["expected"].clone(),
                rules: CaseRules::from_case(&case),
            }
        })
        .collect()
}

/// Keeps the default panic output for every thread except case threads,
/// whose panics become case failures.
fn install_quiet_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default_hook = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let on_case_thread = thread::current()
                .name()
                .is_some_and(|name| name.starts_with(CASE_THREAD_PREFIX));
            if !on_case_thread {
                default_hook(info);
            }
        }));
    });
}

/// Runs the cases on a few worker threads and returns the outcomes in case
/// order.
fn run_all(cases: &[Case]) -> Vec<Outcome> {
    let workers = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..cases.len()).map(|_| None).collect());

    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(index) else {
                        break;
                    };
                    let outcome = run_case(case);
                    results
                        .lock()
                        .expect("no thread panics while holding the lock")[index] = Some(outcome);
                }
            });
        }
    });

    results
        .into_inner()
        .expect("no thread panics while holding the lock")
        .into_iter()
        .map(|outcome| outcome.expect("every case ran"))
        .collect()
}

/// Runs one case on its own thread, so that a panic fails only this case
/// and a hang costs at most [`CASE_DEADLINE`]. A thread that hangs is left
/// behind, and the test process ends it on exit.
fn run_case(case: &Case) -> Outcome {
    let (sender, receiver) = mpsc::channel();
    let query = case.query.clone();
    let spawned = thread::Builder::new()
        .name(format!("{CASE_THREAD_PREFIX} {}", case.id))
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| run_query(&query)));
            // The runner has stopped listening when the deadline passed,
            // so a failed send needs no handling.
            let _ = sender.send(result);
        });
    if let Err(error) = spawned {
        return failed(
            "runner error",
            format!("starting the case thread failed: {error}"),
        );
    }

    match receiver.recv_timeout(CASE_DEADLINE) {
        Ok(Ok(Ok(document))) => match compare_tables(&case.expected, &document, &case.rules) {
            Ok(()) => Outcome::Passed(type_differences(&case.expected, &document)),
            Err(mismatch) => failed(
                &format!("wrong result: {}", mismatch.category),
                mismatch.to_string(),
            ),
        },
        Ok(Ok(Err(message))) => failed(
            &format!("error: {}", cause_of(&message)),
            format!("error: {message}"),
        ),
        Ok(Err(payload)) => {
            let message = panic_message(payload.as_ref());
            failed(
                &format!("panic: {}", cause_of(&message)),
                format!("panic: {message}"),
            )
        }
        Err(mpsc::RecvTimeoutError::Timeout) => failed(
            "timed out",
            format!("no result within {} s", CASE_DEADLINE.as_secs()),
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => failed(
            "runner error",
            "the case thread ended without sending a result".to_string(),
        ),
    }
}

fn failed(cause: &str, reason: String) -> Outcome {
    Outcome::Failed {
        cause: cause.to_string(),
        reason: one_line(&reason),
    }
}

/// Runs a query on a fresh engine and runtime and returns the JSON result
/// document, or the error message.
fn run_query(query: &str) -> Result<Value, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("{CASE_THREAD_PREFIX} worker"))
        .enable_all()
        .build()
        .map_err(|error| format!("building the tokio runtime failed: {error}"))?;
    let now_ticks = engine::time::parse_datetime(NOW).expect("NOW is a valid datetime");

    runtime.block_on(async {
        let engine = engine::Engine::new();
        let catalog = engine::StaticCatalog::new();
        let options = engine::QueryOptions {
            now_ticks,
            timeout: QUERY_TIMEOUT,
        };
        let result = engine
            .run(query, &catalog, &options)
            .await
            .map_err(|error| error.to_string())?;
        Ok(engine::output::to_json_document(&result))
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a text message".to_string()
    }
}

/// Joins the lines of a message so that each failure takes one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reduces an error or panic message to a grouping label: its first line,
/// with each standalone number replaced by `#` so that positions and counts
/// do not split one cause into many. Digits inside names such as
/// `geo_point_to_h3cell` stay.
fn cause_of(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or("");
    let mut label = String::new();
    let mut previous: Option<char> = None;
    let mut in_number = false;
    for c in first_line.chars() {
        let starts_number =
            c.is_ascii_digit() && !previous.is_some_and(|p| p.is_alphanumeric() || p == '_');
        if starts_number {
            in_number = true;
            label.push('#');
        } else if !(in_number && c.is_ascii_digit()) {
            in_number = false;
            label.push(c);
        }
        previous = Some(c);
    }
    label.chars().take(160).collect()
}

/// Prints passed and failed counts per area and returns the passed counts.
fn summarize(cases: &[Case], outcomes: &[Outcome]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (case, outcome) in cases.iter().zip(outcomes) {
        let entry = counts.entry(case.area.as_str()).or_default();
        match outcome {
            Outcome::Passed(_) => entry.0 += 1,
            Outcome::Failed { .. } => entry.1 += 1,
        }
    }

    println!(
        "{:<18} {:>7} {:>7} {:>7}",
        "area", "passed", "failed", "total"
    );
    let mut total = (0, 0);
    for (area, (passed, failed)) in &counts {
        println!("{area:<18} {passed:>7} {failed:>7} {:>7}", passed + failed);
        total.0 += passed;
        total.1 += failed;
    }
    println!(
        "{:<18} {:>7} {:>7} {:>7}",
        "total",
        total.0,
        total.1,
        total.0 + total.1
    );

    counts
        .into_iter()
        .map(|(area, (passed, _))| (area.to_string(), passed))
        .collect()
}

/// Builds the text of the failure file: one line per failed case, the
/// failures grouped by cause, then the advisory type differences of the
/// cases that passed.
fn failure_report(cases: &[Case], outcomes: &[Outcome]) -> String {
    let failed_count = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Outcome::Failed { .. }))
        .count();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# {failed_count} of {} KQL conformance cases failed",
        cases.len()
    );
    let mut by_cause: BTreeMap<&str, usize> = BTreeMap::new();
    for (case, outcome) in cases.iter().zip(outcomes) {
        if let Outcome::Failed { cause, reason } = outcome {
            let _ = writeln!(
                report,
                "{} [{}/{}]: {reason}",
                case.id, case.area, case.feature
            );
            *by_cause.entry(cause.as_str()).or_default() += 1;
        }
    }

    let mut causes: Vec<(&str, usize)> = by_cause.into_iter().collect();
    causes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let _ = writeln!(report, "\n# failures by cause");
    for (cause, count) in causes {
        let _ = writeln!(report, "{count:>5}  {cause}");
    }

    let _ = writeln!(
        report,
        "\n# column type differences in passing cases (types are advisory)"
    );
    for (case, outcome) in cases.iter().zip(outcomes) {
        if let Outcome::Passed(differences) = outcome
            && !differences.is_empty()
        {
            let _ = writeln!(report, "{}: {}", case.id, differences.join("; "));
        }
    }
    report
}

/// Fails when the total or any area passes fewer cases than the baseline
/// file requires, and prints a hint when the counts rose above it.
fn check_baseline(total_passed: usize, passed_by_area: &BTreeMap<String, usize>) {
    let path = baseline_path();
    let path = path.display();
    let text = fs::read_to_string(baseline_path())
        .unwrap_or_else(|error| panic!("reading the baseline {path} failed: {error}"));
    let baseline: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("the baseline {path} is not valid JSON: {error}"));
    let baseline_total = baseline["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("the baseline {path} has no integer `total`"))
        as usize;
    let baseline_areas = baseline["areas"]
        .as_object()
        .unwrap_or_else(|| panic!("the baseline {path} has no object `areas`"));

    let mut regressions = Vec::new();
    let mut improvements = Vec::new();
    if total_passed < baseline_total {
        regressions.push(format!(
            "total: {total_passed} passed, baseline {baseline_total}"
        ));
    } else if total_passed > baseline_total {
        improvements.push(format!("raise the baseline total to {total_passed}"));
    }
    for (area, minimum) in baseline_areas {
        let minimum = minimum
            .as_u64()
            .unwrap_or_else(|| panic!("the baseline of area `{area}` in {path} is not an integer"))
            as usize;
        let passed = passed_by_area.get(area).copied().unwrap_or(0);
        if passed < minimum {
            regressions.push(format!("area {area}: {passed} passed, baseline {minimum}"));
        } else if passed > minimum {
            improvements.push(format!("raise the baseline of area {area} to {passed}"));
        }
    }
    for (area, passed) in passed_by_area {
        if !baseline_areas.contains_key(area) && *passed > 0 {
            improvements.push(format!("add area {area} to the baseline with {passed}"));
        }
    }

    if !improvements.is_empty() {
        println!("more cases pass than {path} requires:");
        for improvement in &improvements {
            println!("  {improvement}");
        }
    }
    assert!(
        regressions.is_empty(),
        "fewer conformance cases pass than the baseline requires:\n  {}\nsee {FAILURES_PATH} for the failing cases",
        regressions.join("\n  ")
    );
}

#[test]
fn cause_label_masks_numbers() {
    assert_eq!(
        cause_of("invalid datetime literal `2017, 1, 31` at 12:5\nmore"),
        "invalid datetime literal `#, #, #` at #:#"
    );
    assert_eq!(
        cause_of("unknown function `geo_point_to_h3cell`"),
        "unknown function `geo_point_to_h3cell`"
    );
}
