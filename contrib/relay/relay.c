/* Connection handling of upstage-relay; see relay.h. */
#include "contrib/relay/relay.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/relay/conn.h"
#include "proto/chunk.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/metrics.h"
#include "proto/fields.h"
#include "proto/limits.h"
#include "proto/log.h"

#define MOD "relay"

static struct relay_conn **relay_bucket(struct relay *r, uint32_t origin)
{
	return &r->buckets[origin & (RELAY_BUCKETS - 1)];
}

static struct relay_conn *relay_find(struct relay *r, uint32_t origin)
{
	struct relay_conn *c = *relay_bucket(r, origin);

	while (c && c->origin != origin)
		c = c->next;
	return c;
}

/* Origins are never 0 and never reused while their connection lives. */
static uint32_t relay_new_origin(struct relay *r)
{
	do {
		if (++r->last_origin == 0)
			r->last_origin = 1;
	} while (relay_find(r, r->last_origin));
	return r->last_origin;
}

static void relay_insert(struct relay *r, struct relay_conn *c)
{
	struct relay_conn **b = relay_bucket(r, c->origin);

	c->next = *b;
	*b = c;
}

static void relay_remove(struct relay *r, struct relay_conn *c)
{
	struct relay_conn **p = relay_bucket(r, c->origin);

	while (*p && *p != c)
		p = &(*p)->next;
	if (*p)
		*p = c->next;
	c->next = NULL;
}

/* The request-id of a message the strict parser rejected, read leniently
 * so the error can still be matched to its request; 0 if there is none. */
static uint64_t peek_request_id(const char *buf, size_t len)
{
	json_t *root = json_loadb(buf, len, 0, NULL);
	json_t *id = json_object_get(root, "request-id");
	uint64_t out = 0;

	if (json_is_integer(id) && json_integer_value(id) > 0 &&
	    (uint64_t)json_integer_value(id) <= UPS_LIMIT_REQUEST_ID_MAX)
		out = (uint64_t)json_integer_value(id);
	json_decref(root);
	return out;
}

static void conn_reply_malformed(struct relay_conn *c, int rv, const char *buf,
                                 size_t len, const char *err)
{
	uint64_t id = peek_request_id(buf, len);

	LOG_DEBUG(MOD, "origin %u: malformed message: %s", c->origin, err);
	if (id)
		conn_send_error(c, id, rv, err);
	else
		conn_push_error(c, "Malformed", rv, err);
}

static void plugin_announce(struct relay *r, struct relay_conn *c,
                            const char *event)
{
	json_t *params;

	if (!r->plugin || r->stopping)
		return;
	if (strcmp(event, "Opened") == 0)
		params =
		    json_pack("{s:I, s:s}", "origin", (json_int_t)c->origin,
		              "role", ups_role_name(c->role));
	else
		params = json_pack("{s:I}", "origin", (json_int_t)c->origin);
	conn_send(r->plugin, ups_env_push("Relay", event, params));
}

static void relay_link_plugin(struct relay *r, struct relay_conn *c)
{
	r->plugin = c;
	r->link_changes++;
	printf("plugin linked\n");
	fflush(stdout);
	LOG_INFO(MOD, "plugin linked");
	for (size_t i = 0; i < RELAY_BUCKETS; i++)
		for (struct relay_conn *o = r->buckets[i]; o; o = o->next)
			plugin_announce(r, o, "Opened");
}

/* Failed logins are throttled per source address, as upstaged does
 * (agent/rpc/admin.c): a throttled attempt is answered busy with
 * error-info {"retry-ms": N} without looking at it, and counts as a
 * failure of this connection. */
static bool login_throttled(struct relay_conn *c, uint64_t request_id)
{
	struct relay *r = c->relay;
	uint64_t retry = 0;
	char err[UPS_ERRMSG_MAX];

	if (!c->addr[0] || ups_throttle_allowed(&r->throttle, c->addr,
	                                        gate_now(&r->gate), &retry))
		return false;
	snprintf(err, sizeof(err),
	         "too many failed logins from %s; retry in %llu ms", c->addr,
	         (unsigned long long)retry);
	(void)conn_send(c, ups_env_error(request_id, UPS_ERR_BUSY, err,
	                                 json_pack("{s:I}", "retry-ms",
	                                           (json_int_t)retry)));
	if (++c->login_failures >= UPS_LIMIT_LOGIN_FAILURES)
		conn_close_soon(c, "too many failed logins");
	return true;
}

