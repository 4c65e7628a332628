/* ws_abuse: an end-to-end test client that misbehaves on purpose.
 *
 *   ws_abuse --url ws://127.0.0.1:PORT [--token T] [--role R] [--auth]
 *            [--ca-cert F]
 *            [--unavailable] [--verbose] [--hold]
 *
 * It runs a script of connections, one after the other. Each connection
 * sends its steps one at a time and checks the one answer (or the close)
 * each step must produce:
 *   - before login: requests get `unauthorized`, a chunk frame gets
 *     `unauthorized` and the connection is closed;
 *   - with --auth: three wrong tokens get `unauthorized` and a close;
 *   - after login: >= 200 malformed envelopes and frames, each answered
 *     with a typed error (bad-request, not-implemented, too-large), then a
 *     good Agent.Ping still answers;
 *   - an oversized text message and an oversized binary message each get
 *     `too-large` and a close.
 * --unavailable: the server is a relay with no upstaged linked, so
 * well-formed requests after login are answered `unavailable`.
 * --hold: only log in, ping, print "holding" and wait until the server
 * closes the connection (exit 0 then): a live client for shutdown tests.
 * --flood N: like --hold, but first stop reading and send N Agent.Info
 * requests; the server must close the connection within 60 s because its
 * bounded output queue for us fills up.
 * Exit status 0 only if every answer was as expected. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/chunk.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/log.h"
#include "proto/net/outq.h"
#include "proto/net/rxbuf.h"
#include "proto/net/url.h"
#include "proto/net/ws.h"

#define STEP_TIMEOUT_MS  5000
#define FLOOD_TIMEOUT_MS 60000

enum expect {
	EXPECT_RESPONSE, /* {"request-id": id, "response": ...} */
	EXPECT_ERROR_ID, /* error envelope with request-id == id */
	EXPECT_ERROR,    /* error envelope with any id, or an Error push */
};

struct step {
	bool binary;
	uint8_t *data; /* owned */
	size_t len;
	enum expect expect;
	uint64_t id;
	const char *codes; /* accepted error codes, "a|b" */
	bool then_close;   /* the server must close after answering */
	bool wait_close;   /* send nothing; wait (forever) for the close */
	char desc[96];
};

struct conn_script {
	const char *name;
	struct step *steps; /* owned array */
	size_t nsteps, cap;
};

struct abuse {
	uv_loop_t loop;
	uv_timer_t timer;
	uv_timer_t poke; /* flood: keeps writing so a reset is noticed */
	struct ups_ws ws;
	struct ups_url url;
	const char *token;
	const char *role; /* role of the good logins */
	bool auth, unavailable, verbose, hold;
	unsigned flood; /* with hold: requests sent without reading */
	struct conn_script conns[8];
	size_t nconns;
	/* Current connection. */
	size_t ci, si;
	struct lws *wsi;
	struct ups_outq outq;
	struct ups_rxbuf rx;
	bool answered; /* the current step got its answer */
	bool we_close; /* we are closing after the last step */
	uint64_t next_id;
	/* Results. */
	unsigned checked, passed, malformed_sent;
	bool finished;
};

static struct abuse A;

/* ---- building the script ---------------------------------------------- */

static struct step *add_step(struct conn_script *cs, bool binary,
                             const void *data, size_t len, enum expect expect,
                             uint64_t id, const char *codes, const char *desc)
{
	struct step *s;

	if (cs->nsteps == cs->cap) {
		cs->cap = cs->cap ? 2 * cs->cap : 64;
		cs->steps = realloc(cs->steps, cs->cap * sizeof(*cs->steps));
		if (!cs->steps)
			abort();
	}
	s = &cs->steps[cs->nsteps++];
	memset(s, 0, sizeof(*s));
	s->binary = binary;
	s->data = malloc(len ? len : 1);
	if (!s->data)
		abort();
	memcpy(s->data, data, len);
	s->len = len;
	s->expect = expect;
	s->id = id;
	s->codes = codes;
	snprintf(s->desc, sizeof(s->desc), "%s", desc);
	return s;
}

