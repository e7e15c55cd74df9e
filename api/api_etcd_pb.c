/*
 * DOC: api_etcd_pb.c — the gateway's JSON of etcd's KV calls to protobuf and
 * back (see api_etcd_pb.h). Both directions are driven by one table per
 * message (field number, JSON name, wire type), so a request the store
 * builds is encoded field by field as the gateway would have done. A
 * batch's txn, the store's one call on its critical path, is written field
 * by field directly instead (api_pb_txn_*: each nested message's length is
 * known before its bytes, so one pass and no JSON).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_b64.h"
#include "api_etcd_pb.h"

enum pb_type { PB_INT, PB_BOOL, PB_BYTES, PB_ENUM, PB_MSG };

struct pb_msg;

struct pb_field {
	int num;
	const char *name;
	enum pb_type type;
	const struct pb_msg *msg;  /* PB_MSG */
	const char *const *names;  /* PB_ENUM: value names by number */
	bool repeated;
};

struct pb_msg {
	const struct pb_field *f;
	size_t n;
};

#define MSG(fields) { fields, sizeof(fields) / sizeof(fields[0]) }

/* ---- the messages (etcd/etcdserver/etcdserverpb/rpc.proto, mvccpb/kv.proto) ---- */

static const char *const cmp_results[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL", NULL };
static const char *const cmp_targets[] = { "VERSION", "CREATE", "MOD", "VALUE", "LEASE", NULL };

static const struct pb_field range_req_f[] = {
	{ 1, "key", PB_BYTES, NULL, NULL, false },
	{ 2, "range_end", PB_BYTES, NULL, NULL, false },
	{ 3, "limit", PB_INT, NULL, NULL, false },
	{ 4, "revision", PB_INT, NULL, NULL, false },
	{ 8, "keys_only", PB_BOOL, NULL, NULL, false },
	{ 9, "count_only", PB_BOOL, NULL, NULL, false },
};
static const struct pb_msg range_req = MSG(range_req_f);

static const struct pb_field put_req_f[] = {
	{ 1, "key", PB_BYTES, NULL, NULL, false },
	{ 2, "value", PB_BYTES, NULL, NULL, false },
};
static const struct pb_msg put_req = MSG(put_req_f);

static const struct pb_field del_req_f[] = {
	{ 1, "key", PB_BYTES, NULL, NULL, false },
	{ 2, "range_end", PB_BYTES, NULL, NULL, false },
};
static const struct pb_msg del_req = MSG(del_req_f);

static const struct pb_field compare_f[] = {
	{ 1, "result", PB_ENUM, NULL, cmp_results, false },
	{ 2, "target", PB_ENUM, NULL, cmp_targets, false },
	{ 3, "key", PB_BYTES, NULL, NULL, false },
	{ 4, "version", PB_INT, NULL, NULL, false },
	{ 5, "create_revision", PB_INT, NULL, NULL, false },
	{ 6, "mod_revision", PB_INT, NULL, NULL, false },
	{ 7, "value", PB_BYTES, NULL, NULL, false },
	{ 64, "range_end", PB_BYTES, NULL, NULL, false },
};
static const struct pb_msg compare = MSG(compare_f);

static const struct pb_field req_op_f[] = {
	{ 1, "request_range", PB_MSG, &range_req, NULL, false },
	{ 2, "request_put", PB_MSG, &put_req, NULL, false },
	{ 3, "request_delete_range", PB_MSG, &del_req, NULL, false },
};
static const struct pb_msg req_op = MSG(req_op_f);

static const struct pb_field txn_req_f[] = {
	{ 1, "compare", PB_MSG, &compare, NULL, true },
	{ 2, "success", PB_MSG, &req_op, NULL, true },
	{ 3, "failure", PB_MSG, &req_op, NULL, true },
};
static const struct pb_msg txn_req = MSG(txn_req_f);

static const struct pb_field header_f[] = {
	{ 1, "cluster_id", PB_INT, NULL, NULL, false },
	{ 2, "member_id", PB_INT, NULL, NULL, false },
	{ 3, "revision", PB_INT, NULL, NULL, false },
	{ 4, "raft_term", PB_INT, NULL, NULL, false },
};
static const struct pb_msg header = MSG(header_f);

static const struct pb_field kv_f[] = {
	{ 1, "key", PB_BYTES, NULL, NULL, false },
	{ 2, "create_revision", PB_INT, NULL, NULL, false },
	{ 3, "mod_revision", PB_INT, NULL, NULL, false },
	{ 4, "version", PB_INT, NULL, NULL, false },
	{ 5, "value", PB_BYTES, NULL, NULL, false },
	{ 6, "lease", PB_INT, NULL, NULL, false },
};
static const struct pb_msg kv = MSG(kv_f);

static const struct pb_field range_resp_f[] = {
	{ 1, "header", PB_MSG, &header, NULL, false },
	{ 2, "kvs", PB_MSG, &kv, NULL, true },
	{ 3, "more", PB_BOOL, NULL, NULL, false },
	{ 4, "count", PB_INT, NULL, NULL, false },
};
static const struct pb_msg range_resp = MSG(range_resp_f);

static const struct pb_field put_resp_f[] = {
	{ 1, "header", PB_MSG, &header, NULL, false },
};
static const struct pb_msg put_resp = MSG(put_resp_f);

static const struct pb_field del_resp_f[] = {
	{ 1, "header", PB_MSG, &header, NULL, false },
	{ 2, "deleted", PB_INT, NULL, NULL, false },
};
static const struct pb_msg del_resp = MSG(del_resp_f);

static const struct pb_field resp_op_f[] = {
	{ 1, "response_range", PB_MSG, &range_resp, NULL, false },
	{ 2, "response_put", PB_MSG, &put_resp, NULL, false },
	{ 3, "response_delete_range", PB_MSG, &del_resp, NULL, false },
};
static const struct pb_msg resp_op = MSG(resp_op_f);

static const struct pb_field txn_resp_f[] = {
	{ 1, "header", PB_MSG, &header, NULL, false },
	{ 2, "succeeded", PB_BOOL, NULL, NULL, false },
	{ 3, "responses", PB_MSG, &resp_op, NULL, true },
};
static const struct pb_msg txn_resp = MSG(txn_resp_f);

static const struct pb_field watch_create_f[] = {
	{ 1, "key", PB_BYTES, NULL, NULL, false },
	{ 2, "range_end", PB_BYTES, NULL, NULL, false },
	{ 3, "start_revision", PB_INT, NULL, NULL, false },
	{ 4, "progress_notify", PB_BOOL, NULL, NULL, false },
	{ 6, "prev_kv", PB_BOOL, NULL, NULL, false },
};
static const struct pb_msg watch_create = MSG(watch_create_f);

static const struct pb_field watch_req_f[] = {
	{ 1, "create_request", PB_MSG, &watch_create, NULL, false },
};
static const struct pb_msg watch_req = MSG(watch_req_f);

static const char *const event_types[] = { "PUT", "DELETE", NULL };

static const struct pb_field event_f[] = {
	{ 1, "type", PB_ENUM, NULL, event_types, false },
	{ 2, "kv", PB_MSG, &kv, NULL, false },
	{ 3, "prev_kv", PB_MSG, &kv, NULL, false },
};
static const struct pb_msg event = MSG(event_f);

static const struct pb_field watch_resp_f[] = {
	{ 1, "header", PB_MSG, &header, NULL, false },
	{ 2, "watch_id", PB_INT, NULL, NULL, false },
	{ 3, "created", PB_BOOL, NULL, NULL, false },
	{ 4, "canceled", PB_BOOL, NULL, NULL, false },
	{ 5, "compact_revision", PB_INT, NULL, NULL, false },
	{ 6, "cancel_reason", PB_BYTES, NULL, NULL, false },
	{ 11, "events", PB_MSG, &event, NULL, true },
};
static const struct pb_msg watch_resp = MSG(watch_resp_f);

/* The request and answer messages of each call. */
static const struct pb_msg *const call_req[] = { &range_req, &txn_req, &watch_req };
static const struct pb_msg *const call_resp[] = { &range_resp, &txn_resp, &watch_resp };

/* ---- encoding ------------------------------------------------------------------ */

void api_pb_buf_free(struct api_pb_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

static int room(struct api_pb_buf *b, size_t more)
{
	if (b->n + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->n + more)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int put_varint(struct api_pb_buf *b, uint64_t v)
{
	if (room(b, 10) < 0)
		return -ENOMEM;
	do {
		uint8_t c = v & 0x7f;
		v >>= 7;
		b->p[b->n++] = v ? c | 0x80 : c;
	} while (v);
	return 0;
}

/* The size of v as a varint. */
static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	for (; v >= 0x80; v >>= 7)
		n++;
	return n;
}

/* The size of a length-delimited field of n bytes (field numbers < 16:
 * a one-byte tag). */
static size_t field_size(size_t n)
{
	return 1 + varint_size(n) + n;
}

/* The tag and length of a length-delimited field; its n bytes follow. */
static int put_head(struct api_pb_buf *b, int num, size_t n)
{
	if (put_varint(b, (uint64_t)num << 3 | 2) < 0 || put_varint(b, n) < 0 || room(b, n) < 0)
		return -ENOMEM;
	return 0;
}

static int put_bytes(struct api_pb_buf *b, int num, const void *p, size_t n)
{
	if (put_head(b, num, n) < 0)
		return -ENOMEM;
	if (n) /* (p may be NULL then) */
		memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int put_int(struct api_pb_buf *b, int num, uint64_t v)
{
	return put_varint(b, (uint64_t)num << 3) < 0 || put_varint(b, v) < 0 ? -ENOMEM : 0;
}

/* The base64 text s decoded, as a length-delimited field. */
static int put_b64(struct api_pb_buf *b, int num, const char *s)
{
	size_t len = strlen(s);
	while (len && s[len - 1] == '=')
		len--;
	if (put_head(b, num, len * 3 / 4) < 0)
		return -ENOMEM;
	ssize_t n = api_b64_decode(s, len, b->p + b->n);
	if (n < 0)
		return -EINVAL;
	b->n += (size_t)n;
	return 0;
}

static const struct pb_field *field_named(const struct pb_msg *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].name, name) == 0)
			return &m->f[i];
	return NULL;
}

