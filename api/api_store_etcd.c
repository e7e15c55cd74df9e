/*
 * DOC: api_store_etcd.c — the store on etcd 3.4, through its v3 JSON gateway
 * (POST /v3/kv/range and /v3/kv/txn, keys and values in base64) with libcurl.
 *
 * Keys, under a prefix P (default "tern/"):
 *   P rev                       tern's revision N (decimal)
 *   P obj/<kind>/<fq_name>      object body (JSON); key order = fq_name order
 *   P uuid/<uuid>               "<kind>/<fq_name>": where the body is
 *   P refs/<from>               [[field, to], ...] of that object
 *   P ref/<to>/<from>/<field>   "" (the reverse index for referrers)
 *   P claim/<pool>/<%020 value> owner UUID
 *   P own/<owner>/<pool>/<v>    the claim key (so release finds them)
 *   P hint/<pool>               "LO NEXT": [LO, NEXT) all claimed (see get_hint)
 *   P ev/<%020 rev>             {"type","kind","uuid","body"}
 *
 * Transactions are optimistic: begin reads P rev (its value N, its
 * mod_revision M and etcd's revision H); every read of the transaction is
 * made at etcd revision H (a consistent snapshot); writes are buffered and
 * reads see them. Commit is one etcd txn: "if P rev's mod_revision is still
 * M, write everything, P rev included". Every writing transaction rewrites
 * P rev, so two writers that overlap in time cannot both commit: the second
 * gets -EAGAIN and api_core redoes the request. That makes allocation
 * race-free across several tern-api processes on one etcd, which one mutex
 * per process alone could not. Within one process a mutex still serialises
 * transactions, so conflicts only happen between processes.
 *
 * Why tern counts its own revision N in P rev rather than using etcd's:
 * an object carries its version inside its body, written in the same txn,
 * so the number must be known before the commit; etcd's next revision is
 * not (any other write to etcd moves it). N + 1 per event, kept in etcd,
 * gives the same contract as SQLite: dense, strictly increasing, resumable.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_store.h"

#define ED_PAGE 512

struct ed_store {
	struct api_store base; /* first: the generic code casts */
	CURL *curl;
	struct curl_slist *hdrs;
	char **urls;           /* endpoints; a failing one is rotated out */
	int n_urls, cur_url;
	char prefix[128];
	pthread_mutex_t lock;
	/* the open transaction */
	bool in_txn;
	int64_t snap;          /* etcd revision the reads are made at */
	int64_t rev_mod;       /* mod_revision of P rev at begin (0: absent) */
	int64_t rev;           /* tern's revision, with this transaction's events */
	json_t *wset;          /* key -> string (put) or null (delete) */
	json_t *rset;          /* snapshot reads so far: key -> string or null (absent);
				* a request reads some keys twice, and each read is a
				* round trip to etcd */
	char err[256];         /* the last transport error, for open() */
};

static struct ed_store *ed(struct api_store *s)
{
	return (struct ed_store *)s;
}

/* ---- base64 (the gateway's bytes fields) -------------------------------- */

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64enc(const char *in, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		*o++ = b64c[v >> 18 & 63];
		*o++ = b64c[v >> 12 & 63];
		*o++ = i + 1 < n ? b64c[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64c[v & 63] : '=';
	}
	*o = 0;
	return out;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64c, c) : NULL;
	return p ? (int)(p - b64c) : -1;
}

