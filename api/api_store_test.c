/*
 * DOC: api_store_test.c — every store (SQLite, and etcd started here on
 * loopback) passes the same tests: objects, uniqueness, refs, claims, and
 * the event log: revisions strictly increase and a reader resuming from any
 * revision gets every later event once, also after the store is closed and
 * opened again; 8 writers with their own connections claiming from one pool
 * at once never get the same value.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "api_b64.h"
#include "api_store.h"
#include "api_testetcd.h"

/* Which store a test runs on: the prestate of each test. */
#define param test_store_param

struct fx {
	const struct param *p;
	char dir[64];
	char path[128];        /* SQLite file, or etcd key prefix */
	struct api_store *s;
};

/* Another connection to the fixture's store (a second tern-api, in effect). */
static struct api_store *open_again(struct fx *f)
{
	return test_store_open(f->p, f->path);
}

static int setup(void **state)
{
	const struct param *p = *state;
	struct fx *f = calloc(1, sizeof(*f));
	f->p = p;
	int place = test_store_place(p, "test", f->dir, sizeof(f->dir), f->path, sizeof(f->path));
	if (place == 1) {
		free(f);
		*state = NULL;
		return 0; /* the test skips */
	}
	if (place < 0)
		return -1;
	if (!(f->s = open_again(f)))
		return -1;
	*state = f;
	return 0;
}

#define NEED_STORE(f)                                              \
	do {                                                       \
		if (!(f)) {                                        \
			fprintf(stderr, "# no etcd: skipped\n"); \
			skip();                                    \
		}                                                  \
	} while (0)

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	api_store_close(f->s);
	if (!f->dir[0]) {
		free(f);
		return 0;
	}
	test_store_remove_sqlite(f->dir, f->path);
	free(f);
	return 0;
}

static json_t *obj(const char *kind, const char *uuid, const char *fq)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "kind", kind, "uuid", uuid, "fq_name", fq, "name", fq);
}

#define U1 "00000000-0000-4000-8000-000000000001"
#define U2 "00000000-0000-4000-8000-000000000002"
#define U3 "00000000-0000-4000-8000-000000000003"

/* One put in its own transaction, redone as api_core does when the store
 * says -EAGAIN (etcd: another connection wrote first, or this one had not
 * yet seen that write). */
static int64_t put(struct api_store *s, json_t *o, json_t *refs)
{
	int64_t rev = 0;
	int rc;
	for (int tries = 0;; tries++) {
		assert_true(tries < 50);
		assert_int_equal(s->ops->begin(s, true), 0);
		rc = s->ops->put(s, o, refs, &rev);
		int end = rc == 0 ? s->ops->commit(s) : s->ops->rollback(s);
		if (end == -EAGAIN)
			continue;
		assert_int_equal(end, 0);
		break;
	}
	json_decref(o);
	json_decref(refs);
	return rc < 0 ? rc : rev;
}

static void test_objects(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *s = f->s;
	assert_int_equal(put(s, obj("project", U1, "demo"), NULL), 1);
	assert_int_equal(put(s, obj("virtual-network", U2, "demo:vn1"),
			     json_pack("[[ss]]", "project", U1)), 2);
	/* same (kind, fq_name), other uuid */
	assert_int_equal(put(s, obj("virtual-network", U3, "demo:vn1"), NULL), -EEXIST);
	/* a failed put leaves the revision alone */
	assert_int_equal(put(s, obj("virtual-network", U3, "demo:vn2"), NULL), 3);

	json_t *o, *refs;
	assert_int_equal(s->ops->begin(s, false), 0);
	assert_int_equal(s->ops->get(s, U2, &o), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
	json_decref(o);
	assert_int_equal(s->ops->find(s, "virtual-network", "demo:vn2", &o), 0);
	json_decref(o);
	assert_int_equal(s->ops->find(s, "virtual-network", "demo:nope", &o), -ENOENT);
	assert_int_equal(s->ops->referrers(s, U1, &refs), 0);
	assert_int_equal(json_array_size(refs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(refs, 0), "fq_name")),
			    "demo:vn1");
	json_decref(refs);
	s->ops->commit(s);

	int64_t rev;
	o = obj("virtual-network", U2, "demo:vn1");
	assert_int_equal(s->ops->begin(s, true), 0);
	assert_int_equal(s->ops->del(s, o, &rev), 0);
	assert_int_equal(rev, 4);
	assert_int_equal(s->ops->referrers(s, U1, &refs), 0);
	assert_int_equal(json_array_size(refs), 0); /* refs go with the object */
	json_decref(refs);
	assert_int_equal(s->ops->commit(s), 0);
	json_decref(o);
}

/* find hands out a copy of its own, which the caller may change; peek (where
 * a store has it) a shared one. Neither a change to find's copy nor a later
 * write of the object may show in what peek hands out, and peek's object is
 * the stored one. */
