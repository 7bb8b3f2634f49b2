"""Turns the EVTX samples (SAMPLES.jsonl, records rendered by python-evtx)
into the documents Winlogbeat 8 sends for the same events.

Usage: winlogbeat_documents.py SAMPLES.jsonl CHANNEL > documents.json

Winlogbeat reads events through the Windows API, which renders hexadecimal
values in short form (0x3e7) where python-evtx pads them
(0x00000000000003e7); the documents use the Windows form. Winlogbeat
sends the task name in winlog.task; the samples hold the number only, so
the documents carry the number (homesoc keeps a numeric task and leaves a
name out).

Records of samples__Security_with_size_t.evtx are left out: python-evtx
renders size_t values in decimal (532) where Windows renders hexadecimal
(0x214), and the samples do not keep the value types to convert them.
"""

import json
import re
import sys

HEX = re.compile(r"^0x0*([0-9a-fA-F]+)$")
LEVELS = {"0": "information", "1": "critical", "2": "error", "3": "warning", "4": "information", "5": "verbose"}


def windows_rendering(value):
    match = HEX.match(value)
    if match:
        return "0x" + match.group(1).lower()
    return value


def document(sample):
    system = sample["System"]
    event_id = system["EventID"]["#text"] if isinstance(system["EventID"], dict) else system["EventID"]
    winlog = {
        "channel": system.get("Channel"),
        "event_id": event_id,
        "provider_name": system["Provider"]["Name"],
        "computer_name": system["Computer"],
        "record_id": system["EventRecordID"],
        "task": system.get("Task", ""),
        "time_created": system["TimeCreated"]["SystemTime"],
        "api": "wineventlog",
    }
    user_id = (system.get("Security") or {}).get("UserID")
    if user_id:
        winlog["user"] = {"identifier": user_id}
    if "EventData" in sample and sample["EventData"] is not None:
        winlog["event_data"] = {name: windows_rendering(value or "") for name, value in sample["EventData"] if name}
    return {
        "@timestamp": system["TimeCreated"]["SystemTime"],
        "event": {"code": event_id, "kind": "event", "provider": system["Provider"]["Name"]},
        "log": {"level": LEVELS.get(system.get("Level", ""), "information")},
        "host": {"name": system["Computer"]},
        "agent": {"type": "winlogbeat", "version": "8.17.0"},
        "winlog": winlog,
    }


def main():
    path, channel = sys.argv[1], sys.argv[2]
    documents = []
    for line in open(path, encoding="utf-8"):
        sample = json.loads(line)
        if "size_t" in sample["file"]:
            continue
        if sample["System"].get("Channel") == channel and "EventData" in sample:
            documents.append({"file": sample["file"], "document": document(sample)})
    json.dump(documents, sys.stdout)


if __name__ == "__main__":
    main()
