/* The one config table and everything it drives. */
#include "agent/config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "plugins/ups_fault.h"
#include "proto/errors.h"
#include "proto/limits.h"
#include "proto/net/addr.h"
#include "proto/net/url.h"
#include "proto/version.h"

#define CONFIG_PATH_MAX 4096

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;   /* of a char * (strings) or int64_t (ints) or bool */
	const char *def; /* text form; NULL = unset */
	int64_t min;     /* CONFIG_INT bounds, inclusive */
	int64_t max;
	const char *metavar;
	const char *help;
};

#define STR(field) offsetof(struct config, field)

/* Order here is the order of --help and --dump-config. */
static const struct config_key config_keys[] = {
    {"listen", CONFIG_ADDR, STR(listen), "127.0.0.1:17071", 0, 0, "ADDR:PORT",
     "address to serve websocket clients on (port 0 picks one; \"none\" "
     "disables listening). Without auth-file only loopback addresses are "
     "allowed"},
    {"data-dir", CONFIG_PATH, STR(data_dir), "./var", 0, 0, "DIR",
     "directory for upstaged's data; created (mode 0700) if missing"},
    {"tls-cert", CONFIG_PATH, STR(tls_cert), NULL, 0, 0, "FILE",
     "PEM certificate: serve wss:// (needs tls-key)"},
    {"tls-key", CONFIG_PATH, STR(tls_key), NULL, 0, 0, "FILE",
     "PEM private key for tls-cert"},
    {"auth-file", CONFIG_PATH, STR(auth_file), NULL, 0, 0, "FILE",
     "file of \"ROLE TOKEN\" lines; logins must match an entry"},
    {"controller", CONFIG_URL, STR(controller), NULL, 0, 0, "URL",
     "ws:// or wss:// URL of the controller relay to link to (needs "
     "controller-token-file)"},
    {"controller-token-file", CONFIG_PATH, STR(controller_token_file), NULL, 0,
     0, "FILE", "file holding the token the link logs in with as plugin"},
    {"controller-ca-cert", CONFIG_PATH, STR(controller_ca_cert), NULL, 0, 0,
     "FILE", "PEM CA bundle to verify a wss:// controller (default: system)"},
    {"controller-backoff-initial-ms", CONFIG_INT,
     STR(controller_backoff_initial_ms), "250", 10, 60000, "MS",
     "first reconnect delay ceiling of the controller link"},
    {"controller-backoff-max-ms", CONFIG_INT, STR(controller_backoff_max_ms),
     "10000", 100, 600000, "MS",
     "largest reconnect delay of the controller link"},
    {"idle-timeout", CONFIG_INT, STR(idle_timeout), "300", 0, 86400, "SECS",
     "close sessions that sent nothing for this long (0: never)"},
    {"ping-interval", CONFIG_INT, STR(ping_interval), "30", 0, 3600, "SECS",
     "ping idle websocket peers this often; hang up after 2x+10 s without "
     "an answer (0: no pings)"},
    {"max-sessions", CONFIG_INT, STR(max_sessions), "1024", 1, 100000, "N",
     "most websocket sessions at once"},
    {"max-pending-sessions", CONFIG_INT, STR(max_pending_sessions), "256", 1,
     100000, "N",
     "most sessions not logged in yet; a new one beyond this closes the "
     "oldest, so connections without a token cannot lock others out"},
    {"login-timeout", CONFIG_INT, STR(login_timeout), "10", 1, 3600, "SECS",
     "close a session that has not logged in after this long"},
    {"stuck-timeout", CONFIG_INT, STR(stuck_timeout), "30", 1, 3600, "SECS",
     "close a session that reads none of its piled-up answers (its "
     "reads paused) for this long"},
    {"agent-version", CONFIG_VERSION, STR(agent_version), NULL, 0, 0, "VERSION",
     "Juju agent version reported by Agent.Info"},
    {"log-format", CONFIG_LOG_FORMAT, STR(log_format), "text", 0, 0, "FORMAT",
     "text, or json (one object a line, for log shippers)"},
    {"log-level", CONFIG_LOG_LEVEL, STR(log_level), "info", 0, 0, "LEVEL",
     "error, warn, info or debug"},
    {"store-plugin", CONFIG_PATH, STR(store_plugin), NULL, 0, 0, "FILE",
     "store plugin (.so) holding agent binaries (default: "
     "upstage-store-fs.so from ../lib/upstage/plugins next to the "
     "executable, or the build tree's plugins/store-fs)"},
    {"max-upload-size", CONFIG_INT, STR(max_upload_size), "4294967296", 1,
     1099511627776LL, "BYTES", "largest agent binary accepted"},
    {"max-uploads", CONFIG_INT, STR(max_uploads), "8", 1, 1024, "N",
     "uploads receiving at once (more are answered busy)"},
    {"upload-window", CONFIG_INT, STR(upload_window), "16777216", 65536,
     268435456, "BYTES",
     "bytes in flight beyond the acknowledged offsets, shared equally by "
     "the uploads receiving at once (at least a chunk each)"},
    {"free-space-reserve", CONFIG_INT, STR(free_space_reserve), "67108864", 0,
     1099511627776LL, "BYTES",
     "free space uploads must leave on the store's disk"},
    {"max-uploads-per-client", CONFIG_INT, STR(max_uploads_per_client), "4", 1,
     1024, "N",
     "uploads one connection may own at once (more are answered busy)"},
    {"upload-stall-timeout", CONFIG_INT, STR(upload_stall_timeout), "120", 1,
     86400, "SECS",
     "detach an upload that received nothing for this long (its owner "
     "resumes it with UploadBegin), freeing its slot"},
    {"max-partials", CONFIG_INT, STR(max_partials), "64", 1, 100000, "N",
     "interrupted uploads kept for resuming; beyond this the oldest goes"},
    {"upload-expiry", CONFIG_INT, STR(upload_expiry), "86400", 1, 31536000,
     "SECS", "how long an interrupted upload stays resumable"},
    {"max-downloads", CONFIG_INT, STR(max_downloads), "256", 1, 10000, "N",
     "HTTP requests (downloads of binaries and metadata) served at once; "
     "more are answered 503 (each holds two read buffers, 64 KiB when "
     "many run)"},
    {"store-fault", CONFIG_STRING, STR(store_fault), NULL, 0, 0, "SPEC",
     "TESTING ONLY: inject file-system faults into the store and staging "
     "(plugins/ups_fault.h, e.g. write=ENOSPC@1048576,free=4096)"},
    {"machine-heartbeat", CONFIG_INT, STR(machine_heartbeat), "30", 1, 3600,
     "SECS",
     "how often machine agents report when nothing happens (at most "
     "idle-timeout / 3 and machine-lost-after / 3, so an idle machine is "
     "never dropped or taken for lost)"},
    {"machine-lost-after", CONFIG_INT, STR(machine_lost_after), "300", 5,
     31536000, "SECS",
     "a machine not heard from for this long is shown lost (and kept)"},
    {"advertise-http", CONFIG_STRING, STR(advertise_http), NULL, 0, 0,
     "HOST:PORT,...",
     "more addresses machines download agent binaries from "
     "(http://HOST:PORT/tools/<binary version>), after upstaged's own "
     "listen address; e.g. a relay or a load balancer"},
    {"advertise-listen", CONFIG_BOOL, STR(advertise_listen), "true", 0, 0,
     "BOOL",
     "put upstaged's own listen address first among the download "
     "addresses of orders (false when machines cannot reach it and only "
     "the advertise-http addresses, e.g. a load balancer, serve them)"},
    {"metrics-listen", CONFIG_ADDR, STR(metrics_listen), "none", 0, 0,
     "ADDR:PORT",
     "serve GET /metrics (Prometheus) on this separate, plain-HTTP "
     "address instead of the listen port (keep it private: no login)"},
    {"hook-plugin", CONFIG_PATH, STR(hook_plugin), NULL, 0, 0, "FILE",
     "hook plugin (.so) told of rollout events, whose before-* hooks can "
     "pause a rollout (e.g. upstage-hook-exec.so)"},
    {"hook-exec.dir", CONFIG_PATH, STR(hook_exec_dir), NULL, 0, 0, "DIR",
     "hook-exec: directory of executables named after events "
     "(before-stage, after-rollout, ...) or \"any\""},
    {"hook-exec.timeout", CONFIG_STRING, STR(hook_exec_timeout), "60", 0, 0,
     "SECS", "hook-exec: kill a hook that runs longer than this"},
    {"health-plugin", CONFIG_PATH, STR(health_plugin), NULL, 0, 0, "FILE",
     "health plugin (.so) that must agree before a machine counts as "
     "healthy (e.g. upstage-health-http.so)"},
    {"health-http.url", CONFIG_STRING, STR(health_http_url), NULL, 0, 0,
     "URL",
     "health-http: URL to GET, {address} and {machine} filled in, e.g. "
     "http://{address}:17070/healthz; healthy when it answers 200"},
    {"health-http.timeout", CONFIG_STRING, STR(health_http_timeout), "5", 0,
     0, "SECS", "health-http: how long a check may take"},
};

