/* The machine agent's orders; see machine.h. */
#include "contrib/machine/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "contrib/machine/fetch.h"
#include "contrib/machine/magent.h"
#include "contrib/machine/mstate.h"
#include "contrib/machine/runcmd.h"
#include "contrib/machine/unpack.h"
#include "proto/errors.h"
#include "proto/log.h"

/* Between two runs of the health command. */
#define MACHINE_HEALTH_RETRY_MS 500
/* Between two progress reports while downloading. */
#define MACHINE_PROGRESS_MS 250

enum machine_job {
	MACHINE_JOB_SAVE,   /* the state file only */
	MACHINE_JOB_UNPACK, /* unpack the download, then save */
	MACHINE_JOB_SWITCH, /* point the link at job_bv, then save */
};

struct machine_agent {
	const struct machine_config *cfg;
	uv_loop_t loop;
	struct magent_hub hub;
	bool hub_ready;
	struct magent m;
	bool m_ready;
	struct fetch_engine fetch;
	bool fetch_ready;
	char tools[4096];
	char state_path[4096];
	char downloads[4096];
	char tarball[4200];
	struct mstate st;
	bool busy; /* a step is in flight */
	bool have_pending;
	struct ups_order pending; /* an order that came while busy */
	/* The job in the thread pool. */
	uv_work_t work;
	enum machine_job job;
	char job_bv[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	struct mstate job_state;
	int job_rv;
	char job_err[UPS_ERRMSG_MAX];
	void (*job_then)(struct machine_agent *ma, int rv, const char *err);
	/* Commands. */
	struct runcmd run;
	bool run_busy;
	uv_timer_t health_timer;
	bool health_timer_open;
	uint64_t health_deadline;
	int last_health;
	bool falling_back; /* restarting the old version after a failure */
	char fail_reason[MSTATE_REASON_LEN + 1];
	uint64_t last_progress_ms;
	uv_signal_t sigint, sigterm;
	bool signals_open;
	bool stopping;
};

static void machine_continue(struct machine_agent *ma);
static void machine_fail(struct machine_agent *ma, const char *reason);

/* -------------------------------------------------------------------------
 * Small helpers. */

/* The canonical version of a binary version, or "" . */
static void machine_bv_version(const char *bv, char *out, size_t len)
{
	struct ups_binary_version p;

	out[0] = '\0';
	if (ups_binary_version_parse(bv, &p, NULL, 0) == 0)
		(void)ups_version_format(&p.version, out, len);
}

static void machine_report(struct machine_agent *ma, int progress)
{
	char version[UPS_LIMIT_VERSION_LEN + 1];
	const struct mstate *s = &ma->st;

	machine_bv_version(s->current, version, sizeof(version));
	if (s->has_order)
		magent_status(&ma->m, s->order_state, s->order.id, progress,
		              version[0] ? version : NULL,
		              s->reason[0] ? s->reason : NULL);
	else
		magent_status(&ma->m, UPS_MST_IDLE, NULL, -1,
		              version[0] ? version : NULL, NULL);
}

/* Temp file, fsync, rename, fsync the directory. Worker or start-up. */
static int machine_save_file(const char *path, const struct mstate *s,
                             char *err, size_t errlen)
{
	char tmp[4200], dir[4096];
	char *text = mstate_format(s);
	char *slash;
	int fd, rv = 0;
	size_t len, off = 0;

	if (!text)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", tmp,
		              strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < len || fsync(fd) != 0) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", tmp,
		              strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		rv = ups_errf(UPS_ERR_IO, err, errlen, "%s: %s", path,
		              strerror(errno));
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) != 0)
			rv = ups_errf(UPS_ERR_IO, err, errlen, "fsync %s: %s",
			              dir, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
out:
	free(text);
	return rv;
}

/* -------------------------------------------------------------------------
 * Jobs in the thread pool. */

