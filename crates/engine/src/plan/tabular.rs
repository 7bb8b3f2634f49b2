//! Tabular sources (tables, `print`, `datatable`, `range`, `union`) and the
//! pipe operators that do not aggregate.

use std::collections::HashSet;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit};
use kql::ast::{self, ExprKind, OperatorKind, Source};
use kql::{Diagnostic, KqlType, Span};

use super::expr::{coerce_to, to_bool};
use super::summarize::unique_name;
use super::{
    Binding, Column, Planner, Relation, column_expr, physical_type, project, select, unknown_name,
};
use crate::error::EngineError;

/// The largest `range` the engine builds in memory.
const MAX_RANGE_ROWS: i64 = 100_000_000;

impl Planner<'_> {
    pub(crate) fn plan_tabular(
        &mut self,
        tabular: &ast::TabularExpr,
    ) -> Result<Relation, EngineError> {
        // A subquery inside an `extend` item has its own columns.
        let outer_width = self.extend_input_width.take();
        let relation = self.plan_tabular_operators(tabular);
        self.extend_input_width = outer_width;
        relation
    }

    fn plan_tabular_operators(
        &mut self,
        tabular: &ast::TabularExpr,
    ) -> Result<Relation, EngineError> {
        let mut relation = self.plan_source(&tabular.source, tabular.span)?;
        for operator in &tabular.operators {
            relation = self.plan_operator(relation, operator)?;
        }
        Ok(relation)
    }

    /// Plans operators that the planner built in place of one operator of
    /// the query, in order, each at that operator's `span`.
    pub(super) fn plan_steps(
        &mut self,
        input: Relation,
        steps: Vec<OperatorKind>,
        span: Span,
    ) -> Result<Relation, EngineError> {
        let mut relation = input;
        for kind in steps {
            relation = self.plan_operator(relation, &ast::Operator { kind, span })?;
        }
        Ok(relation)
    }

    fn plan_source(&mut self, source: &Source, span: Span) -> Result<Relation, EngineError> {
        match source {
            Source::Table(ident) => self.plan_table_name(ident),
            Source::Nested(inner) => self.plan_tabular(inner),
            Source::Print(items) => {
                let one_row = Relation {
                    plan: LogicalPlanBuilder::empty(true)
                        .build()
                        .map_err(EngineError::plan)?,
                    columns: Vec::new(),
                };
                self.project_named(one_row, items, "print_", false)
            }
            Source::Datatable(datatable) => self.plan_datatable(datatable),
            Source::Range(range) => self.plan_range(range),
            Source::Union(union) => {
                let mut legs = Vec::new();
                for table in &union.tables {
                    legs.extend(self.plan_union_leg(table, union.is_fuzzy)?);
                }
                union_relations(legs, union, span)
            }
            Source::Call(call) => {
                if call.name.name == "externaldata" {
                    return self.plan_externaldata(call);
                }
                if call.name.name == "materialize" && call.args.len() == 1 {
                    match &call.args[0].value.kind {
                        ExprKind::Tabular(inner) => return self.plan_tabular(inner),
                        ExprKind::Name(ident) => return self.plan_table_name(ident),
                        _ => {}
                    }
                }
                match self.lookup(&call.name.name) {
                    Some(Binding::Tabular(body)) if call.args.is_empty() => {
                        return self.plan_tabular(&body);
                    }
                    Some(Binding::Function(function)) => {
                        return self.plan_function_call(call, &function, None);
                    }
                    _ => {}
                }
                Err(EngineError::not_supported(Diagnostic::new(
                    format!("tabular function `{}` is not supported yet", call.name.name),
                    call.name.span,
                )))
            }
        }
    }

    /// Plans a call of a user-defined function with a tabular body;
    /// `piped` is the input of `invoke`.
    fn plan_function_call(
        &mut self,
        call: &ast::Call,
        function: &ast::FunctionDef,
        piped: Option<Relation>,
    ) -> Result<Relation, EngineError> {
        // The parser keeps a body that is a bare name or call, such as
        // `{ foo1(1, 100, step) }`, as a scalar. Used as a table, it is the
        // table or tabular function it names.
        let body = match &function.body {
            ast::LetBody::Tabular(body) => body.clone(),
            ast::LetBody::Scalar(expr) => match &expr.kind {
                ExprKind::Name(ident) => ast::TabularExpr {
                    source: Source::Table(ident.clone()),
                    operators: Vec::new(),
                    span: expr.span,
                },
                ExprKind::Call(inner) => ast::TabularExpr {
                    source: Source::Call(inner.clone()),
                    operators: Vec::new(),
                    span: expr.span,
                },
                _ => {
                    return Err(EngineError::semantic(Diagnostic::new(
                        format!(
                            "`{}` returns a scalar and cannot be used as a table",
                            call.name.name
                        ),
                        call.name.span,
                    )));
                }
            },
        };
        self.enter_function(&call.name, function, &call.args, piped)?;
        let result = self.plan_tabular(&body);
        self.leave_function();
        result
    }

    pub(crate) fn plan_table_name(&mut self, ident: &ast::Ident) -> Result<Relation, EngineError> {
        match self.lookup(&ident.name) {
            Some(Binding::Relation(relation)) => return Ok(relation),
            Some(Binding::Function(function)) if function.params.is_empty() => {
                let call = ast::Call {
                    name: ident.clone(),
                    args: Vec::new(),
                    span: ident.span,
                };
                return self.plan_function_call(&call, &function, None);
            }
            Some(Binding::Tabular(body)) => {
                self.enter_expansion(ident.span)?;
                let relation = self.plan_tabular(&body);
                self.leave_expansion();
                return relation;
            }
            Some(Binding::Scalar(expr)) => {
                if let ExprKind::Name(inner) = &expr.kind
                    && inner.name != ident.name
                    && self.is_tabular_name(&inner.name)
                {
                    self.enter_expansion(ident.span)?;
                    let relation = self.plan_table_name(inner);
                    self.leave_expansion();
                    return relation;
                }
                return Err(EngineError::semantic(Diagnostic::new(
                    format!("`{}` is a scalar value, not a table", ident.name),
                    ident.span,
                )));
            }
            _ => {}
        }
        match self.catalog.table(&ident.name) {
            Some(relation) => Ok(relation),
            None => {
                let names = self.catalog.table_names();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                Err(unknown_name("table", ident, &names))
            }
        }
    }

    /// Plans one leg of a `union`: a table, a pipeline, or a wildcard name
    /// such as `Security*` that may stand for several tables.
    fn plan_union_leg(
        &mut self,
        leg: &ast::TabularExpr,
        fuzzy: bool,
    ) -> Result<Vec<(String, Relation)>, EngineError> {
        if let (Source::Table(ident), true) = (&leg.source, leg.operators.is_empty()) {
            if ident.name.contains('*') {
                let matching: Vec<String> = self
                    .catalog
                    .table_names()
                    .into_iter()
                    .filter(|name| wildcard_match(&ident.name, name))
                    .collect();
                let mut relations = Vec::new();
                for name in matching {
                    if let Some(relation) = self.catalog.table(&name) {
                        relations.push((name, relation));
                    }
                }
                return Ok(relations);
            }
            let name = ident.name.clone();
            return match self.plan_tabular(leg) {
                Ok(relation) => Ok(vec![(name, relation)]),
                Err(_) if fuzzy => Ok(Vec::new()),
                Err(err) => Err(err),
            };
        }
        // A fuzzy union also drops a pipeline leg that starts at a table
        // that does not exist, as Sentinel rules expect of
        // `union isfuzzy=true (T1 | ...), (T2 | ...)`.
        if let Source::Table(ident) = &leg.source
            && fuzzy
            && !ident.name.contains('*')
            && self.lookup(&ident.name).is_none()
            && self.catalog.table(&ident.name).is_none()
        {
            return Ok(Vec::new());
        }
        let relation = self.plan_tabular(leg)?;
        // A leg that ends with `as Name` is named `Name` in `withsource=`.
        let name = match leg.operators.last().map(|o| &o.kind) {
            Some(OperatorKind::As(ident)) => ident.name.clone(),
            _ => "union_arg".to_string(),
        };
        Ok(vec![(name, relation)])
    }

    fn plan_datatable(&mut self, datatable: &ast::Datatable) -> Result<Relation, EngineError> {
        let width = datatable.columns.len();
        if width == 0 || !datatable.values.len().is_multiple_of(width) {
            return Err(EngineError::semantic(Diagnostic::new(
                format!(
                    "`datatable` has {} values for {width} columns; the count must be a multiple of the column count",
                    datatable.values.len()
                ),
                datatable.span,
            )));
        }
        let mut columns = Vec::new();
        for decl in &datatable.columns {
            let ty = KqlType::from_name(&decl.ty.name).ok_or_else(|| {
                EngineError::semantic(Diagnostic::new(
                    format!("unknown type `{}`", decl.ty.name),
                    decl.ty.span,
                ))
            })?;
            columns.push(Column {
                name: decl.name.name.clone(),
                ty,
            });
        }
        let empty = Relation {
            plan: LogicalPlanBuilder::empty(true)
                .build()
                .map_err(EngineError::plan)?,
            columns: Vec::new(),
        };
        let mut rows = Vec::new();
        for chunk in datatable.values.chunks(width) {
            let mut row = Vec::with_capacity(width);
            for (value, column) in chunk.iter().zip(&columns) {
                let typed = self.plan_expr(value, &empty)?;
                let expr = coerce_to(typed, column.ty);
                let expr = cast(expr, physical_type(column.ty));
                row.push(constant(expr, value.span)?);
            }
            rows.push(row);
        }
        let plan = if rows.is_empty() {
            let fields: Vec<arrow::datatypes::Field> = columns
                .iter()
                .map(|c| arrow::datatypes::Field::new(&c.name, physical_type(c.ty), true))
                .collect();
            let schema =
                datafusion::common::DFSchema::try_from(arrow::datatypes::Schema::new(fields))
                    .map_err(EngineError::plan)?;
            datafusion::logical_expr::LogicalPlan::EmptyRelation(
                datafusion::logical_expr::EmptyRelation {
                    produce_one_row: false,
                    schema: std::sync::Arc::new(schema),
                },
            )
        } else {
            LogicalPlanBuilder::values(rows)
                .and_then(|b| b.build())
                .map_err(EngineError::plan)?
        };
        let projection: Vec<Expr> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let source = plan.schema().field(i).name().clone();
                cast(column_expr(&source), physical_type(c.ty)).alias(&c.name)
            })
            .collect();
        let plan = LogicalPlanBuilder::from(plan)
            .project(projection)
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        Ok(Relation { plan, columns })
    }

    fn plan_range(&mut self, range: &ast::RangeSpec) -> Result<Relation, EngineError> {
        let empty = Relation {
            plan: LogicalPlanBuilder::empty(true)
                .build()
                .map_err(EngineError::plan)?,
            columns: Vec::new(),
        };
        let from = self.plan_expr(&range.from, &empty)?;
        let to = self.plan_expr(&range.to, &empty)?;
        let step = self.plan_expr(&range.step, &empty)?;
        let ty = from.ty;
        if matches!(ty, KqlType::Real | KqlType::Decimal) || step.ty == KqlType::Real {
            return Err(EngineError::not_supported(Diagnostic::new(
                "`range` over real numbers is not supported yet; use long, datetime or timespan bounds",
                range.span,
            )));
        }
        let start = constant_i64(coerce_to(from, KqlType::Long), range.from.span)?;
        let end = constant_i64(coerce_to(to, KqlType::Long), range.to.span)?;
        let step_value = constant_i64(coerce_to(step, KqlType::Long), range.step.span)?;
        if step_value == 0 {
            return Err(EngineError::semantic(Diagnostic::new(
                "`range` step must not be zero",
                range.step.span,
            )));
        }
        let rows = if (step_value > 0 && end >= start) || (step_value < 0 && end <= start) {
            (end - start) / step_value + 1
        } else {
            0
        };
        if rows > MAX_RANGE_ROWS {
            return Err(EngineError::semantic(Diagnostic::new(
                format!("`range` would produce {rows} rows; the limit is {MAX_RANGE_ROWS}"),
                range.span,
            )));
        }
        let values: Vec<i64> = (0..rows).map(|i| start + i * step_value).collect();
        let array = arrow::array::Int64Array::from(values);
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new(
                &range.column.name,
                arrow::datatypes::DataType::Int64,
                false,
            ),
        ]));
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![std::sync::Arc::new(array)],
        )
        .map_err(|e| EngineError::internal(e.into()))?;
        let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]])
            .map_err(EngineError::plan)?;
        let source = datafusion::datasource::provider_as_source(std::sync::Arc::new(table));
        let plan = LogicalPlanBuilder::scan("range", source, None)
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        let column_type = if ty == KqlType::Int {
            KqlType::Long
        } else {
            ty
        };
        Ok(Relation {
            plan,
            columns: vec![Column {
                name: range.column.name.clone(),
                ty: column_type,
            }],
        })
    }

    pub(super) fn plan_operator(
        &mut self,
        input: Relation,
        operator: &ast::Operator,
    ) -> Result<Relation, EngineError> {
        match &operator.kind {
            OperatorKind::Where(predicate) => {
                let typed = self.plan_expr(predicate, &input)?;
                let (plan, mut predicates) =
                    super::serialize::with_windows(input.plan, vec![to_bool(typed)])?;
                let windowed = matches!(plan, datafusion::logical_expr::LogicalPlan::Window(_));
                let plan = LogicalPlanBuilder::from(plan)
                    .filter(predicates.remove(0))
                    .and_then(|b| b.build())
                    .map_err(EngineError::plan)?;
                let filtered = Relation {
                    plan,
                    columns: input.columns,
                };
                // A `prev` or `next` in the predicate added window columns.
                if windowed {
                    let columns = filtered.columns.clone();
                    return select(filtered, columns);
                }
                Ok(filtered)
            }
            OperatorKind::Project(items) => self.project_named(input, items, "Column", true),
            OperatorKind::Extend(items) => self.extend(input, items),
            // Rows already keep the order of the `sort` before them, which
            // `prev`, `next` and `row_number` read.
            OperatorKind::Serialize(items) if items.is_empty() => Ok(input),
            OperatorKind::Serialize(items) => self.extend(input, items),
            OperatorKind::ProjectAway(names) => {
                let removed = self.match_names(&input, names)?;
                let kept: Vec<Column> = input
                    .columns
                    .iter()
                    .filter(|c| !removed.contains(&c.name))
                    .cloned()
                    .collect();
                select(input, kept)
            }
            OperatorKind::ProjectKeep(names) => {
                let keep = self.match_names(&input, names)?;
                let kept: Vec<Column> = input
                    .columns
                    .iter()
                    .filter(|c| keep.contains(&c.name))
                    .cloned()
                    .collect();
                select(input, kept)
            }
            OperatorKind::ProjectRename(pairs) => {
                let mut columns = input.columns.clone();
                let mut exprs: Vec<Expr> = input
                    .columns
                    .iter()
                    .map(|c| column_expr(&c.name).alias(&c.name))
                    .collect();
                for (new, old) in pairs {
                    let Some(index) = input.columns.iter().position(|c| c.name == old.name) else {
                        let names: Vec<&str> =
                            input.columns.iter().map(|c| c.name.as_str()).collect();
                        return Err(unknown_name("column", old, &names));
                    };
                    exprs[index] = column_expr(&old.name).alias(&new.name);
                    columns[index].name = new.name.clone();
                }
                project(input.plan, exprs, columns)
            }
            OperatorKind::ProjectReorder(items) => {
                let mut ordered: Vec<Column> = Vec::new();
                for item in items {
                    let mut matched: Vec<Column> = input
                        .columns
                        .iter()
                        .filter(|c| {
                            wildcard_match(&item.name.name, &c.name)
                                && !ordered.iter().any(|o| o.name == c.name)
                        })
                        .cloned()
                        .collect();
                    match item.order.as_deref() {
                        Some("asc") | Some("granny-asc") => {
                            matched.sort_by(|a, b| a.name.cmp(&b.name))
                        }
                        Some("desc") | Some("granny-desc") => {
                            matched.sort_by(|a, b| b.name.cmp(&a.name))
                        }
                        _ => {}
                    }
                    ordered.extend(matched);
                }
                for column in &input.columns {
                    if !ordered.iter().any(|c| c.name == column.name) {
                        ordered.push(column.clone());
                    }
                }
                select(input, ordered)
            }
            OperatorKind::Summarize(summarize) => self.plan_summarize(input, summarize),
            OperatorKind::Count(name) => {
                let name = name
                    .as_ref()
                    .map_or("Count".to_string(), |n| n.name.clone());
                let plan = LogicalPlanBuilder::from(input.plan)
                    .aggregate(
                        Vec::<Expr>::new(),
                        vec![
                            datafusion::functions_aggregate::expr_fn::count(lit(1i64)).alias(&name),
                        ],
                    )
                    .and_then(|b| b.build())
                    .map_err(EngineError::plan)?;
                Ok(Relation {
                    plan,
                    columns: vec![Column {
                        name,
                        ty: KqlType::Long,
                    }],
                })
            }
            OperatorKind::Take(count) => {
                let count = self.constant_count(count, &input)?;
                let plan = LogicalPlanBuilder::from(input.plan)
                    .limit(0, Some(count))
                    .and_then(|b| b.build())
                    .map_err(EngineError::plan)?;
                Ok(Relation {
                    plan,
                    columns: input.columns,
                })
            }
            OperatorKind::Sort(keys) => self.sort(input, keys, None),
            OperatorKind::Top { count, by } => {
                let count = self.constant_count(count, &input)?;
                self.sort(input, by, Some(count))
            }
            OperatorKind::Distinct(exprs) => {
                if exprs.len() == 1 && matches!(exprs[0].kind, ExprKind::Star) {
                    let plan = LogicalPlanBuilder::from(input.plan)
                        .distinct()
                        .and_then(|b| b.build())
                        .map_err(EngineError::plan)?;
                    return Ok(Relation {
                        plan,
                        columns: input.columns,
                    });
                }
                let items: Vec<ast::NamedExpr> = exprs
                    .iter()
                    .map(|e| ast::NamedExpr {
                        names: Vec::new(),
                        expr: e.clone(),
                        span: e.span,
                    })
                    .collect();
                let projected = self.project_named(input, &items, "Column", true)?;
                let plan = LogicalPlanBuilder::from(projected.plan)
                    .distinct()
                    .and_then(|b| b.build())
                    .map_err(EngineError::plan)?;
                Ok(Relation {
                    plan,
                    columns: projected.columns,
                })
            }
            OperatorKind::Union(union) => {
                let mut legs = vec![("union_arg".to_string(), input)];
                for table in &union.tables {
                    legs.extend(self.plan_union_leg(table, union.is_fuzzy)?);
                }
                union_relations(legs, union, operator.span)
            }
            OperatorKind::Render(_) | OperatorKind::As(_) => Ok(input),
            OperatorKind::Join(join) => self.plan_join(input, join, false),
            OperatorKind::Lookup(join) => self.plan_join(input, join, true),
            OperatorKind::Invoke(call) => match self.lookup(&call.name.name) {
                Some(Binding::Function(function)) => {
                    self.plan_function_call(call, &function, Some(input))
                }
                _ => Err(EngineError::semantic(Diagnostic::new(
                    format!(
                        "`invoke` needs a function defined with `let`, and `{}` is not one",
                        call.name.name
                    ),
                    call.name.span,
                ))),
            },
            OperatorKind::GetSchema => self.get_schema(input),
            OperatorKind::MvExpand(spec) => self.plan_mv_expand(input, spec),
            OperatorKind::MvApply(spec) => self.plan_mv_apply(input, spec, operator.span),
            OperatorKind::MakeSeries(spec) => self.plan_make_series(input, spec, operator.span),
            OperatorKind::Evaluate(evaluate) => self.plan_evaluate(input, evaluate, operator.span),
            OperatorKind::ProjectByNames(items) => self.project_by_names(input, items),
            OperatorKind::TopNested(levels) => self.plan_top_nested(input, levels),
            OperatorKind::Reduce(spec) => self.plan_reduce(input, spec, operator.span),
            OperatorKind::Parse(spec) => self.plan_parse(input, spec, false, operator.span),
            OperatorKind::ParseWhere(spec) => self.plan_parse(input, spec, true, operator.span),
            OperatorKind::ParseKv(spec) => self.plan_parse_kv(input, spec),
            OperatorKind::Unsupported { name, .. } => {
                Err(EngineError::not_supported(Diagnostic::new(
                    format!("operator `{name}` is not supported yet"),
                    operator.span,
                )))
            }
            other => Err(EngineError::not_supported(Diagnostic::new(
                format!("operator `{}` is not supported yet", operator_name(other)),
                operator.span,
            ))),
        }
    }

    /// Plans `project` and `print` items. Unnamed computed items are named
    /// `{prefix}{n}` (`print_0`, `Column1`).
    pub(super) fn project_named(
        &mut self,
        input: Relation,
        items: &[ast::NamedExpr],
        prefix: &str,
        one_based: bool,
    ) -> Result<Relation, EngineError> {
        let items = super::multi_output::expand_multi_output(items)?;
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        let mut used = HashSet::new();
        let mut unnamed = if one_based { 1 } else { 0 };
        for item in items.iter() {
            let typed = self.plan_expr(&item.expr, &input)?;
            let name = match (item.names.first(), &item.expr.kind) {
                (Some(name), _) => name.name.clone(),
                (None, ExprKind::Name(ident)) if input.column(&ident.name).is_some() => {
                    ident.name.clone()
                }
                _ => match digest_column_name(&item.expr) {
                    Some(name) => name,
                    None => {
                        let name = format!("{prefix}{unnamed}");
                        unnamed += 1;
                        name
                    }
                },
            };
            let name = unique_name(&name, &mut used);
            exprs.push(typed.expr.alias(&name));
            columns.push(Column { name, ty: typed.ty });
        }
        project(input.plan, exprs, columns)
    }

    fn extend(
        &mut self,
        input: Relation,
        items: &[ast::NamedExpr],
    ) -> Result<Relation, EngineError> {
        let mut columns = input.columns.clone();
        let mut exprs: Vec<Expr> = columns
            .iter()
            .map(|c| column_expr(&c.name).alias(&c.name))
            .collect();
        let mut unnamed = 1;
        // KQL lets later items use columns that earlier items define, so the
        // items are planned one at a time, each over the previous result.
        let input_width = input.columns.len();
        let mut current = input;
        let items = super::multi_output::expand_multi_output(items)?;
        for item in items.iter() {
            let outer_width = self.extend_input_width.replace(input_width);
            let typed = self.plan_expr(&item.expr, &current);
            self.extend_input_width = outer_width;
            let typed = typed?;
            let name = match item.names.first() {
                Some(name) => name.name.clone(),
                None => {
                    let mut name = format!("Column{unnamed}");
                    while columns.iter().any(|c| c.name == name) {
                        unnamed += 1;
                        name = format!("Column{unnamed}");
                    }
                    unnamed += 1;
                    name
                }
            };
            match columns.iter().position(|c| c.name == name) {
                Some(index) => {
                    exprs[index] = typed.expr.alias(&name);
                    columns[index].ty = typed.ty;
                }
                None => {
                    exprs.push(typed.expr.alias(&name));
                    columns.push(Column { name, ty: typed.ty });
                }
            }
            current = project(current.plan, exprs.clone(), columns.clone())?;
            exprs = columns
                .iter()
                .map(|c| column_expr(&c.name).alias(&c.name))
                .collect();
        }
        Ok(current)
    }

    /// Plans `project-by-names`: each item is a constant name pattern or a
    /// dynamic array of them. Columns come out in the order of the
    /// patterns, and the columns one wildcard matches in input order.
    fn project_by_names(
        &mut self,
        input: Relation,
        items: &[ast::Expr],
    ) -> Result<Relation, EngineError> {
        let mut patterns: Vec<(String, Span)> = Vec::new();
        for item in items {
            let typed = self.plan_expr(item, &input)?;
            let is_dynamic = typed.ty == KqlType::Dynamic;
            let Expr::Literal(ScalarValue::Utf8(Some(text)), _) =
                simplify(coerce_to(typed, KqlType::String))?
            else {
                return Err(EngineError::semantic(Diagnostic::new(
                    "`project-by-names` takes constant column names or dynamic arrays of them",
                    item.span,
                )));
            };
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Array(names)) if is_dynamic => {
                    for name in names {
                        let name = crate::functions::arrays::element_text(&name);
                        patterns.push((name, item.span));
                    }
                }
                _ => patterns.push((text, item.span)),
            }
        }

        let mut kept: Vec<Column> = Vec::new();
        for (pattern, span) in patterns {
            let matching: Vec<&Column> = input
                .columns
                .iter()
                .filter(|c| wildcard_match(&pattern, &c.name))
                .collect();
            if matching.is_empty() && !pattern.contains('*') {
                let ident = ast::Ident {
                    name: pattern,
                    span,
                };
                let names: Vec<&str> = input.columns.iter().map(|c| c.name.as_str()).collect();
                return Err(unknown_name("column", &ident, &names));
            }
            for column in matching {
                if !kept.iter().any(|k| k.name == column.name) {
                    kept.push(column.clone());
                }
            }
        }
        select(input, kept)
    }

    pub(super) fn match_names(
        &self,
        input: &Relation,
        names: &[ast::Ident],
    ) -> Result<HashSet<String>, EngineError> {
        let mut matched = HashSet::new();
        for ident in names {
            let before = matched.len();
            for column in &input.columns {
                if wildcard_match(&ident.name, &column.name) {
                    matched.insert(column.name.clone());
                }
            }
            if matched.len() == before && !ident.name.contains('*') {
                let names: Vec<&str> = input.columns.iter().map(|c| c.name.as_str()).collect();
                return Err(unknown_name("column", ident, &names));
            }
        }
        Ok(matched)
    }

    pub(crate) fn constant_count(
        &mut self,
        count: &ast::Expr,
        input: &Relation,
    ) -> Result<usize, EngineError> {
        let typed = self.plan_expr(count, input)?;
        let value = constant_i64(coerce_to(typed, KqlType::Long), count.span)?;
        usize::try_from(value).map_err(|_| {
            EngineError::semantic(Diagnostic::new(
                format!("the row count must not be negative, but it is {value}"),
                count.span,
            ))
        })
    }

    pub(super) fn sort(
        &mut self,
        input: Relation,
        keys: &[ast::SortKey],
        fetch: Option<usize>,
    ) -> Result<Relation, EngineError> {
        let mut sort_exprs = Vec::new();
        for key in keys {
            let typed = self.plan_expr(&key.expr, &input)?;
            let ascending = key.ascending.unwrap_or(false);
            let nulls_first = key.nulls_first.unwrap_or(ascending);
            sort_exprs.push(typed.expr.sort(ascending, nulls_first));
        }
        let plan = LogicalPlanBuilder::from(input.plan)
            .sort_with_limit(sort_exprs, fetch)
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        Ok(Relation {
            plan,
            columns: input.columns,
        })
    }

    fn get_schema(&mut self, input: Relation) -> Result<Relation, EngineError> {
        let rows: Vec<Vec<Expr>> = input
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                vec![
                    lit(c.name.clone()),
                    lit(i as i32),
                    lit(system_type_name(c.ty)),
                    lit(c.ty.name()),
                ]
            })
            .collect();
        let names = ["ColumnName", "ColumnOrdinal", "DataType", "ColumnType"];
        let types = [
            KqlType::String,
            KqlType::Int,
            KqlType::String,
            KqlType::String,
        ];
        let plan = LogicalPlanBuilder::values(rows)
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        let exprs: Vec<Expr> = (0..4)
            .map(|i| column_expr(plan.schema().field(i).name()).alias(names[i]))
            .collect();
        let columns = names
            .iter()
            .zip(types)
            .map(|(n, ty)| Column {
                name: n.to_string(),
                ty,
            })
            .collect();
        project(plan, exprs, columns)
    }
}

