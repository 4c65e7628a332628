/* The rollout runner (agent/rollout/rollouts.h) on a real loop, store
 * (store-fs), registry and journal in a scratch directory, with a fake
 * clock: the transitions of one loop tick go to the journal in one
 * transaction (counted by the runner's writes and rows), changes made
 * while a write is in flight go together in the next one, and when the
 * runner tells of a change (its changed event, after the commit) the
 * journal on disk already holds it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/rollout/engine.h"
#include "agent/rollout/journal.h"
#include "agent/rollout/registry.h"
#include "agent/rollout/rollouts.h"
#include "agent/store/store.h"
#include "proto/errors.h"
#include "tests/lib/loop_wait.h"
#include "tests/lib/tmpdir.h"

#define NMACHINES 6
#define T0        1700000000000LL

struct fx {
	char dir[TMPDIR_PATH_MAX];
	uv_loop_t loop;
	struct loop_wait w;
	struct store store;
	struct registry registry;
	struct rollouts rs;
	char ids[NMACHINES][16];
	/* What the changed events told, and what the journal held then. */
	unsigned changed_calls;
	size_t changed_rows;
	unsigned not_durable;
};

static int64_t fake_now(void)
{
	return T0;
}

static void no_send(void *data, void *session, const struct ups_order *o)
{
	(void)data;
	(void)session;
	(void)o;
}

/* After a commit: the journal (read on a connection of its own) holds
 * every member the event names in the state the runner has. */
static void on_changed(void *data, const struct rollout *r, const uint32_t *idx,
                       size_t n)
{
	struct fx *f = data;
	struct journal *j;
	struct rollout disk = {0};
	char err[UPS_ERRMSG_MAX];
	int64_t seq;

	f->changed_calls++;
	f->changed_rows += n;
	if (journal_open(f->dir, &j, err, sizeof(err)))
		fail_msg("journal_open: %s", err);
	if (journal_load(j, r->id, &disk, &seq, err, sizeof(err)))
		fail_msg("journal_load: %s", err);
	/* (A member that changed again since is dirty: its next write
	 * cannot have begun before this one is told.) */
	for (size_t i = 0; i < n; i++)
		if (!r->members[idx[i]].dirty &&
		    disk.members[idx[i]].state != r->members[idx[i]].state)
			f->not_durable++;
	rollout_free(&disk);
	journal_close(j);
}

/* A rollout of NMACHINES in one group, all canaries, started and every
 * order known (as if journaled by an earlier upstaged), in the journal. */
