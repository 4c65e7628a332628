#!/bin/bash
# The published simplestreams metadata over a real upstaged's lifetime:
# walked the way Juju reads it (ss_check.sh: every item fetched over HTTP,
# size and SHA-256 checked, every level against Juju's own files) after
# uploads to two streams; the bytes on disk are the bytes served; a failed
# upload (lying digest), an aborted one and an unknown release leave them
# untouched (not even rewritten); a delete takes the binary out of the
# metadata and of HTTP; a stream emptied loses its products file; a
# restart publishes the same bytes and rewrites nothing; another upstaged
# holding the same catalog publishes the same bytes; an ABI 1.0 store
# plugin publishes and serves nothing, and says so.
. "$(dirname "$0")/lib.sh" "$@"

HERE=$(cd "$(dirname "$0")" && pwd)
REF=$HERE/../data/simplestreams
ss_check() { bash "$HERE/ss_check.sh" "http://127.0.0.1:$PORT" "$REF"; }
FILES="index2.json index.json com.ubuntu.juju-released-agents.json
com.ubuntu.juju-proposed-agents.json"

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
HTTP=http://127.0.0.1:$PORT
DATA=$T/data-agent
META=$DATA/streams/v1

# Nothing stored: an empty index, no legacy index.
OUT=$(ss_check) || fail "empty store: $OUT"
expect_match "$OUT" '0 streams, 0 products, 0 items' "empty store"

BVS=(2.9.1-focal-amd64 2.9.1-ubuntu-arm64 2.9.1-jammy-ppc64el
	2.9.2-focal-amd64 2.9.2-ubuntu-arm64)
make_tarballs "$T/tgz" 96 "${BVS[@]}"
cli 0 sync --agent "$URL" sync-agent-binary --source "$T/tgz" --agent-version 2.9
make_tarballs "$T/prop" 48 3.0.1-noble-s390x 3.0.1-ubuntu-riscv64
cli 0 sync-prop --agent "$URL" sync-agent-binary --source "$T/prop" \
	--agent-version 3.0 --stream proposed
OUT=$(ss_check) || fail "after uploads: $OUT"
expect_match "$OUT" '2 streams, 5 products, 7 items' "after uploads"
log "$OUT"
# Series by their version number, OS types as they are.
curl -sS "$HTTP/streams/v1/com.ubuntu.juju-released-agents.json" |
	jq -e '.products | has("com.ubuntu.juju:20.04:amd64") and
		has("com.ubuntu.juju:ubuntu:arm64") and
		has("com.ubuntu.juju:22.04:ppc64el")' >/dev/null ||
	fail "product ids of the released stream"
curl -sS "$HTTP/streams/v1/com.ubuntu.juju-released-agents.json" |
	jq -e '.products["com.ubuntu.juju:20.04:amd64"].version == "2.9.2"' \
		>/dev/null || fail "a product's version is its newest item's"

# What is served is what is on disk.
same_as_disk() {
	local f
	for f in $FILES; do
		curl -sS --fail -o "$T/served" "$HTTP/streams/v1/$f" ||
			fail "$f not served"
		cmp -s "$T/served" "$META/$f" || fail "$f served differs from disk"
	done
}
same_as_disk

