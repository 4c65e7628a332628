/* Machine agent sessions: the machine side of PROTOCOL.md "Machine",
 * shared by upstage-machine (one session) and upstage-fleet (thousands).
 * A hub owns one lws context on the caller's libuv loop; each struct
 * magent is one machine with one websocket: connect, Admin.Login as
 * role machine, Machine.Register, then its status as Machine.Report
 * whenever it changes and every heartbeat-seconds (what Register
 * answered), and orders handed to the owner. A lost connection is
 * dialled again after a capped exponential backoff with full jitter
 * (proto/net/backoff.h), forever; after each registration the current
 * status is reported again, and upstaged re-sends an open order.
 *
 * The hub dials at most max_connecting sessions at once and queues the
 * rest, so a fleet that starts (or comes back) all at once does not
 * overrun the server's accept queue.
 *
 * Ownership: the caller allocates hubs and sessions (like libuv
 * handles); strings are copied. Callbacks run on the loop thread, never
 * from inside an lws callback's own call into the caller's API. Loop
 * thread only. */
#ifndef UPSTAGE_CONTRIB_MACHINE_MAGENT_H
#define UPSTAGE_CONTRIB_MACHINE_MAGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "proto/limits.h"
#include "proto/machine.h"
#include "proto/net/outq.h"
#include "proto/net/rxbuf.h"
#include "proto/net/url.h"
#include "proto/net/ws.h"

struct magent;

struct magent_hub_config {
	uv_loop_t *loop;     /* borrowed */
	const char *url;     /* ws:// or wss:// of upstaged or the relay */
	const char *token;   /* machine token */
	const char *ca_cert; /* PEM CA for wss; NULL: system */
	uint64_t backoff_initial_ms;
	uint64_t backoff_max_ms;
	unsigned max_connecting; /* 0: 64 */
};

struct magent_hub {
	uv_loop_t *loop;
	struct ups_ws ws;
	bool ws_ready;
	struct ups_url url;
	char address[64]; /* numeric address of url's host */
	char token[UPS_LIMIT_TOKEN_LEN + 1];
	struct lws_protocols protocols[2];
	uint64_t backoff_initial_ms;
	uint64_t backoff_max_ms;
	uint64_t rng;
	unsigned max_connecting;
	unsigned connecting;
	struct magent *queue_head, *queue_tail; /* waiting to dial */
	unsigned registered;                    /* sessions registered now */
	bool stopping;
};

/* What a session tells its owner. */
struct magent_ops {
	/* Registered (again): the current status has been reported. */
	void (*registered)(struct magent *m);
	/* An order or revert push, checked by ups_order_parse(); borrowed. */
	void (*order)(struct magent *m, const struct ups_order *o);
	/* The connection went away (it is dialled again). */
	void (*disconnected)(struct magent *m);
};

enum magent_conn {
	MAGENT_IDLE,       /* not started, or stopped */
	MAGENT_WAITING,    /* backoff, or queued to dial */
	MAGENT_CONNECTING, /* websocket handshake */
	MAGENT_LOGIN,      /* Admin.Login sent */
	MAGENT_REGISTER,   /* Machine.Register sent */
	MAGENT_UP,
};

struct magent {
	struct magent_hub *hub; /* borrowed */
	const struct magent_ops *ops;
	void *data; /* the owner's */
	char id[UPS_LIMIT_MACHINE_ID_LEN + 1];
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	/* The model it registers in ("": upstaged's default, controller);
	 * the owner may set it after magent_start(), before the loop runs. */
	char model[UPS_LIMIT_MACHINE_ID_LEN + 1];
	/* The status reported. */
	char version[UPS_LIMIT_VERSION_LEN + 1];
	enum ups_machine_state state;
	char order_id[UPS_LIMIT_ORDER_ID_LEN + 1];
	int progress;
	char reason[257];
	bool silent; /* send nothing (the fleet's silent fault) */
	/* Private. */
	enum magent_conn conn;
	struct lws *wsi;
	struct ups_outq outq;
	struct ups_rxbuf rx;
	uv_timer_t timer; /* backoff, then heartbeats */
	bool timer_open;
	bool stopped;
	bool counted_connecting;
	unsigned attempt;
	unsigned heartbeat_s;
	uint64_t next_id;
	uint64_t login_id;
	uint64_t register_id;
	struct magent *qnext;
	bool queued;
};

/* Creates the lws context (client only) and resolves the URL's host
 * once (blocking: call before the loop runs). 0, or UPS_ERR_BAD_REQUEST /
 * UPS_ERR_IO with err. */
int magent_hub_init(struct magent_hub *h, const struct magent_hub_config *cfg,
                    char *err, size_t errlen);

/* Stops every session's reconnects and starts the context's destroy;
 * uv_run() returns once the owners' handles are closed too. */
void magent_hub_stop(struct magent_hub *h);

/* After uv_run() returned: the second destroy. */
void magent_hub_finish(struct magent_hub *h);

/* Prepares m for machine id (release, arch, version: checked by the
 * caller) and starts dialling (after delay_ms: a fleet spreads its
 * start). 0 or UPS_ERR_IO. */
int magent_start(struct magent *m, struct magent_hub *h,
                 const struct magent_ops *ops, void *data, const char *id,
                 const char *release, const char *arch, const char *version,
                 uint64_t delay_ms);

/* Sets the status and reports it at once when registered (unless
 * silent). order_id NULL: none; progress -1: none; reason NULL: none. */
void magent_status(struct magent *m, enum ups_machine_state state,
                   const char *order_id, int progress, const char *version,
                   const char *reason);

/* Drops the connection at once, as a crash would; it is dialled again
 * after a backoff. */
void magent_kill(struct magent *m);

/* Stops m for good: closes its timer; its connection goes with the
 * hub's context (magent_hub_stop()). */
void magent_stop(struct magent *m);

/* After the loop ended: frees m's buffers. */
void magent_free(struct magent *m);

#endif
