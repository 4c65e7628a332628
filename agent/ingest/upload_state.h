/* An upload's states: one table (UPLOAD_STATES: name, whether an upload
 * may start in it, the states it may move to), and in upload.c one move
 * function owns every change.
 *   beginning  -> receiving | detached | removing   UploadBegin's job
 *   receiving  -> committing | detached | removing
 *   detached   -> beginning (resume) | removing (abort, expiry)
 *   committing -> removing (verification or store failure)
 *   removing   -> (freed)
 * A new upload starts in beginning, a reloaded one in detached; a stored
 * or failed fresh one is freed from the state it is in. "Detached" means
 * no owner: it waits to be resumed by an UploadBegin of the same file,
 * until it expires. The catalog records these names for each upload.
 *
 * Pure: no I/O, any thread. */
#ifndef UPSTAGE_AGENT_INGEST_UPLOAD_STATE_H
#define UPSTAGE_AGENT_INGEST_UPLOAD_STATE_H

#include <stdbool.h>

#define UPLOAD_NEXT(s) (1u << UPLOAD_##s)

/* X(NAME, text, may start in it, allowed next states) */
#define UPLOAD_STATES(X)                                                       \
	X(BEGINNING, "beginning", true,                                        \
	  UPLOAD_NEXT(RECEIVING) | UPLOAD_NEXT(DETACHED) |                     \
	      UPLOAD_NEXT(REMOVING))                                           \
	X(RECEIVING, "receiving", false,                                       \
	  UPLOAD_NEXT(COMMITTING) | UPLOAD_NEXT(DETACHED) |                    \
	      UPLOAD_NEXT(REMOVING))                                           \
	X(DETACHED, "detached", true,                                          \
	  UPLOAD_NEXT(BEGINNING) | UPLOAD_NEXT(REMOVING))                      \
	X(COMMITTING, "committing", false, UPLOAD_NEXT(REMOVING))              \
	X(REMOVING, "removing", false, 0)

enum upload_state {
#define UPLOAD_STATE_ENUM(name, text, initial, next) UPLOAD_##name,
	UPLOAD_STATES(UPLOAD_STATE_ENUM)
#undef UPLOAD_STATE_ENUM
	    UPLOAD__STATE_COUNT
};

/* "receiving" etc.; "unknown" out of range. Static string. */
const char *upload_state_name(enum upload_state s);

/* The state named name; 0 or UPS_ERR_NOT_FOUND. */
int upload_state_parse(const char *name, enum upload_state *out);

/* Whether the table allows from -> to. */
bool upload_state_transition_allowed(enum upload_state from,
                                     enum upload_state to);

/* Whether an upload may start in s. */
bool upload_state_is_initial(enum upload_state s);

#endif
