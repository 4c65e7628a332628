/* HTTP on upstaged's port: the same lws context and vhost as the
 * websocket sessions (agent/net/server.h). A router of GET and HEAD
 * requests to routes the composition root registers (agent/agent.c:
 * /healthz, the published store of agent/net/downloads.h), and the one
 * place HTTP responses are made: status, headers, single ranges,
 * conditional requests, errors, and bodies streamed from files without
 * blocking the loop.
 *
 * What lws 4.1 does before we see a request (measured, and relied on):
 *   - it decodes %XX in the path and removes dot segments ("/a/../b" is
 *     "/b", "/a/%2e%2e/b" too); a %00 ends the C string but not the
 *     length it hands over, so paths are checked by length;
 *   - a request line and headers larger than its header buffer
 *     (UPS_LIMIT_HTTP_HEADER_BYTES, set in ups_ws_create) make it drop
 *     the connection without an answer; below that, a path longer than
 *     UPS_LIMIT_HTTP_PATH_LEN is ours to answer 414;
 *   - methods it does not know (TRACE, FOO) it answers 403 itself; the
 *     others (POST, PUT, PATCH, DELETE, OPTIONS, CONNECT) reach us and
 *     are answered 405 with Allow: GET, HEAD (a body is read and
 *     dropped by lws);
 *   - HEAD is not special to it: the router sends HEAD's headers (with
 *     the Content-Length a GET would have) and never a body;
 *   - a websocket upgrade reaches LWS_CALLBACK_HTTP_CONFIRM_UPGRADE with
 *     its headers, where the router refuses any path but "/" (404) and
 *     any Sec-WebSocket-Version but 13 (426 naming 13), before lws
 *     answers 101.
 *
 * A request's path is checked (proto/http.h: 400 or 414) and then
 * matched against the routes; a route resolves it from what it has in
 * memory (never by building a file name from it) and answers, now or
 * later, with an entity: a static text or an open file. Files are read
 * with uv_fs_read into two buffers per download (HTTP_CHUNK_MIN to
 * HTTP_CHUNK_MAX bytes each, within HTTP_BUFFER_BUDGET), one being sent
 * while the other is read; lws's WRITEABLE drives sending, one lws_write
 * of at most HTTP_WRITE_MAX bytes each, so a download holds at most two
 * chunks plus what lws keeps of one partial write, however slow its
 * reader. A reader that takes nothing for HTTP_STALL_TIMEOUT_S is
 * dropped. At most max_downloads requests are resolved or streamed at
 * once; more are answered 503 with Retry-After.
 *
 * Responses: Content-Length always (HEAD and 304 carry the length a GET
 * would have); ETag "<sha256>" and Accept-Ranges: bytes for files; a
 * single Range gives 206 with Content-Range, an unsatisfiable one 416
 * (Content-Range: bytes * /size); If-None-Match gives 304; If-Range with
 * another tag sends the whole file. Errors carry
 * {"error": TEXT, "error-code": CODE} as application/json.
 *
 * Threads: everything here runs on the loop thread. Ownership: routes
 * and their data are borrowed for the router's life. */
#ifndef UPSTAGE_AGENT_NET_HTTP_H
#define UPSTAGE_AGENT_NET_HTTP_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/binary.h"

#define HTTP_MAX_ROUTES 8
/* Bytes of one read of a body: as large as HTTP_BUFFER_BUDGET leaves room
 * for (fewer hand-offs to the thread pool), at least HTTP_CHUNK_MIN. */
#define HTTP_CHUNK_MIN (64 * 1024)
#define HTTP_CHUNK_MAX (512 * 1024)
/* Read buffers of all downloads together, above which new downloads get
 * HTTP_CHUNK_MIN buffers: a few downloads run with big reads, many with
 * small ones, and memory stays near budget + downloads x 2 x min. */
#define HTTP_BUFFER_BUDGET (8 * 1024 * 1024)
/* The most one lws_write sends (lws copies what the socket does not take
 * at once; this bounds that copy). */
#define HTTP_WRITE_MAX (64 * 1024)
/* The most one sendfile() sends (plain HTTP), so one download does not
 * hold the loop for long. */
#define HTTP_SENDFILE_MAX (1024 * 1024)
/* sendfile() on the loop thread must not wait for the disk: a worker
 * first brings the file into the page cache a window at a time, and
 * sendfile() sends only what was brought in, at most HTTP_WARM_AHEAD
 * ahead of what was sent. */
#define HTTP_WARM_WINDOW (4 * 1024 * 1024)
#define HTTP_WARM_AHEAD  (2 * HTTP_WARM_WINDOW)
/* Warm-ups running at once, all downloads together; the others wait
 * their turn in order. libuv's four workers also write the journals,
 * publish and close files: downloads from a cold disk must not hold
 * them all. */
#define HTTP_WARM_JOBS_MAX 2
/* A download whose reader takes nothing for this long is dropped. */
#define HTTP_STALL_TIMEOUT_S 60

