/* Rollouts: parameter checks, answers and the Event push. */
#include "agent/rpc/rollouts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/rpc/reply.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/limits.h"
#include "proto/log.h"
#include "proto/version.h"

/* Bounds of what one answer or push lists, so that any of them stays
 * well under UPS_LIMIT_TEXT_MSG_MAX (64 KiB): the status object's lists
 * at most RR_STATUS_LIST_BYTES of JSON, a plan RR_PLAN_BYTES, an Event's
 * changes RR_CHANGES_BYTES; the rest is counted as omitted. */
#define RR_FAILURES_MAX      50
#define RR_GROUPS_MAX        64
#define RR_PLAN_STAGES_MAX   50
#define RR_PLAN_MACHINES     20
#define RR_CHANGES_MAX       200
#define RR_STATUS_LIST_BYTES 12000
#define RR_PLAN_BYTES        12000
#define RR_CHANGES_BYTES     24000
#define RR_DURATION_MAX_MS  (30LL * 86400 * 1000)

struct rollouts_rpc_watch {
	struct rollouts_rpc_watch *next;
	struct peer *peer; /* borrowed; dropped in peer_gone */
};

static int64_t rr_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *rr_amount(const struct rollout_amount *a)
{
	char buf[32];

	rollout_amount_format(a, buf, sizeof(buf));
	return json_string(buf);
}

/* Appends v (stolen) to arr unless that takes *bytes past budget:
 * then false, v freed. */
static bool rr_append(json_t *arr, json_t *v, size_t *bytes, size_t budget)
{
	size_t len = v ? json_dumpb(v, NULL, 0, JSON_COMPACT) + 1 : 0;

	if (!v || *bytes + len > budget || json_array_append_new(arr, v)) {
		if (v && *bytes + len > budget)
			json_decref(v);
		return false;
	}
	*bytes += len;
	return true;
}

