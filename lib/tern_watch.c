/*
 * DOC: tern_watch.c — the client of tern-api that tern-agent and tern-control
 * share (see tern_watch.h).
 *
 * One thread owns the stream: it lists every configured kind (each item an
 * UPSERT), queues SYNCED, then follows one watch of all kinds from the lowest
 * list revision, keeping only the configured kinds. A table uuid → {last
 * revision, kind, last object} drops what the caller already has (lists and
 * watch overlap) and keeps deleted uuids as tombstones, so an older write never
 * brings an object back. On any failure it queues DOWN (once per outage),
 * backs off, and resumes the watch from the last event id it saw: tern-api
 * stores every event, so nothing is missed or repeated. A watch the server
 * refuses (400, or 410: its event log was compacted past our revision) means
 * the history is not there any more: the thread lists again, deletes what
 * vanished, and queues SYNCED again. A watch that falls behind a compaction
 * while it runs gets an "event: error" carrying the same 410 before the
 * stream ends: the same relist, with no DOWN.
 *
 * The thread drives its easy handle through a private multi handle only so that
 * tern_watch_free() can wake it at once (curl_multi_wakeup); a plain
 * curl_easy_perform() sleeps up to a second between progress callbacks.
 */
#include "tern_watch.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define API_TIMEOUT_MS    15000     /* synchronous requests and lists (5 s was hit on a loaded node) */
#define CONNECT_TIMEOUT_MS 5000     /* the kernel answers a SYN even when tern-api is busy */
#define RETRY_MAX_MS      5000
#define IDLE_DEFAULT_MS   25000     /* 2.5 keepalive periods */
#define SSE_LINE_MAX      (8u << 20) /* objects are at most 256 KiB; be generous */
#define ERRBODY_MAX       4096
#define TOMBSTONES_PRUNE  1024      /* tombstones kept before pruning those behind the watch */

struct qev {
	struct qev *next;
	enum tern_watch_ev type;
	const char *kind;               /* points into tern_watch.kinds */
	char *uuid;
	uint64_t revision;
	json_t *object;
	char *message;
};

struct buf {
	char *p;
	size_t len, cap;
};

struct tern_watch {
	/* configuration (copied) */
	char *url;                      /* without a trailing '/' */
	char *ca_file;
	char *kinds[TERN_WATCH_MAX_KINDS];
	unsigned nkinds, retry_ms, idle_ms;
	struct curl_slist *hdr_json;    /* Authorization + JSON */
	struct curl_slist *hdr_sse;     /* Authorization + event-stream */
	struct tern_log own_log;
	struct tern_log *log;

	/* the queue to the caller's thread */
	pthread_mutex_t mu;
	pthread_cond_t cond;            /* wakes the back-off sleep on stop */
	struct qev *head, *tail;
	int efd;
	atomic_bool stop;

	/* synchronous requests (the caller's thread) */
	pthread_mutex_t sync_mu;
	CURL *sync;

	/* the stream thread's own state */
	pthread_t thread;
	CURLM *multi;
	CURL *h;
	json_t *seen;                   /* uuid → {"rev", "kind", "gen", ["object"]} */
	unsigned gen;                   /* list generation, to find what vanished */
	unsigned tombstones, prune_at;
	uint64_t last_id;               /* last event id of the watch (or list revision) */
	bool down;                      /* DOWN queued, not yet reconnected */
	long status;                    /* HTTP status of the running watch, 0 before */
	uint64_t last_byte_ms;
	char why[256];                  /* why the running watch was aborted by us */
	struct buf line, data, errbody;
	size_t scanned;                 /* bytes of line already searched for '\n' */
	uint64_t ev_id;
	bool has_id;
	bool ev_error;                  /* the event being read is "event: error" */
	bool gone;                      /* the server said 410 in the stream */
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool stopping(struct tern_watch *a)
{
	return atomic_load(&a->stop);
}

static int buf_add(struct buf *b, const char *s, size_t n, size_t max)
{
	if (b->len + n + 1 > max)
		return -E2BIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

static size_t write_buf(char *p, size_t sz, size_t nm, void *arg)
{
	/* Bodies larger than a list of a busy node never come; 64 MiB caps a bug. */
	return buf_add(arg, p, sz * nm, 64u << 20) < 0 ? 0 : sz * nm;
}

static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	return stopping(arg) ? 1 : 0;
}

/* The reason a transfer failed, in words a user can act on. */
static void transport_reason(CURL *h, CURLcode res, const char *errbuf, char *out, size_t n)
{
	long os = 0;
	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os);
	if (res == CURLE_OPERATION_TIMEDOUT || !os)
		snprintf(out, n, "%s", errbuf[0] ? errbuf : curl_easy_strerror(res));
	else
		snprintf(out, n, "%s", strerror((int)os));
}

