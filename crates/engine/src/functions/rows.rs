//! Window functions that scan serialized rows in order: `row_cumsum`,
//! `row_rank_dense`, `row_rank_min` and `row_window_session`.
//!
//! Each is a DataFusion window function evaluated over the whole input at
//! once, in the order the planner gives it (the keys of the `sort` before
//! it). Every function takes an optional last argument `restart`: on a row
//! where it is true, the scan starts again as if that row were the first.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Expr, PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};

/// The scan that a [`RowScan`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowScanKind {
    /// `row_cumsum(term [, restart])`: the running sum of `term`.
    CumulativeSum,
    /// `row_rank_dense(value [, restart])`: 1 for the first row, one more
    /// each time the value changes.
    DenseRank,
    /// `row_rank_min(value [, restart])`: the position of the first row of
    /// the run of equal values that the row belongs to.
    MinRank,
    /// `row_window_session(time, max_from_first, max_between [,
    /// restart])`: the time of the first row of the row's session. A row
    /// starts a new session when it is more than `max_from_first` after the
    /// session's first row or more than `max_between` after the row before.
    WindowSession,
}

/// A window function of [`RowScanKind`], returning `return_type`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowScan {
    kind: RowScanKind,
    return_type: DataType,
    signature: Signature,
}

/// Builds the window function call; the caller adds the row order.
/// `return_type` is `Int64` or `Float64` for [`RowScanKind::CumulativeSum`]
/// (the sum's type) and `Int64` otherwise.
pub fn row_scan(kind: RowScanKind, return_type: DataType, args: Vec<Expr>) -> Expr {
    let scan = RowScan {
        kind,
        return_type,
        signature: Signature::variadic_any(Volatility::Immutable),
    };
    WindowUDF::new_from_impl(scan).call(args)
}

impl WindowUDFImpl for RowScan {
    fn name(&self) -> &str {
        match self.kind {
            RowScanKind::CumulativeSum => "kql_row_cumsum",
            RowScanKind::DenseRank => "kql_row_rank_dense",
            RowScanKind::MinRank => "kql_row_rank_min",
            RowScanKind::WindowSession => "kql_row_window_session",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(RowScanEvaluator {
            kind: self.kind,
            return_type: self.return_type.clone(),
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            self.return_type.clone(),
            true,
        )))
    }
}

#[derive(Debug)]
struct RowScanEvaluator {
    kind: RowScanKind,
    return_type: DataType,
}

/// Reads the optional `restart` argument at `index` as booleans; a missing
/// argument or a null never restarts.
fn restarts(values: &[ArrayRef], index: usize, rows: usize) -> Result<Vec<bool>> {
    match values.get(index) {
        None => Ok(vec![false; rows]),
        Some(array) => {
            let array = arrow::compute::cast(array, &DataType::Boolean)?;
            let flags: &BooleanArray = array.as_boolean();
            Ok((0..rows)
                .map(|row| flags.is_valid(row) && flags.value(row))
                .collect())
        }
    }
}

impl PartitionEvaluator for RowScanEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        match self.kind {
            RowScanKind::CumulativeSum => cumulative_sum(values, num_rows, &self.return_type),
            RowScanKind::DenseRank | RowScanKind::MinRank => {
                rank(values, num_rows, self.kind == RowScanKind::DenseRank)
            }
            RowScanKind::WindowSession => window_session(values, num_rows),
        }
    }
}

fn cumulative_sum(values: &[ArrayRef], rows: usize, return_type: &DataType) -> Result<ArrayRef> {
    let restart = restarts(values, 1, rows)?;
    let terms = arrow::compute::cast(&values[0], return_type)?;
    if return_type == &DataType::Int64 {
        let terms = terms.as_primitive::<Int64Type>();
        let mut sum = 0i64;
        let out: Int64Array = (0..rows)
            .map(|row| {
                if restart[row] {
                    sum = 0;
                }
                if terms.is_valid(row) {
                    sum = sum.wrapping_add(terms.value(row));
                }
                Some(sum)
            })
            .collect();
        Ok(Arc::new(out))
    } else {
        let terms = terms.as_primitive::<Float64Type>();
        let mut sum = 0.0;
        let out: Float64Array = (0..rows)
            .map(|row| {
                if restart[row] {
                    sum = 0.0;
                }
                if terms.is_valid(row) {
                    sum += terms.value(row);
                }
                Some(sum)
            })
            .collect();
        Ok(Arc::new(out))
    }
}

