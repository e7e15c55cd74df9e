/*
 * DOC: vr_ctl.c — control requests: decode, validate, apply, reply.
 *
 * Called on the forwarding lcore between bursts, so a request sees and changes
 * the tables with no packet in flight. A request that fails changes nothing:
 * every check runs before the first write, and the table functions undo their
 * own partial work. Dumps are paged by a cursor so no reply is ever truncated.
 */
#include "vr_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define DUMP_RESERVE 2048 /* stop a dump page when less than this is left */

/* What the control thread made ahead of the request (vr_ctl_prepare). */
struct vr_ctl_prep {
	struct vr_policy_prep policy;  /* a policy ADD */
};

struct ctl_req {
	struct vr_router *r;
	struct vr_ctl_prep *prep;  /* NULL: nothing made ahead */
	const struct vr_msg_view *v;
	struct vr_object in;      /* the request's object (zero when absent) */
	bool has_obj;
	struct tern_wbuf *w;      /* the reply, objects go here */
	uint64_t cursor;          /* next cursor for a dump, 0 = complete */
	struct vr_err e;
};

#define HAVE(q, at) VR_HAVE(&(q)->in, at)

static int need(struct ctl_req *q, unsigned at, const char *what)
{
	if (!HAVE(q, at))
		return vr_errf(&q->e, -EINVAL, "%s needs %s (attribute '%s')", vr_obj_name(q->v->obj),
			       what, vr_attr_name(at));
	return 0;
}

static void set_have(struct vr_object *o, const unsigned *ats, size_t n)
{
	for (size_t i = 0; i < n; i++)
		VR_SET(o, ats[i]);
}
#define SET_HAVE(o, ...) do { \
	static const unsigned ats_[] = { __VA_ARGS__ }; \
	set_have((o), ats_, sizeof(ats_) / sizeof(ats_[0])); } while (0)

static bool page_full(const struct ctl_req *q)
{
	return q->w->len + DUMP_RESERVE > q->w->cap;
}

/* ---- vif ---- */

static void put_vif(struct ctl_req *q, const struct vr_vif *v)
{
	struct vr_object o = { .obj = VR_OBJ_VIF };
	vr_vif_fill(q->r, v, &o.u.vif);
	SET_HAVE(&o, VR_AT_ID, VR_AT_TYPE, VR_AT_VRF, VR_AT_MTU, VR_AT_FLAGS, VR_AT_MAC,
		 VR_AT_PORT_ID, VR_AT_LINK, VR_AT_STATS, VR_AT_PORT_RX);
	if (o.u.vif.name[0]) VR_SET(&o, VR_AT_NAME);
	if (o.u.vif.ifname[0]) VR_SET(&o, VR_AT_IFNAME);
	if (o.u.vif.socket[0]) {
		VR_SET(&o, VR_AT_SOCKET);
		VR_SET(&o, VR_AT_ROLE);
	}
	if (o.u.vif.ip.family) VR_SET(&o, VR_AT_IP);
	if (o.u.vif.policy_in) VR_SET(&o, VR_AT_POLICY_IN);
	if (o.u.vif.policy_out) VR_SET(&o, VR_AT_POLICY_OUT);
	vr_msg_put_object(q->w, &o);
}

