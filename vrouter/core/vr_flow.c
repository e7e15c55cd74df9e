/*
 * DOC: vr_flow.c — the flow table and the flow stage (after the route and
 * bridge lookup).
 *
 * A flow is one direction of a connection, keyed by VRF + 5-tuple; the first
 * packet creates both directions together, so the reply is known before it
 * arrives. Lookups are done for the whole burst at once (rte_hash bulk). The
 * table has a fixed size set at start: when it is full, new flows are dropped
 * under their own reason and existing ones keep working. Idle flows are aged
 * out by an incremental scan (a bounded number of entries per call), so the
 * table never fills with dead flows and forwarding never pauses for a sweep;
 * a flush is the same scan removing everything.
 *
 * Memory: a connection is one 64-byte record (struct vr_conn: verdict, state,
 * counters of both directions) and one key per direction, stored only in the
 * key store of its family's rte_hash (IPv4: 16 bytes, IPv6: 40) and found
 * again by its position. The hash's data is the flow id (record << 1 |
 * direction), so a hit leads straight to the record and its direction. No
 * extendable buckets: a bucket pair that cannot take a key refuses it as a
 * full table would (that happens only above ~97% of the configured size).
 *
 * Policies (vr_policy.c, rte_acl) decide a new flow once: the source vif's
 * policy_out chain, then the local destination vif's policy_in chain (each
 * policy of a chain must pass the flow, the first deny decides); both directions
 * share the verdict, so replies need no rule. Denied flows stay in the table
 * (their packets are dropped under POLICY_DENY, counted for the rule). When a
 * policy or a vif's policies change, every flow is decided again by an
 * incremental scan like ageing. Only packets from or to a vif with a policy
 * (or flagged `policy`) go through the table, routed or bridged.
 */
#include "vr_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* IPv4 keys are stored as the first 8 bytes of struct vr_flow_key (vrf,
 * family, proto, ports) and the two addresses: 16 bytes, a third of the
 * working key, in a table of their own. */
#define KEY4_LEN 16

static void key4_pack(const struct vr_flow_key *k, uint8_t *out)
{
	memcpy(out, k, 8);
	memcpy(out + 8, k->src, 4);
	memcpy(out + 12, k->dst, 4);
}

/* Entries of an rte_hash for n keys. rte_hash keeps n + 1 key slots and a
 * free-slot ring rounded up to a power of two: a power-of-two n would pay for
 * a ring twice its size, so a large one gives up a slot. */
static uint32_t hash_entries(uint32_t n)
{
	return n > 4096 && !(n & (n - 1)) ? n - 1 : n;
}

static struct rte_hash *hash_make(const struct vr_router *r, const char *what, uint32_t n,
				  uint32_t key_len)
{
	char name[32];
	snprintf(name, sizeof(name), "flow%s_%lx", what, (unsigned long)(uintptr_t)r);
	/* No extendable buckets: they would cost 8 more bytes an entry; a table
	 * whose buckets are full refuses the flow as full (at 97-100% of its
	 * size, cuckoo displacement finds a slot before that). */
	struct rte_hash_parameters p = {
		.name = name, .entries = hash_entries(n), .key_len = key_len,
		.hash_func = rte_hash_crc, .socket_id = r->cfg.socket_id,
	};
	return rte_hash_create(&p);
}

