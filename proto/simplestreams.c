/* Simplestreams agent metadata parsing; see simplestreams.h. */
#include "proto/simplestreams.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
