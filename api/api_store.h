/*
 * DOC: api_store.h — where tern-api keeps objects, references, allocations
 * and the event log, behind one small table of operations so that SQLite
 * (the default, api_store_sqlite.c) and etcd (api_store_etcd.c) are
 * interchangeable.
 *
 * Model of a store:
 *  - objects: JSON bodies keyed by UUID, unique by (kind, fq_name), with the
 *    columns the filters need (project, parent);
 *  - refs: who refers to whom (from_uuid, field, to_uuid), so a delete can be
 *    refused naming the referrers;
 *  - claims: (pool, integer value) -> owner UUID, the allocator's memory
 *    (addresses, MACs, VNIs, route targets); released by owner;
 *  - events: one row per write (revision, ADDED|MODIFIED|DELETED, kind, uuid,
 *    the object), revisions global and strictly increasing, kept across
 *    restarts, so a watch resumes from any revision still in the log. The
 *    log is compacted (compact): events up to a floor are dropped, and a
 *    reader asking for events after a revision below the floor gets
 *    -ESTALE, never a silent gap.
 *
 * Every operation runs inside a transaction (begin/commit/rollback): writes
 * are serialised, which is what makes allocation race-free. Operations
 * return 0 or a negative errno; the texts in err say what to fix.
 */
#ifndef TERN_API_STORE_H
#define TERN_API_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_store;

struct api_filter {
	const char *kind;     /* required */
	const char *project;  /* NULL: any */
	const char *parent;   /* parent UUID, NULL: any */
	const char *fq_name;  /* NULL: any */
	const char *name;     /* NULL: any */
};

/* Called per listed object (a borrowed reference); non-zero stops the list
 * and is returned. */
typedef int (*api_obj_cb)(void *arg, json_t *obj);
/* Called per event, in revision order; body is the object's JSON text (after
 * the write; for DELETED, the last state). Non-zero stops and is returned. */
typedef int (*api_event_cb)(void *arg, int64_t rev, const char *type, const char *kind,
			    const char *uuid, const char *body);

/* The outcome of a transaction ended by end: 0 or a negative errno, as
 * commit or rollback would have returned it. */
typedef void (*api_done_cb)(void *arg, int rc);

