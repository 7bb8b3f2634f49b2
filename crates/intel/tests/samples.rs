//! Imports every sample MISP event and STIX bundle of the corpus and checks
//! the indicator counts per column.

mod common;

use std::collections::BTreeMap;

use common::{corpus_dir, table_rows};
use intel::indicator::{Indicator, ObservableValue, Validity, now_ticks};
use intel::misp::event::parse_event;
use intel::misp::event_indicators;
use intel::stix::bundle_indicators;
use intel::write::write_rows;
use store::Workspace;

/// Expected counts per column, `FileHashType=<type>` counting hash types.
type ColumnCounts = &'static [(&'static str, usize)];

/// Counts the indicators that fill each column, and the hash types.
fn column_counts(indicators: &[Indicator]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for indicator in indicators {
        for (column, value) in &indicator.observables {
            *counts.entry(column.clone()).or_default() += 1;
            if column == "FileHashType"
                && let ObservableValue::Text(hash_type) = value
            {
                *counts
                    .entry(format!("FileHashType={hash_type}"))
                    .or_default() += 1;
            }
        }
    }
    counts
}

fn event_file(path: &str) -> Vec<Indicator> {
    let full = corpus_dir().join("misp").join(path);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&full).unwrap()).unwrap();
    let event = parse_event(&json).unwrap_or_else(|| panic!("{path}: no event"));
    event_indicators(&event, "samples", None).active
}

