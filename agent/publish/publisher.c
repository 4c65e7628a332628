/* The publisher. See publisher.h. */
#include "agent/publish/publisher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/errors.h"
#include "proto/log.h"
#include "proto/version.h"

/* Backoff of the retries after a failed publish. */
#define PUBLISH_RETRY_FIRST_MS 500
#define PUBLISH_RETRY_MAX_MS   30000

/* Bytes hashed at a time when a metadata file is opened for serving. */
#define PUBLISH_HASH_CHUNK (64 * 1024)

/* "/model/" + a UUID (8-4-4-4-12 hex digits) + "/tools/<binary version>". */
#define PUBLISH_UUID_LEN 36

struct publish_route {
	char path[PUBLISH_PATH_MAX + 1];
	struct publish_target target;
};

struct publish_index {
	uint64_t generation;
	size_t n;
	struct publish_route routes[]; /* sorted by path (strcmp) */
};

/* One open of publisher_open_target(). */
struct publish_open_op {
	struct publisher *p;
	uv_work_t work;
	struct publish_target target;
	publish_open_cb cb;
	void *data;
	int rv;
	char err[UPS_ERRMSG_MAX];
	struct publish_opened opened;
};

/* -------------------------------------------------------------------------
 * Helpers. */

static int publish_sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return UPS_ERR_INTERNAL;
	return 0;
}

/* The slot of written[] of file name: index2.json, index.json, then the
 * products files in stream order. -1 for any other name. */
static int publish_slot(const char *name)
{
	char products[UPS_SS_FILE_NAME_MAX + 1];

	if (strcmp(name, UPS_SS_INDEX2_NAME) == 0)
		return 0;
	if (strcmp(name, UPS_SS_INDEX_NAME) == 0)
		return 1;
	for (int i = 0; i < UPS_STREAM__COUNT; i++) {
		ups_ss_products_name((enum ups_stream)i, products,
		                     sizeof(products));
		if (strcmp(name, products) == 0)
			return 2 + i;
	}
	return -1;
}

static void publish_slot_name(int slot, char *buf, size_t len)
{
	if (slot == 0)
		snprintf(buf, len, "%s", UPS_SS_INDEX2_NAME);
	else if (slot == 1)
		snprintf(buf, len, "%s", UPS_SS_INDEX_NAME);
	else
		ups_ss_products_name((enum ups_stream)(slot - 2), buf, len);
}

static int publish_route_cmp(const void *a, const void *b)
{
	return strcmp(((const struct publish_route *)a)->path,
	              ((const struct publish_route *)b)->path);
}

/* The item path of a stored binary, relative to the HTTP root (so the
 * root works as agent-metadata-url as it is). */
static void publish_item_path(const struct catalog_binary *b, char *buf,
                              size_t len)
{
	snprintf(buf, len, "tools/%s/juju-%s.tgz", b->stream,
	         b->binary_version);
}

