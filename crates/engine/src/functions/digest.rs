//! Digests for percentiles and distinct counts that later queries merge:
//! `percentile_tdigest`, `percentiles_array_tdigest`, `merge_tdigest`,
//! `dcount_hll` and `hll_merge`.
//!
//! homesoc's digests are exact. A `tdigest` digest is a dynamic array of
//! `[value, weight]` pairs and an `hll` digest is the array of the distinct
//! values, so percentiles and counts computed from them equal those of
//! `percentile` and `dcount` over the same rows. They grow with the data
//! where Kusto's stay small.

use datafusion::logical_expr::Expr;
use kql::KqlType;
use serde_json::Value;

use super::JsonFunction;
use super::dynamic::json_equal;
use crate::plan::Typed;

pub const DIGEST_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new(
        "percentile_tdigest",
        2,
        2,
        KqlType::Real,
        percentile_tdigest,
    ),
    JsonFunction::new(
        "percentiles_array_tdigest",
        2,
        usize::MAX,
        KqlType::Dynamic,
        percentiles_array_tdigest,
    ),
    JsonFunction::new(
        "merge_tdigest",
        1,
        usize::MAX,
        KqlType::Dynamic,
        merge_tdigest,
    ),
    JsonFunction::new(
        "tdigest_merge",
        1,
        usize::MAX,
        KqlType::Dynamic,
        merge_tdigest,
    ),
    JsonFunction::new("dcount_hll", 1, 1, KqlType::Long, dcount_hll),
    JsonFunction::new("hll_merge", 1, usize::MAX, KqlType::Dynamic, hll_merge),
];

/// Builds the `[value, weight]` pair that `tdigest(value, weight)` collects.
pub fn pack_pair(value: Typed, weight: Typed) -> Expr {
    let pack = super::json_function("pack_array").expect("an array function");
    super::dynamic::json_call(
        "pack_array",
        KqlType::Dynamic,
        pack.body,
        vec![super::to_dynamic(value), super::to_dynamic(weight)],
    )
}

/// Reads a digest's pairs with a numeric value and a positive weight,
/// sorted by value.
fn pairs(digest: &Value) -> Vec<(f64, &Value, f64)> {
    let mut pairs: Vec<(f64, &Value, f64)> = match digest {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| {
                let pair = item.as_array()?;
                let value = pair.first()?;
                let weight = pair.get(1).and_then(Value::as_f64).unwrap_or(1.0);
                (weight > 0.0).then_some((value.as_f64()?, value, weight))
            })
            .collect(),
        _ => Vec::new(),
    };
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    pairs
}

/// Returns the nearest-rank percentile of sorted weighted values: the
/// first value whose running weight reaches `percent` of the total.
fn percentile_of(pairs: &[(f64, &Value, f64)], percent: f64) -> Value {
    let total: f64 = pairs.iter().map(|(_, _, weight)| weight).sum();
    if pairs.is_empty() || !(0.0..=100.0).contains(&percent) {
        return Value::Null;
    }
    let rank = (percent / 100.0 * total).ceil().max(1.0);
    let mut running = 0.0;
    for (_, value, weight) in pairs {
        running += weight;
        if running >= rank {
            return (*value).clone();
        }
    }
    pairs
        .last()
        .map_or(Value::Null, |(_, value, _)| (*value).clone())
}

/// `percentile_tdigest(digest, percent [, typeof(T)])`.
fn percentile_tdigest(args: &[Value]) -> Value {
    let Some(percent) = args[1].as_f64() else {
        return Value::Null;
    };
    percentile_of(&pairs(&args[0]), percent)
}

/// `percentiles_array_tdigest(digest, percent, ...)`: one value per
/// percent, in a dynamic array; the percents may also come as one array.
fn percentiles_array_tdigest(args: &[Value]) -> Value {
    let pairs = pairs(&args[0]);
    let percents = args[1..].iter().flat_map(|arg| match arg {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    });
    Value::Array(
        percents
            .map(|percent| {
                percent
                    .as_f64()
                    .map_or(Value::Null, |p| percentile_of(&pairs, p))
            })
            .collect(),
    )
}

/// `merge_tdigest(digest, ...)`: one digest of all the pairs.
fn merge_tdigest(args: &[Value]) -> Value {
    let merged = args
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .cloned()
        .collect();
    Value::Array(merged)
}

/// `dcount_hll(digest)`: the number of distinct values.
fn dcount_hll(args: &[Value]) -> Value {
    match &args[0] {
        Value::Array(items) => Value::from(items.len()),
        _ => Value::Null,
    }
}

/// `hll_merge(digest, ...)`: the distinct values of all the digests.
fn hll_merge(args: &[Value]) -> Value {
    let mut merged: Vec<Value> = Vec::new();
    for item in args.iter().filter_map(Value::as_array).flatten() {
        if !merged.iter().any(|seen| json_equal(seen, item)) {
            merged.push(item.clone());
        }
    }
    Value::Array(merged)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn weighted_percentiles_use_nearest_rank() {
        let digest = json!([[2.0, 2], [1.0, 1]]);
        assert_eq!(percentile_tdigest(&[digest.clone(), json!(50)]), json!(2.0));
        assert_eq!(percentile_tdigest(&[digest.clone(), json!(0)]), json!(1.0));
        assert_eq!(
            percentiles_array_tdigest(&[digest, json!([0, 100])]),
            json!([1.0, 2.0])
        );
        assert_eq!(percentile_tdigest(&[json!([]), json!(50)]), Value::Null);
    }

    #[test]
    fn merged_digests_count_distinct_values() {
        let merged = hll_merge(&[json!([1, 2, 3]), json!([3, 4])]);
        assert_eq!(dcount_hll(&[merged]), json!(4));
        let digests = merge_tdigest(&[json!([[1, 1]]), json!([[5, 1]])]);
        assert_eq!(percentile_tdigest(&[digests, json!(100)]), json!(5));
    }
}
