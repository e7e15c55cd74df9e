/*
 * DOC: agent_vr.c — the agent's hands on the vrouter: local ports (vif,
 * encap nexthop, host routes, MPLS label, the network's VRF and VNI) and
 * remote routes (tunnel nexthops to other nodes, ECMP when several nodes
 * announce one address), over the vrouter's control socket.
 *
 * Every object is written with ADD, which replaces an object of the same id
 * in place (a route's nexthop changes with no gap, a vif keeps its port), so
 * re-programming what is already there is harmless: that is how a restarted
 * agent takes over without a lost packet.
 *
 * Remote routes: every learned path is kept; the routes of a VRF are derived
 * from the paths whose route targets the VRF's network imports. A local
 * address always wins over a remote path for the same address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_internal.h"

static void vr_lost(struct agent *a, const char *why)
{
	TLOG_ERR(&a->log, "vrouter connection lost: %s", why);
	vr_client_close(a->vr);
	a->vr = NULL;
}

/* One request; 0 or the vrouter's negative errno with its message in err. */
static int vr_do(struct agent *a, uint16_t op, struct vr_object *o, char *err, size_t errlen)
{
	struct vr_msg_view v;
	if (!a->vr) {
		snprintf(err, errlen, "not connected to the vrouter at %s", a->conf.vr_socket);
		return -ENOTCONN;
	}
	int rc = vr_client_request(a->vr, op, o->obj, o, 0, a->vr_reply, AGENT_VR_REPLY_CAP, &v,
				   err, errlen);
	if (rc == -ECONNRESET || rc == -EPIPE || rc == -ETIMEDOUT)
		vr_lost(a, err);
	return rc;
}

int agent_vr_do(struct agent *a, uint16_t op, struct vr_object *o, char *err, size_t errlen)
{
	return vr_do(a, op, o, err, errlen);
}

/* Pipelines (agent_internal.h): a port's requests back to back. */
void agent_vr_pipe_send(struct agent *a, struct agent_vr_pipe *vp, uint16_t op,
			struct vr_object *o, const char *what)
{
	char e[256];
	int rc;
	if (vp->rc < 0 && !a->vr)
		return;
	if (!a->vr) {
		snprintf(e, sizeof(e), "not connected to the vrouter at %s", a->conf.vr_socket);
		rc = -ENOTCONN;
	} else if (vp->n == AGENT_VR_PIPE_MAX) {
		snprintf(e, sizeof(e), "more than %d requests in one pipeline", AGENT_VR_PIPE_MAX);
		rc = -E2BIG;
	} else if ((rc = vr_client_send(a->vr, op, o->obj, o, 0, &vp->seq[vp->n], e,
					sizeof(e))) == 0) {
		snprintf(vp->what[vp->n++], sizeof(vp->what[0]), "%s", what);
		return;
	} else {
		vr_lost(a, e);  /* a send that failed may have sent part of a request */
	}
	if (!vp->rc) {
		vp->rc = rc;
		snprintf(vp->err, sizeof(vp->err), "%s: %s", what, e);
	}
}

int agent_vr_pipe_finish(struct agent *a, struct agent_vr_pipe *vp, char *err, size_t errlen)
{
	for (int i = 0; i < vp->n && a->vr; i++) {
		struct vr_msg_view v;
		char e[256];
		memset(&v, 0, sizeof(v));
		int rc = vr_client_recv(a->vr, vp->seq[i], a->vr_reply, AGENT_VR_REPLY_CAP, &v, e,
					sizeof(e));
		if (rc < 0 && !vp->rc) {
			vp->rc = rc;
			snprintf(vp->err, sizeof(vp->err), "%s: %s", vp->what[i], e);
		}
		/* anything but the vrouter's refusal leaves the stream out of step */
		if (rc < 0 && !(v.op == VR_OP_REPLY && v.seq == vp->seq[i] && v.error == rc))
			vr_lost(a, e);
	}
	if (vp->rc < 0)
		snprintf(err, errlen, "%s", vp->err);
	int rc = vp->rc;
	vp->n = vp->rc = 0;
	return rc;
}

static void obj_init(struct vr_object *o, uint16_t type)
{
	memset(o, 0, sizeof(*o));
	o->obj = type;
}

/* ---- ids ---- */

static uint32_t nh_alloc(struct agent *a)
{
	for (uint32_t i = AGENT_RECEIVE_NH + 1; i < AGENT_NH_IDS; i++)
		if (!a->nh_used[i]) {
			a->nh_used[i] = 1;
			return i;
		}
	return 0;
}

static uint32_t vif_alloc(struct agent *a)
{
	for (uint32_t i = 1; i < VR_MAX_VIFS; i++)
		if (!a->vif_used[i]) {
			a->vif_used[i] = 1;
			return i;
		}
	return 0;
}

static bool label_is_used(const struct agent *a, uint32_t l)
{
	return a->label_used[l >> 3] & (1u << (l & 7));
}

static void label_set(struct agent *a, uint32_t l, bool used)
{
	if (used)
		a->label_used[l >> 3] |= (uint8_t)(1u << (l & 7));
	else
		a->label_used[l >> 3] &= (uint8_t)~(1u << (l & 7));
}

static uint32_t label_alloc(struct agent *a)
{
	for (uint32_t l = AGENT_LABEL_MIN; l < AGENT_LABELS; l++)
		if (!label_is_used(a, l)) {
			label_set(a, l, true);
			return l;
		}
	return 0;
}

/* ---- objects ---- */

/* A route's VR_RT_F_*: host routes answer ARP/ND in L2 VRFs (l2_l3) as
 * they do in L3 ones; a prefix stays unanswered there (unknown addresses
 * flood). */
static uint32_t route_flags(struct agent *a, uint16_t vrf, const struct agent_ip *dst)
{
	if (dst->plen != (dst->family == 4 ? 32 : 128) || !vrf || vrf > AGENT_MAX_VRFS ||
	    !a->vrfs[vrf].used)
		return 0;
	return agent_l2_host_route_flags(a, &a->vrfs[vrf]);
}

static void route_obj(struct agent *a, struct vr_object *o, uint16_t vrf, const struct agent_ip *dst,
		      uint32_t nh, bool add)
{
	obj_init(o, VR_OBJ_ROUTE);
	o->u.route.vrf = vrf;
	o->u.route.prefix.family = dst->family;
	memcpy(o->u.route.prefix.a, dst->a, 16);
	o->u.route.plen = dst->plen;
	VR_SET(o, VR_AT_VRF);
	VR_SET(o, VR_AT_PREFIX);
	VR_SET(o, VR_AT_PLEN);
	if (add) {
		o->u.route.nh = nh;
		o->u.route.flags = route_flags(a, vrf, dst);
		VR_SET(o, VR_AT_NH);
		VR_SET(o, VR_AT_FLAGS);
	}
}

static int route_set(struct agent *a, uint16_t vrf, const struct agent_ip *dst, uint32_t nh,
		     bool add, char *err, size_t errlen)
{
	struct vr_object o;
	route_obj(a, &o, vrf, dst, nh, add);
	return vr_do(a, add ? VR_OP_ADD : VR_OP_DEL, &o, err, errlen);
}

static int nh_del(struct agent *a, uint32_t id)
{
	struct vr_object o;
	char err[256];
	obj_init(&o, VR_OBJ_NH);
	o.u.nh.id = id;
	VR_SET(&o, VR_AT_ID);
	int rc = vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT)
		TLOG_WARN(&a->log, "deleting nexthop %u: %s", id, err);
	if (rc == 0 || rc == -ENOENT)
		a->nh_used[id] = 0;
	return rc;
}

static struct agent_vrf *vrf_find(struct agent *a, const char *network)
{
	for (int i = 1; i <= AGENT_MAX_VRFS; i++)
		if (a->vrfs[i].used && !strcmp(a->vrfs[i].network, network))
			return &a->vrfs[i];
	return NULL;
}

struct agent_vrf *agent_vrf_find(struct agent *a, const char *network)
{
	return vrf_find(a, network);
}

static bool vrf_in_use(struct agent *a, uint16_t id)
{
	for (int i = 0; i < AGENT_MAX_PORTS; i++)
		if (a->ports[i].used && a->ports[i].vrf == id)
			return true;
	return agent_fip_uses_vrf(a, id); /* a public network the node's floating IPs join */
}

static void add_imports(struct agent_vrf *v, json_t *list)
{
	size_t i;
	json_t *rt;
	json_array_foreach(list, i, rt)
		if (v->n_import < 32 && agent_rt_parse(json_string_value(rt), v->import[v->n_import]) == 0)
			v->n_import++;
}

/* Each policy of a network, resolved (NULL entries skipped by the caller). */
#define FOREACH_POLICY(a, vn, i, ref, pol) \
	json_array_foreach(json_object_get(vn, "network_policies"), i, ref) \
		if (((pol) = agent_model_ref(a, "network-policy", json_string_value(ref), \
			json_string_value(json_object_get(vn, "project")))) != NULL)

/* The network named by a rule end ({"virtual_network": ...}), or NULL. */
static json_t *end_vn(struct agent *a, json_t *pol, json_t *end)
{
	return agent_model_ref(a, "virtual-network",
		json_string_value(json_object_get(end, "virtual_network")),
		json_string_value(json_object_get(pol, "project")));
}

/* Read the network's import route targets and VNI into v. A network policy
 * that lets this network talk to another imports that network's routes (as
 * Tungsten Fabric leaks routes between networks a policy joins). */
static void vrf_read_vn(struct agent *a, struct agent_vrf *v, json_t *vn)
{
	v->n_import = 0;
	add_imports(v, json_object_get(vn, "route_target_import"));
	size_t i, k;
	json_t *ref, *pol, *rule;
	FOREACH_POLICY(a, vn, i, ref, pol) {
		json_array_foreach(json_object_get(pol, "rules"), k, rule) {
			const char *act = json_string_value(json_object_get(rule, "action"));
			if (!act || strcmp(act, "pass"))
				continue;
			json_t *ends[2] = { end_vn(a, pol, json_object_get(rule, "source")),
					    end_vn(a, pol, json_object_get(rule, "destination")) };
			for (int e = 0; e < 2; e++)
				if (ends[e] && ends[e] != vn)
					add_imports(v, json_object_get(ends[e], "route_target_export"));
		}
	}
	json_t *vni = json_object_get(vn, "vni");
	v->vni = json_is_integer(vni) ? (uint32_t)json_integer_value(vni) : 0;
}

