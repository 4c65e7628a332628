/* The rollout engine (agent/rollout/engine.h) driven by a harness: a fake
 * clock, a fleet of fake machines, and a fake runner that hands out the
 * orders the engine asks for after every step. After every step the
 * harness checks what must always hold (counts, no member of a later
 * stage touched, max-unavailable); the tests check the transition tables,
 * amounts, planning, and each path of a rollout: happy, canary failure,
 * manual promotion, failure budgets, deadlines, abort, refused orders and
 * late reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "agent/rollout/engine.h"
#include "proto/errors.h"
#include "tests/lib/checks.h"

#define FLEET_MAX        64
#define MIN_HEALTHY      1000
#define MACHINE_DEADLINE 60000

/* -------------------------------------------------------------------------
 * The harness. */

struct fleet {
	struct rollout_machine m[FLEET_MAX];
	char ids[FLEET_MAX][16];
	char bvs[FLEET_MAX][64];
	size_t n;
};

struct h {
	struct fleet fleet;
	struct rollout r;
	int64_t now;
	char err[UPS_ERRMSG_MAX];
	bool hand_out; /* the fake runner takes the orders after each step */
	bool strict;   /* max-unavailable and one stage at a time */
	unsigned norders;
	size_t handed[FLEET_MAX];             /* orders handed out per member */
	uint32_t order_stages[FLEET_MAX * 4]; /* stage of each, in order */
	size_t nwanted; /* members asking after last step */
	size_t wanted[FLEET_MAX];
	int64_t max_unavailable_seen;
};

static int setup(void **state)
{
	struct h *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	h->hand_out = true;
	h->strict = true;
	h->now = 1000000;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct h *h = *state;

	rollout_free(&h->r);
	free(h);
	return 0;
}

static void fleet_add(struct fleet *f, const char *release, const char *arch,
                      const char *id)
{
	assert_true(f->n < FLEET_MAX);
	snprintf(f->ids[f->n], sizeof(f->ids[0]), "%s", id);
	snprintf(f->bvs[f->n], sizeof(f->bvs[0]), "3.5.1-%s-%s", release, arch);
	f->m[f->n] = (struct rollout_machine){f->ids[f->n], release, arch,
	                                      "3.4.0", f->bvs[f->n]};
	f->n++;
}

/* Four groups of unequal sizes, given out of order: jammy/amd64 7,
 * jammy/arm64 3, noble/amd64 5, noble/arm64 1 (16 machines). */
static void fleet_four_groups(struct fleet *f)
{
	static const struct {
		const char *release, *arch, *id;
	} m[] = {
	    {"noble", "amd64", "50"},  {"jammy", "amd64", "10"},
	    {"jammy", "amd64", "100"}, {"jammy", "arm64", "21"},
	    {"noble", "arm64", "8"},   {"jammy", "amd64", "2"},
	    {"noble", "amd64", "9"},   {"jammy", "amd64", "30"},
	    {"jammy", "arm64", "3"},   {"noble", "amd64", "12"},
	    {"jammy", "amd64", "7"},   {"noble", "amd64", "5"},
	    {"jammy", "amd64", "1"},   {"jammy", "arm64", "11"},
	    {"noble", "amd64", "6"},   {"jammy", "amd64", "4"},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		fleet_add(f, m[i].release, m[i].arch, m[i].id);
}

/* n machines "0".."n-1" in one group. */
static void fleet_one_group(struct fleet *f, size_t n)
{
	char id[24];

	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%zu", i);
		fleet_add(f, "noble", "amd64", id);
	}
}

static void spec_fast(struct rollout_spec *s)
{
	rollout_spec_defaults(s);
	snprintf(s->version, sizeof(s->version), "3.5.1");
	s->min_healthy_ms = MIN_HEALTHY;
	s->machine_deadline_ms = MACHINE_DEADLINE;
}

static void amount(struct rollout_amount *a, const char *s)
{
	if (rollout_amount_parse(s, 0, a))
		fail_msg("amount \"%s\" refused", s);
}

static size_t idx_of(const struct h *h, const char *id)
{
	for (size_t i = 0; i < h->r.nmembers; i++)
		if (strcmp(h->r.members[i].machine_id, id) == 0)
			return i;
	fail_msg("no member %s", id);
	return 0;
}

static bool unavailable_state(enum member_state s)
{
	return (MEMBER_WORKING | MB(HEALTHY)) & (1u << s);
}

static size_t ncanaries(const struct rollout *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nmembers; i++)
		n += r->members[i].canary;
	return n;
}

/* What holds after every step. */
static void check(struct h *h)
{
	struct rollout *r = &h->r;
	size_t counts[MEMBER__COUNT] = {0}, total = 0;
	int64_t unavail = 0;

	for (size_t i = 0; i < r->nmembers; i++) {
		const struct rollout_member *m = &r->members[i];

		assert_true((unsigned)m->state < MEMBER__COUNT);
		counts[m->state]++;
		if (m->want_order && m->state != MEMBER_ORDERED &&
		    m->state != MEMBER_REVERTING)
			fail_msg("member %s wants an order in state %s",
			         m->machine_id, member_state_name(m->state));
		if (m->stage > r->stage && m->state != MEMBER_PENDING)
			fail_msg("member %s of stage %u is %s in stage %u",
			         m->machine_id, m->stage,
			         member_state_name(m->state), r->stage);
		if (unavailable_state(m->state)) {
			unavail++;
			if (h->strict && m->stage != r->stage)
				fail_msg("member %s of stage %u out in stage "
				         "%u",
				         m->machine_id, m->stage, r->stage);
		}
		if (m->canary != (m->stage == 0))
			fail_msg("member %s: canary %d in stage %u",
			         m->machine_id, m->canary, m->stage);
	}
	for (unsigned s = 0; s < MEMBER__COUNT; s++) {
		if (counts[s] != r->by_state[s])
			fail_msg("by_state[%s] is %zu, counted %zu",
			         member_state_name(s), r->by_state[s],
			         counts[s]);
		total += r->by_state[s];
	}
	assert_int_equal(total, r->nmembers);
	assert_int_equal(rollout_unavailable(r), unavail);
	if (unavail > h->max_unavailable_seen)
		h->max_unavailable_seen = unavail;
	if (h->strict) {
		int64_t limit =
		    r->stage == 0 ? (int64_t)ncanaries(r) : r->max_unavailable;

		if (unavail > limit)
			fail_msg("%lld unavailable in stage %u (limit %lld)",
			         (long long)unavail, r->stage,
			         (long long)limit);
	}
	if (rollout_state_is_final(r->state))
		assert_true(r->ended_ms > 0);
	assert_true(r->stage < (r->nstages ? r->nstages : 1));
}

/* Applies ev at the fake time; then the fake runner takes the orders. */
static int step(struct h *h, struct rollout_event ev)
{
	int rv;

	ev.now_ms = h->now;
	h->err[0] = '\0';
	rv = rollout_step(&h->r, &ev, h->err, sizeof(h->err));
	check(h);
	h->nwanted = 0;
	for (size_t i = 0; i < h->r.nmembers; i++) {
		struct rollout_member *m = &h->r.members[i];

		if (!m->want_order)
			continue;
		h->wanted[h->nwanted++] = i;
		if (!h->hand_out)
			continue;
		m->want_order = false;
		snprintf(m->order_id, sizeof(m->order_id), "o-%u", h->norders);
		assert_true(h->norders < FLEET_MAX * 4);
		h->order_stages[h->norders++] = m->stage;
		h->handed[i]++;
	}
	return rv;
}

static int cmd(struct h *h, enum rollout_event_kind kind, const char *reason)
{
	return step(h, (struct rollout_event){.kind = kind, .reason = reason});
}

static int report(struct h *h, size_t i, enum member_state s,
                  const char *reason)
{
	return step(h, (struct rollout_event){.kind = ROLLOUT_EV_REPORT,
	                                      .member = i,
	                                      .state = s,
	                                      .reason = reason});
}

static int tick(struct h *h, int64_t ms)
{
	h->now += ms;
	return cmd(h, ROLLOUT_EV_TICK, NULL);
}

static void plan(struct h *h, const struct rollout_spec *spec)
{
	if (rollout_plan(&h->r, "r-1", spec, h->fleet.m, h->fleet.n, h->now,
	                 h->err, sizeof(h->err)))
		fail_msg("rollout_plan: %s", h->err);
	check(h);
}

/* Takes one member through the working states to healthy. */
static void upgrade_member(struct h *h, size_t i)
{
	static const enum member_state path[] = {
	    MEMBER_DOWNLOADING, MEMBER_VERIFYING,   MEMBER_STAGED,
	    MEMBER_RESTARTING,  MEMBER_HEALTH_WAIT, MEMBER_HEALTHY,
	};

	for (size_t k = 0; k < sizeof(path) / sizeof(path[0]); k++) {
		assert_int_equal(report(h, i, path[k], NULL), 0);
		assert_int_equal(h->r.members[i].state, path[k]);
	}
}

/* Every ordered member reports its way to healthy, then min-healthy
 * passes; until the rollout leaves state or max rounds. Returns the
 * rounds taken. */
