/* The upload engine. */
#include "agent/ingest/upload.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/ingest/upload_job.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/log.h"

/* Spare chunk buffers kept by the engine: a window's worth, plus one. */
#define UPLOAD_POOL_MAX 16

/* The one place an upload changes state. A move the table forbids is a
 * bug of this file: refused (and fatal in debug builds). */
static int upload_move(struct upload *u, enum upload_state to)
{
	if (!upload_state_transition_allowed(u->state, to)) {
		LOG_ERROR(
		    "upload", "upload %" PRIu64 ": refused transition %s -> %s",
		    u->id, upload_state_name(u->state), upload_state_name(to));
		assert(!"upload state transition the table forbids");
		return UPS_ERR_INTERNAL;
	}
	LOG_DEBUG("upload", "upload %" PRIu64 ": %s -> %s", u->id,
	          upload_state_name(u->state), upload_state_name(to));
	u->state = to;
	return 0;
}

bool upload_ack_due(uint64_t last_ack, uint64_t written, uint64_t size,
                    uint64_t window)
{
	uint64_t step = window / 4 ? window / 4 : 1;

	if (written <= last_ack)
		return false;
	return written == size || written - last_ack >= step;
}

bool upload_window_fits(uint64_t offset, uint64_t written, uint64_t len,
                        uint64_t window)
{
	uint64_t unwritten = offset - written;

	return unwritten + len <= window + UPS_LIMIT_CHUNK_PAYLOAD_MAX;
}

uint64_t upload_window_share(uint64_t total, unsigned active)
{
	uint64_t floor = total < UPS_LIMIT_CHUNK_PAYLOAD_MAX
	                     ? total
	                     : UPS_LIMIT_CHUNK_PAYLOAD_MAX;
	uint64_t share = active > 1 ? total / active : total;

	return share < floor ? floor : share;
}

static int64_t upload_now_default(void)
{
	return (int64_t)time(NULL);
}

/* Events and callbacks. */

/* u's share of the window now. */
static uint64_t upload_share(const struct upload *u)
{
	return upload_window_share(u->eng->cfg.window,
	                           upload_receiving_count(u->eng));
}

static void upload_tell_ack(struct upload *u)
{
	const struct upload_events *ev = u->eng->events;

	u->acked = u->written;
	u->window_told = upload_share(u);
	if (u->owner && ev->ack)
		ev->ack(u->owner, u->id, u->written, u->durable,
		        u->window_told);
}

static void upload_tell_error(struct upload_engine *eng, void *owner,
                              uint64_t id, int code, const char *text,
                              const uint64_t *expected)
{
	if (owner && eng->events->error)
		eng->events->error(owner, id, code, text, expected);
}

static void upload_set_paused(struct upload *u, bool paused)
{
	if (u->paused == paused)
		return;
	u->paused = paused;
	if (u->owner && u->eng->events->pause)
		u->eng->events->pause(u->owner, paused);
}

/* Calls and forgets the begin callback, if one is owed. */
/* An upload that ends without its binary stored counts once. */
static void upload_count_failure(struct upload *u, int code)
{
	if (u->failure_counted)
		return;
	u->failure_counted = true;
	u->eng->failed[upload_failure_index(code)]++;
}

static void upload_finish_begin(struct upload *u, int rv, const char *err,
                                const struct upload_begun *res)
{
	upload_begin_cb cb = u->begin_cb;

	if (!cb)
		return;
	u->begin_cb = NULL;
	if (!rv)
		u->eng->begun++;
	cb(u->begin_data, rv, err, rv ? NULL : res);
}

/* Calls and forgets the commit callback, if one is owed. */
static void upload_finish_commit(struct upload *u, int rv, const char *err,
                                 const struct catalog_binary *stored)
{
	upload_commit_cb cb = u->commit_cb;

	if (!cb)
		return;
	u->commit_cb = NULL;
	if (rv) {
		upload_count_failure(u, rv);
	} else {
		u->eng->committed++;
		ups_histogram_observe(&u->eng->commit_seconds,
		                      (double)(uv_hrtime() - u->commit_ns) /
		                          1e9);
	}
	cb(u->commit_data, rv, err, rv ? NULL : stored);
}

/* Uploads in memory. */

static struct upload_chunk *upload_chunk_alloc(struct upload_engine *eng)
{
	struct upload_chunk *c = eng->pool;

	if (c) {
		eng->pool = c->next;
		eng->pool_count--;
		return c;
	}
	c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	/* Always full size, so that every buffer can go back to the pool,
	 * and a frame buffer, so that it can be swapped with a receiver's. */
	c->buf = ups_chunk_buf_new();
	if (!c->buf) {
		free(c);
		return NULL;
	}
	c->data = c->buf + UPS_CHUNK_BUF_PAYLOAD;
	return c;
}

/* Returns chunks to eng's pool (eng NULL: frees them). */
static void upload_free_chunks(struct upload_engine *eng,
                               struct upload_chunk *c)
{
	while (c) {
		struct upload_chunk *next = c->next;

		if (eng && eng->pool_count < UPLOAD_POOL_MAX) {
			c->next = eng->pool;
			eng->pool = c;
			eng->pool_count++;
		} else {
			free(c->buf);
			free(c);
		}
		c = next;
	}
}

