/* See store_commit.h. */
#include "tests/lib/store_commit.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct store_commit_wait {
	bool done;
	struct store_commit_result res;
	const struct store_commit_opts *opts;
};

static void store_commit_done(void *data, int rv, const char *err,
                              const struct catalog_binary *b)
{
	struct store_commit_wait *cw = data;

	(void)b;
	cw->done = true;
	cw->res.rv = rv;
	snprintf(cw->res.err, sizeof(cw->res.err), "%s", rv ? err : "");
	if (cw->opts && cw->opts->at_answer)
		cw->opts->at_answer(cw->opts->data);
}

int store_commit_content(struct store *s, struct loop_wait *w,
                         const char *stream, const char *binary_version,
                         const char *content, int64_t at,
                         const struct store_commit_opts *opts,
                         struct store_commit_result *res)
{
	struct store_commit_wait cw = {0};
	struct catalog_commit req;
	struct catalog_upload cu;
	char err[UPS_ERRMSG_MAX], path[512];
	unsigned char md[32];
	unsigned int mdlen;
	size_t len = strlen(content);
	int fd;

	memset(&req, 0, sizeof(req));
	memset(&cu, 0, sizeof(cu));
	assert_int_equal(
	    EVP_Digest(content, len, md, &mdlen, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		sprintf(req.binary.sha256 + 2 * i, "%02x", md[i]);
	snprintf(cu.stream, sizeof(cu.stream), "%s", stream);
	snprintf(cu.binary_version, sizeof(cu.binary_version), "%s",
	         binary_version);
	memcpy(cu.sha256, req.binary.sha256, sizeof(cu.sha256));
	snprintf(cu.state, sizeof(cu.state), "committing");
	cu.size = len;
	if (catalog_upload_create(store_catalog(s), &cu, at, err, sizeof(err)))
		fail_msg("catalog_upload_create: %s", err);
	snprintf(req.staging_name, sizeof(req.staging_name), "%llu.part",
	         (unsigned long long)cu.id);
	snprintf(path, sizeof(path), "%s/%s", store_staging_dir(s),
	         req.staging_name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	req.upload_id = cu.id;
	snprintf(req.binary.stream, sizeof(req.binary.stream), "%s", stream);
	snprintf(req.binary.binary_version, sizeof(req.binary.binary_version),
	         "%s", binary_version);
	req.binary.size = len;
	req.binary.stored_at = at;
	req.force = opts && opts->force;
	cw.opts = opts;
	assert_int_equal(store_commit(s, &req, store_commit_done, &cw), 0);
	LOOP_WAIT(w, cw.done);
	/* The store keeps the staging file for its owner to remove. */
	unlink(path);
	if (res)
		*res = cw.res;
	return cw.res.rv;
}
