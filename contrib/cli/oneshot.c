/* One request, one loop; see oneshot.h. */
#include "contrib/cli/oneshot.h"

#include <stdarg.h>
#include <string.h>

#include "contrib/cli/cli.h"
#include "contrib/cli/client.h"
#include "proto/errors.h"
#include "proto/log.h"

struct oneshot {
	const struct oneshot_config *cfg;
	struct oneshot_result *res;
	const char *type;
	const char *method;
	json_t *params; /* until handed to client_request() */
	struct client client;
	uv_timer_t deadline;
	uint64_t sent_at; /* uv_hrtime() when the request was queued */
	bool done;
};

static void oneshot_set(struct oneshot *os, int exit_code, const char *code,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void oneshot_set(struct oneshot *os, int exit_code, const char *code,
                        const char *fmt, ...)
{
	va_list ap;

	os->res->exit = exit_code;
	snprintf(os->res->code, sizeof(os->res->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(os->res->message, sizeof(os->res->message), fmt, ap);
	va_end(ap);
}

/* The outcome is known: stop the deadline and close the session; uv_run
 * returns once both are closed. */
static void oneshot_finish(struct oneshot *os)
{
	if (os->done)
		return;
	os->done = true;
	uv_close((uv_handle_t *)&os->deadline, NULL);
	client_close(&os->client);
}

static void oneshot_on_reply(struct client *c, void *data, int status,
                             const struct ups_envelope *env, const char *detail)
{
	struct oneshot *os = data;

	(void)c;
	if (os->done)
		return;
	os->res->rtt_ms = (double)(uv_hrtime() - os->sent_at) / 1e6;
	if (status == 0) {
		os->res->exit = CLI_EXIT_OK;
		os->res->response = json_incref(env->response);
	} else if (env) {
		oneshot_set(os, CLI_EXIT_FAILED, env->error_code_text, "%s",
		            env->error_text ? env->error_text : "");
	} else {
		/* The session ended before the answer. */
		oneshot_set(os, CLI_EXIT_CONNECT, ups_err_code(status), "%s",
		            detail ? detail : ups_err_message(status));
	}
	oneshot_finish(os);
}

static void oneshot_on_ready(struct client *c, int status, const char *detail)
{
	struct oneshot *os = c->data;
	json_t *params = os->params;
	int rv;

	if (os->done)
		return;
	if (status) {
		oneshot_set(os, CLI_EXIT_CONNECT, ups_err_code(status), "%s",
		            detail ? detail : ups_err_message(status));
		oneshot_finish(os);
		return;
	}
	os->params = NULL;
	os->sent_at = uv_hrtime();
	rv = client_request(c, os->type, os->method, params, oneshot_on_reply,
	                    os, NULL);
	if (rv) {
		oneshot_set(os, CLI_EXIT_FAILED, ups_err_code(rv),
		            "cannot send %s.%s: %s", os->type, os->method,
		            ups_err_message(rv));
		oneshot_finish(os);
	}
}

static void oneshot_on_closed(struct client *c, int status, const char *detail)
{
	struct oneshot *os = c->data;

	if (os->done)
		return;
	oneshot_set(os, CLI_EXIT_CONNECT, ups_err_code(status), "%s",
	            detail ? detail : ups_err_message(status));
	oneshot_finish(os);
}

static void oneshot_on_deadline(uv_timer_t *t)
{
	struct oneshot *os = t->data;
	double secs = os->cfg->timeout_ms / 1000.0;

	if (os->done)
		return;
	/* Reaching the server and logging in is "cannot connect"; a server
	 * that accepted us but does not answer is a failed operation. */
	if (os->client.state == CLIENT_READY)
		oneshot_set(os, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_TIMEOUT),
		            "no answer to %s.%s within %g s", os->type,
		            os->method, secs);
	else
		oneshot_set(os, CLI_EXIT_CONNECT, ups_err_code(UPS_ERR_TIMEOUT),
		            "could not connect to %s:%d and log in within %g s",
		            os->cfg->url->host, os->cfg->url->port, secs);
	oneshot_finish(os);
}

int oneshot_call(const struct oneshot_config *cfg, const char *type,
                 const char *method, json_t *params, struct oneshot_result *res)
{
	static const struct client_callbacks cbs = {
	    .ready = oneshot_on_ready,
	    .closed = oneshot_on_closed,
	    .push = NULL,
	};
	struct client_config ccfg;
	char err[UPS_ERRMSG_MAX];
	struct oneshot os;
	uv_loop_t loop;
	int rv;

	memset(res, 0, sizeof(*res));
	memset(&os, 0, sizeof(os));
	os.cfg = cfg;
	os.res = res;
	os.type = type;
	os.method = method;
	os.params = params;
	/* Overwritten by every path that reaches an outcome. */
	oneshot_set(&os, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_INTERNAL),
	            "the session ended without an outcome");

	rv = uv_loop_init(&loop);
	if (rv) {
		oneshot_set(&os, CLI_EXIT_FAILED,
		            ups_err_code(UPS_ERR_INTERNAL),
		            "cannot create an event loop: %s", uv_strerror(rv));
		goto out_params;
	}

	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.loop = &loop;
	ccfg.url = cfg->url;
	ccfg.ca_cert = cfg->ca_cert;
	ccfg.role = cfg->role;
	ccfg.token = cfg->token;
	ccfg.debug = cfg->debug;
	ccfg.data = &os;
	rv = client_start(&os.client, &ccfg, &cbs, err, sizeof(err));
	if (rv) {
		oneshot_set(&os, CLI_EXIT_CONNECT, ups_err_code(rv), "%s", err);
		goto out_loop;
	}

	/* Started after the client: see client_start(). */
	uv_timer_init(&loop, &os.deadline);
	os.deadline.data = &os;
	uv_timer_start(&os.deadline, oneshot_on_deadline, cfg->timeout_ms, 0);

	uv_run(&loop, UV_RUN_DEFAULT);
	client_finish(&os.client);

out_loop:
	rv = uv_loop_close(&loop);
	if (rv)
		LOG_ERROR("cli", "event loop closed with handles open: %s",
		          uv_strerror(rv));
out_params:
	json_decref(os.params);
	return res->exit;
}
