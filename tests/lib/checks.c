/* See checks.h. */
#include "tests/lib/checks.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/errors.h"

void tl_assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" not found in \"%s\"", needle, hay);
}

void tl_count_warn(void *data, const char *msg)
{
	struct tl_warnings *w = data;

	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", msg);
}

struct ups_version tl_version(const char *s)
{
	struct ups_version v;
	char err[UPS_ERRMSG_MAX];

	if (ups_version_parse(s, &v, err, sizeof(err)) != 0)
		fail_msg("parse %s: %s", s, err);
	return v;
}

struct ups_binary_version tl_binary_version(const char *s)
{
	struct ups_binary_version bv;
	char err[UPS_ERRMSG_MAX];

	if (ups_binary_version_parse(s, &bv, err, sizeof(err)) != 0)
		fail_msg("parse %s: %s", s, err);
	return bv;
}
