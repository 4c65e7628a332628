#!/bin/bash
# The flood through the relay: the flooder stops reading, so the relay
# pauses reading it once its answers pass half its queue, and hangs up on
# it when the queue is full or after --stuck-timeout (5 s here; 30 s by
# default, which with a slow upstaged under the sanitizers could outlast
# the flooder's patience); the relay, upstaged and the controller link all
# stay up, and other clients keep being served.
# upstaged's link pauses reading (lws_rx_flow_control) while its answers
# back up, rather than dropping the link.
. "$(dirname "$0")/lib.sh" "$@"

N=${UPS_E2E_FLOOD:-200000}
write_auth "$T/auth"
start_relay relay "$T/auth" 127.0.0.1:0 --stuck-timeout 5
RP=$PORT
RURL=ws://127.0.0.1:$RP
start_upstaged linked --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await relay '^plugin linked$'
WAIT=90 run 0 flood "$WS_ABUSE" --url "$RURL" --token "$CLIENT_TOKEN" \
	--flood "$N"
alive relay || fail "relay died under the flood"
alive linked || fail "upstaged died under the relayed flood"
# upstaged answers the link in order, so once this answer is back it has
# worked through the flooder's backlog (up to the relay's 64 MiB link
# queue of requests): allow for that under the sanitizers.
WAIT=120 cli 0 ping-after --timeout 90 --agent "$RURL" --token "$CLIENT_TOKEN" ping
! grep -q '^plugin unlinked$' "$T/relay.out" ||
	fail "one flooding client took the controller link down"
stop linked TERM 2000
stop relay TERM 2000
