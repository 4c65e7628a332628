/* upstage-fleet's --report lines (contrib/fleet/report.h): each record is
 * exactly one line of JSON that a strict parser reads back to the same
 * strings, whatever a reason holds (quotes, backslashes, newlines,
 * control bytes, non-ASCII); strings that are not UTF-8 are refused and
 * write nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "contrib/fleet/report.h"
#include "proto/errors.h"

/* The lines written to fp so far, parsed strictly; fails unless there
 * are exactly n. */
static json_t *lines_of(FILE *fp, size_t n)
{
	json_t *all = json_array();
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	assert_int_equal(fflush(fp), 0);
	rewind(fp);
	while ((len = getline(&line, &cap, fp)) > 0) {
		json_error_t jerr;
		json_t *v;

		assert_int_equal(line[len - 1], '\n');
		v = json_loadb(line, (size_t)len - 1, JSON_REJECT_DUPLICATES,
		               &jerr);
		if (!v)
			fail_msg("not JSON: %s (%s)", line, jerr.text);
		assert_true(json_is_object(v));
		json_array_append_new(all, v);
	}
	free(line);
	assert_int_equal(json_array_size(all), n);
	return all;
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	assert_non_null(s);
	return s;
}

static void test_state_reason_escaped(void **state)
{
	const char *reason = "unavailable: \"http://h/x\": said \"no\" \\ "
	                     "line\nnext\ttab \x01 caf\xc3\xa9 }{\",";
	FILE *fp = tmpfile();
	json_t *all, *l;

	(void)state;
	assert_non_null(fp);
	assert_int_equal(
	    report_state(fp, 1234, "m-7", "o-ab-1", "failed", "2.9.1", reason),
	    0);
	assert_int_equal(
	    report_state(fp, 1240, "m-7", NULL, "idle", "2.9.0", NULL), 0);
	all = lines_of(fp, 2);
	l = json_array_get(all, 0);
	assert_int_equal(json_object_size(l), 7);
	assert_int_equal(json_integer_value(json_object_get(l, "t")), 1234);
	assert_string_equal(str(l, "event"), "state");
	assert_string_equal(str(l, "machine-id"), "m-7");
	assert_string_equal(str(l, "order-id"), "o-ab-1");
	assert_string_equal(str(l, "state"), "failed");
	assert_string_equal(str(l, "version"), "2.9.1");
	assert_string_equal(str(l, "reason"), reason);
	/* No order, no reason: empty strings, as before. */
	l = json_array_get(all, 1);
	assert_string_equal(str(l, "order-id"), "");
	assert_string_equal(str(l, "reason"), "");
	json_decref(all);
	fclose(fp);
}

static void test_order_line(void **state)
{
	FILE *fp = tmpfile();
	json_t *all, *l;

	(void)state;
	assert_non_null(fp);
	assert_int_equal(report_order(fp, 0, "m-0", "o-ab-2", "revert",
	                              "2.9.0-ubuntu-amd64"),
	                 0);
	all = lines_of(fp, 1);
	l = json_array_get(all, 0);
	assert_int_equal(json_object_size(l), 6);
	assert_int_equal(json_integer_value(json_object_get(l, "t")), 0);
	assert_string_equal(str(l, "event"), "order");
	assert_string_equal(str(l, "machine-id"), "m-0");
	assert_string_equal(str(l, "order-id"), "o-ab-2");
	assert_string_equal(str(l, "kind"), "revert");
	assert_string_equal(str(l, "binary-version"), "2.9.0-ubuntu-amd64");
	json_decref(all);
	fclose(fp);
}

static void test_not_utf8_refused(void **state)
{
	FILE *fp = tmpfile();
	json_t *all;

	(void)state;
	assert_non_null(fp);
	assert_int_equal(report_state(fp, 1, "m-1", "o-ab-3", "failed", "2.9.1",
	                              "bad \xff byte"),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(ftell(fp), 0);
	assert_int_equal(
	    report_state(fp, 2, "m-1", "o-ab-3", "failed", "2.9.1", "fine"), 0);
	all = lines_of(fp, 1);
	assert_string_equal(str(json_array_get(all, 0), "reason"), "fine");
	json_decref(all);
	fclose(fp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_reason_escaped),
	    cmocka_unit_test(test_order_line),
	    cmocka_unit_test(test_not_utf8_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
