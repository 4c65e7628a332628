/* contrib/relay: a real relay context on a loop, with in-process websocket
 * clients on the same loop (a client vhost in the relay's own context):
 * clients and machines, and a fake upstaged that logs in as role plugin
 * and answers what the relay forwards. The auth file is written by the
 * test. Nothing sleeps: the loop runs until the awaited message arrives,
 * under a watchdog (tests/lib/loop_wait.h). The relay's clock (gate.h) is
 * the test's: it stands still unless a test moves it, and the deadlines
 * are checked by moving it and calling gate_sweep_now(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contrib/relay/conn.h"
#include "contrib/relay/relay.h"
#include "proto/chunk.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "tests/lib/loop_wait.h"
#include "tests/lib/ws_peer.h"

#define CLIENT_TOKEN  "c-secret"
#define MACHINE_TOKEN "m-secret"
#define PLUGIN_TOKEN  "p-secret"

#define MAX_PEERS  16
#define WAIT_MS    10000
#define FLOOD_MS   45000
#define FLOOD_SIZE (1024 * 1024) /* chunk payload while flooding */
/* Requests that fill what room a full link queue has left: more than a
 * chunk's worth in all, each within the text message limit. */
#define BUSY_REQUESTS 21
#define BUSY_PAD      (60 * 1024)
/* Where the relay's clock starts: any time will do, none is special. */
#define CLOCK_START_MS 1000000

struct fixture {
	uv_loop_t loop;
	struct loop_wait lw;
	struct relay relay;
	struct lws_vhost *clients; /* the test's client vhost */
	struct ws_peer peers[MAX_PEERS];
	unsigned npeers;
	uint64_t next_id;
	/* A client that sends chunk frames as fast as the relay reads
	 * them, while flooding. */
	struct ws_peer *flooder;
	bool flooding;
	unsigned flood_sent;
	uint8_t *flood_frame;
	uint64_t now_ms; /* the relay's clock (gate.h) */
};

static uint64_t fake_now(void *user)
{
	return ((struct fixture *)user)->now_ms;
}

/* The test's clients. */

static void flood_one(struct fixture *f)
{
	struct ups_chunk_header hdr = {
	    .upload_id = 1,
	    .offset = (uint64_t)f->flood_sent * FLOOD_SIZE,
	    .length = FLOOD_SIZE,
	};

	ups_chunk_encode_header(&hdr, f->flood_frame);
	ws_peer_send_binary(f->flooder, f->flood_frame,
	                    UPS_CHUNK_HEADER_SIZE + FLOOD_SIZE);
	f->flood_sent++;
}

static int client_callback(struct lws *wsi, enum lws_callback_reasons reason,
                           void *user, void *in, size_t len)
{
	struct ws_peer *p = user;
	struct fixture *f;
	int rv;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (p)
			p->connect_failed = true;
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		ws_peer_established(p, wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return ws_peer_receive(p, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		rv = ws_peer_writeable(p);
		f = p->user;
		if (rv == 0 && p == f->flooder && f->flooding &&
		    ups_outq_empty(&p->outq))
			flood_one(f);
		return rv;
	case LWS_CALLBACK_CLIENT_CLOSED:
		ws_peer_closed(p);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols client_protocols[] = {
    {
        .name = UPS_WS_SUBPROTOCOL,
        .callback = client_callback,
        .rx_buffer_size = 64 * 1024,
    },
    {0},
};

/* Fixture: the relay on 127.0.0.1:0 with an auth file for the three
 * roles and the test's clock, and a client vhost in the same context. */
static int setup(void **state)
{
	static const char auth[] = "client " CLIENT_TOKEN "\n"
	                           "machine " MACHINE_TOKEN "\n"
	                           "plugin " PLUGIN_TOKEN "\n";
	struct fixture *f = calloc(1, sizeof(*f));
	struct lws_context_creation_info info;
	struct ups_ws_config cfg;
	struct gate_config limits;
	char err[UPS_ERRMSG_MAX];
	char path[] = "/tmp/upstage-test-relay-auth-XXXXXX";
	int fd;

	assert_non_null(f);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, auth, sizeof(auth) - 1),
	                 (ssize_t)sizeof(auth) - 1);
	close(fd);
	assert_int_equal(ups_auth_load(&f->relay.auth, path, err, sizeof(err)),
	                 0);
	unlink(path);

	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(loop_wait_init(&f->lw, &f->loop, WAIT_MS), 0);
	ups_ws_init_logging();
	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = &f->loop;
	cfg.protocols = relay_protocols;
	cfg.user = &f->relay;
	cfg.listen_host = "127.0.0.1";
	cfg.listen_port = 0;
	assert_int_equal(ups_ws_create(&f->relay.ws, &cfg, err, sizeof(err)),
	                 0);
	gate_config_default(&limits);
	f->now_ms = CLOCK_START_MS;
	limits.now_ms = fake_now;
	limits.now_user = f;
	assert_int_equal(relay_init(&f->relay, &f->loop, &limits), 0);

	memset(&info, 0, sizeof(info));
	info.vhost_name = "test-clients";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	f->clients = lws_create_vhost(f->relay.ws.context, &info);
	assert_non_null(f->clients);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	relay_stop(&f->relay);
	/* Every connection went at once: nothing waits for a flush. */
	assert_null(f->relay.gate.all);
	loop_wait_close(&f->lw);
	ups_ws_begin_destroy(&f->relay.ws);
	ups_ws_finish_destroy(&f->relay.ws);
	for (i = 0; i < f->npeers; i++)
		ws_peer_free(&f->peers[i]);
	free(f->flood_frame);
	ups_auth_free(&f->relay.auth);
	/* Every handle the relay, lws and the test opened is closed. */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

/* Helpers. */

/* Starts a client connection to the relay on path; returns at once. */
static struct ws_peer *start_peer(struct fixture *f, const char *path)
{
	struct lws_client_connect_info ci;
	struct ws_peer *p;

	assert_true(f->npeers < MAX_PEERS);
	p = &f->peers[f->npeers++];
	ws_peer_init(p, 16 * 1024 * 1024, f);
	memset(&ci, 0, sizeof(ci));
	ci.context = f->relay.ws.context;
	ci.vhost = f->clients;
	ci.address = "127.0.0.1";
	ci.port = f->relay.ws.port;
	ci.path = path;
	ci.host = "127.0.0.1";
	ci.origin = "127.0.0.1";
	ci.protocol = UPS_WS_SUBPROTOCOL;
	ci.userdata = p;
	if (!lws_client_connect_via_info(&ci))
		p->connect_failed = true;
	return p;
}

static struct ws_peer *connect_peer(struct fixture *f)
{
	struct ws_peer *p = start_peer(f, "/");

	LOOP_WAIT(&f->lw, p->established || p->connect_failed);
	assert_true(p->established);
	return p;
}

static json_int_t int_of(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v)) {
		char *text = json_dumps(obj, JSON_COMPACT);

		fail_msg("no integer \"%s\" in %s", key, text);
	}
	return json_integer_value(v);
}

