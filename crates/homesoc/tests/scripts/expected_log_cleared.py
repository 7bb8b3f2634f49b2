#!/usr/bin/env python3
"""Work out the alerts of the "Security Event log cleared" rule over the
EVTX corpus with python-evtx (PyPI python-evtx 0.8.1), independently of
homesoc.

The rule runs daily over the previous day, so a backtest whose first run is
at a UTC midnight raises one alert per UTC day that has a Security-channel
event 1102 from the provider Microsoft-Windows-Eventlog. Each alert's
entities are the accounts (SubjectDomainName\\SubjectUserName) and the
computers of that day's events. Files with the same SHA-256 are read once,
as homesoc imports a file's content only once.

Usage: expected_log_cleared.py CORPUS_DIR
Prints one line per alert: DAY<TAB>ACCOUNTS<TAB>COMPUTERS (sorted, comma-joined).
"""

import hashlib
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import Evtx.Evtx as evtx

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"


def main(corpus: Path) -> None:
    seen = set()
    days = defaultdict(lambda: (set(), set()))
    for path in sorted(corpus.glob("*.evtx")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        with evtx.Evtx(str(path)) as log:
            for record in log.records():
                try:
                    root = ET.fromstring(record.xml())
                except Exception:
                    continue
                system = root.find(NS + "System")
                if system is None or system.findtext(NS + "EventID") != "1102":
                    continue
                if system.findtext(NS + "Channel") != "Security":
                    continue
                provider = system.find(NS + "Provider")
                if provider is None or provider.get("Name") != "Microsoft-Windows-Eventlog":
                    continue
                when = system.find(NS + "TimeCreated").get("SystemTime")
                computer = system.findtext(NS + "Computer")
                fields = {}
                for element in root.iter():
                    tag = element.tag.split("}")[-1]
                    if tag in ("SubjectDomainName", "SubjectUserName"):
                        fields[tag] = element.text or ""
                account = f"{fields.get('SubjectDomainName', '')}\\{fields.get('SubjectUserName', '')}"
                accounts, computers = days[when[:10]]
                accounts.add(account)
                computers.add(computer)
    for day in sorted(days):
        accounts, computers = days[day]
        print(f"{day}\t{','.join(sorted(accounts))}\t{','.join(sorted(computers))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
