/* Numeric ADDR:PORT parsing; see addr.h. inet_pton() decides what an
 * address is, so the accepted forms are exactly the kernel's. */
#include "proto/net/addr.h"

#include <arpa/inet.h>
#include <string.h>

#include "proto/errors.h"

/* Longest port text: all digits, leading zeros allowed ("0080"). */
#define ADDR_PORT_TEXT_MAX 20

/* 0..65535 from a string of 1..ADDR_PORT_TEXT_MAX decimal digits. */
static int addr_parse_port(const char *s, int *port)
{
	size_t n = strnlen(s, ADDR_PORT_TEXT_MAX + 1);
	long v = 0;

	if (n == 0 || n > ADDR_PORT_TEXT_MAX)
		return UPS_ERR_BAD_REQUEST;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return UPS_ERR_BAD_REQUEST;
		v = v * 10 + (s[i] - '0');
		/* Stop before twenty digits could overflow. */
		if (v > 65535)
			return UPS_ERR_BAD_REQUEST;
	}
	*port = (int)v;
	return 0;
}

int ups_addr_parse(const char *s, char *host, size_t hostlen, int *port,
                   char *err, size_t errlen)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char tmp[UPS_ADDR_HOST_LEN + 1];
	const char *colon, *h;
	bool v6 = false;
	size_t hlen;

	if (s == NULL)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "expected ADDR:PORT, got nothing");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "expected [IPv6]:PORT, got \"%s\"", s);
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		v6 = true;
	} else {
		/* The last colon: an unbracketed IPv6 address then fails
		 * inet_pton as IPv4 rather than losing its tail to the port. */
		colon = strrchr(s, ':');
		if (!colon)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "expected ADDR:PORT, got \"%s\"", s);
		h = s;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(tmp) || hlen >= hostlen)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "bad address in \"%s\"", s);
	memcpy(tmp, h, hlen);
	tmp[hlen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, buf) != 1)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "\"%s\" is not a numeric %s address", tmp,
		                v6 ? "IPv6" : "IPv4");
	if (addr_parse_port(colon + 1, port))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "bad port in \"%s\" (0..65535)", s);
	memcpy(host, tmp, hlen + 1);
	return 0;
}

bool ups_addr_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (host == NULL)
		return false;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}
