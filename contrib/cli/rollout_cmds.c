/* upgrade-controller, upgrade-status and the rollout commands. */
#include "contrib/cli/rollout_cmds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "contrib/cli/agent_cmds.h"
#include "contrib/cli/client.h"
#include "contrib/cli/juju_client.h"
#include "contrib/cli/output.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/machine.h"
#include "proto/version.h"

/* Longest duration accepted: 30 days. */
#define RCMD_DURATION_MAX_MS (30LL * 86400 * 1000)

int rcmd_duration(const char *s, int64_t *ms)
{
	char *end;
	long long v;
	int64_t unit;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return -1;
	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		unit = 1000;
	else if (strcmp(end, "m") == 0)
		unit = 60000;
	else if (strcmp(end, "h") == 0)
		unit = 3600000;
	else
		return -1;
	if (v > RCMD_DURATION_MAX_MS / unit)
		return -1;
	*ms = (int64_t)v * unit;
	return 0;
}

static const char *rcmd_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long rcmd_int(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static long long rcmd_count(const json_t *r, const char *state)
{
	return rcmd_int(json_object_get(r, "counts"), state);
}

/* Machines ordered and not yet upgraded or ended. */
static long long rcmd_in_flight(const json_t *r)
{
	static const char *const working[] = {
	    "ordered",     "downloading", "verifying", "staged",
	    "restarting",  "health-wait", "healthy",   "reverting"};
	long long n = 0;

	for (size_t i = 0; i < sizeof(working) / sizeof(working[0]); i++)
		n += rcmd_count(r, working[i]);
	return n;
}

/* One line: where the rollout stands. On a terminal, live lines redraw
 * in place (the caller ends them). */
static void rcmd_print_line(const struct cli_ctx *ctx, const json_t *r,
                            bool redraw)
{
	const char *reason = rcmd_str(r, "reason");

	if (redraw)
		fputs("\r\033[K", ctx->out);
	fprintf(ctx->out,
	        "rollout %s: %s, stage %lld/%lld, upgraded %lld/%lld, in "
	        "flight %lld, failed %lld",
	        rcmd_str(r, "id"), rcmd_str(r, "state"),
	        rcmd_int(r, "stage"), rcmd_int(r, "stages") - 1,
	        rcmd_count(r, "upgraded"), rcmd_int(r, "machines"),
	        rcmd_in_flight(r),
	        rcmd_count(r, "failed") + rcmd_count(r, "timed-out"));
	if (rcmd_count(r, "reverted") || rcmd_count(r, "revert-pending") ||
	    rcmd_count(r, "reverting") || rcmd_count(r, "revert-failed"))
		fprintf(ctx->out, ", reverted %lld, revert-failed %lld",
		        rcmd_count(r, "reverted"),
		        rcmd_count(r, "revert-failed"));
	if (strcmp(reason, "-") && reason[0])
		fprintf(ctx->out, ": %s", reason);
	if (!redraw)
		fputc('\n', ctx->out);
	fflush(ctx->out);
}

static void rcmd_print_ms(FILE *f, const char *label, long long ms)
{
	fprintf(f, "%-10s %lldm%02llds\n", label, ms / 60000,
	        (ms / 1000) % 60);
}

/* The full status (upgrade-status). */
static void rcmd_print_status(const struct cli_ctx *ctx, const json_t *r)
{
	const json_t *counts = json_object_get(r, "counts"), *v, *f;
	const char *key;
	size_t i;

	fprintf(ctx->out, "rollout    %s\n", rcmd_str(r, "id"));
	fprintf(ctx->out, "state      %s", rcmd_str(r, "state"));
	if (rcmd_str(r, "reason")[0] && strcmp(rcmd_str(r, "reason"), "-"))
		fprintf(ctx->out, " (%s)", rcmd_str(r, "reason"));
	fputc('\n', ctx->out);
	fprintf(ctx->out, "model      %s\n", rcmd_str(r, "model"));
	fprintf(ctx->out, "target     %s (%s)\n", rcmd_str(r, "target"),
	        rcmd_str(r, "stream"));
	fprintf(ctx->out, "stage      %lld of %lld (0: the canaries)\n",
	        rcmd_int(r, "stage"), rcmd_int(r, "stages") - 1);
	fprintf(ctx->out, "machines   %lld in %zu groups",
	        rcmd_int(r, "machines"),
	        json_array_size(json_object_get(r, "groups")));
	fputc('\n', ctx->out);
	fprintf(ctx->out, "counts    ");
	json_object_foreach((json_t *)counts, key, v)
	    fprintf(ctx->out, " %s=%lld", key,
	            (long long)json_integer_value(v));
	fputc('\n', ctx->out);
	fprintf(ctx->out, "budget     %lld failed of %lld allowed\n",
	        rcmd_int(r, "failures-count"), rcmd_int(r, "failure-budget"));
	rcmd_print_ms(ctx->out, "elapsed", rcmd_int(r, "elapsed-ms"));
	if (json_object_get(r, "eta-ms"))
		rcmd_print_ms(ctx->out, "eta", rcmd_int(r, "eta-ms"));
	json_array_foreach(json_object_get(r, "failures"), i, f)
	    fprintf(ctx->out, "failed     %s%s: %s: %s\n",
	            rcmd_str(f, "machine-id"),
	            json_is_true(json_object_get(f, "canary")) ? " (canary)"
	                                                       : "",
	            rcmd_str(f, "state"), rcmd_str(f, "reason"));
	if (rcmd_int(r, "failures-omitted"))
		fprintf(ctx->out, "failed     ... and %lld more\n",
		        rcmd_int(r, "failures-omitted"));
	fflush(ctx->out);
}

static void rcmd_print_plan(const struct cli_ctx *ctx, const json_t *answer)
{
	const json_t *r = json_object_get(answer, "rollout");
	const json_t *plan = json_object_get(answer, "plan"), *st, *id;
	const char *rule = json_string_value(json_object_get(answer, "rule"));
	size_t i, k;

	fprintf(ctx->out, "%s %s: %s (%s) on %lld machines in %zu groups, "
	                  "%lld stages%s%s\n",
	        json_is_true(json_object_get(answer, "dry-run"))
	            ? "plan of"
	            : "rollout",
	        rcmd_str(r, "id"), rcmd_str(r, "target"), rcmd_str(r, "stream"),
	        rcmd_int(r, "machines"),
	        json_array_size(json_object_get(r, "groups")),
	        rcmd_int(r, "stages"), rule ? ", auto-selected by rule " : "",
	        rule ? rule : "");
	json_array_foreach(json_object_get(r, "groups"), i, st)
	    fprintf(ctx->out, "  group %s/%s: %lld machines, binary %s\n",
	            rcmd_str(st, "release"), rcmd_str(st, "arch"),
	            rcmd_int(st, "machines"), rcmd_str(st, "binary-version"));
	json_array_foreach(json_object_get(plan, "stages"), i, st)
	{
		const json_t *ids = json_object_get(st, "machines");

		fprintf(ctx->out,
		        "  stage %lld%s: %lld machines:", rcmd_int(st, "stage"),
		        json_is_true(json_object_get(st, "canary"))
		            ? " (canary)"
		            : "",
		        rcmd_int(st, "count"));
		json_array_foreach(ids, k, id)
		    fprintf(ctx->out, " %s", json_string_value(id));
		if ((long long)json_array_size(ids) < rcmd_int(st, "count"))
			fprintf(ctx->out, " ...");
		fputc('\n', ctx->out);
	}
	if (rcmd_int(plan, "stages-omitted"))
		fprintf(ctx->out, "  ... and %lld more stages\n",
		        rcmd_int(plan, "stages-omitted"));
	fflush(ctx->out);
}

/* -------------------------------------------------------------------------
 * A session that sends one request and follows Rollouts.Event pushes. */

enum rcmd_follow {
	FOLLOW_ONCE,   /* answer only */
	FOLLOW_WAIT, /* until it stops moving (upgrade-controller --wait) */
	FOLLOW_WATCH,  /* until it ends (upgrade-status --watch) */
};

struct rcmd_session {
	struct cli_ctx *ctx;
	const char *method;
	json_t *params; /* until sent */
	enum rcmd_follow follow;
	struct client client;
	uv_timer_t deadline; /* the answer's */
	bool done;
	int exit;
	char id[32];
	char last_line[256];
	/* An auto-selected target is checked against this client version
	 * once the answer names it (NULL: no check). */
	const struct ups_version *client_version;
	bool tty;     /* ctx->out is a terminal: live lines redraw */
	bool drawing; /* a redrawn line is on screen, not ended */
	json_t *told; /* machine id -> the failed state already printed */
};

static void rcmd_finish(struct rcmd_session *s, int exit)
{
	if (s->done)
		return;
	s->done = true;
	s->exit = exit;
	if (s->drawing)
		fputc('\n', s->ctx->out);
	uv_close((uv_handle_t *)&s->deadline, NULL);
	client_close(&s->client);
}

/* Whether r stopped moving (wait) or ended (watch); sets the exit. */
static bool rcmd_settled(struct rcmd_session *s, const json_t *r)
{
	const char *st = rcmd_str(r, "state");
	bool final = !strcmp(st, "completed") || !strcmp(st, "aborted") ||
	             !strcmp(st, "failed") || !strcmp(st, "rolled-back");

	if (final) {
		rcmd_finish(s, strcmp(st, "completed") == 0 ? CLI_EXIT_OK
		                                            : CLI_EXIT_FAILED);
		return true;
	}
	if (s->follow == FOLLOW_WAIT &&
	    (!strcmp(st, "paused") || !strcmp(st, "awaiting-promotion"))) {
		rcmd_finish(s, CLI_EXIT_FAILED);
		return true;
	}
	return false;
}

static void rcmd_show(struct rcmd_session *s, const json_t *r, bool force)
{
	char line[256];

	if (s->ctx->g.json)
		return;
	/* A line when something an operator counts changed. */
	snprintf(line, sizeof(line), "%s/%lld/%lld/%lld/%lld/%lld",
	         rcmd_str(r, "state"), rcmd_int(r, "stage"),
	         rcmd_count(r, "upgraded"), rcmd_count(r, "reverted"),
	         rcmd_count(r, "failed") + rcmd_count(r, "timed-out"),
	         rcmd_in_flight(r));
	if (!force && strcmp(line, s->last_line) == 0)
		return;
	snprintf(s->last_line, sizeof(s->last_line), "%s", line);
	rcmd_print_line(s->ctx, r, s->tty && s->follow != FOLLOW_ONCE);
	s->drawing = s->tty && s->follow != FOLLOW_ONCE;
}

/* A machine's failure, once per machine and state. */
static void rcmd_tell_failure(struct rcmd_session *s, const char *id,
                              const char *st, const char *reason)
{
	const char *was = json_string_value(json_object_get(s->told, id));

	if (strcmp(st, "failed") && strcmp(st, "timed-out") &&
	    strcmp(st, "revert-failed"))
		return;
	if (was && strcmp(was, st) == 0)
		return;
	if (s->told)
		json_object_set_new(s->told, id, json_string(st));
	if (s->drawing)
		fputc('\n', s->ctx->out);
	s->drawing = false;
	fprintf(s->ctx->out, "machine %s: %s: %s\n", id, st, reason);
}

/* The failures r lists (its status may run ahead of the changes pushed
 * so far: a stop is never shown without what caused it). */
static void rcmd_tell_failures(struct rcmd_session *s, const json_t *r)
{
	const json_t *f;
	size_t i;

	json_array_foreach(json_object_get(r, "failures"), i, f)
	    rcmd_tell_failure(s, rcmd_str(f, "machine-id"),
	                      rcmd_str(f, "state"), rcmd_str(f, "reason"));
}

static void rcmd_on_push(struct client *c, const struct ups_envelope *env)
{
	struct rcmd_session *s = c->data;
	const json_t *r = json_object_get(env->params, "rollout"), *ch;
	size_t i;

	if (s->done || strcmp(env->type, "Rollouts") != 0 ||
	    strcmp(env->request, "Event") != 0 || !r)
		return;
	if (s->id[0] && strcmp(rcmd_str(r, "id"), s->id) != 0)
		return;
	if (s->ctx->g.json) {
		cli_out_json(s->ctx, json_incref((json_t *)env->params));
	} else {
		json_array_foreach(json_object_get(env->params, "changes"), i,
		                   ch)
		    rcmd_tell_failure(s, rcmd_str(ch, "machine-id"),
		                      rcmd_str(ch, "state"),
		                      rcmd_str(ch, "reason"));
		rcmd_tell_failures(s, r);
		rcmd_show(s, r, false);
	}
	(void)rcmd_settled(s, r);
}

/* The seed: upgrade the client before agents newer than it. */
static void rcmd_warn_client(const struct cli_ctx *ctx,
                             const struct ups_version *client,
                             const struct ups_version *target)
{
	char cbuf[UPS_LIMIT_VERSION_LEN + 1], tbuf[UPS_LIMIT_VERSION_LEN + 1];

	if (ups_version_compare(client, target) >= 0 ||
	    ups_version_format(client, cbuf, sizeof(cbuf)) ||
	    ups_version_format(target, tbuf, sizeof(tbuf)))
		return;
	fprintf(ctx->err,
	        "warning: the client (%s) is older than the target %s: "
	        "upgrade the client first\n",
	        cbuf, tbuf);
	fflush(ctx->err);
}

static void rcmd_on_answer(struct client *c, void *data, int status,
                           const struct ups_envelope *env, const char *detail)
{
	struct rcmd_session *s = data;
	const json_t *r;

	(void)c;
	if (s->done)
		return;
	if (status) {
		char msg[UPS_LIMIT_ERROR_TEXT_LEN + 1];
		json_t *info = env ? env->error_info : NULL, *v;
		size_t i;

		snprintf(msg, sizeof(msg), "%s",
		         env && env->error_text ? env->error_text
		                                : (detail ? detail : ""));
		json_array_foreach(json_object_get(info, "missing"), i, v)
		    snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
		             "%s%s", i ? ", " : "; missing: ",
		             json_string_value(v));
		json_array_foreach(json_object_get(info, "unknown-machines"), i,
		                   v)
		    snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
		             "%s%s", i ? ", " : "; unknown machines: ",
		             json_string_value(v));
		cli_out_error(s->ctx, env ? CLI_EXIT_FAILED : CLI_EXIT_CONNECT,
		              env ? env->error_code_text : ups_err_code(status),
		              msg);
		rcmd_finish(s, env ? CLI_EXIT_FAILED : CLI_EXIT_CONNECT);
		return;
	}
	uv_timer_stop(&s->deadline);
	r = json_object_get(env->response, "rollout");
	snprintf(s->id, sizeof(s->id), "%s", rcmd_str(r, "id"));
	if (s->client_version) {
		struct ups_version tv;

		if (ups_version_parse(rcmd_str(r, "target"), &tv, NULL, 0) == 0)
			rcmd_warn_client(s->ctx, s->client_version, &tv);
	}
	if (s->ctx->g.json)
		cli_out_json(s->ctx, json_incref(env->response));
	else if (strcmp(s->method, "Start") == 0)
		rcmd_print_plan(s->ctx, env->response);
	else if (strcmp(s->method, "Status") == 0)
		rcmd_print_status(s->ctx, r);
	if (!s->ctx->g.json && strcmp(s->method, "Status") != 0) {
		if (s->follow != FOLLOW_ONCE)
			rcmd_tell_failures(s, r);
		rcmd_show(s, r, true);
	}
	if (s->follow == FOLLOW_ONCE ||
	    json_is_true(json_object_get(env->response, "dry-run"))) {
		rcmd_finish(s, CLI_EXIT_OK);
		return;
	}
	(void)rcmd_settled(s, r);
}

