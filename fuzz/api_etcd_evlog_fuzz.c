/*
 * DOC: api_etcd_evlog_fuzz.c — libFuzzer target for the etcd store's event
 * log keys (api/api_etcd_evlog.c): what a range read of P ev/ gives back is
 * outside input to tern-api (another version wrote it, or anyone with
 * access to etcd).
 *
 * Input: the first byte is the revision to read after, the next two the
 * last digits of the key's revision, the rest the value. Whatever the bytes,
 * splitting either fails with -EIO and no array, or gives events after that
 * revision, in rising order, none past the key's, no record with a newline.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_etcd_evlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	int64_t since = data[0], last = data[1] * 256 + data[2];
	char key[64], *val = malloc(size - 2);
	if (!val)
		return 0;
	memcpy(val, data + 3, size - 3);
	val[size - 3] = 0; /* etcd's values reach the store NUL-terminated */
	snprintf(key, sizeof(key), "t/ev/%020" PRId64, last);
	json_t *kvs = json_pack("[[ss]]", key, val), *out = NULL;
	free(val);
	if (!kvs)
		return 0;
	int rc = api_evlog_split(NULL, "t/", kvs, since, &out);
	json_decref(kvs);
	if (rc < 0) {
		if ((rc != -EIO && rc != -ENOMEM) || out)
			abort();
		return 0;
	}
	size_t i;
	json_t *e;
	int64_t prev = since;
	json_array_foreach(out, i, e) {
		const char *k = json_string_value(json_array_get(e, 0));
		const char *rec = json_string_value(json_array_get(e, 1));
		int64_t r = k ? strtoll(k + 5, NULL, 10) : -1;
		if (!rec || r <= prev || r > last || strchr(rec, '\n'))
			abort();
		prev = r;
	}
	json_decref(out);
	return 0;
}
