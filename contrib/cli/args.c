/* Command-line parsing; see args.h for the grammar. Pure: no I/O, so the
 * unit tests drive it directly. */
#include "contrib/cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/cli/commands.h"
#include "contrib/cli/flags.h"
#include "proto/errors.h"
#include "proto/net/auth.h"

/* The flag name closest to the unknown one, among global flags, the
 * command's options and the built-in switches. */
static const char *flag_suggest(const struct cli_command *cmd, const char *name)
{
	static const char *const builtin[] = {"help", "version"};
	const struct cli_flag *flags;
	const char *best = NULL;
	size_t best_d = 3, d, nflags;

	flags = cli_flag_table(&nflags);
	for (size_t i = 0; i < nflags; i++) {
		d = cli_edit_distance(name, flags[i].name);
		if (d < best_d) {
			best_d = d;
			best = flags[i].name;
		}
	}
	for (size_t i = 0; cmd && cmd->options && cmd->options[i].name; i++) {
		d = cli_edit_distance(name, cmd->options[i].name);
		if (d < best_d) {
			best_d = d;
			best = cmd->options[i].name;
		}
	}
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		d = cli_edit_distance(name, builtin[i]);
		if (d < best_d) {
			best_d = d;
			best = builtin[i];
		}
	}
	/* A one- or two-letter flag is "close" to everything short. */
	if (best && best_d >= strlen(name))
		return NULL;
	return best;
}

/* Seconds, integer or decimal, > 0 and at most a day. */
static int parse_timeout(const char *s, unsigned *ms)
{
	char *end;
	double secs;

	errno = 0;
	secs = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(secs) || secs <= 0 ||
	    secs * 1000.0 > (double)CLI_MAX_TIMEOUT_MS)
		return -1;
	*ms = (unsigned)ceil(secs * 1000.0);
	return 0;
}

static int apply_flag(struct cli_ctx *ctx, int id, const char *value,
                      bool *token_given, bool *token_file_given, char *err,
                      size_t errlen)
{
	enum ups_role role;

	switch (id) {
	case CLI_FLAG_AGENT:
		ctx->g.agent = value;
		break;
	case CLI_FLAG_TOKEN:
		ctx->g.token = value;
		*token_given = true;
		break;
	case CLI_FLAG_TOKEN_FILE:
		ctx->g.token_file = value;
		*token_file_given = true;
		break;
	case CLI_FLAG_ROLE:
		if (ups_role_parse(value, &role) != 0)
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "bad --role \"%.32s\": use client, "
			                "machine or plugin",
			                value);
		ctx->g.role = value;
		break;
	case CLI_FLAG_CA_CERT:
		ctx->g.ca_cert = value;
		break;
	case CLI_FLAG_JSON:
		ctx->g.json = true;
		break;
	case CLI_FLAG_DEBUG:
		ctx->g.debug = true;
		break;
	case CLI_FLAG_TIMEOUT:
		if (parse_timeout(value, &ctx->g.timeout_ms) != 0)
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "bad --timeout \"%.32s\": give seconds "
			                "greater than 0 and at most 86400",
			                value);
		break;
	}
	return 0;
}

/* The value of the flag at argv[*i]: after '=' in the same argument, or
 * the next argument (then *i advances). NULL if there is none. */
static const char *flag_value(int argc, char **argv, int *i, const char *eq)
{
	if (eq)
		return eq + 1;
	if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)
		return NULL;
	return argv[++*i];
}

static void ctx_defaults(struct cli_ctx *ctx, const struct cli_env *env)
{
	FILE *out = ctx->out, *errf = ctx->err;

	memset(ctx, 0, sizeof(*ctx));
	ctx->out = out;
	ctx->err = errf;
	ctx->g.agent =
	    env && env->agent && *env->agent ? env->agent : CLI_DEFAULT_AGENT;
	ctx->g.token = env ? env->token : NULL;
	ctx->g.role = CLI_DEFAULT_ROLE;
	ctx->g.timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
}

