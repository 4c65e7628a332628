/* hook-exec: runs the operator's executables on rollout events (a hook
 * plugin, plugins/upstage_plugin.h ABI 1.2).
 *
 * For event E it runs DIR/E, then DIR/any, each when it exists and is
 * executable (hook-exec.dir names DIR). A hook gets the event as JSON on
 * stdin and in the environment (UPSTAGE_EVENT, UPSTAGE_ROLLOUT_ID,
 * UPSTAGE_MODEL, UPSTAGE_TARGET, UPSTAGE_STATE, UPSTAGE_STAGE,
 * UPSTAGE_STAGES, UPSTAGE_MACHINE_ID, UPSTAGE_REASON; PATH and HOME
 * kept, nothing else inherited), in its own process group, with no other
 * descriptor of upstaged's open. What it writes (stdout and stderr) goes
 * to upstaged's log line by line. Past hook-exec.timeout seconds its
 * whole process group is killed (SIGKILL) and the event counts as
 * refused. A hook that exits non-zero refuses the event; the last line
 * it wrote is the reason (upstaged pauses the rollout with it for a
 * before-* event). The first refusal ends the event: DIR/any does not
 * run after DIR/E refused.
 *
 * Threading: run() is called one event at a time (the host's contract);
 * it keeps no state between calls besides the settings. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plugins/upstage_plugin.h"

#define HOOK_EXEC_NAME        "hook-exec"
#define HOOK_EXEC_OUTPUT_MAX  65536 /* bytes of output kept per hook */
#define HOOK_EXEC_TIMEOUT_MAX 86400
#define HOOK_EXEC_ENV_MAX     12

struct hook_exec {
	const struct ups_plugin_services *svc;
	char dir[PATH_MAX];
	int timeout_s;
	/* The hook running now (0: none), and whether upstaged is stopping;
	 * cancel() reads and writes them from another thread. */
	_Atomic pid_t running;
	_Atomic bool cancelled;
};

static int hook_exec_open(const struct ups_plugin_services *svc, void **state,
                          char *err, size_t errlen)
{
	const char *dir = svc->config_get(svc->host, "hook-exec.dir");
	const char *timeout = svc->config_get(svc->host, "hook-exec.timeout");
	struct hook_exec *h;
	struct stat st;
	char *end = NULL;
	long t = 60;

	if (!dir || !*dir)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "hook-exec: hook-exec.dir is not set");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "hook-exec: hook-exec.dir %s: not a directory",
		                dir);
	if (timeout && *timeout) {
		errno = 0;
		t = strtol(timeout, &end, 10);
		if (errno || *end || t < 1 || t > HOOK_EXEC_TIMEOUT_MAX)
			return ups_errf(
			    UPS_ERR_BAD_REQUEST, err, errlen,
			    "hook-exec: hook-exec.timeout \"%.32s\": "
			    "seconds, 1 to %d",
			    timeout, HOOK_EXEC_TIMEOUT_MAX);
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "hook-exec: out of memory");
	if ((size_t)snprintf(h->dir, sizeof(h->dir), "%s", dir) >=
	    sizeof(h->dir)) {
		free(h);
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "hook-exec: hook-exec.dir is too long");
	}
	h->svc = svc;
	h->timeout_s = (int)t;
	*state = h;
	svc->log(UPS_PLUGIN_LOG_INFO, HOOK_EXEC_NAME,
	         "hooks from %s, killed after %d s", h->dir, h->timeout_s);
	return 0;
}

static void hook_exec_close(void *state)
{
	free(state);
}

/* Stopping: the hook running now goes, with what it started; no other
 * starts. Its run() then reports it killed. */
static void hook_exec_cancel(void *state)
{
	struct hook_exec *h = state;
	pid_t pid;

	h->cancelled = true;
	pid = h->running;
	if (pid > 0)
		kill(-pid, SIGKILL);
}

static int64_t hook_exec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line of a hook's output, to the log; kept as the reason when it
 * has something to say. */
static void hook_exec_line(struct hook_exec *h, const char *event,
                           const char *name, const char *line, size_t len,
                           char *last, size_t lastlen)
{
	size_t n = len;

	while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
		n--;
	if (!n)
		return;
	h->svc->log(UPS_PLUGIN_LOG_INFO, HOOK_EXEC_NAME, "%s: %s: %.*s", event,
	            name, (int)(n > 1000 ? 1000 : n), line);
	snprintf(last, lastlen, "%.*s", (int)n, line);
}

