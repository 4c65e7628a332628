/* The rollout engine (engine.h): tables, planning, and the step
 * function. */
#include "agent/rollout/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/utf8.h"

static const char *const rollout_names[] = {
#define ROLLOUT_NAME(id, name, next) name,
    ROLLOUT_STATES(ROLLOUT_NAME)
#undef ROLLOUT_NAME
};
static const unsigned rollout_next[] = {
#define ROLLOUT_NEXT(id, name, next) next,
    ROLLOUT_STATES(ROLLOUT_NEXT)
#undef ROLLOUT_NEXT
};
static const char *const member_names[] = {
#define MEMBER_NAME(id, name, next) name,
    MEMBER_STATES(MEMBER_NAME)
#undef MEMBER_NAME
};
static const unsigned member_next[] = {
#define MEMBER_NEXT(id, name, next) next,
    MEMBER_STATES(MEMBER_NEXT)
#undef MEMBER_NEXT
};

const char *rollout_state_name(enum rollout_state s)
{
	return (unsigned)s < ROLLOUT__COUNT ? rollout_names[s] : "unknown";
}

const char *member_state_name(enum member_state s)
{
	return (unsigned)s < MEMBER__COUNT ? member_names[s] : "unknown";
}

int rollout_state_parse(const char *s, enum rollout_state *out)
{
	for (unsigned i = 0; s && i < ROLLOUT__COUNT; i++)
		if (strcmp(s, rollout_names[i]) == 0) {
			*out = (enum rollout_state)i;
			return 0;
		}
	return UPS_ERR_BAD_REQUEST;
}

int member_state_parse(const char *s, enum member_state *out)
{
	for (unsigned i = 0; s && i < MEMBER__COUNT; i++)
		if (strcmp(s, member_names[i]) == 0) {
			*out = (enum member_state)i;
			return 0;
		}
	return UPS_ERR_BAD_REQUEST;
}

bool rollout_state_is_final(enum rollout_state s)
{
	return (unsigned)s < ROLLOUT__COUNT && (ROLLOUT_FINAL & (1u << s));
}

bool rollout_may_move(enum rollout_state from, enum rollout_state to)
{
	return (unsigned)from < ROLLOUT__COUNT &&
	       (unsigned)to < ROLLOUT__COUNT &&
	       (rollout_next[from] & (1u << to));
}

bool member_may_move(enum member_state from, enum member_state to)
{
	return (unsigned)from < MEMBER__COUNT && (unsigned)to < MEMBER__COUNT &&
	       (member_next[from] & (1u << to));
}

/* -------------------------------------------------------------------------
 * Amounts and the spec. */

int rollout_amount_parse(const char *s, int64_t min, struct rollout_amount *out)
{
	char *end;
	long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return UPS_ERR_BAD_REQUEST;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return UPS_ERR_BAD_REQUEST;
	if (*end == '%' && end[1] == '\0') {
		if (v < 1 || v > 100)
			return UPS_ERR_BAD_REQUEST;
		out->percent = true;
	} else if (*end == '\0') {
		if (v < min || v > 1000000)
			return UPS_ERR_BAD_REQUEST;
		out->percent = false;
	} else {
		return UPS_ERR_BAD_REQUEST;
	}
	out->value = v;
	return 0;
}

void rollout_amount_format(const struct rollout_amount *a, char *buf,
                           size_t len)
{
	snprintf(buf, len, "%lld%s", (long long)a->value,
	         a->percent ? "%" : "");
}

int64_t rollout_amount_of(const struct rollout_amount *a, int64_t n,
                          int64_t min)
{
	int64_t v = a->percent ? (n * a->value + 99) / 100 : a->value;

	return v < min ? min : v;
}

void rollout_spec_defaults(struct rollout_spec *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->stream, sizeof(s->stream), "%s",
	         ups_stream_name(UPS_STREAM_DEFAULT));
	snprintf(s->model, sizeof(s->model), UPS_MODEL_CONTROLLER);
	s->canary = 1;
	s->batch = (struct rollout_amount){10, true};
	s->max_unavailable = (struct rollout_amount){0, false};
	s->failure_budget = (struct rollout_amount){0, false};
	s->min_healthy_ms = 10000;
	s->machine_deadline_ms = 600000;
}

