/* The domain words of proto/binary.h: streams, SHA-256 hex, releases,
 * arches, binary versions, their canonical check and their one order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/binary.h"
#include "proto/errors.h"
#include "tests/lib/checks.h"

static void
test_streams(void **state)
{
	static const char *const names[] = {"released", "proposed", "devel",
	                                    "testing"};
	enum ups_stream s;

	(void)state;
	assert_int_equal(UPS_STREAM__COUNT, 4);
	for (int i = 0; i < UPS_STREAM__COUNT; i++) {
		assert_string_equal(ups_stream_name((enum ups_stream)i),
		                    names[i]);
		assert_true(strlen(names[i]) <= UPS_LIMIT_STREAM_LEN);
		s = UPS_STREAM__COUNT;
		assert_int_equal(ups_stream_parse(names[i], &s), 0);
		assert_int_equal(s, i);
		assert_true(ups_stream_is_valid(names[i]));
		/* The message text lists every name. */
		assert_non_null(strstr(UPS_STREAM_NAMES_TEXT, names[i]));
		assert_non_null(strstr(UPS_STREAM_CHOICES_TEXT, names[i]));
	}
	/* The help text marks the default stream, and only it. */
	{
		char def[UPS_LIMIT_STREAM_LEN + 16];

		snprintf(def, sizeof(def), "%s (default)",
		         ups_stream_name(UPS_STREAM_DEFAULT));
		assert_non_null(strstr(UPS_STREAM_CHOICES_TEXT, def));
		assert_ptr_equal(strstr(UPS_STREAM_CHOICES_TEXT, "(default)"),
		                 strrchr(UPS_STREAM_CHOICES_TEXT, '('));
	}
	assert_int_equal(UPS_STREAM_RELEASED, 0);
	assert_int_equal(UPS_STREAM_TESTING, 3);
	assert_string_equal(ups_stream_name(UPS_STREAM__COUNT), "unknown");
	assert_string_equal(ups_stream_name((enum ups_stream) - 1), "unknown");
}

static void test_streams_invalid(void **state)
{
	static const char *const bad[] = {
	    "",        "Released", "released ", " released", "releasedx",
	    "release", "nightly",  "unknown",   "devel/..",  "../devel",
	};
	enum ups_stream s = UPS_STREAM_DEVEL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ups_stream_parse(bad[i], &s) != UPS_ERR_BAD_REQUEST)
			fail_msg("accepted stream \"%s\"", bad[i]);
		assert_false(ups_stream_is_valid(bad[i]));
	}
	/* Untouched on failure. */
	assert_int_equal(s, UPS_STREAM_DEVEL);
	assert_int_equal(ups_stream_parse(NULL, &s), UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_stream_parse(NULL, NULL), UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_stream_parse("devel", NULL), 0);
	assert_false(ups_stream_is_valid(NULL));
}

#define SHA_HELLO                                                              \
	"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void test_sha256_hex_valid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "2cf24dba",
	    /* 63 and 65 digits. */
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982",
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240",
	    /* Uppercase, a non-hex letter, a space, a sign. */
	    "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982g",
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982 ",
	    "-cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
	};

	(void)state;
	assert_int_equal(UPS_SHA256_HEX_LEN, 64);
	assert_true(ups_sha256_hex_is_valid(SHA_HELLO));
	assert_true(ups_sha256_hex_is_valid("0123456789abcdef0123456789abcdef01"
	                                    "23456789abcdef0123456789abcdef"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ups_sha256_hex_is_valid(bad[i]))
			fail_msg("accepted sha256 \"%s\"", bad[i]);
	assert_false(ups_sha256_hex_is_valid(NULL));
}

