//! `series_*` functions: element-wise math and statistics over dynamic
//! arrays of numbers, as `make-series` produces them.
//!
//! Elements that are not numbers count as missing: element-wise results
//! hold null there, and aggregates (`series_sum`, `series_stats_dynamic`)
//! skip them. A second argument that is a number instead of an array is
//! used for every element.

use serde_json::{Map, Value};

use super::JsonFunction;
use kql::KqlType;

pub const SERIES_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("series_abs", 1, 1, KqlType::Dynamic, |a| unary(a, f64::abs)),
    JsonFunction::new("series_acos", 1, 1, KqlType::Dynamic, |a| {
        unary(a, f64::acos)
    }),
    JsonFunction::new("series_asin", 1, 1, KqlType::Dynamic, |a| {
        unary(a, f64::asin)
    }),
    JsonFunction::new("series_atan", 1, 1, KqlType::Dynamic, |a| {
        unary(a, f64::atan)
    }),
    JsonFunction::new("series_ceiling", 1, 1, KqlType::Dynamic, |a| {
        unary(a, f64::ceil)
    }),
    JsonFunction::new("series_cos", 1, 1, KqlType::Dynamic, |a| unary(a, f64::cos)),
    JsonFunction::new("series_exp", 1, 1, KqlType::Dynamic, |a| unary(a, f64::exp)),
    JsonFunction::new("series_floor", 1, 1, KqlType::Dynamic, |a| {
        unary(a, f64::floor)
    }),
    JsonFunction::new("series_log", 1, 1, KqlType::Dynamic, |a| unary(a, f64::ln)),
    JsonFunction::new("series_sign", 1, 1, KqlType::Dynamic, |a| unary(a, sign)),
    JsonFunction::new("series_sin", 1, 1, KqlType::Dynamic, |a| unary(a, f64::sin)),
    JsonFunction::new("series_tan", 1, 1, KqlType::Dynamic, |a| unary(a, f64::tan)),
    JsonFunction::new("series_add", 2, 2, KqlType::Dynamic, |a| {
        arithmetic(a, i64::checked_add, |x, y| x + y)
    }),
    JsonFunction::new("series_subtract", 2, 2, KqlType::Dynamic, |a| {
        arithmetic(a, i64::checked_sub, |x, y| x - y)
    }),
    JsonFunction::new("series_multiply", 2, 2, KqlType::Dynamic, |a| {
        arithmetic(a, i64::checked_mul, |x, y| x * y)
    }),
    JsonFunction::new("series_divide", 2, 2, KqlType::Dynamic, |a| {
        binary(a, |x, y| Value::from(x / y))
    }),
    JsonFunction::new("series_pow", 2, 2, KqlType::Dynamic, |a| {
        binary(a, |x, y| Value::from(x.powf(y)))
    }),
    JsonFunction::new("series_greater", 2, 2, KqlType::Dynamic, |a| {
        binary(a, |x, y| Value::from(x > y))
    }),
    JsonFunction::new("series_greater_equals", 2, 2, KqlType::Dynamic, |a| {
        binary(a, |x, y| Value::from(x >= y))
    }),
    JsonFunction::new("series_less", 2, 2, KqlType::Dynamic, |a| {
        binary(a, |x, y| Value::from(x < y))
    }),
    JsonFunction::new("series_less_equals", 2, 2, KqlType::Dynamic, |a| {
        binary(a, |x, y| Value::from(x <= y))
    }),
    JsonFunction::new("series_equals", 2, 2, KqlType::Dynamic, |a| {
        binary(a, |x, y| Value::from(x == y))
    }),
    JsonFunction::new("series_not_equals", 2, 2, KqlType::Dynamic, |a| {
        binary(a, |x, y| Value::from(x != y))
    }),
    JsonFunction::new("series_sum", 1, 1, KqlType::Real, |a| {
        fold(a, 0.0, |acc, x| acc + x)
    }),
    JsonFunction::new("series_product", 1, 1, KqlType::Real, |a| {
        fold(a, 1.0, |acc, x| acc * x)
    }),
    JsonFunction::new("series_dot_product", 2, 2, KqlType::Real, dot_product),
    JsonFunction::new(
        "series_cosine_similarity",
        2,
        4,
        KqlType::Real,
        cosine_similarity,
    ),
    JsonFunction::new("series_fill_const", 2, 3, KqlType::Dynamic, fill_const),
    JsonFunction::new("series_fill_forward", 1, 2, KqlType::Dynamic, |a| {
        fill_along(a, false)
    }),
    JsonFunction::new("series_fill_backward", 1, 2, KqlType::Dynamic, |a| {
        fill_along(a, true)
    }),
    JsonFunction::new("series_fill_linear", 1, 4, KqlType::Dynamic, fill_linear),
    JsonFunction::new("series_iir", 3, 3, KqlType::Dynamic, iir),
    JsonFunction::new(
        "series_stats_dynamic",
        1,
        2,
        KqlType::Dynamic,
        stats_dynamic,
    ),
];

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Returns the elements of an array argument, or `None` when it is not an array.
fn elements(value: &Value) -> Option<&Vec<Value>> {
    value.as_array()
}