static struct step *add_text(struct conn_script *cs, enum expect expect,
                             uint64_t id, const char *codes, const char *desc,
                             const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static struct step *add_text(struct conn_script *cs, enum expect expect,
                             uint64_t id, const char *codes, const char *desc,
                             const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int n;
	struct step *s;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	s = add_step(cs, false, text, (size_t)n, expect, id, codes, desc);
	free(text);
	return s;
}

static uint64_t new_id(void)
{
	return ++A.next_id;
}

static struct step *add_login(struct conn_script *cs, const char *role,
                              const char *token, enum expect expect,
                              const char *codes, const char *desc)
{
	uint64_t id = new_id();

	return add_text(cs, expect, id, codes, desc,
	                "{\"request-id\":%llu,\"type\":\"Admin\",\"version\":1,"
	                "\"request\":\"Login\",\"params\":{\"role\":\"%s\","
	                "\"token\":\"%s\"}}",
	                (unsigned long long)id, role, token);
}

static struct step *add_call(struct conn_script *cs, const char *type,
                             const char *method, const char *params,
                             enum expect expect, const char *codes,
                             const char *desc)
{
	uint64_t id = new_id();

	return add_text(cs, expect, id, codes, desc,
	                "{\"request-id\":%llu,\"type\":\"%s\",\"version\":1,"
	                "\"request\":\"%s\",\"params\":%s}",
	                (unsigned long long)id, type, method, params);
}

/* A malformed message: counted, and answered by a typed error. */
static void bad(struct conn_script *cs, enum expect expect, uint64_t id,
                const char *codes, const char *desc, const void *data,
                size_t len, bool binary)
{
	add_step(cs, binary, data, len, expect, id, codes, desc);
	A.malformed_sent++;
}

static void bad_text(struct conn_script *cs, const char *codes,
                     const char *desc, const char *text)
{
	bad(cs, EXPECT_ERROR, 0, codes, desc, text, strlen(text), false);
}

static void bad_chunk(struct conn_script *cs, const char *desc,
                      const uint8_t *frame, size_t len)
{
	bad(cs, EXPECT_ERROR, 0, "bad-request|too-large|not-implemented", desc,
	    frame, len, true);
}

static void make_chunk(uint8_t *out, const char *magic, uint32_t flags,
                       uint64_t upload_id, uint64_t offset, uint32_t length)
{
	struct ups_chunk_header h = {flags, upload_id, offset, length, 0};

	ups_chunk_encode_header(&h, out);
	memcpy(out, magic, 4);
}

/* After login: the long list of malformed envelopes and frames. */
static void script_malformed(struct conn_script *cs)
{
	static const char *const junk[] = {
	    "",
	    " ",
	    "{",
	    "}",
	    "[",
	    "{{}}",
	    "{\"request-id\":}",
	    "{\"request-id\" 1}",
	    "{'request-id':1}",
	    "{request-id:1}",
	    "{\"request-id\":1,}",
	    "{\"a\":1}{\"b\":2}",
	    "{} x",
	    "nul",
	    "tru",
	    "\"unterminated",
	    "{\"request-id\":1,\"type\":\"Agent\",\"request\":\"Ping\",",
	    "\xff\xfe\xfd",
	    "{\"request-id\":1,\"type\":\"\xc3\x28\",\"request\":\"Ping\"}",
	    "{\"request-id\":01,\"type\":\"Agent\",\"request\":\"Ping\"}",
	    "{\"request-id\":1e999999,\"type\":\"Agent\"}",
	    "{\"request-id\":-,\"type\":\"Agent\"}",
	    "{\"\\ud800\":1}",
	    "/* comment */ {}",
	    "{\"request-id\":NaN}",
	    "{\"request-id\":Infinity}",
	    "{\"request-id\":1 \"type\":\"Agent\"}",
	    "{\"request-id\":1,,\"type\":\"Agent\"}",
	    "{\"request-id\":0x10}",
	    "{\"request-id\":+1}",
	    "{\"type\":\"Agent\\x\"}",
	    "{\"type\":\"\\u12\"}",
	    "\xef\xbb\xbf{}",
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	    "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{",
	    "\t\r\n",
	};
	static const char *const toplevel[] = {
	    "[]",    "[1,2,3]",
	    "1",     "-5",
	    "1.5",   "\"string\"",
	    "null",  "true",
	    "false", "[{\"request-id\":1,\"type\":\"Agent\"}]",
	    "{}",
	};
	static const char *const bad_ids[] = {
	    "0",
	    "-1",
	    "-9007199254740991",
	    "9007199254740992",
	    "18446744073709551616",
	    "99999999999999999999999",
	    "1.0",
	    "1.5",
	    "1e3",
	    "\"7\"",
	    "true",
	    "null",
	    "[]",
	    "{}",
	};
	/* Field name -> values of the wrong type or out of range. */
	static const struct {
		const char *field;
		const char *values[10];
	} wrong[] = {
	    {"type",
	     {"5", "null", "true", "[]", "{}", "\"\"", "\"Agent Ping\"",
	      "\"Agent/../x\"", "\"\\u00e9t\"", NULL}},
	    {"request",
	     {"5", "null", "false", "[\"Ping\"]", "{}", "\"\"", "\"Pi ng\"",
	      "\"Ping\\n\"", NULL}},
	    {"version",
	     {"\"1\"", "-1", "1001", "1.5", "null", "[]", "99999999999", "true",
	      NULL}},
	    {"params", {"[]", "\"x\"", "5", "null", "true", "[{}]", NULL}},
	};
	static const char *const unknown_keys[] = {
	    "bogus",      "Request-Id", "requestid", "response", "error",
	    "error-code", "error-info", "params2",   "",
	};
	const char *base_fmt = "{\"request-id\":%llu,\"type\":\"Agent\","
	                       "\"version\":1,\"request\":\"Ping\","
	                       "\"params\":{}}";
	char base[256], desc[96], buf[512];
	uint8_t frame[UPS_CHUNK_HEADER_SIZE + 64];
	size_t i, j, n;

	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		snprintf(desc, sizeof(desc), "invalid JSON #%zu", i);
		bad_text(cs, "bad-request", desc, junk[i]);
	}
	for (i = 0; i < sizeof(toplevel) / sizeof(toplevel[0]); i++) {
		snprintf(desc, sizeof(desc), "top level %s", toplevel[i]);
		bad_text(cs, "bad-request", desc, toplevel[i]);
	}
	/* Every proper prefix of a good request is truncated JSON. */
	n = (size_t)snprintf(base, sizeof(base), base_fmt, 424242ULL);
	for (i = 1; i < n; i += (i < 24 ? 1 : 2)) {
		snprintf(desc, sizeof(desc), "truncated to %zu bytes", i);
		bad(cs, EXPECT_ERROR, 0, "bad-request", desc, base, i, false);
	}
	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		snprintf(buf, sizeof(buf),
		         "{\"request-id\":%s,\"type\":\"Agent\",\"version\":1,"
		         "\"request\":\"Ping\",\"params\":{}}",
		         bad_ids[i]);
		snprintf(desc, sizeof(desc), "request-id %s", bad_ids[i]);
		bad_text(cs, "bad-request", desc, buf);
	}
	/* A request without request-id is a push-shaped message with a
	 * version: not a valid envelope either way. */
	bad_text(cs, "bad-request", "no request-id",
	         "{\"type\":\"Agent\",\"version\":1,\"request\":\"Ping\","
	         "\"params\":{}}");
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		for (j = 0; wrong[i].values[j]; j++) {
			uint64_t id = new_id();
			const char *t = strcmp(wrong[i].field, "type")
			                    ? "\"Agent\""
			                    : wrong[i].values[j];
			const char *r = strcmp(wrong[i].field, "request")
			                    ? "\"Ping\""
			                    : wrong[i].values[j];
			const char *v = strcmp(wrong[i].field, "version")
			                    ? "1"
			                    : wrong[i].values[j];
			const char *p = strcmp(wrong[i].field, "params")
			                    ? "{}"
			                    : wrong[i].values[j];

			n = (size_t)snprintf(
			    buf, sizeof(buf),
			    "{\"request-id\":%llu,\"type\":%s,\"version\":"
			    "%s,\"request\":%s,\"params\":%s}",
			    (unsigned long long)id, t, v, r, p);
			snprintf(desc, sizeof(desc), "%s = %s", wrong[i].field,
			         wrong[i].values[j]);
			bad(cs, EXPECT_ERROR_ID, id, "bad-request", desc, buf,
			    n, false);
		}
	}
	for (i = 0; i < sizeof(unknown_keys) / sizeof(unknown_keys[0]); i++) {
		uint64_t id = new_id();

		n = (size_t)snprintf(buf, sizeof(buf),
		                     "{\"request-id\":%llu,\"type\":\"Agent\","
		                     "\"request\":\"Ping\",\"params\":{},"
		                     "\"%s\":1}",
		                     (unsigned long long)id, unknown_keys[i]);
		snprintf(desc, sizeof(desc), "unknown key \"%s\"",
		         unknown_keys[i]);
		bad(cs, EXPECT_ERROR_ID, id, "bad-request", desc, buf, n,
		    false);
	}
	/* Duplicate keys: which request-id counts is not defined, so any
	 * form of typed error will do. */
	bad_text(cs, "bad-request", "duplicate request-id",
	         "{\"request-id\":5,\"request-id\":6,\"type\":\"Agent\","
	         "\"request\":\"Ping\"}");
	bad_text(cs, "bad-request", "duplicate type",
	         "{\"request-id\":5,\"type\":\"Agent\",\"type\":\"Admin\","
	         "\"request\":\"Ping\"}");
	bad_text(cs, "bad-request", "duplicate request",
	         "{\"request-id\":5,\"type\":\"Agent\",\"request\":\"Ping\","
	         "\"request\":\"Info\"}");
	bad_text(cs, "bad-request", "duplicate params",
	         "{\"request-id\":5,\"type\":\"Agent\",\"request\":\"Ping\","
	         "\"params\":{},\"params\":{}}");
	bad_text(cs, "bad-request", "duplicate key inside params",
	         "{\"request-id\":5,\"type\":\"Agent\",\"request\":\"Ping\","
	         "\"params\":{\"a\":1,\"a\":2}}");
	bad_text(cs, "bad-request", "duplicate version",
	         "{\"request-id\":5,\"type\":\"Agent\",\"version\":1,"
	         "\"version\":1,\"request\":\"Ping\"}");
	/* Embedded NUL bytes, raw and escaped. */
	bad(cs, EXPECT_ERROR, 0, "bad-request", "raw NUL in the middle",
	    "{\"request-id\":9,\0\"type\":\"Agent\"}", 32, false);
	bad(cs, EXPECT_ERROR, 0, "bad-request", "raw NUL at the end", "{}\0", 3,
	    false);
	bad(cs, EXPECT_ERROR, 0, "bad-request", "only NUL", "\0\0\0\0", 4,
	    false);
	bad_text(cs, "bad-request", "escaped NUL in type",
	         "{\"request-id\":9,\"type\":\"Ag\\u0000ent\","
	         "\"request\":\"Ping\"}");
	bad_text(cs, "bad-request", "escaped NUL in a params key",
	         "{\"request-id\":9,\"type\":\"Agent\",\"request\":\"Ping\","
	         "\"params\":{\"a\\u0000b\":1}}");
	/* Strings over their limits (the message itself stays small). */
	for (i = 0; i < 4; i++) {
		static const size_t lens[] = {65, 200, 5000, 60000};
		char *s = malloc(lens[i] + 1);
		char *msg = malloc(lens[i] + 128);
		uint64_t id = new_id();

		if (!s || !msg)
			abort();
		memset(s, 'A', lens[i]);
		s[lens[i]] = '\0';
		n = (size_t)sprintf(msg,
		                    "{\"request-id\":%llu,\"type\":\"%s\","
		                    "\"request\":\"Ping\"}",
		                    (unsigned long long)id, s);
		snprintf(desc, sizeof(desc), "type of %zu bytes", lens[i]);
		bad(cs, EXPECT_ERROR_ID, id, "bad-request", desc, msg, n,
		    false);
		id = new_id();
		n = (size_t)sprintf(msg,
		                    "{\"request-id\":%llu,\"type\":\"Agent\","
		                    "\"request\":\"%s\"}",
		                    (unsigned long long)id, s);
		snprintf(desc, sizeof(desc), "request of %zu bytes", lens[i]);
		bad(cs, EXPECT_ERROR_ID, id, "bad-request", desc, msg, n,
		    false);
		free(msg);
		free(s);
	}
	/* Well-formed envelopes with params the method does not take. */
	add_call(cs, "Agent", "Ping", "{\"x\":1}", EXPECT_ERROR_ID,
	         A.unavailable ? "unavailable" : "bad-request",
	         "Ping with an unknown param");
	add_call(cs, "Agent", "Info", "{\"verbose\":true}", EXPECT_ERROR_ID,
	         A.unavailable ? "unavailable" : "bad-request",
	         "Info with an unknown param");
	A.malformed_sent += 2;
	/* Unknown facades and methods. */
	{
		static const char *const calls[][2] = {
		    {"Nope", "Ping"},       {"Client", "FullStatus"},
		    {"Agent", "Pong"},      {"Agent", "ping"},
		    {"agent", "Ping"},      {"Admin", "Logout"},
		    {"Admin", "Nope"},      {"Nope2", "Begin"},
		    {"Relay", "Opened"},    {"Relay", "Closed"},
		    {"Error", "Malformed"}, {"X-Y_z", "A-b_C"},
		};

		for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
			snprintf(desc, sizeof(desc), "unknown %s.%s",
			         calls[i][0], calls[i][1]);
			add_call(
			    cs, calls[i][0], calls[i][1], "{}", EXPECT_ERROR_ID,
			    A.unavailable ? "unavailable" : "not-implemented",
			    desc);
			A.malformed_sent++;
		}
	}
	/* Binary frames that are not valid chunk frames. */
	bad_chunk(cs, "empty binary frame", (const uint8_t *)"", 0);
	bad_chunk(cs, "garbage binary", (const uint8_t *)"hello, world", 12);
	memset(frame, 0xff, sizeof(frame));
	bad_chunk(cs, "all 0xff", frame, sizeof(frame));
	make_chunk(frame, "UPCK", 0, 1, 0, 16);
	bad_chunk(cs, "short header", frame, 20);
	make_chunk(frame, "XPCK", 0, 1, 0, 16);
	bad_chunk(cs, "bad magic", frame, UPS_CHUNK_HEADER_SIZE + 16);
	make_chunk(frame, "UPCK", 1, 1, 0, 16);
	bad_chunk(cs, "nonzero flags", frame, UPS_CHUNK_HEADER_SIZE + 16);
	make_chunk(frame, "UPCK", 0, 0, 0, 16);
	bad_chunk(cs, "upload id 0", frame, UPS_CHUNK_HEADER_SIZE + 16);
	make_chunk(frame, "UPCK", 0, 1, 0, 0);
	bad_chunk(cs, "length 0", frame, UPS_CHUNK_HEADER_SIZE);
	make_chunk(frame, "UPCK", 0, 1, 0, 64);
	bad_chunk(cs, "length > payload", frame, UPS_CHUNK_HEADER_SIZE + 16);
	make_chunk(frame, "UPCK", 0, 1, 0, 8);
	bad_chunk(cs, "length < payload", frame, UPS_CHUNK_HEADER_SIZE + 16);
	make_chunk(frame, "UPCK", 0, 1, UINT64_MAX - 4, 16);
	bad_chunk(cs, "offset overflow", frame, UPS_CHUNK_HEADER_SIZE + 16);
	make_chunk(frame, "UPCK", 0, 1, 0, UPS_LIMIT_CHUNK_PAYLOAD_MAX + 1);
	bad_chunk(cs, "length over the limit", frame,
	          UPS_CHUNK_HEADER_SIZE + 16);
	make_chunk(frame, "UPCK", 0, 1, 0, 0xffffffffu);
	bad_chunk(cs, "length 2^32-1", frame, UPS_CHUNK_HEADER_SIZE + 16);
	/* A well-formed chunk for an upload nobody began. */
	make_chunk(frame, "UPCK", 0, 77, 0, 16);
	memset(frame + UPS_CHUNK_HEADER_SIZE, 'x', 16);
	bad(cs, EXPECT_ERROR, 0,
	    A.unavailable ? "unavailable"
	                  : "not-implemented|not-found|"
	                    "bad-request",
	    "chunk for an unknown upload", frame, UPS_CHUNK_HEADER_SIZE + 16,
	    true);
}

