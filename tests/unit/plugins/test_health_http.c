/* health-http, loaded through the plugin host as upstaged loads it,
 * against a real HTTP endpoint on 127.0.0.1 (a thread of the test that
 * answers each request as told): 200 is healthy; another status, a
 * refused connection or an endpoint that never answers (cut at the
 * timeout) is not, with the URL in the reason; the template's
 * placeholders take only checked values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/store/plugin.h"
#include "proto/errors.h"

enum mode {
	ANSWER_200,
	ANSWER_503,
	ANSWER_NOTHING, /* reads the request, never answers */
};

struct fx {
	struct plugin plugin;
	const struct ups_health_ops *ops;
	struct ups_plugin_services svc;
	void *state;
	char url[256];
	const char *url_setting;
	const char *timeout;
	/* The endpoint. */
	int lfd;
	int port;
	pthread_t thread;
	enum mode mode;
	char path[256]; /* of the last request */
	char err[UPS_ERRMSG_MAX];
};

static const char *fx_config_get(void *host, const char *key)
{
	struct fx *f = host;

	if (strcmp(key, "health-http.url") == 0)
		return f->url_setting;
	if (strcmp(key, "health-http.timeout") == 0)
		return f->timeout;
	return NULL;
}

/* One connection at a time until the listening socket is shut down. */
static void *fx_serve(void *arg)
{
	struct fx *f = arg;

	for (;;) {
		char req[2048];
		ssize_t n;
		int c = accept(f->lfd, NULL, NULL);

		if (c < 0)
			return NULL;
		n = read(c, req, sizeof(req) - 1);
		if (n > 0) {
			req[n] = '\0';
			sscanf(req, "GET %255s", f->path);
		}
		if (f->mode == ANSWER_NOTHING) {
			/* Holds it until the client gives up. */
			while (read(c, req, sizeof(req)) > 0)
				;
		} else {
			const char *resp =
			    f->mode == ANSWER_200
			        ? "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
			          "Connection: close\r\n\r\nok\n"
			        : "HTTP/1.1 503 Service Unavailable\r\n"
			          "Content-Length: 5\r\nConnection: "
			          "close\r\n\r\n"
			          "down\n";

			if (write(c, resp, strlen(resp)) < 0)
				perror("write");
		}
		close(c);
	}
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	assert_non_null(f);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fx_serve, f), 0);
	snprintf(f->url, sizeof(f->url), "http://{address}:%d/health/{machine}",
	         f->port);
	f->url_setting = f->url;
	f->timeout = "5";
	assert_int_equal(plugin_load(HEALTH_HTTP_PLUGIN, UPS_PLUGIN_KIND_HEALTH,
	                             &f->plugin, f->err, sizeof(f->err)),
	                 0);
	f->ops = plugin_health_ops(&f->plugin);
	assert_non_null(f->ops);
	plugin_services_init(&f->svc, f, fx_config_get);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->state)
		f->ops->close(f->state);
	plugin_unload(&f->plugin);
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->thread, NULL);
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	assert_int_equal(f->ops->open(&f->svc, &f->state, f->err,
	                              sizeof(f->err)),
	                 0);
}

static int fx_check(struct fx *f, const char *id, const char *address)
{
	struct ups_health_target t = {
	    .struct_size = sizeof(t),
	    .machine_id = id,
	    .model = "controller",
	    .address = address,
	    .version = "2.9.44",
	    .release = "ubuntu",
	    .arch = "amd64",
	};

	return f->ops->check(f->state, &t, f->err, sizeof(f->err));
}

static void test_healthy(void **state)
{
	struct fx *f = *state;

	fx_open(f);
	f->mode = ANSWER_200;
	assert_int_equal(fx_check(f, "m-1", "127.0.0.1"), 0);
	assert_string_equal(f->path, "/health/m-1");
	assert_int_equal(fx_check(f, "0-lxd-3", "127.0.0.1"), 0);
	assert_string_equal(f->path, "/health/0-lxd-3");
}

static void test_unhealthy_status(void **state)
{
	struct fx *f = *state;
	char want[128];

	fx_open(f);
	f->mode = ANSWER_503;
	assert_int_not_equal(fx_check(f, "m-2", "127.0.0.1"), 0);
	snprintf(want, sizeof(want),
	         "GET http://127.0.0.1:%d/health/m-2: HTTP 503", f->port);
	assert_string_equal(f->err, want);
}

