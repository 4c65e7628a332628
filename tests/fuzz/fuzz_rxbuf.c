/* Fuzzes ups_rxbuf_feed_raw, the reassembly of websocket fragments, against
 * a model of what it must deliver. The input is a list of fragments, each
 * a control byte, a 16-bit length and that many bytes (repeated 2^k times
 * to reach the limits):
 *
 *   bit 0 first (rxbuf ignores it)   bit 1 final   bit 2 binary
 *   bit 3 take the frame buffer of a delivered binary message
 *   bits 4-6 k                       bit 7 rx.frames

 *
 * Invariants (abort on violation): every answer is the model's; a
 * delivered message holds exactly its fragments' bytes and is within its
 * kind's limit; one that came in one piece is not copied; a binary one
 * gathered from fragments while frames was set at its start sits in the
 * frame buffer with its payload aligned, any other in the growing buffer;
 * the frame buffer can be taken in exchange for another. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/chunk.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/net/rxbuf.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

struct model {
	bool active, binary, over, in_frame;
	uint8_t *acc; /* the message so far, up to its limit */
	size_t len;
};

static size_t limit_of(bool binary)
{
	return binary ? UPS_LIMIT_BINARY_MSG_MAX : UPS_LIMIT_TEXT_MSG_MAX;
}

/* What rxbuf must answer to a fragment of len bytes at in. */
static int model_feed(struct model *m, bool final, bool binary, bool frames,
                      const uint8_t *in, size_t len)
{
	bool was_over;

	if (!m->active) {
		m->active = true;
		m->binary = binary;
		m->in_frame = binary && frames;
		m->over = false;
		m->len = 0;
	}
	was_over = m->over;
	if (!m->over && len > limit_of(m->binary) - m->len)
		m->over = true;
	else if (!m->over) {
		memcpy(m->acc + m->len, in, len);
		m->len += len;
	}
	if (final)
		m->active = false;
	if (m->over)
		return was_over ? 0 : UPS_ERR_TOO_LARGE;
	return final ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Allocated once: the largest message, and a fragment. */
	static uint8_t *acc, *frag;
	struct ups_rxbuf rx = {0};
	struct model m = {0};
	struct ups_rxmsg msg;
	size_t at = 0;

	if (!acc) {
		acc = malloc(UPS_LIMIT_BINARY_MSG_MAX);
		frag = malloc(65535u << 7);
		CHECK(acc && frag);
	}
	m.acc = acc;
	while (at + 3 <= size) {
		uint8_t ctl = data[at];
		size_t n = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
		size_t reps = (size_t)1 << ((ctl >> 4) & 7), len;
		bool final = ctl & 2, binary = ctl & 4, frames = ctl & 128;
		bool single;
		int want, rv;

		at += 3;
		if (n > size - at)
			n = size - at;
		for (size_t r = 0; r < reps; r++)
			memcpy(frag + r * n, data + at, n);
		at += n;
		len = n * reps;
		single = !m.active && final;
		want = model_feed(&m, final, binary, frames, frag, len);
		rx.frames = frames;
		memset(&msg, 0, sizeof(msg));
		rv = ups_rxbuf_feed_raw(&rx, ctl & 1, final, binary, frag, len,
		                        &msg);
		CHECK(rv == want);
		if (rv != 1)
			continue;
		CHECK(msg.binary == m.binary);
		CHECK(msg.len == m.len && msg.len <= limit_of(msg.binary));
		CHECK(msg.len == 0 || memcmp(msg.data, m.acc, msg.len) == 0);
		if (single) {
			CHECK(msg.data == frag && msg.frame_buf == NULL);
			continue;
		}
		if (!m.in_frame) {
			CHECK(msg.frame_buf == NULL && msg.data == rx.data);
			continue;
		}
		CHECK(msg.frame_buf == &rx.frame_buf);
		CHECK(msg.data == rx.frame_buf + UPS_CHUNK_BUF_FRAME);
		CHECK((uintptr_t)(msg.data + UPS_CHUNK_HEADER_SIZE) %
		          UPS_CHUNK_BUF_ALIGN ==
		      0);
		if (ctl & 8) {
			uint8_t *mine = ups_chunk_buf_new(), *taken;

			CHECK(mine != NULL);
			taken = *msg.frame_buf;
			*msg.frame_buf = mine;
			CHECK(memcmp(taken + UPS_CHUNK_BUF_FRAME, m.acc,
			             m.len) == 0);
			free(taken);
		}
	}
	ups_rxbuf_free(&rx);
	return 0;
}
