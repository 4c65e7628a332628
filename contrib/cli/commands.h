/* The command table of the upstage CLI, its lookup and suggestions.
 *
 * Calls run one way: args.c (parsing) looks commands up here; the table's
 * handlers and the help command print through output.c and help.c, which
 * never call back into this module or args.c. */
#ifndef UPSTAGE_CLI_COMMANDS_H
#define UPSTAGE_CLI_COMMANDS_H

#include <stddef.h>

#include "contrib/cli/cli.h"

/* The table, in the order `upstage help` lists it; *n receives its size.
 * Static storage. */
const struct cli_command *cli_cmd_table(size_t *n);

/* The command called name, or NULL. Static storage. */
const struct cli_command *cli_cmd_find(const char *name);

/* The index of the option --name in cmd's own options, or -1. */
int cli_cmd_option_index(const struct cli_command *cmd, const char *name);

/* The known command closest to name when it is plausibly a typo of it,
 * else NULL. Static storage. */
const char *cli_cmd_suggest(const char *name);

/* Levenshtein distance of a and b (short strings only: capped at 64
 * bytes each, longer input counts as "far"). */
size_t cli_edit_distance(const char *a, const char *b);

#endif
