# Shared helpers of the end-to-end tests. Source it from a test script:
#
#   . "$(dirname "$0")/lib.sh" "$@"      # $1 is the build directory
#
# Every test gets its own temporary directory ($T), starts real programs on
# 127.0.0.1 with ephemeral ports, waits for their readiness lines with a
# bounded wait (never a bare sleep), and kills whatever it started on exit.
# On failure the daemons' output is printed.

set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/upstage-e2e-$TEST_NAME.XXXXXX")

# Sanitizer builds are slower to start and to stop, the more so with other
# suites running beside them: UPS_E2E_WAIT bounds every wait, and
# UPS_E2E_SLOWDOWN multiplies the limits on how long a stop may take.
if grep -qs '^UPSTAGE_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
	WAIT=${UPS_E2E_WAIT:-30}
	SLOWDOWN=${UPS_E2E_SLOWDOWN:-2}
else
	WAIT=${UPS_E2E_WAIT:-20}
	SLOWDOWN=${UPS_E2E_SLOWDOWN:-1}
fi
# Sanitizer failures get exit codes no test expects, and their reports are
# looked for in every output as well (see sanitizer_check).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=86}
export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=87}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=88}
SANITIZER_RE='ERROR: (Address|Leak)Sanitizer|runtime error:|Sanitizer:DEADLYSIGNAL'

# sanitizer_check FILE...: fails if a sanitizer reported anything there.
sanitizer_check() {
	local f
	for f in "$@"; do
		if [ -f "$f" ] && grep -Eq "$SANITIZER_RE" "$f"; then
			FAILED=1
			log "FAIL: sanitizer report in $(basename "$f"):"
			grep -E -A20 "$SANITIZER_RE" "$f" | head -n 40 >&2
			exit 1
		fi
	done
}
# No ambient configuration from the environment of whoever runs the tests.
unset UPSTAGE_AGENT UPSTAGE_TOKEN

declare -A PIDS=()   # name -> pid of what we started
FAILED=0

log() { echo "[$TEST_NAME] $*" >&2; }

fail() {
	log "FAIL: $*"
	FAILED=1
	exit 1
}

# Finds a built program: the usual place first, else anywhere in BUILD.
find_bin() {
	local name=$1 rel=$2 path
	if [ -x "$BUILD/$rel" ]; then
		echo "$BUILD/$rel"
		return
	fi
	path=$(find "$BUILD" -type f -name "$name" -perm -u+x 2>/dev/null |
		head -n1)
	[ -n "$path" ] || fail "$name not found under $BUILD (not built?)"
	echo "$path"
}

UPSTAGED=$(find_bin upstaged agent/upstaged)
UPSTAGE=$(find_bin upstage contrib/cli/upstage)
RELAY=$(find_bin upstage-relay contrib/relay/upstage-relay)
WS_ABUSE=$(find_bin ws_abuse tests/e2e/ws_abuse)