/* Splits buf[0..*len) into lines; keeps a partial last line. */
static void hook_exec_lines(struct hook_exec *h, const char *event,
                            const char *name, char *buf, size_t *len,
                            bool flush, char *last, size_t lastlen)
{
	size_t start = 0;

	for (size_t i = 0; i < *len; i++)
		if (buf[i] == '\n') {
			hook_exec_line(h, event, name, buf + start, i - start,
			               last, lastlen);
			start = i + 1;
		}
	if (flush || (start == 0 && *len == HOOK_EXEC_OUTPUT_MAX)) {
		hook_exec_line(h, event, name, buf + start, *len - start, last,
		               lastlen);
		start = *len;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
}

static int hook_exec_env(const struct ups_hook_event *ev, char *store,
                         size_t storelen, char **envp)
{
	char stage[24], stages[24];
	const char *vals[][2] = {
	    {"UPSTAGE_EVENT", ev->name},
	    {"UPSTAGE_ROLLOUT_ID", ev->rollout_id},
	    {"UPSTAGE_MODEL", ev->model},
	    {"UPSTAGE_TARGET", ev->target},
	    {"UPSTAGE_STATE", ev->state},
	    {"UPSTAGE_STAGE", ev->stage >= 0 ? stage : NULL},
	    {"UPSTAGE_STAGES", stages},
	    {"UPSTAGE_MACHINE_ID", ev->machine_id},
	    {"UPSTAGE_REASON", ev->reason},
	    {"PATH", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"},
	    {"HOME", getenv("HOME")},
	};
	size_t used = 0, n = 0;

	snprintf(stage, sizeof(stage), "%lld", (long long)ev->stage);
	snprintf(stages, sizeof(stages), "%lld", (long long)ev->stages);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		int k;

		if (!vals[i][1])
			continue;
		k = snprintf(store + used, storelen - used, "%s=%s", vals[i][0],
		             vals[i][1]);
		if (k < 0 || (size_t)k >= storelen - used)
			return -1;
		envp[n++] = store + used;
		used += (size_t)k + 1;
	}
	envp[n] = NULL;
	return 0;
}

/* write() to a hook's stdin, which it may have closed: EPIPE, never a
 * SIGPIPE (the plugin does not count on its host ignoring it). The
 * signal is blocked in this thread for the write, and one it raised is
 * taken before the mask goes back. */
static ssize_t hook_exec_write(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, old, pending;
	const struct timespec zero = {0, 0};
	ssize_t n;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	saved = errno;
	if (n < 0 && errno == EPIPE) {
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE))
			(void)sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

/* Runs one executable for ev: 0, or a refusal with err. */
static int hook_exec_one(struct hook_exec *h, const char *path,
                         const char *name, const struct ups_hook_event *ev,
                         char *err, size_t errlen)
{
	char envstore[4096], *envp[HOOK_EXEC_ENV_MAX + 1];
	char *argv[] = {(char *)path, NULL};
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *buf = NULL, last[512] = "";
	size_t have = 0, jsonlen = strlen(ev->json), sent = 0;
	int64_t deadline = hook_exec_now_ms() + (int64_t)h->timeout_s * 1000;
	bool exited = false, killed = false, eof = false;
	int status = 0, rv;
	pid_t pid;

	if (hook_exec_env(ev, envstore, sizeof(envstore), envp) < 0)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "%s: the event does not fit its environment",
		                name);
	buf = malloc(HOOK_EXEC_OUTPUT_MAX);
	if (!buf || pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: cannot run: %s",
		              name, strerror(errno));
		goto out_fds;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, out[1], 2);
	/* Nothing else of upstaged's (sockets, databases) reaches it. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	/* Its own group, so a timeout kills what it started too. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	                                    POSIX_SPAWN_SETSIGMASK |
	                                    POSIX_SPAWN_SETSIGDEF);
	{
		sigset_t none, all;

		sigemptyset(&none);
		sigfillset(&all);
		posix_spawnattr_setsigmask(&attr, &none);
		posix_spawnattr_setsigdefault(&attr, &all);
	}
	if (h->cancelled) {
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&attr);
		rv = ups_errf(UPS_ERR_UNAVAILABLE, err, errlen,
		              "%s: upstaged is stopping", name);
		goto out_fds;
	}
	rv = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	if (!rv) {
		h->running = pid;
		/* cancel() may have come between the check and now. */
		if (h->cancelled)
			kill(-pid, SIGKILL);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	if (rv) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: cannot run: %s",
		              name, strerror(rv));
		goto out_fds;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	while (!exited || !eof) {
		/* After EOF the output is no longer polled: a closed pipe
		 * is always readable, and would spin. */
		struct pollfd p[2] = {
		    {.fd = eof ? -1 : out[0], .events = POLLIN},
		    {.fd = in[1], .events = POLLOUT}};
		int64_t left = deadline - hook_exec_now_ms();

		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
		if (exited && eof)
			break;
		if (left <= 0 && !exited) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			exited = killed = true;
			break;
		}
		/* Exited, but something it started holds the output: that
		 * goes at the deadline. */
		if (left <= 0) {
			kill(-pid, SIGKILL);
			break;
		}
		if (poll(p, in[1] >= 0 ? 2 : 1,
		         (int)(left < 100 ? left : 100)) < 0 &&
		    errno != EINTR)
			break;
		if (in[1] >= 0 &&
		    (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t k = hook_exec_write(in[1], ev->json + sent,
			                            jsonlen - sent);

			if (k > 0)
				sent += (size_t)k;
			if (k < 0 && errno != EAGAIN)
				sent = jsonlen; /* it does not read stdin */
			if (sent == jsonlen) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = read(out[0], buf + have,
			                 HOOK_EXEC_OUTPUT_MAX - have);

			if (k > 0) {
				have += (size_t)k;
				hook_exec_lines(h, ev->name, name, buf, &have,
				                false, last, sizeof(last));
			} else if (k == 0 || errno != EAGAIN) {
				eof = true;
			}
		}
	}
	h->running = 0;
	hook_exec_lines(h, ev->name, name, buf, &have, true, last,
	                sizeof(last));
	if (killed) {
		h->svc->log(UPS_PLUGIN_LOG_WARN, HOOK_EXEC_NAME,
		            "%s: %s: killed after %d s", ev->name, name,
		            h->timeout_s);
		rv = ups_errf(UPS_ERR_TIMEOUT, err, errlen,
		              "%s killed after %d s%s%s", name, h->timeout_s,
		              last[0] ? ": " : "", last);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rv = 0;
	} else {
		char how[32];

		if (WIFEXITED(status))
			snprintf(how, sizeof(how), "exited %d",
			         WEXITSTATUS(status));
		else
			snprintf(how, sizeof(how), "killed by signal %d",
			         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		h->svc->log(UPS_PLUGIN_LOG_WARN, HOOK_EXEC_NAME, "%s: %s: %s",
		            ev->name, name, how);
		rv = ups_errf(UPS_ERR_CONFLICT, err, errlen, "%s %s%s%s", name,
		              how, last[0] ? ": " : "", last);
	}
out_fds:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	free(buf);
	return rv;
}

