/*
 * DOC: agent_sg.c — security groups of this node's ports.
 *
 * A port (VMI) with security groups gets two vrouter policies of its own:
 * one for the packets delivered to it (the vif's policy_in, from the groups'
 * ingress rules) and one for the packets it sends (policy_out, from the
 * egress rules). Rules only allow; a port with at least one group denies by
 * default in both directions (as OpenStack and Tungsten Fabric security
 * groups: a group without egress rules denies egress). Each policy is chained
 * in front of the network's policy (its next): a flow must pass both. Ports
 * without groups keep their network's policy alone, exactly as before.
 *
 * Kubernetes NetworkPolicy maps onto it without special cases: a pod selected
 * by a policy gets a group (deny by default in both directions, then the
 * policy's allow rules); a direction the NetworkPolicy does not restrict gets
 * an allow-all rule (cidr 0.0.0.0/0 and ::/0); unselected pods have no group.
 *
 * A rule: direction ingress|egress, ethertype IPv4|IPv6 (none: both, or the
 * cidr's), protocol, destination port ranges (none: all), and the remote end:
 * a cidr, or a security group (the addresses of every port that has it: the
 * instance-ips of the VMIs referencing it), or neither (anywhere). The local
 * end is the port's own addresses. Rule ids: group index (from 1) x 10,000,000
 * + rule index (from 1) x 1,000 + expansion (the group's first rule's first
 * expansion: 10001000), so that `ternctl vr drop` and the flow dump point
 * back at the rule; 0 is the default deny.
 *
 * Policy ids: above the VRF ids (network policies use id = VRF id), allocated
 * from AGENT_SG_POLICY_MIN, freed when the port goes. They are not in the
 * state file: after a restart the vifs dumped from the vrouter tell which
 * port holds which (agent_sg_adopt_vif), and the take-over sweep deletes the
 * ones nobody holds. Until tern-api is synced the agent keeps what the
 * vrouter has (an unsynced model would open or close ports wrongly), the
 * network's policy a restored vif names included (vr_policy of the port: the
 * network's policies are not known before the sync either).
 *
 * Changes (groups, VMIs, instance-ips) mark the state dirty; the main loop
 * then re-derives every port (agent_sg_sync) and writes only the policies
 * whose content changed (the vrouter re-evaluates existing flows).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"

enum { SG_IN = AGENT_SG_INGRESS, SG_OUT = AGENT_SG_EGRESS };

struct agent_sg {
	uint8_t ids[VR_MAX_POLICIES];  /* 0 free, 1 a port's, 2 found at start (until the sweep) */
};

/* A growable list of prefixes. */
struct pfx_list {
	int n, cap;
	struct agent_ip *p;
};

static void pfx_add(struct pfx_list *l, const struct agent_ip *ip)
{
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 8;
		struct agent_ip *np = realloc(l->p, (size_t)cap * sizeof(*np));
		if (!np)
			return;  /* fewer allowed addresses: fails closed */
		l->p = np;
		l->cap = cap;
	}
	l->p[l->n++] = *ip;
}

static struct agent_sg *sg_state(struct agent *a)
{
	if (!a->sg)
		a->sg = calloc(1, sizeof(*a->sg));
	return a->sg;
}

void agent_sg_free(struct agent *a)
{
	free(a->sg);
	a->sg = NULL;
}

static uint32_t id_alloc(struct agent *a)
{
	struct agent_sg *s = sg_state(a);
	for (uint32_t id = AGENT_SG_POLICY_MIN; s && id < VR_MAX_POLICIES; id++)
		if (!s->ids[id]) {
			s->ids[id] = 1;
			return id;
		}
	return 0;
}

static void policy_del(struct agent *a, uint32_t id)
{
	struct vr_object o;
	char err[256];
	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_POLICY;
	o.u.policy.id = id;
	VR_SET(&o, VR_AT_ID);
	int rc = agent_vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT) {
		TLOG_WARN(&a->log, "deleting security-group policy %u: %s", id, err);
		return;  /* still in the vrouter: its id stays reserved */
	}
	if (a->sg)
		a->sg->ids[id] = 0;
}