/* A new upload in state initial, linked into eng's list. */
static struct upload *upload_new(struct upload_engine *eng,
                                 enum upload_state initial)
{
	struct upload *u;

	assert(upload_state_is_initial(initial));
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->eng = eng;
	u->state = initial;
	u->fd = -1;
	u->half_fd = -1;
	u->work.data = u;
	u->hash_work.data = u;
	u->half_work.data = u;
	u->touched_s = eng->now_s();
	u->next = eng->uploads;
	if (u->next)
		u->next->prev = u;
	eng->uploads = u;
	return u;
}

/* Frees u; never while a job refers to it. */
static void upload_free(struct upload *u)
{
	struct upload_engine *eng = u->eng;

	if (u->busy || u->ckpt_busy) {
		LOG_ERROR("upload", "upload %" PRIu64 ": freed while busy",
		          u->id);
		return;
	}
	upload_set_paused(u, false);
	if (u->prev)
		u->prev->next = u->next;
	else
		eng->uploads = u->next;
	if (u->next)
		u->next->prev = u->prev;
	upload_free_chunks(eng, u->q_head);
	upload_free_chunks(eng, u->batch);
	upload_free_chunks(eng, u->half);
	EVP_MD_CTX_free(u->md);
	upload_job_close_fds(u);
	free(u);
}

static struct upload *upload_find_id(struct upload_engine *eng, uint64_t id)
{
	struct upload *u;

	if (id == 0)
		return NULL;
	for (u = eng->uploads; u; u = u->next)
		if (u->id == id && u->state != UPLOAD_REMOVING)
			return u;
	return NULL;
}

static struct upload *upload_find_file(struct upload_engine *eng,
                                       const struct upload_begin_req *req)
{
	struct upload *u;

	for (u = eng->uploads; u; u = u->next)
		if (u->state != UPLOAD_REMOVING && u->size == req->size &&
		    strcmp(u->stream, req->stream) == 0 &&
		    strcmp(u->binary_version, req->binary_version) == 0 &&
		    strcmp(u->sha256, req->sha256) == 0 &&
		    strcmp(u->token, req->token) == 0)
			return u;
	return NULL;
}

size_t upload_count(const struct upload_engine *eng)
{
	const struct upload *u;
	size_t n = 0;

	for (u = eng->uploads; u; u = u->next)
		n++;
	return n;
}

unsigned upload_receiving_count(const struct upload_engine *eng)
{
	const struct upload *u;
	unsigned n = 0;

	for (u = eng->uploads; u; u = u->next)
		if (u->owner && u->state == UPLOAD_RECEIVING &&
		    u->offset < u->size)
			n++;
	return n;
}

unsigned upload_active_count(const struct upload_engine *eng)
{
	const struct upload *u;
	unsigned n = 0;

	for (u = eng->uploads; u; u = u->next)
		if (u->owner && u->state != UPLOAD_REMOVING)
			n++;
	return n;
}

/* Loop side. */

static void upload_after_work(uv_work_t *w, int status);

/* Moves the first window/4 bytes (at least one chunk) of u's queue into
 * its batch, and the later half of those (when more than one chunk and a
 * page starts between them) into its half. Taking the whole queue would
 * make the stream stop-and-go: the ack that lets the client send more
 * only goes out when the job ends, so a job as big as the window leaves
 * the network idle while it runs. */
static void upload_take_batch(struct upload *u)
{
	uint64_t limit = u->window_told / 4;
	uint64_t bytes = 0, first = 0;
	struct upload_chunk *last = NULL, *c = u->q_head;

	while (c && (last == NULL || bytes + c->len <= limit)) {
		bytes += c->len;
		last = c;
		c = c->next;
	}
	u->batch = u->q_head;
	last->next = NULL;
	u->q_head = c;
	if (!c)
		u->q_tail = NULL;
	u->half = NULL;
	/* At the first page boundary past the middle: the halves' unaligned
	 * ends, written through the page cache, then never share a page
	 * with the other half's direct writes (the kernel would have to
	 * order the two; with 4 KiB pages and whole chunks it never does). */
	for (c = u->batch; c->next; c = c->next) {
		first += c->len;
		if (2 * first >= bytes &&
		    c->next->offset % u->eng->page_size == 0) {
			u->half = c->next;
			c->next = NULL;
			break;
		}
	}
}

static int upload_queue(struct upload *u, uv_work_t *w, uv_work_cb cb)
{
	int rv = uv_queue_work(u->eng->loop, w, cb, upload_after_work);

	if (rv == 0)
		u->works_out++;
	return rv;
}

/* Bytes the uploads other than self still claim on the disk: what each
 * declared and has not written yet. */
static uint64_t upload_claimed(const struct upload_engine *eng,
                               const struct upload *self)
{
	const struct upload *u;
	uint64_t sum = 0;

	for (u = eng->uploads; u; u = u->next)
		if (u != self && u->state != UPLOAD_REMOVING &&
		    u->size > u->written)
			sum += u->size - u->written;
	return sum;
}

