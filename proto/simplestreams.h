/* Juju simplestreams agent metadata, read and written. The reader takes
 * what `juju metadata generate-agent-binaries` (and `make simplestreams`)
 * write; the CLI reads a source tree with it. The writer makes the same
 * files from a list of binaries; upstaged publishes its store with it
 * (agent/publish/), and the CLI's make-simplestreams is to use it too, so
 * both sides share these types.
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

/* -------------------------------------------------------------------------
 * Writing.
 *
 * ups_ss_write() makes, from a list of binaries, exactly the files Juju's
 * own writer makes (environs/tools/marshal.go; the reference files are
 * tests/data/simplestreams/), byte for byte in Juju's layout:
 *   streams/v1/index2.json                       every stream present
 *   streams/v1/index.json                        the legacy index: released
 *                                                only, when it has any
 *   streams/v1/com.ubuntu.juju-<stream>-agents.json   one per stream present
 * JSON indented by four spaces, members in the order Juju's structs
 * declare them, map keys (index entries, product ids, dates, items) in
 * byte order, one newline at the end. The bytes depend on the list alone,
 * never on its order or on the clock, so the same binaries publish the
 * same files anywhere:
 *   - a product id is com.ubuntu.juju:<product word>:<arch>, the release's
 *     word from proto/binary.h (focal -> 20.04, ubuntu -> ubuntu);
 *   - an item goes under the date (YYYYMMDD, UTC) of its stored_at, keyed
 *     by its binary version, with release, version, arch, size, path,
 *     ftype "tar.gz" and sha256;
 *   - a product's own "version" is its newest item's version (Juju takes
 *     the first item it meets);
 *   - "updated" (RFC 1123 with a numeric zone, in UTC) is the newest
 *     stored_at of what the file (or index entry) describes, the epoch
 *     when that is nothing. */

/* The directory the files go in, relative to the metadata root. */
#define UPS_SS_DIR         "streams/v1"
#define UPS_SS_INDEX2_NAME "index2.json"
#define UPS_SS_INDEX_NAME  "index.json"
/* Longest file name under UPS_SS_DIR ("com.ubuntu.juju-<stream>-agents.json"
 * with the longest stream). */
#define UPS_SS_FILE_NAME_MAX                                                   \
	(sizeof("com.ubuntu.juju--agents.json") - 1 + UPS_LIMIT_STREAM_LEN)
/* An "updated" value: "Thu, 01 Jan 1970 00:00:00 +0000". */
#define UPS_SS_UPDATED_LEN 31

/* One binary to publish. item's strings are written as they are (the
 * caller has validated them); its release must be known to
 * proto/binary.h and its version must parse. */
struct ups_ss_pub {
	enum ups_stream stream;
	int64_t stored_at; /* seconds since the epoch, >= 0 */
	struct ups_ss_item item;
};

struct ups_ss_file {
	char name[UPS_SS_FILE_NAME_MAX + 1]; /* under UPS_SS_DIR */
	char *data;                          /* owned */
	size_t len;
};

/* What ups_ss_write() made: index2.json, then index.json (when released
 * has binaries), then the products files in stream order. Zero-initialise
 * or fill with ups_ss_write(); release with ups_ss_files_free(). */
struct ups_ss_files {
	struct ups_ss_file file[2 + UPS_STREAM__COUNT];
	size_t n;
};

void ups_ss_files_free(struct ups_ss_files *f);

/* The file of f called name (borrowed), or NULL. */
const struct ups_ss_file *ups_ss_files_find(const struct ups_ss_files *f,
                                            const char *name);

/* "com.ubuntu.juju-<stream>-agents.json" into buf (at least
 * UPS_SS_FILE_NAME_MAX + 1 bytes). */
void ups_ss_products_name(enum ups_stream stream, char *buf, size_t len);

/* t (seconds since the epoch) as "Thu, 01 Jan 1970 00:00:00 +0000" into
 * buf (at least UPS_SS_UPDATED_LEN + 1 bytes), in UTC and English whatever
 * the locale. 0, or UPS_ERR_BAD_REQUEST for a time gmtime cannot take. */
int ups_ss_format_updated(int64_t t, char *buf, size_t len);

/* Builds the files of pubs[0..n) (borrowed; any order) into *out. 0, or
 * UPS_ERR_BAD_REQUEST (an unknown stream or release, a version that does
 * not parse, a negative stored_at, a binary version twice in one
 * stream), UPS_ERR_TOO_LARGE (more than UPS_SS_MAX_ITEMS in one stream,
 * which the reader would refuse) or UPS_ERR_NO_MEMORY, with err saying
 * which; *out is then empty. */
int ups_ss_write(const struct ups_ss_pub *pubs, size_t n,
                 struct ups_ss_files *out, char *err, size_t errlen);

#endif
