/* The HTTP router and response writer. See http.h. */
#include "agent/net/http.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "proto/errors.h"
#include "proto/http.h"
#include "proto/limits.h"
#include "proto/log.h"

/* Method indexes of lws_http_get_uri_and_method(). */
#define HTTP_METHOD_GET  0
#define HTTP_METHOD_HEAD 7

/* The longest text body (route texts, error bodies). */
#define HTTP_TEXT_MAX 400

/* Header values kept from a request; a longer one is treated as absent
 * (Range, If-Range) or as matching nothing (If-None-Match). */
#define HTTP_RANGE_VALUE_MAX 128
#define HTTP_INM_VALUE_MAX   1024

/* Status line, headers: the most one response has. */
#define HTTP_HEADERS_MAX 1024

enum http_state {
	HTTP_RESOLVING,  /* a route has it; http_reply() comes */
	HTTP_RESPONDING, /* status and entity known; headers to write */
	HTTP_BODY,       /* headers written; body going out */
	HTTP_FINISHED,   /* everything written, or the client went */
};

struct http_buf {
	uint8_t *mem; /* LWS_PRE + chunk; NULL until a file is sent */
	size_t n;     /* bytes held after LWS_PRE */
	size_t done;  /* of them, written */
	bool full;
};

struct http_request {
	struct http *h;
	struct lws *wsi;            /* NULL once the connection went */
	struct http_request **slot; /* lws's slot pointing here, or NULL */
	struct http_request *prev, *next;
	enum http_state state;
	bool head;
	bool counted; /* in h->active */
	/* The request's conditional headers, as they came. */
	bool has_range, has_if_range, has_inm;
	char range[HTTP_RANGE_VALUE_MAX + 1];
	char if_range[HTTP_RANGE_VALUE_MAX + 1];
	char inm[HTTP_INM_VALUE_MAX + 1];
	/* The response. */
	unsigned status;
	int error; /* code of an error answer, else 0 */
	char error_text[128];
	struct http_entity ent; /* ent.fd owned */
	uint64_t off, len;      /* the body: the entity's [off, off + len) */
	uint64_t read_at;       /* next offset to read */
	uint64_t sent;          /* body bytes written */
	bool send_body;
	bool zero_copy; /* plain HTTP: the body goes by sendfile */
	uv_work_t warm_req;
	uint64_t warm_at, warm_to; /* file offsets: [at, to) is warming */
	bool warm_queued;          /* waiting for a warm-up of its own */
	struct http_request *warm_queue_next;
	struct http_buf buf[2];
	size_t chunk; /* bytes of each buffer (0: none allocated) */
	int wr, rd;   /* next buffer to write, to read into */
	uv_fs_t read_req;
	bool reading; /* a read or a warm-up uses the file */
	uv_fs_t close_req;
	bool closing;
	uint8_t text[LWS_PRE + HTTP_TEXT_MAX + 1];
	size_t text_len;
};

static void http_free_request(struct http_request *r);

void http_init(struct http *h, uv_loop_t *loop, unsigned max_downloads)
{
	memset(h, 0, sizeof(*h));
	h->loop = loop;
	h->max_downloads = max_downloads ? max_downloads : 1;
	h->warm_jobs_max = HTTP_WARM_JOBS_MAX;
}

int http_route_add(struct http *h, const struct http_route *r)
{
	if (h->nroutes >= HTTP_MAX_ROUTES)
		return UPS_ERR_TOO_LARGE;
	h->routes[h->nroutes++] = *r;
	return 0;
}

bool http_handles(enum lws_callback_reasons reason)
{
	switch (reason) {
	case LWS_CALLBACK_HTTP:
	case LWS_CALLBACK_HTTP_WRITEABLE:
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return true;
	default:
		return false;
	}
}

/* -------------------------------------------------------------------------
 * Freeing: a request goes once lws let go of it and nothing of it is in
 * flight (a route's answer, a read, the close of its file). */

static void http_uncount(struct http_request *r)
{
	if (r->counted) {
		r->counted = false;
		r->h->active--;
	}
}

