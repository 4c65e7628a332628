/* Bounded waits on a libuv loop; see loop_wait.h. */
#include "tests/lib/loop_wait.h"

static void loop_wait_on_watchdog(uv_timer_t *t)
{
	struct loop_wait *w = t->data;

	w->expired = true;
}

int loop_wait_init(struct loop_wait *w, uv_loop_t *loop, unsigned timeout_ms)
{
	int rv;

	w->loop = loop;
	w->timeout_ms = timeout_ms;
	w->expired = false;
	rv = uv_timer_init(loop, &w->watchdog);
	if (rv)
		return rv;
	w->watchdog.data = w;
	return 0;
}

void loop_wait_close(struct loop_wait *w)
{
	uv_timer_stop(&w->watchdog);
	uv_close((uv_handle_t *)&w->watchdog, NULL);
}

void loop_wait_begin(struct loop_wait *w)
{
	w->expired = false;
	uv_timer_start(&w->watchdog, loop_wait_on_watchdog, w->timeout_ms, 0);
}

bool loop_wait_step(struct loop_wait *w)
{
	if (w->expired)
		return false;
	/* The armed watchdog keeps the loop alive and bounds how long one
	 * iteration can block; between waits it is stopped, so it never
	 * keeps a finished loop running. */
	uv_run(w->loop, UV_RUN_ONCE);
	return !w->expired;
}

void loop_wait_end(struct loop_wait *w)
{
	uv_timer_stop(&w->watchdog);
}
