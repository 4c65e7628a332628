/* The Machine facade (role machine: Register, Report; the Order, Revert
 * and Replaced pushes) and the Machines facade (role client: List, Order,
 * Revert; the Progress push to a client that asked to watch its orders),
 * proto/PROTOCOL.md "Machine" and "Machines". Strict parameter checks,
 * then the machine registry (agent/rollout/registry.h) does the work;
 * this file is the only place the wire shape of machines and orders is
 * built on upstaged's side. */
#ifndef UPSTAGE_AGENT_RPC_MACHINES_H
#define UPSTAGE_AGENT_RPC_MACHINES_H

#include <jansson.h>

#include "agent/rollout/registry.h"
#include "agent/rollout/rollouts.h"
#include "agent/rpc/facade.h"

struct machines_watch;

struct machines {
	struct registry *registry;         /* borrowed */
	struct rollouts *rollouts;         /* borrowed; NULL: none */
	unsigned heartbeat_s;              /* told to machines at Register */
	struct rpc_facade machine_facade;  /* "Machine" */
	struct rpc_facade machines_facade; /* "Machines" */
	struct machines_watch *watches;    /* owned */
};

/* Fills in ms's facades (registry and heartbeat_s set by the caller) so
 * they can be registered with dispatch_add(). */
void machines_init(struct machines *ms);

/* The events the registry tells sessions through; give them to
 * registry_open(). ms is borrowed and must outlive the registry. */
void machines_events(struct machines *ms, struct registry_events *ev);

/* Frees the watches (after the loop drained). */
void machines_free(struct machines *ms);

/* A machine as Machines.List shows it (new reference; NULL when out of
 * memory). m is borrowed. */
json_t *machines_record_json(const struct machine *m);

#endif