static int rr_set(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

json_t *rollouts_status_json(const struct rollout *r, int64_t now_ms)
{
	const struct rollout_spec *s = &r->spec;
	json_t *j, *counts, *groups, *failures, *spec;
	size_t nfail = 0, omitted = 0, canaries = 0, fail_bytes = 0;
	int64_t elapsed, done, left;
	int bad = 0;

	counts = json_object();
	groups = json_array();
	failures = json_array();
	spec = json_pack("{s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:b}", "canary",
	                 (json_int_t)s->canary, "batch", rr_amount(&s->batch),
	                 "max-unavailable",
	                 s->max_unavailable.value
	                     ? rr_amount(&s->max_unavailable)
	                     : json_string("batch"),
	                 "failure-budget", rr_amount(&s->failure_budget),
	                 "min-healthy-ms", (json_int_t)s->min_healthy_ms,
	                 "machine-deadline-ms",
	                 (json_int_t)s->machine_deadline_ms, "deadline-ms",
	                 (json_int_t)s->deadline_ms, "manual-promote",
	                 s->manual_promote);
	if (spec && json_object_set_new(
	                spec, "on-budget",
	                json_string(s->on_budget == ROLLOUT_ON_BUDGET_ROLLBACK
	                                ? "rollback"
	                                : "pause")))
		bad = 1;
	for (unsigned st = 0; counts && st < MEMBER__COUNT; st++)
		if (r->by_state[st])
			bad |= json_object_set_new(
			    counts, member_state_name(st),
			    json_integer((json_int_t)r->by_state[st]));
	for (size_t g = 0; groups && g < r->ngroups && g < RR_GROUPS_MAX; g++)
		bad |= json_array_append_new(
		    groups,
		    json_pack("{s:s, s:s, s:s, s:I}", "release",
		              r->groups[g].release, "arch", r->groups[g].arch,
		              "binary-version", r->groups[g].binary_version,
		              "machines", (json_int_t)r->groups[g].machines));
	for (size_t i = 0; failures && i < r->nmembers; i++) {
		const struct rollout_member *m = &r->members[i];

		canaries += m->canary;
		if (m->state != MEMBER_FAILED && m->state != MEMBER_TIMED_OUT &&
		    m->state != MEMBER_REVERT_FAILED)
			continue;
		if (nfail++ >= RR_FAILURES_MAX ||
		    !rr_append(failures,
		               json_pack("{s:s, s:s, s:s, s:b}", "machine-id",
		                         m->machine_id, "state",
		                         member_state_name(m->state), "reason",
		                         m->reason, "canary", m->canary),
		               &fail_bytes, RR_STATUS_LIST_BYTES))
			omitted++;
	}
	elapsed = r->started_ms
	              ? (r->ended_ms ? r->ended_ms : now_ms) - r->started_ms
	              : 0;
	done = (int64_t)r->by_state[MEMBER_UPGRADED];
	left = (int64_t)r->nmembers - done;
	j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	              "s:I, s:I, s:I, s:I, s:I, s:s}",
	              "id", r->id, "state", rollout_state_name(r->state),
	              "target", s->version, "stream", s->stream, "stage",
	              (json_int_t)r->stage, "stages", (json_int_t)r->nstages,
	              "machines", (json_int_t)r->nmembers, "canaries",
	              (json_int_t)canaries, "batch", (json_int_t)r->batch,
	              "max-unavailable", (json_int_t)r->max_unavailable,
	              "failure-budget", (json_int_t)r->budget, "failures-count",
	              (json_int_t)rollout_failures(r), "created-ms",
	              (json_int_t)r->created_ms, "started-ms",
	              (json_int_t)r->started_ms, "updated-ms",
	              (json_int_t)r->updated_ms, "elapsed-ms",
	              (json_int_t)elapsed, "reason", r->reason);
	if (!j || bad || !counts || !groups || !failures || !spec) {
		json_decref(j);
		json_decref(counts);
		json_decref(groups);
		json_decref(failures);
		json_decref(spec);
		return NULL;
	}
	bad |= rr_set(j, "model", json_string(s->model));
	bad |= rr_set(j, "counts", counts);
	bad |= rr_set(j, "groups", groups);
	bad |= rr_set(j, "groups-omitted",
	              json_integer((json_int_t)(r->ngroups > RR_GROUPS_MAX
	                                            ? r->ngroups - RR_GROUPS_MAX
	                                            : 0)));
	bad |= rr_set(j, "failures", failures);
	bad |= rr_set(j, "failures-omitted", json_integer((json_int_t)omitted));
	bad |= rr_set(j, "spec", spec);
	if (r->ended_ms)
		bad |= rr_set(j, "ended-ms", json_integer(r->ended_ms));
	if (r->state == ROLLOUT_PAUSED)
		bad |= rr_set(j, "resume-to",
		              json_string(rollout_state_name(r->resume_to)));
	/* The time per upgraded machine so far, times the machines left. */
	if (!rollout_state_is_final(r->state) && done > 0 && elapsed > 0)
		bad |=
		    rr_set(j, "eta-ms",
		           json_integer((json_int_t)(elapsed * left / done)));
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Stages with the first machines of each (a dry run prints it). */
static json_t *rr_plan_json(const struct rollout *r)
{
	json_t *stages = json_array(), *cur = NULL, *ids = NULL;
	uint32_t stage = UINT32_MAX;
	size_t count = 0, plan_bytes = 0;

	for (size_t i = 0; stages && i <= r->nmembers; i++) {
		const struct rollout_member *m =
		    i < r->nmembers ? &r->members[i] : NULL;

		if (cur && (!m || m->stage != stage)) {
			json_object_set_new(cur, "count",
			                    json_integer((json_int_t)count));
			json_object_set_new(cur, "machines", ids);
			json_array_append_new(stages, cur);
			cur = NULL;
		}
		if (!m || m->stage >= RR_PLAN_STAGES_MAX)
			break;
		if (!cur) {
			stage = m->stage;
			count = 0;
			cur = json_pack("{s:I, s:b}", "stage",
			                (json_int_t)stage, "canary", m->canary);
			ids = json_array();
			if (!cur || !ids) {
				json_decref(cur);
				json_decref(ids);
				json_decref(stages);
				return NULL;
			}
		}
		if (count++ < RR_PLAN_MACHINES &&
		    plan_bytes + strlen(m->machine_id) + 3 <= RR_PLAN_BYTES) {
			json_array_append_new(ids, json_string(m->machine_id));
			plan_bytes += strlen(m->machine_id) + 3;
		}
	}
	return stages ? json_pack("{s:o, s:I}", "stages", stages,
	                          "stages-omitted",
	                          (json_int_t)(r->nstages > RR_PLAN_STAGES_MAX
	                                           ? r->nstages -
	                                                 RR_PLAN_STAGES_MAX
	                                           : 0))
	              : NULL;
}

static json_t *rr_strings(const char *const *s, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_string(s[i]))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* -------------------------------------------------------------------------
 * Watches and the Event push. */

static void rr_changed(void *data, const struct rollout *r,
                       const uint32_t *idx, size_t n)
{
	struct rollouts_rpc *rr = data;
	json_t *status, *changes, *params;
	size_t listed = 0, bytes = 0;

	if (!rr->watches)
		return;
	status = rollouts_status_json(r, rr_now());
	changes = json_array();
	for (size_t i = 0; changes && i < n && listed < RR_CHANGES_MAX; i++) {
		const struct rollout_member *m = &r->members[idx[i]];
		json_t *c = json_pack("{s:s, s:s}", "machine-id", m->machine_id,
		                      "state", member_state_name(m->state));

		if (c && m->order_id[0])
			json_object_set_new(c, "order-id",
			                    json_string(m->order_id));
		if (c && m->reason[0])
			json_object_set_new(c, "reason",
			                    json_string(m->reason));
		if (!rr_append(changes, c, &bytes, RR_CHANGES_BYTES))
			break;
		listed++;
	}
	if (!status || !changes) {
		json_decref(status);
		json_decref(changes);
		return;
	}
	params = json_pack("{s:o, s:o, s:I}", "rollout", status, "changes",
	                   changes, "changes-omitted",
	                   (json_int_t)(n - listed));
	for (struct rollouts_rpc_watch *w = rr->watches; params && w;
	     w = w->next)
		(void)reply_push(w->peer, "Rollouts", "Event",
		                 json_incref(params));
	json_decref(params);
}

void rollouts_rpc_events(struct rollouts_rpc *rr, struct rollouts_events *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->changed = rr_changed;
	ev->data = rr;
}

static bool rr_watching(const struct rollouts_rpc *rr, const struct peer *p)
{
	for (const struct rollouts_rpc_watch *w = rr->watches; w; w = w->next)
		if (w->peer == p)
			return true;
	return false;
}

static int rr_watch_add(struct rollouts_rpc *rr, struct peer *p)
{
	struct rollouts_rpc_watch *w;

	if (rr_watching(rr, p))
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return UPS_ERR_NO_MEMORY;
	w->peer = p;
	w->next = rr->watches;
	rr->watches = w;
	return 0;
}

static void rr_watch_drop(struct rollouts_rpc *rr, const struct peer *p)
{
	struct rollouts_rpc_watch **pp = &rr->watches, *w;

	while ((w = *pp) != NULL) {
		if (w->peer == p) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static void rr_peer_gone(void *state, struct peer *p)
{
	rr_watch_drop(state, p);
}

/* -------------------------------------------------------------------------
 * Requests. */

struct rr_pending {
	struct rollouts_rpc *rr;
	struct reply *reply;
	bool watch;
	bool plan;   /* Start: the answer shows the plan */
	bool status; /* Status: the answer as Status gives it */
};

static int rr_defer(struct rollouts_rpc *rr, const struct rpc_request *req,
                    bool watch, struct rr_pending **out, char *err,
                    size_t errlen)
{
	struct rr_pending *p = calloc(1, sizeof(*p));

	if (p)
		p->reply = reply_defer(req->peer, req->request_id);
	if (!p || !p->reply) {
		free(p);
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	}
	p->rr = rr;
	p->watch = watch;
	*out = p;
	return 0;
}

static void rr_done(void *data, int rv, const char *err,
                    const struct rollouts_answer *a)
{
	struct rr_pending *p = data;
	json_t *answer = NULL, *info = NULL;

	if (!rv && a->r) {
		answer = json_pack("{s:o, s:b}", "rollout",
		                   rollouts_status_json(a->r, rr_now()),
		                   "dry-run", a->dry_run);
		if (answer && p->plan)
			json_object_set_new(answer, "plan", rr_plan_json(a->r));
		if (answer && a->rule)
			json_object_set_new(answer, "rule",
			                    json_string(a->rule));
		if (answer && p->status) {
			json_object_del(answer, "dry-run");
			json_object_set_new(
			    answer, "active",
			    json_boolean(!rollout_state_is_final(a->r->state)));
			json_object_set_new(
			    answer, "agent-version",
			    json_string(
			        rollouts_agent_version(p->rr->rollouts)));
		}
		if (!answer)
			rv = UPS_ERR_NO_MEMORY;
	} else if (rv == UPS_ERR_NOT_FOUND && (a->nmissing || a->nunknown)) {
		info = json_pack("{s:o, s:o}", "missing",
		                 rr_strings(a->missing, a->nmissing),
		                 "unknown-machines",
		                 rr_strings(a->unknown, a->nunknown));
	} else if (rv && a->r) {
		info = json_pack("{s:s, s:s}", "id", a->r->id, "state",
		                 rollout_state_name(a->r->state));
	}
	if (!rv && p->watch && p->reply->peer)
		(void)rr_watch_add(p->rr, p->reply->peer);
	reply_finish(p->reply, rv, err, answer, info);
	free(p);
}

/* A duration in ms within [min, RR_DURATION_MAX_MS]. */
static int rr_ms(const json_t *params, const char *key, int64_t min,
                 int64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(params, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > RR_DURATION_MAX_MS)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.%s\": milliseconds, %lld..%lld",
		                key, (long long)min,
		                (long long)RR_DURATION_MAX_MS);
	*out = json_integer_value(v);
	return 0;
}

static int rr_amount_param(const char *key, const char *s, int64_t min,
                           struct rollout_amount *out, char *err,
                           size_t errlen)
{
	if (s && rollout_amount_parse(s, min, out))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.%s\": a count (>= %lld) or a "
		                "percentage (1%%..100%%), got \"%.32s\"",
		                key, (long long)min, s);
	return 0;
}

/* A selector list of names checked by ok into a new array *out. */
static int rr_list(const json_t *arr, const char *key, size_t width,
                   bool (*ok)(const char *), void **out, size_t *n,
                   char *err, size_t errlen)
{
	size_t i;
	json_t *v;
	char *buf;

	*n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > ROLLOUTS_SELECT_MAX)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.select.%s\": an array of at "
		                "most %d names",
		                key, ROLLOUTS_SELECT_MAX);
	buf = calloc(json_array_size(arr) + 1, width);
	if (!buf)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);

		if (!s || strlen(s) >= width || !ok(s)) {
			free(buf);
			return ups_errf(
			    UPS_ERR_BAD_REQUEST, err, errlen,
			    "field \"params.select.%s[%zu]\": not a "
			    "valid name",
			    key, i);
		}
		memcpy(buf + i * width, s, strlen(s) + 1);
	}
	*out = buf;
	*n = json_array_size(arr);
	return 0;
}

