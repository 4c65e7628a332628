#!/bin/bash
# HTTP on upstaged's port against a real daemon, with curl: every route
# (metadata files, item paths, /tools/<bv>, /model/<uuid>/tools/<bv>,
# /healthz) with GET and HEAD (no body, the same length), Range (206 and
# Content-Range; 416), ETag and If-None-Match (304), If-Range, 404 and 405
# (Allow) with JSON bodies, 414 past the limit; which stream /tools/<bv>
# serves; a traversal attempt on every route (plain, percent-encoded,
# backslash, double-encoded, NUL) answered 400 or 404 with nothing from
# the data directory served; websocket upgrades only on / with version 13;
# and all of it over https, which is HTTP/1.1 even when curl asks for h2.
. "$(dirname "$0")/lib.sh" "$@"

# code URL [CURL_ARGS...]: the status curl gets.
code() {
	local url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' "${CURLX[@]}" "$@" "$url" || true
}
# expect_status WANT URL [CURL_ARGS...]: WANT may list several: "400|404".
expect_status() {
	local want=$1 url=$2 got
	shift 2
	got=$(code "$url" "$@")
	[[ "|$want|" == *"|$got|"* ]] || fail "$url ${*}: $got, expected $want"
}
CURLX=()

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT
H=http://127.0.0.1:$PORT
DATA=$T/data-agent

make_tarballs "$T/tgz" 300 2.9.1-focal-amd64 2.9.1-ubuntu-arm64
cli 0 sync --agent "$URL" sync-agent-binary --source "$T/tgz" --agent-version 2.9
F=$T/tgz/juju-2.9.1-focal-amd64.tgz
SIZE=$(stat -c %s "$F")
SHA=$(sha256_of "$F")
UUID=deadbeef-0123-4567-89ab-cdef01234567

