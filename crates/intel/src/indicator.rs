//! The normalized indicator that every source produces, and how it becomes
//! a `ThreatIntelligenceIndicator` row.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::builder::TableBatchBuilder;
use store::tables::{THREAT_INTEL_INDICATORS, THREAT_INTELLIGENCE_INDICATOR};

/// The `ThreatType` of an indicator whose source names none.
pub const DEFAULT_THREAT_TYPE: &str = "WatchList";

/// The `ConfidenceScore` of an indicator whose source gives none, as
/// misp2sentinel uses.
pub const DEFAULT_CONFIDENCE: f64 = 50.0;

/// The value of one observable column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ObservableValue {
    Int(i32),
    Text(String),
}

/// Observable columns of `ThreatIntelligenceIndicator` by column name,
/// for example `NetworkIP` or `FileHashValue`.
pub type Observables = BTreeMap<String, ObservableValue>;

/// One indicator as homesoc stores it: a version of a
/// `ThreatIntelligenceIndicator` row without the times that depend on when
/// it is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// The id in the source: the MISP attribute UUID, the STIX id, or for
    /// CSV and freetext feeds a hash of the feed name, type and value.
    pub external_id: String,
    /// The feed or server name (`SourceSystem`).
    pub source_system: String,
    pub threat_type: String,
    /// 0 to 100.
    pub confidence: f64,
    /// `White`, `Green`, `Amber` or `Red`.
    pub tlp: String,
    pub description: String,
    /// The organisation that made the indicator (`IndicatorProvider`).
    pub provider: String,
    pub tags: Vec<String>,
    pub observables: Observables,
    /// The expiry the source sets (STIX `valid_until`), in 100 ns ticks
    /// since the Unix epoch. When `None`, the expiry is the write time plus
    /// the validity of the observable's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ticks: Option<i64>,
    pub active: bool,
}

impl Indicator {
    /// Returns the `IndicatorId`: a stable id derived from the source and
    /// its external id, so that every version of an indicator shares it.
    pub fn indicator_id(&self) -> String {
        stable_id(&[&self.source_system, &self.external_id])
    }

    /// Returns the observable's kind, which selects its validity.
    pub fn kind(&self) -> ObservableKind {
        let has = |column: &str| self.observables.contains_key(column);
        if has("Url") {
            ObservableKind::Url
        } else if has("DomainName") {
            ObservableKind::Domain
        } else if [
            "NetworkIP",
            "NetworkSourceIP",
            "NetworkDestinationIP",
            "NetworkCidrBlock",
        ]
        .iter()
        .any(|column| has(column))
        {
            ObservableKind::Ip
        } else {
            ObservableKind::Other
        }
    }

    /// Returns the indicator with `Active` false, as written when its source
    /// deleted it or stopped flagging it for detection.
    pub fn deactivated(&self) -> Indicator {
        Indicator {
            active: false,
            ..self.clone()
        }
    }
}

/// Returns an id of the form `indicator--xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
/// made from the SHA-256 of the parts, each followed by a NUL byte.
pub fn stable_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "indicator--{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The kinds of observable that have their own validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservableKind {
    Ip,
    Domain,
    Url,
    Other,
}

/// How many days an indicator stays valid after it is written, by kind.
/// The defaults are misp2sentinel's `days_to_expire_mapping` and
/// `days_to_expire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    pub ip_days: u32,
    pub domain_days: u32,
    pub url_days: u32,
    pub other_days: u32,
}

impl Default for Validity {
    fn default() -> Validity {
        Validity {
            ip_days: 180,
            domain_days: 180,
            url_days: 365,
            other_days: 50,
        }
    }
}

impl Validity {
    pub fn days(&self, kind: ObservableKind) -> u32 {
        match kind {
            ObservableKind::Ip => self.ip_days,
            ObservableKind::Domain => self.domain_days,
            ObservableKind::Url => self.url_days,
            ObservableKind::Other => self.other_days,
        }
    }
}

