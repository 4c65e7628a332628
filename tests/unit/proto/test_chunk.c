/* Chunk frames: the header layout byte by byte and every rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/chunk.h"
#include "proto/errors.h"
#include "proto/limits.h"

static void test_layout(void **state)
{
	const struct ups_chunk_header h = {
	    .flags = 0,
	    .upload_id = 0x0102030405060708ULL,
	    .offset = 0x1112131415161718ULL,
	    .length = 0x21222324,
	    .origin = 0x31323334,
	};
	static const uint8_t want[UPS_CHUNK_HEADER_SIZE] = {
	    0x55, 0x50, 0x43, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,
	    0x04, 0x05, 0x06, 0x07, 0x08, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
	    0x17, 0x18, 0x21, 0x22, 0x23, 0x24, 0x31, 0x32, 0x33, 0x34,
	};
	uint8_t out[UPS_CHUNK_HEADER_SIZE];

	(void)state;
	memset(out, 0xEE, sizeof(out));
	ups_chunk_encode_header(&h, out);
	assert_memory_equal(out, want, sizeof(want));
}

/* Builds header + payload of length len (payload bytes 0..len-1). */
static uint8_t *frame(const struct ups_chunk_header *h, size_t payload_len)
{
	uint8_t *buf = malloc(UPS_CHUNK_HEADER_SIZE + payload_len);
	size_t i;

	assert_non_null(buf);
	ups_chunk_encode_header(h, buf);
	for (i = 0; i < payload_len; i++)
		buf[UPS_CHUNK_HEADER_SIZE + i] = (uint8_t)i;
	return buf;
}

static void test_round_trip(void **state)
{
	const struct ups_chunk_header h = {0, 7, 4096, 5, 9};
	struct ups_chunk_header got;
	const uint8_t *payload = NULL;
	char err[UPS_ERRMSG_MAX];
	uint8_t *buf = frame(&h, 5);

	(void)state;
	assert_int_equal(ups_chunk_decode(buf, UPS_CHUNK_HEADER_SIZE + 5, &got,
	                                  &payload, err, sizeof(err)),
	                 0);
	assert_int_equal(got.flags, 0);
	assert_int_equal(got.upload_id, 7);
	assert_int_equal(got.offset, 4096);
	assert_int_equal(got.length, 5);
	assert_int_equal(got.origin, 9);
	assert_ptr_equal(payload, buf + UPS_CHUNK_HEADER_SIZE);
	assert_int_equal(payload[4], 4);
	free(buf);
}

static void expect_reject(const uint8_t *buf, size_t len, int rv,
                          const char *needle)
{
	struct ups_chunk_header got = {1, 2, 3, 4, 5};
	const uint8_t *payload = (const uint8_t *)"sentinel";
	char err[UPS_ERRMSG_MAX] = "";

	assert_int_equal(
	    ups_chunk_decode(buf, len, &got, &payload, err, sizeof(err)), rv);
	assert_non_null(strstr(err, needle));
	/* Outputs untouched on failure. */
	assert_int_equal(got.upload_id, 2);
	assert_string_equal((const char *)payload, "sentinel");
}

static void test_truncated(void **state)
{
	const struct ups_chunk_header h = {0, 7, 0, 1, 0};
	uint8_t *buf = frame(&h, 1);
	size_t len;

	(void)state;
	for (len = 0; len < UPS_CHUNK_HEADER_SIZE; len++)
		expect_reject(buf, len, UPS_ERR_BAD_REQUEST,
		              "truncated header");
	/* Header alone: length says 1 but there is no payload. */
	expect_reject(buf, UPS_CHUNK_HEADER_SIZE, UPS_ERR_BAD_REQUEST,
	              "\"length\"");
	expect_reject(NULL, 0, UPS_ERR_BAD_REQUEST, "truncated header");
	free(buf);
}

static void test_bad_fields(void **state)
{
	struct ups_chunk_header h = {0, 7, 0, 3, 0};
	uint8_t *buf = frame(&h, 3);
	size_t len = UPS_CHUNK_HEADER_SIZE + 3;

	(void)state;
	buf[0] = 'u';
	expect_reject(buf, len, UPS_ERR_BAD_REQUEST, "magic");
	buf[0] = 'U';
	buf[3] = 'L';
	expect_reject(buf, len, UPS_ERR_BAD_REQUEST, "magic");
	free(buf);

	h.flags = 1;
	buf = frame(&h, 3);
	expect_reject(buf, len, UPS_ERR_BAD_REQUEST, "\"flags\"");
	free(buf);
	h.flags = 0x80000000u;
	buf = frame(&h, 3);
	expect_reject(buf, len, UPS_ERR_BAD_REQUEST, "\"flags\"");
	free(buf);
	h.flags = 0;

	h.upload_id = 0;
	buf = frame(&h, 3);
	expect_reject(buf, len, UPS_ERR_BAD_REQUEST, "\"upload-id\"");
	free(buf);
	/* Ids beyond 2^53 - 1 could not be echoed in JSON: refused, up to
	 * the largest, 2^64 - 1 (which a signed echo showed as -1). */
	h.upload_id = UPS_LIMIT_REQUEST_ID_MAX + 1;
	buf = frame(&h, 3);
	expect_reject(buf, len, UPS_ERR_BAD_REQUEST, "\"upload-id\"");
	free(buf);
	h.upload_id = UINT64_MAX;
	buf = frame(&h, 3);
	expect_reject(buf, len, UPS_ERR_BAD_REQUEST, "\"upload-id\"");
	free(buf);
	h.upload_id = UPS_LIMIT_REQUEST_ID_MAX;
	buf = frame(&h, 3);
	{
		struct ups_chunk_header got;
		const uint8_t *payload;
		char err[UPS_ERRMSG_MAX];

		assert_int_equal(ups_chunk_decode(buf, len, &got, &payload, err,
		                                  sizeof(err)),
		                 0);
		assert_int_equal(got.upload_id, UPS_LIMIT_REQUEST_ID_MAX);
	}
	free(buf);
	h.upload_id = 7;

	h.length = 0;
	buf = frame(&h, 0);
	expect_reject(buf, UPS_CHUNK_HEADER_SIZE, UPS_ERR_BAD_REQUEST,
	              "\"length\"");
	free(buf);

	/* Payload shorter and longer than the header says. */
	h.length = 4;
	buf = frame(&h, 5);
	expect_reject(buf, UPS_CHUNK_HEADER_SIZE + 3, UPS_ERR_BAD_REQUEST,
	              "\"length\"");
	expect_reject(buf, UPS_CHUNK_HEADER_SIZE + 5, UPS_ERR_BAD_REQUEST,
	              "\"length\"");
	free(buf);
}