static void http_maybe_free(struct http_request *r)
{
	if (r->wsi || r->state == HTTP_RESOLVING || r->reading || r->closing ||
	    r->ent.fd >= 0)
		return;
	http_free_request(r);
}

/* Takes r off the warm-up queue, if it is on it. */
static void http_warm_unqueue(struct http_request *r)
{
	struct http *h = r->h;
	struct http_request **p = &h->warm_head, *prev = NULL;

	if (!r->warm_queued)
		return;
	while (*p && *p != r) {
		prev = *p;
		p = &(*p)->warm_queue_next;
	}
	if (*p)
		*p = r->warm_queue_next;
	if (h->warm_tail == r)
		h->warm_tail = prev;
	r->warm_queue_next = NULL;
	r->warm_queued = false;
}

static void http_free_request(struct http_request *r)
{
	struct http *h = r->h;

	http_warm_unqueue(r);
	http_uncount(r);
	if (r->prev)
		r->prev->next = r->next;
	else
		h->requests = r->next;
	if (r->next)
		r->next->prev = r->prev;
	free(r->buf[0].mem);
	free(r->buf[1].mem);
	h->buffered -= 2 * r->chunk;
	free(r);
}

static void http_on_closed(uv_fs_t *req)
{
	struct http_request *r = req->data;

	if (req->result < 0)
		LOG_WARN("http", "closing a served file: %s",
		         uv_strerror((int)req->result));
	uv_fs_req_cleanup(req);
	r->closing = false;
	http_maybe_free(r);
}

/* Closes the entity's file off the loop thread. */
static void http_close_file(struct http_request *r)
{
	int fd = r->ent.fd;

	if (fd < 0 || r->closing || r->reading)
		return;
	r->ent.fd = -1;
	r->close_req.data = r;
	if (uv_fs_close(r->h->loop, &r->close_req, fd, http_on_closed) == 0) {
		r->closing = true;
		return;
	}
	/* Could not even queue it: closing a regular file does not
	 * block. */
	close(fd);
}

/* A response that ended, by its status. */
static void http_count(const struct http_request *r)
{
	if (r->status >= 100 && r->status < 100 + HTTP_STATUS_SPAN) {
		r->h->by_status[r->status - 100]++;
		r->h->bytes_by_status[r->status - 100] += r->sent;
	}
}

/* lws let go of the connection (closed, or the transaction ended). */
static void http_detach(struct http_request *r)
{
	if (r->slot)
		*r->slot = NULL;
	r->slot = NULL;
	if (r->wsi && r->state != HTTP_FINISHED) {
		r->h->dropped++;
		http_count(r);
		LOG_DEBUG("http",
		          "client went before the response was sent "
		          "(%" PRIu64 " of %" PRIu64 " body bytes)",
		          r->sent, r->len);
	}
	r->wsi = NULL;
	if (r->state != HTTP_RESOLVING)
		r->state = HTTP_FINISHED;
	http_uncount(r);
	http_close_file(r);
	http_maybe_free(r);
}

/* -------------------------------------------------------------------------
 * Responses. */

static const char *http_error_code(unsigned status)
{
	switch (status) {
	case 400:
		return ups_err_code(UPS_ERR_BAD_REQUEST);
	case 404:
		return ups_err_code(UPS_ERR_NOT_FOUND);
	case 405:
		return ups_err_code(UPS_ERR_NOT_IMPLEMENTED);
	case 414:
		return ups_err_code(UPS_ERR_TOO_LARGE);
	case 416:
		return ups_err_code(UPS_ERR_BAD_REQUEST);
	case 503:
		return ups_err_code(UPS_ERR_BUSY);
	default:
		return ups_err_code(UPS_ERR_INTERNAL);
	}
}

/* An error answer: status and a JSON body saying why. */
static void http_set_error(struct http_request *r, unsigned status,
                           const char *text)
{
	int n;

	r->status = status;
	r->error = 1;
	snprintf(r->error_text, sizeof(r->error_text), "%s", text);
	n = snprintf((char *)r->text + LWS_PRE, HTTP_TEXT_MAX + 1,
	             "{\"error\": \"%s\", \"error-code\": \"%s\"}\n",
	             r->error_text, http_error_code(status));
	r->text_len = n > 0 && n <= HTTP_TEXT_MAX ? (size_t)n : 0;
	r->ent.content_type = "application/json";
	r->ent.size = r->text_len;
	r->ent.etag[0] = '\0';
	r->ent.text = NULL;
	r->off = 0;
	r->len = r->text_len;
	r->send_body = !r->head && r->text_len > 0;
}

