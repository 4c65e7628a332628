/* Machine and Machines: parameter checks, answers and pushes. */
#include "agent/rpc/machines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/rpc/reply.h"
#include "proto/errors.h"
#include "proto/fields.h"
#include "proto/limits.h"
#include "proto/log.h"
#include "proto/version.h"

/* A client following an order with Machines.Progress pushes. */
struct machines_watch {
	struct machines_watch *next;
	struct peer *peer; /* borrowed; dropped in peer_gone */
	char order_id[UPS_LIMIT_ORDER_ID_LEN + 1];
};

/* A request waiting for the registry. */
struct machines_pending {
	struct machines *ms;
	struct reply *reply;
	bool watch;
};

/* -------------------------------------------------------------------------
 * Records and pushes. */

static void machines_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}

static json_t *machines_order_json(const struct regdb_order *o)
{
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s}", "order-id", o->id, "kind",
	              o->kind == UPS_ORDER_REVERT ? "revert" : "upgrade",
	              "binary-version", o->binary_version, "state",
	              ups_machine_state_name(o->state));

	if (j && o->reason[0] &&
	    json_object_set_new(j, "reason", json_string(o->reason))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The records of one Machines.List page, at most: the envelope around
 * them fits in the rest of a text message. */
#define MACHINES_PAGE_BYTES (UPS_LIMIT_TEXT_MSG_MAX - 1024)

json_t *machines_record_json(const struct machine *m)
{
	const struct regdb_machine *row = &m->row;
	char seen[32];
	json_t *j;

	machines_time(row->last_seen, seen, sizeof(seen));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}",
	              "machine-id", row->id, "model", row->model, "release",
	              row->release, "arch",
	              row->arch, "version", row->version, "state",
	              row->lost ? "lost" : ups_machine_state_name(row->state),
	              "reported-state", ups_machine_state_name(row->state),
	              "last-seen", seen, "connected", row->connected, "lost",
	              row->lost);
	if (!j)
		return NULL;
	/* Reasons are cut so a record stays within its share of a page. */
	if ((row->progress >= 0 &&
	     json_object_set_new(j, "progress", json_integer(row->progress))) ||
	    (row->reason[0] &&
	     json_object_set_new(j, "reason", json_string(row->reason))) ||
	    (m->order &&
	     json_object_set_new(j, "order", machines_order_json(m->order)))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void machines_push_progress(struct peer *p, const struct machine *m)
{
	const struct regdb_machine *row = &m->row;
	const struct regdb_order *o = m->order;
	json_t *params = json_pack("{s:s, s:s, s:s, s:s, s:b}", "machine-id",
	                           row->id, "order-id", o->id, "state",
	                           ups_machine_state_name(o->state), "version",
	                           row->version, "connected", row->connected);

	if (!params)
		return;
	if ((row->progress >= 0 &&
	     json_object_set_new(params, "progress",
	                         json_integer(row->progress))) ||
	    (o->reason[0] &&
	     json_object_set_new(params, "reason", json_string(o->reason)))) {
		json_decref(params);
		return;
	}
	(void)reply_push(p, "Machines", "Progress", params);
}

/* Registry events. */

static void machines_send_order(void *data, void *session,
                                const struct ups_order *o)
{
	json_t *params = ups_order_params(o);

	(void)data;
	if (!params) {
		LOG_ERROR("machines", "out of memory sending order %s", o->id);
		return;
	}
	(void)reply_push(session, "Machine",
	                 o->kind == UPS_ORDER_REVERT ? "Revert" : "Order",
	                 params);
}

static void machines_replaced(void *data, void *session, const char *id)
{
	json_t *params = json_pack("{s:s}", "machine-id", id);

	(void)data;
	if (params)
		(void)reply_push(session, "Machine", "Replaced", params);
	peer_close(session, "machine registered again elsewhere");
}

static void machines_changed(void *data, const struct machine *m)
{
	struct machines *ms = data;
	struct machines_watch **pp = &ms->watches, *w;
	bool final;

	if (!m->order)
		return;
	final = ups_machine_state_flags(m->order->state) & UPS_MST_FINAL;
	while ((w = *pp) != NULL) {
		if (strcmp(w->order_id, m->order->id) != 0) {
			pp = &w->next;
			continue;
		}
		machines_push_progress(w->peer, m);
		if (final) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void machines_events(struct machines *ms, struct registry_events *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->send_order = machines_send_order;
	ev->replaced = machines_replaced;
	ev->changed = machines_changed;
	ev->data = ms;
}

/* -------------------------------------------------------------------------
 * Machine (role machine). */

static int machines_defer(struct machines *ms, const struct rpc_request *req,
                          bool watch, struct machines_pending **out, char *err,
                          size_t errlen)
{
	struct machines_pending *p = calloc(1, sizeof(*p));

	if (p)
		p->reply = reply_defer(req->peer, req->request_id);
	if (!p || !p->reply) {
		free(p);
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	}
	p->ms = ms;
	p->watch = watch;
	*out = p;
	return 0;
}

static void machines_undefer(struct machines_pending *p)
{
	reply_cancel(p->reply);
	free(p);
}

/* A canonical version into buf, or bad-request naming field. */
static int machines_version(const char *field, const char *s, char *buf,
                            size_t len, char *err, size_t errlen)
{
	struct ups_version v;
	char detail[UPS_ERRMSG_MAX];

	detail[0] = '\0';
	if (ups_version_parse(s, &v, detail, sizeof(detail)) ||
	    ups_version_format(&v, buf, len))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"%s\": %s", field,
		                detail[0] ? detail : "not a version");
	return 0;
}

static void machines_registered(void *data, int rv, const char *err,
                                const struct machine *m)
{
	struct machines_pending *p = data;
	json_t *answer = NULL;

	if (!rv) {
		answer =
		    json_pack("{s:s, s:i}", "machine-id", m->row.id,
		              "heartbeat-seconds", (int)p->ms->heartbeat_s);
		if (!answer)
			rv = UPS_ERR_NO_MEMORY;
	}
	reply_finish(p->reply, rv, err, answer, NULL);
	free(p);
}

static int machines_register(void *state, const struct rpc_request *req,
                             json_t **result, json_t **info, char *err,
                             size_t errlen)
{
	struct machines *ms = state;
	const char *id = NULL, *version = NULL, *release = NULL, *arch = NULL;
	const char *model = UPS_MODEL_CONTROLLER;
	const char *address = NULL;
	const struct ups_field fields[] = {
	    {"machine-id", UPS_FIELD_STRING, true, 1, UPS_LIMIT_MACHINE_ID_LEN,
	     &id},
	    {"model", UPS_FIELD_STRING, false, 1, UPS_LIMIT_MACHINE_ID_LEN,
	     &model},
	    {"version", UPS_FIELD_STRING, true, 1, UPS_LIMIT_VERSION_LEN,
	     &version},
	    {"release", UPS_FIELD_STRING, true, 1, UPS_LIMIT_RELEASE_LEN,
	     &release},
	    {"arch", UPS_FIELD_STRING, true, 1, UPS_LIMIT_ARCH_LEN, &arch},
	    {"address", UPS_FIELD_STRING, false, 1, UPS_MACHINE_ADDRESS_LEN,
	     &address},
	};
	char canon[UPS_LIMIT_VERSION_LEN + 1];
	struct machines_pending *p;
	int rv;

	(void)result;
	(void)info;
	rv = ups_fields_unpack(req->params, "params", fields, 6, err, errlen);
	if (rv)
		return rv;
	if (address && !ups_machine_address_is_valid(address))
		return ups_errf(
		    UPS_ERR_BAD_REQUEST, err, errlen,
		    "field \"params.address\": a host name or a "
		    "numeric address, 1 to %d bytes of [A-Za-z0-9.:-]",
		    UPS_MACHINE_ADDRESS_LEN);
	/* Health checks reach it where it came from, unless it says; an
	 * IPv4 peer of a dual-stack socket as plain IPv4. */
	if (!address) {
		const char *from = req->peer->addr;

		if (strncmp(from, "::ffff:", 7) == 0 && strchr(from + 7, '.'))
			from += 7;
		if (ups_machine_address_is_valid(from))
			address = from;
	}
	if (!ups_machine_id_is_valid(model))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.model\": a model name, 1 to %d "
		                "bytes of [a-z0-9-]",
		                UPS_LIMIT_MACHINE_ID_LEN);
	if (!ups_machine_id_is_valid(id))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.machine-id\": 1 to %d bytes of "
		                "[a-z0-9-], starting with a letter or digit",
		                UPS_LIMIT_MACHINE_ID_LEN);
	if (!ups_release_is_valid(release))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.release\": not a release");
	if (!ups_arch_is_valid(arch))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.arch\": unknown arch");
	rv = machines_version("params.version", version, canon, sizeof(canon),
	                      err, errlen);
	if (!rv)
		rv = machines_defer(ms, req, false, &p, err, errlen);
	if (rv)
		return rv;
	rv = registry_register(ms->registry, req->peer, id, canon, release,
	                       arch, model, address, machines_registered, p);
	if (rv) {
		machines_undefer(p);
		if (rv == UPS_ERR_CONFLICT)
			return ups_errf(rv, err, errlen,
			                "this connection registered another "
			                "machine");
		return ups_errf(rv, err, errlen, "%s", ups_err_message(rv));
	}
	return RPC_DEFERRED;
}

