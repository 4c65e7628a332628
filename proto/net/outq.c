/* Bounded per-session output queue; see outq.h. */
#include "proto/net/outq.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/limits.h"

_Static_assert(LWS_PRE >= UPS_WS_CLIENT_HEADER_MAX,
	       "lws headroom must hold a client frame header");

struct ups_outq_msg {
	struct ups_outq_msg *next;
	size_t len;
	bool binary;
	uint32_t tag;
	/* Bytes of a websocket frame header already written before the
	 * (then masked) payload by ups_outq_msg_frame(); 0 if not framed. */
	size_t framed;
	/* LWS_PRE bytes of headroom for lws's frame header, then payload. */
	unsigned char buf[];
};

/* What one message costs besides its payload: its header and lws's
 * headroom, plus what malloc keeps around a block. */
#define OUTQ_MSG_OVERHEAD (sizeof(struct ups_outq_msg) + LWS_PRE + 16)

size_t ups_outq_cost(size_t payload)
{
	return payload + OUTQ_MSG_OVERHEAD;
}

void ups_outq_init(struct ups_outq *q, size_t max_bytes)
{
	memset(q, 0, sizeof(*q));
	q->max_bytes = max_bytes;
}

void ups_outq_set_self_mask(struct ups_outq *q, bool on)
{
	q->self_mask = on;
}

size_t ups_ws_client_frame(unsigned char *payload, size_t len,
			   const unsigned char key[4])
{
	const unsigned char key8[8] = {key[0], key[1], key[2], key[3],
				       key[0], key[1], key[2], key[3]};
	unsigned char *h;
	uint64_t k64;
	size_t i = 0, hlen;

	/* Masking one 64-bit word at a time is what lws does not do. */
	memcpy(&k64, key8, sizeof(k64));
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, payload + i, sizeof(w));
		w ^= k64;
		memcpy(payload + i, &w, sizeof(w));
	}
	for (; i < len; i++)
		payload[i] ^= key[i & 3];

	hlen = len < 126 ? 2 : len < 65536 ? 4 : 10;
	hlen += 4;
	h = payload - hlen;
	h[0] = 0x80 | 0x2; /* FIN, binary */
	if (len < 126) {
		h[1] = 0x80 | (unsigned char)len;
	} else if (len < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
	} else {
		h[1] = 0x80 | 127;
		for (int b = 0; b < 8; b++)
			h[2 + b] =
			    (unsigned char)((uint64_t)len >> (56 - 8 * b));
	}
	memcpy(h + hlen - 4, key, 4);
	return hlen;
}

/* Writes m as a frame we built ourselves (see ups_outq_set_self_mask). */
static int outq_write_self_masked(struct ups_outq_msg *m, struct lws *wsi)
{
	unsigned char key[4];
	unsigned char *payload = m->buf + LWS_PRE;
	size_t hlen;

	/* RFC 6455 10.3: the key must be unpredictable to the application. */
	if (RAND_bytes(key, sizeof(key)) != 1)
		return -1;
	hlen = ups_ws_client_frame(payload, m->len, key);
	/* LWS_WRITE_HTTP on a websocket connection is lws's raw path. */
	return lws_write(wsi, payload - hlen, hlen + m->len, LWS_WRITE_HTTP);
}

void ups_outq_clear(struct ups_outq *q)
{
	struct ups_outq_msg *m = q->head;

	while (m) {
		struct ups_outq_msg *next = m->next;

		free(m);
		m = next;
	}
	q->head = q->tail = NULL;
	q->bytes = 0;
	q->count = 0;
}

struct ups_outq_msg *ups_outq_msg_new(bool binary, size_t len)
{
	struct ups_outq_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m)
		return NULL;
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	m->tag = 0;
	m->framed = 0;
	return m;
}

void ups_outq_tag_last(struct ups_outq *q, uint32_t tag)
{
	if (q->tail)
		q->tail->tag = tag;
}

size_t ups_outq_drop_tag(struct ups_outq *q, uint32_t tag)
{
	struct ups_outq_msg **link = &q->head, *m;
	size_t dropped = 0;

	if (tag == 0)
		return 0;
	q->tail = NULL;
	/* Messages leave the queue when lws_write() takes them (lws keeps
	 * any unsent rest itself), so every queued one can go. */
	while ((m = *link) != NULL) {
		if (m->tag == tag) {
			*link = m->next;
			q->bytes -= ups_outq_cost(m->len);
			q->count--;
			free(m);
			dropped++;
		} else {
			q->tail = m;
			link = &m->next;
		}
	}
	return dropped;
}

