//! Incidents: alerts grouped per the rule's `incidentConfiguration`, and the
//! analyst's workflow on them.
//!
//! `SecurityIncident` keeps history: every change appends a full row, and
//! the row with the highest revision of an incident number is its current
//! state. The revision and the grouping key live in `AdditionalData`
//! (`homesocRevision`, `homesocGroupingKey`) because the reference columns
//! have no place for them.

use std::collections::BTreeMap;

use engine::time::format_datetime_iso;
use serde_json::{Value, json};

use crate::alert::Alert;
use crate::entities::{Entity, entities_json};
use crate::error::DetectError;
use crate::rule::{IncidentGrouping, MatchingMethod, Rule, Severity};

/// An incident's workflow status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentStatus {
    New,
    Active,
    Closed,
}

impl IncidentStatus {
    /// Parses a status name in any letter case.
    pub fn parse(text: &str) -> Option<IncidentStatus> {
        match text.trim().to_ascii_lowercase().as_str() {
            "new" => Some(IncidentStatus::New),
            "active" => Some(IncidentStatus::Active),
            "closed" => Some(IncidentStatus::Closed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::New => "New",
            IncidentStatus::Active => "Active",
            IncidentStatus::Closed => "Closed",
        }
    }
}

/// The classifications an analyst may give when closing an incident.
pub const CLASSIFICATIONS: &[&str] = &[
    "TruePositive",
    "BenignPositive",
    "FalsePositive",
    "Undetermined",
];

/// A comment on an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub message: String,
    pub author: String,
    pub created_ticks: i64,
}

/// The current state of one incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub number: i64,
    /// A GUID, the incident's resource name.
    pub name: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub owner: Option<String>,
    pub classification: Option<String>,
    pub classification_comment: Option<String>,
    pub closed_ticks: Option<i64>,
    pub created_ticks: i64,
    pub first_activity_ticks: i64,
    pub last_activity_ticks: i64,
    pub first_modified_ticks: i64,
    pub last_modified_ticks: i64,
    pub modified_by: String,
    pub alert_ids: Vec<String>,
    pub rule_ids: Vec<String>,
    pub tactics: Vec<String>,
    pub comments: Vec<Comment>,
    pub labels: Vec<String>,
    /// The matching key alerts must share to join this incident; `None`
    /// when the rule did not group alerts.
    pub grouping_key: Option<String>,
    /// Counts the rows written for this incident; the highest is current.
    pub revision: i64,
}

/// The incidents of a workspace, changed in memory and then written back.
#[derive(Debug, Default)]
pub struct IncidentBook {
    incidents: BTreeMap<i64, Incident>,
    /// Numbers of the incidents changed since the last [`take_changes`].
    ///
    /// [`take_changes`]: IncidentBook::take_changes
    changed: Vec<i64>,
}

/// The effect of one alert on the incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOutcome {
    /// The rule creates no incidents.
    NoIncident,
    Created(i64),
    Grouped(i64),
    Reopened(i64),
}

impl IncidentBook {
    /// Builds a book from incidents read from the workspace.
    pub fn from_incidents(incidents: Vec<Incident>) -> IncidentBook {
        IncidentBook {
            incidents: incidents
                .into_iter()
                .map(|incident| (incident.number, incident))
                .collect(),
            changed: Vec::new(),
        }
    }

    pub fn get(&self, number: i64) -> Option<&Incident> {
        self.incidents.get(&number)
    }

