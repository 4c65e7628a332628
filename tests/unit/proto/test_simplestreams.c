/* The simplestreams agent metadata reader and writer
 * (proto/simplestreams.h). Reader: index and products parsing over
 * buffers, path safety, skipped items, the sort order, and malformed or
 * hostile JSON. (Reading a tree from disk is the CLI's source.c, tested in
 * tests/unit/cli/test_cli_sync.c.) Writer: the bytes Juju's own writer
 * makes (the reference files in tests/data/simplestreams, written by
 * Juju's tests), the key sets and nesting of every level, determinism,
 * dates and product ids, the reader reading what it writes, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
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
	if (ups_ss_parse_products(buf, len, "released", l, tl_count_warn, w,
	                          err, sizeof(err)) != 0)
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

/* -------------------------------------------------------------------------
 * The writer. */

/* A reference file of tests/data/simplestreams, whole, NUL-terminated;
 * freed by the caller. */
static char *reference(const char *name, size_t *len)
{
	char path[512];
	char *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", UPS_TEST_SS_DATA, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* s without blanks at line ends (Juju's index2.json test string has one
 * after a product id). */
static void strip_line_ends(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r == '\n')
			while (w > s && w[-1] == ' ')
				w--;
		*w++ = *r;
	}
	*w = '\0';
}

static struct ups_ss_pub pub(enum ups_stream st, int64_t stored_at,
                             const char *version, const char *release,
                             const char *arch, uint64_t size, const char *path,
                             const char *sha)
{
	struct ups_ss_pub p;

	memset(&p, 0, sizeof(p));
	p.stream = st;
	p.stored_at = stored_at;
	snprintf(p.item.binary_version, sizeof(p.item.binary_version),
	         "%s-%s-%s", version, release, arch);
	snprintf(p.item.version, sizeof(p.item.version), "%s", version);
	snprintf(p.item.release, sizeof(p.item.release), "%s", release);
	snprintf(p.item.arch, sizeof(p.item.arch), "%s", arch);
	p.item.size = size;
	snprintf(p.item.path, sizeof(p.item.path), "%s", path);
	snprintf(p.item.sha256, sizeof(p.item.sha256), "%s", sha);
	return p;
}

static void write_ok(const struct ups_ss_pub *pubs, size_t n,
                     struct ups_ss_files *out)
{
	char err[512] = "";

	if (ups_ss_write(pubs, n, out, err, sizeof(err)) != 0)
		fail_msg("ups_ss_write: %s", err);
}

static const struct ups_ss_file *file(const struct ups_ss_files *f,
                                      const char *name)
{
	const struct ups_ss_file *x = ups_ss_files_find(f, name);

	if (!x)
		fail_msg("no %s written", name);
	assert_int_equal(strlen(x->data), x->len);
	return x;
}

static void assert_same_bytes(const struct ups_ss_file *got, const char *want,
                              size_t want_len)
{
	if (got->len != want_len || memcmp(got->data, want, want_len) != 0)
		fail_msg("%s differs from the reference:\n--- got\n%s\n--- "
		         "want\n%s",
		         got->name, got->data, want);
}

/* The items of Juju's own test (marshal_test.go): its released products
 * file and legacy index, byte for byte, and its index2.json but for the
 * stray blank. Juju's dummies (size 0, a 40-digit sha256, arch "arm")
 * are written as they are: the writer formats, the catalog validates. */
