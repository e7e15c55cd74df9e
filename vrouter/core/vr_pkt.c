/* DOC: vr_pkt.c — checksums, the flow hash, and buffer edits on struct vr_pkt. */
#include "vr_internal.h"

uint32_t vr_csum_partial(const uint8_t *p, size_t n, uint32_t sum)
{
	while (n > 1) {
		sum += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		n -= 2;
	}
	if (n)
		sum += (uint32_t)(p[0] << 8);
	return sum;
}

uint16_t vr_ipv4_csum(const uint8_t *ip, size_t ihl_bytes)
{
	/* The checksum field itself (bytes 10-11) must be zero on entry. */
	return vr_csum_fold(vr_csum_partial(ip, ihl_bytes, 0));
}

uint16_t vr_ipv6_l4_csum(const uint8_t *ip6, const uint8_t *l4, uint32_t l4_len, uint8_t proto)
{
	uint32_t sum = vr_csum_partial(ip6 + 8, 32, 0); /* source and destination */
	sum += l4_len >> 16;
	sum += l4_len & 0xffff;
	sum += proto;
	sum = vr_csum_partial(l4, l4_len, sum);
	uint16_t c = vr_csum_fold(sum);
	return c ? c : 0xffff;
}

bool vr_pkt_l4(const struct vr_pkt *pkt, struct vr_l4 *l4)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint32_t avail = pkt->len > pkt->l3_off ? (uint32_t)(pkt->len - pkt->l3_off) : 0;
	memset(l4, 0, sizeof(*l4));
	if (pkt->l3 == 4) {
		if (avail < 20)
			return false;
		uint16_t fo = vr_rd16(ip + 6);
		l4->proto = ip[9];
		l4->off = (uint16_t)((ip[0] & 0x0f) * 4);
		l4->frag = fo & 0x1fff ? VR_FRAG_REST : fo & 0x2000 ? VR_FRAG_FIRST : 0;
		l4->id = vr_rd16(ip + 4);
		return true;
	}
	if (pkt->l3 != 6 || avail < 40)
		return false;
	uint8_t nh = ip[6];
	uint32_t off = 40;
	/* a handful of extension headers at most: more is not a packet to forward */
	for (int i = 0; i < 6; i++) {
		if (nh == 44) { /* fragment */
			if (avail < off + 8)
				return false;
			uint16_t fo = vr_rd16(ip + off + 2);
			l4->frag = fo & 0xfff8 ? VR_FRAG_REST : fo & 1 ? VR_FRAG_FIRST : 0;
			l4->id = vr_rd32(ip + off + 4);
			nh = ip[off];
			off += 8;
		} else if (nh == 0 || nh == 43 || nh == 60) { /* hop-by-hop, routing, options */
			if (avail < off + 2)
				return false;
			uint32_t len = ((uint32_t)ip[off + 1] + 1) * 8;
			nh = ip[off];
			off += len;
		} else {
			break;
		}
		if (l4->frag == VR_FRAG_REST)
			break; /* what follows is data */
	}
	if (nh == 0 || nh == 43 || nh == 60 || (nh == 44 && l4->frag != VR_FRAG_REST) || off > avail)
		return false;
	l4->proto = nh;
	l4->off = (uint16_t)off;
	return true;
}

/*
 * Hash of the inner 5-tuple (addresses, protocol, ports); addresses and
 * protocol only for fragments (all of a datagram's fragments take the same
 * path) and protocols without ports. Never 0. CRC32C with the SSE4.2
 * instruction (vr_crc8/vr_crc4): a few cycles per word, and it spreads the source
 * ports well enough for ECMP and for MPLSoUDP source ports.
 */
const uint8_t vr_proto_has_ports[256] = { [6] = 1, [17] = 1, [132] = 1 };

/* Everything but the common case (vr_flow_hash, inline): out of line, so
 * that the common case saves no registers and keeps no frame. */
__attribute__((noinline)) uint32_t vr_flow_hash_parsed(const struct vr_pkt *pkt)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint32_t avail = pkt->len > pkt->l3_off ? (uint32_t)(pkt->len - pkt->l3_off) : 0;
	uint32_t h = VR_FLOW_HASH_SEED;
	struct vr_l4 l4;

	if (!vr_pkt_l4(pkt, &l4))
		return 1;
	if (pkt->l3 == 4) {
		uint64_t a;
		memcpy(&a, ip + 12, 8);
		h = vr_crc8(a, h);
	} else {
		for (int i = 8; i < 40; i += 8) {
			uint64_t a;
			memcpy(&a, ip + i, 8);
			h = vr_crc8(a, h);
		}
	}
	if (!l4.frag && vr_proto_has_ports[l4.proto] &&
	    avail >= (uint32_t)l4.off + 4) {
		uint32_t p;
		memcpy(&p, ip + l4.off, 4);
		h = vr_crc4(p, h);
	}
	h = vr_crc4(l4.proto, h);
	/* CRC's low bits move little with the last word: fold the halves. */
	h ^= h >> 16;
	return h ? h : 1;
}

void vr_pkt_drop(struct vr_router *r, struct vr_pkt *pkt, enum vr_drop_reason why)
{
	r->drops[why]++;
	r->ops->free(r->host, pkt);
}

void vr_drop(struct vr_router *r, struct vr_pkt *pkt, enum vr_drop_reason why)
{
	vr_pkt_drop(r, pkt, why);
}

const uint64_t *vr_drop_counters(const struct vr_router *r)
{
	return r->drops;
}
