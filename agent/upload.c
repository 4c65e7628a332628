/* The upload engine. */
#include "agent/upload.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "agent/dispatch.h"
#include "proto/binary.h"
#include "proto/chunk.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/log.h"
#include "proto/version.h"

/* One chunk's payload, queued until its upload's job writes it. */
struct upload_chunk {
	struct upload_chunk *next;
	uint64_t offset;
	size_t len;
	/* UPS_LIMIT_CHUNK_PAYLOAD_MAX bytes aligned to STAGING_ALIGN, so
	 * that whole blocks can be written around the page cache. */
	uint8_t *data;
};

_Static_assert(UPS_LIMIT_CHUNK_PAYLOAD_MAX % STAGING_ALIGN == 0,
               "aligned_alloc needs a multiple of the alignment");

/* Spare chunk buffers kept by the engine: a window's worth, plus one. */
#define UPLOAD_POOL_MAX 16

enum upload_job {
	UPLOAD_JOB_NONE,
	UPLOAD_JOB_BEGIN,
	UPLOAD_JOB_WRITE,
	UPLOAD_JOB_SYNC, /* detached: make written bytes durable, close */
	UPLOAD_JOB_COMMIT,
	UPLOAD_JOB_REMOVE,
};

struct upload {
	struct upload_engine *eng;
	struct upload *prev, *next;
	enum upload_state state;
	uint64_t id; /* 0 until the catalog assigned one */
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char sha256[UPS_SHA256_HEX_LEN + 1];
	uint64_t size;
	bool force;
	bool fresh;        /* no catalog row yet (a new UploadBegin) */
	struct peer *peer; /* owner; NULL when detached; borrowed */
	uint64_t offset;   /* next byte expected from the peer */
	uint64_t written;  /* bytes hashed and written */
	uint64_t durable;  /* bytes fsynced and recorded */
	uint64_t acked;    /* offset of the last UploadAck */
	int64_t touched_s; /* last activity, for expiry */
	bool paused;       /* peer's reads paused (window overrun) */
	struct upload_chunk *q_head, *q_tail;
	uint64_t begin_rid;  /* UploadBegin owed an answer (BEGINNING) */
	uint64_t commit_rid; /* UploadCommit owed an answer (COMMITTING) */
	/* Touched by the job's worker while busy, else by the loop. */
	int fd;
	EVP_MD_CTX *md;
	/* The job in flight (at most one). */
	bool busy;
	enum upload_job job;
	uv_work_t work;
	/* A write job hashes its batch on a second worker meanwhile: both
	 * only read the batch, and the disk write then costs no more time
	 * than the hashing. works_out counts the job's works not done. */
	uv_work_t hash_work;
	unsigned works_out;
	int hash_rv; /* the hash worker's; read once works_out is 0 */
	struct upload_chunk *batch;
	int job_rv;
	char job_err[UPS_ERRMSG_MAX];
	uint64_t job_id;
	uint64_t job_written;
	uint64_t job_durable;
	struct catalog_binary job_bin;
};

enum upload_req_kind {
	UPLOAD_REQ_LIST,
	UPLOAD_REQ_DELETE,
};

/* A List or Delete: catalog and store work not tied to an upload. */
struct upload_req {
	struct upload_engine *eng;
	struct upload_req *prev, *next;
	enum upload_req_kind kind;
	struct peer *peer; /* NULL once gone */
	uint64_t request_id;
	bool all_streams;
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	uv_work_t work;
	int rv;
	char err[UPS_ERRMSG_MAX];
	struct catalog_binary *list;
	size_t count;
};

/* State table. */

static const struct {
	const char *name;
	unsigned next; /* bit per allowed next state */
} upload_states[UPLOAD__STATE_COUNT] = {
#define B(s) (1u << UPLOAD_##s)
    [UPLOAD_BEGINNING] = {"beginning", B(RECEIVING) | B(DETACHED)},
    [UPLOAD_RECEIVING] = {"receiving",
                          B(COMMITTING) | B(DETACHED) | B(REMOVING)},
    [UPLOAD_DETACHED] = {"detached", B(BEGINNING) | B(REMOVING)},
    [UPLOAD_COMMITTING] = {"committing", B(REMOVING)},
    [UPLOAD_REMOVING] = {"removing", 0},
#undef B
};

const char *upload_state_name(enum upload_state s)
{
	return s < UPLOAD__STATE_COUNT ? upload_states[s].name : "unknown";
}

bool upload_transition_allowed(enum upload_state from, enum upload_state to)
{
	if (from >= UPLOAD__STATE_COUNT || to >= UPLOAD__STATE_COUNT)
		return false;
	return (upload_states[from].next & (1u << to)) != 0;
}

/* The one place an upload changes state. */
static void upload_set_state(struct upload *u, enum upload_state to)
{
	if (u->state == to)
		return;
	if (!upload_transition_allowed(u->state, to)) {
		LOG_ERROR("upload",
		          "upload %" PRIu64 ": bad transition %s -> %s", u->id,
		          upload_state_name(u->state), upload_state_name(to));
		return;
	}
	LOG_DEBUG("upload", "upload %" PRIu64 ": %s -> %s", u->id,
	          upload_state_name(u->state), upload_state_name(to));
	u->state = to;
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

static int64_t upload_now_default(void)
{
	return (int64_t)time(NULL);
}

json_t *upload_record_json(const struct catalog_binary *b)
{
	struct ups_binary_version bv;
	char version[UPS_LIMIT_VERSION_LEN + 1];
	char when[32];
	struct tm tm;
	time_t t = (time_t)b->stored_at;

	if (ups_binary_version_parse(b->binary_version, &bv, NULL, 0) ||
	    ups_version_format(&bv.version, version, sizeof(version)))
		return NULL;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
	                 "binary-version", b->binary_version, "version",
	                 version, "release", bv.release, "arch", bv.arch,
	                 "stream", b->stream, "size", (json_int_t)b->size,
	                 "sha256", b->sha256, "stored-at", when);
}

