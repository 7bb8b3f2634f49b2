//! Array functions over dynamic values: `pack_array`, `array_length`,
//! `array_slice`, `array_sort_asc`, `set_union`, `zip` and the others.
//!
//! Each body receives the JSON value of every argument and returns JSON.
//! A first argument that is not an array gives null, as in Kusto.

use std::cmp::Ordering;

use kql::KqlType;
use serde_json::Value;

use super::JsonFunction;
use super::dynamic::{integer_arg, json_equal};

/// The array functions, for the planner's lookup.
pub const ARRAY_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("pack_array", 0, usize::MAX, KqlType::Dynamic, pack_array),
    JsonFunction::new("array_length", 1, 1, KqlType::Long, array_length),
    JsonFunction::new(
        "array_concat",
        1,
        usize::MAX,
        KqlType::Dynamic,
        array_concat,
    ),
    JsonFunction::new("array_slice", 3, 3, KqlType::Dynamic, array_slice),
    JsonFunction::new("array_index_of", 2, 5, KqlType::Long, array_index_of),
    JsonFunction::new("array_reverse", 1, 1, KqlType::Dynamic, array_reverse),
    JsonFunction::new(
        "array_rotate_left",
        2,
        2,
        KqlType::Dynamic,
        array_rotate_left,
    ),
    JsonFunction::new(
        "array_rotate_right",
        2,
        2,
        KqlType::Dynamic,
        array_rotate_right,
    ),
    JsonFunction::new("array_shift_left", 2, 3, KqlType::Dynamic, array_shift_left),
    JsonFunction::new(
        "array_shift_right",
        2,
        3,
        KqlType::Dynamic,
        array_shift_right,
    ),
    JsonFunction::new(
        "array_sort_asc",
        1,
        usize::MAX,
        KqlType::Dynamic,
        array_sort_asc,
    ),
    JsonFunction::new(
        "array_sort_desc",
        1,
        usize::MAX,
        KqlType::Dynamic,
        array_sort_desc,
    ),
    JsonFunction::new("array_split", 2, 2, KqlType::Dynamic, array_split),
    JsonFunction::new("array_iff", 3, 3, KqlType::Dynamic, array_iff),
    JsonFunction::new("array_iif", 3, 3, KqlType::Dynamic, array_iff),
    JsonFunction::new("array_sum", 1, 1, KqlType::Real, array_sum),
    JsonFunction::new("set_union", 2, usize::MAX, KqlType::Dynamic, set_union),
    JsonFunction::new(
        "set_intersect",
        2,
        usize::MAX,
        KqlType::Dynamic,
        set_intersect,
    ),
    JsonFunction::new(
        "set_difference",
        2,
        usize::MAX,
        KqlType::Dynamic,
        set_difference,
    ),
    JsonFunction::new("set_has_element", 2, 2, KqlType::Bool, set_has_element),
    JsonFunction::new("strcat_array", 2, 2, KqlType::String, strcat_array),
    JsonFunction::new("zip", 2, usize::MAX, KqlType::Dynamic, zip),
];

fn pack_array(args: &[Value]) -> Value {
    Value::Array(args.to_vec())
}

fn array_length(args: &[Value]) -> Value {
    match &args[0] {
        Value::Array(items) => Value::from(items.len()),
        _ => Value::Null,
    }
}

/// Concatenates arrays; any argument that is not an array makes the
/// result null.
fn array_concat(args: &[Value]) -> Value {
    let mut out = Vec::new();
    for arg in args {
        let Value::Array(items) = arg else {
            return Value::Null;
        };
        out.extend(items.iter().cloned());
    }
    Value::Array(out)
}

/// Resolves a possibly negative index against a length: negative counts
/// from the end.
fn resolve_index(index: i64, len: usize) -> i64 {
    if index < 0 { len as i64 + index } else { index }
}

/// `array_slice(arr, start, end)`: elements from `start` to `end`, both
/// inclusive; negative indexes count from the end and out-of-range bounds
/// are clamped.
fn array_slice(args: &[Value]) -> Value {
    let Value::Array(items) = &args[0] else {
        return Value::Null;
    };
    let (Some(start), Some(end)) = (integer_arg(&args[1]), integer_arg(&args[2])) else {
        return Value::Null;
    };
    let len = items.len();
    let start = resolve_index(start, len).max(0);
    let end = resolve_index(end, len).min(len as i64 - 1);
    if start > end {
        return Value::Array(Vec::new());
    }
    Value::Array(items[start as usize..=end as usize].to_vec())
}