/* The gateway and DNS addresses of the network's subnets: the pods ARP for
 * them, so they route to the node (receive). */
static int vrf_service_routes(struct agent *a, struct agent_vrf *v, json_t *vn, bool add)
{
	size_t i;
	json_t *sn;
	int rc = 0;
	json_array_foreach(json_object_get(vn, "subnets"), i, sn) {
		static const char *const keys[] = { "gateway", "dns" };
		for (int k = 0; k < 2; k++) {
			struct agent_ip ip;
			char err[256];
			if (agent_ip_parse(json_string_value(json_object_get(sn, keys[k])), &ip) < 0)
				continue;
			int r = route_set(a, v->id, &ip, AGENT_RECEIVE_NH, add, err, sizeof(err));
			if (r < 0 && !(r == -ENOENT && !add)) {
				TLOG_WARN(&a->log, "vrf %u: %s route: %s", v->id, keys[k], err);
				rc = r;
			}
		}
	}
	return rc;
}

static json_t *vn_of(struct agent *a, const char *network)
{
	return agent_model_by_fq(a, "virtual-network", network);
}

/* ---- network policies -> one vrouter policy per network ---- */

#define MAX_SETS 64
struct ipset { int n; struct agent_ip p[MAX_SETS]; };
struct portset { int n; uint16_t lo[MAX_SETS], hi[MAX_SETS]; };

static void set_add(struct ipset *s, const struct agent_ip *ip)
{
	if (s->n < MAX_SETS)
		s->p[s->n++] = *ip;
}

static void vn_subnets(json_t *vn, struct ipset *s)
{
	size_t i;
	json_t *sn;
	json_array_foreach(json_object_get(vn, "subnets"), i, sn) {
		struct agent_ip net;
		if (agent_ip_parse(json_string_value(json_object_get(sn, "cidr")), &net) == 0)
			set_add(s, &net);
	}
}

/* Whether obj's labels include every key=value of want. */
static bool labels_match(json_t *obj, json_t *want)
{
	json_t *have = json_object_get(obj, "labels"), *v;
	const char *k;
	json_object_foreach(want, k, v) {
		json_t *h = json_object_get(have, k);
		if (!h || !json_equal(h, v))
			return false;
	}
	return true;
}

/* The addresses of the interfaces whose labels match (within the network vn
 * when given): one host prefix per instance IP. */
static void label_members(struct agent *a, json_t *want, json_t *vn, struct ipset *s)
{
	const char *vn_fq = vn ? json_string_value(json_object_get(vn, "fq_name")) : NULL;
	json_t *iips = json_object_get(a->model, "instance-ip"), *iip;
	const char *k;
	json_object_foreach(iips, k, iip) {
		const char *project = json_string_value(json_object_get(iip, "project"));
		json_t *vmi = agent_model_ref(a, "virtual-machine-interface",
			json_string_value(json_object_get(iip, "virtual_machine_interface")), project);
		if (!vmi || !labels_match(vmi, want))
			continue;
		if (vn_fq) {
			json_t *in = agent_model_ref(a, "virtual-network",
				json_string_value(json_object_get(vmi, "virtual_network")), project);
			if (!in || strcmp(json_string_value(json_object_get(in, "fq_name")), vn_fq))
				continue;
		}
		struct agent_ip ip;
		if (agent_ip_parse(json_string_value(json_object_get(iip, "address")), &ip) == 0) {
			ip.plen = ip.family == 4 ? 32 : 128;
			set_add(s, &ip);
		}
	}
}

/* The addresses a rule end stands for; false when it cannot be expressed.
 * An end that names nothing is anything; labels select interfaces (their
 * instance IPs), within the end's network when it names one. */
static bool end_set(struct agent *a, json_t *pol, json_t *end, struct ipset *s)
{
	memset(s, 0, sizeof(*s));
	json_t *vn = end_vn(a, pol, end);
	json_t *labels = json_object_get(end, "labels");
	if (json_object_get(end, "virtual_network") && !vn)
		return false;  /* a network the agent does not know (yet): no rule */
	if (labels && json_object_size(labels)) {
		label_members(a, labels, vn, s);
		return true;   /* no member yet: the rule matches nothing */
	}
	if (vn)
		vn_subnets(vn, s);
	struct agent_ip ip;
	if (agent_ip_parse(json_string_value(json_object_get(end, "cidr")), &ip) == 0)
		set_add(s, &ip);
	if (!vn && !json_object_get(end, "cidr")) {
		agent_ip_parse("0.0.0.0/0", &ip);
		set_add(s, &ip);
		agent_ip_parse("::/0", &ip);
		set_add(s, &ip);
	}
	return true;
}

static void end_ports(json_t *end, struct portset *ps)
{
	memset(ps, 0, sizeof(*ps));
	size_t i;
	json_t *pr;
	json_array_foreach(json_object_get(end, "ports"), i, pr) {
		if (ps->n == MAX_SETS)
			break;
		json_int_t lo = json_integer_value(json_object_get(pr, "start"));
		json_t *e = json_object_get(pr, "end");
		json_int_t hi = e ? json_integer_value(e) : lo;
		if (lo < 0 || hi > 65535 || lo > hi)
			continue;
		ps->lo[ps->n] = (uint16_t)lo;
		ps->hi[ps->n++] = (uint16_t)hi;
	}
	if (!ps->n) {
		ps->lo[0] = 0;
		ps->hi[0] = 65535;
		ps->n = 1;
	}
}

static int proto_of(json_t *rule)
{
	json_t *p = json_object_get(rule, "protocol");
	if (json_is_integer(p))
		return (int)json_integer_value(p);
	const char *s = json_string_value(p);
	if (!s || !strcmp(s, "any"))
		return 0;
	if (!strcmp(s, "tcp"))
		return 6;
	if (!strcmp(s, "udp"))
		return 17;
	if (!strcmp(s, "icmp"))
		return 1;
	if (!strcmp(s, "icmp6") || !strcmp(s, "ipv6-icmp"))
		return 58;
	return atoi(s);
}

/* Append src x dst x ports as rules (family-matched). */
static void add_rules(struct vr_rule *out, int *n, int max, uint32_t *id, uint8_t action,
		      int proto, const struct ipset *src, const struct ipset *dst,
		      const struct portset *sp, const struct portset *dp)
{
	for (int i = 0; i < src->n; i++)
		for (int j = 0; j < dst->n; j++) {
			if (src->p[i].family != dst->p[j].family)
				continue;
			uint8_t fam = src->p[i].family;
			if ((proto == 1 && fam != 4) || (proto == 58 && fam != 6))
				continue;
			bool ports = proto == 6 || proto == 17;
			for (int x = 0; x < (ports ? sp->n : 1); x++)
				for (int y = 0; y < (ports ? dp->n : 1); y++) {
					if (*n >= max)
						return;
					struct vr_rule *r = &out[(*n)++];
					memset(r, 0, sizeof(*r));
					r->id = (*id)++;
					r->action = action;
					r->proto = (uint8_t)proto;
					r->family = fam;
					r->src_plen = src->p[i].plen;
					r->dst_plen = dst->p[j].plen;
					memcpy(r->src, src->p[i].a, 16);
					memcpy(r->dst, dst->p[j].a, 16);
					/* without ports (any protocol, ICMP): the full range */
					r->sport_lo = ports ? sp->lo[x] : 0;
					r->sport_hi = ports ? sp->hi[x] : 65535;
					r->dport_lo = ports ? dp->lo[y] : 0;
					r->dport_hi = ports ? dp->hi[y] : 65535;
				}
		}
}

/* The rules of a network with policies: its own traffic passes, then every
 * rule of every policy in order, then deny. Rule ids: policy index * 100000 +
 * rule index * 1000 + expansion, so `ternctl vr drop` points back at the rule. */
static int vn_rules(struct agent *a, json_t *vn, struct vr_rule *out, int max)
{
	int n = 0;
	uint32_t id = 1;
	struct ipset own;
	struct portset any;
	memset(&own, 0, sizeof(own));
	vn_subnets(vn, &own);
	end_ports(NULL, &any);
	add_rules(out, &n, max, &id, VR_ACT_PASS, 0, &own, &own, &any, &any);
	size_t i, k;
	json_t *ref, *pol, *rule;
	FOREACH_POLICY(a, vn, i, ref, pol) {
		json_array_foreach(json_object_get(pol, "rules"), k, rule) {
			struct ipset src, dst;
			struct portset sp, dp;
			const char *act = json_string_value(json_object_get(rule, "action"));
			json_t *s = json_object_get(rule, "source"), *d = json_object_get(rule, "destination");
			if (!end_set(a, pol, s, &src) || !end_set(a, pol, d, &dst)) {
				TLOG_WARN(&a->log, "policy %s rule %zu: an unknown network: not applied",
					  json_string_value(json_object_get(pol, "fq_name")), k);
				continue;
			}
			end_ports(s, &sp);
			end_ports(d, &dp);
			id = (uint32_t)((i + 1) * 100000 + k * 1000);
			add_rules(out, &n, max, &id, act && !strcmp(act, "pass") ? VR_ACT_PASS : VR_ACT_DENY,
				  proto_of(rule), &src, &dst, &sp, &dp);
		}
	}
	return n;
}

static bool vn_has_policies(struct agent *a, json_t *vn)
{
	size_t i;
	json_t *ref, *pol;
	FOREACH_POLICY(a, vn, i, ref, pol)
		return true;
	return false;
}

