/* Simplestreams agent metadata parsing; see simplestreams.h. */
#include "proto/simplestreams.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/version.h"

/* Version-date keys are compared to pick the newest; longer keys are cut
 * (real ones are "20240101" or "20240101_01"). */
#define UPS_SS_DATE_LEN 32

void ups_ss_list_free(struct ups_ss_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

int ups_ss_list_append(struct ups_ss_list *l, const struct ups_ss_item *it)
{
	struct ups_ss_item *grown;
	size_t cap;

	if (l->n >= UPS_SS_MAX_ITEMS)
		return UPS_ERR_TOO_LARGE;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 16;
		if (cap > UPS_SS_MAX_ITEMS)
			cap = UPS_SS_MAX_ITEMS;
		grown = realloc(l->items, cap * sizeof(*grown));
		if (!grown)
			return UPS_ERR_NO_MEMORY;
		l->items = grown;
		l->cap = cap;
	}
	l->items[l->n++] = *it;
	return 0;
}

bool ups_ss_path_is_safe(const char *p)
{
	size_t len = strlen(p), comp = 0;

	if (len == 0 || len > UPS_SS_PATH_MAX || p[0] == '/')
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '/' || ch == '\0') {
			const char *start = p + i - comp;

			if (comp == 0 || (comp == 1 && start[0] == '.') ||
			    (comp == 2 && start[0] == '.' && start[1] == '.'))
				return false;
			comp = 0;
			continue;
		}
		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			return false;
		comp++;
	}
	return true;
}

bool ups_ss_content_id_is(const char *s, const char *stream)
{
	static const char prefix[] = "com.ubuntu.juju:";
	static const char suffix[] = ":agents";
	size_t plen = sizeof(prefix) - 1, slen = strlen(stream);

	return strncmp(s, prefix, plen) == 0 &&
	       strncmp(s + plen, stream, slen) == 0 &&
	       strcmp(s + plen + slen, suffix) == 0;
}

static json_t *ups_ss_load(const char *buf, size_t len, size_t max,
                           const char *what, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	if (len > max) {
		ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
		         "%s is larger than %zu bytes", what, max);
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		         "%s is not valid JSON: line %d: %s", what, jerr.line,
		         jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		         "%s is not a JSON object", what);
		return NULL;
	}
	return root;
}

/* An optional string member: NULL when absent, error when not a string. */
static int ups_ss_opt_string(const json_t *obj, const char *key,
                             const char **out, const char *where, char *err,
                             size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%.200s: \"%s\" is not a string", where, key);
	*out = json_string_value(v);
	return 0;
}

int ups_ss_parse_index(const char *buf, size_t len, const char *stream,
                       char *path, size_t pathlen, char *err, size_t errlen)
{
	const char *key, *p, *format;
	json_t *root, *index, *entry;
	int rv;

	root = ups_ss_load(buf, len, UPS_SS_INDEX_MAX_BYTES, "the index", err,
	                   errlen);
	if (!root)
		return len > UPS_SS_INDEX_MAX_BYTES ? UPS_ERR_TOO_LARGE
		                                    : UPS_ERR_BAD_REQUEST;
	rv = ups_ss_opt_string(root, "format", &format, "index", err, errlen);
	if (rv)
		goto out;
	if (format && strcmp(format, "index:1.0") != 0) {
		rv =
		    ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		             "index format \"%.32s\" is not index:1.0", format);
		goto out;
	}
	index = json_object_get(root, "index");
	if (!json_is_object(index)) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "index: \"index\" is missing or not an object");
		goto out;
	}
	json_object_foreach(index, key, entry)
	{
		if (!ups_ss_content_id_is(key, stream))
			continue;
		if (!json_is_object(entry)) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "index: %.100s is not an object", key);
			goto out;
		}
		rv = ups_ss_opt_string(entry, "path", &p, key, err, errlen);
		if (rv)
			goto out;
		if (!p) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "index: %.100s has no \"path\"", key);
			goto out;
		}
		if (!ups_ss_path_is_safe(p) || strlen(p) >= pathlen) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "index: %.100s: unsafe path \"%.200s\" "
			              "(must be relative, without \"..\")",
			              key, p);
			goto out;
		}
		strcpy(path, p);
		rv = 0;
		goto out;
	}
	rv = ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
	              "the index lists no com.ubuntu.juju:%s:agents", stream);
