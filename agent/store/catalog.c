/* The catalog in SQLite. See catalog.h.
 *
 * Every statement is prepared once at open and used with bound parameters
 * only; every sqlite3 call is checked and its message lands in err. */
#include "agent/store/catalog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "proto/errors.h"

/* How long a call waits for a lock held by another connection (an
 * operator's sqlite3 shell, say) before giving up with UPS_ERR_IO. */
#define CATALOG_BUSY_TIMEOUT_MS 5000

/* Migrations: migrations[i] takes the schema from version i to i + 1. Never
 * edit one that has shipped; append. */
static const char *const catalog_migrations[CATALOG_SCHEMA_VERSION] = {
    "CREATE TABLE binaries ("
    "  stream TEXT NOT NULL,"
    "  binary_version TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  release TEXT NOT NULL,"
    "  arch TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  stored_at INTEGER NOT NULL,"
    "  PRIMARY KEY (stream, binary_version));"
    /* AUTOINCREMENT: an id is never reused, so a stale staging file can
     * never be taken for a new upload's. */
    "CREATE TABLE uploads ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  stream TEXT NOT NULL,"
    "  binary_version TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  durable_offset INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL);"
    "CREATE INDEX uploads_by_file ON uploads (stream, binary_version,"
    "  sha256);"
    "CREATE INDEX uploads_by_updated ON uploads (updated_at);",
    /* 2: the commit intent. Written before the store is touched and
     * deleted in the transaction that records the binary, so a crash in
     * between is finished (or undone) at the next start. */
    "CREATE TABLE commits ("
    "  upload_id INTEGER PRIMARY KEY,"
    "  stream TEXT NOT NULL,"
    "  binary_version TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  stored_at INTEGER NOT NULL,"
    "  force INTEGER NOT NULL,"
    "  staging_name TEXT NOT NULL);",
    /* 3: uploads named by a client's token instead of a declared
     * digest (AgentBinaries version 2); their sha256 is ''. */
    "ALTER TABLE uploads ADD COLUMN token TEXT NOT NULL DEFAULT '';",
};

#define CATALOG_BINARY_COLS "stream, binary_version, sha256, size, stored_at"
#define CATALOG_UPLOAD_COLS                                                    \
	"id, stream, binary_version, sha256, size, durable_offset, "           \
	"created_at, updated_at, state, token"
#define CATALOG_COMMIT_COLS                                                    \
	"upload_id, stream, binary_version, sha256, size, stored_at, force, "  \
	"staging_name"

#define CATALOG_STMTS(X)                                                       \
	X(BEGIN, "BEGIN IMMEDIATE")                                            \
	X(COMMIT, "COMMIT")                                                    \
	X(ROLLBACK, "ROLLBACK")                                                \
	X(BIN_INSERT,                                                          \
	  "INSERT INTO binaries (stream, binary_version, version, release,"    \
	  " arch, sha256, size, stored_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")  \
	X(BIN_REPLACE,                                                         \
	  "INSERT OR REPLACE INTO binaries (stream, binary_version, version,"  \
	  " release, arch, sha256, size, stored_at)"                           \
	  " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")                                 \
	X(BIN_GET, "SELECT " CATALOG_BINARY_COLS " FROM binaries"              \
	           " WHERE stream = ?1 AND binary_version = ?2")               \
	X(BIN_LIST_ALL, "SELECT " CATALOG_BINARY_COLS " FROM binaries")        \
	X(BIN_LIST_STREAM,                                                     \
	  "SELECT " CATALOG_BINARY_COLS " FROM binaries WHERE stream = ?1")    \
	X(BIN_DELETE,                                                          \
	  "DELETE FROM binaries WHERE stream = ?1 AND binary_version = ?2")    \
	X(UP_INSERT,                                                           \
	  "INSERT INTO uploads (stream, binary_version, sha256, size,"         \
	  " durable_offset, created_at, updated_at, state, token)"             \
	  " VALUES (?1,?2,?3,?4,0,?5,?5,?6,?7)")                               \
	X(UP_GET, "SELECT " CATALOG_UPLOAD_COLS " FROM uploads WHERE id = ?1") \
	X(UP_FIND,                                                             \
	  "SELECT " CATALOG_UPLOAD_COLS " FROM uploads"                        \
	  " WHERE stream = ?1 AND binary_version = ?2 AND sha256 = ?3"         \
	  " ORDER BY id DESC LIMIT 1")                                         \
	X(UP_SET_OFFSET, "UPDATE uploads SET durable_offset = ?2,"             \
	                 " updated_at = ?3 WHERE id = ?1")                     \
	X(UP_SET_STATE, "UPDATE uploads SET state = ?2, durable_offset = ?3,"  \
	                " updated_at = ?4 WHERE id = ?1")                      \
	X(UP_DELETE, "DELETE FROM uploads WHERE id = ?1")                      \
	X(UP_EXPIRED, "SELECT " CATALOG_UPLOAD_COLS " FROM uploads"            \
	              " WHERE updated_at < ?1 ORDER BY updated_at, id")        \
	X(CM_INSERT, "INSERT INTO commits (" CATALOG_COMMIT_COLS ")"           \
	             " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")                      \
	X(CM_LIST, "SELECT " CATALOG_COMMIT_COLS " FROM commits"               \
	           " ORDER BY upload_id")                                      \
	X(CM_DELETE, "DELETE FROM commits WHERE upload_id = ?1")

