/*
 * DOC: vr_classify.c — the first stage: what is this packet, and in which VRF.
 *
 * From a pod: the vif's VRF; ARP and neighbour solicitations go to the proxy,
 * IP addressed to the vrouter MAC is routed, the rest bridged (L2 VRFs).
 * From the fabric: tunnels addressed to this node are decapsulated here
 * (MPLSoUDP RFC 7510, MPLSoGRE RFC 4023, VXLAN RFC 7348) and their label or
 * VNI resolved; anything else is for the node's kernel (host vif). Bridged
 * frames, a pod's or decapsulated, keep their IP header's place (l3, l3_off)
 * when they carry IP: the flow stage applies policies to them too.
 * Every length is checked before it is read: this parses outside input.
 */
#include "vr_internal.h"

#define IP4_MIN 20
#define IP6_HLEN 40

/* Check an IP header at off; sets l3 and l3_off. Returns false when malformed.
 * Inline: every packet goes through it once, and the call cost a quarter of it. */
static inline __attribute__((always_inline)) bool
parse_ip(struct vr_pkt *pkt, uint16_t off, uint16_t ethertype)
{
	const uint8_t *ip = pkt->data + off;
	uint32_t avail = pkt->len > off ? (uint32_t)(pkt->len - off) : 0;
	if (ethertype == ETH_P_IPV4) {
		if (avail < IP4_MIN || (ip[0] >> 4) != 4)
			return false;
		uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
		uint32_t tot = vr_rd16(ip + 2);
		if (ihl < IP4_MIN || tot < ihl || tot > avail)
			return false;
		/* Trim Ethernet padding so that lengths below are the IP packet's. */
		pkt->len = (uint16_t)(off + tot);
		pkt->l3 = 4;
	} else {
		if (avail < IP6_HLEN || (ip[0] >> 4) != 6)
			return false;
		uint32_t tot = IP6_HLEN + vr_rd16(ip + 4);
		if (tot > avail)
			return false;
		pkt->len = (uint16_t)(off + tot);
		pkt->l3 = 6;
	}
	pkt->l3_off = off;
	return true;
}

static bool is_neigh_solicit(const struct vr_pkt *pkt)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	return pkt->l3 == 6 && ip[6] == 58 && pkt->len >= pkt->l3_off + IP6_HLEN + 24 &&
	       ip[IP6_HLEN] == 135;
}

/* What the packets of a burst from one vif share, read once a burst: a
 * packet's byte-wide fields are written between the uses, and a byte store
 * may alias anything, so the compiler would read these again for each. */
struct burst_ctx {
	uint32_t mac_lo;  /* the vrouter MAC's first four bytes, as memory holds them */
	uint16_t mac_hi;  /* and its last two */
	uint16_t vrf;     /* the vif's VRF */
	uint32_t mode;    /* that VRF's VR_VRF_F_* (L3 when none is set) */
};

static void burst_ctx_init(struct burst_ctx *c, const struct vr_router *r, const struct vr_vif *in)
{
	memcpy(&c->mac_lo, r->cfg.mac, 4);
	memcpy(&c->mac_hi, r->cfg.mac + 4, 2);
	c->vrf = in->cfg.vrf;
	uint32_t flags = r->vrfs[in->cfg.vrf].flags;
	c->mode = flags ? flags : VR_VRF_F_L3;
}

static inline bool to_router_mac(const struct burst_ctx *c, const uint8_t *dmac)
{
	uint32_t lo;
	uint16_t hi;
	memcpy(&lo, dmac, 4);
	memcpy(&hi, dmac + 4, 2);
	return lo == c->mac_lo && hi == c->mac_hi;
}

static enum vr_drop_reason classify_pod(const struct burst_ctx *c, struct vr_pkt *pkt,
					uint16_t ethertype)
{
	uint32_t mode = c->mode;
	pkt->vrf = c->vrf;

	if (ethertype == ETH_P_ARP) {
		pkt->kind = VR_K_ARP;
		return VR_DROP_NONE;
	}
	if (ethertype == ETH_P_IPV4 || ethertype == ETH_P_IPV6) {
		if (!parse_ip(pkt, ETH_HLEN, ethertype))
			return VR_DROP_BAD_IP;
		if (is_neigh_solicit(pkt)) {
			pkt->kind = VR_K_ND;
			return VR_DROP_NONE;
		}
		bool to_router = to_router_mac(c, pkt->data);
		if ((mode & VR_VRF_F_L3) && (to_router || !(mode & VR_VRF_F_L2))) {
			if (vr_mac_is_mcast(pkt->data))
				return VR_DROP_MCAST;
			pkt->kind = VR_K_ROUTE;
			pkt->flags |= VR_PF_ROUTED;
			return VR_DROP_NONE;
		}
	}
	if (!(mode & VR_VRF_F_L2))
		return VR_DROP_BAD_L2;
	pkt->kind = VR_K_BRIDGE;
	pkt->flags |= VR_PF_L2;
	return VR_DROP_NONE;
}