/// `array_index_of(arr, lookup [, start [, length [, occurrence]]])`: the
/// index of the `occurrence`-th match within the searched range, or -1.
fn array_index_of(args: &[Value]) -> Value {
    let Value::Array(items) = &args[0] else {
        return Value::Null;
    };
    let lookup = &args[1];
    let len = items.len();
    let start = args.get(2).and_then(integer_arg).unwrap_or(0);
    let start = resolve_index(start, len).max(0) as usize;
    let length = args.get(3).and_then(integer_arg).unwrap_or(-1);
    let end = if length < 0 {
        len
    } else {
        (start + length as usize).min(len)
    };
    let occurrence = args.get(4).and_then(integer_arg).unwrap_or(1).max(1) as usize;
    let found = (start..end)
        .filter(|&i| json_equal(&items[i], lookup))
        .nth(occurrence - 1);
    Value::from(found.map_or(-1, |i| i as i64))
}

fn array_reverse(args: &[Value]) -> Value {
    match &args[0] {
        Value::Array(items) => Value::Array(items.iter().rev().cloned().collect()),
        _ => Value::Null,
    }
}

/// Rotates left by `count` positions; a negative count rotates right.
fn rotate_left(args: &[Value], sign: i64) -> Value {
    let Value::Array(items) = &args[0] else {
        return Value::Null;
    };
    let Some(count) = integer_arg(&args[1]) else {
        return Value::Null;
    };
    if items.is_empty() {
        return Value::Array(Vec::new());
    }
    let shift = (count * sign).rem_euclid(items.len() as i64) as usize;
    let mut out = items.clone();
    out.rotate_left(shift);
    Value::Array(out)
}

fn array_rotate_left(args: &[Value]) -> Value {
    rotate_left(args, 1)
}

fn array_rotate_right(args: &[Value]) -> Value {
    rotate_left(args, -1)
}

/// Shifts left by `count` positions, filling the vacated end with the
/// third argument (null by default); a negative count shifts right.
fn shift_left(args: &[Value], sign: i64) -> Value {
    let Value::Array(items) = &args[0] else {
        return Value::Null;
    };
    let Some(count) = integer_arg(&args[1]) else {
        return Value::Null;
    };
    let fill = args.get(2).cloned().unwrap_or(Value::Null);
    let len = items.len() as i64;
    let shift = count * sign;
    let out = (0..len)
        .map(|i| {
            let source = i + shift;
            if (0..len).contains(&source) {
                items[source as usize].clone()
            } else {
                fill.clone()
            }
        })
        .collect();
    Value::Array(out)
}

fn array_shift_left(args: &[Value]) -> Value {
    shift_left(args, 1)
}

fn array_shift_right(args: &[Value]) -> Value {
    shift_left(args, -1)
}

/// Orders JSON values for sorting: booleans, then numbers, then strings,
/// then anything else by its JSON text. Nulls are placed by the caller.
fn compare_values(left: &Value, right: &Value) -> Ordering {
    fn rank(value: &Value) -> u8 {
        match value {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (left, right) {
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            a.total_cmp(&b)
        }
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => rank(left)
            .cmp(&rank(right))
            .then_with(|| left.to_string().cmp(&right.to_string())),
    }
}

/// `array_sort_asc(arr1, ..., arrN [, nulls_last])`: sorts the first array
/// and reorders the others the same way. With one array the result is the
/// sorted array; with several it is an array of the reordered arrays.
/// Arrays of different lengths give null.
fn sort_arrays(args: &[Value], descending: bool) -> Value {
    let (arrays, nulls_last) = match args.last() {
        Some(Value::Bool(flag)) if args.len() > 1 => (&args[..args.len() - 1], *flag),
        _ => (args, true),
    };
    let mut columns = Vec::with_capacity(arrays.len());
    for array in arrays {
        let Value::Array(items) = array else {
            return Value::Null;
        };
        columns.push(items);
    }
    let keys = columns[0];
    if columns.iter().any(|c| c.len() != keys.len()) {
        return Value::Null;
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| {
        let (left, right) = (&keys[a], &keys[b]);
        match (left.is_null(), right.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if nulls_last {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, true) => {
                if nulls_last {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, false) => {
                let ordering = compare_values(left, right);
                if descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            }
        }
    });
    let sorted: Vec<Value> = columns
        .iter()
        .map(|items| Value::Array(order.iter().map(|&i| items[i].clone()).collect()))
        .collect();
    if sorted.len() == 1 {
        return sorted.into_iter().next().unwrap_or(Value::Null);
    }
    Value::Array(sorted)
}

fn array_sort_asc(args: &[Value]) -> Value {
    sort_arrays(args, false)
}

fn array_sort_desc(args: &[Value]) -> Value {
    sort_arrays(args, true)
}

/// `array_split(arr, indices)`: cuts the array before each index (one
/// index or an array of them); negative indexes count from the end.
fn array_split(args: &[Value]) -> Value {
    let Value::Array(items) = &args[0] else {
        return Value::Null;
    };
    let len = items.len();
    let indexes: Vec<i64> = match &args[1] {
        Value::Array(indexes) => indexes.iter().filter_map(integer_arg).collect(),
        other => integer_arg(other).into_iter().collect(),
    };
    let mut cuts: Vec<usize> = indexes
        .into_iter()
        .map(|i| resolve_index(i, len).clamp(0, len as i64) as usize)
        .collect();
    cuts.sort_unstable();
    let mut parts = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        parts.push(Value::Array(items[start..cut.max(start)].to_vec()));
        start = cut.max(start);
    }
    parts.push(Value::Array(items[start..].to_vec()));
    Value::Array(parts)
}

/// Reads a condition element: a bool, or a number where non-zero is true.
fn truthy(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        _ => None,
    }
}