enum catalog_stmt {
#define CATALOG_STMT_ENUM(name, sql) CATALOG_##name,
	CATALOG_STMTS(CATALOG_STMT_ENUM)
#undef CATALOG_STMT_ENUM
	    CATALOG__NSTMTS
};

static const char *const catalog_sql[] = {
#define CATALOG_STMT_SQL(name, sql) sql,
    CATALOG_STMTS(CATALOG_STMT_SQL)
#undef CATALOG_STMT_SQL
};

struct catalog {
	sqlite3 *db;
	sqlite3_stmt *stmt[CATALOG__NSTMTS];
	pthread_mutex_t lock;
};

static int catalog_db_err(struct catalog *cat, char *err, size_t errlen,
                          const char *what)
{
	return ups_errf(UPS_ERR_IO, err, errlen, "catalog %s: %s", what,
	                sqlite3_errmsg(cat->db));
}

/* Reads one row of st into row (see catalog_collect). */
typedef int (*catalog_row_reader)(sqlite3_stmt *st, void *row, char *err,
                                  size_t errlen);

/* Steps st (bound, lock held) to its end, reading each row with read_row into
 * a growing array of elem-byte rows. On success *rows (the caller frees
 * it) and *n; on failure nothing is left allocated. noun names the rows
 * in errors. */
static int catalog_collect(struct catalog *cat, sqlite3_stmt *st, size_t elem,
                           catalog_row_reader read_row, const char *noun,
                           void **rows, size_t *n, char *err, size_t errlen)
{
	unsigned char *arr = NULL, *grown;
	size_t have = 0, cap = 0;
	char what[32];
	int rc, rv = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (have == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(arr, cap * elem);
			if (!grown) {
				rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
				              "out of memory listing %s", noun);
				goto fail;
			}
			arr = grown;
		}
		if ((rv = read_row(st, arr + have * elem, err, errlen)) < 0)
			goto fail;
		have++;
	}
	if (rc != SQLITE_DONE) {
		snprintf(what, sizeof(what), "list %s", noun);
		rv = catalog_db_err(cat, err, errlen, what);
		goto fail;
	}
	*rows = arr;
	*n = have;
	return 0;
fail:
	free(arr);
	return rv;
}

/* Runs a prepared statement that returns no rows and resets it. */
static int catalog_exec(struct catalog *cat, enum catalog_stmt id, char *err,
                        size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[id];
	int rc = sqlite3_step(st);
	int rv = 0;

	if (rc != SQLITE_DONE)
		rv = catalog_db_err(cat, err, errlen, catalog_sql[id]);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

static void catalog_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Binds text, checking the result; sqlite copies the bytes. */
static int catalog_bind_text(struct catalog *cat, sqlite3_stmt *st, int i,
                             const char *s, char *err, size_t errlen)
{
	if (sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) != SQLITE_OK)
		return catalog_db_err(cat, err, errlen, "bind");
	return 0;
}

static int catalog_bind_i64(struct catalog *cat, sqlite3_stmt *st, int i,
                            int64_t v, char *err, size_t errlen)
{
	if (sqlite3_bind_int64(st, i, v) != SQLITE_OK)
		return catalog_db_err(cat, err, errlen, "bind");
	return 0;
}

