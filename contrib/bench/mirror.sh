#!/bin/bash
# mirror benchmark: one MIRROR_MB (default 1024) MiB agent binary synced
# from a local directory into upstaged A, then mirrored from A's HTTP
# (its published simplestreams) into upstaged B with
# sync-agent-binary --source http://..., in the same run, MIRROR_RUNS
# times (default 3, a fresh B each time): MiB/s of each, and their ratio.
# Each run does it twice: with both sources' files dropped from the page
# cache first (both read from disk, as after a reboot or for a file
# stored a while ago), then with both cached. upstaged stores with
# O_DIRECT, so A's file is cold after the first sync while the local
# tarball, just written, is cached: comparing those two would set a disk
# read against a memory read. Exits non-zero only when something failed,
# never because a figure is slow.
#
#   contrib/bench/mirror.sh BUILD_DIR        (CI smoke: MIRROR_MB=64
#                                             MIRROR_RUNS=1)
# Target: mirror >= 0.8 x the local sync.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
MB=${MIRROR_MB:-1024}
RUNS=${MIRROR_RUNS:-3}
UPSTAGED=$BUILD/agent/upstaged
UPSTAGE=$BUILD/contrib/cli/upstage
for b in "$UPSTAGED" "$UPSTAGE"; do
	[ -x "$b" ] || { echo "mirror: $b not built" >&2; exit 1; }
done
D=$(mktemp -d "${TMPDIR:-/tmp}/upstage-mirror.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT
BENCH=mirror
. "$(dirname "$0")/lib.sh"
mibps() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f", b / 1048576 / (ms / 1000) }'; }

# start NAME: an upstaged with data under D/NAME; sets PORT.
start() {
	"$UPSTAGED" --data-dir "$D/$1" --listen 127.0.0.1:0 --log-level warn \
		>"$D/$1.out" 2>"$D/$1.err" &
	PIDS+=($!)
	wait_line "$D/$1.out" '^listening ws://' 1 30
	PORT=$(sed -n 's/^listening ws:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$D/$1.out")
}
# cache cold|hot FILE...: drops the files from the page cache, or reads
# them into it.
cache() {
	local how=$1 f
	shift
	for f in "$@"; do
		if [ "$how" = cold ]; then
			dd if="$f" iflag=nocache count=0 status=none
		else
			cat "$f" >/dev/null
		fi
	done
}
# sync NAME PORT SOURCE: one sync, its wall milliseconds in MS.
sync_into() {
	local t0
	t0=$(now_ms)
	"$UPSTAGE" --agent "ws://127.0.0.1:$2" --token x sync-agent-binary \
		--source "$3" --agent-version 2.9 >"$D/$1.sync" 2>&1 ||
		{ cat "$D/$1.sync" >&2; exit 1; }
	MS=$(($(now_ms) - t0))
}

mkdir -p "$D/src"
head -c "$((MB * 1024 * 1024))" /dev/urandom >"$D/src/juju-2.9.1-ubuntu-amd64.tgz"
sync "$D/src/juju-2.9.1-ubuntu-amd64.tgz" # written back: droppable
BYTES=$(stat -c %s "$D/src/juju-2.9.1-ubuntu-amd64.tgz")
echo "mirror: one $MB MiB binary, $RUNS runs, loopback, one CPU pair shared by all"
declare -A locals mirrors ratios
SRC=$D/src/juju-2.9.1-ubuntu-amd64.tgz
for r in $(seq 1 "$RUNS"); do
	for how in cold hot; do
		start "a$r$how"
		a=$PORT
		cache "$how" "$SRC"
		sync_into "a$r$how" "$a" "$D/src"
		local_ms=$MS
		start "b$r$how"
		cache "$how" "$D/a$r$how"/tools/released/*.tgz
		sync_into "b$r$how" "$PORT" "http://127.0.0.1:$a"
		mirror_ms=$MS
		grep -q '^uploaded 2.9.1-ubuntu-amd64' "$D/b$r$how.sync" ||
			{ echo "mirror: run $r did not upload" >&2; cat "$D/b$r$how.sync" >&2; exit 1; }
		l=$(mibps "$BYTES" "$local_ms")
		m=$(mibps "$BYTES" "$mirror_ms")
		q=$(awk -v a="$m" -v b="$l" 'BEGIN { printf "%.2f", a / b }')
		locals[$how]+="$l " mirrors[$how]+="$m " ratios[$how]+="$q "
		echo "  run $r, sources $how: local sync $l MiB/s, mirror $m MiB/s, ratio $q"
		for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
		wait 2>/dev/null || true
		PIDS=()
		rm -rf "$D/a$r$how" "$D/b$r$how"
	done
done
for how in cold hot; do
	echo "  sources $how: local sync MiB/s: ${locals[$how]}"
	echo "  sources $how: mirror MiB/s:     ${mirrors[$how]}"
	echo "  sources $how: mirror / local:   ${ratios[$how]}(target >= 0.8)"
done
