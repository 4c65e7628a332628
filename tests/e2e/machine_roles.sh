#!/usr/bin/env bash
# The role matrix of the machine facades, directly and through the relay:
# a machine may call Machine.Register and Machine.Report but no client
# request (Machines.*, AgentBinaries.*); a client may call Machines.* but
# not register as a machine, a client token does not log in as a machine
# at all, and a machine token does not log in as a client. Bad machine input gets typed errors and upstaged keeps
# serving.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins

write_auth "$T/auth"
start_upstaged up --auth-file "$T/auth"
UP_PORT=$PORT
start_relay relay "$T/auth"
RELAY_PORT=$PORT
# shellcheck disable=SC2046
start up2 "$UPSTAGED" --data-dir "$T/data-up2" --log-level info \
	--auth-file "$T/auth" --listen none $(link_args "$RELAY_PORT" "$T/auth.plugin")
await up2 '^controller link up$'

# call NAME ROLE TOKEN FACADE METHOD PARAMS [PORT]: one request; $CODE is
# "ok" or the error code.
call() {
	local name=$1 role=$2 token=$3 facade=$4 method=$5 params=$6
	uc 0 "$name" --agent "ws://127.0.0.1:${7:-$UP_PORT}" --role "$role" \
		--token "$token" --facade "$facade" --call "$method" \
		--params "$params"
	CODE=$(uc_code "$name" call)
	[ "$CODE" != none ] || CODE=$(uc_code "$name" login)
}
REG='{"machine-id":"7","version":"2.9.0","release":"jammy","arch":"arm64"}'
REPORT='{"state":"idle","version":"2.9.0"}'

for port in "$UP_PORT" "$RELAY_PORT"; do
	# machine: its own facade yes, the operators' no.
	call "m-reg-$port" machine "$MACHINE_TOKEN" Machine Register "$REG" "$port"
	[ "$CODE" = ok ] || fail "machine Register via $port: $CODE"
	call "m-list-$port" machine "$MACHINE_TOKEN" Machines List '{}' "$port"
	[ "$CODE" = forbidden ] || fail "machine Machines.List via $port: $CODE"
	call "m-order-$port" machine "$MACHINE_TOKEN" Machines Order \
		'{"machine-ids":["7"],"version":"2.9.1"}' "$port"
	[ "$CODE" = forbidden ] || fail "machine Machines.Order via $port: $CODE"
	call "m-bin-$port" machine "$MACHINE_TOKEN" AgentBinaries List '{}' "$port"
	[ "$CODE" = forbidden ] || fail "machine AgentBinaries.List via $port: $CODE"
	# client: the operators' facade yes, registering no.
	call "c-list-$port" client "$CLIENT_TOKEN" Machines List '{}' "$port"
	[ "$CODE" = ok ] || fail "client Machines.List via $port: $CODE"
	call "c-reg-$port" client "$CLIENT_TOKEN" Machine Register "$REG" "$port"
	[ "$CODE" = forbidden ] || fail "client Machine.Register via $port: $CODE"
	call "c-rep-$port" client "$CLIENT_TOKEN" Machine Report "$REPORT" "$port"
	[ "$CODE" = forbidden ] || fail "client Machine.Report via $port: $CODE"
	# A client token is no machine token.
	call "cm-$port" machine "$CLIENT_TOKEN" Machine Register "$REG" "$port"
	[ "$CODE" = unauthorized ] || fail "client token as machine via $port: $CODE"
	# Nor a machine token a client token.
	call "mc-$port" client "$MACHINE_TOKEN" Machines List '{}' "$port"
	[ "$CODE" = unauthorized ] || fail "machine token as client via $port: $CODE"
	[ "$(uc_code "mc-$port" login)" = unauthorized ] ||
		fail "machine token as client via $port: login $(uc_code "mc-$port" login)"
done

# Typed errors for bad machine input; upstaged goes on.
bad() { # bad NAME METHOD PARAMS CODE
	call "$1" machine "$MACHINE_TOKEN" Machine "$2" "$3"
	[ "$CODE" = "$4" ] || fail "$1: $CODE, expected $4"
}
bad bad-id Register '{"machine-id":"../x","version":"2.9.0","release":"jammy","arch":"arm64"}' bad-request
bad bad-arch Register '{"machine-id":"8","version":"2.9.0","release":"jammy","arch":"sparc"}' bad-request
bad bad-ver Register '{"machine-id":"8","version":"2.x","release":"jammy","arch":"arm64"}' bad-request
bad extra Register '{"machine-id":"8","version":"2.9.0","release":"jammy","arch":"arm64","x":1}' bad-request
bad unreg Report "$REPORT" bad-request
# upstage-machine with the client token: refused, never registered.
start imp "$UPSTAGE_MACHINE" --agent "ws://127.0.0.1:$UP_PORT" \
	--token "$CLIENT_TOKEN" --machine-id 9 --data-dir "$T/m9" \
	--release focal --arch amd64 --version 2.9.0
await imp.err 'login refused'
cli 0 list --agent "ws://127.0.0.1:$UP_PORT" --token "$CLIENT_TOKEN" \
	list-machines --json
[ "$(jq -c 'map(."machine-id")' <<<"$OUT")" = '["7"]' ] ||
	fail "registered: $(jq -c 'map(."machine-id")' <<<"$OUT")"
cli 0 ping --agent "ws://127.0.0.1:$UP_PORT" --token "$CLIENT_TOKEN" ping
stop imp TERM 5000
stop up2 TERM 5000
stop up TERM 5000
