//! MISP sources: core-format events, the MISP feed format (a manifest plus
//! one file per event) and MISP's default feed list.

pub mod api;
pub mod defaults;
pub mod event;
pub mod feed;
pub mod hashes;

use crate::indicator::{DEFAULT_CONFIDENCE, DEFAULT_THREAT_TYPE, Indicator};
use crate::mapping::{self, Rejection};
use event::{MispAttribute, MispEvent};

/// The indicators of one event.
#[derive(Debug, Default)]
pub struct EventIndicators {
    /// One active indicator per to_ids attribute that maps to a column.
    pub active: Vec<Indicator>,
    /// UUIDs of attributes that are deleted or not flagged to_ids: if they
    /// were indicators before, they are no longer.
    pub withdrawn: Vec<String>,
    /// To_ids attributes that map to no column, with the reason.
    pub rejected: Vec<(MispAttribute, Rejection)>,
}

/// Maps an event's attributes to indicators named after `source_system`.
/// `confidence` overrides the confidence taken from tags when set.
pub fn event_indicators(
    event: &MispEvent,
    source_system: &str,
    confidence: Option<f64>,
) -> EventIndicators {
    let mut result = EventIndicators::default();
    let event_threat_type = threat_type(&event.tags);
    let tlp = tlp_level(&event.tags);
    for attribute in &event.attributes {
        if !attribute.to_ids || attribute.deleted {
            result.withdrawn.push(attribute.uuid.clone());
            continue;
        }
        let observables = match mapping::observables(&attribute.attribute_type, &attribute.value) {
            Ok(observables) => observables,
            Err(rejection) => {
                result.rejected.push((attribute.clone(), rejection));
                continue;
            }
        };
        let description = if attribute.comment.is_empty() {
            event.info.clone()
        } else {
            format!("{} - {}", attribute.comment, event.info)
        };
        let mut tags = attribute.tags.clone();
        tags.extend(event.tags.iter().cloned());
        result.active.push(Indicator {
            external_id: attribute.uuid.clone(),
            source_system: source_system.to_string(),
            threat_type: threat_type(&attribute.tags)
                .or_else(|| event_threat_type.clone())
                .unwrap_or_else(|| DEFAULT_THREAT_TYPE.to_string()),
            confidence: confidence
                .or_else(|| tag_confidence(&attribute.tags))
                .unwrap_or(DEFAULT_CONFIDENCE),
            tlp: tlp.clone(),
            description,
            provider: event.orgc_name.clone(),
            tags,
            observables,
            expires_ticks: None,
            active: true,
        });
    }
    result
}

/// Returns the value of the first `sentinel-threattype:` tag.
fn threat_type(tags: &[String]) -> Option<String> {
    tags.iter()
        .find_map(|tag| tag.strip_prefix("sentinel-threattype:"))
        .map(|value| value.trim_matches('"').to_string())
}

/// Returns the confidence of a `misp:confidence-level="…"` tag.
fn tag_confidence(tags: &[String]) -> Option<f64> {
    tags.iter().find_map(|tag| {
        let level = tag
            .strip_prefix("misp:confidence-level=")?
            .trim_matches('"');
        match level {
            "completely-confident" => Some(100.0),
            "usually-confident" => Some(75.0),
            // MISP's taxonomy spells it "evalued".
            "fairly-confident" | "confidence-cannot-be-evalued" => Some(50.0),
            "rarely-confident" => Some(25.0),
            "unconfident" => Some(0.0),
            _ => None,
        }
    })
}

/// Returns the TLP of the last `tlp:` tag, capitalised, with `clear` shown as
/// `White`, or `Red` when there is none (the Graph API's default).
pub fn tlp_level(tags: &[String]) -> String {
    let last = tags.iter().rev().find_map(|tag| {
        tag.to_ascii_lowercase()
            .strip_prefix("tlp:")
            .map(str::to_string)
    });
    match last.as_deref() {
        Some("clear" | "white") => "White".to_string(),
        Some("green") => "Green".to_string(),
        Some(level) if level.starts_with("amber") => "Amber".to_string(),
        _ => "Red".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn tlp_from_last_tag() {
        assert_eq!(tlp_level(&tags(&["tlp:green", "tlp:clear"])), "White");
        assert_eq!(tlp_level(&tags(&["tlp:amber+strict"])), "Amber");
        assert_eq!(tlp_level(&tags(&["osint"])), "Red");
    }

    #[test]
    fn confidence_and_threat_type_tags() {
        let t = tags(&[
            "misp:confidence-level=\"usually-confident\"",
            "sentinel-threattype:C2",
        ]);
        assert_eq!(tag_confidence(&t), Some(75.0));
        assert_eq!(threat_type(&t).as_deref(), Some("C2"));
        assert_eq!(tag_confidence(&tags(&["tlp:red"])), None);
    }
}