unsigned char *ups_outq_msg_data(struct ups_outq_msg *m)
{
	return m->buf + LWS_PRE;
}

void ups_outq_msg_free(struct ups_outq_msg *m)
{
	free(m);
}

/* Whether a message of len payload bytes fits beside what is queued. */
static bool outq_fits(const struct ups_outq *q, size_t len)
{
	size_t cost = ups_outq_cost(len);

	return cost <= q->max_bytes && q->bytes <= q->max_bytes - cost;
}

int ups_outq_append(struct ups_outq *q, struct ups_outq_msg *m)
{
	if (!outq_fits(q, m->len)) {
		free(m);
		return UPS_ERR_BUSY;
	}
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += ups_outq_cost(m->len);
	q->count++;
	return 0;
}

int ups_outq_push(struct ups_outq *q, bool binary, const void *a, size_t alen,
		  const void *b, size_t blen)
{
	struct ups_outq_msg *m;
	size_t len = alen + blen;

	/* Checked before allocating, so a full queue costs nothing. */
	if (!outq_fits(q, len))
		return UPS_ERR_BUSY;
	m = ups_outq_msg_new(binary, len);
	if (!m)
		return UPS_ERR_NO_MEMORY;
	if (alen)
		memcpy(m->buf + LWS_PRE, a, alen);
	if (blen)
		memcpy(m->buf + LWS_PRE + alen, b, blen);
	return ups_outq_append(q, m);
}

int ups_outq_push_json(struct ups_outq *q, const json_t *env)
{
	size_t len;
	char *text = ups_env_dump(env, &len);
	int rv;

	if (!text)
		return UPS_ERR_NO_MEMORY;
	/* Every peer refuses a text message over the limit (and the relay
	 * would drop the link that carried it): never send one. */
	if (len > UPS_LIMIT_TEXT_MSG_MAX) {
		free(text);
		return UPS_ERR_TOO_LARGE;
	}
	rv = ups_outq_push(q, false, text, len, NULL, 0);
	free(text);
	return rv;
}

int ups_outq_send(struct ups_outq *q, struct lws *wsi, bool binary,
		  const void *a, size_t alen, const void *b, size_t blen)
{
	int rv = ups_outq_push(q, binary, a, alen, b, blen);

	if (rv == 0)
		lws_callback_on_writable(wsi);
	return rv;
}

int ups_outq_send_json(struct ups_outq *q, struct lws *wsi, const json_t *env)
{
	int rv = ups_outq_push_json(q, env);

	if (rv == 0)
		lws_callback_on_writable(wsi);
	return rv;
}

int ups_outq_msg_frame(struct ups_outq_msg *m)
{
	unsigned char key[4];
	unsigned char *payload = m->buf + LWS_PRE;

	if (!m->binary || m->framed)
		return UPS_ERR_BAD_REQUEST;
	/* RFC 6455 10.3: the key must be unpredictable to the application. */
	if (RAND_bytes(key, sizeof(key)) != 1)
		return UPS_ERR_INTERNAL;
	m->framed = ups_ws_client_frame(payload, m->len, key);
	return 0;
}

int ups_outq_write_one(struct ups_outq *q, struct lws *wsi)
{
	struct ups_outq_msg *m = q->head;
	int n;

	if (!m)
		return 0;
	if (m->framed)
		n = lws_write(wsi, m->buf + LWS_PRE - m->framed,
			      m->framed + m->len, LWS_WRITE_HTTP);
	else if (q->self_mask && m->binary)
		n = outq_write_self_masked(m, wsi);
	else
		n = lws_write(wsi, m->buf + LWS_PRE, m->len,
			      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	/* lws keeps whatever did not go out at once and sends it before the
	 * next WRITEABLE, so a short count is not an error; a negative one
	 * means the connection is gone. */
	if (n < 0)
		return UPS_ERR_IO;
	q->head = m->next;
	if (!q->head)
		q->tail = NULL;
	q->bytes -= ups_outq_cost(m->len);
	q->count--;
	free(m);
	if (q->head) {
		lws_callback_on_writable(wsi);
		return 1;
	}
	return 0;
}
