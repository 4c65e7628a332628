/* Versions: grammar, canonical formatting, ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/errors.h"
#include "proto/version.h"
#include "tests/lib/checks.h"

static void
test_parse_valid(void **state)
{
	static const struct {
		const char *in;
		uint32_t major, minor;
		const char *tag;
		uint32_t patch, build;
		const char *canonical;
	} cases[] = {
	    {"2.9.1", 2, 9, "", 1, 0, "2.9.1"},
	    {"2.9.1.3", 2, 9, "", 1, 3, "2.9.1.3"},
	    {"2.9", 2, 9, "", 0, 0, "2.9.0"},
	    {"2.9.0", 2, 9, "", 0, 0, "2.9.0"},
	    {"2.9.0.0", 2, 9, "", 0, 0, "2.9.0"},
	    {"3.0-rc2", 3, 0, "rc", 2, 0, "3.0-rc2"},
	    {"2.9-beta1.1", 2, 9, "beta", 1, 1, "2.9-beta1.1"},
	    {"2.9-beta1", 2, 9, "beta", 1, 0, "2.9-beta1"},
	    {"3.0-rc", 3, 0, "rc", 0, 0, "3.0-rc0"},
	    {"01.0.0", 1, 0, "", 0, 0, "1.0.0"},
	    {"1.02.003.0004", 1, 2, "", 3, 4, "1.2.3.4"},
	    {"0.0", 0, 0, "", 0, 0, "0.0.0"},
	    {"999999999.999999999.999999999.999999999", 999999999u, 999999999u,
	     "", 999999999u, 999999999u,
	     "999999999.999999999.999999999.999999999"},
	    {"123456789.2.1", 123456789u, 2, "", 1, 0, "123456789.2.1"},
	    /* Nine digits, leading zeros included. */
	    {"000000001.000000002-rc000000003.000000004", 1, 2, "rc", 3, 4,
	     "1.2-rc3.4"},
	    {"1.2-abcdefghijklmnop3", 1, 2, "abcdefghijklmnop", 3, 0,
	     "1.2-abcdefghijklmnop3"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ups_version v, again;
		char buf[UPS_LIMIT_VERSION_LEN + 1];
		char err[UPS_ERRMSG_MAX];

		if (ups_version_parse(cases[i].in, &v, err, sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].in, err);
		assert_int_equal(v.major, cases[i].major);
		assert_int_equal(v.minor, cases[i].minor);
		assert_string_equal(v.tag, cases[i].tag);
		assert_int_equal(v.patch, cases[i].patch);
		assert_int_equal(v.build, cases[i].build);
		assert_int_equal(ups_version_is_stable(&v),
		                 cases[i].tag[0] == '\0');
		assert_int_equal(ups_version_format(&v, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].canonical);
		/* Canonical text parses back to an equal version. */
		again = tl_version(buf);
		assert_int_equal(ups_version_compare(&v, &again), 0);
	}
}

static void test_parse_invalid(void **state)
{
	static const char *const cases[] = {
	    "",
	    "2",
	    "2.",
	    ".9",
	    "2.9.",
	    "2.9.1.",
	    "2.9.1.2.3",
	    "2.9.1.2.",
	    "2..9",
	    "2.9-",
	    "2.9-1",
	    "2.9-RC1",
	    "2.9-rc1-",
	    "2.9-rc1.",
	    "2.9-rc1.2.3",
	    "2.9.rc1",
	    "2.9.1-rc1",
	    "v2.9.1",
	    " 2.9.1",
	    "2.9.1 ",
	    "2.9.1\n",
	    "+2.9",
	    "-2.9",
	    "2.-9",
	    "2.9.x",
	    "2,9",
	    "2.9.1a",
	    "4294967296.0",
	    "0.4294967296",
	    "1.0.4294967296",
	    "1.0.0.4294967296",
	    "1.0-rc4294967296",
	    "99999999999999999999.0",
	    /* Juju's numbers have at most nine digits, zeros included. */
	    "1234567890.2.1",
	    "1.1234567890",
	    "1.2.1234567890",
	    "1.2.3.1234567890",
	    "1.2-rc1234567890",
	    "0000000001.0",
	    "1.0000000000",
	    "00000000000000000000000000000000000000000000000000000000000001.0",
	    "1.2-abcdefghijklmnopq3",
	    "2.9-r\xc3\xa9"
	    "1",
	    /* 65 characters. */
	    "000000000000000000000000000000000000000000000000000000000000001.0",
	};
	size_t i;

	(void)state;
	assert_int_equal(strlen(cases[sizeof(cases) / sizeof(cases[0]) - 1]),
	                 UPS_LIMIT_VERSION_LEN + 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ups_version v;
		char err[UPS_ERRMSG_MAX] = "";

		memset(&v, 0x5A, sizeof(v));
		if (ups_version_parse(cases[i], &v, err, sizeof(err)) !=
		    UPS_ERR_BAD_REQUEST)
			fail_msg("accepted \"%s\"", cases[i]);
		assert_true(err[0] != '\0');
		/* Output untouched on failure. */
		assert_int_equal(v.major, 0x5A5A5A5A);
	}
	assert_int_equal(ups_version_parse(NULL, NULL, NULL, 0),
	                 UPS_ERR_BAD_REQUEST);
}

