#!/usr/bin/env bash
# Every C source and header of the tree fits in 80 columns, tabs counted
# as 8 (the committed .clang-format's ColumnLimit). A longer line fails
# with its file and line number; `clang-format -i --lines=N:N FILE`
# formats just that line.
#
#   tests/style/line_width.sh [ROOT]   (ROOT: the source tree, default ../..)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

files=$(find agent proto plugins contrib tests -name '*.[ch]' | sort)
[ -n "$files" ] || { echo "line_width: no sources under $root"; exit 1; }
long=0
for f in $files; do
	out=$(expand -t8 "$f" | awk -v f="$f" 'length($0) > 80 {
		printf "%s:%d: %d columns\n", f, NR, length($0) }')
	if [ -n "$out" ]; then
		echo "$out"
		long=$((long + $(wc -l <<<"$out")))
	fi
done
if [ "$long" -gt 0 ]; then
	echo "line_width: $long line(s) over 80 columns"
	exit 1
fi
echo "line_width: $(wc -l <<<"$files") files, every line within 80 columns"
