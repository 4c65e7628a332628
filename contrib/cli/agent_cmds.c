/* ping and info: one request each through oneshot.h. */
#include "contrib/cli/agent_cmds.h"

#include <string.h>
#include <unistd.h>

#include "contrib/cli/oneshot.h"
#include "contrib/cli/output.h"
#include "proto/errors.h"
#include "proto/net/auth.h"
#include "proto/net/url.h"

int acmd_config(struct cli_ctx *ctx, struct ups_url *url,
                char token[UPS_LIMIT_TOKEN_LEN + 1], struct oneshot_config *cfg)
{
	char err[UPS_ERRMSG_MAX];

	if (ups_url_parse(ctx->g.agent, url, err, sizeof(err)) != 0)
		return cli_out_usage(ctx, "bad --agent URL: %s", err);
	token[0] = '\0';
	if (ctx->g.token_file) {
		if (ups_token_file_read(ctx->g.token_file, token,
		                        UPS_LIMIT_TOKEN_LEN + 1, err,
		                        sizeof(err)) != 0)
			return cli_out_usage(ctx, "bad --token-file: %s", err);
	} else if (ctx->g.token) {
		if (strlen(ctx->g.token) > UPS_LIMIT_TOKEN_LEN)
			return cli_out_usage(ctx,
			                     "the token is longer than %d "
			                     "bytes",
			                     UPS_LIMIT_TOKEN_LEN);
		strcpy(token, ctx->g.token);
	}
	if (ctx->g.ca_cert && access(ctx->g.ca_cert, R_OK) != 0)
		return cli_out_usage(ctx, "cannot read --ca-cert file %s",
		                     ctx->g.ca_cert);

	memset(cfg, 0, sizeof(*cfg));
	cfg->url = url;
	cfg->ca_cert = ctx->g.ca_cert;
	cfg->role = ctx->g.role;
	cfg->token = token;
	cfg->debug = ctx->g.debug ? ctx->err : NULL;
	cfg->timeout_ms = ctx->g.timeout_ms;
	return CLI_EXIT_OK;
}

int acmd_call(struct cli_ctx *ctx, const char *facade, const char *method,
              json_t *params, struct oneshot_result *res)
{
	char token[UPS_LIMIT_TOKEN_LEN + 1];
	struct oneshot_config cfg;
	struct ups_url url;
	int rv;

	rv = acmd_config(ctx, &url, token, &cfg);
	if (rv) {
		json_decref(params);
		return rv;
	}
	rv = oneshot_call(&cfg, facade, method, params, res);
	/* The token is a secret; do not leave it on the stack. */
	explicit_bzero(token, sizeof(token));
	if (rv)
		return cli_out_error(ctx, rv, res->code, res->message);
	return CLI_EXIT_OK;
}

/* Runs Agent.METHOD; on failure prints the error. */
static int agent_call(struct cli_ctx *ctx, const char *method,
                      struct oneshot_result *res)
{
	return acmd_call(ctx, "Agent", method, NULL, res);
}

int acmd_ping(struct cli_ctx *ctx)
{
	struct oneshot_result res;
	json_t *obj;
	int rv;

	rv = agent_call(ctx, "Ping", &res);
	if (rv)
		return rv;
	json_decref(res.response);
	if (!ctx->g.json) {
		fprintf(ctx->out, "pong %.3f ms\n", res.rtt_ms);
		return CLI_EXIT_OK;
	}
	obj =
	    json_pack("{s:b,s:f}", "pong", 1, "rtt-ms",
	              (double)(long long)(res.rtt_ms * 1000.0 + 0.5) / 1000.0);
	if (!obj)
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_NO_MEMORY),
		                     ups_err_message(UPS_ERR_NO_MEMORY));
	return cli_out_json(ctx, obj);
}

/* Scalars as text; objects of scalars as "k=v k=v"; anything else as
 * compact JSON. */