static int proto_num(const char *s)
{
	static const struct { const char *name; int num; } protos[] = {
		{ "any", 0 }, { "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmpv6", 58 },
		{ "sctp", 132 },
	};
	if (!s)
		return 0;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcmp(s, protos[i].name))
			return protos[i].num;
	return -1;
}

/* Whether a VMI's security_groups name the group with this uuid. */
static bool vmi_has_group(struct agent *a, json_t *vmi, const char *sg_uuid)
{
	size_t i;
	json_t *ref;
	const char *project = json_string_value(json_object_get(vmi, "project"));
	json_array_foreach(json_object_get(vmi, "security_groups"), i, ref) {
		json_t *sg = agent_model_ref(a, "security-group", json_string_value(ref), project);
		const char *u = json_string_value(json_object_get(sg, "uuid"));
		if (u && !strcmp(u, sg_uuid))
			return true;
	}
	return false;
}

/* The addresses of every port that has the group: its members. */
static void group_members(struct agent *a, json_t *sg, struct pfx_list *out)
{
	const char *sg_uuid = json_string_value(json_object_get(sg, "uuid"));
	json_t *vmis = json_object_get(a->model, "virtual-machine-interface");
	json_t *iips = json_object_get(a->model, "instance-ip");
	const char *k, *ik;
	json_t *vmi, *iip;
	if (!sg_uuid)
		return;
	json_object_foreach(vmis, k, vmi) {
		if (!vmi_has_group(a, vmi, sg_uuid))
			continue;
		json_object_foreach(iips, ik, iip) {
			const char *ref = json_string_value(json_object_get(iip, "virtual_machine_interface"));
			json_t *owner = agent_model_ref(a, "virtual-machine-interface", ref,
							json_string_value(json_object_get(iip, "project")));
			struct agent_ip ip;
			if (owner == vmi &&
			    agent_ip_parse(json_string_value(json_object_get(iip, "address")), &ip) == 0)
				pfx_add(out, &ip);
		}
	}
}

/* Clear the bits beyond plen (a rule's prefix carries none). */
static void mask(uint8_t *a, unsigned plen)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
		a[i] &= (uint8_t)(0xff00u >> keep);
	}
}

struct rule_out {
	struct vr_rule *r;
	int n, max;
	bool truncated;
};

/* Append remote x local (family-matched) x destination port ranges. */
static void expand(struct rule_out *o, uint32_t base, int dir, int proto, uint8_t family,
		   const struct pfx_list *remote, const struct agent_port *p, json_t *ports)
{
	uint32_t x = 0;
	bool with_ports = proto == 6 || proto == 17 || proto == 132;
	size_t n_ranges = with_ports ? json_array_size(ports) : 0;
	for (int i = 0; i < remote->n; i++)
		for (int j = 0; j < p->i.n_addrs; j++) {
			const struct agent_ip *rem = &remote->p[i], *loc = &p->i.addrs[j];
			uint8_t fam = rem->family;
			if (fam != loc->family || (family && fam != family) ||
			    (proto == 1 && fam != 4) || (proto == 58 && fam != 6))
				continue;
			for (size_t k = 0; k < (n_ranges ? n_ranges : 1); k++) {
				if (o->n >= o->max || x == 1000) { /* ids base..base+999 */
					o->truncated = true;
					return;
				}
				struct vr_rule *r = &o->r[o->n++];
				memset(r, 0, sizeof(*r));
				r->id = base + x++;
				r->action = VR_ACT_PASS;
				r->proto = (uint8_t)proto;
				r->family = fam;
				/* ingress: from the remote end to the port; egress: the reverse */
				uint8_t host = fam == 4 ? 32 : 128;
				const struct agent_ip *src = dir == SG_IN ? rem : loc;
				const struct agent_ip *dst = dir == SG_IN ? loc : rem;
				r->src_plen = dir == SG_IN ? rem->plen : host;
				r->dst_plen = dir == SG_IN ? host : rem->plen;
				memcpy(r->src, src->a, 16);
				memcpy(r->dst, dst->a, 16);
				mask(dir == SG_IN ? r->src : r->dst, rem->plen);
				r->sport_hi = 65535;
				r->dport_hi = 65535;
				if (n_ranges) {
					json_t *pr = json_array_get(ports, k);
					json_int_t lo = json_integer_value(json_object_get(pr, "start"));
					json_int_t hi = json_integer_value(json_object_get(pr, "end"));
					if (lo < 0 || hi > 65535 || lo > hi) { /* tern-api checks: defensive */
						o->n--;
						continue;
					}
					r->dport_lo = (uint16_t)lo;
					r->dport_hi = (uint16_t)hi;
				}
			}
		}
}

