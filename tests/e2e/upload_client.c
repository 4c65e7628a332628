/* upload_client: a scriptable raw AgentBinaries client for the upload
 * end-to-end tests. It logs in, performs one upload scenario chosen by
 * flags, and prints every answer as one JSON line on stdout so the shell
 * scripts can assert on them (with jq):
 *
 *   {"step": S, "kind": K, "code": C, "message": M}
 *
 * S is the step the answer belongs to (login, begin, chunk, commit, abort,
 * status, status-after, call, ...), K one of response | error | push |
 * closed | timeout | sent | end, C the error code (error envelopes, Error
 * pushes and UploadError pushes; null otherwise), M the envelope as
 * received. The last line is {"step":"end", ...} with the counters.
 *
 *   upload_client --agent ws://127.0.0.1:P [--token T] [--role R]
 *     [--file F] [--binary-version BV] [--stream S] [--force]
 *     [--claim-sha256 HEX] [--claim-size N] [--raw-begin JSON]
 *     [--chunk-size N] [--chunk-offset-skew N] [--skew-at BYTES]
 *     [--chunk-bad-id] [--chunk-upload-id N] [--stop-after BYTES]
 *     [--no-commit] [--abort] [--status] [--hold]
 *     [--call METHOD --params JSON [--facade F]] [--timeout SECS]
 *     [--pause-at BYTES --resume-when FILE] [--ignore-window]
 *     [--upload-token T] [--commit-sha256 HEX|none] [--facade-version N]
 *
 * Scenario:
 *   1. Admin.Login (role client unless --role).
 *   2. --call: one METHOD of --facade (default AgentBinaries) with the
 *      raw params, then done.
 *   3. UploadBegin with the claimed (default: true) size and SHA-256 of
 *      --file, or the raw params of --raw-begin (sent verbatim, so a test
 *      can put \u0000 or anything else in them). --upload-token T: the
 *      token instead of a SHA-256 (AgentBinaries version 2); the commit
 *      then gives the file's true SHA-256 unless --commit-sha256 says
 *      otherwise (HEX: that one, also with a declared digest; none: no
 *      digest at all). --facade-version N: AgentBinaries requests carry
 *      version N (default: the one this build speaks).
 *   4. With {"status":"upload"} and a --file: chunks from the offset given,
 *      as fast as the window allows (UploadAck pushes reopen it). The whole
 *      file is sent whatever size was claimed, or only its first
 *      --stop-after bytes.
 *      --chunk-offset-skew N: the first chunk at or after --skew-at gets
 *      offset + N (N may be negative); --chunk-bad-id: it gets a wrong
 *      upload id instead (--chunk-upload-id N: that id, e.g. another
 *      connection's upload). Nothing more is sent until the UploadError
 *      for it arrives; then streaming goes on from its expected-offset.
 *      Any other UploadError ends the stream.
 *      --ignore-window: send as fast as the socket takes it, as if the
 *      window were endless (a misbehaving client).
 *      --pause-at BYTES: once that many bytes are sent and received (per
 *      UploadStatus), print {"step":"paused"} and send nothing more until
 *      FILE (--resume-when) exists, so a test can change the world (fill
 *      the disk) in the middle of an upload.
 *   5. After the stream: with --status, --no-commit or --abort, UploadStatus
 *      is polled until the server has received everything sent (the last
 *      answer is printed as step "status"); then UploadAbort (--abort) or
 *      UploadCommit (unless --no-commit), then one more UploadStatus with
 *      --status or --abort ("status-after").
 *   6. --hold: print {"step":"holding"} and wait until the server closes
 *      the connection or the timeout; otherwise close.
 *
 * Exit status: 0 when the exchange completed (every request answered,
 * whatever the answers were), 1 on a timeout or an unexpected close, 2 on
 * a usage error, 3 when the client cannot start. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "proto/chunk.h"
#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/log.h"
#include "proto/net/outq.h"
#include "proto/net/rxbuf.h"
#include "proto/net/url.h"
#include "proto/net/ws.h"

/* Bytes of chunk frames kept queued locally; more would only use memory. */
#define UC_QUEUE_HIGH     (2 * 1024 * 1024)
#define UC_STATUS_POLL_MS 20

