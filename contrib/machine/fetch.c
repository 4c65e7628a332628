/* HTTP downloads with resume and verification; see fetch.h. */
#include "contrib/machine/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "proto/errors.h"
#include "proto/log.h"

/* A transfer that ends early is resumed this many times from the same
 * URL before the next one is tried. */
#define FETCH_RESUMES_PER_URL 3
#define FETCH_READ_CHUNK      (256 * 1024)

enum fetch_phase {
	FETCH_PREPARING, /* hashing what the partial file holds */
	FETCH_RUNNING,   /* a transfer is on the multi handle */
	FETCH_SYNCING,   /* fsync before the result */
};

struct fetch {
	struct fetch_engine *e;
	struct fetch *prev, *next;
	enum fetch_phase phase;
	char path[4096];
	char (*urls)[UPS_ORDER_URL_LEN + 1];
	size_t nurls;
	size_t url_index;
	unsigned resumes;
	uint64_t size;
	uint8_t sha[32];
	int fd;
	uint64_t have;
	EVP_MD_CTX *md;
	CURL *easy;
	struct curl_slist *headers;
	bool first_write;
	bool range_asked;
	int abort_rv; /* why the write callback stopped the transfer */
	struct fetch_result res;
	fetch_progress_cb progress;
	fetch_done_cb done;
	void *data;
	uv_work_t work;
	int work_rv;
	char err[UPS_ERRMSG_MAX];
	bool cancelled;
};

struct fetch_sock {
	uv_poll_t poll;
	struct fetch_engine *e;
	curl_socket_t s;
};

static void fetch_transfer(struct fetch *f);
static void fetch_check(struct fetch_engine *e);

/* -------------------------------------------------------------------------
 * curl on libuv. */

static void fetch_sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static void fetch_poll_cb(uv_poll_t *h, int status, int events)
{
	struct fetch_sock *fs = h->data;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(fs->e->multi, fs->s, flags, &running);
	fetch_check(fs->e);
}

static int fetch_socket_cb(CURL *easy, curl_socket_t s, int action, void *userp,
                           void *socketp)
{
	struct fetch_engine *e = userp;
	struct fetch_sock *fs = socketp;
	int events = 0;

	(void)easy;
	if (action == CURL_POLL_REMOVE) {
		if (fs) {
			uv_poll_stop(&fs->poll);
			uv_close((uv_handle_t *)&fs->poll, fetch_sock_closed);
			curl_multi_assign(e->multi, s, NULL);
		}
		return 0;
	}
	if (!fs) {
		fs = calloc(1, sizeof(*fs));
		if (!fs)
			return -1;
		fs->e = e;
		fs->s = s;
		if (uv_poll_init_socket(e->loop, &fs->poll, s)) {
			free(fs);
			return -1;
		}
		fs->poll.data = fs;
		curl_multi_assign(e->multi, s, fs);
	}
	if (action & CURL_POLL_IN)
		events |= UV_READABLE;
	if (action & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&fs->poll, events, fetch_poll_cb);
	return 0;
}

static void fetch_on_timeout(uv_timer_t *t)
{
	struct fetch_engine *e = t->data;
	int running;

	curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	fetch_check(e);
}

static int fetch_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fetch_engine *e = userp;

	(void)multi;
	if (!e->timer_open)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&e->timer);
	else
		uv_timer_start(&e->timer, fetch_on_timeout,
		               (uint64_t)timeout_ms, 0);
	return 0;
}

int fetch_engine_init(struct fetch_engine *e, uv_loop_t *loop,
                      const char *ca_file)
{
	memset(e, 0, sizeof(*e));
	e->loop = loop;
	e->ca_file = ca_file;
	e->multi = curl_multi_init();
	if (!e->multi)
		return UPS_ERR_IO;
	if (uv_timer_init(loop, &e->timer)) {
		curl_multi_cleanup(e->multi);
		e->multi = NULL;
		return UPS_ERR_IO;
	}
	e->timer.data = e;
	e->timer_open = true;
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, fetch_socket_cb);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, fetch_timer_cb);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	return 0;
}

/* -------------------------------------------------------------------------
 * One download. */

