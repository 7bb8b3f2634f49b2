#!/usr/bin/env python3
"""Cross-checks homesoc's Sigma compiler with pySigma's Kusto backend.

For every SigmaHQ regression case, converts rule.yml with pySigma and
pysigma-backend-kusto (no processing pipeline, so the query keeps Sigma's
field names), and runs on homesoc's engine, over the case's imported .evtx:

  homesoc:  the query `homesoc rules show --kql` prints;
  pySigma:  WindowsEvent | where <homesoc's channel/event id filter>
            | extend <each Sigma field, read from EventData as homesoc does>
            | where <pySigma's condition>

Both run with `| project TimeGenerated, EventRecordId, EventID` and must
return the same events. The log source filter and the field columns come
from homesoc on both sides (pySigma without a pipeline has neither), so the
check compares the translation of the detection logic.

Usage: sigma_pysigma_check.py HOMESOC_BINARY REGRESSION_DIR EXPLAINED_FILE
Prints one line per case and a summary; exits 1 when a difference is not
listed in EXPLAINED_FILE (a Markdown file whose lines `- `case`: ...`
name the explained cases).
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def run(binary, data_dir, *args):
    return subprocess.run(
        [binary, "--data-dir", data_dir, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def query_rows(binary, data_dir, kql):
    kql += "\n| project TimeGenerated, EventRecordId, EventID"
    result = run(binary, data_dir, "query", "--format", "json", kql)
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[0][:300] if result.stderr else "failed"
    rows = json.loads(result.stdout)["rows"]
    return sorted(json.dumps(row) for row in rows), None


def kql_string(text):
    return json.dumps(text)


def main():
    binary, regression_dir, explained_file = sys.argv[1:4]
    try:
        from sigma.backends.kusto import KustoBackend
        from sigma.collection import SigmaCollection
    except ImportError as error:
        print(f"error: pySigma is missing ({error}); install it with "
              "`pip install pysigma pysigma-backend-kusto`", file=sys.stderr)
        return 2
    explained = set(re.findall(r"^- `([^`]+)`", Path(explained_file).read_text(), re.M))
    backend = KustoBackend()
    same = converted = unexplained = 0
    cases = sorted(p for p in Path(regression_dir).iterdir() if (p / "rule.yml").exists())
    for case in cases:
        evtx = sorted(case.glob("*.evtx"))
        if not evtx:
            print(f"{case.name}: no .evtx recording, skipped")
            continue
        text = (case / "rule.yml").read_text()
        try:
            pysigma = backend.convert(SigmaCollection.from_yaml(text))[0]
        except Exception as error:  # pySigma refuses the rule
            print(f"{case.name}: pySigma cannot convert: {str(error).splitlines()[0]}")
            continue
        rule_id = re.search(r"^id:\s*(\S+)", text, re.M).group(1)
        with tempfile.TemporaryDirectory() as data_dir:
            shown = run(binary, data_dir, "rules", "show", "--rules", str(case / "rule.yml"),
                        rule_id, "--json")
            if shown.returncode != 0:
                print(f"{case.name}: homesoc cannot load the rule")
                continue
            converted += 1
            rule = json.loads(shown.stdout)
            sigma = rule["sigma"]
            extends = ", ".join(
                f"[{kql_string(field)}] = {expr}"
                for field, (_, expr) in zip(sigma["fields"], sigma["extends"])
            )
            theirs = f"WindowsEvent\n| where {sigma['filter']}"
            if extends:
                theirs += f"\n| extend {extends}"
            theirs += f"\n| where {pysigma}"
            run(binary, data_dir, "import", "evtx", "--json", str(evtx[0]))
            ours, our_error = query_rows(binary, data_dir, rule["query"])
            other, their_error = query_rows(binary, data_dir, theirs)
            if ours == other and our_error is None:
                same += 1
                print(f"{case.name}: same {len(ours)} events")
                continue
            detail = (
                f"homesoc {our_error or len(ours)}, pySigma {their_error or len(other)}"
            )
            mark = "explained" if case.name in explained else "UNEXPLAINED"
            if case.name not in explained:
                unexplained += 1
            print(f"{case.name}: DIFFERENT ({detail}), {mark}")
    print(f"pySigma cross-check: {same} of {converted} rules both convert match the same events; "
          f"{unexplained} unexplained differences")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
