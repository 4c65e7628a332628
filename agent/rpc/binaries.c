/* AgentBinaries: parameter checks, answers and pushes. */
#include "agent/rpc/binaries.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "agent/rpc/reply.h"
#include "proto/binary.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/limits.h"

/* A field naming a binary version: canonical, known release and arch;
 * err names the field. */
static int binaries_check_bv(const char *field, const char *s, char *err,
                             size_t errlen)
{
	char detail[UPS_LIMIT_ERROR_TEXT_LEN + 1];

	detail[0] = '\0';
	if (ups_binary_version_check(s, NULL, detail, sizeof(detail)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"%s\": %s", field,
		                detail[0] ? detail : "not a binary version");
	return 0;
}

/* A field naming a stream. */
static int binaries_check_stream(const char *field, const char *stream,
                                 char *err, size_t errlen)
{
	if (!ups_stream_is_valid(stream))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"%s\": must be " UPS_STREAM_NAMES_TEXT,
		                field);
	return 0;
}

int binaries_parse_begin(const json_t *params, uint64_t max_size,
                         struct upload_begin_req *req, char *err, size_t errlen)
{
	const char *bv = NULL, *stream = NULL, *sha = NULL, *token = NULL;
	int64_t size = 0;
	bool force = false;
	const struct ups_field fields[] = {
	    {"binary-version", UPS_FIELD_STRING, true, 1,
	     UPS_LIMIT_BINARY_VERSION_LEN, &bv},
	    {"stream", UPS_FIELD_STRING, true, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	    {"size", UPS_FIELD_INT, true, 0, INT64_MAX, &size},
	    {"sha256", UPS_FIELD_STRING, false, UPS_SHA256_HEX_LEN,
	     UPS_SHA256_HEX_LEN, &sha},
	    {"upload-token", UPS_FIELD_STRING, false, 1,
	     UPS_LIMIT_UPLOAD_TOKEN_LEN, &token},
	    {"force", UPS_FIELD_BOOL, false, 0, 0, &force},
	};
	int rv;

	memset(req, 0, sizeof(*req));
	rv = ups_fields_unpack(params, "params", fields,
	                       sizeof(fields) / sizeof(fields[0]), err, errlen);
	if (rv)
		return rv;
	rv = binaries_check_bv("params.binary-version", bv, err, errlen);
	if (rv)
		return rv;
	rv = binaries_check_stream("params.stream", stream, err, errlen);
	if (rv)
		return rv;
	if (!sha == !token)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "params: give exactly one of \"sha256\" (the "
		                "digest, declared now) and \"upload-token\" "
		                "(the digest follows with UploadCommit)");
	if (sha && !ups_sha256_hex_is_valid(sha))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.sha256\": must be 64 lowercase "
		                "hex digits");
	if (token && !ups_upload_token_is_valid(token))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.upload-token\": must be %d to "
		                "%d of [A-Za-z0-9_-]",
		                UPS_LIMIT_UPLOAD_TOKEN_MIN,
		                UPS_LIMIT_UPLOAD_TOKEN_LEN);
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
	snprintf(req->sha256, sizeof(req->sha256), "%s", sha ? sha : "");
	snprintf(req->token, sizeof(req->token), "%s", token ? token : "");
	req->size = (uint64_t)size;
	req->force = force;
	return 0;
}

json_t *binaries_record_json(const struct catalog_binary *b)
{
	struct ups_binary_version bv;
	char version[UPS_LIMIT_VERSION_LEN + 1];
	char when[32];
	struct tm tm;
	time_t t = (time_t)b->stored_at;

	if (ups_binary_version_parse(b->binary_version, &bv, NULL, 0) ||
	    ups_version_format(&bv.version, version, sizeof(version)))
		return NULL;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
	                 "binary-version", b->binary_version, "version",
	                 version, "release", bv.release, "arch", bv.arch,
	                 "stream", b->stream, "size", (json_int_t)b->size,
	                 "sha256", b->sha256, "stored-at", when);
}

