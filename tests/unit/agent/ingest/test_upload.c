/* The upload engine on a real libuv loop with the real store (store-fs
 * plugin, SQLite catalog) in a temporary data directory. Owners are
 * plain records here: the engine knows no peers, so what it tells them
 * (events) and answers (callbacks) is checked directly. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "agent/ingest/upload.h"
#include "proto/chunk.h"
#include "proto/errors.h"
#include "tests/lib/tmpdir.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

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

/* The state table: every pair, against the documented transitions. */
static void test_state_table(void **state)
{
	static const char *const allowed[] = {
	    "beginning>receiving",  "beginning>detached", "beginning>removing",
	    "receiving>committing", "receiving>detached", "receiving>removing",
	    "detached>beginning",   "detached>removing",  "committing>removing",
	};
	enum upload_state s;
	char pair[64];

	(void)state;
	for (int from = 0; from < UPLOAD__STATE_COUNT; from++)
		for (int to = 0; to < UPLOAD__STATE_COUNT; to++) {
			bool want = false;

			snprintf(pair, sizeof(pair), "%s>%s",
			         upload_state_name(from),
			         upload_state_name(to));
			for (size_t i = 0;
			     i < sizeof(allowed) / sizeof(allowed[0]); i++)
				if (strcmp(pair, allowed[i]) == 0)
					want = true;
			if (upload_state_transition_allowed(from, to) != want)
				fail_msg("transition %s: expected %s", pair,
				         want ? "allowed" : "refused");
		}
	assert_true(upload_state_is_initial(UPLOAD_BEGINNING));
	assert_true(upload_state_is_initial(UPLOAD_DETACHED));
	assert_false(upload_state_is_initial(UPLOAD_RECEIVING));
	assert_false(upload_state_is_initial(UPLOAD_COMMITTING));
	assert_false(upload_state_is_initial(UPLOAD_REMOVING));
	assert_false(upload_state_transition_allowed(UPLOAD__STATE_COUNT, 0));
	/* Names round-trip; they are what the catalog stores. */
	for (int i = 0; i < UPLOAD__STATE_COUNT; i++) {
		assert_int_equal(upload_state_parse(upload_state_name(i), &s),
		                 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(upload_state_parse("gone", &s), UPS_ERR_NOT_FOUND);
	assert_string_equal(upload_state_name(UPLOAD__STATE_COUNT), "unknown");
}

/* An owner: what the engine told it. */
struct owner {
	int acks;
	uint64_t ack_offset, ack_durable, ack_window;
	int errors;
	int last_error;
	uint64_t expected; /* expected-offset of the last error, if any */
	bool had_expected;
	int pauses, resumes;
};

static void ev_ack(void *owner, uint64_t id, uint64_t offset, uint64_t durable,
                   uint64_t window)
{
	struct owner *o = owner;

	(void)id;
	o->acks++;
	o->ack_offset = offset;
	o->ack_durable = durable;
	o->ack_window = window;
}

static void ev_error(void *owner, uint64_t id, int code, const char *text,
                     const uint64_t *expected)
{
	struct owner *o = owner;

	(void)id;
	assert_non_null(text);
	o->errors++;
	o->last_error = code;
	o->had_expected = expected != NULL;
	if (expected)
		o->expected = *expected;
}

static void ev_pause(void *owner, bool pause)
{
	struct owner *o = owner;

	if (pause)
		o->pauses++;
	else
		o->resumes++;
}

static const struct upload_events events = {ev_ack, ev_error, ev_pause};

/* A callback's outcome. */
struct answer {
	int calls;
	int rv;
	struct upload_begun begun;
	struct catalog_binary stored;
};

static void on_begun(void *data, int rv, const char *err,
                     const struct upload_begun *res)
{
	struct answer *a = data;

	a->calls++;
	a->rv = rv;
	if (rv)
		assert_non_null(err);
	else
		a->begun = *res;
}

static void on_committed(void *data, int rv, const char *err,
                         const struct catalog_binary *stored)
{
	struct answer *a = data;

	a->calls++;
	a->rv = rv;
	if (rv) {
		assert_non_null(err);
		assert_null(stored);
	} else {
		a->stored = *stored;
	}
}

struct fx {
	char dir[TMPDIR_PATH_MAX];
	uv_loop_t loop;
	struct store store;
	struct upload_engine eng;
	struct owner a, b;
	uint8_t *file;
	size_t size;
	char sha[65];
};

/* Knobs a test may turn before fx_open (reset by setup). */
static struct upload_config test_cfg;
static const char *test_fault;
static int64_t fake_now_s;

static int64_t fake_clock(void)
{
	return fake_now_s;
}

static void fx_open(struct fx *f)
{
	struct store_config scfg;
	struct upload_config cfg = test_cfg;
	char err[UPS_ERRMSG_MAX];

	memset(&scfg, 0, sizeof(scfg));
	scfg.data_dir = f->dir;
	scfg.plugin = STORE_FS_PLUGIN;
	scfg.fault = test_fault;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	err[0] = '\0';
	if (store_open(&f->store, &f->loop, &scfg, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	if (upload_engine_open(&f->eng, &f->loop, &f->store, &cfg, &events, err,
	                       sizeof(err)))
		fail_msg("upload_engine_open: %s", err);
	if (fake_now_s)
		f->eng.now_s = fake_clock;
	assert_int_equal(upload_engine_start(&f->eng), 0);
}

static void fx_close(struct fx *f)
{
	upload_engine_stop(&f->eng);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	upload_engine_close(&f->eng);
	store_close(&f->store);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	unsigned char md[32];
	unsigned len;

	memset(&test_cfg, 0, sizeof(test_cfg));
	test_cfg.max_uploads = 2;
	test_cfg.window = 256 * 1024;
	test_cfg.expiry_s = 3600;
	test_cfg.sync_bytes = 128 * 1024;
	test_fault = NULL;
	fake_now_s = 0;
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "test-upload"), 0);
	f->size = 1000 * 1000 + 7;
	f->file = malloc(f->size);
	for (size_t i = 0; i < f->size; i++)
		f->file[i] = (uint8_t)(i * 31 + (i >> 9));
	EVP_Digest(f->file, f->size, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(f->sha + 2 * i, "%02x", md[i]);
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fx_close(f);
	free(f->file);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

static void run(struct fx *f)
{
	/* Jobs keep the loop alive; the expiry timer does not. */
	uv_unref((uv_handle_t *)&f->eng.expiry);
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

static struct upload_begin_req req_for(struct fx *f, const char *bv)
{
	struct upload_begin_req req;

	memset(&req, 0, sizeof(req));
	strcpy(req.stream, "released");
	strcpy(req.binary_version, bv);
	strcpy(req.sha256, f->sha);
	req.size = f->size;
	return req;
}

/* Begins f's file for owner; returns the answer after the loop ran. */
/* A call that returns an error never calls back, then or later: call
 * must return code, and ans (its callback's answer) must not move. */
#define ASSERT_REFUSED(f, ans, call, code)                                     \
	do {                                                                   \
		int calls_ = (ans)->calls;                                     \
		assert_int_equal((call), (code));                              \
		run(f);                                                        \
		assert_int_equal((ans)->calls, calls_);                        \
	} while (0)

static struct answer begin(struct fx *f, struct owner *o)
{
	struct upload_begin_req req = req_for(f, "2.9.1-ubuntu-amd64");
	struct answer a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(upload_begin(&f->eng, o, &req, on_begun, &a, NULL, 0),
	                 0);
	assert_int_equal(a.calls, 0); /* never before the call returned */
	run(f);
	assert_int_equal(a.calls, 1);
	return a;
}

/* Sends bytes [from, to) of data (a whole file's) in chunks. */
static void send_data(struct fx *f, struct owner *o, uint64_t id,
                      const uint8_t *data, uint64_t from, uint64_t to,
                      size_t chunk)
{
	struct ups_chunk_header h;

	while (from < to) {
		size_t len = to - from < chunk ? to - from : chunk;

		memset(&h, 0, sizeof(h));
		h.upload_id = id;
		h.offset = from;
		h.length = (uint32_t)len;
		upload_chunk(&f->eng, o, &h, data + from, NULL);
		from += len;
		run(f); /* like a client waiting for acks */
	}
}

static void send_chunks(struct fx *f, struct owner *o, uint64_t id,
                        uint64_t from, uint64_t to, size_t chunk)
{
	send_data(f, o, id, f->file, from, to, chunk);
}

/* Commits with the digest sha (NULL: none given at commit). */
static struct answer commit_sha(struct fx *f, struct owner *o, uint64_t id,
                                const char *sha)
{
	struct answer a;
	char err[UPS_ERRMSG_MAX];

	memset(&a, 0, sizeof(a));
	assert_int_equal(upload_commit(&f->eng, o, id, sha, on_committed, &a,
	                               err, sizeof(err)),
	                 0);
	run(f);
	assert_int_equal(a.calls, 1);
	return a;
}

static struct answer commit(struct fx *f, struct owner *o, uint64_t id)
{
	return commit_sha(f, o, id, NULL);
}

static void test_upload_commit(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req = req_for(f, "2.9.1-ubuntu-amd64");
	struct upload_begun own;
	struct answer a, c;
	struct upload_info info;
	char path[256];
	struct stat st;
	uint64_t id;

	a = begin(f, &f->a);
	assert_int_equal(a.rv, 0);
	assert_false(a.begun.exists);
	id = a.begun.upload_id;
	assert_true(id > 0);
	assert_int_equal(a.begun.offset, 0);
	assert_int_equal(a.begun.window, 256 * 1024);
	/* Asking again as the owner: where it stands, nothing else. */
	assert_int_equal(upload_find_own(&f->eng, &f->a, &req, &own), 0);
	assert_int_equal(own.upload_id, id);
	assert_int_equal(upload_find_own(&f->eng, &f->b, &req, &own),
	                 UPS_ERR_NOT_FOUND);
	/* The same file from someone else: refused at once. */
	assert_int_equal(
	    upload_begin(&f->eng, &f->b, &req, on_begun, &c, NULL, 0),
	    UPS_ERR_CONFLICT);
	/* A wrong offset is refused with the expected one. */
	send_chunks(f, &f->a, id, 10, 20, 10);
	assert_int_equal(f->a.last_error, UPS_ERR_OFFSET_MISMATCH);
	assert_true(f->a.had_expected);
	assert_int_equal(f->a.expected, 0);
	/* Another owner cannot write into it. */
	send_chunks(f, &f->b, id, 0, 10, 10);
	assert_int_equal(f->b.last_error, UPS_ERR_NOT_FOUND);
	send_chunks(f, &f->a, id, 0, f->size, 100000);
	assert_true(f->a.acks >= 4);
	assert_int_equal(f->a.ack_offset, f->size);
	assert_int_equal(upload_status(&f->eng, id, &info), 0);
	assert_int_equal(info.state, UPLOAD_RECEIVING);
	assert_int_equal(info.offset, f->size);
	assert_true(info.durable > 0); /* sync_bytes is 128 KiB */
	c = commit(f, &f->a, id);
	assert_int_equal(c.rv, 0);
	assert_int_equal(c.stored.size, f->size);
	assert_string_equal(c.stored.sha256, f->sha);
	assert_string_equal(c.stored.binary_version, "2.9.1-ubuntu-amd64");
	snprintf(path, sizeof(path),
	         "%s/tools/released/juju-2.9.1-ubuntu-amd64.tgz", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, f->size);
	assert_int_equal(upload_count(&f->eng), 0);
	assert_int_equal(upload_status(&f->eng, id, &info), UPS_ERR_NOT_FOUND);
	/* Again: exists, with the stored record. */
	a = begin(f, &f->b);
	assert_int_equal(a.rv, 0);
	assert_true(a.begun.exists);
	assert_string_equal(a.begun.binary.sha256, f->sha);
	assert_int_equal(upload_count(&f->eng), 0);
	/* Other content under the same name: conflict without force. */
	strcpy(req.sha256, SHA_A);
	memset(&a, 0, sizeof(a));
	assert_int_equal(
	    upload_begin(&f->eng, &f->b, &req, on_begun, &a, NULL, 0), 0);
	run(f);
	assert_int_equal(a.rv, UPS_ERR_CONFLICT);
	assert_int_equal(upload_count(&f->eng), 0);
}

/* A chunk that would end past the announced size is refused, and the
 * upload goes on from where it was. */
static void test_chunk_beyond_size(void **state)
{
	struct fx *f = *state;
	struct answer a = begin(f, &f->a);
	struct ups_chunk_header h;
	uint8_t *big = calloc(1, 2048);

	send_chunks(f, &f->a, a.begun.upload_id, 0, f->size - 1000, 100000);
	assert_int_equal(f->a.errors, 0);
	memset(&h, 0, sizeof(h));
	h.upload_id = a.begun.upload_id;
	h.offset = f->size - 1000;
	h.length = 2048;
	upload_chunk(&f->eng, &f->a, &h, big, NULL);
	assert_int_equal(f->a.last_error, UPS_ERR_TOO_LARGE);
	free(big);
	send_chunks(f, &f->a, a.begun.upload_id, f->size - 1000, f->size,
	            100000);
	assert_int_equal(f->a.errors, 1);
	assert_int_equal(commit(f, &f->a, a.begun.upload_id).rv, 0);
}

static void test_checksum_mismatch(void **state)
{
	struct fx *f = *state;
	struct answer a = begin(f, &f->a), c;
	uint64_t id = a.begun.upload_id;

	f->file[5] ^= 1; /* the client lies */
	send_chunks(f, &f->a, id, 0, f->size, 65536);
	c = commit(f, &f->a, id);
	assert_int_equal(c.rv, UPS_ERR_CHECKSUM_MISMATCH);
	assert_int_equal(upload_count(&f->eng), 0);
}

static void test_size_mismatch(void **state)
{
	struct fx *f = *state;
	struct answer a = begin(f, &f->a), c;
	uint64_t id = a.begun.upload_id;

	send_chunks(f, &f->a, id, 0, 1000, 1000);
	c = commit(f, &f->a, id);
	assert_int_equal(c.rv, UPS_ERR_SIZE_MISMATCH);
	assert_int_equal(upload_count(&f->eng), 0);
	/* Commit of what is gone, or of someone else's: refused at once. */
	ASSERT_REFUSED(f, &c,
	               upload_commit(&f->eng, &f->a, id, NULL, on_committed,
	                             &c, NULL, 0),
	               UPS_ERR_NOT_FOUND);
}

/* The owner goes while its begin is in flight: the callback still runs
 * once, the upload waits detached, and nothing is told to the owner. */
static void test_owner_gone_during_begin(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req = req_for(f, "2.9.1-ubuntu-amd64");
	struct answer a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(
	    upload_begin(&f->eng, &f->a, &req, on_begun, &a, NULL, 0), 0);
	upload_owner_gone(&f->eng, &f->a);
	run(f);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.rv, 0);
	assert_int_equal(upload_count(&f->eng), 1);
	assert_int_equal(upload_active_count(&f->eng), 0);
	/* Someone else resumes it. */
	a = begin(f, &f->b);
	assert_int_equal(a.rv, 0);
	assert_int_equal(upload_active_count(&f->eng), 1);
}

/* A dropped connection detaches; a restart reloads the partial and the
 * digest is rebuilt from the bytes on disk. */
static void test_resume_after_restart(void **state)
{
	struct fx *f = *state;
	struct answer a = begin(f, &f->a), c;
	uint64_t id = a.begun.upload_id, off;

	send_chunks(f, &f->a, id, 0, 300000, 50000);
	upload_owner_gone(&f->eng, &f->a);
	run(f);
	assert_int_equal(upload_active_count(&f->eng), 0);
	fx_close(f);
	fx_open(f);
	assert_int_equal(upload_count(&f->eng), 1);
	a = begin(f, &f->b);
	assert_int_equal(a.begun.upload_id, id);
	off = a.begun.offset;
	assert_int_equal(off, 300000);
	send_chunks(f, &f->b, id, off, f->size, 100000);
	c = commit(f, &f->b, id);
	assert_int_equal(c.rv, 0);
}

static void test_abort_and_busy(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req;
	struct owner third;
	struct answer a = begin(f, &f->a), b = {0};
	uint64_t id = a.begun.upload_id;

	/* max-uploads is 2 */
	memset(&req, 0, sizeof(req));
	strcpy(req.stream, "released");
	strcpy(req.binary_version, "2.9.2-ubuntu-amd64");
	strcpy(req.sha256, SHA_A);
	req.size = 10;
	memset(&b, 0, sizeof(b));
	assert_int_equal(
	    upload_begin(&f->eng, &f->b, &req, on_begun, &b, NULL, 0), 0);
	run(f);
	assert_int_equal(b.rv, 0);
	memset(&third, 0, sizeof(third));
	strcpy(req.binary_version, "2.9.3-ubuntu-amd64");
	ASSERT_REFUSED(f, &b,
	               upload_begin(&f->eng, &third, &req, on_begun, &b, NULL,
	                            0),
	               UPS_ERR_BUSY);
	/* Only the owner may abort an owned upload. */
	assert_int_equal(upload_abort(&f->eng, &f->b, id), UPS_ERR_NOT_FOUND);
	assert_int_equal(upload_abort(&f->eng, &f->a, id), 0);
	run(f);
	assert_int_equal(f->a.errors, 0); /* the owner asked: no error */
	assert_int_equal(upload_count(&f->eng), 1);
	assert_int_equal(upload_abort(&f->eng, &f->a, id), UPS_ERR_NOT_FOUND);
	/* While stopping, nothing new begins. */
	upload_engine_stop(&f->eng);
	ASSERT_REFUSED(f, &b,
	               upload_begin(&f->eng, &third, &req, on_begun, &b, NULL,
	                            0),
	               UPS_ERR_UNAVAILABLE);
}

/* A client that ignores its window is paused, then resumed. */
static void test_window_overrun_pauses(void **state)
{
	struct fx *f = *state;
	struct answer a = begin(f, &f->a);
	struct ups_chunk_header h;
	uint64_t off = 0;

	/* Without running the loop nothing is written: the queue grows. */
	while (off < 300 * 1024) {
		memset(&h, 0, sizeof(h));
		h.upload_id = a.begun.upload_id;
		h.offset = off;
		h.length = 32 * 1024;
		upload_chunk(&f->eng, &f->a, &h, f->file + off, NULL);
		off += h.length;
	}
	assert_int_equal(f->a.pauses, 1);
	run(f);
	assert_int_equal(f->a.resumes, 1);
	assert_int_equal(f->a.errors, 0);
}

/* Reopens the engine with the knobs the test set. */
static void fx_reopen(struct fx *f)
{
	fx_close(f);
	fx_open(f);
}

static struct upload_begin_req req_sized(const char *bv, uint64_t size)
{
	struct upload_begin_req req;

	memset(&req, 0, sizeof(req));
	strcpy(req.stream, "released");
	strcpy(req.binary_version, bv);
	strcpy(req.sha256, SHA_A);
	req.size = size;
	return req;
}

/* One connection may own max_per_owner uploads; others still may. */
static void test_per_owner_share(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req;
	struct answer a;
	char err[UPS_ERRMSG_MAX];

	test_cfg.max_uploads = 4;
	test_cfg.max_per_owner = 2;
	fx_reopen(f);
	for (int i = 0; i < 2; i++) {
		char bv[64];

		snprintf(bv, sizeof(bv), "2.9.%d-ubuntu-amd64", i + 1);
		req = req_sized(bv, 10);
		memset(&a, 0, sizeof(a));
		assert_int_equal(upload_begin(&f->eng, &f->a, &req, on_begun,
		                              &a, err, sizeof(err)),
		                 0);
		run(f);
		assert_int_equal(a.rv, 0);
	}
	req = req_sized("2.9.3-ubuntu-amd64", 10);
	assert_int_equal(
	    upload_begin(&f->eng, &f->a, &req, on_begun, &a, err, sizeof(err)),
	    UPS_ERR_BUSY);
	assert_non_null(strstr(err, "max-uploads-per-client"));
	memset(&a, 0, sizeof(a));
	assert_int_equal(
	    upload_begin(&f->eng, &f->b, &req, on_begun, &a, err, sizeof(err)),
	    0);
	run(f);
	assert_int_equal(a.rv, 0);
}

/* An owned upload that receives nothing for stall_s is detached: its
 * owner is told (timeout, with where to resume), its slot is free, and
 * it resumes from what is durable. */
static void test_stall_detaches(void **state)
{
	struct fx *f = *state;
	struct answer a;
	uint64_t id;

	test_cfg.stall_s = 60;
	fake_now_s = 1000;
	fx_reopen(f);
	a = begin(f, &f->a);
	id = a.begun.upload_id;
	send_chunks(f, &f->a, id, 0, 300000, 50000);
	fake_now_s += 59;
	upload_engine_sweep(&f->eng);
	assert_int_equal(f->a.errors, 0);
	assert_int_equal(upload_active_count(&f->eng), 1);
	fake_now_s += 1;
	upload_engine_sweep(&f->eng);
	run(f);
	assert_int_equal(f->a.errors, 1);
	assert_int_equal(f->a.last_error, UPS_ERR_TIMEOUT);
	assert_true(f->a.had_expected);
	assert_int_equal(f->a.expected, 300000);
	assert_int_equal(upload_active_count(&f->eng), 0);
	assert_int_equal(upload_count(&f->eng), 1);
	/* Chunks for it are refused now; a begin resumes it. */
	send_chunks(f, &f->a, id, 300000, 300010, 10);
	assert_int_equal(f->a.last_error, UPS_ERR_NOT_FOUND);
	a = begin(f, &f->a);
	assert_int_equal(a.begun.upload_id, id);
	assert_int_equal(a.begun.offset, 300000);
}

/* At most max_partials detached uploads: the oldest goes first. */
static void test_partials_cap(void **state)
{
	struct fx *f = *state;
	struct owner o[3];
	uint64_t ids[3];
	struct upload_info info;

	test_cfg.max_uploads = 8;
	test_cfg.max_partials = 2;
	fake_now_s = 5000;
	fx_reopen(f);
	memset(o, 0, sizeof(o));
	for (int i = 0; i < 3; i++) {
		char bv[64];
		struct upload_begin_req req;
		struct answer a;

		snprintf(bv, sizeof(bv), "2.9.%d-ubuntu-amd64", i + 1);
		req = req_sized(bv, 1000);
		memset(&a, 0, sizeof(a));
		assert_int_equal(
		    upload_begin(&f->eng, &o[i], &req, on_begun, &a, NULL, 0),
		    0);
		run(f);
		ids[i] = a.begun.upload_id;
		fake_now_s += 10;
		upload_owner_gone(&f->eng, &o[i]);
		run(f);
	}
	assert_int_equal(upload_count(&f->eng), 2);
	assert_int_equal(upload_status(&f->eng, ids[0], &info),
	                 UPS_ERR_NOT_FOUND);
	assert_int_equal(upload_status(&f->eng, ids[1], &info), 0);
	assert_int_equal(upload_status(&f->eng, ids[2], &info), 0);
	assert_int_equal(info.state, UPLOAD_DETACHED);
}

/* The free-space check counts what the other uploads still claim: with
 * 3,000,000 bytes free, 1,000,007 + 1,500,000 fit but a third 1,000,000
 * does not, although it alone would. */
static void test_space_counts_claims(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req;
	struct owner third;
	struct answer a;

	test_cfg.max_uploads = 8;
	test_cfg.max_per_owner = 8;
	test_fault = "free=3000000";
	fx_reopen(f);
	a = begin(f, &f->a);
	assert_int_equal(a.rv, 0);
	req = req_sized("2.9.2-ubuntu-amd64", 1500000);
	memset(&a, 0, sizeof(a));
	assert_int_equal(
	    upload_begin(&f->eng, &f->b, &req, on_begun, &a, NULL, 0), 0);
	run(f);
	assert_int_equal(a.rv, 0);
	memset(&third, 0, sizeof(third));
	req = req_sized("2.9.3-ubuntu-amd64", 1000000);
	memset(&a, 0, sizeof(a));
	assert_int_equal(
	    upload_begin(&f->eng, &third, &req, on_begun, &a, NULL, 0), 0);
	run(f);
	assert_int_equal(a.rv, UPS_ERR_NO_SPACE);
}

/* A new engine with the staging fault spec (see ups_fault.h), and an
 * upload begun by f->a on it; returns its id. */
static uint64_t begin_with_fault(struct fx *f, const char *spec)
{
	struct answer a;

	test_cfg.fault = spec;
	fx_reopen(f);
	a = begin(f, &f->a);
	assert_int_equal(a.rv, 0);
	return a.begun.upload_id;
}

/* Upload id is gone: unknown to the engine, its partial file removed. */
static void assert_upload_gone(struct fx *f, uint64_t id)
{
	struct upload_info info;
	char path[256];
	struct stat st;

	assert_int_equal(upload_status(&f->eng, id, &info), UPS_ERR_NOT_FOUND);
	snprintf(path, sizeof(path), "%s/staging/%" PRIu64 ".part",
	         store_staging_dir(&f->store), id);
	assert_int_equal(stat(path, &st), -1);
}

/* Checkpoints run beside the writes, and one that fails (its fdatasync
 * here) aborts its upload like a failed write: the owner is told, the
 * partial goes, and the engine goes on with the next upload. */
static void test_checkpoint_fails(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req;
	struct upload_info info;
	struct answer a, c;
	uint64_t id;

	/* The directory's fsync at creation passes, the first checkpoint's
	 * fdatasync fails, and later ones pass. */
	id = begin_with_fault(f, "fsync=EIO@1/1");
	/* sync_bytes (128 KiB) written: the checkpoint starts, and fails. */
	send_chunks(f, &f->a, id, 0, 128 * 1024, 64 * 1024);
	assert_int_equal(f->a.errors, 1);
	assert_int_equal(f->a.last_error, UPS_ERR_IO);
	send_chunks(f, &f->a, id, 128 * 1024, 192 * 1024, 64 * 1024);
	assert_int_equal(f->a.last_error, UPS_ERR_NOT_FOUND);
	assert_upload_gone(f, id);
	/* The next upload is checkpointed and stored. */
	req = req_for(f, "2.9.2-ubuntu-amd64");
	memset(&a, 0, sizeof(a));
	assert_int_equal(
	    upload_begin(&f->eng, &f->b, &req, on_begun, &a, NULL, 0), 0);
	run(f);
	assert_int_equal(a.rv, 0);
	id = a.begun.upload_id;
	send_chunks(f, &f->b, id, 0, f->size, 100000);
	assert_int_equal(upload_status(&f->eng, id, &info), 0);
	assert_true(info.durable >= 128 * 1024);
	assert_true(info.durable < f->size);
	c = commit(f, &f->b, id);
	assert_int_equal(c.rv, 0);
	assert_int_equal(f->b.errors, 0);
}

/* No checkpoint once every byte is written: the commit's verify syncs
 * them anyway, and an fdatasync more would only delay it. */
static void test_no_checkpoint_at_the_end(void **state)
{
	struct fx *f = *state;
	const size_t size = 128 * 1024; /* sync_bytes, in one chunk */
	struct upload_begin_req req = req_for(f, "2.9.3-ubuntu-amd64");
	struct upload_info info;
	unsigned char md[32];
	struct answer a, c;
	unsigned len;

	EVP_Digest(f->file, size, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(req.sha256 + 2 * i, "%02x", md[i]);
	req.size = size;
	memset(&a, 0, sizeof(a));
	assert_int_equal(
	    upload_begin(&f->eng, &f->a, &req, on_begun, &a, NULL, 0), 0);
	run(f);
	assert_int_equal(a.rv, 0);
	send_chunks(f, &f->a, a.begun.upload_id, 0, size, size);
	assert_int_equal(upload_status(&f->eng, a.begun.upload_id, &info), 0);
	assert_int_equal(info.offset, size);
	assert_int_equal(info.durable, 0);
	c = commit(f, &f->a, a.begun.upload_id);
	assert_int_equal(c.rv, 0);
	assert_int_equal(c.stored.size, size);
}

/* Queues chunks of len bytes of f's file from..to without running the
 * loop, as a client with a window does. */
static void queue_chunks(struct fx *f, uint64_t id, uint64_t from,
                         uint64_t to, size_t len)
{
	struct ups_chunk_header h;

	for (; from < to; from += len) {
		memset(&h, 0, sizeof(h));
		h.upload_id = id;
		h.offset = from;
		h.length = (uint32_t)(to - from < len ? to - from : len);
		upload_chunk(&f->eng, &f->a, &h, f->file + from, NULL);
	}
}

/* The descriptors this process holds. */
static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The whole file from f->a as chunks of len, step bytes queued before
 * each loop run (so that batches form); all of it acknowledged. */
static void queue_file(struct fx *f, uint64_t id, uint64_t step, size_t len)
{
	for (uint64_t at = 0; at < f->size; at += step) {
		uint64_t to = at + step < f->size ? at + step : f->size;

		queue_chunks(f, id, at, to, len);
		run(f);
	}
	assert_int_equal(f->a.errors, 0);
	assert_int_equal(f->a.ack_offset, f->size);
}

/* The stored 2.9.1-ubuntu-amd64 holds f->file, byte for byte. */
static void assert_stored_file(struct fx *f)
{
	uint8_t *back = malloc(f->size + 1);
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path),
	         "%s/tools/released/juju-2.9.1-ubuntu-amd64.tgz", f->dir);
	assert_non_null(back);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fread(back, 1, f->size + 1, fp), f->size);
	fclose(fp);
	assert_memory_equal(back, f->file, f->size);
	free(back);
}

/* A batch of several chunks is written in two halves at once, the later
 * through a descriptor of its own: every byte lands where it belongs. */
static void test_batch_in_two_halves(void **state)
{
	struct fx *f = *state;
	struct answer c;
	uint64_t id;
	unsigned fds;

	/* Counts opens (none fails): the begin's, and the later halves'
	 * descriptor, opened once and kept. */
	id = begin_with_fault(f, "open=EIO@1000000");
	fds = open_fds(); /* the catalog's and the upload's first */
	/* Batches are window/4 (64 KiB): four chunks, two per half. */
	queue_file(f, id, 192 * 1024, 16 * 1024);
	assert_int_equal(atomic_load(&f->eng.stg.fault.used[UPS_FAULT_OPEN]),
	                 2);
	c = commit(f, &f->a, id);
	assert_int_equal(c.rv, 0);
	/* Both descriptors closed once the file is verified. */
	assert_int_equal(open_fds(), fds - 1);
	assert_stored_file(f);
}

/* The disk filling up while both halves write (which of them meets it
 * is up to the scheduler): the upload fails with no-space, its partial
 * goes, and neither half's descriptor is left open. */
static void test_halves_no_space(void **state)
{
	struct fx *f = *state;
	unsigned fds;
	uint64_t id;

	/* 16 KiB alone, then batches of two 32 KiB halves: the third
	 * batch crosses 100 KiB. */
	id = begin_with_fault(f, "write=ENOSPC@102400");
	fds = open_fds();
	queue_chunks(f, id, 0, 16 * 1024, 16 * 1024);
	run(f);
	queue_chunks(f, id, 16 * 1024, 208 * 1024, 16 * 1024);
	run(f);
	assert_int_equal(f->a.errors, 1);
	assert_int_equal(f->a.last_error, UPS_ERR_NO_SPACE);
	assert_upload_gone(f, id);
	assert_int_equal(open_fds(), fds - 1);
}

/* Chunks of 10,000 bytes never end where a page starts (before 2.56 MB):
 * no batch is split, so no buffered write of one half can share a page
 * with the other's, and every byte still lands. */
static void test_no_split_off_page(void **state)
{
	struct fx *f = *state;
	struct answer c;
	uint64_t id;

	id = begin_with_fault(f, "open=EIO@1000000");
	queue_file(f, id, 190000, 10000);
	/* The begin's open only: no half ever ran. */
	assert_int_equal(atomic_load(&f->eng.stg.fault.used[UPS_FAULT_OPEN]),
	                 1);
	c = commit(f, &f->a, id);
	assert_int_equal(c.rv, 0);
	assert_stored_file(f);
}

/* Chunks gathered in a receiver's frame buffer are taken, not copied: the
 * receiver is left another buffer for its next frame, and every byte is
 * stored. A payload elsewhere, even with a frame buffer at hand, is
 * copied and leaves that buffer alone. */
static void test_frame_buffers_taken(void **state)
{
	struct fx *f = *state;
	struct ups_chunk_header h;
	struct answer a, c;
	size_t len = 16 * 1024;
	uint8_t *fb, *given;

	a = begin(f, &f->a);
	assert_int_equal(a.rv, 0);
	fb = ups_chunk_buf_new();
	assert_non_null(fb);
	for (uint64_t from = 0; from < f->size; from += len) {
		memset(&h, 0, sizeof(h));
		h.upload_id = a.begun.upload_id;
		h.offset = from;
		h.length = (uint32_t)(f->size - from < len ? f->size - from
		                                             : len);
		given = fb;
		if (from == len) {
			/* Not in the frame buffer: copied. */
			upload_chunk(&f->eng, &f->a, &h, f->file + from, &fb);
			assert_ptr_equal(fb, given);
			run(f);
			continue;
		}
		memcpy(fb + UPS_CHUNK_BUF_PAYLOAD, f->file + from, h.length);
		upload_chunk(&f->eng, &f->a, &h, fb + UPS_CHUNK_BUF_PAYLOAD,
		             &fb);
		assert_non_null(fb);
		assert_ptr_not_equal(fb, given);
		assert_int_equal((uintptr_t)(fb + UPS_CHUNK_BUF_PAYLOAD) %
		                     STAGING_ALIGN,
		                 0);
		/* The engine owns what it took; scribbling over all of the
		 * buffer it gave back (ASan checks its size) must not reach
		 * the file. */
		memset(fb, 0xee, ups_chunk_buf_size());
		run(f);
	}
	free(fb);
	assert_int_equal(f->a.errors, 0);
	assert_int_equal(f->a.ack_offset, f->size);
	c = commit(f, &f->a, a.begun.upload_id);
	assert_int_equal(c.rv, 0);
	assert_stored_file(f);
}

/* The later half failing fails its upload like the first would: the
 * error is told, the partial goes, and the next upload is stored. */
static void test_half_fails(void **state)
{
	struct fx *f = *state;
	struct answer a, c;
	uint64_t id;

	/* The begin's open passes, the first half's fails, later pass. */
	id = begin_with_fault(f, "open=EIO@1/1");
	/* One chunk starts a job alone; the four behind it are a batch. */
	queue_chunks(f, id, 0, 80 * 1024, 16 * 1024);
	run(f);
	assert_int_equal(f->a.errors, 1);
	assert_int_equal(f->a.last_error, UPS_ERR_IO);
	assert_upload_gone(f, id);
	f->a.errors = 0;
	a = begin(f, &f->a);
	assert_int_equal(a.rv, 0);
	id = a.begun.upload_id;
	queue_chunks(f, id, 0, 80 * 1024, 16 * 1024);
	run(f);
	send_chunks(f, &f->a, id, 80 * 1024, f->size, 100000);
	c = commit(f, &f->a, id);
	assert_int_equal(c.rv, 0);
	assert_int_equal(f->a.errors, 0);
}

#define TOKEN_A "tok-aaaaaaaaaaaaaaaa"
#define TOKEN_B "tok-bbbbbbbbbbbbbbbb"

/* A request that names the file by a token, the digest to follow. */
static struct upload_begin_req req_token(struct fx *f, const char *token)
{
	struct upload_begin_req req = req_for(f, "2.9.1-ubuntu-amd64");

	req.sha256[0] = '\0';
	strcpy(req.token, token);
	return req;
}

static struct answer begin_req(struct fx *f, struct owner *o,
                               const struct upload_begin_req *req)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(upload_begin(&f->eng, o, req, on_begun, &a, NULL, 0),
	                 0);
	run(f);
	assert_int_equal(a.calls, 1);
	return a;
}

static void sha_of(const uint8_t *p, size_t n, char hex[65])
{
	unsigned char md[32];
	unsigned len;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

/* The digest travels with the commit: none at all is refused at once
 * (the upload goes on), a wrong one is checksum-mismatch with nothing
 * stored, the right one stores the binary under it. */
static void test_digest_at_commit(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req = req_token(f, TOKEN_A);
	struct answer a, c = {0};
	struct upload_info info;
	char err[UPS_ERRMSG_MAX];
	uint64_t id;

	a = begin_req(f, &f->a, &req);
	assert_int_equal(a.rv, 0);
	assert_false(a.begun.exists || a.begun.stored);
	assert_string_equal(a.begun.prefix_sha256, "");
	id = a.begun.upload_id;
	assert_int_equal(upload_status(&f->eng, id, &info), 0);
	assert_string_equal(info.sha256, "");
	send_chunks(f, &f->a, id, 0, f->size, 100000);
	ASSERT_REFUSED(f, &c,
	               upload_commit(&f->eng, &f->a, id, NULL, on_committed,
	                             &c, err, sizeof(err)),
	               UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "sha256"));
	assert_int_equal(upload_status(&f->eng, id, &info), 0);
	assert_int_equal(info.state, UPLOAD_RECEIVING);
	/* A lie: nothing is stored, the partial goes. */
	c = commit_sha(f, &f->a, id, SHA_A);
	assert_int_equal(c.rv, UPS_ERR_CHECKSUM_MISMATCH);
	assert_int_equal(upload_count(&f->eng), 0);
	/* The truth. */
	a = begin_req(f, &f->a, &req);
	id = a.begun.upload_id;
	assert_int_equal(a.begun.offset, 0);
	send_chunks(f, &f->a, id, 0, f->size, 100000);
	c = commit_sha(f, &f->a, id, f->sha);
	assert_int_equal(c.rv, 0);
	assert_string_equal(c.stored.sha256, f->sha);
	/* Stored now: a begin without a digest is told what is stored,
	 * force or not, and nothing begins. */
	req.force = true;
	a = begin_req(f, &f->b, &req);
	assert_int_equal(a.rv, 0);
	assert_true(a.begun.stored);
	assert_false(a.begun.exists);
	assert_string_equal(a.begun.binary.sha256, f->sha);
	assert_int_equal(a.begun.binary.size, f->size);
	assert_int_equal(upload_count(&f->eng), 0);
}

/* A declared digest and one given at commit must both hold. */
static void test_declared_and_commit_digest(void **state)
{
	struct fx *f = *state;
	struct answer a = begin(f, &f->a), c;

	send_chunks(f, &f->a, a.begun.upload_id, 0, f->size, 100000);
	c = commit_sha(f, &f->a, a.begun.upload_id, SHA_A);
	assert_int_equal(c.rv, UPS_ERR_CHECKSUM_MISMATCH);
	assert_int_equal(upload_count(&f->eng), 0);
	a = begin(f, &f->a);
	send_chunks(f, &f->a, a.begun.upload_id, 0, f->size, 100000);
	c = commit_sha(f, &f->a, a.begun.upload_id, f->sha);
	assert_int_equal(c.rv, 0);
}

/* A partial named by a token resumes after a restart for that token
 * only, and its answer carries the digest of the bytes it holds. */
static void test_token_resume_after_restart(void **state)
{
	struct fx *f = *state;
	struct upload_begin_req req = req_token(f, TOKEN_A);
	struct upload_begin_req other = req_token(f, TOKEN_B);
	struct answer a, b, c;
	char prefix[65];
	uint64_t id;

	a = begin_req(f, &f->a, &req);
	id = a.begun.upload_id;
	send_chunks(f, &f->a, id, 0, 300000, 50000);
	upload_owner_gone(&f->eng, &f->a);
	run(f);
	fx_close(f);
	fx_open(f);
	/* Same name and size, another token: not stitched on. */
	b = begin_req(f, &f->b, &other);
	assert_int_equal(b.rv, 0);
	assert_true(b.begun.upload_id != id);
	assert_int_equal(b.begun.offset, 0);
	assert_int_equal(upload_abort(&f->eng, &f->b, b.begun.upload_id), 0);
	run(f);
	a = begin_req(f, &f->a, &req);
	assert_int_equal(a.begun.upload_id, id);
	assert_int_equal(a.begun.offset, 300000);
	sha_of(f->file, 300000, prefix);
	assert_string_equal(a.begun.prefix_sha256, prefix);
	send_chunks(f, &f->a, id, 300000, f->size, 100000);
	c = commit_sha(f, &f->a, id, f->sha);
	assert_int_equal(c.rv, 0);
}

/* The window is one budget shared by the receiving uploads: each is
 * told its share at begin and in every ack, and an upload that has all
 * its bytes gives its share back. */
static void test_window_shared(void **state)
{
	struct fx *f = *state;
	const uint64_t mib = 1024 * 1024, size = 8 * mib;
	struct upload_begin_req ra = req_sized("2.9.1-ubuntu-amd64", size);
	struct upload_begin_req rb = req_sized("2.9.2-ubuntu-amd64", size);
	uint8_t *zero = calloc(1, size);
	struct answer a, b;

	assert_int_equal(upload_window_share(8 * mib, 0), 8 * mib);
	assert_int_equal(upload_window_share(8 * mib, 1), 8 * mib);
	assert_int_equal(upload_window_share(8 * mib, 4), 2 * mib);
	assert_int_equal(upload_window_share(8 * mib, 16), mib);
	assert_int_equal(upload_window_share(mib / 4, 2), mib / 4);
	test_cfg.window = 4 * mib;
	test_cfg.max_uploads = 4;
	fx_reopen(f);
	a = begin_req(f, &f->a, &ra);
	assert_int_equal(a.begun.window, 4 * mib);
	b = begin_req(f, &f->b, &rb);
	assert_int_equal(b.begun.window, 2 * mib);
	assert_int_equal(upload_receiving_count(&f->eng), 2);
	/* A was told 4 MiB; its next ack (within a quarter of that) tells
	 * it its share now. */
	send_data(f, &f->a, a.begun.upload_id, zero, 0, mib, 256 * 1024);
	assert_true(f->a.acks >= 1);
	assert_int_equal(f->a.ack_window, 2 * mib);
	/* Both progress: B's acks come at a quarter of its share. */
	send_data(f, &f->b, b.begun.upload_id, zero, 0, size, 512 * 1024);
	assert_true(f->b.acks >= (int)(size / (mib / 2)));
	assert_int_equal(f->b.ack_offset, size);
	/* B holds all its bytes: A has the whole budget again. */
	assert_int_equal(upload_receiving_count(&f->eng), 1);
	send_data(f, &f->a, a.begun.upload_id, zero, mib, 2 * mib,
	          256 * 1024);
	assert_int_equal(f->a.ack_window, 4 * mib);
	free(zero);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_window_arithmetic),
	    cmocka_unit_test(test_state_table),
	    T(test_upload_commit),
	    T(test_chunk_beyond_size),
	    T(test_checksum_mismatch),
	    T(test_size_mismatch),
	    T(test_owner_gone_during_begin),
	    T(test_resume_after_restart),
	    T(test_abort_and_busy),
	    T(test_window_overrun_pauses),
	    T(test_per_owner_share),
	    T(test_stall_detaches),
	    T(test_partials_cap),
	    T(test_space_counts_claims),
	    T(test_digest_at_commit),
	    T(test_declared_and_commit_digest),
	    T(test_token_resume_after_restart),
	    T(test_window_shared),
	    T(test_checkpoint_fails),
	    T(test_no_checkpoint_at_the_end),
	    T(test_batch_in_two_halves),
	    T(test_half_fails),
	    T(test_no_split_off_page),
	    T(test_frame_buffers_taken),
	    T(test_halves_no_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
