#!/bin/bash
# Two CLIs upload the same binary at once: both exit, one stores it, the
# other finds it stored ("exists") or is refused while the first is still
# uploading ("conflict", exit 1); the stored file is never corrupt.
. "$(dirname "$0")/lib.sh" "$@"

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
DATA=$T/data-agent
BV=2.9.1-ubuntu-amd64
make_tarballs "$T/src" $((64 * 1024)) $BV

for i in 1 2; do
	start "c$i" "$UPSTAGE" --agent "$URL" --json sync-agent-binary \
		--source "$T/src" --agent-version 2.9 --max-rate 32 --retries 1
done
wait_exit c1 60
rc1=$EXIT_STATUS
wait_exit c2 60
rc2=$EXIT_STATUS
s1=$(jq -r .status <"$T/c1.out")
s2=$(jq -r .status <"$T/c2.out")
log "c1: rc=$rc1 status=$s1; c2: rc=$rc2 status=$s2"

# Exactly one uploaded.
[ "$(printf '%s\n%s\n' "$s1" "$s2" | grep -c '^uploaded$')" -eq 1 ] ||
	fail "not exactly one upload: c1=$s1 c2=$s2"
for i in 1 2; do
	s=$(jq -r .status <"$T/c$i.out")
	case $s in
	uploaded | exists)
		;;
	failed)
		jq -e '."error-code" == "conflict"' <"$T/c$i.out" >/dev/null ||
			fail "c$i failed with something else: $(cat "$T/c$i.out")"
		grep -q 'upload in progress\|conflict' "$T/c$i.out" ||
			fail "c$i: the conflict does not say why"
		;;
	*) fail "c$i: status $s" ;;
	esac
done
[ "$rc1" -le 1 ] && [ "$rc2" -le 1 ] || fail "exit codes $rc1 $rc2"
expect_stored "$DATA" released $BV "$T/src/juju-$BV.tgz"
cli 0 list --agent "$URL" --json list-agent-binaries
[ "$(jq length <<<"$OUT")" -eq 1 ] || fail "list: $OUT"

alive agent || fail "upstaged died"
stop agent TERM 3000
