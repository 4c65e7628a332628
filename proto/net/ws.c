/* libwebsockets on a foreign libuv loop. See ws.h for the lifecycle. */
#include "proto/net/ws.h"

#include <stdio.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/log.h"
#include "proto/net/url.h"

#define WS_DEFAULT_RX_BUFFER (64 * 1024)

static void ws_log_emit(int level, const char *line)
{
	enum ups_log_level ours = UPS_LOG_DEBUG;
	size_t len = strlen(line);

	if (level & LLL_ERR)
		ours = UPS_LOG_ERROR;
	else if (level & LLL_WARN)
		ours = UPS_LOG_WARN;
	/* lws terminates its lines; ours adds its own newline. */
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	UPS_LOG(ours, "lws", "%.*s", (int)len, line);
}

void ups_ws_init_logging(void)
{
	int levels = LLL_ERR | LLL_WARN;

	if (ups_log_threshold >= UPS_LOG_DEBUG)
		levels |= LLL_NOTICE;
	lws_set_log_level(levels, ws_log_emit);
}

/* A listening vhost named name on host:port; with primary, the one that
 * carries the TLS certificate (if any) and the idle policy. Sets *vhost
 * and *bound (the port, also when the kernel picked it). */
static int ws_listen(struct ups_ws *ws, const struct ups_ws_config *cfg,
		     const char *name, const char *host, int port, bool primary,
		     struct lws_vhost **vhost, int *bound, char *err,
		     size_t errlen)
{
	struct lws_context_creation_info info;
	bool tls = primary && cfg->tls_cert;

	memset(&info, 0, sizeof(info));
	info.vhost_name = name;
	info.iface = host;
	info.port = port; /* 0: the kernel picks a free port */
	info.protocols = cfg->protocols;
	if (tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
		/* lws 4.1 is built with h2 and would offer it; HTTP/1.1
		 * only (ws.h). */
		info.alpn = "http/1.1";
	}
	if (primary && ws->idle_policy.secs_since_valid_ping)
		info.retry_and_idle_policy = &ws->idle_policy;
	*vhost = lws_create_vhost(ws->context, &info);
	if (!*vhost)
		return ups_errf(UPS_ERR_IO, err, errlen,
				"cannot listen on %s:%d (address in use%s?)",
				host, port,
				tls ? ", or bad TLS certificate/key" : "");
	*bound = lws_get_vhost_listen_port(*vhost);
	return 0;
}

static int ws_create_client_vhost(struct ups_ws *ws,
				  const struct ups_ws_config *cfg, char *err,
				  size_t errlen)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.vhost_name = "client";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = cfg->protocols;
	ws->client_plain = cfg->client_plain;
	if (!cfg->client_plain) {
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = cfg->client_ca;
	}
	ws->client = lws_create_vhost(ws->context, &info);
	if (!ws->client)
		return ups_errf(UPS_ERR_IO, err, errlen,
				"cannot create client vhost (CA file %s "
				"unreadable?)",
				cfg->client_ca ? cfg->client_ca : "default");
	return 0;
}

int ups_ws_create(struct ups_ws *ws, const struct ups_ws_config *cfg,
		  char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	void *foreign_loops[1];
	size_t rxsize = cfg->rx_buffer_size ? cfg->rx_buffer_size
					    : WS_DEFAULT_RX_BUFFER;
	int rv;

	memset(ws, 0, sizeof(*ws));
	ws->port = -1;
	ws->side_port = -1;
	ws->loop = cfg->loop;
	if (cfg->ping_interval > 0) {
		ws->idle_policy.secs_since_valid_ping =
			(uint16_t)cfg->ping_interval;
		ws->idle_policy.secs_since_valid_hangup =
			(uint16_t)(2 * cfg->ping_interval + 10);
	}

	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				"TLS needs both a certificate and a key");

	memset(&info, 0, sizeof(info));
	foreign_loops[0] = cfg->loop;
	info.foreign_loops = foreign_loops;
	info.options = LWS_SERVER_OPTION_LIBUV |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = cfg->user;
	/* The default 4 KiB service buffer caps receive throughput; size it
	 * like the protocol's rx buffer (NOTES-libwebsockets.md). */
	info.pt_serv_buf_size = (unsigned int)rxsize;
	if (cfg->http_header_bytes)
		info.max_http_header_data2 = cfg->http_header_bytes;
	ws->context = lws_create_context(&info);
	if (!ws->context)
		return ups_errf(UPS_ERR_IO, err, errlen,
				"cannot create websocket context (is "
				"libwebsockets-evlib-uv installed?)");

	if (cfg->listen_host) {
		rv = ws_listen(ws, cfg, "server", cfg->listen_host,
			       cfg->listen_port, true, &ws->server, &ws->port,
			       err, errlen);
		if (rv)
			goto err_destroy_context;
	}
	if (cfg->side_host) {
		rv = ws_listen(ws, cfg, "side", cfg->side_host, cfg->side_port,
			       false, &ws->side, &ws->side_port, err, errlen);
		if (rv)
			goto err_destroy_context;
	}
	if (cfg->client) {
		rv = ws_create_client_vhost(ws, cfg, err, errlen);
		if (rv)
			goto err_destroy_context;
	}
	return 0;

err_destroy_context:
	ups_ws_begin_destroy(ws);
	ups_ws_finish_destroy(ws);
	return rv;
}

void ups_ws_begin_destroy(struct ups_ws *ws)
{
	if (!ws->context || ws->destroy_stage > 0)
		return;
	ws->destroy_stage = 1;
	lws_context_destroy(ws->context);
}

void ups_ws_finish_destroy(struct ups_ws *ws)
{
	if (!ws->context)
		return;
	if (ws->destroy_stage == 0)
		ups_ws_begin_destroy(ws);
	/* The first destroy only starts closing lws's handles on the foreign
	 * loop; let them finish, then the second destroy frees the rest. */
	uv_run(ws->loop, UV_RUN_DEFAULT);
	lws_context_destroy(ws->context);
	uv_run(ws->loop, UV_RUN_DEFAULT);
	ws->context = NULL;
	ws->server = NULL;
	ws->client = NULL;
	ws->destroy_stage = 2;
}

struct lws *ups_ws_connect(struct ups_ws *ws, const struct ups_url *url,
			   const char *address, void *userdata)
{
	struct lws_client_connect_info ci;

	if (!ws->client || (ws->client_plain && url->tls))
		return NULL;
	memset(&ci, 0, sizeof(ci));
	ci.context = ws->context;
	ci.vhost = ws->client;
	ci.address = address ? address : url->host;
	ci.port = url->port;
	ci.path = url->path;
	ci.host = url->host;
	ci.origin = url->host;
	ci.protocol = UPS_WS_SUBPROTOCOL;
	ci.ssl_connection = url->tls ? LCCSCF_USE_SSL : 0;
	/* A redirect could lead to wss, which a plain client cannot do. */
	if (ws->client_plain)
		ci.ssl_connection |= LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	ci.userdata = userdata;
	/* Client links need liveness checks too: a peer that vanishes
	 * without closing TCP is only noticed by an unanswered PING. */
	if (ws->idle_policy.secs_since_valid_ping)
		ci.retry_and_idle_policy = &ws->idle_policy;
	return lws_client_connect_via_info(&ci);
}
