/* The upload engine of sync-agent-binary; see uploader.h.
 *
 * Each connection attempt is one uv_run() of a fresh client session (the
 * websocket context needs uv_run() to return before it can be released);
 * the state of the items survives across sessions. */
#include "contrib/cli/uploader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contrib/cli/cli.h"
#include "contrib/cli/client.h"
#include "proto/chunk.h"
#include "proto/errors.h"
#include "proto/log.h"

#define BACKOFF_INITIAL_MS 200u
#define BACKOFF_MAX_MS     5000u
/* Chunks queued towards the socket at once: enough to keep it busy, few
 * enough that memory stays a few MiB whatever the window. */
#define QUEUED_CHUNKS 2

enum session_end {
	END_NONE,
	END_DONE,  /* every item has an outcome */
	END_RETRY, /* reconnect and resume the current item */
	END_FATAL, /* give up: login refused, bad configuration */
};

struct uploader {
	const struct uploader_config *cfg;
	struct upload_item *items;
	size_t n;
	size_t cur;
	unsigned attempts; /* failed sessions in a row without progress */
	int last_exit;     /* for the remaining items when giving up */
	char last_code[UPS_LIMIT_NAME_LEN + 1];
	char last_message[UPS_LIMIT_ERROR_TEXT_LEN + 1];
	/* The current item. */
	int fd;
	bool begun; /* resumed_from recorded */
	/* The current session. */
	uv_loop_t *loop;
	struct client client;
	uv_timer_t idle;
	uv_timer_t rate;
	bool timers_open;
	enum session_end end;
	bool in_upload; /* UploadBegin answered "upload" */
	bool commit_sent;
	bool rate_waiting;
	uint64_t upload_id;
	uint64_t next_off; /* next byte to send */
	uint64_t acked;    /* server's "offset" */
	uint64_t window;
	uint64_t session_sent; /* for --max-rate */
	uint64_t session_start_ns;
};

static void up_pump(struct uploader *u);
static void up_begin_item(struct uploader *u);

static struct upload_item *up_item(struct uploader *u)
{
	return u->cur < u->n ? &u->items[u->cur] : NULL;
}