static int drive(struct h *h, enum rollout_state while_in, int max)
{
	int rounds = 0;

	while (h->r.state == while_in && rounds < max) {
		for (size_t i = 0; i < h->r.nmembers; i++)
			if (h->r.members[i].state == MEMBER_ORDERED)
				upgrade_member(h, i);
		assert_int_equal(tick(h, MIN_HEALTHY), 0);
		rounds++;
	}
	return rounds;
}

static size_t count_state(const struct rollout *r, enum member_state s)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nmembers; i++)
		n += r->members[i].state == s;
	return n;
}

/* No non-canary has left pending. */
static void assert_non_canaries_pending(const struct rollout *r)
{
	for (size_t i = 0; i < r->nmembers; i++)
		if (!r->members[i].canary &&
		    r->members[i].state != MEMBER_PENDING)
			fail_msg("non-canary %s is %s",
			         r->members[i].machine_id,
			         member_state_name(r->members[i].state));
}

/* -------------------------------------------------------------------------
 * Tables. */

/* Both tables, checked whole: every (from, to) pair against a grid
 * written out here, one row per from state and one column per to state
 * ('x' allowed, '.' refused). A change to a table, or a state added
 * without its row and column, fails. */
static void check_grid(const char *kind, const char *const *grid,
                       unsigned count, bool (*may)(unsigned, unsigned),
                       const char *(*name)(unsigned))
{
	unsigned wrong = 0;

	for (unsigned s = 0; s < count; s++) {
		if (!grid[s] || strlen(grid[s]) != count)
			fail_msg("%s grid: the row of %s is missing or not %u "
			         "long",
			         kind, name(s), count);
		for (unsigned t = 0; t < count; t++) {
			bool want = grid[s][t] == 'x';

			if (grid[s][t] != 'x' && grid[s][t] != '.')
				fail_msg("%s grid: bad mark '%c'", kind,
				         grid[s][t]);
			if (may(s, t) == want)
				continue;
			print_error("%s %s -> %s: table says %s, grid %s\n",
			            kind, name(s), name(t),
			            may(s, t) ? "allowed" : "refused",
			            want ? "allowed" : "refused");
			wrong++;
		}
	}
	if (wrong)
		fail_msg("%s: %u pairs differ from the grid", kind, wrong);
}

static bool rollout_may(unsigned s, unsigned t)
{
	return rollout_may_move((enum rollout_state)s, (enum rollout_state)t);
}

static const char *rollout_name(unsigned s)
{
	return rollout_state_name((enum rollout_state)s);
}

static bool member_may(unsigned s, unsigned t)
{
	return member_may_move((enum member_state)s, (enum member_state)t);
}

static const char *member_name(unsigned s)
{
	return member_state_name((enum member_state)s);
}

static void test_rollout_table(void **state)
{
	/* One row per from state, one column per to state, both in the
	 * order of ROLLOUT_STATES. */
	/* clang-format off */
	static const char *const grid[ROLLOUT__COUNT] = {
	                                 /* planned
	                                     canary
	                                      awaiting-promotion
	                                       rolling
	                                        paused
	                                         aborting
	                                          aborted
	                                           completed
	                                            failed
	                                             rolling-back
	                                              rolled-back */
	    [ROLLOUT_PLANNED]            = ".x....x.x..",
	    [ROLLOUT_CANARY]             = "..xxxxxxx..",
	    [ROLLOUT_AWAITING_PROMOTION] = "...x.xx.xx.",
	    [ROLLOUT_ROLLING]            = "....xxxxxx.",
	    [ROLLOUT_PAUSED]             = ".x.x.xx.xx.",
	    [ROLLOUT_ABORTING]           = "......x.x..",
	    [ROLLOUT_ABORTED]            = "...........",
	    [ROLLOUT_COMPLETED]          = ".........x.",
	    [ROLLOUT_FAILED]             = "...........",
	    [ROLLOUT_ROLLING_BACK]       = "........x.x",
	    [ROLLOUT_ROLLED_BACK]        = "...........",
	};
	/* clang-format on */
	/* Every state that is not final can fail. */
	static const enum rollout_state live[] = {
	    ROLLOUT_PLANNED, ROLLOUT_CANARY, ROLLOUT_AWAITING_PROMOTION,
	    ROLLOUT_ROLLING, ROLLOUT_PAUSED, ROLLOUT_ABORTING,
	};
	unsigned reached = 1u << ROLLOUT_PLANNED, before;

	(void)state;
	check_grid("rollout", grid, ROLLOUT__COUNT, rollout_may, rollout_name);
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		assert_false(rollout_state_is_final(live[i]));
		assert_true(rollout_may_move(live[i], ROLLOUT_FAILED));
	}
	/* The states with no next state are final; so is completed, which
	 * can only be rolled back. */
	for (unsigned s = 0; s < ROLLOUT__COUNT; s++) {
		bool any = false;

		for (unsigned t = 0; t < ROLLOUT__COUNT; t++)
			any |= rollout_may_move(s, t);
		if (s == ROLLOUT_COMPLETED)
			continue;
		assert_int_equal(rollout_state_is_final(s), !any);
	}
	assert_true(rollout_state_is_final(ROLLOUT_ABORTED));
	assert_true(rollout_state_is_final(ROLLOUT_COMPLETED));
	assert_true(rollout_state_is_final(ROLLOUT_FAILED));
	assert_true(rollout_state_is_final(ROLLOUT_ROLLED_BACK));
	assert_true(rollout_may_move(ROLLOUT_COMPLETED, ROLLOUT_ROLLING_BACK));
	assert_false(rollout_may_move(ROLLOUT_COMPLETED, ROLLOUT_ROLLING));
	/* Every state is reachable from planned. */
	do {
		before = reached;
		for (unsigned s = 0; s < ROLLOUT__COUNT; s++)
			for (unsigned t = 0; t < ROLLOUT__COUNT; t++)
				if ((reached & (1u << s)) &&
				    rollout_may_move(s, t))
					reached |= 1u << t;
	} while (reached != before);
	assert_int_equal(reached, (1u << ROLLOUT__COUNT) - 1);
	/* Out of range. */
	assert_false(rollout_may_move(ROLLOUT__COUNT, ROLLOUT_FAILED));
	assert_false(rollout_may_move(ROLLOUT_PLANNED, ROLLOUT__COUNT));
	assert_false(rollout_state_is_final(ROLLOUT__COUNT));
}

static void test_member_table(void **state)
{
	/* One row per from state, one column per to state, both in the
	 * order of MEMBER_STATES. */
	/* clang-format off */
	static const char *const grid[MEMBER__COUNT] = {
	                            /* pending
	                                ordered
	                                 downloading
	                                  verifying
	                                   staged
	                                    restarting
	                                     health-wait
	                                      healthy
	                                       upgraded
	                                        failed
	                                         timed-out
	                                          revert-pending
	                                           reverting
	                                            reverted
	                                             revert-failed */
	    [MEMBER_PENDING]        = ".x.............",
	    [MEMBER_ORDERED]        = "xxxxxxxx.xx....",
	    [MEMBER_DOWNLOADING]    = ".xxxxxxx.xx....",
	    [MEMBER_VERIFYING]      = ".xxxxxxx.xx....",
	    [MEMBER_STAGED]         = ".xxxxxxx.xx....",
	    [MEMBER_RESTARTING]     = ".xxxxxxx.xx....",
	    [MEMBER_HEALTH_WAIT]    = ".xxxxxxx.xx....",
	    [MEMBER_HEALTHY]        = "........xxxx...",
	    [MEMBER_UPGRADED]       = "...........x...",
	    [MEMBER_FAILED]         = "x......x.......",
	    [MEMBER_TIMED_OUT]      = "x......x.x.....",
	    [MEMBER_REVERT_PENDING] = "............x..",
	    [MEMBER_REVERTING]      = ".............xx",
	    [MEMBER_REVERTED]       = "...............",
	    [MEMBER_REVERT_FAILED]  = "...............",
	};
	/* clang-format on */

	(void)state;
	check_grid("member", grid, MEMBER__COUNT, member_may, member_name);
	/* Upgraded only goes back (a rollback); reverted and revert-failed
	 * are ends with no way out. */
	for (unsigned t = 0; t < MEMBER__COUNT; t++) {
		assert_int_equal(member_may_move(MEMBER_UPGRADED, t),
		                 t == MEMBER_REVERT_PENDING);
		assert_false(member_may_move(MEMBER_REVERTED, t));
		assert_false(member_may_move(MEMBER_REVERT_FAILED, t));
	}
	/* The working states can all fail, time out and turn healthy. */
	for (unsigned s = 0; s < MEMBER__COUNT; s++) {
		if (!(MEMBER_WORKING & (1u << s)))
			continue;
		assert_true(member_may_move(s, MEMBER_FAILED));
		assert_true(member_may_move(s, MEMBER_TIMED_OUT));
		assert_true(member_may_move(s, MEMBER_HEALTHY));
	}
	assert_false(member_may_move(MEMBER__COUNT, MEMBER_PENDING));
	assert_false(member_may_move(MEMBER_PENDING, MEMBER__COUNT));
}

