/*
 * DOC: api_core_test.c — the behaviour of record without HTTP: references
 * (dangling refused, delete of a referenced object refused naming who),
 * allocation (pools, fixed addresses, 8 threads with no duplicate, release
 * on delete), VNI / route target / MAC uniqueness, stale versions,
 * authorisation that changes nothing when it refuses, list filters, and
 * events in revision order. Every test runs on SQLite and on a real etcd
 * started here (skipped when etcd is not installed); on etcd also the group
 * commit: concurrent requests committed together, one invalid request
 * failing alone, and a second tern-api (another core on the same etcd)
 * whose writes interleave and whose watchers are woken without polling.
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
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <time.h>

#include "api_core.h"
#include "api_testetcd.h"

/* Which store a test runs on: the prestate of each test. */
#define param test_store_param

struct fx {
	const struct param *p;
	char dir[64], path[128]; /* SQLite file, or etcd key prefix */
	struct api_store *s;
	struct api_core c;
	struct tern_log lg;
};

static const struct api_ident admin = { .role = API_ROLE_ADMIN, .name = "admin" };
static const struct api_ident reader = { .role = API_ROLE_READ, .name = "reader" };
static const struct api_ident demo_admin = { .role = API_ROLE_ADMIN, .project = "demo",
					     .name = "demo" };

static struct api_store *open_store(struct fx *f)
{
	return test_store_open(f->p, f->path);
}

