//! Time-series models over dynamic arrays: line fitting, seasonality,
//! decomposition and outlier scores (`series_fit_line`,
//! `series_seasonal`, `series_decompose`, `series_decompose_anomalies`,
//! `series_outliers`).
//!
//! Functions that give several columns in Kusto (`series_fit_line`,
//! `series_decompose`, ...) compute one bag here under a `*_dynamic`
//! name. The planner spreads the bag over the columns (see
//! [`MULTI_OUTPUT_FUNCTIONS`]).
//!
//! Elements that are not numbers are missing values: they take no part
//! in medians, fits and percentiles, and their scores are 0.
//!
//! Period detection: a candidate period `p` scores the Pearson
//! correlation of the series with itself shifted by `p`. Candidates run
//! from 4 to a quarter of the series length, so a period must repeat at
//! least four times. The best score wins when it reaches the threshold.
//! A divisor of the winner with at least 0.9 of its score is preferred, so
//! that twice the period does not win over the period itself.
//! NOTE: Kusto's `series_periods_detect` is not published; this rule
//! gives the periods of the reference examples.

use serde_json::{Map, Value};

use super::JsonFunction;
use kql::KqlType;

/// A function that gives several columns, and the bag function that
/// computes their values.
pub struct MultiOutputFunction {
    /// The name a query calls.
    pub name: &'static str,
    /// The function that returns one bag with a key per output.
    pub bag_function: &'static str,
    /// The output keys, in column order, with their types.
    pub outputs: &'static [(&'static str, KqlType)],
}

/// The functions whose result is several columns.
pub const MULTI_OUTPUT_FUNCTIONS: &[MultiOutputFunction] = &[
    MultiOutputFunction {
        name: "series_stats",
        bag_function: "series_stats_dynamic",
        outputs: &[
            ("min", KqlType::Real),
            ("min_idx", KqlType::Long),
            ("max", KqlType::Real),
            ("max_idx", KqlType::Long),
            ("avg", KqlType::Real),
            ("stdev", KqlType::Real),
            ("variance", KqlType::Real),
        ],
    },
    MultiOutputFunction {
        name: "series_fit_line",
        bag_function: "series_fit_line_dynamic",
        outputs: &[
            ("rsquare", KqlType::Real),
            ("slope", KqlType::Real),
            ("variance", KqlType::Real),
            ("rvariance", KqlType::Real),
            ("interception", KqlType::Real),
            ("line_fit", KqlType::Dynamic),
        ],
    },
    MultiOutputFunction {
        name: "series_decompose",
        bag_function: "series_decompose_dynamic",
        outputs: &[
            ("baseline", KqlType::Dynamic),
            ("seasonal", KqlType::Dynamic),
            ("trend", KqlType::Dynamic),
            ("residual", KqlType::Dynamic),
        ],
    },
    MultiOutputFunction {
        name: "series_decompose_anomalies",
        bag_function: "series_decompose_anomalies_dynamic",
        outputs: &[
            ("ad_flag", KqlType::Dynamic),
            ("ad_score", KqlType::Dynamic),
            ("baseline", KqlType::Dynamic),
        ],
    },
];

/// Returns the multi-column function called `name`.
pub fn multi_output_function(name: &str) -> Option<&'static MultiOutputFunction> {
    MULTI_OUTPUT_FUNCTIONS.iter().find(|f| f.name == name)
}

pub const DECOMPOSE_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new(
        "series_fit_line_dynamic",
        1,
        1,
        KqlType::Dynamic,
        fit_line_dynamic,
    ),
    JsonFunction::new("series_seasonal", 1, 2, KqlType::Dynamic, seasonal),
    JsonFunction::new(
        "series_decompose_dynamic",
        1,
        5,
        KqlType::Dynamic,
        decompose_dynamic,
    ),
    JsonFunction::new(
        "series_decompose_anomalies_dynamic",
        1,
        7,
        KqlType::Dynamic,
        anomalies_dynamic,
    ),
    JsonFunction::new("series_outliers", 1, 5, KqlType::Dynamic, outliers),
];

