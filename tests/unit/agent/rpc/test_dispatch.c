/* agent/rpc: the dispatcher's rules with the Admin and Agent facades
 * registered (the login rules, roles, strict params, the answers to
 * malformed input), facade registration and hooks, and deferred replies,
 * through a peer that records what it is sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/rpc/admin.h"
#include "agent/rpc/dispatch.h"
#include "agent/rpc/reply.h"
#include "proto/errors.h"
#include "proto/limits.h"

struct test_peer {
	struct peer peer; /* first */
	json_t *sent;     /* array of copies of what was sent */
	int closes;
	uint32_t origin; /* stamped like the link does, when set */
};

static int test_send(struct peer *p, json_t *env)
{
	struct test_peer *tp = (struct test_peer *)p;
	char *text = json_dumps(env, JSON_COMPACT);
	size_t len = strlen(text);

	/* What every real peer's queue does with an oversized message. */
	free(text);
	if (len > UPS_LIMIT_TEXT_MSG_MAX)
		return UPS_ERR_TOO_LARGE;

	if (tp->origin)
		assert_int_equal(ups_env_set_origin(env, tp->origin), 0);
	json_array_append_new(tp->sent, json_deep_copy(env));
	return 0;
}

static void test_close(struct peer *p, const char *why)
{
	(void)why;
	((struct test_peer *)p)->closes++;
}

static const struct peer_ops test_ops = {.send = test_send,
                                         .close = test_close};

static uint64_t fake_now;

static uint64_t now_ms(void *user)
{
	(void)user;
	return fake_now;
}

static const char *link_state(void *user)
{
	(void)user;
	return "disabled";
}

/* What upstaged's composition root does: roles go to the dispatcher. */
static void set_role(void *user, struct peer *p, enum ups_role role)
{
	dispatch_set_role(user, p, role);
}

static unsigned role_count(void *user, enum ups_role role)
{
	const struct dispatch *d = user;

	return d->sessions[role];
}

