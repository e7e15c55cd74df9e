/*
 * DOC: vr_lookup.c — route and bridge lookups for a whole burst at once.
 * Packets are gathered by table (IPv4 FIB, IPv6 FIB, bridge), looked up in
 * bulk, and scattered back with their nexthop (kind VR_K_NH).
 */
#include "vr_internal.h"

static void lookup_routes(struct vr_router *r, struct vr_pkt **pkts, uint16_t n, uint8_t family)
{
	uint16_t idx[VR_BURST], vrf[VR_BURST];
	const uint8_t *addr[VR_BURST];
	const struct vr_route *rt[VR_BURST];
	unsigned m = 0;
	unsigned dst_off = family == 4 ? 16 : 24;

	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		if (!pkt || pkt->kind != VR_K_ROUTE || pkt->l3 != family)
			continue;
		idx[m] = i;
		vrf[m] = pkt->vrf;
		addr[m] = pkt->data + pkt->l3_off + dst_off;
		m++;
	}
	if (!m)
		return;
	vr_route_lookup_bulk(r, family, vrf, addr, rt, m);
	for (unsigned j = 0; j < m; j++) {
		struct vr_pkt *pkt = pkts[idx[j]];
		if (!rt[j] && (pkt->flags & VR_PF_HOST)) {
			pkt->kind = VR_K_FABRIC; /* the node's own traffic: underlay */
			continue;
		}
		if (!rt[j]) {
			vr_pkt_drop(r, pkt, VR_DROP_NO_ROUTE);
			pkts[idx[j]] = NULL;
			continue;
		}
		pkt->nh = rt[j]->nh;
		pkt->kind = VR_K_NH;
	}
}

static void lookup_bridge(struct vr_router *r, struct vr_pkt **pkts, uint16_t n)
{
	uint16_t idx[VR_BURST], vrf[VR_BURST];
	const uint8_t *mac[VR_BURST];
	uint32_t nh[VR_BURST];
	unsigned m = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		if (!pkt || pkt->kind != VR_K_BRIDGE)
			continue;
		if (vr_mac_is_mcast(pkt->data)) { /* broadcast, unknown multicast: flood */
			pkt->nh = r->vrfs[pkt->vrf].flood_nh;
			pkt->kind = VR_K_NH;
			if (!pkt->nh) {
				vr_pkt_drop(r, pkt, VR_DROP_NO_BRIDGE_ENTRY);
				pkts[i] = NULL;
			}
			continue;
		}
		idx[m] = i;
		vrf[m] = pkt->vrf;
		mac[m] = pkt->data;
		m++;
	}
	if (!m)
		return;
	vr_bridge_lookup_bulk(r, vrf, mac, nh, m);
	for (unsigned j = 0; j < m; j++) {
		struct vr_pkt *pkt = pkts[idx[j]];
		pkt->nh = nh[j] ? nh[j] : r->vrfs[pkt->vrf].flood_nh; /* unknown unicast floods */
		pkt->kind = VR_K_NH;
		if (!pkt->nh) {
			vr_pkt_drop(r, pkt, VR_DROP_NO_BRIDGE_ENTRY);
			pkts[idx[j]] = NULL;
		}
	}
}

void vr_stage_lookup(struct vr_router *r, struct vr_pkt **pkts, uint16_t n)
{
	lookup_routes(r, pkts, n, 4);
	lookup_routes(r, pkts, n, 6);
	lookup_bridge(r, pkts, n);
}