static const char *str_of(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (!s) {
		char *text = json_dumps(obj, JSON_COMPACT);

		fail_msg("no string \"%s\" in %s", key, text);
	}
	return s;
}

static void assert_json_equal(const json_t *got, const json_t *want)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);

		fail_msg("got %s, want %s", g, w);
	}
}

/* Sends Admin.Login and returns the answer (borrowed). token NULL sends
 * none. */
static json_t *login(struct fixture *f, struct ws_peer *p, const char *role,
                     const char *token)
{
	uint64_t id = ++f->next_id;
	json_t *params = json_pack("{s:s}", "role", role);
	json_t *answer;

	if (token)
		json_object_set_new(params, "token", json_string(token));
	ws_peer_send_json(p, ups_env_request(id, "Admin", 1, "Login", params));
	answer = ws_peer_next_text(&f->lw, p);
	assert_int_equal(int_of(answer, "request-id"), id);
	return answer;
}

static void login_ok(struct fixture *f, struct ws_peer *p, const char *role,
                     const char *token)
{
	json_t *response =
	    json_object_get(login(f, p, role, token), "response");

	assert_non_null(response);
	assert_string_equal(str_of(response, "role"), role);
	assert_string_equal(str_of(response, "server-version"),
	                    UPSTAGE_VERSION);
}

static void login_refused(struct fixture *f, struct ws_peer *p,
                          const char *role, const char *token, const char *code)
{
	assert_string_equal(str_of(login(f, p, role, token), "error-code"),
	                    code);
}

/* A fake upstaged: connected and logged in as plugin. */
static struct ws_peer *link_upstaged(struct fixture *f)
{
	struct ws_peer *u = connect_peer(f);

	login_ok(f, u, "plugin", PLUGIN_TOKEN);
	return u;
}

/* Sends a Test.Echo request from p with the given params (taken) and,
 * unless 0, a claimed origin; returns its request-id. */
static uint64_t send_request(struct fixture *f, struct ws_peer *p,
                             json_t *params, uint32_t claimed_origin)
{
	uint64_t id = ++f->next_id;
	json_t *env = ups_env_request(id, "Test", 1, "Echo", params);

	if (claimed_origin)
		assert_int_equal(ups_env_set_origin(env, claimed_origin), 0);
	ws_peer_send_json(p, env);
	return id;
}

/* The next message at p is the error code for request id. */
static void expect_error(struct fixture *f, struct ws_peer *p, uint64_t id,
                         const char *code)
{
	json_t *env = ws_peer_next_text(&f->lw, p);

	assert_int_equal(int_of(env, "request-id"), id);
	assert_string_equal(str_of(env, "error-code"), code);
}

/* The next message at p is the push Error.<what> with code. */
static void expect_error_push(struct fixture *f, struct ws_peer *p,
                              const char *what, const char *code)
{
	json_t *env = ws_peer_next_text(&f->lw, p);

	assert_null(json_object_get(env, "request-id"));
	assert_string_equal(str_of(env, "type"), "Error");
	assert_string_equal(str_of(env, "request"), what);
	assert_string_equal(
	    str_of(json_object_get(env, "params"), "error-code"), code);
}

/* The next message at upstaged u is Relay.Opened for a role; returns the
 * origin it announces. */
static uint32_t expect_opened(struct fixture *f, struct ws_peer *u,
                              const char *role)
{
	json_t *env = ws_peer_next_text(&f->lw, u);
	json_t *params = json_object_get(env, "params");
	json_int_t origin;

	assert_string_equal(str_of(env, "type"), "Relay");
	assert_string_equal(str_of(env, "request"), "Opened");
	assert_null(json_object_get(env, "origin"));
	assert_string_equal(str_of(params, "role"), role);
	origin = int_of(params, "origin");
	assert_true(origin > 0 && (uint64_t)origin <= UPS_LIMIT_ORIGIN_MAX);
	return (uint32_t)origin;
}

static void expect_closed(struct fixture *f, struct ws_peer *u, uint32_t origin)
{
	json_t *env = ws_peer_next_text(&f->lw, u);

	assert_string_equal(str_of(env, "type"), "Relay");
	assert_string_equal(str_of(env, "request"), "Closed");
	assert_int_equal(int_of(json_object_get(env, "params"), "origin"),
	                 origin);
}

