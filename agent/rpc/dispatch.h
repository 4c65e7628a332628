/* Request dispatch: the facades registered by the composition root, and
 * the rules every request passes through in order:
 *   not a request             -> bad-request (Error push)
 *   not logged in             -> unauthorized (only pre-login methods pass)
 *   unknown facade or method  -> not-implemented
 *   facade version other than the facade's -> not-implemented (with
 *                               error-info {"version": the one served})
 *   role not allowed          -> forbidden
 *   params                    -> checked strictly by the handler
 * Answers go back through the peer (agent/rpc/peer.h), so the same code
 * serves direct sessions and relayed connections. Loop thread only. */
#ifndef UPSTAGE_AGENT_RPC_DISPATCH_H
#define UPSTAGE_AGENT_RPC_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "agent/rpc/facade.h"
#include "agent/rpc/peer.h"
#include "proto/envelope.h"

#define DISPATCH_MAX_FACADES 16

struct dispatch {
	const struct rpc_facade *facades[DISPATCH_MAX_FACADES]; /* borrowed */
	size_t nfacades;
	/* Logged-in peers per role, kept by dispatch_set_role() and
	 * dispatch_forget(). */
	unsigned sessions[UPS_ROLE__COUNT];
};

void dispatch_init(struct dispatch *d);

/* Registers f (borrowed; it must outlive d). UPS_ERR_CONFLICT when a
 * facade of that name, or a second binary hook, is already there;
 * UPS_ERR_TOO_LARGE past DISPATCH_MAX_FACADES. */
int dispatch_add(struct dispatch *d, const struct rpc_facade *f);

/* The facade version f serves (its version, 1 when unset). */
int dispatch_facade_version(const struct rpc_facade *f);

/* The method facade.method and its facade (*facade_out, may be NULL), or
 * NULL when there is none. */
const struct rpc_method *dispatch_lookup(const struct dispatch *d,
                                         const char *facade, const char *method,
                                         const struct rpc_facade **facade_out);

/* One text message of len bytes (borrowed) from p: parse, check, run,
 * answer. Malformed input is answered (PROTOCOL.md "Malformed messages");
 * a message that can no longer be trusted closes p. */
void dispatch_text(struct dispatch *d, struct peer *p, const char *buf,
                   size_t len);

/* A parsed envelope (borrowed) from p. */
void dispatch_envelope(struct dispatch *d, struct peer *p,
                       const struct ups_envelope *env);

/* One binary message (a chunk frame): handed to the facade that takes
 * them, with the frame buffer it was gathered in (NULL if none; see
 * struct ups_rxmsg). Before login, unauthorized and close; other roles
 * than client, forbidden. */
void dispatch_binary(struct dispatch *d, struct peer *p, const void *data,
                     size_t len, uint8_t **frame_buf);

/* A message over its size limit was received: too-large push, close. */
void dispatch_too_large(struct dispatch *d, struct peer *p);

/* Sets p's role and keeps the per-role counts. */
void dispatch_set_role(struct dispatch *d, struct peer *p, enum ups_role role);

/* p is going away: drop it from the counts, drop the answers still owed
 * to it, and tell every facade. Nothing refers to p afterwards. */
void dispatch_forget(struct dispatch *d, struct peer *p);

#endif
