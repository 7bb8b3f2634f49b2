//! The parts of a syslog message, shared by the RFC 5424 and RFC 3164
//! parsers, and the PRI field that starts both formats.

use super::error::ParseError;

/// The wire format a message was parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    /// RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`.
    Rfc5424,
    /// RFC 3164 (BSD) and what senders actually send under that name:
    /// `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`, with any part after
    /// the PRI possibly missing.
    Rfc3164,
}

/// One RFC 5424 structured-data element, `[id name="value" ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    /// Parameters in message order, values unescaped.
    pub params: Vec<(String, String)>,
}

/// A parsed syslog message. Text fields are `None` where the message had
/// no value (RFC 5424's `-`, or a BSD message without that part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage {
    pub format: SyslogFormat,
    /// Facility code, 0 to 23.
    pub facility: u8,
    /// Severity code, 0 (emergency) to 7 (debug).
    pub severity: u8,
    /// The message's own timestamp in 100 ns ticks since the Unix epoch, UTC.
    pub timestamp_ticks: Option<i64>,
    pub hostname: Option<String>,
    /// RFC 5424 APP-NAME, or the program name of a BSD TAG.
    pub app_name: Option<String>,
    /// RFC 5424 PROCID, or the `[pid]` of a BSD TAG.
    pub proc_id: Option<String>,
    pub msg_id: Option<String>,
    /// RFC 5424 structured data as sent, `None` for `-` and BSD messages.
    pub structured_data_text: Option<String>,
    pub structured_data: Vec<SdElement>,
    /// The free-form message, without a leading UTF-8 BOM.
    pub message: String,
}

/// Names of the facility codes 0 to 23, as rsyslog 8 prints them
/// (`syslogfacility-text`) and as Sentinel's `Facility` column shows them.
const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Names of the severity codes 0 to 7 as Sentinel's `SeverityLevel` column
/// shows them.
const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Returns the name of a facility code, `None` above 23.
pub fn facility_name(facility: u8) -> Option<&'static str> {
    FACILITY_NAMES.get(usize::from(facility)).copied()
}

/// Returns the name of a severity code, `None` above 7.
pub fn severity_name(severity: u8) -> Option<&'static str> {
    SEVERITY_NAMES.get(usize::from(severity)).copied()
}

/// The PRI used when a message has none: `user.notice`, which RFC 3164
/// section 4.3.3 has relays assume.
pub const DEFAULT_PRI: u8 = 13;

/// Reads a `<N>` PRI at the start of `text`. Returns the PRI value and the
/// rest of the text, `Ok(None)` when the text does not start with `<`, or
/// an error for a `<` that does not start a valid PRI.
pub fn split_pri(text: &str) -> Result<Option<(u8, &str)>, ParseError> {
    let Some(rest) = text.strip_prefix('<') else {
        return Ok(None);
    };
    let digits_end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    let invalid = || ParseError::InvalidPri {
        text: text.chars().take(8).collect(),
    };
    if digits_end == 0 || digits_end > 3 || rest.as_bytes().get(digits_end) != Some(&b'>') {
        return Err(invalid());
    }
    // RFC 5424 forbids leading zeros except for `<0>`.
    if digits_end > 1 && rest.starts_with('0') {
        return Err(invalid());
    }
    let value: u16 = rest[..digits_end].parse().map_err(|_| invalid())?;
    if value > 191 {
        return Err(invalid());
    }
    Ok(Some((value as u8, &rest[digits_end + 1..])))
}

/// Ticks (100 ns) per second.
pub(crate) const TICKS_PER_SECOND: i64 = 10_000_000;

/// Converts a chrono time to 100 ns ticks since the Unix epoch.
pub(crate) fn ticks_of<Tz: chrono::TimeZone>(time: &chrono::DateTime<Tz>) -> i64 {
    time.timestamp() * TICKS_PER_SECOND + i64::from(time.timestamp_subsec_nanos() / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pri_values() {
        assert_eq!(split_pri("<34>1 x").unwrap(), Some((34, "1 x")));
        assert_eq!(split_pri("<0>x").unwrap(), Some((0, "x")));
        assert_eq!(split_pri("<191>").unwrap(), Some((191, "")));
        assert_eq!(split_pri("no pri").unwrap(), None);
    }

    #[test]
    fn pri_rejects_bad_values() {
        for text in ["<192>x", "<>x", "<1234>x", "<01>x", "<13", "<a>", "<"] {
            assert!(
                matches!(split_pri(text), Err(ParseError::InvalidPri { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn facility_and_severity_names() {
        assert_eq!(facility_name(4), Some("auth"));
        assert_eq!(facility_name(10), Some("authpriv"));
        assert_eq!(facility_name(23), Some("local7"));
        assert_eq!(facility_name(24), None);
        assert_eq!(severity_name(3), Some("err"));
        assert_eq!(severity_name(6), Some("info"));
        assert_eq!(severity_name(8), None);
    }
}
