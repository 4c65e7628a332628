/* The Machine and Machines facades on the machine registry, on a real
 * loop with a real store (store-fs) and SQLite, through peers that record
 * what they are sent: registrations that survive a reopen, replaced
 * sessions, reports and heartbeats, orders (series to OS type, missing
 * binaries, unknown machines, idempotent re-asks, re-sent open orders,
 * the binary-version form), List's order and the role checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/rollout/registry.h"
#include "agent/rpc/dispatch.h"
#include "agent/rpc/machines.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct rec_peer {
	struct peer peer; /* first */
	json_t *sent;
	int closes;
};

static int rec_send(struct peer *p, json_t *env)
{
	json_array_append_new(((struct rec_peer *)p)->sent,
	                      json_deep_copy(env));
	return 0;
}

static void rec_close(struct peer *p, const char *why)
{
	(void)why;
	((struct rec_peer *)p)->closes++;
}

static const struct peer_ops rec_ops = {.send = rec_send,
                                        .close = rec_close};

struct fx {
	char dir[TMPDIR_PATH_MAX];
	uv_loop_t loop;
	struct store store;
	struct registry registry;
	bool registry_open;
	struct machines machines;
	struct dispatch dispatch;
	struct rec_peer m1, m2, client;
};

static void fx_open_registry(struct fx *f)
{
	struct registry_config rcfg = {0};
	struct registry_events ev;
	const char *bases[] = {"http://127.0.0.1:9"};
	char err[UPS_ERRMSG_MAX];

	rcfg.data_dir = f->dir;
	rcfg.lost_after_s = 300;
	machines_events(&f->machines, &ev);
	if (registry_open(&f->registry, &f->loop, &f->store, &rcfg, &ev, err,
	                  sizeof(err)))
		fail_msg("registry_open: %s", err);
	assert_int_equal(registry_set_url_bases(&f->registry, bases, 1), 0);
	f->registry_open = true;
}

static void fx_close_registry(struct fx *f)
{
	registry_stop(&f->registry);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	registry_close(&f->registry);
	f->registry_open = false;
}

static void peer_init(struct fx *f, struct rec_peer *r, uint64_t id,
                      enum ups_role role)
{
	memset(r, 0, sizeof(*r));
	r->peer.ops = &rec_ops;
	r->peer.kind = PEER_DIRECT;
	r->peer.id = id;
	r->sent = json_array();
	dispatch_set_role(&f->dispatch, &r->peer, role);
}

