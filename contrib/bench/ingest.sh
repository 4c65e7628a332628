#!/bin/bash
# ingest benchmark: upload agent binaries with the upstage CLI to upstaged
# on loopback and compare with the yardsticks on the same cached bytes, all
# in one run, INGEST_RUNS times (default 5), printing medians and ranges:
#
#   1. one INGEST_MB (default 1024) MiB file over ws: end to end, the
#      upload phase alone (the CLI's own figure), upstaged's and the CLI's
#      CPU seconds, upstaged's peak RSS (VmHWM); beside openssl dgst
#      -sha256 of the file and nginx (Debian nginx-extras) WebDAV PUT with
#      curl followed by openssl dgst (the plain "receive and verify");
#   2. the same file over wss (a self-signed certificate the script makes)
#      beside nginx over https + dgst;
#   3. six binaries of INGEST_SMALL_MB (default 64) MiB, three OS/arch
#      pairs in two versions: wall time with --parallel 1 and with the
#      default, beside openssl dgst of the same bytes.
#
# Exits non-zero only when something failed, never because a number is
# slow. The figures of one run are printed as they come (stderr), the
# table at the end (stdout).
#
#   contrib/bench/ingest.sh BUILD_DIR
#   CI smoke: INGEST_MB=64 INGEST_SMALL_MB=8 INGEST_RUNS=1
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
MB=${INGEST_MB:-1024}
SMALL_MB=${INGEST_SMALL_MB:-64}
RUNS=${INGEST_RUNS:-5}
UPSTAGED=$BUILD/agent/upstaged
UPSTAGE=$BUILD/contrib/cli/upstage
for b in "$UPSTAGED" "$UPSTAGE"; do
	[ -x "$b" ] || { echo "ingest: $b not built" >&2; exit 1; }
done

D=$(mktemp -d "${TMPDIR:-/tmp}/upstage-ingest.XXXXXX")
AGENT_PID= NGINX_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null || true
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT

now_ns() { date +%s%N; }
# mibps BYTES NS
mibps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.1f", b / 1048576 / (ns / 1e9) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
die() { echo "ingest: $*" >&2; exit 1; }
note() { echo "ingest: $*" >&2; }

# Every figure of every run: "NAME VALUE" lines.
FIG=$D/figures
: >"$FIG"
record() { echo "$1 $2" >>"$FIG"; }

# CPU seconds (user + system) a process has used so far.
cpu_of() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
		"/proc/$1/stat"
}

# ---- the bytes ----
BV=2.9.1-ubuntu-amd64
mkdir -p "$D/src" "$D/six" "$D/tls"
FILE=$D/src/juju-$BV.tgz
note "making a $MB MiB random file and six of $SMALL_MB MiB"
head -c "$((MB * 1024 * 1024))" /dev/urandom >"$FILE"
BYTES=$(stat -c %s "$FILE")
SIX_BVS=""
for v in 2.9.1 2.9.2; do
	for p in ubuntu-amd64 ubuntu-arm64 centos-amd64; do
		SIX_BVS+=" $v-$p"
		head -c "$((SMALL_MB * 1024 * 1024))" /dev/urandom \
			>"$D/six/juju-$v-$p.tgz"
	done
