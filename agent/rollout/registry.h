/* The machine registry: every machine agent upstaged has heard of, its
 * binary version, what it reported last, its current or last order, when
 * it was last seen, whether it is connected, and whether it is lost (not
 * seen for lost-after seconds; kept all the same). The rows live in
 * SQLite (agent/rollout/regdb.h) and survive restarts; the registry keeps
 * all of them in memory and writes changes behind, in batches, on a
 * libuv worker: at most one write job in flight, everything that changed
 * meanwhile goes in the next one.
 *
 * Durability: a registration, a reported change of state and an order
 * are answered (callback) only once the write holding them committed; a
 * heartbeat that changes nothing but the last-seen time is answered at
 * once and written with the next batch (at most REGISTRY_LAZY_TICKS
 * seconds later). An order is written before it is sent, so an order id
 * a machine ever got is known after any crash.
 *
 * Orders: ids are "o-<epoch>-<n>" (regdb.h), never reused. A machine has
 * at most one open order (not in a final state). Asking again for the
 * open order's target gives the same order back (idempotent); another
 * target is UPS_ERR_UPGRADE_IN_PROGRESS. When a machine registers while
 * its order is open, the order is sent again with the same id: a machine
 * that has it carries on and reports, never starts over.
 *
 * The registry builds no wire answers: it talks to sessions (opaque
 * pointers of the caller's, compared for identity) through the events
 * below, and completes requests through callbacks with libuv's contract
 * (an error return means no callback; otherwise exactly one, on the loop
 * thread, after the call returned). The rollout engine (next) drives
 * machines through registry_order_upgrade()/registry_order_revert() and
 * follows them through the changed event. Loop thread only, except
 * registry_open() and registry_close(), which block (start-up,
 * shutdown). */
#ifndef UPSTAGE_AGENT_ROLLOUT_REGISTRY_H
#define UPSTAGE_AGENT_ROLLOUT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/rollout/regdb.h"
#include "agent/store/store.h"
#include "proto/machine.h"

/* Seconds between two write-behind batches of heartbeats. */
#define REGISTRY_LAZY_TICKS 5
/* Most download URL bases (one per HTTP address). */
#define REGISTRY_URL_BASES    UPS_ORDER_URLS_MAX
#define REGISTRY_URL_BASE_LEN 256
/* A host name (RFC 1123) or a numeric address. */
#define REGISTRY_ADDRESS_LEN 253

/* One machine; owned by the registry, borrowed by whoever is handed it
 * until the next call into the registry. */
struct machine {
	struct regdb_machine row;
	struct regdb_order *order; /* current or last order; NULL: none */
	void *session;             /* the connected session, or NULL */
	/* Where health checks reach it: the address it registered with,
	 * else where its session came from; "" when unknown (not kept
	 * across restarts: machines register again). */
	char address[REGISTRY_ADDRESS_LEN + 1];
	/* Private. */
	struct machine *id_next;      /* bucket chain by id */
	struct machine *session_next; /* bucket chain by session */
	struct machine *dirty_next;
	bool dirty;
	bool order_dirty;
};

struct registry_events {
	/* Send o to session (the machine's). */
	void (*send_order)(void *data, void *session,
	                   const struct ups_order *o);
	/* session is no longer machine_id's: a newer session registered
	 * it. The caller tells the old session and closes it. */
	void (*replaced)(void *data, void *session, const char *machine_id);
	/* m's state, order, connection or lost flag changed (after it was
	 * recorded when that needs a write). */
	void (*changed)(void *data, const struct machine *m);
	void *data; /* borrowed */
};

struct registry_config {
	const char *data_dir; /* borrowed */
	int64_t lost_after_s; /* not seen this long: lost */
	/* Where binaries are served: "http://HOST:PORT" bases, each
	 * giving "<base>/tools/<binary version>"; set later with
	 * registry_set_url_bases(). */
	int64_t (*now_s)(void); /* NULL: time() */
};

struct registry_waiter;
struct registry_job;
struct registry_lookup;

struct registry {
	uv_loop_t *loop;     /* borrowed */
	struct store *store; /* borrowed: binaries to order */
	struct registry_config cfg;
	struct registry_events ev;
	struct regdb *db;
	char epoch[17];
	uint64_t next_seq;
	struct machine **by_id; /* hash buckets */
	struct machine **by_session;
	size_t nbuckets;
	size_t count;
	/* Sorted view for List, rebuilt when a machine is added. */
	struct machine **sorted;
	bool sorted_stale;
	struct machine *dirty;           /* machines to write */
	struct registry_waiter *waiting; /* until the next write commits */
	struct registry_waiter **waiting_tail; /* valid while waiting != NULL */
	struct registry_job *job;        /* the write in flight, or NULL */
	struct registry_lookup *lookups; /* binary lookups in flight */
	uv_timer_t tick;
	bool tick_open;
	unsigned ticks;
	bool stopping;
	char url_bases[REGISTRY_URL_BASES][REGISTRY_URL_BASE_LEN];
	size_t nurl_bases;
	uint64_t orders_sent; /* pushes of orders, sent again included */
};

/* Machines by state (counts[UPS_MST__COUNT]), and how many are connected
 * and lost. */
void registry_count_states(const struct registry *r,
                           size_t counts[UPS_MST__COUNT], size_t *connected,
                           size_t *lost);

/* Opens the rows under cfg->data_dir and loads every machine (all start
 * disconnected). Blocks. 0, or a negative code with err; r is then
 * closed. */
