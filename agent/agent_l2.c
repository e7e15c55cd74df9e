/*
 * DOC: agent_l2.c — the L2 side of the agent (EVPN, RFC 7432 / RFC 8365) for
 * virtual networks whose forwarding_mode is "l2" or "l2_l3".
 *
 * What the node advertises, per L2 network:
 *  - per local port, EVPN type 2 (MAC/IP advertisement): one route with the
 *    MAC only and one per address (MAC + IP), as FRR and gobgp send them;
 *    RD fabric-ip:vrf, ESI 0, Ethernet tag 0; the label field is the
 *    network's VNI for VXLAN, else the port's L2 MPLS label (label << 4 | S);
 *  - one EVPN type 3 (inclusive multicast Ethernet tag) route with a
 *    PMSI_TUNNEL attribute: ingress replication to the node's fabric address,
 *    the VNI or the network's flood label;
 *  - the network's export route targets and the RFC 9012 encapsulation
 *    community of the chosen encapsulation (VXLAN alone, or the MPLS ones).
 * The node uses VXLAN when it comes first in the network's encapsulation
 * list among those it can use (VXLAN needs a VNI), else MPLS.
 *
 * What it installs, in the VRF of every local L2 network that imports a
 * learned route's targets: type 2 -> a bridge entry MAC -> L2 tunnel nexthop
 * (VXLAN with the VNI, or MPLSoUDP / MPLSoGRE with the label, the first of
 * the network's order that the route's encapsulation communities allow);
 * type 3 -> a member of the VRF's flood nexthop (ingress replication). The
 * flood nexthop also holds the local ports; MPLS packets reach it through
 * the network's flood label, and a port through its own L2 label.
 *
 * The vrouter bridges by MAC in an "l2" network: pods resolve each other.
 * An "l2_l3" VRF both routes and bridges (VR_VRF_F_L2 | VR_VRF_F_L3, once its
 * flood nexthop exists): the host routes the agent writes (local ports,
 * remote hosts learned over VPNv4/v6, the subnets' gateway and DNS) carry
 * VR_RT_F_PROXY_ARP, so the vrouter still answers ARP/ND for them with its
 * own MAC and IP between pods stays routed (NAT, services and policies as in
 * l3); unknown addresses, broadcasts and non-IP frames are bridged and
 * flooded. Bridged IP (a pod that learned or was given another's MAC) goes
 * through the vrouter's flow stage all the same: policies apply to it. A
 * mode change at run time starts the VRF's L2 side over (vrf_off) and
 * writes the ports' host routes again with their new flags (agent_vr.c).
 *
 * A port's L2 objects are written in the port's own pipeline (agent_vr.c,
 * port_program): one round trip for the vif, its routes and its L2 side.
 *
 * After a restart nothing is made anew (the labels the other nodes hold stay
 * valid): the local ids (a port's L2 nexthop and label, a VRF's flood
 * nexthop and label, its mode) are in the state file; what was learned from
 * remote nodes (L2 tunnel nexthops, the flood lists' remote members, the
 * bridge entries to them) is adopted from the vrouter's tables, kept as it
 * is until the learned paths confirm it (same key: same nexthop id, nothing
 * rewritten) and removed by agent_l2_sweep once the controllers' routes are
 * in when no path wants it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "tern_mac.h"

#define L2_MAX_PATHS 16384
#define L2_MAX_TNHS 4096
#define L2_MAX_BRIDGE 16384

struct l2_vrf {
	bool on;                       /* set up: flood nh written, type 3 announced */
	bool vrf_written;              /* the VRF object names the flood nexthop */
	bool flood_present;            /* the flood nexthop is in the vrouter: the VRF may name it */
	bool flood_label_written;
	uint8_t mode;                  /* enum agent_l2_mode */
	uint32_t flood_nh;
	uint32_t flood_label;          /* MPLS: label -> flood nh */
	uint32_t sig;                  /* of what decides the remote side: imports,
					* encapsulations, VNI (a change: sync again) */
	uint16_t n_remote;             /* remote members of the flood list (tunnel nhs) */
	uint32_t remote[VR_MAX_ECMP];
	uint16_t n_written;            /* what the flood nh holds now */
	uint32_t written[VR_MAX_ECMP];
	uint16_t n_found;              /* take-over: the flood nh's members in the vrouter */
	uint32_t found[VR_MAX_ECMP];
};

struct l2_port {                       /* indexed like a->ports */
	uint32_t nh, label;            /* MPLS: L2 encap nh and the label to it */
	bool written;                  /* bridge entry, nh and label are in the vrouter */
	bool present;                  /* the port's own nexthop is: a flood member may name it */
};

struct l2_tnh {
	bool used;
	uint32_t id, refs;
	uint16_t vrf;
	uint8_t encap;
	uint32_t label;                /* MPLS label or VNI */
	struct agent_ip dip;
};

struct l2_bridge {
	uint8_t used;                  /* 0 free, 1 installed, 2 confirmed by this sync,
					* 3 adopted after a restart, not confirmed yet */
	uint16_t vrf;
	uint8_t mac[6];
	uint32_t tnh;
};

struct agent_l2 {
	struct l2_vrf vrf[AGENT_MAX_VRFS + 1];
	struct l2_port port[AGENT_MAX_PORTS];
	bool *path_used;
	struct agent_bgp_path *paths;  /* L2_MAX_PATHS learned EVPN paths */
	struct l2_tnh tnh[L2_MAX_TNHS];
	struct l2_bridge br[L2_MAX_BRIDGE];
};

/* ---- route building and parsing (no state; unit-tested) ---- */

int agent_l2_mode(json_t *vn)
{
	const char *m = json_string_value(json_object_get(vn, "forwarding_mode"));
	if (!vn || !m)
		return AGENT_L2_OFF;  /* tern-api fills the default (l2_l3) */
	if (!strcmp(m, "l2"))
		return AGENT_L2_ONLY;
	if (!strcmp(m, "l2_l3"))
		return AGENT_L2_L3;
	return AGENT_L2_OFF;
}

static void rd_make(uint32_t router_id, uint16_t vrf, uint8_t rd[8])
{
	rd[0] = 0; rd[1] = 1;  /* type 1: IPv4 address : number, as the VPN routes */
	rd[2] = (uint8_t)(router_id >> 24); rd[3] = (uint8_t)(router_id >> 16);
	rd[4] = (uint8_t)(router_id >> 8); rd[5] = (uint8_t)router_id;
	rd[6] = (uint8_t)(vrf >> 8); rd[7] = (uint8_t)vrf;
}

void agent_l2_type2(uint32_t router_id, uint16_t vrf, const uint8_t mac[6],
		    const struct agent_ip *ip, struct bgp_prefix *out)
{
	memset(out, 0, sizeof(*out));
	out->af = BGP_AF_EVPN;
	out->evpn_type = 2;
	rd_make(router_id, vrf, out->rd);
	memcpy(out->mac, mac, 6);
	out->n_labels = 1;
	if (ip) {
		out->plen = ip->family == 4 ? 32 : 128;
		memcpy(out->addr, ip->a, ip->family == 4 ? 4 : 16);
	}
}