static void test_peek(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *s = f->s;
	int (*peek)(struct api_store *, const char *, const char *, json_t **) =
		s->ops->peek ? s->ops->peek : s->ops->find;
	assert_int_equal(put(s, obj("project", U1, "demo"), NULL), 1);
	json_t *o, *p;
	assert_int_equal(s->ops->begin(s, false), 0);
	assert_int_equal(peek(s, "project", "demo", &p), 0); /* fills a cache */
	assert_int_equal(s->ops->find(s, "project", "demo", &o), 0);
	json_object_set_new(o, "name", json_string("changed"));
	json_decref(o);
	json_decref(p);
	assert_int_equal(peek(s, "project", "demo", &p), 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "demo");
	assert_int_equal(s->ops->find(s, "project", "demo", &o), 0);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "demo");
	json_decref(o);
	s->ops->commit(s);
	/* a new version of the object, while the old one is still held */
	o = obj("project", U1, "demo");
	json_object_set_new(o, "description", json_string("second"));
	assert_int_equal(put(s, o, NULL), 2);
	assert_null(json_object_get(p, "description"));
	json_decref(p);
	assert_int_equal(s->ops->begin(s, false), 0);
	assert_int_equal(peek(s, "project", "demo", &p), 0);
	assert_string_equal(json_string_value(json_object_get(p, "description")), "second");
	assert_int_equal(json_integer_value(json_object_get(p, "version")), 2);
	json_decref(p);
	assert_int_equal(peek(s, "project", "nope", &p), -ENOENT);
	s->ops->commit(s);
}