static void seed_journal(struct fx *f)
{
	struct rollout_machine ms[NMACHINES];
	struct rollout_event ev = {.kind = ROLLOUT_EV_START, .now_ms = T0};
	struct journal_batch b = {0};
	struct rollout_spec spec;
	struct rollout r;
	struct journal *j;
	char err[UPS_ERRMSG_MAX];

	for (int i = 0; i < NMACHINES; i++) {
		snprintf(f->ids[i], sizeof(f->ids[i]), "m-%d", i);
		ms[i] = (struct rollout_machine){f->ids[i], "noble", "amd64",
		                                 "3.4.0", "3.5.1-noble-amd64"};
	}
	rollout_spec_defaults(&spec);
	snprintf(spec.version, sizeof(spec.version), "3.5.1");
	snprintf(spec.model, sizeof(spec.model), "controller");
	snprintf(spec.stream, sizeof(spec.stream), "released");
	spec.canary = NMACHINES;
	spec.min_healthy_ms = 3600000;
	spec.machine_deadline_ms = 3600000;
	if (rollout_plan(&r, "r-1", &spec, ms, NMACHINES, T0, err, sizeof(err)))
		fail_msg("rollout_plan: %s", err);
	assert_int_equal(rollout_step(&r, &ev, err, sizeof(err)), 0);
	assert_int_equal(r.state, ROLLOUT_CANARY);
	b.members = calloc(NMACHINES, sizeof(*b.members));
	b.index = calloc(NMACHINES, sizeof(*b.index));
	assert_non_null(b.members);
	assert_non_null(b.index);
	for (uint32_t i = 0; i < NMACHINES; i++) {
		struct rollout_member *m = &r.members[i];

		assert_int_equal(m->state, MEMBER_ORDERED);
		m->want_order = false;
		snprintf(m->order_id, sizeof(m->order_id), "o-1-%u", i + 1);
		b.index[i] = i;
		b.members[i] = *m;
	}
	b.n = NMACHINES;
	snprintf(b.id, sizeof(b.id), "%s", r.id);
	b.seq = 1;
	b.doc = journal_encode(&r);
	assert_non_null(b.doc);
	if (journal_open(f->dir, &j, err, sizeof(err)) ||
	    journal_write(j, &b, err, sizeof(err)))
		fail_msg("journal: %s", err);
	journal_close(j);
	journal_batch_free(&b);
	rollout_free(&r);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_config scfg = {0};
	struct registry_config gcfg = {0};
	struct registry_events gev = {.send_order = no_send};
	struct rollouts_config ocfg = {0};
	struct rollouts_events oev = {.changed = on_changed};
	char err[UPS_ERRMSG_MAX];

	assert_non_null(f);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-rollouts"),
	                 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(loop_wait_init(&f->w, &f->loop, 10000), 0);
	seed_journal(f);
	scfg.data_dir = f->dir;
	scfg.plugin = STORE_FS_PLUGIN;
	if (store_open(&f->store, &f->loop, &scfg, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	gcfg.data_dir = f->dir;
	gcfg.lost_after_s = 300;
	if (registry_open(&f->registry, &f->loop, &f->store, &gcfg, &gev, err,
	                  sizeof(err)))
		fail_msg("registry_open: %s", err);
	ocfg.data_dir = f->dir;
	ocfg.now_ms = fake_now;
	ocfg.tick_ms = 3600000; /* no tick during a test */
	oev.data = f;
	if (rollouts_open(&f->rs, &f->loop, &f->registry, &f->store, &ocfg,
	                  &oev, err, sizeof(err)))
		fail_msg("rollouts_open: %s", err);
	assert_non_null(rollouts_active(&f->rs));
	assert_int_equal(rollouts_start(&f->rs), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rollouts_stop(&f->rs);
	registry_stop(&f->registry);
	loop_wait_close(&f->w);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	rollouts_close(&f->rs);
	registry_close(&f->registry);
	store_close(&f->store);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

/* Nothing written, queued or waiting for the next loop iteration. */
static bool idle(const struct fx *f)
{
	return !f->rs.job && !f->rs.write_again && !f->rs.flush_due;
}

/* Machine i of the registry, as the changed event gives it, with its
 * order (o-1-<i+1>) in state st. */
static void report(struct fx *f, int i, enum ups_machine_state st)
{
	struct regdb_order o = {0};
	struct machine m = {0};

	snprintf(m.row.id, sizeof(m.row.id), "%s", f->ids[i]);
	snprintf(o.id, sizeof(o.id), "o-1-%d", i + 1);
	snprintf(o.machine_id, sizeof(o.machine_id), "%s", f->ids[i]);
	o.kind = UPS_ORDER_UPGRADE;
	o.state = st;
	m.order = &o;
	rollouts_machine_changed(&f->rs, &m);
}

static void test_one_write_per_tick(void **state)
{
	struct fx *f = *state;
	const struct rollout *r = rollouts_active(&f->rs);
	uint64_t writes, rows;

	/* The restart's own write (the header) first. */
	LOOP_WAIT(&f->w, f->rs.writes >= 1 && idle(f));
	assert_int_equal(f->rs.writes, 1);
	assert_int_equal(f->rs.rows_written, 1);
	writes = f->rs.writes;
	rows = f->rs.rows_written;
	f->changed_calls = 0;
	f->changed_rows = 0;

	/* Three machines report in one tick: three transitions, and none
	 * is written before the tick ends. */
	report(f, 0, UPS_MST_DOWNLOADING);
	report(f, 1, UPS_MST_DOWNLOADING);
	report(f, 2, UPS_MST_VERIFYING);
	assert_int_equal(r->members[0].state, MEMBER_DOWNLOADING);
	assert_int_equal(r->members[1].state, MEMBER_DOWNLOADING);
	assert_int_equal(r->members[2].state, MEMBER_VERIFYING);
	assert_null(f->rs.job);
	assert_int_equal(f->rs.writes, writes);
	LOOP_WAIT(&f->w, f->rs.writes > writes && idle(f));
	/* One transaction of three rows. */
	assert_int_equal(f->rs.writes - writes, 1);
	assert_int_equal(f->rs.rows_written - rows, 3);
	assert_int_equal(f->changed_calls, 1);
	assert_int_equal(f->changed_rows, 3);
	assert_int_equal(f->not_durable, 0);
}

static void test_changes_behind_a_write(void **state)
{
	struct fx *f = *state;
	uint64_t writes, rows;

	LOOP_WAIT(&f->w, f->rs.writes >= 1 && idle(f));
	writes = f->rs.writes;
	rows = f->rs.rows_written;
	f->changed_calls = 0;
	f->changed_rows = 0;

	/* A tick's two changes, then one loop iteration: their write is
	 * queued (the worker may have finished it; its callback has not
	 * run). */
	report(f, 3, UPS_MST_DOWNLOADING);
	report(f, 4, UPS_MST_DOWNLOADING);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_non_null(f->rs.job);
	/* Two more changes while it is in flight, in two separate ticks:
	 * together in the next write. */
	report(f, 5, UPS_MST_DOWNLOADING);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	report(f, 3, UPS_MST_VERIFYING);
	LOOP_WAIT(&f->w, f->rs.writes >= writes + 2 && idle(f));
	assert_int_equal(f->rs.writes - writes, 2);
	assert_int_equal(f->rs.rows_written - rows, 4);
	assert_int_equal(f->changed_calls, 2);
	assert_int_equal(f->changed_rows, 4);
	assert_int_equal(f->not_durable, 0);
	assert_int_equal(rollouts_active(&f->rs)->members[3].state,
	                 MEMBER_VERIFYING);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_one_write_per_tick),
	    T(test_changes_behind_a_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