enum phase {
	PH_CONNECT,
	PH_LOGIN,
	PH_CALL,
	PH_BEGIN,
	PH_STREAM,
	PH_WAIT_FAULT, /* the faulty chunk is out; waiting for its error */
	PH_SYNC,       /* polling UploadStatus until everything arrived */
	PH_PAUSE_SYNC, /* the same, before a pause */
	PH_PAUSED,     /* waiting for the resume file */
	PH_ABORT,
	PH_COMMIT,
	PH_STATUS_AFTER,
	PH_HOLD,
	PH_DONE,
};

static const char *const phase_names[] = {
    [PH_CONNECT] = "connect", [PH_LOGIN] = "login",
    [PH_CALL] = "call",       [PH_BEGIN] = "begin",
    [PH_STREAM] = "stream",   [PH_WAIT_FAULT] = "wait-fault",
    [PH_SYNC] = "status",     [PH_PAUSE_SYNC] = "pause",
    [PH_PAUSED] = "paused",   [PH_ABORT] = "abort",
    [PH_COMMIT] = "commit",   [PH_STATUS_AFTER] = "status-after",
    [PH_HOLD] = "hold",       [PH_DONE] = "done",
};

struct opts {
	const char *agent, *token, *role, *file, *bv, *stream;
	const char *claim_sha, *raw_begin, *call, *params, *resume_when;
	const char *facade; /* of --call; AgentBinaries by default */
	const char *upload_token, *commit_sha;
	int facade_version;
	bool has_claim_size, force, no_commit, abort, status, hold, bad_id;
	bool ignore_window;
	uint64_t claim_size, stop_after, skew_at, foreign_id;
	int64_t skew;
	bool has_skew, has_stop, has_pause;
	uint64_t pause_at;
	size_t chunk;
	unsigned timeout;
};

struct uc {
	struct opts o;
	uv_loop_t loop;
	uv_timer_t deadline, poll;
	struct ups_ws ws;
	struct ups_url url;
	struct lws *wsi;
	struct ups_outq outq;
	struct ups_rxbuf rx;
	enum phase phase;
	uint64_t next_id, pending_id;
	bool we_close, closed, finished;
	int rc;
	/* The file. */
	int fd;
	uint64_t fsize;
	char sha[65];
	uint8_t *buf; /* owned: one chunk frame */
	/* The upload. */
	uint64_t upload_id, start_off, next_off, acked, durable, window;
	uint64_t sent_bytes; /* payload bytes sent, faulty chunk included */
	unsigned acks, upload_errors;
	bool fault_done, stream_failed, paused_once;
	char last_code[64];
};

static struct uc U;

/* ---- output -------------------------------------------------------------- */

/* Prints one line {"step","kind","code","message"}; message is stolen. */
static void emit(const char *step, const char *kind, const char *code,
                 json_t *message)
{
	json_t *line = json_object();
	char *text;

	json_object_set_new(line, "step", json_string(step));
	json_object_set_new(line, "kind", json_string(kind));
	json_object_set_new(line, "code",
	                    code ? json_string(code) : json_null());
	json_object_set_new(line, "message", message ? message : json_null());
	text = json_dumps(line, JSON_COMPACT);
	if (text) {
		printf("%s\n", text);
		fflush(stdout);
		free(text);
	}
	json_decref(line);
}

static void emit_end(void)
{
	json_t *m = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:s, s:b}", "upload-id",
	    (json_int_t)U.upload_id, "start-offset", (json_int_t)U.start_off,
	    "next-offset", (json_int_t)U.next_off, "acked", (json_int_t)U.acked,
	    "durable", (json_int_t)U.durable, "sent-bytes",
	    (json_int_t)U.sent_bytes, "acks", (json_int_t)U.acks,
	    "upload-errors", (int)U.upload_errors, "phase",
	    phase_names[U.phase], "stream-failed", U.stream_failed);

	emit("end", "end", U.last_code[0] ? U.last_code : NULL, m);
}

/* ---- ending -----------------------------------------------------------------
 */

static void finish(void)
{
	if (U.finished)
		return;
	U.finished = true;
	uv_timer_stop(&U.deadline);
	uv_timer_stop(&U.poll);
	uv_close((uv_handle_t *)&U.deadline, NULL);
	uv_close((uv_handle_t *)&U.poll, NULL);
	ups_ws_begin_destroy(&U.ws);
}

