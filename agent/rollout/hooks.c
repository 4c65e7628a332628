/* Rollout hooks and health checks (hooks.h). */
#include "agent/rollout/hooks.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/log.h"
#include "proto/utf8.h"

enum hooks_kind {
	HOOKS_EVENT,
	HOOKS_CHECK,
};

/* One call: copied in on the loop thread, run on a thread of ours,
 * handed back through the done list. */
struct hooks_job {
	struct hooks_job *next;
	enum hooks_kind kind;
	uint64_t tag;
	char name[UPS_HOOK_EVENT_NAME_MAX];
	char rollout_id[64];
	char model[UPS_LIMIT_MACHINE_ID_LEN + 1];
	char target[UPS_LIMIT_VERSION_LEN + 1];
	char state[32];
	int64_t stage, stages;
	char machine_id[UPS_LIMIT_MACHINE_ID_LEN + 1];
	char order_id[UPS_LIMIT_ORDER_ID_LEN + 1];
	char *reason; /* owned; NULL: none */
	char *json;   /* owned; events only */
	/* Checks. */
	char address[256];
	char version[UPS_LIMIT_VERSION_LEN + 1];
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	/* The result. */
	int rv;
	char detail[HOOKS_DETAIL_LEN];
};

static void hooks_job_free(struct hooks_job *j)
{
	if (!j)
		return;
	free(j->reason);
	free(j->json);
	free(j);
}

static void hooks_free_list(struct hooks_job *j)
{
	while (j) {
		struct hooks_job *next = j->next;

		hooks_job_free(j);
		j = next;
	}
}

bool hooks_has_hooks(const struct hooks *h)
{
	return h->hook_ops != NULL;
}

bool hooks_has_health(const struct hooks *h)
{
	return h->health_ops != NULL;
}

/* -------------------------------------------------------------------------
 * The threads. */

static void hooks_call(struct hooks *h, struct hooks_job *j)
{
	j->detail[0] = '\0';
	if (j->kind == HOOKS_EVENT) {
		struct ups_hook_event ev = {
		    .struct_size = sizeof(ev),
		    .name = j->name,
		    .rollout_id = j->rollout_id,
		    .model = j->model,
		    .target = j->target,
		    .state = j->state,
		    .stage = j->stage,
		    .stages = j->stages,
		    .machine_id = j->machine_id[0] ? j->machine_id : NULL,
		    .reason = j->reason,
		    .json = j->json,
		};

		j->rv = h->hook_ops->run(h->hook_state, &ev, j->detail,
		                         sizeof(j->detail));
	} else {
		struct ups_health_target t = {
		    .struct_size = sizeof(t),
		    .machine_id = j->machine_id,
		    .model = j->model,
		    .address = j->address,
		    .version = j->version,
		    .release = j->release,
		    .arch = j->arch,
		};

		j->rv = h->health_ops->check(h->health_state, &t, j->detail,
		                             sizeof(j->detail));
	}
	if (j->rv && !j->detail[0])
		snprintf(j->detail, sizeof(j->detail), "%s",
		         ups_err_message(j->rv));
	/* A plugin's words, maybe cut inside a character: they go into
	 * JSON (the journal, pushes). */
	ups_utf8_clean(j->detail);
}

/* One thread's life: takes calls from queue until told to quit. */
static void hooks_serve(struct hooks *h, struct hooks_job **queue)
{
	pthread_mutex_lock(&h->mu);
	for (;;) {
		struct hooks_job *j;

		while (!h->quit && !*queue)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->quit)
			break;
		j = *queue;
		*queue = j->next;
		pthread_mutex_unlock(&h->mu);
		hooks_call(h, j);
		pthread_mutex_lock(&h->mu);
		/* The done list is a stack: the loop reverses it. */
		j->next = h->done;
		h->done = j;
		if (h->wake_open)
			uv_async_send(&h->wake);
	}
	pthread_mutex_unlock(&h->mu);
}

static void *hooks_event_thread(void *arg)
{
	struct hooks *h = arg;

	hooks_serve(h, &h->hook_queue);
	return NULL;
}

static void *hooks_check_thread(void *arg)
{
	struct hooks *h = arg;

	hooks_serve(h, &h->check_queue);
	return NULL;
}

/* -------------------------------------------------------------------------
 * The loop side. */

