#!/bin/bash
# serve benchmark: agent binaries downloaded over HTTP from upstaged, with
# nginx (Debian nginx-extras, sendfile on) serving the same file in the
# same run as the yardstick:
#   1. one SERVE_MB binary (default 1024) fetched with curl, three times
#      from each, alternating: median MiB/s of each and their ratio;
#   2. SERVE_CONC downloads at once (default 200) of a SERVE_CONC_MB binary
#      (default 64) from a freshly started upstaged: aggregate MiB/s, the
#      slowest download, upstaged's peak RSS (VmHWM) over that phase, and
#      nginx's aggregate for the same load.
# Every download must answer 200 with every byte (one of each is checked
# by SHA-256); a download that moves no byte for SERVE_STALL_S seconds
# (default 30) is a stall. Exits non-zero only when something failed or
# stalled, never because a number is slow.
#
#   contrib/bench/serve.sh BUILD_DIR
#   CI smoke: SERVE_MB=64 SERVE_CONC=20 SERVE_CONC_MB=8
# Targets: single download >= 0.5 x nginx; peak RSS <= 64 MiB during the
# concurrent downloads; no stall.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
MB=${SERVE_MB:-1024}
CONC=${SERVE_CONC:-200}
CONC_MB=${SERVE_CONC_MB:-64}
STALL_S=${SERVE_STALL_S:-30}
UPSTAGED=$BUILD/agent/upstaged
UPSTAGE=$BUILD/contrib/cli/upstage
for b in "$UPSTAGED" "$UPSTAGE"; do
	[ -x "$b" ] || { echo "serve: $b not built" >&2; exit 1; }
