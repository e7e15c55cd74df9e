/*
 * DOC: vr_lookup.c — route and bridge lookups for a whole burst at once.
 * Packets are gathered by table (IPv4 FIB, IPv6 FIB, bridge), looked up in
 * bulk, and scattered back with their nexthop (kind VR_K_NH).
 */
#include "vr_internal.h"

/* The packets at idx[0..m) with their routes (NULL: none) from the bulk lookup. */
static void routes_apply(struct vr_router *r, struct vr_pkt **pkts, const uint16_t *idx,
			 const struct vr_route *const *rt, unsigned m)
{
	for (unsigned j = 0; j < m; j++) {
		struct vr_pkt *pkt = pkts[idx[j]];
		if (likely(rt[j] != NULL)) {
			pkt->nh = rt[j]->nh;
			pkt->kind = VR_K_NH;
		} else if (pkt->flags & VR_PF_HOST) {
			pkt->kind = VR_K_FABRIC; /* the node's own traffic: underlay */
		} else {
			vr_pkt_drop(r, pkt, VR_DROP_NO_ROUTE);
			pkts[idx[j]] = NULL;
		}
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
	 * family cost ~10 instructions a packet), IPv4 already as the keys of
	 * its exact-match table; bridged frames have their own pass. */
	uint16_t idx4[VR_BURST], idx6[VR_BURST], vrf6[VR_BURST];
	uint64_t key4[VR_BURST];
	uint32_t at4[VR_BURST];
	const uint8_t *addr6[VR_BURST];
	const struct vr_route *rt[VR_BURST];
	unsigned m4 = 0, m6 = 0;
	bool bridged = false;

	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		if (!pkt)
			continue;
		if (pkt->kind == VR_K_BRIDGE) {
			bridged = true;
			continue;
		}
		if (pkt->kind != VR_K_ROUTE)
			continue;
		const uint8_t *ip = pkt->data + pkt->l3_off;
		if (likely(pkt->l3 == 4)) {
			key4[m4] = vr_route4_key(pkt->vrf, ip + 16);
			at4[m4] = vr_route4_start(r, key4[m4]);
			idx4[m4++] = i;
		} else if (pkt->l3 == 6) {
			vrf6[m6] = pkt->vrf;
			addr6[m6] = ip + 24;
			idx6[m6++] = i;
		} else { /* a stage's bug: never leaked */
			vr_pkt_drop(r, pkt, VR_DROP_BAD_IP);
			pkts[i] = NULL;
		}
	}
	if (m4) {
		vr_route4_lookup_keyed(r, key4, at4, rt, m4);
		routes_apply(r, pkts, idx4, rt, m4);
	}
	if (m6) {
		vr_route_lookup_bulk(r, 6, vrf6, addr6, rt, m6);
		routes_apply(r, pkts, idx6, rt, m6);
	}
	if (bridged)
		lookup_bridge(r, pkts, n);
}
