/* One request to upstaged with a deadline, for commands that ask one
 * question: its own loop, connect, log in, send, await the answer with the
 * matching request-id, shut everything down. Classifies the outcome into
 * the CLI's exit codes. */
#ifndef UPSTAGE_CLI_ONESHOT_H
#define UPSTAGE_CLI_ONESHOT_H

#include <jansson.h>
#include <stdio.h>

#include "proto/limits.h"
#include "proto/net/url.h"

struct oneshot_config {
	const struct ups_url *url; /* borrowed */
	const char *ca_cert;       /* borrowed, or NULL */
	const char *role;          /* borrowed */
	const char *token;         /* borrowed, or NULL for "" */
	FILE *debug;               /* envelope log, or NULL */
	unsigned timeout_ms;       /* connect + request deadline */
};

struct oneshot_result {
	int exit; /* enum cli_exit */
	/* When exit != 0: the wire error code and message. Connection and
	 * login failures (exit 3) use unavailable, unauthorized, timeout;
	 * a request that got no answer in time is exit 1 with timeout. */
	char code[UPS_LIMIT_NAME_LEN + 1];
	char message[UPS_LIMIT_ERROR_TEXT_LEN + 1];
	json_t *response; /* on success: owned, json_decref() it */
	double rtt_ms;    /* request sent -> answer received */
};

/* Sends Type.Method with params (stolen; NULL = {}) and fills *res.
 * Returns res->exit. Blocks until done or the deadline. */
int oneshot_call(const struct oneshot_config *cfg, const char *type,
                 const char *method, json_t *params,
                 struct oneshot_result *res);

#endif
