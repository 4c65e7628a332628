/* The upload engine: agent binaries arriving in chunks are hashed
 * (SHA-256) and written to staging files in libuv's thread pool, then
 * verified and handed to the store (agent/store/store.h). The contract
 * on the wire is proto/PROTOCOL.md "AgentBinaries" (agent/rpc/binaries.c
 * speaks it); DESIGN.md "Upload lifecycle" explains why.
 *
 * The engine knows no peers and builds no messages. Every upload has an
 * owner: an opaque pointer of the caller's (the facade passes its peer)
 * compared for identity only. Results come back through completion
 * callbacks with libuv's contract (an error return means the callback
 * never runs; otherwise it runs exactly once, on the loop thread, after
 * the call returned), and through the events below for what is not an
 * answer (acks, errors of an upload in flight, read pauses). A callback
 * runs even when its owner has gone meanwhile; events never go to an
 * owner after upload_owner_gone().
 *
 * Threads: every function here runs on the loop thread. Disk and catalog
 * work goes to uv_queue_work jobs (upload_job.h); each upload has at most
 * one job in flight (a write job's hash and later-half workers are part
 * of it, and a checkpoint may run beside it), so its digest state is
 * touched by one thread at a time and its bytes land where they came
 * from. An upload is never freed while a job refers to it.
 *
 * States: agent/ingest/upload_state.h. */
#ifndef UPSTAGE_AGENT_INGEST_UPLOAD_H
#define UPSTAGE_AGENT_INGEST_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <uv.h>

#include "agent/ingest/staging.h"
#include "agent/ingest/upload_state.h"
#include "agent/store/store.h"
#include "proto/chunk.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/metrics.h"

struct upload_config {
	/* Fault spec for staging files (tests only); NULL: none. Copied. */
	const char *fault;
	unsigned max_uploads; /* uploads with an owner at once */
	unsigned max_per_owner; /* of those, one owner's (0: max_uploads) */
	unsigned max_partials;  /* detached kept; the oldest go (0: all) */
	int64_t stall_s; /* detach an owned upload silent this long (0: no) */
	/* Bytes in flight beyond the acks, for all receiving uploads
	 * together: each is told an equal share (upload_window_share). */
	uint64_t window;
	uint64_t reserve;     /* free bytes to keep on the store's disk */
	int64_t expiry_s;     /* detached partials older than this go */
	uint64_t sync_bytes;  /* bytes between durable offsets */
};

/* What is not an answer, told to an upload's owner. All optional. */
struct upload_events {
	/* Bytes up to offset are written, up to durable fsynced; window is
	 * the upload's share of the window from now on. */
	void (*ack)(void *owner, uint64_t upload_id, uint64_t offset,
	            uint64_t durable, uint64_t window);
	/* The upload (or a chunk for it) failed; expected is the next
	 * offset wanted, or NULL. text is borrowed for the call. */
	void (*error)(void *owner, uint64_t upload_id, int code,
	              const char *text, const uint64_t *expected);
	/* Stop (pause) or resume reading from the owner. */
	void (*pause)(void *owner, bool pause);
};

/* What UploadBegin asks for, validated by the caller (agent/rpc). A
 * file is named by stream, binary version, size and either its declared
 * sha256 or, when the client gives the digest only at commit, its token
 * (the other one is ""). */
struct upload_begin_req {
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char sha256[UPS_SHA256_HEX_LEN + 1];
	char token[UPS_LIMIT_UPLOAD_TOKEN_LEN + 1];
	uint64_t size;
	bool force;
};

/* The result of a begin. */
struct upload_begun {
	bool exists; /* already stored with the declared sha256: see binary */
	bool stored; /* no sha256 declared, and binary is stored: see it */
	struct catalog_binary binary;
	uint64_t upload_id; /* otherwise: send from offset, window ahead */
	uint64_t offset;
	uint64_t window;
	/* SHA-256 of the first offset bytes held; "" when offset is 0. */
	char prefix_sha256[UPS_SHA256_HEX_LEN + 1];
};

