//! The rules a server runs and the last run of each, shared by the web UI
//! and the JSON API.

use std::collections::BTreeMap;

use detect::Rule;

use crate::app::AppState;
use crate::ui::data;

/// The last scheduled run of one rule, from `HomesocRuleRuns`.
pub struct LastRun {
    /// When the run ended (its `TimeGenerated`), as ISO 8601 text.
    pub time: String,
    /// `Succeeded` or `Failed`.
    pub status: String,
    /// The failure's message; empty after a success.
    pub error: String,
    /// Alerts the run raised.
    pub alerts: f64,
}

/// Loads the built-in pack and the data folder's rules; files that do not
/// load are logged and left out.
pub fn load_rules(state: &AppState) -> Vec<Rule> {
    let set = detect::builtin::data_dir_rules(&state.data_dir);
    for error in &set.errors {
        tracing::warn!(error = %error, "skipped rule file");
    }
    set.rules
}

/// Returns the name of each rule the server runs, by rule id.
pub fn rule_names(state: &AppState) -> BTreeMap<String, String> {
    load_rules(state)
        .into_iter()
        .map(|rule| (rule.id, rule.name))
        .collect()
}

/// Returns the last scheduled or NRT run of each rule, by rule id.
pub async fn last_runs(state: &AppState) -> BTreeMap<String, LastRun> {
    let rows = data::rows(
        state,
        "HomesocRuleRuns | where RunKind != 'Backtest' | summarize arg_max(StartedTime, *) by RuleId | project RuleId, TimeGenerated, Status, Error, Alerts",
    )
    .await;
    (0..rows.len())
        .map(|row| {
            (
                rows.text(row, "RuleId"),
                LastRun {
                    time: rows.text(row, "TimeGenerated"),
                    status: rows.text(row, "Status"),
                    error: rows.text(row, "Error"),
                    alerts: rows.number(row, "Alerts"),
                },
            )
        })
        .collect()
}
