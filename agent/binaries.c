/* AgentBinaries requests: parameter checks in front of the upload
 * engine. */
#include "agent/binaries.h"

#include <inttypes.h>
#include <string.h>

#include "proto/binary.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/limits.h"
#include "proto/version.h"

#define BINARIES_STREAM_NAME(id, name) name,
static const char *const binaries_streams[] = {
    UPS_STREAMS(BINARIES_STREAM_NAME)};
#undef BINARIES_STREAM_NAME

bool binaries_stream_is_valid(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(binaries_streams) / sizeof(binaries_streams[0]);
	     i++)
		if (strcmp(s, binaries_streams[i]) == 0)
			return true;
	return false;
}

bool binaries_sha256_is_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == UPS_SHA256_HEX_LEN;
}

int binaries_check_binary_version(const char *s, char *err, size_t errlen)
{
	struct ups_binary_version bv;
	char canon[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char detail[UPS_ERRMSG_MAX];

	detail[0] = '\0';
	if (ups_binary_version_parse(s, &bv, detail, sizeof(detail)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.binary-version\": %s",
		                detail[0] ? detail : "not a binary version");
	if (!ups_release_is_valid(bv.release) || !ups_arch_is_valid(bv.arch))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.binary-version\": unknown "
		                "release or arch");
	if (ups_binary_version_format(&bv, canon, sizeof(canon)) ||
	    strcmp(canon, s) != 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.binary-version\": not in "
		                "canonical form (%s)",
		                canon);
	return 0;
}

static int binaries_check_stream(const char *stream, char *err, size_t errlen)
{
	if (!binaries_stream_is_valid(stream))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.stream\": must be released, "
		                "proposed, devel or testing");
	return 0;
}

int binaries_parse_begin(const json_t *params, uint64_t max_size,
                         struct upload_begin_req *req, char *err, size_t errlen)
{
	const char *bv = NULL, *stream = NULL, *sha = NULL;
	int64_t size = 0;
	bool force = false;
	const struct ups_field fields[] = {
	    {"binary-version", UPS_FIELD_STRING, true, 1,
	     UPS_LIMIT_BINARY_VERSION_LEN, &bv},
	    {"stream", UPS_FIELD_STRING, true, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	    {"size", UPS_FIELD_INT, true, 0, INT64_MAX, &size},
	    {"sha256", UPS_FIELD_STRING, true, UPS_SHA256_HEX_LEN,
	     UPS_SHA256_HEX_LEN, &sha},
	    {"force", UPS_FIELD_BOOL, false, 0, 0, &force},
	};
	int rv;

	memset(req, 0, sizeof(*req));
	rv = ups_fields_unpack(params, "params", fields,
	                       sizeof(fields) / sizeof(fields[0]), err, errlen);
	if (rv)
		return rv;
	rv = binaries_check_binary_version(bv, err, errlen);
	if (rv)
		return rv;
	rv = binaries_check_stream(stream, err, errlen);
	if (rv)
		return rv;
	if (!binaries_sha256_is_valid(sha))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.sha256\": must be 64 lowercase "
		                "hex digits");
	if (size < 1)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.size\": must be at least 1");
	if ((uint64_t)size > max_size)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "field \"params.size\": %" PRId64
		                " bytes is more than max-upload-size (%" PRIu64
		                ")",
		                size, max_size);
	snprintf(req->binary_version, sizeof(req->binary_version), "%s", bv);
	snprintf(req->stream, sizeof(req->stream), "%s", stream);
	snprintf(req->sha256, sizeof(req->sha256), "%s", sha);
	req->size = (uint64_t)size;
	req->force = force;
	return 0;
}

static int binaries_engine(struct dispatch_ctx *ctx, char *err, size_t errlen)
{
	if (!ctx->uploads)
		return ups_errf(UPS_ERR_UNAVAILABLE, err, errlen,
		                "uploads are not available");
	return 0;
}

static int binaries_upload_id(const json_t *params, uint64_t *id, char *err,
                              size_t errlen)
{
	int64_t v = 0;
	const struct ups_field fields[] = {
	    {"upload-id", UPS_FIELD_INT, true, 1,
	     (int64_t)UPS_LIMIT_REQUEST_ID_MAX, &v},
	};
	int rv = ups_fields_unpack(params, "params", fields, 1, err, errlen);

	*id = (uint64_t)v;
	return rv;
}

