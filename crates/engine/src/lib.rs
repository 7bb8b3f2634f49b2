//! KQL semantics on Apache DataFusion.
//!
//! [`Engine::run`] parses a query with the `kql` crate, binds it against a
//! [`Catalog`], builds a DataFusion logical plan (no SQL text in between),
//! and executes it. Results come back as a [`QueryResult`]: Arrow batches
//! plus the KQL type of each column, which [`output`] renders as JSON, CSV
//! or a text table.
//!
//! Engine types: datetime and timespan are `Int64` 100 ns ticks, dynamic is
//! JSON text in `Utf8`. See [`time`] and [`plan::physical_type`].

pub mod catalog;
pub mod error;
pub mod functions;
mod optimizer;
pub mod output;
pub mod plan;
pub mod time;
mod udf;
pub mod value;

use std::time::Duration;

use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use catalog::{Catalog, StaticCatalog};
pub use error::EngineError;
pub use plan::{Column, Relation};

/// Memory that the queries of one [`Engine`] may hold together by default.
pub const DEFAULT_MEMORY_LIMIT: usize = 2 * 1024 * 1024 * 1024;

/// Settings of one query run.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// The instant `now()` and `ago()` use, in ticks since the Unix epoch.
    pub now_ticks: i64,
    /// The maximum time a query may run before it is cancelled.
    pub timeout: Duration,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            now_ticks: time::ticks_from_datetime(chrono::Utc::now()),
            timeout: Duration::from_secs(300),
        }
    }
}

/// The rows of a query, with the KQL type of each column.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Runs KQL queries. Cheap to clone; one engine serves many queries.
#[derive(Clone)]
pub struct Engine {
    context: SessionContext,
    /// Bytes the queries may hold together.
    memory_limit: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    /// Creates an engine with [`DEFAULT_MEMORY_LIMIT`].
    pub fn new() -> Engine {
        Engine::with_memory_limit(DEFAULT_MEMORY_LIMIT)
    }

    /// Creates an engine whose queries may hold `bytes` of memory together.
    /// Operators that can spill (sorts, some aggregations) write temporary
    /// files when they reach the limit. A query that needs more fails with
    /// a clear error instead of exhausting the machine.
    ///
    /// NOTE: DataFusion counts the memory of its operators, not of every
    /// buffer (the collected result, for one), so the process can use
    /// somewhat more than the limit.
    pub fn with_memory_limit(bytes: usize) -> Engine {
        let config = SessionConfig::new()
            .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .with_information_schema(false);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(bytes, 1.0)
            .build_arc()
            .expect("a runtime with a memory pool and the default disk manager always builds");
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rules(optimizer::rules())
            .build();
        Engine {
            context: SessionContext::new_with_state(state),
            memory_limit: bytes,
        }
    }

    /// The DataFusion session, for catalogs that need to register object
    /// stores or read tables through it.
    pub fn session(&self) -> &SessionContext {
        &self.context
    }

    /// Parses and plans a query without running it.
    pub fn plan(
        &self,
        text: &str,
        catalog: &dyn Catalog,
        options: &QueryOptions,
    ) -> Result<Relation, EngineError> {
        let query = kql::parse(text).map_err(EngineError::Syntax)?;
        let mut planner = plan::Planner::new(catalog, options.now_ticks);
        planner.plan_query(&query)
    }

    /// Parses, plans and runs a query.
    pub async fn run(
        &self,
        text: &str,
        catalog: &dyn Catalog,
        options: &QueryOptions,
    ) -> Result<QueryResult, EngineError> {
        let run = async {
            let relation = self.plan_with_data(text, catalog, options).await?;
            let columns = relation.columns.clone();
            let batches = self.collect(relation.plan).await?;
            Ok::<_, EngineError>(QueryResult { columns, batches })
        };
        tokio::time::timeout(options.timeout, run)
            .await
            .map_err(|_| {
                EngineError::Execution(format!(
                    "the query did not finish within {} s and was cancelled; narrow the time range or raise the timeout",
                    options.timeout.as_secs()
                ))
            })?
    }