static void test_claims(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *s = f->s;
	char holder[37];
	uint64_t v;
	assert_int_equal(s->ops->begin(s, true), 0);
	assert_int_equal(s->ops->claim(s, "p", 5, U1, holder), 0);
	assert_int_equal(s->ops->claim(s, "p", 5, U1, holder), 0); /* idempotent for the owner */
	assert_int_equal(s->ops->claim(s, "p", 5, U2, holder), -EEXIST);
	assert_string_equal(holder, U1);
	assert_int_equal(s->ops->claim_free(s, "p", 3, 10, U2, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(s->ops->claim_free(s, "p", 3, 10, U2, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(s->ops->claim_free(s, "p", 3, 10, U2, &v), 0);
	assert_int_equal(v, 6); /* 5 is U1's */
	assert_int_equal(s->ops->claim_free(s, "p", 3, 6, U3, &v), -ENOSPC);
	assert_int_equal(s->ops->release(s, U1), 0);
	assert_int_equal(s->ops->claim_free(s, "p", 3, 6, U3, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(s->ops->claim(s, "q", 5, U3, holder), 0); /* pools are separate */
	assert_int_equal(s->ops->commit(s), 0);
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* One request as api_core makes them: claims for owner, then its put. */
static void put_claiming(struct api_store *s, json_t *o, json_t *refs, const char *pool,
			 uint64_t value)
{
	char holder[37];
	int64_t rev;
	int rc;
	for (int tries = 0;; tries++) {
		assert_true(tries < 50);
		assert_int_equal(s->ops->begin(s, true), 0);
		assert_int_equal(s->ops->claim(s, pool, value, str(o, "uuid"), holder), 0);
		assert_int_equal(s->ops->put(s, o, refs, &rev), 0);
		if ((rc = s->ops->commit(s)) != -EAGAIN)
			break;
	}
	assert_int_equal(rc, 0);
	json_decref(o);
	json_decref(refs);
}

/* What a store holds besides the bodies (refs, claims: on etcd they travel
 * inside the objects' values) is all there for a process that opens the
 * store afterwards, also after updates that change them. */
static void test_reopen(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *s = f->s;
	char holder[37];
	json_t *refs;
	int64_t rev;
	assert_int_equal(put(s, obj("project", U1, "demo"), NULL), 1);
	put_claiming(s, obj("virtual-network", U2, "demo:vn1"), json_pack("[[ss]]", "project", U1),
		     "vni", 7);
	put_claiming(s, obj("virtual-network", U3, "demo:vn2"), json_pack("[[ss]]", "project", U1),
		     "vni", 8);
	/* vn2 again, now without refs and with a second claim */
	put_claiming(s, obj("virtual-network", U3, "demo:vn2"), NULL, "vni", 9);
	/* vn1 gives its claims back on its own (api_core always rewrites or
	 * deletes the owner too; the store must not depend on it) ... */
	assert_int_equal(s->ops->begin(s, true), 0);
	assert_int_equal(s->ops->release(s, U2), 0);
	assert_int_equal(s->ops->commit(s), 0);
	struct api_store *t = open_again(f);
	assert_non_null(t);
	assert_int_equal(t->ops->begin(t, true), 0);
	assert_int_equal(t->ops->claim(t, "vni", 7, U1, holder), 0);
	assert_int_equal(t->ops->rollback(t), 0);
	api_store_close(t);
	/* ... and is rewritten */
	json_t *o = obj("virtual-network", U2, "demo:vn1");
	refs = json_pack("[[ss]]", "project", U1);
	assert_int_equal(s->ops->begin(s, true), 0);
	assert_int_equal(s->ops->release(s, U2), 0);
	assert_int_equal(s->ops->put(s, o, refs, &rev), 0);
	assert_int_equal(s->ops->commit(s), 0);
	json_decref(o);
	json_decref(refs);

	for (int round = 0; round < 2; round++) {
		/* round 0: a process that opens the store now; 1: the writer */
		t = round == 0 ? open_again(f) : s;
		assert_non_null(t);
		assert_int_equal(t->ops->begin(t, false), 0);
		assert_int_equal(t->ops->referrers(t, U1, &refs), 0);
		assert_int_equal(json_array_size(refs), 1);
		assert_string_equal(str(json_array_get(refs, 0), "fq_name"), "demo:vn1");
		json_decref(refs);
		t->ops->commit(t);
		assert_int_equal(t->ops->begin(t, true), 0);
		assert_int_equal(t->ops->claim(t, "vni", 8, U1, holder), -EEXIST);
		assert_string_equal(holder, U3);
		assert_int_equal(t->ops->claim(t, "vni", 9, U1, holder), -EEXIST);
		assert_string_equal(holder, U3);
		assert_int_equal(t->ops->claim(t, "vni", 7, U1, holder), 0); /* released */
		assert_int_equal(t->ops->rollback(t), 0);
		if (round == 0)
			api_store_close(t);
	}
	/* vn2 deleted: its claims and refs go with it, also for a new process */
	o = obj("virtual-network", U3, "demo:vn2");
	assert_int_equal(s->ops->begin(s, true), 0);
	assert_int_equal(s->ops->release(s, U3), 0);
	assert_int_equal(s->ops->del(s, o, &rev), 0);
	assert_int_equal(s->ops->commit(s), 0);
	json_decref(o);
	t = open_again(f);
	assert_non_null(t);
	assert_int_equal(t->ops->begin(t, true), 0);
	assert_int_equal(t->ops->claim(t, "vni", 8, U1, holder), 0);
	assert_int_equal(t->ops->claim(t, "vni", 9, U1, holder), 0);
	assert_int_equal(t->ops->rollback(t), 0);
	api_store_close(t);
}

struct seen {
	int64_t revs[64];
	int n;
};

static int collect(void *arg, int64_t rev, const char *type, const char *kind, const char *uuid,
		   const char *body)
{
	struct seen *x = arg;
	(void)type;
	(void)kind;
	(void)uuid;
	json_t *o = json_loads(body, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "version")), rev);
	json_decref(o);
	x->revs[x->n++] = rev;
	return 0;
}

static void events(struct api_store *s, int64_t since, int limit, struct seen *x)
{
	memset(x, 0, sizeof(*x));
	assert_int_equal(s->ops->begin(s, false), 0);
	assert_int_equal(s->ops->events(s, since, limit, collect, x), 0);
	s->ops->commit(s);
}

static void test_events_resume(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	char uuid[37], fq[16];
	for (int i = 1; i <= 20; i++) {
		snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012d", i);
		snprintf(fq, sizeof(fq), "p%d", i);
		assert_int_equal(put(f->s, obj("project", uuid, fq), NULL), i);
	}
	struct seen x;
	/* read in pages of 7 from 0: every revision once, in order */
	int64_t cursor = 0, expect = 1;
	for (;;) {
		events(f->s, cursor, 7, &x);
		if (!x.n)
			break;
		for (int i = 0; i < x.n; i++)
			assert_int_equal(x.revs[i], expect++);
		cursor = x.revs[x.n - 1];
		if (cursor == 13) {
			/* a restart in the middle of the reading */
			api_store_close(f->s);
			f->s = open_again(f);
			assert_non_null(f->s);
		}
	}
	assert_int_equal(expect, 21);
	/* writes after the reopen continue the revisions */
	assert_int_equal(put(f->s, obj("project", U1, "late"), NULL), 21);
	events(f->s, 20, 100, &x);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.revs[0], 21);
	int64_t rev;
	assert_int_equal(f->s->ops->begin(f->s, false), 0);
	assert_int_equal(f->s->ops->revision(f->s, &rev), 0);
	f->s->ops->commit(f->s);
	assert_int_equal(rev, 21);
}

struct last_event {
	char type[16], kind[32], uuid[40];
	json_t *body;
};

static int keep_last(void *arg, int64_t rev, const char *type, const char *kind,
		     const char *uuid, const char *body)
{
	struct last_event *x = arg;
	(void)rev;
	snprintf(x->type, sizeof(x->type), "%s", type);
	snprintf(x->kind, sizeof(x->kind), "%s", kind);
	snprintf(x->uuid, sizeof(x->uuid), "%s", uuid);
	json_decref(x->body);
	x->body = json_loads(body, 0, NULL);
	assert_non_null(x->body);
	return 0;
}

/* An event's body is the object as written, whatever its strings hold
 * (quotes, backslashes, control characters, non-ASCII: the etcd store
 * writes the record as text around the body's dump), read through the
 * connection that wrote it and through another one, which replays it. */
static void test_event_text(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	const char *odd = "say \"hi\" \\ C:\\dir\\ tab\tnl\n bell\a é ✓ 😀 </script>";
	json_t *o = obj("project", U1, "odd");
	json_object_set_new(o, "description", json_string(odd));
	assert_int_equal(put(f->s, json_incref(o), NULL), 1);
	struct api_store *b = open_again(f);
	assert_non_null(b);
	for (int i = 0; i < 2; i++) {
		struct api_store *s = i ? b : f->s;
		struct last_event x = { .body = NULL };
		assert_int_equal(s->ops->begin(s, false), 0);
		assert_int_equal(s->ops->events(s, 0, 100, keep_last, &x), 0);
		s->ops->commit(s);
		assert_string_equal(x.type, "ADDED");
		assert_string_equal(x.kind, "project");
		assert_string_equal(x.uuid, U1);
		assert_string_equal(json_string_value(json_object_get(x.body, "description")), odd);
		json_object_set_new(o, "version", json_integer(1));
		assert_true(json_equal(x.body, o));
		json_decref(x.body);
	}
	api_store_close(b);
	json_decref(o);
}

/* events() that must fail: the reader asked below the compaction floor. */
static int events_rc(struct api_store *s, int64_t since, struct seen *x)
{
	memset(x, 0, sizeof(*x));
	assert_int_equal(s->ops->begin(s, false), 0);
	int rc = s->ops->events(s, since, 100, collect, x);
	s->ops->commit(s);
	return rc;
}

static int64_t floor_of(struct api_store *s)
{
	int64_t fl = -1;
	assert_int_equal(s->ops->begin(s, false), 0);
	assert_int_equal(s->ops->floor(s, &fl), 0);
	s->ops->commit(s);
	return fl;
}

/* Compaction drops the oldest events; a reader below the floor gets
 * -ESTALE (never a silent gap), also through another connection that has
 * not heard of the compaction yet, and after a reopen; the revision never
 * moves back, even with every event dropped. */
static void test_compaction(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	char uuid[37], fq[16];
	for (int i = 1; i <= 30; i++) {
		snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012d", i);
		snprintf(fq, sizeof(fq), "p%d", i);
		assert_int_equal(put(f->s, obj("project", uuid, fq), NULL), i);
	}
	struct api_store *s2 = open_again(f);
	assert_non_null(s2);
	struct seen x;
	assert_int_equal(floor_of(f->s), 0);
	assert_int_equal(f->s->ops->compact(f->s, 10), 0);
	assert_int_equal(floor_of(f->s), 10);
	assert_int_equal(events_rc(f->s, 0, &x), -ESTALE);
	assert_int_equal(events_rc(f->s, 9, &x), -ESTALE);
	assert_int_equal(x.n, 0);
	assert_int_equal(events_rc(f->s, 10, &x), 0);
	assert_int_equal(x.n, 20);
	assert_int_equal(x.revs[0], 11);
	/* compacting below the floor changes nothing */
	assert_int_equal(f->s->ops->compact(f->s, 5), 0);
	assert_int_equal(floor_of(f->s), 10);
	/* the other connection, at once: its floor, or the hole it finds */
	assert_int_equal(f->s->ops->compact(f->s, 20), 0);
	assert_int_equal(events_rc(s2, 15, &x), -ESTALE);
	assert_int_equal(x.n, 0);
	assert_true(floor_of(s2) >= 15);
	assert_int_equal(events_rc(s2, 20, &x), 0);
	assert_int_equal(x.n, 10);
	assert_int_equal(x.revs[0], 21);
	api_store_close(s2);
	/* past the newest revision: every event goes, the revision stays */
	assert_int_equal(f->s->ops->compact(f->s, 1000), 0);
	assert_int_equal(floor_of(f->s), 30);
	api_store_close(f->s);
	f->s = open_again(f);
	assert_non_null(f->s);
	assert_int_equal(floor_of(f->s), 30);
	assert_int_equal(events_rc(f->s, 29, &x), -ESTALE);
	assert_int_equal(events_rc(f->s, 30, &x), 0);
	assert_int_equal(x.n, 0);
	assert_int_equal(put(f->s, obj("project", U1, "late"), NULL), 31);
	assert_int_equal(events_rc(f->s, 30, &x), 0);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.revs[0], 31);
}

/* ---- 8 writers at once, each with its own connection ------------------------ */

#define N_WRITERS 8
#define N_CLAIMS 25

struct writer {
	struct fx *f;
	int id;
	uint64_t got[N_CLAIMS];
	int retries, fails;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	struct api_store *s = open_again(w->f);
	if (!s) {
		w->fails = N_CLAIMS;
		return NULL;
	}
	for (int i = 0; i < N_CLAIMS; i++) {
		char owner[37];
		snprintf(owner, sizeof(owner), "00000000-0000-4000-8000-%06d%06d", w->id, i);
		for (;;) {
			uint64_t v = 0;
			if (s->ops->begin(s, true) < 0) {
				w->fails++;
				break;
			}
			int rc = s->ops->claim_free(s, "pool", 1, 100000, owner, &v);
			if (rc < 0) {
				s->ops->rollback(s);
				w->fails++;
				break;
			}
			rc = s->ops->commit(s);
			if (rc == -EAGAIN) { /* etcd: another writer was first */
				w->retries++;
				continue;
			}
			if (rc < 0)
				w->fails++;
			else
				w->got[i] = v;
			break;
		}
	}
	api_store_close(s);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_concurrent_claims(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct writer w[N_WRITERS];
	pthread_t t[N_WRITERS];
	for (int i = 0; i < N_WRITERS; i++) {
		w[i] = (struct writer){ .f = f, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, writer_run, &w[i]), 0);
	}
	uint64_t all[N_WRITERS * N_CLAIMS];
	int n = 0, retries = 0;
	for (int i = 0; i < N_WRITERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].fails, 0);
		retries += w[i].retries;
		for (int j = 0; j < N_CLAIMS; j++)
			all[n++] = w[i].got[j];
	}
	qsort(all, (size_t)n, sizeof(all[0]), cmp_u64);
	for (int i = 0; i < n; i++)
		assert_int_equal(all[i], (uint64_t)i + 1); /* 1..200, each once: no duplicate */
	fprintf(stderr, "# %s: %d claims by %d writers, %d optimistic retries\n", f->p->store, n,
		N_WRITERS, retries);
}

/* A write through one connection is seen by another, and the revision goes
 * on from it: what two tern-api on one store rely on. */
static void test_two_connections(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *b = open_again(f);
	assert_non_null(b);
	assert_int_equal(put(f->s, obj("project", U1, "a"), NULL), 1);
	assert_int_equal(put(b, obj("project", U2, "b"), NULL), 2);
	assert_int_equal(put(f->s, obj("project", U3, "b"), NULL), -EEXIST);
	json_t *o;
	/* the refused write left nothing behind (etcd: its first try went out
	 * on a mirror that had not seen b's write, and failed there) */
	assert_int_equal(f->s->ops->begin(f->s, false), 0);
	assert_int_equal(f->s->ops->get(f->s, U3, &o), -ENOENT);
	assert_int_equal(f->s->ops->find(f->s, "project", "b", &o), 0);
	assert_string_equal(json_string_value(json_object_get(o, "uuid")), U2);
	json_decref(o);
	f->s->ops->commit(f->s);
	assert_int_equal(b->ops->begin(b, false), 0);
	assert_int_equal(b->ops->get(b, U1, &o), 0);
	b->ops->commit(b);
	json_decref(o);
	struct seen x;
	events(f->s, 0, 100, &x);
	assert_int_equal(x.n, 2);
	api_store_close(b);
}

/* b claims value 0 of pool "p" (for project "b", U2) while a holds its
 * lock, so that a's copy (etcd: the mirror) cannot bring that write in
 * before a's next write. */
static void other_writes_first(struct api_store *a, struct api_store *b)
{
	char holder[37];
	int64_t rev;
	int rc;
	assert_int_equal(a->ops->begin(a, false), 0);
	for (int tries = 0;; tries++) {
		assert_true(tries < 50);
		assert_int_equal(b->ops->begin(b, true), 0);
		assert_int_equal(b->ops->claim(b, "p", 0, U2, holder), 0);
		json_t *o = obj("project", U2, "b");
		assert_int_equal(b->ops->put(b, o, NULL, &rev), 0);
		json_decref(o);
		if ((rc = b->ops->commit(b)) != -EAGAIN)
			break;
	}
	assert_int_equal(rc, 0);
	a->ops->commit(a);
}

/* The allocator's hints ("[lo, next) all taken": SQLite keeps them in the
 * file, etcd in each process) never hide a freed value, also when another
 * connection frees it: the lowest free value is still the answer. */
static void test_claim_hints(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *s = f->s, *b = open_again(f);
	assert_non_null(b);
	uint64_t v;
	const char *owners[] = { U1, U2, U3 };
	assert_int_equal(s->ops->begin(s, true), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s->ops->claim_free(s, "h", 10, 20, owners[i], &v), 0);
		assert_int_equal(v, 10 + i);
	}
	assert_int_equal(s->ops->commit(s), 0);
	/* through the other connection: free 11 (with a write, as api_core
	 * always makes one: on etcd a transaction that writes nothing is not
	 * checked against the other connection's newer writes), then the
	 * lowest is 11 for both */
	int rc;
	do {
		int64_t rev;
		json_t *o = obj("project", U2, "hint-owner");
		assert_int_equal(b->ops->begin(b, true), 0);
		assert_int_equal(b->ops->release(b, U2), 0);
		assert_int_equal(b->ops->put(b, o, NULL, &rev), 0);
		json_decref(o);
		rc = b->ops->commit(b);
	} while (rc == -EAGAIN);
	assert_int_equal(rc, 0);
	do {
		assert_int_equal(s->ops->begin(s, true), 0);
		rc = s->ops->claim_free(s, "h", 10, 20, U2, &v);
		rc = rc == 0 ? s->ops->commit(s) : (s->ops->rollback(s), rc);
	} while (rc == -EAGAIN); /* etcd: the other connection wrote first */
	assert_int_equal(rc, 0);
	assert_int_equal(v, 11);
	/* a range of the same pool from another start has its own hint */
	assert_int_equal(s->ops->begin(s, true), 0);
	assert_int_equal(s->ops->claim_free(s, "h", 12, 20, U1, &v), 0);
	assert_int_equal(v, 13);
	assert_int_equal(s->ops->claim_free(s, "h", 10, 20, U1, &v), 0);
	assert_int_equal(v, 14);
	assert_int_equal(s->ops->commit(s), 0);
	api_store_close(b);
}

