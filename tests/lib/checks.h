/* Small checks and helpers more than one unit test uses. Each fails the
 * running cmocka test with a message saying what was wrong. */
#ifndef UPSTAGE_TESTS_LIB_CHECKS_H
#define UPSTAGE_TESTS_LIB_CHECKS_H

#include "proto/binary.h"
#include "proto/version.h"

/* Fails unless needle occurs in hay (both borrowed). */
void tl_assert_contains(const char *hay, const char *needle);

/* Warnings collected from a warn callback (e.g. ups_ss_warn_cb):
 * zero-initialise, pass tl_count_warn and a pointer to it. */
struct tl_warnings {
	int n;
	char last[512]; /* the last one */
};

void tl_count_warn(void *data, const char *msg);

/* s parsed, or the test fails naming s. */
struct ups_version tl_version(const char *s);
struct ups_binary_version tl_binary_version(const char *s);

#endif
