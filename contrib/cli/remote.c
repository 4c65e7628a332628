/* sync-agent-binary's HTTP source (remote.h), with libcurl's easy
 * interface: the uploader already runs each read on a worker thread. */
#include "contrib/cli/remote.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/errors.h"

/* A file read by a thread of its own into a ring of REMOTE_READAHEAD
 * bytes: the thread streams ahead while the uploader takes chunks, so
 * the source's and upstaged's transfers overlap. Everything below mu is
 * shared with the thread. */
struct remote_reader {
	CURL *curl; /* the thread's while it runs */
	char url[4096];
	struct remote_config cfg;
	uint64_t size;
	pthread_t thread;
	bool running;
	uint64_t pos; /* the next byte remote_read() expects to give */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *ring;
	size_t cap, head, fill; /* unread bytes: ring[head..head+fill) */
	uint64_t start;         /* file offset the stream began at */
	uint64_t received;      /* bytes the stream wrote since start */
	bool stop, done;
	int rv;
	char err[512];
};

bool remote_is_url(const char *s)
{
	return s && (strncmp(s, "http://", 7) == 0 ||
	             strncmp(s, "https://", 8) == 0);
}

static pthread_once_t remote_once = PTHREAD_ONCE_INIT;

static void remote_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What a transfer writes into: a bounded buffer. */
struct remote_sink {
	unsigned char *buf;
	size_t len, cap;
	bool grow;     /* metadata: grow up to cap */
	bool overflow; /* more bytes came than fit */
};

static size_t remote_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct remote_sink *k = arg;
	size_t bytes = size * n;

	if (k->len + bytes > k->cap) {
		k->overflow = true;
		return 0; /* aborts the transfer */
	}
	if (k->grow) {
		unsigned char *nb = realloc(k->buf, k->len + bytes + 1);

		if (!nb)
			return 0;
		k->buf = nb;
	}
	memcpy(k->buf + k->len, data, bytes);
	k->len += bytes;
	return bytes;
}

static void remote_setup(CURL *c, const char *url,
                         const struct remote_config *cfg,
                         struct remote_sink *k)
{
	long secs = cfg->timeout_ms ? (long)(cfg->timeout_ms + 999) / 1000 : 30;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, secs);
	/* A source that stalls: no byte for the timeout. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, secs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, remote_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "upstage");
	if (cfg->ca_cert)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_cert);
}

/* A whole (small) document into *out (malloc'd, NUL-terminated). */
static int remote_get(const char *url, size_t max,
                      const struct remote_config *cfg, char **out,
                      size_t *len, char *err, size_t errlen)
{
	struct remote_sink k = {.cap = max, .grow = true};
	CURL *c;
	CURLcode rc;
	long status = 0;

	pthread_once(&remote_once, remote_global_init);
	*out = NULL;
	c = curl_easy_init();
	if (!c)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory for HTTP");
	remote_setup(c, url, cfg, &k);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (k.overflow) {
		free(k.buf);
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "%.300s: more than %zu bytes", url, max);
	}
	if (rc != CURLE_OK || status != 200) {
		free(k.buf);
		if (rc == CURLE_OK && status == 404)
			return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
			                "%.300s: 404", url);
		return ups_errf(rc == CURLE_OPERATION_TIMEDOUT
		                    ? UPS_ERR_TIMEOUT
		                    : UPS_ERR_IO,
		                err, errlen, "%.300s: %s", url,
		                rc != CURLE_OK ? curl_easy_strerror(rc)
		                               : "unexpected HTTP status");
	}
	if (!k.buf && !(k.buf = malloc(1)))
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	k.buf[k.len] = '\0';
	*out = (char *)k.buf;
	*len = k.len;
	return 0;
}

/* Writes len bytes of data to a new temporary file; its path into
 * path (PATH_MAX). 0 or -1. */
static int remote_temp(const char *data, size_t len, char *path, size_t plen)
{
	const char *dir = getenv("TMPDIR");
	size_t off = 0;
	int fd;

	snprintf(path, plen, "%s/upstage-sig.XXXXXX",
	         dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w <= 0 && errno != EINTR) {
			close(fd);
			unlink(path);
			return -1;
		}
		if (w > 0)
			off += (size_t)w;
	}
	close(fd);
	return 0;
}

/* The content of a PGP clear-signed doc whose signature gpgv accepts
 * with keyring, into *out (malloc'd). gpgv is run without a shell; its
 * first complaint goes into err. */
