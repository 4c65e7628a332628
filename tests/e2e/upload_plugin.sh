#!/bin/bash
# The plugin host at start-up: a store plugin with a wrong ABI (major or
# a newer minor), without the descriptor, of the wrong kind, or missing
# altogether stops upstaged before it listens, with a message naming the
# file (and, for ABI mismatches, both versions); nothing in the plugin is
# called (the fake plugins abort() in every op). The real store-fs plugin
# named explicitly works. Then roles: only a client may use AgentBinaries;
# a machine (and a plugin) is forbidden.
. "$(dirname "$0")/lib.sh" "$@"

PLUGINS=$BUILD/tests/unit/agent/store/plugins
[ -f "$PLUGINS/fake-bad-major.so" ] ||
	fail "fake plugins not built in $PLUGINS (build the test_plugin target)"
STORE_FS=$(find_bin upstage-store-fs.so plugins/store-fs/upstage-store-fs.so)

# refused NAME REGEX ARGS...: upstaged with ARGS exits at once with a
# failure status (not a crash, not a timeout), never listens, and its
# stderr matches REGEX.
refused() {
	local name=$1 re=$2 rc=0
	shift 2
	mkdir -p "$T/data-$name"
	timeout "$WAIT" "$UPSTAGED" --data-dir "$T/data-$name" \
		--listen 127.0.0.1:0 "$@" >"$T/$name.stdout" \
		2>"$T/$name.stderr" || rc=$?
	sanitizer_check "$T/$name.stderr"
	[ "$rc" -ne 0 ] || fail "$name: upstaged started"
	[ "$rc" -ne 124 ] || fail "$name: upstaged still running after ${WAIT}s"
	[ "$rc" -lt 128 ] || fail "$name: upstaged crashed (status $rc): $(cat "$T/$name.stderr")"
	! grep -q '^listening' "$T/$name.stdout" ||
		fail "$name: upstaged listened before refusing"
	grep -Eq -- "$re" "$T/$name.stderr" ||
		fail "$name: message does not match /$re/: $(cat "$T/$name.stderr")"
	log "$name: refused (status $rc): $(grep -E -- "$re" "$T/$name.stderr" | head -n1)"
}

# Regex-quoted path.
rq() { sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"; }

P=$(rq "$PLUGINS/fake-bad-major.so")
refused bad-major "$P.*ABI 2\.0.*1\.0" --store-plugin "$PLUGINS/fake-bad-major.so"
P=$(rq "$PLUGINS/fake-newer-minor.so")
refused newer-minor "$P.*ABI 1\.7.*1\.0" \
	--store-plugin "$PLUGINS/fake-newer-minor.so"
refused no-symbol "$(rq "$PLUGINS/fake-no-symbol.so")" \
	--store-plugin "$PLUGINS/fake-no-symbol.so"
refused wrong-kind "$(rq "$PLUGINS/fake-hook.so")" \
	--store-plugin "$PLUGINS/fake-hook.so"
refused small-desc "$(rq "$PLUGINS/fake-small-desc.so")" \
	--store-plugin "$PLUGINS/fake-small-desc.so"
refused missing "$(rq "$T/no/such/store.so")" --store-plugin "$T/no/such/store.so"
# Not a shared object at all.
echo "not an ELF file" >"$T/junk.so"
refused junk "$(rq "$T/junk.so")" --store-plugin "$T/junk.so"
# Refused in the config file just as well.
printf 'store-plugin: %s\n' "$PLUGINS/fake-bad-major.so" >"$T/bad.yaml"
refused config-file "$(rq "$PLUGINS/fake-bad-major.so")" --config "$T/bad.yaml"

# The real plugin, named explicitly: starts and stores.
write_auth "$T/auth"
start_upstaged agent --listen 127.0.0.1:0 --store-plugin "$STORE_FS" \
	--auth-file "$T/auth"
URL=ws://127.0.0.1:$PORT
DATA=$T/data-agent
head -c 70000 /dev/urandom >"$T/a.tgz"
uc 0 client-upload --agent "$URL" --token "$CLIENT_TOKEN" --file "$T/a.tgz" \
	--binary-version 2.9.1-ubuntu-amd64
expect_code client-upload commit ok
expect_stored "$DATA" released 2.9.1-ubuntu-amd64 "$T/a.tgz"

# A machine may not upload, list, delete or look at uploads.
SHA=$(sha256_of "$T/a.tgz")
for role in machine plugin; do
	case $role in
	machine) tok=$MACHINE_TOKEN ;;
	plugin) tok=$PLUGIN_TOKEN ;;
	esac
	uc 0 "$role-begin" --agent "$URL" --role "$role" --token "$tok" \
		--file "$T/a.tgz" --binary-version 2.9.2-ubuntu-amd64
	if [ "$(uc_code "$role-begin" login)" != ok ]; then
		# A plugin may not even log in directly; that is refusal too.
		[ "$role" = plugin ] || fail "machine login failed"
		expect_code "$role-begin" login unauthorized forbidden
		continue
	fi
	expect_code "$role-begin" begin forbidden
	for call in "List {}" \
		"Delete {\"binary-version\":\"2.9.1-ubuntu-amd64\"}" \
		"UploadStatus {\"upload-id\":1}" \
		"UploadCommit {\"upload-id\":1}" \
		"UploadAbort {\"upload-id\":1}"; do
		m=${call%% *}
		uc 0 "$role-$m" --agent "$URL" --role "$role" --token "$tok" \
			--call "$m" --params "${call#* }"
		expect_code "$role-$m" call forbidden
	done
done
# What the machine tried changed nothing.
expect_stored "$DATA" released 2.9.1-ubuntu-amd64 "$T/a.tgz"
[ ! -e "$(stored "$DATA" released 2.9.2-ubuntu-amd64)" ] ||
	fail "a machine stored a binary"
no_partials "$DATA" || fail "a machine left a partial upload"
cli 0 list --agent "$URL" --token "$CLIENT_TOKEN" --json list-agent-binaries
[ "$(jq length <<<"$OUT")" -eq 1 ] || fail "list: $OUT"
stop agent TERM 3000