/* The status and error text of a route's refusal. */
static void http_set_refusal(struct http_request *r, int rv)
{
	switch (rv) {
	case UPS_ERR_NOT_FOUND:
		http_set_error(r, 404, "not found");
		break;
	case UPS_ERR_BAD_REQUEST:
		http_set_error(r, 400, "bad request");
		break;
	case UPS_ERR_BUSY:
		http_set_error(r, 503, "too many downloads; retry later");
		break;
	default:
		http_set_error(r, 500, ups_err_message(rv));
		break;
	}
}

/* Decides status and body of a served entity: 304, 206, 416 or 200. */
static void http_set_entity(struct http_request *r,
                            const struct http_entity *ent)
{
	enum ups_http_range range = UPS_HTTP_RANGE_ALL;
	uint64_t off = 0, len = ent->size;

	r->ent = *ent;
	if (ent->fd < 0) {
		size_t n = ent->text ? strlen(ent->text) : 0;

		if (n > HTTP_TEXT_MAX)
			n = HTTP_TEXT_MAX;
		memcpy(r->text + LWS_PRE, ent->text ? ent->text : "", n);
		r->text_len = n;
		r->ent.size = n;
		len = n;
	}
	r->status = 200;
	if (ent->status) {
		r->status = ent->status;
	} else if (r->has_inm && r->ent.etag[0] &&
	    ups_http_etag_match(r->inm, r->ent.etag, true)) {
		r->status = 304;
	} else if (r->has_range && r->ent.fd >= 0 &&
	           (!r->has_if_range ||
	            ups_http_etag_match(r->if_range, r->ent.etag, false))) {
		range = ups_http_range_parse(r->range, r->ent.size, &off, &len);
		if (range == UPS_HTTP_RANGE_PARTIAL)
			r->status = 206;
	}
	if (range == UPS_HTTP_RANGE_UNSATISFIABLE) {
		uint64_t size = r->ent.size;
		char etag[sizeof(r->ent.etag)];

		memcpy(etag, r->ent.etag, sizeof(etag));
		http_close_file(r);
		http_set_error(r, 416, "range not satisfiable");
		r->ent.size = size; /* for Content-Range: bytes * /size */
		memcpy(r->ent.etag, etag, sizeof(etag));
		return;
	}
	r->off = off;
	r->len = len;
	r->read_at = off;
	r->send_body = !r->head && r->status != 304 && len > 0;
	if (!r->send_body)
		http_close_file(r);
}

static int http_add_header(struct lws *wsi, enum lws_token_indexes token,
                           const char *value, unsigned char **p,
                           unsigned char *end)
{
	return lws_add_http_header_by_token(wsi, token,
	                                    (const unsigned char *)value,
	                                    (int)strlen(value), p, end);
}

