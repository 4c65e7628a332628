/* The --report lines; see report.h. */
#include "contrib/fleet/report.h"

#include <stdlib.h>

#include <jansson.h>

#include "proto/errors.h"

/* One object (taken) as one line; the whole line goes out in one call so
 * a reader never sees half of one. */
static int report_line(FILE *fp, json_t *obj)
{
	char *line;
	int rv = 0;

	if (!obj)
		return UPS_ERR_NO_MEMORY;
	line = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!line)
		return UPS_ERR_NO_MEMORY;
	if (fprintf(fp, "%s\n", line) < 0)
		rv = UPS_ERR_IO;
	free(line);
	return rv;
}

/* A string member: a NULL is "", bytes that are not UTF-8 are refused. */
static int report_set(json_t *obj, const char *key, const char *value)
{
	json_t *s = json_string(value ? value : "");

	if (!s)
		return UPS_ERR_BAD_REQUEST;
	return json_object_set_new(obj, key, s) ? UPS_ERR_NO_MEMORY : 0;
}

static json_t *report_new(uint64_t t_ms, const char *event)
{
	json_t *obj = json_object();

	if (obj &&
	    (json_object_set_new(obj, "t", json_integer((json_int_t)t_ms)) ||
	     report_set(obj, "event", event))) {
		json_decref(obj);
		obj = NULL;
	}
	return obj;
}

int report_order(FILE *fp, uint64_t t_ms, const char *machine_id,
                 const char *order_id, const char *kind,
                 const char *binary_version)
{
	json_t *obj = report_new(t_ms, "order");
	int rv;

	if (!obj)
		return UPS_ERR_NO_MEMORY;
	if ((rv = report_set(obj, "machine-id", machine_id)) ||
	    (rv = report_set(obj, "order-id", order_id)) ||
	    (rv = report_set(obj, "kind", kind)) ||
	    (rv = report_set(obj, "binary-version", binary_version))) {
		json_decref(obj);
		return rv;
	}
	return report_line(fp, obj);
}

int report_state(FILE *fp, uint64_t t_ms, const char *machine_id,
                 const char *order_id, const char *state, const char *version,
                 const char *reason)
{
	json_t *obj = report_new(t_ms, "state");
	int rv;

	if (!obj)
		return UPS_ERR_NO_MEMORY;
	if ((rv = report_set(obj, "machine-id", machine_id)) ||
	    (rv = report_set(obj, "order-id", order_id)) ||
	    (rv = report_set(obj, "state", state)) ||
	    (rv = report_set(obj, "version", version)) ||
	    (rv = report_set(obj, "reason", reason))) {
		json_decref(obj);
		return rv;
	}
	return report_line(fp, obj);
}
