//! The JSON document a notification sends, and the email made from it.

use engine::time::format_datetime_iso;
use serde_json::{Value, json};

use super::config::Trigger;
use super::facts::IncidentFacts;
use crate::entities::entities_json;
use crate::incident::Incident;

/// Builds the notification document about `incident`: the incident as it
/// is after the rule's earlier actions, its alerts' entities and rule
/// names, the trigger and the automation rule's name.
pub fn incident_payload(
    rule_name: &str,
    trigger: Trigger,
    incident: &Incident,
    facts: &IncidentFacts,
    now_ticks: i64,
) -> Value {
    let entities: Value =
        serde_json::from_str(&entities_json(&facts.entities)).unwrap_or(Value::Array(Vec::new()));
    json!({
        "automationRule": rule_name,
        "trigger": trigger.as_str(),
        "queuedTime": format_datetime_iso(now_ticks),
        "incident": {
            "number": incident.number,
            "name": incident.name,
            "title": incident.title,
            "description": incident.description,
            "severity": incident.severity.as_str(),
            "status": incident.status.as_str(),
            "owner": incident.owner,
            "classification": incident.classification,
            "labels": incident.labels,
            "ruleIds": incident.rule_ids,
            "ruleNames": facts.rule_names,
            "tactics": incident.tactics,
            "alertIds": incident.alert_ids,
            "entities": entities,
            "createdTime": format_datetime_iso(incident.created_ticks),
            "lastModifiedTime": format_datetime_iso(incident.last_modified_ticks),
            "firstActivityTime": format_datetime_iso(incident.first_activity_ticks),
            "lastActivityTime": format_datetime_iso(incident.last_activity_ticks),
            "modifiedBy": incident.modified_by,
            "link": format!("/incidents/{}", incident.number),
        },
    })
}

/// Returns the subject of the email about a payload, such as
/// `[homesoc] High incident 3 created: Failed logons from 10.0.0.5`.
pub fn email_subject(payload: &Value) -> String {
    let incident = &payload["incident"];
    format!(
        "[homesoc] {} incident {} {}: {}",
        incident["severity"].as_str().unwrap_or_default(),
        incident["number"],
        payload["trigger"].as_str().unwrap_or_default(),
        incident["title"].as_str().unwrap_or_default(),
    )
}

/// Returns the plain-text body of the email about a payload: a summary,
/// then the payload itself as JSON for tools that read mail.
pub fn email_body(payload: &Value) -> String {
    let incident = &payload["incident"];
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_string(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map_or_else(|| item.to_string(), str::to_string)
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };

    let mut body = String::new();
    body.push_str(&format!("Incident:    {}\n", text(&incident["number"])));
    body.push_str(&format!("Title:       {}\n", text(&incident["title"])));
    body.push_str(&format!("Severity:    {}\n", text(&incident["severity"])));
    body.push_str(&format!("Status:      {}\n", text(&incident["status"])));
    body.push_str(&format!("Owner:       {}\n", text(&incident["owner"])));
    body.push_str(&format!("Tactics:     {}\n", text(&incident["tactics"])));
    body.push_str(&format!("Rules:       {}\n", text(&incident["ruleNames"])));
    body.push_str(&format!("Alerts:      {}\n", text(&incident["alertIds"])));
    body.push_str(&format!("Link:        {}\n", text(&incident["link"])));
    body.push_str(&format!(
        "Automation:  {} (on {})\n\n",
        text(&payload["automationRule"]),
        text(&payload["trigger"])
    ));

    body.push_str(&serde_json::to_string_pretty(payload).unwrap_or_default());
    body.push('\n');
    body
}
