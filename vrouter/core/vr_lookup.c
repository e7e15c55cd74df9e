/*
 * DOC: vr_lookup.c — route and bridge lookups for a whole burst at once.
 * Packets are gathered by table (IPv4 FIB, IPv6 FIB, bridge), looked up in
 * bulk, and scattered back with their nexthop (kind VR_K_NH).
 */
#include "vr_internal.h"

/* The route lookups of one family: the packets at idx[0..m), their VRFs and
 * destination addresses gathered by vr_stage_lookup. */
static void lookup_routes(struct vr_router *r, struct vr_pkt **pkts, uint8_t family,
			  const uint16_t *idx, const uint16_t *vrf, const uint8_t *const *addr, unsigned m)
{
	const struct vr_route *rt[VR_BURST];

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
	/* One pass over the burst gathers both families' lookups (a pass per
	 * family cost ~10 instructions a packet); bridged frames have their own. */
	uint16_t idx[2][VR_BURST], vrf[2][VR_BURST];
	const uint8_t *addr[2][VR_BURST];
	unsigned m[2] = { 0, 0 };
	bool bridged = false;

	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		if (!pkt)
			continue;
		if (pkt->kind == VR_K_BRIDGE) {
			bridged = true;
			continue;
		}
		if (pkt->kind != VR_K_ROUTE || (pkt->l3 != 4 && pkt->l3 != 6))
			continue;
		unsigned f = pkt->l3 == 6;
		idx[f][m[f]] = i;
		vrf[f][m[f]] = pkt->vrf;
		addr[f][m[f]] = pkt->data + pkt->l3_off + (f ? 24 : 16);
		m[f]++;
	}
	lookup_routes(r, pkts, 4, idx[0], vrf[0], addr[0], m[0]);
	lookup_routes(r, pkts, 6, idx[1], vrf[1], addr[1], m[1]);
	if (bridged)
		lookup_bridge(r, pkts, n);
}
