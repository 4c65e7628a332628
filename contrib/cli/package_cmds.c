/* make-simplestreams (package_cmds.h). */
#include "contrib/cli/package_cmds.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "contrib/cli/output.h"
#include "contrib/cli/source.h"
#include "proto/binary.h"
#include "proto/digest.h"
#include "proto/errors.h"
#include "proto/simplestreams.h"
#include "proto/version.h"

/* Platforms one run packages at most. */
#define PCMD_PLATFORMS_MAX 32
/* The tree's directories are at most this long, so that every path
 * under them fits PATH_MAX. */
#define PCMD_DIR_MAX 2048
/* Files one agent directory may hold. */
#define PCMD_FILES_MAX 64

static const struct {
	const char *go, *juju;
} pcmd_oses[] = {
    {"linux", "ubuntu"},   {"ubuntu", "ubuntu"}, {"centos", "centos"},
    {"windows", "windows"}, {"darwin", "osx"},    {"macos", "osx"},
    {"osx", "osx"},
};
static const struct {
	const char *go, *juju;
} pcmd_arches[] = {
    {"amd64", "amd64"},     {"arm64", "arm64"}, {"ppc64le", "ppc64el"},
    {"ppc64el", "ppc64el"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
};
#define PCMD_KNOWN_TEXT                                                        \
	"linux|ubuntu|centos|windows|darwin|macos / "                          \
	"amd64|arm64|ppc64le|s390x|riscv64"

int pcmd_platform(const char *pair, size_t pairlen, char *release,
                  size_t rlen, char *arch, size_t alen)
{
	const char *slash = memchr(pair, '/', pairlen);
	size_t oslen;
	int o = -1, a = -1;

	if (!slash)
		return -1;
	oslen = (size_t)(slash - pair);
	for (size_t i = 0; i < sizeof(pcmd_oses) / sizeof(pcmd_oses[0]); i++)
		if (strlen(pcmd_oses[i].go) == oslen &&
		    memcmp(pcmd_oses[i].go, pair, oslen) == 0)
			o = (int)i;
	for (size_t i = 0; i < sizeof(pcmd_arches) / sizeof(pcmd_arches[0]);
	     i++)
		if (strlen(pcmd_arches[i].go) == pairlen - oslen - 1 &&
		    memcmp(pcmd_arches[i].go, slash + 1, pairlen - oslen - 1) ==
		        0)
			a = (int)i;
	if (o < 0 || a < 0)
		return -1;
	snprintf(release, rlen, "%s", pcmd_oses[o].juju);
	snprintf(arch, alen, "%s", pcmd_arches[a].juju);
	return 0;
}

struct pcmd_platform_in {
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	char path[PATH_MAX];
};

/* -------------------------------------------------------------------------
 * Files. */

static int pcmd_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rv;

	if (fd < 0)
		return -1;
	rv = fsync(fd);
	close(fd);
	return rv;
}

static int pcmd_mkdirs(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

/* data into dir/name through a temporary file, fsynced, renamed, the
 * directory fsynced: never half-written. */
static int pcmd_write_file(const char *dir, const char *name, const char *data,
                           size_t len)
{
	char tmp[PCMD_DIR_MAX + 256], path[PCMD_DIR_MAX + 256];
	size_t off = 0;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0644);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off != len || fsync(fd) || close(fd)) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return pcmd_fsync_dir(dir);
}

static int pcmd_hash_file(const char *path, char sha[UPS_SHA256_HEX_LEN + 1],
                          uint64_t *size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rv = -1;

	*size = 0;
	if (fd >= 0 && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			EVP_DigestUpdate(md, buf, (size_t)n);
			*size += (uint64_t)n;
		}
		if (n == 0 && ups_digest_peek_hex(md, sha) == 0)
			rv = 0;
	}
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	return rv;
}

static int pcmd_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files an agent path stands for: the file itself, or every regular
 * file of the directory (flat, sorted by name). */