static bool rr_release_ok(const char *s)
{
	return ups_release_is_valid(s);
}

static bool rr_arch_ok(const char *s)
{
	return ups_arch_is_valid(s);
}

static int rr_select(const json_t *sel, struct rollouts_selector *out,
                     char *err, size_t errlen)
{
	int rv;

	memset(out, 0, sizeof(*out));
	if (!sel)
		return 0;
	if (!json_is_object(sel))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.select\": an object");
	{
		const char *key;
		json_t *v;

		/* A misspelt key must not widen the rollout to everything. */
		json_object_foreach((json_t *)sel, key, v)
		{
			if (strcmp(key, "releases") && strcmp(key, "arches") &&
			    strcmp(key, "machines"))
				return ups_errf(
				    UPS_ERR_BAD_REQUEST, err, errlen,
				    "field \"params.select.%.32s\": "
				    "unknown (releases, arches or "
				    "machines)",
				    key);
			if (json_is_array(v) && json_array_size(v) == 0)
				return ups_errf(UPS_ERR_BAD_REQUEST, err,
				                errlen,
				                "field \"params.select.%s\": "
				                "empty (leave it out for any)",
				                key);
		}
	}
	rv = rr_list(json_object_get(sel, "releases"), "releases",
	             sizeof(*out->releases), rr_release_ok,
	             (void **)&out->releases, &out->nreleases, err, errlen);
	if (!rv)
		rv = rr_list(json_object_get(sel, "arches"), "arches",
		             sizeof(*out->arches), rr_arch_ok,
		             (void **)&out->arches, &out->narches, err, errlen);
	if (!rv)
		rv = rr_list(json_object_get(sel, "machines"), "machines",
		             sizeof(*out->machines), ups_machine_id_is_valid,
		             (void **)&out->machines, &out->nmachines, err,
		             errlen);
	if (rv)
		rollouts_selector_free(out);
	return rv;
}

