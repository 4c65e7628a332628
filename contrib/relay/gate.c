/* The relay's limits on connections and their sweep; see gate.h. */
#include "contrib/relay/gate.h"

#include <string.h>

#include "contrib/relay/conn.h"
#include "proto/errors.h"
#include "proto/log.h"

#define MOD "relay"

/* How often the sweep runs: the times are honoured within this much. */
#define GATE_SWEEP_MS 1000
/* How often failed logins are reported. */
#define GATE_REPORT_MS 10000

void gate_config_default(struct gate_config *cfg)
{
	cfg->max_sessions = GATE_MAX_SESSIONS_DEFAULT;
	cfg->max_pending = GATE_MAX_PENDING_DEFAULT;
	cfg->login_timeout_ms = GATE_LOGIN_TIMEOUT_S_DEFAULT * 1000;
	cfg->stuck_timeout_ms = GATE_STUCK_TIMEOUT_S_DEFAULT * 1000;
	cfg->now_ms = NULL;
	cfg->now_user = NULL;
}

uint64_t gate_now(const struct gate *g)
{
	return relay_clock_now(&g->clock);
}

static void gate_report_failures(void *arg, const char *addr, uint64_t count)
{
	(void)arg;
	LOG_WARN(MOD, "%llu failed logins from %s in the last %d s",
	         (unsigned long long)count, addr, GATE_REPORT_MS / 1000);
}

void gate_sweep_now(struct gate *g)
{
	uint64_t now = gate_now(g);
	struct relay_conn *c, *next;

	for (c = g->all; c; c = next) {
		next = c->all_next; /* a kill frees c */
		if (conn_overdue(c, now)) {
			LOG_INFO(MOD,
			         "connection from %s (origin %u): still open "
			         "past its close (%s); dropping it",
			         c->addr, c->origin,
			         c->close_why ? c->close_why : "?");
			conn_kill(c, "overdue", true);
		} else if (c->closing) {
			continue;
		} else if (c->role == UPS_ROLE_NONE &&
		           now - c->connected_ms >= g->cfg.login_timeout_ms) {
			LOG_INFO(MOD,
			         "connection from %s: not logged in after "
			         "%llu ms; closing it",
			         c->addr,
			         (unsigned long long)g->cfg.login_timeout_ms);
			conn_close_soon(c, "login timeout");
		} else if (c->paused &&
		           now - c->paused_ms >= g->cfg.stuck_timeout_ms) {
			LOG_WARN(MOD,
			         "origin %u (%s): reads none of its %zu bytes "
			         "of answers; dropping it",
			         c->origin, c->addr, c->outq.bytes);
			/* A flush would wait on it: drop it now. */
			conn_kill(c, "not reading", true);
		}
	}
	if (g->throttle && now - g->last_report_ms >= GATE_REPORT_MS) {
		g->last_report_ms = now;
		ups_throttle_report(g->throttle, gate_report_failures, g);
	}
}

static void gate_on_sweep(uv_timer_t *t)
{
	gate_sweep_now(t->data);
}

int gate_init(struct gate *g, uv_loop_t *loop, const struct gate_config *cfg,
              struct ups_throttle *throttle)
{
	memset(g, 0, sizeof(*g));
	g->loop = loop;
	g->cfg = *cfg;
	g->clock.loop = loop;
	g->clock.now_ms = cfg->now_ms;
	g->clock.user = cfg->now_user;
	g->throttle = throttle;
	g->last_report_ms = gate_now(g);
	if (uv_timer_init(loop, &g->sweep))
		return UPS_ERR_IO;
	g->sweep.data = g;
	g->sweep_open = true;
	if (uv_timer_start(&g->sweep, gate_on_sweep, GATE_SWEEP_MS,
	                   GATE_SWEEP_MS)) {
		uv_close((uv_handle_t *)&g->sweep, NULL);
		g->sweep_open = false;
		return UPS_ERR_IO;
	}
	return 0;
}

static void gate_pend_remove(struct gate *g, struct relay_conn *c)
{
	if (!c->pending)
		return;
	if (c->pend_prev)
		c->pend_prev->pend_next = c->pend_next;
	else
		g->pend_head = c->pend_next;
	if (c->pend_next)
		c->pend_next->pend_prev = c->pend_prev;
	else
		g->pend_tail = c->pend_prev;
	c->pend_prev = c->pend_next = NULL;
	c->pending = false;
	g->pending--;
}

static void gate_pend_add(struct gate *g, struct relay_conn *c)
{
	c->pend_prev = g->pend_tail;
	c->pend_next = NULL;
	if (g->pend_tail)
		g->pend_tail->pend_next = c;
	else
		g->pend_head = c;
	g->pend_tail = c;
	c->pending = true;
	g->pending++;
}

int gate_admit(struct gate *g, struct relay_conn *c)
{
	if (g->stopping)
		return UPS_ERR_BUSY;
	if (g->count >= g->cfg.max_sessions) {
		LOG_WARN(MOD,
		         "refusing a connection from %s: max-sessions (%u) "
		         "reached",
		         c->addr, g->cfg.max_sessions);
		return UPS_ERR_BUSY;
	}
	/* Too many not logged in: the oldest of them has had the longest
	 * to do it and makes room. */
	if (g->pending >= g->cfg.max_pending && g->pend_head) {
		struct relay_conn *old = g->pend_head;

		LOG_INFO(MOD,
		         "max-pending-sessions (%u) reached; closing the "
		         "oldest connection not logged in (from %s)",
		         g->cfg.max_pending, old->addr);
		gate_pend_remove(g, old);
		conn_close_soon(old, "too many connections not logged in");
	}
	c->all_prev = NULL;
	c->all_next = g->all;
	if (g->all)
		g->all->all_prev = c;
	g->all = c;
	c->counted = true;
	g->count++;
	gate_pend_add(g, c);
	return 0;
}

void gate_logged_in(struct gate *g, struct relay_conn *c)
{
	gate_pend_remove(g, c);
	/* The link must always find room: once it is upstaged's, it does
	 * not take a client's slot. */
	if (c->role == UPS_ROLE_PLUGIN && c->counted) {
		c->counted = false;
		g->count--;
	}
}

void gate_forget(struct gate *g, struct relay_conn *c)
{
	gate_pend_remove(g, c);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else if (g->all == c)
		g->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	c->all_prev = c->all_next = NULL;
	if (c->counted) {
		c->counted = false;
		g->count--;
	}
}

void gate_stop(struct gate *g)
{
	g->stopping = true;
	/* Each kill takes its connection off the list (gate_forget, through
	 * LWS_CALLBACK_CLOSED) before it returns. */
	while (g->all) {
		struct relay_conn *c = g->all;

		conn_kill(c, "shutting down", true);
		if (g->all == c) {
			/* lws did not close it now: do not spin on it. */
			gate_forget(g, c);
		}
	}
	if (g->sweep_open) {
		uv_timer_stop(&g->sweep);
		uv_close((uv_handle_t *)&g->sweep, NULL);
		g->sweep_open = false;
	}
}