/* -------------------------------------------------------------------------
 * Planning. */

struct plan_entry {
	const struct rollout_machine *m;
	uint32_t group;
};

static int plan_cmp(const void *a, const void *b)
{
	const struct plan_entry *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return ups_machine_id_cmp(x->m->id, y->m->id);
}

static int group_cmp(const void *a, const void *b)
{
	const struct rollout_group *x = a, *y = b;
	int c = strcmp(x->release, y->release);

	return c ? c : strcmp(x->arch, y->arch);
}

static uint32_t plan_group(struct rollout *r, const struct rollout_machine *m)
{
	for (size_t g = 0; g < r->ngroups; g++)
		if (strcmp(r->groups[g].release, m->release) == 0 &&
		    strcmp(r->groups[g].arch, m->arch) == 0)
			return (uint32_t)g;
	return UINT32_MAX;
}

static void member_init(struct rollout_member *dst,
                        const struct plan_entry *e, uint32_t stage,
                        int64_t now_ms)
{
	memset(dst, 0, sizeof(*dst));
	snprintf(dst->machine_id, sizeof(dst->machine_id), "%s", e->m->id);
	snprintf(dst->binary_version, sizeof(dst->binary_version), "%s",
	         e->m->binary_version);
	snprintf(dst->from_version, sizeof(dst->from_version), "%s",
	         e->m->version);
	dst->group = e->group;
	dst->stage = stage;
	dst->canary = stage == 0;
	dst->state = MEMBER_PENDING;
	dst->since_ms = now_ms;
	dst->dirty = true;
}

int rollout_plan(struct rollout *r, const char *id,
                 const struct rollout_spec *spec,
                 const struct rollout_machine *machines, size_t n,
                 int64_t now_ms, char *err, size_t errlen)
{
	struct plan_entry *entries = NULL;
	size_t *next = NULL, *end = NULL, out = 0, rest;

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->spec = *spec;
	r->created_ms = r->updated_ms = now_ms;
	r->state = ROLLOUT_PLANNED;
	r->dirty = true;
	if (n == 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "no machine to upgrade");
	/* Groups, sorted by (release, arch). */
	for (size_t i = 0; i < n; i++) {
		if (plan_group(r, &machines[i]) != UINT32_MAX)
			continue;
		if (r->ngroups == ROLLOUT_GROUPS_MAX)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "more than %d (release, arch) groups",
			                ROLLOUT_GROUPS_MAX);
		struct rollout_group *grp = &r->groups[r->ngroups++];
		snprintf(grp->release, sizeof(grp->release), "%s",
		         machines[i].release);
		snprintf(grp->arch, sizeof(grp->arch), "%s", machines[i].arch);
		snprintf(grp->binary_version, sizeof(grp->binary_version),
		         "%s", machines[i].binary_version);
	}
	qsort(r->groups, r->ngroups, sizeof(r->groups[0]), group_cmp);

	entries = calloc(n, sizeof(*entries));
	r->members = calloc(n, sizeof(*r->members));
	next = calloc(r->ngroups, sizeof(*next));
	end = calloc(r->ngroups, sizeof(*end));
	if (!entries || !r->members || !next || !end) {
		free(entries);
		free(next);
		free(end);
		rollout_free(r);
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory for a plan of %zu machines", n);
	}
	for (size_t i = 0; i < n; i++) {
		entries[i].m = &machines[i];
		entries[i].group = plan_group(r, &machines[i]);
		r->groups[entries[i].group].machines++;
	}
	qsort(entries, n, sizeof(*entries), plan_cmp);
	r->nmembers = n;

	/* Stage 0: the first `canary` machines of each group. */
	for (size_t i = 0, start = 0; i < r->ngroups; i++) {
		size_t take = r->groups[i].machines;

		if ((int64_t)take > spec->canary)
			take = (size_t)spec->canary;
		for (size_t k = 0; k < take; k++)
			member_init(&r->members[out++], &entries[start + k], 0,
			            now_ms);
		next[i] = start + take;
		start += r->groups[i].machines;
		end[i] = start;
	}
	/* The rest, a machine from each group in turn, in stages of batch. */
	rest = n - out;
	r->batch = rollout_amount_of(&spec->batch, (int64_t)rest, 1);
	r->max_unavailable =
	    spec->max_unavailable.value
	        ? rollout_amount_of(&spec->max_unavailable, (int64_t)rest, 1)
	        : r->batch;
	r->budget = rollout_amount_of(&spec->failure_budget, (int64_t)rest, 0);
	if (spec->failure_budget.percent)
		r->budget = (int64_t)rest * spec->failure_budget.value / 100;
	for (size_t k = 0; out < n; k++) {
		for (size_t i = 0; i < r->ngroups; i++) {
			if (next[i] == end[i])
				continue;
			uint32_t stage = (uint32_t)(1 + (out - (n - rest)) /
			                                    (size_t)r->batch);
			member_init(&r->members[out++], &entries[next[i]++],
			            stage, now_ms);
		}
	}
	r->nstages = r->nmembers ? r->members[r->nmembers - 1].stage + 1 : 0;
	free(entries);
	free(next);
	free(end);
	rollout_recount(r);
	return 0;
}

