//! KQL datetimes and timespans as 100 ns ticks.
//!
//! The engine keeps both types as `Int64` ticks: a datetime counts ticks
//! since 1970-01-01T00:00:00Z (negative before it), a timespan is a signed
//! tick count. This keeps the 100 ns resolution of Windows event times and
//! KQL, covers every year from 0001 to 9999, and makes datetime arithmetic
//! plain integer arithmetic.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

pub const TICKS_PER_MICROSECOND: i64 = 10;
pub const TICKS_PER_MILLISECOND: i64 = 10_000;
pub const TICKS_PER_SECOND: i64 = 10_000_000;
pub const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
pub const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;
pub const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;
/// The ticks from 0001-01-01, where .NET counts datetimes from, to the Unix
/// epoch, where the engine counts them from.
pub const DOTNET_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

/// Converts a chrono UTC time to ticks since the Unix epoch.
pub fn ticks_from_datetime(time: DateTime<Utc>) -> i64 {
    let seconds = time.timestamp();
    let sub = i64::from(time.timestamp_subsec_nanos()) / 100;
    seconds * TICKS_PER_SECOND + sub
}

/// Converts ticks since the Unix epoch to a chrono UTC time; `None` when out
/// of chrono's range.
pub fn datetime_from_ticks(ticks: i64) -> Option<DateTime<Utc>> {
    let seconds = ticks.div_euclid(TICKS_PER_SECOND);
    let nanos = (ticks.rem_euclid(TICKS_PER_SECOND) * 100) as u32;
    DateTime::from_timestamp(seconds, nanos)
}

/// Formats a datetime the way KQL results show it:
/// `2019-02-13T18:04:58.3636968Z`, always with seven fraction digits.
pub fn format_datetime_iso(ticks: i64) -> String {
    match datetime_from_ticks(ticks) {
        Some(time) => {
            let fraction = ticks.rem_euclid(TICKS_PER_SECOND);
            format!("{}.{fraction:07}Z", time.format("%Y-%m-%dT%H:%M:%S"))
        }
        None => ticks.to_string(),
    }
}

/// Formats a timespan as `[-][d.]hh:mm:ss[.fffffff]`.
pub fn format_timespan(ticks: i64) -> String {
    let negative = ticks < 0;
    let magnitude = ticks.unsigned_abs();
    let per_second = TICKS_PER_SECOND as u64;
    let days = magnitude / TICKS_PER_DAY as u64;
    let rest = magnitude % TICKS_PER_DAY as u64;
    let hours = rest / TICKS_PER_HOUR as u64;
    let minutes = (rest % TICKS_PER_HOUR as u64) / TICKS_PER_MINUTE as u64;
    let seconds = (rest % TICKS_PER_MINUTE as u64) / per_second;
    let fraction = rest % per_second;

    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{hours:02}:{minutes:02}:{seconds:02}"));
    if fraction > 0 {
        out.push_str(&format!(".{fraction:07}"));
    }
    out
}

/// Parses the comma-separated form of a datetime literal,
/// `datetime(year, month, day [, hour, minute [, second]])`; seconds may
/// have a fraction. Returns `None` for any other text or a part out of
/// range.
pub fn parse_datetime_parts(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if !(3..=6).contains(&parts.len()) {
        return None;
    }
    let whole = |index: usize| -> Option<u32> {
        parts.get(index).map_or(Some(0), |part| part.parse().ok())
    };
    let seconds: f64 = parts.get(5).map_or(Some(0.0), |part| part.parse().ok())?;
    if !(0.0..60.0).contains(&seconds) {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(parts[0].parse().ok()?, whole(1)?, whole(2)?)?;
    let minute = date.and_hms_opt(whole(3)?, whole(4)?, 0)?;
    Some(ticks_from_datetime(minute.and_utc()) + (seconds * TICKS_PER_SECOND as f64).round() as i64)
}

/// Parses the datetime forms KQL accepts in `datetime(...)` and
/// `todatetime()`: ISO 8601 with `T` or a space, optional seconds, fraction
/// (up to 7 digits) and `Z` or offset; a date alone; RFC 2822 and RFC 850
/// style text. Returns `None` when the text is not a datetime.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim().trim_matches(|c| c == '"' || c == '\'');
    if text.is_empty() {
        return None;
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(ticks_from_datetime(time.with_timezone(&Utc)));
    }
    let (body, offset_seconds) = split_offset(text);
    let body = body.trim();

    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H",
        "%Y-%m-%d %H",
        "%m/%d/%Y %H:%M:%S%.f",
        "%m/%d/%Y %H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y%m%d %H:%M:%S%.f",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(body, format) {
            let ticks = ticks_from_datetime(naive.and_utc());
            return Some(ticks - offset_seconds * TICKS_PER_SECOND);
        }
    }
    for format in [
        "%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%Y/%m/%d", "%Y%m%d", "%d %b %Y", "%b %d %Y",
    ] {
        if let Ok(date) = NaiveDate::parse_from_str(body, format) {
            let ticks = ticks_from_datetime(date.and_time(NaiveTime::MIN).and_utc());
            return Some(ticks - offset_seconds * TICKS_PER_SECOND);
        }
    }
    if let Ok(time) = DateTime::parse_from_rfc2822(text) {
        return Some(ticks_from_datetime(time.with_timezone(&Utc)));
    }
    for format in [
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a, %d %b %Y %H:%M:%S GMT",
        "%a, %d %b %Y %H:%M:%S",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(ticks_from_datetime(naive.and_utc()));
        }
    }
    None
}

