#!/usr/bin/env bash
# The layering of the tree, checked from the #include lines: every file's
# folder may include only the folders listed for it below, so includes
# run one way (agent: net -> rpc -> engines -> store -> proto). A
# reversed edge fails with the file, the line and the rule.
#
#   tests/layering/check.sh [ROOT]     (ROOT: the source tree, default ..)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

# folder: the folders its files may include (besides its own).
allowed() {
	case "$1" in
	proto) echo "" ;;
	proto/net) echo "proto" ;;
	plugins | plugins/*) echo "proto plugins" ;;
	agent/store) echo "proto plugins" ;;
	agent/ingest) echo "proto plugins agent/store" ;;
	agent/publish) echo "proto plugins agent/store" ;;
	agent/rollout) echo "proto plugins agent/store agent/publish" ;;
	agent/rpc) echo "proto proto/net agent/ingest agent/store agent/publish agent/rollout" ;;
	agent/net) echo "proto proto/net agent/rpc agent/publish" ;;
	agent) echo "proto proto/net plugins agent/net agent/rpc agent/ingest agent/store agent/publish agent/rollout" ;;
	contrib/*) echo "proto proto/net contrib" ;;
	*) echo "?" ;;
	esac
}

# The folder an include names: "agent/rpc/peer.h" -> agent/rpc; plugin
# folders count as plugins/, the CLI and relay as contrib/.
target_folder() {
	local dir=${1%/*}
	case "$dir" in
	plugins/*) echo plugins ;;
	contrib/*) echo contrib ;;
	*) echo "$dir" ;;
	esac
}

bad=0
checked=0
while IFS= read -r file; do
	folder=${file%/*}
	rules=$(allowed "$folder")
	if [ "$rules" = "?" ]; then
		echo "layering: $file: folder $folder has no rule (add it to $0)"
		bad=1
		continue
	fi
	while IFS=: read -r line inc; do
		[ -n "$inc" ] || continue
		tgt=$(target_folder "$inc")
		checked=$((checked + 1))
		own=$(target_folder "$file")
		[ "$tgt" = "$own" ] && continue
		[ "$tgt" = "$folder" ] && continue
		ok=0
		for r in $rules; do
			[ "$tgt" = "$r" ] && ok=1
		done
		if [ $ok -eq 0 ]; then
			echo "layering: $file:$line includes \"$inc\": $folder may include only: $rules"
			bad=1
		fi
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
		sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1:\2/' |
		grep -E ':(agent|proto|plugins|contrib)/' || true)
done < <(find agent proto plugins contrib -name '*.[ch]' | sort)

if [ $bad -ne 0 ]; then
	echo "layering: FAILED"
	exit 1
fi
echo "layering: ok ($checked includes checked)"