/* Sending. */

static void upload_send(struct peer *p, json_t *env)
{
	if (!env)
		return;
	if (p)
		(void)peer_send(p, env);
	json_decref(env);
}

static void upload_answer(struct peer *p, uint64_t request_id, int rv,
                          const char *text, json_t *result, json_t *info)
{
	if (!p) {
		json_decref(result);
		json_decref(info);
		return;
	}
	dispatch_answer(p, request_id, rv, text, result, info);
}

static void upload_push_ack(struct upload *u)
{
	json_t *params = json_pack(
	    "{s:I, s:I, s:I}", "upload-id", (json_int_t)u->id, "offset",
	    (json_int_t)u->written, "durable-offset", (json_int_t)u->durable);

	u->acked = u->written;
	if (params)
		upload_send(u->peer,
		            ups_env_push("AgentBinaries", "UploadAck", params));
}

static void upload_push_error(struct peer *p, uint64_t id, int code,
                              const char *text, const uint64_t *expected)
{
	json_t *params;

	params =
	    json_pack("{s:I, s:s, s:s}", "upload-id", (json_int_t)id, "error",
	              text && *text ? text : ups_err_message(code),
	              "error-code", ups_err_code(code));
	if (!params)
		return;
	if (expected &&
	    json_object_set_new(params, "expected-offset",
	                        json_integer((json_int_t)*expected))) {
		json_decref(params);
		return;
	}
	upload_send(p, ups_env_push("AgentBinaries", "UploadError", params));
}

/* Uploads in memory. */

static struct upload_chunk *upload_chunk_alloc(struct upload_engine *eng,
                                               size_t len)
{
	struct upload_chunk *c = eng->pool;

	if (c) {
		eng->pool = c->next;
		eng->pool_count--;
		return c;
	}
	(void)len;
	c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	/* Always full size, so that every buffer can go back to the pool. */
	c->data = aligned_alloc(STAGING_ALIGN, UPS_LIMIT_CHUNK_PAYLOAD_MAX);
	if (!c->data) {
		free(c);
		return NULL;
	}
	return c;
}

static void upload_free_chunks_to(struct upload_engine *eng,
                                  struct upload_chunk *c)
{
	while (c) {
		struct upload_chunk *next = c->next;

		if (eng && eng->pool_count < UPLOAD_POOL_MAX) {
			c->next = eng->pool;
			eng->pool = c;
			eng->pool_count++;
		} else {
			free(c->data);
			free(c);
		}
		c = next;
	}
}

#define upload_free_chunks(c) upload_free_chunks_to(u->eng, (c))

static struct upload *upload_new(struct upload_engine *eng)
{
	struct upload *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->eng = eng;
	u->fd = -1;
	u->work.data = u;
	u->hash_work.data = u;
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

	if (u->busy) {
		LOG_ERROR("upload", "upload %" PRIu64 ": freed while busy",
		          u->id);
		return;
	}
	if (u->paused && u->peer)
		peer_rx_pause(u->peer, 0);
	if (u->prev)
		u->prev->next = u->next;
	else
		eng->uploads = u->next;
	if (u->next)
		u->next->prev = u->prev;
	upload_free_chunks(u->q_head);
	upload_free_chunks(u->batch);
	EVP_MD_CTX_free(u->md);
	if (u->fd >= 0)
		close(u->fd);
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
		    strcmp(u->sha256, req->sha256) == 0)
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

unsigned upload_active_count(const struct upload_engine *eng)
{
	const struct upload *u;
	unsigned n = 0;

	for (u = eng->uploads; u; u = u->next)
		if (u->peer && u->state != UPLOAD_REMOVING)
			n++;
	return n;
}

/* Workers (thread pool). They read the upload's fixed fields and write
 * only fd, md and the job_* fields. */

static int upload_check_space(struct upload_engine *eng, uint64_t need,
                              char *err, size_t errlen)
{
	uint64_t avail = 0;
	int rv;

	rv = eng->store->free_space(eng->store_state, &avail, err, errlen);
	if (rv)
		return rv;
	if (avail < need)
		return ups_errf(UPS_ERR_NO_SPACE, err, errlen,
		                "not enough free space: %" PRIu64
		                " bytes free, %" PRIu64 " needed",
		                avail, need);
	return 0;
}

static int upload_md_reset(struct upload *u, char *err, size_t errlen)
{
	if (!u->md)
		u->md = EVP_MD_CTX_new();
	if (!u->md || !EVP_DigestInit_ex(u->md, u->eng->sha256, NULL))
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "cannot set up SHA-256");
	return 0;
}

