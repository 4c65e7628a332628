/* A direct websocket session: a peer (agent/peer.h) backed by one
 * accepted lws connection, with its output queue, message reassembly,
 * login failures and last-activity time. Sessions are created and freed
 * by the server (agent/server.h) on the loop thread. */
#ifndef UPSTAGE_AGENT_NET_SESSION_H
#define UPSTAGE_AGENT_NET_SESSION_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/rpc/peer.h"
#include "proto/net/outq.h"
#include "proto/net/rxbuf.h"

struct session {
	struct peer peer; /* first: a struct peer * is a struct session * */
	struct lws *wsi;  /* borrowed; valid until LWS_CALLBACK_CLOSED */
	struct ups_outq outq;
	struct ups_rxbuf rx;
	uint64_t last_rx_ms; /* loop time of the last received fragment */
	/* Set once a close was asked for: the queue is flushed, then the
	 * connection closed. */
	bool closing;
	const char *close_why;       /* static string, for the log */
	struct session *prev, *next; /* the server's list */
};

/* Allocates a session for wsi (borrowed). NULL on allocation failure.
 * Free with session_free(). */
struct session *session_new(struct lws *wsi, uint64_t id, uint64_t now_ms);
void session_free(struct session *s);

/* Asks for the connection to close once queued messages have gone. A
 * peer that does not read gets 5 s. why: static string for the log. */
void session_close(struct session *s, const char *why);

/* The LWS_CALLBACK_SERVER_WRITEABLE work: 0 to keep going, -1 when lws
 * must close the connection now. */
int session_writeable(struct session *s);

static inline struct session *session_from_peer(struct peer *p)
{
	return (struct session *)p;
}

#endif