    /// Returns every incident, by number.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.values()
    }

    /// Takes the incidents changed since the last call, each once, with
    /// its revision raised: each becomes one new `SecurityIncident` row.
    pub fn take_changes(&mut self) -> Vec<Incident> {
        let mut numbers = std::mem::take(&mut self.changed);
        numbers.sort_unstable();
        numbers.dedup();
        numbers
            .into_iter()
            .filter_map(|number| {
                let incident = self.incidents.get_mut(&number)?;
                incident.revision += 1;
                Some(incident.clone())
            })
            .collect()
    }

    fn mark_changed(&mut self, number: i64) {
        self.changed.push(number);
    }

    /// Creates an incident for `alert` or adds it to a matching one, per
    /// the rule's incident configuration. `alert.time_generated` is the
    /// time of the change.
    pub fn add_alert(&mut self, rule: &Rule, alert: &Alert) -> AlertOutcome {
        if !rule.incident.create_incident {
            return AlertOutcome::NoIncident;
        }
        let Some(grouping) = &rule.incident.grouping else {
            let number = self.create(rule, alert, None);
            return AlertOutcome::Created(number);
        };

        let key = grouping_key(grouping, alert);
        let earliest_created = alert.time_generated - grouping.lookback;
        let candidate = self
            .incidents
            .values()
            .filter(|incident| {
                incident.rule_ids.contains(&rule.id)
                    && incident.grouping_key.as_deref() == Some(key.as_str())
                    && incident.created_ticks >= earliest_created
                    && incident.created_ticks <= alert.time_generated
            })
            .max_by_key(|incident| (incident.created_ticks, incident.number))
            .map(|incident| (incident.number, incident.status));

        match candidate {
            Some((number, IncidentStatus::New | IncidentStatus::Active)) => {
                self.attach(number, alert);
                AlertOutcome::Grouped(number)
            }
            Some((number, IncidentStatus::Closed)) if grouping.reopen_closed_incident => {
                if let Some(incident) = self.incidents.get_mut(&number) {
                    incident.status = IncidentStatus::Active;
                    incident.classification = None;
                    incident.classification_comment = None;
                    incident.closed_ticks = None;
                }
                self.attach(number, alert);
                AlertOutcome::Reopened(number)
            }
            _ => AlertOutcome::Created(self.create(rule, alert, Some(key))),
        }
    }

    fn next_number(&self) -> i64 {
        self.incidents.keys().next_back().copied().unwrap_or(0) + 1
    }

    fn create(&mut self, rule: &Rule, alert: &Alert, grouping_key: Option<String>) -> i64 {
        let number = self.next_number();
        let incident = Incident {
            number,
            name: uuid::Uuid::new_v4().to_string(),
            title: alert.display_name.clone(),
            description: alert.description.clone(),
            severity: alert.severity,
            status: IncidentStatus::New,
            owner: None,
            classification: None,
            classification_comment: None,
            closed_ticks: None,
            created_ticks: alert.time_generated,
            first_activity_ticks: alert.start_time,
            last_activity_ticks: alert.end_time,
            first_modified_ticks: alert.time_generated,
            last_modified_ticks: alert.time_generated,
            modified_by: rule_actor(rule),
            alert_ids: vec![alert.system_alert_id.clone()],
            rule_ids: vec![rule.id.clone()],
            tactics: alert.tactics.clone(),
            comments: Vec::new(),
            labels: Vec::new(),
            grouping_key,
            revision: 0,
        };
        self.incidents.insert(number, incident);
        self.mark_changed(number);
        number
    }

    fn attach(&mut self, number: i64, alert: &Alert) {
        let Some(incident) = self.incidents.get_mut(&number) else {
            return;
        };
        incident.alert_ids.push(alert.system_alert_id.clone());
        incident.severity = incident.severity.max(alert.severity);
        incident.first_activity_ticks = incident.first_activity_ticks.min(alert.start_time);
        incident.last_activity_ticks = incident.last_activity_ticks.max(alert.end_time);
        for tactic in &alert.tactics {
            if !incident.tactics.contains(tactic) {
                incident.tactics.push(tactic.clone());
            }
        }
        incident.last_modified_ticks = alert.time_generated;
        incident.modified_by = format!("Analytics rule {}", alert.rule_name);
        self.mark_changed(number);
    }

    fn change(
        &mut self,
        number: i64,
        user: &str,
        now_ticks: i64,
        apply: impl FnOnce(&mut Incident) -> Result<(), String>,
    ) -> Result<&Incident, DetectError> {
        let incident = self
            .incidents
            .get_mut(&number)
            .ok_or(DetectError::IncidentNotFound { number })?;
        apply(incident).map_err(|reason| DetectError::InvalidChange { number, reason })?;
        incident.last_modified_ticks = now_ticks;
        incident.modified_by = user.to_string();
        self.mark_changed(number);
        Ok(&self.incidents[&number])
    }

    /// Assigns the incident to `owner`.
    pub fn assign(
        &mut self,
        number: i64,
        owner: &str,
        user: &str,
        now_ticks: i64,
    ) -> Result<&Incident, DetectError> {
        self.change(number, user, now_ticks, |incident| {
            incident.owner = Some(owner.to_string());
            Ok(())
        })
    }

    /// Adds a comment by `user`.
    pub fn comment(
        &mut self,
        number: i64,
        message: &str,
        user: &str,
        now_ticks: i64,
    ) -> Result<&Incident, DetectError> {
        self.change(number, user, now_ticks, |incident| {
            incident.comments.push(Comment {
                message: message.to_string(),
                author: user.to_string(),
                created_ticks: now_ticks,
            });
            Ok(())
        })
    }

    /// Sets the status to New or Active; closing goes through [`close`].
    ///
    /// [`close`]: IncidentBook::close
    pub fn set_status(
        &mut self,
        number: i64,
        status: IncidentStatus,
        user: &str,
        now_ticks: i64,
    ) -> Result<&Incident, DetectError> {
        self.change(number, user, now_ticks, |incident| {
            if status == IncidentStatus::Closed {
                return Err("close an incident with `homesoc incidents close`, which needs a classification and a comment".into());
            }
            incident.status = status;
            incident.classification = None;
            incident.classification_comment = None;
            incident.closed_ticks = None;
            Ok(())
        })
    }

    /// Changes the severity.
    pub fn set_severity(
        &mut self,
        number: i64,
        severity: Severity,
        user: &str,
        now_ticks: i64,
    ) -> Result<&Incident, DetectError> {
        self.change(number, user, now_ticks, |incident| {
            incident.severity = severity;
            Ok(())
        })
    }

    /// Adds a tag (a Sentinel label) unless the incident has it.
    pub fn tag(
        &mut self,
        number: i64,
        tag: &str,
        user: &str,
        now_ticks: i64,
    ) -> Result<&Incident, DetectError> {
        self.change(number, user, now_ticks, |incident| {
            if !incident.labels.iter().any(|label| label == tag) {
                incident.labels.push(tag.to_string());
            }
            Ok(())
        })
    }

    /// Closes the incident with a classification from [`CLASSIFICATIONS`]
    /// (any letter case) and a comment.
    pub fn close(
        &mut self,
        number: i64,
        classification: &str,
        comment: &str,
        user: &str,
        now_ticks: i64,
    ) -> Result<&Incident, DetectError> {
        let classification = CLASSIFICATIONS
            .iter()
            .find(|name| name.eq_ignore_ascii_case(classification.trim()))
            .ok_or_else(|| DetectError::InvalidChange {
                number,
                reason: format!(
                    "invalid classification `{classification}`: use one of {}",
                    CLASSIFICATIONS.join(", ")
                ),
            })?;
        self.change(number, user, now_ticks, |incident| {
            if incident.status == IncidentStatus::Closed {
                return Err("the incident is already closed".into());
            }
            if comment.trim().is_empty() {
                return Err("closing needs a comment that says why".into());
            }
            incident.status = IncidentStatus::Closed;
            incident.classification = Some(classification.to_string());
            incident.classification_comment = Some(comment.to_string());
            incident.closed_ticks = Some(now_ticks);
            Ok(())
        })
    }
}