static void test_sha256_hex_round_trip(void **state)
{
	uint8_t digest[32], again[32];
	char hex[UPS_SHA256_HEX_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)(i * 37 + 5);
	digest[0] = 0x00;
	digest[31] = 0xff;
	memset(hex, 'Z', sizeof(hex));
	ups_sha256_hex_encode(digest, hex);
	assert_int_equal(strlen(hex), UPS_SHA256_HEX_LEN);
	assert_true(ups_sha256_hex_is_valid(hex));
	assert_memory_equal(hex, "00", 2);
	assert_memory_equal(hex + 62, "ff", 2);
	assert_int_equal(ups_sha256_hex_decode(hex, again), 0);
	assert_memory_equal(digest, again, sizeof(digest));

	/* A known digest: SHA-256("hello"). */
	assert_int_equal(ups_sha256_hex_decode(SHA_HELLO, again), 0);
	assert_int_equal(again[0], 0x2c);
	assert_int_equal(again[1], 0xf2);
	assert_int_equal(again[31], 0x24);
	ups_sha256_hex_encode(again, hex);
	assert_string_equal(hex, SHA_HELLO);
}

static void test_sha256_hex_decode_invalid(void **state)
{
	uint8_t out[32];

	(void)state;
	memset(out, 0xA5, sizeof(out));
	assert_int_equal(ups_sha256_hex_decode("2cf2", out),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(
	    ups_sha256_hex_decode("2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1F"
	                          "A7425E73043362938B9824",
	                          out),
	    UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_sha256_hex_decode(SHA_HELLO "0", out),
	                 UPS_ERR_BAD_REQUEST);
	assert_int_equal(ups_sha256_hex_decode(NULL, out), UPS_ERR_BAD_REQUEST);
	/* Untouched on failure. */
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xA5);
}

static void test_release(void **state)
{
	char long_name[UPS_LIMIT_RELEASE_LEN + 2];

	(void)state;
	assert_true(ups_release_is_valid("focal"));
	assert_true(ups_release_is_valid("jammy"));
	assert_true(ups_release_is_valid("ubuntu"));
	assert_true(ups_release_is_valid("centos7"));
	assert_true(ups_release_is_valid("centos"));
	assert_true(ups_release_is_valid("win2012r2"));
	/* Well-formed but unknown: no longer enough. */
	assert_false(ups_release_is_valid("a"));
	assert_false(ups_release_is_valid("linux"));
	assert_false(ups_release_is_valid("focal1"));
	assert_false(ups_release_is_valid("foca"));
	assert_false(ups_release_is_valid(""));
	assert_false(ups_release_is_valid(NULL));
	assert_false(ups_release_is_valid("7centos"));
	assert_false(ups_release_is_valid("Focal"));
	assert_false(ups_release_is_valid("foc-al"));
	assert_false(ups_release_is_valid("foc al"));
	assert_false(ups_release_is_valid("../x"));
	assert_false(ups_release_is_valid("focal/"));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_false(ups_release_is_valid(long_name));
}

/* The product word of simplestreams ids: series as their version, as
 * Juju 2.x writes them; OS types as they are. */
static void test_release_product(void **state)
{
	static const struct {
		const char *release, *product;
	} cases[] = {
	    {"focal", "20.04"},     {"jammy", "22.04"},
	    {"noble", "24.04"},     {"precise", "12.04"},
	    {"xenial", "16.04"},    {"bionic", "18.04"},
	    {"ubuntu", "ubuntu"},   {"centos", "centos"},
	    {"centos7", "centos7"}, {"opensuseleap", "opensuse42"},
	    {"windows", "windows"}, {"win10", "win10"},
	};
	char name[UPS_LIMIT_RELEASE_LEN + 8];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = ups_release_product(cases[i].release);

		assert_non_null(p);
		assert_string_equal(p, cases[i].product);
	}
	assert_null(ups_release_product("linux"));
	assert_null(ups_release_product("20.04"));
	assert_null(ups_release_product(""));
	assert_null(ups_release_product(NULL));
	/* Every name the error text lists is known, and is a name. */
	const char *text = UPS_RELEASE_NAMES_TEXT;
	size_t n = 0;

	while (*text) {
		size_t len;

		assert_int_equal(*text, ' ');
		text++;
		len = strcspn(text, " ");
		assert_true(len > 0 && len < sizeof(name));
		memcpy(name, text, len);
		name[len] = '\0';
		assert_true(ups_release_is_valid(name));
		text += len;
		n++;
	}
	assert_true(n >= 40);
}

