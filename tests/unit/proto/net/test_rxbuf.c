#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/chunk.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/net/rxbuf.h"

static void test_single_fragment_no_copy(void **state)
{
	struct ups_rxbuf rx = {0};
	struct ups_rxmsg m;
	const char *text = "{\"a\":1}";

	(void)state;
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, true, false, text,
					    strlen(text), &m),
			 1);
	assert_ptr_equal(m.data, text);
	assert_int_equal(m.len, strlen(text));
	assert_false(m.binary);
	ups_rxbuf_free(&rx);
}

static void test_fragments(void **state)
{
	struct ups_rxbuf rx = {0};
	struct ups_rxmsg m;

	(void)state;
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, false, true, "abc", 3,
					    &m),
			 0);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, false, true, "de", 2,
					    &m),
			 0);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, true, true, "f", 1,
					    &m),
			 1);
	assert_int_equal(m.len, 6);
	assert_memory_equal(m.data, "abcdef", 6);
	assert_true(m.binary);
	/* the next message starts afresh */
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, false, false, "x", 1,
					    &m),
			 0);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, true, false, "y", 1,
					    &m),
			 1);
	assert_int_equal(m.len, 2);
	assert_memory_equal(m.data, "xy", 2);
	assert_false(m.binary);
	ups_rxbuf_free(&rx);
}

static void test_text_limit(void **state)
{
	struct ups_rxbuf rx = {0};
	struct ups_rxmsg m;
	size_t half = UPS_LIMIT_TEXT_MSG_MAX / 2 + 1;
	char *buf = calloc(1, half);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, false, false, buf, half,
					    &m),
			 0);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, false, false, buf,
					    half, &m),
			 UPS_ERR_TOO_LARGE);
	/* the rest of the oversized message is discarded, not delivered */
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, true, false, "z", 1,
					    &m),
			 0);
	/* and the next message is fine */
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, true, false, "ok", 2,
					    &m),
			 1);
	assert_int_equal(m.len, 2);
	assert_true(rx.cap <= UPS_LIMIT_TEXT_MSG_MAX);
	free(buf);
	ups_rxbuf_free(&rx);
}

static void test_single_oversized(void **state)
{
	struct ups_rxbuf rx = {0};
	struct ups_rxmsg m;
	size_t n = UPS_LIMIT_BINARY_MSG_MAX + 1;
	char *buf = calloc(1, n);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, true, true, buf, n, &m),
			 UPS_ERR_TOO_LARGE);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, true, true, buf, n - 1,
					    &m),
			 1);
	free(buf);
	ups_rxbuf_free(&rx);
}

static void test_binary_allows_more_than_text(void **state)
{
	struct ups_rxbuf rx = {0};
	struct ups_rxmsg m;
	size_t n = UPS_LIMIT_TEXT_MSG_MAX;
	char *buf = calloc(1, n);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, false, true, buf, n, &m),
			 0);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, true, true, buf, n, &m),
			 1);
	assert_int_equal(m.len, 2 * n);
	free(buf);
	ups_rxbuf_free(&rx);
}

/* A raised text limit (the relay's link) reassembles beyond the default
 * and still stops at its own bound. */
static void test_text_max_raised(void **state)
{
	struct ups_rxbuf rx = {.text_max = 2 * UPS_LIMIT_TEXT_MSG_MAX};
	size_t half = UPS_LIMIT_TEXT_MSG_MAX;
	char *buf = calloc(1, half + 1);
	struct ups_rxmsg m;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, false, false, buf,
					    half, &m),
			 0);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, true, false, buf,
					    half, &m),
			 1);
	assert_int_equal(m.len, 2 * half);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, false, false, buf,
					    half, &m),
			 0);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, true, false, buf,
					    half + 1, &m),
			 UPS_ERR_TOO_LARGE);
	free(buf);
	ups_rxbuf_free(&rx);
}

/* Feeds len bytes of data as one binary message in pieces of piece bytes;
 * returns what the last feed returned. */
