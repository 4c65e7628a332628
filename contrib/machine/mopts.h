/* Command-line words shared by upstage-machine and upstage-fleet:
 * durations ("90s", "500ms", "5m", "1h", or plain seconds), probabilities
 * (0..1), counts, and the one "--flag VALUE" walk both programs use. */
#ifndef UPSTAGE_CONTRIB_MACHINE_MOPTS_H
#define UPSTAGE_CONTRIB_MACHINE_MOPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
int mopt_parse(int argc, char **argv, const struct mopt *opts,
               const char *prog, const char *synopsis);

#endif
