//! Special mathematical functions over reals (`erf`, `erfc`, `gamma`,
//! `loggamma`, `beta_pdf`, `beta_cdf`), bit counting and unit conversion
//! (`convert_length`, `convert_speed`, `convert_mass`, `convert_angle`,
//! `convert_temperature`).
//!
//! The real functions return NaN where Kusto does (an argument outside
//! the function's domain), so they are computed on `Float64` arrays rather
//! than through JSON, which has no NaN.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::DataFusionError;
use datafusion::logical_expr::Expr;
use kql::KqlType;
use serde_json::Value;

use super::JsonFunction;
use crate::udf;

/// A real function of real arguments: its KQL name, argument counts and
/// body. A null argument gives null without calling the body.
pub struct RealFunction {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    pub body: fn(&[f64]) -> f64,
}

pub const REAL_FUNCTIONS: &[RealFunction] = &[
    RealFunction {
        name: "erf",
        min_args: 1,
        max_args: 1,
        body: |a| libm::erf(a[0]),
    },
    RealFunction {
        name: "erfc",
        min_args: 1,
        max_args: 1,
        body: |a| libm::erfc(a[0]),
    },
    RealFunction {
        name: "gamma",
        min_args: 1,
        max_args: 1,
        body: |a| libm::tgamma(a[0]),
    },
    RealFunction {
        name: "loggamma",
        min_args: 1,
        max_args: 1,
        body: |a| libm::lgamma(a[0]),
    },
    RealFunction {
        name: "beta_pdf",
        min_args: 3,
        max_args: 3,
        body: |a| beta_pdf(a[0], a[1], a[2]),
    },
    RealFunction {
        name: "beta_cdf",
        min_args: 3,
        max_args: 3,
        body: |a| beta_cdf(a[0], a[1], a[2]),
    },
];

/// Finds a real function by its KQL name.
pub fn real_function(name: &str) -> Option<&'static RealFunction> {
    REAL_FUNCTIONS.iter().find(|function| function.name == name)
}

/// Builds the call of a real function; the arguments must be `Float64`.
pub fn real_call(function: &'static RealFunction, args: Vec<Expr>) -> Expr {
    let body = function.body;
    let udf_body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let arrays = arrays
            .iter()
            .map(|array| arrow::compute::cast(array, &DataType::Float64))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(DataFusionError::from)?;
        let rows = arrays.first().map_or(0, |a| a.len());
        let mut values = Vec::with_capacity(arrays.len());
        let out: Float64Array = (0..rows)
            .map(|row| {
                values.clear();
                for array in &arrays {
                    let reals = array.as_primitive::<Float64Type>();
                    if reals.is_null(row) {
                        return None;
                    }
                    values.push(reals.value(row));
                }
                Some(body(&values))
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(function.name, DataType::Float64, false, udf_body, args)
}

/// The logarithm of the beta function B(a, b).
fn log_beta(a: f64, b: f64) -> f64 {
    libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b)
}

/// Returns the density of the beta distribution with shape parameters `a`
/// and `b` at `x`. It is NaN outside 0 ≤ x ≤ 1 or for a shape that is not
/// positive.
fn beta_pdf(x: f64, a: f64, b: f64) -> f64 {
    if !(0.0..=1.0).contains(&x) || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    ((a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - log_beta(a, b)).exp()
}

/// The cumulative beta distribution: the regularized incomplete beta
/// function I_x(a, b), by its continued fraction (Lentz's method).
fn beta_cdf(x: f64, a: f64, b: f64) -> f64 {
    if !(0.0..=1.0).contains(&x) || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x == 1.0 {
        return x;
    }
    let front = (a * x.ln() + b * (1.0 - x).ln() - log_beta(a, b)).exp();
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2);
    // otherwise use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut result = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + even * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + even / c;
        if c.abs() < TINY {
            c = TINY;
        }
        result *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + odd * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + odd / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let step = d * c;
        result *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    result
}

pub const MATH_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("bitset_count_ones", 1, 1, KqlType::Long, bitset_count_ones),
    JsonFunction::new("convert_length", 3, 3, KqlType::Real, convert_length),
    JsonFunction::new("convert_speed", 3, 3, KqlType::Real, convert_speed),
    JsonFunction::new("convert_mass", 3, 3, KqlType::Real, convert_mass),
    JsonFunction::new("convert_angle", 3, 3, KqlType::Real, convert_angle),
    JsonFunction::new(
        "convert_temperature",
        3,
        3,
        KqlType::Real,
        convert_temperature,
    ),
];

