//! Incident facts beyond the incident row that conditions and payloads
//! need: the rule names and entities of the incident's alerts.

use std::collections::BTreeMap;

use engine::Engine;
use store::Workspace;

use crate::alert::Alert;
use crate::entities::{Entity, merge_entities};
use crate::error::DetectError;
use crate::incident::Incident;
use crate::read::read_alert_entities;

/// The rule names and entities of one incident's alerts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFacts {
    pub rule_names: Vec<String>,
    pub entities: Vec<Entity>,
}

/// Gathers the facts of `incidents` from the alerts not yet committed
/// (`pending_alerts`) and, for older alerts, from `SecurityAlert`.
pub async fn gather_facts(
    engine: &Engine,
    workspace: &Workspace,
    pending_alerts: &[Alert],
    incidents: &[&Incident],
) -> Result<BTreeMap<i64, IncidentFacts>, DetectError> {
    let mut known: BTreeMap<String, (String, Vec<Entity>)> = pending_alerts
        .iter()
        .map(|alert| {
            (
                alert.system_alert_id.clone(),
                (alert.rule_name.clone(), alert.entities.clone()),
            )
        })
        .collect();
    let mut missing: Vec<String> = incidents
        .iter()
        .flat_map(|incident| incident.alert_ids.iter())
        .filter(|id| !known.contains_key(*id))
        .cloned()
        .collect();
    missing.sort_unstable();
    missing.dedup();
    known.extend(read_alert_entities(engine, workspace, &missing).await?);

    let mut facts = BTreeMap::new();
    for incident in incidents {
        let mut incident_facts = IncidentFacts::default();
        for alert_id in &incident.alert_ids {
            let Some((rule_name, entities)) = known.get(alert_id) else {
                continue;
            };
            if !incident_facts.rule_names.contains(rule_name) {
                incident_facts.rule_names.push(rule_name.clone());
            }
            merge_entities(&mut incident_facts.entities, entities.clone());
        }
        facts.insert(incident.number, incident_facts);
    }
    Ok(facts)
}