static void upload_work_begin(struct upload *u)
{
	struct upload_engine *eng = u->eng;
	char *err = u->job_err;
	size_t errlen = sizeof(u->job_err);
	struct catalog_binary b;
	uint64_t have = 0;
	uint64_t durable = u->fresh ? 0 : u->durable;
	int rv;

	rv = catalog_binary_get(eng->cat, u->stream, u->binary_version, &b, err,
	                        errlen);
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
	rv = upload_check_space(eng, u->size - durable + eng->cfg.reserve, err,
	                        errlen);
	if (rv)
		goto fail;
	if (u->fresh) {
		struct catalog_upload cu;

		memset(&cu, 0, sizeof(cu));
		memcpy(cu.stream, u->stream, sizeof(cu.stream));
		memcpy(cu.binary_version, u->binary_version,
		       sizeof(cu.binary_version));
		memcpy(cu.sha256, u->sha256, sizeof(cu.sha256));
		cu.size = u->size;
		rv = catalog_upload_create(eng->cat, &cu, eng->now_s(), err,
		                           errlen);
		if (rv)
			goto fail;
		u->job_id = cu.id;
		rv = staging_open(&eng->stg, cu.id, true, &u->fd, &have, err,
		                  errlen);
		if (!rv && have > 0)
			rv = staging_truncate(&eng->stg, u->fd, 0, err, errlen);
		if (!rv)
			rv = upload_md_reset(u, err, errlen);
		if (rv) {
			char e2[UPS_ERRMSG_MAX];

			if (u->fd >= 0)
				close(u->fd);
			u->fd = -1;
			staging_remove(&eng->stg, cu.id, e2, sizeof(e2));
			catalog_upload_delete(eng->cat, cu.id, e2, sizeof(e2));
			goto fail;
		}
		u->job_written = u->job_durable = 0;
		u->job_rv = 0;
		return;
	}
	/* Resume: the file must hold the durable bytes; anything after them
	 * was never acknowledged as durable and goes. */
	u->job_id = u->id;
	if (u->fd < 0) {
		rv = staging_open(&eng->stg, u->id, true, &u->fd, &have, err,
		                  errlen);
		if (rv)
			goto fail;
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
			goto fail;
	}
	if (!u->md || u->written != durable) {
		rv = upload_md_reset(u, err, errlen);
		if (!rv && durable > 0)
			rv = staging_rehash(&eng->stg, u->fd, durable, u->md,
			                    err, errlen);
		if (rv)
			goto fail;
	}
	if (durable != u->durable)
		(void)catalog_upload_set_offset(eng->cat, u->id, durable,
		                                eng->now_s(), err, errlen);
	u->job_written = u->job_durable = durable;
	u->job_rv = 0;
	return;

fail:
	u->job_rv = rv;
}

static void upload_work_write(struct upload *u)
{
	struct upload_engine *eng = u->eng;
	char *err = u->job_err;
	size_t errlen = sizeof(u->job_err);
	uint64_t written = u->written;
	struct upload_chunk *c;
	int rv = 0;

	u->job_durable = u->durable;
	for (c = u->batch; c; c = c->next) {
		rv = upload_check_space(eng, c->len + eng->cfg.reserve / 2, err,
		                        errlen);
		if (rv)
			break;
		rv = staging_write(&eng->stg, u->fd, c->data, c->len, c->offset,
		                   err, errlen);
		if (rv)
			break;
		written += c->len;
	}
	u->job_written = written;
	/* Start writeback of what this batch wrote now, so that the
	 * fdatasync every sync_bytes finds little left to do and does not
	 * stall the stream. */
	if (!rv && written > u->written)
		(void)sync_file_range(u->fd, (off64_t)u->written,
		                      (off64_t)(written - u->written),
		                      SYNC_FILE_RANGE_WRITE);
	if (!rv && written - u->durable >= eng->cfg.sync_bytes) {
		rv = staging_sync(&eng->stg, u->fd, err, errlen);
		if (!rv)
			rv = catalog_upload_set_offset(eng->cat, u->id, written,
			                               eng->now_s(), err,
			                               errlen);
		if (!rv)
			u->job_durable = written;
	}
	u->job_rv = rv;
}

/* The other half of a write job, on another worker at the same time. */
static void upload_work_hash(uv_work_t *w)
{
	struct upload *u = w->data;
	struct upload_chunk *c;

	u->hash_rv = 0;
	for (c = u->batch; c; c = c->next) {
		if (!EVP_DigestUpdate(u->md, c->data, c->len)) {
			u->hash_rv = UPS_ERR_INTERNAL;
			return;
		}
	}
}

static void upload_work_sync(struct upload *u)
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
	close(u->fd);
	u->fd = -1;
	u->job_rv = rv;
}

static int upload_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi, lo;
		char a = hex[2 * i], b = hex[2 * i + 1];

		hi = a >= '0' && a <= '9'   ? a - '0'
		     : a >= 'a' && a <= 'f' ? a - 'a' + 10
		                            : -1;
		lo = b >= '0' && b <= '9'   ? b - '0'
		     : b >= 'a' && b <= 'f' ? b - 'a' + 10
		                            : -1;
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void upload_discard_files(struct upload *u)
{
	char e2[UPS_ERRMSG_MAX];

	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	if (u->id) {
		staging_remove(&u->eng->stg, u->id, e2, sizeof(e2));
		catalog_upload_delete(u->eng->cat, u->id, e2, sizeof(e2));
	}
}

