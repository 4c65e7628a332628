#!/bin/bash
# Downloads while an upload of the same binary version is in progress:
# the old file or nothing, never the partial one. A forced replacement
# paused half way still serves the old bytes (GET, Range, HEAD's ETag) and
# the metadata still names them; a download that started before the
# replacement was committed gets the old file whole; the next one gets
# the new file. A first upload paused half way is not served at all
# (404, not in the metadata) until it is committed.
. "$(dirname "$0")/lib.sh" "$@"

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
H=http://127.0.0.1:$PORT
BV=2.9.1-ubuntu-amd64
MIB=$((1024 * 1024))
UC=$(find_bin upload_client tests/e2e/upload_client)

head -c $((24 * MIB)) /dev/urandom >"$T/old.tgz"
head -c $((24 * MIB)) /dev/urandom >"$T/new.tgz"
OLD=$(sha256_of "$T/old.tgz")
NEW=$(sha256_of "$T/new.tgz")
uc 0 store-old --agent "$URL" --file "$T/old.tgz" --binary-version "$BV"
expect_code store-old commit ok

served_sha() { curl -sS --fail "$H$1" | sha256sum | cut -d' ' -f1; }

# A forced replacement, paused with 12 MiB of the new bytes on disk.
start replace "$UC" --agent "$URL" --timeout 120 --file "$T/new.tgz" \
	--binary-version "$BV" --force --pause-at $((12 * MIB)) \
	--resume-when "$T/go-replace"
await replace '"step": *"paused"'
await_partial "$T/data-agent" $((12 * MIB))
for p in /tools/$BV /tools/released/juju-$BV.tgz \
	/model/00000000-0000-4000-8000-000000000000/tools/$BV; do
	[ "$(served_sha "$p")" = "$OLD" ] || fail "$p during the replacement"
done
cmp -s <(curl -sS --fail -r 1000-2999 "$H/tools/$BV") \
	<(tail -c +1001 "$T/old.tgz" | head -c 2000) || fail "Range during upload"
curl -sS -I "$H/tools/$BV" | grep -qi "^etag: \"$OLD\"" || fail "ETag during upload"
curl -sS "$H/streams/v1/com.ubuntu.juju-released-agents.json" |
	jq -e --arg s "$OLD" '[.. | objects | select(has("sha256")) | .sha256] == [$s]' \
		>/dev/null || fail "metadata during the replacement"

# A slow download of the old file, under way when the new one commits.
start slow curl -sS --fail --limit-rate 2M -o "$T/slow.tgz" "$H/tools/$BV"
poll_until "$WAIT" "the slow download started" \
	bash -c "[ \$(stat -c %s '$T/slow.tgz' 2>/dev/null || echo 0) -gt $MIB ]"
touch "$T/go-replace"
wait_exit replace 60
[ "$EXIT_STATUS" -eq 0 ] || fail "the replacing upload failed"
cp "$T/replace.out" "$T/replace.stdout" # where expect_code looks
expect_code replace commit ok
# Committed: the next download is the new file, and so is the metadata.
[ "$(served_sha "/tools/$BV")" = "$NEW" ] || fail "after the replacement"
curl -sS "$H/streams/v1/com.ubuntu.juju-released-agents.json" |
	jq -e --arg s "$NEW" '[.. | objects | select(has("sha256")) | .sha256] == [$s]' \
		>/dev/null || fail "metadata after the replacement"
alive slow || log "the slow download ended before the commit (socket buffers)"
wait_exit slow 60
[ "$EXIT_STATUS" -eq 0 ] || fail "the slow download failed"
[ "$(sha256_of "$T/slow.tgz")" = "$OLD" ] ||
	fail "the download under way mixed the files"

# A first upload, paused: nothing is served for it.
BV2=2.9.2-ubuntu-amd64
start first "$UC" --agent "$URL" --timeout 120 --file "$T/old.tgz" \
	--binary-version "$BV2" --pause-at $((8 * MIB)) --resume-when "$T/go-first"
await first '"step": *"paused"'
for p in /tools/$BV2 /tools/released/juju-$BV2.tgz; do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$H$p")" = 404 ] ||
		fail "$p served before its commit"
done
curl -sS "$H/streams/v1/index2.json" "$H/streams/v1/com.ubuntu.juju-released-agents.json" |
	grep -q "$BV2" && fail "$BV2 in the metadata before its commit"
touch "$T/go-first"
wait_exit first 60
cp "$T/first.out" "$T/first.stdout"
expect_code first commit ok
[ "$(served_sha "/tools/$BV2")" = "$OLD" ] || fail "$BV2 after its commit"
alive agent || fail "upstaged died"
stop agent TERM 5000
