#!/usr/bin/env bash
# make-simplestreams: three platforms packaged into a tree, then a second
# run with a build number beside them; the tree, served over HTTP, walks
# clean as Juju reads it (ss_check.sh: every item fetched, size and
# SHA-256 checked); the same binary version with other bytes is refused
# naming both SHA-256s; the seed's commands run as written with its
# environment variables; sync-agent-binary takes the tree as DIR or
# DIR/tools, and --version=<version with build> uploads exactly that
# build.
. "$(dirname "$0")/lib.sh" "$@"
HERE=$(dirname "$0")

# Built agents: a file for one platform, directories for the others.
BIN=$T/bin
mkdir -p "$BIN/linux_amd64" "$BIN/linux_arm64"
for p in linux_amd64 linux_arm64; do
	printf '#!/bin/sh\necho %s\n' "$p" >"$BIN/$p/jujud"
	printf 'agent data %s\n' "$p" >"$BIN/$p/jujuc"
	chmod 755 "$BIN/$p/jujud"
done
printf '#!/bin/sh\necho ppc\n' >"$T/jujud-ppc"
chmod 755 "$T/jujud-ppc"
OUTDIR=$T/streams

# 1. Three platforms.
run 0 make1 "$UPSTAGE" make-simplestreams --version 2.9.1 --out "$OUTDIR" \
	--platform "linux/amd64=$BIN/linux_amd64" \
	--platform "linux/arm64=$BIN/linux_arm64" \
	--platform "linux/ppc64le=$T/jujud-ppc"
for bv in 2.9.1-ubuntu-amd64 2.9.1-ubuntu-arm64 2.9.1-ubuntu-ppc64el; do
	expect_match "$OUT" "^built $bv: " "built $bv"
	[ -f "$OUTDIR/tools/released/juju-$bv.tgz" ] || fail "no tarball for $bv"
done
expect_match "$(tail -n1 <<<"$OUT")" "^export JUJU_METADATA_SOURCE=\"$OUTDIR\"\$" "last line"
# Flat regular files, as the machine agent unpacks them.
[ "$(tar tzf "$OUTDIR/tools/released/juju-2.9.1-ubuntu-amd64.tgz" | tr '\n' ' ')" = "jujuc jujud " ] ||
	fail "tarball holds $(tar tzf "$OUTDIR/tools/released/juju-2.9.1-ubuntu-amd64.tgz")"
[ "$(tar tzf "$OUTDIR/tools/released/juju-2.9.1-ubuntu-ppc64el.tgz")" = jujud-ppc ] ||
	fail "a single file is packaged under its own name"

