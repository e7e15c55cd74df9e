/*
 * DOC: vr_flow.c — the flow table and the flow stage (between classification
 * and route lookup).
 *
 * A flow is one direction of a connection, keyed by VRF + 5-tuple; the first
 * packet creates both directions together, so the reply is known before it
 * arrives. Lookups are done for the whole burst at once (rte_hash bulk). The
 * table has a fixed size set at start: when it is full, new flows are dropped
 * under their own reason and existing ones keep working. Idle flows are aged
 * out by an incremental scan (a bounded number of entries per call), so the
 * table never fills with dead flows and forwarding never pauses for a sweep.
 *
 * This is the stateful base; policy evaluation (rte_acl), NAT and load
 * balancing attach to the flow's action in the next steps of the flows issue.
 * Only packets from or to a vif flagged `policy` go through the table.
 */
#include "vr_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <rte_hash.h>
#include <rte_jhash.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

int vr_flow_init(struct vr_router *r, struct vr_err *e)
{
	struct vr_flows *ft = &r->flow;
	char name[32];
	snprintf(name, sizeof(name), "flow_%lx", (unsigned long)(uintptr_t)r);
	struct rte_hash_parameters p = {
		.name = name, .entries = r->cfg.max_flows, .key_len = sizeof(struct vr_flow_key),
		.hash_func = rte_jhash, .socket_id = r->cfg.socket_id,
		/* extendable buckets: every insert succeeds up to the configured size */
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	ft->max = r->cfg.max_flows;
	ft->hash = rte_hash_create(&p);
	ft->flows = calloc(ft->max, sizeof(*ft->flows));
	ft->free_idx = malloc(ft->max * sizeof(*ft->free_idx));
	if (!ft->hash || !ft->flows || !ft->free_idx)
		return vr_errf(e, -ENOMEM, "cannot allocate the flow table (%u flows): give the EAL "
			       "more memory (-m) or lower --flows", ft->max);
	for (uint32_t i = ft->max; i > 0; i--)
		ft->free_idx[ft->n_free++] = i - 1;
	return 0;
}

void vr_flow_fini(struct vr_router *r)
{
	rte_hash_free(r->flow.hash);
	free(r->flow.flows);
	free(r->flow.free_idx);
}

uint64_t vr_flow_timeout_ms(const struct vr_flow *f)
{
	switch (f->state) {
	case VR_FS_ESTABLISHED:
		return 3600 * 1000;
	case VR_FS_CLOSED:
		return 5 * 1000;
	case VR_FS_NEW:
	case VR_FS_SYN:
	case VR_FS_FIN:
		return 30 * 1000;
	default:
		return f->key.proto == 17 ? 120 * 1000 : 30 * 1000;
	}
}

/* The key of a packet in the direction it travels. false: no key (a non-first
 * fragment, a truncated header): such packets pass the stage untracked. */
static bool flow_key(const struct vr_pkt *pkt, struct vr_flow_key *k)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint32_t avail = (uint32_t)(pkt->len - pkt->l3_off);
	uint32_t l4;
	memset(k, 0, sizeof(*k));
	k->vrf = pkt->vrf;
	k->family = pkt->l3;
	if (pkt->l3 == 4) {
		if (vr_rd16(ip + 6) & 0x1fff)
			return false;
		l4 = (uint32_t)(ip[0] & 0x0f) * 4;
		k->proto = ip[9];
		memcpy(k->src, ip + 12, 4);
		memcpy(k->dst, ip + 16, 4);
	} else if (pkt->l3 == 6) {
		l4 = 40;
		k->proto = ip[6];
		memcpy(k->src, ip + 8, 16);
		memcpy(k->dst, ip + 24, 16);
	} else {
		return false;
	}
	const uint8_t *h = ip + l4;
	switch (k->proto) {
	case 6: case 17: case 132:
		if (avail < l4 + 4)
			return false;
		k->sport = vr_rd16(h);
		k->dport = vr_rd16(h + 2);
		break;
	case 1: case 58:
		if (avail < l4 + 8)
			return false;
		/* echo request/reply: the identifier ties the two directions */
		if (h[0] == 8 || h[0] == 0 || h[0] == 128 || h[0] == 129)
			k->sport = k->dport = vr_rd16(h + 4);
		break;
	}
	return true;
}

static void reverse_key(const struct vr_flow_key *k, struct vr_flow_key *rk)
{
	*rk = *k;
	memcpy(rk->src, k->dst, 16);
	memcpy(rk->dst, k->src, 16);
	rk->sport = k->dport;
	rk->dport = k->sport;
}

/* TCP: both directions share one state. */
static void flow_track(struct vr_flows *ft, struct vr_flow *f, const struct vr_pkt *pkt)
{
	struct vr_flow *rev = &ft->flows[f->reverse];
	if (f->key.proto != 6)
		return;
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint32_t l4 = pkt->l3 == 4 ? (uint32_t)(ip[0] & 0x0f) * 4 : 40;
	if ((uint32_t)(pkt->len - pkt->l3_off) < l4 + 14)
		return;
	uint8_t fl = ip[l4 + 13];
	uint8_t st = f->state;
	if (fl & TCP_RST) {
		st = VR_FS_CLOSED;
	} else if (fl & TCP_SYN) {
		if (st == VR_FS_NEW || st == VR_FS_CLOSED)
			st = VR_FS_SYN;
	} else if (fl & TCP_FIN) {
		f->fin_seen = 1;
		st = rev->fin_seen ? VR_FS_CLOSED : VR_FS_FIN;
	} else if ((fl & TCP_ACK) && st == VR_FS_SYN) {
		st = VR_FS_ESTABLISHED;
	}
	f->state = rev->state = st;
}