static void test_arch(void **state)
{
	(void)state;
	assert_true(ups_arch_is_valid("amd64"));
	assert_true(ups_arch_is_valid("arm64"));
	assert_true(ups_arch_is_valid("ppc64el"));
	assert_true(ups_arch_is_valid("s390x"));
	assert_true(ups_arch_is_valid("riscv64"));
	assert_false(ups_arch_is_valid("i386"));
	assert_false(ups_arch_is_valid("AMD64"));
	assert_false(ups_arch_is_valid("amd64 "));
	assert_false(ups_arch_is_valid("amd6"));
	assert_false(ups_arch_is_valid(""));
	assert_false(ups_arch_is_valid(NULL));
}

static void test_binary_version(void **state)
{
	static const struct {
		const char *in;
		const char *version, *release, *arch, *canonical;
	} cases[] = {
	    {"2.9.1-ubuntu-amd64", "2.9.1", "ubuntu", "amd64",
	     "2.9.1-ubuntu-amd64"},
	    {"3.0-rc2-jammy-arm64", "3.0-rc2", "jammy", "arm64",
	     "3.0-rc2-jammy-arm64"},
	    {"2.9-beta1.1-focal-s390x", "2.9-beta1.1", "focal", "s390x",
	     "2.9-beta1.1-focal-s390x"},
	    {"2.9-focal-ppc64el", "2.9.0", "focal", "ppc64el",
	     "2.9.0-focal-ppc64el"},
	    {"02.9.1.0-centos7-riscv64", "2.9.1", "centos7", "riscv64",
	     "2.9.1-centos7-riscv64"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ups_binary_version bv, again;
		struct ups_version want = tl_version(cases[i].version);
		char buf[UPS_LIMIT_BINARY_VERSION_LEN + 1];
		char err[UPS_ERRMSG_MAX];

		if (ups_binary_version_parse(cases[i].in, &bv, err,
		                             sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].in, err);
		assert_int_equal(ups_version_compare(&bv.version, &want), 0);
		assert_string_equal(bv.release, cases[i].release);
		assert_string_equal(bv.arch, cases[i].arch);
		assert_int_equal(
		    ups_binary_version_format(&bv, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].canonical);
		assert_int_equal(
		    ups_binary_version_parse(buf, &again, err, sizeof(err)), 0);
		assert_int_equal(
		    ups_version_compare(&bv.version, &again.version), 0);
	}
}

static void test_binary_version_invalid(void **state)
{
	static const struct {
		const char *in;
		const char *msg;
	} cases[] = {
	    {"", "binary version: empty"},
	    {"2.9.1", "binary version: expected <version>-<release>-<arch>"},
	    {"2.9.1-amd64",
	     "binary version: expected <version>-<release>-<arch>"},
	    {"2.9.1-ubuntu-i386", "binary version: unknown arch"},
	    {"2.9.1-ubuntu-", "binary version: unknown arch"},
	    {"2.9.1-ubuntu-amd64x", "binary version: unknown arch"},
	    {"2.9.1-Ubuntu-amd64", "binary version: bad release"},
	    {"2.9.1--amd64", "binary version: bad release"},
	    {"2.9.1-../..-amd64", "binary version: bad release"},
	    {"2.9.1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-amd64",
	     "binary version: bad release"},
	    {"-ubuntu-amd64", "version: empty"},
	    {"2.9.x-ubuntu-amd64", NULL},
	    {"3.0-rc2-x-jammy-arm64", NULL},
	    {"ubuntu-amd64",
	     "binary version: expected <version>-<release>-<arch>"},
	    {"2.9.1-ubuntu-amd64-", "binary version: unknown arch"},
	};
	size_t i;
	char big[UPS_LIMIT_BINARY_VERSION_LEN + 2];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ups_binary_version bv;
		char err[UPS_ERRMSG_MAX] = "";

		if (ups_binary_version_parse(cases[i].in, &bv, err,
		                             sizeof(err)) !=
		    UPS_ERR_BAD_REQUEST)
			fail_msg("accepted \"%s\"", cases[i].in);
		if (cases[i].msg != NULL)
			assert_string_equal(err, cases[i].msg);
		else
			assert_true(err[0] != '\0');
	}
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ups_binary_version_parse(big, NULL, NULL, 0),
	                 UPS_ERR_BAD_REQUEST);
}