static void machines_reported(void *data, int rv, const char *err,
                              const struct machine *m)
{
	struct machines_pending *p = data;

	(void)m;
	reply_finish(p->reply, rv, err, NULL, NULL);
	free(p);
}

static int machines_report(void *state, const struct rpc_request *req,
                           json_t **result, json_t **info, char *err,
                           size_t errlen)
{
	struct machines *ms = state;
	const char *order_id = NULL, *state_name = NULL, *version = NULL,
	           *reason = NULL;
	int64_t progress = -1;
	const struct ups_field fields[] = {
	    {"order-id", UPS_FIELD_STRING, false, 1, UPS_LIMIT_ORDER_ID_LEN,
	     &order_id},
	    {"state", UPS_FIELD_STRING, true, 1, UPS_MACHINE_STATE_LEN,
	     &state_name},
	    {"progress", UPS_FIELD_INT, false, 0, 100, &progress},
	    {"version", UPS_FIELD_STRING, true, 1, UPS_LIMIT_VERSION_LEN,
	     &version},
	    {"reason", UPS_FIELD_STRING, false, 0, REGDB_REASON_LEN, &reason},
	};
	char canon[UPS_LIMIT_VERSION_LEN + 1];
	struct registry_report rep;
	struct machines_pending *p;
	unsigned flags;
	int rv;

	(void)info;
	rv = ups_fields_unpack(req->params, "params", fields, 5, err, errlen);
	if (rv)
		return rv;
	memset(&rep, 0, sizeof(rep));
	if (ups_machine_state_parse(state_name, &rep.state) ||
	    !((flags = ups_machine_state_flags(rep.state)) &
	      UPS_MST_REPORTABLE))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.state\": not a state a machine "
		                "reports");
	if (order_id && !ups_order_id_is_valid(order_id))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.order-id\": not an order id");
	if ((flags & UPS_MST_IN_ORDER) && !order_id)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "state %s needs \"params.order-id\"",
		                state_name);
	rv = machines_version("params.version", version, canon, sizeof(canon),
	                      err, errlen);
	if (rv)
		return rv;
	rep.order_id = order_id;
	rep.progress = (int)progress;
	rep.version = canon;
	rep.reason = reason;
	rv = machines_defer(ms, req, false, &p, err, errlen);
	if (rv)
		return rv;
	rv = registry_report(ms->registry, req->peer, &rep, machines_reported,
	                     p);
	switch (rv) {
	case REGISTRY_PENDING:
		return RPC_DEFERRED;
	case 0:
		machines_undefer(p);
		*result = json_object();
		return *result ? 0 : UPS_ERR_NO_MEMORY;
	case UPS_ERR_BAD_REQUEST:
		machines_undefer(p);
		return ups_errf(rv, err, errlen,
		                "register first with Machine.Register");
	case UPS_ERR_NOT_FOUND:
		machines_undefer(p);
		return ups_errf(rv, err, errlen,
		                "order %s is not this machine's current order",
		                order_id);
	case UPS_ERR_CONFLICT:
		machines_undefer(p);
		return ups_errf(rv, err, errlen,
		                "order %s has already ended in another state",
		                order_id);
	default:
		machines_undefer(p);
		return ups_errf(rv, err, errlen, "%s", ups_err_message(rv));
	}
}