static void rcmd_on_ready(struct client *c, int status, const char *detail)
{
	struct rcmd_session *s = c->data;
	json_t *params = s->params;

	if (s->done)
		return;
	if (status) {
		cli_out_error(s->ctx, CLI_EXIT_CONNECT, ups_err_code(status),
		              detail ? detail : ups_err_message(status));
		rcmd_finish(s, CLI_EXIT_CONNECT);
		return;
	}
	s->params = NULL;
	if (client_request(c, "Rollouts", s->method, params, rcmd_on_answer, s,
	                   NULL)) {
		cli_out_error(s->ctx, CLI_EXIT_FAILED,
		              ups_err_code(UPS_ERR_NO_MEMORY),
		              "cannot send the request");
		rcmd_finish(s, CLI_EXIT_FAILED);
	}
}

static void rcmd_on_closed(struct client *c, int status, const char *detail)
{
	struct rcmd_session *s = c->data;

	if (s->done)
		return;
	cli_out_error(s->ctx, CLI_EXIT_CONNECT, ups_err_code(status),
	              detail ? detail : "connection lost");
	rcmd_finish(s, CLI_EXIT_CONNECT);
}

static void rcmd_on_deadline(uv_timer_t *t)
{
	struct rcmd_session *s = t->data;

	if (s->done)
		return;
	cli_out_error(s->ctx, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_TIMEOUT),
	              "no answer in time");
	rcmd_finish(s, CLI_EXIT_FAILED);
}