# snapshot NAME: the metadata files' bytes, inodes and times.
snapshot() {
	rm -rf "$T/snap-$1"
	mkdir -p "$T/snap-$1"
	cp -p "$META"/*.json "$T/snap-$1/"
	(cd "$META" && stat -c '%n %i %Y.%y' *.json) >"$T/snap-$1.stat"
}
# unchanged NAME WHAT: the metadata is that snapshot, not even rewritten.
unchanged() {
	local f
	for f in "$T/snap-$1"/*.json; do
		cmp -s "$f" "$META/$(basename "$f")" ||
			fail "$2: $(basename "$f") changed"
	done
	[ "$(ls "$META" | grep -c '\.json$')" = "$(ls "$T/snap-$1" | wc -l)" ] ||
		fail "$2: files appeared or went: $(ls "$META")"
	diff -q "$T/snap-$1.stat" <(cd "$META" && stat -c '%n %i %Y.%y' *.json) \
		>/dev/null || fail "$2: metadata files were rewritten"
}
snapshot full

# A failed upload (the digest lies), an aborted one, an unknown release.
head -c 200000 /dev/urandom >"$T/lie.tgz"
OTHER_SHA=$(printf 'other' | sha256sum | cut -d' ' -f1)
uc 0 lie --agent "$URL" --file "$T/lie.tgz" --binary-version 2.9.3-focal-amd64 \
	--claim-sha256 "$OTHER_SHA"
expect_code lie commit checksum-mismatch
unchanged full "after a failed upload"
uc 0 aborted --agent "$URL" --file "$T/lie.tgz" \
	--binary-version 2.9.3-focal-amd64 --stop-after 100000 --abort
expect_code aborted abort ok
unchanged full "after an aborted upload"
uc 0 linux --agent "$URL" --file "$T/lie.tgz" --binary-version 2.9.3-linux-amd64
expect_code linux begin bad-request
uc_line linux begin | jq -e '.message.error | test("unknown release \"linux\"; known releases: ubuntu .* focal .* noble")' \
	>/dev/null || fail "unknown release: $(uc_line linux begin)"
unchanged full "after an unknown release"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/tools/2.9.3-focal-amd64")" = 404 ] ||
	fail "a failed upload is served"

# A delete: out of the metadata and of HTTP (by every path).
cli 0 rm1 --agent "$URL" remove-agent-binary 2.9.1-focal-amd64
curl -sS "$HTTP/streams/v1/com.ubuntu.juju-released-agents.json" |
	jq -e '[.. | objects | select(has("sha256")) | .version + "-" + .release + "-" + .arch] |
		index("2.9.1-focal-amd64") == null and length == 4' >/dev/null ||
	fail "deleted binary still in the metadata"
for p in /tools/2.9.1-focal-amd64 /tools/released/juju-2.9.1-focal-amd64.tgz \
	/model/00000000-0000-4000-8000-000000000000/tools/2.9.1-focal-amd64; do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP$p")" = 404 ] ||
		fail "deleted binary still served at $p"
done
OUT=$(ss_check) || fail "after a delete: $OUT"
expect_match "$OUT" '2 streams, 5 products, 6 items' "after a delete"

# The proposed stream emptied: its products file goes.
cli 0 rm2 --agent "$URL" remove-agent-binary 3.0.1-noble-s390x --stream proposed
cli 0 rm3 --agent "$URL" remove-agent-binary 3.0.1-ubuntu-riscv64 --stream proposed
[ ! -e "$META/com.ubuntu.juju-proposed-agents.json" ] ||
	fail "an empty stream's products file is still there"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/streams/v1/com.ubuntu.juju-proposed-agents.json")" = 404 ] ||
	fail "an empty stream's products file is still served"
OUT=$(ss_check) || fail "after emptying proposed: $OUT"
expect_match "$OUT" '1 streams, 3 products, 4 items' "after emptying proposed"
FILES="index2.json index.json com.ubuntu.juju-released-agents.json"
same_as_disk
snapshot before-restart

# A restart publishes the same bytes and rewrites nothing.
stop agent TERM 5000
start_upstaged agent --listen 127.0.0.1:0
unchanged before-restart "after a restart"
OUT=$(ss_check) || fail "after a restart: $OUT"

# Another upstaged holding the same catalog and binaries (a copy of the
# data directory, without the metadata): the same bytes.
stop agent TERM 5000
mkdir -p "$T/data-second"
(cd "$DATA" && tar --exclude=./streams -cf - .) | (cd "$T/data-second" && tar -xf -)
[ ! -e "$T/data-second/streams" ] || fail "the copy has metadata"
start second "$UPSTAGED" --data-dir "$T/data-second" --listen 127.0.0.1:0 \
	--log-level info
await second '^listening wss?://'
PORT=$(port_of second)
for f in $FILES; do
	curl -sS --fail -o "$T/second-$f" "http://127.0.0.1:$PORT/streams/v1/$f" ||
		fail "second upstaged does not serve $f"
	cmp -s "$T/second-$f" "$T/snap-before-restart/$f" ||
		fail "second upstaged publishes other bytes in $f"
done
OUT=$(ss_check) || fail "second upstaged: $OUT"
stop second TERM 5000

# An ABI 1.0 store plugin: uploads work, nothing is published or served.
ABI10=$(find_bin store-fs-abi10.so tests/unit/agent/store/plugins/store-fs-abi10.so)
start_upstaged old --listen 127.0.0.1:0 --store-plugin "$ABI10"
await old.err 'no simplestreams metadata is published'
cli 0 sync-old --agent "ws://127.0.0.1:$PORT" sync-agent-binary \
	--source "$T/tgz" --agent-version 2.9
for p in /streams/v1/index2.json /tools/2.9.1-focal-amd64 \
	/tools/released/juju-2.9.1-focal-amd64.tgz; do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$p")" = 404 ] ||
		fail "ABI 1.0 store: $p is served"
done
[ ! -e "$T/data-old/streams/v1/index2.json" ] || fail "ABI 1.0 store: metadata written"
[ "$(curl -s "http://127.0.0.1:$PORT/healthz")" = ok ] || fail "ABI 1.0: /healthz"
stop old TERM 5000
