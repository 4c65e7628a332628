#!/usr/bin/env bash
# upgrade-machine on one real upstage-machine with a real data directory
# (machine 0 is a focal machine: it gets the binaries stored under
# ubuntu). Each order is followed with --wait and its effects checked on
# disk: the tarball unpacked in Juju's layout, the symlink switched, the
# restart and health commands run, the version reported; a failing health
# command switches back and fails with the reason; a wrong SHA-256 and
# hostile tarballs (symlink, "..", absolute name, device) are refused with
# their reason and switch nothing (so are a hard link and a name with a
# '/' in it, a file in a subdirectory); missing binaries are named; a download
# cut by killing the agent resumes with Range (bytes fetched < size); an
# order re-sent after upstaged is killed is carried out once; a revert
# goes back to the previous version without downloading.
#
# The machine downloads from upstaged's own /tools/ through nginx standing
# as a load balancer (start_tools_proxy in lib.sh: its access log shows
# the Range requests); the first URL of every order is a port nothing
# listens on, so the machine also shows it falls back to the next URL.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins
command -v nginx >/dev/null || fail "nginx is not installed (install-deps.sh --test)"

write_auth "$T/auth"
TOOLS_DEAD=$(free_port)
tools_proxy_args
# shellcheck disable=SC2086
start_upstaged up --auth-file "$T/auth" --listen "127.0.0.1:$(free_port)" \
	$TOOLS_ARGS
UP_PORT=$PORT
start_tools_proxy "$UP_PORT"
AGENT=(--agent "ws://127.0.0.1:$UP_PORT" --token "$CLIENT_TOKEN")

# The binaries: good ones, one to be corrupted in the store, hostile ones.
SRC=$T/src
for v in 2.9.1 2.9.2 2.9.3; do
	make_agent_tarball "$SRC" "$v-ubuntu-amd64" 64
done
for v in 2.9.8 2.9.10; do
	make_agent_tarball "$SRC" "$v-ubuntu-amd64" 1024
done
python3 - "$SRC" <<'PY'
import io, sys, tarfile
src = sys.argv[1]
def tarball(bv, members):
    with tarfile.open(f"{src}/juju-{bv}-ubuntu-amd64.tgz", "w:gz", format=tarfile.GNU_FORMAT) as t:
        data = b"#!/bin/sh\necho hostile\n"
        ok = tarfile.TarInfo("jujud"); ok.size = len(data); ok.mode = 0o755
        t.addfile(ok, io.BytesIO(data))
        for m in members:
            t.addfile(m, io.BytesIO(b"x" * m.size) if m.size else None)
def member(name, kind=tarfile.REGTYPE, size=0, **kw):
    m = tarfile.TarInfo(name); m.type = kind; m.size = size
    for k, v in kw.items(): setattr(m, k, v)
    return m
tarball("2.9.4", [member("evil", tarfile.SYMTYPE, linkname="/etc/passwd")])
tarball("2.9.5", [member("../evil", size=1)])
tarball("2.9.6", [member("/tmp/evil", size=1)])
tarball("2.9.7", [member("null", tarfile.CHRTYPE, devmajor=1, devminor=3)])
tarball("2.9.11", [member("link", tarfile.LNKTYPE, linkname="jujud")])
tarball("2.9.12", [member("bin/jujud", size=1)])
PY
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9
STORE=$T/data-up/tools/released
# The store's copy of 2.9.3 gets one byte changed (same size): what the
# machine downloads no longer has the SHA-256 of the order.
printf 'Z' | dd of="$STORE/juju-2.9.3-ubuntu-amd64.tgz" bs=1 seek=100 \
	conv=notrunc 2>/dev/null

M=$T/machine0
MACHINE=("$UPSTAGE_MACHINE" --agent "ws://127.0.0.1:$UP_PORT"
	--token "$MACHINE_TOKEN" --machine-id 0 --data-dir "$M"
	--release focal --arch amd64 --version 2.9.0 --health-timeout 2s
	--backoff-initial-ms 50 --backoff-max-ms 500
	--restart-cmd "echo \$UPSTAGE_BINARY_VERSION >>$T/restarts"
	--health-cmd "test ! -e $T/unhealthy-\$UPSTAGE_BINARY_VERSION && \
test -x $M/tools/machine-0/jujud")
start m0 "${MACHINE[@]}"
await m0 '^registered 0$'

link() { readlink "$M/tools/machine-0" || echo none; }
upgrade() { # upgrade RC NAME VERSION
	cli "$1" "$2" "${AGENT[@]}" upgrade-machine 0 --agent-version "$3" \
		--wait --wait-timeout 60
}
expect_version() {
	local j
	j=$(machine_json 0)
	[ "$(jq -r .version <<<"$j")" = "$1" ] || fail "machine 0 reports $(jq -r .version <<<"$j"), expected $1"
	[ "$(jq -r .state <<<"$j")" = idle ] || fail "machine 0 is $(jq -r .state <<<"$j") after its order"
}