/* Write the network's policy (or nothing when it has none). */
static int vrf_policy(struct agent *a, struct agent_vrf *v, json_t *vn, char *err, size_t errlen)
{
	if (!vn || !vn_has_policies(a, vn)) {
		v->policy = 0;
		return 0;
	}
	struct vr_rule *rules = calloc(VR_POLICY_MAX_RULES, sizeof(*rules));
	uint8_t *recs = calloc(VR_POLICY_MAX_RULES, VR_RULE_LEN);
	if (!rules || !recs) {
		free(rules);
		free(recs);
		snprintf(err, errlen, "out of memory for the policy");
		return -ENOMEM;
	}
	int n = vn_rules(a, vn, rules, VR_POLICY_MAX_RULES);
	uint64_t sig = 0xcbf29ce484222325ull;
	for (int i = 0; i < n; i++) {
		vr_rule_pack(&rules[i], recs + (size_t)i * VR_RULE_LEN);
		for (int b = 0; b < VR_RULE_LEN; b++)
			sig = (sig ^ recs[(size_t)i * VR_RULE_LEN + b]) * 0x100000001b3ull;
	}
	if (v->policy && v->policy_sig == sig) {
		free(rules);
		free(recs);
		return 0;
	}
	struct vr_object o;
	obj_init(&o, VR_OBJ_POLICY);
	o.u.policy.id = v->id;
	o.u.policy.action = VR_ACT_DENY;
	o.u.policy.rules.p = recs;
	o.u.policy.rules.n = (uint16_t)n;
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_ACTION);
	VR_SET(&o, VR_AT_RULES);
	int rc = vr_do(a, VR_OP_ADD, &o, err, errlen);
	free(rules);
	free(recs);
	if (rc == 0) {
		TLOG_INFO(&a->log, "vrf %u: policy %u %s with %d rule(s)", v->id, v->id,
			  v->policy ? "replaced" : "set", n);
		v->policy = v->id;
		v->policy_sig = sig;
	}
	return rc;
}

static void recompute_vrf(struct agent *a, struct agent_vrf *v);

/* The VRF of a network on this node, made on first use. */
static struct agent_vrf *vrf_ensure(struct agent *a, const char *network, char *err,
				    size_t errlen)
{
	struct agent_vrf *v = vrf_find(a, network);
	json_t *vn = vn_of(a, network);
	bool fresh = !v;
	if (!v) {
		for (int i = 1; i <= AGENT_MAX_VRFS && !v; i++)
			if (!a->vrfs[i].used) {
				v = &a->vrfs[i];
				memset(v, 0, sizeof(*v));
				v->id = (uint16_t)i;
				v->used = true;
				snprintf(v->network, sizeof(v->network), "%s", network);
			}
		if (!v) {
			snprintf(err, errlen, "every VRF id (1..%d) is in use on this node", AGENT_MAX_VRFS);
			return NULL;
		}
		a->state_dirty = true;
	}
	if (vn)
		vrf_read_vn(a, v, vn);
	if (v->programmed)  /* one port more on a network the node has: nothing to write */
		return v;
	struct vr_object o;
	obj_init(&o, VR_OBJ_VRF);
	o.u.vrf.id = v->id;
	o.u.vrf.flags = VR_VRF_F_L3;
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_FLAGS);
	agent_l2_vrf_fill(a, v, &o);  /* L2 networks: bridging, flood nexthop */
	int rc = vr_do(a, VR_OP_ADD, &o, err, errlen);
	if (rc == 0 && v->vni) {
		obj_init(&o, VR_OBJ_VNI);
		o.u.vni.vni = v->vni;
		o.u.vni.vrf = v->id;
		VR_SET(&o, VR_AT_VNI);
		VR_SET(&o, VR_AT_VRF);
		rc = vr_do(a, VR_OP_ADD, &o, err, errlen);
	}
	if (rc == 0 && vn)
		rc = vrf_service_routes(a, v, vn, true);
	if (rc == 0)
		rc = vrf_policy(a, v, vn, err, errlen);
	if (rc < 0) {
		if (fresh)
			v->used = false;
		return NULL;
	}
	v->programmed = true;
	if (fresh) {
		TLOG_INFO(&a->log, "vrf %u for network %s (vni %u, %d import targets)", v->id,
			  network, v->vni, v->n_import);
		recompute_vrf(a, v);
	}
	agent_svc_sync(a); /* the network's services, now that its VRF exists */
	return v;
}

static void policy_del(struct agent *a, uint32_t id)
{
	struct vr_object o;
	char err[256];
	obj_init(&o, VR_OBJ_POLICY);
	o.u.policy.id = id;
	VR_SET(&o, VR_AT_ID);
	int rc = vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT)
		TLOG_WARN(&a->log, "deleting policy %u: %s", id, err);
}

static void rroute_release(struct agent *a, struct agent_rroute *r, bool del_route);

/* The last port of a network left: its VRF goes, with its remote routes. */
static void vrf_release(struct agent *a, struct agent_vrf *v)
{
	char err[256];
	agent_svc_vrf_gone(a, v->id); /* the vrouter refuses to delete a VRF with services */
	for (int i = 0; i < AGENT_MAX_RROUTES; i++)
		if (a->rroutes[i].used && a->rroutes[i].vrf == v->id)
			rroute_release(a, &a->rroutes[i], true);
	json_t *vn = vn_of(a, v->network);
	if (vn)
		vrf_service_routes(a, v, vn, false);
	struct vr_object o;
	if (v->vni) {
		obj_init(&o, VR_OBJ_VNI);
		o.u.vni.vni = v->vni;
		VR_SET(&o, VR_AT_VNI);
		if (vr_do(a, VR_OP_DEL, &o, err, sizeof(err)) < 0)
			TLOG_WARN(&a->log, "vrf %u: deleting vni %u: %s", v->id, v->vni, err);
	}
	obj_init(&o, VR_OBJ_VRF);
	o.u.vrf.id = v->id;
	VR_SET(&o, VR_AT_ID);
	int rc = vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT) /* e.g. routes the agent does not know; keep the id */
		TLOG_WARN(&a->log, "vrf %u: %s", v->id, err);
	if (v->policy)
		policy_del(a, v->policy);
	v->policy = 0;
	TLOG_INFO(&a->log, "vrf %u of network %s released", v->id, v->network);
	v->used = false;
	a->state_dirty = true;
}

struct agent_vrf *agent_vrf_ensure(struct agent *a, const char *network, char *err, size_t errlen)
{
	return vrf_ensure(a, network, err, errlen);
}

void agent_vrf_release_unused(struct agent *a, uint16_t id)
{
	struct agent_vrf *v = id && id <= AGENT_MAX_VRFS ? &a->vrfs[id] : NULL;
	if (v && v->used && !vrf_in_use(a, id))
		vrf_release(a, v);
}

uint32_t agent_nh_alloc(struct agent *a)
{
	return nh_alloc(a);
}

void agent_nh_free(struct agent *a, uint32_t id)
{
	if (id)
		nh_del(a, id);
}

uint32_t agent_label_alloc(struct agent *a)
{
	return label_alloc(a);
}

void agent_label_free(struct agent *a, uint32_t label)
{
	struct vr_object o;
	char err[256];
	if (!label)
		return;
	obj_init(&o, VR_OBJ_MPLS);
	o.u.mpls.label = label;
	VR_SET(&o, VR_AT_LABEL);
	int rc = vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT)
		TLOG_WARN(&a->log, "deleting label %u: %s", label, err);
	label_set(a, label, false);
}

/* ---- BGP: what a local port announces ---- */

static void rd_of(const struct agent *a, uint16_t vrf, uint8_t rd[8])
{
	uint32_t id = a->conf.bgp.router_id;
	rd[0] = 0; rd[1] = 1;  /* type 1: IPv4 address : number */
	rd[2] = (uint8_t)(id >> 24); rd[3] = (uint8_t)(id >> 16);
	rd[4] = (uint8_t)(id >> 8); rd[5] = (uint8_t)id;
	rd[6] = (uint8_t)(vrf >> 8); rd[7] = (uint8_t)vrf;
}

static void path_prefix(const struct agent *a, uint16_t vrf, const struct agent_ip *ip,
			struct bgp_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->af = ip->family == 4 ? BGP_AF_VPNV4 : BGP_AF_VPNV6;
	p->plen = ip->family == 4 ? 32 : 128;
	rd_of(a, vrf, p->rd);
	memcpy(p->addr, ip->a, ip->family == 4 ? 4 : 16);
}

/* Encapsulations of a network, in its order (tern-api's default: all three). */
int agent_vn_encaps(json_t *vn, uint8_t out[3])
{
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(vn, "encapsulation"), i, e) {
		const char *s = json_string_value(e);
		if (!s || n >= 3)
			continue;
		if (!strcmp(s, "MPLSoUDP"))
			out[n++] = VR_ENCAP_MPLSOUDP;
		else if (!strcmp(s, "MPLSoGRE"))
			out[n++] = VR_ENCAP_MPLSOGRE;
		else if (!strcmp(s, "VXLAN"))
			out[n++] = VR_ENCAP_VXLAN;
	}
	if (!n) {
		out[0] = VR_ENCAP_MPLSOUDP; out[1] = VR_ENCAP_MPLSOGRE; out[2] = VR_ENCAP_VXLAN;
		n = 3;
	}
	return n;
}

static uint16_t encap_tunnel(uint8_t e)
{
	return e == VR_ENCAP_MPLSOUDP ? BGP_TUNNEL_MPLS_UDP :
	       e == VR_ENCAP_MPLSOGRE ? BGP_TUNNEL_MPLS_GRE : BGP_TUNNEL_VXLAN;
}

