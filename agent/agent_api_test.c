/*
 * DOC: agent_api_test.c — the tern-api client against a real tern-api started
 * by the test (fork/exec on a temporary SQLite store, port 0): list then
 * SYNCED, live events in order, kinds filtered, a restart of tern-api (DOWN,
 * then what was written meanwhile exactly once), a server that stops
 * answering (the idle timeout), synchronous calls and their errors, and a
 * prompt agent_api_free(). The binary is $TERN_API_BIN, else ../api/tern-api
 * next to this executable; builds without daemons (the sanitizer build) skip
 * the cases that need it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent_api.h"

#define MAX_REC 256

struct rec {
	enum agent_api_ev type;
	char kind[64], uuid[40], name[64], message[512];
	uint64_t revision;
	bool described;                 /* the object has a "description" */
};

struct fx {
	char bin[PATH_MAX];
	char dir[64];
	pid_t pid;
	int port;
	struct tern_log log;
	struct rec rec[MAX_REC];
	unsigned n;
};

/* ---- tern-api ------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void find_bin(struct fx *f)
{
	const char *env = getenv("TERN_API_BIN");
	char self[PATH_MAX - 32];
	f->bin[0] = 0;
	if (env && *env) {
		snprintf(f->bin, sizeof(f->bin), "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return;
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		snprintf(f->bin, sizeof(f->bin), "%s/../api/tern-api", self);
	}
	if (access(f->bin, X_OK) != 0) {
		printf("# tern-api is not built in this build (%s: %s): skipping the cases "
		       "that need it (set TERN_API_BIN to run them)\n", f->bin, strerror(errno));
		f->bin[0] = 0;
	}
}

/* Starts tern-api on the fixture's store; port 0: any; history: its
 * --event-history (NULL: the default). Returns its port or -1. */
