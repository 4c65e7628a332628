/* Staging files: creation, positioned writes (one piece or several at
 * once), sync, truncation, re-hashing to rebuild a digest, removal, the
 * directory scan, and injected faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/ingest/staging.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

struct fx {
	char dir[TMPDIR_PATH_MAX];
	struct staging stg;
	char err[UPS_ERRMSG_MAX];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "upstage-staging"),
	                 0);
	assert_int_equal(
	    staging_init(&f->stg, f->dir, NULL, f->err, sizeof(f->err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	staging_close(&f->stg);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

static void digest(EVP_MD_CTX *ctx, unsigned char md[32])
{
	unsigned int len = 0;

	assert_int_equal(EVP_DigestFinal_ex(ctx, md, &len), 1);
	assert_int_equal(len, 32);
}

static void test_name(void **state)
{
	char buf[STAGING_NAME_MAX];

	(void)state;
	staging_name(7, buf, sizeof(buf));
	assert_string_equal(buf, "7.part");
	staging_name(UINT64_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "18446744073709551615.part");
}

static void test_write_resume_rehash(void **state)
{
	struct fx *f = *state;
	/* Bigger than the re-hash buffer so the loop runs several times. */
	const size_t total = 600 * 1024 + 17, durable = 300 * 1024 + 5;
	unsigned char *data = malloc(total), want[32], got[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t size;
	int fd;

	assert_non_null(data);
	for (size_t i = 0; i < total; i++)
		data[i] = (unsigned char)(i * 31 + 7);
	assert_int_equal(
	    staging_open(&f->stg, 5, false, &fd, &size, f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
	assert_int_equal(
	    staging_open(&f->stg, 5, true, &fd, &size, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(size, 0);
	assert_int_equal(staging_write(&f->stg, fd, data, durable, 0, f->err,
	                               sizeof(f->err)),
	                 0);
	assert_int_equal(staging_sync(&f->stg, fd, f->err, sizeof(f->err)), 0);
	/* Bytes past the durable offset, then a "crash". */
	assert_int_equal(staging_write(&f->stg, fd, data + durable, 1000,
	                               durable, f->err, sizeof(f->err)),
	                 0);
	close(fd);

	/* Restart: reopen, cut to the durable offset, rebuild the digest. */
	assert_int_equal(
	    staging_open(&f->stg, 5, false, &fd, &size, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(size, durable + 1000);
	assert_int_equal(
	    staging_truncate(&f->stg, fd, durable, f->err, sizeof(f->err)), 0);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(
	    staging_rehash(&f->stg, fd, durable, ctx, f->err, sizeof(f->err)),
	    0);
	/* Continue the upload with the rebuilt state. */
	assert_int_equal(staging_write(&f->stg, fd, data + durable,
	                               total - durable, durable, f->err,
	                               sizeof(f->err)),
	                 0);
	assert_int_equal(EVP_DigestUpdate(ctx, data + durable, total - durable),
	                 1);
	digest(ctx, got);
	assert_int_equal(
	    EVP_Digest(data, total, want, NULL, EVP_sha256(), NULL), 1);
	assert_memory_equal(got, want, 32);

	/* Re-hashing more than is there is an error. */
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(
	    staging_rehash(&f->stg, fd, total + 1, ctx, f->err, sizeof(f->err)),
	    UPS_ERR_IO);
	close(fd);
	EVP_MD_CTX_free(ctx);
	free(data);
}

static void test_remove(void **state)
{
	struct fx *f = *state;
	char path[128];
	uint64_t size;
	int fd;

	assert_int_equal(
	    staging_open(&f->stg, 9, true, &fd, &size, f->err, sizeof(f->err)),
	    0);
	close(fd);
	snprintf(path, sizeof(path), "%s/9.part", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(staging_remove(&f->stg, 9, f->err, sizeof(f->err)), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	/* Already gone is fine. */
	assert_int_equal(staging_remove(&f->stg, 9, f->err, sizeof(f->err)), 0);
}

struct seen {
	uint64_t ids[8];
	uint64_t sizes[8];
	int n;
};

static int scan_cb(void *arg, uint64_t id, uint64_t size)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->ids[s->n] = id;
		s->sizes[s->n] = size;
	}
	s->n++;
	return 0;
}

static int scan_stop(void *arg, uint64_t id, uint64_t size)
{
	(void)arg, (void)id, (void)size;
	return UPS_ERR_INTERNAL;
}

static void touch(struct fx *f, const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void test_scan(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	char path[128];
	uint64_t size;
	int fd;

	assert_int_equal(
	    staging_open(&f->stg, 12, true, &fd, &size, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(
	    staging_write(&f->stg, fd, "abc", 3, 0, f->err, sizeof(f->err)), 0);
	close(fd);
	/* Names that are not ours are skipped. */
	touch(f, "012.part");
	touch(f, "12.part.tmp");
	touch(f, "x.part");
	touch(f, ".part");
	touch(f, "99999999999999999999999.part");
	snprintf(path, sizeof(path), "%s/13.part", f->dir);
	assert_int_equal(mkdir(path, 0700), 0); /* not a regular file */
	assert_int_equal(
	    staging_scan(&f->stg, scan_cb, &s, f->err, sizeof(f->err)), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ids[0], 12);
	assert_int_equal(s.sizes[0], 3);
	assert_int_equal(
	    staging_scan(&f->stg, scan_stop, NULL, f->err, sizeof(f->err)),
	    UPS_ERR_INTERNAL);
	rmdir(path);
}

static void test_fault_write_budget(void **state)
{
	struct fx *f = *state;
	uint64_t size;
	int fd;

	staging_close(&f->stg);
	assert_int_equal(staging_init(&f->stg, f->dir, "write=ENOSPC@10",
	                              f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(
	    staging_open(&f->stg, 1, true, &fd, &size, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(staging_write(&f->stg, fd, "12345678", 8, 0, f->err,
	                               sizeof(f->err)),
	                 0);
	/* 8 + 3 > 10: the disk is "full". */
	assert_int_equal(
	    staging_write(&f->stg, fd, "abc", 3, 8, f->err, sizeof(f->err)),
	    UPS_ERR_NO_SPACE);
	assert_non_null(strstr(f->err, "No space"));
	/* A smaller write still fits. */
	assert_int_equal(
	    staging_write(&f->stg, fd, "ab", 2, 8, f->err, sizeof(f->err)), 0);
	close(fd);
}

static void test_fault_sync_and_open(void **state)
{
	struct fx *f = *state;
	uint64_t size;
	int fd;

	staging_close(&f->stg);
	assert_int_equal(staging_init(&f->stg, f->dir, "fsync=EIO@1,open=EIO@1",
	                              f->err, sizeof(f->err)),
	                 0);
	/* The first open and the directory fsync at creation pass. */
	assert_int_equal(
	    staging_open(&f->stg, 1, true, &fd, &size, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(staging_sync(&f->stg, fd, f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
	close(fd);
	assert_int_equal(
	    staging_open(&f->stg, 1, false, &fd, &size, f->err, sizeof(f->err)),
	    UPS_ERR_IO);
	staging_close(&f->stg);
	assert_int_equal(staging_init(&f->stg, f->dir, "write=ENOSPC@", f->err,
	                              sizeof(f->err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(staging_init(&f->stg, "/nonexistent/staging", NULL,
	                              f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
}

/* Whole aligned blocks bypass the page cache, anything else does not, and
 * the file holds exactly what was written either way. */
static void test_direct_and_buffered_writes(void **state)
{
	struct fx *f = *state;
	const size_t blk = STAGING_ALIGN;
	unsigned char *data = aligned_alloc(STAGING_ALIGN, 4 * blk);
	unsigned char *back = calloc(1, 4 * blk + 1);
	unsigned char got[32], want[32];
	EVP_MD_CTX *ctx;
	uint64_t size;
	int fd, fl;

	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < 4 * blk; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(
	    staging_open(&f->stg, 5, true, &fd, &size, f->err, sizeof(f->err)),
	    0);

	/* Two aligned blocks: O_DIRECT, unless the file system refused it. */
	assert_int_equal(staging_write(&f->stg, fd, data, 2 * blk, 0, f->err,
	                               sizeof(f->err)),
	                 0);
	fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0);
	assert_int_equal((fl & O_DIRECT) != 0,
	                 !atomic_load(&f->stg.direct_refused));
	/* A short tail at an aligned offset: through the page cache. */
	assert_int_equal(staging_write(&f->stg, fd, data + 2 * blk, 100,
	                               2 * blk, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_DIRECT, 0);
	/* The rest of that block from an unaligned buffer, then an aligned
	 * block again after it. */
	assert_int_equal(staging_write(&f->stg, fd, data + 2 * blk + 100,
	                               blk - 100, 2 * blk + 100, f->err,
	                               sizeof(f->err)),
	                 0);
	assert_int_equal(staging_write(&f->stg, fd, data + 3 * blk, blk,
	                               3 * blk, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(staging_sync(&f->stg, fd, f->err, sizeof(f->err)), 0);

	/* Re-hashing through the same descriptor, still in O_DIRECT mode
	 * after the aligned write, reads into an unaligned buffer. */
	ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(
	    staging_rehash(&f->stg, fd, 4 * blk, ctx, f->err, sizeof(f->err)),
	    0);
	digest(ctx, got);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(
	    EVP_Digest(data, 4 * blk, want, NULL, EVP_sha256(), NULL), 1);
	assert_memory_equal(got, want, 32);
	assert_int_equal(pread(fd, back, 4 * blk + 1, 0), (ssize_t)(4 * blk));
	assert_memory_equal(back, data, 4 * blk);
	close(fd);
	free(back);
	free(data);
}

/* Pieces in one call: aligned ones go direct together, an unaligned one
 * in the middle through the page cache, and the bytes land in order. */
static void test_writev_runs(void **state)
{
	struct fx *f = *state;
	const size_t blk = STAGING_ALIGN;
	unsigned char *data = aligned_alloc(STAGING_ALIGN, 8 * blk);
	unsigned char *back = calloc(1, 8 * blk);
	struct iovec iov[5];
	uint64_t size;
	int fd;

	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < 8 * blk; i++)
		data[i] = (unsigned char)(i * 13 + 1);
	assert_int_equal(
	    staging_open(&f->stg, 6, true, &fd, &size, f->err, sizeof(f->err)),
	    0);
	/* [0, 2 blk) aligned in two pieces; 100 bytes; the rest of that
	 * block; two aligned blocks; 50 bytes. */
	iov[0] = (struct iovec){data, blk};
	iov[1] = (struct iovec){data + blk, blk};
	iov[2] = (struct iovec){data + 2 * blk, 100};
	iov[3] = (struct iovec){data + 2 * blk + 100, blk - 100};
	iov[4] = (struct iovec){data + 3 * blk, 2 * blk};
	assert_int_equal(staging_writev(&f->stg, fd, iov, 5, 0, f->err,
	                                sizeof(f->err)),
	                 0);
	/* The last run was aligned: the descriptor is direct again. */
	assert_int_equal((fcntl(fd, F_GETFL) & O_DIRECT) != 0,
	                 !atomic_load(&f->stg.direct_refused));
	/* The pieces are left as they were. */
	assert_ptr_equal(iov[0].iov_base, data);
	assert_int_equal(iov[4].iov_len, 2 * blk);
	iov[0] = (struct iovec){data + 5 * blk, 50};
	assert_int_equal(staging_writev(&f->stg, fd, iov, 1, 5 * blk, f->err,
	                                sizeof(f->err)),
	                 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_DIRECT, 0);
	assert_int_equal(pread(fd, back, 8 * blk, 0), (ssize_t)(5 * blk + 50));
	assert_memory_equal(back, data, 5 * blk + 50);
	/* Nothing, and too many pieces. */
	assert_int_equal(staging_writev(&f->stg, fd, iov, 0, 0, f->err,
	                                sizeof(f->err)),
	                 0);
	assert_int_equal(staging_writev(&f->stg, fd, iov, STAGING_IOV_MAX + 1,
	                                0, f->err, sizeof(f->err)),
	                 UPS_ERR_INTERNAL);
	close(fd);
	free(back);
	free(data);
}

/* Faults count piece by piece: the pieces before the one that does not
 * fit are written, that one and those after are not. */
static void test_writev_fault_per_piece(void **state)
{
	struct fx *f = *state;
	struct iovec iov[3] = {
	    {(void *)"1234", 4}, {(void *)"5678", 4}, {(void *)"9abc", 4}};
	char back[16] = {0};
	uint64_t size;
	int fd;

	staging_close(&f->stg);
	assert_int_equal(staging_init(&f->stg, f->dir, "write=ENOSPC@10",
	                              f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(
	    staging_open(&f->stg, 2, true, &fd, &size, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(staging_writev(&f->stg, fd, iov, 3, 0, f->err,
	                                sizeof(f->err)),
	                 UPS_ERR_NO_SPACE);
	assert_non_null(strstr(f->err, "at 8"));
	assert_int_equal(pread(fd, back, sizeof(back), 0), 8);
	assert_memory_equal(back, "12345678", 8);
	/* The budget has 2 bytes left: a 2-byte piece fits. */
	iov[0] = (struct iovec){(void *)"xy", 2};
	assert_int_equal(staging_writev(&f->stg, fd, iov, 1, 8, f->err,
	                                sizeof(f->err)),
	                 0);
	close(fd);
}

/* A real full disk: a 64 KiB tmpfs, when this process may mount one (root
 * in a container that allows it); skipped otherwise. */
static void test_real_enospc(void **state)
{
	struct fx *f = *state;
	char mnt[128], buf[4096];
	struct staging stg;
	uint64_t size, off = 0;
	int fd, rv = 0;

	snprintf(mnt, sizeof(mnt), "%s/tmpfs", f->dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
		rmdir(mnt);
		skip();
	}
	assert_int_equal(staging_init(&stg, mnt, NULL, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(
	    staging_open(&stg, 1, true, &fd, &size, f->err, sizeof(f->err)), 0);
	memset(buf, 'x', sizeof(buf));
	while (off < 1024 * 1024 &&
	       (rv = staging_write(&stg, fd, buf, sizeof(buf), off, f->err,
	                           sizeof(f->err))) == 0)
		off += sizeof(buf);
	assert_int_equal(rv, UPS_ERR_NO_SPACE);
	assert_true(off <= 64 * 1024);
	close(fd);
	staging_close(&stg);
	assert_int_equal(umount(mnt), 0);
	rmdir(mnt);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_name),
	    T(test_write_resume_rehash),
	    T(test_remove),
	    T(test_scan),
	    T(test_fault_write_budget),
	    T(test_fault_sync_and_open),
	    T(test_direct_and_buffered_writes),
	    T(test_writev_runs),
	    T(test_writev_fault_per_piece),
	    T(test_real_enospc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
