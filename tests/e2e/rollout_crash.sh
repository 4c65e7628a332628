#!/usr/bin/env bash
# A rollout survives kill -9: upgrade-controller on a simulated fleet of
# 500 machines (upstage-fleet, four (release, arch) groups), then upstaged
# is killed with -9 twenty times at moments drawn from a seeded RANDOM
# (ROLLOUT_CRASH_SEED, default 12345; 50..700 ms after each restart
# listens) and started again each time with the same data directory, port
# and flags. Left alone after that, the rollout completes: every machine
# runs the target, the counts say all 500 upgraded, and no machine was
# ever sent two different orders (the same order sent again after a
# restart is allowed: that is how a machine learns its order is still
# open). The state each kill left the rollout in is logged, from the
# journal as the next upstaged read it. Each machine spends WORK_MS
# (default 400) restarting and as long again in its health check: with
# the 20 ms of the other fleet tests the whole rollout takes about a
# second and nearly every kill would find it completed already; the test
# fails if fewer than half of the kills found it active.
#
# ROLLOUT_CRASH_MODE=rollback (e2e_rollout_crash_rollback): 5% of the
# machines fail their health check, no canaries, a budget of 8 and
# --on-budget rollback: the kills land in the batches and in the
# rollback, which must end rolled-back with every machine on 2.9.0 and
# no machine sent two different orders of one kind (its upgrade, then
# its revert).
. "$(dirname "$0")/lib.sh" "$@"
machine_bins

N=${ROLLOUT_MACHINES:-500}
KILLS=${ROLLOUT_KILLS:-20}
SEED=${ROLLOUT_CRASH_SEED:-12345}
WORK_MS=${ROLLOUT_WORK_MS:-400}
MODE=${ROLLOUT_CRASH_MODE:-upgrade}
fleet_faults=() roll_args=() WANT_STATE=completed WANT_VERSION=2.9.1
if [ "$MODE" = rollback ]; then
	fleet_faults=(--fail-health 0.05 --seed 9)
	roll_args=(--canary 0 --failure-budget 8 --on-budget rollback)
	WANT_STATE=rolled-back WANT_VERSION=2.9.0
fi
write_auth "$T/auth"
up_args=(--auth-file "$T/auth" --max-sessions $((N + 100))
	--agent-version 2.9.0 --log-level info)
start_upstaged up0 "${up_args[@]}" --listen "127.0.0.1:$(free_port)"
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")
SRC=$T/src
for a in amd64 arm64; do make_agent_tarball "$SRC" "2.9.1-ubuntu-$a" 16; done
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9

start fleet "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
	--token "$MACHINE_TOKEN" --machines "$N" --release focal,jammy \
	--arch amd64,arm64 --version 2.9.0 --id-prefix m- --work-ms "$WORK_MS" \
	--report "$T/fleet.jsonl" --backoff-initial-ms 50 --backoff-max-ms 500 \
	"${fleet_faults[@]}"
await fleet "^registered $N\$" 60

cli 0 roll "${AGENT[@]}" upgrade-controller --agent-version 2.9.1 \
	--batch 10% --min-healthy 0 "${roll_args[@]}"
expect_match "$OUT" '^rollout r-1: 2\.9\.1' "rollout started"

# The kill moments, drawn up front so nothing else that reads RANDOM
# changes them.
RANDOM=$SEED
delays=()
for ((k = 0; k < KILLS; k++)); do
	delays+=($((50 + RANDOM % 651)))
done
log "seed $SEED: kills after ${delays[*]} ms"

cur=up0
t0=$(date +%s%N)
for ((k = 1; k <= KILLS; k++)); do
	sleep "$(printf '0.%03d' "${delays[k - 1]}")"
	kill -KILL "$(pid_of "$cur")"
	wait_exit "$cur" 10
	[ "$EXIT_STATUS" -eq 137 ] ||
		fail "$cur exited with $EXIT_STATUS before kill $k"
	cur=up$k
	start "$cur" "$UPSTAGED" --data-dir "$T/data-up0" "${up_args[@]}" \
		--listen "127.0.0.1:$PORT"
	await "$cur" '^listening wss?://'
done
log "$KILLS kills in $((($(date +%s%N) - t0) / 1000000)) ms"