static void build_script(void)
{
	struct conn_script *cs;
	uint8_t frame[UPS_CHUNK_HEADER_SIZE + 16];
	const char *ok = A.unavailable ? "unavailable" : NULL;
	enum expect ok_expect =
	    A.unavailable ? EXPECT_ERROR_ID : EXPECT_RESPONSE;

	if (A.hold) {
		/* A well-behaved idle client, for the shutdown tests. */
		cs = &A.conns[A.nconns++];
		cs->name = "hold";
		add_login(cs, A.role, A.token, EXPECT_RESPONSE, NULL, "login");
		add_call(cs, "Agent", "Ping", "{}", ok_expect, ok, "ping");
		add_step(cs, false, "", 0, EXPECT_ERROR, 0, NULL,
		         "wait for the server to close")
		    ->wait_close = true;
		cs->steps[cs->nsteps - 1].then_close = true;
		return;
	}

	/* 1: everything before login is refused. */
	cs = &A.conns[A.nconns++];
	cs->name = "before login";
	add_call(cs, "Agent", "Ping", "{}", EXPECT_ERROR_ID, "unauthorized",
	         "Ping before login");
	add_call(cs, "Agent", "Info", "{}", EXPECT_ERROR_ID, "unauthorized",
	         "Info before login");
	add_call(cs, "Nope", "Nope", "{}", EXPECT_ERROR_ID, "unauthorized",
	         "unknown facade before login");
	bad_text(cs, "bad-request|unauthorized", "bad JSON before login",
	         "{\"request-id\":");
	add_login(cs, "superuser", "x", EXPECT_ERROR_ID,
	          "bad-request|unauthorized", "login with an unknown role");
	add_call(cs, "Admin", "Login", "{\"role\":5}", EXPECT_ERROR_ID,
	         "bad-request|unauthorized", "login with a wrong type");
	make_chunk(frame, "UPCK", 0, 1, 0, 16);
	memset(frame + UPS_CHUNK_HEADER_SIZE, 'x', 16);
	add_step(cs, true, frame, sizeof(frame), EXPECT_ERROR, 0,
	         "unauthorized", "chunk before login")
	    ->then_close = true;
	A.malformed_sent += 7;

	/* 2: wrong tokens, three times, then the server hangs up. */
	if (A.auth) {
		cs = &A.conns[A.nconns++];
		cs->name = "wrong tokens";
		add_login(cs, "client", "wrong-token-1", EXPECT_ERROR_ID,
		          "unauthorized", "wrong token 1");
		add_login(cs, "client", "", EXPECT_ERROR_ID, "unauthorized",
		          "empty token");
		add_login(cs, "plugin", "wrong-token-3", EXPECT_ERROR_ID,
		          "unauthorized", "wrong token 3")
		    ->then_close = true;
		A.malformed_sent += 3;
	}

	/* 3: logged in, the long list, and a good request at the end. */
	cs = &A.conns[A.nconns++];
	cs->name = "malformed after login";
	add_login(cs, A.role, A.token, EXPECT_RESPONSE, NULL, "login");
	add_call(cs, "Agent", "Ping", "{}", ok_expect, ok, "first ping");
	script_malformed(cs);
	add_call(cs, "Agent", "Ping", "{}", ok_expect, ok,
	         "ping after the abuse");

	/* 4, 5: oversized messages are refused and the connection closed. */
	cs = &A.conns[A.nconns++];
	cs->name = "oversized text";
	add_login(cs, A.role, A.token, EXPECT_RESPONSE, NULL, "login");
	{
		size_t len = UPS_LIMIT_TEXT_MSG_MAX + 1024;
		char *big = malloc(len);

		if (!big)
			abort();
		memset(big, ' ', len);
		memcpy(big, "{\"request-id\":1,\"type\":\"", 24);
		big[len - 1] = '}';
		bad(cs, EXPECT_ERROR, 0, "too-large", "text over 64 KiB", big,
		    len, false);
		cs->steps[cs->nsteps - 1].then_close = true;
		free(big);
	}
	cs = &A.conns[A.nconns++];
	cs->name = "oversized binary";
	add_login(cs, A.role, A.token, EXPECT_RESPONSE, NULL, "login");
	{
		size_t len = UPS_LIMIT_BINARY_MSG_MAX + 4096;
		uint8_t *big = calloc(1, len);

		if (!big)
			abort();
		make_chunk(big, "UPCK", 0, 1, 0, UPS_LIMIT_CHUNK_PAYLOAD_MAX);
		bad(cs, EXPECT_ERROR, 0, "too-large", "binary over the limit",
		    big, len, true);
		cs->steps[cs->nsteps - 1].then_close = true;
		free(big);
	}
}