int vr_flow_init(struct vr_router *r, struct vr_err *e)
{
	struct vr_flows *ft = &r->flow;
	ft->max = r->cfg.max_flows & ~1u;
	if (ft->max < 4)
		ft->max = 4;
	ft->max_conns = ft->max / 2;
	uint32_t max6 = r->cfg.max_flows6 ? r->cfg.max_flows6 : ft->max / 8;
	if (max6 < 64)
		max6 = 64;
	ft->hash[0] = hash_make(r, "4", ft->max < 64 ? 64 : ft->max, KEY4_LEN);
	ft->hash[1] = hash_make(r, "6", max6, sizeof(struct vr_flow_key));
	ft->conns = rte_zmalloc_socket("flow_conns", (size_t)ft->max_conns * sizeof(*ft->conns),
				       RTE_CACHE_LINE_SIZE, r->cfg.socket_id);
	if (!ft->hash[0] || !ft->hash[1] || !ft->conns)
		return vr_errf(e, -ENOMEM, "cannot allocate the flow table (%u flows, %u IPv6): give "
			       "the EAL more memory (-m) or lower --flows / --flows6", ft->max, max6);
	/* the free list goes through every record: this also takes the table's
	 * pages now, not one page fault at a time while flows are set up */
	for (uint32_t i = 0; i < ft->max_conns; i++)
		ft->conns[i].pos[0] = i + 1 < ft->max_conns ? i + 2 : 0;
	ft->free_head = 1;
	return 0;
}

void vr_flow_fini(struct vr_router *r)
{
	rte_hash_free(r->flow.hash[0]);
	rte_hash_free(r->flow.hash[1]);
	rte_free(r->flow.conns);
}

uint64_t vr_flow_timeout_ms(const struct vr_conn *c)
{
	switch (c->state) {
	case VR_FS_ESTABLISHED:
		return 3600 * 1000;
	case VR_FS_CLOSED:
		return 5 * 1000;
	case VR_FS_NEW:
	case VR_FS_SYN:
	case VR_FS_FIN:
		return 30 * 1000;
	default:
		return c->proto == 17 ? 120 * 1000 : 30 * 1000;
	}
}

/* The key of a packet in the direction it travels. false: no key (a
 * fragment after the first, a truncated header): such packets pass the stage
 * untracked. The transport header may follow IPv6 extension headers. */
