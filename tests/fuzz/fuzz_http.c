/* Fuzzes the HTTP request words (proto/http.h): the input as a request
 * path, as a Range value against several sizes and as an If-None-Match /
 * If-Range value. Invariants (abort on violation): a path accepted holds
 * no '%', '\\', control byte, empty, "." or ".." segment and is within the
 * limit; a partial range lies inside the body and is not empty; ALL
 * covers the body; the strong match implies the weak one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/http.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void check_path(const char *p, size_t len)
{
	int rv = ups_http_path_check(p, len);

	if (len > UPS_LIMIT_HTTP_PATH_LEN) {
		CHECK(rv == UPS_ERR_TOO_LARGE);
		return;
	}
	if (rv != 0) {
		CHECK(rv == UPS_ERR_BAD_REQUEST);
		return;
	}
	CHECK(len >= 1 && p[0] == '/');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		CHECK(c > 0x20 && c < 0x7f && c != '%' && c != '\\');
		if (c == '/' && i + 1 < len)
			CHECK(p[i + 1] != '/');
	}
	CHECK(strstr(p, "/../") == NULL && strstr(p, "/./") == NULL);
	CHECK(len == 1 || p[len - 1] != '/');
}

static void check_range(const char *v)
{
	static const uint64_t sizes[] = {0, 1, 100, UINT64_C(1) << 40};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t start, len;
		enum ups_http_range r =
		    ups_http_range_parse(v, sizes[i], &start, &len);

		if (r == UPS_HTTP_RANGE_ALL)
			CHECK(start == 0 && len == sizes[i]);
		if (r == UPS_HTTP_RANGE_PARTIAL)
			CHECK(len > 0 && start < sizes[i] &&
			      len <= sizes[i] - start);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	const char *tag = "abc";

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_path(s, size);
	check_range(s);
	if (ups_http_etag_match(s, tag, false))
		CHECK(ups_http_etag_match(s, tag, true));
	(void)ups_http_etag_match(s, "", true);
	free(s);
	return 0;
}
