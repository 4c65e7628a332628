/* The error table: every code maps to its wire string and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/errors.h"

struct row {
	int rv;
	const char *code;
	const char *message;
};

#define ROW(name, wire, msg) {UPS_ERR_##name, wire, msg},
static const struct row rows[] = {UPS_ERRORS(ROW)};
#undef ROW
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void test_table_round_trip(void **state)
{
	size_t i, j;

	(void)state;
	assert_int_equal(NROWS, UPS_ERR__LAST - UPS_ERR__FIRST - 1);
	for (i = 0; i < NROWS; i++) {
		assert_true(rows[i].rv < 0);
		assert_true(ups_err_is_known(rows[i].rv));
		assert_string_equal(ups_err_code(rows[i].rv), rows[i].code);
		assert_string_equal(ups_err_message(rows[i].rv),
		                    rows[i].message);
		assert_int_equal(ups_err_from_code(rows[i].code), rows[i].rv);
		/* Wire codes are unique, or from_code would be ambiguous. */
		for (j = i + 1; j < NROWS; j++)
			assert_string_not_equal(rows[i].code, rows[j].code);
	}
}

static void test_known_values(void **state)
{
	(void)state;
	assert_string_equal(ups_err_code(UPS_ERR_BAD_REQUEST), "bad-request");
	assert_string_equal(ups_err_code(UPS_ERR_OFFSET_MISMATCH),
	                    "offset-mismatch");
	assert_string_equal(ups_err_code(UPS_ERR_INTERNAL), "internal");
	assert_int_equal(ups_err_from_code("too-large"), UPS_ERR_TOO_LARGE);
	assert_int_equal(ups_err_from_code("unavailable"), UPS_ERR_UNAVAILABLE);
}

static void test_unknown(void **state)
{
	(void)state;
	assert_false(ups_err_is_known(0));
	assert_false(ups_err_is_known(-1));
	assert_false(ups_err_is_known(UPS_ERR__FIRST));
	assert_false(ups_err_is_known(UPS_ERR__LAST));
	assert_false(ups_err_is_known(12345));
	assert_string_equal(ups_err_code(-1), "internal");
	assert_string_equal(ups_err_code(UPS_ERR__LAST), "internal");
	assert_string_equal(ups_err_message(-5), "internal error");
	assert_int_equal(ups_err_from_code("no-such-code"), UPS_ERR_INTERNAL);
	assert_int_equal(ups_err_from_code(""), UPS_ERR_INTERNAL);
	assert_int_equal(ups_err_from_code("Bad-Request"), UPS_ERR_INTERNAL);
	assert_int_equal(ups_err_from_code(NULL), UPS_ERR_INTERNAL);
}

static void test_errf(void **state)
{
	char buf[8];
	char big[64];

	(void)state;
	assert_int_equal(ups_errf(UPS_ERR_CONFLICT, big, sizeof(big),
	                          "field %s: %d", "x", 42),
	                 UPS_ERR_CONFLICT);
	assert_string_equal(big, "field x: 42");

	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(
	    ups_errf(UPS_ERR_IO, buf, sizeof(buf), "%s", "0123456789"),
	    UPS_ERR_IO);
	assert_string_equal(buf, "0123456");

	/* No buffer: the code still comes back. */
	assert_int_equal(ups_errf(UPS_ERR_BUSY, NULL, 0, "x"), UPS_ERR_BUSY);
	buf[0] = 'Q';
	assert_int_equal(ups_errf(UPS_ERR_BUSY, buf, 0, "x"), UPS_ERR_BUSY);
	assert_int_equal(buf[0], 'Q');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_round_trip),
	    cmocka_unit_test(test_known_values),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_errf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