/* A binary the store knows (a catalog row is all an order needs). */
static void fx_binary(struct fx *f, const char *bv)
{
	struct catalog_binary b = {0};
	char err[UPS_ERRMSG_MAX];

	strcpy(b.stream, "released");
	snprintf(b.binary_version, sizeof(b.binary_version), "%s", bv);
	strcpy(b.sha256, SHA_A);
	b.size = 1234;
	if (catalog_binary_put(store_catalog(&f->store), &b, false, err,
	                       sizeof(err)))
		fail_msg("catalog_binary_put: %s", err);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_config scfg = {0};
	char err[UPS_ERRMSG_MAX];

	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-machines"),
	                 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	scfg.data_dir = f->dir;
	scfg.plugin = STORE_FS_PLUGIN;
	if (store_open(&f->store, &f->loop, &scfg, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	f->machines.registry = &f->registry;
	f->machines.heartbeat_s = 7;
	machines_init(&f->machines);
	fx_open_registry(f);
	dispatch_init(&f->dispatch);
	assert_int_equal(
	    dispatch_add(&f->dispatch, &f->machines.machine_facade), 0);
	assert_int_equal(
	    dispatch_add(&f->dispatch, &f->machines.machines_facade), 0);
	peer_init(f, &f->m1, 1, UPS_ROLE_MACHINE);
	peer_init(f, &f->m2, 2, UPS_ROLE_MACHINE);
	peer_init(f, &f->client, 3, UPS_ROLE_CLIENT);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dispatch_forget(&f->dispatch, &f->m1.peer);
	dispatch_forget(&f->dispatch, &f->m2.peer);
	dispatch_forget(&f->dispatch, &f->client.peer);
	if (f->registry_open)
		fx_close_registry(f);
	machines_free(&f->machines);
	store_close(&f->store);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	json_decref(f->m1.sent);
	json_decref(f->m2.sent);
	json_decref(f->client.sent);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

static int next_id = 1;

/* Sends facade.method from r, runs the loop until it settles, and
 * returns the answer to it (borrowed from r->sent). */
static json_t *call(struct fx *f, struct rec_peer *r, const char *facade,
                    const char *method, const char *params)
{
	char buf[2048];
	int id = next_id++;
	size_t i;
	json_t *env;

	snprintf(buf, sizeof(buf),
	         "{\"request-id\":%d,\"type\":\"%s\",\"version\":1,"
	         "\"request\":\"%s\",\"params\":%s}",
	         id, facade, method, params);
	dispatch_text(&f->dispatch, &r->peer, buf, strlen(buf));
	uv_run(&f->loop, UV_RUN_NOWAIT);
	for (int spins = 0; spins < 1000; spins++) {
		json_array_foreach(r->sent, i, env)
		{
			json_t *rid = json_object_get(env, "request-id");

			if (json_integer_value(rid) == id)
				return env;
		}
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	fail_msg("no answer to %s.%s", facade, method);
	return NULL;
}

static const char *code_of(const json_t *answer)
{
	const char *c =
	    json_string_value(json_object_get(answer, "error-code"));

	return c ? c : "ok";
}

/* The last push r got of type.request, or NULL; *count how many. */
static json_t *push_of(struct rec_peer *r, const char *type,
                       const char *request, int *count)
{
	json_t *env, *last = NULL;
	size_t i;

	*count = 0;
	json_array_foreach(r->sent, i, env)
	{
		if (json_object_get(env, "request-id"))
			continue;
		if (strcmp(json_string_value(json_object_get(env, "type")),
		           type) == 0 &&
		    strcmp(json_string_value(json_object_get(env, "request")),
		           request) == 0) {
			last = env;
			(*count)++;
		}
	}
	return last;
}

#define REG(id, rel, arch)                                                     \
	"{\"machine-id\":\"" id "\",\"version\":\"2.9.0\",\"release\":\"" rel  \
	"\",\"arch\":\"" arch "\"}"

static void test_register_survives_reopen(void **state)
{
	struct fx *f = *state;
	json_t *a;
	const struct machine *m;

	a = call(f, &f->m1, "Machine", "Register", REG("0", "focal", "amd64"));
	assert_string_equal(code_of(a), "ok");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(a, "response"),
	                                       "heartbeat-seconds")),
	    7);
	/* The version is kept canonical. */
	a = call(f, &f->m2, "Machine", "Register",
	         "{\"machine-id\":\"1\",\"version\":\"2.09\","
	         "\"release\":\"ubuntu\",\"arch\":\"arm64\"}");
	assert_string_equal(code_of(a), "ok");
	fx_close_registry(f);
	fx_open_registry(f);
	m = registry_find(&f->registry, "0");
	assert_non_null(m);
	assert_string_equal(m->row.release, "focal");
	assert_false(m->row.connected);
	m = registry_find(&f->registry, "1");
	assert_non_null(m);
	assert_string_equal(m->row.version, "2.9.0");
	assert_int_equal(registry_count(&f->registry), 2);
}

/* Where health checks reach a machine: the address it registers with,
 * else where it connected from (an IPv4 peer of a dual-stack socket as
 * plain IPv4); an address that is not one is refused. */
static void test_register_address(void **state)
{
	struct fx *f = *state;
	const struct machine *m;

	snprintf(f->m1.peer.addr, sizeof(f->m1.peer.addr), "::ffff:10.1.2.3");
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Register",
	                                 REG("0", "focal", "amd64"))),
	                    "ok");
	m = registry_find(&f->registry, "0");
	assert_non_null(m);
	assert_string_equal(m->address, "10.1.2.3");
	snprintf(f->m2.peer.addr, sizeof(f->m2.peer.addr), "127.0.0.1");
	assert_string_equal(
	    code_of(call(f, &f->m2, "Machine", "Register",
	                 "{\"machine-id\":\"1\",\"version\":\"2.9.0\","
	                 "\"release\":\"focal\",\"arch\":\"amd64\","
	                 "\"address\":\"node-1.maas\"}")),
	    "ok");
	assert_string_equal(registry_find(&f->registry, "1")->address,
	                    "node-1.maas");
	assert_string_equal(
	    code_of(call(f, &f->m2, "Machine", "Register",
	                 "{\"machine-id\":\"1\",\"version\":\"2.9.0\","
	                 "\"release\":\"focal\",\"arch\":\"amd64\","
	                 "\"address\":\"evil/../x?\"}")),
	    "bad-request");
	/* Refused before anything changed. */
	assert_string_equal(registry_find(&f->registry, "1")->address,
	                    "node-1.maas");
}

