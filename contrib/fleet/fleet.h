/* upstage-fleet: N simulated machine agents in one process, on one libuv
 * loop and one lws context (contrib/machine/magent.h), one websocket
 * each, spread evenly over the release x arch groups and speaking the
 * protocol upstage-machine speaks.
 *
 * Orders are carried out for real as far as the network goes: each
 * binary version is downloaded once (contrib/machine/fetch.h, into a
 * scratch directory) for every machine that needs it, and every machine
 * then checks the downloaded size and SHA-256 against its own order.
 * work_ms stands for the restart and the health check. Faults are drawn
 * per machine and order from a generator seeded by (seed, machine
 * index), in a fixed order, so the same seed makes the same machines
 * fail the same way whatever the timing: download error, verification
 * failure, never healthy, crash mid-order (the connection is dropped,
 * the order forgotten; the machine comes back with its old version),
 * silent (stops reporting and heartbeating).
 *
 * report_path gets one JSON line per order received and per state
 * reported (README "Machine agents" gives the format). Loop thread only.
 */
#ifndef UPSTAGE_CONTRIB_FLEET_FLEET_H
#define UPSTAGE_CONTRIB_FLEET_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

#define FLEET_GROUPS_MAX 64

struct fleet_config {
	const char *agent_url;
	const char *token;
	const char *ca_cert;
	const char *download_ca; /* for https:// downloads; NULL: system */
	unsigned machines;
	const char *model; /* every machine's model, or NULL: controller */
	const char *releases[FLEET_GROUPS_MAX];
	size_t nreleases;
	const char *arches[FLEET_GROUPS_MAX];
	size_t narches;
	const char *version; /* canonical */
	const char *id_prefix;
	uint64_t work_ms;
	double p_download, p_verify, p_health, p_crash, p_silent;
	uint64_t seed;
	const char *report_path; /* NULL: none */
	unsigned max_connecting;
	uint64_t backoff_initial_ms;
	uint64_t backoff_max_ms;
};

/* Runs the fleet until SIGINT or SIGTERM. Exit status: 0, or 1 when it
 * cannot start. */
int fleet_run(const struct fleet_config *cfg);

#endif