struct fixture {
	struct dispatch ctx;
	struct admin admin;
	struct test_peer tp;
	struct ups_auth auth;
	char auth_path[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	dispatch_init(&f->ctx);
	f->admin.set_role = set_role;
	f->admin.role_count = role_count;
	f->admin.user = &f->ctx;
	f->admin.now_ms = now_ms;
	f->admin.link_state = link_state;
	fake_now = 1000;
	f->admin.start_ms = 1000;
	admin_init(&f->admin);
	assert_int_equal(dispatch_add(&f->ctx, &f->admin.admin_facade), 0);
	assert_int_equal(dispatch_add(&f->ctx, &f->admin.agent_facade), 0);
	f->tp.peer.ops = &test_ops;
	f->tp.peer.kind = PEER_DIRECT;
	f->tp.peer.id = 1;
	f->tp.sent = json_array();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	json_decref(f->tp.sent);
	if (f->auth_path[0]) {
		ups_auth_free(&f->auth);
		unlink(f->auth_path);
	}
	free(f);
	return 0;
}

static void use_auth_file(struct fixture *f)
{
	const char *text = "client c-secret\nmachine m-secret\n";
	int fd;

	strcpy(f->auth_path, "/tmp/upstage-test-dispatch-XXXXXX");
	fd = mkstemp(f->auth_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char err[UPS_ERRMSG_MAX];
	assert_int_equal(
	    ups_auth_load(&f->auth, f->auth_path, err, sizeof(err)), 0);
	f->admin.auth = &f->auth;
}

static void send_text(struct fixture *f, const char *text)
{
	dispatch_text(&f->ctx, &f->tp.peer, text, strlen(text));
}

/* The last thing sent; borrowed. */
static json_t *last(struct fixture *f)
{
	size_t n = json_array_size(f->tp.sent);

	assert_true(n > 0);
	return json_array_get(f->tp.sent, n - 1);
}

static void expect_error(struct fixture *f, json_int_t id, const char *code)
{
	json_t *env = last(f);
	json_t *rid = json_object_get(env, "request-id");
	const char *got = json_string_value(json_object_get(env, "error-code"));

	if (!got || strcmp(got, code) != 0) {
		char *s = json_dumps(env, 0);
		fail_msg("expected error %s, got %s", code, s);
	}
	assert_non_null(rid);
	assert_int_equal(json_integer_value(rid), id);
	assert_null(json_object_get(env, "response"));
}

static void expect_push_error(struct fixture *f, const char *request,
                              const char *code)
{
	json_t *env = last(f);
	json_t *params = json_object_get(env, "params");

	assert_null(json_object_get(env, "request-id"));
	assert_string_equal(json_string_value(json_object_get(env, "type")),
	                    "Error");
	assert_string_equal(json_string_value(json_object_get(env, "request")),
	                    request);
	assert_string_equal(
	    json_string_value(json_object_get(params, "error-code")), code);
	assert_non_null(json_string_value(json_object_get(params, "error")));
}

/* The response object of the last answer, which must be for id. */
static json_t *expect_response(struct fixture *f, json_int_t id)
{
	json_t *env = last(f);
	json_t *resp = json_object_get(env, "response");

	if (!resp) {
		char *s = json_dumps(env, 0);
		fail_msg("expected a response, got %s", s);
	}
	assert_int_equal(json_integer_value(json_object_get(env, "request-id")),
	                 id);
	return resp;
}

static void login(struct fixture *f, const char *role, const char *token)
{
	char buf[512];
	json_t *resp;

	snprintf(buf, sizeof(buf),
	         "{\"request-id\":99,\"type\":\"Admin\",\"version\":1,"
	         "\"request\":\"Login\",\"params\":{\"role\":\"%s\","
	         "\"token\":\"%s\"}}",
	         role, token);
	send_text(f, buf);
	resp = expect_response(f, 99);
	assert_string_equal(json_string_value(json_object_get(resp, "role")),
	                    role);
	assert_string_equal(
	    json_string_value(json_object_get(resp, "server-version")),
	    UPSTAGE_VERSION);
}

#define PING(id)                                                               \
	"{\"request-id\":" #id ",\"type\":\"Agent\",\"version\":1,"            \
	"\"request\":\"Ping\",\"params\":{}}"

static void test_lookup(void **state)
{
	struct fixture *f = *state;
	const struct rpc_facade *fac = NULL;
	const struct rpc_method *m;

	m = dispatch_lookup(&f->ctx, "Admin", "Login", &fac);
	assert_non_null(m);
	assert_int_equal(m->roles, 0);
	assert_ptr_equal(fac, &f->admin.admin_facade);
	m = dispatch_lookup(&f->ctx, "Agent", "Ping", NULL);
	assert_non_null(m);
	assert_int_equal(m->roles, RPC_LOGGED_IN);
	m = dispatch_lookup(&f->ctx, "Agent", "Info", NULL);
	assert_non_null(m);
	assert_true(m->roles & RPC_ROLE(UPS_ROLE_MACHINE));
	assert_false(m->roles & RPC_ROLE(UPS_ROLE_NONE));
	assert_null(dispatch_lookup(&f->ctx, "Agent", "Nope", NULL));
	assert_null(dispatch_lookup(&f->ctx, "agent", "Ping", NULL));
	assert_null(dispatch_lookup(&f->ctx, "Nope", "Ping", NULL));
	assert_null(dispatch_lookup(&f->ctx, "", "", NULL));
	/* A facade name is registered once. */
	assert_int_equal(dispatch_add(&f->ctx, &f->admin.agent_facade),
	                 UPS_ERR_CONFLICT);
}

static void test_before_login(void **state)
{
	struct fixture *f = *state;

	send_text(f, PING(5));
	expect_error(f, 5, "unauthorized");
	/* Unknown requests are unauthorized too: nothing is revealed. */
	send_text(f, "{\"request-id\":6,\"type\":\"Secret\",\"version\":1,"
	             "\"request\":\"Thing\",\"params\":{}}");
	expect_error(f, 6, "unauthorized");
	assert_int_equal(f->tp.closes, 0);
	assert_int_equal(f->tp.peer.role, UPS_ROLE_NONE);
}

static void test_login_open(void **state)
{
	struct fixture *f = *state;

	/* No auth file: any token, including the empty one. */
	login(f, "client", "");
	assert_int_equal(f->tp.peer.role, UPS_ROLE_CLIENT);
	assert_int_equal(f->ctx.sessions[UPS_ROLE_CLIENT], 1);
	send_text(f, PING(7));
	assert_int_equal(json_object_size(expect_response(f, 7)), 0);
	/* A second login is refused and changes nothing. */
	send_text(f, "{\"request-id\":8,\"type\":\"Admin\",\"version\":1,"
	             "\"request\":\"Login\",\"params\":{\"role\":\"machine\","
	             "\"token\":\"x\"}}");
	expect_error(f, 8, "bad-request");
	assert_int_equal(f->tp.peer.role, UPS_ROLE_CLIENT);
	dispatch_forget(&f->ctx, &f->tp.peer);
	assert_int_equal(f->ctx.sessions[UPS_ROLE_CLIENT], 0);
}

static void test_login_with_auth(void **state)
{
	struct fixture *f = *state;
	const char *wrong = "{\"request-id\":3,\"type\":\"Admin\","
	                    "\"version\":1,\"request\":\"Login\",\"params\":"
	                    "{\"role\":\"client\",\"token\":\"m-secret\"}}";

	use_auth_file(f);
	/* The machine's token is not the client's. */
	send_text(f, wrong);
	expect_error(f, 3, "unauthorized");
	assert_int_equal(f->tp.peer.login_failures, 1);
	assert_int_equal(f->tp.closes, 0);
	login(f, "machine", "m-secret");
	assert_int_equal(f->ctx.sessions[UPS_ROLE_MACHINE], 1);
}

static void test_login_failures_close(void **state)
{
	struct fixture *f = *state;
	const char *bad = "{\"request-id\":3,\"type\":\"Admin\","
	                  "\"version\":1,\"request\":\"Login\",\"params\":"
	                  "{\"role\":\"client\",\"token\":\"nope\"}}";
	int i;

	use_auth_file(f);
	for (i = 1; i < UPS_LIMIT_LOGIN_FAILURES; i++) {
		send_text(f, bad);
		expect_error(f, 3, "unauthorized");
		assert_int_equal(f->tp.closes, 0);
	}
	send_text(f, bad);
	expect_error(f, 3, "unauthorized");
	assert_int_equal(f->tp.closes, 1);
	assert_int_equal(f->tp.peer.role, UPS_ROLE_NONE);
}

static void test_login_strict_params(void **state)
{
	static const struct {
		const char *params;
		const char *field;
	} cases[] = {
	    {"{\"role\":\"client\"}", "token"},
	    {"{\"token\":\"t\"}", "role"},
	    {"{\"role\":\"client\",\"token\":\"t\",\"extra\":1}", "extra"},
	    {"{\"role\":\"client\",\"token\":5}", "token"},
	    {"{\"role\":\"admin\",\"token\":\"t\"}", "role"},
	    {"{\"role\":\"none\",\"token\":\"t\"}", "role"},
	};
	struct fixture *f = *state;
	char buf[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *text;

		f->tp.peer.login_failures = 0;
		snprintf(buf, sizeof(buf),
		         "{\"request-id\":4,\"type\":\"Admin\",\"version\":1,"
		         "\"request\":\"Login\",\"params\":%s}",
		         cases[i].params);
		send_text(f, buf);
		expect_error(f, 4, "bad-request");
		text = json_string_value(json_object_get(last(f), "error"));
		if (!text || !strstr(text, cases[i].field))
			fail_msg("error for %s does not name %s: %s",
			         cases[i].params, cases[i].field,
			         text ? text : "(none)");
		assert_int_equal(f->tp.peer.role, UPS_ROLE_NONE);
	}

	/* The token limit: 256 bytes pass, 257 do not. */
	{
		char token[UPS_LIMIT_TOKEN_LEN + 2];

		memset(token, 'a', sizeof(token) - 1);
		token[sizeof(token) - 1] = '\0';
		snprintf(buf, sizeof(buf),
		         "{\"request-id\":4,\"type\":\"Admin\",\"version\":1,"
		         "\"request\":\"Login\",\"params\":{\"role\":"
		         "\"client\",\"token\":\"%s\"}}",
		         token);
		send_text(f, buf);
		expect_error(f, 4, "bad-request");
		token[UPS_LIMIT_TOKEN_LEN] = '\0';
		login(f, "client", token);
	}
}

static void test_after_login(void **state)
{
	struct fixture *f = *state;

	login(f, "machine", "whatever");
	/* Strict params everywhere. */
	send_text(f, "{\"request-id\":10,\"type\":\"Agent\",\"version\":1,"
	             "\"request\":\"Ping\",\"params\":{\"x\":1}}");
	expect_error(f, 10, "bad-request");
	send_text(f, "{\"request-id\":11,\"type\":\"Agent\",\"version\":1,"
	             "\"request\":\"Reboot\",\"params\":{}}");
	expect_error(f, 11, "not-implemented");
	send_text(f, "{\"request-id\":12,\"type\":\"Nope\",\"version\":1,"
	             "\"request\":\"Ping\",\"params\":{}}");
	expect_error(f, 12, "not-implemented");
	send_text(f, "{\"request-id\":13,\"type\":\"Agent\",\"version\":2,"
	             "\"request\":\"Ping\",\"params\":{}}");
	expect_error(f, 13, "not-implemented");
	/* Params may be left out: they are then {}. */
	send_text(f, "{\"request-id\":14,\"type\":\"Agent\",\"version\":1,"
	             "\"request\":\"Ping\"}");
	expect_response(f, 14);
	assert_int_equal(f->tp.closes, 0);
}

static int echo_handler(void *state, const struct rpc_request *req,
                        json_t **result, json_t **info, char *err,
                        size_t errlen)
{
	(void)state;
	(void)req;
	(void)info;
	(void)err;
	(void)errlen;
	*result = json_object();
	return 0;
}

/* Each facade serves its own version: a facade at version 2 refuses 1
 * (an older client: told to upgrade, with the version it needs) and 3,
 * while the others stay at 1. */
static void test_facade_versions(void **state)
{
	static const struct rpc_method methods[] = {
	    {"Echo", RPC_LOGGED_IN, echo_handler},
	};
	struct fixture *f = *state;
	struct rpc_facade v2 = {.name = "Newer", .version = 2,
	                        .methods = methods, .nmethods = 1};
	json_t *env;
	const char *text;

	assert_int_equal(dispatch_facade_version(&v2), 2);
	assert_int_equal(dispatch_facade_version(&f->admin.agent_facade), 1);
	assert_int_equal(dispatch_add(&f->ctx, &v2), 0);
	login(f, "client", "t");
	send_text(f, "{\"request-id\":30,\"type\":\"Newer\",\"version\":1,"
	             "\"request\":\"Echo\"}");
	expect_error(f, 30, "not-implemented");
	env = last(f);
	text = json_string_value(json_object_get(env, "error"));
	assert_non_null(strstr(text, "Newer version 1 is not implemented "
	                             "(have 2)"));
	assert_non_null(strstr(text, "upgrade"));
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(env, "error-info"), "version")),
	                 2);
	send_text(f, "{\"request-id\":31,\"type\":\"Newer\",\"version\":3,"
	             "\"request\":\"Echo\"}");
	expect_error(f, 31, "not-implemented");
	text = json_string_value(json_object_get(last(f), "error"));
	assert_non_null(strstr(text, "(have 2)"));
	assert_null(strstr(text, "upgrade"));
	send_text(f, "{\"request-id\":32,\"type\":\"Newer\",\"version\":2,"
	             "\"request\":\"Echo\"}");
	expect_response(f, 32);
	send_text(f, "{\"request-id\":33,\"type\":\"Agent\",\"version\":1,"
	             "\"request\":\"Ping\"}");
	expect_response(f, 33);
}

