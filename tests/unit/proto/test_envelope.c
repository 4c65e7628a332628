/* Envelopes: strict parsing of every kind, every rejection path, and the
 * constructors round-tripping through the parser. */
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

static int parse_str(const char *s, struct ups_envelope *env, char *err)
{
	return ups_envelope_parse(s, strlen(s), env, err, UPS_ERRMSG_MAX);
}

/* Parses a message that must fail with rv and exactly msg. */
static void expect_reject_len(const char *s, size_t len, int rv,
                              const char *msg)
{
	char err[UPS_ERRMSG_MAX] = "";
	struct ups_envelope env;

	memset(&env, 0xAB, sizeof(env));
	assert_int_equal(ups_envelope_parse(s, len, &env, err, sizeof(err)),
	                 rv);
	if (msg != NULL)
		assert_string_equal(err, msg);
	else
		assert_true(err[0] != '\0');
	/* Left cleared on failure. */
	assert_null(env.params);
	assert_null(env.response);
	assert_null(env.error_text);
	assert_null(env.error_info);
	assert_int_equal(env.request_id, 0);
}

static void expect_reject(const char *s, const char *msg)
{
	expect_reject_len(s, strlen(s), UPS_ERR_BAD_REQUEST, msg);
}

static void test_request_full(void **state)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_envelope env;

	(void)state;
	assert_int_equal(
	    parse_str("{\"request-id\":9007199254740991,\"type\":\"Admin\","
	              "\"version\":3,\"request\":\"Log_in-2\","
	              "\"params\":{\"a\":1},\"origin\":4294967295}",
	              &env, err),
	    0);
	assert_int_equal(env.kind, UPS_ENV_REQUEST);
	assert_true(env.request_id == 9007199254740991ULL);
	assert_true(env.has_origin);
	assert_true(env.origin == 4294967295U);
	assert_string_equal(env.type, "Admin");
	assert_string_equal(env.request, "Log_in-2");
	assert_int_equal(env.version, 3);
	assert_int_equal(json_integer_value(json_object_get(env.params, "a")),
	                 1);
	assert_null(env.response);
	ups_envelope_clear(&env);
	assert_null(env.params);
	assert_int_equal(env.request_id, 0);
	/* Clearing twice, or a zeroed struct, is safe. */
	ups_envelope_clear(&env);
}

static void test_request_defaults(void **state)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_envelope env;

	(void)state;
	assert_int_equal(parse_str(" {\"request\":\"Ping\",\"type\":\"Agent\","
	                           "\"request-id\":1}\n",
	                           &env, err),
	                 0);
	assert_int_equal(env.kind, UPS_ENV_REQUEST);
	assert_int_equal(env.request_id, 1);
	assert_false(env.has_origin);
	assert_int_equal(env.origin, 0);
	assert_int_equal(env.version, 1);
	assert_true(json_is_object(env.params));
	assert_int_equal(json_object_size(env.params), 0);
	ups_envelope_clear(&env);

	assert_int_equal(
	    parse_str("{\"request-id\":2,\"type\":\"A\",\"request\":"
	              "\"B\",\"version\":0}",
	              &env, err),
	    0);
	assert_int_equal(env.version, 0);
	ups_envelope_clear(&env);
	assert_int_equal(
	    parse_str("{\"request-id\":2,\"type\":\"A\",\"request\":"
	              "\"B\",\"version\":1000}",
	              &env, err),
	    0);
	assert_int_equal(env.version, 1000);
	ups_envelope_clear(&env);
}

static void test_response(void **state)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_envelope env;

	(void)state;
	assert_int_equal(parse_str("{\"request-id\":5,\"response\":{\"x\":[1]},"
	                           "\"origin\":7}",
	                           &env, err),
	                 0);
	assert_int_equal(env.kind, UPS_ENV_RESPONSE);
	assert_int_equal(env.request_id, 5);
	assert_true(env.has_origin);
	assert_int_equal(env.origin, 7);
	assert_true(json_is_array(json_object_get(env.response, "x")));
	assert_null(env.params);
	ups_envelope_clear(&env);
}

