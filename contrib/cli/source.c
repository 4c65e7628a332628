/* Agent binary sources; see source.h. Synchronous file I/O: this is the
 * CLI, before any connection exists. */
#include "contrib/cli/source.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/binary.h"
#include "proto/errors.h"

/* Hashing reads through one buffer of this size, whatever the file size. */
#define SOURCE_READ_BUF (1024 * 1024)

int source_file_path(const char *dir, const struct ups_ss_item *it, char *buf,
                     size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dir, it->path);

	return n < 0 || (size_t)n >= len ? UPS_ERR_TOO_LARGE : 0;
}

const char *source_root(const char *dir, char *buf, size_t len)
{
	char probe[PATH_MAX];
	struct stat st;

	if (snprintf(probe, sizeof(probe), "%s/streams/v1", dir) <
	        (int)sizeof(probe) &&
	    stat(probe, &st) == 0)
		return dir;
	if (snprintf(probe, sizeof(probe), "%s/tools/streams/v1", dir) >=
	        (int)sizeof(probe) ||
	    stat(probe, &st) != 0 ||
	    snprintf(buf, len, "%s/tools", dir) >= (int)len)
		return dir;
	return buf;
}

/* Reads all of path (at most max bytes) into a malloc'd buffer. */
static int source_slurp(const char *path, size_t max, char **out, size_t *len,
                        char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	ssize_t n;
	int fd, rv;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ups_errf(
		    errno == ENOENT ? UPS_ERR_NOT_FOUND : UPS_ERR_IO, err,
		    errlen, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rv = ups_errf(UPS_ERR_IO, err, errlen,
		              "%s is not a readable regular file", path);
		goto out_close;
	}
	if ((uint64_t)st.st_size > max) {
		rv = ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		              "%s is larger than %zu bytes", path, max);
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		              "out of memory reading %s", path);
		goto out_close;
	}
	/* The size may change under us; never read past what we allocated. */
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*out = buf;
	*len = got;
	rv = 0;
out_close:
	close(fd);
	return rv;
}

static int source_scan_streams(const char *dir, const char *index_path,
                               const char *stream, struct ups_ss_list *out,
                               ups_ss_warn_cb warn, void *warn_data, char *err,
                               size_t errlen)
{
	char rel[UPS_SS_PATH_MAX + 1], path[PATH_MAX], detail[UPS_ERRMSG_MAX];
	char *buf;
	size_t len;
	int rv;

	rv = source_slurp(index_path, UPS_SS_INDEX_MAX_BYTES, &buf, &len, err,
	                  errlen);
	if (rv)
		return rv;
	rv = ups_ss_parse_index(buf, len, stream, rel, sizeof(rel), detail,
	                        sizeof(detail));
	free(buf);
	if (rv)
		return ups_errf(rv, err, errlen, "%s: %s", index_path, detail);
	if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >=
	    (int)sizeof(path))
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "%s/%s: path too long", dir, rel);
	rv = source_slurp(path, UPS_SS_PRODUCTS_MAX_BYTES, &buf, &len, err,
	                  errlen);
	if (rv)
		return rv;
	rv = ups_ss_parse_products(buf, len, stream, out, warn, warn_data,
	                           detail, sizeof(detail));
	free(buf);
	if (rv)
		return ups_errf(rv, err, errlen, "%s: %s", path, detail);
	return 0;
}

