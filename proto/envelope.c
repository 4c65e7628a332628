/* JSON envelopes: strict parsing into struct ups_envelope, and the
 * constructors every sender uses so the shapes stay in one place. */
#include "proto/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/fields.h"

/* Facade and method names, and error codes: [A-Za-z0-9_-]{1,64}. They end
 * up in logs and dispatch tables, so anything else is refused early. */
static int check_name(const char *field, const char *s, char *err,
                      size_t errlen)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "field \"%s\": bad character", field);
	}
	return 0;
}

static void copy_name(char dst[UPS_LIMIT_NAME_LEN + 1], const char *src)
{
	size_t n = strlen(src);

	/* Bounded by the field table before we get here. */
	if (n > UPS_LIMIT_NAME_LEN)
		n = UPS_LIMIT_NAME_LEN;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

#define ORIGIN_FIELD(out)                                                      \
	{                                                                      \
		"origin", UPS_FIELD_INT, false, 1,                             \
		    (int64_t)UPS_LIMIT_ORIGIN_MAX, out                         \
	}
#define REQUEST_ID_FIELD(out)                                                  \
	{                                                                      \
		"request-id", UPS_FIELD_INT, true, 1,                          \
		    (int64_t)UPS_LIMIT_REQUEST_ID_MAX, out                     \
	}

static int parse_request(json_t *root, bool push, struct ups_envelope *out,
                         char *err, size_t errlen)
{
	int64_t request_id = 0, origin = 0, version = 1;
	const char *type = NULL, *request = NULL;
	json_t *params = NULL;
	struct ups_field fields[] = {
	    {"type", UPS_FIELD_STRING, true, 1, UPS_LIMIT_NAME_LEN, &type},
	    {"request", UPS_FIELD_STRING, true, 1, UPS_LIMIT_NAME_LEN,
	     &request},
	    {"params", UPS_FIELD_OBJECT, false, 0, 0, &params},
	    ORIGIN_FIELD(&origin),
	    /* Pushes have neither request-id nor version. */
	    {"version", UPS_FIELD_INT, false, 0, UPS_LIMIT_FACADE_VERSION_MAX,
	     &version},
	    REQUEST_ID_FIELD(&request_id),
	};
	size_t n = sizeof(fields) / sizeof(fields[0]) - (push ? 2 : 0);
	int rv;

	rv = ups_fields_unpack(root, NULL, fields, n, err, errlen);
	if (rv != 0)
		return rv;
	rv = check_name("type", type, err, errlen);
	if (rv != 0)
		return rv;
	rv = check_name("request", request, err, errlen);
	if (rv != 0)
		return rv;

	out->kind = push ? UPS_ENV_PUSH : UPS_ENV_REQUEST;
	out->request_id = (uint64_t)request_id;
	out->has_origin = origin != 0;
	out->origin = (uint32_t)origin;
	copy_name(out->type, type);
	copy_name(out->request, request);
	out->version = (int)version;
	out->params = params != NULL ? json_incref(params) : json_object();
	if (out->params == NULL)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	return 0;
}

static int parse_response(json_t *root, struct ups_envelope *out, char *err,
                          size_t errlen)
{
	int64_t request_id = 0, origin = 0;
	json_t *response = NULL;
	const struct ups_field fields[] = {
	    REQUEST_ID_FIELD(&request_id),
	    {"response", UPS_FIELD_OBJECT, true, 0, 0, &response},
	    ORIGIN_FIELD(&origin),
	};
	int rv;

	rv = ups_fields_unpack(root, NULL, fields,
	                       sizeof(fields) / sizeof(fields[0]), err, errlen);
	if (rv != 0)
		return rv;
	out->kind = UPS_ENV_RESPONSE;
	out->request_id = (uint64_t)request_id;
	out->has_origin = origin != 0;
	out->origin = (uint32_t)origin;
	out->version = 1;
	out->response = json_incref(response);
	return 0;
}

static int parse_error(json_t *root, struct ups_envelope *out, char *err,
                       size_t errlen)
{
	int64_t request_id = 0, origin = 0;
	const char *text = NULL, *code = NULL;
	json_t *info = NULL;
	const struct ups_field fields[] = {
	    REQUEST_ID_FIELD(&request_id),
	    {"error", UPS_FIELD_STRING, true, 0, UPS_LIMIT_ERROR_TEXT_LEN,
	     &text},
	    {"error-code", UPS_FIELD_STRING, false, 1, UPS_LIMIT_NAME_LEN,
	     &code},
	    {"error-info", UPS_FIELD_OBJECT, false, 0, 0, &info},
	    ORIGIN_FIELD(&origin),
	};
	int rv;

	rv = ups_fields_unpack(root, NULL, fields,
	                       sizeof(fields) / sizeof(fields[0]), err, errlen);
	if (rv != 0)
		return rv;
	if (code != NULL) {
		rv = check_name("error-code", code, err, errlen);
		if (rv != 0)
			return rv;
	}

	out->kind = UPS_ENV_ERROR;
	out->request_id = (uint64_t)request_id;
	out->has_origin = origin != 0;
	out->origin = (uint32_t)origin;
	out->version = 1;
	/* An unknown code from a newer peer is still an error; keep its text
	 * so it can be logged or passed through. */
	out->error_code =
	    code != NULL ? ups_err_from_code(code) : UPS_ERR_INTERNAL;
	if (code != NULL)
		copy_name(out->error_code_text, code);
	out->error_text = strdup(text);
	if (out->error_text == NULL)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	if (info != NULL)
		out->error_info = json_incref(info);
	return 0;
}

/* Loads buf as exactly one JSON object with duplicate keys refused. */
static int load_object(const char *buf, size_t len, json_t **root, char *err,
                       size_t errlen)
{
	json_error_t jerr;

	if (len > UPS_LIMIT_TEXT_MSG_MAX)
		return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		                "message of %zu bytes exceeds %d", len,
		                UPS_LIMIT_TEXT_MSG_MAX);
	if (buf == NULL && len > 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen, "no message");
	/* Without JSON_DISABLE_EOF_CHECK trailing text is an error; without
	 * JSON_DECODE_ANY scalars are refused at the top level. */
	*root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES,
	                   &jerr);
	if (*root == NULL)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "invalid JSON at position %d: %s",
		                jerr.position, jerr.text);
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "envelope is not a JSON object");
	}
	return 0;
}

