//! Binds a KQL syntax tree to table schemas and builds DataFusion logical
//! plans from it.
//!
//! Each tabular step produces a [`Relation`]: a logical plan plus the KQL
//! type of every output column. Physical types follow [`physical_type`];
//! the KQL types ride alongside because several KQL types share one Arrow
//! type (datetime, timespan and long are all `Int64`).

mod aggregate_expr;
mod barrier;
pub mod discovery;
mod evaluate;
mod expr;
mod externaldata;
mod functions;
mod ip_lookup;
mod join;
mod make_series;
mod multi_output;
mod mv_apply;
mod mv_expand;
mod parse;
mod percentiles;
mod reduce;
mod rolling;
mod scalars;
mod serialize;
mod summarize;
mod syntax;
mod tabular;
mod top_nested;

pub use barrier::computed_once;
pub use expr::coerce_to;

/// The column a table's plan may carry, beside its KQL columns, with each
/// row's ingestion time in ticks; `ingestion_time()` reads it. It is not
/// one of the relation's columns, so the first projection drops it and a
/// query's result never shows it.
pub const INGESTION_TIME_COLUMN: &str = "$IngestionTime";

use arrow::datatypes::DataType;
use datafusion::common::Column as DfColumn;
use datafusion::logical_expr::{Expr, LogicalPlan};
use kql::{Diagnostic, KqlType, Span, ast};
use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::error::EngineError;

/// A column of a relation: its name and KQL type.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: KqlType,
}

