/* The upstaged plugin ABI: the one header a plugin author includes.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * upstage_plugin_descriptor (UPS_PLUGIN_DESCRIPTOR_SYMBOL), a const
 * struct ups_plugin_descriptor. upstaged opens it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), reads the descriptor and checks, before
 * it calls anything in the plugin:
 *   abi_major == UPS_PLUGIN_ABI_MAJOR   (a different major is incompatible),
 *   abi_minor <= the host's minor       (a newer minor may rely on services
 *                                        this host does not have),
 *   struct_size >= what the host reads, kind, a non-empty name, ops != NULL.
 * The plugin gets what it needs from the host through the services table
 * (logging, configuration), never through global symbols, so plugins stay
 * loadable RTLD_LOCAL and hidden-by-default.
 *
 * History: 1.0 store ops; 1.1 adds put2 and holds, remove without a
 * sha256, the published metadata (meta_put, meta_remove, meta_open) and
 * open_held (the host uses them only with plugins of minor 1 or more, so
 * 1.0 plugins keep loading; with a 1.0 store upstaged publishes nothing
 * and serves no downloads, and says so at start-up). 1.2 adds the hook
 * and health kinds (struct ups_hook_ops, struct ups_health_ops); a hook
 * or health plugin declares minor 2 or more. Store plugins of 1.0 and
 * 1.1 load as before.
 *
 * Compatibility rules: within one major, structs only grow at the end
 * (new members come out of the reserved space or after it, with the minor
 * bumped) and every struct carries its size, so either side can tell
 * whether a member exists before reading it.
 *
 * Return codes are the UPS_ERR_* values of proto/errors.h; that table is
 * append-only, so its numbers are part of this ABI. So are the streams of
 * proto/binary.h (UPS_STREAMS), whose names are store paths. Every
 * fallible call also takes an err/errlen buffer that receives a one-line
 * detail message (always NUL-terminated when errlen > 0).
 *
 * Installed, this header and the proto/ headers it includes live under
 * <prefix>/include/upstage; build with -I<prefix>/include/upstage. Their
 * macros, enums and structs need nothing else. The host exports no
 * functions, so a plugin that calls ups_* functions (ups_errf,
 * ups_stream_parse, ups_binary_version_check...) compiles their proto/
 * sources in, as store-fs does. */
#ifndef UPSTAGE_PLUGIN_H
#define UPSTAGE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/binary.h"
#include "proto/errors.h"

#define UPS_PLUGIN_ABI_MAJOR 1
#define UPS_PLUGIN_ABI_MINOR 2

/* The one exported symbol. Plugins are built with -fvisibility=hidden and
 * mark only the descriptor with UPS_PLUGIN_EXPORT. */
#define UPS_PLUGIN_DESCRIPTOR_SYMBOL "upstage_plugin_descriptor"
#define UPS_PLUGIN_EXPORT            __attribute__((visibility("default")))

/* Log levels handed to services->log; same numbers as proto/log.h. */
#define UPS_PLUGIN_LOG_ERROR 0
#define UPS_PLUGIN_LOG_WARN  1
#define UPS_PLUGIN_LOG_INFO  2
#define UPS_PLUGIN_LOG_DEBUG 3

/* Host -> plugin. Owned by the host; valid from the plugin's open() until
 * its close() returns. All functions are safe to call from any thread. */