/* A bridged frame from the fabric: find its IP header when it carries IP, so
 * that the flow stage sees it as it sees a pod's bridged IP (the outer
 * header's l3/l3_off no longer apply once it is pulled). Other frames are
 * bridged as they are. */
static enum vr_drop_reason parse_bridged(struct vr_pkt *pkt)
{
	uint16_t type = vr_rd16(pkt->data + 12);
	pkt->l3 = 0;
	pkt->l3_off = 0;
	if (type != ETH_P_IPV4 && type != ETH_P_IPV6)
		return VR_DROP_NONE;
	return parse_ip(pkt, ETH_HLEN, type) ? VR_DROP_NONE : VR_DROP_BAD_IP;
}

/* An MPLS label stack entry at off: one label, bottom of stack. */
static enum vr_drop_reason decap_mpls(struct vr_router *r, struct vr_pkt *pkt, uint16_t off)
{
	if (pkt->len < off + 4u + 1u)
		return VR_DROP_BAD_ENCAP;
	uint32_t lse = vr_rd32(pkt->data + off);
	if (!(lse & 0x100)) /* more than one label: not ours to pop */
		return VR_DROP_BAD_ENCAP;
	uint32_t nh_id = r->labels[lse >> 12];
	const struct vr_nh *nh = vr_nh_get(r, nh_id);
	if (!nh_id)
		return VR_DROP_NO_LABEL;
	if (!nh)
		return VR_DROP_NO_NH;
	vr_pkt_pull(pkt, (uint16_t)(off + 4));
	pkt->nh = nh_id;
	pkt->vrf = nh->cfg.vrf;
	pkt->kind = VR_K_NH;
	if (nh->cfg.flags & VR_NH_F_L2) {
		pkt->flags |= VR_PF_L2;
		return pkt->len < ETH_HLEN ? VR_DROP_SHORT_PKT : parse_bridged(pkt);
	}
	uint8_t v = pkt->data[0] >> 4;
	if ((v != 4 && v != 6) || !parse_ip(pkt, 0, v == 4 ? ETH_P_IPV4 : ETH_P_IPV6))
		return VR_DROP_BAD_IP;
	pkt->flags |= VR_PF_ROUTED;
	return VR_DROP_NONE;
}

static enum vr_drop_reason decap_vxlan(struct vr_router *r, struct vr_pkt *pkt, uint16_t off)
{
	if (pkt->len < off + 8u + ETH_HLEN || !(pkt->data[off] & 0x08))
		return VR_DROP_BAD_ENCAP;
	uint32_t vni = vr_rd32(pkt->data + off + 4) >> 8;
	uint16_t vrf;
	if (vr_vni_lookup(r, vni, &vrf) < 0)
		return VR_DROP_NO_VNI;
	vr_pkt_pull(pkt, (uint16_t)(off + 8));
	pkt->vrf = vrf;
	uint16_t type = vr_rd16(pkt->data + 12);
	if (memcmp(pkt->data, r->cfg.mac, 6) == 0 && (type == ETH_P_IPV4 || type == ETH_P_IPV6)) {
		if (!parse_ip(pkt, ETH_HLEN, type))
			return VR_DROP_BAD_IP;
		pkt->kind = VR_K_ROUTE;
		pkt->flags |= VR_PF_ROUTED;
		return VR_DROP_NONE;
	}
	pkt->kind = VR_K_BRIDGE;
	pkt->flags |= VR_PF_L2;
	return parse_bridged(pkt);
}

/* Is this outer IP packet a tunnel to us? Returns the offset of the tunnel
 * payload (label or VXLAN header) and its kind, or 0. */
