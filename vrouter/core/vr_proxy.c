/*
 * DOC: vr_proxy.c — the ARP and neighbour-discovery proxy.
 *
 * As Tungsten Fabric's vrouter does, pods never resolve each other: the
 * vrouter answers an ARP request or neighbour solicitation from a pod for any
 * address it has a route to in the pod's VRF (the subnet gateway included),
 * with its own MAC, or with the route's MAC when one is set. In an L2 VRF it
 * answers only for routes marked proxy-arp and lets the rest flood. On the
 * fabric it answers for the node's tunnel address. The reply is written over
 * the request and sent back out the vif it came in on.
 */
#include "vr_internal.h"

#define ARP_LEN 28
#define ND_NS_LEN 24 /* ICMPv6 header, reserved, target */
#define ND_OPT_LEN 8

enum proxy_verdict { PROXY_REPLY, PROXY_PASS, PROXY_DROP };

/* Should the vrouter answer for addr in this packet's VRF? Fills mac. */
static enum proxy_verdict proxy_decide(struct vr_router *r, const struct vr_pkt *pkt,
				       uint8_t family, const uint8_t *addr, uint8_t *mac)
{
	const struct vr_vif *in = vr_vif_get(r, pkt->in_vif);
	if (pkt->flags & VR_PF_FABRIC) {
		size_t alen = family == 4 ? 4 : 16;
		if (in->cfg.ip.family == family && memcmp(in->cfg.ip.a, addr, alen) == 0) {
			memcpy(mac, in->cfg.mac, 6);
			return PROXY_REPLY;
		}
		return PROXY_PASS; /* the kernel's neighbours, via the host vif */
	}
	const struct vr_vrf *vrf = &r->vrfs[pkt->vrf];
	bool l2 = (vrf->flags & VR_VRF_F_L2) && !(pkt->flags & VR_PF_HOST);
	const struct vr_route *rt = vr_route_lookup(r, pkt->vrf, family, addr);
	const struct vr_nh *nh = rt ? vr_nh_get(r, rt->nh) : NULL;
	if ((!nh || nh->cfg.type == VR_NH_DISCARD) && vr_nat_owns(r, pkt->vrf, family, addr)) {
		memcpy(mac, r->cfg.mac, 6); /* a service's VIP or a floating IP: the NAT stage's */
		return PROXY_REPLY;
	}
	if (!nh || nh->cfg.type == VR_NH_DISCARD || (l2 && !(rt->flags & VR_RT_F_PROXY_ARP)))
		return l2 || (pkt->flags & VR_PF_HOST) ? PROXY_PASS : PROXY_DROP;
	/* A pod asking for its own address (duplicate detection) gets no answer. */
	if (nh->cfg.type == VR_NH_ENCAP && nh->cfg.vif == pkt->in_vif)
		return PROXY_DROP;
	memcpy(mac, vr_mac_is_zero(rt->mac) ? r->cfg.mac : rt->mac, 6);
	return PROXY_REPLY;
}

static enum vr_drop_reason arp_reply(struct vr_router *r, struct vr_pkt *pkt, enum proxy_verdict *v)
{
	uint8_t *eth = pkt->data;
	uint8_t *arp = eth + ETH_HLEN;
	*v = PROXY_DROP;
	if (pkt->len < ETH_HLEN + ARP_LEN || vr_rd16(arp) != 1 || vr_rd16(arp + 2) != ETH_P_IPV4 ||
	    arp[4] != 6 || arp[5] != 4)
		return VR_DROP_ARP_INVALID;
	uint16_t op = vr_rd16(arp + 6);
	uint8_t spa[4], tpa[4], mac[6];
	memcpy(spa, arp + 14, 4);
	memcpy(tpa, arp + 24, 4);
	/* Replies, gratuitous ARP and probes (sender 0.0.0.0) are not questions to answer. */
	if (op != 1 || !memcmp(spa, tpa, 4) || !(spa[0] | spa[1] | spa[2] | spa[3])) {
		*v = (pkt->flags & (VR_PF_FABRIC | VR_PF_HOST)) || (r->vrfs[pkt->vrf].flags & VR_VRF_F_L2)
			     ? PROXY_PASS : PROXY_DROP;
		return VR_DROP_ARP_NOT_ME;
	}
	*v = proxy_decide(r, pkt, 4, tpa, mac);
	if (*v != PROXY_REPLY)
		return VR_DROP_ARP_NOT_ME;
	memcpy(eth, eth + 6, 6);        /* to the asker */
	memcpy(eth + 6, mac, 6);
	vr_wr16(arp + 6, 2);
	memcpy(arp + 18, arp + 8, 6);   /* target hardware = asker */
	memcpy(arp + 24, spa, 4);
	memcpy(arp + 8, mac, 6);
	memcpy(arp + 14, tpa, 4);
	pkt->len = ETH_HLEN + ARP_LEN;
	return VR_DROP_NONE;
}