static int encode_msg(const struct pb_msg *m, json_t *obj, struct api_pb_buf *out);

static int encode_one(const struct pb_field *f, json_t *v, struct api_pb_buf *out)
{
	switch (f->type) {
	case PB_INT: {
		int64_t x;
		if (json_is_integer(v))
			x = json_integer_value(v);
		else if (json_is_string(v))
			x = strtoll(json_string_value(v), NULL, 10);
		else
			return -EINVAL;
		return put_int(out, f->num, (uint64_t)x);
	}
	case PB_BOOL:
		if (!json_is_boolean(v))
			return -EINVAL;
		return put_int(out, f->num, json_is_true(v));
	case PB_ENUM: {
		int x = -1;
		const char *s = json_string_value(v);
		for (int i = 0; s && f->names[i]; i++)
			if (strcmp(f->names[i], s) == 0)
				x = i;
		if (json_is_integer(v))
			x = (int)json_integer_value(v);
		if (x < 0)
			return -EINVAL;
		return put_int(out, f->num, (uint64_t)x);
	}
	case PB_BYTES:
		return json_is_string(v) ? put_b64(out, f->num, json_string_value(v)) : -EINVAL;
	case PB_MSG: {
		struct api_pb_buf sub = { 0 };
		int rc = json_is_object(v) ? encode_msg(f->msg, v, &sub) : -EINVAL;
		if (rc == 0 && put_bytes(out, f->num, sub.p, sub.n) < 0)
			rc = -ENOMEM;
		api_pb_buf_free(&sub);
		return rc;
	}
	}
	return -EINVAL;
}

