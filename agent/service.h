/* Running under systemd (Type=notify): READY=1 once upstaged listens and
 * its store is open, STATUS= lines saying what it is doing, WATCHDOG=1
 * while the loop is alive when the unit sets WatchdogSec, STOPPING=1 when
 * it stops. Through libsystemd's sd_notify(3); without NOTIFY_SOCKET in
 * the environment every call is a no-op.
 *
 * The status comes from a callback asked every few seconds (and at once
 * on service_status_changed()), so the parts need not know about systemd.
 * Loop thread only. */
#ifndef UPSTAGE_AGENT_SERVICE_H
#define UPSTAGE_AGENT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Writes a one-line status (e.g. "2 uploads in flight, 3 sessions") into
 * buf of len bytes. */
typedef void (*service_status_fn)(void *user, char *buf, size_t len);

struct service {
	uv_loop_t *loop;        /* borrowed */
	bool notify;            /* NOTIFY_SOCKET is set */
	uint64_t watchdog_usec; /* 0: no watchdog */
	uv_timer_t timer;       /* watchdog pings and status refreshes */
	bool timer_open;
	service_status_fn status;
	void *user;
	char last_status[256];
	uint64_t last_status_ms;
};

/* Reads the environment (NOTIFY_SOCKET, WATCHDOG_USEC) and starts the
 * timer when there is anything to send. status may be NULL. 0 or
 * UPS_ERR_IO. */
int service_start(struct service *svc, uv_loop_t *loop,
                  service_status_fn status, void *user);

/* Everything is up: READY=1 with the first status. */
void service_ready(struct service *svc);

/* The status may have changed: send it now if it did. */
void service_status_changed(struct service *svc);

/* Shutdown began: STOPPING=1; the timer closes. */
void service_stopping(struct service *svc);

/* Sends a reload notice (RELOADING=1, then READY=1 with the status) around
 * a SIGHUP's work. */
void service_reloading(struct service *svc, bool done);

#endif