static int hook_exec_run(void *state, const struct ups_hook_event *ev,
                         char *err, size_t errlen)
{
	struct hook_exec *h = state;
	const char *names[] = {ev->name, "any"};

	/* The event name becomes a file name: only the known shape. */
	for (const char *c = ev->name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || *c == '-'))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "hook-exec: bad event name");
	for (size_t i = 0; i < 2; i++) {
		char path[PATH_MAX + UPS_HOOK_EVENT_NAME_MAX + 2];
		int rv;

		snprintf(path, sizeof(path), "%s/%s", h->dir, names[i]);
		if (access(path, X_OK) < 0)
			continue;
		rv = hook_exec_one(h, path, names[i], ev, err, errlen);
		if (rv)
			return rv;
	}
	return 0;
}

static const struct ups_hook_ops hook_exec_ops = {
    .struct_size = sizeof(struct ups_hook_ops),
    .open = hook_exec_open,
    .close = hook_exec_close,
    .run = hook_exec_run,
    .cancel = hook_exec_cancel,
};

UPS_PLUGIN_EXPORT const struct ups_plugin_descriptor upstage_plugin_descriptor =
    {
        .abi_major = UPS_PLUGIN_ABI_MAJOR,
        .abi_minor = 2,
        .struct_size = sizeof(struct ups_plugin_descriptor),
        .kind = UPS_PLUGIN_KIND_HOOK,
        .name = HOOK_EXEC_NAME,
        .version = "0.1.0",
        .ops = &hook_exec_ops,
};
