//! BSD syslog (RFC 3164) as senders actually send it.
//!
//! The RFC describes `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG`, but little
//! of that is reliable on the wire, so each part is optional and detected
//! the way rsyslog's legacy parser does:
//!
//! - The timestamp is `Mmm dd hh:mm:ss` (day padded with a space or a
//!   zero), optionally with fractional seconds or a year (`Mmm dd yyyy
//!   hh:mm:ss`, as Cisco devices send), or an RFC 3339 timestamp (rsyslog's
//!   `RSYSLOG_ForwardFormat`). A message without one gets none.
//! - The hostname is the word after the timestamp, unless that word is
//!   already the tag (it ends with `:` or has a `[`), starts CEF, or contains
//!   characters no hostname has. Without a timestamp no hostname is read.
//! - The tag is the next word when it ends with `:`, as `name:` or
//!   `name[pid]:`.
//!
//! The timestamp has no year and no zone. The year is the one that puts
//! the time nearest before the receive time: a time more than seven days
//! ahead of the receive time is taken from the year before, so December
//! messages read in January land in December. The time is read as UTC.
//! NOTE: senders that write local time other than UTC are shifted by their
//! offset; RFC 3164 gives no way to tell.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

use super::message::{SyslogFormat, SyslogMessage, TICKS_PER_SECOND, ticks_of};

/// Allowance for sender clocks ahead of ours before a BSD timestamp is
/// taken to be from the year before.
const FUTURE_ALLOWANCE_TICKS: i64 = 7 * 24 * 3600 * TICKS_PER_SECOND;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses the part of a BSD message after the PRI. `received_ticks` picks
/// the year of a timestamp without one. Never fails: text that matches no
/// header part becomes the message.
pub fn parse(pri: u8, after_pri: &str, received_ticks: i64) -> SyslogMessage {
    let (timestamp_ticks, after_time) = match parse_timestamp(after_pri, received_ticks) {
        Some((ticks, rest)) => (Some(ticks), rest.trim_start_matches(' ')),
        None => (None, after_pri),
    };

    let (hostname, after_host) = if timestamp_ticks.is_some() {
        split_hostname(after_time)
    } else {
        (None, after_time)
    };

    let (app_name, proc_id, message) = split_tag(after_host);

    SyslogMessage {
        format: SyslogFormat::Rfc3164,
        facility: pri >> 3,
        severity: pri & 7,
        timestamp_ticks,
        hostname: hostname.map(str::to_string),
        app_name: app_name.map(str::to_string),
        proc_id: proc_id.map(str::to_string),
        msg_id: None,
        structured_data_text: None,
        structured_data: Vec::new(),
        message: message.to_string(),
    }
}

/// Reads a timestamp at the start of the text and returns its ticks and
/// the text after it.
fn parse_timestamp(text: &str, received_ticks: i64) -> Option<(i64, &str)> {
    if text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let end = text.find(' ').unwrap_or(text.len());
        let time = chrono::DateTime::parse_from_rfc3339(&text[..end]).ok()?;
        return Some((ticks_of(&time), &text[end..]));
    }
    parse_bsd_timestamp(text, received_ticks)
}

/// Reads `Mmm dd [yyyy ]hh:mm:ss[.fraction]`.
fn parse_bsd_timestamp(text: &str, received_ticks: i64) -> Option<(i64, &str)> {
    let month_text = text.get(..3)?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_text))? as u32
        + 1;
    let rest = text[3..].strip_prefix(' ')?.trim_start_matches(' ');

    let (day, rest) = take_number(rest, 1, 2)?;
    let rest = rest.strip_prefix(' ')?;
    let (year, rest) = match take_number(rest, 4, 4) {
        Some((year, after)) if after.starts_with(' ') => (Some(year as i32), &after[1..]),
        _ => (None, rest),
    };
    let (hour, rest) = take_number(rest, 2, 2)?;
    let (minute, rest) = take_number(rest.strip_prefix(':')?, 2, 2)?;
    let (second, mut rest) = take_number(rest.strip_prefix(':')?, 2, 2)?;
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &fraction[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &fraction[digits..];
    }
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;

    let ticks_in = |year: i32| -> Option<i64> {
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        Some(ticks_of(&NaiveDateTime::new(date, time).and_utc()))
    };
    let ticks = match year {
        Some(year) => ticks_in(year)?,
        None => {
            let received_year =
                chrono::DateTime::from_timestamp(received_ticks.div_euclid(TICKS_PER_SECOND), 0)?
                    .year();
            match ticks_in(received_year) {
                Some(ticks) if ticks <= received_ticks + FUTURE_ALLOWANCE_TICKS => ticks,
                // Ahead of the receive time, or 29 February of a common
                // year: the message is from the year before.
                _ => ticks_in(received_year - 1)?,
            }
        }
    };
    Some((ticks, rest))
}

/// Reads `min..=max` ASCII digits as a number.
fn take_number(text: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let digits = text
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if digits < min {
        return None;
    }
    Some((text[..digits].parse().ok()?, &text[digits..]))
}

/// Splits a hostname off the front when the first word is one.
fn split_hostname(text: &str) -> (Option<&str>, &str) {
    let end = text.find(' ').unwrap_or(text.len());
    let word = &text[..end];
    let is_hostname = !word.is_empty()
        && !word.ends_with(':')
        && !word.starts_with("CEF:")
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if is_hostname {
        (Some(word), text[end..].strip_prefix(' ').unwrap_or(""))
    } else {
        (None, text)
    }
}

