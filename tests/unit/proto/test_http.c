/* HTTP request words (proto/http.h): request paths (every traversal and
 * encoding trick refused, the limit exact), single byte ranges (RFC 7233
 * forms, cut to the end, unsatisfiable, ignored), entity-tag matching
 * (weak for If-None-Match, strong for If-Range). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "proto/errors.h"
#include "proto/http.h"

static int check(const char *path)
{
	return ups_http_path_check(path, strlen(path));
}

static void test_path_ok(void **state)
{
	static const char *const ok[] = {
	    "/",
	    "/healthz",
	    "/streams/v1/index2.json",
	    "/tools/released/juju-2.9.1-ubuntu-amd64.tgz",
	    "/tools/3.0-rc2-jammy-arm64",
	    "/model/deadbeef-0123-4567-89ab-cdef01234567/tools/"
	    "2.9.1-focal-amd64",
	    "/a/b~c_d.e",
	    "/x:y@z!$&'()*+,;=",
	    "/..x",
	    "/x..",
	    "/.x",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (check(ok[i]) != 0)
			fail_msg("refused \"%s\"", ok[i]);
}

static void test_path_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "tools/x",
	    "//",
	    "/tools//x",
	    "/tools/",
	    "/.",
	    "/..",
	    "/../etc/passwd",
	    "/tools/../../etc/passwd",
	    "/tools/./x",
	    "/tools/x/..",
	    "/tools/%2e%2e/x",
	    "/tools/..%2f..%2fetc",
	    "/tools%2F..%2Fetc",
	    "/tools/%252e%252e/x",
	    "/%00",
	    "/tools\\..\\x",
	    "/tools/x\\",
	    "/tools/a b",
	    "/tools/a\tb",
	    "/tools/a\nb",
	    "/tools/a\rb",
	    "/tools/\x7f",
	    "/tools/\xc3\xa9",
	    "/tools/\"x\"",
	    "/tools/<x>",
	    "/tools/x#y",
	    "/tools/x?y",
	    "/tools/{x}",
	    "/tools/x|y",
	    "/tools/x^y",
	    "/tools/`x`",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (check(bad[i]) != UPS_ERR_BAD_REQUEST)
			fail_msg("accepted \"%s\"", bad[i]);
	/* A NUL inside the length is refused, not taken as the end. */
	assert_int_equal(ups_http_path_check("/tools/x\0/../y", 14),
	                 UPS_ERR_BAD_REQUEST);
}

static void test_path_limit(void **state)
{
	char path[UPS_LIMIT_HTTP_PATH_LEN + 2];

	(void)state;
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	assert_int_equal(ups_http_path_check(path, UPS_LIMIT_HTTP_PATH_LEN), 0);
	assert_int_equal(ups_http_path_check(path, UPS_LIMIT_HTTP_PATH_LEN + 1),
	                 UPS_ERR_TOO_LARGE);
	/* Too long wins over anything else wrong with it. */
	path[5] = '%';
	assert_int_equal(ups_http_path_check(path, UPS_LIMIT_HTTP_PATH_LEN + 2),
	                 UPS_ERR_TOO_LARGE);
}

static void test_range(void **state)
{
	static const struct {
		const char *value;
		uint64_t size;
		enum ups_http_range want;
		uint64_t start, len;
	} cases[] = {
	    {NULL, 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=0-9", 100, UPS_HTTP_RANGE_PARTIAL, 0, 10},
	    {"bytes=10-19", 100, UPS_HTTP_RANGE_PARTIAL, 10, 10},
	    {"bytes=99-99", 100, UPS_HTTP_RANGE_PARTIAL, 99, 1},
	    {"bytes=90-", 100, UPS_HTTP_RANGE_PARTIAL, 90, 10},
	    {"bytes=0-", 100, UPS_HTTP_RANGE_PARTIAL, 0, 100},
	    {"bytes=90-1000", 100, UPS_HTTP_RANGE_PARTIAL, 90, 10},
	    {"bytes=-10", 100, UPS_HTTP_RANGE_PARTIAL, 90, 10},
	    {"bytes=-1000", 100, UPS_HTTP_RANGE_PARTIAL, 0, 100},
	    {" bytes=5-6 ", 100, UPS_HTTP_RANGE_PARTIAL, 5, 2},
	    {"bytes = 5-6", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=5 - 6", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=100-", 100, UPS_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=100-200", 100, UPS_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=-0", 100, UPS_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=0-0", 0, UPS_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=-5", 0, UPS_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    /* Ignored: the whole body. */
	    {"bytes=9-1", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=0-1,5-6", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=-", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=a-b", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=1-2x", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"items=0-9", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"Bytes=0-9", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=+1-2", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=1234567890123456789-", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=0-1234567890123456789", 100, UPS_HTTP_RANGE_ALL, 0, 100},
	    {"bytes=123456789012345678-", 100, UPS_HTTP_RANGE_UNSATISFIABLE, 0,
	     0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t start = 77, len = 77;
		enum ups_http_range r = ups_http_range_parse(
		    cases[i].value, cases[i].size, &start, &len);

		if (r != cases[i].want)
			fail_msg("\"%s\" of %llu: %d, want %d",
			         cases[i].value ? cases[i].value : "(none)",
			         (unsigned long long)cases[i].size, r,
			         cases[i].want);
		if (r == UPS_HTTP_RANGE_UNSATISFIABLE)
			continue;
		assert_int_equal(start, cases[i].start);
		assert_int_equal(len, cases[i].len);
	}
}

#define TAG "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void test_etag(void **state)
{
	(void)state;
	/* If-None-Match: weak comparison, lists, "*". */
	assert_true(ups_http_etag_match("\"" TAG "\"", TAG, true));
	assert_true(ups_http_etag_match("W/\"" TAG "\"", TAG, true));
	assert_true(ups_http_etag_match("\"x\", \"" TAG "\"", TAG, true));
	assert_true(ups_http_etag_match(" \"x\" ,W/\"" TAG "\" ", TAG, true));
	assert_true(ups_http_etag_match("*", TAG, true));
	assert_true(ups_http_etag_match(" * ", TAG, true));
	assert_false(ups_http_etag_match("\"x\"", TAG, true));
	assert_false(ups_http_etag_match(TAG, TAG, true)); /* unquoted */
	assert_false(ups_http_etag_match("\"" TAG, TAG, true));
	assert_false(ups_http_etag_match("\"" TAG "\" x", TAG, true));
	assert_false(ups_http_etag_match("\"" TAG "\",", TAG, true));
	assert_false(ups_http_etag_match("\"" TAG "0\"", TAG, true));
	assert_false(ups_http_etag_match("\"a b\"", "a b", true));
	assert_false(ups_http_etag_match("", TAG, true));
	assert_false(ups_http_etag_match(NULL, TAG, true));
	assert_false(ups_http_etag_match("*, \"x\"", TAG, true));
	/* If-Range: one strong tag. */
	assert_true(ups_http_etag_match("\"" TAG "\"", TAG, false));
	assert_true(ups_http_etag_match(" \"" TAG "\" ", TAG, false));
	assert_false(ups_http_etag_match("W/\"" TAG "\"", TAG, false));
	assert_false(ups_http_etag_match("*", TAG, false));
	assert_false(
	    ups_http_etag_match("\"" TAG "\", \"" TAG "\"", TAG, false));
	assert_false(
	    ups_http_etag_match("Sat, 29 Oct 1994 19:43:31 GMT", TAG, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_ok),
	    cmocka_unit_test(test_path_refused),
	    cmocka_unit_test(test_path_limit),
	    cmocka_unit_test(test_range),
	    cmocka_unit_test(test_etag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
