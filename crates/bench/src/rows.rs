//! Synthetic `SecurityEvent` rows for `homesoc-bench generate`.
//!
//! The rows imitate the Security log of a small Windows domain (CONTOSO,
//! 4 domain controllers, 24 servers, 300 workstations, 2,000 users):
//!
//! | EventID | share | content |
//! |---|---|---|
//! | 4624 | 35% | logons, `LogonType` 3 (60%), 5 (15%), 2 (12%), 7, 10 (5% each), 4 (3%) |
//! | 4634 | 25% | logoffs with the same logon mix |
//! | 4625 | 15% | failed logons, 70% from five noisy public IPs that try many user names |
//! | 4688 | 20% | process creations from a list of common command lines |
//! | 4672, 4776, 4648, 4740, 4732, 4720 | 10% | privileges, NTLM validation, explicit credentials, lockouts, group and user changes |
//!
//! Hosts, accounts and addresses come from fixed pools, and every choice is
//! drawn from a `StdRng` seeded with `--seed`, so a seed and a row count
//! always give the same KQL columns. Only the hidden import id and ingest
//! time columns differ between runs. Timestamps rise from `--start` over
//! `--days` days, as a log stream would deliver them, so each import covers
//! a few consecutive day partitions. `EventData` stays empty, so the tables
//! are smaller on disk than imported EVTX data with the same row count.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ingest::evtx::{logon_type_name, security_activity};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use store::builder::TableBatchBuilder;
use store::tables::SECURITY_EVENT;

const DOMAIN: &str = "CONTOSO";
const DNS_SUFFIX: &str = "contoso.local";
const DOMAIN_SID: &str = "S-1-5-21-3623811015-3361044348-30300820";

/// Row counts for checking query results.
#[derive(Debug, Default)]
pub struct Counts {
    pub by_event_id: BTreeMap<i32, u64>,
    /// Rows with EventID 4625 from the noisiest source address.
    pub failures_from_top_ip: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostKind {
    DomainController,
    Server,
    Workstation,
}

struct Host {
    kind: HostKind,
    /// `Computer` value: the DNS name.
    fqdn: String,
    /// NetBIOS name.
    name: String,
    /// Machine account, `NAME$`.
    machine_account: String,
    ip: String,
}

/// A domain or built-in account.
struct Account {
    domain: &'static str,
    user: String,
    sid: String,
}

impl Account {
    fn new(domain: &'static str, user: &str, sid: String) -> Account {
        Account {
            domain,
            user: user.to_string(),
            sid,
        }
    }
}

/// Source addresses of password spraying, with their weights.
pub const NOISY_IPS: [(&str, u32); 5] = [
    ("203.0.113.66", 40),
    ("198.51.100.23", 25),
    ("192.0.2.145", 15),
    ("203.0.113.201", 12),
    ("198.51.100.77", 8),
];

/// Servers that accept logons from the internet, so failures from the noisy
/// addresses land on them.
const EXPOSED_SERVERS: [&str; 4] = ["RDS01", "RDS02", "VPN01", "EXCH01"];

const SERVER_NAMES: [&str; 24] = [
    "FS01", "FS02", "SQL01", "SQL02", "WEB01", "WEB02", "APP01", "APP02", "APP03", "APP04",
    "EXCH01", "EXCH02", "RDS01", "RDS02", "VPN01", "PRINT01", "SCCM01", "WSUS01", "BACKUP01",
    "CA01", "JUMP01", "MON01", "HV01", "HV02",
];

const FIRST_NAMES: [&str; 50] = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "daniel",
    "nancy",
    "matthew",
    "lisa",
    "anthony",
    "betty",
    "mark",
    "sandra",
    "donald",
    "ashley",
    "steven",
    "kimberly",
    "paul",
    "emily",
    "andrew",
    "donna",
    "joshua",
    "michelle",
    "kenneth",
    "carol",
    "kevin",
    "amanda",
    "brian",
    "melissa",
    "george",
    "deborah",
    "timothy",
    "stephanie",
    "ronald",
    "rebecca",
];

const LAST_NAMES: [&str; 40] = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "torres",
    "nguyen",
    "hill",
    "flores",
];

/// User names that password spraying tries, with their weights. Numbered
/// `user<n>` names are added by the generator.
const SPRAY_NAMES: [(&str, u32); 12] = [
    ("administrator", 30),
    ("admin", 20),
    ("test", 8),
    ("user", 8),
    ("guest", 5),
    ("backup", 4),
    ("scanner", 3),
    ("sql", 3),
    ("support", 3),
    ("ftp", 2),
    ("demo", 2),
    ("webadmin", 2),
];

const SERVICE_ACCOUNTS: [&str; 5] = [
    "svc_sql",
    "svc_backup",
    "svc_web",
    "svc_sccm",
    "svc_monitor",
];

/// Number of users at the start of the user pool who are administrators.
const ADMIN_COUNT: usize = 20;

/// `LogonType` values of logons and logoffs, with their weights.
const LOGON_TYPES: [(i32, u32); 6] = [(3, 60), (5, 15), (2, 12), (7, 5), (10, 5), (4, 3)];