static void test_write_juju_reference_bytes(void **state)
{
	struct ups_ss_pub pubs[] = {
	    pub(UPS_STREAM_PROPOSED, 0, "4.3.2.1", "ubuntu", "ppc64el", 1,
	        "p.tgz", SHA_HELLO),
	    pub(UPS_STREAM_RELEASED, 0, "4.3.2.1", "ubuntu", "amd64", 0,
	        "whatever.tar.gz", "afb14e65c794464e378def12cbad6a96f9186d69"),
	    pub(UPS_STREAM_RELEASED, 0, "1.2.3.4", "ubuntu", "arm",
	        9223372036854775807ULL, "/somewhere/over/the/rainbow.tar.gz",
	        ""),
	    pub(UPS_STREAM_PROPOSED, 0, "1.2.3.4", "ubuntu", "arm64", 1,
	        "q.tgz", SHA_HELLO),
	};
	struct ups_ss_files out;
	char *want;
	size_t len;

	(void)state;
	write_ok(pubs, 4, &out);
	assert_int_equal(out.n, 4);
	assert_string_equal(out.file[0].name, "index2.json");
	assert_string_equal(out.file[1].name, "index.json");
	assert_string_equal(out.file[2].name,
	                    "com.ubuntu.juju-released-agents.json");
	assert_string_equal(out.file[3].name,
	                    "com.ubuntu.juju-proposed-agents.json");

	want = reference("com.ubuntu.juju-released-agents.json", &len);
	assert_same_bytes(file(&out, "com.ubuntu.juju-released-agents.json"),
	                  want, len);
	free(want);
	want = reference("index.json", &len);
	assert_same_bytes(file(&out, "index.json"), want, len);
	free(want);
	want = reference("index2.json", &len);
	strip_line_ends(want);
	assert_same_bytes(file(&out, "index2.json"), want, strlen(want));
	free(want);
	ups_ss_files_free(&out);
}

/* The member names of obj, in order, comma-separated. */
static void keys_of(const json_t *obj, char *buf, size_t len)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	buf[0] = '\0';
	json_object_foreach((json_t *)obj, key, v)
	{
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "",
		                      key);
		assert_true(n < len);
	}
}

static json_t *load(const char *data, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!root)
		fail_msg("not JSON: %s", jerr.text);
	return root;
}

/* The first member of obj (borrowed). */
static json_t *first(json_t *obj)
{
	void *it = json_object_iter(obj);

	assert_non_null(it);
	return json_object_iter_value(it);
}

/* Every level of what upstaged publishes for real binaries (series and
 * OS types, several streams, dates and platforms) has the member names
 * of the same level of Juju's files, in the same order, and the same
 * nesting. */
static void test_write_key_sets_match_reference(void **state)
{
	struct ups_ss_pub pubs[] = {
	    pub(UPS_STREAM_RELEASED, 1700000000, "2.9.1", "focal", "amd64", 5,
	        "tools/released/juju-2.9.1-focal-amd64.tgz", SHA_HELLO),
	    pub(UPS_STREAM_RELEASED, 1700090000, "2.9.2", "focal", "amd64", 5,
	        "tools/released/juju-2.9.2-focal-amd64.tgz", SHA_OTHER),
	    pub(UPS_STREAM_RELEASED, 1700000000, "3.1.0", "ubuntu", "arm64", 5,
	        "tools/released/juju-3.1.0-ubuntu-arm64.tgz", SHA_HELLO),
	    pub(UPS_STREAM_DEVEL, 1600000000, "3.2-beta1", "jammy", "s390x", 5,
	        "tools/devel/juju-3.2-beta1-jammy-s390x.tgz", SHA_HELLO),
	};
	static const char *const files[][2] = {
	    {"index2.json", "index2.json"},
	    {"index.json", "index.json"},
	    {"com.ubuntu.juju-released-agents.json",
	     "com.ubuntu.juju-released-agents.json"},
	    /* No reference devel file: the released one has the shape. */
	    {"com.ubuntu.juju-devel-agents.json",
	     "com.ubuntu.juju-released-agents.json"},
	};
	struct ups_ss_files out;
	char got[512], want[512];

	(void)state;
	write_ok(pubs, 4, &out);
	assert_int_equal(out.n, 4);
	for (size_t i = 0; i < 4; i++) {
		const struct ups_ss_file *f = file(&out, files[i][0]);
		size_t len;
		char *text = reference(files[i][1], &len);
		json_t *g = load(f->data, f->len), *w = load(text, len);
		bool is_index = strncmp(files[i][0], "index", 5) == 0;
		const char *inner = is_index ? "index" : "products";
		json_t *gl, *wl;

		keys_of(g, got, sizeof(got));
		keys_of(w, want, sizeof(want));
		assert_string_equal(got, want);
		gl = first(json_object_get(g, inner));
		wl = first(json_object_get(w, inner));
		keys_of(gl, got, sizeof(got));
		keys_of(wl, want, sizeof(want));
		assert_string_equal(got, want);
		if (is_index) {
			assert_true(
			    json_is_array(json_object_get(gl, "products")));
		} else {
			/* versions -> date -> items -> item */
			gl = first(json_object_get(gl, "versions"));
			wl = first(json_object_get(wl, "versions"));
			keys_of(gl, got, sizeof(got));
			keys_of(wl, want, sizeof(want));
			assert_string_equal(got, want);
			gl = first(json_object_get(gl, "items"));
			wl = first(json_object_get(wl, "items"));
			keys_of(gl, got, sizeof(got));
			keys_of(wl, want, sizeof(want));
			assert_string_equal(got, want);
		}
		json_decref(g);
		json_decref(w);
		free(text);
	}
	ups_ss_files_free(&out);
}

