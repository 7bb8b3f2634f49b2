//! `evaluate ipv4_lookup` and `evaluate ipv6_lookup`: each input row
//! joined with the rows of a lookup table whose network (an address or a
//! CIDR range) contains the row's address.
//!
//! The input is copied once per prefix length (33 for IPv4, 129 for
//! IPv6), and each copy masks the address to that length. The lookup
//! table's networks are masked to their own prefix length. An equality
//! join on (masked address, prefix length) then finds every containing
//! network without comparing each row with each network. An address
//! inside several of the table's networks gets one row per network.
//!
//! `return_unmatched = true` keeps the rows that no network contains,
//! with empty lookup columns: the input gets a hidden row number, and a
//! left anti join on it finds the rows the inner join left out.

use datafusion::common::NullEquality;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, cast, lit};
use kql::ast::{self, Literal};
use kql::{Diagnostic, KqlType};

use super::syntax::{call_expr, name_expr};
use super::{
    Column, Planner, Relation, column_expr, column_exprs, empty_value, physical_type, project,
};
use crate::error::EngineError;

const ROW: &str = "__ip_lookup_row";
const MASKED: &str = "__ip_lookup_masked";
const PREFIX: &str = "__ip_lookup_prefix";

/// The address family of a lookup.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    fn plugin(self) -> &'static str {
        match self {
            Family::V4 => "ipv4_lookup",
            Family::V6 => "ipv6_lookup",
        }
    }

    fn bits(self) -> i64 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    fn mask_function(self) -> &'static str {
        match self {
            Family::V4 => "parse_ipv4_mask",
            Family::V6 => "parse_ipv6_mask",
        }
    }

    /// Builds the prefix length of a network text: what follows its `/`,
    /// or the full width for a single address.
    fn prefix_of(self, network: ast::Expr) -> ast::Expr {
        let span = network.span;
        let literal = |value: Literal| ast::Expr {
            kind: ast::ExprKind::Literal(value),
            span,
        };
        match self {
            Family::V4 => call_expr("ipv4_netmask_suffix", vec![network], span),
            Family::V6 => {
                let digits = call_expr(
                    "extract",
                    vec![
                        literal(Literal::String("/([0-9]+)$".into())),
                        literal(Literal::Long(1)),
                        network,
                    ],
                    span,
                );
                let prefix = call_expr("tolong", vec![digits], span);
                call_expr(
                    "coalesce",
                    vec![prefix, literal(Literal::Long(self.bits()))],
                    span,
                )
            }
        }
    }
}

