/* sync-agent-binary, list-agent-binaries, remove-agent-binary. */
#include "contrib/cli/sync_cmds.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "contrib/cli/agent_cmds.h"
#include "contrib/cli/juju_client.h"
#include "contrib/cli/oneshot.h"
#include "contrib/cli/output.h"
#include "contrib/cli/progress.h"
#include "contrib/cli/remote.h"
#include "contrib/cli/source.h"
#include "contrib/cli/uploader.h"
#include "proto/autoselect.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/net/url.h"
#include "proto/version.h"

#define SYNC_DEFAULT_STREAM  UPS_STREAM_RELEASED
#define SYNC_DEFAULT_RETRIES 5u
#define SYNC_MAX_RETRIES     1000u
/* --parallel's default is the number of cores, at most this (upstaged's
 * default max-uploads-per-client). */
#define SYNC_DEFAULT_PARALLEL_MAX 4u

static int check_stream(struct cli_ctx *ctx, const char *s)
{
	if (ups_stream_is_valid(s))
		return CLI_EXIT_OK;
	return cli_out_usage(
	    ctx, "bad --stream \"%.32s\": use " UPS_STREAM_NAMES_TEXT, s);
}

static void warn_cb(void *data, const char *msg)
{
	struct cli_ctx *ctx = data;

	fprintf(ctx->err, "warning: %s\n", msg);
	fflush(ctx->err);
}

/* Asks upstaged for its agent version. Returns CLI_EXIT_OK with *agent
 * set, or an exit code after printing why. */
static int fetch_agent_version(struct cli_ctx *ctx, struct ups_version *agent)
{
	char token[UPS_LIMIT_TOKEN_LEN + 1], perr[UPS_ERRMSG_MAX];
	struct oneshot_config cfg;
	struct oneshot_result res;
	struct ups_url url;
	const char *s;
	int rv;

	rv = acmd_config(ctx, &url, token, &cfg);
	if (rv)
		return rv;
	rv = oneshot_call(&cfg, "Agent", "Info", NULL, &res);
	explicit_bzero(token, sizeof(token));
	if (rv)
		return cli_out_error(ctx, rv, res.code, res.message);
	s = json_string_value(json_object_get(res.response, "agent-version"));
	if (!s) {
		json_decref(res.response);
		return cli_out_error(
		    ctx, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_NOT_FOUND),
		    "upstaged does not know the current agent version: set "
		    "upstaged's agent-version setting, or choose with "
		    "--agent-version");
	}
	rv = ups_version_parse(s, agent, perr, sizeof(perr));
	json_decref(res.response);
	if (rv)
		return cli_out_error(
		    ctx, CLI_EXIT_FAILED, ups_err_code(UPS_ERR_BAD_REQUEST),
		    "upstaged reports an invalid agent-version");
	return CLI_EXIT_OK;
}

/* Auto-selection: keeps the variants of the version the rules choose. */
static int autoselect(struct cli_ctx *ctx, struct ups_ss_list *list,
                      const struct ups_version *client)
{
	char perr[UPS_ERRMSG_MAX], text[UPS_LIMIT_VERSION_LEN + 1];
	struct ups_version agent, chosen, *avail;
	size_t n;
	int rv;

	rv = fetch_agent_version(ctx, &agent);
	if (rv)
		return rv;
	if (source_versions(list, &avail, &n) != 0)
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_NO_MEMORY),
		                     ups_err_message(UPS_ERR_NO_MEMORY));
	rv = ups_version_autoselect(client, &agent, avail, n, &chosen, perr,
	                            sizeof(perr));
	free(avail);
	if (rv)
		return cli_out_error(ctx, CLI_EXIT_FAILED, ups_err_code(rv),
		                     perr);
	source_keep_version(list, &chosen);
	ups_version_format(&chosen, text, sizeof(text));
	fprintf(ctx->err, "selected version %s (auto-selected)\n", text);
	fflush(ctx->err);
	return CLI_EXIT_OK;
}

