/* parse-version, compare-versions and select-version: thin wrappers over
 * proto/version.h (and, for select-version without --available,
 * Versions.Select) that fix the output format tests rely on. */
#include "contrib/cli/version_cmds.h"

#include <stdlib.h>
#include <string.h>

#include "contrib/cli/agent_cmds.h"
#include "contrib/cli/oneshot.h"
#include "contrib/cli/output.h"
#include "proto/autoselect.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/version.h"

/* Parses s as the version named what; an invalid one is a usage error
 * that says which forms are accepted. */
static int parse_arg(const struct cli_ctx *ctx, const char *what, const char *s,
                     struct ups_version *v)
{
	char err[UPS_ERRMSG_MAX];

	if (ups_version_parse(s, v, err, sizeof(err)) == 0)
		return CLI_EXIT_OK;
	return cli_out_usage(ctx,
	                     "invalid version \"%.*s\" for %s: %s; accepted "
	                     "forms: " CLI_VERSION_FORMS,
	                     UPS_LIMIT_VERSION_LEN, s, what, err);
}

int vcmd_parse_version(struct cli_ctx *ctx)
{
	char text[UPS_LIMIT_VERSION_LEN + 1];
	struct ups_version v;
	json_t *obj;
	int rv;

	rv = parse_arg(ctx, "VERSION", ctx->args[0], &v);
	if (rv)
		return rv;
	ups_version_format(&v, text, sizeof(text));
	if (!ctx->g.json) {
		fprintf(ctx->out, "%s\n", text);
		return CLI_EXIT_OK;
	}
	obj =
	    json_pack("{s:s,s:I,s:I,s:s,s:I,s:I,s:b}", "version", text, "major",
	              (json_int_t)v.major, "minor", (json_int_t)v.minor, "tag",
	              v.tag, "patch", (json_int_t)v.patch, "build",
	              (json_int_t)v.build, "stable", ups_version_is_stable(&v));
	if (!obj)
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_NO_MEMORY),
		                     ups_err_message(UPS_ERR_NO_MEMORY));
	return cli_out_json(ctx, obj);
}

int vcmd_compare_versions(struct cli_ctx *ctx)
{
	char ta[UPS_LIMIT_VERSION_LEN + 1], tb[UPS_LIMIT_VERSION_LEN + 1];
	struct ups_version a, b;
	json_t *obj;
	int rv, cmp;

	rv = parse_arg(ctx, "A", ctx->args[0], &a);
	if (rv)
		return rv;
	rv = parse_arg(ctx, "B", ctx->args[1], &b);
	if (rv)
		return rv;
	cmp = ups_version_compare(&a, &b);
	cmp = cmp < 0 ? -1 : cmp > 0 ? 1 : 0;
	if (!ctx->g.json) {
		fprintf(ctx->out, "%d\n", cmp);
		return CLI_EXIT_OK;
	}
	ups_version_format(&a, ta, sizeof(ta));
	ups_version_format(&b, tb, sizeof(tb));
	obj = json_pack("{s:s,s:s,s:i}", "a", ta, "b", tb, "result", cmp);
	if (!obj)
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_NO_MEMORY),
		                     ups_err_message(UPS_ERR_NO_MEMORY));
	return cli_out_json(ctx, obj);
}

/* Splits the comma-separated list into versions (allocated into *out,
 * freed by the caller with free()). Blanks around items are ignored; an
 * empty list means nothing is available, an empty item is an error. */
static int parse_available(const struct cli_ctx *ctx, const char *list,
                           struct ups_version **out, size_t *n)
{
	char item[UPS_LIMIT_VERSION_LEN + 2];
	struct ups_version *vs;
	size_t count = 1, len;
	const char *p, *end;
	int rv;

