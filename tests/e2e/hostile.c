/* hostile: many websocket connections that misbehave the way an attacker
 * would, to show that upstaged (or the relay) bounds what they cost and
 * closes them:
 *
 *   hostile --url ws://127.0.0.1:PORT --connections N --mode MODE
 *           [--token T] [--timeout SECS]
 *
 *   spam   never read; send 1-byte text frames as fast as the socket takes
 *          them (each one earns an error answer the server must queue);
 *   idle   connect, then send nothing at all (never log in);
 *   chat   never log in; send a refused request every 200 ms, so the
 *          connection is never idle;
 *   flood  log in with --token, then stop reading and send Agent.Info
 *          requests as fast as the socket takes them.
 *
 * It waits until the server has closed every connection, or the timeout
 * (default 60 s). Prints one JSON line: connections asked, established,
 * closed by the server, frames sent, and the slowest close in ms after
 * the connection was established. Exit 0 when every established
 * connection was closed by the server in time, 1 otherwise, 2 on usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/log.h"
#include "proto/net/url.h"
#include "proto/net/ws.h"

enum mode { MODE_SPAM, MODE_IDLE, MODE_CHAT, MODE_FLOOD };

struct conn {
	struct lws *wsi;
	uint64_t established_ms;
	bool up, closed, logged_in, login_sent;
	uint64_t next_chat_ms;
	uint64_t id;
};

static struct {
	uv_loop_t loop;
	struct ups_ws ws;
	struct ups_url url;
	enum mode mode;
	const char *token;
	unsigned n, established, closed, failed;
	uint64_t frames, slowest_ms;
	struct conn *conns;
	uv_timer_t tick, deadline;
	bool done;
} H;

static uint64_t now_ms(void)
{
	return uv_now(&H.loop);
}

static void finish(void)
{
	if (H.done)
		return;
	H.done = true;
	uv_timer_stop(&H.tick);
	uv_timer_stop(&H.deadline);
	uv_close((uv_handle_t *)&H.tick, NULL);
	uv_close((uv_handle_t *)&H.deadline, NULL);
	ups_ws_begin_destroy(&H.ws);
}

static void check_done(void)
{
	if (H.established + H.failed == H.n && H.closed == H.established)
		finish();
}

/* Writes one text message of len bytes. */
static int send_text(struct lws *wsi, const char *text, size_t len)
{
	unsigned char buf[LWS_PRE + 512];

	memcpy(buf + LWS_PRE, text, len);
	if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
		return -1;
	H.frames++;
	return 0;
}