static int rr_version(const char *field, const char *s, char *buf, size_t len,
                      char *err, size_t errlen)
{
	struct ups_version v;
	char detail[UPS_ERRMSG_MAX];

	detail[0] = '\0';
	if (ups_version_parse(s, &v, detail, sizeof(detail)) ||
	    ups_version_format(&v, buf, len))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.%s\": %s", field,
		                detail[0] ? detail : "not a version");
	return 0;
}

static int rr_start(void *state, const struct rpc_request *req,
                    json_t **result, json_t **info, char *err, size_t errlen)
{
	struct rollouts_rpc *rr = state;
	const char *version = NULL, *client = NULL, *batch = NULL,
	           *maxu = NULL, *budget = NULL, *on_budget = NULL;
	const char *stream = ups_stream_name(UPS_STREAM_RELEASED);
	const char *model = UPS_MODEL_CONTROLLER;
	json_t *sel = NULL;
	int64_t canary = 1, ignored = 0;
	bool manual = false, dry = false, watch = false;
	const struct ups_field fields[] = {
	    {"version", UPS_FIELD_STRING, false, 1, UPS_LIMIT_VERSION_LEN,
	     &version},
	    {"client-version", UPS_FIELD_STRING, false, 1,
	     UPS_LIMIT_VERSION_LEN, &client},
	    {"stream", UPS_FIELD_STRING, false, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	    {"model", UPS_FIELD_STRING, false, 1, UPS_LIMIT_MACHINE_ID_LEN,
	     &model},
	    {"select", UPS_FIELD_OBJECT, false, 0, 0, &sel},
	    {"canary", UPS_FIELD_INT, false, 0, 1000, &canary},
	    {"batch", UPS_FIELD_STRING, false, 1, 16, &batch},
	    {"max-unavailable", UPS_FIELD_STRING, false, 1, 16, &maxu},
	    {"failure-budget", UPS_FIELD_STRING, false, 1, 16, &budget},
	    {"min-healthy-ms", UPS_FIELD_INT, false, 0, RR_DURATION_MAX_MS,
	     &ignored},
	    {"machine-deadline-ms", UPS_FIELD_INT, false, 1,
	     RR_DURATION_MAX_MS, &ignored},
	    {"deadline-ms", UPS_FIELD_INT, false, 0, RR_DURATION_MAX_MS,
	     &ignored},
	    {"manual-promote", UPS_FIELD_BOOL, false, 0, 0, &manual},
	    {"on-budget", UPS_FIELD_STRING, false, 1, 16, &on_budget},
	    {"dry-run", UPS_FIELD_BOOL, false, 0, 0, &dry},
	    {"watch", UPS_FIELD_BOOL, false, 0, 0, &watch},
	};
	struct rollouts_request rq;
	struct rr_pending *p;
	int rv;

	(void)result;
	(void)info;
	memset(&rq, 0, sizeof(rq));
	rollout_spec_defaults(&rq.spec);
	rv = ups_fields_unpack(req->params, "params", fields,
	                       sizeof(fields) / sizeof(fields[0]), err, errlen);
	if (!rv)
		rv = rr_ms(req->params, "min-healthy-ms", 0,
		           &rq.spec.min_healthy_ms, err, errlen);
	if (!rv)
		rv = rr_ms(req->params, "machine-deadline-ms", 1,
		           &rq.spec.machine_deadline_ms, err, errlen);
	if (!rv)
		rv = rr_ms(req->params, "deadline-ms", 0, &rq.spec.deadline_ms,
		           err, errlen);
	if (!rv)
		rv = rr_amount_param("batch", batch, 1, &rq.spec.batch, err,
		                     errlen);
	if (!rv)
		rv = rr_amount_param("max-unavailable", maxu, 1,
		                     &rq.spec.max_unavailable, err, errlen);
	if (!rv)
		rv = rr_amount_param("failure-budget", budget, 0,
		                     &rq.spec.failure_budget, err, errlen);
	if (!rv && !ups_stream_is_valid(stream))
		rv = ups_errf(
		    UPS_ERR_BAD_REQUEST, err, errlen,
		    "field \"params.stream\": must be " UPS_STREAM_NAMES_TEXT);
	if (!rv && version)
		rv = rr_version("version", version, rq.spec.version,
		                sizeof(rq.spec.version), err, errlen);
	if (!rv && client)
		rv = rr_version("client-version", client, rq.client_version,
		                sizeof(rq.client_version), err, errlen);
	if (!rv && !ups_machine_id_is_valid(model))
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "field \"params.model\": a model name");
	if (!rv && on_budget && strcmp(on_budget, "pause") &&
	    strcmp(on_budget, "rollback"))
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "field \"params.on-budget\": pause or rollback");
	/* Nothing to promote after: the rollout would stop for a promotion
	 * with no canary having moved. */
	if (!rv && manual && canary == 0)
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "field \"params.manual-promote\": needs canaries "
		              "(\"canary\" 1 or more)");
	if (!rv && !version && !client)
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "give \"params.version\" (the target) or "
		              "\"params.client-version\" (to auto-select one)");
	if (rv)
		return rv;
	snprintf(rq.spec.stream, sizeof(rq.spec.stream), "%s", stream);
	snprintf(rq.spec.model, sizeof(rq.spec.model), "%s", model);
	rq.spec.canary = canary;
	rq.spec.manual_promote = manual;
	if (on_budget && strcmp(on_budget, "rollback") == 0)
		rq.spec.on_budget = ROLLOUT_ON_BUDGET_ROLLBACK;
	rq.dry_run = dry;
	rv = rr_select(sel, &rq.sel, err, errlen);
	if (rv)
		return rv;
	rv = rr_defer(rr, req, watch && !dry, &p, err, errlen);
	if (rv) {
		rollouts_selector_free(&rq.sel);
		return rv;
	}
	p->plan = true;
	rv = rollouts_begin(rr->rollouts, &rq, rr_done, p);
	if (rv) {
		reply_cancel(p->reply);
		free(p);
		return ups_errf(rv, err, errlen, "%s", ups_err_message(rv));
	}
	return RPC_DEFERRED;
}

