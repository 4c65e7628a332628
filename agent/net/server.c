/* Accepted websocket connections: sessions, limits. */
#include "agent/net/server.h"

#include <string.h>

#include "proto/errors.h"
#include "proto/log.h"

/* How often idle sessions are looked for. The timeout is then honoured
 * within this much. */
#define SERVER_SWEEP_MS 1000

static void server_sweep(uv_timer_t *t)
{
	struct server *srv = t->data;
	uint64_t now = uv_now(srv->loop);
	struct session *s;

	for (s = srv->sessions; s; s = s->next) {
		if (s->closing || now - s->last_rx_ms < srv->idle_timeout_ms)
			continue;
		LOG_INFO("server", "session %llu: idle for %llu s; closing",
		         (unsigned long long)s->peer.id,
		         (unsigned long long)(srv->idle_timeout_ms / 1000));
		session_close(s, "idle timeout");
	}
}

int server_init(struct server *srv, uv_loop_t *loop, struct dispatch *dispatch,
                unsigned max_sessions, unsigned idle_timeout_s)
{
	int rv;

	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->dispatch = dispatch;
	srv->max_sessions = max_sessions;
	srv->idle_timeout_ms = (uint64_t)idle_timeout_s * 1000;
	srv->next_id = 1;
	if (idle_timeout_s == 0)
		return 0;
	rv = uv_timer_init(loop, &srv->sweep);
	if (rv)
		return UPS_ERR_IO;
	srv->sweep.data = srv;
	srv->sweep_open = true;
	rv = uv_timer_start(&srv->sweep, server_sweep, SERVER_SWEEP_MS,
	                    SERVER_SWEEP_MS);
	if (rv) {
		uv_close((uv_handle_t *)&srv->sweep, NULL);
		srv->sweep_open = false;
		return UPS_ERR_IO;
	}
	return 0;
}

static void server_unlink(struct server *srv, struct session *s)
{
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
	if (srv->count >= srv->max_sessions) {
		LOG_WARN("server",
		         "refusing a connection: max-sessions (%u) "
		         "reached",
		         srv->max_sessions);
		return -1;
	}
	s = session_new(wsi, srv->next_id++, uv_now(srv->loop));
	if (!s) {
		LOG_ERROR("server", "out of memory for a new session");
		return -1;
	}
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->count++;
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
	struct ups_rxmsg msg;
	int rv;

	if (s->closing)
		return;
	s->last_rx_ms = uv_now(srv->loop);
	rv = ups_rxbuf_feed(&s->rx, s->wsi, in, len, &msg);
	if (rv == UPS_ERR_TOO_LARGE) {
		dispatch_too_large(srv->dispatch, &s->peer);
		return;
	}
	if (rv != 1)
		return;
	if (msg.binary)
		dispatch_binary(srv->dispatch, &s->peer, msg.data, msg.len);
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