static void test_size_limit(void **state)
{
	struct ups_chunk_header h = {0, 1, 0, UPS_LIMIT_CHUNK_PAYLOAD_MAX, 0};
	struct ups_chunk_header got;
	const uint8_t *payload;
	char err[UPS_ERRMSG_MAX];
	uint8_t *buf = frame(&h, UPS_LIMIT_CHUNK_PAYLOAD_MAX);

	(void)state;
	assert_int_equal(ups_chunk_decode(buf, UPS_LIMIT_BINARY_MSG_MAX, &got,
	                                  &payload, err, sizeof(err)),
	                 0);
	assert_int_equal(got.length, UPS_LIMIT_CHUNK_PAYLOAD_MAX);
	free(buf);

	/* One more byte is too large, whatever the actual message length. */
	h.length = UPS_LIMIT_CHUNK_PAYLOAD_MAX + 1;
	buf = frame(&h, 0);
	expect_reject(buf, UPS_CHUNK_HEADER_SIZE, UPS_ERR_TOO_LARGE,
	              "\"length\"");
	free(buf);
	h.length = UINT32_MAX;
	buf = frame(&h, 0);
	expect_reject(buf, UPS_CHUNK_HEADER_SIZE, UPS_ERR_TOO_LARGE,
	              "\"length\"");
	free(buf);
}

static void test_offset_overflow(void **state)
{
	struct ups_chunk_header h = {0, 1, UINT64_MAX - 2, 2, 0};
	struct ups_chunk_header got;
	char err[UPS_ERRMSG_MAX];
	uint8_t *buf = frame(&h, 3);

	(void)state;
	/* Last representable end: offset + length == UINT64_MAX. */
	assert_int_equal(ups_chunk_decode(buf, UPS_CHUNK_HEADER_SIZE + 2, &got,
	                                  NULL, err, sizeof(err)),
	                 0);
	assert_true(got.offset == UINT64_MAX - 2);
	free(buf);

	h.length = 3;
	h.offset = UINT64_MAX - 2;
	buf = frame(&h, 3);
	expect_reject(buf, UPS_CHUNK_HEADER_SIZE + 3, UPS_ERR_BAD_REQUEST,
	              "overflow");
	free(buf);
	h.offset = UINT64_MAX;
	h.length = 1;
	buf = frame(&h, 1);
	expect_reject(buf, UPS_CHUNK_HEADER_SIZE + 1, UPS_ERR_BAD_REQUEST,
	              "overflow");
	free(buf);
}

static void test_origin(void **state)
{
	const struct ups_chunk_header h = {0, 3, 0, 2, 0};
	struct ups_chunk_header got;
	char err[UPS_ERRMSG_MAX];
	uint8_t *buf = frame(&h, 2);
	uint8_t copy[UPS_CHUNK_HEADER_SIZE + 2];
	uint32_t origin = 1;

	(void)state;
	memcpy(copy, buf, sizeof(copy));
	assert_int_equal(ups_chunk_get_origin(buf, sizeof(copy), &origin), 0);
	assert_int_equal(origin, 0);
	assert_int_equal(ups_chunk_set_origin(buf, sizeof(copy), 0xA1B2C3D4),
	                 0);
	assert_int_equal(buf[28], 0xA1);
	assert_int_equal(buf[31], 0xD4);
	/* Only bytes 28..31 change. */
	assert_memory_equal(buf, copy, 28);
	assert_memory_equal(buf + 32, copy + 32, 2);
	assert_int_equal(ups_chunk_get_origin(buf, sizeof(copy), &origin), 0);
	assert_true(origin == 0xA1B2C3D4);
	assert_int_equal(
	    ups_chunk_decode(buf, sizeof(copy), &got, NULL, err, sizeof(err)),
	    0);
	assert_true(got.origin == 0xA1B2C3D4);
	/* Stripping restores the client's frame exactly. */
	assert_int_equal(ups_chunk_set_origin(buf, sizeof(copy), 0), 0);
	assert_memory_equal(buf, copy, sizeof(copy));

	assert_int_equal(ups_chunk_get_origin(buf, 31, &origin),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_chunk_set_origin(buf, 31, 5), UPS_ERR_BAD_REQUEST);
	assert_memory_equal(buf, copy, sizeof(copy));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_bad_fields),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_offset_overflow),
	    cmocka_unit_test(test_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
