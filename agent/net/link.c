/* The controller link. */
#include "agent/net/link.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/net/backoff.h"
#include "proto/chunk.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/log.h"
#include "proto/net/url.h"

static void link_connect_failed(struct link *l, const char *why);

/* The link carries every relayed connection's answers, so it may queue
 * more than one session. It should never fill: reading from the relay
 * pauses while answers pile up (one client flooding requests is then
 * slowed down at the relay, which answers it busy), and resumes once they
 * drained (LINK_RX_PAUSE_BYTES, LINK_RX_RESUME_BYTES in link.h). */
#define LINK_OUTQ_MAX (8 * UPS_LIMIT_OUTQ_BYTES)

static const char *const link_state_names[] = {
    [LINK_WAITING] = "waiting",
    [LINK_RESOLVING] = "resolving",
    [LINK_CONNECTING] = "connecting",
    [LINK_LOGGING_IN] = "logging-in",
    [LINK_UP] = "up",
    [LINK_STOPPED] = "stopped",
};

static void link_set_state(struct link *l, enum link_state state)
{
	if (l->state == state)
		return;
	LOG_INFO("link", "controller link %s -> %s", link_state_names[l->state],
	         link_state_names[state]);
	l->state = state;
}

static uint64_t link_xorshift(void *user)
{
	struct link *l = user;

	return backoff_xorshift(&l->rng);
}

/* Relayed peers. */

static int link_peer_send(struct peer *p, json_t *env)
{
	struct link_peer *lp = (struct link_peer *)p;
	struct link *l = lp->link;
	int rv;

	if (l->state != LINK_UP || !l->wsi || l->dying)
		return UPS_ERR_UNAVAILABLE;
	rv = ups_env_set_origin(env, lp->origin);
	if (rv)
		return rv;
	rv = ups_outq_send_json(&l->outq, l->wsi, env);
	if (rv == UPS_ERR_BUSY) {
		/* The relay is not reading: a link that cannot carry answers
		 * is worth less than a fresh one. */
		LOG_WARN("link", "controller link output queue full; "
		                 "reconnecting");
		l->dying = true;
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
	}
	return rv;
}

static void link_peer_close(struct peer *p, const char *why)
{
	/* The relay owns that connection; nothing here can close it, and
	 * nothing that reaches it needs closing (the relay logged it in). */
	LOG_DEBUG("link", "origin %llu: close asked (%s); left to the relay",
	          (unsigned long long)p->id, why);
}

static const struct peer_ops link_peer_ops = {
    .send = link_peer_send,
    .close = link_peer_close,
};

static struct link_peer **link_bucket(struct link *l, uint32_t origin)
{
	return &l->peers[origin % LINK_BUCKETS];
}

static struct link_peer *link_peer_find(struct link *l, uint32_t origin)
{
	struct link_peer *lp;

	for (lp = *link_bucket(l, origin); lp; lp = lp->next)
		if (lp->origin == origin)
			return lp;
	return NULL;
}

static void link_peer_remove(struct link *l, uint32_t origin)
{
	struct link_peer **pp = link_bucket(l, origin);

	for (; *pp; pp = &(*pp)->next) {
		struct link_peer *lp = *pp;

		if (lp->origin != origin)
			continue;
		*pp = lp->next;
		dispatch_forget(l->dispatch, &lp->peer);
		free(lp);
		l->npeers--;
		return;
	}
}

static void link_peers_clear(struct link *l)
{
	size_t i;

	for (i = 0; i < LINK_BUCKETS; i++) {
		while (l->peers[i]) {
			struct link_peer *lp = l->peers[i];

			l->peers[i] = lp->next;
			dispatch_forget(l->dispatch, &lp->peer);
			free(lp);
		}
	}
	l->npeers = 0;
}

