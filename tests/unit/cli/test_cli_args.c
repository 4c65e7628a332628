/* Argument parsing of the upstage CLI: globals anywhere, command options
 * shadowing globals, help forms, and every usage error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "contrib/cli/args.h"
#include "contrib/cli/commands.h"

struct parsed {
	int rv;
	struct cli_ctx ctx;
	char err[512];
};

static struct parsed parse_env(const struct cli_env *env,
                               const char *const *args)
{
	static char *argv[32];
	struct parsed p;
	int argc = 0;

	memset(&p, 0, sizeof(p));
	argv[argc++] = (char *)"upstage";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	p.ctx.out = stdout;
	p.ctx.err = stderr;
	p.rv = cli_args_parse(argc, argv, env, &p.ctx, p.err, sizeof(p.err));
	return p;
}

#define PARSE(...) parse_env(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define PARSE_ENV(env, ...)                                                    \
	parse_env(env, (const char *const[]){__VA_ARGS__, NULL})

static void expect_usage(struct parsed p, const char *needle)
{
	assert_int_equal(p.rv, CLI_EXIT_USAGE);
	if (!strstr(p.err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", p.err, needle);
}

static void test_defaults(void **state)
{
	struct parsed p = PARSE("ping");

	(void)state;
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.cmd->name, "ping");
	assert_string_equal(p.ctx.g.agent, "ws://127.0.0.1:17071");
	assert_string_equal(p.ctx.g.role, "client");
	assert_null(p.ctx.g.token);
	assert_null(p.ctx.g.token_file);
	assert_null(p.ctx.g.ca_cert);
	assert_false(p.ctx.g.json);
	assert_false(p.ctx.g.debug);
	assert_int_equal(p.ctx.g.timeout_ms, 30000);
	assert_int_equal(p.ctx.nargs, 0);
}

static void test_environment_and_override(void **state)
{
	struct cli_env env = {.agent = "ws://10.0.0.1:1", .token = "envtok"};
	struct parsed p = PARSE_ENV(&env, "info");

	(void)state;
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.g.agent, "ws://10.0.0.1:1");
	assert_string_equal(p.ctx.g.token, "envtok");

	p = PARSE_ENV(&env, "info", "--agent", "wss://h:2", "--token", "t");
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.g.agent, "wss://h:2");
	assert_string_equal(p.ctx.g.token, "t");

	/* A token file replaces the environment's token. */
	p = PARSE_ENV(&env, "info", "--token-file", "/x");
	assert_int_equal(p.rv, 0);
	assert_null(p.ctx.g.token);
	assert_string_equal(p.ctx.g.token_file, "/x");

	/* An empty UPSTAGE_AGENT means the default. */
	env.agent = "";
	p = PARSE_ENV(&env, "info");
	assert_string_equal(p.ctx.g.agent, "ws://127.0.0.1:17071");
}

static void test_globals_before_and_after(void **state)
{
	struct parsed p;

	(void)state;
	p = PARSE("--json", "--debug", "--role", "machine", "ping");
	assert_int_equal(p.rv, 0);
	assert_true(p.ctx.g.json);
	assert_true(p.ctx.g.debug);
	assert_string_equal(p.ctx.g.role, "machine");

	p = PARSE("ping", "--json", "--ca-cert", "ca.pem", "--timeout=2.5");
	assert_int_equal(p.rv, 0);
	assert_true(p.ctx.g.json);
	assert_string_equal(p.ctx.g.ca_cert, "ca.pem");
	assert_int_equal(p.ctx.g.timeout_ms, 2500);

	p = PARSE("--agent=ws://a:1", "ping");
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.g.agent, "ws://a:1");

	p = PARSE("--timeout", "0.0001", "ping");
	assert_int_equal(p.rv, 0);
	assert_int_equal(p.ctx.g.timeout_ms, 1);
}

static void test_command_option_shadows_global(void **state)
{
	struct parsed p;

	(void)state;
	p = PARSE("--agent", "ws://h:9", "select-version", "--client", "2.1",
	          "--agent", "1.25", "--available=2.1,2.2");
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.g.agent, "ws://h:9");
	assert_string_equal(p.ctx.opts[0], "2.1");
	assert_string_equal(p.ctx.opts[1], "1.25");
	assert_string_equal(p.ctx.opts[2], "2.1,2.2");

	/* Other globals still work after the command. */
	p = PARSE("select-version", "--json", "--client", "2.1", "--agent",
	          "1.25", "--available", "2.1");
	assert_int_equal(p.rv, 0);
	assert_true(p.ctx.g.json);
	assert_string_equal(p.ctx.g.agent, "ws://127.0.0.1:17071");
}

