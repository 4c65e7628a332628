/* ws:// and wss:// URLs for the client side. */
#include "proto/net/url.h"

#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"

/* Host names and addresses: letters, digits, '.', '-', '_' and, inside
 * brackets, IPv6 hex and ':'. Anything else could smuggle a path or
 * header. */
static int url_host_char_ok(char c, int bracketed)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')
		return 1;
	return bracketed && c == ':';
}

int ups_url_parse(const char *url, struct ups_url *out, char *err,
		  size_t errlen)
{
	const char *p, *host, *host_end, *path;
	size_t hostlen;
	int bracketed = 0;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "ws://", 5) == 0) {
		p = url + 5;
		out->port = 80;
	} else if (strncmp(url, "wss://", 6) == 0) {
		p = url + 6;
		out->tls = true;
		out->port = 443;
	} else {
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				"URL \"%.64s\" must start with ws:// or wss://",
				url);
	}

	host = p;
	if (*p == '[') {
		bracketed = 1;
		host = ++p;
		while (*p && *p != ']')
			p++;
		if (*p != ']')
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
					"URL has an unclosed '['");
		host_end = p++;
	} else {
		while (*p && *p != ':' && *p != '/')
			p++;
		host_end = p;
	}
	hostlen = (size_t)(host_end - host);
	if (hostlen == 0 || hostlen >= sizeof(out->host))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				"URL host is empty or too long");
	for (const char *h = host; h < host_end; h++)
		if (!url_host_char_ok(*h, bracketed))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
					"URL host has a bad character");
	memcpy(out->host, host, hostlen);

	if (*p == ':') {
		char *end;
		long port;

		p++;
		if (*p < '0' || *p > '9')
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
					"URL port is not a number");
		port = strtol(p, &end, 10);
		if (port < 1 || port > 65535)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
					"URL port out of range 1..65535");
		out->port = (int)port;
		p = end;
	}

	path = *p ? p : "/";
	if (*path != '/')
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				"URL has junk after the host");
	if (strlen(path) >= sizeof(out->path))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				"URL path too long");
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
					"URL path has a control character or "
					"space");
	strcpy(out->path, path);
	return 0;
}
