//! Mapping of Security channel records to `SecurityEvent` rows.
//!
//! System fields fill `Computer`, `EventID`, `Channel`, `Level`, `Task`,
//! `EventSourceName` and `TimeGenerated`. Each `EventData` (or `UserData`)
//! field whose name equals a column fills that column, converted to the
//! column's type (see [`TableBatchBuilder::set_text`]). A few columns are
//! derived the way Sentinel's Windows agents derive them: `Activity`,
//! `Account`, `AccountType`, `SubjectAccount`, `TargetAccount`,
//! `LogonTypeName` and `Process`. Columns that describe the collecting
//! agent or workspace (`SourceSystem`, `ManagementGroupName`, `_ResourceId`,
//! ...) stay empty, since an EVTX file does not contain them.

use std::collections::HashMap;
use std::sync::LazyLock;

use store::builder::Row;
use store::schema::TableDef;
use store::tables::SECURITY_EVENT;

use super::activity::security_activity;
use super::record::EventRecord;

/// Columns that event data never fills, because they come from `System`,
/// are derived, or describe the collecting agent.
pub const RESERVED_COLUMNS: &[&str] = &[
    "Account",
    "AccountType",
    "Activity",
    "AzureDeploymentID",
    "Channel",
    "Computer",
    "EventData",
    "EventID",
    "EventSourceName",
    "Level",
    "LogonTypeName",
    "ManagementGroupName",
    "Process",
    "SourceComputerId",
    "SourceSystem",
    "SubjectAccount",
    "TargetAccount",
    "Task",
    "TimeGenerated",
    "Type",
    "_BilledSize",
    "_IsBillable",
    "_ResourceId",
    "_SubscriptionId",
];

/// Indices of the `SecurityEvent` columns that the mapping sets directly.
struct Columns {
    computer: usize,
    event_id: usize,
    channel: usize,
    level: usize,
    task: usize,
    event_source_name: usize,
    activity: usize,
    event_data: usize,
    type_name: usize,
    account: usize,
    account_type: usize,
    subject_account: usize,
    target_account: usize,
    logon_type_name: usize,
    process: usize,
    /// Columns that an event data field of the same name fills.
    by_field_name: HashMap<&'static str, usize>,
}

fn index(table: &TableDef, name: &str) -> usize {
    table
        .column_index(name)
        .unwrap_or_else(|| panic!("{} has no column {name}", table.name))
}

static COLUMNS: LazyLock<Columns> = LazyLock::new(|| {
    let t = &SECURITY_EVENT;
    let by_field_name = t
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !RESERVED_COLUMNS.contains(&c.name))
        .map(|(i, c)| (c.name, i))
        .collect();
    Columns {
        computer: index(t, "Computer"),
        event_id: index(t, "EventID"),
        channel: index(t, "Channel"),
        level: index(t, "Level"),
        task: index(t, "Task"),
        event_source_name: index(t, "EventSourceName"),
        activity: index(t, "Activity"),
        event_data: index(t, "EventData"),
        type_name: index(t, "Type"),
        account: index(t, "Account"),
        account_type: index(t, "AccountType"),
        subject_account: index(t, "SubjectAccount"),
        target_account: index(t, "TargetAccount"),
        logon_type_name: index(t, "LogonTypeName"),
        process: index(t, "Process"),
        by_field_name,
    }
});

/// Returns the `LogonTypeName` text for a logon type, as Sentinel writes
/// it: `"3 - Network"`, `"10 - RemoteInteractive"`. Unknown types give the
/// bare number.
pub fn logon_type_name(logon_type: i64) -> String {
    let name = match logon_type {
        0 => "System",
        2 => "Interactive",
        3 => "Network",
        4 => "Batch",
        5 => "Service",
        7 => "Unlock",
        8 => "NetworkCleartext",
        9 => "NewCredentials",
        10 => "RemoteInteractive",
        11 => "CachedInteractive",
        12 => "CachedRemoteInteractive",
        13 => "CachedUnlock",
        _ => return logon_type.to_string(),
    };
    format!("{logon_type} - {name}")
}

/// Joins a domain and a user name as `DOMAIN\user`. Without a domain field
/// the result is the user name alone. Returns `None` without a user name field.
fn qualified_account(domain: Option<&str>, user: Option<&str>) -> Option<String> {
    let user = user?;
    Some(match domain {
        Some(domain) => format!("{domain}\\{user}"),
        None => user.to_string(),
    })
}

/// True when a user name field names an account: not empty and not `-`.
fn names_account(user: Option<&str>) -> bool {
    matches!(user, Some(u) if !u.is_empty() && u != "-")
}

