/* Fuzzes ups_chunk_decode. Invariants (abort on violation): a decoded
 * header encodes back to the same 32 bytes; the payload is exactly the rest
 * of the message; origin can be rewritten and restored in place. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/chunk.h"
#include "proto/errors.h"
#include "proto/limits.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ups_chunk_header h, h2;
	const uint8_t *payload = NULL;
	uint8_t hdr[UPS_CHUNK_HEADER_SIZE];
	char err[UPS_ERRMSG_MAX];
	uint8_t *copy;
	uint32_t origin;
	int rv;

	err[0] = '\0';
	rv = ups_chunk_decode(data, size, &h, &payload, err, sizeof(err));
	if (rv != 0) {
		CHECK(rv == UPS_ERR_BAD_REQUEST || rv == UPS_ERR_TOO_LARGE);
		CHECK(err[0] != '\0');
		CHECK(payload == NULL);
		return 0;
	}
	CHECK(h.flags == 0 && h.upload_id != 0);
	CHECK(h.length >= 1 && h.length <= UPS_LIMIT_CHUNK_PAYLOAD_MAX);
	CHECK(size == UPS_CHUNK_HEADER_SIZE + (size_t)h.length);
	CHECK(payload == data + UPS_CHUNK_HEADER_SIZE);
	CHECK(h.offset + h.length >= h.offset);

	ups_chunk_encode_header(&h, hdr);
	CHECK(memcmp(hdr, data, UPS_CHUNK_HEADER_SIZE) == 0);

	/* The relay's stamp-and-strip leaves the frame otherwise intact. */
	copy = malloc(size);
	CHECK(copy != NULL);
	memcpy(copy, data, size);
	CHECK(ups_chunk_set_origin(copy, size, h.origin ^ 0xdeadbeef) == 0);
	CHECK(ups_chunk_get_origin(copy, size, &origin) == 0);
	CHECK(origin == (h.origin ^ 0xdeadbeef));
	CHECK(ups_chunk_decode(copy, size, &h2, NULL, err, sizeof(err)) == 0);
	CHECK(h2.origin == origin && h2.upload_id == h.upload_id &&
	      h2.offset == h.offset && h2.length == h.length);
	CHECK(ups_chunk_set_origin(copy, size, h.origin) == 0);
	CHECK(memcmp(copy, data, size) == 0);
	free(copy);
	return 0;
}