/* -------------------------------------------------------------------------
 * Machines (role client). */

static int machines_list(void *state, const struct rpc_request *req,
                         json_t **result, json_t **info, char *err,
                         size_t errlen)
{
	struct machines *ms = state;
	const char *after = NULL;
	int64_t limit = UPS_LIMIT_MACHINE_PAGE;
	const struct ups_field fields[] = {
	    {"after", UPS_FIELD_STRING, false, 1, UPS_LIMIT_MACHINE_ID_LEN,
	     &after},
	    {"limit", UPS_FIELD_INT, false, 1, UPS_LIMIT_MACHINE_PAGE, &limit},
	};
	const struct machine *page[UPS_LIMIT_MACHINE_PAGE];
	json_t *arr, *answer;
	bool more = false;
	size_t n, bytes = 0;
	int rv;

	(void)info;
	rv = ups_fields_unpack(req->params, "params", fields, 2, err, errlen);
	if (rv)
		return rv;
	if (after && !ups_machine_id_is_valid(after))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.after\": not a machine id");
	n = registry_list(ms->registry, after, (size_t)limit, page, &more);
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		json_t *rec = machines_record_json(page[i]);
		const struct rollout_member *mem =
		    ms->rollouts ? rollouts_member(ms->rollouts,
		                                   page[i]->row.id)
		                 : NULL;
		size_t len;

		/* Its state in the active rollout; idle outside one. */
		if (rec && json_object_set_new(
		               rec, "rollout",
		               json_string(mem ? member_state_name(mem->state)
		                               : "idle")))
			json_decref(rec), rec = NULL;
		/* Long reasons: the page ends early rather than outgrow a
		 * text message. */
		len = rec ? json_dumpb(rec, NULL, 0, JSON_COMPACT) : 0;
		if (rec && i > 0 && bytes + len + 1 > MACHINES_PAGE_BYTES) {
			json_decref(rec);
			n = i;
			more = true;
			break;
		}
		bytes += len + 1;
		if (json_array_append_new(arr, rec)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	answer = arr ? json_pack("{s:o, s:I}", "machines", arr, "total",
	                         (json_int_t)registry_count(ms->registry))
	             : NULL;
	if (answer && more && n > 0 &&
	    json_object_set_new(answer, "next",
	                        json_string(page[n - 1]->row.id))) {
		json_decref(answer);
		answer = NULL;
	}
	*result = answer;
	return answer ? 0 : UPS_ERR_NO_MEMORY;
}

