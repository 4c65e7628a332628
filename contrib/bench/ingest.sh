#!/bin/bash
# ingest benchmark: upload one big random agent binary with the upstage CLI
# to upstaged on loopback (ws), and compare with the yardsticks on the same
# cached file:
#   - openssl dgst -sha256 (the hashing upstaged must do anyway),
#   - nginx (Debian nginx-extras) WebDAV PUT with curl, then openssl dgst:
#     the plain "receive and verify" alternative.
# Prints figures, ratios and upstaged's peak RSS (VmHWM). Exits non-zero
# only when something failed, never because a number is slow.
#
#   contrib/bench/ingest.sh BUILD_DIR        (INGEST_MB=1024 by default;
#                                             CI smoke: INGEST_MB=64)
# Targets: ingest >= 0.30 x openssl dgst; peak RSS <= 64 MiB.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
MB=${INGEST_MB:-1024}
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

BV=2.9.1-ubuntu-amd64
mkdir -p "$D/src" "$D/data"
FILE=$D/src/juju-$BV.tgz
echo "ingest: making a $MB MiB random file" >&2
head -c "$((MB * 1024 * 1024))" /dev/urandom >"$FILE"
BYTES=$(stat -c %s "$FILE")
cat "$FILE" >/dev/null # cached for everyone alike

# Yardstick 1: openssl dgst, best of 3.
best=
for _ in 1 2 3; do
	t0=$(now_ns)
	openssl dgst -sha256 "$FILE" >/dev/null
	t=$(($(now_ns) - t0))
	[ -z "$best" ] || [ "$t" -lt "$best" ] && best=$t
done
DGST=$(mibps "$BYTES" "$best")

# upstaged on loopback.
"$UPSTAGED" --listen 127.0.0.1:0 --data-dir "$D/data" --log-level warn \
	>"$D/agent.out" 2>"$D/agent.err" &
AGENT_PID=$!
for _ in $(seq 1 200); do
	grep -q '^listening ws://' "$D/agent.out" 2>/dev/null && break
	kill -0 "$AGENT_PID" 2>/dev/null || die "upstaged exited: $(tail -5 "$D/agent.err")"
	sleep 0.05
done
PORT=$(sed -n 's|^listening ws://.*:\([0-9][0-9]*\)$|\1|p' "$D/agent.out" | tail -n1)
[ -n "$PORT" ] || die "upstaged did not listen"

t0=$(now_ns)
"$UPSTAGE" --agent "ws://127.0.0.1:$PORT" --timeout 60 sync-agent-binary \
	--source "$D/src" --agent-version 2.9.1.0 >"$D/cli.out" 2>"$D/cli.err" ||
	die "sync failed: $(tail -5 "$D/cli.err")"
t=$(($(now_ns) - t0))
INGEST=$(mibps "$BYTES" "$t")
UPLOAD_PHASE=$(sed -n 's/^uploading .* done \([0-9.]*\) MiB\/s$/\1/p' "$D/cli.err" | tail -n1)
cmp -s "$FILE" "$D/data/tools/released/juju-$BV.tgz" || die "stored file differs"
RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT_PID/status")
kill "$AGENT_PID" && wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=

# Yardstick 2: nginx WebDAV PUT + openssl dgst.
NGINX=$(command -v nginx || true)
if [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ]; then NGINX=/usr/sbin/nginx; fi
if [ -z "$NGINX" ]; then
	echo "ingest: installing nginx-extras" >&2
	[ "$(id -u)" -eq 0 ] || die "nginx missing and not root to install it"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-extras \
		>"$D/apt.log" 2>&1 || die "apt-get install nginx-extras failed"
	NGINX=/usr/sbin/nginx
fi
NPORT=$((20000 + RANDOM % 20000))
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
t0=$(now_ns)
curl -sS -f -T "$FILE" "http://127.0.0.1:$NPORT/up/juju-$BV.tgz" ||
	die "nginx PUT failed"
openssl dgst -sha256 "$D/nginx/www/up/juju-$BV.tgz" >/dev/null
t=$(($(now_ns) - t0))
NGX=$(mibps "$BYTES" "$t")
cmp -s "$FILE" "$D/nginx/www/up/juju-$BV.tgz" || die "nginx stored file differs"

RSS_MIB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
echo "ingest benchmark: $MB MiB, loopback ws, $(nproc) cores"
echo "  upstage sync end-to-end (hash + upload + commit): $INGEST MiB/s"
echo "  upload phase alone (CLI's own figure):            ${UPLOAD_PHASE:-?} MiB/s"
echo "  openssl dgst -sha256 (cached file):               $DGST MiB/s"
echo "  nginx WebDAV PUT + openssl dgst:                  $NGX MiB/s"
echo "  ratio ingest / openssl dgst:                      $(ratio "$INGEST" "$DGST") (target >= 0.30)"
echo "  ratio ingest / nginx PUT + dgst:                  $(ratio "$INGEST" "$NGX")"
echo "  ratio nginx PUT + dgst / openssl dgst:            $(ratio "$NGX" "$DGST")"
echo "  upstaged peak RSS (VmHWM):                        $RSS_MIB MiB (target <= 64)"
