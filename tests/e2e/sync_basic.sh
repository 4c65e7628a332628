#!/bin/bash
# sync-agent-binary end to end: 3 platforms x 2 versions from a tarball
# directory and from a simplestreams tree; every stored file byte-identical
# and listed; a second sync finds them all "exists"; a tampered file is
# refused before anything is sent; auto-selection; remove-agent-binary.
. "$(dirname "$0")/lib.sh" "$@"

start_upstaged agent --listen 127.0.0.1:0 --agent-version 2.9.1
URL=ws://127.0.0.1:$PORT
DATA=$T/data-agent
PLATFORMS="ubuntu-amd64 ubuntu-arm64 focal-ppc64el"

# Tarballs: one of them spans several chunks and window refills.
BVS=()
for v in 2.9.1 2.9.2; do
	for p in $PLATFORMS; do BVS+=("$v-$p"); done
done
make_tarballs "$T/tgz" 300 "${BVS[@]}"
head -c $((11 * 1024 * 1024 + 7)) /dev/urandom >"$T/tgz/juju-2.9.2-ubuntu-amd64.tgz"
echo "not an agent" >"$T/tgz/README"
echo "x" >"$T/tgz/juju-not-a-version.tgz"

cli 0 sync-tgz --agent "$URL" --json sync-agent-binary --source "$T/tgz" \
	--agent-version 2.9
[ "$(grep -c '"status":"uploaded"' "$T/sync-tgz.stdout")" -eq 6 ] ||
	fail "expected 6 uploaded: $OUT"
expect_match "$ERR" 'juju-not-a-version.tgz skipped' "bad name reported"
for bv in "${BVS[@]}"; do
	expect_stored "$DATA" released "$bv" "$T/tgz/juju-$bv.tgz"
	line=$(json_of "$T/sync-tgz.stdout" "$bv")
	size=$(stat -c %s "$T/tgz/juju-$bv.tgz")
	sha=$(sha256sum "$T/tgz/juju-$bv.tgz" | cut -d' ' -f1)
	[ "$(jq -r '.size' <<<"$line")" -eq "$size" ] || fail "$bv size: $line"
	[ "$(jq -r '.sha256' <<<"$line")" = "$sha" ] || fail "$bv sha: $line"
	[ "$(jq -r '."sent-bytes"' <<<"$line")" -eq "$size" ] ||
		fail "$bv sent-bytes: $line"
	[ "$(jq -r '."resumed-from"' <<<"$line")" -eq 0 ] ||
		fail "$bv resumed-from: $line"
done
# A streaming upload holds four workers: upstaged's pool is 8, not libuv's
# 4 (the loop thread and the pool are all its threads here).
threads=$(ls "/proc/${PIDS[agent]}/task" | wc -l)
[ "$threads" -ge 9 ] || fail "upstaged runs $threads threads, not 1 + 8"

cli 0 list --agent "$URL" --json list-agent-binaries
for bv in "${BVS[@]}"; do
	jq -e --arg bv "$bv" 'map(select(."binary-version" == $bv and .stream == "released")) | length == 1' \
		<<<"$OUT" >/dev/null || fail "$bv not listed once: $OUT"
done
cli 0 list-plain --agent "$URL" list-agent-binaries --stream released
expect_match "$OUT" '2\.9\.2-focal-ppc64el' "plain list"

# Again: nothing to send.
cli 0 sync-again --agent "$URL" --json sync-agent-binary --source "$T/tgz" \
	--agent-version 2.9
[ "$(grep -c '"status":"exists"' "$T/sync-again.stdout")" -eq 6 ] ||
	fail "expected 6 exists: $OUT"
[ "$(grep -c '"sent-bytes":0' "$T/sync-again.stdout")" -eq 6 ] ||
	fail "second sync sent bytes: $OUT"

# Auto-selection: agents at 2.9.1 (upstaged's agent-version), client 2.9.5:
# the next patch, 2.9.2, on every platform.
cli 0 auto --agent "$URL" --json sync-agent-binary --source "$T/tgz" \
	--client-version 2.9.5 --dry-run
