/* Fuzzes ups_addr_parse and ups_addr_is_loopback. Invariants (abort on
 * violation): an accepted address has a port 0..65535 and a non-empty host
 * that fits UPS_ADDR_HOST_LEN, has no brackets, is numeric (inet_pton takes
 * it), and parses again as the same host and port once rebuilt as
 * "host:port" or "[host]:port"; failures leave the outputs untouched. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/net/addr.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[256], err[UPS_ERRMSG_MAX], again[UPS_ADDR_HOST_LEN + 16];
	char host[UPS_ADDR_HOST_LEN + 1], host2[UPS_ADDR_HOST_LEN + 1];
	unsigned char buf[sizeof(struct in6_addr)];
	int port = -1, port2 = -1;
	bool v6;

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	/* Whatever the text, asking about loopback must be safe. */
	(void)ups_addr_is_loopback(in);
	strcpy(host, "untouched");
	if (ups_addr_parse(in, host, sizeof(host), &port, err, sizeof(err)) !=
	    0) {
		CHECK(strcmp(host, "untouched") == 0 && port == -1);
		CHECK(err[0] != '\0');
		return 0;
	}
	CHECK(port >= 0 && port <= 65535);
	CHECK(host[0] != '\0' && strlen(host) <= UPS_ADDR_HOST_LEN);
	CHECK(!strchr(host, '[') && !strchr(host, ']'));
	v6 = strchr(host, ':') != NULL;
	CHECK(inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) == 1);
	snprintf(again, sizeof(again), v6 ? "[%s]:%d" : "%s:%d", host, port);
	CHECK(ups_addr_parse(again, host2, sizeof(host2), &port2, err,
	                     sizeof(err)) == 0);
	CHECK(strcmp(host, host2) == 0 && port == port2);
	return 0;
}