typedef void (*upload_begin_cb)(void *data, int rv, const char *err,
                                const struct upload_begun *res);
/* stored is borrowed for the call (NULL on error). */
typedef void (*upload_commit_cb)(void *data, int rv, const char *err,
                                 const struct catalog_binary *stored);

/* An upload as UploadStatus shows it. */
struct upload_info {
	uint64_t upload_id;
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char sha256[UPS_SHA256_HEX_LEN + 1]; /* "" when not declared */
	uint64_t size;
	uint64_t offset;
	uint64_t durable;
	enum upload_state state;
};

struct upload_chunk;
struct upload;

struct upload_engine {
	uv_loop_t *loop;                    /* borrowed */
	struct store *store;                /* borrowed */
	struct catalog *cat;                /* the store's */
	const struct upload_events *events; /* borrowed */
	struct upload_config cfg;
	char *fault;
	struct staging stg;
	bool stg_open;
	const EVP_MD *sha256;   /* fetched once */
	uint64_t page_size;     /* batches split only where a page starts */
	struct upload *uploads; /* owned list */
	/* Spare full-size chunk buffers: reusing them spares a page fault
	 * per 4 KiB of every chunk (glibc hands big blocks back to the
	 * kernel on free). At most UPLOAD_POOL_MAX are kept. */
	struct upload_chunk *pool;
	unsigned pool_count;
	uv_timer_t expiry;
	bool expiry_open;
	bool stopping;
	/* Wall clock in seconds; tests replace it. */
	int64_t (*now_s)(void);
	/* Counters (loop thread; read by /metrics). failed[] is indexed by
	 * upload_failure_index(): by error code, 0 for aborts. */
	uint64_t begun, committed;
	uint64_t failed[UPS_ERR__LAST - UPS_ERR__FIRST];
	struct ups_histogram commit_seconds; /* UploadCommit to stored */
};

/* The index in failed[] of an upload that ended with code (0: aborted by
 * its owner) and back: the code (0 for index 0). */
static inline unsigned upload_failure_index(int code)
{
	return code < UPS_ERR__FIRST + 1 || code >= UPS_ERR__LAST
	           ? 0
	           : (unsigned)(code - UPS_ERR__FIRST);
}

/* Bytes received by uploads that are not durable yet. */
uint64_t upload_engine_bytes_in_flight(const struct upload_engine *eng);

/* Opens staging in the store's staging directory and reloads partial
 * uploads as detached (each staging file cut to its durable offset; rows
 * without a file and files without a row are deleted). Blocks: call
 * before the loop runs. store and events are borrowed. 0, or a negative
 * code with err; eng is then closed. */
int upload_engine_open(struct upload_engine *eng, uv_loop_t *loop,
                       struct store *store, const struct upload_config *cfg,
                       const struct upload_events *events, char *err,
                       size_t errlen);

/* Starts the sweep timer (upload_engine_sweep). 0 or UPS_ERR_IO. */
int upload_engine_start(struct upload_engine *eng);

/* One sweep, by the clock now_s: an owned upload that received nothing
 * for stall_s is detached (its owner told UPS_ERR_TIMEOUT); a detached
 * one older than expiry_s goes; beyond max_partials detached ones, the
 * oldest go. The timer's work; tests call it. */
void upload_engine_sweep(struct upload_engine *eng);

/* Shutdown begins: no new uploads; the expiry timer closes. Jobs in
 * flight finish and detached uploads record their durable offsets as the
 * loop drains. */
void upload_engine_stop(struct upload_engine *eng);

/* After the loop has drained: frees everything. Safe on a zeroed or
 * failed engine. */
void upload_engine_close(struct upload_engine *eng);

/* When owner is already receiving exactly req's file: 0 with *res
 * (where it stands; nothing changes). UPS_ERR_NOT_FOUND otherwise. */
int upload_find_own(struct upload_engine *eng, const void *owner,
                    const struct upload_begin_req *req,
                    struct upload_begun *res);

