/* Answers and pushes. */
#include "agent/rpc/reply.h"

#include <stdlib.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/log.h"

/* Queues env (stolen) on p; a NULL env is an allocation failure. Returns
 * what the peer said. */
static int reply_queue(struct peer *p, json_t *env)
{
	int rv;

	if (!env) {
		LOG_ERROR("reply",
		          "peer %llu: out of memory building an answer; "
		          "closing",
		          (unsigned long long)p->id);
		peer_close(p, "out of memory");
		return UPS_ERR_NO_MEMORY;
	}
	rv = peer_send(p, env);
	if (rv)
		LOG_WARN("reply", "peer %llu: cannot queue answer: %s",
		         (unsigned long long)p->id, ups_err_message(rv));
	json_decref(env);
	return rv;
}

void reply_send(struct peer *p, uint64_t request_id, int rv, const char *text,
                json_t *result, json_t *info)
{
	if (rv == 0) {
		json_decref(info);
		rv = reply_queue(
		    p, ups_env_response(request_id,
		                        result ? result : json_object()));
		/* An answer no peer would take: say so instead. */
		if (rv == UPS_ERR_TOO_LARGE)
			reply_queue(p, ups_env_error(request_id, rv,
			                             "the answer is over the "
			                             "message size limit",
			                             NULL));
		return;
	}
	json_decref(result);
	reply_queue(p, ups_env_error(request_id, rv,
	                             text && *text ? text : NULL, info));
}

struct reply *reply_defer(struct peer *p, uint64_t request_id)
{
	struct reply *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->peer = p;
	r->request_id = request_id;
	r->next = p->replies;
	if (r->next)
		r->next->prev = r;
	p->replies = r;
	return r;
}

/* Takes r off its peer's list; returns the peer (NULL when gone). */
static struct peer *reply_unlink(struct reply *r)
{
	struct peer *p = r->peer;

	if (!p)
		return NULL;
	if (r->prev)
		r->prev->next = r->next;
	else
		p->replies = r->next;
	if (r->next)
		r->next->prev = r->prev;
	return p;
}

void reply_finish(struct reply *r, int rv, const char *text, json_t *result,
                  json_t *info)
{
	struct peer *p = reply_unlink(r);

	if (p) {
		reply_send(p, r->request_id, rv, text, result, info);
	} else {
		json_decref(result);
		json_decref(info);
	}
	free(r);
}

void reply_cancel(struct reply *r)
{
	reply_unlink(r);
	free(r);
}

void reply_drop_peer(struct peer *p)
{
	struct reply *r = p->replies, *next;

	for (; r; r = next) {
		next = r->next;
		r->peer = NULL;
		r->prev = r->next = NULL;
	}
	p->replies = NULL;
}

int reply_push(struct peer *p, const char *type, const char *request,
               json_t *params)
{
	json_t *env = ups_env_push(type, request, params);
	int rv;

	if (!env)
		return UPS_ERR_NO_MEMORY;
	rv = peer_send(p, env);
	json_decref(env);
	return rv;
}

int reply_push_error(struct peer *p, const char *request, int code,
                     const char *text)
{
	json_t *params = json_pack("{s:s, s:s}", "error",
	                           text ? text : ups_err_message(code),
	                           "error-code", ups_err_code(code));

	if (!params)
		return UPS_ERR_NO_MEMORY;
	return reply_push(p, UPS_ENV_MALFORMED_TYPE, request, params);
}
