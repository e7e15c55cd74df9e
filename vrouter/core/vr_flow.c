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
 * Policies (vr_policy.c, rte_acl) decide a new flow once: the source vif's
 * policy_out chain, then the local destination vif's policy_in chain (each
 * policy of a chain must pass the flow, the first deny decides); both directions
 * share the verdict, so replies need no rule. Denied flows stay in the table
 * (their packets are dropped under POLICY_DENY, counted for the rule). When a
 * policy or a vif's policies change, every flow is decided again by an
 * incremental scan like ageing. Only packets from or to a vif with a policy
 * (or flagged `policy`) go through the table.
 */
#include "vr_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

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
		.hash_func = rte_hash_crc, .socket_id = r->cfg.socket_id,
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
	/* The table's size is fixed at start: take its pages now, not one page
	 * fault at a time while flows are being set up (several us each in a VM). */
	volatile uint8_t *page = (volatile uint8_t *)ft->flows;
	for (size_t off = 0; off < (size_t)ft->max * sizeof(*ft->flows); off += 4096)
		page[off] = 0;
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
bool vr_flow_key_of(const struct vr_pkt *pkt, struct vr_flow_key *k)
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

void vr_flow_reverse_key(const struct vr_flow_key *k, struct vr_flow_key *rk)
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

void vr_flow_free_pair(struct vr_flows *ft, uint32_t idx)
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

uint32_t vr_flow_sig(const struct vr_router *r, const struct vr_flow_key *k)
{
	return rte_hash_hash(r->flow.hash, k);
}

uint32_t vr_flow_create(struct vr_router *r, const struct vr_flow_key *k, uint32_t ksig,
			const struct vr_flow_key *rk, enum vr_drop_reason *why)
{
	struct vr_flows *ft = &r->flow;
	*why = VR_DROP_FLOW_TABLE_FULL;
	if (ft->n_free < 2)
		return UINT32_MAX;
	/* the reply's key belongs to another flow (a translated connection met one
	 * of its own): refuse rather than take it over */
	hash_sig_t rsig = rte_hash_hash(ft->hash, rk);
	if (rte_hash_lookup_with_hash(ft->hash, rk, rsig) >= 0) {
		*why = VR_DROP_NAT_CONFLICT;
		return UINT32_MAX;
	}
	uint32_t fi = ft->free_idx[--ft->n_free];
	uint32_t ri = ft->free_idx[--ft->n_free];
	if (rte_hash_add_key_with_hash_data(ft->hash, k, ksig, (void *)(uintptr_t)fi) < 0) {
		ft->n_free += 2;
		return UINT32_MAX;
	}
	if (rte_hash_add_key_with_hash_data(ft->hash, rk, rsig, (void *)(uintptr_t)ri) < 0) {
		rte_hash_del_key_with_hash(ft->hash, k, ksig);
		ft->n_free += 2;
		return UINT32_MAX;
	}
	struct vr_flow *f = &ft->flows[fi], *rf = &ft->flows[ri];
	memset(f, 0, sizeof(*f));
	memset(rf, 0, sizeof(*rf));
	f->key = *k;
	rf->key = *rk;
	f->reverse = ri;
	rf->reverse = fi;
	f->used = rf->used = 1;
	f->out_vif = rf->out_vif = rf->in_vif = VR_VIF_NONE;
	f->state = rf->state = k->proto == 6 ? VR_FS_NEW : VR_FS_OTHER;
	f->first_ms = rf->first_ms = f->last_ms = rf->last_ms = r->now_ms;
	ft->n_used += 2;
	ft->created++;
	return fi;
}

/* The local vif a resolved packet goes to, or NULL (tunnel, host, flood...).
 * An ECMP nexthop is resolved the way the nexthop stage will (same hash). */
static const struct vr_vif *dest_vif(const struct vr_router *r, struct vr_pkt *pkt)
{
	const struct vr_nh *nh = vr_nh_get(r, pkt->nh);
	if (nh && nh->cfg.type == VR_NH_ECMP) {
		if (!pkt->hash)
			pkt->hash = vr_flow_hash(pkt);
		nh = vr_nh_get(r, nh->cfg.members[pkt->hash % nh->cfg.n_members]);
	}
	return nh && nh->cfg.type == VR_NH_ENCAP ? vr_vif_get(r, nh->cfg.vif) : NULL;
}