static int link_peer_open(struct link *l, uint32_t origin, enum ups_role role)
{
	struct link_peer *lp = link_peer_find(l, origin);

	if (lp) {
		/* A repeat (e.g. after a relink race): take the new role. */
		dispatch_set_role(l->dispatch, &lp->peer, role);
		return 0;
	}
	lp = calloc(1, sizeof(*lp));
	if (!lp)
		return UPS_ERR_NO_MEMORY;
	lp->peer.ops = &link_peer_ops;
	lp->peer.kind = PEER_RELAYED;
	lp->peer.id = origin;
	lp->link = l;
	lp->origin = origin;
	dispatch_set_role(l->dispatch, &lp->peer, role);
	lp->next = *link_bucket(l, origin);
	*link_bucket(l, origin) = lp;
	l->npeers++;
	return 0;
}

/* Connection attempts. */

static void link_on_timer(uv_timer_t *t)
{
	link_wait_over(t->data);
}

/* The link is waiting: the next attempt comes after delay_ms. */
static void link_wait(struct link *l, uint64_t delay_ms)
{
	if (l->wait)
		l->wait(l->wait_user, delay_ms);
	else
		uv_timer_start(&l->timer, link_on_timer, delay_ms, 0);
}

static void link_schedule(struct link *l)
{
	uint64_t delay;

	if (l->state == LINK_STOPPED)
		return;
	delay = backoff_delay_ms(l->attempt, l->backoff_initial_ms,
	                         l->backoff_max_ms, l->random, l->random_user);
	if (l->attempt < 64)
		l->attempt++;
	link_set_state(l, LINK_WAITING);
	LOG_INFO("link", "controller link: next attempt in %llu ms",
	         (unsigned long long)delay);
	link_wait(l, delay);
}

static void link_connect(struct link *l, const char *address)
{
	struct lws *wsi;

	ups_outq_clear(&l->outq);
	ups_rxbuf_free(&l->rx);
	l->wsi = NULL;
	l->rx_paused = false;
	l->dying = false;
	link_set_state(l, LINK_CONNECTING);
	LOG_INFO("link", "controller link: connecting to %s (%s) port %d",
	         l->url.host, address, l->url.port);
	wsi = ups_ws_connect(l->ws, &l->url, address, l);
	/* lws may already have reported the failure through the callback,
	 * which then rescheduled; only a silent failure is ours to handle. */
	if (!wsi) {
		if (l->state == LINK_CONNECTING)
			link_connect_failed(l, "cannot start the connection");
		return;
	}
	if (l->state == LINK_CONNECTING)
		l->wsi = wsi;
}

static void link_on_resolved(uv_getaddrinfo_t *req, int status,
                             struct addrinfo *res)
{
	struct link *l = req->data;
	char address[INET6_ADDRSTRLEN];
	const void *addr;

	l->resolving = false;
	if (l->state != LINK_RESOLVING) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status < 0 || !res) {
		LOG_WARN("link", "controller link: cannot resolve %s: %s",
		         l->url.host, uv_strerror(status));
		uv_freeaddrinfo(res);
		link_schedule(l);
		return;
	}
	if (res->ai_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	else
		addr = &((struct sockaddr_in *)res->ai_addr)->sin_addr;
	if (!inet_ntop(res->ai_family, addr, address, sizeof(address))) {
		uv_freeaddrinfo(res);
		link_schedule(l);
		return;
	}
	uv_freeaddrinfo(res);
	link_connect(l, address);
}

void link_wait_over(struct link *l)
{
	struct addrinfo hints;
	int rv;

	if (l->state != LINK_WAITING)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	link_set_state(l, LINK_RESOLVING);
	l->resolver.data = l;
	rv = uv_getaddrinfo(l->loop, &l->resolver, link_on_resolved,
	                    l->url.host, NULL, &hints);
	if (rv) {
		LOG_WARN("link", "controller link: cannot resolve %s: %s",
		         l->url.host, uv_strerror(rv));
		link_schedule(l);
		return;
	}
	l->resolving = true;
}

