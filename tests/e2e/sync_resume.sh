#!/bin/bash
# Resumable uploads without a digest up front (the CLI names a tarball's
# partial by its upload token and hashes while sending): SIGKILL the CLI
# mid-upload of a 200 MiB file and rerun it (it resumes: resumed-from > 0,
# sent-bytes < size, stored file correct, so the digest it rebuilt from
# the local bytes before the offset was right); the same with the local
# file changed before the offset (caught, started over); then SIGKILL
# upstaged mid-upload, restart it on the same data directory and rerun
# (resumes after the restart, file correct, catalog lists it once);
# finally kill and restart upstaged on the same port under a running CLI,
# which reconnects and resumes by itself.
#
# "Mid-upload" is an observed condition, not a sleep: we poll the size of
# upstaged's partial file. --max-rate keeps the upload slow enough that the
# kill lands well before the end on any machine.
. "$(dirname "$0")/lib.sh" "$@"

SIZE_MB=${SYNC_RESUME_MB:-200}
start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
DATA=$T/data-agent

make_tarballs "$T/src" $((SIZE_MB * 1024)) 2.9.1-ubuntu-amd64 2.9.2-ubuntu-amd64
SIZE=$((SIZE_MB * 1024 * 1024))

# 1. The CLI dies.
start cli1 "$UPSTAGE" --agent "$URL" --json sync-agent-binary \
	--source "$T/src" --agent-version 2.9.1.0 --max-rate 40
await_partial "$DATA" $((48 * 1024 * 1024)) 60
kill -KILL "$(pid_of cli1)"
wait_exit cli1 10
log "CLI killed with $(partial_size "$DATA") bytes staged"

cli 0 rerun1 --agent "$URL" --json sync-agent-binary --source "$T/src" \
	--agent-version 2.9.1.0
