/* store-fs: the default store. Content-addressed, immutable blobs under
 * blobs/sha256/<first two hex digits>/<hex>, and the Juju names
 * tools/<stream>/juju-<binary version>.tgz as hard links to them, so a
 * binary shared by several names is stored once and a name never shows a
 * partial file. The published simplestreams files live in streams/v1/,
 * each replaced whole by writing a temporary dot file, fsyncing it,
 * renaming it over the name and fsyncing the directory.
 *
 * A new name is created with linkat(), which is atomic and never replaces
 * an existing entry: the linked inode is already complete and fsynced. A
 * replacement (UPS_STORE_PUT_REPLACE) links the blob to a temporary name
 * and renames it over the old one, so a reader (or a crash) sees the old
 * bytes or the new, never neither. Each directory that gains or loses an
 * entry is fsynced before the call returns. Blobs no name refers to (a
 * crash between the steps, a name removed without its sha256) and stale
 * temporary names are swept when the store opens.
 *
 * Paths are built only from names re-validated here (defence in depth; the
 * host validates them too), and always relative to directory fds opened at
 * open(), so nothing the peer sends can walk out of the data directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "plugins/ups_fault.h"
#include "plugins/upstage_plugin.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/limits.h"

#define STORE_NAME "store-fs"

/* Longest staging file name accepted from the host. */
#define STORE_STAGING_NAME_MAX 128

struct store_fs {
	const struct ups_plugin_services *svc;
	char staging_path[PATH_MAX];
	int data_fd;    /* the data directory; holds the flock */
	int blobs_fd;   /* blobs/sha256 */
	int staging_fd; /* staging */
	int tools_fd[UPS_STREAM__COUNT];
	int meta_fd; /* streams/v1 */
	/* Serializes put and remove: both decide from link counts and entries
	 * that the other changes. Reads (open_blob, free_space) do not take
	 * it. */
	pthread_mutex_t lock;
	/* Serializes meta_put and meta_remove (one temporary name per file);
	 * independent of the blobs. */
	pthread_mutex_t meta_lock;
	struct ups_fault fault;
};

/* Logs through the host when it offers a log function. */
__attribute__((format(printf, 3, 4))) static void
store_log(struct store_fs *s, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!s->svc || !s->svc->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->svc->log(level, STORE_NAME, "%s", line);
}

/* ENOSPC and EDQUOT are the operator's "disk full"; everything else is an
 * I/O failure of the store. */
static int store_errno_rv(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? UPS_ERR_NO_SPACE : UPS_ERR_IO;
}

static int store_fail(int e, char *err, size_t errlen, const char *what,
                      const char *name)
{
	return ups_errf(store_errno_rv(e), err, errlen, "%s %s: %s", what, name,
	                strerror(e));
}

static int store_fsync(struct store_fs *s, int fd)
{
	int e = ups_fault_hit(&s->fault, UPS_FAULT_FSYNC, 0);

	if (e) {
		errno = e;
		return -1;
	}
	return fsync(fd);
}

static int store_linkat(struct store_fs *s, int ofd, const char *oname, int nfd,
                        const char *nname)
{
	int e = ups_fault_hit(&s->fault, UPS_FAULT_LINK, 0);

	if (e) {
		errno = e;
		return -1;
	}
	return linkat(ofd, oname, nfd, nname, 0);
}

static int store_renameat(struct store_fs *s, int ofd, const char *oname,
                          int nfd, const char *nname)
{
	int e = ups_fault_hit(&s->fault, UPS_FAULT_RENAME, 0);

	if (e) {
		errno = e;
		return -1;
	}
	return renameat(ofd, oname, nfd, nname);
}

static int store_unlinkat(struct store_fs *s, int dfd, const char *name)
{
	int e = ups_fault_hit(&s->fault, UPS_FAULT_UNLINK, 0);

	if (e) {
		errno = e;
		return -1;
	}
	return unlinkat(dfd, name, 0);
}

/* Opens directory name under parent, creating it (and making the creation
 * durable) when missing. Returns the fd or -1 with errno. */
