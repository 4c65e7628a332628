/* upstage: the operator CLI. Parses the command line against the command
 * table and runs the command; see `upstage help`. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "contrib/cli/args.h"
#include "contrib/cli/output.h"
#include "proto/log.h"
#include "proto/net/ws.h"

/* Library warnings are noise to an operator; --debug shows them. */
static void setup_logging(bool debug)
{
	if (debug) {
		ups_ws_init_logging();
		ups_log_threshold = UPS_LOG_DEBUG;
	} else {
		ups_log_threshold = UPS_LOG_ERROR;
		lws_set_log_level(0, NULL);
	}
}

/* Allocations up to this size come from the heap, and this much freed
 * heap is kept: a few chunks' worth. */
#define CLI_MALLOC_KEEP (16 * 1024 * 1024)

int main(int argc, char **argv)
{
	struct cli_env env = {
	    .agent = getenv("UPSTAGE_AGENT"),
	    .token = getenv("UPSTAGE_TOKEN"),
	};
	char err[512];
	struct cli_ctx ctx;
	int rv;

	/* A server hanging up mid-write must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	/* An upload allocates and frees megabyte buffers (its chunks, and
	 * lws's copies of partly sent frames) a thousand times a gigabyte.
	 * By default glibc maps the first ones and later hands freed heap
	 * back to the kernel, so every buffer is faulted in page by page
	 * afresh: a quarter of the CLI's time on a VM. Keep them instead. */
	(void)mallopt(M_MMAP_THRESHOLD, CLI_MALLOC_KEEP);
	(void)mallopt(M_TRIM_THRESHOLD, 4 * CLI_MALLOC_KEEP);
	ctx.out = stdout;
	ctx.err = stderr;
	rv = cli_args_parse(argc, argv, &env, &ctx, err, sizeof(err));
	if (rv)
		return cli_out_usage(&ctx, "%s", err);
	if (ctx.show_version) {
		printf("upstage %s\n", UPSTAGE_VERSION);
		return CLI_EXIT_OK;
	}
	setup_logging(ctx.g.debug);
	rv = ctx.cmd->run(&ctx);
	if (fflush(stdout) != 0 && rv == CLI_EXIT_OK)
		rv = CLI_EXIT_FAILED; /* e.g. stdout is a full disk */
	return rv;
}
