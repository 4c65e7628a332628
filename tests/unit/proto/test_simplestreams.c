/* The simplestreams agent metadata reader (proto/simplestreams.h): index
 * and products parsing over buffers, path safety, skipped items, the sort
 * order, and malformed or hostile JSON. (Reading a tree from disk is the
 * CLI's source.c, tested in tests/unit/cli/test_cli_sync.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/simplestreams.h"
#include "tests/lib/checks.h"

/* SHA-256 of "hello" and of "HELLO". */
#define SHA_HELLO                                                              \
	"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define SHA_OTHER                                                              \
	"3733cd977ff8eb18b987357e22ced99f46097f31ecb239e878ae63760e83e4d5"

/* One product item: the name of the item, then its fields. */
#define ITEM(key, version, release, arch, sha)                                 \
	"\"" key "\":{\"version\":\"" version "\",\"release\":\"" release      \
	"\",\"arch\":\"" arch "\",\"size\":5,\"path\":\"a/" key                \
	".tgz\",\"sha256\":\"" sha "\"}"

/* Parses a products file of one product holding items[0..n). */
static void parse(const char *const *items, size_t n, struct ups_ss_list *l,
                  struct tl_warnings *w)
{
	char buf[4096], err[512];
	size_t len;

	len = (size_t)snprintf(
	    buf, sizeof(buf),
	    "{\"content_id\":\"com.ubuntu.juju:released:agents\","
	    "\"products\":{\"p\":{\"versions\":{\"20240101\":{\"items\":{");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
		                        i ? "," : "", items[i]);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "}}}}}}");
	assert_true(len < sizeof(buf));
	if (ups_ss_parse_products(buf, len, "released", l, tl_count_warn, w, err,
	                          sizeof(err)) != 0)
		fail_msg("products: %s", err);
}

static void test_index(void **state)
{
	static const char index2[] =
	    "{\"format\":\"index:1.0\",\"updated\":\"x\",\"index\":{"
	    "\"com.ubuntu.juju:devel:agents\":{\"path\":"
	    "\"streams/v1/devel.json\",\"format\":\"products:1.0\"},"
	    "\"com.ubuntu.juju:released:agents\":{\"path\":"
	    "\"streams/v1/released.json\",\"format\":\"products:1.0\"}}}";
	char path[UPS_SS_PATH_MAX + 1], err[512];

	(void)state;
	assert_int_equal(ups_ss_parse_index(index2, strlen(index2), "released",
	                                    path, sizeof(path), err,
	                                    sizeof(err)),
	                 0);
	assert_string_equal(path, "streams/v1/released.json");
	assert_int_equal(ups_ss_parse_index(index2, strlen(index2), "devel",
	                                    path, sizeof(path), err,
	                                    sizeof(err)),
	                 0);
	assert_string_equal(path, "streams/v1/devel.json");
	assert_int_equal(ups_ss_parse_index(index2, strlen(index2), "proposed",
	                                    path, sizeof(path), err,
	                                    sizeof(err)),
	                 UPS_ERR_NOT_FOUND);
	tl_assert_contains(err, "com.ubuntu.juju:proposed:agents");
}

static void test_content_id(void **state)
{
	(void)state;
	assert_true(ups_ss_content_id_is("com.ubuntu.juju:released:agents",
	                                 "released"));
	assert_true(
	    ups_ss_content_id_is("com.ubuntu.juju:devel:agents", "devel"));
	assert_false(
	    ups_ss_content_id_is("com.ubuntu.juju:released:agents", "devel"));
	assert_false(ups_ss_content_id_is("com.ubuntu.juju:released:agentsx",
	                                  "released"));
	assert_false(
	    ups_ss_content_id_is("com.ubuntu.juju:released", "released"));
	assert_false(ups_ss_content_id_is("", "released"));
}

static void test_sorted_in_binary_version_order(void **state)
{
	static const char *const items[] = {
	    ITEM("i1", "2.10.0", "ubuntu", "amd64", SHA_HELLO),
	    ITEM("i2", "2.9.1", "ubuntu", "arm64", SHA_HELLO),
	    ITEM("i3", "2.9.1", "ubuntu", "amd64", SHA_HELLO),
	    ITEM("i4", "2.9.1", "focal", "s390x", SHA_HELLO),
	    ITEM("i5", "2.9-rc1", "ubuntu", "amd64", SHA_HELLO),
	};
	struct tl_warnings w = {0};
	struct ups_ss_list l = {0};

	(void)state;
	parse(items, 5, &l, &w);
	assert_int_equal(w.n, 0);
	assert_int_equal(l.n, 5);
	/* Version order (rc before release, 2.9 before 2.10), then release,
	 * then arch. */
	assert_string_equal(l.items[0].binary_version, "2.9-rc1-ubuntu-amd64");
	assert_string_equal(l.items[1].binary_version, "2.9.1-focal-s390x");
	assert_string_equal(l.items[2].binary_version, "2.9.1-ubuntu-amd64");
	assert_string_equal(l.items[3].binary_version, "2.9.1-ubuntu-arm64");
	assert_string_equal(l.items[4].binary_version, "2.10.0-ubuntu-amd64");
	assert_string_equal(l.items[4].version, "2.10.0");
	assert_string_equal(l.items[4].path, "a/i1.tgz");
	ups_ss_list_free(&l);
}

