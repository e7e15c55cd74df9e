/*
 * DOC: bgp_api.c — tern-control's neighbors and routing instances from
 * tern-api: the shared watch (lib/tern_watch.h) of bgp-router and
 * virtual-network objects, kept as two tables uuid -> object. After the
 * first complete list (SYNCED), every batch of events that changes
 * anything rebuilds the desired configuration (bgp_apiconf_build: the
 * file's + tern-api's) and applies it live (bgp_daemon_reconfigure): only
 * the neighbors and instances that changed are touched.
 *
 * tern-api unreachable: the watch logs one line and retries on its own; the
 * last configuration stays as it is. Our own bgp-router missing or unusable:
 * one line (again only when the reason changes), the last configuration
 * stays.
 */
#include "bgp_daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgp_apiconf.h"
#include "tern_watch.h"

struct bgp_api {
	struct tern_watch *w;
	struct tern_log *log;
	struct bgp_conf *base;       /* the file's configuration, as parsed */
	struct bgp_conf *next;       /* scratch: the desired configuration */
	char name[256];
	json_t *routers, *vns;       /* uuid -> object */
	bool synced, dirty;
	uint64_t revision;           /* of the last event taken */
	char last_err[256], last_warn[1024];
	bool id_warned;
};

static void on_event(void *arg, const struct tern_watch_event *ev)
{
	struct bgp_api *a = arg;
	json_t *set = ev->kind && strcmp(ev->kind, "bgp-router") == 0 ? a->routers : a->vns;
	switch (ev->type) {
	case TERN_WATCH_UPSERT:
		json_object_set(set, ev->uuid, ev->object);
		a->dirty = true;
		break;
	case TERN_WATCH_DELETE:
		json_object_del(set, ev->uuid);
		a->dirty = true;
		break;
	case TERN_WATCH_SYNCED:
		a->synced = true;
		a->dirty = true;
		break;
	case TERN_WATCH_DOWN:
		break; /* logged by the watch; the last configuration stays */
	}
	if (ev->revision > a->revision)
		a->revision = ev->revision;
}

/* The desired configuration in a->next; logs what is wrong once per reason. */
static int build(struct bgp_api *a, const char *then)
{
	char err[256], warn[1024];
	int rc = bgp_apiconf_build(a->base, a->routers, a->vns, a->name, a->next, warn,
				   sizeof(warn), err, sizeof(err));
	if (rc < 0) {
		if (strcmp(err, a->last_err) != 0)
			TLOG_WARN(a->log, "tern-api: %s: %s", err, then);
		snprintf(a->last_err, sizeof(a->last_err), "%s", err);
		return rc;
	}
	a->last_err[0] = 0;
	if (warn[0] && strcmp(warn, a->last_warn) != 0)
		TLOG_WARN(a->log, "tern-api: %s", warn);
	snprintf(a->last_warn, sizeof(a->last_warn), "%s", warn);
	return 0;
}

int bgp_api_wait(struct bgp_api *a, struct bgp_conf *conf, volatile sig_atomic_t *stop)
{
	TLOG_INFO(a->log, "waiting for tern-api: bgp-router %s and its peers", a->name);
	while (!*stop) {
		struct pollfd pf = { .fd = tern_watch_fd(a->w), .events = POLLIN };
		if (poll(&pf, 1, 1000) < 0 && errno != EINTR)
			return -errno;
		tern_watch_drain(a->w, on_event, a);
		if (!a->synced || !a->dirty)
			continue;
		a->dirty = false;
		if (build(a, "waiting for it") == 0) {
			bgp_conf_free(conf);
			return bgp_conf_copy(conf, a->next);
		}
	}
	return -EINTR;
}

static void id_check(struct bgp_daemon *d, struct bgp_api *a)
{
	const struct bgp_conf *n = a->next;
	if (n->as == d->conf.as && n->router_id == d->conf.router_id) {
		a->id_warned = false;
		return;
	}
	if (a->id_warned)
		return;
	a->id_warned = true;
	struct in_addr id = { htonl(d->conf.router_id) };
	char s[INET_ADDRSTRLEN];
	TLOG_WARN(&d->log, "tern-api: bgp-router %s changed its asn or address; tern-control "
		  "keeps AS %u and router id %s until it is restarted", a->name, d->conf.as,
		  inet_ntop(AF_INET, &id, s, sizeof(s)) ? s : "?");
}

void bgp_api_process(struct bgp_daemon *d)
{
	struct bgp_api *a = d->api;
	tern_watch_drain(a->w, on_event, a);
	if (!a->synced || !a->dirty)
		return;
	a->dirty = false;
	if (build(a, "keeping the last configuration") < 0)
		return;
	id_check(d, a);
	struct bgp_conf_diff df;
	if (bgp_daemon_reconfigure(d, a->next, &df) < 0) {
		TLOG_ERR(&d->log, "tern-api revision %" PRIu64 ": out of memory comparing the "
			 "configurations; keeping the last one", a->revision);
		a->dirty = true; /* again at the next event */
		return;
	}
	if (df.n_start || df.n_stop || df.n_reset || df.n_vrf_add || df.n_vrf_remove ||
	    df.n_vrf_change)
		TLOG_INFO(&d->log, "tern-api revision %" PRIu64 " applied: neighbors %d new, %d "
			  "removed, %d reset; instances %d new, %d removed, %d changed",
			  a->revision, df.n_start, df.n_stop, df.n_reset, df.n_vrf_add,
			  df.n_vrf_remove, df.n_vrf_change);
	bgp_conf_diff_free(&df);
}

int bgp_api_fd(const struct bgp_api *a)
{
	return tern_watch_fd(a->w);
}

void bgp_api_free(struct bgp_api *a)
{
	if (!a)
		return;
	tern_watch_free(a->w);
	json_decref(a->routers);
	json_decref(a->vns);
	if (a->base)
		bgp_conf_free(a->base);
	if (a->next)
		bgp_conf_free(a->next);
	free(a->base);
	free(a->next);
	free(a);
}

struct bgp_api *bgp_api_new(const struct bgp_api_conf *c, const struct bgp_conf *base,
			    struct tern_log *log, char *err, size_t errlen)
{
	struct bgp_api *a = calloc(1, sizeof(*a));
	if (!a || !(a->base = calloc(1, sizeof(*a->base))) ||
	    !(a->next = calloc(1, sizeof(*a->next))) || bgp_conf_copy(a->base, base) < 0 ||
	    !(a->routers = json_object()) || !(a->vns = json_object())) {
		snprintf(err, errlen, "out of memory");
		bgp_api_free(a);
		return NULL;
	}
	a->log = log;
	snprintf(a->name, sizeof(a->name), "%s", c->name);
	struct tern_watch_conf wc = {
		.url = c->url, .token = c->token, .ca_file = c->ca_file,
		.kinds = { "bgp-router", "virtual-network" },
	};
	if (!(a->w = tern_watch_new(&wc, log, err, errlen))) {
		bgp_api_free(a);
		return NULL;
	}
	return a;
}
