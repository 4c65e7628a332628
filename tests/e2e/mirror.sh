#!/usr/bin/env bash
# sync-agent-binary --source http://...: one upstaged filled from another
# over HTTP (its published simplestreams): the catalogs end equal, and
# the metadata too except "updated" (each upstaged writes when it stored
# its binaries; the item dates are days and match); a rerun sends
# nothing. A Juju-style
# mirror (item paths agent/<version>/juju-....tgz behind a plain web
# server with Range) whose metadata lies about one binary: that binary is
# refused and nothing of it is committed, the others are synced, exit 1.
# A download cut mid-file resumes with Range from where it stopped; a
# source that stalls fails with a clear error after the timeout. A signed
# source (index2.sjson and products .sjson, clear-signed with a throwaway
# key): read with --keyring; refused without it, with another key, or
# when a signed byte changed; --allow-unsigned reads its .json instead.
. "$(dirname "$0")/lib.sh" "$@"
HERE=$(dirname "$0")

write_auth "$T/auth"
up() { # up NAME: a fresh upstaged; sets ${NAME}_PORT
	start_upstaged "$1" --auth-file "$T/auth" --listen 127.0.0.1:0
	printf -v "${1}_PORT" '%s' "$PORT"
}
agent() { echo "--agent ws://127.0.0.1:$1 --token $CLIENT_TOKEN"; }
catalog() { # catalog PORT: the binaries, without when they were stored
	"$UPSTAGE" --timeout 10 $(agent "$1") list-agent-binaries --json |
		jq -S 'map(del(."stored-at"))'
}

SRC=$T/src
for bv in 2.9.1-ubuntu-amd64 2.9.1-ubuntu-arm64 2.9.2-ubuntu-amd64; do
	make_agent_tarball "$SRC" "$bv" 1536
done
up a
# shellcheck disable=SC2046
cli 0 fill $(agent "$a_PORT") sync-agent-binary --source "$SRC" --agent-version 2.9

# 1. upstaged a -> upstaged b over HTTP.
up b
# shellcheck disable=SC2046
cli 0 m1 $(agent "$b_PORT") sync-agent-binary \
	--source "http://127.0.0.1:$a_PORT" --agent-version 2.9
[ "$(catalog "$a_PORT")" = "$(catalog "$b_PORT")" ] || fail "the catalogs differ"
meta() { curl -sf "http://127.0.0.1:$1/streams/v1/$2" | jq -S 'del(.. | .updated?)'; }
for f in index2.json index.json com.ubuntu.juju-released-agents.json; do
	[ "$(meta "$a_PORT" "$f")" = "$(meta "$b_PORT" "$f")" ] ||
		fail "streams/v1/$f differs between a and b: $(diff <(meta "$a_PORT" "$f") <(meta "$b_PORT" "$f") | head -5)"
done
# Over https, the source's certificate checked with --ca-cert: an
# upstaged with TLS mirrored into another.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" \
	-out "$T/cert.pem" >/dev/null 2>&1 || fail "openssl req"
start_upstaged tls --auth-file "$T/auth" --listen 127.0.0.1:0 \
	--tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
tls_PORT=$PORT
cli 0 filltls --agent "wss://127.0.0.1:$tls_PORT" --token "$CLIENT_TOKEN" \
	--ca-cert "$T/cert.pem" sync-agent-binary --source "$SRC" --agent-version 2.9
up g
# shellcheck disable=SC2046
cli 1 untrusted $(agent "$g_PORT") sync-agent-binary \
	--source "https://127.0.0.1:$tls_PORT" --agent-version 2.9
expect_match "$ERR" 'https://127\.0\.0\.1:[0-9]+/streams/v1/index2\.(s?json): .*(certificate|SSL)' "an unknown certificate refused"
# shellcheck disable=SC2046
cli 0 https $(agent "$g_PORT") --ca-cert "$T/cert.pem" sync-agent-binary \
	--source "https://127.0.0.1:$tls_PORT" --agent-version 2.9
[ "$(catalog "$g_PORT")" = "$(catalog "$a_PORT")" ] ||
	fail "https mirror: $(catalog "$g_PORT" | jq -c '[.[]."binary-version"]')"
stop g TERM 5000
stop tls TERM 5000

