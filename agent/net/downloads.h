/* The HTTP routes of the published store: a request path the publisher's
 * index knows (agent/publish/publisher.h: /streams/v1/<file>, every item
 * path, /tools/<binary version>, /model/<uuid>/tools/<binary version>) is
 * opened on a libuv worker and handed to the router (agent/net/http.h),
 * which streams it. Register downloads_open() with the data of a struct
 * downloads for the prefixes "/streams/", "/tools/" and "/model/". */
#ifndef UPSTAGE_AGENT_NET_DOWNLOADS_H
#define UPSTAGE_AGENT_NET_DOWNLOADS_H

#include "agent/net/http.h"
#include "agent/publish/publisher.h"

struct downloads {
	struct publisher *publisher; /* borrowed */
};

/* An http_route open(): data is a struct downloads. UPS_ERR_NOT_FOUND
 * for a path the index does not hold. */
int downloads_open(void *data, const char *path, struct http_request *req);

#endif