/* Handles one "--name[=value]" argument at argv[*i]. */
static int parse_flag(int argc, char **argv, int *i, struct cli_ctx *ctx,
                      bool *token_given, bool *token_file_given, char *err,
                      size_t errlen)
{
	const char *name = argv[*i] + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const char *value, *hint;
	size_t nflags;
	char bare[64];
	int idx;

	/* No flag is this long; keep the name whole in the message. */
	if (len >= sizeof(bare))
		return ups_errf(CLI_EXIT_USAGE, err, errlen,
		                "unknown flag --%.32s...", name);
	memcpy(bare, name, len);
	bare[len] = '\0';

	idx = ctx->cmd ? cli_cmd_option_index(ctx->cmd, bare) : -1;
	if (idx >= 0 && !ctx->cmd->options[idx].value) {
		if (eq)
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "--%s takes no value", bare);
		if (ctx->opts[idx])
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "--%s given twice", bare);
		ctx->opts[idx] = CLI_OPT_SET;
		return 0;
	}
	if (idx >= 0) {
		value = flag_value(argc, argv, i, eq);
		if (!value)
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "--%s needs a value (%s)", bare,
			                ctx->cmd->options[idx].value);
		if (ctx->cmd->repeatable &&
		    strcmp(ctx->cmd->repeatable, bare) == 0) {
			if (ctx->nrepeated == CLI_MAX_REPEATED)
				return ups_errf(CLI_EXIT_USAGE, err, errlen,
				                "--%s given more than %d times",
				                bare, CLI_MAX_REPEATED);
			ctx->repeated[ctx->nrepeated++] = value;
			if (!ctx->opts[idx])
				ctx->opts[idx] = value;
			return 0;
		}
		if (ctx->opts[idx])
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "--%s given twice", bare);
		ctx->opts[idx] = value;
		return 0;
	}
	idx = cli_flag_find(bare, len);
	if (idx >= 0) {
		const struct cli_flag *flag = &cli_flag_table(&nflags)[idx];

		if (flag->value) {
			value = flag_value(argc, argv, i, eq);
			if (!value)
				return ups_errf(CLI_EXIT_USAGE, err, errlen,
				                "--%s needs a value (%s)", bare,
				                flag->value);
		} else {
			if (eq)
				return ups_errf(CLI_EXIT_USAGE, err, errlen,
				                "--%s takes no value", bare);
			value = NULL;
		}
		return apply_flag(ctx, idx, value, token_given,
		                  token_file_given, err, errlen);
	}

	hint = flag_suggest(ctx->cmd, bare);
	if (hint)
		return ups_errf(CLI_EXIT_USAGE, err, errlen,
		                "unknown flag --%s (did you mean --%s?)", bare,
		                hint);
	return ups_errf(CLI_EXIT_USAGE, err, errlen, "unknown flag --%s", bare);
}

int cli_args_parse(int argc, char **argv, const struct cli_env *env,
                   struct cli_ctx *ctx, char *err, size_t errlen)
{
	bool token_given = false, token_file_given = false;
	bool want_help = false, flags_done = false;
	const char *hint;
	int rv;

	ctx_defaults(ctx, env);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!flags_done && arg[0] == '-' && arg[1] != '\0') {
			if (strcmp(arg, "--") == 0) {
				flags_done = true;
			} else if (strcmp(arg, "-h") == 0 ||
			           strcmp(arg, "--help") == 0) {
				want_help = true;
			} else if (strcmp(arg, "--version") == 0 &&
			           !(ctx->cmd &&
			             cli_cmd_option_index(ctx->cmd,
			                                  "version") >= 0)) {
				/* upstage's own version, unless the command
				 * has a --version of its own. */
				ctx->show_version = true;
			} else if (arg[1] != '-') {
				return ups_errf(CLI_EXIT_USAGE, err, errlen,
				                "unknown flag %.32s (flags are "
				                "spelt --name)",
				                arg);
			} else {
				rv = parse_flag(argc, argv, &i, ctx,
				                &token_given, &token_file_given,
				                err, errlen);
				if (rv)
					return rv;
			}
			continue;
		}
		if (!ctx->cmd) {
			ctx->cmd = cli_cmd_find(arg);
			if (ctx->cmd)
				continue;
			hint = cli_cmd_suggest(arg);
			if (hint)
				return ups_errf(CLI_EXIT_USAGE, err, errlen,
				                "unknown command \"%.32s\" "
				                "(did you mean %s?)",
				                arg, hint);
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "unknown command \"%.32s\"", arg);
		}
		if (ctx->nargs >= ctx->cmd->max_args ||
		    ctx->nargs >= CLI_MAX_ARGS)
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "too many arguments for %s "
			                "(unexpected \"%.32s\")",
			                ctx->cmd->name, arg);
		ctx->args[ctx->nargs++] = arg;
	}

	if (ctx->show_version)
		return 0;
	if (want_help) {
		const struct cli_command *help = cli_cmd_find("help");

		/* "X --help" is "help X"; "help --help" describes help
		 * itself; "help X --help" stays "help X". */
		if (ctx->cmd != help || ctx->nargs == 0) {
			ctx->nargs = 0;
			if (ctx->cmd)
				ctx->args[ctx->nargs++] = ctx->cmd->name;
			ctx->cmd = help;
			memset(ctx->opts, 0, sizeof(ctx->opts));
		}
		return 0;
	}
	if (!ctx->cmd)
		return ups_errf(CLI_EXIT_USAGE, err, errlen,
		                "no command given");
	if (ctx->nargs < ctx->cmd->min_args)
		return ups_errf(CLI_EXIT_USAGE, err, errlen, "%s needs %s",
		                ctx->cmd->name, ctx->cmd->synopsis);
	for (int i = 0; ctx->cmd->options && ctx->cmd->options[i].name; i++)
		if (ctx->cmd->options[i].required && !ctx->opts[i])
			return ups_errf(CLI_EXIT_USAGE, err, errlen,
			                "%s needs --%s %s", ctx->cmd->name,
			                ctx->cmd->options[i].name,
			                ctx->cmd->options[i].value);
	if (token_given && token_file_given)
		return ups_errf(CLI_EXIT_USAGE, err, errlen,
		                "give --token or --token-file, not both");
	if (token_file_given)
		ctx->g.token = NULL;
	return 0;
}
