/* A recording websocket peer for tests, usable on either side of a
 * connection: a fake relay's server session, a fake client, a fake
 * upstaged. What the test sends is queued (proto/net/outq.h) and written
 * one message per WRITEABLE callback; what arrives is reassembled without
 * a size limit (the peer is the test's eyes, not a defence) and recorded:
 * text messages parsed into a JSON array, binary messages as bytes. The
 * test's lws callback hands the connection's reasons to ws_peer_*().
 * Loop thread only; failures to queue fail the cmocka test. */
#ifndef UPSTAGE_TESTS_LIB_WS_PEER_H
#define UPSTAGE_TESTS_LIB_WS_PEER_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/net/outq.h"
#include "tests/lib/loop_wait.h"

struct ws_peer_bin {
	uint8_t *data; /* owned */
	size_t len;
};

struct ws_peer {
	struct lws *wsi; /* borrowed; NULL before connecting and once closed */
	void *user;      /* borrowed; the test's own pointer */
	struct ups_outq outq;
	uint8_t *rx; /* owned: the message being reassembled */
	size_t rxlen, rxcap;
	/* Owned array of what arrived as text, each parsed (JSON null when
	 * a message was not JSON). */
	json_t *texts;
	size_t texts_read;        /* how many ws_peer_next_text() handed out */
	struct ws_peer_bin *bins; /* owned */
	size_t nbins, bins_cap, bins_read;
	uint8_t *raw; /* owned: LWS_PRE + rawlen bytes to write unframed */
	size_t rawlen;
	bool established;
	bool connect_failed;
	bool closed;
};

/* Zeroes p and makes its queue; outq_max bounds what may wait to be sent.
 * Free with ws_peer_free(). */
void ws_peer_init(struct ws_peer *p, size_t outq_max, void *user);
void ws_peer_free(struct ws_peer *p);

/* The connection is up (ESTABLISHED / CLIENT_ESTABLISHED). */
void ws_peer_established(struct ws_peer *p, struct lws *wsi);
/* One fragment (RECEIVE / CLIENT_RECEIVE): 0, or -1 (out of memory). */
int ws_peer_receive(struct ws_peer *p, const void *in, size_t len);
/* (SERVER_ / CLIENT_)WRITEABLE: 0, or -1 when the write failed. */
int ws_peer_writeable(struct ws_peer *p);
/* CLOSED / CLIENT_CLOSED. */
void ws_peer_closed(struct ws_peer *p);

/* Queue a message: env is taken; text and data are copied. */
void ws_peer_send_json(struct ws_peer *p, json_t *env);
void ws_peer_send_text(struct ws_peer *p, const char *text, size_t len);
void ws_peer_send_binary(struct ws_peer *p, const void *data, size_t len);
/* Server side only: the n texts as unmasked websocket frames written back
 * to back with one lws_write(), so that they arrive together (a burst no
 * per-message write can produce). It goes out before anything queued;
 * only one burst may be pending. */
void ws_peer_send_burst(struct ws_peer *p, const char *const *texts, size_t n);

/* Client side: the same with the frames masked (a zero key, so the
 * bytes are unchanged), as a client must send them. */
void ws_peer_send_client_burst(struct ws_peer *p, const char *const *texts,
                               size_t n);

/* Cuts the connection at once, without a close handshake. */
void ws_peer_kill(struct ws_peer *p);

/* Waits with w for the next text (or binary) message not handed out yet
 * and returns it, borrowed from p. */
json_t *ws_peer_next_text(struct loop_wait *w, struct ws_peer *p);
const struct ws_peer_bin *ws_peer_next_binary(struct loop_wait *w,
                                              struct ws_peer *p);

#endif
