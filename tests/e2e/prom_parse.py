#!/usr/bin/env python3
"""Parses a Prometheus text exposition (stdin) with the reference parser
of the Python client (python3-prometheus-client), checks the naming
conventions of the families, and prints one JSON object: "name{k=v,...}"
-> value for every sample (labels sorted). Exits 1 on a parse error or a
family that breaks a convention (a counter not named ..._total, a unit in
a name other than _bytes or _seconds, HELP missing)."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
out = {}
bad = []
try:
    for fam in text_string_to_metric_families(text):
        if not fam.documentation:
            bad.append(f"{fam.name}: no HELP")
        if fam.type == "counter":
            # The parser strips _total from the family name; every sample
            # of a counter must carry it.
            for s in fam.samples:
                if not (s.name.endswith("_total") or s.name.endswith("_created")):
                    bad.append(f"{s.name}: a counter not named _total")
        for word in ("_ms", "_millis", "_kb", "_mb", "_kib", "_mib"):
            if word in fam.name:
                bad.append(f"{fam.name}: use base units (_bytes, _seconds)")
        for s in fam.samples:
            key = s.name + "{" + ",".join(
                f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
            out[key] = s.value
except Exception as e:  # the parser raises ValueError and friends
    print(f"parse error: {e}", file=sys.stderr)
    sys.exit(1)
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
print(json.dumps(out, sort_keys=True))
