/* agent/net/link: upstaged's controller link against a fake relay (an lws
 * server session in the same context, on the same loop, played by the
 * test), with a pinned jitter source and a wait hook in place of the
 * reconnect timer, so every delay is asserted exactly and every wait ends
 * when the test says. A small facade registered with the dispatcher
 * records what reaches it. Nothing sleeps: the loop runs until the awaited
 * event, under a watchdog (tests/lib/loop_wait.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/net/backoff.h"
#include "agent/net/link.h"
#include "agent/rpc/dispatch.h"
#include "agent/rpc/facade.h"
#include "proto/chunk.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "tests/lib/loop_wait.h"
#include "tests/lib/ws_peer.h"

#define TOKEN         "plugin-secret"
#define BACKOFF_FIRST 100
#define BACKOFF_MAX   1000
/* The pinned jitter: every draw returns this, so the delay for attempt n
 * is RANDOM_VALUE % (ceiling(n) + 1), ceilings 100, 200, 400, 800, 1000. */
#define RANDOM_VALUE 12345u
#define DELAY_0      23u  /* 12345 % 101 */
#define DELAY_1      84u  /* 12345 % 201 */
#define DELAY_2      315u /* 12345 % 401 */

#define MAX_RELAY_CONNS 8
#define MAX_WAITS       32
#define WAIT_MS         10000

struct fixture {
	uv_loop_t loop;
	struct loop_wait lw;
	struct ups_ws ws;
	struct dispatch dispatch;
	struct rpc_facade facade;
	struct link link;
	bool link_ready;
	/* The fake relay: one recording peer per connection it accepted. */
	struct ws_peer conns[MAX_RELAY_CONNS];
	unsigned nconns;
	struct ws_peer *relay; /* the latest connection */
	/* What the link's hooks were told. */
	uint64_t waits[MAX_WAITS];
	unsigned nwaits;
	unsigned random_calls;
	/* What reached the facade, and the order of things (facade calls,
	 * read pauses and resumes). */
	json_t *calls;  /* [{"origin", "role", "method", "request-id"}] */
	json_t *chunks; /* [{"origin", "length"}] */
	json_t *gone;   /* [origin] for every peer_gone */
	json_t *events; /* ["call Big", "pause", "resume", ...] */
	bool was_paused;
};

/* The link's clock and dice. */

static uint64_t fixed_random(void *user)
{
	struct fixture *f = user;

	f->random_calls++;
	return RANDOM_VALUE;
}

static void record_wait(void *user, uint64_t delay_ms)
{
	struct fixture *f = user;

	assert_true(f->nwaits < MAX_WAITS);
	f->waits[f->nwaits++] = delay_ms;
}

/* The test facade "Test": Echo answers its params, Big answers a string
 * of params.size bytes. */

static int test_record_call(struct fixture *f, const struct rpc_request *req,
                            const char *method)
{
	char event[64];

	snprintf(event, sizeof(event), "call %s", method);
	json_array_append_new(f->events, json_string(event));
	return json_array_append_new(
	    f->calls,
	    json_pack("{s:I, s:s, s:s, s:I, s:b}", "origin",
	              (json_int_t)req->peer->id, "role",
	              ups_role_name(req->peer->role), "method", method,
	              "request-id", (json_int_t)req->request_id, "relayed",
	              req->peer->kind == PEER_RELAYED));
}

static int test_echo(void *state, const struct rpc_request *req,
                     json_t **result, json_t **info, char *err, size_t errlen)
{
	(void)info, (void)err, (void)errlen;
	test_record_call(state, req, "Echo");
	*result = json_deep_copy(req->params);
	return 0;
}

static int test_big(void *state, const struct rpc_request *req, json_t **result,
                    json_t **info, char *err, size_t errlen)
{
	size_t size =
	    (size_t)json_integer_value(json_object_get(req->params, "size"));
	char *blob = malloc(size);

	(void)info, (void)err, (void)errlen;
	assert_non_null(blob);
	test_record_call(state, req, "Big");
	memset(blob, 'b', size);
	*result = json_pack("{s:s%}", "blob", blob, size);
	free(blob);
	return 0;
}