static void hooks_on_wake(uv_async_t *a)
{
	struct hooks *h = a->data;
	struct hooks_job *done, *rev = NULL;

	pthread_mutex_lock(&h->mu);
	done = h->done;
	h->done = NULL;
	pthread_mutex_unlock(&h->mu);
	while (done) {
		struct hooks_job *next = done->next;

		done->next = rev;
		rev = done;
		done = next;
	}
	while (rev) {
		struct hooks_job *j = rev;
		struct hooks_result res = {
		    .rv = j->rv,
		    .detail = j->detail,
		    .event = j->kind == HOOKS_EVENT ? j->name : NULL,
		    .rollout_id = j->rollout_id,
		    .stage = j->stage,
		    .machine_id = j->machine_id[0] ? j->machine_id : NULL,
		    .order_id = j->order_id[0] ? j->order_id : NULL,
		    .tag = j->tag,
		};

		rev = j->next;
		if (j->kind == HOOKS_EVENT)
			h->hooks_run++;
		else
			h->checks_run++;
		if (!h->stopping && h->cb)
			h->cb(h->cb_data, &res);
		hooks_job_free(j);
	}
}

static void hooks_push(struct hooks *h, struct hooks_job *j)
{
	struct hooks_job **tail =
	    j->kind == HOOKS_EVENT ? &h->hook_queue : &h->check_queue;

	pthread_mutex_lock(&h->mu);
	while (*tail)
		tail = &(*tail)->next;
	*tail = j;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* The event as the JSON object of struct ups_hook_event. */
static char *hooks_event_json(const struct hooks_job *j)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "event",
	                      j->name, "rollout-id", j->rollout_id, "model",
	                      j->model, "target", j->target, "state", j->state,
	                      "stages", (json_int_t)j->stages);
	char *text;

	if (!o)
		return NULL;
	if ((j->stage >= 0 &&
	     json_object_set_new(o, "stage", json_integer(j->stage))) ||
	    (j->machine_id[0] &&
	     json_object_set_new(o, "machine-id",
	                         json_string(j->machine_id))) ||
	    (j->reason &&
	     json_object_set_new(o, "reason", json_string(j->reason)))) {
		json_decref(o);
		return NULL;
	}
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

int hooks_run(struct hooks *h, const struct hooks_event *ev, uint64_t tag)
{
	struct hooks_job *j;

	if (!h->hook_ops || h->stopping)
		return UPS_ERR_UNAVAILABLE;
	j = calloc(1, sizeof(*j));
	if (!j)
		return UPS_ERR_NO_MEMORY;
	j->kind = HOOKS_EVENT;
	j->tag = tag;
	snprintf(j->name, sizeof(j->name), "%s", ev->name);
	snprintf(j->rollout_id, sizeof(j->rollout_id), "%s", ev->rollout_id);
	snprintf(j->model, sizeof(j->model), "%s", ev->model);
	snprintf(j->target, sizeof(j->target), "%s", ev->target);
	snprintf(j->state, sizeof(j->state), "%s", ev->state);
	j->stage = ev->stage;
	j->stages = ev->stages;
	if (ev->machine_id)
		snprintf(j->machine_id, sizeof(j->machine_id), "%s",
		         ev->machine_id);
	if (ev->reason && !(j->reason = strdup(ev->reason))) {
		hooks_job_free(j);
		return UPS_ERR_NO_MEMORY;
	}
	if (j->reason)
		ups_utf8_clean(j->reason);
	j->json = hooks_event_json(j);
	if (!j->json) {
		hooks_job_free(j);
		return UPS_ERR_NO_MEMORY;
	}
	hooks_push(h, j);
	return 0;
}

int hooks_check(struct hooks *h, const struct ups_health_target *t,
                const char *rollout_id, const char *order_id, uint64_t tag)
{
	struct hooks_job *j;

	if (!h->health_ops || h->stopping)
		return UPS_ERR_UNAVAILABLE;
	j = calloc(1, sizeof(*j));
	if (!j)
		return UPS_ERR_NO_MEMORY;
	j->kind = HOOKS_CHECK;
	j->tag = tag;
	j->stage = -1;
	snprintf(j->rollout_id, sizeof(j->rollout_id), "%s", rollout_id);
	snprintf(j->order_id, sizeof(j->order_id), "%s",
	         order_id ? order_id : "");
	snprintf(j->machine_id, sizeof(j->machine_id), "%s", t->machine_id);
	snprintf(j->model, sizeof(j->model), "%s", t->model ? t->model : "");
	snprintf(j->address, sizeof(j->address), "%s",
	         t->address ? t->address : "");
	snprintf(j->version, sizeof(j->version), "%s",
	         t->version ? t->version : "");
	snprintf(j->release, sizeof(j->release), "%s",
	         t->release ? t->release : "");
	snprintf(j->arch, sizeof(j->arch), "%s", t->arch ? t->arch : "");
	hooks_push(h, j);
	return 0;
}

/* -------------------------------------------------------------------------
 * Opening and closing. */

static int hooks_load(struct hooks *h, const char *path,
                      enum ups_plugin_kind kind, char *err, size_t errlen)
{
	struct plugin *p =
	    kind == UPS_PLUGIN_KIND_HOOK ? &h->hook_plugin : &h->health_plugin;
	int rv = plugin_load(path, kind, p, err, errlen);