int registry_open(struct registry *r, uv_loop_t *loop, struct store *store,
                  const struct registry_config *cfg,
                  const struct registry_events *ev, char *err, size_t errlen);

/* Starts the one-second tick (lost machines, write-behind). 0 or
 * UPS_ERR_IO. */
int registry_start(struct registry *r);

/* Shutdown: no new requests (UPS_ERR_UNAVAILABLE), closes the tick; a
 * write in flight finishes. */
void registry_stop(struct registry *r);

/* After the loop drained: writes what is still dirty (blocking), frees
 * everything. Safe on a zeroed or failed registry. */
void registry_close(struct registry *r);

/* Sets the download URL bases (copied; at most REGISTRY_URL_BASES, each
 * shorter than REGISTRY_URL_BASE_LEN). 0 or UPS_ERR_TOO_LARGE. */
int registry_set_url_bases(struct registry *r, const char *const *bases,
                           size_t n);

/* Completion of a registration or a report: rv 0 with m (borrowed for
 * the call), or an error. */
typedef void (*registry_machine_cb)(void *data, int rv, const char *err,
                                    const struct machine *m);

/* session registers machine id (release, arch, version, model and
 * address, which may be NULL: checked by the caller; a machine may move
 * to another model by registering again). A session that holds another id is
 * UPS_ERR_CONFLICT; another session that holds this id is replaced (event).
 * Once written: cb, then the open order, if any, is sent again. */
int registry_register(struct registry *r, void *session, const char *id,
                      const char *version, const char *release,
                      const char *arch, const char *model,
                      const char *address, registry_machine_cb cb,
                      void *data);

struct registry_report {
	const char *order_id; /* NULL: none */
	enum ups_machine_state state;
	int progress; /* -1: none */
	const char *version;
	const char *reason; /* NULL: none */
};

/* Answer now or later. */
#define REGISTRY_PENDING 1

/* What session's machine reports. UPS_ERR_BAD_REQUEST when the session
 * registered no machine (or the state is not one a machine reports, or
 * needs an order id), UPS_ERR_NOT_FOUND for an order id that is not the
 * machine's current order, UPS_ERR_CONFLICT for a different state of an
 * order that already ended: no callback. 0: recorded, nothing to wait
 * for (no callback). REGISTRY_PENDING: cb comes once it is written. */
int registry_report(struct registry *r, void *session,
                    const struct registry_report *rep, registry_machine_cb cb,
                    void *data);

/* The rollout engine gave up on machine id's order order_id (silent
 * past its deadline): the order ends timed-out with reason (written
 * behind), so it is not sent again when the machine comes back; a late
 * report of it is UPS_ERR_CONFLICT. Nothing when the order is not the
 * machine's current one or already ended. */
void registry_order_timed_out(struct registry *r, const char *id,
                              const char *order_id, const char *reason);

/* session is gone: its machine is disconnected. */
void registry_session_gone(struct registry *r, void *session);

/* The machine with id, or NULL. */
const struct machine *registry_find(const struct registry *r, const char *id);

/* Up to limit machines after id `after` (NULL: from the first) in id
 * order (digit runs compare as numbers: 2 before 10) into out[]; *more
 * tells whether others follow. Borrowed until the next call. */
size_t registry_list(struct registry *r, const char *after, size_t limit,
                     const struct machine **out, bool *more);

size_t registry_count(const struct registry *r);

/* What an order request led to, borrowed for the callback. On success
 * orders[] (one per machine asked for, in the order asked). On
 * UPS_ERR_NOT_FOUND, unknown[] machine ids and/or missing[] binary
 * versions (deduplicated). */
struct registry_ordered {
	const char *machine_id;
	const char *order_id;
	const char *binary_version;
	bool again; /* the machine's open order for the same target */
};
struct registry_result {
	const struct registry_ordered *orders;
	size_t norders;
	const char *const *unknown;
	size_t nunknown;
	const char *const *missing;
	size_t nmissing;
};
typedef void (*registry_order_cb)(void *data, int rv, const char *err,
                                  const struct registry_result *res);

/* Orders machines ids[0..n) (borrowed for the call; 1..
 * UPS_LIMIT_ORDER_MACHINES, no repeats) to move to a binary of stream:
 * either version (each machine gets <version>-<release>-<arch>, or
 * -<OS type of release>- when only that is stored), or binary_version
 * (whose release and arch must fit every machine). Refusals through cb:
 * UPS_ERR_NOT_FOUND (unknown machines, missing binaries),
 * UPS_ERR_BAD_REQUEST (a binary version that fits no machine),
 * UPS_ERR_UPGRADE_IN_PROGRESS (a machine has another open order).
 * Nothing is ordered unless everything can be. Immediate errors:
 * UPS_ERR_UNAVAILABLE (stopping), UPS_ERR_NO_MEMORY,
 * UPS_ERR_BAD_REQUEST (bad arguments). */
int registry_order_upgrade(struct registry *r, const char *const *ids, size_t n,
                           const char *version, const char *binary_version,
                           const char *stream, registry_order_cb cb,
                           void *data);

/* Orders machines back to the binary version they ran before their last
 * upgrade, which must have ended healthy (else UPS_ERR_CONFLICT through
 * cb). Same contract as registry_order_upgrade(). */
int registry_order_revert(struct registry *r, const char *const *ids, size_t n,
                          registry_order_cb cb, void *data);

#endif