/* The next message at upstaged u is request id with "origin": origin and
 * otherwise as sent; returns it. */
static json_t *expect_forwarded(struct fixture *f, struct ws_peer *u,
                                uint64_t id, uint32_t origin)
{
	json_t *env = ws_peer_next_text(&f->lw, u);

	assert_string_equal(str_of(env, "request"), "Echo");
	assert_int_equal(int_of(env, "request-id"), id);
	assert_int_equal(int_of(env, "origin"), origin);
	return env;
}

/* upstaged's answer to request id of origin, with {"to": to}. */
static void answer(struct ws_peer *u, uint64_t id, uint32_t origin,
                   const char *to)
{
	json_t *env = ups_env_response(id, json_pack("{s:s}", "to", to));

	if (origin)
		assert_int_equal(ups_env_set_origin(env, origin), 0);
	ws_peer_send_json(u, env);
}

static void send_chunk(struct ws_peer *p, uint64_t offset, const char *data,
                       uint32_t origin)
{
	uint8_t frame[UPS_CHUNK_HEADER_SIZE + 64];
	struct ups_chunk_header hdr = {
	    .upload_id = 3,
	    .offset = offset,
	    .length = (uint32_t)strlen(data),
	    .origin = origin,
	};

	assert_true(hdr.length <= 64);
	ups_chunk_encode_header(&hdr, frame);
	memcpy(frame + UPS_CHUNK_HEADER_SIZE, data, hdr.length);
	ws_peer_send_binary(p, frame, UPS_CHUNK_HEADER_SIZE + hdr.length);
}

/* The next binary message at p is a chunk of upload 3 at offset with
 * payload data and origin. */
static void expect_chunk(struct fixture *f, struct ws_peer *p, uint64_t offset,
                         const char *data, uint32_t origin)
{
	const struct ws_peer_bin *bin = ws_peer_next_binary(&f->lw, p);
	struct ups_chunk_header hdr;
	const uint8_t *payload;
	char err[UPS_ERRMSG_MAX];

	assert_int_equal(ups_chunk_decode(bin->data, bin->len, &hdr, &payload,
	                                  err, sizeof(err)),
	                 0);
	assert_int_equal(hdr.upload_id, 3);
	assert_int_equal(hdr.offset, offset);
	assert_int_equal(hdr.origin, origin);
	assert_int_equal(hdr.length, strlen(data));
	assert_memory_equal(payload, data, hdr.length);
}

/* Runs the loop for ms milliseconds. */
static void on_nap(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

static void nap(struct fixture *f, uint64_t ms)
{
	uv_timer_t t;
	bool done = false;

	assert_int_equal(uv_timer_init(&f->loop, &t), 0);
	t.data = &done;
	assert_int_equal(uv_timer_start(&t, on_nap, ms, 0), 0);
	LOOP_WAIT(&f->lw, done);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* The relay's connection for origin (a logged-in client or machine). */
static struct relay_conn *relay_conn_of(struct fixture *f, uint32_t origin)
{
	struct relay_conn *c = f->relay.buckets[origin & (RELAY_BUCKETS - 1)];

	while (c && c->origin != origin)
		c = c->next;
	assert_non_null(c);
	return c;
}

/* How many of the relay's connections it is closing. */
static unsigned closing_count(struct fixture *f)
{
	struct relay_conn *c;
	unsigned n = 0;

	for (c = f->relay.gate.all; c; c = c->all_next)
		n += c->closing;
	return n;
}

/* A raw HTTP exchange with the relay: sends request and keeps what came
 * back (NUL-terminated) once a whole header arrived or the relay closed
 * the connection. */
struct http_exchange {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	const char *request;
	char answer[4096];
	size_t len;
	bool done, closed;
};

static void http_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct http_exchange *x = h->data;

	(void)hint;
	buf->base = x->answer + x->len;
	buf->len = sizeof(x->answer) - 1 - x->len;
}

static void http_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct http_exchange *x = s->data;

	(void)buf;
	if (n > 0) {
		x->len += (size_t)n;
		x->answer[x->len] = '\0';
		/* No answer here has a body, and a 101 or a kept-alive
		 * connection stays open: the header is enough. */
		if (strstr(x->answer, "\r\n\r\n"))
			x->done = true;
	} else if (n < 0) {
		x->done = true;
	}
	if (x->len + 1 >= sizeof(x->answer))
		x->done = true;
}

static void http_connected(uv_connect_t *req, int status)
{
	struct http_exchange *x = req->data;
	uv_buf_t buf = uv_buf_init((char *)x->request, strlen(x->request));

	if (status) {
		x->done = true;
		return;
	}
	assert_int_equal(uv_write(&x->write, (uv_stream_t *)&x->tcp, &buf, 1,
	                          NULL),
	                 0);
	assert_int_equal(uv_read_start((uv_stream_t *)&x->tcp, http_alloc,
	                               http_read),
	                 0);
}

static void http_closed(uv_handle_t *h)
{
	((struct http_exchange *)h->data)->closed = true;
}

static void http_exchange(struct fixture *f, struct http_exchange *x,
                          const char *request)
{
	struct sockaddr_in addr;

	memset(x, 0, sizeof(*x));
	x->request = request;
	assert_int_equal(uv_ip4_addr("127.0.0.1", f->relay.ws.port, &addr), 0);
	assert_int_equal(uv_tcp_init(&f->loop, &x->tcp), 0);
	x->tcp.data = x;
	x->connect.data = x;
	assert_int_equal(uv_tcp_connect(&x->connect, &x->tcp,
	                                (const struct sockaddr *)&addr,
	                                http_connected),
	                 0);
	LOOP_WAIT(&f->lw, x->done);
	uv_close((uv_handle_t *)&x->tcp, http_closed);
	LOOP_WAIT(&f->lw, x->closed);
}

