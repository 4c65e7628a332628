/* Output of the offline commands and of info, byte for byte: scripts and
 * the e2e tests parse it. Also the exit-code contract of each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "contrib/cli/agent_cmds.h"
#include "tests/unit/cli/harness.h"

#define SEED "1.25.1,2.0.2,2.0.3,2.1,2.2"

static void expect(struct run r, int exit_code, const char *out,
                   const char *err)
{
	if (r.exit != exit_code)
		fail_msg("exit %d, expected %d; stdout \"%s\" stderr \"%s\"",
		         r.exit, exit_code, r.out, r.err);
	if (out)
		assert_string_equal(r.out, out);
	if (err)
		assert_string_equal(r.err, err);
	run_free(&r);
}

static void expect_err_contains(struct run r, int exit_code, const char *needle)
{
	assert_int_equal(r.exit, exit_code);
	assert_string_equal(r.out, "");
	if (!strstr(r.err, needle))
		fail_msg("stderr lacks \"%s\": %s", needle, r.err);
	run_free(&r);
}

static void test_parse_version(void **state)
{
	(void)state;
	expect(RUN("parse-version", "2.9.1"), 0, "2.9.1\n", "");
	expect(RUN("parse-version", "2.09"), 0, "2.9.0\n", "");
	expect(RUN("parse-version", "01.0.0.0"), 0, "1.0.0\n", "");
	expect(RUN("parse-version", "2.9.1.3"), 0, "2.9.1.3\n", "");
	expect(RUN("parse-version", "2.9-beta1.1"), 0, "2.9-beta1.1\n", "");
	expect(RUN("--json", "parse-version", "2.9.1.3"), 0,
	       "{\"version\":\"2.9.1.3\",\"major\":2,\"minor\":9,\"tag\":"
	       "\"\",\"patch\":1,\"build\":3,\"stable\":true}\n",
	       "");
	expect(RUN("parse-version", "3.0-rc2", "--json"), 0,
	       "{\"version\":\"3.0-rc2\",\"major\":3,\"minor\":0,\"tag\":"
	       "\"rc\",\"patch\":2,\"build\":0,\"stable\":false}\n",
	       "");
}

static void test_invalid_version_is_usage_error(void **state)
{
	(void)state;
	expect_err_contains(RUN("parse-version", "2"), CLI_EXIT_USAGE,
	                    "accepted forms: major.minor[.patch[.build]] or "
	                    "major.minor-tag[patch][.build]");
	expect_err_contains(RUN("parse-version", "2.9.x"), CLI_EXIT_USAGE,
	                    "invalid version \"2.9.x\" for VERSION");
	/* Usage errors stay human-readable text even with --json. */
	expect_err_contains(RUN("--json", "parse-version", "banana"),
	                    CLI_EXIT_USAGE, "usage error: invalid version");
	expect_err_contains(RUN("compare-versions", "1.0", "1.x"),
	                    CLI_EXIT_USAGE, "for B");
	expect_err_contains(RUN("select-version", "--client", "2", "--agent",
	                        "2.0", "--available", "2.1"),
	                    CLI_EXIT_USAGE, "for --client");
	expect_err_contains(RUN("select-version", "--client", "2.0", "--agent",
	                        "2.0", "--available", "2.1,oops"),
	                    CLI_EXIT_USAGE,
	                    "invalid version \"oops\" for --available");
	expect_err_contains(RUN("select-version", "--client", "2.0", "--agent",
	                        "2.0", "--available", "2.1,,2.2"),
	                    CLI_EXIT_USAGE, "empty item (item 2)");
	expect_err_contains(RUN("select-version", "--client", "2.0", "--agent",
	                        "2.0", "--available", "2.1,"),
	                    CLI_EXIT_USAGE, "empty item (item 2)");
}

static void test_compare_versions(void **state)
{
	(void)state;
	expect(RUN("compare-versions", "2.9", "2.9.0"), 0, "0\n", "");
	expect(RUN("compare-versions", "2.9.1", "2.10"), 0, "-1\n", "");
	expect(RUN("compare-versions", "3.0", "3.0-rc2"), 0, "1\n", "");
	expect(RUN("compare-versions", "3.0-beta1", "3.0-rc1"), 0, "-1\n", "");
	expect(RUN("compare-versions", "2.9.1.1", "2.9.1"), 0, "1\n", "");
	expect(RUN("--json", "compare-versions", "2.09", "2.9.1"), 0,
	       "{\"a\":\"2.9.0\",\"b\":\"2.9.1\",\"result\":-1}\n", "");
}

static void test_select_version_seed_examples(void **state)
{
	(void)state;
	expect(RUN("select-version", "--client", "2.0.3", "--agent", "2.0.1",
	           "--available", SEED),
	       0, "2.0.2\n", "");
	expect(RUN("select-version", "--client", "1.25", "--agent", "1.25",
	           "--available", SEED),
	       0, "1.25.1\n", "");
	expect(RUN("select-version", "--client", "2.1", "--agent", "1.25",
	           "--available", SEED),
	       0, "2.1.0\n", "");
	expect(RUN("--json", "select-version", "--client", "2.1", "--agent",
	           "1.25", "--available", SEED),
	       0, "{\"version\":\"2.1.0\",\"rule\":\"client-version\"}\n", "");
	expect(RUN("--json", "select-version", "--client", "2.0.3", "--agent",
	           "2.0.1", "--available", SEED),
	       0, "{\"version\":\"2.0.2\",\"rule\":\"next-patch\"}\n", "");
	/* --stream is upstaged's: not with --available. */
	expect_err_contains(RUN("select-version", "--client", "2.1", "--agent",
	                        "1.25", "--available", SEED, "--stream",
	                        "devel"),
	                    2, "--stream is upstaged's");
	/* Blanks around items are allowed. */
	expect(RUN("select-version", "--client", "2.0.3", "--agent", "2.0.1",
	           "--available", " 2.0.2 , 2.0.3 "),
	       0, "2.0.2\n", "");
}

