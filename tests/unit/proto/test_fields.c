/* ups_fields_unpack: strict, declarative unpacking of params objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/fields.h"

struct out {
	const char *token;
	const char *role;
	int64_t size;
	bool force;
	json_t *meta;
	json_t *list;
};

#define NFIELDS 6

/* Borrowed string outputs dangle once the object is gone, so failures are
 * checked by pointer identity against this sentinel. */
static const char untouched[] = "untouched";

static void fields_init(struct ups_field f[NFIELDS], struct out *o)
{
	const struct ups_field tmpl[NFIELDS] = {
	    {"token", UPS_FIELD_STRING, true, 0, 8, &o->token},
	    {"role", UPS_FIELD_STRING, true, 1, 0, &o->role},
	    {"size", UPS_FIELD_INT, false, 1, 1000, &o->size},
	    {"force", UPS_FIELD_BOOL, false, 0, 0, &o->force},
	    {"meta", UPS_FIELD_OBJECT, false, 0, 0, &o->meta},
	    {"list", UPS_FIELD_ARRAY, false, 0, 0, &o->list},
	};

	memcpy(f, tmpl, sizeof(tmpl));
}

/* Unpacks text into o (pre-set to sentinels); returns rv, err in err. */
static int unpack(const char *text, struct out *o, char *err, size_t errlen)
{
	struct ups_field f[NFIELDS];
	json_error_t jerr;
	json_t *obj;
	int rv;

	o->token = untouched;
	o->role = untouched;
	o->size = -7;
	o->force = false;
	o->meta = NULL;
	o->list = NULL;
	err[0] = '\0';
	fields_init(f, o);
	obj = json_loads(text, JSON_DECODE_ANY, &jerr);
	assert_non_null(obj);
	rv = ups_fields_unpack(obj, "params", f, NFIELDS, err, errlen);
	json_decref(obj);
	return rv;
}

static void expect_fail(const char *text, const char *msg)
{
	char err[UPS_ERRMSG_MAX];
	struct out o;

	assert_int_equal(unpack(text, &o, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_string_equal(err, msg);
	/* Nothing is written when the object is rejected. */
	assert_ptr_equal(o.token, untouched);
	assert_ptr_equal(o.role, untouched);
	assert_int_equal(o.size, -7);
	assert_false(o.force);
	assert_null(o.meta);
}

static void test_all_fields(void **state)
{
	struct ups_field f[NFIELDS];
	char err[UPS_ERRMSG_MAX];
	struct out o = {0};
	json_t *obj;

	(void)state;
	obj = json_loads("{\"token\":\"abc\",\"role\":\"client\",\"size\":1000,"
	                 "\"force\":true,\"meta\":{\"a\":1},\"list\":[1,2]}",
	                 0, NULL);
	assert_non_null(obj);
	fields_init(f, &o);
	assert_int_equal(
	    ups_fields_unpack(obj, "params", f, NFIELDS, err, sizeof(err)), 0);
	assert_string_equal(o.token, "abc");
	assert_string_equal(o.role, "client");
	assert_int_equal(o.size, 1000);
	assert_true(o.force);
	assert_true(json_is_object(o.meta));
	assert_int_equal(json_integer_value(json_object_get(o.meta, "a")), 1);
	assert_int_equal(json_array_size(o.list), 2);
	json_decref(obj);
}

static void test_optional_absent_untouched(void **state)
{
	char err[UPS_ERRMSG_MAX];
	struct out o;

	(void)state;
	assert_int_equal(
	    unpack("{\"token\":\"\",\"role\":\"r\"}", &o, err, sizeof(err)), 0);
	assert_int_equal(o.size, -7);
	assert_false(o.force);
	assert_null(o.meta);
	assert_null(o.list);
}

static void test_missing(void **state)
{
	(void)state;
	expect_fail("{\"token\":\"abc\"}", "missing field \"params.role\"");
	expect_fail("{}", "missing field \"params.token\"");
}

static void test_unknown(void **state)
{
	(void)state;
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"x\":1}",
	            "unknown field \"params.x\"");
	/* Case matters: keys are exact. */
	expect_fail("{\"Token\":\"a\",\"role\":\"r\"}",
	            "unknown field \"params.Token\"");
	/* Hostile keys are echoed bounded and without quotes/controls. */
	expect_fail("{\"a\\\"b\\n\":1}", "unknown field \"params.a?b?\"");
}

static void test_unknown_long_key(void **state)
{
	char text[256], want[128];

	(void)state;
	snprintf(text, sizeof(text), "{\"%0100d\":1}", 0);
	snprintf(want, sizeof(want), "unknown field \"params.%064d...\"", 0);
	expect_fail(text, want);
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_fail("{\"token\":1,\"role\":\"r\"}",
	            "field \"params.token\": expected string");
	expect_fail("{\"token\":null,\"role\":\"r\"}",
	            "field \"params.token\": expected string");
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"size\":\"5\"}",
	            "field \"params.size\": expected integer");
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"size\":5.0}",
	            "field \"params.size\": expected integer");
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"force\":1}",
	            "field \"params.force\": expected boolean");
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"meta\":[]}",
	            "field \"params.meta\": expected object");
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"list\":{}}",
	            "field \"params.list\": expected array");
}

