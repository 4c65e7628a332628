/* Strict, declarative unpacking of params/response objects. Validation
 * runs to completion before any out pointer is written, so a rejected
 * object never leaves half-filled outputs behind. */
#include "proto/fields.h"

#include <inttypes.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/limits.h"

/* Longest peer-supplied key echoed back in an error message. */
#define KEY_ECHO_MAX 64

/* Copies key into buf for an error message: bounded, and with every byte
 * that could break a log line or a JSON string (controls, quotes,
 * backslash, non-ASCII that truncation might split) replaced by '?'. */
static const char *key_echo(const char *key, size_t key_len, char *buf,
                            size_t len)
{
	size_t i, n = key_len;
	bool cut = false;

	if (n > KEY_ECHO_MAX) {
		n = KEY_ECHO_MAX;
		cut = true;
	}
	if (n > len - 4)
		n = len - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)key[i];

		buf[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
		             ? '?'
		             : (char)c;
	}
	if (cut) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static const char *type_name(enum ups_field_type type)
{
	switch (type) {
	case UPS_FIELD_STRING:
		return "string";
	case UPS_FIELD_INT:
		return "integer";
	case UPS_FIELD_BOOL:
		return "boolean";
	case UPS_FIELD_OBJECT:
		return "object";
	case UPS_FIELD_ARRAY:
		return "array";
	}
	return "?";
}

static bool type_matches(enum ups_field_type type, const json_t *v)
{
	switch (type) {
	case UPS_FIELD_STRING:
		return json_is_string(v);
	case UPS_FIELD_INT:
		return json_is_integer(v);
	case UPS_FIELD_BOOL:
		return json_is_boolean(v);
	case UPS_FIELD_OBJECT:
		return json_is_object(v);
	case UPS_FIELD_ARRAY:
		return json_is_array(v);
	}
	return false;
}

/* "where." or "" so messages read "params.token" or just "token". */
static const char *dot(const char *where)
{
	return (where != NULL && where[0] != '\0') ? "." : "";
}

static const char *nz(const char *where)
{
	return where != NULL ? where : "";
}

static int check_value(const struct ups_field *f, const json_t *v,
                       const char *where, char *err, size_t errlen)
{
	if (!type_matches(f->type, v))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"%s%s%s\": expected %s", nz(where),
		                dot(where), f->name, type_name(f->type));

	if (f->type == UPS_FIELD_STRING) {
		size_t n = json_string_length(v);
		size_t max = f->max > 0 ? (size_t)f->max : UPS_LIMIT_STRING_LEN;
		size_t min = f->min > 0 ? (size_t)f->min : 0;

		/* jansson strings carry a length; a shorter strlen means an
		 * embedded NUL that C consumers would silently cut at. */
		if (strlen(json_string_value(v)) != n)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "field \"%s%s%s\": contains NUL",
			                nz(where), dot(where), f->name);
		if (n > max)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "field \"%s%s%s\": too long (max %zu)",
			                nz(where), dot(where), f->name, max);
		if (n < min)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "field \"%s%s%s\": too short (min %zu)",
			                nz(where), dot(where), f->name, min);
	} else if (f->type == UPS_FIELD_INT) {
		json_int_t i = json_integer_value(v);

		if (i < f->min || i > f->max)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "field \"%s%s%s\": out of range",
			                nz(where), dot(where), f->name);
	}
	return 0;
}

static void store_value(const struct ups_field *f, json_t *v)
{
	if (f->out == NULL)
		return;
	switch (f->type) {
	case UPS_FIELD_STRING:
		*(const char **)f->out = json_string_value(v);
		break;
	case UPS_FIELD_INT:
		*(int64_t *)f->out = (int64_t)json_integer_value(v);
		break;
	case UPS_FIELD_BOOL:
		*(bool *)f->out = json_is_true(v);
		break;
	case UPS_FIELD_OBJECT:
	case UPS_FIELD_ARRAY:
		*(json_t **)f->out = v;
		break;
	}
}

static const struct ups_field *find_field(const struct ups_field *fields,
                                          size_t nfields, const char *key,
                                          size_t key_len)
{
	size_t i;

	for (i = 0; i < nfields; i++) {
		if (strlen(fields[i].name) == key_len &&
		    memcmp(fields[i].name, key, key_len) == 0)
			return &fields[i];
	}
	return NULL;
}

int ups_fields_unpack(const json_t *obj, const char *where,
                      const struct ups_field *fields, size_t nfields, char *err,
                      size_t errlen)
{
	char echo[KEY_ECHO_MAX + 4];
	const char *key;
	size_t key_len;
	json_t *v;
	size_t i;
	int rv;

	if (!json_is_object(obj))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"%s\": expected object",
		                where != NULL && where[0] != '\0' ? where
		                                                  : "(top)");

	/* Unknown keys first: a misspelt optional key would otherwise pass
	 * unnoticed, which is the point of strictness. */
	json_object_keylen_foreach((json_t *)obj, key, key_len, v)
	{
		if (find_field(fields, nfields, key, key_len) == NULL)
			return ups_errf(
			    UPS_ERR_BAD_REQUEST, err, errlen,
			    "unknown field \"%s%s%s\"", nz(where), dot(where),
			    key_echo(key, key_len, echo, sizeof(echo)));
	}

	for (i = 0; i < nfields; i++) {
		v = json_object_get(obj, fields[i].name);
		if (v == NULL) {
			if (fields[i].required)
				return ups_errf(
				    UPS_ERR_BAD_REQUEST, err, errlen,
				    "missing field \"%s%s%s\"", nz(where),
				    dot(where), fields[i].name);
			continue;
		}
		rv = check_value(&fields[i], v, where, err, errlen);
		if (rv != 0)
			return rv;
	}

	for (i = 0; i < nfields; i++) {
		v = json_object_get(obj, fields[i].name);
		if (v != NULL)
			store_value(&fields[i], v);
	}
	return 0;
}
