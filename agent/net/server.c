/* Accepted websocket connections: sessions, limits. */
#include "agent/net/server.h"

#include <string.h>

#include "proto/errors.h"
#include "proto/log.h"

/* How often the sweep runs: the times are honoured within this much. */
#define SERVER_SWEEP_MS 1000
/* How often failed logins are reported. */
#define SERVER_REPORT_MS 10000

static void server_report_failures(void *arg, const char *addr, uint64_t count)
{
	(void)arg;
	LOG_WARN("server", "%llu failed logins from %s in the last %d s",
	         (unsigned long long)count, addr, SERVER_REPORT_MS / 1000);
}

void server_sweep_now(struct server *srv)
{
	const struct server_config *cfg = &srv->cfg;
	uint64_t now = uv_now(srv->loop);
	struct session *s, *next;

	for (s = srv->sessions; s; s = next) {
		next = s->next; /* a kill frees s */
		if (session_overdue(s, now)) {
			LOG_INFO("server",
			         "session %llu: still open past its close; "
			         "dropping it",
			         (unsigned long long)s->peer.id);
			session_kill(s, s->close_why ? s->close_why : "overdue",
			             true);
			continue;
		}
		if (s->closing)
			continue;
		if (s->peer.role == UPS_ROLE_NONE &&
		    now - s->connected_ms >= cfg->login_timeout_ms) {
			LOG_INFO(
			    "server",
			    "session %llu (%s): not logged in after %llu "
			    "s; closing",
			    (unsigned long long)s->peer.id, s->peer.addr,
			    (unsigned long long)(cfg->login_timeout_ms / 1000));
			session_close(s, "login timeout");
		} else if (cfg->idle_timeout_ms &&
		           now - s->last_rx_ms >= cfg->idle_timeout_ms) {
			LOG_INFO(
			    "server", "session %llu: idle for %llu s; closing",
			    (unsigned long long)s->peer.id,
			    (unsigned long long)(cfg->idle_timeout_ms / 1000));
			session_close(s, "idle timeout");
		} else if ((s->paused & SESSION_PAUSE_OUTPUT) &&
		           now - s->output_paused_ms >= cfg->stuck_timeout_ms) {
			LOG_WARN("server",
			         "session %llu: reads none of its %zu bytes of "
			         "answers; closing",
			         (unsigned long long)s->peer.id, s->outq.bytes);
			/* A flush would wait on it: drop it now. */
			session_kill(s, "not reading", true);
		}
	}
	if (cfg->throttle && now - srv->last_report_ms >= SERVER_REPORT_MS) {
		srv->last_report_ms = now;
		ups_throttle_report(cfg->throttle, server_report_failures, srv);
	}
}

static void server_on_sweep(uv_timer_t *t)
{
	server_sweep_now(t->data);
}

int server_init(struct server *srv, uv_loop_t *loop, struct dispatch *dispatch,
                const struct server_config *cfg)
{
	int rv;

	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->dispatch = dispatch;
	srv->cfg = *cfg;
	srv->next_id = 1;
	srv->last_report_ms = uv_now(loop);
	rv = uv_timer_init(loop, &srv->sweep);
	if (rv)
		return UPS_ERR_IO;
	srv->sweep.data = srv;
	srv->sweep_open = true;
	rv = uv_timer_start(&srv->sweep, server_on_sweep, SERVER_SWEEP_MS,
	                    SERVER_SWEEP_MS);
	if (rv) {
		uv_close((uv_handle_t *)&srv->sweep, NULL);
		srv->sweep_open = false;
		return UPS_ERR_IO;
	}
	return 0;
}

/* The pending list: sessions not logged in yet, oldest first. */

static void server_pend_remove(struct server *srv, struct session *s)
{
	if (!s->pending)
		return;
	if (s->pend_prev)
		s->pend_prev->pend_next = s->pend_next;
	else
		srv->pend_head = s->pend_next;
	if (s->pend_next)
		s->pend_next->pend_prev = s->pend_prev;
	else
		srv->pend_tail = s->pend_prev;
	s->pend_prev = s->pend_next = NULL;
	s->pending = false;
	srv->pending--;
}

static void server_pend_add(struct server *srv, struct session *s)
{
	s->pend_prev = srv->pend_tail;
	s->pend_next = NULL;
	if (srv->pend_tail)
		srv->pend_tail->pend_next = s;
	else
		srv->pend_head = s;
	srv->pend_tail = s;
	s->pending = true;
	srv->pending++;
}

static void server_on_login(void *arg, struct session *s)
{
	server_pend_remove(arg, s);
}