static void upload_work_commit(struct upload *u)
{
	struct upload_engine *eng = u->eng;
	char *err = u->job_err;
	size_t errlen = sizeof(u->job_err);
	uint8_t digest[EVP_MAX_MD_SIZE];
	uint8_t want[32];
	unsigned dlen = 0;
	char name[STAGING_NAME_MAX];
	struct catalog_binary b, old;
	int rv;

	if (u->written != u->size) {
		rv = ups_errf(UPS_ERR_SIZE_MISMATCH, err, errlen,
		              "received %" PRIu64 " bytes, UploadBegin "
		              "announced %" PRIu64,
		              u->written, u->size);
		goto fail;
	}
	rv = staging_sync(&eng->stg, u->fd, err, errlen);
	if (rv)
		goto fail;
	if (!EVP_DigestFinal_ex(u->md, digest, &dlen) || dlen != 32 ||
	    upload_hex_decode(u->sha256, want, sizeof(want))) {
		rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
		              "SHA-256 final failed");
		goto fail;
	}
	if (CRYPTO_memcmp(digest, want, sizeof(want)) != 0) {
		rv = ups_errf(UPS_ERR_CHECKSUM_MISMATCH, err, errlen,
		              "the SHA-256 of the %" PRIu64
		              " bytes received is not %s",
		              u->size, u->sha256);
		goto fail;
	}
	(void)catalog_upload_set_state(eng->cat, u->id,
	                               CATALOG_UPLOAD_COMMITTING, eng->now_s(),
	                               err, errlen);
	if (u->force &&
	    catalog_binary_get(eng->cat, u->stream, u->binary_version, &old,
	                       err, errlen) == 0 &&
	    strcmp(old.sha256, u->sha256) != 0) {
		rv = eng->store->remove(eng->store_state, u->stream,
		                        u->binary_version, old.sha256, err,
		                        errlen);
		if (rv && rv != UPS_ERR_NOT_FOUND)
			goto fail;
	}
	close(u->fd);
	u->fd = -1;
	staging_name(u->id, name, sizeof(name));
	rv = eng->store->put(eng->store_state, name, u->sha256, u->stream,
	                     u->binary_version, err, errlen);
	if (rv)
		goto fail;
	memset(&b, 0, sizeof(b));
	memcpy(b.stream, u->stream, sizeof(b.stream));
	memcpy(b.binary_version, u->binary_version, sizeof(b.binary_version));
	memcpy(b.sha256, u->sha256, sizeof(b.sha256));
	b.size = u->size;
	b.stored_at = eng->now_s();
	rv = catalog_commit_upload(eng->cat, u->id, &b, u->force, err, errlen);
	if (rv == UPS_ERR_EXISTS) {
		/* Someone committed the same name meanwhile: the same bytes
		 * are the same answer. */
		rv = catalog_binary_get(eng->cat, u->stream, u->binary_version,
		                        &old, err, errlen);
		if (!rv && strcmp(old.sha256, u->sha256) != 0)
			rv = ups_errf(UPS_ERR_CONFLICT, err, errlen,
			              "%s (%s) was stored meanwhile with a "
			              "different sha256",
			              u->binary_version, u->stream);
		if (!rv) {
			b = old;
			catalog_upload_delete(eng->cat, u->id, err, errlen);
		}
	}
	if (rv)
		goto fail;
	u->job_bin = b;
	u->job_rv = 0;
	return;

fail:
	u->job_rv = rv;
	upload_discard_files(u);
}

static void upload_work(uv_work_t *w)
{
	struct upload *u = w->data;

	switch (u->job) {
	case UPLOAD_JOB_BEGIN:
		upload_work_begin(u);
		break;
	case UPLOAD_JOB_WRITE:
		upload_work_write(u);
		break;
	case UPLOAD_JOB_SYNC:
		upload_work_sync(u);
		break;
	case UPLOAD_JOB_COMMIT:
		upload_work_commit(u);
		break;
	case UPLOAD_JOB_REMOVE:
		upload_discard_files(u);
		u->job_rv = 0;
		break;
	case UPLOAD_JOB_NONE:
		break;
	}
}

/* Loop side. */

static void upload_after_work(uv_work_t *w, int status);

/* Moves the first window/4 bytes (at least one chunk) of u's queue into
 * its batch. Taking the whole queue would make the stream stop-and-go:
 * the ack that lets the client send more only goes out when the job ends,
 * so a job as big as the window leaves the network idle while it runs. */
static void upload_take_batch(struct upload *u)
{
	uint64_t limit = u->eng->cfg.window / 4;
	uint64_t bytes = 0;
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
}

static int upload_queue(struct upload *u, uv_work_t *w, uv_work_cb cb)
{
	int rv = uv_queue_work(u->eng->loop, w, cb, upload_after_work);

	if (rv == 0)
		u->works_out++;
	return rv;
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
		job = UPLOAD_JOB_COMMIT;
	else if (u->state == UPLOAD_DETACHED && u->fd >= 0)
		job = UPLOAD_JOB_SYNC;
	if (job == UPLOAD_JOB_NONE)
		return;
	if (job == UPLOAD_JOB_WRITE)
		upload_take_batch(u);
	u->job = job;
	u->job_rv = 0;
	u->job_err[0] = '\0';
	u->busy = true;
	u->works_out = 0;
	rv = upload_queue(u, &u->work, upload_work);
	if (!rv && job == UPLOAD_JOB_WRITE)
		rv = upload_queue(u, &u->hash_work, upload_work_hash);
	if (rv) {
		/* Only fails for a NULL callback: a programming error. */
		LOG_ERROR("upload", "uv_queue_work: %s", uv_strerror(rv));
		u->busy = u->works_out > 0;
	}
}

/* Aborts u: its bytes and row go; code/text are told to the owner and
 * to a pending commit. */
static void upload_doom(struct upload *u, int code, const char *text)
{
	if (u->state == UPLOAD_REMOVING)
		return;
	LOG_INFO("upload", "upload %" PRIu64 " (%s): aborted: %s", u->id,
	         u->binary_version,
	         text && *text ? text : ups_err_message(code));
	if (u->peer && u->state == UPLOAD_BEGINNING)
		upload_answer(u->peer, u->begin_rid, code ? code : UPS_ERR_IO,
		              text, NULL, NULL);
	else if (code && u->peer) {
		upload_push_error(u->peer, u->id, code, text, NULL);
		if (u->state == UPLOAD_COMMITTING)
			upload_answer(u->peer, u->commit_rid, code, text, NULL,
			              NULL);
	}
	if (u->paused && u->peer)
		peer_rx_pause(u->peer, 0);
	u->paused = false;
	u->peer = NULL;
	upload_free_chunks(u->q_head);
	u->q_head = u->q_tail = NULL;
	u->state = UPLOAD_REMOVING; /* allowed from every state */
	upload_kick(u);
}

