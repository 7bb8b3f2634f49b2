//! Sigma correlation rules: `event_count`, `value_count`, `temporal` and
//! `temporal_ordered` over the matches of other Sigma rules.
//!
//! A correlation rule names its base rules (by `name` or `id`) under
//! `rules:` and becomes one KQL query. Each base rule's query keeps its
//! matching events and projects the time, the base rule's id and the
//! `group-by` fields. The union of these is cut into tumbling windows of
//! `timespan` with `bin_at(TimeGenerated, timespan, now())`, so that the
//! last window ends at the run's instant. Then:
//!
//! - `event_count` counts the events per window and group,
//! - `value_count` counts the distinct non-empty values of `field`,
//! - `temporal` keeps the windows and groups where every base rule matched,
//! - `temporal_ordered` keeps those where the base rules matched in the
//!   order of `rules:`, each strictly after the one before.
//!
//! A correlation rule runs every `timespan` over the last `timespan`, so a
//! scheduled run reads exactly one window. `hunt` runs it once over all
//! the data with `now()` just after the newest event.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::compile::{kql_column, kql_string};
use super::mapping::{FieldSource, SourceMapping, map_field};
use super::model::SigmaProblem;

/// The key of a Sigma document that makes it a correlation rule.
pub const CORRELATION_KEY: &str = "correlation";

/// Ticks (100 ns) in one second.
const TICKS_PER_SECOND: i64 = 10_000_000;

/// Returns whether a YAML document is a Sigma correlation rule.
pub fn is_correlation(map: &Map<String, Value>) -> bool {
    map.contains_key(CORRELATION_KEY)
}

/// The four correlation types of the Sigma specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

impl CorrelationType {
    /// Returns the name the specification gives the type.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// One comparison of a correlation's `condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Gte => ">=",
            Comparison::Lt => "<",
            Comparison::Lte => "<=",
            Comparison::Eq => "==",
        }
    }
}

/// A correlation rule as its YAML document writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationRule {
    pub id: String,
    pub title: String,
    /// The rule's `name`, by which other correlations could name it.
    pub name: Option<String>,
    pub description: String,
    pub status: Option<String>,
    pub level: String,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub kind: CorrelationType,
    /// The base rules, by `name` or `id`, in the order of the file.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    /// The window length in ticks, and as a KQL timespan literal.
    pub timespan_ticks: i64,
    pub timespan: String,
    /// The comparisons of `condition`; all must hold. Empty for the
    /// temporal types.
    pub condition: Vec<(Comparison, u64)>,
    /// The field whose distinct values `value_count` counts.
    pub field: Option<String>,
    /// Whether the base rules also raise alerts of their own.
    pub generate: bool,
    /// `aliases`: a group-by name and, per base rule, the field it reads.
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(text) => Some(text.trim().to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn text_list(value: Option<&Value>, key: &str) -> Result<Vec<String>, SigmaProblem> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text.trim().to_string()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.trim().to_string()),
                other => Err(SigmaProblem::Invalid(format!(
                    "`{key}` must be a list of texts, not {other}"
                ))),
            })
            .collect(),
        Some(other) => Err(SigmaProblem::Invalid(format!(
            "`{key}` must be a list of texts, not {other}"
        ))),
    }
}

/// Parses a Sigma timespan (`30s`, `5m`, `1h`, `7d`, `2w`) into ticks and
/// the KQL literal of the same length.
pub fn parse_timespan(text: &str) -> Result<(i64, String), SigmaProblem> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: i64 = digits.parse().map_err(|_| {
        SigmaProblem::Invalid(format!(
            "`timespan` `{text}` is not a number and a unit; use for example 30s, 5m, 1h or 7d"
        ))
    })?;
    let (seconds, kql) = match unit {
        "s" => (number, format!("{number}s")),
        "m" => (number * 60, format!("{number}m")),
        "h" => (number * 3600, format!("{number}h")),
        "d" => (number * 86_400, format!("{number}d")),
        "w" => (number * 7 * 86_400, format!("{}d", number * 7)),
        "M" | "y" => {
            return Err(SigmaProblem::Unsupported(format!(
                "correlation `timespan` in calendar units (`{text}`); give it in s, m, h, d or w"
            )));
        }
        _ => {
            return Err(SigmaProblem::Invalid(format!(
                "`timespan` `{text}` has an unknown unit; use s, m, h, d or w"
            )));
        }
    };
    if seconds <= 0 {
        return Err(SigmaProblem::Invalid(format!(
            "`timespan` `{text}` must be longer than zero"
        )));
    }
    Ok((seconds * TICKS_PER_SECOND, kql))
}

