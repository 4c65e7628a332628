/* Client session with upstaged; see client.h. */
#include "contrib/cli/client.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto/log.h"

static int client_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len);
static void client_deferred(uv_timer_t *t);
static int client_send_login(struct client *c);

/* The longest wait before logging in again that the client accepts when
 * upstaged throttles its address. */
#define CLIENT_RELOGIN_MAX_MS 10000

/* The client vhost's protocols; the name selects the websocket
 * subprotocol offered to the server. */
static const struct lws_protocols client_protocols[] = {
    {UPS_WS_SUBPROTOCOL, client_lws_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void client_debug(struct client *c, const char *dir, const char *text,
                         size_t len)
{
	if (!c->debug)
		return;
	fprintf(c->debug, "%s %.*s\n", dir, (int)len, text);
	fflush(c->debug);
}

static void client_cancel_pending(struct client *c, int status,
                                  const char *detail)
{
	struct client_pending *p;

	/* Unlink first: a callback may call back into the client. */
	while ((p = c->pending) != NULL) {
		c->pending = p->next;
		if (p->cb)
			p->cb(c, p->data, status, NULL, detail);
		free(p);
	}
}

/* Records why the session is over and reports it from the deferred
 * timer, so user callbacks never run inside lws or inside our own API
 * calls. Only the first failure counts. */
static void client_fail(struct client *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void client_fail(struct client *c, int status, const char *fmt, ...)
{
	va_list ap;

	if (c->state == CLIENT_CLOSING || c->state == CLIENT_FAILED)
		return;
	c->state = CLIENT_FAILED;
	c->fail_status = status;
	va_start(ap, fmt);
	vsnprintf(c->fail_detail, sizeof(c->fail_detail), fmt, ap);
	va_end(ap);
	uv_timer_start(&c->defer, client_deferred, 0, 0);
}

static void client_deferred(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->relogin_pending && c->state == CLIENT_LOGGING_IN) {
		c->relogin_pending = false;
		if (client_send_login(c))
			client_fail(c, UPS_ERR_NO_MEMORY,
			            "cannot send the login again");
		return;
	}
	c->relogin_pending = false;

	if (c->state == CLIENT_CLOSING) {
		if (c->destroy_started)
			return;
		c->destroy_started = true;
		client_cancel_pending(c, UPS_ERR_UNAVAILABLE, "session closed");
		uv_close((uv_handle_t *)&c->defer, NULL);
		/* Closes the connection too; its callbacks see CLOSING. */
		ups_ws_begin_destroy(&c->ws);
		return;
	}
	if (c->state != CLIENT_FAILED || c->fail_reported)
		return;
	c->fail_reported = true;
	client_cancel_pending(c, c->fail_status, c->fail_detail);
	if (c->state == CLIENT_CLOSING)
		return; /* a reply callback closed the session */
	if (!c->ready_reported) {
		c->ready_reported = true;
		c->cbs.ready(c, c->fail_status, c->fail_detail);
	} else if (c->cbs.closed) {
		c->cbs.closed(c, c->fail_status, c->fail_detail);
	}
}

/* Serialises env and queues it. log_env, when not NULL, is what the debug
 * log shows instead (the login with its token masked). */
static int client_send(struct client *c, const json_t *env,
                       const json_t *log_env)
{
	char *text;
	size_t len;
	int rv;

	if (!c->wsi)
		return UPS_ERR_UNAVAILABLE;
	text = ups_env_dump(env, &len);
	if (!text)
		return UPS_ERR_NO_MEMORY;
	if (c->debug) {
		if (log_env) {
			size_t loglen;
			char *logtext = ups_env_dump(log_env, &loglen);

			if (logtext)
				client_debug(c, ">", logtext, loglen);
			free(logtext);
		} else {
			client_debug(c, ">", text, len);
		}
	}
	rv = ups_outq_send(&c->outq, c->wsi, false, text, len, NULL, 0);
	free(text);
	return rv;
}

static int client_send_login(struct client *c)
{
	json_t *env, *log_env = NULL;
	int rv;

	c->login_id = c->next_id++;
	env = ups_env_request(
	    c->login_id, "Admin", 1, "Login",
	    json_pack("{s:s,s:s}", "role", c->role, "token", c->token));
	if (!env)
		return UPS_ERR_NO_MEMORY;
	if (c->debug && c->token[0])
		log_env = ups_env_request(
		    c->login_id, "Admin", 1, "Login",
		    json_pack("{s:s,s:s}", "role", c->role, "token", "***"));
	rv = client_send(c, env, log_env);
	json_decref(log_env);
	json_decref(env);
	return rv;
}

static struct client_pending *client_take_pending(struct client *c, uint64_t id)
{
	struct client_pending **pp, *p;

	for (pp = &c->pending; (p = *pp) != NULL; pp = &p->next) {
		if (p->id == id) {
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static void client_on_login_answer(struct client *c,
                                   const struct ups_envelope *env)
{
	json_t *retry = env->error_info
	                    ? json_object_get(env->error_info, "retry-ms")
	                    : NULL;

	/* Throttled after failed logins from this address (another user's
	 * typos, say): try once more when told, if the wait is short. */
	if (env->kind == UPS_ENV_ERROR && env->error_code == UPS_ERR_BUSY &&
	    json_is_integer(retry) && json_integer_value(retry) >= 0 &&
	    json_integer_value(retry) <= CLIENT_RELOGIN_MAX_MS &&
	    !c->relogin_done) {
		c->relogin_done = true;
		c->relogin_pending = true;
		uv_timer_start(&c->defer, client_deferred,
		               (uint64_t)json_integer_value(retry) + 1, 0);
		return;
	}
	if (env->kind == UPS_ENV_ERROR) {
		client_fail(
		    c, env->error_code ? env->error_code : UPS_ERR_UNAUTHORIZED,
		    "login as %s refused: %s", c->role,
		    env->error_text ? env->error_text : "");
		return;
	}
	c->state = CLIENT_READY;
	c->ready_reported = true;
	c->cbs.ready(c, 0, NULL);
}

static void client_on_answer(struct client *c, const struct ups_envelope *env)
{
	struct client_pending *p;
	int status;

	if (c->state == CLIENT_LOGGING_IN && env->request_id == c->login_id) {
		client_on_login_answer(c, env);
		return;
	}
	p = client_take_pending(c, env->request_id);
	if (!p) {
		LOG_DEBUG("client", "answer to unknown request-id %llu ignored",
		          (unsigned long long)env->request_id);
		return;
	}
	status = 0;
	if (env->kind == UPS_ENV_ERROR)
		status = env->error_code ? env->error_code : UPS_ERR_INTERNAL;
	p->cb(c, p->data, status, env, NULL);
	free(p);
}

/* Returns -1 when the connection must be dropped. */
static int client_on_receive(struct client *c, struct lws *wsi, void *in,
                             size_t len)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_envelope env;
	struct ups_rxmsg msg;
	int rv;

	rv = ups_rxbuf_feed(&c->rx, wsi, in, len, &msg);
	if (rv == 0)
		return 0;
	if (rv < 0) {
		client_fail(c, UPS_ERR_TOO_LARGE,
		            "server sent a message over the size limit");
		return -1;
	}
	if (msg.binary) {
		if (c->debug)
			fprintf(c->debug, "< [binary message, %zu bytes]\n",
			        msg.len);
		return 0;
	}
	client_debug(c, "<", (const char *)msg.data, msg.len);
	rv = ups_envelope_parse((const char *)msg.data, msg.len, &env, err,
	                        sizeof(err));
	if (rv) {
		client_fail(c, rv, "server sent a malformed envelope: %s", err);
		return -1;
	}
	switch (env.kind) {
	case UPS_ENV_RESPONSE:
	case UPS_ENV_ERROR:
		if (c->state == CLIENT_LOGGING_IN || c->state == CLIENT_READY)
			client_on_answer(c, &env);
		break;
	case UPS_ENV_PUSH:
		if (c->state == CLIENT_READY && c->cbs.push)
			c->cbs.push(c, &env);
		break;
	case UPS_ENV_REQUEST:
		LOG_DEBUG("client", "request from the server ignored");
		break;
	}
	ups_envelope_clear(&env);
	return 0;
}

/* lws's reason is terse ("connect SSL err 1: ..."); say what to check. */
static void client_fail_connect(struct client *c, const char *why, size_t len)
{
	const char *hint = "";
	char text[256];

	if (!why || len == 0) {
		why = "unknown error";
		len = strlen(why);
	}
	snprintf(text, sizeof(text), "%.*s", (int)len, why);
	if (c->url.tls && (strstr(text, "SSL") || strstr(text, "ssl") ||
	                   strstr(text, "certificate")))
		hint = " (TLS handshake failed: is the server's certificate "
		       "issued for this host and signed by the --ca-cert "
		       "CA?)";
	else if (strstr(text, "closed before established"))
		hint = " (connection refused?)";
	client_fail(
	    c, UPS_ERR_UNAVAILABLE, "cannot connect to %s://%s:%d: %s%s",
	    c->url.tls ? "wss" : "ws", c->url.host, c->url.port, text, hint);
}

/* Keeps the text of the server's close frame for the failure message. */
static void client_note_close_reason(struct client *c, const void *in,
                                     size_t len)
{
	const unsigned char *p = in;
	unsigned code;

	if (len < 2)
		return;
	code = (unsigned)p[0] << 8 | p[1];
	snprintf(c->close_reason, sizeof(c->close_reason), " (close %u%s%.*s)",
	         code, len > 2 ? ": " : "",
	         (int)(len - 2 < 100 ? len - 2 : 100), (const char *)p + 2);
}

static int client_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
	struct client *c = user;
	int rv;

	/* Protocol-wide events (init, destroy) carry no session. */
	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		c->wsi = NULL;
		client_fail_connect(c, in ? (const char *)in : NULL,
		                    in ? len : 0);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c->state != CLIENT_CONNECTING)
			return -1;
		c->wsi = wsi;
		c->state = CLIENT_LOGGING_IN;
		rv = client_send_login(c);
		if (rv) {
			client_fail(c, rv, "cannot send the login: %s",
			            ups_err_message(rv));
			return -1;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return client_on_receive(c, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c->state == CLIENT_CLOSING)
			return 0;
		rv = ups_outq_write_one(&c->outq, wsi);
		if (rv < 0) {
			client_fail(c, UPS_ERR_UNAVAILABLE,
			            "write to the server failed");
			return -1;
		}
		if (c->state == CLIENT_READY && c->cbs.written)
			c->cbs.written(c);
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		client_note_close_reason(c, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		c->wsi = NULL;
		client_fail(c, UPS_ERR_UNAVAILABLE,
		            "connection closed by the server%s",
		            c->close_reason);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* Catches any way of losing the connection not reported
		 * above, e.g. the server hanging up during the handshake. */
		if (c->wsi == wsi || c->state == CLIENT_CONNECTING) {
			c->wsi = NULL;
			client_fail(c, UPS_ERR_UNAVAILABLE,
			            "connection to %s:%d %s", c->url.host,
			            c->url.port,
			            c->state == CLIENT_CONNECTING
			                ? "closed before the websocket "
			                  "handshake completed"
			                : "lost");
		}
		return 0;
	default:
		return 0;
	}
}

static int copy_string(char *dst, size_t dstlen, const char *src,
                       const char *what, char *err, size_t errlen)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s is longer than %zu bytes", what,
		                dstlen - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

int client_start(struct client *c, const struct client_config *cfg,
                 const struct client_callbacks *cbs, char *err, size_t errlen)
{
	struct ups_ws_config wcfg;
	int rv;

	memset(c, 0, sizeof(*c));
	c->data = cfg->data;
	c->cbs = *cbs;
	c->url = *cfg->url;
	c->debug = cfg->debug;
	c->next_id = 1;
	c->state = CLIENT_CONNECTING;
	rv = copy_string(c->role, sizeof(c->role), cfg->role, "role", err,
	                 errlen);
	if (!rv && cfg->token)
		rv = copy_string(c->token, sizeof(c->token), cfg->token,
		                 "token", err, errlen);
	if (!rv && cfg->ca_cert)
		rv = copy_string(c->ca_cert, sizeof(c->ca_cert), cfg->ca_cert,
		                 "CA file name", err, errlen);
	if (rv)
		return rv;

	memset(&wcfg, 0, sizeof(wcfg));
	wcfg.loop = cfg->loop;
	wcfg.protocols = client_protocols;
	wcfg.client = true;
	wcfg.client_ca = cfg->ca_cert ? c->ca_cert : NULL;
	wcfg.client_plain = !cfg->url->tls;
	/* It receives only small envelopes, but lws also drains a send
	 * that the socket took only part of in pieces of this size, one
	 * poll each: small pieces starve a chunk upload. */
	wcfg.rx_buffer_size = 256 * 1024;
	rv = ups_ws_create(&c->ws, &wcfg, err, errlen);
	if (rv)
		return rv;

	/* After the context: its failure path runs the loop, which must
	 * not hold a handle of ours then. */
	uv_timer_init(cfg->loop, &c->defer);
	c->defer.data = c;
	ups_outq_init(&c->outq, UPS_LIMIT_OUTQ_BYTES);
	ups_outq_set_self_mask(&c->outq, true);

	c->wsi = ups_ws_connect(&c->ws, &c->url, NULL, c);
	if (!c->wsi)
		client_fail(c, UPS_ERR_UNAVAILABLE,
		            "cannot connect to %s:%d (name resolution or "
		            "socket failed)",
		            c->url.host, c->url.port);
	return 0;
}

int client_request(struct client *c, const char *type, const char *method,
                   json_t *params, client_reply_cb cb, void *data, uint64_t *id)
{
	struct client_pending *p;
	json_t *env;
	int rv;

	if (c->state != CLIENT_READY || !c->wsi) {
		json_decref(params);
		return UPS_ERR_UNAVAILABLE;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		json_decref(params);
		return UPS_ERR_NO_MEMORY;
	}
	p->id = c->next_id++;
	p->cb = cb;
	p->data = data;
	env = ups_env_request(p->id, type, ups_facade_version(type), method,
	                      params);
	if (!env) {
		rv = UPS_ERR_NO_MEMORY;
		goto err_free_pending;
	}
	rv = client_send(c, env, NULL);
	json_decref(env);
	if (rv)
		goto err_free_pending;
	p->next = c->pending;
	c->pending = p;
	if (id)
		*id = p->id;
	return 0;

err_free_pending:
	free(p);
	return rv;
}

int client_send_binary(struct client *c, const void *head, size_t hlen,
                       const void *body, size_t blen)
{
	if (c->state != CLIENT_READY || !c->wsi)
		return UPS_ERR_UNAVAILABLE;
	if (c->debug)
		fprintf(c->debug, "> [binary message, %zu bytes]\n",
		        hlen + blen);
	return ups_outq_send(&c->outq, c->wsi, true, head, hlen, body, blen);
}

int client_send_msg(struct client *c, struct ups_outq_msg *m)
{
	int rv;

	if (c->state != CLIENT_READY || !c->wsi) {
		ups_outq_msg_free(m);
		return UPS_ERR_UNAVAILABLE;
	}
	rv = ups_outq_append(&c->outq, m);
	if (rv == 0)
		lws_callback_on_writable(c->wsi);
	return rv;
}

size_t client_queued_bytes(const struct client *c)
{
	return c->outq.bytes;
}

void client_close(struct client *c)
{
	if (c->state == CLIENT_CLOSING)
		return;
	c->state = CLIENT_CLOSING;
	uv_timer_start(&c->defer, client_deferred, 0, 0);
}

void client_finish(struct client *c)
{
	ups_ws_finish_destroy(&c->ws);
	ups_outq_clear(&c->outq);
	ups_rxbuf_free(&c->rx);
	/* Normally empty: client_close() cancelled them. */
	client_cancel_pending(c, UPS_ERR_UNAVAILABLE, "session closed");
}
