//! `join` and `lookup`.
//!
//! Both sides keep their column names; a right-side column whose name the
//! left side already uses gets a numeric suffix (`Account1`), as in Kusto,
//! so key columns appear twice. The default kind is `innerunique`: the left
//! side is first reduced to one row per key.

use datafusion::common::JoinType;
use datafusion::functions_aggregate::expr_fn::first_value;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast};
use kql::ast::{self, JoinCondition};
use kql::{Diagnostic, KqlType};

use super::summarize::unique_name;
use super::{
    Column, Planner, Relation, column_expr, column_exprs, physical_type, project, unknown_name,
};
use crate::error::EngineError;

/// The join kinds and how each maps onto DataFusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InnerUnique,
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    LeftSemi,
    LeftAnti,
    RightSemi,
    RightAnti,
}

fn parse_kind(kind: Option<&ast::Ident>, lookup: bool) -> Result<Kind, EngineError> {
    let Some(ident) = kind else {
        return Ok(if lookup {
            Kind::LeftOuter
        } else {
            Kind::InnerUnique
        });
    };
    let parsed = match ident.name.to_ascii_lowercase().as_str() {
        "innerunique" => Kind::InnerUnique,
        "inner" => Kind::Inner,
        "leftouter" => Kind::LeftOuter,
        "rightouter" => Kind::RightOuter,
        "fullouter" => Kind::FullOuter,
        "leftsemi" => Kind::LeftSemi,
        "leftanti" | "anti" | "leftantisemi" => Kind::LeftAnti,
        "rightsemi" => Kind::RightSemi,
        "rightanti" | "rightantisemi" => Kind::RightAnti,
        other => {
            return Err(EngineError::semantic(
                Diagnostic::new(format!("unknown join kind `{other}`"), ident.span).with_help(
                    "use innerunique, inner, leftouter, rightouter, fullouter, leftsemi, leftanti, rightsemi or rightanti",
                ),
            ));
        }
    };
    if lookup && !matches!(parsed, Kind::LeftOuter | Kind::Inner) {
        return Err(EngineError::semantic(Diagnostic::new(
            "`lookup` supports only kind=leftouter and kind=inner",
            ident.span,
        )));
    }
    Ok(parsed)
}