/* Starts u's next job, if it has one and none is running. */
static void upload_kick(struct upload *u)
{
	enum upload_job job = UPLOAD_JOB_NONE;
	int rv;

	if (u->busy)
		return;
	if (u->state == UPLOAD_REMOVING)
		job = UPLOAD_JOB_REMOVE;
	else if (u->q_head)
		job = UPLOAD_JOB_WRITE;
	else if (u->state == UPLOAD_BEGINNING)
		job = UPLOAD_JOB_BEGIN;
	else if (u->state == UPLOAD_COMMITTING)
		job = UPLOAD_JOB_VERIFY;
	else if (u->state == UPLOAD_DETACHED && u->fd >= 0)
		job = UPLOAD_JOB_SYNC;
	if (job == UPLOAD_JOB_NONE)
		return;
	/* Only writes go on beside a checkpoint; its end kicks again. */
	if (job != UPLOAD_JOB_WRITE && u->ckpt_busy)
		return;
	if (job == UPLOAD_JOB_WRITE)
		upload_take_batch(u);
	if (job == UPLOAD_JOB_BEGIN)
		u->job_reserved = upload_claimed(u->eng, u);
	u->job = job;
	u->job_rv = 0;
	u->job_err[0] = '\0';
	u->busy = true;
	u->works_out = 0;
	rv = upload_queue(u, &u->work, upload_job_run);
	if (!rv && job == UPLOAD_JOB_WRITE)
		rv = upload_queue(u, &u->hash_work, upload_job_hash);
	if (!rv && job == UPLOAD_JOB_WRITE && u->half) {
		/* What stands if the half never runs: nothing written. */
		u->half_written = u->half->offset;
		u->half_rv = ups_errf(UPS_ERR_INTERNAL, u->half_err,
		                      sizeof(u->half_err),
		                      "the later half was not written");
		rv = upload_queue(u, &u->half_work, upload_job_half);
	}
	if (rv) {
		/* Only fails for a NULL callback: a programming error. */
		LOG_ERROR("upload", "uv_queue_work: %s", uv_strerror(rv));
		u->busy = u->works_out > 0;
	}
}

/* Aborts u: its bytes and row go. code (0: none) and text are told to the
 * owner and to the callback still owed. */
static void upload_doom(struct upload *u, int code, const char *text)
{
	if (u->state == UPLOAD_REMOVING)
		return;
	LOG_INFO("upload", "upload %" PRIu64 " (%s): aborted: %s", u->id,
	         u->binary_version,
	         text && *text ? text : ups_err_message(code));
	upload_count_failure(u, code);
	if (u->begin_cb) {
		upload_finish_begin(u, code ? code : UPS_ERR_IO, text, NULL);
	} else if (code) {
		upload_tell_error(u->eng, u->owner, u->id, code, text, NULL);
		upload_finish_commit(u, code, text, NULL);
	}
	upload_set_paused(u, false);
	u->owner = NULL;
	upload_free_chunks(u->eng, u->q_head);
	u->q_head = u->q_tail = NULL;
	upload_move(u, UPLOAD_REMOVING);
	upload_kick(u);
}

/* Where u stands for its owner; the window told is its share now. */
static void upload_begun_fill(struct upload *u, struct upload_begun *res)
{
	memset(res, 0, sizeof(*res));
	res->upload_id = u->id;
	res->offset = u->offset;
	u->window_told = upload_share(u);
	res->window = u->window_told;
}

static void upload_after_begin(struct upload *u)
{
	struct upload_begun res;

	if (u->job_rv == 0) {
		u->id = u->job_id;
		u->fresh = false;
		u->offset = u->written = u->acked = u->job_written;
		u->durable = u->job_durable;
		u->touched_s = u->eng->now_s();
		if (!u->owner) {
			upload_begun_fill(u, &res);
			/* The owner went meanwhile: the answer goes nowhere,
			 * the partial waits to be resumed. */
			upload_move(u, UPLOAD_DETACHED);
			upload_finish_begin(u, 0, NULL, &res);
			upload_kick(u);
			return;
		}
		upload_move(u, UPLOAD_RECEIVING);
		upload_begun_fill(u, &res);
		if (u->offset > 0)
			memcpy(res.prefix_sha256, u->job_prefix,
			       sizeof(res.prefix_sha256));
		u->rx_s = u->eng->now_s();
		LOG_INFO("upload",
		         "upload %" PRIu64 ": %s (%s), %" PRIu64
		         " bytes, from offset %" PRIu64,
		         u->id, u->binary_version, u->stream, u->size,
		         u->offset);
		upload_finish_begin(u, 0, NULL, &res);
		return;
	}
	if (u->job_rv == UPS_ERR_EXISTS) {
		memset(&res, 0, sizeof(res));
		res.exists = u->sha256[0] != '\0';
		res.stored = !res.exists;
		res.binary = u->job_bin;
		upload_finish_begin(u, 0, NULL, &res);
	} else {
		LOG_INFO("upload", "UploadBegin %s (%s): %s", u->binary_version,
		         u->stream, u->job_err);
		upload_finish_begin(u, u->job_rv, u->job_err, NULL);
	}
	if (u->fresh) {
		upload_free(u);
		return;
	}
	upload_set_paused(u, false);
	u->owner = NULL;
	if (u->job_rv == UPS_ERR_EXISTS) {
		/* Stored meanwhile: the partial is of no more use. */
		upload_doom(u, 0, NULL);
		return;
	}
	upload_move(u, UPLOAD_DETACHED);
	upload_kick(u);
}