#define CONFIG_KEY_COUNT (sizeof(config_keys) / sizeof(config_keys[0]))

size_t config_key_count(void)
{
	return CONFIG_KEY_COUNT;
}

const char *config_key_name(size_t i)
{
	return i < CONFIG_KEY_COUNT ? config_keys[i].name : NULL;
}

static const struct config_key *config_find(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_KEY_COUNT; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static char **config_str(struct config *cfg, const struct config_key *k)
{
	return (char **)((char *)cfg + k->offset);
}

static char *const *config_cstr(const struct config *cfg,
                                const struct config_key *k)
{
	return (char *const *)((const char *)cfg + k->offset);
}

static int64_t *config_int(struct config *cfg, const struct config_key *k)
{
	return (int64_t *)((char *)cfg + k->offset);
}

static bool *config_bool(struct config *cfg, const struct config_key *k)
{
	return (bool *)((char *)cfg + k->offset);
}

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return UPS_ERR_BAD_REQUEST;
}

static int config_parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (*s == '\0' || strlen(s) > 20)
		return UPS_ERR_BAD_REQUEST;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return UPS_ERR_BAD_REQUEST;
	*out = v;
	return 0;
}

/* Checks value against k's type; 0 or UPS_ERR_BAD_REQUEST with a detail
 * that does not yet name the key (the caller prefixes it). */
