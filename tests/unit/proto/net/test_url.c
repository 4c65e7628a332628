#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proto/errors.h"
#include "proto/net/url.h"

static void test_defaults(void **state)
{
	struct ups_url u;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(ups_url_parse("ws://127.0.0.1", &u, err, sizeof(err)),
			 0);
	assert_false(u.tls);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 80);
	assert_string_equal(u.path, "/");

	assert_int_equal(ups_url_parse("wss://ctl.example:17070/model/x", &u,
				       err, sizeof(err)),
			 0);
	assert_true(u.tls);
	assert_string_equal(u.host, "ctl.example");
	assert_int_equal(u.port, 17070);
	assert_string_equal(u.path, "/model/x");

	assert_int_equal(ups_url_parse("wss://localhost", &u, err, sizeof(err)),
			 0);
	assert_int_equal(u.port, 443);
}

static void test_ipv6(void **state)
{
	struct ups_url u;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(ups_url_parse("ws://[::1]:9/", &u, err, sizeof(err)),
			 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 9);
	assert_int_equal(ups_url_parse("ws://[::1", &u, err, sizeof(err)),
			 UPS_ERR_BAD_REQUEST);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"http://127.0.0.1",  "ws://",		 "ws://:80",
		"ws://host:0",	     "ws://host:65536",	 "ws://host:x",
		"ws://ho st",	     "ws://host?x",	 "ws://host/a b",
		"ws://host:80junk",  "ws://h@st",	 "",
		"ws://host/\x01",    "wss://a:99999999999999999999",
	};
	struct ups_url u;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(ups_url_parse(bad[i], &u, err, sizeof(err)),
				 UPS_ERR_BAD_REQUEST);
		assert_true(strlen(err) > 0);
	}
}

static void test_long_host(void **state)
{
	char url[600];
	struct ups_url u;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	strcpy(url, "ws://");
	memset(url + 5, 'a', 400);
	url[405] = '\0';
	assert_int_equal(ups_url_parse(url, &u, err, sizeof(err)),
			 UPS_ERR_BAD_REQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_long_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
