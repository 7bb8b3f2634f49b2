//! Backtests: a rule's schedule replayed over a past period.
//!
//! A run over a window in which none of the tables the rule reads has rows
//! returns what the query returns over empty tables. So the backtest
//! evaluates that once per rule, and skips such windows when it would not
//! fire. The tables a rule reads are recorded while that first query is
//! planned. One query per table reads the UTC minutes that contain rows.
//!
//! NOTE: the skip assumes that a query's row count over empty tables does
//! not depend on `now()`, which holds unless the query builds rows from
//! the clock alone (for example `range` between two `now()`-relative
//! bounds whose step count changes with the instant).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::{Column as DfColumn, TableReference};
use datafusion::datasource::empty::EmptyTable;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use engine::{Catalog, Engine, QueryOptions, Relation};
use store::Workspace;
use store::tables::ALL_TABLES;

use crate::error::DetectError;
use crate::result::ResultRows;
use crate::row_sources::RowSources;
use crate::rule::Rule;
use crate::run::{Detector, RunKind, RunRecord, schedule};

/// The length of the time bins [`DataTimes`] keeps, in ticks (one minute).
const BIN_TICKS: i64 = 600_000_000;

/// The UTC minutes in which each stored table has rows, as the tick of
/// each minute's start.
#[derive(Debug, Clone, Default)]
pub struct DataTimes {
    minutes: BTreeMap<&'static str, BTreeSet<i64>>,
}

impl DataTimes {
    /// Reads the minutes with rows from every stored table.
    pub async fn read(engine: &Engine, workspace: &Workspace) -> Result<DataTimes, DetectError> {
        let catalog = store::catalog::load(workspace, engine, None).await?;
        let mut minutes = BTreeMap::new();
        for table in ALL_TABLES {
            let query = format!(
                "{} | summarize by Minute = bin(TimeGenerated, 1m)",
                table.name
            );
            let result = engine
                .run(&query, &catalog, &QueryOptions::default())
                .await
                .map_err(|err| DetectError::Internal {
                    table: table.name.into(),
                    message: err.to_string(),
                })?;
            let rows = ResultRows::new(&result);
            let bins: BTreeSet<i64> = (0..rows.len())
                .filter_map(|row| rows.datetime_ticks(row, "Minute"))
                .collect();
            minutes.insert(table.name, bins);
        }
        Ok(DataTimes { minutes })
    }

    /// Returns true when one of `tables` has rows in a minute that
    /// overlaps `[start, end)`. `None` stands for every table.
    pub fn overlaps(&self, tables: Option<&BTreeSet<&'static str>>, start: i64, end: i64) -> bool {
        if start >= end {
            return false;
        }
        let range = start.saturating_sub(BIN_TICKS - 1)..end;
        self.minutes
            .iter()
            .filter(|(name, _)| tables.is_none_or(|tables| tables.contains(*name)))
            .any(|(_, bins)| bins.range(range.clone()).next().is_some())
    }
}

/// A catalog that reads every table as an empty scan named after the
/// table, and records the stored tables behind each, so that
/// [`RowSources::of_plan`] can tell which tables' rows a query's result
/// rows come from.
struct RecordingCatalog<'a> {
    inner: &'a dyn Catalog,
    /// The stored tables behind each table name read, or `None` once a
    /// table could not be read as a named scan.
    scans: Mutex<Option<BTreeMap<String, BTreeSet<&'static str>>>>,
}