static void test_binary_version_format_small(void **state)
{
	struct ups_binary_version bv;
	char buf[10];

	(void)state;
	assert_int_equal(
	    ups_binary_version_parse("2.9.1-ubuntu-amd64", &bv, NULL, 0), 0);
	assert_int_equal(ups_binary_version_format(&bv, buf, sizeof(buf)),
	                 UPS_ERR_TOO_LARGE);
	assert_true(memchr(buf, '\0', sizeof(buf)) != NULL);
}

static void test_binary_version_check(void **state)
{
	struct ups_binary_version bv;
	char err[UPS_ERRMSG_MAX];

	(void)state;
	memset(&bv, 0, sizeof(bv));
	assert_int_equal(ups_binary_version_check("2.9.1-ubuntu-amd64", &bv,
	                                          err, sizeof(err)),
	                 0);
	assert_string_equal(bv.release, "ubuntu");
	assert_string_equal(bv.arch, "amd64");
	assert_int_equal(bv.version.patch, 1);
	assert_int_equal(ups_binary_version_check("3.0-rc2-jammy-arm64", NULL,
	                                          err, sizeof(err)),
	                 0);
	assert_int_equal(ups_binary_version_check("2.9.1.3-focal-s390x", NULL,
	                                          err, sizeof(err)),
	                 0);
}

static void test_binary_version_check_invalid(void **state)
{
	static const struct {
		const char *in;
		const char *msg;
	} cases[] = {
	    /* Parses, but is not how upstaged spells it. */
	    {"2.9-ubuntu-amd64", "not in canonical form (2.9.0-ubuntu-amd64)"},
	    {"02.9.1-ubuntu-amd64",
	     "not in canonical form (2.9.1-ubuntu-amd64)"},
	    {"2.9.1.0-ubuntu-amd64",
	     "not in canonical form (2.9.1-ubuntu-amd64)"},
	    {"3.0-rc-jammy-arm64",
	     "not in canonical form (3.0-rc0-jammy-arm64)"},
	    {"3.0-rc02-jammy-arm64",
	     "not in canonical form (3.0-rc2-jammy-arm64)"},
	    /* The parser's own detail. */
	    {"2.9.1-ubuntu-i386", "binary version: unknown arch"},
	    {"2.9.1-Ubuntu-amd64", "binary version: bad release"},
	    {"2.9.1", "binary version: expected <version>-<release>-<arch>"},
	    {"", "binary version: empty"},
	    {"2.9.x-ubuntu-amd64",
	     "version: expected patch number at position 4"},
	    {"1234567890.2.1-ubuntu-amd64",
	     "version: major number longer than 9 digits"},
	};
	struct ups_binary_version bv;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[UPS_ERRMSG_MAX] = "";

		memset(&bv, 0x5A, sizeof(bv));
		if (ups_binary_version_check(cases[i].in, &bv, err,
		                             sizeof(err)) !=
		    UPS_ERR_BAD_REQUEST)
			fail_msg("accepted \"%s\"", cases[i].in);
		assert_string_equal(err, cases[i].msg);
		/* Untouched on failure. */
		assert_int_equal(bv.version.major, 0x5A5A5A5A);
	}
	assert_int_equal(ups_binary_version_check(NULL, NULL, NULL, 0),
	                 UPS_ERR_BAD_REQUEST);
}

/* A well-formed release the table does not know parses (so a client can
 * read such names) but is refused as a stored name, and the refusal lists
 * every known release, which fits the wire's error text. */