/* Writes the status line and headers. 0, or -1 to close. */
static int http_write_headers(struct http_request *r)
{
	uint8_t buf[LWS_PRE + HTTP_HEADERS_MAX];
	unsigned char *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	uint64_t length = r->len;
	char value[128];
	bool is_file = r->ent.fd >= 0 || r->status == 416 ||
	               (r->status == 304 && !r->error);

	/* HEAD and 304: the length a GET would have had. */
	if (r->status == 304)
		length = r->ent.size;
	if (lws_add_http_common_headers(r->wsi, r->status, r->ent.content_type,
	                                length, &p, end))
		return -1;
	if (r->ent.etag[0]) {
		snprintf(value, sizeof(value), "\"%s\"", r->ent.etag);
		if (http_add_header(r->wsi, WSI_TOKEN_HTTP_ETAG, value, &p,
		                    end))
			return -1;
	}
	if (is_file && http_add_header(r->wsi, WSI_TOKEN_HTTP_ACCEPT_RANGES,
	                               "bytes", &p, end))
		return -1;
	if (r->status == 206) {
		snprintf(value, sizeof(value),
		         "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r->off,
		         r->off + r->len - 1, r->ent.size);
		if (http_add_header(r->wsi, WSI_TOKEN_HTTP_CONTENT_RANGE, value,
		                    &p, end))
			return -1;
	}
	if (r->status == 416) {
		snprintf(value, sizeof(value), "bytes */%" PRIu64, r->ent.size);
		if (http_add_header(r->wsi, WSI_TOKEN_HTTP_CONTENT_RANGE, value,
		                    &p, end))
			return -1;
	}
	if (r->status == 405 &&
	    http_add_header(r->wsi, WSI_TOKEN_HTTP_ALLOW, "GET, HEAD", &p, end))
		return -1;
	if (r->status == 503 &&
	    http_add_header(r->wsi, WSI_TOKEN_HTTP_RETRY_AFTER, "1", &p, end))
		return -1;
	if (lws_finalize_write_http_header(r->wsi, start, &p, end))
		return -1;
	return 0;
}

/* Everything is written: the transaction ends (the connection may carry
 * the next one). Returns what the lws callback returns. */
static int http_finish(struct http_request *r)
{
	struct lws *wsi = r->wsi;

	r->state = HTTP_FINISHED;
	r->h->served++;
	http_count(r);
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	r->wsi = NULL;
	if (r->slot)
		*r->slot = NULL;
	r->slot = NULL;
	http_uncount(r);
	http_close_file(r);
	http_maybe_free(r);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The body could not be read after its headers went: only closing the
 * connection tells the client. */
static void http_abort(struct http_request *r, const char *why)
{
	LOG_WARN("http", "dropping a download: %s", why);
	if (r->wsi)
		lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
	r->state = HTTP_FINISHED;
	http_close_file(r);
}

static void http_read_next(struct http_request *r);

static void http_on_read(uv_fs_t *req)
{
	struct http_request *r = req->data;
	ssize_t n = req->result;
	struct http_buf *b = &r->buf[r->rd];

	uv_fs_req_cleanup(req);
	r->reading = false;
	if (!r->wsi || r->state != HTTP_BODY) {
		http_close_file(r);
		http_maybe_free(r);
		return;
	}
	if (n <= 0) {
		http_abort(r, n < 0 ? uv_strerror((int)n)
		                    : "the file is shorter than it was");
		return;
	}
	b->n = (size_t)n;
	b->full = true;
	r->read_at += (uint64_t)n;
	r->rd ^= 1;
	lws_callback_on_writable(r->wsi);
	http_read_next(r);
}

/* Reads the next chunk into the free buffer, if there is one and the
 * body is not all read. */
static void http_read_next(struct http_request *r)
{
	struct http_buf *b = &r->buf[r->rd];
	uint64_t left = r->off + r->len - r->read_at;
	uv_buf_t ub;
	int rv;

	if (r->reading || b->full || left == 0 || r->ent.fd < 0)
		return;
	ub = uv_buf_init((char *)b->mem + LWS_PRE,
	                 (unsigned)(left < r->chunk ? left : r->chunk));
	r->read_req.data = r;
	rv = uv_fs_read(r->h->loop, &r->read_req, r->ent.fd, &ub, 1,
	                (int64_t)r->read_at, http_on_read);
	if (rv) {
		http_abort(r, uv_strerror(rv));
		return;
	}
	r->reading = true;
}

/* A worker: maps [warm_at, warm_to) of the file with MAP_POPULATE, which
 * returns once every page of it is in the page cache. Nothing is copied.
 * A failure only means sendfile() may wait for the disk itself. */
static void http_warm_work(uv_work_t *w)
{
	struct http_request *r = w->data;
	uint64_t end = r->off + r->len; /* the loop leaves these be */
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t from = r->warm_at - r->warm_at % page;
	size_t len = (size_t)(r->warm_to - from);
	void *m;

	/* The window after this one, as far as the body goes, is read ahead
	 * meanwhile, so the disk always has a request queued (and a short
	 * range costs no more reading than it needs). */
	if (r->warm_to < end)
		(void)posix_fadvise(r->ent.fd, (off_t)r->warm_to,
		                    (off_t)(end - r->warm_to > HTTP_WARM_WINDOW
		                                ? HTTP_WARM_WINDOW
		                                : end - r->warm_to),
		                    POSIX_FADV_WILLNEED);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, r->ent.fd,
	         (off_t)from);
	if (m != MAP_FAILED)
		munmap(m, len);
}

