#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: run.sh BUILD_DIR SECONDS.
# Each target starts from its committed seeds and writes new inputs to a
# scratch corpus; any crash, leak or invariant failure fails the run.
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
failed=0
passed=0
for bin in "$build"/tests/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	corpus=$(mktemp -d)
	echo "fuzz: $name for ${seconds}s"
	if (cd "$corpus" && "$bin" -max_total_time="$seconds" -print_final_stats=1 \
		"$corpus" "$here/seeds/$name" 2>"$corpus.log"); then
		grep -E 'stat::number_of_executed_units' "$corpus.log" || true
		passed=$((passed + 1))
	else
		tail -40 "$corpus.log"
		failed=$((failed + 1))
	fi
	rm -rf "$corpus" "$corpus.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
