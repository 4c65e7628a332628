/* What upstage-machine remembers across its own restarts, in
 * DIR/upstage-machine.json: the binary version in use and the one before
 * it (what a revert goes back to), the order being carried out and how
 * far it got, and the outcomes of the last orders, so an order id
 * delivered again is answered with its outcome instead of being carried
 * out twice. Pure functions (the agent does the file I/O: temp file,
 * fsync, rename, fsync the directory). */
#ifndef UPSTAGE_CONTRIB_MACHINE_MSTATE_H
#define UPSTAGE_CONTRIB_MACHINE_MSTATE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/machine.h"

/* Outcomes kept. */
#define MSTATE_DONE_MAX   16
#define MSTATE_REASON_LEN 256
/* Largest state file read. */
#define MSTATE_FILE_MAX (64 * 1024)

struct mstate_done {
	char id[UPS_LIMIT_ORDER_ID_LEN + 1];
	enum ups_machine_state state;
	char reason[MSTATE_REASON_LEN + 1];
};

struct mstate {
	char current[UPS_LIMIT_BINARY_VERSION_LEN + 1];  /* "" unknown */
	char previous[UPS_LIMIT_BINARY_VERSION_LEN + 1]; /* "" none */
	bool has_order;
	struct ups_order order;
	enum ups_machine_state order_state;
	char reason[MSTATE_REASON_LEN + 1];
	size_t ndone;
	struct mstate_done done[MSTATE_DONE_MAX]; /* oldest first */
};

/* Parses len bytes of text (borrowed) strictly into *out. 0 or
 * UPS_ERR_BAD_REQUEST with err naming the field. */
int mstate_parse(const char *text, size_t len, struct mstate *out, char *err,
                 size_t errlen);

/* The JSON text of s; free() it. NULL when out of memory. */
char *mstate_format(const struct mstate *s);

/* The outcome of order id, or NULL. */
const struct mstate_done *mstate_find_done(const struct mstate *s,
                                           const char *id);

/* Records s's order as done with its state and reason (dropping the
 * oldest outcome when full) and clears has_order. */
void mstate_retire(struct mstate *s);

#endif
