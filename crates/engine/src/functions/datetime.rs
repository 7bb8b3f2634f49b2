//! Datetime functions over tick values.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::DataType;
use chrono::{Datelike, Months, NaiveDate, NaiveTime};
use datafusion::common::Result;
use datafusion::logical_expr::Expr;
use kql::KqlType;

use super::{int64, long_at, str_at, utf8};
use crate::time::{self, TICKS_PER_DAY, datetime_from_ticks, ticks_from_datetime};
use crate::udf;

/// Builds a function of one datetime (and optional extra long arguments)
/// that returns ticks.
pub fn ticks_function(
    name: &str,
    args: Vec<Expr>,
    body: fn(&[Option<i64>]) -> Option<i64>,
) -> Expr {
    let udf_body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let arrays = arrays.iter().map(int64).collect::<Result<Vec<_>>>()?;
        let rows = arrays.first().map_or(0, |a| a.len());
        let mut values = Vec::with_capacity(arrays.len());
        let out: Int64Array = (0..rows)
            .map(|row| {
                values.clear();
                values.extend(arrays.iter().map(|a| long_at(a, row)));
                body(&values)
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(name, DataType::Int64, false, udf_body, args)
}

fn date_of(ticks: i64) -> Option<NaiveDate> {
    datetime_from_ticks(ticks).map(|t| t.date_naive())
}

fn ticks_of_date(date: NaiveDate) -> i64 {
    ticks_from_datetime(date.and_time(NaiveTime::MIN).and_utc())
}

/// `startofday(dt [, offset days])`.
pub fn start_of_day(values: &[Option<i64>]) -> Option<i64> {
    let ticks = values[0]?;
    let offset = values.get(1).copied().flatten().unwrap_or(0);
    Some(ticks.div_euclid(TICKS_PER_DAY) * TICKS_PER_DAY + offset * TICKS_PER_DAY)
}

/// `endofday(dt [, offset days])`: the last tick of the day.
pub fn end_of_day(values: &[Option<i64>]) -> Option<i64> {
    start_of_day(values).map(|start| start + TICKS_PER_DAY - 1)
}

/// `startofweek(dt [, offset weeks])`: weeks start on Sunday.
pub fn start_of_week(values: &[Option<i64>]) -> Option<i64> {
    let date = date_of(values[0]?)?;
    let back = i64::from(date.weekday().num_days_from_sunday());
    let offset = values.get(1).copied().flatten().unwrap_or(0);
    Some(ticks_of_date(date) - back * TICKS_PER_DAY + offset * 7 * TICKS_PER_DAY)
}

/// `startofmonth(dt [, offset months])`.
pub fn start_of_month(values: &[Option<i64>]) -> Option<i64> {
    let date = date_of(values[0]?)?;
    let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?;
    let offset = values.get(1).copied().flatten().unwrap_or(0);
    let shifted = shift_months(first, offset)?;
    Some(ticks_of_date(shifted))
}

/// `startofyear(dt [, offset years])`.
pub fn start_of_year(values: &[Option<i64>]) -> Option<i64> {
    let date = date_of(values[0]?)?;
    let offset = values.get(1).copied().flatten().unwrap_or(0);
    let year = i32::try_from(i64::from(date.year()) + offset).ok()?;
    Some(ticks_of_date(NaiveDate::from_ymd_opt(year, 1, 1)?))
}

fn shift_months(date: NaiveDate, months: i64) -> Option<NaiveDate> {
    if months >= 0 {
        date.checked_add_months(Months::new(u32::try_from(months).ok()?))
    } else {
        date.checked_sub_months(Months::new(u32::try_from(-months).ok()?))
    }
}

/// `format_datetime(dt, format)` with Kusto's format specifiers: `yyyy`,
/// `yy`, `MM`, `M`, `dd`, `d`, `HH`, `H`, `hh`, `h`, `mm`, `m`, `ss`, `s`,
/// `f` to `fffffff`, `F` to `FFFFFFF`, `tt`; any other character is copied.
pub fn format_datetime(datetime: Expr, format: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let ticks = int64(&arrays[0])?;
        let formats = utf8(&arrays[1])?;
        let out: StringArray = (0..ticks.len())
            .map(|row| long_at(&ticks, row).map(|t| render(t, str_at(&formats, row))))
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(
        "format_datetime",
        DataType::Utf8,
        false,
        body,
        vec![datetime, format],
    )
}

fn render(ticks: i64, format: &str) -> String {
    let Some((year, month, day, hour, minute, second, fraction)) = time::parts(ticks) else {
        return String::new();
    };
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let text = match c {
            'y' if run >= 4 => format!("{year:04}"),
            'y' => format!("{:02}", year % 100),
            'M' if run >= 2 => format!("{month:02}"),
            'M' => month.to_string(),
            'd' if run >= 2 => format!("{day:02}"),
            'd' => day.to_string(),
            'H' if run >= 2 => format!("{hour:02}"),
            'H' => hour.to_string(),
            'h' => {
                let twelve = if hour % 12 == 0 { 12 } else { hour % 12 };
                if run >= 2 {
                    format!("{twelve:02}")
                } else {
                    twelve.to_string()
                }
            }
            'm' if run >= 2 => format!("{minute:02}"),
            'm' => minute.to_string(),
            's' if run >= 2 => format!("{second:02}"),
            's' => second.to_string(),
            'f' | 'F' => {
                let digits = format!("{fraction:07}");
                let taken: String = digits.chars().take(run.min(7)).collect();
                if c == 'F' {
                    taken.trim_end_matches('0').to_string()
                } else {
                    taken
                }
            }
            't' => {
                let marker = if hour < 12 { "AM" } else { "PM" };
                if run >= 2 {
                    marker.to_string()
                } else {
                    marker[..1].to_string()
                }
            }
            other => std::iter::repeat_n(other, run).collect(),
        };
        out.push_str(&text);
        i += run;
    }
    out
}

/// `datetime_diff(part, dt1, dt2)`: the number of `part` boundaries
/// between `dt2` and `dt1` (positive when `dt1` is later).
pub fn datetime_diff(part: Expr, left: Expr, right: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let parts = utf8(&arrays[0])?;
        let lefts = int64(&arrays[1])?;
        let rights = int64(&arrays[2])?;
        let out: Int64Array = (0..lefts.len())
            .map(|row| {
                diff(
                    str_at(&parts, row),
                    long_at(&lefts, row)?,
                    long_at(&rights, row)?,
                )
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(
        "datetime_diff",
        DataType::Int64,
        false,
        body,
        vec![part, left, right],
    )
}

fn diff(part: &str, left: i64, right: i64) -> Option<i64> {
    let floor_diff = |unit: i64| left.div_euclid(unit) - right.div_euclid(unit);
    let value = match part.to_ascii_lowercase().as_str() {
        "year" => i64::from(date_of(left)?.year() - date_of(right)?.year()),
        "quarter" => {
            let (l, r) = (date_of(left)?, date_of(right)?);
            i64::from(l.year() - r.year()) * 4
                + (i64::from(l.month0()) / 3 - i64::from(r.month0()) / 3)
        }
        "month" => {
            let (l, r) = (date_of(left)?, date_of(right)?);
            i64::from(l.year() - r.year()) * 12 + i64::from(l.month0()) - i64::from(r.month0())
        }
        "week" => {
            let week_start = |t: i64| start_of_week(&[Some(t)]);
            (week_start(left)? - week_start(right)?) / (7 * TICKS_PER_DAY)
        }
        "day" => floor_diff(TICKS_PER_DAY),
        "hour" => floor_diff(time::TICKS_PER_HOUR),
        "minute" => floor_diff(time::TICKS_PER_MINUTE),
        "second" => floor_diff(time::TICKS_PER_SECOND),
        "millisecond" => floor_diff(time::TICKS_PER_MILLISECOND),
        "microsecond" => floor_diff(time::TICKS_PER_MICROSECOND),
        "nanosecond" => (left - right) * 100,
        _ => return None,
    };
    Some(value)
}

/// `datetime_add(part, amount, dt)`.
pub fn datetime_add(part: Expr, amount: Expr, datetime: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let parts = utf8(&arrays[0])?;
        let amounts = int64(&arrays[1])?;
        let datetimes = int64(&arrays[2])?;
        let out: Int64Array = (0..datetimes.len())
            .map(|row| {
                add(
                    str_at(&parts, row),
                    long_at(&amounts, row)?,
                    long_at(&datetimes, row)?,
                )
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(
        "datetime_add",
        DataType::Int64,
        false,
        body,
        vec![part, amount, datetime],
    )
}

fn add(part: &str, amount: i64, ticks: i64) -> Option<i64> {
    let months = |n: i64| -> Option<i64> {
        let time = datetime_from_ticks(ticks)?;
        let date = shift_months(time.date_naive(), n)?;
        Some(ticks_of_date(date) + ticks.rem_euclid(TICKS_PER_DAY))
    };
    match part.to_ascii_lowercase().as_str() {
        "year" => months(amount * 12),
        "quarter" => months(amount * 3),
        "month" => months(amount),
        "week" => Some(ticks + amount * 7 * TICKS_PER_DAY),
        "day" => Some(ticks + amount * TICKS_PER_DAY),
        "hour" => Some(ticks + amount * time::TICKS_PER_HOUR),
        "minute" => Some(ticks + amount * time::TICKS_PER_MINUTE),
        "second" => Some(ticks + amount * time::TICKS_PER_SECOND),
        "millisecond" => Some(ticks + amount * time::TICKS_PER_MILLISECOND),
        "microsecond" => Some(ticks + amount * time::TICKS_PER_MICROSECOND),
        "nanosecond" => Some(ticks + amount / 100),
        _ => None,
    }
}

/// `datetime_part(part, dt)` and the `getyear`/`hourofday` family.
pub fn datetime_part(part: &str, values: &[Option<i64>]) -> Option<i64> {
    let ticks = values[0]?;
    let time = datetime_from_ticks(ticks)?;
    use chrono::Timelike;
    let value = match part {
        "year" => i64::from(time.year()),
        "quarter" => i64::from(time.month0() / 3 + 1),
        "month" => i64::from(time.month()),
        "week_of_year" => i64::from(time.iso_week().week()),
        "day" => i64::from(time.day()),
        "dayofyear" => i64::from(time.ordinal()),
        "hour" => i64::from(time.hour()),
        "minute" => i64::from(time.minute()),
        "second" => i64::from(time.second()),
        "millisecond" => ticks.rem_euclid(time::TICKS_PER_SECOND) / time::TICKS_PER_MILLISECOND,
        "microsecond" => ticks.rem_euclid(time::TICKS_PER_SECOND) / time::TICKS_PER_MICROSECOND,
        "nanosecond" => ticks.rem_euclid(time::TICKS_PER_SECOND) * 100,
        _ => return None,
    };
    Some(value)
}

/// Datetime functions computed over JSON values.
pub const DATETIME_FUNCTIONS: &[super::JsonFunction] = &[
    super::JsonFunction::new("make_datetime", 3, 6, KqlType::Datetime, make_datetime),
    super::JsonFunction::new("make_timespan", 2, 4, KqlType::Timespan, make_timespan),
    super::JsonFunction::new("format_timespan", 2, 2, KqlType::String, format_timespan),
    super::JsonFunction::new(
        "datetime_utc_to_local",
        2,
        2,
        KqlType::Datetime,
        datetime_utc_to_local,
    ),
    super::JsonFunction::new(
        "datetime_local_to_utc",
        2,
        2,
        KqlType::Datetime,
        datetime_local_to_utc,
    ),
];

/// Reads a datetime argument (ISO 8601 text in JSON) as ticks.
fn ticks_arg(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::String(text) => time::parse_datetime(text),
        other => other.as_i64(),
    }
}

/// Reads a time zone argument: an IANA name such as `Europe/Paris` or
/// `US/Pacific`.
fn zone_arg(value: &serde_json::Value) -> Option<chrono_tz::Tz> {
    value.as_str()?.trim().parse().ok()
}

/// `datetime_utc_to_local(dt, zone)`: the wall-clock time in `zone` at
/// the UTC instant `dt`.
fn datetime_utc_to_local(args: &[serde_json::Value]) -> serde_json::Value {
    let (Some(ticks), Some(zone)) = (ticks_arg(&args[0]), zone_arg(&args[1])) else {
        return serde_json::Value::Null;
    };
    let Some(utc) = datetime_from_ticks(ticks) else {
        return serde_json::Value::Null;
    };
    let local = utc.with_timezone(&zone).naive_local();
    serde_json::Value::from(ticks_from_datetime(local.and_utc()))
}

/// `datetime_local_to_utc(dt, zone)`: the UTC instant of the wall-clock
/// time `dt` in `zone`. A time that does not exist, because clocks go
/// forward, is read in the offset after the change, as Kusto's example
/// shows. NOTE: a time that occurs twice, because clocks go back, is read
/// in the later offset; no Kusto example shows which offset Kusto picks.
fn datetime_local_to_utc(args: &[serde_json::Value]) -> serde_json::Value {
    use chrono::{LocalResult, Offset as _, TimeZone as _};
    let (Some(ticks), Some(zone)) = (ticks_arg(&args[0]), zone_arg(&args[1])) else {
        return serde_json::Value::Null;
    };
    let Some(local) = datetime_from_ticks(ticks).map(|t| t.naive_utc()) else {
        return serde_json::Value::Null;
    };
    let offset = match zone.offset_from_local_datetime(&local) {
        LocalResult::Single(offset) => offset.fix(),
        LocalResult::Ambiguous(_, later) => later.fix(),
        LocalResult::None => {
            // In a gap: the offset in force just after it. Gaps last at
            // most a few hours.
            let after = local + chrono::TimeDelta::hours(3);
            match zone.offset_from_local_datetime(&after) {
                LocalResult::Single(offset) | LocalResult::Ambiguous(offset, _) => offset.fix(),
                LocalResult::None => return serde_json::Value::Null,
            }
        }
    };
    let seconds = i64::from(offset.local_minus_utc());
    serde_json::Value::from(ticks - seconds * time::TICKS_PER_SECOND)
}

/// `make_timespan(hours, minutes)`, `make_timespan(hours, minutes,
/// seconds)` or `make_timespan(days, hours, minutes, seconds)`; seconds
/// may have a fraction, kept to 100 ns.
fn make_timespan(args: &[serde_json::Value]) -> serde_json::Value {
    let parts: Option<Vec<f64>> = args.iter().map(serde_json::Value::as_f64).collect();
    let Some(parts) = parts else {
        return serde_json::Value::Null;
    };
    let (days, hours, minutes, seconds) = match parts[..] {
        [hours, minutes] => (0.0, hours, minutes, 0.0),
        [hours, minutes, seconds] => (0.0, hours, minutes, seconds),
        [days, hours, minutes, seconds] => (days, hours, minutes, seconds),
        _ => return serde_json::Value::Null,
    };
    let whole = |value: f64| value.trunc() as i64;
    let ticks = whole(days) * TICKS_PER_DAY
        + whole(hours) * time::TICKS_PER_HOUR
        + whole(minutes) * time::TICKS_PER_MINUTE
        + (seconds * time::TICKS_PER_SECOND as f64).round() as i64;
    serde_json::Value::from(ticks)
}

/// `format_timespan(ts, format)` with the specifiers `d` to `dddddddd`
/// (days, zero-padded to the count), `h`/`hh` and `H`/`HH` (hours),
/// `m`/`mm`, `s`/`ss`, and `f` to `fffffff` or `F` to `FFFFFFF` (fraction
/// digits, where `F` drops trailing zeros). Any other character is copied,
/// and a negative timespan starts with `-`.
fn format_timespan(args: &[serde_json::Value]) -> serde_json::Value {
    let ticks = match &args[0] {
        serde_json::Value::String(text) => time::parse_timespan(text),
        other => other.as_i64(),
    };
    let (Some(ticks), Some(format)) = (ticks, args[1].as_str()) else {
        return serde_json::Value::Null;
    };
    let magnitude = ticks.unsigned_abs();
    let day = TICKS_PER_DAY as u64;
    let days = magnitude / day;
    let hours = magnitude % day / time::TICKS_PER_HOUR as u64;
    let minutes = magnitude % time::TICKS_PER_HOUR as u64 / time::TICKS_PER_MINUTE as u64;
    let seconds = magnitude % time::TICKS_PER_MINUTE as u64 / time::TICKS_PER_SECOND as u64;
    let fraction = magnitude % time::TICKS_PER_SECOND as u64;
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    if ticks < 0 {
        out.push('-');
    }
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let padded = |value: u64, width: usize| format!("{value:0width$}");
        let text = match c {
            'd' => padded(days, run),
            'h' | 'H' => padded(hours, run.min(2)),
            'm' => padded(minutes, run.min(2)),
            's' => padded(seconds, run.min(2)),
            'f' | 'F' => {
                let digits: String = format!("{fraction:07}").chars().take(run.min(7)).collect();
                if c == 'F' {
                    digits.trim_end_matches('0').to_string()
                } else {
                    digits
                }
            }
            other => std::iter::repeat_n(other, run).collect(),
        };
        out.push_str(&text);
        i += run;
    }
    serde_json::Value::String(out)
}

/// `make_datetime(year, month, day [, hour, minute, second])`: seconds may
/// have a fraction, kept to 100 ns. Parts out of range give null.
fn make_datetime(args: &[serde_json::Value]) -> serde_json::Value {
    let integer = |index: usize| -> Option<u32> {
        match args.get(index) {
            None => Some(0),
            Some(value) => value.as_u64().and_then(|n| u32::try_from(n).ok()),
        }
    };
    let seconds = match args.get(5) {
        None => Some(0.0),
        Some(value) => value.as_f64().filter(|s| (0.0..60.0).contains(s)),
    };
    let year = args[0].as_i64().and_then(|y| i32::try_from(y).ok());
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(seconds)) = (
        year,
        integer(1),
        integer(2),
        integer(3),
        integer(4),
        seconds,
    ) else {
        return serde_json::Value::Null;
    };
    let Some(date) = chrono::NaiveDate::from_ymd_opt(year, month, day) else {
        return serde_json::Value::Null;
    };
    let Some(minute_start) = date.and_hms_opt(hour, minute, 0) else {
        return serde_json::Value::Null;
    };
    let fraction_ticks = (seconds * time::TICKS_PER_SECOND as f64).round() as i64;
    let ticks = ticks_from_datetime(minute_start.and_utc()) + fraction_ticks;
    serde_json::Value::from(ticks)
}

#[cfg(test)]
mod make_datetime_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn make_datetime_parts() {
        let expected = crate::time::parse_datetime("2017-10-01T12:11:00.1234567Z").unwrap();
        assert_eq!(
            make_datetime(&[
                json!(2017),
                json!(10),
                json!(1),
                json!(12),
                json!(11),
                json!(0.1234567)
            ]),
            json!(expected)
        );
        assert_eq!(
            make_datetime(&[json!(2017), json!(13), json!(1)]),
            serde_json::Value::Null
        );
    }

    #[test]
    fn timespans_format_with_specifiers() {
        let t = json!("29.09:00:05.1234500");
        let format = |f: &str| format_timespan(&[t.clone(), json!(f)]);
        assert_eq!(format("dd.hh:mm:ss:FF"), json!("29.09:00:05:12"));
        assert_eq!(
            format("ddd.h:mm:ss [fffffff]"),
            json!("029.9:00:05 [1234500]")
        );
        assert_eq!(
            make_timespan(&[json!(1), json!(12), json!(30), json!(55.123)]),
            json!(time::parse_timespan("1.12:30:55.123").unwrap())
        );
    }

    #[test]
    fn spring_gap_takes_later_offset() {
        let utc = |local: &str| {
            datetime_local_to_utc(&[json!(local), json!("Europe/Brussels")])
                .as_i64()
                .map(crate::time::format_datetime_iso)
        };
        assert_eq!(
            utc("2022-03-27T01:00:00Z").unwrap(),
            "2022-03-27T00:00:00.0000000Z"
        );
        assert_eq!(
            utc("2022-03-27T02:00:00Z").unwrap(),
            "2022-03-27T00:00:00.0000000Z"
        );
        assert_eq!(
            utc("2022-03-27T03:00:00Z").unwrap(),
            "2022-03-27T01:00:00.0000000Z"
        );
        let local =
            datetime_utc_to_local(&[json!("2022-03-27T01:00:00Z"), json!("Europe/Brussels")]);
        assert_eq!(
            local
                .as_i64()
                .map(crate::time::format_datetime_iso)
                .unwrap(),
            "2022-03-27T03:00:00.0000000Z"
        );
        assert_eq!(
            datetime_local_to_utc(&[json!("2022-03-27T01:00:00Z"), json!("Mars/Olympus")]),
            serde_json::Value::Null
        );
    }
}
