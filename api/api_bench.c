/*
 * DOC: api_bench.c — tern-api-bench, the load tool of bench/api.sh.
 *
 *   tern-api-bench create|create-batch URL TOKEN VN CLIENTS COUNT
 *       CLIENTS threads, each with its own keep-alive connection, each
 *       creating COUNT virtual-machine-interfaces in VN ("project:name"),
 *       each with an instance IP: two POSTs per pair (create), or the pair
 *       in one POST /v1/batch, one transaction (create-batch). Prints
 *       "ops=<pairs> secs=<s> rate=<pairs/s>".
 *   tern-api-bench etcd-put ETCD_URL CLIENTS COUNT
 *       the same shape of load on etcd's own v3 JSON gateway (/v3/kv/put,
 *       one small put per request): the ceiling tern-api on etcd is measured
 *       against. Prints "ops=<puts> secs=<s> rate=<puts/s>".
 *   tern-api-bench watch URL TOKEN VN COUNT [WATCH_URL]
 *       opens a watch (on WATCH_URL: another replica, else on URL), then
 *       creates COUNT interfaces one at a time through URL and times each
 *       from just before the POST to its ADDED event arriving.
 *       Prints "p50=<ms> p99=<ms> n=<events>".
 *
 * A measuring tool, not a daemon: it exits non-zero naming the first failed
 * request, so that a benchmark never reports a rate of failures.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct run {
	const char *url, *token, *vn_project, *vn_name;
	const char *watch_url; /* watch mode: where the watch is (NULL: url) */
	int count, id;
	bool batch;            /* create: each pair in one POST /v1/batch */
	char err[512];
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct sink {
	char buf[2048];
	size_t n;
};

static size_t keep_head(char *d, size_t sz, size_t nm, void *arg)
{
	struct sink *k = arg;
	size_t len = sz * nm, room = sizeof(k->buf) - 1 - k->n;
	size_t c = len < room ? len : room;
	memcpy(k->buf + k->n, d, c);
	k->n += c;
	k->buf[k->n] = 0;
	return len;
}

static CURL *client(const char *token, struct curl_slist **h)
{
	CURL *c = curl_easy_init();
	char auth[512];
	*h = curl_slist_append(NULL, "Content-Type: application/json");
	*h = curl_slist_append(*h, "Expect:");
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		*h = curl_slist_append(*h, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_head);
	return c;
}

/* POST body to url; 0 when the status is want. */
static int post(CURL *c, const char *url, const char *body, long want, char *err, size_t len)
{
	struct sink k = { .n = 0 };
	long code = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
	CURLcode cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_OK && code == want)
		return 0;
	snprintf(err, len, "POST %s: %s %ld %.300s", url, cc ? curl_easy_strerror(cc) : "HTTP",
		 code, k.buf);
	return -1;
}

/* One VMI and its instance IP. */
static int create_pair(CURL *c, struct run *r, int i, const char *tag)
{
	char url[512], body[1024];
	if (r->batch) {
		/* what an orchestrator does: both objects in one request, one
		 * transaction (all or none) */
		snprintf(url, sizeof(url), "%s/v1/batch", r->url);
		snprintf(body, sizeof(body), "{\"create\":[{\"kind\":\"virtual-machine-interface\","
			 "\"object\":{\"name\":\"%s%d-%d\",\"project\":\"%s\",\"virtual_network\":"
			 "\"%s\"}},{\"kind\":\"instance-ip\",\"object\":{\"name\":\"%s%d-%d-v4\","
			 "\"project\":\"%s\",\"virtual_network\":\"%s\",\"virtual_machine_interface\":"
			 "\"%s%d-%d\"}}]}", tag, r->id, i, r->vn_project, r->vn_name, tag, r->id, i,
			 r->vn_project, r->vn_name, tag, r->id, i);
		return post(c, url, body, 201, r->err, sizeof(r->err));
	}
	snprintf(url, sizeof(url), "%s/v1/virtual-machine-interface", r->url);
	snprintf(body, sizeof(body), "{\"name\":\"%s%d-%d\",\"project\":\"%s\","
		 "\"virtual_network\":\"%s\"}", tag, r->id, i, r->vn_project, r->vn_name);
	if (post(c, url, body, 201, r->err, sizeof(r->err)) < 0)
		return -1;
	snprintf(url, sizeof(url), "%s/v1/instance-ip", r->url);
	snprintf(body, sizeof(body), "{\"name\":\"%s%d-%d-v4\",\"project\":\"%s\","
		 "\"virtual_network\":\"%s\",\"virtual_machine_interface\":\"%s%d-%d\"}", tag,
		 r->id, i, r->vn_project, r->vn_name, tag, r->id, i);
	return post(c, url, body, 201, r->err, sizeof(r->err));
}

