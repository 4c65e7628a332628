/* Help text of the upstage CLI, generated from the command table (handed
 * in, cli.h's struct cli_command) and the flag table (flags.h), so syntax
 * is written down once. Prints only: it calls nothing above flags.h, and
 * commands.c (the help command) and output.c (usage errors) call it. */
#ifndef UPSTAGE_CLI_HELP_H
#define UPSTAGE_CLI_HELP_H

#include <stddef.h>
#include <stdio.h>

#include "contrib/cli/cli.h"

/* The general help: usage, the commands cmds[0..n) (borrowed for the call)
 * in that order, global flags, exit codes. */
void cli_help_print_overview(FILE *f, const struct cli_command *cmds, size_t n);

/* One command's full syntax and description; cmd is borrowed. */
void cli_help_print_command(FILE *f, const struct cli_command *cmd);

/* The one-line usage of cmd ("upstage NAME [ARGS]"), for usage errors. */
void cli_help_print_usage(FILE *f, const struct cli_command *cmd);

#endif