cleanup() {
	local rc=$? name
	trap - EXIT
	for name in "${!PIDS[@]}"; do
		kill -KILL "${PIDS[$name]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ "$rc" -eq 0 ] && [ "$FAILED" -eq 0 ]; then
		(sanitizer_check "$T"/*.err "$T"/*.stderr) || rc=1
	fi
	if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
		for f in "$T"/*.out "$T"/*.err; do
			[ -s "$f" ] || continue
			echo "---- $(basename "$f") (last 40 lines)" >&2
			tail -n 40 "$f" >&2
		done
		log "FAILED (rc=$rc)"
	else
		log "ok"
	fi
	[ -n "${KEEP_T:-}" ] || rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME PROGRAM ARGS...: runs it in the background with stdout in
# $T/NAME.out and stderr in $T/NAME.err.
start() {
	local name=$1
	shift
	: >"$T/$name.out"
	"$@" >"$T/$name.out" 2>"$T/$name.err" &
	PIDS[$name]=$!
}

pid_of() { echo "${PIDS[$1]}"; }

alive() { kill -0 "${PIDS[$1]}" 2>/dev/null; }

# await NAME REGEX [SECONDS]: blocks until a line of $T/NAME.out matches
# (extended regex), or fails the test after SECONDS or if NAME exits first.
# NAME.err instead of NAME waits on the standard error (the log).
await() {
	local name=${1%.err} re=$2 secs=${3:-$WAIT} file="$T/$1" fd tailpid rc=0
	[ "$name" != "$1" ] || file="$T/$1.out"
	exec {fd}< <(exec tail -n +1 -F --pid="${PIDS[$name]}" "$file" \
		2>/dev/null)
	tailpid=$!
	# tail --pid ends the stream when NAME exits, so grep sees EOF then.
	# (Not awk: mawk waits to fill its input buffer from a pipe.)
	timeout "$secs" grep -Eq -m1 -- "$re" <&"$fd" || rc=$?
	kill "$tailpid" 2>/dev/null || true
	exec {fd}<&-
	case $rc in
	0) return 0 ;;
	124) fail "$name: no line matching /$re/ within ${secs}s" ;;
	*) fail "$name: exited before printing /$re/" ;;
	esac
}

# port_of NAME: the port of NAME's "listening ws[s]://HOST:PORT" line.
port_of() {
	local p
	p=$(sed -n 's|^listening wss\{0,1\}://.*:\([0-9][0-9]*\)$|\1|p' \
		"$T/$1.out" | tail -n1)
	[ -n "$p" ] || fail "$1: no listening line"
	echo "$p"
}

# start_upstaged NAME ARGS...: upstaged with its own data dir, listening on
# an ephemeral loopback port unless ARGS say otherwise; waits until it
# listens and sets PORT.
start_upstaged() {
	local name=$1
	shift
	mkdir -p "$T/data-$name"
	start "$name" "$UPSTAGED" --data-dir "$T/data-$name" \
		--log-level info "$@"
	await "$name" '^listening wss?://'
	PORT=$(port_of "$name")
}

# start_relay NAME AUTHFILE [LISTEN [ARGS...]]: sets PORT.
start_relay() {
	local name=$1 auth=$2 listen=${3:-127.0.0.1:0}
	shift $(($# < 3 ? $# : 3))
	start "$name" "$RELAY" --listen "$listen" --auth-file "$auth" \
		--log-level info "$@"
	await "$name" '^listening wss?://'
	PORT=$(port_of "$name")
}

# wait_exit NAME SECONDS: waits for NAME to exit; sets EXIT_STATUS and
# ELAPSED_MS (from the call). Fails if it is still running after SECONDS.
wait_exit() {
	local name=$1 secs=$2 pid=${PIDS[$1]} t0 t1
	t0=$(date +%s%N)
	timeout "$secs" tail --pid="$pid" -s 0.02 -f /dev/null || true
	t1=$(date +%s%N)
	ELAPSED_MS=$(((t1 - t0) / 1000000))
	if kill -0 "$pid" 2>/dev/null; then
		fail "$name (pid $pid) still running ${secs}s later"
	fi
	EXIT_STATUS=0
	wait "$pid" || EXIT_STATUS=$?
	unset "PIDS[$name]"
	sanitizer_check "$T/$name.err"
}

# stop NAME SIGNAL MAX_MS: signals NAME and asserts it exits with status 0
# within MAX_MS milliseconds (times SLOWDOWN).
stop() {
	local name=$1 sig=$2 max_ms=$(($3 * SLOWDOWN))
	alive "$name" || fail "$name died before SIG$sig"
	kill -"$sig" "${PIDS[$name]}"
	wait_exit "$name" $(((max_ms + 999) / 1000 + 3))
	[ "$EXIT_STATUS" -eq 0 ] ||
		fail "$name: SIG$sig gave exit status $EXIT_STATUS"
	[ "$ELAPSED_MS" -le "$max_ms" ] ||
		fail "$name: SIG$sig took ${ELAPSED_MS} ms (> $max_ms)"
	log "$name: SIG$sig -> exit 0 in ${ELAPSED_MS} ms"
}

# run EXPECTED_RC NAME CMD...: runs a one-shot command (bounded), keeps its
# output in $T/NAME.stdout / .stderr ($OUT holds stdout, $ERR stderr) and
# asserts its exit status (EXPECTED_RC may list several: "1|3").
run() {
	local want=$1 name=$2 rc=0
	shift 2
	timeout "$WAIT" "$@" >"$T/$name.stdout" 2>"$T/$name.stderr" || rc=$?
	OUT=$(cat "$T/$name.stdout")
	ERR=$(cat "$T/$name.stderr")
	sanitizer_check "$T/$name.stderr"
	if ! [[ "|$want|" == *"|$rc|"* ]]; then
		log "command: $*"
		log "stdout: $(head -c 2000 "$T/$name.stdout")"
		log "stderr: $(head -c 2000 "$T/$name.stderr")"
		fail "$name: exit status $rc, expected $want"
	fi
}

# cli EXPECTED_RC NAME ARGS...: the upstage CLI.
cli() {
	local want=$1 name=$2
	shift 2
	run "$want" "$name" "$UPSTAGE" --timeout 10 "$@"
}

# expect_match TEXT REGEX WHAT: asserts TEXT matches the extended REGEX.
expect_match() {
	# A here-string, not a pipe: grep -q exits at the first match, and
	# under pipefail the writer's SIGPIPE would turn that match into a
	# failure.
	grep -Eq -- "$2" <<<"$1" ||
		fail "$3: output does not match /$2/: $(printf '%s' "$1" |
			head -c 1000)"
}

# write_auth FILE: an auth file with one token per role. Sets CLIENT_TOKEN,
# MACHINE_TOKEN, PLUGIN_TOKEN and writes the plugin token to FILE.plugin.
write_auth() {
	CLIENT_TOKEN=client-$RANDOM$RANDOM
	MACHINE_TOKEN=machine-$RANDOM$RANDOM
	PLUGIN_TOKEN=plugin-$RANDOM$RANDOM
	{
		echo "# e2e test tokens"
		echo "client $CLIENT_TOKEN"
		echo "machine $MACHINE_TOKEN"
		echo "plugin $PLUGIN_TOKEN"
	} >"$1"
	echo "$PLUGIN_TOKEN" >"$1.plugin"
	chmod 600 "$1" "$1.plugin"
}

# link_args RELAY_PORT TOKEN_FILE: upstaged flags for a fast controller link.
link_args() {
	echo --controller "ws://127.0.0.1:$1" --controller-token-file "$2" \
		--controller-backoff-initial-ms 50 --controller-backoff-max-ms 500
}

# ---- hostile peers (hostile_peers.sh, relay_hostile.sh) ----

# hostile_run NAME MODE N [ARGS...]: N connections of tests/e2e/hostile in
# MODE against $URL ($HOSTILE is the program), which must all be closed by
# the server; sets CLOSED and SLOWEST (ms).
hostile_run() {
	local name=$1 mode=$2 n=$3
	shift 3
	run 0 "$name" "$HOSTILE" --url "$URL" --connections "$n" \
		--mode "$mode" --timeout $((WAIT - 2)) "$@"
	CLOSED=$(jq -r .closed <<<"$OUT")
	SLOWEST=$(jq -r '."slowest-close-ms"' <<<"$OUT")
	[ "$CLOSED" -eq "$n" ] || fail "$name: $CLOSED of $n closed: $OUT"
	log "$name: $OUT"
}

# hostile_crowd LOG CAP: 60 connections that never log in, more than
# max-pending-sessions (CAP), held while an operator with ${TOK[@]} pings
# $URL. The operator connects once the whole crowd is in (the server's
# LOG says it closed 60 - CAP of them to make room): a crowd still
# arriving could otherwise push the operator out before its login.
hostile_crowd() {
	start crowd "$HOSTILE" --url "$URL" --connections 60 --mode idle \
		--timeout 30
	poll_until 10 "the crowd of 60 filling max-pending-sessions ($2)" \
		crowd_in "$1" "$2"
	cli 0 ping-crowd --agent "$URL" "${TOK[@]}" ping
	wait_exit crowd 30
}

crowd_in() {
	[ "$(grep -c "max-pending-sessions ($2) reached" "$1")" -ge $((60 - $2)) ]
}

# ---- agent binary helpers (sync_*.sh) ----

# make_tarballs DIR KIB BV...: one random juju-BV.tgz of KIB KiB each.
make_tarballs() {
	local dir=$1 kib=$2 bv
	shift 2
	mkdir -p "$dir"
	for bv in "$@"; do
		head -c "$((kib * 1024))" /dev/urandom >"$dir/juju-$bv.tgz"
	done
}

# make_simplestreams DIR STREAM KIB BV...: a simplestreams tree as Juju
# writes it: the tarballs under agent/ named with "linux" as the release
# (as real ones are) while the metadata says the release of BV, plus
# streams/v1/index2.json and the stream's products file.
make_simplestreams() {
	local dir=$1 stream=$2 kib=$3 bv v rel arch file sha size items=""
	shift 3
	mkdir -p "$dir/agent" "$dir/streams/v1"
	for bv in "$@"; do
		arch=${bv##*-}
		rel=${bv%-*}
		rel=${rel##*-}
		v=${bv%-*-*}
		file=agent/juju-$v-linux-$arch.tgz
		head -c "$((kib * 1024))" /dev/urandom >"$dir/$file"
		sha=$(sha256sum "$dir/$file" | cut -d' ' -f1)
		size=$(stat -c %s "$dir/$file")
		items+="${items:+,}\"$bv\":{\"release\":\"$rel\",\"version\":\"$v\",\"arch\":\"$arch\",\"size\":$size,\"path\":\"$file\",\"ftype\":\"tar.gz\",\"sha256\":\"$sha\"}"
	done
	cat >"$dir/streams/v1/index2.json" <<JSON
{"index":{"com.ubuntu.juju:$stream:agents":{"updated":"Thu, 01 Jan 1970 00:00:00 +0000","format":"products:1.0","datatype":"content-download","path":"streams/v1/com.ubuntu.juju-$stream-agents.json","products":["com.ubuntu.juju:ubuntu:amd64"]}},"updated":"Thu, 01 Jan 1970 00:00:00 +0000","format":"index:1.0"}
JSON
	cat >"$dir/streams/v1/com.ubuntu.juju-$stream-agents.json" <<JSON
{"products":{"com.ubuntu.juju:ubuntu:all":{"versions":{"19700101":{"items":{$items}}}}},"updated":"Thu, 01 Jan 1970 00:00:00 +0000","format":"products:1.0","content_id":"com.ubuntu.juju:$stream:agents"}
JSON
}

# stored DATA_DIR STREAM BV: the path upstaged stores BV under.
stored() { echo "$1/tools/$2/juju-$3.tgz"; }

# expect_stored DATA_DIR STREAM BV FILE: the stored copy is byte-identical.
expect_stored() {
	local s
	s=$(stored "$1" "$2" "$3")
	[ -f "$s" ] || fail "$3 not stored at $s"
	cmp -s "$s" "$4" || fail "$s differs from $4"
}

# partial_size DATA_DIR: bytes of the largest partial upload (0 if none).
partial_size() {
	local n
	n=$(find "$1" -name '*.part' -type f -printf '%s\n' 2>/dev/null |
		sort -n | tail -n1)
	echo "${n:-0}"
}

# await_partial DATA_DIR MIN_BYTES [SECONDS]: waits (polling, bounded) until
# a partial upload in DATA_DIR holds at least MIN_BYTES.
await_partial() {
	local data=$1 min=$2 secs=${3:-$WAIT} deadline
	deadline=$(($(date +%s) + secs))
	while [ "$(partial_size "$data")" -lt "$min" ]; do
		[ "$(date +%s)" -lt "$deadline" ] ||
			fail "no partial upload of >= $min bytes in $data within ${secs}s (largest: $(partial_size "$data"))"
		sleep 0.02
	done
}

# json_of FILE BV: the --json line of BV in FILE.
json_of() { grep -F "\"binary-version\":\"$2\"" "$1" | tail -n1; }

# ---- raw upload client helpers (upload_*.sh) ----

# uc EXPECTED_RC NAME ARGS...: upload_client (see upload_client.c), whose
# own timeout ends before run's; its JSON lines are in $T/NAME.stdout.
uc() {
	local want=$1 name=$2
	shift 2
	[ -n "${UPLOAD_CLIENT:-}" ] ||
		UPLOAD_CLIENT=$(find_bin upload_client tests/e2e/upload_client)
	run "$want" "$name" "$UPLOAD_CLIENT" --timeout $((WAIT > 6 ? WAIT - 3 : WAIT)) "$@"
}

# uc_line NAME STEP: the last JSON line of STEP in NAME's output ({} if none).
uc_line() {
	local l
	l=$(jq -c --arg s "$2" 'select(.step == $s)' "$T/$1.stdout" | tail -n1)
	echo "${l:-{\}}"
}

# uc_code NAME STEP: how STEP was answered: "ok" for a response, else the
# error code (or the kind: timeout, closed), "none" without any answer.
uc_code() {
	local c
	c=$(jq -r --arg s "$2" 'select(.step == $s) |
		if .kind == "response" then "ok" else (.code // .kind) end' \
		"$T/$1.stdout" | tail -n1)
	echo "${c:-none}"
}

# expect_code NAME STEP CODE...: STEP's answer is one of the CODEs.
expect_code() {
	local name=$1 step=$2 got c
	shift 2
	got=$(uc_code "$name" "$step")
	for c in "$@"; do
		[ "$got" != "$c" ] || return 0
	done
	fail "$name: $step answered '$got', expected one of: $* ($(uc_line "$name" "$step"))"
}

# uc_upload_errors NAME CODE: how many UploadError pushes with CODE NAME got.
uc_upload_errors() {
	jq -r --arg c "$2" 'select(.step == "chunk" and .kind == "push" and
		.message.request == "UploadError" and .code == $c) | .code' \
		"$T/$1.stdout" | wc -l
}

# partial_count DATA_DIR: partial upload files in DATA_DIR.
partial_count() { find "$1" -name '*.part' -type f 2>/dev/null | wc -l; }

# poll_until SECONDS WHAT CMD...: runs CMD every 20 ms until it succeeds;
# fails the test with WHAT after SECONDS.
poll_until() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
	until "$@"; do
		[ "$(($(date +%s%N) / 1000000))" -lt "$deadline" ] ||
			fail "$what: not so within ${secs}s"
		sleep 0.02
	done
}

# no_partials DATA_DIR: true when no partial upload file is left.
no_partials() { [ "$(partial_count "$1")" -eq 0 ]; }

# tree_snapshot DIR: every path under DIR with its type, sorted.
tree_snapshot() { find "$1" -mindepth 1 -printf '%y %P\n' | LC_ALL=C sort; }

# expect_nothing_stored DATA_DIR: no Juju names, no blobs, no partials.
expect_nothing_stored() {
	local f
	f=$(find "$1/tools" "$1/blobs" -type f 2>/dev/null | head -n5)
	[ -z "$f" ] || fail "files stored in $1: $f"
	poll_until 5 "partial uploads removed from $1" no_partials "$1"
}

# sha256_of FILE
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# uc_expected_offset NAME: expected-offset of NAME's offset-mismatch
# UploadError pushes (one per line).
uc_expected_offset() {
	jq -r 'select(.step == "chunk" and .code == "offset-mismatch") |
		.message.params."expected-offset"' "$T/$1.stdout"
}

# ---- machines (machine_*.sh) ----

# The machine programs, found when a test first needs them.
machine_bins() {
	UPSTAGE_MACHINE=$(find_bin upstage-machine contrib/machine/upstage-machine)
	UPSTAGE_FLEET=$(find_bin upstage-fleet contrib/fleet/upstage-fleet)
}

# free_port: a loopback TCP port nothing uses now, for servers that need
# one in their configuration file or that a test restarts on the port it
# had. It lies below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range), so no outgoing connection of this or
# another test can take it while its server is down, and it is not one
# this test was given before.
free_port() {
	local port _
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		port=$(python3 - <<'PY'
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
first = max(1024, lo - 12000)
if lo <= first:
    sys.exit("free_port: no ports below the ephemeral range (%d)" % lo)
for _ in range(1000):
    port = random.randrange(first, lo)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        pass
    finally:
        s.close()
else:
    sys.exit("free_port: no free port below %d" % lo)
PY
		) || fail "free_port failed"
		grep -qx "$port" "$T/free-ports" 2>/dev/null || break
	done
	echo "$port" >>"$T/free-ports"
	echo "$port"
}

# tools_proxy_args: picks the port of a load balancer in front of
# upstaged (start_tools_proxy) and sets TOOLS_PORT and TOOLS_ARGS, the
# upstaged flags that make orders name it instead of upstaged's own
# address: "--advertise-listen false --advertise-http 127.0.0.1:TOOLS_PORT".
# With TOOLS_DEAD set, a port nothing listens on comes first, so machines
# show they fall back to the next URL.
tools_proxy_args() {
	TOOLS_PORT=$(free_port)
	TOOLS_ARGS="--advertise-listen false --advertise-http "
	[ -n "${TOOLS_DEAD:-}" ] && TOOLS_ARGS+="127.0.0.1:$TOOLS_DEAD,"
	TOOLS_ARGS+="127.0.0.1:$TOOLS_PORT"
}

# start_tools_proxy UPSTAGED_PORT [SCHEME]: nginx on TOOLS_PORT (plain
# HTTP) passing /tools/ to upstaged's own HTTP, or HTTPS with SCHEME
# https (Range and 206 come from upstaged), the way a load balancer in
# front of controllers would. Its access log ($T/nginx-access.log:
# status, bytes, Range, URI) shows what machines fetched; downloads are
# slowed to 64 KiB/s while $T/slow exists.
start_tools_proxy() {
	local up=$1 scheme=${2:-http} port=$TOOLS_PORT
	mkdir -p "$T/nginx-tmp"
	cat >"$T/nginx.conf" <<CONF
daemon off;
worker_processes 1;
$([ "$(id -u)" -eq 0 ] && echo "user root root;")
pid $T/nginx.pid;
error_log $T/nginx.errlog warn;
events { worker_connections 256; }
http {
	log_format ranges '\$status \$body_bytes_sent "\$http_range" \$uri';
	access_log $T/nginx-access.log ranges;
	client_body_temp_path $T/nginx-tmp;
	proxy_temp_path $T/nginx-tmp;
	fastcgi_temp_path $T/nginx-tmp;
	uwsgi_temp_path $T/nginx-tmp;
	scgi_temp_path $T/nginx-tmp;
	server {
		listen 127.0.0.1:$port;
		location /tools/ {
			if (-f $T/slow) {
				set \$limit_rate 64k;
			}
			proxy_pass $scheme://127.0.0.1:$up;
		}
	}
}
CONF
	start tools nginx -c "$T/nginx.conf" -p "$T"
	poll_until "$WAIT" "nginx on port $port" \
		curl -s -o /dev/null "http://127.0.0.1:$port/"
}

# make_tls_certs: a throwaway CA ($T/ca.pem), a second CA that signs
# nothing ($T/other-ca.pem), and a server certificate of the first for
# 127.0.0.1 and localhost ($T/server.pem, $T/server.key).
make_tls_certs() {
	local ca
	command -v openssl >/dev/null || fail "openssl is needed"
	for ca in ca other-ca; do
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
			-subj "/CN=upstage e2e $ca" -keyout "$T/$ca.key" \
			-out "$T/$ca.pem" \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign \
			>/dev/null 2>&1 || fail "openssl: cannot make CA $ca"
	done
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
		-keyout "$T/server.key" -out "$T/server.csr" >/dev/null 2>&1 ||
		fail "openssl: cannot make the server key"
	printf '%s\n' "subjectAltName = IP:127.0.0.1, DNS:localhost" \
		"basicConstraints = CA:FALSE" \
		"keyUsage = critical, digitalSignature, keyEncipherment" \
		"extendedKeyUsage = serverAuth" >"$T/server.ext"
	openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" \
		-CAkey "$T/ca.key" -CAcreateserial -days 2 \
		-extfile "$T/server.ext" -out "$T/server.pem" >/dev/null 2>&1 ||
		fail "openssl: cannot sign the server certificate"
}

# make_agent_tarball DIR BV KIB: DIR/juju-BV.tgz holding a flat jujud
# script and KIB KiB of random data (so a download takes a while).
make_agent_tarball() {
	local dir=$1 bv=$2 kib=$3 src
	src=$(mktemp -d "$T/src.XXXXXX")
	printf '#!/bin/sh\necho %s\n' "$bv" >"$src/jujud"
	chmod 755 "$src/jujud"
	head -c "$((kib * 1024))" /dev/urandom >"$src/payload"
	mkdir -p "$dir"
	tar -C "$src" -czf "$dir/juju-$bv.tgz" jujud payload
	rm -rf "$src"
}

# machine_json ID: the list-machines --json record of machine ID.
machine_json() {
	cli 0 list --agent "ws://127.0.0.1:$PORT" \
		--token "$CLIENT_TOKEN" list-machines --json
	jq -c --arg id "$1" '.[] | select(."machine-id" == $id)' \
		<<<"$OUT"
}
