/* Versions: grammar, canonical formatting, ordering; releases, arches and
 * binary versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/errors.h"
#include "proto/version.h"

static struct ups_version V(const char *s) {
	struct ups_version v;
	char err[UPS_ERRMSG_MAX];

	if (ups_version_parse(s, &v, err, sizeof(err)) != 0)
		fail_msg("parse %s: %s", s, err);
	return v;
}

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
		again = V(buf);
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
		struct ups_version a = V(asc[i]);

		for (j = 0; j < n; j++) {
			struct ups_version b = V(asc[j]);
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
		struct ups_version a = V(pairs[i][0]), b = V(pairs[i][1]);

		assert_int_equal(ups_version_compare(&a, &b), 0);
		assert_int_equal(ups_version_compare(&b, &a), 0);
	}
}

static void test_tags_compare_as_strings(void **state)
{
	struct ups_version a = V("2.9-rc9"), b = V("2.9-beta10");
	struct ups_version c = V("2.9-alpha5"), d = V("2.9-alphb1");

	(void)state;
	/* "beta" < "rc" whatever the patch numbers. */
	assert_true(ups_version_compare(&b, &a) < 0);
	assert_true(ups_version_compare(&a, &b) > 0);
	assert_true(ups_version_compare(&c, &d) < 0);
}

