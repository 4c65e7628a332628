#!/bin/bash
# The CLI's offline version commands (no upstaged needed), including the
# three auto-selection examples of DESIGN.md and its exit codes.
. "$(dirname "$0")/lib.sh" "$@"

AVAIL=1.25.1,2.0.2,2.0.3,2.1,2.2

cli 0 parse parse-version 2.9.1
[ "$OUT" = 2.9.1 ] || fail "parse-version 2.9.1 printed '$OUT'"
cli 0 parse-short parse-version 2.9
expect_match "$OUT" '^2\.9(\.0)?$' "parse-version 2.9"
cli 0 parse-tag parse-version 3.0-rc2
[ "$OUT" = 3.0-rc2 ] || fail "parse-version 3.0-rc2 printed '$OUT'"
cli 0 parse-zeros parse-version 01.0.0
expect_match "$OUT" '^1\.0\.0$' "leading zeros are numeric"
cli 0 parse-json --json parse-version 2.9-beta1.1
expect_match "$OUT" '"major": *2' "parse-version --json major"
cli 2 parse-bad parse-version 2.x.1
# Juju allows at most nine digits in each number, leading zeros included.
cli 0 parse-nine-digits parse-version 123456789.2.1
[ "$OUT" = 123456789.2.1 ] || fail "parse-version 123456789.2.1 printed '$OUT'"
cli 2 parse-ten-digits parse-version 1234567890.2.1
cli 2 parse-ten-zeros parse-version 0000000001.2.1
cli 2 parse-empty parse-version ''

cli 0 cmp-lt compare-versions 2.9.1 2.10.0
[ "$OUT" = -1 ] || fail "compare 2.9.1 2.10.0 printed '$OUT'"
cli 0 cmp-eq compare-versions 01.0.0 1.0.0
[ "$OUT" = 0 ] || fail "compare 01.0.0 1.0.0 printed '$OUT'"
cli 0 cmp-tag compare-versions 3.0.0 3.0-rc2
[ "$OUT" = 1 ] || fail "compare 3.0.0 3.0-rc2 printed '$OUT'"
cli 2 cmp-bad compare-versions 1.0 nope

cli 0 sel1 select-version --client 2.0.3 --agent 2.0.1 --available "$AVAIL"
[ "$OUT" = 2.0.2 ] || fail "seed example 1 selected '$OUT'"
cli 0 sel2 select-version --client 1.25 --agent 1.25 --available "$AVAIL"
[ "$OUT" = 1.25.1 ] || fail "seed example 2 selected '$OUT'"
cli 0 sel3 select-version --client 2.1 --agent 1.25 --available "$AVAIL"
expect_match "$OUT" '^2\.1(\.0)?$' "seed example 3"
# Nothing newer: the operation fails (exit 1) with its error code.
cli 1 sel-none select-version --client 2.2 --agent 2.2 --available "$AVAIL"
cli 2 sel-bad select-version --client 2.2 --agent bad --available "$AVAIL"