static void conn_login(struct relay_conn *c, const struct ups_envelope *env)
{
	struct relay *r = c->relay;
	const char *role_name = NULL;
	const char *token = "";
	const struct ups_field fields[] = {
	    {"role", UPS_FIELD_STRING, true, 1, UPS_LIMIT_ROLE_LEN, &role_name},
	    {"token", UPS_FIELD_STRING, false, 0, UPS_LIMIT_TOKEN_LEN, &token},
	};
	char err[UPS_ERRMSG_MAX];
	enum ups_role role = UPS_ROLE_NONE;
	int rv;

	if (c->role != UPS_ROLE_NONE) {
		conn_send_error(c, env->request_id, UPS_ERR_BAD_REQUEST,
		                "already logged in");
		return;
	}
	if (login_throttled(c, env->request_id))
		return;
	rv = ups_fields_unpack(env->params, "params", fields, 2, err,
	                       sizeof(err));
	if (rv == 0 && ups_role_parse(role_name, &role) != 0)
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, sizeof(err),
		              "field \"params.role\": unknown role");
	if (rv == 0 && !ups_auth_check(&r->auth, role, token, strlen(token)))
		rv = ups_errf(UPS_ERR_UNAUTHORIZED, err, sizeof(err),
		              "bad credentials");
	if (rv) {
		/* The first failure from an address since the last report
		 * is logged in full; the rest are counted and reported once
		 * per interval (gate.h). */
		uint64_t n = c->addr[0]
		                 ? ups_throttle_failed(&r->throttle, c->addr,
		                                       gate_now(&r->gate))
		                 : 1;

		UPS_LOG(n == 1 ? UPS_LOG_INFO : UPS_LOG_DEBUG, MOD,
		        "login failed (role %s) from %s: %s",
		        rv == UPS_ERR_UNAUTHORIZED ? ups_role_name(role) : "?",
		        c->addr, err);
		conn_send_error(c, env->request_id, rv, err);
		if (++c->login_failures >= UPS_LIMIT_LOGIN_FAILURES)
			conn_close_soon(c, "too many failed logins");
		return;
	}
	if (c->addr[0])
		ups_throttle_succeeded(&r->throttle, c->addr);
	if (role == UPS_ROLE_PLUGIN && r->plugin) {
		LOG_WARN(MOD, "refused a second plugin link: one is linked");
		conn_send_error(c, env->request_id, UPS_ERR_CONFLICT,
		                "another upstaged is already linked");
		conn_close_soon(c, "a second plugin link");
		return;
	}
	conn_logged_in(c, role);
	gate_logged_in(&r->gate, c);
	(void)conn_send(c, ups_env_response(
	                       env->request_id,
	                       json_pack("{s:s, s:s}", "role",
	                                 ups_role_name(role), "server-version",
	                                 UPSTAGE_VERSION)));
	if (role == UPS_ROLE_PLUGIN) {
		relay_link_plugin(r, c);
		return;
	}
	c->origin = relay_new_origin(r);
	relay_insert(r, c);
	LOG_DEBUG(MOD, "origin %u logged in as %s", c->origin,
	          ups_role_name(role));
	plugin_announce(r, c, "Opened");
}

/* Re-reads a message that already passed the strict parser, so that it
 * can be forwarded unchanged except for "origin" (0 removes it). */
static json_t *restamp(const char *buf, size_t len, uint32_t origin)
{
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);

	if (root && ups_env_set_origin(root, origin) != 0) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* Answers still in flight for a connection that just closed are expected;
 * say so once per origin rather than once per message. */
static void relay_log_drop(struct relay *r, uint32_t origin)
{
	if (origin != r->last_dropped)
		LOG_INFO(MOD, "dropping messages for unknown origin %u",
		         origin);
	else
		LOG_DEBUG(MOD, "dropping a message for unknown origin %u",
		          origin);
	r->last_dropped = origin;
	r->dropped++;
}

