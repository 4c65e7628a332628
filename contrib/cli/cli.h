/* Types shared by the parts of the upstage CLI: exit codes, the global
 * flags, the command table entry and the context a command runs with.
 *
 * One table of commands (commands.c) and one of global flags (flags.c)
 * drive argument parsing (args.c), help output (help.c) and dispatch, so a
 * command's syntax is written down once. Calls run one way, down:
 *   main -> args -> commands -> the handlers (agent_cmds.c, sync_cmds.c,
 *   version_cmds.c) -> output -> help -> flags,
 * where args also reads flags, and commands (the help command) also calls
 * help and output; nothing below calls back up. */
#ifndef UPSTAGE_CLI_CLI_H
#define UPSTAGE_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* The exit status contract, the same for every command. */
enum cli_exit {
	CLI_EXIT_OK = 0,      /* success */
	CLI_EXIT_FAILED = 1,  /* the operation failed (error code printed) */
	CLI_EXIT_USAGE = 2,   /* bad command line, including bad versions */
	CLI_EXIT_CONNECT = 3, /* cannot connect or authenticate */
};

#define CLI_DEFAULT_AGENT      "ws://127.0.0.1:17071"
#define CLI_DEFAULT_ROLE       "client"
#define CLI_DEFAULT_TIMEOUT_MS 30000u
/* The deadline flag accepts up to a day; longer is surely a typo. */
#define CLI_MAX_TIMEOUT_MS (86400u * 1000u)

/* Most positional arguments, values of a repeatable option and own
 * options any command takes. upgrade-machine ID... takes the most, sent
 * UPS_LIMIT_ORDER_MACHINES to a request. */
#define CLI_MAX_ARGS     1024
#define CLI_MAX_REPEATED 64
#define CLI_MAX_OPTS     16

/* Global flags, after defaults and the environment were applied. Strings
 * are borrowed from argv or the environment. */
struct cli_globals {
	const char *agent;      /* URL of upstaged or the relay */
	const char *token;      /* NULL unless --token or UPSTAGE_TOKEN */
	const char *token_file; /* NULL unless --token-file */
	const char *role;       /* validated role name */
	const char *ca_cert;    /* PEM CA bundle for wss, or NULL */
	bool json;
	bool debug;
	unsigned timeout_ms; /* connect + request deadline */
};

/* A command's own option: --NAME VALUE, or a switch --NAME when value is
 * NULL (then ctx->opts[i] is CLI_OPT_SET when given). */
#define CLI_OPT_SET "true"
struct cli_option {
	const char *name;  /* without the dashes */
	const char *value; /* placeholder shown in help, e.g. "VERSION" */
	const char *help;
	bool required; /* the command cannot run without it */
};

struct cli_ctx;

struct cli_command {
	const char *name;
	const char *synopsis; /* arguments after the name, for usage lines */
	const char *summary;  /* one line for the command list */
	const char *help;     /* the long description, may span lines */
	const struct cli_option *options; /* NULL-terminated by name, or NULL */
	int min_args;                     /* positional arguments */
	int max_args;
	bool online; /* talks to upstaged (global connection flags apply) */
	/* The one option that may be given again (its values all land in
	 * ctx->repeated), or NULL. */
	const char *repeatable;
	/* Runs the command; returns an enum cli_exit value. */
	int (*run)(struct cli_ctx *ctx);
};

/* Everything a command needs; filled by cli_args_parse(). */
struct cli_ctx {
	struct cli_globals g;
	const struct cli_command *cmd;
	const char *args[CLI_MAX_ARGS]; /* positionals, borrowed */
	int nargs;
	/* Own options, parallel to cmd->options; NULL when not given. */
	const char *opts[CLI_MAX_OPTS];
	/* Every value of the command's repeatable option, in order. */
	const char *repeated[CLI_MAX_REPEATED];
	int nrepeated;
	bool show_version; /* --version: print it and exit 0 */
	FILE *out;         /* results (stdout) */
	FILE *err;         /* errors, debug log (stderr) */
};

#endif
