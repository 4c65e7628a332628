/* Runs the CLI in-process with captured stdout and stderr, for the unit
 * tests: the same parse + dispatch path as main(), minus the network. */
#ifndef UPSTAGE_TESTS_UNIT_CLI_HARNESS_H
#define UPSTAGE_TESTS_UNIT_CLI_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/cli/args.h"
#include "contrib/cli/cli.h"
#include "contrib/cli/output.h"

struct run {
	int exit;
	char *out; /* malloc'd, NUL-terminated */
	char *err;
};

/* argv without the program name, NULL-terminated; env may be NULL. */
static inline struct run run_cli_env(const struct cli_env *env,
                                     const char *const *args)
{
	char *argv[32];
	char errbuf[512];
	struct cli_ctx ctx;
	struct run r;
	size_t outlen, errlen;
	int argc = 0;

	argv[argc++] = (char *)"upstage";
	while (*args && argc < 31)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	ctx.out = open_memstream(&r.out, &outlen);
	ctx.err = open_memstream(&r.err, &errlen);
	r.exit = cli_args_parse(argc, argv, env, &ctx, errbuf, sizeof(errbuf));
	if (r.exit)
		cli_out_usage(&ctx, "%s", errbuf);
	else if (ctx.show_version)
		fputs("version\n", ctx.out);
	else
		r.exit = ctx.cmd->run(&ctx);
	fclose(ctx.out);
	fclose(ctx.err);
	return r;
}

#define RUN(...) run_cli_env(NULL, (const char *const[]){__VA_ARGS__, NULL})

static inline void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

#endif
