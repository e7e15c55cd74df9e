/*
 * DOC: api_etcd_evlog_test.c — a batch's events in one etcd key and back:
 * the round trip, reading from the middle of a batch, older single-event
 * keys, and values that are not an event log (refused, nothing returned).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

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
	assert_int_equal(api_evlog_join(evs, 3, &key, &val, &len), 0);
	assert_string_equal(key, K(12));
	assert_string_equal(val, "10 {\"a\":1}\n11 {\"b\":\"x y\\n\"}\n12 {\"c\":3}");
	assert_int_equal(len, strlen(val));
	json_t *kvs = json_pack("[o]", json_pack("[ssi]", key, val, 77)), *out;
	static const char *const recs[] = { "{\"a\":1}", "{\"b\":\"x y\\n\"}", "{\"c\":3}" };
	assert_int_equal(api_evlog_split("t/", kvs, 0, &out), 0);
	expect(out, 10, 3, recs);
	/* the extra element (the store's mod_revision) goes with each event */
	assert_int_equal(json_integer_value(json_array_get(json_array_get(out, 2), 2)), 77);
	json_decref(out);
	/* from the middle of the batch: only the later events */
	assert_int_equal(api_evlog_split("t/", kvs, 10, &out), 0);
	expect(out, 11, 2, recs + 1);
	json_decref(out);
	assert_int_equal(api_evlog_split("t/", kvs, 12, &out), 0);
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
	assert_int_equal(api_evlog_join(&one, 1, &key, &val, &len), 0);
	assert_string_equal(val, "{\"d\":4}");
	json_t *kvs = json_pack("[ooo]", kv(K(11), "{\"b\":2}"), kv("t/ev/00000000000000000012",
				"{\"c\":3}"), kv(key, val)), *out;
	static const char *const recs[] = { "{\"b\":2}", "{\"c\":3}", "{\"d\":4}" };
	assert_int_equal(api_evlog_split("t/", kvs, 10, &out), 0);
	expect(out, 11, 3, recs);
	json_decref(out);
	json_decref(kvs);
	free(val);
	assert_int_equal(api_evlog_join(&one, 0, &key, &val, &len), -EINVAL);
	struct api_evlog_ref bad = { "t/ev/12", "{}" };
	assert_int_equal(api_evlog_join(&bad, 1, &key, &val, &len), -EINVAL);
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
		assert_int_equal(api_evlog_split("t/", kvs, 0, &out), -EIO);
		assert_null(out);
		json_decref(kvs);
	}
	json_t *kvs = json_pack("[[s]]", K(12)), *out = NULL;
	assert_int_equal(api_evlog_split("t/", kvs, 0, &out), -EIO); /* no value */
	json_decref(kvs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_single_and_old),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