/* Product ids, dates and "updated": series by their version number, OS
 * types as they are; every item under the day it was stored; updated is
 * the newest stored_at of what each file (and index entry) describes. */
static void test_write_ids_dates_updated(void **state)
{
	struct ups_ss_pub pubs[] = {
	    pub(UPS_STREAM_RELEASED, 1700000000, "2.9.1", "focal", "amd64", 5,
	        "tools/released/a.tgz", SHA_HELLO),
	    pub(UPS_STREAM_RELEASED, 1700090000, "2.9.2", "focal", "amd64", 5,
	        "tools/released/b.tgz", SHA_OTHER),
	    pub(UPS_STREAM_RELEASED, 1600000000, "2.9.2", "centos7", "amd64", 5,
	        "tools/released/c.tgz", SHA_OTHER),
	    pub(UPS_STREAM_DEVEL, 1800000000, "3.0-rc1", "ubuntu", "arm64", 5,
	        "tools/devel/d.tgz", SHA_HELLO),
	};
	struct ups_ss_files out;
	const struct ups_ss_file *f;
	json_t *root, *p, *entry;

	(void)state;
	write_ok(pubs, 4, &out);
	f = file(&out, "com.ubuntu.juju-released-agents.json");
	root = load(f->data, f->len);
	/* Tue, 14 Nov 2023 22:13:20 and Wed, 15 Nov 2023 23:13:20 UTC. */
	assert_string_equal(json_string_value(json_object_get(root, "updated")),
	                    "Wed, 15 Nov 2023 23:13:20 +0000");
	p = json_object_get(json_object_get(root, "products"),
	                    "com.ubuntu.juju:20.04:amd64");
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "version")),
	                    "2.9.2");
	assert_non_null(json_object_get(
	    json_object_get(
	        json_object_get(json_object_get(p, "versions"), "20231114"),
	        "items"),
	    "2.9.1-focal-amd64"));
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(
	            json_object_get(
	                json_object_get(json_object_get(p, "versions"),
	                                "20231115"),
	                "items"),
	            "2.9.2-focal-amd64"),
	        "release")),
	    "focal");
	assert_non_null(json_object_get(json_object_get(root, "products"),
	                                "com.ubuntu.juju:centos7:amd64"));
	json_decref(root);

	f = file(&out, "index2.json");
	root = load(f->data, f->len);
	assert_string_equal(json_string_value(json_object_get(root, "updated")),
	                    "Fri, 15 Jan 2027 08:00:00 +0000");
	entry = json_object_get(json_object_get(root, "index"),
	                        "com.ubuntu.juju:released:agents");
	assert_string_equal(
	    json_string_value(json_object_get(entry, "updated")),
	    "Wed, 15 Nov 2023 23:13:20 +0000");
	assert_string_equal(json_string_value(json_object_get(entry, "path")),
	                    "streams/v1/com.ubuntu.juju-released-agents.json");
	assert_int_equal(json_array_size(json_object_get(entry, "products")),
	                 2);
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(entry, "products"), 0)),
	                    "com.ubuntu.juju:20.04:amd64");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(entry, "products"), 1)),
	                    "com.ubuntu.juju:centos7:amd64");
	assert_non_null(json_object_get(json_object_get(root, "index"),
	                                "com.ubuntu.juju:devel:agents"));
	json_decref(root);
	/* The legacy index: released only. */
	f = file(&out, "index.json");
	root = load(f->data, f->len);
	assert_int_equal(json_object_size(json_object_get(root, "index")), 1);
	assert_string_equal(json_string_value(json_object_get(root, "updated")),
	                    "Wed, 15 Nov 2023 23:13:20 +0000");
	json_decref(root);
	ups_ss_files_free(&out);

	/* Without released binaries there is no legacy index; without any
	 * an empty index2.json. */
	write_ok(&pubs[3], 1, &out);
	assert_int_equal(out.n, 2);
	assert_null(ups_ss_files_find(&out, "index.json"));
	ups_ss_files_free(&out);
	write_ok(NULL, 0, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.file[0].data,
	                    "{\n    \"index\": {},\n    \"updated\": \"Thu, 01 "
	                    "Jan 1970 00:00:00 +0000\",\n    \"format\": "
	                    "\"index:1.0\"\n}\n");
	ups_ss_files_free(&out);
}

