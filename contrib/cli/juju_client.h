/* The local Juju client: the version `juju version` prints, which
 * auto-selection starts from when the operator gives no --client-version
 * (sync-agent-binary, upgrade-controller, upgrade-model). */
#ifndef UPSTAGE_CLI_JUJU_CLIENT_H
#define UPSTAGE_CLI_JUJU_CLIENT_H

#include <stddef.h>

#include "proto/version.h"

/* `juju version` prints one short line; more is not read. */
#define JUJU_CLIENT_OUTPUT_MAX 256

/* Runs `juju version` (the first juju on $PATH, no shell), waits for it
 * and parses the version it prints into *v. 0; UPS_ERR_NOT_FOUND when no
 * juju is on $PATH; UPS_ERR_IO when it cannot be run or fails;
 * UPS_ERR_BAD_REQUEST when its output holds no version. Why goes into
 * err. Blocks (a CLI runs it before its loop starts). */
int juju_client_version(struct ups_version *v, char *err, size_t errlen);

#endif
