/* hook-exec, loaded through the plugin host as upstaged loads it, running
 * real shell scripts from a mkdtemp directory: what a hook gets (the
 * environment, nothing else inherited, the JSON on stdin, no stray
 * descriptor), a refusal with its last line as the reason (and `any` not
 * run after it), a hook killed at its timeout with what it started, and
 * the settings and event names it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "agent/store/plugin.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

struct fx {
	char dir[TMPDIR_PATH_MAX];
	char hooks[TMPDIR_PATH_MAX + 16];
	struct plugin plugin;
	const struct ups_hook_ops *ops;
	struct ups_plugin_services svc;
	void *state;
	const char *dir_setting;
	const char *timeout;
	char err[UPS_ERRMSG_MAX];
};

static const char *fx_config_get(void *host, const char *key)
{
	struct fx *f = host;

	if (strcmp(key, "hook-exec.dir") == 0)
		return f->dir_setting;
	if (strcmp(key, "hook-exec.timeout") == 0)
		return f->timeout;
	return NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "upstage-hooks"),
	                 0);
	snprintf(f->hooks, sizeof(f->hooks), "%s/hooks", f->dir);
	assert_int_equal(mkdir(f->hooks, 0700), 0);
	assert_int_equal(plugin_load(HOOK_EXEC_PLUGIN, UPS_PLUGIN_KIND_HOOK,
	                             &f->plugin, f->err, sizeof(f->err)),
	                 0);
	f->ops = plugin_hook_ops(&f->plugin);
	assert_non_null(f->ops);
	plugin_services_init(&f->svc, f, fx_config_get);
	f->dir_setting = f->hooks;
	f->timeout = "10";
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->state)
		f->ops->close(f->state);
	plugin_unload(&f->plugin);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	assert_int_equal(f->ops->open(&f->svc, &f->state, f->err,
	                              sizeof(f->err)),
	                 0);
}

/* Writes an executable script DIR/hooks/name. */
static void fx_script(struct fx *f, const char *name, const char *body)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->hooks, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0700), 0);
}

static char *fx_read(struct fx *f, const char *name)
{
	static char buf[8192];
	char path[256];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "r");
	if (!fp)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static const char EVENT_JSON[] =
    "{\"event\":\"before-stage\",\"rollout-id\":\"r-7\",\"stage\":2}";

static int fx_run(struct fx *f, const char *name)
{
	struct ups_hook_event ev = {
	    .struct_size = sizeof(ev),
	    .name = name,
	    .rollout_id = "r-7",
	    .model = "controller",
	    .target = "2.9.44",
	    .state = "rolling",
	    .stage = 2,
	    .stages = 5,
	    .machine_id = NULL,
	    .reason = NULL,
	    .json = EVENT_JSON,
	};

	return f->ops->run(f->state, &ev, f->err, sizeof(f->err));
}

/* No hook for the event: nothing runs, nothing refuses. */
static void test_no_hooks(void **state)
{
	struct fx *f = *state;

	fx_open(f);
	assert_int_equal(fx_run(f, "before-stage"), 0);
	/* Not executable: not a hook. */
	fx_script(f, "after-stage", "exit 1");
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/after-stage", f->hooks);
		assert_int_equal(chmod(path, 0600), 0);
	}
	assert_int_equal(fx_run(f, "after-stage"), 0);
}

/* What a hook gets: the event in its environment (and nothing of
 * upstaged's own), the JSON on stdin, no descriptor beyond 0-2. */
static void test_environment_and_stdin(void **state)
{
	struct fx *f = *state;
	char script[1024];
	const char *env;
	int leak;

	fx_open(f);
	setenv("UPSTAGE_TEST_SECRET", "leaked", 1);
	/* No O_CLOEXEC; far from the shell's own (dash keeps its script
	 * at 10). */
	{
		int fd = open("/dev/null", O_RDONLY);

		assert_true(fd > 2);
		leak = fcntl(fd, F_DUPFD, 50);
		assert_true(leak >= 50);
		close(fd);
	}
	snprintf(script, sizeof(script),
	         "env | sort >%s/env\ncat >%s/stdin\n"
	         "[ -e /proc/$$/fd/%d ] && echo leaked >%s/fd\n"
	         "echo run >>%s/order",
	         f->dir, f->dir, leak, f->dir, f->dir);
	fx_script(f, "before-stage", script);
	snprintf(script, sizeof(script), "echo any >>%s/order", f->dir);
	fx_script(f, "any", script);
	assert_int_equal(fx_run(f, "before-stage"), 0);
	close(leak);
	unsetenv("UPSTAGE_TEST_SECRET");
	env = fx_read(f, "env");
	assert_non_null(env);
	assert_non_null(strstr(env, "UPSTAGE_EVENT=before-stage\n"));
	assert_non_null(strstr(env, "UPSTAGE_ROLLOUT_ID=r-7\n"));
	assert_non_null(strstr(env, "UPSTAGE_MODEL=controller\n"));
	assert_non_null(strstr(env, "UPSTAGE_TARGET=2.9.44\n"));
	assert_non_null(strstr(env, "UPSTAGE_STATE=rolling\n"));
	assert_non_null(strstr(env, "UPSTAGE_STAGE=2\n"));
	assert_non_null(strstr(env, "UPSTAGE_STAGES=5\n"));
	assert_non_null(strstr(env, "PATH="));
	assert_null(strstr(env, "UPSTAGE_MACHINE_ID="));
	assert_null(strstr(env, "UPSTAGE_TEST_SECRET"));
	assert_string_equal(fx_read(f, "stdin"), EVENT_JSON);
	assert_null(fx_read(f, "fd"));
	/* The event's own hook, then `any`. */
	assert_string_equal(fx_read(f, "order"), "run\nany\n");
}

