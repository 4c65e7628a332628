#!/bin/bash
# Hostile peers against the relay (hostile.c), as hostile_peers.sh does
# against upstaged: each kind is closed in the time its limit says, while
# upstaged stays linked and a client with a token is served.
#   spam   not logged in, never reads, sends 1-byte frames: dropped once
#          its answers pass half of the pre-login budget;
#   idle   never logs in, sends nothing: closed at the login deadline
#          (3 s: longer than the throttled login below has to wait);
#   chat   never logs in, sends a refused request every 200 ms (which kept
#          it alive before): closed at the login deadline all the same;
#   flood  logged in, stops reading, floods requests: reads paused, then
#          dropped after stuck-timeout (or at a full queue). Run before
#          upstaged links, so the relay answers each request itself
#          (unavailable) as fast as upstaged would; relay_flood.sh floods
#          through the link;
#   many   more connections without a token than max-pending-sessions:
#          the oldest make room, so an operator still gets in.
# And failed logins: throttled per address, reported once per interval;
# and upgrades: only on "/" with version 13, plain HTTP 404/405.
. "$(dirname "$0")/lib.sh" "$@"

command -v jq >/dev/null || fail "jq is needed"
command -v curl >/dev/null || fail "curl is needed"
HOSTILE=$(find_bin hostile tests/e2e/hostile)
write_auth "$T/auth"
start_relay relay "$T/auth" 127.0.0.1:0 --login-timeout 3 \
	--stuck-timeout 2 --max-pending-sessions 20
RP=$PORT
URL=ws://127.0.0.1:$RP
TOK=(--token "$CLIENT_TOKEN")

hostile_run spam spam 10
# Each of the ten was dropped for its budget, before the login deadline
# (how soon depends on how fast the relay answers, so on the machine's
# load: the log says why each went).
[ "$(grep -c "not logged in and not reading" "$T/relay.err")" -ge 10 ] ||
	fail "spam: not every one dropped for its budget"
[ "$SLOWEST" -lt 3000 ] ||
	fail "spam: closed after $SLOWEST ms, not before the login deadline"
hostile_run idle idle 10
[ "$SLOWEST" -ge 2900 ] && [ "$SLOWEST" -lt 5500 ] ||
	fail "idle: closed after $SLOWEST ms, not at the 3 s login deadline"
hostile_run chat chat 10
[ "$SLOWEST" -ge 2900 ] && [ "$SLOWEST" -lt 5500 ] ||
	fail "chat: closed after $SLOWEST ms, not at the 3 s login deadline"
# The relay learns that a flooder does not read only once the kernel's
# buffers towards it are full (megabytes of answers): allow for a loaded
# machine.
WAIT=45 hostile_run flood flood 3 "${TOK[@]}"
[ "$SLOWEST" -lt 40000 ] || fail "flood: closed only after $SLOWEST ms"
grep -Eq "reads none of its|output queue is full" "$T/relay.err" ||
	fail "flood: not dropped as a client that does not read"

start_upstaged agent --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await relay '^plugin linked$'

# More pending connections than the cap, held while an operator logs in.
hostile_crowd "$T/relay.err" 20

# Failed logins, against a second relay with the default 10 s login
# deadline (this one's 3 s would close a login that has to wait 3.2 s):
# after the free ones the address waits, even with the right token; the
# CLI waits with it once and gets in; the failures are reported with
# their count. Each wrong CLI counts exactly one failure (a told one waits
# and fails after), so eleven leave a 3.2 s wait that the next CLI meets
# however slowly it starts.
start_relay gate "$T/auth" 127.0.0.1:0
GATE=ws://127.0.0.1:$PORT
start_upstaged behind-gate --listen 127.0.0.1:0 \
	$(link_args "${GATE##*:}" "$T/auth.plugin")
await gate '^plugin linked$'
for i in $(seq 1 11); do
	cli 3 "wrong-$i" --agent "$GATE" --token "wrong-$i" ping
done
cli 0 right-after --agent "$GATE" "${TOK[@]}" --debug ping
expect_match "$ERR" '"busy"|retry-ms' "a throttled login is told to wait"
await gate.err 'failed logins from [^ ]*127\.0\.0\.1 in the last 10 s' 25
stop behind-gate TERM 3000
stop gate TERM 2000

# Upgrades only on "/" with version 13; plain HTTP finds nothing.
UPGRADE=(-H 'Upgrade: websocket' -H 'Connection: Upgrade'
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$@" || true; }
[ "$(code "${UPGRADE[@]}" -H 'Sec-WebSocket-Version: 13' \
	"http://127.0.0.1:$RP/elsewhere")" = 404 ] ||
	fail "an upgrade on another path was not refused with 404"
[ "$(code "${UPGRADE[@]}" -H 'Sec-WebSocket-Version: 8' \
	"http://127.0.0.1:$RP/")" = 400 ] ||
	fail "an upgrade with version 8 was not refused with 400"
[ "$(code "http://127.0.0.1:$RP/healthz")" = 404 ] || fail "GET: not 404"
[ "$(code -X DELETE "http://127.0.0.1:$RP/")" = 405 ] || fail "DELETE: not 405"
run 0 head curl -sI -m 5 "http://127.0.0.1:$RP/"
expect_match "$OUT" '^HTTP/1.1 404' "HEAD is 404"
expect_match "$OUT" '[Cc]ontent-[Ll]ength: 0' "HEAD has no body"

alive relay || fail "relay died"
alive agent || fail "upstaged died"
[ "$(grep -c '^plugin linked$' "$T/relay.out")" -eq 1 ] ||
	fail "the controller link dropped"
cli 0 info --agent "$URL" "${TOK[@]}" --json info
stop agent TERM 3000
stop relay TERM 2000
