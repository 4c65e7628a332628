/* Failed-login throttling per source address. See throttle.h. */
#include "proto/net/throttle.h"

#include <stdio.h>
#include <string.h>

void ups_throttle_init(struct ups_throttle *t)
{
	memset(t, 0, sizeof(*t));
}

static struct ups_throttle_entry *throttle_find(struct ups_throttle *t,
                                                const char *addr)
{
	for (size_t i = 0; i < UPS_THROTTLE_SLOTS; i++)
		if (t->slots[i].addr[0] && strcmp(t->slots[i].addr, addr) == 0)
			return &t->slots[i];
	return NULL;
}

/* A slot for a new address: a free one, else the one seen longest ago,
 * preferring one whose wait is over. */
static struct ups_throttle_entry *throttle_take(struct ups_throttle *t,
                                                uint64_t now_ms)
{
	struct ups_throttle_entry *best = NULL, *e;
	bool best_blocked = true;

	for (size_t i = 0; i < UPS_THROTTLE_SLOTS; i++) {
		bool blocked;

		e = &t->slots[i];
		if (!e->addr[0])
			return e;
		blocked = e->until_ms > now_ms;
		if (!best || (best_blocked && !blocked) ||
		    (blocked == best_blocked && e->seen_ms < best->seen_ms)) {
			best = e;
			best_blocked = blocked;
		}
	}
	memset(best, 0, sizeof(*best));
	return best;
}

bool ups_throttle_allowed(struct ups_throttle *t, const char *addr,
                          uint64_t now_ms, uint64_t *retry_ms)
{
	struct ups_throttle_entry *e = throttle_find(t, addr);

	if (!e || e->until_ms <= now_ms)
		return true;
	if (retry_ms)
		*retry_ms = e->until_ms - now_ms;
	return false;
}

uint64_t ups_throttle_failed(struct ups_throttle *t, const char *addr,
                             uint64_t now_ms)
{
	struct ups_throttle_entry *e = throttle_find(t, addr);
	uint64_t wait = UPS_THROTTLE_BASE_MS;

	if (!e) {
		e = throttle_take(t, now_ms);
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
	}
	if (e->failures < 64)
		e->failures++;
	e->seen_ms = now_ms;
	e->unreported++;
	if (e->failures <= UPS_THROTTLE_FREE)
		return e->unreported;
	for (unsigned i = UPS_THROTTLE_FREE + 1;
	     i < e->failures && wait < UPS_THROTTLE_MAX_MS; i++)
		wait *= 2;
	if (wait > UPS_THROTTLE_MAX_MS)
		wait = UPS_THROTTLE_MAX_MS;
	e->until_ms = now_ms + wait;
	return e->unreported;
}

void ups_throttle_succeeded(struct ups_throttle *t, const char *addr)
{
	struct ups_throttle_entry *e = throttle_find(t, addr);

	/* What was not reported yet still is. */
	if (e && e->unreported == 0)
		memset(e, 0, sizeof(*e));
	else if (e)
		e->failures = 0, e->until_ms = 0;
}

void ups_throttle_report(struct ups_throttle *t,
                         void (*report)(void *arg, const char *addr,
                                        uint64_t count),
                         void *arg)
{
	for (size_t i = 0; i < UPS_THROTTLE_SLOTS; i++) {
		struct ups_throttle_entry *e = &t->slots[i];

		if (!e->addr[0] || e->unreported == 0)
			continue;
		report(arg, e->addr, e->unreported);
		e->unreported = 0;
		if (e->failures == 0)
			memset(e, 0, sizeof(*e));
	}
}
