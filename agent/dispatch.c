/* The request table and the checks in front of it. */
#include "agent/dispatch.h"

#include <string.h>

#include "agent/binaries.h"
#include "agent/upload.h"
#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/limits.h"
#include "proto/log.h"

#define DISPATCH_FACADE_VERSION 1

static int dispatch_login(struct dispatch_ctx *ctx, struct peer *p,
                          const json_t *params, json_t **result, char *err,
                          size_t errlen);
static int dispatch_ping(struct dispatch_ctx *ctx, struct peer *p,
                         const json_t *params, json_t **result, char *err,
                         size_t errlen);
static int dispatch_info(struct dispatch_ctx *ctx, struct peer *p,
                         const json_t *params, json_t **result, char *err,
                         size_t errlen);

static const struct dispatch_method dispatch_table[] = {
    {"Admin", "Login", 0, dispatch_login},
    {"Agent", "Ping", DISPATCH_LOGGED_IN, dispatch_ping},
    {"Agent", "Info", DISPATCH_LOGGED_IN, dispatch_info},
    {"AgentBinaries", "UploadBegin", DISPATCH_ROLE(UPS_ROLE_CLIENT),
     binaries_upload_begin},
    {"AgentBinaries", "UploadCommit", DISPATCH_ROLE(UPS_ROLE_CLIENT),
     binaries_upload_commit},
    {"AgentBinaries", "UploadAbort", DISPATCH_ROLE(UPS_ROLE_CLIENT),
     binaries_upload_abort},
    {"AgentBinaries", "UploadStatus", DISPATCH_ROLE(UPS_ROLE_CLIENT),
     binaries_upload_status},
    {"AgentBinaries", "List", DISPATCH_ROLE(UPS_ROLE_CLIENT), binaries_list},
    {"AgentBinaries", "Delete", DISPATCH_ROLE(UPS_ROLE_CLIENT),
     binaries_delete},
};

const struct dispatch_method *dispatch_lookup(const char *facade,
                                              const char *method)
{
	size_t i;

	for (i = 0; i < sizeof(dispatch_table) / sizeof(dispatch_table[0]);
	     i++) {
		const struct dispatch_method *m = &dispatch_table[i];

		if (strcmp(m->facade, facade) == 0 &&
		    strcmp(m->method, method) == 0)
			return m;
	}
	return NULL;
}

void dispatch_set_role(struct dispatch_ctx *ctx, struct peer *p,
                       enum ups_role role)
{
	if (p->role != UPS_ROLE_NONE && ctx->sessions[p->role] > 0)
		ctx->sessions[p->role]--;
	p->role = role;
	if (role != UPS_ROLE_NONE)
		ctx->sessions[role]++;
}

void dispatch_forget(struct dispatch_ctx *ctx, struct peer *p)
{
	dispatch_set_role(ctx, p, UPS_ROLE_NONE);
	if (ctx->uploads)
		upload_peer_gone(ctx->uploads, p);
}

static void dispatch_send(struct peer *p, json_t *env)
{
	int rv;

	if (!env) {
		LOG_ERROR("dispatch",
		          "peer %llu: out of memory building an "
		          "answer; closing",
		          (unsigned long long)p->id);
		peer_close(p, "out of memory");
		return;
	}
	rv = peer_send(p, env);
	if (rv)
		LOG_WARN("dispatch", "peer %llu: cannot queue answer: %s",
		         (unsigned long long)p->id, ups_err_message(rv));
	json_decref(env);
}

int dispatch_push_error(struct peer *p, const char *request, int code,
                        const char *text)
{
	json_t *params = json_pack("{s:s, s:s}", "error",
	                           text ? text : ups_err_message(code),
	                           "error-code", ups_err_code(code));
	json_t *env;
	int rv;

	if (!params)
		return UPS_ERR_NO_MEMORY;
	env = ups_env_push("Error", request, params);
	if (!env)
		return UPS_ERR_NO_MEMORY;
	rv = peer_send(p, env);
	json_decref(env);
	return rv;
}

void dispatch_answer(struct peer *p, uint64_t request_id, int rv,
                     const char *text, json_t *result, json_t *info)
{
	if (rv == 0) {
		json_decref(info);
		dispatch_send(p, ups_env_response(request_id,
		                                  result ? result
		                                         : json_object()));
		return;
	}
	json_decref(result);
	dispatch_send(p, ups_env_error(request_id, rv,
	                               text && *text ? text : NULL, info));
}

