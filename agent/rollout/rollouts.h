/* The rollout runner: owns the active (or latest) rollout, feeds its
 * engine (engine.h) with time, machine news from the registry and the
 * operator's commands, journals every change (journal.h) on a libuv
 * worker, and only once a change is durable carries out what it asked:
 * orders through the registry, answers to the operator, event pushes.
 *
 * Journal before side effects: a member the engine ordered is written as
 * ordered before the registry is asked (the registry then writes the
 * order before it sends it); its order id is journaled when known. After
 * a crash, a member journaled as ordered with no order id adopts the
 * registry's order for its target made since, else is asked again; the
 * registry answers an open order with the same id, so no machine gets
 * two different orders for one step.
 *
 * Writes: a change asks for a write, and the write is made once per
 * loop iteration, from a prepare handle (which runs before the loop
 * waits): every change of a loop tick goes in one transaction. At most
 * one job is in flight; what changes meanwhile goes in the next one. A
 * failed write is retried after a second; nothing it held was carried
 * out.
 *
 * Loop thread only, except rollouts_open() and rollouts_close(), which
 * block (start-up, shutdown). Callbacks follow libuv's contract: an
 * error return means no callback. */
#ifndef UPSTAGE_AGENT_ROLLOUT_ROLLOUTS_H
#define UPSTAGE_AGENT_ROLLOUT_ROLLOUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/rollout/engine.h"
#include "agent/rollout/hooks.h"
#include "agent/rollout/journal.h"
#include "agent/rollout/registry.h"
#include "agent/store/store.h"
#include "proto/metrics.h"

#define ROLLOUTS_SELECT_MAX 256

/* Which machines (empty lists: any). Strings copied. */
struct rollouts_selector {
	char (*releases)[UPS_LIMIT_RELEASE_LEN + 1];
	size_t nreleases;
	char (*arches)[UPS_LIMIT_ARCH_LEN + 1];
	size_t narches;
	char (*machines)[UPS_LIMIT_MACHINE_ID_LEN + 1];
	size_t nmachines;
};

struct rollouts_request {
	struct rollout_spec spec; /* version "" : auto-selected */
	char client_version[UPS_LIMIT_VERSION_LEN + 1];
	struct rollouts_selector sel; /* owned by the request once begun */
	bool dry_run;
};

/* What a begin or a command led to, borrowed for the callback. */
struct rollouts_answer {
	const struct rollout *r; /* the rollout (planned only on a dry run) */
	bool dry_run;
	const char *rule; /* the auto-selection rule, or NULL */
	const char *const *missing; /* binary versions not stored */
	size_t nmissing;
	const char *const *unknown; /* machine ids not registered */
	size_t nunknown;
};
typedef void (*rollouts_cb)(void *data, int rv, const char *err,
                            const struct rollouts_answer *a);

struct rollouts_events {
	/* After a write committed: r's header and members idx[0..n)
	 * changed (borrowed for the call). */
	void (*changed)(void *data, const struct rollout *r,
	                const uint32_t *idx, size_t n);
	void *data;
};

struct rollouts_config {
	const char *data_dir;      /* borrowed */
	const char *agent_version; /* the configured one, or NULL */
	int64_t (*now_ms)(void);   /* NULL: the real clock */
	unsigned tick_ms;          /* 0: 1000 */
	/* Hook and health plugins (borrowed; NULL: none). Their results
	 * come back through rollouts_hooks_done(). */
	struct hooks *hooks;
};

struct rollouts_job;
struct rollouts_waiter;