impl Planner<'_> {
    /// Plans `ipv4_lookup(LookupTable, SourceKey, LookupKey [, ExtraKey,
    /// ...] [, return_unmatched])` and its IPv6 twin.
    pub(crate) fn plan_ip_lookup(
        &mut self,
        input: Relation,
        call: &ast::Call,
        family: Family,
    ) -> Result<Relation, EngineError> {
        let plugin = family.plugin();
        self.arity(call, 3, usize::MAX)?;
        let mut args: Vec<&ast::Expr> = call.args.iter().map(|arg| &arg.value).collect();
        let mut return_unmatched = false;
        if let Some(last) = args.last()
            && let ast::ExprKind::Literal(Literal::Bool(value)) = &last.kind
        {
            return_unmatched = *value;
            args.pop();
        }
        let ast::ExprKind::Name(table) = &args[0].kind else {
            return Err(EngineError::semantic(Diagnostic::new(
                format!("`{plugin}` expects the lookup table's name first"),
                args[0].span,
            )));
        };
        let lookup = self.plan_table_name(table)?;
        let column_name = |expr: &ast::Expr, relation: &Relation, side: &str| {
            let ast::ExprKind::Name(ident) = &expr.kind else {
                return Err(EngineError::semantic(Diagnostic::new(
                    format!("`{plugin}` expects a column name of the {side} here"),
                    expr.span,
                )));
            };
            match relation.column(&ident.name) {
                Some(column) => Ok(column.name.clone()),
                None => Err(EngineError::semantic(Diagnostic::new(
                    format!("unknown column `{}` in the {side}", ident.name),
                    ident.span,
                ))),
            }
        };
        let source_key = column_name(args[1], &input, "input")?;
        let lookup_key = column_name(args[2], &lookup, "lookup table")?;
        let mut extra_keys = Vec::new();
        for arg in &args[3..] {
            column_name(arg, &lookup, "lookup table")?;
            extra_keys.push(column_name(arg, &input, "input")?);
        }

        // The input with a row number, copied once per prefix length, with
        // the address masked to that length.
        let numbered = row_number().alias(ROW);
        let mut exprs = column_exprs(&input.columns);
        exprs.push(numbered);
        let mut numbered_columns = input.columns.clone();
        numbered_columns.push(Column {
            name: ROW.into(),
            ty: KqlType::Long,
        });
        let numbered = project(input.plan.clone(), exprs, numbered_columns)?;
        let prefixes = LogicalPlanBuilder::values(
            (0..=family.bits())
                .map(|p| vec![lit(p)])
                .collect::<Vec<_>>(),
        )
        .and_then(|b| b.project(vec![column_expr("column1").alias(PREFIX)]))
        .and_then(LogicalPlanBuilder::build)
        .map_err(EngineError::plan)?;
        let expanded_plan = LogicalPlanBuilder::from(numbered.plan.clone())
            .cross_join(prefixes)
            .and_then(LogicalPlanBuilder::build)
            .map_err(EngineError::plan)?;
        let mut expanded_columns = numbered.columns.clone();
        expanded_columns.push(Column {
            name: PREFIX.into(),
            ty: KqlType::Long,
        });
        let expanded = Relation {
            plan: expanded_plan,
            columns: expanded_columns,
        };
        let span = call.span;
        let masked = self.plan_expr(
            &call_expr(
                family.mask_function(),
                vec![name_expr(&source_key, span), name_expr(PREFIX, span)],
                span,
            ),
            &expanded,
        )?;
        let mut exprs = column_exprs(&expanded.columns);
        exprs.push(masked.expr.alias(MASKED));
        let mut columns = expanded.columns.clone();
        columns.push(Column {
            name: MASKED.into(),
            ty: masked.ty,
        });
        let source = project(expanded.plan, exprs, columns)?;

        // The lookup table with each network masked to its own length.
        let network = name_expr(&lookup_key, span);
        let lookup_masked = self.plan_expr(
            &call_expr(
                family.mask_function(),
                vec![
                    network.clone(),
                    ast::Expr {
                        kind: ast::ExprKind::Literal(Literal::Long(family.bits())),
                        span,
                    },
                ],
                span,
            ),
            &lookup,
        )?;
        let lookup_prefix = self.plan_expr(&family.prefix_of(network), &lookup)?;
        let right_name = |name: &str| format!("{name}__lookup");
        let mut right_exprs: Vec<Expr> = lookup
            .columns
            .iter()
            .map(|c| column_expr(&c.name).alias(right_name(&c.name)))
            .collect();
        right_exprs.push(lookup_masked.expr.alias(right_name(MASKED)));
        right_exprs
            .push(cast(lookup_prefix.expr, physical_type(KqlType::Long)).alias(right_name(PREFIX)));
        let right = super::project_unqualified(lookup.plan.clone(), right_exprs)
            .and_then(LogicalPlanBuilder::build)
            .map_err(EngineError::plan)?;

        let mut left_keys = vec![MASKED.to_string(), PREFIX.to_string()];
        left_keys.extend(extra_keys.iter().cloned());
        let right_keys: Vec<String> = left_keys.iter().map(|k| right_name(k)).collect();
        let joined = LogicalPlanBuilder::from(source.plan)
            .join_detailed(
                right,
                JoinType::Inner,
                (left_keys, right_keys),
                None,
                NullEquality::NullEqualsNothing,
            )
            .and_then(LogicalPlanBuilder::build)
            .map_err(EngineError::plan)?;

        // Output columns: the input's and the lookup table's, except the
        // lookup's copies of the extra keys. IPv6 puts the lookup's first,
        // as Kusto's reference example shows.
        let input_part: Vec<(Expr, Column)> = input
            .columns
            .iter()
            .map(|c| (column_expr(&c.name).alias(&c.name), c.clone()))
            .collect();
        let mut used: std::collections::HashSet<String> =
            input.columns.iter().map(|c| c.name.clone()).collect();
        let lookup_part: Vec<(Expr, Column)> = lookup
            .columns
            .iter()
            .filter(|c| !extra_keys.contains(&c.name))
            .map(|c| {
                let name = super::summarize::unique_name(&c.name, &mut used);
                let expr = column_expr(&right_name(&c.name)).alias(&name);
                (expr, Column { name, ty: c.ty })
            })
            .collect();
        let ordered: Vec<&(Expr, Column)> = match family {
            Family::V4 => input_part.iter().chain(&lookup_part).collect(),
            Family::V6 => lookup_part.iter().chain(&input_part).collect(),
        };
        let exprs: Vec<Expr> = ordered.iter().map(|(e, _)| e.clone()).collect();
        let columns: Vec<Column> = ordered.iter().map(|(_, c)| c.clone()).collect();
        let mut matched_exprs = exprs.clone();
        matched_exprs.push(column_expr(ROW).alias(ROW));
        let mut matched_columns = columns.clone();
        matched_columns.push(Column {
            name: ROW.into(),
            ty: KqlType::Long,
        });
        let matched = project(joined, matched_exprs, matched_columns)?;
        if !return_unmatched {
            return project(matched.plan, column_exprs(&columns), columns);
        }

        // Rows without a network: the input rows whose number the inner
        // join did not produce, with empty lookup columns.
        let matched_rows = super::project_unqualified(
            matched.plan.clone(),
            vec![column_expr(ROW).alias(right_name(ROW))],
        )
        .and_then(LogicalPlanBuilder::build)
        .map_err(EngineError::plan)?;
        let unmatched = LogicalPlanBuilder::from(numbered.plan)
            .join_detailed(
                matched_rows,
                JoinType::LeftAnti,
                (vec![ROW.to_string()], vec![right_name(ROW)]),
                None,
                NullEquality::NullEqualsNothing,
            )
            .and_then(LogicalPlanBuilder::build)
            .map_err(EngineError::plan)?;
        let unmatched_exprs = columns
            .iter()
            .map(|c| {
                let expr = if input.column(&c.name).is_some() {
                    column_expr(&c.name)
                } else {
                    empty_value(c.ty)?
                };
                Ok(expr.alias(&c.name))
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let unmatched = project(unmatched, unmatched_exprs, columns.clone())?;
        let plan = LogicalPlanBuilder::from(
            project(matched.plan, column_exprs(&columns), columns.clone())?.plan,
        )
        .union(unmatched.plan)
        .and_then(LogicalPlanBuilder::build)
        .map_err(EngineError::plan)?;
        Ok(Relation { plan, columns })
    }
}
