/*
 * DOC: api_store_test.c — the SQLite store: objects, uniqueness, refs,
 * claims, and the event log: revisions strictly increase and a reader
 * resuming from any revision gets every later event once, also after the
 * store is closed and opened again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api_store.h"

struct fx {
	char dir[64];
	char path[128];
	struct api_store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/api_store_test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/api.db", f->dir);
	char err[256];
	f->s = api_store_open(f->path, err, sizeof(err));
	if (!f->s) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char p[160];
	api_store_close(f->s);
	static const char *const sfx[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
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

static int64_t put(struct api_store *s, json_t *o, json_t *refs)
{
	int64_t rev = 0;
	assert_int_equal(s->ops->begin(s, true), 0);
	int rc = s->ops->put(s, o, refs, &rev);
	if (rc == 0)
		assert_int_equal(s->ops->commit(s), 0);
	else
		s->ops->rollback(s);
	json_decref(o);
	json_decref(refs);
	return rc < 0 ? rc : rev;
}

static void test_objects(void **state)
{
	struct fx *f = *state;
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

static void test_claims(void **state)
{
	struct fx *f = *state;
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
			char err[256];
			api_store_close(f->s);
			f->s = api_store_open(f->path, err, sizeof(err));
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

static void test_open_errors(void **state)
{
	(void)state;
	char err[256];
	assert_null(api_store_open("/nonexistent/dir/api.db", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/dir/api.db"));
	assert_null(api_store_open("etcd:http://127.0.0.1:2379", err, sizeof(err)));
	assert_non_null(strstr(err, "not built yet"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_resume, setup, teardown),
		cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
