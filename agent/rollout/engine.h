/* The rollout engine: one staged rolling upgrade as a pure state machine
 * (DESIGN.md "Rollouts"). No I/O, no clock, no libuv: the runner
 * (agent/rollout/rollouts.h) feeds it events with the time in them,
 * journals what changed, and only then carries out the orders the
 * engine asked for. A unit-test harness drives it with a fake clock.
 *
 * One transition table per state kind (ROLLOUT_STATES and MEMBER_STATES
 * below: names and the allowed next states) and one step function,
 * rollout_step(), which is the only place either kind of state changes.
 *
 * The plan: members grouped by (release, arch); stage 0 holds the first
 * `canary` machines (by id) of every group; the other machines, taken
 * from the groups in turn, fill stages 1..n of `batch` machines each.
 * Within a stage at most `max-unavailable` machines are ordered and not
 * yet upgraded at any time. A machine counts as upgraded once it has been
 * healthy for min-healthy; failed, or silent past its deadline
 * (timed-out), it counts against the failure budget (canaries: any
 * failure pauses). Resume retries the failed and timed-out machines.
 *
 * Rolling back (on-budget rollback, or the rollback command): no new
 * upgrades; machines in flight finish; every machine that reached the
 * target (healthy, upgraded) is ordered back to the version it ran
 * before (revert-pending -> reverting -> reverted, or revert-failed), at
 * most max-unavailable at once; then rolled-back.
 *
 * Ownership: struct rollout owns its members array (rollout_free()). */
#ifndef UPSTAGE_AGENT_ROLLOUT_ENGINE_H
#define UPSTAGE_AGENT_ROLLOUT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/binary.h"
#include "proto/limits.h"
#include "proto/machine.h"

#define RB(s) (1u << ROLLOUT_##s)
/* X(ID, name, allowed next states). Names are on the wire and in the
 * journal: append only. */
#define ROLLOUT_STATES(X)                                                      \
	X(PLANNED, "planned", RB(CANARY) | RB(ABORTED) | RB(FAILED))           \
	X(CANARY, "canary",                                                    \
	  RB(AWAITING_PROMOTION) | RB(ROLLING) | RB(PAUSED) | RB(ABORTING) |   \
	      RB(ABORTED) | RB(FAILED) | RB(COMPLETED))                        \
	X(AWAITING_PROMOTION, "awaiting-promotion",                            \
	  RB(ROLLING) | RB(ABORTING) | RB(ABORTED) | RB(FAILED) |              \
	      RB(ROLLING_BACK))                                                \
	X(ROLLING, "rolling",                                                  \
	  RB(PAUSED) | RB(ABORTING) | RB(ABORTED) | RB(FAILED) |               \
	      RB(COMPLETED) | RB(ROLLING_BACK))                                \
	X(PAUSED, "paused",                                                    \
	  RB(CANARY) | RB(ROLLING) | RB(ABORTING) | RB(ABORTED) | RB(FAILED) | \
	      RB(ROLLING_BACK))                                                \
	X(ABORTING, "aborting", RB(ABORTED) | RB(FAILED))                      \
	X(ABORTED, "aborted", 0)                                               \
	X(COMPLETED, "completed", RB(ROLLING_BACK))                            \
	X(FAILED, "failed", 0)                                                 \
	X(ROLLING_BACK, "rolling-back", RB(ROLLED_BACK) | RB(FAILED))          \
	X(ROLLED_BACK, "rolled-back", 0)

/* The states a rollout ends in (completed can still be rolled back). */
#define ROLLOUT_FINAL                                                          \
	(RB(ABORTED) | RB(COMPLETED) | RB(FAILED) | RB(ROLLED_BACK))

enum rollout_state {
#define ROLLOUT_ENUM(id, name, next) ROLLOUT_##id,
	ROLLOUT_STATES(ROLLOUT_ENUM)
#undef ROLLOUT_ENUM
	    ROLLOUT__COUNT
};

#define MB(s) (1u << MEMBER_##s)
#define MEMBER_WORKING                                                         \
	(MB(ORDERED) | MB(DOWNLOADING) | MB(VERIFYING) | MB(STAGED) |          \
	 MB(RESTARTING) | MB(HEALTH_WAIT))
#define MEMBER_ENDED (MB(UPGRADED) | MB(FAILED) | MB(TIMED_OUT))
/* X(ID, name, allowed next states). A machine in the rollout: the
 * working states are the ones it reports; healthy waits for min-healthy,
 * upgraded is done. */