static void test_ranges(void **state)
{
	char err[UPS_ERRMSG_MAX];
	struct out o;

	(void)state;
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"size\":0}",
	            "field \"params.size\": out of range");
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"size\":1001}",
	            "field \"params.size\": out of range");
	expect_fail("{\"token\":\"a\",\"role\":\"r\",\"size\":-1}",
	            "field \"params.size\": out of range");
	assert_int_equal(unpack("{\"token\":\"a\",\"role\":\"r\",\"size\":1}",
	                        &o, err, sizeof(err)),
	                 0);
	assert_int_equal(o.size, 1);
	/* Max length 8 is inclusive. */
	assert_int_equal(unpack("{\"token\":\"12345678\",\"role\":\"r\"}", &o,
	                        err, sizeof(err)),
	                 0);
	expect_fail("{\"token\":\"123456789\",\"role\":\"r\"}",
	            "field \"params.token\": too long (max 8)");
	/* role has min length 1. */
	expect_fail("{\"token\":\"a\",\"role\":\"\"}",
	            "field \"params.role\": too short (min 1)");
}

static void test_default_string_limit(void **state)
{
	char err[UPS_ERRMSG_MAX];
	char *big = malloc(UPS_LIMIT_STRING_LEN + 2);
	json_t *obj;
	const char *s = NULL;
	const struct ups_field f[] = {
	    {"s", UPS_FIELD_STRING, true, 0, 0, &s},
	};

	(void)state;
	assert_non_null(big);
	memset(big, 'a', UPS_LIMIT_STRING_LEN + 1);
	big[UPS_LIMIT_STRING_LEN] = '\0';
	obj = json_pack("{s:s}", "s", big);
	assert_int_equal(ups_fields_unpack(obj, "p", f, 1, err, sizeof(err)),
	                 0);
	assert_int_equal(strlen(s), UPS_LIMIT_STRING_LEN);
	json_decref(obj);

	big[UPS_LIMIT_STRING_LEN] = 'a';
	big[UPS_LIMIT_STRING_LEN + 1] = '\0';
	obj = json_pack("{s:s}", "s", big);
	assert_int_equal(ups_fields_unpack(obj, "p", f, 1, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_string_equal(err, "field \"p.s\": too long (max 1024)");
	json_decref(obj);
	free(big);
}

static void test_embedded_nul(void **state)
{
	char err[UPS_ERRMSG_MAX];
	const char *s = "untouched";
	const struct ups_field f[] = {
	    {"s", UPS_FIELD_STRING, true, 0, 0, &s},
	};
	json_t *obj = json_object();

	(void)state;
	json_object_set_new(obj, "s", json_stringn("a\0b", 3));
	assert_int_equal(
	    ups_fields_unpack(obj, "params", f, 1, err, sizeof(err)),
	    UPS_ERR_BAD_REQUEST);
	assert_string_equal(err, "field \"params.s\": contains NUL");
	assert_string_equal(s, "untouched");
	json_decref(obj);
}

static void test_not_object(void **state)
{
	char err[UPS_ERRMSG_MAX];
	json_t *arr = json_array();

	(void)state;
	assert_int_equal(
	    ups_fields_unpack(arr, "params", NULL, 0, err, sizeof(err)),
	    UPS_ERR_BAD_REQUEST);
	assert_string_equal(err, "field \"params\": expected object");
	assert_int_equal(
	    ups_fields_unpack(NULL, "params", NULL, 0, err, sizeof(err)),
	    UPS_ERR_BAD_REQUEST);
	json_decref(arr);
}

static void test_no_where(void **state)
{
	char err[UPS_ERRMSG_MAX];
	int64_t n = 0;
	const struct ups_field f[] = {
	    {"n", UPS_FIELD_INT, true, 0, 5, &n},
	};
	json_t *obj = json_pack("{s:i}", "n", 6);

	(void)state;
	assert_int_equal(ups_fields_unpack(obj, NULL, f, 1, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_string_equal(err, "field \"n\": out of range");
	json_decref(obj);
}

static void test_empty_table_accepts_empty_object(void **state)
{
	char err[UPS_ERRMSG_MAX];
	json_t *obj = json_object();

	(void)state;
	assert_int_equal(
	    ups_fields_unpack(obj, "params", NULL, 0, err, sizeof(err)), 0);
	json_object_set_new(obj, "k", json_true());
	assert_int_equal(
	    ups_fields_unpack(obj, "params", NULL, 0, err, sizeof(err)),
	    UPS_ERR_BAD_REQUEST);
	assert_string_equal(err, "unknown field \"params.k\"");
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_fields),
	    cmocka_unit_test(test_optional_absent_untouched),
	    cmocka_unit_test(test_missing),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_unknown_long_key),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_default_string_limit),
	    cmocka_unit_test(test_embedded_nul),
	    cmocka_unit_test(test_not_object),
	    cmocka_unit_test(test_no_where),
	    cmocka_unit_test(test_empty_table_accepts_empty_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