static const char *status_name(enum upload_status s, bool dry_run)
{
	if (dry_run)
		return "would-upload";
	switch (s) {
	case UPLOAD_UPLOADED:
		return "uploaded";
	case UPLOAD_EXISTS:
		return "exists";
	case UPLOAD_FAILED:
		return "failed";
	case UPLOAD_PENDING:
		break;
	}
	return "pending";
}

struct sync_run {
	struct cli_ctx *ctx;
	const char *stream;
	bool dry_run;
};

static void print_item(struct sync_run *run, const struct upload_item *item)
{
	struct cli_ctx *ctx = run->ctx;
	const char *status = status_name(item->status, run->dry_run);
	json_t *obj;

	if (!ctx->g.json) {
		if (item->status == UPLOAD_FAILED) {
			fprintf(ctx->err, "error: %s: %s: %s\n", item->code,
			        item->it.binary_version, item->message);
			fflush(ctx->err);
		} else {
			fprintf(ctx->out, "%s %s %s\n", status,
			        item->it.binary_version,
			        run->dry_run ? item->file : "");
			fflush(ctx->out);
		}
		return;
	}
	obj = json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:I}", "binary-version",
	                item->it.binary_version, "stream", run->stream, "size",
	                (json_int_t)item->it.size, "sha256", item->it.sha256,
	                "status", status, "sent-bytes",
	                (json_int_t)item->sent_bytes, "resumed-from",
	                (json_int_t)item->resumed_from);
	if (obj && item->status == UPLOAD_FAILED) {
		json_object_set_new(obj, "error-code", json_string(item->code));
		json_object_set_new(obj, "error", json_string(item->message));
	}
	if (obj)
		cli_out_json(ctx, obj);
}

static void on_item_done(void *data, const struct upload_item *item)
{
	print_item(data, item);
}

static int parse_count(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* MiB/s, > 0, as bytes/s. */
static int parse_rate(const char *s, uint64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 1e6)
		return -1;
	*out = (uint64_t)(v * 1024 * 1024);
	return *out ? 0 : -1;
}

