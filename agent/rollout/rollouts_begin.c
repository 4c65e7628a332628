/* A new rollout: the machines its selector picks, the stored binaries
 * for each (release, arch) group (looked up, and the version
 * auto-selected when none was given, on a worker), the plan, and the
 * start, which the runner (rollouts.c) journals. */
#include "agent/rollout/rollouts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rollout/rollouts_run.h"
#include "proto/autoselect.h"
#include "proto/errors.h"
#include "proto/machine.h"
#include "proto/version.h"

/* A machine as a begin copies it from the registry. */
struct rollouts_candidate {
	char id[UPS_LIMIT_MACHINE_ID_LEN + 1];
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	char version[UPS_LIMIT_VERSION_LEN + 1];
	uint32_t group;
};

struct rollouts_gkey {
	char release[UPS_LIMIT_RELEASE_LEN + 1];
	char arch[UPS_LIMIT_ARCH_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	bool found;
};

/* A begin: binary lookups (and auto-selection) on a worker. */
struct rollouts_begin {
	uv_work_t work;
	struct rollouts *rs;
	struct rollouts_request req;
	struct rollouts_candidate *cands;
	size_t ncands;
	struct rollouts_gkey groups[ROLLOUT_GROUPS_MAX];
	size_t ngroups;
	const char *rule;
	/* Another model's rollout: the controller's version caps it. */
	bool capped;
	struct ups_version cap;
	rollouts_cb cb;
	void *data;
	int rv;
	char err[UPS_ERRMSG_MAX];
};

static bool rollouts_begin_listed(const char *s, const void *list, size_t width,
                                  size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, (const char *)list + i * width) == 0)
			return true;
	return false;
}

static void rollouts_begin_work(uv_work_t *w)
{
	struct rollouts_begin *b = w->data;
	struct rollouts *rs = b->rs;
	struct catalog_binary found;
	char name[UPS_LIMIT_BINARY_VERSION_LEN + 1];

	if (!b->req.spec.version[0]) {
		/* Auto-selection from the stored versions. */
		struct ups_version client, agent, lowest, *vs = NULL, out;
		struct catalog_binary *bins = NULL;
		enum ups_autoselect_rule rule;
		size_t nb = 0, nv = 0;
		bool have_lowest = false;

		if (ups_version_parse(b->req.client_version, &client, b->err,
		                      sizeof(b->err))) {
			b->rv = UPS_ERR_BAD_REQUEST;
			return;
		}
		for (size_t i = 0; i < b->ncands; i++) {
			struct ups_version v;

			if (ups_version_parse(b->cands[i].version, &v, NULL, 0))
				continue;
			if (!have_lowest ||
			    ups_version_compare(&v, &lowest) < 0)
				lowest = v;
			have_lowest = true;
		}
		agent = have_lowest ? lowest : client;
		b->rv = store_binaries(rs->store, &bins, &nb, b->err,
		                       sizeof(b->err));
		if (b->rv)
			return;
		vs = calloc(nb ? nb : 1, sizeof(*vs));
		for (size_t i = 0; vs && i < nb; i++)
			if (strcmp(bins[i].stream, b->req.spec.stream) == 0 &&
			    (!b->capped ||
			     ups_version_compare(&bins[i].parsed.version,
			                         &b->cap) <= 0))
				vs[nv++] = bins[i].parsed.version;
		free(bins);
		if (!vs) {
			b->rv = ups_errf(UPS_ERR_NO_MEMORY, b->err,
			                 sizeof(b->err), "out of memory");
			return;
		}
		b->rv = ups_version_select(&client, &agent, vs, nv, &out, &rule,
		                           b->err, sizeof(b->err));
		free(vs);
		if (b->rv)
			return;
		ups_version_format(&out, b->req.spec.version,
		                   sizeof(b->req.spec.version));
		b->rule = ups_autoselect_rule_name(rule);
	}
	for (size_t g = 0; g < b->ngroups; g++) {
		struct rollouts_gkey *k = &b->groups[g];
		const char *os = ups_release_os(k->release);

		snprintf(name, sizeof(name), "%s-%s-%s", b->req.spec.version,
		         k->release, k->arch);
		if (!store_lookup(rs->store, b->req.spec.stream, name, &found,
		                  NULL, 0)) {
			snprintf(k->binary_version, sizeof(k->binary_version),
			         "%s", name);
			k->found = true;
			continue;
		}
		snprintf(name, sizeof(name), "%s-%s-%s", b->req.spec.version,
		         os, k->arch);
		snprintf(k->binary_version, sizeof(k->binary_version), "%s",
		         name);
		k->found = !store_lookup(rs->store, b->req.spec.stream, name,
		                         &found, NULL, 0);
	}
}

