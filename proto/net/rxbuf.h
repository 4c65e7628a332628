/* Reassembles websocket messages from the fragments lws delivers in
 * LWS_CALLBACK_RECEIVE / LWS_CALLBACK_CLIENT_RECEIVE, bounding each message
 * by its kind's limit (text: UPS_LIMIT_TEXT_MSG_MAX unless text_max says
 * otherwise, binary: UPS_LIMIT_BINARY_MSG_MAX) before anything is
 * allocated. A message that arrives in one piece is handed out without a
 * copy. One that arrives in fragments is gathered in a buffer that grows
 * with the bytes received, or, for a binary message (a chunk frame) while
 * frames is set, in a frame buffer (proto/chunk.h), which its consumer
 * may take instead of copying the payload out. */
#ifndef UPSTAGE_NET_RXBUF_H
#define UPSTAGE_NET_RXBUF_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ups_rxbuf {
	uint8_t *data;      /* owned: gathers messages, growing */
	uint8_t *frame_buf; /* owned: gathers frames (ups_chunk_buf_new) */
	size_t len;
	size_t cap;
	/* Set by the owner: binary messages that begin from now on are
	 * gathered in the frame buffer, which is full size at once. Only for
	 * a peer allowed to upload (a logged-in client, the relay's link),
	 * so that one byte from anyone else cannot reserve a MiB. */
	bool frames;
	bool active;  /* inside a multi-fragment message */
	bool binary;
	bool in_frame; /* this message is gathered in frame_buf */
	bool discarding; /* skipping the rest of an oversized message */
	/* Largest text message; 0 means UPS_LIMIT_TEXT_MSG_MAX. Only a peer
	 * that is trusted to frame its stream (the relay's link to upstaged)
	 * gets more, so that one oversized message can be answered instead
	 * of ending the connection. */
	size_t text_max;
};

struct ups_rxmsg {
	const uint8_t *data; /* borrowed: valid until the next feed/free */
	size_t len;
	bool binary;
	/* Set when data was gathered in the rx's frame buffer: until the next
	 * feed, the consumer may swap *frame_buf with another buffer from
	 * ups_chunk_buf_new(), keeping the one that holds data. */
	uint8_t **frame_buf;
};

/* Feeds the fragment in/len just received on wsi. Returns 1 with *msg set
 * when a whole message is ready, 0 when more fragments are expected, or
 * UPS_ERR_TOO_LARGE once when a message exceeds its limit (the rest of that
 * message is then discarded; callers usually answer and close), or
 * UPS_ERR_NO_MEMORY once when there was no room to gather it (the rest is
 * discarded too: a message is delivered whole or not at all). */
int ups_rxbuf_feed(struct ups_rxbuf *rx, struct lws *wsi, const void *in,
		   size_t len, struct ups_rxmsg *msg);

/* Variant with the frame facts given instead of read from a wsi (tests). */
int ups_rxbuf_feed_raw(struct ups_rxbuf *rx, bool first, bool final,
		       bool binary, const void *in, size_t len,
		       struct ups_rxmsg *msg);

void ups_rxbuf_free(struct ups_rxbuf *rx);

#endif
