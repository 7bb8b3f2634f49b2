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
use std::sync::Mutex;

use engine::{Catalog, Engine, QueryOptions, Relation};
use store::Workspace;
use store::tables::ALL_TABLES;

use crate::error::DetectError;
use crate::result::ResultRows;
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
        let range = start.saturating_sub(BIN_TICKS - 1)..end;
        self.minutes
            .iter()
            .filter(|(name, _)| tables.is_none_or(|tables| tables.contains(*name)))
            .any(|(_, bins)| bins.range(range.clone()).next().is_some())
    }
}

/// A catalog that records the stored tables behind every table a query
/// plans, so that a backtest can tell which tables' rows a rule reads.
struct RecordingCatalog<'a> {
    inner: &'a dyn Catalog,
    /// The stored tables read, or `None` once the query read a table that
    /// [`store::catalog::stored_sources`] does not list.
    tables: Mutex<Option<BTreeSet<&'static str>>>,
}

impl<'a> RecordingCatalog<'a> {
    fn new(inner: &'a dyn Catalog) -> RecordingCatalog<'a> {
        RecordingCatalog {
            inner,
            tables: Mutex::new(Some(BTreeSet::new())),
        }
    }

    fn into_tables(self) -> Option<BTreeSet<&'static str>> {
        self.tables
            .into_inner()
            .unwrap_or_else(|err| err.into_inner())
    }
}

impl Catalog for RecordingCatalog<'_> {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    fn table(&self, name: &str) -> Option<Relation> {
        let relation = self.inner.table(name)?;
        let mut tables = self.tables.lock().unwrap_or_else(|err| err.into_inner());
        match (store::catalog::stored_sources(name), tables.as_mut()) {
            (Some(sources), Some(tables)) => tables.extend(sources),
            (None, _) => *tables = None,
            (Some(_), None) => {}
        }
        Some(relation)
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
    let (empty_outcome, tables) = match store::catalog::schema_catalog() {
        Ok(schema) => {
            let recording = RecordingCatalog::new(&schema);
            let outcome = detector.fires_over(rule, &recording, from_ticks).await;
            (outcome, recording.into_tables())
        }
        Err(err) => (Err(err.to_string()), None),
    };
    let mut backtest = RuleBacktest::default();
    for at_ticks in schedule(rule, from_ticks, to_ticks) {
        let window_has_rows =
            data_times.overlaps(tables.as_ref(), at_ticks - rule.query_period, at_ticks);
        let skip = match &empty_outcome {
            Ok(fires_when_empty) => !window_has_rows && !fires_when_empty,
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
        assert!(recording.table("WindowsEvent").is_some());
        assert!(recording.table("Heartbeat").is_some());
        assert!(recording.table("NoSuchTable").is_none());
        assert_eq!(
            recording.into_tables(),
            Some(BTreeSet::from(["SecurityEvent", "Event", "WindowsEvent"]))
        );
    }
}