static void test_info(void **state)
{
	struct fixture *f = *state;
	struct test_peer other;
	json_t *resp, *sessions;

	login(f, "client", "t");
	memset(&other, 0, sizeof(other));
	other.peer.ops = &test_ops;
	other.sent = json_array();
	dispatch_set_role(&f->ctx, &other.peer, UPS_ROLE_MACHINE);
	fake_now = 1000 + 61500;
	f->admin.agent_version = "2.9.1";
	send_text(f, "{\"request-id\":20,\"type\":\"Agent\",\"version\":1,"
	             "\"request\":\"Info\",\"params\":{}}");
	resp = expect_response(f, 20);
	assert_string_equal(
	    json_string_value(json_object_get(resp, "server-version")),
	    UPSTAGE_VERSION);
	assert_int_equal(
	    json_integer_value(json_object_get(resp, "uptime-seconds")), 61);
	sessions = json_object_get(resp, "sessions");
	assert_int_equal(
	    json_integer_value(json_object_get(sessions, "client")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(sessions, "machine")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(sessions, "plugin")), 0);
	assert_string_equal(
	    json_string_value(json_object_get(resp, "controller-link")),
	    "disabled");
	assert_string_equal(
	    json_string_value(json_object_get(resp, "agent-version")), "2.9.1");

	/* Without an agent version the key is absent. */
	f->admin.agent_version = NULL;
	dispatch_forget(&f->ctx, &other.peer);
	send_text(f, "{\"request-id\":21,\"type\":\"Agent\",\"version\":1,"
	             "\"request\":\"Info\"}");
	resp = expect_response(f, 21);
	assert_null(json_object_get(resp, "agent-version"));
	sessions = json_object_get(resp, "sessions");
	assert_int_equal(
	    json_integer_value(json_object_get(sessions, "machine")), 0);
	json_decref(other.sent);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	char *big;

	/* Not JSON: no id to answer, so an Error push. */
	send_text(f, "{nope");
	expect_push_error(f, "Malformed", "bad-request");
	/* A request whose id can be read gets its error. */
	send_text(f, "{\"request-id\":30,\"type\":\"Agent\",\"version\":1,"
	             "\"request\":\"Ping\",\"params\":{},\"bogus\":1}");
	expect_error(f, 30, "bad-request");
	/* Duplicate keys make the whole text untrustworthy: not even its
	 * request-id is read. */
	send_text(f, "{\"request-id\":31,\"type\":\"Agent\",\"type\":\"X\","
	             "\"version\":1,\"request\":\"Ping\"}");
	expect_push_error(f, "Malformed", "bad-request");
	/* A response is not something peers send. */
	send_text(f, "{\"request-id\":32,\"response\":{}}");
	expect_push_error(f, "Malformed", "bad-request");
	assert_int_equal(f->tp.closes, 0);

	/* Too large: too-large, then closed. */
	big = malloc(UPS_LIMIT_TEXT_MSG_MAX + 2);
	memset(big, ' ', UPS_LIMIT_TEXT_MSG_MAX + 1);
	big[UPS_LIMIT_TEXT_MSG_MAX + 1] = '\0';
	send_text(f, big);
	free(big);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(last(f), "params"), "error-code")),
	    "too-large");
	assert_int_equal(f->tp.closes, 1);

	dispatch_too_large(&f->ctx, &f->tp.peer);
	expect_push_error(f, "Malformed", "too-large");
	assert_int_equal(f->tp.closes, 2);
}

