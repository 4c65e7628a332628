#!/bin/bash
# Disk full. Part 1, a real one: upstaged on a 32 MiB tmpfs. A file bigger
# than the free space is refused at UploadBegin (no-space); an upload that
# passed that check and then meets a full disk (the test fills it while
# the client is paused mid-upload) gets UploadError no-space, its partial
# is deleted and nothing appears under a final name; meanwhile upstaged
# keeps serving, a concurrent small upload either completes or is refused
# cleanly, and once space is back a small upload works.
# Part 2, faults injected through the store interface (store-fault):
# write=ENOSPC mid-stream, free=N at begin, link=EIO at commit.
# Part 1 is skipped (with a message) only if tmpfs cannot be mounted here.
. "$(dirname "$0")/lib.sh" "$@"

MIB=1048576
UPLOAD_CLIENT=$(find_bin upload_client tests/e2e/upload_client)
# Keep the default 64 MiB reserve from hiding the disk being full: a small
# one, so that what fails is the write itself.
SPACE_ARGS=(--free-space-reserve $((256 * 1024)))

MNT=$T/tmpfs
mkdir -p "$MNT"
TMPFS=0
if mount -t tmpfs -o size=32m,mode=0755 tmpfs "$MNT" 2>"$T/mount.stderr"; then
	TMPFS=1
	# Unmount (lazily: upstaged may still hold files) before lib.sh's
	# cleanup kills what we started and removes $T.
	trap 'rc=$?; umount -l "$MNT" 2>/dev/null || true; (exit $rc); cleanup' EXIT
else
	log "SKIP part 1 (tmpfs): mount failed: $(cat "$T/mount.stderr"); fault injection only"
fi

# free_bytes DIR: bytes available on DIR's file system.
free_bytes() { df -B1 --output=avail "$1" | tail -n1 | tr -d ' '; }

# expect_no_final DATA: nothing under a Juju name or in blobs.
expect_no_final() {
	local f
	f=$(find "$1/tools" "$1/blobs" -type f 2>/dev/null | head -n5)
	[ -z "$f" ] || fail "files under final names in $1: $f"
}

if [ "$TMPFS" = 1 ]; then
	DATA=$MNT/data
	mkdir -p "$DATA"
	start agent "$UPSTAGED" --data-dir "$DATA" --log-level info \
		--listen 127.0.0.1:0 "${SPACE_ARGS[@]}"
	await agent '^listening wss?://'
	URL=ws://127.0.0.1:$(port_of agent)
	FREE=$(free_bytes "$MNT")
	log "tmpfs: $FREE bytes free"

	# 1a. Bigger than the free space: refused before any byte is sent.
	head -c $((40 * MIB)) /dev/urandom >"$T/big.tgz"
	uc 0 too-big --agent "$URL" --file "$T/big.tgz" \
		--binary-version 2.9.1-ubuntu-amd64
	expect_code too-big begin no-space
	[ "$(uc_line too-big end | jq -r '.message."sent-bytes"')" = 0 ] ||
		fail "bytes sent after no-space at begin"
	expect_no_final "$DATA"
	no_partials "$DATA" || fail "a partial was left by a refused begin"

	# 1b. Fits at begin, then the disk fills up mid-upload. The client
	# pauses after 4 MiB; we fill the disk to within 1 MiB; it resumes.
	head -c $((16 * MIB)) /dev/urandom >"$T/mid.tgz"
	start mid "$UPLOAD_CLIENT" --agent "$URL" --file "$T/mid.tgz" \
		--binary-version 2.9.2-ubuntu-amd64 --chunk-size 262144 \
		--pause-at $((4 * MIB)) --resume-when "$T/resume" --timeout 120
	await mid '"step":"paused"' 60
	await_partial "$DATA" $((4 * MIB)) 10
	fill=$(($(free_bytes "$MNT") - MIB))
	[ "$fill" -gt 0 ] || fail "tmpfs already full"
	head -c "$fill" /dev/zero >"$MNT/filler" 2>/dev/null || true
	log "filled: $(free_bytes "$MNT") bytes left"
	# A small upload while the big one is stuck: the free space would
	# hold it alone, but not beside the 12 MiB the big one still
	# claims, so it is refused at begin (no byte is sent) rather than
	# starving the upload that came first.
	head -c $((256 * 1024)) /dev/urandom >"$T/small1.tgz"
	uc 0 small1 --agent "$URL" --file "$T/small1.tgz" \
		--binary-version 2.9.3-ubuntu-amd64
	expect_code small1 begin no-space
	expect_match "$(uc_line small1 begin)" 'bytes free' \
		"the refusal says how much is free and needed"
	[ ! -e "$(stored "$DATA" released 2.9.3-ubuntu-amd64)" ] ||
		fail "small1 stored although refused"
	# A concurrent one started with the resume: space may or may not
	# allow; either it is stored intact or refused cleanly (an error
	# answer at any step, nothing under its name).
	head -c $((512 * 1024)) /dev/urandom >"$T/small2.tgz"
	touch "$T/resume"
	start small2 "$UPLOAD_CLIENT" --agent "$URL" --file "$T/small2.tgz" \
		--binary-version 2.9.4-ubuntu-amd64 --timeout 60
	wait_exit mid 90
	[ "$EXIT_STATUS" -eq 0 ] || fail "mid: exit status $EXIT_STATUS"
	cp "$T/mid.out" "$T/mid.stdout"
	[ "$(uc_upload_errors mid no-space)" -ge 1 ] ||
		fail "mid-upload disk full: no UploadError no-space: $(cat "$T/mid.out")"
	expect_code mid commit not-found
	[ ! -e "$(stored "$DATA" released 2.9.2-ubuntu-amd64)" ] ||
		fail "the failed upload is under its final name"
	poll_until 10 "the failed upload's partial deleted" \
		eval '[ "$(partial_size "$DATA")" -lt $((4 * MIB)) ]'
	wait_exit small2 60
	[ "$EXIT_STATUS" -eq 0 ] || fail "small2: exit status $EXIT_STATUS"
	cp "$T/small2.out" "$T/small2.stdout"
	if [ "$(uc_code small2 commit)" = ok ]; then
		expect_stored "$DATA" released 2.9.4-ubuntu-amd64 "$T/small2.tgz"
	else
		grep -q '"kind":"error"' "$T/small2.out" ||
			fail "small2 neither stored nor refused: $(cat "$T/small2.out")"
		[ ! -e "$(stored "$DATA" released 2.9.4-ubuntu-amd64)" ] ||
			fail "small2 failed but is stored"
	fi
	log "concurrent small upload: $(uc_code small2 commit)"
	# Still serving after the disk was full.
	cli 0 ping-full --agent "$URL" ping
	alive agent || fail "upstaged died on a full disk"

	# Space back: a small upload works, the big one too.
	rm -f "$MNT/filler"
	poll_until 10 "partials gone" no_partials "$DATA"
	uc 0 after --agent "$URL" --file "$T/mid.tgz" \
		--binary-version 2.9.2-ubuntu-amd64
	expect_code after commit ok
	expect_stored "$DATA" released 2.9.2-ubuntu-amd64 "$T/mid.tgz"
	cli 0 list-tmpfs --agent "$URL" --json list-agent-binaries
	jq -e 'map(select(."binary-version" == "2.9.2-ubuntu-amd64")) | length == 1' \
		<<<"$OUT" >/dev/null || fail "2.9.2 not listed once: $OUT"
	stop agent TERM 3000