#define MEMBER_STATES(X)                                                       \
	X(PENDING, "pending", MB(ORDERED))                                     \
	X(ORDERED, "ordered", MEMBER_WORKING | MB(PENDING) | MB(HEALTHY) |     \
	                          MB(FAILED) | MB(TIMED_OUT))                  \
	X(DOWNLOADING, "downloading",                                          \
	  MEMBER_WORKING | MB(HEALTHY) | MB(FAILED) | MB(TIMED_OUT))           \
	X(VERIFYING, "verifying",                                              \
	  MEMBER_WORKING | MB(HEALTHY) | MB(FAILED) | MB(TIMED_OUT))           \
	X(STAGED, "staged",                                                    \
	  MEMBER_WORKING | MB(HEALTHY) | MB(FAILED) | MB(TIMED_OUT))           \
	X(RESTARTING, "restarting",                                            \
	  MEMBER_WORKING | MB(HEALTHY) | MB(FAILED) | MB(TIMED_OUT))           \
	X(HEALTH_WAIT, "health-wait",                                          \
	  MEMBER_WORKING | MB(HEALTHY) | MB(FAILED) | MB(TIMED_OUT))           \
	X(HEALTHY, "healthy",                                                  \
	  MB(UPGRADED) | MB(FAILED) | MB(TIMED_OUT) | MB(REVERT_PENDING))      \
	X(UPGRADED, "upgraded", MB(REVERT_PENDING))                            \
	X(FAILED, "failed", MB(PENDING) | MB(HEALTHY))                         \
	X(TIMED_OUT, "timed-out", MB(PENDING) | MB(HEALTHY) | MB(FAILED))      \
	X(REVERT_PENDING, "revert-pending", MB(REVERTING))                     \
	X(REVERTING, "reverting", MB(REVERTED) | MB(REVERT_FAILED))            \
	X(REVERTED, "reverted", 0)                                             \
	X(REVERT_FAILED, "revert-failed", 0)

enum member_state {
#define MEMBER_ENUM(id, name, next) MEMBER_##id,
	MEMBER_STATES(MEMBER_ENUM)
#undef MEMBER_ENUM
	    MEMBER__COUNT
};

const char *rollout_state_name(enum rollout_state s);
const char *member_state_name(enum member_state s);
/* 0 with *out, or UPS_ERR_BAD_REQUEST. */
int rollout_state_parse(const char *s, enum rollout_state *out);
int member_state_parse(const char *s, enum member_state *out);
bool rollout_state_is_final(enum rollout_state s);
bool rollout_may_move(enum rollout_state from, enum rollout_state to);
bool member_may_move(enum member_state from, enum member_state to);

/* "N" machines or "P%" of them. */
struct rollout_amount {
	int64_t value;
	bool percent;
};

/* "12" or "25%" into *out (count >= min, percent 1..100). 0 or
 * UPS_ERR_BAD_REQUEST. */
int rollout_amount_parse(const char *s, int64_t min,
                         struct rollout_amount *out);
/* Back to text ("12", "25%"). */
void rollout_amount_format(const struct rollout_amount *a, char *buf,
                           size_t len);
/* The count a resolves to out of n machines: percentages round up (a
 * batch of 10% of 5 machines is 1), at least min. */
int64_t rollout_amount_of(const struct rollout_amount *a, int64_t n,
                          int64_t min);

#define ROLLOUT_ID_LEN     24
#define ROLLOUT_REASON_LEN 256

enum rollout_on_budget {
	ROLLOUT_ON_BUDGET_PAUSE,
	ROLLOUT_ON_BUDGET_ROLLBACK,
};

struct rollout_spec {
	char version[UPS_LIMIT_VERSION_LEN + 1]; /* the target */
	char model[UPS_LIMIT_MACHINE_ID_LEN + 1]; /* whose machines */
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	int64_t canary; /* per group, >= 0 */
	struct rollout_amount batch;
	struct rollout_amount max_unavailable; /* value 0: = batch */
	struct rollout_amount failure_budget;
	int64_t min_healthy_ms;
	int64_t machine_deadline_ms;
	int64_t deadline_ms; /* 0: none */
	bool manual_promote;
	enum rollout_on_budget on_budget;
	/* Hooks must clear every stage before it orders anything (the
	 * runner sets it when a hook plugin is loaded). */
	bool gated;
};

/* The defaults of the issue: canary 1, batch 10%, max-unavailable =
 * batch, budget 0, min healthy 10 s, machine deadline 10 min. */
void rollout_spec_defaults(struct rollout_spec *s);