/// The seasonality threshold of `series_seasonal`'s period detection.
const SEASONAL_THRESHOLD: f64 = 0.7;
/// The default seasonality threshold of `series_decompose*`.
const DECOMPOSE_THRESHOLD: f64 = 0.6;

/// Reads the elements of an array argument as numbers, with `None` for
/// elements that are not numbers. Returns `None` for a non-array.
fn series(value: &Value) -> Option<Vec<Option<f64>>> {
    Some(value.as_array()?.iter().map(Value::as_f64).collect())
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn numbers(values: &[f64]) -> Value {
    Value::Array(values.iter().copied().map(number).collect())
}

/// Reads argument `index` as a number, with a default when it is absent
/// or null.
fn number_arg(args: &[Value], index: usize, default: f64) -> f64 {
    args.get(index).and_then(Value::as_f64).unwrap_or(default)
}

fn text_arg<'a>(args: &'a [Value], index: usize, default: &'a str) -> &'a str {
    args.get(index).and_then(Value::as_str).unwrap_or(default)
}

/// A least-squares line over the points `(i + 1, y[i])` that have a value.
struct Line {
    slope: f64,
    interception: f64,
}

impl Line {
    fn fit(y: &[Option<f64>]) -> Option<Line> {
        let points: Vec<(f64, f64)> = y
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some(((i + 1) as f64, (*v)?)))
            .collect();
        if points.is_empty() {
            return None;
        }
        let n = points.len() as f64;
        let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
        let slope = if sxx == 0.0 { 0.0 } else { sxy / sxx };
        Some(Line {
            slope,
            interception: mean_y - slope * mean_x,
        })
    }

    fn at(&self, index: usize) -> f64 {
        self.slope * (index + 1) as f64 + self.interception
    }
}

/// Computes the sample variance of the values.
fn sample_variance(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count();
    if n < 2 {
        return 0.0;
    }
    let mean = values.clone().sum::<f64>() / n as f64;
    values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
}

/// `series_fit_line_dynamic(series)`: the least-squares line over the
/// points `(1, y[0]), (2, y[1]), ...`; variances are sample variances.
fn fit_line_dynamic(args: &[Value]) -> Value {
    let Some(y) = series(&args[0]) else {
        return Value::Null;
    };
    let Some(line) = Line::fit(&y) else {
        return Value::Null;
    };
    let fitted: Vec<f64> = (0..y.len()).map(|i| line.at(i)).collect();

    let present = y.iter().flatten().copied();
    let variance = sample_variance(present.clone());
    let residuals = y.iter().zip(&fitted).filter_map(|(v, f)| Some((*v)? - f));
    let rvariance = {
        let n = residuals.clone().count();
        if n < 2 {
            0.0
        } else {
            residuals.clone().map(|r| r * r).sum::<f64>() / (n - 1) as f64
        }
    };

    let rsquare = if variance == 0.0 {
        1.0
    } else {
        1.0 - rvariance / variance
    };
    let mut bag = Map::new();
    bag.insert("rsquare".into(), number(rsquare));
    bag.insert("slope".into(), number(line.slope));
    bag.insert("variance".into(), number(variance));
    bag.insert("rvariance".into(), number(rvariance));
    bag.insert("interception".into(), number(line.interception));
    bag.insert("line_fit".into(), numbers(&fitted));
    Value::Object(bag)
}

/// Computes the Pearson correlation of the series with itself shifted by
/// `lag`, over the pairs where both values are present.
fn autocorrelation(y: &[Option<f64>], lag: usize) -> f64 {
    let pairs: Vec<(f64, f64)> = y
        .iter()
        .zip(&y[lag..])
        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
        .collect();
    if pairs.len() < 2 {
        return 0.0;
    }
    let n = pairs.len() as f64;
    let mean_a = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_b = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = pairs.iter().map(|p| (p.0 - mean_a) * (p.1 - mean_b)).sum();
    let var_a: f64 = pairs.iter().map(|p| (p.0 - mean_a).powi(2)).sum();
    let var_b: f64 = pairs.iter().map(|p| (p.1 - mean_b).powi(2)).sum();
    if var_a == 0.0 || var_b == 0.0 {
        return 0.0;
    }
    cov / (var_a * var_b).sqrt()
}

