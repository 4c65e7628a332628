/* /metrics (metrics.h). */
#include "agent/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/errors.h"
#include "proto/metrics.h"
#include "proto/net/auth.h"

static void metrics_on_lag(uv_timer_t *t)
{
	struct metrics *m = t->data;
	uint64_t now = uv_now(m->loop);
	double lag = now > m->lag_expected_ms
	                 ? (double)(now - m->lag_expected_ms) / 1000.0
	                 : 0.0;

	m->lag_seconds = lag;
	if (lag > m->lag_max_seconds)
		m->lag_max_seconds = lag;
	m->lag_expected_ms = now + METRICS_LAG_INTERVAL_MS;
}

int metrics_init(struct metrics *m, uv_loop_t *loop,
                 const struct metrics_sources *src)
{
	memset(m, 0, sizeof(*m));
	m->loop = loop;
	m->src = *src;
	if (uv_timer_init(loop, &m->lag_timer))
		return UPS_ERR_IO;
	m->lag_timer.data = m;
	m->timer_open = true;
	m->lag_expected_ms = uv_now(loop) + METRICS_LAG_INTERVAL_MS;
	uv_timer_start(&m->lag_timer, metrics_on_lag, METRICS_LAG_INTERVAL_MS,
	               METRICS_LAG_INTERVAL_MS);
	/* A scrape must never keep the loop alive on its own. */
	uv_unref((uv_handle_t *)&m->lag_timer);
	return 0;
}

void metrics_stop(struct metrics *m)
{
	if (m->timer_open)
		uv_close((uv_handle_t *)&m->lag_timer, NULL);
	m->timer_open = false;
}

static void metrics_counter(FILE *f, const char *name, const char *help,
                            double v)
{
	ups_metric_family(f, name, "counter", help);
	ups_metric_sample(f, name, NULL, NULL, v);
}

static void metrics_gauge(FILE *f, const char *name, const char *help,
                          double v)
{
	ups_metric_family(f, name, "gauge", help);
	ups_metric_sample(f, name, NULL, NULL, v);
}

static void metrics_net(FILE *f, const struct metrics_sources *s)
{
	if (s->server) {
		unsigned roles[UPS_ROLE__COUNT];

		server_count_roles(s->server, roles);
		ups_metric_family(f, "upstage_sessions", "gauge",
		                  "Websocket sessions now, by role (none: not "
		                  "logged in yet).");
		for (unsigned r = 0; r < UPS_ROLE__COUNT; r++)
			ups_metric_sample(f, "upstage_sessions", "role",
			                  ups_role_name(r), roles[r]);
		metrics_counter(f, "upstage_received_bytes_total",
		                "Websocket payload bytes received.",
		                (double)s->server->rx_bytes);
	}
	if (s->http) {
		char code[8];

		ups_metric_family(f, "upstage_http_responses_total", "counter",
		                  "HTTP responses ended (downloads of binaries "
		                  "and metadata, /healthz, /metrics), by "
		                  "status.");
		for (unsigned i = 0; i < HTTP_STATUS_SPAN; i++)
			if (s->http->by_status[i]) {
				snprintf(code, sizeof(code), "%u", i + 100);
				ups_metric_sample(
				    f, "upstage_http_responses_total", "status",
				    code, (double)s->http->by_status[i]);
			}
		ups_metric_family(f, "upstage_http_sent_bytes_total", "counter",
		                  "HTTP body bytes sent, by status.");
		for (unsigned i = 0; i < HTTP_STATUS_SPAN; i++)
			if (s->http->by_status[i]) {
				snprintf(code, sizeof(code), "%u", i + 100);
				ups_metric_sample(
				    f, "upstage_http_sent_bytes_total",
				    "status", code,
				    (double)s->http->bytes_by_status[i]);
			}
		metrics_gauge(f, "upstage_http_requests_active",
		              "HTTP requests being resolved or streamed now.",
		              s->http->active);
	}
}

static void metrics_uploads(FILE *f, const struct upload_engine *u)
{
	metrics_counter(f, "upstage_uploads_begun_total",
	                "Uploads begun or resumed (UploadBegin answered ok).",
	                (double)u->begun);
	metrics_counter(f, "upstage_uploads_committed_total",
	                "Uploads committed: binaries stored.",
	                (double)u->committed);
	ups_metric_family(f, "upstage_uploads_failed_total", "counter",
	                  "Uploads that ended without their binary stored, by "
	                  "error code (aborted: by their owner, or expired).");
	for (unsigned i = 0; i < sizeof(u->failed) / sizeof(u->failed[0]);
	     i++) {
		int code = i ? UPS_ERR__FIRST + (int)i : 0;

		if (i == 0 || u->failed[i])
			ups_metric_sample(f, "upstage_uploads_failed_total",
			                  "code",
			                  i ? ups_err_code(code) : "aborted",
			                  (double)u->failed[i]);
	}
	metrics_gauge(f, "upstage_upload_bytes_in_flight",
	              "Bytes received by uploads and not durable yet.",
	              (double)upload_engine_bytes_in_flight(u));
	ups_metric_histogram(f, "upstage_upload_commit_seconds",
	                     "From UploadCommit to the binary stored: "
	                     "verification, fsync, the catalog row.",
	                     &u->commit_seconds);
}

