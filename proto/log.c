/* Logging to stderr: one record, one write(2), so lines from concurrent
 * writers (threads in uv_queue_work, child processes) never interleave. */
#include "proto/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "proto/errors.h"

enum ups_log_level ups_log_threshold = UPS_LOG_INFO;

static const char *const level_names[] = {
    [UPS_LOG_ERROR] = "error",
    [UPS_LOG_WARN] = "warn",
    [UPS_LOG_INFO] = "info",
    [UPS_LOG_DEBUG] = "debug",
};

/* Upper-case forms for the record itself. */
static const char *const level_tags[] = {
    [UPS_LOG_ERROR] = "ERROR",
    [UPS_LOG_WARN] = "WARN",
    [UPS_LOG_INFO] = "INFO",
    [UPS_LOG_DEBUG] = "DEBUG",
};

#define LEVEL_COUNT (sizeof(level_names) / sizeof(level_names[0]))

int ups_log_level_parse(const char *name, enum ups_log_level *out)
{
	size_t i;

	if (name == NULL)
		return UPS_ERR_BAD_REQUEST;
	for (i = 0; i < LEVEL_COUNT; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum ups_log_level)i;
			return 0;
		}
	}
	return UPS_ERR_BAD_REQUEST;
}

const char *ups_log_level_name(enum ups_log_level level)
{
	if ((unsigned)level >= LEVEL_COUNT)
		return "unknown";
	return level_names[level];
}

/* A record longer than this is truncated; the newline is kept. */
#define LOG_LINE_MAX 2048

void ups_log_write(enum ups_log_level level, const char *module,
                   const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t n = 0;
	va_list ap;
	int rv;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
	}
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	rv = snprintf(line + n, sizeof(line) - n,
	              ".%03ldZ %s %s: ", (long)(ts.tv_nsec / 1000000),
	              (unsigned)level < LEVEL_COUNT ? level_tags[level]
	                                            : "?????",
	              module != NULL ? module : "-");
	if (rv > 0)
		n += (size_t)rv;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;

	va_start(ap, fmt);
	rv = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (rv > 0)
		n += (size_t)rv;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';

	/* Nothing sensible can be done if stderr is gone. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
