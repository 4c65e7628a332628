/* proto/net/ws.c: what setting up a client costs. A client that will only
 * make ws:// connections sets up no TLS, so it never reads a CA bundle:
 * shown with one that does not exist, which a TLS client tries to load
 * (lws logs that it cannot, and goes on). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <uv.h>

#include "proto/net/ws.h"

static unsigned ca_load_errors;

static void capture_log(int level, const char *line)
{
	(void)level;
	if (strstr(line, "Unable to load SSL Client certs"))
		ca_load_errors++;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {UPS_WS_SUBPROTOCOL, callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Creates a client context with client_ca and client_plain, then tears it
 * down; returns how often lws failed to load client_ca. */
static unsigned create_client(const char *client_ca, bool client_plain)
{
	struct ups_ws_config cfg;
	struct ups_ws ws;
	uv_loop_t loop;
	char err[256];
	int rv;

	assert_int_equal(uv_loop_init(&loop), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = &loop;
	cfg.protocols = protocols;
	cfg.client = true;
	cfg.client_ca = client_ca;
	cfg.client_plain = client_plain;
	err[0] = '\0';
	ca_load_errors = 0;
	lws_set_log_level(LLL_ERR, capture_log);
	rv = ups_ws_create(&ws, &cfg, err, sizeof(err));
	if (rv)
		fail_msg("ups_ws_create: %s", err);
	ups_ws_finish_destroy(&ws);
	lws_set_log_level(LLL_ERR, lwsl_emit_stderr);
	assert_int_equal(uv_loop_close(&loop), 0);
	return ca_load_errors;
}

static void test_tls_client_reads_its_ca(void **state)
{
	(void)state;
	assert_int_equal(create_client("/nonexistent/ca.pem", false), 1);
}

static void test_plain_client_sets_up_no_tls(void **state)
{
	(void)state;
	assert_int_equal(create_client("/nonexistent/ca.pem", true), 0);
	/* And the capture works both ways: a TLS client again. */
	assert_int_equal(create_client("/nonexistent/ca.pem", false), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_client_reads_its_ca),
	    cmocka_unit_test(test_plain_client_sets_up_no_tls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