bool vr_flow_key_from(const struct vr_pkt *pkt, const struct vr_l4 *l4p, struct vr_flow_key *k)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint32_t avail = (uint32_t)(pkt->len - pkt->l3_off);
	const struct vr_l4 l4 = *l4p;
	memset(k, 0, sizeof(*k));
	if (l4.frag == VR_FRAG_REST)
		return false;
	k->vrf = pkt->vrf;
	k->family = pkt->l3;
	k->proto = l4.proto;
	vr_pkt_addrs(pkt, k->src, k->dst);
	const uint8_t *h = ip + l4.off;
	switch (k->proto) {
	case 6: case 17: case 132:
		if (avail < l4.off + 4u)
			return false;
		k->sport = vr_rd16(h);
		k->dport = vr_rd16(h + 2);
		break;
	case 1: case 58:
		if (avail < l4.off + 8u)
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
static void flow_track(struct vr_conn *c, unsigned dir, const struct vr_pkt *pkt,
		       const struct vr_l4 *l4)
{
	if (c->proto != 6 || l4->frag == VR_FRAG_REST ||
	    (uint32_t)(pkt->len - pkt->l3_off) < l4->off + 14u)
		return;
	uint8_t fl = pkt->data[pkt->l3_off + l4->off + 13];
	uint8_t st = c->state;
	if (fl & TCP_RST) {
		st = VR_FS_CLOSED;
	} else if (fl & TCP_SYN) {
		if (st == VR_FS_NEW || st == VR_FS_CLOSED)
			st = VR_FS_SYN;
	} else if (fl & TCP_FIN) {
		c->flags |= dir ? VR_CONN_FIN1 : VR_CONN_FIN0;
		st = c->flags & (dir ? VR_CONN_FIN0 : VR_CONN_FIN1) ? VR_FS_CLOSED : VR_FS_FIN;
	} else if ((fl & TCP_ACK) && st == VR_FS_SYN) {
		st = VR_FS_ESTABLISHED;
	}
	c->state = st;
}

static inline struct rte_hash *key_table(const struct vr_flows *ft, const struct vr_flow_key *k)
{
	return ft->hash[k->family == 6];
}

void vr_flow_lookup_bulk(const struct vr_flows *ft, const struct vr_flow_key *k, unsigned n,
			 uint32_t *fid, uint32_t *sig)
{
	uint8_t k4[VR_BURST][KEY4_LEN];
	const void *kp[2][VR_BURST];
	hash_sig_t sg[2][VR_BURST];
	unsigned at[2][VR_BURST], m[2] = { 0, 0 };
	for (unsigned i = 0; i < n; i++) {
		unsigned f = k[i].family == 6;
		if (f) {
			kp[1][m[1]] = &k[i];
		} else {
			key4_pack(&k[i], k4[m[0]]);
			kp[0][m[0]] = k4[m[0]];
		}
		sig[i] = sg[f][m[f]] = rte_hash_hash(ft->hash[f], kp[f][m[f]]);
		at[f][m[f]++] = i;
		fid[i] = VR_FLOW_NONE;
	}
	for (unsigned f = 0; f < 2; f++) {
		uint64_t hits = 0;
		void *data[VR_BURST];
		if (!m[f])
			continue;
		rte_hash_lookup_with_hash_bulk_data(ft->hash[f], kp[f], sg[f], m[f], &hits, data);
		for (unsigned j = 0; j < m[f]; j++)
			if ((hits >> j) & 1)
				fid[at[f][j]] = (uint32_t)(uintptr_t)data[j];
	}
}

/* A key as its table stores it: *kp points at it (k itself or out). */
static void key_stored(const struct vr_flow_key *k, uint8_t *out, const void **kp)
{
	if (k->family == 6) {
		*kp = k;
	} else {
		key4_pack(k, out);
		*kp = out;
	}
}

uint32_t vr_flow_lookup(const struct vr_flows *ft, const struct vr_flow_key *k, uint32_t sig)
{
	uint8_t k4[KEY4_LEN];
	const void *kp;
	void *d;
	key_stored(k, k4, &kp);
	if (rte_hash_lookup_with_hash_data(key_table(ft, k), kp, sig, &d) < 0)
		return VR_FLOW_NONE;
	return (uint32_t)(uintptr_t)d;
}

void vr_flow_key_get(const struct vr_flows *ft, uint32_t fid, struct vr_flow_key *k)
{
	const struct vr_conn *c = vr_flow_conn(ft, fid);
	bool v6 = c->flags & VR_CONN_V6;
	void *p = NULL;
	memset(k, 0, sizeof(*k));
	if (rte_hash_get_key_with_position(ft->hash[v6], (int32_t)c->pos[vr_flow_dir(fid)], &p) < 0)
		return; /* not a live flow: a caller's bug, an empty key rather than a crash */
	if (v6) {
		memcpy(k, p, sizeof(*k));
	} else {
		const uint8_t *b = p;
		memcpy(k, b, 8);
		memcpy(k->src, b + 8, 4);
		memcpy(k->dst, b + 12, 4);
	}
}

void vr_flow_free(struct vr_flows *ft, uint32_t ci)
{
	struct vr_conn *c = &ft->conns[ci];
	struct rte_hash *h = ft->hash[!!(c->flags & VR_CONN_V6)];
	for (unsigned dir = 0; dir < 2; dir++) {
		uint8_t key[sizeof(struct vr_flow_key)];
		void *p;
		/* a copy: the key store slot is freed by the delete */
		if (rte_hash_get_key_with_position(h, (int32_t)c->pos[dir], &p) == 0) {
			memcpy(key, p, (c->flags & VR_CONN_V6) ? sizeof(struct vr_flow_key) : KEY4_LEN);
			rte_hash_del_key(h, key);
		}
	}
	memset(c, 0, sizeof(*c));
	c->pos[0] = ft->free_head;
	ft->free_head = ci + 1;
	ft->n_used -= 2;
}

/* Add a key with its flow id; its position in *pos. */
static int key_add(struct rte_hash *h, const void *kp, hash_sig_t sig, uint32_t fid, uint32_t *pos)
{
	int ret = rte_hash_add_key_with_hash_data(h, kp, sig, (void *)(uintptr_t)fid);
	if (ret < 0)
		return ret;
	int32_t p = rte_hash_lookup_with_hash(h, kp, sig);
	if (p < 0) {
		rte_hash_del_key_with_hash(h, kp, sig);
		return p;
	}
	*pos = (uint32_t)p;
	return 0;
}

uint32_t vr_flow_create(struct vr_router *r, const struct vr_flow_key *k, uint32_t ksig,
			const struct vr_flow_key *rk, enum vr_drop_reason *why)
{
	struct vr_flows *ft = &r->flow;
	struct rte_hash *h = key_table(ft, k);
	uint8_t k4[KEY4_LEN], rk4[KEY4_LEN];
	const void *kp, *rkp;
	*why = VR_DROP_FLOW_TABLE_FULL;
	if (!ft->free_head)
		return VR_FLOW_NONE;
	key_stored(k, k4, &kp);
	key_stored(rk, rk4, &rkp);
	/* the reply's key belongs to another flow (a translated connection met one
	 * of its own): refuse rather than take it over */
	hash_sig_t rsig = rte_hash_hash(h, rkp);
	if (rte_hash_lookup_with_hash(h, rkp, rsig) >= 0) {
		*why = VR_DROP_NAT_CONFLICT;
		return VR_FLOW_NONE;
	}
	uint32_t ci = ft->free_head - 1;
	struct vr_conn *c = &ft->conns[ci];
	uint32_t next = c->pos[0], pos[2];
	if (key_add(h, kp, ksig, ci << 1, &pos[0]) < 0)
		return VR_FLOW_NONE; /* its buckets are full: the table is, in effect */
	if (key_add(h, rkp, rsig, ci << 1 | 1, &pos[1]) < 0) {
		rte_hash_del_key_with_hash(h, kp, ksig);
		return VR_FLOW_NONE;
	}
	ft->free_head = next;
	memset(c, 0, sizeof(*c));
	c->pos[0] = pos[0];
	c->pos[1] = pos[1];
	c->flags = VR_CONN_USED | (k->family == 6 ? VR_CONN_V6 : 0);
	c->proto = k->proto;
	c->out_vif = VR_VIF_NONE;
	c->in_vif = VR_VIF_NONE;
	c->state = k->proto == 6 ? VR_FS_NEW : VR_FS_OTHER;
	c->last_ms = (uint32_t)r->now_ms;
	c->first_s = (uint32_t)(r->now_ms / 1000);
	ft->n_used += 2;
	ft->created++;
	return ci << 1;
}

/* The local vif a resolved packet goes to, or NULL (tunnel, host...).
 * An ECMP nexthop is resolved the way the nexthop stage will (same hash).
 * A flooded IP frame (broadcast, multicast or unknown destination MAC) goes
 * to every member of the flood list: its destination, for the policies, is
 * the local vif its destination address is routed to, if any, so that an IP
 * packet to one pod cannot escape that pod's policy_in by a broadcast MAC. */
static const struct vr_vif *dest_vif(const struct vr_router *r, struct vr_pkt *pkt)
{
	const struct vr_nh *nh = vr_nh_get(r, pkt->nh);
	if (nh && nh->cfg.type == VR_NH_FLOOD) {
		const uint8_t *ip = pkt->data + pkt->l3_off;
		const struct vr_route *rt = vr_route_lookup(r, pkt->vrf, pkt->l3,
							    ip + (pkt->l3 == 4 ? 16 : 24));
		nh = rt ? vr_nh_get(r, rt->nh) : NULL;
	}
	if (nh && nh->cfg.type == VR_NH_ECMP) {
		if (!pkt->hash)
			pkt->hash = vr_flow_hash(pkt);
		nh = vr_nh_get(r, nh->cfg.members[pkt->hash % nh->cfg.n_members]);
	}
	return nh && nh->cfg.type == VR_NH_ENCAP ? vr_vif_get(r, nh->cfg.vif) : NULL;
}

static void set_verdict(struct vr_conn *c, uint8_t action, uint16_t policy, uint16_t rule_idx)
{
	c->action = action;
	c->policy = policy;
	c->rule_idx = rule_idx;
}

/* The policy of phase 0 (the source vif's policy_out) or phase 1 (the
 * destination vif's policy_in) for a connection; 0 none. */
static uint32_t phase_policy(const struct vr_router *r, const struct vr_conn *c, int phase)
{
	const struct vr_vif *v = vr_vif_get(r, phase ? c->out_vif : c->in_vif);
	return v ? (phase ? v->cfg.policy_in : v->cfg.policy_out) : 0;
}

/* The tuple a policy sees for a connection: its first direction's, with the
 * destination a service or floating IP translated it to (as a firewall after
 * destination NAT and before source NAT would). */
static void policy_key(const struct vr_flows *ft, uint32_t ci, struct vr_flow_key *k)
{
	vr_flow_key_get(ft, ci << 1, k);
	if (ft->conns[ci].nat & VR_NAT_DST) {
		struct vr_flow_key rk;
		vr_flow_key_get(ft, ci << 1 | 1, &rk);
		memcpy(k->dst, rk.src, 16);
		k->dport = rk.sport;
	}
}

#define VR_FLOW_LOG_PER_S 100

/* A new flow decided by a rule with the log flag: one line, rate-limited. */
static void flow_log(struct vr_router *r, uint32_t ci, const struct vr_policy *p, uint32_t ri,
		     uint8_t act)
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
	struct vr_flow_key k;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	vr_flow_key_get(ft, ci << 1, &k);
	int af = k.family == 4 ? AF_INET : AF_INET6;
	inet_ntop(af, k.src, s, sizeof(s));
	inet_ntop(af, k.dst, d, sizeof(d));
	TLOG_INFO(r->log, "flow vrf %u proto %u %s%s%s:%u -> %s%s%s:%u vif %u: %s by policy %u rule %u",
		  k.vrf, k.proto, af == AF_INET6 ? "[" : "", s, af == AF_INET6 ? "]" : "",
		  k.sport, af == AF_INET6 ? "[" : "", d, af == AF_INET6 ? "]" : "", k.dport,
		  ft->conns[ci].in_vif, vr_action_name(act), p->id, p->rules[ri].id);
}

