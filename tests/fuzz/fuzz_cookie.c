/* Fuzzes the status page's Cookie header parser (what any browser, or
 * anyone, sends to GET /status): it never reads or writes out of bounds,
 * always NUL-terminates, and what it finds is never longer than the
 * header it came from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/net/status_page.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = malloc(size + 1);
	char out[64];
	size_t len;

	if (!h)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	/* Small and odd output sizes find the edges. */
	len = size ? (size_t)(data[0] % sizeof(out)) + 1 : sizeof(out);
	memset(out, 'x', sizeof(out));
	if (status_cookie_token(h, out, len)) {
		if (strnlen(out, len) >= len || out[0] == '\0' ||
		    strlen(out) > strlen(h))
			abort();
	}
	free(h);
	return 0;
}
