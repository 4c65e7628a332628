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
enum ups_log_format ups_log_format = UPS_LOG_TEXT;

int ups_log_format_parse(const char *name, enum ups_log_format *out)
{
	if (name && strcasecmp(name, "text") == 0)
		*out = UPS_LOG_TEXT;
	else if (name && strcasecmp(name, "json") == 0)
		*out = UPS_LOG_JSON;
	else
		return UPS_ERR_BAD_REQUEST;
	return 0;
}

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

/* Appends src to buf[*n..len - 2] as the inside of a JSON string:
 * quotes, backslashes and control characters escaped; what does not fit
 * is cut (never in the middle of an escape). */
static void log_json_append(char *buf, size_t *n, size_t len, const char *src)
{
	static const char hex[] = "0123456789abcdef";

	for (; *src; src++) {
		unsigned char c = (unsigned char)*src;
		char esc[7];
		size_t k = 0;

		if (c == '"' || c == '\\') {
			esc[k++] = '\\';
			esc[k++] = (char)c;
		} else if (c < 0x20) {
			esc[k++] = '\\';
			esc[k++] = 'u';
			esc[k++] = '0';
			esc[k++] = '0';
			esc[k++] = hex[c >> 4];
			esc[k++] = hex[c & 15];
		} else {
			esc[k++] = (char)c;
		}
		if (*n + k > len - 2)
			return;
		memcpy(buf + *n, esc, k);
		*n += k;
	}
}

void ups_log_write(enum ups_log_level level, const char *module,
                   const char *fmt, ...)
{
	char line[LOG_LINE_MAX], msg[LOG_LINE_MAX], when[40];
	const char *tag;
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
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ",
	         (long)(ts.tv_nsec / 1000000));
	va_start(ap, fmt);
	rv = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rv < 0)
		msg[0] = '\0';
	module = module != NULL ? module : "-";

	if (ups_log_format == UPS_LOG_JSON) {
		n = (size_t)snprintf(line, sizeof(line),
		                     "{\"ts\":\"%s\",\"level\":\"%s\","
		                     "\"module\":\"",
		                     when, ups_log_level_name(level));
		/* Room kept for what follows: the msg key and the end. */
		log_json_append(line, &n, sizeof(line) - 16, module);
		memcpy(line + n, "\",\"msg\":\"", 9);
		n += 9;
		log_json_append(line, &n, sizeof(line) - 3, msg);
		memcpy(line + n, "\"}", 2);
		n += 2;
	} else {
		tag =
		    (unsigned)level < LEVEL_COUNT ? level_tags[level] : "?????";
		rv = snprintf(line, sizeof(line) - 1, "%s %s %s: %s", when, tag,
		              module, msg);
		n = rv < 0 ? 0 : (size_t)rv;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';

	/* Nothing sensible can be done if stderr is gone. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
