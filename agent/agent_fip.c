/*
 * DOC: agent_fip.c — tern-api floating IPs of this node's ports. A floating
 * IP is an address of another ("public") network given to a port: the node
 * joins that network (its VRF, its routes), the vrouter translates between
 * the floating address and the port's own (1:1 NAT both ways), and the agent
 * announces the floating address in the public network with a label of its
 * own, whose nexthop delivers into the public VRF so that the vrouter's NAT
 * stage sees the packet there.
 *
 * Kept in the state file (agent_state.c) with their nexthop and label: a
 * restarted agent writes them again with the same ids once tern-api is
 * synced (the vrouter replaces them in place), so the routes other nodes
 * hold keep working; the ones deleted meanwhile are removed then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "agent_internal.h"

struct agent_fip {
	bool used;
	bool seen;
	char uuid[40];
	char network[200];        /* the public network's fq_name */
	uint16_t vrf;             /* its VRF on this node */
	struct agent_ip addr;     /* the floating address */
	struct agent_ip pod;      /* the port's own address */
	const struct agent_port *port;
	uint32_t vif, nh, label;
	bool programmed;          /* written to this vrouter (false: from the state file,
				   * or the vrouter restarted) */
};

static struct agent_fip *fip_table(struct agent *a)
{
	if (!a->fips)
		a->fips = calloc(AGENT_MAX_FIPS, sizeof(*a->fips));
	return a->fips;
}

void agent_fip_free(struct agent *a)
{
	free(a->fips);
	a->fips = NULL;
}

bool agent_fip_uses_vrf(const struct agent *a, uint16_t vrf)
{
	for (int i = 0; a->fips && i < AGENT_MAX_FIPS; i++)
		if (a->fips[i].used && a->fips[i].vrf == vrf)
			return true;
	return false;
}

static int parse_ip(const char *s, struct agent_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (s && inet_pton(AF_INET, s, ip->a) == 1)
		ip->family = 4;
	else if (s && inet_pton(AF_INET6, s, ip->a) == 1)
		ip->family = 6;
	else
		return -EINVAL;
	ip->plen = ip->family == 4 ? 32 : 128;
	return 0;
}

static void fip_obj(const struct agent_fip *f, struct vr_object *o)
{
	memset(o, 0, sizeof(*o));
	o->obj = VR_OBJ_FIP;
	o->u.fip.vrf = f->vrf;
	o->u.fip.ip.family = f->addr.family;
	memcpy(o->u.fip.ip.a, f->addr.a, 16);
	o->u.fip.vif = f->vif;
	o->u.fip.nat_ip.family = f->pod.family;
	memcpy(o->u.fip.nat_ip.a, f->pod.a, 16);
	VR_SET(o, VR_AT_VRF);
	VR_SET(o, VR_AT_IP);
	VR_SET(o, VR_AT_VIF);
	VR_SET(o, VR_AT_NAT_IP);
}

/* Undo a floating IP: route, label, nexthop, the vrouter's entry; the public
 * VRF goes when nothing else holds it. */
static void fip_unprogram(struct agent *a, struct agent_fip *f)
{
	char err[256], ip[64];
	struct vr_object o;
	agent_vr_withdraw_addr(a, f->vrf, &f->addr);
	if (f->label)
		agent_label_free(a, f->label);
	if (f->nh)
		agent_nh_free(a, f->nh);
	fip_obj(f, &o);
	int rc = agent_vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT)
		TLOG_WARN(&a->log, "floating IP %s: %s", agent_ip_str(&f->addr, ip, sizeof(ip), false), err);
	else
		TLOG_INFO(&a->log, "floating IP %s removed", agent_ip_str(&f->addr, ip, sizeof(ip), false));
	uint16_t vrf = f->vrf;
	memset(f, 0, sizeof(*f));
	a->state_dirty = true;
	agent_vrf_release_unused(a, vrf);
}