/// `array_iff(conditions, if_true, if_false)`: picks element-wise. A scalar
/// branch applies to every element, and a short branch array gives null
/// past its end. A condition that is not a bool or number gives null.
fn array_iff(args: &[Value]) -> Value {
    let Value::Array(conditions) = &args[0] else {
        return Value::Null;
    };
    let pick = |branch: &Value, i: usize| match branch {
        Value::Array(items) => items.get(i).cloned().unwrap_or(Value::Null),
        scalar => scalar.clone(),
    };
    let out = conditions
        .iter()
        .enumerate()
        .map(|(i, condition)| match truthy(condition) {
            Some(true) => pick(&args[1], i),
            Some(false) => pick(&args[2], i),
            None => Value::Null,
        })
        .collect();
    Value::Array(out)
}

/// `array_sum(arr)`: the sum of the numeric elements, null when an element
/// is not a number.
fn array_sum(args: &[Value]) -> Value {
    let Value::Array(items) = &args[0] else {
        return Value::Null;
    };
    let mut sum = 0.0;
    for item in items {
        match item.as_f64() {
            Some(n) => sum += n,
            None => return Value::Null,
        }
    }
    crate::value::real_json(sum)
}

/// Appends `value` unless an equal value is already in `out`.
fn push_distinct(out: &mut Vec<Value>, value: &Value) {
    if !out.iter().any(|existing| json_equal(existing, value)) {
        out.push(value.clone());
    }
}

fn arrays_of(args: &[Value]) -> Option<Vec<&Vec<Value>>> {
    args.iter()
        .map(|arg| match arg {
            Value::Array(items) => Some(items),
            _ => None,
        })
        .collect()
}

/// `set_union(arr1, arr2, ...)`: the distinct elements of all arrays, in
/// first-seen order.
fn set_union(args: &[Value]) -> Value {
    let Some(arrays) = arrays_of(args) else {
        return Value::Null;
    };
    let mut out = Vec::new();
    for item in arrays.into_iter().flatten() {
        push_distinct(&mut out, item);
    }
    Value::Array(out)
}

/// `set_intersect(arr1, arr2, ...)`: the distinct elements of the first
/// array that are in every other array.
fn set_intersect(args: &[Value]) -> Value {
    let Some(arrays) = arrays_of(args) else {
        return Value::Null;
    };
    let mut out = Vec::new();
    for item in arrays[0] {
        let everywhere = arrays[1..]
            .iter()
            .all(|other| other.iter().any(|o| json_equal(o, item)));
        if everywhere {
            push_distinct(&mut out, item);
        }
    }
    Value::Array(out)
}

/// `set_difference(arr1, arr2, ...)`: the distinct elements of the first
/// array that are in none of the others.
fn set_difference(args: &[Value]) -> Value {
    let Some(arrays) = arrays_of(args) else {
        return Value::Null;
    };
    let mut out = Vec::new();
    for item in arrays[0] {
        let elsewhere = arrays[1..]
            .iter()
            .any(|other| other.iter().any(|o| json_equal(o, item)));
        if !elsewhere {
            push_distinct(&mut out, item);
        }
    }
    Value::Array(out)
}

fn set_has_element(args: &[Value]) -> Value {
    match &args[0] {
        Value::Array(items) => Value::Bool(items.iter().any(|i| json_equal(i, &args[1]))),
        _ => Value::Null,
    }
}