static void upload_after_begin(struct upload *u)
{
	json_t *res;

	if (u->job_rv == 0) {
		u->id = u->job_id;
		u->fresh = false;
		u->offset = u->written = u->acked = u->job_written;
		u->durable = u->job_durable;
		u->touched_s = u->eng->now_s();
		if (!u->peer) {
			upload_set_state(u, UPLOAD_DETACHED);
			upload_kick(u);
			return;
		}
		upload_set_state(u, UPLOAD_RECEIVING);
		LOG_INFO("upload",
		         "upload %" PRIu64 ": %s (%s), %" PRIu64
		         " bytes, from offset %" PRIu64 " (peer %llu)",
		         u->id, u->binary_version, u->stream, u->size,
		         u->offset, (unsigned long long)u->peer->id);
		res = json_pack("{s:s, s:I, s:I, s:I}", "status", "upload",
		                "upload-id", (json_int_t)u->id, "offset",
		                (json_int_t)u->offset, "window",
		                (json_int_t)u->eng->cfg.window);
		upload_answer(u->peer, u->begin_rid,
		              res ? 0 : UPS_ERR_NO_MEMORY, NULL, res, NULL);
		return;
	}
	if (u->job_rv == UPS_ERR_EXISTS) {
		res = upload_record_json(&u->job_bin);
		upload_answer(u->peer, u->begin_rid,
		              res ? 0 : UPS_ERR_NO_MEMORY, NULL,
		              res ? json_pack("{s:s, s:o}", "status", "exists",
		                              "binary", res)
		                  : NULL,
		              NULL);
	} else {
		LOG_INFO("upload", "UploadBegin %s (%s): %s", u->binary_version,
		         u->stream, u->job_err);
		upload_answer(u->peer, u->begin_rid, u->job_rv, u->job_err,
		              NULL, NULL);
	}
	if (u->fresh) {
		upload_free(u);
		return;
	}
	u->peer = NULL;
	if (u->job_rv == UPS_ERR_EXISTS) {
		/* Stored meanwhile: the partial is of no more use. */
		upload_doom(u, 0, NULL);
		return;
	}
	upload_set_state(u, UPLOAD_DETACHED);
	upload_kick(u);
}

static void upload_after_write(struct upload *u)
{
	struct upload_engine *eng = u->eng;

	upload_free_chunks(u->batch);
	u->batch = NULL;
	u->written = u->job_written;
	if (u->job_durable > u->durable)
		u->durable = u->job_durable;
	u->touched_s = eng->now_s();
	if (u->job_rv) {
		upload_doom(u, u->job_rv, u->job_err);
		return;
	}
	if (u->peer && u->state == UPLOAD_RECEIVING &&
	    upload_ack_due(u->acked, u->written, u->size, eng->cfg.window))
		upload_push_ack(u);
	if (u->paused && u->offset - u->written <= eng->cfg.window / 2) {
		u->paused = false;
		if (u->peer)
			peer_rx_pause(u->peer, 0);
	}
}

static void upload_after_commit(struct upload *u)
{
	json_t *rec;

	if (u->job_rv) {
		LOG_INFO("upload", "upload %" PRIu64 " (%s): commit failed: %s",
		         u->id, u->binary_version, u->job_err);
		upload_answer(u->peer, u->commit_rid, u->job_rv, u->job_err,
		              NULL, NULL);
		upload_free(u);
		return;
	}
	LOG_INFO("upload",
	         "upload %" PRIu64 ": stored %s (%s), %" PRIu64
	         " bytes, sha256 %s",
	         u->id, u->binary_version, u->stream, u->size, u->sha256);
	if (u->peer && u->acked != u->written)
		upload_push_ack(u);
	rec = upload_record_json(&u->job_bin);
	upload_answer(u->peer, u->commit_rid, rec ? 0 : UPS_ERR_NO_MEMORY, NULL,
	              rec ? json_pack("{s:o}", "binary", rec) : NULL, NULL);
	upload_free(u);
}

static void upload_after_work(uv_work_t *w, int status)
{
	struct upload *u = w->data;
	enum upload_job job = u->job;

	/* Each half reports only on its own fields until both are done. */
	if (w == &u->hash_work) {
		if (status == UV_ECANCELED)
			u->hash_rv = UPS_ERR_IO;
	} else if (status == UV_ECANCELED && !u->job_rv) {
		u->job_rv = ups_errf(UPS_ERR_IO, u->job_err, sizeof(u->job_err),
		                     "job cancelled");
	}
	if (--u->works_out > 0)
		return;
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
	case UPLOAD_JOB_COMMIT:
		upload_after_commit(u);
		return;
	case UPLOAD_JOB_REMOVE:
		upload_free(u);
		return;
	case UPLOAD_JOB_NONE:
		break;
	}
	upload_kick(u);
}

/* Chunks. */

