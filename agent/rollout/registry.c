/* The machine registry; see registry.h. */
#include "agent/rollout/registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/errors.h"
#include "proto/log.h"

#define REGISTRY_TICK_MS 1000

/* A completion waiting for the next write to commit. */
struct registry_waiter {
	struct registry_waiter *next;
	void (*fn)(struct registry *r, void *arg, int rv, const char *err);
	void *arg;
};

/* One write-behind batch: copies of the dirty rows, and who waits. */
struct registry_job {
	uv_work_t work;
	struct registry *r;
	struct regdb_machine *machines;
	size_t nmachines;
	struct regdb_order *orders;
	size_t norders;
	struct registry_waiter *waiters;
	int rv;
	char err[UPS_ERRMSG_MAX];
};

/* One machine of an order request. */
struct registry_want {
	struct machine *m; /* NULL: unknown id */
	char id[UPS_LIMIT_MACHINE_ID_LEN + 1];
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	/* Worker: the binary found, or the name reported missing. */
	bool found;
	bool misfit;
	struct catalog_binary binary;
	char missing[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	/* Loop: the order made. */
	struct registry_ordered ordered;
};

/* An order request: binary lookups on a worker, then the orders. */
struct registry_lookup {
	uv_work_t work;
	struct registry *r;
	struct registry_lookup *prev, *next;
	enum ups_order_kind kind;
	char version[UPS_LIMIT_VERSION_LEN + 1];   /* "" with a bv */
	char bv[UPS_LIMIT_BINARY_VERSION_LEN + 1]; /* "" with a version */
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	registry_order_cb cb;
	void *data;
	size_t n;
	int rv;
	char err[UPS_ERRMSG_MAX];
	struct registry_want want[];
};

static int64_t registry_now(const struct registry *r)
{
	return r->cfg.now_s ? r->cfg.now_s() : (int64_t)time(NULL);
}

/* FNV-1a: ids are short and not chosen to collide by anyone who gains
 * from it more than a slower lookup. */
static size_t registry_hash_id(const char *id)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *id; id++) {
		h ^= (unsigned char)*id;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static size_t registry_hash_ptr(const void *p)
{
	uint64_t h = (uint64_t)(uintptr_t)p;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h;
}

static struct machine *registry_lookup_id(const struct registry *r,
                                          const char *id)
{
	struct machine *m;

	if (!r->nbuckets)
		return NULL;
	m = r->by_id[registry_hash_id(id) % r->nbuckets];
	while (m && strcmp(m->row.id, id) != 0)
		m = m->id_next;
	return m;
}

static struct machine *registry_lookup_session(const struct registry *r,
                                               const void *session)
{
	struct machine *m;

	if (!r->nbuckets || !session)
		return NULL;
	m = r->by_session[registry_hash_ptr(session) % r->nbuckets];
	while (m && m->session != session)
		m = m->session_next;
	return m;
}

/* Grows the tables to keep chains short: twice the machines. */
static int registry_grow(struct registry *r)
{
	size_t nb = r->nbuckets ? r->nbuckets * 2 : 1024;
	struct machine **by_id, **by_session, **sorted;

	by_id = calloc(nb, sizeof(*by_id));
	by_session = calloc(nb, sizeof(*by_session));
	sorted = realloc(r->sorted, nb * sizeof(*sorted));
	if (!by_id || !by_session || !sorted) {
		free(by_id);
		free(by_session);
		if (sorted)
			r->sorted = sorted;
		return UPS_ERR_NO_MEMORY;
	}
	r->sorted = sorted;
	for (size_t i = 0; i < r->nbuckets; i++) {
		struct machine *m = r->by_id[i], *next;

		for (; m; m = next) {
			size_t b = registry_hash_id(m->row.id) % nb;

			next = m->id_next;
			m->id_next = by_id[b];
			by_id[b] = m;
		}
		for (m = r->by_session[i]; m; m = next) {
			size_t b = registry_hash_ptr(m->session) % nb;

			next = m->session_next;
			m->session_next = by_session[b];
			by_session[b] = m;
		}
	}
	free(r->by_id);
	free(r->by_session);
	r->by_id = by_id;
	r->by_session = by_session;
	r->nbuckets = nb;
	return 0;
}

static int registry_add(struct registry *r, struct machine *m)
{
	size_t b;
	int rv;

	if (r->count + 1 > r->nbuckets / 2 && (rv = registry_grow(r)))
		return rv;
	b = registry_hash_id(m->row.id) % r->nbuckets;
	m->id_next = r->by_id[b];
	r->by_id[b] = m;
	r->sorted[r->count++] = m;
	r->sorted_stale = true;
	return 0;
}

static void registry_bind_session(struct registry *r, struct machine *m,
                                  void *session)
{
	size_t b = registry_hash_ptr(session) % r->nbuckets;

	m->session = session;
	m->session_next = r->by_session[b];
	r->by_session[b] = m;
}

static void registry_unbind_session(struct registry *r, struct machine *m)
{
	struct machine **pp;

	if (!m->session)
		return;
	pp = &r->by_session[registry_hash_ptr(m->session) % r->nbuckets];
	for (; *pp; pp = &(*pp)->session_next) {
		if (*pp == m) {
			*pp = m->session_next;
			break;
		}
	}
	m->session = NULL;
	m->session_next = NULL;
}


static int registry_sort_cmp(const void *pa, const void *pb)
{
	const struct machine *a = *(const struct machine *const *)pa;
	const struct machine *b = *(const struct machine *const *)pb;
	int c = ups_machine_id_cmp(a->row.id, b->row.id);

	/* "01" and "1" sort alike; bytes decide so the order is total. */
	return c ? c : strcmp(a->row.id, b->row.id);
}

/* -------------------------------------------------------------------------
 * Write-behind. */

static void registry_kick(struct registry *r);

static void registry_mark(struct registry *r, struct machine *m, bool order)
{
	if (order)
		m->order_dirty = true;
	if (m->dirty)
		return;
	m->dirty = true;
	m->dirty_next = r->dirty;
	r->dirty = m;
}

static int registry_wait(struct registry *r,
                         void (*fn)(struct registry *, void *, int,
                                    const char *),
                         void *arg)
{
	struct registry_waiter *w = malloc(sizeof(*w));

	if (!w)
		return UPS_ERR_NO_MEMORY;
	w->fn = fn;
	w->arg = arg;
	w->next = NULL;
	/* In the order asked: answers go out as requests came. Appended at
	 * the tail in O(1): thousands of machines report between two
	 * writes during a rollout. */
	if (!r->waiting)
		r->waiting_tail = &r->waiting;
	*r->waiting_tail = w;
	r->waiting_tail = &w->next;
	registry_kick(r);
	return 0;
}

static void registry_job_work(uv_work_t *req)
{
	struct registry_job *j = req->data;

	j->err[0] = '\0';
	j->rv = regdb_write(j->r->db, j->machines, j->nmachines, j->orders,
	                    j->norders, j->err, sizeof(j->err));
}

static void registry_job_after(uv_work_t *req, int status)
{
	struct registry_job *j = req->data;
	struct registry *r = j->r;
	struct registry_waiter *w, *next;
	int rv = status ? UPS_ERR_INTERNAL : j->rv;

	r->job = NULL;
	if (rv) {
		LOG_ERROR("registry", "writing %zu machines, %zu orders: %s",
		          j->nmachines, j->norders,
		          j->err[0] ? j->err : ups_err_message(rv));
		/* The rows stay what memory says; write them again. */
		for (size_t i = 0; i < j->nmachines; i++) {
			struct machine *m =
			    registry_lookup_id(r, j->machines[i].id);

			if (m)
				registry_mark(r, m, false);
		}
		for (size_t i = 0; i < j->norders; i++) {
			struct machine *m =
			    registry_lookup_id(r, j->orders[i].machine_id);

			if (m)
				registry_mark(r, m, true);
		}
	}
	for (w = j->waiters; w; w = next) {
		next = w->next;
		w->fn(r, w->arg, rv, j->err);
		free(w);
	}
	free(j->machines);
	free(j->orders);
	free(j);
	/* Whatever came meanwhile and is waited for goes now. */
	if (r->waiting)
		registry_kick(r);
}

/* Starts a write of everything dirty, with everyone waiting, unless one
 * is in flight (then its completion starts the next). */
static void registry_kick(struct registry *r)
{
	struct registry_job *j;
	struct machine *m;
	size_t nm = 0, no = 0;

	if (r->job || (!r->dirty && !r->waiting))
		return;
	for (m = r->dirty; m; m = m->dirty_next) {
		nm++;
		if (m->order_dirty && m->order)
			no++;
	}
	j = calloc(1, sizeof(*j));
	if (j && nm)
		j->machines = calloc(nm, sizeof(*j->machines));
	if (j && no)
		j->orders = calloc(no, sizeof(*j->orders));
	if (!j || (nm && !j->machines) || (no && !j->orders)) {
		if (j) {
			free(j->machines);
			free(j->orders);
			free(j);
		}
		LOG_ERROR("registry", "out of memory for a write; retrying");
		return;
	}
	j->r = r;
	no = 0;
	while ((m = r->dirty) != NULL) {
		r->dirty = m->dirty_next;
		m->dirty = false;
		m->dirty_next = NULL;
		j->machines[j->nmachines++] = m->row;
		if (m->order_dirty && m->order)
			j->orders[no++] = *m->order;
		m->order_dirty = false;
	}
	j->norders = no;
	j->waiters = r->waiting;
	r->waiting = NULL;
	j->work.data = j;
	if (uv_queue_work(r->loop, &j->work, registry_job_work,
	                  registry_job_after)) {
		/* Cannot happen with a live loop; keep the rows dirty. */
		r->waiting = j->waiters;
		for (r->waiting_tail = &r->waiting; *r->waiting_tail;
		     r->waiting_tail = &(*r->waiting_tail)->next)
			;
		for (size_t i = 0; i < j->nmachines; i++) {
			m = registry_lookup_id(r, j->machines[i].id);
			if (m)
				registry_mark(r, m, true);
		}
		free(j->machines);
		free(j->orders);
		free(j);
		return;
	}
	r->job = j;
}

/* -------------------------------------------------------------------------
 * Open, tick, close. */

static struct machine *registry_new_machine(void)
{
	return calloc(1, sizeof(struct machine));
}

int registry_open(struct registry *r, uv_loop_t *loop, struct store *store,
                  const struct registry_config *cfg,
                  const struct registry_events *ev, char *err, size_t errlen)
{
	struct regdb_machine *rows = NULL;
	struct regdb_order *orders = NULL;
	size_t nrows = 0, norders = 0;
	uint64_t max_seq = 0;
	int rv;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->store = store;
	r->cfg = *cfg;
	r->cfg.data_dir = NULL;
	r->ev = *ev;
	rv = regdb_open(cfg->data_dir, &r->db, err, errlen);
	if (!rv)
		rv = regdb_load(r->db, &rows, &nrows, &orders, &norders,
		                &max_seq, err, errlen);
	if (rv)
		goto fail;
	snprintf(r->epoch, sizeof(r->epoch), "%s", regdb_epoch(r->db));
	r->next_seq = max_seq + 1;
	if ((rv = registry_grow(r)))
		goto fail;
	for (size_t i = 0; i < nrows; i++) {
		struct machine *m = registry_new_machine();

		if (!m) {
			rv = UPS_ERR_NO_MEMORY;
			goto fail;
		}
		m->row = rows[i];
		/* Nobody is connected to a process that just started. */
		m->row.connected = false;
		if ((rv = registry_add(r, m))) {
			free(m);
			goto fail;
		}
	}
	for (size_t i = 0; i < norders; i++) {
		struct machine *m = registry_lookup_id(r, orders[i].machine_id);

		if (!m || m->order)
			continue;
		m->order = malloc(sizeof(*m->order));
		if (!m->order) {
			rv = UPS_ERR_NO_MEMORY;
			goto fail;
		}
		*m->order = orders[i];
	}
	free(rows);
	free(orders);
	LOG_INFO("registry", "%zu machines known (epoch %s)", r->count,
	         r->epoch);
	return 0;
fail:
	if (rv == UPS_ERR_NO_MEMORY)
		ups_errf(rv, err, errlen, "registry: out of memory");
	free(rows);
	free(orders);
	registry_close(r);
	return rv;
}

static void registry_on_tick(uv_timer_t *t)
{
	struct registry *r = t->data;
	int64_t now = registry_now(r);

	r->ticks++;
	for (size_t i = 0; i < r->count; i++) {
		struct machine *m = r->sorted[i];

		if (m->row.lost || now - m->row.last_seen < r->cfg.lost_after_s)
			continue;
		m->row.lost = true;
		LOG_INFO("registry",
		         "machine %s: not seen for %" PRId64 " s; lost",
		         m->row.id, now - m->row.last_seen);
		registry_mark(r, m, false);
		if (r->ev.changed)
			r->ev.changed(r->ev.data, m);
	}
	if (r->ticks % REGISTRY_LAZY_TICKS == 0)
		registry_kick(r);
}

int registry_start(struct registry *r)
{
	if (uv_timer_init(r->loop, &r->tick))
		return UPS_ERR_IO;
	r->tick.data = r;
	r->tick_open = true;
	if (uv_timer_start(&r->tick, registry_on_tick, REGISTRY_TICK_MS,
	                   REGISTRY_TICK_MS))
		return UPS_ERR_IO;
	return 0;
}

void registry_stop(struct registry *r)
{
	r->stopping = true;
	if (r->tick_open) {
		uv_timer_stop(&r->tick);
		uv_close((uv_handle_t *)&r->tick, NULL);
		r->tick_open = false;
	}
}

void registry_close(struct registry *r)
{
	char err[UPS_ERRMSG_MAX];
	struct machine *m;

	/* The last batch, written here: the loop has drained. */
	if (r->db && r->dirty && !r->job) {
		struct regdb_machine *rows;
		struct regdb_order *orders;
		size_t nm = 0, no = 0;

		for (m = r->dirty; m; m = m->dirty_next)
			nm++;
		rows = calloc(nm, sizeof(*rows));
		orders = calloc(nm, sizeof(*orders));
		if (rows && orders) {
			for (m = r->dirty; m; m = m->dirty_next) {
				rows[nm - 1 - no] = m->row;
				no++;
			}
			no = 0;
			for (m = r->dirty; m; m = m->dirty_next)
				if (m->order_dirty && m->order)
					orders[no++] = *m->order;
			if (regdb_write(r->db, rows, nm, orders, no, err,
			                sizeof(err)))
				LOG_ERROR("registry", "last write: %s", err);
		}
		free(rows);
		free(orders);
	}
	for (size_t i = 0; i < r->count; i++) {
		free(r->sorted[i]->order);
		free(r->sorted[i]);
	}
	while (r->waiting) {
		struct registry_waiter *w = r->waiting;

		r->waiting = w->next;
		free(w);
	}
	free(r->by_id);
	free(r->by_session);
	free(r->sorted);
	regdb_close(r->db);
	memset(r, 0, sizeof(*r));
}

int registry_set_url_bases(struct registry *r, const char *const *bases,
                           size_t n)
{
	if (n > REGISTRY_URL_BASES)
		return UPS_ERR_TOO_LARGE;
	for (size_t i = 0; i < n; i++)
		if (strlen(bases[i]) >= REGISTRY_URL_BASE_LEN)
			return UPS_ERR_TOO_LARGE;
	for (size_t i = 0; i < n; i++)
		snprintf(r->url_bases[i], REGISTRY_URL_BASE_LEN, "%s",
		         bases[i]);
	r->nurl_bases = n;
	return 0;
}

/* -------------------------------------------------------------------------
 * Sending orders. */

static bool registry_order_open(const struct machine *m)
{
	return m->order &&
	       !(ups_machine_state_flags(m->order->state) & UPS_MST_FINAL);
}

static void registry_send(struct registry *r, struct machine *m)
{
	const struct regdb_order *ro = m->order;
	struct ups_order o;

	if (!m->session || !ro || !r->ev.send_order)
		return;
	memset(&o, 0, sizeof(o));
	o.kind = ro->kind;
	snprintf(o.id, sizeof(o.id), "%s", ro->id);
	snprintf(o.binary_version, sizeof(o.binary_version), "%s",
	         ro->binary_version);
	if (ro->kind == UPS_ORDER_UPGRADE) {
		o.size = ro->size;
		snprintf(o.sha256, sizeof(o.sha256), "%s", ro->sha256);
		for (size_t i = 0; i < r->nurl_bases; i++)
			snprintf(o.urls[o.nurls++], sizeof(o.urls[0]),
			         "%s/tools/%s", r->url_bases[i],
			         ro->binary_version);
	}
	LOG_DEBUG("registry", "machine %s: sending order %s (%s)", m->row.id,
	          o.id, o.binary_version);
	r->ev.send_order(r->ev.data, m->session, &o);
	r->orders_sent++;
}

/* -------------------------------------------------------------------------
 * Register, report, disconnect. */

struct registry_answer {
	struct registry *r;
	struct machine *m;
	registry_machine_cb cb;
	void *data;
	bool resend; /* a registration: send the open order after */
};

static void registry_answered(struct registry *r, void *arg, int rv,
                              const char *err)
{
	struct registry_answer *a = arg;

	a->cb(a->data, rv, err, rv ? NULL : a->m);
	if (!rv && a->resend && registry_order_open(a->m))
		registry_send(r, a->m);
	free(a);
}

static int registry_answer_later(struct registry *r, struct machine *m,
                                 registry_machine_cb cb, void *data,
                                 bool resend)
{
	struct registry_answer *a = malloc(sizeof(*a));
	int rv;

	if (!a)
		return UPS_ERR_NO_MEMORY;
	a->r = r;
	a->m = m;
	a->cb = cb;
	a->data = data;
	a->resend = resend;
	rv = registry_wait(r, registry_answered, a);
	if (rv)
		free(a);
	return rv;
}

int registry_register(struct registry *r, void *session, const char *id,
                      const char *version, const char *release,
                      const char *arch, const char *model,
                      const char *address, registry_machine_cb cb,
                      void *data)
{
	struct machine *m, *holder;
	bool added = false;
	int rv;

	if (r->stopping)
		return UPS_ERR_UNAVAILABLE;
	holder = registry_lookup_session(r, session);
	if (holder && strcmp(holder->row.id, id) != 0)
		return UPS_ERR_CONFLICT;
	m = registry_lookup_id(r, id);
	if (!m) {
		m = registry_new_machine();
		if (!m)
			return UPS_ERR_NO_MEMORY;
		snprintf(m->row.id, sizeof(m->row.id), "%s", id);
		m->row.state = UPS_MST_IDLE;
		m->row.progress = -1;
		m->row.registered_at = registry_now(r);
		if ((rv = registry_add(r, m))) {
			free(m);
			return rv;
		}
		added = true;
	}
	if (m->session && m->session != session) {
		void *old = m->session;

		registry_unbind_session(r, m);
		LOG_INFO("registry",
		         "machine %s: registered again; the "
		         "older session is replaced",
		         id);
		if (r->ev.replaced)
			r->ev.replaced(r->ev.data, old, id);
	}
	if (!m->session)
		registry_bind_session(r, m, session);
	snprintf(m->row.release, sizeof(m->row.release), "%s", release);
	snprintf(m->row.arch, sizeof(m->row.arch), "%s", arch);
	snprintf(m->row.version, sizeof(m->row.version), "%s", version);
	snprintf(m->row.model, sizeof(m->row.model), "%s",
	         model ? model : UPS_MODEL_CONTROLLER);
	snprintf(m->address, sizeof(m->address), "%s", address ? address : "");
	m->row.connected = true;
	m->row.lost = false;
	m->row.last_seen = registry_now(r);
	registry_mark(r, m, false);
	rv = registry_answer_later(r, m, cb, data, true);
	if (rv) {
		/* Unanswered; the row is still written with the next batch. */
		if (added)
			LOG_WARN("registry", "machine %s: out of memory", id);
		return rv;
	}
	if (r->ev.changed)
		r->ev.changed(r->ev.data, m);
	return 0;
}

int registry_report(struct registry *r, void *session,
                    const struct registry_report *rep, registry_machine_cb cb,
                    void *data)
{
	struct machine *m = registry_lookup_session(r, session);
	unsigned flags = ups_machine_state_flags(rep->state);
	struct regdb_order *o = NULL;
	bool changed;
	int rv;

	if (r->stopping)
		return UPS_ERR_UNAVAILABLE;
	if (!m || !(flags & UPS_MST_REPORTABLE))
		return UPS_ERR_BAD_REQUEST;
	if ((flags & UPS_MST_IN_ORDER) && !rep->order_id)
		return UPS_ERR_BAD_REQUEST;
	if (rep->order_id) {
		if (!m->order || strcmp(m->order->id, rep->order_id) != 0)
			return UPS_ERR_NOT_FOUND;
		o = m->order;
		if ((ups_machine_state_flags(o->state) & UPS_MST_FINAL) &&
		    rep->state != o->state)
			return UPS_ERR_CONFLICT;
	}
	changed = m->row.state != rep->state ||
	          m->row.progress != rep->progress ||
	          strcmp(m->row.version, rep->version) != 0 ||
	          (o && o->state != rep->state);
	m->row.last_seen = registry_now(r);
	if (m->row.lost) {
		m->row.lost = false;
		changed = true;
	}
	m->row.state = rep->state;
	m->row.progress = rep->progress;
	snprintf(m->row.version, sizeof(m->row.version), "%s", rep->version);
	if (rep->reason || (flags & UPS_MST_FINAL) || !o)
		snprintf(m->row.reason, sizeof(m->row.reason), "%s",
		         rep->reason ? rep->reason : "");
	if (o && o->state != rep->state) {
		o->state = rep->state;
		snprintf(o->reason, sizeof(o->reason), "%s",
		         rep->reason ? rep->reason : "");
		o->updated_at = m->row.last_seen;
	}
	registry_mark(r, m, o != NULL);
	if (!changed)
		return 0;
	if (r->ev.changed)
		r->ev.changed(r->ev.data, m);
	rv = registry_answer_later(r, m, cb, data, false);
	return rv ? rv : REGISTRY_PENDING;
}

void registry_order_timed_out(struct registry *r, const char *id,
                              const char *order_id, const char *reason)
{
	struct machine *m = registry_lookup_id(r, id);
	struct regdb_order *o = m ? m->order : NULL;

	if (!o || strcmp(o->id, order_id) != 0 ||
	    (ups_machine_state_flags(o->state) & UPS_MST_FINAL))
		return;
	o->state = UPS_MST_TIMED_OUT;
	snprintf(o->reason, sizeof(o->reason), "%s", reason ? reason : "");
	o->updated_at = registry_now(r);
	registry_mark(r, m, true);
	if (r->ev.changed)
		r->ev.changed(r->ev.data, m);
}

void registry_session_gone(struct registry *r, void *session)
{
	struct machine *m = registry_lookup_session(r, session);

	if (!m)
		return;
	registry_unbind_session(r, m);
	m->row.connected = false;
	registry_mark(r, m, false);
	if (r->ev.changed)
		r->ev.changed(r->ev.data, m);
}

const struct machine *registry_find(const struct registry *r, const char *id)
{
	return registry_lookup_id(r, id);
}

size_t registry_count(const struct registry *r)
{
	return r->count;
}

size_t registry_list(struct registry *r, const char *after, size_t limit,
                     const struct machine **out, bool *more)
{
	size_t lo = 0, hi, n = 0;

	if (r->sorted_stale) {
		qsort(r->sorted, r->count, sizeof(*r->sorted),
		      registry_sort_cmp);
		r->sorted_stale = false;
	}
	if (after) {
		struct machine key;
		struct machine *kp = &key;

		snprintf(key.row.id, sizeof(key.row.id), "%s", after);
		hi = r->count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (registry_sort_cmp(&r->sorted[mid], &kp) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	for (; lo < r->count && n < limit; lo++)
		out[n++] = r->sorted[lo];
	*more = lo < r->count;
	return n;
}

/* -------------------------------------------------------------------------
 * Orders. */

/* Worker: finds the binary each machine gets. */
static void registry_lookup_work(uv_work_t *req)
{
	struct registry_lookup *l = req->data;
	char err[UPS_ERRMSG_MAX];

	for (size_t i = 0; i < l->n; i++) {
		struct registry_want *w = &l->want[i];
		const char *os = ups_release_os(w->release);
		struct ups_binary_version bv;
		char names[2][UPS_LIMIT_BINARY_VERSION_LEN + 1];
		size_t nnames = 0;

		if (!w->m || l->kind == UPS_ORDER_REVERT)
			continue;
		if (l->bv[0]) {
			/* Parsed when asked; it must fit this machine. */
			if (ups_binary_version_parse(l->bv, &bv, NULL, 0) ||
			    strcmp(bv.arch, w->arch) != 0 ||
			    (strcmp(bv.release, w->release) != 0 &&
			     strcmp(bv.release, os) != 0)) {
				w->misfit = true;
				continue;
			}
			snprintf(names[nnames++], sizeof(names[0]), "%s",
			         l->bv);
		} else {
			snprintf(names[nnames++], sizeof(names[0]), "%s-%s-%s",
			         l->version, w->release, w->arch);
			if (strcmp(os, w->release) != 0)
				snprintf(names[nnames++], sizeof(names[0]),
				         "%s-%s-%s", l->version, os, w->arch);
		}
		for (size_t k = 0; k < nnames && !w->found; k++)
			if (store_lookup(l->r->store, l->stream, names[k],
			                 &w->binary, err, sizeof(err)) == 0)
				w->found = true;
		/* Juju 2.9+ stores under the OS type: name that one. */
		if (!w->found)
			snprintf(w->missing, sizeof(w->missing), "%s",
			         names[nnames - 1]);
	}
}

/* Whether w's machine's open order is what l asks for again. */
static bool registry_same_target(const struct registry_lookup *l,
                                 const struct registry_want *w)
{
	const struct regdb_order *o = w->m->order;

	if (o->kind != l->kind)
		return false;
	return l->kind == UPS_ORDER_REVERT ||
	       strcmp(o->binary_version, w->binary.binary_version) == 0;
}

/* The binary version m runs now, as a revert names it. */
static void registry_current_bv(const struct machine *m, char *buf, size_t len)
{
	if (m->order && m->order->kind == UPS_ORDER_UPGRADE &&
	    m->order->state == UPS_MST_HEALTHY)
		snprintf(buf, len, "%s", m->order->binary_version);
	else
		snprintf(buf, len, "%s-%s-%s", m->row.version, m->row.release,
		         m->row.arch);
}

static void registry_lookup_free(struct registry_lookup *l)
{
	struct registry *r = l->r;

	if (l->prev)
		l->prev->next = l->next;
	else if (r->lookups == l)
		r->lookups = l->next;
	if (l->next)
		l->next->prev = l->prev;
	free(l);
}

/* The orders are written: send them, answer. */
static void registry_orders_written(struct registry *r, void *arg, int rv,
                                    const char *err)
{
	struct registry_lookup *l = arg;
	struct registry_ordered *list = calloc(l->n ? l->n : 1, sizeof(*list));
	struct registry_result res;

	memset(&res, 0, sizeof(res));
	if (!rv && !list)
		rv = UPS_ERR_NO_MEMORY;
	for (size_t i = 0; !rv && i < l->n; i++) {
		struct registry_want *w = &l->want[i];

		list[i] = w->ordered;
		if (!w->ordered.again)
			registry_send(r, w->m);
		if (r->ev.changed)
			r->ev.changed(r->ev.data, w->m);
	}
	if (!rv) {
		res.orders = list;
		res.norders = l->n;
	} else {
		/* Not recorded: not sent either; the orders stay what they
		 * are in memory and are written with the next batch. */
		LOG_ERROR("registry", "orders not recorded: %s", err);
	}
	l->cb(l->data, rv, rv ? err : NULL, &res);
	free(list);
	registry_lookup_free(l);
}

/* Makes the orders of l (everything was checked), then waits for them to
 * be written. */
static int registry_make_orders(struct registry *r, struct registry_lookup *l)
{
	int64_t now = registry_now(r);

	for (size_t i = 0; i < l->n; i++) {
		struct registry_want *w = &l->want[i];
		struct machine *m = w->m;
		struct regdb_order *o = m->order;
		const char *target = w->binary.binary_version;

		if (registry_order_open(m) && registry_same_target(l, w)) {
			w->ordered.again = true;
		} else {
			struct regdb_order fresh;

			memset(&fresh, 0, sizeof(fresh));
			fresh.seq = r->next_seq++;
			snprintf(fresh.id, sizeof(fresh.id), "o-%s-%" PRIu64,
			         r->epoch, fresh.seq);
			snprintf(fresh.machine_id, sizeof(fresh.machine_id),
			         "%s", m->row.id);
			fresh.kind = l->kind;
			snprintf(fresh.binary_version,
			         sizeof(fresh.binary_version), "%s", target);
			snprintf(fresh.stream, sizeof(fresh.stream), "%s",
			         l->kind == UPS_ORDER_REVERT ? o->stream
			                                     : l->stream);
			if (l->kind == UPS_ORDER_UPGRADE) {
				fresh.size = w->binary.size;
				snprintf(fresh.sha256, sizeof(fresh.sha256),
				         "%s", w->binary.sha256);
			}
			registry_current_bv(m, fresh.from_version,
			                    sizeof(fresh.from_version));
			fresh.state = UPS_MST_ORDERED;
			fresh.created_at = fresh.updated_at = now;
			if (!o) {
				o = malloc(sizeof(*o));
				if (!o)
					return UPS_ERR_NO_MEMORY;
				m->order = o;
			}
			*o = fresh;
			snprintf(m->row.last_order, sizeof(m->row.last_order),
			         "%s", o->id);
			m->row.state = UPS_MST_ORDERED;
			m->row.progress = -1;
			m->row.reason[0] = '\0';
			registry_mark(r, m, true);
			LOG_INFO("registry", "machine %s: order %s: %s %s",
			         m->row.id, o->id,
			         l->kind == UPS_ORDER_REVERT ? "revert to"
			                                     : "upgrade to",
			         o->binary_version);
		}
		w->ordered.machine_id = m->row.id;
		w->ordered.order_id = m->order->id;
		w->ordered.binary_version = m->order->binary_version;
	}
	return registry_wait(r, registry_orders_written, l);
}

/* Answers a refusal with the lists of l. */
static void registry_refuse(struct registry_lookup *l, int rv, const char *err)
{
	const char **unknown = calloc(l->n, sizeof(*unknown));
	const char **missing = calloc(l->n, sizeof(*missing));
	struct registry_result res;

	memset(&res, 0, sizeof(res));
	if (unknown && missing) {
		for (size_t i = 0; i < l->n; i++) {
			const struct registry_want *w = &l->want[i];
			size_t k;

			if (!w->m) {
				unknown[res.nunknown++] = w->id;
				continue;
			}
			if (w->found || w->misfit || !w->missing[0])
				continue;
			for (k = 0; k < res.nmissing; k++)
				if (strcmp(missing[k], w->missing) == 0)
					break;
			if (k == res.nmissing)
				missing[res.nmissing++] = w->missing;
		}
		res.unknown = unknown;
		res.missing = missing;
	}
	l->cb(l->data, rv, err, &res);
	free(unknown);
	free(missing);
}

static void registry_lookup_after(uv_work_t *req, int status)
{
	struct registry_lookup *l = req->data;
	struct registry *r = l->r;
	char err[UPS_ERRMSG_MAX];
	size_t unknown = 0, missing = 0;
	int rv = status ? UPS_ERR_INTERNAL : 0;

	/* A machine may have appeared or its record moved meanwhile: the
	 * pointers were taken on the loop and machines are never freed
	 * before registry_close(), so they still hold. */
	for (size_t i = 0; !rv && i < l->n; i++) {
		struct registry_want *w = &l->want[i];

		if (!w->m) {
			unknown++;
		} else if (w->misfit) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, sizeof(err),
			              "binary version %s does not fit machine "
			              "%s (%s, %s)",
			              l->bv, w->id, w->release, w->arch);
		} else if (l->kind == UPS_ORDER_UPGRADE && !w->found) {
			missing++;
		} else if (registry_order_open(w->m) &&
		           !registry_same_target(l, w)) {
			rv = ups_errf(UPS_ERR_UPGRADE_IN_PROGRESS, err,
			              sizeof(err),
			              "machine %s is carrying out order %s",
			              w->id, w->m->order->id);
		}
	}
	if (!rv && (unknown || missing))
		rv = ups_errf(UPS_ERR_NOT_FOUND, err, sizeof(err),
		              "%zu unknown machines, %zu missing binaries",
		              unknown, missing);
	if (!rv && r->stopping)
		rv = ups_errf(UPS_ERR_UNAVAILABLE, err, sizeof(err),
		              "upstaged is shutting down");
	if (!rv && l->rv)
		rv = ups_errf(l->rv, err, sizeof(err), "%s", l->err);
	if (!rv) {
		rv = registry_make_orders(r, l);
		if (!rv)
			return;
		ups_errf(rv, err, sizeof(err), "out of memory");
	}
	registry_refuse(l, rv, err);
	registry_lookup_free(l);
}

static int registry_lookup_start(struct registry *r, const char *const *ids,
                                 size_t n, enum ups_order_kind kind,
                                 const char *version, const char *bv,
                                 const char *stream, registry_order_cb cb,
                                 void *data)
{
	struct registry_lookup *l;

	if (r->stopping)
		return UPS_ERR_UNAVAILABLE;
	if (n == 0 || n > UPS_LIMIT_ORDER_MACHINES)
		return UPS_ERR_BAD_REQUEST;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(ids[i], ids[k]) == 0)
				return UPS_ERR_BAD_REQUEST;
	l = calloc(1, sizeof(*l) + n * sizeof(l->want[0]));
	if (!l)
		return UPS_ERR_NO_MEMORY;
	l->r = r;
	l->kind = kind;
	snprintf(l->version, sizeof(l->version), "%s", version ? version : "");
	snprintf(l->bv, sizeof(l->bv), "%s", bv ? bv : "");
	snprintf(l->stream, sizeof(l->stream), "%s",
	         stream ? stream : ups_stream_name(UPS_STREAM_RELEASED));
	l->cb = cb;
	l->data = data;
	l->n = n;
	for (size_t i = 0; i < n; i++) {
		struct registry_want *w = &l->want[i];

		snprintf(w->id, sizeof(w->id), "%s", ids[i]);
		w->m = registry_lookup_id(r, ids[i]);
		if (!w->m)
			continue;
		snprintf(w->release, sizeof(w->release), "%s",
		         w->m->row.release);
		snprintf(w->arch, sizeof(w->arch), "%s", w->m->row.arch);
		if (kind == UPS_ORDER_REVERT) {
			/* Only an upgrade that ended healthy is undone. */
			const struct regdb_order *o = w->m->order;

			w->found = true;
			if (o)
				snprintf(w->binary.binary_version,
				         sizeof(w->binary.binary_version), "%s",
				         o->kind == UPS_ORDER_REVERT
				             ? o->binary_version
				             : o->from_version);
			if (!o || o->kind != UPS_ORDER_UPGRADE ||
			    o->state != UPS_MST_HEALTHY) {
				if (registry_order_open(w->m) &&
				    o->kind == UPS_ORDER_REVERT)
					continue;
				l->rv = UPS_ERR_CONFLICT;
				snprintf(l->err, sizeof(l->err),
				         "machine %s has no healthy upgrade "
				         "to revert",
				         w->id);
			}
		}
	}
	l->work.data = l;
	if (uv_queue_work(r->loop, &l->work, registry_lookup_work,
	                  registry_lookup_after)) {
		free(l);
		return UPS_ERR_INTERNAL;
	}
	l->next = r->lookups;
	if (l->next)
		l->next->prev = l;
	r->lookups = l;
	return 0;
}

