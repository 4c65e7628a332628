#!/bin/bash
# SIGTERM and SIGINT: upstaged and the relay exit 0 within 2 s, idle, with
# a connected client, and with the controller link up.
. "$(dirname "$0")/lib.sh" "$@"

write_auth "$T/auth"

# Idle upstaged.
start_upstaged idle --listen 127.0.0.1:0
stop idle TERM 2000
start_upstaged idle-int --listen 127.0.0.1:0
stop idle-int INT 2000

# upstaged with a client connected: the client sees the close.
start_upstaged busy --listen 127.0.0.1:0
start holder "$WS_ABUSE" --url "ws://127.0.0.1:$PORT" --hold
await holder '^holding$'
stop busy TERM 2000
wait_exit holder 5
[ "$EXIT_STATUS" -eq 0 ] || fail "the held client saw something wrong"

start_upstaged busy-int --listen 127.0.0.1:0
start holder2 "$WS_ABUSE" --url "ws://127.0.0.1:$PORT" --hold
await holder2 '^holding$'
stop busy-int INT 2000
wait_exit holder2 5

# Controller link up, a client held through the relay.
start_relay relay "$T/auth"
RP=$PORT
start_upstaged linked --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await relay '^plugin linked$'
start holder3 "$WS_ABUSE" --url "ws://127.0.0.1:$RP" --token "$CLIENT_TOKEN" \
	--hold
await holder3 '^holding$'
stop linked TERM 2000
await relay '^plugin unlinked$'

start_upstaged linked2 --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await linked2 '^controller link up$'
stop linked2 INT 2000

# The relay with a client connected and upstaged linked.
start_upstaged linked3 --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await linked3 '^controller link up$'
stop relay TERM 2000
wait_exit holder3 5
[ "$EXIT_STATUS" -eq 0 ] || fail "the client held via the relay"
alive linked3 || fail "upstaged died when the relay stopped"
stop linked3 TERM 2000

# And the relay on SIGINT, with a client and a link.
start_relay relay2 "$T/auth"
start_upstaged linked4 --listen 127.0.0.1:0 \
	$(link_args "$(port_of relay2)" "$T/auth.plugin")
await relay2 '^plugin linked$'
start holder4 "$WS_ABUSE" --url "ws://127.0.0.1:$(port_of relay2)" \
	--token "$CLIENT_TOKEN" --hold
await holder4 '^holding$'
stop relay2 INT 2000
wait_exit holder4 5
stop linked4 TERM 2000
