#!/bin/bash
# The relay goes away while upstaged runs (cleanly, then by SIGKILL) and
# comes back on the same port: upstaged relinks by itself and requests
# through the relay work again.
. "$(dirname "$0")/lib.sh" "$@"

write_auth "$T/auth"
start_relay relay "$T/auth" "127.0.0.1:$(free_port)" # restarted on it
RP=$PORT
RURL=ws://127.0.0.1:$RP
start_upstaged agent --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
AP=$PORT
await relay '^plugin linked$'
cli 0 before --agent "$RURL" --token "$CLIENT_TOKEN" ping

for round in 1 2; do
	if [ "$round" = 1 ]; then
		stop relay TERM 2000
	else
		kill -KILL "$(pid_of relay)"
		wait_exit relay 5
	fi
	# While the relay is down, nothing answers on its port.
	cli 3 "down-$round" --agent "$RURL" --token "$CLIENT_TOKEN" ping
	# upstaged itself keeps serving and reports the link down.
	cli 0 "direct-$round" --agent "ws://127.0.0.1:$AP" --json info
	expect_match "$OUT" '"controller-link": *"disconnected"' \
		"link reported down (round $round)"

	start_relay relay "$T/auth" "127.0.0.1:$RP"
	[ "$PORT" = "$RP" ] || fail "relay came back on $PORT, not $RP"
	await relay '^plugin linked$'
	cli 0 "after-$round" --agent "$RURL" --token "$CLIENT_TOKEN" --json info
	expect_match "$OUT" '"controller-link": *"connected"' \
		"link up again (round $round)"
	alive agent || fail "upstaged died in round $round"
done
[ "$(grep -c '^controller link up$' "$T/agent.out")" -ge 3 ] ||
	fail "upstaged did not report the link up three times"

stop agent TERM 2000
stop relay TERM 2000
