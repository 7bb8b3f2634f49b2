//! `mv-expand`: one output row per element of a dynamic array or property
//! bag, planned as a DataFusion unnest of per-row element lists.

use datafusion::common::{Column as DfColumn, UnnestOptions};
use datafusion::logical_expr::Expr;
use kql::ast::{self, ExprKind};
use kql::{Diagnostic, KqlType};

use super::{Column, Planner, Relation, column_expr, project};
use crate::error::EngineError;
use crate::functions::expand::{self, BagExpansion};
use crate::functions::{self as f};

/// The per-row row limit when the query gives none.
const DEFAULT_ROW_LIMIT: usize = i32::MAX as usize;

/// One expanded column: its output name, the element list column that
/// holds it before the unnest, and the `to typeof()` type.
struct Expanded {
    name: String,
    list_column: String,
    ty: KqlType,
}

impl Planner<'_> {
    pub(crate) fn plan_mv_expand(
        &mut self,
        input: Relation,
        spec: &ast::MvExpand,
    ) -> Result<Relation, EngineError> {
        let bags = match &spec.bag_expansion {
            None => BagExpansion::Bag,
            Some(kind) if kind.name.eq_ignore_ascii_case("bag") => BagExpansion::Bag,
            Some(kind) if kind.name.eq_ignore_ascii_case("array") => BagExpansion::Array,
            Some(kind) => {
                return Err(EngineError::semantic(
                    Diagnostic::new(format!("unknown bag expansion `{}`", kind.name), kind.span)
                        .with_help("use `bagexpansion=bag` or `bagexpansion=array`"),
                ));
            }
        };
        let limit = match &spec.limit {
            Some(limit) => self.constant_count(limit, &input)?,
            None => DEFAULT_ROW_LIMIT,
        };

        // Step 1: keep every input column and add one element list per
        // expanded expression (plus the item indexes when asked).
        let mut exprs: Vec<Expr> = input
            .columns
            .iter()
            .map(|c| column_expr(&c.name).alias(&c.name))
            .collect();
        let mut expanded = Vec::new();
        let mut dynamic_values = Vec::new();
        for (position, item) in spec.columns.iter().enumerate() {
            let typed = self.plan_expr(&item.expr.expr, &input)?;
            let name = expanded_name(&item.expr, position);
            let ty = match &item.to_type {
                Some(type_name) => KqlType::from_name(&type_name.name).ok_or_else(|| {
                    EngineError::semantic(Diagnostic::new(
                        format!("unknown type `{}`", type_name.name),
                        type_name.span,
                    ))
                })?,
                None => KqlType::Dynamic,
            };
            let value = f::to_dynamic(typed);
            let list_column = format!("__mv_expand_{position}");
            exprs.push(expand::element_list(value.clone(), bags, limit).alias(&list_column));
            dynamic_values.push(value);
            expanded.push(Expanded {
                name,
                list_column,
                ty,
            });
        }
        let index_column = "__mv_expand_index";
        if spec.with_item_index.is_some() {
            exprs.push(expand::index_list(dynamic_values, limit).alias(index_column));
        }

        // Step 2: unnest all lists together; shorter lists are padded with
        // nulls up to the longest one of the row.
        let mut unnested: Vec<DfColumn> = expanded
            .iter()
            .map(|e| DfColumn::new_unqualified(&e.list_column))
            .collect();
        if spec.with_item_index.is_some() {
            unnested.push(DfColumn::new_unqualified(index_column));
        }
        let plan = super::project_unqualified(input.plan, exprs)
            .and_then(|b| b.unnest_columns_with_options(unnested, UnnestOptions::new()))
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;

        // Step 3: put each expanded value in place of the column it came
        // from, or after the input columns when it has a new name.
        let mut columns = input.columns.clone();
        let mut out: Vec<Expr> = columns.iter().map(|c| column_expr(&c.name)).collect();
        for item in expanded {
            let element = column_expr(&item.list_column);
            let value = match item.ty {
                KqlType::Dynamic => element,
                ty => expand::cast_dynamic(element, ty),
            };
            match columns.iter().position(|c| c.name == item.name) {
                Some(index) => {
                    out[index] = value;
                    columns[index].ty = item.ty;
                }
                None => {
                    out.push(value);
                    columns.push(Column {
                        name: item.name,
                        ty: item.ty,
                    });
                }
            }
        }
        if let Some(index_name) = &spec.with_item_index {
            out.push(column_expr(index_column));
            columns.push(Column {
                name: index_name.name.clone(),
                ty: KqlType::Long,
            });
        }
        let out = out
            .into_iter()
            .zip(&columns)
            .map(|(expr, column)| expr.alias(&column.name))
            .collect();
        project(plan, out, columns)
    }
}

/// The output name of an expanded expression: its explicit name, the
/// column it reads, or `Column{n}`.
pub(super) fn expanded_name(item: &ast::NamedExpr, position: usize) -> String {
    if let Some(name) = item.names.first() {
        return name.name.clone();
    }
    match &item.expr.kind {
        ExprKind::Name(ident) => ident.name.clone(),
        _ => format!("Column{}", position + 1),
    }
}
