/* Logging: one macro that checks the level before formatting and tags the
 * module. Output goes to stderr, one line per record. */
#ifndef UPSTAGE_PROTO_LOG_H
#define UPSTAGE_PROTO_LOG_H

enum ups_log_level {
	UPS_LOG_ERROR = 0,
	UPS_LOG_WARN = 1,
	UPS_LOG_INFO = 2,
	UPS_LOG_DEBUG = 3,
};

extern enum ups_log_level ups_log_threshold;

/* Record format: text (default) or one JSON object a line, for log
 * shippers: {"ts": "...", "level": "info", "module": "upload",
 * "msg": "..."}. */
enum ups_log_format {
	UPS_LOG_TEXT = 0,
	UPS_LOG_JSON = 1,
};

extern enum ups_log_format ups_log_format;

/* Parses "text" or "json"; 0 or UPS_ERR_BAD_REQUEST. */
int ups_log_format_parse(const char *name, enum ups_log_format *out);

/* Parses "error", "warn", "info", "debug"; returns 0 or UPS_ERR_BAD_REQUEST. */
int ups_log_level_parse(const char *name, enum ups_log_level *out);
const char *ups_log_level_name(enum ups_log_level level);

void ups_log_write(enum ups_log_level level, const char *module,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define UPS_LOG(level, module, ...)                                            \
	do {                                                                   \
		if ((level) <= ups_log_threshold)                              \
			ups_log_write((level), (module), __VA_ARGS__);         \
	} while (0)

#define LOG_ERROR(module, ...) UPS_LOG(UPS_LOG_ERROR, module, __VA_ARGS__)
#define LOG_WARN(module, ...) UPS_LOG(UPS_LOG_WARN, module, __VA_ARGS__)
#define LOG_INFO(module, ...) UPS_LOG(UPS_LOG_INFO, module, __VA_ARGS__)
#define LOG_DEBUG(module, ...) UPS_LOG(UPS_LOG_DEBUG, module, __VA_ARGS__)

#endif
