/* The AgentBinaries facade: strict parameter checks, and the whole
 * request path (dispatcher -> facade -> upload engine / store -> answer)
 * on a real loop with the store-fs plugin, through a peer that records
 * the envelopes it is sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "agent/rpc/binaries.h"
#include "agent/rpc/dispatch.h"
#include "proto/chunk.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TOKEN_A "tok-0123456789abcdef_XYZ"

static int parse(const char *json, struct upload_begin_req *req)
{
	char err[UPS_ERRMSG_MAX];
	json_t *params = json_loads(json, 0, NULL);
	int rv;

	assert_non_null(params);
	rv = binaries_parse_begin(params, 1000, req, err, sizeof(err));
	json_decref(params);
	return rv;
}

static void test_parse_begin(void **state)
{
	struct upload_begin_req req;

	(void)state;
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"released\",\"size\":10,"
	                       "\"sha256\":\"" SHA_A "\"}",
	                       &req),
	                 0);
	assert_string_equal(req.binary_version, "2.9.1-ubuntu-amd64");
	assert_int_equal(req.size, 10);
	assert_false(req.force);
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"devel\",\"size\":1000,"
	                       "\"sha256\":\"" SHA_A "\",\"force\":true}",
	                       &req),
	                 0);
	assert_true(req.force);
	/* size */
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"released\",\"size\":1001,"
	                       "\"sha256\":\"" SHA_A "\"}",
	                       &req),
	                 UPS_ERR_TOO_LARGE);
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"released\",\"size\":0,"
	                       "\"sha256\":\"" SHA_A "\"}",
	                       &req),
	                 UPS_ERR_BAD_REQUEST);
	/* names */
	const char *bad_bv[] = {"2.09.1-ubuntu-amd64",
	                        "../x-ubuntu-amd64",
	                        "2.9.1-ubuntu-amd64/..",
	                        "2.9.1-ubuntu-sparc",
	                        "2.9.1-Ubuntu-amd64",
	                        "2.9.1",
	                        ""};
	for (size_t i = 0; i < sizeof(bad_bv) / sizeof(bad_bv[0]); i++) {
		char buf[512];

		snprintf(buf, sizeof(buf),
		         "{\"binary-version\":\"%s\",\"stream\":\"released\","
		         "\"size\":1,\"sha256\":\"" SHA_A "\"}",
		         bad_bv[i]);
		assert_int_equal(parse(buf, &req), UPS_ERR_BAD_REQUEST);
	}
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"../x\",\"size\":1,"
	                       "\"sha256\":\"" SHA_A "\"}",
	                       &req),
	                 UPS_ERR_BAD_REQUEST);
	/* uppercase hex, short hex, unknown key */
	assert_int_equal(
	    parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	          "\"stream\":\"released\",\"size\":1,\"sha256\":"
	          "\"0123456789ABCDEF0123456789abcdef0123456789abcdef01234567"
	          "89abcdef\"}",
	          &req),
	    UPS_ERR_BAD_REQUEST);
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"released\",\"size\":1,"
	                       "\"sha256\":\"0123\"}",
	                       &req),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"released\",\"size\":1,"
	                       "\"sha256\":\"" SHA_A "\",\"x\":1}",
	                       &req),
	                 UPS_ERR_BAD_REQUEST);
	/* Version 2: a token instead of the digest; exactly one of them. */
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"released\",\"size\":1,"
	                       "\"upload-token\":\"" TOKEN_A "\"}",
	                       &req),
	                 0);
	assert_string_equal(req.token, TOKEN_A);
	assert_string_equal(req.sha256, "");
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"released\",\"size\":1,"
	                       "\"sha256\":\"" SHA_A "\","
	                       "\"upload-token\":\"" TOKEN_A "\"}",
	                       &req),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(parse("{\"binary-version\":\"2.9.1-ubuntu-amd64\","
	                       "\"stream\":\"released\",\"size\":1}",
	                       &req),
	                 UPS_ERR_BAD_REQUEST);
	const char *bad_tokens[] = {
	    "short", "with space 0123456789", "../../etc/passwd-xxxx",
	    "tok\\u00e9n-0123456789abcdef",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4",
	    ""};
	for (size_t i = 0; i < sizeof(bad_tokens) / sizeof(bad_tokens[0]);
	     i++) {
		char buf[512];

		snprintf(buf, sizeof(buf),
		         "{\"binary-version\":\"2.9.1-ubuntu-amd64\","
		         "\"stream\":\"released\",\"size\":1,"
		         "\"upload-token\":\"%s\"}",
		         bad_tokens[i]);
		if (parse(buf, &req) != UPS_ERR_BAD_REQUEST)
			fail_msg("token \"%s\" accepted", bad_tokens[i]);
	}
}