static int ctl_vif(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_vif *in = &q->in.u.vif;
	int rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_TYPE, "a type")) < 0)
			return rc;
		if (!HAVE(q, VR_AT_ID))
			in->id = UINT32_MAX;
		if ((rc = vr_vif_add(r, in, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "vif %u added: %s %s%s vrf %u policy in %u out %u", in->id,
			  vr_vif_type_name(in->type), in->ifname, in->socket, in->vrf,
			  r->vifs[in->id]->cfg.policy_in, r->vifs[in->id]->cfg.policy_out);
		put_vif(q, r->vifs[in->id]);
		return 0;
	case VR_OP_DEL:
		if ((rc = need(q, VR_AT_ID, "the vif id")) < 0 || (rc = vr_vif_del(r, in->id, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "vif %u deleted", in->id);
		return 0;
	case VR_OP_GET:
		if ((rc = need(q, VR_AT_ID, "the vif id")) < 0)
			return rc;
		if (!vr_vif_get(r, in->id))
			return vr_errf(&q->e, -ENOENT, "no vif %u", in->id);
		put_vif(q, r->vifs[in->id]);
		return 0;
	case VR_OP_DUMP:
		for (uint64_t i = q->v->cursor; i < VR_MAX_VIFS; i++) {
			if (page_full(q)) {
				q->cursor = i;
				return 0;
			}
			if (r->vifs[i])
				put_vif(q, r->vifs[i]);
		}
		return 0;
	case VR_OP_CLEAR:
		for (uint32_t i = 0; i < VR_MAX_VIFS; i++) {
			const struct vr_vif *v = r->vifs[i];
			if (!v || (HAVE(q, VR_AT_ID) && in->id != i))
				continue;
			if (v->has_port && r->ops->vif_stats_clear)
				r->ops->vif_stats_clear(r->host, (uint16_t)i, v->port_id);
			r->vif_tx_drops[i] = 0;
		}
		return 0;
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "vif does not support this operation");
}

/* ---- vrf ---- */

static void put_vrf(struct ctl_req *q, uint32_t id)
{
	const struct vr_vrf *f = &q->r->vrfs[id];
	struct vr_object o = { .obj = VR_OBJ_VRF };
	o.u.vrf.id = id;
	o.u.vrf.flags = f->flags;
	o.u.vrf.nh = f->flood_nh;
	o.u.vrf.vni = f->vni;
	SET_HAVE(&o, VR_AT_ID, VR_AT_FLAGS, VR_AT_NH, VR_AT_VNI);
	vr_msg_put_object(q->w, &o);
}

static int ctl_vrf(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_vrf *in = &q->in.u.vrf;
	int rc;
	if (op != VR_OP_DUMP && (rc = need(q, VR_AT_ID, "the vrf id")) < 0)
		return rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = vr_vrf_add(r, in, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "vrf %u set: flags 0x%x flood nh %u vni %u", in->id, in->flags, in->nh,
			  in->vni);
		put_vrf(q, in->id);
		return 0;
	case VR_OP_DEL:
		if ((rc = vr_vrf_del(r, in->id, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "vrf %u deleted with its routes and bridge entries", in->id);
		return 0;
	case VR_OP_GET:
		if ((rc = vr_vrf_check(r, in->id, &q->e)) < 0)
			return rc;
		if (!r->vrfs[in->id].used)
			return vr_errf(&q->e, -ENOENT, "no vrf %u", in->id);
		put_vrf(q, in->id);
		return 0;
	case VR_OP_DUMP:
		for (uint64_t i = q->v->cursor; i < r->cfg.max_vrfs; i++) {
			if (page_full(q)) {
				q->cursor = i;
				return 0;
			}
			if (r->vrfs[i].used)
				put_vrf(q, (uint32_t)i);
		}
		return 0;
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "vrf does not support this operation");
}

/* ---- nexthop ---- */

static void put_nh(struct ctl_req *q, const struct vr_nh *nh)
{
	struct vr_object o = { .obj = VR_OBJ_NH };
	o.u.nh = nh->cfg;
	o.u.nh.refcnt = nh->refcnt;
	SET_HAVE(&o, VR_AT_ID, VR_AT_TYPE, VR_AT_FLAGS, VR_AT_VRF, VR_AT_REFCNT);
	switch (nh->cfg.type) {
	case VR_NH_ENCAP:
		SET_HAVE(&o, VR_AT_VIF, VR_AT_DMAC);
		break;
	case VR_NH_TUNNEL:
		SET_HAVE(&o, VR_AT_VIF, VR_AT_DMAC, VR_AT_ENCAP, VR_AT_SIP, VR_AT_DIP);
		VR_SET(&o, nh->cfg.encap == VR_ENCAP_VXLAN ? VR_AT_VNI : VR_AT_LABEL);
		break;
	case VR_NH_ECMP:
	case VR_NH_FLOOD:
		VR_SET(&o, VR_AT_MEMBERS);
		break;
	}
	vr_msg_put_object(q->w, &o);
}

static int ctl_nh(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_nh *in = &q->in.u.nh;
	int rc;
	if (op != VR_OP_DUMP && (rc = need(q, VR_AT_ID, "the nexthop id")) < 0)
		return rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_TYPE, "a type")) < 0 || (rc = vr_nh_add(r, in, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "nexthop %u set: %s", in->id, vr_nh_type_name(in->type));
		put_nh(q, r->nhs[in->id]);
		return 0;
	case VR_OP_DEL:
		if ((rc = vr_nh_del(r, in->id, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "nexthop %u deleted", in->id);
		return 0;
	case VR_OP_GET:
		if (!vr_nh_get(r, in->id))
			return vr_errf(&q->e, -ENOENT, "no nexthop %u", in->id);
		put_nh(q, r->nhs[in->id]);
		return 0;
	case VR_OP_DUMP:
		for (uint64_t i = q->v->cursor; i < VR_MAX_NEXTHOPS; i++) {
			if (page_full(q)) {
				q->cursor = i;
				return 0;
			}
			if (r->nhs[i])
				put_nh(q, r->nhs[i]);
		}
		return 0;
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "nexthop does not support this operation");
}

/* ---- route ---- */

static void put_route(struct ctl_req *q, const struct vr_route *s)
{
	struct vr_object o = { .obj = VR_OBJ_ROUTE };
	struct vr_obj_route *rt = &o.u.route;
	rt->vrf = s->vrf;
	rt->prefix.family = s->family;
	memcpy(rt->prefix.a, s->prefix, 16);
	rt->plen = s->plen;
	rt->nh = s->nh;
	rt->flags = s->flags;
	memcpy(rt->mac, s->mac, 6);
	SET_HAVE(&o, VR_AT_VRF, VR_AT_PREFIX, VR_AT_PLEN, VR_AT_NH, VR_AT_FLAGS);
	if (!vr_mac_is_zero(s->mac))
		VR_SET(&o, VR_AT_MAC);
	vr_msg_put_object(q->w, &o);
}

static int ctl_route(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_route *in = &q->in.u.route;
	int rc;
	if (op == VR_OP_DUMP) {
		const struct vr_fib *f = &r->fib;
		bool by_vrf = HAVE(q, VR_AT_VRF), by_family = HAVE(q, VR_AT_PREFIX);
		for (uint64_t i = q->v->cursor ? q->v->cursor : 1; i < f->n_slots; i++) {
			if (page_full(q)) {
				q->cursor = i;
				return 0;
			}
			const struct vr_route *s = &f->slots[i];
			if (s->nh && (!by_vrf || s->vrf == in->vrf) &&
			    (!by_family || s->family == in->prefix.family))
				put_route(q, s);
		}
		return 0;
	}
	if ((rc = need(q, VR_AT_VRF, "a vrf")) < 0 || (rc = need(q, VR_AT_PREFIX, "a prefix")) < 0 ||
	    (rc = need(q, VR_AT_PLEN, "a prefix length")) < 0)
		return rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_NH, "a nexthop")) < 0 || (rc = vr_route_add(r, in, &q->e)) < 0)
			return rc;
		TLOG_DEBUG(r->log, "route added in vrf %u /%u -> nh %u", in->vrf, in->plen, in->nh);
		return 0;
	case VR_OP_DEL:
		return vr_route_del(r, in, &q->e);
	case VR_OP_GET: {
		const struct vr_route *s = vr_route_get(r, in);
		if (!s)
			return vr_errf(&q->e, -ENOENT, "no such route in vrf %u", in->vrf);
		put_route(q, s);
		return 0;
	}
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "route does not support this operation");
}

