//! `WindowsEvent` reads the same records as `SecurityEvent` and `Event`,
//! with `EventData` as a dynamic bag.

mod common;

use common::{imported_corpus, query};

#[test]
fn windows_event_counts_every_record() {
    let corpus = imported_corpus();
    let security = query(corpus.data_dir(), "SecurityEvent | count").scalar_u64();
    let event = query(corpus.data_dir(), "Event | count").scalar_u64();
    let windows = query(corpus.data_dir(), "WindowsEvent | count").scalar_u64();
    assert!(security > 0, "the corpus has Security channel records");
    assert!(event > 0, "the corpus has records of other channels");
    assert_eq!(windows, security + event);
}

#[test]
fn windows_event_channels_match() {
    let corpus = imported_corpus();
    let security = query(corpus.data_dir(), "SecurityEvent | count").scalar_u64();
    let windows_security = query(
        corpus.data_dir(),
        r#"WindowsEvent | where Channel == "Security" and Type == "WindowsEvent" | count"#,
    )
    .scalar_u64();
    assert_eq!(windows_security, security);

    let sysmon = query(
        corpus.data_dir(),
        r#"Event | where Source == "Microsoft-Windows-Sysmon" | count"#,
    )
    .scalar_u64();
    let windows_sysmon = query(
        corpus.data_dir(),
        r#"WindowsEvent | where Provider == "Microsoft-Windows-Sysmon" | count"#,
    )
    .scalar_u64();
    assert_eq!(windows_sysmon, sysmon);
}

/// A logon rule written for `WindowsEvent` (`EventData.TargetUserName`)
/// finds the same accounts as one written for `SecurityEvent`.
#[test]
fn windows_event_data_matches_columns() {
    let corpus = imported_corpus();
    let from_columns = query(
        corpus.data_dir(),
        "SecurityEvent | where EventID == 4624 \
         | summarize Logons = count() by TargetUserName, LogonType \
         | order by TargetUserName asc, LogonType asc",
    );
    let from_bag = query(
        corpus.data_dir(),
        "WindowsEvent | where EventID == 4624 and Channel == 'Security' \
         | extend TargetUserName = tostring(EventData.TargetUserName), \
                  LogonType = toint(EventData.LogonType) \
         | summarize Logons = count() by TargetUserName, LogonType \
         | order by TargetUserName asc, LogonType asc",
    );
    assert!(!from_columns.rows.is_empty(), "the corpus has 4624 logons");
    assert_eq!(from_bag.rows, from_columns.rows);
}

#[test]
fn windows_event_level_names() {
    let corpus = imported_corpus();
    let unnamed = query(
        corpus.data_dir(),
        "WindowsEvent | where EventLevel between (0 .. 5) and isempty(EventLevelName) | count",
    )
    .scalar_u64();
    assert_eq!(unnamed, 0, "every level from 0 to 5 has a name");
}
