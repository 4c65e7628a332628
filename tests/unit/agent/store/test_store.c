/* The store on a real loop with the store-fs plugin and SQLite: commit
 * of a staged file, list, delete, the callback contract and what
 * subscribers are told. */
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

#include "agent/store/store.h"
#include "proto/errors.h"

struct seen {
	int stored, removed;
	char last[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	int order; /* value of calls when the subscriber was last told */
};

struct fx {
	char dir[64];
	uv_loop_t loop;
	struct store store;
	struct store_subscriber sub;
	struct seen seen;
	int calls; /* callbacks run */
	int rv;
	struct catalog_binary got;
	size_t listed;
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
                    const struct catalog_binary *list, size_t n)
{
	struct fx *f = data;

	(void)err;
	f->calls++;
	f->rv = rv;
	f->listed = n;
	f->listed_first[0] = '\0';
	if (n)
		snprintf(f->listed_first, sizeof(f->listed_first), "%s",
		         list[0].binary_version);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_config cfg = {0};
	char err[UPS_ERRMSG_MAX];

	strcpy(f->dir, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	cfg.data_dir = f->dir;
	cfg.plugin = STORE_FS_PLUGIN;
	if (store_open(&f->store, &f->loop, &cfg, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	f->sub.changed = changed;
	f->sub.data = f;
	store_subscribe(&f->store, &f->sub);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	uv_run(&f->loop, UV_RUN_DEFAULT);
	store_close(&f->store);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Writes content into a staging file with an upload row, as the upload
 * engine leaves it before commit; fills req. */
static void stage(struct fx *f, const char *bv, const char *content,
                  struct store_commit_req *req)
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

static void test_commit_list_delete(void **state)
{
	struct fx *f = *state;
	struct store_commit_req req;
	struct catalog_binary b;
	char err[UPS_ERRMSG_MAX];
	struct stat st;
	char path[256];

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
	assert_int_equal(store_list(&f->store, NULL, on_list, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->rv, 0);
	assert_int_equal(f->listed, 2);
	assert_string_equal(f->listed_first, "2.9.1-ubuntu-amd64");
	assert_int_equal(store_list(&f->store, "devel", on_list, f), 0);
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
	struct store_commit_req req;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_list_delete, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_commit_missing_file, setup,
	                                    teardown),
	    cmocka_unit_test(test_open_bad_plugin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
