/* Fuzzes the auth-file parser: accepted entries have valid roles and
 * bounded, printable tokens, and each entry authenticates itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/net/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ups_auth a;
	char err[UPS_ERRMSG_MAX];

	if (ups_auth_parse(&a, (const char *)data, size, "fuzz", err,
			   sizeof(err)) != 0) {
		if (a.entries || a.count)
			abort();
		return 0;
	}
	for (size_t i = 0; i < a.count; i++) {
		const struct ups_auth_entry *e = &a.entries[i];

		if (e->role == UPS_ROLE_NONE || e->role >= UPS_ROLE__COUNT ||
		    e->token_len == 0 || e->token_len > UPS_LIMIT_TOKEN_LEN ||
		    strlen(e->token) != e->token_len)
			abort();
		if (!ups_auth_check(&a, e->role, e->token, e->token_len))
			abort();
	}
	ups_auth_free(&a);
	return 0;
}