static int store_dir(struct store_fs *s, int parent, const char *name,
                     mode_t mode)
{
	int e = 0;

	if (mkdirat(parent, name, mode) == 0) {
		if (store_fsync(s, parent) < 0)
			return -1;
	} else if (errno != EEXIST) {
		return -1;
	}
	if ((e = ups_fault_hit(&s->fault, UPS_FAULT_MKDIR, 0))) {
		errno = e;
		return -1;
	}
	return openat(parent, name,
	              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* -------------------------------------------------------------------------
 * Validation of everything a path is built from. */

/* The name of stream index si (as store_stream_index() returns it). */
static const char *store_stream(int si)
{
	return ups_stream_name((enum ups_stream)si);
}

static int store_stream_index(const char *stream, char *err, size_t errlen)
{
	enum ups_stream st;

	if (!stream)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "stream missing");
	if (ups_stream_parse(stream, &st) != 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "stream must be " UPS_STREAM_NAMES_TEXT);
	return (int)st;
}

static int store_check_sha256(const char *hex, char *err, size_t errlen)
{
	if (!hex)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "sha256 missing");
	if (!ups_sha256_hex_is_valid(hex))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "sha256 must be 64 lowercase hex digits");
	return 0;
}

/* One path component of [A-Za-z0-9_.-], not starting with '.'. */
static int store_check_staging_name(const char *name, char *err, size_t errlen)
{
	size_t n;

	if (!name)
		goto bad;
	n = strnlen(name, STORE_STAGING_NAME_MAX + 1);
	if (n == 0 || n > STORE_STAGING_NAME_MAX || name[0] == '.')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			goto bad;
	}
	return 0;
bad:
	return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
	                "bad staging file name");
}

/* Validates stream and binary version and writes the Juju file name. */
static int store_juju_name(const char *stream, const char *bv, char *name,
                           size_t len, char *err, size_t errlen)
{
	int si = store_stream_index(stream, err, errlen);
	int rv;

	if (si < 0)
		return si;
	/* Only the canonical spelling, so one binary has one file name. */
	rv = ups_binary_version_check(bv, NULL, err, errlen);
	if (rv < 0)
		return rv;
	if ((size_t)snprintf(name, len, "juju-%s.tgz", bv) >= len)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version too long");
	return si;
}

#ifndef STORE_FS_ABI_10
/* One of the metadata names of the ABI (index2.json, index.json, or a
 * stream's products file), compared whole: nothing else reaches a path. */
static int store_check_meta_name(const char *name, char *err, size_t errlen)
{
	char products[64];

	if (!name)
		goto bad;
	if (strcmp(name, "index2.json") == 0 || strcmp(name, "index.json") == 0)
		return 0;
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++) {
		snprintf(products, sizeof(products),
		         "com.ubuntu.juju-%s-agents.json",
		         store_stream((int)i));
		if (strcmp(name, products) == 0)
			return 0;
	}
bad:
	return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
	                "not a metadata file name");
}
#endif

/* -------------------------------------------------------------------------
 * The sweep at open. */

/* Removes the regular files of directory dfd (borrowed) that gone() says
 * go; returns how many went. */
static unsigned store_sweep_dir(struct store_fs *s, int dfd,
                                bool (*gone)(const char *name,
                                             const struct stat *st))
{
	struct dirent *de;
	struct stat st;
	unsigned n = 0;
	int fd = dup(dfd);
	DIR *d;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || !gone(de->d_name, &st))
			continue;
		if (store_unlinkat(s, dfd, de->d_name) == 0)
			n++;
	}
	closedir(d);
	if (n)
		(void)fsync(dfd);
	return n;
}

/* A blob no name (and no staging file) refers to. */
static bool store_orphan_blob(const char *name, const struct stat *st)
{
	(void)name;
	return st->st_nlink == 1;
}

/* A replacement's temporary name left by a crash. */
static bool store_stale_tmp(const char *name, const struct stat *st)
{
	size_t n = strlen(name);

	(void)st;
	return name[0] == '.' && n > 4 && strcmp(name + n - 4, ".new") == 0;
}

/* A metadata file's temporary name left by a crash in meta_put. */
static bool store_stale_meta_tmp(const char *name, const struct stat *st)
{
	size_t n = strlen(name);

	(void)st;
	return name[0] == '.' && n > 4 && strcmp(name + n - 4, ".tmp") == 0;
}

/* Takes what a crash between two steps of put or remove left behind. Only
 * at open: no put runs, so a link count of 1 really means unreferenced. */
static void store_sweep(struct store_fs *s)
{
	unsigned blobs = 0, tmps = 0;
	char sub[3];
	int ab_fd;

	for (int i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%02x", i);
		ab_fd = openat(s->blobs_fd, sub,
		               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ab_fd < 0)
			continue;
		blobs += store_sweep_dir(s, ab_fd, store_orphan_blob);
		close(ab_fd);
	}
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++)
		tmps += store_sweep_dir(s, s->tools_fd[i], store_stale_tmp);
	tmps += store_sweep_dir(s, s->meta_fd, store_stale_meta_tmp);
	if (blobs || tmps)
		store_log(s, UPS_PLUGIN_LOG_INFO,
		          "removed %u unreferenced blobs and %u stale "
		          "temporary names",
		          blobs, tmps);
}