/* Tests. */

static void test_login_required_and_checked_per_role(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *c = connect_peer(f);
	struct ws_peer *m, *x, *y;
	uint64_t id;
	json_t *env;

	/* Nothing passes before a login. */
	id = send_request(f, c, NULL, 0);
	expect_error(f, c, id, "unauthorized");
	ws_peer_send_json(c, ups_env_push("Test", "Hello", NULL));
	expect_error_push(f, c, "Unauthorized", "unauthorized");

	/* Each role has its own token. */
	login_refused(f, c, "client", MACHINE_TOKEN, "unauthorized");
	login_refused(f, c, "plugin", CLIENT_TOKEN, "unauthorized");
	login_ok(f, c, "client", CLIENT_TOKEN);
	login_refused(f, c, "client", CLIENT_TOKEN, "bad-request");
	m = connect_peer(f);
	login_refused(f, m, "machine", CLIENT_TOKEN, "unauthorized");
	login_ok(f, m, "machine", MACHINE_TOKEN);

	/* The third failed login closes the connection, after its answer. */
	x = connect_peer(f);
	login_refused(f, x, "admin", CLIENT_TOKEN, "bad-request");
	login_refused(f, x, "client", NULL, "unauthorized");
	assert_false(x->closed);
	login_refused(f, x, "client", "wrong", "unauthorized");
	LOOP_WAIT(&f->lw, x->closed);

	/* A chunk frame before login: refused and closed. */
	y = connect_peer(f);
	send_chunk(y, 0, "data", 0);
	expect_error_push(f, y, "Chunk", "unauthorized");
	LOOP_WAIT(&f->lw, y->closed);

	/* The logged-in ones were not disturbed. */
	id = send_request(f, c, NULL, 0);
	env = ws_peer_next_text(&f->lw, c);
	assert_int_equal(int_of(env, "request-id"), id);
	assert_false(c->closed || m->closed);
}

static void test_unavailable_without_upstaged(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *c = connect_peer(f);
	struct ws_peer *u;
	uint32_t origin;
	uint64_t id;

	login_ok(f, c, "client", CLIENT_TOKEN);
	id = send_request(f, c, NULL, 0);
	expect_error(f, c, id, "unavailable");
	send_chunk(c, 0, "data", 0);
	expect_error_push(f, c, "Chunk", "unavailable");

	/* Once an upstaged links, the same request goes through. */
	u = link_upstaged(f);
	origin = expect_opened(f, u, "client");
	id = send_request(f, c, NULL, 0);
	expect_forwarded(f, u, id, origin);

	/* And when it goes, requests are refused again. */
	ws_peer_kill(u);
	LOOP_WAIT(&f->lw, f->relay.plugin == NULL);
	id = send_request(f, c, NULL, 0);
	expect_error(f, c, id, "unavailable");
}

static void test_requests_forwarded_and_answers_routed(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *u = link_upstaged(f);
	struct ws_peer *a = connect_peer(f);
	struct ws_peer *b = connect_peer(f);
	uint32_t oa, ob;
	uint64_t ida, idb, id;
	json_t *want, *got;

	login_ok(f, a, "client", CLIENT_TOKEN);
	oa = expect_opened(f, u, "client");
	login_ok(f, b, "machine", MACHINE_TOKEN);
	ob = expect_opened(f, u, "machine");
	assert_true(oa != ob);

	/* Requests reach upstaged unchanged but for the origin stamped. */
	ida = send_request(f, a, json_pack("{s:s}", "from", "a"), 0);
	got = expect_forwarded(f, u, ida, oa);
	want = ups_env_request(ida, "Test", 1, "Echo",
	                       json_pack("{s:s}", "from", "a"));
	ups_env_set_origin(want, oa);
	assert_json_equal(got, want);
	json_decref(want);
	idb = send_request(f, b, json_pack("{s:s}", "from", "b"), 0);
	expect_forwarded(f, u, idb, ob);

	/* Answers go to their own client, without the origin; b's first. */
	answer(u, idb, ob, "b");
	answer(u, ida, oa, "a");
	want = ups_env_response(idb, json_pack("{s:s}", "to", "b"));
	assert_json_equal(ws_peer_next_text(&f->lw, b), want);
	json_decref(want);
	want = ups_env_response(ida, json_pack("{s:s}", "to", "a"));
	assert_json_equal(ws_peer_next_text(&f->lw, a), want);
	json_decref(want);

	/* A client cannot speak for another: the origin it claims is
	 * replaced with its own. */
	id = send_request(f, a, NULL, ob);
	expect_forwarded(f, u, id, oa);

	/* Answers for an unknown origin, or with none, go nowhere; the
	 * next answer for each client is its own. */
	answer(u, 1, 999, "nobody");
	answer(u, 1, 0, "nobody");
	answer(u, id, oa, "a2");
	answer(u, idb, ob, "b2");
	got = ws_peer_next_text(&f->lw, a);
	assert_string_equal(str_of(json_object_get(got, "response"), "to"),
	                    "a2");
	got = ws_peer_next_text(&f->lw, b);
	assert_string_equal(str_of(json_object_get(got, "response"), "to"),
	                    "b2");
	assert_int_equal(json_array_size(a->texts), a->texts_read);
	assert_int_equal(json_array_size(b->texts), b->texts_read);
}

