/* The upload engine of sync-agent-binary; see uploader.h.
 *
 * Each connection attempt is one uv_run() of a fresh client session (the
 * websocket context needs uv_run() to return before it can be released);
 * the items and the slots that carry them survive across sessions.
 *
 * Threads: everything runs on the session's loop thread except the jobs
 * (uv_queue_work): a slot has at most one job at a time, and only the job
 * touches the slot's file and digest state while it runs. A job reads
 * and hashes (and, for a chunk, masks the frame); the loop only queues
 * what the jobs made. */
#include "contrib/cli/uploader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "contrib/cli/cli.h"
#include "contrib/cli/client.h"
#include "contrib/cli/remote.h"
#include "contrib/cli/source.h"
#include "proto/chunk.h"
#include "proto/digest.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/log.h"

#define BACKOFF_INITIAL_MS 200u
#define BACKOFF_MAX_MS     5000u
/* Chunks being read or queued towards the socket, all slots together:
 * enough to keep it busy, few enough that memory stays a few MiB
 * whatever the window and the number of slots (and under the queue's
 * own bound, UPS_LIMIT_OUTQ_BYTES). */
#define QUEUED_CHUNKS 4
/* A hashing job (a resumed prefix, or a whole file to compare) reads at
 * most this much before it lets the loop see progress. */
#define HASH_JOB_BYTES (64u * 1024 * 1024)
#define HASH_READ_BUF  (1024u * 1024)

enum session_end {
	END_NONE,
	END_DONE,  /* every item has an outcome */
	END_RETRY, /* reconnect and resume the unfinished items */
	END_FATAL, /* give up: login refused, bad configuration */
};

enum slot_phase {
	SLOT_IDLE,    /* no item */
	SLOT_BEGIN,   /* UploadBegin due (at the next session, or now) */
	SLOT_WAIT,    /* UploadBegin sent, or the backoff timer runs */
	SLOT_CONFIRM, /* hashing the whole file to compare with upstaged's */
	SLOT_PREFIX,  /* hashing the bytes upstaged holds */
	SLOT_SEND,    /* chunks */
	SLOT_COMMIT,  /* UploadCommit sent */
};

enum slot_job {
	JOB_NONE,
	JOB_CHUNK,  /* read, hash and frame one chunk */
	JOB_HASH,   /* hash [hashed, hash_end) without sending */
};

struct uploader;

struct slot {
	struct uploader *up;
	unsigned index;
	size_t item; /* the item carried (phase != SLOT_IDLE) */
	enum slot_phase phase;
	int fd;
	struct remote_reader *remote; /* an item of an HTTP source */
	char token[UPS_LIMIT_UPLOAD_TOKEN_LEN + 1];
	EVP_MD_CTX *md; /* bytes [0, hashed) of the file */
	uint64_t hashed;
	uint64_t hash_end; /* SLOT_CONFIRM, SLOT_PREFIX: where to stop */
	char local_sha[UPS_SHA256_HEX_LEN + 1]; /* once the file is hashed */
	char expect[UPS_SHA256_HEX_LEN + 1]; /* what hashing must give */
	uint64_t stored_size;
	bool begun;       /* resumed_from recorded */
	bool begin_force; /* begin with local_sha and force */
	unsigned attempts; /* busy / in progress answers in a row */
	/* Told busy while one of our own commits held upstaged's place: it
	 * asks again when a commit ends. */
	bool parked;
	/* The upload. */
	uint64_t upload_id;
	uint64_t next_off; /* next byte to read and send */
	uint64_t acked;    /* server's "offset" */
	uint64_t window;
	/* The session's backoff timer for this slot. */
	uv_timer_t timer;
	bool timer_open;
	/* The job in flight. The worker touches only md, hashed, fd reads
	 * and the job_* fields. */
	bool busy;
	enum slot_job job;
	uv_work_t work;
	uint64_t job_off;
	size_t job_len;
	struct ups_outq_msg *job_msg;
	int job_rv;
	bool job_final; /* the chunk was the last: local_sha is set */
	char job_err[256];
	/* upstaged failed the upload while a job ran: told when it ends. */
	bool fail_pending;
	char fail_code[UPS_LIMIT_NAME_LEN + 1];
	char fail_text[UPS_LIMIT_ERROR_TEXT_LEN + 1];
};

struct uploader {
	const struct uploader_config *cfg;
	struct upload_item *items;
	size_t n;
	size_t next_item;  /* first item never given to a slot */
	size_t done_items; /* items with an outcome */
	unsigned attempts; /* failed sessions in a row without progress */
	int last_exit;     /* for the remaining items when giving up */
	char last_code[UPS_LIMIT_NAME_LEN + 1];
	char last_message[UPS_LIMIT_ERROR_TEXT_LEN + 1];
	/* Up to 2 x parallel slots: parallel of them stream at once, and a
	 * slot whose bytes are all sent waits for its commit without
	 * counting, so that the next file streams meanwhile. */
	struct slot slots[UPLOADER_MAX_SLOTS];
	unsigned nslots;
	unsigned parallel;
	unsigned pump_from; /* round robin over the slots */
	uint64_t reading;   /* bytes of the chunk jobs in flight */
	/* The current session. */
	uv_loop_t *loop;
	struct client client;
	uv_timer_t idle;
	uv_timer_t rate;
	bool timers_open;
	enum session_end end;
	bool ready;
	bool rate_waiting;
	uint64_t session_sent; /* for --max-rate */
	uint64_t session_start_ns;
};

static void up_pump_all(struct uploader *u);
static void up_fill(struct uploader *u);
static void slot_begin(struct slot *s);
static void slot_all_sent(struct slot *s);
static void slot_send_commit(struct slot *s);
static void slot_take_next(struct slot *s);
static void slot_abort(struct slot *s, enum slot_phase phase,
                       client_reply_cb cb);

static struct upload_item *slot_item(struct slot *s)
{
	return &s->up->items[s->item];
}

/* Ends the session; uv_run() returns once the client and timers closed
 * and the jobs in flight finished. */
static void up_end_session(struct uploader *u, enum session_end end)
{
	if (u->end == END_NONE || end == END_FATAL)
		u->end = end;
	if (u->timers_open) {
		u->timers_open = false;
		uv_close((uv_handle_t *)&u->idle, NULL);
		uv_close((uv_handle_t *)&u->rate, NULL);
		for (unsigned i = 0; i < u->nslots; i++) {
			if (u->slots[i].timer_open)
				uv_close((uv_handle_t *)&u->slots[i].timer,
				         NULL);
			u->slots[i].timer_open = false;
		}
	}
	client_close(&u->client);
}