static int catalog_bind_u64(struct catalog *cat, sqlite3_stmt *st, int i,
                            uint64_t v, char *err, size_t errlen)
{
	if (v > (uint64_t)INT64_MAX)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "value %" PRIu64 " too large for the catalog",
		                v);
	return catalog_bind_i64(cat, st, i, (int64_t)v, err, errlen);
}

/* A state name: what the upload engine's table gives, bounded so it
 * always reads back into struct catalog_upload. */
static int catalog_bind_state(struct catalog *cat, sqlite3_stmt *st, int i,
                              const char *state, char *err, size_t errlen)
{
	size_t n = state ? strlen(state) : 0;

	if (n == 0 || n > CATALOG_STATE_LEN)
		return ups_errf(UPS_ERR_INTERNAL, err, errlen,
		                "bad upload state name");
	return catalog_bind_text(cat, st, i, state, err, errlen);
}

/* Copies column col into buf of len bytes; a NULL or over-long value means
 * the database was not written by us. */
static int catalog_col_text(sqlite3_stmt *st, int col, char *buf, size_t len,
                            char *err, size_t errlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!t || n < 0 || (size_t)n >= len || memchr(t, '\0', (size_t)n))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "catalog: bad value in column %s",
		                sqlite3_column_name(st, col));
	memcpy(buf, t, (size_t)n);
	buf[n] = '\0';
	return 0;
}

static int catalog_col_u64(sqlite3_stmt *st, int col, uint64_t *out, char *err,
                           size_t errlen)
{
	sqlite3_int64 v = sqlite3_column_int64(st, col);

	if (sqlite3_column_type(st, col) != SQLITE_INTEGER || v < 0)
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "catalog: bad value in column %s",
		                sqlite3_column_name(st, col));
	*out = (uint64_t)v;
	return 0;
}

/* -------------------------------------------------------------------------
 * Open, migrate, close. */

static int catalog_simple(struct catalog *cat, const char *sql, char *err,
                          size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(cat->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ups_errf(UPS_ERR_IO, err, errlen, "catalog: %s: %s", sql,
		         msg ? msg : sqlite3_errmsg(cat->db));
		sqlite3_free(msg);
		return UPS_ERR_IO;
	}
	return 0;
}

static int catalog_schema_version(struct catalog *cat, int *version, char *err,
                                  size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, rv = 0;

	*version = 0;
	rc = sqlite3_prepare_v2(cat->db, "SELECT version FROM schema_version",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return catalog_db_err(cat, err, errlen, "schema version");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	else if (rc != SQLITE_DONE)
		rv = catalog_db_err(cat, err, errlen, "schema version");
	sqlite3_finalize(st);
	return rv;
}

/* Brings the schema to CATALOG_SCHEMA_VERSION, one transaction per step so
 * a crash leaves a consistent version. */
static int catalog_migrate(struct catalog *cat, char *err, size_t errlen)
{
	char sql[128];
	int version, rv;

	rv = catalog_simple(cat,
	                    "CREATE TABLE IF NOT EXISTS schema_version ("
	                    " version INTEGER NOT NULL)",
	                    err, errlen);
	if (rv < 0)
		return rv;
	rv = catalog_schema_version(cat, &version, err, errlen);
	if (rv < 0)
		return rv;
	if (version > CATALOG_SCHEMA_VERSION || version < 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "catalog schema version %d is newer than this "
		                "upstaged's (%d)",
		                version, CATALOG_SCHEMA_VERSION);
	for (; version < CATALOG_SCHEMA_VERSION; version++) {
		if ((rv = catalog_simple(cat, "BEGIN IMMEDIATE", err, errlen)) <
		    0)
			return rv;
		rv = catalog_simple(cat, catalog_migrations[version], err,
		                    errlen);
		if (rv == 0) {
			snprintf(sql, sizeof(sql),
			         "DELETE FROM schema_version;"
			         "INSERT INTO schema_version VALUES (%d)",
			         version + 1);
			rv = catalog_simple(cat, sql, err, errlen);
		}
		if (rv == 0)
			rv = catalog_simple(cat, "COMMIT", err, errlen);
		if (rv < 0) {
			(void)sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL,
			                   NULL);
			return rv;
		}
	}
	return 0;
}

