#!/usr/bin/env bash
# Models after their controller (the seed: upgrade the controller, then
# the models). Three simulated fleets register in the models controller
# (the default), web and db. A model rollout is refused while the
# controller's version is unknown, and past the controller's version;
# upgrade-controller moves only the controller model's machines (and the
# controller's agent version); then web and db are upgraded one after
# the other, db's target auto-selected and capped at the controller's.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins

N=20
write_auth "$T/auth"
start_upstaged up --auth-file "$T/auth" --listen 127.0.0.1:0 --max-sessions 200
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")
SRC=$T/src
for v in 2.9.1 2.9.2; do
	for a in amd64 arm64; do make_agent_tarball "$SRC" "$v-ubuntu-$a" 8; done
done
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9
fleet() { # fleet NAME PREFIX [--model M]
	local name=$1 prefix=$2
	shift 2
	start "$name" "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
		--token "$MACHINE_TOKEN" --machines $N --release focal \
		--arch amd64,arm64 --version 2.9.0 --id-prefix "$prefix" \
		--work-ms 0 --backoff-initial-ms 100 --backoff-max-ms 1000 "$@"
	await "$name" "^registered $N\$" 30
}
fleet ctl c-
fleet web w- --model web
fleet db d- --model db
# versions MODEL: the sorted distinct versions of that model's machines.
versions() {
	cli 0 "list-$1" "${AGENT[@]}" list-machines --json --model "$1"
	[ "$(jq length <<<"$OUT")" -eq $N ] || fail "model $1 lists $(jq length <<<"$OUT") machines"
	jq -r '[.[].version] | unique | join(" ")' <<<"$OUT"
}

# 1. No controller version yet: a model must wait.
cli 1 early "${AGENT[@]}" upgrade-model --model web --agent-version 2.9.1
expect_match "$ERR" "conflict: the controller's agent version is not known: upgrade the controller first" "unknown controller"

# 2. The controller: only its own machines move.
WAIT=60 cli 0 ctl "${AGENT[@]}" upgrade-controller --agent-version 2.9.1 \
	--min-healthy 0 --wait
expect_match "$OUT" "rollout r-1: completed.*upgraded $N/$N" "controller rollout"
[ "$(versions controller)" = 2.9.1 ] || fail "controller machines: $(versions controller)"
[ "$(versions web)" = 2.9.0 ] || fail "web moved with the controller"
cli 0 info "${AGENT[@]}" info --json
[ "$(jq -r '."agent-version"' <<<"$OUT")" = 2.9.1 ] || fail "controller version not 2.9.1"

# 3. Past the controller: refused, saying what to do.
cli 1 ahead "${AGENT[@]}" upgrade-model --model web --agent-version 2.9.2
expect_match "$ERR" "conflict: model web cannot go to 2\\.9\\.2, past its controller's 2\\.9\\.1: upgrade the controller first" "ahead refused"
cli 2 nomodel "${AGENT[@]}" upgrade-model --agent-version 2.9.1
cli 1 nosuch "${AGENT[@]}" upgrade-model --model nosuch --agent-version 2.9.1
expect_match "$ERR" 'not-found: no registered machine of model nosuch' "unknown model"

# 4. web, then db (auto-selected from a newer client, capped at 2.9.1).
WAIT=60 cli 0 web "${AGENT[@]}" upgrade-model --model web --agent-version 2.9.1 \
	--min-healthy 0 --wait
[ "$(versions web)" = 2.9.1 ] || fail "web machines: $(versions web)"
[ "$(versions db)" = 2.9.0 ] || fail "db moved with web"
cli 0 dbplan "${AGENT[@]}" upgrade-model --model db --client-version 2.9.9 --dry-run
expect_match "$OUT" '^plan of dry-run: 2\.9\.1 \(released\) on 20 machines' "capped auto-selection"
WAIT=60 cli 0 db "${AGENT[@]}" upgrade-model --model db --client-version 2.9.9 \
	--min-healthy 0 --wait
[ "$(versions db)" = 2.9.1 ] || fail "db machines: $(versions db)"
cli 0 st "${AGENT[@]}" upgrade-status
expect_match "$OUT" 'model +db' "status shows the model"
cli 0 info2 "${AGENT[@]}" info --json
[ "$(jq -r '."agent-version"' <<<"$OUT")" = 2.9.1 ] || fail "a model moved the controller's version"

for n in ctl web db up; do stop "$n" TERM 5000; done