/* Sends Rollouts.method with params (stolen) and follows as asked. The
 * answer is bounded by --timeout; following is not. client (borrowed for
 * the call; NULL: none) is warned about when older than the target the
 * answer names. */
static int rcmd_run(struct cli_ctx *ctx, const char *method, json_t *params,
                    enum rcmd_follow follow, const struct ups_version *client)
{
	static const struct client_callbacks cbs = {
	    .ready = rcmd_on_ready,
	    .closed = rcmd_on_closed,
	    .push = rcmd_on_push,
	};
	struct rcmd_session s;
	uv_loop_t loop;
	int rv;

	if (!params)
		return cli_out_error(ctx, CLI_EXIT_FAILED, "internal",
		                     "out of memory");
	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	s.method = method;
	s.params = params;
	s.follow = follow;
	s.client_version = client;
	s.exit = CLI_EXIT_FAILED;
	s.tty = isatty(fileno(ctx->out));
	if (follow != FOLLOW_ONCE)
		json_object_set_new(params, "watch", json_true());
	rv = acmd_session_open(ctx, &loop, &s.client, &cbs, &s);
	if (rv) {
		json_decref(params);
		return rv;
	}
	s.told = json_object();
	uv_timer_init(&loop, &s.deadline);
	s.deadline.data = &s;
	uv_timer_start(&s.deadline, rcmd_on_deadline, ctx->g.timeout_ms, 0);
	acmd_session_run(&loop, &s.client);
	json_decref(s.params);
	json_decref(s.told);
	return s.exit;
}

