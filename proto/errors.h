/* The one error table: C code, wire code and default message.
 *
 * Every fallible function in upstage returns 0 or one of these negative
 * codes; the same table maps them to the "error-code" strings on the wire,
 * so a code never needs translating between layers. */
#ifndef UPSTAGE_PROTO_ERRORS_H
#define UPSTAGE_PROTO_ERRORS_H

#include <stddef.h>

/* X(NAME, wire code, message). Order is ABI: append only. */
#define UPS_ERRORS(X)                                                          \
	X(BAD_REQUEST, "bad-request", "malformed or invalid request")          \
	X(UNAUTHORIZED, "unauthorized", "not logged in or bad credentials")    \
	X(FORBIDDEN, "forbidden", "this role may not do that")                 \
	X(NOT_FOUND, "not-found", "no such object")                            \
	X(NOT_IMPLEMENTED, "not-implemented", "no such facade or method")      \
	X(CONFLICT, "conflict", "conflicts with what is stored")               \
	X(EXISTS, "exists", "already stored")                                  \
	X(OFFSET_MISMATCH, "offset-mismatch",                                  \
	  "chunk offset is not the next byte")                                 \
	X(CHECKSUM_MISMATCH, "checksum-mismatch", "SHA-256 does not match")    \
	X(SIZE_MISMATCH, "size-mismatch", "size does not match")               \
	X(TOO_LARGE, "too-large", "exceeds a limit")                           \
	X(NO_SPACE, "no-space", "not enough free space")                       \
	X(BUSY, "busy", "too many concurrent operations; retry later")         \
	X(UPGRADE_IN_PROGRESS, "upgrade-in-progress",                          \
	  "an upgrade is in progress")                                         \
	X(UNAVAILABLE, "unavailable", "service unavailable")                   \
	X(NO_SUITABLE_VERSION, "no-suitable-version", "no suitable version")   \
	X(TIMEOUT, "timeout", "timed out")                                     \
	X(IO, "io-error", "input/output error")                                \
	X(NO_MEMORY, "no-memory", "out of memory")                             \
	X(INTERNAL, "internal", "internal error")

enum ups_error {
	UPS_OK = 0,
	UPS_ERR__FIRST = -1000,
#define UPS_ERR_ENUM(name, wire, msg) UPS_ERR_##name,
	UPS_ERRORS(UPS_ERR_ENUM)
#undef UPS_ERR_ENUM
	UPS_ERR__LAST
};

/* Wire code ("bad-request") of rv; "internal" for anything not in the
 * table. Returns a static string. */
const char *ups_err_code(int rv);

/* Default human message of rv; static string. */
const char *ups_err_message(int rv);

/* The C code for a wire code, or UPS_ERR_INTERNAL if unknown. */
int ups_err_from_code(const char *wire_code);

/* True if rv is one of the table's codes. */
int ups_err_is_known(int rv);

/* Formats a detail message into buf (always NUL-terminated, truncated to
 * len) and returns rv, so callers can write
 *   return ups_errf(rv, err, errlen, "field %s", name); */
int ups_errf(int rv, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Size of the detail buffers handed down the layers. */
#define UPS_ERRMSG_MAX 256

#endif