/* The connection ended (or never started): forget what lived on it. */
static void link_down(struct link *l, const char *why)
{
	bool was_up = l->state == LINK_UP;

	l->wsi = NULL;
	link_peers_clear(l);
	ups_outq_clear(&l->outq);
	ups_rxbuf_free(&l->rx);
	if (was_up)
		LOG_WARN("link", "controller link down: %s", why);
	else
		LOG_WARN("link", "controller link: %s", why);
	link_schedule(l);
}

static void link_connect_failed(struct link *l, const char *why)
{
	link_down(l, why);
}

/* Messages from the relay. */

static void link_send_login(struct link *l)
{
	json_t *params =
	    json_pack("{s:s, s:s}", "role", "plugin", "token", l->token);
	json_t *env;
	int rv;

	l->login_request_id = l->next_request_id++;
	env = ups_env_request(l->login_request_id, "Admin", 1, "Login", params);
	if (!env) {
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
		return;
	}
	rv = ups_outq_send_json(&l->outq, l->wsi, env);
	json_decref(env);
	if (rv)
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
}

static void link_login_answer(struct link *l, const struct ups_envelope *env)
{
	if (env->kind == UPS_ENV_ERROR) {
		LOG_ERROR("link", "controller link: login refused: %s (%s)",
		          env->error_text ? env->error_text : "",
		          env->error_code_text);
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
		return;
	}
	l->attempt = 0;
	link_set_state(l, LINK_UP);
	LOG_INFO("link", "controller link up (%s:%d)", l->url.host,
	         l->url.port);
	fputs("controller link up\n", stdout);
	fflush(stdout);
}

static void link_relay_push(struct link *l, const struct ups_envelope *env)
{
	char err[UPS_ERRMSG_MAX];
	int64_t origin = 0;
	const char *role_name = NULL;
	enum ups_role role;
	struct ups_field opened[] = {
	    {"origin", UPS_FIELD_INT, true, 1, UPS_LIMIT_ORIGIN_MAX, &origin},
	    {"role", UPS_FIELD_STRING, true, 0, UPS_LIMIT_ROLE_LEN, &role_name},
	};
	int rv;

	if (strcmp(env->request, "Opened") == 0) {
		rv = ups_fields_unpack(env->params, "params", opened, 2, err,
		                       sizeof(err));
		if (!rv && (ups_role_parse(role_name, &role) ||
		            role == UPS_ROLE_PLUGIN)) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, sizeof(err),
			              "bad role \"%s\"", role_name);
		}
		if (!rv)
			rv = link_peer_open(l, (uint32_t)origin, role);
		if (rv)
			LOG_WARN("link", "bad Relay.Opened: %s", err);
		else
			LOG_DEBUG("link", "origin %lld opened (%s)",
			          (long long)origin, role_name);
		return;
	}
	if (strcmp(env->request, "Closed") == 0) {
		rv = ups_fields_unpack(env->params, "params", opened, 1, err,
		                       sizeof(err));
		if (rv) {
			LOG_WARN("link", "bad Relay.Closed: %s", err);
			return;
		}
		link_peer_remove(l, (uint32_t)origin);
		LOG_DEBUG("link", "origin %lld closed", (long long)origin);
		return;
	}
	LOG_WARN("link", "unknown push Relay.%s from the relay", env->request);
}

