#!/bin/bash
# Malicious names and versions: UploadBegin (and Delete, List, Status)
# with path tricks, NULs, 4 KiB names, bad arch/release/stream,
# non-canonical versions, bad digests and sizes is refused with bad-request
# (too-large for sizes over the limit), and not one file appears or
# disappears anywhere: the data directory and everything around it are
# snapshotted before and after. upstaged keeps serving.
. "$(dirname "$0")/lib.sh" "$@"

# The data directory sits deep inside a box, so that a path escaping it
# with ../ still lands somewhere the snapshot sees.
BOX=$T/box
DATA=$BOX/a/b/c/data
mkdir -p "$DATA" "$BOX/a/b/c/tools" "$BOX/tmp"
start agent "$UPSTAGED" --data-dir "$DATA" --log-level info \
	--listen 127.0.0.1:0
await agent '^listening wss?://'
URL=ws://127.0.0.1:$(port_of agent)

GOOD_SHA=$(printf 'x' | sha256sum | cut -d' ' -f1)
UPPER_SHA=$(tr a-f A-F <<<"$GOOD_SHA")
A4K=$(head -c 4096 /dev/zero | tr '\0' a)
BV=2.9.1-ubuntu-amd64

# A stored binary, so that Delete has something it must not touch.
head -c 5000 /dev/urandom >"$T/real.tgz"
uc 0 store-real --agent "$URL" --file "$T/real.tgz" --binary-version "$BV"
expect_code store-real commit ok
expect_stored "$DATA" released "$BV" "$T/real.tgz"

snap() {
	tree_snapshot "$BOX" | grep -Ev ' a/b/c/data/upstage\.db(-wal|-shm|-journal)?$'
	find "$T" -maxdepth 1 -mindepth 1 -newer "$T/real.tgz" \
		! -name '*.stdout' ! -name '*.stderr' ! -name '*.out' \
		! -name '*.err' ! -name '*.snap' ! -name box -printf '%y %P\n' | LC_ALL=C sort
}
snap >"$T/before.snap"
N=0

# begin_refused CODE DESC PARAMS_JSON: UploadBegin with raw params.
begin_refused() {
	local want=$1 desc=$2 params=$3
	N=$((N + 1))
	uc 0 "name$N" --agent "$URL" --raw-begin "$params"
	[ "$(uc_code "name$N" begin)" = "$want" ] ||
		fail "$desc: expected $want, got $(uc_line "name$N" begin)"
}

# bv_refused BV DESC: a binary version (raw JSON string contents).
bv_refused() {
	begin_refused bad-request "binary-version $2" \
		"{\"binary-version\":\"$1\",\"stream\":\"released\",\"size\":10,\"sha256\":\"$GOOD_SHA\"}"
}

# Path tricks.
bv_refused '../2.9.1-ubuntu-amd64' 'with ../ in front'
bv_refused '../../../../tmp/x-2.9.1-ubuntu-amd64' 'climbing out'
bv_refused '2.9.1-ubuntu-amd64/../../../x' 'with ../ behind'
bv_refused '2.9.1-../-amd64' '.. as the release'
bv_refused '2.9.1-ubuntu-..' '.. as the arch'
bv_refused '/etc/passwd' 'absolute path'
bv_refused '/2.9.1-ubuntu-amd64' 'leading /'
bv_refused '2.9.1-ubuntu/amd64' '/ inside'
bv_refused '2.9.1-ubuntu-amd64/' 'trailing /'
bv_refused '2.9.1-ubuntu-amd64\\' 'trailing backslash'
bv_refused '.' 'dot'
bv_refused '' 'empty'
# NUL, escaped (the envelope itself is valid JSON).
bv_refused '2.9.1-ubuntu-amd64\u0000../../x' 'NUL then a path'
bv_refused '2.9.1\u0000-ubuntu-amd64' 'NUL inside'
bv_refused '\u0000' 'only NUL'
# Long names.
bv_refused "$A4K" '4 KiB of a'
bv_refused "2.9.1-$A4K-amd64" '4 KiB release'
bv_refused "2.9.1-ubuntu-$A4K" '4 KiB arch'
bv_refused "2.9.1-$(head -c 33 /dev/zero | tr '\0' u)-amd64" '33-char release'
bv_refused "$(head -c 4000 /dev/zero | tr '\0' 9).9.1-ubuntu-amd64" \
	'4000-digit major'
