//! Compiling a Sigma rule to a KQL query over `WindowsEvent`.
//!
//! The query filters the log source's channels and event ids, extends one
//! string column per `EventData` field the rule reads (so each is read
//! once per event), and keeps the events where any condition holds.
//! String comparisons are case-insensitive unless the `cased` modifier is
//! given; values with wildcards become anchored regular expressions.

use std::collections::BTreeMap;

use serde_json::Value;

use super::condition::{Condition, pattern_matches};
use super::mapping::{
    FieldSource, ResolvedSource, SECURITY_PROCESS_CREATION, SECURITY_PROCESS_CREATION_FIELDS,
    map_field, resolve_source,
};
use super::model::{FieldMatch, SigmaProblem, SigmaRule};
use super::modifiers::{Operator, Pattern, Token, parse_pattern, transform};

/// The KQL of a rule and the fields that could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub query: String,
    /// The log source, as `windows/<category or service>`.
    pub source: String,
    /// The extended columns, Sigma field name first.
    pub fields: Vec<(String, String)>,
    /// One reason per field that is not in the log source's events.
    pub unmapped_fields: Vec<String>,
    /// The parts of `query`: the channel and event id filter, the
    /// extended columns (name and expression) and the rule's condition,
    /// so that many rules of one log source can share a scan.
    pub filter: String,
    pub extends: Vec<(String, String)>,
    pub condition: String,
}

/// `WindowsEvent` columns that an extended field must not replace.
const RESERVED: &[&str] = &[
    "Channel",
    "Computer",
    "Correlation",
    "EventData",
    "EventID",
    "EventLevel",
    "EventLevelName",
    "EventOriginId",
    "EventRecordId",
    "Keywords",
    "Opcode",
    "Provider",
    "RawEventData",
    "SystemProcessId",
    "SystemThreadId",
    "SystemUserId",
    "Task",
    "TenantId",
    "TimeGenerated",
    "Type",
    "ManagementGroupName",
    "_ResourceId",
    "_SubscriptionId",
    "_BilledSize",
    "_IsBillable",
];

/// Quotes `text` as a KQL string literal.
pub fn kql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes a column name, bracketed when it is not a plain identifier.
pub fn kql_column(name: &str) -> String {
    if is_identifier(name) {
        name.to_string()
    } else {
        format!("[{}]", kql_string(name))
    }
}

/// A field as an expression: its string form, and whether it is present.
struct FieldExpr {
    text: String,
    exists: String,
    numeric: Option<String>,
}

struct Compiler<'a> {
    source: &'a ResolvedSource,
    /// The rule also reads Security event 4688, whose `EventData` names
    /// some fields differently.
    security_4688: bool,
    /// Extended columns by Sigma field (or `Hashes`): column name and
    /// the expression that fills it.
    extended: BTreeMap<String, (String, String)>,
    unmapped: Vec<String>,
}

