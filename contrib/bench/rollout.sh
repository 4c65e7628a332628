#!/bin/bash
# rollout benchmark: MACHINES simulated machine agents (upstage-fleet, four
# release x arch groups, no simulated work) registered with one upstaged on
# loopback, then one whole staged rollout to 2.9.1 (upgrade-controller
# --batch 10% --min-healthy 0 --wait):
#   - wall seconds of the rollout (the CLI's --wait, start to completed),
#   - upstaged's CPU seconds over it (utime + stime from /proc/PID/stat),
#   - upstaged's peak RSS (VmHWM, the whole run),
#   - journal write transactions and rows written, as upstaged counts
#     them and logs them when the rollout ends ("journal: W writes, R
#     rows since upstaged started"; the rollout is its first),
#   - orders the fleet received (its report; an order sent again after a
#     reconnection counts again) and how many machines got one.
# Then (ROLLBACK=1, the default) the same fleet comes back at 2.9.1 with
# 5% of machines failing their health check (upstage-fleet --fail-health
# 0.05), and a rollout to 2.9.2 with --canary 0 --failure-budget 1%
# --on-budget rollback runs until it is rolled back:
#   - seconds from its start until upstaged saw the budget exceeded
#     (rolling -> rolling-back in its log),
#   - seconds of the rollback, from there to rolled-back,
#   - machines failed, reverted and revert-failed; none may be left on
#     2.9.2 (list-machines), else the benchmark fails.
# Exits non-zero only when something failed (the rollout did not
# complete), never because a figure is slow.
#
#   contrib/bench/rollout.sh BUILD_DIR      (MACHINES=10000 by default;
#                                            CI smoke: MACHINES=1000;
#                                            UPSTAGED_ARGS: more flags;
#                                            ROLLBACK=0: skip the
#                                            rollback run;
#                                            PERF=1: perf record -g of
#                                            upstaged over the rollout,
#                                            top symbols printed)
# Target (the rollout issue): the whole rollout <= 60 s for 10,000
# machines. Mind the open-files hard limit: upstaged and the fleet each
# hold one socket per machine (see machines.sh).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
N=${MACHINES:-10000}
UPSTAGED=$BUILD/agent/upstaged
FLEET=$BUILD/contrib/fleet/upstage-fleet
CLI=$BUILD/contrib/cli/upstage
for b in "$UPSTAGED" "$FLEET" "$CLI"; do
	[ -x "$b" ] || { echo "rollout: $b not built" >&2; exit 1; }
done
# One socket per machine in each process, plus files and slack.
need=$((N + 512))
if [ "$(ulimit -n)" -lt "$need" ]; then
	ulimit -n "$need" 2>/dev/null || {
		echo "rollout: open files limit $(ulimit -Hn) < $need" >&2
		exit 1
	}
fi

