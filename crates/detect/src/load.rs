//! Reading analytics rule YAML files into [`Rule`]s.
//!
//! Files are read as published: keys in any order, unknown keys kept,
//! `kind` missing or in lower case, trigger operators short or long,
//! timespans in ISO 8601 or KQL form, booleans and numbers written as
//! strings. A missing or malformed key the rule needs is an error naming
//! the file and the key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::entities::entity_json_type;
use crate::error::RuleError;
use crate::rule::{
    AlertDetailsOverride, EntityMapping, EventGrouping, IncidentConfiguration, IncidentGrouping,
    MatchingMethod, Rule, RuleKind, Severity, TICKS_PER_MINUTE, Trigger, TriggerOperator,
};
use crate::timespan::{TIMESPAN_HINT, parse_rule_timespan};

/// Sentinel's default for `suppressionDuration` and `lookbackDuration`.
const DEFAULT_FIVE_HOURS: i64 = 5 * 60 * TICKS_PER_MINUTE;

/// Keys [`parse_rule`] reads; every other key goes to [`Rule::other_keys`].
const KNOWN_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "severity",
    "kind",
    "query",
    "queryFrequency",
    "queryPeriod",
    "triggerOperator",
    "triggerThreshold",
    "tactics",
    "relevantTechniques",
    "entityMappings",
    "customDetails",
    "alertDetailsOverride",
    "eventGroupingSettings",
    "incidentConfiguration",
    "suppressionEnabled",
    "suppressionDuration",
];

/// The rules of a set of files and folders, and the files that failed.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Loaded rules, in file path order; ids are unique.
    pub rules: Vec<Rule>,
    /// One error per file that could not be loaded.
    pub errors: Vec<RuleError>,
}

/// Loads every `.yaml` and `.yml` file under `paths` (files, or folders
/// searched recursively). A file that fails is reported in
/// [`RuleSet::errors`] and the others still load. Of two files with one
/// `id`, the first in path order is loaded and the second reported.
pub fn load_rules(paths: &[PathBuf]) -> RuleSet {
    let mut files = Vec::new();
    let mut set = RuleSet::default();
    for path in paths {
        if let Err(err) = collect_rule_files(path, &mut files) {
            set.errors.push(err);
        }
    }
    files.sort();
    files.dedup();

    let mut first_path_by_id: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut add = |set: &mut RuleSet, rule: Rule| match first_path_by_id.get(&rule.id) {
        Some(first_path) => set.errors.push(RuleError::DuplicateId {
            id: rule.id.clone(),
            path: rule.source.clone(),
            first_path: first_path.clone(),
        }),
        None => {
            first_path_by_id.insert(rule.id.clone(), rule.source.clone());
            set.rules.push(rule);
        }
    };
    // Correlation rules name other rules, so they load once every other
    // rule of every file has.
    let mut correlations = Vec::new();
    for file in files {
        let documents = match read_documents(&file) {
            Ok(documents) => documents,
            Err(err) => {
                set.errors.push(err);
                continue;
            }
        };
        let count = documents.len();
        for (index, map) in documents.into_iter().enumerate() {
            if crate::sigma::correlation::is_correlation(&map) {
                correlations.push((file.clone(), map, index, count));
                continue;
            }
            match rule_from_map(&map, &file) {
                Ok(rule) => add(&mut set, rule),
                Err(err) => set.errors.push(in_document(err, &map, index, count)),
            }
        }
    }
    let mut silent = BTreeSet::new();
    let mut generating = BTreeSet::new();
    for (file, map, index, count) in correlations {
        match crate::sigma::load_correlation(&map, &file, &set.rules)
            .map_err(|err| in_document(err, &map, index, count))
        {
            Ok((rule, bases, generate)) => {
                if generate {
                    generating.extend(bases);
                } else {
                    silent.extend(bases);
                }
                add(&mut set, rule);
            }
            Err(err) => set.errors.push(err),
        }
    }
    for rule in &mut set.rules {
        if silent.contains(&rule.id)
            && !generating.contains(&rule.id)
            && let Some(serde_json::Value::Object(details)) =
                rule.other_keys.get_mut(crate::sigma::SIGMA_KEY)
        {
            details.insert(
                crate::sigma::CORRELATION_ONLY_KEY.to_string(),
                Value::Bool(true),
            );
        }
    }
    // Stable: the documents of one file keep their order.
    set.rules.sort_by(|a, b| a.source.cmp(&b.source));
    set
}

