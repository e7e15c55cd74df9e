/*
 * DOC: vr_encap.c — the nexthop stage: choose the ECMP member, copy for a
 * flood, then rewrite for a local vif or push the tunnel header (prebuilt per
 * nexthop, so a packet costs a copy of 42-70 bytes and three length fields).
 * Also the path-MTU check and the ICMP errors it sends.
 */
#include "vr_internal.h"

#include <errno.h>
#include <rte_memcpy.h>

#define MPLS_TTL 64
#define OUTER_TTL 64

int vr_nh_build_tunnel(struct vr_router *r, struct vr_nh *nh, struct vr_err *e)
{
	const struct vr_obj_nh *c = &nh->cfg;
	const struct vr_vif *fab = vr_vif_get(r, c->vif);
	uint8_t *h = nh->hdr;
	bool v6 = c->dip.family == 6;
	uint16_t off;
	uint8_t proto = c->encap == VR_ENCAP_MPLSOGRE ? IPPROTO_GRE_ : 17;

	memset(h, 0, sizeof(nh->hdr));
	memcpy(h, c->dmac, 6);
	memcpy(h + 6, fab->cfg.mac, 6);
	vr_wr16(h + 12, v6 ? ETH_P_IPV6 : ETH_P_IPV4);
	if (v6) {
		h[14] = 0x60;
		h[14 + 6] = proto;
		h[14 + 7] = OUTER_TTL;
		memcpy(h + 14 + 8, c->sip.a, 16);
		memcpy(h + 14 + 24, c->dip.a, 16);
		off = 14 + 40;
	} else {
		h[14] = 0x45;
		vr_wr16(h + 14 + 6, 0x4000); /* DF: the path MTU is checked here, not fragmented later */
		h[14 + 8] = OUTER_TTL;
		h[14 + 9] = proto;
		memcpy(h + 14 + 12, c->sip.a, 4);
		memcpy(h + 14 + 16, c->dip.a, 4);
		off = 14 + 20;
	}
	switch (c->encap) {
	case VR_ENCAP_MPLSOUDP:
		vr_wr16(h + off + 2, UDP_PORT_MPLS);
		vr_wr32(h + off + 8, c->label << 12 | 0x100 | MPLS_TTL);
		nh->hdr_len = (uint16_t)(off + 8 + 4);
		break;
	case VR_ENCAP_MPLSOGRE:
		vr_wr16(h + off + 2, ETH_P_MPLS);
		vr_wr32(h + off + 4, c->label << 12 | 0x100 | MPLS_TTL);
		nh->hdr_len = (uint16_t)(off + 4 + 4);
		break;
	case VR_ENCAP_VXLAN:
		vr_wr16(h + off + 2, UDP_PORT_VXLAN);
		h[off + 8] = 0x08; /* I flag: the VNI is valid */
		vr_wr32(h + off + 12, c->vni << 8);
		nh->hdr_len = (uint16_t)(off + 8 + 8);
		break;
	default:
		return vr_errf(e, -EINVAL, "unknown encapsulation %u", c->encap);
	}
	/* A routed packet's inner Ethernet header, from and to the vrouter MAC
	 * (the receiving vrouter routes it): copied with the outer ones; only
	 * its type is written per packet. */
	nh->inner_eth = 0;
	if (c->encap == VR_ENCAP_VXLAN) {
		memcpy(h + nh->hdr_len, r->cfg.mac, 6);
		memcpy(h + nh->hdr_len + 6, r->cfg.mac, 6);
		nh->inner_eth = ETH_HLEN;
	}
	nh->mtu = fab->cfg.mtu ? fab->cfg.mtu : 1500;
	uint32_t over = (uint32_t)(nh->hdr_len - ETH_HLEN + nh->inner_eth);
	nh->ip_room = (uint16_t)(nh->mtu > over ? nh->mtu - over : 0);
	nh->udp4 = !v6 && c->encap != VR_ENCAP_MPLSOGRE;
	/* Only the total length changes per packet: sum the rest once here. */
	if (!v6)
		nh->ip_csum_base = vr_csum_partial(h + 14, 20, 0);
	return 0;
}

