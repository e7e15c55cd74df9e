/*
 * DOC: vr_pipeline.c — the order of the stages. A burst goes through each
 * stage once, in one direction; a stage handles the packets of its kind and
 * leaves the others. Packets end transmitted (host ops tx) or dropped under a
 * reason.
 */
#include "vr_internal.h"

/* Packets that need no lookup: proxy replies, host <-> fabric pass-through. */
void vr_stage_tx(struct vr_router *r, struct vr_pkt **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		if (!pkt)
			continue;
		int32_t out;
		switch (pkt->kind) {
		case VR_K_TX:
			out = pkt->out_vif;
			break;
		case VR_K_HOST:
			out = r->host_vif;
			break;
		case VR_K_FABRIC:
			out = r->fabric_vif;
			break;
		default:
			/* A kind no stage took: a bug, but still counted, never leaked. */
			vr_pkt_drop(r, pkt, VR_DROP_BAD_L2);
			pkts[i] = NULL;
			continue;
		}
		if (out < 0 || !vr_vif_get(r, (uint32_t)out)) {
			vr_pkt_drop(r, pkt, VR_DROP_NO_HOST_VIF);
		} else {
			r->ops->tx(r->host, (uint16_t)out, pkt);
		}
		pkts[i] = NULL;
	}
}

#define VR_TX_KINDS (VR_KIND_BIT(VR_K_ARP) | VR_KIND_BIT(VR_K_ND) | VR_KIND_BIT(VR_K_HOST) | \
		     VR_KIND_BIT(VR_K_FABRIC) | VR_KIND_BIT(VR_K_TX))

void vr_pipeline_run(struct vr_router *r, uint16_t in_vif, struct vr_pkt **pkts, uint16_t n)
{
	const struct vr_vif *in = vr_vif_get(r, in_vif);
	if (!in) {
		for (uint16_t i = 0; i < n; i++)
			vr_pkt_drop(r, pkts[i], VR_DROP_INVALID_VIF);
		return;
	}
	while (n) {
		uint16_t m = n > VR_BURST ? VR_BURST : n;
		unsigned kinds = vr_stage_classify(r, in, pkts, m);
		if (kinds & (VR_KIND_BIT(VR_K_ARP) | VR_KIND_BIT(VR_K_ND)))
			vr_stage_proxy(r, pkts, m);
		/* before the lookup: a translated destination is routed */
		vr_stage_nat(r, in, pkts, m);
		vr_stage_lookup(r, pkts, m);
		/* after the lookup: the destination vif's policy_in is known */
		vr_stage_flow(r, in, pkts, m);
		vr_stage_nexthop(r, pkts, m);
		/* Kinds for the tx stage come from the proxy (ARP, ND), from
		 * classify (HOST, FABRIC) and, for the host vif's packets, from the
		 * lookup (FABRIC): a burst with none of them has nothing left. */
		if ((kinds & VR_TX_KINDS) || in->cfg.type == VR_VIF_HOST)
			vr_stage_tx(r, pkts, m);
		pkts += m;
		n = (uint16_t)(n - m);
	}
}