void agent_l2_type3(uint32_t router_id, uint16_t vrf, const struct agent_ip *fabric,
		    struct bgp_prefix *out)
{
	memset(out, 0, sizeof(*out));
	out->af = BGP_AF_EVPN;
	out->evpn_type = 3;
	rd_make(router_id, vrf, out->rd);
	out->plen = fabric->family == 4 ? 32 : 128;
	memcpy(out->addr, fabric->a, fabric->family == 4 ? 4 : 16);
}

uint32_t agent_l2_label_field(uint8_t encap, uint32_t v)
{
	/* RFC 8365 §5.1.3: a VNI fills the 24 bits; an MPLS label is the high
	 * 20 (RFC 7432 §7.2), bottom of stack set as in a label stack. */
	return encap == VR_ENCAP_VXLAN ? (v & 0xffffff) : ((v & 0xfffff) << 4 | 1);
}

static bool is_encap_ext(const uint8_t e[8])
{
	return e[0] == 0x03 && e[1] == 0x0c;
}

static uint16_t tunnel_of(uint8_t encap)
{
	return encap == VR_ENCAP_MPLSOUDP ? BGP_TUNNEL_MPLS_UDP :
	       encap == VR_ENCAP_MPLSOGRE ? BGP_TUNNEL_MPLS_GRE : BGP_TUNNEL_VXLAN;
}

int agent_l2_tunnel(const struct agent_bgp_path *p, const uint8_t *order, int n_order,
		    uint8_t *encap, uint32_t *label)
{
	bool vx = false, mpls_any = false, has[VR_ENCAP_MAX_] = { false };
	for (int i = 0; i < p->n_ext; i++) {
		if (!is_encap_ext(p->ext[i]))
			continue;
		uint16_t t = (uint16_t)(p->ext[i][6] << 8 | p->ext[i][7]);
		if (t == BGP_TUNNEL_VXLAN)
			vx = has[VR_ENCAP_VXLAN] = true;
		else if (t == BGP_TUNNEL_MPLS_UDP)
			mpls_any = has[VR_ENCAP_MPLSOUDP] = true;
		else if (t == BGP_TUNNEL_MPLS_GRE)
			mpls_any = has[VR_ENCAP_MPLSOGRE] = true;
	}
	if (!vx && !mpls_any)  /* RFC 7432: no community means MPLS */
		has[VR_ENCAP_MPLSOUDP] = has[VR_ENCAP_MPLSOGRE] = mpls_any = true;
	uint8_t e = 0;
	for (int k = 0; k < n_order && !e; k++)
		if (order[k] < VR_ENCAP_MAX_ && has[order[k]])
			e = order[k];
	if (!e)
		e = vx ? VR_ENCAP_VXLAN : has[VR_ENCAP_MPLSOUDP] ? VR_ENCAP_MPLSOUDP :
		    VR_ENCAP_MPLSOGRE;
	uint32_t field = p->label;
	if (p->prefix.evpn_type == 3) {
		if (p->pmsi.type != BGP_PMSI_INGRESS_REPL)
			return -ENOTSUP;
		field = p->pmsi.label;
	}
	*encap = e;
	*label = e == VR_ENCAP_VXLAN ? (field & 0xffffff) : (field >> 4) & 0xfffff;
	if (e != VR_ENCAP_VXLAN && *label < AGENT_LABEL_MIN)
		return -EINVAL;
	if (e == VR_ENCAP_VXLAN && !*label)
		return -EINVAL;
	return 0;
}

int agent_l2_endpoint(const struct agent_bgp_path *p, struct agent_ip *dip)
{
	memset(dip, 0, sizeof(*dip));
	const uint8_t *a = p->nh;
	uint8_t len = p->nh_len;
	if (p->prefix.evpn_type == 3 && p->pmsi.type == BGP_PMSI_INGRESS_REPL &&
	    (p->pmsi.id_len == 4 || p->pmsi.id_len == 16)) {
		a = p->pmsi.id;
		len = p->pmsi.id_len;
	}
	if (len != 4 && len != 16)
		return -EINVAL;
	dip->family = len == 4 ? 4 : 6;
	dip->plen = len == 4 ? 32 : 128;
	memcpy(dip->a, a, len);
	return 0;
}

/* ---- helpers over the vrouter (ids and requests: agent_vr.c's) ---- */

static void obj_init(struct vr_object *o, uint16_t type)
{
	memset(o, 0, sizeof(*o));
	o->obj = type;
}

/* The VRF's flood nexthop: its members, local ports and remote nodes. */
static void flood_nh_obj(struct vr_object *o, uint32_t id, uint16_t vrf, const uint32_t *m,
			 unsigned n)
{
	obj_init(o, VR_OBJ_NH);
	o->u.nh.id = id;
	o->u.nh.type = VR_NH_FLOOD;
	o->u.nh.flags = VR_NH_F_L2;  /* the flood label brings Ethernet frames */
	o->u.nh.vrf = vrf;
	o->u.nh.n_members = (uint16_t)n;
	memcpy(o->u.nh.members, m, n * sizeof(m[0]));
	VR_SET(o, VR_AT_ID); VR_SET(o, VR_AT_TYPE); VR_SET(o, VR_AT_FLAGS);
	VR_SET(o, VR_AT_VRF); VR_SET(o, VR_AT_MEMBERS);
}

static int bridge_set(struct agent *a, uint16_t vrf, const uint8_t mac[6], uint32_t nh, bool add)
{
	struct vr_object o;
	char err[256], m[24];
	obj_init(&o, VR_OBJ_BRIDGE);
	o.u.bridge.vrf = vrf;
	memcpy(o.u.bridge.mac, mac, 6);
	VR_SET(&o, VR_AT_VRF);
	VR_SET(&o, VR_AT_MAC);
	if (add) {
		o.u.bridge.nh = nh;
		VR_SET(&o, VR_AT_NH);
	}
	int rc = agent_vr_do(a, add ? VR_OP_ADD : VR_OP_DEL, &o, err, sizeof(err));
	if (rc < 0 && !(rc == -ENOENT && !add) && a->vr)
		TLOG_WARN(&a->log, "l2: vrf %u: bridge entry %s: %s", vrf,
			  tern_mac_format(mac, m, sizeof(m)), err);
	return rc;
}

static json_t *vn_of(struct agent *a, const struct agent_vrf *v)
{
	return agent_model_by_fq(a, "virtual-network", v->network);
}

/* The encapsulation this node's L2 routes of v use: VXLAN or MPLS. */
static uint8_t local_encap(const struct agent_vrf *v, const uint8_t *order, int n)
{
	for (int k = 0; k < n; k++)
		if (order[k] != VR_ENCAP_VXLAN || v->vni)
			return order[k];
	return VR_ENCAP_MPLSOUDP;
}