static int pcmd_files(const char *path, char files[][PATH_MAX], size_t *n,
                      char *err, size_t errlen)
{
	char *names[PCMD_FILES_MAX];
	struct dirent *de;
	struct stat st;
	size_t k = 0;
	DIR *d;

	*n = 0;
	if (stat(path, &st))
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen, "%s: %s", path,
		                strerror(errno));
	if (S_ISREG(st.st_mode)) {
		snprintf(files[0], PATH_MAX, "%s", path);
		*n = 1;
		return 0;
	}
	if (!S_ISDIR(st.st_mode) || !(d = opendir(path)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: not a file or a directory", path);
	while ((de = readdir(d))) {
		char full[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (lstat(full, &st) || !S_ISREG(st.st_mode)) {
			closedir(d);
			for (size_t i = 0; i < k; i++)
				free(names[i]);
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "%s: agent directories hold regular "
			                "files only",
			                full);
		}
		if (k == PCMD_FILES_MAX || !(names[k] = strdup(de->d_name))) {
			closedir(d);
			for (size_t i = 0; i < k; i++)
				free(names[i]);
			return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
			                "%s: more than %d files", path,
			                PCMD_FILES_MAX);
		}
		k++;
	}
	closedir(d);
	if (k == 0)
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                "%s: no agent files in it", path);
	qsort(names, k, sizeof(names[0]), pcmd_name_cmp);
	for (size_t i = 0; i < k; i++) {
		snprintf(files[i], PATH_MAX, "%s/%s", path, names[i]);
		free(names[i]);
	}
	*n = k;
	return 0;
}

/* The tarball of files into fd: flat, owned by root, each file's mode
 * and mtime, gzip without a timestamp: the same files give the same
 * bytes. */
static int pcmd_tar(int fd, char files[][PATH_MAX], size_t n, char *err,
                    size_t errlen)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = NULL;
	char buf[65536];
	int rv = 0;

	if (!a || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_format_ustar(a) != ARCHIVE_OK) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "tarball: %s",
		              a ? archive_error_string(a) : "out of memory");
		goto out;
	}
	/* No time in the gzip header (libarchive: "!timestamp"). */
	(void)archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "tarball: %s",
		              archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < n && !rv; i++) {
		const char *base = strrchr(files[i], '/');
		struct stat st;
		ssize_t r;
		int in = open(files[i], O_RDONLY | O_CLOEXEC);

		if (in < 0 || fstat(in, &st)) {
			rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: %s",
			              files[i], strerror(errno));
			if (in >= 0)
				close(in);
			break;
		}
		e = archive_entry_new();
		archive_entry_set_pathname(e, base ? base + 1 : files[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, st.st_mode & 0755);
		archive_entry_set_size(e, st.st_size);
		archive_entry_set_mtime(e, st.st_mtime, 0);
		archive_entry_set_uname(e, "root");
		archive_entry_set_gname(e, "root");
		if (archive_write_header(a, e) != ARCHIVE_OK)
			rv = ups_errf(UPS_ERR_IO, err, errlen, "tarball: %s",
			              archive_error_string(a));
		while (!rv && (r = read(in, buf, sizeof(buf))) > 0)
			if (archive_write_data(a, buf, (size_t)r) != r)
				rv = ups_errf(UPS_ERR_IO, err, errlen,
				              "tarball: %s",
				              archive_error_string(a));
		close(in);
		archive_entry_free(e);
		e = NULL;
	}
	if (!rv && archive_write_close(a) != ARCHIVE_OK)
		rv = ups_errf(UPS_ERR_IO, err, errlen, "tarball: %s",
		              archive_error_string(a));
out:
	archive_write_free(a);
	return rv;
}

/* -------------------------------------------------------------------------
 * The tree. */

struct pcmd_tree {
	char root[PCMD_DIR_MAX]; /* DIR/tools */
	struct ups_ss_pub *pubs;
	size_t n, cap;
};

static int pcmd_add(struct pcmd_tree *t, const struct ups_ss_pub *p)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct ups_ss_pub *np = realloc(t->pubs, cap * sizeof(*np));

		if (!np)
			return UPS_ERR_NO_MEMORY;
		t->pubs = np;
		t->cap = cap;
	}
	t->pubs[t->n++] = *p;
	return 0;
}

