/* Chunk frames: the fixed 32-byte big-endian header in front of every
 * upload payload. Decoding checks every field before the caller sees any
 * of them, so a bad frame never reaches the upload path. */
#include "proto/chunk.h"

#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/limits.h"

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

int ups_chunk_decode(const uint8_t *buf, size_t len,
                     struct ups_chunk_header *hdr, const uint8_t **payload,
                     char *err, size_t errlen)
{
	struct ups_chunk_header h;

	if (buf == NULL || len < UPS_CHUNK_HEADER_SIZE)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "chunk: truncated header (%zu of %d bytes)",
		                buf == NULL ? (size_t)0 : len,
		                UPS_CHUNK_HEADER_SIZE);
	if (memcmp(buf, UPS_CHUNK_MAGIC, 4) != 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "chunk: bad magic");

	h.flags = get_be32(buf + 4);
	h.upload_id = get_be64(buf + 8);
	h.offset = get_be64(buf + 16);
	h.length = get_be32(buf + 24);
	h.origin = get_be32(buf + UPS_CHUNK_ORIGIN_OFFSET);

	if (h.flags != 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "chunk: field \"flags\": must be 0");
	/* Upload ids travel in JSON too: they are JSON-safe integers. */
	if (h.upload_id == 0 || h.upload_id > UPS_LIMIT_REQUEST_ID_MAX)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "chunk: field \"upload-id\": must be 1..%llu",
		                (unsigned long long)UPS_LIMIT_REQUEST_ID_MAX);
	if (h.length == 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "chunk: field \"length\": must be > 0");
	if (h.length > UPS_LIMIT_CHUNK_PAYLOAD_MAX)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "chunk: field \"length\": %u exceeds %d",
		                h.length, UPS_LIMIT_CHUNK_PAYLOAD_MAX);
	if (h.length != len - UPS_CHUNK_HEADER_SIZE)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "chunk: field \"length\": %u but payload is "
		                "%zu bytes",
		                h.length, len - UPS_CHUNK_HEADER_SIZE);
	if (h.offset > UINT64_MAX - h.length)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "chunk: field \"offset\": offset + length "
		                "overflows");

	*hdr = h;
	if (payload != NULL)
		*payload = buf + UPS_CHUNK_HEADER_SIZE;
	return 0;
}

void ups_chunk_encode_header(const struct ups_chunk_header *hdr,
                             uint8_t out[UPS_CHUNK_HEADER_SIZE])
{
	memcpy(out, UPS_CHUNK_MAGIC, 4);
	put_be32(out + 4, hdr->flags);
	put_be64(out + 8, hdr->upload_id);
	put_be64(out + 16, hdr->offset);
	put_be32(out + 24, hdr->length);
	put_be32(out + UPS_CHUNK_ORIGIN_OFFSET, hdr->origin);
}

int ups_chunk_get_origin(const uint8_t *frame, size_t len, uint32_t *origin)
{
	if (frame == NULL || len < UPS_CHUNK_HEADER_SIZE)
		return UPS_ERR_BAD_REQUEST;
	*origin = get_be32(frame + UPS_CHUNK_ORIGIN_OFFSET);
	return 0;
}

int ups_chunk_set_origin(uint8_t *frame, size_t len, uint32_t origin)
{
	if (frame == NULL || len < UPS_CHUNK_HEADER_SIZE)
		return UPS_ERR_BAD_REQUEST;
	put_be32(frame + UPS_CHUNK_ORIGIN_OFFSET, origin);
	return 0;
}

/* The frame's bytes end exactly at the buffer's end for the largest frame,
 * and aligned_alloc wants a multiple of the alignment. */
_Static_assert(UPS_CHUNK_BUF_FRAME + UPS_LIMIT_BINARY_MSG_MAX ==
                   UPS_CHUNK_BUF_PAYLOAD + UPS_LIMIT_CHUNK_PAYLOAD_MAX,
               "a binary message is a header and the largest payload");
_Static_assert(UPS_LIMIT_CHUNK_PAYLOAD_MAX % UPS_CHUNK_BUF_ALIGN == 0,
               "frame buffers are whole multiples of the alignment");

size_t ups_chunk_buf_size(void)
{
	return UPS_CHUNK_BUF_PAYLOAD + UPS_LIMIT_CHUNK_PAYLOAD_MAX;
}

uint8_t *ups_chunk_buf_new(void)
{
	return aligned_alloc(UPS_CHUNK_BUF_ALIGN, ups_chunk_buf_size());
}
