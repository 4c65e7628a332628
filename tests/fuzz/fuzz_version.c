/* Fuzzes the version grammar, binary versions (and the other words of
 * proto/binary.h) and auto-selection. The input is split into lines; each
 * line is parsed as a version, a binary version, a stream and a SHA-256.
 * Invariants (abort on violation): no accepted number has more than nine
 * digits; parse -> format -> parse gives an equal version and the same
 * text; the canonical check accepts exactly the canonical spelling; compare
 * is reflexive, antisymmetric and transitive over the lines; autoselect
 * only ever answers with an available version that obeys the rules. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/autoselect.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/version.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#define MAX_LINES 16

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static void check_version_round_trip(const struct ups_version *v)
{
	char buf[UPS_LIMIT_VERSION_LEN + 1], buf2[UPS_LIMIT_VERSION_LEN + 1];
	struct ups_version again;
	char err[UPS_ERRMSG_MAX];

	CHECK(v->major <= 999999999 && v->minor <= 999999999 &&
	      v->patch <= 999999999 && v->build <= 999999999);
	CHECK(ups_version_format(v, buf, sizeof(buf)) == 0);
	CHECK(ups_version_parse(buf, &again, err, sizeof(err)) == 0);
	CHECK(ups_version_compare(v, &again) == 0);
	/* The parser zero-fills, so equal versions are equal bytes. */
	CHECK(memcmp(v, &again, sizeof(again)) == 0);
	CHECK(ups_version_format(&again, buf2, sizeof(buf2)) == 0);
	CHECK(strcmp(buf, buf2) == 0);
}

static void check_binary(const char *line)
{
	char buf[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	struct ups_binary_version bv, again;
	char err[UPS_ERRMSG_MAX];
	uint8_t digest[32];
	char hex[UPS_SHA256_HEX_LEN + 1];

	/* A line that decodes as a digest encodes back to itself. */
	if (ups_sha256_hex_decode(line, digest) == 0) {
		ups_sha256_hex_encode(digest, hex);
		CHECK(strcmp(hex, line) == 0);
	}
	if (ups_stream_is_valid(line)) {
		enum ups_stream st;

		CHECK(ups_stream_parse(line, &st) == 0);
		CHECK(strcmp(ups_stream_name(st), line) == 0);
	}
	if (ups_binary_version_parse(line, &bv, err, sizeof(err)) != 0) {
		CHECK(ups_binary_version_check(line, NULL, err, sizeof(err)) ==
		      UPS_ERR_BAD_REQUEST);
		return;
	}
	/* Any well-formed release parses; the check takes the known ones. */
	CHECK(ups_release_is_valid(bv.release) ||
	      ups_binary_version_check(line, NULL, err, sizeof(err)) ==
	          UPS_ERR_BAD_REQUEST);
	CHECK(ups_arch_is_valid(bv.arch));
	CHECK(ups_binary_version_format(&bv, buf, sizeof(buf)) == 0);
	CHECK(ups_binary_version_parse(buf, &again, err, sizeof(err)) == 0);
	CHECK(ups_version_compare(&bv.version, &again.version) == 0);
	CHECK(strcmp(bv.release, again.release) == 0);
	CHECK(strcmp(bv.arch, again.arch) == 0);
	CHECK(ups_binary_version_compare(&bv, &again) == 0);
	if (!ups_release_is_valid(bv.release))
		return;
	/* The canonical check accepts exactly the canonical spelling. */
	CHECK(ups_binary_version_check(buf, NULL, err, sizeof(err)) == 0);
	CHECK((ups_binary_version_check(line, NULL, err, sizeof(err)) == 0) ==
	      (strcmp(buf, line) == 0));
}

static void check_autoselect(const struct ups_version *v, size_t n)
{
	const struct ups_version *c = &v[0], *g = &v[1];
	struct ups_version out;
	char err[UPS_ERRMSG_MAX];
	bool found = false;
	size_t i;
	int rv;

	enum ups_autoselect_rule rule;

	rv = ups_version_select(c, g, v + 2, n - 2, &out, &rule, err,
	                        sizeof(err));
	if (rv != 0) {
		CHECK(rv == UPS_ERR_NO_SUITABLE_VERSION);
		CHECK(ups_version_autoselect(c, g, v + 2, n - 2, &out, err,
		                             sizeof(err)) == rv);
		return;
	}
	for (i = 2; i < n; i++)
		found |= ups_version_compare(&out, &v[i]) == 0;
	CHECK(found);
	CHECK(ups_autoselect_considers(c, g, &out));
	if (g->major != c->major) {
		CHECK(rule == UPS_AUTOSELECT_CLIENT_VERSION);
		CHECK(ups_version_compare(&out, c) == 0);
		return;
	}
	CHECK(ups_version_is_stable(&out));
	CHECK(ups_version_compare(&out, g) > 0);
	CHECK(out.major == g->major);
	CHECK(out.minor == g->minor || out.minor == g->minor + 1);
	CHECK(rule == (out.minor == g->minor ? UPS_AUTOSELECT_NEXT_PATCH
	                                     : UPS_AUTOSELECT_NEXT_MINOR));
	CHECK(out.minor <= c->minor);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ups_version v[MAX_LINES];
	char line[256];
	size_t n = 0, start = 0, i, j, k;
	char err[UPS_ERRMSG_MAX];

	while (start <= size && n < MAX_LINES) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl != NULL ? (size_t)(nl - data) : size;
		size_t len = end - start;

		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, data + start, len);
		line[len] = '\0';
		check_binary(line);
		if (ups_version_parse(line, &v[n], err, sizeof(err)) == 0) {
			check_version_round_trip(&v[n]);
			n++;
		}
		start = end + 1;
	}

	for (i = 0; i < n; i++) {
		CHECK(ups_version_compare(&v[i], &v[i]) == 0);
		for (j = 0; j < n; j++) {
			int ij = sign(ups_version_compare(&v[i], &v[j]));

			CHECK(ij == -sign(ups_version_compare(&v[j], &v[i])));
			for (k = 0; k < n; k++) {
				int jk =
				    sign(ups_version_compare(&v[j], &v[k]));

				if (ij <= 0 && jk <= 0)
					CHECK(ups_version_compare(&v[i],
					                          &v[k]) <= 0);
			}
		}
	}
	if (n >= 2)
		check_autoselect(v, n);
	return 0;
}
