/* list-machines, upgrade-machine, revert-machine. */
#include "contrib/cli/machine_cmds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "contrib/cli/agent_cmds.h"
#include "contrib/cli/client.h"
#include "contrib/cli/output.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/machine.h"
#include "proto/version.h"

/* Pages of Machines.List followed before the answer is called broken. */
#define MCMD_PAGES_MAX 10000
/* --wait-timeout's default and largest value, seconds. */
#define MCMD_WAIT_DEFAULT_S 600
#define MCMD_WAIT_MAX_S     86400

static const char *mcmd_str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s ? s : "-";
}

/* Every machine, page after page, into a new array *out. */
static int mcmd_list_all(struct cli_ctx *ctx, json_t **out)
{
	struct oneshot_result res;
	json_t *all = json_array(), *params, *page, *next;
	char after[UPS_LIMIT_MACHINE_ID_LEN + 1] = "";
	size_t pages = 0;
	int rv;

	if (!all)
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_NO_MEMORY),
		                     "out of memory");
	for (;;) {
		params = after[0] ? json_pack("{s:s}", "after", after)
		                  : json_object();
		rv = acmd_call(ctx, "Machines", "List", params, &res);
		if (rv)
			goto fail;
		page = json_object_get(res.response, "machines");
		next = json_object_get(res.response, "next");
		if (!json_is_array(page) || (next && !json_is_string(next)) ||
		    (next && json_array_size(page) == 0) ||
		    ++pages > MCMD_PAGES_MAX) {
			json_decref(res.response);
			rv = cli_out_error(ctx, CLI_EXIT_FAILED,
			                   ups_err_code(UPS_ERR_BAD_REQUEST),
			                   "upstaged answered Machines.List "
			                   "with a bad page");
			goto fail;
		}
		json_array_extend(all, page);
		if (next)
			snprintf(after, sizeof(after), "%s",
			         json_string_value(next));
		json_decref(res.response);
		if (!next)
			break;
	}
	*out = all;
	return CLI_EXIT_OK;
fail:
	json_decref(all);
	return rv;
}

int mcmd_list(struct cli_ctx *ctx)
{
	json_t *list, *rec;
	size_t i;
	int rv;

	rv = mcmd_list_all(ctx, &list);
	if (rv)
		return rv;
	if (ctx->opts[MCMD_LIST_MODEL]) {
		/* Only that model's machines. */
		json_t *kept = json_array();

		json_array_foreach(list, i, rec)
		{
			if (strcmp(mcmd_str(rec, "model"),
			           ctx->opts[MCMD_LIST_MODEL]) == 0)
				json_array_append(kept, rec);
		}
		json_decref(list);
		list = kept;
	}
	if (ctx->g.json)
		return cli_out_json(ctx, list);
	if (json_array_size(list) == 0)
		fprintf(ctx->out, "no machines registered\n");
	else
		fprintf(ctx->out,
		        "%-16s %-10s %-8s %-14s %-12s %-20s %-12s %s\n",
		        "MACHINE", "RELEASE", "ARCH", "VERSION", "STATE",
		        "LAST-SEEN", "MODEL", "CONNECTED");
	json_array_foreach(list, i, rec)
	{
		const json_t *order = json_object_get(rec, "order");
		const char *reason = json_string_value(
		    json_object_get(order ? order : rec, "reason"));

		fprintf(ctx->out,
		        "%-16s %-10s %-8s %-14s %-12s %-20s %-12s %s%s%s\n",
		        mcmd_str(rec, "machine-id"), mcmd_str(rec, "release"),
		        mcmd_str(rec, "arch"), mcmd_str(rec, "version"),
		        mcmd_str(rec, "state"), mcmd_str(rec, "last-seen"),
		        mcmd_str(rec, "model"),
		        json_is_true(json_object_get(rec, "connected")) ? "yes"
		                                                        : "no",
		        reason ? "  " : "", reason ? reason : "");
	}
	json_decref(list);
	return CLI_EXIT_OK;
}

/* -------------------------------------------------------------------------
 * Orders, and following them. */

struct mcmd_wait {
	struct cli_ctx *ctx;
	const char *method;
	json_t *params; /* every request's, without "machine-ids" (owned) */
	json_t *ids;    /* every machine id (owned) */
	size_t next_id; /* first id not sent yet */
	bool asking;    /* a request is waiting for its answer */
	bool wait;
	struct client client;
	uv_timer_t deadline;
	bool done;
	int exit;
	json_t *orders; /* the answers' "orders" (owned) */
	size_t open;    /* orders not ended yet */
	size_t failed;  /* orders that ended otherwise than wanted */
};

