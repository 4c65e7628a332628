#!/usr/bin/env bash
# line_width.sh checked on scratch trees: one within 80 columns passes;
# a line of 81 columns, or a tab that takes a line past 80, fails and is
# named.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d "${TMPDIR:-/tmp}/line-width.XXXXXX")
trap 'rm -rf "$t"' EXIT
mkdir -p "$t"/{agent,proto,plugins,contrib,tests}

printf '%080d\n' 0 >"$t/agent/ok.c"
bash "$here/line_width.sh" "$t" >"$t/out" ||
	{ echo "selftest: 80 columns refused: $(cat "$t/out")"; exit 1; }

printf '%081d\n' 0 >"$t/proto/long.h"
if bash "$here/line_width.sh" "$t" >"$t/out"; then
	echo "selftest: 81 columns passed"; exit 1
fi
grep -q '^proto/long.h:1: 81 columns$' "$t/out" ||
	{ echo "selftest: not named: $(cat "$t/out")"; exit 1; }
rm "$t/proto/long.h"

# A tab counts to the next multiple of 8: 1 + 7 + 73 = 81.
printf 'x\t%073d\n' 0 >"$t/tests/tab.c"
if bash "$here/line_width.sh" "$t" >"$t/out"; then
	echo "selftest: a tab counted as one column"; exit 1
fi
echo "selftest: ok"
