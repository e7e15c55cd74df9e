/*
 * DOC: api_etcd_pb_test.c — the gateway-JSON <-> protobuf translation of
 * etcd's KV calls against messages encoded independently (by hand from
 * rpc.proto; field order as the JSON gives it): a txn with both kinds of
 * compare, a put, a delete and a range, from the gateway's JSON, written
 * directly (api_pb_txn_*), and back to JSON; an answer with a header, a range
 * of one key and a put; and what must be refused (bytes that are not
 * base64, a field the table does not know, a truncated answer); the watch
 * stream's create request and answers. The
 * store's use of it against a real etcd is tested by api_store_test and
 * api_core_test (etcd cases) and tests/e2e/api_rest_etcd.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_etcd_pb.h"

/* compare [{EQUAL, VALUE, "tern/rev", "5 tok"}, {EQUAL, CREATE, "tern/x",
 * create_revision 0}], success [put "tern/a" = {"v":1}, delete "tern/b"],
 * failure [range "tern/rev" limit 10] */
static const uint8_t txn_pb[] =
	"\x0a\x15\x08\x00\x10\x03\x1a\x08\x74\x65\x72\x6e\x2f\x72\x65\x76\x3a\x05\x35\x20\x74"
	"\x6f\x6b\x0a\x0e\x08\x00\x10\x01\x1a\x06\x74\x65\x72\x6e\x2f\x78\x28\x00\x12\x13\x12"
	"\x11\x0a\x06\x74\x65\x72\x6e\x2f\x61\x12\x07\x7b\x22\x76\x22\x3a\x31\x7d\x12\x0a\x1a"
	"\x08\x0a\x06\x74\x65\x72\x6e\x2f\x62\x1a\x0e\x0a\x0c\x0a\x08\x74\x65\x72\x6e\x2f\x72"
	"\x65\x76\x18\x0a";

/* header {cluster_id 12345, revision 7, raft_term 2}, succeeded, responses
 * [response_range {header, kvs [{"tern/rev", create 3, mod 5, version 2,
 * "3 abc"}], count 1}, response_put {header}] */
static const uint8_t resp_pb[] =
	"\x0a\x07\x08\xb9\x60\x18\x07\x20\x02\x10\x01\x1a\x26\x0a\x24\x0a\x07\x08\xb9\x60\x18"
	"\x07\x20\x02\x12\x17\x0a\x08\x74\x65\x72\x6e\x2f\x72\x65\x76\x10\x03\x18\x05\x20\x02"
	"\x2a\x05\x33\x20\x61\x62\x63\x20\x01\x1a\x0b\x12\x09\x0a\x07\x08\xb9\x60\x18\x07\x20"
	"\x02";

/* req (the gateway's JSON of a txn) encodes to txn_pb exactly. */
static void encodes_to_txn_pb(json_t *req)
{
	struct api_pb_buf b = { 0 };
	assert_int_equal(api_pb_encode(API_PB_TXN, req, &b), 0);
	assert_int_equal(b.n, sizeof(txn_pb) - 1);
	assert_memory_equal(b.p, txn_pb, b.n);
	api_pb_buf_free(&b);
}

static void test_encode_txn(void **state)
{
	(void)state;
	json_t *req = json_pack(
		"{s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:i}],s:[{s:{s:s,s:s}},{s:{s:s}}],"
		"s:[{s:{s:s,s:i}}]}",
		"compare", "result", "EQUAL", "target", "VALUE", "key", "dGVybi9yZXY=", "value",
		"NSB0b2s=", "result", "EQUAL", "target", "CREATE", "key", "dGVybi94",
		"create_revision", 0,
		"success", "request_put", "key", "dGVybi9h", "value", "eyJ2IjoxfQ==",
		"request_delete_range", "key", "dGVybi9i",
		"failure", "request_range", "key", "dGVybi9yZXY=", "limit", 10);
	assert_non_null(req);
	encodes_to_txn_pb(req);
	json_decref(req);
}

static const char *sget(json_t *o, const char *path)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save))
		o = *t >= '0' && *t <= '9' ? json_array_get(o, (size_t)atoi(t))
					   : json_object_get(o, t);
	return json_string_value(o);
}