static void test_state_names(void **state)
{
	enum rollout_state rs;
	enum member_state ms;

	(void)state;
	for (unsigned s = 0; s < ROLLOUT__COUNT; s++) {
		rs = ROLLOUT__COUNT;
		assert_int_equal(
		    rollout_state_parse(rollout_state_name(s), &rs), 0);
		assert_int_equal(rs, s);
		for (unsigned t = 0; t < s; t++)
			assert_string_not_equal(rollout_state_name(s),
			                        rollout_state_name(t));
	}
	for (unsigned s = 0; s < MEMBER__COUNT; s++) {
		ms = MEMBER__COUNT;
		assert_int_equal(member_state_parse(member_state_name(s), &ms),
		                 0);
		assert_int_equal(ms, s);
		for (unsigned t = 0; t < s; t++)
			assert_string_not_equal(member_state_name(s),
			                        member_state_name(t));
	}
	/* The names are on the wire and in the journal. */
	assert_string_equal(rollout_state_name(ROLLOUT_AWAITING_PROMOTION),
	                    "awaiting-promotion");
	assert_string_equal(member_state_name(MEMBER_HEALTH_WAIT),
	                    "health-wait");
	assert_string_equal(member_state_name(MEMBER_TIMED_OUT), "timed-out");
	assert_string_equal(rollout_state_name(ROLLOUT__COUNT), "unknown");
	assert_string_equal(member_state_name(MEMBER__COUNT), "unknown");
	assert_int_equal(rollout_state_parse("Canary", &rs),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(rollout_state_parse("", &rs), UPS_ERR_BAD_REQUEST);
	assert_int_equal(rollout_state_parse(NULL, &rs), UPS_ERR_BAD_REQUEST);
	assert_int_equal(member_state_parse("timed_out", &ms),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(member_state_parse(NULL, &ms), UPS_ERR_BAD_REQUEST);
}

/* -------------------------------------------------------------------------
 * Amounts. */

static void test_amount_parse(void **state)
{
	static const char *const bad[] = {"",   "-1",  "101%", "0%",
	                                  "5x", "%",   "10%%", "+3",
	                                  "3 ", "1.5", "-10%", "1000001"};
	struct rollout_amount a;
	char buf[32];

	(void)state;
	assert_int_equal(rollout_amount_parse("10%", 0, &a), 0);
	assert_true(a.percent);
	assert_int_equal(a.value, 10);
	assert_int_equal(rollout_amount_parse("3", 1, &a), 0);
	assert_false(a.percent);
	assert_int_equal(a.value, 3);
	assert_int_equal(rollout_amount_parse("0", 0, &a), 0);
	assert_false(a.percent);
	assert_int_equal(a.value, 0);
	assert_int_equal(rollout_amount_parse("100%", 0, &a), 0);
	assert_int_equal(a.value, 100);
	/* Below the minimum. */
	assert_int_equal(rollout_amount_parse("0", 1, &a), UPS_ERR_BAD_REQUEST);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rollout_amount_parse(bad[i], 0, &a) != UPS_ERR_BAD_REQUEST)
			fail_msg("amount \"%s\" accepted", bad[i]);
	assert_int_equal(rollout_amount_parse(NULL, 0, &a),
	                 UPS_ERR_BAD_REQUEST);
	/* Back to text. */
	amount(&a, "25%");
	rollout_amount_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "25%");
	amount(&a, "12");
	rollout_amount_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "12");
}

static void test_amount_of(void **state)
{
	struct rollout_amount a;

	(void)state;
	amount(&a, "10%");
	assert_int_equal(rollout_amount_of(&a, 5, 0), 1);  /* 0.5 up */
	assert_int_equal(rollout_amount_of(&a, 10, 0), 1); /* exact */
	assert_int_equal(rollout_amount_of(&a, 11, 0), 2); /* 1.1 up */
	assert_int_equal(rollout_amount_of(&a, 0, 0), 0);
	assert_int_equal(rollout_amount_of(&a, 0, 1), 1); /* min clamp */
	amount(&a, "25%");
	assert_int_equal(rollout_amount_of(&a, 10, 0), 3); /* 2.5 up */
	assert_int_equal(rollout_amount_of(&a, 8, 0), 2);
	amount(&a, "100%");
	assert_int_equal(rollout_amount_of(&a, 7, 0), 7);
	amount(&a, "3");
	assert_int_equal(rollout_amount_of(&a, 100, 0), 3);
	assert_int_equal(rollout_amount_of(&a, 1, 0), 3);   /* a count as is */
	assert_int_equal(rollout_amount_of(&a, 100, 5), 5); /* min clamp */
	amount(&a, "0");
	assert_int_equal(rollout_amount_of(&a, 100, 0), 0);
	assert_int_equal(rollout_amount_of(&a, 100, 1), 1);
}

/* -------------------------------------------------------------------------
 * Planning. */

static void assert_group(const struct rollout *r, size_t g, const char *release,
                         const char *arch, size_t n)
{
	char bv[64];

	assert_string_equal(r->groups[g].release, release);
	assert_string_equal(r->groups[g].arch, arch);
	assert_int_equal(r->groups[g].machines, n);
	snprintf(bv, sizeof(bv), "3.5.1-%s-%s", release, arch);
	assert_string_equal(r->groups[g].binary_version, bv);
}

static void assert_member(const struct rollout *r, size_t i, const char *id,
                          uint32_t group, uint32_t stage)
{
	const struct rollout_member *m = &r->members[i];

	if (strcmp(m->machine_id, id) || m->group != group || m->stage != stage)
		fail_msg("member %zu: %s group %u stage %u; want %s %u %u", i,
		         m->machine_id, m->group, m->stage, id, group, stage);
	assert_int_equal(m->state, MEMBER_PENDING);
	assert_int_equal(m->canary, stage == 0);
	assert_false(m->want_order);
	assert_string_equal(m->from_version, "3.4.0");
	assert_string_equal(m->binary_version, r->groups[group].binary_version);
}

static void test_plan_four_groups(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;

	fleet_four_groups(&h->fleet);
	spec_fast(&spec);
	spec.canary = 2;
	amount(&spec.batch, "25%"); /* of 9 non-canaries: 3 */
	plan(h, &spec);

	assert_int_equal(r->state, ROLLOUT_PLANNED);
	assert_string_equal(r->id, "r-1");
	assert_int_equal(r->created_ms, h->now);
	assert_int_equal(r->started_ms, 0);
	assert_int_equal(r->ngroups, 4);
	assert_group(r, 0, "jammy", "amd64", 7);
	assert_group(r, 1, "jammy", "arm64", 3);
	assert_group(r, 2, "noble", "amd64", 5);
	assert_group(r, 3, "noble", "arm64", 1);
	assert_int_equal(r->nmembers, 16);
	/* Stage 0: the first two of each group by id, "2" before "10";
	 * noble/arm64 has only one. */
	assert_member(r, 0, "1", 0, 0);
	assert_member(r, 1, "2", 0, 0);
	assert_member(r, 2, "3", 1, 0);
	assert_member(r, 3, "11", 1, 0);
	assert_member(r, 4, "5", 2, 0);
	assert_member(r, 5, "6", 2, 0);
	assert_member(r, 6, "8", 3, 0);
	/* The other 9 from the groups in turn, in stages of 3. */
	assert_int_equal(r->batch, 3);
	assert_int_equal(r->max_unavailable, 3); /* = batch */
	assert_int_equal(r->budget, 0);
	assert_member(r, 7, "4", 0, 1);
	assert_member(r, 8, "21", 1, 1);
	assert_member(r, 9, "9", 2, 1);
	assert_member(r, 10, "7", 0, 2);
	assert_member(r, 11, "12", 2, 2);
	assert_member(r, 12, "10", 0, 2);
	assert_member(r, 13, "50", 2, 3);
	assert_member(r, 14, "30", 0, 3);
	assert_member(r, 15, "100", 0, 3);
	assert_int_equal(r->nstages, 4);
	assert_int_equal(r->stage, 0);
	assert_int_equal(r->by_state[MEMBER_PENDING], 16);
	/* Every stage but the last holds exactly batch machines. */
	for (uint32_t s = 1; s + 1 < r->nstages; s++) {
		size_t n = 0;

		for (size_t i = 0; i < r->nmembers; i++)
			n += r->members[i].stage == s;
		assert_int_equal(n, r->batch);
	}
}

static void test_plan_small_group(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;

	fleet_add(&h->fleet, "noble", "s390x", "40");
	fleet_one_group(&h->fleet, 5); /* noble/amd64 0..4 */
	spec_fast(&spec);
	spec.canary = 3;
	amount(&spec.batch, "1");
	amount(&spec.max_unavailable, "50%");
	amount(&spec.failure_budget, "50%");
	plan(h, &spec);

	assert_int_equal(r->ngroups, 2);
	assert_group(r, 0, "noble", "amd64", 5);
	assert_group(r, 1, "noble", "s390x", 1);
	/* The group of one gives its only machine, and no more. */
	assert_int_equal(ncanaries(r), 4);
	assert_member(r, 0, "0", 0, 0);
	assert_member(r, 1, "1", 0, 0);
	assert_member(r, 2, "2", 0, 0);
	assert_member(r, 3, "40", 1, 0);
	assert_member(r, 4, "3", 0, 1);
	assert_member(r, 5, "4", 0, 2);
	assert_int_equal(r->nstages, 3);
	assert_int_equal(r->batch, 1);
	assert_int_equal(r->max_unavailable, 1); /* 50% of 2 */
	assert_int_equal(r->budget, 1);          /* 50% of 2 */
}

