/* Fuzzes ups_url_parse: any accepted URL has a sane host, port and path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/net/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[1024];
	char err[UPS_ERRMSG_MAX];
	struct ups_url u;

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (ups_url_parse(in, &u, err, sizeof(err)) != 0)
		return 0;
	if (u.host[0] == '\0' || u.port < 1 || u.port > 65535 ||
	    u.path[0] != '/' || strchr(u.path, ' ') || strchr(u.host, '/'))
		abort();
	return 0;
}
