/*
 * DOC: api_store_sqlite.c — the default store: one SQLite file in WAL mode.
 *
 * One connection guarded by a mutex held for a whole transaction: tern-api's
 * writes are short, and one writer at a time is what SQLite allows anyway;
 * holding the mutex across BEGIN..COMMIT also makes "read the free values,
 * then claim one" atomic without retry loops. A write that was answered 201
 * survives a power cut, as the issue requires: nothing is answered before
 * an fdatasync of the WAL that covers its COMMIT (see "Durability" below).
 *
 * Group commit: durability is one fsync per COMMIT, and with one COMMIT
 * per request that fsync was the whole cost of a write. A request
 * runs inside a SAVEPOINT of a transaction that may hold the requests
 * before it; when other writers are waiting for the connection it leaves
 * its writes there (RELEASE) and waits, and the last of them COMMITs for
 * all (one fsync), then each gets its answer: none is answered before its
 * writes are durable. A request that fails rolls back to its savepoint
 * only; if its failure was decided on writes of the group, it waits for
 * them too (-EAGAIN, redo, if they were lost). A reader commits the open
 * group first. A group also commits once it holds half of the writers
 * under way: its writers then wait for their fsync while the other half
 * forms the next group, instead of every client waiting for one fsync and
 * the lock standing idle meanwhile (+8 % pairs/s with 8 clients, +14 % with
 * 2, none lost with 16 or 32).
 *
 * Durability: with synchronous=FULL the COMMIT's fsync ran under the lock,
 * so the next group could not form while the disk worked. Now SQLite runs
 * with synchronous=NORMAL (a COMMIT writes the WAL without syncing it;
 * checkpoints still sync, and the file stays consistent after a crash) and
 * tern makes each COMMIT durable itself after letting go of the lock: an
 * fdatasync of the WAL file through a descriptor of its own, which flushes
 * every frame written before it, so one fsync serves every COMMIT made
 * until it started (durable()). Every answer waits for it: a writer for its
 * group's COMMIT, a reader (and a writer that failed) for the newest COMMIT
 * it could have seen, so nothing leaves tern-api, not even a watch event or
 * a 409, that a power cut could take back. (Another process on the same
 * file could read a COMMIT of ours before its fsync; tern-api runs one
 * process per SQLite file.)
 *
 * The revision counter lives in its own row (meta), not in the events
 * table, so that compacting old events cannot make it go back. Compaction
 * deletes the oldest events in transactions of API_COMPACT_CHUNK rows and
 * raises meta's 'compacted' (the floor) in the same transaction, so a
 * reader sees either the events or the floor that says they are gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_pcache.h"
#include "api_store.h"
#include "api_walbuf.h"

/* Requests committed together at most (a bound on how long the first waits). */
#define SQ_GROUP_MAX 64
/* A waiting request looks again this often whether the group is its to commit
 * (a writer counted in want that ended without a word wakes nobody). */
#define SQ_GROUP_LOOK_US 2000

enum stmt {
	S_GET, S_FIND, S_LIST, S_EXISTS_FQN, S_UPSERT, S_DEL, S_REFS_DEL, S_REFS_ADD,
	S_REFERRERS, S_CLAIM_GET, S_CLAIM_ADD, S_CLAIM_GAP, S_RELEASE, S_EVENTS,
	S_EVENT_ADD, S_REV_GET, S_REV_SET, S_FLOOR_GET, S_FLOOR_SET, S_EVENTS_DROP, S_HINT_GET,
	S_HINT_SET, S_HINT_LOWER, N_STMT
};

enum txn { T_BEGIN, T_BEGIN_IMMEDIATE, T_COMMIT, T_ROLLBACK, T_SAVEPOINT, T_RELEASE,
	   T_ROLLBACK_TO, N_TXN };