/*
 * Decide n (<= VR_BURST) connections: the chain of the source vif's
 * policy_out, then, for those it passed, the chain of the destination vif's
 * policy_in. A chain passes a connection when each of its policies does (a
 * policy's next is evaluated only for what it passed); the first deny
 * decides and is recorded. Connections are classified in bulk, one rte_acl
 * call per (policy, family) present at each step. known[i]: the tuple the
 * policy sees, when the caller has it (else read from the table). count: add
 * to the rules' hit counters (not for re-evaluation, which is not a new flow).
 */
static void flow_decide(struct vr_router *r, const uint32_t *conn,
			const struct vr_flow_key *const *known, unsigned n, bool count)
{
	struct vr_flows *ft = &r->flow;
	struct vr_flow_key keys[VR_BURST];
	for (unsigned i = 0; i < n; i++) {
		set_verdict(&ft->conns[conn[i]], VR_ACT_PASS, 0, 0);
		if (known && known[i])
			keys[i] = *known[i];
		else
			policy_key(ft, conn[i], &keys[i]);
	}
	for (int phase = 0; phase < 2; phase++) {
		uint32_t pid[VR_BURST];
		bool todo[VR_BURST];
		for (unsigned i = 0; i < n; i++) {
			const struct vr_conn *c = &ft->conns[conn[i]];
			pid[i] = c->action == VR_ACT_PASS ? phase_policy(r, c, phase) : 0;
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
				uint8_t fam = keys[i].family;
				const struct vr_flow_key *kp[VR_BURST];
				unsigned which[VR_BURST], m = 0;
				uint32_t res[VR_BURST];
				for (unsigned j = i; j < n; j++)
					if (todo[j] && pid[j] == id && keys[j].family == fam) {
						todo[j] = false;
						pid[j] = 0;
						which[m] = j;
						kp[m++] = &keys[j];
					}
				if (!p) /* a vif or a chain may only name an existing policy: defensive */
					continue;
				vr_policy_classify(p, fam, kp, res, m);
				for (unsigned k = 0; k < m; k++) {
					uint32_t ri = res[k];
					uint8_t act = ri < p->n_rules ? p->rules[ri].action : p->action;
					if (count)
						p->hits[ri]++;
					if (count && ri < p->n_rules && (p->rules[ri].flags & VR_RULE_F_LOG))
						flow_log(r, conn[which[k]], p, ri, act);
					set_verdict(&ft->conns[conn[which[k]]], act, (uint16_t)p->id,
						    (uint16_t)ri);
					if (act == VR_ACT_PASS)
						pid[which[k]] = p->next;
				}
			}
		}
	}
}