static bool is_icmp_error(const struct vr_pkt *pkt)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint32_t avail = (uint32_t)(pkt->len - pkt->l3_off);
	if (pkt->l3 == 6) /* ICMPv6 types below 128 are errors; extension headers: assume not */
		return ip[6] == 58 && avail > 40 && ip[40] < 128;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if (ip[9] != 1 || avail <= ihl)
		return false;
	uint8_t type = ip[ihl];
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/*
 * Turn pkt into an ICMP error for its sender, in place, and send it back out
 * the vif it came in on: IPv4 type/code with `info` in the second word
 * (the next-hop MTU for "fragmentation needed"), or ICMPv6 likewise.
 * The error quotes as much of the packet as fits in 576 (IPv4) or 1280
 * (IPv6) bytes. Its source is the packet's destination: the vrouter owns no
 * address in the tenant's network.
 */
/* cold, out of line: kept out of the forwarding paths it is called from,
 * which then save fewer registers a packet */
static __attribute__((cold, noinline)) void
icmp_error(struct vr_router *r, struct vr_pkt *pkt, uint8_t type, uint8_t code, uint32_t info,
	   enum vr_drop_reason why)
{
	bool v6 = pkt->l3 == 6;
	uint16_t hdrs = (uint16_t)(ETH_HLEN + (v6 ? 40 : 20) + 8);
	uint8_t *orig = pkt->data + pkt->l3_off;
	uint32_t orig_len = (uint32_t)(pkt->len - pkt->l3_off);
	uint32_t quote_max = v6 ? 1280 - 48 : 576 - 28;
	uint32_t quote = orig_len < quote_max ? orig_len : quote_max;
	uint8_t src[16], dst[16], smac[6];

	/* No error about an ICMP error (RFC 1812 §4.3.2.7, RFC 4443 §2.4), nor
	 * about a packet from the fabric: its sender is another vrouter. */
	if ((pkt->flags & VR_PF_FABRIC) || pkt->l3_off < ETH_HLEN ||
	    (size_t)pkt->headroom + pkt->l3_off < hdrs || is_icmp_error(pkt)) {
		vr_pkt_drop(r, pkt, why);
		return;
	}
	r->drops[why]++; /* the original is dropped; the error replaces it */
	memcpy(smac, orig - ETH_HLEN + 6, 6);
	memcpy(src, orig + (v6 ? 8 : 12), v6 ? 16 : 4);
	memcpy(dst, orig + (v6 ? 24 : 16), v6 ? 16 : 4);

	uint8_t *eth = orig - hdrs;
	pkt->headroom = (uint16_t)(pkt->headroom + pkt->l3_off - hdrs);
	pkt->data = eth;
	pkt->len = (uint16_t)(hdrs + quote);
	pkt->l3_off = ETH_HLEN;
	memcpy(eth, smac, 6);
	memcpy(eth + 6, r->cfg.mac, 6);
	vr_wr16(eth + 12, v6 ? ETH_P_IPV6 : ETH_P_IPV4);
	uint8_t *ip = eth + ETH_HLEN;
	uint8_t *icmp = ip + (v6 ? 40 : 20);
	icmp[0] = type;
	icmp[1] = code;
	vr_wr16(icmp + 2, 0);
	vr_wr32(icmp + 4, info);
	if (v6) {
		vr_wr32(ip, 0x60000000);
		vr_wr16(ip + 4, (uint16_t)(8 + quote));
		ip[6] = 58;
		ip[7] = 64;
		memcpy(ip + 8, dst, 16);
		memcpy(ip + 24, src, 16);
		vr_wr16(icmp + 2, vr_ipv6_l4_csum(ip, icmp, 8 + quote, 58));
	} else {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		vr_wr16(ip + 2, (uint16_t)(20 + 8 + quote));
		ip[8] = 64;
		ip[9] = 1;
		memcpy(ip + 12, dst, 4);
		memcpy(ip + 16, src, 4);
		vr_wr16(ip + 10, vr_ipv4_csum(ip, 20));
		vr_wr16(icmp + 2, vr_csum_fold(vr_csum_partial(icmp, 8 + quote, 0)));
	}
	r->ops->tx(r->host, pkt->in_vif, pkt);
}

