/* The registry's SQLite rows; see regdb.h. Statements are prepared once
 * and used with bound parameters only. */
#include "agent/rollout/regdb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "agent/rollout/dbfile.h"
#include "proto/errors.h"


/* migrations[i] takes the schema from version i to i + 1; append only. */
static const char *const regdb_migrations[REGDB_SCHEMA_VERSION] = {
    "CREATE TABLE machines ("
    "  id TEXT PRIMARY KEY,"
    "  release TEXT NOT NULL,"
    "  arch TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  progress INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  last_order TEXT NOT NULL,"
    "  registered_at INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  connected INTEGER NOT NULL,"
    "  lost INTEGER NOT NULL);"
    "CREATE TABLE machine_orders ("
    "  id TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL UNIQUE,"
    "  machine_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  binary_version TEXT NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  from_version TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX machine_orders_by_machine ON machine_orders"
    "  (machine_id, seq);"
    "CREATE TABLE rollout_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    /* 2: machines belong to a model (the controller's own: controller). */
    "ALTER TABLE machines ADD COLUMN model TEXT NOT NULL DEFAULT "
    "'controller';",
};

#define REGDB_MACHINE_COLS                                                     \
	"id, release, arch, version, state, progress, reason, last_order, "    \
	"registered_at, last_seen, connected, lost, model"
#define REGDB_ORDER_COLS                                                       \
	"id, seq, machine_id, kind, binary_version, stream, size, sha256, "    \
	"from_version, state, reason, created_at, updated_at"

enum regdb_stmt {
	REGDB_BEGIN,
	REGDB_COMMIT,
	REGDB_ROLLBACK,
	REGDB_M_PUT,
	REGDB_O_PUT,
	REGDB_O_GET,
	REGDB__NSTMTS
};

static const char *const regdb_sql[REGDB__NSTMTS] = {
    [REGDB_BEGIN] = "BEGIN IMMEDIATE",
    [REGDB_COMMIT] = "COMMIT",
    [REGDB_ROLLBACK] = "ROLLBACK",
    [REGDB_M_PUT] = "INSERT OR REPLACE INTO machines (" REGDB_MACHINE_COLS
                    ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
    [REGDB_O_PUT] = "INSERT OR REPLACE INTO machine_orders (" REGDB_ORDER_COLS
                    ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
    [REGDB_O_GET] =
        "SELECT " REGDB_ORDER_COLS " FROM machine_orders WHERE id = ?1",
};

struct regdb {
	sqlite3 *db;
	sqlite3_stmt *stmt[REGDB__NSTMTS];
	char epoch[17];
};

static int regdb_err(struct regdb *db, char *err, size_t errlen,
                     const char *what)
{
	return ups_errf(UPS_ERR_IO, err, errlen, "registry %s: %s", what,
	                sqlite3_errmsg(db->db));
}

static int regdb_simple(struct regdb *db, const char *sql, char *err,
                        size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ups_errf(UPS_ERR_IO, err, errlen, "registry: %.60s: %s", sql,
		         msg ? msg : sqlite3_errmsg(db->db));
		sqlite3_free(msg);
		return UPS_ERR_IO;
	}
	return 0;
}

/* One integer or text from a one-row query (tests the schema state). */
static int regdb_query_text(struct regdb *db, const char *sql, char *out,
                            size_t len, bool *found, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, rv = 0;

	*found = false;
	if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
		return regdb_err(db, err, errlen, "query");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		snprintf(out, len, "%s", t ? (const char *)t : "");
		*found = true;
	} else if (rc != SQLITE_DONE) {
		rv = regdb_err(db, err, errlen, "query");
	}
	sqlite3_finalize(st);
	return rv;
}

static int regdb_migrate(struct regdb *db, char *err, size_t errlen)
{
	char text[32], sql[128];
	bool found;
	int version, rv;

	rv = regdb_simple(db,
	                  "CREATE TABLE IF NOT EXISTS rollout_schema ("
	                  " version INTEGER NOT NULL)",
	                  err, errlen);
	if (!rv)
		rv = regdb_query_text(db, "SELECT version FROM rollout_schema",
		                      text, sizeof(text), &found, err, errlen);
	if (rv)
		return rv;
	version = found ? atoi(text) : 0;
	if (version < 0 || version > REGDB_SCHEMA_VERSION)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "registry schema version %d is newer than this "
		                "upstaged's (%d)",
		                version, REGDB_SCHEMA_VERSION);
	for (; version < REGDB_SCHEMA_VERSION; version++) {
		if ((rv = regdb_simple(db, "BEGIN IMMEDIATE", err, errlen)))
			return rv;
		rv = regdb_simple(db, regdb_migrations[version], err, errlen);
		if (!rv) {
			snprintf(sql, sizeof(sql),
			         "DELETE FROM rollout_schema;"
			         "INSERT INTO rollout_schema VALUES (%d)",
			         version + 1);
			rv = regdb_simple(db, sql, err, errlen);
		}
		if (!rv)
			rv = regdb_simple(db, "COMMIT", err, errlen);
		if (rv) {
			(void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL,
			                   NULL);
			return rv;
		}
	}
	return 0;
}

