/* The store. */
#include "agent/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/errors.h"
#include "proto/log.h"

enum store_op_kind {
	STORE_OP_LIST,
	STORE_OP_DELETE,
	STORE_OP_COMMIT,
};

/* One asynchronous operation: its inputs, the worker's results, the
 * callback. */
struct store_op {
	struct store *s;
	struct store_op *prev, *next;
	enum store_op_kind kind;
	uv_work_t work;
	bool all_streams;
	char stream[UPS_LIMIT_STREAM_LEN + 1];
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	struct catalog_commit commit;
	bool has_after;
	struct catalog_binary after; /* stream, binary_version, parsed */
	size_t limit;
	size_t first; /* the page: list[first .. first + count) */
	bool more;
	store_list_cb list_cb;
	store_done_cb done_cb;
	void *data;
	/* Results, written by the worker. */
	int rv;
	bool changed; /* the stored set changed: subscribers are told */
	char err[UPS_ERRMSG_MAX];
	struct catalog_binary *list;
	size_t count;
	struct catalog_binary binary;
};

static int store_recover(struct store *s, char *err, size_t errlen);
static int store_reconcile(struct store *s, char *err, size_t errlen);

static const char *store_config_get(void *host, const char *key)
{
	struct store *s = host;

	if (strcmp(key, "store-fs.fail") == 0)
		return s->fault;
	return NULL;
}

int store_open(struct store *s, uv_loop_t *loop, const struct store_config *cfg,
               char *err, size_t errlen)
{
	int rv;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->data_dir = strdup(cfg->data_dir);
	s->fault = cfg->fault ? strdup(cfg->fault) : NULL;
	if (!s->data_dir || (cfg->fault && !s->fault)) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto fail;
	}
	rv = plugin_load(cfg->plugin, UPS_PLUGIN_KIND_STORE, &s->plugin, err,
	                 errlen);
	if (rv)
		goto fail;
	s->ops = plugin_store_ops(&s->plugin);
	plugin_services_init(&s->services, s, store_config_get);
	rv = s->ops->open(&s->services, s->data_dir, &s->state, err, errlen);
	if (rv)
		goto fail;
	rv = catalog_open(s->data_dir, &s->cat, err, errlen);
	if (rv)
		goto fail;
	rv = store_recover(s, err, errlen);
	if (!rv)
		rv = store_reconcile(s, err, errlen);
	if (rv)
		goto fail;
	return 0;

fail:
	store_close(s);
	return rv;
}

void store_close(struct store *s)
{
	if (s->cat)
		catalog_close(s->cat);
	s->cat = NULL;
	if (s->ops && s->state)
		s->ops->close(s->state);
	s->state = NULL;
	s->ops = NULL;
	plugin_unload(&s->plugin);
	free(s->data_dir);
	free(s->fault);
	s->data_dir = s->fault = NULL;
}

void store_subscribe(struct store *s, struct store_subscriber *sub)
{
	sub->next = s->subscribers;
	s->subscribers = sub;
}

struct catalog *store_catalog(struct store *s)
{
	return s->cat;
}

const char *store_staging_dir(struct store *s)
{
	return s->ops->staging_dir(s->state);
}

int store_lookup(struct store *s, const char *stream,
                 const char *binary_version, struct catalog_binary *out,
                 char *err, size_t errlen)
{
	return catalog_binary_get(s->cat, stream, binary_version, out, err,
	                          errlen);
}

int store_free_space(struct store *s, uint64_t *bytes, char *err, size_t errlen)
{
	return s->ops->free_space(s->state, bytes, err, errlen);
}

int store_binaries(struct store *s, struct catalog_binary **out, size_t *count,
                   char *err, size_t errlen)
{
	return catalog_binary_list(s->cat, NULL, out, count, err, errlen);
}

bool store_can_publish(const struct store *s)
{
	return plugin_store_minor(&s->plugin) >= 1;
}

static int store_no_publish(const struct store *s, char *err, size_t errlen)
{
	return ups_errf(UPS_ERR_NOT_IMPLEMENTED, err, errlen,
	                "store plugin %s (ABI %u.%u) keeps no published "
	                "metadata",
	                s->plugin.desc ? s->plugin.desc->name : "?",
	                UPS_PLUGIN_ABI_MAJOR, plugin_store_minor(&s->plugin));
}

