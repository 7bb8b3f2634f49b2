//! `summarize`, `count` and `distinct`: grouping and aggregate functions.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit, when};
use kql::ast::{self, ExprKind};
use kql::{Diagnostic, KqlType};

use super::aggregate_expr::{
    is_aggregate_call, is_hidden_aggregate, next_column_name, replace_aggregates,
};
use super::expr::to_bool;
use super::{Column, Planner, Relation, Typed, column_expr, column_exprs, physical_type, project};
use crate::error::EngineError;
use crate::udf;
use crate::value;

pub(crate) const AGGREGATES: &[&str] = &[
    "count",
    "countif",
    "dcount",
    "dcountif",
    "sum",
    "sumif",
    "min",
    "max",
    "minif",
    "maxif",
    "avg",
    "avgif",
    "arg_max",
    "arg_min",
    "make_set",
    "make_list",
    "makeset",
    "makelist",
    "take_any",
    "take_anyif",
    "any",
    "stdev",
    "variance",
    "make_set_if",
    "make_list_if",
    "make_bag",
    "make_bag_if",
    "percentile",
    "percentiles",
    "percentiles_array",
    "percentilew",
    "percentilesw",
    "percentilesw_array",
    "covariance",
    "covarianceif",
    "covariancep",
    "covariancepif",
    "binary_all_and",
    "binary_all_or",
    "binary_all_xor",
    "stdevp",
    "variancep",
    "stdevif",
    "varianceif",
    "stdevpif",
    "variancepif",
    "tdigest",
    "hll",
    "hll_if",
];

/// KQL aggregate functions this engine does not implement yet.
const UNSUPPORTED_AGGREGATES: &[&str] = &[
    "tdigest_merge",
    "buildschema",
    "count_distinct",
    "count_distinctif",
    "make_list_with_nulls",
];

/// True when `name` is an aggregate function, implemented or not.
pub(crate) fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name) || UNSUPPORTED_AGGREGATES.contains(&name)
}

/// An aggregate call planned into one or more output columns.
pub(crate) struct PlannedAggregate {
    pub(crate) exprs: Vec<(Expr, Column)>,
}

