/* Numeric listen addresses (proto/net/addr.h): ADDR:PORT and [IPv6]:PORT,
 * the messages that name what is wrong, and the loopback test that decides
 * whether upstaged may run without an auth file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "proto/errors.h"
#include "proto/net/addr.h"

static void test_parse_valid(void **state)
{
	static const struct {
		const char *in;
		const char *host;
		int port;
	} cases[] = {
	    {"127.0.0.1:17071", "127.0.0.1", 17071},
	    {"0.0.0.0:0", "0.0.0.0", 0},
	    {"10.1.2.3:65535", "10.1.2.3", 65535},
	    {"[::1]:8080", "::1", 8080},
	    {"[::]:1", "::", 1},
	    {"[fe80::1:2]:443", "fe80::1:2", 443},
	    {"[::ffff:10.0.0.1]:9", "::ffff:10.0.0.1", 9},
	    /* Leading zeros in the port are digits like any other. */
	    {"127.0.0.1:0080", "127.0.0.1", 80},
	    {"127.0.0.1:00000000000000065535", "127.0.0.1", 65535},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char host[UPS_ADDR_HOST_LEN + 1], err[UPS_ERRMSG_MAX];
		int port = -1;

		if (ups_addr_parse(cases[i].in, host, sizeof(host), &port, err,
		                   sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].in, err);
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
	}
}

static void test_parse_invalid(void **state)
{
	static const char *const cases[] = {
	    "",
	    "127.0.0.1",
	    "127.0.0.1:",
	    ":80",
	    "localhost:80",
	    "300.0.0.1:80",
	    "127.0.0.1:65536",
	    "127.0.0.1:-1",
	    "127.0.0.1:+80",
	    "127.0.0.1: 80",
	    "127.0.0.1:80 ",
	    "127.0.0.1:8o",
	    "127.0.0.1:000000000000000000080",
	    "127.0.0.1:99999999999999999999999",
	    " 127.0.0.1:80",
	    "[::1:80",
	    "[::1]80",
	    "[::1]:",
	    "[]:80",
	    "[127.0.0.1]:80",
	    "::1:80",
	    "[::1]:65536",
	    "[::1%lo]:80",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char host[UPS_ADDR_HOST_LEN + 1] = "untouched";
		char err[UPS_ERRMSG_MAX] = "";
		int port = -7;

		if (ups_addr_parse(cases[i], host, sizeof(host), &port, err,
		                   sizeof(err)) != UPS_ERR_BAD_REQUEST)
			fail_msg("accepted \"%s\"", cases[i]);
		assert_true(err[0] != '\0');
		assert_string_equal(host, "untouched");
		assert_int_equal(port, -7);
	}
	assert_int_equal(ups_addr_parse(NULL, NULL, 0, NULL, NULL, 0),
	                 UPS_ERR_BAD_REQUEST);
}

static void test_parse_messages(void **state)
{
	char host[UPS_ADDR_HOST_LEN + 1], err[UPS_ERRMSG_MAX];
	int port;

	(void)state;
	ups_addr_parse("127.0.0.1", host, sizeof(host), &port, err,
	               sizeof(err));
	assert_string_equal(err, "expected ADDR:PORT, got \"127.0.0.1\"");
	ups_addr_parse("[::1", host, sizeof(host), &port, err, sizeof(err));
	assert_string_equal(err, "expected [IPv6]:PORT, got \"[::1\"");
	ups_addr_parse("localhost:80", host, sizeof(host), &port, err,
	               sizeof(err));
	assert_string_equal(err, "\"localhost\" is not a numeric IPv4 address");
	ups_addr_parse("[1.2.3.4]:80", host, sizeof(host), &port, err,
	               sizeof(err));
	assert_string_equal(err, "\"1.2.3.4\" is not a numeric IPv6 address");
	ups_addr_parse("127.0.0.1:65536", host, sizeof(host), &port, err,
	               sizeof(err));
	assert_string_equal(err, "bad port in \"127.0.0.1:65536\" (0..65535)");
	ups_addr_parse(":1", host, sizeof(host), &port, err, sizeof(err));
	assert_string_equal(err, "bad address in \":1\"");
}

static void test_parse_host_buffer(void **state)
{
	char small[9], big[UPS_ADDR_HOST_LEN + 1], err[UPS_ERRMSG_MAX];
	char text[2 * UPS_ADDR_HOST_LEN];
	int port;

	(void)state;
	/* "127.0.0.1" needs ten bytes. */
	assert_int_equal(ups_addr_parse("127.0.0.1:1", small, sizeof(small),
	                                &port, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(
	    ups_addr_parse("127.0.0.1:1", big, 10, &port, err, sizeof(err)), 0);
	assert_string_equal(big, "127.0.0.1");
	/* A host longer than UPS_ADDR_HOST_LEN is refused whatever the
	 * buffer. */
	memset(text, '1', UPS_ADDR_HOST_LEN + 1);
	memcpy(text + UPS_ADDR_HOST_LEN + 1, ":1", 3);
	assert_int_equal(
	    ups_addr_parse(text, big, sizeof(big), &port, err, sizeof(err)),
	    UPS_ERR_BAD_REQUEST);
}

static void test_loopback(void **state)
{
	(void)state;
	assert_true(ups_addr_is_loopback("127.0.0.1"));
	assert_true(ups_addr_is_loopback("127.255.0.9"));
	assert_true(ups_addr_is_loopback("::1"));
	assert_false(ups_addr_is_loopback("128.0.0.1"));
	assert_false(ups_addr_is_loopback("0.0.0.0"));
	assert_false(ups_addr_is_loopback("::"));
	assert_false(ups_addr_is_loopback("::ffff:10.0.0.1"));
	assert_false(ups_addr_is_loopback("localhost"));
	assert_false(ups_addr_is_loopback(""));
	assert_false(ups_addr_is_loopback(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_invalid),
	    cmocka_unit_test(test_parse_messages),
	    cmocka_unit_test(test_parse_host_buffer),
	    cmocka_unit_test(test_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