# Where each kill found the rollout: the journal as the next upstaged
# loaded it ("rollout r-1: STATE, N machines, stage S of M").
for ((k = 1; k <= KILLS; k++)); do
	sed -n 's/.*rollout r-1: \([a-z-]*\), [0-9]* machines, stage \([0-9]*\) of.*/\1 (stage \2)/p' \
		"$T/up$k.err" | head -n1
done >"$T/kill-states"
sort "$T/kill-states" | uniq -c | while read -r c s; do
	log "kills that left the rollout $s: $c"
done
active=$(grep -cEv '^(completed|failed|aborted|rolled-back) ' "$T/kill-states" || true)
# (A rollback ends sooner than a whole rollout: a quarter will do.)
need=$((KILLS / 2))
[ "$MODE" != rollback ] || need=$((KILLS / 4))
[ "$active" -ge "$need" ] ||
	fail "only $active of $KILLS kills found the rollout active: the fleet is too quick for the test (ROLLOUT_WORK_MS=$WORK_MS)"
grep -h 'resumed:' "$T"/up*.err | sed 's/^.*rollout r-1 resumed: //' |
	sort | uniq -c | sort -rn | head -n5 | while read -r line; do
	log "restarts: $line"
done || true

# Left alone, it completes.
completed() {
	local s
	s=$("$UPSTAGE" --timeout 10 "${AGENT[@]}" upgrade-status --json \
		2>/dev/null) || return 1
	STATE=$(jq -r .rollout.state <<<"$s")
	[ "$STATE" = "$WANT_STATE" ] && return 0
	case $STATE in
	completed | rolled-back | failed | aborted | paused)
		fail "rollout ended $STATE: $s" ;;
	esac
	return 1
}
t1=$(date +%s%N)
poll_until 300 "rollout $WANT_STATE after the kills" completed
log "$WANT_STATE $((($(date +%s%N) - t1) / 1000000)) ms after the last restart"
grep -q "rolling-back" "$T/kill-states" || [ "$MODE" != rollback ] ||
	fail "no kill landed in the rollback: $(tr '\n' ',' <"$T/kill-states")"

cli 0 st "${AGENT[@]}" upgrade-status --json
if [ "$MODE" = rollback ]; then
	[ "$(jq -r '.rollout.counts."revert-failed" // 0' <<<"$OUT")" -eq 0 ] &&
		[ "$(jq -r '.rollout.counts.reverted // 0' <<<"$OUT")" -gt 0 ] ||
		fail "rollback counts: $(jq -c .rollout.counts <<<"$OUT")"
else
	[ "$(jq -r .rollout.counts.upgraded <<<"$OUT")" -eq "$N" ] ||
		fail "upgraded $(jq -r .rollout.counts.upgraded <<<"$OUT") of $N: $(jq -c .rollout.counts <<<"$OUT")"
fi
cli 0 list "${AGENT[@]}" list-machines --json
[ "$(jq length <<<"$OUT")" -eq "$N" ] || fail "$(jq length <<<"$OUT") machines listed"
[ "$(jq --arg v "$WANT_VERSION" '[.[] | select(.version != $v)] | length' <<<"$OUT")" -eq 0 ] ||
	fail "machines not at $WANT_VERSION: $(jq -c --arg v "$WANT_VERSION" '[.[] | select(.version != $v) | ."machine-id"]' <<<"$OUT")"

# The fleet's report, flushed as it stops: every machine got an order,
# none got two different ones.
stop fleet TERM 10000
jq -s '[.[] | select(.event == "order")] |
	{machines: (group_by(."machine-id") | length),
	 sent: length,
	 twice: [group_by([."machine-id", .kind])[] |
		select((map(."order-id") | unique | length) > 1) |
		{id: .[0]."machine-id", kind: .[0].kind,
		 orders: (map(."order-id") | unique)}]}' \
	"$T/fleet.jsonl" >"$T/orders.json"
log "orders: $(jq -c '{machines, sent, "two-orders": (.twice | length)}' "$T/orders.json")"
[ "$(jq '.twice | length' "$T/orders.json")" -eq 0 ] ||
	fail "machines sent two different orders: $(jq -c '.twice[:5]' "$T/orders.json")"
[ "$MODE" = rollback ] || [ "$(jq .machines "$T/orders.json")" -eq "$N" ] ||
	fail "$(jq .machines "$T/orders.json") of $N machines got an order"
stop "$cur" TERM 5000