static int parse_commit(const char *text, uint64_t *id, char *sha)
{
	json_error_t jerr;
	json_t *params = json_loads(text, 0, &jerr);
	char err[UPS_ERRMSG_MAX];
	int rv;

	assert_non_null(params);
	rv = binaries_parse_commit(params, id, sha, err, sizeof(err));
	json_decref(params);
	return rv;
}

/* UploadCommit: the digest is optional here (the engine decides whether
 * it is needed), and checked when given. */
static void test_parse_commit(void **state)
{
	char sha[UPS_SHA256_HEX_LEN + 1];
	uint64_t id = 0;

	(void)state;
	assert_int_equal(parse_commit("{\"upload-id\":7}", &id, sha), 0);
	assert_int_equal(id, 7);
	assert_string_equal(sha, "");
	assert_int_equal(
	    parse_commit("{\"upload-id\":7,\"sha256\":\"" SHA_A "\"}", &id,
	                 sha),
	    0);
	assert_string_equal(sha, SHA_A);
	assert_int_equal(
	    parse_commit("{\"upload-id\":7,\"sha256\":\"ABC\"}", &id, sha),
	    UPS_ERR_BAD_REQUEST);
	assert_int_equal(parse_commit("{\"upload-id\":7,\"sha256\":"
	                              "\"0123456789ABCDEF0123456789abcdef"
	                              "0123456789abcdef0123456789abcdef\"}",
	                              &id, sha),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(parse_commit("{\"upload-id\":0}", &id, sha),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(
	    parse_commit("{\"upload-id\":7,\"sha\":\"" SHA_A "\"}", &id, sha),
	    UPS_ERR_BAD_REQUEST);
}

/* The request path. */

struct rec_peer {
	struct peer peer; /* first */
	json_t *sent;
	int pauses;
};

static int rec_send(struct peer *p, json_t *env)
{
	json_array_append_new(((struct rec_peer *)p)->sent,
	                      json_deep_copy(env));
	return 0;
}

static void rec_close(struct peer *p, const char *why)
{
	(void)p;
	(void)why;
}

static void rec_pause(struct peer *p, int pause)
{
	((struct rec_peer *)p)->pauses += pause ? 1 : 0;
}

static const struct peer_ops rec_ops = {
    .send = rec_send, .close = rec_close, .rx_pause = rec_pause};

struct fx {
	char dir[TMPDIR_PATH_MAX];
	uv_loop_t loop;
	struct store store;
	struct upload_engine uploads;
	struct binaries binaries;
	struct dispatch dispatch;
	struct rec_peer a, b;
	uint8_t data[3000];
	char sha[65];
};

static void peer_init(struct fx *f, struct rec_peer *r, uint64_t id)
{
	memset(r, 0, sizeof(*r));
	r->peer.ops = &rec_ops;
	r->peer.kind = PEER_DIRECT;
	r->peer.id = id;
	r->sent = json_array();
	dispatch_set_role(&f->dispatch, &r->peer, UPS_ROLE_CLIENT);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_config scfg = {0};
	struct upload_config ucfg = {0};
	char err[UPS_ERRMSG_MAX];
	unsigned char md[32];
	unsigned len;

	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-binaries"),
	                 0);
	for (size_t i = 0; i < sizeof(f->data); i++)
		f->data[i] = (uint8_t)(i * 7);
	EVP_Digest(f->data, sizeof(f->data), md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(f->sha + 2 * i, "%02x", md[i]);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	scfg.data_dir = f->dir;
	scfg.plugin = STORE_FS_PLUGIN;
	if (store_open(&f->store, &f->loop, &scfg, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	ucfg.max_uploads = 4;
	ucfg.window = 64 * 1024;
	ucfg.expiry_s = 3600;
	if (upload_engine_open(&f->uploads, &f->loop, &f->store, &ucfg,
	                       &binaries_upload_events, err, sizeof(err)))
		fail_msg("upload_engine_open: %s", err);
	f->binaries.uploads = &f->uploads;
	f->binaries.store = &f->store;
	f->binaries.max_size = 1 << 20;
	binaries_init(&f->binaries);
	dispatch_init(&f->dispatch);
	assert_int_equal(dispatch_add(&f->dispatch, &f->binaries.facade), 0);
	peer_init(f, &f->a, 1);
	peer_init(f, &f->b, 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dispatch_forget(&f->dispatch, &f->a.peer);
	dispatch_forget(&f->dispatch, &f->b.peer);
	upload_engine_stop(&f->uploads);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	upload_engine_close(&f->uploads);
	store_close(&f->store);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	json_decref(f->a.sent);
	json_decref(f->b.sent);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

/* Sends a request from r and runs the loop until it settles. */
static void call(struct fx *f, struct rec_peer *r, int id, const char *method,
                 const char *params)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
	         "{\"request-id\":%d,\"type\":\"AgentBinaries\",\"version\":2,"
	         "\"request\":\"%s\",\"params\":%s}",
	         id, method, params);
	dispatch_text(&f->dispatch, &r->peer, buf, strlen(buf));
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* The envelope of r's that answers id (borrowed), or NULL. */
static json_t *answer(struct rec_peer *r, int id)
{
	size_t i;
	json_t *env;

	json_array_foreach(r->sent, i, env)
	{
		if (json_integer_value(json_object_get(env, "request-id")) ==
		    id)
			return env;
	}
	return NULL;
}

static json_t *response(struct rec_peer *r, int id)
{
	json_t *env = answer(r, id);

	if (!env || !json_object_get(env, "response"))
		fail_msg("no response to %d: %s", id,
		         env ? json_dumps(env, 0) : "(nothing)");
	return json_object_get(env, "response");
}

static const char *error_code(struct rec_peer *r, int id)
{
	json_t *env = answer(r, id);

	assert_non_null(env);
	return json_string_value(json_object_get(env, "error-code"));
}

static char *begin_params(struct fx *f, const char *bv)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
	         "{\"binary-version\":\"%s\",\"stream\":\"released\","
	         "\"size\":%zu,\"sha256\":\"%s\"}",
	         bv, sizeof(f->data), f->sha);
	return buf;
}

static void send_all(struct fx *f, struct rec_peer *r, uint64_t id)
{
	uint8_t frame[UPS_CHUNK_HEADER_SIZE + sizeof(f->data)];
	struct ups_chunk_header h = {0};

	h.upload_id = id;
	h.length = sizeof(f->data);
	ups_chunk_encode_header(&h, frame);
	memcpy(frame + UPS_CHUNK_HEADER_SIZE, f->data, sizeof(f->data));
	dispatch_binary(&f->dispatch, &r->peer, frame, sizeof(frame), NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void test_upload_round_trip(void **state)
{
	struct fx *f = *state;
	json_t *resp, *rec, *list;
	uint64_t id;
	char params[64];
	uint8_t junk[8] = "XXXX";

	call(f, &f->a, 1, "UploadBegin", begin_params(f, "2.9.1-ubuntu-amd64"));
	resp = response(&f->a, 1);
	assert_string_equal(json_string_value(json_object_get(resp, "status")),
	                    "upload");
	id = (uint64_t)json_integer_value(json_object_get(resp, "upload-id"));
	assert_int_equal(json_integer_value(json_object_get(resp, "window")),
	                 64 * 1024);
	/* The owner asking again is told where it stands, at once. */
	call(f, &f->a, 2, "UploadBegin", begin_params(f, "2.9.1-ubuntu-amd64"));
	assert_int_equal(json_integer_value(
	                     json_object_get(response(&f->a, 2), "upload-id")),
	                 id);
	/* Someone else: conflict, with the reason in error-info. */
	call(f, &f->b, 3, "UploadBegin", begin_params(f, "2.9.1-ubuntu-amd64"));
	assert_string_equal(error_code(&f->b, 3), "conflict");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(answer(&f->b, 3), "error-info"), "reason")),
	    "upload in progress");
	/* A frame that is not a chunk: a Malformed push. */
	dispatch_binary(&f->dispatch, &f->a.peer, junk, sizeof(junk), NULL);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(f->a.sent, json_array_size(f->a.sent) - 1),
	        "request")),
	    "Malformed");
	send_all(f, &f->a, id);
	/* The last push is the ack of every byte. */
	rec = json_array_get(f->a.sent, json_array_size(f->a.sent) - 1);
	assert_string_equal(json_string_value(json_object_get(rec, "request")),
	                    "UploadAck");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(rec, "params"), "offset")),
	                 sizeof(f->data));
	/* Alone, it has the whole window. */
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(rec, "params"), "window")),
	                 64 * 1024);
	snprintf(params, sizeof(params), "{\"upload-id\":%llu}",
	         (unsigned long long)id);
	call(f, &f->a, 4, "UploadStatus", params);
	assert_string_equal(
	    json_string_value(json_object_get(response(&f->a, 4), "state")),
	    "receiving");
	assert_string_equal(
	    json_string_value(json_object_get(response(&f->a, 4), "sha256")),
	    f->sha);
	call(f, &f->a, 5, "UploadCommit", params);
	rec = json_object_get(response(&f->a, 5), "binary");
	assert_string_equal(json_string_value(json_object_get(rec, "sha256")),
	                    f->sha);
	assert_string_equal(json_string_value(json_object_get(rec, "version")),
	                    "2.9.1");
	assert_string_equal(json_string_value(json_object_get(rec, "arch")),
	                    "amd64");
	assert_non_null(json_string_value(json_object_get(rec, "stored-at")));
	/* Committing again: not found, with the id in the text. */
	call(f, &f->a, 6, "UploadCommit", params);
	assert_string_equal(error_code(&f->a, 6), "not-found");
	/* Stored: exists, with the record. */
	call(f, &f->b, 7, "UploadBegin", begin_params(f, "2.9.1-ubuntu-amd64"));
	assert_string_equal(
	    json_string_value(json_object_get(response(&f->b, 7), "status")),
	    "exists");
	call(f, &f->b, 8, "List", "{}");
	list = json_object_get(response(&f->b, 8), "binaries");
	assert_int_equal(json_array_size(list), 1);
	call(f, &f->b, 9, "List", "{\"stream\":\"devel\"}");
	assert_int_equal(
	    json_array_size(json_object_get(response(&f->b, 9), "binaries")),
	    0);
	call(f, &f->b, 10, "List", "{\"stream\":\"nope\"}");
	assert_string_equal(error_code(&f->b, 10), "bad-request");
	call(f, &f->b, 11, "Delete",
	     "{\"binary-version\":\"2.9.1-ubuntu-amd64\"}");
	response(&f->b, 11);
	call(f, &f->b, 12, "Delete",
	     "{\"binary-version\":\"2.9.1-ubuntu-amd64\"}");
	assert_string_equal(error_code(&f->b, 12), "not-found");
	call(f, &f->b, 13, "Delete", "{\"binary-version\":\"../etc\"}");
	assert_string_equal(error_code(&f->b, 13), "bad-request");
}

