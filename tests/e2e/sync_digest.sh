#!/bin/bash
# AgentBinaries version 2 end to end: the digest travels with UploadCommit.
#   1. upload_client: a token upload committed with the true digest is
#      stored; with a lying one it is checksum-mismatch and nothing is
#      stored; with none the commit is refused and the upload goes on.
#   2. A partial named by a token, resumed with other bytes before its
#      offset by a client that ignores prefix-sha256: the commit catches
#      it, nothing stitched is ever stored.
#   3. An older client (facade version 1) is told which version it needs.
#   4. The CLI: a tarball sync hashes while sending (no digest at
#      UploadBegin); a second sync sends nothing (0 bytes, no upload
#      begun at upstaged); another file of the same name is a conflict,
#      --force replaces it.
#   5. Every byte sent, then the connection gone before the commit: the
#      CLI resumes at the end of the file and only commits it.
. "$(dirname "$0")/lib.sh" "$@"

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
DATA=$T/data-agent
BV=2.9.1-ubuntu-amd64
TOKEN=e2e-token-0123456789abcdef

F=$T/good.tgz
head -c $((3 * 1024 * 1024 + 77)) /dev/urandom >"$F"
SIZE=$(stat -c %s "$F")
SHA=$(sha256_of "$F")
OTHER_SHA=$(printf 'something else' | sha256sum | cut -d' ' -f1)

# 1. Digest at commit.
uc 0 lie --agent "$URL" --file "$F" --binary-version "$BV" \
	--upload-token "$TOKEN" --commit-sha256 "$OTHER_SHA"
[ "$(uc_line lie begin | jq -r '.message.response.status')" = upload ] ||
	fail "lie: not begun: $(uc_line lie begin)"
expect_code lie commit checksum-mismatch
expect_nothing_stored "$DATA"

uc 0 none --agent "$URL" --file "$F" --binary-version "$BV" \
	--upload-token "$TOKEN" --commit-sha256 none --status
expect_code none commit bad-request
uc_line none commit | grep -q 'UploadBegin declared none' ||
	fail "none: the refusal does not say why: $(uc_line none commit)"
# Refused at once: the upload is still there, receiving.
[ "$(uc_line none status-after | jq -r '.message.response.state')" = receiving ] ||
	fail "none: upload gone after a refused commit: $(uc_line none status-after)"

uc 0 truth --agent "$URL" --file "$F" --binary-version "$BV" \
	--upload-token "$TOKEN"
expect_code truth commit ok
[ "$(uc_line truth commit | jq -r '.message.response.binary.sha256')" = "$SHA" ] ||
	fail "truth: stored record: $(uc_line truth commit)"
expect_stored "$DATA" released "$BV" "$F"
log "digest at commit: lie refused, missing refused, truth stored"

# 2. Stitching: a partial of F2 (token T2) resumed with F3's bytes.
BV2=2.9.2-ubuntu-amd64
F2=$T/f2.tgz
F3=$T/f3.tgz
head -c $((3 * 1024 * 1024)) /dev/urandom >"$F2"
{ head -c $((2 * 1024 * 1024)) /dev/urandom; tail -c $((1024 * 1024)) "$F2"; } >"$F3"
uc 0 part --agent "$URL" --file "$F2" --binary-version "$BV2" \
	--upload-token stitch-token-0123456789 --stop-after $((2 * 1024 * 1024)) \
	--no-commit
part_id=$(uc_line part begin | jq -r '.message.response."upload-id"')
# detached ID: upload ID is detached (its connection is gone).
detached() {
	uc 0 st --agent "$URL" --call UploadStatus --params "{\"upload-id\":$1}"
	[ "$(uc_line st call | jq -r '.message.response.state')" = detached ]
}
poll_until 10 "upload $part_id detached" detached "$part_id"
uc 0 stitch --agent "$URL" --file "$F3" --binary-version "$BV2" \
	--upload-token stitch-token-0123456789
off=$(uc_line stitch begin | jq -r '.message.response.offset')
prefix=$(uc_line stitch begin | jq -r '.message.response."prefix-sha256"')
[ "$off" -gt 0 ] || fail "stitch: did not resume: $(uc_line stitch begin)"
[ "$prefix" = "$(head -c "$off" "$F2" | sha256sum | cut -d' ' -f1)" ] ||
	fail "stitch: prefix-sha256 is not that of the partial's bytes"
expect_code stitch commit checksum-mismatch
[ ! -e "$(stored "$DATA" released "$BV2")" ] || fail "a stitched file was stored"
log "stitching caught at commit (resumed at $off)"

# 3. An older client.
uc 0 old --agent "$URL" --facade-version 1 --call List --params '{}'
expect_code old call not-implemented
uc_line old call | grep -q 'AgentBinaries version 1 is not implemented (have 2)' ||
	fail "old: $(uc_line old call)"
uc_line old call | grep -q 'upgrade it' || fail "old: no advice: $(uc_line old call)"
[ "$(uc_line old call | jq -r '.message."error-info".version')" = 2 ] ||
	fail "old: error-info: $(uc_line old call)"

