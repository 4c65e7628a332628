#!/usr/bin/env bash
# upgrade-controller on a simulated fleet (upstage-fleet, four (release,
# arch) groups): a missing binary is refused by name before anything is
# ordered; a dry run prints the plan (one canary per group) and changes
# nothing; the rollout completes with every machine at the target, one
# order per machine in the fleet's report, never more than the batch in
# flight, and the controller's agent version moved; list-machines shows
# each machine's rollout state; a second rollout is refused while one is
# active; --manual-promote waits after the canaries; upgrade-abort ends
# it with no order sent after. Auto-selection from --client-version or,
# without it, from `juju version` (a fake juju on PATH).
. "$(dirname "$0")/lib.sh" "$@"
machine_bins

N=${ROLLOUT_MACHINES:-200}
write_auth "$T/auth"
start_upstaged up --auth-file "$T/auth" --listen 127.0.0.1:0 \
	--max-sessions $((N + 100)) --agent-version 2.9.0
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")
SRC=$T/src
make_agent_tarball "$SRC" 2.9.1-ubuntu-amd64 16
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9

start fleet "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
	--token "$MACHINE_TOKEN" --machines "$N" --release focal,jammy \
	--arch amd64,arm64 --version 2.9.0 --id-prefix m- --work-ms 0 \
	--report "$T/fleet.jsonl" --backoff-initial-ms 100 --backoff-max-ms 1000
await fleet "^registered $N\$" 60

# 1. The arm64 binary is missing: refused, named, nothing ordered.
cli 1 missing "${AGENT[@]}" upgrade-controller --agent-version 2.9.1
expect_match "$ERR" 'not-found.*missing: 2\.9\.1-ubuntu-arm64' "missing binary named"
cli 1 nostatus "${AGENT[@]}" upgrade-status
expect_match "$ERR" 'not-found' "no rollout after a refusal"
make_agent_tarball "$SRC" 2.9.1-ubuntu-arm64 16
cli 0 sync2 "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9

# 2. A dry run: the plan, and nothing changes. (The fleet puts m-0 in
# focal/amd64, m-1 in jammy/amd64, m-2 in focal/arm64, m-3 in
# jammy/arm64; groups are sorted by release, then arch.)
cli 0 dry "${AGENT[@]}" upgrade-controller --agent-version 2.9.1 \
	--batch 25% --dry-run
expect_match "$OUT" "^plan of dry-run: 2\.9\.1 \(released\) on $N machines in 4 groups" "plan header"
expect_match "$OUT" 'stage 0 \(canary\): 4 machines: m-0 m-2 m-1 m-3$' "one canary per group"
expect_match "$OUT" "stage 1: $(((N - 4 + 3) / 4)) machines" "a batch of 25%"
cli 1 nostatus2 "${AGENT[@]}" upgrade-status
grep -q '"event":"order"' "$T/fleet.jsonl" && fail "a dry run ordered machines"

# 3. The rollout, followed to the end.
WAIT=120 cli 0 roll "${AGENT[@]}" upgrade-controller --agent-version 2.9.1 \
	--batch 10% --min-healthy 0 --wait
expect_match "$OUT" '^rollout r-1: 2\.9\.1 \(released\)' "rollout id"
expect_match "$OUT" "rollout r-1: completed, stage [0-9]+/[0-9]+, upgraded $N/$N" "completed"
# In flight never above the batch (the plan's stages after the canaries).
batch=$(((N - 4 + 9) / 10))
maxf=$(sed -n 's/.*in flight \([0-9]*\),.*/\1/p' "$T/roll.stdout" | sort -n | tail -1)
log "at most $maxf machines in flight (batch $batch)"
[ "$maxf" -le "$batch" ] || fail "$maxf machines in flight, batch $batch"
cli 0 list "${AGENT[@]}" list-machines --json
[ "$(jq '[.[] | select(.version != "2.9.1")] | length' <<<"$OUT")" -eq 0 ] ||
	fail "machines not at 2.9.1: $(jq -c '[.[] | select(.version != "2.9.1") | ."machine-id"]' <<<"$OUT")"
[ "$(jq '[.[] | select(.rollout != "idle")] | length' <<<"$OUT")" -eq 0 ] ||
	fail "machines still in a rollout after it completed"
poll_until 10 "the fleet's report" bash -c \
	"[ \$(grep -c '\"event\":\"order\"' '$T/fleet.jsonl') -ge $N ]"
jq -s '[.[] | select(.event == "order")] | group_by(."machine-id") |
	map(length) | {machines: length, max: max}' "$T/fleet.jsonl" >"$T/orders.json"
[ "$(jq .machines "$T/orders.json")" -eq "$N" ] && [ "$(jq .max "$T/orders.json")" -eq 1 ] ||
	fail "not one order per machine: $(cat "$T/orders.json")"
cli 0 info "${AGENT[@]}" info --json
[ "$(jq -r '."agent-version"' <<<"$OUT")" = 2.9.1 ] ||
	fail "agent version not moved: $(jq -r '."agent-version"' <<<"$OUT")"
cli 0 st "${AGENT[@]}" upgrade-status --json
[ "$(jq -r .rollout.state <<<"$OUT")" = completed ] || fail "status: not completed"
[ "$(jq -r .rollout.counts.upgraded <<<"$OUT")" -eq "$N" ] || fail "status: counts"

# 4. Nothing left to do: every machine already runs 2.9.1.
cli 1 again "${AGENT[@]}" upgrade-controller --agent-version 2.9.1
expect_match "$ERR" 'conflict.*already runs 2\.9\.1' "nothing to upgrade"