/* The answer to a begin whose peer went meanwhile goes nowhere; an abort
 * of the detached partial then works for anyone. */
/* An unknown series is refused at UploadBegin, and the answer on the wire
 * lists every known release (not cut to a short buffer on the way). */
static void test_unknown_release(void **state)
{
	struct fx *f = *state;
	const char *text;

	call(f, &f->a, 40, "UploadBegin", begin_params(f, "2.9.1-linux-amd64"));
	assert_string_equal(error_code(&f->a, 40), "bad-request");
	text = json_string_value(json_object_get(answer(&f->a, 40), "error"));
	assert_non_null(text);
	assert_non_null(strstr(text, "unknown release \"linux\""));
	assert_non_null(strstr(text, "known releases: ubuntu "));
	assert_non_null(strstr(text, " focal "));
	assert_non_null(strstr(text, " questing "));
	assert_non_null(strstr(text, " win10"));
	call(f, &f->a, 41, "UploadBegin", begin_params(f, "2.9.1-focal-amd64"));
	assert_string_equal(
	    json_string_value(json_object_get(response(&f->a, 41), "status")),
	    "upload");
}

static void test_answer_to_gone_peer(void **state)
{
	struct fx *f = *state;
	size_t before = json_array_size(f->a.sent);
	const char *p = begin_params(f, "2.9.2-ubuntu-amd64");
	char buf[1024];
	json_t *resp;
	char params[64];

	snprintf(buf, sizeof(buf),
	         "{\"request-id\":20,\"type\":\"AgentBinaries\",\"version\":2,"
	         "\"request\":\"UploadBegin\",\"params\":%s}",
	         p);
	dispatch_text(&f->dispatch, &f->a.peer, buf, strlen(buf));
	dispatch_forget(&f->dispatch, &f->a.peer);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(json_array_size(f->a.sent), before);
	/* The partial is there, detached: b resumes it, then aborts it. */
	call(f, &f->b, 21, "UploadBegin",
	     begin_params(f, "2.9.2-ubuntu-amd64"));
	resp = response(&f->b, 21);
	snprintf(
	    params, sizeof(params), "{\"upload-id\":%lld}",
	    (long long)json_integer_value(json_object_get(resp, "upload-id")));
	call(f, &f->b, 22, "UploadAbort", params);
	response(&f->b, 22);
	call(f, &f->b, 23, "UploadStatus", params);
	assert_string_equal(error_code(&f->b, 23), "not-found");
	call(f, &f->b, 24, "UploadAbort", "{\"upload-id\":0}");
	assert_string_equal(error_code(&f->b, 24), "bad-request");
}

