/* The Versions facade: Versions.Select through the dispatcher over binaries
 * really stored (store-fs and SQLite on a loop): DESIGN.md's three seed
 * examples, the rule named and the candidates listed, an empty stream,
 * tagged versions ignored, builds as the next patch, a client version
 * that is not there, strict params and the role. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/rpc/dispatch.h"
#include "agent/rpc/versions.h"
#include "proto/errors.h"
#include "tests/lib/loop_wait.h"
#include "tests/lib/store_commit.h"
#include "tests/lib/tmpdir.h"

struct rec_peer {
	struct peer peer; /* first */
	json_t *sent;
};

static int rec_send(struct peer *p, json_t *env)
{
	json_array_append_new(((struct rec_peer *)p)->sent,
	                      json_deep_copy(env));
	return 0;
}

static void rec_close(struct peer *p, const char *why)
{
	(void)p, (void)why;
}

static const struct peer_ops rec_ops = {.send = rec_send, .close = rec_close};

struct fx {
	char dir[TMPDIR_PATH_MAX];
	uv_loop_t loop;
	struct loop_wait wait;
	struct store store;
	struct versions versions;
	struct dispatch dispatch;
	struct rec_peer client, machine;
	int next_id;
};

static void store_bin(struct fx *f, const char *stream, const char *bv)
{
	if (store_commit_content(&f->store, &f->wait, stream, bv, bv, 1000,
	                         NULL, NULL))
		fail_msg("cannot store %s in %s", bv, stream);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_config scfg = {0};
	char err[UPS_ERRMSG_MAX];
	/* DESIGN.md "Version rules": available 1.25.1, 2.0.2, 2.0.3, 2.1,
	 * 2.2, each on one or two platforms. */
	static const char *const released[] = {
	    "1.25.1-ubuntu-amd64", "2.0.2-ubuntu-amd64", "2.0.2-focal-arm64",
	    "2.0.3-ubuntu-amd64",  "2.1.0-ubuntu-amd64", "2.2.0-ubuntu-amd64",
	    "2.2.0-jammy-s390x",
	};

	assert_non_null(f);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-versions"),
	                 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(loop_wait_init(&f->wait, &f->loop, 20000), 0);
	scfg.data_dir = f->dir;
	scfg.plugin = STORE_FS_PLUGIN;
	if (store_open(&f->store, &f->loop, &scfg, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	for (size_t i = 0; i < sizeof(released) / sizeof(released[0]); i++)
		store_bin(f, "released", released[i]);
	/* Tags and builds elsewhere. */
	store_bin(f, "proposed", "2.2-rc1-ubuntu-amd64");
	store_bin(f, "proposed", "2.1.1-ubuntu-amd64");
	store_bin(f, "testing", "2.0.1.2-ubuntu-amd64");
	store_bin(f, "testing", "2.0.1.1-ubuntu-amd64");
	store_bin(f, "testing", "2.0-rc3-ubuntu-amd64");

	f->versions.store = &f->store;
	versions_init(&f->versions);
	dispatch_init(&f->dispatch);
	assert_int_equal(dispatch_add(&f->dispatch, &f->versions.facade), 0);
	f->client.peer.ops = &rec_ops;
	f->client.sent = json_array();
	dispatch_set_role(&f->dispatch, &f->client.peer, UPS_ROLE_CLIENT);
	f->machine.peer.ops = &rec_ops;
	f->machine.sent = json_array();
	dispatch_set_role(&f->dispatch, &f->machine.peer, UPS_ROLE_MACHINE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dispatch_forget(&f->dispatch, &f->client.peer);
	dispatch_forget(&f->dispatch, &f->machine.peer);
	loop_wait_close(&f->wait);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	store_close(&f->store);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	json_decref(f->client.sent);
	json_decref(f->machine.sent);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

/* Sends Versions.Select with params from p and returns the answer
 * envelope (borrowed from p's record). */
static json_t *select_as(struct fx *f, struct rec_peer *p, const char *params)
{
	char buf[1024];
	int id = ++f->next_id;
	size_t before = json_array_size(p->sent);

	snprintf(buf, sizeof(buf),
	         "{\"request-id\":%d,\"type\":\"Versions\",\"version\":1,"
	         "\"request\":\"Select\",\"params\":%s}",
	         id, params);
	dispatch_text(&f->dispatch, &p->peer, buf, strlen(buf));
	LOOP_WAIT(&f->wait, json_array_size(p->sent) > before);
	return json_array_get(p->sent, json_array_size(p->sent) - 1);
}

static json_t *select_ok(struct fx *f, const char *params)
{
	json_t *env = select_as(f, &f->client, params);
	json_t *resp = json_object_get(env, "response");

	if (!resp)
		fail_msg("%s: %s", params, json_dumps(env, 0));
	return resp;
}

static const char *str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* The candidates of an answer (or error-info) as "a,b,c". */
static const char *candidates(json_t *obj)
{
	static char buf[512];
	json_t *arr = json_object_get(obj, "candidates"), *v;
	size_t i, n = 0;

	buf[0] = '\0';
	assert_true(json_is_array(arr));
	json_array_foreach(arr, i, v) n +=
	    (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "," : "",
	                     json_string_value(v));
	return buf;
}

static void test_seed_examples(void **state)
{
	struct fx *f = *state;
	json_t *r;

	r = select_ok(f, "{\"client\":\"2.0.3\",\"agent\":\"2.0.1\"}");
	assert_string_equal(str(r, "version"), "2.0.2");
	assert_string_equal(str(r, "rule"), "next-patch");
	assert_string_equal(str(r, "stream"), "released");
	assert_string_equal(candidates(r), "2.0.3,2.0.2,1.25.1");
	assert_int_equal(
	    json_integer_value(json_object_get(r, "candidates-omitted")), 0);

	r = select_ok(f, "{\"client\":\"1.25\",\"agent\":\"1.25\","
	                 "\"stream\":\"released\"}");
	assert_string_equal(str(r, "version"), "1.25.1");
	assert_string_equal(str(r, "rule"), "next-patch");
	assert_string_equal(candidates(r), "1.25.1");

	r = select_ok(f, "{\"client\":\"2.1\",\"agent\":\"1.25\"}");
	assert_string_equal(str(r, "version"), "2.1.0");
	assert_string_equal(str(r, "rule"), "client-version");
	assert_string_equal(candidates(r), "2.2.0,2.1.0,2.0.3,2.0.2,1.25.1");

	/* The next minor, newest of it, capped by the client. */
	r = select_ok(f, "{\"client\":\"2.2.5\",\"agent\":\"2.1\"}");
	assert_string_equal(str(r, "version"), "2.2.0");
	assert_string_equal(str(r, "rule"), "next-minor");
}

/* Nothing stored: DESIGN.md's message, with what was weighed. */
static void test_empty_stream(void **state)
{
	struct fx *f = *state;
	json_t *env;

	env = select_as(f, &f->client,
	                "{\"client\":\"2.0.3\",\"agent\":"
	                "\"2.0.1\",\"stream\":\"devel\"}");
	assert_string_equal(str(env, "error-code"), "no-suitable-version");
	assert_string_equal(str(env, "error"),
	                    "no more recent supported versions available");
	assert_string_equal(candidates(json_object_get(env, "error-info")), "");
	assert_string_equal(str(json_object_get(env, "error-info"), "stream"),
	                    "devel");
	/* Across a major, the client's version must be there. */
	env = select_as(f, &f->client,
	                "{\"client\":\"3.0\",\"agent\":\"2.0.1\"}");
	assert_string_equal(str(env, "error-code"), "no-suitable-version");
	assert_string_equal(str(env, "error"),
	                    "client version 3.0.0 is not available");
}

/* Tagged versions are never chosen by rule 2; builds are the next patch. */
static void test_tags_and_builds(void **state)
{
	struct fx *f = *state;
	json_t *r, *env;

	r = select_ok(f, "{\"client\":\"2.2\",\"agent\":\"2.1\","
	                 "\"stream\":\"proposed\"}");
	assert_string_equal(str(r, "version"), "2.1.1");
	assert_string_equal(str(r, "rule"), "next-patch");
	assert_string_equal(candidates(r), "2.1.1");
	r = select_ok(f, "{\"client\":\"2.0.3\",\"agent\":\"2.0.1\","
	                 "\"stream\":\"testing\"}");
	assert_string_equal(str(r, "version"), "2.0.1.1");
	assert_string_equal(str(r, "rule"), "next-patch");
	assert_string_equal(candidates(r), "2.0.1.2,2.0.1.1");
	/* A tagged client across a major: exactly it. */
	r = select_ok(f, "{\"client\":\"2.2-rc1\",\"agent\":\"1.25\","
	                 "\"stream\":\"proposed\"}");
	assert_string_equal(str(r, "version"), "2.2-rc1");
	assert_string_equal(str(r, "rule"), "client-version");
	/* Only the tag past the agent: nothing. */
	env = select_as(f, &f->client,
	                "{\"client\":\"2.2\",\"agent\":"
	                "\"2.1.1\",\"stream\":\"proposed\"}");
	assert_string_equal(str(env, "error-code"), "no-suitable-version");
}

static void test_bad_params(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *params, *text;
	} cases[] = {
	    {"{\"agent\":\"2.0.1\"}", "missing field \"params.client\""},
	    {"{\"client\":\"2.x\",\"agent\":\"2.0.1\"}",
	     "field \"params.client\""},
	    {"{\"client\":\"2.0\",\"agent\":\"\"}", "field \"params.agent\""},
	    {"{\"client\":\"2.0\",\"agent\":\"2.0\",\"stream\":\"nightly\"}",
	     "field \"params.stream\": must be released"},
	    {"{\"client\":\"2.0\",\"agent\":\"2.0\",\"x\":1}",
	     "unknown field \"params.x\""},
	    {"{\"client\":2,\"agent\":\"2.0\"}", "field \"params.client\""},
	};
	json_t *env;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env = select_as(f, &f->client, cases[i].params);
		assert_string_equal(str(env, "error-code"), "bad-request");
		if (!strstr(str(env, "error"), cases[i].text))
			fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].params,
			         str(env, "error"), cases[i].text);
	}
	env = select_as(f, &f->machine,
	                "{\"client\":\"2.0.3\",\"agent\":"
	                "\"2.0.1\"}");
	assert_string_equal(str(env, "error-code"), "forbidden");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_seed_examples),
	    T(test_empty_stream),
	    T(test_tags_and_builds),
	    T(test_bad_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