static void test_binary(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[40] = "UPCK";

	dispatch_binary(&f->ctx, &f->tp.peer, frame, sizeof(frame), NULL);
	expect_push_error(f, "Chunk", "unauthorized");
	assert_int_equal(f->tp.closes, 1);

	f->tp.closes = 0;
	login(f, "client", "t");
	/* No upload engine in this fixture. */
	dispatch_binary(&f->ctx, &f->tp.peer, frame, sizeof(frame), NULL);
	expect_push_error(f, "Chunk", "unavailable");
	assert_int_equal(f->tp.closes, 0);
}

static void test_relayed_peer(void **state)
{
	struct fixture *f = *state;
	json_t *env;

	f->tp.peer.kind = PEER_RELAYED;
	f->tp.origin = 77;
	/* The relay logs its connections in; a forwarded login is wrong. */
	send_text(f, "{\"request-id\":40,\"type\":\"Admin\",\"version\":1,"
	             "\"request\":\"Login\",\"params\":{\"role\":\"client\","
	             "\"token\":\"t\"}}");
	expect_error(f, 40, "bad-request");
	dispatch_set_role(&f->ctx, &f->tp.peer, UPS_ROLE_CLIENT);
	send_text(f, "{\"request-id\":41,\"origin\":77,\"type\":\"Agent\","
	             "\"version\":1,\"request\":\"Ping\",\"params\":{}}");
	expect_response(f, 41);
	env = last(f);
	assert_int_equal(json_integer_value(json_object_get(env, "origin")),
	                 77);
	assert_int_equal(f->ctx.sessions[UPS_ROLE_CLIENT], 1);
	dispatch_forget(&f->ctx, &f->tp.peer);
	assert_int_equal(f->ctx.sessions[UPS_ROLE_CLIENT], 0);
	/* Forgetting twice does not underflow. */
	dispatch_forget(&f->ctx, &f->tp.peer);
	assert_int_equal(f->ctx.sessions[UPS_ROLE_CLIENT], 0);
}

