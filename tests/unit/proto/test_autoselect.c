/* Upgrade auto-selection (DESIGN.md "Version rules"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/autoselect.h"
#include "proto/errors.h"
#include "proto/version.h"
#include "tests/lib/checks.h"

#define MAX_AVAIL 16

/* Runs the selection on NULL-terminated avail; returns rv, the choice in
 * canonical form in chosen (or "" on error), the message in err. */
static int
select_v(const char *client, const char *agent, const char *const *avail,
         char *chosen, size_t chosen_len, char *err)
{
	struct ups_version a[MAX_AVAIL];
	struct ups_version c = tl_version(client), g = tl_version(agent), out;
	size_t n = 0;
	int rv;

	while (avail[n] != NULL) {
		assert_true(n < MAX_AVAIL);
		a[n] = tl_version(avail[n]);
		n++;
	}
	memset(&out, 0, sizeof(out));
	err[0] = '\0';
	chosen[0] = '\0';
	rv = ups_version_autoselect(&c, &g, a, n, &out, err, UPS_ERRMSG_MAX);
	if (rv == 0)
		assert_int_equal(ups_version_format(&out, chosen, chosen_len),
		                 0);
	return rv;
}

static void expect_choice(const char *client, const char *agent,
                          const char *const *avail, const char *want)
{
	char chosen[UPS_LIMIT_VERSION_LEN + 1];
	char err[UPS_ERRMSG_MAX];
	int rv = select_v(client, agent, avail, chosen, sizeof(chosen), err);

	if (rv != 0)
		fail_msg("client %s agent %s: %s", client, agent, err);
	assert_string_equal(chosen, want);
}

static void expect_error(const char *client, const char *agent,
                         const char *const *avail, const char *msg)
{
	char chosen[UPS_LIMIT_VERSION_LEN + 1];
	char err[UPS_ERRMSG_MAX];
	int rv = select_v(client, agent, avail, chosen, sizeof(chosen), err);

	if (rv != UPS_ERR_NO_SUITABLE_VERSION)
		fail_msg("client %s agent %s: rv %d chose %s", client, agent,
		         rv, chosen);
	assert_string_equal(err, msg);
}

/* The seed document's set; it writes 2.0.2 as "2.02". */
static const char *const seed[] = {"1.25.1", "2.0.2", "2.0.3",
                                   "2.1",    "2.2",   NULL};

static void test_seed_next_patch(void **state)
{
	(void)state;
	expect_choice("2.0.3", "2.0.1", seed, "2.0.2");
}

static void test_seed_same_minor(void **state)
{
	(void)state;
	expect_choice("1.25", "1.25", seed, "1.25.1");
}

static void test_seed_cross_major(void **state)
{
	(void)state;
	expect_choice("2.1", "1.25", seed, "2.1.0");
}

static void test_rule1_missing(void **state)
{
	(void)state;
	expect_error("2.3", "1.25", seed,
	             "client version 2.3.0 is not available");
	expect_error("3.0-rc1", "2.0.1", seed,
	             "client version 3.0-rc1 is not available");
	/* Rule 1 holds for a downgrade of major too. */
	expect_error("1.26", "2.0.2", seed,
	             "client version 1.26.0 is not available");
	expect_choice("1.25.1", "2.0.2", seed, "1.25.1");
}

static void test_rule1_tagged_client(void **state)
{
	static const char *const avail[] = {"3.0-rc2", "3.0.0", NULL};

	(void)state;
	/* Crossing to exactly the client's version, tag and all. */
	expect_choice("3.0-rc2", "2.9.1", avail, "3.0-rc2");
}

static void test_rule2c(void **state)
{
	static const char *const none[] = {NULL};

	(void)state;
	/* Already at the newest allowed by the client. */
	expect_error("2.0.3", "2.0.3", seed,
	             "no more recent supported versions available");
	expect_error("2.2", "2.2", seed,
	             "no more recent supported versions available");
	expect_error("2.0.3", "2.0.1", none,
	             "no more recent supported versions available");
	/* Agent newer than the client's minor: nothing qualifies. */
	expect_error("2.0.3", "2.1", seed,
	             "no more recent supported versions available");
}

