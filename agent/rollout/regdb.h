/* The machine registry's rows in SQLite: <data-dir>/upstage.db, the
 * catalog's file, through a connection of its own with its own schema
 * version (table rollout_schema), so the registry and the rollout engine
 * after it migrate independently of the catalog (agent/store/catalog.c)
 * and never wait on the catalog's mutex. WAL lets both connections use
 * the file; a write waits for the other (agent/rollout/dbfile.h).
 *
 * Tables: machines (one row per machine id), machine_orders (one row per
 * order, never reused), rollout_meta (the random epoch that makes order
 * ids unique across databases).
 *
 * Threads: every function blocks on disk; call them from a libuv worker,
 * or from the loop thread only before the loop runs (start-up). One
 * caller at a time (the registry keeps at most one job in flight). */
#ifndef UPSTAGE_AGENT_ROLLOUT_REGDB_H
#define UPSTAGE_AGENT_ROLLOUT_REGDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/binary.h"
#include "proto/limits.h"
#include "proto/machine.h"

#define REGDB_SCHEMA_VERSION 2

/* Bytes of a failure reason kept per machine and per order. */
#define REGDB_REASON_LEN 256

struct regdb;

/* A machine row as stored. */
struct regdb_machine {
	char id[UPS_LIMIT_MACHINE_ID_LEN + 1];
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	char version[UPS_LIMIT_VERSION_LEN + 1];
	char model[UPS_LIMIT_MACHINE_ID_LEN + 1]; /* "controller": its own */
	enum ups_machine_state state;
	int progress; /* 0..100, or -1 */
	char reason[REGDB_REASON_LEN + 1];
	char last_order[UPS_LIMIT_ORDER_ID_LEN + 1]; /* "" when none */
	int64_t registered_at;
	int64_t last_seen;
	bool connected;
	bool lost;
};

/* An order row as stored. */
struct regdb_order {
	char id[UPS_LIMIT_ORDER_ID_LEN + 1];
	uint64_t seq; /* the n of "o-<epoch>-<n>" */
	char machine_id[UPS_LIMIT_MACHINE_ID_LEN + 1];
	enum ups_order_kind kind;
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	uint64_t size;
	char sha256[UPS_SHA256_HEX_LEN + 1];
	/* The machine's binary version when the order was made: what a
	 * revert goes back to. */
	char from_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	enum ups_machine_state state;
	char reason[REGDB_REASON_LEN + 1];
	int64_t created_at;
	int64_t updated_at;
};

/* Opens (creating, migrating) the registry tables in
 * <data_dir>/upstage.db; *out is the caller's, closed with
 * regdb_close(). UPS_ERR_IO with sqlite's message, or
 * UPS_ERR_BAD_REQUEST for a schema from a newer upstaged. */
int regdb_open(const char *data_dir, struct regdb **out, char *err,
               size_t errlen);
void regdb_close(struct regdb *db);

/* The epoch: 16 hex digits chosen at random when the tables were made. */
const char *regdb_epoch(const struct regdb *db);

/* Every machine (any order) and the latest order of each machine that
 * has one, and the highest order seq ever stored. Arrays are the
 * caller's (free()); NULL when empty. */
int regdb_load(struct regdb *db, struct regdb_machine **machines,
               size_t *nmachines, struct regdb_order **orders, size_t *norders,
               uint64_t *max_seq, char *err, size_t errlen);

/* Writes machines and orders (inserting or replacing by id) in one
 * transaction: all of it is durable when it returns 0, none of it
 * otherwise. */
int regdb_write(struct regdb *db, const struct regdb_machine *machines,
                size_t nmachines, const struct regdb_order *orders,
                size_t norders, char *err, size_t errlen);

/* One order by id; UPS_ERR_NOT_FOUND when there is none. */
int regdb_order_get(struct regdb *db, const char *id, struct regdb_order *out,
                    char *err, size_t errlen);

#endif
