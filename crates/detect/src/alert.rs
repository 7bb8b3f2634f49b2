//! Alerts from the result of one rule run: event grouping, entities, custom
//! details, evidence and the rule's alert details override.

use engine::time::format_datetime_iso;
use serde_json::{Map, Value, json};

use crate::entities::{Entity, merge_entities, row_entities};
use crate::load::split_text_list;
use crate::result::ResultRows;
use crate::rule::{EventGrouping, Rule, Severity};
use crate::timespan::format_iso8601;

/// Result rows kept as evidence in one alert's ExtendedProperties.
pub const EVIDENCE_ROW_CAP: usize = 10;

/// Distinct values kept per custom detail in one alert.
pub const CUSTOM_DETAIL_VALUE_CAP: usize = 20;

/// Alerts one run of an `AlertPerResult` rule raises at most; as in
/// Sentinel, the last alert covers every remaining row.
pub const ALERTS_PER_RUN_CAP: usize = 150;

/// An alert, as one `SecurityAlert` row describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub system_alert_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub display_name: String,
    pub description: String,
    pub severity: Severity,
    pub tactics: Vec<String>,
    /// Technique ids without a sub-technique part (`T1110`).
    pub techniques: Vec<String>,
    /// Sub-technique ids (`T1110.001`).
    pub sub_techniques: Vec<String>,
    /// When the run raised the alert (the run's instant), in ticks.
    pub time_generated: i64,
    /// Earliest and latest `TimeGenerated` of the alert's result rows.
    /// Results without `TimeGenerated` use the first datetime column of
    /// [`START_COLUMNS`] and [`END_COLUMNS`] they have (`StartTime`,
    /// `EndTime`, ...), and results with none of them the query window.
    pub start_time: i64,
    pub end_time: i64,
    pub entities: Vec<Entity>,
    /// Custom detail keys with their distinct values, in rule order.
    pub custom_details: Vec<(String, Vec<String>)>,
    pub extended_properties: Map<String, Value>,
    /// SecurityAlert columns set by `alertDynamicProperties`.
    pub dynamic_properties: Vec<(String, String)>,
}

/// The instant and query window of the run that raises the alerts.
#[derive(Debug, Clone, Copy)]
pub struct RunInstant {
    pub at_ticks: i64,
    pub window_start: i64,
    pub window_end: i64,
}

/// Result keys kept in one alert's ExtendedProperties, so that a later
/// run can tell which result rows already raised an alert.
pub const RESULT_KEY_CAP: usize = 1000;

/// The ExtendedProperties key of an alert's result keys.
pub const RESULT_KEYS_PROPERTY: &str = "Homesoc Result Keys";

/// Returns a stable 64-bit key of one result row: FNV-1a over the row's
/// JSON text. Equal rows (same columns, same values) get equal keys in
/// every run and every homesoc version that keeps the JSON form.
pub fn result_row_key(rows: &ResultRows<'_>, row: usize) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    rows.row_object(row)
        .to_string()
        .bytes()
        .fold(FNV_OFFSET, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
        })
}

/// Builds the alerts of a run whose trigger fired from the result rows
/// `alert_rows` (row indices into `rows`): one for all of them
/// (`SingleAlert`) or one per row (`AlertPerResult`).
pub fn build_alerts(
    rule: &Rule,
    rows: &ResultRows<'_>,
    alert_rows: Vec<usize>,
    run: RunInstant,
) -> Vec<Alert> {
    if alert_rows.is_empty() {
        return Vec::new();
    }
    let all_rows = alert_rows;
    let groups: Vec<Vec<usize>> = match rule.event_grouping {
        EventGrouping::SingleAlert => vec![all_rows],
        EventGrouping::AlertPerResult if all_rows.len() <= ALERTS_PER_RUN_CAP => {
            all_rows.into_iter().map(|row| vec![row]).collect()
        }
        EventGrouping::AlertPerResult => {
            let (singles, rest) = all_rows.split_at(ALERTS_PER_RUN_CAP - 1);
            let mut groups: Vec<Vec<usize>> = singles.iter().map(|&row| vec![row]).collect();
            groups.push(rest.to_vec());
            groups
        }
    };
    groups
        .into_iter()
        .map(|group| build_alert(rule, rows, &group, run))
        .collect()
}