static void mcmd_finish(struct mcmd_wait *w, int exit)
{
	if (w->done)
		return;
	w->done = true;
	w->exit = exit;
	uv_close((uv_handle_t *)&w->deadline, NULL);
	client_close(&w->client);
}

static void mcmd_ask(struct mcmd_wait *w);
static void mcmd_on_deadline(uv_timer_t *t);

static void mcmd_print_order(struct mcmd_wait *w, const json_t *o)
{
	if (w->ctx->g.json) {
		cli_out_json(w->ctx, json_pack("{s:s, s:O}", "event", "order",
		                               "order", o));
		return;
	}
	fprintf(w->ctx->out, "machine %s: order %s: %s %s%s\n",
	        mcmd_str(o, "machine-id"), mcmd_str(o, "order-id"),
	        strcmp(w->method, "Revert") == 0 ? "revert to" : "upgrade to",
	        mcmd_str(o, "binary-version"),
	        json_is_true(json_object_get(o, "again")) ? " (already ordered)"
	                                                  : "");
	fflush(w->ctx->out);
}

static void mcmd_on_answer(struct client *c, void *data, int status,
                           const struct ups_envelope *env, const char *detail)
{
	struct mcmd_wait *w = data;
	json_t *o;
	size_t i;

	(void)c;
	w->asking = false;
	if (w->done)
		return;
	if (status) {
		char msg[UPS_LIMIT_ERROR_TEXT_LEN + 1];
		json_t *info = env ? env->error_info : NULL;
		const json_t *missing = json_object_get(info, "missing");
		const json_t *unknown =
		    json_object_get(info, "unknown-machines");

		snprintf(msg, sizeof(msg), "%s",
		         env && env->error_text ? env->error_text
		                                : (detail ? detail : ""));
		/* The lists upstaged gives, in the message. */
		for (i = 0; i < json_array_size(missing); i++)
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			         "%s%s", i ? ", " : "; missing: ",
			         json_string_value(json_array_get(missing, i)));
		for (i = 0; i < json_array_size(unknown); i++)
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			         "%s%s", i ? ", " : "; unknown machines: ",
			         json_string_value(json_array_get(unknown, i)));
		if (json_array_size(w->orders) > 0)
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			         "; the %zu machines of the requests before "
			         "this one were ordered",
			         json_array_size(w->orders));
		cli_out_error(w->ctx, env ? CLI_EXIT_FAILED : CLI_EXIT_CONNECT,
		              env ? env->error_code_text : ups_err_code(status),
		              msg);
		mcmd_finish(w, env ? CLI_EXIT_FAILED : CLI_EXIT_CONNECT);
		return;
	}
	json_array_foreach(json_object_get(env->response, "orders"), i, o) {
		mcmd_print_order(w, o);
		json_array_append(w->orders, o);
		w->open++;
	}
	if (w->next_id < json_array_size(w->ids))
		mcmd_ask(w);
	else if (!w->wait || w->open == 0)
		mcmd_finish(w, w->failed ? CLI_EXIT_FAILED : CLI_EXIT_OK);
}

/* A Machines.Progress push: print it; an order that ended closes. */
static void mcmd_on_push(struct client *c, const struct ups_envelope *env)
{
	struct mcmd_wait *w = c->data;
	enum ups_machine_state st;
	const json_t *p = env->params;
	const char *want =
	    strcmp(w->method, "Revert") == 0 ? "reverted" : "healthy";

	if (w->done || strcmp(env->type, "Machines") != 0 ||
	    strcmp(env->request, "Progress") != 0)
		return;
	if (ups_machine_state_parse(mcmd_str(p, "state"), &st))
		return;
	if (w->ctx->g.json) {
		cli_out_json(w->ctx, json_pack("{s:s, s:O}", "event",
		                               "progress", "progress", p));
	} else {
		json_t *pct = json_object_get(p, "progress");
		const char *reason =
		    json_string_value(json_object_get(p, "reason"));

		fprintf(w->ctx->out, "machine %s: %s",
		        mcmd_str(p, "machine-id"), ups_machine_state_name(st));
		if (json_is_integer(pct))
			fprintf(w->ctx->out, " %d%%",
			        (int)json_integer_value(pct));
		fprintf(w->ctx->out, " (version %s)", mcmd_str(p, "version"));
		if (reason)
			fprintf(w->ctx->out, ": %s", reason);
		fputc('\n', w->ctx->out);
		fflush(w->ctx->out);
	}
	if (!(ups_machine_state_flags(st) & UPS_MST_FINAL))
		return;
	if (strcmp(ups_machine_state_name(st), want) != 0)
		w->failed++;
	if (w->open > 0 && --w->open == 0 && !w->asking &&
	    w->next_id == json_array_size(w->ids))
		mcmd_finish(w, w->failed ? CLI_EXIT_FAILED : CLI_EXIT_OK);
}