static void on_close_deadline(uv_timer_t *t)
{
	(void)t;
	finish();
}

/* Ends the scenario: closes our side once the queue is written. */
static void done(int rc)
{
	if (U.phase == PH_DONE)
		return;
	if (rc)
		U.rc = rc;
	emit_end();
	U.phase = PH_DONE;
	uv_timer_stop(&U.poll);
	if (U.wsi && !U.closed) {
		U.we_close = true;
		lws_callback_on_writable(U.wsi);
		/* A server that never lets us write must not hang us. */
		uv_timer_start(&U.deadline, on_close_deadline, 5000, 0);
	} else {
		finish();
	}
}

static void on_deadline(uv_timer_t *t)
{
	(void)t;
	if (U.phase == PH_HOLD) {
		emit("hold", "timeout", NULL, NULL);
		done(1);
		return;
	}
	emit(phase_names[U.phase], "timeout", NULL,
	     json_pack("{s:i}", "seconds", (int)U.o.timeout));
	done(1);
}

/* ---- requests ---------------------------------------------------------------
 */

/* Sends AgentBinaries-style request (facade type) with params_text sent
 * verbatim; becomes the pending request of phase ph. */
static void send_request(enum phase ph, const char *type, const char *method,
                         const char *params_text)
{
	char *msg = NULL;
	int n;

	U.phase = ph;
	U.pending_id = ++U.next_id;
	n = asprintf(&msg,
	             "{\"request-id\":%" PRIu64
	             ",\"type\":\"%s\",\"version\":%d,"
	             "\"request\":\"%s\",\"params\":%s}",
	             U.pending_id, type,
	             U.o.facade_version &&
	                     strcmp(type, UPS_FACADE_AGENT_BINARIES) == 0
	                 ? U.o.facade_version
	                 : ups_facade_version(type),
	             method, params_text);
	if (n < 0)
		abort();
	if (ups_outq_send(&U.outq, U.wsi, false, msg, (size_t)n, NULL, 0)) {
		fprintf(stderr, "upload_client: cannot queue %s\n", method);
		free(msg);
		done(1);
		return;
	}
	free(msg);
}

static void send_upload_req(enum phase ph, const char *method)
{
	char params[160];
	const char *sha = NULL;

	/* The commit's digest: the file's own when the begin declared
	 * none, or whatever the test claims. */
	if (ph == PH_COMMIT) {
		if (U.o.commit_sha)
			sha = strcmp(U.o.commit_sha, "none") == 0
			          ? NULL
			          : U.o.commit_sha;
		else if (U.o.upload_token)
			sha = U.sha;
	}
	if (sha)
		snprintf(params, sizeof(params),
		         "{\"upload-id\":%" PRIu64 ",\"sha256\":\"%s\"}",
		         U.upload_id, sha);
	else
		snprintf(params, sizeof(params), "{\"upload-id\":%" PRIu64 "}",
		         U.upload_id);
	send_request(ph, "AgentBinaries", method, params);
}

static void send_login(void)
{
	json_t *p =
	    json_pack("{s:s, s:s}", "role", U.o.role, "token", U.o.token);
	char *text = json_dumps(p, JSON_COMPACT);

	json_decref(p);
	if (!text)
		abort();
	send_request(PH_LOGIN, "Admin", "Login", text);
	free(text);
}

static void send_begin(void)
{
	json_t *p;
	char *text;

	if (U.o.raw_begin) {
		send_request(PH_BEGIN, "AgentBinaries", "UploadBegin",
		             U.o.raw_begin);
		return;
	}
	p = json_pack(
	    "{s:s, s:s, s:I}", "binary-version", U.o.bv, "stream", U.o.stream,
	    "size",
	    (json_int_t)(U.o.has_claim_size ? U.o.claim_size : U.fsize));
	if (U.o.upload_token)
		json_object_set_new(p, "upload-token",
		                    json_string(U.o.upload_token));
	else
		json_object_set_new(p, "sha256",
		                    json_string(U.o.claim_sha ? U.o.claim_sha
		                                              : U.sha));
	if (U.o.force)
		json_object_set_new(p, "force", json_true());
	text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	if (!text)
		abort();
	send_request(PH_BEGIN, "AgentBinaries", "UploadBegin", text);
	free(text);
}

/* ---- streaming --------------------------------------------------------------
 */