static void up_vset_last(struct uploader *u, int exit_code, const char *code,
                         const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void up_vset_last(struct uploader *u, int exit_code, const char *code,
                         const char *fmt, va_list ap)
{
	u->last_exit = exit_code;
	snprintf(u->last_code, sizeof(u->last_code), "%s", code);
	vsnprintf(u->last_message, sizeof(u->last_message), fmt, ap);
}

static void up_set_last(struct uploader *u, int exit_code, const char *code,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void up_set_last(struct uploader *u, int exit_code, const char *code,
                        const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	up_vset_last(u, exit_code, code, fmt, ap);
	va_end(ap);
}

/* A connection-level problem: reconnect and resume. */
static void up_retry(struct uploader *u, int exit_code, const char *code,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void up_retry(struct uploader *u, int exit_code, const char *code,
                     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	up_vset_last(u, exit_code, code, fmt, ap);
	va_end(ap);
	up_end_session(u, END_RETRY);
}

static void up_touch(struct uploader *u)
{
	if (u->timers_open)
		uv_timer_again(&u->idle);
}

/* Pure helpers (uploader.h). */

static int up_get_u64(const json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A sha256 member of obj into out; "" and 0 when absent and optional. */
static int up_get_sha(const json_t *obj, const char *key, bool required,
                      char out[UPS_SHA256_HEX_LEN + 1])
{
	json_t *v = json_object_get(obj, key);

	out[0] = '\0';
	if (!v)
		return required ? -1 : 0;
	if (!json_is_string(v) ||
	    !ups_sha256_hex_is_valid(json_string_value(v)))
		return -1;
	memcpy(out, json_string_value(v), UPS_SHA256_HEX_LEN + 1);
	return 0;
}

int uploader_parse_begun(const json_t *response, uint64_t size,
                         struct uploader_begun *out, char *err, size_t errlen)
{
	const char *st = json_string_value(json_object_get(response, "status"));
	json_t *rec = json_object_get(response, "binary");

	memset(out, 0, sizeof(*out));
	if (!json_is_object(response) || !st)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "UploadBegin answered without a status");
	if (strcmp(st, "exists") == 0 || strcmp(st, "stored") == 0) {
		out->kind = st[0] == 'e' ? UPLOADER_BEGUN_EXISTS
		                         : UPLOADER_BEGUN_STORED;
		if (!json_is_object(rec) ||
		    up_get_u64(rec, "size", &out->stored_size) ||
		    up_get_sha(rec, "sha256", true, out->stored_sha256))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "UploadBegin answered \"%s\" without "
			                "the stored size and sha256",
			                st);
		return 0;
	}
	if (strcmp(st, "upload") != 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "UploadBegin answered an unknown status");
	out->kind = UPLOADER_BEGUN_UPLOAD;
	if (up_get_u64(response, "upload-id", &out->upload_id) ||
	    up_get_u64(response, "offset", &out->offset) ||
	    up_get_u64(response, "window", &out->window) ||
	    out->upload_id == 0 || out->window == 0 || out->offset > size ||
	    up_get_sha(response, "prefix-sha256", false, out->prefix_sha256) ||
	    (out->offset > 0) != (out->prefix_sha256[0] != '\0'))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "UploadBegin answered \"upload\" without a "
		                "valid upload-id, offset, window and (when "
		                "resuming) prefix-sha256");
	return 0;
}

bool uploader_version_refused(int code, const char *text, char *msg,
                              size_t msglen)
{
	const char *have;
	int served = 0;

	if (code != UPS_ERR_NOT_IMPLEMENTED || !text ||
	    strncmp(text, UPS_FACADE_AGENT_BINARIES " version ",
	            sizeof(UPS_FACADE_AGENT_BINARIES " version ") - 1) != 0)
		return false;
	have = strstr(text, "(have ");
	if (have)
		served = atoi(have + 6);
	if (served > 0 && served < UPS_FACADE_AGENT_BINARIES_VERSION)
		snprintf(msg, msglen,
		         "upstaged serves " UPS_FACADE_AGENT_BINARIES
		         " version %d, but this upstage needs version %d: "
		         "upgrade upstaged (it said: %.200s)",
		         served, UPS_FACADE_AGENT_BINARIES_VERSION, text);
	else
		snprintf(msg, msglen,
		         "upstaged does not serve " UPS_FACADE_AGENT_BINARIES
		         " version %d, which this upstage speaks: upgrade "
		         "upstage (it said: %.200s)",
		         UPS_FACADE_AGENT_BINARIES_VERSION, text);
	return true;
}

/* Items and slots. */

static void slot_close_file(struct slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	remote_reader_free(s->remote);
	s->remote = NULL;
}

/* The slot's item has its outcome; the slot takes the next one. */
static void slot_done(struct slot *s, enum upload_status status,
                      const char *code, const char *message)
{
	struct uploader *u = s->up;
	struct upload_item *item = slot_item(s);
	char text[UPS_LIMIT_BINARY_VERSION_LEN + 64];
	uint64_t now = uv_hrtime();

	item->status = status;
	if (status == UPLOAD_FAILED) {
		snprintf(item->code, sizeof(item->code), "%s", code);
		snprintf(item->message, sizeof(item->message), "%s",
		         message ? message : "");
	}
	if (!item->it.sha256[0] && s->local_sha[0])
		memcpy(item->it.sha256, s->local_sha, sizeof(s->local_sha));
	if (status == UPLOAD_UPLOADED) {
		progress_file_update(u->cfg->progress, s->index, item->it.size,
		                     now);
		progress_file_end(u->cfg->progress, s->index, "done", now);
	} else if (status == UPLOAD_EXISTS) {
		snprintf(text, sizeof(text),
		         "%s: already stored with the same SHA-256",
		         item->it.binary_version);
		progress_file_end(u->cfg->progress, s->index, NULL, now);
		progress_note(u->cfg->progress, text);
	} else {
		/* The command prints failures itself. */
		progress_file_end(u->cfg->progress, s->index, NULL, now);
	}
	if (u->cfg->item_done)
		u->cfg->item_done(u->cfg->data, item);
	u->done_items++;
	slot_close_file(s);
	s->phase = SLOT_IDLE;
	if (u->done_items >= u->n) {
		up_end_session(u, END_DONE);
		return;
	}
	/* A place at upstaged may have come free: parked slots ask again. */
	for (unsigned i = 0; i < u->nslots; i++)
		u->slots[i].parked = false;
	up_fill(u);
}

/* Slots that stream, or are about to: every phase but idle and commit
 * (with_due: also those whose UploadBegin is still due). */
static unsigned up_streaming(const struct uploader *u, bool with_due)
{
	unsigned n = 0;

	for (unsigned i = 0; i < u->nslots; i++) {
		enum slot_phase p = u->slots[i].phase;

		if (p != SLOT_IDLE && p != SLOT_COMMIT &&
		    (with_due || p != SLOT_BEGIN))
			n++;
	}
	return n;
}

static bool up_committing(const struct uploader *u)
{
	for (unsigned i = 0; i < u->nslots; i++)
		if (u->slots[i].phase == SLOT_COMMIT)
			return true;
	return false;
}

/* Keeps parallel slots streaming: those whose UploadBegin is due (after a
 * reconnect, or parked until a commit ended) begin first, then idle slots
 * take the next items. */
static void up_fill(struct uploader *u)
{
	if (!u->ready || u->end != END_NONE)
		return;
	for (unsigned i = 0; i < u->nslots && u->end == END_NONE; i++) {
		struct slot *s = &u->slots[i];

		if (s->phase == SLOT_BEGIN && !s->parked &&
		    up_streaming(u, false) < u->parallel)
			slot_begin(s);
	}
	for (unsigned i = 0; i < u->nslots && u->end == END_NONE; i++)
		if (u->slots[i].phase == SLOT_IDLE &&
		    up_streaming(u, true) < u->parallel)
			slot_take_next(&u->slots[i]);
}

/* Gives s the next item nobody has taken, and begins it. */
static void slot_take_next(struct slot *s)
{
	struct uploader *u = s->up;

	if (u->next_item >= u->n) {
		s->phase = SLOT_IDLE;
		return;
	}
	s->item = u->next_item++;
	s->phase = SLOT_BEGIN;
	s->parked = false;
	s->begun = false;
	s->begin_force = false;
	s->attempts = 0;
	s->local_sha[0] = '\0';
	s->token[0] = '\0';
	if (u->ready && u->end == END_NONE)
		slot_begin(s);
}

/* Opens the item's file and checks it is still the one scanned; the
 * upload token is made from it. -1 after failing the item. */
static int slot_open_file(struct slot *s)
{
	struct upload_item *item = slot_item(s);
	char err[UPS_ERRMSG_MAX];
	struct stat st;
	int rv;

	if (s->fd >= 0 || s->remote)
		return 0;
	if (remote_is_url(item->file)) {
		/* Read in ranges as it is sent; its metadata declares the
		 * digest, so no token is needed. */
		struct remote_config rcfg = {.ca_cert = s->up->cfg->source_ca,
		                             .timeout_ms =
		                                 s->up->cfg->timeout_ms};

		if (!item->it.sha256[0]) {
			slot_done(s, UPLOAD_FAILED,
			          ups_err_code(UPS_ERR_BAD_REQUEST),
			          "an HTTP source must declare the SHA-256");
			return -1;
		}
		s->remote = remote_reader_new(item->file, item->it.size,
		                              &rcfg);
		if (!s->remote) {
			slot_done(s, UPLOAD_FAILED,
			          ups_err_code(UPS_ERR_NO_MEMORY),
			          "out of memory");
			return -1;
		}
		return 0;
	}
	s->fd = open(item->file, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		snprintf(err, sizeof(err), "cannot open %.160s: %s", item->file,
		         strerror(errno));
		slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_IO), err);
		return -1;
	}
	if (fstat(s->fd, &st) != 0 || (uint64_t)st.st_size != item->it.size) {
		slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_SIZE_MISMATCH),
		          "the file changed size since it was found");
		return -1;
	}
	(void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rv = source_upload_token(item->file, &st, s->token, sizeof(s->token),
	                         err, sizeof(err));
	if (rv) {
		slot_done(s, UPLOAD_FAILED, ups_err_code(rv), err);
		return -1;
	}
	return 0;
}