int binaries_upload_begin(struct dispatch_ctx *ctx, struct peer *p,
                          const json_t *params, json_t **result, char *err,
                          size_t errlen)
{
	struct upload_begin_req req;
	int rv;

	(void)result;
	rv = binaries_engine(ctx, err, errlen);
	if (!rv)
		rv = binaries_parse_begin(params, ctx->uploads->cfg.max_size,
		                          &req, err, errlen);
	if (rv)
		return rv;
	upload_begin(ctx->uploads, p, ctx->request_id, &req);
	return DISPATCH_DEFERRED;
}

/* Commit and Abort: {"upload-id"} handed to the engine, which answers. */
static int binaries_deferred_by_id(
    struct dispatch_ctx *ctx, struct peer *p, const json_t *params,
    void (*op)(struct upload_engine *, struct peer *, uint64_t, uint64_t),
    char *err, size_t errlen)
{
	uint64_t id;
	int rv;

	rv = binaries_engine(ctx, err, errlen);
	if (!rv)
		rv = binaries_upload_id(params, &id, err, errlen);
	if (rv)
		return rv;
	op(ctx->uploads, p, ctx->request_id, id);
	return DISPATCH_DEFERRED;
}

int binaries_upload_commit(struct dispatch_ctx *ctx, struct peer *p,
                           const json_t *params, json_t **result, char *err,
                           size_t errlen)
{
	(void)result;
	return binaries_deferred_by_id(ctx, p, params, upload_commit, err,
	                               errlen);
}

int binaries_upload_abort(struct dispatch_ctx *ctx, struct peer *p,
                          const json_t *params, json_t **result, char *err,
                          size_t errlen)
{
	(void)result;
	return binaries_deferred_by_id(ctx, p, params, upload_abort, err,
	                               errlen);
}

int binaries_upload_status(struct dispatch_ctx *ctx, struct peer *p,
                           const json_t *params, json_t **result, char *err,
                           size_t errlen)
{
	uint64_t id;
	int rv;

	rv = binaries_engine(ctx, err, errlen);
	if (!rv)
		rv = binaries_upload_id(params, &id, err, errlen);
	if (rv)
		return rv;
	rv = upload_status(ctx->uploads, p, id, result);
	if (rv == UPS_ERR_NOT_FOUND)
		return ups_errf(rv, err, errlen, "no upload %" PRIu64, id);
	return rv;
}

int binaries_list(struct dispatch_ctx *ctx, struct peer *p,
                  const json_t *params, json_t **result, char *err,
                  size_t errlen)
{
	const char *stream = NULL;
	const struct ups_field fields[] = {
	    {"stream", UPS_FIELD_STRING, false, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	};
	int rv;

	(void)result;
	rv = binaries_engine(ctx, err, errlen);
	if (!rv)
		rv =
		    ups_fields_unpack(params, "params", fields, 1, err, errlen);
	if (!rv && stream)
		rv = binaries_check_stream(stream, err, errlen);
	if (rv)
		return rv;
	upload_list(ctx->uploads, p, ctx->request_id, stream);
	return DISPATCH_DEFERRED;
}

int binaries_delete(struct dispatch_ctx *ctx, struct peer *p,
                    const json_t *params, json_t **result, char *err,
                    size_t errlen)
{
	const char *bv = NULL;
	const char *stream = "released";
	const struct ups_field fields[] = {
	    {"binary-version", UPS_FIELD_STRING, true, 1,
	     UPS_LIMIT_BINARY_VERSION_LEN, &bv},
	    {"stream", UPS_FIELD_STRING, false, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	};
	int rv;

	(void)result;
	rv = binaries_engine(ctx, err, errlen);
	if (!rv)
		rv =
		    ups_fields_unpack(params, "params", fields, 2, err, errlen);
	if (!rv)
		rv = binaries_check_binary_version(bv, err, errlen);
	if (!rv)
		rv = binaries_check_stream(stream, err, errlen);
	if (rv)
		return rv;
	upload_delete(ctx->uploads, p, ctx->request_id, stream, bv);
	return DISPATCH_DEFERRED;
}