impl<'a> RecordingCatalog<'a> {
    fn new(inner: &'a dyn Catalog) -> RecordingCatalog<'a> {
        RecordingCatalog {
            inner,
            scans: Mutex::new(Some(BTreeMap::new())),
        }
    }

    /// Returns the condition under which `plan`, planned over this
    /// catalog, returns rows.
    fn row_sources(&self, plan: &LogicalPlan) -> RowSources {
        let scans = self.scans.lock().unwrap_or_else(|err| err.into_inner());
        match scans.as_ref() {
            Some(scans) => RowSources::of_plan(plan, scans),
            None => RowSources::Always,
        }
    }
}

/// Returns `relation` read from an empty table scan named `name`, with
/// the same columns.
fn named_scan(name: &str, relation: &Relation) -> Option<Relation> {
    // A bare reference keeps the name's case, which parsing would lower.
    let table = TableReference::bare(name);
    let schema = relation.plan.schema();
    let provider = Arc::new(EmptyTable::new(Arc::new(schema.as_arrow().clone())));
    let columns: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|field| {
            Expr::Column(DfColumn::new(Some(table.clone()), field.name())).alias(field.name())
        })
        .collect();
    let plan = LogicalPlanBuilder::scan(table, provider_as_source(provider), None)
        .and_then(|builder| builder.project(columns))
        .and_then(|builder| builder.build())
        .ok()?;
    Some(Relation {
        plan,
        columns: relation.columns.clone(),
    })
}

impl Catalog for RecordingCatalog<'_> {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    fn table(&self, name: &str) -> Option<Relation> {
        let relation = self.inner.table(name)?;
        let mut scans = self.scans.lock().unwrap_or_else(|err| err.into_inner());
        let scan = named_scan(name, &relation);
        match (store::catalog::stored_sources(name), &scan, scans.as_mut()) {
            (Some(sources), Some(_), Some(scans)) => {
                scans.entry(name.to_string()).or_default().extend(sources);
            }
            _ => *scans = None,
        }
        Some(scan.unwrap_or(relation))
    }
}

/// The time between the two instants [`row_sources`] plans a query at: a
/// day, an hour, a minute, a second and a bit more, so that no bin or
/// start-of-period function of `now()` moves by exactly this much.
const SECOND_PLAN_DELTA: i64 =
    864_000_000_000 + 36_000_000_000 + 600_000_000 + 10_000_000 + 1_234_567;

/// Returns the condition under which the rule's query returns rows, with
/// the `TimeGenerated` bounds that move with `now()` separated from fixed
/// ones by planning the query at two instants.
fn row_sources(engine: &Engine, query: &str, schema: &dyn Catalog, now_ticks: i64) -> RowSources {
    let plan_at = |now_ticks: i64| {
        let recording = RecordingCatalog::new(schema);
        let options = QueryOptions {
            now_ticks,
            ..QueryOptions::default()
        };
        let plan = engine.plan(query, &recording, &options).ok()?.plan;
        Some(recording.row_sources(&plan))
    };
    match (plan_at(now_ticks), plan_at(now_ticks + SECOND_PLAN_DELTA)) {
        (Some(first), Some(second)) => first.relative_to_now(&second, now_ticks, SECOND_PLAN_DELTA),
        _ => RowSources::Always,
    }
}

/// The runs of one rule's backtest.
#[derive(Debug, Clone, Default)]
pub struct RuleBacktest {
    pub runs: Vec<RunRecord>,
    /// Scheduled instants not run: windows without rows in the rule's
    /// tables for a query that does not fire over empty tables, and every
    /// instant after the first for a query that fails.
    pub skipped: usize,
}