/* Each path (as sget reads it) of o has its value: a table of {path, value}. */
#define FIELDS(o, ...) fields(o, (const char *const[][2]){ __VA_ARGS__ }, \
			      sizeof((const char *const[][2]){ __VA_ARGS__ }) / sizeof(char *[2]))
static void fields(json_t *o, const char *const want[][2], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *got = sget(o, want[i][0]);
		if (!got || strcmp(got, want[i][1]) != 0)
			fail_msg("%s: '%s', wanted '%s'", want[i][0], got ? got : "(none)",
				 want[i][1]);
	}
}

/* The same txn written directly, as the store writes its batches: the
 * same bytes; and a value with a NUL and more than 127 bytes (a two-byte
 * length at every level). */
static void test_build_txn(void **state)
{
	(void)state;
	struct api_pb_buf b = { 0 };
	assert_int_equal(api_pb_txn_if_value(&b, "tern/rev", "5 tok"), 0);
	assert_int_equal(api_pb_txn_if_created(&b, "tern/x", 0), 0);
	assert_int_equal(api_pb_txn_put(&b, API_PB_SUCCESS, "tern/a", "{\"v\":1}", 7), 0);
	assert_int_equal(api_pb_txn_delete(&b, API_PB_SUCCESS, "tern/b"), 0);
	assert_int_equal(api_pb_txn_range(&b, API_PB_FAILURE, "tern/rev", 10), 0);
	assert_int_equal(b.n, sizeof(txn_pb) - 1);
	assert_memory_equal(b.p, txn_pb, b.n);
	api_pb_buf_free(&b);

	char val[300];
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (char)('a' + i % 26);
	val[10] = 0;
	assert_int_equal(api_pb_txn_put(&b, API_PB_FAILURE, "k", val, sizeof(val)), 0);
	/* failure(3) len 309 { request_put(2) len 306 { key(1) "k", value(2) len 300 } } */
	static const uint8_t head[] = "\x1a\xb5\x02\x12\xb2\x02\x0a\x01k\x12\xac\x02";
	assert_int_equal(b.n, sizeof(head) - 1 + sizeof(val));
	assert_memory_equal(b.p, head, sizeof(head) - 1);
	assert_memory_equal(b.p + sizeof(head) - 1, val, sizeof(val));
	api_pb_buf_free(&b);
}

/* A request in protobuf as the gateway's JSON (for an endpoint without
 * gRPC): enums by name, and encoding that JSON again gives the same bytes. */
static void test_request_json(void **state)
{
	(void)state;
	json_t *req = NULL;
	assert_int_equal(api_pb_decode_request(API_PB_TXN, txn_pb, sizeof(txn_pb) - 1, &req), 0);
	FIELDS(req, { "compare.0.target", "VALUE" }, { "compare.0.result", "EQUAL" },
	       { "compare.0.value", "NSB0b2s=" }, { "compare.1.target", "CREATE" },
	       { "success.0.request_put.key", "dGVybi9h" },
	       { "success.1.request_delete_range.key", "dGVybi9i" },
	       { "failure.0.request_range.limit", "10" });
	encodes_to_txn_pb(req);
	json_decref(req);
	/* an enum value the table has no name for stays a number */
	assert_int_equal(api_pb_decode_request(API_PB_TXN, (const uint8_t *)"\x0a\x02\x10\x09",
					       4, &req), 0);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(req, "compare"), 0), "target")), 9);
	json_decref(req);
}

static void test_encode_refused(void **state)
{
	(void)state;
	struct api_pb_buf b = { 0 };
	json_t *req = json_pack("{s:s}", "key", "not base64!");
	assert_int_equal(api_pb_encode(API_PB_RANGE, req, &b), -EINVAL);
	json_decref(req);
	api_pb_buf_free(&b);
	req = json_pack("{s:s,s:b}", "key", "eA==", "serializable", 1);
	assert_int_equal(api_pb_encode(API_PB_RANGE, req, &b), -EINVAL);
	json_decref(req);
	api_pb_buf_free(&b);
	req = json_pack("{s:[{s:s}]}", "compare", "target", "SIDEWAYS");
	assert_int_equal(api_pb_encode(API_PB_TXN, req, &b), -EINVAL);
	json_decref(req);
	api_pb_buf_free(&b);
}