static void upload_maybe_checkpoint(struct upload *u);

static void upload_after_checkpoint(uv_work_t *w, int status)
{
	struct upload *u = w->data;

	u->ckpt_busy = false;
	if (status == UV_ECANCELED && !u->ckpt_rv)
		u->ckpt_rv = ups_errf(UPS_ERR_IO, u->ckpt_err,
		                      sizeof(u->ckpt_err),
		                      "checkpoint cancelled");
	if (u->ckpt_rv) {
		upload_doom(u, u->ckpt_rv, u->ckpt_err);
		return;
	}
	if (u->ckpt_target > u->durable)
		u->durable = u->ckpt_target;
	/* Writes went on meanwhile: the next may be due already. */
	upload_maybe_checkpoint(u);
	upload_kick(u);
}

/* Starts a checkpoint of what is written, when sync_bytes more were
 * written since the last and none runs. Write jobs go on meanwhile: the
 * disk keeps receiving while the fdatasync and the catalog wait for it.
 * Not once every byte is written: the commit's verify syncs them. */
static void upload_maybe_checkpoint(struct upload *u)
{
	int rv;

	if (u->ckpt_busy || u->state != UPLOAD_RECEIVING || u->fd < 0 ||
	    u->written == u->size ||
	    u->written - u->durable < u->eng->cfg.sync_bytes)
		return;
	u->ckpt_target = u->written;
	u->ckpt_rv = 0;
	u->ckpt_err[0] = '\0';
	u->ckpt_work.data = u;
	rv = uv_queue_work(u->eng->loop, &u->ckpt_work, upload_job_checkpoint,
	                   upload_after_checkpoint);
	if (rv) /* only for a NULL callback: a programming error */
		LOG_ERROR("upload", "uv_queue_work: %s", uv_strerror(rv));
	else
		u->ckpt_busy = true;
}

static void upload_after_write(struct upload *u)
{
	struct upload_engine *eng = u->eng;

	upload_free_chunks(eng, u->batch);
	upload_free_chunks(eng, u->half);
	u->batch = u->half = NULL;
	u->written = u->job_written;
	u->touched_s = eng->now_s();
	if (u->job_rv) {
		upload_doom(u, u->job_rv, u->job_err);
		return;
	}
	upload_maybe_checkpoint(u);
	if (u->state == UPLOAD_RECEIVING &&
	    upload_ack_due(u->acked, u->written, u->size, u->window_told))
		upload_tell_ack(u);
	if (u->paused && u->offset - u->written <= eng->cfg.window / 2)
		upload_set_paused(u, false);
}

static void upload_on_stored(void *data, int rv, const char *err,
                             const struct catalog_binary *b)
{
	struct upload *u = data;

	u->busy = false;
	u->job = UPLOAD_JOB_NONE;
	if (rv) {
		LOG_INFO("upload", "upload %" PRIu64 " (%s): store failed: %s",
		         u->id, u->binary_version, err);
		upload_finish_commit(u, rv, err, NULL);
		upload_doom(u, 0, NULL);
		return;
	}
	LOG_INFO("upload",
	         "upload %" PRIu64 ": stored %s (%s), %" PRIu64
	         " bytes, sha256 %s",
	         u->id, u->binary_version, u->stream, u->size, u->sha256);
	if (u->acked != u->written)
		upload_tell_ack(u);
	upload_finish_commit(u, 0, NULL, b);
	/* The store kept the staging file: it is ours to remove. */
	u->owner = NULL;
	upload_move(u, UPLOAD_REMOVING);
	upload_kick(u);
}

/* Verified: the store adopts the file. */
static void upload_after_verify(struct upload *u)
{
	struct catalog_commit req;
	int rv;

	if (u->job_rv) {
		LOG_INFO("upload", "upload %" PRIu64 " (%s): commit failed: %s",
		         u->id, u->binary_version, u->job_err);
		upload_finish_commit(u, u->job_rv, u->job_err, NULL);
		upload_doom(u, 0, NULL);
		return;
	}
	u->durable = u->size;
	/* Verified: the digest of the bytes is every one the client gave. */
	memcpy(u->sha256, u->job_digest, sizeof(u->sha256));
	memset(&req, 0, sizeof(req));
	req.upload_id = u->id;
	staging_name(u->id, req.staging_name, sizeof(req.staging_name));
	memcpy(req.binary.stream, u->stream, sizeof(req.binary.stream));
	memcpy(req.binary.binary_version, u->binary_version,
	       sizeof(req.binary.binary_version));
	memcpy(req.binary.sha256, u->sha256, sizeof(req.binary.sha256));
	req.binary.size = u->size;
	req.binary.stored_at = u->eng->now_s();
	req.force = u->force;
	u->busy = true;
	u->job = UPLOAD_JOB_STORE;
	rv = store_commit(u->eng->store, &req, upload_on_stored, u);
	if (rv) {
		u->busy = false;
		u->job = UPLOAD_JOB_NONE;
		upload_finish_commit(u, rv, "cannot start the store's commit",
		                     NULL);
		upload_doom(u, 0, NULL);
	}
}

