/* agent/backoff: capped exponential ceilings, full jitter in bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/net/backoff.h"

static uint64_t fixed_random(void *user)
{
	return *(uint64_t *)user;
}

static uint64_t lcg_random(void *user)
{
	uint64_t *s = user;

	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s;
}

static void test_ceiling_doubles_then_caps(void **state)
{
	(void)state;
	assert_int_equal(backoff_ceiling_ms(0, 250, 10000), 250);
	assert_int_equal(backoff_ceiling_ms(1, 250, 10000), 500);
	assert_int_equal(backoff_ceiling_ms(2, 250, 10000), 1000);
	assert_int_equal(backoff_ceiling_ms(5, 250, 10000), 8000);
	assert_int_equal(backoff_ceiling_ms(6, 250, 10000), 10000);
	assert_int_equal(backoff_ceiling_ms(7, 250, 10000), 10000);
	/* No overflow however long the link stays down. */
	assert_int_equal(backoff_ceiling_ms(4000000000u, 250, 10000), 10000);
	assert_int_equal(backoff_ceiling_ms(200, 10, 600000), 600000);
	/* initial == max: flat. */
	assert_int_equal(backoff_ceiling_ms(0, 100, 100), 100);
	assert_int_equal(backoff_ceiling_ms(9, 100, 100), 100);
}

static void test_ceiling_monotone(void **state)
{
	static const uint64_t pairs[][2] = {
	    {10, 100}, {250, 10000}, {10, 600000}, {60000, 600000}, {333, 1000},
	};
	size_t p;
	unsigned n;

	(void)state;
	for (p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		uint64_t prev = 0;

		for (n = 0; n < 100; n++) {
			uint64_t c =
			    backoff_ceiling_ms(n, pairs[p][0], pairs[p][1]);

			assert_true(c >= prev);
			assert_true(c <= pairs[p][1]);
			assert_true(c >= pairs[p][0]);
			prev = c;
		}
		assert_int_equal(prev, pairs[p][1]);
	}
}

static void test_jitter_bounds(void **state)
{
	uint64_t r;
	uint64_t seed = 42;
	unsigned n;
	int i;
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)state;
	/* The extremes of the random source map to the ends of the range. */
	r = 0;
	assert_int_equal(backoff_delay_ms(3, 250, 10000, fixed_random, &r), 0);
	r = 2000;
	assert_int_equal(backoff_delay_ms(3, 250, 10000, fixed_random, &r),
	                 2000);
	r = 2001;
	assert_int_equal(backoff_delay_ms(3, 250, 10000, fixed_random, &r), 0);
	r = UINT64_MAX;
	assert_true(backoff_delay_ms(20, 250, 10000, fixed_random, &r) <=
	            10000);

	/* Any source stays within [0, ceiling] and uses the whole range. */
	for (n = 0; n < 30; n++) {
		uint64_t c = backoff_ceiling_ms(n, 250, 10000);

		for (i = 0; i < 200; i++) {
			uint64_t d =
			    backoff_delay_ms(n, 250, 10000, lcg_random, &seed);

			assert_true(d <= c);
			if (n == 29) {
				lo = d < lo ? d : lo;
				hi = d > hi ? d : hi;
			}
		}
	}
	assert_true(lo < 2000);
	assert_true(hi > 8000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ceiling_doubles_then_caps),
	    cmocka_unit_test(test_ceiling_monotone),
	    cmocka_unit_test(test_jitter_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