/* Jobs (thread pool). */

static int job_pread(struct slot *s, unsigned char *buf, size_t len,
                     uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	if (s->remote)
		return remote_read(s->remote, buf, len, off, s->job_err,
		                   sizeof(s->job_err));
	while (got < len) {
		n = pread(s->fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(s->job_err, sizeof(s->job_err),
			         "cannot read %.160s: %s", slot_item(s)->file,
			         strerror(errno));
			return UPS_ERR_IO;
		}
		if (n == 0) {
			snprintf(s->job_err, sizeof(s->job_err),
			         "%.160s shrank while being uploaded",
			         slot_item(s)->file);
			return UPS_ERR_SIZE_MISMATCH;
		}
		got += (size_t)n;
	}
	return 0;
}

/* The digest of everything hashed so far (md is left as it was). */
static int job_peek(struct slot *s, char hex[UPS_SHA256_HEX_LEN + 1])
{
	int rv = ups_digest_peek_hex(s->md, hex);

	if (rv)
		snprintf(s->job_err, sizeof(s->job_err), "SHA-256 failed");
	return rv;
}

/* One chunk: read it into the message after its header, hash it, frame
 * and mask the message. */
static void job_chunk(struct slot *s)
{
	unsigned char *data = ups_outq_msg_data(s->job_msg);
	struct ups_chunk_header hdr;
	int rv;

	rv = job_pread(s, data + UPS_CHUNK_HEADER_SIZE, s->job_len, s->job_off);
	if (!rv && !EVP_DigestUpdate(s->md, data + UPS_CHUNK_HEADER_SIZE,
	                             s->job_len)) {
		snprintf(s->job_err, sizeof(s->job_err), "SHA-256 failed");
		rv = UPS_ERR_INTERNAL;
	}
	if (rv) {
		s->job_rv = rv;
		return;
	}
	s->hashed = s->job_off + s->job_len;
	s->job_final = s->hashed == slot_item(s)->it.size;
	if (s->job_final && (rv = job_peek(s, s->local_sha))) {
		s->job_rv = rv;
		return;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.upload_id = s->upload_id;
	hdr.offset = s->job_off;
	hdr.length = (uint32_t)s->job_len;
	ups_chunk_encode_header(&hdr, data);
	s->job_rv = ups_outq_msg_frame(s->job_msg);
	if (s->job_rv)
		snprintf(s->job_err, sizeof(s->job_err),
		         "cannot frame a chunk");
}

/* Hashes on from hashed towards hash_end, at most HASH_JOB_BYTES. */
static void job_hash(struct slot *s)
{
	uint64_t stop = s->hash_end;
	unsigned char *buf = malloc(HASH_READ_BUF);
	size_t len;
	int rv = 0;

	if (!buf) {
		snprintf(s->job_err, sizeof(s->job_err), "out of memory");
		s->job_rv = UPS_ERR_NO_MEMORY;
		return;
	}
	if (stop - s->hashed > HASH_JOB_BYTES)
		stop = s->hashed + HASH_JOB_BYTES;
	while (!rv && s->hashed < stop) {
		len = stop - s->hashed < HASH_READ_BUF
		          ? (size_t)(stop - s->hashed)
		          : HASH_READ_BUF;
		rv = job_pread(s, buf, len, s->hashed);
		if (!rv && !EVP_DigestUpdate(s->md, buf, len)) {
			snprintf(s->job_err, sizeof(s->job_err),
			         "SHA-256 failed");
			rv = UPS_ERR_INTERNAL;
		}
		if (!rv)
			s->hashed += len;
	}
	free(buf);
	s->job_rv = rv;
}

static void job_work(uv_work_t *w)
{
	struct slot *s = w->data;

	s->job_rv = 0;
	s->job_final = false;
	s->job_err[0] = '\0';
	if (s->job == JOB_CHUNK)
		job_chunk(s);
	else if (s->job == JOB_HASH)
		job_hash(s);
}

static void slot_on_refused(struct client *c, void *data, int status,
                            const struct ups_envelope *env,
                            const char *detail)
{
	struct slot *s = data;
	struct upload_item *item = slot_item(s);
	char msg[UPS_LIMIT_ERROR_TEXT_LEN + 1];

	(void)c;
	(void)status;
	(void)detail;
	if (!env || s->up->end != END_NONE)
		return;
	snprintf(msg, sizeof(msg),
	         "%.300s (for %s) has SHA-256 %s but the metadata says %s; "
	         "not stored",
	         item->file, item->it.binary_version, s->local_sha,
	         item->it.sha256);
	slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_CHECKSUM_MISMATCH),
	          msg);
}