impl Planner<'_> {
    pub(crate) fn plan_summarize(
        &mut self,
        input: Relation,
        summarize: &ast::Summarize,
    ) -> Result<Relation, EngineError> {
        let mut used_names: HashSet<String> = HashSet::new();
        let mut group_exprs = Vec::new();
        let mut columns = Vec::new();

        for (position, key) in summarize.by.iter().enumerate() {
            let typed = self.plan_expr(&key.expr, &input)?;
            let name = match key.names.first() {
                Some(name) => name.name.clone(),
                None => default_key_name(&key.expr, position),
            };
            let name = unique_name(&name, &mut used_names);
            group_exprs.push(typed.expr.alias(&name));
            columns.push(Column { name, ty: typed.ty });
        }

        // Each output column after the keys: an aggregate column, or an
        // expression over hidden aggregate columns such as
        // `toupper(tohex(binary_all_or(x)))`.
        let mut outputs: Vec<SummarizeOutput> = columns
            .iter()
            .cloned()
            .map(SummarizeOutput::Column)
            .collect();
        let mut aggregate_exprs = Vec::new();
        let mut aggregate_columns = columns.clone();
        let mut unnamed = 1;
        let mut hidden_aggregates = Vec::new();
        for aggregate in &summarize.aggregates {
            let parts = if is_aggregate_call(&aggregate.expr) {
                vec![aggregate.clone()]
            } else {
                // Hidden names count across all expressions so they stay
                // unique.
                let before = hidden_aggregates.len();
                let rewritten = replace_aggregates(&aggregate.expr, &mut hidden_aggregates);
                let found = hidden_aggregates[before..].to_vec();
                if found.is_empty() {
                    return Err(EngineError::semantic(Diagnostic::new(
                        "`summarize` expects aggregate function calls such as count() or dcount(Account)",
                        aggregate.expr.span,
                    )));
                }
                let name = match aggregate.names.first() {
                    Some(name) => name.name.clone(),
                    None => next_column_name(&mut unnamed, &used_names),
                };
                let name = unique_name(&name, &mut used_names);
                outputs.push(SummarizeOutput::Computed {
                    name,
                    expr: rewritten,
                });
                found
            };
            for part in &parts {
                let planned = self.plan_aggregate(part, &input, &mut used_names)?;
                for (expr, column) in planned.exprs {
                    aggregate_exprs.push(expr);
                    if !is_hidden_aggregate(part) {
                        outputs.push(SummarizeOutput::Column(column.clone()));
                    }
                    aggregate_columns.push(column);
                }
            }
        }

        let plan = LogicalPlanBuilder::from(input.plan)
            .aggregate(group_exprs, aggregate_exprs)
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        let aggregated = project(plan, column_exprs(&aggregate_columns), aggregate_columns)?;

        // NOTE: over empty input without `by`, `countif` and `sum` return
        // null here where Kusto returns 0.
        let mut exprs = Vec::with_capacity(outputs.len());
        let mut columns = Vec::with_capacity(outputs.len());
        for output in outputs {
            match output {
                SummarizeOutput::Column(column) => {
                    exprs.push(column_expr(&column.name).alias(&column.name));
                    columns.push(column);
                }
                SummarizeOutput::Computed { name, expr } => {
                    let typed = self.plan_expr(&expr, &aggregated)?;
                    exprs.push(typed.expr.alias(&name));
                    columns.push(Column { name, ty: typed.ty });
                }
            }
        }
        project(aggregated.plan, exprs, columns)
    }

    fn plan_aggregate(
        &mut self,
        named: &ast::NamedExpr,
        input: &Relation,
        used_names: &mut HashSet<String>,
    ) -> Result<PlannedAggregate, EngineError> {
        let ExprKind::Call(call) = &strip_parens(&named.expr).kind else {
            return Err(EngineError::semantic(Diagnostic::new(
                "`summarize` expects aggregate function calls such as count() or dcount(Account)",
                named.expr.span,
            )));
        };
        let name = call.name.name.as_str();
        if UNSUPPORTED_AGGREGATES.contains(&name) {
            return Err(EngineError::not_supported(Diagnostic::new(
                format!("aggregate `{name}` is not supported yet"),
                call.name.span,
            )));
        }
        if !is_aggregate(name) {
            return Err(EngineError::semantic(Diagnostic::new(
                format!("`{name}` is not an aggregate function"),
                call.name.span,
            )));
        }
        let args: Vec<&ast::Expr> = call.args.iter().map(|a| &a.value).collect();
        let first_arg_name = args.first().and_then(|a| plain_name(a));
        let explicit = named.names.first().map(|n| n.name.clone());
        let mut output_name = |prefix: &str| -> String {
            let base = explicit.clone().unwrap_or_else(|| match &first_arg_name {
                Some(arg) if prefix != "countif" => format!("{prefix}_{arg}"),
                _ => format!("{prefix}_"),
            });
            unique_name(&base, used_names)
        };

        let single = |expr: Expr, name: String, ty: KqlType| PlannedAggregate {
            exprs: vec![(expr.alias(&name), Column { name, ty })],
        };

        match name {
            "count" => {
                let out = output_name("count");
                Ok(single(agg::count(lit(1i64)), out, KqlType::Long))
            }
            "countif" => {
                let predicate = self.arg(call, &args, 0, input)?;
                let out = output_name("countif");
                let ones = when(to_bool(predicate), lit(1i64))
                    .otherwise(lit(0i64))
                    .map_err(EngineError::internal)?;
                Ok(single(agg::sum(ones), out, KqlType::Long))
            }
            "dcount" | "dcountif" => {
                let value = self.arg(call, &args, 0, input)?;
                let out = output_name(name);
                let value = if name == "dcountif" {
                    let predicate = self.arg(call, &args, 1, input)?;
                    when(to_bool(predicate), value.expr)
                        .end()
                        .map_err(EngineError::internal)?
                } else {
                    value.expr
                };
                Ok(single(agg::count_distinct(value), out, KqlType::Long))
            }
            "sum" | "sumif" | "avg" | "avgif" | "min" | "max" | "minif" | "maxif" | "stdev"
            | "variance" | "stdevp" | "variancep" | "stdevif" | "varianceif" | "stdevpif"
            | "variancepif" => {
                let value = self.arg(call, &args, 0, input)?;
                let base = name.strip_suffix("if").unwrap_or(name);
                let out = output_name(name);
                let ty = value.ty;
                let mut expr = value.expr;
                if name.ends_with("if") {
                    let predicate = self.arg(call, &args, 1, input)?;
                    expr = when(to_bool(predicate), expr)
                        .end()
                        .map_err(EngineError::internal)?;
                }
                let (aggregate, out_ty) = match base {
                    "sum" => (
                        agg::sum(expr),
                        if ty == KqlType::Int {
                            KqlType::Long
                        } else {
                            ty
                        },
                    ),
                    "avg" => (agg::avg(cast(expr, DataType::Float64)), KqlType::Real),
                    "min" => (agg::min(expr), ty),
                    "max" => (agg::max(expr), ty),
                    "stdev" => (agg::stddev(cast(expr, DataType::Float64)), KqlType::Real),
                    "stdevp" => (
                        agg::stddev_pop(cast(expr, DataType::Float64)),
                        KqlType::Real,
                    ),
                    "variancep" => (agg::var_pop(cast(expr, DataType::Float64)), KqlType::Real),
                    _ => (
                        agg::var_sample(cast(expr, DataType::Float64)),
                        KqlType::Real,
                    ),
                };
                let aggregate = if base == "sum" {
                    cast(aggregate, physical_type(out_ty))
                } else {
                    aggregate
                };
                Ok(single(aggregate, out, out_ty))
            }
            "take_any" | "any" => {
                let value = self.arg(call, &args, 0, input)?;
                let out = explicit
                    .clone()
                    .unwrap_or_else(|| first_arg_name.clone().unwrap_or_else(|| "any_".into()));
                let out = unique_name(&out, used_names);
                Ok(single(agg::first_value(value.expr, vec![]), out, value.ty))
            }
            "take_anyif" => {
                // Any value of the rows that satisfy the predicate: the
                // largest, since `first_value` would also see the others.
                let value = self.arg(call, &args, 0, input)?;
                let predicate = self.arg(call, &args, 1, input)?;
                let out = explicit
                    .clone()
                    .unwrap_or_else(|| first_arg_name.clone().unwrap_or_else(|| "anyif_".into()));
                let out = unique_name(&out, used_names);
                let kept = when(to_bool(predicate), value.expr)
                    .end()
                    .map_err(EngineError::internal)?;
                Ok(single(agg::max(kept), out, value.ty))
            }
            "make_set" | "make_list" | "makeset" | "makelist" | "make_set_if" | "make_list_if"
            | "make_bag" | "make_bag_if" => {
                let value = self.arg(call, &args, 0, input)?;
                let collection = if name.contains("set") {
                    Collection::Set
                } else if name.contains("bag") {
                    Collection::Bag
                } else {
                    Collection::List
                };
                let out = output_name(collection.name_prefix());
                let mut expr = value.expr;
                if name.ends_with("_if") {
                    let predicate = self.arg(call, &args, 1, input)?;
                    expr = when(to_bool(predicate), expr)
                        .end()
                        .map_err(EngineError::internal)?;
                }
                // NOTE: make_set collects every value and removes duplicates
                // afterwards, which keeps the first-seen order as Kusto does
                // but keeps all values of a group in memory.
                let aggregate = agg::array_agg(expr);
                Ok(single(
                    list_to_json(aggregate, value.ty, collection),
                    out,
                    KqlType::Dynamic,
                ))
            }
            "hll" | "hll_if" => {
                // NOTE: an exact digest: the distinct values themselves, so
                // dcount_hll is exact and a digest grows with the values.
                let value = self.arg(call, &args, 0, input)?;
                let out = output_name("hll");
                let mut expr = value.expr;
                if name == "hll_if" {
                    let predicate = self.arg(call, &args, 1, input)?;
                    expr = when(to_bool(predicate), expr)
                        .end()
                        .map_err(EngineError::internal)?;
                }
                let aggregate = agg::array_agg(expr);
                Ok(single(
                    list_to_json(aggregate, value.ty, Collection::Set),
                    out,
                    KqlType::Dynamic,
                ))
            }
            "tdigest" => {
                // NOTE: an exact digest: every value with its weight, so
                // percentile_tdigest gives the exact nearest-rank
                // percentile, as `percentile` does.
                let value = self.arg(call, &args, 0, input)?;
                let weight = match args.get(1) {
                    Some(_) => self.arg(call, &args, 1, input)?,
                    None => Typed::new(lit(1i64), KqlType::Long),
                };
                let out = output_name("tdigest");
                let pair = crate::functions::digest::pack_pair(value, weight);
                let aggregate = agg::array_agg(pair);
                Ok(single(
                    list_to_json(aggregate, KqlType::Dynamic, Collection::List),
                    out,
                    KqlType::Dynamic,
                ))
            }
            "arg_max" | "arg_min" => self.plan_arg_extreme(call, &args, named, input, used_names),
            "percentile" | "percentiles" | "percentiles_array" | "percentilew" | "percentilesw"
            | "percentilesw_array" => self.plan_percentiles(call, &args, named, input, used_names),
            "covariance" | "covariancep" | "covarianceif" | "covariancepif" => {
                let x = self.arg(call, &args, 0, input)?;
                let y = self.arg(call, &args, 1, input)?;
                let out = explicit.clone().unwrap_or_else(|| {
                    let names: Vec<String> =
                        args.iter().take(2).filter_map(|a| plain_name(a)).collect();
                    format!("{name}_{}", names.join("_"))
                });
                let out = unique_name(&out, used_names);
                let mut x = cast(x.expr, DataType::Float64);
                let mut y = cast(y.expr, DataType::Float64);
                if name.ends_with("if") {
                    let predicate = to_bool(self.arg(call, &args, 2, input)?);
                    x = when(predicate.clone(), x)
                        .end()
                        .map_err(EngineError::internal)?;
                    y = when(predicate, y).end().map_err(EngineError::internal)?;
                }
                let aggregate = if name.starts_with("covariancep") {
                    agg::covar_pop(x, y)
                } else {
                    agg::covar_samp(x, y)
                };
                Ok(single(aggregate, out, KqlType::Real))
            }
            "binary_all_and" | "binary_all_or" | "binary_all_xor" => {
                let value = self.arg(call, &args, 0, input)?;
                let out = output_name(name);
                let value = cast(value.expr, DataType::Int64);
                let aggregate = match name {
                    "binary_all_and" => agg::bit_and(value),
                    "binary_all_or" => agg::bit_or(value),
                    _ => agg::bit_xor(value),
                };
                Ok(single(aggregate, out, KqlType::Long))
            }
            _ => Err(EngineError::not_supported(Diagnostic::new(
                format!("aggregate `{name}` is not supported yet"),
                call.name.span,
            ))),
        }
    }

    pub(crate) fn arg(
        &mut self,
        call: &ast::Call,
        args: &[&ast::Expr],
        index: usize,
        input: &Relation,
    ) -> Result<Typed, EngineError> {
        let Some(arg) = args.get(index) else {
            return Err(EngineError::semantic(Diagnostic::new(
                format!(
                    "`{}` needs at least {} arguments",
                    call.name.name,
                    index + 1
                ),
                call.span,
            )));
        };
        self.plan_expr(arg, input)
    }

    /// `arg_max(ExprToMaximize, Col1, Col2, ...)` or with `*`: the listed
    /// columns from the row where the expression is largest.
    fn plan_arg_extreme(
        &mut self,
        call: &ast::Call,
        args: &[&ast::Expr],
        named: &ast::NamedExpr,
        input: &Relation,
        used_names: &mut HashSet<String>,
    ) -> Result<PlannedAggregate, EngineError> {
        let maximize = call.name.name == "arg_max";
        let key = self.arg(call, args, 0, input)?;
        let order = vec![key.expr.clone().sort(!maximize, false)];
        let key_name = named
            .names
            .first()
            .map(|n| n.name.clone())
            .or_else(|| plain_name(args[0]))
            .unwrap_or_else(|| format!("{}_", if maximize { "max" } else { "min" }));

        let mut exprs = Vec::new();
        let key_name = unique_name(&key_name, used_names);
        exprs.push((
            agg::first_value(key.expr.clone(), order.clone()).alias(&key_name),
            Column {
                name: key_name.clone(),
                ty: key.ty,
            },
        ));

        for (position, arg) in args.iter().enumerate().skip(1) {
            let targets: Vec<(String, Typed)> = if matches!(arg.kind, ExprKind::Star) {
                input
                    .columns
                    .iter()
                    .filter(|c| c.name != key_name)
                    .map(|c| (c.name.clone(), Typed::new(column_expr(&c.name), c.ty)))
                    .collect()
            } else {
                let typed = self.plan_expr(arg, input)?;
                let name = named
                    .names
                    .get(position)
                    .map(|n| n.name.clone())
                    .or_else(|| plain_name(arg))
                    .unwrap_or_else(|| format!("Column{position}"));
                vec![(name, typed)]
            };
            for (name, typed) in targets {
                if used_names.contains(&name) {
                    continue;
                }
                let name = unique_name(&name, used_names);
                exprs.push((
                    agg::first_value(typed.expr, order.clone()).alias(&name),
                    Column { name, ty: typed.ty },
                ));
            }
        }
        Ok(PlannedAggregate { exprs })
    }
}

