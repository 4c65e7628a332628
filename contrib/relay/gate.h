/* The relay's limits on connections, as upstaged has them
 * (agent/net/server.h):
 *   max_sessions   client and machine connections at once, logged in or
 *                  not (the link from upstaged counts only until it has
 *                  logged in); more are refused;
 *   max_pending    connections not logged in yet; a new one beyond this
 *                  closes the oldest not logged in, so connections
 *                  without a token cannot lock anyone out;
 *   login_timeout  a connection not logged in by then is closed, whatever
 *                  it sends;
 *   stuck_timeout  a client or machine whose reads have been paused
 *                  (its answers pile up, conn.h) for this long is dropped.
 * A sweep timer enforces the times, drops connections still open past
 * their close deadline, and logs failed logins once per interval with
 * their count (proto/net/throttle.h). Loop thread only.
 *
 * The gate owns the relay's clock (clock.h), which connections borrow:
 * gate_config.now_ms replaces uv_now() of the loop, so that tests set
 * the time and call gate_sweep_now() instead of waiting for it. The
 * sweep timer still fires on the loop's own time: it decides when the
 * sweep looks, never what time it sees. */
#ifndef UPSTAGE_RELAY_GATE_H
#define UPSTAGE_RELAY_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "contrib/relay/clock.h"
#include "proto/net/throttle.h"

#define GATE_MAX_SESSIONS_DEFAULT     1024
#define GATE_MAX_PENDING_DEFAULT      256
#define GATE_LOGIN_TIMEOUT_S_DEFAULT  10
#define GATE_STUCK_TIMEOUT_S_DEFAULT  30

struct relay_conn;

struct gate_config {
	unsigned max_sessions;
	unsigned max_pending;
	uint64_t login_timeout_ms;
	uint64_t stuck_timeout_ms;
	/* The clock (clock.h); NULL: uv_now() of the loop. */
	uint64_t (*now_ms)(void *user);
	void *now_user; /* borrowed; passed to now_ms */
};

struct gate {
	uv_loop_t *loop; /* borrowed */
	struct gate_config cfg;
	struct relay_clock clock;      /* from cfg; connections borrow it */
	struct ups_throttle *throttle; /* borrowed: failed logins */
	struct relay_conn *all;        /* every live connection */
	unsigned count;                /* of those that are counted */
	struct relay_conn *pend_head, *pend_tail; /* oldest first */
	unsigned pending;
	uint64_t last_report_ms; /* of failed logins */
	uv_timer_t sweep;
	bool sweep_open;
	bool stopping;
};

/* The defaults above, on the loop's clock. */
void gate_config_default(struct gate_config *cfg);

/* Prepares g and starts its sweep. cfg is copied, throttle borrowed. 0 or
 * UPS_ERR_IO. */
int gate_init(struct gate *g, uv_loop_t *loop, const struct gate_config *cfg,
              struct ups_throttle *throttle);

/* The relay's time in milliseconds (relay_clock_now of its clock). */
uint64_t gate_now(const struct gate *g);

/* A new connection c (conn_init done): 0, or UPS_ERR_BUSY when it must be
 * refused (max-sessions, or shutting down). May close the oldest
 * connection not logged in to make room. */
int gate_admit(struct gate *g, struct relay_conn *c);

/* c logged in (its role is set). */
void gate_logged_in(struct gate *g, struct relay_conn *c);

/* c is closed (LWS_CALLBACK_CLOSED): forgotten. */
void gate_forget(struct gate *g, struct relay_conn *c);

/* One pass of the sweep (the timer's work; tests may call it). */
void gate_sweep_now(struct gate *g);

/* Shutdown: refuses new connections, drops every connection at once
 * (nothing waits for a peer to read), closes the timer. */
void gate_stop(struct gate *g);

#endif