fn build_alert(rule: &Rule, rows: &ResultRows<'_>, group: &[usize], run: RunInstant) -> Alert {
    let first_row = group.first().copied();
    let first_cell = |column: &str| first_row.and_then(|row| rows.text(row, column));

    let mut entities = Vec::new();
    for &row in group {
        let cell = |column: &str| rows.text(row, column);
        merge_entities(&mut entities, row_entities(&rule.entity_mappings, &cell));
    }

    let custom_details = collect_custom_details(rule, rows, group);
    let overrides = &rule.alert_details_override;
    let display_name = overrides.display_name_format.as_deref().map_or_else(
        || rule.name.clone(),
        |format| fill_template(format, &first_cell),
    );
    let description = overrides.description_format.as_deref().map_or_else(
        || rule.description.clone(),
        |format| fill_template(format, &first_cell),
    );
    let severity = overrides
        .severity_column
        .as_deref()
        .and_then(&first_cell)
        .and_then(|value| Severity::parse(&value))
        .unwrap_or(rule.severity);
    let tactics = overrides
        .tactics_column
        .as_deref()
        .and_then(&first_cell)
        .map(|value| split_text_list(&value))
        .filter(|tactics| !tactics.is_empty())
        .unwrap_or_else(|| rule.tactics.clone());
    let dynamic_properties = overrides
        .dynamic_properties
        .iter()
        .filter_map(|(property, column)| Some((property.clone(), first_cell(column)?)))
        .collect();

    let (techniques, sub_techniques) = split_techniques(&rule.relevant_techniques);
    let start_time =
        activity_time(rows, group, START_COLUMNS, Iterator::min).unwrap_or(run.window_start);
    let end_time = activity_time(rows, group, END_COLUMNS, Iterator::max).unwrap_or(run.window_end);

    let evidence: Vec<Value> = group
        .iter()
        .take(EVIDENCE_ROW_CAP)
        .map(|&row| rows.row_object(row))
        .collect();
    let mut extended_properties = extended_properties(
        rule,
        run,
        rows.len(),
        &custom_details,
        evidence,
        group.len(),
    );
    // NOTE: an alert of more than RESULT_KEY_CAP rows keeps only the first
    // keys, so a later overlapping run can alert again on the rest.
    let result_keys: Vec<String> = group
        .iter()
        .take(RESULT_KEY_CAP)
        .map(|&row| format!("{:016x}", result_row_key(rows, row)))
        .collect();
    extended_properties.insert(RESULT_KEYS_PROPERTY.into(), json!(result_keys));

    Alert {
        system_alert_id: uuid::Uuid::new_v4().to_string(),
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        display_name,
        description,
        severity,
        tactics,
        techniques,
        sub_techniques,
        time_generated: run.at_ticks,
        start_time,
        end_time,
        entities,
        custom_details,
        extended_properties,
        dynamic_properties,
    }
}

fn collect_custom_details(
    rule: &Rule,
    rows: &ResultRows<'_>,
    group: &[usize],
) -> Vec<(String, Vec<String>)> {
    rule.custom_details
        .iter()
        .map(|(key, column)| {
            let mut values: Vec<String> = Vec::new();
            for &row in group {
                let Some(value) = rows.text(row, column) else {
                    break;
                };
                if !values.contains(&value) && values.len() < CUSTOM_DETAIL_VALUE_CAP {
                    values.push(value);
                }
            }
            (key.clone(), values)
        })
        .collect()
}