fn rank(values: &[ArrayRef], rows: usize, dense: bool) -> Result<ArrayRef> {
    let restart = restarts(values, 1, rows)?;
    let mut previous: Option<ScalarValue> = None;
    let (mut position, mut current) = (0i64, 0i64);
    let mut out = Vec::with_capacity(rows);
    for (row, &restart) in restart.iter().enumerate() {
        let value = ScalarValue::try_from_array(&values[0], row)?;
        if restart || row == 0 {
            position = 0;
            current = 0;
            previous = None;
        }
        position += 1;
        if previous.as_ref() != Some(&value) {
            current = if dense { current + 1 } else { position };
            previous = Some(value);
        }
        out.push(current);
    }
    Ok(Arc::new(Int64Array::from(out)))
}

fn window_session(values: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let longs = |index: usize| -> Result<ArrayRef> {
        match values.get(index) {
            Some(array) => Ok(arrow::compute::cast(array, &DataType::Int64)?),
            None => Ok(Arc::new(Int64Array::from(vec![None::<i64>; rows])) as ArrayRef),
        }
    };
    let (times, from_first, between) = (longs(0)?, longs(1)?, longs(2)?);
    let (times, from_first, between) = (
        times.as_primitive::<Int64Type>(),
        from_first.as_primitive::<Int64Type>(),
        between.as_primitive::<Int64Type>(),
    );
    let restart = restarts(values, 3, rows)?;
    let mut session: Option<(i64, i64)> = None; // (first time, previous time)
    let out: Int64Array = (0..rows)
        .map(|row| {
            if times.is_null(row) {
                return None;
            }
            let time = times.value(row);
            let limit = |array: &arrow::array::PrimitiveArray<Int64Type>| {
                array.is_valid(row).then(|| array.value(row))
            };
            let starts = restart[row]
                || match session {
                    None => true,
                    Some((first, previous)) => {
                        limit(from_first).is_some_and(|max| time - first > max)
                            || limit(between).is_some_and(|max| time - previous > max)
                    }
                };
            let first = if starts {
                time
            } else {
                session.map_or(time, |(first, _)| first)
            };
            session = Some((first, time));
            Some(first)
        })
        .collect();
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn longs(values: &[i64]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    fn flags(values: &[bool]) -> ArrayRef {
        Arc::new(BooleanArray::from(values.to_vec()))
    }

    fn as_longs(array: ArrayRef) -> Vec<i64> {
        array.as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn running_sums_restart() {
        let sums = cumulative_sum(
            &[
                longs(&[1000, 2000, 1400, 1000, 1950]),
                flags(&[true, false, false, true, false]),
            ],
            5,
            &DataType::Int64,
        )
        .unwrap();
        assert_eq!(as_longs(sums), [1000, 3000, 4400, 1000, 2950]);
    }

    #[test]
    fn ranks_count_runs_of_equal_values() {
        let values = [
            longs(&[5, 10, 10, 20, 5, 7]),
            flags(&[false, false, false, false, true, false]),
        ];
        assert_eq!(
            as_longs(rank(&values, 6, false).unwrap()),
            [1, 2, 2, 4, 1, 2]
        );
        assert_eq!(
            as_longs(rank(&values, 6, true).unwrap()),
            [1, 2, 2, 3, 1, 2]
        );
    }

    #[test]
    fn sessions_split_on_gaps_and_length() {
        let minute = 600_000_000i64;
        let times = longs(&[0, 2 * minute, 4 * minute, 30 * minute, 70 * minute]);
        let sessions = window_session(
            &[times, longs(&[60 * minute; 5]), longs(&[5 * minute; 5])],
            5,
        )
        .unwrap();
        assert_eq!(as_longs(sessions), [0, 0, 0, 30 * minute, 70 * minute]);
    }
}
