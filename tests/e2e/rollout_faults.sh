#!/usr/bin/env bash
# Rollouts that go wrong, on simulated fleets (four (release, arch)
# groups):
# 1. every machine fails its health check: the canaries fail, the rollout
#    pauses with the reason, one machine per group was ordered and no
#    other; the fleet comes back healthy, resume retries the canaries and
#    the rollout completes (upgrade-status --watch exits 0);
# 2. 30% of downloads fail verification, no canaries, budget 2: paused
#    with the failures listed once the budget is exceeded; abort ends it
#    (aborted) and no order is sent after;
# 3. machines go silent on their orders: they time out after the machine
#    deadline, count as failures, and pause the rollout;
# 4. --on-budget rollback: past the budget every machine that reached the
#    target is ordered back, one revert order each, none left on it;
# 5. upgrade-rollback after a completed rollout: every machine back, the
#    controller's agent version with them.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins

N=80
write_auth "$T/auth"
start_upstaged up --auth-file "$T/auth" --listen 127.0.0.1:0 \
	--max-sessions $((N + 100))
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")
SRC=$T/src
for v in 2.9.1 2.9.2 2.9.3; do
	for a in amd64 arm64; do make_agent_tarball "$SRC" "$v-ubuntu-$a" 8; done
done
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9

# fleet NAME EXTRA...: a fresh fleet of N machines at 2.9.0.
fleet() {
	local name=$1
	shift
	start "$name" "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
		--token "$MACHINE_TOKEN" --machines $N --release focal,jammy \
		--arch amd64,arm64 --version 2.9.0 --id-prefix m- --work-ms 0 \
		--report "$T/$name.jsonl" --backoff-initial-ms 100 \
		--backoff-max-ms 1000 "$@"
	await "$name" "^registered $N\$" 60
}
orders() { grep -c '"event":"order"' "$T/$1.jsonl" || true; }
status() { cli 0 "st-$1" "${AGENT[@]}" upgrade-status --json; }

# 1. Failing canaries.
fleet sick --fail-health 1 --seed 1
WAIT=60 cli 1 canary "${AGENT[@]}" upgrade-controller --agent-version 2.9.1 \
	--min-healthy 0 --wait
expect_match "$OUT" 'rollout r-1: paused.*canary m-[0-9]+ failed: .*never healthy' "paused on a canary"
poll_until 10 "the canaries' report" bash -c \
	"[ \$(grep -c '\"state\":\"failed\"' '$T/sick.jsonl') -ge 4 ]"
[ "$(orders sick)" -eq 4 ] || fail "$(orders sick) orders, expected the 4 canaries"
jq -s '[.[] | select(.event == "order") | ."machine-id"] | sort' \
	"$T/sick.jsonl" >"$T/canaries.json"
[ "$(jq -c . "$T/canaries.json")" = '["m-0","m-1","m-2","m-3"]' ] ||
	fail "not one canary per group: $(jq -c . "$T/canaries.json")"
status 1
[ "$(jq -r .rollout.state <<<"$OUT")" = paused ] || fail "not paused"
[ "$(jq '.rollout.failures | length' <<<"$OUT")" -eq 4 ] || fail "failures not listed"
cli 0 list1 "${AGENT[@]}" list-machines --json
[ "$(jq -r '.[] | select(."machine-id" == "m-0") | .rollout' <<<"$OUT")" = failed ] ||
	fail "list-machines does not show m-0 failed in the rollout"
[ "$(jq -r '.[] | select(."machine-id" == "m-9") | .rollout' <<<"$OUT")" = pending ] ||
	fail "list-machines does not show m-9 pending in the rollout"
# The cause is fixed: a healthy fleet; resume retries and completes.
stop sick TERM 5000
fleet well
start watch "$UPSTAGE" --timeout 10 "${AGENT[@]}" upgrade-status --watch
await watch '^rollout    r-1$'
cli 0 resume "${AGENT[@]}" upgrade-resume r-1
wait_exit watch 60
[ "$EXIT_STATUS" -eq 0 ] || fail "upgrade-status --watch: exit $EXIT_STATUS"
grep -Eq "rollout r-1: completed.*upgraded $N/$N" "$T/watch.out" ||
	fail "watch did not see the rollout complete: $(tail -3 "$T/watch.out")"
stop well TERM 5000

# 2. The failure budget.
fleet flaky --fail-verify 0.3 --seed 5
WAIT=60 cli 1 budget "${AGENT[@]}" upgrade-controller --agent-version 2.9.2 \
	--canary 0 --batch 20% --failure-budget 2 --min-healthy 0 --wait
expect_match "$OUT" 'rollout r-2: paused.*failure budget exceeded: [3-9][0-9]* failed \(budget 2\)' "budget exceeded"
expect_match "$OUT" 'machine m-[0-9]+: failed: .*checksum-mismatch' "failures listed"
cli 0 abort "${AGENT[@]}" upgrade-abort
expect_match "$OUT" 'rollout r-2: abort(ing|ed)' "abort"
poll_until 30 "r-2 aborted" bash -c \
	"'$UPSTAGE' --timeout 10 ${AGENT[*]} upgrade-status r-2 --json | jq -e '.rollout.state == \"aborted\"' >/dev/null"