static void metrics_store(FILE *f, const struct publisher *p)
{
	uint64_t n[UPS_STREAM__COUNT], bytes[UPS_STREAM__COUNT];

	publisher_stats(p, n, bytes);
	ups_metric_family(f, "upstage_store_binaries", "gauge",
	                  "Agent binaries stored and published, by stream.");
	for (unsigned s = 0; s < UPS_STREAM__COUNT; s++)
		ups_metric_sample(f, "upstage_store_binaries", "stream",
		                  ups_stream_name(s), (double)n[s]);
	ups_metric_family(f, "upstage_store_bytes", "gauge",
	                  "Bytes of the agent binaries stored, by stream.");
	for (unsigned s = 0; s < UPS_STREAM__COUNT; s++)
		ups_metric_sample(f, "upstage_store_bytes", "stream",
		                  ups_stream_name(s), (double)bytes[s]);
}

static void metrics_machines(FILE *f, const struct registry *r)
{
	size_t counts[UPS_MST__COUNT], connected, lost;

	registry_count_states(r, counts, &connected, &lost);
	ups_metric_family(f, "upstage_machines", "gauge",
	                  "Registered machines, by the state they reported "
	                  "last.");
	for (unsigned s = 0; s < UPS_MST__COUNT; s++)
		ups_metric_sample(f, "upstage_machines", "state",
		                  ups_machine_state_name(s), (double)counts[s]);
	metrics_gauge(f, "upstage_machines_connected",
	              "Machines with a session now.", (double)connected);
	metrics_gauge(f, "upstage_machines_lost",
	              "Machines not heard from for machine-lost-after.",
	              (double)lost);
	metrics_counter(f, "upstage_orders_sent_total",
	                "Orders pushed to machines (an order sent again "
	                "after a reconnection counts again).",
	                (double)r->orders_sent);
}

static void metrics_rollouts(FILE *f, const struct rollouts *rs)
{
	const struct rollout *r = rollouts_find(rs, NULL);

	ups_metric_family(f, "upstage_rollouts", "gauge",
	                  "Rollouts in the journal, by state.");
	for (unsigned s = 0; s < ROLLOUT__COUNT; s++)
		ups_metric_sample(f, "upstage_rollouts", "state",
		                  rollout_state_name(s),
		                  (double)rs->by_state[s]);
	ups_metric_family(f, "upstage_rollout_state", "gauge",
	                  "The active or latest rollout: 1 for its state.");
	for (unsigned s = 0; s < ROLLOUT__COUNT; s++)
		ups_metric_sample(f, "upstage_rollout_state", "state",
		                  rollout_state_name(s),
		                  r && r->state == s ? 1 : 0);
	ups_metric_family(f, "upstage_rollout_machines", "gauge",
	                  "Machines of the active or latest rollout, by their "
	                  "state in it.");
	for (unsigned s = 0; s < MEMBER__COUNT; s++)
		ups_metric_sample(f, "upstage_rollout_machines", "state",
		                  member_state_name(s),
		                  r ? (double)r->by_state[s] : 0);
	metrics_gauge(f, "upstage_rollout_failures",
	              "Failures of the active or latest rollout that count "
	              "against its budget.",
	              r ? (double)rollout_failures(r) : 0);
	ups_metric_histogram(f, "upstage_journal_write_seconds",
	                     "One rollout journal write transaction.",
	                     &rs->journal_seconds);
}

/* Resident bytes and open descriptors, from /proc. */
static void metrics_process(FILE *f)
{
	long pages = 0, resident = 0;
	size_t fds = 0;
	FILE *sm = fopen("/proc/self/statm", "r");
	DIR *d;

	if (sm) {
		if (fscanf(sm, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(sm);
	}
	metrics_gauge(f, "process_resident_memory_bytes",
	              "Resident memory size in bytes.",
	              (double)resident * (double)sysconf(_SC_PAGESIZE));
	d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;

		while ((e = readdir(d)))
			fds += e->d_name[0] != '.';
		closedir(d);
		fds--; /* the directory's own */
	}
	metrics_gauge(f, "process_open_fds", "Number of open file descriptors.",
	              (double)fds);
}

int metrics_render(struct metrics *m, char **text, size_t *len)
{
	FILE *f = open_memstream(text, len);
	const struct metrics_sources *s = &m->src;

	if (!f)
		return UPS_ERR_NO_MEMORY;
	m->scrapes++;
	metrics_net(f, s);
	if (s->uploads)
		metrics_uploads(f, s->uploads);
	if (s->publisher)
		metrics_store(f, s->publisher);
	if (s->registry)
		metrics_machines(f, s->registry);
	if (s->rollouts)
		metrics_rollouts(f, s->rollouts);
	metrics_gauge(f, "upstage_loop_lag_seconds",
	              "How late the loop ran a timer, the most since the last "
	              "scrape (sampled every 250 ms).",
	              m->lag_max_seconds > m->lag_seconds ? m->lag_max_seconds
	                                                  : m->lag_seconds);
	m->lag_max_seconds = 0;
	metrics_process(f);
	if (fclose(f)) {
		free(*text);
		*text = NULL;
		return UPS_ERR_NO_MEMORY;
	}
	return 0;
}

int metrics_http_open(void *data, const char *path, struct http_request *req)
{
	struct metrics *m = data;
	char *text = NULL;
	size_t len = 0;
	int rv;

	if (strcmp(path, "/metrics") != 0)
		return UPS_ERR_NOT_FOUND;
	rv = metrics_render(m, &text, &len);
	if (rv)
		return rv;
	rv = http_reply_bytes(req, "text/plain; version=0.0.4; charset=utf-8",
	                      0, text, len);
	free(text);
	return rv;
}
