/* ws:// and wss:// URLs: where the CLI, the relay tests and upstaged's
 * controller link connect to. Parsing only; ups_ws_connect() (ws.h) dials
 * one. */
#ifndef UPSTAGE_NET_URL_H
#define UPSTAGE_NET_URL_H

#include <stdbool.h>
#include <stddef.h>

/* ws://host[:port][/path] or wss://...; host is a name, IPv4 or [IPv6].
 * Default ports 80 / 443, default path "/". Plain values: copy freely. */
struct ups_url {
	bool tls;
	char host[256]; /* without brackets */
	int port;       /* 1..65535 */
	char path[256]; /* starts with '/' */
};

/* Parses url (borrowed for the call) into *out (zeroed first). 0 or
 * UPS_ERR_BAD_REQUEST with err saying what is wrong. */
int ups_url_parse(const char *url, struct ups_url *out, char *err,
                  size_t errlen);

#endif
