/* One connection accepted by upstage-relay (a client, a machine, or the
 * linked upstaged) and what may be done to it: queue a message, pause or
 * resume reading it, close it after a flush, or drop it at once.
 *
 * Output is bounded by what a peer has earned, counting real memory
 * (proto/net/outq.h): before login UPS_LIMIT_PRELOGIN_OUTQ_BYTES, after
 * it UPS_LIMIT_OUTQ_BYTES. A peer not logged in whose queue passes half
 * its budget is dropped at once (it does not read its answers); a logged
 * in client or machine is not read from above half until the queue has
 * drained to a quarter (the sweep, gate.h, drops one that stays paused);
 * a full queue drops it. The link to upstaged is never paused: its queue
 * holds what clients send, bounded by RELAY_LINK_DATA_BYTES (beyond it
 * the sender is told busy), plus RELAY_LINK_RESERVE_BYTES for what the
 * relay itself tells upstaged (Relay.Opened/Closed), so that no client's
 * traffic can make the relay drop the link.
 *
 * The memory is lws's per-session data; loop thread only. */
#ifndef UPSTAGE_RELAY_CONN_H
#define UPSTAGE_RELAY_CONN_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "contrib/relay/clock.h"
#include "proto/limits.h"
#include "proto/net/addr.h"
#include "proto/net/auth.h"
#include "proto/net/outq.h"
#include "proto/net/rxbuf.h"

/* What clients send upstaged may queue this much on the link; past it
 * they are answered busy rather than buffered without bound. */
#define RELAY_LINK_DATA_BYTES (8 * (size_t)UPS_LIMIT_OUTQ_BYTES)
/* Room beyond that for the relay's own messages to upstaged. */
#define RELAY_LINK_RESERVE_BYTES ((size_t)1024 * 1024)
/* Largest text message read from upstaged: a message over the text limit
 * is still read whole (up to this) so that the client it was for can be
 * told; beyond this it is dropped unread. The link stays either way. */
#define RELAY_LINK_TEXT_MAX (16 * (size_t)UPS_LIMIT_TEXT_MSG_MAX)

/* Seconds a connection told to close may take to flush its last answer
 * before lws cuts it (a peer that does not read never becomes writable);
 * the sweep drops it a second after that whatever lws waits for. */
#define RELAY_CLOSE_GRACE_SECS 5

struct relay;

struct relay_conn {
	struct relay *relay; /* borrowed */
	struct lws *wsi;     /* borrowed; valid until LWS_CALLBACK_CLOSED */
	const struct relay_clock *clock; /* borrowed: the gate's */
	struct relay_conn *next; /* chain in relay->buckets */
	/* Every connection (gate.h), and those not logged in, oldest
	 * first. */
	struct relay_conn *all_prev, *all_next;
	struct relay_conn *pend_prev, *pend_next;
	struct ups_outq outq;
	struct ups_rxbuf rx;
	enum ups_role role; /* UPS_ROLE_NONE until logged in */
	uint32_t origin;    /* > 0 for authenticated client/machine */
	int login_failures;
	char addr[UPS_ADDR_HOST_LEN + 1]; /* the peer's address, or "" */
	uint64_t connected_ms;            /* the clock when accepted */
	uint64_t paused_ms;               /* when reads were paused */
	uint64_t close_deadline_ms;       /* see conn_overdue() */
	const char *close_why;            /* static string, for the log */
	bool live;     /* ESTABLISHED seen, CLOSED not yet */
	bool pending;  /* on the list of those not logged in */
	bool counted;  /* counts against max-sessions */
	bool paused;   /* reads paused: its answers pile up */
	bool closing;  /* ignore input; close once the queue is flushed */
};

/* Makes c (lws's zeroed per-session memory) a new connection of relay r
 * on wsi, not logged in, with the pre-login budget; its times are read
 * from clock. r and clock are borrowed. */
void conn_init(struct relay_conn *c, struct relay *r, struct lws *wsi,
               const struct relay_clock *clock);

/* Frees what c holds (its queue and reassembly buffer). */
void conn_free(struct relay_conn *c);

/* c logged in as role: the budget of its role. */
void conn_logged_in(struct relay_conn *c, enum ups_role role);

/* Queues env (taken; NULL means allocation failed) for c. On a full
 * queue (or no memory) c is dropped. Returns 0, UPS_ERR_TOO_LARGE
 * (nothing queued, c untouched: the caller answers), or the error that
 * dropped c. */
int conn_send(struct relay_conn *c, json_t *env);
/* An error answer for request_id; a push Error.<what> without one. */
void conn_send_error(struct relay_conn *c, uint64_t request_id, int code,
                     const char *text);
void conn_push_error(struct relay_conn *c, const char *what, int code,
                     const char *text);
/* Queues a chunk frame (head then payload, both copied) for a client or
 * machine c. 0, or the error that dropped c. */
int conn_send_chunk(struct relay_conn *c, const void *head, size_t hlen,
                    const void *payload, size_t len);

/* Asks for c to close once what is queued has gone (why: static string
 * for the log). */
void conn_close_soon(struct relay_conn *c, const char *why);

/* Drops c without flushing: for a peer that does not read. From inside
 * one of c's own lws callbacks it goes when lws is back in its loop
 * (now: false); from anywhere else (now: true) before this returns, and
 * c is then freed through LWS_CALLBACK_CLOSED. */
void conn_kill(struct relay_conn *c, const char *why, bool now);

/* Whether c was asked to close and is still there past its deadline:
 * the caller then drops it with conn_kill(c, ..., true). */
bool conn_overdue(const struct relay_conn *c, uint64_t now_ms);

/* The LWS_CALLBACK_SERVER_WRITEABLE work: 0, or -1 when lws must close
 * the connection now. */
int conn_writeable(struct relay_conn *c);

#endif
