/* The plugin host: loads one plugin .so, checks its descriptor against the
 * ABI this upstaged was built with, and hands out its ops table.
 *
 * Nothing in the plugin is called before every check has passed (dlopen
 * itself runs the object's ELF constructors, which no loader can avoid;
 * plugins must not have any). Loading blocks (file I/O): do it at start-up,
 * before the loop runs. */
#ifndef UPSTAGE_AGENT_STORE_PLUGIN_H
#define UPSTAGE_AGENT_STORE_PLUGIN_H

#include <stddef.h>

#include "plugins/upstage_plugin.h"

/* Longest plugin name accepted from a descriptor. */
#define PLUGIN_NAME_MAX 64

struct plugin {
	void *handle; /* from dlopen; NULL when not loaded */
	const struct ups_plugin_descriptor *desc; /* inside the .so */
	const void *ops;                          /* desc->ops, checked */
	char path[4096];                          /* for messages */
};

/* Opens path with dlopen(RTLD_NOW | RTLD_LOCAL), finds
 * upstage_plugin_descriptor and checks it: ABI major equal to this host's,
 * minor not above it, struct sizes large enough for what the host reads
 * of that minor, the kind, a name of 1..PLUGIN_NAME_MAX printable
 * characters, and every op of the kind (of its minor, for a store)
 * present. Every message starts with the path, e.g.
 * "plugins/store-bad.so: plugin ABI 2.0, upstaged supports 1.0".
 * Returns 0 with *out filled (release with plugin_unload()), or
 * UPS_ERR_NOT_FOUND (no such file), UPS_ERR_IO (dlopen failed) or
 * UPS_ERR_BAD_REQUEST (not a compatible plugin); *out is then unloaded.
 * path is borrowed. */
int plugin_load(const char *path, enum ups_plugin_kind kind, struct plugin *out,
                char *err, size_t errlen);

/* dlcloses the plugin. Call only after every state the plugin created has
 * been closed through its ops. Safe on an unloaded struct. */
void plugin_unload(struct plugin *p);

/* The store ops of a plugin loaded with UPS_PLUGIN_KIND_STORE; borrowed,
 * valid until plugin_unload(). */
const struct ups_store_ops *plugin_store_ops(const struct plugin *p);

/* The ops of a hook or health plugin (ABI 1.2), loaded with that kind;
 * NULL for another kind. Borrowed, valid until plugin_unload(). */
const struct ups_hook_ops *plugin_hook_ops(const struct plugin *p);
const struct ups_health_ops *plugin_health_ops(const struct plugin *p);

/* The ABI minor of a loaded plugin's descriptor: which optional members
 * of its ops it has (plugins/upstage_plugin.h "History"). */
unsigned plugin_store_minor(const struct plugin *p);

/* Fills svc with this host's ABI version and its log function (which writes
 * through proto/log.h, tagged with the plugin's name). config_get and host
 * are the caller's: config_get(host, key) returns a borrowed value or
 * NULL; config_get may be NULL (no plugin configuration). */
void plugin_services_init(struct ups_plugin_services *svc, void *host,
                          const char *(*config_get)(void *host,
                                                    const char *key));

/* Human name of a kind: "store", "hook", "health" or "unknown". */
const char *plugin_kind_name(unsigned kind);

#endif
