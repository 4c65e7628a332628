/* Streams, SHA-256 hex, releases, arches and binary versions; see
 * binary.h. Every input is bounded before it is read, so none can make a
 * check read or loop far. */
#include "proto/binary.h"

#include <stdio.h>
#include <string.h>

#include "proto/errors.h"

#define UPS_STREAM_NAME(id, name) [UPS_STREAM_##id] = name,
static const char *const stream_names[UPS_STREAM__COUNT] = {
    UPS_STREAMS(UPS_STREAM_NAME)};
#undef UPS_STREAM_NAME

/* Fixed-size buffers of UPS_LIMIT_STREAM_LEN + 1 hold stream names. */
#define UPS_STREAM_FITS(id, name)                                              \
	_Static_assert(sizeof(name) <= UPS_LIMIT_STREAM_LEN + 1,               \
	               "stream name " name " is too long");
UPS_STREAMS(UPS_STREAM_FITS)
#undef UPS_STREAM_FITS

struct release_entry {
	const char *name;
	const char *product;
};

#define UPS_RELEASE_ENTRY(name, product) {name, product},
static const struct release_entry known_releases[] = {
    UPS_RELEASES(UPS_RELEASE_ENTRY)};
#undef UPS_RELEASE_ENTRY

/* Fixed-size buffers of UPS_LIMIT_RELEASE_LEN + 1 hold release names, and
 * every product word fits a product id of the same bound. */
#define UPS_RELEASE_FITS(name, product)                                        \
	_Static_assert(sizeof(name) <= UPS_LIMIT_RELEASE_LEN + 1 &&            \
	                   sizeof(product) <= UPS_LIMIT_RELEASE_LEN + 1,       \
	               "release " name " is too long");
UPS_RELEASES(UPS_RELEASE_FITS)
#undef UPS_RELEASE_FITS

static const char *const known_arches[] = {
    "amd64", "arm64", "ppc64el", "s390x", "riscv64",
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

/* 0..15 for a lowercase hex digit, else -1. */
static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

const char *ups_stream_name(enum ups_stream s)
{
	/* The enum may arrive from an int cast; compare unsigned so a
	 * negative value is out of range too. */
	if ((unsigned)s >= UPS_STREAM__COUNT)
		return "unknown";
	return stream_names[s];
}

int ups_stream_parse(const char *s, enum ups_stream *out)
{
	if (s == NULL)
		return UPS_ERR_BAD_REQUEST;
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++) {
		if (strcmp(s, stream_names[i]) == 0) {
			if (out != NULL)
				*out = (enum ups_stream)i;
			return 0;
		}
	}
	return UPS_ERR_BAD_REQUEST;
}

bool ups_stream_is_valid(const char *s)
{
	return ups_stream_parse(s, NULL) == 0;
}

bool ups_sha256_hex_is_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	/* Stops at the first non-digit, so a short string's NUL ends it. */
	for (i = 0; i < UPS_SHA256_HEX_LEN; i++)
		if (hex_value(s[i]) < 0)
			return false;
	return s[UPS_SHA256_HEX_LEN] == '\0';
}

int ups_sha256_hex_decode(const char *hex, uint8_t out[32])
{
	uint8_t bytes[32];

	if (!ups_sha256_hex_is_valid(hex))
		return UPS_ERR_BAD_REQUEST;
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 |
		                     hex_value(hex[2 * i + 1]));
	memcpy(out, bytes, sizeof(bytes));
	return 0;
}

bool ups_upload_token_is_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] && n <= UPS_LIMIT_UPLOAD_TOKEN_LEN; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return n >= UPS_LIMIT_UPLOAD_TOKEN_MIN &&
	       n <= UPS_LIMIT_UPLOAD_TOKEN_LEN;
}

void ups_sha256_hex_encode(const uint8_t digest[32],
                           char out[UPS_SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[digest[i] >> 4];
		out[2 * i + 1] = digits[digest[i] & 15];
	}
	out[UPS_SHA256_HEX_LEN] = '\0';
}

/* The grammar of a release: [a-z][a-z0-9]* of at most
 * UPS_LIMIT_RELEASE_LEN bytes. What the parser accepts; only the known
 * ones pass ups_release_is_valid(). */
static bool release_is_wellformed(const char *release)
{
	size_t i;

	if (release == NULL || !is_lower(release[0]))
		return false;
	for (i = 1; release[i] != '\0'; i++) {
		if (i >= UPS_LIMIT_RELEASE_LEN)
			return false;
		if (!is_lower(release[i]) && !is_digit(release[i]))
			return false;
	}
	return true;
}

const char *ups_release_product(const char *release)
{
	size_t i;

	if (!release_is_wellformed(release))
		return NULL;
	for (i = 0; i < sizeof(known_releases) / sizeof(known_releases[0]); i++)
		if (strcmp(release, known_releases[i].name) == 0)
			return known_releases[i].product;
	return NULL;
}

