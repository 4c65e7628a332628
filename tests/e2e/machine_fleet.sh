#!/usr/bin/env bash
# upstage-fleet carrying out real orders: each binary version is
# downloaded once for all its machines (the nginx load balancer in
# front of upstaged passes it once); seeded
# faults hit the same machines in a second run with the same seed; every
# order and state lands in the report, one order per machine; machines
# that crash mid-order come back with their old version, get the same
# order id again and finish it. 150 machines: the CLI orders them in
# three requests (64 ids at most to one) and follows all of them.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins
command -v nginx >/dev/null || fail "nginx is not installed (install-deps.sh --test)"

write_auth "$T/auth"
N=150
SRC=$T/src
make_agent_tarball "$SRC" 2.9.1-ubuntu-amd64 256
ids=$(seq -f 'f-%g' 0 $((N - 1)) | tr '\n' ' ')

# run_fleet NAME EXTRA...: a fresh upstaged and fleet; orders 2.9.1 for
# all; leaves the fleet's failed machine ids in $T/NAME.failed.
run_fleet() {
	local name=$1
	shift
	tools_proxy_args
	# shellcheck disable=SC2086
	start_upstaged "$name" --auth-file "$T/auth" --listen 127.0.0.1:0 $TOOLS_ARGS
	start_tools_proxy "$PORT"
	cli 0 "sync-$name" --agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN" \
		sync-agent-binary --source "$SRC" --agent-version 2.9
	start "fleet-$name" "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
		--token "$MACHINE_TOKEN" --machines $N --release focal \
		--arch amd64 --version 2.9.0 --id-prefix f- --work-ms 20 \
		--report "$T/$name.jsonl" --backoff-initial-ms 50 \
		--backoff-max-ms 300 "$@"
	await "fleet-$name" "^registered $N\$"
	# shellcheck disable=SC2086
	cli "0|1" "order-$name" --agent "ws://127.0.0.1:$PORT" \
		--token "$CLIENT_TOKEN" upgrade-machine $ids \
		--agent-version 2.9.1 --wait --wait-timeout 60
	{ grep -o 'machine f-[0-9]*: failed' "$T/order-$name.stdout" || true; } |
		sed 's/machine \(f-[0-9]*\):.*/\1/' | sort >"$T/$name.failed"
	stop "fleet-$name" TERM 5000
	stop "$name" TERM 5000
	# The tarball went through the load balancer once for the whole fleet.
	served=$(grep -c '^200 .* /tools/2.9.1-ubuntu-amd64$' "$T/nginx-access.log" || true)
	[ "$served" -eq 1 ] || fail "$name: the binary was served $served times"
	stop tools TERM 5000
	rm -f "$T/nginx-access.log"
}

faults=(--fail-download 0.1 --fail-verify 0.15 --fail-health 0.15 --seed 7)
run_fleet a "${faults[@]}"
nfail=$(wc -l <"$T/a.failed")
log "seed 7: $nfail of $N machines failed"
[ "$nfail" -gt 0 ] && [ "$nfail" -lt $N ] || fail "$nfail failures: the faults did not apply"
# Reasons of each kind made it to the operator.
for why in 'download failed (injected)' 'checksum-mismatch (injected)' \
	'never healthy (injected)'; do
	grep -qF "$why" "$T/order-a.stdout" || fail "no \"$why\" failure"
done
# The CLI printed every machine's order, from all three requests.
[ "$(grep -c '^machine f-[0-9]*: order ' "$T/order-a.stdout")" -eq $N ] ||
	fail "the CLI did not print one order per machine"
# The report: one order per machine, and every machine ended.
[ "$(jq -s '[.[] | select(.event == "order")] | length' "$T/a.jsonl")" -eq $N ] ||
	fail "report: not one order per machine"
[ "$(jq -s '[.[] | select(.event == "state" and (.state == "healthy" or .state == "failed"))] | length' "$T/a.jsonl")" -eq $N ] ||
	fail "report: not one final state per machine"
# The same seed: the same machines fail.
run_fleet b "${faults[@]}"
cmp -s "$T/a.failed" "$T/b.failed" ||
	fail "seed 7 failed other machines the second time: $(diff "$T/a.failed" "$T/b.failed" | head -5)"

# Crashes mid-order: each machine comes back with 2.9.0, gets the same
# order id again and ends healthy; never two different orders.
run_fleet c --crash 1 --seed 3
[ ! -s "$T/c.failed" ] || fail "crashed machines failed: $(head -3 "$T/c.failed")"
jq -s 'map(select(.event == "order")) | group_by(."machine-id") |
	map({n: length, ids: (map(."order-id") | unique | length)})' \
	"$T/c.jsonl" >"$T/c.orders"
[ "$(jq 'map(select(.ids != 1)) | length' "$T/c.orders")" -eq 0 ] ||
	fail "a machine got two different orders"
[ "$(jq 'map(select(.n >= 2)) | length' "$T/c.orders")" -eq $N ] ||
	fail "not every crashed machine got its order again"

# A later request refused: the machines of the earlier requests stay
# ordered, and the message says how many. 150 ids and an unknown one make
# requests of 64, 64 and 23; the third names the unknown machine.
tools_proxy_args
# shellcheck disable=SC2086
start_upstaged d --auth-file "$T/auth" --listen 127.0.0.1:0 $TOOLS_ARGS
cli 0 sync-d --agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN" \
	sync-agent-binary --source "$SRC" --agent-version 2.9
start fleet-d "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
	--token "$MACHINE_TOKEN" --machines $N --release focal --arch amd64 \
	--version 2.9.0 --id-prefix f- --work-ms 20 --report "$T/d.jsonl"
await fleet-d "^registered $N\$"
# shellcheck disable=SC2086
cli 1 order-d --agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN" \
	upgrade-machine $ids zz-unknown --agent-version 2.9.1
grep -qF 'unknown machines: zz-unknown; the 128 machines of the requests before this one were ordered' \
	"$T/order-d.stderr" || fail "order-d: $(cat "$T/order-d.stderr")"
[ "$(grep -c '^machine f-[0-9]*: order ' "$T/order-d.stdout")" -eq 128 ] ||
	fail "order-d: not 128 orders printed"
# upstaged holds exactly those 128 orders.
cli 0 list-d --agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN" \
	--json list-machines
[ "$(jq '[.[] | select(.order != null)] | length' "$T/list-d.stdout")" -eq 128 ] ||
	fail "list-d: $(jq '[.[] | select(.order != null)] | length' "$T/list-d.stdout") machines have an order"
stop fleet-d TERM 5000
stop d TERM 5000