static void test_chunks_stamped_and_routed(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *u = link_upstaged(f);
	struct ws_peer *a = connect_peer(f);
	struct ws_peer *b = connect_peer(f);
	uint32_t oa, ob;

	login_ok(f, a, "client", CLIENT_TOKEN);
	oa = expect_opened(f, u, "client");
	login_ok(f, b, "client", CLIENT_TOKEN);
	ob = expect_opened(f, u, "client");

	/* Client to upstaged: stamped with the sender's origin, whatever
	 * the frame claimed. */
	send_chunk(a, 0, "hello", 0);
	expect_chunk(f, u, 0, "hello", oa);
	send_chunk(a, 5, "spoof", ob);
	expect_chunk(f, u, 5, "spoof", oa);
	send_chunk(b, 0, "bee", 0);
	expect_chunk(f, u, 0, "bee", ob);

	/* upstaged to clients: routed by origin, which is stripped; one for
	 * an unknown origin goes nowhere. */
	send_chunk(u, 10, "for-b", ob);
	send_chunk(u, 20, "nobody", 999);
	send_chunk(u, 30, "for-a", oa);
	expect_chunk(f, b, 10, "for-b", 0);
	expect_chunk(f, a, 30, "for-a", 0);
	send_chunk(u, 40, "b-again", ob);
	expect_chunk(f, b, 40, "b-again", 0);
	assert_int_equal(a->nbins, a->bins_read);
	assert_int_equal(b->nbins, b->bins_read);
}

static void test_opened_and_closed_as_clients_come_and_go(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *a = connect_peer(f);
	struct ws_peer *n = connect_peer(f);
	struct ws_peer *b, *u;
	uint32_t oa, ob;
	uint64_t id;

	/* a logged in before upstaged linked; n never logs in. On linking,
	 * upstaged hears of a only. */
	login_ok(f, a, "machine", MACHINE_TOKEN);
	u = link_upstaged(f);
	oa = expect_opened(f, u, "machine");
	b = connect_peer(f);
	login_ok(f, b, "client", CLIENT_TOKEN);
	ob = expect_opened(f, u, "client");
	assert_true(oa != ob);

	/* b goes: Closed. */
	ws_peer_kill(b);
	expect_closed(f, u, ob);

	/* n goes (the relay closes it for a chunk before login): nothing
	 * to announce, so a's next request is upstaged's next message. */
	send_chunk(n, 0, "x", 0);
	LOOP_WAIT(&f->lw, n->closed);
	id = send_request(f, a, NULL, 0);
	expect_forwarded(f, u, id, oa);

	ws_peer_kill(a);
	expect_closed(f, u, oa);
}

static void test_second_plugin_refused(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *u1 = link_upstaged(f);
	struct ws_peer *a = connect_peer(f);
	struct ws_peer *u2, *u3;
	uint32_t oa;
	uint64_t id;

	login_ok(f, a, "client", CLIENT_TOKEN);
	oa = expect_opened(f, u1, "client");

	/* One upstaged at a time: a second one is refused and closed. */
	u2 = connect_peer(f);
	login_refused(f, u2, "plugin", PLUGIN_TOKEN, "conflict");
	LOOP_WAIT(&f->lw, u2->closed);
	id = send_request(f, a, NULL, 0);
	expect_forwarded(f, u1, id, oa);
	assert_int_equal(json_array_size(u2->texts), 1);

	/* The first one goes: unavailable until another links, which hears
	 * of the clients already there. */
	ws_peer_kill(u1);
	LOOP_WAIT(&f->lw, f->relay.plugin == NULL);
	id = send_request(f, a, NULL, 0);
	expect_error(f, a, id, "unavailable");
	u3 = link_upstaged(f);
	assert_int_equal(expect_opened(f, u3, "client"), oa);
	id = send_request(f, a, NULL, 0);
	expect_forwarded(f, u3, id, oa);
}