/* Decrement TTL / hop limit of a routed packet. false: it expired (handled).
 * Inline in both outputs: a dozen instructions, the error out of line. */
static inline __attribute__((always_inline)) bool
ttl_decrement(struct vr_router *r, struct vr_pkt *pkt)
{
	uint8_t *ip = pkt->data + pkt->l3_off;
	if (pkt->l3 == 4) {
		if (ip[8] <= 1) {
			icmp_error(r, pkt, 11, 0, 0, VR_DROP_TTL_EXCEEDED);
			return false;
		}
		ip[8]--;
		/* RFC 1624 incremental update: TTL is the high byte of its 16-bit word. */
		uint32_t sum = (uint32_t)vr_rd16(ip + 10) + 0x0100;
		vr_wr16(ip + 10, (uint16_t)((sum & 0xffff) + (sum >> 16)));
	} else {
		if (ip[7] <= 1) {
			icmp_error(r, pkt, 3, 0, 0, VR_DROP_TTL_EXCEEDED);
			return false;
		}
		ip[7]--;
	}
	return true;
}

/* Put an Ethernet header right before the IP header. */
static bool eth_rewrite(struct vr_pkt *pkt, const uint8_t *dmac, const uint8_t *smac)
{
	if (pkt->l3_off < ETH_HLEN) {
		if (!vr_pkt_push(pkt, (uint16_t)(ETH_HLEN - pkt->l3_off)))
			return false;
	} else if (pkt->l3_off > ETH_HLEN) {
		vr_pkt_pull(pkt, (uint16_t)(pkt->l3_off - ETH_HLEN));
	}
	pkt->l3_off = ETH_HLEN;
	memcpy(pkt->data, dmac, 6);
	memcpy(pkt->data + 6, smac, 6);
	vr_wr16(pkt->data + 12, pkt->l3 == 4 ? ETH_P_IPV4 : ETH_P_IPV6);
	return true;
}

static void output_local(struct vr_router *r, struct vr_pkt *pkt, const struct vr_nh *nh)
{
	if (!(pkt->flags & VR_PF_L2)) {
		if ((pkt->flags & VR_PF_ROUTED) && !ttl_decrement(r, pkt))
			return;
		if (!eth_rewrite(pkt, nh->cfg.dmac, r->cfg.mac)) {
			vr_pkt_drop(r, pkt, VR_DROP_NO_HEADROOM);
			return;
		}
	}
	r->ops->tx(r->host, (uint16_t)nh->cfg.vif, pkt);
}

static void output_receive(struct vr_router *r, struct vr_pkt *pkt)
{
	const struct vr_vif *host = r->host_vif >= 0 ? vr_vif_get(r, (uint32_t)r->host_vif) : NULL;
	if (!host) {
		vr_pkt_drop(r, pkt, VR_DROP_NO_HOST_VIF);
		return;
	}
	if (!(pkt->flags & VR_PF_L2) && !eth_rewrite(pkt, host->cfg.mac, r->cfg.mac)) {
		vr_pkt_drop(r, pkt, VR_DROP_NO_HEADROOM);
		return;
	}
	r->ops->tx(r->host, (uint16_t)r->host_vif, pkt);
}

/* The prebuilt headers in front of the packet: 32 to 64 bytes (IPv4 outer)
 * as two overlapping 32-byte copies, no size cascade; longer ones (IPv6
 * outer) by rte_memcpy. The template is VR_TUNNEL_HDR_MAX long, so reading
 * 32 bytes from its start is always in bounds. */