static int config_validate(const struct config_key *k, const char *value,
                           int64_t *ival, bool *bval, char *err, size_t errlen)
{
	char host[UPS_ADDR_HOST_LEN + 1];
	int port;
	struct ups_version v;
	struct ups_url url;
	enum ups_log_level level;
	enum ups_log_format format;

	switch (k->type) {
	case CONFIG_STRING:
		return 0;
	case CONFIG_INT:
		if (config_parse_int(value, ival) || *ival < k->min ||
		    *ival > k->max)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "must be an integer in %" PRId64
			                "..%" PRId64 ", got \"%s\"",
			                k->min, k->max, value);
		return 0;
	case CONFIG_BOOL:
		if (config_parse_bool(value, bval))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "must be true or false, got \"%s\"",
			                value);
		return 0;
	case CONFIG_PATH:
		if (strlen(value) >= CONFIG_PATH_MAX)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "path longer than %d bytes",
			                CONFIG_PATH_MAX - 1);
		return 0;
	case CONFIG_ADDR:
		if (strcmp(value, "none") == 0)
			return 0;
		return ups_addr_parse(value, host, sizeof(host), &port, err,
		                      errlen);
	case CONFIG_URL:
		return ups_url_parse(value, &url, err, errlen);
	case CONFIG_VERSION:
		return ups_version_parse(value, &v, err, errlen);
	case CONFIG_LOG_LEVEL:
		if (ups_log_level_parse(value, &level))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "must be error, warn, info or debug, "
			                "got \"%s\"",
			                value);
		return 0;
	case CONFIG_LOG_FORMAT:
		if (ups_log_format_parse(value, &format))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "must be text or json, got \"%s\"",
			                value);
		return 0;
	}
	return ups_errf(UPS_ERR_INTERNAL, err, errlen, "bad key type");
}

