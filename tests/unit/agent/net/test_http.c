/* agent/net/http: the router in a real lws context on a loop, with test
 * routes (a text, a file, a route that answers when the test says, one
 * that refuses), asked by a blocking client on a thread of its own that
 * speaks raw HTTP/1.1 (so requests can be exactly as malformed as the
 * test wants). What is checked: GET and HEAD (no body, same length),
 * 206/416/304 and If-Range, 404/405/400/414, errors as JSON, prefix
 * routes, keep-alive, max_downloads (503), a client leaving before the
 * route answered and in the middle of a body (nothing leaks, the file is
 * closed), websocket upgrades only on "/" with version 13, and a body of
 * several megabytes through a reader slower than the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/net/http.h"
#include "proto/errors.h"
#include "proto/net/ws.h"
#include "tests/lib/loop_wait.h"
#include "tests/lib/tmpdir.h"

/* More than loopback's socket buffers hold together (tcp_wmem's 4 MiB
 * plus a client receive buffer of 16 KiB), so a client that stops reading
 * really stops the body. */
#define FILE_SIZE (16 * 1024 * 1024 + 12345)
#define RESP_MAX  (FILE_SIZE + 64 * 1024)

struct client {
	pthread_t thread;
	int port;
	char *request;     /* owned */
	size_t stop_after; /* close after this many response bytes; 0: EOF */
	unsigned read_delay_us; /* between reads: a slow reader */
	bool leave;             /* close right after sending */
	char *resp;             /* owned, RESP_MAX + 1 */
	size_t len;
	atomic_size_t seen; /* len, for the loop thread to watch */
	atomic_bool done;
	uv_async_t *wake;
};

/* libuv's workers, held busy until opened (pool_open). */
struct pool_block {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int running;
	uv_work_t work[4]; /* libuv's default pool size */
};

struct fx {
	uv_loop_t loop;
	struct loop_wait lw;
	uv_async_t wake;
	struct ups_ws ws;
	struct http http;
	struct lws_protocols protocols[2];
	char dir[TMPDIR_PATH_MAX];
	char path[TMPDIR_PATH_MAX + 16];
	uint8_t *data;
	char sha[UPS_SHA256_HEX_LEN + 1];
	struct http_request *held; /* the /held route's request */
	int held_calls;
	bool upgraded;
	struct pool_block block;
};

static struct fx *the_fx;

static void pool_open(struct pool_block *b);

/* ------------------------------------------------------------------------- */
/* Routes. */

static int route_file(void *data, const char *path, struct http_request *req)
{
	struct fx *f = data;
	struct http_entity ent;

	(void)path;
	memset(&ent, 0, sizeof(ent));
	ent.content_type = "application/x-tar-gz";
	ent.size = FILE_SIZE;
	memcpy(ent.etag, f->sha, sizeof(ent.etag));
	ent.fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(ent.fd >= 0);
	http_reply(req, 0, &ent);
	return 0;
}

static int route_held(void *data, const char *path, struct http_request *req)
{
	struct fx *f = data;

	(void)path;
	f->held = req;
	f->held_calls++;
	return 0;
}

static int route_gone(void *data, const char *path, struct http_request *req)
{
	(void)data, (void)path, (void)req;
	return UPS_ERR_NOT_FOUND;
}

