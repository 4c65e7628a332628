#!/bin/bash
# CLI -> relay -> upstaged over the controller link upstaged dialled.
. "$(dirname "$0")/lib.sh" "$@"

write_auth "$T/auth"
echo "$CLIENT_TOKEN" >"$T/client.token"

start_relay relay "$T/auth"
RP=$PORT
start_upstaged agent --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
AP=$PORT
await relay '^plugin linked$'
await agent '^controller link up$'

RURL=ws://127.0.0.1:$RP
cli 0 ping --agent "$RURL" --token "$CLIENT_TOKEN" ping
cli 0 info --agent "$RURL" --token "$CLIENT_TOKEN" --json info
expect_match "$OUT" '"server-version": *"0\.1\.0"' "info via the relay"
expect_match "$OUT" '"controller-link": *"connected"' \
	"info via the relay: controller-link"
expect_match "$OUT" '"client": *[1-9]' "relayed client counted"
cli 0 token-file --agent "$RURL" --token-file "$T/client.token" ping
UPSTAGE_TOKEN=$CLIENT_TOKEN cli 0 token-env --agent "$RURL" ping
# The machine role logs in too, and its requests reach upstaged (ws_abuse
# --hold pings after login, then waits: it stays connected).
start machine "$WS_ABUSE" --url "$RURL" --role machine \
	--token "$MACHINE_TOKEN" --hold
await machine '^holding$'
cli 0 info-machine --agent "$RURL" --token "$CLIENT_TOKEN" --json info
expect_match "$OUT" '"machine": *[1-9]' "the relayed machine is counted"

# The relay's own metrics (parsed by the Prometheus client's parser):
# the link is up, one client... the held machine, bytes moved both ways.
rmetrics() {
	curl -sf "http://127.0.0.1:$RP/metrics" |
		/usr/bin/python3 "$(dirname "$0")/prom_parse.py" >"$T/rm.json" ||
		fail "relay /metrics does not parse"
}
rm_val() { jq -r --arg k "$1" '.[$k] // empty | floor' "$T/rm.json"; }
rmetrics
[ "$(rm_val 'upstage_relay_link_up{}')" = 1 ] || fail "relay metrics: link not up"
[ "$(rm_val 'upstage_relay_connections{role=plugin}')" = 1 ] || fail "relay metrics: no plugin"
[ "$(rm_val 'upstage_relay_connections{role=machine}')" = 1 ] || fail "relay metrics: machines $(rm_val 'upstage_relay_connections{role=machine}')"
[ "$(rm_val 'upstage_relay_received_bytes_total{from=peers}')" -gt 0 ] || fail "relay metrics: nothing from peers"
[ "$(rm_val 'upstage_relay_received_bytes_total{from=upstaged}')" -gt 0 ] || fail "relay metrics: nothing from upstaged"
[ "$(rm_val 'upstage_relay_link_changes_total{}')" = 1 ] || fail "relay metrics: link changes"
up_bytes=$(rm_val 'upstage_relay_received_bytes_total{from=upstaged}')
# HEAD answers with the length a GET has (twice on one connection: the
# connection stays usable).
[ "$(curl -s -w '%{http_code} ' -o /dev/null -I "http://127.0.0.1:$RP/metrics" -o /dev/null -I "http://127.0.0.1:$RP/metrics")" = "200 200 " ] ||
	fail "relay HEAD /metrics"
grep -Eiq '^content-length: [1-9][0-9]*' <<<"$(curl -sI "http://127.0.0.1:$RP/metrics")" ||
	fail "relay HEAD /metrics: no content-length"

# upstaged's own listener still works and knows about the link.
cli 0 direct --agent "ws://127.0.0.1:$AP" --json info
expect_match "$OUT" '"controller-link": *"connected"' "direct info: link"

# A second upstaged with the same plugin token is refused (one link at a
# time); the first stays linked and keeps serving.
start_upstaged agent2 --listen 127.0.0.1:0 \
	$(link_args "$RP" "$T/auth.plugin")
await relay.err 'refused a second plugin link'
cli 0 info-agent2 --agent "ws://127.0.0.1:$PORT" --json info
expect_match "$OUT" '"controller-link": *"disconnected"' \
	"second upstaged is not linked"
[ "$(grep -c '^plugin linked$' "$T/relay.out")" -eq 1 ] ||
	fail "relay linked a second plugin"
cli 0 ping-after --agent "$RURL" --token "$CLIENT_TOKEN" ping
stop agent2 TERM 2000

# upstaged gone: the relay answers `unavailable`. The login succeeds (the
# relay answers it), so this is either "operation failed" or "cannot
# reach upstaged"; the code must be shown either way.
stop agent TERM 2000
await relay '^plugin unlinked$'
rmetrics
[ "$(rm_val 'upstage_relay_link_up{}')" = 0 ] || fail "relay metrics: link still up"
[ "$(rm_val 'upstage_relay_link_changes_total{}')" = 2 ] || fail "relay metrics: link changes after unlink"
[ "$(rm_val 'upstage_relay_received_bytes_total{from=upstaged}')" -ge "$up_bytes" ] || fail "relay metrics: a counter went back"
cli '1|3' unavailable --agent "$RURL" --token "$CLIENT_TOKEN" ping
expect_match "$OUT$ERR" 'unavailable' "the error code is printed"
alive relay || fail "relay died"

# A new upstaged links: the relay announces the connections it already
# has (Relay.Opened), so the held machine is counted again, and requests
# flow again.
start_upstaged agent3 --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await agent3 '^controller link up$'
cli 0 info-relinked --agent "$RURL" --token "$CLIENT_TOKEN" --json info
expect_match "$OUT" '"machine": *1[,}]' "existing machine announced on relink"
alive machine || fail "the machine connection did not survive the relink"

# The machine goes away: Relay.Closed tells upstaged.
kill -TERM "$(pid_of machine)"
wait_exit machine 5
cli 0 info-closed --agent "$RURL" --token "$CLIENT_TOKEN" --json info
expect_match "$OUT" '"machine": *0[,}]' "Relay.Closed reached upstaged"

stop agent3 TERM 2000
stop relay TERM 2000
