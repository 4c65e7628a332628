/* The rollout and packaging commands' own parsers: durations
 * (upgrade-controller) and Go-style platforms (make-simplestreams). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "contrib/cli/package_cmds.h"
#include "contrib/cli/rollout_cmds.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_platforms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
