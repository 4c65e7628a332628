/* The rollout commands (PROTOCOL.md "Rollouts"): upgrade-controller,
 * upgrade-status, upgrade-promote, upgrade-pause, upgrade-resume and
 * upgrade-abort, upgrade-rollback. With --wait or --watch the session stays
 * open and Rollouts.Event pushes are printed until the rollout stops moving. */
#ifndef UPSTAGE_CLI_ROLLOUT_CMDS_H
#define UPSTAGE_CLI_ROLLOUT_CMDS_H

#include <stdint.h>

#include "contrib/cli/cli.h"

/* Indexes into ctx->opts for upgrade-controller, in the order of its
 * option table in commands.c. */
enum rcmd_upgrade_opt {
	RCMD_AGENT_VERSION,
	RCMD_CLIENT_VERSION,
	RCMD_STREAM,
	RCMD_SELECT,
	RCMD_CANARY,
	RCMD_BATCH,
	RCMD_MAX_UNAVAILABLE,
	RCMD_FAILURE_BUDGET,
	RCMD_MIN_HEALTHY,
	RCMD_MACHINE_DEADLINE,
	RCMD_DEADLINE,
	RCMD_MANUAL_PROMOTE,
	RCMD_ON_BUDGET,
	RCMD_DRY_RUN,
	RCMD_WAIT,
	RCMD_MODEL, /* upgrade-model only */
};
/* upgrade-status. */
enum rcmd_status_opt {
	RCMD_STATUS_WATCH,
};

/* "90s", "5m", "1h", "250ms" or plain seconds into *ms. 0 or -1. */
int rcmd_duration(const char *s, int64_t *ms);

int rcmd_upgrade(struct cli_ctx *ctx); /* upgrade-controller, -model */
int rcmd_status(struct cli_ctx *ctx);
int rcmd_promote(struct cli_ctx *ctx);
int rcmd_pause(struct cli_ctx *ctx);
int rcmd_resume(struct cli_ctx *ctx);
int rcmd_abort(struct cli_ctx *ctx);
int rcmd_rollback(struct cli_ctx *ctx);

#endif
