/* agent/config: the table, flags, the YAML file, precedence, help, dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "proto/errors.h"
#include "proto/limits.h"

static char *write_temp(const char *content, size_t len)
{
	char *path = strdup("/tmp/upstage-test-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Runs config_parse_args on a NULL-terminated list (argv[0] added). */
static int parse(struct config *cfg, enum config_action *action, char *err,
                 size_t errlen, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	char *a;

	argv[argc++] = "upstaged";
	va_start(ap, errlen);
	while ((a = va_arg(ap, char *)) != NULL && argc < 63)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return config_parse_args(cfg, argc, argv, action, err, errlen);
}

static void test_defaults(void **state)
{
	struct config cfg;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen, "127.0.0.1:17071");
	assert_string_equal(cfg.listen_host, "127.0.0.1");
	assert_int_equal(cfg.listen_port, 17071);
	assert_true(cfg.listen_enabled);
	assert_true(cfg.listen_loopback);
	assert_string_equal(cfg.data_dir, "./var");
	assert_null(cfg.tls_cert);
	assert_null(cfg.auth_file);
	assert_null(cfg.controller);
	assert_null(cfg.agent_version);
	assert_int_equal(cfg.controller_backoff_initial_ms, 250);
	assert_int_equal(cfg.controller_backoff_max_ms, 10000);
	assert_int_equal(cfg.idle_timeout, 300);
	assert_int_equal(cfg.ping_interval, 30);
	assert_int_equal(cfg.max_sessions, 1024);
	assert_string_equal(cfg.log_level, "info");
	assert_int_equal(cfg.log_level_value, UPS_LOG_INFO);
	config_free(&cfg);
}

static void test_flags_both_forms(void **state)
{
	struct config cfg;
	enum config_action action;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(parse(&cfg, &action, err, sizeof(err), "--listen",
	                       "127.0.0.2:0", "--idle-timeout=0", "--log-level",
	                       "debug", "--agent-version", "2.9.1",
	                       "--data-dir=/tmp/x", NULL),
	                 0);
	assert_int_equal(action, CONFIG_RUN);
	assert_string_equal(cfg.listen_host, "127.0.0.2");
	assert_int_equal(cfg.listen_port, 0);
	assert_int_equal(cfg.idle_timeout, 0);
	assert_int_equal(cfg.log_level_value, UPS_LOG_DEBUG);
	assert_string_equal(cfg.agent_version, "2.9.1");
	assert_string_equal(cfg.data_dir, "/tmp/x");
	config_free(&cfg);
}

static void test_flag_errors(void **state)
{
	struct config cfg;
	enum config_action action;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(
	    parse(&cfg, &action, err, sizeof(err), "--bogus", "1", NULL),
	    UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "bogus"));
	assert_int_equal(
	    parse(&cfg, &action, err, sizeof(err), "--max-sessions", NULL),
	    UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "max-sessions"));
	assert_int_equal(
	    parse(&cfg, &action, err, sizeof(err), "positional", NULL),
	    UPS_ERR_BAD_REQUEST);
	assert_int_equal(
	    parse(&cfg, &action, err, sizeof(err), "--dump-config=yes", NULL),
	    UPS_ERR_BAD_REQUEST);
	config_free(&cfg);
}