static int curl_errno(CURLcode res)
{
	switch (res) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNREFUSED;
	default:
		return -EIO;
	}
}

static int status_errno(long status, const char *method)
{
	switch (status) {
	case 400: return -EINVAL;
	case 401:
	case 403: return -EACCES;
	case 404: return -ENOENT;
	/* 409 on a delete: something refers to the object; otherwise: taken. */
	case 409: return strcmp(method, "DELETE") == 0 ? -EBUSY : -EEXIST;
	default: return -EIO;
	}
}

/* The server's {"error": {...}} as "field: message", or the raw body. */
static void server_message(const char *body, char *out, size_t n)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	json_t *e = json_object_get(j, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *field = json_string_value(json_object_get(e, "field"));
	if (msg && field && *field)
		snprintf(out, n, "%s: %s", field, msg);
	else if (msg)
		snprintf(out, n, "%s", msg);
	else
		snprintf(out, n, "%.200s", body && *body ? body : "(no body)");
	json_decref(j);
}

/* ---- the queue ------------------------------------------------------------- */

static void qev_free(struct qev *q)
{
	json_decref(q->object);
	free(q->uuid);
	free(q->message);
	free(q);
}

static int queue(struct tern_watch *a, enum tern_watch_ev type, const char *kind, const char *uuid,
		 uint64_t rev, json_t *obj, const char *msg)
{
	struct qev *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->type = type;
	q->kind = kind;
	q->revision = rev;
	q->uuid = uuid ? strdup(uuid) : NULL;
	q->message = msg ? strdup(msg) : NULL;
	if ((uuid && !q->uuid) || (msg && !q->message)) {
		qev_free(q);
		return -ENOMEM;
	}
	q->object = json_incref(obj);
	pthread_mutex_lock(&a->mu);
	if (a->tail)
		a->tail->next = q;
	else
		a->head = q;
	a->tail = q;
	pthread_mutex_unlock(&a->mu);
	uint64_t one = 1;
	/* Only fails when the counter would overflow: it is readable then anyway. */
	if (write(a->efd, &one, sizeof(one)) < 0)
		TLOG_DEBUG(a->log, "tern-api: eventfd write: %s", strerror(errno));
	return 0;
}

int tern_watch_fd(const struct tern_watch *a)
{
	return a->efd;
}

int tern_watch_drain(struct tern_watch *a, tern_watch_cb cb, void *arg)
{
	uint64_t v;
	/* Read first: an event queued after the swap below writes the fd again. */
	if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		TLOG_DEBUG(a->log, "tern-api: eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&a->mu);
	struct qev *q = a->head;
	a->head = a->tail = NULL;
	pthread_mutex_unlock(&a->mu);
	int n = 0;
	while (q) {
		struct qev *next = q->next;
		struct tern_watch_event ev = { .type = q->type, .kind = q->kind, .uuid = q->uuid,
					      .revision = q->revision, .object = q->object,
					      .message = q->message };
		if (cb)
			cb(arg, &ev);
		qev_free(q);
		q = next;
		n++;
	}
	return n;
}

/* ---- requests ---------------------------------------------------------------- */

/* Runs one transfer on the stream thread's multi handle, so that free() can wake
 * it. idle_ms > 0: abort when nothing arrived for that long (a dead peer). */
static CURLcode run_transfer(struct tern_watch *a, CURL *h, unsigned idle_ms)
{
	if (curl_multi_add_handle(a->multi, h) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	CURLcode res = CURLE_ABORTED_BY_CALLBACK;
	a->last_byte_ms = now_ms();
	int running = 1;
	for (;;) {
		if (curl_multi_perform(a->multi, &running) != CURLM_OK) {
			res = CURLE_RECV_ERROR;
			break;
		}
		CURLMsg *m;
		int left;
		bool done = false;
		while ((m = curl_multi_info_read(a->multi, &left))) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == h) {
				res = m->data.result;
				done = true;
			}
		}
		if (done || !running || stopping(a))
			break;
		if (idle_ms && now_ms() - a->last_byte_ms > idle_ms) {
			snprintf(a->why, sizeof(a->why), "nothing received for %u ms (tern-api sends "
				 "a keepalive every 10 s): connection presumed dead", idle_ms);
			res = CURLE_OPERATION_TIMEDOUT;
			break;
		}
		if (curl_multi_poll(a->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			res = CURLE_RECV_ERROR;
			break;
		}
	}
	curl_multi_remove_handle(a->multi, h);
	return res;
}

static void common_opts(struct tern_watch *a, CURL *h, const char *url, char *errbuf)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (a->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, a->ca_file);
	errbuf[0] = 0;
}