static int setup(void **state)
{
	const struct param *p = *state;
	struct fx *f = calloc(1, sizeof(*f));
	f->p = p;
	int place = test_store_place(p, "core", f->dir, sizeof(f->dir), f->path, sizeof(f->path));
	if (place == 1) {
		free(f);
		*state = NULL;
		return 0; /* the test skips */
	}
	if (place < 0)
		return -1;
	struct api_err e;
	f->s = open_store(f);
	tern_log_init(&f->lg, "api_core_test", NULL, TERN_LOG_WARN);
	if (!f->s || api_core_init(&f->c, f->s, &f->lg, 64512, &e) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	api_core_fini(&f->c);
	api_store_close(f->s);
	if (f->dir[0])
		test_store_remove_sqlite(f->dir, f->path);
	free(f);
	return 0;
}

#define NEED_STORE(f)                                              \
	do {                                                       \
		if (!(f)) {                                        \
			fprintf(stderr, "# no etcd: skipped\n"); \
			skip();                                    \
		}                                                  \
	} while (0)

/* Create; returns the object (caller frees) or fails the test. */
static json_t *mk(struct fx *f, const struct api_ident *id, const char *kind, const char *body)
{
	struct api_err e;
	json_t *o;
	if (api_create(&f->c, id, api_kind_find(kind), body, strlen(body), &o, &e) < 0)
		fail_msg("create %s %s: %d %s: %s", kind, body, e.status, e.field, e.msg);
	return o;
}

/* Create expecting failure with status, field, message part. */
static void mk_bad(struct fx *f, const struct api_ident *id, const char *kind, const char *body,
		   int status, const char *field, const char *want)
{
	struct api_err e = { 0 };
	json_t *o;
	int64_t before = api_revision(&f->c);
	if (api_create(&f->c, id, api_kind_find(kind), body, strlen(body), &o, &e) == 0)
		fail_msg("accepted %s %s", kind, body);
	if (e.status != status || strcmp(e.field, field) != 0 || !strstr(e.msg, want))
		fail_msg("%s -> %d '%s': %s; wanted %d '%s' with '%s'", body, e.status, e.field,
			 e.msg, status, field, want);
	assert_int_equal(api_revision(&f->c), before); /* refused: nothing written */
}

static const char *s_(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

#define VN1 "{\"name\":\"vn1\",\"project\":\"demo\",\"subnets\":[{\"cidr\":\"10.1.0.0/24\"," \
	    "\"allocation_pools\":[{\"start\":\"10.1.0.10\",\"end\":\"10.1.0.250\"}]}]}"

static void base(struct fx *f)
{
	json_decref(mk(f, &admin, "project", "{\"name\":\"demo\"}"));
	json_decref(mk(f, &admin, "project", "{\"name\":\"other\"}"));
	json_decref(mk(f, &admin, "vn", VN1));
}

static void test_references(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	mk_bad(f, &admin, "vn", VN1, 400, "project", "project 'demo' does not exist");
	base(f);
	mk_bad(f, &admin, "vmi", "{\"name\":\"p1\",\"project\":\"demo\",\"virtual_network\":"
	       "\"vn9\"}", 400, "virtual_network", "virtual-network 'vn9', which does not exist");
	mk_bad(f, &admin, "vn", VN1, 409, "name", "demo:vn1 already exists");
	json_t *vmi = mk(f, &admin, "vmi", "{\"name\":\"p1\",\"project\":\"demo\","
			 "\"virtual_network\":\"vn1\",\"owner_type\":\"pod\",\"owner\":\"ns/pod1\"}");
	assert_string_equal(s_(vmi, "virtual_network"), "demo:vn1"); /* canonical fq_name */
	assert_string_equal(s_(vmi, "fq_name"), "demo:p1");
	assert_non_null(s_(vmi, "parent"));
	/* deleting the network is refused, naming the port */
	json_t *vn, *out;
	struct api_list_req lr = { .fq_name = "demo:vn1" };
	struct api_err e;
	assert_int_equal(api_list(&f->c, &admin, api_kind_find("vn"), &lr, &out, &e), 0);
	vn = json_incref(json_array_get(json_object_get(out, "items"), 0));
	json_decref(out);
	assert_string_equal(s_(vmi, "parent"), s_(vn, "uuid"));
	assert_int_equal(api_delete(&f->c, &admin, api_kind_find("vn"), s_(vn, "uuid"), &out, &e),
			 -1);
	assert_int_equal(e.status, 409);
	assert_non_null(strstr(e.msg, "virtual-machine-interface demo:p1 (virtual_network)"));
	/* the project is referred to by everything in it */
	json_t *proj;
	assert_int_equal(api_list(&f->c, &admin, api_kind_find("project"),
				  &(struct api_list_req){ .name = "demo" }, &out, &e), 0);
	proj = json_incref(json_array_get(json_object_get(out, "items"), 0));
	json_decref(out);
	assert_int_equal(api_delete(&f->c, &admin, api_kind_find("project"), s_(proj, "uuid"), &out,
				    &e), -1);
	assert_int_equal(e.status, 409);
	assert_non_null(strstr(e.msg, "virtual-network demo:vn1 (project)"));
	/* after the port goes, the network can go */
	assert_int_equal(api_delete(&f->c, &admin, api_kind_find("vmi"), s_(vmi, "uuid"), &out, &e),
			 0);
	json_decref(out);
	assert_int_equal(api_delete(&f->c, &admin, api_kind_find("vn"), s_(vn, "uuid"), &out, &e),
			 0);
	json_decref(out);
	/* wrong kind in the URL: 404 */
	assert_int_equal(api_get(&f->c, &admin, api_kind_find("vmi"), s_(proj, "uuid"), &out, &e),
			 -1);
	assert_int_equal(e.status, 404);
	json_decref(proj);
	json_decref(vn);
	json_decref(vmi);
}

static void test_instance_ips(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	json_t *vn = NULL, *out;
	struct api_err e;
	assert_int_equal(api_list(&f->c, &admin, api_kind_find("vn"), &(struct api_list_req){ 0 },
				  &out, &e), 0);
	vn = json_incref(json_array_get(json_object_get(out, "items"), 0));
	json_decref(out);
	/* gateway defaulted to the first host, VNI and route targets assigned */
	json_t *sn = json_array_get(json_object_get(vn, "subnets"), 0);
	assert_string_equal(s_(sn, "gateway"), "10.1.0.1");
	assert_int_equal(json_integer_value(json_object_get(vn, "vni")), API_VNI_AUTO_LO);
	assert_string_equal(json_string_value(json_array_get(json_object_get(vn,
			    "route_target_import"), 0)), "target:64512:8000000");

	json_t *a = mk(f, &admin, "iip", "{\"name\":\"a\",\"project\":\"demo\","
		       "\"virtual_network\":\"vn1\"}");
	assert_string_equal(s_(a, "address"), "10.1.0.10"); /* first of the pool */
	assert_string_equal(s_(a, "subnet"), "10.1.0.0/24");
	assert_string_equal(s_(a, "family"), "v4");
	mk_bad(f, &admin, "iip", "{\"name\":\"b\",\"project\":\"demo\",\"virtual_network\":\"vn1\","
	       "\"address\":\"10.1.0.10\"}", 409, "address", "taken by instance-ip demo:a");
	mk_bad(f, &admin, "iip", "{\"name\":\"b\",\"project\":\"demo\",\"virtual_network\":\"vn1\","
	       "\"address\":\"10.1.0.1\"}", 409, "address", "taken by virtual-network demo:vn1");
	mk_bad(f, &admin, "iip", "{\"name\":\"b\",\"project\":\"demo\",\"virtual_network\":\"vn1\","
	       "\"address\":\"10.2.0.5\"}", 400, "address",
	       "outside the subnets of virtual-network demo:vn1 (10.1.0.0/24)");
	mk_bad(f, &admin, "iip", "{\"name\":\"b\",\"project\":\"demo\",\"virtual_network\":\"vn1\","
	       "\"address\":\"10.1.0.255\"}", 400, "address", "not a host address");
	mk_bad(f, &admin, "iip", "{\"name\":\"b\",\"project\":\"demo\",\"virtual_network\":\"vn1\","
	       "\"family\":\"v6\"}", 400, "virtual_network", "no v6 subnet");
	json_t *b = mk(f, &admin, "iip", "{\"name\":\"b\",\"project\":\"demo\","
		       "\"virtual_network\":\"vn1\",\"address\":\"10.1.0.5\"}");
	/* delete releases: the next allocation gets a's address again */
	assert_int_equal(api_delete(&f->c, &admin, api_kind_find("iip"), s_(a, "uuid"), &out, &e), 0);
	json_decref(out);
	json_t *c = mk(f, &admin, "iip", "{\"name\":\"c\",\"project\":\"demo\","
		       "\"virtual_network\":\"vn1\"}");
	assert_string_equal(s_(c, "address"), "10.1.0.10");
	/* an update keeps the address unless it names another */
	char body[512];
	snprintf(body, sizeof(body), "{\"name\":\"c\",\"project\":\"demo\",\"virtual_network\":"
		 "\"vn1\",\"version\":%lld}", (long long)json_integer_value(json_object_get(c,
		 "version")));
	assert_int_equal(api_update(&f->c, &admin, api_kind_find("iip"), s_(c, "uuid"), body,
				    strlen(body), &out, &e), 0);
	assert_string_equal(s_(out, "address"), "10.1.0.10");
	json_decref(out);
	/* a subnet in use cannot be removed from the network */
	snprintf(body, sizeof(body), "{\"name\":\"vn1\",\"project\":\"demo\",\"subnets\":"
		 "[{\"cidr\":\"10.9.0.0/24\"}]}");
	assert_int_equal(api_update(&f->c, &admin, api_kind_find("vn"), s_(vn, "uuid"), body,
				    strlen(body), &out, &e), -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "subnets");
	assert_non_null(strstr(e.msg, "in use by instance-ip"));
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(vn);
}

struct worker {
	struct fx *f;
	int id;
	char addrs[25][64];
	int n;
};

#define THREADS 8
#define PER_THREAD 25

static void *alloc_worker(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		char body[256];
		struct api_err e;
		json_t *o;
		snprintf(body, sizeof(body), "{\"name\":\"w%d-%d\",\"project\":\"demo\","
			 "\"virtual_network\":\"demo:vn1\"}", w->id, i);
		if (api_create(&w->f->c, &admin, api_kind_find("iip"), body, strlen(body), &o,
			       &e) < 0)
			return NULL;
		snprintf(w->addrs[w->n++], 64, "%s", s_(o, "address"));
		json_decref(o);
	}
	return NULL;
}

/* Floating IPs and service VIPs come from their network's pools, shared with
 * instance IPs: never one address twice, released on delete. */
/* A batch: an interface and its address in one transaction, the address
 * naming the interface created just before it; a failing item writes
 * nothing and says which item failed. */
static json_t *batch_of(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	return j;
}

/* ---- writes without waiting (api_write_start / finish: api_http's loop) --- */

struct async_done {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool done;
};

static void on_done(void *arg)
{
	struct async_done *d = arg;
	pthread_mutex_lock(&d->m);
	d->done = true;
	pthread_cond_signal(&d->c);
	pthread_mutex_unlock(&d->m);
}

/* One write through start and finish, kicking as the loop does; redone
 * when finish says so. Returns finish's 0 or -1. */
static int write_async(struct fx *f, struct api_write *w, json_t **out, struct api_err *e)
{
	struct async_done d = { .done = false };
	pthread_mutex_init(&d.m, NULL);
	pthread_cond_init(&d.c, NULL);
	int rc;
	do {
		d.done = false;
		api_write_start(&f->c, w, on_done, &d);
		for (int i = 0; i < 500; i++) {
			int ms = api_core_kick(&f->c);
			struct timespec t;
			clock_gettime(CLOCK_REALTIME, &t);
			t.tv_nsec += (ms >= 0 && ms < 10 ? ms : 10) * 1000000L;
			t.tv_sec += t.tv_nsec / 1000000000L;
			t.tv_nsec %= 1000000000L;
			pthread_mutex_lock(&d.m);
			if (!d.done)
				pthread_cond_timedwait(&d.c, &d.m, &t);
			bool done = d.done;
			pthread_mutex_unlock(&d.m);
			if (done)
				break;
		}
		assert_true(d.done);
		rc = api_write_finish(&f->c, w, out, e);
	} while (rc == 1);
	pthread_cond_destroy(&d.c);
	pthread_mutex_destroy(&d.m);
	return rc;
}

/* Create, batch, update, delete and refusals through start and finish give
 * what the waiting calls give: the answer, the revision, the events. */
static void test_write_async(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	struct api_err e = { 0 };
	json_t *out;
	const char *body = "{\"name\":\"a1\",\"project\":\"demo\",\"virtual_network\":\"vn1\"}";
	int64_t before = api_revision(&f->c);
	struct api_write w = { .op = API_W_CREATE, .id = &admin,
			       .k = api_kind_find("virtual-machine-interface"), .body = body,
			       .len = strlen(body) };
	if (write_async(f, &w, &out, &e) < 0)
		fail_msg("create: %d %s: %s", e.status, e.field, e.msg);
	assert_int_equal(api_revision(&f->c), before + 1);
	assert_string_equal(s_(out, "fq_name"), "demo:a1");
	char uuid[37];
	snprintf(uuid, sizeof(uuid), "%s", s_(out, "uuid"));
	int64_t version = json_integer_value(json_object_get(out, "version"));
	json_decref(out);

	json_t *items = batch_of("[{\"kind\":\"instance-ip\",\"object\":{\"name\":\"a1-v4\","
		"\"project\":\"demo\",\"virtual_network\":\"vn1\",\"virtual_machine_interface\":"
		"\"demo:a1\"}}]");
	w = (struct api_write){ .op = API_W_BATCH, .id = &admin, .items = items };
	if (write_async(f, &w, &out, &e) < 0)
		fail_msg("batch: %d %s: %s", e.status, e.field, e.msg);
	json_decref(items);
	assert_string_equal(s_(json_array_get(out, 0), "address"), "10.1.0.10");
	json_decref(out);

	/* a stale version: 409, nothing written */
	char upd[256];
	snprintf(upd, sizeof(upd), "{\"name\":\"a1\",\"project\":\"demo\",\"virtual_network\":"
		 "\"vn1\",\"labels\":{\"x\":\"y\"},\"version\":%lld}", (long long)version - 1);
	before = api_revision(&f->c);
	w = (struct api_write){ .op = API_W_UPDATE, .id = &admin, .k = w.k, .uuid = uuid,
				.body = upd, .len = strlen(upd) };
	w.k = api_kind_find("virtual-machine-interface");
	assert_int_equal(write_async(f, &w, &out, &e), -1);
	assert_int_equal(e.status, 409);
	assert_int_equal(api_revision(&f->c), before);
	snprintf(upd, sizeof(upd), "{\"name\":\"a1\",\"project\":\"demo\",\"virtual_network\":"
		 "\"vn1\",\"labels\":{\"x\":\"y\"},\"version\":%lld}", (long long)version);
	w.len = strlen(upd);
	if (write_async(f, &w, &out, &e) < 0)
		fail_msg("update: %d %s: %s", e.status, e.field, e.msg);
	assert_string_equal(s_(json_object_get(out, "labels"), "x"), "y");
	assert_int_equal(api_revision(&f->c), before + 1);
	json_decref(out);

	/* referred to by the instance IP: 409; a read-only token: 403 before
	 * any transaction */
	w = (struct api_write){ .op = API_W_DELETE, .id = &admin,
				.k = api_kind_find("virtual-machine-interface"), .uuid = uuid };
	assert_int_equal(write_async(f, &w, &out, &e), -1);
	assert_int_equal(e.status, 409);
	w.id = &reader;
	assert_int_equal(write_async(f, &w, &out, &e), -1);
	assert_int_equal(e.status, 403);
	assert_int_equal(api_revision(&f->c), before + 1);
}

static void test_batch(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	struct api_err e = { 0 };
	json_t *out;
	json_t *items = batch_of("[{\"kind\":\"virtual-machine-interface\",\"object\":{"
		"\"name\":\"p1-eth0\",\"project\":\"demo\",\"virtual_network\":\"vn1\"}},"
		"{\"kind\":\"instance-ip\",\"object\":{\"name\":\"p1-eth0-v4\",\"project\":"
		"\"demo\",\"virtual_network\":\"vn1\",\"virtual_machine_interface\":"
		"\"demo:p1-eth0\"}}]");
	int64_t before = api_revision(&f->c);
	if (api_create_batch(&f->c, &admin, items, &out, &e) < 0)
		fail_msg("batch: %d %s: %s", e.status, e.field, e.msg);
	json_decref(items);
	assert_int_equal(json_array_size(out), 2);
	assert_int_equal(api_revision(&f->c), before + 2); /* one event per object */
	json_t *vmi = json_array_get(out, 0), *iip = json_array_get(out, 1);
	assert_string_equal(s_(vmi, "fq_name"), "demo:p1-eth0");
	assert_non_null(s_(vmi, "mac"));
	assert_string_equal(s_(iip, "virtual_machine_interface"), "demo:p1-eth0");
	assert_string_equal(s_(iip, "address"), "10.1.0.10");
	json_decref(out);

	/* the second item fails: the first is not written either */
	before = api_revision(&f->c);
	items = batch_of("[{\"kind\":\"vmi\",\"object\":{\"name\":\"p2-eth0\",\"project\":"
		"\"demo\",\"virtual_network\":\"vn1\"}},{\"kind\":\"instance-ip\",\"object\":{"
		"\"name\":\"p2-eth0-v4\",\"project\":\"demo\",\"virtual_network\":\"vn1\","
		"\"address\":\"10.1.0.10\"}}]");
	assert_int_equal(api_create_batch(&f->c, &admin, items, &out, &e), -1);
	json_decref(items);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "create[1].address");
	assert_non_null(strstr(e.msg, "create[1] (instance-ip): "));
	assert_int_equal(api_revision(&f->c), before);
	struct api_list_req lr = { .fq_name = "demo:p2-eth0" };
	assert_int_equal(api_list(&f->c, &admin, api_kind_find("vmi"), &lr, &out, &e), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);

	/* malformed lists and items; a reader may not write */
	const char *bad[] = { "[]", "{}", "[{\"kind\":\"nope\",\"object\":{}}]",
			      "[{\"kind\":\"vmi\"}]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		items = batch_of(bad[i]);
		assert_int_equal(api_create_batch(&f->c, &admin, items, &out, &e), -1);
		assert_int_equal(e.status, 400);
		json_decref(items);
	}
	items = batch_of("[{\"kind\":\"vmi\",\"object\":{\"name\":\"p3\",\"project\":"
		"\"demo\",\"virtual_network\":\"vn1\"}}]");
	assert_int_equal(api_create_batch(&f->c, &reader, items, &out, &e), -1);
	assert_int_equal(e.status, 403);
	json_decref(items);
	assert_int_equal(api_revision(&f->c), before);
}