/// A logical plan with the KQL type of each output column, in order.
#[derive(Debug, Clone)]
pub struct Relation {
    pub plan: LogicalPlan,
    pub columns: Vec<Column>,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A DataFusion expression with its KQL type.
#[derive(Debug, Clone)]
pub struct Typed {
    pub expr: Expr,
    pub ty: KqlType,
}

impl Typed {
    pub fn new(expr: Expr, ty: KqlType) -> Typed {
        Typed { expr, ty }
    }
}

/// Returns the Arrow type the engine uses for values of a KQL type.
///
/// datetime and timespan are `Int64` ticks (see [`crate::time`]); guid and
/// dynamic are `Utf8` (dynamic contains JSON text).
/// NOTE: decimal is computed as `Float64` for now, so it keeps about 15
/// significant digits instead of 28.
pub fn physical_type(ty: KqlType) -> DataType {
    match ty {
        KqlType::Bool => DataType::Boolean,
        KqlType::Int => DataType::Int32,
        KqlType::Long | KqlType::Datetime | KqlType::Timespan => DataType::Int64,
        KqlType::Real | KqlType::Decimal => DataType::Float64,
        KqlType::String | KqlType::Guid | KqlType::Dynamic => DataType::Utf8,
    }
}

/// Drops the plan's columns that are not KQL columns of the relation, such
/// as [`INGESTION_TIME_COLUMN`], so that the result has exactly the
/// relation's columns.
fn only_declared_columns(relation: Relation) -> Result<Relation, EngineError> {
    if relation.plan.schema().fields().len() == relation.columns.len() {
        return Ok(relation);
    }
    let exprs = column_exprs(&relation.columns);
    project(relation.plan, exprs, relation.columns)
}

/// A reference to a column by exact, case-sensitive name.
pub(crate) fn column_expr(name: &str) -> Expr {
    Expr::Column(DfColumn::new_unqualified(name))
}

/// Returns the expressions that select `columns` by name, unchanged.
pub(crate) fn column_exprs(columns: &[Column]) -> Vec<Expr> {
    columns
        .iter()
        .map(|c| column_expr(&c.name).alias(&c.name))
        .collect()
}

/// Projects `plan` to `exprs`, whose output columns are `columns`.
/// Computed columns are computed once, in this projection (see
/// [`computed_once`]).
pub(crate) fn project(
    plan: LogicalPlan,
    exprs: Vec<Expr>,
    columns: Vec<Column>,
) -> Result<Relation, EngineError> {
    let (plan, exprs) = serialize::with_windows(plan, exprs)?;
    let exprs = exprs.into_iter().map(computed_once).collect();
    let plan = project_unqualified(plan, exprs)
        .and_then(|b| b.build())
        .map_err(EngineError::plan)?;
    Ok(Relation { plan, columns })
}

/// Projects `plan` to `exprs`, whose column references have no qualifier,
/// as the planner writes them. Unlike `LogicalPlanBuilder::project`, this
/// skips DataFusion's column normalization, which walks the whole input
/// plan for every column reference and made planning wide tables slow.
pub(crate) fn project_unqualified(
    plan: LogicalPlan,
    exprs: Vec<Expr>,
) -> datafusion::common::Result<datafusion::logical_expr::LogicalPlanBuilder> {
    let exprs: Vec<(Expr, bool)> = exprs.into_iter().map(|expr| (expr, false)).collect();
    datafusion::logical_expr::LogicalPlanBuilder::from(plan).project_with_validation(exprs)
}

/// Returns the value of a column that a row has no value for, as an
/// outer join or an extra row needs: an empty string for strings (KQL
/// strings are never null), null of the column's type otherwise.
pub(crate) fn empty_value(ty: KqlType) -> Result<Expr, EngineError> {
    if ty == KqlType::String {
        return Ok(datafusion::logical_expr::lit(""));
    }
    let null =
        datafusion::common::ScalarValue::try_from(&physical_type(ty)).map_err(EngineError::plan)?;
    Ok(datafusion::logical_expr::cast(
        datafusion::logical_expr::lit(null),
        physical_type(ty),
    ))
}

/// Keeps `columns` of `input`, in the given order.
pub(crate) fn select(input: Relation, columns: Vec<Column>) -> Result<Relation, EngineError> {
    project(input.plan, column_exprs(&columns), columns)
}

/// The value a `let` name is bound to.
#[derive(Debug, Clone)]
enum Binding {
    Scalar(ast::Expr),
    /// A scalar argument of a function call, planned in the caller's
    /// scopes: the first `scope_depth` scopes of the planner.
    Argument {
        expr: ast::Expr,
        scope_depth: usize,
    },
    Tabular(ast::TabularExpr),
    Function(ast::FunctionDef),
    /// An already planned relation: the piped input of `invoke`.
    Relation(Relation),
}

/// Plans one query. Holds the `let` scopes and the query's `now`.
pub(crate) struct Planner<'a> {
    catalog: &'a dyn Catalog,
    now_ticks: i64,
    scopes: Vec<HashMap<String, Binding>>,
    /// Depth of `let` expansion, to stop a name that refers to itself.
    expansion_depth: usize,
    /// The relation of a tabular `in` list while its column is planned.
    pending_subquery: Option<Relation>,
    /// Columns of data-dependent operators found in earlier rounds.
    discoveries: discovery::Discoveries,
    /// Data-dependent operators met in this round whose columns are not
    /// in `discoveries`, in planning order.
    requests: Vec<discovery::ColumnRequest>,
    /// While an `extend` plans its items: how many leading columns of the
    /// relation its items see came from the operator's input. `pack_all()`
    /// packs only those, as Kusto does.
    extend_input_width: Option<usize>,
}

const MAX_EXPANSION_DEPTH: usize = 64;

impl<'a> Planner<'a> {
    pub fn new(catalog: &'a dyn Catalog, now_ticks: i64) -> Planner<'a> {
        Planner {
            catalog,
            now_ticks,
            scopes: vec![HashMap::new()],
            expansion_depth: 0,
            pending_subquery: None,
            discoveries: discovery::Discoveries::new(),
            requests: Vec::new(),
            extend_input_width: None,
        }
    }

    /// Plans with the columns that earlier rounds discovered.
    pub fn with_discoveries(mut self, discoveries: discovery::Discoveries) -> Planner<'a> {
        self.discoveries = discoveries;
        self
    }

    /// Returns the data-dependent operators whose columns this round lacked.
    pub fn take_requests(&mut self) -> Vec<discovery::ColumnRequest> {
        std::mem::take(&mut self.requests)
    }

    /// Plans a whole query and returns the relation of its body.
    pub fn plan_query(&mut self, query: &ast::Query) -> Result<Relation, EngineError> {
        for statement in &query.statements {
            self.declare(statement);
        }
        match &query.body {
            Some(body) => {
                let relation = self.plan_tabular(body)?;
                only_declared_columns(relation)
            }
            None => Err(EngineError::semantic(Diagnostic::new(
                "the query has no tabular expression after its `let` statements",
                query.span,
            ))),
        }
    }