int store_meta_put(struct store *s, const struct ups_store_meta_file *files,
                   size_t n, char *err, size_t errlen)
{
	if (!store_can_publish(s))
		return store_no_publish(s, err, errlen);
	return s->ops->meta_put(s->state, files, n, err, errlen);
}

int store_meta_remove(struct store *s, const char *name, char *err,
                      size_t errlen)
{
	if (!store_can_publish(s))
		return store_no_publish(s, err, errlen);
	return s->ops->meta_remove(s->state, name, err, errlen);
}

int store_meta_open(struct store *s, const char *name, int *fd, uint64_t *size,
                    char *err, size_t errlen)
{
	*fd = -1;
	if (!store_can_publish(s))
		return store_no_publish(s, err, errlen);
	return s->ops->meta_open(s->state, name, fd, size, err, errlen);
}

int store_open_held(struct store *s, const char *stream,
                    const char *binary_version, const char *sha256, int *fd,
                    uint64_t *size, char *err, size_t errlen)
{
	*fd = -1;
	if (!store_can_publish(s))
		return store_no_publish(s, err, errlen);
	return s->ops->open_held(s->state, stream, binary_version, sha256, fd,
	                         size, err, errlen);
}

/* Crash points (tests only): UPSTAGE_CRASH_AT names one; the process
 * aborts when it gets there, so a test can restart and check recovery. */
#ifdef UPSTAGE_CRASH_POINTS
void store_crash_point(const char *name)
{
	const char *at = getenv("UPSTAGE_CRASH_AT");

	if (at && strcmp(at, name) == 0) {
		LOG_ERROR("store", "crash point %s: aborting (test)", name);
		abort();
	}
}
#else
void store_crash_point(const char *name)
{
	(void)name;
}
#endif

/* Whether the plugin has the ABI 1.1 store ops (put2, holds, remove
 * without a sha256). */
static bool store_v11(const struct store *s)
{
	return plugin_store_minor(&s->plugin) >= 1;
}

/* Makes c's staging file the content of its Juju name, keeping the
 * staging file. old_sha: what the name holds now (NULL: nothing known).
 * An ABI 1.0 plugin can only consume the staging file, and replaces by
 * removing first. */
static int store_put(struct store *s, const struct catalog_commit *c,
                     const char *old_sha, char *err, size_t errlen)
{
	const struct catalog_binary *b = &c->binary;
	unsigned flags = UPS_STORE_PUT_KEEP_STAGING;
	int rv;

	if (c->force)
		flags |= UPS_STORE_PUT_REPLACE;
	if (store_v11(s))
		return s->ops->put2(s->state, c->staging_name, b->sha256,
		                    b->stream, b->binary_version, old_sha,
		                    flags, err, errlen);
	if (c->force && old_sha) {
		rv = s->ops->remove(s->state, b->stream, b->binary_version,
		                    old_sha, err, errlen);
		if (rv && rv != UPS_ERR_NOT_FOUND)
			return rv;
	}
	return s->ops->put(s->state, c->staging_name, b->sha256, b->stream,
	                   b->binary_version, err, errlen);
}

/* 0 when the Juju name of b holds b's content, UPS_ERR_NOT_FOUND when
 * there is no such name, UPS_ERR_CONFLICT when it holds other content.
 * An ABI 1.0 plugin can only tell whether the name exists. */
static int store_holds(struct store *s, const struct catalog_binary *b,
                       char *err, size_t errlen)
{
	uint64_t size;
	int fd, rv;

	if (store_v11(s))
		return s->ops->holds(s->state, b->stream, b->binary_version,
		                     b->sha256, err, errlen);
	rv = s->ops->open_blob(s->state, b->stream, b->binary_version, &fd,
	                       &size, err, errlen);
	if (rv == 0)
		close(fd);
	return rv;
}

/* The commit sequence (worker, or start-up recovery). Each step is
 * durable before the next, and a crash between any two leaves something
 * recovery finishes or undoes (store_recover):
 *   1. the intent (catalog)             undone if the name was not put
 *   2. the bytes under the Juju name    (plugin; a replacement is an
 *                                        atomic rename over the old name)
 *   3. one transaction: the binary row, the upload row and the intent go
 * The staging file is left for the caller (its owner) to remove. */
