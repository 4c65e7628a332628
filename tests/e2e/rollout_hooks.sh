#!/usr/bin/env bash
# Hooks and health checks on simulated fleets (the real plugins, loaded by
# upstaged from the build tree):
# 1. hook-exec: an `any` hook records every event in order (with what it
#    got on stdin); a before-stage hook refuses stage 1 ("change freeze"):
#    the rollout pauses with the hook's output as its reason, shown by
#    upgrade-status, and no machine of stage 1 is ordered; once the hook
#    agrees, resume runs it again and the rollout completes; the events
#    come in the order they happened;
# 2. a before-rollout hook that hangs past hook-exec.timeout is killed
#    (with what it started) and pauses the rollout, nothing ordered;
#    restarted without the hook plugin, upstaged resumes that gated
#    rollout to the end (nothing is left to refuse a stage);
# 3. health-http: machines are healthy only when their health URL answers
#    200; the endpoint goes down in the middle of the rollout, the next
#    machines fail with the check's reason and the rollout pauses.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins
HERE=$(dirname "$0")

HOOK_SO=$BUILD/plugins/hook-exec/upstage-hook-exec.so
HEALTH_SO=$BUILD/plugins/health-http/upstage-health-http.so
[ -f "$HOOK_SO" ] || fail "no hook-exec plugin at $HOOK_SO"
[ -f "$HEALTH_SO" ] || fail "no health-http plugin at $HEALTH_SO"
N=20
write_auth "$T/auth"
SRC=$T/src
for v in 2.9.1 2.9.2; do
	for a in amd64 arm64; do make_agent_tarball "$SRC" "$v-ubuntu-$a" 8; done
done

# fleet NAME UPSTAGED_PORT EXTRA...: N machines at 2.9.0 in two groups.
fleet() {
	local name=$1 port=$2
	shift 2
	start "$name" "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$port" \
		--token "$MACHINE_TOKEN" --machines $N --release focal \
		--arch amd64,arm64 --version 2.9.0 --id-prefix m- --work-ms 0 \
		--report "$T/$name.jsonl" --backoff-initial-ms 100 \
		--backoff-max-ms 1000 "$@"
	await "$name" "^registered $N\$" 60
}
orders() { grep -c '"event":"order"' "$T/$1.jsonl" || true; }

# 1. Hooks: every event recorded; a before-stage hook refuses stage 1.
H=$T/hooks
mkdir -p "$H"
cat >"$H/any" <<EOF
#!/bin/sh
# Records the event from the environment and from stdin.
json=\$(cat)
echo "\$UPSTAGE_EVENT \${UPSTAGE_STAGE:--} \${UPSTAGE_MACHINE_ID:--} \$json" >>"$T/events"
EOF
cat >"$H/before-stage" <<EOF
#!/bin/sh
echo "before-stage \$UPSTAGE_STAGE (refusing: \$([ -e "$T/freeze" ] && echo yes || echo no))" >>"$T/events"
if [ "\$UPSTAGE_STAGE" = 1 ] && [ -e "$T/freeze" ]; then
	echo "checking the change calendar"
	echo "change freeze until Monday" >&2
	exit 3
fi
EOF
chmod +x "$H/any" "$H/before-stage"
touch "$T/freeze"
start_upstaged up --auth-file "$T/auth" --listen "127.0.0.1:$(free_port)" \
	--max-sessions $((N + 100)) --hook-plugin "$HOOK_SO" \
	--hook-exec.dir "$H" --hook-exec.timeout 2
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9
fleet f1 "$PORT"
WAIT=60 cli 1 freeze "${AGENT[@]}" upgrade-controller --agent-version 2.9.1 \
	--batch 50% --min-healthy 0 --wait
expect_match "$OUT" 'rollout r-1: paused.*before-stage hook: before-stage exited 3: change freeze until Monday' "paused by the hook"
cli 0 st1 "${AGENT[@]}" upgrade-status
expect_match "$OUT" 'before-stage exited 3: change freeze until Monday' "upgrade-status shows the hook's reason"
cli 0 st1j "${AGENT[@]}" upgrade-status --json
[ "$(jq -r .rollout.stage <<<"$OUT")" = 1 ] || fail "not paused at stage 1: $(jq -c .rollout <<<"$OUT" | head -c 400)"
# Only the two canaries were ordered: stage 1 waited for its hook.
[ "$(orders f1)" -eq 2 ] || fail "$(orders f1) orders while stage 1 was refused"
grep -q 'hook-exec: before-stage: before-stage: checking the change calendar' "$T/up.err" ||
	fail "the hook's output is not in the log"
