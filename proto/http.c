/* Request paths, byte ranges and entity tags; see http.h. Every loop is
 * bounded by the lengths checked first. */
#include "proto/http.h"

#include <string.h>

#include "proto/errors.h"

/* Longest decimal a range may hold: larger than any file (2^63 has 19
 * digits, so 18 always fits in a uint64_t). */
#define HTTP_RANGE_DIGITS_MAX 18
/* Longest header value looked at; longer ones are ignored as malformed. */
#define HTTP_HEADER_VALUE_MAX 8192

static bool http_is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* RFC 3986 pchar without pct-encoded: unreserved, sub-delims, ':', '@'. */
static bool http_is_pchar(unsigned char c)
{
	return http_is_unreserved(c) || strchr("!$&'()*+,;=:@", c) != NULL;
}

int ups_http_path_check(const char *path, size_t len)
{
	size_t seg = 1; /* where the current segment starts */

	if (len > UPS_LIMIT_HTTP_PATH_LEN)
		return UPS_ERR_TOO_LARGE;
	if (len == 0 || path[0] != '/')
		return UPS_ERR_BAD_REQUEST;
	if (len == 1)
		return 0;
	for (size_t i = 1; i <= len; i++) {
		size_t n;

		if (i < len && path[i] != '/') {
			/* strchr() would also find the NUL: test it apart. */
			if (path[i] == '\0' ||
			    !http_is_pchar((unsigned char)path[i]))
				return UPS_ERR_BAD_REQUEST;
			continue;
		}
		n = i - seg;
		if (n == 0 || (n == 1 && path[seg] == '.') ||
		    (n == 2 && path[seg] == '.' && path[seg + 1] == '.'))
			return UPS_ERR_BAD_REQUEST;
		seg = i + 1;
	}
	return 0;
}

static const char *http_skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A decimal of 1..HTTP_RANGE_DIGITS_MAX digits at *p; advances *p. */
static bool http_number(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	while (**p >= '0' && **p <= '9') {
		if (++n > HTTP_RANGE_DIGITS_MAX)
			return false;
		v = v * 10 + (uint64_t)(**p - '0');
		(*p)++;
	}
	*out = v;
	return n > 0;
}

enum ups_http_range ups_http_range_parse(const char *value, uint64_t size,
                                         uint64_t *start, uint64_t *len)
{
	static const char unit[] = "bytes=";
	uint64_t first = 0, last = 0;
	bool has_first, has_last;
	const char *p;

	*start = 0;
	*len = size;
	if (!value ||
	    strnlen(value, HTTP_HEADER_VALUE_MAX + 1) > HTTP_HEADER_VALUE_MAX)
		return UPS_HTTP_RANGE_ALL;
	p = http_skip_blanks(value);
	if (strncmp(p, unit, sizeof(unit) - 1) != 0)
		return UPS_HTTP_RANGE_ALL;
	/* RFC 7233 has no blanks inside a range; around the value they are
	 * the field's. */
	p += sizeof(unit) - 1;
	has_first = http_number(&p, &first);
	if (*p != '-')
		return UPS_HTTP_RANGE_ALL;
	p++;
	has_last = http_number(&p, &last);
	p = http_skip_blanks(p);
	/* Anything left (another range after a comma, junk) and the header
	 * is not one we serve: the whole body instead. */
	if (*p != '\0' || (!has_first && !has_last) ||
	    (has_first && has_last && last < first))
		return UPS_HTTP_RANGE_ALL;
	if (!has_first) {
		/* The last `last` bytes. */
		if (last == 0 || size == 0)
			return UPS_HTTP_RANGE_UNSATISFIABLE;
		*len = last < size ? last : size;
		*start = size - *len;
		return UPS_HTTP_RANGE_PARTIAL;
	}
	if (first >= size)
		return UPS_HTTP_RANGE_UNSATISFIABLE;
	if (!has_last || last >= size)
		last = size - 1;
	*start = first;
	*len = last - first + 1;
	return UPS_HTTP_RANGE_PARTIAL;
}

/* One entity tag at *p (W/"x" or "x"): its opaque value [*tag, +*n) and
 * whether it is weak; advances *p past it. */
static bool http_etag(const char **p, const char **tag, size_t *n, bool *weak)
{
	const char *q = *p;

	*weak = false;
	if (q[0] == 'W' && q[1] == '/') {
		*weak = true;
		q += 2;
	}
	if (*q != '"')
		return false;
	*tag = ++q;
	/* etagc: %x21 / %x23-7E / obs-text; no quote, no blank. */
	while (*q && *q != '"') {
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return false;
		q++;
	}
	if (*q != '"')
		return false;
	*n = (size_t)(q - *tag);
	*p = q + 1;
	return true;
}

bool ups_http_etag_match(const char *value, const char *etag, bool weak)
{
	size_t elen = strlen(etag);
	bool matched = false;
	const char *p;

	if (!value ||
	    strnlen(value, HTTP_HEADER_VALUE_MAX + 1) > HTTP_HEADER_VALUE_MAX)
		return false;
	p = http_skip_blanks(value);
	if (weak && *p == '*')
		return *http_skip_blanks(p + 1) == '\0';
	for (;;) {
		const char *tag;
		size_t n;
		bool is_weak;

		if (!http_etag(&p, &tag, &n, &is_weak))
			return false;
		if (n == elen && memcmp(tag, etag, n) == 0 &&
		    (weak || !is_weak))
			matched = true;
		p = http_skip_blanks(p);
		if (*p == '\0')
			return matched;
		/* If-Range holds one tag; If-None-Match a list. */
		if (!weak || *p != ',')
			return false;
		p = http_skip_blanks(p + 1);
	}
}