void rollout_recount(struct rollout *r)
{
	memset(r->by_state, 0, sizeof(r->by_state));
	for (size_t i = 0; i < r->nmembers; i++)
		if ((unsigned)r->members[i].state < MEMBER__COUNT)
			r->by_state[r->members[i].state]++;
}

void rollout_free(struct rollout *r)
{
	free(r->members);
	r->members = NULL;
	r->nmembers = 0;
}

/* -------------------------------------------------------------------------
 * The step function and its helpers (only called from rollout_step). */

static int rollout_move(struct rollout *r, enum rollout_state to,
                        int64_t now_ms, const char *reason)
{
	if (!rollout_may_move(r->state, to))
		return UPS_ERR_CONFLICT;
	r->state = to;
	r->updated_ms = now_ms;
	r->dirty = true;
	if (to == ROLLOUT_CANARY && !r->started_ms)
		r->started_ms = now_ms;
	if (rollout_state_is_final(to))
		r->ended_ms = now_ms;
	if (reason) {
		/* Cut to size, maybe inside a character: the journal's JSON
		 * takes valid UTF-8 only. */
		snprintf(r->reason, sizeof(r->reason), "%s", reason);
		ups_utf8_clean(r->reason);
	}
	return 0;
}

static int member_move(struct rollout *r, struct rollout_member *m,
                       enum member_state to, int64_t now_ms,
                       const char *reason)
{
	if (m->state == to)
		return 0;
	if (!member_may_move(m->state, to))
		return UPS_ERR_CONFLICT;
	r->by_state[m->state]--;
	r->by_state[to]++;
	m->state = to;
	m->since_ms = now_ms;
	m->dirty = true;
	if (to == MEMBER_ORDERED || to == MEMBER_REVERTING) {
		m->ordered_ms = now_ms;
		m->want_order = true;
		/* Recovery must not take the last order for this one. */
		if (m->order_id[0])
			snprintf(m->prev_order_id, sizeof(m->prev_order_id),
			         "%s", m->order_id);
		m->order_id[0] = '\0';
	}
	if (to == MEMBER_PENDING)
		m->want_order = false;
	if (reason) {
		snprintf(m->reason, sizeof(m->reason), "%s", reason);
		ups_utf8_clean(m->reason);
	} else if (to != MEMBER_FAILED && to != MEMBER_TIMED_OUT)
		m->reason[0] = '\0';
	r->updated_ms = now_ms;
	return 0;
}

