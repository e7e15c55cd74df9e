/*
 * DOC: api_etcd_evlog.h — the etcd store's event log keys (api_store_etcd.c).
 *
 * The events of one batch go to etcd as one key, P ev/<%020 rev> named by
 * the batch's last event: etcd 3.4 indexes every key of a txn and, before
 * applying each txn, copies its buffer of every key written since its last
 * backend commit, so keys cost more than bytes (docs/PERFORMANCE.md,
 * tern-api, session 16). The value is the event's record alone when the
 * batch has one event (the only form older versions wrote), else one line
 * "<rev> <record>" per event, revisions rising, the last one the key's. A
 * record is JSON text without a newline (the store escapes every control
 * character).
 */
#ifndef TERN_API_ETCD_EVLOG_H
#define TERN_API_ETCD_EVLOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Smallest value worth compressing, and the largest text a compressed
 * value may unfold to (far more than etcd takes in one request: its
 * --max-request-bytes is 1.5 MiB unless raised). */
#define API_EVLOG_ZMIN 256
#define API_EVLOG_MAX  (32u << 20)

/* zstd's contexts, kept from call to call (making one costs more than
 * compressing a batch): zeroed to start, made on first use, used by one
 * thread at a time (one per lock), released by api_evlog_z_free. A NULL
 * one makes and drops contexts inside the call. */
struct api_evlog_z {
	void *c, *d; /* ZSTD_CCtx, ZSTD_DCtx */
};

void api_evlog_z_free(struct api_evlog_z *z);

/* One event of a batch: its key P ev/<%020 rev> and its record. */
struct api_evlog_ref {
	const char *key, *rec;
};

/* The key and value (*val, malloc'd, *len bytes, NUL-terminated) holding
 * the n > 0 events evs (sorted here by key); *key points into evs.
 * -EINVAL: no events, or a key that does not end in 20 digits; -ENOMEM. */
int api_evlog_join(struct api_evlog_z *z, struct api_evlog_ref *evs, size_t n,
		   const char **key, char **val, size_t *len);

/* The events of kvs, an array of [key, value] or [key, value, extra] (keys
 * P ev/<%020 rev> in key order, as a range read gives them) that come after
 * revision since: one [P ev/<%020 rev>, record(, extra)] each, in order.
 * -EIO: a key or value not as above (names no revision, revisions that do
 * not rise, a last line that is not the key's revision, a compressed value
 * that does not unfold to such a text within API_EVLOG_MAX); -ENOMEM. */
int api_evlog_split(struct api_evlog_z *z, const char *prefix, json_t *kvs, int64_t since,
		    json_t **out);

#endif