/* ---- running it --------------------------------------------------------- */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ws_abuse: FAIL [%s #%zu] ", A.conns[A.ci].name, A.si);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void next_conn(void);

static void finish(void)
{
	A.finished = true;
	uv_timer_stop(&A.timer);
	uv_close((uv_handle_t *)&A.timer, NULL);
	uv_close((uv_handle_t *)&A.poke, NULL);
	ups_ws_begin_destroy(&A.ws);
}

static void on_timeout(uv_timer_t *t)
{
	(void)t;
	next_conn();
}

static void arm_timer(void)
{
	uv_timer_start(&A.timer, on_timeout, STEP_TIMEOUT_MS, 0);
}

static struct step *cur_step(void)
{
	struct conn_script *cs = &A.conns[A.ci];

	return A.si < cs->nsteps ? &cs->steps[A.si] : NULL;
}

static void flood_push(void)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf),
	                 "{\"request-id\":%llu,\"type\":\"Agent\","
	                 "\"version\":1,\"request\":\"Info\","
	                 "\"params\":{}}",
	                 (unsigned long long)new_id());

	if (ups_outq_push(&A.outq, false, buf, (size_t)n, NULL, 0))
		abort();
}

/* Without reading, lws does not notice that the server reset the
 * connection; a write does. So keep sending one request now and then. */