static void test_replaced_and_conflict(void **state)
{
	struct fx *f = *state;
	int n;

	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Register",
	                                 REG("0", "focal", "amd64"))),
	                    "ok");
	assert_string_equal(code_of(call(f, &f->m2, "Machine", "Register",
	                                 REG("0", "focal", "amd64"))),
	                    "ok");
	assert_non_null(push_of(&f->m1, "Machine", "Replaced", &n));
	assert_int_equal(n, 1);
	assert_int_equal(f->m1.closes, 1);
	/* The old session is nobody now; the new one is 0's only. */
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Report",
	                                 "{\"state\":\"idle\","
	                                 "\"version\":\"2.9.0\"}")),
	                    "bad-request");
	assert_string_equal(code_of(call(f, &f->m2, "Machine", "Register",
	                                 REG("5", "focal", "amd64"))),
	                    "conflict");
	/* Bad ids and names are typed errors. */
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Register",
	                                 REG("0/lxd/1", "focal", "amd64"))),
	                    "bad-request");
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Register",
	                                 REG("3", "Focal", "amd64"))),
	                    "bad-request");
}

static void test_reports(void **state)
{
	struct fx *f = *state;

	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Report",
	                                 "{\"state\":\"idle\","
	                                 "\"version\":\"2.9.0\"}")),
	                    "bad-request");
	call(f, &f->m1, "Machine", "Register", REG("0", "focal", "amd64"));
	/* A heartbeat. */
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Report",
	                                 "{\"state\":\"idle\","
	                                 "\"version\":\"2.9.0\"}")),
	                    "ok");
	/* In-order states need the order; states only upstaged decides. */
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Report",
	                                 "{\"state\":\"downloading\","
	                                 "\"version\":\"2.9.0\"}")),
	                    "bad-request");
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Report",
	                                 "{\"state\":\"timed-out\","
	                                 "\"order-id\":\"o-1\","
	                                 "\"version\":\"2.9.0\"}")),
	                    "bad-request");
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Report",
	                                 "{\"state\":\"downloading\","
	                                 "\"order-id\":\"o-1\","
	                                 "\"version\":\"2.9.0\"}")),
	                    "not-found");
	assert_string_equal(code_of(call(f, &f->m1, "Machine", "Report",
	                                 "{\"state\":\"idle\","
	                                 "\"version\":\"2.9.0\",\"progress\":"
	                                 "101}")),
	                    "bad-request");
}

