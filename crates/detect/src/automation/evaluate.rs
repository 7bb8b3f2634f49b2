//! Running automation rules on the incidents a commit changes.

use std::collections::BTreeMap;

use tracing::{info, warn};

use super::config::{Action, AutomationConfig, AutomationRule, Conditions, Trigger};
use super::facts::IncidentFacts;
use super::outbox::{Channel, Notification};
use super::payload::incident_payload;
use super::record::{AutomationRecord, StepStatus};
use crate::incident::{Incident, IncidentBook};

/// An incident changed since automation last ran, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangedIncident {
    pub number: i64,
    pub trigger: Trigger,
}

/// Returns the incidents of the queued `SecurityIncident` rows, each once,
/// by number. An incident whose first row is among them was created;
/// the others were updated. An incident created and then changed before
/// the commit counts as created only.
pub fn changed_incidents(rows: &[Incident]) -> Vec<ChangedIncident> {
    let mut changed: BTreeMap<i64, Trigger> = BTreeMap::new();
    for row in rows {
        let trigger = if row.revision <= 1 {
            Trigger::Created
        } else {
            Trigger::Updated
        };
        let entry = changed.entry(row.number).or_insert(trigger);
        if trigger == Trigger::Created {
            *entry = Trigger::Created;
        }
    }
    changed
        .into_iter()
        .map(|(number, trigger)| ChangedIncident { number, trigger })
        .collect()
}

/// The result of running automation rules: the incident changes recorded
/// and the notifications to queue.
#[derive(Debug, Default)]
pub struct AutomationOutcome {
    pub records: Vec<AutomationRecord>,
    pub notifications: Vec<Notification>,
}

/// Runs the enabled rules of `config`, in order, on each changed incident.
///
/// Incident changes apply to `book` at once, attributed to
/// `automation:<rule name>`, so later rules and the payloads see them. The
/// caller queues the rows they produce without running automation on them
/// again, so a rule's own change never triggers a rule.
pub fn run_automation(
    config: &AutomationConfig,
    book: &mut IncidentBook,
    changed: &[ChangedIncident],
    facts: &BTreeMap<i64, IncidentFacts>,
    now_ticks: i64,
) -> AutomationOutcome {
    let mut outcome = AutomationOutcome::default();
    let no_facts = IncidentFacts::default();
    for change in changed {
        let incident_facts = facts.get(&change.number).unwrap_or(&no_facts);
        for rule in config.rules.iter().filter(|rule| rule.enabled) {
            if !rule.triggers.contains(&change.trigger) {
                continue;
            }
            let Some(incident) = book.get(change.number) else {
                continue;
            };
            if !conditions_hold(&rule.conditions, incident, incident_facts) {
                continue;
            }
            info!(
                automation_rule = %rule.name,
                incident = change.number,
                trigger = change.trigger.as_str(),
                "automation rule matched"
            );
            run_actions(rule, book, *change, incident_facts, now_ticks, &mut outcome);
        }
    }
    outcome
}

fn run_actions(
    rule: &AutomationRule,
    book: &mut IncidentBook,
    change: ChangedIncident,
    facts: &IncidentFacts,
    now_ticks: i64,
    outcome: &mut AutomationOutcome,
) {
    let actor = format!("automation:{}", rule.name);
    for action in &rule.actions {
        let Some(incident) = book.get(change.number) else {
            return;
        };
        let incident_name = incident.name.clone();
        let record = |target: String, status: StepStatus, error: Option<String>| AutomationRecord {
            time_ticks: now_ticks,
            rule: rule.name.clone(),
            trigger: change.trigger,
            incident_number: change.number,
            incident_name: incident_name.clone(),
            action: action.kind(),
            target,
            notification_id: None,
            attempt: 1,
            status,
            http_status: None,
            error,
            duration_ms: 0.0,
        };

        let channel = match action {
            Action::Webhook(webhook) => Channel::Webhook(webhook.clone()),
            Action::Email(email) => Channel::Email(email.clone()),
            Action::SetStatus(status) => {
                let target = status.as_str().to_string();
                if incident.status == *status {
                    outcome
                        .records
                        .push(record(target, StepStatus::Skipped, None));
                    continue;
                }
                let result = book.set_status(change.number, *status, &actor, now_ticks);
                outcome.records.push(step_record(record, target, result));
                continue;
            }
            Action::SetOwner(owner) => {
                if incident.owner.as_deref() == Some(owner.as_str()) {
                    outcome
                        .records
                        .push(record(owner.clone(), StepStatus::Skipped, None));
                    continue;
                }
                let result = book.assign(change.number, owner, &actor, now_ticks);
                outcome
                    .records
                    .push(step_record(record, owner.clone(), result));
                continue;
            }
            Action::AddTag(tag) => {
                if incident.labels.iter().any(|label| label == tag) {
                    outcome
                        .records
                        .push(record(tag.clone(), StepStatus::Skipped, None));
                    continue;
                }
                let result = book.tag(change.number, tag, &actor, now_ticks);
                outcome
                    .records
                    .push(step_record(record, tag.clone(), result));
                continue;
            }
        };

        let payload = incident_payload(&rule.name, change.trigger, incident, facts, now_ticks);
        outcome.notifications.push(Notification {
            id: uuid::Uuid::new_v4().to_string(),
            rule: rule.name.clone(),
            trigger: change.trigger,
            incident_number: change.number,
            incident_name,
            channel,
            payload,
            attempts: 0,
            queued_ticks: now_ticks,
            next_attempt_ticks: now_ticks,
        });
    }
}