static void test_binary(void *state, struct peer *p, const uint8_t *data,
                        size_t len, uint8_t **frame_buf)
{
	struct fixture *f = state;
	uint32_t origin = 0;

	(void)frame_buf;
	assert_int_equal(ups_chunk_get_origin(data, len, &origin), 0);
	assert_int_equal(origin, p->id);
	json_array_append_new(f->chunks, json_pack("{s:I, s:I}", "origin",
	                                           (json_int_t)p->id, "length",
	                                           (json_int_t)len));
}

static void test_peer_gone(void *state, struct peer *p)
{
	struct fixture *f = state;

	json_array_append_new(f->gone, json_integer((json_int_t)p->id));
}

static const struct rpc_method test_methods[] = {
    {"Echo", RPC_LOGGED_IN, test_echo},
    {"Big", RPC_LOGGED_IN, test_big},
};

/* One protocol for both vhosts, as in agent.c: server reasons go to the
 * fake relay, client reasons to the link. */
static int test_callback(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
	struct fixture *f = lws_context_user(lws_get_context(wsi));
	struct ws_peer **session = user;
	int rv;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		assert_true(f->nconns < MAX_RELAY_CONNS);
		f->relay = &f->conns[f->nconns++];
		ws_peer_init(f->relay, 64 * 1024 * 1024, f);
		ws_peer_established(f->relay, wsi);
		*session = f->relay;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return ws_peer_receive(*session, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_peer_writeable(*session);
	case LWS_CALLBACK_CLOSED:
		ws_peer_closed(*session);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
	case LWS_CALLBACK_CLIENT_RECEIVE:
	case LWS_CALLBACK_CLIENT_WRITEABLE:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!f->link_ready)
			return -1;
		rv = link_callback(&f->link, wsi, reason, in, len);
		/* Pauses and resumes happen inside the link's callbacks;
		 * note each one in order with the facade calls. */
		if (f->link.rx_paused != f->was_paused) {
			f->was_paused = f->link.rx_paused;
			json_array_append_new(
			    f->events,
			    json_string(f->was_paused ? "pause" : "resume"));
		}
		return rv;
	case LWS_CALLBACK_WSI_DESTROY:
		if (f->link_ready && link_owns(&f->link, wsi))
			return link_callback(&f->link, wsi, reason, in, len);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols test_protocols[] = {
    {
        .name = UPS_WS_SUBPROTOCOL,
        .callback = test_callback,
        .per_session_data_size = sizeof(struct ws_peer *),
        .rx_buffer_size = 64 * 1024,
    },
    {0},
};

/* Fixture: a context with the fake relay's server vhost on 127.0.0.1:0 and
 * the link's client vhost, and a link to that port with the test's hooks.
 * url_port overrides the port (0: the fake relay's). */
static void fixture_start(struct fixture *f, int url_port)
{
	struct ups_ws_config cfg;
	char err[UPS_ERRMSG_MAX];
	char url[64];

	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(loop_wait_init(&f->lw, &f->loop, WAIT_MS), 0);
	f->calls = json_array();
	f->chunks = json_array();
	f->gone = json_array();
	f->events = json_array();
	dispatch_init(&f->dispatch);
	f->facade.name = "Test";
	f->facade.methods = test_methods;
	f->facade.nmethods = sizeof(test_methods) / sizeof(test_methods[0]);
	f->facade.state = f;
	f->facade.binary = test_binary;
	f->facade.peer_gone = test_peer_gone;
	assert_int_equal(dispatch_add(&f->dispatch, &f->facade), 0);

	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = &f->loop;
	cfg.protocols = test_protocols;
	cfg.user = f;
	cfg.listen_host = "127.0.0.1";
	cfg.listen_port = 0;
	cfg.client = true;
	assert_int_equal(ups_ws_create(&f->ws, &cfg, err, sizeof(err)), 0);

	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/",
	         url_port ? url_port : f->ws.port);
	assert_int_equal(link_init(&f->link, &f->loop, &f->ws, &f->dispatch,
	                           url, TOKEN, BACKOFF_FIRST, BACKOFF_MAX, err,
	                           sizeof(err)),
	                 0);
	f->link.random = fixed_random;
	f->link.random_user = f;
	f->link.wait = record_wait;
	f->link.wait_user = f;
	f->link_ready = true;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	ups_ws_init_logging();
	fixture_start(f, 0);
	*state = f;
	return 0;
}