void upload_chunk(struct upload_engine *eng, struct peer *p,
                  const uint8_t *data, size_t len)
{
	struct ups_chunk_header hdr;
	const uint8_t *payload;
	struct upload_chunk *c;
	struct upload *u;
	char err[UPS_ERRMSG_MAX];
	int rv;

	err[0] = '\0';
	rv = ups_chunk_decode(data, len, &hdr, &payload, err, sizeof(err));
	if (rv) {
		dispatch_push_error(p, UPS_ENV_MALFORMED_REQUEST, rv, err);
		return;
	}
	u = upload_find_id(eng, hdr.upload_id);
	if (!u || u->peer != p || u->state != UPLOAD_RECEIVING) {
		ups_errf(0, err, sizeof(err),
		         "upload %" PRIu64 " is not receiving on this "
		         "connection",
		         hdr.upload_id);
		upload_push_error(p, hdr.upload_id, UPS_ERR_NOT_FOUND, err,
		                  NULL);
		return;
	}
	if (hdr.offset != u->offset) {
		ups_errf(0, err, sizeof(err),
		         "chunk at offset %" PRIu64 ", expected %" PRIu64,
		         hdr.offset, u->offset);
		upload_push_error(p, u->id, UPS_ERR_OFFSET_MISMATCH, err,
		                  &u->offset);
		return;
	}
	if (hdr.offset + hdr.length > u->size) {
		ups_errf(0, err, sizeof(err),
		         "chunk ends at byte %" PRIu64 ", beyond the announced "
		         "size %" PRIu64,
		         hdr.offset + hdr.length, u->size);
		upload_push_error(p, u->id, UPS_ERR_TOO_LARGE, err, NULL);
		return;
	}
	if (!upload_window_fits(u->offset, u->written, hdr.length,
	                        eng->cfg.window)) {
		ups_errf(0, err, sizeof(err),
		         "more than the window (%" PRIu64 " bytes) in flight",
		         eng->cfg.window);
		upload_doom(u, UPS_ERR_TOO_LARGE, err);
		return;
	}
	c = upload_chunk_alloc(eng, hdr.length);
	if (!c) {
		upload_doom(u, UPS_ERR_NO_MEMORY, "out of memory");
		return;
	}
	c->next = NULL;
	c->offset = hdr.offset;
	c->len = hdr.length;
	memcpy(c->data, payload, hdr.length);
	if (u->q_tail)
		u->q_tail->next = c;
	else
		u->q_head = c;
	u->q_tail = c;
	u->offset += hdr.length;
	if (!u->paused && u->offset - u->written > eng->cfg.window) {
		/* A client ignoring its window: stop reading from it until
		 * the queue drained. */
		u->paused = true;
		peer_rx_pause(p, 1);
	}
	upload_kick(u);
}

void upload_peer_gone(struct upload_engine *eng, struct peer *p)
{
	struct upload *u, *next;
	struct upload_req *r;

	for (r = eng->reqs; r; r = r->next)
		if (r->peer == p)
			r->peer = NULL;
	for (u = eng->uploads; u; u = next) {
		next = u->next;
		if (u->peer != p)
			continue;
		u->peer = NULL;
		u->paused = false;
		u->touched_s = eng->now_s();
		if (u->state == UPLOAD_RECEIVING) {
			LOG_INFO("upload",
			         "upload %" PRIu64 ": connection gone at "
			         "offset %" PRIu64 "; detached",
			         u->id, u->offset);
			upload_set_state(u, UPLOAD_DETACHED);
			upload_kick(u);
		}
	}
}

/* Requests. */

void upload_begin(struct upload_engine *eng, struct peer *p,
                  uint64_t request_id, const struct upload_begin_req *req)
{
	struct upload *u;

	if (eng->stopping) {
		upload_answer(p, request_id, UPS_ERR_UNAVAILABLE,
		              "upstaged is shutting down", NULL, NULL);
		return;
	}
	u = upload_find_file(eng, req);
	if (u && u->peer == p && u->state == UPLOAD_RECEIVING) {
		/* The owner asks again: tell it where it stands. */
		upload_answer(p, request_id, 0, NULL,
		              json_pack("{s:s, s:I, s:I, s:I}", "status",
		                        "upload", "upload-id",
		                        (json_int_t)u->id, "offset",
		                        (json_int_t)u->offset, "window",
		                        (json_int_t)eng->cfg.window),
		              NULL);
		return;
	}
	if (u && u->state != UPLOAD_DETACHED) {
		upload_answer(
		    p, request_id, UPS_ERR_CONFLICT,
		    "this file is being uploaded by another "
		    "connection",
		    NULL, json_pack("{s:s}", "reason", "upload in progress"));
		return;
	}
	if (upload_active_count(eng) >= eng->cfg.max_uploads) {
		char err[UPS_ERRMSG_MAX];

		ups_errf(0, err, sizeof(err),
		         "%u uploads are running (max-uploads); retry later",
		         eng->cfg.max_uploads);
		upload_answer(p, request_id, UPS_ERR_BUSY, err, NULL, NULL);
		return;
	}
	if (!u) {
		u = upload_new(eng);
		if (!u) {
			upload_answer(p, request_id, UPS_ERR_NO_MEMORY, NULL,
			              NULL, NULL);
			return;
		}
		u->fresh = true;
		u->state = UPLOAD_BEGINNING;
		memcpy(u->stream, req->stream, sizeof(u->stream));
		memcpy(u->binary_version, req->binary_version,
		       sizeof(u->binary_version));
		memcpy(u->sha256, req->sha256, sizeof(u->sha256));
		u->size = req->size;
	} else {
		upload_set_state(u, UPLOAD_BEGINNING);
	}
	u->force = req->force;
	u->peer = p;
	u->begin_rid = request_id;
	upload_kick(u);
}

/* The upload id of a request from p: p's own upload in one of states. */
static struct upload *upload_owned(struct upload_engine *eng, struct peer *p,
                                   uint64_t id)
{
	struct upload *u = upload_find_id(eng, id);

	return u && u->peer == p ? u : NULL;
}

