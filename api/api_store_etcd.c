/*
 * DOC: api_store_etcd.c — the store on etcd 3.4 with libcurl: writes (the
 * batches' txns, compaction), the one-key checks of P rev and the watch on
 * P rev through etcd's gRPC service (/etcdserverpb.KV/Txn and /Range, the
 * /etcdserverpb.Watch/Watch stream, over HTTP/2, protobuf from
 * api_etcd_pb.c; the v3 JSON gateway cost etcd as much CPU again per write,
 * decoding base64 JSON and calling its own gRPC over loopback, and its
 * watch stream a quarter of etcd's CPU under load); reads of many keys
 * (load, replay, old events) through the gateway (POST /v3/kv/range,
 * /v3/kv/txn; keys and values in base64), see call_msg for why. Where an
 * endpoint has no gRPC (an HTTP/1.1 proxy) everything uses the gateway.
 *
 * Keys, under a prefix P (default "tern/"):
 *   P rev                       "N TOKEN": tern's revision N, and which batch
 *                               wrote it (TOKEN; older stores: "N" alone)
 *   P obj/<kind>/<fq_name>      object body (JSON); key order = fq_name order;
 *                               then a newline and its envelope (below)
 *   P ev/<%020 rev>             the events of one batch, the last one rev:
 *                               a record {"type","kind","uuid","body","w"}
 *                               alone (one event), or "<rev> <record>" per
 *                               line (more; older stores: always alone)
 *   P compacted                 "C": the events up to revision C were dropped
 * and, in memory only (the mirror derives them from the keys above as it
 * applies them, so a write of one object carries 2 keys + P rev to etcd):
 *   P refs/<from>               [[field, to], ...] of that object  } in etcd in
 *   P claim/<pool>/<%020 value> owner UUID                          } the envelope
 *   P uuid/<uuid>               "<kind>/<fq_name>": where the body is
 *   P ref/<to>/<from>/<field>   "" (the reverse index for referrers)
 *   P own/<owner>/<pool>/<v>    the claim key (so release finds them)
 *   P hint/<pool>               "LO NEXT": [LO, NEXT) all claimed (see get_hint);
 *                               this process's own, lowered by any release
 * (Stores written before 2026-11-23 hold the last three in etcd too: they
 * are ignored, and stay as garbage.)
 *
 * Envelopes: an object's refs and its claims (the values it owns) go to
 * etcd inside its obj/ value, after the body: a newline, then
 * {"u":uuid,"r":[[field, to], ...],"c":["claim/<pool>/<value>", ...]},
 * complete as of the txn that writes it. A pair (an interface and its
 * instance IP) is then 4 keys in etcd, not 8: etcd indexes each key, and
 * a txn's room (--max-txn-ops) goes by keys. reload splits them back into the
 * refs/ and claim/ keys of the mirror, after every plain key, so they win
 * over keys an older version wrote. Claims of an owner that has no object
 * in the same txn (only the store's own tests make them) and every delete
 * still go as keys of their own, which reload reads too.
 *
 * Why a mirror: a write used to make about ten sequential round trips to the
 * gateway (~1 ms each) to read what it validates against. Now the process
 * keeps every key under P but the events in memory (api_etcd_map.h), loaded
 * once at open; a write's reads are then local, and only its commit goes to
 * etcd. The mirror is at etcd revision mrev; P rev's mod_revision there is
 * rev_mod. It is kept current by this process's own commits, and by
 * replaying other processes' writes from the event log (replay): each event
 * record carries its request's other writes ("w": claims, refs, deletes;
 * see redo), so one range read of the events after our revision brings the
 * mirror up to date. A thread watches P rev alone (one small key per batch:
 * an earlier version watched all of P, and streaming every key of every
 * write back to every replica cost etcd a third of its CPU); a value that
 * is not one of our batches tells us another process wrote, and when.
 *
 * Commits stay optimistic, as before: one etcd txn "if P rev is still what
 * this state was computed on, write everything, P rev included". Every tern
 * write rewrites P rev with a value no other write ever had (TOKEN: this
 * process's random number and a batch counter), so a mirror whose P rev is
 * current holds exactly what etcd holds; one that missed another replica's
 * write fails the compare, and the txn's failure branch reads P rev, so we
 * know which revision the mirror must reach before the request is redone
 * (-EAGAIN: api_core redoes it). The compare is on P rev's value, not on
 * its mod_revision, so that a batch can name the state of a batch not yet
 * answered (ED_PIPELINE).
 *
 * Group commit: writers that arrive while a transaction is open queue on the
 * lock. A request that commits while others queue does not go to etcd: its
 * writes join the open batch and it waits; the next request builds on the
 * batch's writes (it sees them, and numbers its events after them). The
 * last request of the batch (nobody queueing, or the batch full) sends the
 * whole batch as one etcd txn with one compare, and every request of it gets
 * the result. The lock is let go while etcd answers, so the next batch forms
 * meanwhile, and a batch waits a little (ED_GROUP_WAIT_US) for the clients
 * the previous one just answered. A request that fails validation fails
 * alone, but only once the batches it saw committed: had one lost its
 * compare, the failure was decided on writes that never happened, and
 * rollback says -EAGAIN.
 *
 * Reads of objects (get, find, list, referrers) check first that the mirror
 * has P rev's current mod_revision (one small range), so a read on one
 * replica sees a write acknowledged by another; a replay brings the mirror
 * there. The newest events are kept in memory too (a ring), so a watcher
 * that keeps up needs no round trip; the watch thread tells api_core of
 * other replicas' writes (subscribe), so their watchers wake at once (and
 * read those events from etcd) instead of at the next poll.
 *
 * Why tern counts its own revision N in P rev rather than using etcd's:
 * an object carries its version inside its body, written in the same txn,
 * so the number must be known before the commit; etcd's next revision is
 * not (any other write to etcd moves it). N + 1 per event, kept in etcd,
 * gives the same contract as SQLite: dense, strictly increasing, resumable.
 *
 * Compaction (compact) deletes a range of P ev/ and raises P compacted in
 * one txn of its own (compared on P compacted, so two replicas cannot move
 * it back); it does not touch P rev, so it never makes a tern write redo.
 * A reader below the floor gets -ESTALE; a reader that finds a hole in the
 * log before its mirror has seen the new floor gets -ESTALE too.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api_b64.h"
#include "api_etcd_evlog.h"
#include "api_etcd_map.h"
#include "api_etcd_pb.h"
#include "api_pcache.h"
#include "api_store.h"

/* etcd refuses a txn of more than --max-txn-ops operations (default 128):
 * a batch is sent before it would pass ED_TXN_OPS, or once it holds
 * ED_BATCH_KEYS keys or ED_BATCH_MAX requests. */
#define ED_TXN_OPS    127
#define ED_BATCH_KEYS 100
#define ED_BATCH_MAX  64
/* Batches in flight at once. One: with 4 (2026-11-22) etcd evaluated a
 * batch sent behind another before that one in 196 of 199 cases (the
 * gateway does not keep the order of requests that come on separate
 * connections), so nearly every one was sent twice, slower than waiting;
 * 2 gained nothing. Through gRPC (2026-11-23) 2 still had 8-15 % of the
 * batches overtaken and sent again, and no more pairs per second (again in
 * session 6: 14 % sent twice, fewer pairs per second at load 4-5). */
#define ED_PIPELINE   1
/* How long a batch may wait for the requests expected to join it (see
 * settle); never when the load is one request at a time. */
#define ED_GROUP_WAIT_US 4000
/* The newest events kept in memory, so that a watcher's next events need
 * no round trip to etcd (older ones are read from P ev/). */
#define ED_EVRING     2048

/* ---- the store ------------------------------------------------------------------ */

/* A gRPC answer's headers and trailers. */
struct grpc_head {
	bool grpc;             /* content-type: application/grpc */
	int status;            /* grpc-status (-1: none yet) */
	char msg[160];         /* grpc-message */
};

/* What a waiter's request makes of its batch's outcome (outcome()). */
enum ed_wmode {
	ED_W_COMMIT,           /* its writes are in the batch: the batch's outcome */
	ED_W_AGAIN,            /* no room for them: redo once the batch is answered */
	ED_W_READ,             /* it gave up on what the batch wrote: redo if that failed */
};

/* A request whose writes joined a batch (or whose failure depends on one)
 * waits here for the batch's outcome: asleep on sem (commit, rollback) or,
 * ended by ed_end, as a callback the sender thread calls. */
struct ed_waiter {
	int rc;
	bool done;             /* set under the store's lock, before the post */
	bool sent;             /* its batch is on its way to etcd */
	enum ed_wmode mode;
	api_done_cb cb;        /* NULL: a thread sleeps on sem */
	void *arg;
	struct ed_waiter *next;
	/* Its own: a batch's answer wakes its requests only, and a request
	 * that joins a batch wakes nobody (with one condition for all, each
	 * of 8 requests woke every other twice per batch). A semaphore, not a
	 * condition on the store's lock: the answer wakes the batch's
	 * requests before the mirror takes the batch's writes, and they
	 * answer their clients meanwhile instead of queueing for the lock one
	 * by one; nor on a mutex of its own, which the woken request found
	 * still held by the waker about as often as not (a second sleep). */
	sem_t sem;
};

/* A group commit: the writes of several requests, one etcd txn. */
struct ed_batch {
	json_t *set;           /* key -> string (put) or null (delete) */
	char *cmp;             /* P rev's value it was computed on (NULL: no P rev yet) */
	char val[80];          /* P rev's value it writes: "<rev> <token>-<seq> e<E>" */
	bool eventless;        /* it changes keys that no event's redo record holds */
	int64_t brev;          /* tern's revision after it */
	int n;                 /* requests in it */
	int ops;               /* keys of set that go to etcd (not the derived ones) */
	bool chained;          /* sent while the batch before it was in flight */
	struct ed_waiter *w;   /* who waits for it */
	struct ed_batch *next; /* in flight: the next one sent */
};

struct ed_store {
	struct api_store base; /* first: the generic code casts */
	char **urls;           /* endpoints; a failing one is rotated out */
	int n_urls, cur_url;   /* cur_url: read and written atomically */
	char prefix[128];
	struct curl_slist *hdrs;   /* the JSON gateway's request headers */
	struct curl_slist *ghdrs;  /* gRPC's */
	bool gateway;          /* etcd has no gRPC at the endpoint: use the gateway (atomic) */
	/* lock: the mirror, the batch and the open transaction. A transaction
	 * holds it from begin to commit or rollback; curl is used only under it */
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* a batch was sent or done, or the mirror moved */
	CURL *curl;            /* reloads and replays made under lock (the gateway) */
	CURL *gcurl;           /* checks made under lock (gRPC: see call_small) */
	int want;              /* writers waiting for lock (atomic) */
	/* the mirror */
	struct api_emap map;
	int64_t mrev;          /* etcd revision the mirror is at */
	int64_t rev_mod;       /* mod_revision of P rev in the mirror (0: absent) */
	int64_t trev;          /* tern's committed revision (P rev's value) */
	char *rev_val;         /* P rev's whole value (NULL: absent) */
	int64_t need_mod;      /* the mirror must reach this rev_mod before the next txn */
	bool need_check;       /* a commit's outcome is unknown: ask etcd first */
	/* the newest events: revisions [ring_lo, ring_hi], each at rev % ED_EVRING */
	struct { int64_t rev; char *txt; } ring[ED_EVRING];
	int64_t ring_lo, ring_hi;
	int64_t floor_seen;    /* events up to here found gone (a hole in P ev/) */
	/* the open transaction */
	bool in_txn, txn_write;
	bool fresh;            /* a reading one checked the mirror is current */
	int64_t rev;           /* tern's revision, with this transaction's events */
	int64_t txn_mod;       /* rev_mod when it began: what its reads were made at */
	json_t *wset;          /* this request's writes: key -> string (put) or null (delete) */
	json_t *wevs;          /* its events: ev key -> the body replay writes (null: none) */
	char wuuid[64];        /* the uuid of its newest event */
	/* load_path's parsed bodies: valid while the value is the same text */
	struct api_pcache pcache; /* parsed bodies (load_path) */
	struct api_evlog_z zw, zr; /* event log (de)compression: under lock, under rlock */
	/* group commit: the batch requests are joining, and the batches sent
	 * but not yet answered, oldest first; each is computed on the ones
	 * before it and its compare names the value the one before writes */
	struct ed_batch *open;
	struct ed_batch *flying, *flying_tail;
	CURL *slot[ED_PIPELINE]; /* one connection per batch in flight */
	/* and its txn's message, kept from batch to batch: a fresh 4 KiB
	 * malloc right after a batch's many small frees made glibc
	 * consolidate them all (12 % of building a txn), and it then grew by
	 * doubling to the txn's ~22 KiB */
	struct api_pb_buf slot_msg[ED_PIPELINE];
	bool slot_busy[ED_PIPELINE];
	uint64_t token, seq;   /* make each batch's P rev value unique */
	int expect;            /* requests likely to join the next batch */
	struct timespec done_at; /* when the last batch was answered */
	/* the sender thread (ed_end's requests): sends the open batch when
	 * kick says so (batch_done calls the requests' callbacks) */
	pthread_t sthread;
	bool sending, sstop, go;
	pthread_cond_t scond;
	/* reads' freshness checks and the event log: their own connection */
	pthread_mutex_t rlock;
	CURL *rcurl, *grcurl;  /* the same, the gateway's and gRPC's */
	/* the watch thread, its connection and its stop */
	pthread_t wthread;
	bool watching;
	CURL *wcurl;
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	bool stopping;
	int wfd;               /* the watch's socket, shut down to stop it */
	char *wbuf;            /* the stream's incomplete line or gRPC message */
	size_t wn;
	bool wgrpc;            /* the watch runs on gRPC (else the gateway) */
	struct grpc_head wg;   /* its answer's gRPC headers */
	int64_t wrev;          /* etcd revision the watch on P rev has reported */
	int64_t wtrev;         /* the newest tern revision it saw another process write */
	char tok[24];          /* "<token>-": in P rev's value of each of our batches */
	/* who hears of other replicas' writes */
	pthread_mutex_t sub_lock;
	void (*sub_cb)(void *arg, int64_t rev);
	void *sub_arg;
	char err[256];         /* the last transport error (set_err, under err_lock) */
	pthread_mutex_t err_lock;
};

static struct ed_store *ed(struct api_store *s)
{
	return (struct ed_store *)s;
}

#define KEY(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

/* Any thread may fail a call to etcd: the text is kept whole for open()'s
 * message and for the 500s (ed_last_error). */
__attribute__((format(printf, 2, 3)))
static void set_err(struct ed_store *q, const char *fmt, ...)
{
	char msg[sizeof(q->err)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&q->err_lock);
	memcpy(q->err, msg, sizeof(msg));
	pthread_mutex_unlock(&q->err_lock);
}

/* ---- base64 (the gateway's bytes fields) -------------------------------- */

static char *b64enc(const char *in, size_t n)
{
	char *out = malloc(API_B64_LEN(n) + 1);
	if (out)
		*api_b64_encode(in, n, out) = 0;
	return out;
}

/* NUL-terminated; NULL on bad input. */
static char *b64dec(const char *in)
{
	size_t n = strlen(in);
	char *out = malloc(n / 4 * 3 + 4);
	ssize_t len = out ? api_b64_decode(in, n, (uint8_t *)out) : -1;
	if (len < 0) {
		free(out);
		return NULL;
	}
	out[len] = 0;
	return out;
}

/* ---- HTTP ------------------------------------------------------------------- */