static void upload_after_work(uv_work_t *w, int status)
{
	struct upload *u = w->data;
	enum upload_job job = u->job;

	/* Each work reports only on its own fields until all are done. */
	if (w == &u->hash_work) {
		if (status == UV_ECANCELED)
			u->hash_rv = UPS_ERR_IO;
	} else if (w == &u->half_work) {
		/* Cancelled, its result stands as upload_kick preset it:
		 * nothing written. */
	} else if (status == UV_ECANCELED && !u->job_rv) {
		u->job_rv = ups_errf(UPS_ERR_IO, u->job_err, sizeof(u->job_err),
		                     "job cancelled");
	}
	if (--u->works_out > 0)
		return;
	/* The half's bytes count once the first half's all are written. */
	if (job == UPLOAD_JOB_WRITE && u->half && !u->job_rv) {
		if (u->half_rv) {
			u->job_rv = u->half_rv;
			memcpy(u->job_err, u->half_err, sizeof(u->job_err));
		}
		u->job_written = u->half_written;
	}
	u->half_rv = 0;
	if (u->hash_rv && !u->job_rv)
		u->job_rv = ups_errf(u->hash_rv, u->job_err, sizeof(u->job_err),
		                     "SHA-256 update failed");
	u->hash_rv = 0;
	u->busy = false;
	u->job = UPLOAD_JOB_NONE;
	switch (job) {
	case UPLOAD_JOB_BEGIN:
		upload_after_begin(u);
		return; /* u may be gone; it kicked itself if need be */
	case UPLOAD_JOB_WRITE:
		upload_after_write(u);
		break;
	case UPLOAD_JOB_SYNC:
		if (u->job_durable > u->durable)
			u->durable = u->job_durable;
		if (u->job_rv)
			LOG_WARN("upload", "upload %" PRIu64 ": sync: %s",
			         u->id, u->job_err);
		break;
	case UPLOAD_JOB_VERIFY:
		upload_after_verify(u);
		return;
	case UPLOAD_JOB_REMOVE:
		upload_free(u);
		return;
	case UPLOAD_JOB_STORE:
	case UPLOAD_JOB_NONE:
		break;
	}
	upload_kick(u);
}

static void upload_enforce_partials(struct upload_engine *eng);

/* Chunks. */

/* Puts the payload in c: by taking the receiver's frame buffer that holds
 * it, which saves copying a MiB per chunk, or else by a copy. */
static void upload_chunk_fill(struct upload_chunk *c, const uint8_t *payload,
                              size_t len, uint8_t **frame_buf)
{
	if (frame_buf && *frame_buf &&
	    payload == *frame_buf + UPS_CHUNK_BUF_PAYLOAD) {
		uint8_t *mine = c->buf;

		c->buf = *frame_buf;
		c->data = c->buf + UPS_CHUNK_BUF_PAYLOAD;
		*frame_buf = mine;
		return;
	}
	memcpy(c->data, payload, len);
}

void upload_chunk(struct upload_engine *eng, void *owner,
                  const struct ups_chunk_header *hdr, const uint8_t *payload,
                  uint8_t **frame_buf)
{
	struct upload_chunk *c;
	struct upload *u;
	char err[UPS_ERRMSG_MAX];

	u = upload_find_id(eng, hdr->upload_id);
	if (!u || u->owner != owner || u->state != UPLOAD_RECEIVING) {
		ups_errf(0, err, sizeof(err),
		         "upload %" PRIu64 " is not receiving on this "
		         "connection",
		         hdr->upload_id);
		upload_tell_error(eng, owner, hdr->upload_id, UPS_ERR_NOT_FOUND,
		                  err, NULL);
		return;
	}
	if (hdr->offset != u->offset) {
		ups_errf(0, err, sizeof(err),
		         "chunk at offset %" PRIu64 ", expected %" PRIu64,
		         hdr->offset, u->offset);
		upload_tell_error(eng, owner, u->id, UPS_ERR_OFFSET_MISMATCH,
		                  err, &u->offset);
		return;
	}
	if (hdr->offset + hdr->length > u->size) {
		ups_errf(0, err, sizeof(err),
		         "chunk ends at byte %" PRIu64 ", beyond the announced "
		         "size %" PRIu64,
		         hdr->offset + hdr->length, u->size);
		upload_tell_error(eng, owner, u->id, UPS_ERR_TOO_LARGE, err,
		                  NULL);
		return;
	}
	if (!upload_window_fits(u->offset, u->written, hdr->length,
	                        eng->cfg.window)) {
		ups_errf(0, err, sizeof(err),
		         "more than the window (%" PRIu64 " bytes) in flight",
		         eng->cfg.window);
		upload_doom(u, UPS_ERR_TOO_LARGE, err);
		return;
	}
	c = upload_chunk_alloc(eng);
	if (!c) {
		upload_doom(u, UPS_ERR_NO_MEMORY, "out of memory");
		return;
	}
	c->next = NULL;
	c->offset = hdr->offset;
	c->len = hdr->length;
	upload_chunk_fill(c, payload, hdr->length, frame_buf);
	if (u->q_tail)
		u->q_tail->next = c;
	else
		u->q_head = c;
	u->q_tail = c;
	u->offset += hdr->length;
	u->rx_s = eng->now_s();
	/* A client ignoring its window: stop reading from it until the
	 * queue drained. */
	if (u->offset - u->written > eng->cfg.window)
		upload_set_paused(u, true);
	upload_kick(u);
}

