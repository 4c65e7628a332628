/* health-http: a machine is healthy when an HTTP GET of a URL made for it
 * answers 200 within a timeout (a health plugin, plugins/upstage_plugin.h
 * ABI 1.2).
 *
 * health-http.url is a template: {address} becomes the machine's address
 * (an IPv6 address in brackets), {machine} its id, e.g.
 * "http://{address}:17070/healthz". Both are checked before they go in
 * (ups_machine_address_is_valid, ups_machine_id_is_valid shapes), so no
 * URL is built from anything else. health-http.timeout is the whole
 * check's limit in seconds (connect included). Redirects are not
 * followed; anything but 200 is unhealthy, with the status or the
 * transfer error as the reason.
 *
 * Threading: check() runs on several threads at once; each call has its
 * own curl handle, and the settings are read-only after open(). */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/upstage_plugin.h"

#define HEALTH_HTTP_NAME        "health-http"
#define HEALTH_HTTP_URL_MAX     1024
#define HEALTH_HTTP_TIMEOUT_MAX 600

struct health_http {
	const struct ups_plugin_services *svc;
	char url[HEALTH_HTTP_URL_MAX];
	long timeout_ms;
	_Atomic bool cancelled; /* upstaged is stopping */
};

static int health_http_open(const struct ups_plugin_services *svc,
                            void **state, char *err, size_t errlen)
{
	const char *url = svc->config_get(svc->host, "health-http.url");
	const char *timeout =
	    svc->config_get(svc->host, "health-http.timeout");
	struct health_http *h;
	char *end = NULL;
	double t = 5;

	if (!url || !*url)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "health-http: health-http.url is not set");
	if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    strlen(url) >= HEALTH_HTTP_URL_MAX / 2)
		return ups_errf(UPS_ERR_BAD_REQUEST, err, errlen,
		                "health-http: health-http.url must be an "
		                "http:// or https:// URL shorter than %d bytes",
		                HEALTH_HTTP_URL_MAX / 2);
	if (timeout && *timeout) {
		errno = 0;
		t = strtod(timeout, &end);
		if (errno || *end || !(t > 0) || t > HEALTH_HTTP_TIMEOUT_MAX)
			return ups_errf(
			    UPS_ERR_BAD_REQUEST, err, errlen,
			    "health-http: health-http.timeout "
			    "\"%.32s\": seconds, above 0 and at most "
			    "%d",
			    timeout, HEALTH_HTTP_TIMEOUT_MAX);
	}
	/* Not thread-safe, and open() runs before any thread of ours. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return ups_errf(UPS_ERR_IO, err, errlen,
		                "health-http: cannot initialise libcurl");
	h = calloc(1, sizeof(*h));
	if (!h) {
		curl_global_cleanup();
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "health-http: out of memory");
	}
	h->svc = svc;
	snprintf(h->url, sizeof(h->url), "%s", url);
	/* curl takes 0 for "no timeout": never less than a millisecond. */
	h->timeout_ms = t * 1000 < 1 ? 1 : (long)(t * 1000);
	*state = h;
	svc->log(UPS_PLUGIN_LOG_INFO, HEALTH_HTTP_NAME,
	         "machines are healthy when GET %s answers 200 within %ld ms",
	         h->url, h->timeout_ms);
	return 0;
}

static void health_http_close(void *state)
{
	free(state);
	curl_global_cleanup();
}

/* The same shapes as proto/machine.h, restated: a plugin carries no
 * dependency on the host's symbols. */
static bool health_http_safe(const char *s, bool address)
{
	if (!s || !*s || s[0] == '-' || s[0] == '.' || strlen(s) > 253)
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' ||
		      (address && ((c >= 'A' && c <= 'Z') || c == '.' ||
		                   c == ':'))))
			return false;
	}
	return true;
}

/* The template with its placeholders filled in. */
static int health_http_url(const struct health_http *h,
                           const struct ups_health_target *t, char *out,
                           size_t len, char *err, size_t errlen)
{
	size_t o = 0;

	for (const char *p = h->url; *p;) {
		const char *val = NULL;
		bool brackets = false;
		int k;

		if (strncmp(p, "{address}", 9) == 0) {
			if (!health_http_safe(t->address, true))
				return ups_errf(UPS_ERR_BAD_REQUEST, err,
				                errlen,
				                "no usable address known for "
				                "machine %s",
				                t->machine_id);
			val = t->address;
			brackets = strchr(val, ':') != NULL;
			p += 9;
		} else if (strncmp(p, "{machine}", 9) == 0) {
			if (!health_http_safe(t->machine_id, false))
				return ups_errf(UPS_ERR_BAD_REQUEST, err,
				                errlen, "bad machine id");
			val = t->machine_id;
			p += 9;
		}
		if (val)
			k = snprintf(out + o, len - o, brackets ? "[%s]" : "%s",
			             val);
		else
			k = snprintf(out + o, len - o, "%c", *p++);
		if (k < 0 || (size_t)k >= len - o)
			return ups_errf(UPS_ERR_TOO_LARGE, err, errlen,
			                "the health URL is too long");
		o += (size_t)k;
	}
	return 0;
}

/* About once a second, and as data moves: a check running when upstaged
 * stops ends now. */
static int health_http_progress(void *arg, curl_off_t dt, curl_off_t dn,
                                curl_off_t ut, curl_off_t un)
{
	const struct health_http *h = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return h->cancelled ? 1 : 0;
}

static void health_http_cancel(void *state)
{
	struct health_http *h = state;

	h->cancelled = true;
}

/* The body is not looked at. */
static size_t health_http_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int health_http_check(void *state, const struct ups_health_target *t,
                             char *err, size_t errlen)
{
	struct health_http *h = state;
	char url[HEALTH_HTTP_URL_MAX], cerr[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *c;
	int rv;

	rv = health_http_url(h, t, url, sizeof(url), err, errlen);
	if (rv)
		return rv;
	c = curl_easy_init();
	if (!c)
		return ups_errf(UPS_ERR_NO_MEMORY, err, errlen,
		                "GET %s: cannot make a curl handle", url);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, health_http_discard);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "upstage-health-http/0.1");
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, health_http_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		return ups_errf(rc == CURLE_OPERATION_TIMEDOUT
		                    ? UPS_ERR_TIMEOUT
		                    : UPS_ERR_UNAVAILABLE,
		                err, errlen, "GET %s: %s", url,
		                cerr[0] ? cerr : curl_easy_strerror(rc));
	if (status != 200)
		return ups_errf(UPS_ERR_UNAVAILABLE, err, errlen,
		                "GET %s: HTTP %ld", url, status);
	return 0;
}

static const struct ups_health_ops health_http_ops = {
    .struct_size = sizeof(struct ups_health_ops),
    .open = health_http_open,
    .close = health_http_close,
    .check = health_http_check,
    .cancel = health_http_cancel,
};

UPS_PLUGIN_EXPORT const struct ups_plugin_descriptor upstage_plugin_descriptor =
    {
        .abi_major = UPS_PLUGIN_ABI_MAJOR,
        .abi_minor = 2,
        .struct_size = sizeof(struct ups_plugin_descriptor),
        .kind = UPS_PLUGIN_KIND_HEALTH,
        .name = HEALTH_HTTP_NAME,
        .version = "0.1.0",
        .ops = &health_http_ops,
};