struct buf {
	char *p;
	size_t n;
};

static size_t on_body(char *data, size_t sz, size_t nm, void *arg)
{
	struct buf *b = arg;
	char *p = realloc(b->p, b->n + sz * nm + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, data, sz * nm);
	b->p = p;
	b->n += sz * nm;
	p[b->n] = 0;
	return sz * nm;
}

static int cur_url(struct ed_store *q)
{
	return __atomic_load_n(&q->cur_url, __ATOMIC_RELAXED) % q->n_urls;
}

/* POST req (stolen) to path of the JSON gateway on connection h; *resp: the
 * parsed answer. A connection failure moves on to the next endpoint. */
static int call(struct ed_store *q, CURL *h, const char *path, json_t *req, json_t **resp)
{
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body)
		return -ENOMEM;
	int rc = -EIO;
	for (int tries = 0; tries < q->n_urls; tries++) {
		char url[512];
		struct buf b = { NULL, 0 };
		int u = cur_url(q);
		snprintf(url, sizeof(url), "%s%s", q->urls[u], path);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, q->hdrs);
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, NULL);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL); /* else headers go to the body */
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, -1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
		CURLcode cc = curl_easy_perform(h);
		long code = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (cc != CURLE_OK) {
			set_err(q, "%s: %s (is etcd running there?)", q->urls[u],
				 curl_easy_strerror(cc));
			/* an errno that says what happened, for the 500's text */
			rc = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
			     : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
			free(b.p);
			__atomic_store_n(&q->cur_url, (u + 1) % q->n_urls, __ATOMIC_RELAXED);
			continue;
		}
		*resp = b.p ? json_loads(b.p, 0, NULL) : NULL;
		rc = -EIO;
		if (code != 200 || !*resp) {
			set_err(q, "%s%s: HTTP %ld: %.120s", q->urls[u], path,
				 code, b.p ? b.p : "");
			json_decref(*resp);
			*resp = NULL;
			free(b.p);
			break;
		}
		free(b.p);
		rc = 0;
		break;
	}
	free(body);
	return rc;
}

/* ---- etcd's gRPC service (what the store uses unless etcd lacks it) ---------- */

/* What a gRPC answer's headers and trailers said. */

static size_t on_grpc_head(char *data, size_t sz, size_t nm, void *arg)
{
	struct grpc_head *g = arg;
	size_t len = sz * nm;
	char line[256];
	snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1),
		 data);
	line[strcspn(line, "\r\n")] = 0;
	if (strncasecmp(line, "content-type:", 13) == 0)
		g->grpc = strstr(line + 13, "application/grpc") != NULL;
	else if (strncasecmp(line, "grpc-status:", 12) == 0)
		g->status = atoi(line + 12);
	else if (strncasecmp(line, "grpc-message:", 13) == 0)
		snprintf(g->msg, sizeof(g->msg), "%s", line + 13 + strspn(line + 13, " "));
	return len;
}

/*
 * One unary gRPC call on connection h to endpoint u: HTTP/2 through libcurl.
 * Plain http:// is HTTP/2 "with prior knowledge" (etcd's port serves gRPC
 * and the gateway side by side, telling them apart by protocol). libcurl
 * 7.88 cannot reuse such a connection when asked for prior knowledge again
 * (curl issue 10634: "Error in the HTTP2 framing layer"), so a handle whose
 * connection is known to be up (CURLOPT_PRIVATE: its endpoint + 1) asks for
 * plain HTTP/2, which reuses it; a new connection is always made fresh with
 * prior knowledge. *out: 1 when etcd answered gRPC (g says how), 0 when
 * something else answered (no gRPC there, or the reuse found no connection
 * and became an HTTP/1.1 request, which the gateway refuses: nothing was
 * done), or a curl error.
 */
static CURLcode grpc_once(struct ed_store *q, CURL *h, int u, const char *method,
			  const struct api_pb_buf *msg, bool fresh, struct buf *b,
			  struct grpc_head *g, int *out)
{
	char url[512];
	bool tls = strncmp(q->urls[u], "https:", 6) == 0;
	snprintf(url, sizeof(url), "%s/etcdserverpb.KV/%s", q->urls[u], method);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, q->ghdrs);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, tls ? (long)CURL_HTTP_VERSION_2TLS
				 : fresh ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
				 : (long)CURL_HTTP_VERSION_2_0);
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, fresh && !tls ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)msg->n);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, msg->p);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_grpc_head);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, g);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	free(b->p);
	b->p = NULL;
	b->n = 0;
	*g = (struct grpc_head){ .grpc = false, .status = -1 };
	CURLcode cc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	*out = cc == CURLE_OK && code == 200 && g->grpc;
	curl_easy_setopt(h, CURLOPT_PRIVATE, *out ? (void *)(intptr_t)(u + 1) : NULL);
	return cc;
}

/* The 5-byte gRPC prefix over the 5 bytes msg keeps for it at its start:
 * not compressed, the protobuf's length. */
static void grpc_frame(struct api_pb_buf *msg)
{
	uint32_t len = (uint32_t)(msg->n - 5);
	msg->p[0] = 0;
	msg->p[1] = (uint8_t)(len >> 24);
	msg->p[2] = (uint8_t)(len >> 16);
	msg->p[3] = (uint8_t)(len >> 8);
	msg->p[4] = (uint8_t)len;
}

/* An empty gRPC message of at least cap bytes, its prefix kept. */
static int grpc_new(struct api_pb_buf *msg, size_t cap)
{
	*msg = (struct api_pb_buf){ malloc(cap), 5, cap };
	return msg->p ? 0 : -ENOMEM;
}

/* msg emptied for a new message, its buffer kept (or made). */
static int grpc_reuse(struct api_pb_buf *msg, size_t cap)
{
	if (!msg->p)
		return grpc_new(msg, cap);
	msg->n = 5;
	return 0;
}

/* req (the gateway's JSON of call) as one gRPC message in *msg. */
static int grpc_message(enum api_pb_call call, json_t *req, struct api_pb_buf *msg)
{
	int rc = grpc_new(msg, 256);
	if (rc == 0)
		rc = api_pb_encode(call, req, msg);
	if (rc < 0) {
		api_pb_buf_free(msg);
		return rc;
	}
	grpc_frame(msg);
	return 0;
}