    fn declare(&mut self, statement: &ast::Statement) {
        let ast::Statement::Let(let_statement) = statement;
        let binding = match &let_statement.value {
            ast::LetValue::Expr(expr) => Binding::Scalar(expr.clone()),
            ast::LetValue::Tabular(tabular) => Binding::Tabular(tabular.clone()),
            ast::LetValue::Function(function) => Binding::Function(function.clone()),
        };
        self.scopes
            .last_mut()
            .expect("the planner always has a scope")
            .insert(let_statement.name.name.clone(), binding);
    }

    fn lookup(&self, name: &str) -> Option<Binding> {
        self.scopes
            .iter()
            .rev()
            .find_map(|scope| scope.get(name).cloned())
    }

    fn enter_expansion(&mut self, span: Span) -> Result<(), EngineError> {
        self.expansion_depth += 1;
        if self.expansion_depth > MAX_EXPANSION_DEPTH {
            return Err(EngineError::semantic(Diagnostic::new(
                "`let` names refer to each other too deeply (a name may refer to itself)",
                span,
            )));
        }
        Ok(())
    }

    fn leave_expansion(&mut self) {
        self.expansion_depth -= 1;
    }

    /// Returns true when a `let` name is bound to a tabular value, or when
    /// it is a table.
    fn is_tabular_name(&self, name: &str) -> bool {
        match self.lookup(name) {
            Some(Binding::Tabular(_)) => true,
            Some(Binding::Scalar(expr)) => match &expr.kind {
                ast::ExprKind::Name(ident) if ident.name != name => {
                    self.is_tabular_name(&ident.name)
                }
                _ => false,
            },
            Some(Binding::Function(function)) => {
                matches!(function.body, ast::LetBody::Tabular(_)) && function.params.is_empty()
            }
            Some(Binding::Relation(_)) => true,
            Some(Binding::Argument { .. }) => false,
            None => self.catalog.table(name).is_some(),
        }
    }

    /// Binds a user-defined function's parameters to the call's arguments
    /// and its body statements in a new scope. The caller plans the body and
    /// then calls [`Self::leave_function`].
    ///
    /// Scalar arguments are bound as unevaluated expressions, so they are
    /// planned where the body uses them, against the body's input.
    pub(crate) fn enter_function(
        &mut self,
        name: &ast::Ident,
        function: &ast::FunctionDef,
        args: &[ast::Arg],
        piped: Option<Relation>,
    ) -> Result<(), EngineError> {
        self.enter_expansion(name.span)?;
        let mut scope = HashMap::new();
        let mut piped = piped;
        let mut positional = args.iter().filter(|a| a.name.is_none());
        for param in &function.params {
            let named = args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == param.name.name));
            let binding = match &param.kind {
                ast::ParamKind::Tabular(_) => {
                    if let Some(relation) = piped.take() {
                        Binding::Relation(relation)
                    } else {
                        let arg = named
                            .or_else(|| positional.next())
                            .ok_or_else(|| missing_argument(name, &param.name))?;
                        tabular_binding(&arg.value)?
                    }
                }
                ast::ParamKind::Scalar(_) => match named.or_else(|| positional.next()) {
                    Some(arg) => Binding::Argument {
                        expr: arg.value.clone(),
                        scope_depth: self.scopes.len(),
                    },
                    None => match &param.default {
                        Some(default) => Binding::Scalar(default.clone()),
                        None => return Err(missing_argument(name, &param.name)),
                    },
                },
            };
            scope.insert(param.name.name.clone(), binding);
        }
        if let Some(extra) = positional.next() {
            self.leave_expansion();
            return Err(EngineError::semantic(Diagnostic::new(
                format!(
                    "`{}` takes {} arguments; this one is too many",
                    name.name,
                    function.params.len()
                ),
                extra.value.span,
            )));
        }
        self.scopes.push(scope);
        for statement in &function.statements {
            self.declare(statement);
        }
        Ok(())
    }

    /// Plans a query that the planner wrote in KQL (`let` statements and a
    /// body), with `input` bound to the name `input_name` and each argument
    /// bound to its name as a scalar planned in the caller's scopes.
    /// Errors point at `span`, the operator that the template implements,
    /// because the template's own text is not the user's query.
    pub(crate) fn plan_template(
        &mut self,
        text: &str,
        input_name: &str,
        input: Relation,
        arguments: &[(&str, &ast::Expr)],
        span: Span,
    ) -> Result<Relation, EngineError> {
        let query = kql::parse(text).map_err(|diagnostic| {
            EngineError::Internal(format!(
                "a planner template does not parse: {}",
                diagnostic.message
            ))
        })?;
        let mut scope = HashMap::new();
        scope.insert(input_name.to_string(), Binding::Relation(input));
        for (name, expr) in arguments {
            scope.insert(
                name.to_string(),
                Binding::Argument {
                    expr: (*expr).clone(),
                    scope_depth: self.scopes.len(),
                },
            );
        }
        self.scopes.push(scope);
        for statement in &query.statements {
            self.declare(statement);
        }
        let result = match &query.body {
            Some(body) => self.plan_tabular(body),
            None => Err(EngineError::Internal(
                "a planner template has no body".to_string(),
            )),
        };
        self.scopes.pop();
        result.map_err(|error| match error {
            EngineError::Semantic(diagnostic) => {
                EngineError::Semantic(Diagnostic { span, ..diagnostic })
            }
            EngineError::NotSupported(diagnostic) => {
                EngineError::NotSupported(Diagnostic { span, ..diagnostic })
            }
            other => other,
        })
    }

    pub(crate) fn leave_function(&mut self) {
        self.scopes.pop();
        self.leave_expansion();
    }

    pub fn now_ticks(&self) -> i64 {
        self.now_ticks
    }
}

