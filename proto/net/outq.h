/* A bounded queue of outgoing websocket messages for one session.
 *
 * lws allows one lws_write() per WRITEABLE callback, so senders queue here
 * and the session's WRITEABLE handler drains one message at a time. Each
 * message carries LWS_PRE bytes of headroom. The byte bound stops a peer
 * that does not read from growing our memory: a full queue is
 * UPS_ERR_BUSY and the caller decides (usually: close that session). The
 * bound counts what the queue really holds: every message costs its
 * payload plus a fixed overhead (ups_outq_cost), so a flood of tiny
 * messages is bounded like a few big ones. */
#ifndef UPSTAGE_NET_OUTQ_H
#define UPSTAGE_NET_OUTQ_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ups_outq_msg;

struct ups_outq {
	struct ups_outq_msg *head; /* owned list */
	struct ups_outq_msg *tail;
	size_t bytes;     /* memory held: ups_outq_cost() of each message */
	size_t max_bytes; /* bound on bytes */
	size_t count;
	bool self_mask; /* client side: frame and mask binary messages here */
};

void ups_outq_init(struct ups_outq *q, size_t max_bytes);

/* What a message of payload bytes costs in a queue: the payload and the
 * message's own overhead (header, LWS_PRE headroom, allocator). */
size_t ups_outq_cost(size_t payload);
/* Client connections only: binary messages are framed and masked by
 * ups_ws_client_frame() (a word at a time) and handed to lws as raw bytes.
 * lws 4.1 masks client payloads a byte at a time, which caps bulk uploads
 * near 350 MiB/s on the machines we measured; its raw path still does the
 * TLS and the buffering of partial sends. */
void ups_outq_set_self_mask(struct ups_outq *q, bool on);

/* Largest header ups_ws_client_frame() writes: 2 + 8 length + 4 mask. */
#define UPS_WS_CLIENT_HEADER_MAX 14

/* Builds an unfragmented, masked binary websocket frame (RFC 6455 5.2)
 * around payload in place: masks len payload bytes with key and writes the
 * header into the UPS_WS_CLIENT_HEADER_MAX bytes before payload, which
 * the caller provides. Returns the header length; the frame starts at
 * payload - returned length. */
size_t ups_ws_client_frame(unsigned char *payload, size_t len,
			   const unsigned char key[4]);

/* Frees every queued message. */
void ups_outq_clear(struct ups_outq *q);

/* Queues one message made of a (alen bytes) then b (blen bytes, may be
 * NULL/0); both copied. 0, UPS_ERR_BUSY (bound reached) or
 * UPS_ERR_NO_MEMORY. */
int ups_outq_push(struct ups_outq *q, bool binary, const void *a, size_t alen,
		  const void *b, size_t blen);

/* Zero-copy sending: make a message of len bytes, fill the bytes that
 * ups_outq_msg_data() points at, then queue it with ups_outq_append(),
 * which takes it whatever it returns (0, UPS_ERR_BUSY). NULL on allocation
 * failure; free an unqueued message with ups_outq_msg_free(). */
struct ups_outq_msg *ups_outq_msg_new(bool binary, size_t len);
unsigned char *ups_outq_msg_data(struct ups_outq_msg *m);
void ups_outq_msg_free(struct ups_outq_msg *m);
int ups_outq_append(struct ups_outq *q, struct ups_outq_msg *m);

/* Client side: frames and masks the binary message m in place now, as
 * ups_ws_client_frame() does, so that the queue later writes it as raw
 * bytes. Touches only m, so it may run on a worker thread (the CLI masks
 * where it reads and hashes, off its loop thread). Only for a queue that
 * frames its own binary messages (ups_outq_set_self_mask). 0,
 * UPS_ERR_BAD_REQUEST (not binary, or framed already) or
 * UPS_ERR_INTERNAL (no random bytes for the key). */
int ups_outq_msg_frame(struct ups_outq_msg *m);

/* Tags the most recently queued message (tags start at 0), so that
 * ups_outq_drop_tag() can later remove what one source queued: the relay
 * tags what it forwards with the sender's origin and drops it when the
 * sender goes, instead of making every other client wait behind it. */
void ups_outq_tag_last(struct ups_outq *q, uint32_t tag);
/* Removes every queued message tagged tag (not 0); returns how many. */
size_t ups_outq_drop_tag(struct ups_outq *q, uint32_t tag);

/* Serialises env (borrowed) compactly and queues it as a text message.
 * UPS_ERR_TOO_LARGE (nothing queued) when it is longer than
 * UPS_LIMIT_TEXT_MSG_MAX, the limit every peer enforces. */
int ups_outq_push_json(struct ups_outq *q, const json_t *env);

/* Convenience: queue and ask lws for a WRITEABLE callback on wsi. */
int ups_outq_send(struct ups_outq *q, struct lws *wsi, bool binary,
		  const void *a, size_t alen, const void *b, size_t blen);
int ups_outq_send_json(struct ups_outq *q, struct lws *wsi, const json_t *env);

/* Call from the WRITEABLE callback: writes the head message with one
 * lws_write(). Returns 1 if messages remain (it has already asked for the
 * next WRITEABLE), 0 if the queue is empty, or UPS_ERR_IO if the write
 * failed (close the session). */
int ups_outq_write_one(struct ups_outq *q, struct lws *wsi);

static inline bool ups_outq_empty(const struct ups_outq *q)
{
	return q->head == NULL;
}

#endif