/* Pushes to the owner of an upload (a peer). */

static void binaries_on_ack(void *owner, uint64_t upload_id, uint64_t offset,
                            uint64_t durable, uint64_t window)
{
	json_t *params = json_pack(
	    "{s:I, s:I, s:I, s:I}", "upload-id", (json_int_t)upload_id,
	    "offset", (json_int_t)offset, "durable-offset", (json_int_t)durable,
	    "window", (json_int_t)window);

	if (params)
		(void)reply_push(owner, "AgentBinaries", "UploadAck", params);
}

static void binaries_on_error(void *owner, uint64_t upload_id, int code,
                              const char *text, const uint64_t *expected)
{
	json_t *params =
	    json_pack("{s:I, s:s, s:s}", "upload-id", (json_int_t)upload_id,
	              "error", text && *text ? text : ups_err_message(code),
	              "error-code", ups_err_code(code));

	if (!params)
		return;
	if (expected &&
	    json_object_set_new(params, "expected-offset",
	                        json_integer((json_int_t)*expected))) {
		json_decref(params);
		return;
	}
	(void)reply_push(owner, "AgentBinaries", "UploadError", params);
}

static void binaries_on_pause(void *owner, bool pause)
{
	peer_rx_pause(owner, pause ? 1 : 0);
}

const struct upload_events binaries_upload_events = {
    .ack = binaries_on_ack,
    .error = binaries_on_error,
    .pause = binaries_on_pause,
};

/* Answers of the engine and the store. */

static json_t *binaries_begun_json(const struct upload_begun *res)
{
	json_t *rec, *answer;

	if (!res->exists && !res->stored) {
		answer = json_pack("{s:s, s:I, s:I, s:I}", "status", "upload",
		                   "upload-id", (json_int_t)res->upload_id,
		                   "offset", (json_int_t)res->offset, "window",
		                   (json_int_t)res->window);
		if (answer && res->prefix_sha256[0] &&
		    json_object_set_new(answer, "prefix-sha256",
		                        json_string(res->prefix_sha256))) {
			json_decref(answer);
			answer = NULL;
		}
		return answer;
	}
	rec = binaries_record_json(&res->binary);
	return rec ? json_pack("{s:s, s:o}", "status",
	                       res->exists ? "exists" : "stored", "binary", rec)
	           : NULL;
}

static void binaries_begun(void *data, int rv, const char *err,
                           const struct upload_begun *res)
{
	json_t *answer = NULL;

	if (!rv) {
		answer = binaries_begun_json(res);
		if (!answer)
			rv = UPS_ERR_NO_MEMORY;
	}
	reply_finish(data, rv, err, answer, NULL);
}

static void binaries_stored(void *data, int rv, const char *err,
                            const struct catalog_binary *stored)
{
	json_t *answer = NULL, *rec;

	if (!rv) {
		rec = binaries_record_json(stored);
		answer = rec ? json_pack("{s:o}", "binary", rec) : NULL;
		if (!answer)
			rv = UPS_ERR_NO_MEMORY;
	}
	reply_finish(data, rv, err, answer, NULL);
}

_Static_assert(UPS_LIMIT_LIST_PAGE *UPS_LIMIT_BINARY_RECORD_JSON + 1024 <=
                   UPS_LIMIT_TEXT_MSG_MAX,
               "a page of List must fit in one text message");

/* {"binaries": [...], "next": {"stream", "binary-version"}}; next only
 * when more follow. */
