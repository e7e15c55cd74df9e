/*
 * DOC: vr_dpdk_memif_fuzz.c — libFuzzer target for the memif message decoder
 * of tern-vrouter's memif server (vrouter/dpdk/vr_dpdk_memif.c).
 *
 * Input: one byte giving the number of file descriptors that came with the
 * message (0..3), then the message. Whatever it is, decoding must not crash,
 * and a message that decodes must survive a round trip (encode, decode to the
 * same struct), so encoder and decoder cannot drift apart.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_dpdk_memif.h"

/* the vrouter's forwarding-loop guard; the decoder never reaches it */
void vrd_guard_wait(void);
void vrd_guard_wait(void)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned nfds = data[0] & 3;
	struct vrd_memif_msg m, m2;
	char err[200];
	if (vrd_memif_msg_decode(data + 1, size - 1, nfds, &m, err, sizeof(err)) != 0) {
		if (!memchr(err, 0, sizeof(err)) || !err[0])
			abort(); /* every refusal says why */
		return 0;
	}
	uint8_t buf[VRD_MEMIF_MSG_SIZE];
	if (vrd_memif_msg_encode(&m, buf) != VRD_MEMIF_MSG_SIZE)
		abort();
	if (vrd_memif_msg_decode(buf, sizeof(buf), nfds, &m2, err, sizeof(err)) != 0)
		abort();
	if (memcmp(&m, &m2, sizeof(m)) != 0)
		abort();
	return 0;
}
