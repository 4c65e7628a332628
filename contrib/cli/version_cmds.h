/* The version commands: parse-version, compare-versions and
 * select-version. The first two never connect; select-version works
 * offline over --available, or asks upstaged (Versions.Select) to choose
 * among the versions it stores. */
#ifndef UPSTAGE_CLI_VERSION_CMDS_H
#define UPSTAGE_CLI_VERSION_CMDS_H

#include "contrib/cli/cli.h"

/* The accepted version forms, for help and usage errors. */
#define CLI_VERSION_FORMS                                                      \
	"major.minor[.patch[.build]] or major.minor-tag[patch][.build], "      \
	"e.g. 2.9.1, 2.9.1.3, 2.9, 3.0-rc2, 2.9-beta1.1"

/* Most versions --available takes. */
#define CLI_MAX_AVAILABLE 4096

/* Command handlers; each returns an enum cli_exit value. */
int vcmd_parse_version(struct cli_ctx *ctx);
int vcmd_compare_versions(struct cli_ctx *ctx);
int vcmd_select_version(struct cli_ctx *ctx);

#endif