static bool config_is_string_type(enum config_type t)
{
	return t != CONFIG_INT && t != CONFIG_BOOL;
}

const char *config_plugin_get(void *host, const char *key)
{
	const struct config *cfg = host;
	const struct config_key *k = config_find(key);

	if (!k || !config_is_string_type(k->type))
		return NULL;
	return *(char *const *)((const char *)cfg + k->offset);
}

static int config_apply(struct config *cfg, const struct config_key *k,
                        const char *value, char *err, size_t errlen)
{
	char detail[UPS_ERRMSG_MAX];
	int64_t ival = 0;
	bool bval = false;
	char *copy;
	int rv;

	if (value == NULL || *value == '\0') {
		/* Empty unsets optional keys; keys with a default need a
		 * value, so that "" never silently means something. */
		if (k->def != NULL || !config_is_string_type(k->type))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "%s: needs a value", k->name);
		free(*config_str(cfg, k));
		*config_str(cfg, k) = NULL;
		return 0;
	}
	if (strlen(value) >= CONFIG_PATH_MAX)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: value longer than %d bytes", k->name,
		                CONFIG_PATH_MAX - 1);
	detail[0] = '\0';
	rv = config_validate(k, value, &ival, &bval, detail, sizeof(detail));
	if (rv)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen, "%s: %s",
		                k->name, detail);
	switch (k->type) {
	case CONFIG_INT:
		*config_int(cfg, k) = ival;
		return 0;
	case CONFIG_BOOL:
		*config_bool(cfg, k) = bval;
		return 0;
	default:
		copy = strdup(value);
		if (!copy)
			return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
			                "%s: out of memory", k->name);
		free(*config_str(cfg, k));
		*config_str(cfg, k) = copy;
		return 0;
	}
}

int config_set(struct config *cfg, const char *key, const char *value,
               char *err, size_t errlen)
{
	const struct config_key *k = config_find(key);

	if (!k)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "unknown key \"%s\"", key);
	return config_apply(cfg, k, value, err, errlen);
}

int config_init(struct config *cfg)
{
	char err[UPS_ERRMSG_MAX];
	size_t i;
	int rv;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CONFIG_KEY_COUNT; i++) {
		if (!config_keys[i].def)
			continue;
		rv = config_apply(cfg, &config_keys[i], config_keys[i].def, err,
		                  sizeof(err));
		if (rv) {
			config_free(cfg);
			return rv;
		}
	}
	return 0;
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < CONFIG_KEY_COUNT; i++) {
		if (!config_is_string_type(config_keys[i].type))
			continue;
		free(*config_str(cfg, &config_keys[i]));
		*config_str(cfg, &config_keys[i]) = NULL;
	}
}