/* -------------------------------------------------------------------------
 * The commands. */

/* "release=R,arch=A,machines=ID ID" (keys repeatable; machines take the
 * rest of their value split at ' ' or '+') into select. */
static int rcmd_select(struct cli_ctx *ctx, const char *spec, json_t *select)
{
	char buf[4096], *save = NULL, *tok;

	if (strlen(spec) >= sizeof(buf))
		return cli_out_usage(ctx, "--select is too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *v, *save2 = NULL;
		const char *key;

		if (!eq)
			return cli_out_usage(ctx,
			                     "bad --select part \"%.64s\" (use "
			                     "release=R,arch=A,machines=ID+ID)",
			                     tok);
		*eq = '\0';
		key = !strcmp(tok, "release")    ? "releases"
		      : !strcmp(tok, "arch")     ? "arches"
		      : !strcmp(tok, "machines") ? "machines"
		      : !strcmp(tok, "machine")  ? "machines"
		                                 : NULL;
		if (!key)
			return cli_out_usage(
			    ctx,
			    "bad --select key \"%.32s\" (release, "
			    "arch or machines)",
			    tok);
		for (v = strtok_r(eq + 1, " +", &save2); v;
		     v = strtok_r(NULL, " +", &save2)) {
			json_t *arr = json_object_get(select, key);

			if (!arr) {
				arr = json_array();
				json_object_set_new(select, key, arr);
			}
			json_array_append_new(arr, json_string(v));
		}
	}
	return CLI_EXIT_OK;
}

