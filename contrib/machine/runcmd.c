/* Commands with deadlines; see runcmd.h. */
#include "contrib/machine/runcmd.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

extern char **environ;

/* Most variables handed down: the agent's own plus ours. */
#define RUNCMD_ENV_MAX 512

static void runcmd_closed(uv_handle_t *h)
{
	struct runcmd *rc = h->data;

	if (--rc->closing == 0)
		rc->cb(rc, rc->status);
}

static void runcmd_exited(uv_process_t *p, int64_t exit_status, int signo)
{
	struct runcmd *rc = p->data;

	rc->running = false;
	if (rc->timed_out)
		rc->status = -1;
	else if (signo)
		rc->status = -2;
	else
		rc->status = (int)(exit_status & 0xff);
	uv_timer_stop(&rc->timer);
	rc->closing = 2;
	uv_close((uv_handle_t *)&rc->proc, runcmd_closed);
	uv_close((uv_handle_t *)&rc->timer, runcmd_closed);
}

static void runcmd_deadline(uv_timer_t *t)
{
	struct runcmd *rc = t->data;

	if (!rc->running)
		return;
	rc->timed_out = true;
	/* The shell and whatever it started: the whole group. */
	kill(-rc->proc.pid, SIGKILL);
}

int runcmd_start(struct runcmd *rc, uv_loop_t *loop, const char *cmd,
                 char *const *env, uint64_t timeout_ms, runcmd_cb cb,
                 void *data)
{
	static char *envp[RUNCMD_ENV_MAX + 1];
	uv_process_options_t opts;
	uv_stdio_container_t stdio[3];
	char *args[4];
	size_t n = 0;
	int rv;

	memset(rc, 0, sizeof(*rc));
	rc->loop = loop;
	rc->cb = cb;
	rc->data = data;
	for (size_t i = 0; environ && environ[i] && n < RUNCMD_ENV_MAX - 16;
	     i++)
		envp[n++] = environ[i];
	for (size_t i = 0; env && env[i] && n < RUNCMD_ENV_MAX; i++)
		envp[n++] = env[i];
	envp[n] = NULL;
	args[0] = "/bin/sh";
	args[1] = "-c";
	args[2] = (char *)cmd;
	args[3] = NULL;
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = 2;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	memset(&opts, 0, sizeof(opts));
	opts.file = args[0];
	opts.args = args;
	opts.env = envp;
	opts.exit_cb = runcmd_exited;
	opts.flags = UV_PROCESS_DETACHED; /* its own process group */
	opts.stdio_count = 3;
	opts.stdio = stdio;
	rv = uv_timer_init(loop, &rc->timer);
	if (rv)
		return rv;
	rc->timer.data = rc;
	rc->proc.data = rc;
	rv = uv_spawn(loop, &rc->proc, &opts);
	if (rv) {
		/* The handle must be closed even when spawn failed. */
		rc->closing = 2;
		rc->status = -2;
		rc->cb = NULL;
		uv_close((uv_handle_t *)&rc->proc, NULL);
		uv_close((uv_handle_t *)&rc->timer, NULL);
		return rv;
	}
	rc->running = true;
	uv_timer_start(&rc->timer, runcmd_deadline, timeout_ms, 0);
	return 0;
}