/* 8 clients at once, each creating interfaces with their address in one
 * batch (what the benchmark and an orchestrator do), and each also sending
 * batches whose second item fails (its name is taken): every good batch is
 * written whole, every failing one not at all, no MAC or address twice. */
#define BATCH_PER_THREAD 12

struct bworker {
	struct fx *f;
	int id, ok, refused;
	char addrs[BATCH_PER_THREAD][64], macs[BATCH_PER_THREAD][32];
};

static void *batch_worker(void *arg)
{
	struct bworker *w = arg;
	for (int i = 0; i < BATCH_PER_THREAD; i++) {
		char text[1024];
		struct api_err e;
		json_t *out;
		snprintf(text, sizeof(text), "[{\"kind\":\"vmi\",\"object\":{\"name\":\"b%d-%d\","
			 "\"project\":\"demo\",\"virtual_network\":\"vn1\"}},{\"kind\":\"iip\","
			 "\"object\":{\"name\":\"b%d-%d-v4\",\"project\":\"demo\",\"virtual_network\":"
			 "\"vn1\",\"virtual_machine_interface\":\"demo:b%d-%d\"}}]", w->id, i, w->id, i,
			 w->id, i);
		json_t *items = json_loads(text, 0, NULL);
		if (api_create_batch(&w->f->c, &admin, items, &out, &e) == 0) {
			snprintf(w->macs[w->ok], sizeof(w->macs[0]), "%s",
				 s_(json_array_get(out, 0), "mac"));
			snprintf(w->addrs[w->ok], sizeof(w->addrs[0]), "%s",
				 s_(json_array_get(out, 1), "address"));
			w->ok++;
			json_decref(out);
		}
		json_decref(items);
		/* the same address name again, after a new interface: neither */
		snprintf(text, sizeof(text), "[{\"kind\":\"vmi\",\"object\":{\"name\":\"x%d-%d\","
			 "\"project\":\"demo\",\"virtual_network\":\"vn1\"}},{\"kind\":\"iip\","
			 "\"object\":{\"name\":\"b%d-%d-v4\",\"project\":\"demo\",\"virtual_network\":"
			 "\"vn1\"}}]", w->id, i, w->id, i);
		items = json_loads(text, 0, NULL);
		if (api_create_batch(&w->f->c, &admin, items, &out, &e) == 0)
			json_decref(out); /* counted as not refused */
		else if (e.status == 409)
			w->refused++;
		json_decref(items);
	}
	return NULL;
}

