/* The relay's clock: every time it keeps (when a connection came, when
 * its reads were paused, its close deadline, the login throttle, the
 * failure report), in milliseconds. By default uv_now() of the loop; a
 * test gives a function of its own (now_ms) and moves the time itself.
 * The gate owns the clock (gate.h); connections borrow it (conn.h).
 * Loop thread only; now_ms must never go backwards, and user (borrowed)
 * must outlive the clock. */
#ifndef UPSTAGE_RELAY_CLOCK_H
#define UPSTAGE_RELAY_CLOCK_H

#include <stdint.h>
#include <uv.h>

struct relay_clock {
	uv_loop_t *loop;                /* borrowed */
	uint64_t (*now_ms)(void *user); /* NULL: uv_now(loop) */
	void *user;                     /* borrowed; passed to now_ms */
};

/* The time now, in milliseconds. */
uint64_t relay_clock_now(const struct relay_clock *c);

#endif