/* Statuses 100..599 for the counters. */
#define HTTP_STATUS_SPAN 500

/* One request a route answers (opaque). */
struct http_request;

/* What a route serves for a GET or HEAD. */
struct http_entity {
	const char *content_type; /* static */
	uint64_t size;
	char etag[UPS_SHA256_HEX_LEN + 1]; /* sent quoted; "" for none */
	/* The body: the file fd's bytes [0, size) (taken by http_reply(),
	 * which closes it), or the static text (fd -1). */
	int fd;
	const char *text;
	/* 0: 200 (or 206, 304, 416 as the request asks); else this status,
	 * whole body, no range or tag handling (a page refusing a login). */
	unsigned status;
};

struct http_route {
	/* The path it serves, or every path under it when it ends in '/'. */
	const char *path;
	/* Loop: answers a GET or HEAD of path (borrowed; checked by
	 * ups_http_path_check). Returns 0 when it calls http_reply(req)
	 * exactly once, now or later (req stays valid until then, even if
	 * the client goes away), or a code answered at once:
	 * UPS_ERR_NOT_FOUND 404, UPS_ERR_BAD_REQUEST 400, UPS_ERR_BUSY 503,
	 * anything else 500. */
	int (*open)(void *data, const char *path, struct http_request *req);
	void *data;
};

struct http {
	uv_loop_t *loop; /* borrowed */
	struct http_route routes[HTTP_MAX_ROUTES];
	size_t nroutes;
	unsigned max_downloads;
	unsigned active;               /* requests resolving or streaming */
	size_t buffered;               /* bytes of read buffers allocated */
	struct http_request *requests; /* owned list */
	bool stopping;
	bool no_sendfile; /* tests: plain HTTP goes the buffered way too */
	/* Warm-ups: running, at most warm_jobs_max (HTTP_WARM_JOBS_MAX;
	 * tests lower it), and those waiting, oldest first. */
	unsigned warming, warm_jobs_max;
	struct http_request *warm_head, *warm_tail;
	/* Counters, for tests, logs and /metrics. */
	uint64_t served, refused_busy, dropped;
	/* Body bytes sent by sendfile(), and brought into the page cache
	 * before it by workers (sent never passes warmed). */
	uint64_t sendfile_bytes, warmed_bytes;
	/* Responses ended (sent whole, or dropped midway) by status, and
	 * the body bytes they sent; index status - 100. */
	uint64_t by_status[HTTP_STATUS_SPAN];
	uint64_t bytes_by_status[HTTP_STATUS_SPAN];
};

/* Prepares h; max_downloads >= 1. */
void http_init(struct http *h, uv_loop_t *loop, unsigned max_downloads);

/* Registers r (copied; r->data borrowed). Routes are tried in the order
 * added. 0, or UPS_ERR_TOO_LARGE past HTTP_MAX_ROUTES. */
int http_route_add(struct http *h, const struct http_route *r);

/* Loop: the value of request header tok (an lws_token_indexes, e.g.
 * WSI_TOKEN_HTTP_COOKIE) into buf (NUL-terminated): its length, or -1
 * when absent, longer than len - 1, or the client went. */
int http_request_header(const struct http_request *req, int tok, char *buf,
                        size_t len);

/* Loop: the numeric address the request came from into buf ("" when the
 * client went). */
void http_request_peer(const struct http_request *req, char *buf, size_t len);

/* Loop: answers req with len bytes of data (copied; any size) as an
 * entity of content_type (static) and status (0: 200), through an
 * unnamed file (memfd) so the router streams it like any file. 0, or
 * UPS_ERR_IO with no answer given (the route returns it). */
int http_reply_bytes(struct http_request *req, const char *content_type,
                     unsigned status, const void *data, size_t len);

/* Loop: the answer of a route: rv 0 and ent (copied; ent->fd taken), or
 * a code as route's open() returns them (ent may be NULL then). */
void http_reply(struct http_request *req, int rv,
                const struct http_entity *ent);

/* The lws callback reasons of HTTP on the server vhost (LWS_CALLBACK_HTTP,
 * HTTP_WRITEABLE, HTTP_BODY, HTTP_BODY_COMPLETION, CLOSED_HTTP,
 * HTTP_DROP_PROTOCOL, HTTP_CONFIRM_UPGRADE). slot is the router's part of
 * the connection's per-session data (NULL between transactions). Returns
 * what the lws callback must return. */
int http_callback(struct http *h, struct lws *wsi,
                  enum lws_callback_reasons reason, struct http_request **slot,
                  void *in, size_t len);

/* Whether http_callback() wants reason. */
bool http_handles(enum lws_callback_reasons reason);

/* Shutdown: new requests are refused (503); lws closes the connections
 * and what is in flight finishes as the loop drains. */
void http_stop(struct http *h);

/* After the loop drained: frees what is left. */
void http_free(struct http *h);

/* The /healthz route's open(): "ok\n" as text/plain. data unused. */
int http_healthz(void *data, const char *path, struct http_request *req);

#endif
