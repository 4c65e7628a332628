/* A peer: anything upstaged answers requests from. It has a role and can
 * be sent envelopes. Two kinds exist: direct websocket sessions
 * (agent/net/session.h) and connections relayed over the controller link
 * (agent/net/link.h). The rpc layer only sees this interface, so facades
 * do not care which kind they talk to, and tests plug in their own.
 *
 * The transport that owns a peer tells the dispatcher when it goes
 * (dispatch_forget); nothing in rpc/ or below refers to it afterwards. */
#ifndef UPSTAGE_AGENT_RPC_PEER_H
#define UPSTAGE_AGENT_RPC_PEER_H

#include <jansson.h>
#include <stdint.h>

#include "proto/net/addr.h"
#include "proto/net/auth.h"

enum peer_kind {
	PEER_DIRECT,
	PEER_RELAYED,
};

struct peer;
struct reply;

struct peer_ops {
	/* Queues env (borrowed; the peer may add fields to it, e.g. the
	 * relay's "origin"). 0, or a negative code when it could not be
	 * queued (the peer then closes itself if that is the remedy). */
	int (*send)(struct peer *p, json_t *env);
	/* Closes the peer once what is queued has been sent. why is for the
	 * log (static string). */
	void (*close)(struct peer *p, const char *why);
	/* Optional (NULL: the peer cannot be paused). Stops (pause) or
	 * resumes reading from the peer: the backstop for a client that
	 * sends more upload data than its window. */
	void (*rx_pause)(struct peer *p, int pause);
	/* Optional: p's role was just set (dispatch_set_role); a session
	 * grows its output budget when it logs in. */
	void (*role_set)(struct peer *p);
};

struct peer {
	const struct peer_ops *ops;
	enum peer_kind kind;
	enum ups_role role; /* UPS_ROLE_NONE until logged in */
	unsigned login_failures;
	uint64_t id; /* for logs: session number or relay origin */
	/* Numeric source address of a direct session (failed logins are
	 * throttled per address); "" for relayed peers. */
	char addr[UPS_ADDR_HOST_LEN + 1];
	/* Answers still owed to this peer (agent/rpc/reply.h); the
	 * transport zero-initialises it and never touches it. */
	struct reply *replies;
};

static inline int peer_send(struct peer *p, json_t *env)
{
	return p->ops->send(p, env);
}

static inline void peer_close(struct peer *p, const char *why)
{
	p->ops->close(p, why);
}

static inline void peer_rx_pause(struct peer *p, int pause)
{
	if (p->ops->rx_pause)
		p->ops->rx_pause(p, pause);
}

#endif