check_routes() {
	local base=$1 p hdr

	for p in /tools/2.9.1-focal-amd64 /tools/released/juju-2.9.1-focal-amd64.tgz \
		/model/$UUID/tools/2.9.1-focal-amd64; do
		curl -sS --fail "${CURLX[@]}" -D "$T/h" -o "$T/body" "$base$p" ||
			fail "GET $p"
		cmp -s "$T/body" "$F" || fail "GET $p: other bytes"
		grep -qi "^etag: \"$SHA\"" "$T/h" || fail "GET $p: ETag"
		grep -qi '^accept-ranges: bytes' "$T/h" || fail "GET $p: Accept-Ranges"
		grep -qi '^content-type: application/x-tar-gz' "$T/h" ||
			fail "GET $p: Content-Type"
		grep -qi "^content-length: $SIZE" "$T/h" || fail "GET $p: Content-Length"
		# HEAD: the same headers, no body.
		curl -sS --fail "${CURLX[@]}" -I -o "$T/head" "$base$p" || fail "HEAD $p"
		grep -qi "^content-length: $SIZE" "$T/head" || fail "HEAD $p: length"
		grep -qi "^etag: \"$SHA\"" "$T/head" || fail "HEAD $p: ETag"
		# A range, the tail, beyond the end.
		curl -sS "${CURLX[@]}" -D "$T/h" -o "$T/body" -r 1000-1999 "$base$p"
		head -n1 "$T/h" | grep -q ' 206' || fail "Range $p: $(head -n1 "$T/h")"
		grep -qi "^content-range: bytes 1000-1999/$SIZE" "$T/h" ||
			fail "Range $p: Content-Range"
		cmp -s "$T/body" <(tail -c +1001 "$F" | head -c 1000) ||
			fail "Range $p: bytes"
		curl -sS "${CURLX[@]}" -o "$T/body" -r -100 "$base$p"
		cmp -s "$T/body" <(tail -c 100 "$F") || fail "suffix range $p"
		expect_status 416 "$base$p" -r "$SIZE-"
		curl -s "${CURLX[@]}" -D "$T/h" -o /dev/null -r "$SIZE-" "$base$p"
		grep -qi "^content-range: bytes \*/$SIZE" "$T/h" || fail "416 $p: Content-Range"
		# Conditional.
		expect_status 304 "$base$p" -H "If-None-Match: \"$SHA\""
		expect_status 304 "$base$p" -H "If-None-Match: \"x\", W/\"$SHA\""
		expect_status 200 "$base$p" -H 'If-None-Match: "other"'
		expect_status 206 "$base$p" -r 0-9 -H "If-Range: \"$SHA\""
		expect_status 200 "$base$p" -r 0-9 -H 'If-Range: "other"'
		# Only GET and HEAD.
		for m in POST PUT DELETE PATCH OPTIONS; do
			curl -s "${CURLX[@]}" -X "$m" -D "$T/h" -o "$T/body" "$base$p"
			head -n1 "$T/h" | grep -q ' 405' || fail "$m $p: $(head -n1 "$T/h")"
			grep -qi '^allow: GET, HEAD' "$T/h" || fail "$m $p: Allow"
			jq -e '."error-code" == "not-implemented"' "$T/body" >/dev/null ||
				fail "$m $p: body $(cat "$T/body")"
		done
	done
	# Metadata: JSON, an ETag that is the file's SHA-256.
	for p in /streams/v1/index2.json /streams/v1/index.json \
		/streams/v1/com.ubuntu.juju-released-agents.json; do
		curl -sS --fail "${CURLX[@]}" -D "$T/h" -o "$T/body" "$base$p" ||
			fail "GET $p"
		grep -qi '^content-type: application/json' "$T/h" || fail "$p: type"
		grep -qi "^etag: \"$(sha256_of "$T/body")\"" "$T/h" || fail "$p: ETag"
		jq -e . "$T/body" >/dev/null || fail "$p: not JSON"
		expect_status 304 "$base$p" -H "If-None-Match: \"$(sha256_of "$T/body")\""
	done
	# /healthz: HEAD has no body; only GET and HEAD.
	[ "$(curl -s "${CURLX[@]}" "$base/healthz")" = ok ] || fail "/healthz"
	curl -s "${CURLX[@]}" -I -o "$T/head" "$base/healthz"
	grep -qi '^content-length: 3' "$T/head" || fail "HEAD /healthz length"
	[ "$(curl -s "${CURLX[@]}" -X HEAD -o - "$base/healthz" --max-time 3 | wc -c)" = 0 ] ||
		fail "HEAD /healthz has a body"
	expect_status 405 "$base/healthz" -X POST -d x
	expect_status 405 "$base/healthz" -X DELETE
	# 404 with a JSON body.
	curl -s "${CURLX[@]}" -o "$T/body" "$base/tools/9.9.9-focal-amd64"
	jq -e '."error-code" == "not-found" and (.error | length) > 0' "$T/body" \
		>/dev/null || fail "404 body: $(cat "$T/body")"
	expect_status 404 "$base/"
	expect_status 404 "$base/upstage.db"
}
check_routes "$H"

# /tools/<bv> in several streams: released, then proposed, devel, testing.
make_tarballs "$T/multi" 20 3.1.0-ubuntu-amd64
M=$T/multi/juju-3.1.0-ubuntu-amd64.tgz
cp "$M" "$T/multi-devel.tgz"
cli 0 sync-devel --agent "$URL" sync-agent-binary --source "$T/multi" \
	--agent-version 3.1 --stream devel
curl -sS --fail -o "$T/body" "$H/tools/3.1.0-ubuntu-amd64" && cmp -s "$T/body" "$M" ||
	fail "devel only: /tools serves other bytes"
make_tarballs "$T/multi2" 21 3.1.0-ubuntu-amd64
cli 0 sync-proposed --agent "$URL" sync-agent-binary --source "$T/multi2" \
	--agent-version 3.1 --stream proposed
cmp -s <(curl -sS --fail "$H/tools/3.1.0-ubuntu-amd64") "$T/multi2/juju-3.1.0-ubuntu-amd64.tgz" ||
	fail "proposed before devel"