static const char *const txn_sql[N_TXN] = {
	[T_BEGIN] = "BEGIN", [T_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE", [T_COMMIT] = "COMMIT",
	[T_ROLLBACK] = "ROLLBACK", [T_SAVEPOINT] = "SAVEPOINT req", [T_RELEASE] = "RELEASE req",
	[T_ROLLBACK_TO] = "ROLLBACK TO req",
};

static const char *const stmt_sql[N_STMT] = {
	[S_GET] = "SELECT body FROM objects WHERE uuid=?1",
	[S_FIND] = "SELECT body FROM objects WHERE kind=?1 AND fq_name=?2",
	[S_LIST] = "SELECT body FROM objects WHERE kind=?1 AND (?2 IS NULL OR project=?2) AND "
		   "(?3 IS NULL OR parent=?3) AND (?4 IS NULL OR fq_name=?4) AND "
		   "(?5 IS NULL OR name=?5) ORDER BY fq_name",
	[S_EXISTS_FQN] = "SELECT uuid FROM objects WHERE kind=?1 AND fq_name=?2",
	[S_UPSERT] = "INSERT INTO objects(uuid, kind, fq_name, name, project, parent, version, body) "
		     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(uuid) DO UPDATE SET "
		     "kind=?2, fq_name=?3, name=?4, project=?5, parent=?6, version=?7, body=?8",
	[S_DEL] = "DELETE FROM objects WHERE uuid=?1",
	[S_REFS_DEL] = "DELETE FROM refs WHERE from_uuid=?1",
	[S_REFS_ADD] = "INSERT OR IGNORE INTO refs(from_uuid, field, to_uuid) VALUES(?1,?2,?3)",
	[S_REFERRERS] = "SELECT o.kind, o.uuid, o.fq_name, r.field FROM refs r JOIN objects o "
			"ON o.uuid = r.from_uuid WHERE r.to_uuid=?1 ORDER BY o.kind, o.fq_name",
	[S_CLAIM_GET] = "SELECT owner FROM claims WHERE pool=?1 AND value=?2",
	[S_CLAIM_ADD] = "INSERT INTO claims(pool, value, owner) VALUES(?1,?2,?3)",
	/* the lowest taken value whose successor is free: successor is the gap */
	[S_CLAIM_GAP] = "SELECT a.value + 1 FROM claims a WHERE a.pool=?1 AND a.value>=?2 AND "
			"a.value<?3 AND NOT EXISTS (SELECT 1 FROM claims b WHERE b.pool=?1 AND "
			"b.value=a.value+1) ORDER BY a.value LIMIT 1",
	[S_RELEASE] = "DELETE FROM claims WHERE owner=?1",
	[S_EVENTS] = "SELECT rev, type, kind, uuid, body FROM events WHERE rev>?1 ORDER BY rev "
		     "LIMIT ?2",
	[S_EVENT_ADD] = "INSERT INTO events(rev, type, kind, uuid, body) VALUES(?1,?2,?3,?4,?5)",
	[S_REV_GET] = "SELECT value FROM meta WHERE key='revision'",
	[S_REV_SET] = "INSERT INTO meta(key, value) VALUES('revision', ?1) "
		      "ON CONFLICT(key) DO UPDATE SET value=?1",
	[S_FLOOR_GET] = "SELECT value FROM meta WHERE key='compacted'",
	[S_FLOOR_SET] = "INSERT INTO meta(key, value) VALUES('compacted', ?1) "
			"ON CONFLICT(key) DO UPDATE SET value=?1",
	[S_EVENTS_DROP] = "DELETE FROM events WHERE rev<=?1",
	/* hints (see sq_claim_free): [lo, next) of pool all taken */
	[S_HINT_GET] = "SELECT next FROM hints WHERE pool=?1 AND lo=?2",
	[S_HINT_SET] = "INSERT INTO hints(pool, lo, next) VALUES(?1,?2,?3) "
		       "ON CONFLICT(pool, lo) DO UPDATE SET next=?3",
	/* before owner ?1's claims go: no hint may cover one of them (through
	 * the owner's few claims: left to itself the planner walks the pool's
	 * whole taken range, thousands of rows per write) */
	[S_HINT_LOWER] = "UPDATE hints SET next=(SELECT MIN(c.value) FROM claims c INDEXED BY "
			 "claims_owner WHERE c.owner=?1 AND c.pool=hints.pool AND "
			 "c.value>=hints.lo AND c.value<hints.next) WHERE EXISTS (SELECT 1 FROM "
			 "claims c INDEXED BY claims_owner WHERE c.owner=?1 AND "
			 "c.pool=hints.pool AND c.value>=hints.lo AND c.value<hints.next)",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS objects(uuid TEXT PRIMARY KEY, kind TEXT NOT NULL,"
	" fq_name TEXT NOT NULL, name TEXT NOT NULL, project TEXT, parent TEXT,"
	" version INTEGER NOT NULL, body TEXT NOT NULL, UNIQUE(kind, fq_name));"
	"CREATE INDEX IF NOT EXISTS objects_project ON objects(kind, project);"
	"CREATE INDEX IF NOT EXISTS objects_parent ON objects(parent);"
	"CREATE TABLE IF NOT EXISTS refs(from_uuid TEXT NOT NULL, field TEXT NOT NULL,"
	" to_uuid TEXT NOT NULL, PRIMARY KEY(from_uuid, field, to_uuid));"
	"CREATE INDEX IF NOT EXISTS refs_to ON refs(to_uuid);"
	"CREATE TABLE IF NOT EXISTS claims(pool TEXT NOT NULL, value INTEGER NOT NULL,"
	" owner TEXT NOT NULL, PRIMARY KEY(pool, value));"
	"CREATE INDEX IF NOT EXISTS claims_owner ON claims(owner);"
	"CREATE TABLE IF NOT EXISTS events(rev INTEGER PRIMARY KEY, type TEXT NOT NULL,"
	" kind TEXT NOT NULL, uuid TEXT NOT NULL, body TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS hints(pool TEXT NOT NULL, lo INTEGER NOT NULL,"
	" next INTEGER NOT NULL, PRIMARY KEY(pool, lo));";

/* A request whose writes wait in the open group for its COMMIT: asleep on
 * cv (commit, rollback) or, ended by sq_end, as a callback the sync thread
 * calls once the COMMIT is durable. */
struct sq_waiter {
	int rc;
	uint64_t seq;          /* its group's COMMIT (see durable) */
	bool done;
	bool read;             /* it rolled back on the group's writes (sq_rollback) */
	api_done_cb cb;        /* NULL: a thread sleeps on cv */
	void *arg;
	struct sq_waiter *next;
	pthread_cond_t cv;
};

struct sq_store {
	struct api_store base; /* first: the generic code casts */
	sqlite3 *db;
	sqlite3_stmt *st[N_STMT];
	sqlite3_stmt *tx[N_TXN];
	pthread_mutex_t lock;  /* the connection: held by one request at a time */
	pthread_condattr_t cattr;
	bool txn_write;        /* the request holding lock writes */
	bool sql_open;         /* an SQL write transaction is open (the group) */
	int n;                 /* requests waiting in it */
	int n_ended;           /* of which ended by sq_end: kick commits */
	struct sq_waiter *w;
	int want;              /* writers waiting for lock (atomic) */
	int writers;           /* writers between begin and their answer (atomic) */
	/* durability (durable()); committed moves under lock, the rest under sync_lock */
	int wal_fd;            /* the WAL file, for fdatasync; -1: no WAL (":memory:") */
	uint64_t committed;    /* COMMITs made (atomic) */
	uint64_t synced;       /* COMMITs known durable */
	bool syncing;          /* a thread is in fdatasync */
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cv;
	/* the sync thread: makes the COMMITs of sq_end's requests durable and
	 * calls their callbacks (syncq, under sync_lock) */
	pthread_t sthread;
	bool syncing_thread, sstop;
	struct sq_waiter *syncq;
	struct api_pcache pcache; /* parsed bodies (find, peek), under lock */
	struct api_walbuf walbuf; /* the connection's VFS: a COMMIT's WAL frames in one write */
};

static struct sq_store *sq(struct api_store *s)
{
	return (struct sq_store *)s;
}

/* A prepared statement, reset and unbound for a new use. */
static sqlite3_stmt *stmt(struct sq_store *q, enum stmt i)
{
	sqlite3_stmt *st = q->st[i];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* A transaction statement, prepared once (sqlite3_exec parsed it again
 * every time: ~3 % of tern-api's CPU, under the lock). */
static int txn(struct sq_store *q, enum txn i)
{
	int rc = sqlite3_step(q->tx[i]);
	sqlite3_reset(q->tx[i]);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void sq_close(struct api_store *s)
{
	struct sq_store *q = sq(s);
	if (q->syncing_thread) {
		pthread_mutex_lock(&q->sync_lock);
		q->sstop = true;
		pthread_cond_broadcast(&q->sync_cv);
		pthread_mutex_unlock(&q->sync_lock);
		pthread_join(q->sthread, NULL);
	}
	for (int i = 0; i < N_STMT; i++)
		sqlite3_finalize(q->st[i]);
	for (int i = 0; i < N_TXN; i++)
		sqlite3_finalize(q->tx[i]);
	sqlite3_close(q->db);
	api_walbuf_unregister(&q->walbuf);
	api_pcache_clear(&q->pcache);
	if (q->wal_fd >= 0)
		close(q->wal_fd);
	pthread_mutex_destroy(&q->lock);
	pthread_mutex_destroy(&q->sync_lock);
	pthread_cond_destroy(&q->sync_cv);
	pthread_condattr_destroy(&q->cattr);
	free(q);
}

/* Statements left mid-step would keep the transaction's snapshot alive. */
static void reset_all(struct sq_store *q)
{
	for (int i = 0; i < N_STMT; i++)
		sqlite3_reset(q->st[i]);
}

/* Outside lock: wait until COMMIT number seq (and all before it) is on disk,
 * syncing the WAL when no other thread is doing it already. 0 or -EIO. */
static int durable(struct sq_store *q, uint64_t seq)
{
	int rc = 0;
	if (q->wal_fd < 0 || seq == 0)
		return 0;
	pthread_mutex_lock(&q->sync_lock);
	while (q->synced < seq) {
		if (q->syncing) {
			pthread_cond_wait(&q->sync_cv, &q->sync_lock);
			continue;
		}
		/* every COMMIT counted so far has written its frames */
		uint64_t upto = __atomic_load_n(&q->committed, __ATOMIC_ACQUIRE);
		q->syncing = true;
		pthread_mutex_unlock(&q->sync_lock);
		rc = fdatasync(q->wal_fd) == 0 ? 0 : -errno;
		pthread_mutex_lock(&q->sync_lock);
		q->syncing = false;
		if (rc == 0 && upto > q->synced)
			q->synced = upto;
		pthread_cond_broadcast(&q->sync_cv);
		if (rc < 0) {
			rc = -EIO; /* the caller answers 500; a later request syncs again */
			break;
		}
	}
	pthread_mutex_unlock(&q->sync_lock);
	return rc;
}

/* An ended request's outcome, for the sync thread to hand over once its
 * COMMIT (w->seq) is durable. */
static void to_sync(struct sq_store *q, struct sq_waiter *w)
{
	pthread_mutex_lock(&q->sync_lock);
	w->next = q->syncq;
	q->syncq = w;
	pthread_cond_broadcast(&q->sync_cv);
	pthread_mutex_unlock(&q->sync_lock);
}

/* Under lock: the newest COMMIT, which whatever is read now may show. */
static uint64_t seen(struct sq_store *q)
{
	return __atomic_load_n(&q->committed, __ATOMIC_RELAXED);
}

/* Under lock, nobody in a request: COMMIT the open group and give every
 * request in it the outcome and the COMMIT's number (to wait for its fsync). */
static void group_commit(struct sq_store *q)
{
	reset_all(q);
	int rc = txn(q, T_COMMIT);
	if (rc < 0)
		txn(q, T_ROLLBACK);
	uint64_t seq = rc < 0 ? 0 : __atomic_add_fetch(&q->committed, 1, __ATOMIC_RELEASE);
	q->sql_open = false;
	for (struct sq_waiter *w = q->w, *nx; w; w = nx) {
		nx = w->next; /* w's stack frame may be gone once done is seen */
		w->rc = rc;
		w->seq = seq;
		if (w->cb) {
			to_sync(q, w);
			continue;
		}
		w->done = true;
		pthread_cond_signal(&w->cv);
	}
	q->w = NULL;
	q->n = 0;
	q->n_ended = 0;
}

/* Under lock, the request over: wait in the group for its COMMIT, or make
 * it when no other writer is waiting for the connection (or the group is
 * full). Unlocks. Returns the COMMIT's outcome, once it is durable. */
static int group_join(struct sq_store *q)
{
	struct sq_waiter w = { .rc = 0 };
	pthread_cond_init(&w.cv, &q->cattr);
	w.next = q->w;
	q->w = &w;
	q->n++;
	while (!w.done) {
		/* holding lock: nobody is in a request now */
		if (__atomic_load_n(&q->want, __ATOMIC_SEQ_CST) == 0 || q->n >= SQ_GROUP_MAX ||
		    2 * q->n >= __atomic_load_n(&q->writers, __ATOMIC_SEQ_CST)) {
			group_commit(q);
			break;
		}
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_nsec += SQ_GROUP_LOOK_US * 1000L;
		t.tv_sec += t.tv_nsec / 1000000000L;
		t.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&w.cv, &q->lock, &t);
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_unlock(&q->lock);
	int rc = w.rc < 0 ? w.rc : durable(q, w.seq);
	__atomic_sub_fetch(&q->writers, 1, __ATOMIC_SEQ_CST);
	return rc;
}

/* Under lock, a writer that ends with nothing to wait for: the group is
 * committed when nobody else is coming. Unlocks, then waits until what the
 * writer read is durable (its answer may depend on it). */
static void leave(struct sq_store *q)
{
	if (q->sql_open && (q->n == 0 || __atomic_load_n(&q->want, __ATOMIC_SEQ_CST) == 0)) {
		if (q->n == 0) {
			txn(q, T_ROLLBACK); /* nothing of anyone's in it */
			q->sql_open = false;
		} else {
			group_commit(q);
		}
	}
	uint64_t upto = seen(q);
	pthread_mutex_unlock(&q->lock);
	durable(q, upto);
	__atomic_sub_fetch(&q->writers, 1, __ATOMIC_SEQ_CST);
}

static int sq_begin(struct api_store *s, bool write)
{
	struct sq_store *q = sq(s);
	if (write) {
		/* counted while queueing: a request that sees others coming leaves
		 * its writes for the last of them to commit */
		__atomic_add_fetch(&q->writers, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&q->want, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_lock(&q->lock);
		__atomic_sub_fetch(&q->want, 1, __ATOMIC_SEQ_CST);
	} else {
		pthread_mutex_lock(&q->lock);
		if (q->sql_open)
			group_commit(q); /* a reader sees durable writes only */
	}
	q->txn_write = write;
	/* IMMEDIATE takes the write lock now, so two processes on one file
	 * cannot both read a free value and then both claim it. */
	if (write && !q->sql_open) {
		if (txn(q, T_BEGIN_IMMEDIATE) < 0) {
			pthread_mutex_unlock(&q->lock);
			__atomic_sub_fetch(&q->writers, 1, __ATOMIC_SEQ_CST);
			return -EIO;
		}
		q->sql_open = true;
	}
	if (txn(q, write ? T_SAVEPOINT : T_BEGIN) < 0) {
		if (write)
			leave(q);
		else
			pthread_mutex_unlock(&q->lock);
		return -EIO;
	}
	return 0;
}

static int sq_commit(struct api_store *s)
{
	struct sq_store *q = sq(s);
	reset_all(q);
	if (!q->txn_write) {
		int rc = txn(q, T_COMMIT);
		if (rc < 0)
			txn(q, T_ROLLBACK);
		uint64_t upto = seen(q);
		pthread_mutex_unlock(&q->lock);
		return rc < 0 ? rc : durable(q, upto);
	}
	if (txn(q, T_RELEASE) < 0) {
		txn(q, T_ROLLBACK_TO);
		txn(q, T_RELEASE);
		leave(q);
		return -EIO;
	}
	return group_join(q);
}

static int sq_rollback(struct api_store *s)
{
	struct sq_store *q = sq(s);
	reset_all(q);
	if (!q->txn_write) {
		txn(q, T_ROLLBACK);
		uint64_t upto = seen(q);
		pthread_mutex_unlock(&q->lock);
		return durable(q, upto) < 0 ? -EIO : 0;
	}
	txn(q, T_ROLLBACK_TO);
	txn(q, T_RELEASE);
	if (q->n == 0) {
		leave(q);
		return 0; /* one writer at a time, on its own snapshot: what it read held */
	}
	/* it read the group's writes: what made it give up holds if they commit */
	return group_join(q) < 0 ? -EAGAIN : 0;
}

/* Under lock, a writer ended by sq_end with nothing to wait for in the
 * group: as leave, but the wait for durability is the sync thread's. */
static void leave_ended(struct sq_store *q, struct sq_waiter *w)
{
	if (q->sql_open && q->n == 0) {
		txn(q, T_ROLLBACK); /* nothing of anyone's in it */
		q->sql_open = false;
	}
	w->seq = seen(q);
	pthread_mutex_unlock(&q->lock);
	to_sync(q, w);
}

static void sq_end(struct api_store *s, bool abort, api_done_cb cb, void *arg)
{
	struct sq_store *q = sq(s);
	struct sq_waiter *w = q->txn_write ? calloc(1, sizeof(*w)) : NULL;
	if (!w) { /* a reader (not worth a thread's turn), or out of memory */
		int rc = abort ? sq_rollback(s) : sq_commit(s);
		cb(arg, rc);
		return;
	}
	w->cb = cb;
	w->arg = arg;
	reset_all(q);
	if (abort) {
		txn(q, T_ROLLBACK_TO);
		txn(q, T_RELEASE);
		/* it read the group's writes, if any: what made it give up holds
		 * if they commit */
		w->read = true;
	} else if (txn(q, T_RELEASE) < 0) {
		txn(q, T_ROLLBACK_TO);
		txn(q, T_RELEASE);
		w->rc = -EIO;
		leave_ended(q, w);
		return;
	}
	if (abort && q->n == 0) {
		leave_ended(q, w);
		return;
	}
	w->next = q->w;
	q->w = w;
	q->n++;
	q->n_ended++;
	pthread_mutex_unlock(&q->lock);
}

static int sq_kick(struct api_store *s)
{
	struct sq_store *q = sq(s);
	pthread_mutex_lock(&q->lock);
	if (q->sql_open && q->n_ended)
		group_commit(q); /* every request of the loop's round is in it */
	pthread_mutex_unlock(&q->lock);
	return -1;
}

/* The COMMITs of ended requests made durable, one fdatasync for all that
 * are queued, then their callbacks. */
static void *sync_main(void *arg)
{
	struct sq_store *q = arg;
	pthread_mutex_lock(&q->sync_lock);
	for (;;) {
		if (!q->syncq) {
			if (q->sstop)
				break;
			pthread_cond_wait(&q->sync_cv, &q->sync_lock);
			continue;
		}
		struct sq_waiter *list = q->syncq;
		q->syncq = NULL;
		uint64_t upto = 0;
		for (struct sq_waiter *w = list; w; w = w->next)
			if (w->seq > upto)
				upto = w->seq;
		pthread_mutex_unlock(&q->sync_lock);
		int rc = durable(q, upto);
		for (struct sq_waiter *w = list, *nx; w; w = nx) {
			nx = w->next;
			int r = w->rc < 0 ? w->rc : rc;
			__atomic_sub_fetch(&q->writers, 1, __ATOMIC_SEQ_CST);
			w->cb(w->arg, w->read ? (r < 0 ? -EAGAIN : 0) : r);
			free(w);
		}
		pthread_mutex_lock(&q->sync_lock);
	}
	pthread_mutex_unlock(&q->sync_lock);
	return NULL;
}

static int body_of(sqlite3_stmt *st, int col, json_t **obj)
{
	const char *txt = (const char *)sqlite3_column_text(st, col);
	*obj = txt ? json_loads(txt, 0, NULL) : NULL;
	return *obj ? 0 : -EIO;
}

static int one_body(sqlite3_stmt *st, json_t **obj)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return -EIO;
	return body_of(st, 0, obj);
}

static int sq_get(struct api_store *s, const char *uuid, json_t **obj)
{
	sqlite3_stmt *st = stmt(sq(s), S_GET);
	bind_text(st, 1, uuid);
	return one_body(st, obj);
}

/* find and peek: the body through the parsed-body cache, keyed by kind and
 * name (the project and network every create looks up, parsed once). */
static int find_as(struct api_store *s, const char *kind, const char *fq_name, json_t **obj,
		   bool shared)
{
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = stmt(q, S_FIND);
	bind_text(st, 1, kind);
	bind_text(st, 2, fq_name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	const char *txt = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (!txt)
		return -EIO;
	char key[512];
	snprintf(key, sizeof(key), "%s/%s", kind, fq_name);
	return api_pcache_get(&q->pcache, key, txt, shared, obj);
}

static int sq_find(struct api_store *s, const char *kind, const char *fq_name, json_t **obj)
{
	return find_as(s, kind, fq_name, obj, false);
}

static int sq_peek(struct api_store *s, const char *kind, const char *fq_name, json_t **obj)
{
	return find_as(s, kind, fq_name, obj, true);
}

static int sq_list(struct api_store *s, const struct api_filter *f, api_obj_cb cb, void *arg)
{
	sqlite3_stmt *st = stmt(sq(s), S_LIST);
	bind_text(st, 1, f->kind);
	bind_text(st, 2, f->project);
	bind_text(st, 3, f->parent);
	bind_text(st, 4, f->fq_name);
	bind_text(st, 5, f->name);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o;
		if (body_of(st, 0, &o) < 0)
			return -EIO;
		int r = cb(arg, o);
		json_decref(o);
		if (r)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int get_rev(struct sq_store *q, int64_t *rev)
{
	sqlite3_stmt *st = stmt(q, S_REV_GET);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*rev = 0;
		return 0;
	}
	if (rc != SQLITE_ROW)
		return -EIO;
	*rev = sqlite3_column_int64(st, 0);
	return 0;
}

/* Take the next revision and log the event: the two always go together. */
/* Take the next revision and log the event; *bodyp (when given): the
 * body's text, for the caller to store too (dumped once). */
static int add_event(struct sq_store *q, const char *type, json_t *obj, int64_t *rev,
		     char **bodyp)
{
	int64_t r;
	if (get_rev(q, &r) < 0)
		return -EIO;
	r++;
	json_object_set_new(obj, "version", json_integer(r));
	char *body = json_dumps(obj, JSON_COMPACT);
	if (!body)
		return -ENOMEM;
	sqlite3_stmt *st = stmt(q, S_REV_SET);
	sqlite3_bind_int64(st, 1, r);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	if (rc == 0) {
		st = stmt(q, S_EVENT_ADD);
		sqlite3_bind_int64(st, 1, r);
		bind_text(st, 2, type);
		bind_text(st, 3, json_string_value(json_object_get(obj, "kind")));
		bind_text(st, 4, json_string_value(json_object_get(obj, "uuid")));
		sqlite3_bind_text(st, 5, body, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	}
	if (rc == 0 && bodyp)
		*bodyp = body;
	else
		free(body);
	*rev = r;
	return rc;
}

static const char *str_of(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int sq_put(struct api_store *s, json_t *obj, json_t *refs, int64_t *rev)
{
	struct sq_store *q = sq(s);
	const char *uuid = str_of(obj, "uuid");
	sqlite3_stmt *st = stmt(q, S_EXISTS_FQN);
	bind_text(st, 1, str_of(obj, "kind"));
	bind_text(st, 2, str_of(obj, "fq_name"));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), uuid) != 0)
		return -EEXIST;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	bool exists = false;
	st = stmt(q, S_GET);
	bind_text(st, 1, uuid);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	exists = rc == SQLITE_ROW;

	char *body;
	if ((rc = add_event(q, exists ? "MODIFIED" : "ADDED", obj, rev, &body)) < 0)
		return rc;
	st = stmt(q, S_UPSERT);
	bind_text(st, 1, uuid);
	bind_text(st, 2, str_of(obj, "kind"));
	bind_text(st, 3, str_of(obj, "fq_name"));
	bind_text(st, 4, str_of(obj, "name"));
	bind_text(st, 5, str_of(obj, "project"));
	bind_text(st, 6, str_of(obj, "parent"));
	sqlite3_bind_int64(st, 7, *rev);
	sqlite3_bind_text(st, 8, body, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	free(body);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return -EIO;
	st = stmt(q, S_REFS_DEL);
	bind_text(st, 1, uuid);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -EIO;
	size_t i;
	json_t *r;
	json_array_foreach(refs, i, r) {
		st = stmt(q, S_REFS_ADD);
		bind_text(st, 1, uuid);
		bind_text(st, 2, json_string_value(json_array_get(r, 0)));
		bind_text(st, 3, json_string_value(json_array_get(r, 1)));
		if (sqlite3_step(st) != SQLITE_DONE)
			return -EIO;
	}
	return 0;
}

static int sq_del(struct api_store *s, json_t *obj, int64_t *rev)
{
	struct sq_store *q = sq(s);
	const char *uuid = str_of(obj, "uuid");
	sqlite3_stmt *st = stmt(q, S_DEL);
	bind_text(st, 1, uuid);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -EIO;
	if (sqlite3_changes(q->db) == 0)
		return -ENOENT;
	st = stmt(q, S_REFS_DEL);
	bind_text(st, 1, uuid);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -EIO;
	return add_event(q, "DELETED", obj, rev, NULL);
}

static int sq_referrers(struct api_store *s, const char *uuid, json_t **out)
{
	sqlite3_stmt *st = stmt(sq(s), S_REFERRERS);
	bind_text(st, 1, uuid);
	json_t *a = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}",
			"kind", (const char *)sqlite3_column_text(st, 0),
			"uuid", (const char *)sqlite3_column_text(st, 1),
			"fq_name", (const char *)sqlite3_column_text(st, 2),
			"field", (const char *)sqlite3_column_text(st, 3)));
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return -EIO;
	}
	*out = a;
	return 0;
}

static int sq_claim(struct api_store *s, const char *pool, uint64_t value, const char *owner,
		    char *holder)
{
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = stmt(q, S_CLAIM_GET);
	bind_text(st, 1, pool);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)value);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 0);
		if (strcmp(h, owner) == 0)
			return 0;
		snprintf(holder, 37, "%s", h);
		return -EEXIST;
	}
	if (rc != SQLITE_DONE)
		return -EIO;
	st = stmt(q, S_CLAIM_ADD);
	bind_text(st, 1, pool);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)value);
	bind_text(st, 3, owner);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