out:
	json_decref(root);
	return rv;
}

/* A field of an item, else of its product; NULL when neither has it. */
static int ups_ss_field(const json_t *item, const json_t *product,
                        const char *key, const char **out, const char *where,
                        char *err, size_t errlen)
{
	int rv = ups_ss_opt_string(item, key, out, where, err, errlen);

	if (rv || *out)
		return rv;
	return ups_ss_opt_string(product, key, out, where, err, errlen);
}

void ups_ss_warn(ups_ss_warn_cb warn, void *data, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn(data, msg);
}

/* Lowers A-F first: metadata written with uppercase digests is still the
 * same digest, and the store only knows the lowercase spelling. */
static bool ups_ss_sha256_normalise(const char *in,
                                    char out[UPS_SHA256_HEX_LEN + 1])
{
	char lower[UPS_SHA256_HEX_LEN + 1];
	size_t n = strnlen(in, UPS_SHA256_HEX_LEN + 1);

	if (n != UPS_SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		lower[i] = (in[i] >= 'A' && in[i] <= 'F')
		               ? (char)(in[i] - 'A' + 'a')
		               : in[i];
	lower[n] = '\0';
	if (!ups_sha256_hex_is_valid(lower))
		return false;
	memcpy(out, lower, sizeof(lower));
	return true;
}

/* Builds *it from one item. Returns 0 with *usable false when the item is
 * to be skipped (warned), or a structural error. */
static int ups_ss_item_read(const json_t *item, const json_t *product,
                            const char *where, struct ups_ss_item *it,
                            bool *usable, ups_ss_warn_cb warn, void *wdata,
                            char *err, size_t errlen)
{
	const char *version, *release, *arch, *sha, *path;
	char text[UPS_LIMIT_BINARY_VERSION_LEN * 2 + 8];
	char perr[UPS_ERRMSG_MAX];
	struct ups_binary_version bv;
	json_t *size;
	int rv;

	*usable = false;
	if (!json_is_object(item))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%.200s is not an object", where);
	if ((rv = ups_ss_field(item, product, "version", &version, where, err,
	                       errlen)) ||
	    (rv = ups_ss_field(item, product, "release", &release, where, err,
	                       errlen)) ||
	    (rv = ups_ss_field(item, product, "arch", &arch, where, err,
	                       errlen)) ||
	    (rv =
	         ups_ss_opt_string(item, "sha256", &sha, where, err, errlen)) ||
	    (rv = ups_ss_opt_string(item, "path", &path, where, err, errlen)))
		return rv;
	size = json_object_get(item, "size");
	if (size && !json_is_integer(size))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%.200s: \"size\" is not an integer", where);
	if (!version || !release || !arch || !sha || !path || !size) {
		ups_ss_warn(warn, wdata,
		            "%.200s skipped: it lacks version, release, arch, "
		            "size, sha256 or path",
		            where);
		return 0;
	}
	if (strlen(version) > UPS_LIMIT_VERSION_LEN ||
	    strlen(release) > UPS_LIMIT_RELEASE_LEN ||
	    strlen(arch) > UPS_LIMIT_ARCH_LEN) {
		ups_ss_warn(warn, wdata, "%.200s skipped: a name is too long",
		            where);
		return 0;
	}
	snprintf(text, sizeof(text), "%s-%s-%s", version, release, arch);
	if (ups_binary_version_parse(text, &bv, perr, sizeof(perr)) != 0) {
		ups_ss_warn(warn, wdata, "%.200s skipped: %.200s", where, perr);
		return 0;
	}
	if (json_integer_value(size) <= 0) {
		ups_ss_warn(warn, wdata,
		            "%.200s skipped: size %" JSON_INTEGER_FORMAT
		            " is not positive",
		            where, json_integer_value(size));
		return 0;
	}
	if (!ups_ss_sha256_normalise(sha, it->sha256)) {
		ups_ss_warn(warn, wdata,
		            "%.200s skipped: sha256 is not 64 hex digits",
		            where);
		return 0;
	}
	if (!ups_ss_path_is_safe(path)) {
		ups_ss_warn(warn, wdata,
		            "%.200s skipped: unsafe path \"%.200s\" (must be "
		            "relative, without \"..\")",
		            where, path);
		return 0;
	}
	if (ups_binary_version_format(&bv, it->binary_version,
	                              sizeof(it->binary_version)) != 0 ||
	    ups_version_format(&bv.version, it->version, sizeof(it->version)) !=
	        0)
		return ups_errf(UPS_ERR_INTERNAL, err, errlen,
		                "%.200s: cannot format the version", where);
	snprintf(it->release, sizeof(it->release), "%s", bv.release);
	snprintf(it->arch, sizeof(it->arch), "%s", bv.arch);
	it->size = (uint64_t)json_integer_value(size);
	snprintf(it->path, sizeof(it->path), "%s", path);
	*usable = true;
	return 0;
}