/* One JSON request. in_thread: the stream thread (interruptible by free()). */
static int request(struct tern_watch *a, CURL *h, bool in_thread, const char *method,
		   const char *path, json_t *body, json_t **out, char *err, size_t errlen)
{
	char url[1024], errbuf[CURL_ERROR_SIZE];
	struct buf reply = { 0 };
	char *text = NULL;
	int rc = 0;
	if (out)
		*out = NULL;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", a->url, path) >= sizeof(url)) {
		snprintf(err, errlen, "%s %s: the URL is too long", method, path);
		return -ENAMETOOLONG;
	}
	if (body && !(text = json_dumps(body, JSON_COMPACT))) {
		snprintf(err, errlen, "%s %s: the object cannot be encoded as JSON", method, path);
		return -EINVAL;
	}
	common_opts(a, h, url, errbuf);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, a->hdr_json);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)API_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_buf);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
	if (text)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	if (in_thread) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
	}
	CURLcode res = in_thread ? run_transfer(a, h, 0) : curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (res != CURLE_OK) {
		char why[256];
		transport_reason(h, res, errbuf, why, sizeof(why));
		snprintf(err, errlen, "tern-api %s unreachable: %s", a->url, why);
		rc = res == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED : curl_errno(res);
	} else if (status < 200 || status > 299) {
		char msg[512];
		server_message(reply.p, msg, sizeof(msg));
		snprintf(err, errlen, "%s %s: %ld %s", method, path, status, msg);
		rc = status_errno(status, method);
	} else {
		json_error_t je;
		json_t *j = json_loads(reply.p ? reply.p : "", 0, &je);
		if (!j) {
			snprintf(err, errlen, "%s %s: tern-api answered something that is not JSON "
				 "(line %d: %s)", method, path, je.line, je.text);
			rc = -EPROTO;
		} else if (out) {
			*out = j;
		} else {
			json_decref(j);
		}
	}
	free(reply.p);
	free(text);
	return rc;
}

static int sync_request(struct tern_watch *a, const char *method, const char *path, json_t *body,
			json_t **out, char *err, size_t errlen)
{
	pthread_mutex_lock(&a->sync_mu);
	int rc = request(a, a->sync, false, method, path, body, out, err, errlen);
	pthread_mutex_unlock(&a->sync_mu);
	return rc;
}

static bool kind_ok(const char *kind)
{
	if (!kind || !*kind || strlen(kind) > 63)
		return false;
	for (const char *p = kind; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '-'))
			return false;
	return true;
}

static bool uuid_ok(const char *uuid)
{
	if (!uuid || strlen(uuid) != 36)
		return false;
	for (const char *p = uuid; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		      (*p >= 'A' && *p <= 'F') || *p == '-'))
			return false;
	return true;
}