/* A gRPC message's length, from its 5-byte prefix. */
static size_t grpc_len(const uint8_t *p)
{
	return (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
}

/* msg (a gRPC message of call) through etcd's gRPC service; *resp as the
 * gateway would have answered. -EPROTONOSUPPORT: maybe no gRPC at the
 * endpoint (nothing reached etcd's gRPC service): try the gateway. */
static int call_grpc(struct ed_store *q, CURL *h, enum api_pb_call c,
		     const struct api_pb_buf *msg, json_t **resp)
{
	const char *method = c == API_PB_TXN ? "Txn" : "Range";
	struct buf b = { NULL, 0 };
	struct grpc_head g;
	int rc = -EIO;
	for (int tries = 0; tries < q->n_urls; tries++) {
		int u = cur_url(q), ok;
		void *priv = NULL;
		curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
		bool fresh = (intptr_t)priv != u + 1;
		CURLcode cc = grpc_once(q, h, u, method, msg, fresh, &b, &g, &ok);
		if (cc == CURLE_OK && !ok && !fresh)
			cc = grpc_once(q, h, u, method, msg, true, &b, &g, &ok);
		/* a clean answer that is not gRPC, or a new connection on which
		 * HTTP/2 itself failed (an HTTP/1.1 server closes on the preface) */
		if ((cc == CURLE_OK && !ok) ||
		    (fresh && (cc == CURLE_HTTP2 || cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
			       cc == CURLE_GOT_NOTHING || cc == CURLE_WEIRD_SERVER_REPLY))) {
			rc = -EPROTONOSUPPORT;
			break;
		}
		if (cc != CURLE_OK) {
			set_err(q, "%s: %s (is etcd running there?)", q->urls[u],
				 curl_easy_strerror(cc));
			rc = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
			     : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
			__atomic_store_n(&q->cur_url, (u + 1) % q->n_urls, __ATOMIC_RELAXED);
			continue;
		}
		const uint8_t *p = (const uint8_t *)b.p;
		size_t n = b.n >= 5 ? grpc_len(p) : 0;
		if (g.status != 0 || b.n < 5 || p[0] != 0 || n != b.n - 5) {
			set_err(q, "%s/etcdserverpb.KV/%s: gRPC status %d: %s",
				 q->urls[u], method, g.status, g.msg[0] ? g.msg : "(no message)");
			rc = -EIO;
			break;
		}
		rc = api_pb_decode(c, p + 5, n, resp);
		if (rc < 0)
			set_err(q, "%s: etcd's answer could not be decoded",
				 q->urls[u]);
		break;
	}
	free(b.p);
	return rc;
}

/*
 * A request whose answer is small (one key read, a txn's writes), as the
 * gRPC message msg of call, through etcd's gRPC service on connection h
 * (only ever used for gRPC: libcurl must not be asked to reuse an HTTP/1.1
 * connection for it), which costs etcd about half the CPU of the gateway;
 * or as the gateway's JSON through the gateway from the first time the
 * gateway answers where gRPC could not (a proxy that speaks only HTTP/1.1).
 * Why small answers only: libcurl 7.88 stalls for a second (its poll
 * timeout) on a gRPC answer a little over one HTTP/2 frame (16 KB), so reads
 * of many keys keep to the gateway.
 */
static int call_msg(struct ed_store *q, CURL *h, enum api_pb_call c,
		    const struct api_pb_buf *msg, json_t **resp)
{
	bool gw = __atomic_load_n(&q->gateway, __ATOMIC_RELAXED);
	if (!gw) {
		int rc = call_grpc(q, h, c, msg, resp);
		if (rc != -EPROTONOSUPPORT)
			return rc;
	}
	json_t *req;
	int rc = api_pb_decode_request(c, msg->p + 5, msg->n - 5, &req);
	if (rc < 0) {
		set_err(q, "a request to etcd could not be put as JSON (%s)", strerror(-rc));
		return rc;
	}
	rc = call(q, h, c == API_PB_TXN ? "/v3/kv/txn" : "/v3/kv/range", req, resp);
	if (rc == 0 && !gw)
		__atomic_store_n(&q->gateway, true, __ATOMIC_RELAXED);
	return rc;
}

/* As call_msg, for req (stolen; the gateway's JSON for path). */
static int call_small(struct ed_store *q, CURL *h, const char *path, json_t *req, json_t **resp)
{
	if (__atomic_load_n(&q->gateway, __ATOMIC_RELAXED))
		return call(q, h, path, req, resp);
	enum api_pb_call c = strcmp(path, "/v3/kv/txn") == 0 ? API_PB_TXN : API_PB_RANGE;
	struct api_pb_buf msg;
	int rc = grpc_message(c, req, &msg);
	json_decref(req);
	if (rc < 0) {
		set_err(q, "a request to etcd could not be encoded (%s)", strerror(-rc));
		return rc;
	}
	rc = call_msg(q, h, c, &msg, resp);
	api_pb_buf_free(&msg);
	return rc;
}

/* grpc-gateway writes int64 as strings and leaves zero values out. */
static int64_t i64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static json_t *jb64(const char *s)
{
	char *e = b64enc(s, strlen(s));
	json_t *j = e ? json_string_nocheck(e) : NULL;
	free(e);
	return j;
}

/* The key just past every key starting with pfx. */
static void prefix_end(char *end, size_t len, const char *pfx)
{
	snprintf(end, len, "%s", pfx);
	size_t n = strlen(end);
	if (n)
		end[n - 1]++;
}

/* [key, end) at etcd's newest revision, at most limit (0: all) in key order;
 * *out an array of [key, value]. Only for what the mirror does not hold. */
static int range_raw(struct ed_store *q, CURL *h, const char *key, const char *end, int limit,
		     json_t **out)
{
	json_t *req = json_pack("{s:o}", "key", jb64(key)), *resp;
	if (end)
		json_object_set_new(req, "range_end", jb64(end));
	if (limit)
		json_object_set_new(req, "limit", json_integer(limit));
	int rc = call(q, h, "/v3/kv/range", req, &resp);
	if (rc < 0)
		return rc;
	json_t *a = json_array(), *kv;
	size_t i;
	json_array_foreach(json_object_get(resp, "kvs"), i, kv) {
		char *k = b64dec(json_string_value(json_object_get(kv, "key")) ?: "");
		const char *vs = json_string_value(json_object_get(kv, "value"));
		char *v = b64dec(vs ? vs : "");
		if (!k || !v) {
			free(k);
			free(v);
			rc = -EIO;
			break;
		}
		json_array_append_new(a, json_pack("[s,s]", k, v));
		free(k);
		free(v);
	}
	json_decref(resp);
	if (rc < 0) {
		json_decref(a);
		return rc;
	}
	*out = a;
	return 0;
}

/* P rev's mod_revision in etcd now (0: absent). */
static int rev_mod_now(struct ed_store *q, CURL *h, int64_t *mod)
{
	char key[160];
	json_t *resp;
	KEY(key, "%srev", q->prefix);
	int rc = call_small(q, h, "/v3/kv/range", json_pack("{s:o}", "key", jb64(key)), &resp);
	if (rc < 0)
		return rc;
	json_t *kv = json_array_get(json_object_get(resp, "kvs"), 0);
	*mod = kv ? i64(kv, "mod_revision") : 0;
	json_decref(resp);
	return 0;
}

/* ---- the mirror: loading and following it ------------------------------------- */

/* The ring holds nothing, and continues after revision at. */
static void ring_reset(struct ed_store *q, int64_t at)
{
	for (int i = 0; i < ED_EVRING; i++) {
		free(q->ring[i].txt);
		q->ring[i].txt = NULL;
	}
	q->ring_lo = at + 1;
	q->ring_hi = at;
}

static int cmp_pair(const void *a, const void *b)
{
	return strcmp(json_string_value(json_array_get(*(json_t *const *)a, 0)),
		      json_string_value(json_array_get(*(json_t *const *)b, 0)));
}

/* evs: [[event key, record], ...] of one etcd revision, in any order (a
 * txn's keys come from a hash): into the ring in revision order. */
static void ring_add(struct ed_store *q, json_t *evs)
{
	size_t n = json_array_size(evs), plen = strlen(q->prefix) + 3;
	json_t **v = malloc((n ? n : 1) * sizeof(*v));
	if (!v) {
		ring_reset(q, q->trev);
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(evs, i);
	qsort(v, n, sizeof(*v), cmp_pair); /* %020 revisions: key order is number order */
	for (size_t i = 0; i < n; i++) {
		int64_t rev = strtoll(json_string_value(json_array_get(v[i], 0)) + plen, NULL, 10);
		if (rev >= q->ring_lo && rev <= q->ring_hi)
			continue; /* our own commit, which the watch brought first */
		if (rev != q->ring_hi + 1)
			ring_reset(q, rev - 1); /* a gap: the ring starts again here */
		int slot = (int)(rev % ED_EVRING);
		free(q->ring[slot].txt);
		q->ring[slot].rev = rev;
		q->ring[slot].txt = strdup(json_string_value(json_array_get(v[i], 1)));
		if (!q->ring[slot].txt) {
			ring_reset(q, rev);
			continue;
		}
		q->ring_hi = rev;
		if (q->ring_hi - q->ring_lo + 1 > ED_EVRING)
			q->ring_lo = q->ring_hi - ED_EVRING + 1;
	}
	free(v);
}

/* What a key of P is. The indexes (uuid/, own/, ref/) are derived from
 * the keys they index and never written to etcd; hint/ is this process's
 * own allocation accelerator (see get_hint), never written either. */
enum kclass { K_OTHER, K_EVENT, K_REV, K_OBJ, K_CLAIM, K_REFS, K_UUID, K_OWN, K_REF, K_HINT };

static enum kclass kclass(const struct ed_store *q, const char *key, const char **rest)
{
	static const struct { const char *pfx; enum kclass c; } t[] = {
		{ "ev/", K_EVENT }, { "obj/", K_OBJ }, { "claim/", K_CLAIM }, { "refs/", K_REFS },
		{ "uuid/", K_UUID }, { "own/", K_OWN }, { "ref/", K_REF }, { "hint/", K_HINT },
	};
	size_t n = strlen(q->prefix);
	if (strncmp(key, q->prefix, n) != 0)
		return K_OTHER;
	key += n;
	if (strcmp(key, "rev") == 0)
		return K_REV;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t l = strlen(t[i].pfx);
		if (strncmp(key, t[i].pfx, l) == 0) {
			*rest = key + l;
			return t[i].c;
		}
	}
	return K_OTHER;
}

static bool derived(enum kclass c)
{
	return c == K_UUID || c == K_OWN || c == K_REF || c == K_HINT;
}

/* The "uuid" of an object body, in buf; NULL when it has none. */
static const char *body_uuid(const char *body, char *buf, size_t len)
{
	json_t *o = body ? json_loads(body, 0, NULL) : NULL;
	const char *u = json_string_value(json_object_get(o, "uuid"));
	if (u)
		snprintf(buf, len, "%s", u);
	json_decref(o);
	return u ? buf : NULL;
}

/* obj/<path> goes from old to val: uuid/<uuid> -> path follows. */
static int derive_obj(struct ed_store *q, const char *path, const char *old, const char *val)
{
	char key[256], u[64];
	if (body_uuid(old, u, sizeof(u))) {
		KEY(key, "%suuid/%s", q->prefix, u);
		const char *cur = api_emap_get(&q->map, key);
		if (cur && strcmp(cur, path) == 0) /* not if it moved (a rename) */
			api_emap_del(&q->map, key);
	}
	if (body_uuid(val, u, sizeof(u))) {
		KEY(key, "%suuid/%s", q->prefix, u);
		return api_emap_set(&q->map, key, path);
	}
	return 0;
}

/* claim/<pool>/<value> goes from owner old to val: own/<owner>/<pool>/<value>
 * -> the claim key follows; a freed value lowers the pool's hint. */
static int derive_claim(struct ed_store *q, const char *ckey, const char *rest, const char *old,
			const char *val)
{
	char key[1400];
	if (old) {
		KEY(key, "%sown/%s/%s", q->prefix, old, rest);
		api_emap_del(&q->map, key);
	}
	const char *slash = strrchr(rest, '/');
	if (old && !val && slash) {
		uint64_t lo, next, v = strtoull(slash + 1, NULL, 10);
		KEY(key, "%shint/%.*s", q->prefix, (int)(slash - rest), rest);
		const char *h = api_emap_get(&q->map, key);
		char nh[48];
		if (h && sscanf(h, "%" SCNu64 " %" SCNu64, &lo, &next) == 2 && v >= lo &&
		    v < next) {
			KEY(nh, "%" PRIu64 " %" PRIu64, lo, v);
			if (api_emap_set(&q->map, key, nh) < 0)
				api_emap_del(&q->map, key); /* no hint is always true */
		}
	}
	if (val) {
		KEY(key, "%sown/%s/%s", q->prefix, val, rest);
		return api_emap_set(&q->map, key, ckey);
	}
	return 0;
}

/* refs/<from> goes from old to val ([[field, to], ...]): the reverse index
 * ref/<to>/<from>/<field> follows. */
static int derive_refs(struct ed_store *q, const char *from, const char *old, const char *val)
{
	char key[1024];
	json_t *r;
	size_t i;
	json_t *o = old ? json_loads(old, 0, NULL) : NULL;
	json_array_foreach(o, i, r) {
		KEY(key, "%sref/%s/%s/%s", q->prefix, json_string_value(json_array_get(r, 1)) ?: "",
		    from, json_string_value(json_array_get(r, 0)) ?: "");
		api_emap_del(&q->map, key);
	}
	json_decref(o);
	int rc = 0;
	o = val ? json_loads(val, 0, NULL) : NULL;
	json_array_foreach(o, i, r) {
		KEY(key, "%sref/%s/%s/%s", q->prefix, json_string_value(json_array_get(r, 1)) ?: "",
		    from, json_string_value(json_array_get(r, 0)) ?: "");
		if ((rc = api_emap_set(&q->map, key, "")) < 0)
			break;
	}
	json_decref(o);
	return rc;
}

/* One key of P (value NULL: deleted) into the mirror, as etcd has it at
 * mod. P rev also moves trev and rev_mod; obj/, claim/ and refs/ carry
 * their derived indexes along. Derived keys that come from etcd (older
 * versions wrote them) are ignored. (This process's own batches go in as
 * they are, derived keys and all: batch_done.) */
static int mirror_apply(struct ed_store *q, const char *key, const char *val, int64_t mod)
{
	const char *rest = NULL;
	enum kclass c = kclass(q, key, &rest);
	if (c == K_EVENT || derived(c))
		return 0;
	if (c == K_REV) {
		char *rv = val ? strdup(val) : NULL;
		if (val && !rv)
			return -ENOMEM;
		free(q->rev_val);
		q->rev_val = rv;
		q->rev_mod = val ? mod : 0;
		q->trev = val ? strtoll(val, NULL, 10) : 0; /* "<rev>" or "<rev> <token>" */
	}
	const char *cur = api_emap_get(&q->map, key);
	char *old = cur && (c == K_OBJ || c == K_CLAIM || c == K_REFS) ? strdup(cur) : NULL;
	if (cur && !old && (c == K_OBJ || c == K_CLAIM || c == K_REFS))
		return -ENOMEM;
	int rc = 0;
	if (!val)
		api_emap_del(&q->map, key);
	else
		rc = api_emap_set(&q->map, key, val);
	if (rc == 0 && c == K_OBJ)
		rc = derive_obj(q, rest, old, val);
	else if (rc == 0 && c == K_CLAIM)
		rc = derive_claim(q, key, rest, old, val);
	else if (rc == 0 && c == K_REFS)
		rc = derive_refs(q, rest, old, val);
	free(old);
	return rc;
}

/* The refs and claims an obj/ value carries after its body (the text after
 * the newline: see envelope) into the mirror, as the keys they were. */
static int apply_envelope(struct ed_store *q, const char *meta, int64_t mod)
{
	json_t *m = json_loads(meta, 0, NULL), *r = json_object_get(m, "r"), *c;
	const char *u = json_string_value(json_object_get(m, "u"));
	char key[1400];
	size_t i;
	int rc = u && json_is_array(r) && json_is_array(json_object_get(m, "c")) ? 0 : -EIO;
	if (rc == 0) {
		/* none: also over a stale refs/ key of the older layout */
		char *txt = json_array_size(r) ? json_dumps(r, JSON_COMPACT) : NULL;
		KEY(key, "%srefs/%s", q->prefix, u);
		if (txt || api_emap_get(&q->map, key))
			rc = txt || !json_array_size(r) ? mirror_apply(q, key, txt, mod)
							: -ENOMEM;
		free(txt);
	}
	json_array_foreach(rc ? NULL : json_object_get(m, "c"), i, c) {
		KEY(key, "%s%s", q->prefix, json_string_value(c) ?: "");
		if ((rc = mirror_apply(q, key, u, mod)) < 0)
			break;
	}
	json_decref(m);
	return rc;
}

/* Read every key of P but the events, in one txn (one etcd revision), into a
 * new mirror. Under lock; h: a connection this thread may use. */
static int reload(struct ed_store *q, CURL *h)
{
	char a[160], b[160], c[160], d[160];
	KEY(a, "%s", q->prefix);
	KEY(b, "%sev/", q->prefix);
	KEY(c, "%sev0", q->prefix);
	prefix_end(d, sizeof(d), q->prefix);
	json_t *req = json_pack("{s:[{s:{s:o,s:o}},{s:{s:o,s:o}}]}", "success",
				"request_range", "key", jb64(a), "range_end", jb64(b),
				"request_range", "key", jb64(c), "range_end", jb64(d)), *resp;
	int rc = call(q, h, "/v3/kv/txn", req, &resp);
	if (rc < 0)
		return rc;
	api_emap_clear(&q->map);
	q->rev_mod = q->trev = 0;
	json_t *r, *kv, *envs = json_array();
	size_t i, j;
	rc = envs ? 0 : -ENOMEM;
	json_array_foreach(rc ? NULL : json_object_get(resp, "responses"), i, r) {
		json_array_foreach(json_object_get(json_object_get(r, "response_range"), "kvs"), j,
				   kv) {
			const char *vs = json_string_value(json_object_get(kv, "value"));
			char *k = b64dec(json_string_value(json_object_get(kv, "key")) ?: "");
			char *v = b64dec(vs ? vs : "");
			const char *rest;
			char *nl = k && v && kclass(q, k, &rest) == K_OBJ ? strchr(v, '\n') : NULL;
			int64_t mod = i64(kv, "mod_revision");
			if (nl) {
				/* an envelope: its refs and claims once every plain key is in */
				*nl = 0;
				json_array_append_new(envs, json_pack("[sI]", nl + 1, (json_int_t)mod));
			}
			rc = k && v ? mirror_apply(q, k, v, mod) : -EIO;
			free(k);
			free(v);
			if (rc < 0)
				break;
		}
		if (rc < 0)
			break;
	}
	json_t *e;
	json_array_foreach(rc ? NULL : envs, i, e) {
		if ((rc = apply_envelope(q, json_string_value(json_array_get(e, 0)),
					 json_integer_value(json_array_get(e, 1)))) < 0)
			break;
	}
	json_decref(envs);
	q->mrev = i64(json_object_get(resp, "header"), "revision");
	json_decref(resp);
	ring_reset(q, q->trev); /* the events were not read */
	pthread_cond_broadcast(&q->cond);
	if (rc < 0)
		set_err(q, "etcd sent a key or value that is not base64, an object "
			 "whose refs and claims after its body are not JSON, or memory ran out");
	return rc;
}

/* Tell the subscriber (api_core) of a revision another process wrote. */
static void announce(struct ed_store *q, int64_t rev)
{
	pthread_mutex_lock(&q->sub_lock);
	if (q->sub_cb)
		q->sub_cb(q->sub_arg, rev);
	pthread_mutex_unlock(&q->sub_lock);
}

static void note_need(struct ed_store *q, int64_t mod)
{
	if (mod > q->need_mod)
		q->need_mod = mod;
}

/* One event record's changes into the mirror (see redo): the object's body
 * at its path, then every other key the request wrote. -ESTALE: a record
 * without them (written by an older version). */
static int apply_redo(struct ed_store *q, const char *rec, int64_t mod)
{
	json_t *ev = json_loads(rec, 0, NULL), *w = json_object_get(ev, "w"), *v;
	const char *k, *type = json_string_value(json_object_get(ev, "type"));
	int rc = json_is_object(w) && type ? 0 : -ESTALE;
	if (rc == 0 && strcmp(type, "DELETED") != 0) {
		const char *body = json_string_value(json_object_get(ev, "body"));
		json_t *o = body ? json_loads(body, 0, NULL) : NULL;
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *fq = json_string_value(json_object_get(o, "fq_name"));
		char key[1024];
		if (kind && fq) {
			KEY(key, "%sobj/%s/%s", q->prefix, kind, fq);
			rc = mirror_apply(q, key, body, mod);
		} else {
			rc = -EIO;
		}
		json_decref(o);
	}
	if (rc == 0)
		json_object_foreach(w, k, v) {
			/* keys without P; 1: the event's uuid (a claim's owner) */
			char key[1024];
			KEY(key, "%s%s", q->prefix, k);
			const char *val = json_is_true(v) ? json_string_value(json_object_get(ev,
				"uuid")) : json_string_value(v);
			if ((rc = mirror_apply(q, key, val, mod)) < 0)
				break;
		}
	json_decref(ev);
	return rc;
}

/* How many batches so far changed keys outside the events' redo records:
 * the "e<E>" of a P rev value (0 in older ones). A replay across such a
 * batch would miss its writes, so it reads everything instead. */
static int64_t eventless_of(const char *rev_val)
{
	const char *e = rev_val ? strrchr(rev_val, ' ') : NULL;
	char *end;
	if (!e || e[1] != 'e' || e[2] < '0' || e[2] > '9')
		return 0;
	int64_t n = strtoll(e + 2, &end, 10);
	return *end ? 0 : n; /* not a token that starts with 'e' */
}

/* Under lock: bring the mirror up to P rev's mod_revision until (another
 * process's writes) by reading, in one txn, the events after tern's
 * revision trev and P rev, and applying each event's redo record: the cost
 * is what changed, not the store's size. Reads everything instead when an
 * event is missing (compacted) or has no redo record. */
static int replay(struct ed_store *q, int64_t until)
{
	char from[160], end[160], rk[160];
	KEY(from, "%sev/%020" PRId64, q->prefix, q->trev + 1);
	KEY(end, "%sev0", q->prefix);
	KEY(rk, "%srev", q->prefix);
	json_t *req = json_pack("{s:[{s:{s:o,s:o}},{s:{s:o}}]}", "success", "request_range",
				"key", jb64(from), "range_end", jb64(end), "request_range", "key",
				jb64(rk)), *resp;
	int rc = call(q, q->curl, "/v3/kv/txn", req, &resp);
	if (rc < 0)
		return reload(q, q->curl);
	json_t *rs = json_object_get(resp, "responses");
	json_t *evs = json_object_get(json_object_get(json_array_get(rs, 0), "response_range"),
				      "kvs");
	json_t *rv = json_array_get(json_object_get(json_object_get(json_array_get(rs, 1),
					  "response_range"), "kvs"), 0);
	int64_t h = i64(json_object_get(resp, "header"), "revision"), expect = q->trev + 1;
	size_t plen = strlen(q->prefix) + 3, i;
	json_t *kv, *ring = json_array(), *raw = json_array(), *one = NULL;
	rc = rv && i64(rv, "mod_revision") >= until ? 0 : -ESTALE;
	json_array_foreach(rc ? NULL : evs, i, kv) {
		char *k = b64dec(json_string_value(json_object_get(kv, "key")) ?: "");
		const char *vs = json_string_value(json_object_get(kv, "value"));
		char *v = b64dec(vs ? vs : "");
		rc = k && v ? json_array_append_new(raw, json_pack("[ssI]", k, v, (json_int_t)i64(kv,
				"mod_revision"))) : -ESTALE;
		free(k);
		free(v);
		if (rc < 0)
			break;
	}
	if (rc == 0 && api_evlog_split(&q->zw, q->prefix, raw, q->trev, &one) < 0)
		rc = -ESTALE;
	json_array_foreach(rc ? NULL : one, i, kv) {
		const char *k = json_string_value(json_array_get(kv, 0));
		const char *v = json_string_value(json_array_get(kv, 1));
		rc = strtoll(k + plen, NULL, 10) == expect++ ?
		     apply_redo(q, v, json_integer_value(json_array_get(kv, 2))) : -ESTALE;
		if (rc == 0)
			json_array_append_new(ring, json_pack("[ss]", k, v));
		if (rc < 0)
			break;
	}
	json_decref(raw);
	json_decref(one);
	if (rc == 0) {
		const char *vs = json_string_value(json_object_get(rv, "value"));
		char *v = b64dec(vs ? vs : "");
		if (v && eventless_of(v) != eventless_of(q->rev_val))
			rc = -ESTALE; /* writes no event holds came meanwhile */
		else
			rc = v ? mirror_apply(q, rk, v, i64(rv, "mod_revision")) : -ENOMEM;
		free(v);
	}
	if (rc == 0 && q->trev != expect - 1)
		rc = -ESTALE; /* P rev names a revision the events did not reach */
	if (rc == 0) {
		if (h > q->mrev)
			q->mrev = h;
		ring_add(q, ring);
		pthread_cond_broadcast(&q->cond);
	}
	json_decref(ring);
	json_decref(resp);
	return rc == 0 ? 0 : reload(q, q->curl);
}

/* The value of key as committed or in batches (not this request's writes). */
static const char *committed(struct ed_store *q, const char *key)
{
	json_t *w = q->open ? json_object_get(q->open->set, key) : NULL;
	if (w)
		return json_string_value(w);
	for (struct ed_batch *b = q->flying; b; b = b->next) {
		json_t *x = json_object_get(b->set, key);
		if (x)
			w = x;
	}
	return w ? json_string_value(w) : api_emap_get(&q->map, key);
}

/* The length of s once escaped inside a JSON string (json_escape). */
static size_t escaped_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '"' || *s == '\\' ? 2 : (unsigned char)*s < 0x20 ? 6 : 1;
	return n;
}

