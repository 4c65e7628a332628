/* Output conventions of the upstage CLI, in one place so every command
 * prints alike: results on stdout (one JSON object per line with --json),
 * errors as "error: CODE: MESSAGE" on stderr (or {"error","error-code"} on
 * stdout with --json), usage errors in plain text on stderr with a hint.
 * Below the command table: it prints what it is handed (the usage line
 * through help.h) and never looks a command up. */
#ifndef UPSTAGE_CLI_OUTPUT_H
#define UPSTAGE_CLI_OUTPUT_H

#include <jansson.h>

#include "contrib/cli/cli.h"

/* Prints an operation or connection failure and returns exit_code.
 * code is a wire error code ("not-found"); message a sentence. */
int cli_out_error(const struct cli_ctx *ctx, int exit_code, const char *code,
                  const char *message);

/* Prints "usage error: MESSAGE" and how to get help to ctx->err; returns
 * CLI_EXIT_USAGE. */
int cli_out_usage(const struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints obj compactly on one line of ctx->out. Steals obj. Returns
 * CLI_EXIT_OK, or CLI_EXIT_FAILED if it could not be serialised. */
int cli_out_json(const struct cli_ctx *ctx, json_t *obj);

#endif