static int route_prefix(void *data, const char *path, struct http_request *req)
{
	static char text[128];
	struct http_entity ent;

	(void)data;
	memset(&ent, 0, sizeof(ent));
	snprintf(text, sizeof(text), "prefix got %s\n", path);
	ent.content_type = "text/plain";
	ent.fd = -1;
	ent.text = text;
	http_reply(req, 0, &ent);
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
	struct fx *f = the_fx;

	if (http_handles(reason))
		return http_callback(&f->http, wsi, reason, user, in, len);
	if (reason == LWS_CALLBACK_ESTABLISHED)
		f->upgraded = true;
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void on_wake(uv_async_t *a)
{
	(void)a;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ups_ws_config cfg;
	char err[UPS_ERRMSG_MAX];
	unsigned char md[32];
	unsigned int n;
	const struct http_route routes[] = {
	    {"/healthz", http_healthz, NULL}, {"/file", route_file, f},
	    {"/held", route_held, f},         {"/gone", route_gone, f},
	    {"/dir/", route_prefix, f},
	};
	FILE *fp;

	assert_non_null(f);
	the_fx = f;
	pthread_mutex_init(&f->block.mu, NULL);
	pthread_cond_init(&f->block.cv, NULL);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-http"), 0);
	snprintf(f->path, sizeof(f->path), "%s/file", f->dir);
	f->data = malloc(FILE_SIZE);
	for (size_t i = 0; i < FILE_SIZE; i++)
		f->data[i] = (uint8_t)(i * 131 + (i >> 13));
	fp = fopen(f->path, "wb");
	assert_int_equal(fwrite(f->data, 1, FILE_SIZE, fp), FILE_SIZE);
	fclose(fp);
	EVP_Digest(f->data, FILE_SIZE, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(f->sha + 2 * i, "%02x", md[i]);

	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(loop_wait_init(&f->lw, &f->loop, 20000), 0);
	assert_int_equal(uv_async_init(&f->loop, &f->wake, on_wake), 0);
	http_init(&f->http, &f->loop, 2);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		assert_int_equal(http_route_add(&f->http, &routes[i]), 0);
	f->protocols[0].name = UPS_WS_SUBPROTOCOL;
	f->protocols[0].callback = callback;
	f->protocols[0].per_session_data_size = sizeof(struct http_request *);
	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = &f->loop;
	cfg.protocols = f->protocols;
	cfg.listen_host = "127.0.0.1";
	cfg.listen_port = 0;
	cfg.http_header_bytes = UPS_LIMIT_HTTP_HEADER_BYTES;
	if (ups_ws_create(&f->ws, &cfg, err, sizeof(err)))
		fail_msg("ups_ws_create: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pool_open(&f->block);
	http_stop(&f->http);
	ups_ws_begin_destroy(&f->ws);
	uv_close((uv_handle_t *)&f->wake, NULL);
	loop_wait_close(&f->lw);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ups_ws_finish_destroy(&f->ws);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* Nothing of any request outlived its connection. */
	assert_null(f->http.requests);
	assert_int_equal(f->http.active, 0);
	assert_int_equal(f->http.buffered, 0);
	http_free(&f->http);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f->data);
	pthread_cond_destroy(&f->block.cv);
	pthread_mutex_destroy(&f->block.mu);
	free(f);
	return 0;
}

/* ------------------------------------------------------------------------- */
/* The client thread. */

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in sa;
	struct timeval tv = {15, 0};
	size_t off = 0, want = strlen(c->request);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (c->stop_after) {
		int small = 16 * 1024;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)c->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		while (off < want) {
			ssize_t n = send(fd, c->request + off, want - off,
			                 MSG_NOSIGNAL);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
		for (; !c->leave;) {
			size_t room = RESP_MAX - c->len;
			ssize_t n;

			if (c->stop_after && c->len >= c->stop_after)
				break;
			if (c->stop_after && room > c->stop_after - c->len)
				room = c->stop_after - c->len;
			if (c->read_delay_us) {
				usleep(c->read_delay_us);
				if (room > 4096)
					room = 4096;
			}
			n = recv(fd, c->resp + c->len, room, 0);
			if (n <= 0)
				break;
			c->len += (size_t)n;
			atomic_store(&c->seen, c->len);
			uv_async_send(c->wake);
		}
	}
	c->resp[c->len] = '\0';
	close(fd);
	atomic_store(&c->done, true);
	uv_async_send(c->wake);
	return NULL;
}

/* A client for request; set its options, then client_run(). */
static struct client *client_new(struct fx *f, const char *request)
{
	struct client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->port = f->ws.port;
	c->request = strdup(request);
	c->resp = malloc(RESP_MAX + 1);
	c->wake = &f->wake;
	return c;
}

static struct client *client_run(struct client *c)
{
	assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
	return c;
}

static struct client *client_start(struct fx *f, const char *request)
{
	return client_run(client_new(f, request));
}

static void client_wait(struct fx *f, struct client *c)
{
	LOOP_WAIT(&f->lw, atomic_load(&c->done));
	pthread_join(c->thread, NULL);
}

static void client_free(struct client *c)
{
	free(c->request);
	free(c->resp);
	free(c);
}

/* One request; the whole response (the connection is closed after it). */
static struct client *ask(struct fx *f, const char *request)
{
	struct client *c = client_start(f, request);

	client_wait(f, c);
	return c;
}

#define GET(path, extra)                                                       \
	"GET " path " HTTP/1.1\r\nHost: t\r\n" extra "Connection: "            \
	"close\r\n\r\n"
#define HEAD(path, extra)                                                      \
	"HEAD " path " HTTP/1.1\r\nHost: t\r\n" extra                          \
	"Connection: close\r\n\r\n"

static int status_of(const struct client *c)
{
	int status = 0;

	if (sscanf(c->resp, "HTTP/1.%*d %d", &status) != 1)
		return 0;
	return status;
}

/* One request whose answer's status is all that matters. */
static void expect_status(struct fx *f, const char *request, int status)
{
	struct client *c = ask(f, request);

	if (status_of(c) != status)
		fail_msg("%.60s: %d, expected %d", request, status_of(c),
		         status);
	client_free(c);
}

/* The value of header name in the first response of c ("" when absent;
 * static buffer). */
static const char *header(const struct client *c, const char *name)
{
	static char value[256];
	const char *end = strstr(c->resp, "\r\n\r\n");
	const char *p = c->resp;
	size_t n = strlen(name);

	value[0] = '\0';
	while (p && p < end) {
		p = strstr(p, "\r\n");
		if (!p || p >= end)
			break;
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *e = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			snprintf(value, sizeof(value), "%.*s", (int)(e - v), v);
			return value;
		}
	}
	return value;
}