n=$(orders flaky)
status 2
[ "$(jq -r .rollout.counts.pending <<<"$OUT")" -gt 0 ] || fail "nothing was left pending"
# No tick after the abort orders anything (the tick runs every second).
sleep 2.5
[ "$(orders flaky)" -eq "$n" ] || fail "orders were sent after the abort"
stop flaky TERM 5000

# 3. Silent machines time out.
fleet mute --silent 1 --seed 2
WAIT=60 cli 1 silent "${AGENT[@]}" upgrade-controller --agent-version 2.9.3 \
	--select release=focal --min-healthy 0 --machine-deadline 2s --wait
expect_match "$OUT" 'rollout r-3: paused.*canary m-[0-9]+ timed-out: not healthy within its deadline' "silent canary"
status 3
[ "$(jq -r '.rollout.counts."timed-out"' <<<"$OUT")" -eq 2 ] || fail "not two timed-out canaries (focal amd64, arm64)"
[ "$(jq -r .rollout.machines <<<"$OUT")" -eq $((N / 2)) ] || fail "the selector took $(jq -r .rollout.machines <<<"$OUT") machines"
cli 0 abort3 "${AGENT[@]}" upgrade-abort
stop mute TERM 5000

# 4. On budget exceeded, roll back: every machine that reached 2.9.3 is
#    ordered back to 2.9.0; none is left at 2.9.3.
fleet back --fail-verify 0.3 --seed 5
WAIT=60 cli 1 rollback "${AGENT[@]}" upgrade-controller --agent-version 2.9.3 \
	--canary 0 --batch 20% --failure-budget 2 --on-budget rollback \
	--min-healthy 0 --wait
expect_match "$OUT" 'rollout r-4: rolled-back.*reverted [1-9][0-9]*, revert-failed 0: failure budget exceeded' "rolled back"
cli 0 list4 "${AGENT[@]}" list-machines --json
[ "$(jq '[.[] | select(.version == "2.9.3")] | length' <<<"$OUT")" -eq 0 ] ||
	fail "machines left at 2.9.3 after the rollback: $(jq -c '[.[] | select(.version == "2.9.3") | {"machine-id", state, rollout, order}]' <<<"$OUT" | head -c 1500)"
status 4
reverted=$(jq -r .rollout.counts.reverted <<<"$OUT")
poll_until 10 "the revert orders in the report" bash -c \
	"[ \$(grep -c '\"kind\":\"revert\"' '$T/back.jsonl') -ge $reverted ]"
[ "$(jq -s '[.[] | select(.event == "order" and .kind == "revert")] | length' "$T/back.jsonl")" -eq "$reverted" ] ||
	fail "not one revert order per reverted machine"
stop back TERM 5000

# 5. upgrade-rollback by hand after a rollout completed; the
#    controller's agent version goes back with it.
fleet fine
WAIT=60 cli 0 done5 "${AGENT[@]}" upgrade-controller --agent-version 2.9.2 \
	--batch 50% --min-healthy 0 --wait
cli 0 info5 "${AGENT[@]}" info --json
[ "$(jq -r '."agent-version"' <<<"$OUT")" = 2.9.2 ] || fail "agent version not 2.9.2"
cli 0 rb5 "${AGENT[@]}" upgrade-rollback
expect_match "$OUT" 'rollout r-5: rolling-back' "rolling back by hand"
poll_until 60 "r-5 rolled back" bash -c \
	"'$UPSTAGE' --timeout 10 ${AGENT[*]} upgrade-status r-5 --json | jq -e '.rollout.state == \"rolled-back\"' >/dev/null"
status 5
[ "$(jq -r .rollout.counts.reverted <<<"$OUT")" -eq $N ] ||
	fail "not every machine reverted: $(jq -c .rollout.counts <<<"$OUT")"
cli 0 list5 "${AGENT[@]}" list-machines --json
[ "$(jq '[.[] | select(.version != "2.9.0")] | length' <<<"$OUT")" -eq 0 ] ||
	fail "machines not back at 2.9.0"
cli 0 info6 "${AGENT[@]}" info --json
[ "$(jq -r '."agent-version"' <<<"$OUT")" = 2.9.0 ] ||
	fail "agent version not back to 2.9.0: $(jq -r '."agent-version"' <<<"$OUT")"
cli 1 rb6 "${AGENT[@]}" upgrade-rollback
expect_match "$ERR" 'conflict.*rolled-back' "no second rollback"
# Older rollouts come from the journal.
cli 0 old1 "${AGENT[@]}" upgrade-status r-1 --json
[ "$(jq -r '.rollout.state + " " + (.rollout.counts.upgraded | tostring)' <<<"$OUT")" = "completed $N" ] ||
	fail "r-1 from the journal: $(jq -c .rollout.counts <<<"$OUT")"
cli 0 old2 "${AGENT[@]}" upgrade-status r-2
expect_match "$OUT" 'state +aborted' "r-2 from the journal"
cli 1 old99 "${AGENT[@]}" upgrade-status r-99
expect_match "$ERR" 'not-found.*r-99' "an unknown rollout"

stop fine TERM 5000
stop up TERM 5000