/* The rules of one direction of a port from its groups (in order). */
static void port_rules(struct agent *a, const struct agent_port *p, json_t *vmi, int dir,
		       struct rule_out *o);

int agent_sg_rules(struct agent *a, const struct agent_port *p, json_t *vmi, int dir,
		   struct vr_rule *out, int max, bool *truncated)
{
	struct rule_out o = { .r = out, .max = max };
	port_rules(a, p, vmi, dir, &o);
	*truncated = o.truncated;
	return o.n;
}

static void port_rules(struct agent *a, const struct agent_port *p, json_t *vmi, int dir,
		       struct rule_out *o)
{
	size_t g, k;
	json_t *ref, *rule;
	const char *project = json_string_value(json_object_get(vmi, "project"));
	const char *want = dir == SG_IN ? "ingress" : "egress";
	json_array_foreach(json_object_get(vmi, "security_groups"), g, ref) {
		json_t *sg = agent_model_ref(a, "security-group", json_string_value(ref), project);
		if (!sg)  /* unknown (yet): it allows nothing */
			continue;
		const char *sg_project = json_string_value(json_object_get(sg, "project"));
		json_array_foreach(json_object_get(sg, "rules"), k, rule) {
			const char *d = json_string_value(json_object_get(rule, "direction"));
			if (!d || strcmp(d, want))
				continue;
			int proto = proto_num(json_string_value(json_object_get(rule, "protocol")));
			if (proto < 0) {
				TLOG_WARN(&a->log, "security group %s rule %zu: unknown protocol: not applied",
					  json_string_value(json_object_get(sg, "fq_name")), k);
				continue;
			}
			const char *et = json_string_value(json_object_get(rule, "ethertype"));
			uint8_t family = !et ? 0 : !strcmp(et, "IPv6") ? 6 : 4;
			struct pfx_list remote = { 0 };
			struct agent_ip ip;
			const char *cidr = json_string_value(json_object_get(rule, "cidr"));
			const char *rsg = json_string_value(json_object_get(rule, "security_group"));
			if (cidr) {
				if (agent_ip_parse(cidr, &ip) == 0)
					pfx_add(&remote, &ip);
			} else if (rsg) {
				json_t *r = agent_model_ref(a, "security-group", rsg, sg_project);
				if (r)
					group_members(a, r, &remote);
			} else {
				agent_ip_parse("0.0.0.0/0", &ip);
				pfx_add(&remote, &ip);
				agent_ip_parse("::/0", &ip);
				pfx_add(&remote, &ip);
			}
			uint32_t base = (uint32_t)((g + 1) * 10000000 + (k + 1) * 1000);
			expand(o, base, dir, proto, family, &remote, p, json_object_get(rule, "ports"));
			free(remote.p);
		}
	}
}

/* FNV-1a over what a policy write carries: skip writes that change nothing. */
static uint32_t sum_of(const uint8_t *b, size_t n, uint32_t next)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	for (int i = 0; i < 4; i++)
		h = (h ^ (uint8_t)(next >> (8 * i))) * 16777619u;
	return h | 1;  /* 0 means "not written" */
}

