/* JSON envelopes in Juju's RPC shape.
 *
 *   request  {"request-id": N, "type": F, "version": V, "request": M,
 *             "params": {...}}
 *   response {"request-id": N, "response": {...}}
 *   error    {"request-id": N, "error": "text", "error-code": "code",
 *             "error-info": {...}}
 *   push     {"type": F, "request": M, "params": {...}}   (no request-id)
 *
 * Any of them may carry "origin": the relay's id of the connection it came
 * from (controller link only). Parsing is strict: duplicate keys, unknown
 * keys, wrong types and out-of-range values are UPS_ERR_BAD_REQUEST with
 * the offending field named in the detail message. */
#ifndef UPSTAGE_PROTO_ENVELOPE_H
#define UPSTAGE_PROTO_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

enum ups_env_kind {
	UPS_ENV_REQUEST,
	UPS_ENV_RESPONSE,
	UPS_ENV_ERROR,
	UPS_ENV_PUSH,
};

struct ups_envelope {
	enum ups_env_kind kind;
	uint64_t request_id; /* 1..UPS_LIMIT_REQUEST_ID_MAX; 0 for pushes */
	bool has_origin;
	uint32_t origin; /* 1..UPS_LIMIT_ORIGIN_MAX when has_origin */
	/* request and push */
	char type[UPS_LIMIT_NAME_LEN + 1];    /* facade, e.g. "Admin" */
	char request[UPS_LIMIT_NAME_LEN + 1]; /* method, e.g. "Login" */
	int version;     /* facade version; 1 when absent */
	json_t *params;  /* owned; always an object (empty if absent) */
	/* response */
	json_t *response; /* owned object */
	/* error */
	int error_code;   /* C code from proto/errors.h */
	char error_code_text[UPS_LIMIT_NAME_LEN + 1]; /* as received */
	/* Owned, NUL-terminated, at most UPS_LIMIT_ERROR_TEXT_LEN. */
	char *error_text;
	json_t *error_info; /* owned object or NULL */
};

/* Facade versions (PROTOCOL.md "Facades"): what this build speaks and
 * serves. A facade not named here is at version 1. Version 2 of
 * AgentBinaries is the one of digests at UploadCommit, upload tokens and
 * shared windows. */
#define UPS_FACADE_AGENT_BINARIES "AgentBinaries"
#define UPS_FACADE_AGENT_BINARIES_VERSION 2
#define UPS_FACADE_DEFAULT_VERSION 1

/* The version of facade type this build speaks (type borrowed). */
int ups_facade_version(const char *type);

/* Parses one text message of len bytes (not NUL-terminated).
 * len > UPS_LIMIT_TEXT_MSG_MAX is UPS_ERR_TOO_LARGE. On success *out owns
 * its json members; release with ups_envelope_clear(). On failure *out is
 * left cleared and err says why. */
int ups_envelope_parse(const char *buf, size_t len, struct ups_envelope *out,
		       char *err, size_t errlen);

/* Releases what *env owns and zeroes it. Safe on a zeroed struct. */
void ups_envelope_clear(struct ups_envelope *env);

/* Constructors return a new reference (NULL on allocation failure). Those
 * taking a json_t * steal it, even on failure; NULL means {}. */
json_t *ups_env_request(uint64_t request_id, const char *type, int version,
			const char *request, json_t *params);
json_t *ups_env_response(uint64_t request_id, json_t *response);
/* code is a C code; text NULL means the table's default message (text is
 * cut to UPS_LIMIT_ERROR_TEXT_LEN); info NULL omits "error-info". */
json_t *ups_env_error(uint64_t request_id, int code, const char *text,
		      json_t *info);
json_t *ups_env_push(const char *type, const char *request, json_t *params);

/* The answer to a text message that ups_envelope_parse() rejected with
 * code and detail text (PROTOCOL.md "Malformed messages"): if buf is a JSON
 * object with a "request" member and a valid "request-id", an error
 * envelope for that id; otherwise the push
 *   {"type": "Error", "request": "Malformed",
 *    "params": {"error": text, "error-code": code}}.
 * Either carries buf's "origin" when it has a valid one. New reference,
 * NULL on allocation failure. */
#define UPS_ENV_MALFORMED_TYPE "Error"
#define UPS_ENV_MALFORMED_REQUEST "Malformed"
json_t *ups_env_malformed(const char *buf, size_t len, int code,
			  const char *text);

/* Sets (origin > 0) or removes (origin == 0) "origin" on env; 0 or
 * UPS_ERR_NO_MEMORY. */
int ups_env_set_origin(json_t *env, uint32_t origin);

/* Compact serialisation; the caller frees the result with free().
 * *len receives strlen. NULL on allocation failure. */
char *ups_env_dump(const json_t *env, size_t *len);

#endif