static void test_concurrent_batches(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	pthread_t t[THREADS];
	struct bworker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct bworker){ .f = f, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, batch_worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char addrs[THREADS * BATCH_PER_THREAD][64], macs[THREADS * BATCH_PER_THREAD][32];
	int n = 0;
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].ok, BATCH_PER_THREAD);
		assert_int_equal(w[i].refused, BATCH_PER_THREAD);
		for (int j = 0; j < w[i].ok; j++, n++) {
			memcpy(addrs[n], w[i].addrs[j], sizeof(addrs[0]));
			memcpy(macs[n], w[i].macs[j], sizeof(macs[0]));
		}
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			if (strcmp(addrs[i], addrs[j]) == 0)
				fail_msg("address %s allocated twice", addrs[i]);
			if (strcmp(macs[i], macs[j]) == 0)
				fail_msg("MAC %s allocated twice", macs[i]);
		}
	/* the refused batches left no interface behind */
	struct api_err e;
	json_t *out;
	struct api_list_req lr = { 0 };
	assert_int_equal(api_list(&f->c, &admin, api_kind_find("vmi"), &lr, &out, &e), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), n);
	json_decref(out);
	assert_int_equal(api_list(&f->c, &admin, api_kind_find("iip"), &lr, &out, &e), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), n);
	json_decref(out);
}

static void test_floating_and_vips(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	json_decref(mk(f, &admin, "fipp", "{\"name\":\"pub\",\"project\":\"demo\","
		       "\"virtual_network\":\"vn1\"}"));
	json_t *f1 = mk(f, &admin, "fip", "{\"name\":\"f1\",\"project\":\"demo\","
			"\"floating_ip_pool\":\"pub\"}");
	assert_string_equal(s_(f1, "address"), "10.1.0.10");
	assert_null(json_object_get(f1, "subnet"));  /* not a field of a floating IP */
	json_t *a = mk(f, &admin, "iip", "{\"name\":\"a\",\"project\":\"demo\","
		       "\"virtual_network\":\"vn1\"}");
	assert_string_equal(s_(a, "address"), "10.1.0.11");
	mk_bad(f, &admin, "fip", "{\"name\":\"f2\",\"project\":\"demo\",\"floating_ip_pool\":"
	       "\"pub\",\"address\":\"10.9.0.1\"}", 400, "address", "outside the subnets");
	mk_bad(f, &admin, "fip", "{\"name\":\"f2\",\"project\":\"demo\",\"floating_ip_pool\":"
	       "\"pub\",\"address\":\"10.1.0.11\"}", 409, "address", "instance-ip demo:a");
	json_t *s1 = mk(f, &admin, "svc", "{\"name\":\"s1\",\"project\":\"demo\","
			"\"virtual_network\":\"vn1\",\"port\":80}");
	assert_string_equal(s_(s1, "vip"), "10.1.0.12");
	mk_bad(f, &admin, "svc", "{\"name\":\"s2\",\"project\":\"demo\",\"virtual_network\":"
	       "\"vn1\",\"port\":80,\"vip\":\"10.1.0.10\"}", 409, "vip", "floating-ip demo:f1");
	mk_bad(f, &admin, "svc", "{\"name\":\"s2\",\"project\":\"demo\",\"virtual_network\":"
	       "\"vn1\",\"port\":80,\"vip\":\"192.168.0.1\"}", 400, "vip", "outside the subnets");
	json_t *out;
	struct api_err e;
	assert_int_equal(api_delete(&f->c, &admin, api_kind_find("fip"), s_(f1, "uuid"), &out, &e), 0);
	json_decref(out);
	json_t *s2 = mk(f, &admin, "svc", "{\"name\":\"s2\",\"project\":\"demo\","
			"\"virtual_network\":\"vn1\",\"port\":80,\"vip\":\"10.1.0.10\"}");
	assert_string_equal(s_(s2, "vip"), "10.1.0.10");
	json_decref(f1);
	json_decref(a);
	json_decref(s1);
	json_decref(s2);
}

