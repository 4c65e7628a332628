/* upstage-fleet's --report file: one JSON object per line, per order a
 * machine received and per state it reported, for tests to read with jq.
 * Every line is built with jansson, so ids, versions and reasons (which
 * may quote a URL or a server's words) are escaped, never pasted in.
 *
 * The lines:
 *   {"t":MS,"event":"order","machine-id":ID,"order-id":OID,
 *    "kind":"upgrade"|"revert","binary-version":BV}
 *   {"t":MS,"event":"state","machine-id":ID,"order-id":OID|"",
 *    "state":S,"version":V,"reason":R|""}
 * t is milliseconds since the fleet started. */
#ifndef UPSTAGE_CONTRIB_FLEET_REPORT_H
#define UPSTAGE_CONTRIB_FLEET_REPORT_H

#include <stdint.h>
#include <stdio.h>

/* Writes an order line to fp. Strings borrowed, UTF-8 (NULL: "").
 * 0, UPS_ERR_BAD_REQUEST (a string is not UTF-8), UPS_ERR_NO_MEMORY or
 * UPS_ERR_IO (fp refused the line); nothing is written on an error
 * before the write. */
int report_order(FILE *fp, uint64_t t_ms, const char *machine_id,
                 const char *order_id, const char *kind,
                 const char *binary_version);

/* Writes a state line to fp; as report_order(). */
int report_state(FILE *fp, uint64_t t_ms, const char *machine_id,
                 const char *order_id, const char *state, const char *version,
                 const char *reason);

#endif
