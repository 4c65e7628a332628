/* store-fs, loaded through the plugin host exactly as upstaged loads it,
 * on a real file system in a mkdtemp directory: put, dedup, idempotence,
 * conflicts, removal by link count, atomic appearance under injected
 * faults, and rejection of every hostile name before any path is built;
 * the published metadata files (replaced whole, durably, or not at all)
 * and open_held (a download reads the content it asked for, whatever
 * happens to the name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <openssl/evp.h>

#include "agent/store/plugin.h"
#include "agent/ingest/staging.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

#define BV  "2.9.1-ubuntu-amd64"
#define BV2 "2.9.1-ubuntu-arm64"

struct fx {
	char dir[TMPDIR_PATH_MAX];
	struct plugin plugin;
	const struct ups_store_ops *ops;
	struct ups_plugin_services svc;
	void *store;
	const char *fail; /* value of store-fs.fail */
	char err[UPS_ERRMSG_MAX];
};

static const char *fx_config_get(void *host, const char *key)
{
	struct fx *f = host;

	return strcmp(key, "store-fs.fail") == 0 ? f->fail : NULL;
}

static int fx_open(struct fx *f)
{
	return f->ops->open(&f->svc, f->dir, &f->store, f->err, sizeof(f->err));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(
	    tmpdir_make(f->dir, sizeof(f->dir), "upstage-store-fs"), 0);
	assert_int_equal(plugin_load(STORE_FS_PLUGIN, UPS_PLUGIN_KIND_STORE,
	                             &f->plugin, f->err, sizeof(f->err)),
	                 0);
	f->ops = plugin_store_ops(&f->plugin);
	plugin_services_init(&f->svc, f, fx_config_get);
	assert_int_equal(fx_open(f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->store)
		f->ops->close(f->store);
	plugin_unload(&f->plugin);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL),
	                 1);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* Writes a complete, fsynced staging file. */
static void stage(struct fx *f, const char *name, const char *content)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->ops->staging_dir(f->store),
	         name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)),
	                 (ssize_t)strlen(content));
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static int fx_stat(struct fx *f, const char *rel, struct stat *st)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	return lstat(path, st);
}

static bool fx_exists(struct fx *f, const char *rel)
{
	struct stat st;

	return fx_stat(f, rel, &st) == 0;
}

static nlink_t fx_nlink(struct fx *f, const char *rel)
{
	struct stat st;

	assert_int_equal(fx_stat(f, rel, &st), 0);
	return st.st_nlink;
}

static void blob_rel(const char *hex, char *buf, size_t len)
{
	snprintf(buf, len, "blobs/sha256/%.2s/%s", hex, hex);
}

/* Number of entries anywhere under the data directory. */
static int count_cb_n;
static int count_cb(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)path, (void)st, (void)flag, (void)ftw;
	count_cb_n++;
	return 0;
}
static int fx_count(struct fx *f)
{
	count_cb_n = 0;
	nftw(f->dir, count_cb, 16, FTW_PHYS);
	return count_cb_n;
}

static int put(struct fx *f, const char *staging, const char *hex,
               const char *stream, const char *bv)
{
	return f->ops->put(f->store, staging, hex, stream, bv, f->err,
	                   sizeof(f->err));
}

static void read_name(struct fx *f, const char *stream, const char *bv,
                      char *buf, size_t len)
{
	uint64_t size = 0;
	int fd = -1;
	ssize_t n;

	assert_int_equal(f->ops->open_blob(f->store, stream, bv, &fd, &size,
	                                   f->err, sizeof(f->err)),
	                 0);
	assert_true(size < len);
	n = read(fd, buf, len - 1);
	assert_int_equal(n, (ssize_t)size);
	buf[n] = '\0';
	close(fd);
}

/* ------------------------------------------------------------------------- */

static void test_open_layout(void **state)
{
	struct fx *f = *state;
	char want[128];

	assert_true(fx_exists(f, "blobs/sha256"));
	assert_true(fx_exists(f, "tools/released"));
	assert_true(fx_exists(f, "tools/proposed"));
	assert_true(fx_exists(f, "tools/devel"));
	assert_true(fx_exists(f, "tools/testing"));
	assert_true(fx_exists(f, "staging"));
	snprintf(want, sizeof(want), "%s/staging", f->dir);
	assert_string_equal(f->ops->staging_dir(f->store), want);
}