static enum vr_drop_reason nd_reply(struct vr_router *r, struct vr_pkt *pkt, enum proxy_verdict *v)
{
	uint8_t *eth = pkt->data;
	uint8_t *ip = eth + pkt->l3_off;
	uint8_t *icmp = ip + 40;
	uint8_t target[16], mac[6];
	static const uint8_t unspec[16];
	*v = PROXY_DROP;
	/* RFC 4861 §7.1.1: hop limit 255, code 0. */
	if (ip[7] != 255 || icmp[1] != 0)
		return VR_DROP_ND_NOT_ME;
	memcpy(target, icmp + 8, 16);
	if (!memcmp(ip + 8, unspec, 16)) { /* duplicate address detection */
		*v = (pkt->flags & (VR_PF_FABRIC | VR_PF_HOST)) ? PROXY_PASS : PROXY_DROP;
		return VR_DROP_ND_NOT_ME;
	}
	*v = proxy_decide(r, pkt, 6, target, mac);
	if (*v != PROXY_REPLY)
		return VR_DROP_ND_NOT_ME;
	uint16_t new_len = (uint16_t)(pkt->l3_off + 40 + ND_NS_LEN + ND_OPT_LEN);
	if (new_len > pkt->len && new_len - pkt->len > pkt->tailroom) {
		*v = PROXY_DROP;
		return VR_DROP_NO_HEADROOM;
	}
	pkt->tailroom = (uint16_t)(pkt->tailroom + pkt->len - new_len);
	pkt->len = new_len;
	memcpy(eth, eth + 6, 6);
	memcpy(eth + 6, mac, 6);
	memcpy(ip + 24, ip + 8, 16);    /* to the asker */
	memcpy(ip + 8, target, 16);     /* from the address asked for */
	vr_wr16(ip + 4, ND_NS_LEN + ND_OPT_LEN);
	ip[7] = 255;
	icmp[0] = 136;                  /* neighbour advertisement */
	icmp[1] = 0;
	vr_wr16(icmp + 2, 0);
	/* Router (we route for the pod), solicited, override. */
	icmp[4] = (pkt->flags & VR_PF_FABRIC) ? 0x60 : 0xe0;
	icmp[5] = icmp[6] = icmp[7] = 0;
	icmp[24] = 2;                   /* target link-layer address option */
	icmp[25] = 1;
	memcpy(icmp + 26, mac, 6);
	vr_wr16(icmp + 2, vr_ipv6_l4_csum(ip, icmp, ND_NS_LEN + ND_OPT_LEN, 58));
	return VR_DROP_NONE;
}

void vr_stage_proxy(struct vr_router *r, struct vr_pkt **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		if (!pkt || (pkt->kind != VR_K_ARP && pkt->kind != VR_K_ND))
			continue;
		enum proxy_verdict v;
		enum vr_drop_reason why = pkt->kind == VR_K_ARP ? arp_reply(r, pkt, &v) : nd_reply(r, pkt, &v);
		switch (v) {
		case PROXY_REPLY:
			pkt->out_vif = pkt->in_vif;
			pkt->kind = VR_K_TX;
			break;
		case PROXY_PASS:
			/* Not ours: the fabric's go to the kernel, the kernel's to the
			 * fabric, a pod's flood in its L2 VRF. */
			if (pkt->flags & VR_PF_FABRIC) {
				pkt->kind = VR_K_HOST;
			} else if (pkt->flags & VR_PF_HOST) {
				pkt->kind = VR_K_FABRIC;
			} else {
				pkt->kind = VR_K_BRIDGE;
				pkt->flags |= VR_PF_L2;
			}
			break;
		case PROXY_DROP:
			vr_pkt_drop(r, pkt, why);
			pkts[i] = NULL;
			break;
		}
	}
}
