/* SHA-256 digest states; see digest.h. */
#include "proto/digest.h"

#include <stdint.h>

#include "proto/errors.h"

int ups_digest_peek_hex(const EVP_MD_CTX *md, char out[UPS_SHA256_HEX_LEN + 1])
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	int rv = 0;

	if (!copy)
		return UPS_ERR_NO_MEMORY;
	if (!EVP_MD_CTX_copy_ex(copy, md) ||
	    !EVP_DigestFinal_ex(copy, digest, &dlen) || dlen != 32)
		rv = UPS_ERR_INTERNAL;
	else
		ups_sha256_hex_encode(digest, out);
	EVP_MD_CTX_free(copy);
	return rv;
}