/// Splits a trailing `Z`, `+hh:mm` or `-hh:mm` from a datetime text and
/// returns the offset in seconds east of UTC.
fn split_offset(text: &str) -> (&str, i64) {
    if let Some(body) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return (body, 0);
    }
    if let Some(body) = text
        .strip_suffix(" UTC")
        .or_else(|| text.strip_suffix(" GMT"))
    {
        return (body, 0);
    }
    let bytes = text.as_bytes();
    if bytes.len() > 16 {
        let tail = &text[text.len() - 6..];
        let tail_bytes = tail.as_bytes();
        if (tail_bytes[0] == b'+' || tail_bytes[0] == b'-')
            && tail_bytes[3] == b':'
            && let (Ok(h), Ok(m)) = (tail[1..3].parse::<i64>(), tail[4..6].parse::<i64>())
        {
            let sign = if tail_bytes[0] == b'-' { -1 } else { 1 };
            return (&text[..text.len() - 6], sign * (h * 3600 + m * 60));
        }
    }
    (text, 0)
}

/// Parses the timespan text forms of `timespan(...)` and `totimespan()`:
/// `[-][d.]hh:mm[:ss[.fffffff]]`, or a number with a unit (`1.5h`, `30s`).
pub fn parse_timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let ticks = if body.contains(':') {
        parse_clock_timespan(body)?
    } else {
        parse_unit_timespan(body)?
    };
    Some(if negative { -ticks } else { ticks })
}

fn parse_clock_timespan(body: &str) -> Option<i64> {
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let (days, hours) = match parts[0].split_once('.') {
        Some((d, h)) => (d.parse::<i64>().ok()?, h.parse::<i64>().ok()?),
        None => (0, parts[0].parse::<i64>().ok()?),
    };
    let minutes = parts[1].parse::<i64>().ok()?;
    let (seconds, fraction) = match parts.get(2) {
        Some(s) => match s.split_once('.') {
            Some((whole, frac)) => (whole.parse::<i64>().ok()?, fraction_ticks(frac)?),
            None => (s.parse::<i64>().ok()?, 0),
        },
        None => (0, 0),
    };
    Some(
        days * TICKS_PER_DAY
            + hours * TICKS_PER_HOUR
            + minutes * TICKS_PER_MINUTE
            + seconds * TICKS_PER_SECOND
            + fraction,
    )
}

/// Converts the digits after a decimal point to ticks (7 digits = 100 ns).
fn fraction_ticks(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut padded: String = digits.chars().take(7).collect();
    while padded.len() < 7 {
        padded.push('0');
    }
    padded.parse().ok()
}

fn parse_unit_timespan(body: &str) -> Option<i64> {
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, unit) = body.split_at(split);
    let value: f64 = number.parse().ok()?;
    let unit_ticks = match unit.trim() {
        "" | "d" | "day" | "days" => TICKS_PER_DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => TICKS_PER_HOUR,
        "m" | "min" | "minute" | "minutes" => TICKS_PER_MINUTE,
        "s" | "sec" | "second" | "seconds" => TICKS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => TICKS_PER_MILLISECOND,
        "microsecond" | "microseconds" => TICKS_PER_MICROSECOND,
        "tick" | "ticks" => 1,
        _ => return None,
    };
    Some((value * unit_ticks as f64).round() as i64)
}

/// Returns the calendar parts of a datetime, for `format_datetime` and the
/// `startof*` functions.
pub fn parts(ticks: i64) -> Option<(i32, u32, u32, u32, u32, u32, i64)> {
    let time = datetime_from_ticks(ticks)?;
    Some((
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        ticks.rem_euclid(TICKS_PER_SECOND),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip_keeps_seven_digits() {
        let ticks = parse_datetime("2019-02-13T18:04:58.3636968Z").unwrap();
        assert_eq!(format_datetime_iso(ticks), "2019-02-13T18:04:58.3636968Z");
    }

    #[test]
    fn datetime_space_form_and_date_only() {
        let a = parse_datetime("2017-01-01 00:00:00.0000000").unwrap();
        let b = parse_datetime("2017-01-01").unwrap();
        assert_eq!(a, b);
        assert_eq!(format_datetime_iso(b), "2017-01-01T00:00:00.0000000Z");
    }

    #[test]
    fn datetime_before_epoch() {
        let ticks = parse_datetime("1601-01-01").unwrap();
        assert!(ticks < 0);
        assert_eq!(format_datetime_iso(ticks), "1601-01-01T00:00:00.0000000Z");
    }

    #[test]
    fn datetime_literals_may_list_their_parts() {
        assert_eq!(
            parse_datetime_parts("2025, 6, 14"),
            parse_datetime("2025-06-14")
        );
        assert_eq!(
            parse_datetime_parts("2025,6,14,8,30,1.5"),
            parse_datetime("2025-06-14T08:30:01.5Z")
        );
        assert_eq!(parse_datetime_parts("2025, 13, 1"), None);
        assert_eq!(parse_datetime_parts("8:00"), None);
    }

    #[test]
    fn timespan_formats() {
        assert_eq!(format_timespan(TICKS_PER_DAY), "1.00:00:00");
        assert_eq!(format_timespan(-12 * TICKS_PER_HOUR), "-12:00:00");
        assert_eq!(format_timespan(TICKS_PER_MILLISECOND), "00:00:00.0010000");
    }

    #[test]
    fn timespan_parses() {
        assert_eq!(
            parse_timespan("1.12:30:55.123"),
            Some(
                TICKS_PER_DAY
                    + 12 * TICKS_PER_HOUR
                    + 30 * TICKS_PER_MINUTE
                    + 55 * TICKS_PER_SECOND
                    + 1_230_000
            )
        );
        assert_eq!(parse_timespan("2"), Some(2 * TICKS_PER_DAY));
        assert_eq!(parse_timespan("1.5h"), Some(90 * TICKS_PER_MINUTE));
    }
}
