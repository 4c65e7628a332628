/* The rollout journal (agent/rollout/journal.h) on SQLite in a scratch
 * directory: a planned rollout written and loaded back field for field, a
 * second write of a few members and the header, the last seq, the agent
 * version setting, misses, corrupt headers, a reopen, and a database from
 * a newer upstaged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "agent/rollout/engine.h"
#include "agent/rollout/journal.h"
#include "proto/errors.h"
#include "tests/lib/checks.h"
#include "tests/lib/tmpdir.h"

#define NMACHINES 10

struct fx {
	char dir[TMPDIR_PATH_MAX];
	struct journal *j;
	struct rollout r;      /* what was written */
	struct rollout loaded; /* what came back */
	char err[UPS_ERRMSG_MAX];
	char ids[NMACHINES][16];
	struct rollout_machine ms[NMACHINES];
};

static void fx_open(struct fx *f)
{
	if (journal_open(f->dir, &f->j, f->err, sizeof(f->err)))
		fail_msg("journal_open: %s", f->err);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-journal"),
	                 0);
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	journal_close(f->j);
	rollout_free(&f->r);
	rollout_free(&f->loaded);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

/* A planned rollout of 10 machines in 4 groups, every spec field off its
 * default. */
static void plan(struct fx *f, const char *id, int64_t now)
{
	static const char *const rel[] = {"jammy", "noble"};
	static const char *const arch[] = {"amd64", "arm64"};
	static const char *const bv[2][2] = {
	    {"3.5.1-ubuntu-amd64", "3.5.1-ubuntu-arm64"},
	    {"3.5.1-ubuntu-amd64", "3.5.1-ubuntu-arm64"}};
	struct rollout_spec spec;

	for (int i = 0; i < NMACHINES; i++) {
		snprintf(f->ids[i], sizeof(f->ids[i]), "%d", i);
		f->ms[i] = (struct rollout_machine){
		    f->ids[i], rel[i % 2], arch[(i / 2) % 2],
		    i % 3 ? "3.4.0" : "3.3.9", bv[i % 2][(i / 2) % 2]};
	}
	rollout_spec_defaults(&spec);
	snprintf(spec.version, sizeof(spec.version), "3.5.1");
	snprintf(spec.stream, sizeof(spec.stream), "proposed");
	spec.canary = 2;
	assert_int_equal(rollout_amount_parse("25%", 1, &spec.batch), 0);
	assert_int_equal(rollout_amount_parse("2", 0, &spec.max_unavailable),
	                 0);
	assert_int_equal(rollout_amount_parse("50%", 0, &spec.failure_budget),
	                 0);
	spec.min_healthy_ms = 1234;
	spec.machine_deadline_ms = 56789;
	spec.deadline_ms = 3600000;
	spec.manual_promote = true;
	spec.gated = true;
	rollout_free(&f->r);
	if (rollout_plan(&f->r, id, &spec, f->ms, NMACHINES, now, f->err,
	                 sizeof(f->err)))
		fail_msg("rollout_plan: %s", f->err);
	assert_int_equal(f->r.ngroups, 4);
}

/* Writes r's header (unless no_doc) and the members at idx[0..n) (all
 * of them when idx is NULL) in one batch. */
static int write_rollout(struct fx *f, const struct rollout *r, int64_t seq,
                         bool no_doc, const uint32_t *idx, size_t n,
                         const char *agent_version)
{
	struct journal_batch b = {0};
	int rv;

	snprintf(b.id, sizeof(b.id), "%s", r->id);
	b.seq = seq;
	if (!no_doc) {
		b.doc = journal_encode(r);
		assert_non_null(b.doc);
	}
	if (!idx)
		n = r->nmembers;
	b.members = calloc(n ? n : 1, sizeof(*b.members));
	b.index = calloc(n ? n : 1, sizeof(*b.index));
	assert_non_null(b.members);
	assert_non_null(b.index);
	for (size_t i = 0; i < n; i++) {
		b.index[i] = idx ? idx[i] : (uint32_t)i;
		b.members[i] = r->members[b.index[i]];
	}
	b.n = n;
	snprintf(b.agent_version, sizeof(b.agent_version), "%s",
	         agent_version ? agent_version : "");
	rv = journal_write(f->j, &b, f->err, sizeof(f->err));
	journal_batch_free(&b);
	return rv;
}