/* The file read is not the one its metadata describes: upstaged's
 * partial goes, and the item fails naming the file. */
static void slot_refuse(struct slot *s)
{
	slot_abort(s, SLOT_COMMIT, slot_on_refused);
	up_fill(s->up);
}

static void job_after(uv_work_t *w, int status);

static int slot_queue_job(struct slot *s, enum slot_job job)
{
	int rv;

	s->job = job;
	s->busy = true;
	s->fail_pending = false;
	rv = uv_queue_work(s->up->loop, &s->work, job_work, job_after);
	if (rv) {
		s->busy = false;
		s->job = JOB_NONE;
	}
	return rv;
}

/* Starts (or restarts) the digest at byte 0. */
static int slot_md_reset(struct slot *s)
{
	if (!s->md)
		s->md = EVP_MD_CTX_new();
	s->hashed = 0;
	return s->md && EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) ? 0 : -1;
}

/* Hashes the file from 0 to end on workers, then slot_hashed(). */
static void slot_hash_to(struct slot *s, enum slot_phase phase, uint64_t end)
{
	if (slot_md_reset(s)) {
		slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_NO_MEMORY),
		          "cannot set up SHA-256");
		return;
	}
	s->phase = phase;
	s->hash_end = end;
	if (slot_queue_job(s, JOB_HASH))
		slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_INTERNAL),
		          "cannot start a worker job");
}

/* Requests. */

/* Sends AgentBinaries.method with params (stolen) for s, answered to cb;
 * a request that cannot be sent ends the session, to be resumed. */
static void slot_request(struct slot *s, const char *method, json_t *params,
                         client_reply_cb cb)
{
	struct uploader *u = s->up;
	int rv;

	rv = client_request(&u->client, UPS_FACADE_AGENT_BINARIES, method,
	                    params, cb, s, NULL);
	if (rv)
		up_retry(u, CLI_EXIT_FAILED, ups_err_code(rv),
		         "cannot send %s: %s", method, ups_err_message(rv));
}

/* UploadAbort of s's upload, answered to cb. */
static void slot_abort(struct slot *s, enum slot_phase phase,
                       client_reply_cb cb)
{
	s->phase = phase;
	slot_request(s, "UploadAbort",
	             json_pack("{s:I}", "upload-id", (json_int_t)s->upload_id),
	             cb);
}

static void slot_on_abort(struct client *c, void *data, int status,
                          const struct ups_envelope *env, const char *detail)
{
	struct slot *s = data;

	(void)c;
	(void)status;
	(void)detail;
	if (!env || s->up->end != END_NONE)
		return;
	/* Gone either way (or it was never there): begin from 0. */
	slot_begin(s);
}

/* upstaged's partial is not this file: drop it and start over, once. */
static void slot_start_over(struct slot *s)
{
	struct upload_item *item = slot_item(s);
	struct uploader *u = s->up;
	char note[UPS_LIMIT_BINARY_VERSION_LEN + 160];

	if (item->started_over) {
		slot_done(s, UPLOAD_FAILED,
		          ups_err_code(UPS_ERR_CHECKSUM_MISMATCH),
		          "upstaged's partial upload still differs from the "
		          "local file after starting over");
		return;
	}
	item->started_over = true;
	snprintf(note, sizeof(note),
	         "%s: the bytes upstaged kept are not this file's (it "
	         "changed?); starting over",
	         item->it.binary_version);
	progress_note(u->cfg->progress, note);
	slot_abort(s, SLOT_WAIT, slot_on_abort);
}