# 2. Again: nothing changes (the same files give the same bytes).
sum1=$(sha256sum "$OUTDIR"/tools/released/*.tgz "$OUTDIR"/tools/streams/v1/*)
run 0 make2 "$UPSTAGE" make-simplestreams --version 2.9.1 --out "$OUTDIR" \
	--platform "linux/amd64=$BIN/linux_amd64"
expect_match "$OUT" '^unchanged 2\.9\.1-ubuntu-amd64$' "unchanged"
[ "$sum1" = "$(sha256sum "$OUTDIR"/tools/released/*.tgz "$OUTDIR"/tools/streams/v1/*)" ] ||
	fail "a rerun changed the tree"

# 3. The seed's way: platforms, build number and tree from the
#    environment; the new build goes beside the old one.
AGENT_PACKAGE_PLATFORMS="linux/amd64 linux/arm64" JUJU_BUILD_NUMBER=1 \
	JUJU_METADATA_SOURCE="$OUTDIR" run 0 make3 "$UPSTAGE" \
	make-simplestreams --version 2.9.1 --bin-dir "$BIN"
expect_match "$OUT" '^built 2\.9\.1\.1-ubuntu-amd64: ' "build 1"
expect_match "$OUT" '^2 built: 2\.9\.1\.1-ubuntu-amd64 2\.9\.1\.1-ubuntu-arm64$' "versions built"
[ "$(find "$OUTDIR/tools/released" -name '*.tgz' | wc -l)" -eq 5 ] || fail "not five tarballs"

# 4. Other bytes under the same binary version: refused, both named.
echo changed >>"$BIN/linux_amd64/jujuc"
sha_old=$(sha256sum "$OUTDIR/tools/released/juju-2.9.1-ubuntu-amd64.tgz" | cut -d' ' -f1)
run 1 make4 "$UPSTAGE" make-simplestreams --version 2.9.1 --out "$OUTDIR" \
	--platform "linux/amd64=$BIN/linux_amd64"
expect_match "$ERR" "conflict: 2\\.9\\.1-ubuntu-amd64 is already in .* with sha256 $sha_old; this build has sha256 [0-9a-f]{64}" "conflict"
[ -z "$(find "$OUTDIR" -name '.*tmp')" ] || fail "a temporary file was left"
run 2 bad "$UPSTAGE" make-simplestreams --version 2.9.1 --out "$OUTDIR" \
	--platform "plan9/amd64=$T/jujud-ppc"
expect_match "$ERR" 'linux\|ubuntu\|centos\|windows\|darwin\|macos' "known platforms listed"

# 5. The tree walks clean over HTTP, as Juju reads it.
HPORT=$(free_port)
start http python3 -m http.server --bind 127.0.0.1 "$HPORT" \
	--directory "$OUTDIR/tools"
poll_until "$WAIT" "the HTTP server" curl -sf -o /dev/null \
	"http://127.0.0.1:$HPORT/streams/v1/index2.json"
bash "$HERE/ss_check.sh" "http://127.0.0.1:$HPORT" "$HERE/../data/simplestreams" ||
	fail "the tree does not walk clean"
kill -TERM "$(pid_of http)" # python's server: exit status 143, not ours
wait_exit http 5

# 6. Sync: the tree as DIR, --version=<with build> takes exactly it;
#    then the seed's "--version 2.09 --debug" takes the rest of 2.9.
write_auth "$T/auth"
start_upstaged up --auth-file "$T/auth" --listen 127.0.0.1:0
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")
run 0 sync1 "$UPSTAGE" "${AGENT[@]}" sync-agent-binary --source "$OUTDIR" \
	--version=2.9.1.1
cli 0 list1 "${AGENT[@]}" list-agent-binaries --json
[ "$(jq -r '[.[]."binary-version"] | sort | join(" ")' <<<"$OUT")" = \
	"2.9.1.1-ubuntu-amd64 2.9.1.1-ubuntu-arm64" ] ||
	fail "synced: $(jq -r '[.[]."binary-version"] | join(" ")' <<<"$OUT")"
JUJU_METADATA_SOURCE="$OUTDIR/tools" run 0 sync2 "$UPSTAGE" "${AGENT[@]}" \
	sync-agent-binary --version 2.09 --debug
cli 0 list2 "${AGENT[@]}" list-agent-binaries --json
[ "$(jq length <<<"$OUT")" -eq 5 ] || fail "$(jq length <<<"$OUT") binaries after the second sync"
# What upstaged stored is what the tree holds.
for bv in 2.9.1-ubuntu-amd64 2.9.1.1-ubuntu-arm64 2.9.1-ubuntu-ppc64el; do
	want=$(sha256sum "$OUTDIR/tools/released/juju-$bv.tgz" | cut -d' ' -f1)
	[ "$(jq -r --arg b "$bv" '.[] | select(."binary-version" == $b) | .sha256' <<<"$OUT")" = "$want" ] ||
		fail "$bv stored with another SHA-256"
done
# An HTTP source built from the tree (a Range server in front of it)
# syncs the same binaries as the directory did.
start_upstaged up2 --auth-file "$T/auth" --listen 127.0.0.1:0
AGENT2=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")
start web python3 "$HERE/range_server.py" "$OUTDIR/tools" "$HPORT"
await web '^listening '
run 0 sync3 "$UPSTAGE" "${AGENT2[@]}" sync-agent-binary \
	--source "http://127.0.0.1:$HPORT" --version 2.9
cli 0 list3 "${AGENT2[@]}" list-agent-binaries --json
[ "$(jq -S 'map(del(."stored-at"))' <<<"$OUT")" = "$(jq -S 'map(del(."stored-at"))' "$T/list2.stdout")" ] ||
	fail "the HTTP source synced other binaries than the directory"
stop web TERM 5000
stop up2 TERM 5000
run 0 ver "$UPSTAGE" --version
expect_match "$OUT" '^upstage [0-9]' "upstage --version still prints its own"
stop up TERM 5000