static void machine_job_work(uv_work_t *req)
{
	struct machine_agent *ma = req->data;
	char record[2048];
	int rv = 0;

	ma->job_err[0] = '\0';
	switch (ma->job) {
	case MACHINE_JOB_UNPACK:
		snprintf(record, sizeof(record),
		         "{\"version\":\"%s\",\"url\":\"%s\",\"sha256\":\"%s\","
		         "\"size\":%llu}\n",
		         ma->job_bv,
		         ma->job_state.order.nurls ? ma->job_state.order.urls[0]
		                                   : "",
		         ma->job_state.order.sha256,
		         (unsigned long long)ma->job_state.order.size);
		rv = unpack_install(ma->tarball, ma->tools, ma->job_bv, record,
		                    ma->job_err, sizeof(ma->job_err));
		if (!rv)
			(void)unlink(ma->tarball);
		break;
	case MACHINE_JOB_SWITCH:
		rv = layout_switch(ma->tools, ma->cfg->machine_id, ma->job_bv,
		                   ma->job_err, sizeof(ma->job_err));
		break;
	case MACHINE_JOB_SAVE:
		break;
	}
	if (!rv)
		rv = machine_save_file(ma->state_path, &ma->job_state,
		                       ma->job_err, sizeof(ma->job_err));
	ma->job_rv = rv;
}

static void machine_job_after(uv_work_t *req, int status)
{
	struct machine_agent *ma = req->data;

	ma->busy = false;
	if (ma->stopping)
		return;
	ma->job_then(ma, status ? UPS_ERR_INTERNAL : ma->job_rv, ma->job_err);
}

/* Runs job with a snapshot of the state as it is now, then `then`. */
static void machine_job(struct machine_agent *ma, enum machine_job job,
                        const char *bv,
                        void (*then)(struct machine_agent *, int, const char *))
{
	ma->job = job;
	snprintf(ma->job_bv, sizeof(ma->job_bv), "%s", bv ? bv : "");
	ma->job_state = ma->st;
	ma->job_then = then;
	ma->busy = true;
	ma->work.data = ma;
	if (uv_queue_work(&ma->loop, &ma->work, machine_job_work,
	                  machine_job_after)) {
		ma->busy = false;
		then(ma, UPS_ERR_INTERNAL, "cannot queue work");
	}
}

/* Moves the order to state (recorded before anything else happens). */
static void machine_step(struct machine_agent *ma, enum ups_machine_state state,
                         const char *reason)
{
	ma->st.order_state = state;
	snprintf(ma->st.reason, sizeof(ma->st.reason), "%s",
	         reason ? reason : "");
	LOG_INFO("machine", "order %s: %s%s%s", ma->st.order.id,
	         ups_machine_state_name(state), reason ? ": " : "",
	         reason ? reason : "");
	if (ups_machine_state_flags(state) & UPS_MST_FINAL) {
		printf("order %s: %s%s%s\n", ma->st.order.id,
		       ups_machine_state_name(state), reason ? ": " : "",
		       reason ? reason : "");
		fflush(stdout);
	}
}

static void machine_saved_continue(struct machine_agent *ma, int rv,
                                   const char *err)
{
	if (rv) {
		LOG_ERROR("machine", "cannot record the order: %s", err);
		machine_fail(ma, err);
		return;
	}
	machine_report(ma, -1);
	machine_continue(ma);
}

/* The order ended (state recorded): report it, then be idle. */
static void machine_saved_final(struct machine_agent *ma, int rv,
                                const char *err)
{
	if (rv)
		LOG_ERROR("machine", "cannot record the outcome: %s", err);
	machine_report(ma, -1);
	/* Outside an order a machine is idle; the outcome stays recorded
	 * for an order id delivered again. */
	magent_status(&ma->m, UPS_MST_IDLE, NULL, -1, NULL, NULL);
	machine_continue(ma);
}

static void machine_final(struct machine_agent *ma,
                          enum ups_machine_state state, const char *reason)
{
	machine_step(ma, state, reason);
	machine_job(ma, MACHINE_JOB_SAVE, NULL, machine_saved_final);
}

/* -------------------------------------------------------------------------
 * Restart and health. */

static void machine_health_run(struct machine_agent *ma);

static void machine_env(struct machine_agent *ma, char env[3][512],
                        char *ptrs[4])
{
	snprintf(env[0], 512, "UPSTAGE_MACHINE_ID=%s", ma->cfg->machine_id);
	snprintf(env[1], 512, "UPSTAGE_BINARY_VERSION=%s", ma->st.current);
	snprintf(env[2], 512, "UPSTAGE_TOOLS_DIR=%.480s", ma->tools);
	ptrs[0] = env[0];
	ptrs[1] = env[1];
	ptrs[2] = env[2];
	ptrs[3] = NULL;
}