/* The hashing the slot waited for is done. */
static void slot_hashed(struct slot *s)
{
	struct upload_item *item = slot_item(s);
	char got[UPS_SHA256_HEX_LEN + 1], msg[UPS_LIMIT_ERROR_TEXT_LEN];

	if (job_peek(s, got)) {
		slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_INTERNAL),
		          s->job_err);
		return;
	}
	if (s->phase == SLOT_PREFIX) {
		if (strcmp(got, s->expect) != 0) {
			slot_start_over(s);
			return;
		}
		if (s->next_off == item->it.size) {
			/* upstaged holds every byte (the connection went
			 * before the commit): only the commit is left. */
			memcpy(s->local_sha, got, sizeof(got));
			slot_all_sent(s);
			return;
		}
		s->phase = SLOT_SEND;
		up_pump_all(s->up);
		return;
	}
	/* SLOT_CONFIRM: the whole file, against what upstaged stores. */
	memcpy(s->local_sha, got, sizeof(got));
	if (s->stored_size == item->it.size && strcmp(got, s->expect) == 0) {
		slot_done(s, UPLOAD_EXISTS, NULL, NULL);
		return;
	}
	if (s->up->cfg->force) {
		s->begin_force = true;
		slot_begin(s);
		return;
	}
	snprintf(msg, sizeof(msg),
	         "%s (%s) is stored with sha256 %s (%" PRIu64
	         " bytes); the local file has %s (%" PRIu64
	         " bytes): give --force to replace it",
	         item->it.binary_version, s->up->cfg->stream, s->expect,
	         s->stored_size, got, item->it.size);
	slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_CONFLICT), msg);
}

static void slot_on_commit(struct client *c, void *data, int status,
                           const struct ups_envelope *env, const char *detail)
{
	struct slot *s = data;
	struct uploader *u = s->up;
	char msg[UPS_LIMIT_ERROR_TEXT_LEN + 1];

	(void)c;
	(void)detail;
	if (!env || u->end != END_NONE)
		return; /* the session ended; closed() decides */
	up_touch(u);
	if (status == 0) {
		slot_done(s, UPLOAD_UPLOADED, NULL, NULL);
		return;
	}
	if (status == UPS_ERR_NOT_FOUND || status == UPS_ERR_BUSY) {
		up_retry(u, CLI_EXIT_FAILED, env->error_code_text,
		         "UploadCommit: %s", env->error_text);
		return;
	}
	if (status == UPS_ERR_CHECKSUM_MISMATCH)
		snprintf(msg, sizeof(msg),
		         "%s (the local file's SHA-256 is %s; it changed while "
		         "being sent, or does not match its metadata)",
		         env->error_text ? env->error_text : "", s->local_sha);
	else
		snprintf(msg, sizeof(msg), "%s",
		         env->error_text ? env->error_text : "");
	slot_done(s, UPLOAD_FAILED, env->error_code_text, msg);
}

/* Every byte of the file is with upstaged and local_sha is its digest:
 * commit, unless the file is not what its metadata says (then it is not
 * committed at all). */
static void slot_all_sent(struct slot *s)
{
	struct upload_item *item = slot_item(s);

	if (item->it.sha256[0] && strcmp(s->local_sha, item->it.sha256) != 0)
		slot_refuse(s);
	else
		slot_send_commit(s);
}

static void slot_send_commit(struct slot *s)
{
	s->phase = SLOT_COMMIT;
	slot_request(s, "UploadCommit",
	             json_pack("{s:I,s:s}", "upload-id",
	                       (json_int_t)s->upload_id, "sha256",
	                       s->local_sha),
	             slot_on_commit);
	/* upstaged syncs and verifies the file now: the next one streams
	 * meanwhile. */
	up_fill(s->up);
}

static void job_after(uv_work_t *w, int status)
{
	struct slot *s = w->data;
	struct uploader *u = s->up;
	struct upload_item *item = slot_item(s);
	enum slot_job job = s->job;
	int rv = status == UV_ECANCELED ? UPS_ERR_INTERNAL : s->job_rv;

	s->busy = false;
	s->job = JOB_NONE;
	if (job == JOB_CHUNK)
		u->reading -= s->job_len;
	if (u->end == END_NONE && s->fail_pending) {
		s->fail_pending = false;
		if (s->job_msg)
			ups_outq_msg_free(s->job_msg);
		s->job_msg = NULL;
		slot_done(s, UPLOAD_FAILED, s->fail_code, s->fail_text);
		return;
	}
	if (u->end != END_NONE) {
		/* The session is over: what was read is sent again later. */
		if (s->job_msg)
			ups_outq_msg_free(s->job_msg);
		s->job_msg = NULL;
		return;
	}
	up_touch(u);
	if (rv) {
		if (s->job_msg)
			ups_outq_msg_free(s->job_msg);
		s->job_msg = NULL;
		slot_done(s, UPLOAD_FAILED, ups_err_code(rv), s->job_err);
		return;
	}
	if (job == JOB_HASH) {
		if (s->hashed < s->hash_end) {
			if (slot_queue_job(s, JOB_HASH))
				slot_done(s, UPLOAD_FAILED,
				          ups_err_code(UPS_ERR_INTERNAL),
				          "cannot start a worker job");
			return;
		}
		slot_hashed(s);
		return;
	}
	/* A chunk: queue it behind the others. */
	rv = client_send_msg(&u->client, s->job_msg);
	s->job_msg = NULL;
	if (rv) {
		up_retry(u, CLI_EXIT_FAILED, ups_err_code(rv),
		         "cannot queue a chunk: %s", ups_err_message(rv));
		return;
	}
	s->next_off = s->job_off + s->job_len;
	u->session_sent += s->job_len;
	item->sent_bytes += s->job_len;
	/* The commit goes after the last chunk in the same ordered queue,
	 * and upstaged waits for its writes first. */
	if (s->next_off == item->it.size)
		slot_all_sent(s);
	up_pump_all(u);
}

/* Starts reading the next chunk of s if the window, the queue bound and
 * the rate limit allow. Returns whether it started one. */
static bool slot_pump(struct slot *s)
{
	struct uploader *u = s->up;
	const struct uploader_config *cfg = u->cfg;
	struct upload_item *item = slot_item(s);
	uint64_t len, now, allowed;

	if (s->phase != SLOT_SEND || s->busy || u->end != END_NONE ||
	    u->rate_waiting || s->next_off >= item->it.size)
		return false;
	if (s->next_off - s->acked >= s->window)
		return false; /* an UploadAck reopens it */
	len = item->it.size - s->next_off;
	if (len > cfg->chunk_size)
		len = cfg->chunk_size;
	if (len > s->window - (s->next_off - s->acked))
		len = s->window - (s->next_off - s->acked);
	if (client_queued_bytes(&u->client) + u->reading + len >
	    (uint64_t)QUEUED_CHUNKS * cfg->chunk_size)
		return false; /* written() calls us again */
	if (cfg->max_rate) {
		now = uv_hrtime();
		allowed = (uint64_t)((double)cfg->max_rate *
		                     (double)(now - u->session_start_ns) / 1e9);
		if (u->session_sent + u->reading + len > allowed) {
			u->rate_waiting = true; /* up_pump_all sets a timer */
			return false;
		}
	}
	s->job_msg =
	    ups_outq_msg_new(true, UPS_CHUNK_HEADER_SIZE + (size_t)len);
	if (!s->job_msg) {
		slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_NO_MEMORY),
		          "out of memory");
		return false;
	}
	s->job_off = s->next_off;
	s->job_len = (size_t)len;
	u->reading += len;
	if (slot_queue_job(s, JOB_CHUNK)) {
		u->reading -= len;
		ups_outq_msg_free(s->job_msg);
		s->job_msg = NULL;
		slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_INTERNAL),
		          "cannot start a worker job");
		return false;
	}
	return true;
}

