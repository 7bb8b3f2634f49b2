//! Compares the compiled-in table definitions with the Azure Monitor
//! reference copies kept in the shared corpus, column by column.

use std::path::PathBuf;

use kql::KqlType;
use store::reference_tables::REFERENCE_TABLES;
use store::schema::TableDef;
use store::tables::{
    ALL_TABLES, COMMON_SECURITY_LOG, EVENT, SECURITY_EVENT, SYSLOG, THREAT_INTEL_INDICATORS,
    THREAT_INTELLIGENCE_INDICATOR, WINDOWS_EVENT, table_by_name,
};

fn reference_dir() -> PathBuf {
    manifest_dir().join("../../../shared/corpus/sentinel/schemas/tables")
}

/// The crate folder, read when the test runs: Cargo can reuse a test binary
/// built in another checkout that shares the build cache, and a path fixed
/// at compile time would then point into that checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// Lists every difference between `table` and the reference JSON file of
/// the same name.
fn differences(table: &TableDef) -> Vec<String> {
    let path = reference_dir().join(format!("{}.json", table.name));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("reference file is JSON");
    assert_eq!(
        json["table"],
        table.name,
        "table name in {}",
        path.display()
    );
    let reference = json["columns"].as_array().expect("columns array");

    let mut diffs = Vec::new();
    if reference.len() != table.columns.len() {
        diffs.push(format!(
            "{}: {} columns in the reference, {} defined",
            table.name,
            reference.len(),
            table.columns.len()
        ));
    }
    for (i, expected) in reference.iter().enumerate() {
        let name = expected["name"].as_str().expect("column name");
        let type_name = expected["type"].as_str().expect("column type");
        let Some(ty) = KqlType::from_name(type_name) else {
            diffs.push(format!(
                "{}.{name}: unknown KQL type {type_name}",
                table.name
            ));
            continue;
        };
        match table.columns.get(i) {
            None => diffs.push(format!("{}[{i}]: missing, expected {name}", table.name)),
            Some(actual) if actual.name != name || actual.ty != ty => diffs.push(format!(
                "{}[{i}]: defined {}:{}, reference {name}:{ty}",
                table.name, actual.name, actual.ty
            )),
            Some(_) => {}
        }
    }
    for (i, extra) in table.columns.iter().enumerate().skip(reference.len()) {
        diffs.push(format!(
            "{}[{i}]: {} is not in the reference",
            table.name, extra.name
        ));
    }
    diffs
}

#[test]
fn security_event_matches_reference() {
    let diffs = differences(&SECURITY_EVENT);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(SECURITY_EVENT.columns.len(), 218);
}

#[test]
fn event_matches_reference() {
    let diffs = differences(&EVENT);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(EVENT.columns.len(), 22);
}

#[test]
fn windows_event_matches_reference() {
    let diffs = differences(&WINDOWS_EVENT);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn reference_tables_match_reference() {
    for table in REFERENCE_TABLES {
        let diffs = differences(table);
        assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    }
}

#[test]
fn reference_tables_are_not_stored_tables() {
    for table in REFERENCE_TABLES {
        assert_eq!(
            table_by_name(table.name),
            None,
            "{} is defined as a stored table and as an empty reference table",
            table.name
        );
    }
}

#[test]
fn syslog_tables_match_reference() {
    let diffs = differences(&SYSLOG);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(SYSLOG.columns.len(), 17);
    let diffs = differences(&COMMON_SECURITY_LOG);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(COMMON_SECURITY_LOG.columns.len(), 163);
}

#[test]
fn threat_intelligence_indicator_matches_reference() {
    let diffs = differences(&THREAT_INTELLIGENCE_INDICATOR);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(THREAT_INTELLIGENCE_INDICATOR.columns.len(), 64);
}

#[test]
fn threat_intel_indicators_matches_reference() {
    let diffs = differences(&THREAT_INTEL_INDICATORS);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(THREAT_INTEL_INDICATORS.columns.len(), 27);
}

#[test]
fn column_names_are_unique() {
    for table in ALL_TABLES.iter().chain(REFERENCE_TABLES.iter()) {
        let mut names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate column in {}", table.name);
    }
}

#[test]
fn table_lookup_by_name() {
    assert_eq!(table_by_name("SecurityEvent"), Some(&SECURITY_EVENT));
    assert_eq!(table_by_name("Event"), Some(&EVENT));
    assert_eq!(table_by_name("WindowsEvent"), Some(&WINDOWS_EVENT));
    assert_eq!(table_by_name("securityevent"), None);
    assert_eq!(table_by_name("Syslog"), Some(&SYSLOG));
    assert_eq!(table_by_name("Heartbeat"), None);
}
