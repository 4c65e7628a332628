/* Partial upload files. See staging.h. */
#include "agent/ingest/staging.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proto/errors.h"

/* Read size for re-hashing: big enough to keep the disk streaming, small
 * enough that many concurrent resumes stay cheap. */
#define STAGING_REHASH_BUF (256 * 1024)

static int staging_fail(int e, char *err, size_t errlen, const char *what,
                        uint64_t id)
{
	int rv = (e == ENOSPC || e == EDQUOT) ? UPS_ERR_NO_SPACE : UPS_ERR_IO;

	return ups_errf(rv, err, errlen, "staging %s of upload %" PRIu64 ": %s",
	                what, id, strerror(e));
}

int staging_init(struct staging *stg, const char *dir, const char *fault_spec,
                 char *err, size_t errlen)
{
	char ferr[128];

	stg->dir_fd = -1;
	atomic_init(&stg->direct_refused, false);
	if (ups_fault_parse(&stg->fault, fault_spec, ferr, sizeof(ferr)) < 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "staging faults: %s", ferr);
	stg->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (stg->dir_fd < 0)
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot open staging directory %s: %s", dir,
		                strerror(errno));
	return 0;
}

void staging_close(struct staging *stg)
{
	if (stg->dir_fd >= 0)
		close(stg->dir_fd);
	stg->dir_fd = -1;
}

void staging_name(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 ".part", id);
}

static int staging_fsync(struct staging *stg, int fd, bool data_only)
{
	int e = ups_fault_hit(&stg->fault, UPS_FAULT_FSYNC, 0);

	if (e) {
		errno = e;
		return -1;
	}
	return data_only ? fdatasync(fd) : fsync(fd);
}

int staging_open(struct staging *stg, uint64_t id, bool create, int *fd,
                 uint64_t *size, char *err, size_t errlen)
{
	char name[STAGING_NAME_MAX];
	const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
	struct stat st;
	bool created = false;
	int f, e;

	*fd = -1;
	staging_name(id, name, sizeof(name));
	if ((e = ups_fault_hit(&stg->fault, UPS_FAULT_OPEN, 0)))
		return staging_fail(e, err, errlen, "open", id);
	f = openat(stg->dir_fd, name, flags);
	if (f < 0 && errno == ENOENT && create) {
		f = openat(stg->dir_fd, name, flags | O_CREAT | O_EXCL, 0600);
		created = f >= 0;
		/* Lost a race with another creator: use its file. */
		if (f < 0 && errno == EEXIST)
			f = openat(stg->dir_fd, name, flags);
	}
	if (f < 0) {
		if (errno == ENOENT)
			return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
			                "no partial file for upload %" PRIu64,
			                id);
		return staging_fail(errno, err, errlen, "open", id);
	}
	if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "staging/%s is not a regular file", name);
	}
	if (created && staging_fsync(stg, stg->dir_fd, false) < 0) {
		e = errno;
		close(f);
		(void)unlinkat(stg->dir_fd, name, 0);
		return staging_fail(e, err, errlen, "create", id);
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Turns O_DIRECT on fd on or off as wanted; returns whether it is on. */
static bool staging_set_direct(struct staging *stg, int fd, bool want)
{
	int fl;

	if (want && atomic_load(&stg->direct_refused))
		want = false;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return false;
	if (((fl & O_DIRECT) != 0) == want)
		return want;
	if (fcntl(fd, F_SETFL, want ? fl | O_DIRECT : fl & ~O_DIRECT) < 0) {
		if (want)
			atomic_store(&stg->direct_refused, true);
		return false;
	}
	return want;
}

static bool staging_aligned(const void *buf, size_t len, uint64_t offset)
{
	return ((uintptr_t)buf | (uint64_t)len | offset) % STAGING_ALIGN == 0;
}

/* Writes the runs of pieces that share one alignment with one pwritev()
 * each (O_DIRECT for the aligned runs), retrying short writes. The pieces
 * are consecutive in the file from offset; iov is used up. */
static int staging_pwritev_all(struct staging *stg, int fd, struct iovec *iov,
                               int n, uint64_t offset, char *err,
                               size_t errlen)
{
	bool direct;
	ssize_t w;
	int run, e;

	while (n > 0) {
		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		/* The run: pieces from here with this piece's alignment. */
		direct = staging_aligned(iov->iov_base, iov->iov_len, offset);
		run = 1;
		for (uint64_t o = offset + iov->iov_len; run < n; run++) {
			if (staging_aligned(iov[run].iov_base, iov[run].iov_len,
			                    o) != direct)
				break;
			o += iov[run].iov_len;
		}
		direct = staging_set_direct(stg, fd, direct);
		w = pwritev(fd, iov, run, (off_t)offset);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EINVAL && direct) {
			/* Accepted the flag, refused the I/O. */
			atomic_store(&stg->direct_refused, true);
			continue;
		}
		if (w <= 0) {
			e = w < 0 ? errno : ENOSPC;
			return ups_errf(
			    (e == ENOSPC || e == EDQUOT) ? UPS_ERR_NO_SPACE
			                                 : UPS_ERR_IO,
			    err, errlen, "staging write at %" PRIu64 ": %s",
			    offset, strerror(e));
		}
		offset += (uint64_t)w;
		/* Step over what was written; a short write leaves the rest
		 * of a piece, which the next round writes (buffered if it
		 * lost its alignment). */
		while (w > 0) {
			if ((size_t)w >= iov->iov_len) {
				w -= (ssize_t)iov->iov_len;
				iov++;
				n--;
			} else {
				iov->iov_base = (char *)iov->iov_base + w;
				iov->iov_len -= (size_t)w;
				w = 0;
			}
		}
	}
	return 0;
}

