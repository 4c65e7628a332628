/* upstage-machine: command line, then machine_run() (machine.h). */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "contrib/machine/machine.h"
#include "contrib/machine/mopts.h"
#include "proto/binary.h"
#include "proto/machine.h"

#define MACHINE_EXIT_USAGE 2

int main(int argc, char **argv)
{
	struct mopt_common c;
	const char *id = NULL, *dir = NULL, *release = NULL, *arch = NULL,
	           *restart = NULL, *health = NULL, *health_timeout = "30s",
	           *model = NULL;
	struct mopt opts[] = {
	    MOPT_COMMON(&c),
	    {"machine-id", &id, "this machine's id ([a-z0-9-], e.g. 0, 12)"},
	    {"data-dir", &dir, "Juju's data directory (tools/ lives there)"},
	    {"release", &release, "series or OS (focal, ubuntu)"},
	    {"arch", &arch, "amd64, arm64, ppc64el, s390x or riscv64"},
	    {"model", &model, "the model it belongs to (default controller)"},
	    {"restart-cmd", &restart,
	     "shell command restarting the agent after a switch"},
	    {"health-cmd", &health,
	     "shell command: exit 0 when the agent is healthy"},
	    {"health-timeout", &health_timeout,
	     "how long the health command may take to pass (default 30s)"},
	    {NULL, NULL, NULL},
	};
	struct machine_config cfg;
	int rv;

	mopt_common_init(&c, "info");
	rv = mopt_parse(argc, argv, opts, "upstage-machine",
	                "--agent URL --token T --machine-id ID --data-dir DIR "
	                "--release R --arch A --version V [options]");
	if (rv)
		return rv > 0 ? 0 : MACHINE_EXIT_USAGE;
	if (mopt_common_check(&c, "upstage-machine"))
		return MACHINE_EXIT_USAGE;
	memset(&cfg, 0, sizeof(cfg));
	if (!id || !dir || !release || !arch || !ups_machine_id_is_valid(id) ||
	    !ups_release_is_valid(release) || !ups_arch_is_valid(arch) ||
	    mopt_duration_ms(health_timeout, &cfg.health_timeout_ms) ||
	    cfg.health_timeout_ms == 0) {
		fprintf(stderr, "upstage-machine: --machine-id, --data-dir, "
		                "--release and --arch are required; check "
		                "them and --health-timeout\n");
		return MACHINE_EXIT_USAGE;
	}
	cfg.agent_url = c.agent;
	cfg.token = c.token_buf;
	cfg.ca_cert = c.ca_cert;
	cfg.download_ca = c.download_ca;
	cfg.backoff_initial_ms = c.backoff_initial_ms;
	cfg.backoff_max_ms = c.backoff_max_ms;
	cfg.version = c.version_buf;
	cfg.machine_id = id;
	cfg.data_dir = dir;
	cfg.release = release;
	if (model && !ups_machine_id_is_valid(model)) {
		fprintf(stderr, "upstage-machine: bad --model (a name of "
		                "[a-z0-9-])\n");
		return MACHINE_EXIT_USAGE;
	}
	cfg.model = model;
	cfg.arch = arch;
	cfg.restart_cmd = restart;
	cfg.health_cmd = health;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = machine_run(&cfg);
	curl_global_cleanup();
	return rv;
}
