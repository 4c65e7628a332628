#!/bin/bash
# ss_check.sh BASE_URL REFERENCE_DIR [CURL_ARGS...]: walks the simplestreams
# agent metadata served at BASE_URL the way Juju reads it, and checks every
# level against Juju's own files in REFERENCE_DIR (tests/data/simplestreams):
#
#   BASE_URL/streams/v1/index2.json          member names and order as the
#     -> each index entry                    reference's, format index:1.0;
#        (content-download, products:1.0)    entries named
#        -> its "path": the products file    com.ubuntu.juju:<stream>:agents
#           -> every product                 whose content_id says so;
#              -> every version date         product ids
#                 -> every item              com.ubuntu.juju:<word>:<arch>;
#                    -> BASE_URL/<item path> dates YYYYMMDD; items keyed by
#                       fetched: size and    their binary version, with the
#                       SHA-256 as the item  reference item's members;
#                       says                 "updated" in RFC 1123 with a
#                                            numeric zone
#   BASE_URL/streams/v1/index.json           the released entry alone, or
#                                            404 when there is none.
#
# Prints "ss_check: S streams, P products, I items verified" and exits 0, or
# names the first mismatch and exits 1. CURL_ARGS go to every curl (e.g. -k
# for https). Usable by hand against any upstaged.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 BASE_URL REFERENCE_DIR [CURL_ARGS...]" >&2
	exit 2
fi
BASE=${1%/}
REF=$2
shift 2
CURL=(curl -sS --fail --max-time 60 "$@")
W=$(mktemp -d "${TMPDIR:-/tmp}/ss_check.XXXXXX")
trap 'rm -rf "$W"' EXIT

bad() {
	echo "ss_check: $*" >&2
	exit 1
}

# keys FILE JQ_PATH: the member names of the object at JQ_PATH, in order.
keys() { jq -c "$2 | keys_unsorted" "$1"; }

RFC1123Z='^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}$'
ref_entry='.index | to_entries[0].value'
ref_product='.products | to_entries[0].value'
ref_date="$ref_product"'.versions | to_entries[0].value'
ref_item="$ref_date"'.items | to_entries[0].value'

"${CURL[@]}" -o "$W/index2.json" "$BASE/streams/v1/index2.json" ||
	bad "cannot fetch $BASE/streams/v1/index2.json"
jq -e 'type == "object"' "$W/index2.json" >/dev/null ||
	bad "index2.json is not a JSON object"
[ "$(keys "$W/index2.json" .)" = "$(keys "$REF/index2.json" .)" ] ||
	bad "index2.json members $(keys "$W/index2.json" .) are not Juju's $(keys "$REF/index2.json" .)"
[ "$(jq -r .format "$W/index2.json")" = "index:1.0" ] ||
	bad "index2.json format is not index:1.0"
jq -r .updated "$W/index2.json" | grep -Eq "$RFC1123Z" ||
	bad "index2.json updated is not RFC 1123 with a numeric zone"

