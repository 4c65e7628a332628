/* The publisher on a real loop with the store-fs plugin and SQLite:
 * the metadata files a commit and a delete leave on disk (before the
 * answer), the index of HTTP paths, the stream order of /tools/<bv>,
 * Juju's /model/<uuid>/tools/<bv>, identical bytes after a restart and in
 * another data directory holding the same binaries, a failing write that
 * answers an error and is retried, opening targets for downloads, and an
 * ABI 1.0 store that publishes nothing. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "agent/publish/publisher.h"
#include "proto/errors.h"
#include "proto/simplestreams.h"
#include "tests/lib/loop_wait.h"
#include "tests/lib/store_commit.h"
#include "tests/lib/tmpdir.h"

#define UUID "deadbeef-0123-4567-89ab-cdef01234567"

struct fx {
	char dir[TMPDIR_PATH_MAX];
	uv_loop_t loop;
	struct loop_wait wait;
	struct store store;
	struct publisher pub;
	const char *plugin;
	const char *fault;
	/* The last store operation's answer, and what was on disk then. */
	int calls;
	int rv;
	char err[UPS_ERRMSG_MAX];
	char *index2_at_answer;
	/* The last publisher_open_target() answer. */
	int opened_rv;
	bool opened_done;
	struct publish_opened opened;
};

/* The content of <dir>/rel (NULL when missing); freed by the caller. */
static char *slurp(const char *dir, const char *rel, size_t *len)
{
	char path[512];
	struct stat st;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	if (len)
		*len = (size_t)st.st_size;
	return buf;
}

/* What a client told "stored" or "removed" could fetch at that moment. */
static void at_answer(void *data)
{
	struct fx *f = data;

	free(f->index2_at_answer);
	f->index2_at_answer = slurp(f->dir, "streams/v1/index2.json", NULL);
}

static void on_done(void *data, int rv, const char *err,
                    const struct catalog_binary *b)
{
	struct fx *f = data;

	(void)b;
	f->calls++;
	f->rv = rv;
	snprintf(f->err, sizeof(f->err), "%s", rv ? err : "");
	at_answer(f);
}

static void fx_open(struct fx *f)
{
	struct store_config cfg = {0};
	char err[UPS_ERRMSG_MAX];

	cfg.data_dir = f->dir;
	cfg.plugin = f->plugin;
	cfg.fault = f->fault;
	if (store_open(&f->store, &f->loop, &cfg, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	if (publisher_init(&f->pub, &f->loop, &f->store, err, sizeof(err)))
		fail_msg("publisher_init: %s", err);
}

static void fx_close(struct fx *f)
{
	publisher_stop(&f->pub);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	publisher_close(&f->pub);
	store_close(&f->store);
}

static int setup_with(void **state, const char *plugin)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-publish"),
	                 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(loop_wait_init(&f->wait, &f->loop, 20000), 0);
	f->plugin = plugin;
	fx_open(f);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, STORE_FS_PLUGIN);
}

static int setup_abi10(void **state)
{
	return setup_with(state, STORE_FS_ABI10_PLUGIN);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fx_close(f);
	loop_wait_close(&f->wait);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f->index2_at_answer);
	free(f);
	return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static int commit(struct fx *f, const char *stream, const char *bv,
                  const char *content, int64_t at, bool force)
{
	struct store_commit_opts opts = {force, at_answer, f};
	struct store_commit_result res;
	int rv;

	rv = store_commit_content(&f->store, &f->wait, stream, bv, content, at,
	                          &opts, &res);
	snprintf(f->err, sizeof(f->err), "%s", res.err);
	return rv;
}

static int remove_bin(struct fx *f, const char *stream, const char *bv)
{
	int before = f->calls;

	assert_int_equal(store_delete(&f->store, stream, bv, on_done, f), 0);
	LOOP_WAIT(&f->wait, f->calls > before);
	return f->rv;
}

static bool exists(struct fx *f, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	return access(path, F_OK) == 0;
}

/* The items of stream's products file on disk, read by the reader. */
static size_t items_on_disk(struct fx *f, const char *stream,
                            struct ups_ss_list *l)
{
	char path[UPS_SS_PATH_MAX + 1], err[512];
	char *index2, *products;
	size_t len2, len;
	int rv;