int catalog_open(const char *data_dir, struct catalog **out, char *err,
                 size_t errlen)
{
	struct catalog *cat;
	char path[4096];
	int rc, rv;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/upstage.db", data_dir) >=
	    sizeof(path))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "data directory path too long");
	cat = calloc(1, sizeof(*cat));
	if (!cat)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	if (pthread_mutex_init(&cat->lock, NULL) != 0) {
		free(cat);
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "cannot create a mutex");
	}
	/* NOMUTEX: our own lock serializes the connection, and must anyway,
	 * because the prepared statements are shared. */
	rc = sqlite3_open_v2(path, &cat->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                         SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	                     NULL);
	if (rc != SQLITE_OK) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "catalog %s: %s", path,
		              cat->db ? sqlite3_errmsg(cat->db)
		                      : sqlite3_errstr(rc));
		goto fail;
	}
	if (sqlite3_busy_timeout(cat->db, CATALOG_BUSY_TIMEOUT_MS) !=
	        SQLITE_OK ||
	    sqlite3_extended_result_codes(cat->db, 1) != SQLITE_OK) {
		rv = catalog_db_err(cat, err, errlen, "configure");
		goto fail;
	}
	if ((rv = catalog_simple(cat, "PRAGMA journal_mode=WAL", err, errlen)) <
	        0 ||
	    (rv = catalog_simple(cat, "PRAGMA synchronous=FULL", err, errlen)) <
	        0 ||
	    (rv = catalog_simple(cat, "PRAGMA foreign_keys=ON", err, errlen)) <
	        0)
		goto fail;
	if ((rv = catalog_migrate(cat, err, errlen)) < 0)
		goto fail;
	for (int i = 0; i < CATALOG__NSTMTS; i++) {
		rc = sqlite3_prepare_v3(cat->db, catalog_sql[i], -1,
		                        SQLITE_PREPARE_PERSISTENT,
		                        &cat->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			rv = catalog_db_err(cat, err, errlen, catalog_sql[i]);
			goto fail;
		}
	}
	*out = cat;
	return 0;

fail:
	catalog_close(cat);
	return rv;
}

void catalog_close(struct catalog *cat)
{
	if (!cat)
		return;
	for (int i = 0; i < CATALOG__NSTMTS; i++)
		sqlite3_finalize(cat->stmt[i]);
	if (cat->db)
		sqlite3_close(cat->db);
	pthread_mutex_destroy(&cat->lock);
	free(cat);
}

/* -------------------------------------------------------------------------
 * Binaries. */

static int catalog_read_binary(sqlite3_stmt *st, struct catalog_binary *b,
                               char *err, size_t errlen)
{
	int rv;

	memset(b, 0, sizeof(*b));
	if ((rv = catalog_col_text(st, 0, b->stream, sizeof(b->stream), err,
	                           errlen)) < 0 ||
	    (rv = catalog_col_text(st, 1, b->binary_version,
	                           sizeof(b->binary_version), err, errlen)) <
	        0 ||
	    (rv = catalog_col_text(st, 2, b->sha256, sizeof(b->sha256), err,
	                           errlen)) < 0 ||
	    (rv = catalog_col_u64(st, 3, &b->size, err, errlen)) < 0)
		return rv;
	b->stored_at = sqlite3_column_int64(st, 4);
	if (ups_binary_version_parse(b->binary_version, &b->parsed, err,
	                             errlen) < 0)
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "catalog: bad binary version %s",
		                b->binary_version);
	return 0;
}

static int catalog_binary_row(sqlite3_stmt *st, void *row, char *err,
                              size_t errlen)
{
	return catalog_read_binary(st, row, err, errlen);
}

/* Binds the 8 columns of an INSERT into binaries. */
static int catalog_bind_binary(struct catalog *cat, sqlite3_stmt *st,
                               const struct catalog_binary *b, char *err,
                               size_t errlen)
{
	struct ups_binary_version bv;
	char version[UPS_LIMIT_VERSION_LEN + 1];
	int rv;

	rv = ups_binary_version_check(b->binary_version, &bv, err, errlen);
	if (rv < 0)
		return rv;
	if (ups_version_format(&bv.version, version, sizeof(version)) < 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version %s: version too long",
		                b->binary_version);
	if ((rv = catalog_bind_text(cat, st, 1, b->stream, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 2, b->binary_version, err,
	                            errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 3, version, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 4, bv.release, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 5, bv.arch, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 6, b->sha256, err, errlen)) < 0 ||
	    (rv = catalog_bind_u64(cat, st, 7, b->size, err, errlen)) < 0 ||
	    (rv = catalog_bind_i64(cat, st, 8, b->stored_at, err, errlen)) < 0)
		return rv;
	return 0;
}