int ups_envelope_parse(const char *buf, size_t len, struct ups_envelope *out,
                       char *err, size_t errlen)
{
	json_t *root = NULL;
	bool has_id, has_type, has_request;
	int rv;

	memset(out, 0, sizeof(*out));
	rv = load_object(buf, len, &root, err, errlen);
	if (rv != 0)
		return rv;

	has_id = json_object_get(root, "request-id") != NULL;
	has_type = json_object_get(root, "type") != NULL;
	has_request = json_object_get(root, "request") != NULL;

	if (has_id && has_request)
		rv = parse_request(root, false, out, err, errlen);
	else if (has_id && json_object_get(root, "response") != NULL)
		rv = parse_response(root, out, err, errlen);
	else if (has_id && json_object_get(root, "error") != NULL)
		rv = parse_error(root, out, err, errlen);
	else if (has_id)
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "missing field \"request\", \"response\" or "
		              "\"error\"");
	else if (has_type && has_request)
		rv = parse_request(root, true, out, err, errlen);
	else
		rv = ups_errf(
		    UPS_ERR_BAD_REQUEST, err, errlen, "missing field \"%s\"",
		    has_type || has_request ? (has_type ? "request" : "type")
		                            : "request-id");

	json_decref(root);
	if (rv != 0)
		ups_envelope_clear(out);
	return rv;
}

void ups_envelope_clear(struct ups_envelope *env)
{
	json_decref(env->params);
	json_decref(env->response);
	json_decref(env->error_info);
	free(env->error_text);
	memset(env, 0, sizeof(*env));
}

/* Sets key on obj, stealing value; false if value is NULL or on failure
 * (the value is released either way). */
static bool set_new(json_t *obj, const char *key, json_t *value)
{
	return value != NULL && json_object_set_new(obj, key, value) == 0;
}