static int on_writeable(struct conn *c)
{
	char msg[256];
	int n;

	if (c->closed)
		return -1;
	switch (H.mode) {
	case MODE_SPAM:
		if (send_text(c->wsi, "x", 1))
			return -1;
		lws_callback_on_writable(c->wsi);
		return 0;
	case MODE_IDLE:
		return 0;
	case MODE_CHAT:
		if (now_ms() < c->next_chat_ms)
			return 0;
		c->next_chat_ms = now_ms() + 200;
		n = snprintf(msg, sizeof(msg),
		             "{\"request-id\":%llu,\"type\":\"Agent\","
		             "\"version\":1,\"request\":\"Ping\"}",
		             (unsigned long long)++c->id);
		return send_text(c->wsi, msg, (size_t)n) ? -1 : 0;
	case MODE_FLOOD:
		if (!c->login_sent) {
			c->login_sent = true;
			n = snprintf(msg, sizeof(msg),
			             "{\"request-id\":1,\"type\":\"Admin\","
			             "\"version\":1,\"request\":\"Login\","
			             "\"params\":{\"role\":\"client\","
			             "\"token\":\"%s\"}}",
			             H.token ? H.token : "");
			return send_text(c->wsi, msg, (size_t)n) ? -1 : 0;
		}
		if (!c->logged_in)
			return 0;
		n = snprintf(msg, sizeof(msg),
		             "{\"request-id\":%llu,\"type\":\"Agent\","
		             "\"version\":1,\"request\":\"Info\"}",
		             (unsigned long long)++c->id + 1);
		if (send_text(c->wsi, msg, (size_t)n))
			return -1;
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
	struct conn *c = user;

	(void)in;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->up = true;
		c->established_ms = now_ms();
		H.established++;
		/* spam and flood never read (flood after its login). */
		if (H.mode == MODE_SPAM)
			lws_rx_flow_control(wsi, 0);
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (H.mode == MODE_FLOOD && !c->logged_in && len > 0 &&
		    strstr((const char *)in, "\"response\"")) {
			c->logged_in = true;
			lws_rx_flow_control(wsi, 0);
			lws_callback_on_writable(wsi);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(c);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!c->up && !c->closed) {
			c->closed = true;
			H.failed++;
			check_done();
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		/* After the timeout we close them ourselves: not counted. */
		if (c->up && !c->closed && !H.done) {
			uint64_t took = now_ms() - c->established_ms;

			c->closed = true;
			H.closed++;
			if (took > H.slowest_ms)
				H.slowest_ms = took;
			check_done();
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
    {UPS_WS_SUBPROTOCOL, callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_tick(uv_timer_t *t)
{
	(void)t;
	if (H.mode != MODE_CHAT)
		return;
	for (unsigned i = 0; i < H.n; i++)
		if (H.conns[i].up && !H.conns[i].closed)
			lws_callback_on_writable(H.conns[i].wsi);
}

static void on_deadline(uv_timer_t *t)
{
	(void)t;
	finish();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"connections", required_argument, NULL, 'n'},
	    {"mode", required_argument, NULL, 'm'},
	    {"token", required_argument, NULL, 't'},
	    {"timeout", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	struct ups_ws_config wcfg;
	const char *url = NULL, *mode = "spam";
	char err[UPS_ERRMSG_MAX];
	unsigned timeout = 60;
	int ch;

	H.n = 10;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 'n':
			H.n = (unsigned)atoi(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 't':
			H.token = optarg;
			break;
		case 'T':
			timeout = (unsigned)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!url || H.n == 0 || ups_url_parse(url, &H.url, err, sizeof(err))) {
		fprintf(stderr, "usage: hostile --url ws://HOST:PORT "
		                "--connections N --mode spam|idle|chat|flood "
		                "[--token T] [--timeout SECS]\n");
		return 2;
	}
	if (strcmp(mode, "spam") == 0)
		H.mode = MODE_SPAM;
	else if (strcmp(mode, "idle") == 0)
		H.mode = MODE_IDLE;
	else if (strcmp(mode, "chat") == 0)
		H.mode = MODE_CHAT;
	else if (strcmp(mode, "flood") == 0)
		H.mode = MODE_FLOOD;
	else
		return 2;
	ups_log_threshold = UPS_LOG_ERROR;
	H.conns = calloc(H.n, sizeof(*H.conns));
	if (!H.conns || uv_loop_init(&H.loop))
		return 1;
	memset(&wcfg, 0, sizeof(wcfg));
	wcfg.loop = &H.loop;
	wcfg.protocols = protocols;
	wcfg.client = true;
	ups_ws_init_logging();
	if (ups_ws_create(&H.ws, &wcfg, err, sizeof(err))) {
		fprintf(stderr, "hostile: %s\n", err);
		return 1;
	}
	uv_timer_init(&H.loop, &H.tick);
	uv_timer_init(&H.loop, &H.deadline);
	uv_timer_start(&H.tick, on_tick, 50, 50);
	uv_timer_start(&H.deadline, on_deadline, (uint64_t)timeout * 1000, 0);
	for (unsigned i = 0; i < H.n; i++) {
		H.conns[i].wsi =
		    ups_ws_connect(&H.ws, &H.url, H.url.host, &H.conns[i]);
		if (!H.conns[i].wsi && !H.conns[i].closed) {
			H.conns[i].closed = true;
			H.failed++;
		}
	}
	uv_run(&H.loop, UV_RUN_DEFAULT);
	ups_ws_finish_destroy(&H.ws);
	uv_loop_close(&H.loop);
	printf("{\"connections\":%u,\"established\":%u,\"closed\":%u,"
	       "\"failed\":%u,\"frames\":%llu,\"slowest-close-ms\":%llu}\n",
	       H.n, H.established, H.closed, H.failed,
	       (unsigned long long)H.frames, (unsigned long long)H.slowest_ms);
	free(H.conns);
	return H.established > 0 && H.closed == H.established ? 0 : 1;
}
