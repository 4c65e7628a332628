/* Juju version grammar, ordering and formatting. The parser is a
 * hand-written cursor over a string whose length is checked first, so no
 * input can make it read or loop far. */
#include "proto/version.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/errors.h"

struct cursor {
	const char *s;
	size_t pos;
	size_t len;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static char peek(const struct cursor *c)
{
	return c->pos < c->len ? c->s[c->pos] : '\0';
}

/* One decimal number of 1..UPS_VERSION_NUMBER_DIGITS digits. Leading zeros
 * are numeric (Juju compares parsed integers, so "01" is 1) but still count
 * as digits: Juju's grammar is \d{1,9}, and a number that one side accepts
 * and the other refuses would split the two on what a version is. */
static int read_number(struct cursor *c, const char *what, uint32_t *out,
                       char *err, size_t errlen)
{
	uint32_t v = 0;
	size_t start = c->pos;

	while (c->pos < c->len && is_digit(c->s[c->pos])) {
		if (c->pos - start == UPS_VERSION_NUMBER_DIGITS)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "version: %s number longer than %d "
			                "digits",
			                what, UPS_VERSION_NUMBER_DIGITS);
		/* Nine digits stay below 10^9, far from UINT32_MAX. */
		v = v * 10 + (uint32_t)(c->s[c->pos] - '0');
		c->pos++;
	}
	if (c->pos == start)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "version: expected %s number at position %zu",
		                what, start);
	*out = v;
	return 0;
}

static int expect(struct cursor *c, char ch, char *err, size_t errlen)
{
	if (peek(c) != ch)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "version: expected '%c' at position %zu", ch,
		                c->pos);
	c->pos++;
	return 0;
}

/* Parses s[0..len) which the caller has bounded by UPS_LIMIT_VERSION_LEN. */
static int parse_bounded(const char *s, size_t len, struct ups_version *out,
                         char *err, size_t errlen)
{
	struct cursor c = {s, 0, len};
	struct ups_version v;
	size_t tag_start, tag_len;
	int rv;

	memset(&v, 0, sizeof(v));
	if (len == 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "version: empty");

	rv = read_number(&c, "major", &v.major, err, errlen);
	if (rv != 0)
		return rv;
	rv = expect(&c, '.', err, errlen);
	if (rv != 0)
		return rv;
	rv = read_number(&c, "minor", &v.minor, err, errlen);
	if (rv != 0)
		return rv;

	if (peek(&c) == '-') {
		c.pos++;
		tag_start = c.pos;
		while (c.pos < c.len && is_lower(c.s[c.pos]))
			c.pos++;
		tag_len = c.pos - tag_start;
		if (tag_len == 0)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "version: expected tag [a-z]+ at "
			                "position %zu",
			                tag_start);
		if (tag_len > UPS_LIMIT_VERSION_TAG_LEN)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "version: tag longer than %d",
			                UPS_LIMIT_VERSION_TAG_LEN);
		memcpy(v.tag, s + tag_start, tag_len);
		v.tag[tag_len] = '\0';
		/* The header's grammar, tag[patch]: Juju's regexp wants the
		 * number, but "3.0-rc" as "3.0-rc0" loses nothing. */
		if (is_digit(peek(&c))) {
			rv = read_number(&c, "patch", &v.patch, err, errlen);
			if (rv != 0)
				return rv;
		}
	} else if (peek(&c) == '.') {
		c.pos++;
		rv = read_number(&c, "patch", &v.patch, err, errlen);
		if (rv != 0)
			return rv;
	} else {
		/* Bare "major.minor" means patch 0. */
		goto done;
	}

	if (peek(&c) == '.') {
		c.pos++;
		rv = read_number(&c, "build", &v.build, err, errlen);
		if (rv != 0)
			return rv;
	}

done:
	if (c.pos != c.len)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "version: unexpected character at position %zu",
		                c.pos);
	*out = v;
	return 0;
}

int ups_version_parse(const char *s, struct ups_version *out, char *err,
                      size_t errlen)
{
	size_t len;

	if (s == NULL)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "version: empty");
	len = strnlen(s, UPS_LIMIT_VERSION_LEN + 1);
	if (len > UPS_LIMIT_VERSION_LEN)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "version: longer than %d",
		                UPS_LIMIT_VERSION_LEN);
	return parse_bounded(s, len, out, err, errlen);
}

int ups_version_format(const struct ups_version *v, char *buf, size_t len)
{
	/* The tag array may have been filled by hand; never read past it. */
	int tag_len = (int)strnlen(v->tag, sizeof(v->tag));
	int n;

	if (tag_len == 0)
		n = snprintf(buf, len, "%" PRIu32 ".%" PRIu32 ".%" PRIu32,
		             v->major, v->minor, v->patch);
	else
		n = snprintf(buf, len, "%" PRIu32 ".%" PRIu32 "-%.*s%" PRIu32,
		             v->major, v->minor, tag_len, v->tag, v->patch);
	if (n < 0 || (size_t)n >= len)
		return UPS_ERR_TOO_LARGE;
	if (v->build > 0) {
		int m =
		    snprintf(buf + n, len - (size_t)n, ".%" PRIu32, v->build);

		if (m < 0 || (size_t)m >= len - (size_t)n)
			return UPS_ERR_TOO_LARGE;
	}
	return 0;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
	return (a > b) - (a < b);
}

int ups_version_compare(const struct ups_version *a,
                        const struct ups_version *b)
{
	int r;

	r = cmp_u32(a->major, b->major);
	if (r != 0)
		return r;
	r = cmp_u32(a->minor, b->minor);
	if (r != 0)
		return r;
	/* A stable version ranks above every pre-release of its minor. */
	if (a->tag[0] == '\0' || b->tag[0] == '\0') {
		r = (a->tag[0] == '\0') - (b->tag[0] == '\0');
		if (r != 0)
			return r;
	} else {
		r = strncmp(a->tag, b->tag, sizeof(a->tag));
		if (r != 0)
			return r < 0 ? -1 : 1;
	}
	r = cmp_u32(a->patch, b->patch);
	if (r != 0)
		return r;
	return cmp_u32(a->build, b->build);
}
