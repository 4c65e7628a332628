/* The upload engine: parameter checks, window arithmetic, the state
 * table, and the engine itself on a real libuv loop with the store-fs
 * plugin in a temporary data directory and a peer that records what it
 * is sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "agent/binaries.h"
#include "agent/upload.h"
#include "proto/chunk.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

/* Parameter checks. */

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

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

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
}

static void test_window_arithmetic(void **state)
{
	const uint64_t w = 8 << 20;

	(void)state;
	assert_false(upload_ack_due(0, 0, 100, w));
	assert_false(upload_ack_due(0, w / 4 - 1, 1 << 30, w));
	assert_true(upload_ack_due(0, w / 4, 1 << 30, w));
	assert_true(upload_ack_due(w, w + w / 4, 1 << 30, w));
	assert_true(upload_ack_due(0, 100, 100, w)); /* complete */
	assert_false(upload_ack_due(100, 100, 100, w));
	assert_true(upload_window_fits(w, 0, 0, w));
	assert_true(upload_window_fits(w, 0, UPS_LIMIT_CHUNK_PAYLOAD_MAX, w));
	assert_false(
	    upload_window_fits(w, 0, UPS_LIMIT_CHUNK_PAYLOAD_MAX + 1, w));
	assert_true(upload_window_fits(2 * w, w, 1024, w));
}

static void test_states(void **state)
{
	(void)state;
	assert_true(
	    upload_transition_allowed(UPLOAD_BEGINNING, UPLOAD_RECEIVING));
	assert_true(
	    upload_transition_allowed(UPLOAD_RECEIVING, UPLOAD_DETACHED));
	assert_true(
	    upload_transition_allowed(UPLOAD_DETACHED, UPLOAD_BEGINNING));
	assert_true(
	    upload_transition_allowed(UPLOAD_RECEIVING, UPLOAD_COMMITTING));
	assert_false(
	    upload_transition_allowed(UPLOAD_COMMITTING, UPLOAD_RECEIVING));
	assert_false(
	    upload_transition_allowed(UPLOAD_DETACHED, UPLOAD_COMMITTING));
	assert_false(
	    upload_transition_allowed(UPLOAD_REMOVING, UPLOAD_RECEIVING));
	assert_string_equal(upload_state_name(UPLOAD_DETACHED), "detached");
}

/* The engine. */

struct rec_peer {
	struct peer peer;
	json_t *msgs; /* array of what was sent */
	int pauses;
};