/// Detects the period of a series (see the module documentation).
fn detect_period(y: &[Option<f64>], threshold: f64) -> Option<usize> {
    let max_period = y.len() / 4;
    let scores: Vec<(usize, f64)> = (4..=max_period)
        .map(|p| (p, autocorrelation(y, p)))
        .collect();
    let &(best, best_score) = scores
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
    if best_score < threshold {
        return None;
    }
    let divisor = scores
        .iter()
        .find(|(p, score)| best % p == 0 && *score >= 0.9 * best_score)
        .map_or(best, |(p, _)| *p);
    Some(divisor)
}

/// Returns the median of the values, or 0 when there are none.
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// Builds the seasonal component of length `len`: for each phase of
/// `period`, the median of the learning values in that phase.
fn seasonal_component(learn: &[Option<f64>], period: usize, len: usize) -> Vec<f64> {
    let medians: Vec<f64> = (0..period)
        .map(|phase| {
            median(
                learn
                    .iter()
                    .skip(phase)
                    .step_by(period)
                    .flatten()
                    .copied()
                    .collect(),
            )
        })
        .collect();
    (0..len).map(|i| medians[i % period]).collect()
}

/// Reads a period argument: -1 (or absent) detects it, 0 or a value
/// below -1 means no seasonality.
fn period_of(y: &[Option<f64>], requested: f64, threshold: f64) -> Option<usize> {
    if requested == -1.0 {
        detect_period(y, threshold)
    } else if requested >= 1.0 {
        Some(requested as usize)
    } else {
        None
    }
}

/// `series_seasonal(series [, period])`.
fn seasonal(args: &[Value]) -> Value {
    let Some(y) = series(&args[0]) else {
        return Value::Null;
    };
    let requested = number_arg(args, 1, -1.0);
    match period_of(&y, requested, SEASONAL_THRESHOLD) {
        Some(period) => numbers(&seasonal_component(&y, period, y.len())),
        None => numbers(&vec![0.0; y.len()]),
    }
}

/// The four components of a decomposition.
struct Decomposition {
    seasonal: Vec<f64>,
    trend: Vec<f64>,
    baseline: Vec<f64>,
    residual: Vec<Option<f64>>,
}

/// Decomposes `y` into seasonal, trend and residual parts. The last
/// `test_points` values take no part in learning the components.
fn decompose(
    y: &[Option<f64>],
    period: f64,
    trend: &str,
    test_points: usize,
    threshold: f64,
) -> Option<Decomposition> {
    let len = y.len();
    let learn = &y[..len.saturating_sub(test_points)];
    let seasonal = match period_of(learn, period, threshold) {
        Some(period) => seasonal_component(learn, period, len),
        None => vec![0.0; len],
    };
    let deseasoned: Vec<Option<f64>> = learn
        .iter()
        .zip(&seasonal)
        .map(|(v, s)| v.map(|v| v - s))
        .collect();
    let trend: Vec<f64> = match trend {
        "avg" => {
            let present: Vec<f64> = deseasoned.iter().flatten().copied().collect();
            let mean = if present.is_empty() {
                0.0
            } else {
                present.iter().sum::<f64>() / present.len() as f64
            };
            vec![mean; len]
        }
        "linefit" => match Line::fit(&deseasoned) {
            Some(line) => (0..len).map(|i| line.at(i)).collect(),
            None => vec![0.0; len],
        },
        "none" => vec![0.0; len],
        _ => return None,
    };
    let baseline: Vec<f64> = seasonal.iter().zip(&trend).map(|(s, t)| s + t).collect();
    let residual = y
        .iter()
        .zip(&baseline)
        .map(|(v, b)| v.map(|v| v - b))
        .collect();
    Some(Decomposition {
        seasonal,
        trend,
        baseline,
        residual,
    })
}

/// The text arguments that name a trend or an outlier method, as
/// (function, argument index, accepted values).
const TEXT_ARGUMENTS: &[(&str, usize, &[&str])] = &[
    ("series_decompose_dynamic", 2, TRENDS),
    ("series_decompose_anomalies_dynamic", 3, TRENDS),
    ("series_decompose_anomalies_dynamic", 5, METHODS),
    ("series_outliers", 1, METHODS),
];
const TRENDS: &[&str] = &["avg", "linefit", "none"];
const METHODS: &[&str] = &["ctukey", "tukey"];