static void test_plan_single_machine(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;

	fleet_one_group(&h->fleet, 1);
	spec_fast(&spec);
	plan(h, &spec);
	assert_int_equal(r->nmembers, 1);
	assert_int_equal(r->nstages, 1);
	assert_true(r->members[0].canary);
	assert_int_equal(r->batch, 1); /* at least 1, of none */

	/* It is its own canary, and the rollout ends with it. */
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_CANARY);
	assert_int_equal(r->started_ms, h->now);
	assert_int_equal(h->nwanted, 1);
	upgrade_member(h, 0);
	assert_int_equal(tick(h, MIN_HEALTHY - 1), 0);
	assert_int_equal(r->members[0].state, MEMBER_HEALTHY);
	assert_int_equal(tick(h, 1), 0);
	assert_int_equal(r->members[0].state, MEMBER_UPGRADED);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
	assert_int_equal(r->ended_ms, h->now);
}

static void test_plan_refused(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;

	spec_fast(&spec);
	assert_int_equal(rollout_plan(&h->r, "r-1", &spec, h->fleet.m, 0,
	                              h->now, h->err, sizeof(h->err)),
	                 UPS_ERR_BAD_REQUEST);
	rollout_free(&h->r);
	/* As many (release, arch) groups as there may be, and one more. */
	{
		struct rollout_machine *ms =
		    calloc(ROLLOUT_GROUPS_MAX + 1, sizeof(*ms));
		char(*names)[16] = calloc(ROLLOUT_GROUPS_MAX + 1, 16);

		assert_non_null(ms);
		assert_non_null(names);
		for (int i = 0; i <= ROLLOUT_GROUPS_MAX; i++) {
			snprintf(names[i], 16, "%d", i);
			ms[i] = (struct rollout_machine){names[i], names[i],
			                                 "amd64", "3.4.0",
			                                 "3.5.1-x-amd64"};
		}
		assert_int_equal(rollout_plan(&h->r, "r-1", &spec, ms,
		                              ROLLOUT_GROUPS_MAX, h->now,
		                              h->err, sizeof(h->err)),
		                 0);
		assert_int_equal(h->r.ngroups, ROLLOUT_GROUPS_MAX);
		rollout_free(&h->r);
		assert_int_equal(rollout_plan(&h->r, "r-1", &spec, ms,
		                              ROLLOUT_GROUPS_MAX + 1, h->now,
		                              h->err, sizeof(h->err)),
		                 UPS_ERR_BAD_REQUEST);
		tl_assert_contains(h->err, "groups");
		rollout_free(&h->r);
		free(ms);
		free(names);
	}
}

/* -------------------------------------------------------------------------
 * Rollouts. */

static void test_happy_rollout(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;
	int rounds;

	fleet_four_groups(&h->fleet);
	spec_fast(&spec);
	amount(&spec.batch, "3");
	amount(&spec.max_unavailable, "2");
	plan(h, &spec);
	assert_int_equal(r->nstages, 5); /* canaries, then 12 in 4 of 3 */
	assert_int_equal(r->max_unavailable, 2);

	/* Nothing happens before start. */
	assert_int_equal(tick(h, MIN_HEALTHY), 0);
	assert_int_equal(r->state, ROLLOUT_PLANNED);
	assert_int_equal(h->nwanted, 0);

	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_CANARY);
	assert_int_equal(r->started_ms, h->now);
	/* The four canaries, one a group, all at once. */
	assert_int_equal(h->nwanted, 4);
	for (size_t k = 0; k < h->nwanted; k++) {
		const struct rollout_member *m = &r->members[h->wanted[k]];

		assert_true(m->canary);
		assert_int_equal(m->state, MEMBER_ORDERED);
		assert_int_equal(m->ordered_ms, h->now);
	}
	assert_non_canaries_pending(r);
	assert_int_equal(rollout_unavailable(r), 4);

	/* Healthy, but not for min-healthy yet: still canaries. */
	for (size_t i = 0; i < 4; i++)
		upgrade_member(h, i);
	assert_int_equal(tick(h, MIN_HEALTHY - 1), 0);
	assert_int_equal(r->state, ROLLOUT_CANARY);
	assert_int_equal(count_state(r, MEMBER_HEALTHY), 4);
	assert_non_canaries_pending(r);
	/* A healthy member saying healthy again does not restart its
	 * clock. */
	assert_int_equal(report(h, 0, MEMBER_HEALTHY, NULL), 0);
	assert_int_equal(tick(h, 1), 0);
	assert_int_equal(count_state(r, MEMBER_UPGRADED), 4);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(r->stage, 1);
	/* Stage 1 begins with max-unavailable of its 3. */
	assert_int_equal(h->nwanted, 2);
	for (size_t k = 0; k < h->nwanted; k++)
		assert_int_equal(r->members[h->wanted[k]].stage, 1);

	rounds = drive(h, ROLLOUT_ROLLING, 100);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
	/* Each stage of 3 with 2 out at a time takes two rounds. */
	assert_int_equal(rounds, 8);
	assert_int_equal(r->by_state[MEMBER_UPGRADED], 16);
	assert_int_equal(r->ended_ms, h->now);
	assert_int_equal(r->stage, r->nstages - 1);
	assert_int_equal(rollout_failures(r), 0);
	assert_int_equal(rollout_unavailable(r), 0);
	assert_int_equal(h->max_unavailable_seen, 4);
	/* Every machine ordered once, stage after stage. */
	assert_int_equal(h->norders, 16);
	for (size_t i = 0; i < r->nmembers; i++)
		assert_int_equal(h->handed[i], 1);
	for (unsigned k = 1; k < h->norders; k++)
		assert_true(h->order_stages[k - 1] <= h->order_stages[k]);
	/* Done is done. */
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(cmd(h, ROLLOUT_EV_PAUSE, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
}

static void test_canary_failure(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;
	size_t bad;

	fleet_four_groups(&h->fleet);
	spec_fast(&spec);
	amount(&spec.batch, "3");
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	bad = idx_of(h, "3"); /* jammy/arm64's canary */
	assert_true(r->members[bad].canary);

	upgrade_member(h, 0);
	assert_int_equal(report(h, bad, MEMBER_DOWNLOADING, NULL), 0);
	assert_int_equal(report(h, bad, MEMBER_FAILED, "disk full"), 0);
	assert_int_equal(r->members[bad].state, MEMBER_FAILED);
	assert_string_equal(r->members[bad].reason, "disk full");
	assert_int_equal(r->state, ROLLOUT_PAUSED);
	tl_assert_contains(r->reason, "canary 3 failed");
	tl_assert_contains(r->reason, "disk full");
	/* Canary failures are not the budget's. */
	assert_int_equal(rollout_failures(r), 0);

	/* The other canaries finish; nothing else is ordered. */
	for (size_t i = 1; i < 4; i++)
		if (i != bad)
			upgrade_member(h, i);
	for (int k = 0; k < 5; k++) {
		assert_int_equal(tick(h, MIN_HEALTHY), 0);
		assert_int_equal(r->state, ROLLOUT_PAUSED);
		assert_int_equal(h->nwanted, 0);
	}
	assert_int_equal(count_state(r, MEMBER_UPGRADED), 3);
	assert_non_canaries_pending(r);

	/* Resume orders the failed canary again, and only it. */
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_CANARY);
	assert_string_equal(r->reason, "");
	assert_int_equal(h->nwanted, 1);
	assert_int_equal(h->wanted[0], bad);
	assert_int_equal(r->members[bad].state, MEMBER_ORDERED);
	assert_string_equal(r->members[bad].reason, "");
	assert_int_equal(h->handed[bad], 2);
	assert_non_canaries_pending(r);

	upgrade_member(h, bad);
	assert_int_equal(tick(h, MIN_HEALTHY), 0);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(r->stage, 1);
	drive(h, ROLLOUT_ROLLING, 100);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
	assert_int_equal(r->by_state[MEMBER_UPGRADED], 16);
}

