/* Rollout hooks and health checks: drives the optional hook and health
 * plugins (plugins/upstage_plugin.h, ABI 1.2) for the rollout runner.
 *
 * Plugin calls block (a hook script runs for seconds, an HTTP check
 * waits for its timeout), so they run on threads of this module's own,
 * never on libuv's pool, which the journals and the store need: one
 * thread for hook events, which run one at a time in the order they
 * were given, and HOOKS_HEALTH_THREADS for health checks, which run side
 * by side. Results come back to the loop thread (uv_async) in the order
 * they finished; a callback runs on the loop thread, after the call that
 * queued it returned.
 *
 * Ownership: every string handed in is copied. Loop thread only, except
 * hooks_open() and hooks_close(), which block (start-up, shutdown). */
#ifndef UPSTAGE_AGENT_ROLLOUT_HOOKS_H
#define UPSTAGE_AGENT_ROLLOUT_HOOKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/store/plugin.h"
#include "proto/errors.h"
#include "proto/limits.h"

#define HOOKS_HEALTH_THREADS 4
#define HOOKS_DETAIL_LEN     256

struct hooks_config {
	const char *hook_plugin;   /* path of the .so, or NULL: no hooks */
	const char *health_plugin; /* path of the .so, or NULL: no checks */
	/* Plugin settings: config_get(host, "hook-exec.dir") (borrowed
	 * values, valid until hooks_close()). */
	void *host;
	const char *(*config_get)(void *host, const char *key);
};

/* A hook event (borrowed for the call; see struct ups_hook_event). */
struct hooks_event {
	const char *name;
	const char *rollout_id;
	const char *model;
	const char *target;
	const char *state;
	int64_t stage; /* -1: none */
	int64_t stages;
	const char *machine_id; /* NULL: none */
	const char *reason;     /* NULL: none */
};

/* What a call came to, borrowed for the callback. */
struct hooks_result {
	int rv;                             /* 0: go on / healthy */
	const char *detail;                 /* why, when rv != 0 */
	const char *event;                  /* hooks: the event's name */
	const char *rollout_id;             /* as given */
	int64_t stage;                      /* as given */
	const char *machine_id;             /* checks, machine-failed */
	const char *order_id;               /* checks: as given */
	uint64_t tag;                       /* as given */
};
typedef void (*hooks_cb)(void *data, const struct hooks_result *res);

struct hooks_job;

struct hooks {
	uv_loop_t *loop;
	struct plugin hook_plugin, health_plugin;
	const struct ups_hook_ops *hook_ops;
	const struct ups_health_ops *health_ops;
	void *hook_state, *health_state;
	struct ups_plugin_services services;
	hooks_cb cb; /* every result goes here */
	void *cb_data;
	/* Shared with the threads, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hooks_job *hook_queue, *check_queue, *done;
	bool quit;
	/* Loop side. */
	pthread_t threads[1 + HOOKS_HEALTH_THREADS];
	size_t nthreads;
	uv_async_t wake;
	bool wake_open;
	bool sync_open; /* mu and cv exist */
	bool stopping;
	uint64_t hooks_run, checks_run; /* counters, loop thread */
};

/* Loads the configured plugins and opens them, starts the threads.
 * Results of every later call go to cb(data, ...). 0, or a UPS_ERR_*
 * code with err naming the plugin; h is then closed. With no plugin
 * configured, nothing is loaded and no thread is started. */
int hooks_open(struct hooks *h, uv_loop_t *loop, const struct hooks_config *cfg,
               hooks_cb cb, void *data, char *err, size_t errlen);

bool hooks_has_hooks(const struct hooks *h);
bool hooks_has_health(const struct hooks *h);

/* Queues hook event ev; its result comes to cb with tag. 0,
 * UPS_ERR_UNAVAILABLE (no hook plugin, or stopping), UPS_ERR_NO_MEMORY. */
int hooks_run(struct hooks *h, const struct hooks_event *ev, uint64_t tag);

/* Queues a health check of t (borrowed for the call) for the order
 * order_id of rollout_id; same contract as hooks_run(). */
int hooks_check(struct hooks *h, const struct ups_health_target *t,
                const char *rollout_id, const char *order_id, uint64_t tag);

/* No new calls; calls not started are dropped without a callback; calls
 * running finish (their results are dropped). Closes the async handle:
 * the loop must run once more before hooks_close(). */
void hooks_stop(struct hooks *h);

/* After the loop drained: joins the threads, closes and unloads the
 * plugins. Safe on a zeroed or failed struct. */
void hooks_close(struct hooks *h);

#endif