static void test_orders(void **state)
{
	struct fx *f = *state;
	json_t *a, *push, *info;
	const char *oid;
	char report[512];
	int n;

	fx_binary(f, "2.9.1-ubuntu-amd64");
	call(f, &f->m1, "Machine", "Register", REG("0", "focal", "amd64"));
	/* A focal machine gets the binary stored under ubuntu. */
	a = call(f, &f->client, "Machines", "Order",
	         "{\"machine-ids\":[\"0\"],\"version\":\"2.9.1\"}");
	assert_string_equal(code_of(a), "ok");
	a = json_array_get(
	    json_object_get(json_object_get(a, "response"), "orders"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(a, "binary-version")),
	    "2.9.1-ubuntu-amd64");
	oid = json_string_value(json_object_get(a, "order-id"));
	assert_non_null(oid);
	assert_int_equal(strncmp(oid, "o-", 2), 0);
	push = push_of(&f->m1, "Machine", "Order", &n);
	assert_int_equal(n, 1);
	push = json_object_get(push, "params");
	assert_string_equal(
	    json_string_value(json_object_get(push, "order-id")), oid);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(push, "urls"), 0)),
	    "http://127.0.0.1:9/tools/2.9.1-ubuntu-amd64");
	assert_string_equal(json_string_value(json_object_get(push, "sha256")),
	                    SHA_A);
	assert_int_equal(json_integer_value(json_object_get(push, "size")),
	                 1234);
	/* Asked again: the same order, not sent again. */
	a = call(f, &f->client, "Machines", "Order",
	         "{\"machine-ids\":[\"0\"],\"version\":\"2.9.1\"}");
	a = json_array_get(
	    json_object_get(json_object_get(a, "response"), "orders"), 0);
	assert_true(json_is_true(json_object_get(a, "again")));
	assert_string_equal(json_string_value(json_object_get(a, "order-id")),
	                    oid);
	push_of(&f->m1, "Machine", "Order", &n);
	assert_int_equal(n, 1);
	/* Another target while it is open. */
	fx_binary(f, "2.9.2-ubuntu-amd64");
	assert_string_equal(code_of(call(f, &f->client, "Machines", "Order",
	                                 "{\"machine-ids\":[\"0\"],"
	                                 "\"version\":\"2.9.2\"}")),
	                    "upgrade-in-progress");
	/* Missing binaries and unknown machines, named. */
	a = call(f, &f->client, "Machines", "Order",
	         "{\"machine-ids\":[\"0\",\"9\"],\"version\":\"2.9.7\"}");
	assert_string_equal(code_of(a), "not-found");
	info = json_object_get(a, "error-info");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(info, "missing"), 0)),
	                    "2.9.7-ubuntu-amd64");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(info, "unknown-machines"), 0)),
	                    "9");
	/* A binary version that does not fit the machine. */
	assert_string_equal(code_of(call(f, &f->client, "Machines", "Order",
	                                 "{\"machine-ids\":[\"0\"],"
	                                 "\"binary-version\":"
	                                 "\"2.9.1-ubuntu-arm64\"}")),
	                    "bad-request");
	/* The machine carries it out; a different end later conflicts. */
	snprintf(report, sizeof(report),
	         "{\"state\":\"healthy\",\"order-id\":\"%s\","
	         "\"version\":\"2.9.1\"}",
	         oid);
	assert_string_equal(
	    code_of(call(f, &f->m1, "Machine", "Report", report)), "ok");
	assert_string_equal(
	    code_of(call(f, &f->m1, "Machine", "Report", report)), "ok");
	snprintf(report, sizeof(report),
	         "{\"state\":\"failed\",\"order-id\":\"%s\","
	         "\"version\":\"2.9.1\"}",
	         oid);
	assert_string_equal(
	    code_of(call(f, &f->m1, "Machine", "Report", report)), "conflict");
	/* An open order is sent again, same id, when the machine comes
	 * back after a restart of upstaged; an ended one is not. */
	a = call(f, &f->client, "Machines", "Order",
	         "{\"machine-ids\":[\"0\"],\"version\":\"2.9.2\",\"watch\":"
	         "true}");
	assert_string_equal(code_of(a), "ok");
	oid = json_string_value(json_object_get(
	    json_array_get(
	        json_object_get(json_object_get(a, "response"), "orders"), 0),
	    "order-id"));
	push = push_of(&f->client, "Machines", "Progress", &n);
	assert_int_equal(n, 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(push, "params"), "state")),
	                    "ordered");
	{
		char keep[UPS_LIMIT_ORDER_ID_LEN + 1];

		snprintf(keep, sizeof(keep), "%s", oid);
		dispatch_forget(&f->dispatch, &f->m1.peer);
		fx_close_registry(f);
		fx_open_registry(f);
		json_array_clear(f->m1.sent);
		dispatch_set_role(&f->dispatch, &f->m1.peer, UPS_ROLE_MACHINE);
		call(f, &f->m1, "Machine", "Register",
		     REG("0", "focal", "amd64"));
		push = push_of(&f->m1, "Machine", "Order", &n);
		assert_int_equal(n, 1);
		assert_string_equal(
		    json_string_value(json_object_get(
		        json_object_get(push, "params"), "order-id")),
		    keep);
		assert_string_equal(
		    json_string_value(json_object_get(
		        json_object_get(push, "params"), "binary-version")),
		    "2.9.2-ubuntu-amd64");
	}
	/* Revert needs a healthy last upgrade: this one is open. */
	assert_string_equal(code_of(call(f, &f->client, "Machines", "Revert",
	                                 "{\"machine-ids\":[\"0\"]}")),
	                    "upgrade-in-progress");
}

/* The binary-version form: the version named exactly, found for a
 * series-named machine under its OS type or under the series itself,
 * sent as is; a missing one is named. */