static void on_poke(uv_timer_t *t)
{
	(void)t;
	if (A.wsi && ups_outq_empty(&A.outq)) {
		flood_push();
		lws_callback_on_writable(A.wsi);
	}
}

/* Stops reading and queues A.flood requests whose answers pile up on the
 * server: a server with bounded output queues must hang up on us. */
static void flood(void)
{
	unsigned i;

	lws_rx_flow_control(A.wsi, 0);
	A.outq.max_bytes = ((size_t)A.flood + 1) * 160;
	for (i = 0; i < A.flood; i++)
		flood_push();
	lws_callback_on_writable(A.wsi);
	uv_timer_start(&A.poke, on_poke, 200, 200);
	/* Unlike a plain hold, the close must come, and soon. */
	uv_timer_start(&A.timer, on_timeout, FLOOD_TIMEOUT_MS, 0);
}

static void send_step(void)
{
	struct step *s = cur_step();

	if (!s) {
		/* Script done: close from our side. */
		A.we_close = true;
		lws_callback_on_writable(A.wsi);
		arm_timer();
		return;
	}
	A.answered = false;
	if (s->wait_close) {
		uv_timer_stop(&A.timer);
		A.answered = true;
		if (A.flood)
			flood();
		printf("holding\n");
		fflush(stdout);
		return;
	}
	if (A.verbose)
		fprintf(stderr, "ws_abuse: [%s #%zu] %s\n", A.conns[A.ci].name,
		        A.si, s->desc);
	if (ups_outq_send(&A.outq, A.wsi, s->binary, s->data, s->len, NULL,
	                  0)) {
		fail("cannot queue %s", s->desc);
		return;
	}
	arm_timer();
}