static int rcmd_canon(struct cli_ctx *ctx, const char *flag, const char *s,
                      char *buf, size_t len, struct ups_version *v)
{
	char perr[UPS_ERRMSG_MAX];

	perr[0] = '\0';
	if (ups_version_parse(s, v, perr, sizeof(perr)) ||
	    ups_version_format(v, buf, len))
		return cli_out_usage(ctx, "bad %s \"%.64s\": %s", flag, s,
		                     perr);
	return CLI_EXIT_OK;
}

int rcmd_upgrade(struct cli_ctx *ctx)
{
	static const struct {
		int opt;
		const char *key;
	} amounts[] = {{RCMD_BATCH, "batch"},
	               {RCMD_MAX_UNAVAILABLE, "max-unavailable"},
	               {RCMD_FAILURE_BUDGET, "failure-budget"}},
	  durations[] = {{RCMD_MIN_HEALTHY, "min-healthy-ms"},
	                 {RCMD_MACHINE_DEADLINE, "machine-deadline-ms"},
	                 {RCMD_DEADLINE, "deadline-ms"}};
	const char *stream = ctx->opts[RCMD_STREAM];
	char target[UPS_LIMIT_VERSION_LEN + 1],
	    client[UPS_LIMIT_VERSION_LEN + 1];
	struct ups_version tv, cv;
	json_t *params = json_object(), *select = json_object();
	bool have_client = false;
	int rv = CLI_EXIT_OK;

	if (!params || !select) {
		json_decref(params);
		json_decref(select);
		return cli_out_usage(ctx, "out of memory");
	}
	if (ctx->opts[RCMD_AGENT_VERSION]) {
		rv = rcmd_canon(ctx, "--agent-version",
		                ctx->opts[RCMD_AGENT_VERSION], target,
		                sizeof(target), &tv);
		if (!rv)
			json_object_set_new(params, "version",
			                    json_string(target));
	}
	if (!rv && ctx->opts[RCMD_CLIENT_VERSION]) {
		rv = rcmd_canon(ctx, "--client-version",
		                ctx->opts[RCMD_CLIENT_VERSION], client,
		                sizeof(client), &cv);
		if (!rv) {
			json_object_set_new(params, "client-version",
			                    json_string(client));
			have_client = true;
		}
	}
	/* Without --client-version the local juju client's version stands
	 * in, as for sync-agent-binary: auto-selection starts from it and
	 * the warning below compares with it. With --agent-version it is
	 * only for the warning, and not needed. */
	if (!rv && !ctx->opts[RCMD_CLIENT_VERSION]) {
		char jerr[UPS_ERRMSG_MAX];

		jerr[0] = '\0';
		if (juju_client_version(&cv, jerr, sizeof(jerr)) == 0 &&
		    ups_version_format(&cv, client, sizeof(client)) == 0) {
			have_client = true;
			if (!ctx->opts[RCMD_AGENT_VERSION])
				json_object_set_new(params, "client-version",
				                    json_string(client));
		} else if (!ctx->opts[RCMD_AGENT_VERSION]) {
			rv =
			    cli_out_usage(ctx,
			                  "cannot auto-select a version: give "
			                  "--client-version C, or put a juju "
			                  "client on PATH (%s); or choose with "
			                  "--agent-version V",
			                  jerr[0] ? jerr : "no version");
		}
	}
	if (!rv && stream && !ups_stream_is_valid(stream))
		rv = cli_out_usage(
		    ctx, "bad --stream \"%.32s\": use " UPS_STREAM_NAMES_TEXT,
		    stream);
	if (!rv && stream)
		json_object_set_new(params, "stream", json_string(stream));
	if (!rv && ctx->opts[RCMD_SELECT])
		rv = rcmd_select(ctx, ctx->opts[RCMD_SELECT], select);
	if (!rv && json_object_size(select))
		json_object_set(params, "select", select);
	if (!rv && ctx->opts[RCMD_CANARY]) {
		char *end;
		long n = strtol(ctx->opts[RCMD_CANARY], &end, 10);

		if (*end || end == ctx->opts[RCMD_CANARY] || n < 0 || n > 1000)
			rv = cli_out_usage(ctx,
			                   "bad --canary \"%.32s\" (0..1000)",
			                   ctx->opts[RCMD_CANARY]);
		else
			json_object_set_new(params, "canary", json_integer(n));
	}
	for (size_t i = 0; !rv && i < sizeof(amounts) / sizeof(amounts[0]); i++)
		if (ctx->opts[amounts[i].opt])
			json_object_set_new(
			    params, amounts[i].key,
			    json_string(ctx->opts[amounts[i].opt]));
	for (size_t i = 0; !rv && i < sizeof(durations) / sizeof(durations[0]);
	     i++) {
		const char *s = ctx->opts[durations[i].opt];
		int64_t ms;

		if (!s)
			continue;
		if (rcmd_duration(s, &ms))
			rv = cli_out_usage(
			    ctx,
			    "bad duration \"%.32s\" (e.g. 90s, 5m, "
			    "1h, 500ms)",
			    s);
		else
			json_object_set_new(params, durations[i].key,
			                    json_integer(ms));
	}
	json_decref(select);
	if (rv) {
		json_decref(params);
		return rv;
	}
	if (ctx->opts[RCMD_MANUAL_PROMOTE])
		json_object_set_new(params, "manual-promote", json_true());
	/* upgrade-model: that model's machines, never past the controller
	 * (upstaged checks); upgrade-controller: the controller model. */
	if (strcmp(ctx->cmd->name, "upgrade-model") == 0) {
		if (!ups_machine_id_is_valid(ctx->opts[RCMD_MODEL])) {
			json_decref(params);
			return cli_out_usage(ctx,
			                     "bad --model \"%.64s\" (a name "
			                     "of [a-z0-9-])",
			                     ctx->opts[RCMD_MODEL]);
		}
		json_object_set_new(params, "model",
		                    json_string(ctx->opts[RCMD_MODEL]));
	}
	if (ctx->opts[RCMD_ON_BUDGET]) {
		const char *ob = ctx->opts[RCMD_ON_BUDGET];

		if (strcmp(ob, "pause") && strcmp(ob, "rollback")) {
			json_decref(params);
			return cli_out_usage(
			    ctx,
			    "bad --on-budget \"%.32s\" (pause or "
			    "rollback)",
			    ob);
		}
		json_object_set_new(params, "on-budget", json_string(ob));
	}
	if (ctx->opts[RCMD_DRY_RUN])
		json_object_set_new(params, "dry-run", json_true());
	/* A target given is checked now; one auto-selected once the
	 * answer names it. */
	if (ctx->opts[RCMD_AGENT_VERSION] && have_client)
		rcmd_warn_client(ctx, &cv, &tv);
	return rcmd_run(ctx, "Start", params,
	                ctx->opts[RCMD_WAIT] ? FOLLOW_WAIT : FOLLOW_ONCE,
	                have_client && !ctx->opts[RCMD_AGENT_VERSION] ? &cv
	                                                              : NULL);
}

