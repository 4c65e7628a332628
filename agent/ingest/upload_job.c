/* An upload's jobs, in libuv's thread pool (upload_job.h). */
#include "agent/ingest/upload_job.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "proto/digest.h"
#include "proto/errors.h"
#include "proto/log.h"

void upload_job_close_fds(struct upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	if (u->half_fd >= 0)
		close(u->half_fd);
	u->half_fd = -1;
}

static int upload_job_check_space(struct upload_engine *eng, uint64_t need,
                                  char *err, size_t errlen)
{
	uint64_t avail = 0;
	int rv;

	rv = store_free_space(eng->store, &avail, err, errlen);
	if (rv)
		return rv;
	if (avail < need)
		return ups_errf(UPS_ERR_NO_SPACE, err, errlen,
		                "not enough free space: %" PRIu64
		                " bytes free, %" PRIu64 " needed",
		                avail, need);
	return 0;
}

static int upload_job_md_reset(struct upload *u, char *err, size_t errlen)
{
	if (!u->md)
		u->md = EVP_MD_CTX_new();
	if (!u->md || !EVP_DigestInit_ex(u->md, u->eng->sha256, NULL))
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "cannot set up SHA-256");
	return 0;
}

/* A fresh upload: its catalog row and staging file. */
static int upload_job_create(struct upload *u, char *err, size_t errlen)
{
	struct upload_engine *eng = u->eng;
	struct catalog_upload cu;
	char e2[UPS_ERRMSG_MAX];
	uint64_t have = 0;
	int rv;

	memset(&cu, 0, sizeof(cu));
	memcpy(cu.stream, u->stream, sizeof(cu.stream));
	memcpy(cu.binary_version, u->binary_version, sizeof(cu.binary_version));
	memcpy(cu.sha256, u->sha256, sizeof(cu.sha256));
	memcpy(cu.token, u->token, sizeof(cu.token));
	snprintf(cu.state, sizeof(cu.state), "%s",
	         upload_state_name(UPLOAD_RECEIVING));
	cu.size = u->size;
	rv = catalog_upload_create(eng->cat, &cu, eng->now_s(), err, errlen);
	if (rv)
		return rv;
	u->job_id = cu.id;
	rv = staging_open(&eng->stg, cu.id, true, &u->fd, &have, err, errlen);
	if (!rv && have > 0)
		rv = staging_truncate(&eng->stg, u->fd, 0, err, errlen);
	if (!rv)
		rv = upload_job_md_reset(u, err, errlen);
	if (rv) {
		upload_job_close_fds(u);
		staging_remove(&eng->stg, cu.id, e2, sizeof(e2));
		catalog_upload_delete(eng->cat, cu.id, e2, sizeof(e2));
		return rv;
	}
	u->job_written = u->job_durable = 0;
	return 0;
}

/* A resume: the file must hold the durable bytes; anything after them
 * was never acknowledged as durable and goes. */
static int upload_job_reopen(struct upload *u, uint64_t durable, char *err,
                             size_t errlen)
{
	struct upload_engine *eng = u->eng;
	uint64_t have = 0;
	int rv;

	u->job_id = u->id;
	if (u->fd < 0) {
		rv = staging_open(&eng->stg, u->id, true, &u->fd, &have, err,
		                  errlen);
		if (rv)
			return rv;
	} else {
		have = u->written;
	}
	if (have < durable) {
		LOG_WARN("upload",
		         "upload %" PRIu64 ": staging file holds %" PRIu64
		         " bytes, fewer than its durable offset %" PRIu64
		         "; starting over",
		         u->id, have, durable);
		durable = 0;
	}
	if (have != durable) {
		rv = staging_truncate(&eng->stg, u->fd, durable, err, errlen);
		if (rv)
			return rv;
	}
	if (!u->md || u->written != durable) {
		rv = upload_job_md_reset(u, err, errlen);
		if (!rv && durable > 0)
			rv = staging_rehash(&eng->stg, u->fd, durable, u->md,
			                    err, errlen);
		if (rv)
			return rv;
	}
	if (durable > 0) {
		rv = ups_digest_peek_hex(u->md, u->job_prefix);
		if (rv)
			return ups_errf(rv, err, errlen,
			                "cannot copy the SHA-256 state");
	}
	if (durable != u->durable)
		(void)catalog_upload_set_offset(eng->cat, u->id, durable,
		                                eng->now_s(), err, errlen);
	u->job_written = u->job_durable = durable;
	return 0;
}