struct api_store_ops {
	const char *name;
	void (*close)(struct api_store *s);
	/* write=true serialises against every other writer. -EIO on failure. */
	int (*begin)(struct api_store *s, bool write);
	/* -EAGAIN (etcd): another writer committed first; nothing was written. */
	int (*commit)(struct api_store *s);
	/* Ends the transaction writing nothing. 0, or -EAGAIN when what the
	 * transaction read (other requests' writes of the same group commit,
	 * which then failed; on etcd also a mirror that had not yet seen
	 * another replica's write) did not hold: whatever made the caller give
	 * up must be decided again, so the caller redoes the request as for
	 * commit's -EAGAIN. Both stores group commits: commit may wait for the
	 * requests queued behind it, and answers once the writes are durable. */
	int (*rollback)(struct api_store *s);
	/* *obj is a new reference; -ENOENT when absent. */
	int (*get)(struct api_store *s, const char *uuid, json_t **obj);
	int (*find)(struct api_store *s, const char *kind, const char *fq_name, json_t **obj);
	/* Optional (NULL: find serves): as find, but *obj may be shared with
	 * the store's own cache: the caller reads it and lets it go
	 * (json_decref), and never changes it. */
	int (*peek)(struct api_store *s, const char *kind, const char *fq_name, json_t **obj);
	int (*list)(struct api_store *s, const struct api_filter *f, api_obj_cb cb, void *arg);
	/* Create or replace obj (needs uuid, kind, name, fq_name; project and
	 * parent optional). Assigns the next revision, writes it to obj's
	 * "version", replaces obj's refs with refs ([[field, to_uuid], ...]),
	 * appends the event. -EEXIST when (kind, fq_name) belongs to another UUID. */
	int (*put)(struct api_store *s, json_t *obj, json_t *refs, int64_t *rev);
	/* Remove obj (by its uuid) and its refs, append a DELETED event. */
	int (*del)(struct api_store *s, json_t *obj, int64_t *rev);
	/* *out: new array of {"kind","uuid","fq_name","field"} referring to uuid. */
	int (*referrers)(struct api_store *s, const char *uuid, json_t **out);
	/* Claim value in pool for owner: 0 when free or already the owner's;
	 * -EEXIST with holder (37 bytes) set when someone else holds it. */
	int (*claim)(struct api_store *s, const char *pool, uint64_t value, const char *owner,
		     char *holder);
	/* Claim the lowest free value in [lo, hi]; -ENOSPC when none. */
	int (*claim_free)(struct api_store *s, const char *pool, uint64_t lo, uint64_t hi,
			  const char *owner, uint64_t *value);
	/* Release every claim of owner. */
	int (*release)(struct api_store *s, const char *owner);
	/* Events with revision > since, at most limit, in order. -ESTALE when
	 * since is below the compaction floor (some of them were dropped). */
	int (*events)(struct api_store *s, int64_t since, int limit, api_event_cb cb, void *arg);
	/* The compaction floor: every event with revision <= *floor is gone
	 * (0: none ever was). Inside a transaction. */
	int (*floor)(struct api_store *s, int64_t *floor);
	/* Outside any transaction: drop the events with revision <= upto
	 * (capped at the newest revision), in short transactions of at most
	 * API_COMPACT_CHUNK events so that writers wait little; raises the
	 * floor. 0, or -EIO / -EAGAIN (etcd: another replica compacted at the
	 * same time; try again later). */
	int (*compact)(struct api_store *s, int64_t upto);
	/* The newest revision (0 in a new store). */
	int (*revision)(struct api_store *s, int64_t *rev);
	/* Optional (NULL: the store has no other writers). cb(arg, rev) is
	 * called, from another thread, whenever the store learns that another
	 * process wrote revision rev; cb NULL stops it. */
	void (*subscribe)(struct api_store *s, void (*cb)(void *arg, int64_t rev), void *arg);
	/* Optional: the store's last failure in words (which etcd endpoint did
	 * not answer, what etcd said), for a 500's message; "" when none. */
	void (*last_error)(struct api_store *s, char *buf, size_t len);
	/* Optional, for an event loop that must not block (api_http): end a
	 * write transaction as commit (abort false) or rollback would, but
	 * without waiting. The transaction is over when end returns (the next
	 * begin may come at once); done(arg, rc) gets what commit or rollback
	 * would have returned, once that is known and the writes are durable:
	 * before end returns, or later from one of the store's threads, maybe
	 * with the store's lock held (it must neither block nor call the
	 * store). Transactions ended so are committed together by
	 * kick, which the loop calls once it has run every request ready: it
	 * returns the milliseconds after which it wants to be called again
	 * even if nothing happens (-1: no need). */
	void (*end)(struct api_store *s, bool abort, api_done_cb done, void *arg);
	int (*kick)(struct api_store *s);
};

struct api_store {
	const struct api_store_ops *ops;
};

/* Events dropped per compaction transaction. */
#define API_COMPACT_CHUNK 1000

/* Open the store named by target: "sqlite:PATH" or a plain PATH (SQLite;
 * the file is created; ":memory:" for tests). Returns NULL with err filled
 * (what failed and the path). */
struct api_store *api_store_open(const char *target, char *err, size_t errlen);
void api_store_close(struct api_store *s);

/* The SQLite implementation (api_store_sqlite.c). */
struct api_store *api_store_sqlite_open(const char *path, char *err, size_t errlen);

/* The etcd implementation (api_store_etcd.c): endpoints "http://H:P[,...]",
 * keys under prefix (NULL: "tern/"). Fails (err says why) when no endpoint
 * answers. Writers on one etcd (several tern-api) are kept consistent by
 * optimistic transactions: commit returns -EAGAIN when another writer got
 * in first, and the caller redoes the whole transaction. Concurrent writers
 * in one process are committed together (group commit): a commit may wait
 * for the writers queued behind it. Keeps a copy of the store (but the
 * event log) in memory, brought up to date from the event log when another
 * process wrote (a thread watches tern's revision key to know when). */
struct api_store *api_store_etcd_open(const char *endpoints, const char *prefix, char *err,
				      size_t errlen);

#endif /* TERN_API_STORE_H */
