#!/usr/bin/env python3
"""Work out the alerts of eleven published Sentinel rules over the EVTX
corpus with python-evtx (PyPI python-evtx 0.8.1), independently of homesoc.

Each rule function below restates its rule's KQL query as Python over the
raw records. The backtest runs a rule every queryFrequency from
2015-08-01T00:00:00Z over the queryPeriod before the run, and these rules
have queryPeriod == queryFrequency (except the 7-day replication rule, see
its function), so a run's window is the aligned [run - frequency, run)
block. A rule without eventGroupingSettings raises
one alert per run whose result has rows (Sentinel's SingleAlert). That
alert's entities are the union over the result rows of the rule's
entityMappings, where an empty value adds no identifier and an entity
without identifiers is left out. As Sentinel does, an Account FullName
splits into Name and NTDomain at the first backslash (or Name and UPNSuffix
at the first "@"), and a Host FullName splits into HostName and DnsDomain
at the first dot.

Derived SecurityEvent columns follow Sentinel's agents: SubjectAccount and
TargetAccount are DOMAIN\\user, LogonTypeName is "N - Name", and Account is
the target account when TargetUserName names one (not empty, not "-"),
else the subject account. AccountType is "Machine" when that account's
user name ends with "$". Which account Sentinel's agents put in Account
is not documented per event, so the rules here read it only where the
choice does not change the result (events without a target account:
1102, 4662; the privileged group rule, where every matching record gives
"User" whichever account is read), or for logons (4624, 4625). For logons
the target account is an assumption that homesoc's mapping shares, so
there the script is not independent of homesoc.

Files with the same SHA-256 are read once, as homesoc imports a file's
content only once. Records that python-evtx cannot parse are skipped.

Usage: expected_backtest.py CORPUS_DIR
Prints one line per alert: RULE_ID<TAB>RUN_INSTANT<TAB>ENTITIES, where
RUN_INSTANT is the alert's timeGenerated (UTC, "YYYY-MM-DDTHH:MM:SSZ") and
ENTITIES is a JSON array of entity objects (identifiers and "Type", no
"$id"), sorted by their JSON text. Lines are sorted by rule, then instant.
"""

import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import Evtx.Evtx as evtx

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
BACKTEST_FROM = datetime(2015, 8, 1, tzinfo=timezone.utc)
SYSMON = "Microsoft-Windows-Sysmon/Operational"


class Record:
    """One event record: System fields and the EventData/UserData values."""

    def __init__(self, root):
        system = root.find(NS + "System")
        self.event_id = system.findtext(NS + "EventID")
        self.channel = system.findtext(NS + "Channel")
        self.computer = system.findtext(NS + "Computer") or ""
        provider = system.find(NS + "Provider")
        self.provider = provider.get("Name") if provider is not None else ""
        when = system.find(NS + "TimeCreated").get("SystemTime")
        self.time = parse_time(when)
        self.data = {}
        for container in ("EventData", "UserData"):
            element = root.find(NS + container)
            if element is None:
                continue
            for item in element.iter():
                if len(item) == 0 and item is not element:
                    name = item.get("Name") or item.tag.split("}")[-1]
                    self.data.setdefault(name, item.text or "")

    def get(self, name):
        return self.data.get(name, "")


def parse_time(text):
    """python-evtx prints SystemTime as "YYYY-MM-DD HH:MM:SS[.ffffff][+00:00]"."""
    text = text.replace("T", " ").replace("Z", "")
    if "+" in text:
        text = text.split("+")[0]
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)


