/* The upload state table (upload_state.h). */
#include "agent/ingest/upload_state.h"

#include <string.h>

#include "proto/errors.h"

static const struct {
	const char *name;
	bool initial;
	unsigned next; /* bit per allowed next state */
} upload_states[UPLOAD__STATE_COUNT] = {
#define UPLOAD_STATE_ROW(name_, text, initial_, next_)                         \
	[UPLOAD_##name_] = {text, initial_, next_},
    UPLOAD_STATES(UPLOAD_STATE_ROW)
#undef UPLOAD_STATE_ROW
};

const char *upload_state_name(enum upload_state s)
{
	return s < UPLOAD__STATE_COUNT ? upload_states[s].name : "unknown";
}

int upload_state_parse(const char *name, enum upload_state *out)
{
	for (int i = 0; i < UPLOAD__STATE_COUNT; i++)
		if (strcmp(name, upload_states[i].name) == 0) {
			*out = (enum upload_state)i;
			return 0;
		}
	return UPS_ERR_NOT_FOUND;
}

bool upload_state_transition_allowed(enum upload_state from,
                                     enum upload_state to)
{
	if (from >= UPLOAD__STATE_COUNT || to >= UPLOAD__STATE_COUNT)
		return false;
	return (upload_states[from].next & (1u << to)) != 0;
}

bool upload_state_is_initial(enum upload_state s)
{
	return s < UPLOAD__STATE_COUNT && upload_states[s].initial;
}