bv_refused '99999999999.9.1-ubuntu-amd64' 'major over 32 bits'
# Bad arch and release.
for a in amd65 AMD64 x86_64 i386x '' 'amd64 ' ' amd64' 'amd64\n'; do
	bv_refused "2.9.1-ubuntu-$a" "arch '$a'"
done
for r in Ubuntu 1ubuntu ubuntu_x 'ubu ntu' '' 'jammy%2f' '*'; do
	bv_refused "2.9.1-$r-amd64" "release '$r'"
done
# Not canonical (each parses, but is spelled differently when formatted).
for v in 2.9 02.9.1 2.09.1 2.9.01 2.9.1.0 2.9.1.00 002.009.001; do
	bv_refused "$v-ubuntu-amd64" "non-canonical version $v"
done
# Not a version at all.
for v in 2 2. .9.1 2.9.1. 2..1 v2.9.1 2.9.1-RC1 2.9-rc 2.9.1.1.1 -1.9.1; do
	bv_refused "$v-ubuntu-amd64" "bad version $v"
done

# stream_refused STREAM DESC
stream_refused() {
	begin_refused bad-request "stream $2" \
		"{\"binary-version\":\"$BV\",\"stream\":\"$1\",\"size\":10,\"sha256\":\"$GOOD_SHA\"}"
}
for s in '../x' '..' '.' '' '/' '/tmp' 'released/../../x' 'released/' \
	Released RELEASED 'released\u0000' '\u0000released' 'released ' \
	'devel/../released' 'nightly' "$A4K"; do
	stream_refused "$s" "'${s:0:40}'"
done

# sha_refused SHA_JSON DESC: the sha256 value as raw JSON.
sha_refused() {
	begin_refused bad-request "sha256 $2" \
		"{\"binary-version\":\"$BV\",\"stream\":\"released\",\"size\":10,\"sha256\":$1}"
}
sha_refused "\"$UPPER_SHA\"" uppercase
sha_refused "\"${GOOD_SHA:0:63}\"" '63 digits'
sha_refused "\"${GOOD_SHA}0\"" '65 digits'
sha_refused "\"${GOOD_SHA:0:63}g\"" 'non-hex digit'
sha_refused "\"${GOOD_SHA:0:32}\"" 'half'
sha_refused '""' empty
sha_refused "\"${GOOD_SHA:0:63}\\u0000\"" 'NUL as the last digit'
sha_refused "\"../../../${GOOD_SHA:0:55}\"" 'path'
sha_refused "\"$A4K\"" '4 KiB'
sha_refused 12345 'a number'
sha_refused null null

# size_refused CODE SIZE_JSON DESC
size_refused() {
	begin_refused "$1" "size $3" \
		"{\"binary-version\":\"$BV\",\"stream\":\"released\",\"size\":$2,\"sha256\":\"$GOOD_SHA\"}"
}
size_refused bad-request 0 zero
size_refused bad-request -1 negative
size_refused bad-request -4294967296 'very negative'
size_refused bad-request 1.5 fractional
size_refused bad-request '"10"' 'a string'
size_refused bad-request 18446744073709551616 '2^64'
size_refused bad-request 1e400 '1e400'
size_refused too-large 9007199254740991 '2^53 - 1'
size_refused too-large 4611686018427387904 '2^62'
size_refused too-large $((4 * 1024 * 1024 * 1024 + 1)) '4 GiB + 1 (the default limit)'

# Missing, extra and ill-typed members.
begin_refused bad-request 'no sha256' \
	"{\"binary-version\":\"$BV\",\"stream\":\"released\",\"size\":10}"