static void http_warm_next(struct http_request *r);

/* Starts waiting warm-ups while fewer than the most run. */
static void http_warm_pump(struct http *h)
{
	while (h->warming < h->warm_jobs_max && h->warm_head) {
		struct http_request *r = h->warm_head;

		h->warm_head = r->warm_queue_next;
		if (!h->warm_head)
			h->warm_tail = NULL;
		r->warm_queue_next = NULL;
		r->warm_queued = false;
		http_warm_next(r);
	}
}

static void http_on_warm(uv_work_t *w, int status)
{
	struct http_request *r = w->data;

	r->reading = false;
	r->h->warming--;
	http_warm_pump(r->h);
	if (!r->wsi || r->state != HTTP_BODY) {
		http_close_file(r);
		http_maybe_free(r);
		return;
	}
	(void)status; /* cancelled only at shutdown: sendfile reads */
	r->h->warmed_bytes += r->warm_to - r->warm_at;
	r->warm_at = r->warm_to;
	lws_callback_on_writable(r->wsi);
	http_warm_next(r);
}

/* Warms the next window when less than HTTP_WARM_AHEAD is warm ahead of
 * what was sent and no warm-up runs. */
static void http_warm_next(struct http_request *r)
{
	struct http *h = r->h;
	uint64_t end = r->off + r->len, sent_to = r->off + r->sent;

	if (!r->wsi || r->reading || r->warm_queued || r->ent.fd < 0 ||
	    r->warm_at >= end || r->warm_at - sent_to >= HTTP_WARM_AHEAD)
		return;
	if (h->warming >= h->warm_jobs_max) {
		if (h->warm_tail)
			h->warm_tail->warm_queue_next = r;
		else
			h->warm_head = r;
		h->warm_tail = r;
		r->warm_queued = true;
		return;
	}
	r->warm_to = end - r->warm_at > HTTP_WARM_WINDOW
	                 ? r->warm_at + HTTP_WARM_WINDOW
	                 : end;
	r->warm_req.data = r;
	if (uv_queue_work(r->h->loop, &r->warm_req, http_warm_work,
	                  http_on_warm)) {
		/* No worker: sendfile() reads the disk itself. */
		h->warmed_bytes += end - r->warm_at;
		r->warm_at = end;
		lws_callback_on_writable(r->wsi);
		return;
	}
	r->reading = true;
	h->warming++;
}

/* Headers written: the body starts. 0, or -1 to close. */
static int http_start_body(struct http_request *r)
{
	r->state = HTTP_BODY;
	if (r->ent.fd < 0) {
		/* A text: one write. */
		r->buf[0].full = true;
		r->buf[0].n = (size_t)r->len;
		lws_callback_on_writable(r->wsi);
		return 0;
	}
	/* Plain HTTP: the kernel sends the file itself, with no copy
	 * through our buffers (TLS needs the bytes in user space). */
	if (!lws_is_ssl(r->wsi) && !r->h->no_sendfile) {
		r->zero_copy = true;
		r->warm_at = r->off;
		lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
		                HTTP_STALL_TIMEOUT_S);
		http_warm_next(r);
		return 0;
	}
	/* The largest chunk the budget has room for, halving down to the
	 * minimum (which is always granted), and never more than the body
	 * needs. */
	r->chunk = HTTP_CHUNK_MAX;
	while (r->chunk > HTTP_CHUNK_MIN &&
	       (r->h->buffered + 2 * r->chunk > HTTP_BUFFER_BUDGET ||
	        r->chunk / 2 >= r->len))
		r->chunk /= 2;
	r->h->buffered += 2 * r->chunk;
	for (int i = 0; i < 2; i++) {
		r->buf[i].mem = malloc(LWS_PRE + r->chunk);
		if (!r->buf[i].mem) {
			LOG_ERROR("http", "out of memory for a download");
			return -1;
		}
	}
	lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
	                HTTP_STALL_TIMEOUT_S);
	http_read_next(r);
	return 0;
}