static void binaries_listed(void *data, int rv, const char *err,
                            const struct catalog_binary *list, size_t n,
                            bool more)
{
	json_t *arr = NULL, *answer = NULL;

	if (!rv) {
		arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			if (json_array_append_new(
			        arr, binaries_record_json(&list[i]))) {
				json_decref(arr);
				arr = NULL;
			}
		answer = arr ? json_pack("{s:o}", "binaries", arr) : NULL;
		if (answer && more && n > 0 &&
		    json_object_set_new(
		        answer, "next",
		        json_pack("{s:s, s:s}", "stream", list[n - 1].stream,
		                  "binary-version",
		                  list[n - 1].binary_version))) {
			json_decref(answer);
			answer = NULL;
		}
		if (!answer)
			rv = UPS_ERR_NO_MEMORY;
	}
	reply_finish(data, rv, err, answer, NULL);
}

static void binaries_deleted(void *data, int rv, const char *err,
                             const struct catalog_binary *b)
{
	(void)b;
	reply_finish(data, rv, err, NULL, NULL);
}

/* Requests. */

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

int binaries_parse_commit(const json_t *params, uint64_t *id,
                          char sha256[UPS_SHA256_HEX_LEN + 1], char *err,
                          size_t errlen)
{
	int64_t v = 0;
	const char *sha = NULL;
	const struct ups_field fields[] = {
	    {"upload-id", UPS_FIELD_INT, true, 1,
	     (int64_t)UPS_LIMIT_REQUEST_ID_MAX, &v},
	    {"sha256", UPS_FIELD_STRING, false, UPS_SHA256_HEX_LEN,
	     UPS_SHA256_HEX_LEN, &sha},
	};
	int rv = ups_fields_unpack(params, "params", fields, 2, err, errlen);

	if (rv)
		return rv;
	if (sha && !ups_sha256_hex_is_valid(sha))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.sha256\": must be 64 lowercase "
		                "hex digits");
	*id = (uint64_t)v;
	snprintf(sha256, UPS_SHA256_HEX_LEN + 1, "%s", sha ? sha : "");
	return 0;
}

/* A reply to finish later, or UPS_ERR_NO_MEMORY. */
static int binaries_defer(const struct rpc_request *req, struct reply **r,
                          char *err, size_t errlen)
{
	*r = reply_defer(req->peer, req->request_id);
	if (!*r)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	return 0;
}

/* What a handler returns once it started an operation that finishes r:
 * RPC_DEFERRED; or, when the operation refused at once (rv), the reply
 * goes and the refusal is the handler's answer. */
static int binaries_started(struct reply *r, int rv, char *err, size_t errlen)
{
	if (rv == 0)
		return RPC_DEFERRED;
	reply_cancel(r);
	return ups_errf(rv, err, errlen, "%s", ups_err_message(rv));
}

static int binaries_upload_begin(void *state, const struct rpc_request *req,
                                 json_t **result, json_t **info, char *err,
                                 size_t errlen)
{
	struct binaries *b = state;
	struct upload_begin_req ureq;
	struct upload_begun now;
	struct reply *r;
	int rv;

	rv = binaries_parse_begin(req->params, b->max_size, &ureq, err, errlen);
	if (rv)
		return rv;
	/* The owner asks again: tell it where it stands. */
	if (upload_find_own(b->uploads, req->peer, &ureq, &now) == 0) {
		*result = binaries_begun_json(&now);
		return *result ? 0 : UPS_ERR_NO_MEMORY;
	}
	rv = binaries_defer(req, &r, err, errlen);
	if (rv)
		return rv;
	rv = upload_begin(b->uploads, req->peer, &ureq, binaries_begun, r, err,
	                  errlen);
	if (rv == 0)
		return RPC_DEFERRED;
	/* Refused at once: the reply goes, err says why. */
	reply_cancel(r);
	if (rv == UPS_ERR_CONFLICT)
		*info = json_pack("{s:s}", "reason", "upload in progress");
	return rv;
}

