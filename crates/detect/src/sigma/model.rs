//! A Sigma rule as its YAML file writes it: metadata, `logsource` and
//! `detection` with named selections and conditions.

use serde_json::{Map, Value};

use super::condition::{Condition, parse_condition};
use super::modifiers::{Modifiers, parse_modifiers};

/// A rule that failed to load: the rule is invalid, or valid but uses a
/// feature homesoc does not support (named in the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigmaProblem {
    Invalid(String),
    Unsupported(String),
}

/// One Sigma detection rule.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaRule {
    pub id: String,
    pub title: String,
    /// The rule's `name`, by which correlation rules may name it.
    pub name: Option<String>,
    pub description: String,
    pub status: Option<String>,
    /// `informational`, `low`, `medium`, `high` or `critical`.
    pub level: String,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
    /// Named selections, in file order.
    pub selections: Vec<(String, Selection)>,
    /// The conditions; a rule matches when any one does.
    pub conditions: Vec<Condition>,
}

/// A named selection: it matches when any of its groups matches, and a
/// group matches when all its field matches do.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub groups: Vec<Vec<FieldMatch>>,
}

/// One field (or, for keywords, the whole event) compared with values.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMatch {
    /// `None` for keyword searches.
    pub field: Option<String>,
    pub modifiers: Modifiers,
    pub values: Vec<Value>,
}

const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn text_list(map: &Map<String, Value>, key: &str) -> Vec<String> {
    match map.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(text)) => vec![text.clone()],
        _ => Vec::new(),
    }
}

/// Reads a Sigma rule from its YAML document.
pub fn parse_sigma(map: &Map<String, Value>) -> Result<SigmaRule, SigmaProblem> {
    let invalid = |text: String| SigmaProblem::Invalid(text);
    let title = text(map, "title").ok_or_else(|| invalid("missing required key `title`".into()))?;
    let id = text(map, "id").ok_or_else(|| invalid("missing required key `id`".into()))?;
    let level = text(map, "level")
        .unwrap_or_else(|| "medium".to_string())
        .to_ascii_lowercase();
    if !LEVELS.contains(&level.as_str()) {
        return Err(invalid(format!(
            "invalid level `{level}`; use informational, low, medium, high or critical"
        )));
    }
    let Some(Value::Object(logsource)) = map.get("logsource") else {
        return Err(invalid("`logsource` must be a mapping".into()));
    };
    let Some(Value::Object(detection)) = map.get("detection") else {
        return Err(invalid("`detection` must be a mapping".into()));
    };

    let mut selections = Vec::new();
    let mut conditions = Vec::new();
    for (name, value) in detection {
        match name.as_str() {
            "condition" => {
                let texts = match value {
                    Value::String(text) => vec![text.clone()],
                    Value::Array(items) => items
                        .iter()
                        .map(|item| item.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            invalid("`condition` must be text or a list of texts".into())
                        })?,
                    _ => {
                        return Err(invalid(
                            "`condition` must be text or a list of texts".into(),
                        ));
                    }
                };
                for text in texts {
                    let condition = parse_condition(&text).map_err(|reason| {
                        if reason.contains("not supported") {
                            SigmaProblem::Unsupported(reason)
                        } else {
                            invalid(reason)
                        }
                    })?;
                    conditions.push(condition);
                }
            }
            "timeframe" => {
                return Err(SigmaProblem::Unsupported(
                    "detection `timeframe` (write a correlation rule instead)".into(),
                ));
            }
            _ => selections.push((
                name.clone(),
                parse_selection(name, value).map_err(|reason| match reason {
                    SigmaProblem::Invalid(text) => invalid(format!("selection `{name}`: {text}")),
                    other => other,
                })?,
            )),
        }
    }
    if conditions.is_empty() {
        return Err(invalid("`detection` has no `condition`".into()));
    }
    for condition in &conditions {
        check_names(condition, &selections).map_err(invalid)?;
    }

    Ok(SigmaRule {
        id,
        title,
        name: text(map, "name"),
        description: text(map, "description").unwrap_or_default(),
        status: text(map, "status"),
        level,
        tags: text_list(map, "tags"),
        falsepositives: text_list(map, "falsepositives"),
        product: text(logsource, "product"),
        category: text(logsource, "category"),
        service: text(logsource, "service"),
        selections,
        conditions,
    })
}

/// Checks that every selection the condition names exists, and that every
/// `1 of` / `all of` pattern matches at least one.
fn check_names(condition: &Condition, selections: &[(String, Selection)]) -> Result<(), String> {
    match condition {
        Condition::Selection(name) => {
            if selections.iter().any(|(known, _)| known == name) {
                Ok(())
            } else {
                Err(format!(
                    "the condition names selection `{name}`, which `detection` does not define"
                ))
            }
        }
        Condition::And(terms) | Condition::Or(terms) => terms
            .iter()
            .try_for_each(|term| check_names(term, selections)),
        Condition::Not(inner) => check_names(inner, selections),
        Condition::Of { pattern, .. } => {
            if selections
                .iter()
                .any(|(name, _)| super::condition::pattern_matches(pattern, name))
            {
                Ok(())
            } else {
                Err(format!(
                    "the condition's `of {pattern}` matches no selection of `detection`"
                ))
            }
        }
    }
}

fn parse_selection(name: &str, value: &Value) -> Result<Selection, SigmaProblem> {
    match value {
        Value::Object(map) => Ok(Selection {
            groups: vec![parse_map(map)?],
        }),
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let groups = items
                .iter()
                .map(|item| parse_map(item.as_object().expect("checked above")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Selection { groups })
        }
        Value::Array(items)
            if items
                .iter()
                .all(|item| !item.is_object() && !item.is_array()) =>
        {
            Ok(Selection {
                groups: vec![vec![FieldMatch {
                    field: None,
                    modifiers: Modifiers::default(),
                    values: items.clone(),
                }]],
            })
        }
        Value::String(_) | Value::Number(_) => Ok(Selection {
            groups: vec![vec![FieldMatch {
                field: None,
                modifiers: Modifiers::default(),
                values: vec![value.clone()],
            }]],
        }),
        _ => Err(SigmaProblem::Invalid(format!(
            "selection `{name}` must be a mapping of fields, a list of mappings or a list of keywords"
        ))),
    }
}

fn parse_map(map: &Map<String, Value>) -> Result<Vec<FieldMatch>, SigmaProblem> {
    map.iter()
        .map(|(key, value)| {
            let mut parts = key.split('|');
            let field = parts.next().unwrap_or_default();
            let names: Vec<&str> = parts.collect();
            let modifiers = parse_modifiers(&names).map_err(SigmaProblem::Invalid)?;
            let values = match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            if values
                .iter()
                .any(|value| value.is_object() || value.is_array())
            {
                return Err(SigmaProblem::Invalid(format!(
                    "field `{key}` has a nested list or mapping as a value"
                )));
            }
            Ok(FieldMatch {
                field: (!field.is_empty()).then(|| field.to_string()),
                modifiers,
                values,
            })
        })
        .collect()
}