	memset(l, 0, sizeof(*l));
	index2 = slurp(f->dir, "streams/v1/index2.json", &len2);
	assert_non_null(index2);
	rv = ups_ss_parse_index(index2, len2, stream, path, sizeof(path), err,
	                        sizeof(err));
	free(index2);
	if (rv == UPS_ERR_NOT_FOUND)
		return 0;
	assert_int_equal(rv, 0);
	products = slurp(f->dir, path, &len);
	assert_non_null(products);
	if (ups_ss_parse_products(products, len, stream, l, NULL, NULL, err,
	                          sizeof(err)))
		fail_msg("%s: %s", path, err);
	free(products);
	return l->n;
}

static int lookup(struct fx *f, const char *path, struct publish_target *t)
{
	return publisher_lookup(&f->pub, path, t);
}

/* ------------------------------------------------------------------------- */

/* Start-up publishes an empty index; a commit's answer comes after the
 * metadata naming it is on disk; the index serves it by every path. */
static void test_commit_publishes_before_answer(void **state)
{
	struct fx *f = *state;
	struct publish_target t;
	struct ups_ss_list l;
	char *empty;

	empty = slurp(f->dir, "streams/v1/index2.json", NULL);
	assert_non_null(empty);
	assert_non_null(strstr(empty, "\"index\": {}"));
	free(empty);
	assert_false(exists(f, "streams/v1/index.json"));
	assert_int_equal(lookup(f, "/streams/v1/index2.json", &t), 0);
	assert_int_equal(t.kind, PUBLISH_META);

	assert_int_equal(commit(f, "released", "2.9.1-focal-amd64", "agent a",
	                        1700000000, false),
	                 0);
	/* On disk when the answer came. */
	assert_non_null(f->index2_at_answer);
	assert_non_null(
	    strstr(f->index2_at_answer, "com.ubuntu.juju:20.04:amd64"));
	assert_int_equal(items_on_disk(f, "released", &l), 1);
	assert_string_equal(l.items[0].binary_version, "2.9.1-focal-amd64");
	assert_string_equal(l.items[0].path,
	                    "tools/released/juju-2.9.1-focal-amd64.tgz");
	assert_int_equal(l.items[0].size, 7);
	ups_ss_list_free(&l);
	assert_true(exists(f, "streams/v1/index.json"));
	assert_true(exists(f, "streams/v1/com.ubuntu.juju-released-agents."
	                      "json"));

	assert_int_equal(
	    lookup(f, "/tools/released/juju-2.9.1-focal-amd64.tgz", &t), 0);
	assert_int_equal(t.kind, PUBLISH_BINARY);
	assert_string_equal(t.stream, "released");
	assert_int_equal(t.size, 7);
	assert_int_equal(lookup(f, "/tools/2.9.1-focal-amd64", &t), 0);
	assert_string_equal(t.binary_version, "2.9.1-focal-amd64");
	assert_int_equal(
	    lookup(f, "/model/" UUID "/tools/2.9.1-focal-amd64", &t), 0);
	assert_int_equal(lookup(f, "/streams/v1/index.json", &t), 0);
	assert_string_equal(t.name, "index.json");
	assert_int_equal(
	    lookup(f, "/streams/v1/com.ubuntu.juju-released-agents.json", &t),
	    0);
}

/* Only what the index holds; anything near it is not found. */
static void test_lookup_misses(void **state)
{
	struct fx *f = *state;
	struct publish_target t;
	static const char *const misses[] = {
	    "/",
	    "",
	    "/tools/",
	    "/tools/2.9.1-focal-amd64/",
	    "/tools/2.9.1-focal-amd64.tgz",
	    "/tools/released/juju-2.9.1-focal-amd64.tgz/",
	    "/tools/released/../released/juju-2.9.1-focal-amd64.tgz",
	    "/tools/released//juju-2.9.1-focal-amd64.tgz",
	    "/tools/proposed/juju-2.9.1-focal-amd64.tgz",
	    "/tools/released/juju-2.9.1-focal-amd64.tgz",
	    "tools/2.9.1-focal-amd64",
	    "/TOOLS/2.9.1-focal-amd64",
	    "/streams/v1/",
	    "/streams/v1/index3.json",
	    "/streams/v1/index.json",
	    "/model/" UUID "/tools/",
	    "/model/" UUID "/2.9.1-focal-amd64",
	    "/model/not-a-uuid/tools/2.9.1-focal-amd64",
	    "/model/deadbeef-0123-4567-89ab-cdef0123456/tools/"
	    "2.9.1-focal-amd64",
	    "/model/deadbeef_0123-4567-89ab-cdef01234567/tools/"
	    "2.9.1-focal-amd64",
	    "/model/" UUID "/tools/released/juju-2.9.1-focal-amd64.tgz",
	    "/model//tools/2.9.1-focal-amd64",
	};

	assert_int_equal(
	    commit(f, "released", "2.9.1-focal-amd64", "a", 1, false), 0);
	assert_int_equal(remove_bin(f, "released", "2.9.1-focal-amd64"), 0);
	assert_int_equal(commit(f, "devel", "2.9.1-focal-amd64", "a", 1, false),
	                 0);
	for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
		if (lookup(f, misses[i], &t) != UPS_ERR_NOT_FOUND)
			fail_msg("found \"%s\"", misses[i]);
}

