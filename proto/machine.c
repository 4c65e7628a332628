/* Machine ids, order ids, machine states, OS types and orders; see
 * machine.h. */
#include "proto/machine.h"

#include <stdio.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/fields.h"

struct mst_info {
	const char *name;
	unsigned flags;
};

#define UPS_MST_INFO(id, name, flags) [UPS_MST_##id] = {name, flags},
static const struct mst_info mst_table[UPS_MST__COUNT] = {
    UPS_MACHINE_STATES(UPS_MST_INFO)};
#undef UPS_MST_INFO

#define UPS_MST_FITS(id, name, flags)                                          \
	_Static_assert(sizeof(name) <= UPS_MACHINE_STATE_LEN + 1,              \
	               "state name " name " is too long");
UPS_MACHINE_STATES(UPS_MST_FITS)
#undef UPS_MST_FITS

/* [a-z0-9][a-z0-9-]* of 1..max bytes. */
static bool machine_word_is_valid(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || s[0] == '-')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= max)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

bool ups_machine_address_is_valid(const char *s)
{
	size_t n;

	if (!s || s[0] == '-' || s[0] == '.')
		return false;
	n = strnlen(s, UPS_MACHINE_ADDRESS_LEN + 1);
	if (n == 0 || n > UPS_MACHINE_ADDRESS_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == ':' ||
		      c == '-'))
			return false;
	}
	return true;
}

bool ups_machine_id_is_valid(const char *id)
{
	return machine_word_is_valid(id, UPS_LIMIT_MACHINE_ID_LEN);
}

bool ups_order_id_is_valid(const char *id)
{
	return machine_word_is_valid(id, UPS_LIMIT_ORDER_ID_LEN);
}

const char *ups_machine_state_name(enum ups_machine_state s)
{
	if ((unsigned)s >= UPS_MST__COUNT)
		return "unknown";
	return mst_table[s].name;
}

int ups_machine_state_parse(const char *s, enum ups_machine_state *out)
{
	if (s == NULL)
		return UPS_ERR_BAD_REQUEST;
	for (unsigned i = 0; i < UPS_MST__COUNT; i++) {
		if (strcmp(s, mst_table[i].name) == 0) {
			if (out)
				*out = (enum ups_machine_state)i;
			return 0;
		}
	}
	return UPS_ERR_BAD_REQUEST;
}

unsigned ups_machine_state_flags(enum ups_machine_state s)
{
	if ((unsigned)s >= UPS_MST__COUNT)
		return 0;
	return mst_table[s].flags;
}

/* Juju's series and the OS each belongs to (juju/core/series). */
static const struct {
	const char *series;
	const char *os;
} release_os_table[] = {
    {"precise", "ubuntu"},        {"quantal", "ubuntu"},
    {"raring", "ubuntu"},         {"saucy", "ubuntu"},
    {"trusty", "ubuntu"},         {"utopic", "ubuntu"},
    {"vivid", "ubuntu"},          {"wily", "ubuntu"},
    {"xenial", "ubuntu"},         {"yakkety", "ubuntu"},
    {"zesty", "ubuntu"},          {"artful", "ubuntu"},
    {"bionic", "ubuntu"},         {"cosmic", "ubuntu"},
    {"disco", "ubuntu"},          {"eoan", "ubuntu"},
    {"focal", "ubuntu"},          {"groovy", "ubuntu"},
    {"hirsute", "ubuntu"},        {"impish", "ubuntu"},
    {"jammy", "ubuntu"},          {"kinetic", "ubuntu"},
    {"lunar", "ubuntu"},          {"mantic", "ubuntu"},
    {"noble", "ubuntu"},          {"oracular", "ubuntu"},
    {"plucky", "ubuntu"},         {"centos7", "centos"},
    {"centos8", "centos"},        {"centos9", "centos"},
    {"opensuseleap", "opensuse"}, {"win2008r2", "windows"},
    {"win2012", "windows"},       {"win2012hv", "windows"},
    {"win2012hvr2", "windows"},   {"win2012r2", "windows"},
    {"win2016", "windows"},       {"win2016hv", "windows"},
    {"win2016nano", "windows"},   {"win2019", "windows"},
    {"win7", "windows"},          {"win8", "windows"},
    {"win81", "windows"},         {"win10", "windows"},
};

const char *ups_release_os(const char *release)
{
	size_t n = sizeof(release_os_table) / sizeof(release_os_table[0]);

	if (release == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(release, release_os_table[i].series) == 0)
			return release_os_table[i].os;
	return release;
}

/* http:// or https://, then at least one byte, none of them a control
 * byte, a space or a byte above 0x7e. */