static void test_error(void **state)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_envelope env;

	(void)state;
	assert_int_equal(parse_str("{\"request-id\":5,\"error\":\"nope\","
	                           "\"error-code\":\"offset-mismatch\","
	                           "\"error-info\":{\"expected\":10}}",
	                           &env, err),
	                 0);
	assert_int_equal(env.kind, UPS_ENV_ERROR);
	assert_int_equal(env.request_id, 5);
	assert_int_equal(env.error_code, UPS_ERR_OFFSET_MISMATCH);
	assert_string_equal(env.error_code_text, "offset-mismatch");
	assert_string_equal(env.error_text, "nope");
	assert_int_equal(
	    json_integer_value(json_object_get(env.error_info, "expected")),
	    10);
	ups_envelope_clear(&env);

	/* A code from a newer peer: internal, but the text survives. */
	assert_int_equal(parse_str("{\"request-id\":5,\"error\":\"\","
	                           "\"error-code\":\"shiny-new\"}",
	                           &env, err),
	                 0);
	assert_int_equal(env.error_code, UPS_ERR_INTERNAL);
	assert_string_equal(env.error_code_text, "shiny-new");
	assert_string_equal(env.error_text, "");
	assert_null(env.error_info);
	ups_envelope_clear(&env);

	/* No code at all. */
	assert_int_equal(
	    parse_str("{\"request-id\":5,\"error\":\"x\"}", &env, err), 0);
	assert_int_equal(env.error_code, UPS_ERR_INTERNAL);
	assert_string_equal(env.error_code_text, "");
	ups_envelope_clear(&env);
}

static void test_push(void **state)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_envelope env;

	(void)state;
	assert_int_equal(parse_str("{\"type\":\"Relay\",\"request\":\"Opened\","
	                           "\"params\":{\"origin\":3},\"origin\":9}",
	                           &env, err),
	                 0);
	assert_int_equal(env.kind, UPS_ENV_PUSH);
	assert_int_equal(env.request_id, 0);
	assert_int_equal(env.origin, 9);
	assert_string_equal(env.type, "Relay");
	assert_string_equal(env.request, "Opened");
	assert_int_equal(env.version, 1);
	ups_envelope_clear(&env);

	assert_int_equal(
	    parse_str("{\"type\":\"T\",\"request\":\"R\"}", &env, err), 0);
	assert_int_equal(env.kind, UPS_ENV_PUSH);
	assert_int_equal(json_object_size(env.params), 0);
	ups_envelope_clear(&env);

	/* Pushes carry no facade version. */
	expect_reject("{\"type\":\"T\",\"request\":\"R\",\"version\":1}",
	              "unknown field \"version\"");
}

static void test_bad_json(void **state)
{
	(void)state;
	expect_reject("", NULL);
	expect_reject("{", NULL);
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\"",
	              NULL);
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\"} x",
	              NULL);
	/* Two values in one message. */
	expect_reject("{\"type\":\"A\",\"request\":\"B\"}"
	              "{\"type\":\"A\",\"request\":\"B\"}",
	              NULL);
	expect_reject("{'type':1}", NULL);
	expect_reject("{\"request-id\":1,}", NULL);
	/* Integers beyond int64 do not load at all. */
	expect_reject("{\"request-id\":99999999999999999999,\"type\":\"A\","
	              "\"request\":\"B\"}",
	              NULL);
	/* Invalid UTF-8. */
	expect_reject("{\"type\":\"A\xff\",\"request\":\"B\"}", NULL);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	expect_reject("{\"request-id\":1,\"request-id\":2,\"type\":\"A\","
	              "\"request\":\"B\"}",
	              NULL);
	expect_reject("{\"type\":\"A\",\"request\":\"B\",\"params\":{\"k\":1,"
	              "\"k\":1}}",
	              NULL);
}

static void test_not_object(void **state)
{
	(void)state;
	expect_reject("[1,2]", "envelope is not a JSON object");
	expect_reject("[]", "envelope is not a JSON object");
	expect_reject("1", NULL);
	expect_reject("\"s\"", NULL);
	expect_reject("null", NULL);
}

static void test_kinds_undecided(void **state)
{
	(void)state;
	expect_reject("{}", "missing field \"request-id\"");
	expect_reject("{\"type\":\"A\"}", "missing field \"request\"");
	expect_reject("{\"request\":\"A\"}", "missing field \"type\"");
	expect_reject("{\"request-id\":1}",
	              "missing field \"request\", \"response\" or \"error\"");
	expect_reject("{\"request-id\":1,\"type\":\"A\"}",
	              "missing field \"request\", \"response\" or \"error\"");
	/* A request with an answer in it. */
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"response\":{}}",
	              "unknown field \"response\"");
	expect_reject("{\"request-id\":1,\"response\":{},\"error\":\"x\"}",
	              "unknown field \"error\"");
	expect_reject("{\"request-id\":1,\"request\":\"B\"}",
	              "missing field \"type\"");
}