static void test_busy_when_the_link_queue_is_full(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *u = link_upstaged(f);
	struct ws_peer *a = connect_peer(f);
	struct ws_peer *b;
	uint64_t ids[BUSY_REQUESTS];
	unsigned busy_chunks = 0, busy_requests = 0, accepted, delivered, i;
	char *pad;
	uint32_t oa, ob;
	uint64_t id;
	json_t *env;

	login_ok(f, a, "client", CLIENT_TOKEN);
	oa = expect_opened(f, u, "client");

	/* upstaged stops reading; a sends 1 MiB chunks until the relay's
	 * queue for upstaged is full and a is told busy. */
	lws_rx_flow_control(u->wsi, 0);
	f->flood_frame = malloc(UPS_CHUNK_HEADER_SIZE + FLOOD_SIZE);
	assert_non_null(f->flood_frame);
	memset(f->flood_frame, 'f', UPS_CHUNK_HEADER_SIZE + FLOOD_SIZE);
	ups_outq_set_self_mask(&a->outq, true);
	f->flooder = a;
	f->flooding = true;
	flood_one(f);
	f->lw.timeout_ms = FLOOD_MS;
	LOOP_WAIT(&f->lw, json_array_size(a->texts) > a->texts_read);
	f->lw.timeout_ms = WAIT_MS;
	f->flooding = false;

	/* Less than a chunk's room is left: requests that fill it are
	 * answered busy too. Before the last one's answer come the busy
	 * pushes for the chunks refused and the busy errors for the
	 * requests refused, and nothing else. */
	pad = malloc(BUSY_PAD + 1);
	assert_non_null(pad);
	memset(pad, 'p', BUSY_PAD);
	pad[BUSY_PAD] = '\0';
	for (i = 0; i < BUSY_REQUESTS; i++)
		ids[i] = send_request(f, a, json_pack("{s:s}", "pad", pad), 0);
	free(pad);
	for (;;) {
		env = ws_peer_next_text(&f->lw, a);
		if (!json_object_get(env, "request-id")) {
			assert_string_equal(str_of(env, "type"), "Error");
			assert_string_equal(str_of(env, "request"), "Chunk");
			assert_string_equal(
			    str_of(json_object_get(env, "params"),
			           "error-code"),
			    "busy");
			assert_int_equal(busy_requests, 0);
			busy_chunks++;
			continue;
		}
		assert_string_equal(str_of(env, "error-code"), "busy");
		assert_true(int_of(env, "request-id") >= (json_int_t)ids[0]);
		busy_requests++;
		if (int_of(env, "request-id") ==
		    (json_int_t)ids[BUSY_REQUESTS - 1])
			break;
	}
	assert_true(busy_chunks >= 1);
	assert_true(busy_requests >= 1);
	accepted = f->flood_sent - busy_chunks;
	assert_true((uint64_t)accepted * FLOOD_SIZE > UPS_LIMIT_OUTQ_BYTES);

	/* Tiny requests, smaller than a Relay.Opened, until even they find
	 * no room: the last one is busy. */
	for (i = 0; i < 2000; i++) {
		char text[64];
		int n = snprintf(text, sizeof(text),
		                 "{\"request-id\":%u,\"type\":\"T\","
		                 "\"request\":\"E\"}",
		                 1000 + i);

		ws_peer_send_text(a, text, (size_t)n);
	}
	do
		env = ws_peer_next_text(&f->lw, a);
	while (int_of(env, "request-id") != 1000 + 2000 - 1);
	assert_string_equal(str_of(env, "error-code"), "busy");

	/* Another client logs in while the link is full: the relay's own
	 * Relay.Opened still goes to upstaged (it has room kept for it), and
	 * the link stays. */
	b = connect_peer(f);
	login_ok(f, b, "client", CLIENT_TOKEN);
	assert_non_null(f->relay.plugin);

	/* a goes while what it sent waits: the relay forgets it (its bucket
	 * empties) and drops what it queued for upstaged. upstaged, reading
	 * again, gets only the chunks that had already left the relay, in
	 * order, then Opened for b and Closed for a: none of the requests
	 * queued behind them. */
	ws_peer_kill(a);
	LOOP_WAIT(&f->lw, f->relay.buckets[oa & (RELAY_BUCKETS - 1)] == NULL);
	lws_rx_flow_control(u->wsi, 1);
	ob = expect_opened(f, u, "client");
	expect_closed(f, u, oa);
	delivered = (unsigned)u->nbins;
	for (i = 0; i < delivered; i++) {
		struct ups_chunk_header hdr;
		const uint8_t *payload;
		char err[UPS_ERRMSG_MAX];

		assert_int_equal(ups_chunk_decode(u->bins[i].data,
		                                  u->bins[i].len, &hdr,
		                                  &payload, err, sizeof(err)),
		                 0);
		assert_int_equal(hdr.origin, oa);
		assert_int_equal(hdr.offset, (uint64_t)i * FLOOD_SIZE);
	}
	/* More than a whole session queue's worth never reached it. */
	assert_true(delivered < accepted);
	assert_true((uint64_t)(accepted - delivered) * FLOOD_SIZE >
	            UPS_LIMIT_OUTQ_BYTES);

	/* The link carries traffic again. */
	assert_false(u->closed);
	id = send_request(f, b, NULL, 0);
	expect_forwarded(f, u, id, ob);
	answer(u, id, ob, "b");
	env = ws_peer_next_text(&f->lw, b);
	assert_int_equal(int_of(env, "request-id"), id);
}


/* A connection that does not log in is closed at the login deadline,
 * whatever it sends; one that logged in stays. */
static void test_login_deadline(void **state)
{
	struct fixture *f = *state;
	uint64_t timeout = f->relay.gate.cfg.login_timeout_ms;
	uint64_t t0 = f->now_ms, id;
	struct ws_peer *idle, *chat, *ok;
	int i;

	/* All three come at t0: the clock stands still meanwhile. */
	idle = connect_peer(f);
	chat = connect_peer(f);
	ok = connect_peer(f);
	login_ok(f, ok, "client", CLIENT_TOKEN);
	/* Talking is no login, but nobody goes before the deadline. */
	for (i = 1; i <= 10; i++) {
		f->now_ms = t0 + timeout * (uint64_t)i / 10 - 1;
		id = send_request(f, chat, NULL, 0);
		expect_error(f, chat, id, "unauthorized");
		gate_sweep_now(&f->relay.gate);
		assert_int_equal(closing_count(f), 0);
	}
	assert_int_equal(f->relay.gate.count, 3);
	/* At the deadline both not logged in are closed, and only they. */
	f->now_ms = t0 + timeout;
	gate_sweep_now(&f->relay.gate);
	assert_int_equal(closing_count(f), 2);
	LOOP_WAIT(&f->lw, idle->closed && chat->closed);
	LOOP_WAIT(&f->lw, f->relay.gate.count == 1);
	/* Long after it, the one logged in still gets its answers. */
	f->now_ms += 10 * timeout;
	gate_sweep_now(&f->relay.gate);
	assert_int_equal(closing_count(f), 0);
	id = send_request(f, ok, NULL, 0);
	expect_error(f, ok, id, "unavailable");
	assert_false(ok->closed);
	assert_int_equal(f->relay.gate.count, 1);
}