static void up_on_rate(uv_timer_t *t)
{
	struct uploader *u = t->data;

	u->rate_waiting = false;
	up_pump_all(u);
}

/* Pumps every slot, starting with a different one each time so that no
 * slot always comes first to the queue. */
static void up_pump_all(struct uploader *u)
{
	const struct uploader_config *cfg = u->cfg;
	uint64_t now, allowed, wait_ms;

	for (unsigned k = 0; k < u->nslots; k++)
		(void)slot_pump(&u->slots[(u->pump_from + k) % u->nslots]);
	u->pump_from = (u->pump_from + 1) % (u->nslots ? u->nslots : 1);
	if (u->rate_waiting && u->timers_open &&
	    !uv_is_active((uv_handle_t *)&u->rate)) {
		now = uv_hrtime();
		allowed = (uint64_t)((double)cfg->max_rate *
		                     (double)(now - u->session_start_ns) / 1e9);
		wait_ms = u->session_sent + cfg->chunk_size > allowed
		              ? (u->session_sent + cfg->chunk_size - allowed) *
		                        1000 / cfg->max_rate +
		                    1
		              : 1;
		uv_timer_start(&u->rate, up_on_rate, wait_ms, 0);
	}
}

static bool up_conflict_in_progress(const struct ups_envelope *env)
{
	json_t *reason =
	    env->error_info ? json_object_get(env->error_info, "reason") : NULL;

	return json_is_string(reason) &&
	       strcmp(json_string_value(reason), "upload in progress") == 0;
}

static void slot_on_timer(uv_timer_t *t)
{
	struct slot *s = t->data;

	if (s->up->end == END_NONE && s->phase == SLOT_WAIT)
		slot_begin(s);
}

/* busy, or the same file in progress elsewhere: try this item again
 * after a backoff, the others go on. */
static void slot_backoff(struct slot *s, const struct ups_envelope *env)
{
	struct uploader *u = s->up;
	unsigned delay_ms;

	if (s->attempts >= u->cfg->retries || !s->timer_open) {
		slot_done(s, UPLOAD_FAILED, env->error_code_text,
		          env->error_text ? env->error_text : "");
		return;
	}
	delay_ms = BACKOFF_INITIAL_MS << (s->attempts < 5 ? s->attempts : 5);
	if (delay_ms > BACKOFF_MAX_MS)
		delay_ms = BACKOFF_MAX_MS;
	s->attempts++;
	s->phase = SLOT_WAIT;
	uv_timer_start(&s->timer, slot_on_timer, delay_ms, 0);
}

static void slot_on_begin(struct client *c, void *data, int status,
                          const struct ups_envelope *env, const char *detail)
{
	struct slot *s = data;
	struct uploader *u = s->up;
	struct upload_item *item = slot_item(s);
	struct uploader_begun b;
	char err[UPS_LIMIT_ERROR_TEXT_LEN + 1];

	(void)c;
	(void)detail;
	if (!env || u->end != END_NONE)
		return;
	up_touch(u);
	if (status) {
		if (uploader_version_refused(status, env->error_text, err,
		                             sizeof(err))) {
			up_set_last(u, CLI_EXIT_FAILED, env->error_code_text,
			            "%s", err);
			up_end_session(u, END_FATAL);
			return;
		}
		if (status == UPS_ERR_BUSY && up_committing(u)) {
			/* Over upstaged's uploads per client because of our
			 * own commits: ask again when one ends (slot_done). */
			s->phase = SLOT_BEGIN;
			s->parked = true;
			return;
		}
		if (status == UPS_ERR_BUSY || (status == UPS_ERR_CONFLICT &&
		                               up_conflict_in_progress(env))) {
			slot_backoff(s, env);
			return;
		}
		slot_done(s, UPLOAD_FAILED, env->error_code_text,
		          env->error_text ? env->error_text : "");
		return;
	}
	if (uploader_parse_begun(env->response, item->it.size, &b, err,
	                         sizeof(err))) {
		slot_done(s, UPLOAD_FAILED, ups_err_code(UPS_ERR_BAD_REQUEST),
		          err);
		return;
	}
	s->attempts = 0;
	if (b.kind == UPLOADER_BEGUN_EXISTS) {
		slot_done(s, UPLOAD_EXISTS, NULL, NULL);
		return;
	}
	if (b.kind == UPLOADER_BEGUN_STORED) {
		/* Stored: the same file only if the local bytes say so. */
		s->stored_size = b.stored_size;
		memcpy(s->expect, b.stored_sha256, sizeof(s->expect));
		if (b.stored_size != item->it.size && !u->cfg->force) {
			snprintf(
			    err, sizeof(err),
			    "%s (%s) is stored with %" PRIu64
			    " bytes (sha256 %s); the local file has %" PRIu64
			    ": give --force to replace it",
			    item->it.binary_version, u->cfg->stream,
			    b.stored_size, b.stored_sha256, item->it.size);
			slot_done(s, UPLOAD_FAILED,
			          ups_err_code(UPS_ERR_CONFLICT), err);
			return;
		}
		slot_hash_to(s, SLOT_CONFIRM, item->it.size);
		return;
	}
	if (!s->begun) {
		s->begun = true;
		item->resumed_from = b.offset;
	}
	s->upload_id = b.upload_id;
	s->next_off = b.offset;
	s->acked = b.offset;
	s->window = b.window;
	progress_file_begin(u->cfg->progress, s->index, item->it.binary_version,
	                    item->it.size, b.offset, uv_hrtime());
	if (b.offset == 0) {
		if (slot_md_reset(s)) {
			slot_done(s, UPLOAD_FAILED,
			          ups_err_code(UPS_ERR_NO_MEMORY),
			          "cannot set up SHA-256");
			return;
		}
		s->phase = SLOT_SEND;
		up_pump_all(u);
		return;
	}
	/* Resuming: the digest state is rebuilt from the local bytes
	 * upstaged holds, and they must be the same bytes. */
	memcpy(s->expect, b.prefix_sha256, sizeof(s->expect));
	slot_hash_to(s, SLOT_PREFIX, b.offset);
}