static void assert_amount_equal(const struct rollout_amount *a,
                                const struct rollout_amount *b)
{
	assert_int_equal(a->value, b->value);
	assert_int_equal(a->percent, b->percent);
}

/* Everything the journal keeps of a rollout. */
static void assert_rollout_equal(const struct rollout *a,
                                 const struct rollout *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->spec.version, b->spec.version);
	assert_string_equal(a->spec.stream, b->spec.stream);
	assert_int_equal(a->spec.canary, b->spec.canary);
	assert_amount_equal(&a->spec.batch, &b->spec.batch);
	assert_amount_equal(&a->spec.max_unavailable, &b->spec.max_unavailable);
	assert_amount_equal(&a->spec.failure_budget, &b->spec.failure_budget);
	assert_int_equal(a->spec.min_healthy_ms, b->spec.min_healthy_ms);
	assert_int_equal(a->spec.machine_deadline_ms,
	                 b->spec.machine_deadline_ms);
	assert_int_equal(a->spec.deadline_ms, b->spec.deadline_ms);
	assert_int_equal(a->spec.manual_promote, b->spec.manual_promote);
	assert_int_equal(a->spec.gated, b->spec.gated);
	assert_int_equal(a->cleared, b->cleared);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->resume_to, b->resume_to);
	assert_int_equal(a->stage, b->stage);
	assert_int_equal(a->nstages, b->nstages);
	assert_int_equal(a->batch, b->batch);
	assert_int_equal(a->max_unavailable, b->max_unavailable);
	assert_int_equal(a->budget, b->budget);
	assert_int_equal(a->created_ms, b->created_ms);
	assert_int_equal(a->started_ms, b->started_ms);
	assert_int_equal(a->updated_ms, b->updated_ms);
	assert_int_equal(a->ended_ms, b->ended_ms);
	assert_string_equal(a->reason, b->reason);
	assert_int_equal(a->ngroups, b->ngroups);
	for (size_t g = 0; g < a->ngroups; g++) {
		assert_string_equal(a->groups[g].release, b->groups[g].release);
		assert_string_equal(a->groups[g].arch, b->groups[g].arch);
		assert_string_equal(a->groups[g].binary_version,
		                    b->groups[g].binary_version);
		assert_int_equal(a->groups[g].machines, b->groups[g].machines);
	}
	assert_int_equal(a->nmembers, b->nmembers);
	for (size_t i = 0; i < a->nmembers; i++) {
		const struct rollout_member *x = &a->members[i],
		                            *y = &b->members[i];

		assert_string_equal(x->machine_id, y->machine_id);
		assert_string_equal(x->binary_version, y->binary_version);
		assert_string_equal(x->from_version, y->from_version);
		assert_string_equal(x->order_id, y->order_id);
		assert_int_equal(x->group, y->group);
		assert_int_equal(x->stage, y->stage);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->canary, y->canary);
		assert_int_equal(x->ordered_ms, y->ordered_ms);
		assert_int_equal(x->since_ms, y->since_ms);
		assert_string_equal(x->reason, y->reason);
	}
	for (unsigned s = 0; s < MEMBER__COUNT; s++)
		assert_int_equal(a->by_state[s], b->by_state[s]);
}

static void load(struct fx *f, const char *id, int64_t want_seq)
{
	int64_t seq = -1;

	rollout_free(&f->loaded);
	if (journal_load(f->j, id, &f->loaded, &seq, f->err, sizeof(f->err)))
		fail_msg("journal_load: %s", f->err);
	assert_int_equal(seq, want_seq);
}