done
SIX_BYTES=$((6 * SMALL_MB * 1024 * 1024))
cat "$FILE" "$D"/six/* >/dev/null # cached for everyone alike

# A self-signed certificate for 127.0.0.1, for upstaged and nginx alike.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$D/tls/key.pem" \
	-out "$D/tls/cert.pem" >/dev/null 2>&1 || die "cannot make a certificate"

PARALLEL_FLAG=()
if "$UPSTAGE" help sync-agent-binary 2>&1 | grep -q -- '--parallel'; then
	PARALLEL_FLAG=(--parallel 1)
else
	note "this upstage has no --parallel: both six-binary syncs are sequential"
fi

# ---- upstaged ----
# start_agent [ARGS...]: a fresh upstaged with its own data directory;
# sets AGENT_PID and URL_PORT.
start_agent() {
	rm -rf "$D/data" && mkdir -p "$D/data"
	"$UPSTAGED" --listen 127.0.0.1:0 --data-dir "$D/data" --log-level warn \
		"$@" >"$D/agent.out" 2>"$D/agent.err" &
	AGENT_PID=$!
	for _ in $(seq 1 200); do
		grep -q '^listening wss\{0,1\}://' "$D/agent.out" 2>/dev/null && break
		kill -0 "$AGENT_PID" 2>/dev/null || die "upstaged exited: $(tail -5 "$D/agent.err")"
		sleep 0.05
	done
	URL_PORT=$(sed -n 's|^listening wss\{0,1\}://.*:\([0-9][0-9]*\)$|\1|p' "$D/agent.out" | tail -n1)
	[ -n "$URL_PORT" ] || die "upstaged did not listen"
}

stop_agent() {
	kill "$AGENT_PID" && wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=
	rm -rf "$D/data"
}

# run_sync SCHEME SOURCE ARGS...: one sync-agent-binary run; sets SYNC_NS,
# CLI_CPU (user + system seconds) and UPLOAD_PHASE (MiB/s, one file).
run_sync() {
	local scheme=$1 src=$2 t0 t
	shift 2
	local tls=()
	[ "$scheme" = wss ] && tls=(--ca-cert "$D/tls/cert.pem")
	t0=$(now_ns)
	/usr/bin/time -f '%U %S' -o "$D/cli.time" \
		"$UPSTAGE" --agent "$scheme://127.0.0.1:$URL_PORT" "${tls[@]}" \
		--timeout 60 sync-agent-binary --source "$src" "$@" \
		>"$D/cli.out" 2>"$D/cli.err" ||
		die "sync failed: $(tail -5 "$D/cli.err")"
	t=$(($(now_ns) - t0))
	SYNC_NS=$t
	CLI_CPU=$(awk '{ printf "%.2f", $1 + $2 }' "$D/cli.time")
	UPLOAD_PHASE=$(sed -n 's/^uploading .* done \([0-9.]*\) MiB\/s$/\1/p' "$D/cli.err" | tail -n1)
}

# ---- nginx ----
NGINX=$(command -v nginx || true)
if [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ]; then NGINX=/usr/sbin/nginx; fi
if [ -z "$NGINX" ]; then
	note "installing nginx-extras"
	[ "$(id -u)" -eq 0 ] || die "nginx missing and not root to install it"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-extras \
		>"$D/apt.log" 2>&1 || die "apt-get install nginx-extras failed"
	NGINX=/usr/sbin/nginx
fi
NPORT=$((20000 + RANDOM % 20000))
NSPORT=$((NPORT + 1))
mkdir -p "$D/nginx/www/up" "$D/nginx/body" "$D/nginx/logs"
cat >"$D/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
error_log $D/nginx/logs/error.log warn;
pid $D/nginx/nginx.pid;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $D/nginx/body;
	client_max_body_size 0;
	client_body_buffer_size 1m;
	server {
		listen 127.0.0.1:$NPORT;
		listen 127.0.0.1:$NSPORT ssl;
		ssl_certificate $D/tls/cert.pem;
		ssl_certificate_key $D/tls/key.pem;
		root $D/nginx/www;
		location /up/ { dav_methods PUT; create_full_put_path on; }
	}
}
CONF
"$NGINX" -p "$D/nginx" -c "$D/nginx/nginx.conf" >"$D/nginx.out" 2>&1 &
NGINX_PID=$!
for _ in $(seq 1 200); do
	curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && break
	kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$D/nginx.out")"
	sleep 0.05
done

# nginx_put URL: PUT + openssl dgst; sets NGX_NS.
nginx_put() {
	local t0
	rm -f "$D/nginx/www/up/juju-$BV.tgz"
	t0=$(now_ns)
	curl -sS -f --cacert "$D/tls/cert.pem" -T "$FILE" "$1/up/juju-$BV.tgz" ||
		die "nginx PUT failed"
	openssl dgst -sha256 "$D/nginx/www/up/juju-$BV.tgz" >/dev/null
	NGX_NS=$(($(now_ns) - t0))
	cmp -s "$FILE" "$D/nginx/www/up/juju-$BV.tgz" || die "nginx stored file differs"
	rm -f "$D/nginx/www/up/juju-$BV.tgz"
}

# ---- the runs ----
for run in $(seq 1 "$RUNS"); do
	note "run $run of $RUNS"
	# Yardstick: openssl dgst of the big file and of the six.
	t0=$(now_ns)
	openssl dgst -sha256 "$FILE" >/dev/null
	DGST=$(mibps "$BYTES" $(($(now_ns) - t0)))
	t0=$(now_ns)
	openssl dgst -sha256 "$D"/six/* >/dev/null
	SIX_DGST_NS=$(($(now_ns) - t0))

	# 1. ws.
	start_agent
	cpu0=$(cpu_of "$AGENT_PID")
	run_sync ws "$D/src" --agent-version 2.9.1.0
	WS=$(mibps "$BYTES" "$SYNC_NS")
	WS_PHASE=${UPLOAD_PHASE:-0}
	AGENT_CPU=$(awk -v a="$(cpu_of "$AGENT_PID")" -v b="$cpu0" 'BEGIN { printf "%.2f", a - b }')
	RSS_MIB=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$AGENT_PID/status")
	cmp -s "$FILE" "$D/data/tools/released/juju-$BV.tgz" || die "stored file differs"
	WS_CLI_CPU=$CLI_CPU
	stop_agent
	nginx_put "http://127.0.0.1:$NPORT"
	NGX=$(mibps "$BYTES" "$NGX_NS")

	# 2. wss.
	start_agent --tls-cert "$D/tls/cert.pem" --tls-key "$D/tls/key.pem"
	run_sync wss "$D/src" --agent-version 2.9.1.0
	WSS=$(mibps "$BYTES" "$SYNC_NS")
	cmp -s "$FILE" "$D/data/tools/released/juju-$BV.tgz" || die "stored file differs (wss)"
	stop_agent
	nginx_put "https://127.0.0.1:$NSPORT"
	NGXS=$(mibps "$BYTES" "$NGX_NS")

	# 3. Six binaries, --parallel 1 and the default.
	start_agent
	run_sync ws "$D/six" --agent-version 2.9 "${PARALLEL_FLAG[@]}"
	SIX1_NS=$SYNC_NS
	stop_agent
	start_agent
	run_sync ws "$D/six" --agent-version 2.9
	SIXD_NS=$SYNC_NS
	for bv in $SIX_BVS; do
		cmp -s "$D/six/juju-$bv.tgz" "$D/data/tools/released/juju-$bv.tgz" ||
			die "six: $bv stored differs"
	done
	stop_agent

	record ws "$WS"
	record ws_phase "$WS_PHASE"
	record dgst "$DGST"
	record nginx "$NGX"
	record ws_over_phase "$(ratio "$WS" "$WS_PHASE")"
	record ws_over_dgst "$(ratio "$WS" "$DGST")"
	record ws_over_nginx "$(ratio "$WS" "$NGX")"
	record agent_cpu "$AGENT_CPU"
	record cli_cpu "$WS_CLI_CPU"
	record rss "$RSS_MIB"
	record wss "$WSS"
	record nginx_https "$NGXS"
	record wss_over_nginx "$(ratio "$WSS" "$NGXS")"
	record six_dgst "$(awk -v n="$SIX_DGST_NS" 'BEGIN { printf "%.2f", n / 1e9 }')"
	record six_p1 "$(awk -v n="$SIX1_NS" 'BEGIN { printf "%.2f", n / 1e9 }')"
	record six_def "$(awk -v n="$SIXD_NS" 'BEGIN { printf "%.2f", n / 1e9 }')"
	record six_def_over_dgst "$(ratio "$SIX_DGST_NS" "$SIXD_NS")"
	record six_p1_over_dgst "$(ratio "$SIX_DGST_NS" "$SIX1_NS")"
	note "run $run: ws $WS (phase $WS_PHASE) dgst $DGST nginx $NGX | wss $WSS nginx-https $NGXS | six: dgst $(ratio "$SIX_DGST_NS" 1e9) s, p1 $(ratio "$SIX1_NS" 1e9) s, default $(ratio "$SIXD_NS" 1e9) s | cpu agent $AGENT_CPU cli $WS_CLI_CPU | rss $RSS_MIB MiB"
done

# ---- the table ----
# summary NAME: "median (min-max)" of NAME's figures.
summary() {
	awk -v k="$1" '$1 == k { print $2 }' "$FIG" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "-"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s (%s-%s)", m, v[1], v[NR]
		}'
}
row() { printf '  %-52s %s%s\n' "$1" "$(summary "$2")" "${3:+   $3}"; }

echo "ingest benchmark: $MB MiB (and 6 x $SMALL_MB MiB), loopback, $(nproc) cores, $RUNS run(s): median (range)"
row "ws: sync end to end, MiB/s" ws
row "ws: upload phase alone (CLI's figure), MiB/s" ws_phase
row "openssl dgst -sha256 (cached file), MiB/s" dgst
row "nginx WebDAV PUT + openssl dgst, MiB/s" nginx
row "ratio ws end to end / upload phase" ws_over_phase "target >= 0.9"
row "ratio ws end to end / openssl dgst" ws_over_dgst "target >= 0.7"
row "ratio ws end to end / (nginx PUT + dgst)" ws_over_nginx "target >= 1.3"
row "upstaged CPU seconds (ws sync)" agent_cpu
row "CLI CPU seconds (ws sync)" cli_cpu
row "upstaged peak RSS (VmHWM), MiB" rss "target <= 32"
row "wss: sync end to end, MiB/s" wss
row "nginx https PUT + openssl dgst, MiB/s" nginx_https
row "ratio wss end to end / (nginx https PUT + dgst)" wss_over_nginx "target >= 0.8"
row "six binaries: openssl dgst of them, s" six_dgst
row "six binaries: sync --parallel 1, s" six_p1
row "six binaries: sync default --parallel, s" six_def
row "ratio openssl dgst / six-binary sync, --parallel 1" six_p1_over_dgst
row "ratio openssl dgst / six-binary sync, default" six_def_over_dgst "target >= 0.75"