fn system_type_name(ty: KqlType) -> &'static str {
    match ty {
        KqlType::Bool => "System.SByte",
        KqlType::Int => "System.Int32",
        KqlType::Long => "System.Int64",
        KqlType::Real => "System.Double",
        KqlType::Decimal => "System.Data.SqlTypes.SqlDecimal",
        KqlType::String => "System.String",
        KqlType::Datetime => "System.DateTime",
        KqlType::Timespan => "System.TimeSpan",
        KqlType::Guid => "System.Guid",
        KqlType::Dynamic => "System.Object",
    }
}

fn operator_name(kind: &OperatorKind) -> &'static str {
    match kind {
        OperatorKind::Join(_) => "join",
        OperatorKind::Lookup(_) => "lookup",
        OperatorKind::MvExpand(_) => "mv-expand",
        OperatorKind::MvApply(_) => "mv-apply",
        OperatorKind::MakeSeries(_) => "make-series",
        OperatorKind::Parse(_) => "parse",
        OperatorKind::ParseWhere(_) => "parse-where",
        OperatorKind::Evaluate(_) => "evaluate",
        OperatorKind::Invoke(_) => "invoke",
        OperatorKind::Serialize(_) => "serialize",
        OperatorKind::Sample(_) => "sample",
        _ => "this operator",
    }
}