static void fetch_free(struct fetch *f)
{
	struct fetch_engine *e = f->e;

	if (f->easy) {
		curl_multi_remove_handle(e->multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->headers);
	if (f->fd >= 0)
		close(f->fd);
	EVP_MD_CTX_free(f->md);
	if (f->prev)
		f->prev->next = f->next;
	else if (e->active == f)
		e->active = f->next;
	if (f->next)
		f->next->prev = f->prev;
	free(f->urls);
	free(f);
}

static void fetch_finish(struct fetch *f, int rv, const char *err)
{
	struct fetch_result res = f->res;

	if (rv == UPS_ERR_CHECKSUM_MISMATCH || rv == UPS_ERR_SIZE_MISMATCH)
		(void)unlink(f->path);
	res.url = f->url_index < f->nurls ? f->urls[f->url_index] : "";
	if (!f->cancelled)
		f->done(f->data, rv, err, &res);
	fetch_free(f);
}

static void fetch_sync_work(uv_work_t *req)
{
	struct fetch *f = req->data;

	f->work_rv = fsync(f->fd) ? UPS_ERR_IO : 0;
	if (f->work_rv)
		snprintf(f->err, sizeof(f->err), "fsync %.200s: %s", f->path,
		         strerror(errno));
}

static void fetch_sync_after(uv_work_t *req, int status)
{
	struct fetch *f = req->data;

	fetch_finish(f, status ? UPS_ERR_IO : f->work_rv, f->err);
}

/* Every byte is in: compare the digest, then fsync. */
static void fetch_verify(struct fetch *f)
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;

	if (f->have != f->size) {
		snprintf(
		    f->err, sizeof(f->err), "got %llu bytes, expected %llu",
		    (unsigned long long)f->have, (unsigned long long)f->size);
		fetch_finish(f, UPS_ERR_SIZE_MISMATCH, f->err);
		return;
	}
	if (EVP_DigestFinal_ex(f->md, digest, &dlen) != 1 || dlen != 32) {
		fetch_finish(f, UPS_ERR_INTERNAL, "SHA-256 failed");
		return;
	}
	if (CRYPTO_memcmp(digest, f->sha, 32) != 0) {
		fetch_finish(f, UPS_ERR_CHECKSUM_MISMATCH,
		             "SHA-256 of the download does not match the "
		             "order");
		return;
	}
	f->phase = FETCH_SYNCING;
	f->work.data = f;
	if (uv_queue_work(f->e->loop, &f->work, fetch_sync_work,
	                  fetch_sync_after))
		fetch_finish(f, UPS_ERR_IO, "cannot queue fsync");
}

/* Starts again from byte 0. */
static int fetch_reset(struct fetch *f)
{
	if (ftruncate(f->fd, 0) || lseek(f->fd, 0, SEEK_SET) < 0 ||
	    EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1) {
		f->abort_rv = UPS_ERR_IO;
		snprintf(f->err, sizeof(f->err), "truncate %.200s: %s", f->path,
		         strerror(errno));
		return -1;
	}
	f->have = 0;
	return 0;
}

static size_t fetch_write_cb(char *ptr, size_t sz, size_t nmemb, void *userp)
{
	struct fetch *f = userp;
	size_t n = sz * nmemb, off = 0;

	if (f->first_write) {
		long status = 0;

		f->first_write = false;
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200 && f->have > 0) {
			/* The server ignored the Range: it all comes again. */
			LOG_INFO("fetch", "%s: no range support; from 0",
			         f->urls[f->url_index]);
			if (fetch_reset(f))
				return 0;
		} else if (status != 200 && status != 206) {
			f->abort_rv = UPS_ERR_UNAVAILABLE;
			snprintf(f->err, sizeof(f->err), "%s: HTTP %ld",
			         f->urls[f->url_index], status);
			return 0;
		}
	}
	if (n > f->size - f->have) {
		f->abort_rv = UPS_ERR_SIZE_MISMATCH;
		snprintf(f->err, sizeof(f->err),
		         "the server sends more than the %llu bytes ordered",
		         (unsigned long long)f->size);
		return 0;
	}
	while (off < n) {
		ssize_t w = write(f->fd, ptr + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			f->abort_rv = UPS_ERR_IO;
			snprintf(f->err, sizeof(f->err), "write %.200s: %s",
			         f->path, strerror(errno));
			return 0;
		}
		off += (size_t)w;
	}
	if (EVP_DigestUpdate(f->md, ptr, n) != 1) {
		f->abort_rv = UPS_ERR_INTERNAL;
		return 0;
	}
	f->have += n;
	f->res.fetched += n;
	if (f->progress)
		f->progress(f->data, f->have, f->size);
	return n;
}