/* Adds it, or replaces an item of the same binary version from an older
 * date. dates parallels l->items and has room for *dcap entries. */
static int ups_ss_add(struct ups_ss_list *l,
                      char (**dates)[UPS_SS_DATE_LEN + 1], size_t *dcap,
                      const struct ups_ss_item *it, const char *date)
{
	char(*grown)[UPS_SS_DATE_LEN + 1];
	int rv;

	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i].binary_version, it->binary_version) != 0)
			continue;
		if (strncmp(date, (*dates)[i], UPS_SS_DATE_LEN) > 0) {
			l->items[i] = *it;
			snprintf((*dates)[i], UPS_SS_DATE_LEN + 1, "%s", date);
		}
		return 0;
	}
	if (l->n == *dcap) {
		size_t cap = *dcap ? *dcap * 2 : 16;

		grown = realloc(*dates, cap * sizeof(**dates));
		if (!grown)
			return UPS_ERR_NO_MEMORY;
		*dates = grown;
		*dcap = cap;
	}
	rv = ups_ss_list_append(l, it);
	if (rv)
		return rv;
	snprintf((*dates)[l->n - 1], UPS_SS_DATE_LEN + 1, "%s", date);
	return 0;
}

static int ups_ss_item_cmp(const void *pa, const void *pb)
{
	const struct ups_ss_item *a = pa, *b = pb;
	struct ups_binary_version va, vb;
	bool a_ok, b_ok;

	/* Items hold binary versions parsed before they were added, so both
	 * parse; an item built by hand that does not still gets a place,
	 * after all others, so the order stays total for qsort. */
	a_ok = ups_binary_version_parse(a->binary_version, &va, NULL, 0) == 0;
	b_ok = ups_binary_version_parse(b->binary_version, &vb, NULL, 0) == 0;
	if (a_ok && b_ok)
		return ups_binary_version_compare(&va, &vb);
	if (a_ok != b_ok)
		return a_ok ? -1 : 1;
	return strcmp(a->binary_version, b->binary_version);
}

void ups_ss_list_sort(struct ups_ss_list *l)
{
	if (l->n > 1)
		qsort(l->items, l->n, sizeof(l->items[0]), ups_ss_item_cmp);
}