int store_commit_run(struct store *s, const struct catalog_commit *c,
                     struct catalog_binary *out, char *err, size_t errlen)
{
	const struct catalog_binary *b = &c->binary;
	struct catalog_binary old;
	const char *old_sha = NULL;
	int rv;

	rv = catalog_binary_get(s->cat, b->stream, b->binary_version, &old, err,
	                        errlen);
	if (rv == 0 && strcmp(old.sha256, b->sha256) == 0) {
		/* Stored meanwhile with the same bytes: the same answer. */
		(void)catalog_upload_delete(s->cat, c->upload_id, err, errlen);
		(void)catalog_commit_forget(s->cat, c->upload_id, err, errlen);
		*out = old;
		return 0;
	}
	if (rv == 0 && !c->force)
		return ups_errf(UPS_ERR_CONFLICT, err, errlen,
		                "%s (%s) is stored with sha256 %s; give force "
		                "to replace it",
		                b->binary_version, b->stream, old.sha256);
	if (rv == 0)
		old_sha = old.sha256;
	else if (rv != UPS_ERR_NOT_FOUND)
		return rv;
	rv = catalog_commit_begin(s->cat, c, err, errlen);
	if (rv && rv != UPS_ERR_EXISTS)
		return rv;
	store_crash_point("commit-intent");
	rv = store_put(s, c, old_sha, err, errlen);
	if (rv) {
		char e2[UPS_ERRMSG_MAX];

		(void)catalog_commit_forget(s->cat, c->upload_id, e2,
		                            sizeof(e2));
		return rv;
	}
	store_crash_point("commit-put");
	rv = catalog_commit_upload(s->cat, c->upload_id, b, c->force, err,
	                           errlen);
	if (rv) {
		/* The name holds the new bytes and the intent says so: the
		 * next start finishes this. */
		LOG_ERROR("store",
		          "%s (%s): stored but not recorded: %s; the next "
		          "start finishes it",
		          b->binary_version, b->stream, err);
		return rv;
	}
	store_crash_point("commit-txn");
	*out = *b;
	return 0;
}

/* Finishes or undoes the commits a crash interrupted. Blocking, at
 * start-up. */
static int store_recover(struct store *s, char *err, size_t errlen)
{
	struct catalog_commit *list = NULL;
	struct catalog_binary old;
	char e2[UPS_ERRMSG_MAX];
	size_t n = 0;
	int rv;

	rv = catalog_commit_list(s->cat, &list, &n, err, errlen);
	if (rv)
		return rv;
	for (size_t i = 0; i < n; i++) {
		const struct catalog_commit *c = &list[i];
		const struct catalog_binary *b = &c->binary;
		const char *old_sha = NULL;

		if (catalog_binary_get(s->cat, b->stream, b->binary_version,
		                       &old, e2, sizeof(e2)) == 0 &&
		    strcmp(old.sha256, b->sha256) != 0)
			old_sha = old.sha256;
		rv = store_put(s, c, old_sha, e2, sizeof(e2));
		if (rv == UPS_ERR_NOT_FOUND) /* the staging file is gone */
			rv = store_holds(s, b, e2, sizeof(e2));
		if (rv == 0)
			rv = catalog_commit_upload(s->cat, c->upload_id, b,
			                           true, e2, sizeof(e2));
		if (rv == 0) {
			LOG_INFO("store",
			         "%s (%s): finished a commit a stop "
			         "interrupted",
			         b->binary_version, b->stream);
			continue;
		}
		LOG_WARN("store",
		         "%s (%s): undoing a commit a stop interrupted: %s",
		         b->binary_version, b->stream, e2);
		(void)catalog_commit_forget(s->cat, c->upload_id, e2,
		                            sizeof(e2));
	}
	free(list);
	return 0;
}

/* Makes the catalog and the names agree: a row whose name is missing, or
 * holds other bytes, is forgotten (and such a name removed). Blocking,
 * at start-up, after store_recover. */
