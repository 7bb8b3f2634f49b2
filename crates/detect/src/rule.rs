//! The analytics rule model: what a Sentinel rule YAML file says, with the
//! loose forms of published files already normalized.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// 100 ns ticks in one minute.
pub const TICKS_PER_MINUTE: i64 = 600_000_000;

/// An analytics rule, loaded from one YAML file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule id (a GUID in published rules), unique in a rule set.
    pub id: String,
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub kind: RuleKind,
    /// The KQL query, unchanged.
    pub query: String,
    /// Time between two runs, in 100 ns ticks.
    pub query_frequency: i64,
    /// Length of the time window each run reads, in 100 ns ticks.
    pub query_period: i64,
    pub trigger: Trigger,
    pub tactics: Vec<String>,
    pub relevant_techniques: Vec<String>,
    pub entity_mappings: Vec<EntityMapping>,
    /// Custom detail keys and the result columns they take values from, in
    /// file order.
    pub custom_details: Vec<(String, String)>,
    pub alert_details_override: AlertDetailsOverride,
    pub event_grouping: EventGrouping,
    pub incident: IncidentConfiguration,
    /// How long the rule stops running after it raised an alert, in ticks;
    /// `None` when suppression is off.
    pub suppression: Option<i64>,
    /// The file the rule was loaded from.
    pub source: PathBuf,
    /// Keys homesoc does not use (`requiredDataConnectors`, `version`, ...),
    /// kept as JSON so that tools can show them.
    pub other_keys: BTreeMap<String, serde_json::Value>,
}

/// Alert severity, as Sentinel names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
}

impl Severity {
    /// Parses a severity name in any letter case.
    pub fn parse(text: &str) -> Option<Severity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Severity::Informational),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
        }
    }
}

/// How a rule is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Runs every `queryFrequency` over the last `queryPeriod`.
    Scheduled,
    /// Near-real-time: runs every minute over the last minute.
    Nrt,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Scheduled => "Scheduled",
            RuleKind::Nrt => "NRT",
        }
    }
}

/// The comparison of the result row count with the rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerOperator {
    GreaterThan,
    LessThan,
    Equal,
    NotEqual,
}

impl TriggerOperator {
    /// Parses the short (`gt`) and long (`GreaterThan`) forms in any case.
    pub fn parse(text: &str) -> Option<TriggerOperator> {
        match text.trim().to_ascii_lowercase().as_str() {
            "gt" | "greaterthan" | ">" => Some(TriggerOperator::GreaterThan),
            "lt" | "lessthan" | "<" => Some(TriggerOperator::LessThan),
            "eq" | "equal" | "equals" | "==" => Some(TriggerOperator::Equal),
            "ne" | "notequal" | "notequals" | "!=" => Some(TriggerOperator::NotEqual),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerOperator::GreaterThan => "GreaterThan",
            TriggerOperator::LessThan => "LessThan",
            TriggerOperator::Equal => "Equal",
            TriggerOperator::NotEqual => "NotEqual",
        }
    }
}

/// When a run raises alerts: the result row count compared with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    pub operator: TriggerOperator,
    pub threshold: u64,
}

impl Trigger {
    /// Returns true when a run with `rows` result rows raises alerts.
    pub fn fires(&self, rows: u64) -> bool {
        match self.operator {
            TriggerOperator::GreaterThan => rows > self.threshold,
            TriggerOperator::LessThan => rows < self.threshold,
            TriggerOperator::Equal => rows == self.threshold,
            TriggerOperator::NotEqual => rows != self.threshold,
        }
    }
}

/// One entity of an alert, filled from result columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityMapping {
    /// The entity type as the rule writes it (`Account`, `Host`, `IP`, ...).
    pub entity_type: String,
    /// Identifier names (`FullName`, `Address`, ...) and their columns.
    pub field_mappings: Vec<(String, String)>,
}

/// Templates and columns that replace the rule's alert details per alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertDetailsOverride {
    /// Alert display name with `{{Column}}` placeholders.
    pub display_name_format: Option<String>,
    /// Alert description with `{{Column}}` placeholders.
    pub description_format: Option<String>,
    /// Column whose value, when a valid severity, replaces the rule's.
    pub severity_column: Option<String>,
    /// Column whose value (a tactic or a comma-separated list) replaces the
    /// rule's tactics.
    pub tactics_column: Option<String>,
    /// SecurityAlert properties (`AlertLink`, `ProductName`, ...) and the
    /// columns their values come from.
    pub dynamic_properties: Vec<(String, String)>,
}

/// Whether a run raises one alert or one per result row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventGrouping {
    SingleAlert,
    AlertPerResult,
}

impl EventGrouping {
    pub fn as_str(self) -> &'static str {
        match self {
            EventGrouping::SingleAlert => "SingleAlert",
            EventGrouping::AlertPerResult => "AlertPerResult",
        }
    }
}

/// Whether and how alerts of the rule become incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentConfiguration {
    pub create_incident: bool,
    /// `None` when grouping is off: each alert gets its own incident.
    pub grouping: Option<IncidentGrouping>,
}

impl Default for IncidentConfiguration {
    /// Sentinel's default: an incident per alert, no grouping.
    fn default() -> Self {
        IncidentConfiguration {
            create_incident: true,
            grouping: None,
        }
    }
}

/// Grouping of a rule's alerts into an open incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentGrouping {
    /// Reopen a matching closed incident instead of creating a new one.
    pub reopen_closed_incident: bool,
    /// Alerts join an incident created at most this long before them, in ticks.
    pub lookback: i64,
    pub matching: MatchingMethod,
    /// Entity types compared when `matching` is `Selected` (lower case,
    /// as Entities JSON names them: `account`, `host`, `ip`, ...).
    pub group_by_entities: Vec<String>,
    /// Alert details compared when `matching` is `Selected`:
    /// `DisplayName`, `Severity`.
    pub group_by_alert_details: Vec<String>,
    /// Custom detail keys compared when `matching` is `Selected`.
    pub group_by_custom_details: Vec<String>,
}

/// Which alerts of one rule share an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchingMethod {
    /// Alerts whose entities are all the same.
    AllEntities,
    /// Every alert of the rule.
    AnyAlert,
    /// Alerts that agree on the selected entities, details and custom details.
    Selected,
}

impl MatchingMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchingMethod::AllEntities => "AllEntities",
            MatchingMethod::AnyAlert => "AnyAlert",
            MatchingMethod::Selected => "Selected",
        }
    }
}