int ups_ss_parse_products(const char *buf, size_t len, const char *stream,
                          struct ups_ss_list *out, ups_ss_warn_cb warn,
                          void *warn_data, char *err, size_t errlen)
{
	const char *cid, *pkey, *dkey, *ikey;
	json_t *root, *products, *product, *versions, *dated, *items, *item;
	char(*dates)[UPS_SS_DATE_LEN + 1] = NULL;
	struct ups_ss_list found = {0};
	size_t dcap = 0;
	char where[600];
	struct ups_ss_item it;
	bool usable;
	int rv;

	root = ups_ss_load(buf, len, UPS_SS_PRODUCTS_MAX_BYTES,
	                   "the products file", err, errlen);
	if (!root)
		return len > UPS_SS_PRODUCTS_MAX_BYTES ? UPS_ERR_TOO_LARGE
		                                       : UPS_ERR_BAD_REQUEST;
	rv = ups_ss_opt_string(root, "content_id", &cid, "products", err,
	                       errlen);
	if (rv)
		goto out;
	if (cid && !ups_ss_content_id_is(cid, stream)) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "the products file is for \"%.100s\", not "
		              "com.ubuntu.juju:%s:agents",
		              cid, stream);
		goto out;
	}
	products = json_object_get(root, "products");
	if (!json_is_object(products)) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "products: \"products\" is missing or not an "
		              "object");
		goto out;
	}
	json_object_foreach(products, pkey, product)
	{
		if (!json_is_object(product)) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "product %.100s is not an object", pkey);
			goto out;
		}
		versions = json_object_get(product, "versions");
		if (!json_is_object(versions)) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "product %.100s: \"versions\" is missing "
			              "or not an object",
			              pkey);
			goto out;
		}
		json_object_foreach(versions, dkey, dated)
		{
			items = json_is_object(dated)
			            ? json_object_get(dated, "items")
			            : NULL;
			if (!json_is_object(items)) {
				rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				              "product %.100s version %.40s: "
				              "\"items\" is missing or not an "
				              "object",
				              pkey, dkey);
				goto out;
			}
			json_object_foreach(items, ikey, item)
			{
				snprintf(where, sizeof(where),
				         "item %.100s of %.100s/%.40s", ikey,
				         pkey, dkey);
				rv = ups_ss_item_read(item, product, where, &it,
				                      &usable, warn, warn_data,
				                      err, errlen);
				if (rv)
					goto out;
				if (!usable)
					continue;
				rv = ups_ss_add(&found, &dates, &dcap, &it,
				                dkey);
				if (rv) {
					ups_errf(rv, err, errlen,
					         "products: %s at %s",
					         rv == UPS_ERR_TOO_LARGE
					             ? "too many items"
					             : "out of memory",
					         where);
					goto out;
				}
			}
		}
	}
	ups_ss_list_sort(&found);
	for (size_t i = 0; i < found.n; i++) {
		rv = ups_ss_list_append(out, &found.items[i]);
		if (rv) {
			out->n -= i;
			ups_errf(rv, err, errlen, "products: too many items");
			goto out;
		}
	}
	rv = 0;
out:
	free(dates);
	ups_ss_list_free(&found);
	json_decref(root);
	return rv;
}

/* -------------------------------------------------------------------------
 * Writing. */

#define UPS_SS_PRODUCT_ID_MAX                                                  \
	(sizeof("com.ubuntu.juju::") - 1 + UPS_LIMIT_RELEASE_LEN +             \
	 UPS_LIMIT_ARCH_LEN)

/* One pub of a stream being written, with what its sort needs. */
struct ups_ss_row {
	const struct ups_ss_pub *pub;
	char product[UPS_SS_PRODUCT_ID_MAX + 1];
	char date[32]; /* YYYYMMDD (room for any int, to please the compiler) */
	struct ups_version version;
};

void ups_ss_files_free(struct ups_ss_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->file[i].data);
	memset(f, 0, sizeof(*f));
}

const struct ups_ss_file *ups_ss_files_find(const struct ups_ss_files *f,
                                            const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->file[i].name, name) == 0)
			return &f->file[i];
	return NULL;
}

void ups_ss_products_name(enum ups_stream stream, char *buf, size_t len)
{
	snprintf(buf, len, "com.ubuntu.juju-%s-agents.json",
	         ups_stream_name(stream));
}

