#!/bin/bash
# CLI -> upstaged over wss: a throwaway CA signs a certificate for
# 127.0.0.1/localhost; the CLI trusts it only with --ca-cert of that CA.
. "$(dirname "$0")/lib.sh" "$@"

make_tls_certs

start_upstaged agent --listen 127.0.0.1:0 \
	--tls-cert "$T/server.pem" --tls-key "$T/server.key"
grep -q '^listening wss://' "$T/agent.out" ||
	fail "upstaged with TLS did not say wss://"

cli 0 info-localhost --ca-cert "$T/ca.pem" --agent "wss://localhost:$PORT" info
expect_match "$OUT" '0\.1\.0' "info over wss shows the server version"
cli 0 ping-ip --ca-cert "$T/ca.pem" --agent "wss://127.0.0.1:$PORT" ping
cli 0 info-json --ca-cert "$T/ca.pem" --agent "wss://localhost:$PORT" \
	--json info
expect_match "$OUT" '"client": *[1-9]' "info --json over wss"

# A certificate signed by a CA we were not told to trust: exit 3.
cli 3 wrong-ca --ca-cert "$T/other-ca.pem" --agent "wss://localhost:$PORT" info
# Nor is it in the system store.
cli 3 system-ca --agent "wss://localhost:$PORT" info
# Plain ws against a wss listener does not work either.
cli 3 plain-to-tls --agent "ws://127.0.0.1:$PORT" ping

# Still serving after the failed handshakes.
cli 0 info-again --ca-cert "$T/ca.pem" --agent "wss://localhost:$PORT" ping

# Uploads over TLS: the CLI frames and masks chunks itself and hands them
# to lws's raw path, which must still encrypt them. A size that is not a
# multiple of 8 exercises the word-wise masking's tail.
mkdir -p "$T/src"
head -c $((5 * 1024 * 1024 + 13)) /dev/urandom >"$T/src/juju-2.9.1-ubuntu-amd64.tgz"
cli 0 sync-wss --ca-cert "$T/ca.pem" --agent "wss://localhost:$PORT" \
	--json sync-agent-binary --source "$T/src" --agent-version 2.9
expect_match "$OUT" '"status":"uploaded"' "sync over wss uploads"
expect_stored "$T/data-agent" released 2.9.1-ubuntu-amd64 \
	"$T/src/juju-2.9.1-ubuntu-amd64.tgz"
stop agent TERM 2000

# The relay over wss too: upstaged dials it verifying the same CA, and the
# CLI reaches upstaged through it.
write_auth "$T/auth"
start relay "$RELAY" --listen 127.0.0.1:0 --auth-file "$T/auth" \
	--tls-cert "$T/server.pem" --tls-key "$T/server.key"
await relay '^listening wss://'
RP=$(port_of relay)
start_upstaged linked --listen 127.0.0.1:0 \
	--controller "wss://localhost:$RP" --controller-ca-cert "$T/ca.pem" \
	--controller-token-file "$T/auth.plugin" \
	--controller-backoff-initial-ms 50 --controller-backoff-max-ms 500
await relay '^plugin linked$'
cli 0 relay-info --ca-cert "$T/ca.pem" --agent "wss://localhost:$RP" \
	--token "$CLIENT_TOKEN" --json info
expect_match "$OUT" '"controller-link": *"connected"' "info via the wss relay"
cli 3 relay-wrong-ca --ca-cert "$T/other-ca.pem" \
	--agent "wss://localhost:$RP" --token "$CLIENT_TOKEN" ping

# A link that does not trust the relay's certificate never comes up.
start_upstaged untrusting --listen 127.0.0.1:0 \
	--controller "wss://localhost:$RP" \
	--controller-ca-cert "$T/other-ca.pem" \
	--controller-token-file "$T/auth.plugin" \
	--controller-backoff-initial-ms 50 --controller-backoff-max-ms 500
# It gives up on that attempt and schedules the next one.
await untrusting.err 'controller link: next attempt'
cli 0 untrusting-info --agent "ws://127.0.0.1:$PORT" --json info
expect_match "$OUT" '"controller-link": *"disconnected"' \
	"a link to an untrusted relay stays down"
[ "$(grep -c '^plugin linked$' "$T/relay.out")" -eq 1 ] ||
	fail "the relay linked an upstaged that should not trust it"

stop untrusting TERM 2000
stop linked TERM 2000
stop relay TERM 2000
