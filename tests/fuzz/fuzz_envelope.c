/* Fuzzes ups_envelope_parse, ups_fields_unpack on the params, and the
 * malformed-message answer. Invariants (abort on violation): a parsed
 * envelope rebuilt with the constructors, dumped and parsed again is the
 * same envelope; a rejected one always gets a parseable answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "proto/errors.h"
#include "proto/fields.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static json_t *rebuild(const struct ups_envelope *e)
{
	json_t *j = NULL;

	switch (e->kind) {
	case UPS_ENV_REQUEST:
		j = ups_env_request(e->request_id, e->type, e->version,
		                    e->request, json_deep_copy(e->params));
		break;
	case UPS_ENV_RESPONSE:
		j = ups_env_response(e->request_id,
		                     json_deep_copy(e->response));
		break;
	case UPS_ENV_ERROR:
		j = ups_env_error(e->request_id, e->error_code, e->error_text,
		                  e->error_info != NULL
		                      ? json_deep_copy(e->error_info)
		                      : NULL);
		break;
	case UPS_ENV_PUSH:
		j = ups_env_push(e->type, e->request,
		                 json_deep_copy(e->params));
		break;
	}
	CHECK(j != NULL);
	if (e->has_origin)
		CHECK(ups_env_set_origin(j, e->origin) == 0);
	return j;
}

static void check_same(const struct ups_envelope *a,
                       const struct ups_envelope *b)
{
	CHECK(a->kind == b->kind);
	CHECK(a->request_id == b->request_id);
	CHECK(a->has_origin == b->has_origin);
	CHECK(a->origin == b->origin);
	CHECK(strcmp(a->type, b->type) == 0);
	CHECK(strcmp(a->request, b->request) == 0);
	CHECK(a->version == b->version);
	CHECK(json_equal(a->params, b->params) || (!a->params && !b->params));
	CHECK(json_equal(a->response, b->response) ||
	      (!a->response && !b->response));
	CHECK(a->error_code == b->error_code);
	CHECK((a->error_text == NULL) == (b->error_text == NULL));
	if (a->error_text != NULL)
		CHECK(strcmp(a->error_text, b->error_text) == 0);
	CHECK(json_equal(a->error_info, b->error_info) ||
	      (!a->error_info && !b->error_info));
}

/* A Login-like table exercises every field type on whatever params the
 * fuzzer found; only the contract is checked, not the outcome. */
static void fuzz_fields(const json_t *params)
{
	const char *role = NULL, *token = NULL;
	int64_t n = -1;
	bool flag = false;
	json_t *obj = NULL, *arr = NULL;
	const struct ups_field fields[] = {
	    {"role", UPS_FIELD_STRING, true, 1, UPS_LIMIT_ROLE_LEN, &role},
	    {"token", UPS_FIELD_STRING, false, 0, UPS_LIMIT_TOKEN_LEN, &token},
	    {"n", UPS_FIELD_INT, false, -5, 5, &n},
	    {"flag", UPS_FIELD_BOOL, false, 0, 0, &flag},
	    {"obj", UPS_FIELD_OBJECT, false, 0, 0, &obj},
	    {"arr", UPS_FIELD_ARRAY, false, 0, 0, &arr},
	};
	char err[UPS_ERRMSG_MAX];
	int rv;

	err[0] = '\0';
	rv = ups_fields_unpack(params, "params", fields, 6, err, sizeof(err));
	if (rv != 0) {
		CHECK(rv == UPS_ERR_BAD_REQUEST);
		CHECK(err[0] != '\0');
		CHECK(role == NULL && token == NULL && n == -1 && !flag &&
		      obj == NULL && arr == NULL);
		return;
	}
	CHECK(role != NULL);
	CHECK(strlen(role) >= 1 && strlen(role) <= UPS_LIMIT_ROLE_LEN);
	CHECK(token == NULL || strlen(token) <= UPS_LIMIT_TOKEN_LEN);
	CHECK(n == -1 || (n >= -5 && n <= 5));
	CHECK(obj == NULL || json_is_object(obj));
	CHECK(arr == NULL || json_is_array(arr));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ups_envelope env, again;
	char err[UPS_ERRMSG_MAX];
	size_t len;
	json_t *j;
	char *text;
	int rv;

	err[0] = '\0';
	rv = ups_envelope_parse((const char *)data, size, &env, err,
	                        sizeof(err));
	if (rv != 0) {
		CHECK(rv == UPS_ERR_BAD_REQUEST || rv == UPS_ERR_TOO_LARGE);
		CHECK(err[0] != '\0');
		CHECK(env.params == NULL && env.error_text == NULL);
		/* The answer to garbage must itself be a valid envelope. */
		j = ups_env_malformed((const char *)data, size, rv, err);
		CHECK(j != NULL);
		text = ups_env_dump(j, &len);
		json_decref(j);
		CHECK(text != NULL);
		CHECK(ups_envelope_parse(text, len, &again, err, sizeof(err)) ==
		      0);
		CHECK(again.kind == UPS_ENV_ERROR ||
		      again.kind == UPS_ENV_PUSH);
		ups_envelope_clear(&again);
		free(text);
		return 0;
	}

	CHECK(env.kind != UPS_ENV_PUSH || env.request_id == 0);
	CHECK(env.kind == UPS_ENV_PUSH ||
	      (env.request_id >= 1 &&
	       env.request_id <= UPS_LIMIT_REQUEST_ID_MAX));
	CHECK(!env.has_origin || env.origin >= 1);
	if (env.kind == UPS_ENV_REQUEST || env.kind == UPS_ENV_PUSH) {
		CHECK(json_is_object(env.params));
		CHECK(env.type[0] != '\0' && env.request[0] != '\0');
		fuzz_fields(env.params);
	}

	j = rebuild(&env);
	text = ups_env_dump(j, &len);
	json_decref(j);
	CHECK(text != NULL);
	rv = ups_envelope_parse(text, len, &again, err, sizeof(err));
	/* Re-encoding can only grow by escaping; within limits it parses. */
	CHECK(rv == 0 ||
	      (rv == UPS_ERR_TOO_LARGE && len > UPS_LIMIT_TEXT_MSG_MAX));
	if (rv == 0) {
		check_same(&env, &again);
		ups_envelope_clear(&again);
	}
	free(text);
	ups_envelope_clear(&env);
	return 0;
}