# 1. A good upgrade.
upgrade 0 up1 2.9.1
expect_match "$OUT" 'machine 0: order o-[0-9a-f]+-[0-9]+: upgrade to 2\.9\.1-ubuntu-amd64' "order line"
expect_match "$OUT" 'machine 0: downloading' "progress pushes"
expect_match "$OUT" 'machine 0: healthy \(version 2\.9\.1\)' "healthy"
[ "$(link)" = 2.9.1-ubuntu-amd64 ] || fail "link points at $(link)"
[ "$("$M/tools/machine-0/jujud")" = 2.9.1-ubuntu-amd64 ] || fail "jujud is not 2.9.1's"
want=$(sha256_of "$STORE/juju-2.9.1-ubuntu-amd64.tgz")
[ "$(jq -r .sha256 "$M/tools/2.9.1-ubuntu-amd64/downloaded-tools.txt")" = "$want" ] ||
	fail "downloaded-tools.txt does not record the SHA-256"
[ "$(tail -n1 "$T/restarts")" = 2.9.1-ubuntu-amd64 ] || fail "restart command not run"
[ -z "$(find "$M/downloads" -type f)" ] || fail "download left behind"
expect_version 2.9.1
# The first URL refused the connection; the second (the proxy) served it.
grep -q '^200 .* /tools/2.9.1-ubuntu-amd64$' "$T/nginx-access.log" ||
	fail "the binary did not come from the second URL"
grep -q "download done: .*(http://127.0.0.1:$TOOLS_PORT/tools/2.9.1-ubuntu-amd64)" \
	"$T/m0.err" || fail "the machine does not name the second URL"

# 2. Never healthy: switched back, failed with the reason.
touch "$T/unhealthy-2.9.2-ubuntu-amd64"
upgrade 1 up2 2.9.2
expect_match "$OUT" 'machine 0: failed \(version 2\.9\.1\): health check did not pass within 2000 ms.*switched back to 2\.9\.1-ubuntu-amd64' "failed health"
[ "$(link)" = 2.9.1-ubuntu-amd64 ] || fail "not switched back: $(link)"
[ "$(tail -n2 "$T/restarts" | tr '\n' ' ')" = "2.9.2-ubuntu-amd64 2.9.1-ubuntu-amd64 " ] ||
	fail "restarts: $(tr '\n' ' ' <"$T/restarts")"
expect_version 2.9.1
[ "$(jq -r .order.state <<<"$(machine_json 0)")" = failed ] || fail "order not failed in the registry"

# 3. A wrong SHA-256: no switch, nothing kept.
upgrade 1 up3 2.9.3
expect_match "$OUT" 'machine 0: failed .*checksum-mismatch' "checksum"
[ "$(link)" = 2.9.1-ubuntu-amd64 ] || fail "switched after a bad download"
[ ! -e "$M/tools/2.9.3-ubuntu-amd64" ] || fail "bad download unpacked"
[ -z "$(find "$M/downloads" -type f)" ] || fail "bad download kept"

# 4. Hostile tarballs: refused whole, with the reason.
for case in "2.9.4:symbolic link" "2.9.5:\"\\.\\.\" in a name" \
	"2.9.6:absolute name" "2.9.7:device" "2.9.11:hard link" \
	"2.9.12:'/' in a name"; do
	v=${case%%:*}
	upgrade 1 "up-$v" "$v"
	expect_match "$OUT" "machine 0: failed .*refused tarball: .*${case#*:}" "tarball $v"
	[ "$(link)" = 2.9.1-ubuntu-amd64 ] || fail "switched to a hostile tarball"
	[ ! -e "$M/tools/$v-ubuntu-amd64" ] || fail "$v unpacked"
done
[ -z "$(find "$M/tools" -name '.unpack-*')" ] || fail "unpack leftovers"
[ ! -e /tmp/evil ] || fail "/tmp/evil was written"

# 5. Refusals before anything is ordered.
cli 1 missing "${AGENT[@]}" upgrade-machine 0 --agent-version 2.9.9
expect_match "$ERR" 'not-found.*missing: 2\.9\.9-ubuntu-amd64' "missing binary named"
cli 1 unknown "${AGENT[@]}" upgrade-machine 0 77 --agent-version 2.9.1
expect_match "$ERR" 'not-found.*unknown machines: 77' "unknown machine named"
cli 1 norevert "${AGENT[@]}" revert-machine 0
expect_match "$ERR" 'conflict' "revert after a failed order"
cli 2 badv "${AGENT[@]}" upgrade-machine 0 --agent-version 2.x
cli 2 twice "${AGENT[@]}" upgrade-machine 0 0 --agent-version 2.9.1
expect_match "$ERR" 'machine id "0" given twice' "an id given twice"
# An upstaged that does not answer: --timeout ends the wait, and says it
# was the answer that was late, not the orders.
kill -STOP "$(pid_of up)"
run 1 mute "$UPSTAGE" --timeout 1 "${AGENT[@]}" upgrade-machine 0 \
	--agent-version 2.9.1
