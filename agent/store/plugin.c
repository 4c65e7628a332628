/* The plugin host. See plugin.h. */
#include "agent/store/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/errors.h"
#include "proto/log.h"

/* What this host reads of each struct: a plugin's struct may be larger
 * (a newer minor), never smaller than its minor's. */
#define PLUGIN_DESC_MIN         offsetof(struct ups_plugin_descriptor, reserved)
#define PLUGIN_STORE_OPS_MIN_10 offsetof(struct ups_store_ops, put2)
#define PLUGIN_STORE_OPS_MIN_11 sizeof(struct ups_store_ops)

const char *plugin_kind_name(unsigned kind)
{
	switch (kind) {
	case UPS_PLUGIN_KIND_STORE:
		return "store";
	case UPS_PLUGIN_KIND_HOOK:
		return "hook";
	case UPS_PLUGIN_KIND_HEALTH:
		return "health";
	default:
		return "unknown";
	}
}

static int plugin_check_name(const char *name)
{
	size_t n;

	if (!name)
		return -1;
	n = strnlen(name, PLUGIN_NAME_MAX + 1);
	if (n == 0 || n > PLUGIN_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] > '~')
			return -1;
	return 0;
}

static int plugin_check_store_ops(const struct plugin *p, char *err,
                                  size_t errlen)
{
	const struct ups_store_ops *ops = p->ops;
	unsigned minor = p->desc->abi_minor;
	size_t need =
	    minor >= 1 ? PLUGIN_STORE_OPS_MIN_11 : PLUGIN_STORE_OPS_MIN_10;

	if (ops->struct_size < need)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: store ops are %u bytes, ABI %u.%u needs "
		                "%zu",
		                p->path, ops->struct_size, UPS_PLUGIN_ABI_MAJOR,
		                minor, need);
	if (!ops->open || !ops->close || !ops->staging_dir || !ops->put ||
	    !ops->open_blob || !ops->remove || !ops->free_space ||
	    (minor >= 1 &&
	     (!ops->put2 || !ops->holds || !ops->meta_put ||
	      !ops->meta_remove || !ops->meta_open || !ops->open_held)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: store plugin %s lacks an operation",
		                p->path, p->desc->name);
	return 0;
}

/* Hook and health plugins came with ABI 1.2: their ops are whole. */
static int plugin_check_other_ops(const struct plugin *p, char *err,
                                  size_t errlen)
{
	bool hook = p->desc->kind == UPS_PLUGIN_KIND_HOOK;
	uint32_t size = *(const uint32_t *)p->ops; /* struct_size, first */
	size_t need = hook ? sizeof(struct ups_hook_ops)
	                   : sizeof(struct ups_health_ops);
	bool whole;

	if (p->desc->abi_minor < 2)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: a %s plugin needs ABI 1.2 or later, it "
		                "says %u.%u",
		                p->path, plugin_kind_name(p->desc->kind),
		                p->desc->abi_major, p->desc->abi_minor);
	if (size < need)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: %s ops are %u bytes, ABI 1.2 needs %zu",
		                p->path, plugin_kind_name(p->desc->kind), size,
		                need);
	if (hook) {
		const struct ups_hook_ops *o = p->ops;

		whole = o->open && o->close && o->run;
	} else {
		const struct ups_health_ops *o = p->ops;

		whole = o->open && o->close && o->check;
	}
	if (!whole)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: %s plugin %s lacks an operation", p->path,
		                plugin_kind_name(p->desc->kind), p->desc->name);
	return 0;
}

/* Checks the descriptor field by field, reading each only once the fields
 * before it (abi and size) say it is there. */
static int plugin_check(struct plugin *p, enum ups_plugin_kind kind, char *err,
                        size_t errlen)
{
	const struct ups_plugin_descriptor *d = p->desc;

	if (d->abi_major != UPS_PLUGIN_ABI_MAJOR ||
	    d->abi_minor > UPS_PLUGIN_ABI_MINOR)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: plugin ABI %u.%u, upstaged supports %u.%u",
		                p->path, d->abi_major, d->abi_minor,
		                UPS_PLUGIN_ABI_MAJOR, UPS_PLUGIN_ABI_MINOR);
	if (d->struct_size < PLUGIN_DESC_MIN)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: descriptor is %u bytes, ABI %u.%u needs "
		                "%zu",
		                p->path, d->struct_size, UPS_PLUGIN_ABI_MAJOR,
		                UPS_PLUGIN_ABI_MINOR, PLUGIN_DESC_MIN);
	if (d->kind != (uint32_t)kind)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: a %s plugin, expected a %s plugin",
		                p->path, plugin_kind_name(d->kind),
		                plugin_kind_name(kind));
	if (plugin_check_name(d->name) < 0)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: plugin name missing or invalid", p->path);
	if (!d->ops)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: plugin %s has no ops", p->path, d->name);
	p->ops = d->ops;
	if (kind == UPS_PLUGIN_KIND_STORE)
		return plugin_check_store_ops(p, err, errlen);
	return plugin_check_other_ops(p, err, errlen);
}

