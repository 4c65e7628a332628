/* upstage-machine: a real machine agent. It registers with upstaged (or
 * the relay) through magent.h and carries orders out on the machine's
 * own disk, in Juju's layout (unpack.h):
 *
 *   upgrade:  ordered -> downloading (fetch.h: Range resume, size and
 *             SHA-256 checked as bytes arrive) -> verifying (unpack,
 *             flat regular files only) -> staged -> restarting (switch
 *             DIR/tools/machine-<id>, run the restart command) ->
 *             health-wait (run the health command until it passes or
 *             the health timeout ends) -> healthy; not healthy: switch
 *             back, restart, failed (with the reason).
 *   revert:   reverting (switch back to the previous version, which is
 *             still on disk) -> restart -> health -> reverted.
 *
 * Every step is recorded in DIR/upstage-machine.json (mstate.h) before
 * the next starts, so an agent killed at any point resumes the order
 * where it was; an order id delivered again (after a reconnect or an
 * upstaged restart) continues or is answered with its outcome, never
 * carried out twice. Blocking disk work runs in libuv's thread pool. */
#ifndef UPSTAGE_CONTRIB_MACHINE_MACHINE_H
#define UPSTAGE_CONTRIB_MACHINE_MACHINE_H

#include <stdint.h>

struct machine_config {
	const char *agent_url;
	const char *token;
	const char *ca_cert;     /* NULL: system */
	const char *download_ca; /* for https:// downloads; NULL: system */
	const char *machine_id;  /* checked */
	const char *data_dir;
	const char *release;     /* checked */
	const char *model;       /* checked, or NULL: controller */
	const char *arch;        /* checked */
	const char *version;     /* canonical */
	const char *restart_cmd; /* NULL: none */
	const char *health_cmd;  /* NULL: always healthy */
	uint64_t health_timeout_ms;
	uint64_t backoff_initial_ms;
	uint64_t backoff_max_ms;
};

/* Runs the agent until SIGINT or SIGTERM. Returns the exit status: 0
 * after a clean stop, 1 when it cannot start. */
int machine_run(const struct machine_config *cfg);

#endif