/* Sends the request for the next UPS_LIMIT_ORDER_MACHINES ids (the most
 * one request may name); the answer sends the one after. */
static void mcmd_ask(struct mcmd_wait *w)
{
	json_t *params = json_copy(w->params), *batch = json_array();
	size_t n = json_array_size(w->ids);

	while (batch && w->next_id < n &&
	       json_array_size(batch) < UPS_LIMIT_ORDER_MACHINES)
		json_array_append(batch, json_array_get(w->ids, w->next_id++));
	if (!params || !batch ||
	    json_object_set_new(params, "machine-ids", batch)) {
		/* set_new took batch even when it failed. */
		if (!params)
			json_decref(batch);
		json_decref(params);
		params = NULL;
	}
	w->asking = true;
	/* Without --wait, each request has --timeout for its answer. */
	if (!w->wait)
		uv_timer_start(&w->deadline, mcmd_on_deadline,
		               w->ctx->g.timeout_ms, 0);
	if (!params || client_request(&w->client, "Machines", w->method,
	                              params, mcmd_on_answer, w, NULL)) {
		w->asking = false;
		cli_out_error(w->ctx, CLI_EXIT_FAILED,
		              ups_err_code(UPS_ERR_NO_MEMORY),
		              "cannot send the order");
		mcmd_finish(w, CLI_EXIT_FAILED);
	}
}

static void mcmd_on_ready(struct client *c, int status, const char *detail)
{
	struct mcmd_wait *w = c->data;

	if (w->done)
		return;
	if (status) {
		cli_out_error(w->ctx, CLI_EXIT_CONNECT, ups_err_code(status),
		              detail ? detail : ups_err_message(status));
		mcmd_finish(w, CLI_EXIT_CONNECT);
		return;
	}
	mcmd_ask(w);
}

static void mcmd_on_closed(struct client *c, int status, const char *detail)
{
	struct mcmd_wait *w = c->data;

	if (w->done)
		return;
	cli_out_error(w->ctx, CLI_EXIT_CONNECT, ups_err_code(status),
	              detail ? detail : "connection lost");
	mcmd_finish(w, CLI_EXIT_CONNECT);
}

static void mcmd_on_deadline(uv_timer_t *t)
{
	struct mcmd_wait *w = t->data;

	if (w->done)
		return;
	cli_out_error(w->ctx, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_TIMEOUT),
	              w->asking || json_array_size(w->orders) == 0
	                  ? "no answer in time"
	                  : "the orders did not end in time");
	mcmd_finish(w, CLI_EXIT_FAILED);
}

/* Sends Machines.method with params and the machine ids (both stolen;
 * ids UPS_LIMIT_ORDER_MACHINES to a request, one request after the
 * other), waits for the answers and, with wait, for every order to end
 * (at most wait_ms). */
static int mcmd_order(struct cli_ctx *ctx, const char *method, json_t *ids,
                      json_t *params, bool wait, uint64_t wait_ms)
{
	static const struct client_callbacks cbs = {
	    .ready = mcmd_on_ready,
	    .closed = mcmd_on_closed,
	    .push = mcmd_on_push,
	};
	struct mcmd_wait w;
	uv_loop_t loop;
	int rv;

	memset(&w, 0, sizeof(w));
	w.ctx = ctx;
	w.method = method;
	w.params = params;
	w.ids = ids;
	w.orders = json_array();
	w.wait = wait;
	w.exit = CLI_EXIT_FAILED;
	if (!params || !ids || !w.orders) {
		rv = cli_out_error(ctx, CLI_EXIT_FAILED,
		                   ups_err_code(UPS_ERR_NO_MEMORY),
		                   "out of memory");
		goto out;
	}
	if (wait)
		json_object_set_new(params, "watch", json_true());
	rv = acmd_session_open(ctx, &loop, &w.client, &cbs, &w);
	if (rv)
		goto out;
	uv_timer_init(&loop, &w.deadline);
	w.deadline.data = &w;
	/* Connecting and the answer: --timeout; the orders: --wait-timeout. */
	uv_timer_start(&w.deadline, mcmd_on_deadline,
	               wait ? ctx->g.timeout_ms + wait_ms : ctx->g.timeout_ms,
	               0);
	acmd_session_run(&loop, &w.client);
	rv = w.exit;
out:
	json_decref(w.params);
	json_decref(w.ids);
	json_decref(w.orders);
	return rv;
}

