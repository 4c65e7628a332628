/* An upload as the engine (upload.c, on the loop thread) and its jobs
 * (upload_job.c, in libuv's thread pool) share it, and the jobs' entry
 * points. Nothing outside agent/ingest includes this.
 *
 * Threads: while u->busy, the job's workers own u's file descriptors,
 * digest state and job_* fields (the write job's hash worker hash_rv, its
 * later-half worker half_fd and the half_* fields); while u->ckpt_busy,
 * the checkpoint worker its ckpt_* fields, reading fd. Every worker only
 * reads the chunks it is given and u's fixed fields. The loop thread
 * touches none of those until the job's last work has come back. */
#ifndef UPSTAGE_AGENT_INGEST_UPLOAD_JOB_H
#define UPSTAGE_AGENT_INGEST_UPLOAD_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <uv.h>

#include "agent/ingest/upload.h"
#include "proto/binary.h"
#include "proto/chunk.h"

/* One chunk's payload, queued until its upload's job writes it. */
struct upload_chunk {
	struct upload_chunk *next;
	uint64_t offset;
	size_t len;
	uint8_t *buf; /* owned: a frame buffer (ups_chunk_buf_new) */
	/* buf + UPS_CHUNK_BUF_PAYLOAD: UPS_LIMIT_CHUNK_PAYLOAD_MAX bytes
	 * aligned to STAGING_ALIGN, so that whole blocks can be written
	 * around the page cache. */
	uint8_t *data;
};

_Static_assert(UPS_CHUNK_BUF_PAYLOAD % STAGING_ALIGN == 0 &&
                   UPS_CHUNK_BUF_ALIGN % STAGING_ALIGN == 0,
               "a frame buffer's payload is aligned for direct writes");

enum upload_job {
	UPLOAD_JOB_NONE,
	UPLOAD_JOB_BEGIN,
	UPLOAD_JOB_WRITE,
	UPLOAD_JOB_SYNC, /* detached: make written bytes durable, close */
	UPLOAD_JOB_VERIFY,
	UPLOAD_JOB_STORE, /* the store's commit runs (not ours) */
	UPLOAD_JOB_REMOVE,
};

struct upload {
	struct upload_engine *eng;
	struct upload *prev, *next;
	enum upload_state state;
	uint64_t id; /* 0 until the catalog assigned one */
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char sha256[UPS_SHA256_HEX_LEN + 1]; /* declared at begin, or "" */
	char token[UPS_LIMIT_UPLOAD_TOKEN_LEN + 1]; /* or "" */
	char commit_sha[UPS_SHA256_HEX_LEN + 1]; /* given at commit, or "" */
	uint64_t size;
	bool force;
	bool fresh;        /* no catalog row yet (a new UploadBegin) */
	void *owner;       /* NULL when detached; borrowed */
	uint64_t offset;   /* next byte expected from the owner */
	uint64_t written;  /* bytes hashed and written */
	uint64_t commit_ns; /* when UploadCommit came (uv_hrtime) */
	bool failure_counted;
	uint64_t durable;  /* bytes fsynced and recorded */
	uint64_t acked;    /* offset of the last ack */
	/* The window the owner was last told: what it may have in flight,
	 * so what the next ack must come within. */
	uint64_t window_told;
	int64_t touched_s; /* last activity, for expiry */
	int64_t rx_s;      /* last chunk (or begin), for the stall timeout */
	bool paused;       /* owner's reads paused (window overrun) */
	struct upload_chunk *q_head, *q_tail;
	/* Callbacks owed (at most one each). */
	upload_begin_cb begin_cb;
	void *begin_data;
	upload_commit_cb commit_cb;
	void *commit_data;
	/* Touched by the job's worker while busy, else by the loop. */
	int fd;
	EVP_MD_CTX *md;
	/* The job in flight (at most one; a checkpoint may run beside a
	 * write job, see ckpt_*). */
	bool busy;
	enum upload_job job;
	uv_work_t work;
	/* A write job hashes its batch (both halves) on another worker
	 * meanwhile: all only read the batch, and the disk write then costs
	 * no more time than the hashing. works_out counts the job's works
	 * not done. */
	uv_work_t hash_work;
	unsigned works_out;
	int hash_rv; /* the hash worker's; read once works_out is 0 */
	struct upload_chunk *batch;
	/* The batch's later half, written on a third worker through a
	 * descriptor of its own, so that the disk has a second write queued
	 * when the first ends. NULL when the batch was one chunk. half_fd
	 * is opened by the first half worker and closed with fd. */
	uv_work_t half_work;
	struct upload_chunk *half;
	int half_fd;
	uint64_t half_written; /* where its writes ended */
	int half_rv;
	char half_err[UPS_ERRMSG_MAX];
	int job_rv;
	char job_err[UPS_ERRMSG_MAX];
	uint64_t job_id;
	uint64_t job_written;
	uint64_t job_durable;
	uint64_t job_reserved; /* bytes other uploads still claim */
	struct catalog_binary job_bin;
	/* The checkpoint in flight, if any (upload_job_checkpoint): write
	 * jobs go on meanwhile, other jobs wait for it. */
	bool ckpt_busy;
	uv_work_t ckpt_work;
	uint64_t ckpt_target;
	int ckpt_rv;
	char ckpt_err[UPS_ERRMSG_MAX];
	char job_prefix[UPS_SHA256_HEX_LEN + 1]; /* begin: of the durable */
	char job_digest[UPS_SHA256_HEX_LEN + 1]; /* verify: of the file */
};

/* uv_work_cb for u->work (w->data is u): runs u->job (begin, write,
 * sync, verify or remove); the result is in job_rv and job_err. */
void upload_job_run(uv_work_t *w);

/* uv_work_cb for u->half_work, beside a write job: writes u->half
 * through half_fd (opened on first use); result in half_rv, half_err and
 * half_written. */
void upload_job_half(uv_work_t *w);

/* uv_work_cb for u->hash_work, beside a write job: adds the batch and
 * the half to u->md; result in hash_rv. */
void upload_job_hash(uv_work_t *w);

/* uv_work_cb for u->ckpt_work: makes the bytes before ckpt_target
 * durable and records that offset; result in ckpt_rv and ckpt_err. */
void upload_job_checkpoint(uv_work_t *w);

/* Closes u's descriptors, the half's too; by whoever holds u's job. */
void upload_job_close_fds(struct upload *u);

#endif