/* -------------------------------------------------------------------------
 * The ops. */

static void store_close(void *state);

static int store_open(const struct ups_plugin_services *svc,
                      const char *data_dir, void **state, char *err,
                      size_t errlen)
{
	struct store_fs *s;
	const char *spec = NULL;
	char ferr[128];
	int tools_fd = -1, blobs_top = -1, streams_fd = -1;
	int rv;

	*state = NULL;
	if (!data_dir || !*data_dir)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "data directory missing");
	s = calloc(1, sizeof(*s));
	if (!s)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	s->svc = svc;
	s->data_fd = s->blobs_fd = s->staging_fd = s->meta_fd = -1;
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++)
		s->tools_fd[i] = -1;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "cannot create a mutex");
	}
	if (pthread_mutex_init(&s->meta_lock, NULL) != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "cannot create a mutex");
	}

	if (svc &&
	    svc->struct_size >=
	        offsetof(struct ups_plugin_services, reserved) &&
	    svc->config_get)
		spec = svc->config_get(svc->host, "store-fs.fail");
	if (ups_fault_parse(&s->fault, spec, ferr, sizeof(ferr)) < 0) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "store-fs.fail: %s", ferr);
		goto fail;
	}
	if (s->fault.active)
		store_log(s, UPS_PLUGIN_LOG_WARN, "fault injection on: %s",
		          spec);

	if ((size_t)snprintf(s->staging_path, sizeof(s->staging_path),
	                     "%s/staging",
	                     data_dir) >= sizeof(s->staging_path)) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "data directory path too long");
		goto fail;
	}
	s->data_fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->data_fd < 0) {
		rv = store_fail(errno, err, errlen, "cannot open", data_dir);
		goto fail;
	}
	/* Two daemons on one store would each trust their own link counts. */
	if (flock(s->data_fd, LOCK_EX | LOCK_NB) < 0) {
		rv = ups_errf(errno == EWOULDBLOCK ? UPS_ERR_BUSY : UPS_ERR_IO,
		              err, errlen, "cannot lock %s: %s", data_dir,
		              errno == EWOULDBLOCK ? "in use by another process"
		                                   : strerror(errno));
		goto fail;
	}
	if ((blobs_top = store_dir(s, s->data_fd, "blobs", 0755)) < 0 ||
	    (s->blobs_fd = store_dir(s, blobs_top, "sha256", 0755)) < 0 ||
	    (tools_fd = store_dir(s, s->data_fd, "tools", 0755)) < 0 ||
	    (s->staging_fd = store_dir(s, s->data_fd, "staging", 0700)) < 0 ||
	    (streams_fd = store_dir(s, s->data_fd, "streams", 0755)) < 0 ||
	    (s->meta_fd = store_dir(s, streams_fd, "v1", 0755)) < 0) {
		rv = store_fail(errno, err, errlen, "cannot create store in",
		                data_dir);
		goto fail;
	}
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++) {
		s->tools_fd[i] =
		    store_dir(s, tools_fd, store_stream((int)i), 0755);
		if (s->tools_fd[i] < 0) {
			rv = store_fail(errno, err, errlen,
			                "cannot create tools/",
			                store_stream((int)i));
			goto fail;
		}
	}
	close(tools_fd);
	close(blobs_top);
	close(streams_fd);
	store_sweep(s);
	*state = s;
	return 0;

fail:
	if (streams_fd >= 0)
		close(streams_fd);
	if (tools_fd >= 0)
		close(tools_fd);
	if (blobs_top >= 0)
		close(blobs_top);
	store_close(s);
	return rv;
}

static void store_close(void *state)
{
	struct store_fs *s = state;

	if (!s)
		return;
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++)
		if (s->tools_fd[i] >= 0)
			close(s->tools_fd[i]);
	if (s->staging_fd >= 0)
		close(s->staging_fd);
	if (s->meta_fd >= 0)
		close(s->meta_fd);
	if (s->blobs_fd >= 0)
		close(s->blobs_fd);
	if (s->data_fd >= 0)
		close(s->data_fd); /* drops the flock */
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->meta_lock);
	free(s);
}

static const char *store_staging_dir(void *state)
{
	return ((struct store_fs *)state)->staging_path;
}

