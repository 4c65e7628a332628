/* Logging: level parsing, the threshold, and the record format. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "proto/errors.h"
#include "proto/log.h"

static void test_level_parse(void **state)
{
	enum ups_log_level l = UPS_LOG_ERROR;

	(void)state;
	assert_int_equal(ups_log_level_parse("debug", &l), 0);
	assert_int_equal(l, UPS_LOG_DEBUG);
	assert_int_equal(ups_log_level_parse("warn", &l), 0);
	assert_int_equal(l, UPS_LOG_WARN);
	assert_int_equal(ups_log_level_parse("error", &l), 0);
	assert_int_equal(l, UPS_LOG_ERROR);
	assert_int_equal(ups_log_level_parse("info", &l), 0);
	assert_int_equal(l, UPS_LOG_INFO);
	assert_int_equal(ups_log_level_parse("verbose", &l),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_log_level_parse("", &l), UPS_ERR_BAD_REQUEST);
	assert_int_equal(l, UPS_LOG_INFO);
	assert_string_equal(ups_log_level_name(UPS_LOG_WARN), "warn");
	assert_string_equal(ups_log_level_name(UPS_LOG_DEBUG), "debug");
	assert_int_equal(ups_log_threshold, UPS_LOG_INFO);
}

/* Runs fn with stderr captured through a pipe; returns bytes read. */
static size_t capture(void (*fn)(void), char *buf, size_t len)
{
	int fds[2], saved;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	close(fds[1]);
	fn();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	n = read(fds[0], buf, len - 1);
	close(fds[0]);
	assert_true(n >= 0);
	buf[n] = '\0';
	return (size_t)n;
}

static void log_some(void)
{
	ups_log_threshold = UPS_LOG_INFO;
	LOG_DEBUG("test", "hidden %d", 1);
	LOG_WARN("upload", "id %d: %s", 7, "slow");
}

static bool is_digit_at(const char *s, size_t i)
{
	return s[i] >= '0' && s[i] <= '9';
}

static void test_record_format(void **state)
{
	char buf[512];
	const char *tail;
	size_t n, i;

	(void)state;
	n = capture(log_some, buf, sizeof(buf));
	/* Only the WARN record: DEBUG is below the threshold. */
	assert_null(strstr(buf, "hidden"));
	assert_true(n > 25);
	/* YYYY-MM-DDTHH:MM:SS.mmmZ */
	for (i = 0; i < 24; i++) {
		switch (i) {
		case 4:
		case 7:
			assert_int_equal(buf[i], '-');
			break;
		case 10:
			assert_int_equal(buf[i], 'T');
			break;
		case 13:
		case 16:
			assert_int_equal(buf[i], ':');
			break;
		case 19:
			assert_int_equal(buf[i], '.');
			break;
		case 23:
			assert_int_equal(buf[i], 'Z');
			break;
		default:
			assert_true(is_digit_at(buf, i));
		}
	}
	tail = buf + 24;
	assert_string_equal(tail, " WARN upload: id 7: slow\n");
}

static void log_long(void)
{
	char big[4096];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	LOG_ERROR("m", "%s", big);
}

static void test_long_record_truncated(void **state)
{
	char buf[8192];
	size_t n;

	(void)state;
	n = capture(log_long, buf, sizeof(buf));
	assert_true(n > 1000 && n < 4096);
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', n - 1));
}

static void log_json_some(void)
{
	ups_log_threshold = UPS_LOG_INFO;
	ups_log_format = UPS_LOG_JSON;
	LOG_WARN("upload", "id %d: \"quoted\" \\ tab\there\x01", 7);
	ups_log_format = UPS_LOG_TEXT;
}

static void log_json_long(void)
{
	ups_log_format = UPS_LOG_JSON;
	log_long();
	ups_log_format = UPS_LOG_TEXT;
}

/* One JSON object a line, escaped so that a JSON parser reads it back
 * exactly, even when truncated. */
static void test_json_format(void **state)
{
	char buf[8192];
	json_t *obj;
	json_error_t jerr;
	size_t n;
	enum ups_log_format f;

	(void)state;
	assert_int_equal(ups_log_format_parse("json", &f), 0);
	assert_int_equal(f, UPS_LOG_JSON);
	assert_int_equal(ups_log_format_parse("TEXT", &f), 0);
	assert_int_equal(f, UPS_LOG_TEXT);
	assert_int_equal(ups_log_format_parse("xml", &f), UPS_ERR_BAD_REQUEST);
	n = capture(log_json_some, buf, sizeof(buf));
	assert_int_equal(buf[n - 1], '\n');
	obj = json_loadb(buf, n, 0, &jerr);
	if (!obj)
		fail_msg("not JSON: %s: %s", jerr.text, buf);
	assert_string_equal(json_string_value(json_object_get(obj, "level")),
	                    "warn");
	assert_string_equal(json_string_value(json_object_get(obj, "module")),
	                    "upload");
	assert_string_equal(json_string_value(json_object_get(obj, "msg")),
	                    "id 7: \"quoted\" \\ tab\there\x01");
	assert_int_equal(strlen(json_string_value(json_object_get(obj, "ts"))),
	                 24);
	json_decref(obj);
	n = capture(log_json_long, buf, sizeof(buf));
	obj = json_loadb(buf, n, 0, &jerr);
	if (!obj)
		fail_msg("a long record is not JSON: %s", jerr.text);
	assert_true(strlen(json_string_value(json_object_get(obj, "msg"))) >
	            1000);
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_level_parse),
	    cmocka_unit_test(test_record_format),
	    cmocka_unit_test(test_long_record_truncated),
	    cmocka_unit_test(test_json_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