/* Each bad value is rejected with its key named. */
static void test_bad_values(void **state)
{
	static const char *const bad[][2] = {
	    {"listen", "localhost:80"},
	    {"listen", "127.0.0.1"},
	    {"listen", "127.0.0.1:65536"},
	    {"listen", "127.0.0.1:-1"},
	    {"listen", "[::1:80"},
	    {"listen", "300.0.0.1:80"},
	    {"controller-backoff-initial-ms", "9"},
	    {"controller-backoff-initial-ms", "60001"},
	    {"controller-backoff-max-ms", "99"},
	    {"controller-backoff-max-ms", "600001"},
	    {"idle-timeout", "-1"},
	    {"idle-timeout", "ten"},
	    {"idle-timeout", "10s"},
	    {"idle-timeout", " 10"},
	    {"idle-timeout", "99999999999999999999999"},
	    {"ping-interval", "3601"},
	    {"max-sessions", "0"},
	    {"agent-version", "2.9.x"},
	    {"agent-version", "banana"},
	    {"log-level", "verbose"},
	    {"controller", "http://example.com/"},
	    {"controller", "ws://"},
	    {"data-dir", ""},
	    {"listen", ""},
	    {"idle-timeout", ""},
	};
	struct config cfg;
	char err[UPS_ERRMSG_MAX];
	size_t i;

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (config_set(&cfg, bad[i][0], bad[i][1], err, sizeof(err)) !=
		    UPS_ERR_BAD_REQUEST)
			fail_msg("%s=\"%s\" was accepted", bad[i][0],
			         bad[i][1]);
		if (strncmp(err, bad[i][0], strlen(bad[i][0])) != 0)
			fail_msg("error for %s does not name it: %s", bad[i][0],
			         err);
	}
	/* Nothing bad stuck. */
	assert_string_equal(cfg.listen, "127.0.0.1:17071");
	assert_int_equal(cfg.idle_timeout, 300);
	assert_int_equal(config_set(&cfg, "nope", "1", err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "nope"));
	config_free(&cfg);
}

static void test_good_values(void **state)
{
	struct config cfg;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(
	    config_set(&cfg, "listen", "[::1]:8080", err, sizeof(err)), 0);
	assert_int_equal(config_set(&cfg, "controller-backoff-initial-ms", "10",
	                            err, sizeof(err)),
	                 0);
	assert_int_equal(config_set(&cfg, "controller-backoff-max-ms", "600000",
	                            err, sizeof(err)),
	                 0);
	assert_int_equal(
	    config_set(&cfg, "agent-version", "3.0-rc2", err, sizeof(err)), 0);
	assert_int_equal(
	    config_set(&cfg, "log-level", "WARN", err, sizeof(err)), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen_host, "::1");
	assert_int_equal(cfg.listen_port, 8080);
	assert_true(cfg.listen_loopback);
	assert_int_equal(cfg.log_level_value, UPS_LOG_WARN);
	/* Empty unsets an optional key. */
	assert_int_equal(
	    config_set(&cfg, "agent-version", "", err, sizeof(err)), 0);
	assert_null(cfg.agent_version);
	config_free(&cfg);
}

