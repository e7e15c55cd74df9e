/*
 * DOC: api_etcd_pb.h — etcd v3's KV requests and answers in protobuf, for
 * the etcd store's gRPC transport (api_store_etcd.c).
 *
 * The store builds its requests as the v3 JSON gateway's JSON (keys and
 * values base64, as it always did) and reads answers in that shape too; this
 * file translates both ways, so that the same requests go to etcd's gRPC
 * service (/etcdserverpb.KV/Range, /etcdserverpb.KV/Txn) without the
 * gateway, which cost etcd about as much CPU as the writes themselves
 * (docs/PERFORMANCE.md, tern-api). Only the fields the store uses are
 * known: RangeRequest (key, range_end, limit), PutRequest (key, value),
 * DeleteRangeRequest (key, range_end), Compare (result, target, key,
 * create_revision, mod_revision, version, value), TxnRequest,
 * WatchCreateRequest (key, range_end, start_revision); the answers'
 * headers (revision), key-values, succeeded and responses, and a watch
 * answer's events, created, canceled and compact_revision. Other fields of
 * an answer are skipped.
 *
 * The store's write transactions, the one call on its critical path, are
 * written as protobuf directly instead (api_pb_txn_*): no JSON tree and no
 * base64 on the way from a batch to etcd. For an endpoint that has only the
 * gateway, such a request is turned into the gateway's JSON
 * (api_pb_decode_request).
 */
#ifndef TERN_API_ETCD_PB_H
#define TERN_API_ETCD_PB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer. */
struct api_pb_buf {
	uint8_t *p;
	size_t n, cap;
};

void api_pb_buf_free(struct api_pb_buf *b);

/* API_PB_WATCH: one WatchRequest (create_request) and one WatchResponse
 * of the stream /etcdserverpb.Watch/Watch. */
enum api_pb_call { API_PB_RANGE, API_PB_TXN, API_PB_WATCH };

/* req (the gateway's JSON for /v3/kv/range or /v3/kv/txn) as protobuf,
 * appended to out. 0, -EINVAL (a field that is not the gateway's form, e.g.
 * a value that is not base64) or -ENOMEM. */
int api_pb_encode(enum api_pb_call call, json_t *req, struct api_pb_buf *out);

/* An answer of call in protobuf, as the gateway would have written it in
 * JSON (*resp, a new reference; int64 as strings, bytes in base64). 0,
 * -EIO (not a valid message) or -ENOMEM. */
int api_pb_decode(enum api_pb_call call, const uint8_t *p, size_t n, json_t **resp);

/* A request of call in protobuf as the gateway's JSON (*req, a new
 * reference; enums by name, int64 as strings, bytes in base64). 0, -EIO or
 * -ENOMEM. */
int api_pb_decode_request(enum api_pb_call call, const uint8_t *p, size_t n, json_t **req);

/*
 * Parts of a TxnRequest, appended to out as they come (protobuf lets the
 * repeated compare, success and failure fields interleave): a compare of
 * key's value, or of its create_revision, for equality; a put, a delete of
 * one key, a range of one key (limit 0: no limit) in branch br. Keys are
 * C strings; a value may hold any bytes. 0 or -ENOMEM.
 */
enum api_pb_branch { API_PB_SUCCESS = 2, API_PB_FAILURE = 3 };

int api_pb_txn_if_value(struct api_pb_buf *out, const char *key, const char *value);
int api_pb_txn_if_created(struct api_pb_buf *out, const char *key, int64_t create_revision);
int api_pb_txn_put(struct api_pb_buf *out, enum api_pb_branch br, const char *key,
		   const char *val, size_t vlen);
int api_pb_txn_delete(struct api_pb_buf *out, enum api_pb_branch br, const char *key);
int api_pb_txn_range(struct api_pb_buf *out, enum api_pb_branch br, const char *key,
		     int64_t limit);

#endif /* TERN_API_ETCD_PB_H */