/// `bitset_count_ones(n)`: the number of set bits of a long in two's
/// complement.
fn bitset_count_ones(args: &[Value]) -> Value {
    args[0]
        .as_i64()
        .map_or(Value::Null, |n| Value::from(n.count_ones()))
}

/// Length units in meters.
const LENGTH: &[(&str, f64)] = &[
    ("Meter", 1.0),
    ("Kilometer", 1_000.0),
    ("Hectometer", 100.0),
    ("Decameter", 10.0),
    ("Decimeter", 0.1),
    ("Centimeter", 0.01),
    ("Millimeter", 0.001),
    ("Micrometer", 1e-6),
    ("Microinch", 2.54e-8),
    ("Nanometer", 1e-9),
    ("Inch", 0.0254),
    ("Foot", 0.3048),
    ("Yard", 0.9144),
    ("Mile", 1_609.344),
    ("NauticalMile", 1_852.0),
    ("Mil", 2.54e-5),
    ("Fathom", 1.8288),
    ("Hand", 0.1016),
    ("Chain", 20.1168),
    ("Shackle", 27.432),
    ("Twip", 1.763_888_888_888_889e-5),
    ("PrinterPoint", 3.527_777_777_777_778e-4),
    ("PrinterPica", 4.233_333_333_333_333e-3),
    ("DtpPoint", 3.527_777_777_777_778e-4),
    ("DtpPica", 4.233_333_333_333_333e-3),
    ("AstronomicalUnit", 149_597_870_700.0),
    ("LightYear", 9_460_730_472_580_800.0),
    ("Parsec", 3.085_677_581_491_367e16),
];

/// Speed units in meters per second.
const SPEED: &[(&str, f64)] = &[
    ("MeterPerSecond", 1.0),
    ("MeterPerMinute", 1.0 / 60.0),
    ("MeterPerHour", 1.0 / 3_600.0),
    ("CentimeterPerSecond", 0.01),
    ("CentimeterPerMinute", 0.01 / 60.0),
    ("CentimeterPerHour", 0.01 / 3_600.0),
    ("MillimeterPerSecond", 0.001),
    ("MillimeterPerMinute", 0.001 / 60.0),
    ("MillimeterPerHour", 0.001 / 3_600.0),
    ("KilometerPerSecond", 1_000.0),
    ("KilometerPerMinute", 1_000.0 / 60.0),
    ("KilometerPerHour", 1_000.0 / 3_600.0),
    ("FootPerSecond", 0.3048),
    ("FootPerMinute", 0.3048 / 60.0),
    ("FootPerHour", 0.3048 / 3_600.0),
    ("InchPerSecond", 0.0254),
    ("InchPerMinute", 0.0254 / 60.0),
    ("InchPerHour", 0.0254 / 3_600.0),
    ("YardPerSecond", 0.9144),
    ("YardPerMinute", 0.9144 / 60.0),
    ("YardPerHour", 0.9144 / 3_600.0),
    ("MilePerHour", 1_609.344 / 3_600.0),
    ("Knot", 1_852.0 / 3_600.0),
    ("Mach", 340.29),
];

/// Mass units in kilograms.
const MASS: &[(&str, f64)] = &[
    ("Kilogram", 1.0),
    ("Gram", 0.001),
    ("Milligram", 1e-6),
    ("Microgram", 1e-9),
    ("Nanogram", 1e-12),
    ("Tonne", 1_000.0),
    ("Pound", 0.453_592_37),
    ("Ounce", 0.028_349_523_125),
    ("Stone", 6.350_293_18),
    ("ShortTon", 907.184_74),
    ("LongTon", 1_016.046_908_8),
    ("Grain", 6.479_891e-5),
];