/* Caller holds the lock. */
static int catalog_binary_put_locked(struct catalog *cat,
                                     const struct catalog_binary *b,
                                     bool replace, char *err, size_t errlen)
{
	enum catalog_stmt id =
	    replace ? CATALOG_BIN_REPLACE : CATALOG_BIN_INSERT;
	sqlite3_stmt *st = cat->stmt[id];
	int rc, rv;

	rv = catalog_bind_binary(cat, st, b, err, errlen);
	if (rv < 0) {
		catalog_done(st);
		return rv;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rv = 0;
	else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		rv =
		    ups_errf(UPS_ERR_EXISTS, err, errlen, "%s is already in %s",
		             b->binary_version, b->stream);
	else
		rv = catalog_db_err(cat, err, errlen, "insert binary");
	catalog_done(st);
	return rv;
}

int catalog_binary_put(struct catalog *cat, const struct catalog_binary *b,
                       bool replace, char *err, size_t errlen)
{
	int rv;

	pthread_mutex_lock(&cat->lock);
	rv = catalog_binary_put_locked(cat, b, replace, err, errlen);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

int catalog_binary_get(struct catalog *cat, const char *stream,
                       const char *binary_version, struct catalog_binary *out,
                       char *err, size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_BIN_GET];
	int rc, rv;

	pthread_mutex_lock(&cat->lock);
	if ((rv = catalog_bind_text(cat, st, 1, stream, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 2, binary_version, err, errlen)) <
	        0)
		goto done;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rv = catalog_read_binary(st, out, err, errlen);
	else if (rc == SQLITE_DONE)
		rv = ups_errf(UPS_ERR_NOT_FOUND, err, errlen, "no %s in %s",
		              binary_version, stream);
	else
		rv = catalog_db_err(cat, err, errlen, "get binary");
done:
	catalog_done(st);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

int catalog_binary_compare(const struct catalog_binary *a,
                           const struct catalog_binary *b)
{
	int c = strcmp(a->stream, b->stream);

	return c ? c : ups_binary_version_compare(&a->parsed, &b->parsed);
}

static int catalog_binary_order(const void *pa, const void *pb)
{
	return catalog_binary_compare(pa, pb);
}

int catalog_binary_list(struct catalog *cat, const char *stream,
                        struct catalog_binary **out, size_t *count, char *err,
                        size_t errlen)
{
	sqlite3_stmt *st =
	    cat->stmt[stream ? CATALOG_BIN_LIST_STREAM : CATALOG_BIN_LIST_ALL];
	void *rows = NULL;
	size_t n = 0;
	int rv = 0;

	*out = NULL;
	*count = 0;
	pthread_mutex_lock(&cat->lock);
	if (stream)
		rv = catalog_bind_text(cat, st, 1, stream, err, errlen);
	if (rv >= 0)
		rv = catalog_collect(cat, st, sizeof(**out), catalog_binary_row,
		                     "binaries", &rows, &n, err, errlen);
	catalog_done(st);
	pthread_mutex_unlock(&cat->lock);
	if (rv < 0)
		return rv;
	if (n > 1)
		qsort(rows, n, sizeof(**out), catalog_binary_order);
	*out = rows;
	*count = n;
	return 0;
}

static int catalog_binary_delete_locked(struct catalog *cat, const char *stream,
                                        const char *binary_version, char *err,
                                        size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_BIN_DELETE];
	int rv;

	if ((rv = catalog_bind_text(cat, st, 1, stream, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 2, binary_version, err, errlen)) <
	        0) {
		catalog_done(st);
		return rv;
	}
	rv = catalog_exec(cat, CATALOG_BIN_DELETE, err, errlen);
	if (rv == 0 && sqlite3_changes(cat->db) == 0)
		rv = ups_errf(UPS_ERR_NOT_FOUND, err, errlen, "no %s in %s",
		              binary_version, stream);
	return rv;
}

int catalog_binary_delete(struct catalog *cat, const char *stream,
                          const char *binary_version, char *err, size_t errlen)
{
	int rv;

	pthread_mutex_lock(&cat->lock);
	rv = catalog_binary_delete_locked(cat, stream, binary_version, err,
	                                  errlen);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

/* -------------------------------------------------------------------------
 * Uploads. */

static int catalog_read_upload(sqlite3_stmt *st, struct catalog_upload *u,
                               char *err, size_t errlen)
{
	int rv;

	memset(u, 0, sizeof(*u));
	if ((rv = catalog_col_u64(st, 0, &u->id, err, errlen)) < 0 ||
	    (rv = catalog_col_text(st, 1, u->stream, sizeof(u->stream), err,
	                           errlen)) < 0 ||
	    (rv = catalog_col_text(st, 2, u->binary_version,
	                           sizeof(u->binary_version), err, errlen)) <
	        0 ||
	    (rv = catalog_col_text(st, 3, u->sha256, sizeof(u->sha256), err,
	                           errlen)) < 0 ||
	    (rv = catalog_col_u64(st, 4, &u->size, err, errlen)) < 0 ||
	    (rv = catalog_col_u64(st, 5, &u->durable_offset, err, errlen)) <
	        0 ||
	    (rv = catalog_col_text(st, 8, u->state, sizeof(u->state), err,
	                           errlen)) < 0 ||
	    (rv = catalog_col_text(st, 9, u->token, sizeof(u->token), err,
	                           errlen)) < 0)
		return rv;
	u->created_at = sqlite3_column_int64(st, 6);
	u->updated_at = sqlite3_column_int64(st, 7);
	return 0;
}

static int catalog_upload_row(sqlite3_stmt *st, void *row, char *err,
                              size_t errlen)
{
	return catalog_read_upload(st, row, err, errlen);
}

/* Steps a statement expected to return at most one upload row. */
static int catalog_one_upload(struct catalog *cat, sqlite3_stmt *st,
                              struct catalog_upload *out, const char *what,
                              char *err, size_t errlen)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return catalog_read_upload(st, out, err, errlen);
	if (rc == SQLITE_DONE)
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                "no such upload");
	return catalog_db_err(cat, err, errlen, what);
}

