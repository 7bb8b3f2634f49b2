//! Where Sigma's log sources and fields live in homesoc's tables.
//!
//! Every Windows log source is read from `WindowsEvent`, the view over the
//! stored `SecurityEvent` and `Event` rows, filtered by channel and event
//! id. A field is a `WindowsEvent` column when [`COLUMN_FIELDS`] names it,
//! and otherwise a key of the record's `EventData` (Sysmon, PowerShell,
//! Security and every other channel keep their fields there under the
//! names Sigma uses). For Sysmon categories the event ids' schemas are
//! known, so a field outside them is reported as unmapped.

/// The Sysmon channel.
pub const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";
const POWERSHELL: &str = "Microsoft-Windows-PowerShell/Operational";
const POWERSHELL_CLASSIC: &str = "Windows PowerShell";

/// One Sigma log source: the channels and event ids its events have.
/// An empty `event_ids` list means every event of the channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceMapping {
    pub channels: &'static [&'static str],
    pub event_ids: &'static [i64],
}

const fn sysmon(event_ids: &'static [i64]) -> SourceMapping {
    SourceMapping {
        channels: &[SYSMON],
        event_ids,
    }
}

const fn channel(channels: &'static [&'static str]) -> SourceMapping {
    SourceMapping {
        channels,
        event_ids: &[],
    }
}

/// `category` values of `product: windows` (SigmaHQ taxonomy, mapped to
/// Sysmon and PowerShell as pySigma's Windows pipeline does).
pub const CATEGORIES: &[(&str, SourceMapping)] = &[
    ("process_creation", sysmon(&[1])),
    ("file_change", sysmon(&[2])),
    ("network_connection", sysmon(&[3])),
    ("sysmon_status", sysmon(&[4, 16])),
    ("process_termination", sysmon(&[5])),
    ("driver_load", sysmon(&[6])),
    ("image_load", sysmon(&[7])),
    ("create_remote_thread", sysmon(&[8])),
    ("raw_access_thread", sysmon(&[9])),
    ("process_access", sysmon(&[10])),
    ("file_event", sysmon(&[11])),
    ("registry_add", sysmon(&[12])),
    ("registry_delete", sysmon(&[12])),
    ("registry_set", sysmon(&[13])),
    ("registry_rename", sysmon(&[14])),
    ("registry_event", sysmon(&[12, 13, 14])),
    ("create_stream_hash", sysmon(&[15])),
    ("pipe_created", sysmon(&[17, 18])),
    ("wmi_event", sysmon(&[19, 20, 21])),
    ("dns_query", sysmon(&[22])),
    ("file_delete", sysmon(&[23, 26])),
    ("clipboard_capture", sysmon(&[24])),
    ("process_tampering", sysmon(&[25])),
    ("file_delete_detected", sysmon(&[26])),
    ("file_block_executable", sysmon(&[27])),
    ("file_block_shredding", sysmon(&[28])),
    ("file_executable_detected", sysmon(&[29])),
    ("sysmon_error", sysmon(&[255])),
    (
        "ps_module",
        SourceMapping {
            channels: &[POWERSHELL],
            event_ids: &[4103],
        },
    ),
    (
        "ps_script",
        SourceMapping {
            channels: &[POWERSHELL],
            event_ids: &[4104],
        },
    ),
    (
        "ps_classic_start",
        SourceMapping {
            channels: &[POWERSHELL_CLASSIC],
            event_ids: &[400],
        },
    ),
    (
        "ps_classic_provider_start",
        SourceMapping {
            channels: &[POWERSHELL_CLASSIC],
            event_ids: &[600],
        },
    ),
    (
        "ps_classic_script",
        SourceMapping {
            channels: &[POWERSHELL_CLASSIC],
            event_ids: &[800],
        },
    ),
];

