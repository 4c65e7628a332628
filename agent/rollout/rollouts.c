/* The rollout runner (rollouts.h). */
#include "agent/rollout/rollouts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/rollout/rollouts_run.h"
#include "proto/errors.h"
#include "proto/log.h"
#include "proto/version.h"

#define ROLLOUTS_RETRY_MS 1000
/* Older rollouts read from the journal at once, at most (each holds a
 * worker and a connection of its own). */
#define ROLLOUTS_READS_MAX 2

struct rollouts_waiter {
	struct rollouts_waiter *next;
	rollouts_cb cb;
	void *data;
};

/* One journal write and what waits for it. */
struct rollouts_job {
	uv_work_t work;
	struct rollouts *rs;
	struct journal_batch batch;
	uint32_t *asking; /* members to order once durable */
	size_t nasking;
	struct rollouts_waiter *waiters;
	uint64_t ns; /* the write's own time */
	int rv;
	char err[UPS_ERRMSG_MAX];
};

int64_t rollouts_now(const struct rollouts *rs)
{
	struct timespec ts;

	if (rs->cfg.now_ms)
		return rs->cfg.now_ms();
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rollouts_flush(struct rollouts *rs);
static void rollouts_later(struct rollouts *rs);
static bool rollouts_check(struct rollouts *rs, size_t i);

/* -------------------------------------------------------------------------
 * Members by machine id. */

static const struct rollout *rollouts_sort_ctx;

static int rollouts_idx_cmp(const void *a, const void *b)
{
	const struct rollout *r = rollouts_sort_ctx;

	return ups_machine_id_cmp(r->members[*(const uint32_t *)a].machine_id,
	                          r->members[*(const uint32_t *)b].machine_id);
}

/* The members of r sorted by machine id, in a new array (NULL: out of
 * memory). */
static uint32_t *rollouts_index(const struct rollout *r)
{
	uint32_t *by_id = malloc((r->nmembers ? r->nmembers : 1) *
	                         sizeof(*by_id));

	if (!by_id)
		return NULL;
	for (size_t i = 0; i < r->nmembers; i++)
		by_id[i] = (uint32_t)i;
	rollouts_sort_ctx = r;
	qsort(by_id, r->nmembers, sizeof(*by_id), rollouts_idx_cmp);
	return by_id;
}

static long rollouts_member_idx(const struct rollouts *rs, const char *id)
{
	size_t lo = 0, hi = rs->have ? rs->cur.nmembers : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = ups_machine_id_cmp(
		    id, rs->cur.members[rs->by_id[mid]].machine_id);

		if (c == 0)
			return (long)rs->by_id[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

const struct rollout *rollouts_active(const struct rollouts *rs)
{
	return rs->have && !rollout_state_is_final(rs->cur.state) ? &rs->cur
	                                                          : NULL;
}

const struct rollout *rollouts_find(const struct rollouts *rs, const char *id)
{
	if (!rs->have)
		return NULL;
	if (id && strcmp(id, rs->cur.id) != 0)
		return NULL;
	return &rs->cur;
}

const struct rollout_member *rollouts_member(const struct rollouts *rs,
                                             const char *machine_id)
{
	long i;

	if (!rollouts_active(rs))
		return NULL;
	i = rollouts_member_idx(rs, machine_id);
	return i < 0 ? NULL : &rs->cur.members[i];
}

const char *rollouts_agent_version(const struct rollouts *rs)
{
	return rs->agent_version;
}

void rollouts_selector_free(struct rollouts_selector *sel)
{
	free(sel->releases);
	free(sel->arches);
	free(sel->machines);
	memset(sel, 0, sizeof(*sel));
}

/* -------------------------------------------------------------------------
 * Stepping. */

static void rollouts_log_state(const struct rollout *r,
                               enum rollout_state before)
{
	if (r->state == before)
		return;
	if (r->reason[0] && (r->state == ROLLOUT_PAUSED ||
	                     r->state == ROLLOUT_FAILED ||
	                     r->state == ROLLOUT_AWAITING_PROMOTION))
		LOG_INFO("rollout", "rollout %s: %s -> %s: %s", r->id,
		         rollout_state_name(before),
		         rollout_state_name(r->state), r->reason);
	else
		LOG_INFO("rollout", "rollout %s: %s -> %s", r->id,
		         rollout_state_name(before),
		         rollout_state_name(r->state));
}

/* Feeds ev to the current rollout; writes what changed. */
static int rollouts_step(struct rollouts *rs, struct rollout_event *ev,
                         char *err, size_t errlen)
{
	enum rollout_state before = rs->cur.state;
	int rv;

	ev->now_ms = rollouts_now(rs);
	rv = rollout_step(&rs->cur, ev, err, errlen);
	rollouts_log_state(&rs->cur, before);
	rollouts_later(rs);
	return rv;
}

static void rollouts_on_tick(uv_timer_t *t)
{
	struct rollouts *rs = t->data;
	struct rollout_event ev = {.kind = ROLLOUT_EV_TICK};
	char err[UPS_ERRMSG_MAX];

	if (rollouts_active(rs))
		(void)rollouts_step(rs, &ev, err, sizeof(err));
}

/* What m's registry record says about member i. */
static bool rollouts_news(const struct rollouts *rs, size_t i,
                          const struct machine *m, struct rollout_event *ev)
{
	const struct rollout_member *mem = &rs->cur.members[i];
	const struct regdb_order *o = m->order;

	ev->kind = ROLLOUT_EV_REPORT;
	ev->member = i;
	ev->reason = NULL;
	if (mem->state == MEMBER_REVERTING) {
		if (!o || !mem->order_id[0] || strcmp(o->id, mem->order_id) ||
		    !(ups_machine_state_flags(o->state) & UPS_MST_FINAL))
			return false;
		ev->state = o->state == UPS_MST_REVERTED ? MEMBER_REVERTED
		                                         : MEMBER_REVERT_FAILED;
		if (ev->state == MEMBER_REVERT_FAILED)
			ev->reason = o->reason[0]
			                 ? o->reason
			                 : ups_machine_state_name(o->state);
		return true;
	}
	if (o && mem->order_id[0] && strcmp(o->id, mem->order_id) == 0) {
		enum member_state st;

		/* The working states and healthy are named as the machine's. */
		if (!member_state_parse(ups_machine_state_name(o->state),
		                        &st) &&
		    ((MEMBER_WORKING | MB(HEALTHY)) & (1u << st))) {
			ev->state = st;
			return true;
		}
		if (o->state == UPS_MST_TIMED_OUT) {
			ev->state = MEMBER_TIMED_OUT; /* ours: nothing new */
			return true;
		}
		if (o->state == UPS_MST_FAILED ||
		    o->state == UPS_MST_REVERTING ||
		    o->state == UPS_MST_REVERTED) {
			ev->state = MEMBER_FAILED;
			ev->reason = o->reason[0]
			                 ? o->reason
			                 : ups_machine_state_name(o->state);
			return true;
		}
		return false;
	}
	/* Back with the target after a restart, healthy. */
	if (m->row.connected &&
	    strcmp(m->row.version, rs->cur.spec.version) == 0 &&
	    (m->row.state == UPS_MST_HEALTHY || m->row.state == UPS_MST_IDLE)) {
		ev->state = MEMBER_HEALTHY;
		return true;
	}
	return false;
}

void rollouts_machine_changed(struct rollouts *rs, const struct machine *m)
{
	struct rollout_event ev;
	char err[UPS_ERRMSG_MAX];
	long i;

	if (!rollouts_active(rs) || rs->stopping)
		return;
	i = rollouts_member_idx(rs, m->row.id);
	if (i < 0 || !rollouts_news(rs, (size_t)i, m, &ev))
		return;
	/* Healthy by its own word: the health plugin has a say first. */
	if (ev.state == MEMBER_HEALTHY &&
	    ((MEMBER_WORKING | MB(TIMED_OUT)) &
	     (1u << rs->cur.members[i].state)) &&
	    rollouts_check(rs, (size_t)i))
		return;
	(void)rollouts_step(rs, &ev, err, sizeof(err));
}

/* -------------------------------------------------------------------------
 * Hooks and health checks (hooks.h). Hook events are told once the
 * change behind them is durable; a gated stage orders nothing until its
 * before-* hooks cleared it. */

/* Tags of hook results: what the runner asked for. */
enum {
	ROLLOUTS_TAG_TOLD,   /* after-*, machine-failed, paused: logged */
	ROLLOUTS_TAG_BEFORE_ROLLOUT,
	ROLLOUTS_TAG_BEFORE_STAGE,
};

bool rollouts_hooked(const struct rollouts *rs)
{
	return rs->cfg.hooks && hooks_has_hooks(rs->cfg.hooks);
}

static int rollouts_hook(struct rollouts *rs, const char *name, int64_t stage,
                         const char *machine_id, const char *reason,
                         uint64_t tag)
{
	const struct rollout *r = &rs->cur;
	struct hooks_event ev = {
	    .name = name,
	    .rollout_id = r->id,
	    .model = r->spec.model,
	    .target = r->spec.version,
	    .state = rollout_state_name(r->state),
	    .stage = stage,
	    .stages = r->nstages,
	    .machine_id = machine_id,
	    .reason = reason && reason[0] ? reason : NULL,
	};
	int rv = hooks_run(rs->cfg.hooks, &ev, tag);

	if (rv)
		LOG_ERROR("rollout", "rollout %s: cannot run the %s hooks: %s",
		          r->id, name, ups_err_message(rv));
	return rv;
}

/* Feeds the gate's answer (NULL: cleared) for stage. */
static void rollouts_gate_answer(struct rollouts *rs, uint32_t stage,
                                 const char *refusal)
{
	struct rollout_event ev = {.kind = ROLLOUT_EV_GATE,
	                           .stage = stage,
	                           .reason = refusal};
	char err[UPS_ERRMSG_MAX];

	rs->gate_running = false;
	(void)rollouts_step(rs, &ev, err, sizeof(err));
}

/* Starts the before-* hooks of the stage waiting for them, if any. */
static void rollouts_gate(struct rollouts *rs)
{
	int64_t stage = rollout_gate_wanted(&rs->cur);

	if (stage < 0 || rs->gate_running || rs->stopping)
		return;
	if (!rollouts_hooked(rs)) {
		/* Gated, but the hook plugin is gone (a restart without
		 * it): nothing can refuse, so the stage is cleared. */
		rollouts_gate_answer(rs, (uint32_t)stage, NULL);
		return;
	}
	rs->gate_running = true;
	if (stage == 0 ? rollouts_hook(rs, "before-rollout", -1, NULL, NULL,
	                               ROLLOUTS_TAG_BEFORE_ROLLOUT)
	               : rollouts_hook(rs, "before-stage", stage, NULL, NULL,
	                               ROLLOUTS_TAG_BEFORE_STAGE))
		/* Nothing can clear it: pause with why (resume tries again). */
		rollouts_gate_answer(rs, (uint32_t)stage,
		                     "cannot run the before-* hooks");
}

/* After a write committed: the hook events of what it made durable
 * (members[0..n) are the rows it wrote), in the order they happened,
 * then the gate. */
static void rollouts_tell(struct rollouts *rs, const struct rollout_member *m,
                          size_t n)
{
	struct rollout *r = &rs->cur;

	if (!rollouts_hooked(rs)) {
		/* A gated rollout from before a restart without hooks. */
		rollouts_gate(rs);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((MB(FAILED) | MB(TIMED_OUT) | MB(REVERT_FAILED)) &
		    (1u << m[i].state))
			rollouts_hook(rs, "machine-failed", m[i].stage,
			              m[i].machine_id,
			              m[i].reason[0] ? m[i].reason
			                             : member_state_name(
			                                   m[i].state),
			              ROLLOUTS_TAG_TOLD);
	/* A completed rollout's last stage ended too. */
	while (rs->hook_stage_next < r->stage ||
	       (r->state == ROLLOUT_COMPLETED &&
	        rs->hook_stage_next < r->nstages)) {
		rollouts_hook(rs, "after-stage", rs->hook_stage_next, NULL,
		              NULL, ROLLOUTS_TAG_TOLD);
		rs->hook_stage_next++;
	}
	if (r->state != rs->hook_state) {
		if (r->state == ROLLOUT_PAUSED)
			rollouts_hook(rs, "rollout-paused", r->stage, NULL,
			              r->reason, ROLLOUTS_TAG_TOLD);
		if (rollout_state_is_final(r->state))
			rollouts_hook(rs, "after-rollout", -1, NULL,
			              r->reason, ROLLOUTS_TAG_TOLD);
		rs->hook_state = r->state;
	}
	rollouts_gate(rs);
}

/* Member i reported healthy: healthy once the health plugin agrees. */
static bool rollouts_check(struct rollouts *rs, size_t i)
{
	struct rollout_member *mem = &rs->cur.members[i];
	const struct machine *m;
	struct ups_health_target t = {.struct_size = sizeof(t)};
	int rv;

	if (!rs->cfg.hooks || !hooks_has_health(rs->cfg.hooks))
		return false;
	if (mem->checking)
		return true; /* the answer comes */
	m = registry_find(rs->registry, mem->machine_id);
	t.machine_id = mem->machine_id;
	t.model = m ? m->row.model : rs->cur.spec.model;
	t.address = m ? m->address : "";
	t.version = m ? m->row.version : "";
	t.release = m ? m->row.release : "";
	t.arch = m ? m->row.arch : "";
	rv = hooks_check(rs->cfg.hooks, &t, rs->cur.id, mem->order_id, i);
	if (rv) {
		LOG_ERROR("rollout", "rollout %s: machine %s: cannot check "
		                     "its health: %s",
		          rs->cur.id, mem->machine_id, ups_err_message(rv));
		return false;
	}
	mem->checking = true;
	return true;
}

static void rollouts_checked(struct rollouts *rs,
                             const struct hooks_result *res)
{
	struct rollout_member *mem;
	struct rollout_event ev = {.kind = ROLLOUT_EV_REPORT,
	                           .member = (size_t)res->tag};
	char why[ROLLOUT_REASON_LEN], err[UPS_ERRMSG_MAX];

	if (!rs->have || strcmp(rs->cur.id, res->rollout_id) != 0 ||
	    res->tag >= rs->cur.nmembers)
		return;
	mem = &rs->cur.members[res->tag];
	mem->checking = false;
	/* An answer about another order of the machine is stale: what
	 * the registry says now decides (it may be healthy again). */
	if (strcmp(mem->order_id, res->order_id ? res->order_id : "") != 0) {
		const struct machine *m =
		    registry_find(rs->registry, mem->machine_id);

		if (m)
			rollouts_machine_changed(rs, m);
		return;
	}
	if (res->rv) {
		snprintf(why, sizeof(why), "health check: %s", res->detail);
		LOG_WARN("rollout", "rollout %s: machine %s: %s", rs->cur.id,
		         mem->machine_id, why);
		ev.state = MEMBER_FAILED;
		ev.reason = why;
	} else {
		ev.state = MEMBER_HEALTHY;
	}
	(void)rollouts_step(rs, &ev, err, sizeof(err));
}

void rollouts_hooks_done(void *data, const struct hooks_result *res)
{
	struct rollouts *rs = data;
	char why[ROLLOUT_REASON_LEN];

	if (rs->stopping)
		return;
	if (!res->event) {
		rollouts_checked(rs, res);
		return;
	}
	if (res->rv)
		LOG_WARN("rollout", "rollout %s: %s hook failed: %s",
		         res->rollout_id, res->event, res->detail);
	/* A gate of another rollout: the current one's is its own. */
	if (res->tag == ROLLOUTS_TAG_TOLD || !rs->have ||
	    strcmp(rs->cur.id, res->rollout_id) != 0)
		return;
	if (res->rv) {
		snprintf(why, sizeof(why), "%s hook: %s", res->event,
		         res->detail);
		rollouts_gate_answer(rs,
		                     res->tag == ROLLOUTS_TAG_BEFORE_ROLLOUT
		                         ? 0
		                         : (uint32_t)res->stage,
		                     why);
		return;
	}
	if (res->tag == ROLLOUTS_TAG_BEFORE_ROLLOUT) {
		/* Then the first stage's own, unless the rollout moved on
		 * meanwhile (paused, aborted). */
		if (rollout_gate_wanted(&rs->cur) != 0) {
			rs->gate_running = false;
			return;
		}
		if (rollouts_hook(rs, "before-stage", 0, NULL, NULL,
		                  ROLLOUTS_TAG_BEFORE_STAGE))
			rollouts_gate_answer(
			    rs, 0, "cannot run the before-stage hooks");
		return;
	}
	rollouts_gate_answer(rs, (uint32_t)res->stage, NULL);
}

/* -------------------------------------------------------------------------
 * Orders, once their members are journaled as ordered. */

struct rollouts_order_req {
	struct rollouts *rs;
	char rollout_id[ROLLOUT_ID_LEN];
	uint32_t idx[UPS_LIMIT_ORDER_MACHINES];
	size_t n;
};

static void rollouts_ask(struct rollouts *rs, const uint32_t *idx, size_t n);
static void rollouts_retry(uv_timer_t *t);

static void rollouts_refused(struct rollouts *rs, uint32_t idx,
                             const char *why)
{
	struct rollout_event ev = {.kind = ROLLOUT_EV_REFUSED,
	                           .member = idx,
	                           .reason = why};
	char err[UPS_ERRMSG_MAX];

	LOG_WARN("rollout", "rollout %s: machine %s: order refused: %s",
	         rs->cur.id, rs->cur.members[idx].machine_id, why);
	(void)rollouts_step(rs, &ev, err, sizeof(err));
}

static void rollouts_ordered(void *data, int rv, const char *err,
                             const struct registry_result *res)
{
	struct rollouts_order_req *q = data;
	struct rollouts *rs = q->rs;

	rs->orders_in_flight--;
	if (!rs->have || strcmp(rs->cur.id, q->rollout_id) != 0 ||
	    rs->stopping) {
		free(q);
		return;
	}
	if (rv == UPS_ERR_IO || rv == UPS_ERR_NO_MEMORY) {
		/* The registry could not write it (it keeps an open order
		 * and answers the same id when asked again): ask again
		 * later, it is no refusal. */
		for (size_t i = 0; i < q->n; i++)
			rs->cur.members[q->idx[i]].want_order = true;
		if (rs->timers_open)
			uv_timer_start(&rs->retry, rollouts_retry,
			               ROLLOUTS_RETRY_MS, 0);
		free(q);
		return;
	}
	if (rv) {
		/* One machine spoils a chunk: ask each alone. */
		if (q->n > 1) {
			for (size_t i = 0; i < q->n; i++)
				rollouts_ask(rs, &q->idx[i], 1);
		} else {
			rollouts_refused(rs, q->idx[0], err ? err : "refused");
		}
		free(q);
		return;
	}
	for (size_t i = 0; i < res->norders && i < q->n; i++) {
		struct rollout_member *m = &rs->cur.members[q->idx[i]];

		if (strcmp(m->machine_id, res->orders[i].machine_id) != 0)
			continue;
		snprintf(m->order_id, sizeof(m->order_id), "%s",
		         res->orders[i].order_id);
		m->dirty = true;
	}
	free(q);
	rollouts_later(rs);
}

static void rollouts_ask(struct rollouts *rs, const uint32_t *idx, size_t n)
{
	const char *ids[UPS_LIMIT_ORDER_MACHINES];
	struct rollouts_order_req *q;
	char err[UPS_ERRMSG_MAX];
	bool revert;
	int rv;

	while (n > 0) {
		size_t k =
		    n < UPS_LIMIT_ORDER_MACHINES ? n : UPS_LIMIT_ORDER_MACHINES;

		/* A chunk is all upgrades or all reverts. */
		revert = rs->cur.members[idx[0]].state == MEMBER_REVERTING;
		for (size_t i = 1; i < k; i++)
			if ((rs->cur.members[idx[i]].state ==
			     MEMBER_REVERTING) != revert) {
				k = i;
				break;
			}

		q = calloc(1, sizeof(*q));
		if (!q) {
			LOG_ERROR("rollout", "out of memory for orders");
			return;
		}
		q->rs = rs;
		snprintf(q->rollout_id, sizeof(q->rollout_id), "%s",
		         rs->cur.id);
		for (size_t i = 0; i < k; i++) {
			q->idx[i] = idx[i];
			ids[i] = rs->cur.members[idx[i]].machine_id;
		}
		q->n = k;
		rv = revert ? registry_order_revert(rs->registry, ids, k,
		                                    rollouts_ordered, q)
		            : registry_order_upgrade(rs->registry, ids, k,
		                                     rs->cur.spec.version, NULL,
		                                     rs->cur.spec.stream,
		                                     rollouts_ordered, q);
		if (rv) {
			snprintf(err, sizeof(err), "%s", ups_err_message(rv));
			free(q);
			if (rv == UPS_ERR_UNAVAILABLE)
				return;
			for (size_t i = 0; i < k; i++)
				rollouts_refused(rs, idx[i], err);
		} else {
			rs->orders_in_flight++;
		}
		idx += k;
		n -= k;
	}
}

/* -------------------------------------------------------------------------
 * Journal writes. */

/* Whether the rollout still sends a member in state st its order:
 * upgrades while it upgrades (or waits: journaled orders are in
 * flight), reverts while it rolls back. */
static bool rollouts_sends(enum rollout_state r, enum member_state st)
{
	if (st == MEMBER_REVERTING)
		return r == ROLLOUT_ROLLING_BACK;
	return st == MEMBER_ORDERED &&
	       (r == ROLLOUT_CANARY || r == ROLLOUT_ROLLING ||
	        r == ROLLOUT_PAUSED || r == ROLLOUT_AWAITING_PROMOTION);
}

/* Members journaled as ordered (or reverting) whose order is not known:
 * asked of the registry, or withdrawn when the rollout moved on. */
static void rollouts_send(struct rollouts *rs, uint32_t *idx, size_t n)
{
	char err[UPS_ERRMSG_MAX];
	size_t k = 0;
	bool withdrew = false;

	for (size_t i = 0; i < n; i++) {
		const struct rollout_member *m = &rs->cur.members[idx[i]];
		struct rollout_event ev = {.kind = ROLLOUT_EV_WITHDRAWN,
		                           .member = idx[i]};

		if (m->order_id[0] || (m->state != MEMBER_ORDERED &&
		                       m->state != MEMBER_REVERTING))
			continue;
		if (rollouts_sends(rs->cur.state, m->state)) {
			idx[k++] = idx[i];
			continue;
		}
		ev.now_ms = rollouts_now(rs);
		(void)rollout_step(&rs->cur, &ev, err, sizeof(err));
		withdrew = true;
	}
	rollouts_ask(rs, idx, k);
	if (withdrew)
		rollouts_later(rs);
}

static void rollouts_write_work(uv_work_t *w)
{
	struct rollouts_job *j = w->data;
	uint64_t t0 = uv_hrtime();

	j->rv = journal_write(j->rs->journal, &j->batch, j->err,
	                      sizeof(j->err));
	j->ns = uv_hrtime() - t0;
}

static void rollouts_answer(struct rollouts *rs, struct rollouts_waiter *w,
                            int rv, const char *err)
{
	struct rollouts_answer a = {.r = rs->have ? &rs->cur : NULL};

	while (w) {
		struct rollouts_waiter *next = w->next;

		w->cb(w->data, rv, err, &a);
		free(w);
		w = next;
	}
}

static void rollouts_retry(uv_timer_t *t)
{
	rollouts_later(t->data);
}

static void rollouts_write_done(uv_work_t *w, int status)
{
	struct rollouts_job *j = w->data;
	struct rollouts *rs = j->rs;
	bool same = rs->have && strcmp(rs->cur.id, j->batch.id) == 0;

	rs->job = NULL;
	if (status == UV_ECANCELED && !j->rv)
		j->rv = UPS_ERR_UNAVAILABLE;
	if (j->rv) {
		LOG_ERROR("rollout", "rollout %s: journal write failed "
		                     "(retried): %s",
		          j->batch.id, j->err);
		/* Nothing of it happened: mark it all to write again. */
		if (same) {
			if (j->batch.doc)
				rs->cur.dirty = true;
			for (size_t i = 0; i < j->batch.n; i++)
				rs->cur.members[j->batch.index[i]].dirty = true;
			for (size_t i = 0; i < j->nasking; i++)
				rs->cur.members[j->asking[i]].want_order = true;
		}
		if (!same) {
			/* Its rollout is gone from memory: say so. */
			rollouts_answer(rs, j->waiters, UPS_ERR_IO, j->err);
		} else if (rs->timers_open && !rs->stopping) {
			/* Waiters wait for the retry. */
			struct rollouts_waiter **tail = &j->waiters;

			while (*tail)
				tail = &(*tail)->next;
			*tail = rs->waiting;
			rs->waiting = j->waiters;
			uv_timer_start(&rs->retry, rollouts_retry,
			               ROLLOUTS_RETRY_MS, 0);
		} else {
			rollouts_answer(rs, j->waiters, UPS_ERR_IO, j->err);
		}
		goto out;
	}
	rs->writes++;
	rs->rows_written += j->batch.n + (j->batch.doc ? 1 : 0);
	ups_histogram_observe(&rs->journal_seconds, (double)j->ns / 1e9);
	if (j->batch.agent_version[0]) {
		snprintf(rs->agent_version, sizeof(rs->agent_version), "%s",
		         j->batch.agent_version);
		/* The write that records completion: what journaling cost
		 * (contrib/bench/rollout.sh reads it). */
		LOG_INFO("rollout",
		         "rollout %s: journal: %llu writes, %llu rows since "
		         "upstaged started",
		         j->batch.id, (unsigned long long)rs->writes,
		         (unsigned long long)rs->rows_written);
	}
	if (same && !rs->stopping)
		rollouts_send(rs, j->asking, j->nasking);
	/* Orders given up on end in the registry too, so a machine that
	 * comes back is not sent them again. */
	for (size_t i = 0; same && i < j->batch.n; i++) {
		const struct rollout_member *m = &j->batch.members[i];

		if ((m->state == MEMBER_TIMED_OUT ||
		     m->state == MEMBER_REVERT_FAILED) &&
		    m->order_id[0])
			registry_order_timed_out(rs->registry, m->machine_id,
			                         m->order_id, m->reason);
	}
	if (same && rs->ev.changed)
		rs->ev.changed(rs->ev.data, &rs->cur, j->batch.index,
		               j->batch.n);
	if (same && !rs->stopping)
		rollouts_tell(rs, j->batch.members, j->batch.n);
	rollouts_answer(rs, j->waiters, 0, NULL);
out:
	journal_batch_free(&j->batch);
	free(j->asking);
	free(j);
	if (rs->write_again) {
		rs->write_again = false;
		rollouts_later(rs);
	}
}

/* The lowest version r's machines ran before it: where a rolled back
 * controller's agent version goes back to. */
static void rollouts_version_before(const struct rollout *r, char *buf,
                                    size_t len)
{
	struct ups_version low, v;
	bool have = false;

	for (size_t i = 0; i < r->nmembers; i++) {
		if (ups_version_parse(r->members[i].from_version, &v, NULL, 0))
			continue;
		if (!have || ups_version_compare(&v, &low) < 0)
			low = v;
		have = true;
	}
	if (!have || ups_version_format(&low, buf, len))
		buf[0] = '\0';
}

/* Writes what changed (or queues it behind the write in flight). */
static void rollouts_flush(struct rollouts *rs)
{
	struct rollout *r = &rs->cur;
	struct rollouts_job *j;
	size_t n = 0, nask = 0;

	/* Every change of state goes through here: count it. */
	if (rs->have && rs->cur.state != rs->counted_state) {
		if (rs->by_state[rs->counted_state])
			rs->by_state[rs->counted_state]--;
		rs->by_state[rs->cur.state]++;
		rs->counted_state = rs->cur.state;
	}
	if (rs->job) {
		rs->write_again = true;
		return;
	}
	if (!rs->have)
		return;
	for (size_t i = 0; i < r->nmembers; i++) {
		n += r->members[i].dirty;
		nask += r->members[i].want_order;
	}
	if (!r->dirty && n == 0 && !rs->waiting)
		return;
	j = calloc(1, sizeof(*j));
	if (j) {
		j->batch.members =
		    malloc((n ? n : 1) * sizeof(*j->batch.members));
		j->batch.index = malloc((n ? n : 1) * sizeof(*j->batch.index));
		j->asking = malloc((nask ? nask : 1) * sizeof(*j->asking));
		j->batch.doc = r->dirty ? journal_encode(r) : NULL;
	}
	if (!j || !j->batch.members || !j->batch.index || !j->asking ||
	    (r->dirty && !j->batch.doc)) {
		if (j) {
			journal_batch_free(&j->batch);
			free(j->asking);
			free(j);
		}
		LOG_ERROR("rollout", "out of memory for a journal write");
		if (rs->timers_open && !rs->stopping)
			uv_timer_start(&rs->retry, rollouts_retry,
			               ROLLOUTS_RETRY_MS, 0);
		return;
	}
	j->rs = rs;
	snprintf(j->batch.id, sizeof(j->batch.id), "%s", r->id);
	j->batch.seq = rs->seq;
	/* The controller's agent version follows its own model only. */
	if (r->dirty && r->state == ROLLOUT_COMPLETED &&
	    strcmp(r->spec.model, UPS_MODEL_CONTROLLER) == 0)
		snprintf(j->batch.agent_version, sizeof(j->batch.agent_version),
		         "%s", r->spec.version);
	if (r->dirty && r->state == ROLLOUT_ROLLED_BACK &&
	    strcmp(r->spec.model, UPS_MODEL_CONTROLLER) == 0 &&
	    strcmp(rs->agent_version, r->spec.version) == 0)
		rollouts_version_before(r, j->batch.agent_version,
		                        sizeof(j->batch.agent_version));
	r->dirty = false;
	for (size_t i = 0; i < r->nmembers; i++) {
		struct rollout_member *m = &r->members[i];

		if (m->dirty) {
			j->batch.index[j->batch.n] = (uint32_t)i;
			j->batch.members[j->batch.n++] = *m;
			m->dirty = false;
		}
		if (m->want_order) {
			j->asking[j->nasking++] = (uint32_t)i;
			m->want_order = false;
		}
	}
	j->waiters = rs->waiting;
	rs->waiting = NULL;
	j->work.data = j;
	if (uv_queue_work(rs->loop, &j->work, rollouts_write_work,
	                  rollouts_write_done)) {
		j->rv = UPS_ERR_IO;
		snprintf(j->err, sizeof(j->err), "cannot queue the write");
		rs->job = j;
		rollouts_write_done(&j->work, 0);
		return;
	}
	rs->job = j;
}

static void rollouts_on_prepare(uv_prepare_t *p)
{
	struct rollouts *rs = p->data;

	uv_prepare_stop(p);
	rs->flush_due = false;
	rollouts_flush(rs);
}

/* Asks for a write of what changed: made once per loop iteration, from
 * the prepare handle, so every change of a tick goes in one transaction
 * (and nothing it asks for is carried out before that commits). Before
 * rollouts_start() and after rollouts_stop(): at once. */
static void rollouts_later(struct rollouts *rs)
{
	if (!rs->timers_open) {
		rollouts_flush(rs);
		return;
	}
	if (rs->flush_due)
		return;
	rs->flush_due = true;
	uv_prepare_start(&rs->flusher, rollouts_on_prepare);
}

/* Whether anything of the rollout in memory is not durable yet. */
static bool rollouts_unwritten(const struct rollouts *rs)
{
	if (!rs->have)
		return false;
	if (rs->job || rs->waiting || rs->cur.dirty)
		return true;
	for (size_t i = 0; i < rs->cur.nmembers; i++)
		if (rs->cur.members[i].dirty || rs->cur.members[i].want_order)
			return true;
	return false;
}

/* Answer cb once everything so far is durable. */
static int rollouts_wait(struct rollouts *rs, rollouts_cb cb, void *data)
{
	struct rollouts_waiter *w = calloc(1, sizeof(*w)), **tail;

	if (!w)
		return UPS_ERR_NO_MEMORY;
	w->cb = cb;
	w->data = data;
	for (tail = &rs->waiting; *tail; tail = &(*tail)->next)
		;
	*tail = w;
	rollouts_later(rs);
	return 0;
}

/* -------------------------------------------------------------------------
 * A new rollout (rollouts_begin.c plans it). */

int rollouts_ready(struct rollouts *rs, char *err, size_t errlen)
{
	if (rollouts_active(rs))
		return ups_errf(UPS_ERR_UPGRADE_IN_PROGRESS, err, errlen,
		                "rollout %s is %s", rs->cur.id,
		                rollout_state_name(rs->cur.state));
	/* The last rollout's end must be durable before it leaves memory. */
	if (rollouts_unwritten(rs)) {
		rollouts_later(rs);
		return ups_errf(UPS_ERR_BUSY, err, errlen,
		                "rollout %s's last change is being written: "
		                "try again",
		                rs->cur.id);
	}
	return 0;
}

int rollouts_adopt(struct rollouts *rs, struct rollout *plan,
                   const char *rule, rollouts_cb cb, void *data, char *err,
                   size_t errlen)
{
	struct rollout_event ev = {.kind = ROLLOUT_EV_START};
	uint32_t *by_id = rollouts_index(plan);

	if (!by_id) {
		rollout_free(plan);
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory for the member index");
	}
	rollout_free(&rs->cur);
	free(rs->by_id);
	rs->by_id = by_id;
	rs->cur = *plan;
	memset(plan, 0, sizeof(*plan));
	rs->have = true;
	rs->seq = ++rs->last_seq;
	rs->gate_running = false;
	rs->hook_stage_next = 0;
	rs->hook_state = ROLLOUT_PLANNED;
	rs->by_state[ROLLOUT_PLANNED]++;
	rs->counted_state = ROLLOUT_PLANNED;
	LOG_INFO("rollout",
	         "rollout %s: %s (%s) on %zu machines in %zu groups, %u "
	         "stages%s%s",
	         rs->cur.id, rs->cur.spec.version, rs->cur.spec.stream,
	         rs->cur.nmembers, rs->cur.ngroups, rs->cur.nstages,
	         rule ? ", chosen by rule " : "", rule ? rule : "");
	(void)rollouts_step(rs, &ev, err, errlen);
	if (rollouts_wait(rs, cb, data))
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	return 0;
}

/* -------------------------------------------------------------------------
 * Commands. */

int rollouts_command(struct rollouts *rs, enum rollout_event_kind kind,
                     const char *id, rollouts_cb cb, void *data)
{
	struct rollout_event ev = {.kind = kind};
	char err[UPS_ERRMSG_MAX];
	struct rollouts_answer a = {0};
	enum rollout_state before;
	int rv;

	if (rs->stopping)
		return UPS_ERR_UNAVAILABLE;
	/* Rollback also takes the latest rollout once it completed. */
	if (!rs->have || (id && strcmp(id, rs->cur.id) != 0) ||
	    (!id && !rollouts_active(rs) && kind != ROLLOUT_EV_ROLLBACK)) {
		snprintf(err, sizeof(err), "no %s rollout%s%s",
		         id ? "such" : "active", id ? " " : "", id ? id : "");
		cb(data, UPS_ERR_NOT_FOUND, err, &a);
		return 0;
	}
	/* The step without its write, so the waiter goes in that write. */
	before = rs->cur.state;
	ev.now_ms = rollouts_now(rs);
	rv = rollout_step(&rs->cur, &ev, err, sizeof(err));
	rollouts_log_state(&rs->cur, before);
	if (rv) {
		a.r = &rs->cur;
		cb(data, rv, err, &a);
		return 0;
	}
	/* The step's write answers it (this tick's write, waiter and all). */
	return rollouts_wait(rs, cb, data);
}

/* -------------------------------------------------------------------------
 * Older rollouts, from the journal. */

struct rollouts_read {
	uv_work_t work;
	struct rollouts *rs;
	char id[ROLLOUT_ID_LEN];
	char data_dir[4096];
	struct rollout r;
	rollouts_cb cb;
	void *data;
	int rv;
	char err[UPS_ERRMSG_MAX];
};

/* A connection of its own: the writer's is the write job's alone. */
static void rollouts_read_work(uv_work_t *w)
{
	struct rollouts_read *q = w->data;
	struct journal *j;
	int64_t seq;

	q->rv = journal_open(q->data_dir, &j, q->err, sizeof(q->err));
	if (q->rv)
		return;
	q->rv = journal_load(j, q->id, &q->r, &seq, q->err, sizeof(q->err));
	journal_close(j);
}

static void rollouts_read_done(uv_work_t *w, int status)
{
	struct rollouts_read *q = w->data;
	struct rollouts_answer a = {.r = q->rv ? NULL : &q->r};

	q->rs->reads--;
	if (status == UV_ECANCELED && !q->rv) {
		q->rv = UPS_ERR_UNAVAILABLE;
		snprintf(q->err, sizeof(q->err), "shutting down");
		a.r = NULL;
	}
	q->cb(q->data, q->rv, q->rv ? q->err : NULL, &a);
	rollout_free(&q->r);
	free(q);
}

int rollouts_load(struct rollouts *rs, const char *id, rollouts_cb cb,
                  void *data)
{
	struct rollouts_read *q;

	if (rs->stopping)
		return UPS_ERR_UNAVAILABLE;
	if (rs->reads >= ROLLOUTS_READS_MAX)
		return UPS_ERR_BUSY;
	q = calloc(1, sizeof(*q));
	if (!q)
		return UPS_ERR_NO_MEMORY;
	q->rs = rs;
	snprintf(q->id, sizeof(q->id), "%s", id);
	snprintf(q->data_dir, sizeof(q->data_dir), "%s", rs->cfg.data_dir);
	q->cb = cb;
	q->data = data;
	q->work.data = q;
	if (uv_queue_work(rs->loop, &q->work, rollouts_read_work,
	                  rollouts_read_done)) {
		free(q);
		return UPS_ERR_IO;
	}
	rs->reads++;
	return 0;
}

/* -------------------------------------------------------------------------
 * Life cycle. */

int rollouts_open(struct rollouts *rs, uv_loop_t *loop,
                  struct registry *registry, struct store *store,
                  const struct rollouts_config *cfg,
                  const struct rollouts_events *ev, char *err, size_t errlen)
{
	int64_t seq;
	int rv;

	memset(rs, 0, sizeof(*rs));
	rs->loop = loop;
	rs->registry = registry;
	rs->store = store;
	rs->cfg = *cfg;
	if (ev)
		rs->ev = *ev;
	rv = journal_open(cfg->data_dir, &rs->journal, err, errlen);
	if (!rv)
		rv = journal_agent_version(rs->journal, rs->agent_version,
		                           sizeof(rs->agent_version), err,
		                           errlen);
	if (!rv)
		rv = journal_last_seq(rs->journal, &rs->last_seq, err, errlen);
	if (!rv)
		rv = journal_count_states(rs->journal, rs->by_state, err,
		                          errlen);
	if (rv)
		goto fail;
	if (!rs->agent_version[0] && cfg->agent_version)
		snprintf(rs->agent_version, sizeof(rs->agent_version), "%s",
		         cfg->agent_version);
	rv = journal_load(rs->journal, NULL, &rs->cur, &seq, err, errlen);
	if (rv == UPS_ERR_NOT_FOUND)
		return 0;
	if (rv)
		goto fail;
	rs->have = true;
	rs->seq = seq;
	rs->by_id = rollouts_index(&rs->cur);
	/* Hook events were told up to here before the restart; the
	 * journal counted its state. */
	rs->counted_state = rs->cur.state;
	rs->hook_stage_next = rs->cur.stage;
	rs->hook_state = rs->cur.state;
	if (!rs->by_id) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto fail;
	}
	LOG_INFO("rollout", "rollout %s: %s, %zu machines, stage %u of %u",
	         rs->cur.id, rollout_state_name(rs->cur.state),
	         rs->cur.nmembers, rs->cur.stage, rs->cur.nstages);
	return 0;
fail:
	rollouts_close(rs);
	return rv;
}

/* After a restart: members follow what the registry knows now. */
static void rollouts_recover(struct rollouts *rs)
{
	struct rollout *r = &rs->cur;
	size_t adopted = 0, asked = 0;

	for (size_t i = 0; i < r->nmembers; i++) {
		struct rollout_member *mem = &r->members[i];
		const struct machine *m;
		struct rollout_event ev;
		char err[UPS_ERRMSG_MAX];

		m = registry_find(rs->registry, mem->machine_id);
		if ((mem->state == MEMBER_TIMED_OUT ||
		     mem->state == MEMBER_REVERT_FAILED) &&
		    mem->order_id[0]) {
			/* The crash may have come before the registry heard. */
			registry_order_timed_out(rs->registry, mem->machine_id,
			                         mem->order_id, mem->reason);
			continue;
		}
		if (!((MEMBER_WORKING | MB(HEALTHY) | MB(REVERTING)) &
		      (1u << mem->state)))
			continue;
		if (!mem->order_id[0] && m && m->order &&
		    strcmp(m->order->id, mem->prev_order_id) != 0 &&
		    (mem->state == MEMBER_REVERTING
		         ? m->order->kind == UPS_ORDER_REVERT
		         : (m->order->kind == UPS_ORDER_UPGRADE &&
		            strcmp(m->order->binary_version,
		                   mem->binary_version) == 0)) &&
		    m->order->created_at * 1000 + 999 >= mem->ordered_ms) {
			/* The registry made it; the crash lost its id. */
			snprintf(mem->order_id, sizeof(mem->order_id), "%s",
			         m->order->id);
			mem->dirty = true;
			adopted++;
		} else if (!mem->order_id[0] &&
		           (mem->state == MEMBER_ORDERED ||
		            mem->state == MEMBER_REVERTING)) {
			/* Asked (or withdrawn) once this is journaled. */
			mem->want_order = true;
			asked++;
			continue;
		}
		if (m && rollouts_news(rs, i, m, &ev)) {
			/* Healthy by its word: the health plugin first, as
			 * for any report. */
			if (ev.state == MEMBER_HEALTHY &&
			    ((MEMBER_WORKING | MB(TIMED_OUT)) &
			     (1u << mem->state)) &&
			    rollouts_check(rs, i))
				continue;
			ev.now_ms = rollouts_now(rs);
			(void)rollout_step(r, &ev, err, sizeof(err));
		}
	}
	LOG_INFO("rollout", "rollout %s resumed: %zu order ids adopted, %zu "
	                    "orders asked again",
	         r->id, adopted, asked);
	r->dirty = true;
	rollouts_later(rs);
}

int rollouts_start(struct rollouts *rs)
{
	unsigned tick = rs->cfg.tick_ms ? rs->cfg.tick_ms : 1000;

	if (uv_timer_init(rs->loop, &rs->tick))
		return UPS_ERR_IO;
	if (uv_timer_init(rs->loop, &rs->retry)) {
		uv_close((uv_handle_t *)&rs->tick, NULL);
		return UPS_ERR_IO;
	}
	if (uv_prepare_init(rs->loop, &rs->flusher)) {
		uv_close((uv_handle_t *)&rs->retry, NULL);
		uv_close((uv_handle_t *)&rs->tick, NULL);
		return UPS_ERR_IO;
	}
	rs->tick.data = rs;
	rs->retry.data = rs;
	rs->flusher.data = rs;
	rs->timers_open = true;
	uv_timer_start(&rs->tick, rollouts_on_tick, tick, tick);
	if (rollouts_active(rs))
		rollouts_recover(rs);
	return 0;
}

void rollouts_stop(struct rollouts *rs)
{
	struct rollouts_waiter *w;

	/* Whatever is not durable yet is written still (with the waiters
	 * it answers): this tick's changes, and changes a failed write left
	 * for the retry timer, which closes below. A write in flight is
	 * followed by one more. Nothing dirty: nothing is written. */
	rs->flush_due = false;
	rollouts_flush(rs);
	rs->stopping = true;
	/* No write will come for them (the one in flight answers its own). */
	w = rs->waiting;
	rs->waiting = NULL;
	rollouts_answer(rs, w, UPS_ERR_UNAVAILABLE, "shutting down");
	if (rs->timers_open) {
		uv_close((uv_handle_t *)&rs->tick, NULL);
		uv_close((uv_handle_t *)&rs->retry, NULL);
		uv_close((uv_handle_t *)&rs->flusher, NULL);
		rs->timers_open = false;
	}
}

void rollouts_close(struct rollouts *rs)
{
	struct rollouts_waiter *w = rs->waiting;

	rs->waiting = NULL;
	rollouts_answer(rs, w, UPS_ERR_UNAVAILABLE, "shutting down");
	if (rs->begins)
		LOG_ERROR("rollout", "%u begins still in flight at close",
		          rs->begins);
	rollout_free(&rs->cur);
	free(rs->by_id);
	rs->by_id = NULL;
	journal_close(rs->journal);
	rs->journal = NULL;
}
