#!/bin/bash
# Uploads through the relay (client -> upstage-relay -> upstaged's
# controller link): sync-agent-binary stores byte-identical files; a lying
# client gets checksum-mismatch and nothing is stored; offset-mismatch and
# abort work there too; two relayed clients at once get their own pushes
# (origin routing): a chunk, a commit or an abort aimed at another
# connection's upload is not-found and does not touch it, the same file while it is being
# uploaded is a conflict, and after that connection goes the upload is
# resumed by another and stored intact.
. "$(dirname "$0")/lib.sh" "$@"

MIB=1048576
UPLOAD_CLIENT=$(find_bin upload_client tests/e2e/upload_client)
write_auth "$T/auth"
start_relay relay "$T/auth"
RP=$PORT
start_upstaged agent --listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await relay '^plugin linked$'
await agent '^controller link up$'
RURL=ws://127.0.0.1:$RP
DATA=$T/data-agent
TOK=(--token "$CLIENT_TOKEN")

# 1. sync-agent-binary through the relay.
make_tarballs "$T/src" 300 2.9.1-ubuntu-amd64 2.9.1-ubuntu-arm64
head -c $((9 * MIB + 5)) /dev/urandom >"$T/src/juju-2.9.1-focal-ppc64el.tgz"
cli 0 sync --agent "$RURL" "${TOK[@]}" --json sync-agent-binary \
	--source "$T/src" --agent-version 2.9
[ "$(grep -c '"status":"uploaded"' "$T/sync.stdout")" -eq 3 ] ||
	fail "expected 3 uploaded through the relay: $OUT"
for bv in 2.9.1-ubuntu-amd64 2.9.1-ubuntu-arm64 2.9.1-focal-ppc64el; do
	expect_stored "$DATA" released "$bv" "$T/src/juju-$bv.tgz"
done
cli 0 list --agent "$RURL" "${TOK[@]}" --json list-agent-binaries
[ "$(jq length <<<"$OUT")" -eq 3 ] || fail "list through the relay: $OUT"
cli 0 sync-again --agent "$RURL" "${TOK[@]}" --json sync-agent-binary \
	--source "$T/src" --agent-version 2.9
[ "$(grep -c '"status":"exists"' "$T/sync-again.stdout")" -eq 3 ] ||
	fail "second sync through the relay: $OUT"

# 2. A liar through the relay.
F=$T/four.tgz
head -c $((4 * MIB + 77)) /dev/urandom >"$F"
uc 0 lie --agent "$RURL" "${TOK[@]}" --file "$F" \
	--binary-version 2.9.2-ubuntu-amd64 \
	--claim-sha256 "$(printf 'lie' | sha256sum | cut -d' ' -f1)"
expect_code lie commit checksum-mismatch
[ ! -e "$(stored "$DATA" released 2.9.2-ubuntu-amd64)" ] ||
	fail "lying upload stored"
poll_until 5 "partial removed after the lie" no_partials "$DATA"
uc 0 lie-size --agent "$RURL" "${TOK[@]}" --file "$F" \
	--binary-version 2.9.2-ubuntu-amd64 --claim-size $((5 * MIB))
expect_code lie-size commit size-mismatch

# 3. Offset mismatch and abort through the relay: the UploadError pushes
# reach the right client, without origin.
uc 0 skew --agent "$RURL" "${TOK[@]}" --file "$F" \
	--binary-version 2.9.2-ubuntu-amd64 --chunk-size 524288 \
	--chunk-offset-skew 12345 --skew-at $MIB
exp=$(uc_expected_offset skew)
[ "$exp" = "$MIB" ] || fail "relay skew: expected-offset '$exp'"
! grep -q '"origin"' "$T/skew.stdout" || fail "origin leaked to the client"
expect_code skew commit ok
expect_stored "$DATA" released 2.9.2-ubuntu-amd64 "$F"
uc 0 abort --agent "$RURL" "${TOK[@]}" --file "$F" \
	--binary-version 2.9.3-ubuntu-amd64 --stop-after $((2 * MIB)) --abort
expect_code abort abort ok
expect_code abort status-after not-found
poll_until 5 "partial removed after the abort" no_partials "$DATA"