/* VPN host routes for addresses of a network's VRF, with their label. */
static void announce_addrs(struct agent *a, const char *network, uint16_t vrf, uint32_t label,
			   const struct agent_ip *addrs, int n_addrs, const char *what)
{
	json_t *vn = a->bgp ? vn_of(a, network) : NULL;
	if (!vn)  /* tern-api not synced yet (a restart): the network's arrival announces */
		return;
	struct agent_bgp_path path;
	memset(&path, 0, sizeof(path));
	path.label = label;
	path.nh_len = a->fabric_ip.family == 4 ? 4 : 16;
	memcpy(path.nh, a->fabric_ip.a, path.nh_len);
	size_t i;
	json_t *rt;
	json_array_foreach(json_object_get(vn, "route_target_export"), i, rt)
		if (path.n_ext < AGENT_BGP_MAX_EXT - 3 &&
		    agent_rt_parse(json_string_value(rt), path.ext[path.n_ext]) == 0)
			path.n_ext++;
	uint8_t enc[3];
	int n = agent_vn_encaps(vn, enc);
	for (int k = 0; k < n; k++)
		if (enc[k] != VR_ENCAP_VXLAN)  /* a VPN route's label is an MPLS label */
			bgp_ext_encap(path.ext[path.n_ext++], encap_tunnel(enc[k]));
	for (int k = 0; k < n_addrs; k++) {
		char err[256];
		path_prefix(a, vrf, &addrs[k], &path.prefix);
		if (agent_bgp_announce(a->bgp, &path, err, sizeof(err)) < 0)
			TLOG_WARN(&a->log, "announcing %s: %s", what, err);
	}
}

void agent_vr_announce_addr(struct agent *a, const char *network, uint16_t vrf, uint32_t label,
			    const struct agent_ip *addr)
{
	announce_addrs(a, network, vrf, label, addr, 1, "a floating IP");
}

void agent_vr_withdraw_addr(struct agent *a, uint16_t vrf, const struct agent_ip *addr)
{
	struct bgp_prefix pfx;
	if (!a->bgp)
		return;
	path_prefix(a, vrf, addr, &pfx);
	agent_bgp_withdraw(a->bgp, &pfx);
}

static void port_announce(struct agent *a, const struct agent_port *p)
{
	announce_addrs(a, p->i.network, p->vrf, p->label, p->i.addrs, p->i.n_addrs, p->i.ifname);
	agent_l2_port_up(a, p);  /* EVPN routes, bridge entry, flood list */
}

static void port_withdraw(struct agent *a, const struct agent_port *p)
{
	agent_l2_port_down(a, p);
	for (int k = 0; k < p->i.n_addrs; k++)
		agent_vr_withdraw_addr(a, p->vrf, &p->i.addrs[k]);
}

/* ---- local ports ---- */

struct agent_port *agent_port_find(struct agent *a, const char *container_id, const char *vmi)
{
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		struct agent_port *p = &a->ports[i];
		if (p->used && !strcmp(p->container_id, container_id) && !strcmp(p->i.vmi, vmi))
			return p;
	}
	return NULL;
}

static void recompute_dst(struct agent *a, struct agent_vrf *v, const struct agent_ip *dst);

/* Remove a port's objects from the vrouter, last made first. */
static void port_unprogram(struct agent *a, struct agent_port *p)
{
	char err[256];
	struct vr_object o;
	port_withdraw(a, p);
	for (int k = 0; k < p->i.n_addrs; k++) {
		struct agent_ip host = p->i.addrs[k];
		host.plen = host.family == 4 ? 32 : 128;
		int rc = route_set(a, p->vrf, &host, 0, false, err, sizeof(err));
		if (rc < 0 && rc != -ENOENT)
			TLOG_WARN(&a->log, "%s: deleting route: %s", p->i.ifname, err);
	}
	if (p->label) {
		obj_init(&o, VR_OBJ_MPLS);
		o.u.mpls.label = p->label;
		VR_SET(&o, VR_AT_LABEL);
		int rc = vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
		if (rc < 0 && rc != -ENOENT)
			TLOG_WARN(&a->log, "%s: deleting label %u: %s", p->i.ifname, p->label, err);
		label_set(a, p->label, false);
	}
	if (p->nh)
		nh_del(a, p->nh);
	agent_fip_port_gone(a, p); /* the vrouter keeps a vif with floating IPs */
	if (p->vif) {
		obj_init(&o, VR_OBJ_VIF);
		o.u.vif.id = p->vif;
		VR_SET(&o, VR_AT_ID);
		int rc = vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
		if (rc < 0 && rc != -ENOENT)
			TLOG_WARN(&a->log, "%s: deleting vif %u: %s", p->i.ifname, p->vif, err);
		a->vif_used[p->vif] = 0;
	}
	agent_sg_port_gone(a, p); /* its security-group policies, now that no vif names them */
	uint16_t vrf = p->vrf;
	struct agent_if gone = p->i;
	p->used = false;
	a->state_dirty = true;
	struct agent_vrf *v = vrf && vrf <= AGENT_MAX_VRFS ? &a->vrfs[vrf] : NULL;
	if (v && v->used) {
		if (!vrf_in_use(a, vrf))
			vrf_release(a, v);
		else  /* a remote path for the same address may now apply */
			for (int k = 0; k < gone.n_addrs; k++) {
				struct agent_ip host = gone.addrs[k];
				host.plen = host.family == 4 ? 32 : 128;
				recompute_dst(a, v, &host);
			}
	}
}

/* Program one port (ids already in p, or allocated here). */
static int port_program(struct agent *a, struct agent_port *p, char *err, size_t errlen)
{
	char e[384];
	struct vr_object o;
	int rc;
	struct agent_vrf *v = vrf_ensure(a, p->i.network, e, sizeof(e));
	if (!v) {
		snprintf(err, errlen, "%s: vrf for %s: %s", p->i.ifname, p->i.network, e);
		return -EIO;
	}
	p->vrf = v->id;
	if (!p->vif && !(p->vif = vif_alloc(a))) {
		snprintf(err, errlen, "%s: every vif id is in use", p->i.ifname);
		return -ENOSPC;
	}
	if (!p->nh && !(p->nh = nh_alloc(a))) {
		snprintf(err, errlen, "%s: every nexthop id is in use", p->i.ifname);
		return -ENOSPC;
	}
	if (!p->label && !(p->label = label_alloc(a))) {
		snprintf(err, errlen, "%s: every MPLS label is in use", p->i.ifname);
		return -ENOSPC;
	}
	a->state_dirty = true;

	obj_init(&o, VR_OBJ_VIF);
	struct vr_obj_vif *vif = &o.u.vif;
	vif->id = p->vif;
	vif->vrf = p->vrf;
	vif->mtu = p->i.mtu;
	memcpy(vif->mac, p->i.mac, 6);
	snprintf(vif->name, sizeof(vif->name), "%.12s/%.15s", p->container_id, p->i.ifname);
	/* security groups: the port's own policies, chained to the network's */
	uint32_t pol[2];
	if ((rc = agent_sg_port_program(a, p, v->policy, pol, err, errlen)) < 0)
		return rc;
	vif->policy_in = pol[0];
	vif->policy_out = pol[1];
	VR_SET(&o, VR_AT_POLICY_IN); VR_SET(&o, VR_AT_POLICY_OUT);
	VR_SET(&o, VR_AT_ID); VR_SET(&o, VR_AT_TYPE); VR_SET(&o, VR_AT_VRF);
	VR_SET(&o, VR_AT_MAC); VR_SET(&o, VR_AT_NAME); VR_SET(&o, VR_AT_MTU);
	if (!strcmp(p->i.kind, "kernel")) {
		vif->type = VR_VIF_KERNEL;
		snprintf(vif->ifname, sizeof(vif->ifname), "%s", p->i.host_ifname);
		VR_SET(&o, VR_AT_IFNAME);
	} else {
		vif->type = !strcmp(p->i.kind, "memif") ? VR_VIF_MEMIF : VR_VIF_VHOST;
		char dir[256];
		snprintf(dir, sizeof(dir), "%s", p->i.socket_path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		/* One directory per pod, root only: the pod's mount is the way in. */
		if (mkdir(a->conf.pod_dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: cannot create %s: %s", p->i.ifname, a->conf.pod_dir,
				 strerror(errno));
			return -errno;
		}
		if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || chmod(dir, 0700) < 0) {
			snprintf(err, errlen, "%s: cannot create %s: %s", p->i.ifname, dir,
				 strerror(errno));
			return -errno;
		}
		if (strlen(p->i.socket_path) >= sizeof(vif->socket)) {
			snprintf(err, errlen, "%s: socket path %s is longer than %zu bytes", p->i.ifname,
				 p->i.socket_path, sizeof(vif->socket) - 1);
			return -ENAMETOOLONG;
		}
		memcpy(vif->socket, p->i.socket_path, strlen(p->i.socket_path) + 1);
		vif->role = 0;
		VR_SET(&o, VR_AT_SOCKET);
		VR_SET(&o, VR_AT_ROLE);
	}
	/* The vif, its nexthop, host routes and label, and its L2 objects: one
	 * pipeline. A failure fails the ones after it that depend on it too; the
	 * caller unprograms the port either way (all or nothing). */
	struct agent_vr_pipe vp = { 0 };
	char what[64];
	snprintf(what, sizeof(what), "vif %u", p->vif);
	agent_vr_pipe_send(a, &vp, VR_OP_ADD, &o, what);
	obj_init(&o, VR_OBJ_NH);
	o.u.nh.id = p->nh;
	o.u.nh.type = VR_NH_ENCAP;
	o.u.nh.vif = p->vif;
	o.u.nh.vrf = p->vrf;
	memcpy(o.u.nh.dmac, p->i.mac, 6);
	VR_SET(&o, VR_AT_ID); VR_SET(&o, VR_AT_TYPE); VR_SET(&o, VR_AT_VIF);
	VR_SET(&o, VR_AT_VRF); VR_SET(&o, VR_AT_DMAC);
	snprintf(what, sizeof(what), "nexthop %u", p->nh);
	agent_vr_pipe_send(a, &vp, VR_OP_ADD, &o, what);
	for (int k = 0; k < p->i.n_addrs; k++) {
		struct agent_ip host = p->i.addrs[k];
		char ip[48];
		host.plen = host.family == 4 ? 32 : 128;
		route_obj(a, &o, p->vrf, &host, p->nh, true);
		snprintf(what, sizeof(what), "route %s", agent_ip_str(&host, ip, sizeof(ip), true));
		agent_vr_pipe_send(a, &vp, VR_OP_ADD, &o, what);
	}
	obj_init(&o, VR_OBJ_MPLS);
	o.u.mpls.label = p->label;
	o.u.mpls.nh = p->nh;
	VR_SET(&o, VR_AT_LABEL);
	VR_SET(&o, VR_AT_NH);
	snprintf(what, sizeof(what), "label %u", p->label);
	agent_vr_pipe_send(a, &vp, VR_OP_ADD, &o, what);
	agent_l2_port_send(a, p, &vp);  /* L2 networks: bridge entry, L2 label, flood list */
	v->port_rt_flags = agent_l2_host_route_flags(a, v);
	rc = agent_vr_pipe_finish(a, &vp, e, sizeof(e));
	agent_l2_port_sent(a, p, rc == 0);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", p->i.ifname, e);
		return rc;
	}
	agent_sg_port_done(a, p); /* policies the vif no longer names */
	port_announce(a, p);
	return 0;
}