static int api_start_hist(struct fx *f, const char *dbname, int port, const char *history,
			  pid_t *pid_out)
{
	char db[128], pf[128], listen[64];
	snprintf(db, sizeof(db), "%s/%s", f->dir, dbname);
	snprintf(pf, sizeof(pf), "%s/port", f->dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	unlink(pf);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(f->bin, f->bin, "--no-auth", "--db", db, "--listen", listen, "--port-file", pf,
		      "--log-level", "warn", "--event-history", history ? history : "100000",
		      (char *)NULL);
		_exit(127);
	}
	*pid_out = pid;
	for (int i = 0; i < 500; i++) {
		char b[32] = "";
		FILE *fp = fopen(pf, "r");
		if (fp) {
			size_t n = fread(b, 1, sizeof(b) - 1, fp);
			fclose(fp);
			b[n] = 0;
			if (strchr(b, '\n'))
				return atoi(b);
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			*pid_out = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static int api_start_db(struct fx *f, const char *dbname, int port, pid_t *pid_out)
{
	return api_start_hist(f, dbname, port, NULL, pid_out);
}

static int api_start(struct fx *f, int port, pid_t *pid_out)
{
	return api_start_db(f, "api.db", port, pid_out);
}

static void api_stop(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGCONT);
	kill(*pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

static int setup(void **state)
{
	struct fx *f = *state;
	f->n = 0;
	f->pid = 0;
	if (!f->bin[0])
		return 0;
	snprintf(f->dir, sizeof(f->dir), "/tmp/agent_api_test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->port = api_start(f, 0, &f->pid);
	return f->port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f->bin[0])
		return 0;
	api_stop(&f->pid);
	DIR *d = opendir(f->dir);
	if (d) {
		struct dirent *e;
		char p[PATH_MAX];
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	return 0;
}

/* ---- the client ------------------------------------------------------------- */

static void record(void *arg, const struct agent_api_event *ev)
{
	struct fx *f = arg;
	assert_true(f->n < MAX_REC);
	struct rec *r = &f->rec[f->n++];
	memset(r, 0, sizeof(*r));
	r->type = ev->type;
	r->revision = ev->revision;
	snprintf(r->kind, sizeof(r->kind), "%s", ev->kind ? ev->kind : "");
	snprintf(r->uuid, sizeof(r->uuid), "%s", ev->uuid ? ev->uuid : "");
	snprintf(r->message, sizeof(r->message), "%s", ev->message ? ev->message : "");
	const char *name = json_string_value(json_object_get(ev->object, "name"));
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	r->described = json_object_get(ev->object, "description") != NULL;
}

static unsigned count(struct fx *f, enum agent_api_ev type, unsigned from)
{
	unsigned c = 0;
	for (unsigned i = from; i < f->n; i++)
		c += f->rec[i].type == type;
	return c;
}

/* Drains until `want` events of `type` were recorded since `from`, or ms pass. */
static bool wait_for(struct fx *f, struct agent_api *a, enum agent_api_ev type, unsigned want,
		     unsigned from, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	for (;;) {
		agent_api_drain(a, record, f);
		if (count(f, type, from) >= want)
			return true;
		uint64_t now = now_ms();
		if (now >= end)
			return false;
		struct pollfd p = { .fd = agent_api_fd(a), .events = POLLIN };
		poll(&p, 1, (int)(end - now));
	}
}

/* Everything that arrives within ms. */
static void settle(struct fx *f, struct agent_api *a, unsigned ms)
{
	wait_for(f, a, AGENT_API_UPSERT, 1000000, 0, ms);
}

static struct agent_api *client(struct fx *f, int port, const char *const *kinds, unsigned idle)
{
	struct agent_api_conf c = { .retry_ms = 50, .idle_ms = idle };
	char url[64], err[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	c.url = url;
	for (unsigned i = 0; kinds && kinds[i]; i++)
		c.kinds[i] = kinds[i];
	struct agent_api *a = agent_api_new(&c, &f->log, err, sizeof(err));
	if (!a)
		print_error("agent_api_new: %s\n", err);
	assert_non_null(a);
	return a;
}

static const char *const conf_kinds[] = { "project", "virtual-network", NULL };

/* Creates an object from a JSON text; returns its uuid in out. */
static void create(struct agent_api *a, const char *kind, const char *json, char *uuid)
{
	char err[512];
	json_t *o = json_loads(json, 0, NULL), *r = NULL;
	assert_non_null(o);
	int rc = agent_api_create(a, kind, o, &r, err, sizeof(err));
	if (rc < 0)
		print_error("create %s: %s\n", kind, err);
	assert_int_equal(rc, 0);
	if (uuid)
		snprintf(uuid, 40, "%s", json_string_value(json_object_get(r, "uuid")));
	json_decref(o);
	json_decref(r);
}

static void describe(struct agent_api *a, const char *uuid, const char *text)
{
	char err[512], j[256];
	snprintf(j, sizeof(j), "{\"name\":\"vn1\",\"project\":\"p1\",\"description\":\"%s\","
		 "\"subnets\":[{\"cidr\":\"10.1.0.0/24\"}]}", text);
	json_t *o = json_loads(j, 0, NULL);
	int rc = agent_api_update(a, "virtual-network", uuid, o, NULL, err, sizeof(err));
	if (rc < 0)
		print_error("update: %s\n", err);
	assert_int_equal(rc, 0);
	json_decref(o);
}

static void delete(struct agent_api *a, const char *kind, const char *uuid)
{
	char err[512];
	int rc = agent_api_delete(a, kind, uuid, err, sizeof(err));
	if (rc < 0)
		print_error("delete: %s\n", err);
	assert_int_equal(rc, 0);
}

static void expect(struct fx *f, unsigned i, enum agent_api_ev type, const char *kind,
		   const char *name)
{
	if (i >= f->n)
		fail_msg("event %u missing (%u recorded)", i, f->n);
	struct rec *r = &f->rec[i];
	if (r->type != type || (kind && strcmp(r->kind, kind)) || (name && strcmp(r->name, name)))
		fail_msg("event %u: got type %d %s '%s', expected type %d %s '%s'", i, r->type,
			 r->kind, r->name, type, kind ? kind : "", name ? name : "");
}

#define NEED_API(f) do { if (!(f)->bin[0]) skip(); } while (0)

#define VN1 "{\"name\":\"vn1\",\"project\":\"p1\",\"subnets\":[{\"cidr\":\"10.1.0.0/24\"}]}"
#define VN2 "{\"name\":\"vn2\",\"project\":\"p1\",\"subnets\":[{\"cidr\":\"10.2.0.0/24\"}]}"
#define VN3 "{\"name\":\"vn3\",\"project\":\"p1\",\"subnets\":[{\"cidr\":\"10.3.0.0/24\"}]}"

/* ---- cases -------------------------------------------------------------------- */

static void t_list_then_synced(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	/* No kinds: a client that only writes (its watch follows /v1/health's revision). */
	struct agent_api *w = client(f, f->port, NULL, 0);
	create(w, "project", "{\"name\":\"p1\"}", NULL);
	create(w, "virtual-network", VN1, NULL);
	struct agent_api *a = client(f, f->port, conf_kinds, 0);
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, 0, 3000));
	settle(f, a, 300);
	assert_int_equal(f->n, 3);
	expect(f, 0, AGENT_API_UPSERT, "project", "p1");
	expect(f, 1, AGENT_API_UPSERT, "virtual-network", "vn1");
	expect(f, 2, AGENT_API_SYNCED, NULL, NULL);
	assert_int_equal(f->rec[2].revision, 2);
	/* The writer's stream delivered nothing: it watches no kind. */
	assert_true(!wait_for(f, w, AGENT_API_UPSERT, 1, 3, 100));
	assert_int_equal(count(f, AGENT_API_SYNCED, 0), 2);
	agent_api_free(w);
	agent_api_free(a);
}

static void t_live_in_order(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	char vn[40];
	struct agent_api *a = client(f, f->port, conf_kinds, 0);
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, 0, 3000));
	assert_int_equal(f->n, 1);
	create(a, "project", "{\"name\":\"p1\"}", NULL);
	create(a, "virtual-network", VN1, vn);
	describe(a, vn, "blue");
	delete(a, "virtual-network", vn);
	assert_true(wait_for(f, a, AGENT_API_DELETE, 1, 0, 3000));
	settle(f, a, 200);
	assert_int_equal(f->n, 5);
	expect(f, 1, AGENT_API_UPSERT, "project", "p1");
	expect(f, 2, AGENT_API_UPSERT, "virtual-network", "vn1");
	expect(f, 3, AGENT_API_UPSERT, "virtual-network", "vn1");
	expect(f, 4, AGENT_API_DELETE, "virtual-network", "vn1");
	assert_false(f->rec[2].described);
	assert_true(f->rec[3].described);
	assert_string_equal(f->rec[4].uuid, vn);
	for (unsigned i = 2; i < 5; i++)
		assert_true(f->rec[i].revision > f->rec[i - 1].revision);
	agent_api_free(a);
}

static void t_kinds_filtered(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	const char *const kinds[] = { "virtual-network", NULL };
	struct agent_api *a = client(f, f->port, kinds, 0);
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, 0, 3000));
	create(a, "project", "{\"name\":\"p1\"}", NULL);
	create(a, "network-ipam", "{\"name\":\"ipam1\",\"project\":\"p1\"}", NULL);
	create(a, "virtual-network", VN1, NULL);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 1, 0, 3000));
	settle(f, a, 200);
	assert_int_equal(f->n, 2);
	expect(f, 1, AGENT_API_UPSERT, "virtual-network", "vn1");
	agent_api_free(a);
}