static uint64_t machine_now(struct machine_agent *ma)
{
	uv_update_time(&ma->loop);
	return uv_now(&ma->loop);
}

/* The outcome of the health phase of the current order. */
static void machine_health_result(struct machine_agent *ma, bool healthy,
                                  const char *why)
{
	bool revert = ma->st.order.kind == UPS_ORDER_REVERT;

	if (ma->falling_back) {
		/* The old version is back (healthy or not): the order has
		 * failed for the reason found first. */
		ma->falling_back = false;
		machine_final(ma, UPS_MST_FAILED, ma->fail_reason);
		return;
	}
	if (healthy) {
		machine_final(ma, revert ? UPS_MST_REVERTED : UPS_MST_HEALTHY,
		              NULL);
		return;
	}
	machine_fail(ma, why);
}

static void machine_health_timer(uv_timer_t *t)
{
	machine_health_run(t->data);
}

static void machine_health_done(struct runcmd *rc, int status)
{
	struct machine_agent *ma = rc->data;
	char why[MSTATE_REASON_LEN + 1];

	ma->run_busy = false;
	if (ma->stopping)
		return;
	ma->last_health = status;
	if (status == 0) {
		machine_health_result(ma, true, NULL);
		return;
	}
	if (machine_now(ma) + MACHINE_HEALTH_RETRY_MS < ma->health_deadline) {
		uv_timer_start(&ma->health_timer, machine_health_timer,
		               MACHINE_HEALTH_RETRY_MS, 0);
		return;
	}
	snprintf(why, sizeof(why),
	         "health check did not pass within %llu ms (last: %s %d)",
	         (unsigned long long)ma->cfg->health_timeout_ms,
	         status == -1 ? "killed at the deadline, status"
	                      : "exit status",
	         status);
	machine_health_result(ma, false, why);
}

static void machine_health_run(struct machine_agent *ma)
{
	char env[3][512];
	char *ptrs[4];
	uint64_t now = machine_now(ma);
	int rv;

	if (!ma->cfg->health_cmd) {
		machine_health_result(ma, true, NULL);
		return;
	}
	machine_env(ma, env, ptrs);
	ma->run_busy = true;
	rv = runcmd_start(&ma->run, &ma->loop, ma->cfg->health_cmd, ptrs,
	                  ma->health_deadline > now ? ma->health_deadline - now
	                                            : 1,
	                  machine_health_done, ma);
	if (rv) {
		ma->run_busy = false;
		machine_health_result(ma, false,
		                      "cannot run the health command");
	}
}

static void machine_restarted(struct runcmd *rc, int status)
{
	struct machine_agent *ma = rc->data;
	char why[MSTATE_REASON_LEN + 1];

	ma->run_busy = false;
	if (ma->stopping)
		return;
	if (status != 0 && !ma->falling_back) {
		snprintf(why, sizeof(why), "restart command %s %d",
		         status == -1 ? "timed out, status" : "exit status",
		         status);
		machine_health_result(ma, false, why);
		return;
	}
	if (ma->falling_back) {
		machine_health_result(ma, false, NULL);
		return;
	}
	machine_step(ma, UPS_MST_HEALTH_WAIT, NULL);
	machine_report(ma, -1);
	ma->health_deadline = machine_now(ma) + ma->cfg->health_timeout_ms;
	machine_health_run(ma);
}

/* The link points at the version to run: restart it. */
static void machine_restart(struct machine_agent *ma)
{
	char env[3][512];
	char *ptrs[4];

	ma->run.data = ma;
	if (!ma->cfg->restart_cmd) {
		machine_restarted(&ma->run, 0);
		return;
	}
	machine_env(ma, env, ptrs);
	ma->run_busy = true;
	if (runcmd_start(&ma->run, &ma->loop, ma->cfg->restart_cmd, ptrs,
	                 ma->cfg->health_timeout_ms, machine_restarted, ma)) {
		ma->run_busy = false;
		machine_restarted(&ma->run, -2);
	}
}

static void machine_switched(struct machine_agent *ma, int rv, const char *err)
{
	if (rv) {
		if (ma->falling_back) {
			ma->falling_back = false;
			machine_final(ma, UPS_MST_FAILED, ma->fail_reason);
			return;
		}
		machine_fail(ma, err);
		return;
	}
	machine_report(ma, -1);
	machine_restart(ma);
}

