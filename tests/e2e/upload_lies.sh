#!/bin/bash
# A raw client that lies (upload_client): a wrong SHA-256 gets
# checksum-mismatch, a wrong size size-mismatch or too-large, and nothing
# is stored (no Juju name, no blob, no partial, not listed); a liar that
# claims the digest of a stored binary cannot overwrite its blob; a chunk
# at a wrong offset or with a wrong upload id gets its UploadError (with
# the right expected-offset) and the upload then goes on and commits; an
# abort removes the partial. Afterwards the daemon is fine: a normal
# sync-agent-binary and ping work. Then the limits: too-large, busy, and
# the expiry of a detached partial; a client ignoring its window; and
# partial files tampered with or cut short while upstaged was down.
. "$(dirname "$0")/lib.sh" "$@"

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
DATA=$T/data-agent
BV=2.9.1-ubuntu-amd64

# 3 MiB + a bit: several chunks, a partial last one.
F=$T/good.tgz
head -c $((3 * 1024 * 1024 + 123)) /dev/urandom >"$F"
SIZE=$(stat -c %s "$F")
SHA=$(sha256_of "$F")
OTHER_SHA=$(printf 'something else' | sha256sum | cut -d' ' -f1)

# expect_begin_upload NAME: UploadBegin was accepted for upload.
expect_begin_upload() {
	[ "$(uc_line "$1" begin | jq -r '.message.response.status')" = upload ] ||
		fail "$1: UploadBegin not accepted: $(uc_line "$1" begin)"
}

# expect_listed N: list-agent-binaries shows N binaries.
expect_listed() {
	cli 0 "list-$2" --agent "$URL" --json list-agent-binaries
	[ "$(jq length <<<"$OUT")" -eq "$1" ] ||
		fail "$2: expected $1 listed binaries: $OUT"
}

# expect_record NAME BV SHA SIZE: the commit answered the stored record.
expect_record() {
	local r
	r=$(uc_line "$1" commit | jq -c '.message.response.binary')
	[ "$(jq -r '."binary-version"' <<<"$r")" = "$2" ] &&
		[ "$(jq -r '.sha256' <<<"$r")" = "$3" ] &&
		[ "$(jq -r '.size' <<<"$r")" = "$4" ] ||
		fail "$1: commit record is not $2 $3 $4: $r"
}

# 1. The digest lies: every byte arrives, the commit must refuse.
uc 0 lie-sha --agent "$URL" --file "$F" --binary-version "$BV" \
	--claim-sha256 "$OTHER_SHA"
expect_begin_upload lie-sha
expect_code lie-sha commit checksum-mismatch
[ "$(uc_line lie-sha end | jq -r '.message."sent-bytes"')" -eq "$SIZE" ] ||
	fail "lie-sha: not every byte was sent: $(uc_line lie-sha end)"
expect_nothing_stored "$DATA"
expect_listed 0 after-lie-sha

# 2. The size lies, bigger: all bytes arrive, the commit finds them short.
uc 0 lie-bigger --agent "$URL" --file "$F" --binary-version "$BV" \
	--claim-size $((SIZE + 4096))
expect_begin_upload lie-bigger
expect_code lie-bigger commit size-mismatch
expect_nothing_stored "$DATA"

# Smaller: the bytes past the declared size are refused as they come
# (UploadError too-large), and the commit cannot store anything.
uc 0 lie-smaller --agent "$URL" --file "$F" --binary-version "$BV" \
	--claim-size $((SIZE - 4096))
expect_begin_upload lie-smaller
[ "$(uc_upload_errors lie-smaller too-large)" -ge 1 ] ||
	fail "lie-smaller: no UploadError too-large: $(cat "$T/lie-smaller.stdout")"
expect_code lie-smaller commit not-found size-mismatch too-large
expect_nothing_stored "$DATA"

# Size and digest both of the real prefix would be honest; a size that
# matches but a digest of a different file is still refused.
head -c 1000 "$F" >"$T/prefix"
uc 0 lie-prefix --agent "$URL" --file "$F" --binary-version "$BV" \
	--claim-size 1000 --claim-sha256 "$(sha256_of "$T/prefix")" \
	--stop-after 999
expect_code lie-prefix commit size-mismatch
expect_nothing_stored "$DATA"
expect_listed 0 after-lies

