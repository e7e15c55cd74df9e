/*
 * DOC: api_http.c — libmicrohttpd glue: routing, bodies, bearer tokens,
 * JSON replies, the server-sent-events watch. No validation or store logic
 * here: every decision is api_core's, so the unit tests cover it without
 * HTTP.
 *
 * One thread serves every connection (MHD in epoll mode, run by loop_main),
 * and never sleeps on the store: a write does its work at once and ends
 * its transaction with the store's end op, its connection suspended; the
 * store's thread resumes it once the outcome is durable, and the loop
 * answers. After each round of requests the loop kicks the store, which
 * then commits all the round's writes as one group. Why: with a thread
 * per connection each request cost two thread wakeups (its socket, its
 * commit), and on this machine's paravirtual kernel a wakeup is tens of
 * microseconds; one loop wakes once for a whole round. A watch with
 * nothing to send is suspended too, and resumed when the revision moves
 * (api_core_on_change) or its keepalive is due. Reads run on the loop.
 */
#include "api_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct watch;

struct api_http {
	struct MHD_Daemon *d;
	struct api_core *core;
	const struct api_auth *auth;
	struct tern_log *log;
	uint16_t port;
	pthread_t loop;
	int wake;              /* eventfd: the revision moved, or stop */
	bool wake_sent;        /* (atomic) wake written, the loop not yet up:
				* one write serves every callback till then */
	bool stop;             /* (atomic) the loop ends once no write is pending */
	/* lock: between a write's end and its callback (struct req's ended,
	 * suspended) */
	pthread_mutex_t lock;
	struct watch *parked;  /* watches suspended with nothing to send (loop only) */
	int writes;            /* writes whose store answer is pending (loop only) */
	int64_t polled_ms;     /* the last look at the store for other replicas' writes */
};

/* Per request: the body as it arrives, and a write under way. */
struct req {
	char *body;
	size_t len, cap;
	bool too_big;
	struct api_http *h;
	struct MHD_Connection *conn;
	struct api_ident id;
	json_t *batch;         /* POST /v1/batch's parsed body */
	struct api_write w;
	bool writing;          /* w started: the answer is api_write_finish's */
	bool ended;            /* (under lock) its store outcome is in */
	bool suspended;        /* (under lock) waiting for it */
};

#define WATCH_BATCH     256
#define WATCH_KEEPALIVE 10000 /* ms between ": keepalive" lines on an idle watch */
/* a write's answer is waited for this long when tern-api stops */
#define STOP_WAIT_MS    5000

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void wake_loop(struct api_http *h)
{
	if (__atomic_exchange_n(&h->wake_sent, true, __ATOMIC_ACQ_REL))
		return;
	uint64_t one = 1;
	ssize_t n = write(h->wake, &one, sizeof(one));
	(void)n; /* (a full counter wakes the loop as well) */
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, char *text,
				  const char *ctype)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
								 MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	if (status == 401)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"tern-api\"");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return MHD_NO;
	size_t n = strlen(text);
	char *nl = realloc(text, n + 2);
	if (!nl) {
		free(text);
		return MHD_NO;
	}
	nl[n] = '\n';
	nl[n + 1] = 0;
	return reply_text(conn, status, nl, "application/json");
}

static enum MHD_Result reply_err(struct MHD_Connection *conn, const struct api_err *e)
{
	json_t *j = json_pack("{s:{s:i,s:s,s:s}}", "error", "status", e->status, "field",
			      e->field, "message", e->msg);
	if (e->status == 410) /* the event log was compacted: where it starts now */
		json_object_set_new(json_object_get(j, "error"), "oldest_revision",
				    json_integer(e->oldest));
	return reply_json(conn, (unsigned)e->status, j);
}

static enum MHD_Result fail(struct MHD_Connection *conn, int status, const char *field,
			    const char *msg)
{
	struct api_err e;
	api_errf(&e, status, field, "%s", msg);
	return reply_err(conn, &e);
}

