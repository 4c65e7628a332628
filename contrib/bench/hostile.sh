#!/bin/bash
# hostile benchmark: what hostile peers cost. N connections (HOSTILE_N,
# default 1000) that never log in, never read and send 1-byte text frames
# as fast as they can (each earns an error answer that must be queued),
# first against upstaged, then against upstage-relay; prints each one's
# peak RSS (VmHWM) and how long the spammers took to be closed. Figures
# only: exits non-zero when something failed, never because a number is
# big.
#
#   contrib/bench/hostile.sh BUILD_DIR        (CI smoke: HOSTILE_N=100)
# Target: 1,000 hostile peers hold far less than the ~10 MiB each they
# could pin before the pre-login budget (about 824 MiB for 100 peers).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
N=${HOSTILE_N:-1000}
UPSTAGED=$BUILD/agent/upstaged
RELAY=$BUILD/contrib/relay/upstage-relay
HOSTILE=$BUILD/tests/e2e/hostile
for b in "$UPSTAGED" "$RELAY" "$HOSTILE"; do
	[ -x "$b" ] || { echo "hostile: $b not built" >&2; exit 1; }
done
D=$(mktemp -d "${TMPDIR:-/tmp}/upstage-hostile.XXXXXX")
AGENT_PID=
RELAY_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null || true
	[ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# port_of FILE WHAT: the port of the "listening" line in FILE.
port_of() {
	local p
	for _ in $(seq 1 200); do
		grep -q '^listening' "$1" && break
		sleep 0.05
	done
	p=$(sed -n 's|^listening ws://.*:\([0-9]*\)$|\1|p' "$1")
	[ -n "$p" ] || { echo "hostile: $2 did not start" >&2; exit 1; }
	echo "$p"
}

# spam NAME PID URL: N spammers against the program NAME (pid PID) at URL;
# prints what they did, how long they took to be closed and NAME's peak
# RSS.
spam() {
	local name=$1 pid=$2 url=$3 base out t0 t1 hwm
	base=$(rss_kib "$pid")
	t0=$(date +%s%N)
	out=$("$HOSTILE" --url "$url" --connections "$N" --mode spam --timeout 60)
	t1=$(date +%s%N)
	hwm=$(hwm_kib "$pid")
	kill -0 "$pid" || { echo "hostile: $name died" >&2; exit 1; }
	printf '  %-40s %s MiB\n' "$name RSS before:" "$((base / 1024))"
	echo "  $N spammers (no login, never read):    $out"
	echo "    all closed after:                      $(((t1 - t0) / 1000000)) ms"
	printf '    %-38s %s MiB (%s KiB per peer above the base)\n' \
		"$name peak RSS (VmHWM):" "$((hwm / 1024))" \
		"$(((hwm - base) / N))"
}

echo "client c-$RANDOM$RANDOM" >"$D/auth"
LIMITS=(--max-sessions $((N * 2 + 16)) --max-pending-sessions $((N + 16)))
echo "hostile benchmark, $N connections, loopback"
"$UPSTAGED" --listen 127.0.0.1:0 --data-dir "$D/data" --auth-file "$D/auth" \
	--log-level error "${LIMITS[@]}" >"$D/agent.out" 2>"$D/agent.err" &
AGENT_PID=$!
spam upstaged "$AGENT_PID" "ws://127.0.0.1:$(port_of "$D/agent.out" upstaged)"

# The same against the relay (nothing linked: the spammers never get
# that far).
"$RELAY" --listen 127.0.0.1:0 --auth-file "$D/auth" --log-level error \
	"${LIMITS[@]}" >"$D/relay.out" 2>"$D/relay.err" &
RELAY_PID=$!
spam upstage-relay "$RELAY_PID" \
	"ws://127.0.0.1:$(port_of "$D/relay.out" upstage-relay)"