static int source_scan_tarballs(const char *dir, struct ups_ss_list *out,
                                ups_ss_warn_cb warn, void *warn_data, char *err,
                                size_t errlen)
{
	static const char prefix[] = "juju-", suffix[] = ".tgz";
	const size_t plen = sizeof(prefix) - 1, slen = sizeof(suffix) - 1;
	char name[UPS_LIMIT_BINARY_VERSION_LEN + 1], perr[UPS_ERRMSG_MAX];
	char path[PATH_MAX];
	struct ups_ss_list found = {0};
	struct ups_binary_version bv;
	struct dirent *de;
	struct ups_ss_item it;
	struct stat st;
	size_t len;
	bool dup;
	DIR *d;
	int rv = 0;

	d = opendir(dir);
	if (!d)
		return ups_errf(errno == ENOENT ? UPS_ERR_NOT_FOUND
		                                : UPS_ERR_IO,
		                err, errlen, "cannot read directory %s: %s",
		                dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= plen + slen ||
		    strncmp(de->d_name, prefix, plen) != 0 ||
		    strcmp(de->d_name + len - slen, suffix) != 0)
			continue;
		if (len - plen - slen >= sizeof(name)) {
			ups_ss_warn(warn, warn_data,
			            "%.100s... skipped: name too long",
			            de->d_name);
			continue;
		}
		memcpy(name, de->d_name + plen, len - plen - slen);
		name[len - plen - slen] = '\0';
		if (ups_binary_version_parse(name, &bv, perr, sizeof(perr))) {
			ups_ss_warn(warn, warn_data,
			            "%s skipped: not juju-<binary version>.tgz "
			            "(%s)",
			            de->d_name, perr);
			continue;
		}
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		        (int)sizeof(path) ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size <= 0) {
			ups_ss_warn(warn, warn_data,
			            "%s skipped: not a non-empty regular file",
			            de->d_name);
			continue;
		}
		memset(&it, 0, sizeof(it));
		ups_binary_version_format(&bv, it.binary_version,
		                          sizeof(it.binary_version));
		ups_version_format(&bv.version, it.version, sizeof(it.version));
		snprintf(it.release, sizeof(it.release), "%s", bv.release);
		snprintf(it.arch, sizeof(it.arch), "%s", bv.arch);
		snprintf(it.path, sizeof(it.path), "%s", de->d_name);
		it.size = (uint64_t)st.st_size;
		dup = false;
		for (size_t i = 0; i < found.n && !dup; i++)
			dup = strcmp(found.items[i].binary_version,
			             it.binary_version) == 0;
		if (dup) {
			ups_ss_warn(warn, warn_data,
			            "%s skipped: another file already gives "
			            "%s",
			            de->d_name, it.binary_version);
			continue;
		}
		rv = ups_ss_list_append(&found, &it);
		if (rv) {
			ups_errf(rv, err, errlen, "%s: too many agent binaries",
			         dir);
			goto out;
		}
	}
	ups_ss_list_sort(&found);
	for (size_t i = 0; i < found.n; i++) {
		rv = ups_ss_list_append(out, &found.items[i]);
		if (rv) {
			ups_errf(rv, err, errlen, "%s: too many agent binaries",
			         dir);
			goto out;
		}
	}
out:
	ups_ss_list_free(&found);
	closedir(d);
	return rv;
}

int source_scan(const char *dir, const char *stream, struct ups_ss_list *out,
                enum source_kind *kind, ups_ss_warn_cb warn, void *warn_data,
                char *err, size_t errlen)
{
	static const char *const indexes[] = {"streams/v1/index2.json",
	                                      "streams/v1/index.json"};
	char path[PATH_MAX];
	struct stat st;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                "source %s is not a directory", dir);
	for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, indexes[i]) >=
		    (int)sizeof(path))
			return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
			                "source path too long");
		if (stat(path, &st) != 0)
			continue;
		*kind = SOURCE_SIMPLESTREAMS;
		return source_scan_streams(dir, path, stream, out, warn,
		                           warn_data, err, errlen);
	}
	*kind = SOURCE_TARBALLS;
	return source_scan_tarballs(dir, out, warn, warn_data, err, errlen);
}

/* SHA-256 and size of the file at path. */
static int source_hash(const char *path, char sha[UPS_SHA256_HEX_LEN + 1],
                       uint64_t *size, char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *md_ctx;
	unsigned char *buf;
	uint64_t total = 0;
	ssize_t n;
	int fd, rv;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ups_errf(UPS_ERR_IO, err, errlen, "cannot open %s: %s",
		                path, strerror(errno));
	buf = malloc(SOURCE_READ_BUF);
	md_ctx = EVP_MD_CTX_new();
	if (!buf || !md_ctx) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto out;
	}
	if (EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) != 1) {
		rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
		              "cannot initialise SHA-256");
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		n = read(fd, buf, SOURCE_READ_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = ups_errf(UPS_ERR_IO, err, errlen,
			              "cannot read %s: %s", path,
			              strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(md_ctx, buf, (size_t)n) != 1) {
			rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
			              "SHA-256 update failed");
			goto out;
		}
		total += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(md_ctx, md, &mdlen) != 1 || mdlen != 32) {
		rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
		              "SHA-256 final failed");
		goto out;
	}
	ups_sha256_hex_encode(md, sha);
	*size = total;
	rv = 0;
out:
	EVP_MD_CTX_free(md_ctx);
	free(buf);
	close(fd);
	return rv;
}

