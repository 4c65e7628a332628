#!/bin/bash
# machines benchmark: MACHINES simulated machine agents (upstage-fleet,
# four release x arch groups) connected to one upstaged on loopback, idle:
#   - time until all are registered,
#   - upstaged's RSS per connected machine (VmRSS with the fleet minus
#     VmRSS before it, divided by MACHINES),
#   - upstaged's CPU while the fleet idles for IDLE_SECONDS (heartbeats
#     only),
#   - time until all are registered again after upstaged is killed (-9)
#     and started again.
# Exits non-zero only when something failed, never because a figure is
# slow.
#
#   contrib/bench/machines.sh BUILD_DIR     (MACHINES=10000, IDLE_SECONDS=30
#                                            by default; CI smoke:
#                                            MACHINES=500 IDLE_SECONDS=5;
#                                            UPSTAGED_ARGS: more flags, e.g.
#                                            "--ping-interval 0")
# Targets: <= 16 KiB RSS per connected machine; all 10,000 registered
# within 30 s. Mind the open-files hard limit (20,000 here): upstaged and
# the fleet each hold one socket per machine, in two processes.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
N=${MACHINES:-10000}
IDLE=${IDLE_SECONDS:-30}
UPSTAGED=$BUILD/agent/upstaged
FLEET=$BUILD/contrib/fleet/upstage-fleet
for b in "$UPSTAGED" "$FLEET"; do
	[ -x "$b" ] || { echo "machines: $b not built" >&2; exit 1; }
done

D=$(mktemp -d "${TMPDIR:-/tmp}/upstage-machines.XXXXXX")
UP_PID= FLEET_PID=
cleanup() {
	[ -n "$UP_PID" ] && kill -9 "$UP_PID" 2>/dev/null || true
	[ -n "$FLEET_PID" ] && kill "$FLEET_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT

BENCH=machines
. "$(dirname "$0")/lib.sh"

start_up() {
	"$UPSTAGED" --listen "127.0.0.1:${PORT:-0}" --data-dir "$D/data" \
		--max-sessions $((N + 100)) --log-level warn \
		${UPSTAGED_ARGS:-} >"$D/up.out" 2>"$D/up.err" &
	UP_PID=$!
	wait_line "$D/up.out" '^listening ws://' 1 30
	PORT=$(sed -n 's|^listening ws://.*:\([0-9]*\)$|\1|p' "$D/up.out")
}

start_up
sleep 1
rss0=$(rss_kib "$UP_PID")
t0=$(now_ms)
"$FLEET" --agent "ws://127.0.0.1:$PORT" --token bench --machines "$N" \
	--release focal,jammy --arch amd64,arm64 --version 2.9.0 \
	>"$D/fleet.out" 2>"$D/fleet.err" &
FLEET_PID=$!
wait_line "$D/fleet.out" "^registered $N\$" 1 300
t_reg=$(($(now_ms) - t0))

# Settle, then the idle figures.
sleep 2
rss1=$(rss_kib "$UP_PID")
c0=$(cpu_ticks "$UP_PID")
sleep "$IDLE"
c1=$(cpu_ticks "$UP_PID")
rss2=$(rss_kib "$UP_PID")
hz=$(getconf CLK_TCK)
fleet_rss=$(rss_kib "$FLEET_PID")

# A crash and a restart: everyone back.
kill -9 "$UP_PID"
wait "$UP_PID" 2>/dev/null || true
UP_PID=
t1=$(now_ms)
start_up
wait_line "$D/fleet.out" "^registered $N\$" 2 300
t_rereg=$(($(now_ms) - t1))
rows=$(sqlite3 "$D/data/upstage.db" 'SELECT COUNT(*) FROM machines' 2>/dev/null || echo "?")

awk -v n="$N" -v rss0="$rss0" -v rss1="$rss1" -v rss2="$rss2" \
	-v c0="$c0" -v c1="$c1" -v hz="$hz" -v idle="$IDLE" \
	-v treg="$t_reg" -v trereg="$t_rereg" -v frss="$fleet_rss" \
	-v rows="$rows" -v args="${UPSTAGED_ARGS:+; }${UPSTAGED_ARGS:-}" 'BEGIN {
	per = (rss2 - rss0) / n
	printf "machines: %d simulated machines, 4 groups, one upstaged (loopback ws%s)\n", n, args
	printf "  all registered:                  %.2f s (target <= 30 s for 10,000)\n", treg / 1000
	printf "  upstaged RSS before / with fleet: %.1f MiB / %.1f MiB\n", rss0 / 1024, rss2 / 1024
	printf "  upstaged RSS per machine:        %.1f KiB (target <= 16 KiB)\n", per
	printf "  upstaged CPU while idle:         %.1f%% of one core over %d s\n", (c1 - c0) / hz / idle * 100, idle
	printf "  re-registered after kill -9:     %.2f s (registry rows: %s)\n", trereg / 1000, rows
	printf "  fleet RSS per machine:           %.1f KiB\n", frss / n
}'
