/* Fuzzes the simplestreams parsers (proto/simplestreams.h) with the whole
 * input as an index and as a products file. Invariants
 * (abort on violation): every item returned has a safe relative path, a
 * 64-digit lowercase sha256, a size > 0 and a canonical binary version that
 * parses back to itself; an index path returned is safe. */
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
		}
		ups_ss_list_free(&l);
	}
	return 0;
}