static json_t *rcmd_id_params(const struct cli_ctx *ctx)
{
	return ctx->nargs > 0 ? json_pack("{s:s}", "id", ctx->args[0])
	                      : json_object();
}

int rcmd_status(struct cli_ctx *ctx)
{
	return rcmd_run(
	    ctx, "Status", rcmd_id_params(ctx),
	    ctx->opts[RCMD_STATUS_WATCH] ? FOLLOW_WATCH : FOLLOW_ONCE, NULL);
}

int rcmd_promote(struct cli_ctx *ctx)
{
	return rcmd_run(ctx, "Promote", rcmd_id_params(ctx), FOLLOW_ONCE, NULL);
}

int rcmd_pause(struct cli_ctx *ctx)
{
	return rcmd_run(ctx, "Pause", rcmd_id_params(ctx), FOLLOW_ONCE, NULL);
}

int rcmd_resume(struct cli_ctx *ctx)
{
	return rcmd_run(ctx, "Resume", rcmd_id_params(ctx), FOLLOW_ONCE, NULL);
}

int rcmd_abort(struct cli_ctx *ctx)
{
	return rcmd_run(ctx, "Abort", rcmd_id_params(ctx), FOLLOW_ONCE, NULL);
}

int rcmd_rollback(struct cli_ctx *ctx)
{
	return rcmd_run(ctx, "Rollback", rcmd_id_params(ctx), FOLLOW_ONCE,
	                NULL);
}
