#!/bin/sh
# installed_headers.sh CMAKE BUILD_DIR CC: installs the build into a scratch
# prefix and compiles a plugin against the installed headers alone, so
# upstage_plugin.h cannot come to need a proto/ header that is not
# installed with it.
set -eu
cmake=$1
build=$2
cc=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$cmake" --install "$build" --prefix "$dir" >/dev/null
cat >"$dir/plugin.c" <<'SRC'
#include <string.h>

#include <upstage_plugin.h>

/* The stream list comes with the ABI header, X-macro and all. */
#define NAME(id, name) name,
static const char *const streams[] = {UPS_STREAMS(NAME)};
_Static_assert(sizeof(streams) / sizeof(streams[0]) == UPS_STREAM__COUNT,
               "one name per stream");
_Static_assert(UPS_SHA256_HEX_LEN == 64, "hex digits of a SHA-256");
_Static_assert(UPS_ERR_BAD_REQUEST < 0, "error codes are negative");

static int put(void *state, const char *staging_name, const char *sha256_hex,
               const char *stream, const char *binary_version, char *err,
               size_t errlen)
{
	char hex[UPS_SHA256_HEX_LEN + 1];
	struct ups_binary_version bv;

	(void)state, (void)staging_name, (void)binary_version, (void)err;
	(void)errlen, (void)bv;
	memcpy(hex, sha256_hex, sizeof(hex));
	return strcmp(stream, streams[UPS_STREAM_RELEASED]) == 0
	           ? 0
	           : UPS_ERR_BAD_REQUEST;
}

static const struct ups_store_ops ops = {
    .struct_size = sizeof(struct ups_store_ops),
    .put = put,
};

UPS_PLUGIN_EXPORT const struct ups_plugin_descriptor
    upstage_plugin_descriptor = {
        .abi_major = UPS_PLUGIN_ABI_MAJOR,
        .abi_minor = UPS_PLUGIN_ABI_MINOR,
        .struct_size = sizeof(struct ups_plugin_descriptor),
        .kind = UPS_PLUGIN_KIND_STORE,
        .name = "installed-headers",
        .version = "0",
        .ops = &ops,
};
SRC
"$cc" -std=c11 -Wall -Wextra -Werror -fsyntax-only \
	-I"$dir/include/upstage" "$dir/plugin.c"
echo "installed headers compile on their own"