/* The publishable item of b; 0 or UPS_ERR_BAD_REQUEST. */
static int publish_item(const struct catalog_binary *b, struct ups_ss_pub *out,
                        char *err, size_t errlen)
{
	struct ups_binary_version bv;
	char detail[UPS_LIMIT_ERROR_TEXT_LEN + 1];

	memset(out, 0, sizeof(*out));
	if (ups_stream_parse(b->stream, &out->stream) ||
	    ups_binary_version_check(b->binary_version, &bv, detail,
	                             sizeof(detail)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s (%s) cannot be published: %.120s",
		                b->binary_version, b->stream, detail);
	out->stored_at = b->stored_at < 0 ? 0 : b->stored_at;
	snprintf(out->item.binary_version, sizeof(out->item.binary_version),
	         "%s", b->binary_version);
	ups_version_format(&bv.version, out->item.version,
	                   sizeof(out->item.version));
	snprintf(out->item.release, sizeof(out->item.release), "%s",
	         bv.release);
	snprintf(out->item.arch, sizeof(out->item.arch), "%s", bv.arch);
	out->item.size = b->size;
	snprintf(out->item.sha256, sizeof(out->item.sha256), "%s", b->sha256);
	publish_item_path(b, out->item.path, sizeof(out->item.path));
	return 0;
}

/* The index of files and binaries list[0..n) (sorted by stream, then
 * binary version). NULL when out of memory. */
static struct publish_index *
publish_index_build(const struct ups_ss_files *f,
                    const struct catalog_binary *list, size_t n)
{
	struct publish_index *ix;
	size_t cap = f->n + 2 * n, k = 0;

	ix = calloc(1, sizeof(*ix) + cap * sizeof(ix->routes[0]));
	if (!ix)
		return NULL;
	for (size_t i = 0; i < f->n; i++) {
		struct publish_route *r = &ix->routes[k++];

		snprintf(r->path, sizeof(r->path), "/" UPS_SS_DIR "/%s",
		         f->file[i].name);
		r->target.kind = PUBLISH_META;
		snprintf(r->target.name, sizeof(r->target.name), "%s",
		         f->file[i].name);
	}
	for (size_t i = 0; i < n; i++) {
		struct publish_route *r = &ix->routes[k++];
		struct publish_target *t = &r->target;

		r->path[0] = '/';
		publish_item_path(&list[i], r->path + 1, sizeof(r->path) - 1);
		t->kind = PUBLISH_BINARY;
		snprintf(t->stream, sizeof(t->stream), "%s", list[i].stream);
		snprintf(t->binary_version, sizeof(t->binary_version), "%s",
		         list[i].binary_version);
		snprintf(t->sha256, sizeof(t->sha256), "%s", list[i].sha256);
		t->size = list[i].size;
	}
	/* /tools/<bv>: the first stream, in stream order, that holds it. */
	for (size_t i = 0; i < n; i++) {
		const struct publish_target *best = NULL;
		enum ups_stream bs = UPS_STREAM__COUNT, st;
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(list[j].binary_version,
			              list[i].binary_version) == 0;
		if (seen)
			continue;
		for (size_t j = i; j < n; j++) {
			if (strcmp(list[j].binary_version,
			           list[i].binary_version) != 0 ||
			    ups_stream_parse(list[j].stream, &st) || st >= bs)
				continue;
			bs = st;
			best = &ix->routes[f->n + j].target;
		}
		if (!best)
			continue;
		snprintf(ix->routes[k].path, sizeof(ix->routes[k].path),
		         "/tools/%s", list[i].binary_version);
		ix->routes[k++].target = *best;
	}
	ix->n = k;
	qsort(ix->routes, ix->n, sizeof(ix->routes[0]), publish_route_cmp);
	return ix;
}

/* -------------------------------------------------------------------------
 * Publishing (blocking: a store worker, a retry worker, or start-up). */

/* Makes the store's metadata and the pending index match the catalog.
 * Call with p->lock held. */
static int publish_run_locked(struct publisher *p, char *err, size_t errlen)
{
	struct catalog_binary *list = NULL;
	struct ups_ss_pub *pubs = NULL;
	struct ups_ss_files files = {0};
	struct publish_written next[PUBLISH_FILES];
	struct publish_index *ix = NULL;
	size_t n = 0;
	int rv;

	rv = store_binaries(p->store, &list, &n, err, errlen);
	if (rv)
		goto out; /* dirty: the retry timer tries again */
	pubs = calloc(n ? n : 1, sizeof(*pubs));
	if (!pubs) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		rv = publish_item(&list[i], &pubs[i], err, errlen);
		if (rv)
			goto out;
	}
	rv = ups_ss_write(pubs, n, &files, err, errlen);
	if (rv)
		goto out;

	memset(next, 0, sizeof(next));
	for (size_t i = 0; i < files.n; i++) {
		int slot = publish_slot(files.file[i].name);

		if (slot < 0 ||
		    publish_sha256(files.file[i].data, files.file[i].len,
		                   next[slot].sha256)) {
			rv = ups_errf(UPS_ERR_INTERNAL, err, errlen,
			              "cannot hash %s", files.file[i].name);
			goto out;
		}
		next[slot].present = true;
	}
	/* The files that changed, in one durable step, ordered from the last
	 * slot to the first: products files, then index.json, then
	 * index2.json, so no index names a products file not there yet. */
	{
		struct ups_store_meta_file put[PUBLISH_FILES];
		int slots[PUBLISH_FILES];
		size_t nput = 0;

		for (int slot = PUBLISH_FILES - 1; slot >= 0; slot--) {
			char name[UPS_SS_FILE_NAME_MAX + 1];
			const struct ups_ss_file *f;

			if (!next[slot].present ||
			    (p->written[slot].present &&
			     CRYPTO_memcmp(p->written[slot].sha256,
			                   next[slot].sha256, 32) == 0))
				continue;
			publish_slot_name(slot, name, sizeof(name));
			f = ups_ss_files_find(&files, name);
			put[nput].name = f->name;
			put[nput].data = f->data;
			put[nput].len = f->len;
			slots[nput++] = slot;
		}
		if (nput > 0) {
			rv = store_meta_put(p->store, put, nput, err, errlen);
			for (size_t i = 0; i < nput; i++) {
				/* After a failure some may be new, some
				 * old: unknown, so the retry writes them. */
				p->written[slots[i]] = next[slots[i]];
				if (rv)
					memset(p->written[slots[i]].sha256, 0,
					       32);
			}
			if (rv)
				goto out;
			LOG_DEBUG("publish", "wrote %zu metadata files", nput);
		}
	}
	/* Removed the other way round: indexes first. */
	for (int slot = 0; slot < PUBLISH_FILES; slot++) {
		char name[UPS_SS_FILE_NAME_MAX + 1];

		if (next[slot].present || !p->written[slot].present)
			continue;
		publish_slot_name(slot, name, sizeof(name));
		rv = store_meta_remove(p->store, name, err, errlen);
		if (rv && rv != UPS_ERR_NOT_FOUND)
			goto out;
		p->written[slot].present = false;
		LOG_DEBUG("publish", "removed %s/%s", UPS_SS_DIR, name);
	}

	ix = publish_index_build(&files, list, n);
	if (!ix) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto out;
	}
	ix->generation = ++p->generation;
	rv = 0;