int plugin_load(const char *path, enum ups_plugin_kind kind, struct plugin *out,
                char *err, size_t errlen)
{
	struct stat st;
	const char *dlerr;
	int rv;

	memset(out, 0, sizeof(*out));
	if ((size_t)snprintf(out->path, sizeof(out->path), "%s", path) >=
	    sizeof(out->path))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "plugin path too long");
	/* dlopen searches the library path for names without a '/'; a
	 * configured plugin is always a file, so say plainly when it is not
	 * there. */
	if (stat(path, &st) < 0)
		return ups_errf(UPS_ERR_NOT_FOUND, err, errlen,
		                "%s: cannot find plugin: %s", path,
		                strerror(errno));
	if (!strchr(path, '/'))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "%s: plugin path must contain a '/'", path);

	out->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!out->handle) {
		dlerr = dlerror();
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "%s: cannot load plugin: %s", path,
		                dlerr ? dlerr : "unknown error");
	}
	(void)dlerror();
	out->desc = dlsym(out->handle, UPS_PLUGIN_DESCRIPTOR_SYMBOL);
	if (!out->desc) {
		rv = ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		              "%s: not an upstage plugin (no symbol %s)", path,
		              UPS_PLUGIN_DESCRIPTOR_SYMBOL);
		goto unload;
	}
	rv = plugin_check(out, kind, err, errlen);
	if (rv < 0)
		goto unload;
	LOG_INFO("plugin", "loaded %s plugin %s %s (ABI %u.%u) from %s",
	         plugin_kind_name(kind), out->desc->name,
	         out->desc->version ? out->desc->version : "?",
	         out->desc->abi_major, out->desc->abi_minor, path);
	return 0;

unload:
	plugin_unload(out);
	return rv;
}

void plugin_unload(struct plugin *p)
{
	if (p->handle)
		dlclose(p->handle);
	p->handle = NULL;
	p->desc = NULL;
	p->ops = NULL;
}

unsigned plugin_store_minor(const struct plugin *p)
{
	return p->desc ? p->desc->abi_minor : 0;
}

const struct ups_store_ops *plugin_store_ops(const struct plugin *p)
{
	if (!p->desc || p->desc->kind != UPS_PLUGIN_KIND_STORE)
		return NULL;
	return p->ops;
}

const struct ups_hook_ops *plugin_hook_ops(const struct plugin *p)
{
	if (!p->desc || p->desc->kind != UPS_PLUGIN_KIND_HOOK)
		return NULL;
	return p->ops;
}

const struct ups_health_ops *plugin_health_ops(const struct plugin *p)
{
	if (!p->desc || p->desc->kind != UPS_PLUGIN_KIND_HEALTH)
		return NULL;
	return p->ops;
}

__attribute__((format(printf, 3, 4))) static void
plugin_log(int level, const char *plugin, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level < UPS_LOG_ERROR)
		level = UPS_LOG_ERROR;
	if (level > UPS_LOG_DEBUG)
		level = UPS_LOG_DEBUG;
	if (level > (int)ups_log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ups_log_write((enum ups_log_level)level, plugin ? plugin : "plugin",
	              "%s", line);
}

void plugin_services_init(struct ups_plugin_services *svc, void *host,
                          const char *(*config_get)(void *host,
                                                    const char *key))
{
	memset(svc, 0, sizeof(*svc));
	svc->abi_major = UPS_PLUGIN_ABI_MAJOR;
	svc->abi_minor = UPS_PLUGIN_ABI_MINOR;
	svc->struct_size = sizeof(*svc);
	svc->host = host;
	svc->log = plugin_log;
	svc->config_get = config_get;
}