done
for tool in curl nginx jq; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
		{ echo "serve: $tool missing (contrib/scripts/install-deps.sh --test)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

W=$(mktemp -d "${TMPDIR:-/tmp}/upstage-serve.XXXXXX")
AGENT_PID= NGINX_PID=
finish() {
	[ -z "$AGENT_PID" ] || kill "$AGENT_PID" 2>/dev/null || true
	[ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap finish EXIT
fail() { echo "serve: FAIL: $*" >&2; exit 1; }
say() { echo "serve: $*" >&2; }
mib() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1048576 / s }'; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

# upstaged_up: starts upstaged on $W/data, sets AGENT_PID and AGENT_PORT.
upstaged_up() {
	: >"$W/agent.out"
	"$UPSTAGED" --listen 127.0.0.1:0 --data-dir "$W/data" --log-level warn \
		--max-downloads $((CONC + 16)) >"$W/agent.out" 2>"$W/agent.err" &
	AGENT_PID=$!
	for _ in $(seq 1 400); do
		AGENT_PORT=$(sed -n 's|^listening ws://.*:\([0-9]*\)$|\1|p' "$W/agent.out")
		[ -n "$AGENT_PORT" ] && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || fail "upstaged exited: $(tail -3 "$W/agent.err")"
		sleep 0.05
	done
	fail "upstaged did not listen"
}
upstaged_down() {
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=
}

# fetch URL: one download to /dev/null; prints "CODE BYTES SECONDS".
fetch() {
	curl -s -o /dev/null --speed-limit 1 --speed-time "$STALL_S" \
		-w '%{http_code} %{size_download} %{time_total}\n' "$1" || true
}

say "making a $MB MiB and a $CONC_MB MiB binary"
mkdir -p "$W/src" "$W/data" "$W/www/tools"
head -c "$((MB * 1048576))" /dev/urandom >"$W/src/juju-9.1.0-ubuntu-amd64.tgz"
head -c "$((CONC_MB * 1048576))" /dev/urandom >"$W/src/juju-9.2.0-ubuntu-amd64.tgz"
BIG=$W/src/juju-9.1.0-ubuntu-amd64.tgz
SMALL=$W/src/juju-9.2.0-ubuntu-amd64.tgz
BIG_BYTES=$(stat -c %s "$BIG")
SMALL_BYTES=$(stat -c %s "$SMALL")

upstaged_up
"$UPSTAGE" --agent "ws://127.0.0.1:$AGENT_PORT" --timeout 600 sync-agent-binary \
	--source "$W/src" --agent-version 9 >"$W/sync.out" 2>"$W/sync.err" ||
	fail "sync failed: $(tail -3 "$W/sync.err")"
U=http://127.0.0.1:$AGENT_PORT
# nginx serves the very files upstaged stored (hard links, same cache).
ln "$W/data/tools/released/juju-9.1.0-ubuntu-amd64.tgz" "$W/www/tools/big.tgz"
ln "$W/data/tools/released/juju-9.2.0-ubuntu-amd64.tgz" "$W/www/tools/small.tgz"
NPORT=$((20000 + RANDOM % 20000))
mkdir -p "$W/nginx/logs"
cat >"$W/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
error_log $W/nginx/logs/error.log warn;
pid $W/nginx/nginx.pid;
worker_rlimit_nofile 4096;
events { worker_connections 2048; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	server { listen 127.0.0.1:$NPORT; root $W/www; }
}
CONF
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" >"$W/nginx.out" 2>&1 &
NGINX_PID=$!
for _ in $(seq 1 200); do
	curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && break
	kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited: $(cat "$W/nginx.out")"
	sleep 0.05
done
N=http://127.0.0.1:$NPORT

# Correctness first: every byte, by SHA-256.
[ "$(curl -sS --fail "$U/tools/9.1.0-ubuntu-amd64" | sha256sum | cut -d' ' -f1)" = \
	"$(sha256sum "$BIG" | cut -d' ' -f1)" ] || fail "upstaged served other bytes"
[ "$(curl -sS --fail "$N/tools/big.tgz" | sha256sum | cut -d' ' -f1)" = \
	"$(sha256sum "$BIG" | cut -d' ' -f1)" ] || fail "nginx served other bytes"

# 1. One big download, alternating, three times each.
ups=() ngx=()
for _ in 1 2 3; do
	read -r code bytes secs < <(fetch "$U/tools/9.1.0-ubuntu-amd64")
	[ "$code" = 200 ] && [ "$bytes" = "$BIG_BYTES" ] ||
		fail "upstaged download: $code, $bytes bytes"
	ups+=("$(mib "$bytes" "$secs")")
	read -r code bytes secs < <(fetch "$N/tools/big.tgz")
	[ "$code" = 200 ] && [ "$bytes" = "$BIG_BYTES" ] ||
		fail "nginx download: $code, $bytes bytes"
	ngx+=("$(mib "$bytes" "$secs")")
done
UPS=$(median3 "${ups[@]}")
NGX=$(median3 "${ngx[@]}")
RATIO=$(awk -v a="$UPS" -v b="$NGX" 'BEGIN { printf "%.2f", a / b }')

# 2. CONC at once, from a fresh upstaged (its peak RSS is this phase's).
upstaged_down
upstaged_up
U=http://127.0.0.1:$AGENT_PORT
[ "$(curl -sS --fail "$U/tools/9.2.0-ubuntu-amd64" | sha256sum | cut -d' ' -f1)" = \
	"$(sha256sum "$SMALL" | cut -d' ' -f1)" ] || fail "upstaged served other bytes"
concurrent() { # URL PREFIX: CONC downloads at once; results in $W/PREFIX.*
	local url=$1 prefix=$2 t0 t1 i
	t0=$(date +%s%N)
	for i in $(seq 1 "$CONC"); do
		fetch "$url" >"$W/$prefix.$i" &
	done
	wait $(jobs -p | grep -v -e "^$AGENT_PID\$" -e "^$NGINX_PID\$") 2>/dev/null || true
	t1=$(date +%s%N)
	CONC_SECS=$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f", ns / 1e9 }')
	local bad
	bad=$(cat "$W/$prefix".* | awk -v b="$SMALL_BYTES" '$1 != 200 || $2 != b' | wc -l)
	[ "$(cat "$W/$prefix".* | wc -l)" = "$CONC" ] || fail "$prefix: results missing"
	[ "$bad" = 0 ] || fail "$prefix: $bad of $CONC downloads failed or stalled: $(cat "$W/$prefix".* | awk -v b="$SMALL_BYTES" '$1 != 200 || $2 != b' | head -3)"
	SLOWEST=$(cat "$W/$prefix".* | sort -k3 -g | tail -n1 | awk '{ print $3 }')
	AGG=$(mib $((CONC * SMALL_BYTES)) "$CONC_SECS")
}
concurrent "$U/tools/9.2.0-ubuntu-amd64" ups
UPS_AGG=$AGG UPS_SLOWEST=$SLOWEST UPS_SECS=$CONC_SECS
RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT_PID/status")
concurrent "$N/tools/small.tgz" ngx
NGX_AGG=$AGG NGX_SLOWEST=$SLOWEST
RSS=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')

echo "serve benchmark: loopback http, curl, $(nproc) cores"
echo "  one $MB MiB download, upstaged (median of 3):  $UPS MiB/s (${ups[*]})"
echo "  one $MB MiB download, nginx sendfile (median): $NGX MiB/s (${ngx[*]})"
echo "  ratio upstaged / nginx:                        $RATIO (target >= 0.5)"
echo "  $CONC x $CONC_MB MiB at once, upstaged:            $UPS_AGG MiB/s aggregate in ${UPS_SECS}s, slowest ${UPS_SLOWEST}s"
echo "  $CONC x $CONC_MB MiB at once, nginx:               $NGX_AGG MiB/s aggregate, slowest ${NGX_SLOWEST}s"
echo "  upstaged peak RSS (VmHWM) over the $CONC downloads: $RSS MiB (target <= 64)"
echo "  stalls (no byte for ${STALL_S}s): none"