static json_t *machines_strings(const char *const *s, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_string(s[i]))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static void machines_watch_add(struct machines *ms, struct peer *peer,
                               const char *machine_id, const char *order_id)
{
	struct machines_watch *w = calloc(1, sizeof(*w));
	const struct machine *m;

	if (!w) {
		LOG_WARN("machines", "out of memory for a watch");
		return;
	}
	w->peer = peer;
	snprintf(w->order_id, sizeof(w->order_id), "%s", order_id);
	w->next = ms->watches;
	ms->watches = w;
	/* Where it stands now (an order asked for again may be far on). */
	m = registry_find(ms->registry, machine_id);
	if (m && m->order && strcmp(m->order->id, order_id) == 0)
		machines_changed(ms, m);
}

static void machines_ordered(void *data, int rv, const char *err,
                             const struct registry_result *res)
{
	struct machines_pending *p = data;
	struct peer *peer = p->reply->peer;
	json_t *answer = NULL, *info = NULL, *arr;

	if (!rv) {
		arr = json_array();
		for (size_t i = 0; arr && i < res->norders; i++) {
			const struct registry_ordered *o = &res->orders[i];

			if (json_array_append_new(
			        arr, json_pack(
			                 "{s:s, s:s, s:s, s:b}", "machine-id",
			                 o->machine_id, "order-id", o->order_id,
			                 "binary-version", o->binary_version,
			                 "again", o->again))) {
				json_decref(arr);
				arr = NULL;
			}
		}
		answer = arr ? json_pack("{s:o}", "orders", arr) : NULL;
		if (!answer)
			rv = UPS_ERR_NO_MEMORY;
	} else if (rv == UPS_ERR_NOT_FOUND) {
		info = json_pack("{s:o, s:o}", "missing",
		                 machines_strings(res->missing, res->nmissing),
		                 "unknown-machines",
		                 machines_strings(res->unknown, res->nunknown));
	}
	reply_finish(p->reply, rv, err, answer, info);
	/* The answer first, then where each order stands. */
	if (!rv && p->watch && peer)
		for (size_t i = 0; i < res->norders; i++)
			machines_watch_add(p->ms, peer,
			                   res->orders[i].machine_id,
			                   res->orders[i].order_id);
	free(p);
}

