/* One relay connection: its queue, its budget, closing it. See conn.h. */
#include "contrib/relay/conn.h"

#include <string.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/log.h"

#define MOD "relay"

void conn_init(struct relay_conn *c, struct relay *r, struct lws *wsi,
               const struct relay_clock *clock)
{
	memset(c, 0, sizeof(*c));
	c->relay = r;
	c->wsi = wsi;
	c->clock = clock;
	c->role = UPS_ROLE_NONE;
	c->connected_ms = relay_clock_now(clock);
	ups_outq_init(&c->outq, UPS_LIMIT_PRELOGIN_OUTQ_BYTES);
	if (!lws_get_peer_simple(wsi, c->addr, sizeof(c->addr)))
		c->addr[0] = '\0';
	c->live = true;
}

void conn_free(struct relay_conn *c)
{
	ups_outq_clear(&c->outq);
	ups_rxbuf_free(&c->rx);
	c->live = false;
}

void conn_logged_in(struct relay_conn *c, enum ups_role role)
{
	c->role = role;
	if (role == UPS_ROLE_PLUGIN) {
		c->outq.max_bytes = RELAY_LINK_DATA_BYTES;
		c->rx.text_max = RELAY_LINK_TEXT_MAX;
	} else {
		c->outq.max_bytes = UPS_LIMIT_OUTQ_BYTES;
	}
}

void conn_kill(struct relay_conn *c, const char *why, bool now)
{
	LOG_DEBUG(MOD, "origin %u (%s): dropping: %s", c->origin, c->addr,
	          why);
	c->closing = true;
	c->close_why = why;
	c->close_deadline_ms = relay_clock_now(c->clock) + 1000;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
	                now ? LWS_TO_KILL_SYNC : LWS_TO_KILL_ASYNC);
}

void conn_close_soon(struct relay_conn *c, const char *why)
{
	if (c->closing)
		return;
	LOG_DEBUG(MOD, "origin %u (%s): closing: %s", c->origin, c->addr,
	          why);
	c->closing = true;
	c->close_why = why;
	c->close_deadline_ms =
	    relay_clock_now(c->clock) + (RELAY_CLOSE_GRACE_SECS + 1) * 1000;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
	                RELAY_CLOSE_GRACE_SECS);
	lws_callback_on_writable(c->wsi);
}

bool conn_overdue(const struct relay_conn *c, uint64_t now_ms)
{
	return c->closing && now_ms >= c->close_deadline_ms;
}

static void conn_set_paused(struct relay_conn *c, bool on)
{
	if (c->paused == on)
		return;
	c->paused = on;
	if (on)
		c->paused_ms = relay_clock_now(c->clock);
	if (!c->closing)
		lws_rx_flow_control(c->wsi, on ? 0 : 1);
}

/* Our answers to c pile up: stop reading it above half its budget, read
 * again below a quarter. One that has not logged in and does not read
 * its answers is no client: it goes at once. */
static void conn_check_output(struct relay_conn *c)
{
	size_t high = c->outq.max_bytes / 2, low = c->outq.max_bytes / 4;

	if (c->role == UPS_ROLE_PLUGIN || c->closing)
		return;
	if (c->role == UPS_ROLE_NONE && c->outq.bytes > high) {
		LOG_INFO(MOD,
		         "connection from %s: not logged in and not reading "
		         "its answers; dropping it",
		         c->addr);
		conn_kill(c, "not reading before login", false);
	} else if (!c->paused && c->outq.bytes > high) {
		LOG_DEBUG(MOD, "origin %u: %zu bytes queued; pausing reads",
		          c->origin, c->outq.bytes);
		conn_set_paused(c, true);
	} else if (c->paused && c->outq.bytes < low) {
		conn_set_paused(c, false);
	}
}

/* What the relay queues after a push: a full queue means the peer does
 * not read; it is dropped, which also tells it that something was lost. */
static int conn_queued(struct relay_conn *c, int rv)
{
	if (rv == 0) {
		conn_check_output(c);
	} else if (rv != UPS_ERR_TOO_LARGE) {
		LOG_WARN(MOD, "origin %u (%s, %s): %s (%zu bytes queued); "
		              "dropping it",
		         c->origin, ups_role_name(c->role), c->addr,
		         rv == UPS_ERR_BUSY ? "its output queue is full"
		                            : ups_err_message(rv),
		         c->outq.bytes);
		conn_kill(c, "output queue full", false);
	}
	return rv;
}

int conn_send(struct relay_conn *c, json_t *env)
{
	int rv;

	if (!env)
		return conn_queued(c, UPS_ERR_NO_MEMORY);
	/* The relay's own messages to upstaged may use the reserve that
	 * forwarded traffic leaves free. */
	if (c->role == UPS_ROLE_PLUGIN)
		c->outq.max_bytes += RELAY_LINK_RESERVE_BYTES;
	rv = ups_outq_send_json(&c->outq, c->wsi, env);
	if (c->role == UPS_ROLE_PLUGIN)
		c->outq.max_bytes -= RELAY_LINK_RESERVE_BYTES;
	json_decref(env);
	return conn_queued(c, rv);
}

void conn_send_error(struct relay_conn *c, uint64_t request_id, int code,
                     const char *text)
{
	(void)conn_send(c, ups_env_error(request_id, code, text, NULL));
}

void conn_push_error(struct relay_conn *c, const char *what, int code,
                     const char *text)
{
	json_t *params = json_pack("{s:s, s:s}", "error",
	                           text ? text : ups_err_message(code),
	                           "error-code", ups_err_code(code));

	(void)conn_send(c, params ? ups_env_push("Error", what, params) : NULL);
}

int conn_send_chunk(struct relay_conn *c, const void *head, size_t hlen,
                    const void *payload, size_t len)
{
	return conn_queued(c, ups_outq_send(&c->outq, c->wsi, true, head,
	                                    hlen, payload, len));
}

int conn_writeable(struct relay_conn *c)
{
	int rv = ups_outq_write_one(&c->outq, c->wsi);

	if (rv < 0)
		return -1;
	if (rv == 0 && c->closing && !c->rx.active) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		                 NULL, 0);
		return -1;
	}
	if (c->paused && c->outq.bytes < c->outq.max_bytes / 4)
		conn_set_paused(c, false);
	return 0;
}