static void server_unlink(struct server *srv, struct session *s)
{
	server_pend_remove(srv, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	srv->count--;
}

static int server_established(struct server *srv, struct lws *wsi,
                              struct session **slot)
{
	struct session *s;

	*slot = NULL;
	if (srv->stopping)
		return -1;
	if (srv->count >= srv->cfg.max_sessions) {
		LOG_WARN("server",
		         "refusing a connection: max-sessions (%u) "
		         "reached",
		         srv->cfg.max_sessions);
		return -1;
	}
	/* Too many not logged in: the oldest of them has had the longest
	 * to do it and makes room. */
	if (srv->pending >= srv->cfg.max_pending && srv->pend_head) {
		struct session *old = srv->pend_head;

		LOG_INFO("server",
		         "max-pending-sessions (%u) reached; closing session "
		         "%llu (%s), the oldest not logged in",
		         srv->cfg.max_pending, (unsigned long long)old->peer.id,
		         old->peer.addr);
		server_pend_remove(srv, old);
		session_close(old, "too many sessions not logged in");
	}
	s = session_new(wsi, srv->next_id++, srv->loop);
	if (!s) {
		LOG_ERROR("server", "out of memory for a new session");
		return -1;
	}
	lws_get_peer_simple(wsi, s->peer.addr, sizeof(s->peer.addr));
	s->on_login = server_on_login;
	s->on_login_arg = srv;
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->count++;
	server_pend_add(srv, s);
	*slot = s;
	LOG_DEBUG("server", "session %llu: connected (%u open)",
	          (unsigned long long)s->peer.id, srv->count);
	return 0;
}

static void server_closed(struct server *srv, struct session **slot)
{
	struct session *s = *slot;

	if (!s)
		return;
	*slot = NULL;
	LOG_DEBUG("server", "session %llu: closed",
	          (unsigned long long)s->peer.id);
	dispatch_forget(srv->dispatch, &s->peer);
	server_unlink(srv, s);
	session_free(s);
}

static void server_receive(struct server *srv, struct session *s,
                           const void *in, size_t len)
{
	srv->rx_bytes += len;
	struct ups_rxmsg msg;
	int rv;

	if (s->closing)
		return;
	s->last_rx_ms = uv_now(srv->loop);
	/* Only a peer that may upload gets a frame buffer at once. */
	s->rx.frames = s->peer.role == UPS_ROLE_CLIENT;
	rv = ups_rxbuf_feed(&s->rx, s->wsi, in, len, &msg);
	if (rv == UPS_ERR_TOO_LARGE) {
		dispatch_too_large(srv->dispatch, &s->peer);
		return;
	}
	if (rv == UPS_ERR_NO_MEMORY) {
		/* A message was dropped: its request would go unanswered. */
		session_close(s, "out of memory for a message");
		return;
	}
	if (rv != 1)
		return;
	if (msg.binary)
		dispatch_binary(srv->dispatch, &s->peer, msg.data, msg.len,
		                msg.frame_buf);
	else
		dispatch_text(srv->dispatch, &s->peer, (const char *)msg.data,
		              msg.len);
}

int server_callback(struct server *srv, struct lws *wsi,
                    enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
	struct session **slot = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return server_established(srv, wsi, slot);
	case LWS_CALLBACK_RECEIVE:
		if (*slot)
			server_receive(srv, *slot, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return *slot ? session_writeable(*slot) : -1;
	case LWS_CALLBACK_CLOSED:
		server_closed(srv, slot);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

void server_stop(struct server *srv)
{
	struct session *s;

	srv->stopping = true;
	for (s = srv->sessions; s; s = s->next)
		session_close(s, "shutting down");
	if (srv->sweep_open) {
		uv_timer_stop(&srv->sweep);
		uv_close((uv_handle_t *)&srv->sweep, NULL);
		srv->sweep_open = false;
	}
}

void server_free(struct server *srv)
{
	while (srv->sessions) {
		struct session *s = srv->sessions;

		dispatch_forget(srv->dispatch, &s->peer);
		server_unlink(srv, s);
		session_free(s);
	}
}

void server_count_roles(const struct server *srv,
                        unsigned counts[UPS_ROLE__COUNT])
{
	for (unsigned i = 0; i < UPS_ROLE__COUNT; i++)
		counts[i] = 0;
	for (const struct session *s = srv->sessions; s; s = s->next)
		if ((unsigned)s->peer.role < UPS_ROLE__COUNT)
			counts[s->peer.role]++;
}