/* A refusal: the last line written is the reason; `any` does not run. */
static void test_refusal(void **state)
{
	struct fx *f = *state;
	char script[256];

	fx_open(f);
	fx_script(f, "before-stage",
	          "echo 'checking the calendar'\n"
	          "echo 'change freeze until Monday' >&2\nexit 4");
	snprintf(script, sizeof(script), "touch %s/any-ran", f->dir);
	fx_script(f, "any", script);
	assert_int_equal(fx_run(f, "before-stage"), UPS_ERR_CONFLICT);
	assert_string_equal(f->err, "before-stage exited 4: change freeze "
	                            "until Monday");
	assert_null(fx_read(f, "any-ran"));
	/* `any` refuses too, for every event. */
	fx_script(f, "any", "exit 1");
	assert_int_equal(fx_run(f, "after-stage"), UPS_ERR_CONFLICT);
	assert_string_equal(f->err, "any exited 1");
}

static bool fx_gone(pid_t pid)
{
	char path[64], line[256];
	bool zombie = false;
	FILE *fp;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return true;
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, "State:", 6) == 0 && strchr(line, 'Z'))
			zombie = true;
	fclose(fp);
	return zombie;
}

/* Past its timeout a hook is killed, and what it started with it. */
static void test_timeout_kills_the_group(void **state)
{
	struct fx *f = *state;
	char script[512];
	const char *pid;
	int i;

	f->timeout = "1";
	fx_open(f);
	snprintf(script, sizeof(script),
	         "sleep 300 &\necho $! >%s/pid\necho 'waiting for approval'\n"
	         "wait",
	         f->dir);
	fx_script(f, "before-rollout", script);
	assert_int_equal(fx_run(f, "before-rollout"), UPS_ERR_TIMEOUT);
	assert_string_equal(f->err, "before-rollout killed after 1 s: waiting "
	                            "for approval");
	pid = fx_read(f, "pid");
	assert_non_null(pid);
	/* Reaped by init once killed: wait for that, at most 10 s. */
	for (i = 0; i < 1000 && !fx_gone((pid_t)atoi(pid)); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_true(fx_gone((pid_t)atoi(pid)));
}

struct cancel_run {
	struct fx *f;
	int rv;
};

static void *cancel_runner(void *arg)
{
	struct cancel_run *c = arg;

	c->rv = fx_run(c->f, "before-stage");
	return NULL;
}

/* upstaged stopping: cancel() kills the hook running now (and what it
 * started), and no hook starts after it. */
static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct cancel_run c = {.f = f};
	char script[512];
	pthread_t t;
	int i;

	f->timeout = "600";
	fx_open(f);
	snprintf(script, sizeof(script),
	         "sleep 300 &\necho $! >%s/pid.tmp\nmv %s/pid.tmp %s/pid\nwait",
	         f->dir, f->dir, f->dir);
	fx_script(f, "before-stage", script);
	assert_int_equal(pthread_create(&t, NULL, cancel_runner, &c), 0);
	for (i = 0; i < 1000 && !fx_read(f, "pid"); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_non_null(fx_read(f, "pid"));
	f->ops->cancel(f->state);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_not_equal(c.rv, 0);
	assert_non_null(strstr(f->err, "before-stage killed by signal 9"));
	for (i = 0; i < 1000 && !fx_gone((pid_t)atoi(fx_read(f, "pid"))); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_true(fx_gone((pid_t)atoi(fx_read(f, "pid"))));
	assert_int_equal(fx_run(f, "before-stage"), UPS_ERR_UNAVAILABLE);
}

static void test_bad_settings(void **state)
{
	struct fx *f = *state;
	char file[256];

	f->dir_setting = NULL;
	assert_int_equal(f->ops->open(&f->svc, &f->state, f->err,
	                              sizeof(f->err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(f->err, "hook-exec.dir is not set"));
	snprintf(file, sizeof(file), "%s/hooks/plain", f->dir);
	fx_script(f, "plain", "true");
	f->dir_setting = file;
	assert_int_equal(f->ops->open(&f->svc, &f->state, f->err,
	                              sizeof(f->err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(f->err, "not a directory"));
	f->dir_setting = f->hooks;
	for (size_t i = 0; i < 3; i++) {
		static const char *const bad[] = {"0", "abc", "86401"};

		f->timeout = bad[i];
		assert_int_equal(f->ops->open(&f->svc, &f->state, f->err,
		                              sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
		assert_non_null(strstr(f->err, "hook-exec.timeout"));
	}
	assert_null(f->state);
}

/* An event name is a file name: only [a-z-]. */
static void test_bad_event_name(void **state)
{
	struct fx *f = *state;

	fx_open(f);
	fx_script(f, "any", "exit 0");
	assert_int_equal(fx_run(f, "../hooks/any"), UPS_ERR_BAD_REQUEST);
	assert_int_equal(fx_run(f, "Before"), UPS_ERR_BAD_REQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_hooks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_environment_and_stdin, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_refusal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_kills_the_group, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_event_name, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