static void test_write_and_load(void **state)
{
	struct fx *f = *state;
	int64_t seq = -1;

	plan(f, "r-1", 1000);
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, NULL), 0);
	load(f, NULL, 1);
	assert_rollout_equal(&f->loaded, &f->r);
	assert_int_equal(f->loaded.state, ROLLOUT_PLANNED);
	assert_int_equal(f->loaded.by_state[MEMBER_PENDING], NMACHINES);
	assert_int_equal(journal_last_seq(f->j, &seq, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(seq, 1);
	load(f, "r-1", 1);
	assert_rollout_equal(&f->loaded, &f->r);
}

static void test_second_write(void **state)
{
	struct fx *f = *state;
	const uint32_t changed[] = {1, 7};
	struct rollout_member *a, *b;

	plan(f, "r-1", 1000);
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, NULL), 0);

	/* The header moves on; one member is out, one failed. */
	f->r.state = ROLLOUT_PAUSED;
	f->r.resume_to = ROLLOUT_CANARY;
	f->r.stage = 1;
	f->r.cleared = 2;
	f->r.started_ms = 2000;
	f->r.updated_ms = 3000;
	f->r.reason[0] = '\0';
	snprintf(f->r.reason, sizeof(f->r.reason), "canary 7 failed: \"x\"");
	a = &f->r.members[changed[0]];
	a->state = MEMBER_DOWNLOADING;
	a->ordered_ms = 2000;
	a->since_ms = 2500;
	snprintf(a->order_id, sizeof(a->order_id), "order-17");
	b = &f->r.members[changed[1]];
	b->state = MEMBER_FAILED;
	b->ordered_ms = 2000;
	b->since_ms = 2900;
	snprintf(b->order_id, sizeof(b->order_id), "order-18");
	snprintf(b->reason, sizeof(b->reason), "sha256 mismatch; it's 'odd'");
	rollout_recount(&f->r);
	assert_int_equal(write_rollout(f, &f->r, 1, false, changed, 2, NULL),
	                 0);

	load(f, NULL, 1);
	assert_rollout_equal(&f->loaded, &f->r);
	assert_int_equal(f->loaded.by_state[MEMBER_DOWNLOADING], 1);
	assert_int_equal(f->loaded.by_state[MEMBER_FAILED], 1);
	assert_int_equal(f->loaded.by_state[MEMBER_PENDING], NMACHINES - 2);

	/* Members alone, the header unchanged. */
	b->state = MEMBER_PENDING;
	b->reason[0] = '\0';
	rollout_recount(&f->r);
	assert_int_equal(write_rollout(f, &f->r, 1, true, &changed[1], 1, NULL),
	                 0);
	load(f, "r-1", 1);
	assert_rollout_equal(&f->loaded, &f->r);
	assert_int_equal(f->loaded.state, ROLLOUT_PAUSED);
}

static void test_last_seq_and_latest(void **state)
{
	struct fx *f = *state;
	struct rollout first;
	int64_t seq = -1;

	assert_int_equal(journal_last_seq(f->j, &seq, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(seq, 0);
	plan(f, "r-1", 1000);
	f->r.state = ROLLOUT_COMPLETED;
	f->r.ended_ms = 5000;
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, NULL), 0);
	first = f->r;
	f->r.members = NULL; /* first owns them now */
	plan(f, "r-2", 6000);
	assert_int_equal(write_rollout(f, &f->r, 2, false, NULL, 0, NULL), 0);
	assert_int_equal(journal_last_seq(f->j, &seq, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(seq, 2);
	/* The latest is the one with the highest seq; the older one is still
	 * there by id. */
	load(f, NULL, 2);
	assert_string_equal(f->loaded.id, "r-2");
	assert_rollout_equal(&f->loaded, &f->r);
	load(f, "r-1", 1);
	assert_rollout_equal(&f->loaded, &first);
	/* A seq already taken by another rollout is refused. */
	plan(f, "r-3", 7000);
	assert_int_equal(write_rollout(f, &f->r, 2, false, NULL, 0, NULL),
	                 UPS_ERR_IO);
	rollout_free(&f->loaded);
	assert_int_equal(
	    journal_load(f->j, "r-3", &f->loaded, &seq, f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
	rollout_free(&first);
}

static void test_agent_version(void **state)
{
	struct fx *f = *state;
	char v[UPS_LIMIT_VERSION_LEN + 1] = "junk";

	assert_int_equal(
	    journal_agent_version(f->j, v, sizeof(v), f->err, sizeof(f->err)),
	    0);
	assert_string_equal(v, "");
	plan(f, "r-1", 1000);
	assert_int_equal(write_rollout(f, &f->r, 1, true, NULL, 0, "3.5.1"), 0);
	assert_int_equal(
	    journal_agent_version(f->j, v, sizeof(v), f->err, sizeof(f->err)),
	    0);
	assert_string_equal(v, "3.5.1");
	/* "" leaves it as it is; another version replaces it. */
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, ""), 0);
	assert_int_equal(
	    journal_agent_version(f->j, v, sizeof(v), f->err, sizeof(f->err)),
	    0);
	assert_string_equal(v, "3.5.1");
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, "3.6.0"),
	                 0);
	assert_int_equal(
	    journal_agent_version(f->j, v, sizeof(v), f->err, sizeof(f->err)),
	    0);
	assert_string_equal(v, "3.6.0");
}

