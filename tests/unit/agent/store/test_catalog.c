/* The catalog on a real SQLite file: binaries CRUD and version ordering,
 * uploads and their offsets, expiry, the commit transaction, persistence
 * across reopen, and refusing a database from a newer upstaged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "agent/store/catalog.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fx {
	char dir[TMPDIR_PATH_MAX];
	struct catalog *cat;
	char err[UPS_ERRMSG_MAX];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "upstage-catalog"),
	                 0);
	assert_int_equal(catalog_open(f->dir, &f->cat, f->err, sizeof(f->err)),
	                 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	catalog_close(f->cat);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(catalog_open(f->dir, &f->cat, f->err, sizeof(f->err)),
	                 0);
}

static struct catalog_binary bin(const char *stream, const char *bv,
                                 const char *sha, uint64_t size)
{
	struct catalog_binary b;

	memset(&b, 0, sizeof(b));
	snprintf(b.stream, sizeof(b.stream), "%s", stream);
	snprintf(b.binary_version, sizeof(b.binary_version), "%s", bv);
	snprintf(b.sha256, sizeof(b.sha256), "%s", sha);
	b.size = size;
	b.stored_at = 1700000000;
	return b;
}

static void test_binary_crud(void **state)
{
	struct fx *f = *state;
	struct catalog_binary b = bin("released", "2.9.1-ubuntu-amd64", SHA_A,
	                              1234),
	                      got;

	assert_int_equal(
	    catalog_binary_put(f->cat, &b, false, f->err, sizeof(f->err)), 0);
	assert_int_equal(catalog_binary_get(f->cat, "released",
	                                    "2.9.1-ubuntu-amd64", &got, f->err,
	                                    sizeof(f->err)),
	                 0);
	assert_string_equal(got.sha256, SHA_A);
	assert_int_equal(got.size, 1234);
	assert_int_equal(got.stored_at, 1700000000);
	assert_string_equal(got.parsed.arch, "amd64");
	assert_string_equal(got.parsed.release, "ubuntu");
	assert_int_equal(got.parsed.version.patch, 1);
	/* Same key again: exists, unless replacing. */
	b = bin("released", "2.9.1-ubuntu-amd64", SHA_B, 99);
	assert_int_equal(
	    catalog_binary_put(f->cat, &b, false, f->err, sizeof(f->err)),
	    UPS_ERR_EXISTS);
	assert_int_equal(
	    catalog_binary_put(f->cat, &b, true, f->err, sizeof(f->err)), 0);
	assert_int_equal(catalog_binary_get(f->cat, "released",
	                                    "2.9.1-ubuntu-amd64", &got, f->err,
	                                    sizeof(f->err)),
	                 0);
	assert_string_equal(got.sha256, SHA_B);
	/* Other stream, same version: a separate row. */
	b = bin("devel", "2.9.1-ubuntu-amd64", SHA_A, 1);
	assert_int_equal(
	    catalog_binary_put(f->cat, &b, false, f->err, sizeof(f->err)), 0);
	assert_int_equal(catalog_binary_delete(f->cat, "released",
	                                       "2.9.1-ubuntu-amd64", f->err,
	                                       sizeof(f->err)),
	                 0);
	assert_int_equal(catalog_binary_get(f->cat, "released",
	                                    "2.9.1-ubuntu-amd64", &got, f->err,
	                                    sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(catalog_binary_delete(f->cat, "released",
	                                       "2.9.1-ubuntu-amd64", f->err,
	                                       sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(catalog_binary_get(f->cat, "devel",
	                                    "2.9.1-ubuntu-amd64", &got, f->err,
	                                    sizeof(f->err)),
	                 0);
}

static void test_binary_rejects_noncanonical(void **state)
{
	struct fx *f = *state;
	struct catalog_binary b = bin("released", "2.9-ubuntu-amd64", SHA_A, 1);

	assert_int_equal(
	    catalog_binary_put(f->cat, &b, false, f->err, sizeof(f->err)),
	    UPS_ERR_BAD_REQUEST);
	b = bin("released", "../x", SHA_A, 1);
	assert_int_equal(
	    catalog_binary_put(f->cat, &b, false, f->err, sizeof(f->err)),
	    UPS_ERR_BAD_REQUEST);
	b = bin("released", "2.9.1-ubuntu-amd64", SHA_A, UINT64_MAX);
	assert_int_equal(
	    catalog_binary_put(f->cat, &b, false, f->err, sizeof(f->err)),
	    UPS_ERR_TOO_LARGE);
}

static void test_binary_list_order(void **state)
{
	struct fx *f = *state;
	/* Inserted out of order; string order would get most of these wrong. */
	const char *bvs[] = {
	    "2.10.0-ubuntu-amd64",    "2.9.10-ubuntu-amd64",
	    "3.0.0-ubuntu-amd64",     "2.9.1.3-ubuntu-amd64",
	    "3.0-rc2-ubuntu-amd64",   "2.9.1-ubuntu-arm64",
	    "2.9.1-centos-amd64",     "2.9.1-ubuntu-amd64",
	    "3.0-beta1-ubuntu-amd64",
	};
	const char *want[] = {
	    "2.9.1-centos-amd64",     "2.9.1-ubuntu-amd64",
	    "2.9.1-ubuntu-arm64",     "2.9.1.3-ubuntu-amd64",
	    "2.9.10-ubuntu-amd64",    "2.10.0-ubuntu-amd64",
	    "3.0-beta1-ubuntu-amd64", "3.0-rc2-ubuntu-amd64",
	    "3.0.0-ubuntu-amd64",
	};
	struct catalog_binary b, *list;
	size_t n;

	for (size_t i = 0; i < sizeof(bvs) / sizeof(*bvs); i++) {
		b = bin("released", bvs[i], SHA_A, i);
		assert_int_equal(catalog_binary_put(f->cat, &b, false, f->err,
		                                    sizeof(f->err)),
		                 0);
	}
	b = bin("devel", "2.9.1-ubuntu-amd64", SHA_B, 5);
	assert_int_equal(
	    catalog_binary_put(f->cat, &b, false, f->err, sizeof(f->err)), 0);
	assert_int_equal(catalog_binary_list(f->cat, "released", &list, &n,
	                                     f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(n, sizeof(want) / sizeof(*want));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(list[i].binary_version, want[i]);
	free(list);
	assert_int_equal(catalog_binary_list(f->cat, NULL, &list, &n, f->err,
	                                     sizeof(f->err)),
	                 0);
	assert_int_equal(n, sizeof(want) / sizeof(*want) + 1);
	/* Every stream: by stream first, so devel's one comes first. */
	assert_string_equal(list[0].binary_version, "2.9.1-ubuntu-amd64");
	assert_string_equal(list[0].stream, "devel");
	for (size_t i = 1; i < n; i++) {
		assert_string_equal(list[i].stream, "released");
		assert_string_equal(list[i].binary_version, want[i - 1]);
	}
	free(list);
	assert_int_equal(catalog_binary_list(f->cat, "testing", &list, &n,
	                                     f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(n, 0);
	assert_null(list);
}

static struct catalog_upload upload(const char *bv, const char *sha,
                                    uint64_t size)
{
	struct catalog_upload u;

	memset(&u, 0, sizeof(u));
	strcpy(u.stream, "released");
	snprintf(u.binary_version, sizeof(u.binary_version), "%s", bv);
	snprintf(u.sha256, sizeof(u.sha256), "%s", sha);
	u.size = size;
	strcpy(u.state, "receiving");
	return u;
}

static void test_upload_lifecycle(void **state)
{
	struct fx *f = *state;
	struct catalog_upload u = upload("2.9.1-ubuntu-amd64", SHA_A, 1 << 20),
	                      u2 = upload("2.9.1-ubuntu-amd64", SHA_B, 10), got;
	uint64_t first;

	assert_int_equal(
	    catalog_upload_create(f->cat, &u, 100, f->err, sizeof(f->err)), 0);
	assert_true(u.id > 0);
	assert_int_equal(u.created_at, 100);
	assert_int_equal(
	    catalog_upload_create(f->cat, &u2, 101, f->err, sizeof(f->err)), 0);
	assert_int_not_equal(u.id, u2.id);
	first = u.id;

	assert_int_equal(catalog_upload_set_offset(f->cat, u.id, 65536, 150,
	                                           f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(
	    catalog_upload_get(f->cat, u.id, &got, f->err, sizeof(f->err)), 0);
	assert_int_equal(got.durable_offset, 65536);
	assert_int_equal(got.updated_at, 150);
	assert_int_equal(got.created_at, 100);
	assert_int_equal(got.size, 1 << 20);
	assert_string_equal(got.state, "receiving");

	/* Find is by the exact file: the sha matters. */
	assert_int_equal(catalog_upload_find(f->cat, "released",
	                                     "2.9.1-ubuntu-amd64", SHA_B, &got,
	                                     f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(got.id, u2.id);
	assert_int_equal(catalog_upload_find(f->cat, "devel",
	                                     "2.9.1-ubuntu-amd64", SHA_A, &got,
	                                     f->err, sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);

	assert_int_equal(catalog_upload_set_state(f->cat, u.id, "committing",
	                                          1 << 20, 160, f->err,
	                                          sizeof(f->err)),
	                 0);
	assert_int_equal(
	    catalog_upload_get(f->cat, u.id, &got, f->err, sizeof(f->err)), 0);
	assert_string_equal(got.state, "committing");
	assert_int_equal(got.durable_offset, 1 << 20); /* recorded together */
	/* A state name the catalog cannot hold is refused. */
	assert_int_equal(catalog_upload_set_state(f->cat, u.id, "", 0, 161,
	                                          f->err, sizeof(f->err)),
	                 UPS_ERR_INTERNAL);
	assert_int_equal(catalog_upload_set_state(f->cat, u.id,
	                                          "a-state-name-too-long", 0,
	                                          161, f->err, sizeof(f->err)),
	                 UPS_ERR_INTERNAL);

	assert_int_equal(
	    catalog_upload_delete(f->cat, u.id, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    catalog_upload_get(f->cat, u.id, &got, f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
	assert_int_equal(
	    catalog_upload_delete(f->cat, u.id, f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
	assert_int_equal(catalog_upload_set_offset(f->cat, u.id, 1, 1, f->err,
	                                           sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);
	/* Ids are never reused, even after the newest is deleted. */
	assert_int_equal(
	    catalog_upload_delete(f->cat, u2.id, f->err, sizeof(f->err)), 0);
	u = upload("2.9.1-ubuntu-amd64", SHA_A, 5);
	assert_int_equal(
	    catalog_upload_create(f->cat, &u, 200, f->err, sizeof(f->err)), 0);
	assert_true(u.id > first + 1);
}

static void test_upload_expiry(void **state)
{
	struct fx *f = *state;
	struct catalog_upload u, *list;
	uint64_t ids[3];
	size_t n;

	for (int i = 0; i < 3; i++) {
		u = upload("2.9.1-ubuntu-amd64", SHA_A, 100);
		assert_int_equal(catalog_upload_create(f->cat, &u, 1000 + i,
		                                       f->err, sizeof(f->err)),
		                 0);
		ids[i] = u.id;
	}
	/* Activity refreshes: the first upload is now the newest. */
	assert_int_equal(catalog_upload_set_offset(f->cat, ids[0], 10, 5000,
	                                           f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(catalog_upload_list_expired(f->cat, 1002, &list, &n,
	                                             f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].id, ids[1]);
	free(list);
	assert_int_equal(catalog_upload_list_expired(f->cat, INT64_MAX, &list,
	                                             &n, f->err,
	                                             sizeof(f->err)),
	                 0);
	assert_int_equal(n, 3);
	assert_int_equal(list[0].id, ids[1]);
	assert_int_equal(list[1].id, ids[2]);
	assert_int_equal(list[2].id, ids[0]);
	free(list);
	assert_int_equal(catalog_upload_list_expired(f->cat, 0, &list, &n,
	                                             f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(n, 0);
	assert_null(list);
}

static void test_commit_upload(void **state)
{
	struct fx *f = *state;
	struct catalog_upload u = upload("2.9.1-ubuntu-amd64", SHA_A, 4), got;
	struct catalog_binary b = bin("released", "2.9.1-ubuntu-amd64", SHA_A,
	                              4),
	                      gb;

	assert_int_equal(
	    catalog_upload_create(f->cat, &u, 1, f->err, sizeof(f->err)), 0);
	assert_int_equal(catalog_commit_upload(f->cat, u.id, &b, false, f->err,
	                                       sizeof(f->err)),
	                 0);
	assert_int_equal(catalog_binary_get(f->cat, "released",
	                                    "2.9.1-ubuntu-amd64", &gb, f->err,
	                                    sizeof(f->err)),
	                 0);
	assert_int_equal(
	    catalog_upload_get(f->cat, u.id, &got, f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
	/* A second commit of the same binary fails as a whole: the upload row
	 * stays. */
	u = upload("2.9.1-ubuntu-amd64", SHA_B, 4);
	assert_int_equal(
	    catalog_upload_create(f->cat, &u, 2, f->err, sizeof(f->err)), 0);
	b = bin("released", "2.9.1-ubuntu-amd64", SHA_B, 4);
	assert_int_equal(catalog_commit_upload(f->cat, u.id, &b, false, f->err,
	                                       sizeof(f->err)),
	                 UPS_ERR_EXISTS);
	assert_int_equal(
	    catalog_upload_get(f->cat, u.id, &got, f->err, sizeof(f->err)), 0);
	/* And a commit of an upload that is gone leaves no binary behind. */
	b = bin("released", "2.9.2-ubuntu-amd64", SHA_B, 4);
	assert_int_equal(catalog_commit_upload(f->cat, 999999, &b, false,
	                                       f->err, sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(catalog_binary_get(f->cat, "released",
	                                    "2.9.2-ubuntu-amd64", &gb, f->err,
	                                    sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);
	/* The connection is usable after the rollbacks. */
	assert_int_equal(catalog_commit_upload(f->cat, u.id, &b, false, f->err,
	                                       sizeof(f->err)),
	                 0);
}

/* Commit intents: recorded, listed, finished with the binary or
 * forgotten; a finish needs an upload row or an intent. */
static void test_commit_intents(void **state)
{
	struct fx *f = *state;
	struct catalog_upload u = upload("2.9.1-ubuntu-amd64", SHA_A, 4), got;
	struct catalog_commit c, *list;
	struct catalog_binary gb;
	size_t n;

	assert_int_equal(
	    catalog_upload_create(f->cat, &u, 1, f->err, sizeof(f->err)), 0);
	memset(&c, 0, sizeof(c));
	c.upload_id = u.id;
	c.binary = bin("released", "2.9.1-ubuntu-amd64", SHA_A, 4);
	c.force = true;
	snprintf(c.staging_name, sizeof(c.staging_name), "%llu.part",
	         (unsigned long long)u.id);
	assert_int_equal(
	    catalog_commit_begin(f->cat, &c, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    catalog_commit_begin(f->cat, &c, f->err, sizeof(f->err)),
	    UPS_ERR_EXISTS);
	assert_int_equal(
	    catalog_commit_list(f->cat, &list, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].upload_id, u.id);
	assert_true(list[0].force);
	assert_string_equal(list[0].binary.sha256, SHA_A);
	assert_string_equal(list[0].staging_name, c.staging_name);
	assert_int_equal(list[0].binary.size, 4);
	free(list);
	/* The upload row may be gone already: the intent is enough. */
	assert_int_equal(
	    catalog_upload_delete(f->cat, u.id, f->err, sizeof(f->err)), 0);
	assert_int_equal(catalog_commit_upload(f->cat, u.id, &c.binary, true,
	                                       f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(catalog_binary_get(f->cat, "released",
	                                    "2.9.1-ubuntu-amd64", &gb, f->err,
	                                    sizeof(f->err)),
	                 0);
	assert_int_equal(
	    catalog_commit_list(f->cat, &list, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	/* Forgetting: the intent goes, nothing else changes. */
	assert_int_equal(
	    catalog_commit_begin(f->cat, &c, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    catalog_commit_forget(f->cat, u.id, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    catalog_commit_forget(f->cat, u.id, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    catalog_commit_list(f->cat, &list, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(
	    catalog_upload_get(f->cat, u.id, &got, f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
}

static void test_reopen_persists(void **state)
{
	struct fx *f = *state;
	struct catalog_binary b = bin("proposed", "3.0-rc2-jammy-arm64", SHA_B,
	                              77),
	                      gb;
	struct catalog_upload u = upload("2.9.1-ubuntu-amd64", SHA_A, 100), got;

	assert_int_equal(
	    catalog_binary_put(f->cat, &b, false, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    catalog_upload_create(f->cat, &u, 10, f->err, sizeof(f->err)), 0);
	assert_int_equal(catalog_upload_set_offset(f->cat, u.id, 42, 11, f->err,
	                                           sizeof(f->err)),
	                 0);
	reopen(f);
	assert_int_equal(catalog_binary_get(f->cat, "proposed",
	                                    "3.0-rc2-jammy-arm64", &gb, f->err,
	                                    sizeof(f->err)),
	                 0);
	assert_int_equal(gb.size, 77);
	assert_int_equal(
	    catalog_upload_get(f->cat, u.id, &got, f->err, sizeof(f->err)), 0);
	assert_int_equal(got.durable_offset, 42);
}

static void test_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	char path[128];
	sqlite3 *db;

	catalog_close(f->cat);
	f->cat = NULL;
	snprintf(path, sizeof(path), "%s/upstage.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "UPDATE schema_version SET version = 99",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(catalog_open(f->dir, &f->cat, f->err, sizeof(f->err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_null(f->cat);
	assert_non_null(strstr(f->err, "99"));
}

static void test_open_bad_dir(void **state)
{
	struct catalog *cat = (void *)1;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(
	    catalog_open("/nonexistent/dir", &cat, err, sizeof(err)),
	    UPS_ERR_IO);
	assert_null(cat);
	assert_non_null(strstr(err, "/nonexistent/dir/upstage.db"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_binary_crud),          T(test_binary_rejects_noncanonical),
	    T(test_binary_list_order),    T(test_commit_intents),
	    T(test_upload_lifecycle),     T(test_upload_expiry),
	    T(test_commit_upload),        T(test_reopen_persists),
	    T(test_newer_schema_refused), cmocka_unit_test(test_open_bad_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
