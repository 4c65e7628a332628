/* The HTTP words of agent binary downloads, defined once for upstaged's
 * router (agent/net/http.c) and the clients that fetch binaries (machine
 * agents resume with Range and revalidate with If-None-Match): what a
 * request path may be before anything looks it up, single byte ranges
 * (RFC 7233) and entity-tag matching (RFC 7232).
 *
 * Pure functions of their arguments over bounded strings: no allocation,
 * no I/O, safe from any thread; fuzzed by tests/fuzz/fuzz_http.c. */
#ifndef UPSTAGE_PROTO_HTTP_H
#define UPSTAGE_PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

/* Checks a request path (the URI without its query) before anything is
 * looked up with it. 0 when it is '/' followed by segments of RFC 3986
 * path characters other than '%' (upstaged serves no name that needs
 * encoding, so any '%' left is an encoding, or an encoding of one, of
 * something it does not serve), without empty, "." or ".." segments.
 * UPS_ERR_TOO_LARGE (answered 414) when len is over
 * UPS_LIMIT_HTTP_PATH_LEN; UPS_ERR_BAD_REQUEST (400) otherwise, e.g. a
 * backslash, NUL or other control byte, space, non-ASCII byte, '%',
 * "//", "/./", "/../". path holds len bytes and need not be terminated. */
int ups_http_path_check(const char *path, size_t len);

enum ups_http_range {
	UPS_HTTP_RANGE_ALL,           /* no usable Range: send everything */
	UPS_HTTP_RANGE_PARTIAL,       /* 206: bytes [start, start + len) */
	UPS_HTTP_RANGE_UNSATISFIABLE, /* 416 */
};

/* What the Range header value (borrowed, NUL-terminated; NULL when the
 * request has none) asks of a body of size bytes. One range of the bytes
 * unit: "bytes=A-B", "bytes=A-" or "bytes=-N" (the last N), blanks
 * allowed around the value only. A header that is malformed, of another
 * unit, or asks for several ranges is ignored (ALL), as RFC 7233 allows. A
 * range starting at or after size, or "bytes=-0", is UNSATISFIABLE; a
 * range running past the end is cut to it. *start and *len are set for
 * PARTIAL (and to the whole body for ALL). */
enum ups_http_range ups_http_range_parse(const char *value, uint64_t size,
                                         uint64_t *start, uint64_t *len);

/* Whether the header value (borrowed, NUL-terminated; NULL: absent)
 * lists the entity tag whose opaque value is etag (without quotes): "*",
 * or a comma-separated list of "tag" / W/"tag". weak: the weak
 * comparison of If-None-Match (W/ ignored); else the strong one of
 * If-Range (a W/ tag never matches). A malformed value matches
 * nothing. */
bool ups_http_etag_match(const char *value, const char *etag, bool weak);

#endif