static void test_order_binary_version(void **state)
{
	struct fx *f = *state;
	json_t *a, *push, *urls;
	const char *oid;
	int n;

	fx_binary(f, "2.9.1-ubuntu-amd64");
	fx_binary(f, "2.9.3-jammy-arm64");
	call(f, &f->m1, "Machine", "Register", REG("0", "focal", "amd64"));
	call(f, &f->m2, "Machine", "Register", REG("1", "jammy", "arm64"));
	a = call(f, &f->client, "Machines", "Order",
	         "{\"machine-ids\":[\"0\"],"
	         "\"binary-version\":\"2.9.1-ubuntu-amd64\"}");
	assert_string_equal(code_of(a), "ok");
	a = json_array_get(
	    json_object_get(json_object_get(a, "response"), "orders"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "machine-id")),
	                    "0");
	assert_string_equal(
	    json_string_value(json_object_get(a, "binary-version")),
	    "2.9.1-ubuntu-amd64");
	oid = json_string_value(json_object_get(a, "order-id"));
	assert_non_null(oid);
	push = push_of(&f->m1, "Machine", "Order", &n);
	assert_int_equal(n, 1);
	push = json_object_get(push, "params");
	assert_string_equal(
	    json_string_value(json_object_get(push, "order-id")), oid);
	assert_string_equal(
	    json_string_value(json_object_get(push, "binary-version")),
	    "2.9.1-ubuntu-amd64");
	urls = json_object_get(push, "urls");
	assert_int_equal(json_array_size(urls), 1);
	assert_string_equal(json_string_value(json_array_get(urls, 0)),
	                    "http://127.0.0.1:9/tools/2.9.1-ubuntu-amd64");
	assert_string_equal(json_string_value(json_object_get(push, "sha256")),
	                    SHA_A);
	assert_int_equal(json_integer_value(json_object_get(push, "size")),
	                 1234);
	/* Nothing went to the other machine. */
	push_of(&f->m2, "Machine", "Order", &n);
	assert_int_equal(n, 0);

	/* Stored under the series: found by that name too. */
	a = call(f, &f->client, "Machines", "Order",
	         "{\"machine-ids\":[\"1\"],"
	         "\"binary-version\":\"2.9.3-jammy-arm64\"}");
	assert_string_equal(code_of(a), "ok");
	push = push_of(&f->m2, "Machine", "Order", &n);
	assert_int_equal(n, 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(push, "params"),
	                                      "binary-version")),
	    "2.9.3-jammy-arm64");

	/* One that fits but is not stored: not-found, named. */
	a = call(f, &f->client, "Machines", "Order",
	         "{\"machine-ids\":[\"1\"],"
	         "\"binary-version\":\"2.9.4-ubuntu-arm64\"}");
	assert_string_equal(code_of(a), "not-found");
	assert_string_equal(
	    json_string_value(json_array_get(
	        json_object_get(json_object_get(a, "error-info"), "missing"),
	        0)),
	    "2.9.4-ubuntu-arm64");
	/* Both forms at once, or neither: refused. */
	assert_string_equal(code_of(call(f, &f->client, "Machines", "Order",
	                                 "{\"machine-ids\":[\"0\"],"
	                                 "\"version\":\"2.9.1\","
	                                 "\"binary-version\":"
	                                 "\"2.9.1-ubuntu-amd64\"}")),
	                    "bad-request");
	assert_string_equal(code_of(call(f, &f->client, "Machines", "Order",
	                                 "{\"machine-ids\":[\"0\"]}")),
	                    "bad-request");
}

static void test_list_and_roles(void **state)
{
	struct fx *f = *state;
	struct rec_peer m3;
	json_t *a, *list;

	call(f, &f->m1, "Machine", "Register", REG("10", "focal", "amd64"));
	call(f, &f->m2, "Machine", "Register", REG("2", "jammy", "arm64"));
	peer_init(f, &m3, 4, UPS_ROLE_MACHINE);
	call(f, &m3, "Machine", "Register", REG("1", "focal", "amd64"));
	a = call(f, &f->client, "Machines", "List", "{}");
	list = json_object_get(json_object_get(a, "response"), "machines");
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(list, 0), "machine-id")),
	                    "1");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(list, 2), "machine-id")),
	                    "10");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(list, 1), "state")),
	                    "idle");
	/* Pages. */
	a = call(f, &f->client, "Machines", "List", "{\"limit\":2}");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(a, "response"), "next")),
	                    "2");
	a = call(f, &f->client, "Machines", "List", "{\"after\":\"2\"}");
	list = json_object_get(json_object_get(a, "response"), "machines");
	assert_int_equal(json_array_size(list), 1);
	assert_null(json_object_get(json_object_get(a, "response"), "next"));
	/* The role matrix. */
	assert_string_equal(code_of(call(f, &f->m1, "Machines", "List", "{}")),
	                    "forbidden");
	assert_string_equal(code_of(call(f, &f->client, "Machine", "Register",
	                                 REG("4", "focal", "amd64"))),
	                    "forbidden");
	/* A session that goes away: disconnected, kept. */
	dispatch_forget(&f->dispatch, &m3.peer);
	assert_false(registry_find(&f->registry, "1")->row.connected);
	json_decref(m3.sent);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_register_survives_reopen,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replaced_and_conflict, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_register_address, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_orders, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_binary_version, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_list_and_roles, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
