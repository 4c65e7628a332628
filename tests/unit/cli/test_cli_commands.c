/* The command table and the help generated from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "contrib/cli/commands.h"
#include "tests/unit/cli/harness.h"
#include "tests/lib/checks.h"

/* Help must fit an 80-column terminal. */
static void assert_lines_fit(const char *text)
{
	const char *line = text, *nl;

	while (*line) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line);
		if (nl - line > 79)
			fail_msg("line too long (%d): %.*s", (int)(nl - line),
			         (int)(nl - line), line);
		line = *nl ? nl + 1 : nl;
	}
}

static void test_table_complete(void **state)
{
	const char *const required[] = {"ping",
	                                "info",
	                                "parse-version",
	                                "compare-versions",
	                                "select-version",
	                                "sync-agent-binary",
	                                "list-agent-binaries",
	                                "remove-agent-binary",
	                                "list-machines",
	                                "upgrade-machine",
	                                "revert-machine",
	                                "upgrade-controller",
	                                "upgrade-model",
	                                "upgrade-status",
	                                "upgrade-promote",
	                                "upgrade-pause",
	                                "upgrade-resume",
	                                "upgrade-abort",
	                                "upgrade-rollback",
	                                "make-simplestreams",
	                                "help"};
	const struct cli_command *t;
	size_t n;

	(void)state;
	t = cli_cmd_table(&n);
	assert_int_equal(n, sizeof(required) / sizeof(required[0]));
	for (size_t i = 0; i < n; i++) {
		assert_non_null(t[i].name);
		assert_non_null(t[i].synopsis);
		assert_non_null(t[i].summary);
		assert_non_null(t[i].help);
		assert_non_null(t[i].run);
		assert_true(t[i].min_args <= t[i].max_args);
		assert_true(t[i].max_args <= CLI_MAX_ARGS);
		assert_ptr_equal(cli_cmd_find(t[i].name), &t[i]);
		for (size_t j = 0; t[i].options && t[i].options[j].name; j++)
			assert_true(j < CLI_MAX_OPTS);
	}
	for (size_t i = 0; i < n; i++)
		assert_non_null(cli_cmd_find(required[i]));
	assert_null(cli_cmd_find("pin"));
	assert_null(cli_cmd_find(""));
}

static void test_overview(void **state)
{
	struct run r = RUN("help");
	const struct cli_command *t;
	size_t n;

	(void)state;
	assert_int_equal(r.exit, CLI_EXIT_OK);
	assert_string_equal(r.err, "");
	t = cli_cmd_table(&n);
	for (size_t i = 0; i < n; i++) {
		char line[64];

		snprintf(line, sizeof(line), "\n  %-22s ", t[i].name);
		tl_assert_contains(r.out, line);
	}
	tl_assert_contains(r.out, "--agent URL");
	tl_assert_contains(r.out, "--token-file FILE");
	tl_assert_contains(r.out, "--timeout SECS");
	tl_assert_contains(r.out, "Exit status: 0 success; 1 the operation "
	                       "failed; 2 usage error");
	assert_lines_fit(r.out);
	run_free(&r);

	/* upstage --help is the same text. */
	r = RUN("--help");
	assert_int_equal(r.exit, CLI_EXIT_OK);
	tl_assert_contains(r.out, "Commands:");
	run_free(&r);
}

static void test_command_help(void **state)
{
	const struct cli_command *t;
	size_t n;

	(void)state;
	t = cli_cmd_table(&n);
	for (size_t i = 0; i < n; i++) {
		struct run a = RUN("help", t[i].name);
		struct run b = RUN(t[i].name, "--help");
		char usage[64];

		assert_int_equal(a.exit, CLI_EXIT_OK);
		assert_int_equal(b.exit, CLI_EXIT_OK);
		assert_string_equal(a.out, b.out);
		snprintf(usage, sizeof(usage), "Usage: upstage %s", t[i].name);
		assert_true(strncmp(a.out, usage, strlen(usage)) == 0);
		tl_assert_contains(a.out, t[i].help);
		tl_assert_contains(a.out, "Exit status:");
		assert_lines_fit(a.out);
		run_free(&a);
		run_free(&b);
	}
}

static void test_select_version_usage_line(void **state)
{
	struct run r = RUN("select-version", "--help");

	(void)state;
	tl_assert_contains(r.out, "Usage: upstage select-version --client C "
	                       "--agent G [--available V1,V2,...]\n"
	                       "        [--stream S] [FLAGS]\n");
	run_free(&r);
	r = RUN("help", "ping");
	tl_assert_contains(r.out, "Usage: upstage ping [FLAGS]\n");
	tl_assert_contains(r.out, "--ca-cert FILE");
	run_free(&r);
}

static void test_help_unknown(void **state)
{
	struct run r = RUN("help", "pnig");

	(void)state;
	assert_int_equal(r.exit, CLI_EXIT_USAGE);
	assert_string_equal(r.out, "");
	tl_assert_contains(r.err, "usage error: unknown command \"pnig\" (did "
	                       "you mean ping?)");
	tl_assert_contains(r.err, "Run 'upstage help' for the list");
	run_free(&r);
}

static void test_suggest(void **state)
{
	(void)state;
	assert_string_equal(cli_cmd_suggest("pnig"), "ping");
	assert_string_equal(cli_cmd_suggest("inof"), "info");
	assert_string_equal(cli_cmd_suggest("compare"), "compare-versions");
	assert_string_equal(cli_cmd_suggest("select-versions"),
	                    "select-version");
	assert_string_equal(cli_cmd_suggest("hlep"), "help");
	assert_null(cli_cmd_suggest("upload"));
	assert_null(cli_cmd_suggest("x"));
}

static void test_edit_distance(void **state)
{
	char longer[100];

	(void)state;
	assert_int_equal(cli_edit_distance("", ""), 0);
	assert_int_equal(cli_edit_distance("abc", ""), 3);
	assert_int_equal(cli_edit_distance("", "abc"), 3);
	assert_int_equal(cli_edit_distance("ping", "ping"), 0);
	assert_int_equal(cli_edit_distance("pnig", "ping"), 2);
	assert_int_equal(cli_edit_distance("kitten", "sitting"), 3);
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_true(cli_edit_distance(longer, "a") > 10);
}

static void test_option_index(void **state)
{
	const struct cli_command *sv = cli_cmd_find("select-version");

	(void)state;
	assert_int_equal(cli_cmd_option_index(sv, "client"), 0);
	assert_int_equal(cli_cmd_option_index(sv, "agent"), 1);
	assert_int_equal(cli_cmd_option_index(sv, "available"), 2);
	assert_int_equal(cli_cmd_option_index(sv, "json"), -1);
	assert_int_equal(cli_cmd_option_index(cli_cmd_find("ping"), "agent"),
	                 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_complete),
	    cmocka_unit_test(test_overview),
	    cmocka_unit_test(test_command_help),
	    cmocka_unit_test(test_select_version_usage_line),
	    cmocka_unit_test(test_help_unknown),
	    cmocka_unit_test(test_suggest),
	    cmocka_unit_test(test_edit_distance),
	    cmocka_unit_test(test_option_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