int tern_watch_create(struct tern_watch *a, const char *kind, json_t *obj, json_t **out,
		     char *err, size_t errlen)
{
	char path[128];
	if (!kind_ok(kind) || !json_is_object(obj)) {
		snprintf(err, errlen, "create: needs a kind name and a JSON object");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/v1/%s", kind);
	return sync_request(a, "POST", path, obj, out, err, errlen);
}

int tern_watch_create_batch(struct tern_watch *a, json_t *items, json_t **out, char *err,
			    size_t errlen)
{
	json_t *body = json_pack("{s:O}", "create", items), *reply = NULL;
	if (!body || !json_is_array(items)) {
		json_decref(body);
		snprintf(err, errlen, "batch: needs an array of {\"kind\", \"object\"}");
		return -EINVAL;
	}
	int rc = sync_request(a, "POST", "/v1/batch", body, &reply, err, errlen);
	json_decref(body);
	json_t *created = json_object_get(reply, "created");
	if (rc == 0 && json_array_size(created) != json_array_size(items)) {
		snprintf(err, errlen, "POST /v1/batch: tern-api answered %zu objects for %zu",
			 json_array_size(created), json_array_size(items));
		rc = -EPROTO;
	}
	*out = rc == 0 ? json_incref(created) : NULL;
	json_decref(reply);
	return rc;
}

int tern_watch_update(struct tern_watch *a, const char *kind, const char *uuid, json_t *obj,
		     json_t **out, char *err, size_t errlen)
{
	char path[128];
	if (!kind_ok(kind) || !uuid_ok(uuid) || !json_is_object(obj)) {
		snprintf(err, errlen, "update: needs a kind name, a UUID and a JSON object");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/v1/%s/%s", kind, uuid);
	return sync_request(a, "PUT", path, obj, out, err, errlen);
}

int tern_watch_delete(struct tern_watch *a, const char *kind, const char *uuid,
		     char *err, size_t errlen)
{
	char path[128];
	if (!kind_ok(kind) || !uuid_ok(uuid)) {
		snprintf(err, errlen, "delete: needs a kind name and a UUID (got '%s')",
			 uuid ? uuid : "");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/v1/%s/%s", kind, uuid);
	return sync_request(a, "DELETE", path, NULL, NULL, err, errlen);
}

int tern_watch_list(struct tern_watch *a, const char *kind, const char *query, json_t **items,
		   char *err, size_t errlen)
{
	char path[1024];
	json_t *r;
	*items = NULL;
	if (!kind_ok(kind)) {
		snprintf(err, errlen, "list: '%s' is not a kind name", kind ? kind : "");
		return -EINVAL;
	}
	if ((size_t)snprintf(path, sizeof(path), "/v1/%s%s%s", kind, query && *query ? "?" : "",
			     query ? query : "") >= sizeof(path)) {
		snprintf(err, errlen, "list %s: the query is too long", kind);
		return -ENAMETOOLONG;
	}
	int rc = sync_request(a, "GET", path, NULL, &r, err, errlen);
	if (rc < 0)
		return rc;
	json_t *it = json_object_get(r, "items");
	if (!json_is_array(it)) {
		snprintf(err, errlen, "GET %s: the answer has no \"items\" array", path);
		json_decref(r);
		return -EPROTO;
	}
	*items = json_incref(it);
	json_decref(r);
	return 0;
}

/* ---- the uuid table ------------------------------------------------------------ */

static const char *kind_find(struct tern_watch *a, const char *kind)
{
	for (unsigned i = 0; i < a->nkinds; i++)
		if (strcmp(a->kinds[i], kind) == 0)
			return a->kinds[i];
	return NULL;
}

static uint64_t entry_rev(json_t *e)
{
	return (uint64_t)json_integer_value(json_object_get(e, "rev"));
}

/* Deliver one write unless the caller already has it or something newer. */
static int apply(struct tern_watch *a, enum tern_watch_ev type, const char *kind, const char *uuid,
		 uint64_t rev, json_t *obj)
{
	json_t *e = json_object_get(a->seen, uuid);
	if (e) {
		json_object_set_new(e, "gen", json_integer(a->gen));
		if (rev <= entry_rev(e)) {
			TLOG_DEBUG(a->log, "tern-api: %s %s revision %" PRIu64 " dropped (have %"
				   PRIu64 ")", kind, uuid, rev, entry_rev(e));
			return 0;
		}
		if (!json_object_get(e, "object"))
			a->tombstones--;
	}
	json_t *n = json_pack("{s:I,s:s,s:I}", "rev", (json_int_t)rev, "kind", kind, "gen",
			      (json_int_t)a->gen);
	if (!n)
		return -ENOMEM;
	if (type == TERN_WATCH_UPSERT)
		json_object_set(n, "object", obj);
	else
		a->tombstones++;
	if (json_object_set_new(a->seen, uuid, n) < 0)
		return -ENOMEM;
	TLOG_DEBUG(a->log, "tern-api: %s %s %s revision %" PRIu64,
		   type == TERN_WATCH_UPSERT ? "upsert" : "delete", kind, uuid, rev);
	return queue(a, type, kind, uuid, rev, obj, NULL);
}

/* Tombstones at or below rev protect against nothing: every write still to
 * come is newer than rev. */
static void prune_tombstones(struct tern_watch *a, uint64_t rev)
{
	const char *k;
	json_t *e;
	void *tmp;
	json_object_foreach_safe(a->seen, tmp, k, e) {
		if (!json_object_get(e, "object") && entry_rev(e) <= rev) {
			json_object_del(a->seen, k);
			a->tombstones--;
		}
	}
}

/* ---- list ------------------------------------------------------------------------ */

/* reset: the store was replaced, its revisions do not compare with the ones in
 * the table: forget them (every listed object is delivered again) and forget
 * the tombstones. */
static void forget_revisions(struct tern_watch *a)
{
	const char *k;
	json_t *e;
	void *tmp;
	json_object_foreach_safe(a->seen, tmp, k, e) {
		if (json_object_get(e, "object"))
			json_object_set_new(e, "rev", json_integer(0));
		else
			json_object_del(a->seen, k);
	}
	a->tombstones = 0;
}

static int relist(struct tern_watch *a, bool reset, char *err, size_t errlen)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned n = 0;
	char path[128];
	if (reset)
		forget_revisions(a);
	a->gen++;
	for (unsigned i = 0; i < a->nkinds; i++) {
		json_t *r;
		snprintf(path, sizeof(path), "/v1/%s", a->kinds[i]);
		int rc = request(a, a->h, true, "GET", path, NULL, &r, err, errlen);
		if (rc < 0)
			return rc;
		json_t *items = json_object_get(r, "revision") ? json_object_get(r, "items") : NULL;
		if (!json_is_array(items)) {
			snprintf(err, errlen, "GET %s: the answer has no \"revision\" and \"items\"",
				 path);
			json_decref(r);
			return -EPROTO;
		}
		uint64_t rev = (uint64_t)json_integer_value(json_object_get(r, "revision"));
		lo = rev < lo ? rev : lo;
		hi = rev > hi ? rev : hi;
		size_t j;
		json_t *it;
		json_array_foreach(items, j, it) {
			const char *uuid = json_string_value(json_object_get(it, "uuid"));
			json_t *v = json_object_get(it, "version");
			if (!uuid || !json_is_integer(v))
				continue;
			if (apply(a, TERN_WATCH_UPSERT, a->kinds[i], uuid,
				  (uint64_t)json_integer_value(v), it) < 0) {
				json_decref(r);
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			n++;
		}
		json_decref(r);
	}
	if (!a->nkinds) {
		/* Nothing to list: the watch starts at the current revision. */
		json_t *r;
		int rc = request(a, a->h, true, "GET", "/v1/health", NULL, &r, err, errlen);
		if (rc < 0)
			return rc;
		lo = hi = (uint64_t)json_integer_value(json_object_get(r, "revision"));
		json_decref(r);
	}
	/* A relist after a refused watch: what is no longer listed was deleted while
	 * the history was out of reach. Its tombstone sits at the newest list. */
	const char *k;
	json_t *e;
	json_object_foreach(a->seen, k, e) {
		json_t *obj = json_object_get(e, "object");
		if (!obj || (unsigned)json_integer_value(json_object_get(e, "gen")) == a->gen)
			continue;
		const char *kind = kind_find(a, json_string_value(json_object_get(e, "kind")));
		json_incref(obj);
		json_object_set_new(e, "rev", json_integer((json_int_t)hi));
		json_object_del(e, "object");
		a->tombstones++;
		int rc = queue(a, TERN_WATCH_DELETE, kind, k, hi, obj, NULL);
		json_decref(obj);
		if (rc < 0) {
			snprintf(err, errlen, "out of memory");
			return rc;
		}
	}
	a->last_id = lo;
	prune_tombstones(a, lo);
	if (queue(a, TERN_WATCH_SYNCED, NULL, NULL, hi, NULL, NULL) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	TLOG_INFO(a->log, "tern-api %s: synced %u objects of %u kinds at revision %" PRIu64,
		  a->url, n, a->nkinds, hi);
	return 0;
}

/* ---- watch -------------------------------------------------------------------- */

/* One complete event: {"revision","type","kind","uuid","object"}. */
static int sse_event(struct tern_watch *a)
{
	if (!a->data.len)
		goto done;
	a->data.p[--a->data.len] = 0;   /* the last data line's '\n' */
	json_error_t je;
	if (a->ev_error) {
		/* {"error":{"status":410,...}}: the events after last_id were
		 * compacted away while we read them; anything else ends the
		 * stream as a failure */
		json_t *j = json_loads(a->data.p, 0, NULL);
		long st = (long)json_integer_value(json_object_get(json_object_get(j, "error"),
								   "status"));
		json_decref(j);
		char m[200];
		server_message(a->data.p, m, sizeof(m));
		snprintf(a->why, sizeof(a->why), "%ld %s", st, m);
		a->gone = st == 410;
		a->ev_error = false;
		a->data.len = 0;
		return -ESTALE;
	}
	json_t *j = json_loads(a->data.p, 0, &je);
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *kind = json_string_value(json_object_get(j, "kind"));
	const char *uuid = json_string_value(json_object_get(j, "uuid"));
	json_t *rev = json_object_get(j, "revision");
	json_t *obj = json_object_get(j, "object");
	if (!type || !kind || !uuid || !json_is_integer(rev) || !json_is_object(obj)) {
		snprintf(a->why, sizeof(a->why), "malformed watch event after revision %" PRIu64
			 ": %s", a->last_id, j ? "missing revision, type, kind, uuid or object" :
			 je.text);
		json_decref(j);
		return -EPROTO;
	}
	enum tern_watch_ev t = strcmp(type, "DELETED") == 0 ? TERN_WATCH_DELETE : TERN_WATCH_UPSERT;
	const char *k = kind_find(a, kind);
	int rc = 0;
	if (k)
		rc = apply(a, t, k, uuid, (uint64_t)json_integer_value(rev), obj);
	if (!a->has_id) {
		a->ev_id = (uint64_t)json_integer_value(rev);
		a->has_id = true;
	}
	json_decref(j);
	if (rc < 0) {
		snprintf(a->why, sizeof(a->why), "out of memory");
		return rc;
	}
done:
	if (a->has_id)
		a->last_id = a->ev_id;
	/* prune_at grows with what pruning cannot remove yet (tombstones of a
	 * relist the watch has not passed): no scan of the table per event. */
	if (a->tombstones > a->prune_at) {
		prune_tombstones(a, a->last_id);
		a->prune_at = a->tombstones + TOMBSTONES_PRUNE;
	}
	a->data.len = 0;
	a->has_id = false;
	a->ev_error = false;
	return 0;
}

static int sse_line(struct tern_watch *a, char *line, size_t n)
{
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = 0;
	if (n == 0)
		return sse_event(a);
	if (line[0] == ':')             /* comment: the hello or a keepalive */
		return 0;
	char *value = strchr(line, ':');
	if (value) {
		*value++ = 0;
		if (*value == ' ')
			value++;
	} else {
		value = line + n;
	}
	if (strcmp(line, "data") == 0) {
		if (buf_add(&a->data, value, strlen(value), SSE_LINE_MAX) < 0 ||
		    buf_add(&a->data, "\n", 1, SSE_LINE_MAX) < 0) {
			snprintf(a->why, sizeof(a->why), "a watch event is larger than %u bytes",
				 SSE_LINE_MAX);
			return -E2BIG;
		}
	} else if (strcmp(line, "id") == 0) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(value, &end, 10);
		if (!errno && *value && !*end) {
			a->ev_id = v;
			a->has_id = true;
		}
	} else if (strcmp(line, "event") == 0) {
		/* else it repeats the data's type */
		a->ev_error = strcmp(value, "error") == 0;
	}
	/* other fields are ignored (SSE rules) */
	return 0;
}

static void on_watch_open(struct tern_watch *a)
{
	if (a->down)
		TLOG_INFO(a->log, "tern-api %s: reconnected, watching from revision %" PRIu64,
			  a->url, a->last_id);
	else
		TLOG_INFO(a->log, "tern-api %s: watching from revision %" PRIu64, a->url,
			  a->last_id);
	a->down = false;
}

static size_t watch_write(char *p, size_t sz, size_t nm, void *arg)
{
	struct tern_watch *a = arg;
	size_t n = sz * nm;
	a->last_byte_ms = now_ms();
	if (!a->status) {
		curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &a->status);
		if (a->status == 200)
			on_watch_open(a);
	}
	if (a->status != 200) {
		if (a->errbody.len + n < ERRBODY_MAX)
			buf_add(&a->errbody, p, n, ERRBODY_MAX);
		return n;
	}
	if (buf_add(&a->line, p, n, SSE_LINE_MAX) < 0) {
		snprintf(a->why, sizeof(a->why), "a watch line is larger than %u bytes",
			 SSE_LINE_MAX);
		return 0;
	}
	/* Lines may split across writes: cut only complete ones, keep the rest. */
	size_t start = 0;
	char *nl;
	while ((nl = memchr(a->line.p + a->scanned, '\n', a->line.len - a->scanned))) {
		size_t end = (size_t)(nl - a->line.p);
		if (sse_line(a, a->line.p + start, end - start) < 0)
			return 0;
		start = a->scanned = end + 1;
	}
	memmove(a->line.p, a->line.p + start, a->line.len - start);
	a->line.len -= start;
	a->scanned = a->line.len;
	return n;
}

enum watch_end { WATCH_STOP, WATCH_DOWN, WATCH_RELIST };

static enum watch_end watch(struct tern_watch *a, char *msg, size_t msglen)
{
	char url[1024], errbuf[CURL_ERROR_SIZE];
	/* Every kind in one stream, filtered here: one connection per process. */
	snprintf(url, sizeof(url), "%s/v1/watch?since=%" PRIu64, a->url, a->last_id);
	common_opts(a, a->h, url, errbuf);
	curl_easy_setopt(a->h, CURLOPT_HTTPHEADER, a->hdr_sse);
	curl_easy_setopt(a->h, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(a->h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(a->h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(a->h, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(a->h, CURLOPT_XFERINFODATA, a);
	a->status = 0;
	a->why[0] = 0;
	a->line.len = a->data.len = a->errbody.len = a->scanned = 0;
	a->has_id = false;
	a->ev_error = a->gone = false;
	uint64_t since = a->last_id;
	CURLcode res = run_transfer(a, a->h, a->idle_ms);
	if (stopping(a))
		return WATCH_STOP;
	if (a->gone) {
		snprintf(msg, msglen, "tern-api %s: the watch fell behind the event log's "
			 "compaction after revision %" PRIu64 " (%s): listing everything again",
			 a->url, a->last_id, a->why);
		return WATCH_RELIST;
	}
	if (a->status && a->status != 200) {
		char m[512];
		server_message(a->errbody.p, m, sizeof(m));
		snprintf(msg, msglen, "tern-api %s refused the watch from revision %" PRIu64
			 " (%ld %s): listing everything again", a->url, since, a->status, m);
		return WATCH_RELIST;
	}
	char why[256];
	if (a->why[0])
		snprintf(why, sizeof(why), "%s", a->why);
	else if (res == CURLE_OK)
		snprintf(why, sizeof(why), "the server closed the watch");
	else
		transport_reason(a->h, res, errbuf, why, sizeof(why));
	if (a->status)
		snprintf(msg, msglen, "tern-api %s: watch lost after revision %" PRIu64 ": %s",
			 a->url, a->last_id, why);
	else
		snprintf(msg, msglen, "tern-api %s unreachable: %s", a->url, why);
	return WATCH_DOWN;
}

/* ---- the thread ---------------------------------------------------------------- */

static void go_down(struct tern_watch *a, const char *msg)
{
	if (a->down) {
		TLOG_DEBUG(a->log, "%s", msg);
		return;
	}
	a->down = true;
	TLOG_WARN(a->log, "%s (retrying)", msg);
	queue(a, TERN_WATCH_DOWN, NULL, NULL, a->last_id, NULL, msg);
}

/* Sleeps ms unless free() asks the thread to stop. */
static void backoff(struct tern_watch *a, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&a->mu);
	while (!stopping(a) && pthread_cond_timedwait(&a->cond, &a->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&a->mu);
}

/* Before resuming a watch: a store behind the last event seen was replaced or
 * restored from a backup, and a watch from there would wait for revisions that
 * mean something else. Returns 0, 1 (list again) or a negative errno. */
static int store_check(struct tern_watch *a, char *msg, size_t msglen)
{
	json_t *r;
	int rc = request(a, a->h, true, "GET", "/v1/health", NULL, &r, msg, msglen);
	if (rc < 0)
		return rc;
	json_t *v = json_object_get(r, "revision");
	bool behind = json_is_integer(v) && (uint64_t)json_integer_value(v) < a->last_id;
	uint64_t rev = (uint64_t)json_integer_value(v);
	json_decref(r);
	if (behind) {
		snprintf(msg, msglen, "tern-api %s is at revision %" PRIu64 ", before the last "
			 "event seen (%" PRIu64 "): its store was replaced or restored; listing "
			 "everything again", a->url, rev, a->last_id);
		return 1;
	}
	return 0;
}

static void *stream_main(void *arg)
{
	struct tern_watch *a = arg;
	enum { LIST, CHECK, WATCH } step = LIST;
	bool reset = false;
	unsigned delay = a->retry_ms;
	char msg[768];
	while (!stopping(a)) {
		int rc;
		switch (step) {
		case LIST:
			if (relist(a, reset, msg, sizeof(msg)) == 0) {
				step = WATCH;
				reset = false;
				a->down = false;
				delay = a->retry_ms;
				continue;
			}
			go_down(a, msg);
			break;
		case CHECK:
			rc = store_check(a, msg, sizeof(msg));
			if (rc >= 0) {
				if (rc > 0)
					TLOG_WARN(a->log, "%s", msg);
				step = rc > 0 ? LIST : WATCH;
				reset = rc > 0;
				continue;
			}
			go_down(a, msg);
			break;
		case WATCH:
			switch (watch(a, msg, sizeof(msg))) {
			case WATCH_STOP:
				break;
			case WATCH_RELIST:
				TLOG_WARN(a->log, "%s", msg);
				step = LIST;
				/* 410: the server is fine, only our revision is too
				 * old: list again soon, not after the outage's back-off */
				if (a->gone || a->status == 410)
					delay = a->retry_ms;
				break;
			case WATCH_DOWN:
				/* A watch that ran for a while: the next attempt starts fresh. */
				if (a->status == 200)
					delay = a->retry_ms;
				go_down(a, msg);
				step = CHECK;
				break;
			}
			break;
		}
		if (stopping(a))
			break;
		TLOG_DEBUG(a->log, "tern-api %s: next attempt in %u ms", a->url, delay);
		backoff(a, delay);
		delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
	}
	return NULL;
}

/* ---- life cycle --------------------------------------------------------------- */

void tern_watch_free(struct tern_watch *a)
{
	if (!a)
		return;
	if (a->multi) {
		pthread_mutex_lock(&a->mu);
		atomic_store(&a->stop, true);
		pthread_cond_broadcast(&a->cond);
		pthread_mutex_unlock(&a->mu);
		curl_multi_wakeup(a->multi);
		pthread_join(a->thread, NULL);
	}
	tern_watch_drain(a, NULL, NULL);
	json_decref(a->seen);
	if (a->h)
		curl_easy_cleanup(a->h);
	if (a->sync)
		curl_easy_cleanup(a->sync);
	if (a->multi)
		curl_multi_cleanup(a->multi);
	curl_slist_free_all(a->hdr_json);
	curl_slist_free_all(a->hdr_sse);
	free(a->line.p);
	free(a->data.p);
	free(a->errbody.p);
	for (unsigned i = 0; i < a->nkinds; i++)
		free(a->kinds[i]);
	free(a->url);
	free(a->ca_file);
	if (a->efd >= 0)
		close(a->efd);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->sync_mu);
	free(a);
	curl_global_cleanup();
}

static struct curl_slist *headers(const char *auth, const char *accept, const char *ctype)
{
	struct curl_slist *l = NULL, *t;
	const char *h[] = { auth, accept, ctype, "Expect:" };
	for (unsigned i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		if (!h[i])
			continue;
		if (!(t = curl_slist_append(l, h[i]))) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = t;
	}
	return l;
}

static int conf_copy(struct tern_watch *a, const struct tern_watch_conf *c, char *err,
		     size_t errlen)
{
	if (!c->url || (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))) {
		snprintf(err, errlen, "tern-api URL '%s' must start with http:// or https://",
			 c->url ? c->url : "");
		return -EINVAL;
	}
	if (!(a->url = strdup(c->url)) || (c->ca_file && !(a->ca_file = strdup(c->ca_file))))
		goto nomem;
	size_t n = strlen(a->url);
	while (n > 8 && a->url[n - 1] == '/')
		a->url[--n] = 0;
	for (unsigned i = 0; i < TERN_WATCH_MAX_KINDS && c->kinds[i]; i++) {
		if (!kind_ok(c->kinds[i])) {
			snprintf(err, errlen, "'%s' is not a kind name (virtual-network, ...)",
				 c->kinds[i]);
			return -EINVAL;
		}
		if (!(a->kinds[a->nkinds++] = strdup(c->kinds[i])))
			goto nomem;
	}
	a->retry_ms = c->retry_ms ? c->retry_ms : 200;
	if (a->retry_ms > RETRY_MAX_MS)
		a->retry_ms = RETRY_MAX_MS;
	a->idle_ms = c->idle_ms ? c->idle_ms : IDLE_DEFAULT_MS;

	char auth[512];
	const char *ah = NULL;
	if (c->token && *c->token) {
		if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token) >=
		    sizeof(auth)) {
			snprintf(err, errlen, "the tern-api token is longer than 256 characters");
			return -EINVAL;
		}
		ah = auth;
	}
	a->hdr_json = headers(ah, "Accept: application/json", "Content-Type: application/json");
	a->hdr_sse = headers(ah, "Accept: text/event-stream", NULL);
	if (!a->hdr_json || !a->hdr_sse)
		goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

struct tern_watch *tern_watch_new(const struct tern_watch_conf *conf, struct tern_log *log,
				char *err, size_t errlen)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl failed to initialise");
		return NULL;
	}
	struct tern_watch *a = calloc(1, sizeof(*a));
	if (!a) {
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->efd = -1;
	a->prune_at = TOMBSTONES_PRUNE;
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->sync_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!log) {
		tern_log_init(&a->own_log, "tern-watch", NULL, TERN_LOG_WARN);
		log = &a->own_log;
	}
	a->log = log;
	if (conf_copy(a, conf, err, errlen) < 0)
		goto fail;
	if ((a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (!(a->seen = json_object()) || !(a->sync = curl_easy_init()) ||
	    !(a->h = curl_easy_init())) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!(a->multi = curl_multi_init())) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	int rc = pthread_create(&a->thread, NULL, stream_main, a);
	if (rc) {
		snprintf(err, errlen, "cannot start the tern-api thread: %s", strerror(rc));
		curl_multi_cleanup(a->multi);
		a->multi = NULL;
		goto fail;
	}
	return a;
fail:
	tern_watch_free(a);
	return NULL;
}

int tern_watch_read_token(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(out, (int)len, f))
		out[0] = 0;
	fclose(f);
	out[strcspn(out, " \t\r\n")] = 0;
	return out[0] ? 0 : -EINVAL;
}