/* An endpoint that never answers is cut at the timeout. */
static void test_timeout(void **state)
{
	struct fx *f = *state;
	char want[128];

	f->timeout = "0.3";
	fx_open(f);
	f->mode = ANSWER_NOTHING;
	assert_int_equal(fx_check(f, "m-3", "127.0.0.1"), UPS_ERR_TIMEOUT);
	snprintf(want, sizeof(want), "GET http://127.0.0.1:%d/health/m-3: ",
	         f->port);
	assert_non_null(strstr(f->err, want));
}

struct cancel_check {
	struct fx *f;
	int rv;
};

static void *cancel_checker(void *arg)
{
	struct cancel_check *c = arg;

	c->rv = fx_check(c->f, "m-9", "127.0.0.1");
	return NULL;
}

/* upstaged stopping: cancel() ends a check that waits on an endpoint
 * that never answers, long before its timeout (600 s here). */
static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct cancel_check c = {.f = f};
	pthread_t t;

	f->timeout = "600";
	fx_open(f);
	f->mode = ANSWER_NOTHING;
	f->path[0] = '\0';
	assert_int_equal(pthread_create(&t, NULL, cancel_checker, &c), 0);
	/* Once the endpoint has the request, the check is waiting. */
	for (int i = 0; i < 1000 && !f->path[0]; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_string_equal(f->path, "/health/m-9");
	f->ops->cancel(f->state);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_not_equal(c.rv, 0);
	assert_non_null(strstr(f->err, "GET http://127.0.0.1:"));
}

/* Nobody listens: unhealthy, not a hang. An IPv6 address goes in
 * brackets. */
static void test_refused_and_ipv6(void **state)
{
	struct fx *f = *state;
	char want[128];

	f->url_setting = "http://{address}:1/h";
	fx_open(f);
	assert_int_equal(fx_check(f, "m-4", "127.0.0.1"), UPS_ERR_UNAVAILABLE);
	assert_non_null(strstr(f->err, "GET http://127.0.0.1:1/h: "));
	assert_int_not_equal(fx_check(f, "m-4", "::1"), 0);
	snprintf(want, sizeof(want), "GET http://[::1]:1/h: ");
	assert_non_null(strstr(f->err, want));
}

/* Nothing unchecked goes into the URL. */
static void test_hostile_placeholders(void **state)
{
	struct fx *f = *state;

	fx_open(f);
	f->mode = ANSWER_200;
	f->path[0] = '\0';
	assert_int_equal(fx_check(f, "m-5", "evil.example/x?"),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(f->err, "no usable address known for machine "
	                               "m-5"));
	assert_int_equal(fx_check(f, "m-5", ""), UPS_ERR_BAD_REQUEST);
	assert_int_equal(fx_check(f, "../m", "127.0.0.1"), UPS_ERR_BAD_REQUEST);
	assert_int_equal(fx_check(f, "M 1", "127.0.0.1"), UPS_ERR_BAD_REQUEST);
	assert_string_equal(f->path, ""); /* no request was made */
}

static void test_bad_settings(void **state)
{
	struct fx *f = *state;
	static const char *const bad_urls[] = {NULL, "", "ftp://{address}/",
	                                       "{address}:80"};
	static const char *const bad_timeouts[] = {"0", "-1", "x", "601"};

	for (size_t i = 0; i < 4; i++) {
		f->url_setting = bad_urls[i];
		assert_int_equal(f->ops->open(&f->svc, &f->state, f->err,
		                              sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
		assert_non_null(strstr(f->err, "health-http.url"));
	}
	f->url_setting = f->url;
	for (size_t i = 0; i < 4; i++) {
		f->timeout = bad_timeouts[i];
		assert_int_equal(f->ops->open(&f->svc, &f->state, f->err,
		                              sizeof(f->err)),
		                 UPS_ERR_BAD_REQUEST);
		assert_non_null(strstr(f->err, "health-http.timeout"));
	}
	assert_null(f->state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_healthy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unhealthy_status, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_and_ipv6, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_placeholders, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_settings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
