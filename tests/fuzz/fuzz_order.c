/* Fuzzes what a machine agent parses from upstaged: the params of the
 * Machine.Order and Machine.Revert pushes (proto/machine.h), and the
 * machine words. The first byte picks the kind; the rest is JSON.
 * Invariants (abort on violation): an accepted order has a valid id, a
 * canonical binary version, 1..8 http(s) URLs and a valid SHA-256, and
 * its params parse back to the same order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/machine.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum ups_order_kind kind;
	struct ups_order o, again;
	char err[UPS_ERRMSG_MAX];
	char word[80];
	json_t *params, *back;
	int rv;

	if (size < 1)
		return 0;
	kind = data[0] & 1 ? UPS_ORDER_REVERT : UPS_ORDER_UPGRADE;
	/* The machine words on the same bytes. */
	if (size - 1 < sizeof(word)) {
		memcpy(word, data + 1, size - 1);
		word[size - 1] = '\0';
		(void)ups_machine_id_is_valid(word);
		(void)ups_machine_state_parse(word, NULL);
		CHECK(ups_release_os(word) != NULL);
	}
	params = json_loadb((const char *)data + 1, size - 1,
	                    JSON_REJECT_DUPLICATES, NULL);
	if (!params)
		return 0;
	rv = ups_order_parse(params, kind, &o, err, sizeof(err));
	json_decref(params);
	if (rv) {
		CHECK(rv == UPS_ERR_BAD_REQUEST);
		return 0;
	}
	CHECK(ups_order_id_is_valid(o.id));
	CHECK(ups_binary_version_check(o.binary_version, NULL, NULL, 0) == 0);
	if (kind == UPS_ORDER_UPGRADE) {
		CHECK(o.nurls >= 1 && o.nurls <= UPS_ORDER_URLS_MAX);
		CHECK(ups_sha256_hex_is_valid(o.sha256));
		CHECK(o.size >= 1);
	}
	back = ups_order_params(&o);
	CHECK(back != NULL);
	CHECK(ups_order_parse(back, kind, &again, err, sizeof(err)) == 0);
	CHECK(strcmp(o.id, again.id) == 0 &&
	      strcmp(o.binary_version, again.binary_version) == 0 &&
	      o.size == again.size && o.nurls == again.nurls &&
	      strcmp(o.sha256, again.sha256) == 0);
	for (size_t i = 0; i < o.nurls; i++)
		CHECK(strcmp(o.urls[i], again.urls[i]) == 0);
	json_decref(back);
	return 0;
}
