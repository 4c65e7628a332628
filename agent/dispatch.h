/* Request dispatch: one table of {facade, method, allowed roles, handler}
 * and the rules every request passes through in order:
 *   not a request             -> bad-request (Error push)
 *   not logged in             -> unauthorized (only Admin.Login passes)
 *   unknown facade or method  -> not-implemented
 *   facade version other than 1 -> not-implemented
 *   role not allowed          -> forbidden
 *   params                    -> checked strictly by the handler
 * Answers go back through the peer (agent/peer.h), so the same code serves
 * direct sessions and relayed connections. */
#ifndef UPSTAGE_AGENT_DISPATCH_H
#define UPSTAGE_AGENT_DISPATCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/peer.h"
#include "proto/envelope.h"
#include "proto/net/auth.h"

#define DISPATCH_ROLE(r) (1u << (r))
#define DISPATCH_LOGGED_IN                                                     \
	(DISPATCH_ROLE(UPS_ROLE_CLIENT) | DISPATCH_ROLE(UPS_ROLE_MACHINE) |    \
	 DISPATCH_ROLE(UPS_ROLE_PLUGIN))

struct upload_engine;

/* A handler's return value meaning "the answer is sent later" (by the
 * handler's module, with dispatch_answer()); never a wire code. */
#define DISPATCH_DEFERRED 1

/* What handlers may read about the daemon. Everything is borrowed. */
struct dispatch_ctx {
	/* Tokens to check logins against; NULL accepts any token (upstaged
	 * only allows that when it listens on loopback). */
	const struct ups_auth *auth;
	const char *agent_version; /* NULL: not reported */
	uint64_t start_ms;         /* now_ms() when upstaged started */
	uint64_t (*now_ms)(void *user);
	/* "connected", "disconnected" or "disabled". */
	const char *(*link_state)(void *user);
	void *user;
	/* Logged-in peers per role, kept by dispatch_set_role() and
	 * dispatch_forget(). */
	unsigned sessions[UPS_ROLE__COUNT];
	/* The upload engine (agent/upload.h) serving AgentBinaries and chunk
	 * frames; NULL answers them unavailable. */
	struct upload_engine *uploads;
	/* The request-id of the request being handled, for handlers that
	 * return DISPATCH_DEFERRED. */
	uint64_t request_id;
};

/* Handles one request's params (borrowed). Returns 0 with *result set to
 * a new reference (the response object), or a negative code with err
 * filled in (empty err means the table's default message), or
 * DISPATCH_DEFERRED when it answers ctx->request_id later itself. */
typedef int (*dispatch_fn)(struct dispatch_ctx *ctx, struct peer *p,
                           const json_t *params, json_t **result, char *err,
                           size_t errlen);

struct dispatch_method {
	const char *facade;
	const char *method;
	unsigned roles; /* DISPATCH_ROLE bits; 0 = before login only */
	dispatch_fn fn;
};

/* The table entry for facade.method, or NULL. */
const struct dispatch_method *dispatch_lookup(const char *facade,
                                              const char *method);

/* One text message of len bytes (borrowed) from p: parse, check, run,
 * answer. Malformed input is answered (PROTOCOL.md "Malformed messages");
 * a message that can no longer be trusted closes p. */
void dispatch_text(struct dispatch_ctx *ctx, struct peer *p, const char *buf,
                   size_t len);

/* A parsed envelope (borrowed) from p. */
void dispatch_envelope(struct dispatch_ctx *ctx, struct peer *p,
                       const struct ups_envelope *env);

/* One binary message (a chunk frame): handed to the upload engine.
 * Before login, unauthorized and close. */
void dispatch_binary(struct dispatch_ctx *ctx, struct peer *p, const void *data,
                     size_t len);

/* A message over its size limit was received: too-large push, close. */
void dispatch_too_large(struct dispatch_ctx *ctx, struct peer *p);

/* Sets p's role and keeps the per-role counts. */
void dispatch_set_role(struct dispatch_ctx *ctx, struct peer *p,
                       enum ups_role role);

/* p is going away: drop it from the counts and tell the upload engine
 * (its uploads become detached; nothing refers to p afterwards). */
void dispatch_forget(struct dispatch_ctx *ctx, struct peer *p);

/* Sends an Error push {"type": "Error", "request": request, "params":
 * {"error": text, "error-code": code}} to p. text NULL: the default. */
int dispatch_push_error(struct peer *p, const char *request, int code,
                        const char *text);

/* Answers request_id on p: result (stolen; NULL = {}) when rv is 0, else
 * an error with text (NULL/empty: the default message) and info (stolen,
 * may be NULL). */
void dispatch_answer(struct peer *p, uint64_t request_id, int rv,
                     const char *text, json_t *result, json_t *info);

#endif