static int encode_msg(const struct pb_msg *m, json_t *obj, struct api_pb_buf *out)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		const struct pb_field *f = field_named(m, k);
		if (!f)
			return -EINVAL; /* a field this table does not know: say so */
		int rc = 0;
		if (f->repeated) {
			size_t i;
			json_t *e;
			if (!json_is_array(v))
				return -EINVAL;
			json_array_foreach(v, i, e)
				if ((rc = encode_one(f, e, out)) < 0)
					break;
		} else {
			rc = encode_one(f, v, out);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int api_pb_encode(enum api_pb_call call, json_t *req, struct api_pb_buf *out)
{
	if (!json_is_object(req))
		return -EINVAL;
	return encode_msg(call_req[call], req, out);
}

/* ---- a txn written directly (the store's writes) ----------------------------- */

/* Compare { result EQUAL, target, key, then (target's field) }: the head,
 * the first three fields; inner: the size of what the caller adds. */
static int put_compare(struct api_pb_buf *b, int target, const char *key, size_t inner)
{
	size_t kl = strlen(key);
	if (put_head(b, 1, 4 + field_size(kl) + inner) < 0 || put_int(b, 1, 0) < 0 ||
	    put_int(b, 2, (uint64_t)target) < 0 || put_bytes(b, 3, key, kl) < 0)
		return -ENOMEM;
	return 0;
}

int api_pb_txn_if_value(struct api_pb_buf *out, const char *key, const char *value)
{
	size_t vl = strlen(value);
	if (put_compare(out, 3, key, field_size(vl)) < 0 || put_bytes(out, 7, value, vl) < 0)
		return -ENOMEM;
	return 0;
}

int api_pb_txn_if_created(struct api_pb_buf *out, const char *key, int64_t create_revision)
{
	uint64_t r = (uint64_t)create_revision;
	if (put_compare(out, 1, key, 1 + varint_size(r)) < 0 || put_int(out, 5, r) < 0)
		return -ENOMEM;
	return 0;
}

/* RequestOp { op: a message whose first field is key, then inner more bytes } */
static int put_op(struct api_pb_buf *b, enum api_pb_branch br, int op, const char *key,
		  size_t inner)
{
	size_t kl = strlen(key), m = field_size(kl) + inner;
	if (put_head(b, br, field_size(m)) < 0 || put_head(b, op, m) < 0 ||
	    put_bytes(b, 1, key, kl) < 0)
		return -ENOMEM;
	return 0;
}

int api_pb_txn_put(struct api_pb_buf *out, enum api_pb_branch br, const char *key,
		   const char *val, size_t vlen)
{
	if (put_op(out, br, 2, key, field_size(vlen)) < 0 || put_bytes(out, 2, val, vlen) < 0)
		return -ENOMEM;
	return 0;
}

int api_pb_txn_delete(struct api_pb_buf *out, enum api_pb_branch br, const char *key)
{
	return put_op(out, br, 3, key, 0);
}

int api_pb_txn_range(struct api_pb_buf *out, enum api_pb_branch br, const char *key,
		     int64_t limit)
{
	uint64_t l = (uint64_t)limit;
	if (put_op(out, br, 1, key, limit ? 1 + varint_size(l) : 0) < 0 ||
	    (limit && put_int(out, 3, l) < 0))
		return -ENOMEM;
	return 0;
}

/* ---- decoding ------------------------------------------------------------------ */

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int s = 0; s < 64 && *p < end; s += 7) {
		uint8_t c = *(*p)++;
		x |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EIO;
}