static void forward_to_plugin(struct relay_conn *c,
                              const struct ups_envelope *env, const char *buf,
                              size_t len)
{
	struct relay_conn *p = c->relay->plugin;
	json_t *root;
	int rv;

	if (!p) {
		if (env->kind == UPS_ENV_REQUEST)
			conn_send_error(c, env->request_id, UPS_ERR_UNAVAILABLE,
			                "no upstaged is linked to this relay");
		return;
	}
	/* Bounded by RELAY_LINK_DATA_BYTES: a full link is busy, and a
	 * message that "origin" makes too long is too-large, for this
	 * sender only (conn.h). */
	root = restamp(buf, len, c->origin);
	rv = root ? ups_outq_send_json(&p->outq, p->wsi, root)
	          : UPS_ERR_NO_MEMORY;
	json_decref(root);
	if (rv == 0)
		ups_outq_tag_last(&p->outq, c->origin);
	if (rv && env->kind == UPS_ENV_REQUEST)
		conn_send_error(c, env->request_id, rv, NULL);
}

/* A message from upstaged for c that cannot be delivered because it is
 * over the text limit: c is told, by request-id when it has one. */
static void answer_too_large(struct relay_conn *c, uint64_t request_id,
                             size_t len)
{
	LOG_WARN(MOD,
	         "origin %u: a message of %zu bytes from upstaged exceeds "
	         "the text limit; answering too-large instead",
	         c->origin, len);
	if (request_id)
		conn_send_error(c, request_id, UPS_ERR_TOO_LARGE,
		                "the answer exceeds the size limit");
	else
		conn_push_error(c, "Malformed", UPS_ERR_TOO_LARGE,
		                "a message from upstaged for this connection "
		                "exceeded the size limit and was dropped");
}

/* An origin or request-id read leniently from a message that the strict
 * parser cannot take (it is over the text limit); 0 if there is none. */
static uint64_t lenient_int(const json_t *root, const char *key, uint64_t max)
{
	json_t *v = json_object_get(root, key);

	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return 0;
	return (uint64_t)json_integer_value(v);
}

/* upstaged sent a text message over the text limit (at most
 * RELAY_LINK_TEXT_MAX: the link reassembles that much). The link is
 * not to blame for one message: its client gets too-large. */
static void route_oversized(struct relay_conn *p, const char *buf, size_t len)
{
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	uint32_t origin =
	    (uint32_t)lenient_int(root, "origin", UPS_LIMIT_ORIGIN_MAX);
	uint64_t id = lenient_int(root, "request-id", UPS_LIMIT_REQUEST_ID_MAX);
	struct relay_conn *c = origin ? relay_find(p->relay, origin) : NULL;

	json_decref(root);
	if (!c) {
		LOG_WARN(MOD,
		         "dropping a message of %zu bytes from upstaged (over "
		         "the text limit) for %s origin",
		         len, origin ? "an unknown" : "no");
		return;
	}
	if (!c->closing)
		answer_too_large(c, id, len);
}

static void route_from_plugin(struct relay_conn *p,
                              const struct ups_envelope *env, const char *buf,
                              size_t len)
{
	struct relay_conn *c;

	if (!env->has_origin) {
		LOG_WARN(MOD, "dropping a message from upstaged without "
		              "origin");
		return;
	}
	c = relay_find(p->relay, env->origin);
	if (!c) {
		relay_log_drop(p->relay, env->origin);
		return;
	}
	if (c->closing)
		return;
	/* Serialised again it may come out longer than it came in. */
	if (conn_send(c, restamp(buf, len, 0)) == UPS_ERR_TOO_LARGE)
		answer_too_large(c, env->request_id, len);
}

static void conn_on_text(struct relay_conn *c, const char *buf, size_t len)
{
	struct ups_envelope env;
	char err[UPS_ERRMSG_MAX];
	int rv;

	if (c->role == UPS_ROLE_PLUGIN && len > UPS_LIMIT_TEXT_MSG_MAX) {
		route_oversized(c, buf, len);
		return;
	}
	rv = ups_envelope_parse(buf, len, &env, err, sizeof(err));
	if (rv) {
		conn_reply_malformed(c, rv, buf, len, err);
		return;
	}
	if (c->role == UPS_ROLE_PLUGIN) {
		route_from_plugin(c, &env, buf, len);
	} else if (env.kind == UPS_ENV_REQUEST &&
	           strcmp(env.type, "Admin") == 0 &&
	           strcmp(env.request, "Login") == 0) {
		conn_login(c, &env);
	} else if (c->role == UPS_ROLE_NONE) {
		if (env.kind == UPS_ENV_REQUEST)
			conn_send_error(c, env.request_id, UPS_ERR_UNAUTHORIZED,
			                "log in first (Admin.Login)");
		else
			conn_push_error(c, "Unauthorized", UPS_ERR_UNAUTHORIZED,
			                "log in first (Admin.Login)");
	} else {
		forward_to_plugin(c, &env, buf, len);
	}
	ups_envelope_clear(&env);
}