static void test_client_caps_minor(void **state)
{
	(void)state;
	/* 2.1 and 2.2 exist but the 2.0 client may not pick them. */
	expect_choice("2.0.9", "2.0.2", seed, "2.0.3");
	/* A 2.1 client may take the next minor. */
	expect_choice("2.1", "2.0.2", seed, "2.1.0");
	/* Only the next minor, never two ahead: 2.2 is not G.minor + 1. */
	expect_choice("2.2", "2.0.2", seed, "2.1.0");
}

static void test_newest_of_next_minor(void **state)
{
	static const char *const avail[] = {
	    "2.9.33", "2.9.5", "2.9.40.2", "2.9.40", "2.8.9", "2.10.0", NULL};

	(void)state;
	expect_choice("2.9.1", "2.8.1", avail, "2.9.40.2");
	/* Next minor beats next patch. */
	expect_choice("2.9.1", "2.8.2", avail, "2.9.40.2");
}

static void test_tagged_ignored(void **state)
{
	static const char *const avail[] = {"2.9-rc1", "2.8.3", "2.8-rc9",
	                                    NULL};
	static const char *const only_tags[] = {"2.9-rc1", "2.8-rc9", NULL};

	(void)state;
	/* A tagged next minor never wins; the stable next patch does. */
	expect_choice("2.9.0", "2.8.1", avail, "2.8.3");
	expect_error("2.9.0", "2.8.1", only_tags,
	             "no more recent supported versions available");
}

static void test_build_counts_as_next_patch(void **state)
{
	static const char *const avail[] = {"2.8.1", "2.8.1.2", "2.8.1.1",
	                                    "2.8.3", NULL};

	(void)state;
	/* Smallest version greater than G: a build of the same patch. */
	expect_choice("2.8.5", "2.8.1", avail, "2.8.1.1");
	expect_choice("2.8.5", "2.8.1.1", avail, "2.8.1.2");
	expect_choice("2.8.5", "2.8.1.2", avail, "2.8.3");
}

static void test_tagged_agent(void **state)
{
	static const char *const avail[] = {"2.9-rc2", "2.9.0", "2.9.1", NULL};

	(void)state;
	/* From a release candidate the next stable of that minor. */
	expect_choice("2.9.1", "2.9-rc1", avail, "2.9.0");
}

static void test_order_independent(void **state)
{
	static const char *const a1[] = {"2.0.5", "2.0.4", "2.0.6", NULL};
	static const char *const a2[] = {"2.0.6", "2.0.5", "2.0.4", NULL};
	static const char *const a3[] = {"2.0.4", "2.0.6", "2.0.5", NULL};

	(void)state;
	expect_choice("2.0.9", "2.0.3", a1, "2.0.4");
	expect_choice("2.0.9", "2.0.3", a2, "2.0.4");
	expect_choice("2.0.9", "2.0.3", a3, "2.0.4");
}

/* Builds major.minor.patch by hand: the grammar's nine digits cannot spell
 * the largest minor, but a struct from elsewhere may hold it. */
static struct ups_version raw(uint32_t major, uint32_t minor, uint32_t patch)
{
	struct ups_version v;

	memset(&v, 0, sizeof(v));
	v.major = major;
	v.minor = minor;
	v.patch = patch;
	return v;
}

static void test_minor_wrap(void **state)
{
	const struct ups_version avail[] = {raw(2, 0, 1),
	                                    raw(2, UINT32_MAX, 1)};
	struct ups_version c = raw(2, UINT32_MAX, 9), out;
	struct ups_version g0 = raw(2, UINT32_MAX, 0);
	struct ups_version g1 = raw(2, UINT32_MAX, 1);
	char err[UPS_ERRMSG_MAX];

	(void)state;
	/* G.minor + 1 must not wrap to 0 and pick 2.0.1. */
	assert_int_equal(
	    ups_version_autoselect(&c, &g0, avail, 2, &out, err, sizeof(err)),
	    0);
	assert_int_equal(ups_version_compare(&out, &avail[1]), 0);
	assert_int_equal(
	    ups_version_autoselect(&c, &g1, avail, 2, &out, err, sizeof(err)),
	    UPS_ERR_NO_SUITABLE_VERSION);
	assert_string_equal(err, "no more recent supported versions available");
}

