/* Published paths to HTTP entities. See downloads.h. */
#include "agent/net/downloads.h"

#include <string.h>

#include "proto/errors.h"
#include "proto/log.h"

static void downloads_opened(void *data, int rv, const char *err,
                             const struct publish_opened *o)
{
	struct http_request *req = data;
	struct http_entity ent;

	if (rv) {
		if (rv != UPS_ERR_NOT_FOUND)
			LOG_WARN("http", "cannot serve a download: %s", err);
		http_reply(req, rv, NULL);
		return;
	}
	memset(&ent, 0, sizeof(ent));
	ent.content_type = o->kind == PUBLISH_META ? "application/json"
	                                           : "application/x-tar-gz";
	ent.size = o->size;
	memcpy(ent.etag, o->etag, sizeof(ent.etag));
	ent.fd = o->fd;
	http_reply(req, 0, &ent);
}

int downloads_open(void *data, const char *path, struct http_request *req)
{
	struct downloads *d = data;
	struct publish_target t;
	int rv;

	rv = publisher_lookup(d->publisher, path, &t);
	if (rv)
		return rv;
	return publisher_open_target(d->publisher, &t, downloads_opened, req);
}
