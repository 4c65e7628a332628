/* The relay's clock. See clock.h. */
#include "contrib/relay/clock.h"

uint64_t relay_clock_now(const struct relay_clock *c)
{
	return c->now_ms ? c->now_ms(c->user) : uv_now(c->loop);
}
