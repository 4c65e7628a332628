/* Fuzzes the machine agent's state file (contrib/machine/mstate.h), read
 * back after any crash. Invariants (abort on violation): a parsed state
 * formats to text that parses to the same state again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/machine/mstate.h"
#include "proto/errors.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mstate s, again;
	char err[UPS_ERRMSG_MAX];
	char *text;

	if (mstate_parse((const char *)data, size, &s, err, sizeof(err)))
		return 0;
	text = mstate_format(&s);
	CHECK(text != NULL);
	CHECK(mstate_parse(text, strlen(text), &again, err, sizeof(err)) == 0);
	CHECK(strcmp(s.current, again.current) == 0);
	CHECK(strcmp(s.previous, again.previous) == 0);
	CHECK(s.has_order == again.has_order && s.ndone == again.ndone);
	if (s.has_order)
		CHECK(strcmp(s.order.id, again.order.id) == 0 &&
		      s.order_state == again.order_state);
	for (size_t i = 0; i < s.ndone; i++)
		CHECK(strcmp(s.done[i].id, again.done[i].id) == 0 &&
		      s.done[i].state == again.done[i].state);
	free(text);
	return 0;
}
