/* upstage-fleet: command line, then fleet_run() (fleet.h). */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/fleet/fleet.h"
#include "contrib/machine/mopts.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/log.h"
#include "proto/machine.h"
#include "proto/net/auth.h"
#include "proto/version.h"

#define FLEET_EXIT_USAGE 2
#define FLEET_MACHINES_MAX 19000

/* Splits a comma list (modified in place) into out[], checking each. */
static int fleet_list(char *s, const char **out, size_t *n,
                      bool (*valid)(const char *))
{
	char *save = NULL, *tok;

	*n = 0;
	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n == FLEET_GROUPS_MAX || !valid(tok))
			return -1;
		out[(*n)++] = tok;
	}
	return *n ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *agent = NULL, *token = NULL, *token_file = NULL,
	           *machines = NULL, *releases = NULL, *arches = NULL,
	           *version = NULL, *prefix = "m-", *work = "0",
	           *fd = "0", *fv = "0", *fh = "0", *fc = "0", *fs = "0",
	           *seed = "1", *report = NULL, *ca = NULL, *level = "warn",
	           *maxconn = "512", *bo_initial = "250", *bo_max = "10000";
	const struct mopt opts[] = {
	    {"agent", &agent, "URL of upstaged or the relay"},
	    {"token", &token, "machine token"},
	    {"token-file", &token_file, "file holding the machine token"},
	    {"ca-cert", &ca, "PEM CA bundle to verify wss://"},
	    {"machines", &machines, "how many machines (1..19000)"},
	    {"release", &releases, "releases, comma-separated (focal,jammy)"},
	    {"arch", &arches, "arches, comma-separated (amd64,arm64)"},
	    {"version", &version, "the version every machine runs at start"},
	    {"id-prefix", &prefix, "machine ids are PREFIX<n> (default m-)"},
	    {"work-ms", &work, "what a restart or a health check takes (ms)"},
	    {"fail-download", &fd, "probability of a download error"},
	    {"fail-verify", &fv, "probability of a verification failure"},
	    {"fail-health", &fh, "probability of never becoming healthy"},
	    {"crash", &fc, "probability of a crash mid-order"},
	    {"silent", &fs, "probability of going silent on an order"},
	    {"seed", &seed, "seed of the fault draws (default 1)"},
	    {"report", &report, "file getting one JSON line per event"},
	    {"max-connecting", &maxconn, "dials in flight at once (512)"},
	    {"backoff-initial-ms", &bo_initial,
	     "first reconnect delay ceiling (default 250)"},
	    {"backoff-max-ms", &bo_max,
	     "largest reconnect delay (default 10000)"},
	    {"log-level", &level, "error, warn (default), info or debug"},
	    {NULL, NULL, NULL},
	};
	char tok[UPS_LIMIT_TOKEN_LEN + 1], canon[UPS_LIMIT_VERSION_LEN + 1];
	char err[UPS_ERRMSG_MAX];
	struct fleet_config cfg;
	struct ups_version v;
	enum ups_log_level lv;
	uint64_t n;
	int rv;

	rv = mopt_parse(argc, argv, opts, "upstage-fleet",
	                "--agent URL --token T --machines N --release R1[,R2] "
	                "--arch A1[,A2] --version V [options]");
	if (rv)
		return rv > 0 ? 0 : FLEET_EXIT_USAGE;
	memset(&cfg, 0, sizeof(cfg));
	if (!agent || !machines || !releases || !arches || !version) {
		fprintf(stderr, "upstage-fleet: --agent, --machines, --release, "
		                "--arch and --version are required\n");
		return FLEET_EXIT_USAGE;
	}
	if (mopt_uint(machines, 1, FLEET_MACHINES_MAX, &n) ||
	    fleet_list((char *)releases, cfg.releases, &cfg.nreleases,
	               ups_release_is_valid) ||
	    fleet_list((char *)arches, cfg.arches, &cfg.narches,
	               ups_arch_is_valid) ||
	    ups_version_parse(version, &v, err, sizeof(err)) ||
	    ups_version_format(&v, canon, sizeof(canon)) ||
	    ups_log_level_parse(level, &lv)) {
		fprintf(stderr, "upstage-fleet: bad --machines, --release, "
		                "--arch, --version or --log-level\n");
		return FLEET_EXIT_USAGE;
	}
	cfg.machines = (unsigned)n;
	if (mopt_uint(work, 0, 3600000, &cfg.work_ms) ||
	    mopt_probability(fd, &cfg.p_download) ||
	    mopt_probability(fv, &cfg.p_verify) ||
	    mopt_probability(fh, &cfg.p_health) ||
	    mopt_probability(fc, &cfg.p_crash) ||
	    mopt_probability(fs, &cfg.p_silent) ||
	    mopt_uint(seed, 0, UINT64_MAX, &cfg.seed) ||
	    mopt_uint(maxconn, 1, 10000, &n) ||
	    mopt_uint(bo_initial, 10, 600000, &cfg.backoff_initial_ms) ||
	    mopt_uint(bo_max, 10, 600000, &cfg.backoff_max_ms)) {
		fprintf(stderr, "upstage-fleet: bad --work-ms, probability, "
		                "--seed, --max-connecting or backoff\n");
		return FLEET_EXIT_USAGE;
	}
	cfg.max_connecting = (unsigned)n;
	/* The longest id must stay a machine id. */
	{
		char probe[UPS_LIMIT_MACHINE_ID_LEN + 16];

		snprintf(probe, sizeof(probe), "%s%u", prefix,
		         cfg.machines - 1);
		if (!ups_machine_id_is_valid(probe)) {
			fprintf(stderr, "upstage-fleet: bad --id-prefix\n");
			return FLEET_EXIT_USAGE;
		}
	}
	tok[0] = '\0';
	if (token_file) {
		if (ups_token_file_read(token_file, tok, sizeof(tok), err,
		                        sizeof(err))) {
			fprintf(stderr, "upstage-fleet: %s\n", err);
			return FLEET_EXIT_USAGE;
		}
	} else if (token) {
		snprintf(tok, sizeof(tok), "%s", token);
	}
	ups_log_threshold = lv;
	cfg.agent_url = agent;
	cfg.token = tok;
	cfg.ca_cert = ca;
	cfg.version = canon;
	cfg.id_prefix = prefix;
	cfg.report_path = report;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = fleet_run(&cfg);
	curl_global_cleanup();
	return rv;
}
