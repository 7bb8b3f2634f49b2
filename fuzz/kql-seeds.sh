#!/usr/bin/env bash
# Writes each query of the KQL conformance corpus to its own file in the
# folder given as the first argument, as seed inputs for the kql_parse and
# kql_plan fuzz targets. The corpus stays outside the repository; the
# second argument overrides its path.
set -euo pipefail

out=${1:?usage: kql-seeds.sh OUTPUT_FOLDER [CASES_JSONL]}
cases=${2:-"$(dirname "$0")/../../shared/corpus/kql-conformance/cases.jsonl"}

if [ ! -f "$cases" ]; then
    echo "note: $cases not found; the KQL fuzz targets start from the dictionary alone" >&2
    mkdir -p "$out"
    exit 0
fi
mkdir -p "$out"
python3 - "$cases" "$out" <<'PY'
import json
import pathlib
import sys

cases, out = sys.argv[1], pathlib.Path(sys.argv[2])
for number, line in enumerate(open(cases, encoding="utf-8")):
    if line.strip():
        query = json.loads(line)["query"]
        (out / f"case-{number:04}").write_text(query, encoding="utf-8")
PY