static int fip_program(struct agent *a, struct agent_fip *f, char *err, size_t errlen)
{
	struct vr_object o;
	char e[256];
	int rc;
	struct agent_vrf *v = agent_vrf_ensure(a, f->network, e, sizeof(e));
	if (!v) {
		snprintf(err, errlen, "the VRF of %s: %s", f->network, e);
		return -EIO;
	}
	f->vrf = v->id;
	fip_obj(f, &o);
	if ((rc = agent_vr_do(a, VR_OP_ADD, &o, e, sizeof(e))) < 0) {
		snprintf(err, errlen, "%s", e);
		return rc;
	}
	/* The label of the floating address: into the public VRF, where the NAT
	 * stage translates it to the port's own address. */
	if (!f->nh && !(f->nh = agent_nh_alloc(a))) {
		snprintf(err, errlen, "every nexthop id is in use");
		return -ENOSPC;
	}
	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_NH;
	o.u.nh.id = f->nh;
	o.u.nh.type = VR_NH_ENCAP;
	o.u.nh.vif = f->vif;
	o.u.nh.vrf = f->vrf;
	memcpy(o.u.nh.dmac, f->port->i.mac, 6);
	VR_SET(&o, VR_AT_ID); VR_SET(&o, VR_AT_TYPE); VR_SET(&o, VR_AT_VIF);
	VR_SET(&o, VR_AT_VRF); VR_SET(&o, VR_AT_DMAC);
	if ((rc = agent_vr_do(a, VR_OP_ADD, &o, e, sizeof(e))) < 0) {
		snprintf(err, errlen, "nexthop %u: %s", f->nh, e);
		return rc;
	}
	if (!f->label && !(f->label = agent_label_alloc(a))) {
		snprintf(err, errlen, "every MPLS label is in use");
		return -ENOSPC;
	}
	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_MPLS;
	o.u.mpls.label = f->label;
	o.u.mpls.nh = f->nh;
	VR_SET(&o, VR_AT_LABEL);
	VR_SET(&o, VR_AT_NH);
	if ((rc = agent_vr_do(a, VR_OP_ADD, &o, e, sizeof(e))) < 0) {
		snprintf(err, errlen, "label %u: %s", f->label, e);
		return rc;
	}
	agent_vr_announce_addr(a, f->network, f->vrf, f->label, &f->addr);
	return 0;
}

/* What a floating-ip object asks of this node; false when nothing (not one
 * of its ports, or not resolvable yet). */
static bool fip_want(struct agent *a, json_t *obj, struct agent_fip *w)
{
	const char *project = json_string_value(json_object_get(obj, "project"));
	const char *vmi_ref = json_string_value(json_object_get(obj, "virtual_machine_interface"));
	const char *pool_ref = json_string_value(json_object_get(obj, "floating_ip_pool"));
	json_t *vmi = vmi_ref ? agent_model_ref(a, "virtual-machine-interface", vmi_ref, project)
			      : NULL;
	json_t *pool = pool_ref ? agent_model_ref(a, "floating-ip-pool", pool_ref, project) : NULL;
	const char *vmi_uuid = vmi ? json_string_value(json_object_get(vmi, "uuid")) : NULL;
	if (!vmi_uuid || !pool)
		return false;
	const struct agent_port *p = NULL;
	for (int i = 0; i < AGENT_MAX_PORTS && !p; i++)
		if (a->ports[i].used && !strcmp(a->ports[i].i.vmi, vmi_uuid))
			p = &a->ports[i];
	if (!p)
		return false;
	json_t *vn = agent_model_ref(a, "virtual-network",
				     json_string_value(json_object_get(pool, "virtual_network")),
				     json_string_value(json_object_get(pool, "project")));
	const char *fq = vn ? json_string_value(json_object_get(vn, "fq_name")) : NULL;
	memset(w, 0, sizeof(*w));
	if (!fq || parse_ip(json_string_value(json_object_get(obj, "address")), &w->addr) < 0)
		return false;
	snprintf(w->network, sizeof(w->network), "%s", fq);
	snprintf(w->uuid, sizeof(w->uuid), "%s", json_string_value(json_object_get(obj, "uuid")));
	if (parse_ip(json_string_value(json_object_get(obj, "fixed_ip")), &w->pod) < 0) {
		for (int k = 0; k < p->i.n_addrs && !w->pod.family; k++)
			if (p->i.addrs[k].family == w->addr.family)
				w->pod = p->i.addrs[k];
	}
	w->pod.plen = w->pod.family == 4 ? 32 : 128;
	w->port = p;
	w->vif = p->vif;
	return w->pod.family == w->addr.family && strcmp(fq, p->i.network) != 0;
}