static void test_unknown_fields(void **state)
{
	(void)state;
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"foo\":1}",
	              "unknown field \"foo\"");
	expect_reject("{\"request-id\":1,\"response\":{},\"params\":{}}",
	              "unknown field \"params\"");
	expect_reject("{\"request-id\":1,\"error\":\"e\",\"type\":\"A\"}",
	              "unknown field \"type\"");
	expect_reject("{\"type\":\"A\",\"request\":\"B\",\"Request-Id\":1}",
	              "unknown field \"Request-Id\"");
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_reject("{\"request-id\":\"1\",\"type\":\"A\",\"request\":\"B\"}",
	              "field \"request-id\": expected integer");
	expect_reject("{\"request-id\":1.0,\"type\":\"A\",\"request\":\"B\"}",
	              "field \"request-id\": expected integer");
	expect_reject("{\"request-id\":null,\"type\":\"A\",\"request\":\"B\"}",
	              "field \"request-id\": expected integer");
	expect_reject("{\"request-id\":1,\"type\":5,\"request\":\"B\"}",
	              "field \"type\": expected string");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":[]}",
	              "field \"request\": expected string");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"version\":\"1\"}",
	              "field \"version\": expected integer");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"params\":[]}",
	              "field \"params\": expected object");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"params\":null}",
	              "field \"params\": expected object");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"origin\":true}",
	              "field \"origin\": expected integer");
	expect_reject("{\"request-id\":1,\"response\":[]}",
	              "field \"response\": expected object");
	expect_reject("{\"request-id\":1,\"response\":null}",
	              "field \"response\": expected object");
	expect_reject("{\"request-id\":1,\"error\":{}}",
	              "field \"error\": expected string");
	expect_reject("{\"request-id\":1,\"error\":\"e\",\"error-code\":1}",
	              "field \"error-code\": expected string");
	expect_reject("{\"request-id\":1,\"error\":\"e\",\"error-info\":\"i\"}",
	              "field \"error-info\": expected object");
}

static void test_ranges(void **state)
{
	(void)state;
	expect_reject("{\"request-id\":0,\"type\":\"A\",\"request\":\"B\"}",
	              "field \"request-id\": out of range");
	expect_reject("{\"request-id\":-1,\"type\":\"A\",\"request\":\"B\"}",
	              "field \"request-id\": out of range");
	expect_reject("{\"request-id\":9007199254740992,\"type\":\"A\","
	              "\"request\":\"B\"}",
	              "field \"request-id\": out of range");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"origin\":0}",
	              "field \"origin\": out of range");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"origin\":4294967296}",
	              "field \"origin\": out of range");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"version\":-1}",
	              "field \"version\": out of range");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B\","
	              "\"version\":1001}",
	              "field \"version\": out of range");
	expect_reject("{\"request-id\":0,\"response\":{}}",
	              "field \"request-id\": out of range");
}

static void test_names(void **state)
{
	char msg[512];
	char name[80];

	(void)state;
	expect_reject("{\"request-id\":1,\"type\":\"\",\"request\":\"B\"}",
	              "field \"type\": too short (min 1)");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"\"}",
	              "field \"request\": too short (min 1)");
	expect_reject("{\"request-id\":1,\"type\":\"A.B\",\"request\":\"B\"}",
	              "field \"type\": bad character");
	expect_reject("{\"request-id\":1,\"type\":\"A\",\"request\":\"B C\"}",
	              "field \"request\": bad character");
	expect_reject("{\"type\":\"A\",\"request\":\"caf\xc3\xa9\"}",
	              "field \"request\": bad character");
	expect_reject(
	    "{\"request-id\":1,\"error\":\"e\",\"error-code\":\"a b\"}",
	    "field \"error-code\": bad character");
	expect_reject("{\"request-id\":1,\"error\":\"e\",\"error-code\":\"\"}",
	              "field \"error-code\": too short (min 1)");

	/* 64 characters fit, 65 do not. */
	memset(name, 'N', 64);
	name[64] = '\0';
	snprintf(msg, sizeof(msg),
	         "{\"request-id\":1,\"type\":\"%s\",\"request\":\"B\"}", name);
	{
		char err[UPS_ERRMSG_MAX];
		struct ups_envelope env;

		assert_int_equal(parse_str(msg, &env, err), 0);
		assert_int_equal(strlen(env.type), 64);
		ups_envelope_clear(&env);
	}
	name[64] = 'N';
	name[65] = '\0';
	snprintf(msg, sizeof(msg),
	         "{\"request-id\":1,\"type\":\"%s\",\"request\":\"B\"}", name);
	expect_reject(msg, "field \"type\": too long (max 64)");
}