/// Reads a Sigma correlation rule from its YAML document.
pub fn parse_correlation(map: &Map<String, Value>) -> Result<CorrelationRule, SigmaProblem> {
    let invalid = |text: &str| SigmaProblem::Invalid(text.to_string());
    let title = text(map, "title").ok_or_else(|| invalid("missing required key `title`"))?;
    let id = text(map, "id").ok_or_else(|| invalid("missing required key `id`"))?;
    let level = text(map, "level")
        .unwrap_or_else(|| "medium".to_string())
        .to_ascii_lowercase();
    if !["informational", "low", "medium", "high", "critical"].contains(&level.as_str()) {
        return Err(SigmaProblem::Invalid(format!(
            "invalid level `{level}`; use informational, low, medium, high or critical"
        )));
    }
    let Some(Value::Object(correlation)) = map.get(CORRELATION_KEY) else {
        return Err(invalid(
            "`correlation` must be a mapping with type, rules and timespan",
        ));
    };
    for key in correlation.keys() {
        if ![
            "type",
            "rules",
            "group-by",
            "timespan",
            "condition",
            "generate",
            "aliases",
        ]
        .contains(&key.as_str())
        {
            return Err(SigmaProblem::Unsupported(format!(
                "correlation key `{key}`"
            )));
        }
    }
    let kind_text = text(correlation, "type")
        .ok_or_else(|| invalid("`correlation` has no `type`; use event_count, value_count, temporal or temporal_ordered"))?;
    let kind = match kind_text.as_str() {
        "event_count" => CorrelationType::EventCount,
        "value_count" => CorrelationType::ValueCount,
        "temporal" => CorrelationType::Temporal,
        "temporal_ordered" => CorrelationType::TemporalOrdered,
        other => {
            return Err(SigmaProblem::Unsupported(format!(
                "correlation type `{other}` (homesoc knows event_count, value_count, temporal and temporal_ordered)"
            )));
        }
    };
    let rules = text_list(correlation.get("rules"), "rules")?;
    if rules.is_empty() {
        return Err(invalid(
            "`correlation` has no `rules`; name the base rules by name or id",
        ));
    }
    let group_by = text_list(correlation.get("group-by"), "group-by")?;
    let timespan_text = text(correlation, "timespan")
        .ok_or_else(|| invalid("`correlation` has no `timespan`; give one such as 5m or 1h"))?;
    let (timespan_ticks, timespan) = parse_timespan(&timespan_text)?;

    let mut condition = Vec::new();
    let mut field = None;
    match correlation.get("condition") {
        None | Some(Value::Null) => {}
        Some(Value::Object(items)) => {
            for (key, value) in items {
                let comparison = match key.as_str() {
                    "gt" => Comparison::Gt,
                    "gte" => Comparison::Gte,
                    "lt" => Comparison::Lt,
                    "lte" => Comparison::Lte,
                    "eq" => Comparison::Eq,
                    "field" => {
                        field = Some(
                            value
                                .as_str()
                                .ok_or_else(|| {
                                    invalid("the condition's `field` must be a field name")
                                })?
                                .to_string(),
                        );
                        continue;
                    }
                    other => {
                        return Err(SigmaProblem::Unsupported(format!(
                            "correlation condition `{other}` (homesoc knows gt, gte, lt, lte, eq and field)"
                        )));
                    }
                };
                let number = value
                    .as_u64()
                    .or_else(|| value.as_str()?.trim().parse().ok())
                    .ok_or_else(|| {
                        SigmaProblem::Invalid(format!(
                            "the condition's `{key}` must be a whole number, 0 or more, not {value}"
                        ))
                    })?;
                condition.push((comparison, number));
            }
        }
        Some(other) => {
            return Err(SigmaProblem::Invalid(format!(
                "the correlation's `condition` must be a mapping such as `gte: 10`, not {other}"
            )));
        }
    }
    match kind {
        CorrelationType::EventCount | CorrelationType::ValueCount if condition.is_empty() => {
            return Err(SigmaProblem::Invalid(format!(
                "a {} correlation needs a `condition` with gt, gte, lt, lte or eq",
                kind.as_str()
            )));
        }
        CorrelationType::ValueCount if field.is_none() => {
            return Err(invalid(
                "a value_count correlation needs the field to count in `condition: field:`",
            ));
        }
        CorrelationType::Temporal | CorrelationType::TemporalOrdered if !condition.is_empty() => {
            return Err(SigmaProblem::Unsupported(format!(
                "a `condition` on a {} correlation",
                kind.as_str()
            )));
        }
        _ => {}
    }
    if kind != CorrelationType::ValueCount && field.is_some() {
        return Err(SigmaProblem::Invalid(format!(
            "the condition's `field` belongs to value_count, not to {}",
            kind.as_str()
        )));
    }

    let generate = match correlation.get("generate").or_else(|| map.get("generate")) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => {
            return Err(SigmaProblem::Invalid(format!(
                "`generate` must be true or false, not {other}"
            )));
        }
    };

    let mut aliases = BTreeMap::new();
    match correlation.get("aliases") {
        None | Some(Value::Null) => {}
        Some(Value::Object(items)) => {
            for (alias, fields) in items {
                let Value::Object(fields) = fields else {
                    return Err(SigmaProblem::Invalid(format!(
                        "alias `{alias}` must map each base rule to its field"
                    )));
                };
                let mut by_rule = BTreeMap::new();
                for (rule, field) in fields {
                    let field = field.as_str().ok_or_else(|| {
                        SigmaProblem::Invalid(format!(
                            "alias `{alias}`: the field of rule `{rule}` must be a field name"
                        ))
                    })?;
                    by_rule.insert(rule.clone(), field.to_string());
                }
                aliases.insert(alias.clone(), by_rule);
            }
        }
        Some(other) => {
            return Err(SigmaProblem::Invalid(format!(
                "`aliases` must be a mapping, not {other}"
            )));
        }
    }

    Ok(CorrelationRule {
        id,
        title,
        name: text(map, "name"),
        description: text(map, "description").unwrap_or_default(),
        status: text(map, "status"),
        level,
        tags: text_list(map.get("tags"), "tags")?,
        falsepositives: text_list(map.get("falsepositives"), "falsepositives")?,
        kind,
        rules,
        group_by,
        timespan_ticks,
        timespan,
        condition,
        field,
        generate,
        aliases,
    })
}