/* Before login a peer's answers may take a small budget: one that does
 * not read them is dropped once they pass half of it, long before its
 * login deadline. */
static void test_prelogin_budget(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *spam = connect_peer(f);
	const char *texts[2000];
	uint64_t t0;
	size_t i;

	f->relay.gate.cfg.login_timeout_ms = 60000;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		texts[i] = "x";
	lws_rx_flow_control(spam->wsi, 0);
	t0 = uv_now(&f->loop);
	/* All at once: every frame is answered before the relay could
	 * write a single answer. */
	ws_peer_send_client_burst(spam, texts,
	                          sizeof(texts) / sizeof(texts[0]));
	f->lw.timeout_ms = 5000;
	LOOP_WAIT(&f->lw, f->relay.gate.all == NULL);
	assert_true(uv_now(&f->loop) - t0 < 3000);
	/* A peer that does not read sees its end only once it reads. */
	lws_rx_flow_control(spam->wsi, 1);
	LOOP_WAIT(&f->lw, spam->closed);
}

/* Beyond max-pending-sessions the oldest connection not logged in makes
 * room; beyond max-sessions connections are refused, but the link from
 * upstaged does not take a client's slot once it has logged in. */
static void test_pending_and_session_caps(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *p1, *p2, *p3, *p4, *u;
	uint32_t o2, o3;

	u = link_upstaged(f);
	f->relay.gate.cfg.max_pending = 2;
	f->relay.gate.cfg.max_sessions = 3;
	p1 = connect_peer(f);
	p2 = connect_peer(f);
	p3 = connect_peer(f);
	LOOP_WAIT(&f->lw, p1->closed);
	assert_false(p2->closed || p3->closed);
	assert_int_equal(f->relay.gate.pending, 2);

	login_ok(f, p2, "client", CLIENT_TOKEN);
	o2 = expect_opened(f, u, "client");
	login_ok(f, p3, "machine", MACHINE_TOKEN);
	o3 = expect_opened(f, u, "machine");
	assert_true(o2 != o3);
	assert_int_equal(f->relay.gate.count, 2);

	/* One more fits; then the cap refuses. */
	p4 = connect_peer(f);
	login_ok(f, p4, "client", CLIENT_TOKEN);
	expect_opened(f, u, "client");
	p1 = start_peer(f, "/");
	LOOP_WAIT(&f->lw, p1->closed || p1->connect_failed);
	assert_false(p2->closed || p3->closed || p4->closed || u->closed);
}

/* Failed logins from one address: after the free ones the address must
 * wait, and a login meanwhile is answered busy with retry-ms, without
 * being looked at; after the wait a right token gets in. */
static void test_login_throttled(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *x = connect_peer(f);
	struct ws_peer *y = connect_peer(f);
	struct ws_peer *z = connect_peer(f);
	json_t *env, *info;
	json_int_t retry;
	int i;

	for (i = 0; i < 3; i++)
		login_refused(f, x, "client", "wrong", "unauthorized");
	for (i = 0; i < 3; i++)
		login_refused(f, y, "client", "wrong", "unauthorized");
	/* Six failures: the address waits 100 ms, even with a right token. */
	env = login(f, z, "client", CLIENT_TOKEN);
	assert_string_equal(str_of(env, "error-code"), "busy");
	info = json_object_get(env, "error-info");
	retry = int_of(info, "retry-ms");
	assert_true(retry > 0 && retry <= 100);
	f->now_ms += (uint64_t)retry;
	login_ok(f, z, "client", CLIENT_TOKEN);
	LOOP_WAIT(&f->lw, x->closed && y->closed);
	assert_false(z->closed);
}

/* Upgrades only on "/" and only websocket version 13; plain HTTP gets
 * 404 or 405, without a body. */
