/* ups_utf8_clean: valid UTF-8 stays as it is; whatever jansson would
 * refuse (a sequence cut short by truncation, a stray continuation byte,
 * an overlong form, a surrogate, a code point past U+10FFFF) becomes '?',
 * and the result is always accepted by jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "proto/utf8.h"

static void expect_clean(const char *in, const char *want)
{
	char buf[128];
	json_t *j;

	snprintf(buf, sizeof(buf), "%s", in);
	ups_utf8_clean(buf);
	assert_string_equal(buf, want);
	j = json_string(buf);
	assert_non_null(j);
	json_decref(j);
}

static void test_valid_kept(void **state)
{
	(void)state;
	expect_clean("", "");
	expect_clean("plain ascii", "plain ascii");
	expect_clean("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80",
	             "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80");
}

static void test_invalid_replaced(void **state)
{
	(void)state;
	/* Cut inside a character, as snprintf into a fixed size does. */
	expect_clean("caf\xc3", "caf?");
	expect_clean("euro \xe2\x82", "euro ??");
	/* A stray continuation byte, Latin-1, overlong, surrogate, too
	 * large. */
	expect_clean("a\x80z", "a?z");
	expect_clean("\xe9t\xe9", "?t?");
	expect_clean("\xc0\xaf", "??");
	expect_clean("\xed\xa0\x80", "???");
	expect_clean("\xf4\x90\x80\x80", "????");
}

/* What a fixed-size cut of a long multibyte text leaves is accepted. */
static void test_truncation(void **state)
{
	char long_text[600], cut[256];

	(void)state;
	for (size_t i = 0; i + 2 < sizeof(long_text); i += 2)
		memcpy(long_text + i, "\xc3\xa9", 2);
	long_text[sizeof(long_text) - 2] = '\0';
	/* 255 bytes: the last character is cut in half. */
	cut[0] = 'x';
	cut[1] = 'y';
	memcpy(cut + 2, long_text, sizeof(cut) - 3);
	cut[sizeof(cut) - 1] = '\0';
	assert_null(json_string(cut));
	ups_utf8_clean(cut);
	{
		json_t *j = json_string(cut);

		assert_non_null(j);
		json_decref(j);
	}
	assert_int_equal(cut[strlen(cut) - 1], '?');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_kept),
	    cmocka_unit_test(test_invalid_replaced),
	    cmocka_unit_test(test_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