# 4. The CLI.
make_tarballs "$T/src" 4096 2.9.3-ubuntu-amd64
S3=$T/src/juju-2.9.3-ubuntu-amd64.tgz
cli 0 sync1 --agent "$URL" --json --debug sync-agent-binary --source "$T/src" \
	--agent-version 2.9.3.0
line=$(json_of "$T/sync1.stdout" 2.9.3-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "sync1: $line"
[ "$(jq -r .sha256 <<<"$line")" = "$(sha256_of "$S3")" ] || fail "sync1 sha: $line"
expect_stored "$DATA" released 2.9.3-ubuntu-amd64 "$S3"
grep -q '"upload-token"' "$T/sync1.stderr" || fail "sync1: UploadBegin had no token"
grep '"UploadBegin"' "$T/sync1.stderr" | grep -q '"sha256"' &&
	fail "sync1: the digest went with UploadBegin"
grep '"UploadCommit"' "$T/sync1.stderr" | grep -q "$(sha256_of "$S3")" ||
	fail "sync1: UploadCommit did not carry the digest"

begun=$(grep -c 'upload [0-9]*: 2.9.3-ubuntu-amd64 (released)' "$T/agent.err")
cli 0 sync2 --agent "$URL" --json sync-agent-binary --source "$T/src" \
	--agent-version 2.9.3.0
line=$(json_of "$T/sync2.stdout" 2.9.3-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = exists ] || fail "sync2: $line"
[ "$(jq -r '."sent-bytes"' <<<"$line")" -eq 0 ] || fail "sync2 sent bytes: $line"
[ "$(grep -c 'upload [0-9]*: 2.9.3-ubuntu-amd64 (released)' "$T/agent.err")" -eq "$begun" ] ||
	fail "sync2: upstaged began an upload"
[ "$(partial_count "$DATA")" -eq 0 ] || fail "sync2 left a partial"
log "exists: confirmed locally, 0 bytes sent"

# Same name and size, other bytes: conflict; --force replaces.
cp "$S3" "$T/orig.tgz"
printf 'X' | dd of="$S3" bs=1 seek=100 conv=notrunc status=none
cli 1 sync3 --agent "$URL" --json sync-agent-binary --source "$T/src" \
	--agent-version 2.9.3.0
line=$(json_of "$T/sync3.stdout" 2.9.3-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = failed ] &&
	[ "$(jq -r '."error-code"' <<<"$line")" = conflict ] || fail "sync3: $line"
[ "$(jq -r '."sent-bytes"' <<<"$line")" -eq 0 ] || fail "sync3 sent bytes: $line"
jq -r .error <<<"$line" | grep -q -- '--force' || fail "sync3: no advice: $line"
expect_stored "$DATA" released 2.9.3-ubuntu-amd64 "$T/orig.tgz"
cli 0 sync4 --agent "$URL" --json sync-agent-binary --source "$T/src" \
	--agent-version 2.9.3.0 --force
line=$(json_of "$T/sync4.stdout" 2.9.3-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "sync4: $line"
expect_stored "$DATA" released 2.9.3-ubuntu-amd64 "$S3"
log "conflict without --force, replaced with it"

# 5. The CLI's token for a file (from its UploadBegin), then an upload of
# every byte under that token that never commits.
BV5=2.9.6-ubuntu-amd64
make_tarballs "$T/src5" 3072 "$BV5"
S5=$T/src5/juju-$BV5.tgz
cli 0 sync5a --agent "$URL" --json --debug sync-agent-binary \
	--source "$T/src5" --agent-version 2.9.6.0
TOKEN5=$(grep '"UploadBegin"' "$T/sync5a.stderr" |
	grep -o '"upload-token":"[^"]*"' | head -n1 | cut -d'"' -f4)
[ -n "$TOKEN5" ] || fail "sync5a: no upload token"
cli 0 rm5 --agent "$URL" remove-agent-binary "$BV5"
uc 0 full --agent "$URL" --file "$S5" --binary-version "$BV5" \
	--upload-token "$TOKEN5" --no-commit
full_id=$(uc_line full begin | jq -r '.message.response."upload-id"')
poll_until 10 "upload $full_id detached" detached "$full_id"
cli 0 sync5b --agent "$URL" --json sync-agent-binary --source "$T/src5" \
	--agent-version 2.9.6.0 --retries 0
line=$(json_of "$T/sync5b.stdout" "$BV5")
[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "sync5b: $line"
[ "$(jq -r '."resumed-from"' <<<"$line")" -eq "$(stat -c %s "$S5")" ] ||
	fail "sync5b: not resumed at the end: $line"
[ "$(jq -r '."sent-bytes"' <<<"$line")" -eq 0 ] || fail "sync5b sent: $line"
expect_stored "$DATA" released "$BV5" "$S5"
log "every byte held: the resumed sync only committed"

alive agent || fail "upstaged died"
stop agent TERM 3000