/* The broken-down UTC time of t, whatever time_t is. */
static int ups_ss_gmtime(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;

	if (t < 0 || (int64_t)tt != t || !gmtime_r(&tt, tm))
		return UPS_ERR_BAD_REQUEST;
	return 0;
}

int ups_ss_format_updated(int64_t t, char *buf, size_t len)
{
	/* Go's time.RFC1123Z in English, not strftime's locale. */
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
	                                "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
	                                   "May", "Jun", "Jul", "Aug",
	                                   "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	if (ups_ss_gmtime(t, &tm) || tm.tm_year + 1900 > 9999) {
		if (len > 0)
			buf[0] = '\0';
		return UPS_ERR_BAD_REQUEST;
	}
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	         days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

/* Byte order of product id, then date, then item key: the order the
 * nested objects are built in, so that insertion order is key order. */
static int ups_ss_row_cmp(const void *pa, const void *pb)
{
	const struct ups_ss_row *a = pa, *b = pb;
	int c = strcmp(a->product, b->product);

	if (c == 0)
		c = strcmp(a->date, b->date);
	if (c == 0)
		c = strcmp(a->pub->item.binary_version,
		           b->pub->item.binary_version);
	return c;
}

/* Fills row from pub (product id, date, parsed version). */
static int ups_ss_row_init(struct ups_ss_row *row, const struct ups_ss_pub *pub,
                           char *err, size_t errlen)
{
	const struct ups_ss_item *it = &pub->item;
	const char *word = ups_release_product(it->release);
	struct tm tm;

	row->pub = pub;
	if (!word)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%.120s: unknown release \"%.40s\"",
		                it->binary_version, it->release);
	if (ups_version_parse(it->version, &row->version, NULL, 0))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%.120s: version \"%.70s\" does not parse",
		                it->binary_version, it->version);
	if (ups_ss_gmtime(pub->stored_at, &tm) || tm.tm_year + 1900 > 9999)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%.120s: stored_at %lld is not a date",
		                it->binary_version, (long long)pub->stored_at);
	snprintf(row->product, sizeof(row->product), "com.ubuntu.juju:%s:%.*s",
	         word, UPS_LIMIT_ARCH_LEN, it->arch);
	snprintf(row->date, sizeof(row->date), "%04d%02d%02d",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return 0;
}

/* Finishes a JSON document into f: Juju's indentation and a newline.
 * Steals root. */
static int ups_ss_dump(json_t *root, const char *name, struct ups_ss_file *f)
{
	char *text = root ? json_dumps(root, JSON_INDENT(4)) : NULL;
	size_t len;

	json_decref(root);
	if (!text)
		return UPS_ERR_NO_MEMORY;
	len = strlen(text);
	f->data = malloc(len + 2);
	if (!f->data) {
		free(text);
		return UPS_ERR_NO_MEMORY;
	}
	memcpy(f->data, text, len);
	f->data[len] = '\n';
	f->data[len + 1] = '\0';
	f->len = len + 1;
	free(text);
	snprintf(f->name, sizeof(f->name), "%s", name);
	return 0;
}

/* The products object of rows[0..n) (sorted), and the sorted product ids
 * into ids. NULL when out of memory. */