int registry_order_upgrade(struct registry *r, const char *const *ids, size_t n,
                           const char *version, const char *binary_version,
                           const char *stream, registry_order_cb cb, void *data)
{
	if ((version == NULL) == (binary_version == NULL))
		return UPS_ERR_BAD_REQUEST;
	return registry_lookup_start(r, ids, n, UPS_ORDER_UPGRADE, version,
	                             binary_version, stream, cb, data);
}

int registry_order_revert(struct registry *r, const char *const *ids, size_t n,
                          registry_order_cb cb, void *data)
{
	return registry_lookup_start(r, ids, n, UPS_ORDER_REVERT, NULL, NULL,
	                             NULL, cb, data);
}

void registry_count_states(const struct registry *r,
                           size_t counts[UPS_MST__COUNT], size_t *connected,
                           size_t *lost)
{
	for (unsigned i = 0; i < UPS_MST__COUNT; i++)
		counts[i] = 0;
	*connected = *lost = 0;
	for (size_t b = 0; b < r->nbuckets; b++)
		for (const struct machine *m = r->by_id[b]; m; m = m->id_next) {
			if ((unsigned)m->row.state < UPS_MST__COUNT)
				counts[m->row.state]++;
			*connected += m->row.connected;
			*lost += m->row.lost;
		}
}