/// Renders a dynamic element as `tostring()` does: a string without
/// quotes, null as "", anything else as JSON.
pub(crate) fn element_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `strcat_array(arr, delimiter)`.
fn strcat_array(args: &[Value]) -> Value {
    let Value::Array(items) = &args[0] else {
        return Value::Null;
    };
    let delimiter = element_text(&args[1]);
    let parts: Vec<String> = items.iter().map(element_text).collect();
    Value::String(parts.join(&delimiter))
}

/// `zip(arr1, arr2, ...)`: an array of tuples, as long as the longest
/// array, padded with nulls.
fn zip(args: &[Value]) -> Value {
    let Some(arrays) = arrays_of(args) else {
        return Value::Null;
    };
    let longest = arrays.iter().map(|a| a.len()).max().unwrap_or(0);
    let out = (0..longest)
        .map(|i| {
            Value::Array(
                arrays
                    .iter()
                    .map(|a| a.get(i).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        })
        .collect();
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slice_is_inclusive_and_counts_from_end() {
        assert_eq!(
            array_slice(&[json!([1, 2, 3]), json!(1), json!(2)]),
            json!([2, 3])
        );
        assert_eq!(
            array_slice(&[json!([1, 2, 3, 4, 5]), json!(2), json!(-1)]),
            json!([3, 4, 5])
        );
        assert_eq!(array_slice(&[json!([1, 2]), json!(5), json!(9)]), json!([]));
        assert_eq!(array_slice(&[json!("x"), json!(0), json!(1)]), Value::Null);
    }

    #[test]
    fn index_of_honours_range_and_occurrence() {
        let arr = json!(["this", "is", "an", "example", "an", "example"]);
        let call = |rest: &[Value]| {
            let mut args = vec![arr.clone()];
            args.extend_from_slice(rest);
            array_index_of(&args)
        };
        assert_eq!(call(&[json!("an")]), json!(2));
        assert_eq!(call(&[json!("example"), json!(1), json!(2)]), json!(-1));
        assert_eq!(
            call(&[json!("an"), json!(1), json!(-1), json!(2)]),
            json!(4)
        );
        assert_eq!(call(&[json!("an"), json!(-3)]), json!(4));
    }

    #[test]
    fn rotate_and_shift() {
        let arr = json!([1, 2, 3, 4, 5]);
        assert_eq!(
            array_rotate_left(&[arr.clone(), json!(2)]),
            json!([3, 4, 5, 1, 2])
        );
        assert_eq!(
            array_rotate_right(&[arr.clone(), json!(2)]),
            json!([4, 5, 1, 2, 3])
        );
        assert_eq!(
            array_shift_left(&[arr.clone(), json!(-2), json!(-1)]),
            json!([-1, -1, 1, 2, 3])
        );
        assert_eq!(
            array_shift_right(&[arr, json!(2)]),
            json!([null, null, 1, 2, 3])
        );
    }

    #[test]
    fn sort_places_nulls_and_reorders_others() {
        let arr = json!([null, "blue", "yellow", "green", null]);
        assert_eq!(
            array_sort_asc(std::slice::from_ref(&arr)),
            json!(["blue", "green", "yellow", null, null])
        );
        assert_eq!(
            array_sort_desc(&[arr, json!(false)]),
            json!([null, null, "yellow", "green", "blue"])
        );
        assert_eq!(
            array_sort_desc(&[json!([1, 3, 2]), json!(["a", "b", "c"])]),
            json!([[3, 2, 1], ["b", "c", "a"]])
        );
        assert_eq!(array_sort_asc(&[json!([1, 2]), json!([1])]), Value::Null);
    }

    #[test]
    fn split_iff_and_sets() {
        assert_eq!(
            array_split(&[json!([1, 2, 3, 4, 5]), json!(2)]),
            json!([[1, 2], [3, 4, 5]])
        );
        assert_eq!(
            array_iff(&[json!([1, 0, 50]), json!("yes"), json!("no")]),
            json!(["yes", "no", "yes"])
        );
        assert_eq!(
            set_union(&[json!(["A4", "A2", "A7", "A2"]), json!(["A2"])]),
            json!(["A4", "A2", "A7"])
        );
        assert_eq!(set_intersect(&[json!([1, 2, 3]), json!([4, 5])]), json!([]));
        assert_eq!(
            set_difference(&[json!([1, 2, 1, 4]), json!([1, 2]), json!([8])]),
            json!([4])
        );
    }

    #[test]
    fn zip_pads_and_strcat_array_joins() {
        assert_eq!(
            zip(&[json!(["A", 1, 1.5]), json!([{}, "B"])]),
            json!([["A", {}], [1, "B"], [1.5, null]])
        );
        assert_eq!(
            strcat_array(&[json!([1, 2, 3]), json!("\"")]),
            json!("1\"2\"3")
        );
    }
}