void upload_commit(struct upload_engine *eng, struct peer *p,
                   uint64_t request_id, uint64_t upload_id)
{
	struct upload *u = upload_owned(eng, p, upload_id);
	char err[UPS_ERRMSG_MAX];

	if (!u || u->state != UPLOAD_RECEIVING) {
		ups_errf(0, err, sizeof(err),
		         "upload %" PRIu64 " is not receiving on this "
		         "connection",
		         upload_id);
		upload_answer(p, request_id, UPS_ERR_NOT_FOUND, err, NULL,
		              NULL);
		return;
	}
	upload_set_state(u, UPLOAD_COMMITTING);
	u->commit_rid = request_id;
	upload_kick(u);
}

void upload_abort(struct upload_engine *eng, struct peer *p,
                  uint64_t request_id, uint64_t upload_id)
{
	struct upload *u = upload_find_id(eng, upload_id);

	if (!u || (u->peer && u->peer != p) ||
	    (u->state != UPLOAD_RECEIVING && u->state != UPLOAD_DETACHED)) {
		upload_answer(p, request_id, UPS_ERR_NOT_FOUND,
		              "no such upload, or not this connection's", NULL,
		              NULL);
		return;
	}
	/* The owner asked: no UploadError push. */
	if (u->paused && u->peer)
		peer_rx_pause(u->peer, 0);
	u->paused = false;
	u->peer = NULL;
	upload_doom(u, 0, "aborted by the client");
	upload_answer(p, request_id, 0, NULL, json_object(), NULL);
}

int upload_status(struct upload_engine *eng, struct peer *p, uint64_t upload_id,
                  json_t **result)
{
	struct upload *u = upload_find_id(eng, upload_id);
	const char *state;

	(void)p;
	if (!u || u->state == UPLOAD_BEGINNING)
		return UPS_ERR_NOT_FOUND;
	state = u->state == UPLOAD_COMMITTING ? "committing"
	        : u->state == UPLOAD_DETACHED ? "detached"
	                                      : "receiving";
	*result =
	    json_pack("{s:I, s:s, s:s, s:I, s:s, s:I, s:I, s:s}", "upload-id",
	              (json_int_t)u->id, "binary-version", u->binary_version,
	              "stream", u->stream, "size", (json_int_t)u->size,
	              "sha256", u->sha256, "offset", (json_int_t)u->offset,
	              "durable-offset", (json_int_t)u->durable, "state", state);
	return *result ? 0 : UPS_ERR_NO_MEMORY;
}

/* List and Delete. */

static int upload_binary_cmp(const void *a, const void *b)
{
	const struct catalog_binary *x = a, *y = b;
	int c = strcmp(x->stream, y->stream);

	if (c)
		return c;
	c = ups_version_compare(&x->parsed.version, &y->parsed.version);
	if (c)
		return c;
	c = strcmp(x->parsed.release, y->parsed.release);
	if (c)
		return c;
	return strcmp(x->parsed.arch, y->parsed.arch);
}

static void upload_req_work(uv_work_t *w)
{
	struct upload_req *r = w->data;
	struct upload_engine *eng = r->eng;
	struct catalog_binary b;

	if (r->kind == UPLOAD_REQ_LIST) {
		r->rv = catalog_binary_list(
		    eng->cat, r->all_streams ? NULL : r->stream, &r->list,
		    &r->count, r->err, sizeof(r->err));
		if (!r->rv && r->count > 1)
			qsort(r->list, r->count, sizeof(r->list[0]),
			      upload_binary_cmp);
		return;
	}
	r->rv = catalog_binary_get(eng->cat, r->stream, r->binary_version, &b,
	                           r->err, sizeof(r->err));
	if (r->rv)
		return;
	r->rv =
	    eng->store->remove(eng->store_state, r->stream, r->binary_version,
	                       b.sha256, r->err, sizeof(r->err));
	if (r->rv == UPS_ERR_NOT_FOUND)
		r->rv = 0; /* the row is what is left to go */
	if (!r->rv)
		r->rv = catalog_binary_delete(eng->cat, r->stream,
		                              r->binary_version, r->err,
		                              sizeof(r->err));
}

static void upload_req_after(uv_work_t *w, int status)
{
	struct upload_req *r = w->data;
	struct upload_engine *eng = r->eng;
	json_t *res = NULL;
	size_t i;

	(void)status;
	if (r->prev)
		r->prev->next = r->next;
	else
		eng->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (!r->rv && r->kind == UPLOAD_REQ_LIST) {
		json_t *arr = json_array();

		for (i = 0; arr && i < r->count; i++)
			if (json_array_append_new(
			        arr, upload_record_json(&r->list[i]))) {
				json_decref(arr);
				arr = NULL;
			}
		res = arr ? json_pack("{s:o}", "binaries", arr) : NULL;
		if (!res)
			r->rv = UPS_ERR_NO_MEMORY;
	} else if (!r->rv) {
		LOG_INFO("upload", "deleted %s (%s)", r->binary_version,
		         r->stream);
	}
	upload_answer(r->peer, r->request_id, r->rv, r->err, res, NULL);
	free(r->list);
	free(r);
}

static void upload_req_start(struct upload_engine *eng, struct upload_req *r)
{
	r->eng = eng;
	r->work.data = r;
	r->next = eng->reqs;
	if (r->next)
		r->next->prev = r;
	eng->reqs = r;
	if (uv_queue_work(eng->loop, &r->work, upload_req_work,
	                  upload_req_after)) {
		r->rv = UPS_ERR_INTERNAL;
		upload_req_after(&r->work, 0);
	}
}

