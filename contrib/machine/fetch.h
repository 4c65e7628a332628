/* HTTP downloads of agent binaries for machine agents: libcurl's multi
 * interface driven by the caller's libuv loop (uv_poll per socket, one
 * uv_timer for curl's timeouts), so many downloads share one thread.
 *
 * A download goes to a partial file that survives a cut: started again
 * with the same path, it hashes what is there (in libuv's thread pool)
 * and asks for the rest with "Range: bytes=N-". A server that answers
 * 200 instead of 206 sends the whole file again (the partial is
 * truncated); 416 means the partial already has everything the server
 * has. Size and SHA-256 are checked while the bytes arrive: more than
 * the announced size stops the download at once, and the digest is
 * compared (CRYPTO_memcmp) when the last byte is in. The URLs are tried
 * in order; the next one when a URL fails outright.
 *
 * The bytes are written to the page cache from the loop (small writes),
 * and fsynced in the thread pool before the result is reported.
 *
 * Callbacks: libuv's contract (an error return means no callback;
 * otherwise done runs exactly once, on the loop thread, after the call
 * returned). Loop thread only. */
#ifndef UPSTAGE_CONTRIB_MACHINE_FETCH_H
#define UPSTAGE_CONTRIB_MACHINE_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <uv.h>

#include "proto/machine.h"

struct fetch;

struct fetch_engine {
	uv_loop_t *loop; /* borrowed */
	CURLM *multi;
	uv_timer_t timer;
	bool timer_open;
	struct fetch *active; /* owned list */
	const char *ca_file;  /* borrowed; NULL: the system's CAs */
	bool stopping;
};

/* What a download did. */
struct fetch_result {
	uint64_t resumed_from; /* bytes already in the partial file */
	uint64_t fetched;      /* bytes received over HTTP, all tries */
	const char *url;       /* the URL that served the bytes (or "") */
};

/* rv 0: the file holds exactly size bytes with the SHA-256 asked for
 * (fsynced). Otherwise UPS_ERR_CHECKSUM_MISMATCH, UPS_ERR_SIZE_MISMATCH,
 * UPS_ERR_UNAVAILABLE (no URL served it), UPS_ERR_IO (the file), with
 * err saying what happened; the partial file is deleted after a
 * mismatch and kept otherwise. Arguments borrowed for the call. */
typedef void (*fetch_done_cb)(void *data, int rv, const char *err,
                              const struct fetch_result *res);
/* have of size bytes are in (may be NULL). */
typedef void (*fetch_progress_cb)(void *data, uint64_t have, uint64_t size);

/* 0, or UPS_ERR_IO when curl cannot be set up. ca_file (borrowed, must
 * outlive e; NULL: the system's CAs) is the PEM bundle https:// URLs are
 * verified with. */
int fetch_engine_init(struct fetch_engine *e, uv_loop_t *loop,
                      const char *ca_file);

/* Cancels every download (no callbacks) and closes the handles; the loop
 * then finishes closing them. */
void fetch_engine_stop(struct fetch_engine *e);

/* After the loop ended. */
void fetch_engine_free(struct fetch_engine *e);

/* Downloads one of urls[0..nurls) (copied) into path (copied), expecting
 * size bytes with sha256 (64 hex digits). 0, or UPS_ERR_NO_MEMORY /
 * UPS_ERR_BAD_REQUEST / UPS_ERR_UNAVAILABLE (stopping). */
int fetch_start(struct fetch_engine *e, const char *path,
                const char (*urls)[UPS_ORDER_URL_LEN + 1], size_t nurls,
                uint64_t size, const char *sha256, fetch_progress_cb progress,
                fetch_done_cb done, void *data);

#endif
