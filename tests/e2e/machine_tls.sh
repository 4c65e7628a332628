#!/usr/bin/env bash
# Orders from an upstaged that serves TLS (tls-cert): its own address is
# https:// (that port speaks nothing else), first, then every
# advertise-http address in the order given (plain http://, here a port
# nothing listens on and nginx standing as a load balancer).
#
# Machine 0 trusts upstaged's CA for downloads with --ca-file and
# downloads from upstaged's own https:// URL. Machine 1 is given the
# wrong CA for downloads: verification stays on, so the https:// URL is
# refused, the dead port too, and the binary comes from the load
# balancer. Machine 2 gives only --ca-cert (for wss://), which downloads
# also use when there is no --ca-file.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins
command -v nginx >/dev/null || fail "nginx is not installed (install-deps.sh --test)"

make_tls_certs
write_auth "$T/auth"
TOOLS_PORT=$(free_port)
DEAD_PORT=$(free_port)
start_upstaged up --auth-file "$T/auth" --listen 127.0.0.1:0 \
	--tls-cert "$T/server.pem" --tls-key "$T/server.key" \
	--advertise-http "127.0.0.1:$DEAD_PORT,127.0.0.1:$TOOLS_PORT"
UP_PORT=$PORT
grep -q "^listening wss://127.0.0.1:$UP_PORT\$" "$T/up.out" ||
	fail "upstaged does not say it listens on wss://"
start_tools_proxy "$UP_PORT" https
AGENT=(--ca-cert "$T/ca.pem" --agent "wss://127.0.0.1:$UP_PORT"
	--token "$CLIENT_TOKEN")

make_agent_tarball "$T/src" 2.9.1-ubuntu-amd64 256
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$T/src" \
	--agent-version 2.9
STORED=$T/data-up/tools/released/juju-2.9.1-ubuntu-amd64.tgz

# machine ID EXTRA-ARGS...: a real machine agent with its own data dir.
machine() {
	local id=$1
	shift
	start "m$id" "$UPSTAGE_MACHINE" --agent "wss://127.0.0.1:$UP_PORT" \
		--ca-cert "$T/ca.pem" --token "$MACHINE_TOKEN" \
		--machine-id "$id" --data-dir "$T/machine$id" --release focal \
		--arch amd64 --version 2.9.0 --health-timeout 2s \
		--backoff-initial-ms 50 --backoff-max-ms 500 "$@"
	await "m$id" "^registered $id\$"
}
machine 0 --ca-file "$T/ca.pem"
machine 1 --ca-file "$T/other-ca.pem"
machine 2

cli 0 up "${AGENT[@]}" upgrade-machine 0 1 2 --agent-version 2.9.1 \
	--wait --wait-timeout 60
for id in 0 1 2; do
	expect_match "$OUT" "machine $id: healthy \\(version 2\\.9\\.1\\)" \
		"machine $id healthy"
	[ "$(readlink "$T/machine$id/tools/machine-$id")" = 2.9.1-ubuntu-amd64 ] ||
		fail "machine $id not switched to 2.9.1"
	[ "$(jq -r .sha256 "$T/machine$id/tools/2.9.1-ubuntu-amd64/downloaded-tools.txt")" = \
		"$(sha256_of "$STORED")" ] || fail "machine $id: wrong SHA-256 recorded"
done

# Every order carries the same URLs, in this order.
BV=2.9.1-ubuntu-amd64
want="https://127.0.0.1:$UP_PORT/tools/$BV http://127.0.0.1:$DEAD_PORT/tools/$BV http://127.0.0.1:$TOOLS_PORT/tools/$BV "
for id in 0 1 2; do
	got=$(sed -n 's/.*order o-[0-9a-f]*-[0-9]*: URL [0-9] of 3: \(.*\)$/\1/p' \
		"$T/m$id.err" | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "machine $id got URLs '$got', expected '$want'"
done

# Who served what: 0 and 2 from upstaged's https://, 1 from the load
# balancer after the TLS refusal and the dead port.
for id in 0 2; do
	grep -q "download done: .*(https://127.0.0.1:$UP_PORT/tools/$BV)" \
		"$T/m$id.err" || fail "machine $id did not download over https://"
done
grep -q "https://127.0.0.1:$UP_PORT/tools/$BV: .*certificate" "$T/m1.err" ||
	fail "machine 1: no certificate refusal for upstaged's https:// URL"
grep -q "download done: .*(http://127.0.0.1:$TOOLS_PORT/tools/$BV)" \
	"$T/m1.err" || fail "machine 1 did not fall back to the load balancer"
[ "$(grep -c "/tools/$BV\$" "$T/nginx-access.log")" -eq 1 ] ||
	fail "load balancer served $(grep -c "/tools/$BV\$" "$T/nginx-access.log") downloads, expected 1 (machine 1's)"

for id in 0 1 2; do
	stop "m$id" TERM 5000
done
stop up TERM 5000