/// `service` values of `product: windows` and their channels.
pub const SERVICES: &[(&str, SourceMapping)] = &[
    ("security", channel(&["Security"])),
    ("system", channel(&["System"])),
    ("application", channel(&["Application"])),
    ("sysmon", channel(&[SYSMON])),
    ("powershell", channel(&[POWERSHELL])),
    ("powershell-classic", channel(&[POWERSHELL_CLASSIC])),
    (
        "taskscheduler",
        channel(&["Microsoft-Windows-TaskScheduler/Operational"]),
    ),
    (
        "wmi",
        channel(&["Microsoft-Windows-WMI-Activity/Operational"]),
    ),
    ("windefend", channel(&[DEFENDER])),
    (
        "dns-client",
        channel(&["Microsoft-Windows-DNS-Client/Operational"]),
    ),
    ("ldap", channel(&["Microsoft-Windows-LDAP-Client/Debug"])),
    (
        "smbserver-connectivity",
        channel(&["Microsoft-Windows-SMBServer/Connectivity"]),
    ),
    ("dns-server", channel(&["DNS Server"])),
    (
        "dns-server-analytic",
        channel(&["Microsoft-Windows-DNS-Server/Analytical"]),
    ),
    (
        "dns-server-audit",
        channel(&["Microsoft-Windows-DNS-Server/Audit"]),
    ),
    (
        "driver-framework",
        channel(&["Microsoft-Windows-DriverFrameworks-UserMode/Operational"]),
    ),
    (
        "firewall-as",
        channel(&["Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"]),
    ),
    (
        "bits-client",
        channel(&["Microsoft-Windows-Bits-Client/Operational"]),
    ),
    (
        "codeintegrity-operational",
        channel(&["Microsoft-Windows-CodeIntegrity/Operational"]),
    ),
    ("ntlm", channel(&["Microsoft-Windows-NTLM/Operational"])),
    (
        "printservice-admin",
        channel(&["Microsoft-Windows-PrintService/Admin"]),
    ),
    (
        "printservice-operational",
        channel(&["Microsoft-Windows-PrintService/Operational"]),
    ),
    (
        "smbclient-security",
        channel(&["Microsoft-Windows-SmbClient/Security"]),
    ),
    (
        "smbclient-connectivity",
        channel(&["Microsoft-Windows-SmbClient/Connectivity"]),
    ),
    (
        "security-mitigations",
        channel(&[
            "Microsoft-Windows-Security-Mitigations/Kernel Mode",
            "Microsoft-Windows-Security-Mitigations/User Mode",
        ]),
    ),
    (
        "terminalservices-localsessionmanager",
        channel(&["Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"]),
    ),
    (
        "lsa-server",
        channel(&["Microsoft-Windows-LSA/Operational"]),
    ),
    (
        "appxdeployment-server",
        channel(&["Microsoft-Windows-AppXDeploymentServer/Operational"]),
    ),
    (
        "appxpackaging-om",
        channel(&["Microsoft-Windows-AppxPackaging/Operational"]),
    ),
    (
        "appmodel-runtime",
        channel(&["Microsoft-Windows-AppModel-Runtime/Admin"]),
    ),
    ("capi2", channel(&["Microsoft-Windows-CAPI2/Operational"])),
    (
        "certificateservicesclient-lifecycle-system",
        channel(&["Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"]),
    ),
    (
        "diagnosis-scripted",
        channel(&["Microsoft-Windows-Diagnosis-Scripted/Operational"]),
    ),
    ("msexchange-management", channel(&["MSExchange Management"])),
    ("openssh", channel(&["OpenSSH/Operational"])),
    (
        "shell-core",
        channel(&["Microsoft-Windows-Shell-Core/Operational"]),
    ),
    ("vhdmp", channel(&["Microsoft-Windows-VHDMP/Operational"])),
    (
        "kernel-shimengine",
        channel(&[
            "Microsoft-Windows-Kernel-ShimEngine/Operational",
            "Microsoft-Windows-Kernel-ShimEngine/Diagnostic",
        ]),
    ),
    (
        "ldap_debug",
        channel(&["Microsoft-Windows-LDAP-Client/Debug"]),
    ),
    (
        "hyper-v-worker",
        channel(&["Microsoft-Windows-Hyper-V-Worker-Admin"]),
    ),
    (
        "microsoft-servicebus-client",
        channel(&["Microsoft-ServiceBus-Client"]),
    ),
    (
        "iis-configuration",
        channel(&["Microsoft-IIS-Configuration/Operational"]),
    ),
    ("sysmon-operational", channel(&[SYSMON])),
    (
        "wmi-activity",
        channel(&["Microsoft-Windows-WMI-Activity/Operational"]),
    ),
    (
        "bitlocker",
        channel(&["Microsoft-Windows-BitLocker/BitLocker Management"]),
    ),
    (
        "applocker",
        channel(&[
            "Microsoft-Windows-AppLocker/MSI and Script",
            "Microsoft-Windows-AppLocker/EXE and DLL",
            "Microsoft-Windows-AppLocker/Packaged app-Deployment",
            "Microsoft-Windows-AppLocker/Packaged app-Execution",
        ]),
    ),
];