/* Steals obj; NULL becomes a new empty object. */
static json_t *object_or_empty(json_t *obj)
{
	if (obj == NULL)
		return json_object();
	if (!json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

json_t *ups_env_request(uint64_t request_id, const char *type, int version,
                        const char *request, json_t *params)
{
	json_t *env = json_object();

	if (env == NULL)
		goto err_params;
	if (!set_new(env, "request-id", json_integer((json_int_t)request_id)) ||
	    !set_new(env, "type", json_string(type)) ||
	    !set_new(env, "version", json_integer(version)) ||
	    !set_new(env, "request", json_string(request)))
		goto err_env;
	if (!set_new(env, "params", object_or_empty(params)))
		goto err_env_params_taken;
	return env;

err_env:
	json_decref(env);
err_params:
	json_decref(params);
	return NULL;
err_env_params_taken:
	json_decref(env);
	return NULL;
}

json_t *ups_env_response(uint64_t request_id, json_t *response)
{
	json_t *env = json_object();

	if (env == NULL)
		goto err_response;
	if (!set_new(env, "request-id", json_integer((json_int_t)request_id)))
		goto err_env;
	if (!set_new(env, "response", object_or_empty(response)))
		goto err_env_response_taken;
	return env;

err_env:
	json_decref(env);
err_response:
	json_decref(response);
	return NULL;
err_env_response_taken:
	json_decref(env);
	return NULL;
}

/* Longest prefix of text, at most UPS_LIMIT_ERROR_TEXT_LEN bytes, that
 * ends on a UTF-8 character boundary, so our own parser accepts it. */
static size_t error_text_len(const char *text)
{
	size_t n = strnlen(text, UPS_LIMIT_ERROR_TEXT_LEN + 1);

	if (n <= UPS_LIMIT_ERROR_TEXT_LEN)
		return n;
	n = UPS_LIMIT_ERROR_TEXT_LEN;
	while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* The "error" text: text bounded, or the table's message when text is
 * NULL or not valid UTF-8 (a bad detail message must not lose the error). */
static json_t *error_text_new(int code, const char *text)
{
	json_t *jtext = NULL;

	if (text != NULL)
		jtext = json_stringn(text, error_text_len(text));
	if (jtext == NULL)
		jtext = json_string(ups_err_message(code));
	return jtext;
}

json_t *ups_env_error(uint64_t request_id, int code, const char *text,
                      json_t *info)
{
	json_t *env = json_object();

	if (env == NULL)
		goto err_info;
	if (!set_new(env, "request-id", json_integer((json_int_t)request_id)) ||
	    !set_new(env, "error", error_text_new(code, text)) ||
	    !set_new(env, "error-code", json_string(ups_err_code(code))))
		goto err_env;
	if (info != NULL && !set_new(env, "error-info", object_or_empty(info)))
		goto err_env_info_taken;
	return env;

err_env:
	json_decref(env);
err_info:
	json_decref(info);
	return NULL;
err_env_info_taken:
	json_decref(env);
	return NULL;
}

json_t *ups_env_push(const char *type, const char *request, json_t *params)
{
	json_t *env = json_object();

	if (env == NULL)
		goto err_params;
	if (!set_new(env, "type", json_string(type)) ||
	    !set_new(env, "request", json_string(request)))
		goto err_env;
	if (!set_new(env, "params", object_or_empty(params)))
		goto err_env_params_taken;
	return env;

err_env:
	json_decref(env);
err_params:
	json_decref(params);
	return NULL;
err_env_params_taken:
	json_decref(env);
	return NULL;
}

int ups_env_set_origin(json_t *env, uint32_t origin)
{
	if (origin == 0) {
		/* Absent already is fine: stripping is idempotent. */
		json_object_del(env, "origin");
		return 0;
	}
	if (json_object_set_new(env, "origin", json_integer(origin)) != 0)
		return UPS_ERR_NO_MEMORY;
	return 0;
}

char *ups_env_dump(const json_t *env, size_t *len)
{
	char *s = json_dumps(env, JSON_COMPACT);

	if (s != NULL && len != NULL)
		*len = strlen(s);
	return s;
}

/* The request-id and origin of a rejected message, if it is an object
 * that looks like a request and both are in range; zero otherwise. */
static void salvage_ids(const char *buf, size_t len, uint64_t *request_id,
                        uint32_t *origin)
{
	char ignored[8];
	json_t *root = NULL;
	json_t *v;

	*request_id = 0;
	*origin = 0;
	if (load_object(buf, len, &root, ignored, sizeof(ignored)) != 0)
		return;
	if (json_object_get(root, "request") == NULL)
		goto out;
	v = json_object_get(root, "request-id");
	if (json_is_integer(v) && json_integer_value(v) >= 1 &&
	    (uint64_t)json_integer_value(v) <= UPS_LIMIT_REQUEST_ID_MAX)
		*request_id = (uint64_t)json_integer_value(v);
	v = json_object_get(root, "origin");
	if (json_is_integer(v) && json_integer_value(v) >= 1 &&
	    (uint64_t)json_integer_value(v) <= UPS_LIMIT_ORIGIN_MAX)
		*origin = (uint32_t)json_integer_value(v);
out:
	json_decref(root);
}

json_t *ups_env_malformed(const char *buf, size_t len, int code,
                          const char *text)
{
	uint64_t request_id;
	uint32_t origin;
	json_t *env, *params;

	salvage_ids(buf, len, &request_id, &origin);
	if (request_id != 0) {
		env = ups_env_error(request_id, code, text, NULL);
	} else {
		params = json_object();
		if (params == NULL)
			return NULL;
		if (!set_new(params, "error", error_text_new(code, text)) ||
		    !set_new(params, "error-code",
		             json_string(ups_err_code(code)))) {
			json_decref(params);
			return NULL;
		}
		env = ups_env_push(UPS_ENV_MALFORMED_TYPE,
		                   UPS_ENV_MALFORMED_REQUEST, params);
	}
	if (env != NULL && origin != 0 &&
	    ups_env_set_origin(env, origin) != 0) {
		json_decref(env);
		return NULL;
	}
	return env;
}

int ups_facade_version(const char *type)
{
	if (type && strcmp(type, UPS_FACADE_AGENT_BINARIES) == 0)
		return UPS_FACADE_AGENT_BINARIES_VERSION;
	return UPS_FACADE_DEFAULT_VERSION;
}