impl Compiler<'_> {
    fn field(&mut self, field: &str) -> FieldExpr {
        let source = match map_field(&self.source.mapping, field) {
            Ok(source) => source,
            Err(reason) => {
                if !self.unmapped.contains(&reason) {
                    self.unmapped.push(reason);
                }
                FieldSource::EventData(field.to_string())
            }
        };
        match source {
            FieldSource::Column { name, numeric } => FieldExpr {
                text: if numeric {
                    format!("tostring({name})")
                } else {
                    name.to_string()
                },
                exists: "true".to_string(),
                numeric: numeric.then(|| name.to_string()),
            },
            FieldSource::EventData(key) => {
                let security_key = SECURITY_PROCESS_CREATION_FIELDS
                    .iter()
                    .find(|(name, security)| self.security_4688 && *name == key && *security != key)
                    .map(|(_, security)| *security);
                match security_key {
                    Some(security_key) => {
                        let pick = |expr: &dyn Fn(&str) -> String| {
                            format!(
                                "iff(EventID == {}, {}, {})",
                                SECURITY_PROCESS_CREATION.1,
                                expr(security_key),
                                expr(&key)
                            )
                        };
                        let text = pick(&|key| format!("tostring(EventData[{}])", kql_string(key)));
                        let exists =
                            pick(&|key| format!("isnotnull(EventData[{}])", kql_string(key)));
                        FieldExpr {
                            text: self.extend_with(&key, text),
                            exists,
                            numeric: None,
                        }
                    }
                    None => {
                        let column = self.extend(&key);
                        FieldExpr {
                            exists: format!("isnotnull(EventData[{}])", kql_string(&key)),
                            text: column,
                            numeric: None,
                        }
                    }
                }
            }
            FieldSource::Hash(_) => {
                let column = self.extend("Hashes");
                FieldExpr {
                    exists: format!("isnotempty({column})"),
                    text: column,
                    numeric: None,
                }
            }
        }
    }

    /// Returns the column holding `EventData[key]` as a string, adding it
    /// to the extended columns on first use.
    fn extend(&mut self, key: &str) -> String {
        self.extend_with(key, format!("tostring(EventData[{}])", kql_string(key)))
    }

    /// Returns the column of field `key`, adding it filled by `expr` on
    /// first use.
    fn extend_with(&mut self, key: &str, expr: String) -> String {
        if let Some((column, _)) = self.extended.get(key) {
            return kql_column(column);
        }
        let column = if RESERVED.iter().any(|name| name.eq_ignore_ascii_case(key)) {
            format!("EventData_{key}")
        } else {
            key.to_string()
        };
        self.extended
            .insert(key.to_string(), (column.clone(), expr));
        kql_column(&column)
    }

    fn condition(
        &mut self,
        condition: &Condition,
        rule: &SigmaRule,
        cache: &mut BTreeMap<String, String>,
    ) -> Result<String, SigmaProblem> {
        Ok(match condition {
            Condition::Selection(name) => self.selection(name, rule, cache)?,
            Condition::And(terms) => join(
                terms
                    .iter()
                    .map(|term| self.condition(term, rule, cache))
                    .collect::<Result<_, _>>()?,
                "and",
            ),
            Condition::Or(terms) => join(
                terms
                    .iter()
                    .map(|term| self.condition(term, rule, cache))
                    .collect::<Result<_, _>>()?,
                "or",
            ),
            Condition::Not(inner) => format!("not({})", self.condition(inner, rule, cache)?),
            Condition::Of { all, pattern } => {
                let names: Vec<String> = rule
                    .selections
                    .iter()
                    .filter(|(name, _)| pattern_matches(pattern, name))
                    .map(|(name, _)| name.clone())
                    .collect();
                let terms = names
                    .iter()
                    .map(|name| self.selection(name, rule, cache))
                    .collect::<Result<Vec<_>, _>>()?;
                join(terms, if *all { "and" } else { "or" })
            }
        })
    }

    fn selection(
        &mut self,
        name: &str,
        rule: &SigmaRule,
        cache: &mut BTreeMap<String, String>,
    ) -> Result<String, SigmaProblem> {
        if let Some(text) = cache.get(name) {
            return Ok(text.clone());
        }
        let (_, selection) = rule
            .selections
            .iter()
            .find(|(known, _)| known == name)
            .ok_or_else(|| {
                SigmaProblem::Invalid(format!("the condition names missing selection `{name}`"))
            })?;
        let mut groups = Vec::new();
        for group in &selection.groups {
            let mut terms = Vec::new();
            for field_match in group {
                terms.push(
                    self.field_match(field_match)
                        .map_err(|problem| match problem {
                            SigmaProblem::Invalid(text) => {
                                SigmaProblem::Invalid(format!("selection `{name}`: {text}"))
                            }
                            other => other,
                        })?,
                );
            }
            groups.push(join(terms, "and"));
        }
        let text = join(groups, "or");
        cache.insert(name.to_string(), text.clone());
        Ok(text)
    }

    fn field_match(&mut self, field_match: &FieldMatch) -> Result<String, SigmaProblem> {
        let modifiers = &field_match.modifiers;
        let field = match &field_match.field {
            Some(field) => self.field(field),
            None => FieldExpr {
                text: "tostring(EventData)".to_string(),
                exists: "true".to_string(),
                numeric: None,
            },
        };
        let keyword = field_match.field.is_none();
        let hash_key = field_match.field.as_deref().and_then(|name| {
            super::mapping::HASH_FIELDS
                .iter()
                .find(|(field, _)| *field == name)
                .map(|(_, key)| *key)
        });
        if let Some(list) = literal_list(field_match, &field, keyword || hash_key.is_some()) {
            return Ok(list);
        }
        let mut terms = Vec::new();
        for value in &field_match.values {
            let term = match modifiers.operator {
                Operator::Exists => match value {
                    Value::Bool(true) => field.exists.clone(),
                    Value::Bool(false) => format!("not({})", field.exists),
                    other => {
                        return Err(SigmaProblem::Invalid(format!(
                            "`exists` takes true or false, not {other}"
                        )));
                    }
                },
                Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => {
                    let number = value
                        .as_f64()
                        .or_else(|| value.as_str()?.trim().parse().ok())
                        .ok_or_else(|| {
                            SigmaProblem::Invalid(format!(
                                "a numeric comparison needs a number, not {value}"
                            ))
                        })?;
                    let symbol = match modifiers.operator {
                        Operator::Gt => ">",
                        Operator::Gte => ">=",
                        Operator::Lt => "<",
                        _ => "<=",
                    };
                    let left = field
                        .numeric
                        .clone()
                        .unwrap_or_else(|| format!("todouble({})", field.text));
                    format!("{left} {symbol} {number}")
                }
                Operator::Cidr => {
                    let network = value.as_str().unwrap_or_default();
                    // Null (an address of the other family, or no
                    // address) is "not in the network", also under `not`.
                    let function = if network.contains(':') {
                        "ipv6_is_in_range"
                    } else {
                        "ipv4_is_in_range"
                    };
                    format!(
                        "coalesce({function}({}, {}), false)",
                        field.text,
                        kql_string(network)
                    )
                }
                Operator::FieldRef => {
                    let other_name = value.as_str().ok_or_else(|| {
                        SigmaProblem::Invalid(format!("`fieldref` takes a field name, not {value}"))
                    })?;
                    let other = self.field(other_name);
                    if modifiers.cased {
                        format!("{} == {}", field.text, other.text)
                    } else {
                        format!("{} =~ {}", field.text, other.text)
                    }
                }
                Operator::Regex { i, m, s } => {
                    let regex = value
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| value.to_string());
                    let mut flags = String::new();
                    if i {
                        flags.push('i');
                    }
                    if m {
                        flags.push('m');
                    }
                    if s {
                        flags.push('s');
                    }
                    let full = if flags.is_empty() {
                        regex.clone()
                    } else {
                        format!("(?{flags}){regex}")
                    };
                    if let Err(err) = regex::Regex::new(&full) {
                        return Err(SigmaProblem::Invalid(format!(
                            "regular expression `{regex}` does not compile: {}",
                            err.to_string().lines().last().unwrap_or_default().trim()
                        )));
                    }
                    format!("{} matches regex {}", field.text, kql_string(&full))
                }
                Operator::Equals
                | Operator::Contains
                | Operator::StartsWith
                | Operator::EndsWith => match value {
                    Value::Null => format!("isempty({})", field.text),
                    Value::Number(number)
                        if field.numeric.is_some()
                            && modifiers.transforms.is_empty()
                            && modifiers.operator == Operator::Equals =>
                    {
                        format!(
                            "{} == {number}",
                            field.numeric.as_deref().unwrap_or_default()
                        )
                    }
                    _ => {
                        let text = match value {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        };
                        let patterns = transform(parse_pattern(&text), &modifiers.transforms)
                            .map_err(SigmaProblem::Invalid)?;
                        let variants: Vec<String> = patterns
                            .into_iter()
                            .map(|pattern| {
                                let pattern = wrap(pattern, modifiers.operator);
                                match hash_key {
                                    Some(key) => hash_match(&field.text, key, &pattern),
                                    None if keyword => {
                                        keyword_match(&field.text, &pattern, modifiers.cased)
                                    }
                                    None => string_match(&field.text, &pattern, modifiers.cased),
                                }
                            })
                            .collect();
                        join(variants, "or")
                    }
                },
            };
            terms.push(term);
        }
        if terms.is_empty() {
            return Err(SigmaProblem::Invalid(
                "a field has an empty list of values".into(),
            ));
        }
        Ok(join(terms, if modifiers.all { "and" } else { "or" }))
    }
}