static int staging_check_end(uint64_t offset, uint64_t len, char *err,
                             size_t errlen)
{
	if (offset > (uint64_t)INT64_MAX - len)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "write past the largest file offset");
	return 0;
}

static int staging_fault(struct staging *stg, uint64_t offset, size_t len,
                         char *err, size_t errlen)
{
	int e = ups_fault_hit(&stg->fault, UPS_FAULT_WRITE, len);

	if (!e)
		return 0;
	return ups_errf(e == EIO ? UPS_ERR_IO : UPS_ERR_NO_SPACE, err, errlen,
	                "staging write at %" PRIu64 ": %s", offset,
	                strerror(e));
}

int staging_write(struct staging *stg, int fd, const void *buf, size_t len,
                  uint64_t offset, char *err, size_t errlen)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	int rv;

	if ((rv = staging_check_end(offset, len, err, errlen)) ||
	    (rv = staging_fault(stg, offset, len, err, errlen)))
		return rv;
	return staging_pwritev_all(stg, fd, &iov, 1, offset, err, errlen);
}

int staging_writev(struct staging *stg, int fd, const struct iovec *pieces,
                   int n, uint64_t offset, char *err, size_t errlen)
{
	struct iovec iov[STAGING_IOV_MAX];
	uint64_t total = 0;
	int ok, rv = 0, wrv;

	if (n < 0 || n > STAGING_IOV_MAX)
		return ups_errf(UPS_ERR_INTERNAL, err, errlen,
		                "staging write of %d pieces", n);
	/* Faults count piece by piece, as if each were its own write: the
	 * pieces before the one that fails are written. */
	for (ok = 0; ok < n; ok++) {
		if ((rv = staging_check_end(offset + total,
		                            pieces[ok].iov_len, err, errlen)) ||
		    (rv = staging_fault(stg, offset + total,
		                        pieces[ok].iov_len, err, errlen)))
			break;
		iov[ok] = pieces[ok];
		total += pieces[ok].iov_len;
	}
	wrv = staging_pwritev_all(stg, fd, iov, ok, offset, err, errlen);
	return wrv ? wrv : rv;
}