static int rr_id_param(const struct rpc_request *req, const char **id,
                       bool *watch, char *err, size_t errlen)
{
	const struct ups_field fields[] = {
	    {"id", UPS_FIELD_STRING, false, 1, ROLLOUT_ID_LEN - 1, id},
	    {"watch", UPS_FIELD_BOOL, false, 0, 0, watch},
	};

	*id = NULL;
	return ups_fields_unpack(req->params, "params", fields, 2, err,
	                         errlen);
}

static int rr_command(struct rollouts_rpc *rr, enum rollout_event_kind kind,
                      const struct rpc_request *req, char *err, size_t errlen)
{
	const char *id;
	bool watch = false;
	struct rr_pending *p;
	int rv;

	rv = rr_id_param(req, &id, &watch, err, errlen);
	if (!rv)
		rv = rr_defer(rr, req, watch, &p, err, errlen);
	if (rv)
		return rv;
	rv = rollouts_command(rr->rollouts, kind, id, rr_done, p);
	if (rv) {
		reply_cancel(p->reply);
		free(p);
		return ups_errf(rv, err, errlen, "%s", ups_err_message(rv));
	}
	return RPC_DEFERRED;
}

#define RR_COMMAND(fn, kind)                                                   \
	static int fn(void *state, const struct rpc_request *req,              \
	              json_t **result, json_t **info, char *err,               \
	              size_t errlen)                                           \
	{                                                                      \
		(void)result;                                                  \
		(void)info;                                                    \
		return rr_command(state, kind, req, err, errlen);              \
	}