/* YAML: a stream of at most one document holding one flat mapping. */
int config_load_yaml(struct config *cfg, const char *buf, size_t len,
                     const char *name, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	/* Keys already seen: a repeated key is almost always a mistake. */
	bool seen[CONFIG_KEY_COUNT];
	const struct config_key *key = NULL;
	size_t key_line = 0;
	int depth = 0; /* 1 inside the top mapping */
	bool done = false;
	int rv = 0;

	memset(seen, 0, sizeof(seen));
	if (!yaml_parser_initialize(&parser))
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "%s: cannot initialise YAML parser", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		size_t line;

		if (!yaml_parser_parse(&parser, &ev)) {
			rv = ups_errf(
			    UPS_ERR_BAD_REQUEST, err, errlen, "%s:%zu: %s",
			    name, parser.problem_mark.line + 1,
			    parser.problem ? parser.problem : "invalid YAML");
			goto out_parser;
		}
		line = ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_MAPPING_START_EVENT:
			if (depth != 0 || key != NULL) {
				rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				              "%s:%zu: %s%s%svalues must be "
				              "scalars",
				              name, line, key ? "key " : "",
				              key ? key->name : "",
				              key ? ": " : "");
				goto out_event;
			}
			depth = 1;
			break;
		case YAML_MAPPING_END_EVENT:
			depth = 0;
			break;
		case YAML_SCALAR_EVENT: {
			const char *text = (const char *)ev.data.scalar.value;
			bool plain =
			    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

			/* "---" alone is a document holding YAML's null:
			 * an empty configuration. */
			if (depth == 0 && plain &&
			    (text[0] == '\0' || strcmp(text, "~") == 0 ||
			     strcmp(text, "null") == 0))
				break;
			if (depth != 1) {
				rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				              "%s:%zu: expected a mapping of "
				              "keys to values",
				              name, line);
				goto out_event;
			}
			if (strlen(text) != ev.data.scalar.length) {
				rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				              "%s:%zu: NUL byte in scalar",
				              name, line);
				goto out_event;
			}
			if (key == NULL) {
				key = config_find(text);
				if (!key) {
					rv = ups_errf(UPS_ERR_BAD_REQUEST, err,
					              errlen,
					              "%s:%zu: unknown key "
					              "\"%.64s\"",
					              name, line, text);
					goto out_event;
				}
				if (seen[key - config_keys]) {
					rv = ups_errf(UPS_ERR_BAD_REQUEST, err,
					              errlen,
					              "%s:%zu: key %s given "
					              "twice",
					              name, line, key->name);
					goto out_event;
				}
				seen[key - config_keys] = true;
				key_line = line;
				break;
			}
			/* A plain "~" or "null" is YAML's null: unset. */
			if (plain && (strcmp(text, "~") == 0 ||
			              strcmp(text, "null") == 0))
				text = "";
			{
				char detail[UPS_ERRMSG_MAX];

				rv = config_apply(cfg, key, text, detail,
				                  sizeof(detail));
				if (rv) {
					rv = ups_errf(rv, err, errlen,
					              "%s:%zu: %s", name,
					              key_line, detail);
					goto out_event;
				}
			}
			key = NULL;
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
		case YAML_ALIAS_EVENT:
		default:
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "%s:%zu: %s%s%sonly scalar values are "
			              "allowed",
			              name, line, key ? "key " : "",
			              key ? key->name : "", key ? ": " : "");
			goto out_event;
		}
		yaml_event_delete(&ev);
	}
	goto out_parser;

out_event:
	yaml_event_delete(&ev);
out_parser:
	yaml_parser_delete(&parser);
	return rv;
}

int config_load_file(struct config *cfg, const char *path, char *err,
                     size_t errlen)
{
	FILE *f;
	char *buf;
	size_t n;
	int rv;

	buf = malloc(UPS_LIMIT_CONFIG_FILE_BYTES + 1);
	if (!buf)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	f = fopen(path, "rb");
	if (!f) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "config: cannot open %s: %s", path,
		              strerror(errno));
		goto out_buf;
	}
	n = fread(buf, 1, UPS_LIMIT_CONFIG_FILE_BYTES + 1, f);
	if (ferror(f)) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "config: cannot read %s", path);
		goto out_file;
	}
	if (n > UPS_LIMIT_CONFIG_FILE_BYTES) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "config: %s is larger than %d bytes", path,
		              UPS_LIMIT_CONFIG_FILE_BYTES);
		goto out_file;
	}
	rv = config_load_yaml(cfg, buf, n, path, err, errlen);
out_file:
	fclose(f);
out_buf:
	free(buf);
	return rv;
}

/* argv entries that set keys, kept until the file has been applied. */
struct config_flag {
	const struct config_key *key;
	const char *value;
};

int config_parse_args(struct config *cfg, int argc, char **argv,
                      enum config_action *action, char *err, size_t errlen)
{
	struct config_flag *flags;
	size_t nflags = 0;
	const char *config_path = NULL;
	int i;
	int rv = 0;