static void upload_job_begin(struct upload *u)
{
	struct upload_engine *eng = u->eng;
	char *err = u->job_err;
	size_t errlen = sizeof(u->job_err);
	struct catalog_binary b;
	uint64_t durable = u->fresh ? 0 : u->durable;
	int rv;

	u->job_prefix[0] = '\0';
	rv = store_lookup(eng->store, u->stream, u->binary_version, &b, err,
	                  errlen);
	if (rv == 0 && !u->sha256[0]) {
		/* The client did not say what it has: it compares. */
		u->job_bin = b;
		u->job_rv = UPS_ERR_EXISTS;
		return;
	}
	if (rv == 0) {
		if (strcmp(b.sha256, u->sha256) == 0) {
			u->job_bin = b;
			u->job_rv = UPS_ERR_EXISTS;
			return;
		}
		if (!u->force) {
			u->job_rv =
			    ups_errf(UPS_ERR_CONFLICT, err, errlen,
			             "%s (%s) is stored with sha256 "
			             "%s; give force to replace it",
			             u->binary_version, u->stream, b.sha256);
			return;
		}
	} else if (rv != UPS_ERR_NOT_FOUND) {
		u->job_rv = rv;
		return;
	}
	/* What this upload still needs, beside what the others still claim
	 * (their declared sizes not yet written), and the reserve. */
	rv = upload_job_check_space(
	    eng, u->size - durable + u->job_reserved + eng->cfg.reserve, err,
	    errlen);
	if (!rv)
		rv = u->fresh ? upload_job_create(u, err, errlen)
		              : upload_job_reopen(u, durable, err, errlen);
	u->job_rv = rv;
}

/* Writes chunks, which follow one another from offset, through fd; *end
 * is where the bytes written end, also on failure. */
static int upload_job_write_chunks(struct upload_engine *eng, int fd,
                                   struct upload_chunk *chunks, uint64_t offset,
                                   uint64_t *end, char *err, size_t errlen)
{
	struct iovec iov[STAGING_IOV_MAX];
	struct upload_chunk *c;
	uint64_t written = offset, run;
	int n, rv = 0;

	assert(chunks && chunks->offset == offset);
	/* The chunks follow one another: write them together, so that a
	 * direct write is as large as they are. */
	for (c = chunks; !rv && c;) {
		for (n = 0, run = 0; c && n < STAGING_IOV_MAX; c = c->next) {
			iov[n].iov_base = c->data;
			iov[n++].iov_len = c->len;
			run += c->len;
		}
		rv = upload_job_check_space(eng, run + eng->cfg.reserve / 2,
		                            err, errlen);
		if (!rv)
			rv = staging_writev(&eng->stg, fd, iov, n, written, err,
			                    errlen);
		if (!rv)
			written += run;
	}
	*end = written;
	/* Start writeback of what went through the page cache (a direct
	 * write has nothing left), so that the next checkpoint finds little
	 * left to do. */
	if (!rv && written > offset)
		(void)sync_file_range(fd, (off64_t)offset,
		                      (off64_t)(written - offset),
		                      SYNC_FILE_RANGE_WRITE);
	return rv;
}

static void upload_job_write(struct upload *u)
{
	u->job_rv = upload_job_write_chunks(u->eng, u->fd, u->batch, u->written,
	                                    &u->job_written, u->job_err,
	                                    sizeof(u->job_err));
}

/* The batch's later half, at the same time as upload_job_write. A
 * descriptor of its own keeps its O_DIRECT switching (staging_writev)
 * apart from the first half's. */
void upload_job_half(uv_work_t *w)
{
	struct upload *u = w->data;
	struct upload_engine *eng = u->eng;
	uint64_t size;

	u->half_rv = 0;
	if (u->half_fd < 0)
		u->half_rv =
		    staging_open(&eng->stg, u->id, false, &u->half_fd, &size,
		                 u->half_err, sizeof(u->half_err));
	/* Gone under us is a failed write, not an unknown upload. */
	if (u->half_rv == UPS_ERR_NOT_FOUND)
		u->half_rv =
		    ups_errf(UPS_ERR_IO, u->half_err, sizeof(u->half_err),
		             "the partial file is gone");
	if (!u->half_rv)
		u->half_rv = upload_job_write_chunks(
		    eng, u->half_fd, u->half, u->half->offset, &u->half_written,
		    u->half_err, sizeof(u->half_err));
}

/* A checkpoint, on a worker beside the write jobs: makes the bytes before
 * ckpt_target durable and records that offset. It touches only fd (an
 * fdatasync may run while another thread writes further on) and its own
 * ckpt_* fields. */
void upload_job_checkpoint(uv_work_t *w)
{
	struct upload *u = w->data;
	struct upload_engine *eng = u->eng;
	int rv;

	rv = staging_sync(&eng->stg, u->fd, u->ckpt_err, sizeof(u->ckpt_err));
	if (!rv)
		rv = catalog_upload_set_offset(eng->cat, u->id, u->ckpt_target,
		                               eng->now_s(), u->ckpt_err,
		                               sizeof(u->ckpt_err));
	u->ckpt_rv = rv;
}