D=$(mktemp -d "${TMPDIR:-/tmp}/upstage-rollout.XXXXXX")
UP_PID= FLEET_PID= PERF_PID=
cleanup() {
	[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null || true
	[ -n "$UP_PID" ] && kill -9 "$UP_PID" 2>/dev/null || true
	[ -n "$FLEET_PID" ] && kill "$FLEET_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	[ -n "${KEEP_D:-}" ] || rm -rf "$D"
}
trap cleanup EXIT

BENCH=rollout
. "$(dirname "$0")/lib.sh"

"$UPSTAGED" --listen 127.0.0.1:0 --data-dir "$D/data" \
	--max-sessions $((N + 100)) --agent-version 2.9.0 --log-level info \
	${UPSTAGED_ARGS:-} >"$D/up.out" 2>"$D/up.err" &
UP_PID=$!
wait_line "$D/up.out" '^listening ws://' 1 30
PORT=$(sed -n 's|^listening ws://.*:\([0-9]*\)$|\1|p' "$D/up.out")
AGENT=(--agent "ws://127.0.0.1:$PORT" --token bench)

# Two small agent binaries, as a real sync stores them.
mkdir -p "$D/src" "$D/tar"
printf '#!/bin/sh\necho 2.9.1\n' >"$D/tar/jujud"
chmod 755 "$D/tar/jujud"
head -c 16384 /dev/urandom >"$D/tar/payload"
for v in 2.9.1 2.9.2; do
	for a in amd64 arm64; do
		tar -C "$D/tar" -czf "$D/src/juju-$v-ubuntu-$a.tgz" jujud payload
	done
done
"$CLI" "${AGENT[@]}" sync-agent-binary --source "$D/src" \
	--agent-version 2.9 >"$D/sync.out" 2>"$D/sync.err" || {
	echo "rollout: sync-agent-binary failed" >&2
	cat "$D/sync.err" >&2
	exit 1
}

t0=$(now_ms)
"$FLEET" --agent "ws://127.0.0.1:$PORT" --token bench --machines "$N" \
	--release focal,jammy --arch amd64,arm64 --version 2.9.0 \
	--work-ms 0 --report "$D/fleet.jsonl" \
	>"$D/fleet.out" 2>"$D/fleet.err" &
FLEET_PID=$!
wait_line "$D/fleet.out" "^registered $N\$" 1 300
t_reg=$(($(now_ms) - t0))
sleep 1

if [ -n "${PERF:-}" ]; then
	perf record -g -o "$D/perf.data" -p "$UP_PID" \
		>"$D/perf.out" 2>"$D/perf.err" &
	PERF_PID=$!
	sleep 0.5
fi
c0=$(cpu_ticks "$UP_PID")
t1=$(now_ms)
rc=0
# --wait follows without a deadline of its own: bound it here.
timeout "${ROLLOUT_LIMIT_S:-1200}" "$CLI" "${AGENT[@]}" upgrade-controller \
	--agent-version 2.9.1 --batch 10% --min-healthy 0 --wait >"$D/roll.out" 2>"$D/roll.err" || rc=$?
t_roll=$(($(now_ms) - t1))
c1=$(cpu_ticks "$UP_PID")
if [ -n "$PERF_PID" ]; then
	kill -INT "$PERF_PID"
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=
fi
hz=$(getconf CLK_TCK)
hwm=$(hwm_kib "$UP_PID")
status=$(tail -n1 "$D/roll.out")
if [ "$rc" -ne 0 ] || ! grep -q ': completed,' <<<"$status"; then
	echo "rollout: did not complete (upgrade-controller exit $rc): $status" >&2
	tail -n5 "$D/roll.err" "$D/up.err" >&2 || true
	exit 1
fi

# The fleet flushes its report as it stops.
kill -TERM "$FLEET_PID"
wait "$FLEET_PID" 2>/dev/null || true
FLEET_PID=
orders=$(grep -c '"event":"order"' "$D/fleet.jsonl" || true)
ordered=$(jq -r 'select(.event == "order") | ."machine-id"' "$D/fleet.jsonl" |
	sort -u | wc -l)
# "rollout r-1: journal: W writes, R rows since upstaged started".
read -r writes rows < <(sed -n \
	's/.*rollout r-1: journal: \([0-9]*\) writes, \([0-9]*\) rows since.*/\1 \2/p' \
	"$D/up.err" | tail -n1) || true
stages=$(sed -n 's/.* on [0-9]* machines in [0-9]* groups, \([0-9]*\) stages.*/\1/p' \
	"$D/up.err" | head -n1)

awk -v n="$N" -v treg="$t_reg" -v troll="$t_roll" -v c0="$c0" -v c1="$c1" \
	-v hz="$hz" -v hwm="$hwm" -v rows="${rows:-?}" -v writes="${writes:-?}" \
	-v orders="$orders" -v ordered="$ordered" -v stages="${stages:-?}" \
	-v args="${UPSTAGED_ARGS:+; }${UPSTAGED_ARGS:-}" 'BEGIN {
	printf "rollout: %d simulated machines, 4 groups, --work-ms 0, one upstaged (loopback ws%s)\n", n, args
	printf "  all registered:                %.2f s\n", treg / 1000
	verdict = n < 10000 ? "not judged below 10,000 machines" : troll <= 60000 ? "met" : "NOT met"
	printf "  rollout (batch 10%%, %s stages): %.2f s wall (target <= 60 s for 10,000 machines: %s)\n", stages, troll / 1000, verdict
	printf "  upstaged CPU over the rollout:  %.2f s\n", (c1 - c0) / hz
	printf "  upstaged peak RSS (VmHWM):      %.1f MiB\n", hwm / 1024
	printf "  journal, as upstaged counts it: %s write transactions, %s rows written\n", writes, rows
	printf "  orders the fleet received:      %d, to %d machines\n", orders, ordered
}'
if [ -f "$D/perf.data" ]; then
	echo "  perf (upstaged over the rollout, top symbols, children excluded):"
	perf report -i "$D/perf.data" --no-children --stdio --sort symbol \
		2>/dev/null | grep -E '^ +[0-9]' | head -n 15 | sed 's/^/    /'