static json_t *ups_ss_products(const struct ups_ss_row *rows, size_t n,
                               json_t *ids)
{
	json_t *products = json_object(), *product = NULL, *versions = NULL;
	json_t *items = NULL, *item;
	const struct ups_ss_row *newest = NULL;

	if (!products)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct ups_ss_row *r = &rows[i];
		const struct ups_ss_item *it = &r->pub->item;
		bool new_product =
		    i == 0 || strcmp(r->product, rows[i - 1].product) != 0;

		if (new_product) {
			/* Members in the order of Juju's MetadataCatalog. */
			product = json_pack("{s:s, s:s, s:{}}", "version", "",
			                    "arch", it->arch, "versions");
			if (!product ||
			    json_object_set_new(products, r->product,
			                        product) ||
			    json_array_append_new(ids, json_string(r->product)))
				goto fail;
			versions = json_object_get(product, "versions");
			newest = NULL;
		}
		if (new_product || strcmp(r->date, rows[i - 1].date) != 0) {
			items = json_object();
			if (!items || json_object_set_new(
			                  versions, r->date,
			                  json_pack("{s:o}", "items", items)))
				goto fail;
		}
		/* Members in the order of Juju's ToolsMetadata. */
		item = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s}",
		                 "release", it->release, "version", it->version,
		                 "arch", it->arch, "size", (json_int_t)it->size,
		                 "path", it->path, "ftype", "tar.gz", "sha256",
		                 it->sha256);
		if (!item ||
		    json_object_set_new(items, it->binary_version, item))
			goto fail;
		if (!newest ||
		    ups_version_compare(&r->version, &newest->version) > 0) {
			newest = r;
			if (json_object_set_new(product, "version",
			                        json_string(it->version)))
				goto fail;
		}
	}
	return products;
fail:
	json_decref(products);
	return NULL;
}

/* The index entry of one stream (Juju's IndexMetadata). Steals ids. */
static json_t *ups_ss_index_entry(enum ups_stream st, const char *updated,
                                  json_t *ids)
{
	char path[sizeof(UPS_SS_DIR) + UPS_SS_FILE_NAME_MAX + 1];
	char name[UPS_SS_FILE_NAME_MAX + 1];

	ups_ss_products_name(st, name, sizeof(name));
	snprintf(path, sizeof(path), UPS_SS_DIR "/%s", name);
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "updated", updated,
	                 "format", "products:1.0", "datatype",
	                 "content-download", "path", path, "products", ids);
}

/* An index document (Juju's Indices) around entries (stolen). */
static json_t *ups_ss_index_doc(json_t *entries, int64_t newest)
{
	char updated[UPS_SS_UPDATED_LEN + 1];

	if (!entries ||
	    ups_ss_format_updated(newest, updated, sizeof(updated))) {
		json_decref(entries);
		return NULL;
	}
	return json_pack("{s:o, s:s, s:s}", "index", entries, "updated",
	                 updated, "format", "index:1.0");
}

/* Writes the products file of rows[0..n) (stream st, sorted) into *f and
 * adds its entry to index (and to legacy for released). */
static int ups_ss_write_stream(enum ups_stream st,
                               const struct ups_ss_row *rows, size_t n,
                               json_t *index, json_t *legacy,
                               int64_t *legacy_newest, struct ups_ss_file *f)
{
	char updated[UPS_SS_UPDATED_LEN + 1], cid[64];
	char name[UPS_SS_FILE_NAME_MAX + 1];
	json_t *ids = json_array(), *products, *entry, *doc;
	int64_t newest = 0;
	int rv;

	for (size_t i = 0; i < n; i++)
		if (rows[i].pub->stored_at > newest)
			newest = rows[i].pub->stored_at;
	if (!ids)
		return UPS_ERR_NO_MEMORY;
	/* The times were checked when the rows were made. */
	(void)ups_ss_format_updated(newest, updated, sizeof(updated));
	products = ups_ss_products(rows, n, ids);
	if (!products) {
		json_decref(ids);
		return UPS_ERR_NO_MEMORY;
	}
	snprintf(cid, sizeof(cid), "com.ubuntu.juju:%s:agents",
	         ups_stream_name(st));
	/* Members in the order of Juju's CloudMetadata. */
	doc = json_pack("{s:o, s:s, s:s, s:s}", "products", products, "updated",
	                updated, "format", "products:1.0", "content_id", cid);
	entry = ups_ss_index_entry(st, updated, ids);
	if (!entry || json_object_set(index, cid, entry) ||
	    (st == UPS_STREAM_RELEASED &&
	     json_object_set(legacy, cid, entry))) {
		json_decref(entry);
		json_decref(doc);
		return UPS_ERR_NO_MEMORY;
	}
	json_decref(entry);
	if (st == UPS_STREAM_RELEASED)
		*legacy_newest = newest;
	ups_ss_products_name(st, name, sizeof(name));
	rv = ups_ss_dump(doc, name, f);
	return rv;
}

