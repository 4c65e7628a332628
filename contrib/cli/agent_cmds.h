/* The commands that talk to upstaged: ping and info. */
#ifndef UPSTAGE_CLI_AGENT_CMDS_H
#define UPSTAGE_CLI_AGENT_CMDS_H

#include <jansson.h>
#include <stdio.h>

#include <uv.h>

#include "contrib/cli/cli.h"
#include "contrib/cli/client.h"
#include "contrib/cli/oneshot.h"
#include "proto/limits.h"
#include "proto/net/url.h"

/* Command handlers; each returns an enum cli_exit value. */
int acmd_ping(struct cli_ctx *ctx);
int acmd_info(struct cli_ctx *ctx);

/* The plain-text form of an Agent.Info response (borrowed) on f: one
 * "key: value" line per field, known fields first in a fixed order. */
void acmd_print_info(FILE *f, const json_t *info);

/* Turns the global flags into a connection configuration: parses the
 * --agent URL into *url, reads the token into token, fills *cfg (which
 * borrows url, token and ctx's strings). Problems with the flags are usage
 * errors found before dialling: they are printed and CLI_EXIT_USAGE is
 * returned; else CLI_EXIT_OK. Wipe token after use. */
int acmd_config(struct cli_ctx *ctx, struct ups_url *url,
                char token[UPS_LIMIT_TOKEN_LEN + 1],
                struct oneshot_config *cfg);

/* Sends facade.method with params (stolen; NULL = {}) through
 * oneshot_call(); on failure prints the error and returns its exit
 * status, else CLI_EXIT_OK with res->response to release. */
int acmd_call(struct cli_ctx *ctx, const char *facade, const char *method,
              json_t *params, struct oneshot_result *res);

/* A session that stays open (--wait, --watch): initialises loop and
 * starts c on it with the global flags, cbs and data (client_start()).
 * CLI_EXIT_OK, or the exit status with the error printed and loop
 * closed. The caller then adds its own handles and calls
 * acmd_session_run(). */
int acmd_session_open(struct cli_ctx *ctx, uv_loop_t *loop, struct client *c,
                      const struct client_callbacks *cbs, void *data);

/* Runs loop until the callbacks closed c and every handle, then frees c
 * and closes loop. */
void acmd_session_run(uv_loop_t *loop, struct client *c);

#endif
