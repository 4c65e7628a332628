#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run upstaged on
# its embedded default (listening on 127.0.0.1:17071, SQLite and the
# filesystem under ./var). Extra arguments go to upstaged.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)

bash "$top/contrib/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$(nproc)" >/dev/null
exec "$top/build/agent/upstaged" --listen 127.0.0.1:17071 \
	--data-dir "$top/var" "$@"