/* List in pages: 250 stored binaries over several releases come back in
 * pages of at most 100, in list order, every answer within the text
 * limit, each page's "next" the cursor of the following one. */
static void test_list_pages(void **state)
{
	struct fx *f = *state;
	struct catalog_binary b;
	char err[UPS_ERRMSG_MAX], params[256], prev[160] = "";
	json_t *resp, *arr, *next;
	size_t total = 0, i;
	int id = 100;

	memset(&b, 0, sizeof(b));
	strcpy(b.stream, "released");
	strcpy(b.sha256, f->sha);
	b.size = 1;
	for (i = 0; i < 250; i++) {
		snprintf(b.binary_version, sizeof(b.binary_version),
		         "2.%zu.%zu-%s-%s", i / 10, i % 10,
		         i % 2 ? "ubuntu" : "centos",
		         i % 3 ? "amd64" : "arm64");
		assert_int_equal(catalog_binary_put(store_catalog(&f->store),
		                                    &b, false, err,
		                                    sizeof(err)),
		                 0);
	}
	strcpy(params, "{}");
	for (;;) {
		char *text;

		call(f, &f->a, ++id, "List", params);
		text = json_dumps(answer(&f->a, id), JSON_COMPACT);
		assert_true(strlen(text) <= UPS_LIMIT_TEXT_MSG_MAX);
		free(text);
		resp = response(&f->a, id);
		arr = json_object_get(resp, "binaries");
		assert_true(json_array_size(arr) <= UPS_LIMIT_LIST_PAGE);
		for (i = 0; i < json_array_size(arr); i++) {
			const char *bv = json_string_value(json_object_get(
			    json_array_get(arr, i), "binary-version"));

			/* Never the same binary twice across pages. */
			assert_string_not_equal(bv, prev);
			snprintf(prev, sizeof(prev), "%s", bv);
		}
		total += json_array_size(arr);
		next = json_object_get(resp, "next");
		if (!next)
			break;
		assert_int_equal(json_array_size(arr), UPS_LIMIT_LIST_PAGE);
		snprintf(
		    params, sizeof(params),
		    "{\"after\":{\"stream\":\"%s\",\"binary-version\":"
		    "\"%s\"}}",
		    json_string_value(json_object_get(next, "stream")),
		    json_string_value(json_object_get(next, "binary-version")));
	}
	assert_int_equal(total, 250);
	assert_string_equal(prev, "2.24.9-ubuntu-arm64");
	call(f, &f->a, ++id, "List", "{\"limit\":7}");
	assert_int_equal(
	    json_array_size(json_object_get(response(&f->a, id), "binaries")),
	    7);
	call(f, &f->a, ++id, "List", "{\"limit\":101}");
	assert_string_equal(error_code(&f->a, id), "bad-request");
	call(f, &f->a, ++id, "List",
	     "{\"after\":{\"stream\":\"released\",\"binary-version\":\"x\"}}");
	assert_string_equal(error_code(&f->a, id), "bad-request");
	call(f, &f->a, ++id, "List", "{\"after\":{\"stream\":\"released\"}}");
	assert_string_equal(error_code(&f->a, id), "bad-request");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_begin),
	    cmocka_unit_test(test_parse_commit),
	    cmocka_unit_test_setup_teardown(test_unknown_release, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_upload_round_trip, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_answer_to_gone_peer, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
