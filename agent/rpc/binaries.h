/* The AgentBinaries facade (proto/PROTOCOL.md "AgentBinaries"): strict
 * parameter checks, then the upload engine (agent/ingest/upload.h) or
 * the store (agent/store/store.h) does the work, and this file turns
 * their results into answers and pushes: the only place the wire shape
 * of stored binaries and upload progress is built. It also takes the
 * chunk frames (binary messages) of logged-in clients. */
#ifndef UPSTAGE_AGENT_RPC_BINARIES_H
#define UPSTAGE_AGENT_RPC_BINARIES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/ingest/upload.h"
#include "agent/rpc/facade.h"
#include "agent/store/store.h"

struct binaries {
	struct upload_engine *uploads; /* borrowed */
	struct store *store;           /* borrowed */
	uint64_t max_size;             /* largest upload, bytes */
	struct rpc_facade facade;      /* "AgentBinaries" */
};

/* The events the upload engine tells owners (peers) through; give them
 * to upload_engine_open(). */
extern const struct upload_events binaries_upload_events;

/* Fills in b's facade (b's other fields set by the caller) so it can be
 * registered with dispatch_add(). */
void binaries_init(struct binaries *b);

/* Checks UploadBegin's params (borrowed) and fills *req: binary-version in
 * canonical form with a known release and arch, a known stream, size
 * 1..max_size, exactly one of sha256 (64 lowercase hex digits) and
 * upload-token (ups_upload_token_is_valid), optional force. 0,
 * UPS_ERR_BAD_REQUEST or UPS_ERR_TOO_LARGE (size above max_size), with
 * err naming the field. */
int binaries_parse_begin(const json_t *params, uint64_t max_size,
                         struct upload_begin_req *req, char *err,
                         size_t errlen);

/* Checks UploadCommit's params (borrowed): upload-id, optional sha256
 * (64 lowercase hex digits; "" into sha256 when absent). 0 or
 * UPS_ERR_BAD_REQUEST with err naming the field. */
int binaries_parse_commit(const json_t *params, uint64_t *id,
                          char sha256[UPS_SHA256_HEX_LEN + 1], char *err,
                          size_t errlen);

/* The stored-binary record of PROTOCOL.md (new reference, NULL on
 * allocation failure). b is borrowed. */
json_t *binaries_record_json(const struct catalog_binary *b);

#endif
