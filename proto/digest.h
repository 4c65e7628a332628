/* SHA-256 digest states (OpenSSL EVP), as upstaged and the CLI both keep
 * them while bytes stream through: one EVP_MD_CTX per upload. */
#ifndef UPSTAGE_PROTO_DIGEST_H
#define UPSTAGE_PROTO_DIGEST_H

#include <openssl/evp.h>

#include "proto/binary.h"

/* The hex SHA-256 of what md (a SHA-256 state, borrowed) has seen so far,
 * into out, leaving md as it is: a copy of it is finished. So a digest of
 * a prefix can be told while the state goes on. 0, UPS_ERR_NO_MEMORY or
 * UPS_ERR_INTERNAL. Any thread (md must not change meanwhile). */
int ups_digest_peek_hex(const EVP_MD_CTX *md, char out[UPS_SHA256_HEX_LEN + 1]);

#endif