/// Applies `f` to each numeric element; other elements become null.
fn unary(args: &[Value], f: fn(f64) -> f64) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    Value::Array(
        items
            .iter()
            .map(|item| item.as_f64().map_or(Value::Null, |x| number(f(x))))
            .collect(),
    )
}

/// Converts a real to JSON. Non-finite values, which JSON cannot represent,
/// become null.
fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Returns the second operand at `index`: the array's element, or the scalar.
fn operand(value: &Value, index: usize) -> Option<&Value> {
    match value {
        Value::Array(items) => items.get(index),
        Value::Number(_) => Some(value),
        _ => None,
    }
}

/// Pairs the elements of the first argument with the second argument's;
/// the result has the first argument's length.
fn binary(args: &[Value], f: impl Fn(f64, f64) -> Value) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    Value::Array(
        items
            .iter()
            .enumerate()
            .map(
                |(i, left)| match (left.as_f64(), operand(&args[1], i).and_then(Value::as_f64)) {
                    (Some(x), Some(y)) => match f(x, y) {
                        Value::Number(n) => n
                            .as_f64()
                            .filter(|v| v.is_finite())
                            .map_or(Value::Null, |_| Value::Number(n)),
                        other => other,
                    },
                    _ => Value::Null,
                },
            )
            .collect(),
    )
}

/// Like [`binary`], but two integers give an integer when it fits.
fn arithmetic(
    args: &[Value],
    integer: fn(i64, i64) -> Option<i64>,
    real: fn(f64, f64) -> f64,
) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    Value::Array(
        items
            .iter()
            .enumerate()
            .map(|(i, left)| {
                let right = operand(&args[1], i);
                if let (Some(x), Some(y)) = (left.as_i64(), right.and_then(Value::as_i64))
                    && let Some(result) = integer(x, y)
                {
                    return Value::from(result);
                }
                match (left.as_f64(), right.and_then(Value::as_f64)) {
                    (Some(x), Some(y)) => number(real(x, y)),
                    _ => Value::Null,
                }
            })
            .collect(),
    )
}

fn fold(args: &[Value], start: f64, f: fn(f64, f64) -> f64) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    number(items.iter().filter_map(Value::as_f64).fold(start, f))
}

fn dot_product(args: &[Value]) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    let sum = items
        .iter()
        .enumerate()
        .filter_map(|(i, x)| Some(x.as_f64()? * operand(&args[1], i)?.as_f64()?))
        .sum::<f64>();
    number(sum)
}

/// `series_cosine_similarity(s1, s2 [, magnitude1, magnitude2])`.
fn cosine_similarity(args: &[Value]) -> Value {
    let (Some(a), Some(b)) = (elements(&args[0]), elements(&args[1])) else {
        return Value::Null;
    };
    if a.len() != b.len() {
        return Value::Null;
    }
    let magnitude = |items: &Vec<Value>, given: Option<&Value>| {
        given.and_then(Value::as_f64).unwrap_or_else(|| {
            items
                .iter()
                .filter_map(Value::as_f64)
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt()
        })
    };
    let dot = dot_product(args).as_f64().unwrap_or(f64::NAN);
    number(dot / (magnitude(a, args.get(2)) * magnitude(b, args.get(3))))
}

/// Returns whether an element counts as missing: null, or equal to the
/// placeholder when one is given.
fn is_missing(value: &Value, placeholder: Option<&Value>) -> bool {
    match placeholder {
        Some(Value::Null) | None => value.is_null(),
        Some(p) => value.is_null() || value.as_f64().zip(p.as_f64()).is_some_and(|(a, b)| a == b),
    }
}