/* One lws_write of the next full buffer. 0, or -1 to close. */
static int http_write_body(struct http_request *r)
{
	struct http_buf *b = &r->buf[r->wr];
	size_t n;
	bool last;
	uint8_t *data;

	if (!b->full)
		return 0;
	/* A file's chunks are in the buffers; a text is in r->text. The
	 * data before it is overwritten by lws (LWS_PRE), and was sent. */
	data = (b->mem ? b->mem + LWS_PRE : r->text + LWS_PRE) + b->done;
	n = b->n - b->done;
	if (n > HTTP_WRITE_MAX)
		n = HTTP_WRITE_MAX;
	last = r->sent + n == r->len;
	if (lws_write(r->wsi, data, n,
	              last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
		return -1;
	r->sent += n;
	b->done += n;
	if (last)
		return http_finish(r);
	/* Progress: the reader gets another full stall timeout. */
	lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
	                HTTP_STALL_TIMEOUT_S);
	if (b->done == b->n) {
		b->full = false;
		b->n = b->done = 0;
		r->wr ^= 1;
		http_read_next(r);
	}
	if (r->buf[r->wr].full)
		lws_callback_on_writable(r->wsi);
	return 0;
}

/* One sendfile() of the next part of a file body. lws has sent the
 * headers (it calls WRITEABLE only once what it buffered is out), and
 * lws_http_transaction_completed() resets its own count of the body, so
 * writing to the socket ourselves is safe on plain HTTP/1.1. 0, or -1 to
 * close. */
static int http_send_file(struct http_request *r)
{
	off_t off = (off_t)(r->off + r->sent);
	uint64_t left = r->warm_at - (r->off + r->sent);
	ssize_t n;

	if (lws_partial_buffered(r->wsi)) {
		lws_callback_on_writable(r->wsi);
		return 0;
	}
	if (left == 0) {
		http_warm_next(r); /* its end asks for writable */
		return 0;
	}
	n = sendfile(lws_get_socket_fd(r->wsi), r->ent.fd, &off,
	             (size_t)(left > HTTP_SENDFILE_MAX ? HTTP_SENDFILE_MAX
	                                               : left));
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		lws_callback_on_writable(r->wsi);
		return 0;
	}
	if (n <= 0) {
		/* A read error, or a file shorter than its size said. */
		LOG_WARN("http", "sendfile: %s",
		         n < 0 ? strerror(errno) : "the file ended early");
		return -1;
	}
	r->sent += (uint64_t)n;
	r->h->sendfile_bytes += (uint64_t)n;
	if (r->sent == r->len)
		return http_finish(r);
	lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
	                HTTP_STALL_TIMEOUT_S);
	http_warm_next(r);
	if (r->warm_at > r->off + r->sent)
		lws_callback_on_writable(r->wsi);
	return 0;
}

static int http_writeable(struct http_request *r)
{
	switch (r->state) {
	case HTTP_RESPONDING:
		if (http_write_headers(r))
			return -1;
		if (!r->send_body)
			return http_finish(r);
		return http_start_body(r);
	case HTTP_BODY:
		return r->zero_copy ? http_send_file(r) : http_write_body(r);
	case HTTP_RESOLVING:
	case HTTP_FINISHED:
		break;
	}
	return 0;
}

void http_reply(struct http_request *r, int rv, const struct http_entity *ent)
{
	assert(r->state == HTTP_RESOLVING);
	r->state = HTTP_RESPONDING;
	if (rv == 0 && ent)
		http_set_entity(r, ent);
	else
		http_set_refusal(r, rv ? rv : UPS_ERR_INTERNAL);
	if (!r->wsi) {
		r->state = HTTP_FINISHED;
		http_close_file(r);
		http_maybe_free(r);
		return;
	}
	lws_callback_on_writable(r->wsi);
}