void vr_flow_reeval_all(struct vr_router *r)
{
	r->flow.reeval_left = r->flow.max_conns;
}

void vr_flow_flush(struct vr_router *r)
{
	r->flow.flush_pos = 0;
	r->flow.flush_left = r->flow.max_conns;
}

uint32_t vr_flow_rule_id(const struct vr_router *r, const struct vr_conn *c)
{
	const struct vr_policy *p = vr_policy_get(r, c->policy);
	return p && c->rule_idx < p->n_rules ? p->rules[c->rule_idx].id : 0;
}

/* Drop under POLICY_DENY, counted for the rule that denied. */
static void deny(struct vr_router *r, struct vr_pkt *pkt, const struct vr_conn *c)
{
	struct vr_policy *p = vr_policy_get(r, c->policy);
	if (p && c->rule_idx <= p->n_rules) /* stale until re-evaluated after a replace */
		p->denied[c->rule_idx]++;
	vr_pkt_drop(r, pkt, VR_DROP_POLICY_DENY);
}

/* ICMPv6 that keeps the link working (MLD 130-132 and 143, router and
 * neighbour discovery 133-137): a bridged one passes as ARP does, untracked;
 * through the router the proxy answers it before any policy. */
static bool is_link_control(const struct vr_pkt *pkt, const struct vr_l4 *l4)
{
	if (pkt->l3 != 6 || l4->proto != 58 || l4->frag == VR_FRAG_REST ||
	    (uint32_t)(pkt->len - pkt->l3_off) <= l4->off)
		return false;
	uint8_t type = pkt->data[pkt->l3_off + l4->off];
	return (type >= 130 && type <= 137) || type == 143;
}