/* The epoch, made once. */
static int regdb_load_epoch(struct regdb *db, char *err, size_t errlen)
{
	unsigned char bytes[8];
	char sql[128];
	bool found;
	int rv;

	rv =
	    regdb_query_text(db,
	                     "SELECT value FROM rollout_meta WHERE key = "
	                     "'epoch'",
	                     db->epoch, sizeof(db->epoch), &found, err, errlen);
	if (rv || (found && strlen(db->epoch) == 16))
		return rv;
	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return ups_errf(UPS_ERR_INTERNAL, err, errlen,
		                "registry: no random bytes for the epoch");
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(db->epoch + 2 * i, 3, "%02x", bytes[i]);
	snprintf(sql, sizeof(sql),
	         "INSERT OR REPLACE INTO rollout_meta VALUES ('epoch', '%s')",
	         db->epoch);
	return regdb_simple(db, sql, err, errlen);
}

int regdb_open(const char *data_dir, struct regdb **out, char *err,
               size_t errlen)
{
	struct regdb *db;
	int rv;

	*out = NULL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	if ((rv = dbfile_open(data_dir, "registry", &db->db, err, errlen)) ||
	    (rv = regdb_migrate(db, err, errlen)) ||
	    (rv = regdb_load_epoch(db, err, errlen)))
		goto fail;
	for (int i = 0; i < REGDB__NSTMTS; i++) {
		if (sqlite3_prepare_v3(db->db, regdb_sql[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &db->stmt[i],
		                       NULL) != SQLITE_OK) {
			rv = regdb_err(db, err, errlen, "prepare");
			goto fail;
		}
	}
	*out = db;
	return 0;
fail:
	regdb_close(db);
	return rv;
}

void regdb_close(struct regdb *db)
{
	if (!db)
		return;
	for (int i = 0; i < REGDB__NSTMTS; i++)
		sqlite3_finalize(db->stmt[i]);
	if (db->db)
		sqlite3_close(db->db);
	free(db);
}

const char *regdb_epoch(const struct regdb *db)
{
	return db->epoch;
}

/* Text column col into buf; a NULL, over-long or unparsable value means
 * the row was not written by us. */
static int regdb_col(sqlite3_stmt *st, int col, char *buf, size_t len,
                     char *err, size_t errlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!t || n < 0 || (size_t)n >= len || memchr(t, '\0', (size_t)n))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "registry: bad value in column %s",
		                sqlite3_column_name(st, col));
	memcpy(buf, t, (size_t)n);
	buf[n] = '\0';
	return 0;
}

static int regdb_col_state(sqlite3_stmt *st, int col,
                           enum ups_machine_state *out, char *err,
                           size_t errlen)
{
	char name[UPS_MACHINE_STATE_LEN + 1];
	int rv = regdb_col(st, col, name, sizeof(name), err, errlen);

	if (!rv && ups_machine_state_parse(name, out))
		rv = ups_errf(UPS_ERR_IO, err, errlen,
		              "registry: unknown state %s", name);
	return rv;
}

static int regdb_read_machine(sqlite3_stmt *st, struct regdb_machine *m,
                              char *err, size_t errlen)
{
	int rv;

	memset(m, 0, sizeof(*m));
	if ((rv = regdb_col(st, 0, m->id, sizeof(m->id), err, errlen)) ||
	    (rv = regdb_col(st, 1, m->release, sizeof(m->release), err,
	                    errlen)) ||
	    (rv = regdb_col(st, 2, m->arch, sizeof(m->arch), err, errlen)) ||
	    (rv = regdb_col(st, 3, m->version, sizeof(m->version), err,
	                    errlen)) ||
	    (rv = regdb_col_state(st, 4, &m->state, err, errlen)) ||
	    (rv =
	         regdb_col(st, 6, m->reason, sizeof(m->reason), err, errlen)) ||
	    (rv = regdb_col(st, 7, m->last_order, sizeof(m->last_order), err,
	                    errlen)) ||
	    (rv = regdb_col(st, 12, m->model, sizeof(m->model), err, errlen)))
		return rv;
	if (!ups_machine_id_is_valid(m->id))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "registry: bad machine id in the database");
	m->progress = sqlite3_column_int(st, 5);
	m->registered_at = sqlite3_column_int64(st, 8);
	m->last_seen = sqlite3_column_int64(st, 9);
	m->connected = sqlite3_column_int(st, 10) != 0;
	m->lost = sqlite3_column_int(st, 11) != 0;
	return 0;
}

