#!/bin/bash
# A client that sends many requests and never reads the answers: upstaged's
# bounded output queue makes it hang up on that client, and it keeps
# serving everyone else.
. "$(dirname "$0")/lib.sh" "$@"

N=${UPS_E2E_FLOOD:-200000}
start_upstaged agent --listen 127.0.0.1:0
start other "$WS_ABUSE" --url "ws://127.0.0.1:$PORT" --hold
await other '^holding$'
WAIT=90 run 0 flood "$WS_ABUSE" --url "ws://127.0.0.1:$PORT" --flood "$N"
alive agent || fail "upstaged died under the flood"
alive other || fail "a well-behaved client was dropped too"
cli 0 ping-after --agent "ws://127.0.0.1:$PORT" ping
stop agent TERM 2000
wait_exit other 5
[ "$EXIT_STATUS" -eq 0 ] || fail "the well-behaved client saw a wrong answer"