int catalog_upload_create(struct catalog *cat, struct catalog_upload *u,
                          int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_UP_INSERT];
	int rv;

	pthread_mutex_lock(&cat->lock);
	if ((rv = catalog_bind_text(cat, st, 1, u->stream, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 2, u->binary_version, err,
	                            errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 3, u->sha256, err, errlen)) < 0 ||
	    (rv = catalog_bind_u64(cat, st, 4, u->size, err, errlen)) < 0 ||
	    (rv = catalog_bind_i64(cat, st, 5, now, err, errlen)) < 0 ||
	    (rv = catalog_bind_state(cat, st, 6, u->state, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 7, u->token, err, errlen)) < 0) {
		catalog_done(st);
		goto done;
	}
	rv = catalog_exec(cat, CATALOG_UP_INSERT, err, errlen);
	if (rv == 0) {
		u->id = (uint64_t)sqlite3_last_insert_rowid(cat->db);
		u->durable_offset = 0;
		u->created_at = u->updated_at = now;
	}
done:
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

int catalog_upload_get(struct catalog *cat, uint64_t id,
                       struct catalog_upload *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_UP_GET];
	int rv;

	pthread_mutex_lock(&cat->lock);
	rv = catalog_bind_u64(cat, st, 1, id, err, errlen);
	if (rv == 0)
		rv =
		    catalog_one_upload(cat, st, out, "get upload", err, errlen);
	catalog_done(st);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

int catalog_upload_find(struct catalog *cat, const char *stream,
                        const char *binary_version, const char *sha256,
                        struct catalog_upload *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_UP_FIND];
	int rv;

	pthread_mutex_lock(&cat->lock);
	if ((rv = catalog_bind_text(cat, st, 1, stream, err, errlen)) == 0 &&
	    (rv = catalog_bind_text(cat, st, 2, binary_version, err, errlen)) ==
	        0 &&
	    (rv = catalog_bind_text(cat, st, 3, sha256, err, errlen)) == 0)
		rv = catalog_one_upload(cat, st, out, "find upload", err,
		                        errlen);
	catalog_done(st);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