/// Sigma field names that are `WindowsEvent` columns, with the column.
pub const COLUMN_FIELDS: &[(&str, &str)] = &[
    ("EventID", "EventID"),
    ("Channel", "Channel"),
    ("Computer", "Computer"),
    ("Provider_Name", "Provider"),
    ("Provider", "Provider"),
    ("Level", "EventLevel"),
    ("EventRecordID", "EventRecordId"),
];

/// The Security channel's process creation event, which `process_creation`
/// rules also read when every field they use is in
/// [`SECURITY_PROCESS_CREATION_FIELDS`].
pub const SECURITY_PROCESS_CREATION: (&str, i64) = ("Security", 4688);

/// Sigma `process_creation` fields that Security event 4688 records, with
/// its `EventData` name for each. Sysmon's other fields (`OriginalFileName`, `Hashes`, `User`,
/// `IntegrityLevel`, ...) have no 4688 equivalent, and 4688 writes process
/// ids in hexadecimal, so rules that read them match Sysmon events only.
pub const SECURITY_PROCESS_CREATION_FIELDS: &[(&str, &str)] = &[
    ("Image", "NewProcessName"),
    ("ParentImage", "ParentProcessName"),
    ("CommandLine", "CommandLine"),
];

/// The `EventData` field names of each Sysmon event id (Sysmon schema
/// 4.90); `RuleName` and `UtcTime` are in every one.
pub const SYSMON_FIELDS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "ProcessGuid",
            "ProcessId",
            "Image",
            "FileVersion",
            "Description",
            "Product",
            "Company",
            "OriginalFileName",
            "CommandLine",
            "CurrentDirectory",
            "User",
            "LogonGuid",
            "LogonId",
            "TerminalSessionId",
            "IntegrityLevel",
            "Hashes",
            "ParentProcessGuid",
            "ParentProcessId",
            "ParentImage",
            "ParentCommandLine",
            "ParentUser",
        ],
    ),
    (
        2,
        &[
            "ProcessGuid",
            "ProcessId",
            "Image",
            "TargetFilename",
            "CreationUtcTime",
            "PreviousCreationUtcTime",
            "User",
        ],
    ),
    (
        3,
        &[
            "ProcessGuid",
            "ProcessId",
            "Image",
            "User",
            "Protocol",
            "Initiated",
            "SourceIsIpv6",
            "SourceIp",
            "SourceHostname",
            "SourcePort",
            "SourcePortName",
            "DestinationIsIpv6",
            "DestinationIp",
            "DestinationHostname",
            "DestinationPort",
            "DestinationPortName",
        ],
    ),
    (4, &["State", "Version", "SchemaVersion"]),
    (5, &["ProcessGuid", "ProcessId", "Image", "User"]),
    (
        6,
        &[
            "ImageLoaded",
            "Hashes",
            "Signed",
            "Signature",
            "SignatureStatus",
        ],
    ),
    (
        7,
        &[
            "ProcessGuid",
            "ProcessId",
            "Image",
            "ImageLoaded",
            "FileVersion",
            "Description",
            "Product",
            "Company",
            "OriginalFileName",
            "Hashes",
            "Signed",
            "Signature",
            "SignatureStatus",
            "User",
        ],
    ),
    (
        8,
        &[
            "SourceProcessGuid",
            "SourceProcessId",
            "SourceImage",
            "TargetProcessGuid",
            "TargetProcessId",
            "TargetImage",
            "NewThreadId",
            "StartAddress",
            "StartModule",
            "StartFunction",
            "SourceUser",
            "TargetUser",
        ],
    ),
    (9, &["ProcessGuid", "ProcessId", "Image", "Device", "User"]),
    (
        10,
        &[
            "SourceProcessGUID",
            "SourceProcessId",
            "SourceThreadId",
            "SourceImage",
            "TargetProcessGUID",
            "TargetProcessId",
            "TargetImage",
            "GrantedAccess",
            "CallTrace",
            "SourceUser",
            "TargetUser",
        ],
    ),
    (
        11,
        &[
            "ProcessGuid",
            "ProcessId",
            "Image",
            "TargetFilename",
            "CreationUtcTime",
            "User",
        ],
    ),
    (
        12,
        &[
            "EventType",
            "ProcessGuid",
            "ProcessId",
            "Image",
            "TargetObject",
            "User",
        ],
    ),
    (
        13,
        &[
            "EventType",
            "ProcessGuid",
            "ProcessId",
            "Image",
            "TargetObject",
            "Details",
            "User",
        ],
    ),
    (
        14,
        &[
            "EventType",
            "ProcessGuid",
            "ProcessId",
            "Image",
            "TargetObject",
            "NewName",
            "User",
        ],
    ),
    (
        15,
        &[
            "ProcessGuid",
            "ProcessId",
            "Image",
            "TargetFilename",
            "CreationUtcTime",
            "Hash",
            "Contents",
            "User",
        ],
    ),
    (16, &["Configuration", "ConfigurationFileHash"]),
    (
        17,
        &[
            "EventType",
            "ProcessGuid",
            "ProcessId",
            "PipeName",
            "Image",
            "User",
        ],
    ),
    (
        18,
        &[
            "EventType",
            "ProcessGuid",
            "ProcessId",
            "PipeName",
            "Image",
            "User",
        ],
    ),
    (
        19,
        &[
            "EventType",
            "Operation",
            "User",
            "EventNamespace",
            "Name",
            "Query",
        ],
    ),
    (
        20,
        &[
            "EventType",
            "Operation",
            "User",
            "Name",
            "Type",
            "Destination",
        ],
    ),
    (
        21,
        &["EventType", "Operation", "User", "Consumer", "Filter"],
    ),
    (
        22,
        &[
            "ProcessGuid",
            "ProcessId",
            "QueryName",
            "QueryStatus",
            "QueryResults",
            "Image",
            "User",
        ],
    ),
    (
        23,
        &[
            "ProcessGuid",
            "ProcessId",
            "User",
            "Image",
            "TargetFilename",
            "Hashes",
            "IsExecutable",
            "Archived",
        ],
    ),
    (
        24,
        &[
            "ProcessGuid",
            "ProcessId",
            "Image",
            "Session",
            "ClientInfo",
            "Hashes",
            "Archived",
            "User",
        ],
    ),
    (25, &["ProcessGuid", "ProcessId", "Image", "Type", "User"]),
    (
        26,
        &[
            "ProcessGuid",
            "ProcessId",
            "User",
            "Image",
            "TargetFilename",
            "Hashes",
            "IsExecutable",
        ],
    ),
    (
        27,
        &[
            "ProcessGuid",
            "ProcessId",
            "User",
            "Image",
            "TargetFilename",
            "Hashes",
        ],
    ),
    (
        28,
        &[
            "ProcessGuid",
            "ProcessId",
            "User",
            "Image",
            "TargetFilename",
            "Hashes",
            "IsExecutable",
        ],
    ),
    (
        29,
        &[
            "ProcessGuid",
            "ProcessId",
            "User",
            "Image",
            "TargetFilename",
            "Hashes",
        ],
    ),
    (255, &["ID", "Description"]),
];