streams=0 products=0 items=0
while IFS= read -r cid; do
	stream=${cid#com.ubuntu.juju:}
	stream=${stream%:agents}
	[ "$cid" = "com.ubuntu.juju:$stream:agents" ] ||
		bad "index entry $cid is not com.ubuntu.juju:<stream>:agents"
	jq ".index[\"$cid\"]" "$W/index2.json" >"$W/entry.json"
	[ "$(keys "$W/entry.json" .)" = "$(keys "$REF/index2.json" "$ref_entry")" ] ||
		bad "$cid: entry members $(keys "$W/entry.json" .) are not Juju's"
	jq -e '.format == "products:1.0" and .datatype == "content-download"' \
		"$W/entry.json" >/dev/null || bad "$cid: format or datatype"
	jq -r .updated "$W/entry.json" | grep -Eq "$RFC1123Z" ||
		bad "$cid: updated is not RFC 1123"
	path=$(jq -r .path "$W/entry.json")
	case $path in
	/* | *..* | *\\*) bad "$cid: unsafe path $path" ;;
	esac
	"${CURL[@]}" -o "$W/products.json" "$BASE/$path" ||
		bad "$cid: cannot fetch $BASE/$path"
	P="$W/products.json"
	[ "$(keys "$P" .)" = "$(keys "$REF/com.ubuntu.juju-released-agents.json" .)" ] ||
		bad "$path: members $(keys "$P" .) are not Juju's"
	jq -e --arg cid "$cid" '.content_id == $cid and .format == "products:1.0"' \
		"$P" >/dev/null || bad "$path: content_id or format"
	# The index lists exactly the products the file has, sorted.
	[ "$(jq -c '.products | keys' "$P")" = "$(jq -c '.products' "$W/entry.json")" ] ||
		bad "$cid: index products $(jq -c .products "$W/entry.json") are not the file's $(jq -c '.products | keys' "$P")"
	streams=$((streams + 1))
	while IFS= read -r pid; do
		products=$((products + 1))
		jq ".products[\"$pid\"]" "$P" >"$W/product.json"
		[ "$(keys "$W/product.json" .)" = "$(keys "$REF/com.ubuntu.juju-released-agents.json" "$ref_product")" ] ||
			bad "$pid: product members $(keys "$W/product.json" .) are not Juju's"
		arch=$(jq -r .arch "$W/product.json")
		[[ $pid =~ ^com\.ubuntu\.juju:[a-z0-9.]+:$arch$ ]] ||
			bad "$pid: not com.ubuntu.juju:<release>:$arch"
		while IFS= read -r date; do
			[[ $date =~ ^[0-9]{8}$ ]] || bad "$pid: version $date is not YYYYMMDD"
			jq ".versions[\"$date\"]" "$W/product.json" >"$W/date.json"
			[ "$(keys "$W/date.json" .)" = "$(keys "$REF/com.ubuntu.juju-released-agents.json" "$ref_date")" ] ||
				bad "$pid/$date: members are not Juju's"
			while IFS= read -r key; do
				jq ".items[\"$key\"]" "$W/date.json" >"$W/item.json"
				I="$W/item.json"
				[ "$(keys "$I" .)" = "$(keys "$REF/com.ubuntu.juju-released-agents.json" "$ref_item")" ] ||
					bad "$key: item members $(keys "$I" .) are not Juju's"
				[ "$key" = "$(jq -r '"\(.version)-\(.release)-\(.arch)"' "$I")" ] ||
					bad "$key: not keyed by its binary version"
				[ "$(jq -r .arch "$I")" = "$arch" ] || bad "$key: arch differs from its product's"
				[ "$(jq -r .ftype "$I")" = "tar.gz" ] || bad "$key: ftype"
				ipath=$(jq -r .path "$I")
				case $ipath in
				/* | *..* | *\\*) bad "$key: unsafe path $ipath" ;;
				esac
				"${CURL[@]}" -o "$W/blob" "$BASE/$ipath" ||
					bad "$key: cannot fetch $BASE/$ipath"
				[ "$(stat -c %s "$W/blob")" = "$(jq -r .size "$I")" ] ||
					bad "$key: $ipath has $(stat -c %s "$W/blob") bytes, the item says $(jq -r .size "$I")"
				[ "$(sha256sum "$W/blob" | cut -d' ' -f1)" = "$(jq -r .sha256 "$I")" ] ||
					bad "$key: $ipath does not have the item's sha256"
				items=$((items + 1))
			done < <(jq -r '.items | keys[]' "$W/date.json")
		done < <(jq -r '.versions | keys[]' "$W/product.json")
	done < <(jq -r '.products | keys[]' "$P")
done < <(jq -r '.index | keys[]' "$W/index2.json")

# The legacy index: the released entry alone, or nothing.
if jq -e '.index["com.ubuntu.juju:released:agents"]' "$W/index2.json" >/dev/null; then
	"${CURL[@]}" -o "$W/index.json" "$BASE/streams/v1/index.json" ||
		bad "released is published but index.json is not"
	[ "$(keys "$W/index.json" .)" = "$(keys "$REF/index.json" .)" ] ||
		bad "index.json members are not Juju's"
	[ "$(jq -c '.index' "$W/index.json")" = "$(jq -c '{"com.ubuntu.juju:released:agents": .index["com.ubuntu.juju:released:agents"]}' "$W/index2.json")" ] ||
		bad "index.json is not index2.json's released entry"
else
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$BASE/streams/v1/index.json")
	[ "$code" = 404 ] || bad "nothing released, but index.json answers $code"
fi
echo "ss_check: $streams streams, $products products, $items items verified"