	*out = NULL;
	*n = 0;
	for (p = list; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '\0')
		return CLI_EXIT_OK;
	for (p = list; *p; p++)
		count += *p == ',';
	if (count > CLI_MAX_AVAILABLE)
		return cli_out_usage(ctx,
		                     "--available lists %zu versions; at most "
		                     "%d are accepted",
		                     count, CLI_MAX_AVAILABLE);
	vs = calloc(count, sizeof(*vs));
	if (!vs)
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_NO_MEMORY),
		                     ups_err_message(UPS_ERR_NO_MEMORY));
	for (p = list;; p = end + 1) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0) {
			rv = cli_out_usage(ctx,
			                   "--available has an empty item "
			                   "(item %zu)",
			                   *n + 1);
			goto err_free;
		}
		/* Longer than any valid version: let the parser say so. */
		if (len >= sizeof(item))
			len = sizeof(item) - 1;
		memcpy(item, p, len);
		item[len] = '\0';
		rv = parse_arg(ctx, "--available", item, &vs[*n]);
		if (rv)
			goto err_free;
		(*n)++;
		if (*end == '\0')
			break;
	}
	*out = vs;
	return CLI_EXIT_OK;

err_free:
	free(vs);
	*n = 0;
	return rv;
}

/* select-version without --available: upstaged chooses among the
 * versions stored in the stream (Versions.Select). */
static int select_online(struct cli_ctx *ctx, const struct ups_version *client,
                         const struct ups_version *agent, const char *stream)
{
	char token[UPS_LIMIT_TOKEN_LEN + 1];
	char c[UPS_LIMIT_VERSION_LEN + 1], g[UPS_LIMIT_VERSION_LEN + 1];
	struct oneshot_config cfg;
	struct oneshot_result res;
	struct ups_url url;
	json_t *params;
	int rv;

	rv = acmd_config(ctx, &url, token, &cfg);
	if (rv)
		return rv;
	ups_version_format(client, c, sizeof(c));
	ups_version_format(agent, g, sizeof(g));
	params = json_pack("{s:s, s:s, s:s}", "client", c, "agent", g, "stream",
	                   stream);
	rv = oneshot_call(&cfg, "Versions", "Select", params, &res);
	explicit_bzero(token, sizeof(token));
	if (rv)
		return cli_out_error(ctx, rv, res.code, res.message);
	if (ctx->g.json)
		return cli_out_json(ctx, res.response);
	fprintf(ctx->out, "%s\n",
	        json_string_value(json_object_get(res.response, "version")));
	json_decref(res.response);
	return CLI_EXIT_OK;
}

int vcmd_select_version(struct cli_ctx *ctx)
{
	char text[UPS_LIMIT_VERSION_LEN + 1];
	char err[UPS_ERRMSG_MAX];
	struct ups_version client, agent, chosen, none;
	struct ups_version *avail;
	enum ups_autoselect_rule rule;
	size_t n;
	json_t *obj;
	int rv;

	/* Option order in the table: client, agent, available, stream. */
	rv = parse_arg(ctx, "--client", ctx->opts[0], &client);
	if (rv)
		return rv;
	rv = parse_arg(ctx, "--agent", ctx->opts[1], &agent);
	if (rv)
		return rv;
	if (ctx->opts[3] && !ups_stream_is_valid(ctx->opts[3]))
		return cli_out_usage(ctx, "--stream must be %s",
		                     UPS_STREAM_NAMES_TEXT);
	if (!ctx->opts[2])
		return select_online(ctx, &client, &agent,
		                     ctx->opts[3] ? ctx->opts[3]
		                                  : ups_stream_name(
		                                        UPS_STREAM_DEFAULT));
	if (ctx->opts[3])
		return cli_out_usage(ctx, "--stream is upstaged's: give it "
		                          "without --available");
	rv = parse_available(ctx, ctx->opts[2], &avail, &n);
	if (rv)
		return rv;

	err[0] = '\0';
	memset(&none, 0, sizeof(none));
	rv = ups_version_select(&client, &agent, avail ? avail : &none, n,
	                        &chosen, &rule, err, sizeof(err));
	free(avail);
	if (rv)
		return cli_out_error(ctx, CLI_EXIT_FAILED, ups_err_code(rv),
		                     err[0] ? err : ups_err_message(rv));
	ups_version_format(&chosen, text, sizeof(text));
	if (!ctx->g.json) {
		fprintf(ctx->out, "%s\n", text);
		return CLI_EXIT_OK;
	}
	obj = json_pack("{s:s, s:s}", "version", text, "rule",
	                ups_autoselect_rule_name(rule));
	if (!obj)
		return cli_out_error(ctx, CLI_EXIT_FAILED,
		                     ups_err_code(UPS_ERR_NO_MEMORY),
		                     ups_err_message(UPS_ERR_NO_MEMORY));
	return cli_out_json(ctx, obj);
}