def read_records(corpus):
    records = []
    seen = set()
    for path in sorted(corpus.glob("*.evtx")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        with evtx.Evtx(str(path)) as log:
            for raw in log.records():
                try:
                    root = ET.fromstring(raw.xml())
                    records.append(Record(root))
                except Exception:
                    continue
    return records


def run_instant(time, frequency):
    """The first run at or after which the event is in the window [run - frequency, run)."""
    steps = (time - BACKTEST_FROM) // frequency
    return BACKTEST_FROM + (steps + 1) * frequency


def account_identifiers(full_name):
    if "\\" in full_name:
        domain, name = full_name.split("\\", 1)
        return [("Name", name), ("NTDomain", domain)]
    if "@" in full_name:
        name, suffix = full_name.split("@", 1)
        return [("Name", name), ("UPNSuffix", suffix)]
    return [("Name", full_name)]


def host_identifiers(full_name):
    if "." in full_name:
        host, domain = full_name.split(".", 1)
        return [("HostName", host), ("DnsDomain", domain)]
    return [("HostName", full_name)]


def entity(json_type, *fields):
    """One entity from (identifier, value) fields in mapping order. A FullName
    value is split; the first value of an identifier wins; empty values add
    nothing. Returns None when no identifier is left."""
    identifiers = {}
    for identifier, value in fields:
        if not value:
            continue
        if identifier == "FullName" and json_type == "account":
            parts = account_identifiers(value)
        elif identifier == "FullName" and json_type == "host":
            parts = host_identifiers(value)
        else:
            parts = [(identifier, value)]
        for name, part in parts:
            identifiers.setdefault(name, part)
    if not identifiers:
        return None
    identifiers["Type"] = json_type
    return json.dumps(identifiers, sort_keys=True)


class Alerts:
    """The alerts of one rule: per run instant, the union of row entities."""

    def __init__(self, frequency):
        self.frequency = frequency
        self.runs = defaultdict(set)

    def add_row(self, time, *entities):
        run = self.runs[run_instant(time, self.frequency)]
        run.update(e for e in entities if e is not None)


def has_term(text, term):
    """KQL `has`: the term occurs case-insensitively with no letter or digit
    right before or after it."""
    text, term = text.lower(), term.lower()
    start = text.find(term)
    while start != -1:
        end = start + len(term)
        before = text[start - 1] if start > 0 else " "
        after = text[end] if end < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = text.find(term, start + 1)
    return False


def security(records, *event_ids):
    return [r for r in records if r.channel == "Security" and r.event_id in event_ids]


def account_of(record):
    """Sentinel's Account: the target account when the event names one."""
    target = record.get("TargetUserName")
    if target and target != "-":
        return record.get("TargetDomainName") + "\\" + target, target
    subject = record.get("SubjectUserName")
    return record.get("SubjectDomainName") + "\\" + subject, subject


HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def fake_computer_account_created(records):
    """c1faf5e8: 4720 whose TargetUserName ends with "$"."""
    alerts = Alerts(HOUR)
    for r in security(records, "4720"):
        if r.get("TargetUserName").lower().endswith("$"):
            alerts.add_row(
                r.time,
                entity("account", ("FullName", r.get("SubjectUserName"))),
                entity("host", ("FullName", r.computer)),
            )
    return alerts


def rid_hijacking(records):
    """fcdeec10: 4624/4625 for a -500 SID whose name is not "administrator"
    or "admin" (a case-sensitive !in)."""
    alerts = Alerts(HOUR)
    for r in security(records, "4624", "4625"):
        if r.get("TargetUserSid").lower().endswith("-500") and r.get(
            "TargetUserName"
        ) not in ("administrator", "admin"):
            alerts.add_row(
                r.time,
                entity("account", ("FullName", r.get("TargetUserName"))),
                entity("host", ("FullName", r.computer)),
            )
    return alerts


def spn_assigned_to_user(records):
    """875d0eb1: 5136 setting servicePrincipalName on a user object."""
    alerts = Alerts(HOUR)
    for r in security(records, "5136"):
        if r.get("AttributeLDAPDisplayName") != "servicePrincipalName":
            continue
        if r.get("ObjectClass") != "user":
            continue
        subject_account = r.get("SubjectDomainName") + "\\" + r.get("SubjectUserName")
        computer = r.computer
        host_domain = computer.split(".", 1)[1] if "." in computer else computer
        alerts.add_row(
            r.time,
            entity(
                "account",
                ("FullName", subject_account),
                ("Name", r.get("SubjectUserName")),
                ("NTDomain", r.get("SubjectDomainName")),
                ("Sid", r.get("SubjectUserSid")),
            ),
            entity(
                "host",
                ("FullName", computer),
                ("HostName", computer.split(".")[0]),
                ("NTDomain", host_domain),
            ),
        )
    return alerts


def msrprn_printer_bug(records):
    """c29a03c6: 5145 on \\\\*\\IPC$ for the spoolss pipe."""
    alerts = Alerts(HOUR)
    for r in security(records, "5145"):
        if r.get("ShareName") == "\\\\*\\IPC$" and r.get("RelativeTargetName") == "spoolss":
            alerts.add_row(
                r.time,
                entity("account", ("FullName", r.get("SubjectUserName"))),
                entity("host", ("FullName", r.computer)),
                entity("ip", ("Address", r.get("IpAddress"))),
            )
    return alerts


def wdigest_downgrade(records):
    """f6502545: Sysmon 13 setting WDigest UseLogonCredential to non-zero."""
    key = "HKLM\\System\\CurrentControlSet\\Control\\SecurityProviders\\WDigest\\UseLogonCredential"
    alerts = Alerts(HOUR)
    for r in records:
        if r.channel != SYSMON or r.event_id != "13":
            continue
        if r.get("TargetObject").lower() != key.lower():
            continue
        if r.get("Details") == "DWORD (0x00000000)":
            continue
        computer = r.computer
        host = computer[: computer.index(".")] if "." in computer else computer
        domain = computer[computer.index(".") + 1 :] if "." in computer else ""
        alerts.add_row(
            r.time,
            entity("registry-key", ("Key", r.get("TargetObject"))),
            entity("host", ("HostName", host), ("DnsDomain", domain)),
        )
    return alerts


def decoy_user_authentication(records):
    """a4dbc292: every 4624/4625 (the decoy name list is commented out)."""
    alerts = Alerts(HOUR)
    for r in security(records, "4624", "4625"):
        alerts.add_row(
            r.time,
            entity("account", ("FullName", r.get("TargetUserName"))),
            entity("host", ("FullName", r.computer)),
        )
    return alerts


def accessibility_features_modification(records):
    """d714ef62: Sysmon 1 whose Image has an accessibility binary name and
    whose OriginalFileName has none of the expected names. The rule's
    `parse` needs Image before OriginalFileName, and then ProcessGuid,
    Description, CommandLine, CurrentDirectory, User, LogonGuid, Hashes,
    ParentProcessGuid, ParentImage, ParentCommandLine and ParentUser in
    that order; where a field is missing, every parsed column is empty."""
    images = ["sethc.exe", "utilman.exe", "osk.exe", "Magnify.exe", "Narrator.exe",
              "DisplaySwitch.exe", "AtBroker.exe"]
    original_names = images + ["SR.exe", "utilman2.exe", "ScreenMagnifier.exe"]
    second_parse = ["ProcessGuid", "Description", "CommandLine", "CurrentDirectory", "User",
                    "LogonGuid", "Hashes", "ParentProcessGuid", "ParentImage",
                    "ParentCommandLine", "ParentUser"]
    alerts = Alerts(HOUR)
    for r in records:
        if r.channel != SYSMON or r.event_id != "1":
            continue
        names = list(r.data)
        first = ["Image", "OriginalFileName"]
        if not in_order(names, first):
            continue
        if not any(has_term(r.get("Image"), image) for image in images):
            continue
        if any(has_term(r.get("OriginalFileName"), name) for name in original_names):
            continue
        command_line = r.get("CommandLine") if in_order(names, second_parse) else ""
        computer = r.computer
        host_domain = computer[computer.index(".") + 1 :] if "." in computer else computer
        alerts.add_row(
            r.time,
            entity("process", ("CommandLine", command_line)),
            entity("host", ("HostName", computer.split(".")[0]), ("NTDomain", host_domain)),
        )
    return alerts


def in_order(names, wanted):
    """True when every wanted field exists, each after the one before."""
    position = -1
    for name in wanted:
        if name not in names or names.index(name) <= position:
            return False
        position = names.index(name)
    return True


WELL_KNOWN_LOCAL_SID = re.compile(r"S-1-5-32-5[0-9][0-9]$")
WELL_KNOWN_GROUP_SID = re.compile(
    r"S-1-5-21-[0-9]*-[0-9]*-[0-9]*-5[0-9][0-9]$|S-1-5-21-[0-9]*-[0-9]*-[0-9]*-1102$"
    r"|S-1-5-21-[0-9]*-[0-9]*-[0-9]*-1103$|S-1-5-21-[0-9]*-[0-9]*-[0-9]*-498$"
    r"|S-1-5-21-[0-9]*-[0-9]*-[0-9]*-1000$"
)


def user_added_to_privileged_group(records):
    """a35f2c18: a user (not a group) added to a well-known privileged group,
    daily. The rule has no entityMappings, so its alerts have no entities."""
    alerts = Alerts(DAY)
    for r in security(records, "4728", "4732", "4756"):
        if r.get("MemberName") == "-":
            continue
        sid = r.get("TargetSid")
        if not (WELL_KNOWN_LOCAL_SID.search(sid) or WELL_KNOWN_GROUP_SID.search(sid)):
            continue
        if sid == "S-1-5-32-555":
            continue
        # Whether Account is the target (the group) or the subject, these
        # records give the same AccountType, so the reading does not matter.
        _, account_user = account_of(r)
        is_user = not account_user.endswith("$")
        assert is_user == (not r.get("SubjectUserName").endswith("$")), r.data
        if is_user:
            alerts.add_row(r.time)
    return alerts


def failed_logons_10m(records):
    """0777f138: at least 20 failed logons (4625) by a user account in one
    10-minute window with the same logon details, SubStatus not
    0xc0000064 (unknown user name)."""
    groups = defaultdict(Counter)
    frequency = timedelta(minutes=10)
    for r in security(records, "4625"):
        account, account_user = account_of(r)
        if account_user.endswith("$"):
            continue
        if r.get("SubStatus") == "0xc0000064" or account in ("\\", "-\\-"):
            continue
        key = (
            r.computer, account, r.get("TargetUserName"), r.get("TargetDomainName"),
            r.get("LogonType"), r.get("LogonProcessName"), r.get("Status"), r.get("SubStatus"),
            r.get("WorkstationName"), r.get("IpAddress"),
        )
        groups[run_instant(r.time, frequency)][key] += 1
    alerts = Alerts(frequency)
    for run, counts in groups.items():
        for key, count in counts.items():
            if count < 20:
                continue
            computer, account, ip_address = key[0], key[1], key[9]
            alerts.add_row(
                run - frequency,
                entity("account", ("FullName", account)),
                entity("host", ("FullName", computer)),
                entity("ip", ("Address", ip_address)),
            )
    return alerts


def nrt_log_cleared(records):
    """508cef41: the NRT rule runs every minute over the last minute; a
    Security 1102 from Microsoft-Windows-Eventlog raises its alert. The
    record names no target account, so Account is the subject account."""
    alerts = Alerts(timedelta(minutes=1))
    for r in security(records, "1102"):
        if r.provider != "Microsoft-Windows-Eventlog":
            continue
        account = r.get("SubjectDomainName") + "\\" + r.get("SubjectUserName")
        alerts.add_row(
            r.time,
            entity("account", ("FullName", account)),
            entity("host", ("FullName", r.computer)),
        )
    return alerts


REPLICATION_RIGHTS = [
    "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",
    "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2",
    "89e95b76-444d-4c62-991a-0facbeda640c",
]


def non_dc_replication(records):
    """b9d2eebc: 4662 on a DS object with a replication right by a
    non-machine account, left outer joined on the logon id with network
    logons (4624, type 3) for the source address. It runs daily over the
    last 7 days, so an event raises an alert in each of the 7 runs whose
    window holds it; every run joins only the logons in its own window."""
    frequency, period = DAY, timedelta(days=7)
    replications = []
    for r in security(records, "4662"):
        if r.get("ObjectServer") != "DS" or r.get("SubjectUserName").endswith("$"):
            continue
        if not any(has_term(r.get("Properties"), right) for right in REPLICATION_RIGHTS):
            continue
        replications.append(r)
    logons = []
    for r in security(records, "4624"):
        _, account_user = account_of(r)
        if r.get("LogonType") == "3" and not account_user.endswith("$"):
            logons.append(r)
    runs = set()
    for r in replications:
        first_run = run_instant(r.time, frequency)
        runs.update(first_run + day * frequency for day in range(period // frequency))
    alerts = Alerts(frequency)
    for run in sorted(runs):
        start = run - period
        window_logons = [l for l in logons if start <= l.time < run]
        for r in replications:
            if not start <= r.time < run:
                continue
            account = r.get("SubjectDomainName") + "\\" + r.get("SubjectUserName")
            addresses = [
                l.get("IpAddress")
                for l in window_logons
                if l.get("TargetLogonId") == r.get("SubjectLogonId")
            ] or [""]
            for address in addresses:
                alerts.add_row(
                    run - frequency,
                    entity("account", ("FullName", account)),
                    entity("host", ("FullName", r.computer)),
                    entity("ip", ("Address", address)),
                )
    return alerts


RULES = {
    "c1faf5e8-6958-11ec-90d6-0242ac120003": fake_computer_account_created,
    "fcdeec10-6948-11ec-90d6-0242ac120003": rid_hijacking,
    "875d0eb1-883a-4191-bd0e-dbfdeb95a464": spn_assigned_to_user,
    "c29a03c6-d074-4934-afae-df1aeb30da70": msrprn_printer_bug,
    "f6502545-ae3a-4232-a8b0-79d87e5c98d7": wdigest_downgrade,
    "a4dbc292-87eb-11ec-a8a3-0242ac120002": decoy_user_authentication,
    "d714ef62-1a56-4779-804f-91c4158e528d": accessibility_features_modification,
    "a35f2c18-1b97-458f-ad26-e033af18eb99": user_added_to_privileged_group,
    "0777f138-e5d8-4eab-bec1-e11ddfbc2be2": failed_logons_10m,
    "508cef41-2cd8-4d40-a519-b04826a9085f": nrt_log_cleared,
    "b9d2eebc-5dcb-4888-8165-900db44443ab": non_dc_replication,
}


def main(corpus):
    records = read_records(corpus)
    for rule_id in sorted(RULES):
        alerts = RULES[rule_id](records)
        for run in sorted(alerts.runs):
            entities = sorted(alerts.runs[run])
            instant = run.strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"{rule_id}\t{instant}\t[{','.join(entities)}]")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