/// Joins terms with `and` or `or`, as a balanced tree of parenthesized
/// halves so that the expression depth grows with the logarithm of the
/// number of terms (a long flat chain overflows the planner's stack).
fn join(mut terms: Vec<String>, operator: &str) -> String {
    /// Terms joined flat; more are split into halves.
    const FLAT: usize = 8;
    if terms.len() == 1 {
        return terms.remove(0);
    }
    if terms.len() > FLAT {
        let second = terms.split_off(terms.len() / 2);
        return format!(
            "({}) {operator} ({})",
            join(terms, operator),
            join(second, operator)
        );
    }
    terms
        .iter()
        .map(|term| format!("({term})"))
        .collect::<Vec<_>>()
        .join(&format!(" {operator} "))
}

/// Several plain text values of one field as one `in~` (or, with
/// `cased`, `in`) list, which is shorter and faster than a chain of `=~`.
fn literal_list(field_match: &FieldMatch, field: &FieldExpr, special: bool) -> Option<String> {
    let modifiers = &field_match.modifiers;
    if special
        || field.numeric.is_some()
        || modifiers.operator != Operator::Equals
        || modifiers.all
        || !modifiers.transforms.is_empty()
        || field_match.values.len() < 2
    {
        return None;
    }
    let mut literals = Vec::new();
    for value in &field_match.values {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => return None,
        };
        match parse_pattern(&text).as_slice() {
            [Token::Literal(literal)] => literals.push(kql_string(literal)),
            _ => return None,
        }
    }
    let operator = if modifiers.cased { "in" } else { "in~" };
    Some(format!(
        "{} {operator} ({})",
        field.text,
        literals.join(", ")
    ))
}