static void test_embedded_nul(void **state)
{
	static const char raw[] = "{\"type\":\"A\",\"request\":\"B\"}\0";
	static const char inner[] = "{\"type\":\"A\0\",\"request\":\"B\"}";

	(void)state;
	/* Escaped NUL in values and keys: jansson refuses both at load. */
	expect_reject("{\"type\":\"A\\u0000B\",\"request\":\"B\"}", NULL);
	expect_reject("{\"request-id\":1,\"error\":\"a\\u0000b\"}", NULL);
	expect_reject("{\"ty\\u0000pe\":\"A\",\"request\":\"B\"}", NULL);
	/* A raw NUL byte inside the message (after the object, or inside). */
	expect_reject_len(raw, sizeof(raw) - 1, UPS_ERR_BAD_REQUEST, NULL);
	expect_reject_len(inner, sizeof(inner) - 1, UPS_ERR_BAD_REQUEST, NULL);
}

static void test_error_text_limit(void **state)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_envelope env;
	size_t n = UPS_LIMIT_ERROR_TEXT_LEN;
	char *msg = malloc(n + 64);
	char *text = malloc(n + 2);

	(void)state;
	memset(text, 'e', n);
	text[n] = '\0';
	snprintf(msg, n + 64, "{\"request-id\":1,\"error\":\"%s\"}", text);
	assert_int_equal(parse_str(msg, &env, err), 0);
	assert_int_equal(strlen(env.error_text), n);
	ups_envelope_clear(&env);

	text[n] = 'e';
	text[n + 1] = '\0';
	snprintf(msg, n + 64, "{\"request-id\":1,\"error\":\"%s\"}", text);
	expect_reject(msg, "field \"error\": too long (max 1024)");
	free(msg);
	free(text);
}

static void test_size_limit(void **state)
{
	size_t n = UPS_LIMIT_TEXT_MSG_MAX;
	char *msg = malloc(n + 2);
	char err[UPS_ERRMSG_MAX];
	struct ups_envelope env;
	const char *head = "{\"type\":\"A\",\"request\":\"B\"}";

	(void)state;
	/* Exactly at the limit (padded with whitespace) is accepted. */
	memset(msg, ' ', n + 1);
	memcpy(msg, head, strlen(head));
	assert_int_equal(ups_envelope_parse(msg, n, &env, err, sizeof(err)), 0);
	ups_envelope_clear(&env);
	expect_reject_len(msg, n + 1, UPS_ERR_TOO_LARGE, NULL);
	free(msg);
}

static void test_deep_nesting(void **state)
{
	size_t depth = 5000, i, n = 0;
	char *msg = malloc(2 * depth + 64);

	(void)state;
	n += (size_t)sprintf(msg, "{\"type\":\"A\",\"request\":\"B\","
	                          "\"params\":{\"x\":");
	for (i = 0; i < depth; i++)
		msg[n++] = '[';
	for (i = 0; i < depth; i++)
		msg[n++] = ']';
	msg[n++] = '}';
	msg[n++] = '}';
	expect_reject_len(msg, n, UPS_ERR_BAD_REQUEST, NULL);
	free(msg);
}