static void after_stream(void);

/* Where the stream ends: the file, or its first --stop-after bytes. */
static uint64_t stream_limit(void)
{
	if (U.o.has_stop && U.o.stop_after < U.fsize)
		return U.o.stop_after;
	return U.fsize;
}

/* Queues chunks while the window and the local queue allow. */
static void pump(void)
{
	while (U.phase == PH_STREAM && U.outq.bytes < UC_QUEUE_HIGH) {
		struct ups_chunk_header h = {0};
		uint64_t limit = stream_limit(), inflight;
		size_t len;
		ssize_t got;
		bool fault = false;

		if (U.next_off >= limit) {
			after_stream();
			return;
		}
		if (U.o.has_pause && !U.paused_once &&
		    U.next_off >= U.o.pause_at) {
			U.paused_once = true;
			send_upload_req(PH_PAUSE_SYNC, "UploadStatus");
			return;
		}
		inflight = U.next_off > U.acked ? U.next_off - U.acked : 0;
		if (inflight >= U.window)
			return; /* an UploadAck reopens it */
		len = U.o.chunk;
		if (len > limit - U.next_off)
			len = (size_t)(limit - U.next_off);
		if (U.o.has_pause && !U.paused_once &&
		    len > U.o.pause_at - U.next_off)
			len = (size_t)(U.o.pause_at - U.next_off);
		if (len > U.window - inflight)
			len = (size_t)(U.window - inflight);
		got = pread(U.fd, U.buf + UPS_CHUNK_HEADER_SIZE, len,
		            (off_t)U.next_off);
		if (got != (ssize_t)len) {
			fprintf(stderr, "upload_client: read %s: %s\n",
			        U.o.file, got < 0 ? strerror(errno) : "short");
			done(1);
			return;
		}
		h.upload_id = U.upload_id;
		h.offset = U.next_off;
		h.length = (uint32_t)len;
		if (!U.fault_done && (U.o.has_skew || U.o.bad_id) &&
		    U.next_off >= U.o.skew_at) {
			fault = true;
			U.fault_done = true;
			if (U.o.foreign_id)
				h.upload_id = U.o.foreign_id;
			else if (U.o.bad_id)
				h.upload_id = U.upload_id + 1000;
			else
				h.offset =
				    (uint64_t)((int64_t)U.next_off + U.o.skew);
		}
		ups_chunk_encode_header(&h, U.buf);
		if (ups_outq_send(&U.outq, U.wsi, true, U.buf,
		                  UPS_CHUNK_HEADER_SIZE + len, NULL, 0)) {
			fprintf(stderr,
			        "upload_client: cannot queue a chunk\n");
			done(1);
			return;
		}
		U.sent_bytes += len;
		if (fault) {
			emit("chunk", "sent", NULL,
			     json_pack("{s:I, s:I, s:I, s:b}", "upload-id",
			               (json_int_t)h.upload_id, "offset",
			               (json_int_t)h.offset, "length",
			               (json_int_t)len, "faulty", 1));
			U.phase = PH_WAIT_FAULT;
			return;
		}
		U.next_off += len;
	}
}

static void on_poll(uv_timer_t *t)
{
	(void)t;
	if (U.phase == PH_SYNC || U.phase == PH_PAUSE_SYNC) {
		send_upload_req(U.phase, "UploadStatus");
	} else if (U.phase == PH_PAUSED) {
		if (access(U.o.resume_when, F_OK) == 0) {
			emit("resumed", "resumed", NULL, NULL);
			U.phase = PH_STREAM;
			pump();
		} else {
			uv_timer_start(&U.poll, on_poll, UC_STATUS_POLL_MS, 0);
		}
	}
}

static void end_request(void)
{
	if (U.o.abort) {
		send_upload_req(PH_ABORT, "UploadAbort");
	} else if (!U.o.no_commit) {
		send_upload_req(PH_COMMIT, "UploadCommit");
	} else if (U.o.hold) {
		U.phase = PH_HOLD;
		emit("holding", "hold", NULL, NULL);
	} else {
		done(0);
	}
}

static void after_stream(void)
{
	if (U.o.status || U.o.no_commit || U.o.abort)
		send_upload_req(PH_SYNC, "UploadStatus");
	else
		end_request();
}

/* ---- answers ----------------------------------------------------------------
 */

