/* Direct websocket sessions. */
#include "agent/net/session.h"

#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/log.h"

/* How long a closing session may take to flush its queue to a peer that
 * does not read. */
#define SESSION_CLOSE_GRACE_S 5

/* Pauses (reason set) or resumes reading; lws is told only when the
 * session goes from no reason to some, or back. */
static void session_set_paused(struct session *s, unsigned reason, bool on)
{
	unsigned before = s->paused;

	if (on)
		s->paused |= reason;
	else
		s->paused &= ~reason;
	if (s->closing || !before == !s->paused)
		return;
	lws_rx_flow_control(s->wsi, s->paused ? 0 : 1);
}

/* Our answers to s pile up: stop reading it above half its budget. One
 * that has not logged in and does not read its answers is no client: it
 * goes at once. */
static void session_check_output(struct session *s)
{
	size_t high = s->outq.max_bytes / 2, low = s->outq.max_bytes / 4;

	if (s->peer.role == UPS_ROLE_NONE && s->outq.bytes > high) {
		LOG_INFO("session",
		         "session %llu (%s): not logged in and not reading "
		         "its answers; closing",
		         (unsigned long long)s->peer.id, s->peer.addr);
		session_kill(s, "not reading before login", false);
		return;
	}
	if (!(s->paused & SESSION_PAUSE_OUTPUT) && s->outq.bytes > high) {
		LOG_DEBUG("session",
		          "session %llu: %zu bytes of answers queued; "
		          "pausing reads",
		          (unsigned long long)s->peer.id, s->outq.bytes);
		s->output_paused_ms = uv_now(s->loop);
		session_set_paused(s, SESSION_PAUSE_OUTPUT, true);
	} else if ((s->paused & SESSION_PAUSE_OUTPUT) && s->outq.bytes < low) {
		session_set_paused(s, SESSION_PAUSE_OUTPUT, false);
	}
}

static int session_peer_send(struct peer *p, json_t *env)
{
	struct session *s = session_from_peer(p);
	int rv;

	if (s->closing)
		return UPS_ERR_UNAVAILABLE;
	rv = ups_outq_send_json(&s->outq, s->wsi, env);
	if (rv == UPS_ERR_BUSY) {
		/* The peer stopped reading: its queue would only grow. */
		LOG_WARN(
		    "session",
		    "session %llu: output queue full (%zu of %zu bytes%s); "
		    "dropping the connection",
		    (unsigned long long)p->id, s->outq.bytes, s->outq.max_bytes,
		    p->role == UPS_ROLE_NONE ? ", not logged in" : "");
		s->closing = true;
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
	} else if (rv == 0) {
		session_check_output(s);
	}
	return rv;
}

static void session_peer_close(struct peer *p, const char *why)
{
	session_close(session_from_peer(p), why);
}

static void session_peer_rx_pause(struct peer *p, int pause)
{
	session_set_paused(session_from_peer(p), SESSION_PAUSE_UPLOAD,
	                   pause != 0);
}

/* Logged in: the full output budget, and the server is told. */
static void session_peer_role_set(struct peer *p)
{
	struct session *s = session_from_peer(p);

	if (p->role == UPS_ROLE_NONE)
		return;
	s->outq.max_bytes = UPS_LIMIT_OUTQ_BYTES;
	if (s->on_login)
		s->on_login(s->on_login_arg, s);
}

static const struct peer_ops session_peer_ops = {
    .send = session_peer_send,
    .close = session_peer_close,
    .rx_pause = session_peer_rx_pause,
    .role_set = session_peer_role_set,
};

struct session *session_new(struct lws *wsi, uint64_t id, uv_loop_t *loop)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->peer.ops = &session_peer_ops;
	s->peer.kind = PEER_DIRECT;
	s->peer.role = UPS_ROLE_NONE;
	s->peer.id = id;
	s->wsi = wsi;
	s->loop = loop;
	s->connected_ms = s->last_rx_ms = uv_now(loop);
	ups_outq_init(&s->outq, UPS_LIMIT_PRELOGIN_OUTQ_BYTES);
	return s;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	ups_outq_clear(&s->outq);
	ups_rxbuf_free(&s->rx);
	free(s);
}

void session_close(struct session *s, const char *why)
{
	if (s->closing)
		return;
	LOG_DEBUG("session", "session %llu: closing: %s",
	          (unsigned long long)s->peer.id, why);
	s->closing = true;
	s->close_why = why;
	s->close_deadline_ms =
	    uv_now(s->loop) + (SESSION_CLOSE_GRACE_S + 1) * 1000;
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, SESSION_CLOSE_GRACE_S);
	lws_callback_on_writable(s->wsi);
}

void session_kill(struct session *s, const char *why, bool now)
{
	LOG_DEBUG("session", "session %llu: dropping: %s",
	          (unsigned long long)s->peer.id, why);
	s->closing = true;
	s->close_why = why;
	s->close_deadline_ms = uv_now(s->loop) + 1000;
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK,
	                now ? LWS_TO_KILL_SYNC : LWS_TO_KILL_ASYNC);
}

bool session_overdue(const struct session *s, uint64_t now_ms)
{
	return s->closing && now_ms >= s->close_deadline_ms;
}

int session_writeable(struct session *s)
{
	int rv;

	if (!ups_outq_empty(&s->outq)) {
		rv = ups_outq_write_one(&s->outq, s->wsi);
		if (rv < 0)
			return -1;
		if (!s->closing)
			session_check_output(s);
		/* The last message may still sit in lws's send buffer; the
		 * next WRITEABLE comes once it has gone, and closes then. */
		if (rv == 0 && s->closing)
			lws_callback_on_writable(s->wsi);
		return 0;
	}
	/* Everything queued has gone. lws 4.1 marks a socket unusable before
	 * it could send a close frame when WRITEABLE returns -1, so the peer
	 * sees the connection end after the last message. */
	if (s->closing) {
		LOG_DEBUG("session", "session %llu: closed by us: %s",
		          (unsigned long long)s->peer.id, s->close_why);
		return -1;
	}
	return 0;
}
