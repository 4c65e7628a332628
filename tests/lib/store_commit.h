/* Storing a binary in a test, the way the upload engine does it: an
 * upload row and a complete, fsynced staging file, then store_commit(),
 * waited for on the loop. For tests of what sits on the store (the
 * publisher, the facades) that need real stored binaries without the
 * upload path. Loop thread; failures to set up fail the cmocka test. */
#ifndef UPSTAGE_TESTS_LIB_STORE_COMMIT_H
#define UPSTAGE_TESTS_LIB_STORE_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/store/store.h"
#include "tests/lib/loop_wait.h"

/* What the commit's callback said. */
struct store_commit_result {
	int rv;
	char err[UPS_ERRMSG_MAX];
};

struct store_commit_opts {
	bool force; /* replace other content under the name */
	/* Optional: called from the commit's callback, i.e. when a client
	 * would be told the answer (what it could see then). */
	void (*at_answer)(void *data);
	void *data;
};

/* Commits content (a string, borrowed) as stream/binary_version stored
 * at `at` (seconds) with opts (NULL: defaults); waits with w and returns
 * the callback's rv (its error text in *res when res is not NULL). */
int store_commit_content(struct store *s, struct loop_wait *w,
                         const char *stream, const char *binary_version,
                         const char *content, int64_t at,
                         const struct store_commit_opts *opts,
                         struct store_commit_result *res);

#endif