/// A base rule a correlation names, as [`compile_correlation`] needs it.
#[derive(Debug, Clone)]
pub struct BaseRule<'a> {
    /// The text `rules:` names it by (its `name` or `id`).
    pub reference: &'a str,
    /// The base rule's id; the correlation's events carry it.
    pub id: &'a str,
    /// The base rule's `name`, if it has one (aliases may use either).
    pub name: Option<&'a str>,
    /// The base rule's KQL query, which returns its matching events.
    pub query: &'a str,
    /// The base rule's log source, to map the group-by fields.
    pub mapping: SourceMapping,
}

/// The KQL of a correlation rule and the fields that could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledCorrelation {
    pub query: String,
    /// The result columns: the group-by fields, then the count.
    pub columns: Vec<String>,
    pub unmapped_fields: Vec<String>,
}

/// Column names the correlation query uses itself.
const OWN_COLUMNS: &[&str] = &[
    "TimeGenerated",
    "LastTime",
    "WindowStart",
    "SigmaRule",
    "CountedValue",
    "EventCount",
    "ValueCount",
];

/// The KQL expression of a field of events of `mapping`, as a string.
fn field_expression(mapping: &SourceMapping, field: &str, unmapped: &mut Vec<String>) -> String {
    let source = map_field(mapping, field).unwrap_or_else(|reason| {
        if !unmapped.contains(&reason) {
            unmapped.push(reason);
        }
        FieldSource::EventData(field.to_string())
    });
    match source {
        FieldSource::Column { name, .. } => format!("tostring({name})"),
        FieldSource::EventData(key) => format!("tostring(EventData[{}])", kql_string(&key)),
        FieldSource::Hash(key) => format!(
            "extract({}, 1, tostring(EventData[\"Hashes\"]))",
            kql_string(&format!("(?i)(?:^|,){key}=([^,]*)"))
        ),
    }
}

/// The field a base rule reads for a group-by name: the alias's field for
/// this rule, or the name itself.
fn aliased<'f>(
    rule: &'f CorrelationRule,
    field: &'f str,
    base: &BaseRule<'_>,
) -> Result<&'f str, SigmaProblem> {
    let Some(by_rule) = rule.aliases.get(field) else {
        return Ok(field);
    };
    [Some(base.reference), Some(base.id), base.name]
        .into_iter()
        .flatten()
        .find_map(|key| by_rule.get(key))
        .map(String::as_str)
        .ok_or_else(|| {
            SigmaProblem::Invalid(format!(
                "alias `{field}` gives no field for base rule `{}`",
                base.reference
            ))
        })
}