int staging_sync(struct staging *stg, int fd, char *err, size_t errlen)
{
	int e;

	if (staging_fsync(stg, fd, true) == 0)
		return 0;
	e = errno;
	return ups_errf((e == ENOSPC || e == EDQUOT) ? UPS_ERR_NO_SPACE
	                                             : UPS_ERR_IO,
	                err, errlen, "staging fdatasync: %s", strerror(e));
}

int staging_truncate(struct staging *stg, int fd, uint64_t length, char *err,
                     size_t errlen)
{
	if (length > (uint64_t)INT64_MAX)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "truncate length too large");
	if (ftruncate(fd, (off_t)length) < 0)
		return ups_errf(UPS_ERR_IO, err, errlen, "staging truncate: %s",
		                strerror(errno));
	return staging_sync(stg, fd, err, errlen);
}

int staging_rehash(struct staging *stg, int fd, uint64_t length,
                   EVP_MD_CTX *ctx, char *err, size_t errlen)
{
	unsigned char *buf;
	uint64_t off = 0;
	ssize_t n;
	size_t want;
	int rv = 0;

	/* The descriptor may still be in O_DIRECT mode from writing, which
	 * would refuse reads into an unaligned buffer. */
	(void)staging_set_direct(stg, fd, false);
	buf = malloc(STAGING_REHASH_BUF);
	if (!buf)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "no memory to re-hash");
	while (off < length) {
		want = length - off < STAGING_REHASH_BUF
		           ? (size_t)(length - off)
		           : STAGING_REHASH_BUF;
		n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = ups_errf(UPS_ERR_IO, err, errlen,
			              "re-hash read at %" PRIu64 ": %s", off,
			              strerror(errno));
			goto free_buf;
		}
		if (n == 0) {
			rv = ups_errf(UPS_ERR_IO, err, errlen,
			              "partial file has %" PRIu64
			              " bytes, expected %" PRIu64,
			              off, length);
			goto free_buf;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
			              "EVP_DigestUpdate failed");
			goto free_buf;
		}
		off += (uint64_t)n;
	}
free_buf:
	free(buf);
	return rv;
}

int staging_remove(struct staging *stg, uint64_t id, char *err, size_t errlen)
{
	char name[STAGING_NAME_MAX];
	int e;

	staging_name(id, name, sizeof(name));
	if ((e = ups_fault_hit(&stg->fault, UPS_FAULT_UNLINK, 0)))
		return staging_fail(e, err, errlen, "remove", id);
	if (unlinkat(stg->dir_fd, name, 0) < 0 && errno != ENOENT)
		return staging_fail(errno, err, errlen, "remove", id);
	return 0;
}

/* Strict "<decimal id>.part", no leading zeros, so each id has one name. */
static bool staging_parse_name(const char *name, uint64_t *id)
{
	uint64_t v = 0;
	const char *p = name;

	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (strcmp(p, ".part") != 0)
		return false;
	*id = v;
	return true;
}

int staging_scan(struct staging *stg,
                 int (*cb)(void *arg, uint64_t id, uint64_t size), void *arg,
                 char *err, size_t errlen)
{
	struct dirent *de;
	struct stat st;
	uint64_t id;
	DIR *d;
	int fd, rv = 0;

	/* fdopendir takes the fd; give it a private one so the scan's offset
	 * never disturbs dir_fd. */
	fd = openat(stg->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot open staging: %s", strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot read staging: %s", strerror(errno));
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!staging_parse_name(de->d_name, &id))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		rv = cb(arg, id, (uint64_t)st.st_size);
		if (rv < 0)
			break;
	}
	if (rv == 0 && errno != 0)
		rv = ups_errf(UPS_ERR_IO, err, errlen,
		              "cannot read staging: %s", strerror(errno));
	closedir(d);
	return rv;
}