/* The current transfer ended: decide what comes next. */
static void fetch_transfer_done(struct fetch *f, CURLcode code)
{
	long status = 0;

	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(f->e->multi, f->easy);
	curl_easy_cleanup(f->easy);
	f->easy = NULL;
	curl_slist_free_all(f->headers);
	f->headers = NULL;
	if (f->abort_rv == UPS_ERR_SIZE_MISMATCH || f->abort_rv == UPS_ERR_IO ||
	    f->abort_rv == UPS_ERR_INTERNAL) {
		fetch_finish(f, f->abort_rv, f->err);
		return;
	}
	if (code == CURLE_OK && status == 416 && f->range_asked) {
		if (f->have == f->size) {
			fetch_verify(f);
			return;
		}
		/* Our partial is not a prefix of what is served there. */
		if (fetch_reset(f)) {
			fetch_finish(f, UPS_ERR_IO, f->err);
			return;
		}
		fetch_transfer(f);
		return;
	}
	if (code == CURLE_OK && (status == 200 || status == 206)) {
		if (f->have == f->size) {
			fetch_verify(f);
			return;
		}
		snprintf(f->err, sizeof(f->err), "%s: ended at %llu of %llu",
		         f->urls[f->url_index], (unsigned long long)f->have,
		         (unsigned long long)f->size);
	} else if (!f->abort_rv) {
		snprintf(f->err, sizeof(f->err), "%s: %s (HTTP %ld)",
		         f->urls[f->url_index], curl_easy_strerror(code),
		         status);
	}
	/* A cut: resume from the same place a few times; a refusal: the
	 * next URL. */
	if (!f->abort_rv && (status == 200 || status == 206) &&
	    f->resumes < FETCH_RESUMES_PER_URL) {
		f->resumes++;
		LOG_INFO("fetch", "%s; resuming", f->err);
		fetch_transfer(f);
		return;
	}
	LOG_WARN("fetch", "%s", f->err);
	f->url_index++;
	f->resumes = 0;
	f->abort_rv = 0;
	if (f->url_index >= f->nurls) {
		f->url_index = f->nurls;
		fetch_finish(f, UPS_ERR_UNAVAILABLE, f->err);
		return;
	}
	fetch_transfer(f);
}

static void fetch_check(struct fetch_engine *e)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv)
			fetch_transfer_done((struct fetch *)priv,
			                    msg->data.result);
	}
}

/* A transfer from the current URL, from f->have on. */
static void fetch_transfer(struct fetch *f)
{
	char range[64];
	CURL *c = curl_easy_init();

	f->phase = FETCH_RUNNING;
	f->first_write = true;
	f->abort_rv = 0;
	f->range_asked = f->have > 0;
	if (!c) {
		fetch_finish(f, UPS_ERR_NO_MEMORY, "curl_easy_init failed");
		return;
	}
	f->easy = c;
	if (f->range_asked) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-",
		         (unsigned long long)f->have);
		f->headers = curl_slist_append(NULL, range);
		if (!f->headers) {
			fetch_finish(f, UPS_ERR_NO_MEMORY, "out of memory");
			return;
		}
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->headers);
		LOG_INFO("fetch", "%s: resuming at byte %llu",
		         f->urls[f->url_index], (unsigned long long)f->have);
	}
	curl_easy_setopt(c, CURLOPT_URL, f->urls[f->url_index]);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* upstaged's own https:// URLs carry its (often private) CA's
	 * certificate; verification stays on, against that CA. */
	if (f->e->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, f->e->ca_file);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_PRIVATE, f);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	/* A server that stops sending is a cut, not a wait forever. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
	if (curl_multi_add_handle(f->e->multi, c) != CURLM_OK)
		fetch_finish(f, UPS_ERR_IO, "curl_multi_add_handle failed");
}

/* Worker: opens the partial file and hashes what it holds. */
static void fetch_prepare_work(uv_work_t *req)
{
	struct fetch *f = req->data;
	unsigned char *buf = NULL;
	struct stat st;
	uint64_t off = 0;

	f->work_rv = 0;
	f->fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f->fd < 0 || fstat(f->fd, &st) != 0)
		goto io;
	if ((uint64_t)st.st_size > f->size) {
		if (ftruncate(f->fd, 0))
			goto io;
		st.st_size = 0;
	}
	buf = malloc(FETCH_READ_CHUNK);
	if (!buf)
		goto io;
	while (off < (uint64_t)st.st_size) {
		ssize_t n = pread(f->fd, buf, FETCH_READ_CHUNK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || EVP_DigestUpdate(f->md, buf, (size_t)n) != 1)
			goto io;
		off += (uint64_t)n;
	}
	if (lseek(f->fd, (off_t)off, SEEK_SET) < 0)
		goto io;
	f->have = off;
	free(buf);
	return;