static void test_cross_checks(void **state)
{
	static const struct {
		const char *key;
		const char *value;
		const char *named;
	} cases[] = {
	    {"tls-cert", "/c.pem", "tls-cert"},
	    {"tls-key", "/k.pem", "tls-key"},
	    {"controller", "ws://127.0.0.1:1", "controller"},
	    {"controller-token-file", "/t", "controller-token-file"},
	    {"controller-ca-cert", "/ca", "controller-ca-cert"},
	    {"controller-backoff-initial-ms", "20000",
	     "controller-backoff-initial-ms"},
	    {"listen", "0.0.0.0:17071", "listen"},
	    {"listen", "10.1.2.3:1", "listen"},
	    {"listen", "none", "listen"},
	};
	struct config cfg;
	char err[UPS_ERRMSG_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(config_init(&cfg), 0);
		assert_int_equal(config_set(&cfg, cases[i].key, cases[i].value,
		                            err, sizeof(err)),
		                 0);
		err[0] = '\0';
		if (config_check(&cfg, err, sizeof(err)) != UPS_ERR_BAD_REQUEST)
			fail_msg("%s=%s passed the cross checks", cases[i].key,
			         cases[i].value);
		if (!strstr(err, cases[i].named))
			fail_msg("error does not name %s: %s", cases[i].named,
			         err);
		config_free(&cfg);
	}

	/* The pairs that make those valid. */
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg, "tls-cert", "/c", err, sizeof(err)),
	                 0);
	assert_int_equal(config_set(&cfg, "tls-key", "/k", err, sizeof(err)),
	                 0);
	assert_int_equal(config_set(&cfg, "controller", "wss://relay:443/x",
	                            err, sizeof(err)),
	                 0);
	assert_int_equal(
	    config_set(&cfg, "controller-token-file", "/t", err, sizeof(err)),
	    0);
	assert_int_equal(
	    config_set(&cfg, "controller-ca-cert", "/ca", err, sizeof(err)), 0);
	assert_int_equal(
	    config_set(&cfg, "listen", "0.0.0.0:1", err, sizeof(err)), 0);
	assert_int_equal(config_set(&cfg, "auth-file", "/a", err, sizeof(err)),
	                 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	assert_false(cfg.listen_loopback);
	/* With a controller, not listening at all is fine. */
	assert_int_equal(config_set(&cfg, "listen", "none", err, sizeof(err)),
	                 0);
	assert_int_equal(config_set(&cfg, "tls-cert", "", err, sizeof(err)), 0);
	assert_int_equal(config_set(&cfg, "tls-key", "", err, sizeof(err)), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	assert_false(cfg.listen_enabled);
	config_free(&cfg);
}

static void test_bool(void **state)
{
	bool b = false;

	(void)state;
	assert_int_equal(config_parse_bool("yes", &b), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("OFF", &b), 0);
	assert_false(b);
	assert_int_equal(config_parse_bool("maybe", &b), UPS_ERR_BAD_REQUEST);
}

static void test_yaml(void **state)
{
	const char *doc = "# upstaged\n"
	                  "listen: 127.0.0.1:9000\n"
	                  "idle-timeout: 5\n"
	                  "agent-version: \"2.9.1\"\n"
	                  "controller: ~\n"
	                  "log-level: warn\n";
	struct config cfg;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_load_yaml(&cfg, doc, strlen(doc), "t.yaml", err,
	                                  sizeof(err)),
	                 0);
	assert_string_equal(cfg.listen, "127.0.0.1:9000");
	assert_int_equal(cfg.idle_timeout, 5);
	assert_string_equal(cfg.agent_version, "2.9.1");
	assert_null(cfg.controller);
	assert_string_equal(cfg.log_level, "warn");
	/* An empty document changes nothing. */
	assert_int_equal(config_load_yaml(&cfg, "", 0, "e", err, sizeof(err)),
	                 0);
	assert_int_equal(
	    config_load_yaml(&cfg, "---\n", 4, "e", err, sizeof(err)), 0);
	assert_int_equal(cfg.idle_timeout, 5);
	config_free(&cfg);
}

static void expect_yaml_error(const char *doc, const char *want1,
                              const char *want2)
{
	struct config cfg;
	char err[UPS_ERRMSG_MAX];

	assert_int_equal(config_init(&cfg), 0);
	err[0] = '\0';
	if (config_load_yaml(&cfg, doc, strlen(doc), "f.yaml", err,
	                     sizeof(err)) != UPS_ERR_BAD_REQUEST)
		fail_msg("accepted: %s", doc);
	if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err, want1,
		         want2 ? want2 : "");
	config_free(&cfg);
}

static void test_yaml_errors(void **state)
{
	(void)state;
	/* Unknown key: named, with its line. */
	expect_yaml_error("listen: 127.0.0.1:1\nbogus-key: 1\n", "bogus-key",
	                  "f.yaml:2");
	/* Bad value: the key and the line. */
	expect_yaml_error("\n\nidle-timeout: lots\n", "idle-timeout",
	                  "f.yaml:3");
	expect_yaml_error("listen: not-an-address\n", "listen", NULL);
	/* Repeated key. */
	expect_yaml_error("idle-timeout: 1\nidle-timeout: 2\n", "idle-timeout",
	                  "twice");
	/* Not flat. */
	expect_yaml_error("listen:\n  host: 1\n", "listen", "scalars");
	expect_yaml_error("listen: [a, b]\n", "listen", "scalar");
	expect_yaml_error("- a\n- b\n", "f.yaml:1", NULL);
	expect_yaml_error("just a string\n", "mapping", NULL);
	/* Broken YAML. */
	expect_yaml_error("listen: [unclosed\n", "f.yaml", NULL);
	/* --config is not a key of the file. */
	expect_yaml_error("config: other.yaml\n", "config", NULL);
	/* An anchor/alias is not a scalar value here. */
	expect_yaml_error("listen: &a 127.0.0.1:1\ndata-dir: *a\n", "data-dir",
	                  NULL);
}