static const char *body_of(const struct client *c, size_t *len)
{
	const char *end = strstr(c->resp, "\r\n\r\n");

	assert_non_null(end);
	*len = c->len - (size_t)(end + 4 - c->resp);
	return end + 4;
}

static void assert_json_error(const struct client *c, const char *code)
{
	size_t len;
	const char *body = body_of(c, &len);
	char want[64];

	assert_string_equal(header(c, "content-type"), "application/json");
	assert_int_equal(strtoul(header(c, "content-length"), NULL, 10), len);
	snprintf(want, sizeof(want), "\"error-code\": \"%s\"", code);
	if (!strstr(body, want))
		fail_msg("%s not in %s", want, body);
}

/* ------------------------------------------------------------------------- */

static void test_healthz_get_head(void **state)
{
	struct fx *f = *state;
	struct client *c;
	size_t len;

	c = ask(f, GET("/healthz", ""));
	assert_int_equal(status_of(c), 200);
	assert_string_equal(header(c, "content-length"), "3");
	assert_string_equal(body_of(c, &len), "ok\n");
	client_free(c);
	c = ask(f, HEAD("/healthz", ""));
	assert_int_equal(status_of(c), 200);
	assert_string_equal(header(c, "content-length"), "3");
	body_of(c, &len);
	assert_int_equal(len, 0);
	client_free(c);
}

static void test_file_whole_and_head(void **state)
{
	struct fx *f = *state;
	struct client *c;
	char etag[80];
	size_t len;
	const char *body;

	snprintf(etag, sizeof(etag), "\"%s\"", f->sha);
	c = ask(f, GET("/file", ""));
	assert_int_equal(status_of(c), 200);
	assert_string_equal(header(c, "etag"), etag);
	assert_string_equal(header(c, "accept-ranges"), "bytes");
	assert_string_equal(header(c, "content-type"), "application/x-tar-gz");
	assert_int_equal(strtoul(header(c, "content-length"), NULL, 10),
	                 FILE_SIZE);
	body = body_of(c, &len);
	assert_int_equal(len, FILE_SIZE);
	assert_memory_equal(body, f->data, FILE_SIZE);
	client_free(c);
	c = ask(f, HEAD("/file", ""));
	assert_int_equal(status_of(c), 200);
	assert_int_equal(strtoul(header(c, "content-length"), NULL, 10),
	                 FILE_SIZE);
	assert_string_equal(header(c, "etag"), etag);
	body_of(c, &len);
	assert_int_equal(len, 0);
	client_free(c);
}

