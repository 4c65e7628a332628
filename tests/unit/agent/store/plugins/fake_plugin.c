/* Deliberately (in)valid plugins for test_plugin.c: one source, built once
 * per FAKE_VARIANT. Every op aborts, so a test that loads one proves the
 * host called nothing before its checks. */
#include <stddef.h>
#include <stdlib.h>

#include "plugins/upstage_plugin.h"

#define FAKE_GOOD        0
#define FAKE_BAD_MAJOR   1
#define FAKE_NEWER_MINOR 2
#define FAKE_SMALL_DESC  3
#define FAKE_NO_SYMBOL   4
#define FAKE_NULL_OP     5
#define FAKE_HOOK        6
#define FAKE_EMPTY_NAME  7
#define FAKE_ABI_10      8  /* a 1.0 store: smaller ops, no put2/holds */
#define FAKE_NO_PUT2     9  /* claims 1.1 without its ops */
#define FAKE_NO_META     10 /* claims 1.1 without the metadata ops */
#define FAKE_HOOK_11      11 /* a hook plugin of ABI 1.1 (before hooks) */
#define FAKE_HEALTH_SMALL 12 /* a health plugin with a short ops table */

static int fake_open(const struct ups_plugin_services *svc, const char *dir,
                     void **state, char *err, size_t errlen)
{
	(void)svc, (void)dir, (void)state, (void)err, (void)errlen;
	abort();
}

static void fake_close(void *state)
{
	(void)state;
	abort();
}

static const char *fake_staging_dir(void *state)
{
	(void)state;
	abort();
}

static int fake_put(void *state, const char *a, const char *b, const char *c,
                    const char *d, char *err, size_t errlen)
{
	(void)state, (void)a, (void)b, (void)c, (void)d, (void)err,
	    (void)errlen;
	abort();
}

static int fake_open_blob(void *state, const char *a, const char *b, int *fd,
                          uint64_t *size, char *err, size_t errlen)
{
	(void)state, (void)a, (void)b, (void)fd, (void)size, (void)err,
	    (void)errlen;
	abort();
}

static int fake_remove(void *state, const char *a, const char *b, const char *c,
                       char *err, size_t errlen)
{
	(void)state, (void)a, (void)b, (void)c, (void)err, (void)errlen;
	abort();
}

static int fake_free_space(void *state, uint64_t *bytes, char *err,
                           size_t errlen)
{
	(void)state, (void)bytes, (void)err, (void)errlen;
	abort();
}

static int fake_put2(void *state, const char *a, const char *b, const char *c,
                     const char *d, const char *e, unsigned flags, char *err,
                     size_t errlen)
{
	(void)state, (void)a, (void)b, (void)c, (void)d, (void)e, (void)flags,
	    (void)err, (void)errlen;
	abort();
}

static int fake_holds(void *state, const char *a, const char *b, const char *c,
                      char *err, size_t errlen)
{
	(void)state, (void)a, (void)b, (void)c, (void)err, (void)errlen;
	abort();
}

static int fake_meta_put(void *state, const struct ups_store_meta_file *a,
                         size_t c, char *err, size_t errlen)
{
	(void)state, (void)a, (void)c, (void)err, (void)errlen;
	abort();
}

static int fake_meta_remove(void *state, const char *a, char *err,
                            size_t errlen)
{
	(void)state, (void)a, (void)err, (void)errlen;
	abort();
}

static int fake_meta_open(void *state, const char *a, int *fd, uint64_t *size,
                          char *err, size_t errlen)
{
	(void)state, (void)a, (void)fd, (void)size, (void)err, (void)errlen;
	abort();
}

static int fake_open_held(void *state, const char *a, const char *b,
                          const char *c, int *fd, uint64_t *size, char *err,
                          size_t errlen)
{
	(void)state, (void)a, (void)b, (void)c, (void)fd, (void)size, (void)err,
	    (void)errlen;
	abort();
}

__attribute__((unused)) static const struct ups_store_ops fake_ops = {
    .struct_size = FAKE_VARIANT == FAKE_ABI_10
                       ? offsetof(struct ups_store_ops, put2)
                       : sizeof(struct ups_store_ops),
    .open = fake_open,
    .close = fake_close,
    .staging_dir = fake_staging_dir,
    .put = fake_put,
    .open_blob = fake_open_blob,
    .remove = (FAKE_VARIANT == FAKE_NULL_OP) ? NULL : fake_remove,
    .free_space = fake_free_space,
    .put2 = (FAKE_VARIANT == FAKE_NO_PUT2 || FAKE_VARIANT == FAKE_ABI_10)
                ? NULL
                : fake_put2,
    .holds = FAKE_VARIANT == FAKE_ABI_10 ? NULL : fake_holds,
    .meta_put = (FAKE_VARIANT == FAKE_ABI_10 || FAKE_VARIANT == FAKE_NO_META)
                    ? NULL
                    : fake_meta_put,
    .meta_remove = FAKE_VARIANT == FAKE_ABI_10 ? NULL : fake_meta_remove,
    .meta_open = FAKE_VARIANT == FAKE_ABI_10 ? NULL : fake_meta_open,
    .open_held = FAKE_VARIANT == FAKE_ABI_10 ? NULL : fake_open_held,
};

#if FAKE_VARIANT == FAKE_HEALTH_SMALL
static const struct ups_health_ops fake_health_ops = {.struct_size = 8};
#define FAKE_OPS (&fake_health_ops)
#else
#define FAKE_OPS (&fake_ops)
#endif

#if FAKE_VARIANT == FAKE_NO_SYMBOL
/* Exported, but under the wrong name. */
UPS_PLUGIN_EXPORT const struct ups_plugin_descriptor upstage_plugin_descriptr
#else
UPS_PLUGIN_EXPORT const struct ups_plugin_descriptor upstage_plugin_descriptor
#endif
    = {
        .abi_major = FAKE_VARIANT == FAKE_BAD_MAJOR ? UPS_PLUGIN_ABI_MAJOR + 1
                                                    : UPS_PLUGIN_ABI_MAJOR,
        .abi_minor =
            FAKE_VARIANT == FAKE_NEWER_MINOR
                ? UPS_PLUGIN_ABI_MINOR + 7
                : (FAKE_VARIANT == FAKE_BAD_MAJOR || FAKE_VARIANT == FAKE_ABI_10
                       ? 0
                       : (FAKE_VARIANT == FAKE_HOOK_11 ? 1
                                                       : UPS_PLUGIN_ABI_MINOR)),
        .struct_size = FAKE_VARIANT == FAKE_SMALL_DESC
                           ? 16
                           : sizeof(struct ups_plugin_descriptor),
        .kind = (FAKE_VARIANT == FAKE_HOOK || FAKE_VARIANT == FAKE_HOOK_11)
                    ? UPS_PLUGIN_KIND_HOOK
                    : (FAKE_VARIANT == FAKE_HEALTH_SMALL
                           ? UPS_PLUGIN_KIND_HEALTH
                           : UPS_PLUGIN_KIND_STORE),
        .name = FAKE_VARIANT == FAKE_EMPTY_NAME ? "" : "fake",
        .version = "0.0.1",
        .ops = FAKE_OPS,
};