/// Matches a name against a pattern where `*` stands for any text.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Evaluates a constant expression at plan time.
fn constant(expr: Expr, span: Span) -> Result<Expr, EngineError> {
    let simplified = simplify(expr)?;
    match simplified {
        Expr::Literal(..) => Ok(simplified),
        _ => Err(EngineError::semantic(Diagnostic::new(
            "expected a constant value",
            span,
        ))),
    }
}

fn constant_i64(expr: Expr, span: Span) -> Result<i64, EngineError> {
    match simplify(cast(expr, arrow::datatypes::DataType::Int64))? {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => Ok(v),
        _ => Err(EngineError::semantic(Diagnostic::new(
            "expected a constant number",
            span,
        ))),
    }
}

pub(crate) fn simplify(expr: Expr) -> Result<Expr, EngineError> {
    use datafusion::logical_expr::simplify::SimplifyContext;
    use datafusion::optimizer::simplify_expressions::ExprSimplifier;
    let context = SimplifyContext::default();
    ExprSimplifier::new(context)
        .simplify(expr)
        .map_err(EngineError::plan)
}

/// Combines union legs by column name: a column missing from a leg is null
/// there; `withsource=` adds the leg's table name as the first column.
fn union_relations(
    legs: Vec<(String, Relation)>,
    union: &ast::UnionSpec,
    span: Span,
) -> Result<Relation, EngineError> {
    if legs.is_empty() {
        return Err(EngineError::semantic(Diagnostic::new(
            "`union` found no tables to combine",
            span,
        )));
    }
    let mut columns: Vec<Column> = Vec::new();
    if let Some(source) = &union.with_source {
        columns.push(Column {
            name: source.name.clone(),
            ty: KqlType::String,
        });
    }

    // A name that comes with different types in different legs becomes
    // one column per type, named `{name}_{type}`. A generated name gets a
    // numeric suffix when a leg already has a column of that name.
    let mut types_by_name: Vec<(String, Vec<KqlType>)> = Vec::new();
    for (_, relation) in &legs {
        for column in &relation.columns {
            match types_by_name.iter_mut().find(|(n, _)| *n == column.name) {
                Some((_, types)) if !types.contains(&column.ty) => types.push(column.ty),
                Some(_) => {}
                None => types_by_name.push((column.name.clone(), vec![column.ty])),
            }
        }
    }
    let plain_names: HashSet<String> = types_by_name
        .iter()
        .filter(|(_, types)| types.len() == 1)
        .map(|(name, _)| name.clone())
        .collect();
    let mut used: HashSet<String> = columns.iter().map(|c| c.name.clone()).collect();
    // (source name, source type) of every output column after the source
    // column, in output order.
    let mut sources: Vec<(String, KqlType)> = Vec::new();
    for (name, types) in &types_by_name {
        for ty in types {
            let output = if types.len() == 1 {
                used.insert(name.clone());
                name.clone()
            } else {
                let base = format!("{name}_{ty}");
                let mut candidate = base.clone();
                let mut suffix = 1;
                while plain_names.contains(&candidate) || used.contains(&candidate) {
                    candidate = format!("{base}{suffix}");
                    suffix += 1;
                }
                used.insert(candidate.clone());
                candidate
            };
            sources.push((name.clone(), *ty));
            columns.push(Column {
                name: output,
                ty: *ty,
            });
        }
    }
    let source_offset = usize::from(union.with_source.is_some());

    let inner = union
        .kind
        .as_ref()
        .is_some_and(|k| k.name.eq_ignore_ascii_case("inner"));
    let mut keep_column: Vec<bool> = vec![true; columns.len()];
    if inner {
        for (index, (name, ty)) in sources.iter().enumerate() {
            keep_column[index + source_offset] = legs
                .iter()
                .all(|(_, r)| r.columns.iter().any(|rc| rc.name == *name && rc.ty == *ty));
        }
    }

    let mut builder: Option<LogicalPlanBuilder> = None;
    for (leg_name, relation) in legs {
        let mut exprs: Vec<Expr> = Vec::new();
        if let Some(source) = &union.with_source {
            exprs.push(lit(leg_name.clone()).alias(&source.name));
        }
        for (index, (name, ty)) in sources.iter().enumerate() {
            let column = &columns[index + source_offset];
            if !keep_column[index + source_offset] {
                continue;
            }
            let present = relation
                .columns
                .iter()
                .any(|rc| rc.name == *name && rc.ty == *ty);
            let expr = if present {
                column_expr(name)
            } else {
                let null = ScalarValue::try_from(physical_type(*ty)).unwrap_or(ScalarValue::Null);
                lit(null)
            };
            exprs.push(expr.alias(&column.name));
        }
        let plan = super::project_unqualified(relation.plan, exprs)
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        builder = Some(match builder {
            None => LogicalPlanBuilder::from(plan),
            Some(b) => b.union(plan).map_err(EngineError::plan)?,
        });
    }
    let plan = builder
        .expect("at least one leg")
        .build()
        .map_err(EngineError::plan)?;
    let columns = columns
        .into_iter()
        .zip(keep_column)
        .filter_map(|(column, keep)| keep.then_some(column))
        .collect();
    Ok(Relation { plan, columns })
}

/// Names an unnamed `dcount_hll(d)` or `percentile_tdigest(d, ...)` column
/// after the function and its digest column (`dcount_hll_d`), as Kusto
/// does for these functions.
fn digest_column_name(expr: &ast::Expr) -> Option<String> {
    let ExprKind::Call(call) = &expr.kind else {
        return None;
    };
    if !matches!(call.name.name.as_str(), "dcount_hll" | "percentile_tdigest") {
        return None;
    }
    let ExprKind::Name(digest) = &call.args.first()?.value.kind else {
        return None;
    };
    Some(format!("{}_{}", call.name.name, digest.name))
}
