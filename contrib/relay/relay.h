/* upstage-relay: the controller-side websocket endpoint.
 *
 * Clients and machines connect here and log in; upstaged connects here too
 * (role "plugin") over the link it dials itself. The relay answers logins,
 * gives every authenticated client/machine connection an origin id, and
 * forwards envelopes and chunk frames between those connections and the one
 * linked upstaged, stamping "origin" on the way in and stripping it on the
 * way out. It keeps no other state. */
#ifndef UPSTAGE_RELAY_RELAY_H
#define UPSTAGE_RELAY_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/net/auth.h"
#include "proto/net/ws.h"

/* Buckets of the origin -> connection table (a power of two). */
#define RELAY_BUCKETS 4096

struct relay_conn;

struct relay {
	struct ups_ws ws;     /* context; its user pointer is this struct */
	struct ups_auth auth; /* owned; loaded by the caller */
	struct relay_conn *plugin; /* the linked upstaged, or NULL */
	/* Authenticated client/machine connections by origin. */
	struct relay_conn *buckets[RELAY_BUCKETS];
	uint32_t last_origin;
	uint32_t last_dropped; /* origin of the last message dropped */
	bool stopping;         /* shutdown began: send nothing more */
};

/* The protocol table for ups_ws_config.protocols (upstage.v1 only);
 * ups_ws_config.user must point at the struct relay. */
extern const struct lws_protocols relay_protocols[];

#endif
