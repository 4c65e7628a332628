/* Fuzzes upstaged's YAML config loader. Whatever it accepts must survive a
 * dump and reload unchanged: the dump is the canonical form. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "proto/errors.h"
#include "proto/log.h"

static char *dump(const struct config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f || config_dump(cfg, f) != 0)
		abort();
	fclose(f);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config a, b;
	char err[UPS_ERRMSG_MAX];
	char *first, *second;
	size_t first_len, second_len;

	ups_log_threshold = UPS_LOG_ERROR;
	if (config_init(&a) != 0)
		abort();
	if (config_load_yaml(&a, (const char *)data, size, "fuzz", err,
			     sizeof(err)) != 0) {
		config_free(&a);
		return 0;
	}
	first = dump(&a, &first_len);
	if (config_init(&b) != 0)
		abort();
	if (config_load_yaml(&b, first, first_len, "dump", err,
			     sizeof(err)) != 0)
		abort();
	second = dump(&b, &second_len);
	if (first_len != second_len || memcmp(first, second, first_len) != 0)
		abort();
	free(first);
	free(second);
	config_free(&a);
	config_free(&b);
	return 0;
}