/// Replays `rule` every `queryFrequency` from `from_ticks` to `to_ticks`
/// (see [`schedule`]), skipping windows without rows in the tables the
/// rule reads when the rule does not fire on empty tables. A query that
/// fails over empty tables fails the same way at every instant, so only
/// its first run is made and recorded.
pub async fn backtest_rule(
    detector: &mut Detector,
    data_times: &DataTimes,
    rule: &Rule,
    from_ticks: i64,
    to_ticks: i64,
) -> RuleBacktest {
    let (empty_outcome, sources) = match store::catalog::schema_catalog() {
        Ok(schema) => {
            let recording = RecordingCatalog::new(&schema);
            let outcome = detector.fires_over(rule, &recording, from_ticks).await;
            let sources = row_sources(detector.engine(), &rule.query, &schema, from_ticks);
            (outcome, sources)
        }
        Err(err) => (Err(err.to_string()), RowSources::Always),
    };
    let mut backtest = RuleBacktest::default();
    for at_ticks in schedule(rule, from_ticks, to_ticks) {
        let rows_possible = sources.possible(data_times, at_ticks - rule.query_period, at_ticks);
        let skip = match &empty_outcome {
            Ok(fires_when_empty) => !rows_possible && !fires_when_empty,
            Err(_) => !backtest.runs.is_empty(),
        };
        if skip {
            backtest.skipped += 1;
            continue;
        }
        let record = detector.run_rule(rule, at_ticks, RunKind::Backtest).await;
        backtest.runs.push(record);
    }
    backtest
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = BIN_TICKS;

    fn data_times() -> DataTimes {
        let mut minutes = BTreeMap::new();
        minutes.insert("SecurityEvent", BTreeSet::from([10 * MINUTE]));
        minutes.insert("Event", BTreeSet::from([100 * MINUTE]));
        DataTimes { minutes }
    }

    #[test]
    fn overlaps_only_the_tables_asked_for() {
        let times = data_times();
        let security = BTreeSet::from(["SecurityEvent"]);
        let event = BTreeSet::from(["Event"]);
        assert!(times.overlaps(Some(&security), 0, 11 * MINUTE));
        assert!(!times.overlaps(Some(&event), 0, 11 * MINUTE));
        assert!(times.overlaps(None, 0, 11 * MINUTE));
        assert!(!times.overlaps(Some(&BTreeSet::new()), 0, 200 * MINUTE));
    }

    #[test]
    fn overlaps_minute_edges() {
        let times = data_times();
        let security = BTreeSet::from(["SecurityEvent"]);
        // The minute [10, 11) overlaps a window that ends just after it starts.
        assert!(times.overlaps(Some(&security), 0, 10 * MINUTE + 1));
        assert!(!times.overlaps(Some(&security), 0, 10 * MINUTE));
        // ...and one that starts just before it ends.
        assert!(times.overlaps(Some(&security), 11 * MINUTE - 1, 20 * MINUTE));
        assert!(!times.overlaps(Some(&security), 11 * MINUTE, 20 * MINUTE));
    }

    #[test]
    fn recording_catalog_maps_views() {
        let schema = store::catalog::schema_catalog().unwrap();
        let recording = RecordingCatalog::new(&schema);
        let windows_event = recording.table("WindowsEvent").unwrap();
        assert!(recording.table("NoSuchTable").is_none());
        assert_eq!(
            recording.row_sources(&windows_event.plan),
            RowSources::Tables(
                BTreeSet::from(["SecurityEvent", "Event", "WindowsEvent"]),
                crate::row_sources::TimeRange::default()
            )
        );
    }

    /// Returns whether `query` can return rows over the minute in which
    /// [`data_times`] has `SecurityEvent` rows and over the one with
    /// `Event` rows.
    fn possible_in_minutes(query: &str) -> (bool, bool) {
        let schema = store::catalog::schema_catalog().unwrap();
        let recording = RecordingCatalog::new(&schema);
        let plan = Engine::new()
            .plan(query, &recording, &QueryOptions::default())
            .unwrap()
            .plan;
        let sources = recording.row_sources(&plan);
        let times = data_times();
        (
            sources.possible(&times, 10 * MINUTE, 11 * MINUTE),
            sources.possible(&times, 100 * MINUTE, 101 * MINUTE),
        )
    }

    const DAY: i64 = 1440 * MINUTE;

    /// Returns whether `query`, run with a 14-day window at each of `days`
    /// (in days since tick 0), can return rows over `SecurityEvent` rows
    /// on day 3 only.
    fn possible_at_days(query: &str, days: &[i64]) -> Vec<bool> {
        let mut minutes = BTreeMap::new();
        minutes.insert("SecurityEvent", BTreeSet::from([3 * DAY + 600 * MINUTE]));
        let times = DataTimes { minutes };
        let schema = store::catalog::schema_catalog().unwrap();
        let plan_now = 400 * DAY;
        let sources = row_sources(&Engine::new(), query, &schema, plan_now);
        days.iter()
            .map(|day| sources.possible(&times, day * DAY - 14 * DAY, day * DAY))
            .collect()
    }

    #[test]
    fn time_filters_narrow_row_sources() {
        let days = [3, 4, 5, 17, 18];
        let cases = [
            // No filter: any window that contains day 3.
            ("SecurityEvent", [false, true, true, true, false]),
            // Only the last day of the window.
            (
                "SecurityEvent | where TimeGenerated > ago(1d)",
                [false, true, false, false, false],
            ),
            (
                "let lookback = 1d; SecurityEvent | where TimeGenerated between (ago(lookback) .. now()) | project TimeGenerated, Computer | take 5",
                [false, true, false, false, false],
            ),
            // A union passes the bounds to its inputs, also in a view.
            (
                "union SecurityEvent, Event | where TimeGenerated > ago(1d)",
                [false, true, false, false, false],
            ),
            (
                "WindowsEvent | where TimeGenerated > ago(1d)",
                [false, true, false, false, false],
            ),
            // mv-expand keeps the other columns of each row.
            (
                "SecurityEvent | extend Parts = split(Computer, '.') | mv-expand Parts | where TimeGenerated > ago(1d)",
                [false, true, false, false, false],
            ),
            // All but the last day.
            (
                "SecurityEvent | where EventID == 4688 and TimeGenerated < ago(1d)",
                [false, false, true, true, false],
            ),
            // The kept side of an anti join reads the last day only.
            (
                "SecurityEvent | where TimeGenerated < ago(1d) | join kind=rightanti (SecurityEvent | where TimeGenerated > ago(1d)) on Computer",
                [false, true, false, false, false],
            ),
            // A fixed instant after the rows (tick 0 is 1970-01-01).
            (
                "SecurityEvent | where TimeGenerated >= datetime(1970-01-04 12:00:00)",
                [false, false, false, false, false],
            ),
            (
                "SecurityEvent | where TimeGenerated >= datetime(1970-01-04 08:00:00)",
                [false, true, true, true, false],
            ),
            // A computed TimeGenerated does not bound the stored one.
            (
                "SecurityEvent | extend TimeGenerated = now() | where TimeGenerated > ago(1d)",
                [false, true, true, true, false],
            ),
            // A bin of now() does not move with now(), so it is ignored.
            (
                "SecurityEvent | where TimeGenerated > bin(now(), 1d) - 1d",
                [false, true, true, true, false],
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(possible_at_days(query, &days), expected, "{query}");
        }
    }

    #[test]
    fn row_sources_of_queries() {
        let cases = [
            ("SecurityEvent | where EventID == 4625", (true, false)),
            (
                "SecurityEvent | summarize count() by Computer",
                (true, false),
            ),
            ("SecurityEvent | summarize count()", (true, true)),
            ("print x = 1", (true, true)),
            ("union SecurityEvent, Event", (true, true)),
            ("WindowsEvent | take 1", (true, true)),
            (
                "SecurityEvent | join kind=leftouter (Event) on Computer",
                (true, false),
            ),
            (
                "SecurityEvent | join kind=inner (Event) on Computer",
                (false, false),
            ),
            (
                "ThreatIntelIndicators | join kind=innerunique (SecurityEvent) on $left.ObservableValue == $right.IpAddress",
                (false, false),
            ),
            (
                "SecurityEvent | join kind=rightanti (Event) on Computer",
                (false, true),
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(possible_in_minutes(query), expected, "{query}");
        }
    }
}