/* The temporary name a replacement is linked under before it is
 * renamed over jname: a dot file, which no Juju name is. */
static int store_tmp_name(const char *jname, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, ".%s.new", jname) < len ? 0 : -1;
}

/* Drops blob hex when no name refers to it any more (link count 1: only
 * the blob's own entry). Best effort: a failure leaves it for the sweep
 * at the next open. */
static void store_drop_blob(struct store_fs *s, const char *hex)
{
	char sub[3] = {hex[0], hex[1], '\0'};
	struct stat st;
	int ab_fd;

	ab_fd = openat(s->blobs_fd, sub,
	               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ab_fd < 0)
		return;
	if (fstatat(ab_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && st.st_nlink == 1) {
		if (store_unlinkat(s, ab_fd, hex) < 0 ||
		    store_fsync(s, ab_fd) < 0)
			store_log(s, UPS_PLUGIN_LOG_WARN,
			          "cannot remove blob %s: %s", hex,
			          strerror(errno));
	}
	close(ab_fd);
}

/* Puts the blob under the Juju name: a new link, or (replace) a rename
 * over whatever is there. The tools directory is fsynced either way (also
 * when the name was there already: a crash may have come between link
 * and fsync). */
static int store_put_name(struct store_fs *s, int ab_fd, const char *hex,
                          const struct stat *st_blob, int si, const char *jname,
                          bool replace, char *err, size_t errlen)
{
	int tfd = s->tools_fd[si];
	char tmp[UPS_LIMIT_BINARY_VERSION_LEN + 32];
	struct stat st_name;
	bool created = false;
	int rv;

	if (fstatat(tfd, jname, &st_name, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st_name.st_dev == st_blob->st_dev &&
	    st_name.st_ino == st_blob->st_ino) {
		/* Already this blob (idempotent). */
	} else if (replace) {
		if (store_tmp_name(jname, tmp, sizeof(tmp)) < 0)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "binary version too long");
		if (unlinkat(tfd, tmp, 0) < 0 && errno != ENOENT)
			return store_fail(errno, err, errlen, "cannot remove",
			                  tmp);
		if (store_linkat(s, ab_fd, hex, tfd, tmp) < 0)
			return store_fail(errno, err, errlen, "cannot link",
			                  tmp);
		if (store_renameat(s, tfd, tmp, tfd, jname) < 0) {
			rv = store_fail(errno, err, errlen, "cannot rename to",
			                jname);
			(void)unlinkat(tfd, tmp, 0);
			return rv;
		}
	} else if (store_linkat(s, ab_fd, hex, tfd, jname) == 0) {
		created = true;
	} else if (errno == EEXIST) {
		return ups_errf(UPS_ERR_CONFLICT, err, errlen,
		                "tools/%s/%s holds different content",
		                store_stream(si), jname);
	} else {
		return store_fail(errno, err, errlen, "cannot link", jname);
	}
	if (store_fsync(s, tfd) < 0) {
		rv = store_fail(errno, err, errlen, "fsync tools/",
		                store_stream(si));
		/* A new name may or may not survive a crash; take it back so
		 * the caller's error is the truth. A replacement cannot be
		 * taken back: the old bytes may be gone. */
		if (created && store_unlinkat(s, tfd, jname) == 0)
			(void)fsync(tfd);
		return rv;
	}
	return 0;
}

/* The locked part of put: blob, then Juju name, then (unless kept) the
 * staging file, each made durable before the next. */
static int store_put_locked(struct store_fs *s, const char *staging_name,
                            const char *hex, int si, const char *jname,
                            const char *old_hex, unsigned flags, char *err,
                            size_t errlen)
{
	char sub[3] = {hex[0], hex[1], '\0'};
	struct stat st_stage, st_blob;
	bool blob_created = false;
	int ab_fd = -1, sfd, rv;

	sfd = openat(s->staging_fd, staging_name,
	             O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		rv =
		    errno == ENOENT ? UPS_ERR_NOT_FOUND : store_errno_rv(errno);
		return ups_errf(rv, err, errlen, "staging file %s: %s",
		                staging_name, strerror(errno));
	}
	if (fstat(sfd, &st_stage) < 0 || !S_ISREG(st_stage.st_mode)) {
		rv = ups_errf(UPS_ERR_IO, err, errlen,
		              "staging file %s is not a regular file",
		              staging_name);
		goto close_sfd;
	}

	/* Blobs are immutable and readable by the operator's tools; the mode
	 * is not critical enough to fsync for (a crash at worst keeps 0600). */
	if (fchmod(sfd, 0444) < 0) {
		rv = store_fail(errno, err, errlen, "chmod staging file",
		                staging_name);
		goto close_sfd;
	}

	ab_fd = store_dir(s, s->blobs_fd, sub, 0755);
	if (ab_fd < 0) {
		rv = store_fail(errno, err, errlen,
		                "cannot create blobs/sha256/", sub);
		goto close_sfd;
	}

	/* 1. The blob. EEXIST means the content is already stored (dedup) or
	 * an earlier put of this very file got this far before a crash. */
	if (store_linkat(s, s->staging_fd, staging_name, ab_fd, hex) == 0) {
		blob_created = true;
		if (store_fsync(s, ab_fd) < 0) {
			rv = store_fail(errno, err, errlen,
			                "fsync blobs/sha256/", sub);
			goto undo_blob;
		}
	} else if (errno != EEXIST) {
		rv = store_fail(errno, err, errlen, "cannot store blob", hex);
		goto close_ab;
	}
	if (fstatat(ab_fd, hex, &st_blob, AT_SYMLINK_NOFOLLOW) < 0) {
		rv = store_fail(errno, err, errlen, "cannot stat blob", hex);
		goto undo_blob;
	}
	if (st_blob.st_size != st_stage.st_size) {
		rv = ups_errf(UPS_ERR_IO, err, errlen,
		              "stored blob %s has %lld bytes, upload has %lld",
		              hex, (long long)st_blob.st_size,
		              (long long)st_stage.st_size);
		goto undo_blob;
	}

	/* 2. The Juju name. */
	rv = store_put_name(s, ab_fd, hex, &st_blob, si, jname,
	                    (flags & UPS_STORE_PUT_REPLACE) != 0, err, errlen);
	if (rv)
		goto undo_blob;
	if (old_hex && strcmp(old_hex, hex) != 0)
		store_drop_blob(s, old_hex);

	/* 3. The staging file is consumed, unless the host keeps it. The
	 * binary is stored whatever happens here, so a failure only leaves
	 * garbage for the host's staging sweep. */
	if (!(flags & UPS_STORE_PUT_KEEP_STAGING) &&
	    (store_unlinkat(s, s->staging_fd, staging_name) < 0 ||
	     store_fsync(s, s->staging_fd) < 0))
		store_log(s, UPS_PLUGIN_LOG_WARN,
		          "stored %s but cannot remove staging/%s: %s", jname,
		          staging_name, strerror(errno));
	rv = 0;
	goto close_ab;

undo_blob:
	if (blob_created && store_unlinkat(s, ab_fd, hex) == 0)
		(void)fsync(ab_fd);
close_ab:
	close(ab_fd);
close_sfd:
	close(sfd);
	return rv;
}

static int store_put_flags(void *state, const char *staging_name,
                           const char *sha256_hex, const char *stream,
                           const char *binary_version,
                           const char *old_sha256_hex, unsigned flags,
                           char *err, size_t errlen)
{
	struct store_fs *s = state;
	char jname[UPS_LIMIT_BINARY_VERSION_LEN + 16];
	int si, rv;

	if ((rv = store_check_staging_name(staging_name, err, errlen)) < 0 ||
	    (rv = store_check_sha256(sha256_hex, err, errlen)) < 0 ||
	    (old_sha256_hex &&
	     (rv = store_check_sha256(old_sha256_hex, err, errlen)) < 0))
		return rv;
	si = store_juju_name(stream, binary_version, jname, sizeof(jname), err,
	                     errlen);
	if (si < 0)
		return si;
	pthread_mutex_lock(&s->lock);
	rv = store_put_locked(s, staging_name, sha256_hex, si, jname,
	                      old_sha256_hex, flags, err, errlen);
	pthread_mutex_unlock(&s->lock);
	if (rv == 0)
		store_log(s, UPS_PLUGIN_LOG_DEBUG, "stored tools/%s/%s as %s",
		          stream, jname, sha256_hex);
	return rv;
}

static int store_put(void *state, const char *staging_name,
                     const char *sha256_hex, const char *stream,
                     const char *binary_version, char *err, size_t errlen)
{
	return store_put_flags(state, staging_name, sha256_hex, stream,
	                       binary_version, NULL, 0, err, errlen);
}

#ifndef STORE_FS_ABI_10
static int store_holds(void *state, const char *stream,
                       const char *binary_version, const char *sha256_hex,
                       char *err, size_t errlen)
{
	struct store_fs *s = state;
	char jname[UPS_LIMIT_BINARY_VERSION_LEN + 16];
	char path[3 + UPS_SHA256_HEX_LEN + 1];
	struct stat st_name, st_blob;
	int si, rv;

	if ((rv = store_check_sha256(sha256_hex, err, errlen)) < 0)
		return rv;
	si = store_juju_name(stream, binary_version, jname, sizeof(jname), err,
	                     errlen);
	if (si < 0)
		return si;
	if (fstatat(s->tools_fd[si], jname, &st_name, AT_SYMLINK_NOFOLLOW) <
	    0) {
		if (errno == ENOENT)
			return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
			                "no tools/%s/%s", stream, jname);
		return store_fail(errno, err, errlen, "cannot stat", jname);
	}
	snprintf(path, sizeof(path), "%c%c/%s", sha256_hex[0], sha256_hex[1],
	         sha256_hex);
	if (fstatat(s->blobs_fd, path, &st_blob, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st_blob.st_dev != st_name.st_dev ||
	    st_blob.st_ino != st_name.st_ino)
		return ups_errf(UPS_ERR_CONFLICT, err, errlen,
		                "tools/%s/%s does not hold %s", stream, jname,
		                sha256_hex);
	return 0;
}
#endif

static int store_open_blob(void *state, const char *stream,
                           const char *binary_version, int *fd, uint64_t *size,
                           char *err, size_t errlen)
{
	struct store_fs *s = state;
	char jname[UPS_LIMIT_BINARY_VERSION_LEN + 16];
	struct stat st;
	int si, f, e;

	*fd = -1;
	si = store_juju_name(stream, binary_version, jname, sizeof(jname), err,
	                     errlen);
	if (si < 0)
		return si;
	if ((e = ups_fault_hit(&s->fault, UPS_FAULT_OPEN, 0)))
		return store_fail(e, err, errlen, "cannot open", jname);
	f = openat(s->tools_fd[si], jname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0) {
		if (errno == ENOENT)
			return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
			                "no %s in %s", binary_version, stream);
		return store_fail(errno, err, errlen, "cannot open", jname);
	}
	if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "%s is not a regular file", jname);
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int store_remove_locked(struct store_fs *s, int si, const char *jname,
                               const char *hex, char *err, size_t errlen)
{
	char sub[3];
	struct stat st_name, st_blob;
	int ab_fd;

	if (fstatat(s->tools_fd[si], jname, &st_name, AT_SYMLINK_NOFOLLOW) <
	    0) {
		if (errno == ENOENT)
			return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
			                "no tools/%s/%s", store_stream(si),
			                jname);
		return store_fail(errno, err, errlen, "cannot stat", jname);
	}
	if (store_unlinkat(s, s->tools_fd[si], jname) < 0 ||
	    store_fsync(s, s->tools_fd[si]) < 0)
		return store_fail(errno, err, errlen, "cannot remove", jname);
	/* Without a sha256 the blob is not known here: the sweep at the next
	 * open takes it if nothing else names it. */
	if (!hex)
		return 0;
	sub[0] = hex[0];
	sub[1] = hex[1];
	sub[2] = '\0';

	/* The blob goes when it is the same file and nothing else names it.
	 * A missing or different blob is left alone: the name is gone, which
	 * is what the caller asked for. */
	ab_fd = openat(s->blobs_fd, sub,
	               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ab_fd < 0)
		return 0;
	if (fstatat(ab_fd, hex, &st_blob, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st_blob.st_dev == st_name.st_dev &&
	    st_blob.st_ino == st_name.st_ino && st_blob.st_nlink == 1) {
		if (store_unlinkat(s, ab_fd, hex) < 0 ||
		    store_fsync(s, ab_fd) < 0)
			store_log(s, UPS_PLUGIN_LOG_WARN,
			          "removed %s but not its blob %s: %s", jname,
			          hex, strerror(errno));
	}
	close(ab_fd);
	return 0;
}

