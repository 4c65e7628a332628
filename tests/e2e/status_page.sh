#!/usr/bin/env bash
# The status page in a real browser (headless Chromium, driven over the
# DevTools protocol by status_browser.py) during a 300-machine simulated
# rollout: refused without a token (401 and the login form), live with
# one (the counts and the stage advance without a reload, to the end),
# screenshots at the start and the end, the machines table filtered by
# arch. Also: a bearer token works, a machine token does not, the page
# needs nothing from the network (no external URL in it), and guessing
# tokens is throttled as websocket logins are.
. "$(dirname "$0")/lib.sh" "$@"
machine_bins
HERE=$(dirname "$0")
CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || fail "chromium is not installed (install-deps.sh --test)"
/usr/bin/python3 -c 'import websocket' 2>/dev/null ||
	fail "python3-websocket is not installed (install-deps.sh --test)"

N=300
write_auth "$T/auth"
start_upstaged up --auth-file "$T/auth" --listen 127.0.0.1:0 \
	--max-sessions $((N + 100))
URL=http://127.0.0.1:$PORT/status
AGENT=(--agent "ws://127.0.0.1:$PORT" --token "$CLIENT_TOKEN")

# Who gets the page.
code() { curl -s -o "$T/page.html" -w '%{http_code}' "$@" "$URL"; }
[ "$(code)" = 401 ] || fail "no token: not 401"
grep -q 'id="token"' "$T/page.html" || fail "no login form"
! grep -q 'id="rollout"' "$T/page.html" || fail "the dashboard without a token"
[ "$(code --cookie "upstage_token=$MACHINE_TOKEN")" = 401 ] || fail "a machine token got the page"
[ "$(code --cookie "upstage_token=wrong")" = 401 ] || fail "a wrong token got the page"
[ "$(code --cookie "upstage_token=%00$CLIENT_TOKEN")" = 401 ] || fail "a token with a NUL got the page"
[ "$(code -H "Authorization: Bearer $CLIENT_TOKEN")" = 200 ] || fail "bearer token refused"
grep -q 'id="rollout"' "$T/page.html" || fail "no dashboard with a token"
# Self-contained: no external script, style, font or image.
! grep -Eq '(src|href)="(https?:)?//' "$T/page.html" || fail "the page loads something from elsewhere"

SRC=$T/src
for a in amd64 arm64; do make_agent_tarball "$SRC" "2.9.1-ubuntu-$a" 8; done
cli 0 sync "${AGENT[@]}" sync-agent-binary --source "$SRC" --agent-version 2.9
start fleet "$UPSTAGE_FLEET" --agent "ws://127.0.0.1:$PORT" \
	--token "$MACHINE_TOKEN" --machines $N --release focal,jammy \
	--arch amd64,arm64 --version 2.9.0 --id-prefix m- --work-ms 150 \
	--backoff-initial-ms 100 --backoff-max-ms 1000
await fleet "^registered $N\$" 60

WAIT=240 run 0 browser /usr/bin/python3 "$HERE/status_browser.py" --chromium "$CHROMIUM" \
	--url "$URL" --token "$CLIENT_TOKEN" --out "$T" --machines $N \
	--start-cmd "'$UPSTAGE' --timeout 10 --agent ws://127.0.0.1:$PORT --token $CLIENT_TOKEN upgrade-controller --agent-version 2.9.1 --batch 10% --min-healthy 0"
for f in status-start.png status-end.png; do
	[ "$(head -c 8 "$T/$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		fail "$f is not a PNG"
	[ "$(stat -c %s "$T/$f")" -gt 10000 ] || fail "$f is nearly empty"
done
jq -s -e 'map(select(.step == "end"))[0].updates >= 3' <<<"$OUT" >/dev/null ||
	fail "too few live updates: $(grep '"end"' <<<"$OUT")"
# Keep the screenshots where a person can look at them.
if [ -n "${STATUS_SCREENSHOTS:-}" ]; then
	mkdir -p "$STATUS_SCREENSHOTS"
	cp "$T/status-start.png" "$T/status-end.png" "$STATUS_SCREENSHOTS/"
fi
# Guessing tokens is throttled like Admin.Login: past the free failures
# even the right token waits (429), without its being looked at. The
# machines share the address and a login of theirs would forgive it, so
# they go first. A guess made while the address waits is not looked at
# (429) and does not count; the tenth that is counted makes it wait
# 1.6 s, long enough for the next curl on a loaded machine.
stop fleet TERM 5000
counted=0
for i in $(seq 1 400); do
	case "$(code --cookie "upstage_token=guess$i")" in
	401) counted=$((counted + 1)) ;;
	429) sleep 0.05 ;;
	*) fail "guess $i: neither 401 nor 429" ;;
	esac
	[ "$counted" -lt 10 ] || break
done
[ "$counted" = 10 ] || fail "only $counted of 400 guesses were looked at"
[ "$(code -H "Authorization: Bearer $CLIENT_TOKEN")" = 429 ] ||
	fail "token guesses are not throttled"
stop up TERM 5000
