/* Machine agent sessions; see magent.h. */
#include "contrib/machine/magent.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/log.h"
#include "proto/net/backoff.h"

/* Orders and answers are small; a machine needs no big read buffer (the
 * fleet keeps thousands of them). Larger messages are reassembled. */
#define MAGENT_RX_BUFFER 4096
/* What one machine may have queued before it is treated as stuck. */
#define MAGENT_OUTQ_MAX (256 * 1024)
/* Used until Register says otherwise. */
#define MAGENT_DEFAULT_HEARTBEAT_S 30
/* The longest wait after being replaced by another agent of the same
 * id: two of them must not take turns forever at full speed. */
#define MAGENT_REPLACED_BACKOFF_MS 60000
/* A dial that has not registered by then is given up and tried again:
 * whatever lws did or did not report, no session waits forever. */
#define MAGENT_DIAL_TIMEOUT_MS 5000

static int magent_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len);
static void magent_dial_next(struct magent_hub *h);
static void magent_schedule(struct magent *m, uint64_t delay_ms);
static void magent_lost(struct magent *m, const char *why, uint64_t min_ms);

static uint64_t magent_random(void *user)
{
	struct magent_hub *h = user;

	return backoff_xorshift(&h->rng);
}

int magent_hub_init(struct magent_hub *h, const struct magent_hub_config *cfg,
                    char *err, size_t errlen)
{
	struct ups_ws_config wcfg;
	struct addrinfo hints, *res = NULL;
	const void *addr;
	int rv;

	memset(h, 0, sizeof(*h));
	h->loop = cfg->loop;
	rv = ups_url_parse(cfg->url, &h->url, err, errlen);
	if (rv)
		return rv;
	if (strlen(cfg->token) > UPS_LIMIT_TOKEN_LEN)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "token longer than %d bytes",
		                UPS_LIMIT_TOKEN_LEN);
	snprintf(h->token, sizeof(h->token), "%s", cfg->token);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* Once, before the loop runs: lws would resolve on every dial, on
	 * the loop thread (NOTES-libwebsockets.md). */
	rv = getaddrinfo(h->url.host, NULL, &hints, &res);
	if (rv || !res)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "cannot resolve %s: %s", h->url.host,
		                gai_strerror(rv));
	if (res->ai_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	else
		addr = &((struct sockaddr_in *)res->ai_addr)->sin_addr;
	if (!inet_ntop(res->ai_family, addr, h->address, sizeof(h->address))) {
		freeaddrinfo(res);
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "cannot use the address of %s", h->url.host);
	}
	freeaddrinfo(res);
	h->backoff_initial_ms =
	    cfg->backoff_initial_ms ? cfg->backoff_initial_ms : 250;
	h->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 10000;
	h->max_connecting = cfg->max_connecting ? cfg->max_connecting : 64;
	h->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32);
	if (h->rng == 0)
		h->rng = 0x9e3779b97f4a7c15ULL;
	h->protocols[0].name = UPS_WS_SUBPROTOCOL;
	h->protocols[0].callback = magent_lws_cb;
	h->protocols[0].rx_buffer_size = MAGENT_RX_BUFFER;
	memset(&wcfg, 0, sizeof(wcfg));
	wcfg.loop = cfg->loop;
	wcfg.protocols = h->protocols;
	wcfg.user = h;
	wcfg.client = true;
	wcfg.client_ca = cfg->ca_cert;
	wcfg.rx_buffer_size = MAGENT_RX_BUFFER;
	ups_ws_init_logging();
	rv = ups_ws_create(&h->ws, &wcfg, err, errlen);
	if (rv)
		return rv;
	h->ws_ready = true;
	return 0;
}

void magent_hub_stop(struct magent_hub *h)
{
	h->stopping = true;
	if (h->ws_ready)
		ups_ws_begin_destroy(&h->ws);
}

void magent_hub_finish(struct magent_hub *h)
{
	if (h->ws_ready)
		ups_ws_finish_destroy(&h->ws);
	h->ws_ready = false;
}

/* -------------------------------------------------------------------------
 * Sending. */

