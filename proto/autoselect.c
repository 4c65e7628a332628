/* Upgrade target auto-selection: the documented rules from DESIGN.md
 * "Version rules", made exact. Pure function of its inputs so the CLI,
 * upstaged and the tests all agree. */
#include "proto/autoselect.h"

#include <string.h>

#include "proto/errors.h"

/* a.major.minor <= b.major.minor */
static bool minor_le(const struct ups_version *a, const struct ups_version *b)
{
	if (a->major != b->major)
		return a->major < b->major;
	return a->minor <= b->minor;
}

const char *ups_autoselect_rule_name(enum ups_autoselect_rule rule)
{
#define UPS_AUTOSELECT_NAME(id, name) [UPS_AUTOSELECT_##id] = name,
	static const char *const names[] = {
	    UPS_AUTOSELECT_RULES(UPS_AUTOSELECT_NAME)};
#undef UPS_AUTOSELECT_NAME

	if ((unsigned)rule >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[rule];
}

bool ups_autoselect_considers(const struct ups_version *client,
                              const struct ups_version *agent,
                              const struct ups_version *v)
{
	if (agent->major != client->major)
		return true;
	return ups_version_is_stable(v) && minor_le(v, client);
}

int ups_version_autoselect(const struct ups_version *client,
                           const struct ups_version *agent,
                           const struct ups_version *available, size_t n,
                           struct ups_version *out, char *err, size_t errlen)
{
	return ups_version_select(client, agent, available, n, out, NULL, err,
	                          errlen);
}

int ups_version_select(const struct ups_version *client,
                       const struct ups_version *agent,
                       const struct ups_version *available, size_t n,
                       struct ups_version *out, enum ups_autoselect_rule *rule,
                       char *err, size_t errlen)
{
	const struct ups_version *best_next_minor = NULL;
	const struct ups_version *best_patch = NULL;
	char text[UPS_LIMIT_VERSION_LEN + 1];
	size_t i;

	/* Rule 1: crossing a major is only ever to exactly the client's
	 * version, which must have been published. */
	if (agent->major != client->major) {
		for (i = 0; i < n; i++) {
			if (ups_version_compare(&available[i], client) == 0) {
				*out = available[i];
				if (rule)
					*rule = UPS_AUTOSELECT_CLIENT_VERSION;
				return 0;
			}
		}
		if (ups_version_format(client, text, sizeof(text)) != 0)
			text[0] = '\0';
		return ups_errf(UPS_ERR_NO_SUITABLE_VERSION, err, errlen,
		                "client version %s is not available", text);
	}

	/* Rule 2: stable versions no newer than the client's minor. */
	for (i = 0; i < n; i++) {
		const struct ups_version *v = &available[i];

		if (!ups_autoselect_considers(client, agent, v))
			continue;
		/* 2a. The next minor; agent->minor + 1 must not wrap. */
		if (v->major == agent->major && agent->minor < UINT32_MAX &&
		    v->minor == agent->minor + 1) {
			if (best_next_minor == NULL ||
			    ups_version_compare(v, best_next_minor) > 0)
				best_next_minor = v;
			continue;
		}
		/* 2b. The next patch (or build) of the agent's own minor. */
		if (v->major == agent->major && v->minor == agent->minor &&
		    ups_version_compare(v, agent) > 0) {
			if (best_patch == NULL ||
			    ups_version_compare(v, best_patch) < 0)
				best_patch = v;
		}
	}

	if (best_next_minor != NULL) {
		*out = *best_next_minor;
		if (rule)
			*rule = UPS_AUTOSELECT_NEXT_MINOR;
		return 0;
	}
	if (best_patch != NULL) {
		*out = *best_patch;
		if (rule)
			*rule = UPS_AUTOSELECT_NEXT_PATCH;
		return 0;
	}
	return ups_errf(UPS_ERR_NO_SUITABLE_VERSION, err, errlen,
	                "no more recent supported versions available");
}