# 4. Two relayed clients. A uploads 1 MiB of G and holds its connection.
G=$T/g.tgz
head -c $((6 * MIB)) /dev/urandom >"$G"
start holder "$UPLOAD_CLIENT" "${TOK[@]}" --agent "$RURL" --file "$G" \
	--binary-version 2.9.4-ubuntu-amd64 --stop-after "$MIB" --no-commit \
	--hold --timeout 120
await holder '"step":"holding"'
AID=$(grep '"step":"begin"' "$T/holder.out" | jq -r '.message.response."upload-id"')
[ "$AID" -gt 0 ] 2>/dev/null || fail "holder: no upload id: $(cat "$T/holder.out")"
# (Acknowledged is not yet written: the write may still be on its way.)
poll_until "$WAIT" "holder's partial holding $MIB bytes" \
	test "$(stat -c %s "$DATA/staging/$AID.part" 2>/dev/null)" = "$MIB"
# B sends one chunk into A's upload: not-found; then its own upload works.
uc 0 intruder --agent "$RURL" "${TOK[@]}" --file "$F" \
	--binary-version 2.9.5-ubuntu-amd64 --chunk-upload-id "$AID"
[ "$(uc_upload_errors intruder not-found)" -eq 1 ] ||
	fail "chunk into another connection's upload: $(cat "$T/intruder.stdout")"
expect_code intruder commit ok
expect_stored "$DATA" released 2.9.5-ubuntu-amd64 "$F"
# Anyone may look at it, but nobody else may commit or abort it while
# its connection lives.
uc 0 peek --agent "$RURL" "${TOK[@]}" --call UploadStatus \
	--params "{\"upload-id\":$AID}"
expect_code peek call ok
[ "$(uc_line peek call | jq -r '.message.response.offset')" -eq "$MIB" ] ||
	fail "holder's status: $(uc_line peek call)"
for m in UploadCommit UploadAbort; do
	uc 0 "steal-$m" --agent "$RURL" "${TOK[@]}" --call "$m" \
		--params "{\"upload-id\":$AID}"
	expect_code "steal-$m" call not-found
done
[ "$(stat -c %s "$DATA/staging/$AID.part")" -eq "$MIB" ] ||
	fail "another connection changed the holder's partial"
# The same file while A is uploading it: conflict.
uc 0 same --agent "$RURL" "${TOK[@]}" --file "$G" \
	--binary-version 2.9.4-ubuntu-amd64
expect_code same begin conflict
[ "$(uc_line same begin | jq -r '.message."error-info".reason')" = "upload in progress" ] ||
	fail "conflict without its reason: $(uc_line same begin)"
# A goes; its upload is detached and another connection resumes it.
kill -KILL "$(pid_of holder)"
wait_exit holder 10
try_resume() {
	uc 0 resume --agent "$RURL" "${TOK[@]}" --file "$G" \
		--binary-version 2.9.4-ubuntu-amd64
	[ "$(uc_code resume begin)" != conflict ]
}
poll_until 10 "the holder's upload detached" try_resume
expect_code resume commit ok
off=$(uc_line resume begin | jq -r '.message.response.offset')
[ "$off" -eq 0 ] || [ "$off" -eq "$MIB" ] ||
	fail "resume offset $off is neither 0 nor what the holder sent"
[ "$(uc_line resume begin | jq -r '.message.response."upload-id"')" = "$AID" ] ||
	[ "$off" -eq 0 ] || fail "resumed under another upload id"
expect_stored "$DATA" released 2.9.4-ubuntu-amd64 "$G"
log "resumed the detached upload from $off"

# 5. A relayed machine may not upload.
uc 0 machine --agent "$RURL" --role machine --token "$MACHINE_TOKEN" \
	--file "$F" --binary-version 2.9.6-ubuntu-amd64
expect_code machine begin forbidden

cli 0 list-end --agent "$RURL" "${TOK[@]}" --json list-agent-binaries
[ "$(jq length <<<"$OUT")" -eq 6 ] || fail "final list: $OUT"
no_partials "$DATA" || fail "partials left"
cli 0 ping --agent "$RURL" "${TOK[@]}" ping
alive agent || fail "upstaged died"
alive relay || fail "relay died"
stop agent TERM 3000
stop relay TERM 3000