static uint32_t vrf_sig(const struct agent_vrf *v, const uint8_t *order, int n)
{
	uint32_t h = 2166136261u;  /* FNV-1a */
	const uint8_t *parts[3] = { (const uint8_t *)v->import, order, (const uint8_t *)&v->vni };
	size_t lens[3] = { (size_t)v->n_import * 8, (size_t)n, sizeof(v->vni) };
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < lens[k]; i++)
			h = (h ^ parts[k][i]) * 16777619u;
	return h;
}

static struct agent_l2 *l2_of(struct agent *a)
{
	if (a->l2)
		return a->l2;
	struct agent_l2 *s = calloc(1, sizeof(*s));
	if (s) {
		s->paths = calloc(L2_MAX_PATHS, sizeof(*s->paths));
		s->path_used = calloc(L2_MAX_PATHS, sizeof(*s->path_used));
		if (!s->paths || !s->path_used) {
			free(s->paths);
			free(s->path_used);
			free(s);
			s = NULL;
		}
	}
	if (!s)
		TLOG_ERR(&a->log, "l2: out of memory");
	a->l2 = s;
	return s;
}

/* ---- what the node announces ---- */

/* Route targets and encapsulation communities of v's L2 routes. */
static void l2_attrs(struct agent *a, const struct agent_vrf *v, json_t *vn,
		     struct agent_bgp_path *path, uint8_t *encap)
{
	memset(path, 0, sizeof(*path));
	path->nh_len = a->fabric_ip.family == 4 ? 4 : 16;
	memcpy(path->nh, a->fabric_ip.a, path->nh_len);
	size_t i;
	json_t *rt;
	json_array_foreach(json_object_get(vn, "route_target_export"), i, rt)
		if (path->n_ext < AGENT_BGP_MAX_EXT - 3 &&
		    agent_rt_parse(json_string_value(rt), path->ext[path->n_ext]) == 0)
			path->n_ext++;
	uint8_t order[3];
	int n = agent_vn_encaps(vn, order);
	*encap = local_encap(v, order, n);
	if (*encap == VR_ENCAP_VXLAN) {
		bgp_ext_encap(path->ext[path->n_ext++], BGP_TUNNEL_VXLAN);
		return;
	}
	for (int k = 0; k < n; k++)
		if (order[k] != VR_ENCAP_VXLAN)
			bgp_ext_encap(path->ext[path->n_ext++], tunnel_of(order[k]));
}

static void announce_port(struct agent *a, const struct agent_port *p, const struct agent_vrf *v,
			  json_t *vn)
{
	struct agent_l2 *s = a->l2;
	struct agent_bgp_path path;
	uint8_t encap;
	char err[256];
	if (!a->bgp)
		return;
	l2_attrs(a, v, vn, &path, &encap);
	uint32_t l = encap == VR_ENCAP_VXLAN ? v->vni : s->port[p - a->ports].label;
	if (!l)
		return;
	path.label = agent_l2_label_field(encap, l);
	for (int k = -1; k < p->i.n_addrs; k++) {
		agent_l2_type2(a->conf.bgp.router_id, v->id, p->i.mac, k < 0 ? NULL : &p->i.addrs[k],
			       &path.prefix);
		if (agent_bgp_announce(a->bgp, &path, err, sizeof(err)) < 0)
			TLOG_WARN(&a->log, "l2: announcing %s: %s", p->i.ifname, err);
	}
}

static void withdraw_port(struct agent *a, const struct agent_port *p)
{
	if (!a->bgp)
		return;
	for (int k = -1; k < p->i.n_addrs; k++) {
		struct bgp_prefix pfx;
		agent_l2_type2(a->conf.bgp.router_id, p->vrf, p->i.mac,
			       k < 0 ? NULL : &p->i.addrs[k], &pfx);
		agent_bgp_withdraw(a->bgp, &pfx);
	}
}

static void announce_vrf(struct agent *a, const struct agent_vrf *v, json_t *vn)
{
	struct l2_vrf *lv = &a->l2->vrf[v->id];
	struct agent_bgp_path path;
	uint8_t encap;
	char err[256];
	if (!a->bgp)
		return;
	l2_attrs(a, v, vn, &path, &encap);
	uint32_t l = encap == VR_ENCAP_VXLAN ? v->vni : lv->flood_label;
	if (!l)
		return;
	agent_l2_type3(a->conf.bgp.router_id, v->id, &a->fabric_ip, &path.prefix);
	path.pmsi.type = BGP_PMSI_INGRESS_REPL;
	path.pmsi.label = encap == VR_ENCAP_VXLAN ? l : l << 4;
	path.pmsi.id_len = a->fabric_ip.family == 4 ? 4 : 16;
	memcpy(path.pmsi.id, a->fabric_ip.a, path.pmsi.id_len);
	if (agent_bgp_announce(a->bgp, &path, err, sizeof(err)) < 0)
		TLOG_WARN(&a->log, "l2: announcing vrf %u: %s", v->id, err);
}

static void withdraw_vrf(struct agent *a, uint16_t vrf)
{
	struct bgp_prefix pfx;
	if (!a->bgp)
		return;
	agent_l2_type3(a->conf.bgp.router_id, vrf, &a->fabric_ip, &pfx);
	agent_bgp_withdraw(a->bgp, &pfx);
}

/* ---- remote: tunnel nexthops, bridge entries, flood list ---- */

static bool ip_eq(const struct agent_ip *x, const struct agent_ip *y)
{
	return x->family == y->family && !memcmp(x->a, y->a, x->family == 4 ? 4 : 16);
}

/* A reference on the L2 tunnel nexthop (vrf, encap, label, dip); 0 when it
 * cannot be made now (underlay MAC unknown: retried later). */
