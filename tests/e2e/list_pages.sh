#!/bin/bash
# Answers of any size: 300 stored binaries are more than one List answer
# can carry (64 KiB). list-agent-binaries follows the pages, directly and
# through the relay; through the relay, the link to upstaged stays up and
# another client's requests are served meanwhile.
. "$(dirname "$0")/lib.sh" "$@"

command -v jq >/dev/null || fail "jq is needed"
write_auth "$T/auth"
start_relay relay "$T/auth"
RP=$PORT
start_upstaged agent --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await relay '^plugin linked$'
await agent '^controller link up$'
URL=ws://127.0.0.1:$PORT
RURL=ws://127.0.0.1:$RP
TOK=(--token "$CLIENT_TOKEN")

BVS=()
for minor in $(seq 0 29); do
	for patch in $(seq 0 9); do BVS+=("2.$minor.$patch-ubuntu-amd64"); done
done
mkdir -p "$T/src"
for bv in "${BVS[@]}"; do echo "$bv" >"$T/src/juju-$bv.tgz"; done
# 300 commits, each publishing the metadata durably before its answer:
# the whole sync gets the 120 s its own timeout says, not run's WAIT.
WAIT=120 run 0 sync timeout 120 "$UPSTAGE" --timeout 60 --agent "$URL" --json \
	sync-agent-binary --source "$T/src" --agent-version 2
[ "$(grep -c '"status":"uploaded"' "$T/sync.stdout")" -eq 300 ] ||
	fail "expected 300 uploaded"

want=$(printf '%s\n' "${BVS[@]}" | sort -V)
for via in direct relay; do
	if [ $via = direct ]; then u=$URL; else u=$RURL; fi
	cli 0 "list-$via" --agent "$u" "${TOK[@]}" --json list-agent-binaries
	got=$(jq -r '.[]["binary-version"]' <<<"$OUT")
	[ "$got" = "$want" ] ||
		fail "$via: listed $(wc -l <<<"$got") binaries, not the 300 in version order"
	cli 0 "table-$via" --agent "$u" "${TOK[@]}" list-agent-binaries
	[ "$(grep -c -- '-ubuntu-amd64' <<<"$OUT")" -eq 300 ] ||
		fail "$via: the table does not show 300 rows"
done
# The link never went down, and the relay still serves everyone.
! grep -q "controller link down" "$T/agent.err" ||
	fail "upstaged's link to the relay went down"
cli 0 info --agent "$RURL" "${TOK[@]}" --json info
[ "$(jq -r '."controller-link"' <<<"$OUT")" = connected ] ||
	fail "link state: $OUT"