# A rerun: everything exists, nothing is sent.
# shellcheck disable=SC2046
cli 0 m2 $(agent "$b_PORT") sync-agent-binary \
	--source "http://127.0.0.1:$a_PORT/" --agent-version 2.9
[ "$(grep -c '^exists ' "$T/m2.stdout")" -eq 3 ] || fail "rerun: not 3 exists: $OUT"
grep -q '^uploaded ' "$T/m2.stdout" && fail "rerun uploaded something"

# A Juju-style mirror: a's metadata with item paths agent/<v>/..., the
# tarballs there, one item's SHA-256 a lie.
M=$T/mirror
mkdir -p "$M/streams/v1"
curl -sf "http://127.0.0.1:$a_PORT/streams/v1/index2.json" >"$M/streams/v1/index2.json"
PRODUCTS=$M/streams/v1/com.ubuntu.juju-released-agents.json
curl -sf "http://127.0.0.1:$a_PORT/streams/v1/com.ubuntu.juju-released-agents.json" |
	jq --indent 4 '(.products[].versions[].items[]) |= (.path = "agent/\(.version)/juju-\(.version)-\(.release)-\(.arch).tgz")' \
	>"$T/truthful.json"
jq --indent 4 '(.products[].versions[].items["2.9.2-ubuntu-amd64"] | select(. != null) | .sha256) |= ("0" * 64)' \
	"$T/truthful.json" >"$PRODUCTS"
grep -q '"sha256": "0000000000000000' "$PRODUCTS" ||
	fail "the lie did not land"
for bv in 2.9.1-ubuntu-amd64 2.9.1-ubuntu-arm64 2.9.2-ubuntu-amd64; do
	mkdir -p "$M/agent/${bv%%-*}"
	cp "$SRC/juju-$bv.tgz" "$M/agent/${bv%%-*}/"
done
# serve NAME ARGS...: the mirror behind range_server.py; sets MPORT.
serve() {
	local name=$1
	shift
	MPORT=$(free_port)
	start "$name" python3 "$HERE/range_server.py" "$M" "$MPORT" "$@"
	await "$name" '^listening '
}

# 2. The lie: refused, named, nothing of it committed; the rest synced.
up c
serve web
# shellcheck disable=SC2046
cli 1 lie $(agent "$c_PORT") sync-agent-binary \
	--source "http://127.0.0.1:$MPORT" --agent-version 2.9
expect_match "$OUT$ERR" '2\.9\.2-ubuntu-amd64.*checksum-mismatch|checksum-mismatch.*2\.9\.2-ubuntu-amd64' "the lying binary named"
[ "$(catalog "$c_PORT" | jq -r '[.[]."binary-version"] | sort | join(" ")')" = \
	"2.9.1-ubuntu-amd64 2.9.1-ubuntu-arm64" ] || fail "c holds: $(catalog "$c_PORT")"
[ ! -e "$T/data-c/tools/released/juju-2.9.2-ubuntu-amd64.tgz" ] ||
	fail "the lying binary was committed"
grep -q '^206 bytes=0-.* /agent/2.9.1/juju-2.9.1-ubuntu-amd64.tgz$' "$T/web.out" ||
	fail "the mirror layout was not read in ranges"
stop web TERM 5000
cp "$T/truthful.json" "$PRODUCTS"

# 3. A download cut after 300,000 bytes resumes with Range there.
up d
serve cut --cut /agent/2.9.1/juju-2.9.1-ubuntu-amd64.tgz:300000
# shellcheck disable=SC2046
cli 0 cut $(agent "$d_PORT") sync-agent-binary \
	--source "http://127.0.0.1:$MPORT" --agent-version 2.9
grep -q '^206 bytes=300000-[0-9]* /agent/2.9.1/juju-2.9.1-ubuntu-amd64.tgz$' "$T/cut.out" ||
	fail "no Range resume at 300000: $(grep amd64 "$T/cut.out" | head -5)"
want=$(sha256_of "$SRC/juju-2.9.1-ubuntu-amd64.tgz")
[ "$(catalog "$d_PORT" | jq -r '.[] | select(."binary-version" == "2.9.1-ubuntu-amd64") | .sha256')" = "$want" ] ||
	fail "the resumed binary is not the source's"

