/* sync-agent-binary's offline parts: scanning a tarball directory and a
 * simplestreams tree built in a temporary directory (including refused
 * files, path traversal and malformed JSON), the --agent-version filter,
 * `juju version` parsing, progress formatting, and the command's usage
 * errors and --dry-run, which need no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contrib/cli/progress.h"
#include "contrib/cli/source.h"
#include "contrib/cli/uploader.h"
#include "proto/errors.h"
#include "proto/simplestreams.h"
#include "tests/lib/tmpdir.h"
#include "tests/unit/cli/harness.h"
#include "tests/lib/checks.h"

/* SHA-256 of "hello" and of "HELLO". */
#define SHA_HELLO                                                              \
	"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define SHA_OTHER                                                              \
	"3733cd977ff8eb18b987357e22ced99f46097f31ecb239e878ae63760e83e4d5"

static char tmp[TMPDIR_PATH_MAX];

static int setup(void **state)
{
	(void)state;
	return tmpdir_make(tmp, sizeof(tmp), "test_cli_sync");
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(tmp);
}

static void write_file(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_dir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

/* The last occurrence of needle in hay, or NULL. */
static const char *strrstr_last(const char *hay, const char *needle)
{
	const char *last = NULL, *p = hay;

	while ((p = strstr(p, needle)) != NULL)
		last = p++;
	return last;
}

static void test_tarball_dir(void **state)
{
	struct tl_warnings w = {0};
	struct ups_ss_list l = {0};
	enum source_kind kind;
	char err[512];

	(void)state;
	write_file("juju-2.9.2-ubuntu-amd64.tgz", "hello");
	write_file("juju-2.9.1-focal-arm64.tgz", "hello");
	write_file("juju-2.9.1-focal-amd64.tgz", "hello");
	write_file("juju-2.10.0-ubuntu-amd64.tgz", "hello");
	write_file("juju-2.09.1-focal-amd64.tgz", "HELLO"); /* dup */
	write_file("juju-garbage.tgz", "x");
	write_file("juju-2.9.1-ubuntu-sparc.tgz", "x");
	write_file("README", "not an agent");
	write_file("juju-2.9.1-ubuntu-amd64.tar.gz", "ignored");
	assert_int_equal(source_scan(tmp, "released", &l, &kind, tl_count_warn,
	                             &w, err, sizeof(err)),
	                 0);
	assert_int_equal(kind, SOURCE_TARBALLS);
	assert_int_equal(l.n, 4);
	/* Version order, then release, then arch. */
	assert_string_equal(l.items[0].binary_version, "2.9.1-focal-amd64");
	assert_string_equal(l.items[1].binary_version, "2.9.1-focal-arm64");
	assert_string_equal(l.items[2].binary_version, "2.9.2-ubuntu-amd64");
	assert_string_equal(l.items[3].binary_version, "2.10.0-ubuntu-amd64");
	assert_int_equal(w.n, 3); /* garbage, sparc, the duplicate */
	assert_int_equal(l.items[0].size, 5);
	assert_string_equal(l.items[0].sha256, "");
	assert_int_equal(
	    source_verify(tmp, kind, &l.items[2], err, sizeof(err)), 0);
	assert_string_equal(l.items[2].sha256, SHA_HELLO);
	ups_ss_list_free(&l);
}

static void test_missing_dir(void **state)
{
	struct ups_ss_list l = {0};
	enum source_kind kind;
	char err[512], path[300];

	(void)state;
	snprintf(path, sizeof(path), "%s/nope", tmp);
	assert_int_equal(source_scan(path, "released", &l, &kind, NULL, NULL,
	                             err, sizeof(err)),
	                 UPS_ERR_NOT_FOUND);
	tl_assert_contains(err, "nope");
}

static const char index2[] =
    "{\"format\":\"index:1.0\",\"updated\":\"x\",\"index\":{"
    "\"com.ubuntu.juju:devel:agents\":{\"path\":\"streams/v1/devel.json\","
    "\"format\":\"products:1.0\"},"
    "\"com.ubuntu.juju:released:agents\":{\"path\":"
    "\"streams/v1/com.ubuntu.juju-released-agents.json\",\"format\":"
    "\"products:1.0\",\"products\":[\"com.ubuntu.juju:ubuntu:amd64\"]}}}";

/* Two versions of two arches; the files say linux, the metadata ubuntu. */
static const char products[] =
    "{\"content_id\":\"com.ubuntu.juju:released:agents\",\"format\":"
    "\"products:1.0\",\"products\":{"
    "\"com.ubuntu.juju:ubuntu:amd64\":{\"arch\":\"amd64\",\"versions\":{"
    "\"20240101\":{\"items\":{"
    "\"2.9.1-ubuntu-amd64\":{\"release\":\"ubuntu\",\"version\":\"2.9.1\","
    "\"size\":5,\"path\":\"agent/juju-2.9.1-linux-amd64.tgz\",\"sha256\":"
    "\"" SHA_HELLO "\"},"
    "\"2.9.2-ubuntu-amd64\":{\"release\":\"ubuntu\",\"version\":\"2.9.2\","
    "\"size\":5,\"path\":\"agent/juju-2.9.2-linux-amd64.tgz\",\"sha256\":"
    "\"" SHA_HELLO "\"}}}}},"
    "\"com.ubuntu.juju:ubuntu:arm64\":{\"versions\":{"
    "\"20240101\":{\"items\":{"
    "\"2.9.1-ubuntu-arm64\":{\"release\":\"ubuntu\",\"version\":\"2.9.1\","
    "\"arch\":\"arm64\",\"size\":5,\"path\":"
    "\"agent/juju-2.9.1-linux-arm64.tgz\",\"sha256\":\"" SHA_OTHER "\"},"
    "\"evil\":{\"release\":\"ubuntu\",\"version\":\"2.9.3\","
    "\"arch\":\"arm64\",\"size\":5,\"path\":\"../../etc/passwd\","
    "\"sha256\":\"" SHA_HELLO "\"}}}}}}}";

static void make_tree(const char *index_name, const char *index_text,
                      const char *products_text)
{
	char rel[128];

	make_dir("streams");
	make_dir("streams/v1");
	make_dir("agent");
	snprintf(rel, sizeof(rel), "streams/v1/%s", index_name);
	write_file(rel, index_text);
	write_file("streams/v1/com.ubuntu.juju-released-agents.json",
	           products_text);
	write_file("agent/juju-2.9.1-linux-amd64.tgz", "hello");
	write_file("agent/juju-2.9.2-linux-amd64.tgz", "hello");
	/* Same size as the metadata says, different content. */
	write_file("agent/juju-2.9.1-linux-arm64.tgz", "hellO");
}

static void test_simplestreams_tree(void **state)
{
	struct tl_warnings w = {0};
	struct ups_ss_list l = {0};
	enum source_kind kind;
	char err[512];

	(void)state;
	make_tree("index2.json", index2, products);
	assert_int_equal(source_scan(tmp, "released", &l, &kind, tl_count_warn,
	                             &w, err, sizeof(err)),
	                 0);
	assert_int_equal(kind, SOURCE_SIMPLESTREAMS);
	assert_int_equal(l.n, 3);
	assert_int_equal(w.n, 1); /* the traversal item */
	tl_assert_contains(w.last, "unsafe path");
	assert_string_equal(l.items[0].binary_version, "2.9.1-ubuntu-amd64");
	assert_string_equal(l.items[0].path,
	                    "agent/juju-2.9.1-linux-amd64.tgz");
	assert_string_equal(l.items[1].binary_version, "2.9.1-ubuntu-arm64");
	assert_string_equal(l.items[2].binary_version, "2.9.2-ubuntu-amd64");
	/* Matching files pass; the modified one is refused by name. */
	assert_int_equal(
	    source_verify(tmp, kind, &l.items[0], err, sizeof(err)), 0);
	assert_int_equal(
	    source_verify(tmp, kind, &l.items[1], err, sizeof(err)),
	    UPS_ERR_CHECKSUM_MISMATCH);
	tl_assert_contains(err, "juju-2.9.1-linux-arm64.tgz");
	/* A size mismatch is found without hashing. */
	write_file("agent/juju-2.9.2-linux-amd64.tgz", "hello!");
	assert_int_equal(
	    source_verify(tmp, kind, &l.items[2], err, sizeof(err)),
	    UPS_ERR_SIZE_MISMATCH);
	tl_assert_contains(err, "juju-2.9.2-linux-amd64.tgz");
	ups_ss_list_free(&l);

	/* A stream the index does not list. */
	assert_int_equal(source_scan(tmp, "proposed", &l, &kind, NULL, NULL,
	                             err, sizeof(err)),
	                 UPS_ERR_NOT_FOUND);
	tl_assert_contains(err, "proposed");
}

static void test_legacy_index(void **state)
{
	struct ups_ss_list l = {0};
	enum source_kind kind;
	char err[512];

	(void)state;
	make_tree("index.json", index2, products);
	assert_int_equal(source_scan(tmp, "released", &l, &kind, NULL, NULL,
	                             err, sizeof(err)),
	                 0);
	assert_int_equal(kind, SOURCE_SIMPLESTREAMS);
	assert_int_equal(l.n, 3);
	ups_ss_list_free(&l);
}

/* A malformed products file found through the directory scan is refused
 * naming the file (the parser's own cases are in
 * tests/unit/proto/test_simplestreams.c). */
static void test_malformed_json(void **state)
{
	struct ups_ss_list l = {0};
	enum source_kind kind;
	char err[512];

	(void)state;
	make_tree("index2.json", index2, "{\"products\": {");
	assert_int_equal(source_scan(tmp, "released", &l, &kind, NULL, NULL,
	                             err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "com.ubuntu.juju-released-agents.json");
}

static void test_filter(void **state)
{
	struct source_filter f;
	struct ups_version v;
	char err[512];

	(void)state;
	assert_int_equal(source_filter_parse("2", &f, err, sizeof(err)), 0);
	assert_int_equal(f.kind, SOURCE_FILTER_MAJOR);
	ups_version_parse("2.8.7.1", &v, err, sizeof(err));
	assert_true(source_filter_match(&f, &v));
	ups_version_parse("3.0.0", &v, err, sizeof(err));
	assert_false(source_filter_match(&f, &v));

	assert_int_equal(source_filter_parse("2.9", &f, err, sizeof(err)), 0);
	assert_int_equal(f.kind, SOURCE_FILTER_MINOR);
	ups_version_parse("2.9.1.3", &v, err, sizeof(err));
	assert_true(source_filter_match(&f, &v));
	ups_version_parse("2.9.0", &v, err, sizeof(err));
	assert_true(source_filter_match(&f, &v));
	ups_version_parse("2.10.0", &v, err, sizeof(err));
	assert_false(source_filter_match(&f, &v));

	assert_int_equal(source_filter_parse("2.9.1.3", &f, err, sizeof(err)),
	                 0);
	assert_int_equal(f.kind, SOURCE_FILTER_EXACT);
	ups_version_parse("2.9.1.3", &v, err, sizeof(err));
	assert_true(source_filter_match(&f, &v));
	ups_version_parse("2.9.1.4", &v, err, sizeof(err));
	assert_false(source_filter_match(&f, &v));
	ups_version_parse("2.9.1", &v, err, sizeof(err));
	assert_false(source_filter_match(&f, &v));

	assert_int_equal(
	    source_filter_parse("2.9-beta1.1", &f, err, sizeof(err)), 0);
	assert_int_equal(f.kind, SOURCE_FILTER_EXACT);

	assert_int_equal(source_filter_parse("2.9.1", &f, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "use 2.9 or 2.9.1.1, not 2.9.1");
	assert_int_equal(source_filter_parse("2.03.1", &f, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "use 2.03 or 2.03.1.1, not 2.03.1");
	assert_int_equal(source_filter_parse("2.9-beta1", &f, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "2.9-beta1.1");
	static const char *const bad[] = {"",   "garbage", "2.",
	                                  ".9", "2..9",    "2.9.1.3.4",
	                                  "-1", "2.9.x",   "99999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (source_filter_parse(bad[i], &f, err, sizeof(err)) !=
		    UPS_ERR_BAD_REQUEST)
			fail_msg("accepted \"%s\"", bad[i]);
		tl_assert_contains(err, "major[.minor]");
	}
}

static void test_filter_apply(void **state)
{
	struct source_filter f;
	struct ups_version v, *vs;
	struct ups_ss_list l = {0};
	struct ups_ss_item it;
	char err[512];
	size_t n;
	static const char *const versions[] = {"2.8.9", "2.9.0", "2.9.1.1",
	                                       "2.9.1.1", "3.0.0"};

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		memset(&it, 0, sizeof(it));
		snprintf(it.version, sizeof(it.version), "%s", versions[i]);
		snprintf(it.binary_version, sizeof(it.binary_version),
		         "%s-ubuntu-%s", versions[i],
		         i == 3 ? "arm64" : "amd64");
		assert_int_equal(ups_ss_list_append(&l, &it), 0);
	}
	assert_int_equal(source_versions(&l, &vs, &n), 0);
	assert_int_equal(n, 4);
	free(vs);
	assert_int_equal(source_filter_parse("2.9", &f, err, sizeof(err)), 0);
	source_filter_apply(&l, &f);
	assert_int_equal(l.n, 3);
	ups_version_parse("2.9.1.1", &v, err, sizeof(err));
	source_keep_version(&l, &v);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[1].binary_version, "2.9.1.1-ubuntu-arm64");
	ups_ss_list_free(&l);
}

static void test_juju_version_output(void **state)
{
	struct ups_version v;
	char text[UPS_LIMIT_VERSION_LEN + 1];

	(void)state;
	assert_int_equal(source_parse_juju_version("2.9.1-ubuntu-amd64\n", &v),
	                 0);
	ups_version_format(&v, text, sizeof(text));
	assert_string_equal(text, "2.9.1");
	assert_int_equal(source_parse_juju_version("3.0-rc2-jammy-arm64", &v),
	                 0);
	ups_version_format(&v, text, sizeof(text));
	assert_string_equal(text, "3.0-rc2");
	assert_int_equal(source_parse_juju_version("  2.9.44.1\n", &v), 0);
	assert_int_not_equal(source_parse_juju_version("", &v), 0);
	assert_int_not_equal(source_parse_juju_version("juju: not found", &v),
	                     0);
}

static void test_progress_format(void **state)
{
	char buf[PROGRESS_LINE_LEN];

	(void)state;
	progress_format_bytes(512, buf, sizeof(buf));
	assert_string_equal(buf, "512 B");
	progress_format_bytes(1536, buf, sizeof(buf));
	assert_string_equal(buf, "1.5 KiB");
	progress_format_bytes(12 * 1024 * 1024 + 300 * 1024, buf, sizeof(buf));
	assert_string_equal(buf, "12.3 MiB");
	progress_format_bytes(2ull << 30, buf, sizeof(buf));
	assert_string_equal(buf, "2.00 GiB");

	progress_format_rate(100ull << 20, 2000000000ull, buf, sizeof(buf));
	assert_string_equal(buf, "50.0 MiB/s");
	progress_format_rate(1, 0, buf, sizeof(buf));
	assert_string_equal(buf, "-- MiB/s");

	progress_format_eta(45, 1.0, buf, sizeof(buf));
	assert_string_equal(buf, "45s");
	progress_format_eta(185, 1.0, buf, sizeof(buf));
	assert_string_equal(buf, "3m05s");
	progress_format_eta(7260, 1.0, buf, sizeof(buf));
	assert_string_equal(buf, "2h01m");
	progress_format_eta(100, 0, buf, sizeof(buf));
	assert_string_equal(buf, "--");
	progress_format_eta(1ull << 40, 1.0, buf, sizeof(buf));
	assert_string_equal(buf, "--");

	progress_format_bar(5, 10, 12, buf, sizeof(buf));
	assert_string_equal(buf, "[#####.....]");
	progress_format_bar(0, 10, 7, buf, sizeof(buf));
	assert_string_equal(buf, "[.....]");
	progress_format_bar(10, 10, 7, buf, sizeof(buf));
	assert_string_equal(buf, "[#####]");
	progress_format_bar(1, 0, 4, buf, sizeof(buf));
	assert_string_equal(buf, "[##]");

	progress_format_line("2.9.1-ubuntu-amd64", 32ull << 20, 64ull << 20,
	                     1000000000ull, buf, sizeof(buf));
	assert_string_equal(buf, "2.9.1-ubuntu-amd64 [##########..........] "
	                         "32.0 MiB/64.0 MiB 32.0 MiB/s ETA 1s");
}

static void test_plain_progress_lines(void **state)
{
	struct progress p;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	progress_init(&p, f, false, false, 4ull << 20, 0);
	progress_file_begin(&p, 0, "2.9.1-ubuntu-amd64", 4ull << 20, 0, 0);
	progress_file_update(&p, 0, 2ull << 20, 500000000ull);
	progress_file_update(&p, 0, 4ull << 20, 1000000000ull);
	progress_file_end(&p, 0, "done", 1000000000ull);
	progress_finish(&p, 1000000000ull);
	fclose(f);
	assert_string_equal(text, "uploading 2.9.1-ubuntu-amd64 ... done "
	                          "4.0 MiB/s\nsent 4.0 MiB in total, 4.0 "
	                          "MiB/s\n");
	free(text);
}

/* Several files at once on a terminal: a line each and the total, all
 * redrawn in place; a file that ends leaves its final line above. */
static void test_parallel_progress_lines(void **state)
{
	struct progress p;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const char *last;

	(void)state;
	progress_init(&p, f, true, false, 8ull << 20, 0);
	progress_file_begin(&p, 0, "2.9.1-ubuntu-amd64", 4ull << 20, 0, 0);
	progress_file_begin(&p, 1, "2.9.1-ubuntu-arm64", 4ull << 20,
	                    1ull << 20, 0);
	progress_file_update(&p, 0, 2ull << 20, 500000000ull);
	progress_file_update(&p, 1, 3ull << 20, 1000000000ull);
	assert_int_equal(p.total_done, 5ull << 20);
	assert_int_equal(p.drawn, 3);
	fflush(f);
	/* The last redraw: both files, then the total. */
	last = strrstr_last(text, "2.9.1-ubuntu-amd64 [");
	assert_non_null(last);
	assert_non_null(strstr(last, "2.9.1-ubuntu-arm64 ["));
	assert_non_null(strstr(last, "total ["));
	progress_file_end(&p, 0, "done", 1000000000ull);
	assert_int_equal(p.drawn, 2);
	progress_file_end(&p, 1, NULL, 1000000000ull);
	progress_finish(&p, 1000000000ull);
	fclose(f);
	assert_non_null(strstr(text, "uploading 2.9.1-ubuntu-amd64 ... done"));
	assert_null(strstr(text, "uploading 2.9.1-ubuntu-arm64 ... done"));
	/* Each redraw moves up over the lines it drew before. */
	assert_non_null(strstr(text, "\033[1A\r\033[K\033[1A\r\033[K"));
	free(text);
}

/* The UploadBegin answers the uploader accepts, and those it refuses as
 * a broken upstaged. */
static void test_parse_begun(void **state)
{
	static const char sha[] = "0123456789abcdef0123456789abcdef"
	                          "0123456789abcdef0123456789abcdef";
	struct uploader_begun b;
	char err[256];
	json_t *j;

	(void)state;
	j = json_pack("{s:s,s:i,s:i,s:i}", "status", "upload", "upload-id", 7,
	              "offset", 0, "window", 1024);
	assert_int_equal(uploader_parse_begun(j, 100, &b, err, sizeof(err)),
	                 0);
	assert_int_equal(b.kind, UPLOADER_BEGUN_UPLOAD);
	assert_int_equal(b.upload_id, 7);
	assert_string_equal(b.prefix_sha256, "");
	/* Resuming without the digest of the prefix: refused. */
	json_object_set_new(j, "offset", json_integer(50));
	assert_int_equal(uploader_parse_begun(j, 100, &b, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	json_object_set_new(j, "prefix-sha256", json_string(sha));
	assert_int_equal(uploader_parse_begun(j, 100, &b, err, sizeof(err)),
	                 0);
	assert_int_equal(b.offset, 50);
	assert_string_equal(b.prefix_sha256, sha);
	/* An offset past the file, a bad digest, no window. */
	assert_int_equal(uploader_parse_begun(j, 49, &b, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	json_object_set_new(j, "prefix-sha256", json_string("ABC"));
	assert_int_equal(uploader_parse_begun(j, 100, &b, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	json_object_set_new(j, "prefix-sha256", json_string(sha));
	json_object_set_new(j, "window", json_integer(0));
	assert_int_equal(uploader_parse_begun(j, 100, &b, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	json_decref(j);
	j = json_pack("{s:s,s:{s:i,s:s}}", "status", "stored", "binary",
	              "size", 100, "sha256", sha);
	assert_int_equal(uploader_parse_begun(j, 100, &b, err, sizeof(err)),
	                 0);
	assert_int_equal(b.kind, UPLOADER_BEGUN_STORED);
	assert_int_equal(b.stored_size, 100);
	assert_string_equal(b.stored_sha256, sha);
	json_decref(j);
	j = json_pack("{s:s,s:{s:i}}", "status", "exists", "binary", "size",
	              100);
	assert_int_equal(uploader_parse_begun(j, 100, &b, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	json_decref(j);
	j = json_pack("{s:s}", "status", "later");
	assert_int_equal(uploader_parse_begun(j, 100, &b, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	json_decref(j);
}

/* What an upstaged older or newer than this CLI answers UploadBegin,
 * word for word as their dispatchers write it, is told clearly. */
static void test_version_refused(void **state)
{
	char msg[512];

	(void)state;
	/* An upstaged of AgentBinaries version 1 (before the digest moved
	 * to the commit). */
	assert_true(uploader_version_refused(
	    UPS_ERR_NOT_IMPLEMENTED,
	    "AgentBinaries version 2 is not implemented (have 1)", msg,
	    sizeof(msg)));
	tl_assert_contains(msg, "upstaged serves AgentBinaries version 1");
	tl_assert_contains(msg, "needs version 2");
	tl_assert_contains(msg, "upgrade upstaged");
	/* A newer one. */
	assert_true(uploader_version_refused(
	    UPS_ERR_NOT_IMPLEMENTED,
	    "AgentBinaries version 2 is not implemented (have 3): this client "
	    "is older than upstaged, upgrade it",
	    msg, sizeof(msg)));
	tl_assert_contains(msg, "upgrade upstage ");
	/* Anything else is not about versions. */
	assert_false(uploader_version_refused(UPS_ERR_NOT_IMPLEMENTED,
	                                      "unknown request X.Y", msg,
	                                      sizeof(msg)));
	assert_false(uploader_version_refused(UPS_ERR_CONFLICT,
	                                      "AgentBinaries version 2 is", msg,
	                                      sizeof(msg)));
	assert_false(
	    uploader_version_refused(UPS_ERR_NOT_IMPLEMENTED, NULL, msg, 4));
}

/* The token of the file at path as it is now. */
static void token_of(const char *path, char out[SOURCE_TOKEN_LEN + 1])
{
	char err[256];
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(source_upload_token(path, &st, out,
	                                     SOURCE_TOKEN_LEN + 1, err,
	                                     sizeof(err)),
	                 0);
	assert_int_equal(strlen(out), SOURCE_TOKEN_LEN);
	assert_true(ups_upload_token_is_valid(out));
}

/* The upload token: the same file gives the same one every time, another
 * file or the same file rewritten another; it is a valid wire token. */
static void test_upload_token(void **state)
{
	char a[SOURCE_TOKEN_LEN + 1], b[SOURCE_TOKEN_LEN + 1];
	char c[SOURCE_TOKEN_LEN + 1], path[512], path2[512], err[256];
	struct timespec ts[2];
	struct stat st;

	(void)state;
	write_file("juju-2.9.1-ubuntu-amd64.tgz", "hello");
	write_file("juju-2.9.2-ubuntu-amd64.tgz", "hello");
	snprintf(path, sizeof(path), "%s/juju-2.9.1-ubuntu-amd64.tgz", tmp);
	snprintf(path2, sizeof(path2), "%s/juju-2.9.2-ubuntu-amd64.tgz", tmp);
	token_of(path, a);
	token_of(path, b);
	assert_string_equal(a, b);
	token_of(path2, c);
	assert_string_not_equal(a, c);
	/* Rewritten: another modification time, another token. */
	ts[0].tv_sec = ts[1].tv_sec = 1000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	token_of(path, b);
	assert_string_not_equal(a, b);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(source_upload_token(path, &st, c, 8, err, sizeof(err)),
	                 UPS_ERR_INTERNAL);
}

static void test_usage_errors(void **state)
{
	struct cli_env env = {0};
	struct run r;

	(void)state;
	unsetenv("JUJU_METADATA_SOURCE");
	r = run_cli_env(&env, (const char *const[]){"sync-agent-binary",
	                                            "--dry-run", NULL});
	assert_int_equal(r.exit, CLI_EXIT_USAGE);
	tl_assert_contains(r.err, "JUJU_METADATA_SOURCE");
	run_free(&r);

	/* One bad option each: the usage error names it. */
	static const struct {
		const char *opt, *value, *says;
	} bad[] = {
	    {"--agent-version", "2.9.1", "use 2.9 or 2.9.1.1, not 2.9.1"},
	    {"--stream", "nightly", "--stream"},
	    {"--retries", "-1", "--retries"},
	    {"--parallel", "0", "--parallel"},
	    {"--parallel", "9", "--parallel"},
	    {"--dry-run=yes", NULL, "dry-run"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = bad[i].value ? RUN("sync-agent-binary", "--source", tmp,
		                       bad[i].opt, bad[i].value)
		                 : RUN("sync-agent-binary", "--source", tmp,
		                       bad[i].opt);
		assert_int_equal(r.exit, CLI_EXIT_USAGE);
		tl_assert_contains(r.err, bad[i].says);
		run_free(&r);
	}

	/* No --client-version and (with an empty PATH) no juju client. */
	write_file("juju-2.9.1-ubuntu-amd64.tgz", "hello");
	setenv("PATH", "/nonexistent", 1);
	r = RUN("sync-agent-binary", "--source", tmp, "--dry-run");
	assert_int_equal(r.exit, CLI_EXIT_USAGE);
	tl_assert_contains(r.err, "--client-version");
	tl_assert_contains(r.err, "juju");
	run_free(&r);

	r = RUN("remove-agent-binary", "2.9.1-ubuntu");
	assert_int_equal(r.exit, CLI_EXIT_USAGE);
	run_free(&r);
	r = RUN("list-agent-binaries", "--stream", "x");
	assert_int_equal(r.exit, CLI_EXIT_USAGE);
	run_free(&r);
}

static void test_dry_run(void **state)
{
	struct cli_env env = {0};
	struct run r;

	(void)state;
	write_file("juju-2.9.1-ubuntu-amd64.tgz", "hello");
	write_file("juju-2.9.1-ubuntu-arm64.tgz", "hello");
	write_file("juju-2.8.0-ubuntu-arm64.tgz", "hello");
	/* From the environment, as Juju's own command does. */
	setenv("JUJU_METADATA_SOURCE", tmp, 1);
	r = run_cli_env(
	    &env, (const char *const[]){"sync-agent-binary", "--agent-version",
	                                "2.9", "--dry-run", "--json", NULL});
	unsetenv("JUJU_METADATA_SOURCE");
	assert_int_equal(r.exit, CLI_EXIT_OK);
	assert_string_equal(
	    r.out,
	    "{\"binary-version\":\"2.9.1-ubuntu-amd64\",\"stream\":"
	    "\"released\",\"size\":5,\"sha256\":\"" SHA_HELLO "\",\"status\":"
	    "\"would-upload\",\"sent-bytes\":0,\"resumed-from\":0}\n"
	    "{\"binary-version\":\"2.9.1-ubuntu-arm64\",\"stream\":"
	    "\"released\",\"size\":5,\"sha256\":\"" SHA_HELLO "\",\"status\":"
	    "\"would-upload\",\"sent-bytes\":0,\"resumed-from\":0}\n");
	run_free(&r);

	r = RUN("sync-agent-binary", "--source", tmp, "--agent-version", "7",
	        "--dry-run");
	assert_int_equal(r.exit, CLI_EXIT_FAILED);
	tl_assert_contains(r.err, "not-found");
	run_free(&r);
}

static void test_dry_run_refuses_mismatch(void **state)
{
	struct run r;

	(void)state;
	make_tree("index2.json", index2, products);
	r = RUN("sync-agent-binary", "--source", tmp, "--agent-version", "2",
	        "--dry-run");
	assert_int_equal(r.exit, CLI_EXIT_FAILED);
	tl_assert_contains(r.err, "checksum-mismatch");
	tl_assert_contains(r.err, "juju-2.9.1-linux-arm64.tgz");
	assert_string_equal(r.out, "");
	run_free(&r);
	/* Only the good version: fine. */
	r = RUN("sync-agent-binary", "--source", tmp, "--agent-version",
	        "2.9.2.0", "--dry-run");
	assert_int_equal(r.exit, CLI_EXIT_OK);
	tl_assert_contains(r.out, "would-upload 2.9.2-ubuntu-amd64");
	run_free(&r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_tarball_dir),
	    T(test_missing_dir),
	    T(test_simplestreams_tree),
	    T(test_legacy_index),
	    T(test_malformed_json),
	    cmocka_unit_test(test_filter),
	    cmocka_unit_test(test_filter_apply),
	    cmocka_unit_test(test_juju_version_output),
	    cmocka_unit_test(test_progress_format),
	    cmocka_unit_test(test_plain_progress_lines),
	    cmocka_unit_test(test_parallel_progress_lines),
	    cmocka_unit_test(test_parse_begun),
	    cmocka_unit_test(test_version_refused),
	    T(test_upload_token),
	    T(test_usage_errors),
	    T(test_dry_run),
	    T(test_dry_run_refuses_mismatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