static void test_manual_promote(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;

	fleet_four_groups(&h->fleet);
	spec_fast(&spec);
	amount(&spec.batch, "3");
	spec.manual_promote = true;
	plan(h, &spec);

	assert_int_equal(cmd(h, ROLLOUT_EV_PROMOTE, NULL), UPS_ERR_CONFLICT);
	tl_assert_contains(h->err, "planned");
	assert_int_equal(r->state, ROLLOUT_PLANNED);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(cmd(h, ROLLOUT_EV_PROMOTE, NULL), UPS_ERR_CONFLICT);
	tl_assert_contains(h->err, "canary");
	assert_int_equal(r->state, ROLLOUT_CANARY);

	drive(h, ROLLOUT_CANARY, 10);
	assert_int_equal(r->state, ROLLOUT_AWAITING_PROMOTION);
	assert_int_equal(count_state(r, MEMBER_UPGRADED), 4);
	tl_assert_contains(r->reason, "promote");
	/* Waiting orders nothing, however long. */
	for (int k = 0; k < 3; k++) {
		assert_int_equal(tick(h, MACHINE_DEADLINE), 0);
		assert_int_equal(r->state, ROLLOUT_AWAITING_PROMOTION);
	}
	assert_non_canaries_pending(r);
	/* Neither pause nor resume is promotion. */
	assert_int_equal(cmd(h, ROLLOUT_EV_PAUSE, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(r->state, ROLLOUT_AWAITING_PROMOTION);

	assert_int_equal(cmd(h, ROLLOUT_EV_PROMOTE, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_string_equal(r->reason, "");
	assert_int_equal(h->nwanted, 3);
	for (size_t k = 0; k < h->nwanted; k++)
		assert_int_equal(r->members[h->wanted[k]].stage, 1);
	assert_int_equal(cmd(h, ROLLOUT_EV_PROMOTE, NULL), UPS_ERR_CONFLICT);
	tl_assert_contains(h->err, "rolling");
	assert_int_equal(r->state, ROLLOUT_ROLLING);

	/* Paused is not promotable either. */
	assert_int_equal(cmd(h, ROLLOUT_EV_PAUSE, "lunch"), 0);
	assert_int_equal(r->state, ROLLOUT_PAUSED);
	assert_string_equal(r->reason, "lunch");
	assert_int_equal(cmd(h, ROLLOUT_EV_PROMOTE, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(r->state, ROLLOUT_PAUSED);
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_ROLLING);

	drive(h, ROLLOUT_ROLLING, 100);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
	assert_int_equal(cmd(h, ROLLOUT_EV_PROMOTE, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
}

/* One group of 26: one canary, then stages of 5 of the 25 others. Up to
 * the canary's upgrade, with the first stage ordered. */
static void budget_rollout(struct h *h, const char *budget)
{
	struct rollout_spec spec;

	fleet_one_group(&h->fleet, 26);
	spec_fast(&spec);
	amount(&spec.batch, "5");
	amount(&spec.failure_budget, budget);
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 1);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING);
	assert_int_equal(h->nwanted, 5);
}

/* Fails the next ordered non-canary. */
static size_t fail_next(struct h *h)
{
	for (size_t i = 0; i < h->r.nmembers; i++)
		if (!h->r.members[i].canary &&
		    h->r.members[i].state == MEMBER_ORDERED) {
			assert_int_equal(
			    report(h, i, MEMBER_FAILED, "health check"), 0);
			return i;
		}
	fail_msg("no ordered member to fail");
	return 0;
}

static void test_budget_zero(void **state)
{
	struct h *h = *state;

	budget_rollout(h, "0");
	assert_int_equal(h->r.budget, 0);
	fail_next(h);
	assert_int_equal(rollout_failures(&h->r), 1);
	assert_int_equal(h->r.state, ROLLOUT_PAUSED);
	tl_assert_contains(h->r.reason, "failure budget exceeded");
	tl_assert_contains(h->r.reason, "1 failed (budget 0)");
	/* Resume retries it. */
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), 0);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING);
	assert_int_equal(rollout_failures(&h->r), 0);
	drive(h, ROLLOUT_ROLLING, 100);
	assert_int_equal(h->r.state, ROLLOUT_COMPLETED);
	assert_int_equal(h->r.by_state[MEMBER_UPGRADED], 26);
}

static void test_budget_two(void **state)
{
	struct h *h = *state;
	size_t first;

	budget_rollout(h, "2");
	assert_int_equal(h->r.budget, 2);
	first = fail_next(h);
	fail_next(h);
	assert_int_equal(rollout_failures(&h->r), 2);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING);
	/* The stage's other three are still out, and it has no more
	 * machines: nothing is ordered in the failed ones' place. */
	assert_int_equal(h->nwanted, 0);
	assert_int_equal(rollout_unavailable(&h->r), 3);
	fail_next(h);
	assert_int_equal(rollout_failures(&h->r), 3);
	assert_int_equal(h->r.state, ROLLOUT_PAUSED);
	tl_assert_contains(h->r.reason, "3 failed (budget 2)");
	assert_int_equal(h->r.members[first].state, MEMBER_FAILED);
	assert_string_equal(h->r.members[first].reason, "health check");
}

static void test_budget_percent_floors(void **state)
{
	struct h *h = *state;

	budget_rollout(h, "10%");
	/* 10% of 25 is 2.5: a budget rounds down, a batch would round
	 * up. */
	assert_int_equal(h->r.budget, 2);
	fail_next(h);
	fail_next(h);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING);
	fail_next(h);
	assert_int_equal(h->r.state, ROLLOUT_PAUSED);
}

/* Failures within the budget end the rollout as completed. */
static void test_budget_completes_with_failures(void **state)
{
	struct h *h = *state;

	budget_rollout(h, "2");
	fail_next(h);
	drive(h, ROLLOUT_ROLLING, 100);
	assert_int_equal(h->r.state, ROLLOUT_COMPLETED);
	assert_int_equal(h->r.by_state[MEMBER_UPGRADED], 25);
	assert_int_equal(h->r.by_state[MEMBER_FAILED], 1);
	assert_int_equal(rollout_failures(&h->r), 1);
}

/* --canary 0: stage 0 is empty. Every machine is in the batches, taken
 * from the groups in turn; start passes the empty canary stage at once
 * and orders the first batch; every machine counts against the budget
 * (a failure pauses for the budget, not as a canary); resumed, it
 * completes with each machine ordered once, stage after stage. */
static void test_no_canary(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;
	size_t per_stage[8] = {0}, failed;

	fleet_four_groups(&h->fleet);
	spec_fast(&spec);
	spec.canary = 0;
	amount(&spec.batch, "5");
	plan(h, &spec);
	assert_int_equal(r->nmembers, 16);
	assert_int_equal(ncanaries(r), 0);
	assert_int_equal(r->nstages, 5); /* the empty stage 0, 5+5+5+1 */
	assert_int_equal(r->batch, 5);
	assert_int_equal(r->max_unavailable, 5);
	assert_int_equal(r->budget, 0);
	for (size_t i = 0; i < r->nmembers; i++) {
		assert_true(r->members[i].stage < 8);
		per_stage[r->members[i].stage]++;
	}
	assert_int_equal(per_stage[0], 0);
	assert_int_equal(per_stage[1], 5);
	assert_int_equal(per_stage[2], 5);
	assert_int_equal(per_stage[3], 5);
	assert_int_equal(per_stage[4], 1);
	/* The first batch holds a machine of every group. */
	for (size_t g = 0; g < r->ngroups; g++) {
		bool seen = false;

		for (size_t i = 0; i < r->nmembers; i++)
			seen |= r->members[i].stage == 1 &&
			        r->members[i].group == g;
		if (!seen)
			fail_msg("no machine of group %zu in stage 1", g);
	}

	/* Nothing happens before start; then straight to the first batch. */
	assert_int_equal(tick(h, MIN_HEALTHY), 0);
	assert_int_equal(r->state, ROLLOUT_PLANNED);
	assert_int_equal(h->nwanted, 0);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(r->started_ms, h->now);
	assert_int_equal(r->stage, 1);
	assert_int_equal(h->nwanted, 5);
	for (size_t k = 0; k < h->nwanted; k++) {
		assert_int_equal(r->members[h->wanted[k]].stage, 1);
		assert_false(r->members[h->wanted[k]].canary);
	}

	/* A failure is one over the budget: paused, not a canary's. */
	failed = fail_next(h);
	assert_int_equal(rollout_failures(r), 1);
	assert_int_equal(r->state, ROLLOUT_PAUSED);
	tl_assert_contains(r->reason, "failure budget exceeded");
	assert_null(strstr(r->reason, "canary"));
	assert_int_equal(r->resume_to, ROLLOUT_ROLLING);
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(r->members[failed].state, MEMBER_ORDERED);

	drive(h, ROLLOUT_ROLLING, 100);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
	assert_int_equal(r->by_state[MEMBER_UPGRADED], 16);
	assert_int_equal(r->stage, r->nstages - 1);
	/* Ordered once each, the failed one twice, in stage order. */
	assert_int_equal(h->norders, 17);
	for (size_t i = 0; i < r->nmembers; i++)
		assert_int_equal(h->handed[i], i == failed ? 2 : 1);
	for (unsigned k = 1; k < h->norders; k++)
		assert_true(h->order_stages[k - 1] <= h->order_stages[k]);
}

/* --canary 0 with one machine: it is the only batch. */
static void test_no_canary_single_machine(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;

	fleet_one_group(&h->fleet, 1);
	spec_fast(&spec);
	spec.canary = 0;
	plan(h, &spec);
	assert_int_equal(r->nmembers, 1);
	assert_int_equal(r->nstages, 2);
	assert_int_equal(r->members[0].stage, 1);
	assert_false(r->members[0].canary);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(h->nwanted, 1);
	upgrade_member(h, 0);
	assert_int_equal(tick(h, MIN_HEALTHY), 0);
	assert_int_equal(r->members[0].state, MEMBER_UPGRADED);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
}

