/* Fuzzes the simplestreams parsers (proto/simplestreams.h) with the whole
 * input as an index and as a products file. Invariants
 * (abort on violation): every item returned has a safe relative path, a
 * 64-digit lowercase sha256, a size > 0 and a canonical binary version that
 * parses back to itself; an index path returned is safe. Items read are
 * then written (ups_ss_write) and read back: the writer takes every item
 * whose release is known, and the reader gets the same items again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/binary.h"
#include "proto/errors.h"
#include "proto/simplestreams.h"
#include "proto/version.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void check_item(const struct ups_ss_item *it)
{
	char again[UPS_LIMIT_BINARY_VERSION_LEN + 1], err[UPS_ERRMSG_MAX];
	struct ups_binary_version bv;

	CHECK(ups_ss_path_is_safe(it->path));
	CHECK(it->size > 0);
	CHECK(strlen(it->sha256) == UPS_SHA256_HEX_LEN);
	for (size_t i = 0; i < UPS_SHA256_HEX_LEN; i++)
		CHECK((it->sha256[i] >= '0' && it->sha256[i] <= '9') ||
		      (it->sha256[i] >= 'a' && it->sha256[i] <= 'f'));
	CHECK(ups_binary_version_parse(it->binary_version, &bv, err,
	                               sizeof(err)) == 0);
	CHECK(ups_binary_version_format(&bv, again, sizeof(again)) == 0);
	CHECK(strcmp(again, it->binary_version) == 0);
}

/* Writes l's items as stream st and reads them back. */
static void check_round_trip(const struct ups_ss_list *l, enum ups_stream st)
{
	struct ups_ss_pub *pubs = calloc(l->n ? l->n : 1, sizeof(*pubs));
	char path[UPS_SS_PATH_MAX + 1], err[UPS_ERRMSG_MAX];
	const struct ups_ss_file *idx, *prod;
	struct ups_ss_list back = {0};
	struct ups_ss_files out;
	int rv;

	CHECK(pubs != NULL);
	for (size_t i = 0; i < l->n; i++) {
		pubs[i].stream = st;
		pubs[i].stored_at = (int64_t)i * 40000;
		pubs[i].item = l->items[i];
		if (!ups_release_is_valid(l->items[i].release)) {
			free(pubs);
			return;
		}
	}
	rv = ups_ss_write(pubs, l->n, &out, err, sizeof(err));
	free(pubs);
	CHECK(rv == 0);
	idx = ups_ss_files_find(&out, UPS_SS_INDEX2_NAME);
	CHECK(idx != NULL);
	if (l->n == 0) {
		CHECK(out.n == 1);
		ups_ss_files_free(&out);
		return;
	}
	CHECK(ups_ss_parse_index(idx->data, idx->len, ups_stream_name(st), path,
	                         sizeof(path), err, sizeof(err)) == 0);
	CHECK(strncmp(path, UPS_SS_DIR "/", sizeof(UPS_SS_DIR)) == 0);
	prod = ups_ss_files_find(&out, path + sizeof(UPS_SS_DIR));
	CHECK(prod != NULL);
	CHECK(ups_ss_parse_products(prod->data, prod->len, ups_stream_name(st),
	                            &back, NULL, NULL, err, sizeof(err)) == 0);
	CHECK(back.n == l->n);
	for (size_t i = 0; i < back.n; i++) {
		CHECK(strcmp(back.items[i].binary_version,
		             l->items[i].binary_version) == 0);
		CHECK(strcmp(back.items[i].sha256, l->items[i].sha256) == 0);
		CHECK(strcmp(back.items[i].path, l->items[i].path) == 0);
		CHECK(back.items[i].size == l->items[i].size);
	}
	ups_ss_list_free(&back);
	ups_ss_files_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const streams[] = {"released", "devel"};
	char path[UPS_SS_PATH_MAX + 1], err[UPS_ERRMSG_MAX];
	struct ups_ss_list l = {0};

	for (size_t s = 0; s < 2; s++) {
		if (ups_ss_parse_index((const char *)data, size, streams[s],
		                       path, sizeof(path), err,
		                       sizeof(err)) == 0)
			CHECK(ups_ss_path_is_safe(path));
		if (ups_ss_parse_products((const char *)data, size, streams[s],
		                          &l, NULL, NULL, err,
		                          sizeof(err)) == 0) {
			for (size_t i = 0; i < l.n; i++)
				check_item(&l.items[i]);
			/* No binary version twice. */
			for (size_t i = 1; i < l.n; i++)
				for (size_t j = 0; j < i; j++)
					CHECK(
					    strcmp(l.items[i].binary_version,
					           l.items[j].binary_version));
			check_round_trip(&l, s ? UPS_STREAM_DEVEL
			                       : UPS_STREAM_RELEASED);
		}
		ups_ss_list_free(&l);
	}
	return 0;
}