/* Something went wrong: put the previous version back (when the link
 * was switched), then report failed with reason. */
static void machine_fail(struct machine_agent *ma, const char *reason)
{
	bool switched = ma->st.order_state == UPS_MST_RESTARTING ||
	                ma->st.order_state == UPS_MST_HEALTH_WAIT ||
	                ma->st.order_state == UPS_MST_REVERTING;
	char back[UPS_LIMIT_BINARY_VERSION_LEN + 1];

	snprintf(ma->fail_reason, sizeof(ma->fail_reason), "%s",
	         reason ? reason : "failed");
	if (!switched || !ma->st.previous[0] ||
	    !unpack_has(ma->tools, ma->st.previous)) {
		machine_final(ma, UPS_MST_FAILED, ma->fail_reason);
		return;
	}
	/* Back to what ran before. */
	snprintf(back, sizeof(back), "%s", ma->st.previous);
	snprintf(ma->st.previous, sizeof(ma->st.previous), "%s",
	         ma->st.current);
	snprintf(ma->st.current, sizeof(ma->st.current), "%s", back);
	snprintf(ma->fail_reason + strlen(ma->fail_reason),
	         sizeof(ma->fail_reason) - strlen(ma->fail_reason),
	         "; switched back to %s", back);
	LOG_WARN("machine", "order %s: %s", ma->st.order.id, ma->fail_reason);
	ma->falling_back = true;
	ma->st.order_state = UPS_MST_RESTARTING;
	machine_job(ma, MACHINE_JOB_SWITCH, back, machine_switched);
}

/* -------------------------------------------------------------------------
 * Download and unpack. */

static void machine_unpacked(struct machine_agent *ma, int rv, const char *err)
{
	if (rv) {
		(void)unlink(ma->tarball);
		machine_final(ma, UPS_MST_FAILED, err);
		return;
	}
	machine_step(ma, UPS_MST_STAGED, NULL);
	machine_job(ma, MACHINE_JOB_SAVE, NULL, machine_saved_continue);
}

static void machine_progress(void *data, uint64_t have, uint64_t size)
{
	struct machine_agent *ma = data;
	uint64_t now = uv_now(&ma->loop);

	if (now - ma->last_progress_ms < MACHINE_PROGRESS_MS && have < size)
		return;
	ma->last_progress_ms = now;
	machine_report(ma, (int)(have * 100 / size));
}

static void machine_fetched(void *data, int rv, const char *err,
                            const struct fetch_result *res)
{
	struct machine_agent *ma = data;

	ma->busy = false;
	LOG_INFO("machine",
	         "order %s: download %s: %llu bytes fetched, resumed at "
	         "%llu (%s)",
	         ma->st.order.id, rv ? "failed" : "done",
	         (unsigned long long)res->fetched,
	         (unsigned long long)res->resumed_from, res->url);
	printf("download %s: fetched %llu resumed-from %llu\n",
	       rv ? ups_err_code(rv) : "ok", (unsigned long long)res->fetched,
	       (unsigned long long)res->resumed_from);
	fflush(stdout);
	if (rv) {
		char why[MSTATE_REASON_LEN + 1];

		snprintf(why, sizeof(why), "%s: %s", ups_err_code(rv), err);
		machine_final(ma, UPS_MST_FAILED, why);
		return;
	}
	machine_step(ma, UPS_MST_VERIFYING, NULL);
	machine_report(ma, -1);
	machine_job(ma, MACHINE_JOB_UNPACK, ma->st.order.binary_version,
	            machine_unpacked);
}

static void machine_download(struct machine_agent *ma)
{
	const struct ups_order *o = &ma->st.order;
	int rv;

	if (mkdir(ma->downloads, 0700) != 0 && errno != EEXIST) {
		machine_final(ma, UPS_MST_FAILED, "cannot create downloads/");
		return;
	}
	snprintf(ma->tarball, sizeof(ma->tarball), "%.3900s/juju-%s.tgz",
	         ma->downloads, o->binary_version);
	if (ma->st.order_state != UPS_MST_DOWNLOADING) {
		machine_step(ma, UPS_MST_DOWNLOADING, NULL);
		machine_report(ma, 0);
	}
	ma->busy = true;
	rv = fetch_start(&ma->fetch, ma->tarball, o->urls, o->nurls, o->size,
	                 o->sha256, machine_progress, machine_fetched, ma);
	if (rv) {
		ma->busy = false;
		machine_final(ma, UPS_MST_FAILED, ups_err_message(rv));
	}
}

