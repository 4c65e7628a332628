/* The catalog: what upstaged has stored (binaries) and which uploads are in
 * progress (uploads), in SQLite at <data-dir>/upstage.db (WAL,
 * synchronous=FULL, so a row is durable when its call returns).
 *
 * The store holds the bytes, the catalog the truth about them: a binary is
 * committed when its row is written, which comes after the store's put()
 * has made the file durable. A crash in between leaves a stored file with
 * no row, which the next commit of the same upload adopts (put is
 * idempotent).
 *
 * Threads: one connection, guarded by one mutex; every function may be
 * called from any thread and they serialize. They block on disk (fsync):
 * call them from libuv workers, or from the loop thread only before the
 * loop runs (start-up recovery). Times are seconds since the epoch handed
 * in by the caller, so tests control the clock. */
#ifndef UPSTAGE_AGENT_STORE_CATALOG_H
#define UPSTAGE_AGENT_STORE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/binary.h"
#include "proto/limits.h"

/* Schema version this code writes; older databases are migrated. */
#define CATALOG_SCHEMA_VERSION 3

struct catalog;

struct catalog_binary {
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1]; /* canonical */
	struct ups_binary_version parsed; /* filled by get/list */
	char sha256[UPS_SHA256_HEX_LEN + 1];
	uint64_t size;
	int64_t stored_at;
};

/* Longest upload state name stored. The catalog has no model of upload
 * states: it records the name the upload engine's one state table gives
 * (agent/ingest/upload.h) and hands it back to recovery. */
#define CATALOG_STATE_LEN 15

struct catalog_upload {
	uint64_t id; /* assigned by upload_create; never reused */
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	/* The digest declared at UploadBegin, or "" when the client gives
	 * it at UploadCommit; then token names the upload instead. */
	char sha256[UPS_SHA256_HEX_LEN + 1];
	char token[UPS_LIMIT_UPLOAD_TOKEN_LEN + 1]; /* "" or the token */
	uint64_t size;           /* announced total size */
	uint64_t durable_offset; /* bytes fsynced in the staging file */
	int64_t created_at;
	int64_t updated_at;
	char state[CATALOG_STATE_LEN + 1];
};

/* Opens (creating, migrating) <data_dir>/upstage.db. On success *out is
 * the caller's; release with catalog_close(). data_dir is borrowed.
 * UPS_ERR_IO with sqlite's message, or UPS_ERR_BAD_REQUEST when the
 * database is from a newer upstaged (schema version above ours). */
int catalog_open(const char *data_dir, struct catalog **out, char *err,
                 size_t errlen);
void catalog_close(struct catalog *cat);

/* Inserts b (stream, binary_version, sha256, size, stored_at are read;
 * binary_version must be canonical: it is re-parsed and checked). An
 * existing row with the same (stream, binary_version) is UPS_ERR_EXISTS
 * unless replace, which overwrites it. */
int catalog_binary_put(struct catalog *cat, const struct catalog_binary *b,
                       bool replace, char *err, size_t errlen);

/* Fills *out; UPS_ERR_NOT_FOUND when absent. */
int catalog_binary_get(struct catalog *cat, const char *stream,
                       const char *binary_version, struct catalog_binary *out,
                       char *err, size_t errlen);

/* The one order of binary lists: stream, then binary version (Juju
 * version order, then release, then arch); parsed must be filled. */
int catalog_binary_compare(const struct catalog_binary *a,
                           const struct catalog_binary *b);

/* All binaries of stream (NULL = every stream), sorted by stream, then
 * binary version (Juju version order, then release, then arch). *out is an
 * array of *count entries (NULL when 0) freed by the caller with free(). */
int catalog_binary_list(struct catalog *cat, const char *stream,
                        struct catalog_binary **out, size_t *count, char *err,
                        size_t errlen);

/* UPS_ERR_NOT_FOUND when there was no such row. */
int catalog_binary_delete(struct catalog *cat, const char *stream,
                          const char *binary_version, char *err, size_t errlen);

/* Inserts u (stream, binary_version, sha256, token, size, state; durable_offset
 * 0, created_at = updated_at = now) and sets u->id and the rest. */
int catalog_upload_create(struct catalog *cat, struct catalog_upload *u,
                          int64_t now, char *err, size_t errlen);

/* UPS_ERR_NOT_FOUND when absent. */
int catalog_upload_get(struct catalog *cat, uint64_t id,
                       struct catalog_upload *out, char *err, size_t errlen);

/* The newest upload of exactly this file, to resume it. UPS_ERR_NOT_FOUND
 * when none. */
int catalog_upload_find(struct catalog *cat, const char *stream,
                        const char *binary_version, const char *sha256,
                        struct catalog_upload *out, char *err, size_t errlen);

/* Records durable_offset (the caller has fsynced that many bytes) and
 * updated_at = now. UPS_ERR_NOT_FOUND when the upload is gone. */
int catalog_upload_set_offset(struct catalog *cat, uint64_t id,
                              uint64_t durable_offset, int64_t now, char *err,
                              size_t errlen);

/* Records state (1..CATALOG_STATE_LEN bytes, borrowed) and the durable
 * offset together, and updated_at = now. */
int catalog_upload_set_state(struct catalog *cat, uint64_t id,
                             const char *state, uint64_t durable_offset,
                             int64_t now, char *err, size_t errlen);

/* UPS_ERR_NOT_FOUND when absent. */
int catalog_upload_delete(struct catalog *cat, uint64_t id, char *err,
                          size_t errlen);

/* Uploads last updated before `before` (pass INT64_MAX for all), oldest
 * first. *out (NULL when 0 rows) is freed by the caller with free(). */
int catalog_upload_list_expired(struct catalog *cat, int64_t before,
                                struct catalog_upload **out, size_t *count,
                                char *err, size_t errlen);

/* A commit intent (agent/store/store.c): what is being made a stored
 * binary, recorded before the store is touched. */
struct catalog_commit {
	uint64_t upload_id;
	struct catalog_binary binary; /* parsed is not read or filled */
	bool force;
	char staging_name[32];
};

/* Records c; UPS_ERR_EXISTS when upload_id already has an intent. */
int catalog_commit_begin(struct catalog *cat, const struct catalog_commit *c,
                         char *err, size_t errlen);

/* Every intent, oldest upload first; *out (NULL when 0) is freed by the
 * caller with free(). */
int catalog_commit_list(struct catalog *cat, struct catalog_commit **out,
                        size_t *count, char *err, size_t errlen);

/* Drops the intent of upload_id (undone); absent is not an error. */
int catalog_commit_forget(struct catalog *cat, uint64_t upload_id, char *err,
                          size_t errlen);

/* Finishes a commit in one transaction: inserts the binary (as
 * catalog_binary_put), deletes upload id and its intent (either may be
 * absent already). Either all happens or nothing. */
int catalog_commit_upload(struct catalog *cat, uint64_t id,
                          const struct catalog_binary *b, bool replace,
                          char *err, size_t errlen);

#endif