    /// Plans a query whose output columns may depend on the data
    /// (`evaluate bag_unpack`, `evaluate pivot`): runs the input of each
    /// such operator to find its columns, then plans again. See
    /// [`plan::discovery`].
    pub async fn plan_with_data(
        &self,
        text: &str,
        catalog: &dyn Catalog,
        options: &QueryOptions,
    ) -> Result<Relation, EngineError> {
        let query = kql::parse(text).map_err(EngineError::Syntax)?;
        let mut discoveries = plan::discovery::Discoveries::new();
        loop {
            let mut planner = plan::Planner::new(catalog, options.now_ticks)
                .with_discoveries(discoveries.clone());
            let planned = planner.plan_query(&query);
            // A round that lacked columns may fail on a name the data
            // would have supplied, so its error counts only when nothing
            // is left to discover.
            let Some(request) = planner.take_requests().into_iter().next() else {
                return planned;
            };
            if discoveries.len() >= plan::discovery::MAX_DISCOVERIES {
                return Err(EngineError::Execution(format!(
                    "the query has more than {} `bag_unpack` and `pivot` steps to resolve; split it into several queries",
                    plan::discovery::MAX_DISCOVERIES
                )));
            }
            let batches = self.collect(request.plan.clone()).await?;
            discoveries.insert(request.key.clone(), request.discover(&batches)?);
        }
    }

    /// Runs a logical plan and collects its rows.
    async fn collect(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
    ) -> Result<Vec<RecordBatch>, EngineError> {
        let frame = self
            .context
            .execute_logical_plan(plan)
            .await
            .map_err(|e| self.execution_error(e))?;
        frame.collect().await.map_err(|e| self.execution_error(e))
    }

    /// Describes a failure while running a plan, in words for the user when
    /// the memory limit was hit.
    fn execution_error(&self, error: DataFusionError) -> EngineError {
        match error.find_root() {
            DataFusionError::ResourcesExhausted(detail) => EngineError::Execution(format!(
                "the query needs more memory than its limit of {} MiB; narrow the time range, filter before summarize or join, or raise the memory limit. DataFusion reported: {detail}",
                self.memory_limit / (1024 * 1024)
            )),
            _ => EngineError::Execution(error.to_string()),
        }
    }

    /// Returns the query's output columns with their KQL types and its
    /// optimized DataFusion plan, as text.
    pub async fn explain(
        &self,
        text: &str,
        catalog: &dyn Catalog,
        options: &QueryOptions,
    ) -> Result<String, EngineError> {
        let relation = self.plan_with_data(text, catalog, options).await?;
        let columns: Vec<String> = relation
            .columns
            .iter()
            .map(|c| format!("  {}: {}", c.name, c.ty))
            .collect();
        let frame = self
            .context
            .execute_logical_plan(relation.plan)
            .await
            .map_err(|e| EngineError::Execution(e.to_string()))?;
        let optimized = frame
            .into_optimized_plan()
            .map_err(|e| EngineError::Execution(e.to_string()))?;
        Ok(format!(
            "output columns:\n{}\n\noptimized DataFusion plan:\n{}",
            columns.join("\n"),
            optimized.display_indent()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_limit_fails_clearly() {
        let engine = Engine::with_memory_limit(1024 * 1024);
        let catalog = StaticCatalog::default();
        let query = "range x from 1 to 3000000 step 1 | summarize by x | summarize make_list(x)";
        let error = engine
            .run(query, &catalog, &QueryOptions::default())
            .await
            .expect_err("the query cannot fit in 1 MiB");
        let message = error.to_string();
        assert!(
            message.contains("more memory than its limit of 1 MiB"),
            "{message}"
        );
        assert!(message.contains("raise the memory limit"), "{message}");
    }

    #[tokio::test]
    async fn chained_extends_plan_linearly() {
        // Each step reads the previous column twice. Copying the steps
        // into the filter would repeat the first one 2^16 times.
        let mut query = String::from("print c0 = 'x'");
        for step in 1..=16 {
            let previous = step - 1;
            query.push_str(&format!(
                " | extend c{step} = substring(strcat(c{previous}, c{previous}), 0, 3)"
            ));
        }
        query.push_str(" | where c16 == 'xxx'");
        let engine = Engine::new();
        let catalog = StaticCatalog::default();
        let plan = engine
            .explain(&query, &catalog, &QueryOptions::default())
            .await
            .unwrap();
        assert!(plan.len() < 20_000, "plan of {} bytes", plan.len());

        let result = engine
            .run(&query, &catalog, &QueryOptions::default())
            .await
            .unwrap();
        assert_eq!(result.row_count(), 1);
    }

    #[tokio::test]
    async fn default_limit_runs_the_same_query() {
        let engine = Engine::new();
        let catalog = StaticCatalog::default();
        let query = "range x from 1 to 300000 step 1 | summarize by x | count";
        let result = engine
            .run(query, &catalog, &QueryOptions::default())
            .await
            .unwrap();
        assert_eq!(result.row_count(), 1);
    }
}