/* s escaped inside a JSON string, written at p (escaped_len(s) bytes);
 * returns the end. Text jansson dumped has no control characters left
 * (it escapes them), but names a client chose go through here too. */
static char *json_escape(char *p, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20) {
			p += sprintf(p, "\\u%04x", c);
		} else {
			*p++ = (char)c;
		}
	}
	return p;
}

/* This request's writes, as a redo record in its last event (the key "w"),
 * so that another replica can bring its mirror up to date from the events
 * alone (replay): every key it wrote but the events, the derived ones, and
 * the bodies its events hold (a body carries its own version, so a value
 * equal to an event's body is that event's write). Its other events get an
 * empty record: replay takes a record without one for an older version's
 * and reads everything (a batch request's first object did that on every
 * other replica until 2026-11-23). Under lock, in commit. Returns 1 when
 * the request changed keys but wrote no event (its batch says so in P rev:
 * see eventless_of). */
static int redo(struct ed_store *q)
{
	const char *k, *rest, *evk = NULL;
	json_t *v;
	json_object_foreach(q->wevs, k, v)
		if (!evk || strcmp(k, evk) > 0)
			evk = k; /* the newest: replay applies "w" after every body */
	if (!evk) {
		/* no event: a rewrite of the same values (an update that changed
		 * nothing), or a store-level write (tests) no redo record holds */
		json_object_foreach(q->wset, k, v) {
			enum kclass c = kclass(q, k, &rest);
			if (derived(c) || c == K_EVENT)
				continue;
			const char *was = committed(q, k), *now = json_string_value(v);
			if (was ? !now || strcmp(was, now) != 0 : now != NULL)
				return 1;
		}
		return 0;
	}
	/* "w": the keys (without P) and values replay writes, as JSON text:
	 * the bodies the events hold are left out (replay writes them from
	 * there), and a claim the newest event's object owns is written as
	 * true. Written as text: under the lock, for every request. */
	size_t pl = strlen(q->prefix), cap = 2, nw = 0;
	json_object_foreach(q->wset, k, v)
		cap += escaped_len(k) + (json_is_string(v) ? escaped_len(json_string_value(v)) : 0) +
		       12;
	char *wtxt = malloc(cap), *p = wtxt;
	if (!wtxt)
		return -ENOMEM;
	*p++ = '{';
	json_object_foreach(q->wset, k, v) {
		enum kclass c = kclass(q, k, &rest);
		const char *val = json_string_value(v);
		if (c == K_EVENT || derived(c))
			continue;
		if (c == K_OBJ && val) {
			bool held = false; /* the body of one of the events */
			const char *ek;
			json_t *ev;
			json_object_foreach(q->wevs, ek, ev)
				if (json_is_string(ev) && strcmp(json_string_value(ev), val) == 0)
					held = true;
			if (held)
				continue;
		}
		if (nw++)
			*p++ = ',';
		*p++ = '"';
		p = json_escape(p, k + pl);
		p = stpcpy(p, "\":");
		if (!val) {
			p = stpcpy(p, "null");
		} else if (strcmp(val, q->wuuid) == 0) {
			p = stpcpy(p, "true");
		} else {
			*p++ = '"';
			p = json_escape(p, val);
			*p++ = '"';
		}
	}
	stpcpy(p, "}");
	/* each event record is a JSON object: "w" goes in before its last '}'
	 * (the older events' records get an empty one) */
	json_object_foreach(q->wevs, k, v) {
		const char *rec = json_string_value(json_object_get(q->wset, k));
		size_t n = rec ? strlen(rec) : 0;
		const char *wv = k == evk ? wtxt : "{}";
		char *txt = n && rec[n - 1] == '}' ? malloc(n + strlen(wv) + 6) : NULL;
		if (!txt) {
			free(wtxt);
			return rec && n ? -ENOMEM : -EIO;
		}
		snprintf(txt, n + strlen(wv) + 6, "%.*s,\"w\":%s}", (int)(n - 1), rec, wv);
		/* replaces the value only: the iteration of wevs is not touched */
		json_object_set_new(q->wset, k, json_string_nocheck(txt));
		free(txt);
	}
	free(wtxt);
	return 0;
}

/* Is this P rev value one of this process's batches? */
static bool ours(const struct ed_store *q, const char *val)
{
	return val && strstr(val, q->tok) != NULL;
}

/* One message of the watch on P rev. A value that is not one of our
 * batches is another process's write: the mirror is behind, so the next
 * transaction replays what changed first (need_mod), and our watchers wake
 * now (they read the new events from etcd). */
static int rev_result(struct ed_store *q, json_t *r)
{
	json_t *ev;
	int64_t foreign = 0;
	int rc = 0;
	pthread_mutex_lock(&q->lock);
	if (!r || i64(r, "compact_revision") > 0 || json_is_true(json_object_get(r, "canceled"))) {
		/* etcd compacted the revisions we asked for: start again from
		 * what it has, and ask before the next write (one may be lost) */
		int64_t c = i64(r, "compact_revision");
		if (c > 0)
			q->wrev = c - 1;
		q->need_check = true;
		rc = -ESTALE;
	}
	size_t i;
	json_array_foreach(rc ? NULL : json_object_get(r, "events"), i, ev) {
		json_t *kv = json_object_get(ev, "kv");
		int64_t mod = i64(kv, "mod_revision");
		if (mod > q->wrev)
			q->wrev = mod;
		const char *vs = json_string_value(json_object_get(kv, "value"));
		char *v = vs ? b64dec(vs) : NULL;
		if (mod > q->rev_mod && !ours(q, v)) {
			note_need(q, mod);
			int64_t t = v ? strtoll(v, NULL, 10) : 0;
			if (t > q->wtrev)
				q->wtrev = t;
			foreign = t;
		}
		free(v);
	}
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (foreign)
		announce(q, foreign);
	return rc;
}

/* A line of the gateway's watch stream: {"result": WatchResponse}. */
static int rev_msg(struct ed_store *q, const char *line)
{
	json_t *m = json_loads(line, 0, NULL);
	if (!m)
		return 0; /* a blank line */
	int rc = rev_result(q, json_object_get(m, "result"));
	json_decref(m);
	return rc;
}

/* What the watch stream brought, after what it left incomplete (kept
 * NUL-terminated for the gateway's lines). */
static int watch_append(struct ed_store *q, const char *data, size_t len)
{
	char *p = realloc(q->wbuf, q->wn + len + 1);
	if (!p)
		return -ENOMEM;
	q->wbuf = p;
	memcpy(p + q->wn, data, len);
	q->wn += len;
	p[q->wn] = 0;
	return 0;
}

/* The gRPC watch stream: length-prefixed WatchResponse messages. */
static size_t on_grpc_watch(char *data, size_t sz, size_t nm, void *arg)
{
	struct ed_store *q = arg;
	size_t len = sz * nm;
	if (watch_append(q, data, len) < 0)
		return 0;
	for (;;) {
		const uint8_t *b = (const uint8_t *)q->wbuf;
		if (q->wn < 5)
			break;
		size_t n = grpc_len(b);
		if (b[0] != 0 || n > 64u << 20)
			return 0; /* compressed or absurd: not what we asked for */
		if (q->wn < 5 + n)
			break;
		json_t *r = NULL;
		int rc = api_pb_decode(API_PB_WATCH, b + 5, n, &r);
		if (rc == 0) {
			rc = rev_result(q, r);
			json_decref(r);
		}
		memmove(q->wbuf, q->wbuf + 5 + n, q->wn - 5 - n);
		q->wn -= 5 + n;
		if (rc < 0)
			return 0; /* ends the stream: the thread starts it again */
	}
	return len;
}

static size_t on_watch(char *data, size_t sz, size_t nm, void *arg)
{
	struct ed_store *q = arg;
	size_t len = sz * nm;
	if (watch_append(q, data, len) < 0)
		return 0;
	char *nl;
	while ((nl = memchr(q->wbuf, '\n', q->wn))) {
		*nl = 0;
		int rc = rev_msg(q, q->wbuf);
		size_t used = (size_t)(nl + 1 - q->wbuf);
		memmove(q->wbuf, nl + 1, q->wn - used + 1);
		q->wn -= used;
		if (rc < 0)
			return 0; /* ends the stream: the thread starts it again */
	}
	return len;
}

static curl_socket_t watch_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct ed_store *q = arg;
	(void)purpose;
	int fd = socket(a->family, a->socktype, a->protocol);
	pthread_mutex_lock(&q->wlock);
	if (q->stopping && fd >= 0) {
		close(fd);
		fd = -1;
	}
	q->wfd = fd;
	pthread_mutex_unlock(&q->wlock);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int watch_close(void *arg, curl_socket_t fd)
{
	struct ed_store *q = arg;
	pthread_mutex_lock(&q->wlock);
	if (q->wfd == fd)
		q->wfd = -1;
	pthread_mutex_unlock(&q->wlock);
	return close(fd);
}

static bool watch_stopping(struct ed_store *q)
{
	pthread_mutex_lock(&q->wlock);
	bool s = q->stopping;
	pthread_mutex_unlock(&q->wlock);
	return s;
}

/* Sleep ms unless the store closes first. */
static void watch_pause(struct ed_store *q, int ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += (long)ms * 1000000L;
	t.tv_sec += t.tv_nsec / 1000000000L;
	t.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&q->wlock);
	while (!q->stopping)
		if (pthread_cond_timedwait(&q->wcond, &q->wlock, &t) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&q->wlock);
}

/* One watch stream on P rev from revision from through etcd's gRPC
 * service (a WatchRequest sent whole, then the answers as they come;
 * etcd keeps a watch whose client has finished sending). Protobuf costs
 * etcd far less than the gateway's JSON stream, which took about a quarter
 * of its CPU under load (one message a batch, to every replica). Returns false
 * when the endpoint does not speak gRPC: the gateway then. */