io:
	f->work_rv = UPS_ERR_IO;
	snprintf(f->err, sizeof(f->err), "%.200s: %s", f->path,
	         strerror(errno));
	free(buf);
}

static void fetch_prepare_after(uv_work_t *req, int status)
{
	struct fetch *f = req->data;

	if (status || f->work_rv) {
		fetch_finish(f, UPS_ERR_IO, f->err);
		return;
	}
	if (f->cancelled) {
		fetch_free(f);
		return;
	}
	f->res.resumed_from = f->have;
	if (f->have == f->size) {
		fetch_verify(f);
		return;
	}
	fetch_transfer(f);
}

int fetch_start(struct fetch_engine *e, const char *path,
                const char (*urls)[UPS_ORDER_URL_LEN + 1], size_t nurls,
                uint64_t size, const char *sha256, fetch_progress_cb progress,
                fetch_done_cb done, void *data)
{
	struct fetch *f;

	if (e->stopping)
		return UPS_ERR_UNAVAILABLE;
	if (nurls == 0 || size == 0 || strlen(path) >= sizeof(f->path) ||
	    ups_sha256_hex_is_valid(sha256) == false)
		return UPS_ERR_BAD_REQUEST;
	f = calloc(1, sizeof(*f));
	if (!f)
		return UPS_ERR_NO_MEMORY;
	f->urls = calloc(nurls, sizeof(*f->urls));
	f->md = EVP_MD_CTX_new();
	if (!f->urls || !f->md ||
	    EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1) {
		free(f->urls);
		EVP_MD_CTX_free(f->md);
		free(f);
		return UPS_ERR_NO_MEMORY;
	}
	memcpy(f->urls, urls, nurls * sizeof(*f->urls));
	f->e = e;
	f->fd = -1;
	f->nurls = nurls;
	f->size = size;
	(void)ups_sha256_hex_decode(sha256, f->sha);
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->progress = progress;
	f->done = done;
	f->data = data;
	f->phase = FETCH_PREPARING;
	f->work.data = f;
	if (uv_queue_work(e->loop, &f->work, fetch_prepare_work,
	                  fetch_prepare_after)) {
		free(f->urls);
		EVP_MD_CTX_free(f->md);
		free(f);
		return UPS_ERR_IO;
	}
	f->next = e->active;
	if (f->next)
		f->next->prev = f;
	e->active = f;
	return 0;
}

void fetch_engine_stop(struct fetch_engine *e)
{
	struct fetch *f, *next;

	e->stopping = true;
	for (f = e->active; f; f = next) {
		next = f->next;
		f->cancelled = true;
		/* Work in the pool finishes on its own and frees then. */
		if (f->phase == FETCH_RUNNING)
			fetch_free(f);
	}
	if (e->timer_open) {
		uv_timer_stop(&e->timer);
		uv_close((uv_handle_t *)&e->timer, NULL);
		e->timer_open = false;
	}
	/* Now, while the loop runs: curl closes its cached connections and
	 * their poll handles get closed with them. */
	if (e->multi)
		curl_multi_cleanup(e->multi);
	e->multi = NULL;
}

void fetch_engine_free(struct fetch_engine *e)
{
	if (e->multi)
		curl_multi_cleanup(e->multi);
	e->multi = NULL;
}
