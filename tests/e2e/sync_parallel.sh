#!/bin/bash
# sync-agent-binary --parallel: several binaries at once over one
# connection, one outcome per item.
#   1. Six tarballs (three OS/arch pairs in two versions), one of which
#      upstaged already stores with other content: with --parallel 3, five
#      are uploaded and byte-identical, the sixth fails alone with
#      conflict (nothing sent), exit 1.
#   2. Fairness: two 64 MiB uploads with --parallel 2 (rate-limited so
#      that the observation is not a race): both partials grow together
#      (each holds 8 MiB before either is stored), and the acks tell each
#      its share of upstaged's window (half of it).
#   3. A file whose bytes are all sent waits for its commit without
#      holding a --parallel place: with --parallel 1 each next UploadBegin
#      goes out before the previous commit's answer. Against an upstaged
#      that allows one upload per client, that begin is told "busy" and
#      asked again when the commit ends, not after a backoff: with
#      --retries 0 (a backoff would fail the item) all four are stored.
#      (16 MiB files: a commit then waits for MiBs of writes and an
#      fdatasync, while the begin follows it on the socket at once.)
. "$(dirname "$0")/lib.sh" "$@"

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
DATA=$T/data-agent

PAIRS="ubuntu-amd64 ubuntu-arm64 centos-amd64"
BVS=""
for v in 2.9.1 2.9.2; do
	for p in $PAIRS; do BVS+=" $v-$p"; done
done
# shellcheck disable=SC2086
make_tarballs "$T/src" 6144 $BVS
# Stored first from elsewhere, with other bytes.
make_tarballs "$T/other" 1024 2.9.2-centos-amd64
cli 0 pre --agent "$URL" --json sync-agent-binary --source "$T/other" \
	--agent-version 2.9.2.0

cli 1 six --agent "$URL" --json sync-agent-binary --source "$T/src" \
	--agent-version 2.9 --parallel 3
[ "$(wc -l <"$T/six.stdout")" -eq 6 ] || fail "six: not six outcomes: $OUT"
for bv in $BVS; do
	line=$(json_of "$T/six.stdout" "$bv")
	if [ "$bv" = 2.9.2-centos-amd64 ]; then
		[ "$(jq -r .status <<<"$line")" = failed ] &&
			[ "$(jq -r '."error-code"' <<<"$line")" = conflict ] &&
			[ "$(jq -r '."sent-bytes"' <<<"$line")" -eq 0 ] ||
			fail "six: $bv: $line"
		expect_stored "$DATA" released "$bv" "$T/other/juju-$bv.tgz"
	else
		[ "$(jq -r .status <<<"$line")" = uploaded ] || fail "six: $bv: $line"
		expect_stored "$DATA" released "$bv" "$T/src/juju-$bv.tgz"
	fi
done
log "six: five uploaded, one conflict"

# 2. Fairness.
make_tarballs "$T/big" $((64 * 1024)) 2.9.5-ubuntu-amd64 2.9.5-ubuntu-arm64
start pair "$UPSTAGE" --agent "$URL" --json --debug sync-agent-binary \
	--source "$T/big" --agent-version 2.9.5.0 --parallel 2 --max-rate 24
# two_partials_at MIN: two partial uploads hold at least MIN bytes each.
two_partials_at() {
	[ "$(find "$DATA" -name '*.part' -type f -size +"$(($1 / 1024))"k |
		wc -l)" -ge 2 ]
}
poll_until 60 "two partials of 8 MiB at once" two_partials_at $((8 * 1024 * 1024))
for bv in 2.9.5-ubuntu-amd64 2.9.5-ubuntu-arm64; do
	[ ! -e "$(stored "$DATA" released "$bv")" ] ||
		fail "$bv was stored before the other had 8 MiB"
done
wait_exit pair 60
[ "$EXIT_STATUS" -eq 0 ] || fail "pair: exit $EXIT_STATUS"
for bv in 2.9.5-ubuntu-amd64 2.9.5-ubuntu-arm64; do
	[ "$(jq -r .status <<<"$(json_of "$T/pair.out" "$bv")")" = uploaded ] ||
		fail "pair: $bv: $(cat "$T/pair.out")"
	expect_stored "$DATA" released "$bv" "$T/big/juju-$bv.tgz"
done
# upload-window is 16 MiB by default: two at once get 8 MiB each.
grep -q '"UploadAck".*"window":8388608' "$T/pair.err" ||
	grep -q '"window":8388608.*"UploadAck"' "$T/pair.err" ||
	fail "no ack told a half share of the window"
log "pair: both progressed together with half the window each"

# 3. Commits overlap the next file.
start_upstaged one --max-uploads-per-client 1
ONE=$PORT
FOUR="2.9.7-ubuntu-amd64 2.9.7-ubuntu-arm64 2.9.7-centos-amd64
	2.9.7-centos-arm64"
# shellcheck disable=SC2086
make_tarballs "$T/four" $((16 * 1024)) $FOUR
cli 0 four --agent "ws://127.0.0.1:$ONE" --json --debug \
	sync-agent-binary --source "$T/four" --agent-version 2.9.7.0 \
	--parallel 1 --retries 0
for bv in $FOUR; do
	[ "$(jq -r .status <<<"$(json_of "$T/four.stdout" "$bv")")" = \
		uploaded ] || fail "four: $bv: $OUT"
	expect_stored "$T/data-one" released "$bv" "$T/four/juju-$bv.tgz"
done
# For each commit but the last: the line of the next UploadBegin sent,
# then the line of the commit's answer; the begin must come first.
overlaps=$(awk '
	/^> .*"request":"UploadCommit"/ {
		match($0, /"request-id":[0-9]+/)
		id = substr($0, RSTART + 13, RLENGTH - 13)
		commit[id] = NR; pending = id; next
	}
	/^> .*"request":"UploadBegin"/ && pending != "" {
		begin_after[pending] = NR; pending = ""; next
	}
	/^< / {
		match($0, /"request-id":[0-9]+/)
		id = substr($0, RSTART + 13, RLENGTH - 13)
		if (id in commit) answer[id] = NR
	}
	END {
		n = 0
		for (id in begin_after)
			if (answer[id] && begin_after[id] < answer[id]) n++
		print n
	}' "$T/four.stderr")
[ "$overlaps" -eq 3 ] ||
	fail "four: $overlaps of 3 begins went out before the commit's answer"
busy=$(grep -c '^< .*"error-code":"busy"' "$T/four.stderr" || true)
[ "$busy" -ge 1 ] || fail "four: upstaged never said busy"
log "four: 3 begins overlapped a commit, $busy busy answer(s) waited out"
stop one TERM 3000

alive agent || fail "upstaged died"
stop agent TERM 3000
