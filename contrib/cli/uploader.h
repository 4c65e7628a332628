/* Uploads agent binaries to upstaged over one client session (client.h),
 * following the AgentBinaries protocol (proto/PROTOCOL.md):
 *
 *   UploadBegin -> "exists" (done) or {upload-id, offset, window}
 *   chunk frames from offset, never more than window bytes beyond the last
 *     UploadAck, read through one fixed buffer (memory does not grow with
 *     the file)
 *   UploadCommit -> the stored record
 *
 * A lost connection (or no progress for the timeout) reconnects with
 * exponential backoff and sends UploadBegin again, which answers the offset
 * to resume from; `busy` and `conflict` "upload in progress" are retried
 * the same way. At most `retries` attempts in a row without progress. */
#ifndef UPSTAGE_CLI_UPLOADER_H
#define UPSTAGE_CLI_UPLOADER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "contrib/cli/progress.h"
#include "proto/limits.h"
#include "proto/net/url.h"
#include "proto/simplestreams.h"

enum upload_status {
	UPLOAD_PENDING,
	UPLOAD_UPLOADED,
	UPLOAD_EXISTS,
	UPLOAD_FAILED,
};

struct upload_item {
	struct ups_ss_item it; /* binary version, size, sha256 (verified) */
	char file[PATH_MAX]; /* local file */
	/* Outcome, filled by uploader_run(). */
	enum upload_status status;
	uint64_t sent_bytes;   /* payload bytes sent in this run */
	uint64_t resumed_from; /* offset of the first UploadBegin answer */
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
	uint32_t chunk_size;       /* 1..UPS_LIMIT_CHUNK_PAYLOAD_MAX */
	uint64_t max_rate;         /* bytes/s, 0 = unlimited */
	struct progress *progress; /* borrowed */
	/* Called once per item when its outcome is known. */
	void (*item_done)(void *data, const struct upload_item *item);
	void *data;
};

/* Uploads items[0..n) in order; every item ends UPLOADED, EXISTS or FAILED.
 * Returns the CLI exit code: 0 when every item is stored, 3 when upstaged
 * could not be reached or refused the login (after the retries), else 1.
 * Blocks; runs its own loop. */
int uploader_run(const struct uploader_config *cfg, struct upload_item *items,
                 size_t n);

#endif