/// Builds ExtendedProperties with Sentinel's key names for scheduled-rule
/// alerts (string values), plus `Evidence`: up to [`EVIDENCE_ROW_CAP`]
/// result rows as JSON objects.
fn extended_properties(
    rule: &Rule,
    run: RunInstant,
    result_rows: usize,
    custom_details: &[(String, Vec<String>)],
    evidence: Vec<Value>,
    alert_rows: usize,
) -> Map<String, Value> {
    let mut properties = Map::new();
    let mut put = |key: &str, value: String| {
        properties.insert(key.to_string(), Value::String(value));
    };
    put("Analytic Rule Ids", json!([rule.id]).to_string());
    put("Analytic Rule Name", rule.name.clone());
    put("Event Grouping", rule.event_grouping.as_str().to_string());
    put("Query", rule.query.clone());
    put("Query Period", format_iso8601(rule.query_period));
    put(
        "Query Start Time UTC",
        format_datetime_iso(run.window_start),
    );
    put("Query End Time UTC", format_datetime_iso(run.window_end));
    put(
        "Search Query Results Overall Count",
        result_rows.to_string(),
    );
    put(
        "Trigger Operator",
        rule.trigger.operator.as_str().to_string(),
    );
    put("Trigger Threshold", rule.trigger.threshold.to_string());
    if !custom_details.is_empty() {
        let details: Map<String, Value> = custom_details
            .iter()
            .map(|(key, values)| (key.clone(), json!(values)))
            .collect();
        put("Custom Details", Value::Object(details).to_string());
    }
    properties.insert("Evidence".into(), Value::Array(evidence));
    properties.insert("Evidence Rows".into(), json!(alert_rows));
    properties
}

/// Replaces each `{{Column}}` with the column's value; a placeholder whose
/// column is not in the result stays as written.
pub fn fill_template(format: &str, cell: &dyn Fn(&str) -> Option<String>) -> String {
    let mut output = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(open) = rest.find("{{") {
        output.push_str(&rest[..open]);
        let after_open = &rest[open + 2..];
        let Some(close) = after_open.find("}}") else {
            output.push_str(&rest[open..]);
            return output;
        };
        let column = after_open[..close].trim();
        match cell(column) {
            Some(value) => output.push_str(&value),
            None => output.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after_open[close + 2..];
    }
    output.push_str(rest);
    output
}

/// Splits technique ids into techniques and sub-techniques; a
/// sub-technique also lists its parent technique, as Sentinel does.
fn split_techniques(ids: &[String]) -> (Vec<String>, Vec<String>) {
    let mut techniques: Vec<String> = Vec::new();
    let mut sub_techniques = Vec::new();
    for id in ids {
        let parent = match id.split_once('.') {
            Some((parent, _)) => {
                sub_techniques.push(id.clone());
                parent.to_string()
            }
            None => id.clone(),
        };
        if !techniques.contains(&parent) {
            techniques.push(parent);
        }
    }
    (techniques, sub_techniques)
}

/// Columns that give an alert's first activity when the result has no
/// `TimeGenerated`, in order of preference. Published rules name the
/// earliest event of a summarized result this way.
pub const START_COLUMNS: &[&str] = &[
    "TimeGenerated",
    "StartTime",
    "StartTimeUtc",
    "FirstSeen",
    "FirstEvent",
    "Timestamp",
];

/// Columns that give an alert's last activity, as [`START_COLUMNS`].
pub const END_COLUMNS: &[&str] = &[
    "TimeGenerated",
    "EndTime",
    "EndTimeUtc",
    "LastSeen",
    "LastEvent",
    "Timestamp",
];

/// Returns `pick` (min or max) over the first of `columns` that contains a
/// datetime in any row of `group`.
fn activity_time(
    rows: &ResultRows<'_>,
    group: &[usize],
    columns: &[&str],
    pick: fn(std::vec::IntoIter<i64>) -> Option<i64>,
) -> Option<i64> {
    columns.iter().find_map(|column| {
        let times: Vec<i64> = group
            .iter()
            .filter_map(|&row| rows.datetime_ticks(row, column))
            .collect();
        pick(times.into_iter())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fills_known_columns() {
        let cell = |column: &str| (column == "User").then(|| "alice".to_string());
        assert_eq!(
            fill_template("Logon by {{User}} on {{ Host }}", &cell),
            "Logon by alice on {{ Host }}"
        );
        assert_eq!(fill_template("{{User}}{{User}}", &cell), "alicealice");
        assert_eq!(fill_template("open {{User", &cell), "open {{User");
    }

    #[test]
    fn techniques_split() {
        let (techniques, subs) =
            split_techniques(&["T1110.001".into(), "T1110".into(), "T1078".into()]);
        assert_eq!(techniques, ["T1110", "T1078"]);
        assert_eq!(subs, ["T1110.001"]);
    }
}
