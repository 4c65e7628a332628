/* Declarative, strict unpacking of a params (or response) object: every
 * key must be listed, every listed required key present, types exact,
 * strings and integers within bounds. Unknown keys are errors, so a
 * misspelt optional key is caught instead of silently ignored. */
#ifndef UPSTAGE_PROTO_FIELDS_H
#define UPSTAGE_PROTO_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ups_field_type {
	UPS_FIELD_STRING, /* out: const char ** (borrowed from obj) */
	UPS_FIELD_INT,    /* out: int64_t * */
	UPS_FIELD_BOOL,   /* out: bool * */
	UPS_FIELD_OBJECT, /* out: json_t ** (borrowed from obj) */
	UPS_FIELD_ARRAY,  /* out: json_t ** (borrowed from obj) */
};

struct ups_field {
	const char *name; /* borrowed */
	enum ups_field_type type;
	bool required;
	/* STRING: max length in bytes (0 means UPS_LIMIT_STRING_LEN), min
	 * length in bytes (0 allows ""), and strings with NUL bytes are
	 * always rejected. INT: inclusive range [min, max]. Others: unused. */
	int64_t min;
	int64_t max;
	void *out; /* left untouched when an optional key is absent */
};

/* Checks obj against fields[0..nfields) and, only when all of it passes,
 * writes each present field's value to its out (NULL out: checked only).
 * obj, where and fields are borrowed; strings, objects and arrays written
 * to out are borrowed from obj and live as long as it does (no reference
 * is taken). Returns 0 or UPS_ERR_BAD_REQUEST with err naming
 * "<where>.<field>". */
int ups_fields_unpack(const json_t *obj, const char *where,
                      const struct ups_field *fields, size_t nfields, char *err,
                      size_t errlen);

#endif
