#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/net/outq.h"

/* C(n): what a message of n payload bytes costs. */
#define C(n) ups_outq_cost(n)

static void test_bound(void **state)
{
	struct ups_outq q;
	char big[100];

	(void)state;
	memset(big, 'x', sizeof(big));
	/* Every message costs more than its payload. */
	assert_true(C(1) > 1 + 32);
	assert_int_equal(C(100) - C(0), 100);
	ups_outq_init(&q, C(100) + C(100) + C(50));
	assert_int_equal(ups_outq_push(&q, false, big, 100, NULL, 0), 0);
	assert_int_equal(ups_outq_push(&q, true, big, 50, big, 50), 0);
	assert_int_equal(q.bytes, 2 * C(100));
	assert_int_equal(q.count, 2);
	assert_int_equal(ups_outq_push(&q, false, big, 51, NULL, 0),
			 UPS_ERR_BUSY);
	assert_int_equal(ups_outq_push(&q, false, big, 50, NULL, 0), 0);
	assert_int_equal(q.bytes, q.max_bytes);
	assert_int_equal(ups_outq_push(&q, false, big, 1, NULL, 0),
			 UPS_ERR_BUSY);
	assert_false(ups_outq_empty(&q));
	ups_outq_clear(&q);
	assert_true(ups_outq_empty(&q));
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.count, 0);
}

static void test_oversized_single(void **state)
{
	struct ups_outq q;
	char b[8] = {0};

	(void)state;
	ups_outq_init(&q, C(4));
	assert_int_equal(ups_outq_push(&q, false, b, 5, NULL, 0),
			 UPS_ERR_BUSY);
	assert_int_equal(ups_outq_push(&q, false, b, 3, b, 2), UPS_ERR_BUSY);
	assert_true(ups_outq_empty(&q));
	/* A bound smaller than one message's overhead takes nothing. */
	ups_outq_init(&q, C(0) - 1);
	assert_int_equal(ups_outq_push(&q, false, b, 1, NULL, 0),
			 UPS_ERR_BUSY);
}

static void test_json(void **state)
{
	struct ups_outq q;
	json_t *env = ups_env_response(7, json_pack("{s:i}", "x", 1));

	(void)state;
	assert_non_null(env);
	ups_outq_init(&q, 1024);
	assert_int_equal(ups_outq_push_json(&q, env), 0);
	assert_int_equal(q.count, 1);
	assert_true(q.bytes > 10);
	json_decref(env);
	ups_outq_clear(&q);
}

static void test_drop_tag(void **state)
{
	static const uint32_t tags[] = {1, 2, 1, 0, 1};
	struct ups_outq q;
	char b[10] = {0};

	(void)state;
	ups_outq_init(&q, 10000);
	for (size_t i = 0; i < 5; i++) {
		b[0] = (char)i;
		assert_int_equal(ups_outq_push(&q, false, b, i + 1, NULL, 0),
		                 0);
		ups_outq_tag_last(&q, tags[i]);
	}
	assert_int_equal(ups_outq_drop_tag(&q, 0), 0);
	assert_int_equal(ups_outq_drop_tag(&q, 7), 0);
	assert_int_equal(q.count, 5);
	/* lengths 1, 3 and 5 carry tag 1 */
	assert_int_equal(ups_outq_drop_tag(&q, 1), 3);
	assert_int_equal(q.count, 2);
	assert_int_equal(q.bytes, C(2) + C(4));
	/* the tail is right: a new message goes after the survivors */
	assert_int_equal(ups_outq_push(&q, false, b, 7, NULL, 0), 0);
	assert_int_equal(q.count, 3);
	assert_int_equal(q.bytes, C(2) + C(4) + C(7));
	assert_int_equal(ups_outq_drop_tag(&q, 2), 1);
	assert_int_equal(ups_outq_drop_tag(&q, 2), 0);
	assert_int_equal(q.bytes, C(4) + C(7));
	ups_outq_clear(&q);
	/* dropping everything leaves an empty, usable queue */
	assert_int_equal(ups_outq_push(&q, false, b, 1, NULL, 0), 0);
	ups_outq_tag_last(&q, 9);
	assert_int_equal(ups_outq_drop_tag(&q, 9), 1);
	assert_true(ups_outq_empty(&q));
	assert_null(q.tail);
	assert_int_equal(ups_outq_push(&q, false, b, 1, NULL, 0), 0);
	assert_int_equal(q.count, 1);
	ups_outq_clear(&q);
}

