/* Command-line parsing of the upstage CLI.
 *
 *   upstage [GLOBAL FLAGS] COMMAND [ARGS] [OPTIONS] [GLOBAL FLAGS]
 *
 * Global flags may come before or after the command. After the command,
 * the command's own options win over global flags of the same name: in
 * `upstage select-version --agent 2.9.1` --agent is the agent version,
 * while `upstage --agent URL select-version ...` sets the URL. "--" ends
 * the flags; everything after it is positional. Flags take their value as
 * the next argument or after '=' (--timeout=5). Commands come from
 * commands.h, global flags from flags.h. */
#ifndef UPSTAGE_CLI_ARGS_H
#define UPSTAGE_CLI_ARGS_H

#include <stddef.h>

#include "contrib/cli/cli.h"

/* Values taken from the environment; NULL when unset. */
struct cli_env {
	const char *agent; /* UPSTAGE_AGENT */
	const char *token; /* UPSTAGE_TOKEN */
};

/* Parses argv into ctx (whose out/err the caller sets). Strings in ctx are
 * borrowed from argv and env. `upstage --help`, `upstage COMMAND --help`
 * and `upstage help` all become the help command with the right argument.
 * Returns 0, or CLI_EXIT_USAGE with err saying what is wrong (including a
 * "did you mean" hint when one fits); ctx->cmd is then the command the
 * error concerns, or NULL. */
int cli_args_parse(int argc, char **argv, const struct cli_env *env,
                   struct cli_ctx *ctx, char *err, size_t errlen);

#endif