bool ups_release_is_valid(const char *release)
{
	return ups_release_product(release) != NULL;
}

bool ups_arch_is_valid(const char *arch)
{
	size_t i;

	if (arch == NULL)
		return false;
	for (i = 0; i < sizeof(known_arches) / sizeof(known_arches[0]); i++) {
		if (strcmp(arch, known_arches[i]) == 0)
			return true;
	}
	return false;
}

/* Copies s[0..n) into dst of size cap as a string; false if it won't fit. */
static bool copy_part(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

int ups_binary_version_parse(const char *s, struct ups_binary_version *out,
                             char *err, size_t errlen)
{
	struct ups_binary_version bv;
	char version[UPS_LIMIT_VERSION_LEN + 1];
	const char *arch_dash = NULL, *release_dash = NULL;
	size_t len, i;
	int rv;

	memset(&bv, 0, sizeof(bv));
	if (s == NULL || s[0] == '\0')
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version: empty");
	len = strnlen(s, UPS_LIMIT_BINARY_VERSION_LEN + 1);
	if (len > UPS_LIMIT_BINARY_VERSION_LEN)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version: longer than %d",
		                UPS_LIMIT_BINARY_VERSION_LEN);

	/* The version may itself contain '-' (a tag), so split from the
	 * right: the last '-' starts the arch, the one before the release. */
	for (i = len; i > 0; i--) {
		if (s[i - 1] != '-')
			continue;
		if (arch_dash == NULL) {
			arch_dash = s + i - 1;
		} else {
			release_dash = s + i - 1;
			break;
		}
	}
	if (release_dash == NULL)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version: expected "
		                "<version>-<release>-<arch>");

	if (!copy_part(bv.arch, sizeof(bv.arch), arch_dash + 1,
	               (size_t)(s + len - arch_dash - 1)) ||
	    !ups_arch_is_valid(bv.arch))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version: unknown arch");
	if (!copy_part(bv.release, sizeof(bv.release), release_dash + 1,
	               (size_t)(arch_dash - release_dash - 1)) ||
	    !release_is_wellformed(bv.release))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version: bad release");
	if (!copy_part(version, sizeof(version), s, (size_t)(release_dash - s)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "version: longer than %d",
		                UPS_LIMIT_VERSION_LEN);
	rv = ups_version_parse(version, &bv.version, err, errlen);
	if (rv != 0)
		return rv;
	if (out != NULL)
		*out = bv;
	return 0;
}

int ups_binary_version_format(const struct ups_binary_version *bv, char *buf,
                              size_t len)
{
	char version[UPS_LIMIT_VERSION_LEN + 1];
	int n, rv;

	rv = ups_version_format(&bv->version, version, sizeof(version));
	if (rv != 0) {
		if (len > 0)
			buf[0] = '\0';
		return rv;
	}
	n = snprintf(buf, len, "%s-%.*s-%.*s", version,
	             (int)strnlen(bv->release, sizeof(bv->release)),
	             bv->release, (int)strnlen(bv->arch, sizeof(bv->arch)),
	             bv->arch);
	if (n < 0 || (size_t)n >= len)
		return UPS_ERR_TOO_LARGE;
	return 0;
}

int ups_binary_version_check(const char *s, struct ups_binary_version *out,
                             char *err, size_t errlen)
{
	struct ups_binary_version bv;
	char canon[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	int rv;

	rv = ups_binary_version_parse(s, &bv, err, errlen);
	if (rv != 0)
		return rv;
	/* The parser takes any well-formed release (the CLI reads names it
	 * has not heard of and lets upstaged refuse them); a name that goes
	 * into a path, a row or metadata must be one the table knows. */
	if (!ups_release_is_valid(bv.release))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version: unknown release \"%s\"; known "
		                "releases:" UPS_RELEASE_NAMES_TEXT,
		                bv.release);
	/* The parser checks the arch today; asking again keeps this the one
	 * place that promises it, whatever the parser learns to accept. */
	if (!ups_arch_is_valid(bv.arch))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "binary version: unknown arch");
	if (ups_binary_version_format(&bv, canon, sizeof(canon)) != 0 ||
	    strcmp(canon, s) != 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "not in canonical form (%s)", canon);
	if (out != NULL)
		*out = bv;
	return 0;
}

int ups_binary_version_compare(const struct ups_binary_version *a,
                               const struct ups_binary_version *b)
{
	int c = ups_version_compare(&a->version, &b->version);

	if (c != 0)
		return c;
	c = strncmp(a->release, b->release, sizeof(a->release));
	if (c == 0)
		c = strncmp(a->arch, b->arch, sizeof(a->arch));
	return (c > 0) - (c < 0);
}