static bool watch_grpc(struct ed_store *q, const char *key, int64_t from)
{
	char url[512];
	int u = cur_url(q);
	bool tls = strncmp(q->urls[u], "https:", 6) == 0;
	json_t *req = json_pack("{s:{s:o,s:I}}", "create_request", "key", jb64(key),
				"start_revision", (json_int_t)from);
	struct api_pb_buf msg;
	int rc = req ? grpc_message(API_PB_WATCH, req, &msg) : -ENOMEM;
	json_decref(req);
	if (rc < 0) {
		watch_pause(q, 200);
		return true;
	}
	snprintf(url, sizeof(url), "%s/etcdserverpb.Watch/Watch", q->urls[u]);
	q->wn = 0;
	q->wg = (struct grpc_head){ .grpc = false, .status = -1 };
	curl_easy_setopt(q->wcurl, CURLOPT_URL, url);
	curl_easy_setopt(q->wcurl, CURLOPT_HTTPHEADER, q->ghdrs);
	curl_easy_setopt(q->wcurl, CURLOPT_HTTP_VERSION, tls ? (long)CURL_HTTP_VERSION_2TLS
				 : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	curl_easy_setopt(q->wcurl, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(q->wcurl, CURLOPT_POSTFIELDSIZE, (long)msg.n);
	curl_easy_setopt(q->wcurl, CURLOPT_POSTFIELDS, msg.p);
	curl_easy_setopt(q->wcurl, CURLOPT_WRITEFUNCTION, on_grpc_watch);
	curl_easy_setopt(q->wcurl, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->wcurl, CURLOPT_HEADERFUNCTION, on_grpc_head);
	curl_easy_setopt(q->wcurl, CURLOPT_HEADERDATA, &q->wg);
	curl_easy_setopt(q->wcurl, CURLOPT_TIMEOUT_MS, 0L); /* a stream: no end */
	CURLcode cc = curl_easy_perform(q->wcurl);
	/* connected, and what answered was not gRPC (an answer of another
	 * kind, or HTTP/2 refused: an HTTP/1.1 server closes on the preface) */
	bool grpc = q->wg.grpc ||
		    !(cc == CURLE_OK || cc == CURLE_HTTP2 || cc == CURLE_SEND_ERROR ||
		      cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
		      cc == CURLE_WEIRD_SERVER_REPLY);
	curl_easy_setopt(q->wcurl, CURLOPT_HEADERFUNCTION, NULL);
	curl_easy_setopt(q->wcurl, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(q->wcurl, CURLOPT_HTTPHEADER, q->hdrs);
	curl_easy_setopt(q->wcurl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(q->wcurl, CURLOPT_FRESH_CONNECT, 0L);
	curl_easy_setopt(q->wcurl, CURLOPT_POSTFIELDSIZE, -1L);
	api_pb_buf_free(&msg);
	/* the stream ended: etcd went away, or compacted our start */
	if (grpc && cc != CURLE_WRITE_ERROR)
		watch_pause(q, 100);
	return grpc;
}

/* The watch thread: follows P rev (one small key per tern write; the
 * writes themselves are read only when needed, see replay) from wrev + 1
 * for as long as the store is open; reconnects after an error. */
static void *watch_main(void *arg)
{
	struct ed_store *q = arg;
	char key[160], url[512];
	KEY(key, "%srev", q->prefix);
	while (!watch_stopping(q)) {
		pthread_mutex_lock(&q->lock);
		int64_t from = q->wrev + 1;
		pthread_mutex_unlock(&q->lock);
		if (q->wgrpc && !__atomic_load_n(&q->gateway, __ATOMIC_RELAXED)) {
			q->wgrpc = watch_grpc(q, key, from);
			continue;
		}
		json_t *req = json_pack("{s:{s:o,s:I}}", "create_request", "key", jb64(key),
					"start_revision", (json_int_t)from);
		char *body = json_dumps(req, JSON_COMPACT);
		json_decref(req);
		if (!body) {
			watch_pause(q, 200);
			continue;
		}
		snprintf(url, sizeof(url), "%s/v3/watch", q->urls[cur_url(q)]);
		q->wn = 0;
		curl_easy_setopt(q->wcurl, CURLOPT_URL, url);
		curl_easy_setopt(q->wcurl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(q->wcurl, CURLOPT_WRITEFUNCTION, on_watch);
		curl_easy_setopt(q->wcurl, CURLOPT_WRITEDATA, q);
		curl_easy_setopt(q->wcurl, CURLOPT_TIMEOUT_MS, 0L); /* a stream: no end */
		CURLcode cc = curl_easy_perform(q->wcurl);
		free(body);
		/* the stream ended: etcd went away, or compacted our start */
		if (cc != CURLE_WRITE_ERROR)
			watch_pause(q, 100);
	}
	return NULL;
}

/* ---- reads: the mirror, under the batch's and this request's writes ----------- */

/* The value of key as this transaction sees it (borrowed); NULL when absent.
 * A read-only transaction sees only what is committed. */
static const char *kval(struct ed_store *q, const char *key)
{
	if (q->txn_write) {
		json_t *w = json_object_get(q->wset, key);
		if (!w && q->open)
			w = json_object_get(q->open->set, key);
		if (w)
			return json_string_value(w); /* NULL for a delete */
		/* the newest batch in flight that wrote it */
		for (struct ed_batch *b = q->flying; b; b = b->next) {
			json_t *x = json_object_get(b->set, key);
			if (x)
				w = x;
		}
		if (w)
			return json_string_value(w);
	}
	return api_emap_get(&q->map, key);
}

/* *val: new string (caller frees), or -ENOENT. */
static int kget(struct ed_store *q, const char *key, char **val)
{
	const char *v = kval(q, key);
	if (!v)
		return -ENOENT;
	*val = strdup(v);
	return *val ? 0 : -ENOMEM;
}

/* (values are text jansson wrote or names it read: UTF-8 already) */
static void kput(struct ed_store *q, const char *key, const char *val)
{
	json_object_set_new(q->wset, key, json_string_nocheck(val));
}

static void kdel(struct ed_store *q, const char *key)
{
	json_object_set_new(q->wset, key, json_null());
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(json_string_value(json_array_get(*(json_t *const *)a, 0)),
		      json_string_value(json_array_get(*(json_t *const *)b, 0)));
}

/* Apply the writes in set to a's [key, value] pairs with prefix pfx. */
static void overlay(json_t *a, json_t *set, const char *pfx)
{
	size_t n = strlen(pfx);
	const char *k;
	json_t *v;
	json_object_foreach(set, k, v) {
		if (strncmp(k, pfx, n) != 0)
			continue;
		size_t i;
		json_t *e;
		bool found = false;
		json_array_foreach(a, i, e) {
			if (strcmp(json_string_value(json_array_get(e, 0)), k) == 0) {
				found = true;
				break;
			}
		}
		if (found && json_is_null(v))
			json_array_remove(a, i);
		else if (found)
			json_array_set(e, 1, v);
		else if (!json_is_null(v))
			json_array_append_new(a, json_pack("[s,O]", k, v));
	}
}

/* Every key with prefix pfx as this transaction sees it, in key order:
 * *out an array of [key, value]. */
static int range_prefix(struct ed_store *q, const char *pfx, json_t **out)
{
	size_t n = strlen(pfx);
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	for (const struct api_emap_node *x = api_emap_seek(&q->map, pfx);
	     x && strncmp(x->key, pfx, n) == 0; x = api_emap_next(x))
		json_array_append_new(a, json_pack("[s,s]", x->key, x->val));
	if (!q->txn_write) {
		*out = a;
		return 0;
	}
	for (struct ed_batch *b = q->flying; b; b = b->next)
		overlay(a, b->set, pfx);
	if (q->open)
		overlay(a, q->open->set, pfx);
	overlay(a, q->wset, pfx);
	/* sort the array in place through a plain vector of its items */
	size_t cnt = json_array_size(a);
	json_t **items = malloc((cnt ? cnt : 1) * sizeof(*items));
	if (!items) {
		json_decref(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cnt; i++)
		items[i] = json_incref(json_array_get(a, i));
	qsort(items, cnt, sizeof(*items), cmp_key);
	json_array_clear(a);
	for (size_t i = 0; i < cnt; i++)
		json_array_append_new(a, items[i]);
	free(items);
	*out = a;
	return 0;
}

/* ---- transactions --------------------------------------------------------------- */

static void batch_free(struct ed_batch *b)
{
	if (b) {
		json_decref(b->set);
		free(b->cmp);
		free(b);
	}
}

static void ed_close(struct api_store *s)
{
	struct ed_store *q = ed(s);
	api_pcache_clear(&q->pcache);
	if (q->sending) {
		/* every request ended by ed_end was answered: nothing is open */
		pthread_mutex_lock(&q->lock);
		q->sstop = true;
		pthread_cond_signal(&q->scond);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->sthread, NULL);
	}
	if (q->watching) {
		pthread_mutex_lock(&q->wlock);
		q->stopping = true;
		if (q->wfd >= 0)
			shutdown(q->wfd, SHUT_RDWR); /* wakes the thread out of its stream */
		pthread_cond_broadcast(&q->wcond);
		pthread_mutex_unlock(&q->wlock);
		pthread_join(q->wthread, NULL);
	}
	if (q->curl)
		curl_easy_cleanup(q->curl);
	if (q->rcurl)
		curl_easy_cleanup(q->rcurl);
	if (q->gcurl)
		curl_easy_cleanup(q->gcurl);
	if (q->grcurl)
		curl_easy_cleanup(q->grcurl);
	if (q->wcurl)
		curl_easy_cleanup(q->wcurl);
	for (int i = 0; i < ED_PIPELINE; i++) {
		if (q->slot[i])
			curl_easy_cleanup(q->slot[i]);
		api_pb_buf_free(&q->slot_msg[i]);
	}
	curl_slist_free_all(q->hdrs);
	curl_slist_free_all(q->ghdrs);
	for (int i = 0; i < q->n_urls; i++)
		free(q->urls[i]);
	free(q->urls);
	free(q->wbuf);
	free(q->rev_val);
	ring_reset(q, 0);
	json_decref(q->wset);
	json_decref(q->wevs);
	batch_free(q->open); /* none open or in flight once every request ended */
	api_emap_free(&q->map);
	api_evlog_z_free(&q->zw);
	api_evlog_z_free(&q->zr);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	pthread_cond_destroy(&q->scond);
	pthread_mutex_destroy(&q->rlock);
	pthread_mutex_destroy(&q->wlock);
	pthread_cond_destroy(&q->wcond);
	pthread_mutex_destroy(&q->sub_lock);
	pthread_mutex_destroy(&q->err_lock);
	free(q);
}

/* Under lock: bring the mirror to P rev's mod_revision need_mod: a batch
 * of ours in flight may be it (wait for its answer), else replay what
 * changed (another replica's writes). */
static int catch_up(struct ed_store *q)
{
	while (q->rev_mod < q->need_mod && q->flying)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->rev_mod >= q->need_mod)
		return 0;
	return replay(q, q->need_mod);
}

/* The top of the chain a new batch builds on: the newest batch in flight,
 * else the mirror. */
static int64_t chain_rev(struct ed_store *q)
{
	return q->open ? q->open->brev : q->flying_tail ? q->flying_tail->brev : q->trev;
}

static int ed_begin(struct api_store *s, bool write)
{
	struct ed_store *q = ed(s);
	int rc;
	if (!write) {
		/* the check that the mirror is current waits for the first read
		 * of the mirror (fresh_read): events and revision need none */
		pthread_mutex_lock(&q->lock);
		q->fresh = false;
	} else {
		/* counted while queueing: a committer that sees others coming
		 * leaves its writes in the batch for the last of them to send */
		__atomic_add_fetch(&q->want, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_lock(&q->lock);
		__atomic_sub_fetch(&q->want, 1, __ATOMIC_SEQ_CST);
		if (q->need_check) {
			int64_t mod;
			if ((rc = rev_mod_now(q, q->gcurl, &mod)) < 0) {
				pthread_mutex_unlock(&q->lock);
				return rc;
			}
			note_need(q, mod);
			q->need_check = false;
		}
	}
	if ((rc = catch_up(q)) < 0) {
		pthread_mutex_unlock(&q->lock);
		return rc;
	}
	q->in_txn = true;
	q->txn_write = write;
	q->txn_mod = q->rev_mod;
	q->rev = write ? chain_rev(q) : q->trev;
	return 0;
}

/* key's value once the batches in flight up to b (b included) commit:
 * what b's txn must describe (a batch forming behind b does not count). */
static const char *value_upto(struct ed_store *q, struct ed_batch *b, const char *key)
{
	const char *v = api_emap_get(&q->map, key);
	for (struct ed_batch *x = q->flying; x; x = x->next) {
		json_t *w = json_object_get(x->set, key);
		if (w)
			v = json_string_value(w);
		if (x == b)
			break;
	}
	return v;
}

/* The obj/ value b's txn writes for the object uuid with this body: the
 * body, a newline, and {"u":uuid,"r":refs,"c":[claim keys it owns]} as
 * they stand once b commits (see "Envelopes" at the top). NULL: no memory. */
static char *envelope(struct ed_store *q, struct ed_batch *b, const char *body, const char *uuid)
{
	char key[1400];
	KEY(key, "%srefs/%s", q->prefix, uuid);
	const char *refs = value_upto(q, b, key);
	KEY(key, "%sown/%s/", q->prefix, uuid);
	size_t kl = strlen(key), pl = strlen(q->prefix);
	json_t *own = json_object(), *v;
	for (const struct api_emap_node *x = api_emap_seek(&q->map, key);
	     own && x && strncmp(x->key, key, kl) == 0; x = api_emap_next(x))
		json_object_set_new(own, x->key, json_string(x->val));
	const char *k;
	for (struct ed_batch *x = q->flying; own && x; x = x->next) {
		json_object_foreach(x->set, k, v)
			if (strncmp(k, key, kl) == 0)
				json_object_set(own, k, v);
		if (x == b)
			break;
	}
	json_t *c = json_array(), *u = json_string(uuid);
	json_object_foreach(own, k, v)
		if (json_is_string(v) && strlen(json_string_value(v)) > pl)
			json_array_append_new(c, json_string(json_string_value(v) + pl));
	/* (refs is JSON text already: written by ed_put from an array) */
	char *ctxt = c ? json_dumps(c, JSON_COMPACT) : NULL;
	char *utxt = u ? json_dumps(u, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(c);
	json_decref(u);
	json_decref(own);
	char *out = NULL;
	if (ctxt && utxt) {
		size_t n = strlen(body) + strlen(utxt) + (refs ? strlen(refs) : 2) + strlen(ctxt) + 32;
		if ((out = malloc(n)))
			snprintf(out, n, "%s\n{\"u\":%s,\"r\":%s,\"c\":%s}", body, utxt,
				 refs ? refs : "[]", ctxt);
	}
	free(ctxt);
	free(utxt);
	return out;
}

/* The objects whose envelope a txn of set writes: objs (obj/ key -> uuid)
 * and owners (uuid -> true). Those the set puts; and, when b (the batch of
 * set, in flight) is given, every other object whose refs or claims the set
 * changes (own/<owner>/... and refs/<owner> keys name them): its body goes
 * again with the new envelope, or reload would bring back what the old one
 * says. Without b (counting), those are counted as rewritten and their
 * keys as going on their own: never fewer than batch_txn sends. */
static int txn_objects(struct ed_store *q, json_t *set, struct ed_batch *b, json_t **objs,
		       json_t **owners, int *extra)
{
	char ok[1400], uk[256];
	const char *k, *rest;
	json_t *v, *dirty = json_object();
	*objs = json_object();
	*owners = json_object();
	*extra = 0;
	if (!*objs || !*owners || !dirty) {
		json_decref(*objs);
		json_decref(*owners);
		json_decref(dirty);
		return -ENOMEM;
	}
	json_object_foreach(set, k, v) {
		enum kclass c = kclass(q, k, &rest);
		if (c == K_UUID && json_is_string(v)) {
			KEY(ok, "%sobj/%s", q->prefix, json_string_value(v));
			if (json_is_string(json_object_get(set, ok))) {
				json_object_set_new(*objs, ok, json_string(rest));
				json_object_set_new(*owners, rest, json_true());
			}
		} else if (c == K_REFS || (c == K_OWN && strchr(rest, '/'))) {
			snprintf(uk, sizeof(uk), "%.*s", (int)strcspn(rest, "/"), rest);
			json_object_set_new(dirty, uk, json_true());
		}
	}
	json_object_foreach(dirty, k, v) {
		if (json_object_get(*owners, k))
			continue;
		++*extra;
		if (!b)
			continue;
		KEY(uk, "%suuid/%s", q->prefix, k);
		const char *path = value_upto(q, b, uk);
		KEY(ok, "%sobj/%s", q->prefix, path ? path : "");
		if (path && value_upto(q, b, ok)) {
			json_object_set_new(*objs, ok, json_string(k));
			json_object_set_new(*owners, k, json_true());
		}
	}
	json_decref(dirty);
	return 0;
}

/* Does key k (value v) of a set go to etcd as a key of its own? Not the
 * derived ones, nor refs and claims of an object whose envelope the txn
 * writes (owners); deletes always go (the key may be there from an older
 * version, or from an owner without an object). */
static bool own_key(const struct ed_store *q, const char *k, json_t *v, json_t *owners)
{
	const char *rest;
	enum kclass c = kclass(q, k, &rest);
	const char *val = json_string_value(v);
	if (derived(c))
		return false;
	return !val || !((c == K_REFS && json_object_get(owners, rest)) ||
			 (c == K_CLAIM && json_object_get(owners, val)));
}

/* The events of a batch as one key (api_etcd_evlog.h). */
static int put_events(struct ed_store *q, struct api_pb_buf *msg, struct api_evlog_ref *evs,
		      size_t n)
{
	const char *key;
	char *val = NULL;
	size_t len;
	if (n == 0)
		return 0;
	int rc = api_evlog_join(&q->zw, evs, n, &key, &val, &len);
	if (rc == 0)
		rc = api_pb_txn_put(msg, API_PB_SUCCESS, key, val, len);
	free(val);
	return rc;
}

/* The txn of batch b as a gRPC message (*msg, its buffer reused): "if P
 * rev is what the batch before wrote, write b", written as protobuf
 * directly (it is on the critical path: built under the lock, sent at
 * once). The objects b writes carry their refs and claims (envelope),
 * which then are not written as keys of their own. -ENOMEM: out of
 * memory. */
static int batch_txn(struct ed_store *q, struct ed_batch *b, struct api_pb_buf *msg)
{
	char key[160];
	KEY(key, "%srev", q->prefix);
	json_t *v, *objs, *owners;
	const char *k;
	int extra;
	if (txn_objects(q, b->set, b, &objs, &owners, &extra) < 0)
		return -ENOMEM;
	int rc = grpc_reuse(msg, 4096);
	if (rc == 0)
		rc = b->cmp ? api_pb_txn_if_value(msg, key, b->cmp)
			    : api_pb_txn_if_created(msg, key, 0);
	size_t nev = 0;
	struct api_evlog_ref *evs = malloc(sizeof(*evs) * (json_object_size(b->set) + 1));
	if (!evs)
		rc = -ENOMEM;
	json_object_foreach(rc == 0 ? b->set : NULL, k, v) {
		if (!own_key(q, k, v, owners))
			continue;
		const char *val = json_string_value(v), *rest;
		if (val && kclass(q, k, &rest) == K_EVENT) {
			evs[nev++] = (struct api_evlog_ref){ k, val };
			continue;
		}
		const char *u = val ? json_string_value(json_object_get(objs, k)) : NULL;
		char *env = u ? envelope(q, b, val, u) : NULL;
		const char *put = env ? env : val;
		if (u && !env)
			rc = -ENOMEM;
		else if (!val)
			rc = api_pb_txn_delete(msg, API_PB_SUCCESS, k);
		else
			rc = api_pb_txn_put(msg, API_PB_SUCCESS, k, put, strlen(put));
		free(env);
		if (rc < 0)
			break;
	}
	/* the objects b does not put whose refs or claims it changes */
	json_object_foreach(rc == 0 ? objs : NULL, k, v) {
		if (json_object_get(b->set, k))
			continue;
		char *env = envelope(q, b, value_upto(q, b, k), json_string_value(v));
		rc = env ? api_pb_txn_put(msg, API_PB_SUCCESS, k, env, strlen(env)) : -ENOMEM;
		free(env);
		if (rc < 0)
			break;
	}
	json_decref(objs);
	json_decref(owners);
	if (rc == 0)
		rc = put_events(q, msg, evs, nev);
	free(evs);
	if (rc == 0)
		rc = api_pb_txn_put(msg, API_PB_SUCCESS, key, b->val, strlen(b->val));
	if (rc == 0)
		rc = api_pb_txn_range(msg, API_PB_FAILURE, key, 0);
	if (rc < 0) {
		api_pb_buf_free(msg);
		return rc;
	}
	grpc_frame(msg);
	return 0;
}

/* What a request makes of its batch's outcome rc. */
static int outcome(const struct ed_waiter *w, int rc)
{
	switch (w->mode) {
	case ED_W_AGAIN:
		return rc < 0 ? rc : -EAGAIN;
	case ED_W_READ:
		return rc == -EAGAIN ? -EAGAIN : 0;
	default:
		return rc;
	}
}

/* b's answer, in the order the batches were sent (b is the oldest in
 * flight): the mirror takes its writes, its requests their outcome. */
static void batch_done(struct ed_store *q, struct ed_batch *b, int rc, json_t *resp)
{
	bool ok = rc == 0 && json_is_true(json_object_get(resp, "succeeded"));
	if (rc == 0 && !ok) {
		/* another writer (another tern-api) got in first, or the batch
		 * before this one failed: redo, once the watch has brought what
		 * is in etcd now */
		json_t *r = json_array_get(json_object_get(resp, "responses"), 0);
		json_t *kv = json_array_get(json_object_get(json_object_get(r, "response_range"),
							    "kvs"), 0);
		note_need(q, kv ? i64(kv, "mod_revision") : q->rev_mod + 1);
		rc = -EAGAIN;
	} else if (rc < 0) {
		q->need_check = true; /* it may have been written: ask before the next */
	}
	/* the outcome is known: its requests may answer now, while the mirror
	 * takes the batch's writes (nobody reads it before: that takes the
	 * lock). An ended request's callback runs here, under the lock, so the
	 * event loop answers in parallel with the mirror's update below. */
	for (struct ed_waiter *w = b->w, *nx; w; w = nx) {
		nx = w->next; /* w's stack frame may be gone once done is seen */
		w->rc = rc;
		if (w->cb) {
			w->cb(w->arg, outcome(w, rc));
			free(w);
			continue;
		}
		__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
		sem_post(&w->sem); /* (safe if w is gone by the time it returns) */
	}
	int64_t h = ok ? i64(json_object_get(resp, "header"), "revision") : 0;
	if (!ok || h <= q->mrev)
		return; /* (h <= mrev: a replay, another request's catch_up, already
			 * brought it, and maybe newer writes: applying it again would
			 * go back) */
	char key[160];
	KEY(key, "%srev", q->prefix);
	json_t *v;
	const char *k;
	bool lost = mirror_apply(q, key, b->val, h) < 0;
	json_t *evs = json_array();
	const char *rest;
	/* every key as it is: the batch holds the derived keys too (put,
	 * claim and release wrote them beside the keys they derive from, for
	 * the requests after them), so no body or refs list is parsed again */
	json_object_foreach(b->set, k, v) {
		const char *val = json_string_value(v);
		if (kclass(q, k, &rest) == K_EVENT) {
			if (val)
				json_array_append_new(evs, json_pack("[sO]", k, v));
		} else if (!val) {
			api_emap_del(&q->map, k);
		} else if (api_emap_set(&q->map, k, val) < 0) {
			lost = true;
		}
	}
	ring_add(q, evs);
	json_decref(evs);
	q->mrev = h;
	if (lost && reload(q, q->curl) < 0)
		q->need_check = true; /* out of memory: read it all again */
}

/* Build b's txn (under lock) and send it on connection slot; the lock is
 * let go while etcd answers. */
static int send_batch(struct ed_store *q, struct ed_batch *b, int slot, json_t **resp)
{
	struct api_pb_buf *msg = &q->slot_msg[slot]; /* (the slot is this call's) */
	int rc = batch_txn(q, b, msg);
	pthread_mutex_unlock(&q->lock);
	if (rc == 0)
		rc = call_msg(q, q->slot[slot], API_PB_TXN, msg, resp);
	else
		set_err(q, "out of memory building a transaction for etcd");
	pthread_mutex_lock(&q->lock);
	return rc;
}

/* Send the open batch (under lock; the lock is let go while etcd answers,
 * so the next batch can form and be sent behind this one). */
static void flush(struct ed_store *q)
{
	int slot = -1;
	for (;;) {
		for (int i = 0; i < ED_PIPELINE && slot < 0; i++)
			if (!q->slot_busy[i])
				slot = i;
		if (slot >= 0 || !q->open)
			break;
		pthread_cond_wait(&q->cond, &q->lock); /* the batch may grow meanwhile */
	}
	struct ed_batch *b = q->open;
	if (!b)
		return; /* another thread sent it while this one waited */
	q->open = NULL;
	q->slot_busy[slot] = true;
	for (struct ed_waiter *w = b->w; w; w = w->next)
		w->sent = true;
	if (q->flying_tail)
		q->flying_tail->next = b;
	else
		q->flying = b;
	q->flying_tail = b;
	snprintf(b->val, sizeof(b->val), "%" PRId64 " %016" PRIx64 "-%" PRIu64 " e%" PRId64, b->brev,
		 q->token, ++q->seq, eventless_of(b->cmp) + b->eventless);
	b->chained = b != q->flying;
	json_t *resp = NULL;
	int rc = send_batch(q, b, slot, &resp);
	while (q->flying != b)
		pthread_cond_wait(&q->cond, &q->lock);
	if (rc == 0 && !json_is_true(json_object_get(resp, "succeeded")) && b->chained &&
	    (b->cmp && q->rev_val ? strcmp(b->cmp, q->rev_val) == 0 : b->cmp == q->rev_val)) {
		/* it overtook the batch before it on the way to etcd (separate
		 * connections), which has committed since: send it again */
		json_decref(resp);
		resp = NULL;
		rc = send_batch(q, b, slot, &resp);
	}
	q->slot_busy[slot] = false;
	/* the requests just answered usually come back at once: with those
	 * queued meanwhile, they are the next batch (settle waits for them) */
	q->expect = b->n + (q->open ? q->open->n : 0);
	clock_gettime(CLOCK_MONOTONIC, &q->done_at);
	batch_done(q, b, rc, resp);
	json_decref(resp);
	q->flying = b->next;
	if (!q->flying)
		q->flying_tail = NULL;
	batch_free(b);
	pthread_cond_broadcast(&q->cond);
	/* the connection is free: the open batch's newest request may send it
	 * (an ended one's: kick, when its connection is answered) */
	if (q->open && q->open->w && !q->open->w->cb)
		sem_post(&q->open->w->sem);
}

static bool slot_free(const struct ed_store *q)
{
	for (int i = 0; i < ED_PIPELINE; i++)
		if (!q->slot_busy[i])
			return true;
	return false;
}

static bool batch_full(const struct ed_batch *b)
{
	return b->n >= ED_BATCH_MAX || b->ops >= ED_BATCH_KEYS;
}

/* The keys of set a txn will carry (see own_key); out of memory: every
 * key, which only makes the batch go sooner. */
static int txn_keys(struct ed_store *q, json_t *set)
{
	const char *k;
	json_t *v, *objs, *owners;
	int n;
	if (txn_objects(q, set, NULL, &objs, &owners, &n) < 0)
		return (int)json_object_size(set);
	bool ev = false;
	const char *rest;
	json_object_foreach(set, k, v) {
		if (kclass(q, k, &rest) != K_EVENT || !json_is_string(v))
			n += own_key(q, k, v, owners);
		else
			ev = true;
	}
	n += ev; /* (put_events) */
	json_decref(objs);
	json_decref(owners);
	return n;
}

/* Under the store's lock, which it lets go while it sleeps: w until done,
 * a post, or the time until (NULL: none). true when w is done (the lock
 * let go), false with the lock held again. */
static bool await(struct ed_store *q, struct ed_waiter *w, const struct timespec *until)
{
	pthread_mutex_unlock(&q->lock);
	while ((until ? sem_clockwait(&w->sem, CLOCK_MONOTONIC, until) : sem_wait(&w->sem)) < 0 &&
	       errno == EINTR)
		;
	if (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
		return true;
	pthread_mutex_lock(&q->lock);
	return false; /* (settle looks at done again, under the lock) */
}

enum ed_go { ED_SEND, ED_WAIT, ED_HOLD };

static void after_us(struct timespec *t, const struct timespec *from, long us)
{
	*t = *from;
	t->tv_nsec += us * 1000L;
	t->tv_sec += t->tv_nsec / 1000000000L;
	t->tv_nsec %= 1000000000L;
}

/* Under lock: whether the open batch b goes now (ED_SEND), waits for the
 * requests expected to join it until *until (ED_WAIT), or waits for a free
 * connection or for the writers queued for the lock (ED_HOLD). */
static enum ed_go decide(struct ed_store *q, struct ed_batch *b, struct timespec *until)
{
	if (!slot_free(q) || (__atomic_load_n(&q->want, __ATOMIC_SEQ_CST) && !batch_full(b)))
		return ED_HOLD;
	/* Under steady load the clients whose requests the last batch
	 * answered send their next ones within a millisecond or so: a batch
	 * that waits for them (while nothing is in flight) goes out with all
	 * of them, instead of half now and half after one more round trip. */
	if (q->flying || b->n >= q->expect || batch_full(b))
		return ED_SEND;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	after_us(until, &q->done_at, ED_GROUP_WAIT_US);
	return now.tv_sec > until->tv_sec ||
	       (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec) ? ED_SEND : ED_WAIT;
}

/* w (not yet answered) waits for b. */
static void join(struct ed_store *q, struct ed_batch *b, struct ed_waiter *w)
{
	w->next = b->w;
	b->w = w;
	w->sent = b != q->open;
}

/* Under lock, and returns with it let go: w waits for the batch it joined
 * (b), which it sends itself when nobody else is coming to add to it, or
 * it is full. The newest request of the open batch is the one that
 * decides (it is poked when the connection frees up; an ended one's batch
 * is decided by kick); the others wait for the answer. */
static int settle(struct ed_store *q, struct ed_batch *b, struct ed_waiter *w)
{
	sem_init(&w->sem, 0, 0);
	join(q, b, w);
	bool done = false;
	while (!done && !w->done) {
		if (w->sent || q->open != b || b->w != w) {
			/* sent, or a newer request decides */
			done = await(q, w, NULL);
			continue;
		}
		struct timespec until, now;
		switch (decide(q, b, &until)) {
		case ED_SEND:
			flush(q);
			break;
		case ED_WAIT:
			done = await(q, w, &until);
			break;
		case ED_HOLD:
			/* (a request counted in want that then wrote nothing, an
			 * error before commit, wakes nobody: look again soon) */
			clock_gettime(CLOCK_MONOTONIC, &now);
			after_us(&until, &now, ED_GROUP_WAIT_US);
			done = await(q, w, &until);
			break;
		}
	}
	if (!done)
		pthread_mutex_unlock(&q->lock);
	sem_destroy(&w->sem);
	return outcome(w, w->rc);
}

/* The batch whose writes this transaction read, if any: the open one, else
 * the newest in flight. */
static struct ed_batch *read_batch(struct ed_store *q)
{
	return q->open ? q->open : q->flying_tail;
}

static void end_txn(struct ed_store *q)
{
	json_object_clear(q->wset);
	json_object_clear(q->wevs);
	q->in_txn = false;
	q->txn_write = false;
}

/* Before a reading transaction's first read of the mirror: a read sees
 * every write acknowledged before it, on any replica. Nothing was read yet,
 * so the lock may go while etcd is asked. */
static int fresh_read(struct ed_store *q)
{
	if (q->txn_write || q->fresh)
		return 0;
	int64_t mod;
	pthread_mutex_unlock(&q->lock);
	pthread_mutex_lock(&q->rlock);
	int rc = rev_mod_now(q, q->grcurl, &mod);
	pthread_mutex_unlock(&q->rlock);
	pthread_mutex_lock(&q->lock);
	q->in_txn = true; /* a writer may have run meanwhile */
	q->txn_write = false;
	if (rc < 0)
		return rc;
	note_need(q, mod);
	if ((rc = catch_up(q)) < 0)
		return rc;
	q->fresh = true;
	q->rev = q->trev;
	return 0;
}

/* Under lock, ending the transaction as a commit: the batch w must wait
 * for (w->mode set), or NULL with *rc the outcome and the lock let go. */
static struct ed_batch *commit_to(struct ed_store *q, struct ed_waiter *w, int *rc)
{
	*rc = 0;
	w->mode = ED_W_COMMIT;
	if (!q->txn_write) {
		end_txn(q);
		pthread_mutex_unlock(&q->lock);
		return NULL;
	}
	size_t n = json_object_size(q->wset);
	/* a batch's keys counted request by request (a key two requests write
	 * counts twice: the batch goes a little sooner), not the whole set
	 * again at each request */
	int keys = n ? txn_keys(q, q->wset) : 0;
	if (n && q->open && q->open->ops + keys + 1 > ED_TXN_OPS) {
		/* no room in one txn: this request goes in the next batch, on top
		 * of this one. Cannot wait here (its writes would be lost to the
		 * next transaction), so it is redone: rare with ED_BATCH_KEYS. */
		end_txn(q);
		w->mode = ED_W_AGAIN;
		return q->open;
	}
	struct ed_batch *b = n ? q->open : read_batch(q);
	if (n && !b) {
		/* the first request of a batch: on top of the newest one in flight */
		b = calloc(1, sizeof(*b));
		if (!b || !(b->set = json_object())) {
			free(b);
			end_txn(q);
			pthread_mutex_unlock(&q->lock);
			*rc = -ENOMEM;
			return NULL;
		}
		const char *top = q->flying_tail ? q->flying_tail->val : q->rev_val;
		b->cmp = top ? strdup(top) : NULL;
		if (top && !b->cmp) {
			batch_free(b);
			end_txn(q);
			pthread_mutex_unlock(&q->lock);
			*rc = -ENOMEM;
			return NULL;
		}
		q->open = b;
	}
	int eventless = n ? redo(q) : 0;
	if (eventless < 0) {
		end_txn(q);
		pthread_mutex_unlock(&q->lock);
		*rc = eventless;
		return NULL;
	}
	if (n) {
		json_object_update(b->set, q->wset);
		b->ops += keys;
		b->brev = q->rev;
		b->n++;
		b->eventless = b->eventless || eventless;
	}
	end_txn(q);
	if (!b)
		pthread_mutex_unlock(&q->lock);
	return b; /* it wrote, or read what batches wrote */
}

/* The same for a rollback. */
static struct ed_batch *rollback_to(struct ed_store *q, struct ed_waiter *w, int *rc)
{
	*rc = 0;
	w->mode = ED_W_READ;
	bool write = q->txn_write;
	end_txn(q);
	struct ed_batch *b = write ? read_batch(q) : NULL;
	if (b)
		return b; /* it failed on batches' writes: only true if they commit */
	if (write) {
		/* it failed on the mirror: only true if the mirror was current */
		int64_t mod;
		if (rev_mod_now(q, q->gcurl, &mod) == 0 && mod > q->txn_mod) {
			note_need(q, mod);
			*rc = -EAGAIN;
		}
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static int ed_commit(struct api_store *s)
{
	struct ed_store *q = ed(s);
	struct ed_waiter w = { .rc = 0 };
	int rc;
	struct ed_batch *b = commit_to(q, &w, &rc);
	return b ? settle(q, b, &w) : rc;
}

static int ed_rollback(struct api_store *s)
{
	struct ed_store *q = ed(s);
	struct ed_waiter w = { .rc = 0 };
	int rc;
	struct ed_batch *b = rollback_to(q, &w, &rc);
	return b ? settle(q, b, &w) : rc;
}

static void ed_end(struct api_store *s, bool abort, api_done_cb cb, void *arg)
{
	struct ed_store *q = ed(s);
	struct ed_waiter *w = calloc(1, sizeof(*w));
	if (!w) { /* out of memory: wait, as commit and rollback do */
		int rc = abort ? ed_rollback(s) : ed_commit(s);
		cb(arg, rc);
		return;
	}
	w->cb = cb;
	w->arg = arg;
	int rc;
	struct ed_batch *b = abort ? rollback_to(q, w, &rc) : commit_to(q, w, &rc);
	if (!b) {
		free(w);
		cb(arg, rc);
		return;
	}
	join(q, b, w);
	pthread_mutex_unlock(&q->lock);
}

static int ms_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t us = (int64_t)(t->tv_sec - now.tv_sec) * 1000000 + (t->tv_nsec - now.tv_nsec) / 1000;
	return us <= 0 ? 0 : (int)((us + 999) / 1000);
}

static int ed_kick(struct api_store *s)
{
	struct ed_store *q = ed(s);
	int ms = -1;
	pthread_mutex_lock(&q->lock);
	struct ed_batch *b = q->open;
	struct timespec until;
	if (b && b->w && b->w->cb && !q->go) {
		switch (decide(q, b, &until)) {
		case ED_SEND:
			q->go = true;
			pthread_cond_signal(&q->scond);
			break;
		case ED_WAIT:
			ms = ms_until(&until);
			break;
		case ED_HOLD:
			/* a batch in flight: its answer resumes requests, and the
			 * loop kicks again then; this is the safety net */
			ms = ED_GROUP_WAIT_US / 1000;
			break;
		}
	}
	pthread_mutex_unlock(&q->lock);
	return ms;
}

/* Sends what kick decided; the ended requests are called back from
 * batch_done, once their batch is answered. */
static void *sender_main(void *arg)
{
	struct ed_store *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		if (q->go) {
			q->go = false;
			if (q->open)
				flush(q);
			continue;
		}
		if (q->sstop)
			break;
		pthread_cond_wait(&q->scond, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* ---- objects ------------------------------------------------------------------- */

static const char *str_of(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int load_path(struct ed_store *q, const char *path, json_t **obj, bool shared)
{
	char key[1024];
	KEY(key, "%sobj/%s", q->prefix, path);
	int rc = fresh_read(q);
	if (rc < 0)
		return rc;
	const char *v = kval(q, key);
	if (!v)
		return -ENOENT;
	return api_pcache_get(&q->pcache, key, v, shared, obj);
}

static int ed_get(struct api_store *s, const char *uuid, json_t **obj)
{
	struct ed_store *q = ed(s);
	char key[256], *path = NULL;
	KEY(key, "%suuid/%s", q->prefix, uuid);
	int rc = fresh_read(q);
	if (rc == 0)
		rc = kget(q, key, &path);
	if (rc < 0)
		return rc;
	rc = load_path(q, path, obj, false);
	free(path);
	return rc;
}

static int find_as(struct api_store *s, const char *kind, const char *fq_name, json_t **obj,
		   bool shared)
{
	char path[1024];
	KEY(path, "%s/%s", kind, fq_name);
	return load_path(ed(s), path, obj, shared);
}

static int ed_find(struct api_store *s, const char *kind, const char *fq_name, json_t **obj)
{
	return find_as(s, kind, fq_name, obj, false);
}

/* find's object without the copy: every create reads its project and its
 * network a few times, and copying them was ~6 % of tern-api's CPU */
static int ed_peek(struct api_store *s, const char *kind, const char *fq_name, json_t **obj)
{
	return find_as(s, kind, fq_name, obj, true);
}

static bool match(const char *want, json_t *obj, const char *key)
{
	const char *v = str_of(obj, key);
	return !want || (v && strcmp(v, want) == 0);
}

static int ed_list(struct api_store *s, const struct api_filter *f, api_obj_cb cb, void *arg)
{
	struct ed_store *q = ed(s);
	char pfx[256];
	json_t *a, *e;
	KEY(pfx, "%sobj/%s/", q->prefix, f->kind);
	int rc = fresh_read(q);
	if (rc == 0)
		rc = range_prefix(q, pfx, &a);
	if (rc < 0)
		return rc;
	size_t i;
	json_array_foreach(a, i, e) {
		json_t *o = json_loads(json_string_value(json_array_get(e, 1)), 0, NULL);
		if (!o) {
			rc = -EIO;
			break;
		}
		if (match(f->project, o, "project") && match(f->parent, o, "parent") &&
		    match(f->fq_name, o, "fq_name") && match(f->name, o, "name"))
			rc = cb(arg, o);
		json_decref(o);
		if (rc)
			break;
	}
	json_decref(a);
	return rc;
}

/* Take the next revision and log the event: the two always go together.
 * The record {"type","kind","uuid","body"} is written as text around the
 * body's own dump (under the lock, for every write: a JSON tree of it and
 * a second dump cost twice the time). */
static int add_event(struct ed_store *q, const char *type, json_t *obj, int64_t *rev,
		     char **bodyp)
{
	int64_t r = ++q->rev;
	json_object_set_new(obj, "version", json_integer(r));
	char *body = json_dumps(obj, JSON_COMPACT);
	const char *kind = str_of(obj, "kind") ?: "", *uuid = str_of(obj, "uuid") ?: "";
	size_t n = body ? strlen(type) + escaped_len(kind) + escaped_len(uuid) +
				  escaped_len(body) + 48 : 0;
	char *txt = n ? malloc(n) : NULL, *p = txt;
	if (!txt) {
		free(body);
		return -ENOMEM;
	}
	p += sprintf(p, "{\"type\":\"%s\",\"kind\":\"", type);
	p = json_escape(p, kind);
	p = stpcpy(p, "\",\"uuid\":\"");
	p = json_escape(p, uuid);
	p = stpcpy(p, "\",\"body\":\"");
	p = json_escape(p, body);
	stpcpy(p, "\"}");
	char key[160];
	KEY(key, "%sev/%020" PRId64, q->prefix, r);
	kput(q, key, txt);
	/* for redo: the body replay will write (none for a delete) */
	json_object_set_new(q->wevs, key,
			    strcmp(type, "DELETED") ? json_string_nocheck(body) : json_null());
	snprintf(q->wuuid, sizeof(q->wuuid), "%s", uuid);
	if (bodyp)
		*bodyp = body; /* the caller stores the same text: dumped once */
	else
		free(body);
	free(txt);
	*rev = r;
	return 0;
}

/* Drop the reverse index entries of uuid's current refs. */
static int drop_refs(struct ed_store *q, const char *uuid)
{
	char key[1024], *v;
	KEY(key, "%srefs/%s", q->prefix, uuid);
	int rc = kget(q, key, &v);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	json_t *refs = json_loads(v, 0, NULL), *r;
	free(v);
	size_t i;
	json_array_foreach(refs, i, r) {
		char rk[1024];
		KEY(rk, "%sref/%s/%s/%s", q->prefix, json_string_value(json_array_get(r, 1)), uuid,
		    json_string_value(json_array_get(r, 0)));
		kdel(q, rk);
	}
	json_decref(refs);
	kdel(q, key);
	return 0;
}

static int ed_put(struct api_store *s, json_t *obj, json_t *refs, int64_t *rev)
{
	struct ed_store *q = ed(s);
	const char *uuid = str_of(obj, "uuid");
	char path[1024], key[1400], *old_path = NULL;
	json_t *cur;
	KEY(path, "%s/%s", str_of(obj, "kind"), str_of(obj, "fq_name"));
	int rc = load_path(q, path, &cur, true);
	if (rc == 0) {
		bool other = strcmp(str_of(cur, "uuid") ?: "", uuid) != 0;
		json_decref(cur);
		if (other)
			return -EEXIST;
	} else if (rc != -ENOENT) {
		return rc;
	}
	KEY(key, "%suuid/%s", q->prefix, uuid);
	rc = kget(q, key, &old_path);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	bool exists = rc == 0;
	if (exists && strcmp(old_path, path) != 0) {
		/* renamed (or re-kinded): the body moves */
		char ok[1400];
		KEY(ok, "%sobj/%s", q->prefix, old_path);
		kdel(q, ok);
	}
	free(old_path);
	char *body;
	if ((rc = add_event(q, exists ? "MODIFIED" : "ADDED", obj, rev, &body)) < 0)
		return rc;
	kput(q, key, path);
	KEY(key, "%sobj/%s", q->prefix, path);
	kput(q, key, body);
	free(body);
	if ((rc = drop_refs(q, uuid)) < 0)
		return rc;
	if (json_array_size(refs)) {
		size_t i;
		json_t *r;
		json_array_foreach(refs, i, r) {
			KEY(key, "%sref/%s/%s/%s", q->prefix, json_string_value(json_array_get(r, 1)),
			    uuid, json_string_value(json_array_get(r, 0)));
			kput(q, key, "");
		}
		char *txt = json_dumps(refs, JSON_COMPACT);
		if (!txt)
			return -ENOMEM;
		KEY(key, "%srefs/%s", q->prefix, uuid);
		kput(q, key, txt);
		free(txt);
	}
	return 0;
}

static int ed_del(struct api_store *s, json_t *obj, int64_t *rev)
{
	struct ed_store *q = ed(s);
	const char *uuid = str_of(obj, "uuid");
	char key[1100], *path;
	KEY(key, "%suuid/%s", q->prefix, uuid);
	int rc = kget(q, key, &path);
	if (rc < 0)
		return rc;
	kdel(q, key);
	KEY(key, "%sobj/%s", q->prefix, path);
	free(path);
	kdel(q, key);
	if ((rc = drop_refs(q, uuid)) < 0)
		return rc;
	return add_event(q, "DELETED", obj, rev, NULL);
}

static int cmp_referrer(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(str_of(x, "kind"), str_of(y, "kind"));
	return c ? c : strcmp(str_of(x, "fq_name"), str_of(y, "fq_name"));
}

static int ed_referrers(struct api_store *s, const char *uuid, json_t **out)
{
	struct ed_store *q = ed(s);
	char pfx[256];
	json_t *a, *e;
	KEY(pfx, "%sref/%s/", q->prefix, uuid);
	size_t plen = strlen(pfx);
	int rc = fresh_read(q);
	if (rc == 0)
		rc = range_prefix(q, pfx, &a);
	if (rc < 0)
		return rc;
	size_t i, n = 0;
	json_t **items = calloc(json_array_size(a) + 1, sizeof(*items));
	json_array_foreach(a, i, e) {
		const char *rest = json_string_value(json_array_get(e, 0)) + plen;
		char from[37];
		json_t *o;
		if (!items || strlen(rest) < 38 || rest[36] != '/') {
			rc = items ? -EIO : -ENOMEM;
			break;
		}
		snprintf(from, sizeof(from), "%.36s", rest);
		if ((rc = ed_get(s, from, &o)) < 0)
			break;
		items[n++] = json_pack("{s:s?,s:s,s:s?,s:s}", "kind", str_of(o, "kind"), "uuid",
				       from, "fq_name", str_of(o, "fq_name"), "field", rest + 37);
		json_decref(o);
	}
	json_decref(a);
	if (items)
		qsort(items, n, sizeof(*items), cmp_referrer);
	json_t *r = json_array();
	for (size_t k = 0; k < n; k++)
		json_array_append_new(r, items[k]);
	free(items);
	if (rc < 0) {
		json_decref(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* ---- claims ---------------------------------------------------------------------- */

static int ed_claim(struct api_store *s, const char *pool, uint64_t value, const char *owner,
		    char *holder)
{
	struct ed_store *q = ed(s);
	char key[512], own[1400], *h;
	KEY(key, "%sclaim/%s/%020" PRIu64, q->prefix, pool, value);
	int rc = kget(q, key, &h);
	if (rc == 0) {
		bool mine = strcmp(h, owner) == 0;
		snprintf(holder, 37, "%s", h);
		free(h);
		return mine ? 0 : -EEXIST;
	}
	if (rc != -ENOENT)
		return rc;
	kput(q, key, owner);
	KEY(own, "%sown/%s/%s/%020" PRIu64, q->prefix, owner, pool, value);
	kput(q, own, key);
	return 0;
}

/*
 * The scan for the lowest free value would read every taken value of the
 * pool on each allocation (a /16 pool: thousands of keys per request). So
 * each pool keeps a hint, P hint/<pool> = "LO NEXT": every value in
 * [LO, NEXT) is taken. It lives in this process only: a transaction
 * writes it with its claims (so the batch and the requests after it see
 * it), the mirror takes it when the batch commits, and any release (ours
 * or another replica's, through the watch) below NEXT lowers it, so "the
 * lowest free value" stays exact, as on SQLite. Another replica's claims
 * leave it true; the scan steps over them.
 */
static int get_hint(struct ed_store *q, const char *pool, uint64_t *lo, uint64_t *next)
{
	char key[512], *v;
	KEY(key, "%shint/%s", q->prefix, pool);
	int rc = kget(q, key, &v);
	if (rc < 0)
		return rc == -ENOENT ? 1 : rc;
	rc = sscanf(v, "%" SCNu64 " %" SCNu64, lo, next) == 2 ? 0 : 1;
	free(v);
	return rc;
}

static void set_hint(struct ed_store *q, const char *pool, uint64_t lo, uint64_t next)
{
	char key[512], v[48];
	KEY(key, "%shint/%s", q->prefix, pool);
	KEY(v, "%" PRIu64 " %" PRIu64, lo, next);
	kput(q, key, v);
}

/* A claim key P claim/<pool>/<value> is being freed: keep its pool's hint true. */
static int unhint(struct ed_store *q, const char *claim_key)
{
	const char *p = claim_key + strlen(q->prefix) + strlen("claim/");
	const char *slash = strrchr(p, '/');
	char pool[400];
	uint64_t lo, next;
	if (!slash || (size_t)(slash - p) >= sizeof(pool))
		return 0;
	snprintf(pool, sizeof(pool), "%.*s", (int)(slash - p), p);
	uint64_t v = strtoull(slash + 1, NULL, 10);
	int rc = get_hint(q, pool, &lo, &next);
	if (rc == 0 && v >= lo && v < next)
		set_hint(q, pool, lo, v);
	return rc < 0 ? rc : 0;
}

static int ed_claim_free(struct api_store *s, const char *pool, uint64_t lo, uint64_t hi,
			 const char *owner, uint64_t *value)
{
	struct ed_store *q = ed(s);
	char key[512], holder[37];
	if (lo > hi)
		return -ENOSPC;
	uint64_t v = lo, hlo, hnext;
	int rc = get_hint(q, pool, &hlo, &hnext);
	if (rc < 0)
		return rc;
	if (rc == 0 && hlo == lo && hnext > lo)
		v = hnext; /* [lo, hnext) is all taken: start after it */
	/* the first value neither the mirror, the batch nor this request holds */
	for (;; v++) {
		if (v > hi)
			return -ENOSPC;
		KEY(key, "%sclaim/%s/%020" PRIu64, q->prefix, pool, v);
		if (!kval(q, key))
			break;
		if (v == hi)
			return -ENOSPC;
	}
	rc = ed_claim(s, pool, v, owner, holder);
	if (rc == 0) {
		*value = v;
		set_hint(q, pool, lo, v + 1); /* everything from lo to v is taken now */
	}
	return rc;
}

static int ed_release(struct api_store *s, const char *owner)
{
	struct ed_store *q = ed(s);
	char pfx[256];
	json_t *a, *e;
	KEY(pfx, "%sown/%s/", q->prefix, owner);
	int rc = range_prefix(q, pfx, &a);
	if (rc < 0)
		return rc;
	size_t i;
	json_array_foreach(a, i, e) {
		const char *claim = json_string_value(json_array_get(e, 1));
		if ((rc = unhint(q, claim)) < 0)
			break;
		kdel(q, claim);
		kdel(q, json_string_value(json_array_get(e, 0)));
	}
	json_decref(a);
	return rc;
}

/* ---- events -------------------------------------------------------------------------- */

/* Hand the events (JSON records) of a to cb, in order. */
static int events_cb(struct ed_store *q, json_t *a, api_event_cb cb, void *arg)
{
	size_t i, plen = strlen(q->prefix) + 3;
	json_t *e;
	int rc = 0;
	json_array_foreach(a, i, e) {
		int64_t r = strtoll(json_string_value(json_array_get(e, 0)) + plen, NULL, 10);
		json_t *ev = json_loads(json_string_value(json_array_get(e, 1)), 0, NULL);
		if (!ev)
			return -EIO;
		rc = cb(arg, r, str_of(ev, "type"), str_of(ev, "kind"), str_of(ev, "uuid"),
			str_of(ev, "body"));
		json_decref(ev);
		if (rc)
			break;
	}
	return rc;
}

/* The compaction floor as the mirror knows it, or as a hole in the log
 * showed it. Under lock. */
static int64_t floor_of(struct ed_store *q)
{
	char key[160];
	KEY(key, "%scompacted", q->prefix);
	const char *v = api_emap_get(&q->map, key);
	int64_t f = v ? strtoll(v, NULL, 10) : 0;
	return f > q->floor_seen ? f : q->floor_seen;
}

static int ed_floor(struct api_store *s, int64_t *floor)
{
	*floor = floor_of(ed(s));
	return 0;
}

/* The newest events are in the ring (what this process committed and what
 * the watch brought): a watcher that keeps up reads them there, with no
 * round trip. Older ones are read from etcd, without the lock, so a slow
 * watcher does not hold up writers. Called in a reading transaction. */
static int ed_events(struct api_store *s, int64_t since, int limit, api_event_cb cb, void *arg)
{
	struct ed_store *q = ed(s);
	char from[160], end[160];
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	int rc = 0;
	if (since < floor_of(q)) {
		json_decref(a);
		return -ESTALE;
	}
	int64_t top = q->rev;
	/* the ring answers when it holds every event wanted that is known to
	 * exist (other replicas' newest ones may be only in etcd) */
	int64_t known = q->trev > q->wtrev ? q->trev : q->wtrev;
	if (limit && since + limit < known)
		known = since + limit;
	bool ring = since + 1 >= q->ring_lo && q->ring_hi >= known;
	for (int64_t r = since + 1; ring && r <= q->ring_hi && (!limit || r <= since + limit); r++) {
		int slot = (int)(r % ED_EVRING);
		KEY(from, "%sev/%020" PRId64, q->prefix, r);
		ring = q->ring[slot].rev == r && q->ring[slot].txt;
		if (ring)
			json_array_append_new(a, json_pack("[ss]", from, q->ring[slot].txt));
	}
	if (ring) {
		rc = events_cb(q, a, cb, arg);
		json_decref(a);
		return rc;
	}
	json_decref(a);
	KEY(from, "%sev/%020" PRId64, q->prefix, since + 1);
	KEY(end, "%sev0", q->prefix);
	pthread_mutex_unlock(&q->lock);
	pthread_mutex_lock(&q->rlock);
	json_t *keys = NULL;
	/* (limit keys hold at least limit events) */
	rc = range_raw(q, q->rcurl, from, end, limit, &keys);
	if (rc == 0) /* (under rlock: its zstd context is the lock's) */
		rc = api_evlog_split(&q->zr, q->prefix, keys, since, &a);
	pthread_mutex_unlock(&q->rlock);
	json_decref(keys);
	while (rc == 0 && limit && json_array_size(a) > (size_t)limit)
		json_array_remove(a, json_array_size(a) - 1);
	int64_t hole = 0;
	if (rc == 0) {
		/* the first event must be since + 1: else a compaction the mirror
		 * has not seen yet took the ones before it */
		json_t *e0 = json_array_get(a, 0);
		int64_t first = e0 ? strtoll(json_string_value(json_array_get(e0, 0)) +
					     strlen(q->prefix) + 3, NULL, 10) : 0;
		if (e0 && first != since + 1)
			hole = first - 1;
		else if (!e0 && since < top)
			hole = top;
		rc = hole ? -ESTALE : events_cb(q, a, cb, arg);
		json_decref(a);
	}
	pthread_mutex_lock(&q->lock);
	if (hole > q->floor_seen)
		q->floor_seen = hole;
	q->in_txn = true; /* a writer may have run meanwhile */
	q->txn_write = false;
	return rc;
}

/* Delete P ev/ up to upto, API_COMPACT_CHUNK events per etcd txn, each
 * raising P compacted if nobody else moved it meanwhile. */
static int ed_compact(struct api_store *s, int64_t upto)
{
	struct ed_store *q = ed(s);
	char key[160], from[160], end[160], val[32];
	KEY(key, "%scompacted", q->prefix);
	for (;;) {
		pthread_mutex_lock(&q->lock);
		const char *cur = api_emap_get(&q->map, key);
		char *old = cur ? strdup(cur) : NULL;
		int64_t floor = cur ? strtoll(cur, NULL, 10) : 0;
		int64_t to = upto < q->trev ? upto : q->trev;
		pthread_mutex_unlock(&q->lock);
		if (cur && !old)
			return -ENOMEM;
		if (to - floor > API_COMPACT_CHUNK)
			to = floor + API_COMPACT_CHUNK;
		if (to <= floor) {
			free(old);
			return 0;
		}
		KEY(from, "%sev/%020" PRId64, q->prefix, floor + 1);
		KEY(end, "%sev/%020" PRId64, q->prefix, to + 1);
		KEY(val, "%" PRId64, to);
		json_t *cmp = old ? json_pack("{s:o,s:s,s:s,s:o}", "key", jb64(key), "target",
					      "VALUE", "result", "EQUAL", "value", jb64(old))
				  : json_pack("{s:o,s:s,s:s,s:i}", "key", jb64(key), "target",
					      "CREATE", "result", "EQUAL", "create_revision", 0);
		free(old);
		json_t *req = json_pack("{s:[o],s:[{s:{s:o,s:o}},{s:{s:o,s:o}}],s:[{s:{s:o}}]}",
					"compare", cmp, "success", "request_delete_range", "key",
					jb64(from), "range_end", jb64(end), "request_put", "key",
					jb64(key), "value", jb64(val), "failure", "request_range",
					"key", jb64(key)), *resp;
		pthread_mutex_lock(&q->rlock);
		int rc = call_small(q, q->grcurl, "/v3/kv/txn", req, &resp);
		pthread_mutex_unlock(&q->rlock);
		if (rc < 0)
			return rc;
		bool ok = json_is_true(json_object_get(resp, "succeeded"));
		int64_t h = i64(json_object_get(resp, "header"), "revision");
		char *now = NULL;
		if (!ok) {
			/* another replica compacted meanwhile: take its floor */
			json_t *r = json_array_get(json_object_get(resp, "responses"), 0);
			json_t *kv = json_array_get(json_object_get(json_object_get(r,
						    "response_range"), "kvs"), 0);
			const char *vs = json_string_value(json_object_get(kv, "value"));
			now = vs ? b64dec(vs) : NULL;
		}
		json_decref(resp);
		pthread_mutex_lock(&q->lock);
		/* a newer floor is never lowered */
		const char *m = api_emap_get(&q->map, key);
		const char *nv = ok ? val : now;
		if (nv && (!m || strtoll(m, NULL, 10) < strtoll(nv, NULL, 10)))
			rc = mirror_apply(q, key, nv, h);
		pthread_mutex_unlock(&q->lock);
		free(now);
		if (!ok)
			return -EAGAIN;
		if (rc < 0)
			return rc;
	}
}

static int ed_revision(struct api_store *s, int64_t *rev)
{
	struct ed_store *q = ed(s);
	/* a reading transaction that read no object: the newest revision
	 * known, also one only the watch on P rev has told of */
	*rev = q->txn_write || q->fresh || q->rev > q->wtrev ? q->rev : q->wtrev;
	return 0;
}

static void ed_subscribe(struct api_store *s, void (*cb)(void *arg, int64_t rev), void *arg)
{
	struct ed_store *q = ed(s);
	pthread_mutex_lock(&q->sub_lock);
	q->sub_cb = cb;
	q->sub_arg = arg;
	pthread_mutex_unlock(&q->sub_lock);
}

static void ed_last_error(struct api_store *s, char *buf, size_t len)
{
	struct ed_store *q = ed(s);
	pthread_mutex_lock(&q->err_lock);
	snprintf(buf, len, "%s", q->err);
	pthread_mutex_unlock(&q->err_lock);
}

static const struct api_store_ops etcd_ops = {
	.name = "etcd",
	.close = ed_close,
	.begin = ed_begin,
	.commit = ed_commit,
	.rollback = ed_rollback,
	.get = ed_get,
	.find = ed_find,
	.peek = ed_peek,
	.list = ed_list,
	.put = ed_put,
	.del = ed_del,
	.referrers = ed_referrers,
	.claim = ed_claim,
	.claim_free = ed_claim_free,
	.release = ed_release,
	.events = ed_events,
	.revision = ed_revision,
	.floor = ed_floor,
	.compact = ed_compact,
	.subscribe = ed_subscribe,
	.last_error = ed_last_error,
	.end = ed_end,
	.kick = ed_kick,
};

static int xferinfo(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	return watch_stopping(arg); /* non-zero aborts the watch's transfer */
}

static CURL *new_conn(struct ed_store *q)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, q->hdrs);
	return h;
}

struct api_store *api_store_etcd_open(const char *endpoints, const char *prefix, char *err,
				      size_t errlen)
{
	struct ed_store *q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->base.ops = &etcd_ops;
	q->wfd = -1;
	/* tells this process's batches apart from another's in P rev's value */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	q->token = (uint64_t)now.tv_sec * 1000000007u ^ (uint64_t)now.tv_nsec << 20 ^
		   (uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)q;
	uint64_t rnd;
	if (getrandom(&rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd))
		q->token ^= rnd;
	snprintf(q->tok, sizeof(q->tok), "%016" PRIx64 "-", q->token);
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_cond_init(&q->wcond, &ca);
	pthread_cond_init(&q->scond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&q->rlock, NULL);
	pthread_mutex_init(&q->wlock, NULL);
	pthread_mutex_init(&q->sub_lock, NULL);
	pthread_mutex_init(&q->err_lock, NULL);
	snprintf(q->prefix, sizeof(q->prefix), "%s", prefix && *prefix ? prefix : "tern/");
	char *list = strdup(endpoints), *save = NULL;
	for (char *t = list ? strtok_r(list, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		char **u = realloc(q->urls, (size_t)(q->n_urls + 1) * sizeof(*u));
		if (!u)
			break;
		q->urls = u;
		size_t n = strlen(t);
		while (n && t[n - 1] == '/')
			t[--n] = 0;
		if (strncmp(t, "http://", 7) != 0 && strncmp(t, "https://", 8) != 0) {
			snprintf(err, errlen, "--etcd-endpoints %s: write each as http://HOST:PORT", t);
			free(list);
			ed_close(&q->base);
			return NULL;
		}
		q->urls[q->n_urls++] = strdup(t);
	}
	free(list);
	if (!q->n_urls) {
		snprintf(err, errlen, "no etcd endpoint given (e.g. http://127.0.0.1:2379)");
		ed_close(&q->base);
		return NULL;
	}
	q->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	/* no "Expect: 100-continue" round trip before bodies over 1 KiB */
	q->hdrs = curl_slist_append(q->hdrs, "Expect:");
	q->ghdrs = curl_slist_append(NULL, "Content-Type: application/grpc");
	q->ghdrs = curl_slist_append(q->ghdrs, "TE: trailers");
	q->ghdrs = curl_slist_append(q->ghdrs, "Expect:");
	q->curl = new_conn(q);
	q->rcurl = new_conn(q);
	q->gcurl = new_conn(q);
	q->grcurl = new_conn(q);
	q->wcurl = new_conn(q);
	q->wset = json_object();
	q->wevs = json_object();
	bool conns = true;
	for (int i = 0; i < ED_PIPELINE; i++)
		conns = (q->slot[i] = new_conn(q)) && conns;
	if (!q->curl || !q->rcurl || !q->gcurl || !q->grcurl || !q->wcurl || !conns || !q->wset || !q->wevs || api_emap_init(&q->map) < 0) {
		snprintf(err, errlen, "libcurl could not start, or out of memory");
		ed_close(&q->base);
		return NULL;
	}
	curl_easy_setopt(q->wcurl, CURLOPT_OPENSOCKETFUNCTION, watch_open);
	curl_easy_setopt(q->wcurl, CURLOPT_OPENSOCKETDATA, q);
	curl_easy_setopt(q->wcurl, CURLOPT_CLOSESOCKETFUNCTION, watch_close);
	curl_easy_setopt(q->wcurl, CURLOPT_CLOSESOCKETDATA, q);
	curl_easy_setopt(q->wcurl, CURLOPT_XFERINFOFUNCTION, xferinfo);
	curl_easy_setopt(q->wcurl, CURLOPT_XFERINFODATA, q);
	curl_easy_setopt(q->wcurl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(q->wcurl, CURLOPT_TCP_KEEPALIVE, 1L);
	/* reach etcd now, so a wrong endpoint is reported at start */
	pthread_mutex_lock(&q->lock);
	int rc = reload(q, q->curl);
	q->wrev = q->mrev; /* the watch on P rev starts after what was read */
	pthread_mutex_unlock(&q->lock);
	if (rc < 0) {
		snprintf(err, errlen, "cannot reach the etcd store: %s", q->err);
		ed_close(&q->base);
		return NULL;
	}
	q->wgrpc = true;
	if ((rc = pthread_create(&q->wthread, NULL, watch_main, q)) != 0) {
		snprintf(err, errlen, "cannot start the etcd watch thread: %s", strerror(rc));
		ed_close(&q->base);
		return NULL;
	}
	q->watching = true;
	if ((rc = pthread_create(&q->sthread, NULL, sender_main, q)) != 0) {
		snprintf(err, errlen, "cannot start the etcd sender thread: %s", strerror(rc));
		ed_close(&q->base);
		return NULL;
	}
	q->sending = true;
	return &q->base;
}