static void slot_begin(struct slot *s)
{
	struct uploader *u = s->up;
	struct upload_item *item = slot_item(s);
	json_t *params;
	int rv;

	if (slot_open_file(s))
		return;
	s->phase = SLOT_WAIT;
	params = json_pack("{s:s,s:s,s:I}", "binary-version",
	                   item->it.binary_version, "stream", u->cfg->stream,
	                   "size", (json_int_t)item->it.size);
	/* The digest when it is known without reading the file (or was
	 * just read to replace a stored binary), else the token. */
	if (params && s->begin_force)
		rv = json_object_set_new(params, "sha256",
		                         json_string(s->local_sha)) ||
		     json_object_set_new(params, "force", json_true());
	else if (params && item->it.sha256[0])
		rv = json_object_set_new(params, "sha256",
		                         json_string(item->it.sha256));
	else if (params)
		rv = json_object_set_new(params, "upload-token",
		                         json_string(s->token));
	else
		rv = -1;
	if (params && !rv && u->cfg->force && !s->begin_force &&
	    item->it.sha256[0])
		rv = json_object_set_new(params, "force", json_true());
	if (rv) {
		json_decref(params);
		up_retry(u, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_NO_MEMORY),
		         "out of memory");
		return;
	}
	slot_request(s, "UploadBegin", params, slot_on_begin);
}

/* Pushes. */

static struct slot *up_slot_of(struct uploader *u, const json_t *params)
{
	uint64_t id;

	if (up_get_u64(params, "upload-id", &id))
		return NULL;
	for (unsigned i = 0; i < u->nslots; i++)
		if ((u->slots[i].phase == SLOT_SEND ||
		     u->slots[i].phase == SLOT_COMMIT) &&
		    u->slots[i].upload_id == id)
			return &u->slots[i];
	return NULL;
}

static void up_on_ack(struct uploader *u, const json_t *params)
{
	struct slot *s = up_slot_of(u, params);
	uint64_t offset, window;

	if (!s || up_get_u64(params, "offset", &offset))
		return;
	if (offset > s->next_off) {
		up_retry(u, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_BAD_REQUEST),
		         "upstaged acknowledged byte %" PRIu64
		         ", beyond the %" PRIu64 " sent",
		         offset, s->next_off);
		return;
	}
	/* The upload's share of upstaged's window from now on. */
	if (up_get_u64(params, "window", &window) == 0 && window > 0)
		s->window = window;
	if (offset > s->acked) {
		s->acked = offset;
		u->attempts = 0; /* progress: the retry budget starts over */
		up_touch(u);
		progress_file_update(u->cfg->progress, s->index, offset,
		                     uv_hrtime());
	}
	up_pump_all(u);
}

static void up_on_upload_error(struct uploader *u, const json_t *params)
{
	struct slot *s = up_slot_of(u, params);
	const char *code, *text;
	int rv;

	if (!s)
		return;
	code = json_string_value(json_object_get(params, "error-code"));
	text = json_string_value(json_object_get(params, "error"));
	if (!code)
		code = ups_err_code(UPS_ERR_INTERNAL);
	if (!text)
		text = "";
	rv = ups_err_from_code(code);
	if (rv == UPS_ERR_OFFSET_MISMATCH || rv == UPS_ERR_NOT_FOUND ||
	    rv == UPS_ERR_TIMEOUT) {
		/* Chunks already in flight would all be refused too: start
		 * over from what UploadBegin says upstaged has. */
		up_retry(u, CLI_EXIT_FAILED, code, "%s", text);
		return;
	}
	/* no-space, io-error, too-large: upstaged aborted the upload. */
	if (s->busy) {
		/* The job reads from the slot's file: it ends first. */
		s->fail_pending = true;
		snprintf(s->fail_code, sizeof(s->fail_code), "%s", code);
		snprintf(s->fail_text, sizeof(s->fail_text), "%s", text);
		return;
	}
	slot_done(s, UPLOAD_FAILED, code, text);
}

static void up_on_push(struct client *c, const struct ups_envelope *env)
{
	struct uploader *u = c->data;

	if (u->end != END_NONE)
		return;
	if (strcmp(env->type, UPS_FACADE_AGENT_BINARIES) == 0 &&
	    strcmp(env->request, "UploadAck") == 0)
		up_on_ack(u, env->params);
	else if (strcmp(env->type, UPS_FACADE_AGENT_BINARIES) == 0 &&
	         strcmp(env->request, "UploadError") == 0)
		up_on_upload_error(u, env->params);
	else if (strcmp(env->type, UPS_ENV_MALFORMED_TYPE) == 0)
		LOG_WARN(
		    "upload",
		    "upstaged says our message was malformed: "
		    "%s",
		    json_string_value(json_object_get(env->params, "error")));
}

static void up_on_written(struct client *c)
{
	struct uploader *u = c->data;

	if (u->end == END_NONE)
		up_pump_all(u);
}

static void up_on_idle(uv_timer_t *t)
{
	struct uploader *u = t->data;

	/* A job in flight means the wait is ours (a disk, or an HTTP source
	 * with its own stall timeout), not upstaged's: look again later. */
	for (unsigned i = 0; i < u->nslots; i++)
		if (u->slots[i].busy) {
			up_touch(u);
			return;
		}
	up_retry(u, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_TIMEOUT),
	         "no progress from %s:%d for %g s", u->cfg->url->host,
	         u->cfg->url->port, u->cfg->timeout_ms / 1000.0);
}

static void up_on_ready(struct client *c, int status, const char *detail)
{
	struct uploader *u = c->data;

	if (u->end != END_NONE)
		return;
	if (status == UPS_ERR_UNAUTHORIZED) {
		up_set_last(u, CLI_EXIT_CONNECT, ups_err_code(status), "%s",
		            detail ? detail : ups_err_message(status));
		up_end_session(u, END_FATAL);
		return;
	}
	if (status) {
		up_retry(u, CLI_EXIT_CONNECT, ups_err_code(status), "%s",
		         detail ? detail : ups_err_message(status));
		return;
	}
	up_touch(u);
	u->ready = true;
	u->session_start_ns = uv_hrtime();
	u->session_sent = 0;
	/* Unfinished items begin again (even beyond parallel after a lost
	 * connection: each is resumed or found stored), then new ones. */
	up_fill(u);
}