/* What the tree holds already, every stream; dates from the files. */
static int pcmd_load(struct pcmd_tree *t, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/" UPS_SS_DIR, t->root);
	if (stat(path, &st))
		return 0; /* a new tree */
	for (int s = 0; s < UPS_STREAM__COUNT; s++) {
		struct ups_ss_list l = {0};
		enum source_kind kind;
		int rv = source_scan(t->root, ups_stream_name(s), &l, &kind,
		                     NULL, NULL, err, errlen);

		if (rv == UPS_ERR_NOT_FOUND)
			continue;
		if (rv)
			return rv;
		for (size_t i = 0; i < l.n && !rv; i++) {
			struct ups_ss_pub p = {.stream = s, .item = l.items[i]};

			if (source_file_path(t->root, &l.items[i], path,
			                     sizeof(path)) ||
			    stat(path, &st))
				rv = ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
				              "%s/%s: in the metadata, not on "
				              "disk",
				              t->root, l.items[i].path);
			p.stored_at = rv ? 0 : st.st_mtime;
			if (!rv)
				rv = pcmd_add(t, &p);
		}
		ups_ss_list_free(&l);
		if (rv)
			return rv;
	}
	return 0;
}

static struct ups_ss_pub *pcmd_find(struct pcmd_tree *t, enum ups_stream s,
                                    const char *bv)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->pubs[i].stream == s &&
		    strcmp(t->pubs[i].item.binary_version, bv) == 0)
			return &t->pubs[i];
	return NULL;
}

/* Packages one platform into the tree. *built: a new binary. */
static int pcmd_package(struct cli_ctx *ctx, struct pcmd_tree *t,
                        enum ups_stream stream, const char *version,
                        const struct pcmd_platform_in *pl, bool *built,
                        char *err, size_t errlen)
{
	static char files[PCMD_FILES_MAX][PATH_MAX];
	struct ups_ss_pub p = {.stream = stream};
	struct ups_ss_item *it = &p.item;
	char dir[PCMD_DIR_MAX + 32], tmp[PATH_MAX], final[PATH_MAX];
	struct ups_ss_pub *old;
	struct stat st;
	size_t n;
	int fd, rv;

	*built = false;
	rv = pcmd_files(pl->path, files, &n, err, errlen);
	if (rv)
		return rv;
	if ((size_t)snprintf(it->version, sizeof(it->version), "%s", version) >=
	        sizeof(it->version) ||
	    (size_t)snprintf(it->release, sizeof(it->release), "%s",
	                     pl->release) >= sizeof(it->release) ||
	    (size_t)snprintf(it->arch, sizeof(it->arch), "%s", pl->arch) >=
	        sizeof(it->arch) ||
	    (size_t)snprintf(it->binary_version, sizeof(it->binary_version),
	                     "%s-%s-%s", version, pl->release,
	                     pl->arch) >= sizeof(it->binary_version))
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "%.64s-%.64s-%.32s: too long for a binary "
		                "version",
		                version, pl->release, pl->arch);
	snprintf(it->path, sizeof(it->path), "%s/juju-%s.tgz",
	         ups_stream_name(stream), it->binary_version);
	snprintf(dir, sizeof(dir), "%s/%s", t->root, ups_stream_name(stream));
	snprintf(tmp, sizeof(tmp), "%s/.juju-%s.tgz.tmp", dir,
	         it->binary_version);
	snprintf(final, sizeof(final), "%s/%s", t->root, it->path);
	if (pcmd_mkdirs(dir))
		return ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", dir,
		                strerror(errno));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0644);
	if (fd < 0)
		return ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", tmp,
		                strerror(errno));
	rv = pcmd_tar(fd, files, n, err, errlen);
	if (!rv && fsync(fd))
		rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", tmp,
		              strerror(errno));
	close(fd);
	if (!rv && pcmd_hash_file(tmp, it->sha256, &it->size))
		rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: cannot hash it",
		              tmp);
	old = rv ? NULL : pcmd_find(t, stream, it->binary_version);
	if (!rv && old && strcmp(old->item.sha256, it->sha256) != 0)
		rv = ups_errf(UPS_ERR_CONFLICT, err, errlen,
		              "%s is already in %s with sha256 %s; this build "
		              "has sha256 %s (give a --build-number)",
		              it->binary_version, t->root, old->item.sha256,
		              it->sha256);
	if (rv || old) {
		unlink(tmp);
		if (!rv)
			fprintf(ctx->out, "unchanged %s\n", it->binary_version);
		return rv;
	}
	if (rename(tmp, final) || pcmd_fsync_dir(dir) || stat(final, &st)) {
		unlink(tmp);
		return ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", final,
		                strerror(errno));
	}
	p.stored_at = st.st_mtime;
	rv = pcmd_add(t, &p);
	if (rv)
		return ups_errf(rv, err, errlen, "out of memory");
	fprintf(ctx->out, "built %s: %s, %llu bytes, sha256 %s\n",
	        it->binary_version, final, (unsigned long long)it->size,
	        it->sha256);
	*built = true;
	return 0;
}

