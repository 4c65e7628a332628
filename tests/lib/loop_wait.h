/* Waiting for events in tests: run a libuv loop until a condition holds,
 * bounded by a watchdog timer. Tests wait for what they expect instead of
 * sleeping, and an event that never comes fails the test after the
 * timeout instead of hanging it.
 *
 *   struct loop_wait w;                  (in the test's fixture)
 *   loop_wait_init(&w, &loop, 10000);
 *   LOOP_WAIT(&w, peer->closed);         (fails the cmocka test on timeout)
 *   loop_wait_close(&w);                 (then run the loop to close it) */
#ifndef UPSTAGE_TESTS_LIB_LOOP_WAIT_H
#define UPSTAGE_TESTS_LIB_LOOP_WAIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <uv.h>

struct loop_wait {
	uv_loop_t *loop; /* borrowed */
	uv_timer_t watchdog;
	unsigned timeout_ms;
	bool expired;
};

/* 0 or a libuv error code. */
int loop_wait_init(struct loop_wait *w, uv_loop_t *loop, unsigned timeout_ms);

/* Closes the watchdog; the loop must run once more to finish closing it. */
void loop_wait_close(struct loop_wait *w);

/* One wait: begin arms the watchdog, each step runs one loop iteration
 * and returns false once the watchdog fired, end disarms it. */
void loop_wait_begin(struct loop_wait *w);
bool loop_wait_step(struct loop_wait *w);
void loop_wait_end(struct loop_wait *w);

/* Runs w's loop until cond holds; after w's timeout, fails the current
 * cmocka test naming the condition and the line. */
#define LOOP_WAIT(w, cond)                                                     \
	do {                                                                   \
		loop_wait_begin(w);                                            \
		while (!(cond)) {                                              \
			if (!loop_wait_step(w)) {                              \
				loop_wait_end(w);                              \
				fail_msg("%s:%d: timed out waiting for %s",    \
				         __FILE__, __LINE__, #cond);           \
			}                                                      \
		}                                                              \
		loop_wait_end(w);                                              \
	} while (0)

#endif
