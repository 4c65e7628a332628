#!/bin/bash
# Authentication: wrong or missing tokens are exit 3, directly against
# upstaged with an auth file and through the relay; upstaged refuses to
# listen on a non-loopback address without an auth file.
. "$(dirname "$0")/lib.sh" "$@"

write_auth "$T/auth"
echo "$CLIENT_TOKEN" >"$T/client.token"
echo "wrong-$CLIENT_TOKEN" >"$T/wrong.token"

# Directly against upstaged.
start_upstaged agent --listen 127.0.0.1:0 --auth-file "$T/auth"
URL=ws://127.0.0.1:$PORT
cli 3 wrong --agent "$URL" --token "wrong-$CLIENT_TOKEN" ping
cli 3 none --agent "$URL" ping
cli 3 wrong-file --agent "$URL" --token-file "$T/wrong.token" ping
# A valid token of another role does not make a client.
cli 3 plugin-token --agent "$URL" --token "$PLUGIN_TOKEN" ping
UPSTAGE_TOKEN=nope cli 3 wrong-env --agent "$URL" ping
cli 0 right --agent "$URL" --token "$CLIENT_TOKEN" ping
cli 0 right-file --agent "$URL" --token-file "$T/client.token" info
UPSTAGE_TOKEN=$CLIENT_TOKEN cli 0 right-env --agent "$URL" ping

# Through the relay (upstaged linked, so only the token decides).
start_relay relay "$T/auth"
RURL=ws://127.0.0.1:$PORT
start_upstaged linked --listen 127.0.0.1:0 \
	$(link_args "${RURL##*:}" "$T/auth.plugin")
await relay '^plugin linked$'
cli 3 relay-wrong --agent "$RURL" --token "wrong-$CLIENT_TOKEN" ping
cli 3 relay-none --agent "$RURL" ping
cli 3 relay-plugin-token --agent "$RURL" --token "$PLUGIN_TOKEN" ping
cli 0 relay-right --agent "$RURL" --token "$CLIENT_TOKEN" ping

# upstaged with a wrong controller token never links.
echo "wrong-$PLUGIN_TOKEN" >"$T/wrong.plugin"
start_relay relay2 "$T/auth"
start_upstaged badlink --listen 127.0.0.1:0 \
	$(link_args "$PORT" "$T/wrong.plugin")
await relay2.err 'login failed \(role plugin\)'
cli 0 badlink-info --agent "ws://127.0.0.1:$(port_of badlink)" --json info
expect_match "$OUT" '"controller-link": *"disconnected"' \
	"a wrong plugin token does not link"
! grep -q '^plugin linked$' "$T/relay2.out" ||
	fail "relay linked a plugin with a wrong token"

# No auth file and a non-loopback address: refuse before binding.
mkdir -p "$T/data-open"
run '1|2' open "$UPSTAGED" --listen 0.0.0.0:0 --data-dir "$T/data-open"
expect_match "$ERR" 'auth' "the refusal mentions the auth file"
! grep -q '^listening' "$T/open.stdout" || fail "upstaged listened on 0.0.0.0"

# The relay has no anonymous mode at all.
run 2 relay-noauth "$RELAY" --listen 127.0.0.1:0

stop agent TERM 2000
stop linked TERM 2000
stop relay TERM 2000