	if (rv)
		return rv;
	if (kind == UPS_PLUGIN_KIND_HOOK) {
		rv = plugin_hook_ops(p)->open(&h->services, &h->hook_state, err,
		                              errlen);
		if (!rv)
			h->hook_ops = plugin_hook_ops(p);
	} else {
		rv = plugin_health_ops(p)->open(&h->services, &h->health_state,
		                                err, errlen);
		if (!rv)
			h->health_ops = plugin_health_ops(p);
	}
	if (rv) {
		plugin_unload(p);
		return rv < 0 ? rv : UPS_ERR_BAD_REQUEST;
	}
	return 0;
}

static int hooks_start_thread(struct hooks *h, enum hooks_kind kind,
                              char *err, size_t errlen)
{
	if (pthread_create(&h->threads[h->nthreads], NULL,
	                   kind == HOOKS_EVENT ? hooks_event_thread
	                                       : hooks_check_thread,
	                   h))
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "cannot start a hooks thread");
	h->nthreads++;
	return 0;
}

int hooks_open(struct hooks *h, uv_loop_t *loop, const struct hooks_config *cfg,
               hooks_cb cb, void *data, char *err, size_t errlen)
{
	int rv = 0;

	memset(h, 0, sizeof(*h));
	h->loop = loop;
	h->cb = cb;
	h->cb_data = data;
	if (!cfg->hook_plugin && !cfg->health_plugin)
		return 0;
	plugin_services_init(&h->services, cfg->host, cfg->config_get);
	if (cfg->hook_plugin)
		rv = hooks_load(h, cfg->hook_plugin, UPS_PLUGIN_KIND_HOOK, err,
		                errlen);
	if (!rv && cfg->health_plugin)
		rv = hooks_load(h, cfg->health_plugin, UPS_PLUGIN_KIND_HEALTH,
		                err, errlen);
	if (rv)
		goto fail;
	if (pthread_mutex_init(&h->mu, NULL)) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "no mutex");
		goto fail;
	}
	if (pthread_cond_init(&h->cv, NULL)) {
		pthread_mutex_destroy(&h->mu);
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "no condition");
		goto fail;
	}
	h->sync_open = true;
	if (uv_async_init(loop, &h->wake, hooks_on_wake)) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "no async handle");
		goto fail;
	}
	h->wake.data = h;
	h->wake_open = true;
	if (h->hook_ops)
		rv = hooks_start_thread(h, HOOKS_EVENT, err, errlen);
	for (int i = 0; !rv && h->health_ops && i < HOOKS_HEALTH_THREADS; i++)
		rv = hooks_start_thread(h, HOOKS_CHECK, err, errlen);
	if (rv)
		goto fail;
	return 0;

fail:
	/* hooks_close() needs the loop to have closed the handle. */
	if (h->wake_open) {
		hooks_stop(h);
		uv_run(loop, UV_RUN_NOWAIT);
	}
	hooks_close(h);
	return rv;
}

static void hooks_on_closed(uv_handle_t *handle)
{
	(void)handle;
}

void hooks_stop(struct hooks *h)
{
	h->stopping = true;
	/* A hook that runs for minutes must not hold up the shutdown. */
	if (h->hook_ops && h->hook_ops->cancel)
		h->hook_ops->cancel(h->hook_state);
	if (h->health_ops && h->health_ops->cancel)
		h->health_ops->cancel(h->health_state);
	if (!h->sync_open)
		return;
	pthread_mutex_lock(&h->mu);
	h->quit = true;
	hooks_free_list(h->hook_queue);
	hooks_free_list(h->check_queue);
	h->hook_queue = h->check_queue = NULL;
	pthread_cond_broadcast(&h->cv);
	if (h->wake_open) {
		h->wake_open = false;
		uv_close((uv_handle_t *)&h->wake, hooks_on_closed);
	}
	pthread_mutex_unlock(&h->mu);
}

void hooks_close(struct hooks *h)
{
	if (h->sync_open) {
		pthread_mutex_lock(&h->mu);
		h->quit = true;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
	}
	for (size_t i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	h->nthreads = 0;
	if (h->sync_open) {
		hooks_free_list(h->hook_queue);
		hooks_free_list(h->check_queue);
		hooks_free_list(h->done);
		h->hook_queue = h->check_queue = h->done = NULL;
		pthread_cond_destroy(&h->cv);
		pthread_mutex_destroy(&h->mu);
		h->sync_open = false;
	}
	if (h->hook_ops)
		h->hook_ops->close(h->hook_state);
	if (h->health_ops)
		h->health_ops->close(h->health_state);
	h->hook_ops = NULL;
	h->health_ops = NULL;
	plugin_unload(&h->hook_plugin);
	plugin_unload(&h->health_plugin);
}