line=$(json_of "$T/rerun1.stdout" 2.9.1-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "rerun: $line"
resumed=$(jq -r '."resumed-from"' <<<"$line")
sent=$(jq -r '."sent-bytes"' <<<"$line")
[ "$resumed" -gt 0 ] || fail "did not resume: $line"
[ "$sent" -lt "$SIZE" ] || fail "sent everything again: $line"
[ $((resumed + sent)) -eq "$SIZE" ] || fail "resumed + sent != size: $line"
expect_stored "$DATA" released 2.9.1-ubuntu-amd64 "$T/src/juju-2.9.1-ubuntu-amd64.tgz"
log "CLI kill: resumed from $resumed, sent $sent"

# 1b. The CLI dies, and the local file changes before the bytes upstaged
# kept (its modification time put back, so that the rerun finds the same
# partial): the rerun sees the partial is not this file's, starts over,
# and stores the file as it is now; nothing stitched is stored.
make_tarballs "$T/src3" $((SIZE_MB * 1024)) 2.9.3-ubuntu-amd64
F3=$T/src3/juju-2.9.3-ubuntu-amd64.tgz
start cli3 "$UPSTAGE" --agent "$URL" --json sync-agent-binary \
	--source "$T/src3" --agent-version 2.9.3.0 --max-rate 40
await_partial "$DATA" $((48 * 1024 * 1024)) 60
kill -KILL "$(pid_of cli3)"
wait_exit cli3 10
touch -r "$F3" "$T/stamp"
printf 'corrupt' | dd of="$F3" bs=1 seek=4096 conv=notrunc status=none
touch -r "$T/stamp" "$F3"
cli 0 rerun3 --agent "$URL" --json sync-agent-binary --source "$T/src3" \
	--agent-version 2.9.3.0
line=$(json_of "$T/rerun3.stdout" 2.9.3-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "rerun3: $line"
[ "$(jq -r '."resumed-from"' <<<"$line")" -gt 0 ] ||
	fail "rerun3 did not find the partial: $line"
[ "$(jq -r '."sent-bytes"' <<<"$line")" -eq "$SIZE" ] ||
	fail "rerun3 did not start over: $line"
expect_match "$ERR" "not this file's.*starting over" "rerun3 says why"
expect_stored "$DATA" released 2.9.3-ubuntu-amd64 "$F3"
log "changed local file: caught by prefix-sha256, started over"

# 2. upstaged dies (SIGKILL: no chance to tidy up).
start cli2 "$UPSTAGE" --agent "$URL" --json sync-agent-binary \
	--source "$T/src" --agent-version 2.9.2.0 --max-rate 40 --retries 0
await_partial "$DATA" $((48 * 1024 * 1024)) 60
kill -KILL "$(pid_of agent)"
wait_exit agent 10
wait_exit cli2 30
[ "$EXIT_STATUS" -ne 0 ] || fail "CLI claimed success although upstaged died"
log "upstaged killed with $(partial_size "$DATA") bytes staged"

# Same data directory, new port, outside the ephemeral range: agent2 is
# restarted on it.
start agent2 "$UPSTAGED" --data-dir "$DATA" --log-level info \
	--listen "127.0.0.1:$(free_port)"
await agent2 '^listening wss?://'
URL=ws://127.0.0.1:$(port_of agent2)
cli 0 rerun2 --agent "$URL" --json sync-agent-binary --source "$T/src" \
	--agent-version 2.9.2.0
line=$(json_of "$T/rerun2.stdout" 2.9.2-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "rerun after restart: $line"
resumed=$(jq -r '."resumed-from"' <<<"$line")
sent=$(jq -r '."sent-bytes"' <<<"$line")
[ "$resumed" -gt 0 ] || fail "did not resume after restart: $line"
[ "$sent" -lt "$SIZE" ] || fail "sent everything again: $line"
expect_stored "$DATA" released 2.9.2-ubuntu-amd64 "$T/src/juju-2.9.2-ubuntu-amd64.tgz"
log "upstaged kill: resumed from $resumed, sent $sent"

# The catalog lists each binary exactly once, with the right digests, and no
# partial is left behind.
cli 0 list --agent "$URL" --json list-agent-binaries
[ "$(jq length <<<"$OUT")" -eq 3 ] || fail "list: $OUT"
for bv in 2.9.1-ubuntu-amd64 2.9.2-ubuntu-amd64; do
	sha=$(sha256sum "$T/src/juju-$bv.tgz" | cut -d' ' -f1)
	jq -e --arg bv "$bv" --arg sha "$sha" \
		'map(select(."binary-version" == $bv and .sha256 == $sha)) | length == 1' \
		<<<"$OUT" >/dev/null || fail "$bv not listed with its sha256: $OUT"
done
[ "$(partial_size "$DATA")" -eq 0 ] || fail "a partial upload was left behind"

# 3. upstaged dies and comes back on the same port while the CLI runs:
# the CLI reconnects by itself, rebuilds its digest from the local bytes
# before the durable offset, and the commit (its digest against
# upstaged's) succeeds.
APORT=$(port_of agent2)
make_tarballs "$T/src4" $((SIZE_MB * 1024)) 2.9.4-ubuntu-amd64
start cli4 "$UPSTAGE" --agent "ws://127.0.0.1:$APORT" --json sync-agent-binary \
	--source "$T/src4" --agent-version 2.9.4.0 --max-rate 40 --retries 50
await_partial "$DATA" $((40 * 1024 * 1024)) 60
kill -KILL "$(pid_of agent2)"
wait_exit agent2 10
start agent3 "$UPSTAGED" --data-dir "$DATA" --log-level info \
	--listen "127.0.0.1:$APORT"
await agent3 '^listening wss?://'
wait_exit cli4 120
[ "$EXIT_STATUS" -eq 0 ] || fail "cli4: exit $EXIT_STATUS: $(tail -3 "$T/cli4.err")"
line=$(json_of "$T/cli4.out" 2.9.4-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "cli4: $line"
grep -q 'resuming 2.9.4-ubuntu-amd64 at byte [1-9]' "$T/cli4.err" ||
	fail "cli4 did not resume: $(cat "$T/cli4.err")"
[ "$(jq -r '."sent-bytes"' <<<"$line")" -lt $((2 * SIZE)) ] ||
	fail "cli4 sent everything again: $line"
expect_stored "$DATA" released 2.9.4-ubuntu-amd64 "$T/src4/juju-2.9.4-ubuntu-amd64.tgz"
log "upstaged restarted under a running CLI: resumed in the same run"

alive agent3 || fail "upstaged died"
stop agent3 TERM 3000