/* A binary version in several streams: /tools/<bv> is the first of
 * released, proposed, devel, testing that holds it. */
static void test_tools_stream_order(void **state)
{
	struct fx *f = *state;
	struct publish_target t;
	const char *bv = "3.1.0-ubuntu-arm64";

	assert_int_equal(commit(f, "testing", bv, "t", 10, false), 0);
	assert_int_equal(lookup(f, "/tools/3.1.0-ubuntu-arm64", &t), 0);
	assert_string_equal(t.stream, "testing");
	assert_int_equal(commit(f, "devel", bv, "dd", 11, false), 0);
	assert_int_equal(lookup(f, "/tools/3.1.0-ubuntu-arm64", &t), 0);
	assert_string_equal(t.stream, "devel");
	assert_int_equal(commit(f, "proposed", bv, "ppp", 12, false), 0);
	assert_int_equal(lookup(f, "/tools/3.1.0-ubuntu-arm64", &t), 0);
	assert_string_equal(t.stream, "proposed");
	assert_int_equal(t.size, 3);
	assert_int_equal(commit(f, "released", bv, "rrrr", 13, false), 0);
	assert_int_equal(lookup(f, "/tools/3.1.0-ubuntu-arm64", &t), 0);
	assert_string_equal(t.stream, "released");
	assert_int_equal(remove_bin(f, "released", bv), 0);
	assert_int_equal(lookup(f, "/tools/3.1.0-ubuntu-arm64", &t), 0);
	assert_string_equal(t.stream, "proposed");
	/* Each stream's own path is its own binary. */
	assert_int_equal(
	    lookup(f, "/tools/devel/juju-3.1.0-ubuntu-arm64.tgz", &t), 0);
	assert_int_equal(t.size, 2);
}

/* A delete answers after the metadata lost the binary; a stream left
 * empty loses its products file (and released its legacy index). */
