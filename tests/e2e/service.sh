#!/bin/bash
# Running as a system service: the systemd notifications (READY=1, STATUS=,
# WATCHDOG=1 while the loop lives, RELOADING=1/READY=1 around SIGHUP,
# STOPPING=1), checked with a socket of our own as NOTIFY_SOCKET; SIGHUP
# reloads the auth file and the log level, keeps the old tokens when the
# new file is bad and names what needs a restart; --log-format json.
. "$(dirname "$0")/lib.sh" "$@"

command -v jq >/dev/null || fail "jq is needed"
SINK=$(find_bin notify_sink tests/e2e/notify_sink)
start sink "$SINK" "$T/notify.sock"
await sink '^listening$'

write_auth "$T/auth"
OLD=$CLIENT_TOKEN
cat >"$T/upstaged.yaml" <<YAML
listen: 127.0.0.1:0
data-dir: $T/data
auth-file: $T/auth
log-level: info
YAML
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=200000 \
	start agent "$UPSTAGED" --config "$T/upstaged.yaml"
await agent '^listening ws://'
PORT=$(port_of agent)
URL=ws://127.0.0.1:$PORT

await sink '^READY=1$'
await sink '^STATUS=[0-9]+ sessions'
# The watchdog is fed every 100 ms while the loop lives.
poll_until 5 "WATCHDOG=1 sent again and again" \
	eval '[ "$(grep -c "^WATCHDOG=1$" "$T/sink.out")" -ge 5 ]'
cli 0 ping-old --agent "$URL" --token "$OLD" ping

# SIGHUP with a new auth file: the old token stops working at once.
write_auth "$T/auth"
NEW=$CLIENT_TOKEN
[ "$NEW" != "$OLD" ] || fail "the test made the same token twice"
kill -HUP "$(pid_of agent)"
await agent.err 'tokens read again'
await sink '^RELOADING=1$'
cli 3 ping-old-after --agent "$URL" --token "$OLD" ping
cli 0 ping-new --agent "$URL" --token "$NEW" ping

# A bad auth file: refused, the tokens loaded before still work.
echo "nonsense-without-a-token" >"$T/auth"
kill -HUP "$(pid_of agent)"
await agent.err 'keeping the tokens loaded before'
cli 0 ping-kept --agent "$URL" --token "$NEW" ping

# The log level from the file, applied; a key that needs a restart is
# named instead.
write_auth "$T/auth"
NEWER=$CLIENT_TOKEN
sed -i 's/^log-level: info$/log-level: debug/' "$T/upstaged.yaml"
echo "max-sessions: 77" >>"$T/upstaged.yaml"
kill -HUP "$(pid_of agent)"
await agent.err 'reload: log-level applied'
await agent.err 'reload: max-sessions changed; it takes effect after a restart'
cli 0 ping-debug --agent "$URL" --token "$NEWER" ping
await agent.err 'DEBUG dispatch: peer [0-9]+: Agent\.Ping -> ok'

stop agent TERM 3000
await sink '^STOPPING=1$'

# JSON logs: every line of the log is one JSON object.
start_upstaged json --listen 127.0.0.1:0 --log-format json
cli 0 ping-json --agent "ws://127.0.0.1:$PORT" ping
stop json TERM 3000
lines=$(grep -c . "$T/json.err")
[ "$lines" -gt 2 ] || fail "json: too few log lines"
jq -e -s 'all(.[]; has("ts") and has("level") and has("module") and has("msg"))' \
	"$T/json.err" >/dev/null || fail "json: not every line is a log object"
