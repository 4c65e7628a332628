/* The rollout and packaging commands' own parsers: durations
 * (upgrade-controller) and Go-style platforms (make-simplestreams); the
 * local juju client's version (fake `juju` scripts on PATH), and
 * upgrade-controller's usage error when there is neither a version given
 * nor a juju client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "contrib/cli/juju_client.h"
#include "contrib/cli/package_cmds.h"
#include "contrib/cli/rollout_cmds.h"
#include "proto/errors.h"
#include "tests/lib/checks.h"
#include "tests/lib/tmpdir.h"
#include "tests/unit/cli/harness.h"

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		int rv;
		int64_t ms;
	} cases[] = {
	    {"90s", 0, 90000},   {"5m", 0, 300000}, {"1h", 0, 3600000},
	    {"250ms", 0, 250},   {"12", 0, 12000},  {"0", 0, 0},
	    {"720h", 0, 2592000000LL},
	    {"721h", -1, 0},     {"", -1, 0},       {"s", -1, 0},
	    {"-5s", -1, 0},      {"5x", -1, 0},     {"5 s", -1, 0},
	    {"1.5h", -1, 0},     {"99999999999999999999s", -1, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -7;
		int rv = rcmd_duration(cases[i].s, &ms);

		if (rv != cases[i].rv || (rv == 0 && ms != cases[i].ms))
			fail_msg("\"%s\": rv %d ms %lld", cases[i].s, rv,
			         (long long)ms);
	}
	assert_int_equal(rcmd_duration(NULL, &(int64_t){0}), -1);
}

static void test_platforms(void **state)
{
	static const struct {
		const char *pair, *release, *arch;
	} good[] = {
	    {"linux/amd64", "ubuntu", "amd64"},
	    {"linux/ppc64le", "ubuntu", "ppc64el"},
	    {"ubuntu/arm64", "ubuntu", "arm64"},
	    {"darwin/arm64", "osx", "arm64"},
	    {"macos/amd64", "osx", "amd64"},
	    {"windows/amd64", "windows", "amd64"},
	    {"centos/s390x", "centos", "s390x"},
	};
	static const char *const bad[] = {
	    "linux",      "linux/",     "/amd64",        "plan9/amd64",
	    "linux/i386", "linux/amd",  "linux/amd64/x", "LINUX/amd64",
	};
	char release[32], arch[32];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(pcmd_platform(good[i].pair,
		                               strlen(good[i].pair), release,
		                               sizeof(release), arch,
		                               sizeof(arch)),
		                 0);
		assert_string_equal(release, good[i].release);
		assert_string_equal(arch, good[i].arch);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pcmd_platform(bad[i], strlen(bad[i]), release,
		                  sizeof(release), arch, sizeof(arch)) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
	/* Only the first len bytes count (PAIR=PATH). */
	assert_int_equal(pcmd_platform("linux/amd64=/x", 11, release,
	                               sizeof(release), arch, sizeof(arch)),
	                 0);
}

/* dir/juju: a shell script with body (after the #! line). */
static void fake_juju(const char *dir, const char *body)
{
	char path[TMPDIR_PATH_MAX + 8];
	FILE *f;

	snprintf(path, sizeof(path), "%s/juju", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static void test_juju_client(void **state)
{
	char dir[TMPDIR_PATH_MAX], err[UPS_ERRMSG_MAX], *path;
	const char *old = getenv("PATH");
	struct ups_version v;
	struct run r;

	(void)state;
	path = strdup(old ? old : "/usr/bin:/bin");
	assert_non_null(path);
	assert_int_equal(tmpdir_make(dir, sizeof(dir), "test_cli_juju"), 0);
	/* PATH holds nothing but the fake client (and a missing entry). */
	setenv("PATH", "/nonexistent", 1);
	assert_int_equal(juju_client_version(&v, err, sizeof(err)),
	                 UPS_ERR_NOT_FOUND);
	tl_assert_contains(err, "no juju client on PATH");
	/* No version given and no client: a usage error saying how. */
	r = RUN("upgrade-controller", "--dry-run");
	assert_int_equal(r.exit, CLI_EXIT_USAGE);
	tl_assert_contains(r.err, "cannot auto-select a version");
	tl_assert_contains(r.err, "--client-version");
	tl_assert_contains(r.err, "no juju client on PATH");
	run_free(&r);

	{
		char p[2 * TMPDIR_PATH_MAX];

		snprintf(p, sizeof(p), "/nonexistent:%s", dir);
		setenv("PATH", p, 1);
	}
	fake_juju(dir, "[ \"$1\" = version ] || exit 3\n"
	               "echo 2.9.7-ubuntu-amd64");
	assert_int_equal(juju_client_version(&v, err, sizeof(err)), 0);
	assert_int_equal(v.major, 2);
	assert_int_equal(v.minor, 9);
	assert_int_equal(v.patch, 7);
	fake_juju(dir, "echo '  3.1.2'");
	assert_int_equal(juju_client_version(&v, err, sizeof(err)), 0);
	assert_int_equal(v.major, 3);
	assert_int_equal(v.minor, 1);
	assert_int_equal(v.patch, 2);
	fake_juju(dir, "echo 'juju: command not found'");
	assert_int_equal(juju_client_version(&v, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	tl_assert_contains(err, "cannot parse");
	r = RUN("upgrade-controller", "--dry-run");
	assert_int_equal(r.exit, CLI_EXIT_USAGE);
	tl_assert_contains(r.err, "cannot parse");
	run_free(&r);
	fake_juju(dir, "echo 2.9.7-ubuntu-amd64; exit 1");
	assert_int_equal(juju_client_version(&v, err, sizeof(err)), UPS_ERR_IO);
	tl_assert_contains(err, "version failed");

	setenv("PATH", path, 1);
	free(path);
	assert_int_equal(tmpdir_remove(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_platforms),
	    cmocka_unit_test(test_juju_client),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
