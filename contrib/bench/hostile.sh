#!/bin/bash
# hostile benchmark: what hostile peers cost. N connections (HOSTILE_N,
# default 1000) that never log in, never read and send 1-byte text frames
# as fast as they can (each earns an error answer that must be queued),
# then N that log in and do nothing; prints upstaged's peak RSS (VmHWM)
# under each and how long the spammers took to be closed. Figures only:
# exits non-zero when something failed, never because a number is big.
#
#   contrib/bench/hostile.sh BUILD_DIR        (CI smoke: HOSTILE_N=100)
# Target (issue 8): 1,000 hostile peers hold far less than the ~10 MiB
# each they could pin before (about 824 MiB for 100 peers).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
N=${HOSTILE_N:-1000}
UPSTAGED=$BUILD/agent/upstaged
HOSTILE=$BUILD/tests/e2e/hostile
for b in "$UPSTAGED" "$HOSTILE"; do
	[ -x "$b" ] || { echo "hostile: $b not built" >&2; exit 1; }
done
D=$(mktemp -d "${TMPDIR:-/tmp}/upstage-hostile.XXXXXX")
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

echo "client c-$RANDOM$RANDOM" >"$D/auth"
TOKEN=$(awk '{print $2}' "$D/auth")
"$UPSTAGED" --listen 127.0.0.1:0 --data-dir "$D/data" --auth-file "$D/auth" \
	--log-level error --max-sessions $((N * 2 + 16)) \
	--max-pending-sessions $((N + 16)) >"$D/agent.out" 2>"$D/agent.err" &
AGENT_PID=$!
for _ in $(seq 1 200); do
	grep -q '^listening' "$D/agent.out" && break
	sleep 0.05
done
PORT=$(sed -n 's|^listening ws://.*:\([0-9]*\)$|\1|p' "$D/agent.out")
[ -n "$PORT" ] || { echo "hostile: upstaged did not start" >&2; exit 1; }
URL=ws://127.0.0.1:$PORT
BASE=$(rss_kib "$AGENT_PID")

t0=$(date +%s%N)
SPAM=$("$HOSTILE" --url "$URL" --connections "$N" --mode spam --timeout 60)
t1=$(date +%s%N)
SPAM_HWM=$(hwm_kib "$AGENT_PID")
kill -0 "$AGENT_PID" || { echo "hostile: upstaged died" >&2; exit 1; }

echo "hostile benchmark, $N connections, loopback"
echo "  upstaged RSS before:                     $((BASE / 1024)) MiB"
echo "  $N spammers (no login, never read):    $SPAM"
echo "    all closed after:                      $(((t1 - t0) / 1000000)) ms"
echo "    upstaged peak RSS (VmHWM):             $((SPAM_HWM / 1024)) MiB ($(( (SPAM_HWM - BASE) / N )) KiB per peer above the base)"