/// Sigma hash fields, read from Sysmon's `Hashes` list
/// (`SHA1=...,MD5=...,SHA256=...,IMPHASH=...`), with the list's key.
pub const HASH_FIELDS: &[(&str, &str)] = &[
    ("md5", "MD5"),
    ("sha1", "SHA1"),
    ("sha256", "SHA256"),
    ("Imphash", "IMPHASH"),
    ("imphash", "IMPHASH"),
];

/// Where one Sigma field is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSource {
    /// A `WindowsEvent` column; `numeric` for `EventID` and the level.
    Column { name: &'static str, numeric: bool },
    /// A key of `EventData`.
    EventData(String),
    /// One hash of Sysmon's `Hashes` list.
    Hash(&'static str),
}

/// The log source of a rule, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSource {
    pub mapping: SourceMapping,
    /// A readable name: `windows/process_creation` or `windows/security`.
    pub name: String,
}

/// Resolves `logsource` to channels and event ids, or says why it cannot.
pub fn resolve_source(
    product: Option<&str>,
    category: Option<&str>,
    service: Option<&str>,
) -> Result<ResolvedSource, String> {
    let describe = || {
        [
            ("product", product),
            ("category", category),
            ("service", service),
        ]
        .iter()
        .filter_map(|(key, value)| value.map(|value| format!("{key}: {value}")))
        .collect::<Vec<_>>()
        .join(", ")
    };
    if product.is_some_and(|product| !product.eq_ignore_ascii_case("windows")) {
        return Err(format!(
            "log source `{}`: homesoc stores Windows event logs only",
            describe()
        ));
    }
    let lookup = |table: &[(&str, SourceMapping)], key: &str| {
        table
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, mapping)| *mapping)
    };
    let by_category = category.map(|category| (category, lookup(CATEGORIES, category)));
    let by_service = service.map(|service| (service, lookup(SERVICES, service)));
    let mapping = match (by_category, by_service) {
        (Some((_, Some(mapping))), _) => mapping,
        (None, Some((_, Some(mapping)))) => mapping,
        (Some((_, None)), _) | (None, Some((_, None))) => {
            return Err(format!(
                "log source `{}` has no mapping to a Windows channel",
                describe()
            ));
        }
        (None, None) => {
            return Err(format!(
                "log source `{}` names no category or service; homesoc needs one to pick the channel",
                describe()
            ));
        }
    };
    let name = format!(
        "windows/{}",
        category
            .or(service)
            .unwrap_or_default()
            .to_ascii_lowercase()
    );
    Ok(ResolvedSource { mapping, name })
}