out:
	ups_ss_files_free(&files);
	free(pubs);
	free(list);
	pthread_mutex_lock(&p->handoff);
	if (ix) {
		free(p->pending);
		p->pending = ix;
	}
	p->dirty = rv != 0;
	pthread_mutex_unlock(&p->handoff);
	return rv;
}

static int publish_run(struct publisher *p, char *err, size_t errlen)
{
	int rv;

	pthread_mutex_lock(&p->lock);
	rv = publish_run_locked(p, err, errlen);
	pthread_mutex_unlock(&p->lock);
	return rv;
}

static int publish_hash_fd(int fd, uint64_t size, uint8_t md[32], char *err,
                           size_t errlen);

/* What the store holds under streams/v1 now, so that files whose bytes
 * do not change are not rewritten (a restart writes nothing) and files
 * left by an earlier run are removed when nothing publishes them. A file
 * that cannot be read counts as there with unknown content: it is
 * rewritten or removed. */
static void publish_read_written(struct publisher *p)
{
	for (int slot = 0; slot < PUBLISH_FILES; slot++) {
		char name[UPS_SS_FILE_NAME_MAX + 1], err[UPS_ERRMSG_MAX];
		uint64_t size = 0;
		int fd = -1;

		publish_slot_name(slot, name, sizeof(name));
		if (store_meta_open(p->store, name, &fd, &size, err,
		                    sizeof(err)))
			continue;
		p->written[slot].present = true;
		if (publish_hash_fd(fd, size, p->written[slot].sha256, err,
		                    sizeof(err)))
			memset(p->written[slot].sha256, 0, 32);
		close(fd);
	}
}

/* -------------------------------------------------------------------------
 * The index, on the loop thread. */

