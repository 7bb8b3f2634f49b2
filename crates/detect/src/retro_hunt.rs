//! Retro-hunts: the threat-intelligence rules run once over a long past
//! window, so that indicators added now raise alerts on events stored
//! before they arrived.
//!
//! A threat-intelligence rule is any rule whose query reads
//! `ThreatIntelligenceIndicator` or `ThreatIntelIndicators`. A retro-hunt
//! runs each at `now` with the tables restricted to `[now - lookback,
//! now)` instead of the rule's query period, through the same alert and
//! incident path as scheduled runs. With the detector's deduplication on,
//! a match that already raised an alert raises no second one.

use store::TimeWindow;

use crate::rule::Rule;
use crate::run::{Detector, RunKind, RunRecord, RunWindow};

/// The tables whose rows are threat-intelligence indicators.
pub const INDICATOR_TABLES: [&str; 2] = ["ThreatIntelligenceIndicator", "ThreatIntelIndicators"];

/// Returns true when the rule's query reads an indicator table.
pub fn is_threat_intel_rule(rule: &Rule) -> bool {
    INDICATOR_TABLES
        .iter()
        .any(|table| rule.query.contains(table))
}

/// Runs every threat-intelligence rule of `rules` once at `now_ticks` over
/// the `lookback` ticks before it, and returns the runs. The caller commits
/// the detector's pending rows.
///
/// NOTE: a rule that narrows its events itself (for example with
/// `ago(1h)`) still reads only that part of the window.
pub async fn retro_hunt(
    detector: &mut Detector,
    rules: &[Rule],
    now_ticks: i64,
    lookback: i64,
) -> Vec<RunRecord> {
    let window = RunWindow::Generated(TimeWindow {
        start_ticks: now_ticks - lookback,
        end_ticks: now_ticks,
    });
    let mut runs = Vec::new();
    for rule in rules.iter().filter(|rule| is_threat_intel_rule(rule)) {
        runs.push(
            detector
                .run_rule_over(rule, now_ticks, window, RunKind::RetroHunt)
                .await,
        );
    }
    runs
}