static void test_put_and_read(void **state)
{
	struct fx *f = *state;
	char hex[65], blob[128], buf[64];
	struct stat st;

	sha256_hex("agent-1", 7, hex);
	stage(f, "1.part", "agent-1");
	assert_int_equal(put(f, "1.part", hex, "released", BV), 0);
	/* The staging file is consumed; blob and name are one inode. */
	assert_false(fx_exists(f, "staging/1.part"));
	blob_rel(hex, blob, sizeof(blob));
	assert_int_equal(fx_nlink(f, blob), 2);
	assert_int_equal(fx_nlink(f, "tools/released/juju-" BV ".tgz"), 2);
	read_name(f, "released", BV, buf, sizeof(buf));
	assert_string_equal(buf, "agent-1");
	/* Immutable: read-only for everyone. */
	assert_int_equal(fx_stat(f, blob, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	/* Other streams do not see it. */
	assert_false(fx_exists(f, "tools/devel/juju-" BV ".tgz"));
}

static void test_dedup_and_remove(void **state)
{
	struct fx *f = *state;
	char hex[65], blob[128];

	sha256_hex("same", 4, hex);
	blob_rel(hex, blob, sizeof(blob));
	stage(f, "1.part", "same");
	stage(f, "2.part", "same");
	stage(f, "3.part", "same");
	assert_int_equal(put(f, "1.part", hex, "released", BV), 0);
	assert_int_equal(put(f, "2.part", hex, "released", BV2), 0);
	assert_int_equal(put(f, "3.part", hex, "devel", BV), 0);
	assert_false(fx_exists(f, "staging/2.part"));
	assert_false(fx_exists(f, "staging/3.part"));
	/* One blob, three names. */
	assert_int_equal(fx_nlink(f, blob), 4);

	assert_int_equal(f->ops->remove(f->store, "released", BV, hex, f->err,
	                                sizeof(f->err)),
	                 0);
	assert_false(fx_exists(f, "tools/released/juju-" BV ".tgz"));
	assert_int_equal(fx_nlink(f, blob), 3);
	assert_int_equal(
	    f->ops->remove(f->store, "devel", BV, hex, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(fx_nlink(f, blob), 2);
	assert_int_equal(f->ops->remove(f->store, "released", BV2, hex, f->err,
	                                sizeof(f->err)),
	                 0);
	/* The last name took the blob with it. */
	assert_false(fx_exists(f, blob));
	assert_int_equal(f->ops->remove(f->store, "released", BV2, hex, f->err,
	                                sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);
}

static void test_put_idempotent(void **state)
{
	struct fx *f = *state;
	char hex[65], blob[128];

	sha256_hex("again", 5, hex);
	blob_rel(hex, blob, sizeof(blob));
	stage(f, "1.part", "again");
	assert_int_equal(put(f, "1.part", hex, "released", BV), 0);
	stage(f, "2.part", "again");
	assert_int_equal(put(f, "2.part", hex, "released", BV), 0);
	assert_false(fx_exists(f, "staging/2.part"));
	assert_int_equal(fx_nlink(f, blob), 2);
}

static void test_put_conflict(void **state)
{
	struct fx *f = *state;
	char hex1[65], hex2[65], blob2[128], buf[64];

	sha256_hex("first", 5, hex1);
	sha256_hex("second", 6, hex2);
	blob_rel(hex2, blob2, sizeof(blob2));
	stage(f, "1.part", "first");
	assert_int_equal(put(f, "1.part", hex1, "released", BV), 0);
	stage(f, "2.part", "second");
	assert_int_equal(put(f, "2.part", hex2, "released", BV),
	                 UPS_ERR_CONFLICT);
	/* The name keeps the first content, no stray blob, staging kept. */
	read_name(f, "released", BV, buf, sizeof(buf));
	assert_string_equal(buf, "first");
	assert_false(fx_exists(f, blob2));
	assert_true(fx_exists(f, "staging/2.part"));
	/* Force = remove, then put. */
	assert_int_equal(f->ops->remove(f->store, "released", BV, hex1, f->err,
	                                sizeof(f->err)),
	                 0);
	assert_int_equal(put(f, "2.part", hex2, "released", BV), 0);
	read_name(f, "released", BV, buf, sizeof(buf));
	assert_string_equal(buf, "second");
}

static void test_blob_size_mismatch(void **state)
{
	struct fx *f = *state;
	char hex[65];

	/* A lying sha256 whose blob exists with other bytes is refused. */
	sha256_hex("content", 7, hex);
	stage(f, "1.part", "content");
	assert_int_equal(put(f, "1.part", hex, "released", BV), 0);
	stage(f, "2.part", "longer content");
	assert_int_equal(put(f, "2.part", hex, "released", BV2), UPS_ERR_IO);
	assert_false(fx_exists(f, "tools/released/juju-" BV2 ".tgz"));
}

static void test_put_missing_staging(void **state)
{
	struct fx *f = *state;
	char hex[65];

	sha256_hex("x", 1, hex);
	assert_int_equal(put(f, "9.part", hex, "released", BV),
	                 UPS_ERR_NOT_FOUND);
}

static void test_open_blob_missing(void **state)
{
	struct fx *f = *state;
	uint64_t size;
	int fd = 7;

	assert_int_equal(f->ops->open_blob(f->store, "released", BV, &fd, &size,
	                                   f->err, sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(fd, -1);
}

static void test_hostile_names(void **state)
{
	struct fx *f = *state;
	static char huge[4097];
	char hex[65];
	const char *streams[] = {"",          "Released",  "../released",
	                         "released/", "/released", "released\n",
	                         "devel/../x"};
	const char *bvs[] = {
	    "",
	    "../../etc/passwd",
	    "/etc/passwd",
	    "2.9.1-ubuntu-amd64/../x",
	    "2.9.1-ubuntu-amd64/",
	    "2.9.1-../-amd64",
	    "2.9.1-ubuntu-sparc",
	    "02.9.1-ubuntu-amd64",  /* non-canonical: leading zero */
	    "2.9-ubuntu-amd64",     /* non-canonical: means 2.9.0 */
	    "2.9.1.0-ubuntu-amd64", /* non-canonical: build 0 */
	    "2.9.1-Ubuntu-amd64",
	    "2.9.1-ubuntu-amd64 ",
	    huge,
	};
	const char *shas[] = {
	    "",
	    "../../../../../../../../../../../../../../../../../../../../../"
	    "..",
	    "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
	    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678",
	    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567890",
	    huge,
	};
	const char *stagings[] = {"",       "../1.part", "a/b",    ".hidden",
	                          "/tmp/x", "..",        "1 part", huge};
	/* A NUL inside a name cuts it short: "2.9.1\0-ubuntu-amd64" is "2.9.1",
	 * not a binary version. */
	const char nul_bv[] = "2.9.1\0-ubuntu-amd64";
	int before, fd;
	uint64_t size;

	memset(huge, 'a', sizeof(huge) - 1);
	sha256_hex("h", 1, hex);
	stage(f, "1.part", "h");
	before = fx_count(f);
	for (size_t i = 0; i < sizeof(streams) / sizeof(*streams); i++) {
		assert_int_equal(put(f, "1.part", hex, streams[i], BV),
		                 UPS_ERR_BAD_REQUEST);
		assert_int_equal(f->ops->open_blob(f->store, streams[i], BV,
		                                   &fd, &size, f->err,
		                                   sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
		assert_int_equal(f->ops->remove(f->store, streams[i], BV, hex,
		                                f->err, sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
	}
	for (size_t i = 0; i < sizeof(bvs) / sizeof(*bvs); i++) {
		assert_int_equal(put(f, "1.part", hex, "released", bvs[i]),
		                 UPS_ERR_BAD_REQUEST);
		assert_int_equal(f->ops->open_blob(f->store, "released", bvs[i],
		                                   &fd, &size, f->err,
		                                   sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
		assert_int_equal(f->ops->remove(f->store, "released", bvs[i],
		                                hex, f->err, sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
	}
	assert_int_equal(put(f, "1.part", hex, "released", nul_bv),
	                 UPS_ERR_BAD_REQUEST);
	for (size_t i = 0; i < sizeof(shas) / sizeof(*shas); i++) {
		assert_int_equal(put(f, "1.part", shas[i], "released", BV),
		                 UPS_ERR_BAD_REQUEST);
		assert_int_equal(f->ops->remove(f->store, "released", BV,
		                                shas[i], f->err,
		                                sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
	}
	for (size_t i = 0; i < sizeof(stagings) / sizeof(*stagings); i++)
		assert_int_equal(put(f, stagings[i], hex, "released", BV),
		                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(put(f, NULL, hex, "released", BV),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(put(f, "1.part", NULL, "released", BV),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(put(f, "1.part", hex, NULL, BV), UPS_ERR_BAD_REQUEST);
	assert_int_equal(put(f, "1.part", hex, "released", NULL),
	                 UPS_ERR_BAD_REQUEST);
	/* Nothing was created or removed anywhere. */
	assert_int_equal(fx_count(f), before);
	assert_true(fx_exists(f, "staging/1.part"));
	/* And the valid forms work. */
	assert_int_equal(put(f, "1.part", hex, "released", "2.9.0-jammy-arm64"),
	                 0);
	stage(f, "2.part", "h");
	assert_int_equal(
	    put(f, "2.part", hex, "proposed", "3.0-rc2-focal-s390x"), 0);
	stage(f, "3.part", "h");
	assert_int_equal(
	    put(f, "3.part", hex, "testing", "2.9.1.3-ubuntu-riscv64"), 0);
}

/* Reopens the store with a fault spec. */
static void fx_reopen(struct fx *f, const char *fail)
{
	f->ops->close(f->store);
	f->store = NULL;
	f->fail = fail;
	assert_int_equal(fx_open(f), 0);
}

static void test_fault_name_link(void **state)
{
	struct fx *f = *state;
	char hex[65], blob[128];

	sha256_hex("faulty", 6, hex);
	blob_rel(hex, blob, sizeof(blob));
	/* The blob link succeeds, the Juju-name link fails: nothing under the
	 * final name, the new blob taken back, the staging file kept. */
	fx_reopen(f, "link=ENOSPC@1");
	stage(f, "1.part", "faulty");
	assert_int_equal(put(f, "1.part", hex, "released", BV),
	                 UPS_ERR_NO_SPACE);
	assert_false(fx_exists(f, "tools/released/juju-" BV ".tgz"));
	assert_false(fx_exists(f, blob));
	assert_true(fx_exists(f, "staging/1.part"));
	/* A retry without faults succeeds with the same staging file. */
	fx_reopen(f, NULL);
	assert_int_equal(put(f, "1.part", hex, "released", BV), 0);
	assert_true(fx_exists(f, "tools/released/juju-" BV ".tgz"));
}

static void test_fault_fsync(void **state)
{
	struct fx *f = *state;
	char hex[65];

	sha256_hex("sync", 4, hex);
	/* open() itself fsyncs nothing on an existing store; the first fsync
	 * in put is the new blobs/sha256/xx directory. */
	fx_reopen(f, "fsync=EIO");
	stage(f, "1.part", "sync");
	assert_int_equal(put(f, "1.part", hex, "released", BV), UPS_ERR_IO);
	assert_false(fx_exists(f, "tools/released/juju-" BV ".tgz"));
	assert_true(fx_exists(f, "staging/1.part"));
	/* The blob directory now exists; let the blob's fsync pass and fail
	 * the tools directory's: the new name is taken back. */
	fx_reopen(f, "fsync=EIO@1");
	assert_int_equal(put(f, "1.part", hex, "released", BV), UPS_ERR_IO);
	assert_false(fx_exists(f, "tools/released/juju-" BV ".tgz"));
	assert_true(fx_exists(f, "staging/1.part"));
}

static void test_fault_existing_name_kept(void **state)
{
	struct fx *f = *state;
	char hex[65];

	sha256_hex("keep", 4, hex);
	stage(f, "1.part", "keep");
	assert_int_equal(put(f, "1.part", hex, "released", BV), 0);
	/* An idempotent re-put whose fsync fails must not delete the name
	 * that was already committed. */
	stage(f, "2.part", "keep");
	fx_reopen(f, "fsync=EIO");
	assert_int_equal(put(f, "2.part", hex, "released", BV), UPS_ERR_IO);
	assert_true(fx_exists(f, "tools/released/juju-" BV ".tgz"));
}

static void test_fault_spec_and_free_space(void **state)
{
	struct fx *f = *state;
	uint64_t bytes = 0;

	assert_int_equal(
	    f->ops->free_space(f->store, &bytes, f->err, sizeof(f->err)), 0);
	assert_true(bytes > 0);
	fx_reopen(f, "free=4096");
	assert_int_equal(
	    f->ops->free_space(f->store, &bytes, f->err, sizeof(f->err)), 0);
	assert_int_equal(bytes, 4096);
	f->ops->close(f->store);
	f->store = NULL;
	f->fail = "write=EPERM";
	assert_int_equal(fx_open(f), UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(f->err, "store-fs.fail"));
	assert_null(f->store);
	f->fail = "bogus";
	assert_int_equal(fx_open(f), UPS_ERR_BAD_REQUEST);
	f->fail = "link=EIO@x";
	assert_int_equal(fx_open(f), UPS_ERR_BAD_REQUEST);
}

static void test_second_open_is_busy(void **state)
{
	struct fx *f = *state;
	void *other = NULL;

	assert_int_equal(
	    f->ops->open(&f->svc, f->dir, &other, f->err, sizeof(f->err)),
	    UPS_ERR_BUSY);
	assert_null(other);
	assert_int_equal(f->ops->open(&f->svc, "/nonexistent/upstage", &other,
	                              f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
}

/* The host's staging helpers and the store together: the upload path. */
static void test_staging_to_store(void **state)
{
	struct fx *f = *state;
	struct staging stg;
	char hex[65], name[STAGING_NAME_MAX], buf[64];
	uint64_t size;
	int fd;

	sha256_hex("hello, world", 12, hex);
	assert_int_equal(staging_init(&stg, f->ops->staging_dir(f->store), NULL,
	                              f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(
	    staging_open(&stg, 42, true, &fd, &size, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(
	    staging_write(&stg, fd, "hello, ", 7, 0, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(
	    staging_write(&stg, fd, "world", 5, 7, f->err, sizeof(f->err)), 0);
	assert_int_equal(staging_sync(&stg, fd, f->err, sizeof(f->err)), 0);
	close(fd);
	staging_name(42, name, sizeof(name));
	assert_int_equal(put(f, name, hex, "released", BV), 0);
	read_name(f, "released", BV, buf, sizeof(buf));
	assert_string_equal(buf, "hello, world");
	assert_int_equal(
	    staging_open(&stg, 42, false, &fd, &size, f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
	staging_close(&stg);
}

/* Many threads put the same Juju name at once, half with one content and
 * half with another: every call ends in success or conflict, and the name
 * holds exactly one of the two contents, whole. */
#define RACERS 8
struct racer {
	struct fx *f;
	int i;
	int rv;
	char err[UPS_ERRMSG_MAX];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	char name[32], hex[65];
	const char *content = (r->i % 2) ? "odd content" : "even content";

	snprintf(name, sizeof(name), "%d.part", r->i + 1);
	sha256_hex(content, strlen(content), hex);
	r->rv = r->f->ops->put(r->f->store, name, hex, "released", BV, r->err,
	                       sizeof(r->err));
	return NULL;
}

static void test_concurrent_puts(void **state)
{
	struct fx *f = *state;
	struct racer r[RACERS];
	pthread_t th[RACERS];
	char name[32], buf[64];
	int ok = 0, conflict = 0;

	for (int i = 0; i < RACERS; i++) {
		snprintf(name, sizeof(name), "%d.part", i + 1);
		stage(f, name, (i % 2) ? "odd content" : "even content");
		r[i] = (struct racer){.f = f, .i = i};
	}
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < RACERS; i++) {
		if (r[i].rv == 0)
			ok++;
		else if (r[i].rv == UPS_ERR_CONFLICT)
			conflict++;
	}
	assert_int_equal(ok + conflict, RACERS);
	assert_int_equal(ok, RACERS / 2);
	read_name(f, "released", BV, buf, sizeof(buf));
	assert_true(strcmp(buf, "odd content") == 0 ||
	            strcmp(buf, "even content") == 0);
}

/* ------------------------------------------------------------------------- */
/* Published metadata and open_held (ABI 1.1). */

static int meta_put(struct fx *f, const char *name, const char *text)
{
	struct ups_store_meta_file mf = {name, text, strlen(text)};

	return f->ops->meta_put(f->store, &mf, 1, f->err, sizeof(f->err));
}

/* The content of streams/v1/NAME through meta_open, into buf. */
static int meta_read(struct fx *f, const char *name, char *buf, size_t len)
{
	uint64_t size = 0;
	int fd = -1, rv;
	ssize_t n;

	rv = f->ops->meta_open(f->store, name, &fd, &size, f->err,
	                       sizeof(f->err));
	if (rv) {
		assert_int_equal(fd, -1);
		return rv;
	}
	assert_true(size < len);
	n = read(fd, buf, len - 1);
	assert_int_equal(n, (ssize_t)size);
	buf[n] = '\0';
	close(fd);
	return 0;
}

static void test_meta_put_replace_remove(void **state)
{
	struct fx *f = *state;
	char buf[128];
	struct stat st;
	int fd = -1;
	uint64_t size;

	assert_true(fx_exists(f, "streams/v1"));
	assert_int_equal(meta_read(f, "index2.json", buf, sizeof(buf)),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(meta_put(f, "index2.json", "{\"a\": 1}\n"), 0);
	assert_int_equal(meta_read(f, "index2.json", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"a\": 1}\n");
	assert_int_equal(fx_stat(f, "streams/v1/index2.json", &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* A reader that opened the old file keeps reading it. */
	assert_int_equal(f->ops->meta_open(f->store, "index2.json", &fd, &size,
	                                   f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(meta_put(f, "index2.json", "{\"b\": 22}\n"), 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 9);
	assert_memory_equal(buf, "{\"a\": 1}\n", 9);
	close(fd);
	assert_int_equal(meta_read(f, "index2.json", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"b\": 22}\n");
	/* Every name of the ABI; an empty file is a file. */
	assert_int_equal(meta_put(f, "index.json", ""), 0);
	assert_int_equal(meta_read(f, "index.json", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(
	    meta_put(f, "com.ubuntu.juju-testing-agents.json", "{}"), 0);
	assert_true(fx_exists(f, "streams/v1/com.ubuntu.juju-testing-agents."
	                         "json"));
	/* No temporary file stays behind. */
	assert_false(fx_exists(f, "streams/v1/.index2.json.tmp"));
	assert_int_equal(
	    f->ops->meta_remove(f->store, "index.json", f->err, sizeof(f->err)),
	    0);
	assert_false(fx_exists(f, "streams/v1/index.json"));
	assert_int_equal(
	    f->ops->meta_remove(f->store, "index.json", f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
}

/* Only the names of the ABI: nothing else is created, opened or removed,
 * and no path is built from it. */
static void test_meta_hostile_names(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {
	    "",
	    "index3.json",
	    "../index2.json",
	    "index2.json/",
	    "/etc/passwd",
	    ".index2.json.tmp",
	    "com.ubuntu.juju-nightly-agents.json",
	    "com.ubuntu.juju-released-agents.json\n",
	    "com.ubuntu.juju-../../x-agents.json",
	    "streams/v1/index2.json",
	    "INDEX2.JSON",
	};
	int before = fx_count(f);
	char buf[16];
	uint64_t size;
	int fd;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(meta_put(f, names[i], "x"),
		                 UPS_ERR_BAD_REQUEST);
		assert_int_equal(meta_read(f, names[i], buf, sizeof(buf)),
		                 UPS_ERR_BAD_REQUEST);
		assert_int_equal(f->ops->meta_remove(f->store, names[i], f->err,
		                                     sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
	}
	assert_int_equal(f->ops->meta_open(f->store, NULL, &fd, &size, f->err,
	                                   sizeof(f->err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(fx_count(f), before);
}

/* A failed write leaves the old content and no temporary file; a write
 * fault counts the bytes of the file. */
static void test_meta_faults_keep_old(void **state)
{
	struct fx *f = *state;
	static const char *const specs[] = {"write=ENOSPC@4", "fsync=EIO",
	                                    "rename=EIO", "open=EIO"};
	char buf[64];

	assert_int_equal(meta_put(f, "index2.json", "old"), 0);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		int want =
		    strstr(specs[i], "ENOSPC") ? UPS_ERR_NO_SPACE : UPS_ERR_IO;

		fx_reopen(f, specs[i]);
		assert_int_equal(meta_put(f, "index2.json", "new content"),
		                 want);
		fx_reopen(f, NULL);
		assert_int_equal(meta_read(f, "index2.json", buf, sizeof(buf)),
		                 0);
		assert_string_equal(buf, "old");
		assert_false(fx_exists(f, "streams/v1/.index2.json.tmp"));
	}
	/* A passing fault (@N/K): the second rename fails, the third
	 * succeeds again. A write budget cannot pass. */
	fx_reopen(f, "rename=EIO@1/1");
	assert_int_equal(meta_put(f, "index2.json", "one"), 0);
	assert_int_equal(meta_put(f, "index2.json", "two"), UPS_ERR_IO);
	assert_int_equal(meta_put(f, "index2.json", "three"), 0);
	assert_int_equal(meta_read(f, "index2.json", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "three");
	f->ops->close(f->store);
	f->store = NULL;
	f->fail = "write=ENOSPC@1/1";
	assert_int_equal(fx_open(f), UPS_ERR_BAD_REQUEST);
	f->fail = "rename=EIO@1/x";
	assert_int_equal(fx_open(f), UPS_ERR_BAD_REQUEST);
	/* A small enough file passes the same write budget. */
	fx_reopen(f, "write=ENOSPC@4");
	assert_int_equal(meta_put(f, "index2.json", "new!"), 0);
	fx_reopen(f, NULL);
	assert_int_equal(meta_read(f, "index2.json", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "new!");
}

/* Several files in one durable step, replaced in the order given; a
 * failure part way leaves each file whole (the ones before it new, the
 * rest old) and no temporary file; malformed batches touch nothing. */
static void test_meta_put_batch(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {"com.ubuntu.juju-devel-agents.json",
	                                    "index.json", "index2.json"};
	struct ups_store_meta_file files[3];
	char buf[64], want[64];

	for (size_t i = 0; i < 3; i++)
		assert_int_equal(meta_put(f, names[i], "old"), 0);
	for (size_t i = 0; i < 3; i++) {
		files[i].name = names[i];
		files[i].data = names[i];
		files[i].len = strlen(names[i]);
	}
	assert_int_equal(
	    f->ops->meta_put(f->store, files, 3, f->err, sizeof(f->err)), 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(meta_read(f, names[i], buf, sizeof(buf)), 0);
		assert_string_equal(buf, names[i]);
	}
	/* The second rename fails once: the first file is new, the others
	 * keep what they had. */
	for (size_t i = 0; i < 3; i++) {
		files[i].data = "newer";
		files[i].len = 5;
	}
	fx_reopen(f, "rename=EIO@1/1");
	assert_int_equal(
	    f->ops->meta_put(f->store, files, 3, f->err, sizeof(f->err)),
	    UPS_ERR_IO);
	fx_reopen(f, NULL);
	for (size_t i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "%s", i == 0 ? "newer" : names[i]);
		assert_int_equal(meta_read(f, names[i], buf, sizeof(buf)), 0);
		assert_string_equal(buf, want);
		snprintf(buf, sizeof(buf), "streams/v1/.%s.tmp", names[i]);
		assert_false(fx_exists(f, buf));
	}
	/* Refused before anything is written. */
	files[2].name = names[0];
	assert_int_equal(
	    f->ops->meta_put(f->store, files, 3, f->err, sizeof(f->err)),
	    UPS_ERR_BAD_REQUEST);
	assert_int_equal(
	    f->ops->meta_put(f->store, files, 0, f->err, sizeof(f->err)),
	    UPS_ERR_BAD_REQUEST);
	files[1].name = "../x.json";
	assert_int_equal(
	    f->ops->meta_put(f->store, files, 2, f->err, sizeof(f->err)),
	    UPS_ERR_BAD_REQUEST);
	assert_int_equal(meta_read(f, names[0], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "newer");
	assert_int_equal(meta_read(f, names[1], buf, sizeof(buf)), 0);
	assert_string_equal(buf, names[1]);
}

/* A temporary file a crash left is swept at the next open. */
static void test_meta_stale_tmp_swept(void **state)
{
	struct fx *f = *state;
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/streams/v1/.index2.json.tmp", f->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	fx_reopen(f, NULL);
	assert_false(fx_exists(f, "streams/v1/.index2.json.tmp"));
}

static int held(struct fx *f, const char *stream, const char *bv,
                const char *hex, char *buf, size_t len)
{
	uint64_t size = 0;
	int fd = 5, rv;
	ssize_t n;

	rv = f->ops->open_held(f->store, stream, bv, hex, &fd, &size, f->err,
	                       sizeof(f->err));
	if (rv) {
		assert_int_equal(fd, -1);
		return rv;
	}
	n = read(fd, buf, len - 1);
	assert_int_equal(n, (ssize_t)size);
	buf[n] = '\0';
	close(fd);
	return 0;
}

static void test_open_held(void **state)
{
	struct fx *f = *state;
	char hex1[65], hex2[65], buf[64];
	uint64_t size;
	int fd = -1;

	sha256_hex("first", 5, hex1);
	sha256_hex("second", 6, hex2);
	assert_int_equal(held(f, "released", BV, hex1, buf, sizeof(buf)),
	                 UPS_ERR_NOT_FOUND);
	stage(f, "1.part", "first");
	assert_int_equal(put(f, "1.part", hex1, "released", BV), 0);
	assert_int_equal(held(f, "released", BV, hex1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "first");
	assert_int_equal(held(f, "released", BV, hex2, buf, sizeof(buf)),
	                 UPS_ERR_CONFLICT);
	assert_int_equal(held(f, "devel", BV, hex1, buf, sizeof(buf)),
	                 UPS_ERR_NOT_FOUND);

	/* Opened, then replaced (force) and removed: the fd still reads the
	 * first content, in full. */
	assert_int_equal(f->ops->open_held(f->store, "released", BV, hex1, &fd,
	                                   &size, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(size, 5);
	stage(f, "2.part", "second");
	assert_int_equal(f->ops->put2(f->store, "2.part", hex2, "released", BV,
	                              hex1, UPS_STORE_PUT_REPLACE, f->err,
	                              sizeof(f->err)),
	                 0);
	assert_int_equal(held(f, "released", BV, hex1, buf, sizeof(buf)),
	                 UPS_ERR_CONFLICT);
	assert_int_equal(held(f, "released", BV, hex2, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "second");
	assert_int_equal(f->ops->remove(f->store, "released", BV, hex2, f->err,
	                                sizeof(f->err)),
	                 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "first", 5);
	close(fd);
	/* Hostile names are refused before anything is opened. */
	assert_int_equal(held(f, "released", "../../x", hex1, buf, sizeof(buf)),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(held(f, "../released", BV, hex1, buf, sizeof(buf)),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(held(f, "released", BV, "../../etc", buf, sizeof(buf)),
	                 UPS_ERR_BAD_REQUEST);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_open_layout),
	    T(test_put_and_read),
	    T(test_dedup_and_remove),
	    T(test_put_idempotent),
	    T(test_put_conflict),
	    T(test_blob_size_mismatch),
	    T(test_put_missing_staging),
	    T(test_open_blob_missing),
	    T(test_hostile_names),
	    T(test_fault_name_link),
	    T(test_fault_fsync),
	    T(test_fault_existing_name_kept),
	    T(test_fault_spec_and_free_space),
	    T(test_second_open_is_busy),
	    T(test_staging_to_store),
	    T(test_concurrent_puts),
	    T(test_meta_put_replace_remove),
	    T(test_meta_hostile_names),
	    T(test_meta_faults_keep_old),
	    T(test_meta_put_batch),
	    T(test_meta_stale_tmp_swept),
	    T(test_open_held),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