static void dispatch_error(struct peer *p, uint64_t request_id, int code,
                           const char *text)
{
	dispatch_send(p, ups_env_error(request_id, code,
	                               text && *text ? text : NULL, NULL));
}

void dispatch_envelope(struct dispatch_ctx *ctx, struct peer *p,
                       const struct ups_envelope *env)
{
	const struct dispatch_method *m;
	char err[UPS_ERRMSG_MAX];
	json_t *result = NULL;
	int rv;

	if (env->kind != UPS_ENV_REQUEST) {
		/* Peers only send requests; a stray response or push is a
		 * confused client, worth telling but not worth a close. */
		dispatch_push_error(p, "Malformed", UPS_ERR_BAD_REQUEST,
		                    "expected a request (with request-id, "
		                    "type, request)");
		return;
	}
	m = dispatch_lookup(env->type, env->request);
	if (p->role == UPS_ROLE_NONE && !(m && m->roles == 0)) {
		dispatch_error(p, env->request_id, UPS_ERR_UNAUTHORIZED,
		               "log in first with Admin.Login");
		return;
	}
	if (!m) {
		ups_errf(0, err, sizeof(err), "unknown request %s.%s",
		         env->type, env->request);
		dispatch_error(p, env->request_id, UPS_ERR_NOT_IMPLEMENTED,
		               err);
		return;
	}
	if (env->version != DISPATCH_FACADE_VERSION) {
		ups_errf(0, err, sizeof(err),
		         "%s version %d is not "
		         "implemented (have %d)",
		         env->type, env->version, DISPATCH_FACADE_VERSION);
		dispatch_error(p, env->request_id, UPS_ERR_NOT_IMPLEMENTED,
		               err);
		return;
	}
	if (m->roles != 0 && !(m->roles & DISPATCH_ROLE(p->role))) {
		ups_errf(0, err, sizeof(err), "role %s may not call %s.%s",
		         ups_role_name(p->role), m->facade, m->method);
		dispatch_error(p, env->request_id, UPS_ERR_FORBIDDEN, err);
		return;
	}
	err[0] = '\0';
	ctx->request_id = env->request_id;
	rv = m->fn(ctx, p, env->params, &result, err, sizeof(err));
	if (rv == DISPATCH_DEFERRED)
		return;
	LOG_DEBUG("dispatch", "peer %llu: %s.%s -> %s",
	          (unsigned long long)p->id, m->facade, m->method,
	          rv ? ups_err_code(rv) : "ok");
	if (rv) {
		dispatch_error(p, env->request_id, rv, err);
		if (m->roles == 0 &&
		    p->login_failures >= UPS_LIMIT_LOGIN_FAILURES)
			peer_close(p, "too many failed logins");
		return;
	}
	dispatch_send(p, ups_env_response(env->request_id, result));
}

void dispatch_text(struct dispatch_ctx *ctx, struct peer *p, const char *buf,
                   size_t len)
{
	struct ups_envelope env;
	char err[UPS_ERRMSG_MAX];
	int rv;

	memset(&env, 0, sizeof(env));
	err[0] = '\0';
	rv = ups_envelope_parse(buf, len, &env, err, sizeof(err));
	if (rv) {
		LOG_DEBUG("dispatch", "peer %llu: malformed message: %s",
		          (unsigned long long)p->id, err);
		dispatch_send(
		    p, ups_env_malformed(buf, len, rv, err[0] ? err : NULL));
		if (rv == UPS_ERR_TOO_LARGE)
			peer_close(p, "message too large");
		return;
	}
	dispatch_envelope(ctx, p, &env);
	ups_envelope_clear(&env);
}

void dispatch_binary(struct dispatch_ctx *ctx, struct peer *p, const void *data,
                     size_t len)
{
	if (p->role == UPS_ROLE_NONE) {
		dispatch_push_error(p, "Chunk", UPS_ERR_UNAUTHORIZED,
		                    "log in first with Admin.Login");
		peer_close(p, "chunk frame before login");
		return;
	}
	if (p->role != UPS_ROLE_CLIENT) {
		dispatch_push_error(p, "Chunk", UPS_ERR_FORBIDDEN,
		                    "only role client may upload");
		return;
	}
	if (!ctx->uploads) {
		dispatch_push_error(p, "Chunk", UPS_ERR_UNAVAILABLE,
		                    "uploads are not available");
		return;
	}
	upload_chunk(ctx->uploads, p, data, len);
}

