/* proto/net/throttle: the wait doubles per failure up to the cap, a
 * success forgets, addresses are independent, failures are reported
 * once with their count, and a full table gives way to the oldest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/net/throttle.h"

static void test_wait_doubles_to_cap(void **state)
{
	struct ups_throttle *t = malloc(sizeof(*t));
	uint64_t now = 1000, retry = 0, want = UPS_THROTTLE_BASE_MS;

	(void)state;
	ups_throttle_init(t);
	assert_true(ups_throttle_allowed(t, "10.0.0.1", now, &retry));
	/* The first few are typos: no wait. */
	for (int i = 0; i < UPS_THROTTLE_FREE; i++) {
		ups_throttle_failed(t, "10.0.0.1", now);
		assert_true(ups_throttle_allowed(t, "10.0.0.1", now, NULL));
	}
	for (int i = 0; i < 20; i++) {
		ups_throttle_failed(t, "10.0.0.1", now);
		assert_false(ups_throttle_allowed(t, "10.0.0.1", now, &retry));
		assert_int_equal(retry, want);
		/* One millisecond early: still blocked; on time: allowed. */
		assert_false(
		    ups_throttle_allowed(t, "10.0.0.1", now + want - 1, NULL));
		assert_true(
		    ups_throttle_allowed(t, "10.0.0.1", now + want, NULL));
		now += want;
		want = want * 2 > UPS_THROTTLE_MAX_MS ? UPS_THROTTLE_MAX_MS
		                                      : want * 2;
	}
	assert_int_equal(want, UPS_THROTTLE_MAX_MS);
	/* Another address is not affected. */
	assert_true(ups_throttle_allowed(t, "10.0.0.2", now - 1, NULL));
	/* A success forgets: free failures again, then the base wait. */
	ups_throttle_succeeded(t, "10.0.0.1");
	for (int i = 0; i < UPS_THROTTLE_FREE; i++)
		ups_throttle_failed(t, "10.0.0.1", now);
	assert_true(ups_throttle_allowed(t, "10.0.0.1", now, NULL));
	ups_throttle_failed(t, "10.0.0.1", now);
	assert_false(ups_throttle_allowed(t, "10.0.0.1", now, &retry));
	assert_int_equal(retry, UPS_THROTTLE_BASE_MS);
	free(t);
}

struct seen {
	char addr[64];
	uint64_t count;
	int calls;
};

static void report(void *arg, const char *addr, uint64_t count)
{
	struct seen *s = arg;

	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->count = count;
	s->calls++;
}

static void test_report_once_with_count(void **state)
{
	struct ups_throttle *t = malloc(sizeof(*t));
	struct seen s = {{0}, 0, 0};

	(void)state;
	ups_throttle_init(t);
	/* Each failure says how many are unreported: 1 is the first. */
	for (int i = 0; i < 6000; i++)
		assert_int_equal(ups_throttle_failed(t, "::1", 5),
		                 (uint64_t)i + 1);
	ups_throttle_report(t, report, &s);
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.addr, "::1");
	assert_int_equal(s.count, 6000);
	s.calls = 0;
	ups_throttle_report(t, report, &s);
	assert_int_equal(s.calls, 0);
	/* Failures before a success are still reported. */
	assert_int_equal(ups_throttle_failed(t, "::1", 6), 1);
	ups_throttle_succeeded(t, "::1");
	ups_throttle_report(t, report, &s);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.count, 1);
	assert_true(ups_throttle_allowed(t, "::1", 6, NULL));
	free(t);
}

static void test_full_table(void **state)
{
	struct ups_throttle *t = malloc(sizeof(*t));
	char addr[64];

	(void)state;
	ups_throttle_init(t);
	/* Fill every slot: the first address fails at time 0 (the oldest
	 * failure) and again just before now = 10^6, so it is blocked then;
	 * the others' waits are over by then. */
	ups_throttle_failed(t, "192.0.2.1", 0);
	for (int i = 0; i < 10 + UPS_THROTTLE_FREE; i++)
		ups_throttle_failed(t, "192.0.2.1", 999999);
	t->slots[0].seen_ms = 0;
	for (int i = 1; i < UPS_THROTTLE_SLOTS; i++) {
		snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
		for (int k = 0; k <= UPS_THROTTLE_FREE; k++)
			ups_throttle_failed(t, addr, (uint64_t)i);
	}
	/* A newcomer takes the oldest slot whose wait is over, not the
	 * blocked first one. */
	for (int k = 0; k <= UPS_THROTTLE_FREE; k++)
		ups_throttle_failed(t, "203.0.113.9", 1000000);
	assert_false(ups_throttle_allowed(t, "203.0.113.9", 1000000, NULL));
	assert_false(ups_throttle_allowed(t, "192.0.2.1", 1000000, NULL));
	/* 10.1.0.1 was the oldest unblocked: it is forgotten, so even at
	 * time 1 it is allowed now. */
	assert_true(ups_throttle_allowed(t, "10.1.0.1", 1, NULL));
	assert_false(ups_throttle_allowed(t, "10.1.0.2", 2, NULL));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wait_doubles_to_cap),
	    cmocka_unit_test(test_report_once_with_count),
	    cmocka_unit_test(test_full_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
