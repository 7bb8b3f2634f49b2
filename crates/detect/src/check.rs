//! `rules check`: whether each rule file loads and its query plans against
//! the table schemas, without reading any data.

use std::path::PathBuf;

use engine::{Catalog, Engine, EngineError, QueryOptions};
use serde::Serialize;

use crate::load::RuleSet;

/// The verdict on one rule file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub path: PathBuf,
    /// The rule id, when the file loaded.
    pub id: Option<String>,
    pub name: Option<String>,
    /// The file is a valid rule.
    pub loads: bool,
    /// The query plans against the table schemas.
    pub plans: bool,
    /// KQL features the engine does not implement yet that the query uses,
    /// as the engine names them: not-supported operators and functions, and
    /// unknown functions. Only the first such feature is found, since
    /// planning stops there.
    pub missing_features: Vec<String>,
    /// Why the file did not load or the query did not plan.
    pub error: Option<String>,
    /// Fields of a Sigma rule that are not in its log source's events, with
    /// the reason; the conditions on them never hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmapped_fields: Vec<String>,
}

/// Counts over a set of checked files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckSummary {
    pub files: usize,
    pub loaded: usize,
    pub planned: usize,
    pub missing_feature: usize,
    /// Files that load but do not plan for another reason than a missing
    /// feature, such as a table homesoc does not have.
    pub other_error: usize,
}

impl CheckSummary {
    pub fn of(reports: &[CheckReport]) -> CheckSummary {
        CheckSummary {
            files: reports.len(),
            loaded: reports.iter().filter(|report| report.loads).count(),
            planned: reports.iter().filter(|report| report.plans).count(),
            missing_feature: reports
                .iter()
                .filter(|report| !report.missing_features.is_empty())
                .count(),
            other_error: reports
                .iter()
                .filter(|report| {
                    report.loads && !report.plans && report.missing_features.is_empty()
                })
                .count(),
        }
    }
}

/// Checks every rule of `set` (and reports its load errors) by planning
/// each query against `catalog` with `now` at the Unix epoch. Reports come
/// sorted by path.
pub fn check_rules(set: &RuleSet, engine: &Engine, catalog: &dyn Catalog) -> Vec<CheckReport> {
    let options = QueryOptions {
        now_ticks: 0,
        ..QueryOptions::default()
    };
    let mut reports: Vec<CheckReport> = set
        .errors
        .iter()
        .map(|err| CheckReport {
            path: err.path().to_path_buf(),
            id: None,
            name: None,
            loads: false,
            plans: false,
            missing_features: match err.innermost() {
                crate::RuleError::SigmaUnsupported { feature, .. } => vec![feature.clone()],
                _ => Vec::new(),
            },
            error: Some(err.to_string()),
            unmapped_fields: Vec::new(),
        })
        .collect();

    for rule in &set.rules {
        let outcome = engine.plan(&rule.query, catalog, &options);
        let (plans, missing_features, error) = match outcome {
            Ok(_) => (true, Vec::new(), None),
            Err(error) => (
                false,
                missing_feature(&error).into_iter().collect(),
                Some(query_error(&rule.query, &error)),
            ),
        };
        reports.push(CheckReport {
            path: rule.source.clone(),
            id: Some(rule.id.clone()),
            name: Some(rule.name.clone()),
            loads: true,
            plans,
            missing_features,
            error,
            unmapped_fields: crate::sigma::unmapped_fields(rule),
        });
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    reports
}

/// Returns the missing feature a planning error reports, if it reports one.
///
/// Besides the engine's not-supported errors, an unknown function counts:
/// the engine cannot tell a Kusto function it does not implement from a
/// misspelt name, and in published rules it is nearly always the former.
/// The report's error keeps the engine's "did you mean" help for the other
/// case.
fn missing_feature(error: &EngineError) -> Option<String> {
    match error {
        EngineError::NotSupported(diagnostic) => Some(diagnostic.message.clone()),
        EngineError::Semantic(diagnostic) if diagnostic.message.starts_with("unknown function") => {
            Some(diagnostic.message.clone())
        }
        _ => None,
    }
}

/// Formats a query error on one line, with the query line it points at.
pub fn query_error(query: &str, error: &EngineError) -> String {
    match error.diagnostic() {
        Some(diagnostic) => {
            let start = diagnostic.span.start.min(query.len());
            let line = query[..start].matches('\n').count() + 1;
            format!("query line {line}: {error}")
        }
        None => error.to_string(),
    }
}
