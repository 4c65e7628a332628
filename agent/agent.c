/* upstaged's start-up, run and shutdown. */
#include "agent/agent.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "agent/config.h"
#include "agent/ingest/upload.h"
#include "agent/net/downloads.h"
#include "agent/net/http.h"
#include "agent/net/link.h"
#include "agent/net/server.h"
#include "agent/publish/publisher.h"
#include "agent/rpc/admin.h"
#include "agent/rpc/binaries.h"
#include "agent/rpc/dispatch.h"
#include "agent/service.h"
#include "agent/rpc/machines.h"
#include "agent/rollout/registry.h"
#include "agent/rollout/rollouts.h"
#include "agent/metrics.h"
#include "agent/net/status_page.h"
#include "agent/rpc/rollouts.h"
#include "agent/rpc/versions.h"
#include "agent/store/store.h"
#include "proto/errors.h"
#include "proto/log.h"
#include "proto/net/auth.h"
#include "proto/net/ws.h"

#define AGENT_EXIT_OK     0
#define AGENT_EXIT_FAILED 1
#define AGENT_EXIT_USAGE  2

/* Per-read buffer of sessions: large enough for a whole envelope. */
#define AGENT_RX_BUFFER (64 * 1024)

struct agent {
	uv_loop_t loop;
	struct config cfg;
	struct ups_auth auth;
	bool have_auth;
	char controller_token[UPS_LIMIT_TOKEN_LEN + 1];
	struct store store;
	bool store_ready;
	struct upload_engine uploads;
	bool uploads_ready;
	struct publisher publisher;
	bool publisher_ready;
	struct http http;
	bool http_ready;
	struct downloads downloads;
	struct dispatch dispatch;
	struct ups_throttle throttle;
	struct admin admin;
	struct binaries binaries;
	struct registry registry;
	bool registry_ready;
	struct machines machines;
	/* The machines facade's registry event, called before the
	 * runner's (agent_machine_changed). */
	void (*machines_changed)(void *data, const struct machine *m);
	void *machines_changed_data;
	struct rollouts rollouts;
	bool rollouts_ready;
	struct hooks hooks;
	bool hooks_ready;
	struct metrics metrics;
	bool metrics_ready;
	struct status_page status_page;
	struct http metrics_http; /* metrics-listen: /metrics alone */
	bool metrics_http_ready;
	struct rollouts_rpc rollouts_rpc;
	struct versions versions;
	struct server server;
	bool server_ready;
	struct ups_ws ws;
	bool ws_ready;
	struct link link;
	bool link_ready;
	uv_signal_t sigint;
	uv_signal_t sigterm;
	uv_signal_t sighup;
	struct service service;
	int argc;
	char **argv; /* borrowed from main(): re-read on SIGHUP */
	bool signals_ready;
	bool stopping;
	struct lws_protocols protocols[2];
};

static uint64_t agent_now_ms(void *user)
{
	(void)user;
	return uv_hrtime() / 1000000;
}

/* What lws keeps per accepted connection: a websocket session (server.c)
 * or the HTTP request in progress (http.c). */
struct agent_pss {
	struct session *session;   /* server.c's slot */
	struct http_request *http; /* http.c's slot */
};

static void agent_set_role(void *user, struct peer *p, enum ups_role role)
{
	struct agent *a = user;

	dispatch_set_role(&a->dispatch, p, role);
}

static unsigned agent_role_count(void *user, enum ups_role role)
{
	struct agent *a = user;

	return role < UPS_ROLE__COUNT ? a->dispatch.sessions[role] : 0;
}

static const char *agent_link_state(void *user)
{
	struct agent *a = user;

	return a->link_ready ? link_state_name(&a->link) : "disabled";
}

/* One protocol serves both vhosts: server reasons go to the server,
 * client reasons to the link. */