rm "$T/freeze"
start watch "$UPSTAGE" --timeout 10 "${AGENT[@]}" upgrade-status --watch
await watch '^rollout    r-1$'
cli 0 resume "${AGENT[@]}" upgrade-resume
wait_exit watch 60
[ "$EXIT_STATUS" -eq 0 ] || fail "upgrade-status --watch: exit $EXIT_STATUS"
poll_until 10 "the after-rollout hook" grep -q '^after-rollout ' "$T/events"
# The order of events, as the hooks saw them (before-stage records itself
# and `any` after it). 20 machines, 2 canaries, batches of 9: 3 stages.
got=$(awk '{print $1, $2}' "$T/events" | grep -v '^machine-failed' | tr '\n' ';')
want="before-rollout -;before-stage 0;before-stage 0;after-stage 0;before-stage 1;rollout-paused 1;before-stage 1;before-stage 1;after-stage 1;before-stage 2;before-stage 2;after-stage 2;after-rollout -;"
[ "$got" = "$want" ] || fail "hook events out of order:
got  $got
want $want"
# stdin held the event as JSON, the same as the environment.
line=$(grep '^after-rollout ' "$T/events")
jq -e '.event == "after-rollout" and .state == "completed" and ."rollout-id" == "r-1" and .target == "2.9.1" and .model == "controller" and .stages == 3' \
	<<<"${line#after-rollout - - }" >/dev/null || fail "after-rollout stdin: $line"
stop f1 TERM 5000

# 2. A before-rollout hook that hangs is killed after hook-exec.timeout
#    (2 s), with the sleep it started; the rollout pauses, nothing ordered.
cat >"$H/before-rollout" <<EOF
#!/bin/sh
sleep 600 &
echo \$! >"$T/sleep.pid"
echo "waiting for the change board"
wait
EOF
chmod +x "$H/before-rollout"
fleet f2 "$PORT"
WAIT=60 cli 1 hang "${AGENT[@]}" upgrade-controller --agent-version 2.9.2 \
	--min-healthy 0 --wait
expect_match "$OUT" 'rollout r-2: paused.*before-rollout hook: before-rollout killed after 2 s: waiting for the change board' "paused by the timeout"
[ "$(orders f2)" -eq 0 ] || fail "$(orders f2) orders although before-rollout never agreed"
grep -q 'hook-exec: before-rollout: before-rollout: killed after 2 s' "$T/up.err" ||
	fail "the kill is not logged"
pid=$(cat "$T/sleep.pid")
poll_until 10 "the hook's sleep killed" bash -c \
	"! kill -0 $pid 2>/dev/null || grep -q '^State:.*Z' /proc/$pid/status"
# The operator gives up on hooks: upstaged restarts without the hook
# plugin. The paused rollout is still gated (journaled); resumed, nothing
# can refuse, so its stages clear and it completes.
stop up TERM 5000
up_port_old=$PORT
start_upstaged up --auth-file "$T/auth" --listen "127.0.0.1:$up_port_old" \
	--max-sessions $((N + 100))
poll_until 30 "the fleet back" bash -c \
	"'$UPSTAGE' --timeout 10 ${AGENT[*]} list-machines --json | jq -e '[.[] | select(.connected)] | length == $N' >/dev/null"
start watch2 "$UPSTAGE" --timeout 10 "${AGENT[@]}" upgrade-status --watch
await watch2 '^rollout    r-2$'
cli 0 resume2 "${AGENT[@]}" upgrade-resume
wait_exit watch2 60
[ "$EXIT_STATUS" -eq 0 ] || fail "r-2 without hooks: exit $EXIT_STATUS"
grep -Eq "rollout r-2: completed.*upgraded $N/$N" "$T/watch2.out" ||
	fail "r-2 did not complete without hooks: $(tail -3 "$T/watch2.out")"
rm "$H/before-rollout"
stop f2 TERM 5000
stop up TERM 5000

# 3. health-http: the endpoint answers 200 to its first 6 checks, then
#    503. Canaries (2) and the first batch (4, 25% of 20 rounded up... of
#    5) pass; then machines fail the check and the budget (0) pauses it.
HPORT=$(free_port)
start health python3 "$HERE/health_server.py" "$HPORT" --ok 6
await health '^listening '
start_upstaged up2 --auth-file "$T/auth" --listen 127.0.0.1:0 \
	--max-sessions $((N + 100)) --health-plugin "$HEALTH_SO" \
	--health-http.url "http://{address}:$HPORT/health/{machine}" \
	--health-http.timeout 2
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")
cli 0 sync2 "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9
fleet f3 "$PORT"
WAIT=60 cli 1 health "${AGENT[@]}" upgrade-controller --agent-version 2.9.1 \
	--batch 25% --max-unavailable 4 --min-healthy 0 --wait
expect_match "$OUT" 'rollout r-1: paused.*failure budget exceeded' "paused by failing checks"
expect_match "$OUT" "machine m-[0-9]+: failed: health check: GET http://127.0.0.1:$HPORT/health/m-[0-9]+: HTTP 503" "the check's reason"
cli 0 st3 "${AGENT[@]}" upgrade-status --json
[ "$(jq -r .rollout.counts.upgraded <<<"$OUT")" -eq 6 ] ||
	fail "not the 6 machines whose check passed upgraded: $(jq -c .rollout.counts <<<"$OUT")"
# Every machine's check came to the endpoint with its own id.
grep -q "^200 /health/m-0$" "$T/health.out" || fail "no check of m-0: $(head -3 "$T/health.out")"
[ "$(grep -c '^503 ' "$T/health.out")" -ge 1 ] || fail "no failed check"
# The machines themselves reported healthy: only the check said no.
cli 0 list3 "${AGENT[@]}" list-machines --json
failed=$(jq -r '[.[] | select(.rollout == "failed")] | length' <<<"$OUT")
[ "$failed" -ge 1 ] || fail "no machine failed in the rollout"
stop f3 TERM 5000
stop up2 TERM 5000
stop health TERM 5000
