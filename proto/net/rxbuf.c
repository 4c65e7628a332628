/* Websocket message reassembly with per-kind limits; see rxbuf.h. */
#include "proto/net/rxbuf.h"

#include <stdlib.h>
#include <string.h>

#include "proto/chunk.h"
#include "proto/errors.h"
#include "proto/limits.h"

static size_t rxbuf_limit(const struct ups_rxbuf *rx, bool binary)
{
	if (binary)
		return UPS_LIMIT_BINARY_MSG_MAX;
	return rx->text_max ? rx->text_max : UPS_LIMIT_TEXT_MSG_MAX;
}

static int rxbuf_append_grow(struct ups_rxbuf *rx, const void *in,
                             size_t len)
{
	size_t need = rx->len + len;

	if (need > rx->cap) {
		size_t cap = rx->cap ? rx->cap : 4096;
		uint8_t *data;

		while (cap < need)
			cap *= 2;
		if (cap > rxbuf_limit(rx, rx->binary))
			cap = rxbuf_limit(rx, rx->binary);
		data = realloc(rx->data, cap);
		if (!data)
			return UPS_ERR_NO_MEMORY;
		rx->data = data;
		rx->cap = cap;
	}
	memcpy(rx->data + rx->len, in, len);
	rx->len = need;
	return 0;
}

/* The limit check before it keeps a binary message inside the frame
 * buffer: UPS_CHUNK_BUF_FRAME + UPS_LIMIT_BINARY_MSG_MAX is its size. */
static int rxbuf_append_frame(struct ups_rxbuf *rx, const void *in,
                              size_t len)
{
	if (!rx->frame_buf) {
		rx->frame_buf = ups_chunk_buf_new();
		if (!rx->frame_buf)
			return UPS_ERR_NO_MEMORY;
	}
	memcpy(rx->frame_buf + UPS_CHUNK_BUF_FRAME + rx->len, in, len);
	rx->len += len;
	return 0;
}

int ups_rxbuf_feed_raw(struct ups_rxbuf *rx, bool first, bool final,
		       bool binary, const void *in, size_t len,
		       struct ups_rxmsg *msg)
{
	int rv;

	(void)first; /* our own state is more reliable across fragments */
	if (!rx->active) {
		rx->active = true;
		rx->binary = binary;
		rx->in_frame = binary && rx->frames;
		rx->len = 0;
		rx->discarding = false;
		if (final) {
			rx->active = false;
			if (len > rxbuf_limit(rx, binary))
				return UPS_ERR_TOO_LARGE;
			/* Whole message in one piece: no copy. */
			msg->data = in;
			msg->len = len;
			msg->binary = binary;
			msg->frame_buf = NULL;
			return 1;
		}
	}
	if (rx->discarding) {
		if (final)
			rx->active = false;
		return 0;
	}
	if (len > rxbuf_limit(rx, rx->binary) - rx->len) {
		rx->discarding = !final;
		rx->active = !final;
		rx->len = 0;
		return UPS_ERR_TOO_LARGE;
	}
	rv = rx->in_frame ? rxbuf_append_frame(rx, in, len)
	                  : rxbuf_append_grow(rx, in, len);
	if (rv) {
		rx->discarding = !final;
		rx->active = !final;
		rx->len = 0;
		return rv;
	}
	if (!final)
		return 0;
	rx->active = false;
	msg->len = rx->len;
	msg->binary = rx->binary;
	if (rx->in_frame) {
		msg->data = rx->frame_buf + UPS_CHUNK_BUF_FRAME;
		msg->frame_buf = &rx->frame_buf;
	} else {
		msg->data = rx->data;
		msg->frame_buf = NULL;
	}
	return 1;
}

int ups_rxbuf_feed(struct ups_rxbuf *rx, struct lws *wsi, const void *in,
		   size_t len, struct ups_rxmsg *msg)
{
	bool final = lws_is_final_fragment(wsi) &&
		     lws_remaining_packet_payload(wsi) == 0;

	return ups_rxbuf_feed_raw(rx, lws_is_first_fragment(wsi), final,
				  lws_frame_is_binary(wsi), in, len, msg);
}

void ups_rxbuf_free(struct ups_rxbuf *rx)
{
	free(rx->data);
	free(rx->frame_buf);
	memset(rx, 0, sizeof(*rx));
}