static int agent_lws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                              void *user, void *in, size_t len)
{
	struct agent *a;
	struct agent_pss *pss = user;

	/* Plain HTTP on the listening vhost (the link's client vhost has
	 * its own user data). */
	if (http_handles(reason)) {
		a = lws_context_user(lws_get_context(wsi));
		if (a->http_ready && lws_get_vhost(wsi) == a->ws.server)
			return http_callback(&a->http, wsi, reason,
			                     pss ? &pss->http : NULL, in, len);
		/* The private metrics address: /metrics, never a session. */
		if (a->metrics_http_ready && lws_get_vhost(wsi) == a->ws.side) {
			if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
				return 1;
			return http_callback(&a->metrics_http, wsi, reason,
			                     pss ? &pss->http : NULL, in, len);
		}
	}
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLOSED:
		a = lws_context_user(lws_get_context(wsi));
		return server_callback(&a->server, wsi, reason,
		                       pss ? &pss->session : NULL, in, len);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
	case LWS_CALLBACK_CLIENT_RECEIVE:
	case LWS_CALLBACK_CLIENT_WRITEABLE:
	case LWS_CALLBACK_CLIENT_CLOSED:
		a = lws_context_user(lws_get_context(wsi));
		if (!a->link_ready)
			return -1;
		return link_callback(&a->link, wsi, reason, in, len);
	case LWS_CALLBACK_WSI_DESTROY:
		a = lws_context_user(lws_get_context(wsi));
		if (a->link_ready && link_owns(&a->link, wsi))
			return link_callback(&a->link, wsi, reason, in, len);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static void agent_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		LOG_WARN("agent", "cannot raise the open-files limit: %s",
		         strerror(errno));
}

