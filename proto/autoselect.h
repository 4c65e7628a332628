/* Auto-selection of the upgrade target (DESIGN.md "Version rules"), one pure
 * function so the CLI, upstaged and the tests all agree. */
#ifndef UPSTAGE_PROTO_AUTOSELECT_H
#define UPSTAGE_PROTO_AUTOSELECT_H

#include <stddef.h>

#include "proto/version.h"

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