/* Installs the newest index a publish built, if any. */
static void publish_take_pending(struct publisher *p)
{
	struct publish_index *ix;

	pthread_mutex_lock(&p->handoff);
	ix = p->pending;
	p->pending = NULL;
	pthread_mutex_unlock(&p->handoff);
	if (!ix)
		return;
	if (p->current && p->current->generation >= ix->generation) {
		free(ix);
		return;
	}
	free(p->current);
	p->current = ix;
}

static void publish_schedule_retry(struct publisher *p);

static void publish_retry_work(uv_work_t *w)
{
	struct publisher *p = w->data;

	p->retry_err[0] = '\0';
	p->retry_rv = publish_run(p, p->retry_err, sizeof(p->retry_err));
}

static void publish_retry_after(uv_work_t *w, int status)
{
	struct publisher *p = w->data;

	p->retry_busy = false;
	p->retries++;
	if (status == UV_ECANCELED && !p->retry_rv)
		p->retry_rv = UPS_ERR_IO;
	publish_take_pending(p);
	if (p->retry_rv) {
		LOG_ERROR("publish",
		          "the published metadata is still behind the "
		          "catalog: %s; retrying",
		          p->retry_err);
		publish_schedule_retry(p);
		return;
	}
	LOG_INFO("publish", "the published metadata is up to date again");
	p->retry_ms = PUBLISH_RETRY_FIRST_MS;
}

static void publish_retry_fire(uv_timer_t *t)
{
	struct publisher *p = t->data;

	if (p->stopping || p->retry_busy)
		return;
	p->retry_work.data = p;
	if (uv_queue_work(p->loop, &p->retry_work, publish_retry_work,
	                  publish_retry_after) == 0)
		p->retry_busy = true;
	else
		publish_schedule_retry(p);
}

static void publish_schedule_retry(struct publisher *p)
{
	bool dirty;

	if (p->stopping || !p->retry_open || p->retry_busy ||
	    uv_is_active((uv_handle_t *)&p->retry))
		return;
	pthread_mutex_lock(&p->handoff);
	dirty = p->dirty;
	pthread_mutex_unlock(&p->handoff);
	if (!dirty)
		return;
	(void)uv_timer_start(&p->retry, publish_retry_fire, p->retry_ms, 0);
	p->retry_ms *= 2;
	if (p->retry_ms > PUBLISH_RETRY_MAX_MS)
		p->retry_ms = PUBLISH_RETRY_MAX_MS;
}

/* -------------------------------------------------------------------------
 * The store's subscriber. */

static int publish_sync(void *data, enum store_change change,
                        const struct catalog_binary *b, char *err,
                        size_t errlen)
{
	struct publisher *p = data;
	char detail[UPS_ERRMSG_MAX];
	int rv;

	detail[0] = '\0';
	rv = publish_run(p, detail, sizeof(detail));
	if (rv == 0)
		return 0;
	LOG_ERROR("publish", "%s (%s) %s, but the metadata is not: %s",
	          b->binary_version, b->stream,
	          change == STORE_STORED ? "is stored" : "is removed", detail);
	return ups_errf(rv, err, errlen,
	                "%s (%s) %s, but publishing its metadata failed (%s); "
	                "upstaged retries",
	                b->binary_version, b->stream,
	                change == STORE_STORED ? "is stored" : "is removed",
	                detail);
}

static void publish_changed(void *data, enum store_change change,
                            const struct catalog_binary *b)
{
	struct publisher *p = data;

	(void)change;
	(void)b;
	publish_take_pending(p);
	publish_schedule_retry(p);
}