[ "$(grep -c '"binary-version":"2.9.2-' "$T/auto.stdout")" -eq 3 ] ||
	fail "auto-selection: $OUT"
[ "$(wc -l <"$T/auto.stdout")" -eq 3 ] || fail "auto-selection: $OUT"
cli 2 auto-no-client --agent "$URL" sync-agent-binary --source "$T/tgz"
expect_match "$ERR" 'client-version' "no client version named"

# A simplestreams tree in the proposed stream (files say linux, the
# metadata says ubuntu/focal).
SBVS=()
for v in 2.9.3 2.9.4.1; do
	for p in $PLATFORMS; do SBVS+=("$v-$p"); done
done
make_simplestreams "$T/ss" proposed 200 "${SBVS[@]}"
cli 0 sync-ss --agent "$URL" --json sync-agent-binary --source "$T/ss" \
	--stream proposed --agent-version 2
[ "$(grep -c '"status":"uploaded"' "$T/sync-ss.stdout")" -eq 6 ] ||
	fail "expected 6 uploaded from simplestreams: $OUT"
for bv in "${SBVS[@]}"; do
	v=${bv%-*-*}
	arch=${bv##*-}
	expect_stored "$DATA" proposed "$bv" "$T/ss/agent/juju-$v-linux-$arch.tgz"
done
cli 0 list-proposed --agent "$URL" --json list-agent-binaries --stream proposed
[ "$(jq length <<<"$OUT")" -eq 6 ] || fail "proposed list: $OUT"

# Exactly one version with a build number.
cli 0 exact --agent "$URL" --json sync-agent-binary --source "$T/ss" \
	--stream proposed --agent-version 2.9.4.1
[ "$(grep -c '"status":"exists"' "$T/exact.stdout")" -eq 3 ] ||
	fail "exact version: $OUT"
cli 2 patch-only --agent "$URL" sync-agent-binary --source "$T/ss" \
	--stream proposed --agent-version 2.9.4
expect_match "$ERR" 'use 2\.9 or 2\.9\.4\.1, not 2\.9\.4' "filter forms"

# A file that does not match its metadata: its digest (computed while it
# is sent) is not the one declared, so it is never stored, and the error
# names it; the good one beside it is stored.
make_simplestreams "$T/bad" released 100 2.9.7-ubuntu-amd64 2.9.7-ubuntu-arm64
printf 'X' | dd of="$T/bad/agent/juju-2.9.7-linux-arm64.tgz" bs=1 seek=10 \
	conv=notrunc status=none
cli 1 tampered --agent "$URL" sync-agent-binary --source "$T/bad" \
	--agent-version 2.9
expect_match "$ERR" 'checksum-mismatch.*juju-2\.9\.7-linux-arm64\.tgz.*metadata' \
	"tampered file named"
[ ! -e "$(stored "$DATA" released 2.9.7-ubuntu-arm64)" ] ||
	fail "the tampered file was stored"
[ -e "$(stored "$DATA" released 2.9.7-ubuntu-amd64)" ] ||
	fail "the good file beside it was not stored"
poll_until 5 "no partial left" no_partials "$DATA"

# remove-agent-binary, then list.
cli 0 remove --agent "$URL" remove-agent-binary 2.9.1-ubuntu-amd64
cli 0 list-after --agent "$URL" --json list-agent-binaries --stream released
[ "$(jq length <<<"$OUT")" -eq 6 ] || fail "list after remove: $OUT"
jq -e 'map(select(."binary-version" == "2.9.1-ubuntu-amd64")) | length == 0' \
	<<<"$OUT" >/dev/null || fail "removed binary still listed"
[ ! -e "$(stored "$DATA" released 2.9.1-ubuntu-amd64)" ] ||
	fail "removed binary still under tools/"
cli 1 remove-again --agent "$URL" remove-agent-binary 2.9.1-ubuntu-amd64
expect_match "$ERR" 'not-found' "removing twice"

alive agent || fail "upstaged died"
stop agent TERM 3000