static void test_upgrade_path_version_and_http(void **state)
{
	struct fixture *f = *state;
	struct http_exchange x;
	struct ws_peer *p;

#define UPGRADE(path, version)                                                 \
	"GET " path " HTTP/1.1\r\nHost: 127.0.0.1\r\n"                        \
	"Upgrade: websocket\r\nConnection: Upgrade\r\n"                        \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                      \
	"Sec-WebSocket-Protocol: upstage.v1\r\n"                               \
	"Sec-WebSocket-Version: " version "\r\n\r\n"
	http_exchange(f, &x, UPGRADE("/", "13"));
	assert_memory_equal(x.answer, "HTTP/1.1 101", 12);
	http_exchange(f, &x, UPGRADE("/other", "13"));
	assert_memory_equal(x.answer, "HTTP/1.1 404", 12);
	http_exchange(f, &x, UPGRADE("/", "8"));
	assert_memory_equal(x.answer, "HTTP/1.1 400", 12);
	assert_non_null(strstr(x.answer, "sec-websocket-version: 13"));
#undef UPGRADE
	http_exchange(f, &x, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_memory_equal(x.answer, "HTTP/1.1 404", 12);
	assert_non_null(strcasestr(x.answer, "content-length: 0\r\n"));
	http_exchange(f, &x, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_memory_equal(x.answer, "HTTP/1.1 404", 12);
	assert_non_null(strcasestr(x.answer, "content-length: 0\r\n"));
	http_exchange(
	    f, &x, "DELETE / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	assert_memory_equal(x.answer, "HTTP/1.1 405", 12);
	assert_non_null(strcasestr(x.answer, "allow: GET, HEAD\r\n"));

	/* lws's own client on another path is refused too. */
	p = start_peer(f, "/elsewhere");
	LOOP_WAIT(&f->lw, p->closed || p->connect_failed);
	assert_false(p->established);
	connect_peer(f);
}

/* upstaged's message for one client is over the text limit: that client
 * is told too-large (by request-id when it has one), the link stays and
 * the next request goes through. */
static void test_oversized_answer_keeps_link(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *u = link_upstaged(f);
	struct ws_peer *a = connect_peer(f);
	size_t big = UPS_LIMIT_TEXT_MSG_MAX + 1000;
	char *pad = malloc(big + 1);
	uint32_t oa;
	uint64_t id;
	json_t *env;

	assert_non_null(pad);
	memset(pad, 'p', big);
	pad[big] = '\0';
	login_ok(f, a, "client", CLIENT_TOKEN);
	oa = expect_opened(f, u, "client");
	id = send_request(f, a, NULL, 0);
	expect_forwarded(f, u, id, oa);
	env = ups_env_response(id, json_pack("{s:s}", "pad", pad));
	ups_env_set_origin(env, oa);
	ws_peer_send_json(u, env);
	expect_error(f, a, id, "too-large");

	/* A push: no request-id to answer by. */
	env = ups_env_push("Test", "Big", json_pack("{s:s}", "pad", pad));
	ups_env_set_origin(env, oa);
	ws_peer_send_json(u, env);
	expect_error_push(f, a, "Malformed", "too-large");
	free(pad);

	id = send_request(f, a, NULL, 0);
	expect_forwarded(f, u, id, oa);
	answer(u, id, oa, "a");
	env = ws_peer_next_text(&f->lw, a);
	assert_int_equal(int_of(env, "request-id"), id);
	assert_false(u->closed);
	assert_non_null(f->relay.plugin);
}

/* A client's request within the limit that "origin" would take over it
 * is answered too-large and not forwarded; the link stays. */
static void test_stamped_request_too_large(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *u = link_upstaged(f);
	struct ws_peer *a = connect_peer(f);
	json_t *env = ups_env_request(1, "Test", 1, "Echo", json_object());
	size_t len, pad_len;
	char *text, *pad;
	uint32_t oa;
	uint64_t id;

	login_ok(f, a, "client", CLIENT_TOKEN);
	oa = expect_opened(f, u, "client");
	/* Size the pad so that the request is exactly at the limit. */
	json_object_set_new(json_object_get(env, "params"), "pad",
	                    json_string(""));
	text = ups_env_dump(env, &len);
	free(text);
	json_decref(env);
	pad_len = UPS_LIMIT_TEXT_MSG_MAX - len - 5;
	pad = malloc(pad_len + 1);
	assert_non_null(pad);
	memset(pad, 'p', pad_len);
	pad[pad_len] = '\0';
	id = send_request(f, a, json_pack("{s:s}", "pad", pad), 0);
	free(pad);
	expect_error(f, a, id, "too-large");
	id = send_request(f, a, NULL, 0);
	expect_forwarded(f, u, id, oa);
	assert_false(u->closed);
}

/* A logged-in client that stops reading: above half its budget its
 * reads are paused, and it is dropped at stuck-timeout, not before. */
static void test_stuck_client_paused_then_dropped(void **state)
{
	struct fixture *f = *state;
	struct ws_peer *u = link_upstaged(f);
	struct ws_peer *a = connect_peer(f);
	size_t padlen = 60 * 1024;
	char *pad = malloc(padlen + 1);
	uint64_t stuck = f->relay.gate.cfg.stuck_timeout_ms;
	struct relay_conn *c;
	uint32_t oa;
	unsigned i;

	assert_non_null(pad);
	memset(pad, 'p', padlen);
	pad[padlen] = '\0';
	login_ok(f, a, "client", CLIENT_TOKEN);
	oa = expect_opened(f, u, "client");
	c = relay_conn_of(f, oa);
	lws_rx_flow_control(a->wsi, 0);
	for (i = 0; i < 2000 && !c->paused; i++) {
		json_t *env = ups_env_push("Test", "Big",
		                           json_pack("{s:s}", "pad", pad));

		ups_env_set_origin(env, oa);
		ws_peer_send_json(u, env);
		LOOP_WAIT(&f->lw, ups_outq_empty(&u->outq));
		nap(f, 1);
	}
	free(pad);
	assert_true(c->paused);
	assert_true(c->outq.bytes > UPS_LIMIT_OUTQ_BYTES / 2);
	assert_true(c->outq.bytes <= UPS_LIMIT_OUTQ_BYTES);
	/* Paused now: the clock stood still while the queue filled. */
	assert_true(c->paused_ms == f->now_ms);
	/* It stays, paused, up to the last millisecond. */
	f->now_ms += stuck - 1;
	gate_sweep_now(&f->relay.gate);
	assert_true(c->paused);
	assert_false(c->closing);
	assert_int_equal(f->relay.gate.count, 1);
	/* At stuck-timeout it goes at once: a flush would wait on it.
	 * The sweep freed c. */
	f->now_ms += 1;
	gate_sweep_now(&f->relay.gate);
	assert_int_equal(f->relay.gate.count, 0);
	expect_closed(f, u, oa);
	assert_false(u->closed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_login_required_and_checked_per_role, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unavailable_without_upstaged,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_requests_forwarded_and_answers_routed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunks_stamped_and_routed,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_opened_and_closed_as_clients_come_and_go, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_plugin_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_busy_when_the_link_queue_is_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_deadline, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_prelogin_budget, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_pending_and_session_caps,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_throttled, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_upgrade_path_version_and_http, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_answer_keeps_link,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stamped_request_too_large,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stuck_client_paused_then_dropped, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
