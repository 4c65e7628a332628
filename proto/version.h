/* Juju versions (binary versions are in proto/binary.h, the upgrade
 * auto-selection rule in proto/autoselect.h).
 *
 * Grammar (Juju's): major.minor[.patch[.build]] or
 * major.minor-tag[patch][.build], tag = [a-z]+, numbers decimal of 1 to
 * 9 digits with leading zeros allowed and numeric ("01.0.0" == "1.0.0")
 * but counted ("0000000001.0" has ten digits and is refused, as in Juju).
 * "major.minor" alone means patch 0. Examples: 2.9.1, 2.9.1.3, 2.9, 3.0-rc2,
 * 2.9-beta1.1.
 *
 * Order: major, minor, then tag (no tag ranks above any tag; tags compare
 * as strings), then patch, then build. */
#ifndef UPSTAGE_PROTO_VERSION_H
#define UPSTAGE_PROTO_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

/* Most digits in one number of a version (Juju's \d{1,9}). */
#define UPS_VERSION_NUMBER_DIGITS 9

struct ups_version {
	uint32_t major;
	uint32_t minor;
	char tag[UPS_LIMIT_VERSION_TAG_LEN + 1]; /* "" when stable */
	uint32_t patch;
	uint32_t build;
};

/* Parses all of s. Returns 0 or UPS_ERR_BAD_REQUEST (err says why): empty,
 * longer than UPS_LIMIT_VERSION_LEN, bad character, a number of more than
 * UPS_VERSION_NUMBER_DIGITS digits, tag longer than
 * UPS_LIMIT_VERSION_TAG_LEN, trailing text. */
int ups_version_parse(const char *s, struct ups_version *out, char *err,
                      size_t errlen);

/* Canonical form: "M.m.P" or "M.m-tagP", then ".B" when build > 0.
 * Returns 0, or UPS_ERR_TOO_LARGE if buf is too small (still
 * NUL-terminated when len > 0). UPS_LIMIT_VERSION_LEN + 1 always fits. */
int ups_version_format(const struct ups_version *v, char *buf, size_t len);

/* <0, 0 or >0 as a orders before, equal to, or after b. */
int ups_version_compare(const struct ups_version *a,
                        const struct ups_version *b);

static inline bool ups_version_is_stable(const struct ups_version *v)
{
	return v->tag[0] == '\0';
}

#endif
