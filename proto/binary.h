/* The domain words of agent binaries, defined once for upstaged, the CLI,
 * the relay and plugins: streams, SHA-256 digests as hex, releases, arches,
 * and binary versions with their one order.
 *
 * A binary version is <version>-<release>-<arch>, e.g. 2.9.1-ubuntu-amd64
 * or 3.0-rc2-jammy-arm64: a version of proto/version.h, a release
 * ([a-z][a-z0-9]*, series or OS name, at most UPS_LIMIT_RELEASE_LEN bytes)
 * and one of the known arches (amd64 arm64 ppc64el s390x riscv64). Its
 * canonical spelling is the version's canonical form, so one binary has one
 * name on the wire, in the catalog and in the store.
 *
 * Everything here is a pure function of its arguments: no allocation, no
 * I/O, safe from any thread. Strings returned are static. */
#ifndef UPSTAGE_PROTO_BINARY_H
#define UPSTAGE_PROTO_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"
#include "proto/version.h"

/* X(ID, name): the streams a binary is published in. The names are on the
 * wire ("stream") and in store paths (tools/<stream>/), so they never
 * change; each is at most UPS_LIMIT_STREAM_LEN bytes. */
#define UPS_STREAMS(X)                                                         \
	X(RELEASED, "released")                                                \
	X(PROPOSED, "proposed")                                                \
	X(DEVEL, "devel")                                                      \
	X(TESTING, "testing")

/* UPS_STREAM_RELEASED ... UPS_STREAM_TESTING, in the list's order. (The
 * formatter cannot tell that the X-macro line holds members.) */
/* clang-format off */
enum ups_stream {
#define UPS_STREAM_ENUM(id, name) UPS_STREAM_##id,
	UPS_STREAMS(UPS_STREAM_ENUM)
#undef UPS_STREAM_ENUM
	UPS_STREAM__COUNT
};
/* clang-format on */

/* The stream names as an error message lists them. */
#define UPS_STREAM_NAMES_TEXT "released, proposed, devel or testing"

/* The name of s (static storage); "unknown" when s is out of range. */
const char *ups_stream_name(enum ups_stream s);

/* The stream called s (borrowed; may be NULL) into *out (may be NULL, to
 * only check). 0, or UPS_ERR_BAD_REQUEST with *out untouched. */
int ups_stream_parse(const char *s, enum ups_stream *out);

/* Whether s (borrowed; may be NULL) names a stream. */
bool ups_stream_is_valid(const char *s);

/* Hex digits of a SHA-256 digest: buffers are UPS_SHA256_HEX_LEN + 1. */
#define UPS_SHA256_HEX_LEN 64

/* Whether s (borrowed; may be NULL) is exactly 64 lowercase hex digits. One
 * spelling per digest keeps blob names and catalog rows comparable with
 * strcmp; callers that accept uppercase lower it before asking. */
bool ups_sha256_hex_is_valid(const char *s);

/* The 32 bytes that hex (borrowed) spells into out. 0, or
 * UPS_ERR_BAD_REQUEST (out untouched) unless ups_sha256_hex_is_valid(hex). */
int ups_sha256_hex_decode(const char *hex, uint8_t out[32]);

/* digest as 64 lowercase hex digits and a NUL into out. */
void ups_sha256_hex_encode(const uint8_t digest[32],
                           char out[UPS_SHA256_HEX_LEN + 1]);

/* Whether s is an upload token: UPS_LIMIT_UPLOAD_TOKEN_MIN to
 * UPS_LIMIT_UPLOAD_TOKEN_LEN bytes of [A-Za-z0-9_-] (NULL is not). */
bool ups_upload_token_is_valid(const char *s);

/* Whether release (borrowed; may be NULL) is [a-z][a-z0-9]* of at most
 * UPS_LIMIT_RELEASE_LEN bytes. */
bool ups_release_is_valid(const char *release);

/* Whether arch (borrowed; may be NULL) is one of the known arches. */
bool ups_arch_is_valid(const char *arch);

struct ups_binary_version {
	struct ups_version version;
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
};

/* Parses all of s (borrowed; may be NULL), splitting at the last two '-'
 * (the version may hold one, for a tag). 0, or UPS_ERR_BAD_REQUEST with
 * err naming the bad part and *out untouched. Accepts any spelling of the
 * version ("02.9-ubuntu-amd64"); see ups_binary_version_check(). */
int ups_binary_version_parse(const char *s, struct ups_binary_version *out,
                             char *err, size_t errlen);

/* "<canonical version>-<release>-<arch>" into buf;
 * UPS_LIMIT_BINARY_VERSION_LEN + 1 always fits. 0, or UPS_ERR_TOO_LARGE
 * (buf still NUL-terminated when len > 0). */
int ups_binary_version_format(const struct ups_binary_version *bv, char *buf,
                              size_t len);

/* What a name built into a path or a catalog row must be: s parses, its
 * release and arch are known, and it is spelt canonically. 0 with *out set
 * (out may be NULL), or UPS_ERR_BAD_REQUEST with err saying which: the
 * parser's detail, "unknown release or arch", or "not in canonical form
 * (2.9.1-ubuntu-amd64)" naming the canonical spelling. */
int ups_binary_version_check(const char *s, struct ups_binary_version *out,
                             char *err, size_t errlen);

/* The one order of binary versions: version (ups_version_compare), then
 * release, then arch (as byte strings). <0, 0 or >0; a qsort comparator
 * body. */
int ups_binary_version_compare(const struct ups_binary_version *a,
                               const struct ups_binary_version *b);

#endif
