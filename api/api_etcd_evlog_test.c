/*
 * DOC: api_etcd_evlog_test.c — a batch's events in one etcd key and back:
 * the round trip, reading from the middle of a batch, older single-event
 * keys, compressed values, and values that are not an event log (refused,
 * nothing returned).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zstd.h>

#include "api_b64.h"
#include "api_etcd_evlog.h"

#define K(r) "t/ev/000000000000000000" #r

static json_t *kv(const char *k, const char *v)
{
	return json_pack("[ss]", k, v);
}

static void expect(json_t *out, int64_t first, size_t n, const char *const *recs)
{
	assert_int_equal(json_array_size(out), n);
	for (size_t i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "t/ev/%020lld", (long long)(first + (int64_t)i));
		json_t *e = json_array_get(out, i);
		assert_string_equal(json_string_value(json_array_get(e, 0)), key);
		assert_string_equal(json_string_value(json_array_get(e, 1)), recs[i]);
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	/* given out of order: joined by revision, the key the last one's */
	struct api_evlog_ref evs[] = { { K(12), "{\"c\":3}" }, { K(10), "{\"a\":1}" },
				       { K(11), "{\"b\":\"x y\\n\"}" } };
	const char *key;
	char *val;
	size_t len;
	assert_int_equal(api_evlog_join(NULL, evs, 3, &key, &val, &len), 0);
	assert_string_equal(key, K(12));
	assert_string_equal(val, "10 {\"a\":1}\n11 {\"b\":\"x y\\n\"}\n12 {\"c\":3}");
	assert_int_equal(len, strlen(val));
	json_t *kvs = json_pack("[o]", json_pack("[ssi]", key, val, 77)), *out;
	static const char *const recs[] = { "{\"a\":1}", "{\"b\":\"x y\\n\"}", "{\"c\":3}" };
	assert_int_equal(api_evlog_split(NULL, "t/", kvs, 0, &out), 0);
	expect(out, 10, 3, recs);
	/* the extra element (the store's mod_revision) goes with each event */
	assert_int_equal(json_integer_value(json_array_get(json_array_get(out, 2), 2)), 77);
	json_decref(out);
	/* from the middle of the batch: only the later events */
	assert_int_equal(api_evlog_split(NULL, "t/", kvs, 10, &out), 0);
	expect(out, 11, 2, recs + 1);
	json_decref(out);
	assert_int_equal(api_evlog_split(NULL, "t/", kvs, 12, &out), 0);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(kvs);
	free(val);
}

static void test_single_and_old(void **state)
{
	(void)state;
	/* one event: the record alone, as every older version wrote it */
	struct api_evlog_ref one = { K(13), "{\"d\":4}" };
	const char *key;
	char *val;
	size_t len;
	assert_int_equal(api_evlog_join(NULL, &one, 1, &key, &val, &len), 0);
	assert_string_equal(val, "{\"d\":4}");
	json_t *kvs = json_pack("[ooo]", kv(K(11), "{\"b\":2}"), kv("t/ev/00000000000000000012",
				"{\"c\":3}"), kv(key, val)), *out;
	static const char *const recs[] = { "{\"b\":2}", "{\"c\":3}", "{\"d\":4}" };
	assert_int_equal(api_evlog_split(NULL, "t/", kvs, 10, &out), 0);
	expect(out, 11, 3, recs);
	json_decref(out);
	json_decref(kvs);
	free(val);
	assert_int_equal(api_evlog_join(NULL, &one, 0, &key, &val, &len), -EINVAL);
	struct api_evlog_ref bad = { "t/ev/12", "{}" };
	assert_int_equal(api_evlog_join(NULL, &bad, 1, &key, &val, &len), -EINVAL);
}