/* The metadata of everything in the tree, rewritten. */
static int pcmd_publish(struct pcmd_tree *t, char *err, size_t errlen)
{
	struct ups_ss_files files = {0};
	char dir[PCMD_DIR_MAX + 32];
	int rv;

	rv = ups_ss_write(t->pubs, t->n, &files, err, errlen);
	if (rv)
		return rv;
	snprintf(dir, sizeof(dir), "%s/" UPS_SS_DIR, t->root);
	if (pcmd_mkdirs(dir))
		rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", dir,
		              strerror(errno));
	for (size_t i = 0; !rv && i < files.n; i++)
		if (pcmd_write_file(dir, files.file[i].name, files.file[i].data,
		                    files.file[i].len))
			rv = ups_errf(UPS_ERR_IO, err, errlen, "%s/%s: %s", dir,
			              files.file[i].name, strerror(errno));
	ups_ss_files_free(&files);
	return rv;
}

/* -------------------------------------------------------------------------
 * The command. */

/* The platforms: --platform OS/ARCH=PATH..., else $AGENT_PACKAGE_PLATFORMS
 * with --bin-dir DIR (PATH = DIR/OS_ARCH). */
static int pcmd_platforms(struct cli_ctx *ctx, struct pcmd_platform_in *out,
                          size_t *n)
{
	const char *env = getenv("AGENT_PACKAGE_PLATFORMS");
	const char *bin_dir = ctx->opts[PCMD_BIN_DIR];

	*n = 0;
	for (int i = 0; i < ctx->nrepeated; i++) {
		const char *s = ctx->repeated[i], *eq = strchr(s, '=');

		if (!eq || !eq[1] ||
		    pcmd_platform(s, (size_t)(eq - s), out[*n].release,
		                  sizeof(out[*n].release), out[*n].arch,
		                  sizeof(out[*n].arch)))
			return cli_out_usage(ctx,
			                     "bad --platform \"%.64s\": "
			                     "OS/ARCH=PATH with OS/ARCH one "
			                     "of " PCMD_KNOWN_TEXT,
			                     s);
		snprintf(out[*n].path, sizeof(out[*n].path), "%s", eq + 1);
		(*n)++;
	}
	if (*n > 0 || !env || !*env)
		return *n > 0
		           ? CLI_EXIT_OK
		           : cli_out_usage(ctx,
		                           "give --platform OS/ARCH=PATH, or "
		                           "set AGENT_PACKAGE_PLATFORMS with "
		                           "--bin-dir DIR");
	if (!bin_dir)
		return cli_out_usage(ctx, "AGENT_PACKAGE_PLATFORMS needs "
		                          "--bin-dir DIR (DIR/OS_ARCH/ holds "
		                          "each platform's binaries)");
	for (const char *p = env; *p;) {
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, " ,");
		if (!len)
			break;
		if (*n == PCMD_PLATFORMS_MAX ||
		    pcmd_platform(p, len, out[*n].release,
		                  sizeof(out[*n].release), out[*n].arch,
		                  sizeof(out[*n].arch)))
			return cli_out_usage(ctx,
			                     "bad AGENT_PACKAGE_PLATFORMS "
			                     "entry \"%.*s\" (OS/ARCH "
			                     "with " PCMD_KNOWN_TEXT ")",
			                     (int)(len > 64 ? 64 : len), p);
		/* linux/amd64 -> DIR/linux_amd64 */
		{
			int off = snprintf(out[*n].path, sizeof(out[*n].path),
			                   "%s/", bin_dir);
			char *slash;

			if (off < 0 || (size_t)off >= sizeof(out[*n].path))
				return cli_out_usage(ctx, "--bin-dir too long");
			snprintf(out[*n].path + off,
			         sizeof(out[*n].path) - (size_t)off, "%.*s",
			         (int)len, p);
			slash = strchr(out[*n].path + off, '/');
			if (slash)
				*slash = '_';
		}
		(*n)++;
		p += len;
	}
	return *n ? CLI_EXIT_OK
	          : cli_out_usage(ctx, "AGENT_PACKAGE_PLATFORMS is empty");
}

