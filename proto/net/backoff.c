/* Capped exponential backoff with full jitter. */
#include "proto/net/backoff.h"

uint64_t backoff_ceiling_ms(unsigned attempt, uint64_t initial_ms,
                            uint64_t max_ms)
{
	uint64_t ceiling = initial_ms;
	unsigned i;

	/* Doubling stops at the cap, so no shift can overflow however many
	 * attempts a link that stays down for weeks accumulates. */
	for (i = 0; i < attempt && ceiling < max_ms; i++)
		ceiling *= 2;
	return ceiling < max_ms ? ceiling : max_ms;
}

uint64_t backoff_delay_ms(unsigned attempt, uint64_t initial_ms,
                          uint64_t max_ms, backoff_random_fn rnd, void *user)
{
	uint64_t ceiling = backoff_ceiling_ms(attempt, initial_ms, max_ms);

	if (ceiling == UINT64_MAX)
		return rnd(user);
	return rnd(user) % (ceiling + 1);
}

uint64_t backoff_xorshift(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}