/// 100 ns ticks in one day.
const TICKS_PER_DAY: i64 = 864_000_000_000;

/// Returns the current time in 100 ns ticks since the Unix epoch.
pub fn now_ticks() -> i64 {
    let now = chrono::Utc::now();
    now.timestamp() * 10_000_000 + i64::from(now.timestamp_subsec_nanos() / 100)
}

/// Builds `ThreatIntelligenceIndicator` batches from indicators.
pub struct IndicatorRows {
    builder: TableBatchBuilder,
    /// Rows of `ThreatIntelIndicators`, one per indicator as well.
    stix_builder: TableBatchBuilder,
    written_ticks: i64,
    validity: Validity,
}

impl IndicatorRows {
    /// Creates a builder whose rows have `TimeGenerated` = `written_ticks`.
    pub fn new(import_id: &str, written_ticks: i64, validity: Validity) -> IndicatorRows {
        IndicatorRows {
            builder: TableBatchBuilder::new(
                &THREAT_INTELLIGENCE_INDICATOR,
                import_id,
                written_ticks,
                1024,
            ),
            stix_builder: TableBatchBuilder::new(
                &THREAT_INTEL_INDICATORS,
                import_id,
                written_ticks,
                1024,
            ),
            written_ticks,
            validity,
        }
    }

    pub fn len(&self) -> usize {
        self.builder.len()
    }

    pub fn is_empty(&self) -> bool {
        self.builder.is_empty()
    }

    /// Appends one row to each indicator table. An inactive indicator
    /// expires at the write time.
    pub fn push(&mut self, indicator: &Indicator) {
        let table = &THREAT_INTELLIGENCE_INDICATOR;
        let index = |name: &str| {
            table
                .column_index(name)
                .unwrap_or_else(|| panic!("{name} is a column of {}", table.name))
        };
        let expires = if !indicator.active {
            self.written_ticks
        } else if let Some(ticks) = indicator.expires_ticks {
            ticks
        } else {
            let days = i64::from(self.validity.days(indicator.kind()));
            self.written_ticks + days * TICKS_PER_DAY
        };

        let builder = &mut self.builder;
        builder.set_time_generated(self.written_ticks);
        builder.set_string(index("IndicatorId"), &indicator.indicator_id());
        builder.set_string(index("ExternalIndicatorId"), &indicator.external_id);
        builder.set_string(index("SourceSystem"), &indicator.source_system);
        builder.set_string(index("ThreatType"), &indicator.threat_type);
        builder.set_bool(index("Active"), indicator.active);
        builder.set_real(index("ConfidenceScore"), indicator.confidence);
        builder.set_datetime_ticks(index("ExpirationDateTime"), expires);
        builder.set_string(index("TrafficLightProtocolLevel"), &indicator.tlp);
        builder.set_string(index("Description"), &indicator.description);
        builder.set_string(index("IndicatorProvider"), &indicator.provider);
        builder.set_string(index("Tags"), &indicator.tags.join(","));
        builder.set_string(index("Action"), "alert");
        builder.set_bool(index("PassiveOnly"), false);
        builder.set_string(index("Type"), table.name);
        for (column, value) in &indicator.observables {
            match value {
                ObservableValue::Text(text) => builder.set_string(index(column), text),
                ObservableValue::Int(number) => builder.set_int(index(column), *number),
            }
        }
        // `set_time_generated` was called above, so the row cannot fail.
        let _ = builder.finish_row();
        crate::stix_rows::push_stix_row(
            &mut self.stix_builder,
            indicator,
            self.written_ticks,
            expires,
        );
    }

    /// Returns the `ThreatIntelligenceIndicator` rows pushed since the last
    /// call.
    pub fn finish(&mut self) -> RecordBatch {
        self.builder.finish()
    }

    /// Returns the `ThreatIntelIndicators` rows pushed since the last call.
    pub fn finish_stix(&mut self) -> RecordBatch {
        self.stix_builder.finish()
    }
}