/* mkdir -p with mode 0700 for what it creates. Start-up only. */
static int agent_make_dir(const char *path, char *err, size_t errlen)
{
	char *copy = strdup(path);
	char *p;
	struct stat st;
	int rv = 0;

	if (!copy)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	for (p = copy + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			rv = ups_errf(UPS_ERR_IO, err, errlen,
			              "data-dir: cannot create %s: %s", copy,
			              strerror(errno));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		rv = ups_errf(UPS_ERR_IO, err, errlen,
		              "data-dir: %s is not a directory", path);
out:
	free(copy);
	return rv;
}

/* Stops everything the agent runs; lws then closes its connections and
 * uv_run() returns once the last handle is closed. */
static void agent_stop(struct agent *a)
{
	if (a->stopping)
		return;
	a->stopping = true;
	LOG_INFO("agent", "stopping");
	service_stopping(&a->service);
	if (a->uploads_ready)
		upload_engine_stop(&a->uploads);
	if (a->rollouts_ready)
		rollouts_stop(&a->rollouts);
	if (a->hooks_ready)
		hooks_stop(&a->hooks);
	if (a->metrics_ready)
		metrics_stop(&a->metrics);
	if (a->registry_ready)
		registry_stop(&a->registry);
	if (a->publisher_ready)
		publisher_stop(&a->publisher);
	if (a->http_ready)
		http_stop(&a->http);
	if (a->metrics_http_ready)
		http_stop(&a->metrics_http);
	if (a->server_ready)
		server_stop(&a->server);
	if (a->link_ready)
		link_stop(&a->link);
	if (a->ws_ready)
		ups_ws_begin_destroy(&a->ws);
	if (a->signals_ready) {
		uv_close((uv_handle_t *)&a->sigint, NULL);
		uv_close((uv_handle_t *)&a->sigterm, NULL);
		uv_close((uv_handle_t *)&a->sighup, NULL);
		a->signals_ready = false;
	}
}

/* SIGHUP: reads the configuration again (file and flags) and applies what
 * can change while running: the log level and format, and the auth file
 * (read again even when its name is the same). A configuration or auth
 * file that does not load changes nothing; keys that need a restart are
 * named in the log. */
static void agent_reload(struct agent *a)
{
	struct config next;
	enum config_action action;
	struct ups_auth auth;
	const char *changed[64];
	char err[UPS_ERRMSG_MAX];
	size_t n;
	int rv;

	service_reloading(&a->service, false);
	err[0] = '\0';
	if (config_init(&next)) {
		LOG_ERROR("agent", "reload: out of memory");
		goto out;
	}
	rv = config_parse_args(&next, a->argc, a->argv, &action, err,
	                       sizeof(err));
	if (rv) {
		LOG_ERROR("agent",
		          "reload: %s; keeping the running "
		          "configuration",
		          err);
		goto out_free;
	}
	if (next.auth_file) {
		rv = ups_auth_load(&auth, next.auth_file, err, sizeof(err));
		if (rv) {
			LOG_ERROR("agent",
			          "reload: %s; keeping the tokens "
			          "loaded before",
			          err);
			goto out_free;
		}
		if (a->have_auth)
			ups_auth_free(&a->auth);
		a->auth = auth;
		a->have_auth = true;
		a->admin.auth = &a->auth;
		a->status_page.auth = &a->auth;
		LOG_INFO("agent", "reload: tokens read again from %s",
		         next.auth_file);
	}
	ups_log_threshold = next.log_level_value;
	ups_log_format = next.log_format_value;
	n = config_changed(&a->cfg, &next, changed,
	                   sizeof(changed) / sizeof(changed[0]));
	for (size_t i = 0; i < n; i++) {
		if (strcmp(changed[i], "log-level") == 0 ||
		    strcmp(changed[i], "log-format") == 0 ||
		    (strcmp(changed[i], "auth-file") == 0 && next.auth_file)) {
			LOG_INFO("agent", "reload: %s applied", changed[i]);
			continue;
		}
		LOG_WARN("agent",
		         "reload: %s changed; it takes effect after a "
		         "restart",
		         changed[i]);
	}
out_free:
	config_free(&next);
out:
	service_reloading(&a->service, true);
}

static void agent_on_hup(uv_signal_t *h, int signum)
{
	(void)signum;
	LOG_INFO("agent", "got SIGHUP: reloading");
	agent_reload(h->data);
}

/* The status systemd shows (STATUS=). */
static void agent_status(void *user, char *buf, size_t len)
{
	struct agent *a = user;

	snprintf(buf, len,
	         "%u sessions (%u not logged in), %u uploads in flight, "
	         "%zu interrupted",
	         a->server_ready ? a->server.count : 0,
	         a->server_ready ? a->server.pending : 0,
	         a->uploads_ready ? upload_active_count(&a->uploads) : 0,
	         a->uploads_ready ? upload_count(&a->uploads) -
	                                upload_active_count(&a->uploads)
	                          : 0);
}

static void agent_on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	LOG_INFO("agent", "got %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
	agent_stop(a);
}

static int agent_start_signals(struct agent *a, char *err, size_t errlen)
{
	int rv;

	rv = uv_signal_init(&a->loop, &a->sigint);
	if (rv)
		goto err;
	rv = uv_signal_init(&a->loop, &a->sigterm);
	if (rv) {
		uv_close((uv_handle_t *)&a->sigint, NULL);
		goto err;
	}
	rv = uv_signal_init(&a->loop, &a->sighup);
	if (rv) {
		uv_close((uv_handle_t *)&a->sigint, NULL);
		uv_close((uv_handle_t *)&a->sigterm, NULL);
		goto err;
	}
	a->sigint.data = a;
	a->sigterm.data = a;
	a->sighup.data = a;
	a->signals_ready = true;
	rv = uv_signal_start(&a->sigint, agent_on_signal, SIGINT);
	if (!rv)
		rv = uv_signal_start(&a->sigterm, agent_on_signal, SIGTERM);
	if (!rv)
		rv = uv_signal_start(&a->sighup, agent_on_hup, SIGHUP);
	if (rv)
		goto err;
	return 0;
err:
	return ups_errf(UPS_ERR_IO, err, errlen, "signals: %s",
	                uv_strerror(rv));
}

static void agent_walk_report(uv_handle_t *h, void *arg)
{
	(void)arg;
	LOG_ERROR("agent", "handle still open at exit: %s%s",
	          uv_handle_type_name(uv_handle_get_type(h)),
	          uv_is_closing(h) ? " (closing)" : "");
}

/* Reads the files the configuration names. Errors here are the
 * operator's to fix, like any other configuration error. */
static int agent_load_files(struct agent *a, char *err, size_t errlen)
{
	int rv;

	if (a->cfg.auth_file) {
		rv = ups_auth_load(&a->auth, a->cfg.auth_file, err, errlen);
		if (rv)
			return rv;
		a->have_auth = true;
	}
	if (a->cfg.controller_token_file) {
		char detail[UPS_ERRMSG_MAX];

		rv = ups_token_file_read(
		    a->cfg.controller_token_file, a->controller_token,
		    sizeof(a->controller_token), detail, sizeof(detail));
		if (rv)
			return ups_errf(rv, err, errlen,
			                "controller-token-file: %s", detail);
	}
	return 0;
}

#define AGENT_STORE_PLUGIN "upstage-store-fs.so"

/* The default store plugin: installed next to the executable
 * (<prefix>/bin/upstaged -> <prefix>/lib/upstage/plugins), else the build
 * tree's (<build>/agent/upstaged -> <build>/plugins/store-fs). When
 * neither exists the installed path is named in the error. */
static void agent_default_plugin(char *buf, size_t len)
{
	char exe[4096];
	char *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		snprintf(buf, len, "%s", AGENT_STORE_PLUGIN);
		return;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%s/../plugins/store-fs/%s", exe,
	         AGENT_STORE_PLUGIN);
	if (access(buf, R_OK) == 0)
		return;
	snprintf(buf, len, "%s/../lib/upstage/plugins/%s", exe,
	         AGENT_STORE_PLUGIN);
}

