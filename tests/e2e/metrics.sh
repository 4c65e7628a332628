#!/usr/bin/env bash
# GET /metrics, parsed by the Prometheus client's reference parser
# (prom_parse.py, which also checks the naming conventions), before and
# after real work, and the counters moved by exactly the work done:
# - two binaries synced: uploads begun/committed, the commit histogram,
#   bytes received, binaries and bytes stored by stream;
# - an upload whose digest lies: failed{code="checksum-mismatch"};
# - a download and a 404 over HTTP: responses and bytes by status;
# - 12 machines register and a rollout runs: sessions by role, machines
#   by state, orders sent, the rollout's state and machines, journal
#   writes;
# - resident memory, open descriptors and loop lag are there;
# - with metrics-listen, /metrics is served on that address only (404 on
#   the listen port), and that address takes no websocket session.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins
HERE=$(dirname "$0")
PY=/usr/bin/python3
"$PY" -c 'import prometheus_client' 2>/dev/null ||
	fail "python3-prometheus-client is not installed (install-deps.sh --test)"

write_auth "$T/auth"
start_upstaged up --auth-file "$T/auth" --listen 127.0.0.1:0
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")

# scrape NAME: $T/NAME.json, the samples as "name{labels}" -> value.
scrape() {
	curl -sf "http://127.0.0.1:$PORT/metrics" >"$T/$1.txt" ||
		fail "GET /metrics failed"
	"$PY" "$HERE/prom_parse.py" <"$T/$1.txt" >"$T/$1.json" ||
		fail "/metrics does not parse: $(head -c 300 "$T/$1.txt")"
}
# val NAME KEY: a sample's value as an integer ("" when absent).
val() { jq -r --arg k "$2" '.[$k] // empty | floor' "$T/$1.json"; }
# expect NAME KEY WANT
expect() {
	local got
	got=$(val "$1" "$2")
	[ "$got" = "$3" ] || fail "$1: $2 is '${got}', expected $3"
}

scrape s0
grep -q '^# TYPE upstage_upload_commit_seconds histogram$' "$T/s0.txt" ||
	fail "no commit histogram"
curl -sI "http://127.0.0.1:$PORT/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' ||
	fail "not the 0.0.4 text format"
expect s0 'upstage_uploads_committed_total{}' 0
expect s0 'upstage_store_binaries{stream=released}' 0
[ "$(val s0 'process_resident_memory_bytes{}')" -gt 1000000 ] || fail "no RSS"
[ "$(val s0 'process_open_fds{}')" -gt 3 ] || fail "no open fds"
[ -n "$(val s0 'upstage_loop_lag_seconds{}')" ] || fail "no loop lag"

# Two binaries synced.
SRC=$T/src
make_agent_tarball "$SRC" 2.9.1-ubuntu-amd64 64
make_agent_tarball "$SRC" 2.9.1-ubuntu-arm64 64
a=$(stat -c %s "$SRC/juju-2.9.1-ubuntu-amd64.tgz")
b=$(stat -c %s "$SRC/juju-2.9.1-ubuntu-arm64.tgz")
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9
# An upload whose digest lies.
make_agent_tarball "$T/lie" 2.9.2-ubuntu-amd64 16
uc 0 lie --agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN" \
	--file "$T/lie/juju-2.9.2-ubuntu-amd64.tgz" \
	--binary-version 2.9.2-ubuntu-amd64 \
	--claim-sha256 "$(printf 'x' | sha256sum | cut -d' ' -f1)"
# A download, a HEAD, and a 404.
curl -sf -o "$T/got.tgz" "http://127.0.0.1:$PORT/tools/2.9.1-ubuntu-amd64" ||
	fail "download failed"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/tools/9.9.9-ubuntu-amd64")" = 404 ] ||
	fail "no 404"