int agent_vr_port_reprogram(struct agent *a, struct agent_port *p, char *err, size_t errlen)
{
	return port_program(a, p, err, errlen);
}

static struct agent_rroute *rroute_find(struct agent *a, uint16_t vrf, const struct agent_ip *dst);

int agent_vr_attach(struct agent *a, const struct agent_req *req, struct agent_if *ifs, int n,
		    char *err, size_t errlen)
{
	const char *container_id = req->container_id;
	struct agent_port *made[AGENT_MAX_IFS];
	int n_made = 0;
	for (int i = 0; i < n; i++) {
		struct agent_port *p = agent_port_find(a, container_id, ifs[i].vmi);
		if (!p) {
			for (int k = 0; k < AGENT_MAX_PORTS && !p; k++)
				if (!a->ports[k].used)
					p = &a->ports[k];
			if (!p) {
				snprintf(err, errlen, "%s: the node has %d ports already", ifs[i].ifname,
					 AGENT_MAX_PORTS);
				goto undo;
			}
			memset(p, 0, sizeof(*p));
			p->used = true;
			snprintf(p->container_id, sizeof(p->container_id), "%s", container_id);
			snprintf(p->cni_network, sizeof(p->cni_network), "%s",
				 req->cni_network ? req->cni_network : "");
			made[n_made++] = p;
		}
		p->i = ifs[i];
		p->i.dns = NULL;
		if (port_program(a, p, err, errlen) < 0)
			goto undo;
		TLOG_INFO(&a->log, "container %.12s %s: vif %u vrf %u label %u (%s)", container_id,
			  p->i.ifname, p->vif, p->vrf, p->label, p->i.kind);
		/* A remote path may have held this address until now. */
		for (int j = 0; j < p->i.n_addrs; j++) {
			struct agent_rroute *r = rroute_find(a, p->vrf, &p->i.addrs[j]);
			if (r && r->dst.plen == (r->dst.family == 4 ? 32 : 128))
				rroute_release(a, r, false);
		}
	}
	agent_fip_sync(a); /* floating IPs waiting for these ports */
	return 0;
undo:
	TLOG_WARN(&a->log, "container %.12s: attach failed, undoing: %s", container_id, err);
	for (int i = n_made - 1; i >= 0; i--)
		port_unprogram(a, made[i]);
	return -EIO;
}

int agent_vr_detach(struct agent *a, const char *container_id, json_t *out)
{
	int n = 0;
	for (int i = AGENT_MAX_PORTS - 1; i >= 0; i--) {
		struct agent_port *p = &a->ports[i];
		if (!p->used || strcmp(p->container_id, container_id))
			continue;
		if (out)
			json_array_append_new(out, json_pack("{s:s, s:s}", "ifname", p->i.ifname,
				"host_ifname", p->i.host_ifname));
		char dir[256] = "";
		if (p->i.socket_path[0]) {
			snprintf(dir, sizeof(dir), "%s", p->i.socket_path);
			char *slash = strrchr(dir, '/');
			if (slash)
				*slash = 0;
		}
		TLOG_INFO(&a->log, "container %.12s %s: detached (vif %u)", container_id,
			  p->i.ifname, p->vif);
		port_unprogram(a, p);
		if (dir[0])
			rmdir(dir);  /* the vrouter removed its socket with the vif */
		n++;
	}
	return n;
}

/* ---- remote routes ---- */

static bool path_imported(const struct agent_vrf *v, const struct agent_bgp_path *p)
{
	for (int i = 0; i < p->n_ext; i++)
		for (int k = 0; k < v->n_import; k++)
			if (!memcmp(p->ext[i], v->import[k], 8))
				return true;
	return false;
}

static void path_dst(const struct agent_bgp_path *p, struct agent_ip *dst)
{
	memset(dst, 0, sizeof(*dst));
	dst->family = p->prefix.af == BGP_AF_VPNV4 ? 4 : 6;
	dst->plen = p->prefix.plen;
	memcpy(dst->a, p->prefix.addr, dst->family == 4 ? 4 : 16);
}

static bool ip_eq(const struct agent_ip *x, const struct agent_ip *y)
{
	return x->family == y->family && x->plen == y->plen && !memcmp(x->a, y->a, 16);
}

static bool is_local(struct agent *a, uint16_t vrf, const struct agent_ip *dst)
{
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		const struct agent_port *p = &a->ports[i];
		if (!p->used || p->vrf != vrf)
			continue;
		for (int k = 0; k < p->i.n_addrs; k++)
			if (p->i.addrs[k].family == dst->family &&
			    dst->plen == (dst->family == 4 ? 32 : 128) &&
			    !memcmp(p->i.addrs[k].a, dst->a, 16))
				return true;
	}
	return false;
}

/* The encapsulation for a path: the network's first that the path allows. */
static uint8_t pick_encap(struct agent *a, const struct agent_vrf *v,
			  const struct agent_bgp_path *p)
{
	uint8_t enc[3];
	int n = agent_vn_encaps(vn_of(a, v->network), enc);
	bool any = false;
	for (int i = 0; i < p->n_ext; i++)
		any |= p->ext[i][0] == 0x03 && p->ext[i][1] == 0x0c;
	for (int k = 0; k < n; k++) {
		if (enc[k] == VR_ENCAP_VXLAN)
			continue;
		if (!any)
			return enc[k];
		for (int i = 0; i < p->n_ext; i++)
			if (p->ext[i][0] == 0x03 && p->ext[i][1] == 0x0c &&
			    ((p->ext[i][6] << 8) | p->ext[i][7]) == encap_tunnel(enc[k]))
				return enc[k];
	}
	return VR_ENCAP_MPLSOUDP;
}

/* The MAC of the next underlay hop towards a tunnel end. */
int agent_underlay_mac(struct agent *a, const struct agent_ip *dip, uint8_t mac[6])
{
	if (dip->family != 4 || a->fabric_ip.family != 4 || !a->arp)
		return -EAFNOSUPPORT;
	struct agent_ip net = a->fabric_ip;
	net.plen = a->conf.fabric_plen;
	struct agent_ip target = *dip;
	if (!agent_ip_contains(&net, dip)) {
		if (agent_ip_parse(a->conf.fabric_gw, &target) < 0)
			return -EHOSTUNREACH;
	}
	return agent_arp_resolve(a->arp, target.a, mac, 50);
}

/* ---- indexes of the remote tables (a node may learn tens of thousands of
 * paths: no linear scans on the way of a path) ---- */

static json_t *ix(json_t **p)
{
	if (!*p)
		*p = json_object();
	return *p;
}

void agent_vr_index_free(struct agent *a)
{
	json_t **all[] = { &a->ix_rroute, &a->ix_rpath_dst, &a->ix_rpath, &a->ix_tnh, &a->ix_tnh_id };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		json_decref(*all[i]);
		*all[i] = NULL;
	}
}

/* "vrf/family/address" (the prefix length is not part of a destination's identity, as in ip_eq) */
static void dst_key(char *k, size_t n, uint16_t vrf, const struct agent_ip *ip)
{
	int w = snprintf(k, n, "%u/%u/", vrf, ip->family);
	for (int i = 0; i < (ip->family == 4 ? 4 : 16) && w + 2 < (int)n; i++)
		w += snprintf(k + w, n - (size_t)w, "%02x", ip->a[i]);
}

static int ix_get(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return v ? (int)json_integer_value(v) : -1;
}

static void ix_set(json_t **o, const char *k, int i)
{
	if (i < 0)
		json_object_del(ix(o), k);
	else
		json_object_set_new(ix(o), k, json_integer(i));
}

/* A free slot of a table, from where the last one was found; -1 when full.
 * Every table's entry starts with its `bool used`. */
static int slot_free(const void *base, size_t size, int max, int *hint)
{
	for (int k = 0; k < max; k++) {
		int i = (*hint + k) % max;
		if (!*(const bool *)((const char *)base + (size_t)i * size)) {
			*hint = (i + 1) % max;
			return i;
		}
	}
	return -1;
}

static void tnh_key(char *k, size_t n, uint16_t vrf, uint8_t encap, uint32_t label,
		    const struct agent_ip *dip)
{
	char d[64];
	dst_key(d, sizeof(d), vrf, dip);
	snprintf(k, n, "%s/%u/%u", d, encap, label);
}