void upload_list(struct upload_engine *eng, struct peer *p, uint64_t request_id,
                 const char *stream)
{
	struct upload_req *r = calloc(1, sizeof(*r));

	if (!r) {
		upload_answer(p, request_id, UPS_ERR_NO_MEMORY, NULL, NULL,
		              NULL);
		return;
	}
	r->kind = UPLOAD_REQ_LIST;
	r->peer = p;
	r->request_id = request_id;
	r->all_streams = stream == NULL;
	if (stream)
		snprintf(r->stream, sizeof(r->stream), "%s", stream);
	upload_req_start(eng, r);
}

void upload_delete(struct upload_engine *eng, struct peer *p,
                   uint64_t request_id, const char *stream,
                   const char *binary_version)
{
	struct upload_req *r = calloc(1, sizeof(*r));

	if (!r) {
		upload_answer(p, request_id, UPS_ERR_NO_MEMORY, NULL, NULL,
		              NULL);
		return;
	}
	r->kind = UPLOAD_REQ_DELETE;
	r->peer = p;
	r->request_id = request_id;
	snprintf(r->stream, sizeof(r->stream), "%s", stream);
	snprintf(r->binary_version, sizeof(r->binary_version), "%s",
	         binary_version);
	upload_req_start(eng, r);
}

/* Expiry. */

static void upload_on_expiry(uv_timer_t *t)
{
	struct upload_engine *eng = t->data;
	int64_t now = eng->now_s();
	struct upload *u, *next;

	for (u = eng->uploads; u; u = next) {
		next = u->next;
		if (u->state != UPLOAD_DETACHED || u->busy ||
		    now - u->touched_s < eng->cfg.expiry_s)
			continue;
		LOG_INFO("upload",
		         "upload %" PRIu64 " (%s): detached for over %" PRId64
		         " s; expired",
		         u->id, u->binary_version, eng->cfg.expiry_s);
		upload_doom(u, 0, "expired");
	}
}

/* Start-up and shutdown. */

static const char *upload_config_get(void *host, const char *key)
{
	struct upload_engine *eng = host;

	if (strcmp(key, "store-fs.fail") == 0)
		return eng->fault;
	return NULL;
}

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
		u = upload_new(eng);
		if (!u) {
			rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
			              "out of memory");
			goto out;
		}
		u->id = cu->id;
		u->state = UPLOAD_DETACHED;
		memcpy(u->stream, cu->stream, sizeof(u->stream));
		memcpy(u->binary_version, cu->binary_version,
		       sizeof(u->binary_version));
		memcpy(u->sha256, cu->sha256, sizeof(u->sha256));
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
                       const struct upload_config *cfg, char *err,
                       size_t errlen)
{
	int rv;

	memset(eng, 0, sizeof(*eng));
	eng->loop = loop;
	eng->cfg = *cfg;
	eng->now_s = upload_now_default;
	if (eng->cfg.sync_bytes == 0)
		eng->cfg.sync_bytes = UPS_LIMIT_UPLOAD_SYNC_BYTES;
	eng->data_dir = strdup(cfg->data_dir);
	eng->fault = cfg->fault ? strdup(cfg->fault) : NULL;
	if (!eng->data_dir || (cfg->fault && !eng->fault)) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto fail;
	}
	eng->cfg.data_dir = eng->data_dir;
	eng->cfg.fault = eng->fault;
	eng->cfg.store_plugin = NULL;
	eng->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!eng->sha256) {
		rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
		              "OpenSSL has no SHA-256");
		goto fail;
	}
	rv = plugin_load(cfg->store_plugin, UPS_PLUGIN_KIND_STORE, &eng->plugin,
	                 err, errlen);
	if (rv)
		goto fail;
	eng->store = plugin_store_ops(&eng->plugin);
	plugin_services_init(&eng->services, eng, upload_config_get);
	rv = eng->store->open(&eng->services, eng->data_dir, &eng->store_state,
	                      err, errlen);
	if (rv)
		goto fail;
	rv = catalog_open(eng->data_dir, &eng->cat, err, errlen);
	if (rv)
		goto fail;
	rv = staging_init(&eng->stg, eng->store->staging_dir(eng->store_state),
	                  eng->fault, err, errlen);
	if (rv)
		goto fail;
	eng->stg_open = true;
	rv = upload_recover(eng, err, errlen);
	if (rv)
		goto fail;
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
	/* Often enough that a partial outlives its expiry by at most half
	 * of it (or a minute). */
	period_ms = (uint64_t)eng->cfg.expiry_s * 1000 / 2;
	if (period_ms < 1000)
		period_ms = 1000;
	if (period_ms > 60000)
		period_ms = 60000;
	rv = uv_timer_start(&eng->expiry, upload_on_expiry, period_ms,
	                    period_ms);
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
	upload_free_chunks_to(NULL, eng->pool);
	eng->pool = NULL;
	eng->pool_count = 0;
	while (eng->uploads) {
		struct upload *u = eng->uploads;

		u->busy = false; /* the loop has drained: no job is left */
		upload_free(u);
	}
	if (eng->stg_open)
		staging_close(&eng->stg);
	eng->stg_open = false;
	if (eng->cat)
		catalog_close(eng->cat);
	eng->cat = NULL;
	if (eng->store && eng->store_state)
		eng->store->close(eng->store_state);
	eng->store_state = NULL;
	eng->store = NULL;
	plugin_unload(&eng->plugin);
	EVP_MD_free((EVP_MD *)eng->sha256);
	eng->sha256 = NULL;
	free(eng->data_dir);
	free(eng->fault);
	eng->data_dir = eng->fault = NULL;
}