/// Splits a `name:` or `name[pid]:` tag off the front. Returns the program
/// name, the pid text and the message.
fn split_tag(text: &str) -> (Option<&str>, Option<&str>, &str) {
    if text.starts_with("CEF:") {
        return (None, None, text);
    }
    let end = text.find(' ').unwrap_or(text.len());
    let Some(tag) = text[..end].strip_suffix(':') else {
        return (None, None, text);
    };
    let message = text[end..].strip_prefix(' ').unwrap_or(&text[end..]);
    let (name, pid) = match tag.split_once('[') {
        Some((name, pid_text)) => match pid_text.strip_suffix(']') {
            Some(pid) if !pid.contains(['[', ']']) => (name, Some(pid)),
            _ => return (None, None, text),
        },
        None => (tag, None),
    };
    if name.is_empty() || name.contains([']', ':']) {
        return (None, None, text);
    }
    (Some(name), pid, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-05T02:40:00Z, the receive time of most tests.
    fn received() -> i64 {
        ticks("2026-12-05T02:40:00Z")
    }

    fn ticks(rfc3339: &str) -> i64 {
        ticks_of(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    #[test]
    fn rfc_3164_example() {
        // RFC 3164 section 5.4, example 1.
        let message = parse(
            34,
            "Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
            received(),
        );
        assert_eq!(message.facility, 4);
        assert_eq!(message.severity, 2);
        assert_eq!(message.timestamp_ticks, Some(ticks("2026-10-11T22:14:15Z")));
        assert_eq!(message.hostname.as_deref(), Some("mymachine"));
        assert_eq!(message.app_name.as_deref(), Some("su"));
        assert_eq!(message.proc_id, None);
        assert_eq!(
            message.message,
            "'su root' failed for lonvick on /dev/pts/8"
        );
    }

    #[test]
    fn space_padded_day_and_pid() {
        let message = parse(
            86,
            "Dec  5 02:39:58 web01 sshd[1234]: Accepted publickey for alice from 192.0.2.7 port 50522 ssh2",
            received(),
        );
        assert_eq!(message.timestamp_ticks, Some(ticks("2026-12-05T02:39:58Z")));
        assert_eq!(message.hostname.as_deref(), Some("web01"));
        assert_eq!(message.app_name.as_deref(), Some("sshd"));
        assert_eq!(message.proc_id.as_deref(), Some("1234"));
        assert!(message.message.starts_with("Accepted publickey"));
    }

    #[test]
    fn december_message_received_in_january() {
        let message = parse(
            13,
            "Dec 31 23:59:59 host app: late",
            ticks("2027-01-01T00:00:05Z"),
        );
        assert_eq!(message.timestamp_ticks, Some(ticks("2026-12-31T23:59:59Z")));
    }

    #[test]
    fn local_message_without_hostname() {
        // What a program's openlog/syslog call writes to /dev/log.
        let message = parse(13, "Dec  5 02:39:58 cron[77]: job done", received());
        assert_eq!(message.hostname, None);
        assert_eq!(message.app_name.as_deref(), Some("cron"));
        assert_eq!(message.proc_id.as_deref(), Some("77"));
        assert_eq!(message.message, "job done");
    }

    #[test]
    fn rsyslog_forward_format_timestamp() {
        let message = parse(
            30,
            "2026-12-05T02:39:58.123456+01:00 db02 postgres[9]: checkpoint complete",
            received(),
        );
        assert_eq!(
            message.timestamp_ticks,
            Some(ticks("2026-12-05T01:39:58.123456Z"))
        );
        assert_eq!(message.hostname.as_deref(), Some("db02"));
        assert_eq!(message.app_name.as_deref(), Some("postgres"));
    }

    #[test]
    fn cisco_year_and_milliseconds() {
        let message = parse(
            187,
            "Mar  1 2026 18:46:11.123 router1 %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
            received(),
        );
        assert_eq!(
            message.timestamp_ticks,
            Some(ticks("2026-03-01T18:46:11.123Z"))
        );
        assert_eq!(message.hostname.as_deref(), Some("router1"));
        assert_eq!(message.app_name.as_deref(), Some("%LINK-3-UPDOWN"));
    }

    #[test]
    fn no_timestamp_is_all_message() {
        let message = parse(13, "hello world", received());
        assert_eq!(message.timestamp_ticks, None);
        assert_eq!(message.hostname, None);
        assert_eq!(message.app_name, None);
        assert_eq!(message.message, "hello world");
    }

    #[test]
    fn cef_after_hostname_is_not_a_tag() {
        let message = parse(
            134,
            "Sep 19 08:26:10 fw01 CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1",
            received(),
        );
        assert_eq!(message.hostname.as_deref(), Some("fw01"));
        assert_eq!(message.app_name, None);
        assert!(message.message.starts_with("CEF:0|Security"));
    }

    #[test]
    fn invalid_dates_are_message_text() {
        let message = parse(13, "Feb 30 10:00:00 host app: x", received());
        assert_eq!(message.timestamp_ticks, None);
        assert_eq!(message.message, "Feb 30 10:00:00 host app: x");
        let message = parse(13, "Oct 11 25:14:15 host app: x", received());
        assert_eq!(message.timestamp_ticks, None);
    }

    #[test]
    fn word_with_colon_inside_is_not_a_tag() {
        let message = parse(13, "Oct 11 22:14:15 host url http://x: y", received());
        assert_eq!(message.app_name, None);
        assert_eq!(message.message, "url http://x: y");
    }
}
