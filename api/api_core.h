/*
 * DOC: api_core.h — what tern-api does with a request, apart from HTTP:
 * authorise, decode and validate (api_model), resolve references, allocate,
 * check versions, write through the store, wake watchers.
 *
 * Each call is one store transaction: either everything it changes is
 * written with one new revision and one event, or nothing is. The HTTP
 * layer (api_http.c), the unit tests and the benchmark all call these.
 *
 * Every call returns 0 or -1 with e filled (status, field, message).
 */
#ifndef TERN_API_CORE_H
#define TERN_API_CORE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api_model.h"
#include "api_store.h"
#include "tern_log.h"

enum api_role { API_ROLE_READ, API_ROLE_ADMIN };

/* Who is asking: from a bearer token (api_auth). */
struct api_ident {
	enum api_role role;
	char project[API_NAME_MAX + 1]; /* "": every project; else only this one */
	char name[64];                  /* for the log: the token's label */
};

struct api_core {
	struct api_store *store;
	struct tern_log *log;
	uint32_t asn;           /* auto route targets: target:<asn>:<n> */
	/* watchers sleep here until the revision moves or the core stops */
	pthread_mutex_t ev_lock;
	pthread_cond_t ev_cond;
	int64_t rev;
	bool stopping;
	/* >0: also re-read the store's revision this often while waiting,
	 * because other tern-api processes write to the same store (etcd) */
	int poll_ms;
	int64_t polled_ms;      /* CLOCK_MONOTONIC of the last such look */
	/* the event log's compaction (api_core_history): a thread, woken by
	 * cz_cond (under ev_lock) to stop */
	int64_t history;        /* events kept; 0: every event */
	pthread_t compactor;
	bool compacting;
	pthread_cond_t cz_cond;
	/* api_core_on_change's listener (under ev_lock) */
	void (*change_cb)(void *arg);
	void *change_arg;
};

#define API_POLL_MS 50
/* ...and when the store pushes other writers' revisions (etcd's watch):
 * the poll is then only a safety net */
#define API_POLL_PUSHED_MS 1000

/* Auto-assigned ranges (documented in docs/API.md). */
#define API_VNI_AUTO_LO   4096
#define API_VNI_AUTO_HI   16777215
#define API_RT_AUTO_LO    8000000
#define API_RT_AUTO_HI    8999999
#define API_MAC_AUTO_LO   UINT64_C(0x027465000000) /* 02:74:65 "te", locally administered */
#define API_MAC_AUTO_HI   UINT64_C(0x027465ffffff)

/* Returns 0, or -1 with e filled when the store cannot be read. */
int api_core_init(struct api_core *c, struct api_store *s, struct tern_log *lg, uint32_t asn,
		  struct api_err *e);
/* Wakes every watcher (they end their streams); the store stays open. */
void api_core_stop(struct api_core *c);
void api_core_fini(struct api_core *c);

/* *out: the object as stored (new reference). create: 201; a body with a uuid
 * keeps it. update: the body's version, when given, must be the current one
 * (else 409). */
int api_create(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	       const char *body, size_t len, json_t **out, struct api_err *e);
/* Create every object of items ([{"kind": K, "object": {...}}, ...], 1 to
 * API_BATCH_MAX) in one transaction, in order, so a later item may refer to
 * an earlier one by name: all are written, or none (e's field and message
 * then start with "create[i]"). *out: the array of the objects as stored.
 * Errors as api_create's, and 400 for a malformed list. */
#define API_BATCH_MAX 64
int api_create_batch(struct api_core *c, const struct api_ident *id, json_t *items,
		     json_t **out, struct api_err *e);
int api_update(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	       const char *uuid, const char *body, size_t len, json_t **out, struct api_err *e);
/* *out: the deleted object's last state. 409 while anything refers to it. */
int api_delete(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	       const char *uuid, json_t **out, struct api_err *e);
/* The same writes for an event loop that must not block (api_http): fill
 * the request's part of w, then api_write_start does the request's work
 * and ends its store transaction without waiting (the store's end op);
 * done(arg) is called once, before api_write_start returns or later from a
 * store thread, when api_write_finish may be called; it returns 0 with
 * *out, -1 with e, or 1: redo (call api_write_start again: another
 * tern-api committed first). Stores without an end op are waited for. */