/* Which rule chose, for the three seed examples and a next minor; and
 * which versions each case looks at. */
static void test_rule_named(void **state)
{
	static const char *const avail[] = {"1.25.1", "2.0.2", "2.0.3",
	                                    "2.1",    "2.2",   "2.1-rc1"};
	static const struct {
		const char *client, *agent, *version, *rule;
	} cases[] = {
	    {"2.0.3", "2.0.1", "2.0.2", "next-patch"},
	    {"1.25", "1.25", "1.25.1", "next-patch"},
	    {"2.1", "1.25", "2.1.0", "client-version"},
	    {"2.2", "2.0.5", "2.1.0", "next-minor"},
	};
	struct ups_version a[6], out;
	char text[UPS_LIMIT_VERSION_LEN + 1], err[UPS_ERRMSG_MAX];
	enum ups_autoselect_rule rule;

	(void)state;
	for (size_t i = 0; i < 6; i++)
		a[i] = tl_version(avail[i]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ups_version c = tl_version(cases[i].client),
		                   g = tl_version(cases[i].agent);

		rule = (enum ups_autoselect_rule)99;
		assert_int_equal(ups_version_select(&c, &g, a, 6, &out, &rule,
		                                    err, sizeof(err)),
		                 0);
		ups_version_format(&out, text, sizeof(text));
		assert_string_equal(text, cases[i].version);
		assert_string_equal(ups_autoselect_rule_name(rule),
		                    cases[i].rule);
	}
	assert_string_equal(
	    ups_autoselect_rule_name((enum ups_autoselect_rule)7), "unknown");
	{
		struct ups_version c = tl_version("2.0.3"),
		                   g = tl_version("2.0.1");
		struct ups_version c2 = tl_version("2.1"),
		                   g2 = tl_version("1.25");

		/* Same major: stable, not past the client's minor. */
		assert_true(ups_autoselect_considers(&c, &g, &a[1]));
		assert_true(ups_autoselect_considers(&c, &g, &a[0]));
		assert_false(ups_autoselect_considers(&c, &g, &a[3]));
		assert_false(ups_autoselect_considers(&c, &g, &a[5]));
		/* Across a major: everything (C must be among them). */
		for (size_t i = 0; i < 6; i++)
			assert_true(ups_autoselect_considers(&c2, &g2, &a[i]));
	}
	/* A failure leaves the rule alone. */
	{
		struct ups_version c = tl_version("3.0"),
		                   g = tl_version("2.0.1");

		rule = (enum ups_autoselect_rule)99;
		assert_int_equal(ups_version_select(&c, &g, a, 6, &out, &rule,
		                                    err, sizeof(err)),
		                 UPS_ERR_NO_SUITABLE_VERSION);
		assert_int_equal(rule, 99);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_next_patch),
	    cmocka_unit_test(test_seed_same_minor),
	    cmocka_unit_test(test_seed_cross_major),
	    cmocka_unit_test(test_rule1_missing),
	    cmocka_unit_test(test_rule1_tagged_client),
	    cmocka_unit_test(test_rule2c),
	    cmocka_unit_test(test_client_caps_minor),
	    cmocka_unit_test(test_newest_of_next_minor),
	    cmocka_unit_test(test_tagged_ignored),
	    cmocka_unit_test(test_build_counts_as_next_patch),
	    cmocka_unit_test(test_tagged_agent),
	    cmocka_unit_test(test_order_independent),
	    cmocka_unit_test(test_minor_wrap),
	    cmocka_unit_test(test_rule_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