	*action = CONFIG_RUN;
	flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*flags));
	if (!flags)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "out of memory");
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *eq;
		const char *value = NULL;
		char name[64];
		size_t nlen;

		if (strncmp(arg, "--", 2) != 0) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "unexpected argument \"%s\" (options "
			              "are --KEY VALUE)",
			              arg);
			goto out;
		}
		arg += 2;
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		if (nlen >= sizeof(name)) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "unknown option --%.64s", arg);
			goto out;
		}
		memcpy(name, arg, nlen);
		name[nlen] = '\0';
		if (strcmp(name, "help") == 0 || strcmp(name, "version") == 0) {
			/* Asking for help wins over anything else given. */
			*action =
			    name[0] == 'h' ? CONFIG_HELP : CONFIG_VERSION_INFO;
			rv = 0;
			goto out;
		}
		if (strcmp(name, "dump-config") == 0) {
			if (eq) {
				rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				              "--dump-config takes no value");
				goto out;
			}
			*action = CONFIG_DUMP;
			continue;
		}
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		}
		if (strcmp(name, "config") == 0) {
			if (!value || !*value) {
				rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
				              "--config needs a FILE");
				goto out;
			}
			config_path = value;
			continue;
		}
		flags[nflags].key = config_find(name);
		if (!flags[nflags].key) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "unknown option --%s", name);
			goto out;
		}
		if (!value) {
			rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			              "--%s needs a value", name);
			goto out;
		}
		flags[nflags].value = value;
		nflags++;
	}
	if (config_path) {
		rv = config_load_file(cfg, config_path, err, errlen);
		if (rv)
			goto out;
	}
	for (size_t f = 0; f < nflags; f++) {
		rv = config_apply(cfg, flags[f].key, flags[f].value, err,
		                  errlen);
		if (rv)
			goto out;
	}
	rv = config_check(cfg, err, errlen);
out:
	free(flags);
	return rv;
}

/* "HOST:PORT[,HOST:PORT...]": a host name or IPv4 address of
 * [A-Za-z0-9.-], or [IPv6]; a port 1..65535; at most
 * CONFIG_ADVERTISE_MAX entries. */
#define CONFIG_ADVERTISE_MAX 7
int config_check_hostports(const char *list, char *err, size_t errlen)
{
	const char *p = list;
	size_t n = 0;

	for (;;) {
		const char *end = strchr(p, ','), *colon, *h, *he;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		long port = 0;

		if (++n > CONFIG_ADVERTISE_MAX)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "at most %d addresses",
			                CONFIG_ADVERTISE_MAX);
		colon = NULL;
		for (const char *q = p; q < p + len; q++)
			if (*q == ':')
				colon = q;
		if (!colon || colon == p || colon == p + len - 1 ||
		    len > 200)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "\"%.*s\" is not HOST:PORT",
			                (int)(len > 64 ? 64 : len), p);
		for (const char *q = colon + 1; q < p + len; q++) {
			if (*q < '0' || *q > '9' || port > 65535)
				return ups_errf(UPS_ERR_BAD_REQUEST, err,
				                errlen, "bad port in \"%.*s\"",
				                (int)len, p);
			port = port * 10 + (*q - '0');
		}
		if (port < 1 || port > 65535)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "bad port in \"%.*s\"", (int)len, p);
		h = p;
		he = colon;
		if (*h == '[') {
			if (he[-1] != ']' || he - h < 3)
				return ups_errf(UPS_ERR_BAD_REQUEST, err,
				                errlen,
				                "bad IPv6 address in \"%.*s\"",
				                (int)len, p);
			for (h++, he--; h < he; h++)
				if (!strchr("0123456789abcdefABCDEF:.", *h))
					return ups_errf(
					    UPS_ERR_BAD_REQUEST, err, errlen,
					    "bad IPv6 address in \"%.*s\"",
					    (int)len, p);
		} else {
			for (; h < he; h++)
				if (!((*h >= 'a' && *h <= 'z') ||
				      (*h >= 'A' && *h <= 'Z') ||
				      (*h >= '0' && *h <= '9') || *h == '.' ||
				      *h == '-'))
					return ups_errf(
					    UPS_ERR_BAD_REQUEST, err, errlen,
					    "bad host in \"%.*s\"", (int)len,
					    p);
		}
		if (!end)
			return 0;
		p = end + 1;
	}
}