fn rule_actor(rule: &Rule) -> String {
    format!("Analytics rule {}", rule.name)
}

/// Returns the text alerts must share to join one incident under `grouping`.
pub fn grouping_key(grouping: &IncidentGrouping, alert: &Alert) -> String {
    match grouping.matching {
        MatchingMethod::AnyAlert => "any".to_string(),
        MatchingMethod::AllEntities => entity_key(alert.entities.iter()),
        MatchingMethod::Selected => {
            let selected = alert.entities.iter().filter(|entity| {
                grouping
                    .group_by_entities
                    .iter()
                    .any(|ty| ty == entity.json_type)
            });
            let mut parts = vec![entity_key(selected)];
            for detail in &grouping.group_by_alert_details {
                let value = match detail.to_ascii_lowercase().as_str() {
                    "displayname" => alert.display_name.clone(),
                    "severity" => alert.severity.as_str().to_string(),
                    _ => String::new(),
                };
                parts.push(format!("{detail}={value}"));
            }
            for key in &grouping.group_by_custom_details {
                let values = alert
                    .custom_details
                    .iter()
                    .find(|(name, _)| name == key)
                    .map(|(_, values)| values.clone())
                    .unwrap_or_default();
                parts.push(format!("{key}={}", json!(values)));
            }
            parts.join("|")
        }
    }
}

/// Returns an order-independent text of a set of entities.
fn entity_key<'a>(entities: impl Iterator<Item = &'a Entity>) -> String {
    let mut texts: Vec<String> = entities
        .map(|entity| entities_json(std::slice::from_ref(entity)))
        .collect();
    texts.sort();
    texts.dedup();
    texts.join(",")
}

/// Builds the `AdditionalData` JSON of an incident.
pub fn additional_data(incident: &Incident) -> Value {
    json!({
        "alertsCount": incident.alert_ids.len(),
        "bookmarksCount": 0,
        "commentsCount": incident.comments.len(),
        "alertProductNames": [crate::write::ALERT_PRODUCT_NAME],
        "tactics": incident.tactics,
        "homesocGroupingKey": incident.grouping_key,
        "homesocRevision": incident.revision,
    })
}

/// Returns the incident as the JSON object that `homesoc incidents
/// --json` prints and the server's incident endpoints return.
pub fn incident_json(incident: &Incident) -> Value {
    let optional_time = |ticks: Option<i64>| ticks.map(format_datetime_iso);
    json!({
        "number": incident.number,
        "name": incident.name,
        "title": incident.title,
        "description": incident.description,
        "severity": incident.severity.as_str(),
        "status": incident.status.as_str(),
        "owner": incident.owner,
        "classification": incident.classification,
        "classificationComment": incident.classification_comment,
        "createdTime": format_datetime_iso(incident.created_ticks),
        "closedTime": optional_time(incident.closed_ticks),
        "firstActivityTime": format_datetime_iso(incident.first_activity_ticks),
        "lastActivityTime": format_datetime_iso(incident.last_activity_ticks),
        "lastModifiedTime": format_datetime_iso(incident.last_modified_ticks),
        "modifiedBy": incident.modified_by,
        "alertIds": incident.alert_ids,
        "ruleIds": incident.rule_ids,
        "tactics": incident.tactics,
        "labels": incident.labels,
        "comments": incident.comments.iter().map(|comment| json!({
            "message": comment.message,
            "author": comment.author,
            "createdTime": format_datetime_iso(comment.created_ticks),
        })).collect::<Vec<_>>(),
    })
}
