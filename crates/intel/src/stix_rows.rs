//! `ThreatIntelIndicators` rows from indicators: the STIX-shaped
//! table, with one observable as a single-comparison pattern.

use serde_json::json;
use store::builder::TableBatchBuilder;
use store::tables::THREAT_INTEL_INDICATORS;

use crate::indicator::{Indicator, ObservableValue};

/// Returns the STIX object path and value of an indicator's main
/// observable, or `None` when no column has a STIX equivalent here.
pub fn observable_key(indicator: &Indicator) -> Option<(String, String)> {
    let text = |column: &str| match indicator.observables.get(column) {
        Some(ObservableValue::Text(value)) => Some(value.clone()),
        _ => None,
    };
    let ip_key = |value: &str| {
        if value.contains(':') {
            "ipv6-addr:value"
        } else {
            "ipv4-addr:value"
        }
    };
    for column in ["NetworkIP", "NetworkCidrBlock"] {
        if let Some(value) = text(column) {
            return Some((ip_key(&value).to_string(), value));
        }
    }
    if let Some(value) = text("Url") {
        return Some(("url:value".to_string(), value));
    }
    if let Some(value) = text("DomainName") {
        return Some(("domain-name:value".to_string(), value));
    }
    if let Some(value) = text("FileHashValue") {
        let algorithm = match text("FileHashType").as_deref() {
            Some("md5") => Some("MD5"),
            Some("sha1") => Some("SHA-1"),
            Some("sha256") => Some("SHA-256"),
            _ => None,
        };
        if let Some(algorithm) = algorithm {
            return Some((format!("file:hashes.'{algorithm}'"), value));
        }
    }
    let others = [
        ("FileName", "file:name"),
        ("EmailSenderAddress", "email-addr:value"),
        ("EmailSubject", "email-message:subject"),
    ];
    others
        .iter()
        .find_map(|(column, key)| text(column).map(|value| (key.to_string(), value)))
}

/// Returns `[key = 'value']` with `\` and `'` escaped.
fn pattern(key: &str, value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("[{key} = '{escaped}']")
}

fn rfc3339(ticks: i64) -> String {
    chrono::DateTime::from_timestamp(ticks.div_euclid(10_000_000), 0)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Appends one `ThreatIntelIndicators` row per indicator. `expires` is the
/// expiry that the `ThreatIntelligenceIndicator` row got.
pub fn push_stix_row(
    builder: &mut TableBatchBuilder,
    indicator: &Indicator,
    written_ticks: i64,
    expires: i64,
) {
    let table = &THREAT_INTEL_INDICATORS;
    let index = |name: &str| {
        table
            .column_index(name)
            .unwrap_or_else(|| panic!("{name} is a column of {}", table.name))
    };
    let id = if indicator.external_id.starts_with("indicator--") {
        indicator.external_id.clone()
    } else {
        indicator.indicator_id()
    };
    let observable = observable_key(indicator);
    let pattern_text = observable
        .as_ref()
        .map(|(key, value)| pattern(key, value))
        .unwrap_or_default();
    let data = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "pattern": pattern_text,
        "pattern_type": "stix",
        "valid_from": rfc3339(written_ticks),
        "valid_until": rfc3339(expires),
        "confidence": indicator.confidence.round() as i64,
        "indicator_types": [indicator.threat_type],
        "description": indicator.description,
        "labels": indicator.tags,
        "revoked": !indicator.active,
        "external_references": [{"source_name": indicator.source_system, "external_id": indicator.external_id}],
    });

    builder.set_time_generated(written_ticks);
    builder.set_string(index("Id"), &id);
    builder.set_string(index("Pattern"), &pattern_text);
    if let Some((key, value)) = &observable {
        builder.set_string(index("ObservableKey"), key);
        builder.set_string(index("ObservableValue"), value);
    }
    builder.set_int(index("Confidence"), indicator.confidence.round() as i32);
    builder.set_datetime_ticks(index("Created"), written_ticks);
    builder.set_datetime_ticks(index("Modified"), written_ticks);
    builder.set_datetime_ticks(index("ValidFrom"), written_ticks);
    builder.set_datetime_ticks(index("ValidUntil"), expires);
    builder.set_bool(index("IsActive"), indicator.active);
    builder.set_bool(index("Revoked"), !indicator.active);
    builder.set_bool(index("IsDeleted"), false);
    builder.set_string(index("Source"), &indicator.source_system);
    builder.set_string(index("SourceSystem"), "homesoc");
    builder.set_string(index("LastUpdateMethod"), "homesoc intel");
    builder.set_string(index("Tags"), &indicator.tags.join(","));
    builder.set_string(
        index("AdditionalFields"),
        &json!({"TLPLevel": indicator.tlp}).to_string(),
    );
    builder.set_string(index("Data"), &data.to_string());
    builder.set_string(index("Type"), table.name);
    // `set_time_generated` was called above, so the row cannot fail.
    let _ = builder.finish_row();
}
