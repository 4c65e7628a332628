/* A simplestreams source over HTTP(S) for sync-agent-binary --source URL
 * (another upstaged, a Juju-style mirror): libcurl reads the metadata,
 * then each binary is streamed by a reader thread of its own into a ring
 * of REMOTE_READAHEAD bytes that the uploader takes its chunks from, so
 * download and upload are one pipeline, overlapping, with bounded memory
 * and no copy on disk; a transfer cut short goes on with Range from
 * where it stopped, a stalled one times out.
 *
 * Threads: remote_scan() blocks (before the upload starts); a
 * remote_reader's calls come from one thread at a time (the uploader's
 * slot jobs run on the libuv thread pool, one job per slot at once) and
 * it runs one thread of its own while it streams. */
#ifndef UPSTAGE_CLI_REMOTE_H
#define UPSTAGE_CLI_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/simplestreams.h"

/* How often a range is asked again after a cut before giving up. */
#define REMOTE_RETRIES 5
/* curl's receive buffer for binaries (its maximum is 10 MiB): the
 * 16 KiB default costs a read and a callback per 16 KiB. */
#define REMOTE_READ_BYTES (512 * 1024)

struct remote_config {
	const char *ca_cert; /* PEM bundle for https, NULL: the system's */
	unsigned timeout_ms; /* connect; and longest time without a byte */
	/* Signed metadata (index2.sjson, PGP clear-signed, as Juju's public
	 * streams publish it): read when the source has it, its signature
	 * checked with gpgv against keyring (NULL: none given, then it is
	 * refused unless allow_unsigned, which reads the .json instead). A
	 * source without .sjson is read unsigned only when explicit (given
	 * by the operator) or allow_unsigned. */
	const char *keyring;
	bool allow_unsigned;
	bool explicit_source;
};

/* Juju's public agent streams: the source when none is given. */
#define REMOTE_DEFAULT_SOURCE "https://streams.canonical.com/juju/tools"

/* Whether s names an HTTP(S) source. */
bool remote_is_url(const char *s);

/* Reads base/streams/v1/index2.sjson (checked, see remote_config), else
 * index2.json, else index.json, and the products file of stream,
 * appending its items to out (paths relative to base).
 * UPS_ERR_NOT_FOUND (no index, or no stream in it), UPS_ERR_IO (HTTP or
 * connection error, named), or the parser's errors; err says which URL. */
int remote_scan(const char *base, const char *stream,
                const struct remote_config *cfg, struct ups_ss_list *out,
                ups_ss_warn_cb warn, void *warn_data, char *err,
                size_t errlen);

/* base + "/" + item path into buf; UPS_ERR_TOO_LARGE if it does not fit. */
int remote_item_url(const char *base, const struct ups_ss_item *it, char *buf,
                    size_t len);

struct remote_reader;

/* Bytes a reader streams ahead of the uploader (and holds). */
#define REMOTE_READAHEAD (8u * 1024 * 1024)

/* A reader (one connection reused) for url, a file of size bytes; NULL
 * when out of memory. */
struct remote_reader *remote_reader_new(const char *url, uint64_t size,
                                        const struct remote_config *cfg);
void remote_reader_free(struct remote_reader *r);

/* Exactly len bytes of the file from off into buf: 0, or UPS_ERR_IO /
 * UPS_ERR_SIZE_MISMATCH / UPS_ERR_TIMEOUT with err naming the URL.
 * Sequential reads continue one stream; another offset starts a new one
 * there. */
int remote_read(struct remote_reader *r, unsigned char *buf, size_t len,
                uint64_t off, char *err, size_t errlen);

#endif