static uint32_t tnh_get(struct agent *a, uint16_t vrf, uint8_t encap, uint32_t label,
			const struct agent_ip *dip)
{
	struct agent_l2 *s = a->l2;
	struct l2_tnh *slot = NULL;
	for (int i = 0; i < L2_MAX_TNHS; i++) {
		struct l2_tnh *t = &s->tnh[i];
		if (t->used && t->vrf == vrf && t->encap == encap && t->label == label &&
		    ip_eq(&t->dip, dip)) {
			t->refs++;
			return t->id;
		}
		if (!t->used && !slot)
			slot = t;
	}
	uint8_t mac[6];
	char ip[64], err[256];
	if (!slot)
		return 0;
	int rc = agent_underlay_mac(a, dip, mac);
	if (rc < 0) {
		TLOG_WARN(&a->log, "l2: no underlay MAC for tunnel end %s (%s); retrying",
			  agent_ip_str(dip, ip, sizeof(ip), false), strerror(-rc));
		a->resolve_pending = true;
		return 0;
	}
	uint32_t id = agent_nh_alloc(a);
	if (!id)
		return 0;
	struct vr_object o;
	obj_init(&o, VR_OBJ_NH);
	struct vr_obj_nh *nh = &o.u.nh;
	nh->id = id;
	nh->type = VR_NH_TUNNEL;
	nh->flags = VR_NH_F_L2;
	nh->vrf = vrf;
	nh->encap = encap;
	memcpy(nh->dmac, mac, 6);
	nh->sip.family = a->fabric_ip.family;
	memcpy(nh->sip.a, a->fabric_ip.a, 16);
	nh->dip.family = dip->family;
	memcpy(nh->dip.a, dip->a, 16);
	VR_SET(&o, VR_AT_ID); VR_SET(&o, VR_AT_TYPE); VR_SET(&o, VR_AT_FLAGS);
	VR_SET(&o, VR_AT_VIF); VR_SET(&o, VR_AT_VRF); VR_SET(&o, VR_AT_ENCAP);
	VR_SET(&o, VR_AT_DMAC); VR_SET(&o, VR_AT_SIP); VR_SET(&o, VR_AT_DIP);
	if (encap == VR_ENCAP_VXLAN) {
		nh->vni = label;
		VR_SET(&o, VR_AT_VNI);
	} else {
		nh->label = label;
		VR_SET(&o, VR_AT_LABEL);
	}
	if (agent_vr_do(a, VR_OP_ADD, &o, err, sizeof(err)) < 0) {
		TLOG_WARN(&a->log, "l2: tunnel nexthop to %s: %s",
			  agent_ip_str(dip, ip, sizeof(ip), false), err);
		a->nh_used[id] = 0;
		return 0;
	}
	memset(slot, 0, sizeof(*slot));
	*slot = (struct l2_tnh){ .used = true, .id = id, .refs = 1, .vrf = vrf, .encap = encap,
				 .label = label, .dip = *dip };
	return id;
}

static void tnh_put(struct agent *a, uint32_t id)
{
	struct agent_l2 *s = a->l2;
	for (int i = 0; id && i < L2_MAX_TNHS; i++) {
		struct l2_tnh *t = &s->tnh[i];
		if (t->used && t->id == id) {
			if (--t->refs == 0) {
				agent_nh_free(a, id);
				t->used = false;
			}
			return;
		}
	}
}

static struct l2_tnh *tnh_by_id(struct agent_l2 *s, uint32_t id)
{
	for (int i = 0; id && i < L2_MAX_TNHS; i++)
		if (s->tnh[i].used && s->tnh[i].id == id)
			return &s->tnh[i];
	return NULL;
}

static bool imported(const struct agent_vrf *v, const struct agent_bgp_path *p)
{
	for (int i = 0; i < p->n_ext; i++)
		for (int k = 0; k < v->n_import; k++)
			if (!memcmp(p->ext[i], v->import[k], 8))
				return true;
	return false;
}

static bool mac_is_local(struct agent *a, uint16_t vrf, const uint8_t mac[6],
			 const struct agent_port *skip)
{
	for (int i = 0; i < AGENT_MAX_PORTS; i++)
		if (a->ports[i].used && &a->ports[i] != skip && a->ports[i].vrf == vrf &&
		    !memcmp(a->ports[i].i.mac, mac, 6))
			return true;
	return false;
}

/* Write v's flood nexthop: local ports (but skip) and the remote nodes. */
static uint16_t flood_members(struct agent *a, const struct agent_vrf *v,
			      const struct agent_port *skip, uint32_t m[VR_MAX_ECMP]);

static int flood_write(struct agent *a, struct agent_vrf *v, const struct agent_port *skip)
{
	struct l2_vrf *lv = &a->l2->vrf[v->id];
	uint32_t m[VR_MAX_ECMP];
	uint16_t n = flood_members(a, v, skip, m);
	if (!n)
		return 0;
	if (lv->flood_nh && n == lv->n_written && !memcmp(m, lv->written, n * sizeof(m[0])))
		return 0;
	bool fresh = !lv->flood_nh;
	if (fresh && !(lv->flood_nh = agent_nh_alloc(a)))
		return -ENOSPC;
	if (fresh)
		a->state_dirty = true;
	struct vr_object o;
	char err[256];
	flood_nh_obj(&o, lv->flood_nh, v->id, m, n);
	int rc = agent_vr_do(a, VR_OP_ADD, &o, err, sizeof(err));
	if (rc < 0) {
		TLOG_WARN(&a->log, "l2: vrf %u: flood nexthop %u: %s", v->id, lv->flood_nh, err);
		if (fresh) {
			a->nh_used[lv->flood_nh] = 0;
			lv->flood_nh = 0;
		}
		return rc;
	}
	lv->n_written = n;
	memcpy(lv->written, m, n * sizeof(m[0]));
	lv->flood_present = true;
	return 0;
}

/* The VRF object with its L2 mode and flood nexthop. */
static int vrf_write(struct agent *a, struct agent_vrf *v)
{
	struct vr_object o;
	char err[256];
	obj_init(&o, VR_OBJ_VRF);
	o.u.vrf.id = v->id;
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_FLAGS);
	agent_l2_vrf_fill(a, v, &o);
	int rc = agent_vr_do(a, VR_OP_ADD, &o, err, sizeof(err));
	if (rc < 0)
		TLOG_WARN(&a->log, "l2: vrf %u: %s", v->id, err);
	return rc;
}

/* Bring v's bridge entries and flood list in line with the learned paths
 * (skip: a local port on its way out, or NULL). */