static int rec_send(struct peer *p, json_t *env)
{
	struct rec_peer *r = (struct rec_peer *)p;

	json_array_append(r->msgs, env);
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

static const struct peer_ops rec_ops = {rec_send, rec_close, rec_pause};

struct fx {
	char dir[TMPDIR_PATH_MAX];
	uv_loop_t loop;
	struct upload_engine eng;
	struct rec_peer a, b;
	uint8_t *file;
	size_t size;
	char sha[65];
};

static void fx_peer(struct rec_peer *r, uint64_t id)
{
	memset(r, 0, sizeof(*r));
	r->peer.ops = &rec_ops;
	r->peer.kind = PEER_DIRECT;
	r->peer.role = UPS_ROLE_CLIENT;
	r->peer.id = id;
	r->msgs = json_array();
}

static void fx_open(struct fx *f)
{
	struct upload_config cfg;
	char err[UPS_ERRMSG_MAX];

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = f->dir;
	cfg.store_plugin = STORE_FS_PLUGIN;
	cfg.max_size = 64 << 20;
	cfg.max_uploads = 2;
	cfg.window = 256 * 1024;
	cfg.reserve = 0;
	cfg.expiry_s = 3600;
	cfg.sync_bytes = 128 * 1024;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	err[0] = '\0';
	if (upload_engine_open(&f->eng, &f->loop, &cfg, err, sizeof(err)))
		fail_msg("upload_engine_open: %s", err);
	assert_int_equal(upload_engine_start(&f->eng), 0);
}

static void fx_close(struct fx *f)
{
	upload_engine_stop(&f->eng);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	upload_engine_close(&f->eng);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	unsigned char md[32];
	unsigned len;

	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test_upload"), 0);
	f->size = 1000 * 1000 + 7;
	f->file = malloc(f->size);
	for (size_t i = 0; i < f->size; i++)
		f->file[i] = (uint8_t)(i * 31 + (i >> 9));
	EVP_Digest(f->file, f->size, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(f->sha + 2 * i, "%02x", md[i]);
	fx_peer(&f->a, 1);
	fx_peer(&f->b, 2);
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fx_close(f);
	json_decref(f->a.msgs);
	json_decref(f->b.msgs);
	free(f->file);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

static void run(struct fx *f)
{
	/* Jobs keep the loop alive; the expiry timer is unreferenced by
	 * stopping it while we wait. */
	uv_unref((uv_handle_t *)&f->eng.expiry);
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

static json_t *last(struct rec_peer *r)
{
	size_t n = json_array_size(r->msgs);

	assert_true(n > 0);
	return json_array_get(r->msgs, n - 1);
}

static void begin(struct fx *f, struct rec_peer *r, uint64_t rid)
{
	struct upload_begin_req req;

	memset(&req, 0, sizeof(req));
	strcpy(req.stream, "released");
	strcpy(req.binary_version, "2.9.1-ubuntu-amd64");
	strcpy(req.sha256, f->sha);
	req.size = f->size;
	upload_begin(&f->eng, &r->peer, rid, &req);
	run(f);
}

static void send_chunks(struct fx *f, struct rec_peer *r, uint64_t id,
                        uint64_t from, uint64_t to, size_t chunk)
{
	uint8_t *buf = malloc(UPS_CHUNK_HEADER_SIZE + chunk);
	struct ups_chunk_header h;

	while (from < to) {
		size_t len = to - from < chunk ? to - from : chunk;

		memset(&h, 0, sizeof(h));
		h.upload_id = id;
		h.offset = from;
		h.length = (uint32_t)len;
		ups_chunk_encode_header(&h, buf);
		memcpy(buf + UPS_CHUNK_HEADER_SIZE, f->file + from, len);
		upload_chunk(&f->eng, &r->peer, buf,
		             UPS_CHUNK_HEADER_SIZE + len);
		from += len;
		run(f); /* like a client waiting for acks */
	}
	free(buf);
}

static uint64_t field(json_t *env, const char *obj, const char *key)
{
	return (uint64_t)json_integer_value(
	    json_object_get(json_object_get(env, obj), key));
}

static const char *code_of(json_t *env)
{
	json_t *c = json_object_get(env, "error-code");

	if (!c)
		c = json_object_get(json_object_get(env, "params"),
		                    "error-code");
	return c ? json_string_value(c) : "";
}

static void test_upload_commit(void **state)
{
	struct fx *f = *state;
	char path[256];
	struct stat st;
	uint64_t id;

	begin(f, &f->a, 1);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(last(&f->a), "response"), "status")),
	    "upload");
	id = field(last(&f->a), "response", "upload-id");
	assert_int_equal(field(last(&f->a), "response", "offset"), 0);
	/* The same file from someone else: in progress. */
	begin(f, &f->b, 2);
	assert_string_equal(code_of(last(&f->b)), "conflict");
	/* A wrong offset is refused with the expected one. */
	send_chunks(f, &f->a, id, 10, 20, 10);
	assert_string_equal(code_of(last(&f->a)), "offset-mismatch");
	assert_int_equal(field(last(&f->a), "params", "expected-offset"), 0);
	/* Another connection cannot write into it. */
	send_chunks(f, &f->b, id, 0, 10, 10);
	assert_string_equal(code_of(last(&f->b)), "not-found");

	send_chunks(f, &f->a, id, 0, f->size, 100000);
	assert_string_equal(
	    json_string_value(json_object_get(last(&f->a), "request")),
	    "UploadAck");
	assert_int_equal(field(last(&f->a), "params", "offset"), f->size);
	upload_commit(&f->eng, &f->a.peer, 3, id);
	run(f);
	assert_int_equal(
	    json_integer_value(json_object_get(last(&f->a), "request-id")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(last(&f->a), "response"),
	                        "binary"),
	        "size")),
	    f->size);
	snprintf(path, sizeof(path),
	         "%s/tools/released/juju-2.9.1-ubuntu-amd64.tgz", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, f->size);
	assert_int_equal(upload_count(&f->eng), 0);
	/* Again: exists. */
	begin(f, &f->b, 4);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(last(&f->b), "response"), "status")),
	    "exists");
}