/* Decodes the frame ups_ws_client_frame() built and unmasks it again. */
static void check_frame(size_t len)
{
	const unsigned char key[4] = {0x12, 0x34, 0xa5, 0xff};
	unsigned char *buf = malloc(UPS_WS_CLIENT_HEADER_MAX + len + 1);
	unsigned char *orig = malloc(len + 1);
	unsigned char *payload = buf + UPS_WS_CLIENT_HEADER_MAX;
	unsigned char *f;
	size_t hlen, plen, at;

	assert_non_null(buf);
	assert_non_null(orig);
	for (size_t i = 0; i < len; i++)
		orig[i] = (unsigned char)(i * 7 + 3);
	memcpy(payload, orig, len);
	hlen = ups_ws_client_frame(payload, len, key);
	f = payload - hlen;
	assert_true(hlen <= UPS_WS_CLIENT_HEADER_MAX);
	assert_int_equal(f[0], 0x82); /* FIN + binary */
	assert_int_equal(f[1] & 0x80, 0x80); /* masked */
	plen = f[1] & 0x7f;
	at = 2;
	if (plen == 126) {
		plen = (size_t)f[2] << 8 | f[3];
		at = 4;
	} else if (plen == 127) {
		plen = 0;
		for (int b = 0; b < 8; b++)
			plen = plen << 8 | f[2 + b];
		at = 10;
	}
	assert_int_equal(plen, len);
	assert_int_equal(at + 4, hlen);
	assert_memory_equal(f + at, key, 4);
	if (len >= 8)
		assert_memory_not_equal(payload, orig, len);
	for (size_t i = 0; i < len; i++)
		payload[i] ^= f[at + (i & 3)];
	if (len)
		assert_memory_equal(payload, orig, len);
	free(buf);
	free(orig);
}

static void test_client_frame(void **state)
{
	static const size_t lens[] = {0,   1,	  7,	8,     9,
				      125, 126,	  127,	65535, 65536,
				      65537, 1048576 + 32};
	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		check_frame(lens[i]);
}

/* A message framed ahead (on a worker, by the CLI): a masked frame of
 * the payload with its header just before it; framing twice, or a text
 * message, is refused. */
static void test_msg_frame(void **state)
{
	const size_t len = 1048576 + 32;
	struct ups_outq_msg *m = ups_outq_msg_new(true, len);
	struct ups_outq_msg *t = ups_outq_msg_new(false, 10);
	unsigned char *d;
	unsigned char key[4];

	(void)state;
	assert_non_null(m);
	assert_non_null(t);
	d = ups_outq_msg_data(m);
	for (size_t i = 0; i < len; i++)
		d[i] = (unsigned char)(i * 13 + 1);
	assert_int_equal(ups_outq_msg_frame(m), 0);
	assert_int_equal(d[-14], 0x82);
	assert_int_equal(d[-13], 0x80 | 127);
	memcpy(key, d - 4, 4);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(d[i] ^ key[i & 3],
		                 (unsigned char)(i * 13 + 1));
	assert_int_equal(ups_outq_msg_frame(m), UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_outq_msg_frame(t), UPS_ERR_BAD_REQUEST);
	ups_outq_msg_free(m);
	ups_outq_msg_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_oversized_single),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_client_frame),
		cmocka_unit_test(test_msg_frame),
		cmocka_unit_test(test_drop_tag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