/* Orders the runner has not taken yet go back to pending: nothing was
 * asked of any machine for them. */
static void rollout_withdraw(struct rollout *r, int64_t now)
{
	for (size_t i = 0; i < r->nmembers; i++)
		if (r->members[i].want_order &&
		    r->members[i].state == MEMBER_ORDERED)
			member_move(r, &r->members[i], MEMBER_PENDING, now,
			            NULL);
}

static bool member_working(const struct rollout_member *m)
{
	return (MEMBER_WORKING | MB(HEALTHY)) & (1u << m->state);
}

int64_t rollout_failures(const struct rollout *r)
{
	int64_t n = 0;

	for (size_t i = 0; i < r->nmembers; i++)
		if (!r->members[i].canary &&
		    (r->members[i].state == MEMBER_FAILED ||
		     r->members[i].state == MEMBER_TIMED_OUT))
			n++;
	return n;
}

int64_t rollout_unavailable(const struct rollout *r)
{
	int64_t n = 0;

	for (unsigned s = 0; s < MEMBER__COUNT; s++)
		if ((MEMBER_WORKING | MB(HEALTHY)) & (1u << s))
			n += (int64_t)r->by_state[s];
	return n;
}

/* Deadlines and min healthy time of every working member. The deadline
 * is for becoming healthy: a healthy member only waits out min healthy
 * (else one that turned healthy late, or just before its deadline, would
 * time out again while it waits). */
static void rollout_clock(struct rollout *r, int64_t now)
{
	char why[ROLLOUT_REASON_LEN];

	for (size_t i = 0; i < r->nmembers; i++) {
		struct rollout_member *m = &r->members[i];

		if (m->state == MEMBER_REVERTING &&
		    now - m->ordered_ms >= r->spec.machine_deadline_ms) {
			snprintf(why, sizeof(why),
			         "not reverted within its deadline (%lld ms)",
			         (long long)r->spec.machine_deadline_ms);
			member_move(r, m, MEMBER_REVERT_FAILED, now, why);
		} else if (m->state == MEMBER_HEALTHY) {
			if (now - m->since_ms >= r->spec.min_healthy_ms)
				member_move(r, m, MEMBER_UPGRADED, now, NULL);
		} else if (member_working(m) &&
		           now - m->ordered_ms >= r->spec.machine_deadline_ms) {
			snprintf(why, sizeof(why),
			         "not healthy within its deadline (%lld ms; "
			         "last %s)",
			         (long long)r->spec.machine_deadline_ms,
			         member_state_name(m->state));
			member_move(r, m, MEMBER_TIMED_OUT, now, why);
		}
	}
}

/* The first failed canary, or NULL. */
static const struct rollout_member *
rollout_failed_canary(const struct rollout *r)
{
	for (size_t i = 0; i < r->nmembers && r->members[i].canary; i++)
		if (r->members[i].state == MEMBER_FAILED ||
		    r->members[i].state == MEMBER_TIMED_OUT)
			return &r->members[i];
	return NULL;
}

/* Orders pending members of the current stage while fewer than
 * max-unavailable are out. */
static void rollout_order_more(struct rollout *r, int64_t now)
{
	int64_t out = rollout_unavailable(r);
	int64_t limit = r->stage == 0 ? INT64_MAX : r->max_unavailable;

	if (rollout_gate_wanted(r) >= 0)
		return; /* the stage's hooks have not cleared it yet */

	for (size_t i = 0; i < r->nmembers && out < limit; i++) {
		struct rollout_member *m = &r->members[i];

		if (m->stage > r->stage)
			break;
		if (m->state != MEMBER_PENDING)
			continue;
		member_move(r, m, MEMBER_ORDERED, now, NULL);
		out++;
	}
}

static bool rollout_stage_done(const struct rollout *r, uint32_t stage)
{
	for (size_t i = 0; i < r->nmembers; i++) {
		if (r->members[i].stage < stage)
			continue;
		if (r->members[i].stage > stage)
			break;
		if (!(MEMBER_ENDED & (1u << r->members[i].state)))
			return false;
	}
	return true;
}

