/* Numeric listen addresses: "ADDR:PORT" with an IPv4 address, or
 * "[IPv6]:PORT". Names are refused on purpose: a listener binds exactly the
 * address it is given, without a resolver deciding (and without blocking
 * the loop on one). Shared by upstaged's config and the relay's --listen. */
#ifndef UPSTAGE_NET_ADDR_H
#define UPSTAGE_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Longest host ups_addr_parse() hands back, without the NUL; buffers are
 * UPS_ADDR_HOST_LEN + 1 bytes. Textual IPv6 needs at most 45. */
#define UPS_ADDR_HOST_LEN 63

/* Splits s (borrowed; may be NULL) into a numeric host, without brackets,
 * copied to host (hostlen bytes, at least the host's length + 1), and a
 * port 0..65535 into *port. 0, or UPS_ERR_BAD_REQUEST with err quoting s
 * and host and *port untouched. */
int ups_addr_parse(const char *s, char *host, size_t hostlen, int *port,
                   char *err, size_t errlen);

/* Whether host (borrowed; may be NULL) is a numeric loopback address:
 * 127.0.0.0/8 or ::1. Names, even "localhost", are not. */
bool ups_addr_is_loopback(const char *host);

#endif