enum api_write_op { API_W_CREATE, API_W_BATCH, API_W_UPDATE, API_W_DELETE };
struct api_write {
	/* the request (borrowed until api_write_finish returns) */
	enum api_write_op op;
	const struct api_ident *id;
	const struct api_kind *k;   /* not for API_W_BATCH */
	const char *uuid;           /* API_W_UPDATE, API_W_DELETE */
	const char *body;           /* API_W_CREATE, API_W_UPDATE */
	size_t len;
	json_t *items;              /* API_W_BATCH */
	/* api_core's, between start and finish */
	int attempt;
	int rc;                     /* the work: 0, 1 (an update that changes nothing), -1 */
	bool txn;                   /* a transaction was begun: the store's answer counts */
	int store_rc;               /* commit's or rollback's */
	int64_t rev;
	json_t *obj;                /* the answer if the store agrees */
	struct api_err e;
	void (*done)(void *arg);
	void *arg;
};
void api_write_start(struct api_core *c, struct api_write *w, void (*done)(void *arg),
		     void *arg);
int api_write_finish(struct api_core *c, struct api_write *w, json_t **out, struct api_err *e);
/* The loop ran every request it had: the store may commit them now (its
 * kick op). Returns the ms after which to call it again (-1: no need). */
int api_core_kick(struct api_core *c);

int api_get(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	    const char *uuid, json_t **out, struct api_err *e);

struct api_list_req {
	const char *project, *parent, *fq_name, *name;
	const char *label;  /* "key=value" or "key" (present) */
};
/* *out: {"kind":..,"revision":N,"items":[...]}; a project token sees only
 * its project. */
int api_list(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	     const struct api_list_req *rq, json_t **out, struct api_err *e);

/* Events after since, at most limit (see api_store.h), those id may see;
 * *last is the newest revision scanned (shown or not), the next since. */
int api_events(struct api_core *c, const struct api_ident *id, int64_t since, int limit,
	       api_event_cb cb, void *arg, int64_t *last, struct api_err *e);
/* Sleep until the revision exceeds after, the core stops, or timeout_ms
 * pass. Returns the current revision, or -1 when stopping. */
int64_t api_wait(struct api_core *c, int64_t after, int timeout_ms);
int64_t api_revision(struct api_core *c);
/* For an event loop that cannot sleep in api_wait: cb(arg) is called, from
 * any thread and under a lock (it must only wake the loop), whenever the
 * revision moves or the core stops. api_core_rev: the newest revision
 * known, without asking the store (api_revision asks it when other
 * tern-api processes may write); -1 once the core stops. */
void api_core_on_change(struct api_core *c, void (*cb)(void *arg), void *arg);
int64_t api_core_rev(struct api_core *c);

/* A watch after since can start: 0, or -1 with e a 410 (field "since",
 * e->oldest the oldest revision kept) when events after since were
 * compacted away: the client must list again. api_events fails the same
 * way when a compaction overtakes a slow reader. */
int api_watch_check(struct api_core *c, int64_t since, struct api_err *e);

/* Drop every event but the newest keep (keep >= 1), now. Returns 0, or -1
 * with e filled (500 store error, 503 another replica was compacting). */
int api_compact(struct api_core *c, int64_t keep, struct api_err *e);

/* Keep the newest keep events (0: all, the default): a thread looks once a
 * second and compacts when API_COMPACT_SLACK(keep) more are held, in short
 * store transactions (writers wait for one chunk at most). Stopped by
 * api_core_stop. Returns 0, or -1 with e filled (the thread did not start). */
int api_core_history(struct api_core *c, int64_t keep, struct api_err *e);
#define API_COMPACT_SLACK(keep) ((keep) / 100 > 0 ? (keep) / 100 : 1)
#define API_HISTORY_DEFAULT 100000

#endif /* TERN_API_CORE_H */