/* Rolling back: machines that reached the target wait their turn to
 * revert (machines in flight finish first, then join them if healthy);
 * at most max-unavailable revert at once; rolled back when none is left
 * working, waiting or reverting. */
static void rollout_roll_back(struct rollout *r, int64_t now)
{
	int64_t reverting = (int64_t)r->by_state[MEMBER_REVERTING];
	bool left = false;

	for (size_t i = 0; i < r->nmembers; i++) {
		struct rollout_member *m = &r->members[i];

		if (m->state == MEMBER_HEALTHY || m->state == MEMBER_UPGRADED)
			member_move(r, m, MEMBER_REVERT_PENDING, now, NULL);
		if (m->state == MEMBER_REVERT_PENDING &&
		    reverting < r->max_unavailable) {
			member_move(r, m, MEMBER_REVERTING, now, NULL);
			reverting++;
		}
		if ((MEMBER_WORKING | MB(REVERT_PENDING) | MB(REVERTING)) &
		    (1u << m->state))
			left = true;
	}
	if (!left)
		rollout_move(r, ROLLOUT_ROLLED_BACK, now, NULL);
}

/* Moves the rollout on after an event: the only caller of rollout_move
 * besides the commands. */
static void rollout_advance(struct rollout *r, int64_t now)
{
	char why[ROLLOUT_REASON_LEN];
	const struct rollout_member *bad;

	if (rollout_state_is_final(r->state) || r->state == ROLLOUT_PLANNED)
		return;
	rollout_clock(r, now);
	/* A rollback is never cut short by the rollout's deadline. */
	if (r->state != ROLLOUT_ROLLING_BACK && r->spec.deadline_ms &&
	    r->started_ms && now - r->started_ms >= r->spec.deadline_ms) {
		snprintf(why, sizeof(why),
		         "the rollout's deadline (%lld ms) passed",
		         (long long)r->spec.deadline_ms);
		rollout_move(r, ROLLOUT_FAILED, now, why);
		return;
	}
	switch (r->state) {
	case ROLLOUT_CANARY:
		bad = rollout_failed_canary(r);
		if (bad) {
			snprintf(why, sizeof(why), "canary %.64s %s: %.150s",
			         bad->machine_id, member_state_name(bad->state),
			         bad->reason[0] ? bad->reason : "no reason");
			r->resume_to = ROLLOUT_CANARY;
			rollout_move(r, ROLLOUT_PAUSED, now, why);
			return;
		}
		if (!rollout_stage_done(r, 0)) {
			rollout_order_more(r, now);
			return;
		}
		if (r->nstages <= 1) {
			rollout_move(r, ROLLOUT_COMPLETED, now, NULL);
			return;
		}
		r->stage = 1;
		r->dirty = true;
		if (r->spec.manual_promote) {
			rollout_move(
			    r, ROLLOUT_AWAITING_PROMOTION, now,
			    "the canaries are healthy; promote to go on");
			return;
		}
		rollout_move(r, ROLLOUT_ROLLING, now, NULL);
		/* fall through */
	case ROLLOUT_ROLLING:
		if (rollout_failures(r) > r->budget) {
			snprintf(why, sizeof(why),
			         "failure budget exceeded: %lld failed "
			         "(budget %lld)",
			         (long long)rollout_failures(r),
			         (long long)r->budget);
			if (r->spec.on_budget == ROLLOUT_ON_BUDGET_ROLLBACK) {
				rollout_withdraw(r, now);
				rollout_move(r, ROLLOUT_ROLLING_BACK, now, why);
				rollout_roll_back(r, now);
				return;
			}
			r->resume_to = ROLLOUT_ROLLING;
			rollout_move(r, ROLLOUT_PAUSED, now, why);
			return;
		}
		while (r->stage < r->nstages &&
		       rollout_stage_done(r, r->stage)) {
			r->stage++;
			r->dirty = true;
		}
		if (r->stage == r->nstages) {
			r->stage = r->nstages - 1;
			/* Retried machines of earlier stages count too. */
			if (r->by_state[MEMBER_PENDING] == 0 &&
			    rollout_unavailable(r) == 0) {
				rollout_move(r, ROLLOUT_COMPLETED, now, NULL);
				return;
			}
		}
		rollout_order_more(r, now);
		return;
	case ROLLOUT_ABORTING:
		if (rollout_unavailable(r) == 0)
			rollout_move(r, ROLLOUT_ABORTED, now, NULL);
		return;
	case ROLLOUT_ROLLING_BACK:
		rollout_roll_back(r, now);
		return;
	default:
		return;
	}
}