/* Runs an UPDATE/DELETE keyed by upload id (?1) with the other parameters
 * already bound; no row changed is UPS_ERR_NOT_FOUND. */
static int catalog_upload_change(struct catalog *cat, enum catalog_stmt sid,
                                 uint64_t id, char *err, size_t errlen)
{
	int rv = catalog_bind_u64(cat, cat->stmt[sid], 1, id, err, errlen);

	if (rv < 0) {
		catalog_done(cat->stmt[sid]);
		return rv;
	}
	rv = catalog_exec(cat, sid, err, errlen);
	if (rv == 0 && sqlite3_changes(cat->db) == 0)
		rv = ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		              "no upload %" PRIu64, id);
	return rv;
}

int catalog_upload_set_offset(struct catalog *cat, uint64_t id,
                              uint64_t durable_offset, int64_t now, char *err,
                              size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_UP_SET_OFFSET];
	int rv;

	pthread_mutex_lock(&cat->lock);
	if ((rv = catalog_bind_u64(cat, st, 2, durable_offset, err, errlen)) <
	        0 ||
	    (rv = catalog_bind_i64(cat, st, 3, now, err, errlen)) < 0)
		catalog_done(st);
	else
		rv = catalog_upload_change(cat, CATALOG_UP_SET_OFFSET, id, err,
		                           errlen);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

int catalog_upload_set_state(struct catalog *cat, uint64_t id,
                             const char *state, uint64_t durable_offset,
                             int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_UP_SET_STATE];
	int rv;

	pthread_mutex_lock(&cat->lock);
	if ((rv = catalog_bind_state(cat, st, 2, state, err, errlen)) < 0 ||
	    (rv = catalog_bind_u64(cat, st, 3, durable_offset, err, errlen)) <
	        0 ||
	    (rv = catalog_bind_i64(cat, st, 4, now, err, errlen)) < 0)
		catalog_done(st);
	else
		rv = catalog_upload_change(cat, CATALOG_UP_SET_STATE, id, err,
		                           errlen);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

int catalog_upload_delete(struct catalog *cat, uint64_t id, char *err,
                          size_t errlen)
{
	int rv;

	pthread_mutex_lock(&cat->lock);
	rv = catalog_upload_change(cat, CATALOG_UP_DELETE, id, err, errlen);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

int catalog_upload_list_expired(struct catalog *cat, int64_t before,
                                struct catalog_upload **out, size_t *count,
                                char *err, size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_UP_EXPIRED];
	void *rows = NULL;
	size_t n = 0;
	int rv;

	*out = NULL;
	*count = 0;
	pthread_mutex_lock(&cat->lock);
	rv = catalog_bind_i64(cat, st, 1, before, err, errlen);
	if (rv >= 0)
		rv = catalog_collect(cat, st, sizeof(**out), catalog_upload_row,
		                     "uploads", &rows, &n, err, errlen);
	catalog_done(st);
	pthread_mutex_unlock(&cat->lock);
	if (rv < 0)
		return rv;
	*out = rows;
	*count = n;
	return 0;
}

/* -------------------------------------------------------------------------
 * Commit intents. */

int catalog_commit_begin(struct catalog *cat, const struct catalog_commit *c,
                         char *err, size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_CM_INSERT];
	const struct catalog_binary *b = &c->binary;
	int rc, rv;

	pthread_mutex_lock(&cat->lock);
	if ((rv = catalog_bind_u64(cat, st, 1, c->upload_id, err, errlen)) <
	        0 ||
	    (rv = catalog_bind_text(cat, st, 2, b->stream, err, errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 3, b->binary_version, err,
	                            errlen)) < 0 ||
	    (rv = catalog_bind_text(cat, st, 4, b->sha256, err, errlen)) < 0 ||
	    (rv = catalog_bind_u64(cat, st, 5, b->size, err, errlen)) < 0 ||
	    (rv = catalog_bind_i64(cat, st, 6, b->stored_at, err, errlen)) <
	        0 ||
	    (rv = catalog_bind_i64(cat, st, 7, c->force ? 1 : 0, err, errlen)) <
	        0 ||
	    (rv = catalog_bind_text(cat, st, 8, c->staging_name, err, errlen)) <
	        0)
		goto done;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rv = 0;
	else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		rv = ups_errf(UPS_ERR_EXISTS, err, errlen,
		              "upload %" PRIu64 " is already being committed",
		              c->upload_id);
	else
		rv = catalog_db_err(cat, err, errlen, "record commit");
