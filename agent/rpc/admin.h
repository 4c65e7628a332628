/* The Admin and Agent facades (PROTOCOL.md): Admin.Login, Agent.Ping and
 * Agent.Info. Login sets the peer's role, and Info reports the per-role
 * counts, through callbacks of the composition root (which asks the
 * dispatcher): a facade never includes the dispatcher. After a failed login its
 * source address must wait (proto/net/throttle.h) before the next is
 * looked at: meanwhile logins from there are answered busy. */
#ifndef UPSTAGE_AGENT_RPC_ADMIN_H
#define UPSTAGE_AGENT_RPC_ADMIN_H

#include <stdint.h>

#include "agent/rpc/facade.h"
#include "proto/net/auth.h"
#include "proto/net/throttle.h"

struct admin {
	/* Tokens to check logins against; NULL accepts any token (upstaged
	 * only allows that when it listens on loopback). Borrowed. */
	const struct ups_auth *auth;
	const char *agent_version; /* NULL: not reported; borrowed */
	/* The peer's role is now role; sessions logged in as role. */
	void (*set_role)(void *user, struct peer *p, enum ups_role role);
	unsigned (*role_count)(void *user, enum ups_role role);
	/* Failed logins per source address (direct sessions); borrowed,
	 * NULL: none. */
	struct ups_throttle *throttle;
	uint64_t start_ms;         /* now_ms() when upstaged started */
	uint64_t (*now_ms)(void *user);
	/* "connected", "disconnected" or "disabled". */
	const char *(*link_state)(void *user);
	void *user;
	struct rpc_facade admin_facade; /* "Admin" */
	struct rpc_facade agent_facade; /* "Agent" */
};

/* Fills in the two facades of a (whose other fields the caller set) so
 * they can be registered with the dispatcher. */
void admin_init(struct admin *a);

#endif