int scmd_sync(struct cli_ctx *ctx)
{
	const char *source = ctx->opts[SCMD_SYNC_SOURCE];
	const char *agent_version = ctx->opts[SCMD_SYNC_AGENT_VERSION]
	                                ? ctx->opts[SCMD_SYNC_AGENT_VERSION]
	                                : ctx->opts[SCMD_SYNC_VERSION];
	const char *stream = ctx->opts[SCMD_SYNC_STREAM];
	const char *client_version = ctx->opts[SCMD_SYNC_CLIENT_VERSION];
	char err[1024], perr[UPS_ERRMSG_MAX], jerr[UPS_ERRMSG_MAX];
	char token[UPS_LIMIT_TOKEN_LEN + 1];
	struct sync_run run = {.ctx = ctx};
	struct uploader_config ucfg;
	struct oneshot_config ocfg;
	struct source_filter filter;
	struct ups_version client;
	struct ups_ss_list list = {0};
	struct upload_item *items = NULL;
	struct progress progress;
	enum source_kind kind;
	uint64_t total = 0, max_rate = 0;
	unsigned retries = SYNC_DEFAULT_RETRIES;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned parallel = cores < 1 ? 1
	                    : cores > SYNC_DEFAULT_PARALLEL_MAX
	                        ? SYNC_DEFAULT_PARALLEL_MAX
	                        : (unsigned)cores;
	struct ups_url url;
	struct remote_config rcfg = {0};
	bool remote;
	char root[PATH_MAX];
	int rv;

	if (ctx->opts[SCMD_SYNC_AGENT_VERSION] && ctx->opts[SCMD_SYNC_VERSION])
		return cli_out_usage(ctx, "give --agent-version or its older "
		                          "name --version, not both");
	run.dry_run = ctx->opts[SCMD_SYNC_DRY_RUN] != NULL;
	if (!source || !*source)
		source = getenv("JUJU_METADATA_SOURCE");
	/* As juju sync-agent-binary: Juju's public streams by default,
	 * read only signed (or with --allow-unsigned). */
	rcfg.explicit_source = source && *source;
	if (!rcfg.explicit_source && !ctx->opts[SCMD_SYNC_KEYRING] &&
	    !ctx->opts[SCMD_SYNC_ALLOW_UNSIGNED])
		return cli_out_usage(
		    ctx,
		    "no --source and no JUJU_METADATA_SOURCE: "
		    "the default, Juju's public streams (%s), is "
		    "read signed: give --keyring FILE (Juju's "
		    "signing key) or --allow-unsigned",
		    REMOTE_DEFAULT_SOURCE);
	if (!source || !*source)
		source = REMOTE_DEFAULT_SOURCE;
	remote = remote_is_url(source);
	if (!remote)
		source = source_root(source, root, sizeof(root));
	if (!stream)
		stream = ups_stream_name(SYNC_DEFAULT_STREAM);
	run.stream = stream;
	if ((rv = check_stream(ctx, stream)))
		return rv;
	if (ctx->opts[SCMD_SYNC_RETRIES] &&
	    parse_count(ctx->opts[SCMD_SYNC_RETRIES], SYNC_MAX_RETRIES,
	                &retries) != 0)
		return cli_out_usage(ctx,
		                     "bad --retries \"%.32s\": give a whole "
		                     "number from 0 to %u",
		                     ctx->opts[SCMD_SYNC_RETRIES],
		                     SYNC_MAX_RETRIES);
	if (ctx->opts[SCMD_SYNC_MAX_RATE] &&
	    parse_rate(ctx->opts[SCMD_SYNC_MAX_RATE], &max_rate) != 0)
		return cli_out_usage(ctx,
		                     "bad --max-rate \"%.32s\": give MiB/s "
		                     "greater than 0",
		                     ctx->opts[SCMD_SYNC_MAX_RATE]);
	if (ctx->opts[SCMD_SYNC_PARALLEL] &&
	    (parse_count(ctx->opts[SCMD_SYNC_PARALLEL], UPLOADER_MAX_PARALLEL,
	                 &parallel) != 0 ||
	     parallel == 0))
		return cli_out_usage(ctx,
		                     "bad --parallel \"%.32s\": give a whole "
		                     "number from 1 to %u",
		                     ctx->opts[SCMD_SYNC_PARALLEL],
		                     UPLOADER_MAX_PARALLEL);
	if (agent_version &&
	    source_filter_parse(agent_version, &filter, perr, sizeof(perr)))
		return cli_out_usage(ctx, "%s", perr);
	if (client_version &&
	    ups_version_parse(client_version, &client, perr, sizeof(perr)))
		return cli_out_usage(ctx, "bad --client-version \"%.64s\": %s",
		                     client_version, perr);
	/* Connection flags are checked before any work. */
	rv = acmd_config(ctx, &url, token, &ocfg);
	explicit_bzero(token, sizeof(token));
	if (rv)
		return rv;

	rcfg.ca_cert = ctx->g.ca_cert;
	rcfg.timeout_ms = ctx->g.timeout_ms;
	rcfg.keyring = ctx->opts[SCMD_SYNC_KEYRING];
	rcfg.allow_unsigned = ctx->opts[SCMD_SYNC_ALLOW_UNSIGNED] != NULL;
	if (remote) {
		kind = SOURCE_SIMPLESTREAMS;
		rv = remote_scan(source, stream, &rcfg, &list, warn_cb, ctx,
		                 err, sizeof(err));
	} else {
		rv = source_scan(source, stream, &list, &kind, warn_cb, ctx,
		                 err, sizeof(err));
	}
	if (rv) {
		rv = cli_out_error(ctx, CLI_EXIT_FAILED, ups_err_code(rv), err);
		goto out;
	}
	if (list.n == 0) {
		snprintf(err, sizeof(err),
		         "no agent binaries for stream %s in %s", stream,
		         source);
		rv = cli_out_error(ctx, CLI_EXIT_FAILED,
		                   ups_err_code(UPS_ERR_NOT_FOUND), err);
		goto out;
	}
	if (agent_version) {
		source_filter_apply(&list, &filter);
		if (list.n == 0) {
			snprintf(err, sizeof(err),
			         "no agent binaries of version %s in %s",
			         agent_version, source);
			rv =
			    cli_out_error(ctx, CLI_EXIT_FAILED,
			                  ups_err_code(UPS_ERR_NOT_FOUND), err);
			goto out;
		}
	} else {
		if (!client_version &&
		    juju_client_version(&client, jerr, sizeof(jerr)) != 0) {
			rv =
			    cli_out_usage(ctx,
			                  "cannot auto-select a version: give "
			                  "--client-version V, or put a juju "
			                  "client on PATH (%s); or choose with "
			                  "--agent-version",
			                  jerr);
			goto out;
		}
		rv = autoselect(ctx, &list, &client);
		if (rv)
			goto out;
	}

	items = calloc(list.n, sizeof(*items));
	if (!items) {
		rv = cli_out_error(ctx, CLI_EXIT_FAILED,
		                   ups_err_code(UPS_ERR_NO_MEMORY),
		                   ups_err_message(UPS_ERR_NO_MEMORY));
		goto out;
	}
	/* Every file is checked before anything is sent: what needs no
	 * reading now, the digest while it is sent (a dry run hashes). */
	for (size_t i = 0; i < list.n; i++) {
		items[i].it = list.items[i];
		/* An HTTP source is checked as it streams: upstaged compares
		 * every byte with the declared SHA-256 before it commits. */
		if (remote)
			rv = 0;
		else
			rv = run.dry_run
			         ? source_verify(source, kind, &items[i].it,
			                         err, sizeof(err))
			         : source_check(source, kind, &items[i].it, err,
			                        sizeof(err));
		if (!rv &&
		    (remote
		         ? remote_item_url(source, &items[i].it, items[i].file,
		                           sizeof(items[i].file))
		         : source_file_path(source, &items[i].it, items[i].file,
		                            sizeof(items[i].file))) != 0)
			rv = ups_errf(UPS_ERR_TOO_LARGE, err, sizeof(err),
			              "path too long");
		if (rv) {
			rv = cli_out_error(ctx, CLI_EXIT_FAILED,
			                   ups_err_code(rv), err);
			goto out;
		}
		total += items[i].it.size;
	}
	if (run.dry_run) {
		for (size_t i = 0; i < list.n; i++)
			print_item(&run, &items[i]);
		rv = CLI_EXIT_OK;
		goto out;
	}

	rv = acmd_config(ctx, &url, token, &ocfg);
	if (rv)
		goto out;
	progress_init(&progress, ctx->err, isatty(fileno(ctx->err)) == 1, false,
	              total, uv_hrtime());
	memset(&ucfg, 0, sizeof(ucfg));
	ucfg.url = &url;
	ucfg.ca_cert = ocfg.ca_cert;
	ucfg.role = ocfg.role;
	ucfg.token = token;
	ucfg.debug = ocfg.debug;
	ucfg.timeout_ms = ocfg.timeout_ms;
	ucfg.retries = retries;
	ucfg.stream = stream;
	ucfg.source_ca = ctx->g.ca_cert;
	ucfg.chunk_size = UPS_LIMIT_CHUNK_PAYLOAD_MAX;
	ucfg.max_rate = max_rate;
	ucfg.parallel = parallel;
	ucfg.force = ctx->opts[SCMD_SYNC_FORCE] != NULL;
	ucfg.progress = &progress;
	ucfg.item_done = on_item_done;
	ucfg.data = &run;
	rv = uploader_run(&ucfg, items, list.n);
	explicit_bzero(token, sizeof(token));
	progress_finish(&progress, uv_hrtime());
out:
	free(items);
	ups_ss_list_free(&list);
	return rv;
}