static void test_binary_version_check_unknown_release(void **state)
{
	char err[UPS_LIMIT_ERROR_TEXT_LEN + 1] = "";
	struct ups_binary_version bv;

	(void)state;
	assert_int_equal(
	    ups_binary_version_parse("2.9.1-linux-amd64", &bv, NULL, 0), 0);
	assert_string_equal(bv.release, "linux");
	assert_int_equal(ups_binary_version_check("2.9.1-linux-amd64", NULL,
	                                          err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	static const char prefix[] = "binary version: unknown release "
	                             "\"linux\"; known releases: ubuntu "
	                             "centos ";
	assert_memory_equal(err, prefix, sizeof(prefix) - 1);
	assert_non_null(strstr(err, " focal "));
	assert_non_null(strstr(err, " win10"));
	assert_true(strlen(err) < sizeof(err) - 1); /* not cut */
	assert_int_equal(ups_binary_version_check("2.9.1-focal1-amd64", NULL,
	                                          err, sizeof(err)),
	                 UPS_ERR_BAD_REQUEST);
	assert_non_null(strstr(err, "unknown release \"focal1\""));
}

static void test_binary_version_order(void **state)
{
	/* Strictly ascending: version order first (not text order), then
	 * release, then arch. */
	static const char *const asc[] = {
	    "2.9-rc1-ubuntu-amd64",  "2.9.0-focal-amd64",
	    "2.9.1-focal-amd64",     "2.9.1-focal-arm64",
	    "2.9.1-jammy-amd64",     "2.9.1-ubuntu-amd64",
	    "2.9.1-ubuntu-arm64",    "2.9.1-ubuntu-ppc64el",
	    "2.9.1-ubuntu-riscv64",  "2.9.1-ubuntu-s390x",
	    "2.9.1.3-centos7-amd64", "2.9.2-centos7-amd64",
	    "2.10.0-centos7-amd64",  "10.0.0-aaa-amd64",
	};
	size_t n = sizeof(asc) / sizeof(asc[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct ups_binary_version a = tl_binary_version(asc[i]);

		for (size_t j = 0; j < n; j++) {
			struct ups_binary_version b = tl_binary_version(asc[j]);
			int c = ups_binary_version_compare(&a, &b);

			if ((i < j && c != -1) || (i > j && c != 1) ||
			    (i == j && c != 0))
				fail_msg("compare(%s, %s) = %d", asc[i], asc[j],
				         c);
		}
	}
}

static void test_binary_version_order_equal(void **state)
{
	struct ups_binary_version a = tl_binary_version("02.9-ubuntu-amd64");
	struct ups_binary_version b = tl_binary_version("2.9.0-ubuntu-amd64");

	(void)state;
	/* Different spellings of one binary are one place in the order. */
	assert_int_equal(ups_binary_version_compare(&a, &b), 0);
}

static int cmp_bv(const void *pa, const void *pb)
{
	return ups_binary_version_compare(pa, pb);
}

static void test_binary_version_order_sorts(void **state)
{
	static const char *const in[] = {
	    "2.10.0-ubuntu-amd64", "2.9.1-ubuntu-arm64", "2.9.1-focal-amd64",
	    "2.9.2-ubuntu-amd64",  "2.9.1-ubuntu-amd64",
	};
	static const char *const want[] = {
	    "2.9.1-focal-amd64",  "2.9.1-ubuntu-amd64",  "2.9.1-ubuntu-arm64",
	    "2.9.2-ubuntu-amd64", "2.10.0-ubuntu-amd64",
	};
	struct ups_binary_version v[5];
	char buf[UPS_LIMIT_BINARY_VERSION_LEN + 1];

	(void)state;
	for (size_t i = 0; i < 5; i++)
		v[i] = tl_binary_version(in[i]);
	qsort(v, 5, sizeof(v[0]), cmp_bv);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(
		    ups_binary_version_format(&v[i], buf, sizeof(buf)), 0);
		assert_string_equal(buf, want[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_streams),
	    cmocka_unit_test(test_streams_invalid),
	    cmocka_unit_test(test_sha256_hex_valid),
	    cmocka_unit_test(test_sha256_hex_round_trip),
	    cmocka_unit_test(test_sha256_hex_decode_invalid),
	    cmocka_unit_test(test_release),
	    cmocka_unit_test(test_release_product),
	    cmocka_unit_test(test_arch),
	    cmocka_unit_test(test_binary_version),
	    cmocka_unit_test(test_binary_version_invalid),
	    cmocka_unit_test(test_binary_version_format_small),
	    cmocka_unit_test(test_binary_version_check),
	    cmocka_unit_test(test_binary_version_check_invalid),
	    cmocka_unit_test(test_binary_version_check_unknown_release),
	    cmocka_unit_test(test_binary_version_order),
	    cmocka_unit_test(test_binary_version_order_equal),
	    cmocka_unit_test(test_binary_version_order_sorts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