int config_check(struct config *cfg, char *err, size_t errlen)
{
	char detail[UPS_ERRMSG_MAX];
	int rv;

	if (!cfg->data_dir || !cfg->listen || !cfg->log_level)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "listen, data-dir and log-level need values");
	if (ups_log_level_parse(cfg->log_level, &cfg->log_level_value))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "log-level: bad value \"%s\"", cfg->log_level);
	if (ups_log_format_parse(cfg->log_format ? cfg->log_format : "text",
	                         &cfg->log_format_value))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "log-format: bad value \"%s\"",
		                cfg->log_format);
	cfg->listen_enabled = strcmp(cfg->listen, "none") != 0;
	cfg->listen_host[0] = '\0';
	cfg->listen_port = -1;
	cfg->listen_loopback = false;
	if (cfg->listen_enabled) {
		rv = ups_addr_parse(cfg->listen, cfg->listen_host,
		                    sizeof(cfg->listen_host), &cfg->listen_port,
		                    detail, sizeof(detail));
		if (rv)
			return ups_errf(rv, err, errlen, "listen: %s", detail);
		cfg->listen_loopback = ups_addr_is_loopback(cfg->listen_host);
	}
	cfg->metrics_enabled =
	    cfg->metrics_listen && strcmp(cfg->metrics_listen, "none") != 0;
	cfg->metrics_host[0] = '\0';
	cfg->metrics_port = -1;
	if (cfg->metrics_enabled) {
		rv = ups_addr_parse(cfg->metrics_listen, cfg->metrics_host,
		                    sizeof(cfg->metrics_host),
		                    &cfg->metrics_port, detail, sizeof(detail));
		if (rv)
			return ups_errf(rv, err, errlen, "metrics-listen: %s",
			                detail);
	}
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: needs %s as well",
		                cfg->tls_cert ? "tls-cert" : "tls-key",
		                cfg->tls_cert ? "tls-key" : "tls-cert");
	if (cfg->tls_cert && !cfg->listen_enabled)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "tls-cert: needs listen (it is \"none\")");
	if (cfg->controller && !cfg->controller_token_file)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "controller: needs controller-token-file");
	if (!cfg->controller && cfg->controller_token_file)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "controller-token-file: needs controller");
	if (!cfg->controller && cfg->controller_ca_cert)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "controller-ca-cert: needs controller");
	if (cfg->controller_backoff_initial_ms > cfg->controller_backoff_max_ms)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "controller-backoff-initial-ms: %" PRId64
		                " exceeds controller-backoff-max-ms %" PRId64,
		                cfg->controller_backoff_initial_ms,
		                cfg->controller_backoff_max_ms);
	if (cfg->store_fault) {
		struct ups_fault f;

		if (ups_fault_parse(&f, cfg->store_fault, detail,
		                    sizeof(detail)) < 0)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "store-fault: %s", detail);
	}
	if (!cfg->listen_enabled && !cfg->controller)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "listen: \"none\" needs controller, or "
		                "upstaged would serve nobody");
	if (cfg->advertise_http &&
	    config_check_hostports(cfg->advertise_http, detail,
	                           sizeof(detail)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "advertise-http: %s", detail);
	/* Without tokens to check, anyone who can connect is in: only
	 * tolerable when that means processes on this machine. */
	if (cfg->listen_enabled && !cfg->auth_file && !cfg->listen_loopback)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "listen: %s is not a loopback address; "
		                "refusing to accept unauthenticated clients "
		                "there (give auth-file, or listen on "
		                "127.0.0.1 / [::1])",
		                cfg->listen_host);
	return 0;
}

void config_print_help(FILE *out, const char *prog)
{
	size_t i;

	fprintf(out,
	        "Usage: %s [--config FILE] [--KEY VALUE | --KEY=VALUE]...\n"
	        "\n"
	        "upstaged serves upstage clients over websockets and, with "
	        "--controller,\nover a link to the controller's relay.\n"
	        "\n"
	        "Options:\n"
	        "  --config FILE\n"
	        "      YAML file: a mapping with the keys below (flags "
	        "override it)\n"
	        "  --dump-config\n"
	        "      print the effective configuration as YAML and exit\n"
	        "  --help\n"
	        "      print this help and exit\n"
	        "  --version\n"
	        "      print the version and exit\n"
	        "\n"
	        "Keys (flags and config file):\n",
	        prog);
	for (i = 0; i < CONFIG_KEY_COUNT; i++) {
		const struct config_key *k = &config_keys[i];

		fprintf(out, "  --%s %s\n      %s", k->name, k->metavar,
		        k->help);
		if (k->type == CONFIG_INT)
			fprintf(out, " [%" PRId64 "..%" PRId64 "]", k->min,
			        k->max);
		if (k->def)
			fprintf(out, " (default: %s)", k->def);
		fputc('\n', out);
	}
	fprintf(out, "\nExit status: 0 stopped by SIGINT/SIGTERM; 1 failed "
	             "at run time; 2 usage or configuration error.\n");
}

