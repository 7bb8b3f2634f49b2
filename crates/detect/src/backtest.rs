//! Backtests: a rule's schedule replayed over a past period.
//!
//! A run over a window that holds no rows in any table returns what the
//! query returns over empty tables, so the backtest evaluates that once
//! per rule and skips the empty windows when it would not fire. Which
//! windows are empty is known per UTC day from one query over every table.
//!
//! NOTE: the skip assumes that a query's row count over empty tables does
//! not depend on `now()`, which holds unless the query builds rows from
//! the clock alone (for example `range` between two `now()`-relative
//! bounds whose step count changes with the instant).

use std::collections::BTreeSet;

use engine::{Engine, QueryOptions};
use store::Workspace;
use store::tables::ALL_TABLES;

use crate::error::DetectError;
use crate::result::ResultRows;
use crate::rule::Rule;
use crate::run::{Detector, RunKind, RunRecord, schedule};

const TICKS_PER_DAY: i64 = 864_000_000_000;

/// The UTC days on which any table of the workspace has rows, as the tick
/// of each day's midnight.
#[derive(Debug, Clone, Default)]
pub struct DataDays {
    days: BTreeSet<i64>,
}

impl DataDays {
    /// Reads the days with rows from every table.
    pub async fn read(engine: &Engine, workspace: &Workspace) -> Result<DataDays, DetectError> {
        let legs: Vec<String> = ALL_TABLES
            .iter()
            .map(|table| format!("({} | project TimeGenerated)", table.name))
            .collect();
        let query = format!(
            "union {} | summarize by Day = bin(TimeGenerated, 1d)",
            legs.join(", ")
        );
        let catalog = store::catalog::load(workspace, engine, None).await?;
        let result = engine
            .run(&query, &catalog, &QueryOptions::default())
            .await
            .map_err(|err| DetectError::Internal {
                table: "every table".into(),
                message: err.to_string(),
            })?;
        let rows = ResultRows::new(&result);
        let days = (0..rows.len())
            .filter_map(|row| rows.datetime_ticks(row, "Day"))
            .collect();
        Ok(DataDays { days })
    }

    /// Returns true when some day with rows overlaps `[start, end)`.
    pub fn overlaps(&self, start_ticks: i64, end_ticks: i64) -> bool {
        self.days
            .range(start_ticks.saturating_sub(TICKS_PER_DAY - 1)..end_ticks)
            .next()
            .is_some()
    }
}

/// The runs of one rule's backtest.
#[derive(Debug, Clone, Default)]
pub struct RuleBacktest {
    pub runs: Vec<RunRecord>,
    /// Scheduled instants not run: windows without rows for a query that
    /// does not fire over empty tables, and every instant after the first
    /// for a query that fails.
    pub skipped: usize,
}

/// Replays `rule` every `queryFrequency` from `from_ticks` to `to_ticks`
/// (see [`schedule`]), skipping windows without rows when the rule does not
/// fire on empty tables. A query that fails over empty tables fails the
/// same way at every instant, so only its first run is made and recorded.
pub async fn backtest_rule(
    detector: &mut Detector,
    data_days: &DataDays,
    rule: &Rule,
    from_ticks: i64,
    to_ticks: i64,
) -> RuleBacktest {
    let empty_outcome = detector.fires_on_empty_tables(rule, from_ticks).await;
    let mut backtest = RuleBacktest::default();
    for at_ticks in schedule(rule, from_ticks, to_ticks) {
        let window_has_rows = data_days.overlaps(at_ticks - rule.query_period, at_ticks);
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