/* tern-api stops; another instance on the same store takes writes while the
 * client cannot reach it; tern-api comes back on the same port: the client
 * resumes from its last event id and sees each of those writes once. */
static void t_restart(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	char vn1[40], vn2[40], url[64];
	struct agent_api *a = client(f, f->port, conf_kinds, 0);
	create(a, "project", "{\"name\":\"p1\"}", NULL);
	create(a, "virtual-network", VN1, vn1);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 2, 0, 3000));

	api_stop(&f->pid);
	assert_true(wait_for(f, a, AGENT_API_DOWN, 1, 0, 3000));
	unsigned down = f->n - 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
	assert_non_null(strstr(f->rec[down].message, url));

	pid_t other = 0;
	int port2 = api_start(f, 0, &other);
	assert_true(port2 > 0);
	struct agent_api *w = client(f, port2, NULL, 0);
	create(w, "virtual-network", VN2, vn2);
	describe(w, vn1, "changed while away");
	delete(w, "virtual-network", vn2);
	agent_api_free(w);
	api_stop(&other);

	assert_int_equal(api_start(f, f->port, &f->pid), f->port);
	assert_true(wait_for(f, a, AGENT_API_DELETE, 1, down, 5000));
	create(a, "virtual-network", VN3, NULL);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 3, down, 3000));
	settle(f, a, 300);
	assert_int_equal(f->n, down + 5);
	assert_int_equal(count(f, AGENT_API_DOWN, 0), 1);
	assert_int_equal(count(f, AGENT_API_SYNCED, 0), 1);
	expect(f, down + 1, AGENT_API_UPSERT, "virtual-network", "vn2");
	expect(f, down + 2, AGENT_API_UPSERT, "virtual-network", "vn1");
	assert_true(f->rec[down + 2].described);
	expect(f, down + 3, AGENT_API_DELETE, "virtual-network", "vn2");
	expect(f, down + 4, AGENT_API_UPSERT, "virtual-network", "vn3");
	agent_api_free(a);
}