/* Both directions carry the verdict. */
static void set_verdict(struct vr_flows *ft, struct vr_flow *f, uint8_t action, uint16_t policy,
			uint16_t rule_idx, uint32_t rule_id)
{
	struct vr_flow *rf = &ft->flows[f->reverse];
	f->action = rf->action = action;
	f->policy = rf->policy = policy;
	f->rule_idx = rf->rule_idx = rule_idx;
	f->rule_id = rf->rule_id = rule_id;
}

/* The policy of phase 0 (the source vif's policy_out) or phase 1 (the
 * destination vif's policy_in) for a flow; 0 none. */
static uint32_t phase_policy(const struct vr_router *r, const struct vr_flow *f, int phase)
{
	const struct vr_vif *v = vr_vif_get(r, phase ? f->out_vif : f->in_vif);
	return v ? (phase ? v->cfg.policy_in : v->cfg.policy_out) : 0;
}

/* The tuple a policy sees for an initiator flow: its own, with the
 * destination a service or floating IP translated it to (as a firewall after
 * destination NAT and before source NAT would). */
static void policy_key(const struct vr_flows *ft, const struct vr_flow *f, struct vr_flow_key *k)
{
	*k = f->key;
	if (f->nat & VR_NAT_DST) {
		const struct vr_flow_key *rk = &ft->flows[f->reverse].key;
		memcpy(k->dst, rk->src, 16);
		k->dport = rk->sport;
	}
}

#define VR_FLOW_LOG_PER_S 100

/* A new flow decided by a rule with the log flag: one line, rate-limited. */
static void flow_log(struct vr_router *r, const struct vr_flow *f, const struct vr_policy *p,
		     uint32_t ri, uint8_t act)
{
	struct vr_flows *ft = &r->flow;
	uint64_t sec = r->now_ms / 1000;
	if (sec != ft->log_sec) {
		if (ft->log_in_sec > VR_FLOW_LOG_PER_S)
			TLOG_INFO(r->log, "flow log: %u line(s) suppressed in the last second",
				  ft->log_in_sec - VR_FLOW_LOG_PER_S);
		ft->log_sec = sec;
		ft->log_in_sec = 0;
	}
	if (++ft->log_in_sec > VR_FLOW_LOG_PER_S) {
		ft->log_suppressed++;
		return;
	}
	ft->logged++;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int af = f->key.family == 4 ? AF_INET : AF_INET6;
	inet_ntop(af, f->key.src, s, sizeof(s));
	inet_ntop(af, f->key.dst, d, sizeof(d));
	TLOG_INFO(r->log, "flow vrf %u proto %u %s%s%s:%u -> %s%s%s:%u vif %u: %s by policy %u rule %u",
		  f->key.vrf, f->key.proto, af == AF_INET6 ? "[" : "", s, af == AF_INET6 ? "]" : "",
		  f->key.sport, af == AF_INET6 ? "[" : "", d, af == AF_INET6 ? "]" : "", f->key.dport,
		  f->in_vif, vr_action_name(act), p->id, p->rules[ri].id);
}

/*
 * Decide n (<= VR_BURST) initiator flows: the chain of the source vif's
 * policy_out, then, for those it passed, the chain of the destination vif's
 * policy_in. A chain passes a flow when each of its policies does (a
 * policy's next is evaluated only for the flows it passed); the first deny
 * decides and is recorded. Flows are classified in bulk, one rte_acl call per
 * (policy, family) present at each step. count: add to the rules' hit
 * counters (not for re-evaluation, which is not a new flow).
 */