/* A machine changed: the Machines facade's watchers hear it, then the
 * rollout runner. */
static void agent_machine_changed(void *data, const struct machine *m)
{
	struct agent *a = data;

	a->machines_changed(a->machines_changed_data, m);
	if (a->rollouts_ready)
		rollouts_machine_changed(&a->rollouts, m);
}

/* The machine registry, on the store's binaries, then the rollout
 * runner on the registry. */
static int agent_start_registry(struct agent *a, char *err, size_t errlen)
{
	struct registry_config rcfg;
	struct registry_events ev;
	struct rollouts_config ocfg;
	struct rollouts_events oev;
	struct hooks_config hcfg = {0};
	int rv;

	memset(&rcfg, 0, sizeof(rcfg));
	rcfg.data_dir = a->cfg.data_dir;
	rcfg.lost_after_s = a->cfg.machine_lost_after;
	machines_events(&a->machines, &ev);
	a->machines_changed = ev.changed;
	a->machines_changed_data = ev.data;
	ev.changed = agent_machine_changed;
	ev.data = a;
	rv = registry_open(&a->registry, &a->loop, &a->store, &rcfg, &ev, err,
	                   errlen);
	if (rv)
		return rv;
	a->registry_ready = true;
	if (registry_start(&a->registry))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot start the registry timer");
	hcfg.hook_plugin = a->cfg.hook_plugin;
	hcfg.health_plugin = a->cfg.health_plugin;
	hcfg.host = &a->cfg;
	hcfg.config_get = config_plugin_get;
	rv = hooks_open(&a->hooks, &a->loop, &hcfg, rollouts_hooks_done,
	                &a->rollouts, err, errlen);
	if (rv)
		return rv;
	a->hooks_ready = true;
	memset(&ocfg, 0, sizeof(ocfg));
	ocfg.data_dir = a->cfg.data_dir;
	ocfg.agent_version = a->cfg.agent_version;
	ocfg.hooks = &a->hooks;
	rollouts_rpc_events(&a->rollouts_rpc, &oev);
	rv = rollouts_open(&a->rollouts, &a->loop, &a->registry, &a->store,
	                   &ocfg, &oev, err, errlen);
	if (rv)
		return rv;
	a->rollouts_ready = true;
	if (rollouts_start(&a->rollouts))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot start the rollout timers");
	return 0;
}

/* Where machines download binaries: upstaged's own listen address
 * (unless it is a wildcard, which names no host, or advertise-listen is
 * false), then advertise-http. The own address is https:// with
 * tls-cert: that port then speaks nothing but TLS. */
