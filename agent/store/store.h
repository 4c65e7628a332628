/* The store: what upstaged holds, and the only way to it. It owns the
 * store plugin (the bytes, plugins/upstage_plugin.h) and the catalog (the
 * truth about them, agent/store/catalog.h), and answers lookups, lists,
 * deletions and commits of finished uploads. Whoever needs to know when
 * the stored set changes (the publisher, agent/publish/) subscribes
 * instead of being called by the engines; it also reads and writes the
 * published metadata and opens stored files for downloads through here.
 *
 * Threads: store_open() and store_close() block (before the loop runs,
 * after it drained). Functions marked "worker" block on disk and may run
 * on libuv worker threads at once. Functions marked "loop" run on the
 * loop thread; the asynchronous ones follow libuv's contract: an error
 * return means the callback never runs, otherwise it runs exactly once,
 * on the loop thread, never before the call returned. */
#ifndef UPSTAGE_AGENT_STORE_STORE_H
#define UPSTAGE_AGENT_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/store/catalog.h"
#include "agent/store/plugin.h"

struct store_config {
	const char *data_dir; /* borrowed */
	const char *plugin;   /* path of the store .so; borrowed */
	/* Fault spec handed to the plugin as "store-fs.fail" (tests only);
	 * NULL: none. Borrowed. */
	const char *fault;
};

enum store_change {
	STORE_STORED,  /* a binary was committed (or replaced) */
	STORE_REMOVED, /* a binary was deleted */
};

/* Told about every change, twice:
 *   sync (worker, optional): on the worker thread of the commit or delete
 *     that made it, once the change is durable and before the operation
 *     completes. The operation's callback (and so the answer to whoever
 *     asked) comes only after every sync returned, which is how what
 *     depends on the stored set (the published metadata) is never behind
 *     an answer. Syncs of different operations may run at once on
 *     different workers: a subscriber serializes its own. A non-zero
 *     return (a code of proto/errors.h, err filled in) becomes the
 *     operation's result; the change itself stays made (changed is still
 *     told).
 *   changed (loop, optional): on the loop thread, before the callback
 *     of the operation that made it.
 * b is borrowed for each call. Subscribe before the first operation
 * starts (the list is read from workers without a lock). */
struct store_subscriber {
	int (*sync)(void *data, enum store_change change,
	            const struct catalog_binary *b, char *err, size_t errlen);
	void (*changed)(void *data, enum store_change change,
	                const struct catalog_binary *b);
	void *data;
	struct store_subscriber *next; /* the store's; set by subscribe */
};

struct store_op;

struct store {
	uv_loop_t *loop; /* borrowed */
	char *data_dir;
	char *fault;
	struct plugin plugin;
	const struct ups_store_ops *ops;
	void *state; /* the plugin's */
	struct ups_plugin_services services;
	struct catalog *cat;
	struct store_op *ops_in_flight; /* owned list */
	struct store_subscriber *subscribers;
};

/* Loads the plugin, opens its store and the catalog under data_dir,
 * finishes or undoes commits a crash interrupted, and forgets rows whose
 * file is gone (so the catalog and the names agree). Blocks. 0, or a negative
 * code with err naming the file (e.g. the plugin and its ABI versions); s is
 * then closed. cfg's strings are copied. */
int store_open(struct store *s, uv_loop_t *loop, const struct store_config *cfg,
               char *err, size_t errlen);

/* After the loop drained: closes the catalog and the plugin. Safe on a
 * zeroed or failed store. */
void store_close(struct store *s);

/* Loop: adds sub (borrowed; it must outlive s or be there until close). */
void store_subscribe(struct store *s, struct store_subscriber *sub);

/* The catalog, for the upload engine's rows (borrowed). */
struct catalog *store_catalog(struct store *s);

/* Absolute path of the plugin's staging directory (borrowed). */
const char *store_staging_dir(struct store *s);

/* Worker: the stored binary of stream and binary_version;
 * UPS_ERR_NOT_FOUND when there is none. */