static uint64_t get_u64(json_t *obj, const char *key, bool *ok)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*ok = false;
		return 0;
	}
	return (uint64_t)json_integer_value(v);
}

static void on_upload_push(const char *req, json_t *root, json_t *params,
                           const char *code)
{
	bool ok = true;

	if (strcmp(req, "UploadAck") == 0) {
		uint64_t off = get_u64(params, "offset", &ok);
		uint64_t dur = get_u64(params, "durable-offset", &ok);
		bool wok = true;
		uint64_t win = get_u64(params, "window", &wok);

		if (wok && win > 0 && !U.o.ignore_window)
			U.window = win;
		U.acks++;
		emit("chunk", "push", NULL, json_incref(root));
		if (!ok)
			return;
		if (off > U.acked)
			U.acked = off;
		if (dur > U.durable)
			U.durable = dur;
		if (U.phase == PH_STREAM)
			pump();
		return;
	}
	if (strcmp(req, "UploadError") != 0) {
		emit("chunk", "push", code, json_incref(root));
		return;
	}
	U.upload_errors++;
	snprintf(U.last_code, sizeof(U.last_code), "%s", code ? code : "?");
	emit("chunk", "push", code, json_incref(root));
	if (code && strcmp(code, "offset-mismatch") == 0) {
		uint64_t exp = get_u64(params, "expected-offset", &ok);

		if (ok)
			U.next_off = exp;
		if (U.phase == PH_WAIT_FAULT) {
			U.phase = PH_STREAM;
			pump();
		}
		return;
	}
	if (U.phase == PH_WAIT_FAULT && code &&
	    strcmp(code, "not-found") == 0 && U.o.bad_id) {
		U.phase = PH_STREAM;
		pump();
		return;
	}
	/* no-space, io-error, too-large...: the upload is gone. */
	U.stream_failed = true;
	if (U.phase == PH_STREAM || U.phase == PH_WAIT_FAULT)
		after_stream();
}

/* The answer to the pending request (a response, an error, or an Error
 * push standing for it). */
static void on_answer(json_t *root, bool is_error, const char *code)
{
	json_t *resp = json_object_get(root, "response");
	enum phase ph = U.phase;
	bool ok = true;

	U.pending_id = 0;
	if (is_error)
		snprintf(U.last_code, sizeof(U.last_code), "%s",
		         code ? code : "?");
	if (ph != PH_SYNC && ph != PH_PAUSE_SYNC)
		emit(phase_names[ph], is_error ? "error" : "response", code,
		     json_incref(root));
	switch (ph) {
	case PH_LOGIN:
		if (is_error) {
			done(0);
			return;
		}
		if (U.o.call) {
			send_request(PH_CALL, U.o.facade, U.o.call,
			             U.o.params ? U.o.params : "{}");
			return;
		}
		send_begin();
		return;
	case PH_CALL:
		done(0);
		return;
	case PH_BEGIN: {
		const char *status =
		    json_string_value(json_object_get(resp, "status"));

		if (is_error || !status || strcmp(status, "upload") != 0 ||
		    U.fd < 0) {
			done(0);
			return;
		}
		U.upload_id = get_u64(resp, "upload-id", &ok);
		U.start_off = get_u64(resp, "offset", &ok);
		U.window = get_u64(resp, "window", &ok);
		if (!ok || U.window == 0) {
			fprintf(stderr, "upload_client: bad UploadBegin "
			                "answer\n");
			done(1);
			return;
		}
		if (U.o.ignore_window)
			U.window = UINT64_MAX / 2;
		U.next_off = U.acked = U.durable = U.start_off;
		U.phase = PH_STREAM;
		pump();
		return;
	}
	case PH_SYNC: {
		uint64_t off = get_u64(resp, "offset", &ok);

		/* Poll until the server has received all we sent (an ack
		 * may not come before the commit). */
		if (!is_error && ok && off < U.next_off && !U.stream_failed) {
			uv_timer_start(&U.poll, on_poll, UC_STATUS_POLL_MS, 0);
			return;
		}
		emit("status", is_error ? "error" : "response", code,
		     json_incref(root));
		end_request();
		return;
	}
	case PH_PAUSE_SYNC: {
		uint64_t off = get_u64(resp, "offset", &ok);

		if (!is_error && ok && off < U.next_off && !U.stream_failed) {
			uv_timer_start(&U.poll, on_poll, UC_STATUS_POLL_MS, 0);
			return;
		}
		emit("paused", is_error ? "error" : "response", code,
		     json_incref(root));
		if (is_error || U.stream_failed) {
			U.stream_failed = true;
			after_stream();
			return;
		}
		U.phase = PH_PAUSED;
		uv_timer_start(&U.poll, on_poll, UC_STATUS_POLL_MS, 0);
		return;
	}
	case PH_ABORT:
		send_upload_req(PH_STATUS_AFTER, "UploadStatus");
		return;
	case PH_COMMIT:
		if (U.o.status) {
			send_upload_req(PH_STATUS_AFTER, "UploadStatus");
			return;
		}
		/* fallthrough */
	case PH_STATUS_AFTER:
		if (U.o.hold) {
			U.phase = PH_HOLD;
			emit("holding", "hold", NULL, NULL);
			return;
		}
		done(0);
		return;
	default:
		return;
	}
}

