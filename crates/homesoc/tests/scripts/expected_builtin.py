#!/usr/bin/env python3
"""Work out the alerts of homesoc's built-in rules over the EVTX corpus with
python-evtx (PyPI python-evtx 0.8.1), independently of homesoc.

The built-in rules run hourly over the previous hour. The test backtests
them with a daily schedule instead (queryFrequency and queryPeriod 1d),
which keeps the number of runs small, so a backtest whose first run is at
a UTC midnight raises, per UTC day, one alert per result row (the rules use
AlertPerResult). This script groups the corpus's records by day the way
each rule's query groups them. Files with the same
SHA-256 are read once, as homesoc imports a file's content only once.

Usage: expected_builtin.py CORPUS_DIR
Prints one line per rule: RULE<TAB>ALERTS<TAB>DISTINCT_HOSTS (comma-joined).
"""

import hashlib
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

import Evtx.Evtx as evtx
from Evtx.Evtx import ChunkHeader

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
# The file header takes the first 4 KiB; chunks of 64 KiB follow.
CHUNK_START = 0x1000
CHUNK_SIZE = 0x10000
# Alerts one run of an AlertPerResult rule raises at most.
ALERTS_PER_RUN_CAP = 150

SUSPICIOUS_COMMAND = re.compile(
    r"(?i)(\s-e(c|nc|ncodedcommand)?\s|frombase64string|downloadstring|downloadfile"
    r"|invoke-expression|iex\s*\(|-w(indowstyle)?\s+hidden|urlcache|mshta(\.exe)?\s+https?:"
    r"|bitsadmin(\.exe)?\s+/transfer|regsvr32(\.exe)?\s.*/i:https?:)"
)
PRIVILEGED_SIDS = {"S-1-5-32-544", "S-1-5-32-555", "S-1-5-32-551", "S-1-5-32-548"}
PRIVILEGED_GROUPS = {
    "administrators",
    "remote desktop users",
    "domain admins",
    "enterprise admins",
    "schema admins",
    "backup operators",
}


def all_records(log):
    """Yields the records of every chunk slot that has a valid chunk header.

    python-evtx's own iteration stops at the chunk count in the file header,
    which a dirty file (one not closed cleanly) understates; homesoc reads
    every chunk slot, as evtx_dump does.
    """
    buf = log._buf
    offset = CHUNK_START
    while offset + CHUNK_SIZE <= len(buf):
        chunk = ChunkHeader(buf, offset)
        if chunk.check_magic():
            yield from chunk.records()
        offset += CHUNK_SIZE


def records(corpus: Path):
    """Yields (system fields, named data fields, user data fields) per record."""
    seen = set()
    for path in sorted(corpus.glob("*.evtx")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        with evtx.Evtx(str(path)) as log:
            for record in all_records(log):
                try:
                    root = ET.fromstring(record.xml())
                except Exception:
                    continue
                system = root.find(NS + "System")
                if system is None:
                    continue
                provider = system.find(NS + "Provider")
                created = system.find(NS + "TimeCreated")
                info = {
                    "EventID": system.findtext(NS + "EventID"),
                    "Channel": system.findtext(NS + "Channel") or "",
                    "Computer": system.findtext(NS + "Computer") or "",
                    "Provider": provider.get("Name", "") if provider is not None else "",
                    "Time": created.get("SystemTime", "") if created is not None else "",
                }
                data = {}
                event_data = root.find(NS + "EventData")
                if event_data is not None:
                    for item in event_data:
                        name = item.get("Name")
                        if name:
                            data[name] = item.text or ""
                user_data = {}
                user_data_element = root.find(NS + "UserData")
                if user_data_element is not None:
                    for element in user_data_element.iter():
                        if len(element) == 0:
                            tag = element.tag.split("}")[-1]
                            user_data.setdefault(tag, element.text or "")
                yield info, data, user_data


def main(corpus: Path) -> None:
    groups = defaultdict(set)  # rule -> {(day, key...)}
    rows = defaultdict(Counter)  # rule -> day -> rows
    hosts = defaultdict(set)
    failures = Counter()
    for info, data, user_data in records(corpus):
        day = info["Time"][:10]
        event_id = info["EventID"]
        security = info["Channel"] == "Security"
        if security and event_id == "4625":
            address = data.get("IpAddress", "")
            if address not in ("", "-", "127.0.0.1", "::1"):
                failures[(day, address, info["Computer"])] += 1
        if security and event_id == "1102" and info["Provider"].lower() == "microsoft-windows-eventlog":
            account = f"{user_data.get('SubjectDomainName', '')}\\{user_data.get('SubjectUserName', '')}"
            groups["log-cleared"].add((day, info["Computer"], "Security", account))
            hosts["log-cleared"].add(info["Computer"])
        if (
            info["Channel"] == "System"
            and event_id == "104"
            and info["Provider"] == "Microsoft-Windows-Eventlog"
        ):
            account = f"{user_data.get('SubjectDomainName', '')}\\{user_data.get('SubjectUserName', '')}"
            groups["log-cleared"].add((day, info["Computer"], user_data.get("Channel", ""), account))
            hosts["log-cleared"].add(info["Computer"])
        if info["Channel"] == "System" and event_id == "7045" and info["Provider"] == "Service Control Manager":
            key = (data.get("ServiceName", ""), data.get("ImagePath", ""), data.get("AccountName", ""))
            groups["new-service"].add((day, info["Computer"]) + key)
            hosts["new-service"].add(info["Computer"])
        if security and event_id == "4697":
            key = (data.get("ServiceName", ""), data.get("ServiceFileName", ""), data.get("ServiceAccount", ""))
            groups["new-service"].add((day, info["Computer"]) + key)
            hosts["new-service"].add(info["Computer"])
        if security and event_id == "4688" and SUSPICIOUS_COMMAND.search(data.get("CommandLine", "")):
            rows["suspicious-process"][day] += 1
            hosts["suspicious-process"].add(info["Computer"])
        if security and event_id in ("4720", "4732", "4728", "4756"):
            sid = data.get("TargetSid", "")
            group = data.get("TargetUserName", "")
            if (
                event_id == "4720"
                or sid in PRIVILEGED_SIDS
                or sid.endswith(("-512", "-518", "-519"))
                or group.lower() in PRIVILEGED_GROUPS
            ):
                rows["account-created-or-made-admin"][day] += 1
                hosts["account-created-or-made-admin"].add(info["Computer"])

    for (day, address, computer), count in failures.items():
        if count >= 20:
            groups["rdp-brute-force"].add((day, address, computer))
            hosts["rdp-brute-force"].add(computer)

    results = {rule: len(keys) for rule, keys in groups.items()}
    for rule, per_day in rows.items():
        results[rule] = sum(min(count, ALERTS_PER_RUN_CAP) for count in per_day.values())
    for rule in sorted(set(results) | set(hosts)):
        print(f"{rule}\t{results.get(rule, 0)}\t{','.join(sorted(hosts[rule]))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