/*
 * The lowest free value of [lo, hi]. The gap query walks the taken values
 * from where it starts, so from lo it cost one index probe per address
 * already given (a /16 filling up: thousands per allocation). A hint row
 * per (pool, lo), "[lo, next) all taken", written in the same transaction
 * as the claims, lets it start at next; every release lowers the hints
 * that cover a value it frees (S_HINT_LOWER), in SQL, so another process
 * on the same file keeps them true too, and the answer is still the
 * lowest free value.
 */
static int sq_claim_free(struct api_store *s, const char *pool, uint64_t lo, uint64_t hi,
			 const char *owner, uint64_t *value)
{
	struct sq_store *q = sq(s);
	char holder[37];
	if (lo > hi)
		return -ENOSPC;
	uint64_t from = lo;
	sqlite3_stmt *st = stmt(q, S_HINT_GET);
	bind_text(st, 1, pool);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)lo);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 0) > lo)
		from = (uint64_t)sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	if (from > hi)
		return -ENOSPC;
	/* from itself, unless anyone (the owner too) holds it: each call must
	 * give the owner a new value */
	st = stmt(q, S_CLAIM_GET);
	bind_text(st, 1, pool);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
	rc = sqlite3_step(st);
	uint64_t v = from;
	if (rc == SQLITE_ROW) {
		/* from is taken, so the values from it up to the gap are too */
		st = stmt(q, S_CLAIM_GAP);
		bind_text(st, 1, pool);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)hi);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			return -ENOSPC;
		if (rc != SQLITE_ROW)
			return -EIO;
		v = (uint64_t)sqlite3_column_int64(st, 0);
	} else if (rc != SQLITE_DONE) {
		return -EIO;
	}
	rc = sq_claim(s, pool, v, owner, holder);
	if (rc < 0)
		return rc;
	*value = v;
	st = stmt(q, S_HINT_SET); /* [lo, v] is all taken now */
	bind_text(st, 1, pool);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)lo);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(v + 1));
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