static void magent_drop(struct magent *m, const char *why)
{
	LOG_DEBUG("magent", "machine %s: dropping the connection: %s", m->id,
	          why);
	if (m->wsi)
		lws_set_timeout(m->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
}

static int magent_send(struct magent *m, json_t *env)
{
	int rv;

	if (!env)
		return UPS_ERR_NO_MEMORY;
	rv = m->wsi ? ups_outq_send_json(&m->outq, m->wsi, env)
	            : UPS_ERR_UNAVAILABLE;
	json_decref(env);
	if (rv == UPS_ERR_BUSY)
		magent_drop(m, "output queue full");
	return rv;
}

static int magent_request(struct magent *m, const char *type,
                          const char *method, json_t *params, uint64_t *id)
{
	uint64_t rid = m->next_id++;

	if (id)
		*id = rid;
	return magent_send(m, ups_env_request(rid, type, 1, method, params));
}

static void magent_report_now(struct magent *m)
{
	json_t *params;

	if (m->conn != MAGENT_UP || m->silent)
		return;
	params =
	    json_pack("{s:s, s:s}", "state", ups_machine_state_name(m->state),
	              "version", m->version);
	if (!params)
		return;
	if ((m->order_id[0] && json_object_set_new(params, "order-id",
	                                           json_string(m->order_id))) ||
	    (m->progress >= 0 &&
	     json_object_set_new(params, "progress",
	                         json_integer(m->progress))) ||
	    (m->reason[0] &&
	     json_object_set_new(params, "reason", json_string(m->reason)))) {
		json_decref(params);
		return;
	}
	(void)magent_request(m, "Machine", "Report", params, NULL);
}

void magent_status(struct magent *m, enum ups_machine_state state,
                   const char *order_id, int progress, const char *version,
                   const char *reason)
{
	m->state = state;
	snprintf(m->order_id, sizeof(m->order_id), "%s",
	         order_id ? order_id : "");
	m->progress = progress;
	if (version)
		snprintf(m->version, sizeof(m->version), "%s", version);
	snprintf(m->reason, sizeof(m->reason), "%s", reason ? reason : "");
	magent_report_now(m);
}

/* -------------------------------------------------------------------------
 * Dialling. */

static void magent_on_timer(uv_timer_t *t)
{
	struct magent *m = t->data;

	if (m->stopped || m->hub->stopping)
		return;
	if (m->conn == MAGENT_UP) {
		/* A heartbeat: the same status again. */
		magent_report_now(m);
		return;
	}
	if (m->conn == MAGENT_CONNECTING || m->conn == MAGENT_LOGIN ||
	    m->conn == MAGENT_REGISTER) {
		struct lws *wsi = m->wsi;

		magent_lost(m, "no registration in time", 0);
		if (wsi)
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
			                LWS_TO_KILL_ASYNC);
		return;
	}
	if (m->conn != MAGENT_WAITING || m->queued)
		return;
	m->queued = true;
	m->qnext = NULL;
	if (m->hub->queue_tail)
		m->hub->queue_tail->qnext = m;
	else
		m->hub->queue_head = m;
	m->hub->queue_tail = m;
	magent_dial_next(m->hub);
}

static void magent_schedule(struct magent *m, uint64_t delay_ms)
{
	m->conn = MAGENT_WAITING;
	if (m->stopped || m->hub->stopping || !m->timer_open)
		return;
	uv_timer_start(&m->timer, magent_on_timer, delay_ms, 0);
}

static void magent_connecting_done(struct magent *m)
{
	if (!m->counted_connecting)
		return;
	m->counted_connecting = false;
	m->hub->connecting--;
	magent_dial_next(m->hub);
}

/* The connection is gone (or never came): dial again after a backoff. */
static void magent_lost(struct magent *m, const char *why, uint64_t min_ms)
{
	struct magent_hub *h = m->hub;
	bool was_up = m->conn == MAGENT_UP;
	uint64_t delay;

	m->wsi = NULL;
	ups_outq_clear(&m->outq);
	ups_rxbuf_free(&m->rx);
	magent_connecting_done(m);
	if (was_up) {
		h->registered--;
		LOG_INFO("magent", "machine %s: connection lost: %s", m->id,
		         why);
	} else {
		LOG_DEBUG("magent", "machine %s: %s", m->id, why);
	}
	if (m->stopped || h->stopping) {
		m->conn = MAGENT_IDLE;
		return;
	}
	delay = backoff_delay_ms(m->attempt, h->backoff_initial_ms,
	                         h->backoff_max_ms, magent_random, h);
	if (m->attempt < 64)
		m->attempt++;
	if (delay < min_ms)
		delay = min_ms;
	magent_schedule(m, delay);
	if (was_up && m->ops->disconnected)
		m->ops->disconnected(m);
}