int source_check(const char *dir, enum source_kind kind,
                 const struct ups_ss_item *it, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;

	if (source_file_path(dir, it, path, sizeof(path)))
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "%s/%s: path too long", dir, it->path);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "%s (for %s) is missing or not a regular file",
		                path, it->binary_version);
	/* A wrong size is refused without reading the whole file. */
	if (kind == SOURCE_SIMPLESTREAMS && (uint64_t)st.st_size != it->size)
		return ups_errf(UPS_ERR_SIZE_MISMATCH, err, errlen,
		                "%s (for %s) is %lld bytes but the metadata "
		                "says %llu; refusing to upload it",
		                path, it->binary_version, (long long)st.st_size,
		                (unsigned long long)it->size);
	if (kind == SOURCE_TARBALLS && (uint64_t)st.st_size != it->size)
		return ups_errf(UPS_ERR_SIZE_MISMATCH, err, errlen,
		                "%s changed size since it was found", path);
	return 0;
}

int source_verify(const char *dir, enum source_kind kind,
                  struct ups_ss_item *it, char *err, size_t errlen)
{
	char path[PATH_MAX], sha[UPS_SHA256_HEX_LEN + 1];
	uint64_t size = 0;
	int rv;

	rv = source_check(dir, kind, it, err, errlen);
	if (rv)
		return rv;
	if (source_file_path(dir, it, path, sizeof(path)))
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "%s/%s: path too long", dir, it->path);
	rv = source_hash(path, sha, &size, err, errlen);
	if (rv)
		return rv;
	if (kind == SOURCE_TARBALLS) {
		it->size = size;
		memcpy(it->sha256, sha, sizeof(sha));
		if (size == 0)
			return ups_errf(UPS_ERR_SIZE_MISMATCH, err, errlen,
			                "%s is empty", path);
		return 0;
	}
	if (size != it->size)
		return ups_errf(UPS_ERR_SIZE_MISMATCH, err, errlen,
		                "%s (for %s) changed size while being read",
		                path, it->binary_version);
	if (strcmp(sha, it->sha256) != 0)
		return ups_errf(UPS_ERR_CHECKSUM_MISMATCH, err, errlen,
		                "%s (for %s) has SHA-256 %s but the metadata "
		                "says %s; refusing to upload it",
		                path, it->binary_version, sha, it->sha256);
	return 0;
}

int source_upload_token(const char *path, const struct stat *st, char *out,
                        size_t outlen, char *err, size_t errlen)
{
	char real[PATH_MAX], host[256], hex[UPS_SHA256_HEX_LEN + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx;
	char ident[128];
	int ok;

	if (outlen < SOURCE_TOKEN_LEN + 1)
		return ups_errf(UPS_ERR_INTERNAL, err, errlen,
		                "token buffer too small");
	if (!realpath(path, real))
		return ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", path,
		                strerror(errno));
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	snprintf(ident, sizeof(ident), "%llu:%llu:%lld:%lld.%09ld",
	         (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
	         (long long)st->st_size, (long long)st->st_mtim.tv_sec,
	         (long)st->st_mtim.tv_nsec);
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, "upstage upload-token 1\n", 23) &&
	     EVP_DigestUpdate(ctx, host, strlen(host) + 1) &&
	     EVP_DigestUpdate(ctx, real, strlen(real) + 1) &&
	     EVP_DigestUpdate(ctx, ident, strlen(ident)) &&
	     EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return ups_errf(UPS_ERR_INTERNAL, err, errlen,
		                "SHA-256 failed");
	ups_sha256_hex_encode(md, hex);
	memcpy(out, hex, SOURCE_TOKEN_LEN);
	out[SOURCE_TOKEN_LEN] = '\0';
	return 0;
}

/* Counts the dot-separated numeric components of an all-digits-and-dots
 * string; -1 if s has anything else. */
static int source_numeric_parts(const char *s)
{
	int parts = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; *s; s++) {
		if (*s == '.') {
			if (!isdigit((unsigned char)s[1]))
				return -1;
			parts++;
		} else if (!isdigit((unsigned char)*s)) {
			return -1;
		}
	}
	return parts;
}

