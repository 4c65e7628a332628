/* The listening side: the lws protocol callback for accepted connections
 * (websocket sessions; plain HTTP on the same port, /healthz included, is
 * agent/net/http.h), the session list and the limits on them:
 *   max_sessions   sessions at once; more are refused;
 *   max_pending    sessions not logged in yet; a new one beyond this
 *                  closes the oldest not logged in (so connections
 *                  without a token cannot lock anyone out);
 *   login_timeout  a session not logged in by then is closed, whatever
 *                  it sends;
 *   idle_timeout   a session that sent nothing for this long is closed;
 *   stuck_timeout  a session whose answers have piled up (its reads are
 *                  paused) and that has not read them for this long is
 *                  closed.
 * A sweep timer enforces the times and logs failed logins once per
 * interval with their count (proto/net/throttle.h). */
#ifndef UPSTAGE_AGENT_NET_SERVER_H
#define UPSTAGE_AGENT_NET_SERVER_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/net/session.h"
#include "agent/rpc/dispatch.h"
#include "proto/net/throttle.h"

struct server_config {
	unsigned max_sessions;
	unsigned max_pending;
	uint64_t login_timeout_ms;
	uint64_t idle_timeout_ms; /* 0: sessions never idle out */
	uint64_t stuck_timeout_ms;
	/* Failed logins per address, reported by the sweep; borrowed, may
	 * be NULL. */
	struct ups_throttle *throttle;
};

struct server {
	uv_loop_t *loop;           /* borrowed */
	struct dispatch *dispatch; /* borrowed */
	struct server_config cfg;
	struct session *sessions; /* owned list */
	unsigned count;
	struct session *pend_head, *pend_tail; /* not logged in, oldest first */
	unsigned pending;
	uint64_t next_id;
	uint64_t last_report_ms; /* of failed logins */
	uint64_t rx_bytes;       /* websocket payload received, ever */
	uv_timer_t sweep;
	bool sweep_open;
	bool stopping;
};

/* Sessions now by role (counts[UPS_ROLE__COUNT]; UPS_ROLE_NONE: not
 * logged in yet). */
void server_count_roles(const struct server *srv,
                        unsigned counts[UPS_ROLE__COUNT]);

/* Prepares srv and starts the sweep timer. cfg is copied. 0 or
 * UPS_ERR_IO. */
int server_init(struct server *srv, uv_loop_t *loop, struct dispatch *dispatch,
                const struct server_config *cfg);

/* Handles the server-side websocket callback reasons; user is the wsi's
 * per-session slot (a struct session *). Other reasons go to lws's
 * default HTTP handler. */
int server_callback(struct server *srv, struct lws *wsi,
                    enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

/* One pass of the sweep (the timer's work; tests call it): closes
 * sessions past their login, idle or stuck time, reports failed logins. */
void server_sweep_now(struct server *srv);

/* Shutdown: refuse new sessions, ask every session to close (going
 * away), close the timer. lws then closes the connections. */
void server_stop(struct server *srv);

/* After the loop has ended: frees sessions lws never reported closed. */
void server_free(struct server *srv);

#endif