/* While the client is away, a tern-api keeping one event compacts the log
 * past the client's last event: the watch from there gets 410, and the
 * client lists again (what changed, nothing twice) and says SYNCED again. */
static void t_compacted(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	char vn1[40], vn2[40];
	struct agent_api *a = client(f, f->port, conf_kinds, 0);
	create(a, "project", "{\"name\":\"p1\"}", NULL);
	create(a, "virtual-network", VN1, vn1);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 2, 0, 3000));
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, 0, 3000));
	api_stop(&f->pid);
	assert_true(wait_for(f, a, AGENT_API_DOWN, 1, 0, 3000));
	unsigned down = f->n - 1;

	pid_t other = 0;
	int port2 = api_start_hist(f, "api.db", 0, "1", &other);
	assert_true(port2 > 0);
	struct agent_api *w = client(f, port2, NULL, 0);
	create(w, "virtual-network", VN2, vn2);
	describe(w, vn1, "changed while away");
	delete(w, "virtual-network", vn2);
	create(w, "virtual-network", VN3, NULL);
	agent_api_free(w);
	usleep(2500000); /* its compaction looks once a second */
	api_stop(&other);

	assert_int_equal(api_start(f, f->port, &f->pid), f->port);
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, down, 5000));
	settle(f, a, 300);
	assert_int_equal(f->n, down + 4);
	expect(f, down + 1, AGENT_API_UPSERT, "virtual-network", "vn1");
	assert_true(f->rec[down + 1].described);
	expect(f, down + 2, AGENT_API_UPSERT, "virtual-network", "vn3");
	expect(f, down + 3, AGENT_API_SYNCED, NULL, NULL);
	assert_int_equal(count(f, AGENT_API_DOWN, 0), 1);
	agent_api_free(a);
}

/* A server that keeps the connection but says nothing (SIGSTOP) is given up on
 * after idle_ms; the client comes back once it answers again. */
static void t_dead_connection(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	struct agent_api *a = client(f, f->port, conf_kinds, 1500);
	/* An event after SYNCED comes through the watch: it is open when the
	 * server stops. */
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, 0, 3000));
	create(a, "project", "{\"name\":\"p1\"}", NULL);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 1, 0, 3000));
	kill(f->pid, SIGSTOP);
	assert_true(wait_for(f, a, AGENT_API_DOWN, 1, 0, 4000));
	assert_non_null(strstr(f->rec[f->n - 1].message, "watch lost after revision 1"));
	assert_non_null(strstr(f->rec[f->n - 1].message, "presumed dead"));
	kill(f->pid, SIGCONT);
	unsigned from = f->n;
	create(a, "project", "{\"name\":\"p2\"}", NULL);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 1, from, 5000));
	settle(f, a, 200);
	assert_int_equal(count(f, AGENT_API_UPSERT, 0), 2);
	assert_int_equal(count(f, AGENT_API_SYNCED, 0), 1);
	agent_api_free(a);
}

/* tern-api comes back on the same port with another (empty) store: its
 * revisions are behind the last event seen, so the client lists again, deletes
 * what is gone and says SYNCED again. */
