/* The fleet simulator; see fleet.h. */
#include "contrib/fleet/fleet.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "contrib/fleet/report.h"
#include "contrib/machine/fetch.h"
#include "contrib/machine/magent.h"
#include "proto/errors.h"
#include "proto/log.h"
#include "proto/machine.h"

struct fleet;

/* One binary version being (or having been) downloaded. */
struct fleet_dl {
	struct fleet_dl *next;
	struct fleet *fleet;
	char bv[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char sha256[UPS_SHA256_HEX_LEN + 1]; /* of the bytes fetched */
	uint64_t size;
	bool running;
	int rv;
	char err[UPS_ERRMSG_MAX];
	struct fleet_machine *waiters;
};

struct fleet_machine {
	struct magent m;
	struct fleet *fleet;
	unsigned index;
	uint64_t rng;
	char current[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char previous[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	/* The order being carried out. */
	bool has_order;
	enum ups_order_kind kind;
	char order_id[UPS_LIMIT_ORDER_ID_LEN + 1];
	char order_bv[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	char order_sha[UPS_SHA256_HEX_LEN + 1];
	uint64_t order_size;
	enum ups_machine_state state;
	/* The last order that ended, answered again when re-sent. */
	char done_id[UPS_LIMIT_ORDER_ID_LEN + 1];
	enum ups_machine_state done_state;
	char done_reason[64];
	/* The order whose crash was already spent. */
	char crashed_id[UPS_LIMIT_ORDER_ID_LEN + 1];
	bool f_download, f_verify, f_health, f_crash, f_silent;
	uv_timer_t work;
	int step; /* what the work timer does next */
	struct fleet_machine *dl_next;
};

struct fleet {
	const struct fleet_config *cfg;
	uv_loop_t loop;
	struct magent_hub hub;
	struct fetch_engine fetch;
	struct fleet_machine *machines;
	struct fleet_dl *dls;
	char scratch[64];
	FILE *report;
	uv_signal_t sigint, sigterm;
	uint64_t start_ms;
	unsigned last_printed;
	bool stopping;
};

enum fleet_step {
	FLEET_STEP_HEALTH,  /* restarted: now the health check */
	FLEET_STEP_END,     /* health decided */
	FLEET_STEP_REVERT,  /* revert switched and restarted */
	FLEET_STEP_FAIL_DL, /* injected download error */
};

/* splitmix64: one stream per machine, the same for the same seed. */
static uint64_t fleet_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool fleet_draw(uint64_t *s, double p)
{
	return (double)(fleet_next(s) >> 11) * (1.0 / 9007199254740992.0) < p;
}

static uint64_t fleet_ms(struct fleet *f)
{
	return uv_hrtime() / 1000000 - f->start_ms;
}

static void fleet_version_of(const char *bv, char *out, size_t len)
{
	struct ups_binary_version p;

	out[0] = '\0';
	if (ups_binary_version_parse(bv, &p, NULL, 0) == 0)
		(void)ups_version_format(&p.version, out, len);
}

/* -------------------------------------------------------------------------
 * The report file. */

static void fleet_log_order(struct fleet_machine *fm, const struct ups_order *o)
{
	struct fleet *f = fm->fleet;
	int rv;

	if (!f->report)
		return;
	rv = report_order(f->report, fleet_ms(f), fm->m.id, o->id,
	                  o->kind == UPS_ORDER_REVERT ? "revert" : "upgrade",
	                  o->binary_version);
	if (rv)
		LOG_WARN("fleet", "machine %s: order %s not in the report: %s",
		         fm->m.id, o->id, ups_err_message(rv));
}

/* Reports the machine's status to upstaged and the file. */
static void fleet_status(struct fleet_machine *fm, enum ups_machine_state st,
                         const char *order_id, const char *reason)
{
	struct fleet *f = fm->fleet;
	char version[UPS_LIMIT_VERSION_LEN + 1];
	int rv;

	fleet_version_of(fm->current, version, sizeof(version));
	magent_status(&fm->m, st, order_id, -1, version, reason);
	if (!f->report || fm->m.silent)
		return;
	rv = report_state(f->report, fleet_ms(f), fm->m.id, order_id,
	                  ups_machine_state_name(st), version, reason);
	if (rv)
		LOG_WARN("fleet", "machine %s: state %s not in the report: %s",
		         fm->m.id, ups_machine_state_name(st),
		         ups_err_message(rv));
}

/* -------------------------------------------------------------------------
 * Orders. */

static void fleet_end(struct fleet_machine *fm, enum ups_machine_state st,
                      const char *reason)
{
	fm->state = st;
	fleet_status(fm, st, fm->order_id, reason);
	snprintf(fm->done_id, sizeof(fm->done_id), "%s", fm->order_id);
	fm->done_state = st;
	snprintf(fm->done_reason, sizeof(fm->done_reason), "%s",
	         reason ? reason : "");
	fm->has_order = false;
	fleet_status(fm, UPS_MST_IDLE, NULL, NULL);
}

static void fleet_set(struct fleet_machine *fm, enum ups_machine_state st)
{
	fm->state = st;
	fleet_status(fm, st, fm->order_id, NULL);
}

static void fleet_on_work(uv_timer_t *t);

static void fleet_after(struct fleet_machine *fm, int step)
{
	fm->step = step;
	uv_timer_start(&fm->work, fleet_on_work, fm->fleet->cfg->work_ms, 0);
}

/* A machine drops everything, as a killed process would, and comes back
 * with the version it had. */
static void fleet_crash(struct fleet_machine *fm)
{
	LOG_INFO("fleet", "machine %s: crashing mid-order %s (injected)",
	         fm->m.id, fm->order_id);
	snprintf(fm->crashed_id, sizeof(fm->crashed_id), "%s", fm->order_id);
	fm->has_order = false;
	uv_timer_stop(&fm->work);
	magent_status(&fm->m, UPS_MST_IDLE, NULL, -1, NULL, NULL);
	magent_kill(&fm->m);
}

static void fleet_verified(struct fleet_machine *fm, struct fleet_dl *dl)
{
	if (dl->rv) {
		char why[UPS_ERRMSG_MAX + 32];

		snprintf(why, sizeof(why), "%s: %s", ups_err_code(dl->rv),
		         dl->err);
		fleet_end(fm, UPS_MST_FAILED, why);
		return;
	}
	fleet_set(fm, UPS_MST_VERIFYING);
	/* This machine's own check of what was fetched for all. */
	if (fm->f_verify || dl->size != fm->order_size ||
	    strcmp(dl->sha256, fm->order_sha) != 0) {
		fleet_end(fm, UPS_MST_FAILED,
		          fm->f_verify ? "checksum-mismatch (injected)"
		                       : "checksum-mismatch");
		return;
	}
	if (fm->f_crash) {
		fleet_crash(fm);
		return;
	}
	fleet_set(fm, UPS_MST_STAGED);
	fleet_set(fm, UPS_MST_RESTARTING);
	fleet_after(fm, FLEET_STEP_HEALTH);
}

static void fleet_dl_done(void *data, int rv, const char *err,
                          const struct fetch_result *res)
{
	struct fleet_dl *dl = data;
	struct fleet_machine *fm, *next;

	(void)res;
	dl->running = false;
	dl->rv = rv;
	snprintf(dl->err, sizeof(dl->err), "%s", err ? err : "");
	LOG_INFO("fleet", "download of %s: %s", dl->bv,
	         rv ? dl->err : "verified");
	for (fm = dl->waiters; fm; fm = next) {
		next = fm->dl_next;
		fm->dl_next = NULL;
		if (fm->has_order && strcmp(fm->order_bv, dl->bv) == 0)
			fleet_verified(fm, dl);
	}
	dl->waiters = NULL;
}

/* The shared download of o's binary version, started by the first
 * machine that needs it. */
static void fleet_download(struct fleet_machine *fm, const struct ups_order *o)
{
	struct fleet *f = fm->fleet;
	struct fleet_dl *dl;
	char path[256];
	int rv;

	for (dl = f->dls; dl; dl = dl->next)
		if (strcmp(dl->bv, o->binary_version) == 0)
			break;
	if (dl && !dl->running && dl->rv == 0) {
		fleet_verified(fm, dl);
		return;
	}
	if (!dl) {
		dl = calloc(1, sizeof(*dl));
		if (!dl) {
			fleet_end(fm, UPS_MST_FAILED, "out of memory");
			return;
		}
		dl->fleet = f;
		snprintf(dl->bv, sizeof(dl->bv), "%s", o->binary_version);
		dl->next = f->dls;
		f->dls = dl;
	}
	fm->dl_next = dl->waiters;
	dl->waiters = fm;
	if (dl->running)
		return;
	/* A failed one is tried again for the next machine that needs it. */
	snprintf(dl->sha256, sizeof(dl->sha256), "%s", o->sha256);
	dl->size = o->size;
	snprintf(path, sizeof(path), "%s/juju-%s.tgz", f->scratch,
	         o->binary_version);
	dl->running = true;
	rv = fetch_start(&f->fetch, path, o->urls, o->nurls, o->size, o->sha256,
	                 NULL, fleet_dl_done, dl);
	if (rv) {
		dl->running = false;
		dl->waiters = fm->dl_next;
		fm->dl_next = NULL;
		fleet_end(fm, UPS_MST_FAILED, ups_err_message(rv));
	}
}

static void fleet_on_work(uv_timer_t *t)
{
	struct fleet_machine *fm = t->data;
	char version[UPS_LIMIT_VERSION_LEN + 1];

	if (!fm->has_order || fm->fleet->stopping)
		return;
	switch (fm->step) {
	case FLEET_STEP_FAIL_DL:
		fleet_end(fm, UPS_MST_FAILED, "download failed (injected)");
		return;
	case FLEET_STEP_HEALTH:
		fleet_set(fm, UPS_MST_HEALTH_WAIT);
		fleet_after(fm, FLEET_STEP_END);
		return;
	case FLEET_STEP_END:
		if (fm->f_health) {
			fleet_end(fm, UPS_MST_FAILED,
			          "never healthy (injected); switched back");
			return;
		}
		snprintf(fm->previous, sizeof(fm->previous), "%s", fm->current);
		snprintf(fm->current, sizeof(fm->current), "%s", fm->order_bv);
		fleet_end(fm, UPS_MST_HEALTHY, NULL);
		return;
	case FLEET_STEP_REVERT:
		fleet_version_of(fm->previous, version, sizeof(version));
		snprintf(fm->current, sizeof(fm->current), "%s", fm->previous);
		fm->previous[0] = '\0';
		fleet_end(fm, UPS_MST_REVERTED, NULL);
		return;
	}
}

static void fleet_on_order(struct magent *m, const struct ups_order *o)
{
	struct fleet_machine *fm = m->data;

	fleet_log_order(fm, o);
	if (fm->has_order && strcmp(fm->order_id, o->id) == 0) {
		/* Carrying it out already: say where it stands. */
		fleet_status(fm, fm->state, fm->order_id, NULL);
		return;
	}
	if (strcmp(fm->done_id, o->id) == 0) {
		fleet_status(fm, fm->done_state, fm->done_id,
		             fm->done_reason[0] ? fm->done_reason : NULL);
		fleet_status(fm, UPS_MST_IDLE, NULL, NULL);
		return;
	}
	uv_timer_stop(&fm->work);
	fm->has_order = true;
	fm->kind = o->kind;
	snprintf(fm->order_id, sizeof(fm->order_id), "%s", o->id);
	snprintf(fm->order_bv, sizeof(fm->order_bv), "%s", o->binary_version);
	snprintf(fm->order_sha, sizeof(fm->order_sha), "%s", o->sha256);
	fm->order_size = o->size;
	/* Always five draws, in this order: the same seed, the same
	 * faults, however the run is timed. */
	fm->f_download = fleet_draw(&fm->rng, fm->fleet->cfg->p_download);
	fm->f_verify = fleet_draw(&fm->rng, fm->fleet->cfg->p_verify);
	fm->f_health = fleet_draw(&fm->rng, fm->fleet->cfg->p_health);
	fm->f_crash = fleet_draw(&fm->rng, fm->fleet->cfg->p_crash) &&
	              strcmp(fm->crashed_id, o->id) != 0;
	fm->f_silent = fleet_draw(&fm->rng, fm->fleet->cfg->p_silent);
	fleet_set(fm, UPS_MST_ORDERED);
	if (o->kind == UPS_ORDER_REVERT) {
		if (!fm->previous[0]) {
			fleet_end(fm, UPS_MST_FAILED,
			          "no previous version to revert to");
			return;
		}
		fleet_set(fm, UPS_MST_REVERTING);
		fleet_after(fm, FLEET_STEP_REVERT);
		return;
	}
	if (fm->f_silent) {
		LOG_INFO("fleet", "machine %s: silent from now (injected)",
		         fm->m.id);
		fm->m.silent = true;
		return;
	}
	if (strcmp(fm->current, o->binary_version) == 0) {
		fleet_set(fm, UPS_MST_RESTARTING);
		fleet_after(fm, FLEET_STEP_HEALTH);
		return;
	}
	fleet_set(fm, UPS_MST_DOWNLOADING);
	if (fm->f_download) {
		fleet_after(fm, FLEET_STEP_FAIL_DL);
		return;
	}
	fleet_download(fm, o);
}

static void fleet_on_registered(struct magent *m)
{
	struct fleet_machine *fm = m->data;
	struct fleet *f = fm->fleet;

	/* A readiness line each time the whole fleet is registered. */
	if (f->hub.registered == f->cfg->machines) {
		printf("registered %u\n", f->hub.registered);
		fflush(stdout);
	}
}

static const struct magent_ops fleet_ops = {
    .registered = fleet_on_registered,
    .order = fleet_on_order,
};

/* -------------------------------------------------------------------------
 * Start and stop. */

static void fleet_stop(struct fleet *f)
{
	if (f->stopping)
		return;
	f->stopping = true;
	LOG_INFO("fleet", "stopping");
	uv_close((uv_handle_t *)&f->sigint, NULL);
	uv_close((uv_handle_t *)&f->sigterm, NULL);
	fetch_engine_stop(&f->fetch);
	for (unsigned i = 0; i < f->cfg->machines; i++) {
		struct fleet_machine *fm = &f->machines[i];

		uv_close((uv_handle_t *)&fm->work, NULL);
		magent_stop(&fm->m);
	}
	magent_hub_stop(&f->hub);
}

static void fleet_on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	fleet_stop(h->data);
}

/* The downloads were ours alone: every file, then the directory. */
static void fleet_remove_scratch(const char *dir)
{
	char path[512];
	struct dirent *d;
	DIR *dp = opendir(dir);

	if (dp) {
		while ((d = readdir(dp)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%.200s/%.255s", dir,
			         d->d_name);
			(void)unlink(path);
		}
		closedir(dp);
	}
	(void)rmdir(dir);
}

/* Thousands of sockets: take what the hard limit allows. */
static void fleet_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		LOG_WARN("fleet", "cannot raise the open-files limit: %s",
		         strerror(errno));
}

int fleet_run(const struct fleet_config *cfg)
{
	static struct fleet fleet;
	struct fleet *f = &fleet;
	struct magent_hub_config hcfg;
	char err[UPS_ERRMSG_MAX];
	int status = 0;

	memset(f, 0, sizeof(*f));
	f->cfg = cfg;
	fleet_raise_nofile();
	snprintf(f->scratch, sizeof(f->scratch), "/tmp/upstage-fleet-XXXXXX");
	if (!mkdtemp(f->scratch)) {
		fprintf(stderr, "upstage-fleet: scratch directory: %s\n",
		        strerror(errno));
		return 1;
	}
	if (cfg->report_path) {
		f->report = fopen(cfg->report_path, "a");
		if (!f->report) {
			fprintf(stderr, "upstage-fleet: %s: %s\n",
			        cfg->report_path, strerror(errno));
			status = 1;
			goto out_scratch;
		}
		/* A line is in the file before the machine answers the
		 * order it tells of, so a test that sees the answer's
		 * effect finds the line (a few thousand writes per run). */
		setvbuf(f->report, NULL, _IOLBF, 0);
	}
	f->machines = calloc(cfg->machines, sizeof(*f->machines));
	if (!f->machines || uv_loop_init(&f->loop)) {
		fprintf(stderr, "upstage-fleet: out of memory\n");
		status = 1;
		goto out_report;
	}
	f->start_ms = uv_hrtime() / 1000000;
	memset(&hcfg, 0, sizeof(hcfg));
	hcfg.loop = &f->loop;
	hcfg.url = cfg->agent_url;
	hcfg.token = cfg->token;
	hcfg.ca_cert = cfg->ca_cert;
	hcfg.backoff_initial_ms = cfg->backoff_initial_ms;
	hcfg.backoff_max_ms = cfg->backoff_max_ms;
	hcfg.max_connecting = cfg->max_connecting;
	if (magent_hub_init(&f->hub, &hcfg, err, sizeof(err))) {
		fprintf(stderr, "upstage-fleet: %s\n", err);
		status = 1;
		goto out_loop;
	}
	if (fetch_engine_init(&f->fetch, &f->loop, cfg->download_ca)) {
		fprintf(stderr, "upstage-fleet: cannot set up curl\n");
		magent_hub_stop(&f->hub);
		uv_run(&f->loop, UV_RUN_DEFAULT);
		magent_hub_finish(&f->hub);
		status = 1;
		goto out_loop;
	}
	uv_signal_init(&f->loop, &f->sigint);
	uv_signal_init(&f->loop, &f->sigterm);
	f->sigint.data = f->sigterm.data = f;
	uv_signal_start(&f->sigint, fleet_on_signal, SIGINT);
	uv_signal_start(&f->sigterm, fleet_on_signal, SIGTERM);
	for (unsigned i = 0; i < cfg->machines; i++) {
		struct fleet_machine *fm = &f->machines[i];
		size_t groups = cfg->nreleases * cfg->narches;
		size_t g = i % groups;
		const char *release = cfg->releases[g % cfg->nreleases];
		const char *arch = cfg->arches[g / cfg->nreleases];
		char id[UPS_LIMIT_MACHINE_ID_LEN + 1];

		fm->fleet = f;
		fm->index = i;
		fm->rng = cfg->seed ^ (0x632be59bd9b4e019ULL * (i + 1));
		snprintf(fm->current, sizeof(fm->current), "%s-%s-%s",
		         cfg->version, release, arch);
		snprintf(id, sizeof(id), "%s%u", cfg->id_prefix, i);
		uv_timer_init(&f->loop, &fm->work);
		fm->work.data = fm;
		if (magent_start(&fm->m, &f->hub, &fleet_ops, fm, id, release,
		                 arch, cfg->version, 0)) {
			fprintf(stderr, "upstage-fleet: cannot start %s\n", id);
			status = 1;
			fleet_stop(f);
			break;
		}
		if (cfg->model)
			snprintf(fm->m.model, sizeof(fm->m.model), "%s",
			         cfg->model);
	}
	LOG_INFO("fleet", "%u machines dialling %s", cfg->machines,
	         cfg->agent_url);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	magent_hub_finish(&f->hub);
	fetch_engine_free(&f->fetch);
	for (unsigned i = 0; i < cfg->machines; i++)
		magent_free(&f->machines[i].m);
	while (f->dls) {
		struct fleet_dl *dl = f->dls;

		f->dls = dl->next;
		free(dl);
	}
out_loop:
	if (uv_loop_close(&f->loop))
		LOG_ERROR("fleet", "handles left open at exit");
out_report:
	free(f->machines);
	if (f->report)
		fclose(f->report);
out_scratch:
	fleet_remove_scratch(f->scratch);
	return status;
}