/// Returns the file name part of a Windows path (`cmd.exe` for
/// `C:\Windows\System32\cmd.exe`).
fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// Fills a `SecurityEvent` row from `record`, whose `TimeGenerated` is
/// `ticks` (100 ns since the Unix epoch).
pub fn append_security_event(row: &mut Row, record: &EventRecord, ticks: i64) {
    let columns = &*COLUMNS;
    row.set_time_generated(ticks);
    row.set_string(columns.computer, &record.computer);
    row.set_text(columns.event_id, &record.event_id);
    row.set_string(columns.channel, record.channel.as_deref().unwrap_or(""));
    // NOTE: `Level` is the System/Level text ("0" for most audit events).
    // Whether Sentinel's agents store another value here is unverified.
    row.set_string(columns.level, &record.level);
    row.set_text(columns.task, &record.task);
    let source = record
        .event_source_name
        .as_deref()
        .unwrap_or(&record.provider_name);
    row.set_string(columns.event_source_name, source);
    if let Some(id) =
        store::builder::parse_int_text(&record.event_id).and_then(|id| i32::try_from(id).ok())
    {
        row.set_string(columns.activity, &security_activity(id));
    }
    row.set_string(columns.event_data, &record.data_xml);
    row.set_string(columns.type_name, SECURITY_EVENT.name);

    let mut subject_user = None;
    let mut subject_domain = None;
    let mut target_user = None;
    let mut target_domain = None;
    let mut new_process_name = None;
    let mut process_name = None;
    let mut logon_type = None;
    for pair in &record.data {
        let Some(name) = pair.name.as_deref() else {
            continue;
        };
        let value = pair.value.as_str();
        match name {
            "SubjectUserName" => subject_user = Some(value),
            "SubjectDomainName" => subject_domain = Some(value),
            "TargetUserName" => target_user = Some(value),
            "TargetDomainName" => target_domain = Some(value),
            "NewProcessName" => new_process_name = Some(value),
            "ProcessName" => process_name = Some(value),
            "LogonType" => logon_type = store::builder::parse_int_text(value),
            _ => {}
        }
        if let Some(&col) = columns.by_field_name.get(name) {
            row.set_text(col, value);
        }
    }

    let subject_account = qualified_account(subject_domain, subject_user);
    let target_account = qualified_account(target_domain, target_user);
    if let Some(account) = &subject_account {
        row.set_string(columns.subject_account, account);
    }
    if let Some(account) = &target_account {
        row.set_string(columns.target_account, account);
    }

    // NOTE: `Account` is the target account when the event names one, else
    // the subject account. This rule is inferred from how Sentinel queries
    // use the column and is not checked against agent output for each event.
    let (account, account_user) = if names_account(target_user) {
        (target_account, target_user)
    } else {
        (subject_account, subject_user)
    };
    if let (Some(account), Some(user)) = (account, account_user) {
        row.set_string(columns.account, &account);
        let account_type = if user.ends_with('$') {
            "Machine"
        } else {
            "User"
        };
        row.set_string(columns.account_type, account_type);
    }

    if let Some(logon_type) = logon_type {
        row.set_string(columns.logon_type_name, &logon_type_name(logon_type));
    }

    let process_path = [new_process_name, process_name]
        .into_iter()
        .flatten()
        .find(|p| !p.is_empty() && *p != "-");
    if let Some(path) = process_path {
        row.set_string(columns.process, file_name(path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logon_type_names() {
        assert_eq!(logon_type_name(3), "3 - Network");
        assert_eq!(logon_type_name(10), "10 - RemoteInteractive");
        assert_eq!(logon_type_name(42), "42");
    }

    #[test]
    fn account_helpers() {
        assert_eq!(
            qualified_account(Some("EXAMPLE"), Some("admin01")).as_deref(),
            Some("EXAMPLE\\admin01")
        );
        assert_eq!(
            qualified_account(Some(""), Some("Administrator")).as_deref(),
            Some("\\Administrator")
        );
        assert_eq!(qualified_account(None, Some("x")).as_deref(), Some("x"));
        assert_eq!(qualified_account(Some("D"), None), None);
        assert!(!names_account(Some("-")));
        assert!(!names_account(Some("")));
        assert!(names_account(Some("PC01$")));
        assert_eq!(file_name("C:\\Windows\\System32\\cmd.exe"), "cmd.exe");
        assert_eq!(file_name("cmd.exe"), "cmd.exe");
    }

    #[test]
    fn reserved_columns_exist() {
        for name in RESERVED_COLUMNS {
            assert!(
                SECURITY_EVENT.column_index(name).is_some(),
                "{name} is not a SecurityEvent column"
            );
        }
    }
}