static void test_concurrent_allocation(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .f = f, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, alloc_worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	/* every request got an address, and no address twice */
	char all[THREADS * PER_THREAD][64];
	int n = 0;
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].n, PER_THREAD);
		for (int j = 0; j < w[i].n; j++)
			memcpy(all[n++], w[i].addrs[j], 64);
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(all[i], all[j]) == 0)
				fail_msg("%s allocated twice", all[i]);
	/* the pool 10.1.0.10-250 has 241 addresses: 200 used, 41 left */
	for (int i = 0; i < 41; i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"name\":\"x%d\",\"project\":\"demo\","
			 "\"virtual_network\":\"vn1\"}", i);
		json_decref(mk(f, &admin, "iip", body));
	}
	mk_bad(f, &admin, "iip", "{\"name\":\"full\",\"project\":\"demo\",\"virtual_network\":"
	       "\"vn1\"}", 409, "address", "no free address left");
}

static void test_unique_ids(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	json_t *vn2 = mk(f, &admin, "vn", "{\"name\":\"vn2\",\"project\":\"demo\"}");
	assert_int_equal(json_integer_value(json_object_get(vn2, "vni")), API_VNI_AUTO_LO + 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(vn2,
			    "route_target_export"), 0)), "target:64512:8000001");
	mk_bad(f, &admin, "vn", "{\"name\":\"vn3\",\"project\":\"demo\",\"vni\":4097}", 409, "vni",
	       "VNI 4097 is already taken by virtual-network demo:vn2");
	mk_bad(f, &admin, "vn", "{\"name\":\"vn3\",\"project\":\"demo\",\"route_target_import\":"
	       "[\"target:64512:8000000\"]}", 409, "route_target_import[0]", "demo:vn1");
	/* route targets outside the auto range may be shared on purpose */
	json_decref(mk(f, &admin, "vn", "{\"name\":\"vn3\",\"project\":\"demo\","
		       "\"route_target_import\":[\"target:64512:100\"]}"));
	json_decref(mk(f, &admin, "vn", "{\"name\":\"vn4\",\"project\":\"demo\","
		       "\"route_target_import\":[\"target:64512:100\"]}"));
	json_t *p1 = mk(f, &admin, "vmi", "{\"name\":\"p1\",\"project\":\"demo\","
			"\"virtual_network\":\"vn1\"}");
	json_t *p2 = mk(f, &admin, "vmi", "{\"name\":\"p2\",\"project\":\"demo\","
			"\"virtual_network\":\"vn1\",\"mac\":\"02:AA:00:00:00:01\"}");
	assert_string_equal(s_(p1, "mac"), "02:74:65:00:00:00");
	assert_string_equal(s_(p2, "mac"), "02:aa:00:00:00:01");
	/* UUIDs are version 7 (time first, so the stores' indexes append) and
	 * differ in their random part; one made a millisecond later sorts after. */
	const char *u1 = s_(p1, "uuid"), *u2 = s_(p2, "uuid");
	assert_int_equal(strlen(u1), 36);
	assert_int_equal(u1[14], '7');
	assert_non_null(strchr("89ab", u1[19]));
	assert_int_equal(u2[14], '7');
	assert_true(strcmp(u1 + 24, u2 + 24) != 0);
	usleep(2000);
	json_t *p4 = mk(f, &admin, "vmi", "{\"name\":\"p4\",\"project\":\"demo\","
			"\"virtual_network\":\"vn1\"}");
	assert_true(strcmp(u2, s_(p4, "uuid")) < 0);
	json_decref(p4);
	mk_bad(f, &admin, "vmi", "{\"name\":\"p3\",\"project\":\"demo\",\"virtual_network\":"
	       "\"vn1\",\"mac\":\"02:aa:00:00:00:01\"}", 409, "mac", "virtual-machine-interface "
	       "demo:p2");
	json_decref(vn2);
	json_decref(p1);
	json_decref(p2);
}

static void test_versions(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	json_t *p = mk(f, &admin, "vmi", "{\"name\":\"p1\",\"project\":\"demo\","
		       "\"virtual_network\":\"vn1\",\"node\":\"n1\"}");
	long long v = (long long)json_integer_value(json_object_get(p, "version"));
	char body[256];
	struct api_err e;
	json_t *out;
	const struct api_kind *k = api_kind_find("vmi");
	snprintf(body, sizeof(body), "{\"name\":\"p1\",\"project\":\"demo\",\"virtual_network\":"
		 "\"vn1\",\"node\":\"n2\",\"version\":%lld}", v);
	assert_int_equal(api_update(&f->c, &admin, k, s_(p, "uuid"), body, strlen(body), &out, &e),
			 0);
	assert_true(json_integer_value(json_object_get(out, "version")) > v);
	assert_string_equal(s_(out, "mac"), s_(p, "mac")); /* allocated value kept */
	json_decref(out);
	/* the same version again is stale now */
	int64_t before = api_revision(&f->c);
	assert_int_equal(api_update(&f->c, &admin, k, s_(p, "uuid"), body, strlen(body), &out, &e),
			 -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "version");
	assert_non_null(strstr(e.msg, "changed since you read it"));
	assert_int_equal(api_revision(&f->c), before);
	/* an update that changes nothing writes nothing (watchers see no event) */
	assert_int_equal(api_get(&f->c, &admin, k, s_(p, "uuid"), &out, &e), 0);
	snprintf(body, sizeof(body), "{\"name\":\"p1\",\"project\":\"demo\",\"virtual_network\":"
		 "\"vn1\",\"node\":\"n2\",\"version\":%lld}",
		 (long long)json_integer_value(json_object_get(out, "version")));
	json_decref(out);
	assert_int_equal(api_update(&f->c, &admin, k, s_(p, "uuid"), body, strlen(body), &out, &e),
			 0);
	json_decref(out);
	assert_int_equal(api_revision(&f->c), before);
	/* renaming is not an update */
	snprintf(body, sizeof(body), "{\"name\":\"p9\",\"project\":\"demo\",\"virtual_network\":"
		 "\"vn1\"}");
	assert_int_equal(api_update(&f->c, &admin, k, s_(p, "uuid"), body, strlen(body), &out, &e),
			 -1);
	assert_int_equal(e.status, 400);
	assert_string_equal(e.field, "name");
	json_decref(p);
}