void upload_owner_gone(struct upload_engine *eng, const void *owner)
{
	struct upload *u;

	for (u = eng->uploads; u; u = u->next) {
		if (u->owner != owner)
			continue;
		/* Nothing more goes to the owner, not even a resume. */
		u->paused = false;
		u->owner = NULL;
		u->touched_s = eng->now_s();
		if (u->state == UPLOAD_RECEIVING) {
			LOG_INFO("upload",
			         "upload %" PRIu64 ": connection gone at "
			         "offset %" PRIu64 "; detached",
			         u->id, u->offset);
			upload_move(u, UPLOAD_DETACHED);
			upload_kick(u);
		}
	}
	upload_enforce_partials(eng);
}

/* Requests. */

int upload_find_own(struct upload_engine *eng, const void *owner,
                    const struct upload_begin_req *req,
                    struct upload_begun *res)
{
	struct upload *u = upload_find_file(eng, req);

	if (!u || u->owner != owner || u->state != UPLOAD_RECEIVING)
		return UPS_ERR_NOT_FOUND;
	upload_begun_fill(u, res);
	return 0;
}

/* Uploads owner owns (not being removed). */
static unsigned upload_owned_count(const struct upload_engine *eng,
                                   const void *owner)
{
	const struct upload *u;
	unsigned n = 0;

	for (u = eng->uploads; u; u = u->next)
		if (u->owner == owner && u->state != UPLOAD_REMOVING)
			n++;
	return n;
}

int upload_begin(struct upload_engine *eng, void *owner,
                 const struct upload_begin_req *req, upload_begin_cb cb,
                 void *data, char *err, size_t errlen)
{
	struct upload *u;

	if (eng->stopping)
		return ups_errf(UPS_ERR_UNAVAILABLE, err, errlen,
		                "upstaged is shutting down");
	u = upload_find_file(eng, req);
	if (u && u->state != UPLOAD_DETACHED)
		return ups_errf(UPS_ERR_CONFLICT, err, errlen,
		                "this file is being uploaded by another "
		                "connection");
	if (upload_owned_count(eng, owner) >= eng->cfg.max_per_owner)
		return ups_errf(UPS_ERR_BUSY, err, errlen,
		                "this connection has %u uploads running "
		                "(max-uploads-per-client); retry later",
		                eng->cfg.max_per_owner);
	if (upload_active_count(eng) >= eng->cfg.max_uploads)
		return ups_errf(UPS_ERR_BUSY, err, errlen,
		                "%u uploads are running (max-uploads); retry "
		                "later",
		                eng->cfg.max_uploads);
	if (!u) {
		u = upload_new(eng, UPLOAD_BEGINNING);
		if (!u)
			return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
			                "out of memory");
		u->fresh = true;
		memcpy(u->stream, req->stream, sizeof(u->stream));
		memcpy(u->binary_version, req->binary_version,
		       sizeof(u->binary_version));
		memcpy(u->sha256, req->sha256, sizeof(u->sha256));
		memcpy(u->token, req->token, sizeof(u->token));
		u->size = req->size;
	} else if (upload_move(u, UPLOAD_BEGINNING)) {
		return ups_errf(UPS_ERR_INTERNAL, err, errlen,
		                "bad upload state");
	}
	u->force = req->force;
	u->owner = owner;
	u->begin_cb = cb;
	u->begin_data = data;
	upload_kick(u);
	return 0;
}

int upload_commit(struct upload_engine *eng, void *owner, uint64_t upload_id,
                  const char *sha256, upload_commit_cb cb, void *data,
                  char *err, size_t errlen)
{
	struct upload *u = upload_find_id(eng, upload_id);

	if (!u || u->owner != owner || u->state != UPLOAD_RECEIVING)
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                "upload %" PRIu64 " is not receiving on this "
		                "connection",
		                upload_id);
	if (!u->sha256[0] && !sha256)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.sha256\": required, because "
		                "UploadBegin declared none");
	if (upload_move(u, UPLOAD_COMMITTING))
		return ups_errf(UPS_ERR_INTERNAL, err, errlen,
		                "bad upload state");
	u->commit_ns = uv_hrtime();
	snprintf(u->commit_sha, sizeof(u->commit_sha), "%s",
	         sha256 ? sha256 : "");
	u->commit_cb = cb;
	u->commit_data = data;
	upload_kick(u);
	return 0;
}

int upload_abort(struct upload_engine *eng, void *owner, uint64_t upload_id)
{
	struct upload *u = upload_find_id(eng, upload_id);

	if (!u || (u->owner && u->owner != owner) ||
	    (u->state != UPLOAD_RECEIVING && u->state != UPLOAD_DETACHED))
		return UPS_ERR_NOT_FOUND;
	/* The owner asked: it is told by the answer, not by an error. */
	upload_set_paused(u, false);
	u->owner = NULL;
	upload_doom(u, 0, "aborted by the client");
	return 0;
}