/* A loopback port nobody listens on: bound, noted, closed. */
static int dead_port(void)
{
	uv_loop_t loop;
	uv_tcp_t tcp;
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	int sslen = sizeof(ss);

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_tcp_init(&loop, &tcp), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
	assert_int_equal(uv_tcp_bind(&tcp, (struct sockaddr *)&sin, 0), 0);
	assert_int_equal(
	    uv_tcp_getsockname(&tcp, (struct sockaddr *)&ss, &sslen), 0);
	uv_close((uv_handle_t *)&tcp, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* The same fixture, with the link dialling a port nobody listens on. */
static int setup_dead_port(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_start(f, dead_port());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	link_stop(&f->link);
	loop_wait_close(&f->lw);
	ups_ws_begin_destroy(&f->ws);
	ups_ws_finish_destroy(&f->ws);
	link_free(&f->link);
	for (i = 0; i < f->nconns; i++)
		ws_peer_free(&f->conns[i]);
	json_decref(f->calls);
	json_decref(f->chunks);
	json_decref(f->gone);
	json_decref(f->events);
	/* Every handle the link, lws and the test opened is closed. */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

/* Helpers. */

static void send_request(struct fixture *f, uint64_t id, uint32_t origin,
                         const char *method, json_t *params)
{
	json_t *env = ups_env_request(id, "Test", 1, method, params);

	assert_non_null(env);
	if (origin)
		assert_int_equal(ups_env_set_origin(env, origin), 0);
	ws_peer_send_json(f->relay, env);
}

static void send_opened(struct fixture *f, uint32_t origin, const char *role)
{
	ws_peer_send_json(
	    f->relay,
	    ups_env_push("Relay", "Opened",
	                 json_pack("{s:I, s:s}", "origin", (json_int_t)origin,
	                           "role", role)));
}

static void send_closed(struct fixture *f, uint32_t origin)
{
	ws_peer_send_json(
	    f->relay,
	    ups_env_push("Relay", "Closed",
	                 json_pack("{s:I}", "origin", (json_int_t)origin)));
}

static json_int_t int_of(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *str_of(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	assert_non_null(s);
	return s;
}

/* Waits for the link's next message at the relay: an answer to id for
 * origin; returns it (borrowed). */
static json_t *expect_answer(struct fixture *f, uint64_t id, uint32_t origin)
{
	json_t *env = ws_peer_next_text(&f->lw, f->relay);

	assert_true(json_is_object(env));
	assert_int_equal(int_of(env, "request-id"), id);
	assert_int_equal(int_of(env, "origin"), origin);
	return env;
}

static void expect_error(struct fixture *f, uint64_t id, uint32_t origin,
                         const char *code)
{
	json_t *env = expect_answer(f, id, origin);
	const char *got = json_string_value(json_object_get(env, "error-code"));

	if (!got || strcmp(got, code) != 0) {
		char *text = json_dumps(env, JSON_COMPACT);

		fail_msg("expected error %s, got %s", code, text);
	}
}

/* The relay's side of a login: waits for a new connection's first message
 * and checks it is Admin.Login as plugin with the token; returns its id. */
static uint64_t expect_login(struct fixture *f, unsigned nconns)
{
	json_t *env, *params;

	LOOP_WAIT(&f->lw, f->nconns == nconns && f->relay->established);
	env = ws_peer_next_text(&f->lw, f->relay);
	assert_true(json_is_object(env));
	assert_string_equal(str_of(env, "type"), "Admin");
	assert_string_equal(str_of(env, "request"), "Login");
	assert_null(json_object_get(env, "origin"));
	params = json_object_get(env, "params");
	assert_string_equal(str_of(params, "role"), "plugin");
	assert_string_equal(str_of(params, "token"), TOKEN);
	assert_int_equal(json_object_size(params), 2);
	return (uint64_t)int_of(env, "request-id");
}

static void accept_login(struct fixture *f, uint64_t id)
{
	ws_peer_send_json(
	    f->relay,
	    ups_env_response(id, json_pack("{s:s, s:s}", "role", "plugin",
	                                   "server-version", UPSTAGE_VERSION)));
	LOOP_WAIT(&f->lw, f->link.state == LINK_UP);
}

/* Ends the wait the link is in and lets it connect and log in as the
 * relay's nconns-th connection. */
static void relink(struct fixture *f, unsigned nconns)
{
	assert_int_equal(f->link.state, LINK_WAITING);
	link_wait_over(&f->link);
	accept_login(f, expect_login(f, nconns));
	assert_int_equal(f->link.attempt, 0);
}

/* link_start() and a first successful login. */
static void bring_up(struct fixture *f)
{
	link_start(&f->link);
	assert_int_equal(f->nwaits, 1);
	assert_int_equal(f->waits[0], 0); /* the first attempt is at once */
	relink(f, 1);
}

/* Asserts that the link went down and waits delay_ms now, on the hook,
 * not on its own timer. */
static void expect_wait(struct fixture *f, unsigned nwaits, uint64_t delay_ms)
{
	LOOP_WAIT(&f->lw, f->nwaits == nwaits);
	assert_int_equal(f->waits[nwaits - 1], delay_ms);
	assert_int_equal(f->link.state, LINK_WAITING);
	assert_string_equal(link_state_name(&f->link), "disconnected");
	assert_false(uv_is_active((uv_handle_t *)&f->link.timer));
}

static bool gone_has(struct fixture *f, json_int_t origin)
{
	size_t i;
	json_t *v;

	json_array_foreach(f->gone, i, v)
	{
		if (json_integer_value(v) == origin)
			return true;
	}
	return false;
}

/* Tests. */

static void test_login_as_plugin_with_token(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(link_state_name(&f->link), "disconnected");
	link_start(&f->link);
	assert_int_equal(f->nwaits, 1);
	assert_int_equal(f->waits[0], 0);
	/* Nothing is dialled until the wait is over. */
	assert_int_equal(f->link.state, LINK_WAITING);
	assert_int_equal(f->nconns, 0);
	link_wait_over(&f->link);
	expect_login(f, 1);
	assert_int_equal(f->link.state, LINK_LOGGING_IN);
	assert_string_equal(link_state_name(&f->link), "disconnected");
	/* Requests before the login answer are not served. */
	send_opened(f, 7, "client");
	send_request(f, 1, 7, "Echo", NULL);
	accept_login(f, 1);
	assert_string_equal(link_state_name(&f->link), "connected");
	assert_int_equal(json_array_size(f->calls), 0);
	assert_int_equal(f->link.npeers, 0);
	/* A first attempt made at once draws no jitter. */
	assert_int_equal(f->random_calls, 0);
}

static void test_refused_login_backs_off(void **state)
{
	struct fixture *f = *state;
	const uint64_t delays[] = {DELAY_0, DELAY_1, DELAY_2};
	uint64_t id;
	unsigned n;

	link_start(&f->link);
	link_wait_over(&f->link);
	/* Three refusals: each closes the connection, and the waits follow
	 * the backoff ceilings 100, 200, 400 with the pinned jitter. */
	for (n = 0; n < 3; n++) {
		id = expect_login(f, n + 1);
		ws_peer_send_json(f->relay,
		                  ups_env_error(id, UPS_ERR_UNAUTHORIZED,
		                                "bad credentials", NULL));
		expect_wait(f, n + 2, delays[n]);
		assert_true(f->waits[n + 1] <=
		            backoff_ceiling_ms(n, BACKOFF_FIRST, BACKOFF_MAX));
		assert_int_equal(f->link.attempt, n + 1);
		assert_int_equal(f->random_calls, n + 1);
		LOOP_WAIT(&f->lw, f->relay->closed);
		/* No new connection until the test ends the wait. */
		assert_int_equal(f->nconns, n + 1);
		link_wait_over(&f->link);
	}
	/* The fourth login succeeds: the attempt counter starts over, so
	 * the next failure waits on the first ceiling again. */
	accept_login(f, expect_login(f, 4));
	assert_int_equal(f->link.attempt, 0);
	ws_peer_kill(f->relay);
	expect_wait(f, 5, DELAY_0);
	assert_int_equal(f->link.attempt, 1);
}

static void test_connect_refused_backs_off(void **state)
{
	struct fixture *f = *state;

	/* Nothing listens where the link dials (setup_dead_port): each
	 * attempt fails while connecting and backs off further. */
	link_start(&f->link);
	link_wait_over(&f->link);
	expect_wait(f, 2, DELAY_0);
	assert_int_equal(f->link.attempt, 1);
	link_wait_over(&f->link);
	expect_wait(f, 3, DELAY_1);
	assert_int_equal(f->link.attempt, 2);
	assert_int_equal(f->nconns, 0);
}

static void test_relayed_requests_reach_the_dispatcher(void **state)
{
	struct fixture *f = *state;
	json_t *env, *call;

	bring_up(f);
	send_opened(f, 7, "client");
	send_opened(f, 9, "machine");
	send_request(f, 5, 7, "Echo", json_pack("{s:s}", "from", "seven"));
	send_request(f, 5, 9, "Echo", json_pack("{s:s}", "from", "nine"));

	env = expect_answer(f, 5, 7);
	assert_string_equal(str_of(json_object_get(env, "response"), "from"),
	                    "seven");
	env = expect_answer(f, 5, 9);
	assert_string_equal(str_of(json_object_get(env, "response"), "from"),
	                    "nine");

	/* Each request reached the facade from its own relayed peer, with
	 * the role Relay.Opened gave it. */
	assert_int_equal(json_array_size(f->calls), 2);
	call = json_array_get(f->calls, 0);
	assert_int_equal(int_of(call, "origin"), 7);
	assert_string_equal(str_of(call, "role"), "client");
	assert_true(json_is_true(json_object_get(call, "relayed")));
	call = json_array_get(f->calls, 1);
	assert_int_equal(int_of(call, "origin"), 9);
	assert_string_equal(str_of(call, "role"), "machine");
	assert_int_equal(f->link.npeers, 2);
	assert_int_equal(f->dispatch.sessions[UPS_ROLE_CLIENT], 1);
	assert_int_equal(f->dispatch.sessions[UPS_ROLE_MACHINE], 1);

	/* A repeated Opened takes the new role, without a second peer. */
	send_opened(f, 9, "client");
	send_request(f, 6, 9, "Echo", NULL);
	expect_answer(f, 6, 9);
	assert_string_equal(str_of(json_array_get(f->calls, 2), "role"),
	                    "client");
	assert_int_equal(f->link.npeers, 2);
	assert_int_equal(f->dispatch.sessions[UPS_ROLE_CLIENT], 2);
	assert_int_equal(f->dispatch.sessions[UPS_ROLE_MACHINE], 0);

	/* Relay.Opened for the plugin role, or without a role, is refused:
	 * no peer appears for it. */
	send_opened(f, 11, "plugin");
	ws_peer_send_json(
	    f->relay,
	    ups_env_push("Relay", "Opened", json_pack("{s:i}", "origin", 12)));
	send_request(f, 7, 11, "Echo", NULL);
	expect_error(f, 7, 11, "unauthorized");
	send_request(f, 8, 12, "Echo", NULL);
	expect_error(f, 8, 12, "unauthorized");
	assert_int_equal(f->link.npeers, 2);
}

static void test_unknown_origin_is_unauthorized(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	send_opened(f, 7, "client");
	send_request(f, 3, 42, "Echo", NULL);
	expect_error(f, 3, 42, "unauthorized");
	assert_int_equal(json_array_size(f->calls), 0);
	/* The stranger left nothing behind. */
	assert_int_equal(f->link.npeers, 1);
	assert_int_equal(json_array_size(f->gone), 0);

	/* Messages without an origin (other than Relay pushes) are not
	 * requests of anyone's: ignored, and the link stays up. */
	send_request(f, 4, 0, "Echo", NULL);
	send_request(f, 5, 7, "Echo", NULL);
	expect_answer(f, 5, 7);
	assert_int_equal(json_array_size(f->calls), 1);
	assert_int_equal(f->link.state, LINK_UP);
}

static void test_relayed_chunks_by_origin(void **state)
{
	struct fixture *f = *state;
	struct ups_chunk_header hdr = {
	    .upload_id = 1, .offset = 0, .length = 5, .origin = 7};
	uint8_t frame[UPS_CHUNK_HEADER_SIZE + 5];

	bring_up(f);
	send_opened(f, 7, "client");
	ups_chunk_encode_header(&hdr, frame);
	memcpy(frame + UPS_CHUNK_HEADER_SIZE, "hello", 5);
	ws_peer_send_binary(f->relay, frame, sizeof(frame));
	/* Unknown origin and no origin: dropped. */
	ups_chunk_set_origin(frame, sizeof(frame), 8);
	ws_peer_send_binary(f->relay, frame, sizeof(frame));
	ups_chunk_set_origin(frame, sizeof(frame), 0);
	ws_peer_send_binary(f->relay, frame, sizeof(frame));
	/* A request after them is a barrier: the link reads in order. */
	send_request(f, 1, 7, "Echo", NULL);
	expect_answer(f, 1, 7);
	assert_int_equal(json_array_size(f->chunks), 1);
	assert_int_equal(int_of(json_array_get(f->chunks, 0), "origin"), 7);
	assert_int_equal(int_of(json_array_get(f->chunks, 0), "length"),
	                 sizeof(frame));
}

static void test_relay_closed_forgets_the_peer(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	send_opened(f, 7, "client");
	send_opened(f, 9, "client");
	send_closed(f, 7);
	send_request(f, 1, 7, "Echo", NULL);
	expect_error(f, 1, 7, "unauthorized");
	assert_int_equal(json_array_size(f->gone), 1);
	assert_true(gone_has(f, 7));
	assert_int_equal(f->link.npeers, 1);
	assert_int_equal(f->dispatch.sessions[UPS_ROLE_CLIENT], 1);
	/* The other peer is untouched; a Closed for an unknown origin, or a
	 * malformed one, changes nothing. */
	send_closed(f, 1234);
	ws_peer_send_json(f->relay, ups_env_push("Relay", "Closed", NULL));
	send_request(f, 2, 9, "Echo", NULL);
	expect_answer(f, 2, 9);
	assert_int_equal(json_array_size(f->gone), 1);
	assert_int_equal(f->link.npeers, 1);
}

static void test_connection_closed_forgets_peers_and_relinks(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	send_opened(f, 7, "client");
	send_opened(f, 9, "machine");
	send_request(f, 1, 9, "Echo", NULL);
	expect_answer(f, 1, 9);

	ws_peer_kill(f->relay);
	expect_wait(f, 2, DELAY_0);
	assert_int_equal(f->link.attempt, 1);
	assert_int_equal(json_array_size(f->gone), 2);
	assert_true(gone_has(f, 7));
	assert_true(gone_has(f, 9));
	assert_int_equal(f->link.npeers, 0);
	assert_int_equal(f->dispatch.sessions[UPS_ROLE_CLIENT], 0);
	assert_int_equal(f->dispatch.sessions[UPS_ROLE_MACHINE], 0);

	/* Back up on a new connection, with no peers until announced. */
	relink(f, 2);
	send_request(f, 2, 7, "Echo", NULL);
	expect_error(f, 2, 7, "unauthorized");
	send_opened(f, 7, "client");
	send_request(f, 3, 7, "Echo", NULL);
	expect_answer(f, 3, 7);

	/* Down again right after a successful login: the first ceiling. */
	ws_peer_kill(f->relay);
	expect_wait(f, 3, DELAY_0);
	assert_true(gone_has(f, 7));
}

static void test_oversized_message_relinks(void **state)
{
	struct fixture *f = *state;
	size_t size = UPS_LIMIT_TEXT_MSG_MAX + 1;
	char *big = malloc(size);
	uint8_t *chunk;

	assert_non_null(big);
	bring_up(f);
	send_opened(f, 7, "client");
	/* One byte over the text limit, as a request for a known peer. */
	memset(big, ' ', size);
	memcpy(big, "{\"request-id\": 1}", 17);
	ws_peer_send_text(f->relay, big, size);
	free(big);
	expect_wait(f, 2, DELAY_0);
	LOOP_WAIT(&f->lw, f->relay->closed);
	assert_true(gone_has(f, 7));
	assert_int_equal(json_array_size(f->calls), 0);

	/* The same for a binary message over its limit. */
	relink(f, 2);
	send_opened(f, 7, "client");
	chunk = calloc(1, UPS_LIMIT_BINARY_MSG_MAX + 1);
	assert_non_null(chunk);
	ws_peer_send_binary(f->relay, chunk, UPS_LIMIT_BINARY_MSG_MAX + 1);
	free(chunk);
	expect_wait(f, 3, DELAY_0);
	LOOP_WAIT(&f->lw, f->relay->closed);
	assert_int_equal(json_array_size(f->chunks), 0);
}

static void test_reads_pause_while_answers_pile_up(void **state)
{
	struct fixture *f = *state;
	/* Answers just under the text limit (no bigger one is ever sent):
	 * enough of them to pass the pause threshold. */
	const size_t size = UPS_LIMIT_TEXT_MSG_MAX - 1024;
	enum { N = LINK_RX_PAUSE_BYTES / (UPS_LIMIT_TEXT_MSG_MAX - 1024) + 4 };
	char reqs[N][160];
	const char *burst[N];
	json_t *ev;
	size_t i, paused_at = 0, resumed_at = 0, calls = 0;

	bring_up(f);
	send_opened(f, 7, "client");
	send_request(f, 1, 7, "Echo", NULL);
	expect_answer(f, 1, 7);
	json_array_clear(f->events);

	/* N requests arriving together: their answers pass the pause
	 * threshold before the last are read, so the link must stop
	 * reading and read the rest only once the answers have drained. */
	for (i = 0; i < N; i++) {
		snprintf(reqs[i], sizeof(reqs[i]),
		         "{\"request-id\": %zu, \"type\": \"Test\", "
		         "\"request\": \"Big\", \"params\": {\"size\": %zu}, "
		         "\"origin\": 7}",
		         i + 2, size);
		burst[i] = reqs[i];
	}
	ws_peer_send_burst(f->relay, burst, N);
	for (i = 0; i < N; i++)
		assert_int_equal(
		    strlen(str_of(
		        json_object_get(expect_answer(f, i + 2, 7), "response"),
		        "blob")),
		    size);
	assert_false(f->link.rx_paused);
	/* calls..., pause, resume, calls...: nothing is read while paused. */
	json_array_foreach(f->events, i, ev)
	{
		const char *e = json_string_value(ev);

		if (strcmp(e, "pause") == 0 && !paused_at)
			paused_at = i + 1;
		else if (strcmp(e, "resume") == 0 && !resumed_at)
			resumed_at = i + 1;
		else if (strcmp(e, "call Big") == 0)
			calls++;
	}
	assert_true(paused_at > 0);
	assert_true(resumed_at == paused_at + 1);
	assert_true(paused_at - 1 < N); /* paused before the last was read */
	assert_int_equal(calls, N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_login_as_plugin_with_token,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_login_backs_off, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_connect_refused_backs_off,
	                                    setup_dead_port, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_relayed_requests_reach_the_dispatcher, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_origin_is_unauthorized,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relayed_chunks_by_origin,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_closed_forgets_the_peer,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_connection_closed_forgets_peers_and_relinks, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_message_relinks,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_reads_pause_while_answers_pile_up, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
