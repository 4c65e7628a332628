/* The publisher: what the store holds, published the way Juju reads it.
 *
 * It keeps two things in step with the catalog:
 *   - the simplestreams metadata (streams/v1/index2.json, index.json and a
 *     products file per stream, made by proto/simplestreams.h's writer),
 *     written durably through the store (store_meta_put: temporary file,
 *     fsync, rename, fsync of the directory, by the store plugin), so
 *     another process serving the store publishes the same files;
 *   - an in-memory index of what upstaged serves over HTTP: each metadata
 *     file as /streams/v1/<name>, each binary by its item path
 *     /tools/<stream>/juju-<binary version>.tgz, and every binary version
 *     as /tools/<binary version> (the first stream holding it, in the
 *     order released, proposed, devel, testing). A request is matched
 *     against this index and nothing else: no path is built from a URL.
 *
 * Never stale. The publisher subscribes to the store with a sync function
 * (agent/store/store.h): on the worker thread of every commit and delete,
 * after the catalog changed and before the operation completes, it lists
 * the catalog, writes what changed and builds the next index. The store
 * answers the operation only after that, so when AgentBinaries says a
 * binary was stored or removed the metadata on disk says so too; the new
 * index is installed on the loop thread before that answer as well. Syncs
 * of concurrent operations take one lock, and each lists the catalog
 * inside it, so the last file written always reflects the latest
 * catalog. Running inside the store's worker (rather than as asynchronous
 * work of its own that the store would wait for) keeps that guarantee in
 * one place and costs one catalog list and one JSON build per change.
 * Files are written products first and index2.json last (and removed in
 * the opposite order), so an index never names a products file that is
 * not there. A file whose bytes did not change is not rewritten.
 *
 * When writing fails (disk full, I/O error) the operation answers that
 * error (the binary is stored, or removed, all the same) and the
 * publisher retries on a timer with backoff until the metadata is
 * written; until then the old index keeps serving.
 *
 * Deterministic: the bytes depend on the catalog alone (stored_at of each
 * binary), so a restart rewrites nothing and another upstaged holding the
 * same catalog publishes the same bytes.
 *
 * With an ABI 1.0 store plugin (no metadata ops) the publisher is
 * disabled: it says so once at start-up, publishes nothing, and every
 * lookup is UPS_ERR_NOT_FOUND.
 *
 * Threads: publisher_init() and publisher_close() block (before the loop
 * runs, after it drained). Everything else runs on the loop thread except
 * the sync (store workers) and the work of publisher_open_target()
 * (libuv workers). */
#ifndef UPSTAGE_AGENT_PUBLISH_PUBLISHER_H
#define UPSTAGE_AGENT_PUBLISH_PUBLISHER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/store/store.h"
#include "proto/binary.h"
#include "proto/limits.h"
#include "proto/simplestreams.h"

/* Longest path the index holds:
 * "/tools/<stream>/juju-<binary version>.tgz". */
#define PUBLISH_PATH_MAX                                                       \
	(sizeof("/tools//juju-.tgz") - 1 + UPS_LIMIT_STREAM_LEN +              \
	 UPS_LIMIT_BINARY_VERSION_LEN)

/* Files the writer may make: index2.json, index.json, one per stream. */
#define PUBLISH_FILES (2 + UPS_STREAM__COUNT)

enum publish_kind {
	PUBLISH_META,   /* a metadata file under streams/v1/ */
	PUBLISH_BINARY, /* a stored agent binary */
};

/* What an index path leads to. */
struct publish_target {
	enum publish_kind kind;
	char name[UPS_SS_FILE_NAME_MAX + 1]; /* META: the file's name */
	/* BINARY: which one, and what it holds. */
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char sha256[UPS_SHA256_HEX_LEN + 1];
	uint64_t size;
};

struct publish_index; /* one immutable generation of the index */

/* A written file, as the publisher last left it in the store. */
struct publish_written {
	bool present;
	uint8_t sha256[32];
};

struct publisher {
	uv_loop_t *loop;     /* borrowed */
	struct store *store; /* borrowed */
	bool enabled;
	struct store_subscriber sub;
	/* Held for a whole publish (syncs run on store workers at once):
	 * guards written and generation. */
	pthread_mutex_t lock;
	bool lock_ready;
	struct publish_written written[PUBLISH_FILES];
	uint64_t generation; /* of the last index built */
	/* The hand-off to the loop, held only for a few instructions, so
	 * that the loop never waits on a publish's catalog reads and
	 * fsyncs: guards pending and dirty. */
	pthread_mutex_t handoff;
	struct publish_index *pending; /* built by a sync; the loop takes it */
	bool dirty;                    /* the last publish failed */
	/* Loop thread only. */
	struct publish_index *current;
	uv_timer_t retry;
	bool retry_open;
	uv_work_t retry_work;
	bool retry_busy;
	int retry_rv;
	char retry_err[UPS_ERRMSG_MAX];
	uint64_t retry_ms; /* next delay */
	uint64_t retries;  /* publishes retried after a failure (tests) */
	bool stopping;
};

/* Binaries published now, and their bytes, by stream (index of
 * UPS_STREAMS). Loop thread. */
void publisher_stats(const struct publisher *p,
                     uint64_t binaries[UPS_STREAM__COUNT],
                     uint64_t bytes[UPS_STREAM__COUNT]);

/* Loop (before it runs): publishes what the store holds now (blocking),
 * builds the first index and subscribes to the store. store is borrowed
 * and must outlive p. A failure to write is not fatal: it is logged and
 * retried once the loop runs. 0, or UPS_ERR_NO_MEMORY / UPS_ERR_IO with
 * err (then p needs only publisher_close()). */
int publisher_init(struct publisher *p, uv_loop_t *loop, struct store *store,
                   char *err, size_t errlen);

/* Shutdown begins: the retry timer closes; retry work in flight ends as
 * the loop drains. */
void publisher_stop(struct publisher *p);

/* After the loop drained: frees the indexes. Safe on a zeroed struct. */
void publisher_close(struct publisher *p);

/* Loop: what path (borrowed; a request path, already checked by the HTTP
 * layer) leads to, into *out. Also "/model/<uuid>/tools/<binary
 * version>" (Juju's agents ask for that), which is /tools/<binary
 * version> whatever the model. 0 or UPS_ERR_NOT_FOUND. */
int publisher_lookup(struct publisher *p, const char *path,
                     struct publish_target *out);

/* What publisher_open_target() opened: fd reads the target's bytes
 * [0, size) and etag is their SHA-256 (a binary's from the catalog,
 * checked by the store against its name; a metadata file's hashed from
 * the fd). */
struct publish_opened {
	enum publish_kind kind;
	int fd; /* the callback's to close */
	uint64_t size;
	char etag[UPS_SHA256_HEX_LEN + 1];
};

/* rv 0 with o (borrowed for the call; o->fd is then the callee's), or an
 * error with err: UPS_ERR_NOT_FOUND (gone meanwhile), UPS_ERR_IO. */
typedef void (*publish_open_cb)(void *data, int rv, const char *err,
                                const struct publish_opened *o);

/* Loop: opens t (copied) on a libuv worker. 0 (cb runs exactly once, on
 * the loop, never before this returned), or UPS_ERR_NO_MEMORY /
 * UPS_ERR_INTERNAL (cb never runs). */
int publisher_open_target(struct publisher *p, const struct publish_target *t,
                          publish_open_cb cb, void *data);

/* The generation of the index installed now (0: none); tests. */
uint64_t publisher_generation(const struct publisher *p);

#endif