static void sync_remote(struct agent *a, struct agent_vrf *v, const struct agent_port *skip)
{
	struct agent_l2 *s = a->l2;
	struct l2_vrf *lv = &s->vrf[v->id];
	if (!lv->on)
		return;
	uint8_t order[3];
	int n_order = agent_vn_encaps(vn_of(a, v), order);
	uint16_t n_rem = 0;
	uint32_t rem[VR_MAX_ECMP];
	/* New references first (make before break). */
	for (int i = 0; i < L2_MAX_PATHS; i++) {
		const struct agent_bgp_path *p = &s->paths[i];
		if (!s->path_used[i] || !imported(v, p))
			continue;
		uint8_t encap;
		uint32_t label;
		struct agent_ip dip;
		if (agent_l2_tunnel(p, order, n_order, &encap, &label) < 0 ||
		    agent_l2_endpoint(p, &dip) < 0)
			continue;
		if (p->prefix.evpn_type == 3) {
			bool dup = false;
			uint32_t id = 0;
			if (n_rem >= VR_MAX_ECMP - 1)
				continue;
			id = tnh_get(a, v->id, encap, label, &dip);
			for (int k = 0; id && k < n_rem; k++)
				dup |= rem[k] == id;
			if (dup)
				tnh_put(a, id);
			else if (id)
				rem[n_rem++] = id;
		} else if (p->prefix.evpn_type == 2 && !mac_is_local(a, v->id, p->prefix.mac, skip)) {
			struct l2_bridge *b = NULL, *free_b = NULL;
			for (int k = 0; k < L2_MAX_BRIDGE && !b; k++) {
				struct l2_bridge *x = &s->br[k];
				if (x->used && x->vrf == v->id && !memcmp(x->mac, p->prefix.mac, 6))
					b = x;
				else if (!x->used && !free_b)
					free_b = x;
			}
			if (b && b->used == 2)
				continue;  /* this round set it already (MAC and MAC+IP routes) */
			uint32_t id = tnh_get(a, v->id, encap, label, &dip);
			if (!id)
				continue;
			if (!b && !(b = free_b)) {
				TLOG_WARN(&a->log, "l2: bridge table of the agent full (%d)",
					  L2_MAX_BRIDGE);
				tnh_put(a, id);
				continue;
			}
			if (b->used && b->tnh == id) {
				tnh_put(a, id);  /* unchanged */
			} else {
				uint32_t old = b->used ? b->tnh : 0;
				if (bridge_set(a, v->id, p->prefix.mac, id, true) < 0) {
					tnh_put(a, id);
					continue;
				}
				b->vrf = v->id;
				memcpy(b->mac, p->prefix.mac, 6);
				b->tnh = id;
				tnh_put(a, old);
			}
			b->used = 2;  /* seen this round */
		}
	}
	/* Entries no path wants any more; the marks go back to 1. Adopted ones
	 * wait for the take-over's end: their paths may not be back yet. */
	for (int k = 0; k < L2_MAX_BRIDGE; k++) {
		struct l2_bridge *x = &s->br[k];
		if (!x->used || x->vrf != v->id || (x->used == 3 && !a->swept))
			continue;
		if (x->used == 2) {
			x->used = 1;
			continue;
		}
		bridge_set(a, v->id, x->mac, 0, false);
		tnh_put(a, x->tnh);
		x->used = false;
	}
	/* Taking over: the remote members stay in the flood list until then. */
	for (int i = 0; !a->swept && i < lv->n_remote && n_rem < VR_MAX_ECMP - 1; i++) {
		bool dup = false;
		for (int k = 0; k < n_rem; k++)
			dup |= rem[k] == lv->remote[i];
		struct l2_tnh *t = dup ? NULL : tnh_by_id(s, lv->remote[i]);
		if (t) {
			t->refs++;
			rem[n_rem++] = t->id;
		}
	}
	uint16_t old_n = lv->n_remote;
	uint32_t old[VR_MAX_ECMP];
	memcpy(old, lv->remote, sizeof(old));
	lv->n_remote = n_rem;
	memcpy(lv->remote, rem, n_rem * sizeof(rem[0]));
	flood_write(a, v, skip);
	for (int i = 0; i < old_n; i++)
		tnh_put(a, old[i]);
}

/* ---- hooks ---- */

/* v's forwarding mode: tern-api's; before tern-api is synced (a restart),
 * the state file's (an l2 VRF written as l3 would stop bridging). */
static int vrf_mode(struct agent *a, const struct agent_vrf *v)
{
	const struct l2_vrf *lv = a->l2 ? &a->l2->vrf[v->id] : NULL;
	json_t *vn = agent_model_by_fq(a, "virtual-network", v->network);
	return vn ? agent_l2_mode(vn) : lv && lv->on ? lv->mode : AGENT_L2_OFF;
}

void agent_l2_vrf_fill(struct agent *a, const struct agent_vrf *v, struct vr_object *o)
{
	const struct l2_vrf *lv = a->l2 ? &a->l2->vrf[v->id] : NULL;
	int mode = vrf_mode(a, v);
	bool flood = mode != AGENT_L2_OFF && lv && lv->on && lv->flood_nh && lv->flood_present;
	/* l2_l3 bridges once its flood list exists: until then (no port set up
	 * yet) it only routes, as before, rather than drop what it would flood. */
	if (mode == AGENT_L2_ONLY)
		o->u.vrf.flags = VR_VRF_F_L2;
	else if (mode == AGENT_L2_L3 && flood)
		o->u.vrf.flags = VR_VRF_F_L2 | VR_VRF_F_L3;
	else
		o->u.vrf.flags = VR_VRF_F_L3;
	VR_SET(o, VR_AT_FLAGS);
	if (flood) {
		o->u.vrf.nh = lv->flood_nh;
		VR_SET(o, VR_AT_NH);
	}
}

uint32_t agent_l2_host_route_flags(struct agent *a, const struct agent_vrf *v)
{
	return vrf_mode(a, v) == AGENT_L2_ONLY ? 0 : VR_RT_F_PROXY_ARP;
}

static void vrf_off(struct agent *a, struct agent_vrf *v, const struct agent_port *leaving);

/* The members of v's flood nexthop: local ports (but skip), then remote nodes. */
static uint16_t flood_members(struct agent *a, const struct agent_vrf *v,
			      const struct agent_port *skip, uint32_t m[VR_MAX_ECMP])
{
	const struct l2_vrf *lv = &a->l2->vrf[v->id];
	uint16_t n = 0;
	for (int i = 0; i < AGENT_MAX_PORTS && n < VR_MAX_ECMP; i++) {
		const struct agent_port *p = &a->ports[i];
		if (p->used && p != skip && p->vrf == v->id && p->nh && a->l2->port[i].present)
			m[n++] = p->nh;
	}
	for (int i = 0; i < lv->n_remote && n < VR_MAX_ECMP; i++)
		m[n++] = lv->remote[i];
	return n;
}

/* in_pipe: vp has requests in flight, nothing may be asked in between (a
 * mode change, which needs requests of its own, is left to agent_l2_port_up). */