/* -------------------------------------------------------------------------
 * Orders. */

/* Carries the current order on from its recorded state. */
static void machine_continue(struct machine_agent *ma)
{
	struct mstate *s = &ma->st;
	struct ups_order *o = &s->order;
	char version[UPS_LIMIT_VERSION_LEN + 1],
	    want[UPS_LIMIT_VERSION_LEN + 1];
	char back[UPS_LIMIT_BINARY_VERSION_LEN + 1];

	if (ma->busy || ma->run_busy || ma->stopping)
		return;
	if (ma->have_pending &&
	    (!s->has_order ||
	     (ups_machine_state_flags(s->order_state) & UPS_MST_FINAL))) {
		ma->have_pending = false;
		mstate_retire(s);
		s->has_order = true;
		s->order = ma->pending;
		s->order_state = UPS_MST_ORDERED;
		s->reason[0] = '\0';
		LOG_INFO("machine", "order %s: %s %s", o->id,
		         o->kind == UPS_ORDER_REVERT ? "revert to"
		                                     : "upgrade to",
		         o->binary_version);
		machine_job(ma, MACHINE_JOB_SAVE, NULL, machine_saved_continue);
		return;
	}
	if (!s->has_order ||
	    (ups_machine_state_flags(s->order_state) & UPS_MST_FINAL))
		return;
	if (o->kind == UPS_ORDER_REVERT) {
		switch (s->order_state) {
		case UPS_MST_ORDERED:
			machine_bv_version(s->previous, version,
			                   sizeof(version));
			machine_bv_version(o->binary_version, want,
			                   sizeof(want));
			if (!s->previous[0] ||
			    !unpack_has(ma->tools, s->previous) ||
			    strcmp(version, want) != 0) {
				machine_final(ma, UPS_MST_FAILED,
				              "no previous version on disk to "
				              "revert to");
				return;
			}
			snprintf(back, sizeof(back), "%s", s->previous);
			snprintf(s->previous, sizeof(s->previous), "%s",
			         s->current);
			snprintf(s->current, sizeof(s->current), "%s", back);
			machine_step(ma, UPS_MST_REVERTING, NULL);
			machine_job(ma, MACHINE_JOB_SWITCH, s->current,
			            machine_switched);
			return;
		case UPS_MST_REVERTING:
		case UPS_MST_RESTARTING:
		case UPS_MST_HEALTH_WAIT:
			/* Resumed after a crash: the link may or may not
			 * have moved; moving it again is harmless. */
			machine_job(ma, MACHINE_JOB_SWITCH, s->current,
			            machine_switched);
			return;
		default:
			machine_final(ma, UPS_MST_FAILED, "bad revert state");
			return;
		}
	}
	switch (s->order_state) {
	case UPS_MST_ORDERED:
	case UPS_MST_DOWNLOADING:
	case UPS_MST_VERIFYING:
		if (strcmp(s->current, o->binary_version) == 0) {
			/* Already running it: only the health check. */
			machine_step(ma, UPS_MST_RESTARTING, NULL);
			machine_job(ma, MACHINE_JOB_SWITCH, s->current,
			            machine_switched);
			return;
		}
		if (unpack_has(ma->tools, o->binary_version)) {
			machine_step(ma, UPS_MST_STAGED, NULL);
			machine_job(ma, MACHINE_JOB_SAVE, NULL,
			            machine_saved_continue);
			return;
		}
		machine_download(ma);
		return;
	case UPS_MST_STAGED:
		snprintf(s->previous, sizeof(s->previous), "%s", s->current);
		snprintf(s->current, sizeof(s->current), "%s",
		         o->binary_version);
		machine_step(ma, UPS_MST_RESTARTING, NULL);
		machine_job(ma, MACHINE_JOB_SWITCH, s->current,
		            machine_switched);
		return;
	case UPS_MST_RESTARTING:
	case UPS_MST_HEALTH_WAIT:
		machine_step(ma, UPS_MST_RESTARTING, NULL);
		machine_job(ma, MACHINE_JOB_SWITCH, s->current,
		            machine_switched);
		return;
	default:
		machine_final(ma, UPS_MST_FAILED, "bad order state");
		return;
	}
}

