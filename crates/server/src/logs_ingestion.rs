//! The Logs Ingestion API shape that Azure Monitor's clients send:
//! `POST /dataCollectionRules/{rule}/streams/{stream}?api-version=...` with
//! a JSON array of records, often gzipped.
//!
//! Azure's clients accept only 204, so a request with some refused records
//! still answers 204 when any record was stored; the counts and the first
//! errors are in the `x-homesoc-accepted-records`,
//! `x-homesoc-rejected-records` and `x-homesoc-errors` headers, in
//! `/metrics`, and in the log. A request whose every record is refused
//! answers 400 with each record's error.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::{Shared, decoded_body, error, require, store_failure, store_failure_reason};
use crate::auth::Scope;

/// Errors listed in the `x-homesoc-errors` header at most.
const HEADER_ERRORS: usize = 5;

/// Handles one upload.
pub async fn upload(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    Path((rule, stream_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Ingest) {
        return refusal;
    }
    let Some(stream) = state.config.stream(&rule, &stream_name) else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!(
                "no stream {stream_name} in data collection rule {rule}; define it in homesoc.toml"
            ),
        );
    };
    let Some(table) = store::tables::ALL_TABLES
        .iter()
        .copied()
        .find(|t| t.name == stream.table)
    else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal",
            "unknown output table",
        );
    };
    let source = format!("logs_ingestion/{stream_name}");
    let limits = &state.config.limits;
    let body = match decoded_body(&headers, body, limits.max_body_bytes) {
        Ok(body) => body,
        Err(refusal) => {
            state.metrics.dropped(&source, "bad_body", 1);
            return refusal;
        }
    };
    let records: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(Value::Array(records)) => records,
        Ok(_) => {
            state.metrics.dropped(&source, "not_array", 1);
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidPayload",
                "the body must be a JSON array of records",
            );
        }
        Err(err) => {
            state.metrics.dropped(&source, "bad_json", 1);
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidPayload",
                &format!("the body is not JSON: {err}"),
            );
        }
    };
    let received = records.len();
    state.metrics.received(&source, received);
    if received > limits.max_records {
        state.metrics.dropped(&source, "too_many_records", received);
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "TooManyRecords",
            &format!(
                "{received} records in one request, more than the limit of {}; send smaller batches",
                limits.max_records
            ),
        );
    }

    let batch_id = format!("live-{}", uuid::Uuid::new_v4());
    let now_ticks = engine::time::ticks_from_datetime(chrono::Utc::now());
    let transformed = match crate::dcr::transform(
        &state.engine,
        stream,
        table,
        records,
        limits.max_fields,
        &batch_id,
        now_ticks,
    )
    .await
    {
        Ok(transformed) => transformed,
        Err(message) => {
            state.metrics.dropped(&source, "transform_failed", received);
            tracing::warn!(stream = %stream_name, error = %message, "transform failed; batch refused");
            return error(StatusCode::BAD_REQUEST, "TransformFailed", &message);
        }
    };
    for record_error in &transformed.errors {
        state.metrics.dropped(&source, record_error.reason, 1);
    }
    for column in &transformed.dropped_columns {
        state.metrics.dropped_field(&stream_name, column);
    }
    let rows = transformed.batch.num_rows();
    // Records the transform's own filters removed are dropped on purpose.
    let filtered = received.saturating_sub(rows + transformed.errors.len());
    state
        .metrics
        .dropped(&source, "filtered_by_transform", filtered);
    if rows > 0
        && let Err(err) = state.live.append(table, transformed.batch).await
    {
        state
            .metrics
            .dropped(&source, store_failure_reason(&err), rows);
        tracing::warn!(stream = %stream_name, rows, error = %err, "batch not stored");
        return store_failure(&err);
    }
    state.metrics.accepted(&source, rows);

    let errors = &transformed.errors;
    if !errors.is_empty() {
        tracing::warn!(stream = %stream_name, accepted = rows, rejected = errors.len(), first = %errors[0].message, "records refused");
    }
    if rows == 0 && !errors.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "error": {
                    "code": "InvalidRecords",
                    "message": format!("all {} records were refused", errors.len()),
                    "details": errors,
                }
            })),
        )
            .into_response();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("x-homesoc-accepted-records", HeaderValue::from(rows));
    headers.insert(
        "x-homesoc-rejected-records",
        HeaderValue::from(errors.len()),
    );
    if !errors.is_empty() {
        let first: Vec<_> = errors.iter().take(HEADER_ERRORS).collect();
        if let Ok(value) = HeaderValue::from_str(&json!(first).to_string()) {
            headers.insert("x-homesoc-errors", value);
        }
    }
    response
}
