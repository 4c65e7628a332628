/* upstaged's configuration: one table of keys drives the command line
 * (--KEY VALUE, --KEY=VALUE), the YAML config file (--config FILE, a flat
 * mapping with the same keys), --help and --dump-config.
 *
 * Precedence: defaults, then the config file, then flags. Every value is
 * checked by its key's type and bounds when it is set; config_check() then
 * checks the keys against each other and derives the parsed forms. Errors
 * name the key (and the line, for the file). */
#ifndef UPSTAGE_AGENT_CONFIG_H
#define UPSTAGE_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/log.h"
#include "proto/net/addr.h"

enum config_type {
	CONFIG_STRING,
	CONFIG_INT,
	CONFIG_BOOL,
	CONFIG_PATH,      /* non-empty file system path */
	CONFIG_ADDR,      /* numeric ADDR:PORT, [IPv6]:PORT, or "none" */
	CONFIG_URL,       /* ws:// or wss:// URL */
	CONFIG_VERSION,   /* a Juju version */
	CONFIG_LOG_LEVEL, /* error | warn | info | debug */
	CONFIG_LOG_FORMAT, /* text | json */
};

struct config {
	/* String values are owned (free with config_free()); NULL = unset. */
	char *listen;
	char *data_dir;
	char *tls_cert;
	char *tls_key;
	char *auth_file;
	char *controller;
	char *controller_token_file;
	char *controller_ca_cert;
	int64_t controller_backoff_initial_ms;
	int64_t controller_backoff_max_ms;
	int64_t idle_timeout;
	int64_t ping_interval;
	int64_t max_sessions;
	int64_t max_pending_sessions;
	int64_t login_timeout;
	int64_t stuck_timeout;
	char *agent_version;
	char *log_level;
	char *log_format;
	char *store_plugin; /* NULL: found next to the executable */
	int64_t max_upload_size;
	int64_t max_uploads;
	int64_t upload_window;
	int64_t free_space_reserve;
	int64_t upload_expiry;
	int64_t max_uploads_per_client;
	int64_t upload_stall_timeout;
	int64_t max_partials;
	int64_t max_downloads;
	char *store_fault;
	int64_t machine_heartbeat;
	int64_t machine_lost_after;
	char *advertise_http; /* "HOST:PORT[,HOST:PORT...]" or NULL */
	bool advertise_listen; /* own listen address first in orders' URLs */
	/* Hook and health plugins (plugins/upstage_plugin.h) and the
	 * settings of the ones upstage ships (read by the plugins through
	 * config_plugin_get()). */
	char *metrics_listen; /* "none": /metrics on the listen port */
	char *hook_plugin;
	char *health_plugin;
	char *hook_exec_dir;
	char *hook_exec_timeout;
	char *health_http_url;
	char *health_http_timeout;

	/* Derived by config_check(). */
	bool listen_enabled;
	char listen_host[UPS_ADDR_HOST_LEN + 1]; /* numeric, no brackets */
	int listen_port;
	bool listen_loopback;
	enum ups_log_level log_level_value;
	enum ups_log_format log_format_value;
	bool metrics_enabled; /* metrics-listen set: /metrics only there */
	char metrics_host[UPS_ADDR_HOST_LEN + 1];
	int metrics_port;
};

/* What the command line asks for. */
enum config_action {
	CONFIG_RUN,
	CONFIG_HELP,
	CONFIG_DUMP,
	CONFIG_VERSION_INFO,
};

/* Sets every key to its default. Release with config_free(). */
int config_init(struct config *cfg);
void config_free(struct config *cfg);

/* Sets key (without "--") from its text form. An empty value unsets an
 * optional key. 0, or UPS_ERR_BAD_REQUEST with err naming the key. */
int config_set(struct config *cfg, const char *key, const char *value,
               char *err, size_t errlen);

/* Applies a YAML document of len bytes (a flat mapping of keys to
 * scalars). name is used in messages (usually the file path). Errors name
 * the key and the line. */
int config_load_yaml(struct config *cfg, const char *buf, size_t len,
                     const char *name, char *err, size_t errlen);

/* Reads path (at most UPS_LIMIT_CONFIG_FILE_BYTES) and applies it.
 * Blocking: call before the loop runs. */
int config_load_file(struct config *cfg, const char *path, char *err,
                     size_t errlen);

/* Parses argv[1..argc-1] (borrowed): --config FILE, --help, --dump-config,
 * --version and --KEY VALUE / --KEY=VALUE for every key. Loads the config
 * file first, then applies the flags, then runs config_check() (except for
 * --help and --version). 0 with *action set, or UPS_ERR_BAD_REQUEST. */
int config_parse_args(struct config *cfg, int argc, char **argv,
                      enum config_action *action, char *err, size_t errlen);

/* Cross-key rules (both TLS files or neither, a controller needs a token
 * file, ...) and the derived fields. 0 or UPS_ERR_BAD_REQUEST. */
int config_check(struct config *cfg, char *err, size_t errlen);

/* Checks an advertise-http value: "HOST:PORT[,HOST:PORT...]". 0 or
 * UPS_ERR_BAD_REQUEST with err saying which entry is wrong. */
int config_check_hostports(const char *list, char *err, size_t errlen);

/* --help text, generated from the table. */
void config_print_help(FILE *out, const char *prog);

/* The effective configuration as YAML that config_load_yaml() reads back
 * to the same values. 0, or UPS_ERR_IO if out fails. */
int config_dump(const struct config *cfg, FILE *out);

/* The keys whose values differ between a and b (borrowed), in table
 * order: their names (static strings) in keys[0..returned), at most max. */
size_t config_changed(const struct config *a, const struct config *b,
                      const char **keys, size_t max);

/* A plugin's setting: the value of string key (e.g. "hook-exec.dir") of
 * cfg (a const struct config *, as void * for the plugin services), or
 * NULL when unset or not a string key. Borrowed from cfg. */
const char *config_plugin_get(void *cfg, const char *key);

/* Number of keys in the table and their names (tests, help). */
size_t config_key_count(void);
const char *config_key_name(size_t i);

/* "true/yes/on/1" and "false/no/off/0"; 0 or UPS_ERR_BAD_REQUEST. */
int config_parse_bool(const char *s, bool *out);

#endif
