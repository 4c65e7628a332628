/* Auto-selection of the upgrade target (DESIGN.md "Version rules"), one pure
 * function so the CLI, upstaged and the tests all agree. */
#ifndef UPSTAGE_PROTO_AUTOSELECT_H
#define UPSTAGE_PROTO_AUTOSELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/version.h"

/* X(ID, name): the rule that chose, as answers name it. */
#define UPS_AUTOSELECT_RULES(X)                                                \
	X(CLIENT_VERSION, "client-version") /* 1: across a major */            \
	X(NEXT_MINOR, "next-minor")         /* 2a */                           \
	X(NEXT_PATCH, "next-patch")         /* 2b */

enum ups_autoselect_rule {
#define UPS_AUTOSELECT_ENUM(id, name) UPS_AUTOSELECT_##id,
	UPS_AUTOSELECT_RULES(UPS_AUTOSELECT_ENUM)
#undef UPS_AUTOSELECT_ENUM
};

/* "next-minor" etc.; "unknown" out of range. Static string. */
const char *ups_autoselect_rule_name(enum ups_autoselect_rule rule);

/* Whether the rules look at v at all for client and agent (borrowed):
 * across a major every available version (to find C); else the stable
 * ones whose major.minor does not exceed C's. */
bool ups_autoselect_considers(const struct ups_version *client,
                              const struct ups_version *agent,
                              const struct ups_version *v);

/* ups_version_autoselect(), also saying which rule chose (*rule may be
 * NULL; set only on success). */
int ups_version_select(const struct ups_version *client,
                       const struct ups_version *agent,
                       const struct ups_version *available, size_t n,
                       struct ups_version *out, enum ups_autoselect_rule *rule,
                       char *err, size_t errlen);

/* Client version C, current agent version G, available versions A[n]:
 *  1. G.major != C.major: choose C; it must be in A, else
 *     UPS_ERR_NO_SUITABLE_VERSION.
 *  2. Else among stable versions of A with major.minor <= C's:
 *     a. those with G.major and G.minor + 1: the newest of them;
 *     b. else the smallest version > G with G's major.minor;
 *     c. else UPS_ERR_NO_SUITABLE_VERSION,
 *        "no more recent supported versions available".
 * client, agent and available[0..n) are borrowed for the call; the choice
 * is copied to *out. Returns 0 with *out set, or the error with err filled
 * in and *out untouched. */
int ups_version_autoselect(const struct ups_version *client,
                           const struct ups_version *agent,
                           const struct ups_version *available, size_t n,
                           struct ups_version *out, char *err, size_t errlen);

#endif