/// One output column of `summarize` after its keys.
enum SummarizeOutput {
    /// A key or an aggregate column, output as it is.
    Column(Column),
    /// An expression over aggregate columns, with its output name.
    Computed { name: String, expr: ast::Expr },
}

/// Builds `make_set(value)` over a whole input: dynamic JSON text of the
/// distinct values in first-seen order.
pub(crate) fn make_set_json(value: Expr, ty: KqlType) -> Expr {
    list_to_json(agg::array_agg(value), ty, Collection::Set)
}

/// The kind of collection a list aggregate builds from a group's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    /// `make_list`: every value, in input order.
    List,
    /// `make_set`: distinct values in first-seen order; the elements of an
    /// array value count as separate values.
    Set,
    /// `make_bag`: the properties of every bag value merged into one bag;
    /// when a key repeats, the first value seen wins. Values that are not
    /// bags are skipped.
    Bag,
}

impl Collection {
    /// Returns the prefix of the generated column name (`set_x`, `list_x`,
    /// `bag_x`).
    fn name_prefix(self) -> &'static str {
        match self {
            Collection::List => "list",
            Collection::Set => "set",
            Collection::Bag => "bag",
        }
    }
}

/// Converts a DataFusion list aggregate into dynamic JSON text.
fn list_to_json(list: Expr, ty: KqlType, collection: Collection) -> Expr {
    let body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let lists = &arrays[0];
        let out: StringArray = (0..lists.len())
            .map(|row| {
                let values = if lists.is_null(row) {
                    None
                } else {
                    match lists.data_type() {
                        DataType::List(_) => Some(lists.as_list::<i32>().value(row)),
                        DataType::LargeList(_) => Some(lists.as_list::<i64>().value(row)),
                        _ => None,
                    }
                };
                let items: Vec<serde_json::Value> = values
                    .map(|values| {
                        (0..values.len())
                            .filter(|&i| values.is_valid(i))
                            .map(|i| value::to_json(&values, i, ty))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(collect_items(items, collection).to_string())
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    let name = format!("list_to_json_{ty}_{}", collection.name_prefix());
    udf::call(&name, DataType::Utf8, false, body, vec![list])
}

/// Builds the JSON result of a list aggregate from the group's non-null
/// values.
fn collect_items(items: Vec<serde_json::Value>, collection: Collection) -> serde_json::Value {
    use serde_json::Value;
    match collection {
        Collection::List => Value::Array(items),
        Collection::Set => {
            let mut seen: HashSet<String> = HashSet::new();
            let mut out = Vec::new();
            for item in items {
                let elements = match item {
                    Value::Array(elements) => elements,
                    other => vec![other],
                };
                for element in elements {
                    if seen.insert(element.to_string()) {
                        out.push(element);
                    }
                }
            }
            Value::Array(out)
        }
        Collection::Bag => {
            let mut bag = serde_json::Map::new();
            for item in items {
                if let Value::Object(properties) = item {
                    for (key, value) in properties {
                        bag.entry(key).or_insert(value);
                    }
                }
            }
            Value::Object(bag)
        }
    }
}

pub(crate) fn strip_parens(expr: &ast::Expr) -> &ast::Expr {
    match &expr.kind {
        ExprKind::Paren(inner) => strip_parens(inner),
        _ => expr,
    }
}

/// The column name a plain column argument gives: `Account` for
/// `dcount(Account)`.
pub(crate) fn plain_name(expr: &ast::Expr) -> Option<String> {
    match &strip_parens(expr).kind {
        ExprKind::Name(ident) => Some(ident.name.clone()),
        _ => None,
    }
}

/// Names an unnamed `by` key: the column it reads (`bin(T, 1h)` keeps `T`),
/// else `Column1`, `Column2`, ...
pub(crate) fn default_key_name(expr: &ast::Expr, position: usize) -> String {
    match &strip_parens(expr).kind {
        ExprKind::Name(ident) => ident.name.clone(),
        ExprKind::Call(call) => call
            .args
            .first()
            .and_then(|a| plain_name(&a.value))
            .unwrap_or_else(|| format!("Column{}", position + 1)),
        _ => format!("Column{}", position + 1),
    }
}

/// Returns `name`, or `name1`, `name2`, ... when it is taken.
pub(crate) fn unique_name(name: &str, used: &mut HashSet<String>) -> String {
    if used.insert(name.to_string()) {
        return name.to_string();
    }
    let mut suffix = 1;
    loop {
        let candidate = format!("{name}{suffix}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
        suffix += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn make_set_flattens_arrays() {
        let items = vec![json!(["A1", "A2"]), json!(["A2", "C1"]), json!("C2")];
        assert_eq!(
            collect_items(items, Collection::Set),
            json!(["A1", "A2", "C1", "C2"])
        );
    }

    #[test]
    fn make_list_keeps_arrays() {
        let items = vec![json!([1]), json!([1])];
        assert_eq!(collect_items(items, Collection::List), json!([[1], [1]]));
    }

    #[test]
    fn make_bag_merges_first_wins() {
        let items = vec![json!({"a": 1}), json!(3), json!({"a": 2, "b": 3})];
        assert_eq!(
            collect_items(items, Collection::Bag),
            json!({"a": 1, "b": 3})
        );
    }
}