static void test_not_found(void **state)
{
	struct fx *f = *state;
	int64_t seq = 0;

	assert_int_equal(
	    journal_load(f->j, NULL, &f->loaded, &seq, f->err, sizeof(f->err)),
	    UPS_ERR_NOT_FOUND);
	assert_null(f->loaded.members);
	plan(f, "r-1", 1000);
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, NULL), 0);
	assert_int_equal(journal_load(f->j, "nope", &f->loaded, &seq, f->err,
	                              sizeof(f->err)),
	                 UPS_ERR_NOT_FOUND);
	tl_assert_contains(f->err, "nope");
	assert_null(f->loaded.members);
	assert_int_equal(f->loaded.nmembers, 0);
}

static void test_decode(void **state)
{
	struct fx *f = *state;
	struct rollout r;
	char *doc, *bad;
	const char *p;

	plan(f, "r-1", 1000);
	f->r.state = ROLLOUT_ROLLING;
	f->r.stage = 2;
	snprintf(f->r.reason, sizeof(f->r.reason), "why");
	doc = journal_encode(&f->r);
	assert_non_null(doc);
	memset(&r, 0, sizeof(r));
	assert_int_equal(journal_decode(doc, &r, f->err, sizeof(f->err)), 0);
	assert_int_equal(r.state, ROLLOUT_ROLLING);
	assert_int_equal(r.stage, 2);
	assert_int_equal(r.nmembers, NMACHINES);
	assert_string_equal(r.reason, "why");
	assert_int_equal(r.ngroups, 4);
	assert_string_equal(r.groups[3].release, "noble");
	assert_string_equal(r.spec.stream, "proposed");
	assert_true(r.spec.failure_budget.percent);
	assert_null(r.members); /* members untouched */

	/* Not JSON, not the right JSON. */
	assert_int_equal(
	    journal_decode("{\"spec\":", &r, f->err, sizeof(f->err)),
	    UPS_ERR_IO);
	tl_assert_contains(f->err, "not JSON");
	assert_int_equal(journal_decode("", &r, f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
	assert_int_equal(journal_decode(NULL, &r, f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
	assert_int_equal(journal_decode("{}", &r, f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
	tl_assert_contains(f->err, "corrupt");
	assert_int_equal(journal_decode("[1,2]", &r, f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
	/* One field wrong at a time. */
	bad = strdup(doc);
	assert_non_null(bad);
	p = strstr(doc, "\"rolling\"");
	assert_non_null(p);
	memcpy(bad + (p - doc), "\"roling!\"", 9);
	assert_int_equal(journal_decode(bad, &r, f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
	free(bad);
	bad = strdup(doc);
	assert_non_null(bad);
	p = strstr(doc, "\"25%\"");
	assert_non_null(p);
	memcpy(bad + (p - doc), "\"2x%\"", 5);
	assert_int_equal(journal_decode(bad, &r, f->err, sizeof(f->err)),
	                 UPS_ERR_IO);
	free(bad);
	free(doc);
}

/* A corrupt header in the database fails the load, leaking nothing. */
static void test_load_corrupt_row(void **state)
{
	struct fx *f = *state;
	char path[TMPDIR_PATH_MAX + 16];
	sqlite3 *db;
	int64_t seq;

	plan(f, "r-1", 1000);
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, NULL), 0);
	snprintf(path, sizeof(path), "%s/upstage.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "UPDATE rollouts SET doc = '{\"state\":1}'", NULL,
	                 NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(
	    journal_load(f->j, NULL, &f->loaded, &seq, f->err, sizeof(f->err)),
	    UPS_ERR_IO);
	assert_null(f->loaded.members);
}

static void test_reopen(void **state)
{
	struct fx *f = *state;
	const uint32_t changed[] = {0};
	char v[UPS_LIMIT_VERSION_LEN + 1];
	int64_t seq = -1;

	plan(f, "r-1", 1000);
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, "3.4.0"),
	                 0);
	f->r.state = ROLLOUT_CANARY;
	f->r.started_ms = 1500;
	f->r.members[0].state = MEMBER_HEALTHY;
	f->r.members[0].since_ms = 1600;
	snprintf(f->r.members[0].order_id, sizeof(f->r.members[0].order_id),
	         "o-1");
	rollout_recount(&f->r);
	assert_int_equal(write_rollout(f, &f->r, 1, false, changed, 1, NULL),
	                 0);

	journal_close(f->j);
	f->j = NULL;
	fx_open(f);
	load(f, NULL, 1);
	assert_rollout_equal(&f->loaded, &f->r);
	assert_int_equal(f->loaded.by_state[MEMBER_HEALTHY], 1);
	assert_int_equal(journal_last_seq(f->j, &seq, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(seq, 1);
	assert_int_equal(
	    journal_agent_version(f->j, v, sizeof(v), f->err, sizeof(f->err)),
	    0);
	assert_string_equal(v, "3.4.0");
	/* And it goes on taking writes. */
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, NULL), 0);
}

/* Sets the schema version in dir's database behind the journal's back. */
static void set_schema(const char *dir, int version)
{
	char path[TMPDIR_PATH_MAX + 16], sql[256];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/upstage.db", dir);
	snprintf(sql, sizeof(sql),
	         "CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER "
	         "NOT NULL); DELETE FROM journal_schema; INSERT INTO "
	         "journal_schema VALUES (%d)",
	         version);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	char other[TMPDIR_PATH_MAX];
	struct journal *j = (struct journal *)1;

	/* A journal this upstaged wrote, then a newer one touched. */
	plan(f, "r-1", 1000);
	assert_int_equal(write_rollout(f, &f->r, 1, false, NULL, 0, NULL), 0);
	journal_close(f->j);
	f->j = NULL;
	set_schema(f->dir, 99);
	assert_int_equal(journal_open(f->dir, &j, f->err, sizeof(f->err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_null(j);
	tl_assert_contains(f->err, "99");
	/* The current version opens. */
	set_schema(f->dir, JOURNAL_SCHEMA_VERSION);
	fx_open(f);
	load(f, NULL, 1);
	assert_rollout_equal(&f->loaded, &f->r);

	/* A database with nothing but a newer schema version. */
	assert_int_equal(tmpdir_make(other, sizeof(other), "test-journal"), 0);
	set_schema(other, 99);
	j = (struct journal *)1;
	assert_int_equal(journal_open(other, &j, f->err, sizeof(f->err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_null(j);
	assert_int_equal(tmpdir_remove(other), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_write_and_load),
	    T(test_second_write),
	    T(test_last_seq_and_latest),
	    T(test_agent_version),
	    T(test_not_found),
	    T(test_decode),
	    T(test_load_corrupt_row),
	    T(test_reopen),
	    T(test_newer_schema_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