/// Checks a text argument that a query gives as a literal, so that a
/// wrong trend or method fails the query with its name. At run time the
/// functions return null for such a value.
pub fn check_text_argument(function: &str, index: usize, text: &str) -> Result<(), String> {
    for (name, position, accepted) in TEXT_ARGUMENTS {
        if *name == function && *position == index && !accepted.contains(&text) {
            let list: Vec<String> = accepted.iter().map(|a| format!("'{a}'")).collect();
            return Err(format!(
                "unknown value '{text}' for argument {} of `{}`; use {}",
                index + 1,
                function.trim_end_matches("_dynamic"),
                list.join(", ")
            ));
        }
    }
    Ok(())
}

/// `series_decompose_dynamic(series [, period, trend, test_points,
/// seasonality_threshold])`: baseline, seasonal, trend and residual.
fn decompose_dynamic(args: &[Value]) -> Value {
    let Some(y) = series(&args[0]) else {
        return Value::Null;
    };
    let period = number_arg(args, 1, -1.0);
    let trend = text_arg(args, 2, "avg");
    let test_points = number_arg(args, 3, 0.0).max(0.0) as usize;
    let threshold = number_arg(args, 4, DECOMPOSE_THRESHOLD);
    let Some(parts) = decompose(&y, period, trend, test_points, threshold) else {
        return Value::Null;
    };
    let mut bag = Map::new();
    bag.insert("baseline".into(), numbers(&parts.baseline));
    bag.insert("seasonal".into(), numbers(&parts.seasonal));
    bag.insert("trend".into(), numbers(&parts.trend));
    bag.insert(
        "residual".into(),
        Value::Array(
            parts
                .residual
                .iter()
                .map(|r| r.map_or(Value::Null, number))
                .collect(),
        ),
    );
    Value::Object(bag)
}

/// Returns the `p`-th percentile (0 to 100) of sorted values, interpolating
/// linearly between the two nearest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let position = p / 100.0 * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// Tukey's fence scores: 0 inside `[P_low, P_high]`, otherwise the
/// distance to the nearer fence in units of `P_high - P_low` (positive
/// above, negative below). A value outside a range of width 0 scores
/// plus or minus infinity. Missing values score 0.
fn tukey_scores(values: &[Option<f64>], low: f64, high: f64) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().flatten().copied().collect();
    if sorted.is_empty() {
        return vec![0.0; values.len()];
    }
    sorted.sort_by(f64::total_cmp);
    let p_low = percentile(&sorted, low);
    let p_high = percentile(&sorted, high);
    let range = p_high - p_low;
    values
        .iter()
        .map(|value| match value {
            Some(v) if *v > p_high => (v - p_high) / range,
            Some(v) if *v < p_low => (v - p_low) / range,
            _ => 0.0,
        })
        .collect()
}

/// The percentile range of an outlier method: `tukey` uses 25 to 75,
/// `ctukey` the given range, which must lie within 2 to 98. `None` for
/// an unknown method or a bad range.
fn method_range(method: &str, low: f64, high: f64) -> Option<(f64, f64)> {
    match method {
        "tukey" => Some((25.0, 75.0)),
        "ctukey" if (2.0..=98.0).contains(&low) && (2.0..=98.0).contains(&high) && low < high => {
            Some((low, high))
        }
        _ => None,
    }
}

/// `series_outliers(series [, kind, ignore_val, min_percentile,
/// max_percentile])`.
fn outliers(args: &[Value]) -> Value {
    let Some(mut y) = series(&args[0]) else {
        return Value::Null;
    };
    if let Some(ignore) = args.get(2).and_then(Value::as_f64) {
        for value in &mut y {
            if *value == Some(ignore) {
                *value = None;
            }
        }
    }
    let method = text_arg(args, 1, "ctukey");
    let Some((low, high)) =
        method_range(method, number_arg(args, 3, 10.0), number_arg(args, 4, 90.0))
    else {
        return Value::Null;
    };
    numbers(&tukey_scores(&y, low, high))
}

