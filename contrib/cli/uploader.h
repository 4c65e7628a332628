/* Uploads agent binaries to upstaged over one client session (client.h),
 * following AgentBinaries version 2 (proto/PROTOCOL.md), several at once:
 *
 *   UploadBegin, with the sha256 when the source declares it
 *     (simplestreams), else with an upload token (source_upload_token):
 *   -> "exists": done, nothing sent;
 *   -> "stored" (no digest declared): the local file is hashed and
 *      compared: the same digest is "exists" (nothing sent), another one
 *      is conflict (or, with force, a new UploadBegin with the digest and
 *      force);
 *   -> {upload-id, offset, window, prefix-sha256}: the digest state is
 *      rebuilt from the local bytes before offset (not sent) and checked
 *      against prefix-sha256; a partial that is not this file's is
 *      aborted and the upload starts over;
 *   chunk frames from offset, never more than window bytes beyond the
 *     last UploadAck (whose window is the upload's share from then on);
 *     each chunk is read, hashed and masked on a worker thread, the loop
 *     thread only queues it;
 *   UploadCommit with the SHA-256 the reads computed -> the stored record.
 *
 * Up to `parallel` items stream at once, each in a slot with a progress
 * line of its own; an item whose bytes are all sent waits for its commit
 * in a further slot (up to `parallel` of those), so that the next one
 * streams meanwhile. Memory is bounded: per slot one chunk being read,
 * and a few chunks queued for the socket in all.
 *
 * A lost connection (or no progress for the timeout) reconnects with
 * exponential backoff and every unfinished item begins again, which
 * answers the offset to resume from; `busy` and `conflict` "upload in
 * progress" retry just that item after a backoff. At most `retries`
 * attempts in a row without progress. An upstaged that does not serve
 * this AgentBinaries version fails every item at once with
 * not-implemented and a sentence saying which side to upgrade. */
#ifndef UPSTAGE_CLI_UPLOADER_H
#define UPSTAGE_CLI_UPLOADER_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "contrib/cli/progress.h"
#include "proto/binary.h"
#include "proto/limits.h"
#include "proto/net/url.h"
#include "proto/simplestreams.h"

/* Most items streaming at once (--parallel), and in all: as many again
 * may be waiting for their commits. */
#define UPLOADER_MAX_PARALLEL 8
#define UPLOADER_MAX_SLOTS    (2 * UPLOADER_MAX_PARALLEL)
_Static_assert(UPLOADER_MAX_SLOTS <= PROGRESS_MAX_FILES,
               "a progress line for every slot");

enum upload_status {
	UPLOAD_PENDING,
	UPLOAD_UPLOADED,
	UPLOAD_EXISTS,
	UPLOAD_FAILED,
};

struct upload_item {
	/* Binary version, size; sha256 when the source declares it, else
	 * "" until the upload computed it. */
	struct ups_ss_item it;
	char file[PATH_MAX]; /* local file, or http(s) URL (remote.h) */
	/* Outcome, filled by uploader_run(). */
	enum upload_status status;
	uint64_t sent_bytes;   /* payload bytes sent in this run */
	uint64_t resumed_from; /* offset of the first UploadBegin answer */
	bool started_over; /* upstaged's partial was not this file's */
	char code[UPS_LIMIT_NAME_LEN + 1]; /* wire error code when FAILED */
	char message[UPS_LIMIT_ERROR_TEXT_LEN + 1];
};

struct uploader_config {
	const struct ups_url *url; /* borrowed */
	const char *ca_cert;       /* borrowed or NULL */
	const char *role;          /* borrowed */
	const char *token;         /* borrowed or NULL */
	FILE *debug;               /* envelope log or NULL */
	unsigned timeout_ms;       /* connect, and longest time without
	                              progress */
	unsigned retries;          /* reconnects in a row without progress */
	const char *stream;        /* borrowed */
	const char *source_ca;     /* https sources: PEM bundle, or NULL */
	uint32_t chunk_size;       /* 1..UPS_LIMIT_CHUNK_PAYLOAD_MAX */
	uint64_t max_rate;         /* bytes/s for all items, 0 = unlimited */
	unsigned parallel;         /* items at once, 1..UPLOADER_MAX_PARALLEL */
	bool force;                /* replace a stored binary that differs */
	struct progress *progress; /* borrowed */
	/* Called once per item when its outcome is known. */
	void (*item_done)(void *data, const struct upload_item *item);
	void *data;
};

/* Uploads items[0..n); every item ends UPLOADED, EXISTS or FAILED.
 * Returns the CLI exit code: 0 when every item is stored, 3 when upstaged
 * could not be reached or refused the login (after the retries), else 1.
 * Blocks; runs its own loop. */
int uploader_run(const struct uploader_config *cfg, struct upload_item *items,
                 size_t n);

/* An UploadBegin answer, checked (uploader_parse_begun). */
enum uploader_begun_kind {
	UPLOADER_BEGUN_UPLOAD,
	UPLOADER_BEGUN_EXISTS,
	UPLOADER_BEGUN_STORED,
};

struct uploader_begun {
	enum uploader_begun_kind kind;
	uint64_t upload_id; /* UPLOAD: send from offset, window ahead */
	uint64_t offset;
	uint64_t window;
	char prefix_sha256[UPS_SHA256_HEX_LEN + 1]; /* "" when offset is 0 */
	uint64_t stored_size;                       /* EXISTS, STORED */
	char stored_sha256[UPS_SHA256_HEX_LEN + 1];
};

/* Checks an UploadBegin response (borrowed) for a file of size bytes and
 * fills *out. 0, or UPS_ERR_BAD_REQUEST with err saying what is wrong
 * (an upstaged that breaks the protocol). */
int uploader_parse_begun(const json_t *response, uint64_t size,
                         struct uploader_begun *out, char *err,
                         size_t errlen);

/* Whether an error answer (code, text; borrowed, text may be NULL) means
 * upstaged does not serve the AgentBinaries version this CLI speaks;
 * then msg says so and which side to upgrade. */
bool uploader_version_refused(int code, const char *text, char *msg,
                              size_t msglen);

#endif