static void test_authorisation(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	mk_bad(f, &reader, "vn", "{\"name\":\"r\",\"project\":\"demo\"}", 403, "", "read-only");
	mk_bad(f, &demo_admin, "vn", "{\"name\":\"r\",\"project\":\"other\"}", 403, "project",
	       "token for project demo cannot change objects of project other");
	mk_bad(f, &demo_admin, "project", "{\"name\":\"third\"}", 403, "", "cannot create");
	mk_bad(f, &demo_admin, "vr", "{\"name\":\"n1\",\"fabric_address\":\"10.0.0.1\"}", 403, "",
	       "global");
	json_t *o = mk(f, &admin, "vn", "{\"name\":\"vo\",\"project\":\"other\"}");
	/* a demo token cannot refer to other's network, read it, or delete it */
	mk_bad(f, &demo_admin, "vmi", "{\"name\":\"p\",\"project\":\"demo\",\"virtual_network\":"
	       "\"other:vo\"}", 403, "virtual_network", "cannot refer to objects of project other");
	struct api_err e;
	json_t *out;
	assert_int_equal(api_get(&f->c, &demo_admin, api_kind_find("vn"), s_(o, "uuid"), &out, &e),
			 -1);
	assert_int_equal(e.status, 403);
	assert_int_equal(api_delete(&f->c, &demo_admin, api_kind_find("vn"), s_(o, "uuid"), &out,
				    &e), -1);
	assert_int_equal(e.status, 403);
	assert_int_equal(api_delete(&f->c, &reader, api_kind_find("vn"), s_(o, "uuid"), &out, &e),
			 -1);
	assert_int_equal(e.status, 403);
	/* and lists only its own project */
	assert_int_equal(api_list(&f->c, &demo_admin, api_kind_find("vn"),
				  &(struct api_list_req){ 0 }, &out, &e), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);
	json_decref(mk(f, &demo_admin, "vn", "{\"name\":\"mine\",\"project\":\"demo\"}"));
	json_decref(o);
}

static void test_list_filters(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	json_decref(mk(f, &admin, "vn", "{\"name\":\"a\",\"project\":\"other\",\"labels\":"
		       "{\"tier\":\"web\"}}"));
	json_decref(mk(f, &admin, "vn", "{\"name\":\"b\",\"project\":\"demo\",\"labels\":"
		       "{\"tier\":\"db\"}}"));
	struct api_err e;
	json_t *out;
	const struct api_kind *k = api_kind_find("vn");
	struct { struct api_list_req rq; size_t n; } cases[] = {
		{ { 0 }, 3 },
		{ { .project = "demo" }, 2 },
		{ { .label = "tier=web" }, 1 },
		{ { .label = "tier" }, 2 },
		{ { .label = "tier=none" }, 0 },
		{ { .fq_name = "demo:b" }, 1 },
		{ { .name = "a" }, 1 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(api_list(&f->c, &admin, k, &cases[i].rq, &out, &e), 0);
		if (json_array_size(json_object_get(out, "items")) != cases[i].n)
			fail_msg("case %u: %zu items, wanted %zu", i,
				 json_array_size(json_object_get(out, "items")), cases[i].n);
		json_decref(out);
	}
	json_t *p = mk(f, &admin, "vmi", "{\"name\":\"p1\",\"project\":\"demo\","
		       "\"virtual_network\":\"vn1\"}");
	assert_int_equal(api_list(&f->c, &admin, api_kind_find("vmi"),
				  &(struct api_list_req){ .parent = s_(p, "parent") }, &out, &e), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);
	json_decref(p);
}

struct evs {
	int64_t rev[256];
	char type[256][12];
	int n;
};

static int ev_cb(void *arg, int64_t rev, const char *type, const char *kind, const char *uuid,
		 const char *body)
{
	struct evs *x = arg;
	(void)kind;
	(void)uuid;
	(void)body;
	x->rev[x->n] = rev;
	snprintf(x->type[x->n], 12, "%s", type);
	x->n++;
	return 0;
}

static void test_events(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f); /* revisions 1..3 */
	json_t *p = mk(f, &admin, "vmi", "{\"name\":\"p1\",\"project\":\"demo\","
		       "\"virtual_network\":\"vn1\"}");
	json_t *out;
	struct api_err e;
	assert_int_equal(api_delete(&f->c, &admin, api_kind_find("vmi"), s_(p, "uuid"), &out, &e),
			 0);
	json_decref(out);
	json_decref(p);
	struct evs x = { 0 };
	int64_t last;
	assert_int_equal(api_events(&f->c, &admin, 2, 100, ev_cb, &x, &last, &e), 0);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.rev[0], 3);
	assert_string_equal(x.type[1], "ADDED");
	assert_string_equal(x.type[2], "DELETED");
	assert_int_equal(last, 5);
	/* a project token does not see the other project's events, but its
	 * cursor moves past them */
	memset(&x, 0, sizeof(x));
	assert_int_equal(api_events(&f->c, &demo_admin, 0, 100, ev_cb, &x, &last, &e), 0);
	assert_int_equal(x.n, 4); /* demo, vn1, vmi added + deleted; not "other" */
	assert_int_equal(last, 5);
	/* api_wait returns at once when the revision is already past */
	assert_int_equal(api_wait(&f->c, 2, 1000), 5);
	assert_int_equal(api_wait(&f->c, 5, 10), 5); /* times out */
}

/* The event log keeps the newest N events: a watch from before them gets a
 * 410 naming the oldest one kept (list again), a watch from after the
 * floor goes on; the background thread compacts while writes go on. */