/* -------------------------------------------------------------------------
 * Requests. */

/* A header's value into buf; false when absent or longer than len - 1. */
static bool http_header(struct lws *wsi, enum lws_token_indexes token,
                        char *buf, size_t len)
{
	int n = lws_hdr_total_length(wsi, token);

	if (n <= 0 || (size_t)n >= len)
		return false;
	return lws_hdr_copy(wsi, buf, (int)len, token) == n;
}

static const struct http_route *http_find(struct http *h, const char *path)
{
	for (size_t i = 0; i < h->nroutes; i++) {
		const char *rp = h->routes[i].path;
		size_t n = strlen(rp);

		if (n > 0 && rp[n - 1] == '/' ? strncmp(path, rp, n) == 0
		                              : strcmp(path, rp) == 0)
			return &h->routes[i];
	}
	return NULL;
}

/* Decides what to do with a new request and starts it. */
static void http_route(struct http_request *r, int method, const char *path,
                       size_t len)
{
	struct http *h = r->h;
	const struct http_route *route;
	int rv;

	r->state = HTTP_RESPONDING;
	if (h->stopping) {
		http_set_error(r, 503, "upstaged is shutting down");
		return;
	}
	if (method != HTTP_METHOD_GET && method != HTTP_METHOD_HEAD) {
		http_set_error(r, 405, "only GET and HEAD are served");
		return;
	}
	rv = ups_http_path_check(path, len);
	if (rv == UPS_ERR_TOO_LARGE) {
		char text[64];

		snprintf(text, sizeof(text),
		         "request path longer than %d bytes",
		         UPS_LIMIT_HTTP_PATH_LEN);
		http_set_error(r, 414, text);
		return;
	}
	if (rv) {
		http_set_error(r, 400, "bad request path");
		return;
	}
	route = http_find(h, path);
	if (!route) {
		http_set_error(r, 404, "not found");
		return;
	}
	if (h->active >= h->max_downloads) {
		h->refused_busy++;
		http_set_error(r, 503, "too many downloads; retry later");
		return;
	}
	r->counted = true;
	h->active++;
	r->state = HTTP_RESOLVING;
	rv = route->open(route->data, path, r);
	if (rv)
		http_reply(r, rv, NULL);
}

static int http_new_request(struct http *h, struct lws *wsi,
                            struct http_request **slot, const char *path,
                            size_t len)
{
	struct http_request *r;
	char *uri;
	int ulen, method;

	if (*slot) {
		/* lws starts a transaction only after the last completed. */
		LOG_ERROR("http", "a request while another is in progress");
		return -1;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		LOG_ERROR("http", "out of memory for a request");
		return -1;
	}
	r->h = h;
	r->wsi = wsi;
	r->slot = slot;
	r->ent.fd = -1;
	r->next = h->requests;
	if (r->next)
		r->next->prev = r;
	h->requests = r;
	*slot = r;
	method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
	r->head = method == HTTP_METHOD_HEAD;
	r->has_range =
	    http_header(wsi, WSI_TOKEN_HTTP_RANGE, r->range, sizeof(r->range));
	r->has_if_range = http_header(wsi, WSI_TOKEN_HTTP_IF_RANGE, r->if_range,
	                              sizeof(r->if_range));
	/* An If-None-Match too long to keep matches nothing: the body is
	 * sent, which is always correct. */
	r->has_inm = http_header(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH, r->inm,
	                         sizeof(r->inm));
	http_route(r, method, path, len);
	if (r->state == HTTP_RESPONDING)
		lws_callback_on_writable(wsi);
	return 0;
}

/* A websocket upgrade: only "/" and only version 13; anything else is
 * answered here (404, or 426 naming 13) and the connection closed. */