fn step_record<T>(
    record: impl Fn(String, StepStatus, Option<String>) -> AutomationRecord,
    target: String,
    result: Result<T, crate::error::DetectError>,
) -> AutomationRecord {
    match result {
        Ok(_) => record(target, StepStatus::Succeeded, None),
        Err(err) => {
            warn!(error = %err, "automation action failed");
            record(target, StepStatus::Failed, Some(err.to_string()))
        }
    }
}

/// Returns whether every condition that is set holds for the incident.
pub fn conditions_hold(
    conditions: &Conditions,
    incident: &Incident,
    facts: &IncidentFacts,
) -> bool {
    if conditions
        .min_severity
        .is_some_and(|minimum| incident.severity < minimum)
    {
        return false;
    }
    if !conditions.severities.is_empty() && !conditions.severities.contains(&incident.severity) {
        return false;
    }
    if !any_matches(&conditions.rule_ids, &incident.rule_ids) {
        return false;
    }
    if !any_matches(&conditions.rule_names, &facts.rule_names) {
        return false;
    }
    if !any_matches(&conditions.tactics, &incident.tactics) {
        return false;
    }
    let entity_values: Vec<String> = facts
        .entities
        .iter()
        .flat_map(|entity| entity.identifiers.iter().map(|(_, value)| value.clone()))
        .collect();
    any_matches(&conditions.entities, &entity_values)
}

/// Returns true when `wanted` is empty or one of its values equals one of
/// `values`, ignoring letter case.
fn any_matches(wanted: &[String], values: &[String]) -> bool {
    wanted.is_empty()
        || wanted
            .iter()
            .any(|want| values.iter().any(|value| value.eq_ignore_ascii_case(want)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::Entity;
    use crate::incident::IncidentStatus;
    use crate::rule::Severity;

    fn incident(number: i64, revision: i64) -> Incident {
        Incident {
            number,
            name: format!("name-{number}"),
            title: "Password guessing".into(),
            description: String::new(),
            severity: Severity::Medium,
            status: IncidentStatus::New,
            owner: None,
            classification: None,
            classification_comment: None,
            closed_ticks: None,
            created_ticks: 0,
            first_activity_ticks: 0,
            last_activity_ticks: 0,
            first_modified_ticks: 0,
            last_modified_ticks: 0,
            modified_by: String::new(),
            alert_ids: vec!["alert-1".into()],
            rule_ids: vec!["rule-1".into()],
            tactics: vec!["CredentialAccess".into()],
            comments: Vec::new(),
            labels: Vec::new(),
            grouping_key: None,
            revision,
        }
    }

    #[test]
    fn created_wins_within_one_commit() {
        let rows = [incident(2, 4), incident(1, 1), incident(1, 2)];
        assert_eq!(
            changed_incidents(&rows),
            [
                ChangedIncident {
                    number: 1,
                    trigger: Trigger::Created
                },
                ChangedIncident {
                    number: 2,
                    trigger: Trigger::Updated
                },
            ]
        );
    }

    #[test]
    fn conditions_need_every_set_condition() {
        let incident = incident(1, 1);
        let facts = IncidentFacts {
            rule_names: vec!["Brute force".into()],
            entities: vec![Entity {
                json_type: "ip",
                identifiers: vec![("Address".into(), "10.0.0.5".into())],
            }],
        };
        let holds = |conditions: Conditions| conditions_hold(&conditions, &incident, &facts);

        assert!(holds(Conditions::default()));
        assert!(holds(Conditions {
            min_severity: Some(Severity::Medium),
            tactics: vec!["credentialaccess".into()],
            entities: vec!["10.0.0.5".into()],
            rule_names: vec!["BRUTE FORCE".into()],
            rule_ids: vec!["rule-1".into(), "rule-9".into()],
            ..Conditions::default()
        }));
        assert!(!holds(Conditions {
            min_severity: Some(Severity::High),
            ..Conditions::default()
        }));
        assert!(!holds(Conditions {
            severities: vec![Severity::Low, Severity::High],
            ..Conditions::default()
        }));
        assert!(!holds(Conditions {
            entities: vec!["10.0.0.6".into()],
            ..Conditions::default()
        }));
        assert!(!holds(Conditions {
            tactics: vec!["CredentialAccess".into()],
            rule_ids: vec!["rule-2".into()],
            ..Conditions::default()
        }));
    }
}
