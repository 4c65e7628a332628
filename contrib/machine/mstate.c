/* The machine agent's state file; see mstate.h. */
#include "contrib/machine/mstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/errors.h"
#include "proto/fields.h"

static int mstate_bv(const char *field, const char *s, char *out, size_t len,
                     char *err, size_t errlen)
{
	if (s && *s && ups_binary_version_check(s, NULL, NULL, 0))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"%s\": not a binary version", field);
	snprintf(out, len, "%s", s ? s : "");
	return 0;
}

static int mstate_state(const char *field, const char *s,
                        enum ups_machine_state *out, char *err, size_t errlen)
{
	if (ups_machine_state_parse(s, out))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"%s\": not a machine state", field);
	return 0;
}

int mstate_parse(const char *text, size_t len, struct mstate *out, char *err,
                 size_t errlen)
{
	const char *current = NULL, *previous = NULL, *ostate = NULL,
	           *reason = NULL, *kind = NULL;
	json_t *root, *order = NULL, *done = NULL;
	const struct ups_field fields[] = {
	    {"current", UPS_FIELD_STRING, true, 0, UPS_LIMIT_BINARY_VERSION_LEN,
	     &current},
	    {"previous", UPS_FIELD_STRING, true, 0,
	     UPS_LIMIT_BINARY_VERSION_LEN, &previous},
	    {"order", UPS_FIELD_OBJECT, false, 0, 0, &order},
	    {"order-kind", UPS_FIELD_STRING, false, 1, 16, &kind},
	    {"order-state", UPS_FIELD_STRING, false, 1, UPS_MACHINE_STATE_LEN,
	     &ostate},
	    {"reason", UPS_FIELD_STRING, false, 0, MSTATE_REASON_LEN, &reason},
	    {"done", UPS_FIELD_ARRAY, true, 0, 0, &done},
	};
	struct mstate s;
	json_error_t jerr;
	int rv;

	if (len > MSTATE_FILE_MAX)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "state file larger than %d bytes",
		                MSTATE_FILE_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "state file: %s", jerr.text);
	memset(&s, 0, sizeof(s));
	rv = ups_fields_unpack(root, "", fields, 7, err, errlen);
	if (!rv)
		rv = mstate_bv("current", current, s.current, sizeof(s.current),
		               err, errlen);
	if (!rv)
		rv = mstate_bv("previous", previous, s.previous,
		               sizeof(s.previous), err, errlen);
	if (!rv && order) {
		if (!kind || !ostate)
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "an order needs order-kind and "
			              "order-state");
		if (!rv)
			rv = ups_order_parse(order,
			                     strcmp(kind, "revert") == 0
			                         ? UPS_ORDER_REVERT
			                         : UPS_ORDER_UPGRADE,
			                     &s.order, err, errlen);
		if (!rv)
			rv = mstate_state("order-state", ostate, &s.order_state,
			                  err, errlen);
		s.has_order = rv == 0;
	}
	if (!rv && reason)
		snprintf(s.reason, sizeof(s.reason), "%s", reason);
	if (!rv && json_array_size(done) > MSTATE_DONE_MAX)
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "field \"done\": more than %d entries",
		              MSTATE_DONE_MAX);
	for (size_t i = 0; !rv && i < json_array_size(done); i++) {
		const char *id = NULL, *st = NULL, *why = "";
		const struct ups_field dfields[] = {
		    {"order-id", UPS_FIELD_STRING, true, 1,
		     UPS_LIMIT_ORDER_ID_LEN, &id},
		    {"state", UPS_FIELD_STRING, true, 1, UPS_MACHINE_STATE_LEN,
		     &st},
		    {"reason", UPS_FIELD_STRING, false, 0, MSTATE_REASON_LEN,
		     &why},
		};
		struct mstate_done *d = &s.done[s.ndone];

		rv = ups_fields_unpack(json_array_get(done, i), "done", dfields,
		                       3, err, errlen);
		if (!rv && !ups_order_id_is_valid(id))
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "field \"done.order-id\": not an order "
			              "id");
		if (!rv)
			rv = mstate_state("done.state", st, &d->state, err,
			                  errlen);
		if (!rv) {
			snprintf(d->id, sizeof(d->id), "%s", id);
			snprintf(d->reason, sizeof(d->reason), "%s", why);
			s.ndone++;
		}
	}
	json_decref(root);
	if (!rv)
		*out = s;
	return rv;
}

char *mstate_format(const struct mstate *s)
{
	json_t *root, *done;
	char *text;

	done = json_array();
	for (size_t i = 0; done && i < s->ndone; i++)
		if (json_array_append_new(
		        done,
		        json_pack("{s:s, s:s, s:s}", "order-id", s->done[i].id,
		                  "state",
		                  ups_machine_state_name(s->done[i].state),
		                  "reason", s->done[i].reason))) {
			json_decref(done);
			done = NULL;
		}
	if (!done)
		return NULL;
	root = json_pack("{s:s, s:s, s:o}", "current", s->current, "previous",
	                 s->previous, "done", done);
	if (root && s->has_order &&
	    (json_object_set_new(root, "order", ups_order_params(&s->order)) ||
	     json_object_set_new(root, "order-kind",
	                         json_string(s->order.kind == UPS_ORDER_REVERT
	                                         ? "revert"
	                                         : "upgrade")) ||
	     json_object_set_new(
	         root, "order-state",
	         json_string(ups_machine_state_name(s->order_state))) ||
	     json_object_set_new(root, "reason", json_string(s->reason)))) {
		json_decref(root);
		return NULL;
	}
	if (!root)
		return NULL;
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	return text;
}

const struct mstate_done *mstate_find_done(const struct mstate *s,
                                           const char *id)
{
	for (size_t i = 0; i < s->ndone; i++)
		if (strcmp(s->done[i].id, id) == 0)
			return &s->done[i];
	return NULL;
}

void mstate_retire(struct mstate *s)
{
	struct mstate_done *d;

	if (!s->has_order)
		return;
	if (s->ndone == MSTATE_DONE_MAX) {
		memmove(&s->done[0], &s->done[1],
		        (MSTATE_DONE_MAX - 1) * sizeof(s->done[0]));
		s->ndone--;
	}
	d = &s->done[s->ndone++];
	snprintf(d->id, sizeof(d->id), "%s", s->order.id);
	d->state = s->order_state;
	snprintf(d->reason, sizeof(d->reason), "%s", s->reason);
	s->has_order = false;
	s->reason[0] = '\0';
}