static void machine_on_order(struct magent *m, const struct ups_order *o)
{
	struct machine_agent *ma = m->data;
	struct mstate *s = &ma->st;
	const struct mstate_done *done;

	printf("order received %s %s\n", o->id, o->binary_version);
	fflush(stdout);
	/* The order they are tried in: what an operator checks first when
	 * a download comes from somewhere unexpected. */
	for (size_t i = 0; i < o->nurls; i++)
		LOG_INFO("machine", "order %s: URL %zu of %zu: %s", o->id,
		         i + 1, o->nurls, o->urls[i]);
	if (s->has_order && strcmp(s->order.id, o->id) == 0) {
		/* The same order again: carry on, or say how it ended. */
		LOG_INFO("machine", "order %s again: %s", o->id,
		         ups_machine_state_name(s->order_state));
		if (ups_machine_state_flags(s->order_state) & UPS_MST_FINAL) {
			machine_report(ma, -1);
			magent_status(m, UPS_MST_IDLE, NULL, -1, NULL, NULL);
		} else {
			machine_report(ma, -1);
			machine_continue(ma);
		}
		return;
	}
	done = mstate_find_done(s, o->id);
	if (done) {
		char version[UPS_LIMIT_VERSION_LEN + 1];

		LOG_INFO("machine", "order %s again: it ended %s", o->id,
		         ups_machine_state_name(done->state));
		machine_bv_version(s->current, version, sizeof(version));
		magent_status(m, done->state, done->id, -1, version,
		              done->reason[0] ? done->reason : NULL);
		magent_status(m, UPS_MST_IDLE, NULL, -1, NULL, NULL);
		return;
	}
	ma->pending = *o;
	ma->have_pending = true;
	if (s->has_order &&
	    !(ups_machine_state_flags(s->order_state) & UPS_MST_FINAL) &&
	    !ma->busy && !ma->run_busy) {
		/* upstaged moved on from the order we had. */
		machine_step(ma, UPS_MST_FAILED, "superseded by a new order");
	}
	machine_continue(ma);
}

static void machine_on_registered(struct magent *m)
{
	struct machine_agent *ma = m->data;

	printf("registered %s\n", ma->cfg->machine_id);
	fflush(stdout);
}

static const struct magent_ops machine_ops = {
    .registered = machine_on_registered,
    .order = machine_on_order,
};

/* -------------------------------------------------------------------------
 * Start and stop. */

static void machine_stop(struct machine_agent *ma)
{
	if (ma->stopping)
		return;
	ma->stopping = true;
	LOG_INFO("machine", "stopping");
	if (ma->signals_open) {
		uv_close((uv_handle_t *)&ma->sigint, NULL);
		uv_close((uv_handle_t *)&ma->sigterm, NULL);
		ma->signals_open = false;
	}
	if (ma->health_timer_open) {
		uv_close((uv_handle_t *)&ma->health_timer, NULL);
		ma->health_timer_open = false;
	}
	if (ma->run_busy)
		kill(-ma->run.proc.pid, SIGKILL);
	if (ma->fetch_ready)
		fetch_engine_stop(&ma->fetch);
	if (ma->m_ready)
		magent_stop(&ma->m);
	if (ma->hub_ready)
		magent_hub_stop(&ma->hub);
}

static void machine_on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	machine_stop(h->data);
}

/* Reads the state file, or starts one from the link and --version. */
static int machine_load(struct machine_agent *ma, char *err, size_t errlen)
{
	const struct machine_config *cfg = ma->cfg;
	char *buf;
	FILE *f;
	size_t n;
	int rv = 0;

	memset(&ma->st, 0, sizeof(ma->st));
	f = fopen(ma->state_path, "rb");
	if (f) {
		buf = malloc(MSTATE_FILE_MAX + 1);
		if (!buf) {
			fclose(f);
			return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
			                "out of memory");
		}
		n = fread(buf, 1, MSTATE_FILE_MAX + 1, f);
		fclose(f);
		rv = mstate_parse(buf, n, &ma->st, err, errlen);
		free(buf);
		if (rv)
			return rv;
	}
	if (layout_current(ma->tools, cfg->machine_id, ma->st.current,
	                   sizeof(ma->st.current)) != 0 &&
	    !ma->st.current[0])
		snprintf(ma->st.current, sizeof(ma->st.current), "%s-%s-%s",
		         cfg->version, cfg->release, cfg->arch);
	return machine_save_file(ma->state_path, &ma->st, err, errlen);
}