/* ID... (each once) into a new array, or a usage error. */
static int mcmd_ids(struct cli_ctx *ctx, json_t **out)
{
	json_t *ids = json_array();

	if (!ids)
		return cli_out_usage(ctx, "out of memory");
	for (int i = 0; i < ctx->nargs; i++) {
		if (!ups_machine_id_is_valid(ctx->args[i])) {
			json_decref(ids);
			return cli_out_usage(
			    ctx,
			    "bad machine id \"%.64s\" ([a-z0-9-], "
			    "e.g. 0 or 12)",
			    ctx->args[i]);
		}
		/* Once each: a repeat in a later request would be refused
		 * after the earlier ones were ordered. */
		for (int j = 0; j < i; j++)
			if (strcmp(ctx->args[j], ctx->args[i]) == 0) {
				json_decref(ids);
				return cli_out_usage(
				    ctx, "machine id \"%.64s\" given twice",
				    ctx->args[i]);
			}
		json_array_append_new(ids, json_string(ctx->args[i]));
	}
	*out = ids;
	return CLI_EXIT_OK;
}

static int mcmd_wait_timeout(struct cli_ctx *ctx, const char *s, uint64_t *ms)
{
	char *end;
	unsigned long v;

	*ms = (uint64_t)MCMD_WAIT_DEFAULT_S * 1000;
	if (!s)
		return CLI_EXIT_OK;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > MCMD_WAIT_MAX_S)
		return cli_out_usage(ctx,
		                     "bad --wait-timeout \"%.32s\" "
		                     "(seconds, 1..86400)",
		                     s);
	*ms = (uint64_t)v * 1000;
	return CLI_EXIT_OK;
}

int mcmd_upgrade(struct cli_ctx *ctx)
{
	const char *version = ctx->opts[MCMD_UPGRADE_AGENT_VERSION];
	const char *stream = ctx->opts[MCMD_UPGRADE_STREAM];
	char canon[UPS_LIMIT_VERSION_LEN + 1], perr[UPS_ERRMSG_MAX];
	struct ups_version v;
	json_t *ids, *params;
	uint64_t wait_ms;
	int rv;

	if (ups_version_parse(version, &v, perr, sizeof(perr)) ||
	    ups_version_format(&v, canon, sizeof(canon)))
		return cli_out_usage(ctx, "bad --agent-version \"%.64s\": %s",
		                     version, perr);
	if (stream && !ups_stream_is_valid(stream))
		return cli_out_usage(
		    ctx, "bad --stream \"%.32s\": use " UPS_STREAM_NAMES_TEXT,
		    stream);
	rv = mcmd_wait_timeout(ctx, ctx->opts[MCMD_UPGRADE_WAIT_TIMEOUT],
	                       &wait_ms);
	if (rv || (rv = mcmd_ids(ctx, &ids)))
		return rv;
	params = json_pack("{s:s}", "version", canon);
	if (params && stream)
		json_object_set_new(params, "stream", json_string(stream));
	return mcmd_order(ctx, "Order", ids, params,
	                  ctx->opts[MCMD_UPGRADE_WAIT] != NULL, wait_ms);
}

int mcmd_revert(struct cli_ctx *ctx)
{
	json_t *ids;
	uint64_t wait_ms;
	int rv;

	rv = mcmd_wait_timeout(ctx, ctx->opts[MCMD_REVERT_WAIT_TIMEOUT],
	                       &wait_ms);
	if (rv || (rv = mcmd_ids(ctx, &ids)))
		return rv;
	return mcmd_order(ctx, "Revert", ids, json_object(),
	                  ctx->opts[MCMD_REVERT_WAIT] != NULL, wait_ms);
}