void dispatch_too_large(struct dispatch_ctx *ctx, struct peer *p)
{
	(void)ctx;
	dispatch_push_error(p, "Malformed", UPS_ERR_TOO_LARGE,
	                    "message exceeds the size limit");
	peer_close(p, "message too large");
}

/* Admin.Login {role, token}. Direct sessions only: the relay logs its
 * connections in itself. */
static int dispatch_login(struct dispatch_ctx *ctx, struct peer *p,
                          const json_t *params, json_t **result, char *err,
                          size_t errlen)
{
	const char *role_name = NULL;
	const char *token = NULL;
	enum ups_role role;
	const struct ups_field fields[] = {
	    {"role", UPS_FIELD_STRING, true, 0, UPS_LIMIT_ROLE_LEN, &role_name},
	    {"token", UPS_FIELD_STRING, true, 0, UPS_LIMIT_TOKEN_LEN, &token},
	};
	int rv;

	if (p->kind == PEER_RELAYED)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "the relay handles Admin.Login");
	if (p->role != UPS_ROLE_NONE)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "already logged in as %s",
		                ups_role_name(p->role));
	rv = ups_fields_unpack(params, "params", fields,
	                       sizeof(fields) / sizeof(fields[0]), err, errlen);
	if (rv)
		goto fail;
	if (ups_role_parse(role_name, &role)) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "field \"params.role\": must be client, machine "
		              "or plugin");
		goto fail;
	}
	if (ctx->auth &&
	    !ups_auth_check(ctx->auth, role, token, strlen(token))) {
		rv = ups_errf(UPS_ERR_UNAUTHORIZED, err, errlen,
		              "bad token for role %s", ups_role_name(role));
		goto fail;
	}
	*result = json_pack("{s:s, s:s}", "role", ups_role_name(role),
	                    "server-version", UPSTAGE_VERSION);
	if (!*result)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	dispatch_set_role(ctx, p, role);
	LOG_INFO("dispatch", "peer %llu: logged in as %s",
	         (unsigned long long)p->id, ups_role_name(role));
	return 0;

fail:
	p->login_failures++;
	LOG_INFO("dispatch", "peer %llu: login failed (%u of %d): %s",
	         (unsigned long long)p->id, p->login_failures,
	         UPS_LIMIT_LOGIN_FAILURES, err);
	return rv;
}

static int dispatch_no_params(const json_t *params, char *err, size_t errlen)
{
	return ups_fields_unpack(params, "params", NULL, 0, err, errlen);
}

static int dispatch_ping(struct dispatch_ctx *ctx, struct peer *p,
                         const json_t *params, json_t **result, char *err,
                         size_t errlen)
{
	int rv;

	(void)ctx;
	(void)p;
	rv = dispatch_no_params(params, err, errlen);
	if (rv)
		return rv;
	*result = json_object();
	return *result ? 0 : UPS_ERR_NO_MEMORY;
}

static int dispatch_info(struct dispatch_ctx *ctx, struct peer *p,
                         const json_t *params, json_t **result, char *err,
                         size_t errlen)
{
	uint64_t now = ctx->now_ms(ctx->user);
	uint64_t uptime = now > ctx->start_ms ? now - ctx->start_ms : 0;
	json_t *info;
	int rv;

	(void)p;
	rv = dispatch_no_params(params, err, errlen);
	if (rv)
		return rv;
	info = json_pack("{s:s, s:I, s:{s:i, s:i, s:i}, s:s}", "server-version",
	                 UPSTAGE_VERSION, "uptime-seconds",
	                 (json_int_t)(uptime / 1000), "sessions", "client",
	                 (int)ctx->sessions[UPS_ROLE_CLIENT], "machine",
	                 (int)ctx->sessions[UPS_ROLE_MACHINE], "plugin",
	                 (int)ctx->sessions[UPS_ROLE_PLUGIN], "controller-link",
	                 ctx->link_state(ctx->user));
	if (!info)
		return UPS_ERR_NO_MEMORY;
	if (ctx->agent_version &&
	    json_object_set_new(info, "agent-version",
	                        json_string(ctx->agent_version))) {
		json_decref(info);
		return UPS_ERR_NO_MEMORY;
	}
	*result = info;
	return 0;
}