/* ---- mpls, vni, bridge ---- */

static void put_label(struct ctl_req *q, uint32_t label)
{
	struct vr_object o = { .obj = VR_OBJ_MPLS };
	o.u.mpls.label = label;
	o.u.mpls.nh = q->r->labels[label];
	SET_HAVE(&o, VR_AT_LABEL, VR_AT_NH);
	vr_msg_put_object(q->w, &o);
}

static int ctl_mpls(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_mpls *in = &q->in.u.mpls;
	int rc;
	if (op != VR_OP_DUMP && (rc = need(q, VR_AT_LABEL, "a label")) < 0)
		return rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_NH, "a nexthop")) < 0)
			return rc;
		return vr_mpls_add(r, in->label, in->nh, &q->e);
	case VR_OP_DEL:
		return vr_mpls_del(r, in->label, &q->e);
	case VR_OP_GET:
		if (in->label > VR_MAX_LABEL || !r->labels[in->label])
			return vr_errf(&q->e, -ENOENT, "no label %u", in->label);
		put_label(q, in->label);
		return 0;
	case VR_OP_DUMP:
		for (uint64_t i = q->v->cursor; i <= VR_MAX_LABEL; i++) {
			if (page_full(q)) {
				q->cursor = i;
				return 0;
			}
			if (r->labels[i])
				put_label(q, (uint32_t)i);
		}
		return 0;
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "mpls does not support this operation");
}

static void put_vni(struct ctl_req *q, uint32_t vni, uint16_t vrf)
{
	struct vr_object o = { .obj = VR_OBJ_VNI };
	o.u.vni.vni = vni;
	o.u.vni.vrf = vrf;
	SET_HAVE(&o, VR_AT_VNI, VR_AT_VRF);
	vr_msg_put_object(q->w, &o);
}

static int ctl_vni(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_vni *in = &q->in.u.vni;
	int rc;
	uint16_t vrf;
	if (op != VR_OP_DUMP && (rc = need(q, VR_AT_VNI, "a vni")) < 0)
		return rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_VRF, "a vrf")) < 0)
			return rc;
		return vr_vni_add(r, in->vni, in->vrf, &q->e);
	case VR_OP_DEL:
		return vr_vni_del(r, in->vni, &q->e);
	case VR_OP_GET:
		if (vr_vni_lookup(r, in->vni, &vrf) < 0)
			return vr_errf(&q->e, -ENOENT, "no vni %u", in->vni);
		put_vni(q, in->vni, vrf);
		return 0;
	case VR_OP_DUMP: {
		uint32_t pos = (uint32_t)q->v->cursor, vni;
		while (!page_full(q)) {
			if (!vr_vni_next(r, &pos, &vni, &vrf))
				return 0;
			put_vni(q, vni, vrf);
		}
		q->cursor = pos;
		return 0;
	}
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "vni does not support this operation");
}

