/* Where sync-agent-binary finds agent binaries: a directory of
 * juju-<binary version>.tgz files, or a simplestreams tree
 * (DIR/streams/v1/index2.json, else index.json, pointing at the products
 * file of the stream). Also the --agent-version filter and the local
 * verification of files against their metadata. */
#ifndef UPSTAGE_CLI_SOURCE_H
#define UPSTAGE_CLI_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/simplestreams.h"
#include "proto/version.h"

enum source_kind {
	SOURCE_TARBALLS,     /* names give the binary versions; no sha256 */
	SOURCE_SIMPLESTREAMS /* metadata gives size and sha256 */
};

/* Scans dir for stream's agent binaries and appends them to out sorted by
 * version, release, arch. For a tarball directory item.path is the file
 * name, item.size the file's size and item.sha256 empty (source_verify()
 * fills it); other files are ignored, and juju-*.tgz names that do not
 * parse (or repeat a binary version) are reported through warn and skipped.
 * Returns 0, or an error with err saying which file is wrong:
 * UPS_ERR_NOT_FOUND (no such directory, stream not in the index),
 * UPS_ERR_BAD_REQUEST (malformed metadata), UPS_ERR_TOO_LARGE,
 * UPS_ERR_IO, UPS_ERR_NO_MEMORY. dir is borrowed. */
int source_scan(const char *dir, const char *stream, struct ups_ss_list *out,
                enum source_kind *kind, ups_ss_warn_cb warn, void *warn_data,
                char *err, size_t errlen);

/* Where the metadata of a source given as dir is: dir itself, or
 * dir/tools when only that holds streams/v1 (the layout Juju reads as a
 * local source, which make-simplestreams writes). Returns dir or buf. */
const char *source_root(const char *dir, char *buf, size_t len);

/* dir + "/" + it->path into buf; UPS_ERR_TOO_LARGE if it does not fit. */
int source_file_path(const char *dir, const struct ups_ss_item *it, char *buf,
                     size_t len);

/* The checks that need no reading: the file of it is a regular file of
 * the size the metadata (or the scan) gave. UPS_ERR_IO when it is missing,
 * UPS_ERR_SIZE_MISMATCH naming the file otherwise. */
int source_check(const char *dir, enum source_kind kind,
                 const struct ups_ss_item *it, char *err, size_t errlen);

/* Reads the file of it through a fixed buffer and checks it: for a
 * simplestreams source its size and SHA-256 must equal the metadata's
 * (else UPS_ERR_SIZE_MISMATCH / UPS_ERR_CHECKSUM_MISMATCH naming the file);
 * for tarballs it->size and it->sha256 are set from the file. UPS_ERR_IO
 * when it cannot be read. */
int source_verify(const char *dir, enum source_kind kind,
                  struct ups_ss_item *it, char *err, size_t errlen);

/* An upload token (PROTOCOL.md, AgentBinaries version 2) for the local
 * file at path, st its fstat(): SOURCE_TOKEN_LEN hex digits of the
 * SHA-256 of this host's name, the file's real path, device, inode, size
 * and modification time. The same file gives the same token on every run,
 * so a rerun finds its partial upload again without a state file; a file
 * rewritten or replaced gives another one. out holds SOURCE_TOKEN_LEN + 1
 * bytes. 0, or UPS_ERR_IO (no real path) with err. */
#define SOURCE_TOKEN_LEN 32
struct stat;
int source_upload_token(const char *path, const struct stat *st, char *out,
                        size_t outlen, char *err, size_t errlen);

/* The --agent-version filter: "M" (every M.x.y), "M.m" (every M.m.x incl.
 * builds and tags) or a full version with a build number (exactly it). */
enum source_filter_kind {
	SOURCE_FILTER_MAJOR,
	SOURCE_FILTER_MINOR,
	SOURCE_FILTER_EXACT,
};

struct source_filter {
	enum source_filter_kind kind;
	struct ups_version v;
};

/* Parses s. UPS_ERR_BAD_REQUEST with err saying which forms are accepted
 * (e.g. "use 2.9 or 2.9.1.1, not 2.9.1"). */
int source_filter_parse(const char *s, struct source_filter *f, char *err,
                        size_t errlen);

bool source_filter_match(const struct source_filter *f,
                         const struct ups_version *v);

/* Keeps only the items whose version f matches (f NULL keeps all). */
void source_filter_apply(struct ups_ss_list *l, const struct source_filter *f);

/* Keeps only the items of version v (every release and arch). */
void source_keep_version(struct ups_ss_list *l, const struct ups_version *v);

/* The distinct versions in l, in order, into a malloc'd array (*out, free()
 * it; NULL when l is empty). 0 or UPS_ERR_NO_MEMORY. */
int source_versions(const struct ups_ss_list *l, struct ups_version **out,
                    size_t *n);

/* The leading version in the output of `juju version` ("2.9.1-ubuntu-amd64",
 * "3.0-rc2-jammy-arm64\n", "2.9.1"). 0 or UPS_ERR_BAD_REQUEST. */
int source_parse_juju_version(const char *text, struct ups_version *v);

#endif