static void on_message(const uint8_t *data, size_t len, bool binary)
{
	json_t *root, *id, *params;
	const char *type, *req, *code = NULL;

	if (binary) {
		emit(phase_names[U.phase], "binary", NULL,
		     json_pack("{s:I}", "bytes", (json_int_t)len));
		return;
	}
	root = json_loadb((const char *)data, len, 0, NULL);
	if (!json_is_object(root)) {
		emit(phase_names[U.phase], "garbage", NULL,
		     json_stringn((const char *)data, len));
		json_decref(root);
		return;
	}
	id = json_object_get(root, "request-id");
	params = json_object_get(root, "params");
	type = json_string_value(json_object_get(root, "type"));
	req = json_string_value(json_object_get(root, "request"));
	if (id) {
		bool is_error = json_object_get(root, "error-code") != NULL;

		code = json_string_value(json_object_get(root, "error-code"));
		if (json_is_integer(id) && U.pending_id &&
		    (uint64_t)json_integer_value(id) == U.pending_id)
			on_answer(root, is_error, code);
		else
			emit(phase_names[U.phase], "unexpected", code,
			     json_incref(root));
	} else if (type && req && strcmp(type, "AgentBinaries") == 0) {
		code = json_string_value(json_object_get(params, "error-code"));
		on_upload_push(req, root, params, code);
	} else if (type && strcmp(type, "Error") == 0) {
		/* A malformed request is answered this way when its
		 * request-id could not be read: it stands for the answer. */
		code = json_string_value(json_object_get(params, "error-code"));
		if (U.pending_id) {
			on_answer(root, true, code);
		} else if (U.phase == PH_WAIT_FAULT) {
			/* The faulty chunk was not even a valid frame (e.g.
			 * its offset overflows): go on where we were. */
			U.upload_errors++;
			snprintf(U.last_code, sizeof(U.last_code), "%s",
			         code ? code : "?");
			emit("chunk", "push", code, json_incref(root));
			U.phase = PH_STREAM;
			pump();
		} else
			emit(phase_names[U.phase], "push", code,
			     json_incref(root));
	} else {
		emit(phase_names[U.phase], "push", NULL, json_incref(root));
	}
	json_decref(root);
}

/* ---- websocket --------------------------------------------------------------
 */

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
	struct ups_rxmsg msg;
	int rv;

	if (U.wsi && wsi != U.wsi)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		U.wsi = wsi;
		send_login();
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		rv = ups_rxbuf_feed(&U.rx, wsi, in, len, &msg);
		if (rv < 0) {
			fprintf(stderr, "upload_client: message too large\n");
			return -1;
		}
		if (rv == 1)
			on_message(msg.data, msg.len, msg.binary);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (ups_outq_write_one(&U.outq, wsi) < 0)
			return -1;
		if (U.we_close && ups_outq_empty(&U.outq)) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		if (U.phase == PH_STREAM)
			pump();
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "upload_client: cannot connect: %s\n",
		        in ? (const char *)in : "?");
		U.closed = true;
		U.wsi = NULL;
		if (U.phase != PH_DONE) {
			emit(phase_names[U.phase], "closed", NULL,
			     json_pack("{s:s}", "why", "connection error"));
			done(1);
		}
		finish();
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		U.closed = true;
		U.wsi = NULL;
		if (U.phase == PH_HOLD) {
			emit("hold", "closed", NULL, NULL);
			done(0);
		} else if (U.phase != PH_DONE) {
			emit(phase_names[U.phase], "closed", NULL,
			     json_pack("{s:s}", "why", "closed by the server"));
			done(1);
		}
		finish();
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {.name = UPS_WS_SUBPROTOCOL,
     .callback = callback,
     .rx_buffer_size = 64 * 1024},
    {0},
};