static void test_decode_txn(void **state)
{
	(void)state;
	json_t *r = NULL;
	assert_int_equal(api_pb_decode(API_PB_TXN, resp_pb, sizeof(resp_pb) - 1, &r), 0);
	assert_true(json_is_true(json_object_get(r, "succeeded")));
	assert_int_equal(json_array_size(json_object_get(r, "responses")), 2);
	FIELDS(r, { "header.revision", "7" },
	       { "responses.0.response_range.kvs.0.key", "dGVybi9yZXY=" },
	       { "responses.0.response_range.kvs.0.value", "MyBhYmM=" },
	       { "responses.0.response_range.kvs.0.mod_revision", "5" },
	       { "responses.0.response_range.count", "1" },
	       { "responses.1.response_put.header.revision", "7" });
	json_decref(r);
	/* every proper prefix is refused or decodes without crashing */
	for (size_t n = 0; n < sizeof(resp_pb) - 1; n++) {
		r = NULL;
		int rc = api_pb_decode(API_PB_TXN, resp_pb, n, &r);
		assert_true(rc == 0 || rc == -EIO);
		json_decref(r);
	}
	/* a length running past the end */
	assert_int_equal(api_pb_decode(API_PB_TXN, (const uint8_t *)"\x0a\x7f\x08", 3, &r), -EIO);
}

/* The watch stream (store's watch on P rev): the create request, an event
 * message and a compaction notice, each encoded by hand from rpc.proto and
 * mvccpb/kv.proto. */
static void test_watch(void **state)
{
	(void)state;
	static const uint8_t create_pb[] = "\x0a\x0c\x0a\x08tern/rev\x18\x2a";
	json_t *req = json_pack("{s:{s:s,s:i}}", "create_request", "key", "dGVybi9yZXY=",
				"start_revision", 42);
	struct api_pb_buf b = { 0 };
	assert_int_equal(api_pb_encode(API_PB_WATCH, req, &b), 0);
	assert_int_equal(b.n, sizeof(create_pb) - 1);
	assert_memory_equal(b.p, create_pb, b.n);
	api_pb_buf_free(&b);
	json_decref(req);
	/* header {revision 9}, events [{PUT, kv {"tern/rev", mod 9, "3 abc"}}] */
	static const uint8_t ev_pb[] =
		"\x0a\x02\x18\x09\x5a\x15\x12\x13\x0a\x08tern/rev\x18\x09\x2a\x05" "3 abc";
	json_t *r = NULL;
	assert_int_equal(api_pb_decode(API_PB_WATCH, ev_pb, sizeof(ev_pb) - 1, &r), 0);
	assert_int_equal(json_array_size(json_object_get(r, "events")), 1);
	FIELDS(r, { "header.revision", "9" }, { "events.0.kv.key", "dGVybi9yZXY=" },
	       { "events.0.kv.value", "MyBhYmM=" }, { "events.0.kv.mod_revision", "9" });
	json_decref(r);
	/* canceled, compact_revision 5: the store starts again from there */
	r = NULL;
	assert_int_equal(api_pb_decode(API_PB_WATCH, (const uint8_t *)"\x20\x01\x28\x05", 4, &r),
			 0);
	assert_true(json_is_true(json_object_get(r, "canceled")));
	assert_string_equal(sget(r, "compact_revision"), "5");
	json_decref(r);
	for (size_t n = 0; n < sizeof(ev_pb) - 1; n++) {
		r = NULL;
		int rc = api_pb_decode(API_PB_WATCH, ev_pb, n, &r);
		assert_true(rc == 0 || rc == -EIO);
		json_decref(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_txn),
		cmocka_unit_test(test_build_txn),
		cmocka_unit_test(test_request_json),
		cmocka_unit_test(test_encode_refused),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_decode_txn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