kill -CONT "$(pid_of up)"
expect_match "$ERR" 'timeout.*no answer in time' "a mute upstaged"

# 6. A download cut by killing the agent resumes with Range.
touch "$T/slow"
cli 0 up8 "${AGENT[@]}" upgrade-machine 0 --agent-version 2.9.8
PART=$M/downloads/juju-2.9.8-ubuntu-amd64.tgz
poll_until 20 "a partial download" bash -c \
	"[ \$(stat -c %s '$PART' 2>/dev/null || echo 0) -ge 131072 ]"
kill -KILL "$(pid_of m0)"
wait_exit m0 5
rm -f "$T/slow"
start m0b "${MACHINE[@]}"
await m0b '^order o-[0-9a-f]+-[0-9]+: healthy$' 30
size=$(stat -c %s "$STORE/juju-2.9.8-ubuntu-amd64.tgz")
line=$(grep '^download ok' "$T/m0b.out")
fetched=$(sed -n 's/.*fetched \([0-9]*\) .*/\1/p' <<<"$line")
resumed=$(sed -n 's/.*resumed-from \([0-9]*\)$/\1/p' <<<"$line")
log "resumed at $resumed of $size, fetched $fetched"
[ "$resumed" -gt 0 ] && [ "$fetched" -lt "$size" ] &&
	[ $((fetched + resumed)) -eq "$size" ] ||
	fail "no resume: $line (size $size)"
grep -q "^206 $fetched \"bytes=$resumed-\" /tools/2.9.8-ubuntu-amd64\$" \
	"$T/nginx-access.log" || fail "no 206 for bytes=$resumed- in the access log"
[ "$(link)" = 2.9.8-ubuntu-amd64 ] || fail "not switched to 2.9.8"
expect_version 2.9.8

# 7. The same order id twice (upstaged killed mid-order): carried out once.
touch "$T/slow"
cli 0 up10 "${AGENT[@]}" upgrade-machine 0 --agent-version 2.9.10
order=$(sed -n 's/.*order \(o-[0-9a-f]*-[0-9]*\): upgrade to.*/\1/p' <<<"$OUT")
PART=$M/downloads/juju-2.9.10-ubuntu-amd64.tgz
poll_until 20 "a partial download" bash -c \
	"[ \$(stat -c %s '$PART' 2>/dev/null || echo 0) -ge 65536 ]"
kill -KILL "$(pid_of up)"
wait_exit up 5
# shellcheck disable=SC2086
start up2 "$UPSTAGED" --data-dir "$T/data-up" --log-level info \
	--auth-file "$T/auth" --listen "127.0.0.1:$UP_PORT" $TOOLS_ARGS
await up2 '^listening wss?://'
poll_until 20 "order $order re-sent" bash -c \
	"[ \$(grep -c '^order received $order ' '$T/m0b.out') -ge 2 ]"
rm -f "$T/slow"
await m0b "^order $order: healthy\$" 40
grep -q "order $order again: downloading" "$T/m0b.err" ||
	fail "the re-sent order was not recognised as the same"
[ "$(grep -c '^download ok' "$T/m0b.out")" -eq 2 ] ||
	fail "downloads: $(grep -c '^download' "$T/m0b.out") (2.9.8 and 2.9.10 once each)"
[ "$(grep -c '^2.9.10-ubuntu-amd64$' "$T/restarts")" -eq 1 ] ||
	fail "2.9.10 restarted $(grep -c '^2.9.10-ubuntu-amd64$' "$T/restarts") times"
[ "$(link)" = 2.9.10-ubuntu-amd64 ] || fail "not switched to 2.9.10"

# 8. Revert: back to 2.9.8, which is still on disk.
cli 0 rev "${AGENT[@]}" revert-machine 0 --wait --wait-timeout 60
expect_match "$OUT" 'machine 0: reverted \(version 2\.9\.8\)' "reverted"
[ "$(link)" = 2.9.8-ubuntu-amd64 ] || fail "revert did not switch back: $(link)"
[ "$(grep -c '^download' "$T/m0b.out")" -eq 2 ] || fail "revert downloaded"
expect_version 2.9.8

stop m0b TERM 5000
stop up2 TERM 5000