static int regdb_read_order(sqlite3_stmt *st, struct regdb_order *o, char *err,
                            size_t errlen)
{
	char kind[16];
	int rv;

	memset(o, 0, sizeof(*o));
	if ((rv = regdb_col(st, 0, o->id, sizeof(o->id), err, errlen)) ||
	    (rv = regdb_col(st, 2, o->machine_id, sizeof(o->machine_id), err,
	                    errlen)) ||
	    (rv = regdb_col(st, 3, kind, sizeof(kind), err, errlen)) ||
	    (rv = regdb_col(st, 4, o->binary_version, sizeof(o->binary_version),
	                    err, errlen)) ||
	    (rv =
	         regdb_col(st, 5, o->stream, sizeof(o->stream), err, errlen)) ||
	    (rv =
	         regdb_col(st, 7, o->sha256, sizeof(o->sha256), err, errlen)) ||
	    (rv = regdb_col(st, 8, o->from_version, sizeof(o->from_version),
	                    err, errlen)) ||
	    (rv = regdb_col_state(st, 9, &o->state, err, errlen)) ||
	    (rv = regdb_col(st, 10, o->reason, sizeof(o->reason), err, errlen)))
		return rv;
	o->seq = (uint64_t)sqlite3_column_int64(st, 1);
	o->kind =
	    strcmp(kind, "revert") == 0 ? UPS_ORDER_REVERT : UPS_ORDER_UPGRADE;
	o->size = (uint64_t)sqlite3_column_int64(st, 6);
	o->created_at = sqlite3_column_int64(st, 11);
	o->updated_at = sqlite3_column_int64(st, 12);
	return 0;
}

/* Steps st to its end, appending elem-byte rows read by fn to *arr. */
static int regdb_collect(struct regdb *db, sqlite3_stmt *st, size_t elem,
                         int (*fn)(sqlite3_stmt *, void *, char *, size_t),
                         void **arr, size_t *n, char *err, size_t errlen)
{
	unsigned char *rows = NULL, *grown;
	size_t have = 0, cap = 0;
	int rc, rv = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (have == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(rows, cap * elem);
			if (!grown) {
				rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
				              "out of memory loading the "
				              "registry");
				goto fail;
			}
			rows = grown;
		}
		if ((rv = fn(st, rows + have * elem, err, errlen)))
			goto fail;
		have++;
	}
	if (rc != SQLITE_DONE) {
		rv = regdb_err(db, err, errlen, "load");
		goto fail;
	}
	*arr = rows;
	*n = have;
	return 0;
fail:
	free(rows);
	return rv;
}

static int regdb_machine_row(sqlite3_stmt *st, void *row, char *err,
                             size_t errlen)
{
	return regdb_read_machine(st, row, err, errlen);
}

static int regdb_order_row(sqlite3_stmt *st, void *row, char *err,
                           size_t errlen)
{
	return regdb_read_order(st, row, err, errlen);
}

int regdb_load(struct regdb *db, struct regdb_machine **machines,
               size_t *nmachines, struct regdb_order **orders, size_t *norders,
               uint64_t *max_seq, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	void *m = NULL, *o = NULL;
	size_t nm = 0, no = 0;
	int rv;

	*machines = NULL;
	*orders = NULL;
	*nmachines = *norders = 0;
	*max_seq = 0;
	if (sqlite3_prepare_v2(db->db,
	                       "SELECT " REGDB_MACHINE_COLS " FROM machines",
	                       -1, &st, NULL) != SQLITE_OK)
		return regdb_err(db, err, errlen, "load");
	rv = regdb_collect(db, st, sizeof(struct regdb_machine),
	                   regdb_machine_row, &m, &nm, err, errlen);
	sqlite3_finalize(st);
	if (rv)
		return rv;
	/* The latest order of each machine: the one its row names. */
	if (sqlite3_prepare_v2(db->db,
	                       "SELECT " REGDB_ORDER_COLS
	                       " FROM machine_orders WHERE id IN"
	                       " (SELECT last_order FROM machines)",
	                       -1, &st, NULL) != SQLITE_OK) {
		rv = regdb_err(db, err, errlen, "load");
		goto fail;
	}
	rv = regdb_collect(db, st, sizeof(struct regdb_order), regdb_order_row,
	                   &o, &no, err, errlen);
	sqlite3_finalize(st);
	if (rv)
		goto fail;
	if (sqlite3_prepare_v2(db->db, "SELECT MAX(seq) FROM machine_orders",
	                       -1, &st, NULL) != SQLITE_OK) {
		rv = regdb_err(db, err, errlen, "load");
		goto fail;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		*max_seq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	*machines = m;
	*nmachines = nm;
	*orders = o;
	*norders = no;
	return 0;
fail:
	free(m);
	free(o);
	return rv;
}

static void regdb_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int regdb_exec(struct regdb *db, enum regdb_stmt id, char *err,
                      size_t errlen)
{
	int rc = sqlite3_step(db->stmt[id]);

	regdb_done(db->stmt[id]);
	if (rc != SQLITE_DONE)
		return regdb_err(db, err, errlen, regdb_sql[id]);
	return 0;
}

#define BIND_TEXT(st, i, s)                                                    \
	(sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) != SQLITE_OK)