/*
 * The flow stage runs after the route lookup, so that the destination is
 * known: a packet goes through the flow table when its source vif or its
 * local destination vif has a policy (or the policy flag), or when the NAT
 * stage already found or made its flow (pkt->flow). The others are looked up
 * in bulk; new ones are created (both directions); undecided connections are
 * decided in bulk; then every packet is counted, tracked and passed or
 * dropped. A burst comes from one vif, so the source side is checked once.
 *
 * Bridged IP frames (L2 VRFs) go through it as routed packets do, keyed the
 * same way, so a connection is one flow whichever way each direction takes:
 * the destination is the bridge entry's nexthop (a local vif, or a tunnel:
 * the remote vrouter applies its vif's policy_in), for a flooded frame the
 * vif its destination address is routed to (dest_vif). A broadcast or
 * multicast IP destination has no such vif: only the sender's policy_out
 * applies. Non-IP frames and link control (ARP, ND, MLD) are not tracked.
 */
void vr_stage_flow(struct vr_router *r, const struct vr_vif *in, struct vr_pkt **pkts, uint16_t n)
{
	if (!r->n_policy_vifs && !r->nat) /* no vif wants flows, no NAT: the stage costs nothing */
		return;
	struct vr_flows *ft = &r->flow;
	struct vr_flow_key keys[VR_BURST];
	uint32_t sig[VR_BURST], found[VR_BURST];
	uint16_t idx[VR_BURST], lidx[VR_BURST], outv[VR_BURST], kidx[VR_BURST];
	uint32_t fl[VR_BURST], fresh[VR_BURST];
	const struct vr_flow_key *fresh_key[VR_BURST];
	struct vr_l4 l4[VR_BURST];
	unsigned m = 0, nl = 0, n_new = 0;
	bool from_policy = vr_vif_wants_flows(&in->cfg);

	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		/* bridged IP too (l3 set by classify): a pod that knows another's
		 * MAC must meet the same policies as through the router */
		if (!pkt || pkt->kind != VR_K_NH || (pkt->l3 != 4 && pkt->l3 != 6))
			continue;
		const struct vr_vif *out = dest_vif(r, pkt);
		outv[m] = out ? (uint16_t)out->cfg.id : VR_VIF_NONE;
		if (pkt->flow) { /* the NAT stage found or made it */
			if (!vr_pkt_l4(pkt, &l4[m]))
				l4[m].frag = VR_FRAG_REST; /* nothing to track */
			fl[m] = pkt->flow - 1;
			kidx[m] = VR_BURST;
			idx[m++] = i;
			continue;
		}
		if (!from_policy && !(out && vr_vif_wants_flows(&out->cfg)))
			continue;
		/* the transport header found once: for the key and for TCP tracking */
		if (!vr_pkt_l4(pkt, &l4[m]) || ((pkt->flags & VR_PF_L2) && is_link_control(pkt, &l4[m])) ||
		    !vr_flow_key_from(pkt, &l4[m], &keys[nl]))
			continue;
		kidx[m] = (uint16_t)nl;
		lidx[nl++] = (uint16_t)m;
		idx[m++] = i;
	}
	if (!m)
		return;
	/* each key hashed once: the lookups and the adds reuse it */
	if (nl)
		vr_flow_lookup_bulk(ft, keys, nl, found, sig);
	unsigned made = 0;
	for (unsigned j = 0; j < nl; j++) {
		unsigned q = lidx[j];
		fl[q] = found[j];
		if (fl[q] == VR_FLOW_NONE && made) /* an earlier packet of the burst made it? */
			fl[q] = vr_flow_lookup(ft, &keys[j], sig[j]);
		if (fl[q] != VR_FLOW_NONE)
			continue;
		struct vr_flow_key rk;
		enum vr_drop_reason why;
		vr_flow_reverse_key(&keys[j], &rk);
		fl[q] = vr_flow_create(r, &keys[j], sig[j], &rk, &why);
		made++;
		if (fl[q] == VR_FLOW_NONE) {
			vr_pkt_drop(r, pkts[idx[q]], why);
			pkts[idx[q]] = NULL;
			continue;
		}
		ft->conns[fl[q] >> 1].in_vif = (uint16_t)in->cfg.id;
	}
	/* Undecided connections (new here or in the NAT stage): once each. */
	for (unsigned j = 0; j < m; j++) {
		if (fl[j] == VR_FLOW_NONE)
			continue;
		struct vr_conn *c = vr_flow_conn(ft, fl[j]);
		if (c->action)
			continue;
		if (!vr_flow_dir(fl[j]))
			c->out_vif = outv[j];
		else /* its reply came first (the initiator's packet was dropped later) */
			c->out_vif = in->cfg.type == VR_VIF_FABRIC || in->cfg.type == VR_VIF_HOST ?
				     VR_VIF_NONE : (uint16_t)in->cfg.id;
		c->action = VR_ACT_PASS; /* placeholder until decided: listed once */
		/* an untranslated first direction's tuple is this packet's key */
		fresh_key[n_new] = !vr_flow_dir(fl[j]) && !c->nat && kidx[j] < VR_BURST ?
				   &keys[kidx[j]] : NULL;
		fresh[n_new++] = fl[j] >> 1;
	}
	if (n_new)
		flow_decide(r, fresh, fresh_key, n_new, true);
	uint32_t now = (uint32_t)r->now_ms;
	for (unsigned j = 0; j < m; j++) {
		struct vr_pkt *pkt = pkts[idx[j]];
		if (fl[j] == VR_FLOW_NONE)
			continue;
		struct vr_conn *c = vr_flow_conn(ft, fl[j]);
		unsigned dir = vr_flow_dir(fl[j]);
		c->pkts[dir]++;
		c->bytes[dir] += pkt->len;
		c->last_ms = now;
		flow_track(c, dir, pkt, &l4[j]);
		if (c->action == VR_ACT_DENY) {
			deny(r, pkt, c);
			pkts[idx[j]] = NULL;
		}
	}
}