fn missing_argument(function: &ast::Ident, param: &ast::Ident) -> EngineError {
    EngineError::semantic(Diagnostic::new(
        format!(
            "`{}` needs a value for its parameter `{}`",
            function.name, param.name
        ),
        function.span,
    ))
}

/// Binds a tabular argument: a table or `let` name, or a pipeline.
fn tabular_binding(value: &ast::Expr) -> Result<Binding, EngineError> {
    match &value.kind {
        ast::ExprKind::Name(ident) => Ok(Binding::Tabular(ast::TabularExpr {
            source: ast::Source::Table(ident.clone()),
            operators: Vec::new(),
            span: ident.span,
        })),
        ast::ExprKind::Tabular(tabular) => Ok(Binding::Tabular((**tabular).clone())),
        ast::ExprKind::Paren(inner) => tabular_binding(inner),
        _ => Err(EngineError::semantic(Diagnostic::new(
            "expected a table or a tabular expression for a tabular parameter",
            value.span,
        ))),
    }
}

/// Returns the names of every scalar and aggregate function the planner
/// supports, sorted and without repeats, for editors' autocompletion.
pub fn function_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = functions::SCALAR_FUNCTIONS
        .iter()
        .copied()
        .chain(crate::functions::json_functions().map(|function| function.name))
        .chain(
            crate::functions::decompose::MULTI_OUTPUT_FUNCTIONS
                .iter()
                .map(|function| function.name),
        )
        .chain(summarize::AGGREGATES.iter().copied())
        .collect();
    names.retain(|name| !name.starts_with("__"));
    names.sort_unstable();
    names.dedup();
    names
}

/// Suggests the closest candidate to a misspelled name, if one is close.
pub(crate) fn suggest<'n>(
    name: &str,
    candidates: impl IntoIterator<Item = &'n str>,
) -> Option<String> {
    let lower = name.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate.to_lowercase() == lower {
            return Some(candidate.to_string());
        }
        let score = strsim::jaro_winkler(&lower, &candidate.to_lowercase());
        if score > 0.85 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// Builds the "unknown column" diagnostic with a suggestion.
pub(crate) fn unknown_name(kind: &str, ident: &ast::Ident, candidates: &[&str]) -> EngineError {
    let mut diagnostic = Diagnostic::new(format!("unknown {kind} `{}`", ident.name), ident.span);
    if let Some(suggestion) = suggest(&ident.name, candidates.iter().copied()) {
        diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
    }
    EngineError::semantic(diagnostic)
}
