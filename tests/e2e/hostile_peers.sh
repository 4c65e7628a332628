#!/bin/bash
# Hostile peers against upstaged (hostile.c): each kind is closed, in the
# time its limit says, and what it costs stays bounded; meanwhile a client
# with a token is served.
#   spam   not logged in, never reads, sends 1-byte frames: closed once its
#          answers pass half of the pre-login budget (well before the
#          login deadline);
#   idle   never logs in, sends nothing: closed at the login deadline;
#   chat   never logs in, sends a refused request every 200 ms (which kept
#          it alive before): closed at the login deadline all the same;
#   flood  logged in, stops reading, floods requests: reads paused, then
#          closed after stuck-timeout;
#   many   more connections without a token than max-pending-sessions:
#          the oldest make room, so an operator still gets in.
# And failed logins: throttled per address, reported once per interval.
. "$(dirname "$0")/lib.sh" "$@"

command -v jq >/dev/null || fail "jq is needed"
HOSTILE=$(find_bin hostile tests/e2e/hostile)
write_auth "$T/auth"
start_upstaged agent --listen 127.0.0.1:0 --auth-file "$T/auth" \
	--login-timeout 2 --stuck-timeout 2 --max-pending-sessions 20
URL=ws://127.0.0.1:$PORT
TOK=(--token "$CLIENT_TOKEN")

hostile_run spam spam 10
# Each of the ten was dropped for its budget, before the login deadline
# (how soon depends on how fast upstaged answers, so on the machine's
# load: the log says why each went).
[ "$(grep -c "not logged in and not reading" "$T/agent.err")" -ge 10 ] ||
	fail "spam: not every one dropped for its budget"
[ "$SLOWEST" -lt 2000 ] ||
	fail "spam: closed after $SLOWEST ms, not before the login deadline"
hostile_run idle idle 10
[ "$SLOWEST" -ge 1900 ] && [ "$SLOWEST" -lt 4500 ] ||
	fail "idle: closed after $SLOWEST ms, not at the 2 s login deadline"
hostile_run chat chat 10
[ "$SLOWEST" -ge 1900 ] && [ "$SLOWEST" -lt 4500 ] ||
	fail "chat: closed after $SLOWEST ms, not at the 2 s login deadline"
hostile_run flood flood 3 --token "$CLIENT_TOKEN"
[ "$SLOWEST" -lt 20000 ] || fail "flood: closed only after $SLOWEST ms"
grep -q "reads none of its" "$T/agent.err" ||
	fail "flood: not closed as a peer that does not read"

# More pending connections than the cap, held while an operator logs in.
hostile_crowd "$T/agent.err" 20

# Failed logins: after the free ones the address waits; the CLI waits
# with it once and gets in; the failures are reported with their count.
# (Each wrong try may itself wait once, so stop at the first one told.)
told=0
for i in $(seq 1 12); do
	cli 3 "wrong-$i" --agent "$URL" --token "wrong-$i" --debug ping
	if grep -q '"retry-ms"' "$T/wrong-$i.stderr"; then
		told=$i
		break
	fi
done
[ "$told" -gt 5 ] ||
	fail "a throttled login was never told to wait (or too early: $told)"
cli 0 right-after --agent "$URL" "${TOK[@]}" ping
await agent.err 'failed logins from [^ ]*127\.0\.0\.1 in the last 10 s' 25

alive agent || fail "upstaged died"
cli 0 info --agent "$URL" "${TOK[@]}" --json info
stop agent TERM 3000