struct ups_plugin_services {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size; /* sizeof(struct ups_plugin_services) */
	void *host;           /* opaque; pass back to config_get */
	/* Writes one log line tagged with plugin (the plugin's name). */
	void (*log)(int level, const char *plugin, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
	/* The value of configuration key (e.g. "store-fs.fail"), or NULL when
	 * unset. The string is borrowed and stays valid until close(). */
	const char *(*config_get)(void *host, const char *key);
	void *reserved[8];
};

enum ups_plugin_kind {
	UPS_PLUGIN_KIND_STORE = 1,
	UPS_PLUGIN_KIND_HOOK = 2,
	UPS_PLUGIN_KIND_HEALTH = 3,
};

/* A storage backend (kind UPS_PLUGIN_KIND_STORE).
 *
 * Threading: every call is synchronous and may block on disk I/O; the host
 * calls them from libuv worker threads (uv_queue_work), never from the
 * loop thread, except open() and close() which run before the loop starts
 * and after it stops. After open() returns, every other op may run
 * concurrently on the same state from several threads; the plugin
 * serializes what needs serializing.
 *
 * Names are the words of proto/binary.h: stream is one of its streams
 * (UPS_STREAMS: released, proposed, devel, testing); binary_version passes
 * ups_binary_version_check() (canonical "<version>-<release>-<arch>");
 * sha256_hex passes ups_sha256_hex_is_valid() (UPS_SHA256_HEX_LEN
 * lowercase hex digits). Anything else is UPS_ERR_BAD_REQUEST and no path
 * is built from it (plugins validate again before building any path).
 *
 * Staging: partial uploads live in the directory staging_dir() names. The
 * host owns them (creates, writes, fsyncs, re-hashes, removes); the store
 * only decides where they live, so that put() can adopt the finished file
 * by renaming or linking on the same file system instead of copying.
 *
 * Published metadata (since 1.1): the simplestreams files the host makes
 * from its catalog (proto/simplestreams.h), kept by the store under
 * streams/v1/ next to tools/, so a store another program serves (a web
 * server, a bucket) publishes too. A metadata name is exactly one of
 * "index2.json", "index.json" or "com.ubuntu.juju-<stream>-agents.json"
 * with a stream of UPS_STREAMS; anything else is UPS_ERR_BAD_REQUEST and
 * no path is built from it. */
/* Flags of put2. */
/* Replace whatever the name holds, atomically (rename over it): readers
 * see the old bytes or the new, never neither. */
#define UPS_STORE_PUT_REPLACE 0x1u
/* Leave the staging file where it is; the host removes it once the
 * binary is recorded, so a crash before that can redo the put. */
#define UPS_STORE_PUT_KEEP_STAGING 0x2u

/* One file of meta_put (since 1.1). */
struct ups_store_meta_file {
	const char *name; /* a metadata name */
	const void *data; /* len bytes */
	size_t len;
};

/* The most files one meta_put takes: every metadata name once. */
#define UPS_STORE_META_FILES_MAX (2 + UPS_STREAM__COUNT)

struct ups_store_ops {
	uint32_t struct_size; /* sizeof(struct ups_store_ops) */

	/* Opens (creating as needed) the store under data_dir. On success
	 * *state is the plugin's; release it with close(). services and
	 * data_dir are borrowed (services for the life of the state). */
	int (*open)(const struct ups_plugin_services *services,
	            const char *data_dir, void **state, char *err,
	            size_t errlen);
	void (*close)(void *state);

	/* Absolute path of the staging directory; owned by state, valid until
	 * close(). Never fails after open(). */
	const char *(*staging_dir)(void *state);

	/* Adopts staging_dir()/staging_name, a complete file the host has
	 * fsynced and whose SHA-256 is sha256_hex, as the content of
	 * tools/<stream>/juju-<binary_version>.tgz. Durable when it returns 0;
	 * the staging file is then gone. staging_name is a single path
	 * component. Idempotent: the same name and content again returns 0.
	 * UPS_ERR_CONFLICT when the name already holds different content
	 * (remove it first), UPS_ERR_NO_SPACE, UPS_ERR_IO, UPS_ERR_BAD_REQUEST.
	 * On error nothing new is visible under the Juju name and the staging
	 * file is left for the host to retry or remove. */
	int (*put)(void *state, const char *staging_name,
	           const char *sha256_hex, const char *stream,
	           const char *binary_version, char *err, size_t errlen);

	/* Opens the stored file for reading: *fd (O_RDONLY|O_CLOEXEC, the
	 * caller closes it) and *size. UPS_ERR_NOT_FOUND when absent. */
	int (*open_blob)(void *state, const char *stream,
	                 const char *binary_version, int *fd, uint64_t *size,
	                 char *err, size_t errlen);

	/* Removes the Juju name, and the content when no other name refers to
	 * it. sha256_hex is what the host's catalog says the name holds; the
	 * blob is only deleted when it is the same file. Since 1.1 sha256_hex
	 * may be NULL (a name the catalog does not know): the name goes and
	 * the plugin deals with its content. UPS_ERR_NOT_FOUND when the name
	 * does not exist. Durable when it returns. */
	int (*remove)(void *state, const char *stream,
	              const char *binary_version, const char *sha256_hex,
	              char *err, size_t errlen);

