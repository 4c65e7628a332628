#!/bin/bash
# The same abuse through the relay: first with no upstaged linked (every
# well-formed request is `unavailable`), then linked (answers come from
# upstaged, routed back by origin). Both stay up and serve afterwards.
. "$(dirname "$0")/lib.sh" "$@"

write_auth "$T/auth"
start_relay relay "$T/auth"
RP=$PORT
RURL=ws://127.0.0.1:$RP

run 0 abuse-unlinked "$WS_ABUSE" --url "$RURL" --token "$CLIENT_TOKEN" \
	--auth --unavailable
log "$OUT"

start_upstaged agent --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await relay '^plugin linked$'
run 0 abuse-linked "$WS_ABUSE" --url "$RURL" --token "$CLIENT_TOKEN" --auth
log "$OUT"

alive relay || fail "relay died under abuse"
alive agent || fail "upstaged died under abuse"
cli 0 ping-after --agent "$RURL" --token "$CLIENT_TOKEN" ping
cli 0 info-after --agent "$RURL" --token "$CLIENT_TOKEN" --json info
expect_match "$OUT" '"controller-link": *"connected"' "link survived"
[ "$(grep -c '^plugin linked$' "$T/relay.out")" -eq 1 ] ||
	fail "the link dropped during the abuse"

stop agent TERM 2000
stop relay TERM 2000