static int remote_verify(const char *url, const char *doc, size_t len,
                         const char *keyring, char **out, size_t *outlen,
                         char *err, size_t errlen)
{
	char in[2048], res[2100], msg[2100], line[256] = "";
	char *argv[] = {"gpgv",  "--quiet", "--keyring", (char *)keyring,
	                "--output", res,    in,          NULL};
	posix_spawn_file_actions_t fa;
	int status = -1, rv = 0;
	pid_t pid;
	FILE *f;

	*out = NULL;
	if (remote_temp(doc, len, in, sizeof(in)))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot write a temporary file: %s",
		                strerror(errno));
	snprintf(res, sizeof(res), "%s.out", in);
	snprintf(msg, sizeof(msg), "%s.msg", in);
	unlink(res);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, msg,
	                                 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (posix_spawnp(&pid, "gpgv", &fa, NULL, argv, NULL) != 0) {
		rv = ups_errf(UPS_ERR_IO, err, errlen,
		              "cannot run gpgv (install the gpgv package) to "
		              "check %.300s",
		              url);
	} else {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (!rv && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		f = fopen(msg, "r");
		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "BAD") || strstr(line, "public key") ||
			    strstr(line, "verify") || strstr(line, "signature"))
				break;
		if (f)
			fclose(f);
		line[strcspn(line, "\n")] = '\0';
		rv = ups_errf(UPS_ERR_FORBIDDEN, err, errlen,
		              "%.300s: signature check failed: %.200s", url,
		              line[0] ? line : "gpgv refused it");
	}
	if (!rv) {
		f = fopen(res, "rb");
		if (f) {
			*out = malloc(len + 1);
			*outlen = *out ? fread(*out, 1, len, f) : 0;
			if (*out)
				(*out)[*outlen] = '\0';
			fclose(f);
		}
		if (!*out)
			rv = ups_errf(UPS_ERR_IO, err, errlen,
			              "%.300s: gpgv gave no content", url);
	}
	unlink(in);
	unlink(res);
	unlink(msg);
	return rv;
}

/* A metadata document of base/path: verified when signed (.sjson). */
static int remote_doc(const char *base, size_t blen, const char *path,
                      size_t max, const struct remote_config *cfg, char **out,
                      size_t *len, char *err, size_t errlen)
{
	size_t plen = strlen(path);
	char url[4096], *raw;
	size_t rawlen;
	int rv;

	snprintf(url, sizeof(url), "%.*s/%s", (int)blen, base, path);
	rv = remote_get(url, max, cfg, &raw, &rawlen, err, errlen);
	if (rv || plen < 6 || strcmp(path + plen - 6, ".sjson") != 0) {
		*out = rv ? NULL : raw;
		*len = rv ? 0 : rawlen;
		return rv;
	}
	rv = remote_verify(url, raw, rawlen, cfg->keyring, out, len, err,
	                   errlen);
	free(raw);
	return rv;
}

int remote_scan(const char *base, const char *stream,
                const struct remote_config *cfg, struct ups_ss_list *out,
                ups_ss_warn_cb warn, void *warn_data, char *err,
                size_t errlen)
{
	static const char *const unsigned_indexes[] = {"streams/v1/index2.json",
	                                               "streams/v1/index.json"};
	char url[4096], path[UPS_SS_PATH_MAX + 1];
	size_t blen = strlen(base), len;
	char *doc = NULL;
	int rv = UPS_ERR_NOT_FOUND;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	/* The signed index first, unless unsigned is asked for. */
	if (!(cfg->allow_unsigned && !cfg->keyring)) {
		snprintf(url, sizeof(url), "%.*s/streams/v1/index2.sjson",
		         (int)blen, base);
		rv = remote_get(url, UPS_SS_INDEX_MAX_BYTES, cfg, &doc, &len,
		                err, errlen);
		if (!rv) {
			free(doc);
			doc = NULL;
			if (!cfg->keyring)
				return ups_errf(
				    UPS_ERR_FORBIDDEN, err, errlen,
				    "%.300s is signed: give --keyring "
				    "FILE to check it (or "
				    "--allow-unsigned to read the "
				    "unsigned index)",
				    url);
			rv = remote_doc(base, blen, "streams/v1/index2.sjson",
			                UPS_SS_INDEX_MAX_BYTES, cfg, &doc, &len,
			                err, errlen);
			if (rv)
				return rv;
		} else if (rv != UPS_ERR_NOT_FOUND) {
			return rv;
		}
	}
	if (!doc && !cfg->explicit_source && !cfg->allow_unsigned)
		return ups_errf(UPS_ERR_FORBIDDEN, err, errlen,
		                "%.300s has no signed index: read its unsigned "
		                "one only with --allow-unsigned",
		                base);
	for (size_t i = 0; !doc && i < sizeof(unsigned_indexes) /
	                                    sizeof(unsigned_indexes[0]);
	     i++) {
		rv = remote_doc(base, blen, unsigned_indexes[i],
		                UPS_SS_INDEX_MAX_BYTES, cfg, &doc, &len, err,
		                errlen);
		if (rv && rv != UPS_ERR_NOT_FOUND)
			return rv;
	}
	if (!doc)
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                "no simplestreams index under %.300s "
		                "(streams/v1/index2.sjson, index2.json, "
		                "index.json)",
		                base);
	rv = ups_ss_parse_index(doc, len, stream, path, sizeof(path), err,
	                        errlen);
	free(doc);
	if (rv)
		return rv;
	/* A signed index may name a signed products file: checked too. */
	rv = remote_doc(base, blen, path, UPS_SS_PRODUCTS_MAX_BYTES, cfg, &doc,
	                &len, err, errlen);
	if (rv)
		return rv;
	rv = ups_ss_parse_products(doc, len, stream, out, warn, warn_data,
	                           err, errlen);
	free(doc);
	return rv;
}