#define BIND_INT(st, i, v)                                                     \
	(sqlite3_bind_int64(st, i, (int64_t)(v)) != SQLITE_OK)

static int regdb_put_machine(struct regdb *db, const struct regdb_machine *m,
                             char *err, size_t errlen)
{
	sqlite3_stmt *st = db->stmt[REGDB_M_PUT];

	if (BIND_TEXT(st, 1, m->id) || BIND_TEXT(st, 2, m->release) ||
	    BIND_TEXT(st, 3, m->arch) || BIND_TEXT(st, 4, m->version) ||
	    BIND_TEXT(st, 5, ups_machine_state_name(m->state)) ||
	    BIND_INT(st, 6, m->progress) || BIND_TEXT(st, 7, m->reason) ||
	    BIND_TEXT(st, 8, m->last_order) ||
	    BIND_INT(st, 9, m->registered_at) ||
	    BIND_INT(st, 10, m->last_seen) || BIND_INT(st, 11, m->connected) ||
	    BIND_INT(st, 12, m->lost) || BIND_TEXT(st, 13, m->model)) {
		regdb_done(st);
		return regdb_err(db, err, errlen, "bind");
	}
	return regdb_exec(db, REGDB_M_PUT, err, errlen);
}

static int regdb_put_order(struct regdb *db, const struct regdb_order *o,
                           char *err, size_t errlen)
{
	sqlite3_stmt *st = db->stmt[REGDB_O_PUT];

	if (o->seq > (uint64_t)INT64_MAX || o->size > (uint64_t)INT64_MAX)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "order %s: value too large", o->id);
	if (BIND_TEXT(st, 1, o->id) || BIND_INT(st, 2, o->seq) ||
	    BIND_TEXT(st, 3, o->machine_id) ||
	    BIND_TEXT(st, 4,
	              o->kind == UPS_ORDER_REVERT ? "revert" : "upgrade") ||
	    BIND_TEXT(st, 5, o->binary_version) ||
	    BIND_TEXT(st, 6, o->stream) || BIND_INT(st, 7, o->size) ||
	    BIND_TEXT(st, 8, o->sha256) || BIND_TEXT(st, 9, o->from_version) ||
	    BIND_TEXT(st, 10, ups_machine_state_name(o->state)) ||
	    BIND_TEXT(st, 11, o->reason) || BIND_INT(st, 12, o->created_at) ||
	    BIND_INT(st, 13, o->updated_at)) {
		regdb_done(st);
		return regdb_err(db, err, errlen, "bind");
	}
	return regdb_exec(db, REGDB_O_PUT, err, errlen);
}

int regdb_write(struct regdb *db, const struct regdb_machine *machines,
                size_t nmachines, const struct regdb_order *orders,
                size_t norders, char *err, size_t errlen)
{
	int rv;

	if ((rv = regdb_exec(db, REGDB_BEGIN, err, errlen)))
		return rv;
	for (size_t i = 0; i < norders && !rv; i++)
		rv = regdb_put_order(db, &orders[i], err, errlen);
	for (size_t i = 0; i < nmachines && !rv; i++)
		rv = regdb_put_machine(db, &machines[i], err, errlen);
	if (!rv)
		rv = regdb_exec(db, REGDB_COMMIT, err, errlen);
	if (rv)
		(void)regdb_exec(db, REGDB_ROLLBACK, NULL, 0);
	return rv;
}

int regdb_order_get(struct regdb *db, const char *id, struct regdb_order *out,
                    char *err, size_t errlen)
{
	sqlite3_stmt *st = db->stmt[REGDB_O_GET];
	int rc, rv;

	if (BIND_TEXT(st, 1, id)) {
		regdb_done(st);
		return regdb_err(db, err, errlen, "bind");
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rv = regdb_read_order(st, out, err, errlen);
	else if (rc == SQLITE_DONE)
		rv =
		    ups_errf(UPS_ERR_NOT_FOUND, err, errlen, "no order %s", id);
	else
		rv = regdb_err(db, err, errlen, "get order");
	regdb_done(st);
	return rv;
}
