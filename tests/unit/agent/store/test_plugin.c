/* The plugin host: a good plugin loads; missing files, foreign ABIs, wrong
 * kinds and incomplete descriptors are refused with a message that names
 * the file (and the versions). The fake plugins abort if anything in them
 * is called, so passing also proves nothing was called during the checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/store/plugin.h"
#include "proto/errors.h"

static char err[UPS_ERRMSG_MAX];

static const char *fake(const char *variant)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/fake-%s.so", FAKE_PLUGIN_DIR, variant);
	return path;
}

static void test_store_fs_loads(void **state)
{
	struct plugin p;
	const struct ups_store_ops *ops;

	(void)state;
	assert_int_equal(plugin_load(STORE_FS_PLUGIN, UPS_PLUGIN_KIND_STORE, &p,
	                             err, sizeof(err)),
	                 0);
	assert_string_equal(p.desc->name, "store-fs");
	ops = plugin_store_ops(&p);
	assert_non_null(ops);
	assert_non_null(ops->put);
	plugin_unload(&p);
	assert_null(p.handle);
	plugin_unload(&p); /* twice is harmless */
}

static void test_fake_good_loads(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(fake("good"), UPS_PLUGIN_KIND_STORE, &p,
	                             err, sizeof(err)),
	                 0);
	assert_string_equal(p.desc->name, "fake");
	plugin_unload(&p);
}

static void test_missing_file(void **state)
{
	struct plugin p;
	const char *path = FAKE_PLUGIN_DIR "/no-such-plugin.so";

	(void)state;
	assert_int_equal(
	    plugin_load(path, UPS_PLUGIN_KIND_STORE, &p, err, sizeof(err)),
	    UPS_ERR_NOT_FOUND);
	assert_non_null(strstr(err, path));
	assert_null(p.handle);
}

static void test_not_a_shared_object(void **state)
{
	struct plugin p;

	(void)state;
	/* A file that exists but is not an ELF object. */
	assert_int_equal(
	    plugin_load(__FILE__, UPS_PLUGIN_KIND_STORE, &p, err, sizeof(err)),
	    UPS_ERR_IO);
	assert_non_null(strstr(err, __FILE__));
}

static void test_wrong_major(void **state)
{
	struct plugin p;
	char want[128];

	(void)state;
	assert_int_equal(plugin_load(fake("bad-major"), UPS_PLUGIN_KIND_STORE,
	                             &p, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	snprintf(want, sizeof(want), "plugin ABI %d.0, upstaged supports %d.%d",
	         UPS_PLUGIN_ABI_MAJOR + 1, UPS_PLUGIN_ABI_MAJOR,
	         UPS_PLUGIN_ABI_MINOR);
	assert_non_null(strstr(err, fake("bad-major")));
	assert_non_null(strstr(err, want));
	assert_null(p.handle);
}

static void test_newer_minor(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(fake("newer-minor"), UPS_PLUGIN_KIND_STORE,
	                             &p, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "upstaged supports"));
}

static void test_missing_symbol(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(fake("no-symbol"), UPS_PLUGIN_KIND_STORE,
	                             &p, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, fake("no-symbol")));
	assert_non_null(strstr(err, UPS_PLUGIN_DESCRIPTOR_SYMBOL));
}

static void test_small_descriptor(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(fake("small-desc"), UPS_PLUGIN_KIND_STORE,
	                             &p, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "descriptor is 16 bytes"));
}

static void test_null_op(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(fake("null-op"), UPS_PLUGIN_KIND_STORE, &p,
	                             err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "lacks an operation"));
}

/* A 1.0 store (smaller ops, no put2/holds) keeps loading; a plugin that
 * claims 1.1 must have its ops. */
static void test_minor_versions(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(fake("abi10"), UPS_PLUGIN_KIND_STORE, &p,
	                             err, sizeof(err)),
	                 0);
	assert_int_equal(plugin_store_minor(&p), 0);
	plugin_unload(&p);
	assert_int_equal(plugin_load(fake("no-put2"), UPS_PLUGIN_KIND_STORE, &p,
	                             err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "lacks an operation"));
	assert_int_equal(plugin_load(fake("no-meta"), UPS_PLUGIN_KIND_STORE, &p,
	                             err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "lacks an operation"));
	assert_int_equal(plugin_load(STORE_FS_PLUGIN, UPS_PLUGIN_KIND_STORE, &p,
	                             err, sizeof(err)),
	                 0);
	assert_int_equal(plugin_store_minor(&p), UPS_PLUGIN_ABI_MINOR);
	plugin_unload(&p);
}