static void test_select_version_failure(void **state)
{
	(void)state;
	expect(RUN("select-version", "--client", "2.2", "--agent", "2.2",
	           "--available", SEED),
	       CLI_EXIT_FAILED, "",
	       "error: no-suitable-version: no more recent supported "
	       "versions available\n");
	expect(RUN("--json", "select-version", "--client", "2.2", "--agent",
	           "2.2", "--available", SEED),
	       CLI_EXIT_FAILED,
	       "{\"error\":\"no more recent supported versions available\","
	       "\"error-code\":\"no-suitable-version\"}\n",
	       "");
	/* Crossing a major needs the client's version itself. */
	{
		struct run r = RUN("select-version", "--client", "3.0",
		                   "--agent", "2.9", "--available", SEED);

		assert_int_equal(r.exit, CLI_EXIT_FAILED);
		assert_string_equal(r.out, "");
		assert_true(
		    strncmp(r.err, "error: no-suitable-version: ", 28) == 0);
		run_free(&r);
	}
	/* Nothing available at all. */
	{
		struct run r = RUN("select-version", "--client", "2.0",
		                   "--agent", "2.0", "--available", "");

		assert_int_equal(r.exit, CLI_EXIT_FAILED);
		run_free(&r);
	}
}

static void test_version_flag(void **state)
{
	(void)state;
	expect(RUN("--version"), 0, "version\n", "");
}

static void test_usage_error_format(void **state)
{
	(void)state;
	expect(RUN("pnig"), CLI_EXIT_USAGE, "",
	       "usage error: unknown command \"pnig\" (did you mean ping?)\n"
	       "Run 'upstage help' for the list of commands and flags.\n");
	expect(RUN("parse-version"), CLI_EXIT_USAGE, "",
	       "usage error: parse-version needs VERSION\n"
	       "Usage: upstage parse-version VERSION\n"
	       "Run 'upstage help parse-version' for details.\n");
}

static void test_print_info(void **state)
{
	json_t *info;
	char *text;
	size_t len;
	FILE *f;

	(void)state;
	info = json_loads("{\"server-version\":\"0.1.0\",\"uptime-seconds\":"
	                  "42,\"sessions\":{\"client\":1,\"machine\":20,"
	                  "\"plugin\":0},\"controller-link\":\"connected\"}",
	                  0, NULL);
	assert_non_null(info);
	f = open_memstream(&text, &len);
	acmd_print_info(f, info);
	fclose(f);
	assert_string_equal(text, "server-version: 0.1.0\n"
	                          "uptime-seconds: 42\n"
	                          "sessions: client=1 machine=20 plugin=0\n"
	                          "controller-link: connected\n"
	                          "agent-version: none\n");
	free(text);
	json_decref(info);

	/* Fields come out in a fixed order whatever the server's; unknown
	 * ones follow. */
	info = json_loads("{\"later\":[1,2],\"agent-version\":\"2.9.1\","
	                  "\"server-version\":\"0.2.0\",\"flag\":true}",
	                  0, NULL);
	assert_non_null(info);
	f = open_memstream(&text, &len);
	acmd_print_info(f, info);
	fclose(f);
	assert_string_equal(text, "server-version: 0.2.0\n"
	                          "agent-version: 2.9.1\n"
	                          "later: [1,2]\n"
	                          "flag: true\n");
	free(text);
	json_decref(info);
}

static void test_error_output(void **state)
{
	struct cli_ctx ctx;
	char *out, *err;
	size_t outlen, errlen;

	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	ctx.out = open_memstream(&out, &outlen);
	ctx.err = open_memstream(&err, &errlen);
	assert_int_equal(cli_out_error(&ctx, CLI_EXIT_CONNECT, "unauthorized",
	                               "login refused"),
	                 CLI_EXIT_CONNECT);
	ctx.g.json = true;
	assert_int_equal(
	    cli_out_error(&ctx, CLI_EXIT_FAILED, "not-found", "say \"why\""),
	    CLI_EXIT_FAILED);
	fclose(ctx.out);
	fclose(ctx.err);
	assert_string_equal(err, "error: unauthorized: login refused\n");
	assert_string_equal(out, "{\"error\":\"say \\\"why\\\"\","
	                         "\"error-code\":\"not-found\"}\n");
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_version),
	    cmocka_unit_test(test_invalid_version_is_usage_error),
	    cmocka_unit_test(test_compare_versions),
	    cmocka_unit_test(test_select_version_seed_examples),
	    cmocka_unit_test(test_select_version_failure),
	    cmocka_unit_test(test_version_flag),
	    cmocka_unit_test(test_usage_error_format),
	    cmocka_unit_test(test_print_info),
	    cmocka_unit_test(test_error_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
