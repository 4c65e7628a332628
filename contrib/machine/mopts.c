/* Command-line words; see mopts.h. */
#include "contrib/machine/mopts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/log.h"
#include "proto/net/auth.h"
#include "proto/version.h"

#define MOPT_DAY_MS (86400ULL * 1000)

int mopt_duration_ms(const char *s, uint64_t *ms)
{
	char *end;
	double v;
	double mult = 1000.0;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		mult = 1.0;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1000.0;
	else if (strcmp(end, "m") == 0)
		mult = 60000.0;
	else if (strcmp(end, "h") == 0)
		mult = 3600000.0;
	else
		return -1;
	if (v * mult > (double)MOPT_DAY_MS)
		return -1;
	*ms = (uint64_t)(v * mult + 0.5);
	return 0;
}

int mopt_probability(const char *s, double *p)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > 1)
		return -1;
	*p = v;
	return 0;
}

int mopt_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void mopt_usage(const struct mopt *opts, const char *prog,
                       const char *synopsis)
{
	printf("Usage: %s %s\n\nOptions:\n", prog, synopsis);
	for (size_t i = 0; opts[i].name; i++)
		printf("  --%s\n      %s\n", opts[i].name, opts[i].help);
	printf("  --help\n      print this help and exit\n");
}

int mopt_parse(int argc, char **argv, const struct mopt *opts, const char *prog,
               const char *synopsis)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *value;
		size_t nlen, k;

		if (strcmp(arg, "--help") == 0) {
			mopt_usage(opts, prog, synopsis);
			return 1;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(stderr, "%s: unexpected argument \"%.64s\"\n",
			        prog, arg);
			return -1;
		}
		arg += 2;
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		for (k = 0; opts[k].name; k++)
			if (strlen(opts[k].name) == nlen &&
			    strncmp(opts[k].name, arg, nlen) == 0)
				break;
		if (!opts[k].name) {
			fprintf(stderr, "%s: unknown option --%.*s\n", prog,
			        (int)(nlen > 64 ? 64 : nlen), arg);
			return -1;
		}
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			fprintf(stderr, "%s: --%s needs a value\n", prog,
			        opts[k].name);
			return -1;
		}
		*opts[k].value = value;
	}
	return 0;
}

void mopt_common_init(struct mopt_common *c, const char *log_level)
{
	memset(c, 0, sizeof(*c));
	c->log_level = log_level;
	c->backoff_initial = "250";
	c->backoff_max = "10000";
}

int mopt_common_check(struct mopt_common *c, const char *prog)
{
	char err[UPS_ERRMSG_MAX];
	struct ups_version v;
	enum ups_log_level lv;

	if (!c->agent || !c->version) {
		fprintf(stderr, "%s: --agent and --version are required\n",
		        prog);
		return -1;
	}
	if (ups_version_parse(c->version, &v, err, sizeof(err)) ||
	    ups_version_format(&v, c->version_buf, sizeof(c->version_buf)) ||
	    ups_log_level_parse(c->log_level, &lv) ||
	    mopt_uint(c->backoff_initial, 10, 600000, &c->backoff_initial_ms) ||
	    mopt_uint(c->backoff_max, 10, 600000, &c->backoff_max_ms)) {
		fprintf(stderr, "%s: bad --version, --log-level or backoff\n",
		        prog);
		return -1;
	}
	c->token_buf[0] = '\0';
	if (c->token_file) {
		if (ups_token_file_read(c->token_file, c->token_buf,
		                        sizeof(c->token_buf), err,
		                        sizeof(err))) {
			fprintf(stderr, "%s: %s\n", prog, err);
			return -1;
		}
	} else if (c->token) {
		if (strlen(c->token) > UPS_LIMIT_TOKEN_LEN) {
			fprintf(stderr, "%s: --token is too long\n", prog);
			return -1;
		}
		snprintf(c->token_buf, sizeof(c->token_buf), "%s", c->token);
	}
	/* upstaged serves https:// downloads with the certificate of its
	 * wss://, so the websocket's CA is the natural default. */
	c->download_ca = c->ca_file ? c->ca_file : c->ca_cert;
	ups_log_threshold = lv;
	return 0;
}