static void test_compaction(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f); /* revisions 1..3 */
	char body[96];
	for (int i = 0; i < 9; i++) {
		snprintf(body, sizeof(body), "{\"name\":\"c%d\"}", i);
		json_decref(mk(f, &admin, "project", body));
	}
	assert_int_equal(api_revision(&f->c), 12);
	struct api_err e = { 0 };
	struct evs x = { 0 };
	int64_t last;
	assert_int_equal(api_watch_check(&f->c, 0, &e), 0);
	assert_int_equal(api_compact(&f->c, 0, &e), -1);
	assert_int_equal(e.status, 400);
	assert_int_equal(api_compact(&f->c, 5, &e), 0); /* keeps 8..12 */
	assert_int_equal(api_watch_check(&f->c, 6, &e), -1);
	assert_int_equal(e.status, 410);
	assert_string_equal(e.field, "since");
	assert_int_equal(e.oldest, 8);
	assert_non_null(strstr(e.msg, "list the objects again"));
	assert_int_equal(api_watch_check(&f->c, 7, &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(api_events(&f->c, &admin, 3, 100, ev_cb, &x, &last, &e), -1);
	assert_int_equal(e.status, 410);
	assert_int_equal(e.oldest, 8);
	assert_int_equal(x.n, 0);
	assert_int_equal(api_events(&f->c, &admin, 7, 100, ev_cb, &x, &last, &e), 0);
	assert_int_equal(x.n, 5);
	assert_int_equal(x.rev[0], 8);
	assert_int_equal(last, 12);
	/* in the background: keep 4, while 20 more writes happen */
	assert_int_equal(api_core_history(&f->c, 4, &e), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(body, sizeof(body), "{\"name\":\"d%d\"}", i);
		json_decref(mk(f, &admin, "project", body));
	}
	int64_t rev = api_revision(&f->c);
	assert_int_equal(rev, 32);
	bool done = false;
	for (int i = 0; i < 60 && !done; i++) {
		usleep(100000);
		done = api_watch_check(&f->c, rev - 5, &e) < 0;
	}
	assert_true(done);
	assert_int_equal(e.oldest, rev - 3);
	memset(&x, 0, sizeof(x));
	assert_int_equal(api_events(&f->c, &admin, rev - 4, 100, ev_cb, &x, &last, &e), 0);
	assert_int_equal(x.n, 4);
	assert_int_equal(x.rev[0], rev - 3);
	api_core_stop(&f->c); /* stops the thread (fini does it too) */
}

/* ---- group commit and replicas -------------------------------------------- */

static size_t keep_body(char *d, size_t sz, size_t nm, void *arg)
{
	char *b = arg;
	size_t n = strlen(b), len = sz * nm, room = 4095 - n;
	memcpy(b + n, d, len < room ? len : room);
	b[n + (len < room ? len : room)] = 0;
	return len;
}

/* etcd's own revision (every etcd txn moves it by one); 0 on SQLite. */
static int64_t etcd_revision(struct fx *f)
{
	if (strcmp(f->p->store, "etcd") != 0)
		return 0;
	char url[128], body[4096] = "";
	snprintf(url, sizeof(url), "%s/v3/kv/range", f->p->etcd->endpoint);
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"key\":\"eA==\"}");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_cleanup(h);
	json_t *r = json_loads(body, 0, NULL);
	int64_t rev = strtoll(json_string_value(json_object_get(json_object_get(r, "header"),
								 "revision")) ?: "0", NULL, 10);
	json_decref(r);
	return rev;
}

#define G_THREADS 8
#define G_EACH    12

struct gworker {
	struct api_core *c;
	pthread_barrier_t *go;
	int id;
	int ok, bad_ref, same_ok, same_taken, other;
	char addrs[G_EACH][64];
};

/* Each round: a valid instance IP, one that refers to a network that does
 * not exist (400, alone), and one whose name every thread wants (one wins,
 * the others get 409) — all at once from every thread. */
static void *group_worker(void *arg)
{
	struct gworker *w = arg;
	const struct api_kind *k = api_kind_find("iip");
	pthread_barrier_wait(w->go);
	for (int i = 0; i < G_EACH; i++) {
		char body[3][160];
		snprintf(body[0], sizeof(body[0]), "{\"name\":\"g%d-%d\",\"project\":\"demo\","
			 "\"virtual_network\":\"vn1\"}", w->id, i);
		snprintf(body[1], sizeof(body[1]), "{\"name\":\"b%d-%d\",\"project\":\"demo\","
			 "\"virtual_network\":\"nowhere\"}", w->id, i);
		snprintf(body[2], sizeof(body[2]), "{\"name\":\"same-%d\",\"project\":\"demo\","
			 "\"virtual_network\":\"vn1\"}", i);
		for (int j = 0; j < 3; j++) {
			int r = (j + w->id) % 3; /* threads interleave the kinds of request */
			struct api_err e = { 0 };
			json_t *o;
			int rc = api_create(w->c, &admin, k, body[r], strlen(body[r]), &o, &e);
			if (r == 0 && rc == 0)
				snprintf(w->addrs[w->ok++], 64, "%s", s_(o, "address"));
			else if (r == 1 && rc < 0 && e.status == 400 &&
				 strstr(e.msg, "refers to virtual-network 'nowhere'"))
				w->bad_ref++;
			else if (r == 2 && rc == 0)
				w->same_ok++;
			else if (r == 2 && e.status == 409 && strstr(e.msg, "already exists"))
				w->same_taken++;
			else
				w->other++;
			if (rc == 0)
				json_decref(o);
		}
	}
	return NULL;
}

static int ev_count(void *arg, int64_t rev, const char *type, const char *kind,
		    const char *uuid, const char *body)
{
	int64_t *n = arg;
	(void)type, (void)kind, (void)uuid, (void)body;
	if (rev != n[1] + 1)
		fail_msg("event %lld after %lld: revisions must be dense", (long long)rev,
			 (long long)n[1]);
	n[1] = rev;
	n[0]++;
	return 0;
}

static void run_group(struct fx *f, struct api_core **cores, int n_cores, struct gworker *w)
{
	pthread_t t[G_THREADS];
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, G_THREADS);
	for (int i = 0; i < G_THREADS; i++) {
		w[i] = (struct gworker){ .c = cores[i % n_cores], .go = &go, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, group_worker, &w[i]), 0);
	}
	for (int i = 0; i < G_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	char all[G_THREADS * G_EACH][64];
	int n = 0, same = 0, taken = 0;
	for (int i = 0; i < G_THREADS; i++) {
		assert_int_equal(w[i].other, 0);
		assert_int_equal(w[i].ok, G_EACH);      /* every valid request committed */
		assert_int_equal(w[i].bad_ref, G_EACH); /* every invalid one failed, alone */
		same += w[i].same_ok;
		taken += w[i].same_taken;
		for (int j = 0; j < w[i].ok; j++)
			memcpy(all[n++], w[i].addrs[j], 64);
	}
	assert_int_equal(same, G_EACH); /* each contested name: one winner... */
	assert_int_equal(taken, G_EACH * (G_THREADS - 1)); /* ...and 409 for the rest */
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(all[i], all[j]) == 0)
				fail_msg("%s allocated twice", all[i]);
	/* the log: one event per committed create, dense, in order; another
	 * replica's last writes reach this one's event ring through the etcd
	 * watch, within milliseconds */
	int64_t cnt[2] = { 0, 0 }, last;
	struct api_err e;
	for (int tries = 0; tries < 300; tries++) {
		cnt[0] = cnt[1] = 0;
		assert_int_equal(api_events(&f->c, &admin, 0, 10000, ev_count, cnt, &last, &e), 0);
		if (cnt[0] == 3 + G_THREADS * G_EACH + G_EACH)
			break;
		usleep(10000);
	}
	assert_int_equal(cnt[0], 3 + G_THREADS * G_EACH + G_EACH);
}