void agent_fip_sync(struct agent *a)
{
	struct agent_fip *t = fip_table(a);
	if (!a->vr || !t)
		return;
	for (int i = 0; i < AGENT_MAX_FIPS; i++)
		t[i].seen = false;
	json_t *all = json_object_get(a->model, "floating-ip"), *obj;
	const char *k;
	json_object_foreach(all, k, obj) {
		struct agent_fip w, *f = NULL, *free_slot = NULL;
		if (!fip_want(a, obj, &w))
			continue;
		for (int i = 0; i < AGENT_MAX_FIPS && !f; i++) {
			if (t[i].used && !strcmp(t[i].uuid, w.uuid))
				f = &t[i];
			else if (!t[i].used && !free_slot)
				free_slot = &t[i];
		}
		if (f && (strcmp(f->network, w.network) || memcmp(&f->addr, &w.addr, sizeof(w.addr)) ||
			  memcmp(&f->pod, &w.pod, sizeof(w.pod)) || f->vif != w.vif)) {
			fip_unprogram(a, f); /* changed: made again */
			free_slot = f;
			f = NULL;
		}
		if (f) {
			f->seen = true;
			f->port = w.port;
			if (f->programmed)
				continue;
			/* From the state file, or the vrouter restarted: the same
			 * ids again, written in place. */
			char err[512], ip[64];
			if (fip_program(a, f, err, sizeof(err)) < 0) {
				TLOG_WARN(&a->log, "floating IP %s: %s",
					  agent_ip_str(&f->addr, ip, sizeof(ip), false), err);
				continue;  /* tried again on the next sync */
			}
			f->programmed = true;
			TLOG_INFO(&a->log, "floating IP %s taken over (vif %u, vrf %u, label %u)",
				  agent_ip_str(&f->addr, ip, sizeof(ip), false), f->vif, f->vrf, f->label);
			continue;
		}
		if (!free_slot) {
			TLOG_WARN(&a->log, "floating IP %s: this node has %d already", w.uuid,
				  AGENT_MAX_FIPS);
			continue;
		}
		*free_slot = w;
		free_slot->used = free_slot->seen = true;
		a->state_dirty = true;
		char err[512], ip[64], pod[64];
		if (fip_program(a, free_slot, err, sizeof(err)) < 0) {
			TLOG_WARN(&a->log, "floating IP %s: %s", agent_ip_str(&w.addr, ip, sizeof(ip), false),
				  err);
			fip_unprogram(a, free_slot);
			continue;
		}
		free_slot->programmed = true;
		TLOG_INFO(&a->log, "floating IP %s of %s -> %s (vif %u, vrf %u, label %u)",
			  agent_ip_str(&w.addr, ip, sizeof(ip), false), w.network,
			  agent_ip_str(&w.pod, pod, sizeof(pod), false), w.vif, free_slot->vrf,
			  free_slot->label);
	}
	if (!a->api_synced)
		return;
	for (int i = 0; i < AGENT_MAX_FIPS; i++)
		if (t[i].used && !t[i].seen)
			fip_unprogram(a, &t[i]);
}