static void link_text(struct link *l, const char *buf, size_t len)
{
	struct ups_envelope env;
	char err[UPS_ERRMSG_MAX];
	struct link_peer *lp;
	int rv;

	memset(&env, 0, sizeof(env));
	err[0] = '\0';
	rv = ups_envelope_parse(buf, len, &env, err, sizeof(err));
	if (rv) {
		/* Most likely a client's bad message passed through with its
		 * origin: answer that client (the answer carries the origin
		 * when it can be salvaged). */
		json_t *answer =
		    ups_env_malformed(buf, len, rv, err[0] ? err : NULL);

		LOG_DEBUG("link", "malformed message over the link: %s", err);
		if (answer && json_object_get(answer, "origin") && l->wsi)
			ups_outq_send_json(&l->outq, l->wsi, answer);
		json_decref(answer);
		return;
	}
	if (l->state == LINK_LOGGING_IN) {
		if ((env.kind == UPS_ENV_RESPONSE ||
		     env.kind == UPS_ENV_ERROR) &&
		    !env.has_origin && env.request_id == l->login_request_id)
			link_login_answer(l, &env);
		else
			LOG_WARN("link", "unexpected message before the link's "
			                 "login answer; ignored");
		goto out;
	}
	if (l->state != LINK_UP)
		goto out;
	if (!env.has_origin) {
		if (env.kind == UPS_ENV_PUSH && strcmp(env.type, "Relay") == 0)
			link_relay_push(l, &env);
		else
			LOG_WARN("link",
			         "message without origin from the relay "
			         "(%s.%s); ignored",
			         env.type, env.request);
		goto out;
	}
	lp = link_peer_find(l, env.origin);
	if (lp) {
		dispatch_envelope(l->dispatch, &lp->peer, &env);
	} else {
		/* The relay forwards only for connections it announced; a
		 * stranger is answered as not logged in. */
		struct link_peer tmp;

		memset(&tmp, 0, sizeof(tmp));
		tmp.peer.ops = &link_peer_ops;
		tmp.peer.kind = PEER_RELAYED;
		tmp.peer.id = env.origin;
		tmp.link = l;
		tmp.origin = env.origin;
		dispatch_envelope(l->dispatch, &tmp.peer, &env);
	}
out:
	ups_envelope_clear(&env);
}

static void link_binary(struct link *l, const uint8_t *data, size_t len,
                        uint8_t **frame_buf)
{
	struct link_peer *lp;
	uint32_t origin;

	if (l->state != LINK_UP)
		return;
	if (ups_chunk_get_origin(data, len, &origin) || origin == 0) {
		LOG_WARN("link", "binary message without origin over the "
		                 "link; ignored");
		return;
	}
	lp = link_peer_find(l, origin);
	if (!lp) {
		LOG_DEBUG("link", "chunk for unknown origin %u; ignored",
		          origin);
		return;
	}
	dispatch_binary(l->dispatch, &lp->peer, data, len, frame_buf);
}

static void link_receive(struct link *l, const void *in, size_t len)
{
	struct ups_rxmsg msg;
	int rv;

	/* The relay forwards its clients' chunk frames. */
	l->rx.frames = true;
	rv = ups_rxbuf_feed(&l->rx, l->wsi, in, len, &msg);
	if (rv == UPS_ERR_TOO_LARGE || rv == UPS_ERR_NO_MEMORY) {
		/* Oversized: the relay enforces the same limits, so it
		 * cannot be trusted to frame the stream any more. No
		 * memory: a message was dropped, and a request would go
		 * unanswered. Either way, start afresh. */
		LOG_WARN("link", "%s from the relay; reconnecting",
		         rv == UPS_ERR_TOO_LARGE
		             ? "oversized message"
		             : "no memory for a message");
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
		return;
	}
	if (rv != 1)
		return;
	if (msg.binary)
		link_binary(l, msg.data, msg.len, msg.frame_buf);
	else
		link_text(l, (const char *)msg.data, msg.len);
	if (!l->rx_paused && l->wsi && l->outq.bytes > LINK_RX_PAUSE_BYTES) {
		LOG_DEBUG("link", "%zu bytes of answers queued; pausing reads",
		          l->outq.bytes);
		l->rx_paused = true;
		lws_rx_flow_control(l->wsi, 0);
	}
}

