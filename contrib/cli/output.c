/* Printing results and errors; see output.h. */
#include "contrib/cli/output.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/cli/help.h"
#include "proto/errors.h"

int cli_out_error(const struct cli_ctx *ctx, int exit_code, const char *code,
                  const char *message)
{
	json_t *obj;

	if (ctx->g.json) {
		obj = json_pack("{s:s,s:s}", "error", message, "error-code",
		                code);
		if (obj && cli_out_json(ctx, obj) == CLI_EXIT_OK)
			return exit_code;
		/* Fall through to plain text rather than say nothing. */
	}
	fprintf(ctx->err, "error: %s: %s\n", code, message);
	fflush(ctx->err);
	return exit_code;
}

int cli_out_usage(const struct cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fputs("usage error: ", ctx->err);
	va_start(ap, fmt);
	vfprintf(ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->err);
	if (ctx->cmd && strcmp(ctx->cmd->name, "help") != 0) {
		cli_help_print_usage(ctx->err, ctx->cmd);
		fprintf(ctx->err, "Run 'upstage help %s' for details.\n",
		        ctx->cmd->name);
	} else {
		fputs("Run 'upstage help' for the list of commands and "
		      "flags.\n",
		      ctx->err);
	}
	fflush(ctx->err);
	return CLI_EXIT_USAGE;
}

int cli_out_json(const struct cli_ctx *ctx, json_t *obj)
{
	char *text;

	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER |
	                           JSON_REAL_PRECISION(10));
	json_decref(obj);
	if (!text)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "%s\n", text);
	fflush(ctx->out);
	free(text);
	return CLI_EXIT_OK;
}