static void flow_decide(struct vr_router *r, const uint32_t *fidx, unsigned n, bool count)
{
	struct vr_flows *ft = &r->flow;
	for (unsigned i = 0; i < n; i++)
		set_verdict(ft, &ft->flows[fidx[i]], VR_ACT_PASS, 0, 0, 0);
	for (int phase = 0; phase < 2; phase++) {
		uint32_t pid[VR_BURST];
		bool todo[VR_BURST];
		for (unsigned i = 0; i < n; i++) {
			const struct vr_flow *f = &ft->flows[fidx[i]];
			pid[i] = f->action == VR_ACT_PASS ? phase_policy(r, f, phase) : 0;
		}
		/* chains are at most VR_POLICY_MAX_CHAIN long (checked when added) */
		for (unsigned step = 0; step < VR_POLICY_MAX_CHAIN; step++) {
			bool any = false;
			for (unsigned i = 0; i < n; i++)
				any |= todo[i] = pid[i] != 0;
			if (!any)
				break;
			for (unsigned i = 0; i < n; i++) {
				if (!todo[i])
					continue;
				const uint32_t id = pid[i];
				const struct vr_policy *p = vr_policy_get(r, id);
				uint8_t fam = ft->flows[fidx[i]].key.family;
				const struct vr_flow_key *keys[VR_BURST];
				struct vr_flow_key eff[VR_BURST];
				unsigned which[VR_BURST], m = 0;
				uint32_t res[VR_BURST];
				for (unsigned j = i; j < n; j++)
					if (todo[j] && pid[j] == id && ft->flows[fidx[j]].key.family == fam) {
						todo[j] = false;
						pid[j] = 0;
						which[m] = j;
						policy_key(ft, &ft->flows[fidx[j]], &eff[m]);
						keys[m] = &eff[m];
						m++;
					}
				if (!p) /* a vif or a chain may only name an existing policy: defensive */
					continue;
				vr_policy_classify(p, fam, keys, res, m);
				for (unsigned k = 0; k < m; k++) {
					uint32_t ri = res[k];
					uint8_t act = ri < p->n_rules ? p->rules[ri].action : p->action;
					if (count)
						p->hits[ri]++;
					if (count && ri < p->n_rules && (p->rules[ri].flags & VR_RULE_F_LOG))
						flow_log(r, &ft->flows[fidx[which[k]]], p, ri, act);
					set_verdict(ft, &ft->flows[fidx[which[k]]], act, (uint16_t)p->id,
						    (uint16_t)ri, ri < p->n_rules ? p->rules[ri].id : 0);
					if (act == VR_ACT_PASS)
						pid[which[k]] = p->next;
				}
			}
		}
	}
}

void vr_flow_reeval_all(struct vr_router *r)
{
	r->flow.reeval_left = r->flow.max;
}

/* Drop under POLICY_DENY, counted for the rule that denied. */
static void deny(struct vr_router *r, struct vr_pkt *pkt, const struct vr_flow *f)
{
	struct vr_policy *p = vr_policy_get(r, f->policy);
	if (p && f->rule_idx <= p->n_rules) /* stale until re-evaluated after a replace */
		p->denied[f->rule_idx]++;
	vr_pkt_drop(r, pkt, VR_DROP_POLICY_DENY);
}

/*
 * The flow stage runs after the route lookup, so that the destination is
 * known: a packet goes through the flow table when its source vif or its
 * local destination vif has a policy (or the policy flag), or when the NAT
 * stage already found or made its flow (pkt->flow). The others are looked up
 * in bulk; new ones are created (both directions); undecided flows are
 * decided in bulk; then every packet is counted, tracked and passed or
 * dropped. A burst comes from one vif, so the source side is checked once.
 */
