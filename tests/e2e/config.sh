#!/bin/bash
# upstaged's configuration: --help, a YAML file with the flags' keys, and
# errors that name the offending key.
. "$(dirname "$0")/lib.sh" "$@"

run 0 help "$UPSTAGED" --help
expect_match "$OUT$ERR" '--listen' "--help lists --listen"
expect_match "$OUT$ERR" '--config' "--help lists --config"
run 2 bad-flag "$UPSTAGED" --no-such-flag

# Unknown key: exit 2, the key named.
printf 'listen: 127.0.0.1:0\nbogus-key: 1\n' >"$T/unknown.yaml"
run 2 unknown "$UPSTAGED" --config "$T/unknown.yaml" --data-dir "$T/d1"
expect_match "$ERR" 'bogus-key' "the unknown key is named"

# A bad value: exit 2, the key named.
printf 'listen: not-an-address\n' >"$T/badvalue.yaml"
run 2 badvalue "$UPSTAGED" --config "$T/badvalue.yaml" --data-dir "$T/d2"
expect_match "$ERR" 'listen' "the key with the bad value is named"

# Not YAML at all, and a missing file.
printf 'listen: [unclosed\n' >"$T/broken.yaml"
run 2 broken "$UPSTAGED" --config "$T/broken.yaml" --data-dir "$T/d3"
run '1|2' missing "$UPSTAGED" --config "$T/no-such.yaml"

# A good file: same keys as the flags.
mkdir -p "$T/data-conf"
cat >"$T/good.yaml" <<YAML
listen: 127.0.0.1:0
data-dir: $T/data-conf
log-level: info
YAML
start conf "$UPSTAGED" --config "$T/good.yaml"
await conf '^listening ws://127\.0\.0\.1:[0-9]+$'
cli 0 conf-ping --agent "ws://127.0.0.1:$(port_of conf)" ping
stop conf TERM 2000
