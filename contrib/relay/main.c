/* upstage-relay: command line, loop, signals. See relay.h. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/relay/relay.h"
#include "proto/errors.h"
#include "proto/log.h"
#include "proto/net/addr.h"

#define MOD "relay"

/* Seconds of silence before lws pings a peer (and hangs up after
 * 2 * this + 10 without an answer). */
#define RELAY_PING_INTERVAL 30

struct relay_opts {
	char host[UPS_ADDR_HOST_LEN + 1];
	int port;
	const char *auth_file;
	const char *tls_cert;
	const char *tls_key;
	struct gate_config limits;
};

struct relay_main {
	struct relay relay;
	uv_signal_t sigint;
	uv_signal_t sigterm;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: upstage-relay --listen ADDR:PORT --auth-file FILE\n"
	        "                     [--tls-cert FILE --tls-key FILE]\n"
	        "                     [--log-level error|warn|info|debug]\n"
	        "                     [--max-sessions N] "
	        "[--max-pending-sessions N]\n"
	        "                     [--login-timeout SECS] [--stuck-timeout "
	        "SECS]\n"
	        "\n"
	        "The controller-side websocket endpoint: upstaged links in as\n"
	        "role \"plugin\"; clients and machines log in and their\n"
	        "traffic is forwarded to it. The auth file holds one\n"
	        "\"ROLE TOKEN\" pair a line. PORT 0 picks a free port.\n"
	        "\n"
	        "Limits (README.md, \"Limits and what happens at them\"):\n"
	        "  --max-sessions N          client and machine connections,\n"
	        "                            logged in or not (default %u)\n"
	        "  --max-pending-sessions N  connections not logged in; more\n"
	        "                            close the oldest (default %u)\n"
	        "  --login-timeout SECS      to log in (default %u)\n"
	        "  --stuck-timeout SECS      a client that reads none of its\n"
	        "                            answers is dropped (default %u)\n",
	        GATE_MAX_SESSIONS_DEFAULT, GATE_MAX_PENDING_DEFAULT,
	        GATE_LOGIN_TIMEOUT_S_DEFAULT, GATE_STUCK_TIMEOUT_S_DEFAULT);
}

/* A whole number in [min, max], or -1 after saying what is wrong. */
static long parse_bounded(const char *flag, const char *arg, long min,
                          long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max) {
		fprintf(stderr,
		        "upstage-relay: --%s: expected a whole number from "
		        "%ld to %ld, got \"%s\"\n",
		        flag, min, max, arg);
		return -1;
	}
	return v;
}

static int parse_args(int argc, char **argv, struct relay_opts *o)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"auth-file", required_argument, NULL, 'a'},
	    {"tls-cert", required_argument, NULL, 'c'},
	    {"tls-key", required_argument, NULL, 'k'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"max-sessions", required_argument, NULL, 'S'},
	    {"max-pending-sessions", required_argument, NULL, 'P'},
	    {"login-timeout", required_argument, NULL, 'T'},
	    {"stuck-timeout", required_argument, NULL, 'K'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char err[UPS_ERRMSG_MAX];
	bool have_listen = false;
	long v;
	int ch;

	gate_config_default(&o->limits);
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (ups_addr_parse(optarg, o->host, sizeof(o->host),
			                   &o->port, err, sizeof(err)) != 0) {
				fprintf(stderr, "upstage-relay: --listen: %s\n",
				        err);
				return 2;
			}
			have_listen = true;
			break;
		case 'a':
			o->auth_file = optarg;
			break;
		case 'c':
			o->tls_cert = optarg;
			break;
		case 'k':
			o->tls_key = optarg;
			break;
		case 'L':
			if (ups_log_level_parse(optarg, &ups_log_threshold)) {
				fprintf(stderr,
				        "upstage-relay: --log-level: "
				        "unknown level %s\n",
				        optarg);
				return 2;
			}
			break;
		case 'S':
			if ((v = parse_bounded("max-sessions", optarg, 1,
			                       100000)) < 0)
				return 2;
			o->limits.max_sessions = (unsigned)v;
			break;
		case 'P':
			if ((v = parse_bounded("max-pending-sessions", optarg,
			                       1, 100000)) < 0)
				return 2;
			o->limits.max_pending = (unsigned)v;
			break;
		case 'T':
			if ((v = parse_bounded("login-timeout", optarg, 1,
			                       3600)) < 0)
				return 2;
			o->limits.login_timeout_ms = (uint64_t)v * 1000;
			break;
		case 'K':
			if ((v = parse_bounded("stuck-timeout", optarg, 1,
			                       3600)) < 0)
				return 2;
			o->limits.stuck_timeout_ms = (uint64_t)v * 1000;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !have_listen || !o->auth_file) {
		fprintf(stderr, "upstage-relay: --listen and --auth-file are "
		                "required\n");
		usage(stderr);
		return 2;
	}
	if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
		fprintf(stderr, "upstage-relay: --tls-cert and --tls-key go "
		                "together\n");
		return 2;
	}
	return -1;
}