# 3. Store a good binary, then lie with its digest for another name:
# the liar's bytes must neither be stored nor touch the existing blob.
uc 0 good --agent "$URL" --file "$F" --binary-version "$BV" --status
expect_code good commit ok
expect_record good "$BV" "$SHA" "$SIZE"
expect_stored "$DATA" released "$BV" "$F"
BLOBS_BEFORE=$(find "$DATA/blobs" -type f | LC_ALL=C sort)
head -c "$SIZE" /dev/urandom >"$T/evil.tgz"
uc 0 lie-dedup --agent "$URL" --file "$T/evil.tgz" \
	--binary-version 2.9.1-ubuntu-arm64 --claim-sha256 "$SHA"
expect_code lie-dedup commit checksum-mismatch
[ ! -e "$(stored "$DATA" released 2.9.1-ubuntu-arm64)" ] ||
	fail "the liar's binary was stored"
expect_stored "$DATA" released "$BV" "$F"
[ "$(find "$DATA/blobs" -type f | LC_ALL=C sort)" = "$BLOBS_BEFORE" ] ||
	fail "blobs changed after a refused upload"
for b in $BLOBS_BEFORE; do
	cmp -s "$b" "$F" || fail "blob $b no longer holds the good file"
done
poll_until 5 "partials gone after lie-dedup" no_partials "$DATA"
# The same lie with force (replace what is stored) is refused just as well.
uc 0 lie-force --agent "$URL" --file "$T/evil.tgz" --binary-version "$BV" \
	--claim-sha256 "$OTHER_SHA" --force
expect_code lie-force commit checksum-mismatch
expect_stored "$DATA" released "$BV" "$F"
expect_listed 1 after-dedup

# 4. A chunk at a wrong offset: UploadError offset-mismatch naming the
# expected offset; the bytes are dropped, the upload stays open, goes on
# from there and commits a correct file. Chunks are 512 KiB, so the chunk
# at 1 MiB is the faulty one.
MIB=1048576
n=0
for skew in 4096 -4096 1; do
	n=$((n + 1))
	bv=2.9.$((n + 1))-ubuntu-amd64
	uc 0 skew$n --agent "$URL" --file "$F" --binary-version "$bv" \
		--chunk-size 524288 --chunk-offset-skew "$skew" --skew-at $MIB
	[ "$(uc_upload_errors skew$n offset-mismatch)" -eq 1 ] ||
		fail "skew $skew: expected one offset-mismatch: $(cat "$T/skew$n.stdout")"
	exp=$(uc_expected_offset skew$n)
	[ "$exp" = "$MIB" ] || fail "skew $skew: expected-offset $exp, not $MIB"
	expect_code skew$n commit ok
	expect_record skew$n "$bv" "$SHA" "$SIZE"
	expect_stored "$DATA" released "$bv" "$F"
done
# The very first chunk at a wrong offset: expected-offset 0.
uc 0 skew-first --agent "$URL" --file "$F" --binary-version 2.9.5-ubuntu-amd64 \
	--chunk-offset-skew 65536
exp=$(uc_expected_offset skew-first)
[ "$exp" = 0 ] || fail "first chunk skewed: expected-offset '$exp', not 0"
expect_code skew-first commit ok
expect_stored "$DATA" released 2.9.5-ubuntu-amd64 "$F"
# A chunk for an upload id that is not ours: not-found, and ours goes on.
uc 0 bad-id --agent "$URL" --file "$F" --binary-version 2.9.6-ubuntu-amd64 \
	--chunk-bad-id --skew-at $MIB --chunk-size 524288
[ "$(uc_upload_errors bad-id not-found)" -eq 1 ] ||
	fail "chunk with a foreign upload id: $(cat "$T/bad-id.stdout")"
expect_code bad-id commit ok
expect_stored "$DATA" released 2.9.6-ubuntu-amd64 "$F"
poll_until 5 "partials gone after the skewed uploads" no_partials "$DATA"

# 5. Abort: the server had the bytes (UploadStatus), then the partial is
# gone, UploadStatus says not-found and nothing is stored.
uc 0 abort --agent "$URL" --file "$F" --binary-version 2.9.7-ubuntu-amd64 \
	--stop-after $((2 * MIB)) --abort
st=$(uc_line abort status)
[ "$(jq -r '.message.response.offset' <<<"$st")" -eq $((2 * MIB)) ] ||
	fail "abort: status before the abort: $st"
[ "$(jq -r '.message.response.state' <<<"$st")" = receiving ] ||
	fail "abort: state before the abort: $st"
expect_code abort abort ok
expect_code abort status-after not-found
poll_until 5 "partial removed after the abort" no_partials "$DATA"
[ ! -e "$(stored "$DATA" released 2.9.7-ubuntu-amd64)" ] ||
	fail "aborted upload stored"