/// `series_fill_const(series, constant [, missing_value_placeholder])`.
fn fill_const(args: &[Value]) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    let placeholder = args.get(2);
    Value::Array(
        items
            .iter()
            .map(|item| {
                if is_missing(item, placeholder) {
                    args[1].clone()
                } else {
                    item.clone()
                }
            })
            .collect(),
    )
}

/// `series_fill_forward` (each gap takes the value before it) and
/// `series_fill_backward` (the value after it). Gaps at the edge with no
/// value on that side stay.
fn fill_along(args: &[Value], backward: bool) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    let placeholder = args.get(1);
    let mut out = items.clone();
    let mut last: Option<Value> = None;
    let indexes: Box<dyn Iterator<Item = usize>> = if backward {
        Box::new((0..out.len()).rev())
    } else {
        Box::new(0..out.len())
    };
    for i in indexes {
        if is_missing(&out[i], placeholder) {
            if let Some(value) = &last {
                out[i] = value.clone();
            }
        } else {
            last = Some(out[i].clone());
        }
    }
    Value::Array(out)
}

/// `series_fill_linear(series [, placeholder [, fill_edges [, constant]]])`:
/// gaps between two values are interpolated on a straight line. With
/// `fill_edges` (the default), gaps at the edges take the nearest value;
/// a series without any value takes `constant` (default 0). A series of
/// integers stays integers (truncated).
fn fill_linear(args: &[Value]) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    let placeholder = args.get(1);
    let fill_edges = args.get(2).and_then(Value::as_bool).unwrap_or(true);
    let constant = args
        .get(3)
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or(Value::from(0.0));
    let integers = items
        .iter()
        .filter(|v| !is_missing(v, placeholder))
        .all(|v| v.is_i64() || v.is_u64());
    let known: Vec<(usize, f64)> = items
        .iter()
        .enumerate()
        .filter(|(_, v)| !is_missing(v, placeholder))
        .filter_map(|(i, v)| Some((i, v.as_f64()?)))
        .collect();
    if known.is_empty() {
        return Value::Array(vec![constant; items.len()]);
    }
    let out_value = |x: f64| {
        if integers {
            Value::from(x.trunc() as i64)
        } else {
            number((x * 1000.0).round() / 1000.0)
        }
    };
    let mut out = items.clone();
    for (i, item) in out.iter_mut().enumerate() {
        if !is_missing(item, placeholder) {
            continue;
        }
        let before = known.iter().rev().find(|(k, _)| *k < i);
        let after = known.iter().find(|(k, _)| *k > i);
        *item = match (before, after) {
            (Some(&(i0, y0)), Some(&(i1, y1))) => {
                out_value(y0 + (y1 - y0) * (i - i0) as f64 / (i1 - i0) as f64)
            }
            (Some(&(_, y)), None) | (None, Some(&(_, y))) if fill_edges => out_value(y),
            _ => Value::Null,
        };
    }
    Value::Array(out)
}

/// `series_iir(x, numerators, denominators)`: the infinite impulse
/// response filter
/// `y[n] = (sum(b[i] * x[n - i]) - sum(a[j] * y[n - j], j >= 1)) / a[0]`.
fn iir(args: &[Value]) -> Value {
    let (Some(x), Some(b), Some(a)) = (elements(&args[0]), elements(&args[1]), elements(&args[2]))
    else {
        return Value::Null;
    };
    let b: Vec<f64> = b.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect();
    let a: Vec<f64> = a.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect();
    if a.first().is_none_or(|a0| *a0 == 0.0) {
        return Value::Null;
    }
    let x: Vec<f64> = x.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect();
    let mut y: Vec<f64> = Vec::with_capacity(x.len());
    for n in 0..x.len() {
        let forward: f64 = (0..b.len().min(n + 1)).map(|i| b[i] * x[n - i]).sum();
        let feedback: f64 = (1..a.len().min(n + 1)).map(|j| a[j] * y[n - j]).sum();
        y.push((forward - feedback) / a[0]);
    }
    Value::Array(y.into_iter().map(number).collect())
}