static struct agent_tnh *tnh_get(struct agent *a, uint16_t vrf, uint8_t encap, uint32_t label,
				 const struct agent_ip *dip)
{
	char key[96];
	tnh_key(key, sizeof(key), vrf, encap, label, dip);
	int found = ix_get(a->ix_tnh, key);
	if (found >= 0) {
		a->tnhs[found].refs++;
		return &a->tnhs[found];
	}
	int fi = slot_free(a->tnhs, sizeof(*a->tnhs), AGENT_MAX_TNHS, &a->hint_tnh);
	if (fi < 0)
		return NULL;
	struct agent_tnh *free_slot = &a->tnhs[fi];
	uint8_t mac[6];
	char ip[64], err[256];
	int rc = agent_underlay_mac(a, dip, mac);
	if (rc < 0) {
		TLOG_WARN(&a->log, "no underlay MAC for tunnel end %s (%s); retrying",
			  agent_ip_str(dip, ip, sizeof(ip), false), strerror(-rc));
		a->resolve_pending = true;
		return NULL;
	}
	uint32_t id = nh_alloc(a);
	if (!id)
		return NULL;
	struct vr_object o;
	obj_init(&o, VR_OBJ_NH);
	o.u.nh.id = id;
	o.u.nh.type = VR_NH_TUNNEL;
	o.u.nh.vif = 0;
	o.u.nh.vrf = vrf;
	o.u.nh.encap = encap;
	memcpy(o.u.nh.dmac, mac, 6);
	o.u.nh.sip.family = a->fabric_ip.family;
	memcpy(o.u.nh.sip.a, a->fabric_ip.a, 16);
	o.u.nh.dip.family = dip->family;
	memcpy(o.u.nh.dip.a, dip->a, 16);
	o.u.nh.label = label;
	VR_SET(&o, VR_AT_ID); VR_SET(&o, VR_AT_TYPE); VR_SET(&o, VR_AT_VIF);
	VR_SET(&o, VR_AT_VRF); VR_SET(&o, VR_AT_ENCAP); VR_SET(&o, VR_AT_DMAC);
	VR_SET(&o, VR_AT_SIP); VR_SET(&o, VR_AT_DIP); VR_SET(&o, VR_AT_LABEL);
	if (vr_do(a, VR_OP_ADD, &o, err, sizeof(err)) < 0) {
		TLOG_WARN(&a->log, "tunnel nexthop to %s: %s",
			  agent_ip_str(dip, ip, sizeof(ip), false), err);
		a->nh_used[id] = 0;
		return NULL;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->id = id;
	free_slot->refs = 1;
	free_slot->vrf = vrf;
	free_slot->encap = encap;
	free_slot->label = label;
	free_slot->dip = *dip;
	char idk[16];
	snprintf(idk, sizeof(idk), "%u", id);
	ix_set(&a->ix_tnh, key, fi);
	ix_set(&a->ix_tnh_id, idk, fi);
	return free_slot;
}

static void tnh_put(struct agent *a, uint32_t id)
{
	char idk[16], key[96];
	snprintf(idk, sizeof(idk), "%u", id);
	int i = ix_get(a->ix_tnh_id, idk);
	if (i < 0)
		return;
	struct agent_tnh *t = &a->tnhs[i];
	if (--t->refs == 0) {
		nh_del(a, id);
		tnh_key(key, sizeof(key), t->vrf, t->encap, t->label, &t->dip);
		ix_set(&a->ix_tnh, key, -1);
		ix_set(&a->ix_tnh_id, idk, -1);
		t->used = false;
	}
}

/* Drop a remote route's nexthops (and the route itself when del_route). */
static void rroute_release(struct agent *a, struct agent_rroute *r, bool del_route)
{
	char err[256];
	if (del_route) {
		int rc = route_set(a, r->vrf, &r->dst, 0, false, err, sizeof(err));
		if (rc < 0 && rc != -ENOENT)
			TLOG_WARN(&a->log, "vrf %u: deleting remote route: %s", r->vrf, err);
	}
	if (r->ecmp)
		nh_del(a, r->ecmp);
	for (int i = 0; i < r->n_tnh; i++)
		tnh_put(a, r->tnh[i]);
	char key[64];
	dst_key(key, sizeof(key), r->vrf, &r->dst);
	ix_set(&a->ix_rroute, key, -1);
	r->used = false;
}

static struct agent_rroute *rroute_find(struct agent *a, uint16_t vrf, const struct agent_ip *dst)
{
	char key[64];
	dst_key(key, sizeof(key), vrf, dst);
	int i = ix_get(a->ix_rroute, key);
	return i >= 0 ? &a->rroutes[i] : NULL;
}

/* Bring one destination of one VRF in line with the learned paths. */
static void recompute_dst(struct agent *a, struct agent_vrf *v, const struct agent_ip *dst)
{
	struct agent_rroute *r = rroute_find(a, v->id, dst);
	uint32_t tnh[AGENT_MAX_ECMP];
	int n = 0;
	char dkey[64];
	dst_key(dkey, sizeof(dkey), 0, dst);
	json_t *paths = json_object_get(a->ix_rpath_dst, dkey), *pi;
	size_t ki;
	if (!is_local(a, v->id, dst)) {
		json_array_foreach(paths, ki, pi) {
			const struct agent_rpath *rp = &a->rpaths[json_integer_value(pi)];
			struct agent_ip dip;
			if (n >= AGENT_MAX_ECMP)
				break;
			if (!rp->used || !path_imported(v, &rp->p))
				continue;
			memset(&dip, 0, sizeof(dip));
			dip.family = rp->p.nh_len == 4 ? 4 : 6;
			dip.plen = dip.family == 4 ? 32 : 128;
			memcpy(dip.a, rp->p.nh, rp->p.nh_len);
			struct agent_tnh *t = tnh_get(a, v->id, pick_encap(a, v, &rp->p),
						      rp->p.label & 0xfffff, &dip);
			if (t)
				tnh[n++] = t->id;
		}
	}
	char err[256], ip[64];
	if (!n) {
		if (r)
			rroute_release(a, r, true);
		return;
	}
	if (!r) {
		int fi = slot_free(a->rroutes, sizeof(*a->rroutes), AGENT_MAX_RROUTES, &a->hint_rroute);
		if (fi < 0) {
			TLOG_WARN(&a->log, "remote route table full (%d)", AGENT_MAX_RROUTES);
			for (int i = 0; i < n; i++)
				tnh_put(a, tnh[i]);
			return;
		}
		r = &a->rroutes[fi];
		memset(r, 0, sizeof(*r));
		r->used = true;
		r->vrf = v->id;
		r->dst = *dst;
		char key[64];
		dst_key(key, sizeof(key), v->id, dst);
		ix_set(&a->ix_rroute, key, fi);
	}
	uint32_t nh = tnh[0], ecmp = 0;
	if (n > 1) {
		ecmp = nh_alloc(a);
		struct vr_object o;
		obj_init(&o, VR_OBJ_NH);
		o.u.nh.id = ecmp;
		o.u.nh.type = VR_NH_ECMP;
		o.u.nh.vrf = v->id;
		o.u.nh.n_members = (uint16_t)n;
		memcpy(o.u.nh.members, tnh, sizeof(uint32_t) * (size_t)n);
		VR_SET(&o, VR_AT_ID); VR_SET(&o, VR_AT_TYPE); VR_SET(&o, VR_AT_VRF);
		VR_SET(&o, VR_AT_MEMBERS);
		if (!ecmp || vr_do(a, VR_OP_ADD, &o, err, sizeof(err)) < 0) {
			TLOG_WARN(&a->log, "vrf %u: ecmp nexthop: %s", v->id, ecmp ? err : "no id");
			if (ecmp)
				a->nh_used[ecmp] = 0;
			ecmp = 0;
		} else {
			nh = ecmp;
		}
	}
	if (route_set(a, v->id, dst, nh, true, err, sizeof(err)) < 0)
		TLOG_WARN(&a->log, "vrf %u: route %s: %s", v->id,
			  agent_ip_str(dst, ip, sizeof(ip), true), err);
	else
		TLOG_DEBUG(&a->log, "vrf %u: %s via %d path(s), nexthop %u", v->id,
			   agent_ip_str(dst, ip, sizeof(ip), true), n, nh);
	/* The old nexthops go only after the route moved off them. */
	uint32_t old_ecmp = r->ecmp;
	int old_n = r->n_tnh;
	uint32_t old[AGENT_MAX_ECMP];
	memcpy(old, r->tnh, sizeof(old));
	r->nh = nh;
	r->ecmp = ecmp;
	r->n_tnh = n;
	memcpy(r->tnh, tnh, sizeof(uint32_t) * (size_t)n);
	if (old_ecmp)
		nh_del(a, old_ecmp);
	for (int i = 0; i < old_n; i++)
		tnh_put(a, old[i]);
}

static void recompute_vrf(struct agent *a, struct agent_vrf *v)
{
	for (int i = 0; i < AGENT_MAX_RPATHS; i++) {
		struct agent_ip d;
		if (!a->rpaths[i].used)
			continue;
		path_dst(&a->rpaths[i].p, &d);
		recompute_dst(a, v, &d);
	}
	/* Routes whose paths are no longer imported. */
	for (int i = 0; i < AGENT_MAX_RROUTES; i++)
		if (a->rroutes[i].used && a->rroutes[i].vrf == v->id) {
			struct agent_ip d = a->rroutes[i].dst;
			recompute_dst(a, v, &d);
		}
}

void agent_vr_recompute_all(struct agent *a)
{
	for (int i = 1; i <= AGENT_MAX_VRFS; i++)
		if (a->vrfs[i].used)
			recompute_vrf(a, &a->vrfs[i]);
	agent_l2_recompute_all(a);
}

void agent_vr_path(struct agent *a, bool add, const struct agent_bgp_path *p)
{
	if (p->prefix.af == BGP_AF_EVPN) {
		agent_l2_path(a, add, p);
		return;
	}
	if (p->prefix.af != BGP_AF_VPNV4 && p->prefix.af != BGP_AF_VPNV6)
		return;
	/* the path's identity: its prefix (RD included) and next hop */
	char key[2 * (BGP_PREFIX_KEY_LEN + 16) + 8], dkey[64];
	int w = 0;
	const uint8_t *pk = (const uint8_t *)&p->prefix;
	for (size_t i = 0; i < BGP_PREFIX_KEY_LEN; i++)
		w += snprintf(key + w, sizeof(key) - (size_t)w, "%02x", pk[i]);
	w += snprintf(key + w, sizeof(key) - (size_t)w, "/");
	for (int i = 0; i < p->nh_len && i < 16; i++)
		w += snprintf(key + w, sizeof(key) - (size_t)w, "%02x", p->nh[i]);
	struct agent_ip d;
	path_dst(p, &d);
	dst_key(dkey, sizeof(dkey), 0, &d);
	int si = ix_get(a->ix_rpath, key);
	if (add) {
		if (si < 0) {
			si = slot_free(a->rpaths, sizeof(*a->rpaths), AGENT_MAX_RPATHS, &a->hint_rpath);
			if (si < 0) {
				TLOG_WARN(&a->log, "learned path table full (%d)", AGENT_MAX_RPATHS);
				return;
			}
			ix_set(&a->ix_rpath, key, si);
			json_t *list = json_object_get(ix(&a->ix_rpath_dst), dkey);
			if (!list) {
				list = json_array();
				json_object_set_new(a->ix_rpath_dst, dkey, list);
			}
			json_array_append_new(list, json_integer(si));
		}
		a->rpaths[si].used = true;
		a->rpaths[si].p = *p;
	} else if (si >= 0) {
		a->rpaths[si].used = false;
		ix_set(&a->ix_rpath, key, -1);
		json_t *list = json_object_get(a->ix_rpath_dst, dkey), *e;
		size_t i;
		json_array_foreach(list, i, e)
			if (json_integer_value(e) == si) {
				json_array_remove(list, i);
				break;
			}
		if (list && !json_array_size(list))
			json_object_del(a->ix_rpath_dst, dkey);
	} else {
		return;
	}
	for (int i = 1; i <= AGENT_MAX_VRFS; i++)
		if (a->vrfs[i].used)
			recompute_dst(a, &a->vrfs[i], &d);
}

void agent_vr_vrf_changed(struct agent *a, struct agent_vrf *v)
{
	json_t *vn = vn_of(a, v->network);
	if (!vn)
		return;
	char err[256];
	uint32_t old_vni = v->vni, old_policy = v->policy;
	v->programmed = false;  /* the VNI, the gateways or the policies may have changed */
	if (!vrf_ensure(a, v->network, err, sizeof(err)))
		TLOG_WARN(&a->log, "vrf %u of network %s: %s", v->id, v->network, err);
	if (old_vni && old_vni != v->vni) {
		struct vr_object o;
		obj_init(&o, VR_OBJ_VNI);
		o.u.vni.vni = old_vni;
		VR_SET(&o, VR_AT_VNI);
		if (vr_do(a, VR_OP_DEL, &o, err, sizeof(err)) < 0)
			TLOG_WARN(&a->log, "vrf %u: deleting the old vni %u: %s", v->id, old_vni, err);
	}
	/* to or from l2: the host routes' proxy-arp flag changes */
	bool reflag = agent_l2_host_route_flags(a, v) != v->port_rt_flags;
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		struct agent_port *p = &a->ports[i];
		if (!p->used || p->vrf != v->id)
			continue;
		/* Written again in place: the vif takes its network's policy now. */
		if ((old_policy != v->policy || reflag) && port_program(a, p, err, sizeof(err)) < 0)
			TLOG_WARN(&a->log, "%s: %s", p->i.ifname, err);
		port_announce(a, p);
	}
	if (old_policy && !v->policy)
		policy_del(a, old_policy);
	recompute_vrf(a, v);
}

