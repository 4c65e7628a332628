/* The connection the registry (regdb.h) and the rollout journal
 * (journal.h) each open on <data-dir>/upstage.db, the catalog's file:
 * read-write, created when missing, never through a symbolic link, WAL
 * (so the connections share the file), synchronous=FULL (a committed
 * write survives a power cut), and a write waits at most
 * DBFILE_BUSY_TIMEOUT_MS for another connection's. Blocks on disk. */
#ifndef UPSTAGE_AGENT_ROLLOUT_DBFILE_H
#define UPSTAGE_AGENT_ROLLOUT_DBFILE_H

#include <sqlite3.h>
#include <stddef.h>

#define DBFILE_BUSY_TIMEOUT_MS 5000

/* *out is the caller's (sqlite3_close()); what names the user in
 * errors ("registry"). 0, or UPS_ERR_IO / UPS_ERR_BAD_REQUEST (a path
 * too long) with err, *out then NULL. */
int dbfile_open(const char *data_dir, const char *what, sqlite3 **out,
                char *err, size_t errlen);

#endif