/* A facade of this test's: a deferred method, a binary hook and a
 * peer_gone hook, to see the dispatcher use them. */
struct probe {
	struct reply *pending;
	int binaries;
	size_t binary_len;
	uint8_t **frame_buf;
	int gone;
	struct rpc_facade facade;
};

static int probe_later(void *state, const struct rpc_request *req,
                       json_t **result, json_t **info, char *err, size_t errlen)
{
	struct probe *pr = state;

	(void)result;
	(void)info;
	(void)err;
	(void)errlen;
	pr->pending = reply_defer(req->peer, req->request_id);
	assert_non_null(pr->pending);
	return RPC_DEFERRED;
}

static int probe_fail(void *state, const struct rpc_request *req,
                      json_t **result, json_t **info, char *err, size_t errlen)
{
	(void)state;
	(void)req;
	(void)result;
	*info = json_pack("{s:s}", "why", "because");
	return ups_errf(UPS_ERR_CONFLICT, err, errlen, "probe says no");
}

static void probe_binary(void *state, struct peer *p, const uint8_t *data,
                         size_t len, uint8_t **frame_buf)
{
	struct probe *pr = state;

	(void)p;
	(void)data;
	pr->binaries++;
	pr->binary_len = len;
	pr->frame_buf = frame_buf;
}

