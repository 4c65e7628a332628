/* The AgentBinaries facade (proto/PROTOCOL.md "AgentBinaries"): strict
 * parameter checks, then the upload engine (agent/upload.h) does the work
 * and answers. Handlers have the dispatch_fn shape (agent/dispatch.h). */
#ifndef UPSTAGE_AGENT_BINARIES_H
#define UPSTAGE_AGENT_BINARIES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/dispatch.h"
#include "agent/upload.h"

/* Checks UploadBegin's params (borrowed) and fills *req: binary-version in
 * canonical form with a known release and arch, a known stream, sha256 of
 * 64 lowercase hex digits, size 1..max_size, optional force. 0,
 * UPS_ERR_BAD_REQUEST or UPS_ERR_TOO_LARGE (size above max_size), with
 * err naming the field. */
int binaries_parse_begin(const json_t *params, uint64_t max_size,
                         struct upload_begin_req *req, char *err,
                         size_t errlen);

/* Whether s is one of the streams (released, proposed, devel, testing). */
bool binaries_stream_is_valid(const char *s);

/* Whether s is 64 lowercase hex digits. */
bool binaries_sha256_is_valid(const char *s);

/* Whether s is a binary version in canonical form ("2.9.1-ubuntu-amd64",
 * not "2.9.01-ubuntu-amd64"), with err saying why not. */
int binaries_check_binary_version(const char *s, char *err, size_t errlen);

int binaries_upload_begin(struct dispatch_ctx *ctx, struct peer *p,
                          const json_t *params, json_t **result, char *err,
                          size_t errlen);
int binaries_upload_commit(struct dispatch_ctx *ctx, struct peer *p,
                           const json_t *params, json_t **result, char *err,
                           size_t errlen);
int binaries_upload_abort(struct dispatch_ctx *ctx, struct peer *p,
                          const json_t *params, json_t **result, char *err,
                          size_t errlen);
int binaries_upload_status(struct dispatch_ctx *ctx, struct peer *p,
                           const json_t *params, json_t **result, char *err,
                           size_t errlen);
int binaries_list(struct dispatch_ctx *ctx, struct peer *p,
                  const json_t *params, json_t **result, char *err,
                  size_t errlen);
int binaries_delete(struct dispatch_ctx *ctx, struct peer *p,
                    const json_t *params, json_t **result, char *err,
                    size_t errlen);

#endif
