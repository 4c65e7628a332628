/* The agent binary commands: sync-agent-binary, list-agent-binaries and
 * remove-agent-binary. */
#ifndef UPSTAGE_CLI_SYNC_CMDS_H
#define UPSTAGE_CLI_SYNC_CMDS_H

#include "contrib/cli/cli.h"

/* Indexes into ctx->opts for sync-agent-binary, in the order of its option
 * table in commands.c. */
enum scmd_sync_opt {
	SCMD_SYNC_SOURCE,
	SCMD_SYNC_AGENT_VERSION,
	SCMD_SYNC_STREAM,
	SCMD_SYNC_CLIENT_VERSION,
	SCMD_SYNC_DRY_RUN,
	SCMD_SYNC_RETRIES,
	SCMD_SYNC_MAX_RATE,
	SCMD_SYNC_PARALLEL,
	SCMD_SYNC_FORCE,
	SCMD_SYNC_VERSION, /* the seed's older name of --agent-version */
	SCMD_SYNC_KEYRING,
	SCMD_SYNC_ALLOW_UNSIGNED,
};

/* Command handlers; each returns an enum cli_exit value. */
int scmd_sync(struct cli_ctx *ctx);
int scmd_list(struct cli_ctx *ctx);
int scmd_remove(struct cli_ctx *ctx);

#endif