/* machine-ids: a non-empty array of distinct machine ids into ids[]. */
static int machines_ids(const json_t *arr, const char **ids, size_t *n,
                        char *err, size_t errlen)
{
	size_t count = json_array_size(arr);

	if (count == 0 || count > UPS_LIMIT_ORDER_MACHINES)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.machine-ids\": 1 to %d machine "
		                "ids",
		                UPS_LIMIT_ORDER_MACHINES);
	for (size_t i = 0; i < count; i++) {
		const char *id = json_string_value(json_array_get(arr, i));

		if (!id || !ups_machine_id_is_valid(id))
			return ups_errf(
			    UPS_ERR_BAD_REQUEST, err, errlen,
			    "field \"params.machine-ids[%zu]\": not "
			    "a machine id",
			    i);
		for (size_t k = 0; k < i; k++)
			if (strcmp(ids[k], id) == 0)
				return ups_errf(UPS_ERR_BAD_REQUEST, err,
				                errlen,
				                "field \"params.machine-ids\": "
				                "%s given twice",
				                id);
		ids[i] = id;
	}
	*n = count;
	return 0;
}

static int machines_start_failed(struct machines_pending *p, int rv, char *err,
                                 size_t errlen)
{
	machines_undefer(p);
	if (rv == UPS_ERR_UNAVAILABLE)
		return ups_errf(rv, err, errlen, "upstaged is shutting down");
	return ups_errf(rv, err, errlen, "%s", ups_err_message(rv));
}

static int machines_order(void *state, const struct rpc_request *req,
                          json_t **result, json_t **info, char *err,
                          size_t errlen)
{
	struct machines *ms = state;
	json_t *arr = NULL;
	const char *bv = NULL, *version = NULL;
	const char *stream = ups_stream_name(UPS_STREAM_RELEASED);
	bool watch = false;
	const struct ups_field fields[] = {
	    {"machine-ids", UPS_FIELD_ARRAY, true, 0, 0, &arr},
	    {"binary-version", UPS_FIELD_STRING, false, 1,
	     UPS_LIMIT_BINARY_VERSION_LEN, &bv},
	    {"version", UPS_FIELD_STRING, false, 1, UPS_LIMIT_VERSION_LEN,
	     &version},
	    {"stream", UPS_FIELD_STRING, false, 1, UPS_LIMIT_STREAM_LEN,
	     &stream},
	    {"watch", UPS_FIELD_BOOL, false, 0, 0, &watch},
	};
	const char *ids[UPS_LIMIT_ORDER_MACHINES];
	char canon[UPS_LIMIT_VERSION_LEN + 1], detail[UPS_ERRMSG_MAX];
	struct machines_pending *p;
	size_t n = 0;
	int rv;

	(void)result;
	(void)info;
	rv = ups_fields_unpack(req->params, "params", fields, 5, err, errlen);
	if (!rv)
		rv = machines_ids(arr, ids, &n, err, errlen);
	if (rv)
		return rv;
	if ((bv == NULL) == (version == NULL))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "give exactly one of \"params.binary-version\" "
		                "and \"params.version\"");
	detail[0] = '\0';
	if (bv && ups_binary_version_check(bv, NULL, detail, sizeof(detail)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.binary-version\": %s", detail);
	if (version && (rv = machines_version("params.version", version, canon,
	                                      sizeof(canon), err, errlen)))
		return rv;
	if (!ups_stream_is_valid(stream))
		return ups_errf(
		    UPS_ERR_BAD_REQUEST, err, errlen,
		    "field \"params.stream\": must be " UPS_STREAM_NAMES_TEXT);
	rv = machines_defer(ms, req, watch, &p, err, errlen);
	if (rv)
		return rv;
	rv =
	    registry_order_upgrade(ms->registry, ids, n, version ? canon : NULL,
	                           bv, stream, machines_ordered, p);
	if (rv)
		return machines_start_failed(p, rv, err, errlen);
	return RPC_DEFERRED;
}