static void probe_gone(void *state, struct peer *p)
{
	(void)p;
	((struct probe *)state)->gone++;
}

static int probe_huge(void *state, const struct rpc_request *req,
                      json_t **result, json_t **info, char *err, size_t errlen)
{
	char *big = malloc(UPS_LIMIT_TEXT_MSG_MAX);

	(void)state;
	(void)req;
	(void)info;
	(void)err;
	(void)errlen;
	memset(big, 'x', UPS_LIMIT_TEXT_MSG_MAX - 1);
	big[UPS_LIMIT_TEXT_MSG_MAX - 1] = '\0';
	*result = json_pack("{s:s}", "big", big);
	free(big);
	return 0;
}

static const struct rpc_method probe_methods[] = {
    {"Later", RPC_ROLE(UPS_ROLE_CLIENT), probe_later},
    {"Fail", RPC_LOGGED_IN, probe_fail},
    {"Huge", RPC_LOGGED_IN, probe_huge},
};

static void probe_add(struct fixture *f, struct probe *pr)
{
	memset(pr, 0, sizeof(*pr));
	pr->facade.name = "Probe";
	pr->facade.methods = probe_methods;
	pr->facade.nmethods = 3;
	pr->facade.state = pr;
	pr->facade.binary = probe_binary;
	pr->facade.peer_gone = probe_gone;
	assert_int_equal(dispatch_add(&f->ctx, &pr->facade), 0);
}

static void test_facade_hooks(void **state)
{
	struct fixture *f = *state;
	struct probe pr, second;
	uint8_t frame[40] = "UPCK";
	uint8_t *frame_buf = frame;
	json_t *info;

	probe_add(f, &pr);
	/* A second facade that takes binary messages is refused. */
	memset(&second, 0, sizeof(second));
	second.facade.name = "Other";
	second.facade.binary = probe_binary;
	assert_int_equal(dispatch_add(&f->ctx, &second.facade),
	                 UPS_ERR_CONFLICT);
	login(f, "client", "t");
	dispatch_binary(&f->ctx, &f->tp.peer, frame, sizeof(frame),
	                &frame_buf);
	assert_int_equal(pr.binaries, 1);
	assert_int_equal(pr.binary_len, sizeof(frame));
	/* The receiver's frame buffer reaches the hook. */
	assert_ptr_equal(pr.frame_buf, &frame_buf);
	/* Errors carry the handler's text and error-info. */
	send_text(f, "{\"request-id\":50,\"type\":\"Probe\",\"version\":1,"
	             "\"request\":\"Fail\"}");
	expect_error(f, 50, "conflict");
	assert_string_equal(
	    json_string_value(json_object_get(last(f), "error")),
	    "probe says no");
	info = json_object_get(last(f), "error-info");
	assert_string_equal(json_string_value(json_object_get(info, "why")),
	                    "because");
	/* A deferred answer goes out when it is finished, for its id. */
	send_text(f, "{\"request-id\":51,\"type\":\"Probe\",\"version\":1,"
	             "\"request\":\"Later\"}");
	assert_non_null(pr.pending);
	assert_string_equal(
	    json_string_value(json_object_get(last(f), "error")),
	    "probe says no"); /* nothing new yet */
	reply_finish(pr.pending, 0, NULL, json_pack("{s:i}", "n", 7), NULL);
	assert_int_equal(
	    json_integer_value(json_object_get(expect_response(f, 51), "n")),
	    7);
	/* An answer over the text limit becomes a too-large error. */
	send_text(f, "{\"request-id\":52,\"type\":\"Probe\",\"version\":1,"
	             "\"request\":\"Huge\"}");
	expect_error(f, 52, "too-large");
	dispatch_forget(&f->ctx, &f->tp.peer);
	assert_int_equal(pr.gone, 1);
}