int source_filter_parse(const char *s, struct source_filter *f, char *err,
                        size_t errlen)
{
	static const char forms[] =
	    "give major[.minor] (every patch of that series) or a full "
	    "version with a build number (exactly that one)";
	char perr[UPS_ERRMSG_MAX], text[UPS_LIMIT_VERSION_LEN + 8];
	const char *dash;
	int parts;

	memset(f, 0, sizeof(*f));
	parts = source_numeric_parts(s);
	if (parts == 1) {
		snprintf(text, sizeof(text), "%.*s.0", UPS_LIMIT_VERSION_LEN,
		         s);
		if (ups_version_parse(text, &f->v, perr, sizeof(perr)) == 0) {
			f->kind = SOURCE_FILTER_MAJOR;
			return 0;
		}
	} else if (parts == 2) {
		if (ups_version_parse(s, &f->v, perr, sizeof(perr)) == 0) {
			f->kind = SOURCE_FILTER_MINOR;
			return 0;
		}
	} else if (parts == 4) {
		if (ups_version_parse(s, &f->v, perr, sizeof(perr)) == 0) {
			f->kind = SOURCE_FILTER_EXACT;
			return 0;
		}
	} else if (parts == 3) {
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "--agent-version %.64s: %s: use %.*s or "
		                "%.64s.1, not %.64s",
		                s, forms, (int)(strrchr(s, '.') - s), s, s, s);
	} else if (parts < 0 && (dash = strchr(s, '-')) != NULL &&
	           strchr(dash, '.') != NULL &&
	           ups_version_parse(s, &f->v, perr, sizeof(perr)) == 0) {
		/* A tagged version with a build: 2.9-beta1.1. */
		f->kind = SOURCE_FILTER_EXACT;
		return 0;
	} else if (parts < 0 &&
	           ups_version_parse(s, &f->v, perr, sizeof(perr)) == 0) {
		/* A tagged version without its build: 2.9-beta1. */
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "--agent-version %.64s: %s: use %u.%u or "
		                "%.64s.1, not %.64s",
		                s, forms, f->v.major, f->v.minor, s, s);
	}
	return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
	                "--agent-version \"%.64s\": %s, e.g. 2.9 or 2.9.1.1", s,
	                forms);
}

bool source_filter_match(const struct source_filter *f,
                         const struct ups_version *v)
{
	switch (f->kind) {
	case SOURCE_FILTER_MAJOR:
		return v->major == f->v.major;
	case SOURCE_FILTER_MINOR:
		return v->major == f->v.major && v->minor == f->v.minor;
	case SOURCE_FILTER_EXACT:
		return ups_version_compare(v, &f->v) == 0;
	}
	return false;
}

/* Keeps the items for which keep() is true, in order. */
static void source_keep(struct ups_ss_list *l,
                        bool (*keep)(const void *arg,
                                     const struct ups_version *v),
                        const void *arg)
{
	char perr[UPS_ERRMSG_MAX];
	struct ups_version v;
	size_t j = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (ups_version_parse(l->items[i].version, &v, perr,
		                      sizeof(perr)) != 0 ||
		    !keep(arg, &v))
			continue;
		l->items[j++] = l->items[i];
	}
	l->n = j;
}

static bool source_keep_filter(const void *arg, const struct ups_version *v)
{
	return source_filter_match(arg, v);
}

static bool source_keep_equal(const void *arg, const struct ups_version *v)
{
	return ups_version_compare(arg, v) == 0;
}

void source_filter_apply(struct ups_ss_list *l, const struct source_filter *f)
{
	if (f)
		source_keep(l, source_keep_filter, f);
}

void source_keep_version(struct ups_ss_list *l, const struct ups_version *v)
{
	source_keep(l, source_keep_equal, v);
}

int source_versions(const struct ups_ss_list *l, struct ups_version **out,
                    size_t *n)
{
	char perr[UPS_ERRMSG_MAX];
	struct ups_version *vs;
	struct ups_version v;
	size_t count = 0;
	bool seen;

	*out = NULL;
	*n = 0;
	if (l->n == 0)
		return 0;
	vs = calloc(l->n, sizeof(*vs));
	if (!vs)
		return UPS_ERR_NO_MEMORY;
	for (size_t i = 0; i < l->n; i++) {
		if (ups_version_parse(l->items[i].version, &v, perr,
		                      sizeof(perr)) != 0)
			continue;
		seen = false;
		for (size_t j = 0; j < count && !seen; j++)
			seen = ups_version_compare(&vs[j], &v) == 0;
		if (!seen)
			vs[count++] = v;
	}
	*out = vs;
	*n = count;
	return 0;
}

int source_parse_juju_version(const char *text, struct ups_version *v)
{
	char word[UPS_LIMIT_BINARY_VERSION_LEN + 1], perr[UPS_ERRMSG_MAX];
	struct ups_binary_version bv;
	size_t len = 0;

	while (isspace((unsigned char)*text))
		text++;
	while (text[len] && !isspace((unsigned char)text[len]) &&
	       len < sizeof(word) - 1)
		len++;
	if (len == 0 || (text[len] && !isspace((unsigned char)text[len])))
		return UPS_ERR_BAD_REQUEST;
	memcpy(word, text, len);
	word[len] = '\0';
	if (ups_binary_version_parse(word, &bv, perr, sizeof(perr)) == 0) {
		*v = bv.version;
		return 0;
	}
	return ups_version_parse(word, v, perr, sizeof(perr)) == 0
	           ? 0
	           : UPS_ERR_BAD_REQUEST;
}