/* Runs AgentBinaries.METHOD with params (stolen). */
static int binaries_call(struct cli_ctx *ctx, const char *method,
                         json_t *params, struct oneshot_result *res)
{
	return acmd_call(ctx, "AgentBinaries", method, params, res);
}

/* Pages of List the CLI follows before it calls the answer broken (a
 * hundred binaries each). */
#define CLI_LIST_PAGES_MAX 10000

static const char *record_string(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s ? s : "-";
}

/* Every binary of stream (NULL: all), page after page: a new array in
 * *out, or an exit status with the error printed. */
static int list_all(struct cli_ctx *ctx, const char *stream, json_t **out)
{
	struct oneshot_result res;
	json_t *all = json_array(), *params, *page, *next, *after = NULL;
	size_t pages = 0;
	int rv;

	if (!all)
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_NO_MEMORY),
		                     "out of memory");
	for (;;) {
		params = json_object();
		if (params && stream)
			json_object_set_new(params, "stream",
			                    json_string(stream));
		if (params && after)
			json_object_set_new(params, "after", after);
		after = NULL;
		rv = binaries_call(ctx, "List", params, &res);
		if (rv)
			goto fail;
		page = json_object_get(res.response, "binaries");
		next = json_object_get(res.response, "next");
		if (!json_is_array(page) || (next && !json_is_object(next)) ||
		    (next && json_array_size(page) == 0) ||
		    ++pages > CLI_LIST_PAGES_MAX) {
			json_decref(res.response);
			rv = cli_out_error(ctx, CLI_EXIT_FAILED,
			                   ups_err_code(UPS_ERR_BAD_REQUEST),
			                   "upstaged answered List with a bad "
			                   "page");
			goto fail;
		}
		json_array_extend(all, page);
		after = next ? json_incref(next) : NULL;
		json_decref(res.response);
		if (!after)
			break;
	}
	*out = all;
	return CLI_EXIT_OK;
