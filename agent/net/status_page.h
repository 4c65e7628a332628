/* GET /status: the live status page (agent/net/status_page.html, built
 * into the binary: no external asset, works offline). The page itself
 * talks to upstaged's websocket API as the CLI does; this route only
 * decides who gets it.
 *
 * A client token is required, as a bearer token (Authorization: Bearer
 * T) or as the cookie upstage_token=T that the login page sets: checked
 * against the auth file for role client, or, without an auth file
 * (loopback only), any non-empty token. Without one the answer is 401
 * with the login page (agent/net/status_login.html) and nothing of the
 * dashboard. Wrong tokens count as failed logins of the address they
 * came from (the throttle the websocket logins use): while it waits, the
 * answer is 429 without a look at the token, so the page is no faster
 * an oracle for guessing tokens than Admin.Login.
 *
 * Ownership: auth is borrowed (NULL: no auth file). Loop thread only. */
#ifndef UPSTAGE_AGENT_NET_STATUS_PAGE_H
#define UPSTAGE_AGENT_NET_STATUS_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "agent/net/http.h"
#include "proto/net/auth.h"
#include "proto/net/throttle.h"

struct status_page {
	const struct ups_auth *auth;
	struct ups_throttle *throttle; /* NULL: none */
	uv_loop_t *loop;               /* its clock, for the throttle */
	uint64_t served, refused; /* tests, logs */
};

/* The value of cookie upstage_token in the Cookie header value cookies,
 * %XX decoded, into out (len bytes, NUL-terminated): true when there is
 * a non-empty one that fits. (A parser of what browsers send: fuzzed.) */
bool status_cookie_token(const char *cookies, char *out, size_t len);

/* The route of agent/net/http.h (data: struct status_page). */
int status_page_open(void *data, const char *path, struct http_request *req);

#endif
