/* Tarballs and the tools layout; see unpack.h. */
#include "contrib/machine/unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "proto/errors.h"

#define UNPACK_RECORD   "downloaded-tools.txt"
#define UNPACK_NAME_MAX 255

static struct archive *unpack_reader(void)
{
	struct archive *a = archive_read_new();

	if (!a)
		return NULL;
	/* Agent binaries are gzipped tar; nothing else is read. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_none(a);
	archive_read_support_format_tar(a);
	return a;
}

/* Why entry e may not be unpacked, or NULL. */
static const char *unpack_refusal(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	mode_t type = archive_entry_filetype(e);

	if (!name || !*name)
		return "empty name";
	if (name[0] == '/')
		return "absolute name";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strstr(name, "..") != NULL)
		return "\"..\" in a name";
	if (strchr(name, '/'))
		return "'/' in a name";
	if (strlen(name) > UNPACK_NAME_MAX)
		return "name too long";
	if (strcmp(name, UNPACK_RECORD) == 0)
		return "reserved name";
	if (archive_entry_hardlink(e))
		return "hard link";
	switch (type) {
	case AE_IFREG:
		return NULL;
	case AE_IFLNK:
		return "symbolic link";
	case AE_IFCHR:
	case AE_IFBLK:
		return "device";
	case AE_IFIFO:
		return "fifo";
	case AE_IFDIR:
		return "directory";
	default:
		return "not a regular file";
	}
}

/* Walks every header of a (opened); the first refusal wins. */
static int unpack_check(struct archive *a, char *err, size_t errlen)
{
	struct archive_entry *e;
	unsigned long long bytes = 0;
	size_t n = 0;
	int r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *why = unpack_refusal(e);
		const char *name = archive_entry_pathname(e);

		if (why)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "refused tarball: \"%.80s\": %s",
			                name ? name : "", why);
		if (++n > UNPACK_MAX_ENTRIES)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "refused tarball: more than %d entries",
			                UNPACK_MAX_ENTRIES);
		if (archive_entry_size(e) < 0 ||
		    (bytes += (unsigned long long)archive_entry_size(e)) >
		        UNPACK_MAX_BYTES)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "refused tarball: too large");
		if (archive_read_data_skip(a) != ARCHIVE_OK)
			break;
	}
	if (r != ARCHIVE_EOF)
		return ups_errf(
		    UPS_ERR_BAD_REQUEST, err, errlen, "refused tarball: %s",
		    archive_error_string(a) ? archive_error_string(a)
		                            : "unreadable");
	if (n == 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "refused tarball: no files");
	return 0;
}

/* Checks a after its open returned r, and frees it. */
static int unpack_check_opened(struct archive *a, int r, char *err,
                               size_t errlen)
{
	int rv;

	if (r != ARCHIVE_OK)
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "refused tarball: %s",
		              archive_error_string(a) ? archive_error_string(a)
		                                      : "unreadable");
	else
		rv = unpack_check(a, err, errlen);
	archive_read_free(a);
	return rv;
}

int unpack_check_memory(const void *buf, size_t len, char *err, size_t errlen)
{
	struct archive *a = unpack_reader();

	if (!a)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	return unpack_check_opened(a, archive_read_open_memory(a, buf, len),
	                           err, errlen);
}

static int unpack_fsync_path(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rv = 0;

	if (fd < 0 || fsync(fd) != 0)
		rv = ups_errf(UPS_ERR_IO, err, errlen, "fsync %s: %s", path,
		              strerror(errno));
	if (fd >= 0)
		close(fd);
	return rv;
}

/* Removes a flat directory (what we unpack is flat). */
static void unpack_remove_dir(const char *path)
{
	char child[4400];
	struct dirent *d;
	DIR *dir = opendir(path);

	if (!dir)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, d->d_name);
		(void)unlink(child);
	}
	closedir(dir);
	(void)rmdir(path);
}

static int unpack_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes name into dir with the bytes of a's current entry. */
static int unpack_file(struct archive *a, struct archive_entry *e,
                       const char *dir, char *err, size_t errlen)
{
	char path[4400];
	const void *block;
	size_t size;
	la_int64_t offset;
	int fd, r;
	mode_t mode = (archive_entry_perm(e) & 0755) | 0600;

	snprintf(path, sizeof(path), "%s/%s", dir, archive_entry_pathname(e));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          mode);
	if (fd < 0)
		return ups_errf(UPS_ERR_IO, err, errlen, "create %s: %s", path,
		                strerror(errno));
	while ((r = archive_read_data_block(a, &block, &size, &offset)) ==
	       ARCHIVE_OK) {
		if (lseek(fd, (off_t)offset, SEEK_SET) < 0 ||
		    unpack_write_all(fd, block, size)) {
			close(fd);
			return ups_errf(UPS_ERR_IO, err, errlen, "write %s: %s",
			                path, strerror(errno));
		}
	}
	if (r != ARCHIVE_EOF) {
		close(fd);
		return ups_errf(
		    UPS_ERR_BAD_REQUEST, err, errlen, "refused tarball: %s",
		    archive_error_string(a) ? archive_error_string(a)
		                            : "unreadable");
	}
	if (fsync(fd) != 0) {
		close(fd);
		return ups_errf(UPS_ERR_IO, err, errlen, "fsync %s: %s", path,
		                strerror(errno));
	}
	close(fd);
	return 0;
}