static void magent_dial(struct magent *m)
{
	struct magent_hub *h = m->hub;
	struct lws *wsi;

	m->conn = MAGENT_CONNECTING;
	m->counted_connecting = true;
	h->connecting++;
	m->wsi = NULL;
	ups_outq_init(&m->outq, MAGENT_OUTQ_MAX);
	if (m->timer_open)
		uv_timer_start(&m->timer, magent_on_timer,
		               MAGENT_DIAL_TIMEOUT_MS, 0);
	wsi = ups_ws_connect(&h->ws, &h->url, h->address, m);
	/* lws may have reported the failure already (then we moved on). */
	if (!wsi) {
		if (m->conn == MAGENT_CONNECTING)
			magent_lost(m, "cannot start a connection", 0);
		return;
	}
	if (m->conn == MAGENT_CONNECTING) {
		m->wsi = wsi;
		/* Some of lws's failure reports come without the user
		 * pointer; this one always finds its session. */
		lws_set_opaque_user_data(wsi, m);
	}
}

static void magent_dial_next(struct magent_hub *h)
{
	while (!h->stopping && h->connecting < h->max_connecting &&
	       h->queue_head) {
		struct magent *m = h->queue_head;

		h->queue_head = m->qnext;
		if (!h->queue_head)
			h->queue_tail = NULL;
		m->qnext = NULL;
		m->queued = false;
		if (m->stopped || m->conn != MAGENT_WAITING)
			continue;
		magent_dial(m);
	}
}

int magent_start(struct magent *m, struct magent_hub *h,
                 const struct magent_ops *ops, void *data, const char *id,
                 const char *release, const char *arch, const char *version,
                 uint64_t delay_ms)
{
	memset(m, 0, sizeof(*m));
	m->hub = h;
	m->ops = ops;
	m->data = data;
	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->release, sizeof(m->release), "%s", release);
	snprintf(m->arch, sizeof(m->arch), "%s", arch);
	snprintf(m->version, sizeof(m->version), "%s", version);
	m->state = UPS_MST_IDLE;
	m->progress = -1;
	m->next_id = 1;
	m->heartbeat_s = MAGENT_DEFAULT_HEARTBEAT_S;
	ups_outq_init(&m->outq, MAGENT_OUTQ_MAX);
	if (uv_timer_init(h->loop, &m->timer))
		return UPS_ERR_IO;
	m->timer.data = m;
	m->timer_open = true;
	magent_schedule(m, delay_ms);
	return 0;
}

void magent_kill(struct magent *m)
{
	struct lws *wsi = m->wsi;

	if (!wsi)
		return;
	magent_lost(m, "killed", 0);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void magent_stop(struct magent *m)
{
	m->stopped = true;
	if (m->timer_open) {
		uv_timer_stop(&m->timer);
		uv_close((uv_handle_t *)&m->timer, NULL);
		m->timer_open = false;
	}
	/* The connection is closed by the hub's context destroy: killing
	 * it here as well races that destroy in lws 4.1 (a poll handle
	 * stopped while it closes). */
}

void magent_free(struct magent *m)
{
	ups_outq_clear(&m->outq);
	ups_rxbuf_free(&m->rx);
}

/* -------------------------------------------------------------------------
 * Receiving. */

static void magent_registered(struct magent *m, const json_t *response)
{
	int64_t hb = MAGENT_DEFAULT_HEARTBEAT_S;
	json_t *v = json_object_get(response, "heartbeat-seconds");
	uint64_t first;

	if (json_is_integer(v) && json_integer_value(v) >= 1 &&
	    json_integer_value(v) <= 3600)
		hb = json_integer_value(v);
	m->heartbeat_s = (unsigned)hb;
	m->conn = MAGENT_UP;
	m->attempt = 0;
	m->hub->registered++;
	magent_connecting_done(m);
	LOG_DEBUG("magent", "machine %s: registered", m->id);
	magent_report_now(m);
	/* The first heartbeat anywhere in the period, so a fleet that came
	 * up together does not beat together. */
	first = magent_random(m->hub) % ((uint64_t)hb * 1000) + 1;
	if (m->timer_open)
		uv_timer_start(&m->timer, magent_on_timer, first,
		               (uint64_t)hb * 1000);
	if (m->ops->registered)
		m->ops->registered(m);
}

static void magent_send_register(struct magent *m)
{
	json_t *params =
	    json_pack("{s:s, s:s, s:s, s:s}", "machine-id", m->id, "version",
	              m->version, "release", m->release, "arch", m->arch);

	m->conn = MAGENT_REGISTER;
	if (params && m->model[0] &&
	    json_object_set_new(params, "model", json_string(m->model))) {
		json_decref(params);
		params = NULL;
	}
	if (!params ||
	    magent_request(m, "Machine", "Register", params, &m->register_id))
		magent_drop(m, "cannot send Register");
}

static void magent_answer(struct magent *m, const struct ups_envelope *env)
{
	bool ok = env->kind == UPS_ENV_RESPONSE;

	if (m->conn == MAGENT_LOGIN && env->request_id == m->login_id) {
		if (!ok) {
			LOG_ERROR("magent", "machine %s: login refused: %s",
			          m->id,
			          env->error_text ? env->error_text : "");
			magent_drop(m, "login refused");
			return;
		}
		magent_send_register(m);
		return;
	}
	if (m->conn == MAGENT_REGISTER && env->request_id == m->register_id) {
		if (!ok) {
			LOG_ERROR("magent",
			          "machine %s: registration refused: %s (%s)",
			          m->id, env->error_text ? env->error_text : "",
			          env->error_code_text);
			magent_drop(m, "registration refused");
			return;
		}
		magent_registered(m, env->response);
		return;
	}
	if (!ok)
		LOG_WARN("magent", "machine %s: request %llu refused: %s (%s)",
		         m->id, (unsigned long long)env->request_id,
		         env->error_text ? env->error_text : "",
		         env->error_code_text);
}

static void magent_push(struct magent *m, const struct ups_envelope *env)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_order o;
	enum ups_order_kind kind;

	if (strcmp(env->type, "Machine") != 0) {
		LOG_DEBUG("magent", "machine %s: push %s.%s ignored", m->id,
		          env->type, env->request);
		return;
	}
	if (strcmp(env->request, "Replaced") == 0) {
		LOG_ERROR("magent",
		          "machine %s: another agent registered "
		          "this machine id; backing off",
		          m->id);
		magent_lost(m, "replaced", MAGENT_REPLACED_BACKOFF_MS);
		return;
	}
	if (strcmp(env->request, "Order") == 0)
		kind = UPS_ORDER_UPGRADE;
	else if (strcmp(env->request, "Revert") == 0)
		kind = UPS_ORDER_REVERT;
	else
		return;
	err[0] = '\0';
	if (ups_order_parse(env->params, kind, &o, err, sizeof(err))) {
		LOG_ERROR("magent", "machine %s: bad %s push: %s", m->id,
		          env->request, err);
		return;
	}
	if (m->ops->order)
		m->ops->order(m, &o);
}

