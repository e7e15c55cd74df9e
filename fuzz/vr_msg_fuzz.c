/*
 * DOC: vr_msg_fuzz.c — libFuzzer target for the vrouter control codec.
 *
 * Whatever the input: framing and parsing must not crash, and every object
 * that decodes must survive a round trip (encode, parse, decode to the same
 * struct), so encoder and decoder cannot drift apart.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_msg.h"

static void round_trip(const struct vr_msg_view *v, const struct vr_object *o)
{
	static uint8_t buf[VR_MSG_MAX];
	struct tern_wbuf w;
	tern_wbuf_init(&w, buf, sizeof(buf));
	vr_msg_begin(&w, v->op, v->seq, v->obj);
	vr_msg_put_object(&w, o);
	int len = vr_msg_finish(&w);
	if (len < 0)
		abort(); /* a decoded object always fits: it came from a smaller message */

	struct vr_msg_view v2;
	struct vr_object o2;
	char err[256];
	if (vr_msg_parse(buf, (size_t)len, &v2, err, sizeof(err)) != 0)
		abort();
	if (v2.n_objects != 1 || vr_msg_next_object(&v2, &o2, err, sizeof(err)) != 1)
		abort();
	if (memcmp(o, &o2, sizeof(o2)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t len;
	if (vr_msg_frame(data, size, &len) < 0)
		return 0;
	struct vr_msg_view v;
	char err[256];
	/* Parse exactly what was given: a length mismatch is itself a case. */
	if (vr_msg_parse(data, size, &v, err, sizeof(err)) < 0)
		return 0;
	struct vr_object o;
	int rc;
	while ((rc = vr_msg_next_object(&v, &o, err, sizeof(err))) == 1)
		round_trip(&v, &o);
	return 0;
}