/* The code point of a UTF-8 sequence YAML will not read back raw inside a
 * double-quoted scalar (it folds NEL, LS and PS as line breaks and refuses
 * C1 controls, BOM and U+FFFE/U+FFFF), or 0. *len gets its byte count. */
static unsigned config_yaml_unsafe(const unsigned char *p, size_t *len)
{
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
		*len = 2;
		return p[1];
	}
	if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
		*len = 3;
		return 0x2000u | 0x28u | (p[2] & 1u);
	}
	if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
		*len = 3;
		return 0xfeff;
	}
	if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf)) {
		*len = 3;
		return 0xfffeu | (p[2] & 1u);
	}
	return 0;
}

/* A double-quoted YAML scalar that config_load_yaml() reads back to the
 * same bytes whatever the text holds. */
static void config_dump_quoted(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', out);
	while (*p) {
		unsigned char c = *p;
		unsigned cp;
		size_t len;

		if (c == '"' || c == '\\') {
			fprintf(out, "\\%c", c);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\x%02x", c);
		} else if ((cp = config_yaml_unsafe(p, &len)) != 0) {
			/* YAML escapes name code points, not bytes. */
			if (cp < 0x100)
				fprintf(out, "\\x%02x", cp);
			else
				fprintf(out, "\\u%04x", cp);
			p += len;
			continue;
		} else {
			fputc(c, out);
		}
		p++;
	}
	fputc('"', out);
}

/* The text form of key k's value in cfg: what config_set() would take. */
static void config_text(const struct config *cfg, const struct config_key *k,
                        char *buf, size_t len)
{
	const char *str;

	switch (k->type) {
	case CONFIG_INT:
		snprintf(buf, len, "%" PRId64,
		         *(const int64_t *)((const char *)cfg + k->offset));
		break;
	case CONFIG_BOOL:
		snprintf(buf, len, "%s",
		         *(const bool *)((const char *)cfg + k->offset)
		             ? "true"
		             : "false");
		break;
	default:
		str = *config_cstr(cfg, k);
		snprintf(buf, len, "%s", str ? str : "");
		break;
	}
}

size_t config_changed(const struct config *a, const struct config *b,
                      const char **keys, size_t max)
{
	char x[CONFIG_PATH_MAX + 1], y[CONFIG_PATH_MAX + 1];
	size_t n = 0;

	for (size_t i = 0; i < CONFIG_KEY_COUNT && n < max; i++) {
		config_text(a, &config_keys[i], x, sizeof(x));
		config_text(b, &config_keys[i], y, sizeof(y));
		if (strcmp(x, y) != 0)
			keys[n++] = config_keys[i].name;
	}
	return n;
}

int config_dump(const struct config *cfg, FILE *out)
{
	size_t i;

	for (i = 0; i < CONFIG_KEY_COUNT; i++) {
		const struct config_key *k = &config_keys[i];
		const char *s;

		fprintf(out, "%s: ", k->name);
		switch (k->type) {
		case CONFIG_INT:
			fprintf(
			    out, "%" PRId64,
			    *(const int64_t *)((const char *)cfg + k->offset));
			break;
		case CONFIG_BOOL:
			fputs(*(const bool *)((const char *)cfg + k->offset)
			          ? "true"
			          : "false",
			      out);
			break;
		default:
			s = *config_cstr(cfg, k);
			if (s)
				config_dump_quoted(out, s);
			else
				fputs("~", out);
			break;
		}
		fputc('\n', out);
	}
	return ferror(out) ? UPS_ERR_IO : 0;
}