static void test_group_commit(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	base(f);
	struct gworker w[G_THREADS];
	struct api_core *cores[1] = { &f->c };
	int64_t e0 = etcd_revision(f), r0 = api_revision(&f->c);
	run_group(f, cores, 1, w);
	int64_t e1 = etcd_revision(f), r1 = api_revision(&f->c);
	fprintf(stderr, "# %s: %lld writes in %lld etcd transactions\n", f->p->store,
		(long long)(r1 - r0), (long long)(e1 - e0));
	if (strcmp(f->p->store, "etcd") == 0)
		assert_true(e1 - e0 < r1 - r0); /* writes shared transactions */
}

/* A second tern-api on the same etcd (its own store connection and core):
 * requests through both at once stay consistent, and a watcher on one is
 * woken by a write through the other without waiting for a poll. */
static void test_two_replicas(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	if (strcmp(f->p->store, "etcd") != 0)
		skip();
	base(f);
	struct fx g = { .p = f->p };
	snprintf(g.path, sizeof(g.path), "%s", f->path);
	struct api_err e;
	g.s = open_store(&g);
	assert_non_null(g.s);
	tern_log_init(&g.lg, "api_core_test", NULL, TERN_LOG_WARN);
	assert_int_equal(api_core_init(&g.c, g.s, &g.lg, 64512, &e), 0);
	struct gworker w[G_THREADS];
	struct api_core *cores[2] = { &f->c, &g.c };
	run_group(f, cores, 2, w);
	/* a write through g wakes a watcher of f well before f's poll (1 s) */
	int64_t at = api_revision(&f->c);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	json_t *o;
	const char *body = "{\"name\":\"late\",\"project\":\"demo\",\"virtual_network\":\"vn1\"}";
	assert_int_equal(api_create(&g.c, &admin, api_kind_find("iip"), body, strlen(body), &o,
				    &e), 0);
	json_decref(o);
	struct timespec tw;
	clock_gettime(CLOCK_MONOTONIC, &tw);
	assert_int_equal(api_wait(&f->c, at, 5000), at + 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	double wms = (double)(tw.tv_sec - t0.tv_sec) * 1e3 + (double)(tw.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "# write through one replica to the other's watcher: %.2f ms (the write "
		"%.2f ms)\n", ms, wms);
	assert_true(ms < API_POLL_PUSHED_MS / 2);
	api_core_fini(&g.c);
	api_store_close(g.s);
}

/* A batch request (two objects, two events) written through one replica
 * reaches the other's mirror through the events' redo records: both
 * objects, their references and their claims, so the other replica
 * neither hands out the same MAC or address again nor deletes an interface
 * an instance IP still refers to. */
static void test_replica_batch(void **state)
{
	struct fx *f = *state;
	NEED_STORE(f);
	if (strcmp(f->p->store, "etcd") != 0)
		skip();
	base(f);
	struct fx g = { .p = f->p };
	snprintf(g.path, sizeof(g.path), "%s", f->path);
	struct api_err e = { 0 };
	g.s = open_store(&g);
	assert_non_null(g.s);
	tern_log_init(&g.lg, "api_core_test", NULL, TERN_LOG_WARN);
	assert_int_equal(api_core_init(&g.c, g.s, &g.lg, 64512, &e), 0);
	json_t *out, *out2, *o;
	json_t *items = batch_of("[{\"kind\":\"vmi\",\"object\":{\"name\":\"r1\","
		"\"project\":\"demo\",\"virtual_network\":\"vn1\"}},{\"kind\":\"iip\","
		"\"object\":{\"name\":\"r1-v4\",\"project\":\"demo\",\"virtual_network\":"
		"\"vn1\",\"virtual_machine_interface\":\"demo:r1\"}}]");
	if (api_create_batch(&g.c, &admin, items, &out, &e) < 0)
		fail_msg("batch on g: %d %s: %s", e.status, e.field, e.msg);
	json_decref(items);
	const char *vmi = s_(json_array_get(out, 0), "uuid");
	/* f reads both by uuid (its uuid/ index comes from the replay) */
	assert_int_equal(api_get(&f->c, &admin, api_kind_find("vmi"), vmi, &o, &e), 0);
	assert_string_equal(s_(o, "mac"), s_(json_array_get(out, 0), "mac"));
	json_decref(o);
	assert_int_equal(api_get(&f->c, &admin, api_kind_find("iip"),
				 s_(json_array_get(out, 1), "uuid"), &o, &e), 0);
	json_decref(o);
	/* f allocates after g's claims */
	items = batch_of("[{\"kind\":\"vmi\",\"object\":{\"name\":\"r2\","
		"\"project\":\"demo\",\"virtual_network\":\"vn1\"}},{\"kind\":\"iip\","
		"\"object\":{\"name\":\"r2-v4\",\"project\":\"demo\",\"virtual_network\":"
		"\"vn1\",\"virtual_machine_interface\":\"demo:r2\"}}]");
	if (api_create_batch(&f->c, &admin, items, &out2, &e) < 0)
		fail_msg("batch on f: %d %s: %s", e.status, e.field, e.msg);
	json_decref(items);
	assert_string_not_equal(s_(json_array_get(out2, 0), "mac"),
				s_(json_array_get(out, 0), "mac"));
	assert_string_not_equal(s_(json_array_get(out2, 1), "address"),
				s_(json_array_get(out, 1), "address"));
	/* g's instance IP refers to g's interface: f refuses to delete it */
	assert_int_equal(api_delete(&f->c, &admin, api_kind_find("vmi"), vmi, &o, &e), -1);
	assert_int_equal(e.status, 409);
	json_decref(out);
	json_decref(out2);
	api_core_fini(&g.c);
	api_store_close(g.s);
}

/* The same tests on each store, named "<store>: test" in the TAP output. */
#define CORE_TEST(label, f, p) { label ": " #f, f, setup, teardown, p }
#define CORE_TESTS(label, p)                                                          \
	CORE_TEST(label, test_references, p), CORE_TEST(label, test_instance_ips, p),  \
	CORE_TEST(label, test_concurrent_allocation, p), CORE_TEST(label, test_floating_and_vips, p), \
	CORE_TEST(label, test_unique_ids, p), CORE_TEST(label, test_versions, p),      \
	CORE_TEST(label, test_authorisation, p), CORE_TEST(label, test_list_filters, p), \
	CORE_TEST(label, test_events, p), CORE_TEST(label, test_group_commit, p),     \
	CORE_TEST(label, test_compaction, p), CORE_TEST(label, test_batch, p),        \
	CORE_TEST(label, test_concurrent_batches, p), CORE_TEST(label, test_write_async, p)

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
		CORE_TESTS("sqlite", &sqlite),
		CORE_TESTS("etcd", &etcdp),
		CORE_TEST("etcd", test_two_replicas, &etcdp),
		CORE_TEST("etcd", test_replica_batch, &etcdp),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_etcd_stop(&etcd);
	/* etcd installed but not starting is a failure, not a skip */
	return rc ? rc : (erc < 0 && erc != -ENOENT);
}