/* Ends the session; uv_run() returns once the client and timers closed. */
static void up_end_session(struct uploader *u, enum session_end end)
{
	if (u->end == END_NONE || end == END_FATAL)
		u->end = end;
	if (u->timers_open) {
		u->timers_open = false;
		uv_close((uv_handle_t *)&u->idle, NULL);
		uv_close((uv_handle_t *)&u->rate, NULL);
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

static void up_close_file(struct uploader *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}

/* The current item has its outcome; go on with the next. */
static void up_item_done(struct uploader *u, enum upload_status status,
                         const char *code, const char *message)
{
	struct upload_item *item = up_item(u);
	uint64_t now = uv_hrtime();

	item->status = status;
	if (status == UPLOAD_FAILED) {
		snprintf(item->code, sizeof(item->code), "%s", code);
		snprintf(item->message, sizeof(item->message), "%s", message);
	}
	if (status == UPLOAD_UPLOADED) {
		progress_file_update(u->cfg->progress, item->it.size, now);
		progress_file_end(u->cfg->progress, "done", now);
	} else if (status == UPLOAD_EXISTS) {
		char text[UPS_LIMIT_BINARY_VERSION_LEN + 64];

		snprintf(text, sizeof(text),
		         "%s: already stored with the same SHA-256",
		         item->it.binary_version);
		progress_note(u->cfg->progress, text);
	} else {
		/* The command prints failures itself; just clear the bar. */
		progress_note(u->cfg->progress, NULL);
	}
	if (u->cfg->item_done)
		u->cfg->item_done(u->cfg->data, item);
	up_close_file(u);
	u->cur++;
	u->begun = false;
	u->attempts = 0;
	u->in_upload = false;
	u->commit_sent = false;
	if (u->cur >= u->n) {
		up_end_session(u, END_DONE);
		return;
	}
	up_begin_item(u);
}

static void up_touch(struct uploader *u)
{
	if (u->timers_open)
		uv_timer_again(&u->idle);
}

static void up_on_idle(uv_timer_t *t)
{
	struct uploader *u = t->data;

	up_retry(u, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_TIMEOUT),
	         "no progress from %s:%d for %g s", u->cfg->url->host,
	         u->cfg->url->port, u->cfg->timeout_ms / 1000.0);
}

static void up_on_rate(uv_timer_t *t)
{
	struct uploader *u = t->data;

	u->rate_waiting = false;
	up_pump(u);
}

static void up_on_commit(struct client *c, void *data, int status,
                         const struct ups_envelope *env, const char *detail)
{
	struct uploader *u = data;

	(void)c;
	(void)detail;
	if (!env || u->end != END_NONE)
		return; /* the session ended; closed() decides */
	up_touch(u);
	if (status == 0) {
		up_item_done(u, UPLOAD_UPLOADED, NULL, NULL);
		return;
	}
	if (status == UPS_ERR_NOT_FOUND || status == UPS_ERR_BUSY) {
		up_retry(u, CLI_EXIT_FAILED, env->error_code_text,
		         "UploadCommit: %s", env->error_text);
		return;
	}
	up_item_done(u, UPLOAD_FAILED, env->error_code_text,
	             env->error_text ? env->error_text : "");
}

static void up_send_commit(struct uploader *u)
{
	int rv;

	u->commit_sent = true;
	rv = client_request(
	    &u->client, "AgentBinaries", "UploadCommit",
	    json_pack("{s:I}", "upload-id", (json_int_t)u->upload_id),
	    up_on_commit, u, NULL);
	if (rv)
		up_retry(u, CLI_EXIT_FAILED, ups_err_code(rv),
		         "cannot send UploadCommit: %s", ups_err_message(rv));
}

/* Reads and queues chunks while the window, the queue bound and the rate
 * limit allow; sends the commit after the last one. */
static void up_pump(struct uploader *u)
{
	const struct uploader_config *cfg = u->cfg;
	struct upload_item *item = up_item(u);
	struct ups_chunk_header hdr;
	struct ups_outq_msg *msg;
	unsigned char *data;
	uint64_t len, now, allowed;
	ssize_t got;
	int rv;

	if (!item || !u->in_upload || u->commit_sent || u->end != END_NONE ||
	    u->rate_waiting)
		return;
	while (u->next_off < item->it.size) {
		if (u->next_off - u->acked >= u->window)
			return; /* an UploadAck reopens it */
		if (client_queued_bytes(&u->client) >=
		    (size_t)QUEUED_CHUNKS * cfg->chunk_size)
			return; /* written() calls us again */
		len = item->it.size - u->next_off;
		if (len > cfg->chunk_size)
			len = cfg->chunk_size;
		if (len > u->window - (u->next_off - u->acked))
			len = u->window - (u->next_off - u->acked);
		if (cfg->max_rate) {
			now = uv_hrtime();
			allowed =
			    (uint64_t)((double)cfg->max_rate *
			               (double)(now - u->session_start_ns) /
			               1e9);
			if (u->session_sent + len > allowed) {
				u->rate_waiting = true;
				uv_timer_start(
				    &u->rate, up_on_rate,
				    (u->session_sent + len - allowed) * 1000 /
				            cfg->max_rate +
				        1,
				    0);
				return;
			}
		}
		/* Read straight into the outgoing message: no copy. */
		msg = ups_outq_msg_new(true, UPS_CHUNK_HEADER_SIZE + (size_t)len);
		if (!msg) {
			up_item_done(u, UPLOAD_FAILED,
			             ups_err_code(UPS_ERR_NO_MEMORY),
			             "out of memory");
			return;
		}
		data = ups_outq_msg_data(msg);
		do
			got = pread(u->fd, data + UPS_CHUNK_HEADER_SIZE,
			            (size_t)len, (off_t)u->next_off);
		while (got < 0 && errno == EINTR);
		if (got != (ssize_t)len) {
			ups_outq_msg_free(msg);
			up_item_done(u, UPLOAD_FAILED, ups_err_code(UPS_ERR_IO),
			             got < 0 ? strerror(errno)
			                     : "the file shrank while being "
			                       "uploaded");
			return;
		}
		memset(&hdr, 0, sizeof(hdr));
		hdr.upload_id = u->upload_id;
		hdr.offset = u->next_off;
		hdr.length = (uint32_t)len;
		ups_chunk_encode_header(&hdr, data);
		rv = client_send_msg(&u->client, msg);
		if (rv) {
			up_retry(u, CLI_EXIT_FAILED, ups_err_code(rv),
			         "cannot queue a chunk: %s",
			         ups_err_message(rv));
			return;
		}
		u->next_off += len;
		u->session_sent += len;
		item->sent_bytes += len;
	}
	/* Everything is queued; the commit goes after it in the same
	 * ordered queue, and upstaged waits for its writes first. */
	up_send_commit(u);
}

static int up_open_file(struct uploader *u, struct upload_item *item)
{
	struct stat st;

	if (u->fd >= 0)
		return 0;
	u->fd = open(item->file, O_RDONLY | O_CLOEXEC);
	if (u->fd < 0) {
		up_item_done(u, UPLOAD_FAILED, ups_err_code(UPS_ERR_IO),
		             strerror(errno));
		return -1;
	}
	if (fstat(u->fd, &st) != 0 || (uint64_t)st.st_size != item->it.size) {
		up_item_done(u, UPLOAD_FAILED,
		             ups_err_code(UPS_ERR_SIZE_MISMATCH),
		             "the file changed size since it was verified");
		return -1;
	}
	(void)posix_fadvise(u->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

static bool up_conflict_in_progress(const struct ups_envelope *env)
{
	json_t *reason =
	    env->error_info ? json_object_get(env->error_info, "reason") : NULL;

	return json_is_string(reason) &&
	       strcmp(json_string_value(reason), "upload in progress") == 0;
}

static int up_get_u64(const json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static void up_on_begin(struct client *c, void *data, int status,
                        const struct ups_envelope *env, const char *detail)
{
	struct uploader *u = data;
	struct upload_item *item = up_item(u);
	const char *st;
	uint64_t id, offset, window;

	(void)c;
	(void)detail;
	if (!env || u->end != END_NONE || !item)
		return;
	up_touch(u);
	if (status) {
		if (status == UPS_ERR_BUSY || (status == UPS_ERR_CONFLICT &&
		                               up_conflict_in_progress(env))) {
			up_retry(u, CLI_EXIT_FAILED, env->error_code_text, "%s",
			         env->error_text ? env->error_text : "");
			return;
		}
		up_item_done(u, UPLOAD_FAILED, env->error_code_text,
		             env->error_text ? env->error_text : "");
		return;
	}
	st = json_string_value(json_object_get(env->response, "status"));
	if (st && strcmp(st, "exists") == 0) {
		up_item_done(u, UPLOAD_EXISTS, NULL, NULL);
		return;
	}
	if (!st || strcmp(st, "upload") != 0 ||
	    up_get_u64(env->response, "upload-id", &id) ||
	    up_get_u64(env->response, "offset", &offset) ||
	    up_get_u64(env->response, "window", &window) || id == 0 ||
	    window == 0 || offset > item->it.size) {
		up_item_done(u, UPLOAD_FAILED,
		             ups_err_code(UPS_ERR_BAD_REQUEST),
		             "upstaged answered UploadBegin with an unexpected "
		             "response");
		return;
	}
	if (up_open_file(u, item))
		return;
	if (!u->begun) {
		u->begun = true;
		item->resumed_from = offset;
	}
	u->in_upload = true;
	u->upload_id = id;
	u->next_off = offset;
	u->acked = offset;
	u->window = window;
	progress_file_begin(u->cfg->progress, item->it.binary_version,
	                    item->it.size, offset, uv_hrtime());
	up_pump(u);
}

static void up_begin_item(struct uploader *u)
{
	struct upload_item *item = up_item(u);
	json_t *params;
	int rv;

	u->in_upload = false;
	u->commit_sent = false;
	params =
	    json_pack("{s:s,s:s,s:I,s:s}", "binary-version",
	              item->it.binary_version, "stream", u->cfg->stream, "size",
	              (json_int_t)item->it.size, "sha256", item->it.sha256);
	rv = client_request(&u->client, "AgentBinaries", "UploadBegin", params,
	                    up_on_begin, u, NULL);
	if (rv)
		up_retry(u, CLI_EXIT_FAILED, ups_err_code(rv),
		         "cannot send UploadBegin: %s", ups_err_message(rv));
}

static void up_on_ack(struct uploader *u, const json_t *params)
{
	struct upload_item *item = up_item(u);
	uint64_t id, offset;

	if (up_get_u64(params, "upload-id", &id) ||
	    up_get_u64(params, "offset", &offset) || id != u->upload_id ||
	    !u->in_upload)
		return;
	if (offset > u->next_off) {
		up_retry(u, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_BAD_REQUEST),
		         "upstaged acknowledged byte %llu, beyond the %llu "
		         "sent",
		         (unsigned long long)offset,
		         (unsigned long long)u->next_off);
		return;
	}
	if (offset > u->acked) {
		u->acked = offset;
		u->attempts = 0; /* progress: the retry budget starts over */
		up_touch(u);
		progress_file_update(u->cfg->progress, offset, uv_hrtime());
	}
	(void)item;
	up_pump(u);
}

static void up_on_upload_error(struct uploader *u, const json_t *params)
{
	const char *code, *text;
	uint64_t id;
	int rv;

	if (up_get_u64(params, "upload-id", &id) || id != u->upload_id ||
	    !u->in_upload)
		return;
	code = json_string_value(json_object_get(params, "error-code"));
	text = json_string_value(json_object_get(params, "error"));
	if (!code)
		code = ups_err_code(UPS_ERR_INTERNAL);
	if (!text)
		text = "";
	rv = ups_err_from_code(code);
	if (rv == UPS_ERR_OFFSET_MISMATCH || rv == UPS_ERR_NOT_FOUND) {
		/* Chunks already in flight would all be refused too: start
		 * over from what UploadBegin says upstaged has. */
		up_retry(u, CLI_EXIT_FAILED, code, "%s", text);
		return;
	}
	/* no-space, io-error, too-large: upstaged aborted the upload. */
	up_item_done(u, UPLOAD_FAILED, code, text);
}

static void up_on_push(struct client *c, const struct ups_envelope *env)
{
	struct uploader *u = c->data;

	if (u->end != END_NONE)
		return;
	if (strcmp(env->type, "AgentBinaries") == 0 &&
	    strcmp(env->request, "UploadAck") == 0)
		up_on_ack(u, env->params);
	else if (strcmp(env->type, "AgentBinaries") == 0 &&
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
		up_pump(u);
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
	u->session_start_ns = uv_hrtime();
	u->session_sent = 0;
	up_begin_item(u);
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
	u->in_upload = false;
	u->commit_sent = false;
	u->rate_waiting = false;
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

int uploader_run(const struct uploader_config *cfg, struct upload_item *items,
                 size_t n)
{
	struct uploader u;
	enum session_end end;
	unsigned delay_ms;
	char note[UPS_LIMIT_ERROR_TEXT_LEN * 2 + 256];
	int exit_code = CLI_EXIT_OK;

	memset(&u, 0, sizeof(u));
	u.cfg = cfg;
	u.items = items;
	u.n = n;
	u.fd = -1;
	if (n == 0)
		return CLI_EXIT_OK;
	for (size_t i = 0; i < n; i++)
		items[i].status = UPLOAD_PENDING;

	while (u.cur < n) {
		end = up_session(&u);
		if (end == END_DONE || u.cur >= n)
			break;
		if (end == END_RETRY && u.attempts < cfg->retries) {
			delay_ms = BACKOFF_INITIAL_MS
			           << (u.attempts < 5 ? u.attempts : 5);
			if (delay_ms > BACKOFF_MAX_MS)
				delay_ms = BACKOFF_MAX_MS;
			u.attempts++;
			snprintf(note, sizeof(note),
			         "%s: %s; retrying in %.1f s (%u of %u)",
			         u.last_code, u.last_message, delay_ms / 1000.0,
			         u.attempts, cfg->retries);
			progress_note(cfg->progress, note);
			uv_sleep(delay_ms);
			continue;
		}
		/* Out of retries, or fatal: the rest cannot be done. */
		while (u.cur < n) {
			struct upload_item *item = &items[u.cur++];

			item->status = UPLOAD_FAILED;
			snprintf(item->code, sizeof(item->code), "%s",
			         u.last_code);
			snprintf(item->message, sizeof(item->message), "%s",
			         u.last_message);
			if (cfg->item_done)
				cfg->item_done(cfg->data, item);
		}
		if (u.last_exit == CLI_EXIT_CONNECT)
			exit_code = CLI_EXIT_CONNECT;
	}
	up_close_file(&u);
	for (size_t i = 0; i < n; i++)
		if (items[i].status == UPLOAD_FAILED &&
		    exit_code == CLI_EXIT_OK)
			exit_code = CLI_EXIT_FAILED;
	return exit_code;
}