static void conn_on_chunk(struct relay_conn *c, const uint8_t *buf, size_t len)
{
	struct relay *r = c->relay;
	struct ups_chunk_header hdr;
	const uint8_t *payload;
	uint8_t head[UPS_CHUNK_HEADER_SIZE];
	struct relay_conn *to;
	char err[UPS_ERRMSG_MAX];
	int rv;

	if (c->role == UPS_ROLE_NONE) {
		conn_push_error(c, "Chunk", UPS_ERR_UNAUTHORIZED,
		                "log in first (Admin.Login)");
		conn_close_soon(c, "a chunk before login");
		return;
	}
	rv = ups_chunk_decode(buf, len, &hdr, &payload, err, sizeof(err));
	if (rv) {
		conn_push_error(c, "Malformed", rv, err);
		return;
	}
	to = c->role == UPS_ROLE_PLUGIN ? relay_find(r, hdr.origin) : r->plugin;
	if (!to) {
		if (c->role == UPS_ROLE_PLUGIN)
			relay_log_drop(r, hdr.origin);
		else
			conn_push_error(c, "Chunk", UPS_ERR_UNAVAILABLE,
			                "no upstaged is linked to this relay");
		return;
	}
	/* The frame we received is borrowed: rewrite a copy of the header. */
	memcpy(head, buf, sizeof(head));
	if (c->role == UPS_ROLE_PLUGIN) {
		/* To a client: one that cannot take it is dropped (conn.h),
		 * never the link. */
		if (!to->closing) {
			ups_chunk_set_origin(head, sizeof(head), 0);
			(void)conn_send_chunk(to, head, sizeof(head), payload,
			                      hdr.length);
		}
		return;
	}
	/* To upstaged, bounded like requests: a full link is busy. */
	ups_chunk_set_origin(head, sizeof(head), c->origin);
	rv = ups_outq_send(&to->outq, to->wsi, true, head, sizeof(head),
	                   payload, hdr.length);
	if (rv == 0)
		ups_outq_tag_last(&to->outq, c->origin);
	else
		conn_push_error(c, "Chunk", rv, NULL);
}

static int conn_on_receive(struct relay_conn *c, const void *in, size_t len)
{
	struct ups_rxmsg msg;
	int rv;

	if (c->closing) {
		/* Read the rest of a message in flight before closing: a
		 * close with unread input sends a RST, and the peer's stack
		 * then drops our last answer (the reason for the close). */
		if (c->rx.active) {
			(void)ups_rxbuf_feed(&c->rx, c->wsi, in, len, &msg);
			if (!c->rx.active)
				lws_callback_on_writable(c->wsi);
		}
		return 0;
	}
	rv = ups_rxbuf_feed(&c->rx, c->wsi, in, len, &msg);
	if (rv == UPS_ERR_TOO_LARGE && c->role == UPS_ROLE_PLUGIN) {
		/* Even beyond what the link reassembles, the framing is
		 * intact: the message is skipped, the link stays. */
		LOG_WARN(MOD, "dropping a message from upstaged over %zu "
		              "bytes",
		         c->rx.binary ? (size_t)UPS_LIMIT_BINARY_MSG_MAX
		                      : RELAY_LINK_TEXT_MAX);
		return 0;
	}
	if (rv == UPS_ERR_TOO_LARGE) {
		conn_push_error(c, "Malformed", rv,
		                "message exceeds its limit");
		conn_close_soon(c, "an oversized message");
		return 0;
	}
	if (rv < 0)
		return -1;
	if (rv == 0)
		return 0;
	if (msg.binary)
		conn_on_chunk(c, msg.data, msg.len);
	else
		conn_on_text(c, (const char *)msg.data, msg.len);
	return 0;
}