static void on_close_nothing(uv_handle_t *h)
{
	(void)h;
}

/* Each connection is a socket: the soft limit (often 1024) would refuse
 * connections long before max-sessions. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		LOG_WARN(MOD, "cannot raise the open-files limit: %s",
		         strerror(errno));
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct relay_main *m = sig->data;

	LOG_INFO(MOD, "signal %d: shutting down", signum);
	relay_stop(&m->relay);
	uv_close((uv_handle_t *)&m->sigint, on_close_nothing);
	uv_close((uv_handle_t *)&m->sigterm, on_close_nothing);
	ups_ws_begin_destroy(&m->relay.ws);
}

int main(int argc, char **argv)
{
	static struct relay_main m; /* large (bucket table): not on stack */
	struct relay_opts o = {0};
	struct ups_ws_config cfg = {0};
	char err[UPS_ERRMSG_MAX];
	uv_loop_t loop;
	int rv;

	rv = parse_args(argc, argv, &o);
	if (rv >= 0)
		return rv;
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (ups_auth_load(&m.relay.auth, o.auth_file, err, sizeof(err))) {
		fprintf(stderr, "upstage-relay: %s: %s\n", o.auth_file, err);
		return 1;
	}
	if (uv_loop_init(&loop)) {
		fprintf(stderr, "upstage-relay: cannot create the loop\n");
		goto err_free_auth;
	}
	/* The context first: when it fails it runs the loop to tear itself
	 * down, which returns only while nothing else is active. */
	ups_ws_init_logging();
	cfg.loop = &loop;
	cfg.protocols = relay_protocols;
	cfg.user = &m.relay;
	cfg.listen_host = o.host;
	cfg.listen_port = o.port;
	cfg.tls_cert = o.tls_cert;
	cfg.tls_key = o.tls_key;
	cfg.ping_interval = RELAY_PING_INTERVAL;
	if (ups_ws_create(&m.relay.ws, &cfg, err, sizeof(err))) {
		fprintf(stderr, "upstage-relay: %s\n", err);
		goto err_close_loop;
	}
	/* No connection is accepted before uv_run(): the limits and the
	 * signals can come after the context. */
	if (relay_init(&m.relay, &loop, &o.limits)) {
		fprintf(stderr,
		        "upstage-relay: cannot start the sweep timer\n");
		goto err_destroy_ws;
	}
	/* uv_signal_init cannot fail on Linux; starting can. */
	uv_signal_init(&loop, &m.sigint);
	uv_signal_init(&loop, &m.sigterm);
	m.sigint.data = m.sigterm.data = &m;
	if (uv_signal_start(&m.sigint, on_signal, SIGINT) ||
	    uv_signal_start(&m.sigterm, on_signal, SIGTERM)) {
		fprintf(stderr, "upstage-relay: cannot install signals\n");
		goto err_close_signals;
	}
	printf("listening %s://%s:%d\n", o.tls_cert ? "wss" : "ws", o.host,
	       m.relay.ws.port);
	fflush(stdout);

	uv_run(&loop, UV_RUN_DEFAULT);
	ups_ws_finish_destroy(&m.relay.ws);
	ups_auth_free(&m.relay.auth);
	rv = uv_loop_close(&loop);
	if (rv) {
		LOG_ERROR(MOD, "handles left open at exit: %s",
		          uv_strerror(rv));
		return 1;
	}
	return 0;

err_close_signals:
	uv_close((uv_handle_t *)&m.sigint, on_close_nothing);
	uv_close((uv_handle_t *)&m.sigterm, on_close_nothing);
	relay_stop(&m.relay);
err_destroy_ws:
	ups_ws_finish_destroy(&m.relay.ws);
err_close_loop:
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
err_free_auth:
	ups_auth_free(&m.relay.auth);
	return 1;
}
