/* Opening upstage.db for the registry and the journal (dbfile.h). */
#include "agent/rollout/dbfile.h"

#include <stdio.h>

#include "proto/errors.h"

int dbfile_open(const char *data_dir, const char *what, sqlite3 **out,
                char *err, size_t errlen)
{
	static const char *const pragmas[] = {"PRAGMA journal_mode=WAL",
	                                      "PRAGMA synchronous=FULL"};
	sqlite3 *db = NULL;
	char path[4096];

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/upstage.db", data_dir) >=
	    sizeof(path))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "data directory path too long");
	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                        SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	                    NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, DBFILE_BUSY_TIMEOUT_MS) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++)
		if (sqlite3_exec(db, pragmas[i], NULL, NULL, NULL) != SQLITE_OK)
			goto fail;
	*out = db;
	return 0;
fail:
	ups_errf(UPS_ERR_IO, err, errlen, "%s %s: %s", what, path,
	         db ? sqlite3_errmsg(db) : "cannot open");
	sqlite3_close(db);
	return UPS_ERR_IO;
}