/* Whether any network policy selects interfaces by labels. */
static bool policies_use_labels(struct agent *a)
{
	json_t *all = json_object_get(a->model, "network-policy"), *pol, *rule;
	const char *k;
	size_t i;
	json_object_foreach(all, k, pol)
		json_array_foreach(json_object_get(pol, "rules"), i, rule)
			if (json_object_size(json_object_get(json_object_get(rule, "source"), "labels")) ||
			    json_object_size(json_object_get(json_object_get(rule, "destination"), "labels")))
				return true;
	return false;
}

void agent_on_object(struct agent *a, const char *kind, json_t *obj, bool deleted)
{
	if (!strcmp(kind, "network-policy")) {
		/* Few networks per node: re-derive every VRF's policy and imports. */
		for (int i = 1; i <= AGENT_MAX_VRFS; i++)
			if (a->vrfs[i].used)
				agent_vr_vrf_changed(a, &a->vrfs[i]);
		return;
	}
	/* security groups: rules, a port's groups, the members of a remote group */
	if (!strcmp(kind, "security-group") || !strcmp(kind, "virtual-machine-interface") ||
	    !strcmp(kind, "instance-ip"))
		agent_sg_changed(a);
	if (!strcmp(kind, "security-group"))
		return;
	if (!strcmp(kind, "service")) {
		agent_svc_sync(a);
		return;
	}
	if (!strcmp(kind, "floating-ip") || !strcmp(kind, "floating-ip-pool")) {
		agent_fip_sync(a);
		return;
	}
	if ((!strcmp(kind, "virtual-machine-interface") || !strcmp(kind, "instance-ip")) &&
	    policies_use_labels(a)) {
		/* members of a label selection came or went: rewrite the policies that changed */
		char err[256];
		for (int i = 1; i <= AGENT_MAX_VRFS; i++) {
			struct agent_vrf *v = &a->vrfs[i];
			if (v->used && v->programmed && v->policy &&
			    vrf_policy(a, v, vn_of(a, v->network), err, sizeof(err)) < 0)
				TLOG_WARN(&a->log, "vrf %u: policy: %s", v->id, err);
		}
		return;
	}
	if (deleted || strcmp(kind, "virtual-network"))
		return;
	const char *fq = json_string_value(json_object_get(obj, "fq_name"));
	struct agent_vrf *v = fq ? vrf_find(a, fq) : NULL;
	if (v)
		agent_vr_vrf_changed(a, v);
	agent_svc_sync(a); /* a network's services follow it */
}

/* ---- connection, restore ---- */

void agent_vr_forget_remote(struct agent *a)
{
	agent_l2_forget(a);
	agent_svc_forget(a);
	agent_fip_forget(a);
	agent_sg_forget(a);
	for (int i = 1; i <= AGENT_MAX_VRFS; i++) {
		a->vrfs[i].programmed = false;
		a->vrfs[i].policy_sig = 0; /* an empty vrouter: written again */
	}
	for (int i = 0; i < AGENT_MAX_RROUTES; i++)
		a->rroutes[i].used = false;
	for (int i = 0; i < AGENT_MAX_TNHS; i++) {
		if (a->tnhs[i].used)
			a->nh_used[a->tnhs[i].id] = 0;
		a->tnhs[i].used = false;
	}
	json_object_clear(ix(&a->ix_rroute));
	json_object_clear(ix(&a->ix_tnh));
	json_object_clear(ix(&a->ix_tnh_id));
	for (uint32_t id = 1; id < AGENT_NH_IDS; id++)
		if (a->nh_used[id] == 2)
			a->nh_used[id] = 0;
	a->n_stale_labels = 0;
}

void agent_vr_alive(struct agent *a)
{
	struct vr_object o;
	char err[256];
	obj_init(&o, VR_OBJ_INFO);
	if (vr_do(a, VR_OP_GET, &o, err, sizeof(err)) < 0 && !a->vr)
		TLOG_WARN(&a->log, "vrouter gone (%s): reconnecting; its forwarding state will be "
			  "written again", err);
}

/* The node's fabric NIC as vif 0, when the agent was told which it is. */
static int fabric_add(struct agent *a, char *err, size_t errlen)
{
	char path[96], mac[32] = "";
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", a->conf.fabric_if);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(mac, sizeof(mac), f)) {
		snprintf(err, errlen, "fabric interface %s: %s", a->conf.fabric_if, strerror(errno));
		if (f)
			fclose(f);
		return -ENODEV;
	}
	fclose(f);
	mac[strcspn(mac, "\n")] = 0;
	struct vr_object o;
	obj_init(&o, VR_OBJ_VIF);
	o.u.vif.id = 0;
	o.u.vif.type = VR_VIF_FABRIC;
	snprintf(o.u.vif.ifname, sizeof(o.u.vif.ifname), "%s", a->conf.fabric_if);
	if (tern_mac_parse(mac, o.u.vif.mac) < 0) {
		snprintf(err, errlen, "fabric interface %s: no MAC", a->conf.fabric_if);
		return -ENODEV;
	}
	o.u.vif.ip.family = a->conf.fabric_addr.family;
	memcpy(o.u.vif.ip.a, a->conf.fabric_addr.a, 16);
	VR_SET(&o, VR_AT_ID); VR_SET(&o, VR_AT_TYPE); VR_SET(&o, VR_AT_IFNAME);
	VR_SET(&o, VR_AT_MAC); VR_SET(&o, VR_AT_IP);
	int rc = vr_do(a, VR_OP_ADD, &o, err, errlen);
	if (rc == 0)
		TLOG_INFO(&a->log, "fabric vif 0 added: %s", a->conf.fabric_if);
	return rc;
}