static inline __attribute__((always_inline)) void hdr_copy(uint8_t *dst, const uint8_t *src,
							   uint16_t n)
{
	typedef uint8_t v16 __attribute__((vector_size(16), aligned(1), may_alias));
	if (likely((uint16_t)(n - 32) <= 32)) {
		v16 a0 = *(const v16 *)src, a1 = *(const v16 *)(src + 16);
		v16 b0 = *(const v16 *)(src + n - 32), b1 = *(const v16 *)(src + n - 16);
		*(v16 *)dst = a0;
		*(v16 *)(dst + 16) = a1;
		*(v16 *)(dst + n - 32) = b0;
		*(v16 *)(dst + n - 16) = b1;
	} else {
		rte_memcpy(dst, src, n);
	}
}

static inline __attribute__((always_inline)) void
output_tunnel(struct vr_router *r, struct vr_pkt *pkt, const struct vr_nh *nh)
{
	const struct vr_obj_nh *c = &nh->cfg;
	uint16_t push = nh->hdr_len, strip = 0;

	if (!(pkt->flags & VR_PF_L2)) {
		/* The MTU check first: an ICMP error quotes the packet as the pod sent it. */
		if (unlikely((uint32_t)(pkt->len - pkt->l3_off) > nh->ip_room)) {
			const uint8_t *ip = pkt->data + pkt->l3_off;
			uint32_t room = nh->ip_room;
			if (pkt->l3 == 6)
				icmp_error(r, pkt, 2, 0, room, VR_DROP_FRAG_NEEDED);
			else if (vr_rd16(ip + 6) & 0x4000)
				icmp_error(r, pkt, 3, 4, room & 0xffff, VR_DROP_FRAG_NEEDED);
			else
				vr_pkt_drop(r, pkt, VR_DROP_FRAG_NEEDED);
			return;
		}
		if ((pkt->flags & VR_PF_ROUTED) && !ttl_decrement(r, pkt))
			return;
		if (!pkt->hash)
			pkt->hash = vr_flow_hash_routed(pkt);
		/* From the IP header on; the template brings the inner Ethernet
		 * header VXLAN needs. */
		strip = pkt->l3_off;
		push = (uint16_t)(push + nh->inner_eth);
		pkt->l3_off = nh->inner_eth;
	} else if (!pkt->hash) {
		/* Bridged frame: spread by the inner IP flow when there is one. */
		uint16_t t = vr_rd16(pkt->data + 12);
		pkt->l3 = t == ETH_P_IPV4 ? 4 : t == ETH_P_IPV6 ? 6 : 0;
		pkt->l3_off = ETH_HLEN;
		pkt->hash = vr_flow_hash(pkt);
	}
	/* strip the bytes before the IP header and push the headers in one step */
	if (unlikely(pkt->headroom + strip < push)) {
		vr_pkt_drop(r, pkt, VR_DROP_NO_HEADROOM);
		return;
	}
	uint8_t *h = pkt->data + strip - push;
	uint16_t len = (uint16_t)(pkt->len - strip + push);
	pkt->data = h;
	pkt->headroom = (uint16_t)(pkt->headroom + strip - push);
	pkt->len = len;
	hdr_copy(h, nh->hdr, push);
	if (push != nh->hdr_len)
		vr_wr16(h + push - 2, pkt->l3 == 4 ? ETH_P_IPV4 : ETH_P_IPV6);
	uint8_t *ip = h + ETH_HLEN;
	/* RFC 7510 §3: the source port from the flow's entropy, in 49152-65535. */
	uint16_t sport = (uint16_t)(0xc000 | (pkt->hash & 0x3fff));
	if (likely(nh->udp4)) {
		uint16_t tot = (uint16_t)(len - ETH_HLEN);
		vr_wr16(ip + 2, tot);
		vr_wr16(ip + 10, vr_csum_fold(nh->ip_csum_base + tot));
		vr_wr16(ip + 20, sport);
		vr_wr16(ip + 24, (uint16_t)(tot - 20));
	} else if (c->dip.family == 6) {
		uint16_t l4 = ETH_HLEN + 40;
		vr_wr16(ip + 4, (uint16_t)(len - l4));
		if (c->encap != VR_ENCAP_MPLSOGRE) {
			uint8_t *udp = h + l4;
			vr_wr16(udp, sport);
			vr_wr16(udp + 4, (uint16_t)(len - l4));
			/* IPv6 needs a UDP checksum (RFC 8200 §8.1) */
			vr_wr16(udp + 6, vr_ipv6_l4_csum(ip, udp, (uint32_t)(len - l4), 17));
		}
	} else { /* MPLSoGRE in IPv4 */
		uint16_t tot = (uint16_t)(len - ETH_HLEN);
		vr_wr16(ip + 2, tot);
		vr_wr16(ip + 10, vr_csum_fold(nh->ip_csum_base + tot));
	}
	r->ops->tx(r->host, (uint16_t)c->vif, pkt);
}

