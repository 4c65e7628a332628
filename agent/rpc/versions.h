/* The Versions facade (PROTOCOL.md "Versions.Select"): the upgrade target
 * the auto-selection rules of DESIGN.md (proto/autoselect.h) choose for a
 * client version and an agent version among the versions that have at
 * least one stored binary in a stream. The store lists them (on a
 * worker); this file turns the choice into the answer, naming the rule
 * and the candidates it weighed. */
#ifndef UPSTAGE_AGENT_RPC_VERSIONS_H
#define UPSTAGE_AGENT_RPC_VERSIONS_H

#include "agent/rpc/facade.h"
#include "agent/store/store.h"

/* Candidates listed in an answer at most (the newest ones); the rest are
 * counted in "candidates-omitted", so an answer stays far below the text
 * message limit. */
#define VERSIONS_CANDIDATES_MAX 256

struct versions {
	struct store *store;      /* borrowed */
	struct rpc_facade facade; /* "Versions" */
};

/* Fills in v's facade (v->store set by the caller) for dispatch_add(). */
void versions_init(struct versions *v);

#endif