int upload_status(struct upload_engine *eng, uint64_t upload_id,
                  struct upload_info *out)
{
	struct upload *u = upload_find_id(eng, upload_id);

	if (!u || u->state == UPLOAD_BEGINNING)
		return UPS_ERR_NOT_FOUND;
	memset(out, 0, sizeof(*out));
	out->upload_id = u->id;
	memcpy(out->stream, u->stream, sizeof(out->stream));
	memcpy(out->binary_version, u->binary_version,
	       sizeof(out->binary_version));
	memcpy(out->sha256, u->sha256, sizeof(out->sha256));
	out->size = u->size;
	out->offset = u->offset;
	out->durable = u->durable;
	out->state = u->state;
	return 0;
}

/* The sweep: expiry, stalls, and the cap on partials. */

/* Detaches u (receiving, owned): the owner is told why and may resume it
 * with UploadBegin; the slot it held is free. */
static void upload_detach(struct upload *u, int code, const char *why)
{
	upload_tell_error(u->eng, u->owner, u->id, code, why, &u->offset);
	upload_set_paused(u, false);
	u->owner = NULL;
	u->touched_s = u->eng->now_s();
	upload_move(u, UPLOAD_DETACHED);
	upload_kick(u);
}

/* Keeps at most max_partials detached uploads: the oldest go first. */
static void upload_enforce_partials(struct upload_engine *eng)
{
	struct upload *u, *oldest;
	unsigned n;

	for (;;) {
		n = 0;
		oldest = NULL;
		for (u = eng->uploads; u; u = u->next) {
			if (u->state != UPLOAD_DETACHED)
				continue;
			n++;
			if (!oldest || u->touched_s < oldest->touched_s)
				oldest = u;
		}
		if (n <= eng->cfg.max_partials)
			return;
		LOG_INFO("upload",
		         "upload %" PRIu64 " (%s): more than %u interrupted "
		         "uploads (max-partials); the oldest goes",
		         oldest->id, oldest->binary_version,
		         eng->cfg.max_partials);
		upload_doom(oldest, 0, "max-partials");
	}
}

void upload_engine_sweep(struct upload_engine *eng)
{
	int64_t now = eng->now_s();
	struct upload *u, *next;
	char why[UPS_ERRMSG_MAX];

	for (u = eng->uploads; u; u = next) {
		next = u->next;
		if (u->state == UPLOAD_RECEIVING && !u->busy && !u->ckpt_busy &&
		    !u->q_head &&
		    eng->cfg.stall_s > 0 && now - u->rx_s >= eng->cfg.stall_s) {
			ups_errf(0, why, sizeof(why),
			         "no data for %" PRId64 " s (upload-stall-"
			         "timeout); detached: resume with UploadBegin",
			         now - u->rx_s);
			LOG_INFO("upload", "upload %" PRIu64 " (%s): %s", u->id,
			         u->binary_version, why);
			upload_detach(u, UPS_ERR_TIMEOUT, why);
			continue;
		}
		if (u->state != UPLOAD_DETACHED || u->busy || u->ckpt_busy ||
		    now - u->touched_s < eng->cfg.expiry_s)
			continue;
		LOG_INFO("upload",
		         "upload %" PRIu64 " (%s): detached for over %" PRId64
		         " s; expired",
		         u->id, u->binary_version, eng->cfg.expiry_s);
		upload_doom(u, 0, "expired");
	}
	upload_enforce_partials(eng);
}

static void upload_on_sweep(uv_timer_t *t)
{
	upload_engine_sweep(t->data);
}

/* Start-up and shutdown. */

static int upload_scan_orphan(void *arg, uint64_t id, uint64_t size)
{
	struct upload_engine *eng = arg;
	char err[UPS_ERRMSG_MAX];

	(void)size;
	if (upload_find_id(eng, id))
		return 0;
	LOG_INFO("upload",
	         "removing staging/%" PRIu64 ".part: no upload "
	         "refers to it",
	         id);
	staging_remove(&eng->stg, id, err, sizeof(err));
	return 0;
}