/* For one packet with a resolved (non-composite) nexthop: rewrite or
 * encapsulate and transmit, or drop. Inline in the stage's loop: the call
 * and the registers it saved cost ~15 instructions a packet. */
static inline __attribute__((always_inline)) void
nh_output(struct vr_router *r, struct vr_pkt *pkt, const struct vr_nh *nh)
{
	if (likely(nh->cfg.type == VR_NH_TUNNEL)) { /* the common case first: one test */
		output_tunnel(r, pkt, nh);
		return;
	}
	switch (nh->cfg.type) {
	case VR_NH_ENCAP:
		output_local(r, pkt, nh);
		break;
	case VR_NH_TUNNEL:
		output_tunnel(r, pkt, nh);
		break;
	case VR_NH_RECEIVE:
		output_receive(r, pkt);
		break;
	case VR_NH_DISCARD:
		vr_pkt_drop(r, pkt, VR_DROP_DISCARD_NH);
		break;
	default: /* a composite member that is itself composite: refused at add */
		vr_pkt_drop(r, pkt, VR_DROP_NO_NH);
		break;
	}
}

/* Ingress replication: a copy to every member but the way the packet came. */
static void flood(struct vr_router *r, struct vr_pkt *pkt, const struct vr_nh *nh)
{
	for (unsigned i = 0; i < nh->cfg.n_members; i++) {
		const struct vr_nh *m = vr_nh_get(r, nh->cfg.members[i]);
		if (!m)
			continue;
		/* Split horizon: the sending node replicated to every node already. */
		if (m->cfg.type == VR_NH_TUNNEL && (pkt->flags & VR_PF_FABRIC))
			continue;
		if (m->cfg.type == VR_NH_ENCAP && m->cfg.vif == pkt->in_vif)
			continue;
		struct vr_pkt *c = r->ops->copy(r->host, pkt, VR_TUNNEL_HDR_MAX + ETH_HLEN);
		if (!c) {
			r->drops[VR_DROP_NO_MEMORY]++;
			continue;
		}
		nh_output(r, c, m);
	}
	r->ops->free(r->host, pkt); /* the original only served as the copies' source */
}

void vr_stage_nexthop(struct vr_router *r, struct vr_pkt **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		if (!pkt || pkt->kind != VR_K_NH)
			continue;
		pkts[i] = NULL;
		const struct vr_nh *nh = vr_nh_get(r, pkt->nh);
		if (likely(nh && nh->cfg.type == VR_NH_TUNNEL)) { /* the common case: one test */
			output_tunnel(r, pkt, nh);
			continue;
		}
		if (nh && nh->cfg.type == VR_NH_ECMP) {
			if (!pkt->hash)
				pkt->hash = vr_flow_hash(pkt);
			nh = vr_nh_get(r, nh->cfg.members[pkt->hash % nh->cfg.n_members]);
		}
		if (!nh) {
			vr_pkt_drop(r, pkt, VR_DROP_NO_NH);
			continue;
		}
		if (nh->cfg.type == VR_NH_FLOOD)
			flood(r, pkt, nh);
		else
			nh_output(r, pkt, nh);
	}
}