static void test_ranges(void **state)
{
	struct fx *f = *state;
	struct client *c;
	char req[512], want[80];
	size_t len;
	const char *body;

	c = ask(f, GET("/file", "Range: bytes=100-199\r\n"));
	assert_int_equal(status_of(c), 206);
	snprintf(want, sizeof(want), "bytes 100-199/%d", FILE_SIZE);
	assert_string_equal(header(c, "content-range"), want);
	assert_string_equal(header(c, "content-length"), "100");
	body = body_of(c, &len);
	assert_int_equal(len, 100);
	assert_memory_equal(body, f->data + 100, 100);
	client_free(c);

	/* The tail, across both buffers and partial writes. */
	c = ask(f, GET("/file", "Range: bytes=-2000000\r\n"));
	assert_int_equal(status_of(c), 206);
	body = body_of(c, &len);
	assert_int_equal(len, 2000000);
	assert_memory_equal(body, f->data + FILE_SIZE - 2000000, 2000000);
	client_free(c);

	/* HEAD of a range: its length, no body. */
	c = ask(f, HEAD("/file", "Range: bytes=10-\r\n"));
	assert_int_equal(status_of(c), 206);
	assert_int_equal(strtoul(header(c, "content-length"), NULL, 10),
	                 FILE_SIZE - 10);
	body_of(c, &len);
	assert_int_equal(len, 0);
	client_free(c);

	c = ask(f, GET("/file", "Range: bytes=99999999-\r\n"));
	assert_int_equal(status_of(c), 416);
	snprintf(want, sizeof(want), "bytes */%d", FILE_SIZE);
	assert_string_equal(header(c, "content-range"), want);
	assert_json_error(c, "bad-request");
	client_free(c);

	/* Several ranges, or a malformed one: the whole file. */
	c = ask(f, GET("/file", "Range: bytes=0-1,5-6\r\n"));
	assert_int_equal(status_of(c), 200);
	body_of(c, &len);
	assert_int_equal(len, FILE_SIZE);
	client_free(c);

	/* If-Range: the same tag gives the range, another the file. */
	snprintf(req, sizeof(req),
	         GET("/file", "Range: bytes=0-9\r\nIf-Range: \"%s\"\r\n"),
	         f->sha);
	expect_status(f, req, 206);
	c = ask(f, GET("/file", "Range: bytes=0-9\r\nIf-Range: \"other\"\r\n"));
	assert_int_equal(status_of(c), 200);
	body_of(c, &len);
	assert_int_equal(len, FILE_SIZE);
	client_free(c);
}

static void test_conditional(void **state)
{
	struct fx *f = *state;
	struct client *c;
	char req[512];
	size_t len;

	snprintf(req, sizeof(req), GET("/file", "If-None-Match: \"%s\"\r\n"),
	         f->sha);
	c = ask(f, req);
	assert_int_equal(status_of(c), 304);
	assert_int_equal(strtoul(header(c, "content-length"), NULL, 10),
	                 FILE_SIZE);
	body_of(c, &len);
	assert_int_equal(len, 0);
	client_free(c);
	expect_status(f, GET("/file", "If-None-Match: \"x\", W/\"y\"\r\n"),
	              200);
	/* 304 wins over Range. */
	snprintf(req, sizeof(req),
	         GET("/file", "If-None-Match: *\r\nRange: bytes=0-1\r\n"));
	expect_status(f, req, 304);
}