begin_refused bad-request 'no size' \
	"{\"binary-version\":\"$BV\",\"stream\":\"released\",\"sha256\":\"$GOOD_SHA\"}"
begin_refused bad-request 'no binary-version' \
	"{\"stream\":\"released\",\"size\":10,\"sha256\":\"$GOOD_SHA\"}"
begin_refused bad-request 'an extra path member' \
	"{\"binary-version\":\"$BV\",\"stream\":\"released\",\"size\":10,\"sha256\":\"$GOOD_SHA\",\"path\":\"../../x\"}"
begin_refused bad-request 'binary-version as an array' \
	"{\"binary-version\":[\"$BV\"],\"stream\":\"released\",\"size\":10,\"sha256\":\"$GOOD_SHA\"}"
begin_refused bad-request 'force as a string' \
	"{\"binary-version\":\"$BV\",\"stream\":\"released\",\"size\":10,\"sha256\":\"$GOOD_SHA\",\"force\":\"yes\"}"
begin_refused bad-request 'duplicate binary-version' \
	"{\"binary-version\":\"$BV\",\"binary-version\":\"../x\",\"stream\":\"released\",\"size\":10,\"sha256\":\"$GOOD_SHA\"}"

# The other requests that take names: Delete, List, Status.
# call_refused CODE METHOD PARAMS DESC
call_refused() {
	local want=$1 method=$2 params=$3 desc=$4
	N=$((N + 1))
	uc 0 "call$N" --agent "$URL" --call "$method" --params "$params"
	expect_code "call$N" call $want # several codes, split on purpose
}
call_refused bad-request Delete '{"binary-version":"../../../a/b/c/data/upstage.db"}' 'Delete ../'
call_refused bad-request Delete "{\"binary-version\":\"$BV\",\"stream\":\"../released\"}" 'Delete stream ../'
call_refused bad-request Delete "{\"binary-version\":\"$BV\",\"stream\":\"released\\u0000x\"}" 'Delete stream NUL'
# Not canonical: refused (or not found), never taken for the stored 2.9.1.
call_refused 'bad-request not-found' Delete '{"binary-version":"02.9.1-ubuntu-amd64"}' 'Delete non-canonical'
call_refused bad-request Delete "{\"binary-version\":\"$A4K\"}" 'Delete 4 KiB'
call_refused bad-request List '{"stream":"../x"}' 'List ../'
call_refused bad-request List "{\"stream\":\"$A4K\"}" 'List 4 KiB'
call_refused 'bad-request not-found' UploadStatus '{"upload-id":0}' 'Status id 0'
call_refused bad-request UploadStatus '{"upload-id":-1}' 'Status id -1'
call_refused bad-request UploadStatus '{"upload-id":"../1"}' 'Status id string'
call_refused bad-request UploadCommit '{"upload-id":1.5}' 'Commit id 1.5'
call_refused bad-request UploadAbort '{}' 'Abort without id'

# Nothing appeared or vanished anywhere; the stored binary is intact.
snap >"$T/after.snap"
diff -u "$T/before.snap" "$T/after.snap" >&2 ||
	fail "the file tree changed after $N refused requests"
expect_stored "$DATA" released "$BV" "$T/real.tgz"
cli 0 list --agent "$URL" --json list-agent-binaries
[ "$(jq length <<<"$OUT")" -eq 1 ] || fail "list after the abuse: $OUT"
log "$N refused requests, file tree unchanged"

# Still serving, and a good upload still works.
cli 0 ping --agent "$URL" ping
head -c 3000 /dev/urandom >"$T/next.tgz"
uc 0 store-next --agent "$URL" --file "$T/next.tgz" \
	--binary-version 3.0-rc2-jammy-arm64 --stream devel
expect_code store-next commit ok
expect_stored "$DATA" devel 3.0-rc2-jammy-arm64 "$T/next.tgz"
alive agent || fail "upstaged died"
stop agent TERM 3000