int remote_item_url(const char *base, const struct ups_ss_item *it, char *buf,
                    size_t len)
{
	size_t blen = strlen(base);
	int n;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	n = snprintf(buf, len, "%.*s/%s", (int)blen, base, it->path);
	return n < 0 || (size_t)n >= len ? UPS_ERR_TOO_LARGE : 0;
}

/* The reader's thread: one GET from the offset asked for to the end of
 * the file into the ring, waiting while the ring is full; a transfer cut
 * short goes on with Range from where it stopped. */
static size_t remote_ring_cb(char *data, size_t size, size_t n, void *arg)
{
	struct remote_reader *r = arg;
	size_t bytes = size * n, done = 0;

	pthread_mutex_lock(&r->mu);
	while (done < bytes) {
		size_t room, tail, k;

		while (!r->stop && r->fill == r->cap)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop)
			break;
		room = r->cap - r->fill;
		tail = (r->head + r->fill) % r->cap;
		k = bytes - done;
		if (k > room)
			k = room;
		if (k > r->cap - tail)
			k = r->cap - tail;
		memcpy(r->ring + tail, data + done, k);
		r->fill += k;
		r->received += k;
		done += k;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return done; /* short: the transfer stops (stop was asked) */
}

/* curl asks about once a second even when nothing arrives: a stop asked
 * meanwhile ends the transfer without waiting for the stall timeout. */
static int remote_progress_cb(void *arg, curl_off_t dt, curl_off_t dn,
                              curl_off_t ut, curl_off_t un)
{
	struct remote_reader *r = arg;
	bool stop;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	pthread_mutex_lock(&r->mu);
	stop = r->stop;
	pthread_mutex_unlock(&r->mu);
	return stop ? 1 : 0;
}