static int link_writeable(struct link *l, struct lws *wsi)
{
	if (ups_outq_write_one(&l->outq, wsi) < 0)
		return -1;
	if (l->rx_paused && l->outq.bytes < LINK_RX_RESUME_BYTES) {
		LOG_DEBUG("link", "answers drained; resuming reads");
		l->rx_paused = false;
		lws_rx_flow_control(wsi, 1);
	}
	return 0;
}

int link_callback(struct link *l, struct lws *wsi,
                  enum lws_callback_reasons reason, void *in, size_t len)
{
	char why[UPS_ERRMSG_MAX + 300];

	/* A stale connection (one given up on) has nothing to say. */
	if (l->wsi && wsi != l->wsi)
		return reason == LWS_CALLBACK_CLIENT_WRITEABLE ? -1 : 0;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (l->state != LINK_CONNECTING)
			return 0;
		snprintf(why, sizeof(why),
		         "cannot connect to %.255s:%d: %.200s", l->url.host,
		         l->url.port,
		         in ? (const char *)in : "connection failed");
		link_connect_failed(l, why);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (l->state != LINK_CONNECTING)
			return -1;
		l->wsi = wsi;
		link_set_state(l, LINK_LOGGING_IN);
		link_send_login(l);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		link_receive(l, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return link_writeable(l, wsi);
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		if (l->state == LINK_STOPPED) {
			l->wsi = NULL;
			return 0;
		}
		if (l->state == LINK_CONNECTING ||
		    l->state == LINK_LOGGING_IN || l->state == LINK_UP)
			link_down(l, "connection closed");
		return 0;
	default:
		return 0;
	}
}

bool link_owns(const struct link *l, const struct lws *wsi)
{
	return l->wsi != NULL && l->wsi == wsi;
}

const char *link_state_name(const struct link *l)
{
	return l->state == LINK_UP ? "connected" : "disconnected";
}

int link_init(struct link *l, uv_loop_t *loop, struct ups_ws *ws,
              struct dispatch *dispatch, const char *url, const char *token,
              uint64_t backoff_initial_ms, uint64_t backoff_max_ms, char *err,
              size_t errlen)
{
	int rv;

	memset(l, 0, sizeof(*l));
	rv = ups_url_parse(url, &l->url, err, errlen);
	if (rv)
		return rv;
	if (strlen(token) >= sizeof(l->token))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "controller token too long");
	strcpy(l->token, token);
	l->loop = loop;
	l->ws = ws;
	l->dispatch = dispatch;
	l->backoff_initial_ms = backoff_initial_ms;
	l->backoff_max_ms = backoff_max_ms;
	l->rng =
	    uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)l;
	if (l->rng == 0)
		l->rng = 0x9e3779b97f4a7c15ULL;
	l->random = link_xorshift;
	l->random_user = l;
	l->next_request_id = 1;
	l->state = LINK_WAITING;
	ups_outq_init(&l->outq, LINK_OUTQ_MAX);
	rv = uv_timer_init(loop, &l->timer);
	if (rv)
		return ups_errf(UPS_ERR_IO, err, errlen, "uv_timer_init: %s",
		                uv_strerror(rv));
	l->timer.data = l;
	l->timer_open = true;
	return 0;
}

void link_start(struct link *l)
{
	l->state = LINK_WAITING;
	link_wait(l, 0);
}

void link_stop(struct link *l)
{
	if (l->state == LINK_STOPPED)
		return;
	link_set_state(l, LINK_STOPPED);
	link_peers_clear(l);
	if (l->timer_open) {
		uv_timer_stop(&l->timer);
		uv_close((uv_handle_t *)&l->timer, NULL);
		l->timer_open = false;
	}
	/* A resolution already running in the thread pool cannot be
	 * cancelled; its callback sees LINK_STOPPED and just frees. */
	if (l->resolving)
		uv_cancel((uv_req_t *)&l->resolver);
}

void link_free(struct link *l)
{
	link_peers_clear(l);
	ups_outq_clear(&l->outq);
	ups_rxbuf_free(&l->rx);
}