static void port_send(struct agent *a, const struct agent_port *p, struct agent_vr_pipe *vp,
		      bool in_pipe)
{
	if (!p->vrf || p->vrf > AGENT_MAX_VRFS || !a->vrfs[p->vrf].used)
		return;
	struct agent_vrf *v = &a->vrfs[p->vrf];
	json_t *vn = vn_of(a, v);
	struct agent_l2 *s = a->l2;
	if (!vn)
		return;  /* tern-api not synced yet (a restart): what the vrouter holds stays */
	int mode = agent_l2_mode(vn);
	bool was_on = s && s->vrf[v->id].on;
	if (was_on && s->vrf[v->id].mode != mode) {
		if (in_pipe)
			return;
		vrf_off(a, v, NULL);  /* l2 <-> l2_l3 or l3: the VRF's flags change; start over */
	}
	if (mode == AGENT_L2_OFF || !(s = l2_of(a)))
		return;
	struct l2_vrf *lv = &s->vrf[v->id];
	struct l2_port *lp = &s->port[p - a->ports];
	uint8_t order[3];
	int n_order = agent_vn_encaps(vn, order);
	uint8_t encap = local_encap(v, order, n_order);
	if (!lv->on) {
		lv->on = true;
		lv->mode = (uint8_t)mode;
		lv->sig = 0;  /* agent_l2_port_up syncs the remote side */
		TLOG_INFO(&a->log, "l2: vrf %u (%s): %s, %s", v->id, v->network,
			  mode == AGENT_L2_ONLY ? "l2" : "l2_l3",
			  encap == VR_ENCAP_VXLAN ? "vxlan" : "mpls");
	}
	struct vr_object o;
	char what[64], m[24];
	lp->present = true;  /* its nexthop is written before (this pipeline, or earlier) */
	if (!lp->written) {
		/* The port: its MAC bridged to its own nexthop; MPLS: an L2 label. */
		obj_init(&o, VR_OBJ_BRIDGE);
		o.u.bridge.vrf = v->id;
		memcpy(o.u.bridge.mac, p->i.mac, 6);
		o.u.bridge.nh = p->nh;
		VR_SET(&o, VR_AT_VRF); VR_SET(&o, VR_AT_MAC); VR_SET(&o, VR_AT_NH);
		snprintf(what, sizeof(what), "bridge entry %s", tern_mac_format(p->i.mac, m, sizeof(m)));
		agent_vr_pipe_send(a, vp, VR_OP_ADD, &o, what);
		if (encap != VR_ENCAP_VXLAN && !lp->nh && !(lp->nh = agent_nh_alloc(a)))
			TLOG_WARN(&a->log, "l2: %s: every nexthop id is in use", p->i.ifname);
		if (encap != VR_ENCAP_VXLAN && lp->nh) {
			obj_init(&o, VR_OBJ_NH);
			o.u.nh.id = lp->nh;
			o.u.nh.type = VR_NH_ENCAP;
			o.u.nh.flags = VR_NH_F_L2;
			o.u.nh.vif = p->vif;
			o.u.nh.vrf = v->id;
			memcpy(o.u.nh.dmac, p->i.mac, 6);
			VR_SET(&o, VR_AT_ID); VR_SET(&o, VR_AT_TYPE); VR_SET(&o, VR_AT_FLAGS);
			VR_SET(&o, VR_AT_VIF); VR_SET(&o, VR_AT_VRF); VR_SET(&o, VR_AT_DMAC);
			snprintf(what, sizeof(what), "L2 nexthop %u", lp->nh);
			agent_vr_pipe_send(a, vp, VR_OP_ADD, &o, what);
			if (!lp->label && !(lp->label = agent_label_alloc(a)))
				TLOG_WARN(&a->log, "l2: %s: every MPLS label is in use", p->i.ifname);
			if (lp->label) {
				obj_init(&o, VR_OBJ_MPLS);
				o.u.mpls.label = lp->label;
				o.u.mpls.nh = lp->nh;
				VR_SET(&o, VR_AT_LABEL);
				VR_SET(&o, VR_AT_NH);
				snprintf(what, sizeof(what), "L2 label %u", lp->label);
				agent_vr_pipe_send(a, vp, VR_OP_ADD, &o, what);
			}
		}
		lp->written = true;  /* agent_l2_port_sent undoes the marks on failure */
		a->state_dirty = true;
	}
	uint32_t mem[VR_MAX_ECMP];
	uint16_t n = flood_members(a, v, NULL, mem);
	if (n && (!lv->flood_nh || n != lv->n_written ||
		  memcmp(mem, lv->written, n * sizeof(mem[0])))) {
		if (!lv->flood_nh && (lv->flood_nh = agent_nh_alloc(a)))
			a->state_dirty = true;
		if (lv->flood_nh) {
			flood_nh_obj(&o, lv->flood_nh, v->id, mem, n);
			snprintf(what, sizeof(what), "flood nexthop %u", lv->flood_nh);
			agent_vr_pipe_send(a, vp, VR_OP_ADD, &o, what);
			lv->flood_present = true;  /* for the VRF object after it */
			lv->n_written = n;
			memcpy(lv->written, mem, n * sizeof(mem[0]));
		} else {
			TLOG_WARN(&a->log, "l2: vrf %u: every nexthop id is in use", v->id);
		}
	}
	if (encap != VR_ENCAP_VXLAN && lv->flood_nh && !lv->flood_label_written) {
		if (!lv->flood_label && (lv->flood_label = agent_label_alloc(a)))
			a->state_dirty = true;
		if (lv->flood_label) {
			obj_init(&o, VR_OBJ_MPLS);
			o.u.mpls.label = lv->flood_label;
			o.u.mpls.nh = lv->flood_nh;
			VR_SET(&o, VR_AT_LABEL);
			VR_SET(&o, VR_AT_NH);
			snprintf(what, sizeof(what), "flood label %u", lv->flood_label);
			agent_vr_pipe_send(a, vp, VR_OP_ADD, &o, what);
			lv->flood_label_written = true;
		}
	}
	if (lv->flood_nh && !lv->vrf_written) {
		obj_init(&o, VR_OBJ_VRF);
		o.u.vrf.id = v->id;
		VR_SET(&o, VR_AT_ID);
		VR_SET(&o, VR_AT_FLAGS);
		agent_l2_vrf_fill(a, v, &o);
		snprintf(what, sizeof(what), "vrf %u", v->id);
		agent_vr_pipe_send(a, vp, VR_OP_ADD, &o, what);
		lv->vrf_written = true;
	}
}

void agent_l2_port_send(struct agent *a, const struct agent_port *p, struct agent_vr_pipe *vp)
{
	port_send(a, p, vp, true);
}

void agent_l2_port_sent(struct agent *a, const struct agent_port *p, bool ok)
{
	struct agent_l2 *s = a->l2;
	if (ok || !s || !p->vrf || p->vrf > AGENT_MAX_VRFS)
		return;
	/* Which of the requests failed does not matter: all are written again
	 * next time (ADD replaces in place), or removed with the port. */
	struct l2_vrf *lv = &s->vrf[p->vrf];
	s->port[p - a->ports].written = false;
	lv->n_written = 0;
	lv->flood_label_written = false;
	lv->vrf_written = false;
	lv->flood_present = false;
}

void agent_l2_port_up(struct agent *a, const struct agent_port *p)
{
	struct agent_vr_pipe vp = { 0 };
	char err[400];
	port_send(a, p, &vp, false);
	if (vp.n || vp.rc) {
		int rc = agent_vr_pipe_finish(a, &vp, err, sizeof(err));
		agent_l2_port_sent(a, p, rc == 0);
		if (rc < 0)
			TLOG_WARN(&a->log, "l2: %s: %s", p->i.ifname, err);
	}
	struct agent_l2 *s = a->l2;
	if (!s || !p->vrf || p->vrf > AGENT_MAX_VRFS || !s->vrf[p->vrf].on)
		return;
	struct agent_vrf *v = &a->vrfs[p->vrf];
	struct l2_vrf *lv = &s->vrf[v->id];
	json_t *vn = vn_of(a, v);
	if (!vn)
		return;  /* announced once tern-api has the network (route targets) */
	uint8_t order[3];
	int n_order = agent_vn_encaps(vn, order);
	uint32_t sig = vrf_sig(v, order, n_order);
	if (sig != lv->sig) {  /* new, or other imports / encapsulations */
		lv->sig = sig;
		sync_remote(a, v, NULL);
	}
	announce_port(a, p, v, vn);
	announce_vrf(a, v, vn);
}