# Committing or aborting an upload that does not exist: not-found.
uc 0 commit-unknown --agent "$URL" --call UploadCommit \
	--params '{"upload-id":987654321}'
expect_code commit-unknown call not-found
uc 0 abort-unknown --agent "$URL" --call UploadAbort \
	--params '{"upload-id":987654321}'
expect_code abort-unknown call not-found

# 6. Stored so far: the good one and the five that survived a fault.
expect_listed 6 after-all
for bv in 2.9.1 2.9.2 2.9.3 2.9.4 2.9.5 2.9.6; do
	expect_stored "$DATA" released "$bv-ubuntu-amd64" "$F"
done

# The daemon is fine: a normal sync and a ping.
make_tarballs "$T/src" 700 2.9.8-ubuntu-amd64
cli 0 sync --agent "$URL" --json sync-agent-binary --source "$T/src" \
	--agent-version 2.9
line=$(json_of "$T/sync.stdout" 2.9.8-ubuntu-amd64)
[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "sync after the lies: $line"
expect_stored "$DATA" released 2.9.8-ubuntu-amd64 "$T/src/juju-2.9.8-ubuntu-amd64.tgz"
cli 0 ping --agent "$URL" ping
alive agent || fail "upstaged died"
stop agent TERM 3000

# 7. Limits: max-upload-size, max-uploads (busy) and the expiry of a
# detached partial.
UPLOAD_CLIENT=$(find_bin upload_client tests/e2e/upload_client)
start_upstaged lim --listen 127.0.0.1:0 --max-uploads 2 \
	--max-upload-size $((2 * MIB)) --upload-expiry 2
URL=ws://127.0.0.1:$PORT
DATA=$T/data-lim
uc 0 lim-big --agent "$URL" --file "$F" --binary-version 2.9.1-ubuntu-amd64
expect_code lim-big begin too-large
for i in 1 2 3; do
	head -c $((MIB + 1000 * i)) /dev/urandom >"$T/h$i.tgz"
done
for i in 1 2; do
	start "holder$i" "$UPLOAD_CLIENT" --agent "$URL" --file "$T/h$i.tgz" \
		--binary-version "2.9.$i-ubuntu-arm64" --stop-after 65536 \
		--no-commit --hold --timeout 120
	await "holder$i" '"step":"holding"'
done
uc 0 third --agent "$URL" --file "$T/h3.tgz" --binary-version 2.9.3-ubuntu-arm64
expect_code third begin busy
H1=$(grep '"step":"begin"' "$T/holder1.out" | jq -r '.message.response."upload-id"')
# The first holder goes: its upload is detached, which frees a slot.
kill -KILL "$(pid_of holder1)"
wait_exit holder1 10
try_third() {
	uc 0 third --agent "$URL" --file "$T/h3.tgz" \
		--binary-version 2.9.3-ubuntu-arm64
	[ "$(uc_code third begin)" != busy ]
}
poll_until 10 "a slot freed by the detached upload" try_third
expect_code third commit ok
expect_stored "$DATA" released 2.9.3-ubuntu-arm64 "$T/h3.tgz"
# The detached partial expires (2 s) and is collected: its file goes,
# its id is unknown, and the same file starts again from 0.
poll_until 15 "the detached partial of upload $H1 collected" \
	eval '[ ! -e "$DATA/staging/$H1.part" ]'
uc 0 expired-status --agent "$URL" --call UploadStatus \
	--params "{\"upload-id\":$H1}"
expect_code expired-status call not-found
uc 0 h1-again --agent "$URL" --file "$T/h1.tgz" \
	--binary-version 2.9.1-ubuntu-arm64
[ "$(uc_line h1-again begin | jq -r '.message.response.offset')" = 0 ] ||
	fail "expired upload resumed: $(uc_line h1-again begin)"
expect_code h1-again commit ok
expect_stored "$DATA" released 2.9.1-ubuntu-arm64 "$T/h1.tgz"
stop lim TERM 3000

# 8. A client that ignores its window (64 KiB here) and blasts 1 MiB
# chunks: upstaged either slows it down (stops reading) and stores the
# file intact, or refuses the upload (too-large); it never stores a wrong
# file and keeps serving.
start_upstaged win --listen 127.0.0.1:0 --upload-window 65536
URL=ws://127.0.0.1:$PORT
head -c $((6 * MIB + 3)) /dev/urandom >"$T/w.tgz"
uc 0 blast --agent "$URL" --file "$T/w.tgz" --binary-version 2.9.1-ubuntu-amd64 \
	--ignore-window --chunk-size $MIB
if [ "$(uc_code blast commit)" = ok ]; then
	expect_stored "$T/data-win" released 2.9.1-ubuntu-amd64 "$T/w.tgz"
	log "window ignored: upstaged held the client back, file intact"
else
	[ "$(uc_upload_errors blast too-large)" -ge 1 ] ||
		fail "window ignored: neither stored nor too-large: $(cat "$T/blast.stdout")"
	[ ! -e "$(stored "$T/data-win" released 2.9.1-ubuntu-amd64)" ] ||
		fail "window ignored: refused but stored"
	log "window ignored: refused with too-large"
fi
cli 0 ping-win --agent "$URL" ping
stop win TERM 3000

# 9. Partials on disk are not trusted: interrupted uploads (detached:
# durable up to what was sent), upstaged stopped, one partial tampered
# with and one cut short, upstaged restarted. The tampered one resumes
# but its commit is checksum-mismatch (the digest is rebuilt from the
# bytes on disk); the short one resumes from at most what is left (or
# from 0) and stores the right file.
start_upstaged tam --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
DATA=$T/data-tam
declare -A PID_OF_BV=()
for bv in 2.9.1-ubuntu-amd64 2.9.2-ubuntu-amd64; do
	uc 0 "part-$bv" --agent "$URL" --file "$F" --binary-version "$bv" \
		--stop-after $((2 * MIB)) --no-commit
	PID_OF_BV[$bv]=$(uc_line "part-$bv" begin | jq -r '.message.response."upload-id"')
done
detached_durable() {
	uc 0 st --agent "$URL" --call UploadStatus --params "{\"upload-id\":$1}"
	[ "$(uc_line st call | jq -r '.message.response.state')" = detached ] &&
		[ "$(uc_line st call | jq -r '.message.response."durable-offset"')" = $((2 * MIB)) ]
}
for bv in "${!PID_OF_BV[@]}"; do
	poll_until 10 "upload ${PID_OF_BV[$bv]} detached and durable" \
		detached_durable "${PID_OF_BV[$bv]}"
done
stop tam TERM 3000
TAMPERED=$DATA/staging/${PID_OF_BV[2.9.1-ubuntu-amd64]}.part
SHORT=$DATA/staging/${PID_OF_BV[2.9.2-ubuntu-amd64]}.part
[ -f "$TAMPERED" ] && [ -f "$SHORT" ] || fail "partials not kept over a stop"
b=$(od -An -tu1 -j 1000 -N1 "$TAMPERED" | tr -d ' ')
printf "\\$(printf '%03o' $(((b + 1) % 256)))" |
	dd of="$TAMPERED" bs=1 seek=1000 conv=notrunc status=none
cmp -s <(head -c $((2 * MIB)) "$F") "$TAMPERED" && fail "tampering failed"
truncate -s $MIB "$SHORT"
start tam2 "$UPSTAGED" --data-dir "$DATA" --log-level info --listen 127.0.0.1:0
await tam2 '^listening wss?://'
URL=ws://127.0.0.1:$(port_of tam2)
uc 0 resume-tampered --agent "$URL" --file "$F" --binary-version 2.9.1-ubuntu-amd64
off=$(uc_line resume-tampered begin | jq -r '.message.response.offset')
log "tampered partial: resumed from $off"
if [ "$off" -gt 1000 ]; then
	expect_code resume-tampered commit checksum-mismatch
	[ ! -e "$(stored "$DATA" released 2.9.1-ubuntu-amd64)" ] ||
		fail "a tampered partial was stored"
else
	expect_code resume-tampered commit ok
	expect_stored "$DATA" released 2.9.1-ubuntu-amd64 "$F"
fi
uc 0 resume-short --agent "$URL" --file "$F" --binary-version 2.9.2-ubuntu-amd64
off=$(uc_line resume-short begin | jq -r '.message.response.offset')
[ "$off" -le "$MIB" ] || fail "resumed beyond what is on disk: $off"
expect_code resume-short commit ok
expect_stored "$DATA" released 2.9.2-ubuntu-amd64 "$F"
log "short partial: resumed from $off"
# After the refusal, the same file again stores correctly.
uc 0 again-tampered --agent "$URL" --file "$F" --binary-version 2.9.1-ubuntu-amd64
expect_code again-tampered commit ok exists
expect_stored "$DATA" released 2.9.1-ubuntu-amd64 "$F"
poll_until 5 "no partials left" no_partials "$DATA"
stop tam2 TERM 3000
