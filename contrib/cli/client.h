/* A client session with upstaged (or the relay) on a libuv loop: connect,
 * log in, then any number of requests matched to their answers by
 * request-id, and pushes handed to a callback. The CLI's one-shot commands
 * use it through oneshot.h; uploads with progress build on the same
 * session (requests for UploadBegin/Commit, pushes for acks).
 *
 * Lifecycle (caller-allocated, like a libuv handle):
 *   client_start()    starts connecting; the ready callback follows
 *   client_request()  any number, once ready(0) was called
 *   client_close()    from anywhere, including inside a callback
 *   ... uv_run() returns once the caller's own handles are closed ...
 *   client_finish()   releases everything; uv_loop_close() then returns 0
 *
 * Callbacks run on the loop thread, never from inside client_start() or
 * client_request(), and never after client_close() except the replies it
 * cancels. */
#ifndef UPSTAGE_CLI_CLIENT_H
#define UPSTAGE_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/net/outq.h"
#include "proto/net/rxbuf.h"
#include "proto/net/url.h"
#include "proto/net/ws.h"

struct client;

/* The answer to one request, called exactly once per request that
 * client_request() accepted:
 *   status 0, env the response envelope (env->response);
 *   status < 0 and env the error envelope when the server refused
 *     (env->error_code_text, env->error_text);
 *   status < 0 and env NULL when the session ended first, detail says why
 *     (UPS_ERR_UNAVAILABLE after client_close() or a lost connection).
 * env and detail are borrowed for the call. */
typedef void (*client_reply_cb)(struct client *c, void *data, int status,
                                const struct ups_envelope *env,
                                const char *detail);

struct client_callbacks {
	/* Login finished: status 0, or why there is no session:
	 * UPS_ERR_UNAUTHORIZED (login refused), UPS_ERR_UNAVAILABLE (cannot
	 * connect, TLS verification failed, closed by the server), or the
	 * code of a protocol violation by the server. Called at most once. */
	void (*ready)(struct client *c, int status, const char *detail);
	/* The session ended after ready(0); pending replies have already
	 * been cancelled. May be NULL. */
	void (*closed)(struct client *c, int status, const char *detail);
	/* A push envelope (no request-id) received after login; borrowed.
	 * May be NULL. */
	void (*push)(struct client *c, const struct ups_envelope *env);
	/* A queued message was handed to the socket; the queue holds
	 * client_queued_bytes() now. Lets a bulk sender refill without
	 * queueing a whole file. May be NULL. */
	void (*written)(struct client *c);
};

struct client_config {
	uv_loop_t *loop;           /* borrowed; outlives the client */
	const struct ups_url *url; /* copied */
	const char *ca_cert;       /* PEM CA for wss, NULL = system; copied */
	const char *role;          /* login role; copied */
	const char *token;         /* login token, NULL = ""; copied */
	FILE *debug;               /* every envelope logged here; or NULL */
	void *data;                /* the caller's, in client->data */
};

/* A request awaiting its answer. */
struct client_pending {
	struct client_pending *next;
	uint64_t id;
	client_reply_cb cb;
	void *data;
};

enum client_state {
	CLIENT_CONNECTING, /* TCP / TLS / websocket handshake */
	CLIENT_LOGGING_IN, /* Admin.Login sent */
	CLIENT_READY,      /* requests may be sent */
	CLIENT_FAILED,     /* connection or login failed; waiting for close */
	CLIENT_CLOSING,    /* client_close() called */
};

struct client {
	void *data; /* the caller's */
	/* Everything below is private. */
	enum client_state state;
	struct client_callbacks cbs;
	struct ups_ws ws;
	struct ups_url url;
	struct lws *wsi; /* NULL once the connection is gone */
	struct ups_outq outq;
	struct ups_rxbuf rx;
	struct client_pending *pending; /* owned list */
	uint64_t next_id;
	uint64_t login_id;
	char ca_cert[4096];
	char role[UPS_LIMIT_ROLE_LEN + 1];
	char token[UPS_LIMIT_TOKEN_LEN + 1];
	FILE *debug;
	/* Failures are reported from a zero timer, outside lws callbacks. */
	uv_timer_t defer;
	bool relogin_pending; /* the defer timer means: log in again */
	bool relogin_done;    /* once per session */
	bool ready_reported;
	bool fail_reported;
	bool destroy_started;
	int fail_status;
	char fail_detail[UPS_LIMIT_ERROR_TEXT_LEN + 1];
	char close_reason[128]; /* from the server's close frame */
};

/* Creates the websocket context on cfg->loop and starts connecting to
 * cfg->url. Returns 0 (then ready is called later, exactly once unless
 * client_close() comes first; call client_close() and client_finish() in
 * any case), or an error with err filled in (UPS_ERR_BAD_REQUEST for a bad
 * configuration, UPS_ERR_IO if the context could not be created); then no
 * callback is called and nothing needs releasing. Do not have other
 * handles active on the loop when this fails: cleaning up runs the loop. */
int client_start(struct client *c, const struct client_config *cfg,
                 const struct client_callbacks *cbs, char *err, size_t errlen);

/* Sends Type.Method (at the facade version this build speaks,
 * ups_facade_version()) with params (stolen, NULL = {}).
 * Returns 0 (cb will be called exactly once), or UPS_ERR_UNAVAILABLE (not
 * logged in, or closing), UPS_ERR_BUSY (output queue full) or
 * UPS_ERR_NO_MEMORY; then cb is never called. *id receives the request-id
 * when id is not NULL. */
int client_request(struct client *c, const char *type, const char *method,
                   json_t *params, client_reply_cb cb, void *data,
                   uint64_t *id);

/* Queues one binary message made of head (hlen bytes) then body (blen
 * bytes); both are copied, so the caller may reuse its buffers at once.
 * Returns 0, UPS_ERR_UNAVAILABLE (not logged in, or closing), UPS_ERR_BUSY
 * (output queue full) or UPS_ERR_NO_MEMORY. */
int client_send_binary(struct client *c, const void *head, size_t hlen,
                       const void *body, size_t blen);

/* Queues m (made with ups_outq_msg_new() and filled; taken in every case)
 * as one binary message. 0, UPS_ERR_UNAVAILABLE or UPS_ERR_BUSY. */
int client_send_msg(struct client *c, struct ups_outq_msg *m);

/* Payload bytes queued and not yet handed to the socket. */
size_t client_queued_bytes(const struct client *c);

/* Starts closing: pending replies are cancelled (status
 * UPS_ERR_UNAVAILABLE, "session closed") and the connection and context
 * are shut down. Idempotent. */
void client_close(struct client *c);

/* After uv_run() returned: finishes the shutdown and frees what the
 * client owns. client_close() must have been called. */
void client_finish(struct client *c);

#endif