/* Starts (or resumes, when a detached partial of the same file exists)
 * an upload of req (copied) owned by owner. Refused at once, with err
 * saying why, with UPS_ERR_UNAVAILABLE (shutting down), UPS_ERR_CONFLICT
 * (another owner is uploading this file), UPS_ERR_BUSY (max_uploads owned
 * uploads, or max_per_owner of this owner's) or UPS_ERR_NO_MEMORY.
 * Through cb: the upload, exists (stored with the declared sha256),
 * stored (no sha256 declared and the binary version is stored: the
 * client compares), or UPS_ERR_CONFLICT (stored with another sha256 and
 * no force), UPS_ERR_NO_SPACE (the free space does not hold what this
 * upload and every other one still need, plus the reserve), ... A resumed
 * upload's answer carries the SHA-256 of the bytes it holds, so that the
 * client can check they are its own before it sends more. */
int upload_begin(struct upload_engine *eng, void *owner,
                 const struct upload_begin_req *req, upload_begin_cb cb,
                 void *data, char *err, size_t errlen);

/* One chunk for owner's upload hdr->upload_id; payload (borrowed) holds
 * hdr->length bytes. When frame_buf is not NULL and payload sits in
 * *frame_buf at UPS_CHUNK_BUF_PAYLOAD, the engine keeps that buffer and
 * leaves one of its own (ups_chunk_buf_new) in *frame_buf instead of
 * copying the payload. Problems are told through events.error. */
void upload_chunk(struct upload_engine *eng, void *owner,
                  const struct ups_chunk_header *hdr, const uint8_t *payload,
                  uint8_t **frame_buf);

/* Verifies owner's upload upload_id and stores it. sha256 (borrowed;
 * NULL or a valid hex digest) is the client's digest of the whole file:
 * required when UploadBegin declared none. At once: UPS_ERR_NOT_FOUND
 * when owner has no such upload receiving, UPS_ERR_BAD_REQUEST (err says
 * why) when no digest was given at all; the upload goes on then. Through
 * cb: the stored binary, or UPS_ERR_SIZE_MISMATCH /
 * UPS_ERR_CHECKSUM_MISMATCH (the bytes received do not have every digest
 * given, compared in constant time) / a store error; after a failure the
 * partial is gone. */
int upload_commit(struct upload_engine *eng, void *owner, uint64_t upload_id,
                  const char *sha256, upload_commit_cb cb, void *data,
                  char *err, size_t errlen);

/* Removes upload_id, receiving for owner or detached. 0 or
 * UPS_ERR_NOT_FOUND. */
int upload_abort(struct upload_engine *eng, void *owner, uint64_t upload_id);

/* Fills *out for upload_id. 0 or UPS_ERR_NOT_FOUND (also while it is
 * beginning). */
int upload_status(struct upload_engine *eng, uint64_t upload_id,
                  struct upload_info *out);

/* owner is going away: its uploads become detached once their queued
 * data is written and synced; no event goes to it any more. */
void upload_owner_gone(struct upload_engine *eng, const void *owner);

/* Window arithmetic (pure, for tests). */

/* Each of active receiving uploads' share of the total window: an equal
 * part, but never less than one full chunk (nor more than total). */
uint64_t upload_window_share(uint64_t total, unsigned active);

/* Whether an ack is due after the written offset moved from last_ack to
 * written: at least window/4 since the last ack, or the whole file is
 * in. */
bool upload_ack_due(uint64_t last_ack, uint64_t written, uint64_t size,
                    uint64_t window);

/* Whether a chunk of len bytes at the next offset `offset` still fits
 * beside what is unwritten (offset - written): at most window plus one
 * chunk. */
bool upload_window_fits(uint64_t offset, uint64_t written, uint64_t len,
                        uint64_t window);

/* Uploads taking a share of the window now: receiving, owned, and not
 * yet holding all their bytes. */
unsigned upload_receiving_count(const struct upload_engine *eng);

/* Number of uploads in memory, and of those with an owner. */
size_t upload_count(const struct upload_engine *eng);
unsigned upload_active_count(const struct upload_engine *eng);

#endif
