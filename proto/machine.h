/* The domain words of machines, defined once for upstaged, the CLI, the
 * machine agent and the fleet simulator: machine ids, order ids, machine
 * states, the OS type a series-named release belongs to, and the two
 * order pushes (Machine.Order, Machine.Revert; PROTOCOL.md "Machine").
 *
 * Pure functions of their arguments (no I/O, safe from any thread);
 * strings returned are static. */
#ifndef UPSTAGE_PROTO_MACHINE_H
#define UPSTAGE_PROTO_MACHINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/binary.h"
#include "proto/limits.h"

/* A machine id: 1..UPS_LIMIT_MACHINE_ID_LEN bytes of [a-z0-9-], starting
 * with a letter or digit (Juju's "0", "12", or the tag form "0-lxd-3";
 * never '/', '.', or anything a path could make something of). */
bool ups_machine_id_is_valid(const char *id);

/* Longest address a machine registers with (Machine.Register "address"). */
#define UPS_MACHINE_ADDRESS_LEN 253

/* A host name or a numeric IPv4/IPv6 address (no brackets): 1 to
 * UPS_MACHINE_ADDRESS_LEN bytes of [A-Za-z0-9.:-], not starting with '-'
 * or '.'. Checked before it goes into a URL. */
bool ups_machine_address_is_valid(const char *s);

/* The model of the controller's own machines (DESIGN.md "Rollouts":
 * upgrade-controller moves it; other models follow, never past it).
 * Model names are written like machine ids. */
#define UPS_MODEL_CONTROLLER "controller"

/* Machine ids in the order people count: digit runs compare as numbers
 * ("2" before "10"); <0, 0, >0 as strcmp. */
int ups_machine_id_cmp(const char *a, const char *b);

/* An order id: 1..UPS_LIMIT_ORDER_ID_LEN bytes of [a-z0-9-], starting
 * with a letter or digit. upstaged makes them "o-<epoch>-<n>", unique per
 * database; a machine compares them as opaque strings. */
bool ups_order_id_is_valid(const char *id);

/* X(ID, name, flags): every state a machine can be in (DESIGN.md
 * "Rollouts"). The names are on the wire and in the registry, so they
 * never change; append only. */
#define UPS_MST_REPORTABLE 1u /* a machine may report it */
#define UPS_MST_FINAL      2u /* an order ends in it */
#define UPS_MST_IN_ORDER   4u /* only within an order (needs an order id) */
#define UPS_MACHINE_STATES(X)                                                  \
	X(IDLE, "idle", UPS_MST_REPORTABLE)                                    \
	X(PENDING, "pending", 0)                                               \
	X(ORDERED, "ordered", UPS_MST_REPORTABLE | UPS_MST_IN_ORDER)           \
	X(DOWNLOADING, "downloading", UPS_MST_REPORTABLE | UPS_MST_IN_ORDER)   \
	X(VERIFYING, "verifying", UPS_MST_REPORTABLE | UPS_MST_IN_ORDER)       \
	X(STAGED, "staged", UPS_MST_REPORTABLE | UPS_MST_IN_ORDER)             \
	X(RESTARTING, "restarting", UPS_MST_REPORTABLE | UPS_MST_IN_ORDER)     \
	X(HEALTH_WAIT, "health-wait", UPS_MST_REPORTABLE | UPS_MST_IN_ORDER)   \
	X(HEALTHY, "healthy",                                                  \
	  UPS_MST_REPORTABLE | UPS_MST_IN_ORDER | UPS_MST_FINAL)               \
	X(FAILED, "failed",                                                    \
	  UPS_MST_REPORTABLE | UPS_MST_IN_ORDER | UPS_MST_FINAL)               \
	X(TIMED_OUT, "timed-out", UPS_MST_FINAL)                               \
	X(REVERTING, "reverting", UPS_MST_REPORTABLE | UPS_MST_IN_ORDER)       \
	X(REVERTED, "reverted",                                                \
	  UPS_MST_REPORTABLE | UPS_MST_IN_ORDER | UPS_MST_FINAL)

/* clang-format off */
enum ups_machine_state {
#define UPS_MST_ENUM(id, name, flags) UPS_MST_##id,
	UPS_MACHINE_STATES(UPS_MST_ENUM)
#undef UPS_MST_ENUM
	UPS_MST__COUNT
};
/* clang-format on */

/* Longest state name, without the NUL. */
#define UPS_MACHINE_STATE_LEN 15

/* The name of s; "unknown" when out of range. */
const char *ups_machine_state_name(enum ups_machine_state s);
/* 0 with *out set, or UPS_ERR_BAD_REQUEST. s may be NULL. */
int ups_machine_state_parse(const char *s, enum ups_machine_state *out);
/* The UPS_MST_* flags of s (0 when out of range). */
unsigned ups_machine_state_flags(enum ups_machine_state s);

/* The OS type of a release: a known series ("focal", "centos7",
 * "win2019") gives its OS ("ubuntu", "centos", "windows"); anything else
 * (an OS type already, or an unknown series) is its own. Juju 2.9+ stores
 * agent binaries under the OS type, older ones under the series, so a
 * machine of release R looks for <v>-R-<arch> first, then
 * <v>-ups_release_os(R)-<arch>. Returns release itself or a static
 * string. */
const char *ups_release_os(const char *release);

/* Most download URLs in one order. */
#define UPS_ORDER_URLS_MAX 8
/* Longest download URL. */
#define UPS_ORDER_URL_LEN 1024

enum ups_order_kind {
	UPS_ORDER_UPGRADE, /* Machine.Order */
	UPS_ORDER_REVERT,  /* Machine.Revert */
};

/* An order as a machine receives it. */
struct ups_order {
	enum ups_order_kind kind;
	char id[UPS_LIMIT_ORDER_ID_LEN + 1];
	/* Upgrade: the target; revert: the binary version to go back to. */
	char binary_version[UPS_LIMIT_BINARY_VERSION_LEN + 1];
	/* Upgrade only. */
	uint64_t size;
	char sha256[UPS_SHA256_HEX_LEN + 1];
	size_t nurls;
	char urls[UPS_ORDER_URLS_MAX][UPS_ORDER_URL_LEN + 1];
};

/* Checks the params (borrowed) of a Machine.Order (kind UPGRADE:
 * order-id, binary-version, urls, size, sha256) or Machine.Revert push
 * (REVERT: order-id, revert-to) strictly and fills *out. URLs must be
 * http:// or https:// with no control bytes or spaces; the binary version
 * canonical. 0, or UPS_ERR_BAD_REQUEST with err naming the field. */
int ups_order_parse(const json_t *params, enum ups_order_kind kind,
                    struct ups_order *out, char *err, size_t errlen);

/* The params of o's push (new reference; NULL when out of memory). */
json_t *ups_order_params(const struct ups_order *o);

#endif