/* v stops being an L2 VRF (its last port leaves, or its mode changed). */
static void vrf_off(struct agent *a, struct agent_vrf *v, const struct agent_port *leaving)
{
	struct agent_l2 *s = a->l2;
	struct l2_vrf *lv = &s->vrf[v->id];
	withdraw_vrf(a, v->id);
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		struct agent_port *p = &a->ports[i];
		if (!p->used || p->vrf != v->id || p == leaving)
			continue;
		struct l2_port *lp = &s->port[i];
		withdraw_port(a, p);
		bridge_set(a, v->id, p->i.mac, 0, false);
		agent_label_free(a, lp->label);
		agent_nh_free(a, lp->nh);
		lp->label = lp->nh = 0;
		lp->written = lp->present = false;
	}
	lv->on = false;
	a->state_dirty = true;
	vrf_write(a, v);  /* no flood nexthop any more */
	for (int k = 0; k < L2_MAX_BRIDGE; k++) {
		struct l2_bridge *x = &s->br[k];
		if (x->used && x->vrf == v->id) {
			bridge_set(a, v->id, x->mac, 0, false);
			tnh_put(a, x->tnh);
			x->used = false;
		}
	}
	agent_label_free(a, lv->flood_label);
	agent_nh_free(a, lv->flood_nh);
	for (int i = 0; i < lv->n_remote; i++)
		tnh_put(a, lv->remote[i]);
	memset(lv, 0, sizeof(*lv));
}

void agent_l2_port_down(struct agent *a, const struct agent_port *p)
{
	struct agent_l2 *s = a->l2;
	if (s)  /* out of the flood lists from now on: its nexthop goes */
		s->port[p - a->ports].present = false;
	if (!s || !p->vrf || p->vrf > AGENT_MAX_VRFS || !s->vrf[p->vrf].on)
		return;
	struct agent_vrf *v = &a->vrfs[p->vrf];
	struct l2_port *lp = &s->port[p - a->ports];
	withdraw_port(a, p);
	bool others = false;
	for (int i = 0; i < AGENT_MAX_PORTS && !others; i++)
		others = a->ports[i].used && &a->ports[i] != p && a->ports[i].vrf == p->vrf;
	/* Out of the flood list before its nexthop goes (agent_vr.c deletes it). */
	if (others)
		flood_write(a, v, p);
	bridge_set(a, v->id, p->i.mac, 0, false);
	agent_label_free(a, lp->label);
	agent_nh_free(a, lp->nh);
	lp->label = lp->nh = 0;
	lp->written = false;
	a->state_dirty = true;
	if (!others)
		vrf_off(a, v, p);
	else
		sync_remote(a, v, p);  /* a remote path for the MAC may apply now */
}

void agent_l2_path(struct agent *a, bool add, const struct agent_bgp_path *p)
{
	if (p->prefix.af != BGP_AF_EVPN || (p->prefix.evpn_type != 2 && p->prefix.evpn_type != 3))
		return;  /* type 5 (IP prefix) is not used by tern's agents */
	struct agent_l2 *s = l2_of(a);
	if (!s)
		return;
	int slot = -1, free_slot = -1;
	for (int i = 0; i < L2_MAX_PATHS && slot < 0; i++) {
		const struct agent_bgp_path *q = &s->paths[i];
		if (s->path_used[i] && !memcmp(&q->prefix, &p->prefix, BGP_PREFIX_KEY_LEN) &&
		    q->nh_len == p->nh_len && !memcmp(q->nh, p->nh, p->nh_len))
			slot = i;
		else if (!s->path_used[i] && free_slot < 0)
			free_slot = i;
	}
	if (add) {
		if (slot < 0)
			slot = free_slot;
		if (slot < 0) {
			TLOG_WARN(&a->log, "l2: learned EVPN path table full (%d)", L2_MAX_PATHS);
			return;
		}
		s->path_used[slot] = true;
		s->paths[slot] = *p;
	} else if (slot >= 0) {
		s->path_used[slot] = false;
	} else {
		return;
	}
	for (int i = 1; i <= AGENT_MAX_VRFS; i++)
		if (a->vrfs[i].used && s->vrf[i].on)
			sync_remote(a, &a->vrfs[i], NULL);
}

void agent_l2_recompute_all(struct agent *a)
{
	if (!a->l2)
		return;
	for (int i = 1; i <= AGENT_MAX_VRFS; i++)
		if (a->vrfs[i].used && a->l2->vrf[i].on)
			sync_remote(a, &a->vrfs[i], NULL);
}

void agent_l2_forget(struct agent *a)
{
	struct agent_l2 *s = a->l2;
	if (!s)
		return;
	/* The vrouter may have restarted empty (or this is the agent's start):
	 * the local ids stay and everything is written again with them, so the
	 * labels the other nodes hold stay valid; what came from remote nodes
	 * is adopted from the vrouter anew (agent_l2_adopt_nh). */
	for (int i = 1; i <= AGENT_MAX_VRFS; i++) {
		struct l2_vrf *lv = &s->vrf[i];
		lv->vrf_written = lv->flood_label_written = lv->flood_present = false;
		lv->n_written = lv->n_remote = lv->n_found = 0;
		lv->sig = 0;
	}
	for (int i = 0; i < AGENT_MAX_PORTS; i++)
		s->port[i].written = s->port[i].present = false;
	for (int i = 0; i < L2_MAX_TNHS; i++) {
		if (s->tnh[i].used && a->nh_used[s->tnh[i].id] == 1)
			a->nh_used[s->tnh[i].id] = 0;
		s->tnh[i].used = false;
	}
	memset(s->br, 0, sizeof(s->br));
}

void agent_l2_adopt_nh(struct agent *a, const struct vr_object *o)
{
	const struct vr_obj_nh *nh = &o->u.nh;
	struct agent_l2 *s = a->l2;
	if (s && nh->type == VR_NH_ENCAP && !(nh->flags & VR_NH_F_L2))
		for (int i = 0; i < AGENT_MAX_PORTS; i++)  /* a port's own: still there */
			if (a->ports[i].used && a->ports[i].nh == nh->id)
				s->port[i].present = true;
	if (!s || nh->id >= AGENT_NH_IDS || !(nh->flags & VR_NH_F_L2) || nh->vrf < 1 ||
	    nh->vrf > AGENT_MAX_VRFS || !s->vrf[nh->vrf].on)
		return;  /* only for the L2 VRFs of the state file */
	struct l2_vrf *lv = &s->vrf[nh->vrf];
	if (nh->type == VR_NH_FLOOD && nh->id == lv->flood_nh) {
		lv->flood_present = true;
		lv->n_found = nh->n_members < VR_MAX_ECMP ? nh->n_members : VR_MAX_ECMP;
		memcpy(lv->found, nh->members, lv->n_found * sizeof(lv->found[0]));
		return;
	}
	if (nh->type != VR_NH_TUNNEL || a->nh_used[nh->id] == 1)
		return;
	for (int i = 0; i < L2_MAX_TNHS; i++) {
		struct l2_tnh *t = &s->tnh[i];
		if (t->used)
			continue;
		*t = (struct l2_tnh){ .used = true, .id = nh->id, .vrf = nh->vrf, .encap = nh->encap,
				      .label = nh->encap == VR_ENCAP_VXLAN ? nh->vni : nh->label };
		t->dip.family = nh->dip.family;
		t->dip.plen = nh->dip.family == 4 ? 32 : 128;
		memcpy(t->dip.a, nh->dip.a, 16);
		return;
	}
}

