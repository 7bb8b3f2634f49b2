//! STIX 2.1 bundles: `indicator` objects whose pattern is a single
//! comparison (`[ipv4-addr:value = '198.51.100.1']`) become indicators.
//!
//! Compound patterns (`AND`, `OR`, `MATCHES`, several observations) cannot
//! be split into one observable column, as in Sentinel's own import, so they
//! are counted and left out of `ThreatIntelligenceIndicator`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::error::IntelError;
use crate::indicator::{
    DEFAULT_CONFIDENCE, DEFAULT_THREAT_TYPE, Indicator, ObservableValue, Observables,
};

/// A single `[object-path = 'value']` comparison, with the quotes of the
/// value escaped as `\'`.
static SIMPLE_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[\s*([A-Za-z0-9_\-]+:[^\s=]+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*\]$")
        .expect("valid regex")
});

/// The indicators of a bundle.
#[derive(Debug, Default)]
pub struct BundleIndicators {
    pub indicators: Vec<Indicator>,
    /// Indicator objects whose pattern is not a single comparison.
    pub compound: u64,
    /// Single comparisons on an object path that has no column, such as
    /// `x509-certificate:issuer`.
    pub unmapped: u64,
    /// Indicators whose `pattern_type` is not `stix` (Sigma, Snort, YARA, …).
    pub other_pattern_types: u64,
}

/// Splits a simple pattern into its object path and value, or returns
/// `None` for a compound pattern.
pub fn simple_pattern(pattern: &str) -> Option<(String, String)> {
    let captures = SIMPLE_PATTERN.captures(pattern.trim())?;
    let value = captures[2].replace("\\'", "'").replace("\\\\", "\\");
    Some((captures[1].to_string(), value))
}

/// Returns the columns of an object path and value, after Microsoft's
/// mapping from STIX patterns to the legacy table's columns.
fn observables(key: &str, value: &str) -> Option<Observables> {
    let mut columns = Observables::new();
    let mut set = |column: &str, text: &str| {
        columns.insert(column.to_string(), ObservableValue::Text(text.to_string()));
    };
    match key {
        "ipv4-addr:value" | "ipv6-addr:value" => {
            if value.contains('/') {
                set("NetworkCidrBlock", value);
            } else {
                set("NetworkIP", value);
            }
        }
        "network-traffic:src_ref.value" => {
            set("NetworkSourceIP", value);
            set("NetworkIP", value);
        }
        "network-traffic:dst_ref.value" => {
            set("NetworkDestinationIP", value);
            set("NetworkIP", value);
        }
        "domain-name:value" => set("DomainName", value),
        "url:value" => set("Url", value),
        "file:name" => set("FileName", value),
        "email-addr:value" | "email-message:from_ref.value" | "email-message:sender_ref.value" => {
            set("EmailSenderAddress", value);
            if let Some((_, domain)) = value.rsplit_once('@') {
                set("EmailSourceDomain", domain);
            }
        }
        "email-message:subject" => set("EmailSubject", value),
        _ => {
            let algorithm = key.strip_prefix("file:hashes.")?.trim_matches('\'');
            let hash_type = match algorithm.to_ascii_lowercase().replace('-', "").as_str() {
                "md5" => "md5",
                "sha1" => "sha1",
                "sha256" => "sha256",
                _ => "unknown",
            };
            set("FileHashValue", value);
            set("FileHashType", hash_type);
        }
    }
    Some(columns)
}

/// TLP of the STIX 2.1 TLP marking definitions, by id.
fn tlp_of_marking(id: &str) -> Option<&'static str> {
    match id {
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Some("White"),
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Some("Green"),
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Some("Amber"),
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Some("Red"),
        _ => None,
    }
}

/// Reads the indicators of a bundle. `source_system` names their source.
pub fn bundle_indicators(
    bytes: &[u8],
    location: &str,
    source_system: &str,
) -> Result<BundleIndicators, IntelError> {
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "STIX bundle",
        location: location.to_string(),
        reason,
    };
    let json: Value = serde_json::from_slice(bytes).map_err(|err| invalid(err.to_string()))?;
    if json.get("type").and_then(Value::as_str) != Some("bundle") {
        return Err(invalid(
            "the top-level object is not of type \"bundle\"".into(),
        ));
    }
    let objects = json
        .get("objects")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    object_indicators(objects, location, source_system)
}

/// Reads the indicators among STIX objects, such as the `objects` of a
/// bundle or of a TAXII envelope. Objects of other types are skipped.
pub fn object_indicators(
    objects: &[Value],
    location: &str,
    source_system: &str,
) -> Result<BundleIndicators, IntelError> {
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "STIX object",
        location: location.to_string(),
        reason,
    };
    let mut result = BundleIndicators::default();
    for object in objects {
        if object.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
        let id = text("id");
        if id.is_empty() {
            return Err(invalid("an indicator has no id".into()));
        }
        let pattern_type = object
            .get("pattern_type")
            .and_then(Value::as_str)
            .unwrap_or("stix");
        if pattern_type != "stix" {
            result.other_pattern_types += 1;
            continue;
        }
        let Some((key, value)) = simple_pattern(text("pattern")) else {
            result.compound += 1;
            continue;
        };
        let Some(observables) = observables(&key, &value) else {
            result.unmapped += 1;
            continue;
        };
        let strings = |key: &str| -> Vec<String> {
            object
                .get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let tlp = strings("object_marking_refs")
            .iter()
            .find_map(|id| tlp_of_marking(id))
            .unwrap_or("White");
        let expires_ticks = object
            .get("valid_until")
            .and_then(Value::as_str)
            .and_then(|time| chrono::DateTime::parse_from_rfc3339(time).ok())
            .map(|time| {
                time.timestamp() * 10_000_000 + i64::from(time.timestamp_subsec_nanos() / 100)
            });
        let description = [text("description"), text("name")]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or_default();

        result.indicators.push(Indicator {
            external_id: id.to_string(),
            source_system: source_system.to_string(),
            threat_type: strings("indicator_types")
                .into_iter()
                .next()
                .unwrap_or_else(|| DEFAULT_THREAT_TYPE.to_string()),
            confidence: object
                .get("confidence")
                .and_then(Value::as_f64)
                .unwrap_or(DEFAULT_CONFIDENCE),
            tlp: tlp.to_string(),
            description: description.to_string(),
            provider: text("created_by_ref").to_string(),
            tags: strings("labels"),
            observables,
            expires_ticks,
            active: !object
                .get("revoked")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_and_compound_patterns() {
        assert_eq!(
            simple_pattern("[ ipv4-addr:value = '198.51.100.1' ]"),
            Some(("ipv4-addr:value".into(), "198.51.100.1".into()))
        );
        assert_eq!(
            simple_pattern("[file:hashes.'SHA-256' = 'ab']"),
            Some(("file:hashes.'SHA-256'".into(), "ab".into()))
        );
        assert_eq!(simple_pattern("[a:b = 'x' OR a:b = 'y']"), None);
        assert_eq!(simple_pattern("[email-message:body MATCHES 'x']"), None);
    }

    #[test]
    fn stix_tlp_markings_default_to_white() {
        assert_eq!(
            tlp_of_marking("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"),
            Some("Green")
        );
        assert_eq!(tlp_of_marking("marking-definition--other"), None);
    }
}