/* The same binaries in any order give the same bytes. */
static void test_write_deterministic(void **state)
{
	struct ups_ss_pub pubs[24], shuffled[24];
	struct ups_ss_files a, b;
	static const char *const rel[] = {"focal", "jammy", "ubuntu"};
	static const char *const arch[] = {"amd64", "arm64"};
	size_t n = 0;

	(void)state;
	for (int v = 0; v < 4; v++)
		for (int r = 0; r < 3; r++)
			for (int k = 0; k < 2; k++) {
				char ver[16], path[64];

				snprintf(ver, sizeof(ver), "2.9.%d", v * 5);
				snprintf(path, sizeof(path), "t/%d%d%d", v, r,
				         k);
				pubs[n] = pub(v % 2 ? UPS_STREAM_DEVEL
				                    : UPS_STREAM_RELEASED,
				              1700000000 + v * 86400 + r, ver,
				              rel[r], arch[k], 100 + n, path,
				              v % 2 ? SHA_HELLO : SHA_OTHER);
				n++;
			}
	for (size_t i = 0; i < n; i++)
		shuffled[i] = pubs[(i * 7 + 3) % n];
	write_ok(pubs, n, &a);
	write_ok(shuffled, n, &b);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		assert_string_equal(a.file[i].name, b.file[i].name);
		assert_int_equal(a.file[i].len, b.file[i].len);
		assert_memory_equal(a.file[i].data, b.file[i].data,
		                    a.file[i].len);
	}
	ups_ss_files_free(&a);
	ups_ss_files_free(&b);
}

/* The reader reads back what the writer wrote: every stream the index
 * names leads to its products file, and its items are the ones written. */
