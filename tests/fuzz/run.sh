#!/usr/bin/env bash
# Runs fuzz targets for a bounded time each:
#
#   run.sh BUILD_DIR SECONDS [TARGET...]      (default: every fuzz_* built)
#
# Each target starts from its committed seeds (tests/fuzz/seeds/<target>)
# and writes new inputs to a scratch corpus. Prints, per target, the
# executions and the coverage (edges and features) libFuzzer reached. Any
# crash, leak or invariant failure fails the run; the input that caused it
# is kept in tests/fuzz/crashes/<target>/ so that it can be fixed and then
# committed as a seed.
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-20}
shift 2 || true
here=$(cd "$(dirname "$0")" && pwd)
failed=0
passed=0
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for bin in "$build"/tests/fuzz/fuzz_*; do
		[ -x "$bin" ] && targets+=("$(basename "$bin")")
	done
fi
for name in "${targets[@]}"; do
	bin=$build/tests/fuzz/$name
	[ -x "$bin" ] || { echo "fuzz: $name not built" >&2; failed=$((failed + 1)); continue; }
	corpus=$(mktemp -d)
	echo "fuzz: $name for ${seconds}s"
	if (cd "$corpus" && "$bin" -max_total_time="$seconds" -print_final_stats=1 \
		"$corpus" "$here/seeds/$name" 2>"$corpus.log"); then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$corpus.log")
		cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$corpus.log" | tail -n1)
		echo "fuzz: $name: ${execs:-?} executions, ${cov:-no coverage line}"
		passed=$((passed + 1))
	else
		tail -40 "$corpus.log"
		mkdir -p "$here/crashes/$name"
		cp "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* \
			"$corpus"/oom-* "$here/crashes/$name/" 2>/dev/null || true
		echo "fuzz: $name FAILED; inputs kept in tests/fuzz/crashes/$name/"
		failed=$((failed + 1))
	fi
	rm -rf "$corpus" "$corpus.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