/* etcd: an endpoint that does not answer is passed over for the next one. */
static void test_failover(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	char eps[160], err[256];
	snprintf(eps, sizeof(eps), "http://127.0.0.1:1,%s", f->p->etcd->endpoint);
	struct api_store *s = api_store_etcd_open(eps, f->path, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(put(s, obj("project", U1, "a"), NULL), 1);
	assert_int_equal(put(s, obj("project", U2, "b"), NULL), 2);
	api_store_close(s);
}

static void test_open_errors(void **state)
{
	(void)state;
	char err[256];
	assert_null(api_store_open("/nonexistent/dir/api.db", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/dir/api.db"));
	/* port 1: nothing listens there */
	assert_null(api_store_open("etcd:http://127.0.0.1:1", err, sizeof(err)));
	assert_non_null(strstr(err, "http://127.0.0.1:1"));
	assert_non_null(strstr(err, "is etcd running"));
	assert_null(api_store_etcd_open("127.0.0.1:2379", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "http://HOST:PORT"));
}

/* ---- transactions ended without waiting (end, kick: api_http's loop) ---- */

struct ended {
	pthread_mutex_t m;
	pthread_cond_t c;
	int n;                 /* callbacks so far */
	int rc[64];
	bool elsewhere[64];    /* called from another thread than the test's */
	pthread_t me;
};

struct ended_one {
	struct ended *all;
	int i;
};

static void on_ended(void *arg, int rc)
{
	struct ended_one *o = arg;
	struct ended *a = o->all;
	pthread_mutex_lock(&a->m);
	a->rc[o->i] = rc;
	a->elsewhere[o->i] = !pthread_equal(pthread_self(), a->me);
	a->n++;
	pthread_cond_broadcast(&a->c);
	pthread_mutex_unlock(&a->m);
}

/* Kick s (as the loop does after each round, and again when kick asks)
 * until n callbacks came, 5 s at most. */
static void kick_until(struct api_store *s, struct ended *a, int n)
{
	for (int i = 0; i < 500; i++) {
		int ms = s->ops->kick(s);
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += (ms >= 0 && ms < 10 ? ms : 10) * 1000000L;
		t.tv_sec += t.tv_nsec / 1000000000L;
		t.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&a->m);
		if (a->n < n)
			pthread_cond_timedwait(&a->c, &a->m, &t);
		bool all = a->n >= n;
		pthread_mutex_unlock(&a->m);
		if (all)
			return;
	}
	fail_msg("%d of %d ended transactions answered in 5 s", a->n, n);
}

/* Eight writes ended one after the other wait for kick (nothing is
 * answered before it: they are to be one group), then each is answered
 * once, from the store's own thread, committed; a write ended as a
 * rollback (its claim was refused) is answered 0 and leaves nothing. */
static void test_ended_writes(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *s = f->s;
	assert_non_null(s->ops->end);
	struct ended a = { .me = pthread_self() };
	pthread_mutex_init(&a.m, NULL);
	pthread_cond_init(&a.c, NULL);
	struct ended_one one[9];
	char uuid[37], name[16], holder[37];
	int64_t rev;
	for (int i = 0; i < 8; i++) {
		one[i] = (struct ended_one){ &a, i };
		snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-0000000001%02d", i);
		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(s->ops->begin(s, true), 0);
		assert_int_equal(s->ops->claim(s, "pool", (uint64_t)i, uuid, holder), 0);
		json_t *o = obj("project", uuid, name);
		assert_int_equal(s->ops->put(s, o, NULL, &rev), 0);
		assert_int_equal(rev, i + 1);
		json_decref(o);
		s->ops->end(s, false, on_ended, &one[i]);
	}
	usleep(20000);
	pthread_mutex_lock(&a.m);
	assert_int_equal(a.n, 0);
	pthread_mutex_unlock(&a.m);
	kick_until(s, &a, 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(a.rc[i], 0);
		assert_true(a.elsewhere[i]);
	}
	/* value 3 is taken: this one gives up, and is answered 0 */
	one[8] = (struct ended_one){ &a, 8 };
	assert_int_equal(s->ops->begin(s, true), 0);
	json_t *o = obj("project", U1, "late");
	assert_int_equal(s->ops->put(s, o, NULL, &rev), 0);
	json_decref(o);
	assert_int_equal(s->ops->claim(s, "pool", 3, U1, holder), -EEXIST);
	s->ops->end(s, true, on_ended, &one[8]);
	kick_until(s, &a, 9);
	assert_int_equal(a.rc[8], 0);
	struct seen x;
	events(s, 0, 64, &x);
	assert_int_equal(x.n, 8);
	assert_int_equal(s->ops->begin(s, false), 0);
	assert_int_equal(s->ops->get(s, U1, &o), -ENOENT);
	assert_int_equal(s->ops->revision(s, &rev), 0);
	assert_int_equal(rev, 8);
	s->ops->commit(s);
	pthread_cond_destroy(&a.c);
	pthread_mutex_destroy(&a.m);
}

/* n projects p<first>.. written as ended transactions, one kick: one batch. */
static void ended_batch(struct api_store *s, int first, int n)
{
	struct ended a = { .me = pthread_self() };
	pthread_mutex_init(&a.m, NULL);
	pthread_cond_init(&a.c, NULL);
	struct ended_one one[16];
	char uuid[37], name[16];
	int64_t rev;
	assert_true(n <= 16);
	for (int i = 0; i < n; i++) {
		one[i] = (struct ended_one){ &a, i };
		snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-0000000002%02d", first + i);
		snprintf(name, sizeof(name), "p%d", first + i);
		assert_int_equal(s->ops->begin(s, true), 0);
		json_t *o = obj("project", uuid, name);
		assert_int_equal(s->ops->put(s, o, NULL, &rev), 0);
		json_decref(o);
		s->ops->end(s, false, on_ended, &one[i]);
	}
	kick_until(s, &a, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(a.rc[i], 0);
	pthread_cond_destroy(&a.c);
	pthread_mutex_destroy(&a.m);
}

static void expect_revs(const struct seen *x, int64_t from, int n)
{
	assert_int_equal(x->n, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(x->revs[i], from + i);
}

/* etcd: how many keys hold the events under prefix, and how many of them
 * are compressed (etcdctl, from etcd-client, which make deps installs with
 * etcd-server). */
static long etcd_event_keys(const char *endpoint, const char *prefix, long *compressed)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "ETCDCTL_API=3 etcdctl --endpoints %s get '%sev/' '%sev0' -w json", endpoint,
		 prefix, prefix);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	static char out[1 << 16];
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	assert_int_equal(pclose(p), 0);
	/* (as reals: the header's cluster_id passes int64) */
	json_t *j = json_loads(out, JSON_DECODE_INT_AS_REAL, NULL), *kv;
	assert_non_null(j);
	long keys = (long)json_number_value(json_object_get(j, "count"));
	size_t i;
	*compressed = 0;
	json_array_foreach(json_object_get(j, "kvs"), i, kv) {
		const char *v = json_string_value(json_object_get(kv, "value"));
		uint8_t first[3];
		/* (its first base64 quantum: the value's first byte) */
		if (v && strlen(v) >= 4 && api_b64_decode(v, 4, first) == 3 && first[0] == 'Z')
			(*compressed)++;
	}
	json_decref(j);
	return keys;
}

/* The events of one batch (etcd: one key for all of them, compressed):
 * read by another connection in pages that split the batch, replayed into
 * its copy before its own write, and compacted up to the middle of the
 * batch (the events after the floor are all still there, also after a
 * reopen). */
static void test_batch_events(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	ended_batch(f->s, 0, 8);
	if (f->p->etcd) { /* one key, its 8 records compressed */
		long z;
		assert_int_equal(etcd_event_keys(f->p->etcd->endpoint, f->path, &z), 1);
		assert_int_equal(z, 1);
	}
	struct api_store *b = open_again(f);
	assert_non_null(b);
	struct seen x;
	events(b, 3, 2, &x);
	expect_revs(&x, 4, 2);
	events(b, 5, 100, &x);
	expect_revs(&x, 6, 3);
	ended_batch(f->s, 8, 3);
	/* (read through b: f->s may not have heard of b's write yet) */
	assert_int_equal(put(b, obj("project", U1, "late"), NULL), 12);
	events(b, 8, 100, &x);
	expect_revs(&x, 9, 4);
	assert_int_equal(f->s->ops->compact(f->s, 5), 0);
	assert_int_equal(events_rc(f->s, 4, &x), -ESTALE);
	events(b, 5, 100, &x);
	expect_revs(&x, 6, 7);
	api_store_close(b);
	api_store_close(f->s);
	f->s = open_again(f);
	assert_non_null(f->s);
	assert_int_equal(events_rc(f->s, 4, &x), -ESTALE);
	events(f->s, 5, 100, &x);
	expect_revs(&x, 6, 7);
}

/* More writes ended before a kick than one etcd txn can carry: each is
 * answered either committed (its object is there) or -EAGAIN, to be redone
 * (it is not): none is lost, none half-written. */
static void test_ended_full(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *s = f->s;
	struct ended a = { .me = pthread_self() };
	pthread_mutex_init(&a.m, NULL);
	pthread_cond_init(&a.c, NULL);
	struct ended_one one[64];
	char uuid[64][37], name[16];
	int64_t rev;
	for (int i = 0; i < 64; i++) {
		one[i] = (struct ended_one){ &a, i };
		snprintf(uuid[i], sizeof(uuid[i]), "00000000-0000-4000-8000-0000000002%02d", i);
		snprintf(name, sizeof(name), "q%d", i);
		assert_int_equal(s->ops->begin(s, true), 0);
		json_t *o = obj("project", uuid[i], name);
		assert_int_equal(s->ops->put(s, o, NULL, &rev), 0);
		json_decref(o);
		s->ops->end(s, false, on_ended, &one[i]);
	}
	kick_until(s, &a, 64);
	int committed = 0, got[64];
	assert_int_equal(s->ops->begin(s, false), 0);
	for (int i = 0; i < 64; i++) {
		json_t *o;
		if ((got[i] = s->ops->get(s, uuid[i], &o)) == 0)
			json_decref(o);
	}
	s->ops->commit(s); /* (before any assert: a failed one must not hold the store) */
	for (int i = 0; i < 64; i++) {
		if (a.rc[i] == 0) {
			assert_int_equal(got[i], 0);
			committed++;
		} else {
			assert_int_equal(a.rc[i], -EAGAIN);
			assert_int_equal(got[i], -ENOENT);
		}
	}
	assert_true(committed >= 1);
	if (strcmp(f->p->store, "etcd") == 0)
		assert_true(committed < 64); /* one txn cannot hold them all */
	else
		assert_int_equal(committed, 64);
	pthread_cond_destroy(&a.c);
	pthread_mutex_destroy(&a.m);
}

/* A write computed on a copy that had not yet seen another connection's
 * write (etcd: the mirror) fails at the commit and is redone; here the redo
 * is refused (the value is taken), so nothing of the first try may stay
 * behind in what the connection reads. The connection's lock is held while
 * the other one writes, so its watch cannot bring that write in first. */
static void stale_write(void **state, bool ended)
{
	struct fx *f = *state;
	NEED_STORE(f);
	struct api_store *a = f->s, *b = open_again(f);
	assert_non_null(b);
	char holder[37];
	json_t *o;
	int64_t rev;
	int rc;
	other_writes_first(a, b);
	struct ended e = { .me = pthread_self() };
	pthread_mutex_init(&e.m, NULL);
	pthread_cond_init(&e.c, NULL);
	struct ended_one one[16];
	int stale = 0;
	for (int tries = 0;; tries++) {
		assert_true(tries < 16);
		assert_int_equal(a->ops->begin(a, true), 0);
		o = obj("project", U3, "c");
		assert_int_equal(a->ops->put(a, o, NULL, &rev), 0);
		json_decref(o);
		rc = a->ops->claim(a, "p", 0, U3, holder);
		int end;
		if (ended) {
			one[tries] = (struct ended_one){ &e, tries };
			a->ops->end(a, rc != 0, on_ended, &one[tries]);
			kick_until(a, &e, tries + 1);
			end = e.rc[tries];
		} else {
			end = rc == 0 ? a->ops->commit(a) : a->ops->rollback(a);
		}
		if (end != -EAGAIN) {
			rc = rc == 0 ? end : rc;
			break;
		}
		stale++;
	}
	assert_int_equal(rc, -EEXIST);
	assert_string_equal(holder, U2);
	/* (etcd: the first try is stale unless the watch brought b's write in
	 * between a's two transactions; fprintf says which) */
	fprintf(stderr, "# %s%s: %d stale tries\n", f->p->store, ended ? ", ended" : "", stale);
	assert_int_equal(a->ops->begin(a, false), 0);
	assert_int_equal(a->ops->find(a, "project", "c", &o), -ENOENT);
	assert_int_equal(a->ops->get(a, U3, &o), -ENOENT);
	a->ops->commit(a);
	api_store_close(b);
	pthread_cond_destroy(&e.c);
	pthread_mutex_destroy(&e.m);
}

static void test_stale_write(void **state)
{
	stale_write(state, false);
}

/* The same through end and kick: a stale try's answer is -EAGAIN (etcd),
 * the redo is refused; nothing of either stays. */
static void test_ended_stale(void **state)
{
	stale_write(state, true);
}

/* The same tests on each store, named "<store>: test" in the TAP output. */
#define STORE_TEST(label, f, p) { label ": " #f, f, setup, teardown, p }
#define STORE_TESTS(label, p)                                                   \
	STORE_TEST(label, test_objects, p), STORE_TEST(label, test_claims, p),  \
	STORE_TEST(label, test_peek, p),                                        \
	STORE_TEST(label, test_reopen, p),  \
	STORE_TEST(label, test_events_resume, p),                               \
	STORE_TEST(label, test_event_text, p),                                  \
	STORE_TEST(label, test_compaction, p),                                  \
	STORE_TEST(label, test_concurrent_claims, p),                           \
	STORE_TEST(label, test_two_connections, p),                            \
	STORE_TEST(label, test_stale_write, p),                                 \
	STORE_TEST(label, test_claim_hints, p),                                 \
	STORE_TEST(label, test_ended_writes, p),                                \
	STORE_TEST(label, test_ended_full, p),                                  \
	STORE_TEST(label, test_batch_events, p),                                \
	STORE_TEST(label, test_ended_stale, p)

int main(void)
{
	struct test_etcd etcd;
	int seq = 0;
	int erc = test_etcd_start(&etcd);
	if (erc == -ENOENT)
		fprintf(stderr, "# no etcd installed (apt-get install etcd-server): etcd tests skip\n");
	else if (erc < 0)
		fprintf(stderr, "# etcd would not start: %s\n", strerror(-erc));
	struct param sqlite = { "sqlite", NULL, NULL }, etcdp = { "etcd", &etcd, &seq };
	const struct CMUnitTest tests[] = {
		STORE_TESTS("sqlite", &sqlite),
		STORE_TESTS("etcd", &etcdp),
		STORE_TEST("etcd", test_failover, &etcdp),
		cmocka_unit_test(test_open_errors),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_etcd_stop(&etcd);
	/* etcd installed but not starting is a failure, not a skip */
	return rc ? rc : (erc < 0 && erc != -ENOENT);
}