scrape s1
expect s1 'upstage_uploads_committed_total{}' 2
[ "$(val s1 'upstage_uploads_begun_total{}')" -ge 3 ] || fail "begun: $(val s1 'upstage_uploads_begun_total{}')"
expect s1 'upstage_uploads_failed_total{code=checksum-mismatch}' 1
expect s1 'upstage_upload_commit_seconds_count{}' 2
expect s1 'upstage_upload_commit_seconds_bucket{le=+Inf}' 2
expect s1 'upstage_store_binaries{stream=released}' 2
expect s1 'upstage_store_bytes{stream=released}' $((a + b))
expect s1 'upstage_store_binaries{stream=devel}' 0
expect s1 'upstage_upload_bytes_in_flight{}' 0
# Every byte of the two binaries and the lie came in over the websocket.
lie=$(stat -c %s "$T/lie/juju-2.9.2-ubuntu-amd64.tgz")
[ "$(val s1 'upstage_received_bytes_total{}')" -ge $((a + b + lie)) ] ||
	fail "received $(val s1 'upstage_received_bytes_total{}') < $((a + b + lie))"
expect s1 'upstage_http_responses_total{status=404}' 1
[ "$(val s1 'upstage_http_sent_bytes_total{status=200}')" -ge "$a" ] ||
	fail "bytes sent with 200: $(val s1 'upstage_http_sent_bytes_total{status=200}')"
# The first scrape itself was a 200 too.
[ "$(val s1 'upstage_http_responses_total{status=200}')" -ge 2 ] ||
	fail "responses 200: $(val s1 'upstage_http_responses_total{status=200}')"

# Machines and a rollout.
N=12
start fleet "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
	--token "$MACHINE_TOKEN" --machines $N --release focal \
	--arch amd64,arm64 --version 2.9.0 --id-prefix m- --work-ms 0 \
	--backoff-initial-ms 100 --backoff-max-ms 1000
await fleet "^registered $N\$" 60
scrape s2
expect s2 'upstage_sessions{role=machine}' $N
expect s2 'upstage_machines{state=idle}' $N
expect s2 'upstage_machines_connected{}' $N
expect s2 'upstage_orders_sent_total{}' 0
expect s2 'upstage_rollouts{state=completed}' 0
WAIT=60 cli 0 roll "${AGENT[@]}" upgrade-controller --agent-version 2.9.1 \
	--batch 50% --min-healthy 0 --wait
scrape s3
expect s3 'upstage_orders_sent_total{}' $N
expect s3 'upstage_rollout_state{state=completed}' 1
expect s3 'upstage_rollouts{state=completed}' 1
expect s3 'upstage_rollouts{state=planned}' 0
expect s3 'upstage_rollout_state{state=rolling}' 0
expect s3 'upstage_rollout_machines{state=upgraded}' $N
expect s3 'upstage_rollout_failures{}' 0
# Machines go back to idle once their order ended, on 2.9.1.
expect s3 'upstage_machines{state=idle}' $N
[ "$(val s3 'upstage_journal_write_seconds_count{}')" -ge 2 ] ||
	fail "journal writes: $(val s3 'upstage_journal_write_seconds_count{}')"
# Counters never go back.
for k in upstage_received_bytes_total upstage_uploads_committed_total; do
	[ "$(val s3 "$k{}")" -ge "$(val s1 "$k{}")" ] || fail "$k went back"
done
stop fleet TERM 5000
# After a restart the counts come from the journal.
stop up TERM 5000
start_upstaged up --auth-file "$T/auth" --listen 127.0.0.1:0
scrape s4
expect s4 'upstage_rollouts{state=completed}' 1
expect s4 'upstage_rollout_state{state=completed}' 1
stop up TERM 5000

# A separate, private address for /metrics.
start_upstaged priv --auth-file "$T/auth" --listen 127.0.0.1:0 \
	--metrics-listen 127.0.0.1:0
await priv '^metrics http://127\.0\.0\.1:[0-9]+/metrics$'
MURL=$(sed -n 's|^metrics \(http://.*\)$|\1|p' "$T/priv.out")
curl -sf "$MURL" | "$PY" "$HERE/prom_parse.py" >"$T/priv.json" ||
	fail "/metrics on the metrics address"
[ "$(jq -r '."upstage_sessions{role=client}" | floor' "$T/priv.json")" = 0 ] ||
	fail "metrics address: $(head -c 200 "$T/priv.json")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" = 404 ] ||
	fail "/metrics still on the listen port"
[ "$(curl -s -o /dev/null -w '%{http_code}' "${MURL%/metrics}/healthz")" = 404 ] ||
	fail "the metrics address serves more than /metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' \
	-H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	-H 'Sec-WebSocket-Protocol: upstage.v1' "${MURL%/metrics}/" || true)
[ "$code" != 101 ] || fail "a websocket session on the metrics address"
stop priv TERM 5000