/* Write one direction's policy (next: the network's policy). */
static int write_policy(struct agent *a, struct agent_port *p, json_t *vmi, int dir, uint32_t next,
			struct vr_rule *rules, uint8_t *recs, char *err, size_t errlen)
{
	bool truncated;
	int n = agent_sg_rules(a, p, vmi, dir, rules, VR_POLICY_MAX_RULES, &truncated);
	if (truncated)
		TLOG_WARN(&a->log, "%s: its security groups make more %s rules than a policy holds "
			  "(%d, 1000 per group rule): the rest are not applied (denied)", p->i.ifname,
			  dir == SG_IN ? "ingress" : "egress", VR_POLICY_MAX_RULES);
	for (int i = 0; i < n; i++)
		vr_rule_pack(&rules[i], recs + (size_t)i * VR_RULE_LEN);
	uint32_t sum = sum_of(recs, (size_t)n * VR_RULE_LEN, next);
	if (p->sg_policy[dir] && p->sg_sum[dir] == sum)
		return 0;
	bool fresh = !p->sg_policy[dir];
	if (fresh && !(p->sg_policy[dir] = id_alloc(a))) {
		snprintf(err, errlen, "%s: every security-group policy id (%u..%u) is in use",
			 p->i.ifname, AGENT_SG_POLICY_MIN, VR_MAX_POLICIES - 1);
		return -ENOSPC;
	}
	struct vr_object ob;
	memset(&ob, 0, sizeof(ob));
	ob.obj = VR_OBJ_POLICY;
	ob.u.policy.id = p->sg_policy[dir];
	ob.u.policy.action = VR_ACT_DENY;
	ob.u.policy.rules.p = recs;
	ob.u.policy.rules.n = (uint16_t)n;
	ob.u.policy.next = next;
	VR_SET(&ob, VR_AT_ID);
	VR_SET(&ob, VR_AT_ACTION);
	VR_SET(&ob, VR_AT_RULES);
	VR_SET(&ob, VR_AT_POLICY);
	char e[256];
	int rc = agent_vr_do(a, VR_OP_ADD, &ob, e, sizeof(e));
	if (rc < 0) {
		snprintf(err, errlen, "%s: security-group policy %u: %s", p->i.ifname,
			 p->sg_policy[dir], e);
		if (fresh) {
			a->sg->ids[p->sg_policy[dir]] = 0;
			p->sg_policy[dir] = 0;
		}
		p->sg_sum[dir] = 0;
		return rc;
	}
	p->sg_sum[dir] = sum;
	TLOG_INFO(&a->log, "%s: %s security-group policy %u: %d rule(s), then policy %u",
		  p->i.ifname, dir == SG_IN ? "ingress" : "egress", p->sg_policy[dir], n, next);
	return 0;
}

int agent_sg_port_program(struct agent *a, struct agent_port *p, uint32_t net_policy,
			  uint32_t vif_policy[2], char *err, size_t errlen)
{
	vif_policy[SG_IN] = vif_policy[SG_OUT] = net_policy;
	if (!a->api_synced) { /* keep what the vrouter has (adopted after a restart) */
		for (int d = 0; d < 2; d++)
			if (p->sg_policy[d])
				vif_policy[d] = p->sg_policy[d];
			else if (!vif_policy[d]) /* the network's, not known before the sync */
				vif_policy[d] = p->vr_policy[d];
		return 0;
	}
	json_t *vmi = agent_model_get(a, "virtual-machine-interface", p->i.vmi);
	if (!json_array_size(json_object_get(vmi, "security_groups"))) {
		for (int d = 0; d < 2; d++) /* deleted after the vif no longer uses them */
			if (p->sg_policy[d]) {
				p->sg_old[d] = p->sg_policy[d];
				p->sg_policy[d] = 0;
				p->sg_sum[d] = 0;
			}
		return 0;
	}
	if (!sg_state(a)) {
		snprintf(err, errlen, "%s: out of memory for security groups", p->i.ifname);
		return -ENOMEM;
	}
	struct vr_rule *rules = calloc(VR_POLICY_MAX_RULES, sizeof(*rules));
	uint8_t *recs = calloc(VR_POLICY_MAX_RULES, VR_RULE_LEN);
	int rc = 0;
	if (!rules || !recs) {
		snprintf(err, errlen, "%s: out of memory for security-group rules", p->i.ifname);
		rc = -ENOMEM;
	}
	for (int d = 0; d < 2 && rc == 0; d++) {
		rc = write_policy(a, p, vmi, d, net_policy, rules, recs, err, errlen);
		if (rc == 0)
			vif_policy[d] = p->sg_policy[d];
	}
	free(rules);
	free(recs);
	return rc;
}

