/* The store. */
#include "agent/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct store_commit_req commit;
	store_list_cb list_cb;
	store_done_cb done_cb;
	void *data;
	/* Results, written by the worker. */
	int rv;
	char err[UPS_ERRMSG_MAX];
	struct catalog_binary *list;
	size_t count;
	struct catalog_binary binary;
};

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

/* Workers. */

static void store_work_delete(struct store_op *op)
{
	struct store *s = op->s;
	struct catalog_binary b;

	op->rv = catalog_binary_get(s->cat, op->stream, op->binary_version, &b,
	                            op->err, sizeof(op->err));
	if (op->rv)
		return;
	op->rv = s->ops->remove(s->state, op->stream, op->binary_version,
	                        b.sha256, op->err, sizeof(op->err));
	if (op->rv == UPS_ERR_NOT_FOUND)
		op->rv = 0; /* the row is what is left to go */
	if (!op->rv)
		op->rv = catalog_binary_delete(s->cat, op->stream,
		                               op->binary_version, op->err,
		                               sizeof(op->err));
	if (!op->rv)
		op->binary = b;
}

static void store_work_commit(struct store_op *op)
{
	struct store *s = op->s;
	const struct store_commit_req *req = &op->commit;
	const struct catalog_binary *b = &req->binary;
	char *err = op->err;
	size_t errlen = sizeof(op->err);
	struct catalog_binary old;
	int rv;

	if (req->force &&
	    catalog_binary_get(s->cat, b->stream, b->binary_version, &old, err,
	                       errlen) == 0 &&
	    strcmp(old.sha256, b->sha256) != 0) {
		rv = s->ops->remove(s->state, b->stream, b->binary_version,
		                    old.sha256, err, errlen);
		if (rv && rv != UPS_ERR_NOT_FOUND)
			goto out;
	}
	rv = s->ops->put(s->state, req->staging_name, b->sha256, b->stream,
	                 b->binary_version, err, errlen);
	if (rv)
		goto out;
	op->binary = *b;
	rv = catalog_commit_upload(s->cat, req->upload_id, b, req->force, err,
	                           errlen);
	if (rv == UPS_ERR_EXISTS) {
		/* Someone committed the same name meanwhile: the same bytes
		 * are the same answer. */
		rv = catalog_binary_get(s->cat, b->stream, b->binary_version,
		                        &old, err, errlen);
		if (!rv && strcmp(old.sha256, b->sha256) != 0)
			rv = ups_errf(UPS_ERR_CONFLICT, err, errlen,
			              "%s (%s) was stored meanwhile with a "
			              "different sha256",
			              b->binary_version, b->stream);
		if (!rv) {
			op->binary = old;
			(void)catalog_upload_delete(s->cat, req->upload_id, err,
			                            errlen);
		}
	}
out:
	op->rv = rv;
}

static void store_work(uv_work_t *w)
{
	struct store_op *op = w->data;

	switch (op->kind) {
	case STORE_OP_LIST:
		op->rv = catalog_binary_list(
		    op->s->cat, op->all_streams ? NULL : op->stream, &op->list,
		    &op->count, op->err, sizeof(op->err));
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
		op->list_cb(op->data, op->rv, op->err, op->list, op->count);
		break;
	case STORE_OP_DELETE:
		if (!op->rv) {
			LOG_INFO("store", "deleted %s (%s)", op->binary_version,
			         op->stream);
			store_notify(s, STORE_REMOVED, &op->binary);
		}
		op->done_cb(op->data, op->rv, op->err, &op->binary);
		break;
	case STORE_OP_COMMIT:
		if (!op->rv)
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

int store_list(struct store *s, const char *stream, store_list_cb cb,
               void *data)
{
	struct store_op *op = store_op_new(s, STORE_OP_LIST);

	if (!op)
		return UPS_ERR_NO_MEMORY;
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

int store_commit(struct store *s, const struct store_commit_req *req,
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
