/* The listening side: the lws protocol callback for accepted websocket
 * connections, the session list, max-sessions and the idle timeout.
 * (Plain HTTP on the same port, /healthz included, is agent/net/http.h.) */
#ifndef UPSTAGE_AGENT_NET_SERVER_H
#define UPSTAGE_AGENT_NET_SERVER_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/rpc/dispatch.h"
#include "agent/net/session.h"

struct server {
	uv_loop_t *loop;           /* borrowed */
	struct dispatch *dispatch; /* borrowed */
	unsigned max_sessions;
	uint64_t idle_timeout_ms; /* 0: sessions never idle out */
	struct session *sessions; /* owned list */
	unsigned count;
	uint64_t next_id;
	uv_timer_t sweep; /* finds idle sessions */
	bool sweep_open;
	bool stopping;
};

/* Prepares srv; starts the idle sweep timer when idle_timeout_s > 0.
 * 0 or UPS_ERR_IO. */
int server_init(struct server *srv, uv_loop_t *loop, struct dispatch *dispatch,
                unsigned max_sessions, unsigned idle_timeout_s);

/* Handles the server-side websocket callback reasons; user is the wsi's
 * per-session slot (a struct session *). Other reasons go to lws's
 * default HTTP handler. */
int server_callback(struct server *srv, struct lws *wsi,
                    enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

/* Shutdown: refuse new sessions, ask every session to close (going
 * away), close the timer. lws then closes the connections. */
void server_stop(struct server *srv);

/* After the loop has ended: frees sessions lws never reported closed. */
void server_free(struct server *srv);

#endif