# 4. A source that stalls: a clear error after the timeout, nothing stored.
up e
serve stall --stall /agent/2.9.1/juju-2.9.1-ubuntu-arm64.tgz
# shellcheck disable=SC2046
run 1 stalled "$UPSTAGE" --timeout 2 $(agent "$e_PORT") sync-agent-binary \
	--source "http://127.0.0.1:$MPORT" --agent-version 2.9 --retries 1
expect_match "$OUT$ERR" 'juju-2\.9\.1-ubuntu-arm64\.tgz: stalled' "stall named"
[ "$(catalog "$e_PORT" | jq -r '[.[]."binary-version"] | sort | join(" ")')" = "2.9.1-ubuntu-amd64 2.9.2-ubuntu-amd64" ] ||
	fail "e holds: $(catalog "$e_PORT")"
stop cut TERM 5000

stop stall TERM 5000

# 5. Signed metadata.
command -v gpg >/dev/null || fail "gpg is not installed (install-deps.sh --test)"
export GNUPGHOME=$T/gnupg
mkdir -m 700 "$GNUPGHOME"
gen() { gpg --batch --pinentry-mode loopback --passphrase '' \
	--quick-gen-key "$1 <$1@example.invalid>" ed25519 sign never 2>/dev/null; }
gen other
gpg --export other >"$T/other.gpg"
gen signer
gpg --export signer >"$T/signer.gpg"
S=$M/streams/v1
jq --indent 4 '(.index[] | select(.path | endswith("released-agents.json")) | .path) |= sub("json$"; "sjson")' \
	"$S/index2.json" >"$T/index2-signed.json"
sign() { gpg --batch --yes --local-user signer --clearsign --output "$2" "$1" 2>/dev/null; }
sign "$T/index2-signed.json" "$S/index2.sjson"
sign "$S/com.ubuntu.juju-released-agents.json" "$S/com.ubuntu.juju-released-agents.sjson"
gpgconf --kill all # the agent gpg started is not needed any more
up f
serve signed
SRCURL=http://127.0.0.1:$MPORT
# shellcheck disable=SC2046
cli 0 sig $(agent "$f_PORT") sync-agent-binary --source "$SRCURL" \
	--agent-version 2.9 --keyring "$T/signer.gpg"
grep -q '^200 - /streams/v1/com.ubuntu.juju-released-agents.sjson$' "$T/signed.out" ||
	fail "the signed products file was not read"
[ "$(catalog "$f_PORT" | jq length)" -eq 3 ] || fail "signed: not 3 binaries"
# shellcheck disable=SC2046
cli 1 nokey $(agent "$f_PORT") sync-agent-binary --source "$SRCURL" --agent-version 2.9
expect_match "$ERR" 'index2\.sjson is signed: give --keyring FILE' "no keyring"
# shellcheck disable=SC2046
cli 1 otherkey $(agent "$f_PORT") sync-agent-binary --source "$SRCURL" \
	--agent-version 2.9 --keyring "$T/other.gpg"
expect_match "$ERR" 'index2\.sjson: signature check failed' "another key"
sed -i 's/"size": \([0-9]\)/"size": 9\1/' "$S/com.ubuntu.juju-released-agents.sjson"
# shellcheck disable=SC2046
cli 1 tampered $(agent "$f_PORT") sync-agent-binary --source "$SRCURL" \
	--agent-version 2.9 --keyring "$T/signer.gpg"
expect_match "$ERR" 'released-agents\.sjson: signature check failed' "a changed byte"
# shellcheck disable=SC2046
cli 0 unsigned $(agent "$f_PORT") sync-agent-binary --source "$SRCURL" \
	--agent-version 2.9 --allow-unsigned
[ "$(grep -c '^exists ' "$T/unsigned.stdout")" -eq 3 ] || fail "--allow-unsigned: $OUT"
# Without any source the default (Juju's public streams) is read signed.
run 2 default env -u JUJU_METADATA_SOURCE "$UPSTAGE" $(agent "$f_PORT") \
	sync-agent-binary --agent-version 2.9
expect_match "$ERR" 'streams\.canonical\.com/juju/tools.*--keyring FILE' "default source"

for n in signed a b c d e f; do stop "$n" TERM 5000; done