/* --out, $JUJU_METADATA_SOURCE, or the user's cache directory. */
static void pcmd_out_dir(const struct cli_ctx *ctx, char *buf, size_t len)
{
	const char *out = ctx->opts[PCMD_OUT], *env;

	if (!out || !*out)
		out = getenv("JUJU_METADATA_SOURCE");
	if (out && *out) {
		snprintf(buf, len, "%s", out);
		return;
	}
	env = getenv("XDG_CACHE_HOME");
	if (env && *env)
		snprintf(buf, len, "%s/upstage/simplestreams", env);
	else
		snprintf(buf, len, "%s/.cache/upstage/simplestreams",
		         getenv("HOME") ? getenv("HOME") : "/tmp");
}

int pcmd_make(struct cli_ctx *ctx)
{
	struct pcmd_platform_in platforms[PCMD_PLATFORMS_MAX];
	const char *build = ctx->opts[PCMD_BUILD_NUMBER];
	const char *stream_name = ctx->opts[PCMD_STREAM];
	char version[UPS_LIMIT_VERSION_LEN + 1], perr[UPS_ERRMSG_MAX];
	char out[PCMD_DIR_MAX - 8], err[PCMD_DIR_MAX + 512],
	    built_list[2048] = "";
	struct pcmd_tree tree = {0};
	enum ups_stream stream = UPS_STREAM_RELEASED;
	struct ups_version v;
	size_t n, nbuilt = 0;
	int rv;

	if (ctx->nrepeated > PCMD_PLATFORMS_MAX)
		return cli_out_usage(ctx, "more than %d platforms",
		                     PCMD_PLATFORMS_MAX);
	perr[0] = '\0';
	if (ups_version_parse(ctx->opts[PCMD_VERSION], &v, perr, sizeof(perr)))
		return cli_out_usage(ctx, "bad --version \"%.64s\": %s",
		                     ctx->opts[PCMD_VERSION], perr);
	if (!build || !*build)
		build = getenv("JUJU_BUILD_NUMBER");
	if (build && *build) {
		char *end;
		unsigned long b = strtoul(build, &end, 10);

		if (*end || end == build || b > 999999 || v.build)
			return cli_out_usage(
			    ctx,
			    "bad build number \"%.32s\" (0..999999, "
			    "and --version without one)",
			    build);
		v.build = (uint32_t)b;
	}
	if (ups_version_format(&v, version, sizeof(version)))
		return cli_out_usage(ctx, "version too long");
	if (stream_name && ups_stream_parse(stream_name, &stream))
		return cli_out_usage(
		    ctx, "bad --stream \"%.32s\": use " UPS_STREAM_NAMES_TEXT,
		    stream_name);
	rv = pcmd_platforms(ctx, platforms, &n);
	if (rv)
		return rv;
	pcmd_out_dir(ctx, out, sizeof(out));
	if (snprintf(tree.root, sizeof(tree.root), "%s/tools", out) >=
	        (int)sizeof(tree.root) ||
	    pcmd_mkdirs(tree.root)) {
		snprintf(err, sizeof(err), "%s: %s", tree.root,
		         strerror(errno));
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_IO), err);
	}
	rv = pcmd_load(&tree, err, sizeof(err));
	for (size_t i = 0; !rv && i < n; i++) {
		bool built;

		rv = pcmd_package(ctx, &tree, stream, version, &platforms[i],
		                  &built, err, sizeof(err));
		if (!rv && built) {
			nbuilt++;
			size_t used = strlen(built_list);

			/* A list too long for the summary line is cut. */
			if ((size_t)snprintf(built_list + used,
			                     sizeof(built_list) - used,
			                     " %s-%s-%s", version,
			                     platforms[i].release,
			                     platforms[i].arch) >=
			    sizeof(built_list) - used)
				built_list[sizeof(built_list) - 1] = '\0';
		}
	}
	if (!rv)
		rv = pcmd_publish(&tree, err, sizeof(err));
	free(tree.pubs);
	if (rv)
		return cli_out_error(ctx, CLI_EXIT_FAILED, ups_err_code(rv),
		                     err);
	fprintf(ctx->out, "%zu built:%s\n", nbuilt,
	        nbuilt ? built_list : " none (all unchanged)");
	fprintf(ctx->out, "export JUJU_METADATA_SOURCE=\"%s\"\n", out);
	return CLI_EXIT_OK;
}