int publisher_init(struct publisher *p, uv_loop_t *loop, struct store *store,
                   char *err, size_t errlen)
{
	char detail[UPS_ERRMSG_MAX];
	int rv;

	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->store = store;
	p->retry_ms = PUBLISH_RETRY_FIRST_MS;
	if (!store_can_publish(store)) {
		LOG_WARN("publish",
		         "the store plugin has ABI %u.%u: no simplestreams "
		         "metadata is published and no binary is served over "
		         "HTTP (a store plugin of ABI %u.1 or later does both)",
		         UPS_PLUGIN_ABI_MAJOR,
		         plugin_store_minor(&store->plugin),
		         UPS_PLUGIN_ABI_MAJOR);
		return 0;
	}
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "cannot create a mutex");
	if (pthread_mutex_init(&p->handoff, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "cannot create a mutex");
	}
	p->lock_ready = true;
	rv = uv_timer_init(loop, &p->retry);
	if (rv)
		return ups_errf(UPS_ERR_IO, err, errlen, "publish timer: %s",
		                uv_strerror(rv));
	p->retry.data = p;
	p->retry_open = true;
	p->enabled = true;

	publish_read_written(p);
	detail[0] = '\0';
	rv = publish_run(p, detail, sizeof(detail));
	if (rv) {
		LOG_ERROR("publish",
		          "cannot publish the metadata at start: %s; "
		          "retrying",
		          detail);
		publish_schedule_retry(p);
	}
	publish_take_pending(p);
	p->sub.sync = publish_sync;
	p->sub.changed = publish_changed;
	p->sub.data = p;
	store_subscribe(store, &p->sub);
	return 0;
}

void publisher_stop(struct publisher *p)
{
	p->stopping = true;
	if (p->retry_open) {
		uv_timer_stop(&p->retry);
		uv_close((uv_handle_t *)&p->retry, NULL);
		p->retry_open = false;
	}
}

void publisher_close(struct publisher *p)
{
	free(p->current);
	free(p->pending);
	p->current = p->pending = NULL;
	if (p->lock_ready) {
		pthread_mutex_destroy(&p->lock);
		pthread_mutex_destroy(&p->handoff);
	}
	p->lock_ready = false;
}

uint64_t publisher_generation(const struct publisher *p)
{
	return p->current ? p->current->generation : 0;
}

/* -------------------------------------------------------------------------
 * Lookups. */