static void test_checksum_mismatch(void **state)
{
	struct fx *f = *state;
	uint64_t id;

	begin(f, &f->a, 1);
	id = field(last(&f->a), "response", "upload-id");
	f->file[5] ^= 1; /* the client lies */
	send_chunks(f, &f->a, id, 0, f->size, 65536);
	upload_commit(&f->eng, &f->a.peer, 2, id);
	run(f);
	assert_string_equal(code_of(last(&f->a)), "checksum-mismatch");
	assert_int_equal(upload_count(&f->eng), 0);
}

static void test_size_mismatch(void **state)
{
	struct fx *f = *state;
	uint64_t id;

	begin(f, &f->a, 1);
	id = field(last(&f->a), "response", "upload-id");
	send_chunks(f, &f->a, id, 0, 1000, 1000);
	upload_commit(&f->eng, &f->a.peer, 2, id);
	run(f);
	assert_string_equal(code_of(last(&f->a)), "size-mismatch");
	assert_int_equal(upload_count(&f->eng), 0);
}

/* A dropped connection detaches; a restart reloads the partial and the
 * digest is rebuilt from the bytes on disk. */
static void test_resume_after_restart(void **state)
{
	struct fx *f = *state;
	uint64_t id, off;

	begin(f, &f->a, 1);
	id = field(last(&f->a), "response", "upload-id");
	send_chunks(f, &f->a, id, 0, 300000, 50000);
	upload_peer_gone(&f->eng, &f->a.peer);
	run(f);
	assert_int_equal(upload_active_count(&f->eng), 0);
	fx_close(f);
	fx_open(f);
	assert_int_equal(upload_count(&f->eng), 1);
	begin(f, &f->b, 2);
	assert_int_equal(field(last(&f->b), "response", "upload-id"), id);
	off = field(last(&f->b), "response", "offset");
	assert_int_equal(off, 300000);
	send_chunks(f, &f->b, id, off, f->size, 100000);
	upload_commit(&f->eng, &f->b.peer, 3, id);
	run(f);
	assert_non_null(json_object_get(last(&f->b), "response"));
}

static void test_abort_and_busy(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req;
	struct rec_peer c;
	uint64_t id;

	begin(f, &f->a, 1);
	id = field(last(&f->a), "response", "upload-id");
	/* max-uploads is 2 */
	memset(&req, 0, sizeof(req));
	strcpy(req.stream, "released");
	strcpy(req.binary_version, "2.9.2-ubuntu-amd64");
	strcpy(req.sha256, SHA_A);
	req.size = 10;
	upload_begin(&f->eng, &f->b.peer, 2, &req);
	run(f);
	fx_peer(&c, 3);
	strcpy(req.binary_version, "2.9.3-ubuntu-amd64");
	upload_begin(&f->eng, &c.peer, 3, &req);
	run(f);
	assert_string_equal(code_of(last(&c)), "busy");
	json_decref(c.msgs);
	upload_abort(&f->eng, &f->a.peer, 4, id);
	run(f);
	assert_non_null(json_object_get(last(&f->a), "response"));
	assert_int_equal(upload_count(&f->eng), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_begin),
	    cmocka_unit_test(test_window_arithmetic),
	    cmocka_unit_test(test_states),
	    cmocka_unit_test_setup_teardown(test_upload_commit, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_checksum_mismatch, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_size_mismatch, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_resume_after_restart, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_abort_and_busy, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