/// Maps a Sigma field of a rule reading `source`. Returns the source and,
/// when the field is certainly not in the events (a field outside the
/// Sysmon schema of every event id of the source), `Err` with the reason.
pub fn map_field(source: &SourceMapping, field: &str) -> Result<FieldSource, String> {
    if let Some((_, column)) = COLUMN_FIELDS.iter().find(|(name, _)| *name == field) {
        let numeric = matches!(*column, "EventID" | "EventLevel" | "EventRecordId");
        return Ok(FieldSource::Column {
            name: column,
            numeric,
        });
    }
    let sysmon_only = source.channels == [SYSMON] && !source.event_ids.is_empty();
    if let Some((_, key)) = HASH_FIELDS.iter().find(|(name, _)| *name == field) {
        return Ok(FieldSource::Hash(key));
    }
    if sysmon_only {
        let known = source.event_ids.iter().any(|id| {
            field == "RuleName"
                || field == "UtcTime"
                || SYSMON_FIELDS
                    .iter()
                    .any(|(event_id, fields)| event_id == id && fields.contains(&field))
        });
        if !known {
            return Err(format!(
                "field `{field}` is not in Sysmon event {}",
                source
                    .event_ids
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            ));
        }
    }
    if source.channels.contains(&DEFENDER) {
        return Ok(FieldSource::EventData(spaced(field)));
    }
    Ok(FieldSource::EventData(field.to_string()))
}

/// Microsoft Defender's channel, whose `EventData` names have spaces
/// (`Threat Name`) where Sigma writes them without (`ThreatName`).
const DEFENDER: &str = "Microsoft-Windows-Windows Defender/Operational";

/// Inserts a space before each capital that follows a lower-case letter
/// or digit: `ThreatName` → `Threat Name`, `ThreatID` → `Threat ID`.
fn spaced(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    let mut previous: Option<char> = None;
    for c in field.chars() {
        if c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            out.push(' ');
        }
        out.push(c);
        previous = Some(c);
    }
    out
}
