/* The rollout journal: every rollout and each of its machines, in SQLite
 * (<data-dir>/upstage.db, through a connection of its own, tables
 * rollouts, rollout_members, rollout_settings; schema version in
 * journal_schema). The runner (rollouts.h) writes a rollout's changed
 * rows in one transaction before it carries out what the change asks
 * (orders), and rebuilds the rollout from here after a restart.
 *
 * A rollout's header (spec, state, stage, times, groups) is one JSON
 * document (journal_encode/journal_decode); its machines are rows.
 *
 * Threads: journal_open/close/write/load block on disk: call them from a
 * libuv worker, or from the loop thread before the loop runs. One caller
 * at a time. The encode/decode helpers touch no disk. */
#ifndef UPSTAGE_AGENT_ROLLOUT_JOURNAL_H
#define UPSTAGE_AGENT_ROLLOUT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "agent/rollout/engine.h"

#define JOURNAL_SCHEMA_VERSION 1

struct journal;

/* Opens (creating) the tables; *out is the caller's (journal_close()).
 * UPS_ERR_IO, or UPS_ERR_BAD_REQUEST for a newer schema. */
int journal_open(const char *data_dir, struct journal **out, char *err,
                 size_t errlen);
void journal_close(struct journal *j);

/* What one write holds: a header (doc, owned, may be NULL: unchanged),
 * copies of changed members with their indexes, and the controller's
 * agent version to record (may be ""). */
struct journal_batch {
	char id[ROLLOUT_ID_LEN];
	int64_t seq;
	char *doc;
	struct rollout_member *members;
	uint32_t *index;
	size_t n;
	char agent_version[UPS_LIMIT_VERSION_LEN + 1];
};

void journal_batch_free(struct journal_batch *b);

/* Writes b in one transaction: durable when 0. */
int journal_write(struct journal *j, const struct journal_batch *b, char *err,
                  size_t errlen);

/* The rollout id (NULL: the one with the highest seq) into r (members
 * owned by r). UPS_ERR_NOT_FOUND when there is none. */
int journal_load(struct journal *j, const char *id, struct rollout *r,
                 int64_t *seq, char *err, size_t errlen);

/* The highest rollout seq written (0: none). */
/* How many journaled rollouts are in each state (counts[ROLLOUT__COUNT];
 * a state name the engine does not know is not counted). Blocks. */
int journal_count_states(struct journal *j, uint64_t counts[ROLLOUT__COUNT],
                         char *err, size_t errlen);

int journal_last_seq(struct journal *j, int64_t *seq, char *err,
                     size_t errlen);

/* The recorded agent version into buf ("" when none). */
int journal_agent_version(struct journal *j, char *buf, size_t len, char *err,
                          size_t errlen);

/* r's header as a JSON document (malloc'd; NULL when out of memory), and
 * back (members untouched). */
char *journal_encode(const struct rollout *r);
int journal_decode(const char *doc, struct rollout *r, char *err,
                   size_t errlen);

#endif