static void up_on_closed(struct client *c, int status, const char *detail)
{
	struct uploader *u = c->data;

	if (u->end != END_NONE)
		return;
	up_retry(u, CLI_EXIT_CONNECT, ups_err_code(status), "%s",
	         detail ? detail : ups_err_message(status));
}

/* One connection attempt; returns how it ended. */
static enum session_end up_session(struct uploader *u)
{
	static const struct client_callbacks cbs = {
	    .ready = up_on_ready,
	    .closed = up_on_closed,
	    .push = up_on_push,
	    .written = up_on_written,
	};
	const struct uploader_config *cfg = u->cfg;
	struct client_config ccfg;
	char err[UPS_ERRMSG_MAX];
	uv_loop_t loop;
	int rv;

	u->end = END_NONE;
	u->ready = false;
	u->rate_waiting = false;
	/* Unfinished items begin again once logged in. */
	for (unsigned i = 0; i < u->nslots; i++) {
		u->slots[i].parked = false;
		if (u->slots[i].phase != SLOT_IDLE)
			u->slots[i].phase = SLOT_BEGIN;
	}
	rv = uv_loop_init(&loop);
	if (rv) {
		up_set_last(u, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_INTERNAL),
		            "cannot create an event loop: %s", uv_strerror(rv));
		return END_FATAL;
	}
	u->loop = &loop;
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.loop = &loop;
	ccfg.url = cfg->url;
	ccfg.ca_cert = cfg->ca_cert;
	ccfg.role = cfg->role;
	ccfg.token = cfg->token;
	ccfg.debug = cfg->debug;
	ccfg.data = u;
	rv = client_start(&u->client, &ccfg, &cbs, err, sizeof(err));
	if (rv) {
		up_set_last(u, CLI_EXIT_CONNECT, ups_err_code(rv), "%s", err);
		u->end = END_FATAL;
		goto out_loop;
	}
	/* After the client: see client_start(). */
	uv_timer_init(&loop, &u->idle);
	uv_timer_init(&loop, &u->rate);
	u->idle.data = u;
	u->rate.data = u;
	for (unsigned i = 0; i < u->nslots; i++) {
		uv_timer_init(&loop, &u->slots[i].timer);
		u->slots[i].timer.data = &u->slots[i];
		u->slots[i].timer_open = true;
	}
	u->timers_open = true;
	uv_timer_start(&u->idle, up_on_idle, cfg->timeout_ms, cfg->timeout_ms);

	uv_run(&loop, UV_RUN_DEFAULT);
	client_finish(&u->client);
	if (u->end == END_NONE) /* cannot happen: every path sets it */
		u->end = END_RETRY;
out_loop:
	rv = uv_loop_close(&loop);
	if (rv)
		LOG_ERROR("upload", "event loop closed with handles open: %s",
		          uv_strerror(rv));
	u->loop = NULL;
	return u->end;
}

/* Every item without an outcome fails with the last error. */
static void up_fail_rest(struct uploader *u)
{
	const struct uploader_config *cfg = u->cfg;

	for (unsigned i = 0; i < u->nslots; i++) {
		struct slot *s = &u->slots[i];

		if (s->phase == SLOT_IDLE)
			continue;
		progress_file_end(cfg->progress, s->index, NULL, uv_hrtime());
		s->phase = SLOT_IDLE;
		slot_close_file(s);
	}
	for (size_t i = 0; i < u->n; i++) {
		struct upload_item *item = &u->items[i];

		if (item->status != UPLOAD_PENDING)
			continue;
		item->status = UPLOAD_FAILED;
		snprintf(item->code, sizeof(item->code), "%s", u->last_code);
		snprintf(item->message, sizeof(item->message), "%s",
		         u->last_message);
		if (cfg->item_done)
			cfg->item_done(cfg->data, item);
	}
	u->next_item = u->n;
}

int uploader_run(const struct uploader_config *cfg, struct upload_item *items,
                 size_t n)
{
	struct uploader *u;
	enum session_end end;
	unsigned delay_ms;
	char note[UPS_LIMIT_ERROR_TEXT_LEN * 2 + 256];
	int exit_code = CLI_EXIT_OK;

	if (n == 0)
		return CLI_EXIT_OK;
	u = calloc(1, sizeof(*u));
	if (!u)
		return CLI_EXIT_FAILED;
	u->cfg = cfg;
	u->items = items;
	u->n = n;
	u->parallel = cfg->parallel < 1 ? 1 : cfg->parallel;
	if (u->parallel > UPLOADER_MAX_PARALLEL)
		u->parallel = UPLOADER_MAX_PARALLEL;
	u->nslots = 2 * u->parallel;
	if (u->nslots > n)
		u->nslots = (unsigned)n;
	for (unsigned i = 0; i < u->nslots; i++) {
		u->slots[i].up = u;
		u->slots[i].index = i;
		u->slots[i].fd = -1;
		u->slots[i].work.data = &u->slots[i];
	}
	for (size_t i = 0; i < n; i++)
		items[i].status = UPLOAD_PENDING;

	while (u->done_items < n) {
		end = up_session(u);
		if (end == END_DONE || u->done_items >= n)
			break;
		if (end == END_RETRY && u->attempts < cfg->retries) {
			delay_ms = BACKOFF_INITIAL_MS
			           << (u->attempts < 5 ? u->attempts : 5);
			if (delay_ms > BACKOFF_MAX_MS)
				delay_ms = BACKOFF_MAX_MS;
			u->attempts++;
			snprintf(note, sizeof(note),
			         "%s: %s; retrying in %.1f s (%u of %u)",
			         u->last_code, u->last_message,
			         delay_ms / 1000.0, u->attempts, cfg->retries);
			progress_note(cfg->progress, note);
			uv_sleep(delay_ms);
			continue;
		}
		/* Out of retries, or fatal: the rest cannot be done. */
		up_fail_rest(u);
		if (u->last_exit == CLI_EXIT_CONNECT)
			exit_code = CLI_EXIT_CONNECT;
		break;
	}
	for (unsigned i = 0; i < u->nslots; i++) {
		slot_close_file(&u->slots[i]);
		EVP_MD_CTX_free(u->slots[i].md);
	}
	for (size_t i = 0; i < n; i++)
		if (items[i].status == UPLOAD_FAILED &&
		    exit_code == CLI_EXIT_OK)
			exit_code = CLI_EXIT_FAILED;
	free(u);
	return exit_code;
}