void agent_sg_port_done(struct agent *a, struct agent_port *p)
{
	for (int d = 0; d < 2; d++)
		if (p->sg_old[d]) {
			TLOG_INFO(&a->log, "%s: %s security-group policy %u removed", p->i.ifname,
				  d == SG_IN ? "ingress" : "egress", p->sg_old[d]);
			policy_del(a, p->sg_old[d]);
			p->sg_old[d] = 0;
		}
}

void agent_sg_port_gone(struct agent *a, struct agent_port *p)
{
	for (int d = 0; d < 2; d++) {
		if (p->sg_policy[d])
			policy_del(a, p->sg_policy[d]);
		p->sg_policy[d] = 0;
		p->sg_sum[d] = 0;
	}
	agent_sg_port_done(a, p);
}

void agent_sg_forget(struct agent *a)
{
	for (int i = 0; i < AGENT_MAX_PORTS; i++)
		a->ports[i].sg_sum[0] = a->ports[i].sg_sum[1] = 0;
}

void agent_sg_changed(struct agent *a)
{
	a->sg_dirty = true;
}

void agent_sg_sync(struct agent *a)
{
	a->sg_dirty = false;
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		struct agent_port *p = &a->ports[i];
		if (!p->used)
			continue;
		const struct agent_vrf *v = p->vrf && p->vrf <= AGENT_MAX_VRFS ? &a->vrfs[p->vrf] : NULL;
		uint32_t net = v && v->used ? v->policy : 0;
		uint32_t had[2], now[2];
		char err[512];
		/* what the vif names: before the sync, a policy it had at the
		 * take-over stood in for the network's (agent_sg_port_program) */
		for (int d = 0; d < 2; d++)
			had[d] = p->sg_policy[d] ? p->sg_policy[d] : net ? net : p->vr_policy[d];
		p->vr_policy[0] = p->vr_policy[1] = 0;  /* synced: tern-api decides from now on */
		if (agent_sg_port_program(a, p, net, now, err, sizeof(err)) < 0) {
			TLOG_WARN(&a->log, "security groups: %s", err);
			continue;
		}
		/* the vif names other policies now: write it again */
		if ((had[0] != now[0] || had[1] != now[1]) &&
		    agent_vr_port_reprogram(a, p, err, sizeof(err)) < 0) {
			TLOG_WARN(&a->log, "security groups: %s", err);
			continue;
		}
		agent_sg_port_done(a, p);
	}
}

void agent_sg_adopt_vif(struct agent *a, const struct vr_object *o)
{
	const uint32_t pol[2] = { o->u.vif.policy_in, o->u.vif.policy_out };
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		struct agent_port *p = &a->ports[i];
		if (!p->used || p->vif != o->u.vif.id)
			continue;
		for (int d = 0; d < 2; d++)
			p->vr_policy[d] = pol[d] < VR_MAX_POLICIES ? pol[d] : 0;
		if (p->vr_policy[0] || p->vr_policy[1])
			agent_sg_changed(a);  /* once synced, agent_sg_sync settles what it names */
		for (int d = 0; d < 2; d++)
			if (pol[d] >= AGENT_SG_POLICY_MIN && pol[d] < VR_MAX_POLICIES && sg_state(a)) {
				p->sg_policy[d] = pol[d];
				p->sg_sum[d] = 0;  /* content unknown: written again once synced */
				a->sg->ids[pol[d]] = 1;
			}
	}
}

void agent_sg_adopt_policy(struct agent *a, const struct vr_object *o)
{
	uint32_t id = o->u.policy.id;
	if (id >= AGENT_SG_POLICY_MIN && id < VR_MAX_POLICIES && sg_state(a) && !a->sg->ids[id])
		a->sg->ids[id] = 2;
}

int agent_sg_sweep(struct agent *a)
{
	int n = 0;
	for (uint32_t id = AGENT_SG_POLICY_MIN; a->sg && id < VR_MAX_POLICIES; id++)
		if (a->sg->ids[id] == 2) {
			policy_del(a, id);
			if (a->sg->ids[id] == 2) /* in use by something not ours: leave it */
				a->sg->ids[id] = 1;
			else
				n++;
		}
	return n;
}
