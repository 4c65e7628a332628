/* systemd notifications. See service.h. */
#include "agent/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "proto/errors.h"
#include "proto/log.h"

/* How often the status is looked at when nothing else asks. */
#define SERVICE_STATUS_MS 5000

static void service_send(struct service *svc, const char *msg)
{
	int rv;

	if (!svc->notify)
		return;
	rv = sd_notify(0, msg);
	if (rv < 0)
		LOG_WARN("service", "sd_notify: %s", strerror(-rv));
}

/* Sends STATUS= when the status text changed. */
static void service_send_status(struct service *svc, bool force)
{
	char status[sizeof(svc->last_status)];
	char msg[sizeof(status) + 16];

	if (!svc->notify || !svc->status)
		return;
	svc->status(svc->user, status, sizeof(status));
	if (!force && strcmp(status, svc->last_status) == 0)
		return;
	snprintf(svc->last_status, sizeof(svc->last_status), "%s", status);
	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	service_send(svc, msg);
}

static void service_on_timer(uv_timer_t *t)
{
	struct service *svc = t->data;
	uint64_t now = uv_now(svc->loop);

	/* The loop is alive: that is what the watchdog asks. */
	if (svc->watchdog_usec)
		service_send(svc, "WATCHDOG=1");
	if (now - svc->last_status_ms >= SERVICE_STATUS_MS) {
		svc->last_status_ms = now;
		service_send_status(svc, false);
	}
}

int service_start(struct service *svc, uv_loop_t *loop,
                  service_status_fn status, void *user)
{
	uint64_t period_ms = SERVICE_STATUS_MS;
	int rv;

	memset(svc, 0, sizeof(*svc));
	svc->loop = loop;
	svc->status = status;
	svc->user = user;
	svc->notify = getenv("NOTIFY_SOCKET") != NULL;
	if (!svc->notify)
		return 0;
	if (sd_watchdog_enabled(0, &svc->watchdog_usec) <= 0)
		svc->watchdog_usec = 0;
	/* Twice per watchdog period, as sd_watchdog_enabled(3) advises. */
	if (svc->watchdog_usec && svc->watchdog_usec / 2000 < period_ms)
		period_ms =
		    svc->watchdog_usec / 2000 ? svc->watchdog_usec / 2000 : 1;
	rv = uv_timer_init(loop, &svc->timer);
	if (rv)
		return UPS_ERR_IO;
	svc->timer.data = svc;
	svc->timer_open = true;
	if (uv_timer_start(&svc->timer, service_on_timer, period_ms, period_ms))
		return UPS_ERR_IO;
	LOG_INFO("service", "notifying systemd%s",
	         svc->watchdog_usec ? " and feeding its watchdog" : "");
	return 0;
}

void service_ready(struct service *svc)
{
	service_send(svc, "READY=1");
	svc->last_status_ms = uv_now(svc->loop);
	service_send_status(svc, true);
}

void service_status_changed(struct service *svc)
{
	service_send_status(svc, false);
}

void service_reloading(struct service *svc, bool done)
{
	service_send(svc, done ? "READY=1" : "RELOADING=1");
	if (done)
		service_send_status(svc, true);
}

void service_stopping(struct service *svc)
{
	service_send(svc, "STOPPING=1");
	if (svc->timer_open) {
		uv_timer_stop(&svc->timer);
		uv_close((uv_handle_t *)&svc->timer, NULL);
		svc->timer_open = false;
	}
}