static int ctl_bridge(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_bridge *in = &q->in.u.bridge;
	int rc;
	if (op == VR_OP_DUMP) {
		uint32_t pos = (uint32_t)q->v->cursor;
		struct vr_object o = { .obj = VR_OBJ_BRIDGE };
		SET_HAVE(&o, VR_AT_VRF, VR_AT_MAC, VR_AT_NH);
		while (!page_full(q)) {
			if (!vr_bridge_next(r, &pos, &o.u.bridge.vrf, o.u.bridge.mac, &o.u.bridge.nh))
				return 0;
			if (!HAVE(q, VR_AT_VRF) || o.u.bridge.vrf == in->vrf)
				vr_msg_put_object(q->w, &o);
		}
		q->cursor = pos;
		return 0;
	}
	if ((rc = need(q, VR_AT_VRF, "a vrf")) < 0 || (rc = need(q, VR_AT_MAC, "a MAC")) < 0)
		return rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_NH, "a nexthop")) < 0)
			return rc;
		return vr_bridge_add(r, in->vrf, in->mac, in->nh, &q->e);
	case VR_OP_DEL:
		return vr_bridge_del(r, in->vrf, in->mac, &q->e);
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "bridge supports add, del and dump");
}

/* ---- policy ---- */

/* A policy; with_rules: its rule records and counters too (GET), packed into
 * a scratch buffer the encoder copies from. Returns 0 or -ENOMEM. */
static int put_policy(struct ctl_req *q, const struct vr_policy *p, bool with_rules)
{
	struct vr_object o = { .obj = VR_OBJ_POLICY };
	struct vr_obj_policy *op = &o.u.policy;
	uint8_t *buf = NULL;
	op->id = p->id;
	op->action = p->action;
	op->n_rules = p->n_rules;
	op->refcnt = vr_policy_refcnt(q->r, p->id);
	op->next = p->next;
	SET_HAVE(&o, VR_AT_ID, VR_AT_ACTION, VR_AT_N_RULES, VR_AT_REFCNT, VR_AT_POLICY);
	if (with_rules) {
		size_t rl = (size_t)p->n_rules * VR_RULE_LEN;
		buf = malloc(rl + (size_t)(p->n_rules + 1) * VR_RULE_STATS_LEN);
		if (!buf)
			return vr_errf(&q->e, -ENOMEM, "cannot allocate the reply for policy %u", p->id);
		for (uint32_t i = 0; i < p->n_rules; i++)
			vr_rule_pack(&p->rules[i], buf + (size_t)i * VR_RULE_LEN);
		for (uint32_t i = 0; i <= p->n_rules; i++) {
			struct vr_rule_stats st = { p->hits[i], p->denied[i] };
			vr_rule_stats_pack(&st, buf + rl + (size_t)i * VR_RULE_STATS_LEN);
		}
		op->rules = (struct vr_recs){ buf, (uint16_t)p->n_rules };
		op->rule_stats = (struct vr_recs){ buf + rl, (uint16_t)(p->n_rules + 1) };
		SET_HAVE(&o, VR_AT_RULES, VR_AT_RULE_STATS);
	}
	vr_msg_put_object(q->w, &o);
	free(buf);
	return 0;
}

