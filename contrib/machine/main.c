/* upstage-machine: command line, then machine_run() (machine.h). */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "contrib/machine/machine.h"
#include "contrib/machine/mopts.h"
#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/log.h"
#include "proto/machine.h"
#include "proto/net/auth.h"
#include "proto/version.h"

#define MACHINE_EXIT_USAGE 2

int main(int argc, char **argv)
{
	const char *agent = NULL, *token = NULL, *token_file = NULL,
	           *id = NULL, *dir = NULL, *release = NULL, *arch = NULL,
	           *version = NULL, *restart = NULL, *health = NULL,
	           *health_timeout = "30s", *ca = NULL, *level = "info",
	           *bo_initial = "250", *bo_max = "10000";
	const struct mopt opts[] = {
	    {"agent", &agent, "URL of upstaged or the relay (ws:// or wss://)"},
	    {"token", &token, "machine token"},
	    {"token-file", &token_file, "file holding the machine token"},
	    {"ca-cert", &ca, "PEM CA bundle to verify wss://"},
	    {"machine-id", &id, "this machine's id ([a-z0-9-], e.g. 0, 12)"},
	    {"data-dir", &dir, "Juju's data directory (tools/ lives there)"},
	    {"release", &release, "series or OS (focal, ubuntu)"},
	    {"arch", &arch, "amd64, arm64, ppc64el, s390x or riscv64"},
	    {"version", &version, "the agent version installed now"},
	    {"restart-cmd", &restart,
	     "shell command restarting the agent after a switch"},
	    {"health-cmd", &health,
	     "shell command: exit 0 when the agent is healthy"},
	    {"health-timeout", &health_timeout,
	     "how long the health command may take to pass (default 30s)"},
	    {"backoff-initial-ms", &bo_initial,
	     "first reconnect delay ceiling (default 250)"},
	    {"backoff-max-ms", &bo_max,
	     "largest reconnect delay (default 10000)"},
	    {"log-level", &level, "error, warn, info (default) or debug"},
	    {NULL, NULL, NULL},
	};
	char tok[UPS_LIMIT_TOKEN_LEN + 1], canon[UPS_LIMIT_VERSION_LEN + 1];
	char err[UPS_ERRMSG_MAX];
	struct machine_config cfg;
	struct ups_version v;
	enum ups_log_level lv;
	uint64_t n;
	int rv;

	rv = mopt_parse(argc, argv, opts, "upstage-machine",
	                "--agent URL --token T --machine-id ID --data-dir DIR "
	                "--release R --arch A --version V [options]");
	if (rv)
		return rv > 0 ? 0 : MACHINE_EXIT_USAGE;
	memset(&cfg, 0, sizeof(cfg));
	if (!agent || !id || !dir || !release || !arch || !version) {
		fprintf(stderr, "upstage-machine: --agent, --machine-id, "
		                "--data-dir, --release, --arch and --version "
		                "are required\n");
		return MACHINE_EXIT_USAGE;
	}
	if (!ups_machine_id_is_valid(id) || !ups_release_is_valid(release) ||
	    !ups_arch_is_valid(arch) ||
	    ups_version_parse(version, &v, err, sizeof(err)) ||
	    ups_version_format(&v, canon, sizeof(canon)) ||
	    ups_log_level_parse(level, &lv)) {
		fprintf(stderr, "upstage-machine: bad --machine-id, --release, "
		                "--arch, --version or --log-level\n");
		return MACHINE_EXIT_USAGE;
	}
	tok[0] = '\0';
	if (token_file) {
		if (ups_token_file_read(token_file, tok, sizeof(tok), err,
		                        sizeof(err))) {
			fprintf(stderr, "upstage-machine: %s\n", err);
			return MACHINE_EXIT_USAGE;
		}
	} else if (token) {
		snprintf(tok, sizeof(tok), "%s", token);
	}
	if (mopt_duration_ms(health_timeout, &cfg.health_timeout_ms) ||
	    cfg.health_timeout_ms == 0 ||
	    mopt_uint(bo_initial, 10, 600000, &cfg.backoff_initial_ms) ||
	    mopt_uint(bo_max, 10, 600000, &n)) {
		fprintf(stderr, "upstage-machine: bad --health-timeout or "
		                "backoff\n");
		return MACHINE_EXIT_USAGE;
	}
	cfg.backoff_max_ms = n;
	ups_log_threshold = lv;
	cfg.agent_url = agent;
	cfg.token = tok;
	cfg.ca_cert = ca;
	cfg.machine_id = id;
	cfg.data_dir = dir;
	cfg.release = release;
	cfg.arch = arch;
	cfg.version = canon;
	cfg.restart_cmd = restart;
	cfg.health_cmd = health;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = machine_run(&cfg);
	curl_global_cleanup();
	return rv;
}