static int machines_revert(void *state, const struct rpc_request *req,
                           json_t **result, json_t **info, char *err,
                           size_t errlen)
{
	struct machines *ms = state;
	json_t *arr = NULL;
	bool watch = false;
	const struct ups_field fields[] = {
	    {"machine-ids", UPS_FIELD_ARRAY, true, 0, 0, &arr},
	    {"watch", UPS_FIELD_BOOL, false, 0, 0, &watch},
	};
	const char *ids[UPS_LIMIT_ORDER_MACHINES];
	struct machines_pending *p;
	size_t n = 0;
	int rv;

	(void)result;
	(void)info;
	rv = ups_fields_unpack(req->params, "params", fields, 2, err, errlen);
	if (!rv)
		rv = machines_ids(arr, ids, &n, err, errlen);
	if (!rv)
		rv = machines_defer(ms, req, watch, &p, err, errlen);
	if (rv)
		return rv;
	rv = registry_order_revert(ms->registry, ids, n, machines_ordered, p);
	if (rv)
		return machines_start_failed(p, rv, err, errlen);
	return RPC_DEFERRED;
}

static void machines_peer_gone(void *state, struct peer *p)
{
	struct machines *ms = state;
	struct machines_watch **pp = &ms->watches, *w;

	/* The dispatcher has cleared the role by now; a session that
	 * registered nothing is simply not found. */
	registry_session_gone(ms->registry, p);
	while ((w = *pp) != NULL) {
		if (w->peer == p) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static const struct rpc_method machine_methods[] = {
    {"Register", RPC_ROLE(UPS_ROLE_MACHINE), machines_register},
    {"Report", RPC_ROLE(UPS_ROLE_MACHINE), machines_report},
};

static const struct rpc_method machines_methods[] = {
    {"List", RPC_ROLE(UPS_ROLE_CLIENT), machines_list},
    {"Order", RPC_ROLE(UPS_ROLE_CLIENT), machines_order},
    {"Revert", RPC_ROLE(UPS_ROLE_CLIENT), machines_revert},
};

void machines_init(struct machines *ms)
{
	memset(&ms->machine_facade, 0, sizeof(ms->machine_facade));
	ms->machine_facade.name = "Machine";
	ms->machine_facade.methods = machine_methods;
	ms->machine_facade.nmethods =
	    sizeof(machine_methods) / sizeof(machine_methods[0]);
	ms->machine_facade.state = ms;
	ms->machine_facade.peer_gone = machines_peer_gone;
	memset(&ms->machines_facade, 0, sizeof(ms->machines_facade));
	ms->machines_facade.name = "Machines";
	ms->machines_facade.methods = machines_methods;
	ms->machines_facade.nmethods =
	    sizeof(machines_methods) / sizeof(machines_methods[0]);
	ms->machines_facade.state = ms;
}

void machines_free(struct machines *ms)
{
	while (ms->watches) {
		struct machines_watch *w = ms->watches;

		ms->watches = w->next;
		free(w);
	}
}