/* A reply owed to a peer that went away answers nobody and still frees
 * (ASan would see a leak or a use after free). */
static void test_reply_after_peer_gone(void **state)
{
	struct fixture *f = *state;
	struct probe pr;
	struct reply *a, *b;
	size_t sent;

	probe_add(f, &pr);
	login(f, "client", "t");
	send_text(f, "{\"request-id\":60,\"type\":\"Probe\",\"version\":1,"
	             "\"request\":\"Later\"}");
	a = pr.pending;
	send_text(f, "{\"request-id\":61,\"type\":\"Probe\",\"version\":1,"
	             "\"request\":\"Later\"}");
	b = pr.pending;
	assert_ptr_equal(f->tp.peer.replies, b);
	sent = json_array_size(f->tp.sent);
	/* Finishing one of two keeps the other linked. */
	reply_finish(b, UPS_ERR_BUSY, NULL, NULL, NULL);
	expect_error(f, 61, "busy");
	assert_ptr_equal(f->tp.peer.replies, a);
	dispatch_forget(&f->ctx, &f->tp.peer);
	assert_null(f->tp.peer.replies);
	assert_null(a->peer);
	reply_finish(a, 0, NULL, json_object(), json_object());
	assert_int_equal(json_array_size(f->tp.sent), sent + 1);
	/* reply_cancel unlinks without answering. */
	a = reply_defer(&f->tp.peer, 62);
	reply_cancel(a);
	assert_null(f->tp.peer.replies);
	assert_int_equal(json_array_size(f->tp.sent), sent + 1);
}

/* Failed logins from one address make the next wait: answered busy
 * without looking at the token, until the wait is over; a success
 * forgets. Another address is not affected. */
static void test_login_throttled_per_address(void **state)
{
	struct fixture *f = *state;
	struct ups_throttle *t = calloc(1, sizeof(*t));
	const char *bad = "{\"request-id\":3,\"type\":\"Admin\","
	                  "\"version\":1,\"request\":\"Login\",\"params\":"
	                  "{\"role\":\"client\",\"token\":\"nope\"}}";
	const char *good = "{\"request-id\":4,\"type\":\"Admin\","
	                   "\"version\":1,\"request\":\"Login\",\"params\":"
	                   "{\"role\":\"client\",\"token\":\"c-secret\"}}";

	ups_throttle_init(t);
	f->admin.throttle = t;
	use_auth_file(f);
	strcpy(f->tp.peer.addr, "192.0.2.7");
	for (int i = 0; i <= UPS_THROTTLE_FREE; i++) {
		f->tp.peer.login_failures = 0;
		send_text(f, bad);
		expect_error(f, 3, "unauthorized");
	}
	/* At once again, even with the right token: busy, with the wait. */
	f->tp.peer.login_failures = 0;
	send_text(f, good);
	expect_error(f, 4, "busy");
	assert_non_null(strstr(
	    json_string_value(json_object_get(last(f), "error")), "retry in"));
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(last(f), "error-info"), "retry-ms")),
	    UPS_THROTTLE_BASE_MS);
	assert_int_equal(f->tp.peer.role, UPS_ROLE_NONE);
	/* Another address may try meanwhile. */
	strcpy(f->tp.peer.addr, "192.0.2.8");
	f->tp.peer.login_failures = 0;
	f->tp.closes = 0;
	assert_true(ups_throttle_allowed(t, "192.0.2.8", fake_now, NULL));
	/* Once the wait is over, the right token logs in. */
	strcpy(f->tp.peer.addr, "192.0.2.7");
	fake_now += UPS_THROTTLE_BASE_MS;
	login(f, "client", "c-secret");
	assert_true(ups_throttle_allowed(t, "192.0.2.7", fake_now, NULL));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_facade_hooks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_after_peer_gone, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_before_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_with_auth, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_login_failures_close, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_login_throttled_per_address,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_strict_params, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_after_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_facade_versions, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relayed_peer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
