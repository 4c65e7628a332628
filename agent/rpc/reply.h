/* Everything upstaged sends to a peer goes through here: answers to
 * requests (now, or later when an engine completes), pushes, and the
 * Error push for input that is not a request.
 *
 * A deferred answer is a struct reply: a handler that hands work to an
 * engine creates one (reply_defer) and passes it as the engine's callback
 * data; the engine's callback finishes it exactly once (reply_finish),
 * which frees it. When the peer goes away first (reply_drop_peer, called
 * by the dispatcher), its replies stay valid but answer nobody. So an
 * engine never needs to know whether the requester is still there, and
 * no answer depends on an ambient request id.
 *
 * Ownership: result and info arguments are stolen (NULL allowed), even
 * on failure. Loop thread only. */
#ifndef UPSTAGE_AGENT_RPC_REPLY_H
#define UPSTAGE_AGENT_RPC_REPLY_H

#include <jansson.h>
#include <stdint.h>

#include "agent/rpc/peer.h"

struct reply {
	struct peer *peer; /* NULL once the peer is gone */
	uint64_t request_id;
	struct reply *prev, *next; /* the peer's list */
};

/* Answers request_id on p now: result ({} when NULL) when rv is 0, else
 * an error with text (NULL or "": the table's default message) and info.
 * A message that cannot be built closes p (out of memory). */
void reply_send(struct peer *p, uint64_t request_id, int rv, const char *text,
                json_t *result, json_t *info);

/* A reply owed to p for request_id, answered later with reply_finish().
 * NULL when out of memory (nothing was registered). */
struct reply *reply_defer(struct peer *p, uint64_t request_id);

/* Answers r as reply_send() would (or drops the answer when its peer is
 * gone) and frees r. */
void reply_finish(struct reply *r, int rv, const char *text, json_t *result,
                  json_t *info);

/* Forgets r without answering (its request was answered otherwise) and
 * frees it. */
void reply_cancel(struct reply *r);

/* p is going away: every reply still owed to it will answer nobody. */
void reply_drop_peer(struct peer *p);

/* Sends the push {"type": type, "request": request, "params": params} to
 * p. 0, or a negative code when it could not be built or queued. */
int reply_push(struct peer *p, const char *type, const char *request,
               json_t *params);

/* The Error push {"type": "Error", "request": request, "params":
 * {"error": text, "error-code": code}}; text NULL: the default. */
int reply_push_error(struct peer *p, const char *request, int code,
                     const char *text);

#endif
