#!/bin/bash
# CLI -> upstaged over plain ws on loopback: ping and info work and report
# what they should; a port nobody listens on is exit 3; a server that
# answers the upgrade with a redirect is not followed (a plain client sets
# up no TLS, and the redirect could lead to wss): exit 3 at once, saying
# why (a followed one ended in the timeout).
. "$(dirname "$0")/lib.sh" "$@"

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT

cli 0 ping --agent "$URL" ping
cli 0 info --agent "$URL" info
expect_match "$OUT" '0\.1\.0' "info shows the server version"

cli 0 info-json --agent "$URL" --json info
expect_match "$OUT" '"server-version": *"0\.1\.0"' "info --json server-version"
# Our own connection is one of the client sessions it counts.
expect_match "$OUT" '"client": *[1-9][0-9]*' "info --json sessions.client >= 1"
expect_match "$OUT" '"controller-link": *"disabled"' \
	"info --json controller-link without --controller"
expect_match "$OUT" '"uptime-seconds": *[0-9]+' "info --json uptime"

# The agent URL also comes from the environment.
UPSTAGE_AGENT=$URL cli 0 ping-env ping

# Ping --json is still an object.
cli 0 ping-json --agent "$URL" --json ping
expect_match "$OUT" '^[[:space:]]*[{]' "ping --json prints JSON"

# Nothing listens on port 1: cannot connect is exit 3.
cli 3 refused --agent ws://127.0.0.1:1 ping

# A redirect, even to this very upstaged, is not followed.
start redirector python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(5)
print("listening ws://127.0.0.1:%d" % s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + sys.argv[1].encode() +
              b"\r\nContent-Length: 0\r\n\r\n")
    c.close()
' "$URL/"
await redirector '^listening ws://'
run 3 redirected "$UPSTAGE" --timeout 8 --agent \
	"ws://127.0.0.1:$(port_of redirector)" ping
expect_match "$ERR" 'not 101' "the redirect refused, saying why"
kill "$(pid_of redirector)"
# A URL that is not ws/wss is a usage error.
cli 2 bad-url --agent http://127.0.0.1:1 ping
cli 2 no-command --agent "$URL"
cli 2 unknown-command --agent "$URL" no-such-command

alive agent || fail "upstaged died"
stop agent TERM 2000