/* ---- start ------------------------------------------------------------------
 */

static int hash_file(int fd, char hex[65], uint64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE], *buf = malloc(1 << 20);
	unsigned mdlen = 0;
	uint64_t total = 0;
	ssize_t n;
	int rv = -1;

	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	while ((n = pread(fd, buf, 1 << 20, (off_t)total)) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (n < 0 || !EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto out;
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	*size = total;
	rv = 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rv;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return false;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: upload_client --agent ws://HOST:PORT [--token T] "
	    "[--role R]\n"
	    "  [--file F --binary-version BV] [--stream S] [--force]\n"
	    "  [--claim-sha256 HEX] [--claim-size N] [--raw-begin JSON]\n"
	    "  [--chunk-size N] [--chunk-offset-skew N] [--skew-at BYTES]\n"
	    "  [--chunk-bad-id] [--chunk-upload-id N] [--stop-after BYTES]\n"
	    "  [--no-commit] [--abort] [--status] [--hold]\n"
	    "  [--call METHOD [--params JSON]] [--timeout SECONDS]\n"
	    "  [--pause-at BYTES --resume-when FILE] [--ignore-window]\n"
	    "  [--upload-token T] [--commit-sha256 HEX|none] "
	    "[--facade-version N]\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"agent", required_argument, NULL, 'a'},
	    {"token", required_argument, NULL, 't'},
	    {"role", required_argument, NULL, 'r'},
	    {"file", required_argument, NULL, 'f'},
	    {"binary-version", required_argument, NULL, 'b'},
	    {"stream", required_argument, NULL, 's'},
	    {"claim-sha256", required_argument, NULL, 'S'},
	    {"claim-size", required_argument, NULL, 'Z'},
	    {"raw-begin", required_argument, NULL, 'R'},
	    {"chunk-size", required_argument, NULL, 'c'},
	    {"chunk-offset-skew", required_argument, NULL, 'k'},
	    {"skew-at", required_argument, NULL, 'K'},
	    {"chunk-bad-id", no_argument, NULL, 'i'},
	    {"chunk-upload-id", required_argument, NULL, 'I'},
	    {"ignore-window", no_argument, NULL, 'G'},
	    {"stop-after", required_argument, NULL, 'p'},
	    {"no-commit", no_argument, NULL, 'n'},
	    {"abort", no_argument, NULL, 'A'},
	    {"force", no_argument, NULL, 'F'},
	    {"status", no_argument, NULL, 'u'},
	    {"hold", no_argument, NULL, 'h'},
	    {"call", required_argument, NULL, 'C'},
	    {"facade", required_argument, NULL, 'B'},
	    {"params", required_argument, NULL, 'P'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"pause-at", required_argument, NULL, 'w'},
	    {"resume-when", required_argument, NULL, 'W'},
	    {"upload-token", required_argument, NULL, 'X'},
	    {"commit-sha256", required_argument, NULL, 'Y'},
	    {"facade-version", required_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	char *end;
	int ch;

	o->token = "";
	o->role = "client";
	o->facade = "AgentBinaries";
	o->stream = "released";
	o->chunk = 512 * 1024;
	o->timeout = 60;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			o->agent = optarg;
			break;
		case 'B':
			o->facade = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'r':
			o->role = optarg;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 'b':
			o->bv = optarg;
			break;
		case 's':
			o->stream = optarg;
			break;
		case 'S':
			o->claim_sha = optarg;
			break;
		case 'Z':
			if (!parse_u64(optarg, &o->claim_size))
				return -1;
			o->has_claim_size = true;
			break;
		case 'R':
			o->raw_begin = optarg;
			break;
		case 'X':
			o->upload_token = optarg;
			break;
		case 'Y':
			o->commit_sha = optarg;
			break;
		case 'V':
			if (!parse_u64(optarg, &v) || v > 1000)
				return -1;
			o->facade_version = (int)v;
			break;
		case 'c':
			if (!parse_u64(optarg, &v) || v == 0 ||
			    v > UPS_LIMIT_CHUNK_PAYLOAD_MAX)
				return -1;
			o->chunk = (size_t)v;
			break;
		case 'k':
			errno = 0;
			o->skew = strtoll(optarg, &end, 10);
			if (errno || *end || !*optarg)
				return -1;
			o->has_skew = true;
			break;
		case 'K':
			if (!parse_u64(optarg, &o->skew_at))
				return -1;
			break;
		case 'i':
			o->bad_id = true;
			break;
		case 'G':
			o->ignore_window = true;
			break;
		case 'I':
			if (!parse_u64(optarg, &o->foreign_id) ||
			    !o->foreign_id)
				return -1;
			o->bad_id = true;
			break;
		case 'p':
			if (!parse_u64(optarg, &o->stop_after))
				return -1;
			o->has_stop = true;
			break;
		case 'n':
			o->no_commit = true;
			break;
		case 'A':
			o->abort = true;
			break;
		case 'F':
			o->force = true;
			break;
		case 'u':
			o->status = true;
			break;
		case 'h':
			o->hold = true;
			break;
		case 'C':
			o->call = optarg;
			break;
		case 'P':
			o->params = optarg;
			break;
		case 'w':
			if (!parse_u64(optarg, &o->pause_at))
				return -1;
			o->has_pause = true;
			break;
		case 'W':
			o->resume_when = optarg;
			break;
		case 'T':
			if (!parse_u64(optarg, &v) || v == 0 || v > 3600)
				return -1;
			o->timeout = (unsigned)v;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || !o->agent)
		return -1;
	if (!o->call && !o->raw_begin &&
	    (!o->bv || (!o->file && (!o->claim_sha || !o->has_claim_size))))
		return -1;
	if (o->call && strpbrk(o->call, "\"\\"))
		return -1;
	if (o->has_pause != (o->resume_when != NULL))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct ups_ws_config cfg = {0};
	char err[UPS_ERRMSG_MAX];

	U.fd = -1;
	if (parse_args(argc, argv, &U.o) ||
	    ups_url_parse(U.o.agent, &U.url, err, sizeof(err))) {
		usage();
		return 2;
	}
	if (U.o.file) {
		U.fd = open(U.o.file, O_RDONLY | O_CLOEXEC);
		if (U.fd < 0 || hash_file(U.fd, U.sha, &U.fsize)) {
			fprintf(stderr, "upload_client: %s: %s\n", U.o.file,
			        strerror(errno));
			return 3;
		}
	}
	U.buf = malloc(UPS_CHUNK_HEADER_SIZE + UPS_LIMIT_CHUNK_PAYLOAD_MAX);
	if (!U.buf)
		return 3;
	ups_log_threshold = UPS_LOG_ERROR;
	ups_outq_init(&U.outq, 4 * UPS_LIMIT_BINARY_MSG_MAX);

	uv_loop_init(&U.loop);
	uv_timer_init(&U.loop, &U.deadline);
	uv_timer_init(&U.loop, &U.poll);
	ups_ws_init_logging();
	cfg.loop = &U.loop;
	cfg.protocols = protocols;
	cfg.client = true;
	if (ups_ws_create(&U.ws, &cfg, err, sizeof(err))) {
		fprintf(stderr, "upload_client: %s\n", err);
		return 3;
	}
	uv_timer_start(&U.deadline, on_deadline, U.o.timeout * 1000ULL, 0);
	U.phase = PH_CONNECT;
	if (!ups_ws_connect(&U.ws, &U.url, NULL, NULL) && !U.finished) {
		emit("connect", "closed", NULL,
		     json_pack("{s:s}", "why", "cannot connect"));
		U.rc = 1;
		U.phase = PH_DONE;
		finish();
	}
	uv_run(&U.loop, UV_RUN_DEFAULT);
	ups_ws_finish_destroy(&U.ws);
	if (uv_loop_close(&U.loop) != 0) {
		fprintf(stderr, "upload_client: handles left open\n");
		U.rc = 1;
	}
	ups_outq_clear(&U.outq);
	ups_rxbuf_free(&U.rx);
	free(U.buf);
	if (U.fd >= 0)
		close(U.fd);
	return U.rc;
}
