/* Fuzzes what a machine agent accepts as an agent binary tarball
 * (contrib/machine/unpack.h) with libarchive reading the bytes from
 * memory. Invariants (abort on violation): the check answers 0 or
 * bad-request, never anything else, and never crashes or leaks. */
#include <stdint.h>
#include <stdlib.h>

#include "contrib/machine/unpack.h"
#include "proto/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[UPS_ERRMSG_MAX];
	int rv = unpack_check_memory(data, size, err, sizeof(err));

	if (rv != 0 && rv != UPS_ERR_BAD_REQUEST)
		abort();
	return 0;
}
