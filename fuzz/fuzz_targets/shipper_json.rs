//! Shipper request bodies: an Elasticsearch `_bulk` NDJSON body, or a
//! Logs Ingestion API JSON array run through a data collection rule's
//! transform. The first byte picks which. Rejected input is expected, but
//! panics are bugs.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use engine::Engine;
use homesoc_fuzz::config::StreamConfig;
use homesoc_fuzz::{bulk_body, dcr};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use store::TableDef;
use store::builder::TableBatchBuilder;

/// 2026-12-05T00:00:00Z in 100 ns ticks since the Unix epoch.
const NOW_TICKS: i64 = 17_964_288_000_000_000;

/// Fields per document or record, smaller than the server's default so
/// that the fuzzer reaches the limit.
const MAX_FIELDS: usize = 50;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    stream: StreamConfig,
    table: &'static TableDef,
}

/// Returns the shared fixture: a stream into the `Event` table that
/// declares a column of every KQL type, with the default transform `source`.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let columns: BTreeMap<String, String> = [
            ("TimeGenerated", "datetime"),
            ("EventID", "int"),
            ("EventLevel", "long"),
            ("Score", "real"),
            ("Amount", "decimal"),
            ("Elevated", "bool"),
            ("Elapsed", "timespan"),
            ("ActivityId", "guid"),
            ("Computer", "string"),
            ("EventData", "dynamic"),
        ]
        .into_iter()
        .map(|(name, ty)| (name.to_string(), ty.to_string()))
        .collect();
        let table = store::tables::ALL_TABLES
            .iter()
            .copied()
            .find(|t| t.name == "Event")
            .expect("the store defines the Event table");
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds"),
            engine: Engine::new(),
            stream: StreamConfig {
                name: "Custom-Fuzz".to_string(),
                table: table.name.to_string(),
                transform_kql: "source".to_string(),
                columns,
            },
            table,
        }
    })
}

/// Reads a `_bulk` body as the server does and appends each Winlogbeat
/// document's row to its table's batch.
fn bulk(body: &[u8]) {
    let mut builders: HashMap<&'static str, TableBatchBuilder> = HashMap::new();
    for action in bulk_body::actions(body, Some("winlogbeat")) {
        let Ok(action) = action else {
            return;
        };
        let Some(document) = action.document else {
            continue;
        };
        let Ok(row) = bulk_body::document_row(document, MAX_FIELDS) else {
            continue;
        };
        let table = row.table();
        let builder = builders
            .entry(table.name)
            .or_insert_with(|| TableBatchBuilder::new(table, "fuzz", NOW_TICKS, 16));
        let _ = builder.append_row(&row);
    }
    for builder in builders.values_mut() {
        builder.finish();
    }
}

/// Reads a Logs Ingestion body as the server does and runs the stream's
/// transform over its records.
fn logs_ingestion(body: &[u8]) {
    let Ok(Value::Array(records)) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let fixture = fixture();
    let transformed = fixture.runtime.block_on(dcr::transform(
        &fixture.engine,
        &fixture.stream,
        fixture.table,
        records.clone(),
        MAX_FIELDS,
        "fuzz",
        NOW_TICKS,
    ));
    if let Ok(transformed) = transformed {
        assert!(transformed.batch.num_rows() + transformed.errors.len() <= records.len());
        for error in &transformed.errors {
            assert!(error.index < records.len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        bulk(body);
    } else {
        logs_ingestion(body);
    }
});
