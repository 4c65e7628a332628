/* Failed logins, per source address: after UPS_THROTTLE_FREE failures
 * (typos) an address must wait before its next attempt is even looked
 * at, the wait doubling with every further failure up to a cap
 * (UPS_THROTTLE_BASE_MS, twice that, ..., at most UPS_THROTTLE_MAX_MS), so
 * guessing tokens costs hours instead of a second per 6,000 guesses. A
 * success forgets the address. Failures are also counted for the log, so
 * that a flood is reported once per interval with its count rather than
 * once per attempt.
 *
 * The table is fixed-size (UPS_THROTTLE_SLOTS addresses): when full, the
 * entry seen longest ago gives way, preferring one that is not blocked.
 * Addresses are numeric strings (borrowed, copied in). Times are
 * milliseconds of the caller's clock, so tests control them. Loop thread
 * only. */
#ifndef UPSTAGE_PROTO_NET_THROTTLE_H
#define UPSTAGE_PROTO_NET_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/net/addr.h"

#define UPS_THROTTLE_SLOTS   1024
#define UPS_THROTTLE_FREE    5
#define UPS_THROTTLE_BASE_MS 100
#define UPS_THROTTLE_MAX_MS  (60 * 1000)

struct ups_throttle_entry {
	char addr[UPS_ADDR_HOST_LEN + 1]; /* "" when free */
	unsigned failures;                /* since the last success */
	uint64_t until_ms;                /* blocked until then */
	uint64_t seen_ms;                 /* last failure */
	uint64_t unreported;              /* failures not logged yet */
};

struct ups_throttle {
	struct ups_throttle_entry slots[UPS_THROTTLE_SLOTS];
};

void ups_throttle_init(struct ups_throttle *t);

/* Whether addr may try to log in at now_ms; when not, *retry_ms (may be
 * NULL) is how long it must still wait. */
bool ups_throttle_allowed(struct ups_throttle *t, const char *addr,
                          uint64_t now_ms, uint64_t *retry_ms);

/* A failed login from addr at now_ms: blocks it for the next wait.
 * Returns the failures from addr not reported yet, this one included (1:
 * the first since the last report, which a caller may log in full). */
uint64_t ups_throttle_failed(struct ups_throttle *t, const char *addr,
                             uint64_t now_ms);

/* A successful login from addr: its failures are forgotten. */
void ups_throttle_succeeded(struct ups_throttle *t, const char *addr);

/* Calls report(arg, addr, count) for every address with failures since
 * the last call (count > 0), then starts counting afresh. */
void ups_throttle_report(struct ups_throttle *t,
                         void (*report)(void *arg, const char *addr,
                                        uint64_t count),
                         void *arg);

#endif
