/* Reconnect delays: capped exponential backoff with full jitter.
 *
 * Attempt n (0-based) has the ceiling min(max, initial * 2^n); the delay is
 * uniform in [0, ceiling]. Spreading reconnects over the whole range keeps
 * many upstaged instances (or machine agents) from hammering a server that
 * just came back in lock-step. Pure functions: the random source is injected so
 * tests can pin it. */
#ifndef UPSTAGE_NET_BACKOFF_H
#define UPSTAGE_NET_BACKOFF_H

#include <stdint.h>

/* Returns a uniformly distributed 64-bit value. */
typedef uint64_t (*backoff_random_fn)(void *user);

/* The ceiling for attempt (0-based); never above max_ms, never below
 * initial_ms (when initial_ms <= max_ms). */
uint64_t backoff_ceiling_ms(unsigned attempt, uint64_t initial_ms,
                            uint64_t max_ms);

/* xorshift64 on *state (never 0): a jitter source that only has to
 * differ between processes. */
uint64_t backoff_xorshift(uint64_t *state);

/* A delay in [0, backoff_ceiling_ms(...)]. */
uint64_t backoff_delay_ms(unsigned attempt, uint64_t initial_ms,
                          uint64_t max_ms, backoff_random_fn rnd, void *user);

#endif
