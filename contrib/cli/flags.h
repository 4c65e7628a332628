/* The global flags of the upstage CLI: one table that the parser (args.c)
 * reads and help (help.c) lists, so a flag is written down once. Below
 * both: it calls nothing else of the CLI. */
#ifndef UPSTAGE_CLI_FLAGS_H
#define UPSTAGE_CLI_FLAGS_H

#include <stddef.h>

/* Indexes into the table, in the order help lists the flags. */
enum cli_flag_id {
	CLI_FLAG_AGENT,
	CLI_FLAG_TOKEN,
	CLI_FLAG_TOKEN_FILE,
	CLI_FLAG_ROLE,
	CLI_FLAG_CA_CERT,
	CLI_FLAG_JSON,
	CLI_FLAG_DEBUG,
	CLI_FLAG_TIMEOUT,
	CLI_FLAG__COUNT
};

/* A global flag. value is NULL for switches. Static strings. */
struct cli_flag {
	const char *name; /* without the dashes */
	const char *value;
	const char *help;
};

/* The table, indexed by enum cli_flag_id; *n receives its size. Static
 * storage. */
const struct cli_flag *cli_flag_table(size_t *n);

/* The id of the flag whose name is name[0..len) (name borrowed, need not be
 * NUL-terminated), or -1. */
int cli_flag_find(const char *name, size_t len);

#endif