fail:
	json_decref(all);
	return rv;
}

int scmd_list(struct cli_ctx *ctx)
{
	const char *stream = ctx->opts[0];
	json_t *list, *rec;
	char size[PROGRESS_TEXT_LEN];
	size_t i;
	int rv;

	if (stream && (rv = check_stream(ctx, stream)))
		return rv;
	rv = list_all(ctx, stream, &list);
	if (rv)
		return rv;
	if (ctx->g.json)
		return cli_out_json(ctx, list);
	if (json_array_size(list) == 0) {
		fprintf(ctx->out, "no agent binaries stored%s%s\n",
		        stream ? " in stream " : "", stream ? stream : "");
	} else {
		fprintf(ctx->out, "%-32s %-9s %10s  %-16s  %s\n",
		        "BINARY-VERSION", "STREAM", "SIZE", "SHA256",
		        "STORED-AT");
	}
	json_array_foreach(list, i, rec)
	{
		json_t *sz = json_object_get(rec, "size");

		if (json_is_integer(sz))
			progress_format_bytes((uint64_t)json_integer_value(sz),
			                      size, sizeof(size));
		else
			snprintf(size, sizeof(size), "-");
		fprintf(ctx->out, "%-32s %-9s %10s  %-16.16s  %s\n",
		        record_string(rec, "binary-version"),
		        record_string(rec, "stream"), size,
		        record_string(rec, "sha256"),
		        record_string(rec, "stored-at"));
	}
	json_decref(list);
	return CLI_EXIT_OK;
}

int scmd_remove(struct cli_ctx *ctx)
{
	const char *stream =
	    ctx->opts[0] ? ctx->opts[0] : ups_stream_name(SYNC_DEFAULT_STREAM);
	char bvtext[UPS_LIMIT_BINARY_VERSION_LEN + 1], perr[UPS_ERRMSG_MAX];
	struct ups_binary_version bv;
	struct oneshot_result res;
	int rv;

	if ((rv = check_stream(ctx, stream)))
		return rv;
	if (ups_binary_version_parse(ctx->args[0], &bv, perr, sizeof(perr)))
		return cli_out_usage(ctx,
		                     "bad binary version \"%.80s\": %s (e.g. "
		                     "2.9.1-ubuntu-amd64)",
		                     ctx->args[0], perr);
	ups_binary_version_format(&bv, bvtext, sizeof(bvtext));
	rv = binaries_call(
	    ctx, "Delete",
	    json_pack("{s:s,s:s}", "binary-version", bvtext, "stream", stream),
	    &res);
	if (rv)
		return rv;
	json_decref(res.response);
	if (ctx->g.json)
		return cli_out_json(
		    ctx, json_pack("{s:s,s:s,s:b}", "binary-version", bvtext,
		                   "stream", stream, "removed", 1));
	fprintf(ctx->out, "removed %s from stream %s\n", bvtext, stream);
	return CLI_EXIT_OK;
}
