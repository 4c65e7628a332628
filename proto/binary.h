/* The domain words of agent binaries, defined once for upstaged, the CLI,
 * the relay and plugins: streams, SHA-256 digests as hex, releases, arches,
 * and binary versions with their one order.
 *
 * A binary version is <version>-<release>-<arch>, e.g. 2.9.1-ubuntu-amd64
 * or 3.0-rc2-jammy-arm64: a version of proto/version.h, a release (a
 * series or OS type of UPS_RELEASES; the parser accepts any
 * [a-z][a-z0-9]* of at most UPS_LIMIT_RELEASE_LEN bytes, the check only
 * the known ones) and one of the known arches (amd64 arm64 ppc64el s390x
 * riscv64). Its
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

/* The stream names as an error message lists them, and as help lists
 * them with the default (test_binary checks both against the list). */
#define UPS_STREAM_NAMES_TEXT "released, proposed, devel or testing"
#define UPS_STREAM_CHOICES_TEXT                                                \
	"released (default), proposed, devel or testing"

/* The stream when none is named. */
#define UPS_STREAM_DEFAULT UPS_STREAM_RELEASED

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

/* X(name, product): the releases upstaged knows, Juju's OS types and
 * the series of Juju 2.x with the word a simplestreams product id spells
 * them with (com.ubuntu.juju:<product>:<arch>): an Ubuntu series is
 * written as its version number (focal -> 20.04), as Juju 2.x writes it;
 * other series and the OS types as Juju names them. An upload of any
 * other release is refused (PROTOCOL.md §9), so the metadata upstaged
 * publishes never names a product Juju cannot map. Names are at most
 * UPS_LIMIT_RELEASE_LEN bytes of [a-z][a-z0-9]* (checked at compile time
 * in binary.c); append new ones, never rename one (they are in store
 * paths and catalog rows). */
#define UPS_RELEASES(X)                                                        \
	/* OS types (Juju 3 and later name the release this way). */           \
	X("ubuntu", "ubuntu")                                                  \
	X("centos", "centos")                                                  \
	X("windows", "windows")                                                \
	X("osx", "osx")                                                        \
	X("opensuse", "opensuse")                                              \
	X("genericlinux", "genericlinux")                                      \
	X("kubernetes", "kubernetes")                                          \
	/* Ubuntu series. */                                                   \
	X("precise", "12.04")                                                  \
	X("quantal", "12.10")                                                  \
	X("raring", "13.04")                                                   \
	X("saucy", "13.10")                                                    \
	X("trusty", "14.04")                                                   \
	X("utopic", "14.10")                                                   \
	X("vivid", "15.04")                                                    \
	X("wily", "15.10")                                                     \
	X("xenial", "16.04")                                                   \
	X("yakkety", "16.10")                                                  \
	X("zesty", "17.04")                                                    \
	X("artful", "17.10")                                                   \
	X("bionic", "18.04")                                                   \
	X("cosmic", "18.10")                                                   \
	X("disco", "19.04")                                                    \
	X("eoan", "19.10")                                                     \
	X("focal", "20.04")                                                    \
	X("groovy", "20.10")                                                   \
	X("hirsute", "21.04")                                                  \
	X("impish", "21.10")                                                   \
	X("jammy", "22.04")                                                    \
	X("kinetic", "22.10")                                                  \
	X("lunar", "23.04")                                                    \
	X("mantic", "23.10")                                                   \
	X("noble", "24.04")                                                    \
	X("oracular", "24.10")                                                 \
	X("plucky", "25.04")                                                   \
	X("questing", "25.10")                                                 \
	/* Other series of Juju 2.x, written as Juju 2.x writes them. */       \
	X("centos7", "centos7")                                                \
	X("centos8", "centos8")                                                \
	X("centos9", "centos9")                                                \
	X("opensuseleap", "opensuse42")                                        \
	X("win2008r2", "win2008r2")                                            \
	X("win2012", "win2012")                                                \
	X("win2012hv", "win2012hv")                                            \
	X("win2012hvr2", "win2012hvr2")                                        \
	X("win2012r2", "win2012r2")                                            \
	X("win2016", "win2016")                                                \
	X("win2016hv", "win2016hv")                                            \
	X("win2016nano", "win2016nano")                                        \
	X("win2019", "win2019")                                                \
	X("win7", "win7")                                                      \
	X("win8", "win8")                                                      \
	X("win81", "win81")                                                    \
	X("win10", "win10")

/* The known releases as an error message lists them: " ubuntu centos
 * ... win10" (a string literal; starts with a space). */
#define UPS_RELEASE_TEXT_ITEM(name, product) " " name
#define UPS_RELEASE_NAMES_TEXT               UPS_RELEASES(UPS_RELEASE_TEXT_ITEM)

/* Whether release (borrowed; may be NULL) is one of UPS_RELEASES. */
bool ups_release_is_valid(const char *release);

/* The product word of a known release ("20.04" for focal, "ubuntu" for
 * ubuntu; static storage), or NULL when release is not known. */
const char *ups_release_product(const char *release);

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
 * parser's detail, "binary version: unknown release \"R\"; known
 * releases: ubuntu ..." (every known one; give err at least
 * UPS_LIMIT_ERROR_TEXT_LEN + 1 bytes to see them all), or "not in
 * canonical form (2.9.1-ubuntu-amd64)" naming the canonical spelling. */
int ups_binary_version_check(const char *s, struct ups_binary_version *out,
                             char *err, size_t errlen);

/* The one order of binary versions: version (ups_version_compare), then
 * release, then arch (as byte strings). <0, 0 or >0; a qsort comparator
 * body. */
int ups_binary_version_compare(const struct ups_binary_version *a,
                               const struct ups_binary_version *b);

#endif
