/* The machine commands: list-machines, upgrade-machine and
 * revert-machine (PROTOCOL.md "Machines"). With --wait the order's
 * session stays open and Machines.Progress pushes are printed until
 * every machine's order ended. */
#ifndef UPSTAGE_CLI_MACHINE_CMDS_H
#define UPSTAGE_CLI_MACHINE_CMDS_H

#include "contrib/cli/cli.h"

/* Indexes into ctx->opts for upgrade-machine, in the order of its
 * option table in commands.c; revert-machine has the last two. */
enum mcmd_upgrade_opt {
	MCMD_UPGRADE_AGENT_VERSION,
	MCMD_UPGRADE_STREAM,
	MCMD_UPGRADE_WAIT,
	MCMD_UPGRADE_WAIT_TIMEOUT,
};
enum mcmd_list_opt {
	MCMD_LIST_MODEL,
};
enum mcmd_revert_opt {
	MCMD_REVERT_WAIT,
	MCMD_REVERT_WAIT_TIMEOUT,
};

/* Command handlers; each returns an enum cli_exit value. */
int mcmd_list(struct cli_ctx *ctx);
int mcmd_upgrade(struct cli_ctx *ctx);
int mcmd_revert(struct cli_ctx *ctx);

#endif