void agent_fip_announce_all(struct agent *a)
{
	for (int i = 0; a->fips && i < AGENT_MAX_FIPS; i++)
		if (a->fips[i].used && a->fips[i].programmed)
			agent_vr_announce_addr(a, a->fips[i].network, a->fips[i].vrf, a->fips[i].label,
					       &a->fips[i].addr);
}

void agent_fip_port_gone(struct agent *a, const struct agent_port *p)
{
	for (int i = 0; a->fips && i < AGENT_MAX_FIPS; i++)
		if (a->fips[i].used && a->fips[i].port == p)
			fip_unprogram(a, &a->fips[i]);
}

void agent_fip_forget(struct agent *a)
{
	/* The vrouter may have restarted empty: the next sync writes every
	 * floating IP again, with the same ids. */
	for (int i = 0; a->fips && i < AGENT_MAX_FIPS; i++)
		a->fips[i].programmed = false;
}

json_t *agent_fip_state_save(struct agent *a)
{
	json_t *l = json_array();
	char ip[64], pod[64];
	for (int i = 0; a->fips && i < AGENT_MAX_FIPS; i++) {
		const struct agent_fip *f = &a->fips[i];
		if (!f->used || !f->nh || !f->label)
			continue;
		json_array_append_new(l, json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:i}",
			"uuid", f->uuid, "network", f->network, "vrf", f->vrf,
			"address", agent_ip_str(&f->addr, ip, sizeof(ip), false),
			"fixed_ip", agent_ip_str(&f->pod, pod, sizeof(pod), false),
			"vif", f->vif, "nh", f->nh, "label", f->label));
	}
	return l;
}

void agent_fip_state_load(struct agent *a, json_t *list)
{
	size_t i;
	json_t *e;
	int n = 0;
	json_array_foreach(list, i, e) {
		struct agent_fip *t = fip_table(a);
		if (!t || n >= AGENT_MAX_FIPS)
			break;
		struct agent_fip *f = &t[n];
		memset(f, 0, sizeof(*f));
		const char *uuid = json_string_value(json_object_get(e, "uuid"));
		const char *net = json_string_value(json_object_get(e, "network"));
		json_int_t vrf = json_integer_value(json_object_get(e, "vrf"));
		json_int_t vif = json_integer_value(json_object_get(e, "vif"));
		json_int_t nh = json_integer_value(json_object_get(e, "nh"));
		json_int_t label = json_integer_value(json_object_get(e, "label"));
		if (!uuid || !net || vrf < 1 || vrf > AGENT_MAX_VRFS || !a->vrfs[vrf].used ||
		    nh <= AGENT_RECEIVE_NH || nh >= AGENT_NH_IDS || a->nh_used[nh] ||
		    label < AGENT_LABEL_MIN || label >= AGENT_LABELS ||
		    (a->label_used[label >> 3] & (1u << (label & 7))) ||
		    parse_ip(json_string_value(json_object_get(e, "address")), &f->addr) < 0 ||
		    parse_ip(json_string_value(json_object_get(e, "fixed_ip")), &f->pod) < 0)
			continue;  /* not trusted: the take-over sweep removes its objects */
		for (int k = 0; k < AGENT_MAX_PORTS && !f->port; k++)
			if (a->ports[k].used && a->ports[k].vif == vif)
				f->port = &a->ports[k];
		if (!f->port)
			continue;
		snprintf(f->uuid, sizeof(f->uuid), "%s", uuid);
		snprintf(f->network, sizeof(f->network), "%s", net);
		f->vrf = (uint16_t)vrf;
		f->vif = (uint32_t)vif;
		f->nh = (uint32_t)nh;
		f->label = (uint32_t)label;
		f->used = true;
		a->nh_used[nh] = 1;
		a->label_used[label >> 3] |= (uint8_t)(1u << (label & 7));
		n++;
	}
	if (n)
		TLOG_INFO(&a->log, "state: %d floating IP(s) with their nexthops and labels", n);
}