fi

# 2a. Injected: the disk holds 3 MiB of staging writes. A 1 MiB upload
# fits; an 8 MiB one fails mid-stream with no-space, and is cleaned up.
start_upstaged fault --listen 127.0.0.1:0 "${SPACE_ARGS[@]}" \
	--store-fault "write=ENOSPC@$((3 * MIB))"
URL=ws://127.0.0.1:$PORT
DATA=$T/data-fault
head -c $MIB /dev/urandom >"$T/one.tgz"
uc 0 f-small --agent "$URL" --file "$T/one.tgz" \
	--binary-version 2.9.1-ubuntu-arm64
expect_code f-small commit ok
expect_stored "$DATA" released 2.9.1-ubuntu-arm64 "$T/one.tgz"
head -c $((8 * MIB)) /dev/urandom >"$T/eight.tgz"
uc 0 f-big --agent "$URL" --file "$T/eight.tgz" \
	--binary-version 2.9.2-ubuntu-arm64 --chunk-size 262144
[ "$(uc_upload_errors f-big no-space)" -ge 1 ] ||
	fail "injected ENOSPC: no UploadError no-space: $(cat "$T/f-big.stdout")"
expect_code f-big commit not-found
[ ! -e "$(stored "$DATA" released 2.9.2-ubuntu-arm64)" ] ||
	fail "injected ENOSPC: stored anyway"
poll_until 10 "partial deleted after injected ENOSPC" no_partials "$DATA"
cli 0 ping-fault --agent "$URL" ping
cli 0 list-fault --agent "$URL" --json list-agent-binaries
[ "$(jq length <<<"$OUT")" -eq 1 ] || fail "list after injected ENOSPC: $OUT"
stop fault TERM 3000

# The same data directory without faults: nothing left over, uploads work.
start_upstaged fault --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
no_partials "$DATA" || fail "partials left after restart"
uc 0 f-again --agent "$URL" --file "$T/eight.tgz" \
	--binary-version 2.9.2-ubuntu-arm64
expect_code f-again commit ok
expect_stored "$DATA" released 2.9.2-ubuntu-arm64 "$T/eight.tgz"
stop fault TERM 3000

# 2b. Injected: the store reports 1 MiB free; a 2 MiB upload is refused at
# UploadBegin, a 100 KiB one (with a small reserve) goes through.
start_upstaged free --listen 127.0.0.1:0 "${SPACE_ARGS[@]}" \
	--store-fault "free=$MIB"
URL=ws://127.0.0.1:$PORT
head -c $((2 * MIB)) /dev/urandom >"$T/two.tgz"
uc 0 free-big --agent "$URL" --file "$T/two.tgz" \
	--binary-version 2.9.1-ubuntu-s390x
expect_code free-big begin no-space
head -c 102400 /dev/urandom >"$T/tiny.tgz"
uc 0 free-small --agent "$URL" --file "$T/tiny.tgz" \
	--binary-version 2.9.2-ubuntu-s390x
expect_code free-small commit ok
expect_stored "$T/data-free" released 2.9.2-ubuntu-s390x "$T/tiny.tgz"
stop free TERM 3000

# 2c. Injected: linking into tools/ fails at commit. The answer is an
# error (io-error), nothing appears under the Juju name, the catalog does
# not list it, and upstaged keeps serving.
start_upstaged link --listen 127.0.0.1:0 --store-fault "link=EIO"
URL=ws://127.0.0.1:$PORT
uc 0 link-fail --agent "$URL" --file "$T/one.tgz" \
	--binary-version 2.9.1-ubuntu-riscv64
expect_code link-fail commit io-error
[ ! -e "$(stored "$T/data-link" released 2.9.1-ubuntu-riscv64)" ] ||
	fail "stored under its Juju name although link failed"
cli 0 list-link --agent "$URL" --json list-agent-binaries
[ "$(jq length <<<"$OUT")" -eq 0 ] || fail "listed although link failed: $OUT"
cli 0 ping-link --agent "$URL" ping
stop link TERM 3000