/* The other half of a write job, on another worker at the same time. */
void upload_job_hash(uv_work_t *w)
{
	struct upload *u = w->data;
	struct upload_chunk *c;

	u->hash_rv = 0;
	for (c = u->batch; c; c = c->next)
		if (!EVP_DigestUpdate(u->md, c->data, c->len))
			goto failed;
	for (c = u->half; c; c = c->next)
		if (!EVP_DigestUpdate(u->md, c->data, c->len))
			goto failed;
	return;
failed:
	u->hash_rv = UPS_ERR_INTERNAL;
}

static void upload_job_sync(struct upload *u)
{
	struct upload_engine *eng = u->eng;
	int rv = 0;

	u->job_durable = u->durable;
	if (u->written > u->durable) {
		rv = staging_sync(&eng->stg, u->fd, u->job_err,
		                  sizeof(u->job_err));
		if (!rv)
			rv = catalog_upload_set_offset(
			    eng->cat, u->id, u->written, eng->now_s(),
			    u->job_err, sizeof(u->job_err));
		if (!rv)
			u->job_durable = u->written;
	}
	/* A detached upload may wait a day: it holds no descriptor. */
	upload_job_close_fds(u);
	u->job_rv = rv;
}

/* Size and digest must be exactly what UploadBegin announced; then the
 * file is durable and closed, ready for the store to adopt. */
static void upload_job_verify(struct upload *u)
{
	struct upload_engine *eng = u->eng;
	char *err = u->job_err;
	size_t errlen = sizeof(u->job_err);
	uint8_t digest[EVP_MAX_MD_SIZE];
	uint8_t want[32];
	const char *given[2] = {u->sha256, u->commit_sha};
	unsigned dlen = 0;
	int rv;

	if (u->written != u->size) {
		rv = ups_errf(UPS_ERR_SIZE_MISMATCH, err, errlen,
		              "received %" PRIu64 " bytes, UploadBegin "
		              "announced %" PRIu64,
		              u->written, u->size);
		goto out;
	}
	rv = staging_sync(&eng->stg, u->fd, err, errlen);
	if (rv)
		goto out;
	if (!EVP_DigestFinal_ex(u->md, digest, &dlen) || dlen != 32) {
		rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
		              "SHA-256 final failed");
		goto out;
	}
	/* Every digest the client gave (at begin, at commit, or both) must
	 * be that of the bytes received. */
	for (size_t i = 0; i < 2; i++) {
		if (!given[i][0])
			continue;
		if (ups_sha256_hex_decode(given[i], want)) {
			rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
			              "bad SHA-256 kept for upload");
			goto out;
		}
		if (CRYPTO_memcmp(digest, want, sizeof(want)) != 0) {
			rv = ups_errf(UPS_ERR_CHECKSUM_MISMATCH, err, errlen,
			              "the SHA-256 of the %" PRIu64
			              " bytes received is not %s",
			              u->size, given[i]);
			goto out;
		}
	}
	ups_sha256_hex_encode(digest, u->job_digest);
	/* Verified and fsynced: a restart resumes from the end. */
	rv = catalog_upload_set_state(eng->cat, u->id,
	                              upload_state_name(UPLOAD_COMMITTING),
	                              u->size, eng->now_s(), err, errlen);
	if (rv)
		goto out;
	store_crash_point("commit-verified");
	upload_job_close_fds(u);
out:
	u->job_rv = rv;
}

/* The staging file and the catalog row go. */
static void upload_job_remove(struct upload *u)
{
	char e2[UPS_ERRMSG_MAX];

	upload_job_close_fds(u);
	if (u->id) {
		staging_remove(&u->eng->stg, u->id, e2, sizeof(e2));
		catalog_upload_delete(u->eng->cat, u->id, e2, sizeof(e2));
	}
	u->job_rv = 0;
}

void upload_job_run(uv_work_t *w)
{
	struct upload *u = w->data;

	switch (u->job) {
	case UPLOAD_JOB_BEGIN:
		upload_job_begin(u);
		break;
	case UPLOAD_JOB_WRITE:
		upload_job_write(u);
		break;
	case UPLOAD_JOB_SYNC:
		upload_job_sync(u);
		break;
	case UPLOAD_JOB_VERIFY:
		upload_job_verify(u);
		break;
	case UPLOAD_JOB_REMOVE:
		upload_job_remove(u);
		break;
	case UPLOAD_JOB_STORE:
	case UPLOAD_JOB_NONE:
		break;
	}
}