static void print_value(FILE *f, const json_t *v, int depth)
{
	const char *key;
	json_t *item;
	char *text;
	bool first = true;

	switch (json_typeof(v)) {
	case JSON_STRING:
		fputs(json_string_value(v), f);
		return;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return;
	case JSON_REAL:
		fprintf(f, "%g", json_real_value(v));
		return;
	case JSON_TRUE:
		fputs("true", f);
		return;
	case JSON_FALSE:
		fputs("false", f);
		return;
	case JSON_NULL:
		fputs("none", f);
		return;
	case JSON_OBJECT:
		if (depth == 0) {
			json_object_foreach((json_t *)v, key, item)
			{
				fprintf(f, "%s%s=", first ? "" : " ", key);
				print_value(f, item, depth + 1);
				first = false;
			}
			return;
		}
		break;
	case JSON_ARRAY:
		break;
	}
	text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputs(text ? text : "?", f);
	free(text);
}

void acmd_print_info(FILE *f, const json_t *info)
{
	static const char *const known[] = {
	    "server-version",  "uptime-seconds", "sessions",
	    "controller-link", "agent-version",
	};
	const size_t nknown = sizeof(known) / sizeof(known[0]);
	const char *key;
	json_t *v;
	size_t i;

	for (i = 0; i < nknown; i++) {
		v = json_object_get(info, known[i]);
		/* Upstaged omits the agent version while it does not know
		 * it; say so rather than drop the line. */
		if (!v && strcmp(known[i], "agent-version") != 0)
			continue;
		fprintf(f, "%s: ", known[i]);
		if (v)
			print_value(f, v, 0);
		else
			fputs("none", f);
		fputc('\n', f);
	}
	json_object_foreach((json_t *)info, key, v)
	{
		for (i = 0; i < nknown && strcmp(key, known[i]) != 0; i++)
			;
		if (i < nknown)
			continue;
		fprintf(f, "%s: ", key);
		print_value(f, v, 0);
		fputc('\n', f);
	}
}

int acmd_info(struct cli_ctx *ctx)
{
	struct oneshot_result res;
	int rv;

	rv = agent_call(ctx, "Info", &res);
	if (rv)
		return rv;
	if (ctx->g.json)
		return cli_out_json(ctx, res.response);
	acmd_print_info(ctx->out, res.response);
	json_decref(res.response);
	return CLI_EXIT_OK;
}

int acmd_session_open(struct cli_ctx *ctx, uv_loop_t *loop, struct client *c,
                      const struct client_callbacks *cbs, void *data)
{
	char token[UPS_LIMIT_TOKEN_LEN + 1], err[UPS_ERRMSG_MAX];
	struct oneshot_config ocfg;
	struct client_config ccfg;
	struct ups_url url;
	int rv;

	rv = acmd_config(ctx, &url, token, &ocfg);
	if (rv)
		return rv;
	if (uv_loop_init(loop)) {
		explicit_bzero(token, sizeof(token));
		return cli_out_error(ctx, CLI_EXIT_FAILED, "internal",
		                     "cannot create an event loop");
	}
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.loop = loop;
	ccfg.url = &url;
	ccfg.ca_cert = ocfg.ca_cert;
	ccfg.role = ocfg.role;
	ccfg.token = token;
	ccfg.debug = ocfg.debug;
	ccfg.data = data;
	rv = client_start(c, &ccfg, cbs, err, sizeof(err));
	explicit_bzero(token, sizeof(token));
	if (rv) {
		(void)uv_loop_close(loop);
		return cli_out_error(ctx, CLI_EXIT_CONNECT, ups_err_code(rv),
		                     err);
	}
	return CLI_EXIT_OK;
}

void acmd_session_run(uv_loop_t *loop, struct client *c)
{
	uv_run(loop, UV_RUN_DEFAULT);
	client_finish(c);
	(void)uv_loop_close(loop);
}
