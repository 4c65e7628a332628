/* A recording websocket peer for tests; see ws_peer.h. */
#include "tests/lib/ws_peer.h"

#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"

void ws_peer_init(struct ws_peer *p, size_t outq_max, void *user)
{
	memset(p, 0, sizeof(*p));
	p->user = user;
	ups_outq_init(&p->outq, outq_max);
	p->texts = json_array();
	assert_non_null(p->texts);
}

void ws_peer_free(struct ws_peer *p)
{
	size_t i;

	ups_outq_clear(&p->outq);
	free(p->rx);
	json_decref(p->texts);
	for (i = 0; i < p->nbins; i++)
		free(p->bins[i].data);
	free(p->bins);
	free(p->raw);
	memset(p, 0, sizeof(*p));
}

void ws_peer_established(struct ws_peer *p, struct lws *wsi)
{
	p->wsi = wsi;
	p->established = true;
	if (!ups_outq_empty(&p->outq) || p->raw)
		lws_callback_on_writable(wsi);
}

static int ws_peer_record(struct ws_peer *p, bool binary)
{
	if (!binary) {
		json_t *msg = json_loadb((const char *)p->rx, p->rxlen,
		                         JSON_REJECT_DUPLICATES, NULL);

		return json_array_append_new(p->texts, msg ? msg : json_null());
	}
	if (p->nbins == p->bins_cap) {
		size_t cap = p->bins_cap ? 2 * p->bins_cap : 16;
		struct ws_peer_bin *bins =
		    realloc(p->bins, cap * sizeof(*bins));

		if (!bins)
			return -1;
		p->bins = bins;
		p->bins_cap = cap;
	}
	/* The buffer moves to the record; the next message starts afresh. */
	p->bins[p->nbins].data = p->rx;
	p->bins[p->nbins].len = p->rxlen;
	p->nbins++;
	p->rx = NULL;
	p->rxcap = 0;
	return 0;
}

int ws_peer_receive(struct ws_peer *p, const void *in, size_t len)
{
	bool binary = lws_frame_is_binary(p->wsi);
	bool final = lws_is_final_fragment(p->wsi) &&
	             lws_remaining_packet_payload(p->wsi) == 0;
	int rv;

	if (p->rxlen + len + 1 > p->rxcap) {
		size_t cap = p->rxcap ? p->rxcap : 4096;
		uint8_t *rx;

		while (cap < p->rxlen + len + 1)
			cap *= 2;
		rx = realloc(p->rx, cap);
		if (!rx)
			return -1;
		p->rx = rx;
		p->rxcap = cap;
	}
	if (len)
		memcpy(p->rx + p->rxlen, in, len);
	p->rxlen += len;
	if (!final)
		return 0;
	rv = ws_peer_record(p, binary);
	p->rxlen = 0;
	return rv;
}

int ws_peer_writeable(struct ws_peer *p)
{
	if (p->raw) {
		/* LWS_WRITE_HTTP on a websocket connection writes raw bytes:
		 * the frames were built by ws_peer_send_burst(). */
		int n = lws_write(p->wsi, p->raw + LWS_PRE, p->rawlen,
		                  LWS_WRITE_HTTP);

		free(p->raw);
		p->raw = NULL;
		p->rawlen = 0;
		if (n < 0)
			return -1;
		if (!ups_outq_empty(&p->outq))
			lws_callback_on_writable(p->wsi);
		return 0;
	}
	return ups_outq_write_one(&p->outq, p->wsi) < 0 ? -1 : 0;
}

void ws_peer_closed(struct ws_peer *p)
{
	p->wsi = NULL;
	p->closed = true;
}

static void ws_peer_queue(struct ws_peer *p, bool binary, const void *data,
                          size_t len)
{
	assert_int_equal(ups_outq_push(&p->outq, binary, data, len, NULL, 0),
	                 0);
	if (p->wsi)
		lws_callback_on_writable(p->wsi);
}

void ws_peer_send_json(struct ws_peer *p, json_t *env)
{
	size_t len;
	char *text;

	assert_non_null(env);
	text = ups_env_dump(env, &len);
	assert_non_null(text);
	ws_peer_queue(p, false, text, len);
	free(text);
	json_decref(env);
}

void ws_peer_send_text(struct ws_peer *p, const char *text, size_t len)
{
	ws_peer_queue(p, false, text, len);
}

void ws_peer_send_binary(struct ws_peer *p, const void *data, size_t len)
{
	ws_peer_queue(p, true, data, len);
}

/* Writes a text frame header for len bytes at out, masked with a zero
 * key when masked; returns its length (RFC 6455 5.2). */
static size_t ws_peer_frame_header(uint8_t *out, size_t len, bool masked)
{
	uint8_t mask = masked ? 0x80 : 0;
	size_t n;
	int b;

	out[0] = 0x80 | 0x1; /* FIN, text */
	if (len < 126) {
		out[1] = mask | (uint8_t)len;
		n = 2;
	} else if (len < 65536) {
		out[1] = mask | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = mask | 127;
		for (b = 0; b < 8; b++)
			out[2 + b] = (uint8_t)((uint64_t)len >> (56 - 8 * b));
		n = 10;
	}
	if (masked) {
		memset(out + n, 0, 4);
		n += 4;
	}
	return n;
}

static void ws_peer_burst(struct ws_peer *p, const char *const *texts,
                          size_t n, bool masked)
{
	size_t i, total = 0, at = LWS_PRE;

	assert_null(p->raw);
	for (i = 0; i < n; i++)
		total += 14 + strlen(texts[i]);
	p->raw = malloc(LWS_PRE + total);
	assert_non_null(p->raw);
	for (i = 0; i < n; i++) {
		size_t len = strlen(texts[i]);

		at += ws_peer_frame_header(p->raw + at, len, masked);
		memcpy(p->raw + at, texts[i], len);
		at += len;
	}
	p->rawlen = at - LWS_PRE;
	if (p->wsi)
		lws_callback_on_writable(p->wsi);
}

void ws_peer_send_burst(struct ws_peer *p, const char *const *texts, size_t n)
{
	ws_peer_burst(p, texts, n, false);
}

void ws_peer_send_client_burst(struct ws_peer *p, const char *const *texts,
                               size_t n)
{
	ws_peer_burst(p, texts, n, true);
}

void ws_peer_kill(struct ws_peer *p)
{
	if (p->wsi)
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
}

json_t *ws_peer_next_text(struct loop_wait *w, struct ws_peer *p)
{
	LOOP_WAIT(w, json_array_size(p->texts) > p->texts_read);
	return json_array_get(p->texts, p->texts_read++);
}

const struct ws_peer_bin *ws_peer_next_binary(struct loop_wait *w,
                                              struct ws_peer *p)
{
	LOOP_WAIT(w, p->nbins > p->bins_read);
	return &p->bins[p->bins_read++];
}
