#!/bin/bash
# Versions.Select through the CLI against a real upstaged holding real
# binaries: DESIGN.md's three examples (available 1.25.1, 2.0.2, 2.0.3,
# 2.1, 2.2), the rule and the candidates in --json, an empty stream
# (no-suitable-version, exit 1, DESIGN.md's message), tagged versions
# never chosen by the rules, a build as the next patch, and the same
# through the relay; --available still works offline.
. "$(dirname "$0")/lib.sh" "$@"

start_upstaged agent --listen 127.0.0.1:0
URL=ws://127.0.0.1:$PORT

make_tarballs "$T/seed" 8 1.25.1-ubuntu-amd64 2.0.2-ubuntu-amd64 \
	2.0.2-focal-arm64 2.0.3-ubuntu-amd64 2.1.0-ubuntu-amd64 2.2.0-ubuntu-amd64
for v in 1.25 2.0 2.1 2.2; do
	cli 0 "sync-$v" --agent "$URL" sync-agent-binary --source "$T/seed" \
		--agent-version "$v"
done
make_tarballs "$T/more" 8 2.3-rc1-ubuntu-amd64 2.2.1-ubuntu-amd64 \
	2.0.1.1-ubuntu-amd64 2.0.1.2-ubuntu-amd64
cli 0 sync-more --agent "$URL" sync-agent-binary --source "$T/more" \
	--agent-version 2 --stream proposed

sel() {
	local want=$1 name=$2
	shift 2
	cli "$want" "$name" --agent "$URL" "$@"
}

sel 0 seed1 select-version --client 2.0.3 --agent 2.0.1
[ "$OUT" = 2.0.2 ] || fail "seed example 1: $OUT"
sel 0 seed2 select-version --client 1.25 --agent 1.25
[ "$OUT" = 1.25.1 ] || fail "seed example 2: $OUT"
sel 0 seed3 select-version --client 2.1 --agent 1.25
[ "$OUT" = 2.1.0 ] || fail "seed example 3: $OUT"
sel 0 seed1-json --json select-version --client 2.0.3 --agent 2.0.1
jq -e '.version == "2.0.2" and .rule == "next-patch" and
	.stream == "released" and .candidates == ["2.0.3", "2.0.2", "1.25.1"]' \
	<<<"$OUT" >/dev/null || fail "seed example 1 --json: $OUT"
sel 0 seed3-json --json select-version --client 2.1 --agent 1.25
jq -e '.rule == "client-version"' <<<"$OUT" >/dev/null || fail "rule 1: $OUT"
sel 0 minor-json --json select-version --client 2.2 --agent 2.1
jq -e '.version == "2.2.0" and .rule == "next-minor"' <<<"$OUT" >/dev/null ||
	fail "next minor: $OUT"

# Nothing stored in devel; nothing newer; the client not stored.
sel 1 empty select-version --client 2.0.3 --agent 2.0.1 --stream devel
expect_match "$ERR" 'no-suitable-version: no more recent supported versions available' \
	"empty stream"
sel 1 none select-version --client 2.2 --agent 2.2
expect_match "$ERR" 'no more recent supported versions available' "nothing newer"
sel 1 no-client select-version --client 3.0 --agent 2.2
expect_match "$ERR" 'client version 3.0.0 is not available' "rule 1 failing"

# proposed: the tag 2.3-rc1 is never chosen by rule 2; a build is the
# next patch.
sel 0 tags --json select-version --client 2.3 --agent 2.2 --stream proposed
jq -e '.version == "2.2.1" and (.candidates | index("2.3-rc1")) == null' \
	<<<"$OUT" >/dev/null || fail "tags: $OUT"
sel 0 builds select-version --client 2.0.3 --agent 2.0.1 --stream proposed
[ "$OUT" = 2.0.1.1 ] || fail "builds: $OUT"
sel 0 tag-client select-version --client 2.3-rc1 --agent 1.25 --stream proposed
[ "$OUT" = 2.3-rc1 ] || fail "a tagged client across a major: $OUT"

# Bad input is a usage error before anything is sent; a bad stream too.
sel 2 bad-version select-version --client 2.x --agent 2.0.1
sel 2 bad-stream select-version --client 2.0.3 --agent 2.0.1 --stream nightly
# --available stays offline: no upstaged needed at this URL.
cli 0 offline --agent ws://127.0.0.1:1 select-version --client 2.0.3 \
	--agent 2.0.1 --available 1.25.1,2.0.2,2.0.3,2.1,2.2
[ "$OUT" = 2.0.2 ] || fail "offline: $OUT"

# Through the relay, the same answer.
write_auth "$T/auth"
stop agent TERM 5000
start_relay relay "$T/auth"
RP=$PORT
start agent "$UPSTAGED" --data-dir "$T/data-agent" --log-level info \
	--listen 127.0.0.1:0 $(link_args "$RP" "$T/auth.plugin")
await agent '^controller link up$'
cli 0 relayed --agent "ws://127.0.0.1:$RP" --token "$CLIENT_TOKEN" \
	--json select-version --client 2.0.3 --agent 2.0.1
jq -e '.version == "2.0.2" and .rule == "next-patch"' <<<"$OUT" >/dev/null ||
	fail "through the relay: $OUT"