static bool code_in(const char *code, const char *codes)
{
	size_t n = strlen(code);
	const char *p = codes;

	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, code, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

/* Checks one answer against the current step; true if as expected. */
static bool check_answer(const struct step *s, const char *buf, size_t len)
{
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *id = json_object_get(root, "request-id");
	json_t *params = json_object_get(root, "params");
	const char *code = NULL;
	bool ok = false;

	if (!json_is_object(root)) {
		fail("%s: answer is not a JSON object: %.*s", s->desc,
		     (int)(len > 200 ? 200 : len), buf);
		goto out;
	}
	if (json_object_get(root, "origin")) {
		fail("%s: answer still carries origin", s->desc);
		goto out;
	}
	if (id) {
		code = json_string_value(json_object_get(root, "error-code"));
	} else if (json_is_string(json_object_get(root, "type")) &&
	           strcmp(json_string_value(json_object_get(root, "type")),
	                  "Error") == 0) {
		code = json_string_value(json_object_get(params, "error-code"));
	} else if (json_is_string(json_object_get(root, "request")) &&
	           strcmp(json_string_value(json_object_get(root, "request")),
	                  "UploadError") == 0) {
		/* Chunk frames are answered with UploadError pushes
		 * (PROTOCOL.md "AgentBinaries"). */
		code = json_string_value(json_object_get(params, "error-code"));
	}
	switch (s->expect) {
	case EXPECT_RESPONSE:
		ok = json_is_integer(id) &&
		     (uint64_t)json_integer_value(id) == s->id &&
		     json_is_object(json_object_get(root, "response"));
		break;
	case EXPECT_ERROR_ID:
		ok = json_is_integer(id) &&
		     (uint64_t)json_integer_value(id) == s->id && code &&
		     code_in(code, s->codes) &&
		     json_is_string(json_object_get(root, "error"));
		break;
	case EXPECT_ERROR:
		ok = code && code_in(code, s->codes);
		break;
	}
	if (!ok)
		fail("%s: expected %s%s (id %llu), got: %.*s", s->desc,
		     s->expect == EXPECT_RESPONSE ? "a response" : "error ",
		     s->codes ? s->codes : "", (unsigned long long)s->id,
		     (int)(len > 300 ? 300 : len), buf);
out:
	json_decref(root);
	return ok;
}

static void on_message(const char *buf, size_t len, bool binary)
{
	struct step *s = cur_step();

	if (binary || !s || A.answered) {
		A.checked++;
		fail("unexpected %s message (%zu bytes): %.*s",
		     binary ? "binary" : "text", len,
		     binary ? 0 : (int)(len > 200 ? 200 : len), buf);
		return;
	}
	A.checked++;
	if (check_answer(s, buf, len))
		A.passed++;
	if (s->then_close) {
		A.answered = true; /* now wait for the close */
		arm_timer();
		return;
	}
	A.si++;
	send_step();
}

static void conn_gone(const char *why)
{
	struct step *s = cur_step();

	uv_timer_stop(&A.timer);
	uv_timer_stop(&A.poke);
	if (A.we_close) {
		/* Closed as planned after the last step. */
	} else if (s && s->then_close && A.answered) {
		A.checked++;
		A.passed++;
		if (A.verbose)
			fprintf(stderr,
			        "ws_abuse: [%s] closed by the server "
			        "as expected\n",
			        A.conns[A.ci].name);
	} else {
		A.checked++;
		fail("connection %s before %s", why,
		     s ? s->desc : "the end of the script");
	}
	A.wsi = NULL;
	ups_outq_clear(&A.outq);
	ups_rxbuf_free(&A.rx);
	A.ci++;
	next_conn();
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
	struct ups_rxmsg msg;
	int rv;

	(void)user;
	if (A.wsi && wsi != A.wsi && reason != LWS_CALLBACK_CLIENT_CLOSED &&
	    reason != LWS_CALLBACK_CLIENT_CONNECTION_ERROR)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		send_step();
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		rv = ups_rxbuf_feed(&A.rx, wsi, in, len, &msg);
		if (rv < 0) {
			fail("answer exceeds its limit");
			return -1;
		}
		if (rv == 1)
			on_message((const char *)msg.data, msg.len, msg.binary);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (ups_outq_write_one(&A.outq, wsi) < 0)
			return -1;
		if (A.we_close && ups_outq_empty(&A.outq)) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "ws_abuse: cannot connect: %s\n",
		        in ? (const char *)in : "?");
		/* Without A.wsi the attempt failed inside ups_ws_connect(),
		 * which then returns NULL and next_conn() reports it. */
		if (A.wsi && wsi == A.wsi)
			conn_gone("failed");
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (wsi == A.wsi)
			conn_gone("closed");
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Starts the next connection, or ends the run. Also the step timer's
 * callback: a timeout abandons the current connection. */
static void next_conn(void)
{
	if (A.wsi) {
		struct step *s = cur_step();

		A.checked++;
		fail("no answer within %d ms to %s",
		     A.flood ? FLOOD_TIMEOUT_MS : STEP_TIMEOUT_MS,
		     s ? s->desc : "the close");
		lws_set_timeout(A.wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
		A.we_close = true; /* conn_gone() moves on */
		return;
	}
	if (A.ci >= A.nconns) {
		finish();
		return;
	}
	A.si = 0;
	A.answered = false;
	A.we_close = false;
	ups_outq_init(&A.outq, 2 * UPS_LIMIT_BINARY_MSG_MAX);
	memset(&A.rx, 0, sizeof(A.rx));
	A.wsi = ups_ws_connect(&A.ws, &A.url, NULL, NULL);
	if (!A.wsi) {
		A.checked++;
		fail("cannot start a connection");
		finish();
		return;
	}
	arm_timer();
}

static const struct lws_protocols protocols[] = {
    {.name = UPS_WS_SUBPROTOCOL,
     .callback = callback,
     .rx_buffer_size = 64 * 1024},
    {0},
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"token", required_argument, NULL, 't'},
	    {"auth", no_argument, NULL, 'a'},
	    {"ca-cert", required_argument, NULL, 'c'},
	    {"unavailable", no_argument, NULL, 'n'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"hold", no_argument, NULL, 'h'},
	    {"role", required_argument, NULL, 'r'},
	    {"flood", required_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	struct ups_ws_config cfg = {0};
	const char *url = NULL, *ca = NULL;
	char err[UPS_ERRMSG_MAX];
	int ch;

	A.token = "";
	A.role = "client";
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 't':
			A.token = optarg;
			break;
		case 'a':
			A.auth = true;
			break;
		case 'c':
			ca = optarg;
			break;
		case 'n':
			A.unavailable = true;
			break;
		case 'v':
			A.verbose = true;
			break;
		case 'h':
			A.hold = true;
			break;
		case 'r':
			A.role = optarg;
			break;
		case 'f':
			A.hold = true;
			A.flood = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (!url || ups_url_parse(url, &A.url, err, sizeof(err))) {
		fprintf(stderr, "usage: ws_abuse --url ws://HOST:PORT [--token "
		                "T] [--auth] [--ca-cert F] [--unavailable]\n");
		return 2;
	}
	if (strpbrk(A.token, "\"\\") || strpbrk(A.role, "\"\\")) {
		fprintf(stderr, "ws_abuse: token must not need escaping\n");
		return 2;
	}
	ups_log_threshold = A.verbose ? UPS_LOG_INFO : UPS_LOG_ERROR;
	build_script();

	uv_loop_init(&A.loop);
	uv_timer_init(&A.loop, &A.timer);
	uv_timer_init(&A.loop, &A.poke);
	ups_ws_init_logging();
	cfg.loop = &A.loop;
	cfg.protocols = protocols;
	cfg.client = true;
	cfg.client_ca = ca;
	if (ups_ws_create(&A.ws, &cfg, err, sizeof(err))) {
		fprintf(stderr, "ws_abuse: %s\n", err);
		return 3;
	}
	next_conn();
	uv_run(&A.loop, UV_RUN_DEFAULT);
	ups_ws_finish_destroy(&A.ws);
	if (uv_loop_close(&A.loop) != 0) {
		fprintf(stderr, "ws_abuse: handles left open\n");
		A.passed = 0;
	}
	for (size_t i = 0; i < A.nconns; i++) {
		for (size_t j = 0; j < A.conns[i].nsteps; j++)
			free(A.conns[i].steps[j].data);
		free(A.conns[i].steps);
	}
	printf("ws_abuse: %u malformed sent, %u answers checked, %u as "
	       "expected\n",
	       A.malformed_sent, A.checked, A.passed);
	if (A.hold)
		return A.checked > 0 && A.passed == A.checked ? 0 : 1;
	return A.checked > 0 && A.passed == A.checked && A.malformed_sent >= 200
	           ? 0
	           : 1;
}
