/* The controller link: upstaged dials the controller's relay, logs in as
 * role "plugin", and serves the requests the relay forwards (each carries
 * "origin", the relay's id of the connection it came from). Connections
 * the relay announces with Relay.Opened become relayed peers
 * (agent/peer.h) until Relay.Closed or the link goes down.
 *
 * States: waiting (backoff timer) -> resolving (uv_getaddrinfo, never
 * blocking) -> connecting -> logging-in -> up; any failure goes back to
 * waiting with capped exponential backoff and full jitter
 * (agent/backoff.h), forever. A successful login resets the backoff and
 * prints "controller link up" on stdout.
 *
 * The jitter's random source and the reconnect wait are fields of struct
 * link, set by link_init() to the daemon's (a per-process xorshift and a
 * uv timer); tests replace them to pin the delays and to end each wait
 * when they choose (tests/unit/agent/net/test_link.c). */
#ifndef UPSTAGE_AGENT_NET_LINK_H
#define UPSTAGE_AGENT_NET_LINK_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/net/backoff.h"
#include "agent/rpc/dispatch.h"
#include "agent/rpc/peer.h"
#include "proto/limits.h"
#include "proto/net/outq.h"
#include "proto/net/rxbuf.h"
#include "proto/net/url.h"
#include "proto/net/ws.h"

enum link_state {
	LINK_WAITING,
	LINK_RESOLVING,
	LINK_CONNECTING,
	LINK_LOGGING_IN,
	LINK_UP,
	LINK_STOPPED,
};

/* A connection at the relay, reached through the link. */
struct link_peer {
	struct peer peer; /* first */
	struct link *link;
	uint32_t origin;
	struct link_peer *next; /* bucket chain */
};

#define LINK_BUCKETS 256

/* Reads from the relay pause once more than LINK_RX_PAUSE_BYTES of answers
 * are queued for it, and resume below LINK_RX_RESUME_BYTES. */
#define LINK_RX_PAUSE_BYTES  (1024 * 1024)
#define LINK_RX_RESUME_BYTES (256 * 1024)

/* Told that the link waits delay_ms before its next attempt; it ends the
 * wait by calling link_wait_over() later, from the loop, never from inside
 * this call. user is struct link's wait_user. */
typedef void (*link_wait_fn)(void *user, uint64_t delay_ms);

struct link {
	uv_loop_t *loop;           /* borrowed */
	struct ups_ws *ws;         /* borrowed */
	struct dispatch *dispatch; /* borrowed */
	struct ups_url url;
	char token[UPS_LIMIT_TOKEN_LEN + 1];
	uint64_t backoff_initial_ms;
	uint64_t backoff_max_ms;
	unsigned attempt; /* failures since the last successful login */
	uint64_t rng;     /* xorshift state of the default random source */
	/* The jitter's random source; link_init() sets the xorshift. */
	backoff_random_fn random;
	void *random_user; /* borrowed */
	/* The reconnect wait: NULL (link_init()'s default) runs it on
	 * timer; a hook is told each delay instead. */
	link_wait_fn wait;
	void *wait_user; /* borrowed */
	enum link_state state;
	struct lws *wsi; /* the current connection, or NULL */
	struct ups_outq outq;
	struct ups_rxbuf rx;
	bool rx_paused; /* reads paused until queued answers drain */
	bool dying;     /* being dropped: send nothing more */
	uint64_t next_request_id;
	uint64_t login_request_id;
	uv_timer_t timer;
	bool timer_open;
	uv_getaddrinfo_t resolver;
	bool resolving;
	struct link_peer *peers[LINK_BUCKETS];
	unsigned npeers;
};

/* Prepares the link to url with token (both copied). Does not connect
 * yet. 0, UPS_ERR_BAD_REQUEST (bad URL) or UPS_ERR_IO. */
int link_init(struct link *l, uv_loop_t *loop, struct ups_ws *ws,
              struct dispatch *dispatch, const char *url, const char *token,
              uint64_t backoff_initial_ms, uint64_t backoff_max_ms, char *err,
              size_t errlen);

/* Starts the first connection attempt at once (a wait of 0 ms). */
void link_start(struct link *l);

/* Ends the current wait: the next attempt starts now. Does nothing unless
 * the link is waiting. The timer calls it; with a wait hook installed,
 * whoever installed it does. */
void link_wait_over(struct link *l);

/* True if wsi is the link's connection: the caller routes its callbacks
 * here. */
bool link_owns(const struct link *l, const struct lws *wsi);

/* Handles the client-side lws callback reasons for the link's wsi. */
int link_callback(struct link *l, struct lws *wsi,
                  enum lws_callback_reasons reason, void *in, size_t len);

/* "connected" when logged in, else "disconnected". */
const char *link_state_name(const struct link *l);

/* Shutdown: no more reconnects; closes the timer and cancels a pending
 * resolution. The connection itself is closed by lws's context destroy. */
void link_stop(struct link *l);

/* After the loop has ended: frees peers and buffers. */
void link_free(struct link *l);

#endif