static void *remote_thread(void *arg)
{
	struct remote_reader *r = arg;
	CURLcode rc = CURLE_OK;
	long status = 0;
	int attempt = 0;

	for (;;) {
		uint64_t from;
		char range[32];
		bool stop;

		pthread_mutex_lock(&r->mu);
		from = r->start + r->received;
		stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (stop || from >= r->size)
			break;
		curl_easy_reset(r->curl);
		remote_setup(r->curl, r->url, &r->cfg, NULL);
		curl_easy_setopt(r->curl, CURLOPT_BUFFERSIZE,
		                 (long)REMOTE_READ_BYTES);
		curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION,
		                 remote_ring_cb);
		curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION,
		                 remote_progress_cb);
		curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, r);
		curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
		snprintf(range, sizeof(range), "%llu-",
		         (unsigned long long)from);
		curl_easy_setopt(r->curl, CURLOPT_RANGE, range);
		rc = curl_easy_perform(r->curl);
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
		pthread_mutex_lock(&r->mu);
		stop = r->stop;
		if (!stop && status != 206 && (rc == CURLE_OK || status >= 400))
			r->rv = ups_errf(status == 416 ? UPS_ERR_SIZE_MISMATCH
			                               : UPS_ERR_IO,
			                 r->err, sizeof(r->err),
			                 "%.300s: HTTP %ld to a Range request",
			                 r->url, status);
		else if (!stop && rc == CURLE_OPERATION_TIMEDOUT &&
		         r->fill > 0)
			; /* the uploader did not take what it had: no stall
			   * of the source; go on from where it stopped */
		else if (!stop && rc == CURLE_OPERATION_TIMEDOUT)
			r->rv = ups_errf(UPS_ERR_TIMEOUT, r->err,
			                 sizeof(r->err),
			                 "%.300s: stalled (nothing for %u ms)",
			                 r->url, r->cfg.timeout_ms);
		else if (!stop && r->start + r->received < r->size &&
		         ++attempt > REMOTE_RETRIES)
			r->rv = ups_errf(
			    UPS_ERR_IO, r->err, sizeof(r->err),
			    "%.300s: cut short at %llu of %llu bytes "
			    "%d times (%s)",
			    r->url,
			    (unsigned long long)(r->start + r->received),
			    (unsigned long long)r->size, REMOTE_RETRIES + 1,
			    curl_easy_strerror(rc));
		stop = stop || r->rv;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
	}
	pthread_mutex_lock(&r->mu);
	r->done = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct remote_reader *remote_reader_new(const char *url, uint64_t size,
                                        const struct remote_config *cfg)
{
	struct remote_reader *r;

	pthread_once(&remote_once, remote_global_init);
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->curl = curl_easy_init();
	r->ring = malloc(REMOTE_READAHEAD);
	if (!r->curl || !r->ring) {
		if (r->curl)
			curl_easy_cleanup(r->curl);
		free(r->ring);
		free(r);
		return NULL;
	}
	r->cap = REMOTE_READAHEAD;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	snprintf(r->url, sizeof(r->url), "%s", url);
	r->cfg = *cfg;
	r->size = size;
	return r;
}

/* Stops the thread (if any) and forgets what it read. */
static void remote_stop(struct remote_reader *r)
{
	if (!r->running)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	r->running = false;
}

void remote_reader_free(struct remote_reader *r)
{
	if (!r)
		return;
	remote_stop(r);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	curl_easy_cleanup(r->curl);
	free(r->ring);
	free(r);
}

/* A new stream from off. */
static int remote_start(struct remote_reader *r, uint64_t off)
{
	remote_stop(r);
	r->start = off;
	r->pos = off;
	r->received = 0;
	r->head = r->fill = 0;
	r->stop = r->done = false;
	r->rv = 0;
	r->err[0] = '\0';
	if (pthread_create(&r->thread, NULL, remote_thread, r))
		return UPS_ERR_NO_MEMORY;
	r->running = true;
	return 0;
}

int remote_read(struct remote_reader *r, unsigned char *buf, size_t len,
                uint64_t off, char *err, size_t errlen)
{
	size_t got = 0;
	bool failed = false;
	int rv = 0;

	if (off + len > r->size)
		return ups_errf(UPS_ERR_SIZE_MISMATCH, err, errlen,
		                "%.300s: read past its %llu bytes", r->url,
		                (unsigned long long)r->size);
	/* The stream goes on from where the last read stopped; any other
	 * offset (a resume, a rehash from 0) starts a new one there. */
	/* A stream that failed is tried afresh by the next read (the
	 * uploader's retry), not answered with its old error. */
	if (r->running) {
		pthread_mutex_lock(&r->mu);
		failed = r->rv && r->fill == 0;
		pthread_mutex_unlock(&r->mu);
	}
	if ((!r->running || off != r->pos || failed) &&
	    (rv = remote_start(r, off)))
		return ups_errf(rv, err, errlen,
		                "cannot start a reader thread");
	pthread_mutex_lock(&r->mu);
	while (got < len) {
		size_t k;

		while (r->fill == 0 && !r->rv && !r->done)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->fill == 0) {
			rv = r->rv ? r->rv : UPS_ERR_SIZE_MISMATCH;
			ups_errf(rv, err, errlen, "%s",
			         r->rv ? r->err : "the source ended early");
			break;
		}
		k = len - got;
		if (k > r->fill)
			k = r->fill;
		if (k > r->cap - r->head)
			k = r->cap - r->head;
		memcpy(buf + got, r->ring + r->head, k);
		r->head = (r->head + k) % r->cap;
		r->fill -= k;
		r->pos += k;
		got += k;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return rv;
}
