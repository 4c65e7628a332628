/* The rollout journal in SQLite (journal.h). */
#include "agent/rollout/journal.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rollout/dbfile.h"
#include "proto/errors.h"


enum journal_stmt {
	JS_PUT_ROLLOUT,
	JS_PUT_MEMBER,
	JS_PUT_SETTING,
	JS__N,
};

static const char *const journal_sql[JS__N] = {
    [JS_PUT_ROLLOUT] = "INSERT INTO rollouts (id, seq, doc) VALUES (?1, ?2, "
                       "?3) ON CONFLICT(id) DO UPDATE SET doc = ?3",
    [JS_PUT_MEMBER] =
        "INSERT OR REPLACE INTO rollout_members (rollout_id, idx, "
        "machine_id, binary_version, from_version, order_id, grp, stage, "
        "canary, state, ordered_ms, since_ms, reason, prev_order_id) VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [JS_PUT_SETTING] = "INSERT OR REPLACE INTO rollout_settings (key, value) "
                       "VALUES (?1, ?2)",
};

static const char journal_schema_v1[] =
    "CREATE TABLE rollouts (id TEXT PRIMARY KEY, seq INTEGER NOT NULL "
    " UNIQUE, doc TEXT NOT NULL);"
    "CREATE TABLE rollout_members (rollout_id TEXT NOT NULL, idx INTEGER "
    " NOT NULL, machine_id TEXT NOT NULL, binary_version TEXT NOT NULL, "
    " from_version TEXT NOT NULL, order_id TEXT NOT NULL, grp INTEGER NOT "
    " NULL, stage INTEGER NOT NULL, canary INTEGER NOT NULL, state TEXT "
    " NOT NULL, ordered_ms INTEGER NOT NULL, since_ms INTEGER NOT NULL, "
    " reason TEXT NOT NULL, prev_order_id TEXT NOT NULL, PRIMARY KEY "
    " (rollout_id, idx)) WITHOUT ROWID;"
    "CREATE TABLE rollout_settings (key TEXT PRIMARY KEY, value TEXT NOT "
    " NULL);";

struct journal {
	sqlite3 *db;
	sqlite3_stmt *stmt[JS__N];
};

static int journal_err(struct journal *j, char *err, size_t errlen,
                       const char *what)
{
	return ups_errf(UPS_ERR_IO, err, errlen, "rollout journal %s: %s",
	                what, sqlite3_errmsg(j->db));
}

static int journal_exec(struct journal *j, const char *sql, char *err,
                        size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ups_errf(UPS_ERR_IO, err, errlen, "rollout journal: %.40s: %s",
		         sql, msg ? msg : sqlite3_errmsg(j->db));
		sqlite3_free(msg);
		return UPS_ERR_IO;
	}
	return 0;
}

/* One integer from a one-row query; *v untouched when no row. */
static int journal_int(struct journal *j, const char *sql, int64_t *v,
                       char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, rv = 0;

	if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
		return journal_err(j, err, errlen, "query");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*v = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = journal_err(j, err, errlen, "query");
	sqlite3_finalize(st);
	return rv;
}

