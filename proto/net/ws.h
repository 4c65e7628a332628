/* One libwebsockets context on a caller's libuv loop (lws "foreign loop"),
 * with an optional listening server vhost and an optional client vhost.
 *
 * Lifecycle (libwebsockets 4.1 needs two destroys on a foreign loop):
 *   ups_ws_create()            -> context running on cfg->loop
 *   ... uv_run(loop) ...
 *   ups_ws_begin_destroy()     from the stop path (e.g. a signal handler);
 *                              sessions get closed, uv_run() then returns
 *                              once the program's own handles are closed
 *   ups_ws_finish_destroy()    after uv_run() returned; runs the loop once
 *                              more so lws closes its last handles. After
 *                              it, uv_loop_close() returns 0. */
#ifndef UPSTAGE_NET_WS_H
#define UPSTAGE_NET_WS_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <uv.h>

#define UPS_WS_SUBPROTOCOL "upstage.v1"

struct ups_url; /* proto/net/url.h */

struct ups_ws_config {
	uv_loop_t *loop; /* borrowed; must outlive the context */
	/* NULL-terminated array, borrowed for the context's life. For the
	 * server vhost protocols[0] also receives plain HTTP requests. */
	const struct lws_protocols *protocols;
	void *user; /* lws_context_user() */
	/* Server vhost: created when listen_host is not NULL.
	 * listen_port 0 binds an ephemeral port (see ups_ws.port). */
	const char *listen_host; /* numeric address, e.g. "127.0.0.1" */
	int listen_port;
	/* PEM files: both set = wss (and https) only. TLS connections get
	 * HTTP/1.1 by ALPN, whatever lws could speak: upstaged serves
	 * websockets and its downloads over HTTP/1.1 only. */
	const char *tls_cert;
	const char *tls_key;
	/* A second listening vhost, plain HTTP (no TLS), for what must stay
	 * private (upstaged's /metrics): created when side_host is not NULL;
	 * side_port 0 binds an ephemeral port (ups_ws.side_port). */
	const char *side_host;
	int side_port;
	/* Client vhost: created when client is true. client_ca is a PEM CA
	 * bundle used to verify wss servers; NULL = system default.
	 * client_plain: only ws:// connections will be made, so no TLS
	 * context is set up (that costs loading the system's CA bundle,
	 * tens of ms at every start of the CLI); its connections follow no
	 * HTTP redirect, which could lead to wss. */
	bool client;
	const char *client_ca;
	bool client_plain;
	/* Per-read buffer size; 0 = 64 KiB. */
	size_t rx_buffer_size;
	/* Room lws gives a request's line and headers (a longer request is
	 * dropped without an answer); 0 = lws's default (4096). */
	unsigned http_header_bytes;
	/* Server sessions and client connections: lws sends a PING after
	 * this many idle seconds and hangs up after 2 * ping_interval + 10
	 * without a valid frame. 0 = no pings. */
	unsigned ping_interval;
};

struct ups_ws {
	struct lws_context *context; /* owned */
	struct lws_vhost *server;    /* NULL without listen_host */
	struct lws_vhost *client;    /* NULL without client */
	bool client_plain;           /* the client vhost has no TLS */
	struct lws_vhost *side;      /* NULL without side_host */
	int port;                    /* bound server port, or -1 */
	int side_port;               /* bound side port, or -1 */
	uv_loop_t *loop;
	int destroy_stage;
	lws_retry_bo_t idle_policy; /* referenced by the server vhost */
};

/* Routes lws's own log into proto/log.h (warnings and errors only, more at
 * UPS_LOG_DEBUG). Call once before ups_ws_create(). */
void ups_ws_init_logging(void);

/* Returns 0, or UPS_ERR_IO / UPS_ERR_BAD_REQUEST with err saying what
 * failed (e.g. address in use, unreadable certificate). */
int ups_ws_create(struct ups_ws *ws, const struct ups_ws_config *cfg,
		  char *err, size_t errlen);
void ups_ws_begin_destroy(struct ups_ws *ws);
void ups_ws_finish_destroy(struct ups_ws *ws);

/* Starts a client connection on ws->client to url, dialling address
 * (numeric; NULL = url->host, which lws resolves *blocking*: use it only in
 * programs where that is acceptable, like the CLI). userdata becomes the
 * wsi's user space (borrowed; NULL lets lws allocate the protocol's
 * per_session_data_size). Returns the wsi, or NULL if the attempt failed
 * at once. Either way a failure may already have been reported through
 * LWS_CALLBACK_CLIENT_CONNECTION_ERROR (lws 4.1 can call it before
 * returning NULL), so callers must treat both as one outcome. */
struct lws *ups_ws_connect(struct ups_ws *ws, const struct ups_url *url,
			   const char *address, void *userdata);

#endif