static void test_errors(void **state)
{
	struct fx *f = *state;
	struct client *c;
	char long_path[UPS_LIMIT_HTTP_PATH_LEN + 64], req[8000];
	size_t len;

	c = ask(f, GET("/nothing", ""));
	assert_int_equal(status_of(c), 404);
	assert_json_error(c, "not-found");
	client_free(c);
	expect_status(f, GET("/gone", ""), 404);
	/* HEAD of an error: its length, no body. */
	c = ask(f, HEAD("/nothing", ""));
	assert_int_equal(status_of(c), 404);
	assert_true(strtoul(header(c, "content-length"), NULL, 10) > 0);
	body_of(c, &len);
	assert_int_equal(len, 0);
	client_free(c);

	static const char *const methods[] = {"POST", "PUT", "DELETE",
	                                      "OPTIONS", "PATCH"};
	for (size_t i = 0; i < 5; i++) {
		snprintf(req, sizeof(req),
		         "%s /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: "
		         "3\r\nConnection: close\r\n\r\nabc",
		         methods[i]);
		c = ask(f, req);
		if (status_of(c) != 405)
			fail_msg("%s: %d", methods[i], status_of(c));
		assert_string_equal(header(c, "allow"), "GET, HEAD");
		assert_json_error(c, "not-implemented");
		client_free(c);
	}

	c = ask(f, GET("/file\\..\\x", ""));
	assert_int_equal(status_of(c), 400);
	assert_json_error(c, "bad-request");
	client_free(c);
	expect_status(f, GET("/dir/%2525/x", ""), 400);
	/* A decoded NUL: 400, or (depending on what follows it) lws drops
	 * the connection first. Either way nothing is served. */
	expect_status(f, GET("/dir/%00/x", ""), 400);
	c = ask(f, GET("/dir/a%00b", ""));
	assert_true(status_of(c) == 400 || c->len == 0);
	client_free(c);

	/* 414 above the named limit, exactly. */
	memset(long_path, 'a', sizeof(long_path));
	memcpy(long_path, "/dir/", 5);
	long_path[UPS_LIMIT_HTTP_PATH_LEN] = '\0';
	snprintf(req, sizeof(req), GET("%s", ""), long_path);
	expect_status(f, req, 200);
	long_path[UPS_LIMIT_HTTP_PATH_LEN] = 'a';
	long_path[UPS_LIMIT_HTTP_PATH_LEN + 1] = '\0';
	snprintf(req, sizeof(req), GET("%s", ""), long_path);
	c = ask(f, req);
	assert_int_equal(status_of(c), 414);
	assert_json_error(c, "too-large");
	client_free(c);
}

/* A request line beyond lws's header buffer: lws drops the connection;
 * the router is never involved and keeps serving. */
static void test_header_overflow(void **state)
{
	struct fx *f = *state;
	char *req = malloc(UPS_LIMIT_HTTP_HEADER_BYTES + 256);
	char *path = malloc(UPS_LIMIT_HTTP_HEADER_BYTES + 8);
	struct client *c;

	memset(path, 'b', UPS_LIMIT_HTTP_HEADER_BYTES + 1);
	path[0] = '/';
	path[UPS_LIMIT_HTTP_HEADER_BYTES + 1] = '\0';
	sprintf(req, GET("%s", ""), path);
	c = ask(f, req);
	assert_int_equal(c->len, 0);
	client_free(c);
	free(req);
	free(path);
	expect_status(f, GET("/healthz", ""), 200);
}

static void test_prefix_and_keepalive(void **state)
{
	struct fx *f = *state;
	struct client *c;

	/* Two requests on one connection: both answered in order. */
	c = ask(f, "GET /dir/a/b HTTP/1.1\r\nHost: t\r\n\r\n"
	           "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: "
	           "close\r\n\r\n");
	assert_int_equal(status_of(c), 200);
	assert_non_null(strstr(c->resp, "prefix got /dir/a/b\n"));
	assert_non_null(strstr(c->resp, "\r\n\r\nok\n"));
	client_free(c);
	/* The prefix itself is not under it... */
	expect_status(f, GET("/dir", ""), 404);
	/* ...and lws has already resolved dot segments. */
	c = ask(f, GET("/x/../dir/y", ""));
	assert_int_equal(status_of(c), 200);
	assert_non_null(strstr(c->resp, "prefix got /dir/y\n"));
	client_free(c);
}

/* The count of open file descriptors of this process. */
static int open_fds(void);

/* A client that went before its route answered: the answer, when it
 * comes, closes the file and frees the request. Then max_downloads (2
 * here): a third request while two are held is 503; once one is
 * answered, requests are served again. */