static void test_write_read_round_trip(void **state)
{
	struct ups_ss_pub pubs[] = {
	    pub(UPS_STREAM_RELEASED, 1700000000, "2.9.1", "focal", "amd64",
	        1234, "tools/released/juju-2.9.1-focal-amd64.tgz", SHA_HELLO),
	    pub(UPS_STREAM_RELEASED, 1700000000, "2.9.1.3", "ubuntu", "s390x",
	        99, "tools/released/juju-2.9.1.3-ubuntu-s390x.tgz", SHA_OTHER),
	    pub(UPS_STREAM_RELEASED, 1750000000, "2.10.0", "jammy", "arm64", 7,
	        "tools/released/juju-2.10.0-jammy-arm64.tgz", SHA_HELLO),
	    pub(UPS_STREAM_TESTING, 1750000000, "3.0-rc2", "noble", "riscv64",
	        8, "tools/testing/juju-3.0-rc2-noble-riscv64.tgz", SHA_OTHER),
	};
	static const char *const streams[] = {"released", "testing"};
	static const size_t counts[] = {3, 1};
	struct ups_ss_files out;
	const struct ups_ss_file *idx = NULL, *prod;
	char path[UPS_SS_PATH_MAX + 1], err[512];

	(void)state;
	write_ok(pubs, 4, &out);
	idx = file(&out, "index2.json");
	for (size_t s = 0; s < 2; s++) {
		struct ups_ss_list l = {0};
		struct tl_warnings w = {0};

		assert_int_equal(
		    ups_ss_parse_index(idx->data, idx->len, streams[s], path,
		                       sizeof(path), err, sizeof(err)),
		    0);
		assert_true(strncmp(path, "streams/v1/", 11) == 0);
		prod = file(&out, path + 11);
		if (ups_ss_parse_products(prod->data, prod->len, streams[s], &l,
		                          tl_count_warn, &w, err,
		                          sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_int_equal(w.n, 0);
		assert_int_equal(l.n, counts[s]);
		for (size_t i = 0; i < l.n; i++) {
			const struct ups_ss_item *it = &l.items[i];
			const struct ups_ss_item *src = NULL;

			for (size_t j = 0; j < 4; j++)
				if (strcmp(pubs[j].item.binary_version,
				           it->binary_version) == 0)
					src = &pubs[j].item;
			assert_non_null(src);
			assert_string_equal(it->version, src->version);
			assert_string_equal(it->release, src->release);
			assert_string_equal(it->arch, src->arch);
			assert_int_equal(it->size, src->size);
			assert_string_equal(it->sha256, src->sha256);
			assert_string_equal(it->path, src->path);
		}
		ups_ss_list_free(&l);
	}
	assert_int_equal(ups_ss_parse_index(idx->data, idx->len, "devel", path,
	                                    sizeof(path), err, sizeof(err)),
	                 UPS_ERR_NOT_FOUND);
	ups_ss_files_free(&out);
}

static void test_write_refusals(void **state)
{
	struct ups_ss_pub ok = pub(UPS_STREAM_RELEASED, 0, "2.9.1", "focal",
	                           "amd64", 1, "a", SHA_HELLO);
	struct ups_ss_pub p[2];
	struct ups_ss_pub *many;
	struct ups_ss_files out;
	char err[512];

	(void)state;
	p[0] = ok;
	p[1] = ok;
	assert_int_equal(ups_ss_write(p, 2, &out, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "2.9.1-focal-amd64 is in released twice");
	assert_int_equal(out.n, 0);
	/* The same binary in two streams is two items. */
	p[1].stream = UPS_STREAM_PROPOSED;
	assert_int_equal(ups_ss_write(p, 2, &out, err, sizeof(err)), 0);
	ups_ss_files_free(&out);

	p[1] = pub(UPS_STREAM_RELEASED, 0, "2.9.1", "linux", "amd64", 1, "a",
	           SHA_HELLO);
	assert_int_equal(ups_ss_write(p, 2, &out, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "unknown release \"linux\"");
	p[1] = pub(UPS_STREAM_RELEASED, 0, "2.x", "focal", "amd64", 1, "a",
	           SHA_HELLO);
	assert_int_equal(ups_ss_write(p, 2, &out, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "does not parse");
	p[1] = ok;
	p[1].stored_at = -1;
	p[1].stream = UPS_STREAM_DEVEL;
	assert_int_equal(ups_ss_write(p, 2, &out, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "is not a date");
	p[1].stored_at = 0;
	p[1].stream = (enum ups_stream)UPS_STREAM__COUNT;
	assert_int_equal(ups_ss_write(p, 2, &out, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "unknown stream");

	/* More than the reader takes in one stream. */
	many = calloc(UPS_SS_MAX_ITEMS + 1, sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i <= UPS_SS_MAX_ITEMS; i++) {
		char ver[32];

		snprintf(ver, sizeof(ver), "2.%zu.0", i);
		many[i] = pub(UPS_STREAM_RELEASED, 0, ver, "focal", "amd64", 1,
		              "a", SHA_HELLO);
	}
	assert_int_equal(
	    ups_ss_write(many, UPS_SS_MAX_ITEMS + 1, &out, err, sizeof(err)),
	    UPS_ERR_TOO_LARGE);
	assert_int_equal(out.n, 0);
	assert_int_equal(
	    ups_ss_write(many, UPS_SS_MAX_ITEMS, &out, err, sizeof(err)), 0);
	ups_ss_files_free(&out);
	free(many);
}

static void test_format_updated(void **state)
{
	char buf[UPS_SS_UPDATED_LEN + 1];

	(void)state;
	assert_int_equal(ups_ss_format_updated(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 +0000");
	assert_int_equal(ups_ss_format_updated(1700000000, buf, sizeof(buf)),
	                 0);
	assert_string_equal(buf, "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_int_equal(strlen(buf), UPS_SS_UPDATED_LEN);
	assert_int_equal(ups_ss_format_updated(-1, buf, sizeof(buf)),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_ss_format_updated(INT64_MAX, buf, sizeof(buf)),
	                 UPS_ERR_BAD_REQUEST);
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
	    cmocka_unit_test(test_write_juju_reference_bytes),
	    cmocka_unit_test(test_write_key_sets_match_reference),
	    cmocka_unit_test(test_write_ids_dates_updated),
	    cmocka_unit_test(test_write_deterministic),
	    cmocka_unit_test(test_write_read_round_trip),
	    cmocka_unit_test(test_write_refusals),
	    cmocka_unit_test(test_format_updated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