static int store_remove(void *state, const char *stream,
                        const char *binary_version, const char *sha256_hex,
                        char *err, size_t errlen)
{
	struct store_fs *s = state;
	char jname[UPS_LIMIT_BINARY_VERSION_LEN + 16];
	int si, rv;

	if (sha256_hex &&
	    (rv = store_check_sha256(sha256_hex, err, errlen)) < 0)
		return rv;
	si = store_juju_name(stream, binary_version, jname, sizeof(jname), err,
	                     errlen);
	if (si < 0)
		return si;
	pthread_mutex_lock(&s->lock);
	rv = store_remove_locked(s, si, jname, sha256_hex, err, errlen);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

static int store_free_space(void *state, uint64_t *bytes, char *err,
                            size_t errlen)
{
	struct store_fs *s = state;
	struct statvfs vfs;

	if (s->fault.has_free) {
		*bytes = s->fault.free_bytes;
		return 0;
	}
	if (fstatvfs(s->data_fd, &vfs) < 0)
		return store_fail(errno, err, errlen, "statvfs",
		                  "data directory");
	*bytes = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	return 0;
}

#ifndef STORE_FS_ABI_10
/* The content of the Juju name, if it is the blob hex: the name is opened
 * first, then compared with the blob by inode, so the fd holds exactly
 * those bytes (blobs are immutable) even if the name changes later. */
static int store_open_held(void *state, const char *stream,
                           const char *binary_version, const char *sha256_hex,
                           int *fd, uint64_t *size, char *err, size_t errlen)
{
	struct store_fs *s = state;
	char path[3 + UPS_SHA256_HEX_LEN + 1];
	struct stat st_name, st_blob;
	int rv;

	*fd = -1;
	if ((rv = store_check_sha256(sha256_hex, err, errlen)) < 0)
		return rv;
	rv = store_open_blob(state, stream, binary_version, fd, size, err,
	                     errlen);
	if (rv)
		return rv;
	snprintf(path, sizeof(path), "%c%c/%s", sha256_hex[0], sha256_hex[1],
	         sha256_hex);
	if (fstat(*fd, &st_name) < 0 ||
	    fstatat(s->blobs_fd, path, &st_blob, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st_blob.st_dev != st_name.st_dev ||
	    st_blob.st_ino != st_name.st_ino) {
		close(*fd);
		*fd = -1;
		return ups_errf(UPS_ERR_CONFLICT, err, errlen,
		                "tools/%s/juju-%s.tgz does not hold %s", stream,
		                binary_version, sha256_hex);
	}
	return 0;
}

/* Writes all of data to fd, counting bytes against the write fault. */
static int store_write_all(struct store_fs *s, int fd, const char *data,
                           size_t len)
{
	while (len > 0) {
		size_t n = len > (1u << 20) ? (1u << 20) : len;
		ssize_t w;
		int e = ups_fault_hit(&s->fault, UPS_FAULT_WRITE, n);

		if (e) {
			errno = e;
			return -1;
		}
		w = write(fd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Writes data to the temporary name tmp and fsyncs it; 0 or an error
 * (the temporary file then removed). */
static int store_meta_write_tmp(struct store_fs *s, const char *tmp,
                                const void *data, size_t len, char *err,
                                size_t errlen)
{
	int fd, e, rv;

	if ((e = ups_fault_hit(&s->fault, UPS_FAULT_OPEN, 0)))
		return store_fail(e, err, errlen, "cannot create", tmp);
	fd =
	    openat(s->meta_fd, tmp,
	           O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return store_fail(errno, err, errlen, "cannot create", tmp);
	if (store_write_all(s, fd, data, len) < 0)
		rv = store_fail(errno, err, errlen, "cannot write", tmp);
	else if (store_fsync(s, fd) < 0)
		rv = store_fail(errno, err, errlen, "cannot fsync", tmp);
	else
		rv = 0;
	if (close(fd) < 0 && rv == 0)
		rv = store_fail(errno, err, errlen, "cannot close", tmp);
	if (rv)
		(void)unlinkat(s->meta_fd, tmp, 0);
	return rv;
}

/* The temporary name of metadata file name. */
static void store_meta_tmp(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, ".%s.tmp", name);
}

/* Every file to its temporary name, durably; then the renames in order;
 * then the directory once. */
static int store_meta_put_locked(struct store_fs *s,
                                 const struct ups_store_meta_file *files,
                                 size_t n, char *err, size_t errlen)
{
	char tmp[80];
	size_t written = 0, renamed = 0;
	int rv = 0;

	/* files[0..written) are complete temporary files. */
	while (written < n) {
		store_meta_tmp(files[written].name, tmp, sizeof(tmp));
		rv = store_meta_write_tmp(
		    s, tmp, files[written].data ? files[written].data : "",
		    files[written].len, err, errlen);
		if (rv)
			break;
		written++;
	}
	/* files[0..renamed) are in place. */
	while (!rv && renamed < n) {
		store_meta_tmp(files[renamed].name, tmp, sizeof(tmp));
		if (store_renameat(s, s->meta_fd, tmp, s->meta_fd,
		                   files[renamed].name) < 0) {
			rv = store_fail(errno, err, errlen, "cannot rename to",
			                files[renamed].name);
			break;
		}
		renamed++;
	}
	/* What was written and not renamed goes. */
	for (size_t i = renamed; i < written; i++) {
		store_meta_tmp(files[i].name, tmp, sizeof(tmp));
		(void)unlinkat(s->meta_fd, tmp, 0);
	}
	/* What was renamed must become durable, failure or not (a crash
	 * before this fsync shows the old files). */
	if (renamed > 0 && store_fsync(s, s->meta_fd) < 0 && !rv)
		rv = store_fail(errno, err, errlen, "cannot fsync",
		                "streams/v1");
	return rv;
}

static int store_meta_put(void *state, const struct ups_store_meta_file *files,
                          size_t n, char *err, size_t errlen)
{
	struct store_fs *s = state;
	int rv;

	if (!files || n == 0 || n > UPS_STORE_META_FILES_MAX)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "1 to %d metadata files at a time",
		                UPS_STORE_META_FILES_MAX);
	for (size_t i = 0; i < n; i++) {
		if ((rv = store_check_meta_name(files[i].name, err, errlen)) <
		    0)
			return rv;
		if (!files[i].data && files[i].len > 0)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "no data for %s", files[i].name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(files[i].name, files[j].name) == 0)
				return ups_errf(UPS_ERR_BAD_REQUEST, err,
				                errlen, "%s given twice",
				                files[i].name);
	}
	pthread_mutex_lock(&s->meta_lock);
	rv = store_meta_put_locked(s, files, n, err, errlen);
	pthread_mutex_unlock(&s->meta_lock);
	return rv;
}

static int store_meta_remove(void *state, const char *name, char *err,
                             size_t errlen)
{
	struct store_fs *s = state;
	int rv = 0;

	if ((rv = store_check_meta_name(name, err, errlen)) < 0)
		return rv;
	pthread_mutex_lock(&s->meta_lock);
	if (store_unlinkat(s, s->meta_fd, name) < 0)
		rv = errno == ENOENT ? ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                                "no streams/v1/%s", name)
		                     : store_fail(errno, err, errlen,
		                                  "cannot remove", name);
	else if (store_fsync(s, s->meta_fd) < 0)
		rv = store_fail(errno, err, errlen, "fsync streams/v1 for",
		                name);
	pthread_mutex_unlock(&s->meta_lock);
	return rv;
}

static int store_meta_open(void *state, const char *name, int *fd,
                           uint64_t *size, char *err, size_t errlen)
{
	struct store_fs *s = state;
	struct stat st;
	int f, e, rv;

	*fd = -1;
	if ((rv = store_check_meta_name(name, err, errlen)) < 0)
		return rv;
	if ((e = ups_fault_hit(&s->fault, UPS_FAULT_OPEN, 0)))
		return store_fail(e, err, errlen, "cannot open", name);
	f = openat(s->meta_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0) {
		if (errno == ENOENT)
			return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
			                "no streams/v1/%s", name);
		return store_fail(errno, err, errlen, "cannot open", name);
	}
	if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "streams/v1/%s is not a regular file", name);
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}
#endif