/// Compiles a correlation rule over its base rules (in the order of its
/// `rules:`) to one KQL query.
pub fn compile_correlation(
    rule: &CorrelationRule,
    bases: &[BaseRule<'_>],
) -> Result<CompiledCorrelation, SigmaProblem> {
    for field in &rule.group_by {
        if OWN_COLUMNS.contains(&field.as_str()) {
            return Err(SigmaProblem::Unsupported(format!(
                "group-by field `{field}`, a name the correlation query uses for its own column"
            )));
        }
    }
    let mut unmapped = Vec::new();
    let mut legs = Vec::new();
    let mut seen = Vec::new();
    for base in bases {
        if seen.contains(&base.id) {
            continue;
        }
        seen.push(base.id);
        let mut columns = vec![
            "TimeGenerated".to_string(),
            format!("SigmaRule = {}", kql_string(base.id)),
        ];
        for field in &rule.group_by {
            let source_field = aliased(rule, field, base)?;
            columns.push(format!(
                "{} = {}",
                kql_column(field),
                field_expression(&base.mapping, source_field, &mut unmapped)
            ));
        }
        if let Some(field) = &rule.field {
            let source_field = aliased(rule, field, base)?;
            columns.push(format!(
                "CountedValue = {}",
                field_expression(&base.mapping, source_field, &mut unmapped)
            ));
        }
        legs.push(format!(
            "{}\n| project {}",
            base.query.trim(),
            columns.join(", ")
        ));
    }
    let events = match legs.as_slice() {
        [one] => one.clone(),
        _ => format!(
            "union\n{}",
            legs.iter()
                .map(|leg| format!("({})", leg.replace('\n', "\n    ")))
                .collect::<Vec<_>>()
                .join(",\n")
        ),
    };
    let window = format!("bin_at(TimeGenerated, {}, now())", rule.timespan);
    let groups: Vec<String> = rule
        .group_by
        .iter()
        .map(|field| kql_column(field))
        .collect();
    let by = std::iter::once(format!("WindowStart = {window}"))
        .chain(groups.iter().cloned())
        .collect::<Vec<_>>()
        .join(", ");
    let keys = std::iter::once("WindowStart".to_string())
        .chain(groups.iter().cloned())
        .collect::<Vec<_>>()
        .join(", ");
    let output = |count: &str| {
        std::iter::once("TimeGenerated = FirstTime, LastTime, WindowStart".to_string())
            .chain(groups.iter().cloned())
            .chain(std::iter::once(count.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let compare = |column: &str| {
        rule.condition
            .iter()
            .map(|(comparison, number)| format!("{column} {} {number}", comparison.symbol()))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let times = "FirstTime = min(TimeGenerated), LastTime = max(TimeGenerated)";
    let (query, count_column) = match rule.kind {
        CorrelationType::EventCount => (
            format!(
                "{events}\n| summarize EventCount = count(), {times} by {by}\n| where {}\n| project {}",
                compare("EventCount"),
                output("EventCount")
            ),
            "EventCount",
        ),
        CorrelationType::ValueCount => (
            format!(
                "{events}\n| summarize ValueCount = dcountif(CountedValue, isnotempty(CountedValue)), {times} by {by}\n| where {}\n| project {}",
                compare("ValueCount"),
                output("ValueCount")
            ),
            "ValueCount",
        ),
        CorrelationType::Temporal => (
            format!(
                "{events}\n| summarize RuleCount = dcount(SigmaRule), EventCount = count(), {times} by {by}\n| where RuleCount == {}\n| project {}",
                seen.len(),
                output("EventCount")
            ),
            "EventCount",
        ),
        CorrelationType::TemporalOrdered => {
            // Each step keeps, per window and group, the earliest match of
            // its rule strictly after the previous step's: the greedy
            // choice finds an ordered sequence whenever one exists.
            let mut text =
                format!("let homesoc_events = {events}\n| extend WindowStart = {window};\n");
            let ids: Vec<&str> = bases.iter().map(|base| base.id).collect();
            for (index, id) in ids.iter().enumerate() {
                let step = index + 1;
                let mut line = format!(
                    "let homesoc_step{step} = homesoc_events\n| where SigmaRule == {}",
                    kql_string(id)
                );
                if index == 0 {
                    line.push_str(&format!(
                        "\n| summarize Step1 = min(TimeGenerated) by {keys};\n"
                    ));
                } else {
                    let carried: Vec<String> = (1..step).map(|n| format!("Step{n}")).collect();
                    line.push_str(&format!(
                        "\n| join kind=inner homesoc_step{index} on {keys}\n| where TimeGenerated > Step{index}\n| summarize Step{step} = min(TimeGenerated) by {keys}, {};\n",
                        carried.join(", ")
                    ));
                }
                text.push_str(&line);
            }
            let last = ids.len();
            let mut projected = vec![
                "TimeGenerated = Step1".to_string(),
                format!("LastTime = Step{last}"),
                "WindowStart".to_string(),
            ];
            projected.extend(groups.iter().cloned());
            text.push_str(&format!(
                "homesoc_step{last}\n| project {}",
                projected.join(", ")
            ));
            (text, "")
        }
    };
    let mut columns: Vec<String> = rule.group_by.clone();
    if !count_column.is_empty() {
        columns.push(count_column.to_string());
    }
    Ok(CompiledCorrelation {
        query,
        columns,
        unmapped_fields: unmapped,
    })
}