static void t_store_replaced(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	char p1[40], vn1[40], p9[40];
	struct agent_api *a = client(f, f->port, conf_kinds, 0);
	create(a, "project", "{\"name\":\"p1\"}", p1);
	create(a, "virtual-network", VN1, vn1);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 2, 0, 3000));
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, 0, 3000));
	api_stop(&f->pid);
	assert_true(wait_for(f, a, AGENT_API_DOWN, 1, 0, 3000));
	unsigned down = f->n - 1;
	assert_int_equal(api_start_db(f, "other.db", f->port, &f->pid), f->port);
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, down, 5000));
	create(a, "project", "{\"name\":\"p9\"}", p9);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 1, down, 3000));
	settle(f, a, 200);
	assert_int_equal(f->n, down + 5);
	expect(f, down + 1, AGENT_API_DELETE, NULL, NULL);
	expect(f, down + 2, AGENT_API_DELETE, NULL, NULL);
	assert_true((!strcmp(f->rec[down + 1].uuid, p1) && !strcmp(f->rec[down + 2].uuid, vn1)) ||
		    (!strcmp(f->rec[down + 1].uuid, vn1) && !strcmp(f->rec[down + 2].uuid, p1)));
	expect(f, down + 3, AGENT_API_SYNCED, NULL, NULL);
	expect(f, down + 4, AGENT_API_UPSERT, "project", "p9");
	assert_string_equal(f->rec[down + 4].uuid, p9);
	assert_int_equal(f->rec[down + 4].revision, 1);
	agent_api_free(a);
}

