/* The upload engine: agent binaries arriving in chunk frames are hashed
 * (SHA-256) and written to staging files in libuv's thread pool, then
 * verified and handed to the store (plugins/upstage_plugin.h) with a
 * catalog row (agent/catalog.h). The contract is proto/PROTOCOL.md
 * "AgentBinaries"; DESIGN.md "Upload lifecycle" explains why.
 *
 * Threads: every function here runs on the loop thread. Disk, catalog and
 * store work goes to uv_queue_work jobs; each upload has at most one job
 * in flight, so its file, digest state and staging bytes are touched by
 * one thread at a time, and chunks are written in the order they came.
 * An upload is never freed while a job refers to it (after_work runs
 * exactly once, then the upload may go).
 *
 * States of an upload (one step function, upload_set_state()):
 *   beginning  -> receiving | detached | (gone)    UploadBegin's job
 *   receiving  -> committing | detached | removing
 *   detached   -> beginning (resume) | removing (abort, expiry)
 *   committing -> (gone: stored) | removing (mismatch, failure)
 *   removing   -> (gone)
 * "Detached" means no live connection owns it: it waits to be resumed by
 * an UploadBegin of the same file, until it expires. */
#ifndef UPSTAGE_AGENT_UPLOAD_H
#define UPSTAGE_AGENT_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "agent/catalog.h"
#include "agent/peer.h"
#include "agent/plugin.h"
#include "agent/staging.h"
#include "proto/binary.h"
#include "proto/limits.h"

#define UPLOAD_STATES(X)                                                       \
	X(BEGINNING, "beginning")                                              \
	X(RECEIVING, "receiving")                                              \
	X(DETACHED, "detached")                                                \
	X(COMMITTING, "committing")                                            \
	X(REMOVING, "removing")

enum upload_state {
#define UPLOAD_STATE_ENUM(name, text) UPLOAD_##name,
	UPLOAD_STATES(UPLOAD_STATE_ENUM)
#undef UPLOAD_STATE_ENUM
	    UPLOAD__STATE_COUNT
};

const char *upload_state_name(enum upload_state s);

/* Whether the state table allows from -> to. */
bool upload_transition_allowed(enum upload_state from, enum upload_state to);

struct upload_config {
	const char *data_dir;     /* borrowed */
	const char *store_plugin; /* path of the store .so; borrowed */
	/* Fault spec for the store ("store-fs.fail") and staging; NULL:
	 * none. Borrowed. */
	const char *fault;
	uint64_t max_size;    /* largest upload, bytes */
	unsigned max_uploads; /* uploads owned by live connections at once */
	uint64_t window;      /* bytes a client may send beyond the ack */
	uint64_t reserve;     /* free bytes to keep on the store's disk */
	int64_t expiry_s;     /* detached partials older than this go */
	uint64_t sync_bytes;  /* bytes between durable offsets */
};

/* What UploadBegin asks for, validated (agent/binaries.h). */
struct upload_begin_req {
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char sha256[UPS_SHA256_HEX_LEN + 1];
	uint64_t size;
	bool force;
};

struct upload_chunk;
struct upload;
struct upload_req;

struct upload_engine {
	uv_loop_t *loop; /* borrowed */
	struct upload_config cfg;
	char *data_dir;
	char *fault;
	struct plugin plugin;
	const struct ups_store_ops *store;
	void *store_state;
	struct ups_plugin_services services;
	struct catalog *cat;
	struct staging stg;
	bool stg_open;
	const EVP_MD *sha256;    /* fetched once */
	struct upload *uploads;  /* owned list */
	struct upload_req *reqs; /* List/Delete jobs in flight */
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
};

/* Opens the store plugin, the catalog and staging, and reloads partial
 * uploads as detached (each staging file cut to its durable offset; rows
 * without a file and files without a row are deleted). Blocks: call
 * before the loop runs. cfg's strings are copied. 0, or a negative code
 * with err naming the file (e.g. the plugin and its ABI versions); eng is
 * then closed. */
int upload_engine_open(struct upload_engine *eng, uv_loop_t *loop,
                       const struct upload_config *cfg, char *err,
                       size_t errlen);

/* Starts the expiry timer. 0 or UPS_ERR_IO. */
int upload_engine_start(struct upload_engine *eng);

/* Shutdown begins: no new uploads; the expiry timer closes. Jobs in
 * flight finish and detached uploads record their durable offsets as the
 * loop drains. */
void upload_engine_stop(struct upload_engine *eng);

/* After the loop has drained: frees everything, closes the store and the
 * catalog, unloads the plugin. Safe on a zeroed or failed engine. */
void upload_engine_close(struct upload_engine *eng);

/* One chunk frame of len bytes (borrowed) from p (logged in as client).
 * Answers with UploadAck / UploadError pushes (PROTOCOL.md). */
void upload_chunk(struct upload_engine *eng, struct peer *p,
                  const uint8_t *data, size_t len);

/* p is going away: its uploads become detached once their queued data is
 * written and synced; answers owed to p are dropped. */
void upload_peer_gone(struct upload_engine *eng, struct peer *p);

/* The requests. Each answers request_id on p itself (now or when its job
 * is done); req is borrowed. */
void upload_begin(struct upload_engine *eng, struct peer *p,
                  uint64_t request_id, const struct upload_begin_req *req);
void upload_commit(struct upload_engine *eng, struct peer *p,
                   uint64_t request_id, uint64_t upload_id);
void upload_abort(struct upload_engine *eng, struct peer *p,
                  uint64_t request_id, uint64_t upload_id);
/* Synchronous: 0 with *result a new reference, or UPS_ERR_NOT_FOUND. */
int upload_status(struct upload_engine *eng, struct peer *p, uint64_t upload_id,
                  json_t **result);
/* stream NULL: every stream. */
void upload_list(struct upload_engine *eng, struct peer *p, uint64_t request_id,
                 const char *stream);
void upload_delete(struct upload_engine *eng, struct peer *p,
                   uint64_t request_id, const char *stream,
                   const char *binary_version);

/* Window arithmetic (pure, for tests). */

/* Whether an UploadAck is due after the written offset moved from
 * last_ack to written: at least window/4 since the last ack, or the
 * whole file is in. */
bool upload_ack_due(uint64_t last_ack, uint64_t written, uint64_t size,
                    uint64_t window);

/* Whether a chunk of len bytes at the next offset `offset` still fits
 * beside what is unwritten (offset - written): at most window plus one
 * chunk. */
bool upload_window_fits(uint64_t offset, uint64_t written, uint64_t len,
                        uint64_t window);

/* The stored-binary record of PROTOCOL.md (new reference, NULL on
 * allocation failure). b is borrowed. */
json_t *upload_record_json(const struct catalog_binary *b);

/* Number of uploads in memory, and of those owned by live connections. */
size_t upload_count(const struct upload_engine *eng);
unsigned upload_active_count(const struct upload_engine *eng);

#endif
