/* Fuzzes the params of AgentBinaries.UploadBegin and UploadCommit
 * (version 2: sha256 or upload-token, the digest at commit). The input is
 * parsed as JSON the way envelopes are (duplicates rejected); whatever the
 * checks accept must hold exactly what the protocol allows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/rpc/binaries.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/log.h"

#define FUZZ_MAX_SIZE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct upload_begin_req req;
	char err[UPS_ERRMSG_MAX], sha[UPS_SHA256_HEX_LEN + 1];
	json_error_t jerr;
	uint64_t id;
	json_t *params;

	ups_log_threshold = UPS_LOG_ERROR;
	params = json_loadb((const char *)data, size,
	                    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!json_is_object(params)) {
		json_decref(params);
		return 0;
	}
	if (binaries_parse_begin(params, FUZZ_MAX_SIZE, &req, err,
	                         sizeof(err)) == 0) {
		/* Exactly one of the digest and the token, each valid. */
		if (!req.sha256[0] == !req.token[0])
			abort();
		if (req.sha256[0] && !ups_sha256_hex_is_valid(req.sha256))
			abort();
		if (req.token[0] && !ups_upload_token_is_valid(req.token))
			abort();
		if (req.size < 1 || req.size > FUZZ_MAX_SIZE)
			abort();
		if (ups_binary_version_check(req.binary_version, NULL, err,
		                             sizeof(err)) != 0 ||
		    !ups_stream_is_valid(req.stream))
			abort();
	}
	if (binaries_parse_commit(params, &id, sha, err, sizeof(err)) == 0) {
		if (id < 1 || (sha[0] && !ups_sha256_hex_is_valid(sha)))
			abort();
	}
	json_decref(params);
	return 0;
}
