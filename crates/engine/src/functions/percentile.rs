//! Exact nearest-rank percentiles over the values a group collected, for
//! `percentile`, `percentiles`, `percentiles_array` and their weighted
//! forms.
//!
//! The rank of percentile `p` among `n` values (or a total weight `n`) is
//! `ceil(p / 100 * n)`, at least 1, so the result is always one of the
//! values. This matches Kusto on small inputs, where its t-digest is exact.
//! NOTE: the planner collects every value of a group first, so a group's
//! values must fit in memory; Kusto estimates with a t-digest instead.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, UInt32Array, new_null_array};
use arrow::compute::{SortOptions, concat, sort_to_indices, take};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::Result;
use datafusion::logical_expr::Expr;
use kql::KqlType;

use crate::udf;
use crate::value;

/// Returns the 1-based nearest rank of percentile `percent` among `count`
/// values, or `None` when there are none.
pub fn nearest_rank(percent: f64, count: u64) -> Option<u64> {
    if count == 0 {
        return None;
    }
    let rank = (percent / 100.0 * count as f64).ceil();
    Some((rank.max(1.0) as u64).min(count))
}

/// The values of one group and their weights (1 each when unweighted), in
/// ascending order of value, nulls left out.
struct SortedGroup {
    values: ArrayRef,
    order: Vec<u32>,
    weights: Vec<u64>,
}

impl SortedGroup {
    /// Reads row `row` of a list aggregate: a list of values, or with
    /// `weighted` a list of structs whose fields are value and weight.
    fn from_list(lists: &ArrayRef, row: usize, weighted: bool) -> Result<SortedGroup> {
        let list = lists.as_list::<i32>().value(row);
        let (values, weights): (ArrayRef, Option<ArrayRef>) = if weighted {
            let pairs = list.as_struct();
            let weights = arrow::compute::cast(pairs.column(1), &DataType::Int64)?;
            (pairs.column(0).clone(), Some(weights))
        } else {
            (list, None)
        };
        let options = SortOptions {
            descending: false,
            nulls_first: false,
        };
        let indices = sort_to_indices(&values, Some(options), None)?;
        let mut order = Vec::with_capacity(indices.len());
        let mut weight_of = Vec::with_capacity(indices.len());
        for index in indices.values().iter().copied() {
            if values.is_null(index as usize) {
                continue;
            }
            let weight = match &weights {
                Some(weights) => {
                    let weights = weights.as_primitive::<Int64Type>();
                    if weights.is_null(index as usize) {
                        continue;
                    }
                    weights.value(index as usize).max(0) as u64
                }
                None => 1,
            };
            order.push(index);
            weight_of.push(weight);
        }
        Ok(SortedGroup {
            values,
            order,
            weights: weight_of,
        })
    }

    /// Returns the index (into `values`) of the value at percentile
    /// `percent`.
    fn index_at(&self, percent: f64) -> Option<u32> {
        let total: u64 = self.weights.iter().sum();
        let rank = nearest_rank(percent, total)?;
        let mut cumulative = 0;
        for (index, weight) in self.order.iter().zip(&self.weights) {
            cumulative += weight;
            if cumulative >= rank {
                return Some(*index);
            }
        }
        self.order.last().copied()
    }
}

/// Builds the value at percentile `percent` of each group's collected
/// `list` (see [`SortedGroup::from_list`]), of the values' own type.
pub fn percentile_of_list(list: Expr, percent: f64, weighted: bool, data_type: DataType) -> Expr {
    let out_type = data_type.clone();
    let body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let lists = &arrays[0];
        let mut pieces = Vec::with_capacity(lists.len());
        for row in 0..lists.len() {
            let found = if lists.is_null(row) {
                None
            } else {
                let group = SortedGroup::from_list(lists, row, weighted)?;
                group
                    .index_at(percent)
                    .map(|index| take(&group.values, &UInt32Array::from(vec![index]), None))
                    .transpose()?
            };
            pieces.push(found.unwrap_or_else(|| new_null_array(&out_type, 1)));
        }
        let pieces: Vec<&dyn Array> = pieces.iter().map(|p| p.as_ref()).collect();
        if pieces.is_empty() {
            return Ok(new_null_array(&out_type, 0));
        }
        Ok(concat(&pieces)?)
    });
    udf::call(
        &format!("percentile_{percent}_{weighted}_{data_type}"),
        data_type,
        false,
        body,
        vec![list],
    )
}

/// Builds the dynamic array of the values at `percents` of each group's
/// collected `list` (`percentiles_array`); `ty` is the values' KQL type.
pub fn percentiles_array_of_list(
    list: Expr,
    percents: Vec<f64>,
    weighted: bool,
    ty: KqlType,
) -> Expr {
    let name = format!("percentiles_array_{percents:?}_{weighted}_{ty}");
    let body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let lists = &arrays[0];
        let mut out = Vec::with_capacity(lists.len());
        for row in 0..lists.len() {
            if lists.is_null(row) {
                out.push(None);
                continue;
            }
            let group = SortedGroup::from_list(lists, row, weighted)?;
            let items: Vec<serde_json::Value> = percents
                .iter()
                .map(|percent| match group.index_at(*percent) {
                    Some(index) => value::to_json(&group.values, index as usize, ty),
                    None => serde_json::Value::Null,
                })
                .collect();
            out.push(Some(serde_json::Value::Array(items).to_string()));
        }
        Ok(Arc::new(StringArray::from(out)) as ArrayRef)
    });
    udf::call(&name, DataType::Utf8, false, body, vec![list])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, ListArray};
    use arrow::datatypes::Int64Type as I64;

    #[test]
    fn nearest_rank_rounds_up() {
        assert_eq!(nearest_rank(50.0, 100), Some(50));
        assert_eq!(nearest_rank(99.9, 18), Some(18));
        assert_eq!(nearest_rank(75.0, 18), Some(14));
        assert_eq!(nearest_rank(0.0, 5), Some(1));
        assert_eq!(nearest_rank(50.0, 0), None);
    }

    #[test]
    fn group_percentile_skips_nulls() {
        let list = ListArray::from_iter_primitive::<I64, _, _>(vec![Some(vec![
            Some(30),
            None,
            Some(10),
            Some(20),
        ])]);
        let lists: ArrayRef = Arc::new(list);
        let group = SortedGroup::from_list(&lists, 0, false).expect("valid list");
        let values = group
            .values
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("longs");
        let at = |p: f64| values.value(group.index_at(p).expect("some value") as usize);
        assert_eq!(at(50.0), 20);
        assert_eq!(at(100.0), 30);
        assert_eq!(at(1.0), 10);
    }
}
