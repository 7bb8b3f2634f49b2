//! Queries over HTTP: `POST /api/query` in the command line's JSON shape,
//! and Kusto's REST shapes (`/v1/rest/query`, `/v2/rest/query`) for Kusto
//! clients such as `azure-kusto-data`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::{QueryOptions, QueryResult, output};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{Shared, error, require};
use crate::auth::Scope;

/// The longest timeout a request may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize)]
struct ApiQuery {
    query: String,
    /// ISO 8601 instant for `now()`.
    #[serde(default)]
    now: Option<String>,
    /// Seconds.
    #[serde(default)]
    timeout: Option<u64>,
}

/// A query that failed, with the status to answer.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

async fn run(
    state: &Shared,
    text: &str,
    now: Option<&str>,
    timeout: Option<u64>,
) -> Result<QueryResult, Failure> {
    let mut options = QueryOptions::default();
    if let Some(seconds) = timeout {
        options.timeout = Duration::from_secs(seconds).min(MAX_TIMEOUT);
    }
    if let Some(now) = now {
        options.now_ticks = engine::time::parse_datetime(now).ok_or_else(|| Failure {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            message: format!("invalid now value `{now}`: use an ISO 8601 UTC datetime such as 2024-05-01T12:00:00Z"),
        })?;
    }
    let catalog = store::catalog::load(&state.workspace, &state.engine, None)
        .await
        .map_err(|err| Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "StorageError",
            message: err.to_string(),
        })?;
    state
        .engine
        .run(text, &catalog, &options)
        .await
        .map_err(|err| Failure {
            status: StatusCode::BAD_REQUEST,
            code: "BadQuery",
            message: err.render(text),
        })
}

/// `POST /api/query` with `{"query": "...", "now": "...", "timeout": 30}`;
/// answers `{"columns": [...], "rows": [...]}` as `homesoc query --format json`.
pub async fn api_query(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Query) {
        return refusal;
    }
    let request: ApiQuery = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("send {{\"query\": \"...\"}} with optional now and timeout: {err}"),
            );
        }
    };
    match run(
        &state,
        &request.query,
        request.now.as_deref(),
        request.timeout,
    )
    .await
    {
        Ok(result) => axum::Json(output::to_json_document(&result)).into_response(),
        Err(failure) => error(failure.status, failure.code, &failure.message),
    }
}

/// A Kusto REST request body.
#[derive(Debug, Deserialize)]
struct KustoRequest {
    #[serde(default)]
    #[allow(dead_code)]
    db: Option<String>,
    csl: String,
    #[serde(default)]
    properties: Option<Value>,
}

impl KustoRequest {
    /// Reads `servertimeout` from the client request properties, if set.
    fn timeout_seconds(&self) -> Option<u64> {
        let properties = match &self.properties {
            Some(Value::String(text)) => serde_json::from_str(text).ok()?,
            Some(other) => other.clone(),
            None => return None,
        };
        let timeout = properties.get("Options")?.get("servertimeout")?.as_str()?;
        engine::time::parse_timespan(timeout).map(|ticks| (ticks / 10_000_000).max(1) as u64)
    }
}

async fn kusto_request(
    state: &Shared,
    address: SocketAddr,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<QueryResult, Response> {
    require(state, headers, address.ip(), Scope::Query)?;
    let request: KustoRequest = serde_json::from_slice(body).map_err(|err| {
        kusto_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("send {{\"db\": \"...\", \"csl\": \"...\"}}: {err}"),
        )
    })?;
    run(state, &request.csl, None, request.timeout_seconds())
        .await
        .map_err(|failure| kusto_error(failure.status, failure.code, &failure.message))
}

/// Kusto's error shape, which its clients turn into exceptions.
fn kusto_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "error": {
                "code": code,
                "message": message,
                "@type": "Kusto.Data.Exceptions.SemanticException",
                "@message": message,
                "@permanent": true
            }
        })),
    )
        .into_response()
}

/// The Kusto `DataType` (.NET type) of a KQL type, used by v1 columns.
fn dotnet_type(ty: kql::KqlType) -> &'static str {
    use kql::KqlType;
    match ty {
        KqlType::Bool => "Boolean",
        KqlType::Int => "Int32",
        KqlType::Long => "Int64",
        KqlType::Real => "Double",
        KqlType::Decimal => "Decimal",
        KqlType::Datetime => "DateTime",
        KqlType::Timespan => "TimeSpan",
        KqlType::Guid => "Guid",
        KqlType::Dynamic => "Object",
        KqlType::String => "String",
    }
}

fn kusto_columns(result: &QueryResult, with_dotnet_type: bool) -> Vec<Value> {
    result
        .columns
        .iter()
        .map(|c| {
            if with_dotnet_type {
                json!({"ColumnName": c.name, "DataType": dotnet_type(c.ty), "ColumnType": c.ty.to_string()})
            } else {
                json!({"ColumnName": c.name, "ColumnType": c.ty.to_string()})
            }
        })
        .collect()
}

/// `POST /v1/rest/query`: one table, v1 shape.
pub async fn kusto_v1(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = match kusto_request(&state, address, &headers, &body).await {
        Ok(result) => result,
        Err(response) => return response,
    };
    axum::Json(json!({
        "Tables": [{
            "TableName": "Table_0",
            "Columns": kusto_columns(&result, true),
            "Rows": output::rows_json(&result),
        }]
    }))
    .into_response()
}

/// `POST /v2/rest/query`: the frames of a non-progressive v2 data set.
pub async fn kusto_v2(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = match kusto_request(&state, address, &headers, &body).await {
        Ok(result) => result,
        Err(response) => return response,
    };
    axum::Json(json!([
        {"FrameType": "DataSetHeader", "IsProgressive": false, "Version": "v2.0"},
        {
            "FrameType": "DataTable", "TableId": 0, "TableKind": "QueryProperties",
            "TableName": "@ExtendedProperties",
            "Columns": [
                {"ColumnName": "TableId", "ColumnType": "int"},
                {"ColumnName": "Key", "ColumnType": "string"},
                {"ColumnName": "Value", "ColumnType": "dynamic"}
            ],
            "Rows": []
        },
        {
            "FrameType": "DataTable", "TableId": 1, "TableKind": "PrimaryResult",
            "TableName": "PrimaryResult",
            "Columns": kusto_columns(&result, false),
            "Rows": output::rows_json(&result),
        },
        {"FrameType": "DataSetCompletion", "HasErrors": false, "Cancelled": false}
    ]))
    .into_response()
}

/// `POST /v1/rest/mgmt`: control commands are not supported.
pub async fn kusto_mgmt(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Query) {
        return refusal;
    }
    kusto_error(
        StatusCode::BAD_REQUEST,
        "NotSupported",
        "homesoc runs queries only; control commands (.show, .create, ...) are not supported",
    )
}