static int journal_migrate(struct journal *j, char *err, size_t errlen)
{
	int64_t version = 0;
	int rv;

	rv = journal_exec(j,
	                  "CREATE TABLE IF NOT EXISTS journal_schema (version "
	                  "INTEGER NOT NULL)",
	                  err, errlen);
	if (!rv)
		rv = journal_int(j, "SELECT version FROM journal_schema",
		                 &version, err, errlen);
	if (rv)
		return rv;
	if (version > JOURNAL_SCHEMA_VERSION || version < 0)
		return ups_errf(
		    UPS_ERR_BAD_REQUEST, err, errlen,
		    "rollout journal schema %lld is newer than this "
		    "upstaged's (%d)",
		    (long long)version, JOURNAL_SCHEMA_VERSION);
	if (version == JOURNAL_SCHEMA_VERSION)
		return 0;
	if ((rv = journal_exec(j, "BEGIN IMMEDIATE", err, errlen)))
		return rv;
	rv = journal_exec(j, journal_schema_v1, err, errlen);
	if (!rv)
		rv = journal_exec(j,
		                  "DELETE FROM journal_schema; INSERT INTO "
		                  "journal_schema VALUES (1)",
		                  err, errlen);
	if (!rv)
		rv = journal_exec(j, "COMMIT", err, errlen);
	if (rv)
		(void)sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

int journal_open(const char *data_dir, struct journal **out, char *err,
                 size_t errlen)
{
	struct journal *j;
	int rv;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	if ((rv = dbfile_open(data_dir, "rollout journal", &j->db, err,
	                      errlen)) ||
	    (rv = journal_migrate(j, err, errlen)))
		goto fail;
	for (int i = 0; i < JS__N; i++)
		if (sqlite3_prepare_v3(j->db, journal_sql[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &j->stmt[i],
		                       NULL) != SQLITE_OK) {
			rv = journal_err(j, err, errlen, "prepare");
			goto fail;
		}
	*out = j;
	return 0;
fail:
	journal_close(j);
	return rv;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	for (int i = 0; i < JS__N; i++)
		sqlite3_finalize(j->stmt[i]);
	if (j->db)
		sqlite3_close(j->db);
	free(j);
}

void journal_batch_free(struct journal_batch *b)
{
	free(b->doc);
	free(b->members);
	free(b->index);
	memset(b, 0, sizeof(*b));
}

static int journal_run(struct journal *j, sqlite3_stmt *st, char *err,
                       size_t errlen)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : journal_err(j, err, errlen, "write");
}

static int journal_put_member(struct journal *j, const char *id, uint32_t idx,
                              const struct rollout_member *m, char *err,
                              size_t errlen)
{
	sqlite3_stmt *st = j->stmt[JS_PUT_MEMBER];

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, idx);
	sqlite3_bind_text(st, 3, m->machine_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->binary_version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, m->from_version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, m->order_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, m->group);
	sqlite3_bind_int64(st, 8, m->stage);
	sqlite3_bind_int(st, 9, m->canary);
	sqlite3_bind_text(st, 10, member_state_name(m->state), -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, m->ordered_ms);
	sqlite3_bind_int64(st, 12, m->since_ms);
	sqlite3_bind_text(st, 13, m->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 14, m->prev_order_id, -1, SQLITE_STATIC);
	return journal_run(j, st, err, errlen);
}