static int store_reconcile(struct store *s, char *err, size_t errlen)
{
	struct catalog_binary *list = NULL;
	char e2[UPS_ERRMSG_MAX];
	size_t n = 0;
	int rv;

	rv = catalog_binary_list(s->cat, NULL, &list, &n, err, errlen);
	if (rv)
		return rv;
	for (size_t i = 0; i < n; i++) {
		const struct catalog_binary *b = &list[i];

		rv = store_holds(s, b, e2, sizeof(e2));
		if (rv == 0)
			continue;
		if (rv != UPS_ERR_NOT_FOUND && rv != UPS_ERR_CONFLICT) {
			LOG_WARN("store", "%s (%s): cannot check: %s",
			         b->binary_version, b->stream, e2);
			continue;
		}
		LOG_ERROR("store", "%s (%s): %s; forgetting it",
		          b->binary_version, b->stream,
		          rv == UPS_ERR_NOT_FOUND
		              ? "its file is missing"
		              : "its file holds other bytes than recorded");
		if (rv == UPS_ERR_CONFLICT && store_v11(s))
			(void)s->ops->remove(s->state, b->stream,
			                     b->binary_version, NULL, e2,
			                     sizeof(e2));
		(void)catalog_binary_delete(s->cat, b->stream,
		                            b->binary_version, e2, sizeof(e2));
	}
	free(list);
	return 0;
}

/* Workers. */

/* The stored set changed (op->binary): every subscriber's sync runs now,
 * on this worker, before the operation completes. The first failure is
 * the operation's result. */
static void store_sync(struct store_op *op, enum store_change change)
{
	struct store_subscriber *sub;
	char e[UPS_ERRMSG_MAX];
	int rv;

	op->changed = true;
	for (sub = op->s->subscribers; sub; sub = sub->next) {
		if (!sub->sync)
			continue;
		e[0] = '\0';
		rv = sub->sync(sub->data, change, &op->binary, e, sizeof(e));
		if (rv && !op->rv) {
			op->rv = rv;
			snprintf(op->err, sizeof(op->err), "%s", e);
		}
	}
}

/* The name first, then the row: a crash in between leaves a row without
 * a name, which the next start forgets (store_reconcile). A name without
 * a row (left by an older upstaged) is removed too. */
static void store_work_delete(struct store_op *op)
{
	struct store *s = op->s;
	char *err = op->err;
	size_t errlen = sizeof(op->err);
	struct catalog_binary b;
	int rv;

	rv = catalog_binary_get(s->cat, op->stream, op->binary_version, &b, err,
	                        errlen);
	if (rv == UPS_ERR_NOT_FOUND && store_v11(s)) {
		rv = s->ops->remove(s->state, op->stream, op->binary_version,
		                    NULL, err, errlen);
		if (rv == UPS_ERR_NOT_FOUND)
			rv = ups_errf(rv, err, errlen, "no %s in %s",
			              op->binary_version, op->stream);
		op->rv = rv;
		if (rv == 0) {
			memset(&op->binary, 0, sizeof(op->binary));
			snprintf(op->binary.stream, sizeof(op->binary.stream),
			         "%s", op->stream);
			snprintf(op->binary.binary_version,
			         sizeof(op->binary.binary_version), "%s",
			         op->binary_version);
			store_sync(op, STORE_REMOVED);
		}
		return;
	}
	if (rv) {
		op->rv = rv;
		return;
	}
	rv = s->ops->remove(s->state, op->stream, op->binary_version, b.sha256,
	                    err, errlen);
	if (rv == UPS_ERR_NOT_FOUND)
		rv = 0; /* the row is what is left to go */
	if (!rv) {
		store_crash_point("delete-name");
		rv = catalog_binary_delete(s->cat, op->stream,
		                           op->binary_version, err, errlen);
	}
	op->rv = rv;
	if (!rv) {
		op->binary = b;
		store_sync(op, STORE_REMOVED);
	}
}

/* Every row, then the page: pages are cut from the sorted whole, so
 * version order holds across pages (it is not SQL's order). */
static void store_work_list(struct store_op *op)
{
	size_t n = 0, first = 0;

	op->rv =
	    catalog_binary_list(op->s->cat, op->all_streams ? NULL : op->stream,
	                        &op->list, &n, op->err, sizeof(op->err));
	if (op->rv)
		return;
	if (op->has_after)
		while (first < n && catalog_binary_compare(&op->list[first],
		                                           &op->after) <= 0)
			first++;
	op->first = first;
	op->count = n - first < op->limit ? n - first : op->limit;
	op->more = first + op->count < n;
}

static void store_work_commit(struct store_op *op)
{
	op->rv = store_commit_run(op->s, &op->commit, &op->binary, op->err,
	                          sizeof(op->err));
	if (!op->rv)
		store_sync(op, STORE_STORED);
}