static int binaries_upload_commit(void *state, const struct rpc_request *req,
                                  json_t **result, json_t **info, char *err,
                                  size_t errlen)
{
	struct binaries *b = state;
	char sha[UPS_SHA256_HEX_LEN + 1];
	struct reply *r;
	uint64_t id;
	int rv;

	(void)result;
	(void)info;
	rv = binaries_parse_commit(req->params, &id, sha, err, errlen);
	if (!rv)
		rv = binaries_defer(req, &r, err, errlen);
	if (rv)
		return rv;
	rv = upload_commit(b->uploads, req->peer, id, sha[0] ? sha : NULL,
	                   binaries_stored, r, err, errlen);
	if (rv) {
		/* Refused at once: the reply goes, err says why. */
		reply_cancel(r);
		return rv;
	}
	return RPC_DEFERRED;
}

static int binaries_upload_abort(void *state, const struct rpc_request *req,
                                 json_t **result, json_t **info, char *err,
                                 size_t errlen)
{
	struct binaries *b = state;
	uint64_t id;
	int rv;

	(void)info;
	rv = binaries_upload_id(req->params, &id, err, errlen);
	if (rv)
		return rv;
	rv = upload_abort(b->uploads, req->peer, id);
	if (rv)
		return ups_errf(rv, err, errlen,
		                "no such upload, or not this connection's");
	*result = json_object();
	return *result ? 0 : UPS_ERR_NO_MEMORY;
}

static int binaries_upload_status(void *state, const struct rpc_request *req,
                                  json_t **result, json_t **info, char *err,
                                  size_t errlen)
{
	struct binaries *b = state;
	struct upload_info ui;
	uint64_t id;
	int rv;

	(void)info;
	rv = binaries_upload_id(req->params, &id, err, errlen);
	if (rv)
		return rv;
	rv = upload_status(b->uploads, id, &ui);
	if (rv)
		return ups_errf(rv, err, errlen, "no upload %" PRIu64, id);
	*result = json_pack(
	    "{s:I, s:s, s:s, s:I, s:I, s:I, s:s}", "upload-id",
	    (json_int_t)ui.upload_id, "binary-version", ui.binary_version,
	    "stream", ui.stream, "size", (json_int_t)ui.size, "offset",
	    (json_int_t)ui.offset, "durable-offset", (json_int_t)ui.durable,
	    "state", upload_state_name(ui.state));
	/* The digest only when it was declared: a token names the others,
	 * and is not shown to other connections. */
	if (*result && ui.sha256[0] &&
	    json_object_set_new(*result, "sha256", json_string(ui.sha256))) {
		json_decref(*result);
		*result = NULL;
	}
	return *result ? 0 : UPS_ERR_NO_MEMORY;
}