static void test_file_and_precedence(void **state)
{
	const char *doc = "listen: 127.0.0.1:9000\nidle-timeout: 5\n"
	                  "max-sessions: 7\n";
	char *path = write_temp(doc, strlen(doc));
	struct config cfg;
	enum config_action action;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	/* Flags win over the file, wherever --config sits. */
	assert_int_equal(parse(&cfg, &action, err, sizeof(err),
	                       "--idle-timeout", "9", "--config", path, NULL),
	                 0);
	assert_int_equal(cfg.idle_timeout, 9);
	assert_int_equal(cfg.max_sessions, 7);
	assert_int_equal(cfg.listen_port, 9000);
	config_free(&cfg);

	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(parse(&cfg, &action, err, sizeof(err), "--config",
	                       "/nonexistent/upstaged.yaml", NULL),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "/nonexistent/upstaged.yaml"));
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_file_size_limit(void **state)
{
	size_t len = UPS_LIMIT_CONFIG_FILE_BYTES + 1;
	char *big = malloc(len);
	char *path;
	struct config cfg;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	memset(big, '#', len);
	big[len - 1] = '\n';
	path = write_temp(big, len);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "larger"));
	/* One byte less is fine: only a comment. */
	unlink(path);
	free(path);
	path = write_temp(big + 1, len - 1);
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), 0);
	config_free(&cfg);
	unlink(path);
	free(path);
	free(big);
}

static void test_actions(void **state)
{
	struct config cfg;
	enum config_action action;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(parse(&cfg, &action, err, sizeof(err), "--help", NULL),
	                 0);
	assert_int_equal(action, CONFIG_HELP);
	/* --help wins even over a bad flag that follows. */
	assert_int_equal(
	    parse(&cfg, &action, err, sizeof(err), "--help", "--bogus", NULL),
	    0);
	assert_int_equal(action, CONFIG_HELP);
	assert_int_equal(parse(&cfg, &action, err, sizeof(err), "--dump-config",
	                       "--idle-timeout", "3", NULL),
	                 0);
	assert_int_equal(action, CONFIG_DUMP);
	assert_int_equal(
	    parse(&cfg, &action, err, sizeof(err), "--version", NULL), 0);
	assert_int_equal(action, CONFIG_VERSION_INFO);
	config_free(&cfg);
}

static char *capture(void (*fn)(FILE *, void *), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, arg);
	fclose(f);
	return buf;
}

static void help_to(FILE *f, void *arg)
{
	(void)arg;
	config_print_help(f, "upstaged");
}

static void dump_to(FILE *f, void *arg)
{
	assert_int_equal(config_dump(arg, f), 0);
}

static void test_help_lists_every_key(void **state)
{
	char *text = capture(help_to, NULL);
	char flag[80];
	size_t i;

	(void)state;
	assert_true(config_key_count() >= 15);
	for (i = 0; i < config_key_count(); i++) {
		snprintf(flag, sizeof(flag), "--%s ", config_key_name(i));
		if (!strstr(text, flag))
			fail_msg("--help lacks %s", flag);
	}
	assert_non_null(strstr(text, "--config FILE"));
	assert_non_null(strstr(text, "--dump-config"));
	assert_non_null(strstr(text, "default: 127.0.0.1:17071"));
	assert_null(config_key_name(config_key_count()));
	free(text);
}

