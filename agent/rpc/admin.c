/* Admin.Login, Agent.Ping, Agent.Info. */
#include "agent/rpc/admin.h"

#include <string.h>

#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/limits.h"
#include "proto/log.h"

/* Admin.Login {role, token}. Direct sessions only: the relay logs its
 * connections in itself. */
static int admin_login(void *state, const struct rpc_request *req,
                       json_t **result, json_t **info, char *err, size_t errlen)
{
	struct admin *a = state;
	struct peer *p = req->peer;
	const char *role_name = NULL;
	const char *token = NULL;
	bool throttled = a->throttle && p->addr[0];
	uint64_t now = a->now_ms(a->user), retry = 0;
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
	if (throttled &&
	    !ups_throttle_allowed(a->throttle, p->addr, now, &retry)) {
		p->login_failures++;
		*info = json_pack("{s:I}", "retry-ms", (json_int_t)retry);
		return ups_errf(UPS_ERR_BUSY, err, errlen,
		                "too many failed logins from %s; retry in %llu "
		                "ms",
		                p->addr, (unsigned long long)retry);
	}
	rv = ups_fields_unpack(req->params, "params", fields,
	                       sizeof(fields) / sizeof(fields[0]), err, errlen);
	if (rv)
		goto fail;
	if (ups_role_parse(role_name, &role)) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "field \"params.role\": must be client, machine "
		              "or plugin");
		goto fail;
	}
	if (a->auth && !ups_auth_check(a->auth, role, token, strlen(token))) {
		rv = ups_errf(UPS_ERR_UNAUTHORIZED, err, errlen,
		              "bad token for role %s", ups_role_name(role));
		goto fail;
	}
	*result = json_pack("{s:s, s:s}", "role", ups_role_name(role),
	                    "server-version", UPSTAGE_VERSION);
	if (!*result)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	a->set_role(a->user, p, role);
	if (throttled)
		ups_throttle_succeeded(a->throttle, p->addr);
	LOG_INFO("admin", "peer %llu: logged in as %s",
	         (unsigned long long)p->id, ups_role_name(role));
	return 0;

fail:
	p->login_failures++;
	if (throttled)
		ups_throttle_failed(a->throttle, p->addr, now);
	/* The server reports failures per address once per interval. */
	LOG_DEBUG("admin", "peer %llu (%s): login failed (%u of %d): %s",
	          (unsigned long long)p->id, p->addr, p->login_failures,
	          UPS_LIMIT_LOGIN_FAILURES, err);
	return rv;
}

static int admin_no_params(const json_t *params, char *err, size_t errlen)
{
	return ups_fields_unpack(params, "params", NULL, 0, err, errlen);
}

static int admin_ping(void *state, const struct rpc_request *req,
                      json_t **result, json_t **info, char *err, size_t errlen)
{
	int rv;

	(void)state;
	(void)info;
	rv = admin_no_params(req->params, err, errlen);
	if (rv)
		return rv;
	*result = json_object();
	return *result ? 0 : UPS_ERR_NO_MEMORY;
}

static int admin_info(void *state, const struct rpc_request *req,
                      json_t **result, json_t **info, char *err, size_t errlen)
{
	struct admin *a = state;
	uint64_t now = a->now_ms(a->user);
	uint64_t uptime = now > a->start_ms ? now - a->start_ms : 0;
	json_t *res;
	int rv;

	(void)info;
	rv = admin_no_params(req->params, err, errlen);
	if (rv)
		return rv;
	res = json_pack("{s:s, s:I, s:{s:i, s:i, s:i}, s:s}", "server-version",
	                UPSTAGE_VERSION, "uptime-seconds",
	                (json_int_t)(uptime / 1000), "sessions", "client",
	                (int)a->role_count(a->user, UPS_ROLE_CLIENT), "machine",
	                (int)a->role_count(a->user, UPS_ROLE_MACHINE), "plugin",
	                (int)a->role_count(a->user, UPS_ROLE_PLUGIN),
	                "controller-link",
	                a->link_state(a->user));
	if (!res)
		return UPS_ERR_NO_MEMORY;
	if (a->agent_version && a->agent_version[0] &&
	    json_object_set_new(res, "agent-version",
	                        json_string(a->agent_version))) {
		json_decref(res);
		return UPS_ERR_NO_MEMORY;
	}
	*result = res;
	return 0;
}

static const struct rpc_method admin_methods[] = {
    {"Login", 0, admin_login},
};

static const struct rpc_method agent_methods[] = {
    {"Ping", RPC_LOGGED_IN, admin_ping},
    {"Info", RPC_LOGGED_IN, admin_info},
};

void admin_init(struct admin *a)
{
	a->admin_facade = RPC_FACADE("Admin", admin_methods, a);
	a->agent_facade = RPC_FACADE("Agent", agent_methods, a);
}