static bool order_url_is_valid(const char *u)
{
	size_t skip;

	if (strncmp(u, "http://", 7) == 0)
		skip = 7;
	else if (strncmp(u, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	if (u[skip] == '\0' || u[skip] == '/')
		return false;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static int order_check_bv(const char *field, const char *bv, char *err,
                          size_t errlen)
{
	char detail[UPS_ERRMSG_MAX];

	detail[0] = '\0';
	if (ups_binary_version_check(bv, NULL, detail, sizeof(detail)))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.%s\": %s", field, detail);
	return 0;
}

int ups_order_parse(const json_t *params, enum ups_order_kind kind,
                    struct ups_order *out, char *err, size_t errlen)
{
	const char *id = NULL, *bv = NULL, *sha = NULL;
	json_t *urls = NULL;
	int64_t size = 0;
	const struct ups_field upgrade_fields[] = {
	    {"order-id", UPS_FIELD_STRING, true, 1, UPS_LIMIT_ORDER_ID_LEN,
	     &id},
	    {"binary-version", UPS_FIELD_STRING, true, 1,
	     UPS_LIMIT_BINARY_VERSION_LEN, &bv},
	    {"urls", UPS_FIELD_ARRAY, true, 0, 0, &urls},
	    {"size", UPS_FIELD_INT, true, 1, 9007199254740991LL, &size},
	    {"sha256", UPS_FIELD_STRING, true, UPS_SHA256_HEX_LEN,
	     UPS_SHA256_HEX_LEN, &sha},
	};
	const struct ups_field revert_fields[] = {
	    {"order-id", UPS_FIELD_STRING, true, 1, UPS_LIMIT_ORDER_ID_LEN,
	     &id},
	    {"revert-to", UPS_FIELD_STRING, true, 1,
	     UPS_LIMIT_BINARY_VERSION_LEN, &bv},
	};
	struct ups_order o;
	int rv;

	if (kind == UPS_ORDER_REVERT)
		rv = ups_fields_unpack(params, "params", revert_fields, 2, err,
		                       errlen);
	else
		rv = ups_fields_unpack(params, "params", upgrade_fields, 5, err,
		                       errlen);
	if (rv)
		return rv;
	if (!ups_order_id_is_valid(id))
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "field \"params.order-id\": not an order id");
	rv = order_check_bv(kind == UPS_ORDER_REVERT ? "revert-to"
	                                             : "binary-version",
	                    bv, err, errlen);
	if (rv)
		return rv;
	memset(&o, 0, sizeof(o));
	o.kind = kind;
	snprintf(o.id, sizeof(o.id), "%s", id);
	snprintf(o.binary_version, sizeof(o.binary_version), "%s", bv);
	if (kind == UPS_ORDER_UPGRADE) {
		size_t n = json_array_size(urls);

		if (!ups_sha256_hex_is_valid(sha))
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "field \"params.sha256\": must be 64 "
			                "lowercase hex digits");
		if (n == 0 || n > UPS_ORDER_URLS_MAX)
			return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
			                "field \"params.urls\": 1 to %d URLs",
			                UPS_ORDER_URLS_MAX);
		for (size_t i = 0; i < n; i++) {
			const json_t *u = json_array_get(urls, i);
			const char *s = json_string_value(u);

			if (!s || json_string_length(u) > UPS_ORDER_URL_LEN ||
			    strlen(s) != json_string_length(u) ||
			    !order_url_is_valid(s))
				return ups_errf(UPS_ERR_BAD_REQUEST, err,
				                errlen,
				                "field \"params.urls[%zu]\": "
				                "not an http(s) URL",
				                i);
			snprintf(o.urls[i], sizeof(o.urls[i]), "%s", s);
		}
		o.nurls = n;
		o.size = (uint64_t)size;
		snprintf(o.sha256, sizeof(o.sha256), "%s", sha);
	}
	*out = o;
	return 0;
}

json_t *ups_order_params(const struct ups_order *o)
{
	json_t *urls;

	if (o->kind == UPS_ORDER_REVERT)
		return json_pack("{s:s, s:s}", "order-id", o->id, "revert-to",
		                 o->binary_version);
	urls = json_array();
	for (size_t i = 0; urls && i < o->nurls; i++)
		if (json_array_append_new(urls, json_string(o->urls[i]))) {
			json_decref(urls);
			urls = NULL;
		}
	if (!urls)
		return NULL;
	return json_pack("{s:s, s:s, s:o, s:I, s:s}", "order-id", o->id,
	                 "binary-version", o->binary_version, "urls", urls,
	                 "size", (json_int_t)o->size, "sha256", o->sha256);
}

int ups_machine_id_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			const char *ea = a, *eb = b;
			size_t la, lb;
			int c;

			while (*a == '0' && a[1] >= '0' && a[1] <= '9')
				a++;
			while (*b == '0' && b[1] >= '0' && b[1] <= '9')
				b++;
			for (ea = a; *ea >= '0' && *ea <= '9'; ea++)
				;
			for (eb = b; *eb >= '0' && *eb <= '9'; eb++)
				;
			la = (size_t)(ea - a);
			lb = (size_t)(eb - b);
			if (la != lb)
				return la < lb ? -1 : 1;
			c = memcmp(a, b, la);
			if (c)
				return c;
			a = ea;
			b = eb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	if (*a || *b)
		return *a ? 1 : -1;
	return 0;
}
