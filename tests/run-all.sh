#!/usr/bin/env bash
# Quick start, command 2: every test. Installs what is missing, then builds
# and runs the unit and end-to-end suites twice (plain, then under
# AddressSanitizer + UndefinedBehaviorSanitizer; tests labelled slow only in
# the plain pass), runs the ingest and serve
# benchmarks as smoke tests on small files (INGEST_MB, default 64;
# SERVE_MB 64 and SERVE_CONC 20 x SERVE_CONC_MB 8), then runs every fuzz
# target for a bounded time (FUZZ_SECONDS each, default 20).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-20}

bash "$top/contrib/scripts/install-deps.sh" --test

step() { printf '\n=== %s\n' "$*"; }

step "plain build"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$jobs"
ctest --test-dir "$top/build" --output-on-failure -j"$jobs"

step "benchmark smoke (INGEST_MB=${INGEST_MB:-64}, one run; figures only)"
INGEST_MB=${INGEST_MB:-64} INGEST_SMALL_MB=${INGEST_SMALL_MB:-8} \
	INGEST_RUNS=${INGEST_RUNS:-1} bash "$top/contrib/bench/ingest.sh" "$top/build"

step "hostile peers benchmark smoke (HOSTILE_N=${HOSTILE_N:-100}; figures only)"
HOSTILE_N=${HOSTILE_N:-100} bash "$top/contrib/bench/hostile.sh" "$top/build"
step "machines benchmark smoke (MACHINES=${MACHINES:-500}; figures only)"
MACHINES=${MACHINES:-500} IDLE_SECONDS=${IDLE_SECONDS:-5} \
	bash "$top/contrib/bench/machines.sh" "$top/build"

step "mirror benchmark smoke (MIRROR_MB=${MIRROR_MB:-64}, one run; figures only)"
MIRROR_MB=${MIRROR_MB:-64} MIRROR_RUNS=${MIRROR_RUNS:-1} \
	bash "$top/contrib/bench/mirror.sh" "$top/build"

step "rollout benchmark smoke (MACHINES=${ROLLOUT_MACHINES:-1000}; figures only)"
MACHINES=${ROLLOUT_MACHINES:-1000} bash "$top/contrib/bench/rollout.sh" "$top/build"

step "serve benchmark smoke (SERVE_MB=${SERVE_MB:-64}, ${SERVE_CONC:-20} x ${SERVE_CONC_MB:-8} MiB; figures only)"
SERVE_MB=${SERVE_MB:-64} SERVE_CONC=${SERVE_CONC:-20} \
	SERVE_CONC_MB=${SERVE_CONC_MB:-8} \
	bash "$top/contrib/bench/serve.sh" "$top/build"

step "ASan + UBSan build"
cmake -S "$top" -B "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug \
	-DUPSTAGE_SANITIZE=ON >/dev/null
cmake --build "$top/build-asan" -j"$jobs"
# Tests labelled slow (big fleets, many restarts) ran in the plain build;
# once is enough, and under the sanitizers they would outlast their limits.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir "$top/build-asan" --output-on-failure -j"$jobs" -LE slow

step "fuzz targets, ${fuzz_seconds}s each"
CC=clang cmake -S "$top" -B "$top/build-fuzz" -DCMAKE_BUILD_TYPE=Debug \
	-DUPSTAGE_FUZZ=ON >/dev/null
cmake --build "$top/build-fuzz" -j"$jobs" --target fuzz_all
bash "$top/tests/fuzz/run.sh" "$top/build-fuzz" "$fuzz_seconds"

step "all suites passed"
