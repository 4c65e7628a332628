#!/bin/bash
# Crash-consistent commit: upstaged is made to abort at every step of a
# commit, of a forced replace and of a delete (UPSTAGE_CRASH_AT for its own
# steps, store-fault ABORT for the store plugin's), then restarted. After
# every restart the catalog (List) and the files under tools/ agree, every
# listed binary's file has the listed SHA-256, and a retry of the same
# operation ends with the expected binary stored.
. "$(dirname "$0")/lib.sh" "$@"

command -v jq >/dev/null || fail "jq is needed"
BV=2.9.1-ubuntu-amd64
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$T/a.tgz"
head -c $((2 * 1024 * 1024 + 5)) /dev/urandom >"$T/b.tgz"
SHA_A=$(sha256sum "$T/a.tgz" | cut -d' ' -f1)
SHA_B=$(sha256sum "$T/b.tgz" | cut -d' ' -f1)

# agree DATA: List and tools/ agree; prints the stored sha of BV ("" if
# none).
agree() {
	local data=$1 listed files f bv sha
	cli 0 list --agent "ws://127.0.0.1:$PORT" --json list-agent-binaries
	listed=$(jq -r '.[] | .["binary-version"] + " " + .stream + " " +
		.sha256' <<<"$OUT" | sort) || fail "list: not JSON: $OUT"
	files=$(cd "$data/tools" && find . -type f -name 'juju-*.tgz' |
		sed 's|^\./||' | sort)
	for f in $files; do
		bv=${f#*/juju-}
		bv=${bv%.tgz}
		sha=$(sha256sum "$data/tools/$f" | cut -d' ' -f1)
		grep -qx "$bv ${f%%/*} $sha" <<<"$listed" ||
			fail "tools/$f ($sha) is not listed as such: [$listed]"
	done
	while read -r bv stream sha; do
		[ -n "$bv" ] || continue
		[ -f "$data/tools/$stream/juju-$bv.tgz" ] ||
			fail "$bv ($stream) is listed but has no file"
	done <<<"$listed"
	awk -v bv="$BV" '$1 == bv && $2 == "released" { print $3 }' <<<"$listed"
}

# crash_case NAME MODE ENV_OR_FAULT WANT: one crash, one restart, the
# checks. MODE: commit (B into an empty store), replace (B over A, forced)
# or delete (of A). WANT: what is stored after the restart (A, B or
# none): a commit is finished once its intent is recorded, undone before.
crash_case() {
	local name=$1 mode=$2 how=$3 want=$4 data=$T/data-$1 got off
	local -a args=(--data-dir "$data" --listen 127.0.0.1:0
		--log-level info)
	mkdir -p "$data"
	if [ "$mode" != commit ]; then
		start_upstaged "$name-setup" --data-dir "$data" \
			--listen 127.0.0.1:0
		uc 0 "$name-a" --agent "ws://127.0.0.1:$PORT" --file "$T/a.tgz" \
			--binary-version "$BV"
		expect_code "$name-a" commit ok
		stop "$name-setup" TERM 5000
	fi
	case $how in
	store:*) args+=(--store-fault "${how#store:}") ;;
	*) export UPSTAGE_CRASH_AT=$how ;;
	esac
	start "$name" "$UPSTAGED" "${args[@]}"
	unset UPSTAGE_CRASH_AT
	await "$name" '^listening wss?://'
	PORT=$(port_of "$name")
	case $mode in
	commit) uc "0|1" "$name-b" --agent "ws://127.0.0.1:$PORT" \
		--file "$T/b.tgz" --binary-version "$BV" ;;
	replace) uc "0|1" "$name-b" --agent "ws://127.0.0.1:$PORT" \
		--file "$T/b.tgz" --binary-version "$BV" --force ;;
	delete) uc "0|1" "$name-b" --agent "ws://127.0.0.1:$PORT" \
		--call Delete --params "{\"binary-version\":\"$BV\"}" ;;
	esac
	wait_exit "$name" 10
	# SIGABRT: 128 + 6.
	[ "$EXIT_STATUS" -eq 134 ] ||
		fail "$name: expected an abort at $how, exit status $EXIT_STATUS"
	case $how in
	store:*) ;;
	*) grep -q "crash point $how" "$T/$name.err" ||
		fail "$name: did not stop at crash point $how" ;;
	esac

	start_upstaged "$name-after" --data-dir "$data" --listen 127.0.0.1:0
	got=$(agree "$data")
	case $want in
	A) [ "$got" = "$SHA_A" ] || fail "$name: after restart '$got', not A" ;;
	B) [ "$got" = "$SHA_B" ] || fail "$name: after restart '$got', not B" ;;
	none) [ -z "$got" ] || fail "$name: after restart '$got', not none" ;;
	esac
	# The operation, again: it ends where it should.
	case $mode in
	commit | replace)
		uc 0 "$name-retry" --agent "ws://127.0.0.1:$PORT" \
			--file "$T/b.tgz" --binary-version "$BV" --force
		got=$(agree "$data")
		[ "$got" = "$SHA_B" ] || fail "$name: retry stored '$got'"
		# Verified bytes were recorded as durable: nothing is sent
		# again after a stop between verification and the store.
		if [ "$how" = commit-verified ]; then
			off=$(uc_line "$name-retry" begin |
				jq -r '.message.response.offset')
			[ "$off" = "$(stat -c %s "$T/b.tgz")" ] ||
				fail "$name: resumed from $off, not from the end"
		fi ;;
	delete)
		cli "0|1" del --agent "ws://127.0.0.1:$PORT" \
			remove-agent-binary "$BV"
		got=$(agree "$data")
		[ -z "$got" ] || fail "$name: still stored after the retry" ;;
	esac
	no_partials "$data" || poll_until 5 "$name: partials removed" \
		no_partials "$data"
	stop "$name-after" TERM 5000
	log "$name: crash at $how ($mode) recovered"
}

# Our own steps (agent/ingest, agent/store), then the store plugin's:
# the blob link, the name link, and the rename of a replacement.
crash_case verified commit commit-verified none
crash_case intent commit commit-intent B
crash_case blob commit store:link=ABORT@0 B
crash_case name commit store:link=ABORT@1 B
crash_case put commit commit-put B
crash_case txn commit commit-txn B
crash_case r-intent replace commit-intent B
crash_case r-blob replace store:link=ABORT@0 B
crash_case r-tmp replace store:link=ABORT@1 B
crash_case r-rename replace store:rename=ABORT@0 B
crash_case r-put replace commit-put B
crash_case r-txn replace commit-txn B
crash_case d-unlink delete store:unlink=ABORT@0 A
crash_case d-name delete delete-name none