int64_t rollout_gate_wanted(const struct rollout *r)
{
	if (!r->spec.gated || r->cleared > r->stage)
		return -1;
	if (r->state != ROLLOUT_CANARY && r->state != ROLLOUT_ROLLING)
		return -1;
	return r->stage;
}

static void rollout_gate(struct rollout *r, const struct rollout_event *ev)
{
	char why[ROLLOUT_REASON_LEN];

	if (rollout_gate_wanted(r) != (int64_t)ev->stage)
		return; /* an answer for another time: ignored */
	if (!ev->reason) {
		r->cleared = ev->stage + 1;
		r->dirty = true;
		return;
	}
	snprintf(why, sizeof(why), "%s", ev->reason);
	r->resume_to = r->state;
	rollout_move(r, ROLLOUT_PAUSED, ev->now_ms, why);
}

static int rollout_refused(struct rollout *r, const struct rollout_event *ev,
                           char *err, size_t errlen)
{
	return ups_errf(UPS_ERR_CONFLICT, err, errlen,
	                "rollout %s is %s: cannot %s", r->id,
	                rollout_state_name(r->state),
	                ev->kind == ROLLOUT_EV_PAUSE     ? "pause"
	                : ev->kind == ROLLOUT_EV_RESUME  ? "resume"
	                : ev->kind == ROLLOUT_EV_PROMOTE ? "promote"
	                : ev->kind == ROLLOUT_EV_ABORT   ? "abort"
	                : ev->kind == ROLLOUT_EV_ROLLBACK ? "roll back"
	                                                 : "start");
}

static int rollout_report(struct rollout *r, const struct rollout_event *ev)
{
	struct rollout_member *m;

	if (ev->member >= r->nmembers)
		return UPS_ERR_BAD_REQUEST;
	m = &r->members[ev->member];
	if (m->state == MEMBER_REVERTING) {
		if (ev->kind == ROLLOUT_EV_REFUSED)
			return member_move(r, m, MEMBER_REVERT_FAILED,
			                   ev->now_ms,
			                   ev->reason ? ev->reason
			                              : "revert refused");
		if (ev->state == MEMBER_REVERTED ||
		    ev->state == MEMBER_REVERT_FAILED)
			return member_move(r, m, ev->state, ev->now_ms,
			                   ev->reason);
		return 0;
	}
	if (ev->kind == ROLLOUT_EV_REFUSED) {
		if (!member_working(m))
			return 0;
		return member_move(r, m, MEMBER_FAILED, ev->now_ms,
		                   ev->reason ? ev->reason : "order refused");
	}
	/* Machines report working states, healthy or failed; nothing else. */
	if (!((MEMBER_WORKING | MB(HEALTHY) | MB(FAILED)) & (1u << ev->state)))
		return 0;
	/* Only working members, and timed-out ones coming back healthy,
	 * take reports; the rest (pending, ended) ignore late news. */
	if (!member_working(m) &&
	    !(m->state == MEMBER_TIMED_OUT && ev->state == MEMBER_HEALTHY) &&
	    !(m->state == MEMBER_TIMED_OUT && ev->state == MEMBER_FAILED))
		return 0;
	if (m->state == MEMBER_HEALTHY && ev->state != MEMBER_FAILED)
		return 0; /* still healthy: the min-healthy clock runs on */
	if (!member_may_move(m->state, ev->state))
		return 0;
	return member_move(r, m, ev->state, ev->now_ms, ev->reason);
}

