/* Fuzzes what the rollout engine parses: a journaled rollout header
 * (journal_decode: read back from upstage.db after a restart) and the
 * amounts of a spec ("12", "25%"). The first byte picks which. Whatever
 * is accepted must survive a round trip unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rollout/journal.h"
#include "proto/errors.h"
#include "proto/log.h"

static void fuzz_header(const char *text)
{
	struct rollout a, b;
	char err[UPS_ERRMSG_MAX], *again;

	memset(&a, 0, sizeof(a));
	if (journal_decode(text, &a, err, sizeof(err)))
		return;
	if (a.nstages > 0 && a.stage >= a.nstages)
		abort();
	if (a.ngroups > ROLLOUT_GROUPS_MAX)
		abort();
	again = journal_encode(&a);
	if (!again)
		return;
	memset(&b, 0, sizeof(b));
	if (journal_decode(again, &b, err, sizeof(err)))
		abort();
	if (a.state != b.state || a.stage != b.stage ||
	    a.nstages != b.nstages || a.nmembers != b.nmembers ||
	    a.ngroups != b.ngroups || a.budget != b.budget ||
	    strcmp(a.spec.version, b.spec.version) != 0 ||
	    strcmp(a.reason, b.reason) != 0 ||
	    memcmp(&a.spec.batch, &b.spec.batch, sizeof(a.spec.batch)) != 0)
		abort();
	free(again);
}

static void fuzz_amount(const char *text)
{
	struct rollout_amount a, b;
	char buf[32];

	if (rollout_amount_parse(text, 0, &a))
		return;
	if (a.value < 0 || (a.percent && (a.value < 1 || a.value > 100)))
		abort();
	rollout_amount_format(&a, buf, sizeof(buf));
	if (rollout_amount_parse(buf, 0, &b) || a.value != b.value ||
	    a.percent != b.percent)
		abort();
	/* A share of n machines never exceeds n (percentages). */
	if (a.percent && rollout_amount_of(&a, 1000, 0) > 1000)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	ups_log_threshold = UPS_LOG_ERROR;
	if (size < 1 || size > 65536)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1)
		fuzz_amount(text);
	else
		fuzz_header(text);
	free(text);
	return 0;
}