static void test_parse_messages(void **state)
{
	struct ups_version v;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	ups_version_parse("", &v, err, sizeof(err));
	assert_string_equal(err, "version: empty");
	ups_version_parse("4294967296.0", &v, err, sizeof(err));
	assert_string_equal(err, "version: major number longer than 9 digits");
	ups_version_parse("2.0000000009", &v, err, sizeof(err));
	assert_string_equal(err, "version: minor number longer than 9 digits");
	ups_version_parse("2.9-rc1234567890", &v, err, sizeof(err));
	assert_string_equal(err, "version: patch number longer than 9 digits");
	ups_version_parse("1.2-abcdefghijklmnopq3", &v, err, sizeof(err));
	assert_string_equal(err, "version: tag longer than 16");
	ups_version_parse("2.9.1x", &v, err, sizeof(err));
	assert_string_equal(err, "version: unexpected character at position 5");
}

static void test_order(void **state)
{
	/* Strictly ascending. */
	static const char *const asc[] = {
	    "1.25.1",      "1.25.2",    "2.0-alpha1", "2.0-beta1", "2.0.0",
	    "2.0.2",       "2.0.3",     "2.1",        "2.2",       "2.9-beta1",
	    "2.9-beta1.1", "2.9-beta2", "2.9-rc1",    "2.9.0",     "2.9.0.1",
	    "2.9.1",       "2.9.1.3",   "2.9.10",     "2.10.0",    "3.0-rc2",
	    "3.0-rc10",    "3.0.0",     "10.0",
	};
	size_t n = sizeof(asc) / sizeof(asc[0]), i, j;

	(void)state;
	/* "rc10" < "rc2"? No: tags compare as strings, numbers are the
	 * patch, so rc2 < rc10 by patch. */
	for (i = 0; i < n; i++) {
		struct ups_version a = tl_version(asc[i]);

		for (j = 0; j < n; j++) {
			struct ups_version b = tl_version(asc[j]);
			int c = ups_version_compare(&a, &b);

			if ((i < j && c >= 0) || (i > j && c <= 0) ||
			    (i == j && c != 0))
				fail_msg("compare(%s, %s) = %d", asc[i], asc[j],
				         c);
		}
	}
}

static void test_equal(void **state)
{
	static const char *const pairs[][2] = {
	    {"01.0.0", "1.0.0"},      {"2.9", "2.9.0"},
	    {"2.9.0.0", "2.9"},       {"3.0-rc02", "3.0-rc2"},
	    {"002.009.001", "2.9.1"}, {"2.9-beta1.0", "2.9-beta1"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct ups_version a = tl_version(pairs[i][0]),
		                   b = tl_version(pairs[i][1]);

		assert_int_equal(ups_version_compare(&a, &b), 0);
		assert_int_equal(ups_version_compare(&b, &a), 0);
	}
}

static void test_tags_compare_as_strings(void **state)
{
	struct ups_version a = tl_version("2.9-rc9"),
	                   b = tl_version("2.9-beta10");
	struct ups_version c = tl_version("2.9-alpha5"),
	                   d = tl_version("2.9-alphb1");

	(void)state;
	/* "beta" < "rc" whatever the patch numbers. */
	assert_true(ups_version_compare(&b, &a) < 0);
	assert_true(ups_version_compare(&a, &b) > 0);
	assert_true(ups_version_compare(&c, &d) < 0);
}

static void test_format_small_buffer(void **state)
{
	struct ups_version v = tl_version("2.9.1.3");
	char buf[16];

	(void)state;
	/* "2.9.1.3" needs 8 bytes. */
	assert_int_equal(ups_version_format(&v, buf, 8), 0);
	assert_string_equal(buf, "2.9.1.3");
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(ups_version_format(&v, buf, 7), UPS_ERR_TOO_LARGE);
	assert_true(memchr(buf, '\0', 7) != NULL);
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(ups_version_format(&v, buf, 4), UPS_ERR_TOO_LARGE);
	assert_true(memchr(buf, '\0', 4) != NULL);
	assert_int_equal(ups_version_format(&v, buf, 0), UPS_ERR_TOO_LARGE);
}

static void test_format_worst_case_fits(void **state)
{
	struct ups_version v;
	char buf[UPS_LIMIT_VERSION_LEN + 1];

	(void)state;
	memset(&v, 0, sizeof(v));
	v.major = v.minor = v.patch = v.build = UINT32_MAX;
	memset(v.tag, 'z', UPS_LIMIT_VERSION_TAG_LEN);
	v.tag[UPS_LIMIT_VERSION_TAG_LEN] = '\0';
	assert_int_equal(ups_version_format(&v, buf, sizeof(buf)), 0);
	assert_string_equal(buf,
	                    "4294967295.4294967295-zzzzzzzzzzzzzzzz4294967295."
	                    "4294967295");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_invalid),
	    cmocka_unit_test(test_parse_messages),
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_equal),
	    cmocka_unit_test(test_tags_compare_as_strings),
	    cmocka_unit_test(test_format_small_buffer),
	    cmocka_unit_test(test_format_worst_case_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