static json_t *b64_json(const uint8_t *s, size_t n)
{
	char *o = malloc(API_B64_LEN(n) + 1);
	if (!o)
		return NULL;
	json_t *j = json_stringn_nocheck(o, (size_t)(api_b64_encode(s, n, o) - o));
	free(o);
	return j;
}

static const struct pb_field *field_num(const struct pb_msg *m, uint64_t num)
{
	for (size_t i = 0; i < m->n; i++)
		if ((uint64_t)m->f[i].num == num)
			return &m->f[i];
	return NULL;
}

static int decode_msg(const struct pb_msg *m, const uint8_t *p, const uint8_t *end, json_t *obj)
{
	while (p < end) {
		uint64_t key, v = 0, len = 0;
		if (get_varint(&p, end, &key) < 0)
			return -EIO;
		int wt = (int)(key & 7);
		const uint8_t *data = NULL;
		if (wt == 0) {
			if (get_varint(&p, end, &v) < 0)
				return -EIO;
		} else if (wt == 2) {
			if (get_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p))
				return -EIO;
			data = p;
			p += len;
		} else if (wt == 1 || wt == 5) {
			size_t w = wt == 1 ? 8 : 4;
			if ((size_t)(end - p) < w)
				return -EIO;
			p += w;
			continue; /* no fixed-width field is used */
		} else {
			return -EIO;
		}
		const struct pb_field *f = field_num(m, key >> 3);
		if (!f)
			continue; /* a field the store does not read */
		json_t *j = NULL;
		if (f->type == PB_MSG && wt == 2) {
			j = json_object();
			if (j && decode_msg(f->msg, data, data + len, j) < 0) {
				json_decref(j);
				return -EIO;
			}
		} else if (f->type == PB_BYTES && wt == 2) {
			j = b64_json(data, len);
		} else if (f->type == PB_INT && wt == 0) {
			char s[24];
			snprintf(s, sizeof(s), "%" PRId64, (int64_t)v);
			j = json_string(s); /* as the gateway writes an int64 */
		} else if (f->type == PB_BOOL && wt == 0) {
			j = json_boolean(v != 0);
		} else if (f->type == PB_ENUM && wt == 0) {
			size_t k = 0;
			while (f->names[k] && k < v)
				k++;
			j = f->names[k] ? json_string(f->names[k]) : json_integer((json_int_t)v);
		} else {
			return -EIO; /* a known field on the wrong wire type */
		}
		if (!j)
			return -ENOMEM;
		if (f->repeated) {
			json_t *a = json_object_get(obj, f->name);
			if (!a) {
				a = json_array();
				if (!a || json_object_set_new(obj, f->name, a) < 0) {
					json_decref(j);
					return -ENOMEM;
				}
			}
			if (json_array_append_new(a, j) < 0)
				return -ENOMEM;
		} else if (json_object_set_new(obj, f->name, j) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

static int decode_top(const struct pb_msg *m, const uint8_t *p, size_t n, json_t **out)
{
	json_t *o = json_object();
	if (!o)
		return -ENOMEM;
	int rc = decode_msg(m, p, p + n, o);
	if (rc < 0) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

int api_pb_decode(enum api_pb_call call, const uint8_t *p, size_t n, json_t **resp)
{
	return decode_top(call_resp[call], p, n, resp);
}

int api_pb_decode_request(enum api_pb_call call, const uint8_t *p, size_t n, json_t **req)
{
	return decode_top(call_req[call], p, n, req);
}
