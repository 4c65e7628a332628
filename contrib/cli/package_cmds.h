/* make-simplestreams: packages locally built agent binaries as
 * juju-<version>-<release>-<arch>.tgz and writes the simplestreams tree
 * Juju reads as a local source (DIR/tools/streams/v1/..., tarballs under
 * DIR/tools/<stream>/), with the writer upstaged publishes with
 * (proto/simplestreams.h), merging into what DIR already holds. */
#ifndef UPSTAGE_CLI_PACKAGE_CMDS_H
#define UPSTAGE_CLI_PACKAGE_CMDS_H

#include <stddef.h>

#include "contrib/cli/cli.h"

/* Indexes into ctx->opts, in the order of the option table in
 * commands.c. */
enum pcmd_opt {
	PCMD_PLATFORM, /* repeatable: ctx->repeated */
	PCMD_VERSION,
	PCMD_BUILD_NUMBER,
	PCMD_STREAM,
	PCMD_OUT,
	PCMD_BIN_DIR,
};

/* A Go-style "OS/ARCH" pair as Juju names it: release (OS type) and
 * arch into the buffers. 0, or -1 when the pair is not known. */
int pcmd_platform(const char *pair, size_t pairlen, char *release,
                  size_t rlen, char *arch, size_t alen);

int pcmd_make(struct cli_ctx *ctx);

#endif
