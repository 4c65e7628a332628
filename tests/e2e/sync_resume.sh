#!/bin/bash
# Resumable uploads: SIGKILL the CLI mid-upload of a 200 MiB file and rerun
# it (it resumes: resumed-from > 0, sent-bytes < size, stored file
# correct); then SIGKILL upstaged mid-upload, restart it on the same data
# directory and rerun (resumes, file correct, catalog lists it once).
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

# 2. upstaged dies (SIGKILL: no chance to tidy up).
start cli2 "$UPSTAGE" --agent "$URL" --json sync-agent-binary \
	--source "$T/src" --agent-version 2.9.2.0 --max-rate 40 --retries 0
await_partial "$DATA" $((48 * 1024 * 1024)) 60
kill -KILL "$(pid_of agent)"
wait_exit agent 10
wait_exit cli2 30
[ "$EXIT_STATUS" -ne 0 ] || fail "CLI claimed success although upstaged died"
log "upstaged killed with $(partial_size "$DATA") bytes staged"

# Same data directory, new port.
start agent2 "$UPSTAGED" --data-dir "$DATA" --log-level info --listen 127.0.0.1:0
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
[ "$(jq length <<<"$OUT")" -eq 2 ] || fail "list: $OUT"
for bv in 2.9.1-ubuntu-amd64 2.9.2-ubuntu-amd64; do
	sha=$(sha256sum "$T/src/juju-$bv.tgz" | cut -d' ' -f1)
	jq -e --arg bv "$bv" --arg sha "$sha" \
		'map(select(."binary-version" == $bv and .sha256 == $sha)) | length == 1' \
		<<<"$OUT" >/dev/null || fail "$bv not listed with its sha256: $OUT"
done
[ "$(partial_size "$DATA")" -eq 0 ] || fail "a partial upload was left behind"

alive agent2 || fail "upstaged died"
stop agent2 TERM 3000
