/* Reading Juju simplestreams agent metadata, as `juju metadata
 * generate-agent-binaries` (and `make simplestreams`) write it. The CLI
 * reads a source tree with it; upstaged is to publish its store in the
 * same shape, so both sides share these types.
 *
 *   streams/v1/index2.json (or the legacy index.json)
 *     {"format": "index:1.0", "index": {
 *        "com.ubuntu.juju:<stream>:agents": {"path": "streams/v1/....json",
 *                                            "format": "products:1.0", ...}}}
 *   the products file it points to
 *     {"content_id": "com.ubuntu.juju:<stream>:agents",
 *      "products": {PRODUCT: {"versions": {DATE: {"items": {KEY: {
 *        "version", "release", "arch", "size", "sha256", "path", ...}}}}}}}
 *
 * Item fields missing from an item are inherited from its product (as
 * simplestreams allows). Both parsers are pure functions over a buffer, so
 * the fuzzer (tests/fuzz/fuzz_simplestreams.c) drives them directly.
 * Structure and types are checked strictly (a wrong type anywhere is an
 * error); items that are well-formed JSON but not usable agent binaries
 * (unknown arch, bad sha256, size 0, unsafe path) are skipped and reported
 * through the warn callback. */
#ifndef UPSTAGE_PROTO_SIMPLESTREAMS_H
#define UPSTAGE_PROTO_SIMPLESTREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/binary.h"
#include "proto/limits.h"

/* Bounds on metadata read from a source directory. */
#define UPS_SS_INDEX_MAX_BYTES    (1024 * 1024)
#define UPS_SS_PRODUCTS_MAX_BYTES (32 * 1024 * 1024)
#define UPS_SS_MAX_ITEMS          4096
/* A relative path inside the source tree. */
#define UPS_SS_PATH_MAX 1024

struct ups_ss_item {
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1]; /* canonical */
	char version[UPS_LIMIT_VERSION_LEN + 1];               /* canonical */
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	uint64_t size;                       /* > 0 */
	char sha256[UPS_SHA256_HEX_LEN + 1]; /* lowercase hex */
	char path[UPS_SS_PATH_MAX + 1];      /* relative, checked safe */
};

/* A growable array of items; zero-initialise, release with
 * ups_ss_list_free(). */
struct ups_ss_list {
	struct ups_ss_item *items; /* owned */
	size_t n;
	size_t cap;
};

void ups_ss_list_free(struct ups_ss_list *l);

/* Appends a copy of it; 0, UPS_ERR_TOO_LARGE (UPS_SS_MAX_ITEMS reached) or
 * UPS_ERR_NO_MEMORY. */
int ups_ss_list_append(struct ups_ss_list *l, const struct ups_ss_item *it);

/* Called for every item skipped, with a sentence saying why (borrowed for
 * the call). */
typedef void (*ups_ss_warn_cb)(void *data, const char *msg);

/* Formats a warning (at most 511 bytes) and hands it to warn, if any. */
void ups_ss_warn(ups_ss_warn_cb warn, void *data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True if p is a safe relative path: non-empty, at most UPS_SS_PATH_MAX
 * bytes, not absolute, no empty, "." or ".." component, no control
 * characters or backslashes. */
bool ups_ss_path_is_safe(const char *p);

/* True if s is the content id of stream's agents:
 * "com.ubuntu.juju:<stream>:agents". */
bool ups_ss_content_id_is(const char *s, const char *stream);

/* Parses an index (len bytes, not NUL-terminated) and copies the products
 * path of stream's agents into path (pathlen >= UPS_SS_PATH_MAX + 1). Returns
 * 0, UPS_ERR_NOT_FOUND when the index has no entry for stream, or
 * UPS_ERR_BAD_REQUEST (malformed, wrong types, unsafe path) /
 * UPS_ERR_TOO_LARGE (len > UPS_SS_INDEX_MAX_BYTES) with err saying why. */
int ups_ss_parse_index(const char *buf, size_t len, const char *stream,
                       char *path, size_t pathlen, char *err, size_t errlen);

/* Parses a products file and appends stream's usable items to out, sorted
 * by ups_binary_version_compare(). The same binary version listed
 * under several version dates keeps the newest date's item. A content_id
 * naming another stream is an error. warn may be NULL. Returns 0, or
 * UPS_ERR_BAD_REQUEST / UPS_ERR_TOO_LARGE / UPS_ERR_NO_MEMORY with err
 * saying why (out is then left as it was). */
int ups_ss_parse_products(const char *buf, size_t len, const char *stream,
                          struct ups_ss_list *out, ups_ss_warn_cb warn,
                          void *warn_data, char *err, size_t errlen);

/* Sorts items by ups_binary_version_compare() of their binary versions
 * (items whose binary_version does not parse go last, in text order). */
void ups_ss_list_sort(struct ups_ss_list *l);

#endif
