/* upstage-relay: the controller-side websocket endpoint.
 *
 * Clients and machines connect here and log in; upstaged connects here too
 * (role "plugin") over the link it dials itself. The relay answers logins,
 * gives every authenticated client/machine connection an origin id, and
 * forwards envelopes and chunk frames between those connections and the one
 * linked upstaged, stamping "origin" on the way in and stripping it on the
 * way out. It keeps no other state.
 *
 * Hostile peers are bounded as upstaged bounds them: per-connection
 * output budgets (conn.h), caps and deadlines (gate.h), failed logins
 * throttled per source address (proto/net/throttle.h). Websocket
 * upgrades are accepted on "/" with version 13 only; plain HTTP requests
 * get 404 (405 for methods other than GET and HEAD), without a body. */
#ifndef UPSTAGE_RELAY_RELAY_H
#define UPSTAGE_RELAY_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "contrib/relay/gate.h"
#include "proto/net/auth.h"
#include "proto/net/throttle.h"
#include "proto/net/ws.h"

/* Buckets of the origin -> connection table (a power of two). */
#define RELAY_BUCKETS 4096

struct relay_conn;

struct relay {
	struct ups_ws ws;     /* context; its user pointer is this struct */
	struct ups_auth auth; /* owned; loaded by the caller */
	struct gate gate;     /* limits and their sweep */
	struct ups_throttle throttle; /* failed logins per address */
	struct relay_conn *plugin; /* the linked upstaged, or NULL */
	/* Authenticated client/machine connections by origin. */
	struct relay_conn *buckets[RELAY_BUCKETS];
	uint32_t last_origin;
	uint32_t last_dropped; /* origin of the last message dropped */
	bool stopping;         /* shutdown began: send nothing more */
	/* Counters for GET /metrics. rx_bytes[1]: from upstaged (the
	 * link), rx_bytes[0]: from clients and machines. */
	uint64_t rx_bytes[2];
	uint64_t dropped;      /* messages for an origin that is gone */
	uint64_t link_changes; /* upstaged linked or unlinked */
};

/* Prepares the limits of r on loop (borrowed) with cfg (copied); ws and
 * auth are the caller's. 0 or UPS_ERR_IO. */
int relay_init(struct relay *r, uv_loop_t *loop, const struct gate_config *cfg);

/* Shutdown: sends nothing more and drops every connection at once (a
 * peer that does not read cannot hold it up); then destroy the context. */
void relay_stop(struct relay *r);

/* The protocol table for ups_ws_config.protocols (upstage.v1 only);
 * ups_ws_config.user must point at the struct relay. */
extern const struct lws_protocols relay_protocols[];

#endif