fi

[ "${ROLLBACK:-1}" = 1 ] || exit 0

# The rollback run: the fleet back at 2.9.1, 5% failing their health.
"$FLEET" --agent "ws://127.0.0.1:$PORT" --token bench --machines "$N" \
	--release focal,jammy --arch amd64,arm64 --version 2.9.1 \
	--work-ms 0 --fail-health 0.05 --seed 7 --report "$D/fleet2.jsonl" \
	>"$D/fleet2.out" 2>"$D/fleet2.err" &
FLEET_PID=$!
wait_line "$D/fleet2.out" "^registered $N\$" 1 300
sleep 1
rc=0
timeout "${ROLLOUT_LIMIT_S:-1200}" "$CLI" "${AGENT[@]}" upgrade-controller \
	--agent-version 2.9.2 --batch 10% --canary 0 --failure-budget 1% \
	--on-budget rollback --min-healthy 0 --wait \
	>"$D/roll2.out" 2>"$D/roll2.err" || rc=$?
status=$(tail -n1 "$D/roll2.out")
if ! grep -q ': rolled-back,' <<<"$status"; then
	echo "rollout: the rollback run did not end rolled back (exit $rc): $status" >&2
	tail -n5 "$D/roll2.err" "$D/up.err" >&2 || true
	exit 1
fi
left=$("$CLI" "${AGENT[@]}" --timeout 60 list-machines --json |
	jq '[.[] | select(.version == "2.9.2")] | length')
if [ "$left" -ne 0 ]; then
	echo "rollout: $left machines left on 2.9.2 after the rollback" >&2
	exit 1
fi
# The three moments, from upstaged's own log.
times=$(python3 - "$D/up.err" <<'PY'
import datetime, re, sys
marks = {"planned -> ": None, "rolling -> rolling-back": None,
         "rolling-back -> rolled-back": None}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+Z) INFO rollout: rollout r-2: (.*)", line)
    if not m:
        continue
    for k in marks:
        if m.group(2).startswith(k) and marks[k] is None:
            marks[k] = datetime.datetime.strptime(
                m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
a, b, c = marks.values()
print("%.2f %.2f" % ((b - a).total_seconds(), (c - b).total_seconds()))
PY
)
failed=$(sed -n 's/.*in flight [0-9]*, failed \([0-9]*\).*/\1/p' <<<"$status")
reverted=$(sed -n 's/.*reverted \([0-9]*\), revert-failed \([0-9]*\).*/\1 \2/p' <<<"$status")
read -r t_detect t_back <<<"$times"
read -r n_rev n_revfail <<<"$reverted"
printf "rollback: the same fleet at 2.9.1, 5%% failing health (--fail-health 0.05), to 2.9.2 with --canary 0 --failure-budget 1%% --on-budget rollback\n"
printf "  budget breach seen after:       %s s\n" "$t_detect"
printf "  rollback, breach to rolled-back: %s s\n" "$t_back"
printf "  machines failed: %s; reverted: %s; revert-failed: %s; left on 2.9.2: %s\n" \
	"$failed" "$n_rev" "$n_revfail" "$left"