static int ctl_policy(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_policy *in = &q->in.u.policy;
	int rc;
	if (op != VR_OP_DUMP && (rc = need(q, VR_AT_ID, "the policy id")) < 0)
		return rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_ACTION, "a default action")) < 0 ||
		    (rc = vr_policy_add(r, in, q->prep ? &q->prep->policy : NULL, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "policy %u set: %u rules, default %s, next %u", in->id, in->rules.n,
			  vr_action_name(in->action), in->next);
		return put_policy(q, r->policies[in->id], false);
	case VR_OP_DEL:
		if ((rc = vr_policy_del(r, in->id, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "policy %u deleted", in->id);
		return 0;
	case VR_OP_GET:
		if (!vr_policy_get(r, in->id))
			return vr_errf(&q->e, -ENOENT, "no policy %u", in->id);
		return put_policy(q, r->policies[in->id], true);
	case VR_OP_DUMP: /* without rules: GET one policy for them */
		for (uint64_t i = q->v->cursor; i < VR_MAX_POLICIES; i++) {
			if (page_full(q)) {
				q->cursor = i;
				return 0;
			}
			if (r->policies[i] && (rc = put_policy(q, r->policies[i], false)) < 0)
				return rc;
		}
		return 0;
	case VR_OP_CLEAR:
		for (uint32_t i = 0; i < VR_MAX_POLICIES; i++) {
			struct vr_policy *p = r->policies[i];
			if (!p || (HAVE(q, VR_AT_ID) && in->id != i))
				continue;
			memset(p->hits, 0, (p->n_rules + 1) * sizeof(*p->hits));
			memset(p->denied, 0, (p->n_rules + 1) * sizeof(*p->denied));
		}
		return 0;
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "policy does not support this operation");
}

/* ---- services and floating IPs ---- */

static int put_service(struct ctl_req *q, const struct vr_service *s)
{
	struct vr_object o = { .obj = VR_OBJ_SERVICE };
	struct vr_obj_service *os = &o.u.service;
	size_t bl = (size_t)s->n_backends * VR_BACKEND_LEN;
	uint8_t *buf = malloc(bl + (size_t)s->n_backends * VR_BACKEND_STATS_LEN + 1);
	if (!buf)
		return vr_errf(&q->e, -ENOMEM, "cannot allocate the reply for service %u", s->id);
	os->id = s->id;
	os->vrf = s->vrf;
	os->ip.family = s->family;
	memcpy(os->ip.a, s->vip, 16);
	os->proto = s->proto;
	os->dport = s->port;
	for (uint16_t i = 0; i < s->n_backends; i++) {
		vr_backend_pack(&s->backends[i], s->family, buf + (size_t)i * VR_BACKEND_LEN);
		uint8_t *st = buf + bl + (size_t)i * VR_BACKEND_STATS_LEN;
		for (int b = 0; b < 8; b++)
			st[b] = (uint8_t)(s->flows[i] >> (56 - 8 * b));
	}
	os->backends = (struct vr_recs){ buf, s->n_backends };
	os->backend_stats = (struct vr_recs){ buf + bl, s->n_backends };
	SET_HAVE(&o, VR_AT_ID, VR_AT_VRF, VR_AT_IP, VR_AT_PROTO, VR_AT_DPORT, VR_AT_BACKENDS,
		 VR_AT_BACKEND_STATS);
	vr_msg_put_object(q->w, &o);
	free(buf);
	return 0;
}

static int ctl_service(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_service *in = &q->in.u.service;
	int rc;
	if (op != VR_OP_DUMP && (rc = need(q, VR_AT_ID, "the service id")) < 0)
		return rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_VRF, "a vrf")) < 0 || (rc = need(q, VR_AT_IP, "the virtual IP")) < 0 ||
		    (rc = need(q, VR_AT_PROTO, "a protocol")) < 0 ||
		    (rc = need(q, VR_AT_DPORT, "the service port (dport)")) < 0 ||
		    (rc = vr_service_add(r, in, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "service %u set: vrf %u port %u, %u backends", in->id, in->vrf,
			  in->dport, in->backends.n);
		return 0;
	case VR_OP_DEL:
		if ((rc = vr_service_del(r, in->id, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "service %u deleted", in->id);
		return 0;
	case VR_OP_GET:
		if (!vr_service_get(r, in->id))
			return vr_errf(&q->e, -ENOENT, "no service %u", in->id);
		return put_service(q, vr_service_get(r, in->id));
	case VR_OP_DUMP:
		for (uint64_t i = q->v->cursor; r->nat && i < VR_MAX_SERVICES; i++) {
			if (page_full(q)) {
				q->cursor = i;
				return 0;
			}
			if (r->nat->services[i] && (rc = put_service(q, r->nat->services[i])) < 0)
				return rc;
		}
		return 0;
	case VR_OP_CLEAR:
		for (uint32_t i = 0; r->nat && i < VR_MAX_SERVICES; i++) {
			struct vr_service *s = r->nat->services[i];
			if (s && (!HAVE(q, VR_AT_ID) || in->id == i))
				memset(s->flows, 0, s->n_backends * sizeof(*s->flows));
		}
		return 0;
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "service does not support this operation");
}

static int ctl_fip(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	struct vr_obj_fip *in = &q->in.u.fip;
	int rc;
	switch (op) {
	case VR_OP_ADD:
		if ((rc = need(q, VR_AT_VRF, "the public vrf")) < 0 ||
		    (rc = need(q, VR_AT_IP, "the floating address")) < 0 ||
		    (rc = need(q, VR_AT_VIF, "the pod's vif")) < 0 ||
		    (rc = need(q, VR_AT_NAT_IP, "the pod's address (nat_ip)")) < 0 ||
		    (rc = vr_fip_add(r, in, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "floating IP set in vrf %u for vif %u", in->vrf, in->vif);
		return 0;
	case VR_OP_DEL:
		if ((rc = need(q, VR_AT_VRF, "the public vrf")) < 0 ||
		    (rc = need(q, VR_AT_IP, "the floating address")) < 0 ||
		    (rc = vr_fip_del(r, in, &q->e)) < 0)
			return rc;
		TLOG_INFO(r->log, "floating IP deleted from vrf %u", in->vrf);
		return 0;
	case VR_OP_DUMP:
		for (uint64_t i = q->v->cursor; r->nat && r->nat->fips && i < VR_MAX_FIPS; i++) {
			if (page_full(q)) {
				q->cursor = i;
				return 0;
			}
			const struct vr_fip *f = &r->nat->fips[i];
			if (!f->used)
				continue;
			struct vr_object o = { .obj = VR_OBJ_FIP };
			o.u.fip.vrf = f->vrf;
			o.u.fip.ip.family = o.u.fip.nat_ip.family = f->family;
			memcpy(o.u.fip.ip.a, f->addr, 16);
			memcpy(o.u.fip.nat_ip.a, f->pod, 16);
			o.u.fip.vif = f->vif;
			SET_HAVE(&o, VR_AT_VRF, VR_AT_IP, VR_AT_NAT_IP, VR_AT_VIF);
			vr_msg_put_object(q->w, &o);
		}
		return 0;
	}
	return vr_errf(&q->e, -EOPNOTSUPP, "fip supports add, del and dump");
}

/* ---- flows ---- */

static bool flow_matches(const struct ctl_req *q, const struct vr_flow_key *k,
			 const struct vr_flow_key *rk)
{
	const struct vr_obj_flow *in = &q->in.u.flow;
	if (HAVE(q, VR_AT_VRF) && k->vrf != in->vrf)
		return false;
	if (HAVE(q, VR_AT_IP)) {
		size_t n = in->ip.family == 4 ? 4 : 16;
		if (k->family != in->ip.family ||
		    (memcmp(k->src, in->ip.a, n) && memcmp(k->dst, in->ip.a, n) &&
		     memcmp(rk->src, in->ip.a, n) && memcmp(rk->dst, in->ip.a, n)))
			return false;
	}
	if (HAVE(q, VR_AT_PORT) && k->sport != in->port && k->dport != in->port &&
	    rk->sport != in->port)
		return false;
	return true;
}

/* A connection, as its first direction with the counters of both. */
static void put_flow(struct ctl_req *q, const struct vr_conn *c, const struct vr_flow_key *k,
		     const struct vr_flow_key *rk)
{
	struct vr_object o = { .obj = VR_OBJ_FLOW };
	struct vr_obj_flow *of = &o.u.flow;
	size_t n = k->family == 4 ? 4 : 16;
	of->vrf = k->vrf;
	of->proto = k->proto;
	of->sip.family = of->dip.family = k->family;
	memcpy(of->sip.a, k->src, n);
	memcpy(of->dip.a, k->dst, n);
	of->sport = k->sport;
	of->dport = k->dport;
	of->action = c->action;
	of->policy = c->policy;
	of->rule = vr_flow_rule_id(q->r, c);
	of->state = c->state;
	of->vif = c->in_vif;
	of->n_stats = VR_FC_MAX_;
	of->stats[VR_FC_FWD_PKTS] = c->pkts[0];
	of->stats[VR_FC_FWD_BYTES] = c->bytes[0];
	of->stats[VR_FC_REV_PKTS] = c->pkts[1];
	of->stats[VR_FC_REV_BYTES] = c->bytes[1];
	of->stats[VR_FC_AGE_MS] = q->r->now_ms - (uint64_t)c->first_s * 1000;
	of->stats[VR_FC_IDLE_MS] = (uint32_t)q->r->now_ms - c->last_ms;
	SET_HAVE(&o, VR_AT_VRF, VR_AT_PROTO, VR_AT_SIP, VR_AT_DIP, VR_AT_SPORT, VR_AT_DPORT,
		 VR_AT_ACTION, VR_AT_POLICY, VR_AT_RULE, VR_AT_STATE, VR_AT_VIF, VR_AT_FLOW_STATS);
	if (c->nat) {
		/* what the first direction became: the mirror of the reverse key */
		bool dst = c->nat & VR_NAT_DST;
		of->nat = c->nat;
		of->nat_ip.family = k->family;
		memcpy(of->nat_ip.a, dst ? rk->src : rk->dst, n);
		of->nat_port = dst ? rk->sport : rk->dport;
		of->nat_vrf = rk->vrf;
		const struct vr_service *s = vr_nat_flow_service(q->r, c, k);
		of->service = s ? s->id : 0;
		SET_HAVE(&o, VR_AT_NAT, VR_AT_NAT_IP, VR_AT_NAT_PORT, VR_AT_NAT_VRF, VR_AT_SERVICE);
	}
	vr_msg_put_object(q->w, &o);
}

/* Scanned records per page at most, so that a sparse table never makes one
 * request a long pause of the forwarding core. */
#define FLOW_DUMP_SCAN 32768

static int ctl_flow(struct ctl_req *q, uint16_t op)
{
	const struct vr_flows *ft = &q->r->flow;
	if (op == VR_OP_DEL) { /* flush: done incrementally by the forwarding loop */
		vr_flow_flush(q->r);
		TLOG_INFO(q->r->log, "flow table flush: %u flow(s) to remove", ft->n_used);
		return 0;
	}
	if (op != VR_OP_DUMP)
		return vr_errf(&q->e, -EOPNOTSUPP, "flow supports dump and del (flush) only");
	if (HAVE(q, VR_AT_IP) && q->in.u.flow.ip.family != 4 && q->in.u.flow.ip.family != 6)
		return vr_errf(&q->e, -EINVAL, "flow filter: bad address");
	uint64_t end = q->v->cursor + FLOW_DUMP_SCAN;
	for (uint64_t i = q->v->cursor; i < ft->max_conns; i++) {
		if (page_full(q) || i >= end) {
			q->cursor = i;
			return 0;
		}
		const struct vr_conn *c = &ft->conns[i];
		if (!(c->flags & VR_CONN_USED))
			continue;
		struct vr_flow_key k, rk;
		vr_flow_key_get(ft, (uint32_t)i << 1, &k);
		vr_flow_key_get(ft, (uint32_t)i << 1 | 1, &rk);
		if (flow_matches(q, &k, &rk))
			put_flow(q, c, &k, &rk);
	}
	return 0;
}

/* ---- info and drop statistics ---- */

static int ctl_info(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	if (op != VR_OP_GET && op != VR_OP_DUMP)
		return vr_errf(&q->e, -EOPNOTSUPP, "info supports get only");
	struct vr_object o = { .obj = VR_OBJ_INFO };
	struct vr_obj_info *i = &o.u.info;
	snprintf(i->name, sizeof(i->name), "%s", r->name);
	snprintf(i->version, sizeof(i->version), "%s", TERN_VERSION);
	snprintf(i->lcores, sizeof(i->lcores), "%s", r->lcores);
	i->uptime = (uint64_t)(time(NULL) - r->started);
	i->n_counts = VR_CNT_MAX_;
	i->counts[VR_CNT_VIFS] = r->n_vifs;
	i->counts[VR_CNT_VRFS] = r->n_vrfs;
	i->counts[VR_CNT_NHS] = r->n_nhs;
	i->counts[VR_CNT_ROUTES] = r->fib.n_routes;
	i->counts[VR_CNT_LABELS] = r->n_labels;
	i->counts[VR_CNT_VNIS] = r->n_vnis;
	i->counts[VR_CNT_BRIDGE] = r->n_bridge;
	i->counts[VR_CNT_FLOWS] = r->flow.n_used;
	i->busy_cycles = r->loop.busy_cycles;
	i->busy_pkts = r->loop.busy_pkts;
	i->tsc_hz = r->loop.tsc_hz;
	SET_HAVE(&o, VR_AT_NAME, VR_AT_VERSION, VR_AT_LCORES, VR_AT_UPTIME, VR_AT_COUNT,
		 VR_AT_BUSY_CYCLES, VR_AT_BUSY_PKTS, VR_AT_TSC_HZ);
	vr_msg_put_object(q->w, &o);
	return 0;
}

static int ctl_drops(struct ctl_req *q, uint16_t op)
{
	struct vr_router *r = q->r;
	if (op == VR_OP_CLEAR) {
		memset(r->drops, 0, sizeof(r->drops));
		return 0;
	}
	if (op != VR_OP_GET && op != VR_OP_DUMP)
		return vr_errf(&q->e, -EOPNOTSUPP, "dropstats supports get and clear");
	struct vr_object o = { .obj = VR_OBJ_DROPSTATS };
	o.u.drops.n = VR_DROP_MAX_;
	memcpy(o.u.drops.drops, r->drops, sizeof(r->drops));
	VR_SET(&o, VR_AT_DROPS);
	vr_msg_put_object(q->w, &o);
	return 0;
}

typedef int (*ctl_fn)(struct ctl_req *q, uint16_t op);

static const ctl_fn handlers[] = {
	[VR_OBJ_INFO] = ctl_info,
	[VR_OBJ_VIF] = ctl_vif,
	[VR_OBJ_VRF] = ctl_vrf,
	[VR_OBJ_NH] = ctl_nh,
	[VR_OBJ_ROUTE] = ctl_route,
	[VR_OBJ_MPLS] = ctl_mpls,
	[VR_OBJ_VNI] = ctl_vni,
	[VR_OBJ_BRIDGE] = ctl_bridge,
	[VR_OBJ_DROPSTATS] = ctl_drops,
	[VR_OBJ_POLICY] = ctl_policy,
	[VR_OBJ_FLOW] = ctl_flow,
	[VR_OBJ_SERVICE] = ctl_service,
	[VR_OBJ_FIP] = ctl_fip,
};

static int ctl_decode(struct ctl_req *q)
{
	const struct vr_msg_view *v = q->v;
	if (v->op == VR_OP_REPLY)
		return vr_errf(&q->e, -EINVAL, "a reply is not a request");
	if (!v->obj || v->obj >= sizeof(handlers) / sizeof(handlers[0]) || !handlers[v->obj])
		return vr_errf(&q->e, -EINVAL, "the request names no known object type (attribute 'obj')");
	if (v->n_objects > 1)
		return vr_errf(&q->e, -EINVAL, "a request carries at most one object, not %u", v->n_objects);
	struct vr_msg_view tmp = *v;
	int rc = vr_msg_next_object(&tmp, &q->in, q->e.msg, sizeof(q->e.msg));
	if (rc < 0)
		return rc;
	q->has_obj = rc == 1;
	q->in.obj = v->obj;
	return 0;
}

struct vr_ctl_prep *vr_ctl_prepare(struct vr_router *r, const uint8_t *req, size_t len)
{
	struct vr_msg_view v = { 0 };
	struct vr_object o;
	struct vr_err e;
	if (vr_msg_parse(req, len, &v, e.msg, sizeof(e.msg)) < 0 || v.obj != VR_OBJ_POLICY ||
	    v.op != VR_OP_ADD || v.n_objects != 1 ||
	    vr_msg_next_object(&v, &o, e.msg, sizeof(e.msg)) != 1 ||
	    !VR_HAVE(&o, VR_AT_ID))
		return NULL; /* not a policy to build, or a bad request: the forwarding core says so */
	struct vr_ctl_prep *prep = calloc(1, sizeof(*prep));
	if (prep)
		vr_policy_prepare(r, &o.u.policy, &prep->policy);
	return prep;
}

void vr_ctl_prep_free(struct vr_ctl_prep *prep)
{
	if (!prep)
		return;
	vr_policy_prep_release(&prep->policy);
	free(prep);
}

size_t vr_ctl_handle(struct vr_router *r, const uint8_t *req, size_t len, uint8_t *reply, size_t cap)
{
	return vr_ctl_handle_prepared(r, req, len, NULL, reply, cap);
}

size_t vr_ctl_handle_prepared(struct vr_router *r, const uint8_t *req, size_t len,
			      struct vr_ctl_prep *prep, uint8_t *reply, size_t cap)
{
	struct vr_msg_view v = { 0 };
	struct tern_wbuf w, objs;
	struct ctl_req q = { .r = r, .prep = prep, .v = &v };
	uint8_t *scratch = reply + cap / 2; /* objects are built in the reply's second half */
	int rc = vr_msg_parse(req, len, &v, q.e.msg, sizeof(q.e.msg));

	tern_wbuf_init(&objs, scratch, cap - cap / 2);
	q.w = &objs;
	if (rc == 0)
		rc = ctl_decode(&q);
	if (rc == 0)
		rc = handlers[v.obj](&q, v.op);
	if (rc < 0) {
		q.cursor = 0;
		objs.len = 0;
		TLOG_DEBUG(r->log, "control request refused: %s", q.e.msg);
	}
	if (rc == 0 && objs.err) {
		rc = vr_errf(&q.e, -EMSGSIZE, "reply does not fit in %zu bytes", cap / 2);
		objs.len = 0;
	}
	tern_wbuf_init(&w, reply, cap / 2);
	vr_msg_begin(&w, VR_OP_REPLY, rc == -EPROTO || rc == -EMSGSIZE ? 0 : v.seq, v.obj);
	vr_msg_put_error(&w, rc, rc < 0 ? q.e.msg : NULL);
	if (rc == 0 && v.op == VR_OP_DUMP)
		vr_msg_put_cursor(&w, q.cursor);
	/* Objects were encoded as complete TLVs: append them as they are. */
	size_t hdr_part = w.len;
	w.cap = cap;
	memmove(reply + hdr_part, scratch, objs.len);
	w.len = hdr_part + objs.len;
	int n = vr_msg_finish(&w);
	return n > 0 ? (size_t)n : 0;
}
