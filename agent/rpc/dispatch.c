/* The rules in front of every facade. */
#include "agent/rpc/dispatch.h"

#include <string.h>

#include "agent/rpc/reply.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/log.h"

void dispatch_init(struct dispatch *d)
{
	memset(d, 0, sizeof(*d));
}

static const struct rpc_facade *dispatch_binary_facade(const struct dispatch *d)
{
	for (size_t i = 0; i < d->nfacades; i++)
		if (d->facades[i]->binary)
			return d->facades[i];
	return NULL;
}

int dispatch_facade_version(const struct rpc_facade *f)
{
	return f->version > 0 ? f->version : 1;
}

int dispatch_add(struct dispatch *d, const struct rpc_facade *f)
{
	if (d->nfacades == DISPATCH_MAX_FACADES)
		return UPS_ERR_TOO_LARGE;
	for (size_t i = 0; i < d->nfacades; i++)
		if (strcmp(d->facades[i]->name, f->name) == 0)
			return UPS_ERR_CONFLICT;
	if (f->binary && dispatch_binary_facade(d))
		return UPS_ERR_CONFLICT;
	d->facades[d->nfacades++] = f;
	return 0;
}

const struct rpc_method *dispatch_lookup(const struct dispatch *d,
                                         const char *facade, const char *method,
                                         const struct rpc_facade **facade_out)
{
	for (size_t i = 0; i < d->nfacades; i++) {
		const struct rpc_facade *f = d->facades[i];

		if (strcmp(f->name, facade) != 0)
			continue;
		for (size_t j = 0; j < f->nmethods; j++) {
			if (strcmp(f->methods[j].method, method) != 0)
				continue;
			if (facade_out)
				*facade_out = f;
			return &f->methods[j];
		}
	}
	return NULL;
}

void dispatch_set_role(struct dispatch *d, struct peer *p, enum ups_role role)
{
	if (p->role != UPS_ROLE_NONE && d->sessions[p->role] > 0)
		d->sessions[p->role]--;
	p->role = role;
	if (role != UPS_ROLE_NONE)
		d->sessions[role]++;
	if (p->ops->role_set)
		p->ops->role_set(p);
}

void dispatch_forget(struct dispatch *d, struct peer *p)
{
	dispatch_set_role(d, p, UPS_ROLE_NONE);
	reply_drop_peer(p);
	for (size_t i = 0; i < d->nfacades; i++)
		if (d->facades[i]->peer_gone)
			d->facades[i]->peer_gone(d->facades[i]->state, p);
}

void dispatch_envelope(struct dispatch *d, struct peer *p,
                       const struct ups_envelope *env)
{
	const struct rpc_facade *f = NULL;
	const struct rpc_method *m;
	struct rpc_request req;
	/* As long as an error text may be on the wire: some answers list
	 * what would have been accepted (the known releases). */
	char err[UPS_LIMIT_ERROR_TEXT_LEN + 1];
	json_t *result = NULL, *info = NULL;
	int rv;

	if (env->kind != UPS_ENV_REQUEST) {
		/* Peers only send requests; a stray response or push is a
		 * confused client, worth telling but not worth a close. */
		reply_push_error(p, UPS_ENV_MALFORMED_REQUEST,
		                 UPS_ERR_BAD_REQUEST,
		                 "expected a request (with request-id, type, "
		                 "request)");
		return;
	}
	m = dispatch_lookup(d, env->type, env->request, &f);
	if (p->role == UPS_ROLE_NONE && !(m && m->roles == 0)) {
		reply_send(p, env->request_id, UPS_ERR_UNAUTHORIZED,
		           "log in first with Admin.Login", NULL, NULL);
		return;
	}
	if (!m) {
		ups_errf(0, err, sizeof(err), "unknown request %s.%s",
		         env->type, env->request);
		reply_send(p, env->request_id, UPS_ERR_NOT_IMPLEMENTED, err,
		           NULL, NULL);
		return;
	}
	if (env->version != dispatch_facade_version(f)) {
		ups_errf(0, err, sizeof(err),
		         "%s version %d is not implemented (have %d)%s",
		         env->type, env->version, dispatch_facade_version(f),
		         env->version < dispatch_facade_version(f)
		             ? ": this client is older than upstaged, upgrade "
		               "it"
		             : "");
		reply_send(p, env->request_id, UPS_ERR_NOT_IMPLEMENTED, err,
		           NULL,
		           json_pack("{s:i}", "version",
		                     dispatch_facade_version(f)));
		return;
	}
	if (m->roles != 0 && !(m->roles & RPC_ROLE(p->role))) {
		ups_errf(0, err, sizeof(err), "role %s may not call %s.%s",
		         ups_role_name(p->role), f->name, m->method);
		reply_send(p, env->request_id, UPS_ERR_FORBIDDEN, err, NULL,
		           NULL);
		return;
	}
	err[0] = '\0';
	req.peer = p;
	req.request_id = env->request_id;
	req.params = env->params;
	rv = m->fn(f->state, &req, &result, &info, err, sizeof(err));
	if (rv == RPC_DEFERRED)
		return;
	LOG_DEBUG("dispatch", "peer %llu: %s.%s -> %s",
	          (unsigned long long)p->id, f->name, m->method,
	          rv ? ups_err_code(rv) : "ok");
	reply_send(p, env->request_id, rv, err, result, info);
	if (rv && m->roles == 0 &&
	    p->login_failures >= UPS_LIMIT_LOGIN_FAILURES)
		peer_close(p, "too many failed logins");
}

void dispatch_text(struct dispatch *d, struct peer *p, const char *buf,
                   size_t len)
{
	struct ups_envelope env;
	char err[UPS_ERRMSG_MAX];
	json_t *answer;
	int rv;

	memset(&env, 0, sizeof(env));
	err[0] = '\0';
	rv = ups_envelope_parse(buf, len, &env, err, sizeof(err));
	if (rv) {
		LOG_DEBUG("dispatch", "peer %llu: malformed message: %s",
		          (unsigned long long)p->id, err);
		answer = ups_env_malformed(buf, len, rv, err[0] ? err : NULL);
		if (answer) {
			(void)peer_send(p, answer);
			json_decref(answer);
		} else {
			peer_close(p, "out of memory");
		}
		if (rv == UPS_ERR_TOO_LARGE)
			peer_close(p, "message too large");
		return;
	}
	dispatch_envelope(d, p, &env);
	ups_envelope_clear(&env);
}

void dispatch_binary(struct dispatch *d, struct peer *p, const void *data,
                     size_t len, uint8_t **frame_buf)
{
	const struct rpc_facade *f = dispatch_binary_facade(d);

	if (p->role == UPS_ROLE_NONE) {
		reply_push_error(p, "Chunk", UPS_ERR_UNAUTHORIZED,
		                 "log in first with Admin.Login");
		peer_close(p, "chunk frame before login");
		return;
	}
	if (p->role != UPS_ROLE_CLIENT) {
		reply_push_error(p, "Chunk", UPS_ERR_FORBIDDEN,
		                 "only role client may upload");
		return;
	}
	if (!f) {
		reply_push_error(p, "Chunk", UPS_ERR_UNAVAILABLE,
		                 "uploads are not available");
		return;
	}
	f->binary(f->state, p, data, len, frame_buf);
}

void dispatch_too_large(struct dispatch *d, struct peer *p)
{
	(void)d;
	reply_push_error(p, UPS_ENV_MALFORMED_REQUEST, UPS_ERR_TOO_LARGE,
	                 "message exceeds the size limit");
	peer_close(p, "message too large");
}