/* NUL-terminated; NULL on bad input. */
static char *b64dec(const char *in)
{
	size_t n = strlen(in);
	char *out = malloc(n / 4 * 3 + 4), *o = out;
	if (!out)
		return NULL;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		int v = b64val(in[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (char)(acc >> bits & 0xff);
		}
	}
	*o = 0;
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

/* POST req (stolen) to path; *resp: the parsed answer. A connection failure
 * moves on to the next endpoint. */
static int call(struct ed_store *q, const char *path, json_t *req, json_t **resp)
{
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body)
		return -ENOMEM;
	int rc = -EIO;
	for (int tries = 0; tries < q->n_urls; tries++) {
		char url[512];
		struct buf b = { NULL, 0 };
		snprintf(url, sizeof(url), "%s%s", q->urls[q->cur_url], path);
		curl_easy_setopt(q->curl, CURLOPT_URL, url);
		curl_easy_setopt(q->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(q->curl, CURLOPT_WRITEDATA, &b);
		CURLcode cc = curl_easy_perform(q->curl);
		long code = 0;
		curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &code);
		if (cc != CURLE_OK) {
			snprintf(q->err, sizeof(q->err), "%s: %s (is etcd running there?)",
				 q->urls[q->cur_url], curl_easy_strerror(cc));
			/* an errno that says what happened, for the 500's text */
			rc = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
			     : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
			free(b.p);
			q->cur_url = (q->cur_url + 1) % q->n_urls;
			continue;
		}
		*resp = b.p ? json_loads(b.p, 0, NULL) : NULL;
		rc = -EIO;
		if (code != 200 || !*resp) {
			snprintf(q->err, sizeof(q->err), "%s%s: HTTP %ld: %.120s", q->urls[q->cur_url],
				 path, code, b.p ? b.p : "");
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

/* ---- reads: the snapshot merged with this transaction's writes ---------- */

/* [key, end) at the snapshot, at most limit (0: all) in key order; *out an
 * array of [key, value] (value null with keys_only); *more when cut. */
static int range_raw(struct ed_store *q, const char *key, const char *end, int limit,
		     bool keys_only, json_t **out, bool *more)
{
	json_t *req = json_pack("{s:o}", "key", jb64(key)), *resp;
	if (end)
		json_object_set_new(req, "range_end", jb64(end));
	if (limit)
		json_object_set_new(req, "limit", json_integer(limit));
	if (keys_only)
		json_object_set_new(req, "keys_only", json_true());
	if (q->snap)
		json_object_set_new(req, "revision", json_integer(q->snap));
	int rc = call(q, "/v3/kv/range", req, &resp);
	if (rc < 0)
		return rc;
	json_t *a = json_array(), *kv;
	size_t i;
	json_array_foreach(json_object_get(resp, "kvs"), i, kv) {
		char *k = b64dec(json_string_value(json_object_get(kv, "key")) ?: "");
		const char *vs = json_string_value(json_object_get(kv, "value"));
		char *v = keys_only ? NULL : b64dec(vs ? vs : "");
		if (!k || (!keys_only && !v)) {
			free(k);
			free(v);
			rc = -EIO;
			break;
		}
		json_array_append_new(a, json_pack("[s,o]", k, v ? json_string(v) : json_null()));
		free(k);
		free(v);
	}
	if (more)
		*more = json_is_true(json_object_get(resp, "more"));
	json_decref(resp);
	if (rc < 0) {
		json_decref(a);
		return rc;
	}
	*out = a;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(json_string_value(json_array_get(*(json_t *const *)a, 0)),
		      json_string_value(json_array_get(*(json_t *const *)b, 0)));
}

/* Every key with prefix pfx, this transaction's writes applied, in order. */
static int range_prefix(struct ed_store *q, const char *pfx, json_t **out)
{
	char end[512];
	snprintf(end, sizeof(end), "%s", pfx);
	size_t n = strlen(end);
	end[n - 1]++; /* prefixes end in '/': "x/" .. "x0" */
	json_t *a;
	int rc = range_raw(q, pfx, end, 0, false, &a, NULL);
	if (rc < 0)
		return rc;
	const char *k;
	json_t *v;
	json_object_foreach(q->wset, k, v) {
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

/* *val: new string (caller frees), or -ENOENT. */
static int kget(struct ed_store *q, const char *key, char **val)
{
	json_t *w = json_object_get(q->wset, key);
	if (w) {
		if (json_is_null(w))
			return -ENOENT;
		*val = strdup(json_string_value(w));
		return *val ? 0 : -ENOMEM;
	}
	json_t *r = json_object_get(q->rset, key);
	if (!r) {
		json_t *a;
		int rc = range_raw(q, key, NULL, 1, false, &a, NULL);
		if (rc < 0)
			return rc;
		r = json_array_size(a) ? json_array_get(json_array_get(a, 0), 1) : json_null();
		json_object_set(q->rset, key, r);
		json_decref(a);
	}
	if (json_is_null(r))
		return -ENOENT;
	*val = strdup(json_string_value(r));
	return *val ? 0 : -ENOMEM;
}

static void kput(struct ed_store *q, const char *key, const char *val)
{
	json_object_set_new(q->wset, key, json_string(val));
}

static void kdel(struct ed_store *q, const char *key)
{
	json_object_set_new(q->wset, key, json_null());
}

#define KEY(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

/* ---- transactions --------------------------------------------------------------- */

static void ed_close(struct api_store *s)
{
	struct ed_store *q = ed(s);
	if (q->curl)
		curl_easy_cleanup(q->curl);
	curl_slist_free_all(q->hdrs);
	for (int i = 0; i < q->n_urls; i++)
		free(q->urls[i]);
	free(q->urls);
	json_decref(q->wset);
	json_decref(q->rset);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static int ed_begin(struct api_store *s, bool write)
{
	struct ed_store *q = ed(s);
	char key[160];
	(void)write; /* every transaction may write; commit checks */
	pthread_mutex_lock(&q->lock);
	KEY(key, "%srev", q->prefix);
	json_t *resp;
	int rc = call(q, "/v3/kv/range", json_pack("{s:o}", "key", jb64(key)), &resp);
	if (rc < 0) {
		pthread_mutex_unlock(&q->lock);
		return rc;
	}
	q->snap = i64(json_object_get(resp, "header"), "revision");
	json_t *kv = json_array_get(json_object_get(resp, "kvs"), 0);
	q->rev_mod = kv ? i64(kv, "mod_revision") : 0;
	q->rev = 0;
	if (kv) {
		char *v = b64dec(json_string_value(json_object_get(kv, "value")) ?: "");
		q->rev = v ? strtoll(v, NULL, 10) : 0;
		free(v);
	}
	json_decref(resp);
	q->wset = json_object();
	q->rset = json_object();
	q->in_txn = true;
	return 0;
}

static void end_txn(struct ed_store *q)
{
	json_decref(q->wset);
	json_decref(q->rset);
	q->wset = q->rset = NULL;
	q->snap = 0;
	q->in_txn = false;
	pthread_mutex_unlock(&q->lock);
}

static int ed_commit(struct api_store *s)
{
	struct ed_store *q = ed(s);
	if (!json_object_size(q->wset)) {
		end_txn(q);
		return 0;
	}
	char key[160], num[32];
	KEY(key, "%srev", q->prefix);
	KEY(num, "%" PRId64, q->rev);
	kput(q, key, num);
	json_t *ops = json_array(), *v;
	const char *k;
	json_object_foreach(q->wset, k, v) {
		if (json_is_null(v))
			json_array_append_new(ops, json_pack("{s:{s:o}}", "request_delete_range",
							     "key", jb64(k)));
		else
			json_array_append_new(ops, json_pack("{s:{s:o,s:o}}", "request_put", "key",
							     jb64(k), "value",
							     jb64(json_string_value(v))));
	}
	json_t *req = json_pack("{s:[{s:o,s:s,s:s,s:I}],s:o}", "compare", "key", jb64(key),
				"target", "MOD", "result", "EQUAL", "mod_revision",
				(json_int_t)q->rev_mod, "success", ops), *resp;
	int rc = call(q, "/v3/kv/txn", req, &resp);
	if (rc == 0) {
		/* another writer (another tern-api) got in first: redo */
		if (!json_is_true(json_object_get(resp, "succeeded")))
			rc = -EAGAIN;
		json_decref(resp);
	}
	end_txn(q);
	return rc;
}

static void ed_rollback(struct api_store *s)
{
	end_txn(ed(s));
}

/* ---- objects ------------------------------------------------------------------- */

static const char *str_of(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int load_path(struct ed_store *q, const char *path, json_t **obj)
{
	char key[1024], *v;
	KEY(key, "%sobj/%s", q->prefix, path);
	int rc = kget(q, key, &v);
	if (rc < 0)
		return rc;
	*obj = json_loads(v, 0, NULL);
	free(v);
	return *obj ? 0 : -EIO;
}

static int ed_get(struct api_store *s, const char *uuid, json_t **obj)
{
	struct ed_store *q = ed(s);
	char key[256], *path;
	KEY(key, "%suuid/%s", q->prefix, uuid);
	int rc = kget(q, key, &path);
	if (rc < 0)
		return rc;
	rc = load_path(q, path, obj);
	free(path);
	return rc;
}

static int ed_find(struct api_store *s, const char *kind, const char *fq_name, json_t **obj)
{
	char path[1024];
	KEY(path, "%s/%s", kind, fq_name);
	return load_path(ed(s), path, obj);
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
	int rc = range_prefix(q, pfx, &a);
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

/* Take the next revision and log the event: the two always go together. */
static int add_event(struct ed_store *q, const char *type, json_t *obj, int64_t *rev)
{
	int64_t r = ++q->rev;
	json_object_set_new(obj, "version", json_integer(r));
	char *body = json_dumps(obj, JSON_COMPACT);
	json_t *ev = json_pack("{s:s,s:s?,s:s?,s:s}", "type", type, "kind", str_of(obj, "kind"),
			       "uuid", str_of(obj, "uuid"), "body", body ? body : "");
	char *txt = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	free(body);
	if (!txt)
		return -ENOMEM;
	char key[160];
	KEY(key, "%sev/%020" PRId64, q->prefix, r);
	kput(q, key, txt);
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
	int rc = load_path(q, path, &cur);
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
	if ((rc = add_event(q, exists ? "MODIFIED" : "ADDED", obj, rev)) < 0)
		return rc;
	char *body = json_dumps(obj, JSON_COMPACT);
	if (!body)
		return -ENOMEM;
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
	return add_event(q, "DELETED", obj, rev);
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
	int rc = range_prefix(q, pfx, &a);
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

/* Held by this transaction's writes (1), freed by them (0), or not
 * touched (-1). */
static int written(struct ed_store *q, const char *pool, uint64_t v)
{
	char key[512];
	KEY(key, "%sclaim/%s/%020" PRIu64, q->prefix, pool, v);
	json_t *w = json_object_get(q->wset, key);
	return !w ? -1 : json_is_null(w) ? 0 : 1;
}

/*
 * The scan for the lowest free value would read every taken value of the
 * pool on each allocation (a /16 pool: thousands of keys per request). So
 * each pool keeps a hint, P hint/<pool> = "LO NEXT": every value in
 * [LO, NEXT) is taken. It is written in the same transactions as the
 * claims, so it is as consistent as they are; a release below NEXT lowers
 * it, so "the lowest free value" stays exact, as on SQLite.
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
	char from[512], end[512], holder[37];
	if (lo > hi)
		return -ENOSPC;
	KEY(end, "%sclaim/%s0", q->prefix, pool); /* the pool's end */
	if (hi < UINT64_MAX)
		KEY(end, "%sclaim/%s/%020" PRIu64, q->prefix, pool, hi + 1);
	size_t plen = strlen(q->prefix) + strlen("claim/") + strlen(pool) + 1;
	uint64_t v = lo, hlo, hnext;
	bool more = true, found = false;
	int rc = get_hint(q, pool, &hlo, &hnext);
	if (rc < 0)
		return rc;
	if (rc == 0 && hlo == lo && hnext > lo)
		v = hnext; /* [lo, hnext) is all taken: start after it */
	/* walk the taken values page by page; the first hole not taken by this
	 * transaction itself is the answer */
	while (!found && more && v <= hi) {
		json_t *a, *e;
		size_t i;
		KEY(from, "%sclaim/%s/%020" PRIu64, q->prefix, pool, v);
		rc = range_raw(q, from, end, ED_PAGE, true, &a, &more);
		if (rc < 0)
			return rc;
		json_array_foreach(a, i, e) {
			uint64_t t = strtoull(json_string_value(json_array_get(e, 0)) + plen, NULL, 10);
			for (; v < t; v++)
				if (written(q, pool, v) != 1) {
					found = true;
					break;
				}
			if (found)
				break;
			if (written(q, pool, v) == 0) {
				found = true;
				break;
			}
			v = t + 1;
			if (t == hi)
				break;
		}
		if (!json_array_size(a))
			more = false;
		json_decref(a);
	}
	for (; !found && v <= hi; v++) {
		if (written(q, pool, v) != 1) {
			found = true;
			break;
		}
		if (v == hi)
			break;
	}
	if (!found || v > hi)
		return -ENOSPC;
	/* the scan just saw v free at the snapshot: ed_claim need not ask again */
	KEY(from, "%sclaim/%s/%020" PRIu64, q->prefix, pool, v);
	if (!json_object_get(q->wset, from))
		json_object_set_new(q->rset, from, json_null());
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

static int ed_events(struct api_store *s, int64_t since, int limit, api_event_cb cb, void *arg)
{
	struct ed_store *q = ed(s);
	char from[160], end[160];
	json_t *a, *e;
	KEY(from, "%sev/%020" PRId64, q->prefix, since + 1);
	KEY(end, "%sev0", q->prefix);
	/* events are only read in reading transactions: no writes to merge */
	int rc = range_raw(q, from, end, limit, false, &a, NULL);
	if (rc < 0)
		return rc;
	size_t i, plen = strlen(q->prefix) + 3;
	json_array_foreach(a, i, e) {
		int64_t r = strtoll(json_string_value(json_array_get(e, 0)) + plen, NULL, 10);
		json_t *ev = json_loads(json_string_value(json_array_get(e, 1)), 0, NULL);
		if (!ev) {
			rc = -EIO;
			break;
		}
		rc = cb(arg, r, str_of(ev, "type"), str_of(ev, "kind"), str_of(ev, "uuid"),
			str_of(ev, "body"));
		json_decref(ev);
		if (rc)
			break;
	}
	json_decref(a);
	return rc;
}

static int ed_revision(struct api_store *s, int64_t *rev)
{
	*rev = ed(s)->rev;
	return 0;
}

static const struct api_store_ops etcd_ops = {
	.name = "etcd",
	.close = ed_close,
	.begin = ed_begin,
	.commit = ed_commit,
	.rollback = ed_rollback,
	.get = ed_get,
	.find = ed_find,
	.list = ed_list,
	.put = ed_put,
	.del = ed_del,
	.referrers = ed_referrers,
	.claim = ed_claim,
	.claim_free = ed_claim_free,
	.release = ed_release,
	.events = ed_events,
	.revision = ed_revision,
};

struct api_store *api_store_etcd_open(const char *endpoints, const char *prefix, char *err,
				      size_t errlen)
{
	struct ed_store *q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->base.ops = &etcd_ops;
	pthread_mutex_init(&q->lock, NULL);
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
	q->curl = curl_easy_init();
	if (!q->curl) {
		snprintf(err, errlen, "libcurl could not start");
		ed_close(&q->base);
		return NULL;
	}
	curl_easy_setopt(q->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(q->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(q->curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(q->curl, CURLOPT_TCP_NODELAY, 1L);
	static const char *const hdr = "Content-Type: application/json";
	q->hdrs = curl_slist_append(NULL, hdr);
	/* no "Expect: 100-continue" round trip before bodies over 1 KiB */
	q->hdrs = curl_slist_append(q->hdrs, "Expect:");
	curl_easy_setopt(q->curl, CURLOPT_HTTPHEADER, q->hdrs);
	/* reach etcd now, so a wrong endpoint is reported at start */
	int64_t rev;
	if (ed_begin(&q->base, false) < 0) {
		snprintf(err, errlen, "cannot reach the etcd store: %s", q->err);
		ed_close(&q->base);
		return NULL;
	}
	ed_revision(&q->base, &rev);
	ed_rollback(&q->base);
	return &q->base;
}
