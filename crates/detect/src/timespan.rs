//! Rule timespans: `queryFrequency`, `queryPeriod`, `suppressionDuration`
//! and `lookbackDuration`.
//!
//! Published rules write them in two forms: ISO 8601 durations as the
//! Sentinel API returns them (`PT5H`, `P1D`, `PT1H30M`), and KQL timespan
//! literals (`5h`, `1d`, `30m`). Both are accepted, in any letter case.

use engine::time::parse_timespan;

const TICKS_PER_SECOND: i64 = 10_000_000;
const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;
const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;

/// The hint that error messages give for a timespan of the wrong form.
pub const TIMESPAN_HINT: &str =
    "use an ISO 8601 duration such as PT5H or P1D, or a number with a unit d, h, m or s such as 5h";

/// Parses a rule timespan into 100 ns ticks. Returns `None` for text of
/// neither form and for a span that is not positive.
pub fn parse_rule_timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    let ticks = if text.starts_with(['P', 'p']) {
        parse_iso8601_duration(&text[1..])?
    } else {
        // A bare number means days in KQL, which is too easy to misread in a rule.
        if !text.ends_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        parse_timespan(&text.to_ascii_lowercase())?
    };
    (ticks > 0).then_some(ticks)
}

/// Parses the part of an ISO 8601 duration after `P`: `[nW][nD][T[nH][nM][n[.f]S]]`.
/// Years and months are rejected because their length varies.
fn parse_iso8601_duration(body: &str) -> Option<i64> {
    let upper = body.to_ascii_uppercase();
    let (date_part, time_part) = match upper.split_once('T') {
        Some((date, time)) => {
            if time.is_empty() {
                return None;
            }
            (date.to_string(), Some(time.to_string()))
        }
        None => (upper.clone(), None),
    };
    if date_part.is_empty() && time_part.is_none() {
        return None;
    }

    let mut ticks = 0i64;
    for (number, unit) in designators(&date_part)? {
        let unit_ticks = match unit {
            'W' => 7 * TICKS_PER_DAY,
            'D' => TICKS_PER_DAY,
            _ => return None,
        };
        ticks = ticks.checked_add(scale(&number, unit_ticks)?)?;
    }
    if let Some(time_part) = time_part {
        for (number, unit) in designators(&time_part)? {
            let unit_ticks = match unit {
                'H' => TICKS_PER_HOUR,
                'M' => TICKS_PER_MINUTE,
                'S' => TICKS_PER_SECOND,
                _ => return None,
            };
            ticks = ticks.checked_add(scale(&number, unit_ticks)?)?;
        }
    }
    Some(ticks)
}

/// Splits `1D2H` into `[("1", 'D'), ("2", 'H')]`; `None` when a number or
/// a designator is missing.
fn designators(text: &str) -> Option<Vec<(String, char)>> {
    let mut parts = Vec::new();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            number.push(if c == ',' { '.' } else { c });
        } else if number.is_empty() {
            return None;
        } else {
            parts.push((std::mem::take(&mut number), c));
        }
    }
    number.is_empty().then_some(parts)
}

fn scale(number: &str, unit_ticks: i64) -> Option<i64> {
    let value: f64 = number.parse().ok()?;
    let ticks = (value * unit_ticks as f64).round();
    (ticks.is_finite() && ticks < i64::MAX as f64).then_some(ticks as i64)
}

/// Formats ticks as an ISO 8601 duration (`PT5H`, `P1D`, `PT1H30M`).
pub fn format_iso8601(ticks: i64) -> String {
    let days = ticks / TICKS_PER_DAY;
    let mut rest = ticks % TICKS_PER_DAY;
    let hours = rest / TICKS_PER_HOUR;
    rest %= TICKS_PER_HOUR;
    let minutes = rest / TICKS_PER_MINUTE;
    rest %= TICKS_PER_MINUTE;
    let mut text = String::from("P");
    if days > 0 {
        text.push_str(&format!("{days}D"));
    }
    if hours > 0 || minutes > 0 || rest > 0 || days == 0 {
        text.push('T');
        if hours > 0 {
            text.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            text.push_str(&format!("{minutes}M"));
        }
        if rest > 0 || (hours == 0 && minutes == 0) {
            let seconds = rest as f64 / TICKS_PER_SECOND as f64;
            text.push_str(&format!("{seconds}S"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_forms() {
        assert_eq!(parse_rule_timespan("PT5H"), Some(5 * TICKS_PER_HOUR));
        assert_eq!(parse_rule_timespan("P1D"), Some(TICKS_PER_DAY));
        assert_eq!(parse_rule_timespan("pt1h30m"), Some(90 * TICKS_PER_MINUTE));
        assert_eq!(parse_rule_timespan("P1DT12H"), Some(36 * TICKS_PER_HOUR));
        assert_eq!(parse_rule_timespan("P2W"), Some(14 * TICKS_PER_DAY));
        assert_eq!(parse_rule_timespan("PT0.5S"), Some(TICKS_PER_SECOND / 2));
    }

    #[test]
    fn kql_forms() {
        assert_eq!(parse_rule_timespan("5h"), Some(5 * TICKS_PER_HOUR));
        assert_eq!(parse_rule_timespan("1d"), Some(TICKS_PER_DAY));
        assert_eq!(parse_rule_timespan("30m"), Some(30 * TICKS_PER_MINUTE));
        assert_eq!(parse_rule_timespan("14D"), Some(14 * TICKS_PER_DAY));
    }

    #[test]
    fn invalid_forms() {
        for text in [
            "5x", "", "P", "PT", "P1M", "P1Y", "PTH", "5", "0h", "PT0S", "-5h", "1dd",
        ] {
            assert_eq!(
                parse_rule_timespan(text),
                None,
                "{text:?} should be rejected"
            );
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["PT5H", "P1D", "PT1H30M", "P14D", "PT5M", "PT30S"] {
            let ticks = parse_rule_timespan(text).unwrap();
            assert_eq!(format_iso8601(ticks), text);
        }
    }
}