static void test_format_small_buffer(void **state)
{
	struct ups_version v = V("2.9.1.3");
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

static void test_release(void **state)
{
	char long_ok[UPS_LIMIT_RELEASE_LEN + 1];
	char too_long[UPS_LIMIT_RELEASE_LEN + 2];

	(void)state;
	assert_true(ups_release_is_valid("focal"));
	assert_true(ups_release_is_valid("jammy"));
	assert_true(ups_release_is_valid("ubuntu"));
	assert_true(ups_release_is_valid("centos7"));
	assert_true(ups_release_is_valid("a"));
	assert_false(ups_release_is_valid(""));
	assert_false(ups_release_is_valid(NULL));
	assert_false(ups_release_is_valid("7centos"));
	assert_false(ups_release_is_valid("Focal"));
	assert_false(ups_release_is_valid("foc-al"));
	assert_false(ups_release_is_valid("foc al"));
	assert_false(ups_release_is_valid("../x"));
	assert_false(ups_release_is_valid("focal/"));
	memset(long_ok, 'a', UPS_LIMIT_RELEASE_LEN);
	long_ok[UPS_LIMIT_RELEASE_LEN] = '\0';
	assert_true(ups_release_is_valid(long_ok));
	memset(too_long, 'a', UPS_LIMIT_RELEASE_LEN + 1);
	too_long[UPS_LIMIT_RELEASE_LEN + 1] = '\0';
	assert_false(ups_release_is_valid(too_long));
}

static void test_arch(void **state)
{
	(void)state;
	assert_true(ups_arch_is_valid("amd64"));
	assert_true(ups_arch_is_valid("arm64"));
	assert_true(ups_arch_is_valid("ppc64el"));
	assert_true(ups_arch_is_valid("s390x"));
	assert_true(ups_arch_is_valid("riscv64"));
	assert_false(ups_arch_is_valid("i386"));
	assert_false(ups_arch_is_valid("AMD64"));
	assert_false(ups_arch_is_valid("amd64 "));
	assert_false(ups_arch_is_valid("amd6"));
	assert_false(ups_arch_is_valid(""));
	assert_false(ups_arch_is_valid(NULL));
}

static void test_binary_version(void **state)
{
	static const struct {
		const char *in;
		const char *version, *release, *arch, *canonical;
	} cases[] = {
	    {"2.9.1-ubuntu-amd64", "2.9.1", "ubuntu", "amd64",
	     "2.9.1-ubuntu-amd64"},
	    {"3.0-rc2-jammy-arm64", "3.0-rc2", "jammy", "arm64",
	     "3.0-rc2-jammy-arm64"},
	    {"2.9-beta1.1-focal-s390x", "2.9-beta1.1", "focal", "s390x",
	     "2.9-beta1.1-focal-s390x"},
	    {"2.9-focal-ppc64el", "2.9.0", "focal", "ppc64el",
	     "2.9.0-focal-ppc64el"},
	    {"02.9.1.0-centos7-riscv64", "2.9.1", "centos7", "riscv64",
	     "2.9.1-centos7-riscv64"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ups_binary_version bv, again;
		struct ups_version want = V(cases[i].version);
		char buf[UPS_LIMIT_BINARY_VERSION_LEN + 1];
		char err[UPS_ERRMSG_MAX];

		if (ups_binary_version_parse(cases[i].in, &bv, err,
		                             sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].in, err);
		assert_int_equal(ups_version_compare(&bv.version, &want), 0);
		assert_string_equal(bv.release, cases[i].release);
		assert_string_equal(bv.arch, cases[i].arch);
		assert_int_equal(
		    ups_binary_version_format(&bv, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].canonical);
		assert_int_equal(
		    ups_binary_version_parse(buf, &again, err, sizeof(err)), 0);
		assert_int_equal(
		    ups_version_compare(&bv.version, &again.version), 0);
	}
}

static void test_binary_version_invalid(void **state)
{
	static const struct {
		const char *in;
		const char *msg;
	} cases[] = {
	    {"", "binary version: empty"},
	    {"2.9.1", "binary version: expected <version>-<release>-<arch>"},
	    {"2.9.1-amd64",
	     "binary version: expected <version>-<release>-<arch>"},
	    {"2.9.1-ubuntu-i386", "binary version: unknown arch"},
	    {"2.9.1-ubuntu-", "binary version: unknown arch"},
	    {"2.9.1-ubuntu-amd64x", "binary version: unknown arch"},
	    {"2.9.1-Ubuntu-amd64", "binary version: bad release"},
	    {"2.9.1--amd64", "binary version: bad release"},
	    {"2.9.1-../..-amd64", "binary version: bad release"},
	    {"2.9.1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-amd64",
	     "binary version: bad release"},
	    {"-ubuntu-amd64", "version: empty"},
	    {"2.9.x-ubuntu-amd64", NULL},
	    {"3.0-rc2-x-jammy-arm64", NULL},
	    {"ubuntu-amd64",
	     "binary version: expected <version>-<release>-<arch>"},
	    {"2.9.1-ubuntu-amd64-", "binary version: unknown arch"},
	};
	size_t i;
	char big[UPS_LIMIT_BINARY_VERSION_LEN + 2];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ups_binary_version bv;
		char err[UPS_ERRMSG_MAX] = "";

		if (ups_binary_version_parse(cases[i].in, &bv, err,
		                             sizeof(err)) !=
		    UPS_ERR_BAD_REQUEST)
			fail_msg("accepted \"%s\"", cases[i].in);
		if (cases[i].msg != NULL)
			assert_string_equal(err, cases[i].msg);
		else
			assert_true(err[0] != '\0');
	}
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ups_binary_version_parse(big, NULL, NULL, 0),
	                 UPS_ERR_BAD_REQUEST);
}

static void test_binary_version_format_small(void **state)
{
	struct ups_binary_version bv;
	char buf[10];

	(void)state;
	assert_int_equal(
	    ups_binary_version_parse("2.9.1-ubuntu-amd64", &bv, NULL, 0), 0);
	assert_int_equal(ups_binary_version_format(&bv, buf, sizeof(buf)),
	                 UPS_ERR_TOO_LARGE);
	assert_true(memchr(buf, '\0', sizeof(buf)) != NULL);
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
	    cmocka_unit_test(test_release),
	    cmocka_unit_test(test_arch),
	    cmocka_unit_test(test_binary_version),
	    cmocka_unit_test(test_binary_version_invalid),
	    cmocka_unit_test(test_binary_version_format_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