bool unpack_has(const char *tools_dir, const char *bv)
{
	char path[4096];

	snprintf(path, sizeof(path), "%.3800s/%s/" UNPACK_RECORD, tools_dir,
	         bv);
	return access(path, F_OK) == 0;
}

int unpack_install(const char *tarball, const char *tools_dir, const char *bv,
                   const char *record, char *err, size_t errlen)
{
	char tmp[4096], final[4096], path[4200];
	struct archive *a;
	struct archive_entry *e;
	int fd, r, rv;

	if (unpack_has(tools_dir, bv))
		return 0;
	if (mkdir(tools_dir, 0755) != 0 && errno != EEXIST)
		return ups_errf(UPS_ERR_IO, err, errlen, "mkdir %s: %s",
		                tools_dir, strerror(errno));
	/* First every header, before anything is written. */
	a = unpack_reader();
	if (!a)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	rv = unpack_check_opened(
	    a, archive_read_open_filename(a, tarball, 64 * 1024), err, errlen);
	if (rv)
		return rv;

	snprintf(tmp, sizeof(tmp), "%.3800s/.unpack-%s", tools_dir, bv);
	snprintf(final, sizeof(final), "%.3800s/%s", tools_dir, bv);
	unpack_remove_dir(tmp);
	if (mkdir(tmp, 0755) != 0)
		return ups_errf(UPS_ERR_IO, err, errlen, "mkdir %s: %s", tmp,
		                strerror(errno));
	a = unpack_reader();
	if (!a) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto fail;
	}
	if (archive_read_open_filename(a, tarball, 64 * 1024) != ARCHIVE_OK) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "cannot reopen %s",
		              tarball);
		archive_read_free(a);
		goto fail;
	}
	rv = 0;
	while (!rv && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		/* The tarball on disk is ours alone; checked again all the
		 * same, so nothing here trusts the first pass. */
		if (unpack_refusal(e))
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "refused tarball: \"%.80s\": %s",
			              archive_entry_pathname(e),
			              unpack_refusal(e));
		else
			rv = unpack_file(a, e, tmp, err, errlen);
	}
	archive_read_free(a);
	if (rv)
		goto fail;
	snprintf(path, sizeof(path), "%s/" UNPACK_RECORD, tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || unpack_write_all(fd, record, strlen(record)) ||
	    fsync(fd) != 0) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "write %s: %s", path,
		              strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	close(fd);
	if ((rv = unpack_fsync_path(tmp, err, errlen)))
		goto fail;
	/* A directory left by a crash before its record was written. */
	unpack_remove_dir(final);
	if (rename(tmp, final) != 0) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "rename %s: %s", tmp,
		              strerror(errno));
		goto fail;
	}
	return unpack_fsync_path(tools_dir, err, errlen);
fail:
	unpack_remove_dir(tmp);
	return rv;
}

int layout_switch(const char *tools_dir, const char *machine_id, const char *bv,
                  char *err, size_t errlen)
{
	char link[4096], tmp[4096];

	snprintf(link, sizeof(link), "%.3800s/machine-%s", tools_dir,
	         machine_id);
	snprintf(tmp, sizeof(tmp), "%.3800s/.machine-%s.new", tools_dir,
	         machine_id);
	(void)unlink(tmp);
	if (symlink(bv, tmp) != 0)
		return ups_errf(UPS_ERR_IO, err, errlen, "symlink %s: %s", tmp,
		                strerror(errno));
	if (rename(tmp, link) != 0) {
		(void)unlink(tmp);
		return ups_errf(UPS_ERR_IO, err, errlen, "rename %s: %s", link,
		                strerror(errno));
	}
	return unpack_fsync_path(tools_dir, err, errlen);
}

int layout_current(const char *tools_dir, const char *machine_id, char *bv,
                   size_t len)
{
	char link[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "%.3800s/machine-%s", tools_dir,
	         machine_id);
	n = readlink(link, bv, len - 1);
	if (n <= 0)
		return UPS_ERR_NOT_FOUND;
	bv[n] = '\0';
	return 0;
}