static int agent_url_bases(struct agent *a, char *err, size_t errlen)
{
	char bases[REGISTRY_URL_BASES][REGISTRY_URL_BASE_LEN];
	const char *ptrs[REGISTRY_URL_BASES];
	const char *p = a->cfg.advertise_http;
	size_t n = 0;

	if (a->cfg.listen_enabled && a->cfg.advertise_listen &&
	    strcmp(a->cfg.listen_host, "0.0.0.0") &&
	    strcmp(a->cfg.listen_host, "::")) {
		bool v6 = strchr(a->cfg.listen_host, ':') != NULL;

		snprintf(bases[n++], sizeof(bases[0]), "%s://%s%s%s:%d",
		         a->cfg.tls_cert ? "https" : "http", v6 ? "[" : "",
		         a->cfg.listen_host, v6 ? "]" : "", a->ws.port);
	}
	while (p && *p && n < REGISTRY_URL_BASES) {
		size_t len = strcspn(p, ",");

		snprintf(bases[n++], sizeof(bases[0]), "http://%.*s",
		         (int)len, p);
		p += len;
		if (*p == ',')
			p++;
	}
	for (size_t i = 0; i < n; i++)
		ptrs[i] = bases[i];
	if (registry_set_url_bases(&a->registry, ptrs, n))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "advertise-http: too many or too long");
	return 0;
}

/* The engines: the store, then the upload engine on it. */
static int agent_start_engines(struct agent *a, char *err, size_t errlen)
{
	const struct config *cfg = &a->cfg;
	struct store_config scfg;
	struct upload_config ucfg;
	char plugin[4200];
	int rv;

	if (cfg->store_plugin)
		snprintf(plugin, sizeof(plugin), "%s", cfg->store_plugin);
	else
		agent_default_plugin(plugin, sizeof(plugin));
	memset(&scfg, 0, sizeof(scfg));
	scfg.data_dir = cfg->data_dir;
	scfg.plugin = plugin;
	scfg.fault = cfg->store_fault;
	rv = store_open(&a->store, &a->loop, &scfg, err, errlen);
	if (rv)
		return rv;
	a->store_ready = true;

	memset(&ucfg, 0, sizeof(ucfg));
	ucfg.fault = cfg->store_fault;
	ucfg.max_uploads = (unsigned)cfg->max_uploads;
	ucfg.max_per_owner = (unsigned)cfg->max_uploads_per_client;
	ucfg.max_partials = (unsigned)cfg->max_partials;
	ucfg.stall_s = cfg->upload_stall_timeout;
	ucfg.window = (uint64_t)cfg->upload_window;
	ucfg.reserve = (uint64_t)cfg->free_space_reserve;
	ucfg.expiry_s = cfg->upload_expiry;
	ucfg.sync_bytes = UPS_LIMIT_UPLOAD_SYNC_BYTES;
	rv = upload_engine_open(&a->uploads, &a->loop, &a->store, &ucfg,
	                        &binaries_upload_events, err, errlen);
	if (rv)
		return rv;
	a->uploads_ready = true;
	if (upload_engine_start(&a->uploads))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot start the upload expiry timer");
	if (cfg->store_fault)
		LOG_WARN("agent", "store-fault is set (%s): for tests only",
		         cfg->store_fault);
	rv = publisher_init(&a->publisher, &a->loop, &a->store, err, errlen);
	a->publisher_ready = true;
	if (rv)
		return rv;
	return agent_start_registry(a, err, errlen);
}

/* HTTP on the listening port: /healthz and the published store. */
static int agent_start_http(struct agent *a, char *err, size_t errlen)
{
	const struct http_route routes[] = {
	    {"/healthz", http_healthz, NULL},
	    {"/streams/", downloads_open, &a->downloads},
	    {"/tools/", downloads_open, &a->downloads},
	    {"/model/", downloads_open, &a->downloads},
	    {"/status", status_page_open, &a->status_page},
	    {"/metrics", metrics_http_open, &a->metrics},
	};
	const struct http_route metrics_route = {"/metrics", metrics_http_open,
	                                         &a->metrics};
	/* With metrics-listen, /metrics is served there only. */
	size_t nroutes = sizeof(routes) / sizeof(routes[0]) -
	                 (a->cfg.metrics_enabled ? 1 : 0);
	const struct metrics_sources src = {
	    .server = &a->server,
	    .http = &a->http,
	    .uploads = &a->uploads,
	    .publisher = &a->publisher,
	    .registry = &a->registry,
	    .rollouts = &a->rollouts,
	};

	http_init(&a->http, &a->loop, (unsigned)a->cfg.max_downloads);
	a->status_page.auth = a->have_auth ? &a->auth : NULL;
	a->status_page.throttle = &a->throttle;
	a->status_page.loop = &a->loop;
	a->downloads.publisher = &a->publisher;
	for (size_t i = 0; i < nroutes; i++)
		if (http_route_add(&a->http, &routes[i]))
			return ups_errf(UPS_ERR_INTERNAL, err, errlen,
			                "cannot add an HTTP route");
	a->http_ready = true;
	if (a->cfg.metrics_enabled) {
		http_init(&a->metrics_http, &a->loop, 4);
		if (http_route_add(&a->metrics_http, &metrics_route))
			return ups_errf(UPS_ERR_INTERNAL, err, errlen,
			                "cannot add an HTTP route");
		a->metrics_http_ready = true;
	}
	if (metrics_init(&a->metrics, &a->loop, &src))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot start the loop-lag timer");
	a->metrics_ready = true;
	return 0;
}