static void test_machine_deadline(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;
	size_t silent, other;

	/* Canary "0", then stages of one: "1", "2". */
	fleet_one_group(&h->fleet, 3);
	spec_fast(&spec);
	amount(&spec.batch, "1");
	amount(&spec.failure_budget, "1");
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 1);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	silent = idx_of(h, "1");
	other = idx_of(h, "2");
	assert_int_equal(r->members[silent].state, MEMBER_ORDERED);
	assert_int_equal(r->members[silent].ordered_ms, h->now);

	/* A member that said something is still held to the deadline from
	 * its order. */
	assert_int_equal(tick(h, MACHINE_DEADLINE / 2), 0);
	assert_int_equal(report(h, silent, MEMBER_DOWNLOADING, NULL), 0);
	assert_int_equal(tick(h, MACHINE_DEADLINE / 2 - 1), 0);
	assert_int_equal(r->members[silent].state, MEMBER_DOWNLOADING);
	assert_int_equal(rollout_failures(r), 0);
	assert_int_equal(tick(h, 1), 0);
	assert_int_equal(r->members[silent].state, MEMBER_TIMED_OUT);
	tl_assert_contains(r->members[silent].reason, "deadline");
	tl_assert_contains(r->members[silent].reason, "downloading");
	assert_int_equal(rollout_failures(r), 1);
	/* Within the budget: the rollout goes on to the next stage. */
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(r->stage, 2);
	assert_int_equal(r->members[other].state, MEMBER_ORDERED);

	/* It comes back healthy, late: healthy, then upgraded; no longer a
	 * failure. It is out with the next stage's member now. */
	h->strict = false;
	assert_int_equal(tick(h, 10), 0);
	assert_int_equal(report(h, silent, MEMBER_HEALTHY, NULL), 0);
	assert_int_equal(r->members[silent].state, MEMBER_HEALTHY);
	assert_int_equal(rollout_failures(r), 0);
	assert_int_equal(tick(h, MIN_HEALTHY / 2), 0);
	assert_int_equal(r->members[silent].state, MEMBER_HEALTHY);
	assert_int_equal(tick(h, MIN_HEALTHY / 2), 0);
	assert_int_equal(r->members[silent].state, MEMBER_UPGRADED);
	assert_string_equal(r->members[silent].reason, "");

	upgrade_member(h, other);
	assert_int_equal(tick(h, MIN_HEALTHY), 0);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
	assert_int_equal(r->by_state[MEMBER_UPGRADED], 3);
}

/* The deadline is for turning healthy: a member healthy just before it
 * waits out min-healthy and is upgraded, not timed out. */
static void test_healthy_near_deadline(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;

	fleet_one_group(&h->fleet, 2);
	spec_fast(&spec);
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(tick(h, MACHINE_DEADLINE - MIN_HEALTHY / 2), 0);
	upgrade_member(h, 0);
	assert_int_equal(tick(h, MIN_HEALTHY / 2), 0); /* the deadline */
	assert_int_equal(h->r.members[0].state, MEMBER_HEALTHY);
	assert_int_equal(h->r.state, ROLLOUT_CANARY);
	assert_int_equal(tick(h, MIN_HEALTHY / 2), 0);
	assert_int_equal(h->r.members[0].state, MEMBER_UPGRADED);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING);
}

/* A canary silent past its deadline pauses the rollout like a failed
 * one. */
static void test_canary_deadline(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;

	fleet_one_group(&h->fleet, 3);
	spec_fast(&spec);
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(tick(h, MACHINE_DEADLINE - 1), 0);
	assert_int_equal(h->r.state, ROLLOUT_CANARY);
	assert_int_equal(tick(h, 1), 0);
	assert_int_equal(h->r.members[0].state, MEMBER_TIMED_OUT);
	assert_int_equal(h->r.state, ROLLOUT_PAUSED);
	tl_assert_contains(h->r.reason, "canary 0 timed-out");
	assert_non_canaries_pending(&h->r);
}

static void test_rollout_deadline(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;
	int64_t started;

	fleet_one_group(&h->fleet, 10);
	spec_fast(&spec);
	amount(&spec.batch, "1");
	spec.deadline_ms = 3 * MIN_HEALTHY + 500;
	plan(h, &spec);
	/* The deadline counts from start, not from planning. */
	assert_int_equal(tick(h, spec.deadline_ms * 2), 0);
	assert_int_equal(r->state, ROLLOUT_PLANNED);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	started = h->now;
	drive(h, ROLLOUT_CANARY, 1);
	drive(h, ROLLOUT_ROLLING, 2);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(tick(h, started + spec.deadline_ms - 1 - h->now), 0);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(tick(h, 1), 0);
	assert_int_equal(r->state, ROLLOUT_FAILED);
	assert_int_equal(r->ended_ms, h->now);
	tl_assert_contains(r->reason, "deadline");
	assert_true(r->by_state[MEMBER_PENDING] > 0);
	/* Final: no command moves it. */
	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(tick(h, MACHINE_DEADLINE), 0);
	assert_int_equal(r->state, ROLLOUT_FAILED);
}

static void test_abort(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;
	size_t out[3], n = 0, held;

	fleet_one_group(&h->fleet, 7);
	spec_fast(&spec);
	amount(&spec.batch, "3");
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 1);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	for (size_t i = 0; i < r->nmembers; i++)
		if (r->members[i].state == MEMBER_ORDERED)
			out[n++] = i;
	assert_int_equal(n, 3);
	/* One order the runner has not asked for yet. */
	held = out[2];
	r->members[held].want_order = true;
	r->members[held].order_id[0] = '\0';
	h->hand_out = false;
	assert_int_equal(report(h, out[0], MEMBER_DOWNLOADING, NULL), 0);

	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, "wrong version"), 0);
	assert_int_equal(r->state, ROLLOUT_ABORTING);
	assert_string_equal(r->reason, "wrong version");
	assert_int_equal(r->members[held].state, MEMBER_PENDING);
	assert_false(r->members[held].want_order);
	assert_int_equal(h->nwanted, 0);
	assert_int_equal(r->members[out[0]].state, MEMBER_DOWNLOADING);
	assert_int_equal(r->members[out[1]].state, MEMBER_ORDERED);
	assert_int_equal(rollout_unavailable(r), 2);
	/* Aborting twice is refused. */
	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), UPS_ERR_CONFLICT);
	tl_assert_contains(h->err, "aborting");
	assert_int_equal(cmd(h, ROLLOUT_EV_PAUSE, NULL), UPS_ERR_CONFLICT);

	/* The ones out finish; nothing new is ordered meanwhile. */
	upgrade_member(h, out[0]);
	assert_int_equal(h->nwanted, 0);
	assert_int_equal(tick(h, MIN_HEALTHY), 0);
	assert_int_equal(r->members[out[0]].state, MEMBER_UPGRADED);
	assert_int_equal(h->nwanted, 0);
	assert_int_equal(r->state, ROLLOUT_ABORTING);
	assert_int_equal(report(h, out[1], MEMBER_FAILED, "no space"), 0);
	assert_int_equal(h->nwanted, 0);
	assert_int_equal(r->state, ROLLOUT_ABORTED);
	assert_int_equal(r->ended_ms, h->now);
	assert_string_equal(r->reason, "wrong version");
	assert_int_equal(r->by_state[MEMBER_PENDING], 4);
	for (size_t i = 0; i < r->nmembers; i++)
		assert_false(r->members[i].want_order);

	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(tick(h, MACHINE_DEADLINE), 0);
	assert_int_equal(r->state, ROLLOUT_ABORTED);
	assert_int_equal(r->by_state[MEMBER_PENDING], 4);
}

/* Nothing out: abort ends at once, from planned or paused. */
static void test_abort_idle(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;

	fleet_one_group(&h->fleet, 3);
	spec_fast(&spec);
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), 0);
	assert_int_equal(h->r.state, ROLLOUT_ABORTED);
	assert_string_equal(h->r.reason, "aborted by the operator");
	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), UPS_ERR_CONFLICT);
	tl_assert_contains(h->err, "aborted");
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(h->r.state, ROLLOUT_ABORTED);
	rollout_free(&h->r);

	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(report(h, 0, MEMBER_FAILED, "x"), 0);
	assert_int_equal(h->r.state, ROLLOUT_PAUSED);
	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), 0);
	assert_int_equal(h->r.state, ROLLOUT_ABORTED);
}