/// Names the document of a multi-document file that an error is about;
/// errors of single-document files stay as they are.
fn in_document(err: RuleError, map: &Map<String, Value>, index: usize, count: usize) -> RuleError {
    if count < 2 {
        return err;
    }
    let title = ["title", "name"]
        .iter()
        .find_map(|key| map.get(*key).and_then(Value::as_str))
        .map(str::to_string);
    RuleError::InDocument {
        document: index + 1,
        documents: count,
        title,
        source: Box::new(err),
    }
}

/// Reads the YAML documents of one rule file. A file may hold several
/// documents separated by `---` (a Sigma correlation rule and its base
/// rules); empty documents are skipped.
pub fn read_documents(path: &Path) -> Result<Vec<Map<String, Value>>, RuleError> {
    use serde::Deserialize as _;
    let text = std::fs::read_to_string(path).map_err(|err| RuleError::Read {
        path: path.to_path_buf(),
        reason: err.to_string(),
    })?;
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).map_err(|err| RuleError::Yaml {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        match value {
            Value::Null => {}
            Value::Object(map) => {
                if let Some(action) = map.get("action") {
                    return Err(RuleError::SigmaUnsupported {
                        path: path.to_path_buf(),
                        feature: format!(
                            "Sigma rule collection `action: {}`; write each rule in full",
                            action.as_str().unwrap_or_default()
                        ),
                    });
                }
                documents.push(map);
            }
            _ => {
                return Err(RuleError::NotAMapping {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    if documents.is_empty() {
        return Err(RuleError::NotAMapping {
            path: path.to_path_buf(),
        });
    }
    Ok(documents)
}

fn collect_rule_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), RuleError> {
    let read_error = |err: std::io::Error| RuleError::Read {
        path: path.to_path_buf(),
        reason: err.to_string(),
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(read_error)? {
        let entry_path = entry.map_err(read_error)?.path();
        if entry_path.is_dir() {
            collect_rule_files(&entry_path, files)?;
        } else if is_yaml_file(&entry_path) {
            files.push(entry_path);
        }
    }
    Ok(())
}

fn is_yaml_file(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml"))
}

/// Reads and parses one rule file.
pub fn load_rule_file(path: &Path) -> Result<Rule, RuleError> {
    let text = std::fs::read_to_string(path).map_err(|err| RuleError::Read {
        path: path.to_path_buf(),
        reason: err.to_string(),
    })?;
    parse_rule(&text, path)
}

/// Parses the YAML text of one rule; `path` names the file in errors.
pub fn parse_rule(text: &str, path: &Path) -> Result<Rule, RuleError> {
    let document: Value = serde_norway::from_str(text).map_err(|err| RuleError::Yaml {
        path: path.to_path_buf(),
        reason: err.to_string(),
    })?;
    let Value::Object(map) = document else {
        return Err(RuleError::NotAMapping {
            path: path.to_path_buf(),
        });
    };
    if crate::sigma::correlation::is_correlation(&map) {
        return Err(RuleError::Sigma {
            path: path.to_path_buf(),
            reason: "a correlation rule names other rules; load it with them from a rules folder"
                .to_string(),
        });
    }
    rule_from_map(&map, path)
}

/// Builds a Sigma or Sentinel rule from one YAML document.
fn rule_from_map(map: &Map<String, Value>, path: &Path) -> Result<Rule, RuleError> {
    if crate::sigma::is_sigma(map) {
        return crate::sigma::load_sigma(map, path);
    }
    RuleReader { path, map }.read()
}

/// Reads the keys of one rule document, naming the file in every error.
struct RuleReader<'a> {
    path: &'a Path,
    map: &'a Map<String, Value>,
}

impl RuleReader<'_> {
    fn read(&self) -> Result<Rule, RuleError> {
        let kind = match self.optional_text(self.map, "kind")? {
            None => RuleKind::Scheduled,
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "scheduled" => RuleKind::Scheduled,
                "nrt" => RuleKind::Nrt,
                _ => return Err(self.invalid("kind", &text, "use Scheduled or NRT")),
            },
        };

        let id = self.required_text(self.map, "id")?;
        let name = self.required_text(self.map, "name")?;
        let query = self.required_text(self.map, "query")?;
        let severity_text = self.required_text(self.map, "severity")?;
        let severity = Severity::parse(&severity_text).ok_or_else(|| {
            self.invalid(
                "severity",
                &severity_text,
                "use Informational, Low, Medium or High",
            )
        })?;

        // NRT rules have no schedule keys: they run every minute over the last minute.
        let (query_frequency, query_period, trigger) = match kind {
            RuleKind::Nrt => (
                TICKS_PER_MINUTE,
                TICKS_PER_MINUTE,
                self.trigger_or(TriggerOperator::GreaterThan, 0)?,
            ),
            RuleKind::Scheduled => (
                self.required_timespan(self.map, "queryFrequency")?,
                self.required_timespan(self.map, "queryPeriod")?,
                self.required_trigger()?,
            ),
        };

        let suppression_enabled = self.optional_bool(self.map, "suppressionEnabled")?;
        let suppression = match suppression_enabled {
            Some(true) => Some(
                self.optional_timespan(self.map, "suppressionDuration")?
                    .unwrap_or(DEFAULT_FIVE_HOURS),
            ),
            _ => None,
        };

        let other_keys = self
            .map
            .iter()
            .filter(|(key, _)| !KNOWN_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();

        Ok(Rule {
            id,
            name,
            description: self
                .optional_text(self.map, "description")?
                .unwrap_or_default(),
            severity,
            kind,
            query,
            query_frequency,
            query_period,
            trigger,
            tactics: self.text_list(self.map, "tactics")?,
            relevant_techniques: self.text_list(self.map, "relevantTechniques")?,
            entity_mappings: self.entity_mappings()?,
            custom_details: self.custom_details()?,
            alert_details_override: self.alert_details_override()?,
            event_grouping: self.event_grouping()?,
            incident: self.incident_configuration()?,
            suppression,
            source: self.path.to_path_buf(),
            other_keys,
        })
    }

    fn required_trigger(&self) -> Result<Trigger, RuleError> {
        if !self.map.contains_key("triggerOperator") {
            return Err(self.missing("triggerOperator"));
        }
        if !self.map.contains_key("triggerThreshold") {
            return Err(self.missing("triggerThreshold"));
        }
        self.trigger_or(TriggerOperator::GreaterThan, 0)
    }

    fn trigger_or(
        &self,
        default_operator: TriggerOperator,
        default_threshold: u64,
    ) -> Result<Trigger, RuleError> {
        let operator = match self.optional_text(self.map, "triggerOperator")? {
            None => default_operator,
            Some(text) => TriggerOperator::parse(&text).ok_or_else(|| {
                self.invalid(
                    "triggerOperator",
                    &text,
                    "use gt, lt, eq or ne (or GreaterThan, LessThan, Equal, NotEqual)",
                )
            })?,
        };
        let threshold = match self.map.get("triggerThreshold") {
            None | Some(Value::Null) => default_threshold,
            Some(value) => value_as_u64(value).ok_or_else(|| {
                self.invalid(
                    "triggerThreshold",
                    &display_value(value),
                    "use a whole number of result rows, 0 or more",
                )
            })?,
        };
        Ok(Trigger {
            operator,
            threshold,
        })
    }

    fn entity_mappings(&self) -> Result<Vec<EntityMapping>, RuleError> {
        let key = "entityMappings";
        let Some(items) = self.optional_list(self.map, key)? else {
            return Ok(Vec::new());
        };
        let mut mappings = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{index}]");
            let Value::Object(item) = item else {
                return Err(self.invalid(
                    &item_key,
                    &display_value(item),
                    "use a mapping with entityType and fieldMappings",
                ));
            };
            let entity_type =
                self.required_text_at(item, &format!("{item_key}.entityType"), "entityType")?;
            if entity_json_type(&entity_type).is_none() {
                return Err(self.invalid(
                    &format!("{item_key}.entityType"),
                    &entity_type,
                    "use a Sentinel entity type such as Account, Host, IP, Process, File, FileHash, URL, DNS or RegistryKey",
                ));
            }
            let fields_key = format!("{item_key}.fieldMappings");
            let fields = match item.get("fieldMappings") {
                Some(Value::Array(fields)) if !fields.is_empty() => fields,
                Some(value) => {
                    return Err(self.invalid(
                        &fields_key,
                        &display_value(value),
                        "use a list of identifier and columnName pairs",
                    ));
                }
                None => return Err(self.missing(&fields_key)),
            };
            let mut field_mappings = Vec::new();
            for (field_index, field) in fields.iter().enumerate() {
                let field_key = format!("{fields_key}[{field_index}]");
                let Value::Object(field) = field else {
                    return Err(self.invalid(
                        &field_key,
                        &display_value(field),
                        "use a mapping with identifier and columnName",
                    ));
                };
                let identifier =
                    self.required_text_at(field, &format!("{field_key}.identifier"), "identifier")?;
                let column =
                    self.required_text_at(field, &format!("{field_key}.columnName"), "columnName")?;
                field_mappings.push((identifier, column));
            }
            mappings.push(EntityMapping {
                entity_type,
                field_mappings,
            });
        }
        Ok(mappings)
    }

    fn custom_details(&self) -> Result<Vec<(String, String)>, RuleError> {
        let key = "customDetails";
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(details)) => details
                .iter()
                .map(|(name, column)| match column {
                    Value::String(column) if !column.trim().is_empty() => {
                        Ok((name.clone(), column.trim().to_string()))
                    }
                    other => Err(self.invalid(
                        &format!("{key}.{name}"),
                        &display_value(other),
                        "use the name of a result column",
                    )),
                })
                .collect(),
            Some(other) => Err(self.invalid(
                key,
                &display_value(other),
                "use a mapping of detail names to result columns",
            )),
        }
    }

    fn alert_details_override(&self) -> Result<AlertDetailsOverride, RuleError> {
        let key = "alertDetailsOverride";
        let map = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(AlertDetailsOverride::default()),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(self.invalid(
                    key,
                    &display_value(other),
                    "use a mapping with keys such as alertDisplayNameFormat",
                ));
            }
        };
        let mut dynamic_properties = Vec::new();
        if let Some(items) = self.optional_list(map, "alertDynamicProperties")? {
            for (index, item) in items.iter().enumerate() {
                let item_key = format!("{key}.alertDynamicProperties[{index}]");
                let Value::Object(item) = item else {
                    return Err(self.invalid(
                        &item_key,
                        &display_value(item),
                        "use a mapping with alertProperty and value",
                    ));
                };
                let property = self.required_text_at(
                    item,
                    &format!("{item_key}.alertProperty"),
                    "alertProperty",
                )?;
                let column = self.required_text_at(item, &format!("{item_key}.value"), "value")?;
                dynamic_properties.push((property, column));
            }
        }
        Ok(AlertDetailsOverride {
            display_name_format: self.optional_text(map, "alertDisplayNameFormat")?,
            description_format: self.optional_text(map, "alertDescriptionFormat")?,
            severity_column: self.optional_text(map, "alertSeverityColumnName")?,
            tactics_column: self.optional_text(map, "alertTacticsColumnName")?,
            dynamic_properties,
        })
    }

    fn event_grouping(&self) -> Result<EventGrouping, RuleError> {
        let key = "eventGroupingSettings";
        let map = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(EventGrouping::SingleAlert),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(self.invalid(
                    key,
                    &display_value(other),
                    "use a mapping with aggregationKind",
                ));
            }
        };
        match self.optional_text(map, "aggregationKind")? {
            None => Ok(EventGrouping::SingleAlert),
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "singlealert" => Ok(EventGrouping::SingleAlert),
                "alertperresult" => Ok(EventGrouping::AlertPerResult),
                _ => Err(self.invalid(
                    &format!("{key}.aggregationKind"),
                    &text,
                    "use SingleAlert or AlertPerResult",
                )),
            },
        }
    }

    fn incident_configuration(&self) -> Result<IncidentConfiguration, RuleError> {
        let key = "incidentConfiguration";
        let map = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(IncidentConfiguration::default()),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(self.invalid(
                    key,
                    &display_value(other),
                    "use a mapping with createIncident and groupingConfiguration",
                ));
            }
        };
        let create_incident = self.optional_bool(map, "createIncident")?.unwrap_or(true);
        let grouping = match map.get("groupingConfiguration") {
            None | Some(Value::Null) => None,
            Some(Value::Object(grouping)) => self.incident_grouping(grouping)?,
            Some(other) => {
                return Err(self.invalid(
                    &format!("{key}.groupingConfiguration"),
                    &display_value(other),
                    "use a mapping with enabled, matchingMethod and lookbackDuration",
                ));
            }
        };
        Ok(IncidentConfiguration {
            create_incident,
            grouping,
        })
    }

    fn incident_grouping(
        &self,
        map: &Map<String, Value>,
    ) -> Result<Option<IncidentGrouping>, RuleError> {
        if !self.optional_bool(map, "enabled")?.unwrap_or(false) {
            return Ok(None);
        }
        let matching = match self.optional_text(map, "matchingMethod")? {
            None => MatchingMethod::AllEntities,
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "allentities" => MatchingMethod::AllEntities,
                "anyalert" => MatchingMethod::AnyAlert,
                "selected" => MatchingMethod::Selected,
                _ => {
                    return Err(self.invalid(
                        "incidentConfiguration.groupingConfiguration.matchingMethod",
                        &text,
                        "use AllEntities, AnyAlert or Selected",
                    ));
                }
            },
        };
        let mut group_by_entities = Vec::new();
        for entity_type in self.text_list(map, "groupByEntities")? {
            let Some(json_type) = entity_json_type(&entity_type) else {
                return Err(self.invalid(
                    "incidentConfiguration.groupingConfiguration.groupByEntities",
                    &entity_type,
                    "use Sentinel entity types such as Account, Host or IP",
                ));
            };
            group_by_entities.push(json_type.to_string());
        }
        Ok(Some(IncidentGrouping {
            reopen_closed_incident: self
                .optional_bool(map, "reopenClosedIncident")?
                .unwrap_or(false),
            lookback: self
                .optional_timespan(map, "lookbackDuration")?
                .unwrap_or(DEFAULT_FIVE_HOURS),
            matching,
            group_by_entities,
            group_by_alert_details: self.text_list(map, "groupByAlertDetails")?,
            group_by_custom_details: self.text_list(map, "groupByCustomDetails")?,
        }))
    }

    // Value readers. `key` is the name used in error messages.

    fn missing(&self, key: &str) -> RuleError {
        RuleError::MissingKey {
            path: self.path.to_path_buf(),
            key: key.to_string(),
        }
    }

    fn invalid(&self, key: &str, value: &str, expected: &str) -> RuleError {
        RuleError::InvalidValue {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            value: format!("`{value}`"),
            expected: expected.to_string(),
        }
    }

    fn optional_text(
        &self,
        map: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<String>, RuleError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim().to_string())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
            Some(other) => Err(self.invalid(key, &display_value(other), "use a single text value")),
        }
    }

    fn required_text(&self, map: &Map<String, Value>, key: &str) -> Result<String, RuleError> {
        self.required_text_at(map, key, key)
    }

    /// Reads `key` from `map`, naming it `full_key` in errors.
    fn required_text_at(
        &self,
        map: &Map<String, Value>,
        full_key: &str,
        key: &str,
    ) -> Result<String, RuleError> {
        match map.get(key) {
            None | Some(Value::Null) => Err(self.missing(full_key)),
            Some(Value::String(text)) if text.trim().is_empty() => Err(self.missing(full_key)),
            Some(Value::String(text)) => Ok(text.trim().to_string()),
            Some(Value::Number(number)) => Ok(number.to_string()),
            Some(other) => {
                Err(self.invalid(full_key, &display_value(other), "use a single text value"))
            }
        }
    }

    fn optional_bool(
        &self,
        map: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<bool>, RuleError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" => Ok(Some(true)),
                "false" | "no" => Ok(Some(false)),
                _ => Err(self.invalid(key, text, "use true or false")),
            },
            Some(other) => Err(self.invalid(key, &display_value(other), "use true or false")),
        }
    }

    fn optional_timespan(
        &self,
        map: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<i64>, RuleError> {
        let Some(text) = self.optional_text(map, key)? else {
            return Ok(None);
        };
        parse_rule_timespan(&text)
            .map(Some)
            .ok_or_else(|| self.invalid(key, &text, TIMESPAN_HINT))
    }

    fn required_timespan(&self, map: &Map<String, Value>, key: &str) -> Result<i64, RuleError> {
        self.optional_timespan(map, key)?
            .ok_or_else(|| self.missing(key))
    }

    fn optional_list<'m>(
        &self,
        map: &'m Map<String, Value>,
        key: &str,
    ) -> Result<Option<&'m Vec<Value>>, RuleError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.invalid(key, &display_value(other), "use a YAML list")),
        }
    }

    /// Reads a list of text values; a single text value is a list of one.
    fn text_list(&self, map: &Map<String, Value>, key: &str) -> Result<Vec<String>, RuleError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(text)) => Ok(split_text_list(text)),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.trim().to_string()),
                    other => {
                        Err(self.invalid(key, &display_value(other), "use a list of text values"))
                    }
                })
                .filter(|item| !matches!(item, Ok(text) if text.is_empty()))
                .collect(),
            Some(other) => {
                Err(self.invalid(key, &display_value(other), "use a list of text values"))
            }
        }
    }
}

/// Splits a comma-separated list, dropping empty items.
pub(crate) fn split_text_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

fn value_as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Shows a YAML value in an error message, shortened to one line.
fn display_value(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 60 {
        format!("{}...", line.chars().take(60).collect::<String>())
    } else {
        line.to_string()
    }
}
