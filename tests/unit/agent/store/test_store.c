/* The store on a real loop with the store-fs plugin and SQLite: commit
 * of a staged file, list, delete, the callback contract, what
 * subscribers are told (on the worker before the answer, and on the
 * loop), and the metadata and held-content ops with their ABI 1.0
 * fallbacks. */
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
#include <pthread.h>

#include "agent/store/store.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

struct seen {
	int stored, removed;
	char last[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	int order; /* value of calls when the subscriber was last told */
};

struct fx {
	char dir[TMPDIR_PATH_MAX];
	uv_loop_t loop;
	struct store store;
	struct store_subscriber sub;
	struct seen seen;
	int calls; /* callbacks run */
	int rv;
	struct catalog_binary got;
	size_t listed;
	bool more;
	char listed_first[UPS_LIMIT_BINARY_VERSION_LEN + 1];
};

static void changed(void *data, enum store_change change,
                    const struct catalog_binary *b)
{
	struct fx *f = data;

	if (change == STORE_STORED)
		f->seen.stored++;
	else
		f->seen.removed++;
	snprintf(f->seen.last, sizeof(f->seen.last), "%s", b->binary_version);
	f->seen.order = f->calls;
}

static void on_done(void *data, int rv, const char *err,
                    const struct catalog_binary *b)
{
	struct fx *f = data;

	f->calls++;
	f->rv = rv;
	if (rv)
		assert_non_null(err);
	else
		f->got = *b;
}

static void on_list(void *data, int rv, const char *err,
                    const struct catalog_binary *list, size_t n, bool more)
{
	struct fx *f = data;

	(void)err;
	f->calls++;
	f->rv = rv;
	f->listed = n;
	f->more = more;
	f->listed_first[0] = '\0';
	if (n)
		snprintf(f->listed_first, sizeof(f->listed_first), "%s",
		         list[0].binary_version);
}

static const char *plugin_path = STORE_FS_PLUGIN;

static void fx_open(struct fx *f)
{
	struct store_config cfg = {0};
	char err[UPS_ERRMSG_MAX];

	cfg.data_dir = f->dir;
	cfg.plugin = plugin_path;
	if (store_open(&f->store, &f->loop, &cfg, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	f->sub.changed = changed;
	f->sub.data = f;
	store_subscribe(&f->store, &f->sub);
}

/* A stop and a start: what recovery does happens in fx_open. */
static void fx_reopen(struct fx *f)
{
	uv_run(&f->loop, UV_RUN_DEFAULT);
	store_close(&f->store);
	fx_open(f);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-store"), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	fx_open(f);
	*state = f;
	return 0;
}

static int setup_abi10(void **state)
{
	plugin_path = STORE_FS_ABI10_PLUGIN;
	return setup(state);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	plugin_path = STORE_FS_PLUGIN;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	store_close(&f->store);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

/* Writes content into a staging file with an upload row, as the upload
 * engine leaves it before commit; fills req. */
static void stage(struct fx *f, const char *bv, const char *content,
                  struct catalog_commit *req)
{
	struct catalog_upload cu;
	char err[UPS_ERRMSG_MAX], path[256];
	unsigned char md[32];
	unsigned len;
	int fd;

	memset(req, 0, sizeof(*req));
	EVP_Digest(content, strlen(content), md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(req->binary.sha256 + 2 * i, "%02x", md[i]);
	memset(&cu, 0, sizeof(cu));
	strcpy(cu.stream, "released");
	strcpy(cu.binary_version, bv);
	strcpy(cu.sha256, req->binary.sha256);
	strcpy(cu.state, "committing");
	cu.size = strlen(content);
	assert_int_equal(catalog_upload_create(store_catalog(&f->store), &cu, 1,
	                                       err, sizeof(err)),
	                 0);
	snprintf(req->staging_name, sizeof(req->staging_name), "%llu.part",
	         (unsigned long long)cu.id);
	snprintf(path, sizeof(path), "%s/%s", store_staging_dir(&f->store),
	         req->staging_name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)),
	                 (ssize_t)strlen(content));
	assert_int_equal(fsync(fd), 0);
	close(fd);
	req->upload_id = cu.id;
	strcpy(req->binary.stream, "released");
	strcpy(req->binary.binary_version, bv);
	req->binary.size = strlen(content);
	req->binary.stored_at = 1700000000;
}

/* The number in <dir>/n (written by a shell command). */
static int count_file(struct fx *f)
{
	char path[128];
	FILE *fp;
	int n = -1;

	snprintf(path, sizeof(path), "%s/n", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%d", &n), 1);
	fclose(fp);
	return n;
}

static void test_commit_list_delete(void **state)
{
	struct fx *f = *state;
	struct catalog_commit req;
	struct catalog_binary b;
	char err[UPS_ERRMSG_MAX];
	struct stat st;
	char path[256];
	int calls;

	stage(f, "2.9.1-ubuntu-amd64", "first bytes", &req);
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	assert_int_equal(f->calls, 0); /* never before the call returned */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->rv, 0);
	assert_string_equal(f->got.sha256, req.binary.sha256);
	/* Subscribers hear of it before the callback runs. */
	assert_int_equal(f->seen.stored, 1);
	assert_int_equal(f->seen.order, 0);
	assert_string_equal(f->seen.last, "2.9.1-ubuntu-amd64");
	snprintf(path, sizeof(path),
	         "%s/tools/released/juju-2.9.1-ubuntu-amd64.tgz", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, strlen("first bytes"));
	/* The upload row went with the commit. */
	{
		struct catalog_upload cu;

		assert_int_equal(catalog_upload_get(store_catalog(&f->store),
		                                    req.upload_id, &cu, err,
		                                    sizeof(err)),
		                 UPS_ERR_NOT_FOUND);
	}
	assert_int_equal(store_lookup(&f->store, "released",
	                              "2.9.1-ubuntu-amd64", &b, err,
	                              sizeof(err)),
	                 0);
	assert_int_equal(b.stored_at, 1700000000);

	/* Other content under the same name without force: conflict, and
	 * nobody is told of a change. */
	stage(f, "2.9.1-ubuntu-amd64", "other bytes", &req);
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, UPS_ERR_CONFLICT);
	assert_int_equal(f->seen.stored, 1);
	/* With force it replaces. */
	req.force = true;
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_int_equal(f->seen.stored, 2);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, strlen("other bytes"));

	stage(f, "2.9.2-ubuntu-amd64", "newer", &req);
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(store_list(&f->store, NULL, NULL, 100, on_list, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_int_equal(f->listed, 2);
	assert_false(f->more);
	assert_string_equal(f->listed_first, "2.9.1-ubuntu-amd64");
	/* Pages: one at a time, after a cursor. */
	assert_int_equal(store_list(&f->store, NULL, NULL, 1, on_list, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->listed, 1);
	assert_true(f->more);
	{
		struct store_cursor c = {"released", "2.9.1-ubuntu-amd64"};

		assert_int_equal(store_list(&f->store, NULL, &c, 1, on_list, f),
		                 0);
		uv_run(&f->loop, UV_RUN_DEFAULT);
		assert_int_equal(f->listed, 1);
		assert_false(f->more);
		assert_string_equal(f->listed_first, "2.9.2-ubuntu-amd64");
		strcpy(c.binary_version, "not a version");
		calls = f->calls;
		assert_int_equal(store_list(&f->store, NULL, &c, 1, on_list, f),
		                 UPS_ERR_BAD_REQUEST);
		/* Refused at once: no callback, then or later. */
		uv_run(&f->loop, UV_RUN_DEFAULT);
		assert_int_equal(f->calls, calls);
	}
	assert_int_equal(store_list(&f->store, "devel", NULL, 100, on_list, f),
	                 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->listed, 0);

	assert_int_equal(store_delete(&f->store, "released",
	                              "2.9.1-ubuntu-amd64", on_done, f),
	                 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_int_equal(f->seen.removed, 1);
	assert_string_equal(f->seen.last, "2.9.1-ubuntu-amd64");
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(store_delete(&f->store, "released",
	                              "2.9.1-ubuntu-amd64", on_done, f),
	                 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, UPS_ERR_NOT_FOUND);
	assert_int_equal(f->seen.removed, 1);
}

/* A commit whose staging file is missing fails and changes nothing. */
static void test_commit_missing_file(void **state)
{
	struct fx *f = *state;
	struct catalog_commit req;
	char path[256];

	stage(f, "2.9.1-ubuntu-amd64", "bytes", &req);
	snprintf(path, sizeof(path), "%s/%s", store_staging_dir(&f->store),
	         req.staging_name);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, UPS_ERR_NOT_FOUND);
	assert_int_equal(f->seen.stored, 0);
}

static void test_open_bad_plugin(void **state)
{
	struct store s;
	struct store_config cfg = {0};
	uv_loop_t loop;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	cfg.data_dir = "/tmp";
	cfg.plugin = "/nonexistent/store.so";
	assert_int_equal(store_open(&s, &loop, &cfg, err, sizeof(err)),
	                 UPS_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "/nonexistent/store.so"));
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Helpers for the states a crash leaves. */

static bool has_row(struct fx *f, const char *bv, char *sha_out)
{
	struct catalog_binary b;
	char err[UPS_ERRMSG_MAX];

	if (store_lookup(&f->store, "released", bv, &b, err, sizeof(err)))
		return false;
	if (sha_out)
		strcpy(sha_out, b.sha256);
	return true;
}

static size_t intents(struct fx *f)
{
	struct catalog_commit *list;
	char err[UPS_ERRMSG_MAX];
	size_t n;

	assert_int_equal(catalog_commit_list(store_catalog(&f->store), &list,
	                                     &n, err, sizeof(err)),
	                 0);
	free(list);
	return n;
}

/* The bytes under the Juju name, or "" when there is none. */
static const char *name_content(struct fx *f, const char *bv)
{
	static char buf[256];
	char path[256];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/tools/released/juju-%s.tgz", f->dir,
	         bv);
	fp = fopen(path, "r");
	if (!fp)
		return "";
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void intent(struct fx *f, const struct catalog_commit *c)
{
	char err[UPS_ERRMSG_MAX];

	assert_int_equal(
	    catalog_commit_begin(store_catalog(&f->store), c, err, sizeof(err)),
	    0);
}

static void put_name(struct fx *f, const struct catalog_commit *c,
                     const char *old_sha, unsigned flags)
{
	char err[UPS_ERRMSG_MAX];

	if (f->store.ops->put2(f->store.state, c->staging_name,
	                       c->binary.sha256, c->binary.stream,
	                       c->binary.binary_version, old_sha, flags, err,
	                       sizeof(err)))
		fail_msg("put2: %s", err);
}

static void unstage(struct fx *f, const struct catalog_commit *c)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", store_staging_dir(&f->store),
	         c->staging_name);
	assert_int_equal(unlink(path), 0);
}

/* Stopped after the intent, before the bytes were put: finished. */
static void test_recover_after_intent(void **state)
{
	struct fx *f = *state;
	struct catalog_commit req;
	char sha[65];

	stage(f, "2.9.1-ubuntu-amd64", "intent only", &req);
	intent(f, &req);
	fx_reopen(f);
	assert_true(has_row(f, "2.9.1-ubuntu-amd64", sha));
	assert_string_equal(sha, req.binary.sha256);
	assert_string_equal(name_content(f, "2.9.1-ubuntu-amd64"),
	                    "intent only");
	assert_int_equal(intents(f), 0);
}

/* Stopped after the put, before the transaction; also with the staging
 * file already gone (what an ABI 1.0 put does): finished both times. */
static void test_recover_after_put(void **state)
{
	struct fx *f = *state;
	struct catalog_commit a, b;

	stage(f, "2.9.1-ubuntu-amd64", "put, kept", &a);
	intent(f, &a);
	put_name(f, &a, NULL, UPS_STORE_PUT_KEEP_STAGING);
	stage(f, "2.9.2-ubuntu-amd64", "put, consumed", &b);
	intent(f, &b);
	put_name(f, &b, NULL, 0);
	fx_reopen(f);
	assert_true(has_row(f, "2.9.1-ubuntu-amd64", NULL));
	assert_true(has_row(f, "2.9.2-ubuntu-amd64", NULL));
	assert_string_equal(name_content(f, "2.9.2-ubuntu-amd64"),
	                    "put, consumed");
	assert_int_equal(intents(f), 0);
}

/* An intent whose staging file is gone and whose name was never put:
 * undone, nothing appears. */
static void test_recover_undo(void **state)
{
	struct fx *f = *state;
	struct catalog_commit req;

	stage(f, "2.9.1-ubuntu-amd64", "lost", &req);
	intent(f, &req);
	unstage(f, &req);
	fx_reopen(f);
	assert_false(has_row(f, "2.9.1-ubuntu-amd64", NULL));
	assert_string_equal(name_content(f, "2.9.1-ubuntu-amd64"), "");
	assert_int_equal(intents(f), 0);
}

/* A forced replace stopped after the rename, before the transaction: the
 * new bytes are recorded; stopped before the rename: also finished (the
 * staging file is still there). Never the old row over missing bytes. */
static void test_recover_forced_replace(void **state)
{
	struct fx *f = *state;
	struct catalog_commit req, old;
	char sha[65];

	stage(f, "2.9.1-ubuntu-amd64", "old bytes", &old);
	assert_int_equal(store_commit(&f->store, &old, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	stage(f, "2.9.1-ubuntu-amd64", "new bytes", &req);
	req.force = true;
	intent(f, &req);
	put_name(f, &req, old.binary.sha256,
	         UPS_STORE_PUT_KEEP_STAGING | UPS_STORE_PUT_REPLACE);
	assert_string_equal(name_content(f, "2.9.1-ubuntu-amd64"), "new bytes");
	fx_reopen(f);
	assert_true(has_row(f, "2.9.1-ubuntu-amd64", sha));
	assert_string_equal(sha, req.binary.sha256);

	stage(f, "2.9.1-ubuntu-amd64", "newest", &req);
	req.force = true;
	intent(f, &req);
	fx_reopen(f);
	assert_true(has_row(f, "2.9.1-ubuntu-amd64", sha));
	assert_string_equal(sha, req.binary.sha256);
	assert_string_equal(name_content(f, "2.9.1-ubuntu-amd64"), "newest");
}

/* Rows and names that disagree (left by an older upstaged, or by hand):
 * a row without its file, or whose file holds other bytes, goes. */
static void test_reconcile(void **state)
{
	struct fx *f = *state;
	struct catalog_commit a, b;
	struct catalog_binary row;
	char err[UPS_ERRMSG_MAX], path[256];

	stage(f, "2.9.1-ubuntu-amd64", "will lose its file", &a);
	assert_int_equal(store_commit(&f->store, &a, on_done, f), 0);
	stage(f, "2.9.2-ubuntu-amd64", "will be swapped", &b);
	assert_int_equal(store_commit(&f->store, &b, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	snprintf(path, sizeof(path),
	         "%s/tools/released/juju-2.9.1-ubuntu-amd64.tgz", f->dir);
	assert_int_equal(unlink(path), 0);
	/* 2.9.2's row now claims other bytes than its name holds. */
	row = b.binary;
	strcpy(row.sha256, a.binary.sha256);
	assert_int_equal(catalog_binary_put(store_catalog(&f->store), &row,
	                                    true, err, sizeof(err)),
	                 0);
	fx_reopen(f);
	assert_false(has_row(f, "2.9.1-ubuntu-amd64", NULL));
	assert_false(has_row(f, "2.9.2-ubuntu-amd64", NULL));
	assert_string_equal(name_content(f, "2.9.2-ubuntu-amd64"), "");
}

/* A name without a row (an older upstaged's crash): Delete removes it;
 * a forced upload replaces it. Unreferenced blobs go at the next open. */
static void test_name_without_row(void **state)
{
	struct fx *f = *state;
	struct catalog_commit a, b;
	char blobs[256];
	int before, after;

	stage(f, "2.9.1-ubuntu-amd64", "orphan", &a);
	put_name(f, &a, NULL, 0);
	assert_string_equal(name_content(f, "2.9.1-ubuntu-amd64"), "orphan");
	assert_false(has_row(f, "2.9.1-ubuntu-amd64", NULL));
	/* Without force: conflict, the orphan stays. */
	stage(f, "2.9.1-ubuntu-amd64", "different", &b);
	assert_int_equal(store_commit(&f->store, &b, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, UPS_ERR_CONFLICT);
	assert_int_equal(intents(f), 0);
	/* Delete removes whatever exists of it. */
	assert_int_equal(store_delete(&f->store, "released",
	                              "2.9.1-ubuntu-amd64", on_done, f),
	                 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_string_equal(name_content(f, "2.9.1-ubuntu-amd64"), "");
	snprintf(blobs, sizeof(blobs), "find %s/blobs -type f | wc -l >%s/n",
	         f->dir, f->dir);
	assert_int_equal(system(blobs), 0);
	before = count_file(f);
	fx_reopen(f);
	assert_int_equal(system(blobs), 0);
	after = count_file(f);
	assert_int_equal(after, before - 1);
	/* And a forced upload over an orphan name works. */
	stage(f, "2.9.3-ubuntu-amd64", "orphan two", &a);
	put_name(f, &a, NULL, 0);
	stage(f, "2.9.3-ubuntu-amd64", "forced", &b);
	b.force = true;
	assert_int_equal(store_commit(&f->store, &b, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_string_equal(name_content(f, "2.9.3-ubuntu-amd64"), "forced");
}

/* An ABI 1.0 store (no put2, no holds): commits, forced replacement,
 * recovery and delete still work through the fallbacks. */
/* sync runs on a worker, after the change is durable (the row is there)
 * and before the operation's callback; its failure is the operation's
 * result while the change stays made and changed is still told. */
struct sync_seen {
	int calls;
	int fail; /* code to return, 0 = succeed */
	bool row_present;
	bool on_loop_thread;
	int callbacks_before; /* f->calls when sync ran */
	pthread_t loop_thread;
	struct fx *f;
};

static int sync_cb(void *data, enum store_change change,
                   const struct catalog_binary *b, char *err, size_t errlen)
{
	struct sync_seen *ss = data;
	struct catalog_binary got;
	char e[UPS_ERRMSG_MAX];

	ss->calls++;
	ss->on_loop_thread = pthread_equal(pthread_self(), ss->loop_thread);
	ss->callbacks_before = ss->f->calls;
	ss->row_present =
	    store_lookup(&ss->f->store, b->stream, b->binary_version, &got, e,
	                 sizeof(e)) == 0;
	(void)change;
	if (ss->fail)
		return ups_errf(ss->fail, err, errlen, "sync says no");
	return 0;
}

static void test_sync_before_answer(void **state)
{
	struct fx *f = *state;
	struct store_subscriber sub = {0};
	struct sync_seen ss = {0};
	struct catalog_commit req;

	ss.f = f;
	ss.loop_thread = pthread_self();
	sub.sync = sync_cb;
	sub.data = &ss;
	store_subscribe(&f->store, &sub);

	stage(f, "2.9.1-ubuntu-amd64", "bytes", &req);
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_int_equal(ss.calls, 1);
	assert_false(ss.on_loop_thread);
	assert_true(ss.row_present);
	assert_int_equal(ss.callbacks_before, 0);

	/* A refused commit changes nothing and syncs nothing. */
	stage(f, "2.9.1-ubuntu-amd64", "other", &req);
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, UPS_ERR_CONFLICT);
	assert_int_equal(ss.calls, 1);

	/* A failing sync: the answer is its error, the binary is stored,
	 * changed is told. */
	ss.fail = UPS_ERR_NO_SPACE;
	stage(f, "2.9.2-ubuntu-amd64", "more", &req);
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, UPS_ERR_NO_SPACE);
	assert_int_equal(ss.calls, 2);
	assert_true(ss.row_present);
	assert_int_equal(f->seen.stored, 2);
	assert_string_equal(f->seen.last, "2.9.2-ubuntu-amd64");

	/* Delete: after the row went. */
	ss.fail = 0;
	assert_int_equal(store_delete(&f->store, "released",
	                              "2.9.1-ubuntu-amd64", on_done, f),
	                 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_int_equal(ss.calls, 3);
	assert_false(ss.row_present);
	assert_false(ss.on_loop_thread);
	/* Deleting what is not there syncs nothing. */
	assert_int_equal(store_delete(&f->store, "released",
	                              "2.9.1-ubuntu-amd64", on_done, f),
	                 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, UPS_ERR_NOT_FOUND);
	assert_int_equal(ss.calls, 3);
}

/* The metadata and held-content ops go to the plugin; store_binaries
 * lists everything. */
static void test_meta_and_held(void **state)
{
	struct fx *f = *state;
	struct catalog_commit req;
	struct catalog_binary *list = NULL;
	char err[UPS_ERRMSG_MAX], buf[32];
	uint64_t size = 0;
	size_t n = 0;
	int fd = -1;
	struct ups_store_meta_file mf = {"index2.json", "{}\n", 3};

	assert_true(store_can_publish(&f->store));
	assert_int_equal(store_meta_put(&f->store, &mf, 1, err, sizeof(err)),
	                 0);
	assert_int_equal(store_meta_open(&f->store, "index2.json", &fd, &size,
	                                 err, sizeof(err)),
	                 0);
	assert_int_equal(size, 3);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	assert_int_equal(
	    store_meta_remove(&f->store, "index2.json", err, sizeof(err)), 0);
	assert_int_equal(store_meta_open(&f->store, "index2.json", &fd, &size,
	                                 err, sizeof(err)),
	                 UPS_ERR_NOT_FOUND);
	mf.name = "../x";
	assert_int_equal(store_meta_put(&f->store, &mf, 1, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);

	stage(f, "2.9.1-ubuntu-amd64", "held", &req);
	assert_int_equal(store_commit(&f->store, &req, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(
	    store_open_held(&f->store, "released", "2.9.1-ubuntu-amd64",
	                    req.binary.sha256, &fd, &size, err, sizeof(err)),
	    0);
	assert_int_equal(size, 4);
	close(fd);
	assert_int_equal(store_binaries(&f->store, &list, &n, err, sizeof(err)),
	                 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].binary_version, "2.9.1-ubuntu-amd64");
	free(list);
}

static void test_abi10_store(void **state)
{
	struct fx *f = *state;
	struct catalog_commit a, b;
	char sha[65];

	assert_int_equal(plugin_store_minor(&f->store.plugin), 0);
	stage(f, "2.9.1-ubuntu-amd64", "one", &a);
	assert_int_equal(store_commit(&f->store, &a, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	stage(f, "2.9.1-ubuntu-amd64", "two", &b);
	b.force = true;
	assert_int_equal(store_commit(&f->store, &b, on_done, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_string_equal(name_content(f, "2.9.1-ubuntu-amd64"), "two");
	fx_reopen(f);
	assert_true(has_row(f, "2.9.1-ubuntu-amd64", sha));
	assert_string_equal(sha, b.binary.sha256);
	assert_int_equal(store_delete(&f->store, "released",
	                              "2.9.1-ubuntu-amd64", on_done, f),
	                 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_string_equal(name_content(f, "2.9.1-ubuntu-amd64"), "");

	/* No metadata and no held content with a 1.0 store: a typed
	 * refusal, and no file is created. */
	{
		char err[UPS_ERRMSG_MAX], path[128];
		uint64_t size;
		int fd = 3;

		assert_false(store_can_publish(&f->store));
		struct ups_store_meta_file mf = {"index2.json", "{}", 2};

		assert_int_equal(
		    store_meta_put(&f->store, &mf, 1, err, sizeof(err)),
		    UPS_ERR_NOT_IMPLEMENTED);
		assert_non_null(strstr(err, "ABI 1.0"));
		assert_int_equal(store_meta_open(&f->store, "index2.json", &fd,
		                                 &size, err, sizeof(err)),
		                 UPS_ERR_NOT_IMPLEMENTED);
		assert_int_equal(fd, -1);
		assert_int_equal(store_meta_remove(&f->store, "index2.json",
		                                   err, sizeof(err)),
		                 UPS_ERR_NOT_IMPLEMENTED);
		assert_int_equal(store_open_held(&f->store, "released",
		                                 "2.9.1-ubuntu-amd64", sha, &fd,
		                                 &size, err, sizeof(err)),
		                 UPS_ERR_NOT_IMPLEMENTED);
		snprintf(path, sizeof(path), "%s/streams/v1/index2.json",
		         f->dir);
		assert_int_equal(access(path, F_OK), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_list_delete, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_commit_missing_file, setup,
	                                    teardown),
	    cmocka_unit_test(test_open_bad_plugin),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_recover_after_intent),
	    T(test_recover_after_put),
	    T(test_recover_undo),
	    T(test_recover_forced_replace),
	    T(test_reconcile),
	    T(test_name_without_row),
	    T(test_sync_before_answer),
	    T(test_meta_and_held),
	    cmocka_unit_test_setup_teardown(test_abi10_store, setup_abi10,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