static int feed_binary(struct ups_rxbuf *rx, const uint8_t *data, size_t len,
                       size_t piece, struct ups_rxmsg *m)
{
	int rv = 0;

	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;

		rv = ups_rxbuf_feed_raw(rx, off == 0, off + n == len, true,
		                        data + off, n, m);
		if (off + n < len)
			assert_int_equal(rv, 0);
	}
	return rv;
}

/* A binary message in fragments is gathered in the frame buffer with its
 * payload aligned, and the consumer can take that buffer for another;
 * only while frames is set (a peer that may upload). */
static void test_binary_frame_buffer(void **state)
{
	struct ups_rxbuf rx = {0};
	struct ups_rxmsg m;
	size_t len = UPS_CHUNK_HEADER_SIZE + 3 * 4096 + 100;
	uint8_t *frame = malloc(len);
	uint8_t *gathered, *theirs, *mine;

	(void)state;
	assert_non_null(frame);
	for (size_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(i * 7 + 1);
	/* Not yet allowed: gathered as before, no frame buffer reserved. */
	assert_int_equal(feed_binary(&rx, frame, len, 1000, &m), 1);
	assert_null(m.frame_buf);
	assert_null(rx.frame_buf);
	assert_ptr_equal(m.data, rx.data);
	assert_memory_equal(m.data, frame, len);

	rx.frames = true;
	assert_int_equal(feed_binary(&rx, frame, len, 1000, &m), 1);
	assert_true(m.binary);
	assert_int_equal(m.len, len);
	assert_memory_equal(m.data, frame, len);
	assert_non_null(m.frame_buf);
	assert_ptr_equal(m.frame_buf, &rx.frame_buf);
	assert_ptr_equal(m.data, rx.frame_buf + UPS_CHUNK_BUF_FRAME);
	assert_int_equal((uintptr_t)(m.data + UPS_CHUNK_HEADER_SIZE) %
	                     UPS_CHUNK_BUF_ALIGN,
	                 0);

	/* The consumer swaps: it keeps the gathered buffer, and the next
	 * message is gathered in the one it gave. */
	gathered = rx.frame_buf;
	mine = ups_chunk_buf_new();
	assert_non_null(mine);
	theirs = *m.frame_buf;
	*m.frame_buf = mine;
	frame[0] ^= 0xff;
	assert_int_equal(feed_binary(&rx, frame, len, 4096, &m), 1);
	assert_ptr_equal(m.data, mine + UPS_CHUNK_BUF_FRAME);
	assert_memory_equal(m.data, frame, len);
	/* What the consumer took still holds the first message. */
	assert_ptr_equal(theirs, gathered);
	assert_int_equal(theirs[UPS_CHUNK_BUF_FRAME],
	                 (uint8_t)(frame[0] ^ 0xff));
	free(theirs);

	/* The largest message fits the frame buffer exactly. */
	free(frame);
	len = UPS_LIMIT_BINARY_MSG_MAX;
	frame = malloc(len);
	assert_non_null(frame);
	memset(frame, 0x5a, len);
	frame[len - 1] = 0xa5;
	assert_int_equal(feed_binary(&rx, frame, len, 65536, &m), 1);
	assert_int_equal(m.len, len);
	assert_memory_equal(m.data, frame, len);

	/* In one piece, or text: nothing to take. */
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, true, true, frame, 64,
	                                    &m),
	                 1);
	assert_null(m.frame_buf);
	assert_ptr_equal(m.data, frame);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, true, false, false, "a", 1,
	                                    &m),
	                 0);
	assert_int_equal(ups_rxbuf_feed_raw(&rx, false, true, false, "b", 1,
	                                    &m),
	                 1);
	assert_null(m.frame_buf);
	assert_memory_equal(m.data, "ab", 2);
	free(frame);
	ups_rxbuf_free(&rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_fragment_no_copy),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_text_limit),
		cmocka_unit_test(test_single_oversized),
		cmocka_unit_test(test_binary_allows_more_than_text),
		cmocka_unit_test(test_text_max_raised),
		cmocka_unit_test(test_binary_frame_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