static void magent_text(struct magent *m, const char *buf, size_t len)
{
	struct ups_envelope env;
	char err[UPS_ERRMSG_MAX];

	memset(&env, 0, sizeof(env));
	if (ups_envelope_parse(buf, len, &env, err, sizeof(err))) {
		LOG_WARN("magent", "machine %s: malformed message: %s", m->id,
		         err);
		return;
	}
	if (env.kind == UPS_ENV_PUSH)
		magent_push(m, &env);
	else if (env.kind == UPS_ENV_RESPONSE || env.kind == UPS_ENV_ERROR)
		magent_answer(m, &env);
	ups_envelope_clear(&env);
}

static int magent_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
	struct magent *m = user ? user : lws_get_opaque_user_data(wsi);
	struct ups_rxmsg msg;
	json_t *params;
	int rv;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!user)
			LOG_INFO("magent", "connection error without user (%s)",
			         m ? m->id : "unknown");
		if (m && m->conn == MAGENT_CONNECTING &&
		    (!m->wsi || m->wsi == wsi))
			magent_lost(m, in ? (const char *)in : "cannot connect",
			            0);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!m || m->stopped || m->conn != MAGENT_CONNECTING)
			return -1;
		m->wsi = wsi;
		m->conn = MAGENT_LOGIN;
		params = json_pack("{s:s, s:s}", "role", "machine", "token",
		                   m->hub->token);
		if (!params ||
		    magent_request(m, "Admin", "Login", params, &m->login_id))
			return -1;
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!m || m->wsi != wsi)
			return 0;
		rv = ups_rxbuf_feed(&m->rx, wsi, in, len, &msg);
		if (rv == UPS_ERR_TOO_LARGE) {
			magent_drop(m, "oversized message");
			return 0;
		}
		if (rv == 1 && !msg.binary)
			magent_text(m, (const char *)msg.data, msg.len);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!m || m->wsi != wsi)
			return -1;
		return ups_outq_write_one(&m->outq, wsi) < 0 ? -1 : 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (m && m->wsi == wsi)
			magent_lost(m, "connection closed", 0);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* Whatever lws reported before (or failed to), the pointer
		 * dies here: never keep it. */
		if (m && m->wsi == wsi)
			magent_lost(m, "connection destroyed", 0);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}