/// `series_stats_dynamic(series [, ignore_nonfinite])`: min, max, their
/// first indexes, average, sample standard deviation and variance, sum
/// and length of the numeric elements.
fn stats_dynamic(args: &[Value]) -> Value {
    let Some(items) = elements(&args[0]) else {
        return Value::Null;
    };
    let values: Vec<(usize, f64)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Some((i, v.as_f64()?)))
        .collect();
    let mut stats = Map::new();
    let len = values.len();
    let sum: f64 = values.iter().map(|(_, x)| x).sum();
    let min = values
        .iter()
        .fold(None::<(usize, f64)>, |best, &(i, x)| match best {
            Some((_, m)) if m <= x => best,
            _ => Some((i, x)),
        });
    let max = values
        .iter()
        .fold(None::<(usize, f64)>, |best, &(i, x)| match best {
            Some((_, m)) if m >= x => best,
            _ => Some((i, x)),
        });
    let avg = sum / len as f64;
    let variance = if len > 1 {
        values.iter().map(|(_, x)| (x - avg).powi(2)).sum::<f64>() / (len - 1) as f64
    } else {
        0.0
    };
    let field = |v: Option<f64>| v.map_or(Value::Null, number);
    stats.insert("min".into(), field(min.map(|m| m.1)));
    stats.insert(
        "min_idx".into(),
        min.map_or(Value::Null, |m| Value::from(m.0)),
    );
    stats.insert("max".into(), field(max.map(|m| m.1)));
    stats.insert(
        "max_idx".into(),
        max.map_or(Value::Null, |m| Value::from(m.0)),
    );
    stats.insert("avg".into(), field((len > 0).then_some(avg)));
    stats.insert("stdev".into(), field((len > 0).then_some(variance.sqrt())));
    stats.insert("variance".into(), field((len > 0).then_some(variance)));
    stats.insert("sum".into(), number(sum));
    stats.insert("len".into(), Value::from(len));
    Value::Object(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, args: &[Value]) -> Value {
        let function = SERIES_FUNCTIONS.iter().find(|f| f.name == name).unwrap();
        (function.body)(args)
    }

    #[test]
    fn element_wise_keeps_first_length() {
        assert_eq!(
            call("series_subtract", &[json!([1, 2, 4]), json!([4, 2, 1])]),
            json!([-3, 0, 3])
        );
        assert_eq!(
            call("series_multiply", &[json!([1, 2.5, "x"]), json!(2)]),
            json!([2, 5.0, null])
        );
        assert_eq!(
            call("series_greater", &[json!([1, 2, 4]), json!([4, 2])]),
            json!([false, false, null])
        );
        assert_eq!(call("series_log", &[json!([1, 0])]), json!([0.0, null]));
    }

    #[test]
    fn fills_match_documented_examples() {
        let gaps = json!([111, null, 36, 41, null, null, 16, 61, 33, null, null]);
        assert_eq!(
            call("series_fill_backward", std::slice::from_ref(&gaps)),
            json!([111, 36, 36, 41, 16, 16, 16, 61, 33, null, null])
        );
        assert_eq!(
            call("series_fill_forward", std::slice::from_ref(&gaps)),
            json!([111, 111, 36, 41, 41, 41, 16, 61, 33, 33, 33])
        );
        assert_eq!(
            call(
                "series_fill_linear",
                &[json!([null, 111.0, null, 36.0, null, null, 16.0])]
            ),
            json!([111.0, 111.0, 73.5, 36.0, 29.333, 22.667, 16.0])
        );
        assert_eq!(
            call(
                "series_fill_linear",
                &[json!([1, null, 4]), Value::Null, json!(false)]
            ),
            json!([1, 2, 4])
        );
    }

    #[test]
    fn iir_running_sum() {
        assert_eq!(
            call(
                "series_iir",
                &[json!([0, 1, 2, 3, 4]), json!([1]), json!([1, -1])]
            ),
            json!([0.0, 1.0, 3.0, 6.0, 10.0])
        );
    }

    #[test]
    fn stats_of_documented_series() {
        let stats = call(
            "series_stats_dynamic",
            &[json!([
                23, 46, 23, 87, 4, 8, 3, 75, 2, 56, 13, 75, 32, 16, 29
            ])],
        );
        assert_eq!(stats["min"], json!(2.0));
        assert_eq!(stats["min_idx"], json!(8));
        assert_eq!(stats["max_idx"], json!(3));
        assert_eq!(stats["len"], json!(15));
        let variance = stats["variance"].as_f64().unwrap();
        assert!(
            (variance - 812.457_142_857_142_9).abs() < 1e-9,
            "{variance}"
        );
    }
}