cmp -s <(curl -sS --fail "$H/tools/devel/juju-3.1.0-ubuntu-amd64.tgz") "$M" ||
	fail "the devel item path"

# 414 past the limit (1024); lws itself drops a request line past its
# header buffer (8192) without an answer.
LONG=/tools/$(head -c 1100 /dev/zero | tr '\0' a)
expect_status 414 "$H$LONG"
curl -s -o "$T/body" "$H$LONG"
jq -e '."error-code" == "too-large"' "$T/body" >/dev/null || fail "414 body"
expect_status "000" "$H/tools/$(head -c 9000 /dev/zero | tr '\0' a)"

# Traversal on every route: 400 or 404, and nothing of the data dir.
echo "do-not-serve" >"$DATA/secret.tgz"
for route in /tools/ /tools/released/ /model/$UUID/tools/ /streams/v1/ /; do
	for t in '../upstage.db' '../../upstage.db' '..%2fupstage.db' \
		'%2e%2e/upstage.db' '%2e%2e%2fupstage.db' '..\upstage.db' \
		'..%5cupstage.db' '%252e%252e%252fupstage.db' '..%252fupstage.db' \
		'%2e%2e/%2e%2e/secret.tgz' '..%00/upstage.db' '.%2e/secret.tgz' \
		'../../../../../../etc/passwd'; do
		c=$(code "$H$route$t" --path-as-is)
		[ "$c" = 400 ] || [ "$c" = 404 ] || [ "$c" = 000 ] ||
			fail "GET $route$t: $c"
		if { curl -s --path-as-is "$H$route$t" || true; } |
			grep -q -a -e 'do-not-serve' -e 'SQLite'; then
			fail "GET $route$t served the data directory"
		fi
	done
done
# What lws leaves for upstaged to refuse: backslashes and anything still
# encoded after its one decoding.
expect_status 400 "$H/tools/..\\upstage.db" --path-as-is
expect_status 400 "$H/tools/..%5cupstage.db" --path-as-is
expect_status 400 "$H/tools/%252e%252e%252fupstage.db" --path-as-is
expect_status 400 "$H/streams/v1/..%252findex2.json" --path-as-is
alive agent || fail "upstaged died"

# Websocket upgrades: only / and version 13.
ws_status() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
		-H 'Connection: Upgrade' -H 'Upgrade: websocket' \
		-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
		-H "Sec-WebSocket-Version: $2" "$H$1" || true
}
[ "$(ws_status /x 13)" = 404 ] || fail "upgrade on /x"
[ "$(ws_status /tools/2.9.1-focal-amd64 13)" = 404 ] || fail "upgrade on /tools"
[ "$(ws_status / 8)" = 426 ] || fail "upgrade with version 8"
[ "$(ws_status / 13)" = 101 ] || fail "upgrade on / with 13"
cli 0 ping --agent "$URL" ping

stop agent TERM 5000

# The same over TLS: HTTP/1.1 by ALPN, whatever curl offers.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" \
	-out "$T/cert.pem" >/dev/null 2>&1 || fail "openssl req"
mkdir -p "$T/data-tls"
(cd "$DATA" && tar --exclude=./streams -cf - .) | (cd "$T/data-tls" && tar -xf -)
start tls "$UPSTAGED" --data-dir "$T/data-tls" --listen 127.0.0.1:0 \
	--tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --log-level info
await tls '^listening wss://'
PORT=$(port_of tls)
CURLX=(--cacert "$T/cert.pem")
HS=https://127.0.0.1:$PORT
[ "$(curl -s "${CURLX[@]}" --http2 -o /dev/null -w '%{http_version}' "$HS/healthz")" = 1.1 ] ||
	fail "https is not HTTP/1.1"
check_routes "$HS"
bash "$(dirname "$0")/ss_check.sh" "$HS" "$(dirname "$0")/../data/simplestreams" \
	--cacert "$T/cert.pem" >/dev/null || fail "ss_check over https"
cli 0 ping-tls --agent "wss://127.0.0.1:$PORT" --ca-cert "$T/cert.pem" ping
stop tls TERM 5000