struct adopt_arg {
	struct agent_l2 *s;
	uint16_t vrf;
	int n;
};

static void adopt_bridge(struct agent *a, const struct vr_object *o, void *arg)
{
	struct adopt_arg *x = arg;
	const struct vr_obj_bridge *b = &o->u.bridge;
	struct l2_tnh *t = tnh_by_id(x->s, b->nh);
	if (b->vrf != x->vrf || !t || t->vrf != x->vrf || mac_is_local(a, x->vrf, b->mac, NULL))
		return;  /* a local port's MAC: written with the port */
	for (int k = 0; k < L2_MAX_BRIDGE; k++) {
		struct l2_bridge *e = &x->s->br[k];
		if (e->used)
			continue;
		*e = (struct l2_bridge){ .used = 3, .vrf = x->vrf, .tnh = t->id };
		memcpy(e->mac, b->mac, 6);
		t->refs++;
		x->n++;
		return;
	}
}

void agent_l2_adopt_done(struct agent *a)
{
	struct agent_l2 *s = a->l2;
	if (!s)
		return;
	int n_br = 0, n_tnh = 0;
	for (int v = 1; v <= AGENT_MAX_VRFS; v++) {
		struct l2_vrf *lv = &s->vrf[v];
		if (!lv->on || !a->vrfs[v].used)
			continue;
		struct adopt_arg x = { .s = s, .vrf = (uint16_t)v };
		struct vr_object f;
		obj_init(&f, VR_OBJ_BRIDGE);
		f.u.bridge.vrf = (uint16_t)v;
		VR_SET(&f, VR_AT_VRF);
		agent_vr_dump(a, VR_OBJ_BRIDGE, &f, adopt_bridge, &x);
		n_br += x.n;
		/* The flood list's remote members, as the vrouter has them. */
		lv->n_remote = 0;
		for (int i = 0; i < lv->n_found && lv->n_remote < VR_MAX_ECMP; i++) {
			struct l2_tnh *t = tnh_by_id(s, lv->found[i]);
			if (t && t->vrf == v) {
				t->refs++;
				lv->remote[lv->n_remote++] = t->id;
			}
		}
		lv->n_found = 0;
	}
	for (int i = 0; i < L2_MAX_TNHS; i++) {
		struct l2_tnh *t = &s->tnh[i];
		if (!t->used || a->nh_used[t->id] == 1)
			continue;
		if (!t->refs) {  /* nothing of ours uses it: the sweep deletes it */
			t->used = false;
			continue;
		}
		a->nh_used[t->id] = 1;
		n_tnh++;
	}
	if (n_br || n_tnh)
		TLOG_INFO(&a->log, "l2: took over %d tunnel nexthop(s) and %d bridge entr%s from the "
			  "vrouter", n_tnh, n_br, n_br == 1 ? "y" : "ies");
}

int agent_l2_sweep(struct agent *a)
{
	struct agent_l2 *s = a->l2;
	int n = 0;
	if (!s)
		return 0;
	for (int k = 0; k < L2_MAX_BRIDGE; k++)
		n += s->br[k].used == 3;
	/* a->swept is set: the adopted entries no path confirmed go now. */
	agent_l2_recompute_all(a);
	return n;
}

static void label_mark(struct agent *a, uint32_t l)
{
	a->label_used[l >> 3] |= (uint8_t)(1u << (l & 7));
}

void agent_l2_state_port(struct agent *a, const struct agent_port *p, json_t *entry)
{
	const struct l2_port *lp = a->l2 ? &a->l2->port[p - a->ports] : NULL;
	if (lp && lp->nh)
		json_object_set_new(entry, "l2_nh", json_integer(lp->nh));
	if (lp && lp->label)
		json_object_set_new(entry, "l2_label", json_integer(lp->label));
}

void agent_l2_state_save(struct agent *a, json_t *root)
{
	json_t *l = json_array();
	for (int i = 1; a->l2 && i <= AGENT_MAX_VRFS; i++) {
		const struct l2_vrf *lv = &a->l2->vrf[i];
		if (lv->on && a->vrfs[i].used)
			json_array_append_new(l, json_pack("{s:i, s:i, s:i, s:i}", "vrf", i, "mode",
							   lv->mode, "flood_nh", lv->flood_nh,
							   "flood_label", lv->flood_label));
	}
	json_object_set_new(root, "l2_vrfs", l);
}

void agent_l2_state_load_port(struct agent *a, const struct agent_port *p, json_t *entry)
{
	json_int_t nh = json_integer_value(json_object_get(entry, "l2_nh"));
	json_int_t label = json_integer_value(json_object_get(entry, "l2_label"));
	if ((!nh && !label) || !l2_of(a))
		return;
	struct l2_port *lp = &a->l2->port[p - a->ports];
	if (nh > AGENT_RECEIVE_NH && nh < AGENT_NH_IDS && !a->nh_used[nh]) {
		lp->nh = (uint32_t)nh;
		a->nh_used[nh] = 1;
	}
	if (lp->nh && label >= AGENT_LABEL_MIN && label < AGENT_LABELS) {
		lp->label = (uint32_t)label;
		label_mark(a, lp->label);
	}
}

void agent_l2_state_load(struct agent *a, json_t *root)
{
	size_t i;
	json_t *v;
	int n = 0;
	json_array_foreach(json_object_get(root, "l2_vrfs"), i, v) {
		json_int_t id = json_integer_value(json_object_get(v, "vrf"));
		json_int_t mode = json_integer_value(json_object_get(v, "mode"));
		json_int_t nh = json_integer_value(json_object_get(v, "flood_nh"));
		json_int_t label = json_integer_value(json_object_get(v, "flood_label"));
		if (id < 1 || id > AGENT_MAX_VRFS || !a->vrfs[id].used ||
		    (mode != AGENT_L2_ONLY && mode != AGENT_L2_L3) || !l2_of(a))
			continue;
		struct l2_vrf *lv = &a->l2->vrf[id];
		lv->on = true;
		lv->mode = (uint8_t)mode;
		if (nh > AGENT_RECEIVE_NH && nh < AGENT_NH_IDS && !a->nh_used[nh]) {
			lv->flood_nh = (uint32_t)nh;
			a->nh_used[nh] = 1;
		}
		if (lv->flood_nh && label >= AGENT_LABEL_MIN && label < AGENT_LABELS) {
			lv->flood_label = (uint32_t)label;
			label_mark(a, lv->flood_label);
		}
		n++;
	}
	if (n)
		TLOG_INFO(&a->log, "state: %d L2 VRF(s) with their flood nexthops and labels", n);
}

void agent_l2_free(struct agent *a)
{
	if (!a->l2)
		return;
	free(a->l2->paths);
	free(a->l2->path_used);
	free(a->l2);
	a->l2 = NULL;
}