fn check(indicators: &[Indicator], rows: usize, expected: &[(&str, usize)], file: &str) {
    assert_eq!(indicators.len(), rows, "{file}: rows");
    let counts = column_counts(indicators);
    for (column, count) in expected {
        assert_eq!(
            counts.get(*column).copied().unwrap_or(0),
            *count,
            "{file}: {column}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn misp_sample_events() {
    let cases: &[(&str, usize, ColumnCounts)] = &[
        (
            "events-pymisp/57c4445b-c548-4654-af0b-4be3950d210f.json",
            4,
            &[
                ("FileHashType=md5", 1),
                ("FileHashType=sha1", 1),
                ("FileHashType=sha256", 1),
                ("FileName", 1),
            ],
        ),
        (
            "events-pymisp/long_event.json",
            257,
            &[
                ("FileHashValue", 219),
                ("FileHashType=md5", 75),
                ("FileHashType=sha1", 57),
                ("FileHashType=sha256", 84),
                ("FileHashType=unknown", 3),
                ("FileName", 92),
                ("Url", 14),
                ("DomainName", 12),
                ("NetworkIP", 8),
                ("NetworkDestinationIP", 8),
                ("EmailSenderAddress", 0),
            ],
        ),
        (
            "events-pymisp/sighting_1.json",
            5,
            &[("DomainName", 4), ("Url", 1)],
        ),
        (
            "events-pymisp/to_delete2.json",
            117,
            &[
                ("NetworkIP", 93),
                ("NetworkPort", 3),
                ("FileHashValue", 22),
                ("FileName", 2),
            ],
        ),
        (
            "events-pymisp/to_delete3.json",
            62,
            &[
                ("NetworkIP", 43),
                ("FileHashValue", 15),
                ("FileName", 4),
                ("NetworkPort", 0),
            ],
        ),
        ("events-pymisp/malware_exist.json", 3, &[]),
        (
            "events-misp-core/misp_indicators_test.json",
            51,
            &[
                ("NetworkIP", 12),
                ("NetworkSourceIP", 6),
                ("NetworkDestinationIP", 5),
                ("NetworkPort", 2),
                ("DomainName", 9),
                ("EmailRecipient", 3),
                ("EmailSenderAddress", 2),
                ("Url", 2),
                ("FileHashValue", 16),
                ("FileName", 6),
                ("FileMutexName", 1),
                ("NetworkSourceAsn", 1),
                ("EmailSubject", 1),
            ],
        ),
        (
            "events-misp-core/tests-event.json",
            27,
            &[("FileHashType=md5", 27)],
        ),
    ];

    let mut all = Vec::new();
    for (file, rows, expected) in cases {
        let indicators = event_file(file);
        check(&indicators, *rows, expected, file);
        all.extend(indicators);
    }
    assert!(
        event_file("events-pymisp/sighting_1.json")
            .iter()
            .all(|i| i.tlp == "Red"),
        "no TLP tag gives Red"
    );
    assert!(
        event_file("events-misp-core/tests-event.json")
            .iter()
            .all(|i| i.tlp == "Red")
    );

    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let total = all.len();
    write_rows(
        &workspace,
        "samples",
        "samples",
        all,
        Vec::new(),
        now_ticks(),
        Validity::default(),
    )
    .await
    .unwrap();
    let rows = table_rows(
        &workspace,
        "ThreatIntelligenceIndicator",
        &["IndicatorId", "NetworkPort"],
    )
    .await;
    assert_eq!(rows.len(), total);
    assert_eq!(
        rows.iter().filter(|r| !r["NetworkPort"].is_empty()).count(),
        3 + 2
    );
}

#[test]
fn stix_sample_bundles() {
    // (file, indicators mapped to a column, compound patterns, simple
    // patterns without a column, expected column counts)
    let cases: &[(&str, usize, u64, u64, ColumnCounts)] = &[
        (
            "oasis/indicator-for-c2-ip-address.json",
            1,
            0,
            0,
            &[("NetworkIP", 1)],
        ),
        (
            "oasis/indicator-to-campaign-relationship.json",
            1,
            0,
            0,
            &[("NetworkIP", 1)],
        ),
        (
            "oasis/indicators-for-C2-with-COA.json",
            2,
            0,
            0,
            &[("NetworkIP", 1), ("FileHashType=sha256", 1)],
        ),
        (
            "oasis/malicious-email-indicator-with-attachment.json",
            0,
            2,
            0,
            &[],
        ),
        (
            "oasis/apt1.json",
            10,
            2,
            0,
            &[
                ("NetworkCidrBlock", 4),
                ("DomainName", 3),
                ("FileHashType=md5", 3),
            ],
        ),
        (
            "oasis/poisonivy.json",
            6,
            19,
            0,
            &[("DomainName", 3), ("FileName", 2), ("NetworkIP", 1)],
        ),
        (
            "misp-stix/test_attributes_collection_stix21.json",
            2,
            1,
            0,
            &[("DomainName", 1), ("FileName", 1)],
        ),
        (
            "misp-stix/test_event2_stix21.json",
            1,
            1,
            0,
            &[("FileName", 1)],
        ),
        (
            "misp-stix/test_events_collection_stix21.json",
            2,
            1,
            0,
            &[("DomainName", 1), ("FileName", 1)],
        ),
        (
            "misp-stix/test_objects_collection_stix21.json",
            1,
            2,
            0,
            &[("EmailSenderAddress", 1)],
        ),
    ];
    for (file, mapped, compound, unmapped, expected) in cases {
        let path = corpus_dir().join("stix").join(file);
        let bundle = bundle_indicators(&std::fs::read(&path).unwrap(), file, "stix")
            .unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(bundle.compound, *compound, "{file}: compound patterns");
        assert_eq!(
            bundle.unmapped, *unmapped,
            "{file}: patterns without a column"
        );
        check(&bundle.indicators, *mapped, expected, file);
    }
}

#[test]
fn every_stix_bundle_imports() {
    let mut files = Vec::new();
    for folder in ["oasis", "misp-stix"] {
        for entry in std::fs::read_dir(corpus_dir().join("stix").join(folder)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    // Not a bundle: a map from MISP type to the STIX objects MISP makes.
    files.retain(|path| !path.ends_with("misp_attributes_to_stix21.json"));
    assert!(files.len() >= 10, "{files:?}");
    for path in files {
        let bundle = bundle_indicators(
            &std::fs::read(&path).unwrap(),
            &path.display().to_string(),
            "stix",
        )
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        assert!(
            bundle.indicators.len() as u64 + bundle.compound + bundle.unmapped > 0,
            "{}",
            path.display()
        );
    }
    let attributes = corpus_dir().join("stix/misp-stix/misp_attributes_to_stix21.json");
    let by_type: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&attributes).unwrap()).unwrap();
    let objects: Vec<serde_json::Value> = by_type
        .values()
        .flat_map(|entry| match &entry["STIX"] {
            serde_json::Value::Array(objects) => objects.clone(),
            object => vec![object.clone()],
        })
        .collect();
    let bundle_json = serde_json::json!({"type": "bundle", "id": "bundle--0", "objects": objects});
    let bundle = bundle_indicators(
        &serde_json::to_vec(&bundle_json).unwrap(),
        "attributes",
        "stix",
    )
    .unwrap();
    assert_eq!(
        bundle.indicators.len() as u64 + bundle.unmapped,
        46,
        "simple patterns"
    );
    assert_eq!(
        bundle.other_pattern_types, 4,
        "sigma, snort, suricata and yara"
    );
    assert_eq!(
        bundle.compound + bundle.other_pattern_types,
        32,
        "patterns that are not one comparison"
    );
}