static void test_wrong_kind(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(fake("hook"), UPS_PLUGIN_KIND_STORE, &p,
	                             err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "a hook plugin, expected a store plugin"));
	/* And the store plugin is not a hook. */
	assert_int_equal(plugin_load(STORE_FS_PLUGIN, UPS_PLUGIN_KIND_HOOK, &p,
	                             err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
}

/* ABI 1.2: the hook and health kinds load with their own ops; a hook of
 * an older minor, or with a short table, does not. */
static void test_hook_and_health_kinds(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(HOOK_EXEC_PLUGIN, UPS_PLUGIN_KIND_HOOK, &p,
	                             err, sizeof(err)),
	                 0);
	assert_non_null(plugin_hook_ops(&p));
	assert_null(plugin_health_ops(&p));
	assert_null(plugin_store_ops(&p));
	plugin_unload(&p);
	assert_int_equal(plugin_load(HEALTH_HTTP_PLUGIN,
	                             UPS_PLUGIN_KIND_HEALTH, &p, err,
	                             sizeof(err)),
	                 0);
	assert_non_null(plugin_health_ops(&p));
	assert_null(plugin_hook_ops(&p));
	plugin_unload(&p);
	assert_int_equal(plugin_load(HOOK_EXEC_PLUGIN, UPS_PLUGIN_KIND_HEALTH,
	                             &p, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "a hook plugin, expected a health plugin"));
	assert_int_equal(plugin_load(fake("hook-11"), UPS_PLUGIN_KIND_HOOK, &p,
	                             err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "needs ABI 1.2 or later, it says 1.1"));
	assert_int_equal(plugin_load(fake("health-small"),
	                             UPS_PLUGIN_KIND_HEALTH, &p, err,
	                             sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "health ops are 8 bytes"));
}

static void test_empty_name(void **state)
{
	struct plugin p;

	(void)state;
	assert_int_equal(plugin_load(fake("empty-name"), UPS_PLUGIN_KIND_STORE,
	                             &p, err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "name"));
}

static void test_relative_without_slash(void **state)
{
	struct plugin p;

	(void)state;
	/* "libc.so.6" would be found by dlopen's search; a plugin path must
	 * name a file. */
	assert_int_not_equal(plugin_load("libc.so.6", UPS_PLUGIN_KIND_STORE, &p,
	                                 err, sizeof(err)),
	                     0);
	assert_null(p.handle);
}

static void test_services_init(void **state)
{
	struct ups_plugin_services svc;

	(void)state;
	plugin_services_init(&svc, &svc, NULL);
	assert_int_equal(svc.abi_major, UPS_PLUGIN_ABI_MAJOR);
	assert_int_equal(svc.struct_size, sizeof(svc));
	assert_ptr_equal(svc.host, &svc);
	assert_non_null(svc.log);
	svc.log(UPS_PLUGIN_LOG_DEBUG, "test", "not shown at %s", "info");
	svc.log(99, NULL, "clamped level %d", 99);
	assert_string_equal(plugin_kind_name(UPS_PLUGIN_KIND_HEALTH), "health");
	assert_string_equal(plugin_kind_name(42), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_fs_loads),
	    cmocka_unit_test(test_fake_good_loads),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_not_a_shared_object),
	    cmocka_unit_test(test_wrong_major),
	    cmocka_unit_test(test_newer_minor),
	    cmocka_unit_test(test_missing_symbol),
	    cmocka_unit_test(test_small_descriptor),
	    cmocka_unit_test(test_null_op),
	    cmocka_unit_test(test_minor_versions),
	    cmocka_unit_test(test_wrong_kind),
	    cmocka_unit_test(test_hook_and_health_kinds),
	    cmocka_unit_test(test_empty_name),
	    cmocka_unit_test(test_relative_without_slash),
	    cmocka_unit_test(test_services_init),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