static void store_work(uv_work_t *w)
{
	struct store_op *op = w->data;

	switch (op->kind) {
	case STORE_OP_LIST:
		store_work_list(op);
		break;
	case STORE_OP_DELETE:
		store_work_delete(op);
		break;
	case STORE_OP_COMMIT:
		store_work_commit(op);
		break;
	}
}

/* Loop side. */

static void store_notify(struct store *s, enum store_change change,
                         const struct catalog_binary *b)
{
	struct store_subscriber *sub;

	for (sub = s->subscribers; sub; sub = sub->next)
		if (sub->changed)
			sub->changed(sub->data, change, b);
}

static void store_after(uv_work_t *w, int status)
{
	struct store_op *op = w->data;
	struct store *s = op->s;

	if (status == UV_ECANCELED && !op->rv)
		op->rv =
		    ups_errf(UPS_ERR_IO, op->err, sizeof(op->err), "cancelled");
	if (op->prev)
		op->prev->next = op->next;
	else
		s->ops_in_flight = op->next;
	if (op->next)
		op->next->prev = op->prev;
	switch (op->kind) {
	case STORE_OP_LIST:
		op->list_cb(op->data, op->rv, op->err,
		            op->list ? op->list + op->first : NULL, op->count,
		            op->more);
		break;
	case STORE_OP_DELETE:
		if (op->changed) {
			LOG_INFO("store", "deleted %s (%s)", op->binary_version,
			         op->stream);
			store_notify(s, STORE_REMOVED, &op->binary);
		}
		op->done_cb(op->data, op->rv, op->err, &op->binary);
		break;
	case STORE_OP_COMMIT:
		if (op->changed)
			store_notify(s, STORE_STORED, &op->binary);
		op->done_cb(op->data, op->rv, op->err, &op->binary);
		break;
	}
	free(op->list);
	free(op);
}

static struct store_op *store_op_new(struct store *s, enum store_op_kind kind)
{
	struct store_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->s = s;
	op->kind = kind;
	op->work.data = op;
	return op;
}

static int store_op_start(struct store *s, struct store_op *op)
{
	int rv = uv_queue_work(s->loop, &op->work, store_work, store_after);

	if (rv) {
		free(op);
		return UPS_ERR_INTERNAL;
	}
	op->next = s->ops_in_flight;
	if (op->next)
		op->next->prev = op;
	s->ops_in_flight = op;
	return 0;
}

int store_list(struct store *s, const char *stream,
               const struct store_cursor *after, size_t limit, store_list_cb cb,
               void *data)
{
	struct store_op *op = store_op_new(s, STORE_OP_LIST);

	if (!op)
		return UPS_ERR_NO_MEMORY;
	if (after) {
		op->has_after = true;
		snprintf(op->after.stream, sizeof(op->after.stream), "%s",
		         after->stream);
		snprintf(op->after.binary_version,
		         sizeof(op->after.binary_version), "%s",
		         after->binary_version);
		if (ups_binary_version_parse(after->binary_version,
		                             &op->after.parsed, NULL, 0)) {
			free(op);
			return UPS_ERR_BAD_REQUEST;
		}
	}
	op->limit = limit;
	op->all_streams = stream == NULL;
	if (stream)
		snprintf(op->stream, sizeof(op->stream), "%s", stream);
	op->list_cb = cb;
	op->data = data;
	return store_op_start(s, op);
}

int store_delete(struct store *s, const char *stream,
                 const char *binary_version, store_done_cb cb, void *data)
{
	struct store_op *op = store_op_new(s, STORE_OP_DELETE);

	if (!op)
		return UPS_ERR_NO_MEMORY;
	snprintf(op->stream, sizeof(op->stream), "%s", stream);
	snprintf(op->binary_version, sizeof(op->binary_version), "%s",
	         binary_version);
	op->done_cb = cb;
	op->data = data;
	return store_op_start(s, op);
}

int store_commit(struct store *s, const struct catalog_commit *req,
                 store_done_cb cb, void *data)
{
	struct store_op *op = store_op_new(s, STORE_OP_COMMIT);

	if (!op)
		return UPS_ERR_NO_MEMORY;
	op->commit = *req;
	op->done_cb = cb;
	op->data = data;
	return store_op_start(s, op);
}