/* STORE_FS_ABI_10 builds this store as an ABI 1.0 plugin would be (tests
 * of the host's fallbacks for older plugins). */
static const struct ups_store_ops store_fs_ops = {
#ifdef STORE_FS_ABI_10
    .struct_size = offsetof(struct ups_store_ops, put2),
#else
    .struct_size = sizeof(struct ups_store_ops),
#endif
    .open = store_open,
    .close = store_close,
    .staging_dir = store_staging_dir,
    .put = store_put,
    .open_blob = store_open_blob,
    .remove = store_remove,
    .free_space = store_free_space,
#ifndef STORE_FS_ABI_10
    .put2 = store_put_flags,
    .holds = store_holds,
    .meta_put = store_meta_put,
    .meta_remove = store_meta_remove,
    .meta_open = store_meta_open,
    .open_held = store_open_held,
#endif
};

UPS_PLUGIN_EXPORT const struct ups_plugin_descriptor upstage_plugin_descriptor =
    {
        .abi_major = UPS_PLUGIN_ABI_MAJOR,
#ifdef STORE_FS_ABI_10
        .abi_minor = 0,
#else
        .abi_minor = UPS_PLUGIN_ABI_MINOR,
#endif
        .struct_size = sizeof(struct ups_plugin_descriptor),
        .kind = UPS_PLUGIN_KIND_STORE,
        .name = STORE_NAME,
        .version = UPSTAGE_VERSION,
        .ops = &store_fs_ops,
};