	/* Bytes available to an unprivileged writer where the store lives. */
	int (*free_space)(void *state, uint64_t *bytes, char *err,
	                  size_t errlen);

	/* Since 1.1. */

	/* put with flags (UPS_STORE_PUT_*). With REPLACE the name gets the
	 * new content whatever it held (no UPS_ERR_CONFLICT), atomically;
	 * old_sha256_hex (may be NULL) is what the host believes it held,
	 * whose content goes when nothing else refers to it. Idempotent like
	 * put, also after a crash anywhere inside it. UPS_ERR_NOT_FOUND when
	 * the staging file does not exist. */
	int (*put2)(void *state, const char *staging_name,
	            const char *sha256_hex, const char *stream,
	            const char *binary_version, const char *old_sha256_hex,
	            unsigned flags, char *err, size_t errlen);

	/* Whether the Juju name holds exactly the content sha256_hex: 0 when
	 * it does, UPS_ERR_NOT_FOUND when there is no such name,
	 * UPS_ERR_CONFLICT when it holds something else. Cheap (no hashing):
	 * the host calls it for every binary at start-up. */
	int (*holds)(void *state, const char *stream,
	             const char *binary_version, const char *sha256_hex,
	             char *err, size_t errlen);

	/* Makes files[i].data the content of metadata file files[i].name,
	 * for i in 0..n-1 (n 1..UPS_STORE_META_FILES_MAX; all borrowed for
	 * the call), each durably and atomically: a reader, or a crash at
	 * any point, sees a file's old content or its new, never a mix, a
	 * part or nothing. The files are replaced in the order given (the
	 * host puts products files before the indexes that name them) and
	 * are all durable when it returns 0: write each to a temporary file
	 * and fsync it, rename them over their names in order, fsync the
	 * directory once. UPS_ERR_NO_SPACE, UPS_ERR_IO: the files before the
	 * one that failed may have been replaced (whole), the others keep
	 * their old content. The same name twice is UPS_ERR_BAD_REQUEST. */
	int (*meta_put)(void *state, const struct ups_store_meta_file *files,
	                size_t n, char *err, size_t errlen);

	/* Removes metadata file name, durably. UPS_ERR_NOT_FOUND when it
	 * does not exist. */
	int (*meta_remove)(void *state, const char *name, char *err,
	                   size_t errlen);

	/* Opens metadata file name for reading: *fd (O_RDONLY|O_CLOEXEC, the
	 * caller closes it) and *size. The fd keeps the content it was
	 * opened with whatever meta_put does afterwards. UPS_ERR_NOT_FOUND
	 * when absent. */
	int (*meta_open)(void *state, const char *name, int *fd, uint64_t *size,
	                 char *err, size_t errlen);