static uint16_t tunnel_payload(const struct vr_vif *fab, const struct vr_pkt *pkt, uint8_t *encap)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint8_t proto;
	uint16_t l4;
	if (pkt->l3 == 4) {
		if (fab->cfg.ip.family != 4 || memcmp(ip + 16, fab->cfg.ip.a, 4) != 0)
			return 0;
		if (vr_rd16(ip + 6) & 0x3fff) /* fragments are the kernel's business */
			return 0;
		proto = ip[9];
		l4 = (uint16_t)(pkt->l3_off + (ip[0] & 0x0f) * 4);
	} else {
		if (fab->cfg.ip.family != 6 || memcmp(ip + 24, fab->cfg.ip.a, 16) != 0)
			return 0;
		proto = ip[6];
		l4 = (uint16_t)(pkt->l3_off + IP6_HLEN);
	}
	if (proto == 17 && pkt->len >= l4 + 8u) {
		uint16_t dport = vr_rd16(pkt->data + l4 + 2);
		*encap = dport == UDP_PORT_MPLS ? VR_ENCAP_MPLSOUDP
		       : dport == UDP_PORT_VXLAN ? VR_ENCAP_VXLAN : VR_ENCAP_NONE;
		return *encap ? (uint16_t)(l4 + 8) : 0;
	}
	if (proto == IPPROTO_GRE_ && pkt->len >= l4 + 4u) {
		/* Plain GRE only: no checksum, key or sequence number (RFC 4023 needs none). */
		if (vr_rd16(pkt->data + l4) != 0 || vr_rd16(pkt->data + l4 + 2) != ETH_P_MPLS)
			return 0;
		*encap = VR_ENCAP_MPLSOGRE;
		return (uint16_t)(l4 + 4);
	}
	return 0;
}

static enum vr_drop_reason classify_fabric(struct vr_router *r, const struct vr_vif *in,
					   struct vr_pkt *pkt, uint16_t ethertype)
{
	pkt->flags |= VR_PF_FABRIC;
	pkt->vrf = in->cfg.vrf;
	if (ethertype == ETH_P_ARP) {
		pkt->kind = VR_K_ARP; /* the proxy answers for the fabric address, passes the rest */
		return VR_DROP_NONE;
	}
	if ((ethertype == ETH_P_IPV4 || ethertype == ETH_P_IPV6) && parse_ip(pkt, ETH_HLEN, ethertype)) {
		if (is_neigh_solicit(pkt)) {
			pkt->kind = VR_K_ND;
			return VR_DROP_NONE;
		}
		uint8_t encap = VR_ENCAP_NONE;
		uint16_t off = tunnel_payload(in, pkt, &encap);
		if (off)
			return encap == VR_ENCAP_VXLAN ? decap_vxlan(r, pkt, off) : decap_mpls(r, pkt, off);
	}
	pkt->kind = VR_K_HOST;
	return VR_DROP_NONE;
}

/* From the node's kernel (vhost0): frames to the vrouter MAC are routed in
 * the host vif's VRF (the node reaching pods), ARP goes to the proxy, the rest
 * is underlay traffic for the fabric, passed as is. */
static void classify_host(const struct burst_ctx *c, struct vr_pkt *pkt, uint16_t ethertype)
{
	pkt->vrf = c->vrf;
	pkt->flags |= VR_PF_HOST;
	pkt->kind = VR_K_FABRIC;
	if (ethertype == ETH_P_ARP) {
		pkt->kind = VR_K_ARP;
	} else if ((ethertype == ETH_P_IPV4 || ethertype == ETH_P_IPV6) &&
		   to_router_mac(c, pkt->data) && parse_ip(pkt, ETH_HLEN, ethertype)) {
		pkt->kind = VR_K_ROUTE;
		pkt->flags |= VR_PF_ROUTED;
	}
}

unsigned vr_stage_classify(struct vr_router *r, const struct vr_vif *in, struct vr_pkt **pkts,
			   uint16_t n)
{
	unsigned kinds = 0;
	struct burst_ctx c;
	burst_ctx_init(&c, r, in);
	const uint16_t in_id = (uint16_t)in->cfg.id;
	const uint8_t in_type = in->cfg.type;
	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		enum vr_drop_reason why = VR_DROP_NONE;
		pkt->in_vif = in_id;
		pkt->kind = VR_K_NONE;
		pkt->flags = 0;
		pkt->l3 = 0;
		pkt->l3_off = 0;
		pkt->hash = 0;
		pkt->nh = 0;
		pkt->flow = VR_PKT_FLOW_NONE;
		if (pkt->len < ETH_HLEN) {
			why = VR_DROP_SHORT_PKT;
		} else {
			uint16_t type = vr_rd16(pkt->data + 12);
			switch (in_type) {
			case VR_VIF_FABRIC:
				why = classify_fabric(r, in, pkt, type);
				break;
			case VR_VIF_HOST:
				classify_host(&c, pkt, type);
				break;
			default:
				why = classify_pod(&c, pkt, type);
				break;
			}
		}
		if (why != VR_DROP_NONE) {
			vr_pkt_drop(r, pkt, why);
			pkts[i] = NULL;
			continue;
		}
		kinds |= VR_KIND_BIT(pkt->kind);
	}
	return kinds;
}