static int http_confirm_upgrade(struct lws *wsi)
{
	uint8_t buf[LWS_PRE + 512];
	unsigned char *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	const char *body;
	char version[8];
	char *uri;
	int ulen, n, status;

	n = lws_hdr_copy(wsi, version, sizeof(version), WSI_TOKEN_VERSION);
	if (lws_http_get_uri_and_method(wsi, &uri, &ulen) < 0)
		ulen = 0;
	if (ulen == 1 && uri[0] == '/' && n == 2 && strcmp(version, "13") == 0)
		return 0;
	if (ulen == 1 && uri[0] == '/') {
		status = 426;
		body = "{\"error\": \"websocket version 13 only\", "
		       "\"error-code\": \"bad-request\"}\n";
	} else {
		status = 404;
		body = "{\"error\": \"websocket connections go to /\", "
		       "\"error-code\": \"not-found\"}\n";
	}
	LOG_DEBUG("http", "refusing a websocket upgrade: %d", status);
	if (lws_add_http_common_headers(wsi, (unsigned)status,
	                                "application/json", strlen(body), &p,
	                                end) ||
	    (status == 426 && lws_add_http_header_by_token(
	                          wsi, WSI_TOKEN_VERSION,
	                          (const unsigned char *)"13", 2, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	n = (int)strlen(body);
	memcpy(start, body, (size_t)n);
	if (lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP_FINAL) < n)
		return -1;
	/* >0: answered by us; lws ends the transaction. */
	return 1;
}

int http_callback(struct http *h, struct lws *wsi,
                  enum lws_callback_reasons reason, struct http_request **slot,
                  void *in, size_t len)
{
	/* Upgrades are confirmed before lws binds the connection to a
	 * protocol (no per-session data yet). */
	if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
		return http_confirm_upgrade(wsi);
	/* lws has no per-session data for a connection it never bound (one
	 * whose headers overflowed): nothing of ours is there. */
	if (!slot)
		return reason == LWS_CALLBACK_HTTP ? -1 : 0;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return http_new_request(h, wsi, slot, in ? in : "",
		                        in ? len : 0);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return *slot ? http_writeable(*slot) : 0;
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		/* A body only comes with methods answered 405: dropped. */
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (*slot)
			http_detach(*slot);
		return 0;
	default:
		return 0;
	}
}

void http_stop(struct http *h)
{
	h->stopping = true;
}

void http_free(struct http *h)
{
	/* Whatever is left had no connection and nothing in flight: the
	 * loop has drained. */
	while (h->requests) {
		struct http_request *r = h->requests;

		if (r->ent.fd >= 0)
			close(r->ent.fd);
		http_free_request(r);
	}
}

int http_healthz(void *data, const char *path, struct http_request *req)
{
	struct http_entity ent;

	(void)data;
	(void)path;
	memset(&ent, 0, sizeof(ent));
	ent.content_type = "text/plain";
	ent.fd = -1;
	ent.text = "ok\n";
	ent.size = 3;
	http_reply(req, 0, &ent);
	return 0;
}

int http_request_header(const struct http_request *req, int tok, char *buf,
                        size_t len)
{
	int n;

	if (!req->wsi || len == 0)
		return -1;
	n = lws_hdr_total_length(req->wsi, (enum lws_token_indexes)tok);
	if (n <= 0 || (size_t)n >= len)
		return -1;
	if (lws_hdr_copy(req->wsi, buf, (int)len,
	                 (enum lws_token_indexes)tok) != n)
		return -1;
	return n;
}

int http_reply_bytes(struct http_request *req, const char *content_type,
                     unsigned status, const void *data, size_t len)
{
	struct http_entity ent = {.content_type = content_type,
	                          .status = status};
	size_t done = 0;
	int fd = memfd_create("upstage-http", MFD_CLOEXEC);

	while (fd >= 0 && done < len) {
		ssize_t n = write(fd, (const char *)data + done, len - done);

		if (n <= 0) {
			close(fd);
			fd = -1;
			break;
		}
		done += (size_t)n;
	}
	if (fd < 0)
		return UPS_ERR_IO;
	ent.fd = fd;
	ent.size = len;
	http_reply(req, 0, &ent);
	return 0;
}

void http_request_peer(const struct http_request *req, char *buf, size_t len)
{
	if (len)
		buf[0] = '\0';
	if (req->wsi && len)
		lws_get_peer_simple(req->wsi, buf, len);
}