/* 0 with id set, or -1 with e (401). */
static int authenticate(struct api_http *h, struct MHD_Connection *conn, struct api_ident *id,
			struct api_err *e)
{
	memset(id, 0, sizeof(*id));
	if (!h->auth) {
		id->role = API_ROLE_ADMIN;
		snprintf(id->name, sizeof(id->name), "anonymous (--no-auth)");
		return 0;
	}
	const char *hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (!hdr)
		return api_errf(e, 401, "", "no token: send 'Authorization: Bearer <token>' (ternctl: "
				"--token or TERN_TOKEN)");
	if (strncasecmp(hdr, "Bearer ", 7) != 0)
		return api_errf(e, 401, "", "the Authorization header must be 'Bearer <token>'");
	if (api_auth_check(h->auth, hdr + 7, id) < 0)
		return api_errf(e, 401, "", "unknown token");
	return 0;
}

static const char *arg(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* ---- the watch stream ---------------------------------------------------- */

struct watch {
	struct api_core *core;
	struct api_http *h;
	struct MHD_Connection *conn;
	struct watch *next;  /* in h->parked */
	int64_t quiet_since; /* ms: when it last sent (keepalive after WATCH_KEEPALIVE) */
	struct api_ident id;
	int64_t cursor;      /* last revision handed out (or skipped) */
	char *buf;           /* pending bytes */
	size_t len, off, cap;
	const struct api_kind *kind; /* NULL: every kind */
	bool ending;         /* the last bytes are queued: then end the stream */
};

static int wbuf_add(struct watch *w, const char *s, size_t n)
{
	if (w->len + n > w->cap) {
		size_t cap = (w->len + n) * 2;
		char *b = realloc(w->buf, cap);
		if (!b)
			return -ENOMEM;
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	return 0;
}

static int watch_event(void *arg, int64_t rev, const char *type, const char *kind,
		       const char *uuid, const char *body)
{
	struct watch *w = arg;
	if (w->kind && strcmp(kind, w->kind->name) != 0)
		return 0;
	char head[256];
	int n = snprintf(head, sizeof(head), "id: %" PRId64 "\nevent: %s\ndata: {\"revision\":%"
			 PRId64 ",\"type\":\"%s\",\"kind\":\"%s\",\"uuid\":\"%s\",\"object\":",
			 rev, type, rev, type, kind, uuid);
	if (wbuf_add(w, head, (size_t)n) < 0 || wbuf_add(w, body, strlen(body)) < 0 ||
	    wbuf_add(w, "}\n\n", 3) < 0)
		return -ENOMEM;
	return 0;
}

static ssize_t watch_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct watch *w = cls;
	(void)pos;
	while (w->off == w->len) {
		if (w->ending)
			return MHD_CONTENT_READER_END_OF_STREAM;
		w->off = w->len = 0;
		struct api_err e;
		int64_t last = w->cursor;
		if (api_core_rev(w->core) < 0)
			return MHD_CONTENT_READER_END_OF_STREAM; /* tern-api stops */
		if (api_events(w->core, &w->id, w->cursor, WATCH_BATCH, watch_event, w, &last, &e) < 0) {
			if (e.status != 410)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			/* this watcher fell behind a compaction: say so (the same
			 * JSON as a refused watch), then end; the client lists again */
			json_t *j = json_pack("{s:{s:i,s:s,s:s,s:I}}", "error", "status", 410,
					      "field", "since", "message", e.msg, "oldest_revision",
					      (json_int_t)e.oldest);
			char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
			json_decref(j);
			w->off = w->len = 0;
			bool ok = txt && wbuf_add(w, "event: error\ndata: ", 19) == 0 &&
				  wbuf_add(w, txt, strlen(txt)) == 0 && wbuf_add(w, "\n\n", 2) == 0;
			free(txt);
			if (!ok)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			w->ending = true;
			break;
		}
		w->cursor = last;
		if (w->len)
			break;
		if (now_ms() - w->quiet_since >= WATCH_KEEPALIVE) {
			if (wbuf_add(w, ": keepalive\n\n", 13) < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			break;
		}
		/* nothing to send: off the loop until the revision moves (or the
		 * keepalive is due); 0 with the connection suspended: called
		 * again once resumed */
		w->next = w->h->parked;
		w->h->parked = w;
		MHD_suspend_connection(w->conn);
		return 0;
	}
	size_t n = w->len - w->off < max ? w->len - w->off : max;
	memcpy(out, w->buf + w->off, n);
	w->off += n;
	w->quiet_since = now_ms();
	return (ssize_t)n;
}

/* The loop, between rounds: resume the parked watches that have something
 * to say (an event after their cursor, a keepalive due, tern-api stopping).
 * Returns the ms until the next keepalive is due (-1: none parked). */
static int unpark(struct api_http *h, int64_t rev)
{
	int64_t now = now_ms(), next = -1;
	for (struct watch **pw = &h->parked; *pw;) {
		struct watch *w = *pw;
		int64_t due = w->quiet_since + WATCH_KEEPALIVE;
		if (rev < 0 || rev > w->cursor || now >= due) {
			*pw = w->next;
			MHD_resume_connection(w->conn);
			continue;
		}
		if (next < 0 || due - now < next)
			next = due - now;
		pw = &w->next;
	}
	return (int)next;
}

static void watch_free(void *cls)
{
	struct watch *w = cls;
	free(w->buf);
	free(w);
}

static int parse_rev(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || !*s || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static enum MHD_Result do_watch(struct api_http *h, struct MHD_Connection *conn,
				const struct api_ident *id)
{
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return fail(conn, 500, "", "out of memory");
	w->core = h->core;
	w->h = h;
	w->conn = conn;
	w->quiet_since = now_ms();
	w->id = *id;
	const char *since = arg(conn, "since");
	const char *last_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
	const char *kind = arg(conn, "kind");
	/* An EventSource reconnecting sends Last-Event-ID: it wins over ?since. */
	const char *from = last_id ? last_id : since;
	if (from && parse_rev(from, &w->cursor) < 0) {
		free(w);
		return fail(conn, 400, last_id ? "Last-Event-ID" : "since",
			    "must be a revision number (0 for the whole history)");
	}
	if (!from)
		w->cursor = api_revision(h->core);
	struct api_err e;
	if (from && api_watch_check(h->core, w->cursor, &e) < 0) {
		free(w);
		if (last_id && e.status == 410)
			snprintf(e.field, sizeof(e.field), "Last-Event-ID");
		return reply_err(conn, &e);
	}
	if (kind && !(w->kind = api_kind_find(kind))) {
		free(w);
		return fail(conn, 400, "kind", "unknown kind (GET /v1/kinds lists them)");
	}
	char hello[96];
	int n = snprintf(hello, sizeof(hello), ": tern-api watch from revision %" PRId64 "\n\n",
			 w->cursor);
	if (wbuf_add(w, hello, (size_t)n) < 0) {
		watch_free(w);
		return fail(conn, 500, "", "out of memory");
	}
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
								   watch_read, w, watch_free);
	if (!r) {
		watch_free(w);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	enum MHD_Result ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- objects ---------------------------------------------------------------- */

static enum MHD_Result do_kinds(struct MHD_Connection *conn)
{
	json_t *a = json_array();
	const struct api_kind *k;
	for (unsigned i = 0; (k = api_kind_at(i)); i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "name", k->name, "alias",
						   k->alias, "project_scoped", k->scoped));
	return reply_json(conn, 200, json_pack("{s:o}", "kinds", a));
}

/* ---- writes: the work now, the answer when the store has its outcome ---- */

/* From the store's thread (or from api_write_start itself). */
static void write_ended(void *arg)
{
	struct req *rq = arg;
	pthread_mutex_lock(&rq->h->lock);
	rq->ended = true;
	bool resume = rq->suspended;
	if (resume) {
		rq->suspended = false;
		/* (in external polling MHD wakes nobody: the loop is woken, and
		 * its MHD_run picks the connection up) */
		MHD_resume_connection(rq->conn);
	}
	pthread_mutex_unlock(&rq->h->lock);
	if (resume)
		wake_loop(rq->h);
}

static enum MHD_Result write_answer(struct api_http *h, struct MHD_Connection *conn,
				    struct req *rq);

/* Start (or redo) rq->w: MHD_YES with the connection suspended until the
 * store's outcome is in, or the answer at once when it already is. */
static enum MHD_Result write_go(struct api_http *h, struct MHD_Connection *conn, struct req *rq)
{
	rq->ended = false; /* (nothing else looks before the start) */
	rq->writing = true;
	h->writes++;
	api_write_start(h->core, &rq->w, write_ended, rq);
	pthread_mutex_lock(&h->lock);
	bool ended = rq->ended;
	if (!ended) {
		rq->suspended = true;
		MHD_suspend_connection(conn);
	}
	pthread_mutex_unlock(&h->lock);
	return ended ? write_answer(h, conn, rq) : MHD_YES;
}

static const char *const write_verb[] = {
	[API_W_CREATE] = "POST", [API_W_BATCH] = "POST", [API_W_UPDATE] = "PUT",
	[API_W_DELETE] = "DELETE",
};

static enum MHD_Result write_answer(struct api_http *h, struct MHD_Connection *conn,
				    struct req *rq)
{
	json_t *out = NULL;
	struct api_err e;
	h->writes--;
	int rc = api_write_finish(h->core, &rq->w, &out, &e);
	if (rc == 1)
		return write_go(h, conn, rq); /* another tern-api wrote first: redo */
	rq->writing = false;
	if (rc < 0) {
		if (e.status >= 500)
			TLOG_ERR(h->log, "%s %s: %s", write_verb[rq->w.op],
				 rq->w.k ? rq->w.k->name : "batch", e.msg);
		return reply_err(conn, &e);
	}
	switch (rq->w.op) {
	case API_W_CREATE:
		return reply_json(conn, 201, out);
	case API_W_BATCH:
		return reply_json(conn, 201, json_pack("{s:o}", "created", out));
	default:
		return reply_json(conn, 200, out);
	}
}

static enum MHD_Result do_object(struct api_http *h, struct MHD_Connection *conn,
				 const char *method, const struct api_kind *k, const char *uuid,
				 const struct api_ident *id, struct req *rq)
{
	struct api_err e;
	json_t *out = NULL;
	if (rq->too_big) {
		api_errf(&e, 413, "", "the body is larger than %d bytes", API_BODY_MAX);
		return reply_err(conn, &e);
	}
	rq->id = *id;
	rq->w = (struct api_write){ .id = &rq->id, .k = k, .uuid = uuid,
				    .body = rq->body ? rq->body : "", .len = rq->len };
	if (!uuid && strcmp(method, "GET") == 0) {
		struct api_list_req lr = { .project = arg(conn, "project"),
					   .parent = arg(conn, "parent"),
					   .fq_name = arg(conn, "fq_name"), .name = arg(conn, "name"),
					   .label = arg(conn, "label") };
		if (api_list(h->core, id, k, &lr, &out, &e) < 0)
			return reply_err(conn, &e);
		return reply_json(conn, 200, out);
	}
	if (uuid && strcmp(method, "GET") == 0) {
		if (api_get(h->core, id, k, uuid, &out, &e) < 0)
			return reply_err(conn, &e);
		return reply_json(conn, 200, out);
	}
	if (!uuid && strcmp(method, "POST") == 0) {
		rq->w.op = API_W_CREATE;
	} else if (uuid && strcmp(method, "PUT") == 0) {
		rq->w.op = API_W_UPDATE;
	} else if (uuid && strcmp(method, "DELETE") == 0) {
		rq->w.op = API_W_DELETE;
	} else {
		char msg[128];
		snprintf(msg, sizeof(msg), "%s is not allowed here (%s)", method,
			 uuid ? "GET, PUT, DELETE /v1/<kind>/<uuid>" : "GET, POST /v1/<kind>");
		return fail(conn, 405, "", msg);
	}
	return write_go(h, conn, rq);
}

/* POST /v1/batch {"create": [{"kind", "object"}, ...]}: one transaction. */
static enum MHD_Result do_batch(struct api_http *h, struct MHD_Connection *conn,
				const char *method, const struct api_ident *id, struct req *rq)
{
	struct api_err e;
	if (strcmp(method, "POST") != 0)
		return fail(conn, 405, "", "a batch is POST /v1/batch {\"create\": [...]}");
	if (rq->too_big) {
		api_errf(&e, 413, "", "the body is larger than %d bytes", API_BODY_MAX);
		return reply_err(conn, &e);
	}
	/* (parsed once: the items are validated as they are) */
	if (api_parse(rq->body ? rq->body : "", rq->len, &rq->batch, &e) < 0)
		return reply_err(conn, &e);
	if (!json_is_object(rq->batch)) {
		api_errf(&e, 400, "", "the body must be a JSON object {\"create\": [...]}");
		return reply_err(conn, &e);
	}
	rq->id = *id;
	rq->w = (struct api_write){ .op = API_W_BATCH, .id = &rq->id,
				    .items = json_object_get(rq->batch, "create") };
	return write_go(h, conn, rq);
}

static enum MHD_Result route(struct api_http *h, struct MHD_Connection *conn, const char *url,
			     const char *method, struct req *rq)
{
	if (strncmp(url, "/v1/", 4) != 0)
		return fail(conn, 404, "", "not found: the API lives under /v1/");
	const char *path = url + 4;
	if (strcmp(path, "health") == 0)
		return reply_json(conn, 200, json_pack("{s:s,s:I}", "status", "ok", "revision",
						       (json_int_t)api_revision(h->core)));
	struct api_ident id;
	struct api_err e;
	if (authenticate(h, conn, &id, &e) < 0)
		return reply_err(conn, &e);
	if (strcmp(path, "kinds") == 0)
		return do_kinds(conn);
	if (strcmp(path, "watch") == 0) {
		if (strcmp(method, "GET") != 0)
			return fail(conn, 405, "", "the watch is GET /v1/watch?since=<revision>");
		return do_watch(h, conn, &id);
	}
	if (strcmp(path, "batch") == 0)
		return do_batch(h, conn, method, &id, rq);
	char kind[64];
	const char *slash = strchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : strlen(path);
	if (n == 0 || n >= sizeof(kind))
		return fail(conn, 404, "", "not found: /v1/<kind>[/<uuid>]");
	memcpy(kind, path, n);
	kind[n] = 0;
	const struct api_kind *k = api_kind_find(kind);
	if (!k || strcmp(k->name, kind) != 0)
		return fail(conn, 404, "kind", "unknown kind (GET /v1/kinds lists them)");
	const char *uuid = slash ? slash + 1 : NULL;
	if (uuid && !api_is_uuid(uuid))
		return fail(conn, 404, "uuid", "not a UUID: objects are addressed as "
			    "/v1/<kind>/<uuid>; find the uuid with ?fq_name=project:name");
	return do_object(h, conn, method, k, uuid, &id, rq);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct api_http *h = cls;
	(void)version;
	struct req *rq = *con_cls;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->h = h;
		rq->conn = conn;
		*con_cls = rq;
		return MHD_YES;
	}
	if (rq->writing) /* resumed: the store's outcome is in */
		return write_answer(h, conn, rq);
	if (*upload_size) {
		/* Keep reading an oversized body to answer 413 cleanly, storing none. */
		if (!rq->too_big && rq->len + *upload_size > API_BODY_MAX) {
			rq->too_big = true;
			free(rq->body);
			rq->body = NULL;
			rq->len = rq->cap = 0;
		}
		if (!rq->too_big) {
			if (rq->len + *upload_size + 1 > rq->cap) {
				size_t cap = (rq->len + *upload_size + 1) * 2;
				char *b = realloc(rq->body, cap);
				if (!b)
					return MHD_NO;
				rq->body = b;
				rq->cap = cap;
			}
			memcpy(rq->body + rq->len, upload, *upload_size);
			rq->len += *upload_size;
			rq->body[rq->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	TLOG_DEBUG(h->log, "%s %s", method, url);
	return route(h, conn, url, method, rq);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct req *rq = *con_cls;
	if (rq) {
		free(rq->body);
		json_decref(rq->batch);
		free(rq);
	}
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct api_http *h = cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	TLOG_WARN(h->log, "http: %s", line);
}

/* Wakes the loop: the revision moved or the core stops (under the core's
 * lock: it only writes to the eventfd). */
static void on_change(void *arg)
{
	wake_loop(arg);
}

static int min_ms(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static void *loop_main(void *arg)
{
	struct api_http *h = arg;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	struct pollfd pf[2] = { { .fd = info->epoll_fd, .events = POLLIN },
				{ .fd = h->wake, .events = POLLIN } };
	int kick_ms = -1, park_ms = -1;
	int64_t stop_at = -1;
	for (;;) {
		if (__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
			if (stop_at < 0)
				stop_at = now_ms() + STOP_WAIT_MS;
			if (h->writes == 0 || now_ms() >= stop_at)
				break;
		}
		MHD_UNSIGNED_LONG_LONG mt;
		int t = MHD_get_timeout(h->d, &mt) == MHD_YES ? (mt > 60000 ? 60000 : (int)mt) : -1;
		t = min_ms(min_ms(t, kick_ms), park_ms);
		if (stop_at >= 0)
			t = min_ms(t, 100);
		if (poll(pf, 2, t) < 0 && errno != EINTR) {
			TLOG_ERR(h->log, "http: poll: %s; the API stops answering", strerror(errno));
			break;
		}
		if (pf[1].revents & POLLIN) {
			uint64_t v;
			ssize_t n = read(h->wake, &v, sizeof(v));
			(void)n;
			/* (after the read: what woke the loop before this is seen
			 * by the turn that follows; what comes after writes again) */
			__atomic_store_n(&h->wake_sent, false, __ATOMIC_RELEASE);
		}
		int64_t rev = api_core_rev(h->core);
		if (h->parked && rev >= 0 && h->core->poll_ms > 0 &&
		    now_ms() - h->polled_ms >= h->core->poll_ms) {
			/* parked watches also hear of other replicas' writes */
			h->polled_ms = now_ms();
			rev = api_revision(h->core);
		}
		park_ms = unpark(h, rev);
		if (park_ms >= 0 && h->core->poll_ms > 0)
			park_ms = min_ms(park_ms, h->core->poll_ms);
		MHD_run(h->d);
		kick_ms = api_core_kick(h->core);
	}
	return NULL;
}

struct api_http *api_http_start(const struct api_http_cfg *cfg, struct api_core *core,
				const struct api_auth *auth, struct tern_log *lg, char *err,
				size_t errlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	unsigned flags =
		MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, cfg->addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(cfg->port);
	} else if (inet_pton(AF_INET6, cfg->addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(cfg->port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "--listen %s: not an IPv4 or IPv6 address", cfg->addr);
		return NULL;
	}
	if (cfg->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "this libmicrohttpd was built without TLS");
			return NULL;
		}
		flags |= MHD_USE_TLS;
	}
	struct api_http *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->core = core;
	h->auth = auth;
	h->log = lg;
	pthread_mutex_init(&h->lock, NULL);
	h->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->wake < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key },
		{ MHD_OPTION_END, 0, NULL },
	};
	h->d = MHD_start_daemon(flags, cfg->port, NULL, NULL, handler, h,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, /* first, or MHD warns */
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns ? cfg->max_conns : 256,
		MHD_OPTION_NOTIFY_COMPLETED, completed, h,
		MHD_OPTION_ARRAY, cfg->tls_cert ? tls : &tls[2],
		MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s (in use? try another "
			 "--listen port)", cfg->addr, cfg->port, strerror(errno));
		close(h->wake);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : cfg->port;
	api_core_on_change(core, on_change, h);
	int rc = pthread_create(&h->loop, NULL, loop_main, h);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the HTTP thread: %s", strerror(rc));
		api_core_on_change(core, NULL, NULL);
		MHD_stop_daemon(h->d);
		close(h->wake);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	return h;
}

uint16_t api_http_port(const struct api_http *h)
{
	return h->port;
}

void api_http_stop(struct api_http *h)
{
	if (!h)
		return;
	api_core_stop(h->core); /* parked watches end; the loop wakes */
	__atomic_store_n(&h->stop, true, __ATOMIC_RELEASE);
	wake_loop(h);
	pthread_join(h->loop, NULL);
	api_core_on_change(h->core, NULL, NULL);
	MHD_stop_daemon(h->d);
	close(h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