/// Adds the wildcards of `contains`, `startswith` and `endswith`.
fn wrap(mut pattern: Pattern, operator: Operator) -> Pattern {
    if matches!(operator, Operator::Contains | Operator::EndsWith)
        && pattern.first() != Some(&Token::Star)
    {
        pattern.insert(0, Token::Star);
    }
    if matches!(operator, Operator::Contains | Operator::StartsWith)
        && pattern.last() != Some(&Token::Star)
    {
        pattern.push(Token::Star);
    }
    pattern
}

/// Escapes literal text for a regular expression.
fn regex_literal(text: &str) -> String {
    regex::escape(text)
}

fn pattern_regex(pattern: &Pattern) -> String {
    pattern
        .iter()
        .map(|token| match token {
            Token::Literal(text) => regex_literal(text),
            Token::Star => ".*".to_string(),
            Token::Question => ".".to_string(),
        })
        .collect()
}

/// A comparison of `text` with a pattern, using `=~`, `contains`,
/// `startswith` or `endswith` when the wildcards allow, and an anchored
/// regular expression otherwise.
fn string_match(text: &str, pattern: &Pattern, cased: bool) -> String {
    let suffix = if cased { "_cs" } else { "" };
    match pattern.as_slice() {
        [] => format!("isempty({text})"),
        [Token::Star] => "true".to_string(),
        [Token::Literal(literal)] => {
            let operator = if cased { "==" } else { "=~" };
            format!("{text} {operator} {}", kql_string(literal))
        }
        [Token::Star, Token::Literal(literal), Token::Star] => {
            format!("{text} contains{suffix} {}", kql_string(literal))
        }
        [Token::Literal(literal), Token::Star] => {
            format!("{text} startswith{suffix} {}", kql_string(literal))
        }
        [Token::Star, Token::Literal(literal)] => {
            format!("{text} endswith{suffix} {}", kql_string(literal))
        }
        _ => {
            let flags = if cased { "(?s)" } else { "(?is)" };
            format!(
                "{text} matches regex {}",
                kql_string(&format!("{flags}^{}$", pattern_regex(pattern)))
            )
        }
    }
}