struct rollout_member {
	char machine_id[UPS_LIMIT_MACHINE_ID_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1]; /* target */
	char from_version[UPS_LIMIT_VERSION_LEN + 1]; /* before the rollout */
	char order_id[UPS_LIMIT_ORDER_ID_LEN + 1];    /* "" until known */
	/* The order of its last step: never adopted for the next one. */
	char prev_order_id[UPS_LIMIT_ORDER_ID_LEN + 1];
	uint32_t group;
	uint32_t stage;
	enum member_state state;
	bool canary;
	bool want_order; /* ordered or reverting; the runner has not asked */
	bool dirty;      /* changed since the runner journaled it */
	bool checking;   /* the runner's: a health check in flight */
	int64_t ordered_ms;
	int64_t since_ms; /* entered its state */
	char reason[ROLLOUT_REASON_LEN];
};

/* A group's key. */
struct rollout_group {
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	size_t machines;
};

#define ROLLOUT_GROUPS_MAX 256

struct rollout {
	char id[ROLLOUT_ID_LEN];
	struct rollout_spec spec;
	enum rollout_state state;
	enum rollout_state resume_to; /* where resume goes from paused */
	uint32_t stage;               /* current stage */
	uint32_t nstages;
	int64_t batch, max_unavailable, budget; /* resolved counts */
	int64_t created_ms, started_ms, updated_ms, ended_ms;
	char reason[ROLLOUT_REASON_LEN]; /* why paused, failed, aborted */
	uint32_t cleared; /* gated: stages [0, cleared) were cleared */
	struct rollout_group groups[ROLLOUT_GROUPS_MAX];
	size_t ngroups;
	struct rollout_member *members; /* owned; by stage, then plan order */
	size_t nmembers;
	size_t by_state[MEMBER__COUNT];
	bool dirty; /* the rollout row changed since journaled */
};

/* A machine to plan (borrowed strings). */
struct rollout_machine {
	const char *id;
	const char *release;
	const char *arch;
	const char *version;        /* what it runs now */
	const char *binary_version; /* the target binary for it */
};

/* Makes r a planned rollout of machines[0..n) (n >= 1) with spec (copied):
 * groups, stages, resolved amounts. 0, UPS_ERR_NO_MEMORY, or
 * UPS_ERR_BAD_REQUEST (too many groups). */
int rollout_plan(struct rollout *r, const char *id,
                 const struct rollout_spec *spec,
                 const struct rollout_machine *machines, size_t n,
                 int64_t now_ms, char *err, size_t errlen);

/* After members were loaded from the journal: recounts by_state. */
void rollout_recount(struct rollout *r);

void rollout_free(struct rollout *r);

enum rollout_event_kind {
	ROLLOUT_EV_START,   /* planned -> canary */
	ROLLOUT_EV_TICK,    /* time passed: deadlines, min healthy */
	ROLLOUT_EV_REPORT,  /* member reports state (+ reason) */
	ROLLOUT_EV_REFUSED, /* member's order was refused: failed */
	ROLLOUT_EV_PAUSE,
	ROLLOUT_EV_RESUME,
	ROLLOUT_EV_PROMOTE,
	ROLLOUT_EV_ABORT,
	ROLLOUT_EV_ROLLBACK,
	ROLLOUT_EV_WITHDRAWN, /* member's order was not sent after all */
	ROLLOUT_EV_GATE,      /* the hooks of stage `stage` answered */
};

struct rollout_event {
	enum rollout_event_kind kind;
	int64_t now_ms;
	size_t member;            /* REPORT, REFUSED */
	enum member_state state;  /* REPORT: a working state, healthy or
	                             failed */
	const char *reason;       /* REPORT failed, REFUSED, ABORT, PAUSE;
	                             GATE: NULL cleared, else refused */
	uint32_t stage;           /* GATE */
};

/* The one place state changes: applies ev, then moves the rollout on
 * (deadlines, stages, new orders: members set want_order). Changed rows
 * get dirty. A command not allowed in the current state is
 * UPS_ERR_CONFLICT with err naming the state; a report of a member not
 * working is ignored (0). */
int rollout_step(struct rollout *r, const struct rollout_event *ev, char *err,
                 size_t errlen);

/* Gated rollouts: the stage whose before-* hooks must run before it
 * orders anything (the runner runs them and answers with
 * ROLLOUT_EV_GATE), or -1 when none is waiting. A refusal pauses the
 * rollout with the hooks' reason; resuming asks again. */
int64_t rollout_gate_wanted(const struct rollout *r);

/* Failures that count against the budget (non-canaries failed or timed
 * out), and machines ordered but not upgraded. */
int64_t rollout_failures(const struct rollout *r);
int64_t rollout_unavailable(const struct rollout *r);

#endif