static void test_dump_round_trip(void **state)
{
	struct config a, b;
	char err[UPS_ERRMSG_MAX];
	char *text, *text2;
	size_t i;

	(void)state;
	assert_int_equal(config_init(&a), 0);
	assert_int_equal(config_set(&a, "listen", "[::1]:0", err, sizeof(err)),
	                 0);
	/* Characters YAML would otherwise interpret. */
	assert_int_equal(
	    config_set(&a, "data-dir", "/tmp/a \"b\": #c\\d", err, sizeof(err)),
	    0);
	assert_int_equal(config_set(&a, "auth-file", "- x", err, sizeof(err)),
	                 0);
	assert_int_equal(config_set(&a, "idle-timeout", "0", err, sizeof(err)),
	                 0);
	assert_int_equal(
	    config_set(&a, "agent-version", "2.9-beta1.1", err, sizeof(err)),
	    0);
	text = capture(dump_to, &a);
	for (i = 0; i < config_key_count(); i++) {
		char line[80];

		snprintf(line, sizeof(line), "%s: ", config_key_name(i));
		if (!strstr(text, line))
			fail_msg("dump lacks %s", line);
	}

	/* Loading the dump into a config of different values gives the
	 * same dump back. */
	assert_int_equal(config_init(&b), 0);
	assert_int_equal(config_set(&b, "tls-cert", "/x", err, sizeof(err)), 0);
	assert_int_equal(
	    config_load_yaml(&b, text, strlen(text), "dump", err, sizeof(err)),
	    0);
	assert_null(b.tls_cert);
	assert_string_equal(b.data_dir, "/tmp/a \"b\": #c\\d");
	assert_string_equal(b.auth_file, "- x");
	assert_int_equal(b.idle_timeout, 0);
	text2 = capture(dump_to, &b);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	config_free(&a);
	config_free(&b);
}

/* Code points YAML folds or refuses when raw (found by fuzz_config): the
 * dump must escape them so that a reload gives back the same bytes. */
static void test_dump_escapes_yaml_unsafe(void **state)
{
	static const char *const values[] = {
	    "/a\xc2\x85"
	    "z", /* NEL, folded as a line break */
	    "/a\xe2\x80\xa8"
	    "z", /* LINE SEPARATOR */
	    "/a\xe2\x80\xa9"
	    "z", /* PARAGRAPH SEPARATOR */
	    "/a\xc2\x80\xc2\x9f"
	    "z", /* C1 controls */
	    "/a\xef\xbb\xbf"
	    "z", /* BOM */
	    "/a\xef\xbf\xbe"
	    "z", /* U+FFFE */
	    "/a\x07\x1b\x7f"
	    "z",            /* C0 controls and DEL */
	    "/caf\xc3\xa9", /* ordinary UTF-8 stays as it is */
	};
	char err[UPS_ERRMSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct config a, b;
		char *text;

		assert_int_equal(config_init(&a), 0);
		assert_int_equal(
		    config_set(&a, "auth-file", values[i], err, sizeof(err)),
		    0);
		text = capture(dump_to, &a);
		assert_int_equal(config_init(&b), 0);
		if (config_load_yaml(&b, text, strlen(text), "dump", err,
		                     sizeof(err)) != 0)
			fail_msg("dump of value %zu does not load: %s", i, err);
		assert_string_equal(b.auth_file, values[i]);
		free(text);
		config_free(&a);
		config_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dump_escapes_yaml_unsafe),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_flags_both_forms),
	    cmocka_unit_test(test_flag_errors),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_good_values),
	    cmocka_unit_test(test_cross_checks),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_yaml),
	    cmocka_unit_test(test_yaml_errors),
	    cmocka_unit_test(test_file_and_precedence),
	    cmocka_unit_test(test_file_size_limit),
	    cmocka_unit_test(test_actions),
	    cmocka_unit_test(test_help_lists_every_key),
	    cmocka_unit_test(test_dump_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
