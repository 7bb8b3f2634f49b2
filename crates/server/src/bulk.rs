//! Enough of the Elasticsearch API for shippers: `GET /` with the product
//! header, and `_bulk` with `index` and `create` actions and per-item
//! results. Winlogbeat documents become `SecurityEvent` and `Event` rows
//! ([`ingest::winlogbeat`]); other documents are refused per item.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use store::builder::TableBatchBuilder;

use crate::app::{Shared, decoded_body, require, store_failure_reason};
use crate::auth::Scope;
use crate::bulk_body;

/// The Elasticsearch version homesoc answers as; clients check the major.
const COMPATIBLE_VERSION: &str = "8.17.0";

/// The metric source of `_bulk` requests.
const SOURCE: &str = "elasticsearch_bulk";

fn with_product(mut response: Response) -> Response {
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

/// `GET /`: the cluster information that clients check on connect.
pub async fn info(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Ingest) {
        return with_product(refusal);
    }
    with_product(
        axum::Json(json!({
            "name": "homesoc",
            "cluster_name": "homesoc",
            "cluster_uuid": "homesoc",
            "version": {
                "number": COMPATIBLE_VERSION,
                "build_flavor": "default",
                "build_type": "homesoc",
                "build_hash": "homesoc",
                "build_date": "2024-12-11T12:08:05.663969764Z",
                "build_snapshot": false,
                "lucene_version": "9.12.0",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }))
        .into_response(),
    )
}

/// `HEAD /`: the connection check.
pub async fn info_head(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match require(&state, &headers, address.ip(), Scope::Ingest) {
        Ok(_) => with_product(StatusCode::OK.into_response()),
        Err(refusal) => with_product(refusal),
    }
}

/// `POST /{index}/_bulk`.
pub async fn bulk_index(
    State(state): State<Shared>,
    connect: ConnectInfo<SocketAddr>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, connect, Some(index), headers, body).await
}

/// `POST /_bulk`.
pub async fn bulk(
    State(state): State<Shared>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, connect, None, headers, body).await
}

/// The outcome of one bulk item.
enum Item {
    /// Stored in the table with this name, pending the append.
    Row { table: &'static str },
    /// Refused, with HTTP status, error type and reason.
    Refused(u16, &'static str, String),
}

async fn handle(
    state: Shared,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    default_index: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Ingest) {
        return with_product(refusal);
    }
    let limits = &state.config.limits;
    let body = match decoded_body(&headers, body, limits.max_body_bytes) {
        Ok(body) => body,
        Err(refusal) => {
            state.metrics.dropped(SOURCE, "bad_body", 1);
            return with_product(refusal);
        }
    };

    let batch_id = format!("live-{}", uuid::Uuid::new_v4());
    let now_ticks = engine::time::ticks_from_datetime(chrono::Utc::now());
    let mut builders: BTreeMap<&'static str, TableBatchBuilder> = BTreeMap::new();
    let mut items: Vec<(String, String, Item)> = Vec::new();
    for action in bulk_body::actions(&body, default_index.as_deref()) {
        if items.len() >= limits.max_records {
            state.metrics.dropped(SOURCE, "too_many_records", 1);
            return with_product(crate::app::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TooManyRecords",
                &format!(
                    "more than {} actions in one request; send smaller batches",
                    limits.max_records
                ),
            ));
        }
        let action = match action {
            Ok(action) => action,
            Err(err) => {
                if let Some(reason) = err.reason {
                    state.metrics.dropped(SOURCE, reason, 1);
                }
                return with_product(bulk_error(&err.message));
            }
        };
        state.metrics.received(SOURCE, 1);
        let Some(document) = action.document else {
            state.metrics.dropped(SOURCE, "unsupported_action", 1);
            items.push((
                action.kind,
                action.index,
                Item::Refused(
                    400,
                    "illegal_argument_exception",
                    "homesoc stores events append-only; delete is not supported".into(),
                ),
            ));
            continue;
        };
        if action.kind != "index" && action.kind != "create" {
            state.metrics.dropped(SOURCE, "unsupported_action", 1);
            let reason = format!(
                "the {} action is not supported; use index or create",
                action.kind
            );
            items.push((
                action.kind,
                action.index,
                Item::Refused(400, "illegal_argument_exception", reason),
            ));
            continue;
        }
        let item = match bulk_body::document_row(document, limits.max_fields) {
            Err(err) => {
                state.metrics.dropped(SOURCE, err.reason, 1);
                Item::Refused(400, "mapper_parsing_exception", err.message)
            }
            Ok(row) => {
                let table = row.table();
                let builder = builders
                    .entry(table.name)
                    .or_insert_with(|| TableBatchBuilder::new(table, &batch_id, now_ticks, 1024));
                match builder.append_row(&row) {
                    Ok(()) => Item::Row { table: table.name },
                    Err(err) => {
                        state.metrics.dropped(SOURCE, "bad_time", 1);
                        Item::Refused(400, "mapper_parsing_exception", err.to_string())
                    }
                }
            }
        };
        items.push((action.kind, action.index, item));
    }

    // Append each table's rows; a table whose append fails fails its items.
    let mut failed: BTreeMap<&'static str, store::StoreError> = BTreeMap::new();
    for (name, mut builder) in builders {
        let table = builder.table();
        let batch = builder.finish();
        let rows = batch.num_rows();
        match state.live.append(table, batch).await {
            Ok(_) => state.metrics.accepted(SOURCE, rows),
            Err(err) => {
                state
                    .metrics
                    .dropped(SOURCE, store_failure_reason(&err), rows);
                tracing::warn!(table = name, rows, error = %err, "bulk rows not stored");
                failed.insert(name, err);
            }
        }
    }
    let stored_any = items
        .iter()
        .any(|(_, _, item)| matches!(item, Item::Row { table } if !failed.contains_key(table)));
    if !failed.is_empty() && !stored_any {
        let err = failed.values().next().expect("failed is not empty");
        return with_product(crate::app::store_failure(err));
    }

    let mut errors = false;
    let results: Vec<Value> = items
        .into_iter()
        .map(|(kind, index, item)| {
            let result = match item {
                Item::Row { table } => match failed.get(table) {
                    None => json!({
                        "_index": index, "_id": uuid::Uuid::new_v4().to_string(),
                        "_version": 1, "result": "created", "status": 201,
                        "_shards": {"total": 1, "successful": 1, "failed": 0},
                        "_seq_no": 0, "_primary_term": 1
                    }),
                    Some(err) => {
                        errors = true;
                        json!({"_index": index, "status": 503,
                               "error": {"type": "unavailable_shards_exception", "reason": err.to_string()}})
                    }
                },
                Item::Refused(status, kind_of_error, reason) => {
                    errors = true;
                    json!({"_index": index, "status": status,
                           "error": {"type": kind_of_error, "reason": reason}})
                }
            };
            let mut entry = serde_json::Map::new();
            entry.insert(kind, result);
            Value::Object(entry)
        })
        .collect();
    with_product(
        axum::Json(json!({ "took": 1, "errors": errors, "items": results })).into_response(),
    )
}

fn bulk_error(reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "error": {"type": "illegal_argument_exception", "reason": reason},
            "status": 400
        })),
    )
        .into_response()
}