int machine_run(const struct machine_config *cfg)
{
	static struct machine_agent agent;
	struct machine_agent *ma = &agent;
	struct magent_hub_config hcfg;
	char version[UPS_LIMIT_VERSION_LEN + 1];
	char err[UPS_ERRMSG_MAX];
	int status = 0, rv;

	memset(ma, 0, sizeof(*ma));
	ma->cfg = cfg;
	snprintf(ma->tools, sizeof(ma->tools), "%s/tools", cfg->data_dir);
	snprintf(ma->state_path, sizeof(ma->state_path),
	         "%s/upstage-machine.json", cfg->data_dir);
	snprintf(ma->downloads, sizeof(ma->downloads), "%s/downloads",
	         cfg->data_dir);
	if ((mkdir(cfg->data_dir, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(ma->tools, 0755) != 0 && errno != EEXIST)) {
		fprintf(stderr, "upstage-machine: cannot create %s: %s\n",
		        ma->tools, strerror(errno));
		return 1;
	}
	err[0] = '\0';
	if (machine_load(ma, err, sizeof(err))) {
		fprintf(stderr, "upstage-machine: %s: %s\n", ma->state_path,
		        err);
		return 1;
	}
	if (uv_loop_init(&ma->loop))
		return 1;
	memset(&hcfg, 0, sizeof(hcfg));
	hcfg.loop = &ma->loop;
	hcfg.url = cfg->agent_url;
	hcfg.token = cfg->token;
	hcfg.ca_cert = cfg->ca_cert;
	hcfg.backoff_initial_ms = cfg->backoff_initial_ms;
	hcfg.backoff_max_ms = cfg->backoff_max_ms;
	hcfg.max_connecting = 1;
	rv = magent_hub_init(&ma->hub, &hcfg, err, sizeof(err));
	if (rv) {
		fprintf(stderr, "upstage-machine: %s\n", err);
		status = 1;
		goto out_loop;
	}
	ma->hub_ready = true;
	if (fetch_engine_init(&ma->fetch, &ma->loop, cfg->download_ca) == 0)
		ma->fetch_ready = true;
	uv_timer_init(&ma->loop, &ma->health_timer);
	ma->health_timer.data = ma;
	ma->health_timer_open = true;
	uv_signal_init(&ma->loop, &ma->sigint);
	uv_signal_init(&ma->loop, &ma->sigterm);
	ma->sigint.data = ma->sigterm.data = ma;
	ma->signals_open = true;
	uv_signal_start(&ma->sigint, machine_on_signal, SIGINT);
	uv_signal_start(&ma->sigterm, machine_on_signal, SIGTERM);
	machine_bv_version(ma->st.current, version, sizeof(version));
	if (!ma->fetch_ready ||
	    magent_start(&ma->m, &ma->hub, &machine_ops, ma, cfg->machine_id,
	                 cfg->release, cfg->arch,
	                 version[0] ? version : cfg->version, 0)) {
		fprintf(stderr, "upstage-machine: cannot start\n");
		status = 1;
		machine_stop(ma);
	} else {
		ma->m_ready = true;
		if (cfg->model)
			snprintf(ma->m.model, sizeof(ma->m.model), "%s",
			         cfg->model);
		LOG_INFO("machine", "machine %s runs %s", cfg->machine_id,
		         ma->st.current);
		machine_report(ma, -1);
		/* An order a previous run did not finish goes on now. */
		machine_continue(ma);
	}
	uv_run(&ma->loop, UV_RUN_DEFAULT);
	magent_hub_finish(&ma->hub);
	if (ma->m_ready)
		magent_free(&ma->m);
	if (ma->fetch_ready)
		fetch_engine_free(&ma->fetch);
out_loop:
	if (uv_loop_close(&ma->loop))
		LOG_ERROR("machine", "handles left open at exit");
	return status;
}
