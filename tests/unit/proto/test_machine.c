/* The machine words of proto/machine.h: ids, states, OS types of
 * releases, and the strict parse of the two order pushes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/errors.h"
#include "proto/machine.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_ids(void **state)
{
	static const char *const good[] = {"0", "12", "0-lxd-3", "m-00001",
	                                   "a"};
	static const char *const bad[] = {"",   "-1",  "0/lxd/3", "M1", "a.b",
	                                  "..", "a b", "a_b",     "é"};
	char longest[UPS_LIMIT_MACHINE_ID_LEN + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_true(ups_machine_id_is_valid(good[i]));
		assert_true(ups_order_id_is_valid(good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(ups_machine_id_is_valid(bad[i]));
		assert_false(ups_order_id_is_valid(bad[i]));
	}
	assert_false(ups_machine_id_is_valid(NULL));
	memset(longest, 'a', sizeof(longest));
	longest[UPS_LIMIT_MACHINE_ID_LEN] = '\0';
	assert_true(ups_machine_id_is_valid(longest));
	longest[UPS_LIMIT_MACHINE_ID_LEN] = 'a';
	longest[UPS_LIMIT_MACHINE_ID_LEN + 1] = '\0';
	assert_false(ups_machine_id_is_valid(longest));
}

static void test_states(void **state)
{
	enum ups_machine_state s;

	(void)state;
	for (unsigned i = 0; i < UPS_MST__COUNT; i++) {
		const char *name = ups_machine_state_name(i);

		assert_true(strlen(name) <= UPS_MACHINE_STATE_LEN);
		assert_int_equal(ups_machine_state_parse(name, &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(ups_machine_state_name(UPS_MST_HEALTH_WAIT),
	                    "health-wait");
	assert_string_equal(ups_machine_state_name(UPS_MST__COUNT), "unknown");
	assert_int_equal(ups_machine_state_parse("lost", &s),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_machine_state_parse(NULL, &s),
	                 UPS_ERR_BAD_REQUEST);
	/* Only upstaged decides pending and timed-out. */
	assert_false(ups_machine_state_flags(UPS_MST_PENDING) &
	             UPS_MST_REPORTABLE);
	assert_false(ups_machine_state_flags(UPS_MST_TIMED_OUT) &
	             UPS_MST_REPORTABLE);
	assert_true(ups_machine_state_flags(UPS_MST_HEALTHY) & UPS_MST_FINAL);
	assert_true(ups_machine_state_flags(UPS_MST_REVERTED) & UPS_MST_FINAL);
	assert_false(ups_machine_state_flags(UPS_MST_IDLE) & UPS_MST_IN_ORDER);
	assert_int_equal(ups_machine_state_flags(UPS_MST__COUNT), 0);
}

static void test_release_os(void **state)
{
	(void)state;
	assert_string_equal(ups_release_os("focal"), "ubuntu");
	assert_string_equal(ups_release_os("jammy"), "ubuntu");
	assert_string_equal(ups_release_os("centos7"), "centos");
	assert_string_equal(ups_release_os("win2019"), "windows");
	assert_string_equal(ups_release_os("ubuntu"), "ubuntu");
	/* Unknown: its own. */
	assert_string_equal(ups_release_os("plan9"), "plan9");
	assert_null(ups_release_os(NULL));
}

static int parse(const char *json, enum ups_order_kind kind,
                 struct ups_order *o)
{
	char err[UPS_ERRMSG_MAX];
	json_t *params = json_loads(json, 0, NULL);
	int rv;

	assert_non_null(params);
	err[0] = '\0';
	rv = ups_order_parse(params, kind, o, err, sizeof(err));
	if (rv)
		assert_true(strlen(err) > 0);
	json_decref(params);
	return rv;
}

static void test_order_parse(void **state)
{
	struct ups_order o;
	json_t *back;
	char *text;

	(void)state;
	assert_int_equal(
	    parse("{\"order-id\":\"o-1-2\",\"binary-version\":"
	          "\"2.9.1-ubuntu-amd64\",\"urls\":[\"http://127.0.0.1:1/"
	          "tools/2.9.1-ubuntu-amd64\",\"https://h/x\"],\"size\":10,"
	          "\"sha256\":\"" SHA_A "\"}",
	          UPS_ORDER_UPGRADE, &o),
	    0);
	assert_string_equal(o.id, "o-1-2");
	assert_int_equal(o.nurls, 2);
	assert_string_equal(o.urls[1], "https://h/x");
	assert_int_equal(o.size, 10);
	/* Round trip through the push params. */
	back = ups_order_params(&o);
	assert_non_null(back);
	text = json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(text, "\"size\":10"));
	free(text);
	json_decref(back);

	assert_int_equal(parse("{\"order-id\":\"o-9\",\"revert-to\":"
	                       "\"2.9.0-ubuntu-amd64\"}",
	                       UPS_ORDER_REVERT, &o),
	                 0);
	assert_int_equal(o.kind, UPS_ORDER_REVERT);
	assert_string_equal(o.binary_version, "2.9.0-ubuntu-amd64");

	/* What a hostile or confused upstaged might send. */
	static const char *const bad[] = {
	    /* not canonical, path-like, unknown arch */
	    "{\"order-id\":\"o\",\"binary-version\":\"2.09.1-ubuntu-amd64\","
	    "\"urls\":[\"http://h/x\"],\"size\":1,\"sha256\":\"" SHA_A "\"}",
	    "{\"order-id\":\"../x\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[\"http://h/x\"],\"size\":1,\"sha256\":\"" SHA_A "\"}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-sparc\","
	    "\"urls\":[\"http://h/x\"],\"size\":1,\"sha256\":\"" SHA_A "\"}",
	    /* URLs: scheme, empty host, spaces, none, too many */
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[\"file:///etc/passwd\"],\"size\":1,\"sha256\":\"" SHA_A
	    "\"}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[\"http:///x\"],\"size\":1,\"sha256\":\"" SHA_A "\"}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[\"http://h/a b\"],\"size\":1,\"sha256\":\"" SHA_A "\"}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[],\"size\":1,\"sha256\":\"" SHA_A "\"}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[\"http://a/\",\"http://a/\",\"http://a/\",\"http://a/\","
	    "\"http://a/\",\"http://a/\",\"http://a/\",\"http://a/\","
	    "\"http://a/\"],\"size\":1,\"sha256\":\"" SHA_A "\"}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[1],\"size\":1,\"sha256\":\"" SHA_A "\"}",
	    /* size, sha, unknown key, missing key */
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[\"http://h/x\"],\"size\":0,\"sha256\":\"" SHA_A "\"}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[\"http://h/x\"],\"size\":1,\"sha256\":\"ABC\"}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"urls\":[\"http://h/x\"],\"size\":1,\"sha256\":\"" SHA_A "\","
	    "\"x\":1}",
	    "{\"order-id\":\"o\",\"binary-version\":\"2.9.1-ubuntu-amd64\","
	    "\"size\":1,\"sha256\":\"" SHA_A "\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], UPS_ORDER_UPGRADE, &o) != UPS_ERR_BAD_REQUEST)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(parse("{\"order-id\":\"o\",\"revert-to\":\"x\"}",
	                       UPS_ORDER_REVERT, &o),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(parse("{\"order-id\":\"o\",\"revert-to\":"
	                       "\"2.9.0-ubuntu-amd64\",\"urls\":[]}",
	                       UPS_ORDER_REVERT, &o),
	                 UPS_ERR_BAD_REQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_states),
	    cmocka_unit_test(test_release_os),
	    cmocka_unit_test(test_order_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
