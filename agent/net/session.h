/* A direct websocket session: a peer (agent/rpc/peer.h) backed by one
 * accepted lws connection, with its output queue, message reassembly,
 * login failures and activity times. Sessions are created and freed by
 * the server (agent/net/server.h) on the loop thread.
 *
 * Output is bounded by what a peer has earned: before login a small
 * budget (UPS_LIMIT_PRELOGIN_OUTQ_BYTES), after it UPS_LIMIT_OUTQ_BYTES;
 * either counts real memory (proto/net/outq.h). A peer whose queue passes
 * half its budget is not read from until the queue drained to a quarter
 * (it cannot make us queue more while it does not read); a full queue
 * closes it. */
#ifndef UPSTAGE_AGENT_NET_SESSION_H
#define UPSTAGE_AGENT_NET_SESSION_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/rpc/peer.h"
#include "proto/net/outq.h"
#include "proto/net/rxbuf.h"

/* Why reads from a session are paused (any reason pauses). */
#define SESSION_PAUSE_UPLOAD 0x1u /* an upload's window was overrun */
#define SESSION_PAUSE_OUTPUT 0x2u /* our answers to it pile up */

struct session;

/* Told when the session logs in (its role is set). */
typedef void (*session_login_cb)(void *arg, struct session *s);

struct session {
	struct peer peer; /* first: a struct peer * is a struct session * */
	struct lws *wsi;  /* borrowed; valid until LWS_CALLBACK_CLOSED */
	struct ups_outq outq;
	struct ups_rxbuf rx;
	uint64_t connected_ms;     /* loop time it was accepted */
	uint64_t last_rx_ms;       /* loop time of the last received fragment */
	unsigned paused;           /* SESSION_PAUSE_* reasons */
	uint64_t output_paused_ms; /* when SESSION_PAUSE_OUTPUT began */
	session_login_cb on_login;
	void *on_login_arg;
	/* Set once a close was asked for: the queue is flushed, then the
	 * connection closed. */
	bool closing;
	const char *close_why; /* static string, for the log */
	/* Loop time after which a closing session is dropped whatever lws
	 * still waits for (a peer that never reads keeps lws's own send
	 * buffer from draining); see session_overdue(). */
	uint64_t close_deadline_ms;
	struct session *prev, *next; /* the server's list */
	/* The server's list of sessions not logged in yet, oldest first. */
	struct session *pend_prev, *pend_next;
	bool pending;
	uv_loop_t *loop; /* borrowed: its clock */
};

/* Allocates a session for wsi (borrowed), not logged in, on loop
 * (borrowed). NULL on allocation failure. Free with session_free(). */
struct session *session_new(struct lws *wsi, uint64_t id, uv_loop_t *loop);
void session_free(struct session *s);

/* Asks for the connection to close once queued messages have gone. A
 * peer that does not read gets 5 s. why: static string for the log. */
void session_close(struct session *s, const char *why);

/* Drops the connection without flushing what is queued: for a peer that
 * does not read (a flush would wait on it). From inside one of s's own
 * lws callbacks it is dropped as soon as lws is back in its loop; from
 * anywhere else (now: true) before this returns, and s is then freed
 * (through LWS_CALLBACK_CLOSED). why: static string for the log. */
void session_kill(struct session *s, const char *why, bool now);

/* Whether s was asked to close and is still there past its deadline:
 * the caller then drops it with session_kill(s, ..., true). */
bool session_overdue(const struct session *s, uint64_t now_ms);

/* The LWS_CALLBACK_SERVER_WRITEABLE work: 0 to keep going, -1 when lws
 * must close the connection now. */
int session_writeable(struct session *s);

static inline struct session *session_from_peer(struct peer *p)
{
	return (struct session *)p;
}

#endif