static void rollouts_begin_free(struct rollouts_begin *b)
{
	b->rs->begins--;
	rollouts_selector_free(&b->req.sel);
	free(b->cands);
	free(b);
}

static void rollouts_begin_fail(struct rollouts_begin *b, int rv,
                                const char *err,
                                const struct rollouts_answer *a)
{
	struct rollouts_answer none = {0};

	b->cb(b->data, rv, err, a ? a : &none);
	rollouts_begin_free(b);
}

static void rollouts_begin_done(uv_work_t *w, int status)
{
	struct rollouts_begin *b = w->data;
	struct rollouts *rs = b->rs;
	const char *missing[ROLLOUT_GROUPS_MAX];
	struct rollouts_answer a = {.rule = b->rule};
	struct rollout_machine *ms = NULL;
	struct rollout plan;
	char id[ROLLOUT_ID_LEN], err[UPS_ERRMSG_MAX];
	size_t nmissing = 0, n = 0;
	int rv;

	if (status == UV_ECANCELED || rs->stopping) {
		rollouts_begin_fail(b, UPS_ERR_UNAVAILABLE, "shutting down",
		                    NULL);
		return;
	}
	if (b->rv) {
		rollouts_begin_fail(b, b->rv, b->err, NULL);
		return;
	}
	for (size_t g = 0; g < b->ngroups; g++)
		if (!b->groups[g].found)
			missing[nmissing++] = b->groups[g].binary_version;
	if (b->capped) {
		struct ups_version target;

		if (ups_version_parse(b->req.spec.version, &target, NULL, 0) ||
		    ups_version_compare(&target, &b->cap) > 0) {
			snprintf(
			    err, sizeof(err),
			    "model %.40s cannot go to %.32s, past its "
			    "controller's %.32s: upgrade the controller first",
			    b->req.spec.model, b->req.spec.version,
			    rs->agent_version);
			rollouts_begin_fail(b, UPS_ERR_CONFLICT, err, NULL);
			return;
		}
	}
	if (nmissing) {
		a.missing = missing;
		a.nmissing = nmissing;
		snprintf(err, sizeof(err),
		         "%zu of %zu groups have no stored binary of %s in %s",
		         nmissing, b->ngroups, b->req.spec.version,
		         b->req.spec.stream);
		rollouts_begin_fail(b, UPS_ERR_NOT_FOUND, err, &a);
		return;
	}
	ms = calloc(b->ncands ? b->ncands : 1, sizeof(*ms));
	if (!ms) {
		rollouts_begin_fail(b, UPS_ERR_NO_MEMORY, "out of memory",
		                    NULL);
		return;
	}
	for (size_t i = 0; i < b->ncands; i++) {
		const struct rollouts_candidate *c = &b->cands[i];

		if (strcmp(c->version, b->req.spec.version) == 0)
			continue; /* already there */
		ms[n].id = c->id;
		ms[n].release = c->release;
		ms[n].arch = c->arch;
		ms[n].version = c->version;
		ms[n].binary_version = b->groups[c->group].binary_version;
		n++;
	}
	if (n == 0) {
		free(ms);
		snprintf(err, sizeof(err),
		         "every selected machine already runs %s",
		         b->req.spec.version);
		rollouts_begin_fail(b, UPS_ERR_CONFLICT, err, NULL);
		return;
	}
	if (!b->req.dry_run) {
		rv = rollouts_ready(rs, err, sizeof(err));
		if (rv) {
			free(ms);
			rollouts_begin_fail(b, rv, err, NULL);
			return;
		}
	}
	snprintf(id, sizeof(id), "r-%lld", (long long)rs->last_seq + 1);
	b->req.spec.gated = rollouts_hooked(rs);
	rv = rollout_plan(&plan, b->req.dry_run ? "dry-run" : id, &b->req.spec,
	                  ms, n, rollouts_now(rs), err, sizeof(err));
	free(ms);
	if (rv) {
		rollouts_begin_fail(b, rv, err, NULL);
		return;
	}
	if (b->req.dry_run) {
		a.r = &plan;
		a.dry_run = true;
		b->cb(b->data, 0, NULL, &a);
		rollout_free(&plan);
		rollouts_begin_free(b);
		return;
	}
	if (rollouts_adopt(rs, &plan, b->rule, b->cb, b->data, err,
	                   sizeof(err)))
		rollouts_begin_fail(b, UPS_ERR_NO_MEMORY, err, NULL);
	else
		rollouts_begin_free(b);
}