/* Dumps env (stealing it) and parses the text back. */
static void round_trip(json_t *env, struct ups_envelope *out)
{
	char err[UPS_ERRMSG_MAX];
	size_t len = 0;
	char *text;

	assert_non_null(env);
	text = ups_env_dump(env, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	/* Compact: no spaces after separators. */
	assert_null(strstr(text, ": "));
	assert_null(strstr(text, ", "));
	json_decref(env);
	assert_int_equal(ups_envelope_parse(text, len, out, err, sizeof(err)),
	                 0);
	free(text);
}

static void test_constructors_round_trip(void **state)
{
	struct ups_envelope env;
	json_t *j;

	(void)state;
	round_trip(ups_env_request(42, "Admin", 1, "Login",
	                           json_pack("{s:s}", "role", "client")),
	           &env);
	assert_int_equal(env.kind, UPS_ENV_REQUEST);
	assert_int_equal(env.request_id, 42);
	assert_string_equal(env.type, "Admin");
	assert_string_equal(env.request, "Login");
	assert_int_equal(env.version, 1);
	assert_string_equal(
	    json_string_value(json_object_get(env.params, "role")), "client");
	ups_envelope_clear(&env);

	round_trip(ups_env_request(1, "Agent", 2, "Ping", NULL), &env);
	assert_int_equal(env.version, 2);
	assert_int_equal(json_object_size(env.params), 0);
	ups_envelope_clear(&env);

	round_trip(ups_env_response(7, json_pack("{s:i}", "n", 3)), &env);
	assert_int_equal(env.kind, UPS_ENV_RESPONSE);
	assert_int_equal(env.request_id, 7);
	assert_int_equal(json_integer_value(json_object_get(env.response, "n")),
	                 3);
	ups_envelope_clear(&env);

	round_trip(ups_env_response(8, NULL), &env);
	assert_int_equal(json_object_size(env.response), 0);
	ups_envelope_clear(&env);

	round_trip(ups_env_error(9, UPS_ERR_OFFSET_MISMATCH, "bad offset",
	                         json_pack("{s:i}", "expected", 100)),
	           &env);
	assert_int_equal(env.kind, UPS_ENV_ERROR);
	assert_int_equal(env.error_code, UPS_ERR_OFFSET_MISMATCH);
	assert_string_equal(env.error_text, "bad offset");
	assert_int_equal(
	    json_integer_value(json_object_get(env.error_info, "expected")),
	    100);
	ups_envelope_clear(&env);

	round_trip(ups_env_error(10, UPS_ERR_NOT_FOUND, NULL, NULL), &env);
	assert_string_equal(env.error_text, "no such object");
	assert_string_equal(env.error_code_text, "not-found");
	assert_null(env.error_info);
	ups_envelope_clear(&env);

	j = ups_env_push("Upload", "Progress", json_pack("{s:i}", "bytes", 5));
	assert_int_equal(ups_env_set_origin(j, 12), 0);
	round_trip(j, &env);
	assert_int_equal(env.kind, UPS_ENV_PUSH);
	assert_true(env.has_origin);
	assert_int_equal(env.origin, 12);
	assert_string_equal(env.type, "Upload");
	ups_envelope_clear(&env);
}

static void test_constructors_steal_bad_params(void **state)
{
	(void)state;
	/* A non-object is refused (and released: ASan would see a leak). */
	assert_null(ups_env_request(1, "A", 1, "B", json_array()));
	assert_null(ups_env_response(1, json_string("x")));
	assert_null(ups_env_push("A", "B", json_integer(1)));
	assert_null(ups_env_error(1, UPS_ERR_IO, "x", json_array()));
}

static void test_error_text_bounded(void **state)
{
	struct ups_envelope env;
	size_t n = UPS_LIMIT_ERROR_TEXT_LEN + 100;
	char *text = malloc(n + 1);
	size_t i;

	(void)state;
	/* Two-byte characters placed so that byte 1024 is a continuation
	 * byte: the cut must step back to keep the text valid UTF-8. */
	text[0] = 'a';
	for (i = 1; i + 1 < n; i += 2) {
		text[i] = (char)0xc3;
		text[i + 1] = (char)0xa9;
	}
	text[n - 1] = 'x';
	text[n] = '\0';
	round_trip(ups_env_error(1, UPS_ERR_IO, text, NULL), &env);
	assert_int_equal(strlen(env.error_text), UPS_LIMIT_ERROR_TEXT_LEN - 1);
	assert_memory_equal(env.error_text, text, UPS_LIMIT_ERROR_TEXT_LEN - 1);
	ups_envelope_clear(&env);

	/* Invalid UTF-8 falls back to the table's message. */
	round_trip(ups_env_error(1, UPS_ERR_IO, "bad \xff", NULL), &env);
	assert_string_equal(env.error_text, "input/output error");
	ups_envelope_clear(&env);
	free(text);
}

static void test_set_origin(void **state)
{
	json_t *j = ups_env_response(1, NULL);

	(void)state;
	assert_int_equal(ups_env_set_origin(j, 77), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "origin")), 77);
	assert_int_equal(ups_env_set_origin(j, UINT32_MAX), 0);
	assert_true(json_integer_value(json_object_get(j, "origin")) ==
	            (json_int_t)UINT32_MAX);
	assert_int_equal(ups_env_set_origin(j, 0), 0);
	assert_null(json_object_get(j, "origin"));
	/* Removing again is fine. */
	assert_int_equal(ups_env_set_origin(j, 0), 0);
	json_decref(j);
}