/* Re-evaluate up to `budget` records from where the last call stopped, in
 * bulk. */
static void flow_reeval(struct vr_router *r, unsigned budget)
{
	struct vr_flows *ft = &r->flow;
	uint32_t batch[VR_BURST];
	unsigned nb = 0;
	while (budget-- && ft->reeval_left) {
		uint32_t i = ft->reeval_pos;
		ft->reeval_pos = ft->reeval_pos + 1 >= ft->max_conns ? 0 : ft->reeval_pos + 1;
		ft->reeval_left--;
		const struct vr_conn *c = &ft->conns[i];
		if (!(c->flags & VR_CONN_USED))
			continue;
		if (c->nat && !vr_nat_flow_valid(r, i << 1)) { /* its backend or floating IP is gone */
			vr_flow_free(ft, i);
			continue;
		}
		batch[nb++] = i;
		if (nb == VR_BURST) {
			flow_decide(r, batch, NULL, nb, false);
			nb = 0;
		}
	}
	if (nb)
		flow_decide(r, batch, NULL, nb, false);
}

/* Remove up to `budget` records of a flush in progress. */
static void flow_flush_step(struct vr_flows *ft, unsigned budget)
{
	while (budget-- && ft->flush_left) {
		uint32_t i = ft->flush_pos++;
		ft->flush_left--;
		if (ft->conns[i].flags & VR_CONN_USED) {
			vr_flow_free(ft, i);
			ft->flushed++;
		}
	}
}

bool vr_flow_busy(const struct vr_router *r)
{
	return r->flow.reeval_left || r->flow.flush_left;
}

unsigned vr_flow_age(struct vr_router *r, unsigned budget)
{
	struct vr_flows *ft = &r->flow;
	unsigned removed = 0;
	if (ft->flush_left) /* 4x the ageing step, so that 1M records take < 1 s */
		flow_flush_step(ft, budget * 4);
	if (ft->reeval_left) /* a policy changed: 4x the ageing step too */
		flow_reeval(r, budget * 4);
	if (!ft->n_used)
		return 0;
	uint32_t now = (uint32_t)r->now_ms;
	for (unsigned k = 0; k < budget; k++) {
		uint32_t i = ft->age_pos;
		ft->age_pos = ft->age_pos + 1 >= ft->max_conns ? 0 : ft->age_pos + 1;
		const struct vr_conn *c = &ft->conns[i];
		if (!(c->flags & VR_CONN_USED))
			continue;
		if (now - c->last_ms > vr_flow_timeout_ms(c)) {
			vr_flow_free(ft, i);
			ft->aged++;
			removed += 2;
		}
	}
	return removed;
}