static void *create_run(void *arg)
{
	struct run *r = arg;
	struct curl_slist *h;
	CURL *c = client(r->token, &h);
	char tag[32];
	/* the pid: names from two runs never collide */
	snprintf(tag, sizeof(tag), "b%ld-", (long)getpid());
	for (int i = 0; i < r->count && !r->err[0]; i++)
		create_pair(c, r, i, tag);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return NULL;
}

static char *b64(const char *s)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s);
	char *o = malloc(n / 3 * 4 + 8), *p = o;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)s[i] << 16 |
			     (i + 1 < n ? (uint32_t)(unsigned char)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? (unsigned char)s[i + 2] : 0);
		*p++ = t[v >> 18 & 63];
		*p++ = t[v >> 12 & 63];
		*p++ = i + 1 < n ? t[v >> 6 & 63] : '=';
		*p++ = i + 2 < n ? t[v & 63] : '=';
	}
	*p = 0;
	return o;
}

static void *put_run(void *arg)
{
	struct run *r = arg;
	struct curl_slist *h;
	CURL *c = client(NULL, &h);
	char url[512], key[64], body[1024];
	snprintf(url, sizeof(url), "%s/v3/kv/put", r->url);
	/* a value the size of a small object body */
	char *val = b64("{\"kind\":\"virtual-machine-interface\",\"name\":\"bench\","
			"\"project\":\"demo\",\"mac\":\"02:74:65:00:00:01\"}");
	for (int i = 0; i < r->count && !r->err[0]; i++) {
		snprintf(key, sizeof(key), "bench/raw/%d/%d", r->id, i);
		char *k = b64(key);
		snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", k, val);
		free(k);
		post(c, url, body, 200, r->err, sizeof(r->err));
	}
	free(val);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return NULL;
}

static int load(void *(*fn)(void *), struct run *proto, int clients)
{
	struct run *rs = calloc((size_t)clients, sizeof(*rs));
	pthread_t *t = calloc((size_t)clients, sizeof(*t));
	double t0 = now_s();
	for (int i = 0; i < clients; i++) {
		rs[i] = *proto;
		rs[i].id = i;
		pthread_create(&t[i], NULL, fn, &rs[i]);
	}
	int rc = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(t[i], NULL);
		if (rs[i].err[0] && !rc) {
			fprintf(stderr, "tern-api-bench: client %d: %s\n", i, rs[i].err);
			rc = 1;
		}
	}
	double secs = now_s() - t0;
	long ops = (long)clients * proto->count;
	if (!rc)
		printf("ops=%ld secs=%.3f rate=%.0f\n", ops, secs, (double)ops / secs);
	free(rs);
	free(t);
	return rc;
}

/* ---- watch latency ------------------------------------------------------------ */

struct watch {
	const char *url, *token;
	double *sent, *got;     /* per object index */
	int count, seen;
	char line[65536];
	size_t n;
	pthread_mutex_t lock;
	bool open;
};

static void on_line(struct watch *w, const char *l)
{
	/* data: {...,"object":{...,"name":"lat-<i>",...}} of an ADDED event */
	if (strncmp(l, "data: ", 6) != 0 || !strstr(l, "\"type\":\"ADDED\""))
		return;
	const char *p = strstr(l, "\"name\":\"lat-");
	if (!p)
		return;
	int i = atoi(p + 12);
	pthread_mutex_lock(&w->lock);
	if (i >= 0 && i < w->count && w->got[i] == 0) {
		w->got[i] = now_s();
		w->seen++;
	}
	pthread_mutex_unlock(&w->lock);
}

static size_t watch_data(char *d, size_t sz, size_t nm, void *arg)
{
	struct watch *w = arg;
	size_t len = sz * nm;
	pthread_mutex_lock(&w->lock);
	w->open = true;
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '\n') {
			w->line[w->n] = 0;
			on_line(w, w->line);
			w->n = 0;
		} else if (w->n < sizeof(w->line) - 1) {
			w->line[w->n++] = d[i];
		}
	}
	pthread_mutex_lock(&w->lock);
	int done = w->seen >= w->count;
	pthread_mutex_unlock(&w->lock);
	return done ? 0 : len; /* 0 ends the transfer */
}