/* The facades, registered with the dispatcher. */
static int agent_start_rpc(struct agent *a, char *err, size_t errlen)
{
	const struct config *cfg = &a->cfg;
	int rv;

	dispatch_init(&a->dispatch);
	a->admin.auth = a->have_auth ? &a->auth : NULL;
	/* What the last completed rollout moved to, else agent-version. */
	a->admin.agent_version = a->rollouts.agent_version;
	a->admin.set_role = agent_set_role;
	a->admin.role_count = agent_role_count;
	ups_throttle_init(&a->throttle);
	a->admin.throttle = &a->throttle;
	a->admin.now_ms = agent_now_ms;
	a->admin.link_state = agent_link_state;
	a->admin.user = a;
	a->admin.start_ms = agent_now_ms(a);
	admin_init(&a->admin);
	a->binaries.uploads = &a->uploads;
	a->binaries.store = &a->store;
	a->binaries.max_size = (uint64_t)cfg->max_upload_size;
	binaries_init(&a->binaries);
	a->machines.registry = &a->registry;
	/* Idle machines must never meet the idle timeout. */
	a->machines.heartbeat_s = (unsigned)cfg->machine_heartbeat;
	if (cfg->idle_timeout > 0 &&
	    a->machines.heartbeat_s > (unsigned)cfg->idle_timeout / 3)
		a->machines.heartbeat_s = (unsigned)cfg->idle_timeout / 3;
	/* Nor may a healthy idle machine ever look lost. */
	if (a->machines.heartbeat_s > (unsigned)cfg->machine_lost_after / 3)
		a->machines.heartbeat_s = (unsigned)cfg->machine_lost_after / 3;
	if (a->machines.heartbeat_s == 0)
		a->machines.heartbeat_s = 1;
	a->machines.rollouts = &a->rollouts;
	machines_init(&a->machines);
	a->rollouts_rpc.rollouts = &a->rollouts;
	rollouts_rpc_init(&a->rollouts_rpc);
	a->versions.store = &a->store;
	versions_init(&a->versions);
	if ((rv = dispatch_add(&a->dispatch, &a->admin.admin_facade)) ||
	    (rv = dispatch_add(&a->dispatch, &a->admin.agent_facade)) ||
	    (rv = dispatch_add(&a->dispatch, &a->binaries.facade)) ||
	    (rv = dispatch_add(&a->dispatch, &a->versions.facade)) ||
	    (rv = dispatch_add(&a->dispatch, &a->machines.machine_facade)) ||
	    (rv = dispatch_add(&a->dispatch, &a->machines.machines_facade)) ||
	    (rv = dispatch_add(&a->dispatch, &a->rollouts_rpc.facade)))
		return ups_errf(rv, err, errlen, "cannot register a facade");
	return 0;
}