done:
	catalog_done(st);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

static int catalog_commit_row(sqlite3_stmt *st, void *row, char *err,
                              size_t errlen)
{
	struct catalog_commit *c = row;
	struct catalog_binary *b = &c->binary;
	int rv;

	memset(c, 0, sizeof(*c));
	if ((rv = catalog_col_u64(st, 0, &c->upload_id, err, errlen)) < 0 ||
	    (rv = catalog_col_text(st, 1, b->stream, sizeof(b->stream), err,
	                           errlen)) < 0 ||
	    (rv = catalog_col_text(st, 2, b->binary_version,
	                           sizeof(b->binary_version), err, errlen)) <
	        0 ||
	    (rv = catalog_col_text(st, 3, b->sha256, sizeof(b->sha256), err,
	                           errlen)) < 0 ||
	    (rv = catalog_col_u64(st, 4, &b->size, err, errlen)) < 0 ||
	    (rv = catalog_col_text(st, 7, c->staging_name,
	                           sizeof(c->staging_name), err, errlen)) < 0)
		return rv;
	b->stored_at = sqlite3_column_int64(st, 5);
	c->force = sqlite3_column_int64(st, 6) != 0;
	return 0;
}

int catalog_commit_list(struct catalog *cat, struct catalog_commit **out,
                        size_t *count, char *err, size_t errlen)
{
	sqlite3_stmt *st = cat->stmt[CATALOG_CM_LIST];
	void *rows = NULL;
	size_t n = 0;
	int rv;

	*out = NULL;
	*count = 0;
	pthread_mutex_lock(&cat->lock);
	rv = catalog_collect(cat, st, sizeof(**out), catalog_commit_row,
	                     "commits", &rows, &n, err, errlen);
	catalog_done(st);
	pthread_mutex_unlock(&cat->lock);
	if (rv < 0)
		return rv;
	*out = rows;
	*count = n;
	return 0;
}

/* Deletes the intent of id; caller holds the lock. */
static int catalog_commit_delete_locked(struct catalog *cat, uint64_t id,
                                        char *err, size_t errlen)
{
	int rv = catalog_bind_u64(cat, cat->stmt[CATALOG_CM_DELETE], 1, id, err,
	                          errlen);

	if (rv < 0) {
		catalog_done(cat->stmt[CATALOG_CM_DELETE]);
		return rv;
	}
	return catalog_exec(cat, CATALOG_CM_DELETE, err, errlen);
}

int catalog_commit_forget(struct catalog *cat, uint64_t upload_id, char *err,
                          size_t errlen)
{
	int rv;

	pthread_mutex_lock(&cat->lock);
	rv = catalog_commit_delete_locked(cat, upload_id, err, errlen);
	pthread_mutex_unlock(&cat->lock);
	return rv;
}

int catalog_commit_upload(struct catalog *cat, uint64_t id,
                          const struct catalog_binary *b, bool replace,
                          char *err, size_t errlen)
{
	bool had_upload;
	int rv;

	pthread_mutex_lock(&cat->lock);
	if ((rv = catalog_exec(cat, CATALOG_BEGIN, err, errlen)) < 0)
		goto unlock;
	if ((rv = catalog_binary_put_locked(cat, b, replace, err, errlen)) < 0)
		goto rollback;
	rv = catalog_upload_change(cat, CATALOG_UP_DELETE, id, err, errlen);
	had_upload = rv == 0;
	if (rv < 0 && rv != UPS_ERR_NOT_FOUND)
		goto rollback;
	if ((rv = catalog_commit_delete_locked(cat, id, err, errlen)) < 0)
		goto rollback;
	/* Something must have asked for this commit. */
	if (!had_upload && sqlite3_changes(cat->db) == 0) {
		rv = ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		              "no upload %" PRIu64 " to commit", id);
		goto rollback;
	}
	if ((rv = catalog_exec(cat, CATALOG_COMMIT, err, errlen)) < 0)
		goto rollback;
	goto unlock;

rollback:
	(void)catalog_exec(cat, CATALOG_ROLLBACK, NULL, 0);
unlock:
	pthread_mutex_unlock(&cat->lock);
	return rv;
}