/// EventIDs with their weights per 10,000 rows.
const EVENT_MIX: [(i32, u32); 10] = [
    (4624, 3500),
    (4634, 2500),
    (4688, 2000),
    (4625, 1500),
    (4672, 250),
    (4776, 110),
    (4648, 90),
    (4740, 20),
    (4732, 15),
    (4720, 15),
];

/// `Task` (the audit subcategory) of each EventID.
fn event_task(event_id: i32) -> i32 {
    match event_id {
        4624 | 4625 | 4648 => 12544,
        4634 => 12545,
        4672 => 12548,
        4688 => 13312,
        4720 | 4740 => 13824,
        4732 => 13826,
        4776 => 14336,
        _ => unreachable!("EventID {event_id} is not in EVENT_MIX"),
    }
}

/// A process creation template: image, parent image, command line (with
/// `{user}` and `{n}` placeholders), whether it runs as SYSTEM, and weight.
type ProcessTemplate = (&'static str, &'static str, &'static str, bool, u32);

const EXPLORER: &str = r"C:\Windows\explorer.exe";
const SERVICES: &str = r"C:\Windows\System32\services.exe";
const SVCHOST: &str = r"C:\Windows\System32\svchost.exe";
const CMD: &str = r"C:\Windows\System32\cmd.exe";
const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";

const PROCESSES: [ProcessTemplate; 21] = [
    (
        SVCHOST,
        SERVICES,
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
        true,
        12,
    ),
    (
        SVCHOST,
        SERVICES,
        r"C:\Windows\system32\svchost.exe -k LocalServiceNetworkRestricted -p -s EventLog",
        true,
        6,
    ),
    (
        r"C:\Windows\System32\conhost.exe",
        CMD,
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
        false,
        10,
    ),
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        EXPLORER,
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --renderer-client-id={n} --field-trial-handle=1912,i,{n}"#,
        false,
        18,
    ),
    (
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        EXPLORER,
        r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --field-trial-handle={n}"#,
        false,
        8,
    ),
    (
        r"C:\Windows\System32\taskhostw.exe",
        SVCHOST,
        "taskhostw.exe KEYROAMING",
        false,
        4,
    ),
    (
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        SVCHOST,
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
        true,
        5,
    ),
    (
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MpCmdRun.exe",
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MsMpEng.exe",
        r#""C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges"#,
        true,
        3,
    ),
    (
        POWERSHELL,
        SVCHOST,
        r"powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\Scripts\Collect-Inventory.ps1",
        true,
        3,
    ),
    (
        POWERSHELL,
        EXPLORER,
        r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe""#,
        false,
        2,
    ),
    (CMD, EXPLORER, r#""C:\Windows\system32\cmd.exe""#, false, 3),
    (
        r"C:\Program Files\Git\cmd\git.exe",
        r"C:\Users\{user}\AppData\Local\Programs\Microsoft VS Code\Code.exe",
        "git.exe fetch --all --prune",
        false,
        3,
    ),
    (
        r"C:\Users\{user}\AppData\Local\Microsoft\Teams\current\Teams.exe",
        EXPLORER,
        r#""C:\Users\{user}\AppData\Local\Microsoft\Teams\current\Teams.exe" --type=gpu-process --field-trial-handle={n}"#,
        false,
        5,
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        EXPLORER,
        r#""C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE""#,
        false,
        2,
    ),
    (
        r"C:\Windows\System32\backgroundTaskHost.exe",
        SVCHOST,
        r#""C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider"#,
        false,
        4,
    ),
    (
        r"C:\Windows\System32\RuntimeBroker.exe",
        SVCHOST,
        r"C:\Windows\System32\RuntimeBroker.exe -Embedding",
        false,
        4,
    ),
    (
        r"C:\Windows\System32\gpupdate.exe",
        SVCHOST,
        "gpupdate.exe /target:computer",
        true,
        1,
    ),
    (
        r"C:\Windows\System32\whoami.exe",
        CMD,
        "whoami /all",
        false,
        1,
    ),
    (
        r"C:\Windows\System32\net.exe",
        CMD,
        r#"net group "Domain Admins" /domain"#,
        false,
        1,
    ),
    (
        r"C:\Windows\System32\rundll32.exe",
        EXPLORER,
        r"rundll32.exe C:\Windows\System32\shell32.dll,Control_RunDLL",
        false,
        1,
    ),
    (
        r"C:\Windows\System32\sc.exe",
        CMD,
        "sc.exe query state= all",
        true,
        1,
    ),
];

const ADMIN_PRIVILEGES: &str = "SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\tSeRestorePrivilege\r\n\t\t\tSeTakeOwnershipPrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\tSeSystemEnvironmentPrivilege\r\n\t\t\tSeLoadDriverPrivilege\r\n\t\t\tSeImpersonatePrivilege\r\n\t\t\tSeDelegateSessionUserImpersonatePrivilege";
const SYSTEM_PRIVILEGES: &str = "SeAssignPrimaryTokenPrivilege\r\n\t\t\tSeTcbPrivilege\r\n\t\t\tSeSecurityPrivilege\r\n\t\t\tSeTakeOwnershipPrivilege\r\n\t\t\tSeLoadDriverPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\tSeRestorePrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\tSeAuditPrivilege\r\n\t\t\tSeSystemEnvironmentPrivilege\r\n\t\t\tSeImpersonatePrivilege\r\n\t\t\tSeDelegateSessionUserImpersonatePrivilege";

/// Returns the index of an item drawn with the given weights.
fn pick_weighted<T>(rng: &mut StdRng, items: &[(T, u32)]) -> usize {
    let total: u32 = items.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.random_range(0..total);
    for (index, (_, weight)) in items.iter().enumerate() {
        if roll < *weight {
            return index;
        }
        roll -= weight;
    }
    items.len() - 1
}

fn pick(rng: &mut StdRng, pool: &[usize]) -> usize {
    *pool.choose(rng).expect("host pools are not empty")
}

/// Returns the file name part of a Windows path.
fn file_name(path: &str) -> &str {
    path.rsplit('\\').next().unwrap_or(path)
}

/// Indices of the `SecurityEvent` columns the generator fills.
struct Columns {
    account: usize,
    account_type: usize,
    activity: usize,
    authentication_package_name: usize,
    channel: usize,
    command_line: usize,
    computer: usize,
    elevated_token: usize,
    event_id: usize,
    event_source_name: usize,
    failure_reason: usize,
    ip_address: usize,
    ip_port: usize,
    level: usize,
    logon_process_name: usize,
    logon_type: usize,
    logon_type_name: usize,
    mandatory_label: usize,
    member_name: usize,
    member_sid: usize,
    new_process_id: usize,
    new_process_name: usize,
    package_name: usize,
    parent_process_name: usize,
    privilege_list: usize,
    process: usize,
    process_id: usize,
    process_name: usize,
    sam_account_name: usize,
    status: usize,
    sub_status: usize,
    subject_account: usize,
    subject_domain_name: usize,
    subject_logon_id: usize,
    subject_user_name: usize,
    subject_user_sid: usize,
    target_account: usize,
    target_domain_name: usize,
    target_logon_id: usize,
    target_server_name: usize,
    target_sid: usize,
    target_user_name: usize,
    target_user_sid: usize,
    task: usize,
    token_elevation_type: usize,
    type_name: usize,
    user_principal_name: usize,
    workstation: usize,
    workstation_name: usize,
}

impl Columns {
    fn new() -> Columns {
        let index = |name: &str| {
            SECURITY_EVENT
                .column_index(name)
                .unwrap_or_else(|| panic!("SecurityEvent has no column {name}"))
        };
        Columns {
            account: index("Account"),
            account_type: index("AccountType"),
            activity: index("Activity"),
            authentication_package_name: index("AuthenticationPackageName"),
            channel: index("Channel"),
            command_line: index("CommandLine"),
            computer: index("Computer"),
            elevated_token: index("ElevatedToken"),
            event_id: index("EventID"),
            event_source_name: index("EventSourceName"),
            failure_reason: index("FailureReason"),
            ip_address: index("IpAddress"),
            ip_port: index("IpPort"),
            level: index("Level"),
            logon_process_name: index("LogonProcessName"),
            logon_type: index("LogonType"),
            logon_type_name: index("LogonTypeName"),
            mandatory_label: index("MandatoryLabel"),
            member_name: index("MemberName"),
            member_sid: index("MemberSid"),
            new_process_id: index("NewProcessId"),
            new_process_name: index("NewProcessName"),
            package_name: index("PackageName"),
            parent_process_name: index("ParentProcessName"),
            privilege_list: index("PrivilegeList"),
            process: index("Process"),
            process_id: index("ProcessId"),
            process_name: index("ProcessName"),
            sam_account_name: index("SamAccountName"),
            status: index("Status"),
            sub_status: index("SubStatus"),
            subject_account: index("SubjectAccount"),
            subject_domain_name: index("SubjectDomainName"),
            subject_logon_id: index("SubjectLogonId"),
            subject_user_name: index("SubjectUserName"),
            subject_user_sid: index("SubjectUserSid"),
            target_account: index("TargetAccount"),
            target_domain_name: index("TargetDomainName"),
            target_logon_id: index("TargetLogonId"),
            target_server_name: index("TargetServerName"),
            target_sid: index("TargetSid"),
            target_user_name: index("TargetUserName"),
            target_user_sid: index("TargetUserSid"),
            task: index("Task"),
            token_elevation_type: index("TokenElevationType"),
            type_name: index("Type"),
            user_principal_name: index("UserPrincipalName"),
            workstation: index("Workstation"),
            workstation_name: index("WorkstationName"),
        }
    }
}

/// Reference to an account in one of the pools. It is `Copy`, so it can be
/// passed around while the generator is borrowed mutably.
#[derive(Clone, Copy)]
enum AccountRef {
    User(usize),
    Service(usize),
    BuiltIn(usize),
    Machine(usize),
}

/// The parts of a logon that 4624 and 4634 share.
struct Logon {
    logon_type: i32,
    host: usize,
    target: AccountRef,
    /// Host the logon came from, for network and remote logons.
    source: Option<usize>,
}

pub struct Generator {
    rng: StdRng,
    columns: Columns,
    hosts: Vec<Host>,
    domain_controllers: Vec<usize>,
    servers: Vec<usize>,
    workstations: Vec<usize>,
    exposed_servers: Vec<usize>,
    users: Vec<Account>,
    service_accounts: Vec<Account>,
    built_in: Vec<Account>,
    /// Weighted user names for password spraying: `SPRAY_NAMES` plus
    /// `user1`..`user400` with weight 1 each.
    spray_names: Vec<(String, u32)>,
    start_ticks: i64,
    span_ticks: u64,
    total_rows: u64,
    /// `Activity` text of each EventID in `EVENT_MIX`.
    activities: BTreeMap<i32, String>,
    /// Reusable text buffer for formatted values.
    text: String,
    pub counts: Counts,
}

impl Generator {
    pub fn new(seed: u64, start_ticks: i64, span_ticks: u64, total_rows: u64) -> Generator {
        let mut hosts = Vec::new();
        let mut add_host = |kind: HostKind, name: String, ip: String| {
            hosts.push(Host {
                kind,
                fqdn: format!("{name}.{DNS_SUFFIX}"),
                machine_account: format!("{name}$"),
                name,
                ip,
            });
        };
        for i in 0..4 {
            add_host(
                HostKind::DomainController,
                format!("DC{:02}", i + 1),
                format!("10.0.0.{}", 10 + i),
            );
        }
        for (i, name) in SERVER_NAMES.iter().enumerate() {
            add_host(
                HostKind::Server,
                name.to_string(),
                format!("10.0.1.{}", 10 + i),
            );
        }
        for i in 0..300 {
            add_host(
                HostKind::Workstation,
                format!("WS{:04}", i + 1),
                format!("10.0.{}.{}", 16 + i / 250, i % 250 + 2),
            );
        }
        let of_kind = |kind: HostKind| -> Vec<usize> {
            (0..hosts.len())
                .filter(|&i| hosts[i].kind == kind)
                .collect()
        };
        let domain_controllers = of_kind(HostKind::DomainController);
        let servers = of_kind(HostKind::Server);
        let workstations = of_kind(HostKind::Workstation);
        let exposed_servers = (0..hosts.len())
            .filter(|&i| EXPOSED_SERVERS.contains(&hosts[i].name.as_str()))
            .collect();

        let mut users = Vec::with_capacity(FIRST_NAMES.len() * LAST_NAMES.len());
        for last in LAST_NAMES {
            for first in FIRST_NAMES {
                let rid = 1105 + users.len();
                users.push(Account::new(
                    DOMAIN,
                    &format!("{first}.{last}"),
                    format!("{DOMAIN_SID}-{rid}"),
                ));
            }
        }
        let service_accounts = SERVICE_ACCOUNTS
            .iter()
            .enumerate()
            .map(|(i, name)| Account::new(DOMAIN, name, format!("{DOMAIN_SID}-{}", 1001 + i)))
            .collect();
        let built_in = vec![
            Account::new("NT AUTHORITY", "SYSTEM", "S-1-5-18".to_string()),
            Account::new("NT AUTHORITY", "LOCAL SERVICE", "S-1-5-19".to_string()),
            Account::new("NT AUTHORITY", "NETWORK SERVICE", "S-1-5-20".to_string()),
        ];
        let mut spray_names: Vec<(String, u32)> = SPRAY_NAMES
            .iter()
            .map(|(name, weight)| (name.to_string(), *weight))
            .collect();
        spray_names.extend((1..=400).map(|n| (format!("user{n}"), 1)));

        Generator {
            rng: StdRng::seed_from_u64(seed),
            columns: Columns::new(),
            hosts,
            domain_controllers,
            servers,
            workstations,
            exposed_servers,
            users,
            service_accounts,
            built_in,
            spray_names,
            start_ticks,
            span_ticks,
            total_rows,
            activities: EVENT_MIX
                .iter()
                .map(|&(event_id, _)| (event_id, security_activity(event_id)))
                .collect(),
            text: String::with_capacity(256),
            counts: Counts::default(),
        }
    }

    /// Returns the `TimeGenerated` of row `index`: evenly spread over the
    /// span with random jitter within one row's share of it.
    fn row_ticks(&mut self, index: u64) -> i64 {
        let step = (self.span_ticks / self.total_rows).max(1);
        let offset = u128::from(index) * u128::from(self.span_ticks) / u128::from(self.total_rows);
        let offset = offset as u64 + self.rng.random_range(0..step);
        self.start_ticks + offset as i64
    }

    /// Returns the user who owns a workstation: workstation `i` belongs to user `i`.
    fn owner(&self, host: usize) -> usize {
        (host - self.workstations[0]) % self.users.len()
    }

    fn account(&self, account: AccountRef) -> (&str, &str, &str) {
        match account {
            AccountRef::User(i) => {
                let a = &self.users[i];
                (a.domain, &a.user, &a.sid)
            }
            AccountRef::Service(i) => {
                let a = &self.service_accounts[i];
                (a.domain, &a.user, &a.sid)
            }
            AccountRef::BuiltIn(i) => {
                let a = &self.built_in[i];
                (a.domain, &a.user, &a.sid)
            }
            AccountRef::Machine(i) => {
                let h = &self.hosts[i];
                (DOMAIN, &h.machine_account, "")
            }
        }
    }

    pub fn append_row(&mut self, builder: &mut TableBatchBuilder, index: u64) {
        let ticks = self.row_ticks(index);
        let event_id = EVENT_MIX[pick_weighted(&mut self.rng, &EVENT_MIX)].0;
        *self.counts.by_event_id.entry(event_id).or_default() += 1;

        let activity = &self.activities[&event_id];
        let c = &self.columns;
        builder.set_time_generated(ticks);
        builder.set_int(c.event_id, event_id);
        builder.set_int(c.task, event_task(event_id));
        builder.set_string(c.activity, activity);
        builder.set_string(c.channel, "Security");
        builder.set_string(c.event_source_name, "Microsoft-Windows-Security-Auditing");
        builder.set_string(c.level, "0");
        builder.set_string(c.type_name, SECURITY_EVENT.name);

        match event_id {
            4624 => self.logon(builder, true),
            4634 => self.logon(builder, false),
            4625 => self.failed_logon(builder),
            4688 => self.process_creation(builder),
            4672 => self.special_privileges(builder),
            4776 => self.credential_validation(builder),
            4648 => self.explicit_credentials(builder),
            4740 => self.lockout(builder),
            4732 => self.group_member_added(builder),
            4720 => self.user_created(builder),
            _ => unreachable!("EventID {event_id} is not in EVENT_MIX"),
        }
        builder.finish_row().expect("every row sets TimeGenerated");
    }

    fn random_logon(&mut self) -> Logon {
        let logon_type = LOGON_TYPES[pick_weighted(&mut self.rng, &LOGON_TYPES)].0;
        match logon_type {
            3 => {
                let roll = self.rng.random_range(0..100);
                let host = if roll < 50 {
                    pick(&mut self.rng, &self.domain_controllers)
                } else if roll < 80 {
                    pick(&mut self.rng, &self.servers)
                } else {
                    pick(&mut self.rng, &self.workstations)
                };
                let source = pick(&mut self.rng, &self.workstations);
                let target = if self.rng.random_bool(0.3) {
                    AccountRef::Machine(source)
                } else {
                    AccountRef::User(self.owner(source))
                };
                Logon {
                    logon_type,
                    host,
                    target,
                    source: Some(source),
                }
            }
            2 | 7 => {
                let host = pick(&mut self.rng, &self.workstations);
                Logon {
                    logon_type,
                    host,
                    target: AccountRef::User(self.owner(host)),
                    source: None,
                }
            }
            10 => {
                let host = pick(&mut self.rng, &self.servers);
                let source = pick(&mut self.rng, &self.workstations);
                let admin = self.rng.random_range(0..ADMIN_COUNT);
                Logon {
                    logon_type,
                    host,
                    target: AccountRef::User(admin),
                    source: Some(source),
                }
            }
            5 => {
                let host = self.rng.random_range(0..self.hosts.len());
                let target = if self.rng.random_bool(0.8) {
                    AccountRef::BuiltIn(self.rng.random_range(0..self.built_in.len()))
                } else {
                    AccountRef::Service(self.rng.random_range(0..self.service_accounts.len()))
                };
                Logon {
                    logon_type,
                    host,
                    target,
                    source: None,
                }
            }
            _ => {
                let host = pick(&mut self.rng, &self.servers);
                let target =
                    AccountRef::Service(self.rng.random_range(0..self.service_accounts.len()));
                Logon {
                    logon_type,
                    host,
                    target,
                    source: None,
                }
            }
        }
    }

    /// Sets `Account` and `AccountType` the way the EVTX import does: the
    /// target account when the event names one, else the subject.
    fn set_account(builder: &mut TableBatchBuilder, columns: &Columns, domain: &str, user: &str) {
        builder.set_string(columns.account, &format!("{domain}\\{user}"));
        let account_type = if user.ends_with('$') {
            "Machine"
        } else {
            "User"
        };
        builder.set_string(columns.account_type, account_type);
    }

    fn set_target(&self, builder: &mut TableBatchBuilder, account: AccountRef) {
        let c = &self.columns;
        let (domain, user, sid) = self.account(account);
        builder.set_string(c.target_user_name, user);
        builder.set_string(c.target_domain_name, domain);
        if !sid.is_empty() {
            builder.set_string(c.target_user_sid, sid);
        }
        let qualified = format!("{domain}\\{user}");
        builder.set_string(c.target_account, &qualified);
        Self::set_account(builder, c, domain, user);
    }

    fn set_subject(&self, builder: &mut TableBatchBuilder, account: AccountRef, logon_id: &str) {
        let c = &self.columns;
        let (domain, user, sid) = self.account(account);
        builder.set_string(c.subject_user_name, user);
        builder.set_string(c.subject_domain_name, domain);
        builder.set_string(
            c.subject_user_sid,
            if sid.is_empty() { "S-1-5-18" } else { sid },
        );
        builder.set_string(c.subject_account, &format!("{domain}\\{user}"));
        builder.set_string(c.subject_logon_id, logon_id);
    }

    fn random_logon_id(&mut self) -> String {
        format!("0x{:x}", self.rng.random_range(0x10000u32..0x7fff_ffff))
    }

    /// Fills a 4624 logon when `successful` is true, else a 4634 logoff.
    fn logon(&mut self, builder: &mut TableBatchBuilder, successful: bool) {
        let logon = self.random_logon();
        let logon_id = self.random_logon_id();
        let c = &self.columns;
        let host = &self.hosts[logon.host];
        builder.set_string(c.computer, &host.fqdn);
        builder.set_int(c.logon_type, logon.logon_type);
        builder.set_string(
            c.logon_type_name,
            &logon_type_name(i64::from(logon.logon_type)),
        );
        builder.set_string(c.target_logon_id, &logon_id);
        self.set_target(builder, logon.target);
        if !successful {
            return;
        }

        let c = &self.columns;
        if logon.logon_type == 3 {
            self.set_subject_null(builder);
        } else {
            self.set_subject(builder, AccountRef::Machine(logon.host), "0x3e7");
        }
        let kerberos = logon.logon_type == 3 && self.rng.random_bool(0.8);
        let (process, package, process_name) = match logon.logon_type {
            3 if kerberos => ("Kerberos", "Kerberos", "-"),
            3 => ("NtLmSsp ", "NTLM", "-"),
            2 | 7 | 10 => ("User32 ", "Negotiate", SVCHOST),
            5 => ("Advapi  ", "Negotiate", SERVICES),
            _ => ("Advapi  ", "Negotiate", SVCHOST),
        };
        builder.set_string(c.logon_process_name, process);
        builder.set_string(c.authentication_package_name, package);
        builder.set_string(c.process_name, process_name);
        if process_name != "-" {
            builder.set_string(c.process, file_name(process_name));
        }
        let elevated = matches!(
            logon.target,
            AccountRef::BuiltIn(_) | AccountRef::Machine(_)
        ) || matches!(logon.target, AccountRef::User(i) if i < ADMIN_COUNT);
        builder.set_string(c.elevated_token, if elevated { "%%1842" } else { "%%1843" });
        match logon.source {
            Some(source) => {
                let port = self.rng.random_range(49152..65535u32);
                let source_host = &self.hosts[source];
                builder.set_string(c.ip_address, &source_host.ip);
                self.text.clear();
                let _ = write!(self.text, "{port}");
                builder.set_string(c.ip_port, &self.text);
                builder.set_string(
                    c.workstation_name,
                    if kerberos { "-" } else { &source_host.name },
                );
            }
            None if matches!(logon.logon_type, 2 | 7) => {
                builder.set_string(c.ip_address, "127.0.0.1");
                builder.set_string(c.ip_port, "0");
                builder.set_string(c.workstation_name, &self.hosts[logon.host].name);
            }
            None => {
                builder.set_string(c.ip_address, "-");
                builder.set_string(c.ip_port, "-");
                builder.set_string(c.workstation_name, "-");
            }
        }
    }

    /// Sets the subject of a network logon, which Windows leaves empty.
    fn set_subject_null(&self, builder: &mut TableBatchBuilder) {
        let c = &self.columns;
        builder.set_string(c.subject_user_sid, "S-1-0-0");
        builder.set_string(c.subject_user_name, "-");
        builder.set_string(c.subject_domain_name, "-");
        builder.set_string(c.subject_logon_id, "0x0");
    }

    fn failed_logon(&mut self, builder: &mut TableBatchBuilder) {
        let from_noisy_ip = self.rng.random_bool(0.7);
        let (host, ip, user, known_user, logon_type, workstation) = if from_noisy_ip {
            let host = pick(&mut self.rng, &self.exposed_servers);
            let ip_index = pick_weighted(&mut self.rng, &NOISY_IPS);
            if ip_index == 0 {
                self.counts.failures_from_top_ip += 1;
            }
            let (user, known_user) = if self.rng.random_bool(0.6) {
                let i = self.rng.random_range(0..self.users.len());
                (self.users[i].user.clone(), true)
            } else {
                let i = pick_weighted(&mut self.rng, &self.spray_names);
                (self.spray_names[i].0.clone(), false)
            };
            let logon_type = if self.rng.random_bool(0.8) { 3 } else { 10 };
            let workstation = ["-", "kali", "WIN-8G3K2J7QH1M", "DESKTOP-U2QF9RL"][ip_index % 4];
            (
                host,
                NOISY_IPS[ip_index].0.to_string(),
                user,
                known_user,
                logon_type,
                workstation.to_string(),
            )
        } else {
            let source = pick(&mut self.rng, &self.workstations);
            let on_workstation = self.rng.random_bool(0.4);
            let host = if on_workstation {
                source
            } else {
                pick(&mut self.rng, &self.domain_controllers)
            };
            let user = self.users[self.owner(source)].user.clone();
            let logon_type = if on_workstation { 2 } else { 3 };
            let ip = if on_workstation {
                "127.0.0.1".to_string()
            } else {
                self.hosts[source].ip.clone()
            };
            (
                host,
                ip,
                user,
                true,
                logon_type,
                self.hosts[source].name.clone(),
            )
        };

        let c = &self.columns;
        builder.set_string(c.computer, &self.hosts[host].fqdn);
        self.set_subject_null(builder);
        builder.set_string(c.target_user_name, &user);
        builder.set_string(c.target_domain_name, DOMAIN);
        builder.set_string(c.target_user_sid, "S-1-0-0");
        builder.set_string(c.target_account, &format!("{DOMAIN}\\{user}"));
        Self::set_account(builder, c, DOMAIN, &user);
        builder.set_string(c.status, "0xc000006d");
        builder.set_string(
            c.sub_status,
            if known_user {
                "0xc000006a"
            } else {
                "0xc0000064"
            },
        );
        builder.set_string(c.failure_reason, "%%2313");
        builder.set_int(c.logon_type, logon_type);
        builder.set_string(c.logon_type_name, &logon_type_name(i64::from(logon_type)));
        builder.set_string(c.logon_process_name, "NtLmSsp ");
        builder.set_string(c.authentication_package_name, "NTLM");
        builder.set_string(c.workstation_name, &workstation);
        builder.set_string(c.ip_address, &ip);
        let port = self.rng.random_range(1024..65535u32);
        builder.set_string(c.ip_port, &port.to_string());
    }

    fn process_creation(&mut self, builder: &mut TableBatchBuilder) {
        let roll = self.rng.random_range(0..100);
        let host = if roll < 60 {
            pick(&mut self.rng, &self.workstations)
        } else if roll < 90 {
            pick(&mut self.rng, &self.servers)
        } else {
            pick(&mut self.rng, &self.domain_controllers)
        };
        let (image, parent, command_line, as_system, _) =
            PROCESSES[pick_weighted_process(&mut self.rng)];
        let subject = if as_system {
            AccountRef::Machine(host)
        } else if self.hosts[host].kind == HostKind::Workstation {
            AccountRef::User(self.owner(host))
        } else {
            AccountRef::User(self.rng.random_range(0..ADMIN_COUNT))
        };
        let logon_id = if as_system {
            "0x3e7".to_string()
        } else {
            self.random_logon_id()
        };
        let number = self.rng.random_range(1000..99999u32).to_string();
        let new_process_id = format!("0x{:x}", self.rng.random_range(0x100u32..0x3_ffff));
        let parent_process_id = format!("0x{:x}", self.rng.random_range(0x100u32..0x3_ffff));

        let user = self.account(subject).1;
        let fill = |template: &str| template.replace("{user}", user).replace("{n}", &number);
        let image = fill(image);
        let parent = fill(parent);
        let command_line = fill(command_line);

        let c = &self.columns;
        builder.set_string(c.computer, &self.hosts[host].fqdn);
        self.set_subject(builder, subject, &logon_id);
        let (domain, user, _) = self.account(subject);
        Self::set_account(builder, c, domain, user);
        builder.set_string(c.new_process_id, &new_process_id);
        builder.set_string(c.new_process_name, &image);
        builder.set_string(c.process, file_name(&image));
        builder.set_string(c.process_id, &parent_process_id);
        builder.set_string(c.parent_process_name, &parent);
        builder.set_string(c.command_line, &command_line);
        let (elevation, label) = if as_system {
            ("%%1936", "S-1-16-16384")
        } else if matches!(subject, AccountRef::User(i) if i < ADMIN_COUNT) {
            ("%%1937", "S-1-16-12288")
        } else {
            ("%%1938", "S-1-16-8192")
        };
        builder.set_string(c.token_elevation_type, elevation);
        builder.set_string(c.mandatory_label, label);
    }

    fn special_privileges(&mut self, builder: &mut TableBatchBuilder) {
        let host = self.rng.random_range(0..self.hosts.len());
        let (subject, privileges) = if self.rng.random_bool(0.7) {
            (AccountRef::BuiltIn(0), SYSTEM_PRIVILEGES)
        } else {
            (
                AccountRef::User(self.rng.random_range(0..ADMIN_COUNT)),
                ADMIN_PRIVILEGES,
            )
        };
        let logon_id = self.random_logon_id();
        let c = &self.columns;
        builder.set_string(c.computer, &self.hosts[host].fqdn);
        self.set_subject(builder, subject, &logon_id);
        let (domain, user, _) = self.account(subject);
        Self::set_account(builder, c, domain, user);
        builder.set_string(c.privilege_list, privileges);
    }

    fn credential_validation(&mut self, builder: &mut TableBatchBuilder) {
        let host = pick(&mut self.rng, &self.domain_controllers);
        let source = pick(&mut self.rng, &self.workstations);
        let user = self.owner(source);
        let status = if self.rng.random_bool(0.9) {
            "0x0"
        } else {
            "0xc000006a"
        };
        let c = &self.columns;
        builder.set_string(c.computer, &self.hosts[host].fqdn);
        builder.set_string(c.package_name, "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0");
        builder.set_string(c.target_user_name, &self.users[user].user);
        builder.set_string(c.target_account, &self.users[user].user);
        builder.set_string(c.workstation, &self.hosts[source].name);
        builder.set_string(c.status, status);
        builder.set_string(c.account, &self.users[user].user);
        builder.set_string(c.account_type, "User");
    }

    fn explicit_credentials(&mut self, builder: &mut TableBatchBuilder) {
        let host = pick(&mut self.rng, &self.workstations);
        let server = pick(&mut self.rng, &self.servers);
        let admin = self.rng.random_range(0..ADMIN_COUNT);
        let logon_id = self.random_logon_id();
        let port = self.rng.random_range(49152..65535u32).to_string();
        let c = &self.columns;
        builder.set_string(c.computer, &self.hosts[host].fqdn);
        self.set_subject(builder, AccountRef::User(self.owner(host)), &logon_id);
        self.set_target(builder, AccountRef::User(admin));
        builder.set_string(c.target_server_name, &self.hosts[server].fqdn);
        builder.set_string(c.process_name, SVCHOST);
        builder.set_string(c.process, file_name(SVCHOST));
        builder.set_string(c.ip_address, &self.hosts[server].ip);
        builder.set_string(c.ip_port, &port);
    }

    fn lockout(&mut self, builder: &mut TableBatchBuilder) {
        let host = pick(&mut self.rng, &self.domain_controllers);
        let source = pick(&mut self.rng, &self.workstations);
        let user = self.owner(source);
        let c = &self.columns;
        builder.set_string(c.computer, &self.hosts[host].fqdn);
        self.set_subject(builder, AccountRef::Machine(host), "0x3e7");
        self.set_target(builder, AccountRef::User(user));
        // 4740 names the caller computer in TargetDomainName.
        builder.set_string(c.target_domain_name, &self.hosts[source].name);
    }

    fn group_member_added(&mut self, builder: &mut TableBatchBuilder) {
        let host = self.rng.random_range(0..self.hosts.len());
        let admin = self.rng.random_range(0..ADMIN_COUNT);
        let member = self.rng.random_range(0..self.users.len());
        let logon_id = self.random_logon_id();
        let (group, group_sid) = if self.rng.random_bool(0.5) {
            ("Administrators", "S-1-5-32-544")
        } else {
            ("Remote Desktop Users", "S-1-5-32-555")
        };
        let c = &self.columns;
        builder.set_string(c.computer, &self.hosts[host].fqdn);
        self.set_subject(builder, AccountRef::User(admin), &logon_id);
        let member_name = format!(
            "CN={},OU=Users,DC=contoso,DC=local",
            self.users[member].user
        );
        builder.set_string(c.member_name, &member_name);
        builder.set_string(c.member_sid, &self.users[member].sid);
        builder.set_string(c.target_user_name, group);
        builder.set_string(c.target_domain_name, "Builtin");
        builder.set_string(c.target_sid, group_sid);
        builder.set_string(c.target_account, &format!("Builtin\\{group}"));
        Self::set_account(builder, c, "Builtin", group);
    }

    fn user_created(&mut self, builder: &mut TableBatchBuilder) {
        let host = pick(&mut self.rng, &self.domain_controllers);
        let admin = self.rng.random_range(0..ADMIN_COUNT);
        let logon_id = self.random_logon_id();
        let number = self.rng.random_range(1..100_000u32);
        let rid = 20_000 + number;
        let user = format!("new.user{number}");
        let c = &self.columns;
        builder.set_string(c.computer, &self.hosts[host].fqdn);
        self.set_subject(builder, AccountRef::User(admin), &logon_id);
        builder.set_string(c.target_user_name, &user);
        builder.set_string(c.target_domain_name, DOMAIN);
        builder.set_string(c.target_sid, &format!("{DOMAIN_SID}-{rid}"));
        builder.set_string(c.target_account, &format!("{DOMAIN}\\{user}"));
        builder.set_string(c.sam_account_name, &user);
        builder.set_string(c.user_principal_name, &format!("{user}@{DNS_SUFFIX}"));
        Self::set_account(builder, c, DOMAIN, &user);
    }
}

fn pick_weighted_process(rng: &mut StdRng) -> usize {
    let weights: [((), u32); PROCESSES.len()] = std::array::from_fn(|i| ((), PROCESSES[i].4));
    pick_weighted(rng, &weights)
}