static void test_gone_before_answer_and_busy(void **state)
{
	struct fx *f = *state;
	struct client *a, *b, *c;
	struct http_request *held_a;
	int fds = open_fds();
	size_t len;

	a = client_new(f, GET("/held", ""));
	a->leave = true;
	client_run(a);
	LOOP_WAIT(&f->lw, f->held_calls == 1);
	client_wait(f, a);
	client_free(a);
	LOOP_WAIT(&f->lw, f->http.active == 0);
	assert_non_null(f->http.requests); /* the route still has it */
	route_file(f, "/held", f->held);
	LOOP_WAIT(&f->lw, f->http.requests == NULL);
	assert_int_equal(open_fds(), fds);

	a = client_start(f, GET("/held", ""));
	LOOP_WAIT(&f->lw, f->held_calls == 2);
	held_a = f->held;
	b = client_start(f, GET("/held", ""));
	LOOP_WAIT(&f->lw, f->held_calls == 3);
	assert_int_equal(f->http.active, 2);
	c = ask(f, GET("/healthz", ""));
	assert_int_equal(status_of(c), 503);
	assert_string_equal(header(c, "retry-after"), "1");
	assert_json_error(c, "busy");
	client_free(c);
	assert_int_equal(f->http.refused_busy, 1);
	/* b's answer: a refusal; then a's: the file. */
	http_reply(f->held, UPS_ERR_NOT_FOUND, NULL);
	client_wait(f, b);
	assert_int_equal(status_of(b), 404);
	client_free(b);
	expect_status(f, GET("/healthz", ""), 200);
	route_file(f, "/held", held_a);
	client_wait(f, a);
	assert_int_equal(status_of(a), 200);
	body_of(a, &len);
	assert_int_equal(len, FILE_SIZE);
	client_free(a);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* A client that stops reading and leaves in the middle of a body: the
 * request goes, its file is closed, its buffers are given back. */
static void test_client_leaves_mid_body(void **state)
{
	struct fx *f = *state;
	struct client *c;
	int before = open_fds();

	c = client_start(f, GET("/file", ""));
	c->stop_after = 300000;
	client_wait(f, c);
	assert_int_equal(status_of(c), 200);
	client_free(c);
	LOOP_WAIT(&f->lw, f->http.requests == NULL);
	assert_int_equal(f->http.buffered, 0);
	assert_int_equal(open_fds(), before);
	assert_true(f->http.dropped >= 1);
	/* Served again afterwards. */
	expect_status(f, GET("/healthz", ""), 200);
}

/* A slow reader gets every byte, in order; the buffers stay within two
 * chunks meanwhile. The buffered way (TLS's) is forced: plain HTTP would
 * go by sendfile(), which buffers nothing. */
static void test_slow_reader(void **state)
{
	struct fx *f = *state;
	struct client *c;
	size_t len;
	const char *body;
	size_t peak = 0;

	f->http.no_sendfile = true;
	c = client_start(f, GET("/file", "Range: bytes=0-599999\r\n"));
	c->read_delay_us = 200;
	LOOP_WAIT(&f->lw, atomic_load(&c->done) ||
	                      (peak = f->http.buffered > peak
	                                  ? f->http.buffered
	                                  : peak,
	                       assert_true(f->http.buffered <=
	                                   2 * HTTP_CHUNK_MAX),
	                       false));
	pthread_join(c->thread, NULL);
	assert_int_equal(status_of(c), 206);
	body = body_of(c, &len);
	assert_int_equal(len, 600000);
	assert_memory_equal(body, f->data, 600000);
	assert_true(peak > 0); /* it did go the buffered way */
	assert_int_equal(f->http.sendfile_bytes, 0);
	client_free(c);
}

/* Plain HTTP sends by sendfile() on the loop thread, but only bytes a
 * worker has brought into the page cache first (so the loop never waits
 * on the disk), and the warm-up runs a bounded way ahead of the reader.
 * The file is dropped from the page cache first, so the
 * warm-ups really read it. */
static void pool_block_work(uv_work_t *w)
{
	struct pool_block *b = w->data;

	pthread_mutex_lock(&b->mu);
	b->running++;
	pthread_cond_broadcast(&b->cv);
	while (!b->open)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

static void pool_block_done(uv_work_t *w, int status)
{
	(void)w, (void)status;
}

/* Lets the held workers go (also at teardown, after a failed test). */
static void pool_open(struct pool_block *b)
{
	pthread_mutex_lock(&b->mu);
	b->open = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static void test_sendfile_after_warm_up(void **state)
{
	struct fx *f = *state;
	struct pool_block *b = &f->block;
	struct client *c;
	size_t len, before;
	const char *body;
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	/* Every worker busy: the headers go, but no body byte until a
	 * warm-up could run. */
	for (int i = 0; i < 4; i++) {
		b->work[i].data = b;
		assert_int_equal(uv_queue_work(&f->loop, &b->work[i],
		                               pool_block_work,
		                               pool_block_done),
		                 0);
	}
	pthread_mutex_lock(&b->mu);
	while (b->running < 4)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
	c = client_start(f, GET("/file", ""));
	LOOP_WAIT(&f->lw, atomic_load(&c->seen) > 0);
	for (int i = 0; i < 50; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->http.sendfile_bytes, 0);
	before = atomic_load(&c->seen);
	pool_open(b);
	LOOP_WAIT(&f->lw,
	          atomic_load(&c->done) ||
	              (assert_true(f->http.sendfile_bytes <=
	                           f->http.warmed_bytes),
	               assert_true(f->http.warmed_bytes -
	                               f->http.sendfile_bytes <=
	                           HTTP_WARM_AHEAD + HTTP_WARM_WINDOW),
	               false));
	pthread_join(c->thread, NULL);
	assert_int_equal(status_of(c), 200);
	body = body_of(c, &len);
	assert_int_equal(len, FILE_SIZE);
	assert_memory_equal(body, f->data, FILE_SIZE);
	assert_int_equal(f->http.sendfile_bytes, FILE_SIZE);
	assert_int_equal(f->http.warmed_bytes, FILE_SIZE);
	assert_int_equal(f->http.buffered, 0);
	assert_true(before <= (size_t)(body - c->resp)); /* headers only */
	client_free(c);
}

/* With one warm-up at a time for all downloads, two at once take turns:
 * the second waits its turn, both get every byte, and no more than one
 * warm-up ever runs. */
static void test_warm_ups_take_turns(void **state)
{
	struct fx *f = *state;
	struct client *c[2];
	unsigned most = 0;

	f->http.warm_jobs_max = 1;
	for (int i = 0; i < 2; i++)
		c[i] = client_start(f, GET("/file", ""));
	LOOP_WAIT(&f->lw, (atomic_load(&c[0]->done) &&
	                   atomic_load(&c[1]->done)) ||
	                      (most = f->http.warming > most
	                                  ? f->http.warming
	                                  : most,
	                       false));
	for (int i = 0; i < 2; i++) {
		size_t len;
		const char *body;

		pthread_join(c[i]->thread, NULL);
		assert_int_equal(status_of(c[i]), 200);
		body = body_of(c[i], &len);
		assert_int_equal(len, FILE_SIZE);
		assert_memory_equal(body, f->data, FILE_SIZE);
		client_free(c[i]);
	}
	assert_int_equal(most, 1);
	assert_int_equal(f->http.warming, 0);
	assert_null(f->http.warm_head);
	assert_int_equal(f->http.warmed_bytes, 2 * (uint64_t)FILE_SIZE);
}

static void test_websocket_upgrade(void **state)
{
	struct fx *f = *state;
	struct client *c;

#define UPGRADE(path, version)                                                 \
	"GET " path " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"           \
	"Connection: Upgrade\r\nSec-WebSocket-Key: "                           \
	"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: " version          \
	"\r\n\r\n"
	c = ask(f, UPGRADE("/x", "13"));
	assert_int_equal(status_of(c), 404);
	assert_json_error(c, "not-found");
	client_free(c);
	c = ask(f, UPGRADE("/", "8"));
	assert_int_equal(status_of(c), 426);
	assert_string_equal(header(c, "sec-websocket-version"), "13");
	client_free(c);
	assert_false(f->upgraded);
	c = client_start(f, UPGRADE("/", "13"));
	c->stop_after = 12; /* "HTTP/1.1 101" */
	client_wait(f, c);
	assert_int_equal(status_of(c), 101);
	client_free(c);
	LOOP_WAIT(&f->lw, f->upgraded);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_healthz_get_head),
	    T(test_file_whole_and_head),
	    T(test_ranges),
	    T(test_conditional),
	    T(test_errors),
	    T(test_header_overflow),
	    T(test_prefix_and_keepalive),
	    T(test_gone_before_answer_and_busy),
	    T(test_client_leaves_mid_body),
	    T(test_slow_reader),
	    T(test_sendfile_after_warm_up),
	    T(test_warm_ups_take_turns),
	    T(test_websocket_upgrade),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