/// A keyword searched in the event's `EventData` as JSON text: literal
/// parts are JSON-escaped so they match the text as it is stored there.
fn keyword_match(text: &str, pattern: &Pattern, cased: bool) -> String {
    let mut pattern: Pattern = pattern
        .iter()
        .map(|token| match token {
            Token::Literal(literal) => {
                let json = serde_json::to_string(literal).unwrap_or_default();
                Token::Literal(json[1..json.len() - 1].to_string())
            }
            other => other.clone(),
        })
        .collect();
    // A keyword matches anywhere in the event, not the whole text.
    if pattern.first() != Some(&Token::Star) {
        pattern.insert(0, Token::Star);
    }
    if pattern.last() != Some(&Token::Star) {
        pattern.push(Token::Star);
    }
    string_match(text, &pattern, cased)
}

/// One hash of Sysmon's `Hashes` list (`MD5=...,SHA256=...`).
fn hash_match(text: &str, key: &str, pattern: &Pattern) -> String {
    format!(
        "{text} matches regex {}",
        kql_string(&format!("(?i)(^|,){key}={}(,|$)", pattern_regex(pattern)))
    )
}

/// Returns whether a `process_creation` rule also reads Security event
/// 4688: every field it reads, `fieldref` targets included, is a
/// `WindowsEvent` column or one that 4688 records, and it has no keyword
/// search (4688's `EventData` text differs from Sysmon's).
fn reads_security_4688(rule: &SigmaRule) -> bool {
    let known = |field: &str| {
        SECURITY_PROCESS_CREATION_FIELDS
            .iter()
            .any(|(name, _)| *name == field)
            || super::mapping::COLUMN_FIELDS
                .iter()
                .any(|(name, _)| *name == field)
    };
    rule.category
        .as_deref()
        .is_some_and(|category| category.eq_ignore_ascii_case("process_creation"))
        && rule
            .selections
            .iter()
            .flat_map(|(_, selection)| &selection.groups)
            .flatten()
            .all(|field_match| {
                let Some(field) = field_match.field.as_deref() else {
                    return false;
                };
                known(field)
                    && (field_match.modifiers.operator != Operator::FieldRef
                        || field_match
                            .values
                            .iter()
                            .all(|value| value.as_str().is_some_and(known)))
            })
}

/// Compiles a rule to KQL.
pub fn compile(rule: &SigmaRule) -> Result<Compiled, SigmaProblem> {
    let source = resolve_source(
        rule.product.as_deref(),
        rule.category.as_deref(),
        rule.service.as_deref(),
    )
    .map_err(SigmaProblem::Unsupported)?;
    let security_4688 = reads_security_4688(rule);
    let mut compiler = Compiler {
        source: &source,
        security_4688,
        extended: BTreeMap::new(),
        unmapped: Vec::new(),
    };
    let mut cache = BTreeMap::new();
    let conditions = rule
        .conditions
        .iter()
        .map(|condition| compiler.condition(condition, rule, &mut cache))
        .collect::<Result<Vec<_>, _>>()?;
    let condition = join(conditions, "or");

    let mut filter = Vec::new();
    let channels = source.mapping.channels;
    filter.push(match channels {
        [one] => format!("Channel == {}", kql_string(one)),
        many => format!(
            "Channel in ({})",
            many.iter()
                .map(|c| kql_string(c))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    match source.mapping.event_ids {
        [] => {}
        [one] => filter.push(format!("EventID == {one}")),
        many => filter.push(format!(
            "EventID in ({})",
            many.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    let mut filter = filter.join(" and ");
    if security_4688 {
        let (channel, event_id) = SECURITY_PROCESS_CREATION;
        filter = format!(
            "({filter}) or (Channel == {} and EventID == {event_id})",
            kql_string(channel)
        );
    }
    let mut query = format!("WindowsEvent\n| where {filter}");
    let mut fields = Vec::new();
    let mut extends = Vec::new();
    if !compiler.extended.is_empty() {
        let assignments: Vec<String> = compiler
            .extended
            .iter()
            .map(|(key, (column, expr))| {
                fields.push((key.clone(), column.clone()));
                extends.push((column.clone(), expr.clone()));
                format!("{} = {expr}", kql_column(column))
            })
            .collect();
        query.push_str(&format!("\n| extend {}", assignments.join(", ")));
    }
    query.push_str(&format!("\n| where {condition}"));
    Ok(Compiled {
        query,
        source: source.name.clone(),
        fields,
        unmapped_fields: compiler.unmapped,
        filter,
        extends,
        condition,
    })
}
