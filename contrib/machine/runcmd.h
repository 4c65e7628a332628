/* Runs an operator's command (restart, health check) for the machine
 * agent: "/bin/sh -c CMD" in its own process group through uv_spawn,
 * with a deadline after which the whole group is killed (SIGKILL).
 * Standard input is /dev/null; output goes where the agent's goes.
 *
 * Callback: libuv's contract (error return: none; else exactly once, on
 * the loop thread). Loop thread only. */
#ifndef UPSTAGE_CONTRIB_MACHINE_RUNCMD_H
#define UPSTAGE_CONTRIB_MACHINE_RUNCMD_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

struct runcmd;

/* status: the exit status (0..255), or -1 when the deadline killed it,
 * or -2 when a signal ended it. */
typedef void (*runcmd_cb)(struct runcmd *rc, int status);

struct runcmd {
	uv_loop_t *loop; /* borrowed */
	uv_process_t proc;
	uv_timer_t timer;
	bool running;
	bool timed_out;
	int status;
	int closing; /* handles still to close before the callback */
	runcmd_cb cb;
	void *data; /* the caller's */
};

/* Starts cmd (borrowed) with env (NULL-terminated "K=V" array, borrowed;
 * added to the agent's environment) and a deadline of timeout_ms. 0, or
 * a negative libuv code (nothing started). */
int runcmd_start(struct runcmd *rc, uv_loop_t *loop, const char *cmd,
                 char *const *env, uint64_t timeout_ms, runcmd_cb cb,
                 void *data);

#endif