static void conn_closed(struct relay_conn *c)
{
	struct relay *r = c->relay;

	gate_forget(&r->gate, c);
	if (c == r->plugin) {
		r->plugin = NULL;
		r->link_changes++;
		printf("plugin unlinked\n");
		fflush(stdout);
		LOG_INFO(MOD, "plugin unlinked");
	} else if (c->origin) {
		relay_remove(r, c);
		/* What it sent that upstaged has not read yet has nobody to
		 * answer to; dropping it keeps other clients from waiting
		 * behind a flooder's backlog. */
		if (r->plugin) {
			size_t n = ups_outq_drop_tag(&r->plugin->outq,
			                             c->origin);

			if (n)
				LOG_INFO(MOD,
				         "origin %u closed: dropped %zu queued "
				         "messages for upstaged",
				         c->origin, n);
		}
		plugin_announce(r, c, "Closed");
	}
	conn_free(c);
}

/* Websocket upgrades are taken on "/" with version 13 (RFC 6455) only.
 * Anything else is answered like plain HTTP would be, without a body,
 * and closed. */
static int relay_filter_upgrade(struct lws *wsi)
{
	static const char not_found[] = "HTTP/1.1 404 Not Found\r\n"
	                                "content-length: 0\r\n"
	                                "connection: close\r\n\r\n";
	/* RFC 6455 4.4: say which version we speak. */
	static const char bad_version[] = "HTTP/1.1 400 Bad Request\r\n"
	                                  "sec-websocket-version: 13\r\n"
	                                  "content-length: 0\r\n"
	                                  "connection: close\r\n\r\n";
	unsigned char buf[LWS_PRE + sizeof(bad_version)];
	const char *answer = NULL;
	char uri[8], version[8];

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(uri, "/") != 0)
		answer = not_found;
	else if (lws_hdr_copy(wsi, version, sizeof(version),
	                      WSI_TOKEN_VERSION) <= 0 ||
	         strcmp(version, "13") != 0)
		answer = bad_version;
	if (!answer)
		return 0;
	LOG_DEBUG(MOD, "refusing a websocket upgrade: %.*s",
	          (int)(strchr(answer, '\r') - answer), answer);
	/* On a connection lws has made a websocket, LWS_WRITE_HTTP writes
	 * the bytes as they are. */
	memcpy(buf + LWS_PRE, answer, strlen(answer));
	(void)lws_write(wsi, buf + LWS_PRE, strlen(answer), LWS_WRITE_HTTP);
	return -1;
}

/* Plain HTTP: there is nothing to get here. 404 for GET and HEAD, 405
 * for any other method, always without a body. */
