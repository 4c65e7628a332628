#!/usr/bin/env bash
# The layering of the tree, checked from the #include lines: every file's
# folder may include only the folders listed for it below, so includes
# run one way (agent: net -> rpc -> engines -> store -> proto). A
# reversed edge fails with the file, the line and the rule.
#
#   tests/layering/check.sh [ROOT]     (ROOT: the source tree, default ../..)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

# folder: the folders its files may include besides its own. plugins/*
# and contrib/* count as one folder each.
rules='
proto:
proto/net: proto
plugins: proto
agent/store: proto plugins
agent/ingest: proto plugins agent/store
agent/publish: proto plugins agent/store
agent/rollout: proto plugins agent/store agent/publish
agent/rpc: proto proto/net agent/ingest agent/store agent/publish agent/rollout
agent/net: proto proto/net agent/rpc agent/publish
agent: proto proto/net plugins agent/net agent/rpc agent/ingest agent/store agent/publish agent/rollout
contrib: proto proto/net contrib
'

files=$(find agent proto plugins contrib -name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || { echo "layering: no sources under $root"; exit 1; }
# shellcheck disable=SC2086
grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $files /dev/null |
awk -v rules="$rules" '
function folder(path,    d) {
	d = path
	sub(/\/[^\/]*$/, "", d)
	if (d == path) d = ""
	if (d ~ /^plugins(\/|$)/) return "plugins"
	if (d ~ /^contrib(\/|$)/) return "contrib"
	return d
}
BEGIN {
	n = split(rules, lines, "\n")
	for (i = 1; i <= n; i++) {
		if (lines[i] !~ /:/) continue
		k = lines[i]; sub(/:.*/, "", k)
		v = lines[i]; sub(/^[^:]*:[ ]*/, "", v)
		known[k] = 1
		m = split(v, allowed, " ")
		for (j = 1; j <= m; j++) ok[k, allowed[j]] = 1
		rule[k] = v
	}
}
{
	file = $0; sub(/:.*/, "", file)
	rest = substr($0, length(file) + 2)
	line = rest; sub(/:.*/, "", line)
	inc = rest; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
	if (inc !~ /^(agent|proto|plugins|contrib)\//) next
	src = folder(file); tgt = folder(inc)
	checked++
	if (!(src in known)) {
		if (!(src in told)) print "layering: " file ": folder " src " has no rule"
		told[src] = 1; bad = 1; next
	}
	if (src == tgt || ok[src, tgt]) next
	printf "layering: %s:%s includes \"%s\": %s may include only: %s\n", file, line, inc, src, (rule[src] == "" ? "itself" : rule[src])
	bad = 1
}
END {
	if (bad) { print "layering: FAILED"; exit 1 }
	printf "layering: ok (%d includes checked)\n", checked
}'