static void t_sync_calls(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	char err[512], p1[40], p2[40];
	const char *const kinds[] = { "project", NULL };
	struct agent_api *a = client(f, f->port, kinds, 0);
	create(a, "project", "{\"name\":\"p1\"}", p1);

	json_t *o = json_pack("{s:s}", "name", "p1"), *out = (json_t *)1;
	assert_int_equal(agent_api_create(a, "project", o, &out, err, sizeof(err)), -EEXIST);
	assert_null(out);
	assert_non_null(strstr(err, "409"));
	json_decref(o);

	o = json_loads("{\"name\":\"bad\",\"project\":\"p1\",\"subnets\":[{\"cidr\":\"10.1.0.0/33\"}]}",
		       0, NULL);
	assert_int_equal(agent_api_create(a, "virtual-network", o, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "subnets[0].cidr"));
	assert_non_null(strstr(err, "is not a prefix"));
	json_decref(o);

	json_t *items;
	assert_int_equal(agent_api_list(a, "project", "name=p1", &items, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(items), 1);
	json_decref(items);
	assert_int_equal(agent_api_list(a, "virtual-network", NULL, &items, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	assert_int_equal(agent_api_list(a, "no-such-kind", NULL, &items, err, sizeof(err)),
			 -ENOENT);
	assert_null(items);

	const char *zero = "00000000-0000-0000-0000-000000000000";
	assert_int_equal(agent_api_delete(a, "project", zero, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no project with uuid"));
	assert_int_equal(agent_api_delete(a, "project", "not-a-uuid", err, sizeof(err)), -EINVAL);

	/* A batch: a network and an address on it that names it, one transaction;
	 * a failing item fails the whole batch, saying which. */
	items = json_loads("[{\"kind\":\"virtual-network\",\"object\":{\"name\":\"n1\","
			   "\"project\":\"p1\",\"subnets\":[{\"cidr\":\"10.9.0.0/24\"}]}},"
			   "{\"kind\":\"instance-ip\",\"object\":{\"name\":\"a1\",\"project\":"
			   "\"p1\",\"virtual_network\":\"p1:n1\"}}]", 0, NULL);
	assert_int_equal(agent_api_create_batch(a, items, &out, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(out), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 1), "address")),
			    "10.9.0.2");
	char n1[40], a1[40];
	snprintf(n1, sizeof(n1), "%s", json_string_value(json_object_get(json_array_get(out, 0),
								       "uuid")));
	snprintf(a1, sizeof(a1), "%s", json_string_value(json_object_get(json_array_get(out, 1),
								       "uuid")));
	json_decref(out);
	json_decref(items);
	items = json_loads("[{\"kind\":\"instance-ip\",\"object\":{\"name\":\"a2\","
			   "\"project\":\"p1\",\"virtual_network\":\"p1:n1\"}},"
			   "{\"kind\":\"instance-ip\",\"object\":{\"name\":\"a3\",\"project\":"
			   "\"p1\",\"virtual_network\":\"p1:n9\"}}]", 0, NULL);
	assert_int_equal(agent_api_create_batch(a, items, &out, err, sizeof(err)), -EINVAL);
	assert_null(out);
	assert_non_null(strstr(err, "create[1]"));
	json_decref(items);
	assert_int_equal(agent_api_list(a, "instance-ip", "name=a2", &items, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(items), 0);  /* a2 was not written either */
	json_decref(items);

	/* Referred to: 409 on a delete is -EBUSY. */
	create(a, "project", "{\"name\":\"p2\"}", p2);
	create(a, "network-ipam", "{\"name\":\"ipam1\",\"project\":\"p2\"}", NULL);
	assert_int_equal(agent_api_delete(a, "project", p2, err, sizeof(err)), -EBUSY);

	delete(a, "instance-ip", a1);
	delete(a, "virtual-network", n1);
	delete(a, "project", p1);
	assert_int_equal(agent_api_delete(a, "project", p1, err, sizeof(err)), -ENOENT);
	agent_api_free(a);
}

static void t_free_during_stream(void **state)
{
	struct fx *f = *state;
	NEED_API(f);
	struct agent_api *a = client(f, f->port, conf_kinds, 0);
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 1, 0, 3000));
	create(a, "project", "{\"name\":\"p1\"}", NULL);
	assert_true(wait_for(f, a, AGENT_API_UPSERT, 1, 0, 3000));
	usleep(300000);                 /* the thread sits in poll on an idle stream */
	uint64_t t0 = now_ms();
	agent_api_free(a);
	uint64_t took = now_ms() - t0;
	if (took >= 200)
		fail_msg("agent_api_free took %llu ms", (unsigned long long)took);
}

/* Needs no tern-api: a port nobody listens on. */
static void t_unreachable(void **state)
{
	struct fx *f = *state;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	int port = ntohs(sin.sin_port);
	char url[64], err[512];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	f->n = 0;
	struct agent_api *a = client(f, port, conf_kinds, 0);
	assert_true(wait_for(f, a, AGENT_API_DOWN, 1, 0, 3000));
	assert_non_null(strstr(f->rec[0].message, url));
	assert_non_null(strstr(f->rec[0].message, "unreachable"));
	settle(f, a, 400);              /* several retries: still one DOWN */
	assert_int_equal(f->n, 1);

	json_t *o = json_pack("{s:s}", "name", "p1");
	assert_int_equal(agent_api_create(a, "project", o, NULL, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, url));
	json_decref(o);

	uint64_t t0 = now_ms();
	agent_api_free(a);
	assert_true(now_ms() - t0 < 200);

	struct agent_api_conf bad = { .url = "127.0.0.1:8082" };
	assert_null(agent_api_new(&bad, &f->log, err, sizeof(err)));
	assert_non_null(strstr(err, "http://"));
}

/* ---- a scripted server ---------------------------------------------------------- */

#define U1 "11111111-1111-1111-1111-111111111111"
#define U2 "22222222-2222-2222-2222-222222222222"
#define U3 "33333333-3333-3333-3333-333333333333"
#define U4 "44444444-4444-4444-4444-444444444444"

/* Lines cut in small pieces with pauses (curl gets them in several writes),
 * CRLF and LF endings, an event whose data spans two lines, an old event for a
 * listed object, a kind not configured. */
static const char stream1[] =
	": tern-api watch from revision 5\r\n\r\n"
	"id: 6\r\nevent: ADDED\r\ndata: {\"revision\":6,\"type\":\"ADDED\",\"kind\":\"project\","
	"\"uuid\":\"" U2 "\",\"object\":{\"name\":\"b\",\"uuid\":\"" U2 "\",\"version\":6}}\r\n\r\n"
	"id: 7\nevent: MODIFIED\ndata: {\"revision\":2,\"type\":\"MODIFIED\",\"kind\":\"project\","
	"\"uuid\":\"" U1 "\",\"object\":{\"name\":\"old\",\"uuid\":\"" U1 "\",\"version\":2}}\n\n"
	": keepalive\n\n"
	"id: 8\nevent: MODIFIED\ndata: {\"revision\":8,\"type\":\"MODIFIED\",\"kind\":\"project\",\n"
	"data: \"uuid\":\"" U2 "\",\"object\":{\"name\":\"b2\",\"uuid\":\"" U2 "\",\"version\":8}}\n\n"
	"id: 9\nevent: ADDED\ndata: {\"revision\":9,\"type\":\"ADDED\",\"kind\":\"virtual-network\","
	"\"uuid\":\"" U3 "\",\"object\":{\"name\":\"vn\",\"uuid\":\"" U3 "\",\"version\":9}}\n\n";

/* A compaction overtakes the watch: the 410 comes inside the stream. */
static const char stream2[] =
	": tern-api watch from revision 12\n\n"
	"id: 13\nevent: ADDED\ndata: {\"revision\":13,\"type\":\"ADDED\",\"kind\":\"project\","
	"\"uuid\":\"" U4 "\",\"object\":{\"name\":\"c\",\"uuid\":\"" U4 "\",\"version\":13}}\n\n"
	"event: error\ndata: {\"error\":{\"status\":410,\"field\":\"since\",\"message\":"
	"\"compacted\",\"oldest_revision\":20}}\n\n";

static void fake_json(int c, int status, const char *body)
{
	char h[256];
	int n = snprintf(h, sizeof(h), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(body));
	if (write(c, h, (size_t)n) < 0 || write(c, body, strlen(body)) < 0)
		_exit(2);
}

static void fake_serve(int ls, const char *log)
{
	static const char sse[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				  "Connection: close\r\n\r\n";
	int lists = 0;
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			_exit(1);
		char req[4096];
		size_t len = 0;
		while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
			ssize_t r = read(c, req + len, sizeof(req) - 1 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
			req[len] = 0;
		}
		req[len] = 0;
		char *eol = strstr(req, " HTTP/");
		if (eol)
			*eol = 0;
		FILE *fp = fopen(log, "a");
		if (fp) {
			fprintf(fp, "%s\n", req);
			fclose(fp);
		}
		int list = strcmp(req, "GET /v1/project") == 0 ? lists++ : -1;
		if (list == 0) {
			fake_json(c, 200, "{\"kind\":\"project\",\"revision\":5,\"items\":[{\"name\":\"a\","
				  "\"uuid\":\"" U1 "\",\"version\":3}]}");
		} else if (list == 1) {
			fake_json(c, 200, "{\"kind\":\"project\",\"revision\":12,\"items\":[{\"name\":\"b2\","
				  "\"uuid\":\"" U2 "\",\"version\":8}]}");
		} else if (list >= 2) {
			fake_json(c, 200, "{\"kind\":\"project\",\"revision\":14,\"items\":[{\"name\":\"b2\","
				  "\"uuid\":\"" U2 "\",\"version\":8}]}");
		} else if (strcmp(req, "GET /v1/health") == 0) {
			fake_json(c, 200, "{\"status\":\"ok\",\"revision\":9}");
		} else if (strcmp(req, "GET /v1/watch?since=5") == 0) {
			if (write(c, sse, sizeof(sse) - 1) < 0)
				_exit(2);
			for (size_t i = 0; i < sizeof(stream1) - 1; i += 7) {
				size_t n = sizeof(stream1) - 1 - i < 7 ? sizeof(stream1) - 1 - i : 7;
				if (write(c, stream1 + i, n) < 0)
					_exit(2);
				usleep(300);
			}
		} else if (strcmp(req, "GET /v1/watch?since=9") == 0) {
			fake_json(c, 410, "{\"error\":{\"status\":410,\"field\":\"since\","
				  "\"message\":\"compacted\"}}");
		} else if (strcmp(req, "GET /v1/watch?since=12") == 0) {
			/* an event, then the watch falls behind a compaction */
			if (write(c, sse, sizeof(sse) - 1) < 0 ||
			    write(c, stream2, sizeof(stream2) - 1) < 0)
				_exit(2);
			usleep(100000);
		} else if (strcmp(req, "GET /v1/watch?since=14") == 0) {
			if (write(c, sse, sizeof(sse) - 1) < 0 || write(c, ": hello\n\n", 9) < 0)
				_exit(2);
			pause();
		} else {
			fake_json(c, 500, "{\"error\":{\"status\":500,\"message\":\"unexpected\"}}");
		}
		close(c);
	}
}

static int stop_fake(void **state)
{
	struct fx *f = *state;
	api_stop(&f->pid);
	return 0;
}

/* Needs no tern-api: the SSE parser, per-uuid order, the filter, DOWN on a
 * closed stream, resuming from the last id, and a refused watch (410) → a
 * relist that deletes what vanished and says SYNCED again; a 410 inside the
 * stream (a compaction overtook the watch) → the same relist, no DOWN. */
static void t_scripted(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/agent_api_test.XXXXXX", log[64];
	assert_non_null(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/requests", dir);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 8), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &slen), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		fake_serve(ls, log);
	f->pid = pid;                   /* stop_fake() ends it even when a check fails */
	close(ls);
	f->n = 0;
	const char *const kinds[] = { "project", NULL };
	struct agent_api *a = client(f, ntohs(sin.sin_port), kinds, 0);
	assert_true(wait_for(f, a, AGENT_API_SYNCED, 3, 0, 5000));
	settle(f, a, 200);
	api_stop(&f->pid);
	agent_api_free(a);

	assert_int_equal(f->n, 10);
	expect(f, 0, AGENT_API_UPSERT, "project", "a");
	assert_string_equal(f->rec[0].uuid, U1);
	assert_int_equal(f->rec[0].revision, 3);
	expect(f, 1, AGENT_API_SYNCED, NULL, NULL);
	expect(f, 2, AGENT_API_UPSERT, "project", "b");
	expect(f, 3, AGENT_API_UPSERT, "project", "b2");
	assert_int_equal(f->rec[3].revision, 8);
	expect(f, 4, AGENT_API_DOWN, NULL, NULL);
	assert_non_null(strstr(f->rec[4].message, "the server closed the watch"));
	expect(f, 5, AGENT_API_DELETE, "project", "a");
	assert_string_equal(f->rec[5].uuid, U1);
	assert_int_equal(f->rec[5].revision, 12);
	expect(f, 6, AGENT_API_SYNCED, NULL, NULL);
	expect(f, 7, AGENT_API_UPSERT, "project", "c");
	assert_int_equal(f->rec[7].revision, 13);
	expect(f, 8, AGENT_API_DELETE, "project", "c");
	assert_int_equal(f->rec[8].revision, 14);
	expect(f, 9, AGENT_API_SYNCED, NULL, NULL);

	char got[1024] = "";
	FILE *fp = fopen(log, "r");
	assert_non_null(fp);
	size_t n = fread(got, 1, sizeof(got) - 1, fp);
	got[n] = 0;
	fclose(fp);
	assert_string_equal(got, "GET /v1/project\nGET /v1/watch?since=5\nGET /v1/health\n"
			    "GET /v1/watch?since=9\nGET /v1/project\nGET /v1/watch?since=12\n"
			    "GET /v1/project\nGET /v1/watch?since=14\n");
	unlink(log);
	rmdir(dir);
}

int main(void)
{
	struct fx f = { 0 };
	const char *lvl = getenv("AGENT_API_TEST_LOG");
	enum tern_log_level l = TERN_LOG_ERR;
	if (lvl)
		tern_log_level_parse(lvl, &l);
	tern_log_init(&f.log, "agent_api_test", NULL, l);
	find_bin(&f);
#define CASE(t) cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &f)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(t_unreachable, &f),
		cmocka_unit_test_prestate_setup_teardown(t_scripted, NULL, stop_fake, &f),
		CASE(t_list_then_synced),
		CASE(t_live_in_order),
		CASE(t_kinds_filtered),
		CASE(t_restart),
		CASE(t_store_replaced),
		CASE(t_compacted),
		CASE(t_dead_connection),
		CASE(t_sync_calls),
		CASE(t_free_during_stream),
	};
	/* Without tern-api only the first two cases run: tests/run counts a cmocka
	 * skip ("not ok # SKIP") as a failure. */
	size_t n = f.bin[0] ? sizeof(tests) / sizeof(tests[0]) : 2;
	return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
}
