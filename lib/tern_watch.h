/*
 * DOC: tern_watch.h — the tern-api client of the daemons (tern-agent,
 * tern-control): a consistent stream of the objects a daemon needs (list,
 * then watch from the lists' revision, reconnecting with the last event id),
 * and a few synchronous writes (tern-agent creates the interfaces of pods
 * that name their networks in an annotation).
 *
 * The stream runs in its own thread (libcurl, blocking) and hands events to
 * the daemon's loop through a queue and an eventfd, so a slow or absent
 * tern-api never stalls the daemon's own work. Events per object are in
 * revision order and never go backwards: an event older than what the caller
 * already has for that uuid is dropped (lists and watch overlap).
 *
 * After an outage the watch resumes from the last event id (tern-api keeps
 * the newest events, 100,000 by default): no SYNCED, no repeats. Only when the
 * history is out of reach (the watch is refused: 410 when tern-api compacted
 * its event log past that id, before or during the watch; or tern-api's
 * revision is behind the last event seen: a replaced or restored store) does
 * it list again: UPSERTs for what changed, DELETEs for what is no longer
 * there, then SYNCED again.
 */
#ifndef TERN_WATCH_H
#define TERN_WATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tern_log.h"

#define TERN_WATCH_MAX_KINDS 16

enum tern_watch_ev {
	TERN_WATCH_UPSERT,              /* object added or modified: its current state */
	TERN_WATCH_DELETE,              /* object deleted: its last state */
	TERN_WATCH_SYNCED,              /* every listed object was delivered (once per (re)list) */
	TERN_WATCH_DOWN,                /* tern-api unreachable (message); retries on its own;
					* once per outage */
};

struct tern_watch_event {
	enum tern_watch_ev type;
	const char *kind;              /* "virtual-network", ... (UPSERT/DELETE) */
	const char *uuid;
	uint64_t revision;
	json_t *object;                /* borrowed for the callback; json_incref to keep */
	const char *message;           /* DOWN */
};

struct tern_watch_conf {
	const char *url;               /* http://127.0.0.1:8082 (https with a CA file) */
	const char *token;             /* bearer token, may be NULL (--no-auth servers) */
	const char *ca_file;           /* may be NULL */
	const char *kinds[TERN_WATCH_MAX_KINDS]; /* NULL-terminated: kinds to list and watch */
	unsigned retry_ms;             /* reconnect back-off start, default 200 (max 5 s) */
	unsigned idle_ms;              /* a watch silent this long is presumed dead, default
					* 25000 (tern-api sends a keepalive every 10 s) */
};

struct tern_watch;

/* Copies conf. Returns NULL with a message in err. The thread starts here. */
struct tern_watch *tern_watch_new(const struct tern_watch_conf *conf, struct tern_log *log,
				char *err, size_t errlen);
/* Stop the thread, free queued events. NULL accepted. */
void tern_watch_free(struct tern_watch *a);
/* An fd that polls readable when events are queued. */
int tern_watch_fd(const struct tern_watch *a);
/* Deliver every queued event to cb, in order; returns how many. */
typedef void (*tern_watch_cb)(void *arg, const struct tern_watch_event *ev);
int tern_watch_drain(struct tern_watch *a, tern_watch_cb cb, void *arg);

/*
 * Synchronous requests from the daemon's loop (short; timeout 15 s).
 * On success 0 and, when out is not NULL, the server's object (new ref).
 * On failure a negative errno: -ECONNREFUSED/-ETIMEDOUT (unreachable, err
 * says so), -EINVAL (400), -EEXIST/-EBUSY (409), -ENOENT (404), -EACCES
 * (401/403), -EIO (other), -EPROTO (an answer that is not JSON); err carries
 * the server's message ("POST /v1/virtual-network: 400 subnets[0].cidr: ...").
 * 409 is -EBUSY on a delete (something refers to the object), else -EEXIST.
 * Safe from any thread (serialised on one connection).
 */
int tern_watch_create(struct tern_watch *a, const char *kind, json_t *obj, json_t **out,
		     char *err, size_t errlen);
/* POST /v1/batch: creates every object of items ([{"kind": K, "object":
 * {...}}, ...], at most 64) in one transaction, in order (a later object may
 * name an earlier one): all or none. *out: the created objects, in order
 * (an array, new ref). Errors as tern_watch_create's. */
int tern_watch_create_batch(struct tern_watch *a, json_t *items, json_t **out, char *err,
			    size_t errlen);
/* PUT /v1/<kind>/<uuid>: replaces the object (send "version" to refuse a stale write). */
int tern_watch_update(struct tern_watch *a, const char *kind, const char *uuid, json_t *obj,
		     json_t **out, char *err, size_t errlen);
int tern_watch_delete(struct tern_watch *a, const char *kind, const char *uuid,
		     char *err, size_t errlen);
/* GET /v1/<kind>?<query> → the items array (new ref). */
int tern_watch_list(struct tern_watch *a, const char *kind, const char *query, json_t **items,
		   char *err, size_t errlen);

/* The bearer token of a --token-file: its first word. Returns 0, -errno
 * when the file cannot be read, -EINVAL when it holds no token. */
int tern_watch_read_token(const char *path, char *out, size_t len);

#endif /* TERN_WATCH_H */