static void test_items_skipped(void **state)
{
	/* Uppercase digests are lowered; the others are skipped with a
	 * warning, not an error. */
	static const char *const items[] = {
	    ITEM("upper", "2.9.1", "ubuntu", "amd64",
	         "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B"
	         "9824"),
	    ITEM("short", "2.9.2", "ubuntu", "amd64", "2cf24dba"),
	    ITEM("arch", "2.9.3", "ubuntu", "sparc", SHA_HELLO),
	    ITEM("digits", "1234567890.0", "ubuntu", "amd64", SHA_HELLO),
	};
	struct tl_warnings w = {0};
	struct ups_ss_list l = {0};

	(void)state;
	parse(items, 4, &l, &w);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].binary_version, "2.9.1-ubuntu-amd64");
	assert_string_equal(l.items[0].sha256, SHA_HELLO);
	assert_int_equal(w.n, 3);
	tl_assert_contains(w.last, "longer than 9 digits");
	ups_ss_list_free(&l);
}

static void test_index_traversal_refused(void **state)
{
	static const char evil[] =
	    "{\"index\":{\"com.ubuntu.juju:released:agents\":{\"path\":"
	    "\"streams/../../../etc/passwd\"}}}";
	static const char absolute[] =
	    "{\"index\":{\"com.ubuntu.juju:released:agents\":{\"path\":"
	    "\"/etc/passwd\"}}}";
	char path[UPS_SS_PATH_MAX + 1], err[512];

	(void)state;
	assert_int_equal(ups_ss_parse_index(evil, strlen(evil), "released",
	                                    path, sizeof(path), err,
	                                    sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "unsafe path");
	assert_int_equal(ups_ss_parse_index(absolute, strlen(absolute),
	                                    "released", path, sizeof(path), err,
	                                    sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
}

static void test_malformed_json(void **state)
{
	struct ups_ss_list l = {0};
	char err[512], path[UPS_SS_PATH_MAX + 1];
	static const char *const bad_products[] = {
	    "{\"products\": {",   /* truncated */
	    "[]",                 /* not an object */
	    "{\"products\": []}", /* wrong type */
	    "{\"products\": {\"p\": {\"versions\": 3}}}",
	    "{\"products\": {\"p\": {\"versions\": {\"d\": {\"items\": "
	    "{\"i\": {\"size\": \"5\"}}}}}}}", /* size not an integer */
	    "{\"products\": {\"p\": {\"versions\": {\"d\": {\"items\": "
	    "{\"i\": {\"version\": 2}}}}}}}",       /* version not a string */
	    "{\"products\": {}, \"products\": {}}", /* duplicate key */
	    "{\"content_id\": \"com.ubuntu.juju:devel:agents\", "
	    "\"products\": {}}", /* another stream */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad_products) / sizeof(*bad_products);
	     i++) {
		if (ups_ss_parse_products(bad_products[i],
		                          strlen(bad_products[i]), "released",
		                          &l, NULL, NULL, err,
		                          sizeof(err)) != UPS_ERR_BAD_REQUEST)
			fail_msg("accepted %s", bad_products[i]);
		assert_int_equal(l.n, 0);
	}
	assert_int_equal(ups_ss_parse_index("{", 1, "released", path,
	                                    sizeof(path), err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_ss_parse_index("{\"index\":{\"com.ubuntu.juju:"
	                                    "released:agents\":{\"path\":7}}}",
	                                    59, "released", path, sizeof(path),
	                                    err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
}

static void test_newest_date_wins(void **state)
{
	static const char two_dates[] =
	    "{\"products\":{\"p\":{\"version\":\"2.9.1\",\"arch\":\"amd64\","
	    "\"release\":\"ubuntu\",\"versions\":{"
	    "\"20240101\":{\"items\":{\"a\":{\"size\":5,\"path\":\"old.tgz\","
	    "\"sha256\":\"" SHA_HELLO "\"}}},"
	    "\"20240202\":{\"items\":{\"a\":{\"size\":6,\"path\":\"new.tgz\","
	    "\"sha256\":\"" SHA_OTHER "\"}}}}}}}";
	struct ups_ss_list l = {0};
	char err[512];

	(void)state;
	assert_int_equal(ups_ss_parse_products(two_dates, strlen(two_dates),
	                                       "released", &l, NULL, NULL, err,
	                                       sizeof(err)),
	                 0);
	assert_int_equal(l.n, 1);
	/* Inherited from the product. */
	assert_string_equal(l.items[0].binary_version, "2.9.1-ubuntu-amd64");
	assert_string_equal(l.items[0].path, "new.tgz");
	ups_ss_list_free(&l);
}

static void test_path_safety(void **state)
{
	(void)state;
	assert_true(ups_ss_path_is_safe("a/b/juju-2.9.1-ubuntu-amd64.tgz"));
	assert_true(ups_ss_path_is_safe("a..b/c"));
	assert_false(ups_ss_path_is_safe(""));
	assert_false(ups_ss_path_is_safe("/abs"));
	assert_false(ups_ss_path_is_safe("../x"));
	assert_false(ups_ss_path_is_safe("a/../x"));
	assert_false(ups_ss_path_is_safe("a/.."));
	assert_false(ups_ss_path_is_safe("./x"));
	assert_false(ups_ss_path_is_safe("a//b"));
	assert_false(ups_ss_path_is_safe("a/"));
	assert_false(ups_ss_path_is_safe("a\\b"));
	assert_false(ups_ss_path_is_safe("a\nb"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_index),
	    cmocka_unit_test(test_content_id),
	    cmocka_unit_test(test_sorted_in_binary_version_order),
	    cmocka_unit_test(test_items_skipped),
	    cmocka_unit_test(test_index_traversal_refused),
	    cmocka_unit_test(test_malformed_json),
	    cmocka_unit_test(test_newest_date_wins),
	    cmocka_unit_test(test_path_safety),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