/// `series_decompose_anomalies_dynamic(series [, threshold, period, trend,
/// test_points, method, seasonality_threshold])`: the flags (1 above, -1
/// below, 0), the scores of the residuals and the baseline.
fn anomalies_dynamic(args: &[Value]) -> Value {
    let Some(y) = series(&args[0]) else {
        return Value::Null;
    };
    let threshold = number_arg(args, 1, 1.5);
    let period = number_arg(args, 2, -1.0);
    let trend = text_arg(args, 3, "linefit");
    let test_points = number_arg(args, 4, 0.0).max(0.0) as usize;
    let method = text_arg(args, 5, "ctukey");
    let seasonality_threshold = number_arg(args, 6, DECOMPOSE_THRESHOLD);

    let Some(parts) = decompose(&y, period, trend, test_points, seasonality_threshold) else {
        return Value::Null;
    };
    let Some((low, high)) = method_range(method, 10.0, 90.0) else {
        return Value::Null;
    };

    let scores = tukey_scores(&parts.residual, low, high);
    let flags: Vec<Value> = scores
        .iter()
        .map(|score| {
            Value::from(if *score > threshold {
                1
            } else if *score < -threshold {
                -1
            } else {
                0
            })
        })
        .collect();
    let mut bag = Map::new();
    bag.insert("ad_flag".into(), Value::Array(flags));
    bag.insert("ad_score".into(), numbers(&scores));
    bag.insert("baseline".into(), numbers(&parts.baseline));
    Value::Object(bag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(actual: &Value, expected: f64) {
        let actual = actual.as_f64().expect("a number");
        assert!((actual - expected).abs() < 1e-3, "{actual} != {expected}");
    }

    #[test]
    fn fit_line_matches_reference_example() {
        let bag = fit_line_dynamic(&[json!([2, 5, 6, 8, 11, 15, 17, 18, 25, 26, 30, 30])]);
        close(&bag["rsquare"], 0.982);
        close(&bag["slope"], 2.730);
        close(&bag["variance"], 98.628);
        close(&bag["rvariance"], 1.686);
        close(&bag["interception"], -1.666);
        close(&bag["line_fit"][0], 1.064);
    }

    #[test]
    fn seasonal_detects_periods_of_reference_examples() {
        let first = seasonal(&[json!([
            2, 5, 3, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1
        ])]);
        assert_eq!(first[0], json!(1.0));
        assert_eq!(first[1], json!(2.0));
        assert_eq!(first[6], json!(1.0));
        let short = seasonal(&[json!([1, 3, 5, 2, 4, 6, 1, 3, 5, 2, 4, 6])]);
        assert_eq!(short, json!(vec![0.0; 12]));
        let forced = seasonal(&[json!([1, 3, 5, 2, 4, 6, 1, 3, 5, 2, 4, 6]), json!(3)]);
        assert_eq!(forced[0], json!(1.5));
    }

    #[test]
    fn anomalies_flag_a_spike_over_a_line() {
        let mut values: Vec<f64> = (0..30).map(|i| 10.0 + i as f64).collect();
        values[20] = 200.0;
        let bag = anomalies_dynamic(&[json!(values)]);
        let flags = bag["ad_flag"].as_array().expect("flags");
        assert_eq!(flags[20], json!(1));
        assert_eq!(flags.iter().filter(|f| **f != json!(0)).count(), 1);
    }

    #[test]
    fn outliers_score_by_fences() {
        let scores = outliers(&[json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]), json!("tukey")]);
        assert_eq!(scores[4], json!(0.0));
        assert!(scores[9].as_f64().expect("a score") > 1.5);
    }

    #[test]
    fn bad_trend_is_named() {
        let bag = decompose_dynamic(&[json!([1, 2, 3]), json!(0), json!("cubic")]);
        assert_eq!(bag, Value::Null);
        let message = check_text_argument("series_decompose_dynamic", 2, "cubic")
            .expect_err("cubic is no trend");
        assert!(message.contains("'cubic'"), "{message}");
        assert!(message.contains("`series_decompose`"), "{message}");
        assert!(check_text_argument("series_outliers", 1, "tukey").is_ok());
    }
}