RR_COMMAND(rr_pause, ROLLOUT_EV_PAUSE)
RR_COMMAND(rr_resume, ROLLOUT_EV_RESUME)
RR_COMMAND(rr_promote, ROLLOUT_EV_PROMOTE)
RR_COMMAND(rr_abort, ROLLOUT_EV_ABORT)
RR_COMMAND(rr_rollback, ROLLOUT_EV_ROLLBACK)

static int rr_status(void *state, const struct rpc_request *req,
                     json_t **result, json_t **info, char *err, size_t errlen)
{
	struct rollouts_rpc *rr = state;
	const struct rollout *r;
	const char *id;
	bool watch = false;
	int rv;

	(void)info;
	rv = rr_id_param(req, &id, &watch, err, errlen);
	if (rv)
		return rv;
	r = rollouts_find(rr->rollouts, id);
	if (!r && id) {
		/* An older one: from the journal. It does not move, so
		 * there is nothing to watch (Events are the current
		 * rollout's). */
		struct rr_pending *p;

		rv = rr_defer(rr, req, false, &p, err, errlen);
		if (rv)
			return rv;
		p->status = true;
		rv = rollouts_load(rr->rollouts, id, rr_done, p);
		if (rv) {
			reply_cancel(p->reply);
			free(p);
			return ups_errf(rv, err, errlen, "%s",
			                ups_err_message(rv));
		}
		return RPC_DEFERRED;
	}
	if (!r)
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                "no rollout yet");
	if (watch && rr_watch_add(rr, req->peer))
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	*result = json_pack("{s:o, s:b, s:s}", "rollout",
	                    rollouts_status_json(r, rr_now()), "active",
	                    !rollout_state_is_final(r->state), "agent-version",
	                    rollouts_agent_version(rr->rollouts));
	return *result ? 0
	               : ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
	                          "out of memory");
}