int rollouts_begin(struct rollouts *rs, struct rollouts_request *req,
                   rollouts_cb cb, void *data)
{
	const struct rollouts_selector *sel = &req->sel;
	struct rollouts_answer a = {0};
	const char *unknown[ROLLOUTS_SELECT_MAX];
	const struct machine *page[256];
	struct rollouts_begin *b;
	char after[UPS_LIMIT_MACHINE_ID_LEN + 1] = "", err[UPS_ERRMSG_MAX];
	size_t nunknown = 0;
	bool more = true;

	if (rs->stopping) {
		rollouts_selector_free(&req->sel);
		return UPS_ERR_UNAVAILABLE;
	}
	b = calloc(1, sizeof(*b));
	if (b)
		b->cands =
		    calloc(registry_count(rs->registry) + 1, sizeof(*b->cands));
	if (!b || !b->cands) {
		if (b)
			free(b);
		rollouts_selector_free(&req->sel);
		return UPS_ERR_NO_MEMORY;
	}
	b->rs = rs;
	b->req = *req;
	memset(&req->sel, 0, sizeof(req->sel));
	b->cb = cb;
	b->data = data;
	rs->begins++;
	sel = &b->req.sel;
	if (!b->req.dry_run && rollouts_active(rs)) {
		snprintf(err, sizeof(err), "rollout %s is %s", rs->cur.id,
		         rollout_state_name(rs->cur.state));
		rollouts_begin_fail(b, UPS_ERR_UPGRADE_IN_PROGRESS, err, NULL);
		return 0;
	}
	for (size_t i = 0; i < sel->nmachines && nunknown < ROLLOUTS_SELECT_MAX;
	     i++)
		if (!registry_find(rs->registry, sel->machines[i]))
			unknown[nunknown++] = sel->machines[i];
	if (nunknown) {
		a.unknown = unknown;
		a.nunknown = nunknown;
		rollouts_begin_fail(b, UPS_ERR_NOT_FOUND,
		                    "machines not registered", &a);
		return 0;
	}
	while (more) {
		size_t n = registry_list(rs->registry, after[0] ? after : NULL,
		                         256, page, &more);

		for (size_t i = 0; i < n; i++) {
			const struct regdb_machine *m = &page[i]->row;
			struct rollouts_candidate *c;
			size_t g;

			if (strcmp(m->model, b->req.spec.model) != 0)
				continue;
			if (!rollouts_begin_listed(m->release, sel->releases,
			                           sizeof(*sel->releases),
			                           sel->nreleases) ||
			    !rollouts_begin_listed(m->arch, sel->arches,
			                           sizeof(*sel->arches),
			                           sel->narches) ||
			    !rollouts_begin_listed(m->id, sel->machines,
			                           sizeof(*sel->machines),
			                           sel->nmachines))
				continue;
			c = &b->cands[b->ncands++];
			snprintf(c->id, sizeof(c->id), "%s", m->id);
			snprintf(c->release, sizeof(c->release), "%s",
			         m->release);
			snprintf(c->arch, sizeof(c->arch), "%s", m->arch);
			snprintf(c->version, sizeof(c->version), "%s",
			         m->version);
			for (g = 0; g < b->ngroups; g++)
				if (strcmp(b->groups[g].release, m->release) ==
				        0 &&
				    strcmp(b->groups[g].arch, m->arch) == 0)
					break;
			if (g == b->ngroups) {
				if (g == ROLLOUT_GROUPS_MAX) {
					rollouts_begin_fail(
					    b, UPS_ERR_BAD_REQUEST,
					    "too many (release, arch) groups",
					    NULL);
					return 0;
				}
				snprintf(b->groups[g].release,
				         sizeof(b->groups[g].release), "%s",
				         m->release);
				snprintf(b->groups[g].arch,
				         sizeof(b->groups[g].arch), "%s",
				         m->arch);
				b->ngroups++;
			}
			c->group = (uint32_t)g;
		}
		if (n == 0)
			break;
		snprintf(after, sizeof(after), "%s", page[n - 1]->row.id);
	}
	if (b->ncands == 0) {
		snprintf(err, sizeof(err),
		         "no registered machine of model %s matches the "
		         "selector",
		         b->req.spec.model);
		rollouts_begin_fail(b, UPS_ERR_NOT_FOUND, err, NULL);
		return 0;
	}
	/* A model never goes past its controller (upgrade that first). */
	if (strcmp(b->req.spec.model, UPS_MODEL_CONTROLLER) != 0) {
		if (!rs->agent_version[0] ||
		    ups_version_parse(rs->agent_version, &b->cap, NULL, 0)) {
			rollouts_begin_fail(
			    b, UPS_ERR_CONFLICT,
			    "the controller's agent version is not known: "
			    "upgrade the controller first (or set "
			    "agent-version)",
			    NULL);
			return 0;
		}
		b->capped = true;
	}
	b->work.data = b;
	if (uv_queue_work(rs->loop, &b->work, rollouts_begin_work,
	                  rollouts_begin_done)) {
		rollouts_begin_fail(b, UPS_ERR_IO, "cannot queue the plan",
		                    NULL);
		return 0;
	}
	return 0;
}
