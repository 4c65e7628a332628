/* Versions.Select. See versions.h. */
#include "agent/rpc/versions.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rpc/reply.h"
#include "proto/autoselect.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/limits.h"
#include "proto/version.h"

_Static_assert(VERSIONS_CANDIDATES_MAX *(UPS_LIMIT_VERSION_LEN + 4) + 1024 <=
                   UPS_LIMIT_TEXT_MSG_MAX,
               "a Select answer must fit in one text message");

/* One Select between its request and the store's list. */
struct versions_select {
	struct reply *reply;
	struct ups_version client, agent;
	char stream[UPS_LIMIT_STREAM_LEN + 1];
};

/* A version field: parsed into *out, or bad-request naming it. */
static int versions_parse(const char *field, const char *s,
                          struct ups_version *out, char *err, size_t errlen)
{
	char detail[UPS_ERRMSG_MAX];

	detail[0] = '\0';
	if (ups_version_parse(s, out, detail, sizeof(detail)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"%s\": %s", field,
		                detail[0] ? detail : "not a version");
	return 0;
}

/* The distinct versions of list[0..n) (sorted by binary version, so
 * versions come in order and equal ones together) into a new array
 * (NULL when none, or out of memory with *count SIZE_MAX). */
static struct ups_version *versions_distinct(const struct catalog_binary *list,
                                             size_t n, size_t *count)
{
	struct ups_version *vs;
	size_t k = 0;

	*count = 0;
	if (n == 0)
		return NULL;
	vs = malloc(n * sizeof(*vs));
	if (!vs) {
		*count = SIZE_MAX;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ups_version *v = &list[i].parsed.version;

		if (k > 0 && ups_version_compare(&vs[k - 1], v) == 0)
			continue;
		vs[k++] = *v;
	}
	*count = k;
	return vs;
}

/* The versions the rules weighed, newest first, at most
 * VERSIONS_CANDIDATES_MAX of them; *omitted counts the rest. */
static json_t *versions_candidates(const struct versions_select *sel,
                                   const struct ups_version *vs, size_t n,
                                   size_t *omitted)
{
	json_t *arr = json_array();
	char text[UPS_LIMIT_VERSION_LEN + 1];

	*omitted = 0;
	for (size_t i = n; arr && i > 0; i--) {
		const struct ups_version *v = &vs[i - 1];

		if (!ups_autoselect_considers(&sel->client, &sel->agent, v))
			continue;
		if (json_array_size(arr) >= VERSIONS_CANDIDATES_MAX) {
			(*omitted)++;
			continue;
		}
		if (ups_version_format(v, text, sizeof(text)) ||
		    json_array_append_new(arr, json_string(text))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

static void versions_listed(void *data, int rv, const char *err,
                            const struct catalog_binary *list, size_t n,
                            bool more)
{
	struct versions_select *sel = data;
	char chosen[UPS_LIMIT_VERSION_LEN + 1], why[UPS_ERRMSG_MAX];
	struct ups_version *vs = NULL, out;
	enum ups_autoselect_rule rule;
	json_t *cands = NULL, *answer = NULL, *info = NULL;
	size_t count = 0, omitted = 0;

	(void)more; /* asked for every one */
	if (rv) {
		reply_finish(sel->reply, rv, err, NULL, NULL);
		free(sel);
		return;
	}
	vs = versions_distinct(list, n, &count);
	if (count == SIZE_MAX)
		goto nomem;
	cands = versions_candidates(sel, vs, count, &omitted);
	if (!cands)
		goto nomem;
	why[0] = '\0';
	rv = ups_version_select(&sel->client, &sel->agent, vs, count, &out,
	                        &rule, why, sizeof(why));
	if (rv) {
		info = json_pack("{s:s, s:o, s:I}", "stream", sel->stream,
		                 "candidates", cands, "candidates-omitted",
		                 (json_int_t)omitted);
		reply_finish(sel->reply, rv, why, NULL, info);
		goto out;
	}
	ups_version_format(&out, chosen, sizeof(chosen));
	answer = json_pack("{s:s, s:s, s:s, s:o, s:I}", "version", chosen,
	                   "rule", ups_autoselect_rule_name(rule), "stream",
	                   sel->stream, "candidates", cands,
	                   "candidates-omitted", (json_int_t)omitted);
	reply_finish(sel->reply, answer ? 0 : UPS_ERR_NO_MEMORY, NULL, answer,
	             NULL);
	goto out;
nomem:
	json_decref(cands);
	reply_finish(sel->reply, UPS_ERR_NO_MEMORY, NULL, NULL, NULL);
out:
	free(vs);
	free(sel);
}

/* Select {client, agent, stream?}. */
static int versions_select(void *state, const struct rpc_request *req,
                           json_t **result, json_t **info, char *err,
                           size_t errlen)
{
	struct versions *v = state;
	const char *client = NULL, *agent = NULL;
	const char *stream = ups_stream_name(UPS_STREAM_RELEASED);
	const struct ups_field fields[] = {
	    {"client", UPS_FIELD_STRING, true, 1, UPS_LIMIT_VERSION_LEN,
	     &client},
	    {"agent", UPS_FIELD_STRING, true, 1, UPS_LIMIT_VERSION_LEN, &agent},
	    {"stream", UPS_FIELD_STRING, false, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	};
	struct versions_select *sel;
	int rv;

	(void)result;
	(void)info;
	sel = calloc(1, sizeof(*sel));
	if (!sel)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	rv = ups_fields_unpack(req->params, "params", fields, 3, err, errlen);
	if (!rv)
		rv = versions_parse("params.client", client, &sel->client, err,
		                    errlen);
	if (!rv)
		rv = versions_parse("params.agent", agent, &sel->agent, err,
		                    errlen);
	if (!rv && !ups_stream_is_valid(stream))
		rv = ups_errf(
		    UPS_ERR_BAD_REQUEST, err, errlen,
		    "field \"params.stream\": must be " UPS_STREAM_NAMES_TEXT);
	if (!rv) {
		snprintf(sel->stream, sizeof(sel->stream), "%s", stream);
		sel->reply = reply_defer(req->peer, req->request_id);
		if (!sel->reply)
			rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
			              "out of memory");
	}
	if (!rv) {
		rv = store_list(v->store, sel->stream, NULL, SIZE_MAX,
		                versions_listed, sel);
		if (rv) {
			reply_cancel(sel->reply);
			rv = ups_errf(rv, err, errlen, "%s",
			              ups_err_message(rv));
		}
	}
	if (rv) {
		free(sel);
		return rv;
	}
	return RPC_DEFERRED;
}

static const struct rpc_method versions_methods[] = {
    {"Select", RPC_ROLE(UPS_ROLE_CLIENT), versions_select},
};

void versions_init(struct versions *v)
{
	memset(&v->facade, 0, sizeof(v->facade));
	v->facade.name = "Versions";
	v->facade.methods = versions_methods;
	v->facade.nmethods =
	    sizeof(versions_methods) / sizeof(versions_methods[0]);
	v->facade.state = v;
}