void vr_stage_flow(struct vr_router *r, const struct vr_vif *in, struct vr_pkt **pkts, uint16_t n)
{
	if (!r->n_policy_vifs && !r->nat) /* no vif wants flows, no NAT: the stage costs nothing */
		return;
	struct vr_flows *ft = &r->flow;
	struct vr_flow_key keys[VR_BURST];
	const void *kp[VR_BURST];
	void *data[VR_BURST];
	hash_sig_t sig[VR_BURST];
	uint16_t idx[VR_BURST], lidx[VR_BURST], outv[VR_BURST];
	uint32_t fl[VR_BURST], fresh[VR_BURST];
	uint64_t hits = 0;
	unsigned m = 0, nl = 0, n_new = 0;
	bool from_policy = vr_vif_wants_flows(&in->cfg);

	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		if (!pkt || pkt->kind != VR_K_NH || (pkt->flags & VR_PF_L2) ||
		    (pkt->l3 != 4 && pkt->l3 != 6))
			continue;
		const struct vr_vif *out = dest_vif(r, pkt);
		outv[m] = out ? (uint16_t)out->cfg.id : VR_VIF_NONE;
		if (pkt->flow) { /* the NAT stage found or made it */
			fl[m] = pkt->flow - 1;
			idx[m++] = i;
			continue;
		}
		if (!from_policy && !(out && vr_vif_wants_flows(&out->cfg)))
			continue;
		if (!vr_flow_key_of(pkt, &keys[nl]))
			continue;
		kp[nl] = &keys[nl];
		lidx[nl++] = (uint16_t)m;
		fl[m] = UINT32_MAX - 1; /* to look up */
		idx[m++] = i;
	}
	if (!m)
		return;
	/* each key hashed once: the lookups and the adds reuse it */
	for (unsigned j = 0; j < nl; j++)
		sig[j] = rte_hash_hash(ft->hash, &keys[j]);
	if (nl)
		rte_hash_lookup_with_hash_bulk_data(ft->hash, kp, sig, nl, &hits, data);
	unsigned made = 0;
	for (unsigned j = 0; j < nl; j++) {
		unsigned q = lidx[j];
		void *d;
		if ((hits >> j) & 1) {
			fl[q] = (uint32_t)(uintptr_t)data[j];
		} else if (made && rte_hash_lookup_with_hash_data(ft->hash, &keys[j], sig[j], &d) >= 0) {
			fl[q] = (uint32_t)(uintptr_t)d; /* an earlier packet of this burst made it */
		} else {
			struct vr_flow_key rk;
			enum vr_drop_reason why;
			vr_flow_reverse_key(&keys[j], &rk);
			fl[q] = vr_flow_create(r, &keys[j], sig[j], &rk, &why);
			made++;
			if (fl[q] == UINT32_MAX) {
				vr_pkt_drop(r, pkts[idx[q]], why);
				pkts[idx[q]] = NULL;
				continue;
			}
			struct vr_flow *f = &ft->flows[fl[q]];
			f->initiator = 1;
			f->in_vif = (uint16_t)in->cfg.id;
		}
	}
	/* Undecided flows (new here or in the NAT stage): their initiator, once. */
	for (unsigned j = 0; j < m; j++) {
		if (fl[j] == UINT32_MAX)
			continue;
		struct vr_flow *f = &ft->flows[fl[j]];
		if (f->action)
			continue;
		if (f->initiator) {
			f->out_vif = outv[j];
		} else { /* its reply came first (the initiator's packet was dropped later) */
			f = &ft->flows[f->reverse];
			f->out_vif = in->cfg.type == VR_VIF_FABRIC || in->cfg.type == VR_VIF_HOST ?
				     VR_VIF_NONE : (uint16_t)in->cfg.id;
		}
		f->action = VR_ACT_PASS; /* placeholder until decided: listed once */
		fresh[n_new++] = (uint32_t)(f - ft->flows);
	}
	if (n_new)
		flow_decide(r, fresh, n_new, true);
	for (unsigned j = 0; j < m; j++) {
		struct vr_pkt *pkt = pkts[idx[j]];
		if (fl[j] == UINT32_MAX)
			continue;
		struct vr_flow *f = &ft->flows[fl[j]];
		f->pkts++;
		f->bytes += pkt->len;
		f->last_ms = r->now_ms;
		flow_track(ft, f, pkt);
		if (f->action == VR_ACT_DENY) {
			deny(r, pkt, f);
			pkts[idx[j]] = NULL;
		}
	}
}

/* Re-evaluate up to `budget` entries of the table from where the last call
 * stopped; initiator entries are decided again in bulk. */
static void flow_reeval(struct vr_router *r, unsigned budget)
{
	struct vr_flows *ft = &r->flow;
	uint32_t batch[VR_BURST];
	unsigned nb = 0;
	while (budget-- && ft->reeval_left) {
		uint32_t i = ft->reeval_pos;
		ft->reeval_pos = ft->reeval_pos + 1 >= ft->max ? 0 : ft->reeval_pos + 1;
		ft->reeval_left--;
		struct vr_flow *f = &ft->flows[i];
		if (!f->used || !f->initiator)
			continue;
		if (f->nat && !vr_nat_flow_valid(r, f)) { /* its backend or floating IP is gone */
			vr_flow_free_pair(ft, i);
			continue;
		}
		batch[nb++] = i;
		if (nb == VR_BURST) {
			flow_decide(r, batch, nb, false);
			nb = 0;
		}
	}
	if (nb)
		flow_decide(r, batch, nb, false);
}

bool vr_flow_busy(const struct vr_router *r)
{
	return r->flow.reeval_left != 0;
}

unsigned vr_flow_age(struct vr_router *r, unsigned budget)
{
	struct vr_flows *ft = &r->flow;
	unsigned removed = 0;
	if (ft->reeval_left) /* a policy changed: 4x the ageing step, so 1M entries take < 1 s */
		flow_reeval(r, budget * 4);
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
			vr_flow_free_pair(ft, i);
			ft->aged++;
			removed += 2;
		}
	}
	return removed;
}
