#!/usr/bin/env bash
# The layering check must catch a reversed edge: a tree whose store
# includes the rpc layer, and one whose proto includes proto/net, fail;
# the same trees without those lines pass.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d"/agent/store "$d"/agent/rpc "$d"/proto/net "$d"/plugins \
	"$d"/contrib/cli
printf '#include "proto/errors.h"\n' >"$d"/agent/store/store.h
printf '#include "agent/store/store.h"\n' >"$d"/agent/rpc/peer.h
printf '#include "proto/errors.h"\n' >"$d"/proto/net/ws.h
printf '#include <stdio.h>\n' >"$d"/proto/errors.h
bash "$here/check.sh" "$d" >/dev/null || { echo "clean tree refused"; exit 1; }

printf '#include "agent/rpc/peer.h"\n' >>"$d"/agent/store/store.h
if out=$(bash "$here/check.sh" "$d"); then
	echo "store -> rpc was not caught"
	exit 1
fi
grep -q 'agent/store/store.h:2 includes "agent/rpc/peer.h"' <<<"$out" ||
	{ echo "unexpected message: $out"; exit 1; }
sed -i '2d' "$d"/agent/store/store.h

printf '#include "proto/net/ws.h"\n' >>"$d"/proto/errors.h
if bash "$here/check.sh" "$d" >/dev/null; then
	echo "proto -> proto/net was not caught"
	exit 1
fi
echo "layering selftest: ok"