int rollout_step(struct rollout *r, const struct rollout_event *ev, char *err,
                 size_t errlen)
{
	int rv = 0;

	switch (ev->kind) {
	case ROLLOUT_EV_START:
		if (r->state != ROLLOUT_PLANNED)
			return rollout_refused(r, ev, err, errlen);
		rollout_move(r, ROLLOUT_CANARY, ev->now_ms, NULL);
		break;
	case ROLLOUT_EV_TICK:
		break;
	case ROLLOUT_EV_GATE:
		rollout_gate(r, ev);
		if (r->state == ROLLOUT_PAUSED)
			return 0;
		break;
	case ROLLOUT_EV_WITHDRAWN:
		/* The runner did not send it (the rollout moved on). */
		if (ev->member >= r->nmembers)
			return UPS_ERR_BAD_REQUEST;
		if (r->members[ev->member].state == MEMBER_ORDERED &&
		    !r->members[ev->member].order_id[0])
			member_move(r, &r->members[ev->member], MEMBER_PENDING,
			            ev->now_ms, NULL);
		break;
	case ROLLOUT_EV_REPORT:
	case ROLLOUT_EV_REFUSED:
		rv = rollout_report(r, ev);
		if (rv)
			return ups_errf(rv, err, errlen,
			                "member %zu cannot take that report",
			                ev->member);
		break;
	case ROLLOUT_EV_PAUSE:
		if (r->state != ROLLOUT_CANARY && r->state != ROLLOUT_ROLLING)
			return rollout_refused(r, ev, err, errlen);
		r->resume_to = r->state;
		rollout_move(r, ROLLOUT_PAUSED, ev->now_ms,
		             ev->reason ? ev->reason
		                        : "paused by the operator");
		return 0;
	case ROLLOUT_EV_RESUME:
		if (r->state != ROLLOUT_PAUSED ||
		    !rollout_may_move(r->state, r->resume_to))
			return rollout_refused(r, ev, err, errlen);
		/* Resume retries what failed. */
		for (size_t i = 0; i < r->nmembers; i++)
			if (r->members[i].state == MEMBER_FAILED ||
			    r->members[i].state == MEMBER_TIMED_OUT)
				member_move(r, &r->members[i], MEMBER_PENDING,
				            ev->now_ms, NULL);
		rollout_move(r, r->resume_to, ev->now_ms, NULL);
		r->reason[0] = '\0';
		break;
	case ROLLOUT_EV_PROMOTE:
		if (r->state != ROLLOUT_AWAITING_PROMOTION)
			return rollout_refused(r, ev, err, errlen);
		rollout_move(r, ROLLOUT_ROLLING, ev->now_ms, NULL);
		r->reason[0] = '\0';
		break;
	case ROLLOUT_EV_ROLLBACK:
		if (!rollout_may_move(r->state, ROLLOUT_ROLLING_BACK))
			return rollout_refused(r, ev, err, errlen);
		rollout_withdraw(r, ev->now_ms);
		rollout_move(r, ROLLOUT_ROLLING_BACK, ev->now_ms,
		             ev->reason ? ev->reason
		                        : "rolled back by the operator");
		r->ended_ms = 0;
		break;
	case ROLLOUT_EV_ABORT:
		if (r->state == ROLLOUT_ABORTING ||
		    !rollout_may_move(r->state, ROLLOUT_ABORTED))
			return rollout_refused(r, ev, err, errlen);
		/* Orders not taken yet are withdrawn; the rest finish. */
		rollout_withdraw(r, ev->now_ms);
		rollout_move(
		    r,
		    rollout_unavailable(r) ? ROLLOUT_ABORTING : ROLLOUT_ABORTED,
		    ev->now_ms,
		    ev->reason ? ev->reason : "aborted by the operator");
		return 0;
	}
	rollout_advance(r, ev->now_ms);
	return 0;
}