impl Planner<'_> {
    /// Plans `left | join kind=... (right) on ...`. With `lookup`, key
    /// columns of the right side are not repeated in the output.
    pub(crate) fn plan_join(
        &mut self,
        left: Relation,
        join: &ast::Join,
        lookup: bool,
    ) -> Result<Relation, EngineError> {
        let kind = parse_kind(join.kind.as_ref(), lookup)?;
        let right = self.plan_tabular(&join.right)?;

        let mut key_pairs: Vec<(Column, Column)> = Vec::new();
        for condition in &join.on {
            let (left_name, right_name) = match condition {
                JoinCondition::Column(ident) => (ident, ident),
                JoinCondition::Equal { left, right, .. } => (left, right),
            };
            let left_column = find(&left, left_name)?;
            let right_column = find(&right, right_name)?;
            key_pairs.push((left_column, right_column));
        }
        if key_pairs.is_empty() {
            return Err(EngineError::semantic(Diagnostic::new(
                "`join` needs at least one `on` condition",
                join.span,
            )));
        }

        let left = if kind == Kind::InnerUnique {
            first_row_per_key(left, &key_pairs)?
        } else {
            left
        };

        // Rename right-side columns that clash with left-side names.
        let mut used: std::collections::HashSet<String> =
            left.columns.iter().map(|c| c.name.clone()).collect();
        let mut right_columns = Vec::new();
        let mut right_exprs = Vec::new();
        for column in &right.columns {
            let name = unique_name(&column.name, &mut used);
            let mut expr = column_expr(&column.name);
            if let Some((left_key, _)) = key_pairs.iter().find(|(_, r)| r.name == column.name)
                && left_key.ty != column.ty
            {
                expr = cast(expr, physical_type(left_key.ty));
            }
            right_exprs.push(expr.alias(&name));
            right_columns.push((
                column.name.clone(),
                Column {
                    name,
                    ty: column.ty,
                },
            ));
        }
        let right_plan = super::project_unqualified(right.plan, right_exprs)
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;

        let left_keys: Vec<datafusion::common::Column> = key_pairs
            .iter()
            .map(|(l, _)| datafusion::common::Column::new_unqualified(&l.name))
            .collect();
        let right_keys: Vec<datafusion::common::Column> = key_pairs
            .iter()
            .map(|(_, r)| {
                let renamed = &right_columns
                    .iter()
                    .find(|(original, _)| *original == r.name)
                    .expect("key is a right column")
                    .1;
                datafusion::common::Column::new_unqualified(&renamed.name)
            })
            .collect();

        let join_type = match kind {
            Kind::InnerUnique | Kind::Inner => JoinType::Inner,
            Kind::LeftOuter => JoinType::Left,
            Kind::RightOuter => JoinType::Right,
            Kind::FullOuter => JoinType::Full,
            Kind::LeftSemi => JoinType::LeftSemi,
            Kind::LeftAnti => JoinType::LeftAnti,
            Kind::RightSemi => JoinType::RightSemi,
            Kind::RightAnti => JoinType::RightAnti,
        };
        let plan = LogicalPlanBuilder::from(left.plan)
            .join(right_plan, join_type, (left_keys, right_keys), None)
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;

        // Each output column with the name it has in the join plan. Semi
        // and anti joins on the right return the right side under its own
        // column names, so the clash suffixes are dropped again.
        let sourced: Vec<(String, Column)> = match kind {
            Kind::LeftSemi | Kind::LeftAnti => left
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
            Kind::RightSemi | Kind::RightAnti => right_columns
                .iter()
                .map(|(original, c)| {
                    let output = Column {
                        name: original.clone(),
                        ty: c.ty,
                    };
                    (c.name.clone(), output)
                })
                .collect(),
            _ => {
                let mut all: Vec<(String, Column)> = left
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.clone()))
                    .collect();
                for (original, column) in &right_columns {
                    let is_key = key_pairs
                        .iter()
                        .any(|(l, r)| r.name == *original && l.name == *original);
                    if lookup && is_key {
                        continue;
                    }
                    all.push((column.name.clone(), column.clone()));
                }
                all
            }
        };
        // Outer joins leave the missing side's strings null; KQL shows "".
        let exprs: Vec<Expr> = sourced
            .iter()
            .map(|(source, c)| {
                let expr = column_expr(source);
                let expr = if c.ty == KqlType::String {
                    datafusion::functions::core::expr_fn::coalesce(vec![
                        expr,
                        datafusion::logical_expr::lit(""),
                    ])
                } else {
                    expr
                };
                expr.alias(&c.name)
            })
            .collect();
        let columns = sourced.into_iter().map(|(_, c)| c).collect();
        project(plan, exprs, columns)
    }
}

fn find(relation: &Relation, ident: &ast::Ident) -> Result<Column, EngineError> {
    relation.column(&ident.name).cloned().ok_or_else(|| {
        let names: Vec<&str> = relation.columns.iter().map(|c| c.name.as_str()).collect();
        unknown_name("join column", ident, &names)
    })
}

/// Keeps one row per distinct key of the left side (`innerunique`).
/// NOTE: which row survives is not defined, as in Kusto.
fn first_row_per_key(left: Relation, keys: &[(Column, Column)]) -> Result<Relation, EngineError> {
    let key_names: Vec<&str> = keys.iter().map(|(l, _)| l.name.as_str()).collect();
    let group: Vec<Expr> = key_names.iter().map(|name| column_expr(name)).collect();
    let aggregates: Vec<Expr> = left
        .columns
        .iter()
        .filter(|c| !key_names.contains(&c.name.as_str()))
        .map(|c| first_value(column_expr(&c.name), vec![]).alias(&c.name))
        .collect();
    let plan = LogicalPlanBuilder::from(left.plan)
        .aggregate(group, aggregates)
        .and_then(|b| b.build())
        .map_err(EngineError::plan)?;
    project(plan, column_exprs(&left.columns), left.columns)
}