static int relay_http(struct lws *wsi)
{
	uint8_t buf[LWS_PRE + 512];
	uint8_t *start = buf + LWS_PRE, *p = start;
	uint8_t *end = buf + sizeof(buf) - 1;
	char *uri = NULL;
	int uri_len = 0;
	int meth = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
	bool known = meth == LWSHUMETH_GET || meth == LWSHUMETH_HEAD;

	if (lws_add_http_common_headers(wsi,
	                                known ? HTTP_STATUS_NOT_FOUND
	                                      : HTTP_STATUS_METHOD_NOT_ALLOWED,
	                                NULL, 0, &p, end))
		return -1;
	if (!known && lws_add_http_header_by_name(
	                  wsi, (const unsigned char *)"allow:",
	                  (const unsigned char *)"GET, HEAD", 9, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The relay's own figures (Prometheus text, 0.0.4). */
static char *relay_metrics_text(const struct relay *r, size_t *len)
{
	unsigned roles[UPS_ROLE__COUNT] = {0};
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	for (size_t b = 0; b < RELAY_BUCKETS; b++)
		for (const struct relay_conn *c = r->buckets[b]; c; c = c->next)
			if ((unsigned)c->role < UPS_ROLE__COUNT)
				roles[c->role]++;
	if (r->plugin)
		roles[UPS_ROLE_PLUGIN]++;
	ups_metric_family(f, "upstage_relay_connections", "gauge",
	                  "Logged-in connections through the relay, by role "
	                  "(plugin: the linked upstaged).");
	for (unsigned i = UPS_ROLE_CLIENT; i < UPS_ROLE__COUNT; i++)
		ups_metric_sample(f, "upstage_relay_connections", "role",
		                  ups_role_name(i), roles[i]);
	ups_metric_family(f, "upstage_relay_connections_open", "gauge",
	                  "Websocket connections open, logged in or not.");
	ups_metric_sample(f, "upstage_relay_connections_open", NULL, NULL,
	                  r->gate.count + r->gate.pending);
	ups_metric_family(f, "upstage_relay_received_bytes_total", "counter",
	                  "Websocket payload bytes received to forward, by "
	                  "sender.");
	ups_metric_sample(f, "upstage_relay_received_bytes_total", "from",
	                  "peers", (double)r->rx_bytes[0]);
	ups_metric_sample(f, "upstage_relay_received_bytes_total", "from",
	                  "upstaged", (double)r->rx_bytes[1]);
	ups_metric_family(f, "upstage_relay_link_up", "gauge",
	                  "1 while an upstaged is linked to the relay.");
	ups_metric_sample(f, "upstage_relay_link_up", NULL, NULL,
	                  r->plugin ? 1 : 0);
	ups_metric_family(f, "upstage_relay_link_changes_total", "counter",
	                  "Times an upstaged linked or went away.");
	ups_metric_sample(f, "upstage_relay_link_changes_total", NULL, NULL,
	                  (double)r->link_changes);
	ups_metric_family(f, "upstage_relay_dropped_messages_total", "counter",
	                  "Messages from upstaged for a connection that is "
	                  "gone.");
	ups_metric_sample(f, "upstage_relay_dropped_messages_total", NULL,
	                  NULL, (double)r->dropped);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* GET /metrics: headers and the whole body at once (a few hundred
 * bytes; lws keeps what the socket does not take). */
static int relay_metrics(const struct relay *r, struct lws *wsi)
{
	uint8_t hbuf[LWS_PRE + 512];
	uint8_t *start = hbuf + LWS_PRE, *p = start;
	uint8_t *end = hbuf + sizeof(hbuf) - 1;
	size_t len = 0;
	char *text = relay_metrics_text(r, &len);
	char *uri = NULL;
	int uri_len = 0;
	bool head = lws_http_get_uri_and_method(wsi, &uri, &uri_len) ==
	            LWSHUMETH_HEAD;
	uint8_t *body;
	int rv = -1;

	if (!text)
		return -1;
	body = malloc(LWS_PRE + len);
	if (body &&
	    !lws_add_http_common_headers(
	        wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
	        len, &p, end) &&
	    !lws_finalize_write_http_header(wsi, start, &p, end)) {
		memcpy(body + LWS_PRE, text, len);
		/* HEAD: the length a GET would have, and no body. */
		if (head || lws_write(wsi, body + LWS_PRE, len,
		                      LWS_WRITE_HTTP_FINAL) == (int)len)
			rv = lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	free(body);
	free(text);
	return rv;
}

static int relay_callback(struct lws *wsi, enum lws_callback_reasons reason,
                          void *user, void *in, size_t len)
{
	struct relay_conn *c = user;
	struct relay *r = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return relay_filter_upgrade(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		if (r->stopping)
			return -1;
		conn_init(c, r, wsi, &r->gate.clock);
		if (gate_admit(&r->gate, c)) {
			conn_free(c);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (c && c->live)
			r->rx_bytes[c->role == UPS_ROLE_PLUGIN] += len;
		return c && c->live ? conn_on_receive(c, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c && c->live ? conn_writeable(c) : -1;
	case LWS_CALLBACK_CLOSED:
		if (c && c->live)
			conn_closed(c);
		return 0;
	case LWS_CALLBACK_HTTP:
		if (in && strcmp((const char *)in, "/metrics") == 0)
			return relay_metrics(r, wsi);
		return relay_http(wsi);
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int relay_init(struct relay *r, uv_loop_t *loop, const struct gate_config *cfg)
{
	r->stopping = false;
	ups_throttle_init(&r->throttle);
	return gate_init(&r->gate, loop, cfg, &r->throttle);
}

void relay_stop(struct relay *r)
{
	r->stopping = true;
	gate_stop(&r->gate);
}

const struct lws_protocols relay_protocols[] = {
    {
        .name = UPS_WS_SUBPROTOCOL,
        .callback = relay_callback,
        .per_session_data_size = sizeof(struct relay_conn),
        .rx_buffer_size = 64 * 1024,
    },
    {0},
};
