/* The Rollouts facade (role client): Start, Status, Pause, Resume,
 * Promote, Abort, Watch, Unwatch, and the Event push to watching
 * clients (proto/PROTOCOL.md "Rollouts"). Strict parameter checks, then
 * the rollout runner (agent/rollout/rollouts.h) does the work; this file
 * is the only place the wire shape of a rollout is built. */
#ifndef UPSTAGE_AGENT_RPC_ROLLOUTS_H
#define UPSTAGE_AGENT_RPC_ROLLOUTS_H

#include <jansson.h>

#include "agent/rollout/rollouts.h"
#include "agent/rpc/facade.h"

struct rollouts_rpc_watch;

struct rollouts_rpc {
	struct rollouts *rollouts; /* borrowed */
	struct rpc_facade facade;  /* "Rollouts" */
	struct rollouts_rpc_watch *watches;
};

/* Fills in rr's facade (rollouts set by the caller). */
void rollouts_rpc_init(struct rollouts_rpc *rr);

/* The events the runner tells watchers through; give them to
 * rollouts_open(). rr is borrowed and must outlive the runner. */
void rollouts_rpc_events(struct rollouts_rpc *rr, struct rollouts_events *ev);

/* Frees the watches (after the loop drained). */
void rollouts_rpc_free(struct rollouts_rpc *rr);

/* A rollout's status object (new reference, NULL when out of memory). */
json_t *rollouts_status_json(const struct rollout *r, int64_t now_ms);

#endif