static bool publish_is_uuid(const char *s)
{
	for (int i = 0; i < PUBLISH_UUID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		             (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return true;
}

int publisher_lookup(struct publisher *p, const char *path,
                     struct publish_target *out)
{
	static const char model[] = "/model/";
	struct publish_route key;
	const struct publish_route *r;

	if (!p->enabled)
		return UPS_ERR_NOT_FOUND;
	publish_take_pending(p);
	if (!p->current)
		return UPS_ERR_NOT_FOUND;
	/* Juju's agents fetch /model/<uuid>/tools/<bv>: any model, the
	 * same binaries. */
	if (strncmp(path, model, sizeof(model) - 1) == 0) {
		const char *u = path + sizeof(model) - 1;

		if (strnlen(u, PUBLISH_UUID_LEN) < PUBLISH_UUID_LEN ||
		    !publish_is_uuid(u) ||
		    strncmp(u + PUBLISH_UUID_LEN, "/tools/", 7) != 0)
			return UPS_ERR_NOT_FOUND;
		path = u + PUBLISH_UUID_LEN;
	}
	if (strlen(path) > PUBLISH_PATH_MAX)
		return UPS_ERR_NOT_FOUND;
	snprintf(key.path, sizeof(key.path), "%s", path);
	r = bsearch(&key, p->current->routes, p->current->n,
	            sizeof(p->current->routes[0]), publish_route_cmp);
	if (!r)
		return UPS_ERR_NOT_FOUND;
	*out = r->target;
	return 0;
}

/* -------------------------------------------------------------------------
 * Opening for downloads. */

/* The SHA-256 of fd[0, size), read a chunk at a time. */
static int publish_hash_fd(int fd, uint64_t size, uint8_t md[32], char *err,
                           size_t errlen)
{
	uint8_t *buf = malloc(PUBLISH_HASH_CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen = 0;
	uint64_t off = 0;
	int rv = UPS_ERR_IO;

	if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen, "out of memory");
		goto out;
	}
	while (off < size) {
		size_t want = size - off < PUBLISH_HASH_CHUNK
		                  ? (size_t)(size - off)
		                  : PUBLISH_HASH_CHUNK;
		ssize_t r = pread(fd, buf, want, (off_t)off);

		if (r <= 0) {
			rv = ups_errf(UPS_ERR_IO, err, errlen,
			              "short read of a metadata file");
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1)
			goto out;
		off += (uint64_t)r;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		goto out;
	rv = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rv;
}

static void publish_open_work(uv_work_t *w)
{
	struct publish_open_op *op = w->data;
	const struct publish_target *t = &op->target;
	struct publish_opened *o = &op->opened;
	uint8_t md[32];

	o->kind = t->kind;
	o->fd = -1;
	if (t->kind == PUBLISH_BINARY) {
		op->rv = store_open_held(op->p->store, t->stream,
		                         t->binary_version, t->sha256, &o->fd,
		                         &o->size, op->err, sizeof(op->err));
		/* Replaced meanwhile: the index is about to change; this
		 * request gets nothing rather than other bytes. */
		if (op->rv == UPS_ERR_CONFLICT)
			op->rv = UPS_ERR_NOT_FOUND;
		if (op->rv == 0 && o->size != t->size) {
			op->rv = ups_errf(UPS_ERR_IO, op->err, sizeof(op->err),
			                  "%s holds %llu bytes, the catalog "
			                  "says %llu",
			                  t->binary_version,
			                  (unsigned long long)o->size,
			                  (unsigned long long)t->size);
		}
		if (op->rv == 0)
			memcpy(o->etag, t->sha256, sizeof(o->etag));
	} else {
		op->rv = store_meta_open(op->p->store, t->name, &o->fd,
		                         &o->size, op->err, sizeof(op->err));
		if (op->rv == 0 && o->size > UPS_SS_PRODUCTS_MAX_BYTES)
			op->rv = ups_errf(UPS_ERR_IO, op->err, sizeof(op->err),
			                  "%s is larger than any metadata "
			                  "upstaged writes",
			                  t->name);
		/* The ETag of exactly these bytes: the file may have been
		 * replaced since the index was built. */
		if (op->rv == 0)
			op->rv = publish_hash_fd(o->fd, o->size, md, op->err,
			                         sizeof(op->err));
		if (op->rv == 0)
			ups_sha256_hex_encode(md, o->etag);
	}
	if (op->rv && o->fd >= 0) {
		close(o->fd);
		o->fd = -1;
	}
}

static void publish_open_after(uv_work_t *w, int status)
{
	struct publish_open_op *op = w->data;

	if (status == UV_ECANCELED && !op->rv)
		op->rv =
		    ups_errf(UPS_ERR_IO, op->err, sizeof(op->err), "cancelled");
	op->cb(op->data, op->rv, op->err, op->rv ? NULL : &op->opened);
	free(op);
}

int publisher_open_target(struct publisher *p, const struct publish_target *t,
                          publish_open_cb cb, void *data)
{
	struct publish_open_op *op = calloc(1, sizeof(*op));

	if (!op)
		return UPS_ERR_NO_MEMORY;
	op->p = p;
	op->target = *t;
	op->cb = cb;
	op->data = data;
	op->work.data = op;
	if (uv_queue_work(p->loop, &op->work, publish_open_work,
	                  publish_open_after)) {
		free(op);
		return UPS_ERR_INTERNAL;
	}
	return 0;
}

void publisher_stats(const struct publisher *p,
                     uint64_t binaries[UPS_STREAM__COUNT],
                     uint64_t bytes[UPS_STREAM__COUNT])
{
	for (unsigned i = 0; i < UPS_STREAM__COUNT; i++)
		binaries[i] = bytes[i] = 0;
	if (!p->current)
		return;
	for (size_t i = 0; i < p->current->n; i++) {
		const struct publish_route *r = &p->current->routes[i];
		enum ups_stream st;

		/* Each binary once: its item path, not the /tools/<bv>
		 * alias. */
		if (r->target.kind != PUBLISH_BINARY ||
		    strncmp(r->path, "/tools/", 7) != 0 ||
		    strcmp(r->path + 7, r->target.binary_version) == 0 ||
		    ups_stream_parse(r->target.stream, &st))
			continue;
		binaries[st]++;
		bytes[st] += r->target.size;
	}
}