static void test_delete(void **state)
{
	struct fx *f = *state;
	struct publish_target t;
	struct ups_ss_list l;

	assert_int_equal(
	    commit(f, "released", "2.9.1-ubuntu-amd64", "x", 100, false), 0);
	assert_int_equal(
	    commit(f, "released", "2.9.2-ubuntu-amd64", "y", 200, false), 0);
	assert_int_equal(
	    commit(f, "devel", "3.0-beta1-ubuntu-amd64", "z", 300, false), 0);
	assert_int_equal(items_on_disk(f, "released", &l), 2);
	ups_ss_list_free(&l);
	assert_int_equal(remove_bin(f, "released", "2.9.1-ubuntu-amd64"), 0);
	assert_non_null(strstr(f->index2_at_answer, "released"));
	assert_int_equal(items_on_disk(f, "released", &l), 1);
	assert_string_equal(l.items[0].binary_version, "2.9.2-ubuntu-amd64");
	ups_ss_list_free(&l);
	assert_int_equal(lookup(f, "/tools/2.9.1-ubuntu-amd64", &t),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(remove_bin(f, "released", "2.9.2-ubuntu-amd64"), 0);
	/* Nothing released any more. */
	assert_null(strstr(f->index2_at_answer, "released"));
	assert_false(exists(f, "streams/v1/index.json"));
	assert_false(
	    exists(f, "streams/v1/com.ubuntu.juju-released-agents.json"));
	assert_int_equal(lookup(f, "/streams/v1/index.json", &t),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(items_on_disk(f, "devel", &l), 1);
	ups_ss_list_free(&l);
	/* Refused operations change nothing. */
	assert_int_equal(remove_bin(f, "released", "2.9.2-ubuntu-amd64"),
	                 UPS_ERR_NOT_FOUND);
}

static void file_ids(struct fx *f, const char *rel, ino_t *ino,
                     struct timespec *mtime)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	assert_int_equal(stat(path, &st), 0);
	*ino = st.st_ino;
	*mtime = st.st_mtim;
}

static const char *const published[] = {
    "streams/v1/index2.json",
    "streams/v1/index.json",
    "streams/v1/com.ubuntu.juju-released-agents.json",
    "streams/v1/com.ubuntu.juju-proposed-agents.json",
};

/* Three binaries in two streams, committed in order or backwards. */
static void commit_sample(struct fx *f, bool backwards)
{
	static const struct {
		const char *stream, *bv, *content;
		int64_t at;
	} sample[] = {
	    {"released", "2.9.1-focal-amd64", "one", 1700000000},
	    {"released", "2.9.1-jammy-arm64", "two", 1700100000},
	    {"proposed", "3.0-rc1-ubuntu-s390x", "three", 1700200000},
	};

	for (size_t i = 0; i < 3; i++) {
		size_t k = backwards ? 2 - i : i;

		assert_int_equal(commit(f, sample[k].stream, sample[k].bv,
		                        sample[k].content, sample[k].at, false),
		                 0);
	}
}

/* A restart publishes the same bytes and does not even rewrite them;
 * another data directory holding the same binaries publishes the same
 * bytes. */
static void test_restart_and_second_dir(void **state)
{
	struct fx *f = *state;
	struct fx *g;
	char *before[4];
	ino_t ino[4];
	struct timespec mt[4];

	commit_sample(f, false);
	for (size_t i = 0; i < 4; i++) {
		before[i] = slurp(f->dir, published[i], NULL);
		assert_non_null(before[i]);
		file_ids(f, published[i], &ino[i], &mt[i]);
	}
	fx_close(f);
	fx_open(f);
	for (size_t i = 0; i < 4; i++) {
		char *after = slurp(f->dir, published[i], NULL);
		ino_t ino2;
		struct timespec mt2;

		assert_non_null(after);
		assert_string_equal(after, before[i]);
		file_ids(f, published[i], &ino2, &mt2);
		assert_int_equal(ino2, ino[i]);
		assert_int_equal(mt2.tv_sec, mt[i].tv_sec);
		assert_int_equal(mt2.tv_nsec, mt[i].tv_nsec);
		free(after);
	}

	/* A second store, committed in another order. */
	assert_int_equal(setup(state), 0);
	g = *state;
	commit_sample(g, true);
	for (size_t i = 0; i < 4; i++) {
		char *other = slurp(g->dir, published[i], NULL);

		assert_non_null(other);
		assert_string_equal(other, before[i]);
		free(other);
		free(before[i]);
	}
	teardown(state);
	*state = f;
}

/* Files someone changed, or left from an earlier run, are put right at
 * start-up. */
static void test_start_repairs(void **state)
{
	struct fx *f = *state;
	char path[512], *want;
	FILE *fp;

	commit_sample(f, false);
	want = slurp(f->dir, "streams/v1/index2.json", NULL);
	fx_close(f);
	snprintf(path, sizeof(path), "%s/streams/v1/index2.json", f->dir);
	fp = fopen(path, "w");
	fputs("{\"garbage\": true}\n", fp);
	fclose(fp);
	snprintf(path, sizeof(path),
	         "%s/streams/v1/com.ubuntu.juju-devel-agents.json", f->dir);
	fp = fopen(path, "w");
	fputs("{}\n", fp);
	fclose(fp);
	fx_open(f);
	{
		char *got = slurp(f->dir, "streams/v1/index2.json", NULL);

		assert_string_equal(got, want);
		free(got);
	}
	free(want);
	assert_false(exists(f, "streams/v1/com.ubuntu.juju-devel-agents.json"));
}

/* A write that fails: the binary is stored, the answer says the metadata
 * is behind, the old index keeps serving; the retry puts it right. */
static void test_write_failure_retried(void **state)
{
	struct fx *f = *state;
	struct publish_target t;
	struct ups_ss_list l;

	/* A fresh store whose fifth rename fails, once: the start renames
	 * index2.json in, the first commit three files (products,
	 * index.json, index2.json), the second commit's first rename
	 * fails. */
	fx_close(f);
	f->fault = "rename=EIO@4/1";
	assert_int_equal(tmpdir_remove(f->dir), 0);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-publish"),
	                 0);
	fx_open(f);
	assert_int_equal(
	    commit(f, "released", "2.9.1-ubuntu-amd64", "a", 1, false), 0);
	assert_int_equal(
	    commit(f, "released", "2.9.2-ubuntu-amd64", "b", 2, false),
	    UPS_ERR_IO);
	assert_non_null(strstr(f->err, "2.9.2-ubuntu-amd64 (released) is "
	                               "stored, but publishing its metadata "
	                               "failed"));
	/* Stored all the same; not yet served. */
	{
		struct catalog_binary b;
		char err[UPS_ERRMSG_MAX];

		assert_int_equal(store_lookup(&f->store, "released",
		                              "2.9.2-ubuntu-amd64", &b, err,
		                              sizeof(err)),
		                 0);
	}
	assert_int_equal(lookup(f, "/tools/2.9.2-ubuntu-amd64", &t),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(lookup(f, "/tools/2.9.1-ubuntu-amd64", &t), 0);
	/* The retry, on its timer. */
	LOOP_WAIT(&f->wait, f->pub.retries > 0 && !f->pub.dirty);
	assert_int_equal(lookup(f, "/tools/2.9.2-ubuntu-amd64", &t), 0);
	assert_int_equal(items_on_disk(f, "released", &l), 2);
	ups_ss_list_free(&l);
}

static void on_opened(void *data, int rv, const char *err,
                      const struct publish_opened *o)
{
	struct fx *f = data;

	(void)err;
	f->opened_done = true;
	f->opened_rv = rv;
	if (!rv)
		f->opened = *o;
}

static int open_target(struct fx *f, const struct publish_target *t)
{
	f->opened_done = false;
	assert_int_equal(publisher_open_target(&f->pub, t, on_opened, f), 0);
	assert_false(f->opened_done); /* never before the call returned */
	LOOP_WAIT(&f->wait, f->opened_done);
	return f->opened_rv;
}

/* What a download opens: a binary's own bytes with its sha256 as ETag,
 * even once the name holds other bytes; a metadata file with the hash of
 * exactly what the fd reads. */
static void test_open_target(void **state)
{
	struct fx *f = *state;
	struct publish_target t, old;
	char buf[64], sha[65];
	char *index2;
	size_t len;
	ssize_t n;

	assert_int_equal(
	    commit(f, "released", "2.9.1-ubuntu-amd64", "old bytes", 1, false),
	    0);
	assert_int_equal(lookup(f, "/tools/2.9.1-ubuntu-amd64", &old), 0);
	assert_int_equal(open_target(f, &old), 0);
	assert_int_equal(f->opened.kind, PUBLISH_BINARY);
	assert_int_equal(f->opened.size, 9);
	sha256_hex("old bytes", 9, sha);
	assert_string_equal(f->opened.etag, sha);
	n = pread(f->opened.fd, buf, sizeof(buf), 0);
	assert_int_equal(n, 9);
	close(f->opened.fd);

	assert_int_equal(
	    commit(f, "released", "2.9.1-ubuntu-amd64", "new!", 2, true), 0);
	/* The old target now holds other bytes: nothing, not those. */
	assert_int_equal(open_target(f, &old), UPS_ERR_NOT_FOUND);
	assert_int_equal(lookup(f, "/tools/2.9.1-ubuntu-amd64", &t), 0);
	assert_int_equal(open_target(f, &t), 0);
	assert_int_equal(f->opened.size, 4);
	close(f->opened.fd);

	assert_int_equal(lookup(f, "/streams/v1/index2.json", &t), 0);
	assert_int_equal(open_target(f, &t), 0);
	index2 = slurp(f->dir, "streams/v1/index2.json", &len);
	assert_int_equal(f->opened.size, len);
	sha256_hex(index2, len, sha);
	assert_string_equal(f->opened.etag, sha);
	assert_int_equal(f->opened.kind, PUBLISH_META);
	close(f->opened.fd);
	free(index2);

	assert_int_equal(remove_bin(f, "released", "2.9.1-ubuntu-amd64"), 0);
	assert_int_equal(open_target(f, &t), 0); /* index2.json stays */
	close(f->opened.fd);
	assert_int_equal(lookup(f, "/tools/2.9.1-ubuntu-amd64", &old),
	                 UPS_ERR_NOT_FOUND);
}

/* An ABI 1.0 store: commits work, nothing is published or served. */
static void test_abi10_disabled(void **state)
{
	struct fx *f = *state;
	struct publish_target t;

	assert_false(f->pub.enabled);
	assert_int_equal(
	    commit(f, "released", "2.9.1-ubuntu-amd64", "a", 1, false), 0);
	assert_false(exists(f, "streams/v1/index2.json"));
	assert_int_equal(lookup(f, "/streams/v1/index2.json", &t),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(lookup(f, "/tools/2.9.1-ubuntu-amd64", &t),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(publisher_generation(&f->pub), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_commit_publishes_before_answer),
	    T(test_lookup_misses),
	    T(test_tools_stream_order),
	    T(test_delete),
	    T(test_restart_and_second_dir),
	    T(test_start_repairs),
	    T(test_write_failure_retried),
	    T(test_open_target),
	    cmocka_unit_test_setup_teardown(test_abi10_disabled, setup_abi10,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