static int agent_start(struct agent *a, char *err, size_t errlen)
{
	const struct config *cfg = &a->cfg;
	struct server_config scfg;
	struct ups_ws_config wcfg;
	int rv;

	rv = agent_start_engines(a, err, errlen);
	if (!rv)
		rv = agent_start_rpc(a, err, errlen);
	if (!rv)
		rv = agent_start_http(a, err, errlen);
	if (rv)
		return rv;

	memset(&scfg, 0, sizeof(scfg));
	scfg.max_sessions = (unsigned)cfg->max_sessions;
	scfg.max_pending = (unsigned)cfg->max_pending_sessions;
	scfg.login_timeout_ms = (uint64_t)cfg->login_timeout * 1000;
	scfg.idle_timeout_ms = (uint64_t)cfg->idle_timeout * 1000;
	scfg.stuck_timeout_ms = (uint64_t)cfg->stuck_timeout * 1000;
	scfg.throttle = &a->throttle;
	rv = server_init(&a->server, &a->loop, &a->dispatch, &scfg);
	if (rv)
		return ups_errf(rv, err, errlen,
		                "cannot start the sweep timer");
	a->server_ready = true;

	a->protocols[0].name = UPS_WS_SUBPROTOCOL;
	a->protocols[0].callback = agent_lws_callback;
	a->protocols[0].per_session_data_size = sizeof(struct agent_pss);
	a->protocols[0].rx_buffer_size = AGENT_RX_BUFFER;

	memset(&wcfg, 0, sizeof(wcfg));
	wcfg.loop = &a->loop;
	wcfg.protocols = a->protocols;
	wcfg.user = a;
	if (cfg->listen_enabled) {
		wcfg.listen_host = cfg->listen_host;
		wcfg.listen_port = cfg->listen_port;
		wcfg.tls_cert = cfg->tls_cert;
		wcfg.tls_key = cfg->tls_key;
	}
	if (cfg->metrics_enabled) {
		wcfg.side_host = cfg->metrics_host;
		wcfg.side_port = cfg->metrics_port;
	}
	wcfg.client = cfg->controller != NULL;
	wcfg.client_ca = cfg->controller_ca_cert;
	wcfg.rx_buffer_size = AGENT_RX_BUFFER;
	wcfg.http_header_bytes = UPS_LIMIT_HTTP_HEADER_BYTES;
	wcfg.ping_interval = (unsigned)cfg->ping_interval;
	ups_ws_init_logging();
	rv = ups_ws_create(&a->ws, &wcfg, err, errlen);
	if (rv)
		return rv;
	a->ws_ready = true;
	rv = agent_url_bases(a, err, errlen);
	if (rv)
		return rv;

	if (cfg->listen_enabled) {
		bool v6 = strchr(cfg->listen_host, ':') != NULL;

		LOG_INFO("agent", "upstaged %s listening on %s port %d%s",
		         UPSTAGE_VERSION, cfg->listen_host, a->ws.port,
		         a->have_auth ? "" : " (no auth-file: any token)");
		printf("listening %s://%s%s%s:%d\n",
		       cfg->tls_cert ? "wss" : "ws", v6 ? "[" : "",
		       cfg->listen_host, v6 ? "]" : "", a->ws.port);
		fflush(stdout);
	}
	if (cfg->metrics_enabled) {
		bool v6 = strchr(cfg->metrics_host, ':') != NULL;

		LOG_INFO("agent", "metrics on http://%s%s%s:%d/metrics",
		         v6 ? "[" : "", cfg->metrics_host, v6 ? "]" : "",
		         a->ws.side_port);
		printf("metrics http://%s%s%s:%d/metrics\n", v6 ? "[" : "",
		       cfg->metrics_host, v6 ? "]" : "", a->ws.side_port);
		fflush(stdout);
	}

	if (cfg->controller) {
		rv = link_init(&a->link, &a->loop, &a->ws, &a->dispatch,
		               cfg->controller, a->controller_token,
		               (uint64_t)cfg->controller_backoff_initial_ms,
		               (uint64_t)cfg->controller_backoff_max_ms, err,
		               errlen);
		if (rv)
			return rv;
		a->link_ready = true;
		link_start(&a->link);
	}
	rv = agent_start_signals(a, err, errlen);
	if (rv)
		return rv;
	if (service_start(&a->service, &a->loop, agent_status, a))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "cannot start the systemd timer");
	service_ready(&a->service);
	return 0;
}