int agent_vr_connect(struct agent *a, char *err, size_t errlen)
{
	if (a->vr)
		return 0;
	a->vr = vr_client_open(a->conf.vr_socket, NULL, err, errlen);
	if (!a->vr)
		return -errno;
	/* The fabric vif (0) gives the node's tunnel address and MAC. */
	struct vr_object o;
	obj_init(&o, VR_OBJ_VIF);
	o.u.vif.id = 0;
	VR_SET(&o, VR_AT_ID);
	struct vr_msg_view v;
	int rc = vr_client_request(a->vr, VR_OP_GET, VR_OBJ_VIF, &o, 0, a->vr_reply,
				   AGENT_VR_REPLY_CAP, &v,
				   err, errlen);
	struct vr_object f;
	if (rc == -ENOENT && a->conf.fabric_if[0]) {
		if ((rc = fabric_add(a, err, errlen)) < 0) {
			vr_client_close(a->vr);
			a->vr = NULL;
			return rc;
		}
		vr_client_close(a->vr);  /* and read it back as any start does */
		a->vr = NULL;
		return agent_vr_connect(a, err, errlen);
	}
	if (rc == 0 && vr_msg_next_object(&v, &f, err, errlen) == 1 && f.u.vif.ip.family) {
		memcpy(a->fabric_mac, f.u.vif.mac, 6);
		memset(&a->fabric_ip, 0, sizeof(a->fabric_ip));
		a->fabric_ip.family = f.u.vif.ip.family;
		a->fabric_ip.plen = f.u.vif.ip.family == 4 ? 32 : 128;
		memcpy(a->fabric_ip.a, f.u.vif.ip.a, 16);
		snprintf(a->fabric_ifname, sizeof(a->fabric_ifname), "%s", f.u.vif.ifname);
	} else {
		if (rc == 0)
			snprintf(err, errlen, "the vrouter has no fabric vif (0) with an address yet");
		vr_client_close(a->vr);
		a->vr = NULL;
		return rc < 0 ? rc : -EAGAIN;
	}
	/* The node itself: where pods' packets to the gateway go. */
	obj_init(&o, VR_OBJ_NH);
	o.u.nh.id = AGENT_RECEIVE_NH;
	o.u.nh.type = VR_NH_RECEIVE;
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_TYPE);
	a->nh_used[AGENT_RECEIVE_NH] = 1;
	return vr_do(a, VR_OP_ADD, &o, err, errlen);
}

int agent_vr_restore(struct agent *a, char *err, size_t errlen)
{
	int fails = 0;
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		struct agent_port *p = &a->ports[i];
		if (!p->used)
			continue;
		char e[512];
		if (port_program(a, p, e, sizeof(e)) < 0) {
			TLOG_WARN(&a->log, "restoring container %.12s %s: %s", p->container_id,
				  p->i.ifname, e);
			fails++;
		}
	}
	if (fails)
		snprintf(err, errlen, "%d port(s) could not be restored", fails);
	return fails ? -EIO : 0;
}

void agent_vr_announce_all(struct agent *a)
{
	for (int i = 0; i < AGENT_MAX_PORTS; i++)
		if (a->ports[i].used)
			port_announce(a, &a->ports[i]);
	agent_fip_announce_all(a);
}

/* ---- taking over after a restart ---- */

/* Every object of a type (filtered by filter when not NULL), page by page. */
int agent_vr_dump(struct agent *a, uint16_t type, const struct vr_object *filter,
		  agent_dump_fn fn, void *arg)
{
	uint64_t cursor = 0;
	char err[256];
	struct vr_object none;
	obj_init(&none, type);
	if (!a->vr)
		return -ENOTCONN;
	do {
		struct vr_msg_view v;
		struct vr_object o;
		int rc = vr_client_request(a->vr, VR_OP_DUMP, type, filter ? filter : &none, cursor,
					   a->vr_reply, AGENT_VR_REPLY_CAP, &v, err, sizeof(err));
		if (rc < 0) {
			TLOG_WARN(&a->log, "dumping %s: %s", vr_obj_name(type), err);
			/* a late reply would answer the next request: start over */
			if (rc == -ECONNRESET || rc == -EPIPE || rc == -ETIMEDOUT)
				vr_lost(a, err);
			return rc;
		}
		while ((rc = vr_msg_next_object(&v, &o, err, sizeof(err))) == 1)
			fn(a, &o, arg);
		if (rc < 0)
			return rc;
		uint64_t next = v.has_cursor ? v.cursor : 0;
		if (next == cursor && !v.n_objects)
			break;
		cursor = next;
	} while (cursor);
	return 0;
}

static void adopt_nh(struct agent *a, const struct vr_object *o, void *arg)
{
	(void)arg;
	agent_l2_adopt_nh(a, o);  /* L2 tunnels and flood lists: kept as they are */
	if (o->u.nh.id < AGENT_NH_IDS && !a->nh_used[o->u.nh.id])
		a->nh_used[o->u.nh.id] = 2;  /* a previous run's: reserved until the sweep */
}

static void adopt_label(struct agent *a, const struct vr_object *o, void *arg)
{
	(void)arg;
	uint32_t l = o->u.mpls.label;
	if (l < AGENT_LABELS && !label_is_used(a, l)) {
		label_set(a, l, true);
		if (a->n_stale_labels < AGENT_MAX_STALE)
			a->stale_labels[a->n_stale_labels++] = l;
	}
}

static void adopt_svc(struct agent *a, const struct vr_object *o, void *arg)
{
	(void)arg;
	agent_svc_adopt_one(a, o);
}

static void adopt_vif(struct agent *a, const struct vr_object *o, void *arg)
{
	(void)arg;
	agent_sg_adopt_vif(a, o);
	if (o->u.vif.id < VR_MAX_VIFS && !a->vif_used[o->u.vif.id])
		a->vif_used[o->u.vif.id] = 2;  /* not the agent's (fabric, host, ...): kept */
}

static void adopt_policy(struct agent *a, const struct vr_object *o, void *arg)
{
	(void)arg;
	agent_sg_adopt_policy(a, o);
}

void agent_vr_adopt(struct agent *a)
{
	agent_vr_dump(a, VR_OBJ_NH, NULL, adopt_nh, NULL);
	agent_vr_dump(a, VR_OBJ_MPLS, NULL, adopt_label, NULL);
	agent_vr_dump(a, VR_OBJ_VIF, NULL, adopt_vif, NULL);
	agent_vr_dump(a, VR_OBJ_SERVICE, NULL, adopt_svc, NULL);
	agent_vr_dump(a, VR_OBJ_POLICY, NULL, adopt_policy, NULL);
	agent_l2_adopt_done(a);
}

bool agent_vr_converged(struct agent *a, int64_t since_start_ms)
{
	if (since_start_ms > 60000 || !a->bgp)
		return true;
	struct agent_bgp_peer_status st[AGENT_BGP_MAX_PEERS];
	int n = agent_bgp_status(a->bgp, st, AGENT_BGP_MAX_PEERS);
	for (int i = 0; i < n; i++)
		if (strcmp(st[i].state, "Established"))
			return false;
	/* Established everywhere: give the routes a moment to arrive. */
	if (!a->all_up_ms)
		a->all_up_ms = since_start_ms;
	return since_start_ms - a->all_up_ms >= 3000;
}

static bool route_wanted(struct agent *a, uint16_t vrf, const struct agent_ip *dst)
{
	if (is_local(a, vrf, dst))
		return true;
	if (rroute_find(a, vrf, dst))
		return true;
	json_t *vn = vn_of(a, a->vrfs[vrf].network);
	size_t i;
	json_t *sn;
	json_array_foreach(json_object_get(vn, "subnets"), i, sn) {
		static const char *const keys[] = { "gateway", "dns" };
		for (int k = 0; k < 2; k++) {
			struct agent_ip ip;
			if (agent_ip_parse(json_string_value(json_object_get(sn, keys[k])), &ip) == 0 &&
			    ip_eq(&ip, dst))
				return true;
		}
	}
	return false;
}

struct stale_routes {
	int n;
	struct agent_ip dst[256];
};

static void collect_route(struct agent *a, const struct vr_object *o, void *arg)
{
	struct stale_routes *s = arg;
	struct agent_ip d = { .family = o->u.route.prefix.family, .plen = o->u.route.plen };
	memcpy(d.a, o->u.route.prefix.a, 16);
	if (!route_wanted(a, o->u.route.vrf, &d) && s->n < 256)
		s->dst[s->n++] = d;
}

void agent_vr_sweep(struct agent *a)
{
	int routes = 0, nhs = 0, labels = 0;
	char err[256];
	a->swept = true;
	int bridge = agent_l2_sweep(a);  /* first: it releases the tunnels it no longer uses */
	struct stale_routes *s = malloc(sizeof(*s));
	for (int v = 1; s && v <= AGENT_MAX_VRFS; v++) {
		if (!a->vrfs[v].used)
			continue;
		struct vr_object f;
		obj_init(&f, VR_OBJ_ROUTE);
		f.u.route.vrf = (uint16_t)v;
		VR_SET(&f, VR_AT_VRF);
		do {  /* 256 at a time: deleting while paging would move the cursor */
			s->n = 0;
			agent_vr_dump(a, VR_OBJ_ROUTE, &f, collect_route, s);
			for (int i = 0; i < s->n; i++)
				if (route_set(a, (uint16_t)v, &s->dst[i], 0, false, err, sizeof(err)) == 0)
					routes++;
		} while (s->n == 256);
	}
	free(s);
	for (int i = 0; i < a->n_stale_labels; i++) {
		uint32_t l = a->stale_labels[i];
		bool ours = false;
		for (int k = 0; k < AGENT_MAX_PORTS && !ours; k++)
			ours = a->ports[k].used && a->ports[k].label == l;
		if (ours)
			continue;
		struct vr_object o;
		obj_init(&o, VR_OBJ_MPLS);
		o.u.mpls.label = l;
		VR_SET(&o, VR_AT_LABEL);
		if (vr_do(a, VR_OP_DEL, &o, err, sizeof(err)) == 0) {
			labels++;
			label_set(a, l, false);
		}
	}
	a->n_stale_labels = 0;
	/* Composites first: they hold the tunnel nexthops. */
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t id = 1; id < AGENT_NH_IDS; id++)
			if (a->nh_used[id] == 2 && nh_del(a, id) == 0)
				nhs++;
	for (uint32_t id = 1; id < AGENT_NH_IDS; id++)
		if (a->nh_used[id] == 2)  /* still referenced by something not ours */
			a->nh_used[id] = 1;
	int svcs = agent_svc_sweep(a);
	int sgs = agent_sg_sweep(a);
	TLOG_INFO(&a->log, "take-over complete: removed %d stale route(s), %d nexthop(s), "
		  "%d label(s), %d service(s), %d security-group policy(ies), %d adopted bridge "
		  "entr%s no route confirmed", routes, nhs, labels, svcs, sgs, bridge,
		  bridge == 1 ? "y" : "ies");
}