static void flow_free_pair(struct vr_flows *ft, uint32_t idx)
{
	struct vr_flow *f = &ft->flows[idx];
	uint32_t ridx = f->reverse;
	struct vr_flow *rf = &ft->flows[ridx];
	rte_hash_del_key(ft->hash, &f->key);
	rte_hash_del_key(ft->hash, &rf->key);
	memset(f, 0, sizeof(*f));
	memset(rf, 0, sizeof(*rf));
	ft->free_idx[ft->n_free++] = idx;
	ft->free_idx[ft->n_free++] = ridx;
	ft->n_used -= 2;
}

/* Create both directions. Returns the forward flow, or NULL when the table is full. */
static struct vr_flow *flow_create(struct vr_router *r, const struct vr_flow_key *k)
{
	struct vr_flows *ft = &r->flow;
	struct vr_flow_key rk;
	reverse_key(k, &rk);
	/* the reverse may exist already as a stale half (a reused 5-tuple): keep it simple, refuse */
	if (ft->n_free < 2 || rte_hash_lookup(ft->hash, &rk) >= 0)
		return NULL;
	uint32_t fi = ft->free_idx[--ft->n_free];
	uint32_t ri = ft->free_idx[--ft->n_free];
	if (rte_hash_add_key_data(ft->hash, k, (void *)(uintptr_t)fi) < 0) {
		ft->n_free += 2;
		return NULL;
	}
	if (rte_hash_add_key_data(ft->hash, &rk, (void *)(uintptr_t)ri) < 0) {
		rte_hash_del_key(ft->hash, k);
		ft->n_free += 2;
		return NULL;
	}
	struct vr_flow *f = &ft->flows[fi], *rf = &ft->flows[ri];
	memset(f, 0, sizeof(*f));
	memset(rf, 0, sizeof(*rf));
	f->key = *k;
	rf->key = rk;
	f->reverse = ri;
	rf->reverse = fi;
	f->used = rf->used = 1;
	f->state = rf->state = k->proto == 6 ? VR_FS_NEW : VR_FS_OTHER;
	f->first_ms = rf->first_ms = f->last_ms = rf->last_ms = r->now_ms;
	ft->n_used += 2;
	ft->created++;
	return f;
}

/* Does this packet go through the flow table? From a policy vif, or to one. */
static bool flow_wanted(const struct vr_router *r, const struct vr_pkt *pkt)
{
	if (pkt->l3 != 4 && pkt->l3 != 6)
		return false;
	if (pkt->kind == VR_K_ROUTE) {
		const struct vr_vif *in = vr_vif_get(r, pkt->in_vif);
		return in && (in->cfg.flags & VR_VIF_F_POLICY);
	}
	if (pkt->kind == VR_K_NH && !(pkt->flags & VR_PF_L2)) {
		const struct vr_nh *nh = vr_nh_get(r, pkt->nh);
		const struct vr_vif *out = nh && nh->cfg.type == VR_NH_ENCAP ? vr_vif_get(r, nh->cfg.vif) : NULL;
		return out && (out->cfg.flags & VR_VIF_F_POLICY);
	}
	return false;
}

void vr_stage_flow(struct vr_router *r, struct vr_pkt **pkts, uint16_t n)
{
	struct vr_flows *ft = &r->flow;
	struct vr_flow_key keys[VR_BURST];
	const void *kp[VR_BURST];
	void *data[VR_BURST];
	uint16_t idx[VR_BURST];
	uint64_t hits = 0;
	unsigned m = 0;

	for (uint16_t i = 0; i < n; i++) {
		if (pkts[i] && flow_wanted(r, pkts[i]) && flow_key(pkts[i], &keys[m])) {
			kp[m] = &keys[m];
			idx[m++] = i;
		}
	}
	if (!m)
		return;
	rte_hash_lookup_bulk_data(ft->hash, kp, m, &hits, data);
	for (unsigned j = 0; j < m; j++) {
		struct vr_pkt *pkt = pkts[idx[j]];
		struct vr_flow *f;
		if ((hits >> j) & 1) {
			f = &ft->flows[(uintptr_t)data[j]];
		} else {
			/* an earlier packet of this burst may have created it */
			void *d;
			f = rte_hash_lookup_data(ft->hash, &keys[j], &d) >= 0 ? &ft->flows[(uintptr_t)d]
									    : flow_create(r, &keys[j]);
			if (!f) {
				vr_pkt_drop(r, pkt, VR_DROP_FLOW_TABLE_FULL);
				pkts[idx[j]] = NULL;
				continue;
			}
		}
		f->pkts++;
		f->bytes += pkt->len;
		f->last_ms = r->now_ms;
		flow_track(ft, f, pkt);
		if (f->action == 1) {
			vr_pkt_drop(r, pkt, VR_DROP_FLOW_DENY);
			pkts[idx[j]] = NULL;
		}
	}
}

unsigned vr_flow_age(struct vr_router *r, unsigned budget)
{
	struct vr_flows *ft = &r->flow;
	unsigned removed = 0;
	if (!ft->n_used)
		return 0;
	for (unsigned k = 0; k < budget; k++) {
		uint32_t i = ft->age_pos;
		ft->age_pos = ft->age_pos + 1 >= ft->max ? 0 : ft->age_pos + 1;
		struct vr_flow *f = &ft->flows[i];
		if (!f->used)
			continue;
		const struct vr_flow *rf = &ft->flows[f->reverse];
		uint64_t last = f->last_ms > rf->last_ms ? f->last_ms : rf->last_ms;
		if (r->now_ms - last > vr_flow_timeout_ms(f)) {
			flow_free_pair(ft, i);
			ft->aged++;
			removed += 2;
		}
	}
	return removed;
}
