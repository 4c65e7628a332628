/* Fuzzes the CLI's reading of UploadBegin answers (AgentBinaries version
 * 2: status upload, exists or stored; prefix-sha256 when resuming). What
 * it accepts must be usable as is: an upload id and window, an offset
 * within the file and a digest exactly when resuming, or a stored record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contrib/cli/uploader.h"
#include "proto/binary.h"
#include "proto/log.h"

#define FUZZ_FILE_SIZE 1000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uploader_begun b;
	char err[256];
	json_error_t jerr;
	json_t *resp;

	ups_log_threshold = UPS_LOG_ERROR;
	resp = json_loadb((const char *)data, size,
	                  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (resp && uploader_parse_begun(resp, FUZZ_FILE_SIZE, &b, err,
	                                 sizeof(err)) == 0) {
		switch (b.kind) {
		case UPLOADER_BEGUN_UPLOAD:
			if (b.upload_id == 0 || b.window == 0 ||
			    b.offset > FUZZ_FILE_SIZE ||
			    (b.offset > 0) != (b.prefix_sha256[0] != '\0') ||
			    (b.prefix_sha256[0] &&
			     !ups_sha256_hex_is_valid(b.prefix_sha256)))
				abort();
			break;
		case UPLOADER_BEGUN_EXISTS:
		case UPLOADER_BEGUN_STORED:
			if (!ups_sha256_hex_is_valid(b.stored_sha256))
				abort();
			break;
		default:
			abort();
		}
	}
	json_decref(resp);
	return 0;
}