int journal_write(struct journal *j, const struct journal_batch *b, char *err,
                  size_t errlen)
{
	sqlite3_stmt *st;
	int rv;

	if ((rv = journal_exec(j, "BEGIN IMMEDIATE", err, errlen)))
		return rv;
	if (b->doc) {
		st = j->stmt[JS_PUT_ROLLOUT];
		sqlite3_bind_text(st, 1, b->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, b->seq);
		sqlite3_bind_text(st, 3, b->doc, -1, SQLITE_STATIC);
		rv = journal_run(j, st, err, errlen);
	}
	for (size_t i = 0; !rv && i < b->n; i++)
		rv = journal_put_member(j, b->id, b->index[i], &b->members[i],
		                        err, errlen);
	if (!rv && b->agent_version[0]) {
		st = j->stmt[JS_PUT_SETTING];
		sqlite3_bind_text(st, 1, "agent-version", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, b->agent_version, -1, SQLITE_STATIC);
		rv = journal_run(j, st, err, errlen);
	}
	if (!rv)
		rv = journal_exec(j, "COMMIT", err, errlen);
	if (rv)
		(void)sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

int journal_count_states(struct journal *j, uint64_t counts[ROLLOUT__COUNT],
                         char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	for (unsigned i = 0; i < ROLLOUT__COUNT; i++)
		counts[i] = 0;
	if (sqlite3_prepare_v2(j->db,
	                       "SELECT json_extract(doc, '$.state'), COUNT(*) "
	                       "FROM rollouts GROUP BY 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return journal_err(j, err, errlen, "query");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		enum rollout_state s;

		if (name && !rollout_state_parse(name, &s))
			counts[s] += (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return journal_err(j, err, errlen, "query");
	return 0;
}

int journal_last_seq(struct journal *j, int64_t *seq, char *err, size_t errlen)
{
	*seq = 0;
	return journal_int(j, "SELECT MAX(seq) FROM rollouts", seq, err,
	                   errlen);
}

int journal_agent_version(struct journal *j, char *buf, size_t len, char *err,
                          size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(j->db,
	                       "SELECT value FROM rollout_settings WHERE key = "
	                       "'agent-version'",
	                       -1, &st, NULL) != SQLITE_OK)
		return journal_err(j, err, errlen, "query");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(buf, len, "%s",
		         (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
	           ? 0
	           : journal_err(j, err, errlen, "query");
}

static void journal_text(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

static int journal_members(struct journal *j, struct rollout *r, char *err,
                           size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char state[32];
	size_t rows = 0;
	int rc, rv = 0;

	if (sqlite3_prepare_v2(j->db,
	                       "SELECT idx, machine_id, binary_version, "
	                       "from_version, order_id, grp, stage, canary, "
	                       "state, ordered_ms, since_ms, reason, "
	                       "prev_order_id FROM "
	                       "rollout_members WHERE rollout_id = ?1 ORDER BY "
	                       "idx",
	                       -1, &st, NULL) != SQLITE_OK)
		return journal_err(j, err, errlen, "query");
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(st, 0);
		struct rollout_member *m;

		if (idx < 0 || (size_t)idx >= r->nmembers) {
			rv = ups_errf(UPS_ERR_IO, err, errlen,
			              "rollout %s: member %lld out of range",
			              r->id, (long long)idx);
			break;
		}
		m = &r->members[idx];
		journal_text(st, 1, m->machine_id, sizeof(m->machine_id));
		journal_text(st, 2, m->binary_version,
		             sizeof(m->binary_version));
		journal_text(st, 3, m->from_version, sizeof(m->from_version));
		journal_text(st, 4, m->order_id, sizeof(m->order_id));
		m->group = (uint32_t)sqlite3_column_int64(st, 5);
		m->stage = (uint32_t)sqlite3_column_int64(st, 6);
		m->canary = sqlite3_column_int(st, 7) != 0;
		journal_text(st, 8, state, sizeof(state));
		m->ordered_ms = sqlite3_column_int64(st, 9);
		m->since_ms = sqlite3_column_int64(st, 10);
		journal_text(st, 11, m->reason, sizeof(m->reason));
		journal_text(st, 12, m->prev_order_id,
		             sizeof(m->prev_order_id));
		rows++;
		if (member_state_parse(state, &m->state) ||
		    m->group >= r->ngroups) {
			rv = ups_errf(UPS_ERR_IO, err, errlen,
			              "rollout %s: member %lld is corrupt",
			              r->id, (long long)idx);
			break;
		}
	}
	if (!rv && rc != SQLITE_DONE)
		rv = journal_err(j, err, errlen, "query");
	/* Every member, each in a stage of the plan. */
	if (!rv && rows != r->nmembers)
		rv = ups_errf(UPS_ERR_IO, err, errlen,
		              "rollout %s: %zu of %zu members journaled", r->id,
		              rows, r->nmembers);
	for (size_t i = 0; !rv && i < r->nmembers; i++)
		if (r->members[i].stage >= (r->nstages ? r->nstages : 1))
			rv =
			    ups_errf(UPS_ERR_IO, err, errlen,
			             "rollout %s: member %zu in stage %u of %u",
			             r->id, i, r->members[i].stage, r->nstages);
	sqlite3_finalize(st);
	return rv;
}

int journal_load(struct journal *j, const char *id, struct rollout *r,
                 int64_t *seq, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, rv;

	memset(r, 0, sizeof(*r));
	if (sqlite3_prepare_v2(
	        j->db,
	        id ? "SELECT id, seq, doc FROM rollouts WHERE "
	             "id = ?1"
	           : "SELECT id, seq, doc FROM rollouts ORDER BY "
	             "seq DESC LIMIT 1",
	        -1, &st, NULL) != SQLITE_OK)
		return journal_err(j, err, errlen, "query");
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = rc == SQLITE_DONE
		         ? ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                    "no rollout %s", id ? id : "yet")
		         : journal_err(j, err, errlen, "query");
		sqlite3_finalize(st);
		return rv;
	}
	*seq = sqlite3_column_int64(st, 1);
	rv = journal_decode((const char *)sqlite3_column_text(st, 2), r, err,
	                    errlen);
	if (!rv)
		journal_text(st, 0, r->id, sizeof(r->id));
	sqlite3_finalize(st);
	if (!rv) {
		r->members = calloc(r->nmembers ? r->nmembers : 1,
		                    sizeof(*r->members));
		rv = r->members ? journal_members(j, r, err, errlen)
		                : ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                           "out of memory");
	}
	if (rv) {
		rollout_free(r);
		return rv;
	}
	rollout_recount(r);
	return 0;
}

/* -------------------------------------------------------------------------
 * The header document. */

static json_t *journal_amount(const struct rollout_amount *a)
{
	char buf[32];

	rollout_amount_format(a, buf, sizeof(buf));
	return json_string(buf);
}

char *journal_encode(const struct rollout *r)
{
	const struct rollout_spec *s = &r->spec;
	json_t *groups = json_array(), *doc;
	char *text;
	int bad = 0;

	for (size_t g = 0; groups && g < r->ngroups; g++)
		bad |= json_array_append_new(
		    groups, json_pack("{s:s, s:s, s:s, s:I}", "release",
		                      r->groups[g].release, "arch",
		                      r->groups[g].arch, "binary-version",
		                      r->groups[g].binary_version, "machines",
		                      (json_int_t)r->groups[g].machines));
	if (bad) {
		/* A header without all its groups would not load again. */
		json_decref(groups);
		return NULL;
	}
	doc = json_pack(
	    "{s:{s:s, s:s, s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:b}, s:s, s:s, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o}",
	    "spec", "version", s->version, "stream", s->stream, "canary",
	    (json_int_t)s->canary, "batch", journal_amount(&s->batch),
	    "max-unavailable", journal_amount(&s->max_unavailable),
	    "failure-budget", journal_amount(&s->failure_budget),
	    "min-healthy-ms", (json_int_t)s->min_healthy_ms,
	    "machine-deadline-ms", (json_int_t)s->machine_deadline_ms,
	    "deadline-ms", (json_int_t)s->deadline_ms, "manual-promote",
	    s->manual_promote, "state", rollout_state_name(r->state),
	    "resume-to", rollout_state_name(r->resume_to), "stage",
	    (json_int_t)r->stage, "stages", (json_int_t)r->nstages, "batch",
	    (json_int_t)r->batch, "max-unavailable",
	    (json_int_t)r->max_unavailable, "budget", (json_int_t)r->budget,
	    "created-ms", (json_int_t)r->created_ms, "started-ms",
	    (json_int_t)r->started_ms, "updated-ms", (json_int_t)r->updated_ms,
	    "ended-ms", (json_int_t)r->ended_ms, "members",
	    (json_int_t)r->nmembers, "reason", r->reason, "groups", groups);
	if (!doc)
		return NULL;
	if (json_object_set_new(json_object_get(doc, "spec"), "model",
	                        json_string(s->model)) ||
	    json_object_set_new(json_object_get(doc, "spec"), "on-budget",
	                        json_string(s->on_budget ==
	                                            ROLLOUT_ON_BUDGET_ROLLBACK
	                                        ? "rollback"
	                                        : "pause")) ||
	    json_object_set_new(json_object_get(doc, "spec"), "gated",
	                        json_boolean(s->gated)) ||
	    json_object_set_new(doc, "cleared",
	                        json_integer((json_int_t)r->cleared))) {
		json_decref(doc);
		return NULL;
	}
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

static int journal_get_amount(const json_t *spec, const char *key,
                              struct rollout_amount *a)
{
	return rollout_amount_parse(
	    json_string_value(json_object_get(spec, key)), 0, a);
}

int journal_decode(const char *doc, struct rollout *r, char *err,
                   size_t errlen)
{
	json_t *root = json_loads(doc ? doc : "", JSON_REJECT_DUPLICATES, NULL),
	       *groups;
	const char *version, *stream, *state, *resume, *reason;
	json_int_t canary, mh, md, dl, stage, stages, batch, mu, budget, cr,
	    st, up, en, members;
	int manual, bad;
	json_t *spec;

	if (!root)
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "rollout journal: a header is not JSON");
	bad = json_unpack(
	    root,
	    "{s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:s, s:o}",
	    "spec", &spec, "state", &state, "resume-to", &resume, "stage",
	    &stage, "stages", &stages, "batch", &batch, "max-unavailable", &mu,
	    "budget", &budget, "created-ms", &cr, "started-ms", &st,
	    "updated-ms", &up, "ended-ms", &en, "members", &members, "reason",
	    &reason, "groups", &groups);
	if (!bad)
		bad = json_unpack(spec, "{s:s, s:s, s:I, s:I, s:I, s:I, s:b}",
		                  "version", &version, "stream", &stream,
		                  "canary", &canary, "min-healthy-ms", &mh,
		                  "machine-deadline-ms", &md, "deadline-ms",
		                  &dl, "manual-promote", &manual);
	if (!bad)
		bad = journal_get_amount(spec, "batch", &r->spec.batch) ||
		      journal_get_amount(spec, "max-unavailable",
		                         &r->spec.max_unavailable) ||
		      journal_get_amount(spec, "failure-budget",
		                         &r->spec.failure_budget) ||
		      rollout_state_parse(state, &r->state) ||
		      rollout_state_parse(resume, &r->resume_to) ||
		      !json_is_array(groups) ||
		      json_array_size(groups) > ROLLOUT_GROUPS_MAX ||
		      members < 0 || members > 10000000 || stages < 0 ||
		      stage < 0 || (stages > 0 && stage >= stages);
	if (bad) {
		json_decref(root);
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "rollout journal: a header is corrupt");
	}
	{
		const char *ob = json_string_value(
		    json_object_get(spec, "on-budget"));

		const char *model =
		    json_string_value(json_object_get(spec, "model"));

		json_int_t cleared =
		    json_integer_value(json_object_get(root, "cleared"));

		/* Both absent in journals of before hooks: not gated. */
		r->spec.gated =
		    json_is_true(json_object_get(spec, "gated"));
		r->cleared = cleared > 0 && cleared <= stages + 1
		                 ? (uint32_t)cleared
		                 : 0;
		r->spec.on_budget = ob && strcmp(ob, "rollback") == 0
		                        ? ROLLOUT_ON_BUDGET_ROLLBACK
		                        : ROLLOUT_ON_BUDGET_PAUSE;
		snprintf(r->spec.model, sizeof(r->spec.model), "%s",
		         model && ups_machine_id_is_valid(model)
		             ? model
		             : UPS_MODEL_CONTROLLER);
	}
	snprintf(r->spec.version, sizeof(r->spec.version), "%s", version);
	snprintf(r->spec.stream, sizeof(r->spec.stream), "%s", stream);
	r->spec.canary = canary;
	r->spec.min_healthy_ms = mh;
	r->spec.machine_deadline_ms = md;
	r->spec.deadline_ms = dl;
	r->spec.manual_promote = manual;
	r->stage = (uint32_t)stage;
	r->nstages = (uint32_t)stages;
	r->batch = batch;
	r->max_unavailable = mu;
	r->budget = budget;
	r->created_ms = cr;
	r->started_ms = st;
	r->updated_ms = up;
	r->ended_ms = en;
	r->nmembers = (size_t)members;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	r->ngroups = json_array_size(groups);
	for (size_t g = 0; g < r->ngroups; g++) {
		const json_t *o = json_array_get(groups, g);
		struct rollout_group *grp = &r->groups[g];

		snprintf(grp->release, sizeof(grp->release), "%s",
		         json_string_value(json_object_get(o, "release"))
		             ?: "");
		snprintf(grp->arch, sizeof(grp->arch), "%s",
		         json_string_value(json_object_get(o, "arch")) ?: "");
		snprintf(grp->binary_version, sizeof(grp->binary_version),
		         "%s",
		         json_string_value(json_object_get(o, "binary-version"))
		             ?: "");
		grp->machines = (size_t)json_integer_value(
		    json_object_get(o, "machines"));
	}
	json_decref(root);
	return 0;
}
