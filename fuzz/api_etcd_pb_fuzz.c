/*
 * DOC: api_etcd_pb_fuzz.c — libFuzzer target for the etcd store's protobuf
 * codec (api/api_etcd_pb.c): what etcd's gRPC service answers is outside
 * input to tern-api.
 *
 * Input: the first byte picks the call (Range, Txn or Watch), the rest is
 * the answer. Whatever the bytes, decoding must not crash and either fails with
 * -EIO / -ENOMEM and no object, or gives a JSON object. A decoded answer
 * fed back through the encoder must not crash either (it is not a request,
 * so refusing it is fine).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "api_etcd_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const enum api_pb_call calls[] = { API_PB_RANGE, API_PB_TXN, API_PB_WATCH };
	enum api_pb_call call = calls[data[0] % 3];
	json_t *resp = NULL;
	int rc = api_pb_decode(call, data + 1, size - 1, &resp);
	if (rc < 0) {
		if ((rc != -EIO && rc != -ENOMEM) || resp)
			abort();
		return 0;
	}
	if (!json_is_object(resp))
		abort();
	struct api_pb_buf b = { 0 };
	(void)api_pb_encode(call, resp, &b);
	api_pb_buf_free(&b);
	json_decref(resp);
	return 0;
}