int store_lookup(struct store *s, const char *stream,
                 const char *binary_version, struct catalog_binary *out,
                 char *err, size_t errlen);

/* Worker: bytes available where the store lives. */
int store_free_space(struct store *s, uint64_t *bytes, char *err,
                     size_t errlen);

/* Worker: every stored binary, sorted as catalog_binary_compare sorts;
 * *out (NULL when none) is freed by the caller with free(). */
int store_binaries(struct store *s, struct catalog_binary **out, size_t *count,
                   char *err, size_t errlen);

/* Whether the plugin keeps published metadata and opens held content
 * (ABI 1.1). Without it the functions below answer
 * UPS_ERR_NOT_IMPLEMENTED. Any thread. */
bool store_can_publish(const struct store *s);

/* Worker: the plugin's meta_put, meta_remove, meta_open and open_held
 * (plugins/upstage_plugin.h): published metadata files (files[0..n),
 * named UPS_SS_INDEX2_NAME...) replaced durably, each atomically, in
 * order; one removed
 * (UPS_ERR_NOT_FOUND when absent), opened for reading; and the content
 * of stream/binary_version opened only when it is sha256 (*fd then reads
 * those bytes whatever happens to the name; UPS_ERR_CONFLICT when the
 * name holds other bytes now). fds are the caller's to close. */
int store_meta_put(struct store *s, const struct ups_store_meta_file *files,
                   size_t n, char *err, size_t errlen);
int store_meta_remove(struct store *s, const char *name, char *err,
                      size_t errlen);
int store_meta_open(struct store *s, const char *name, int *fd, uint64_t *size,
                    char *err, size_t errlen);
int store_open_held(struct store *s, const char *stream,
                    const char *binary_version, const char *sha256, int *fd,
                    uint64_t *size, char *err, size_t errlen);

/* The answer of list: rv 0 with list[n] (borrowed for the call, sorted as
 * catalog_binary_compare sorts) and whether more follow the last, or an
 * error with err. */
typedef void (*store_list_cb)(void *data, int rv, const char *err,
                              const struct catalog_binary *list, size_t n,
                              bool more);

/* The answer of delete and commit: rv 0 with b (borrowed for the call),
 * or an error with err. */
typedef void (*store_done_cb)(void *data, int rv, const char *err,
                              const struct catalog_binary *b);

/* Where a page of a list starts: after this binary (in list order; it
 * need not exist any more). */
struct store_cursor {
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
};

/* Loop: up to limit binaries of stream (NULL: every stream), from the
 * first after *after (NULL: from the start). UPS_ERR_NO_MEMORY, or
 * UPS_ERR_BAD_REQUEST for a cursor that is not a binary version. */
int store_list(struct store *s, const char *stream,
               const struct store_cursor *after, size_t limit, store_list_cb cb,
               void *data);

/* Loop: removes stream/binary_version (bytes, then row).
 * UPS_ERR_NOT_FOUND (through cb) when it is not stored. */
int store_delete(struct store *s, const char *stream,
                 const char *binary_version, store_done_cb cb, void *data);

/* Loop: makes a finished upload (req, copied: a verified, fsynced
 * staging file and its upload row) a stored binary, in the crash-safe
 * order of store_commit_run(). The callback's b is what is stored:
 * req->binary, or the same bytes stored meanwhile. UPS_ERR_CONFLICT when
 * the name holds other content and force is not set. The staging file is
 * left for the caller to remove; on error so is the upload row. */
int store_commit(struct store *s, const struct catalog_commit *req,
                 store_done_cb cb, void *data);

/* Worker (or start-up): the commit itself, blocking; *out as above. */
int store_commit_run(struct store *s, const struct catalog_commit *c,
                     struct catalog_binary *out, char *err, size_t errlen);

/* Aborts the process when the environment variable UPSTAGE_CRASH_AT names
 * this point, in builds with UPSTAGE_CRASH_POINTS (tests: crash at a
 * chosen step, then check recovery); nothing otherwise. */
void store_crash_point(const char *name);

#endif