static void test_refused(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;
	size_t victim = 0;

	fleet_one_group(&h->fleet, 6);
	spec_fast(&spec);
	amount(&spec.batch, "5");
	amount(&spec.failure_budget, "3");
	plan(h, &spec);
	/* Refused before it was ordered: nothing to refuse. */
	assert_int_equal(
	    step(h, (struct rollout_event){.kind = ROLLOUT_EV_REFUSED,
	                                   .member = 3,
	                                   .reason = "no binary"}),
	    0);
	assert_int_equal(r->members[3].state, MEMBER_PENDING);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 1);
	for (size_t i = 0; i < r->nmembers; i++)
		if (r->members[i].state == MEMBER_ORDERED)
			victim = i;
	assert_true(victim > 0);
	assert_int_equal(
	    step(h, (struct rollout_event){.kind = ROLLOUT_EV_REFUSED,
	                                   .member = victim,
	                                   .reason = "no binary for s390x"}),
	    0);
	assert_int_equal(r->members[victim].state, MEMBER_FAILED);
	assert_string_equal(r->members[victim].reason, "no binary for s390x");
	assert_int_equal(rollout_failures(r), 1);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	/* No reason given: one is made up. */
	for (size_t i = 0; i < r->nmembers; i++)
		if (r->members[i].state == MEMBER_ORDERED)
			victim = i;
	assert_int_equal(
	    step(h, (struct rollout_event){.kind = ROLLOUT_EV_REFUSED,
	                                   .member = victim}),
	    0);
	assert_int_equal(r->members[victim].state, MEMBER_FAILED);
	assert_string_equal(r->members[victim].reason, "order refused");
	assert_int_equal(rollout_failures(r), 2);
}

/* A copy of what a step may change, to show it did not. */
struct snap {
	struct rollout r;
	struct rollout_member m[FLEET_MAX];
};

/* memcpy, not assignment, so the padding compares equal too. */
static void snap_take(const struct h *h, struct snap *s)
{
	memcpy(&s->r, &h->r, sizeof(s->r));
	memcpy(s->m, h->r.members, h->r.nmembers * sizeof(s->m[0]));
}

static void snap_same(const struct h *h, const struct snap *s)
{
	static struct rollout now;

	memcpy(&now, &h->r, sizeof(now));
	assert_ptr_equal(now.members, s->r.members);
	assert_memory_equal(&now, &s->r, sizeof(now));
	assert_memory_equal(h->r.members, s->m,
	                    h->r.nmembers * sizeof(s->m[0]));
}

static void test_late_reports_ignored(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;
	struct snap *s = calloc(1, sizeof(*s));
	size_t pending, done, failed;

	assert_non_null(s);
	fleet_one_group(&h->fleet, 10);
	spec_fast(&spec);
	amount(&spec.batch, "2");
	amount(&spec.failure_budget, "5");
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 1);
	done = idx_of(h, "0");
	pending = idx_of(h, "9");
	assert_int_equal(r->members[done].state, MEMBER_UPGRADED);
	assert_int_equal(r->members[pending].state, MEMBER_PENDING);
	failed = idx_of(h, "1");
	assert_int_equal(report(h, failed, MEMBER_FAILED, "boom"), 0);
	assert_int_equal(r->members[failed].state, MEMBER_FAILED);

	snap_take(h, s);
	/* A pending member's news. */
	assert_int_equal(report(h, pending, MEMBER_DOWNLOADING, NULL), 0);
	assert_int_equal(report(h, pending, MEMBER_HEALTHY, NULL), 0);
	assert_int_equal(report(h, pending, MEMBER_FAILED, "x"), 0);
	snap_same(h, s);
	/* An upgraded member's. */
	assert_int_equal(report(h, done, MEMBER_FAILED, "late"), 0);
	assert_int_equal(report(h, done, MEMBER_DOWNLOADING, NULL), 0);
	assert_int_equal(report(h, done, MEMBER_HEALTHY, NULL), 0);
	snap_same(h, s);
	/* A failed member's: it is done until resumed. */
	assert_int_equal(report(h, failed, MEMBER_DOWNLOADING, NULL), 0);
	assert_int_equal(report(h, failed, MEMBER_HEALTHY, NULL), 0);
	snap_same(h, s);
	/* A member that is not there. */
	assert_int_equal(report(h, r->nmembers, MEMBER_HEALTHY, NULL),
	                 UPS_ERR_BAD_REQUEST);
	snap_same(h, s);
	free(s);
}

/* -------------------------------------------------------------------------
 * Rolling back. */

/* Reports every reverting member reverted (or the one at fail_idx
 * revert-failed); returns how many were reverting. */
static size_t revert_all(struct h *h, size_t fail_idx)
{
	size_t n = 0;

	for (size_t i = 0; i < h->r.nmembers; i++) {
		if (h->r.members[i].state != MEMBER_REVERTING)
			continue;
		assert_true(h->r.members[i].order_id[0] != '\0');
		n++;
		assert_int_equal(
		    report(h, i,
		           i == fail_idx ? MEMBER_REVERT_FAILED
		                         : MEMBER_REVERTED,
		           i == fail_idx ? "cannot switch back" : NULL),
		    0);
	}
	return n;
}

static void test_rollback_on_budget(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	size_t failed, pending_before, orders_before;

	fleet_one_group(&h->fleet, 26);
	spec_fast(&spec);
	amount(&spec.batch, "5");
	amount(&spec.failure_budget, "0");
	spec.on_budget = ROLLOUT_ON_BUDGET_ROLLBACK;
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 1);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING);
	pending_before = h->r.by_state[MEMBER_PENDING];
	orders_before = h->norders;
	failed = fail_next(h);
	/* The budget is exceeded: rolling back, the canary (upgraded)
	 * reverting at once, the stage's other four still in flight. */
	assert_int_equal(h->r.state, ROLLOUT_ROLLING_BACK);
	tl_assert_contains(h->r.reason, "failure budget exceeded");
	assert_int_equal(h->r.members[0].state, MEMBER_REVERTING);
	assert_int_equal(h->norders, orders_before + 1);
	assert_int_equal(h->r.by_state[MEMBER_ORDERED], 4);
	/* Those four finish healthy, then go back too (max-unavailable 5:
	 * the canary's revert and four more). */
	for (size_t i = 0; i < h->r.nmembers; i++) {
		if (h->r.members[i].state != MEMBER_ORDERED)
			continue;
		assert_int_equal(report(h, i, MEMBER_DOWNLOADING, NULL), 0);
		assert_int_equal(report(h, i, MEMBER_HEALTHY, NULL), 0);
		/* Healthy at the target: straight on to its revert. */
		assert_int_equal(h->r.members[i].state, MEMBER_REVERTING);
	}
	assert_int_equal(h->r.by_state[MEMBER_REVERTING], 5);
	assert_int_equal(revert_all(h, SIZE_MAX), 5);
	assert_int_equal(h->r.state, ROLLOUT_ROLLED_BACK);
	assert_true(h->r.ended_ms > 0);
	assert_int_equal(h->r.by_state[MEMBER_REVERTED], 5);
	/* The failed one was not reverted (it switched back itself); no
	 * pending machine was ever ordered. */
	assert_int_equal(h->r.members[failed].state, MEMBER_FAILED);
	assert_int_equal(h->r.by_state[MEMBER_PENDING], pending_before);
	assert_int_equal(h->norders, orders_before + 5);
	/* Rolled back is final. */
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(cmd(h, ROLLOUT_EV_ROLLBACK, NULL), UPS_ERR_CONFLICT);
}

static void test_rollback_completed(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	size_t rounds = 0, reverting;

	fleet_one_group(&h->fleet, 12);
	spec_fast(&spec);
	amount(&spec.batch, "4");
	amount(&spec.max_unavailable, "3");
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 2);
	drive(h, ROLLOUT_ROLLING, 20);
	assert_int_equal(h->r.state, ROLLOUT_COMPLETED);
	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(cmd(h, ROLLOUT_EV_ROLLBACK, NULL), 0);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING_BACK);
	assert_int_equal(h->r.ended_ms, 0);
	/* At most max-unavailable revert at once; one fails to. */
	while (h->r.state == ROLLOUT_ROLLING_BACK && rounds++ < 10) {
		reverting = h->r.by_state[MEMBER_REVERTING];
		assert_true(reverting <= 3);
		assert_true(revert_all(h, rounds == 1 ? 0 : SIZE_MAX) > 0);
	}
	assert_int_equal(h->r.state, ROLLOUT_ROLLED_BACK);
	assert_int_equal(h->r.by_state[MEMBER_REVERTED], 11);
	assert_int_equal(h->r.by_state[MEMBER_REVERT_FAILED], 1);
	assert_string_equal(h->r.members[0].reason, "cannot switch back");
}

/* A silent revert fails at the machine deadline. */
static void test_rollback_deadline(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;

	fleet_one_group(&h->fleet, 2);
	spec_fast(&spec);
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 2);
	drive(h, ROLLOUT_ROLLING, 4);
	assert_int_equal(h->r.state, ROLLOUT_COMPLETED);
	assert_int_equal(cmd(h, ROLLOUT_EV_ROLLBACK, "by hand"), 0);
	tl_assert_contains(h->r.reason, "by hand");
	/* max-unavailable is 1 (10% of one machine): one at a time. */
	assert_int_equal(h->r.by_state[MEMBER_REVERTING], 1);
	assert_int_equal(tick(h, MACHINE_DEADLINE), 0);
	assert_int_equal(h->r.by_state[MEMBER_REVERT_FAILED], 1);
	assert_int_equal(h->r.by_state[MEMBER_REVERTING], 1);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING_BACK);
	assert_int_equal(tick(h, MACHINE_DEADLINE), 0);
	assert_int_equal(h->r.by_state[MEMBER_REVERT_FAILED], 2);
	tl_assert_contains(h->r.members[1].reason, "not reverted within");
	assert_int_equal(h->r.state, ROLLOUT_ROLLED_BACK);
}

