/* Command-line words shared by upstage-machine and upstage-fleet:
 * durations ("90s", "500ms", "5m", "1h", or plain seconds), probabilities
 * (0..1), counts, and the one "--flag VALUE" walk both programs use. */
#ifndef UPSTAGE_CONTRIB_MACHINE_MOPTS_H
#define UPSTAGE_CONTRIB_MACHINE_MOPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

/* A duration into *ms; 0, or -1 when s is not one (or over a day). */
int mopt_duration_ms(const char *s, uint64_t *ms);

/* A probability 0..1 into *p; 0 or -1. */
int mopt_probability(const char *s, double *p);

/* An unsigned integer in [min, max] into *out; 0 or -1. */
int mopt_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* One option: --name VALUE (or --name=VALUE). value receives the
 * pointer into argv. */
struct mopt {
	const char *name;
	const char **value; /* borrowed from argv */
	const char *help;
};

/* Walks argv[1..argc): every argument must be one of opts (NULL-name
 * terminated). Returns 0, 1 for --help (usage printed to stdout), or -1
 * with the problem printed to stderr. prog names the program. */
int mopt_parse(int argc, char **argv, const struct mopt *opts, const char *prog,
               const char *synopsis);

/* The options both programs take: where and how to log in, the version
 * they start at, logging and reconnect backoff. Fill the raw strings
 * through MOPT_COMMON(c) in an option table, then mopt_common_check(). */
struct mopt_common {
	const char *agent, *token, *token_file, *ca_cert, *ca_file, *version,
	    *log_level, *backoff_initial, *backoff_max;
	/* Results of mopt_common_check(). */
	const char *download_ca; /* ca_file, else ca_cert, else NULL */
	char token_buf[UPS_LIMIT_TOKEN_LEN + 1];
	char version_buf[UPS_LIMIT_VERSION_LEN + 1]; /* canonical */
	uint64_t backoff_initial_ms;
	uint64_t backoff_max_ms;
};

#define MOPT_COMMON(c)                                                         \
	{"agent", &(c)->agent,                                                 \
	 "URL of upstaged or the relay (ws:// or wss://)"},                    \
	    {"token", &(c)->token, "machine token"},                           \
	    {"token-file", &(c)->token_file,                                   \
	     "file holding the machine token"},                                \
	    {"ca-cert", &(c)->ca_cert, "PEM CA bundle to verify wss://"},      \
	    {"ca-file", &(c)->ca_file,                                         \
	     "PEM CA bundle to verify https:// downloads (default: the "       \
	     "--ca-cert bundle, else the system's)"},                          \
	    {"version", &(c)->version, "the agent version installed now"},     \
	    {"log-level", &(c)->log_level, "error, warn, info or debug"},      \
	    {"backoff-initial-ms", &(c)->backoff_initial,                      \
	     "first reconnect delay ceiling (default 250)"},                   \
	{                                                                      \
		"backoff-max-ms", &(c)->backoff_max,                           \
		    "largest reconnect delay (default 10000)"                  \
	}

/* Sets c's defaults (log_level: the program's). */
void mopt_common_init(struct mopt_common *c, const char *log_level);

/* Checks c (--agent and --version required), reads the token file, sets
 * the log threshold and download_ca. 0, or -1 with the problem printed
 * to stderr. */
int mopt_common_check(struct mopt_common *c, const char *prog);

#endif