# 5. Manual promotion, a second rollout refused, abort.
for a in amd64 arm64; do make_agent_tarball "$SRC" "2.9.2-ubuntu-$a" 16; done
cli 0 sync3 "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9
# Auto-selection from the client's version and the machines' lowest
# (2.9.1): the next patch stored; and the client older than the target.
cli 0 auto "${AGENT[@]}" upgrade-controller --client-version 2.9.9 --dry-run
expect_match "$OUT" '^plan of dry-run: 2\.9\.2 \(released\) on '"$N"' machines.*auto-selected by rule next-patch' "auto-selected"
cli 0 older "${AGENT[@]}" upgrade-controller --agent-version 2.9.2 \
	--client-version 2.9.1 --dry-run
expect_match "$ERR" 'warning: the client \(2\.9\.1\) is older than the target 2\.9\.2: upgrade the client first' "client warning"
# Without --client-version, the local `juju version` stands in (a fake
# juju first on PATH): auto-selection starts from it, and the warning
# compares with it, for an auto-selected target as for one given. No
# juju and no version: a usage error that says so.
fake_juju() {
	mkdir -p "$T/jujubin"
	printf '#!/bin/sh\n[ "$1" = version ] || exit 3\necho %s-ubuntu-amd64\n' \
		"$1" >"$T/jujubin/juju"
	chmod 755 "$T/jujubin/juju"
}
fake_juju 2.9.1
PATH="$T/jujubin:$PATH" cli 0 juju-auto "${AGENT[@]}" upgrade-controller --dry-run
expect_match "$OUT" '^plan of dry-run: 2\.9\.2 \(released\) on '"$N"' machines.*auto-selected by rule next-patch' "auto-selected from juju version"
expect_match "$ERR" 'warning: the client \(2\.9\.1\) is older than the target 2\.9\.2: upgrade the client first' "client warning from juju version"
PATH="$T/jujubin:$PATH" cli 0 juju-target "${AGENT[@]}" upgrade-controller \
	--agent-version 2.9.2 --dry-run
expect_match "$ERR" 'warning: the client \(2\.9\.1\) is older than the target 2\.9\.2' "client warning from juju version, target given"
fake_juju 2.9.9
PATH="$T/jujubin:$PATH" cli 0 juju-newer "${AGENT[@]}" upgrade-controller --dry-run
expect_match "$OUT" '^plan of dry-run: 2\.9\.2 \(released\)' "auto-selected from a newer juju"
[[ "$ERR" != *warning* ]] || fail "a warning for a client newer than the target: $ERR"
# A juju of an older minor: nothing stored is at or below 2.8, so the
# version it printed is what upstaged was given.
fake_juju 2.8.0
PATH="$T/jujubin:$PATH" cli 1 juju-older "${AGENT[@]}" upgrade-controller --dry-run
expect_match "$ERR" 'no-suitable-version' "selection from juju 2.8.0"
run 2 juju-none env PATH=/nonexistent "$UPSTAGE" --timeout 10 "${AGENT[@]}" \
	upgrade-controller --dry-run
expect_match "$ERR" 'cannot auto-select a version.*--client-version.*no juju client on PATH' "no juju, no version"
# With no canaries there is nothing to promote after: refused.
cli 1 manual0 "${AGENT[@]}" upgrade-controller --agent-version 2.9.2 \
	--canary 0 --manual-promote
expect_match "$ERR" 'bad-request.*manual-promote.*needs canaries' "--canary 0 --manual-promote"
WAIT=60 cli 1 manual "${AGENT[@]}" upgrade-controller --agent-version 2.9.2 \
	--min-healthy 0 --manual-promote --wait
expect_match "$OUT" 'rollout r-2: awaiting-promotion.*upgraded 4/' "awaiting promotion"
cli 1 second "${AGENT[@]}" upgrade-controller --agent-version 2.9.2
expect_match "$ERR" 'upgrade-in-progress.*r-2' "second rollout refused"
cli 1 resume "${AGENT[@]}" upgrade-resume
expect_match "$ERR" 'conflict.*awaiting-promotion' "resume is not promote"
cli 0 abort "${AGENT[@]}" upgrade-abort r-2
expect_match "$OUT" 'rollout r-2: aborted' "aborted"
orders=$(grep -c '"event":"order"' "$T/fleet.jsonl")
cli 0 st2 "${AGENT[@]}" upgrade-status r-2 --json
[ "$(jq -r .rollout.state <<<"$OUT")" = aborted ] || fail "status: not aborted"
[ "$(jq -r .rollout.counts.upgraded <<<"$OUT")" -eq 4 ] || fail "more than the canaries moved"
cli 1 promote "${AGENT[@]}" upgrade-promote r-2
expect_match "$ERR" 'conflict' "promote after abort"
# The tick runs every second: two of them, and still no new order.
sleep 2.5
[ "$(grep -c '"event":"order"' "$T/fleet.jsonl")" -eq "$orders" ] ||
	fail "orders were sent after the abort"
# And the machines were told of 2.9.2 exactly as often as upstaged says it
# moved them: the four canaries, once each.
r2=$(jq -s '[.[] | select(.event == "order" and
	(."binary-version" | startswith("2.9.2-")))] | length' "$T/fleet.jsonl")
[ "$r2" -eq 4 ] || fail "$r2 orders of 2.9.2, not the four canaries"

stop fleet TERM 5000
stop up TERM 5000