/// Angle units in degrees.
const ANGLE: &[(&str, f64)] = &[
    ("Degree", 1.0),
    ("Radian", 180.0 / std::f64::consts::PI),
    ("Gradian", 0.9),
    ("Arcminute", 1.0 / 60.0),
    ("Arcsecond", 1.0 / 3_600.0),
    ("Revolution", 360.0),
];

/// Converts `args[0]` from unit `args[1]` to unit `args[2]` with a table of
/// factors to a base unit. Unit names compare without case; an unknown
/// unit gives null.
fn convert(args: &[Value], units: &[(&str, f64)]) -> Value {
    let factor = |unit: &Value| -> Option<f64> {
        let unit = unit.as_str()?;
        units
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|(_, factor)| *factor)
    };
    match (args[0].as_f64(), factor(&args[1]), factor(&args[2])) {
        (Some(value), Some(from), Some(to)) => Value::from(value * from / to),
        _ => Value::Null,
    }
}

fn convert_length(args: &[Value]) -> Value {
    convert(args, LENGTH)
}

fn convert_speed(args: &[Value]) -> Value {
    convert(args, SPEED)
}

fn convert_mass(args: &[Value]) -> Value {
    convert(args, MASS)
}

fn convert_angle(args: &[Value]) -> Value {
    convert(args, ANGLE)
}

/// `convert_temperature(value, from, to)` between `Kelvin`,
/// `DegreeCelsius`, `DegreeFahrenheit` and `DegreeRankine`.
fn convert_temperature(args: &[Value]) -> Value {
    let to_kelvin = |value: f64, unit: &str| -> Option<f64> {
        match unit.to_ascii_lowercase().as_str() {
            "kelvin" => Some(value),
            "degreecelsius" => Some(value + 273.15),
            "degreefahrenheit" => Some((value + 459.67) * 5.0 / 9.0),
            "degreerankine" => Some(value * 5.0 / 9.0),
            _ => None,
        }
    };
    let from_kelvin = |kelvin: f64, unit: &str| -> Option<f64> {
        match unit.to_ascii_lowercase().as_str() {
            "kelvin" => Some(kelvin),
            "degreecelsius" => Some(kelvin - 273.15),
            "degreefahrenheit" => Some(kelvin * 9.0 / 5.0 - 459.67),
            "degreerankine" => Some(kelvin * 9.0 / 5.0),
            _ => None,
        }
    };
    let (Some(value), Some(from), Some(to)) =
        (args[0].as_f64(), args[1].as_str(), args[2].as_str())
    else {
        return Value::Null;
    };
    to_kelvin(value, from)
        .and_then(|kelvin| from_kelvin(kelvin, to))
        .map_or(Value::Null, Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0)
    }

    #[test]
    fn beta_density_and_distribution() {
        assert!(close(beta_pdf(0.5, 10.0, 20.0), 0.746_176_019_310_951));
        assert!(beta_pdf(1.5, 10.0, 20.0).is_nan());
        assert!(beta_pdf(0.1, -1.0, 20.0).is_nan());
        // I_x(1, 1) is x; I_0.5(a, a) is one half.
        assert!(close(beta_cdf(0.3, 1.0, 1.0), 0.3));
        assert!(close(beta_cdf(0.5, 7.0, 7.0), 0.5));
    }

    #[test]
    fn conversions() {
        let length = convert_length(&[json!(1.2), json!("Meter"), json!("Foot")]);
        assert!(close(length.as_f64().unwrap(), 3.937_007_874_015_75));
        let speed = convert_speed(&[
            json!(1.2),
            json!("MeterPerSecond"),
            json!("CentimeterPerHour"),
        ]);
        assert!(close(speed.as_f64().unwrap(), 432_000.0));
        let cold = convert_temperature(&[json!(1.2), json!("Kelvin"), json!("DegreeCelsius")]);
        assert!(close(cold.as_f64().unwrap(), -271.95));
        assert_eq!(
            convert_length(&[json!(1), json!("Meter"), json!("Furlong")]),
            Value::Null
        );
    }

    #[test]
    fn counts_bits_of_negative_numbers() {
        assert_eq!(bitset_count_ones(&[json!(42)]), json!(3));
        assert_eq!(bitset_count_ones(&[json!(-1)]), json!(64));
    }
}