static int rr_unwatch(void *state, const struct rpc_request *req,
                      json_t **result, json_t **info, char *err,
                      size_t errlen)
{
	int rv = ups_fields_unpack(req->params, "params", NULL, 0, err, errlen);

	(void)info;
	if (rv)
		return rv;
	rr_watch_drop(state, req->peer);
	*result = json_object();
	return 0;
}

static const struct rpc_method rr_methods[] = {
    {"Start", RPC_ROLE(UPS_ROLE_CLIENT), rr_start},
    {"Status", RPC_ROLE(UPS_ROLE_CLIENT), rr_status},
    {"Pause", RPC_ROLE(UPS_ROLE_CLIENT), rr_pause},
    {"Resume", RPC_ROLE(UPS_ROLE_CLIENT), rr_resume},
    {"Promote", RPC_ROLE(UPS_ROLE_CLIENT), rr_promote},
    {"Abort", RPC_ROLE(UPS_ROLE_CLIENT), rr_abort},
    {"Rollback", RPC_ROLE(UPS_ROLE_CLIENT), rr_rollback},
    {"Unwatch", RPC_ROLE(UPS_ROLE_CLIENT), rr_unwatch},
};

void rollouts_rpc_init(struct rollouts_rpc *rr)
{
	rr->facade = RPC_FACADE("Rollouts", rr_methods, rr);
	rr->facade.peer_gone = rr_peer_gone;
}

void rollouts_rpc_free(struct rollouts_rpc *rr)
{
	while (rr->watches) {
		struct rollouts_rpc_watch *w = rr->watches;

		rr->watches = w->next;
		free(w);
	}
}
