#!/bin/bash
# A raw client sends >= 200 malformed frames and envelopes straight to
# upstaged (ws_abuse checks each typed error); upstaged stays up and still
# serves a good client.
. "$(dirname "$0")/lib.sh" "$@"

write_auth "$T/auth"
start_upstaged agent --listen 127.0.0.1:0 --auth-file "$T/auth"
URL=ws://127.0.0.1:$PORT

run 0 abuse "$WS_ABUSE" --url "$URL" --token "$CLIENT_TOKEN" --auth
expect_match "$OUT" 'malformed sent' "ws_abuse summary"
log "$OUT"
alive agent || fail "upstaged died under abuse"
cli 0 ping-after --agent "$URL" --token "$CLIENT_TOKEN" ping
cli 0 info-after --agent "$URL" --token "$CLIENT_TOKEN" --json info

# Without an auth file (loopback only) any token logs in; the rest holds.
start_upstaged open --listen 127.0.0.1:0
run 0 abuse-open "$WS_ABUSE" --url "ws://127.0.0.1:$PORT"
cli 0 ping-open --agent "ws://127.0.0.1:$PORT" ping

stop agent TERM 2000
stop open TERM 2000
