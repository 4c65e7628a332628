/* The global flag table; see flags.h. */
#include "contrib/cli/flags.h"

#include <string.h>

#include "contrib/cli/cli.h"

/* Indexed by enum cli_flag_id. */
static const struct cli_flag flags[CLI_FLAG__COUNT] = {
    [CLI_FLAG_AGENT] =
        {"agent", "URL",
         "upstaged or relay to talk to (default " CLI_DEFAULT_AGENT
         "; env UPSTAGE_AGENT)"},
    [CLI_FLAG_TOKEN] = {"token", "TOKEN",
                        "login token (env UPSTAGE_TOKEN; default empty)"},
    [CLI_FLAG_TOKEN_FILE] = {"token-file", "FILE",
                             "read the login token from FILE"},
    [CLI_FLAG_ROLE] =
        {"role", "ROLE",
         "log in as client, machine or plugin (default " CLI_DEFAULT_ROLE ")"},
    [CLI_FLAG_CA_CERT] = {"ca-cert", "FILE",
                          "PEM CA bundle used to verify wss:// servers"},
    [CLI_FLAG_JSON] = {"json", NULL, "print one JSON object per line"},
    [CLI_FLAG_DEBUG] = {"debug", NULL,
                        "log every envelope sent and received to stderr"},
    [CLI_FLAG_TIMEOUT] = {"timeout", "SECS",
                          "deadline for connecting and the request "
                          "(default 30)"},
};

const struct cli_flag *cli_flag_table(size_t *n)
{
	*n = CLI_FLAG__COUNT;
	return flags;
}

int cli_flag_find(const char *name, size_t len)
{
	for (int i = 0; i < CLI_FLAG__COUNT; i++)
		if (strlen(flags[i].name) == len &&
		    memcmp(flags[i].name, name, len) == 0)
			return i;
	return -1;
}