	/* Opens the content of the Juju name for reading, but only when it
	 * is exactly sha256_hex: *fd (as open_blob) then reads those bytes,
	 * whatever happens to the name afterwards (a replacement, a
	 * removal), so a download never mixes two binaries. 0;
	 * UPS_ERR_NOT_FOUND when there is no such name; UPS_ERR_CONFLICT
	 * when it holds other content now. Cheap (no hashing): the host
	 * calls it for every download. */
	int (*open_held)(void *state, const char *stream,
	                 const char *binary_version, const char *sha256_hex,
	                 int *fd, uint64_t *size, char *err, size_t errlen);
};

/* Hooks (kind UPS_PLUGIN_KIND_HOOK, since 1.2): told of every rollout
 * transition worth acting on, and able to stop a rollout before it
 * starts a stage.
 *
 * Events (ups_hook_event.name):
 *   before-rollout  the first stage is about to start (then before-stage)
 *   before-stage    stage `stage` is about to order its machines
 *   after-stage     every machine of stage `stage` ended
 *   machine-failed  machine_id failed, timed out or failed to revert
 *   rollout-paused  the rollout paused (reason says why)
 *   after-rollout   the rollout ended: state completed, aborted, failed
 *                   or rolled-back
 * A before-* event that run() refuses (non-zero) pauses the rollout with
 * err as its reason; resuming runs the before-* hooks again. What other
 * events return is only logged.
 *
 * Threading: open() and close() run before the loop starts and after it
 * stopped. run() blocks and is called from a libuv worker thread, one
 * event at a time, in the order the events happened (the host queues
 * them); an event is delivered at least once (after a crash of upstaged
 * a before-* event may come again). */
#define UPS_HOOK_EVENT_NAME_MAX 32

struct ups_hook_event {
	uint32_t struct_size; /* sizeof(struct ups_hook_event) */
	const char *name;       /* one of the events above */
	const char *rollout_id; /* e.g. "r-3" */
	const char *model;      /* whose machines */
	const char *target;     /* the target version, e.g. "2.9.44" */
	const char *state;      /* the rollout's state now */
	int64_t stage;          /* the stage concerned; -1: none */
	int64_t stages;         /* how many stages the rollout has */
	const char *machine_id; /* machine-failed; NULL otherwise */
	const char *reason;     /* why (failed, paused, ended); may be NULL */
	/* Everything above as one JSON object (keys "event", "rollout-id",
	 * "model", "target", "state", "stage", "stages", "machine-id",
	 * "reason"; absent ones left out), NUL-terminated. */
	const char *json;
};

struct ups_hook_ops {
	uint32_t struct_size; /* sizeof(struct ups_hook_ops) */
	/* services is borrowed for the life of *state. */
	int (*open)(const struct ups_plugin_services *services, void **state,
	            char *err, size_t errlen);
	void (*close)(void *state);
	/* Acts on ev (borrowed for the call). 0: go on. Anything else (a
	 * UPS_ERR_* code, err saying why in one line): for a before-*
	 * event the rollout pauses with err as its reason. */
	int (*run)(void *state, const struct ups_hook_event *ev, char *err,
	           size_t errlen);
	/* Optional (may be NULL). upstaged is stopping: a run() in progress
	 * should return soon (hook-exec kills its hook). Called from the
	 * loop thread, possibly while run() runs on another; run() may
	 * still be called after it (and should then return at once). */
	void (*cancel)(void *state);
};

/* Health checks (kind UPS_PLUGIN_KIND_HEALTH, since 1.2): a machine that
 * reports healthy after its upgrade counts as healthy only once check()
 * agrees; a refusal fails the machine with err as the reason.
 *
 * Threading: open() and close() as for hooks. check() blocks, is called
 * from libuv worker threads and may run for several machines at once. */
struct ups_health_target {
	uint32_t struct_size;   /* sizeof(struct ups_health_target) */
	const char *machine_id;
	const char *model;
	/* Where the machine connected from, or the address it registered
	 * with (Machine.Register "address"); "" when unknown. A host name
	 * or a numeric IPv4/IPv6 address, without brackets. */
	const char *address;
	const char *version; /* the version it reports */
	const char *release;
	const char *arch;
};

struct ups_health_ops {
	uint32_t struct_size; /* sizeof(struct ups_health_ops) */
	int (*open)(const struct ups_plugin_services *services, void **state,
	            char *err, size_t errlen);
	void (*close)(void *state);
	/* 0: healthy. Anything else: not healthy, err saying why. */
	int (*check)(void *state, const struct ups_health_target *t, char *err,
	             size_t errlen);
	/* Optional (may be NULL): as ups_hook_ops.cancel, for the checks
	 * running when upstaged stops. */
	void (*cancel)(void *state);
};

struct ups_plugin_descriptor {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size; /* sizeof(struct ups_plugin_descriptor) */
	uint32_t kind;        /* enum ups_plugin_kind */
	const char *name;     /* non-empty, e.g. "store-fs" */
	const char *version;  /* the plugin's own version, e.g. "0.1.0" */
	/* Points to the kind's ops table: struct ups_store_ops for a store,
	 * struct ups_hook_ops for a hook, struct ups_health_ops for a
	 * health check. */
	const void *ops;
	void *reserved[8];
};

/* What the host looks up with dlsym(UPS_PLUGIN_DESCRIPTOR_SYMBOL). */
typedef const struct ups_plugin_descriptor ups_plugin_descriptor_t;

#endif