static void *watch_run(void *arg)
{
	struct watch *w = arg;
	struct curl_slist *h;
	CURL *c = client(w->token, &h);
	char url[512];
	snprintf(url, sizeof(url), "%s/v1/watch?kind=virtual-machine-interface", w->url);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int watch_lat(struct run *r)
{
	struct watch w = { .url = r->watch_url ? r->watch_url : r->url, .token = r->token,
			   .count = r->count };
	w.sent = calloc((size_t)r->count, sizeof(double));
	w.got = calloc((size_t)r->count, sizeof(double));
	pthread_mutex_init(&w.lock, NULL);
	pthread_t t;
	pthread_create(&t, NULL, watch_run, &w);
	for (int i = 0; i < 100; i++) { /* the stream's first bytes: it is open */
		pthread_mutex_lock(&w.lock);
		bool open = w.open;
		pthread_mutex_unlock(&w.lock);
		if (open)
			break;
		struct timespec d = { 0, 20000000L };
		nanosleep(&d, NULL);
	}
	struct curl_slist *h;
	CURL *c = client(r->token, &h);
	char url[512], body[512];
	int rc = 0;
	snprintf(url, sizeof(url), "%s/v1/virtual-machine-interface", r->url);
	long tag = (long)getpid();
	for (int i = 0; i < r->count && !rc; i++) {
		snprintf(body, sizeof(body), "{\"name\":\"lat-%d-%ld\",\"project\":\"%s\","
			 "\"virtual_network\":\"%s\"}", i, tag, r->vn_project, r->vn_name);
		pthread_mutex_lock(&w.lock);
		w.sent[i] = now_s();
		pthread_mutex_unlock(&w.lock);
		rc = post(c, url, body, 201, r->err, sizeof(r->err));
		struct timespec d = { 0, 5000000L }; /* one write at a time: no queueing */
		nanosleep(&d, NULL);
	}
	pthread_join(t, NULL);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	double *lat = calloc((size_t)r->count, sizeof(double));
	int n = 0;
	for (int i = 0; i < r->count; i++)
		if (w.got[i] > 0)
			lat[n++] = (w.got[i] - w.sent[i]) * 1000.0;
	if (rc) {
		fprintf(stderr, "tern-api-bench: %s\n", r->err);
	} else if (n < r->count) {
		fprintf(stderr, "tern-api-bench: the watch saw %d of %d events\n", n, r->count);
		rc = 1;
	} else {
		qsort(lat, (size_t)n, sizeof(double), cmp_d);
		int i99 = n * 99 / 100 < n ? n * 99 / 100 : n - 1;
		printf("p50=%.2f p99=%.2f n=%d\n", lat[n / 2], lat[i99], n);
	}
	free(lat);
	free(w.sent);
	free(w.got);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

static int split_vn(const char *vn, struct run *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s", vn);
	char *colon = strchr(buf, ':');
	if (!colon)
		return -1;
	*colon = 0;
	r->vn_project = buf;
	r->vn_name = colon + 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct run r = { 0 };
	char vn[256];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = 2;
	if (argc == 7 && (strcmp(argv[1], "create") == 0 || strcmp(argv[1], "create-batch") == 0)) {
		r.batch = strcmp(argv[1], "create-batch") == 0;
		r.url = argv[2];
		r.token = argv[3];
		r.count = atoi(argv[6]);
		if (split_vn(argv[4], &r, vn, sizeof(vn)) == 0 && r.count > 0 && atoi(argv[5]) > 0)
			rc = load(create_run, &r, atoi(argv[5]));
	} else if (argc == 5 && strcmp(argv[1], "etcd-put") == 0) {
		r.url = argv[2];
		r.count = atoi(argv[4]);
		if (r.count > 0 && atoi(argv[3]) > 0)
			rc = load(put_run, &r, atoi(argv[3]));
	} else if ((argc == 6 || argc == 7) && strcmp(argv[1], "watch") == 0) {
		r.url = argv[2];
		r.watch_url = argc == 7 ? argv[6] : NULL;
		r.token = argv[3];
		r.count = atoi(argv[5]);
		if (split_vn(argv[4], &r, vn, sizeof(vn)) == 0 && r.count > 0)
			rc = watch_lat(&r);
	}
	if (rc == 2)
		fprintf(stderr, "usage: tern-api-bench create|create-batch URL TOKEN PROJECT:VN CLIENTS "
				"COUNT\n"
				"       tern-api-bench etcd-put ETCD_URL CLIENTS COUNT\n"
				"       tern-api-bench watch URL TOKEN PROJECT:VN COUNT [WATCH_URL]\n");
	curl_global_cleanup();
	return rc;
}