/* Abort is refused while rolling back (the reverts must finish). */
static void test_abort_refused_rolling_back(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;

	fleet_one_group(&h->fleet, 3);
	spec_fast(&spec);
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 2);
	assert_int_equal(cmd(h, ROLLOUT_EV_ROLLBACK, NULL), 0);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING_BACK);
	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), UPS_ERR_CONFLICT);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING_BACK);
	tl_assert_contains(h->err, "rolling-back");
}

/* A machine of an earlier stage retried after a resume is waited for:
 * the rollout completes only when nothing is pending or out. */
static void test_complete_waits_for_retries(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	size_t a = SIZE_MAX;

	fleet_one_group(&h->fleet, 4);
	spec_fast(&spec);
	amount(&spec.batch, "1");
	amount(&spec.max_unavailable, "2");
	amount(&spec.failure_budget, "1");
	plan(h, &spec);
	h->strict = false;
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	drive(h, ROLLOUT_CANARY, 2);
	assert_int_equal(h->r.stage, 1);
	/* Stage 1's machine fails within the budget. */
	a = fail_next(h);
	assert_int_equal(h->r.state, ROLLOUT_ROLLING);
	/* Stage 2's fails too: over the budget, paused. */
	fail_next(h);
	assert_int_equal(h->r.state, ROLLOUT_PAUSED);
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), 0);
	/* Both retried; the one of stage 2 and stage 3's upgrade, while
	 * the stage-1 machine still downloads. */
	assert_int_equal(h->r.members[a].state, MEMBER_ORDERED);
	assert_int_equal(report(h, a, MEMBER_DOWNLOADING, NULL), 0);
	for (int round = 0; round < 6; round++) {
		for (size_t i = 0; i < h->r.nmembers; i++)
			if (i != a && h->r.members[i].state == MEMBER_ORDERED)
				upgrade_member(h, i);
		assert_int_equal(tick(h, MIN_HEALTHY), 0);
	}
	assert_int_equal(h->r.state, ROLLOUT_ROLLING);
	assert_int_equal(h->r.members[a].state, MEMBER_DOWNLOADING);
	/* It ends: now the rollout does. */
	assert_int_equal(report(h, a, MEMBER_HEALTHY, NULL), 0);
	assert_int_equal(tick(h, MIN_HEALTHY), 0);
	assert_int_equal(h->r.state, ROLLOUT_COMPLETED);
	assert_int_equal(h->r.by_state[MEMBER_UPGRADED], 4);
}

/* An order the runner did not send goes back to pending. */
static int gate(struct h *h, uint32_t stage, const char *refusal)
{
	return step(h, (struct rollout_event){.kind = ROLLOUT_EV_GATE,
	                                      .stage = stage,
	                                      .reason = refusal});
}

/* Gated (a hook plugin): no stage orders anything before its hooks
 * cleared it; a refusal pauses with the hooks' reason; resume asks
 * again; answers for another stage or time are ignored. */
static void test_gated_stages(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;
	struct rollout *r = &h->r;

	fleet_one_group(&h->fleet, 5);
	spec_fast(&spec);
	amount(&spec.batch, "2");
	spec.gated = true;
	plan(h, &spec);
	assert_int_equal(rollout_gate_wanted(r), -1); /* planned */
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_CANARY);
	assert_int_equal(rollout_gate_wanted(r), 0);
	assert_int_equal(h->nwanted, 0);
	/* Time passes: still nothing ordered. */
	assert_int_equal(tick(h, MIN_HEALTHY), 0);
	assert_int_equal(h->nwanted, 0);
	/* An answer for a stage not waiting changes nothing. */
	assert_int_equal(gate(h, 1, NULL), 0);
	assert_int_equal(r->cleared, 0);
	assert_int_equal(h->nwanted, 0);
	/* Cleared: the canary goes. */
	assert_int_equal(gate(h, 0, NULL), 0);
	assert_int_equal(r->cleared, 1);
	assert_true(r->dirty);
	assert_int_equal(h->nwanted, 1);
	assert_int_equal(rollout_gate_wanted(r), -1);
	drive(h, ROLLOUT_CANARY, 10);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(r->stage, 1);
	assert_int_equal(rollout_gate_wanted(r), 1);
	assert_int_equal(count_state(r, MEMBER_ORDERED), 0);
	/* Refused: paused with the reason, nothing of stage 1 ordered. */
	assert_int_equal(gate(h, 1, "before-stage hook: change freeze"), 0);
	assert_int_equal(r->state, ROLLOUT_PAUSED);
	assert_string_equal(r->reason, "before-stage hook: change freeze");
	assert_int_equal(rollout_gate_wanted(r), -1);
	assert_int_equal(count_state(r, MEMBER_PENDING), 4);
	/* The reason is kept valid UTF-8 even when cut inside a
	 * character (it goes into the journal's JSON). */
	{
		char long_reason[600];
		json_t *j;

		for (size_t i = 0; i + 2 < sizeof(long_reason); i += 2)
			memcpy(long_reason + i, "\xc3\xa9", 2);
		long_reason[sizeof(long_reason) - 2] = '\0';
		assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), 0);
		assert_int_equal(gate(h, 1, long_reason + 1), 0);
		assert_int_equal(r->state, ROLLOUT_PAUSED);
		j = json_string(r->reason);
		assert_non_null(j);
		json_decref(j);
	}
	/* A late answer while paused is ignored. */
	assert_int_equal(gate(h, 1, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_PAUSED);
	assert_int_equal(r->cleared, 1);
	/* Resume asks again, and orders once cleared. */
	assert_int_equal(cmd(h, ROLLOUT_EV_RESUME, NULL), 0);
	assert_int_equal(r->state, ROLLOUT_ROLLING);
	assert_int_equal(rollout_gate_wanted(r), 1);
	assert_int_equal(h->nwanted, 0);
	assert_int_equal(gate(h, 1, NULL), 0);
	assert_int_equal(h->nwanted, 2);
	drive(h, ROLLOUT_ROLLING, 1);
	assert_int_equal(r->stage, 2);
	assert_int_equal(rollout_gate_wanted(r), 2);
	assert_int_equal(gate(h, 2, NULL), 0);
	drive(h, ROLLOUT_ROLLING, 10);
	assert_int_equal(r->state, ROLLOUT_COMPLETED);
	assert_int_equal(r->by_state[MEMBER_UPGRADED], 5);
	assert_int_equal(r->cleared, 3);
	/* Not gated: no gate is ever wanted. */
	rollout_free(r);
	memset(r, 0, sizeof(*r));
	spec.gated = false;
	plan(h, &spec);
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(rollout_gate_wanted(r), -1);
	assert_int_equal(h->nwanted, 1);
}

static void test_withdrawn(void **state)
{
	struct h *h = *state;
	struct rollout_spec spec;

	fleet_one_group(&h->fleet, 2);
	spec_fast(&spec);
	plan(h, &spec);
	h->hand_out = false;
	assert_int_equal(cmd(h, ROLLOUT_EV_START, NULL), 0);
	assert_int_equal(h->r.members[0].state, MEMBER_ORDERED);
	h->r.members[0].want_order = false; /* taken by the runner */
	assert_int_equal(step(h, (struct rollout_event){
	                             .kind = ROLLOUT_EV_WITHDRAWN,
	                             .member = 0}),
	                 0);
	/* The canary stage orders it again at once (still canary). */
	assert_int_equal(h->r.members[0].state, MEMBER_ORDERED);
	assert_true(h->r.members[0].want_order);
	/* After an abort it stays pending. */
	h->r.members[0].want_order = false;
	assert_int_equal(cmd(h, ROLLOUT_EV_ABORT, NULL), 0);
	assert_int_equal(h->r.state, ROLLOUT_ABORTING);
	assert_int_equal(step(h, (struct rollout_event){
	                             .kind = ROLLOUT_EV_WITHDRAWN,
	                             .member = 0}),
	                 0);
	assert_int_equal(h->r.members[0].state, MEMBER_PENDING);
	assert_int_equal(h->r.state, ROLLOUT_ABORTED);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_rollout_table),
	    T(test_member_table),
	    T(test_state_names),
	    T(test_amount_parse),
	    T(test_amount_of),
	    T(test_plan_four_groups),
	    T(test_plan_small_group),
	    T(test_plan_single_machine),
	    T(test_plan_refused),
	    T(test_happy_rollout),
	    T(test_canary_failure),
	    T(test_manual_promote),
	    T(test_budget_zero),
	    T(test_budget_two),
	    T(test_budget_percent_floors),
	    T(test_budget_completes_with_failures),
	    T(test_no_canary),
	    T(test_no_canary_single_machine),
	    T(test_machine_deadline),
	    T(test_healthy_near_deadline),
	    T(test_canary_deadline),
	    T(test_rollout_deadline),
	    T(test_abort),
	    T(test_abort_idle),
	    T(test_refused),
	    T(test_late_reports_ignored),
	    T(test_rollback_on_budget),
	    T(test_rollback_completed),
	    T(test_rollback_deadline),
	    T(test_abort_refused_rolling_back),
	    T(test_complete_waits_for_retries),
	    T(test_gated_stages),
	    T(test_withdrawn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
