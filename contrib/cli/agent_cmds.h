/* The commands that talk to upstaged: ping and info. */
#ifndef UPSTAGE_CLI_AGENT_CMDS_H
#define UPSTAGE_CLI_AGENT_CMDS_H

#include <jansson.h>
#include <stdio.h>

#include "contrib/cli/cli.h"

/* Command handlers; each returns an enum cli_exit value. */
int acmd_ping(struct cli_ctx *ctx);
int acmd_info(struct cli_ctx *ctx);

/* The plain-text form of an Agent.Info response (borrowed) on f: one
 * "key: value" line per field, known fields first in a fixed order. */
void acmd_print_info(FILE *f, const json_t *info);

#endif
