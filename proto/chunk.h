/* Chunk frames: one websocket binary message carries one chunk of an
 * upload. A fixed 32-byte big-endian header, then the payload:
 *
 *   0  magic      4  "UPCK" (0x55 0x50 0x43 0x4b)
 *   4  flags      4  must be 0
 *   8  upload id  8  from UploadBegin, > 0
 *  16  offset     8  byte offset of the payload in the file
 *  24  length     4  payload length, 1..UPS_LIMIT_CHUNK_PAYLOAD_MAX
 *  28  origin     4  0 from clients; the relay's connection id on the
 *                    controller link
 *  32  payload
 */
#ifndef UPSTAGE_PROTO_CHUNK_H
#define UPSTAGE_PROTO_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define UPS_CHUNK_HEADER_SIZE 32
#define UPS_CHUNK_MAGIC "UPCK"
#define UPS_CHUNK_ORIGIN_OFFSET 28

struct ups_chunk_header {
	uint32_t flags;
	uint64_t upload_id;
	uint64_t offset;
	uint32_t length;
	uint32_t origin;
};

/* Decodes a whole binary message of len bytes. The payload must be exactly
 * hdr->length bytes; offset + length must not overflow. *payload points
 * into buf (borrowed). Returns 0, UPS_ERR_BAD_REQUEST or UPS_ERR_TOO_LARGE
 * with err saying which field is wrong. */
int ups_chunk_decode(const uint8_t *buf, size_t len,
		     struct ups_chunk_header *hdr, const uint8_t **payload,
		     char *err, size_t errlen);

/* Writes the 32-byte header for hdr into out. */
void ups_chunk_encode_header(const struct ups_chunk_header *hdr,
			     uint8_t out[UPS_CHUNK_HEADER_SIZE]);

/* Reads or rewrites the origin field of an encoded frame of len bytes
 * (the relay stamps and strips it in place). Return 0 or
 * UPS_ERR_BAD_REQUEST if len is shorter than a header. */
int ups_chunk_get_origin(const uint8_t *frame, size_t len, uint32_t *origin);
int ups_chunk_set_origin(uint8_t *frame, size_t len, uint32_t origin);

/* A frame buffer holds one chunk frame laid out for direct I/O: the frame
 * starts at UPS_CHUNK_BUF_FRAME, UPS_CHUNK_HEADER_SIZE bytes before
 * UPS_CHUNK_BUF_PAYLOAD, so the payload is aligned to UPS_CHUNK_BUF_ALIGN.
 * A receiver gathers a frame in one, and the upload engine takes the
 * buffer in exchange for another instead of copying the payload. */
#define UPS_CHUNK_BUF_ALIGN 4096
#define UPS_CHUNK_BUF_PAYLOAD UPS_CHUNK_BUF_ALIGN
#define UPS_CHUNK_BUF_FRAME (UPS_CHUNK_BUF_PAYLOAD - UPS_CHUNK_HEADER_SIZE)

/* Bytes in a frame buffer: room for the largest frame. */
size_t ups_chunk_buf_size(void);

/* A new frame buffer of ups_chunk_buf_size() bytes aligned to
 * UPS_CHUNK_BUF_ALIGN, or NULL when out of memory; free() it. */
uint8_t *ups_chunk_buf_new(void);

#endif