static void test_positionals(void **state)
{
	struct parsed p;

	(void)state;
	p = PARSE("compare-versions", "2.9", "--json", "3.0");
	assert_int_equal(p.rv, 0);
	assert_int_equal(p.ctx.nargs, 2);
	assert_string_equal(p.ctx.args[0], "2.9");
	assert_string_equal(p.ctx.args[1], "3.0");

	/* After "--" a dash is not a flag. */
	p = PARSE("parse-version", "--", "--json");
	assert_int_equal(p.rv, 0);
	assert_false(p.ctx.g.json);
	assert_string_equal(p.ctx.args[0], "--json");
}

static void test_help_forms(void **state)
{
	struct parsed p;

	(void)state;
	p = PARSE("--help");
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.cmd->name, "help");
	assert_int_equal(p.ctx.nargs, 0);

	p = PARSE("-h");
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.cmd->name, "help");

	/* COMMAND --help is help COMMAND, even with its arguments missing. */
	p = PARSE("select-version", "--help");
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.cmd->name, "help");
	assert_int_equal(p.ctx.nargs, 1);
	assert_string_equal(p.ctx.args[0], "select-version");

	p = PARSE("help", "info");
	assert_int_equal(p.rv, 0);
	assert_string_equal(p.ctx.cmd->name, "help");
	assert_string_equal(p.ctx.args[0], "info");

	p = PARSE("help", "--help");
	assert_int_equal(p.rv, 0);
	assert_int_equal(p.ctx.nargs, 1);
	assert_string_equal(p.ctx.args[0], "help");

	p = PARSE("--version");
	assert_int_equal(p.rv, 0);
	assert_true(p.ctx.show_version);
}

static void test_usage_errors(void **state)
{
	(void)state;
	expect_usage(PARSE("--json"), "no command given");
	expect_usage(PARSE("pnig"), "did you mean ping?");
	expect_usage(PARSE("frobnicate"), "unknown command \"frobnicate\"");
	expect_usage(PARSE("ping", "--jsn"), "did you mean --json?");
	expect_usage(PARSE("ping", "--zzzzzzzz"), "unknown flag --zzzzzzzz");
	expect_usage(PARSE("select-version", "--avialable", "1"),
	             "did you mean --available?");
	expect_usage(PARSE("ping", "-j"), "unknown flag -j");
	expect_usage(PARSE("ping", "--json=yes"), "--json takes no value");
	expect_usage(PARSE("ping", "--agent"), "--agent needs a value");
	expect_usage(PARSE("ping", "--agent", "--json"),
	             "--agent needs a value");
	expect_usage(PARSE("ping", "--timeout", "0"), "bad --timeout");
	expect_usage(PARSE("ping", "--timeout", "-1"), "bad --timeout");
	expect_usage(PARSE("ping", "--timeout", "soon"), "bad --timeout");
	expect_usage(PARSE("ping", "--timeout", "nan"), "bad --timeout");
	expect_usage(PARSE("ping", "--timeout", "86401"), "bad --timeout");
	expect_usage(PARSE("ping", "--role", "admin"), "bad --role");
	expect_usage(PARSE("ping", "--role", "none"), "bad --role");
	expect_usage(PARSE("ping", "--token", "a", "--token-file", "f"),
	             "not both");
	expect_usage(PARSE("ping", "extra"), "too many arguments");
	expect_usage(PARSE("parse-version"), "parse-version needs VERSION");
	expect_usage(PARSE("compare-versions", "1.0"), "needs A B");
	expect_usage(PARSE("parse-version", "1.0", "2.0"),
	             "too many arguments");
	expect_usage(
	    PARSE("select-version", "--client", "1.0", "--available", "1.0"),
	    "needs --agent");
	expect_usage(PARSE("select-version", "--client", "1.0", "--client",
	                   "2.0", "--agent", "1", "--available", "1.0"),
	             "--client given twice");
}

static void test_unknown_command_has_no_cmd(void **state)
{
	struct parsed p = PARSE("bogus");

	(void)state;
	assert_int_equal(p.rv, CLI_EXIT_USAGE);
	assert_null(p.ctx.cmd);
	p = PARSE("ping", "--bogus");
	assert_non_null(p.ctx.cmd);
	assert_string_equal(p.ctx.cmd->name, "ping");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_environment_and_override),
	    cmocka_unit_test(test_globals_before_and_after),
	    cmocka_unit_test(test_command_option_shadows_global),
	    cmocka_unit_test(test_positionals),
	    cmocka_unit_test(test_help_forms),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_unknown_command_has_no_cmd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