static int sq_release(struct api_store *s, const char *owner)
{
	sqlite3_stmt *st = stmt(sq(s), S_HINT_LOWER);
	bind_text(st, 1, owner);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -EIO;
	st = stmt(sq(s), S_RELEASE);
	bind_text(st, 1, owner);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

static int get_floor(struct sq_store *q, int64_t *floor)
{
	sqlite3_stmt *st = stmt(q, S_FLOOR_GET);
	int rc = sqlite3_step(st);
	*floor = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

static int sq_floor(struct api_store *s, int64_t *floor)
{
	return get_floor(sq(s), floor);
}

static int sq_events(struct api_store *s, int64_t since, int limit, api_event_cb cb, void *arg)
{
	int64_t floor;
	if (get_floor(sq(s), &floor) < 0)
		return -EIO;
	if (since < floor)
		return -ESTALE;
	sqlite3_stmt *st = stmt(sq(s), S_EVENTS);
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int(st, 2, limit);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int r = cb(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			   (const char *)sqlite3_column_text(st, 2),
			   (const char *)sqlite3_column_text(st, 3),
			   (const char *)sqlite3_column_text(st, 4));
		if (r)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int sq_revision(struct api_store *s, int64_t *rev)
{
	return get_rev(sq(s), rev);
}

/* One chunk per transaction: a writer waits for one chunk at most. */
static int sq_compact(struct api_store *s, int64_t upto)
{
	struct sq_store *q = sq(s);
	for (;;) {
		int64_t floor, rev;
		if (sq_begin(s, true) < 0)
			return -EIO;
		if (get_floor(q, &floor) < 0 || get_rev(q, &rev) < 0) {
			sq_rollback(s);
			return -EIO;
		}
		int64_t to = upto < rev ? upto : rev;
		if (to - floor > API_COMPACT_CHUNK)
			to = floor + API_COMPACT_CHUNK;
		if (to <= floor) {
			sq_rollback(s);
			return 0;
		}
		sqlite3_stmt *st = stmt(q, S_EVENTS_DROP);
		sqlite3_bind_int64(st, 1, to);
		int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
		if (rc == 0) {
			st = stmt(q, S_FLOOR_SET);
			sqlite3_bind_int64(st, 1, to);
			rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
		}
		if (rc < 0) {
			sq_rollback(s);
			return rc;
		}
		if (sq_commit(s) < 0)
			return -EIO;
	}
}

static const struct api_store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.get = sq_get,
	.find = sq_find,
	.peek = sq_peek,
	.list = sq_list,
	.put = sq_put,
	.del = sq_del,
	.referrers = sq_referrers,
	.claim = sq_claim,
	.claim_free = sq_claim_free,
	.release = sq_release,
	.events = sq_events,
	.revision = sq_revision,
	.floor = sq_floor,
	.compact = sq_compact,
	.end = sq_end,
	.kick = sq_kick,
};

/* In WAL mode on a file, open the WAL for durable() and let COMMIT skip its
 * own fsync (synchronous=NORMAL); otherwise (":memory:", a file system
 * without WAL) keep synchronous=FULL. */
static int wal_open(struct sq_store *q, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	bool wal = false;
	if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
		sqlite3_finalize(st);
	}
	const char *file = sqlite3_db_filename(q->db, "main");
	if (!wal || !file || !*file)
		return 0;
	char wpath[4096];
	if (snprintf(wpath, sizeof(wpath), "%s-wal", file) >= (int)sizeof(wpath)) {
		snprintf(err, errlen, "%s: path too long", file);
		return -1;
	}
	q->wal_fd = open(wpath, O_RDONLY | O_CLOEXEC);
	if (q->wal_fd < 0) {
		snprintf(err, errlen, "%s: cannot open SQLite's WAL file to sync it: %s", wpath,
			 strerror(errno));
		return -1;
	}
	if (sqlite3_exec(q->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot set synchronous=NORMAL: %s", file,
			 sqlite3_errmsg(q->db));
		return -1;
	}
	return 0;
}

struct api_store *api_store_sqlite_open(const char *path, char *err, size_t errlen)
{
	struct sq_store *q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->base.ops = &sqlite_ops;
	q->wal_fd = -1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_init(&q->sync_lock, NULL);
	pthread_cond_init(&q->sync_cv, NULL);
	pthread_condattr_init(&q->cattr);
	pthread_condattr_setclock(&q->cattr, CLOCK_MONOTONIC);
	if (api_walbuf_register(&q->walbuf, err, errlen) < 0)
		goto fail;
	/* NOMUTEX: our own mutex serialises every use of the connection. */
	int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, q->walbuf.name);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open the SQLite store: %s (is the directory "
			 "there and writable?)", path, q->db ? sqlite3_errmsg(q->db) :
			 sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(q->db, 10000);
	char *msg = NULL;
	/* temp_store=MEMORY: each request's SAVEPOINT keeps its sub-journal in
	 * memory (past 64 KiB SQLite spilled it to a temporary file, two writes
	 * per page). wal_autocheckpoint=4000 (16 MiB of WAL, SQLite's default
	 * is 1000): a checkpoint runs inside a COMMIT, under the lock, and
	 * copies each page once however often the WAL holds it, so fewer and
	 * larger ones copy less (+4-9 % pairs/s; 10000 gave no more). */
	if (sqlite3_exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 "PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=OFF;"
			 "PRAGMA wal_autocheckpoint=4000;", NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(q->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot set up the store: %s (not a tern-api store?)",
			 path, msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		goto fail;
	}
	if (wal_open(q, err, errlen) < 0)
		goto fail;
	for (int i = 0; i < N_STMT + N_TXN; i++) {
		const char *sql = i < N_STMT ? stmt_sql[i] : txn_sql[i - N_STMT];
		sqlite3_stmt **st = i < N_STMT ? &q->st[i] : &q->tx[i - N_STMT];
		if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: cannot prepare '%s': %s", path, sql,
				 sqlite3_errmsg(q->db));
			goto fail;
		}
	}
	if ((rc = pthread_create(&q->sthread, NULL, sync_main, q)) != 0) {
		snprintf(err, errlen, "cannot start the store's sync thread: %s", strerror(rc));
		goto fail;
	}
	q->syncing_thread = true;
	return &q->base;
fail:
	sq_close(&q->base);
	return NULL;
}
