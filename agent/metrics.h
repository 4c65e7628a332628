/* /metrics: upstaged's figures in Prometheus text format (0.0.4), read
 * from the parts it is made of at each scrape (their counters, gauges
 * and histograms; nothing is sampled in between but the loop's lag).
 *
 * Families (units by Prometheus conventions): sessions by role, bytes
 * received, uploads begun / committed / failed by error code, upload
 * bytes in flight, commit latency, binaries and bytes stored by stream,
 * HTTP responses and bytes by status, machines by state (connected,
 * lost), orders sent, rollouts by state (counted from the journal), the
 * latest rollout's state and its machines by state, journal write latency, loop
 * lag, resident memory and open descriptors.
 *
 * Ownership: the sources are borrowed for the life of struct metrics.
 * Loop thread only. */
#ifndef UPSTAGE_AGENT_METRICS_H
#define UPSTAGE_AGENT_METRICS_H

#include <stdint.h>
#include <uv.h>

#include "agent/ingest/upload.h"
#include "agent/net/http.h"
#include "agent/net/server.h"
#include "agent/publish/publisher.h"
#include "agent/rollout/registry.h"
#include "agent/rollout/rollouts.h"

/* Where the figures come from; any may be NULL (not running). */
struct metrics_sources {
	const struct server *server;
	const struct http *http;
	const struct upload_engine *uploads;
	const struct publisher *publisher;
	const struct registry *registry;
	const struct rollouts *rollouts;
};

struct metrics {
	uv_loop_t *loop;
	struct metrics_sources src;
	uv_timer_t lag_timer;
	bool timer_open;
	uint64_t lag_expected_ms; /* loop time the timer should fire */
	double lag_seconds;       /* the largest of the last interval */
	double lag_max_seconds;   /* since the last scrape */
	uint64_t scrapes;
};

/* Starts the loop-lag timer (every METRICS_LAG_INTERVAL_MS). 0 or
 * UPS_ERR_IO. */
int metrics_init(struct metrics *m, uv_loop_t *loop,
                 const struct metrics_sources *src);

/* Closes the timer (the loop must run once more). */
void metrics_stop(struct metrics *m);

/* The text of a scrape: *text (malloc'd, the caller frees) of *len
 * bytes. 0 or UPS_ERR_NO_MEMORY. */
int metrics_render(struct metrics *m, char **text, size_t *len);

/* The /metrics route of agent/net/http.h (data: struct metrics). */
int metrics_http_open(void *data, const char *path, struct http_request *req);

#define METRICS_LAG_INTERVAL_MS 250

#endif
