/* What a facade is to the dispatcher: a table of methods with the roles
 * allowed to call each, the facade's own state handed to its handlers,
 * and optional hooks for binary messages and departing peers. Facades
 * include this header and agent/rpc/reply.h, never the dispatcher, so
 * the dispatcher knows no facade and the composition root (agent/agent.c)
 * registers them. */
#ifndef UPSTAGE_AGENT_RPC_FACADE_H
#define UPSTAGE_AGENT_RPC_FACADE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/rpc/peer.h"

#define RPC_ROLE(r) (1u << (r))
#define RPC_LOGGED_IN                                                          \
	(RPC_ROLE(UPS_ROLE_CLIENT) | RPC_ROLE(UPS_ROLE_MACHINE) |              \
	 RPC_ROLE(UPS_ROLE_PLUGIN))

/* A handler's return value meaning "the answer is sent later" through a
 * reply it made with reply_defer(); never a wire code. */
#define RPC_DEFERRED 1

/* One request, borrowed for the handler's call. */
struct rpc_request {
	struct peer *peer;
	uint64_t request_id;
	const json_t *params; /* always an object */
};

/* Handles req with the facade's state. Returns 0 with *result a new
 * reference (the response object), a negative code with err filled in
 * (empty err: the table's default message; *info may be set to a new
 * reference for "error-info"), or RPC_DEFERRED. */
typedef int (*rpc_handler)(void *state, const struct rpc_request *req,
                           json_t **result, json_t **info, char *err,
                           size_t errlen);

struct rpc_method {
	const char *method;
	unsigned roles; /* RPC_ROLE bits; 0 = before login only */
	rpc_handler fn;
};

struct rpc_facade {
	const char *name; /* the envelope's "type", e.g. "AgentBinaries" */
	/* The one facade version served (0 means 1); a request of another
	 * version is not-implemented, naming this one. */
	int version;
	const struct rpc_method *methods;
	size_t nmethods;
	void *state; /* borrowed; handed to every handler and hook */
	/* Optional: binary messages (chunk frames) from logged-in peers.
	 * At most one registered facade has it. data is borrowed;
	 * frame_buf, when not NULL, is the receiver's frame buffer holding
	 * data, which the hook may swap for one of its own (struct
	 * ups_rxmsg). */
	void (*binary)(void *state, struct peer *p, const uint8_t *data,
	               size_t len, uint8_t **frame_buf);
	/* Optional: p is going away; drop every reference to it. */
	void (*peer_gone)(void *state, struct peer *p);
};

/* A facade of name with the methods of the array methods (not a pointer:
 * its size is taken) and state; the hooks are NULL:
 *   a->facade = RPC_FACADE("Admin", admin_methods, a); */
#define RPC_FACADE(name_, methods_, state_)                                    \
	((struct rpc_facade){.name = (name_),                                  \
	                     .methods = (methods_),                            \
	                     .nmethods =                                       \
	                         sizeof(methods_) / sizeof((methods_)[0]),     \
	                     .state = (state_)})

#endif
