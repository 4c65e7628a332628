/* upstage-fleet: command line, then fleet_run() (fleet.h). */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/fleet/fleet.h"
#include "contrib/machine/mopts.h"
#include "proto/binary.h"
#include "proto/machine.h"

#define FLEET_EXIT_USAGE   2
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
	struct mopt_common c;
	const char *machines = NULL, *releases = NULL, *arches = NULL,
	           *prefix = "m-", *work = "0", *fd = "0", *fv = "0", *fh = "0",
	           *fc = "0", *fs = "0", *seed = "1", *report = NULL,
	           *maxconn = "512", *model = NULL;
	struct mopt opts[] = {
	    MOPT_COMMON(&c),
	    {"machines", &machines, "how many machines (1..19000)"},
	    {"release", &releases, "releases, comma-separated (focal,jammy)"},
	    {"arch", &arches, "arches, comma-separated (amd64,arm64)"},
	    {"id-prefix", &prefix, "machine ids are PREFIX<n> (default m-)"},
	    {"model", &model, "the machines' model (default controller)"},
	    {"work-ms", &work, "what a restart or a health check takes (ms)"},
	    {"fail-download", &fd, "probability of a download error"},
	    {"fail-verify", &fv, "probability of a verification failure"},
	    {"fail-health", &fh, "probability of never becoming healthy"},
	    {"crash", &fc, "probability of a crash mid-order"},
	    {"silent", &fs, "probability of going silent on an order"},
	    {"seed", &seed, "seed of the fault draws (default 1)"},
	    {"report", &report, "file getting one JSON line per event"},
	    {"max-connecting", &maxconn, "dials in flight at once (512)"},
	    {NULL, NULL, NULL},
	};
	char probe[UPS_LIMIT_MACHINE_ID_LEN + 16];
	struct fleet_config cfg;
	uint64_t n;
	int rv;

	mopt_common_init(&c, "warn");
	rv = mopt_parse(argc, argv, opts, "upstage-fleet",
	                "--agent URL --token T --machines N --release R1[,R2] "
	                "--arch A1[,A2] --version V [options]");
	if (rv)
		return rv > 0 ? 0 : FLEET_EXIT_USAGE;
	if (mopt_common_check(&c, "upstage-fleet"))
		return FLEET_EXIT_USAGE;
	memset(&cfg, 0, sizeof(cfg));
	if (!machines || !releases || !arches ||
	    mopt_uint(machines, 1, FLEET_MACHINES_MAX, &n) ||
	    fleet_list((char *)releases, cfg.releases, &cfg.nreleases,
	               ups_release_is_valid) ||
	    fleet_list((char *)arches, cfg.arches, &cfg.narches,
	               ups_arch_is_valid)) {
		fprintf(stderr,
		        "upstage-fleet: --machines (1..%d), --release "
		        "and --arch are required; check them\n",
		        FLEET_MACHINES_MAX);
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
	    mopt_uint(maxconn, 1, 10000, &n)) {
		fprintf(stderr, "upstage-fleet: bad --work-ms, probability, "
		                "--seed or --max-connecting\n");
		return FLEET_EXIT_USAGE;
	}
	cfg.max_connecting = (unsigned)n;
	/* The longest id must stay a machine id. */
	snprintf(probe, sizeof(probe), "%s%u", prefix, cfg.machines - 1);
	if (!ups_machine_id_is_valid(probe)) {
		fprintf(stderr, "upstage-fleet: bad --id-prefix\n");
		return FLEET_EXIT_USAGE;
	}
	cfg.agent_url = c.agent;
	cfg.token = c.token_buf;
	cfg.ca_cert = c.ca_cert;
	cfg.download_ca = c.download_ca;
	cfg.version = c.version_buf;
	cfg.backoff_initial_ms = c.backoff_initial_ms;
	cfg.backoff_max_ms = c.backoff_max_ms;
	cfg.id_prefix = prefix;
	if (model && !ups_machine_id_is_valid(model)) {
		fprintf(stderr, "upstage-fleet: bad --model (a name of "
		                "[a-z0-9-])\n");
		return FLEET_EXIT_USAGE;
	}
	cfg.model = model;
	cfg.report_path = report;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = fleet_run(&cfg);
	curl_global_cleanup();
	return rv;
}