/* Values that are not an event log: -EIO, and no array comes back. */
static void test_refused(void **state)
{
	(void)state;
	static const char *const bad[][2] = {
		{ K(12), "10 {}\n12 {}\n11 {}" },      /* revisions do not rise */
		{ K(12), "10 {}\n10 {}\n12 {}" },      /* nor repeat */
		{ K(12), "10 {}\n13 {}" },             /* past the key's */
		{ K(12), "10 {}\n11 {}" },             /* the key's own missing */
		{ K(12), "10{}\n12 {}" },              /* no space */
		{ K(12), "10 {}\n{}" },                /* a line with no revision */
		{ K(12), " {}\n11 {}" },               /* one record, with a newline (fuzz) */
		{ K(12), "99999999999999999999999 {}" }, /* out of range */
		{ "t/ev/12", "{}" },                   /* not 20 digits */
		{ "t/ev/0000000000000000001x", "{}" },
		{ "u/ev/00000000000000000012", "{}" }, /* another prefix */
		{ "t/xx/00000000000000000012", "{}" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *kvs = json_pack("[o]", kv(bad[i][0], bad[i][1])), *out = NULL;
		assert_int_equal(api_evlog_split(NULL, "t/", kvs, 0, &out), -EIO);
		assert_null(out);
		json_decref(kvs);
	}
	json_t *kvs = json_pack("[[s]]", K(12)), *out = NULL;
	assert_int_equal(api_evlog_split(NULL, "t/", kvs, 0, &out), -EIO); /* no value */
	json_decref(kvs);
}

/* A record like the store's: a body, escaped, and its writes. */
static char *record(int i)
{
	char *r;
	if (asprintf(&r, "{\"type\":\"ADDED\",\"kind\":\"instance-ip\",\"uuid\":"
		     "\"01a20daf-6cb4-787c-a149-3e9bf1ea97%02d\",\"body\":\"{\\\"kind\\\":"
		     "\\\"instance-ip\\\",\\\"name\\\":\\\"b-%d-v4\\\",\\\"address"
		     "\\\":\\\"10.8.0.%d\\\"}\",\"w\":{}}", i, i, i) < 0)
		return NULL;
	return r;
}

/* A batch's value is compressed when that makes it shorter, and reads back
 * the same, whole or from its middle, with kept or passing contexts. */
static void test_compressed(void **state)
{
	(void)state;
	enum { N = 16 };
	char keys[N][32], *recs[N];
	struct api_evlog_ref evs[N];
	size_t plain = 0;
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "t/ev/%020d", 100 + i);
		recs[i] = record(i);
		assert_non_null(recs[i]);
		evs[i] = (struct api_evlog_ref){ keys[i], recs[i] };
		plain += strlen(recs[i]) + 5;
	}
	struct api_evlog_z z = { 0 };
	const char *key;
	char *val;
	size_t len;
	assert_int_equal(api_evlog_join(&z, evs, N, &key, &val, &len), 0);
	assert_string_equal(key, keys[N - 1]);
	assert_int_equal(val[0], 'Z');
	assert_int_equal(strlen(val), len);
	assert_true(len * 3 < plain); /* (the records repeat themselves) */
	json_t *kvs = json_pack("[[ssi]]", key, val, 9), *out;
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(api_evlog_split(pass ? NULL : &z, "t/", kvs, 0, &out), 0);
		expect(out, 100, N, (const char *const *)recs);
		assert_int_equal(json_integer_value(json_array_get(json_array_get(out, 5), 2)), 9);
		json_decref(out);
		assert_int_equal(api_evlog_split(&z, "t/", kvs, 109, &out), 0);
		expect(out, 110, N - 10, (const char *const *)recs + 10);
		json_decref(out);
	}
	json_decref(kvs);
	free(val);
	/* the context serves the next batch too */
	assert_int_equal(api_evlog_join(&z, evs, 2, &key, &val, &len), 0);
	assert_string_equal(key, keys[1]);
	kvs = json_pack("[[ss]]", key, val);
	assert_int_equal(api_evlog_split(&z, "t/", kvs, 0, &out), 0);
	expect(out, 100, 2, (const char *const *)recs);
	json_decref(out);
	json_decref(kvs);
	free(val);
	/* short values stay as they are */
	assert_int_equal(api_evlog_join(&z, evs, 1, &key, &val, &len), 0);
	assert_int_equal(val[0], '{');
	free(val);
	api_evlog_z_free(&z);
	for (int i = 0; i < N; i++)
		free(recs[i]);
}

/* 'Z' and n bytes of frame in base64 (malloc'd). */
static char *zval(const void *frame, size_t n)
{
	char *v = malloc(API_B64_LEN(n) + 2);
	assert_non_null(v);
	v[0] = 'Z';
	*api_b64_encode(frame, n, v + 1) = 0;
	return v;
}

/* text compressed as one frame, as a value (malloc'd). */
static char *zval_of(const char *text, size_t n)
{
	size_t cap = ZSTD_compressBound(n);
	void *f = malloc(cap);
	assert_non_null(f);
	size_t fn = ZSTD_compress(f, cap, text, n, 1);
	assert_false(ZSTD_isError(fn));
	char *v = zval(f, fn);
	free(f);
	return v;
}

/* Compressed values that do not hold an event log: -EIO, nothing back. */
static void test_compressed_refused(void **state)
{
	(void)state;
	char *bad[6];
	bad[0] = strdup("Z!!!!");                       /* not base64 */
	bad[1] = zval("not a zstd frame", 16);          /* not a frame */
	bad[2] = zval_of("10 {}\n12 {}\n11 {}", 17);    /* what it holds is refused */
	bad[3] = zval_of("{\"a\":1}\0{}", 10);          /* a NUL inside */
	char *inner = zval_of("{\"a\":1}", 7);
	bad[4] = zval_of(inner, strlen(inner));         /* compressed twice */
	free(inner);
	size_t big = API_EVLOG_MAX + 1;                 /* unfolds past the limit */
	char *zeros = calloc(1, big);
	assert_non_null(zeros);
	bad[5] = zval_of(zeros, big);
	free(zeros);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *kvs = json_pack("[o]", kv(K(12), bad[i])), *out = NULL;
		assert_int_equal(api_evlog_split(NULL, "t/", kvs, 0, &out), -EIO);
		assert_null(out);
		json_decref(kvs);
		free(bad[i]);
	}
	/* a frame that does not say its size (as streams write) is refused too */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	char f[256];
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
	size_t fn = ZSTD_compress2(c, f, sizeof(f), "{\"a\":1}", 7);
	assert_false(ZSTD_isError(fn));
	assert_int_equal(ZSTD_getFrameContentSize(f, fn), ZSTD_CONTENTSIZE_UNKNOWN);
	ZSTD_freeCCtx(c);
	char *v = zval(f, fn);
	json_t *kvs = json_pack("[o]", kv(K(12), v)), *out = NULL;
	assert_int_equal(api_evlog_split(NULL, "t/", kvs, 0, &out), -EIO);
	json_decref(kvs);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_single_and_old),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_compressed),
		cmocka_unit_test(test_compressed_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