static void check_malformed(const char *msg, int code, const char *text,
                            enum ups_env_kind kind, uint64_t id,
                            uint32_t origin)
{
	struct ups_envelope env;
	json_t *j = ups_env_malformed(msg, strlen(msg), code, text);

	round_trip(j, &env);
	assert_int_equal(env.kind, kind);
	assert_int_equal(env.request_id, id);
	assert_int_equal(env.has_origin, origin != 0);
	assert_int_equal(env.origin, origin);
	if (kind == UPS_ENV_ERROR) {
		assert_string_equal(env.error_text, text);
		assert_int_equal(env.error_code, code);
	} else {
		assert_string_equal(env.type, UPS_ENV_MALFORMED_TYPE);
		assert_string_equal(env.request, UPS_ENV_MALFORMED_REQUEST);
		assert_string_equal(
		    json_string_value(json_object_get(env.params, "error")),
		    text);
		assert_string_equal(json_string_value(json_object_get(
		                        env.params, "error-code")),
		                    ups_err_code(code));
	}
	ups_envelope_clear(&env);
}

static void test_malformed(void **state)
{
	(void)state;
	/* The request-id is readable: a normal error answer. */
	check_malformed("{\"request-id\":5,\"type\":\"A\",\"request\":\"B\","
	                "\"foo\":1}",
	                UPS_ERR_BAD_REQUEST, "unknown field \"foo\"",
	                UPS_ENV_ERROR, 5, 0);
	check_malformed("{\"request-id\":6,\"type\":\"A\",\"request\":7,"
	                "\"origin\":3}",
	                UPS_ERR_BAD_REQUEST, "t", UPS_ENV_ERROR, 6, 3);
	/* Not readable: the Error.Malformed push. */
	check_malformed("{\"request-id\":0,\"type\":\"A\",\"request\":\"B\"}",
	                UPS_ERR_BAD_REQUEST, "t", UPS_ENV_PUSH, 0, 0);
	check_malformed("{\"request-id\":\"5\",\"type\":\"A\",\"request\":"
	                "\"B\",\"origin\":4}",
	                UPS_ERR_BAD_REQUEST, "t", UPS_ENV_PUSH, 0, 4);
	check_malformed("not json", UPS_ERR_BAD_REQUEST, "invalid JSON",
	                UPS_ENV_PUSH, 0, 0);
	check_malformed("[1]", UPS_ERR_BAD_REQUEST, "x", UPS_ENV_PUSH, 0, 0);
	/* An answer is never answered. */
	check_malformed("{\"request-id\":5,\"response\":[]}",
	                UPS_ERR_BAD_REQUEST, "r", UPS_ENV_PUSH, 0, 0);
	check_malformed("{\"request-id\":5,\"type\":\"A\",\"request\":\"B\","
	                "\"origin\":0}",
	                UPS_ERR_BAD_REQUEST, "o", UPS_ENV_ERROR, 5, 0);
}

static void test_malformed_too_large(void **state)
{
	size_t n = UPS_LIMIT_TEXT_MSG_MAX + 10;
	char *msg = malloc(n);
	struct ups_envelope env;
	char text[] = "too big";
	json_t *j;
	char *s;

	(void)state;
	memset(msg, ' ', n);
	memcpy(msg, "{\"request-id\":5,\"type\":\"A\",\"request\":\"B\"}", 42);
	j = ups_env_malformed(msg, n, UPS_ERR_TOO_LARGE, text);
	s = ups_env_dump(j, NULL);
	json_decref(j);
	assert_int_equal(ups_envelope_parse(s, strlen(s), &env, NULL, 0), 0);
	/* Over the limit it is not even looked at. */
	assert_int_equal(env.kind, UPS_ENV_PUSH);
	assert_string_equal(
	    json_string_value(json_object_get(env.params, "error-code")),
	    "too-large");
	ups_envelope_clear(&env);
	free(s);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_full),
	    cmocka_unit_test(test_request_defaults),
	    cmocka_unit_test(test_response),
	    cmocka_unit_test(test_error),
	    cmocka_unit_test(test_push),
	    cmocka_unit_test(test_bad_json),
	    cmocka_unit_test(test_duplicate_keys),
	    cmocka_unit_test(test_not_object),
	    cmocka_unit_test(test_kinds_undecided),
	    cmocka_unit_test(test_unknown_fields),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_embedded_nul),
	    cmocka_unit_test(test_error_text_limit),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_constructors_round_trip),
	    cmocka_unit_test(test_constructors_steal_bad_params),
	    cmocka_unit_test(test_error_text_bounded),
	    cmocka_unit_test(test_set_origin),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_malformed_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
