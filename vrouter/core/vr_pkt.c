/* DOC: vr_pkt.c — checksums, the flow hash, and buffer edits on struct vr_pkt. */
#include "vr_internal.h"

#include <rte_hash_crc.h>

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

uint16_t vr_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
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

/*
 * Hash of the inner 5-tuple (addresses, protocol, ports); addresses only for
 * non-first fragments and protocols without ports. Never 0. CRC32C with the
 * SSE4.2 instruction (rte_hash_crc): a few cycles per word, and it spreads
 * the source ports well enough for ECMP and for MPLSoUDP source ports.
 */
uint32_t vr_flow_hash(const struct vr_pkt *pkt)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint32_t avail = pkt->len > pkt->l3_off ? (uint32_t)(pkt->len - pkt->l3_off) : 0;
	uint32_t h = 0x9747b28cu;
	uint8_t proto;
	uint32_t l4off;
	bool ports = false;
	uint32_t w;

	if (pkt->l3 == 4 && avail >= 20) {
		l4off = (uint32_t)(ip[0] & 0x0f) * 4;
		proto = ip[9];
		uint64_t a;
		memcpy(&a, ip + 12, 8);
		h = rte_hash_crc_8byte(a, h);
		ports = (vr_rd16(ip + 6) & 0x1fff) == 0;
	} else if (pkt->l3 == 6 && avail >= 40) {
		l4off = 40;
		proto = ip[6];
		for (int i = 8; i < 40; i += 8) {
			uint64_t a;
			memcpy(&a, ip + i, 8);
			h = rte_hash_crc_8byte(a, h);
		}
		ports = true;
	} else {
		return 1;
	}
	w = proto;
	if (ports && (proto == 6 || proto == 17 || proto == 132) && avail >= l4off + 4) {
		uint32_t p;
		memcpy(&p, ip + l4off, 4);
		h = rte_hash_crc_4byte(p, h);
	}
	h = rte_hash_crc_4byte(w, h);
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
