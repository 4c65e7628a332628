/* The error table: lookups generated from the UPS_ERRORS X-macro so the C
 * codes, wire codes and messages can never drift apart. */
#include "proto/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct err_entry {
	const char *code;
	const char *message;
};

#define ERR_ENTRY(name, wire, msg) {wire, msg},
static const struct err_entry err_table[] = {UPS_ERRORS(ERR_ENTRY)};
#undef ERR_ENTRY

#define ERR_COUNT (sizeof(err_table) / sizeof(err_table[0]))

/* Index into err_table, or -1 when rv is not a table code. */
static int err_index(int rv)
{
	if (rv <= UPS_ERR__FIRST || rv >= UPS_ERR__LAST)
		return -1;
	return rv - UPS_ERR__FIRST - 1;
}

int ups_err_is_known(int rv)
{
	return err_index(rv) >= 0;
}

const char *ups_err_code(int rv)
{
	int i = err_index(rv);

	if (i < 0)
		i = err_index(UPS_ERR_INTERNAL);
	return err_table[i].code;
}

const char *ups_err_message(int rv)
{
	int i;

	if (rv == UPS_OK)
		return "success";
	i = err_index(rv);
	if (i < 0)
		i = err_index(UPS_ERR_INTERNAL);
	return err_table[i].message;
}

int ups_err_from_code(const char *wire_code)
{
	size_t i;

	if (wire_code == NULL)
		return UPS_ERR_INTERNAL;
	for (i = 0; i < ERR_COUNT; i++) {
		if (strcmp(err_table[i].code, wire_code) == 0)
			return UPS_ERR__FIRST + 1 + (int)i;
	}
	return UPS_ERR_INTERNAL;
}

int ups_errf(int rv, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return rv;
	va_start(ap, fmt);
	/* vsnprintf truncates and terminates; a negative result (encoding
	 * error) must still leave a valid string behind. */
	if (vsnprintf(buf, len, fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	return rv;
}