struct rollouts {
	uv_loop_t *loop;
	struct registry *registry;
	struct store *store;
	struct rollouts_config cfg;
	struct rollouts_events ev;
	struct journal *journal;
	struct rollout cur; /* the active or latest rollout */
	bool have;
	int64_t seq;        /* cur's */
	int64_t last_seq;   /* the highest ever used */
	uint32_t *by_id;    /* member indexes sorted by machine id */
	char agent_version[UPS_LIMIT_VERSION_LEN + 1];
	struct rollouts_job *job; /* the write in flight */
	bool write_again;
	struct rollouts_waiter *waiting; /* until the next write commits */
	unsigned begins;                 /* rollouts_begin() in flight */
	size_t orders_in_flight;
	unsigned reads; /* rollouts_load() jobs in flight */
	/* Hooks: the gate in flight, and what hook events were sent for. */
	bool gate_running;
	uint32_t hook_stage_next; /* after-stage told for stages below */
	enum rollout_state hook_state;
	uv_timer_t tick, retry;
	uv_prepare_t flusher; /* writes what a loop iteration changed */
	bool timers_open;     /* tick, retry and flusher */
	bool flush_due;       /* flusher is started */
	bool stopping;
	uint64_t writes, rows_written; /* committed journal writes, rows */
	struct ups_histogram journal_seconds; /* one write transaction */
	uint64_t by_state[ROLLOUT__COUNT];    /* every rollout, by state */
	enum rollout_state counted_state;     /* cur's, as by_state has it */
};

/* Opens the journal and loads the latest rollout. Blocks. */
int rollouts_open(struct rollouts *rs, uv_loop_t *loop,
                  struct registry *registry, struct store *store,
                  const struct rollouts_config *cfg,
                  const struct rollouts_events *ev, char *err, size_t errlen);

/* Starts the tick and resumes an active rollout (after a restart: its
 * members follow the registry; orders not known to have been made are
 * asked for). */
int rollouts_start(struct rollouts *rs);

/* No new work; the write in flight finishes. */
void rollouts_stop(struct rollouts *rs);

/* After the loop drained: frees everything. */
void rollouts_close(struct rollouts *rs);

/* The registry's changed event: m's news for the active rollout. */
void rollouts_machine_changed(struct rollouts *rs, const struct machine *m);

/* Plans req (moved: req->sel is the runner's after the call, even on
 * error) and, unless a dry run, starts it; cb once the start is
 * journaled. Refusals through cb: UPS_ERR_UPGRADE_IN_PROGRESS,
 * UPS_ERR_NOT_FOUND (unknown, missing), UPS_ERR_NO_SUITABLE_VERSION,
 * UPS_ERR_CONFLICT (nothing to upgrade). */
int rollouts_begin(struct rollouts *rs, struct rollouts_request *req,
                   rollouts_cb cb, void *data);

/* Pause, resume, promote or abort rollout id (NULL: the active one);
 * cb once journaled. UPS_ERR_NOT_FOUND, UPS_ERR_CONFLICT. */
int rollouts_command(struct rollouts *rs, enum rollout_event_kind kind,
                     const char *id, rollouts_cb cb, void *data);

/* Rollout id read from the journal on a worker (an older rollout than
 * the one in memory): cb with a->r (borrowed for the call), or
 * UPS_ERR_NOT_FOUND. Immediate errors: UPS_ERR_NO_MEMORY,
 * UPS_ERR_UNAVAILABLE. */
int rollouts_load(struct rollouts *rs, const char *id, rollouts_cb cb,
                  void *data);

/* The rollout id (NULL: active, else latest), or NULL. Borrowed until
 * the loop runs again. */
const struct rollout *rollouts_find(const struct rollouts *rs, const char *id);

/* The active rollout, or NULL. */
const struct rollout *rollouts_active(const struct rollouts *rs);

/* The active rollout's member for machine id, or NULL. */
const struct rollout_member *rollouts_member(const struct rollouts *rs,
                                             const char *machine_id);

/* The controller's agent version: the target of the last completed
 * rollout, else the configured one ("" when neither). */
const char *rollouts_agent_version(const struct rollouts *rs);

/* The hooks' result callback (hooks_open()'s cb, with rs as data). */
void rollouts_hooks_done(void *data, const struct hooks_result *res);

/* Frees a selector's lists. */
void rollouts_selector_free(struct rollouts_selector *sel);

#endif