/* Index entries are keyed com.ubuntu.juju:<stream>:agents; building them
 * in byte order of the stream names keeps the keys sorted. */
static int ups_ss_stream_name_cmp(const void *pa, const void *pb)
{
	return strcmp(ups_stream_name(*(const enum ups_stream *)pa),
	              ups_stream_name(*(const enum ups_stream *)pb));
}

int ups_ss_write(const struct ups_ss_pub *pubs, size_t n,
                 struct ups_ss_files *out, char *err, size_t errlen)
{
	enum ups_stream order[UPS_STREAM__COUNT];
	struct ups_ss_file products[UPS_STREAM__COUNT];
	struct ups_ss_row *rows = NULL;
	json_t *index = json_object(), *legacy = json_object();
	int64_t newest = 0, legacy_newest = 0;
	int rv;

	memset(out, 0, sizeof(*out));
	memset(products, 0, sizeof(products));
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)pubs[i].stream >= UPS_STREAM__COUNT) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "%.120s: unknown stream",
			              pubs[i].item.binary_version);
			goto out;
		}
		if (pubs[i].stored_at > newest)
			newest = pubs[i].stored_at;
	}
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!index || !legacy || !rows)
		goto nomem;
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++)
		order[i] = (enum ups_stream)i;
	qsort(order, UPS_STREAM__COUNT, sizeof(order[0]),
	      ups_ss_stream_name_cmp);

	for (size_t k = 0; k < UPS_STREAM__COUNT; k++) {
		enum ups_stream st = order[k];
		size_t m = 0;

		for (size_t i = 0; i < n; i++) {
			if (pubs[i].stream != st)
				continue;
			rv = ups_ss_row_init(&rows[m++], &pubs[i], err, errlen);
			if (rv)
				goto out;
		}
		if (m == 0)
			continue;
		if (m > UPS_SS_MAX_ITEMS) {
			rv = ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
			              "%s holds %zu binaries; at most %d can "
			              "be published",
			              ups_stream_name(st), m, UPS_SS_MAX_ITEMS);
			goto out;
		}
		qsort(rows, m, sizeof(rows[0]), ups_ss_row_cmp);
		for (size_t i = 1; i < m; i++) {
			if (strcmp(rows[i].pub->item.binary_version,
			           rows[i - 1].pub->item.binary_version) != 0)
				continue;
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "%.120s is in %s twice",
			              rows[i].pub->item.binary_version,
			              ups_stream_name(st));
			goto out;
		}
		if (ups_ss_write_stream(st, rows, m, index, legacy,
		                        &legacy_newest, &products[st]))
			goto nomem;
	}

	/* The documents take references of their own; ours go at out. */
	if (ups_ss_dump(ups_ss_index_doc(json_incref(index), newest),
	                UPS_SS_INDEX2_NAME, &out->file[out->n++]))
		goto nomem;
	if (json_object_size(legacy) > 0 &&
	    ups_ss_dump(ups_ss_index_doc(json_incref(legacy), legacy_newest),
	                UPS_SS_INDEX_NAME, &out->file[out->n++]))
		goto nomem;
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++) {
		if (!products[i].data)
			continue;
		out->file[out->n++] = products[i];
		products[i].data = NULL;
	}
	rv = 0;
	goto out;

nomem:
	rv = ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
	              "out of memory writing simplestreams");
out:
	if (rv)
		ups_ss_files_free(out);
	for (size_t i = 0; i < UPS_STREAM__COUNT; i++)
		free(products[i].data);
	json_decref(index);
	json_decref(legacy);
	free(rows);
	return rv;
}