static int agent_run(struct agent *a)
{
	char err[UPS_ERRMSG_MAX];
	int status = AGENT_EXIT_OK;
	int rv;

	rv = uv_loop_init(&a->loop);
	if (rv) {
		fprintf(stderr, "upstaged: uv_loop_init: %s\n",
		        uv_strerror(rv));
		return AGENT_EXIT_FAILED;
	}
	err[0] = '\0';
	rv = agent_start(a, err, sizeof(err));
	if (rv) {
		fprintf(stderr, "upstaged: %s\n", err);
		status = AGENT_EXIT_FAILED;
		agent_stop(a);
	}
	uv_run(&a->loop, UV_RUN_DEFAULT);

	/* uv_run() returned: every handle of ours is closed. Finish lws's
	 * two-step destroy, then nothing may be left on the loop. */
	if (a->ws_ready)
		ups_ws_finish_destroy(&a->ws);
	if (a->server_ready)
		server_free(&a->server);
	if (a->link_ready)
		link_free(&a->link);
	/* Peers freed just now may have detached uploads: let their last
	 * syncs run before the store and catalog close. */
	uv_run(&a->loop, UV_RUN_DEFAULT);
	if (a->http_ready)
		http_free(&a->http);
	if (a->metrics_http_ready)
		http_free(&a->metrics_http);
	if (a->uploads_ready)
		upload_engine_close(&a->uploads);
	if (a->rollouts_ready)
		rollouts_close(&a->rollouts);
	if (a->hooks_ready)
		hooks_close(&a->hooks);
	rollouts_rpc_free(&a->rollouts_rpc);
	if (a->registry_ready)
		registry_close(&a->registry);
	machines_free(&a->machines);
	if (a->publisher_ready)
		publisher_close(&a->publisher);
	if (a->store_ready)
		store_close(&a->store);
	rv = uv_loop_close(&a->loop);
	if (rv) {
		LOG_ERROR("agent", "uv_loop_close: %s", uv_strerror(rv));
		uv_walk(&a->loop, agent_walk_report, NULL);
		assert(rv == 0);
	}
	LOG_INFO("agent", "stopped");
	return status;
}

int agent_main(int argc, char **argv)
{
	static struct agent agent;
	struct agent *a = &agent;
	enum config_action action;
	char err[UPS_ERRMSG_MAX];
	int status;
	int rv;

	a->argc = argc;
	a->argv = argv;
	if (config_init(&a->cfg)) {
		fprintf(stderr, "upstaged: cannot set up the configuration\n");
		return AGENT_EXIT_FAILED;
	}
	err[0] = '\0';
	rv = config_parse_args(&a->cfg, argc, argv, &action, err, sizeof(err));
	if (rv) {
		fprintf(stderr, "upstaged: %s\n(see upstaged --help)\n", err);
		status = AGENT_EXIT_USAGE;
		goto out_config;
	}
	switch (action) {
	case CONFIG_HELP:
		config_print_help(stdout, "upstaged");
		status = AGENT_EXIT_OK;
		goto out_config;
	case CONFIG_VERSION_INFO:
		printf("upstaged %s\n", UPSTAGE_VERSION);
		status = AGENT_EXIT_OK;
		goto out_config;
	case CONFIG_DUMP:
		status = config_dump(&a->cfg, stdout) ? AGENT_EXIT_FAILED
		                                      : AGENT_EXIT_OK;
		goto out_config;
	case CONFIG_RUN:
		break;
	}
	ups_log_threshold = a->cfg.log_level_value;
	ups_log_format = a->cfg.log_format_value;
	/* A streaming upload's write job takes three workers (two halves
	 * and the hash) and its checkpoint a fourth: libuv's default pool
	 * of four would leave the catalog, the publisher and the rollouts
	 * queued behind the disk. Read when the pool first starts. */
	setenv("UV_THREADPOOL_SIZE", "8", 0);
	/* Peers that vanish must not kill the process on write. */
	signal(SIGPIPE, SIG_IGN);
	agent_raise_nofile();

	rv = agent_load_files(a, err, sizeof(err));
	if (rv) {
		fprintf(stderr, "upstaged: %s\n", err);
		status = AGENT_EXIT_USAGE;
		goto out_auth;
	}
	rv = agent_make_dir(a->cfg.data_dir, err, sizeof(err));
	if (rv) {
		fprintf(stderr, "upstaged: %s\n", err);
		status = AGENT_EXIT_FAILED;
		goto out_auth;
	}
	status = agent_run(a);

out_auth:
	if (a->have_auth)
		ups_auth_free(&a->auth);
out_config:
	config_free(&a->cfg);
	fflush(stdout);
	return status;
}