/* List {stream?, after?: {stream, binary-version}, limit?}: one page. */
static int binaries_list(void *state, const struct rpc_request *req,
                         json_t **result, json_t **info, char *err,
                         size_t errlen)
{
	struct binaries *b = state;
	const char *stream = NULL, *after_stream = NULL, *after_bv = NULL;
	json_t *after = NULL;
	int64_t limit = UPS_LIMIT_LIST_PAGE;
	const struct ups_field fields[] = {
	    {"stream", UPS_FIELD_STRING, false, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	    {"after", UPS_FIELD_OBJECT, false, 0, 0, &after},
	    {"limit", UPS_FIELD_INT, false, 1, UPS_LIMIT_LIST_PAGE, &limit},
	};
	const struct ups_field cursor_fields[] = {
	    {"stream", UPS_FIELD_STRING, true, 1, UPS_LIMIT_STREAM_LEN,
	     &after_stream},
	    {"binary-version", UPS_FIELD_STRING, true, 1,
	     UPS_LIMIT_BINARY_VERSION_LEN, &after_bv},
	};
	struct store_cursor cursor;
	struct reply *r;
	int rv;

	(void)result;
	(void)info;
	rv = ups_fields_unpack(req->params, "params", fields, 3, err, errlen);
	if (!rv && stream)
		rv =
		    binaries_check_stream("params.stream", stream, err, errlen);
	if (!rv && after)
		rv = ups_fields_unpack(after, "params.after", cursor_fields, 2,
		                       err, errlen);
	if (!rv && after)
		rv = binaries_check_stream("params.after.stream", after_stream,
		                           err, errlen);
	if (!rv && after)
		rv = binaries_check_bv("params.after.binary-version", after_bv,
		                       err, errlen);
	if (!rv)
		rv = binaries_defer(req, &r, err, errlen);
	if (rv)
		return rv;
	if (after) {
		snprintf(cursor.stream, sizeof(cursor.stream), "%s",
		         after_stream);
		snprintf(cursor.binary_version, sizeof(cursor.binary_version),
		         "%s", after_bv);
	}
	rv = store_list(b->store, stream, after ? &cursor : NULL, (size_t)limit,
	                binaries_listed, r);
	return binaries_started(r, rv, err, errlen);
}

static int binaries_delete(void *state, const struct rpc_request *req,
                           json_t **result, json_t **info, char *err,
                           size_t errlen)
{
	struct binaries *b = state;
	const char *bv = NULL;
	const char *stream = ups_stream_name(UPS_STREAM_RELEASED);
	const struct ups_field fields[] = {
	    {"binary-version", UPS_FIELD_STRING, true, 1,
	     UPS_LIMIT_BINARY_VERSION_LEN, &bv},
	    {"stream", UPS_FIELD_STRING, false, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	};
	struct reply *r;
	int rv;

	(void)result;
	(void)info;
	rv = ups_fields_unpack(req->params, "params", fields, 2, err, errlen);
	if (!rv)
		rv =
		    binaries_check_bv("params.binary-version", bv, err, errlen);
	if (!rv)
		rv =
		    binaries_check_stream("params.stream", stream, err, errlen);
	if (!rv)
		rv = binaries_defer(req, &r, err, errlen);
	if (rv)
		return rv;
	rv = store_delete(b->store, stream, bv, binaries_deleted, r);
	return binaries_started(r, rv, err, errlen);
}

/* Chunk frames and departing peers. */

static void binaries_chunk(void *state, struct peer *p, const uint8_t *data,
                           size_t len, uint8_t **frame_buf)
{
	struct binaries *b = state;
	struct ups_chunk_header hdr;
	const uint8_t *payload;
	char err[UPS_ERRMSG_MAX];
	int rv;

	err[0] = '\0';
	rv = ups_chunk_decode(data, len, &hdr, &payload, err, sizeof(err));
	if (rv) {
		reply_push_error(p, UPS_ENV_MALFORMED_REQUEST, rv, err);
		return;
	}
	upload_chunk(b->uploads, p, &hdr, payload, frame_buf);
}

static void binaries_peer_gone(void *state, struct peer *p)
{
	struct binaries *b = state;

	upload_owner_gone(b->uploads, p);
}

static const struct rpc_method binaries_methods[] = {
    {"UploadBegin", RPC_ROLE(UPS_ROLE_CLIENT), binaries_upload_begin},
    {"UploadCommit", RPC_ROLE(UPS_ROLE_CLIENT), binaries_upload_commit},
    {"UploadAbort", RPC_ROLE(UPS_ROLE_CLIENT), binaries_upload_abort},
    {"UploadStatus", RPC_ROLE(UPS_ROLE_CLIENT), binaries_upload_status},
    {"List", RPC_ROLE(UPS_ROLE_CLIENT), binaries_list},
    {"Delete", RPC_ROLE(UPS_ROLE_CLIENT), binaries_delete},
};

void binaries_init(struct binaries *b)
{
	b->facade = RPC_FACADE(UPS_FACADE_AGENT_BINARIES, binaries_methods, b);
	b->facade.version = UPS_FACADE_AGENT_BINARIES_VERSION;
	b->facade.binary = binaries_chunk;
	b->facade.peer_gone = binaries_peer_gone;
}
