#!/usr/bin/env bash
# 300 simulated machines (upstage-fleet, four release x arch groups)
# register with upstaged; list-machines --json shows each with its
# version, release, arch and state idle. upstaged is killed with -9 and
# restarted: the registry is intact (every row, before any machine came
# back) and all 300 are registered again within 10 s. Then the fleet
# goes away: after machine-lost-after the machines show lost, and are
# still listed.
#
# upstaged runs with a short idle timeout (3 s) and no websocket pings,
# so only the machines' heartbeats keep them: idle for four idle timeouts
# (and two machine-lost-after), none is dropped, none re-registers, none
# is taken for lost.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins

N=300
write_auth "$T/auth"
up_args=(--auth-file "$T/auth" --listen 127.0.0.1:0 --max-sessions 1000
	--machine-lost-after 5 --idle-timeout 3 --ping-interval 0)
start_upstaged up "${up_args[@]}"
start fleet "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
	--token "$MACHINE_TOKEN" --machines $N --release focal,jammy \
	--arch amd64,arm64 --version 2.9.0 --id-prefix m- \
	--backoff-initial-ms 100 --backoff-max-ms 1000 --log-level info
await fleet "^registered $N\$"

list_json() {
	cli 0 "list$1" --agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN" \
		list-machines --json
}
list_json 1
[ "$(jq length <<<"$OUT")" -eq $N ] || fail "list: $(jq length <<<"$OUT") machines, expected $N"
bad=$(jq -c '[.[] | select(.state != "idle" or .version != "2.9.0" or
	.connected != true)] | length' <<<"$OUT")
[ "$bad" -eq 0 ] || fail "$bad machines not idle/2.9.0/connected"
# Spread evenly over the four groups, and sorted by id as numbers.
for g in focal/amd64 jammy/amd64 focal/arm64 jammy/arm64; do
	c=$(jq --arg r "${g%/*}" --arg a "${g#*/}" \
		'[.[] | select(.release == $r and .arch == $a)] | length' <<<"$OUT")
	[ "$c" -eq $((N / 4)) ] || fail "group $g has $c machines"
done
expect_match "$(jq -r '.[0]."machine-id", .[1]."machine-id", .[10]."machine-id"' <<<"$OUT" | tr '\n' ' ')" \
	'^m-0 m-1 m-10 $' "sorted by id"
jq -S 'map({"machine-id", release, arch, version})' <<<"$OUT" >"$T/before.json"

# Healthy and idle: waiting out the timeouts is the test (nothing may
# happen), so this polls for 12 s rather than waiting for an event.
# Every look: all connected, idle, not lost; at the end every machine
# has been seen again since the start (its heartbeats arrive).
jq -S 'map({key: ."machine-id", value: ."last-seen"}) | from_entries' \
	<<<"$OUT" >"$T/seen0.json"
t_end=$(($(date +%s) + 12))
looks=0
while [ "$(date +%s)" -lt "$t_end" ]; do
	list_json idle
	bad=$(jq -c '[.[] | select(.state != "idle" or .connected != true or
		.lost == true)] | .[:3]' <<<"$OUT")
	[ "$bad" = "[]" ] || fail "idle machines dropped or lost: $bad"
	looks=$((looks + 1))
	sleep 0.5
done
stale=$(jq --slurpfile s0 "$T/seen0.json" '[.[] |
	select(."last-seen" == $s0[0][."machine-id"])] | length' <<<"$OUT")
[ "$stale" -eq 0 ] || fail "$stale machines not seen again in 12 s"
[ "$(grep -c "^registered $N\$" "$T/fleet.out")" -eq 1 ] ||
	fail "machines registered again while idle"
! grep -q 'idle for .* s; closing' "$T/up.err" ||
	fail "upstaged closed idle sessions: $(grep -m1 'idle for' "$T/up.err")"
log "idle for 12 s ($looks looks): all $N connected, idle, not lost"

# kill -9, then a restart on another port, which the fleet cannot reach:
# every row is there, none connected. Then the real restart.
kill -KILL "$(pid_of up)"
wait_exit up 10
OLD_PORT=$PORT
start quiet "$UPSTAGED" --data-dir "$T/data-up" --log-level info \
	--auth-file "$T/auth" --listen 127.0.0.1:0
await quiet '^listening wss?://'
PORT=$(port_of quiet)
list_json 0
jq -S 'map({"machine-id", release, arch, version})' <<<"$OUT" >"$T/quiet.json"
cmp -s "$T/before.json" "$T/quiet.json" ||
	fail "registry changed across kill -9: $(diff "$T/before.json" "$T/quiet.json" | head -5)"
[ "$(jq '[.[] | select(.connected)] | length' <<<"$OUT")" -eq 0 ] ||
	fail "machines shown connected to an upstaged they cannot reach"
stop quiet TERM 5000
PORT=$OLD_PORT
start up2 "$UPSTAGED" --data-dir "$T/data-up" --log-level info \
	"${up_args[@]/127.0.0.1:0/127.0.0.1:$PORT}"
t0=$(date +%s%N)
await up2 '^listening wss?://'
await fleet "^registered $N\$" 10
# The second readiness line: count them.
poll_until 10 "all $N registered again" \
	bash -c "[ \$(grep -c '^registered $N\$' '$T/fleet.out') -ge 2 ]"
ms=$((($(date +%s%N) - t0) / 1000000))
log "all $N machines registered again ${ms} ms after the restart"
[ "$ms" -le 10000 ] || fail "re-registration took ${ms} ms (> 10 s)"
list_json 2
jq -S 'map({"machine-id", release, arch, version})' <<<"$OUT" >"$T/after.json"
cmp -s "$T/before.json" "$T/after.json" ||
	fail "registry changed across the restart: $(diff "$T/before.json" "$T/after.json" | head -5)"

# The fleet stops: disconnected at once, lost after 5 s, never forgotten.
stop fleet TERM 10000
poll_until 5 "machines disconnected" bash -c \
	"'$UPSTAGE' --agent ws://127.0.0.1:$PORT --token '$CLIENT_TOKEN' list-machines --json |
	 jq -e '[.[] | select(.connected)] | length == 0' >/dev/null"
poll_until 15 "machines lost" bash -c \
	"'$UPSTAGE' --agent ws://127.0.0.1:$PORT --token '$CLIENT_TOKEN' list-machines --json |
	 jq -e 'length == $N and ([.[] | select(.state == \"lost\" and .lost)] | length == $N)' >/dev/null"
list_json 3
expect_match "$(jq -r '.[0].state' <<<"$OUT")" '^lost$' "lost state"
cli 0 table --agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN" list-machines
expect_match "$OUT" 'm-299 +jammy +arm64 +2\.9\.0 +lost' "table line"
stop up2 TERM 5000