/* Reloads partial uploads as detached. Blocking; before the loop runs. */
static int upload_recover(struct upload_engine *eng, char *err, size_t errlen)
{
	struct catalog_upload *rows = NULL;
	char e2[UPS_ERRMSG_MAX];
	size_t n = 0, i;
	int rv;

	rv = catalog_upload_list_expired(eng->cat, INT64_MAX, &rows, &n, err,
	                                 errlen);
	if (rv)
		return rv;
	for (i = 0; i < n; i++) {
		struct catalog_upload *cu = &rows[i];
		uint64_t have = 0, durable = cu->durable_offset;
		struct upload *u;
		int fd = -1;

		rv = staging_open(&eng->stg, cu->id, false, &fd, &have, e2,
		                  sizeof(e2));
		if (rv) {
			LOG_INFO("upload",
			         "upload %" PRIu64 ": staging file gone (%s); "
			         "forgetting it",
			         cu->id, e2);
			catalog_upload_delete(eng->cat, cu->id, e2, sizeof(e2));
			continue;
		}
		if (have < durable)
			durable = 0;
		if (have != durable &&
		    staging_truncate(&eng->stg, fd, durable, e2, sizeof(e2)))
			LOG_WARN("upload", "upload %" PRIu64 ": %s", cu->id,
			         e2);
		close(fd);
		if (durable != cu->durable_offset)
			catalog_upload_set_offset(eng->cat, cu->id, durable,
			                          cu->updated_at, e2,
			                          sizeof(e2));
		u = upload_new(eng, UPLOAD_DETACHED);
		if (!u) {
			rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
			              "out of memory");
			goto out;
		}
		u->id = cu->id;
		memcpy(u->stream, cu->stream, sizeof(u->stream));
		memcpy(u->binary_version, cu->binary_version,
		       sizeof(u->binary_version));
		memcpy(u->sha256, cu->sha256, sizeof(u->sha256));
		memcpy(u->token, cu->token, sizeof(u->token));
		u->size = cu->size;
		u->offset = u->written = u->durable = u->acked = durable;
		u->touched_s = cu->updated_at;
		LOG_INFO("upload",
		         "upload %" PRIu64 ": %s (%s) resumable from %" PRIu64
		         " of %" PRIu64 " bytes",
		         u->id, u->binary_version, u->stream, durable, u->size);
	}
	rv = staging_scan(&eng->stg, upload_scan_orphan, eng, err, errlen);
out:
	free(rows);
	return rv;
}

int upload_engine_open(struct upload_engine *eng, uv_loop_t *loop,
                       struct store *store, const struct upload_config *cfg,
                       const struct upload_events *events, char *err,
                       size_t errlen)
{
	int rv;

	memset(eng, 0, sizeof(*eng));
	eng->loop = loop;
	eng->store = store;
	eng->cat = store_catalog(store);
	eng->events = events;
	eng->cfg = *cfg;
	if (eng->cfg.max_per_owner == 0)
		eng->cfg.max_per_owner = eng->cfg.max_uploads;
	if (eng->cfg.max_partials == 0)
		eng->cfg.max_partials = UINT32_MAX;
	eng->now_s = upload_now_default;
	eng->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	if (eng->page_size < STAGING_ALIGN)
		eng->page_size = STAGING_ALIGN;
	if (eng->cfg.sync_bytes == 0)
		eng->cfg.sync_bytes = UPS_LIMIT_UPLOAD_SYNC_BYTES;
	eng->fault = cfg->fault ? strdup(cfg->fault) : NULL;
	if (cfg->fault && !eng->fault) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto fail;
	}
	eng->cfg.fault = eng->fault;
	eng->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!eng->sha256) {
		rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
		              "OpenSSL has no SHA-256");
		goto fail;
	}
	rv = staging_init(&eng->stg, store_staging_dir(store), eng->fault, err,
	                  errlen);
	if (rv)
		goto fail;
	eng->stg_open = true;
	rv = upload_recover(eng, err, errlen);
	if (rv)
		goto fail;
	upload_enforce_partials(eng);
	return 0;

fail:
	upload_engine_close(eng);
	return rv;
}

int upload_engine_start(struct upload_engine *eng)
{
	uint64_t period_ms;
	int rv;

	rv = uv_timer_init(eng->loop, &eng->expiry);
	if (rv)
		return UPS_ERR_IO;
	eng->expiry.data = eng;
	eng->expiry_open = true;
	/* Often enough that a partial outlives its expiry, and a stalled
	 * upload its stall timeout, by at most half of it (or a minute). */
	period_ms = (uint64_t)eng->cfg.expiry_s * 1000 / 2;
	if (eng->cfg.stall_s > 0 &&
	    (uint64_t)eng->cfg.stall_s * 1000 / 2 < period_ms)
		period_ms = (uint64_t)eng->cfg.stall_s * 1000 / 2;
	if (period_ms < 1000)
		period_ms = 1000;
	if (period_ms > 60000)
		period_ms = 60000;
	rv =
	    uv_timer_start(&eng->expiry, upload_on_sweep, period_ms, period_ms);
	return rv ? UPS_ERR_IO : 0;
}

void upload_engine_stop(struct upload_engine *eng)
{
	eng->stopping = true;
	if (eng->expiry_open) {
		uv_timer_stop(&eng->expiry);
		uv_close((uv_handle_t *)&eng->expiry, NULL);
		eng->expiry_open = false;
	}
}

void upload_engine_close(struct upload_engine *eng)
{
	upload_free_chunks(NULL, eng->pool);
	eng->pool = NULL;
	eng->pool_count = 0;
	while (eng->uploads) {
		struct upload *u = eng->uploads;

		/* The loop has drained: no job is left. */
		u->busy = u->ckpt_busy = false;
		u->owner = NULL;
		upload_free(u);
	}
	if (eng->stg_open)
		staging_close(&eng->stg);
	eng->stg_open = false;
	EVP_MD_free((EVP_MD *)eng->sha256);
	eng->sha256 = NULL;
	free(eng->fault);
	eng->fault = NULL;
}

uint64_t upload_engine_bytes_in_flight(const struct upload_engine *eng)
{
	uint64_t n = 0;

	for (const struct upload *u = eng->uploads; u; u = u->next)
		if (u->state == UPLOAD_RECEIVING && u->offset > u->durable)
			n += u->offset - u->durable;
	return n;
}
