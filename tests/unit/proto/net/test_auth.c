#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/errors.h"
#include "proto/net/auth.h"

static char *write_temp(const char *content)
{
	char *path = strdup("/tmp/upstage-test-auth-XXXXXX");
	int fd = mkstemp(path);
	size_t len = strlen(content);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_roles(void **state)
{
	enum ups_role r;

	(void)state;
	assert_int_equal(ups_role_parse("client", &r), 0);
	assert_int_equal(r, UPS_ROLE_CLIENT);
	assert_int_equal(ups_role_parse("machine", &r), 0);
	assert_int_equal(r, UPS_ROLE_MACHINE);
	assert_int_equal(ups_role_parse("plugin", &r), 0);
	assert_int_equal(r, UPS_ROLE_PLUGIN);
	assert_int_equal(ups_role_parse("none", &r), UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_role_parse("admin", &r), UPS_ERR_BAD_REQUEST);
	assert_string_equal(ups_role_name(UPS_ROLE_MACHINE), "machine");
	assert_string_equal(ups_role_name((enum ups_role)99), "none");
}

static void test_load_and_check(void **state)
{
	char *path = write_temp("# comment\n\nclient s3cret\n"
				"  machine m-token\r\nplugin p\n");
	struct ups_auth a;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(ups_auth_load(&a, path, err, sizeof(err)), 0);
	assert_int_equal(a.count, 3);
	assert_true(ups_auth_check(&a, UPS_ROLE_CLIENT, "s3cret", 6));
	assert_true(ups_auth_check(&a, UPS_ROLE_MACHINE, "m-token", 7));
	assert_true(ups_auth_check(&a, UPS_ROLE_PLUGIN, "p", 1));
	/* right token, wrong role */
	assert_false(ups_auth_check(&a, UPS_ROLE_MACHINE, "s3cret", 6));
	/* prefixes, extensions and empties */
	assert_false(ups_auth_check(&a, UPS_ROLE_CLIENT, "s3cre", 5));
	assert_false(ups_auth_check(&a, UPS_ROLE_CLIENT, "s3cret!", 7));
	assert_false(ups_auth_check(&a, UPS_ROLE_CLIENT, "", 0));
	/* a NUL inside the given bytes does not shorten the comparison */
	assert_false(ups_auth_check(&a, UPS_ROLE_CLIENT, "s3cret\0x", 8));
	ups_auth_free(&a);
	unlink(path);
	free(path);
}

static void test_bad_lines(void **state)
{
	static const char *const bad[] = {
		"client\n",
		"admin tok\n",
		"client a b\n",
		"client tok\nmachine\n",
	};
	struct ups_auth a;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = write_temp(bad[i]);

		assert_int_equal(ups_auth_load(&a, path, err, sizeof(err)),
				 UPS_ERR_BAD_REQUEST);
		/* the message names the line */
		assert_non_null(strstr(err, path));
		assert_null(a.entries);
		unlink(path);
		free(path);
	}
	assert_int_equal(ups_auth_load(&a, "/nonexistent/auth", err,
				       sizeof(err)),
			 UPS_ERR_IO);
}

static void test_token_too_long(void **state)
{
	char line[UPS_LIMIT_TOKEN_LEN + 32];
	char *path;
	struct ups_auth a;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	strcpy(line, "client ");
	memset(line + 7, 'x', UPS_LIMIT_TOKEN_LEN + 1);
	line[7 + UPS_LIMIT_TOKEN_LEN + 1] = '\0';
	path = write_temp(line);
	assert_int_equal(ups_auth_load(&a, path, err, sizeof(err)),
			 UPS_ERR_BAD_REQUEST);
	unlink(path);
	free(path);
}

static void test_token_file(void **state)
{
	char *good = write_temp("  tok-123 \n");
	char *empty = write_temp("\n \n");
	char *spaced = write_temp("a b\n");
	char out[UPS_LIMIT_TOKEN_LEN + 1];
	char err[UPS_ERRMSG_MAX];

	(void)state;
	assert_int_equal(ups_token_file_read(good, out, sizeof(out), err,
					     sizeof(err)),
			 0);
	assert_string_equal(out, "tok-123");
	assert_int_equal(ups_token_file_read(empty, out, sizeof(out), err,
					     sizeof(err)),
			 UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_token_file_read(spaced, out, sizeof(out), err,
					     sizeof(err)),
			 UPS_ERR_BAD_REQUEST);
	unlink(good);
	unlink(empty);
	unlink(spaced);
	free(good);
	free(empty);
	free(spaced);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_load_and_check),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_token_too_long),
		cmocka_unit_test(test_token_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
