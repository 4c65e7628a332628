/* Bounded per-session output queue; see outq.h. */
#include "proto/net/outq.h"

#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "proto/errors.h"

struct ups_outq_msg {
	struct ups_outq_msg *next;
	size_t len;
	bool binary;
	/* LWS_PRE bytes of headroom for lws's frame header, then payload. */
	unsigned char buf[];
};

void ups_outq_init(struct ups_outq *q, size_t max_bytes)
{
	memset(q, 0, sizeof(*q));
	q->max_bytes = max_bytes;
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

int ups_outq_push(struct ups_outq *q, bool binary, const void *a, size_t alen,
		  const void *b, size_t blen)
{
	struct ups_outq_msg *m;
	size_t len = alen + blen;

	if (len > q->max_bytes || q->bytes > q->max_bytes - len)
		return UPS_ERR_BUSY;
	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return UPS_ERR_NO_MEMORY;
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	if (alen)
		memcpy(m->buf + LWS_PRE, a, alen);
	if (blen)
		memcpy(m->buf + LWS_PRE + alen, b, blen);
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += len;
	q->count++;
	return 0;
}

int ups_outq_push_json(struct ups_outq *q, const json_t *env)
{
	size_t len;
	char *text = ups_env_dump(env, &len);
	int rv;

	if (!text)
		return UPS_ERR_NO_MEMORY;
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

int ups_outq_write_one(struct ups_outq *q, struct lws *wsi)
{
	struct ups_outq_msg *m = q->head;
	int n;

	if (!m)
		return 0;
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
	q->bytes -= m->len;
	q->count--;
	free(m);
	if (q->head) {
		lws_callback_on_writable(wsi);
		return 1;
	}
	return 0;
}
