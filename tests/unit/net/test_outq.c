#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/net/outq.h"

static void test_bound(void **state)
{
	struct ups_outq q;
	char big[100];

	(void)state;
	memset(big, 'x', sizeof(big));
	ups_outq_init(&q, 250);
	assert_int_equal(ups_outq_push(&q, false, big, 100, NULL, 0), 0);
	assert_int_equal(ups_outq_push(&q, true, big, 50, big, 50), 0);
	assert_int_equal(q.bytes, 200);
	assert_int_equal(q.count, 2);
	/* 200 + 51 > 250 */
	assert_int_equal(ups_outq_push(&q, false, big, 51, NULL, 0),
			 UPS_ERR_BUSY);
	assert_int_equal(ups_outq_push(&q, false, big, 50, NULL, 0), 0);
	assert_int_equal(q.bytes, 250);
	assert_int_equal(ups_outq_push(&q, false, big, 1, NULL, 0),
			 UPS_ERR_BUSY);
	assert_false(ups_outq_empty(&q));
	ups_outq_clear(&q);
	assert_true(ups_outq_empty(&q));
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.count, 0);
}

static void test_oversized_single(void **state)
{
	struct ups_outq q;
	char b[8] = {0};

	(void)state;
	ups_outq_init(&q, 4);
	assert_int_equal(ups_outq_push(&q, false, b, 5, NULL, 0),
			 UPS_ERR_BUSY);
	assert_int_equal(ups_outq_push(&q, false, b, 3, b, 2), UPS_ERR_BUSY);
	assert_true(ups_outq_empty(&q));
}

static void test_json(void **state)
{
	struct ups_outq q;
	json_t *env = ups_env_response(7, json_pack("{s:i}", "x", 1));

	(void)state;
	assert_non_null(env);
	ups_outq_init(&q, 1024);
	assert_int_equal(ups_outq_push_json(&q, env), 0);
	assert_int_equal(q.count, 1);
	assert_true(q.bytes > 10);
	json_decref(env);
	ups_outq_clear(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_oversized_single),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
