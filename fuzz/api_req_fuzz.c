/*
 * DOC: api_req_fuzz.c — libFuzzer target for tern-api's request decoder and
 * validator (JSON body -> validated, normalised object).
 *
 * Input: the first byte picks the kind, the rest is the body. Whatever the
 * input, decoding must not crash, an error must carry a 4xx status and a
 * message, and an accepted object must be a fixed point: validating it
 * again gives the same object (so what the server stores, a client can PUT
 * back unchanged). Every reference the walker reports must be a string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_model.h"

static int ref_cb(void *arg, const char *path, const struct api_field *f, json_t *holder,
		  const char *key, size_t index)
{
	(void)arg;
	(void)path;
	(void)f;
	json_t *v = key ? json_object_get(holder, key) : json_array_get(holder, index);
	if (!json_is_string(v))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned n = 0;
	while (api_kind_at(n))
		n++;
	const struct api_kind *k = api_kind_at(data[0] % n);
	struct api_err e;
	json_t *o = NULL;
	if (api_decode(k, (const char *)data + 1, size - 1, &o, &e) < 0) {
		if (e.status < 400 || e.status > 499 || !e.msg[0] || o)
			abort();
		return 0;
	}
	json_t *again = NULL;
	if (api_validate(k, o, &again, &e) < 0 || !json_equal(o, again))
		abort();
	api_refs_walk(k, o, ref_cb, NULL);
	json_decref(again);
	json_decref(o);
	return 0;
}
