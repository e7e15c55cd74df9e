/* DOC: vr_nh.c — the nexthop table: what to do with a packet once its route,
 * label or MAC is known. Tables refer to nexthops by id and count references,
 * so a nexthop in use cannot disappear under a route. */
#include "vr_internal.h"

#include <errno.h>
#include <stdlib.h>

int vr_nh_ref(struct vr_router *r, uint32_t id, struct vr_err *e, const char *who)
{
	struct vr_nh *nh = vr_nh_get(r, id);
	if (!nh)
		return vr_errf(e, -ENOENT, "%s points at nexthop %u, which does not exist", who, id);
	nh->refcnt++;
	return 0;
}

void vr_nh_unref(struct vr_router *r, uint32_t id)
{
	struct vr_nh *nh = vr_nh_get(r, id);
	if (nh && nh->refcnt)
		nh->refcnt--;
}

static bool is_composite(uint8_t type)
{
	return type == VR_NH_ECMP || type == VR_NH_FLOOD;
}

static int check_members(const struct vr_router *r, const struct vr_obj_nh *nh, struct vr_err *e)
{
	if (nh->n_members == 0 || nh->n_members > VR_MAX_ECMP)
		return vr_errf(e, -EINVAL, "a %s nexthop needs 1..%u members, not %u",
			       vr_nh_type_name(nh->type), VR_MAX_ECMP, nh->n_members);
	for (unsigned i = 0; i < nh->n_members; i++) {
		uint32_t m = nh->members[i];
		if (m == nh->id)
			return vr_errf(e, -ELOOP, "nexthop %u cannot be a member of itself", m);
		const struct vr_nh *mn = vr_nh_get(r, m);
		if (!mn)
			return vr_errf(e, -ENOENT, "member nexthop %u does not exist", m);
		/* One level only: a composite of composites could loop through a later replace. */
		if (is_composite(mn->cfg.type))
			return vr_errf(e, -ELOOP, "member nexthop %u is itself a %s nexthop; composites "
				       "cannot nest", m, vr_nh_type_name(mn->cfg.type));
	}
	return 0;
}

static int check_addr_family(const struct vr_addr *a, const char *what, struct vr_err *e)
{
	if (a->family != 4 && a->family != 6)
		return vr_errf(e, -EINVAL, "a tunnel nexthop needs %s (an IPv4 or IPv6 address)", what);
	return 0;
}

static int nh_validate(const struct vr_router *r, struct vr_obj_nh *nh, struct vr_err *e)
{
	if (nh->id == 0 || nh->id >= VR_MAX_NEXTHOPS)
		return vr_errf(e, -ERANGE, "nexthop id %u is out of range (1..%u)", nh->id,
			       VR_MAX_NEXTHOPS - 1);
	if (nh->type == 0 || nh->type >= VR_NH_TYPE_MAX_)
		return vr_errf(e, -EINVAL, "nexthop type %u is not one of discard, receive, encap, "
			       "tunnel, ecmp, flood", nh->type);
	if (nh->flags & ~VR_NH_F_L2)
		return vr_errf(e, -EINVAL, "unknown nexthop flags 0x%x", nh->flags);
	if (nh->vrf >= r->cfg.max_vrfs)
		return vr_errf(e, -ERANGE, "vrf %u is out of range (0..%u)", nh->vrf, r->cfg.max_vrfs - 1);
	const struct vr_vif *vif = NULL;
	if (nh->type == VR_NH_ENCAP || nh->type == VR_NH_TUNNEL) {
		vif = vr_vif_get(r, nh->vif);
		if (!vif)
			return vr_errf(e, -ENOENT, "nexthop %u: vif %u does not exist", nh->id, nh->vif);
	}
	switch (nh->type) {
	case VR_NH_ENCAP:
		if (vif->cfg.type == VR_VIF_FABRIC)
			return vr_errf(e, -EINVAL, "an encap nexthop sends to a local vif, not the fabric "
				       "(vif %u); use a tunnel nexthop", nh->vif);
		if (vr_mac_is_zero(nh->dmac))
			memcpy(nh->dmac, vif->cfg.mac, 6);
		break;
	case VR_NH_TUNNEL: {
		if (vif->cfg.type != VR_VIF_FABRIC)
			return vr_errf(e, -EINVAL, "a tunnel nexthop leaves by the fabric vif; vif %u is %s",
				       nh->vif, vr_vif_type_name(vif->cfg.type));
		if (nh->encap == VR_ENCAP_NONE || nh->encap >= VR_ENCAP_MAX_)
			return vr_errf(e, -EINVAL, "a tunnel nexthop needs an encapsulation: mplsoudp, "
				       "mplsogre or vxlan");
		int rc = check_addr_family(&nh->dip, "a destination (dip)", e);
		if (rc < 0)
			return rc;
		if (nh->sip.family == 0)
			nh->sip = vif->cfg.ip;
		if (nh->sip.family != nh->dip.family)
			return vr_errf(e, -EINVAL, "tunnel source and destination are of different "
				       "families (IPv%u, IPv%u)", nh->sip.family, nh->dip.family);
		if (vr_mac_is_zero(nh->dmac))
			return vr_errf(e, -EINVAL, "a tunnel nexthop needs the underlay next hop's MAC (dmac)");
		if (nh->encap == VR_ENCAP_VXLAN) {
			if (nh->vni == 0 || nh->vni > VR_MAX_VNI)
				return vr_errf(e, -ERANGE, "vni %u is out of range (1..%u)", nh->vni, VR_MAX_VNI);
		} else if (nh->label < VR_MIN_LABEL || nh->label > VR_MAX_LABEL) {
			return vr_errf(e, -ERANGE, "label %u is out of range (%u..%u)", nh->label,
				       VR_MIN_LABEL, VR_MAX_LABEL);
		}
		break;
	}
	case VR_NH_ECMP:
	case VR_NH_FLOOD:
		return check_members(r, nh, e);
	default:
		break;
	}
	return 0;
}

/* Take the references the new configuration holds, then release the old ones:
 * in that order a replace that keeps a member never drops it to zero. */
static void nh_refs(struct vr_router *r, const struct vr_obj_nh *nh, int delta)
{
	if (nh->type == VR_NH_ENCAP || nh->type == VR_NH_TUNNEL) {
		struct vr_vif *v = vr_vif_get(r, nh->vif);
		if (v)
			v->refcnt = (uint32_t)((int)v->refcnt + delta);
	}
	if (is_composite(nh->type)) {
		for (unsigned i = 0; i < nh->n_members; i++) {
			struct vr_nh *m = vr_nh_get(r, nh->members[i]);
			if (m)
				m->refcnt = (uint32_t)((int)m->refcnt + delta);
		}
	}
}

int vr_nh_add(struct vr_router *r, const struct vr_obj_nh *in, struct vr_err *e)
{
	struct vr_obj_nh cfg = *in;
	int rc = nh_validate(r, &cfg, e);
	if (rc < 0)
		return rc;
	struct vr_nh *old = r->nhs[cfg.id];
	if (old && old->refcnt && old->cfg.type != cfg.type)
		return vr_errf(e, -EBUSY, "nexthop %u is in use (%u references) as a %s nexthop; its "
			       "type cannot change", cfg.id, old->refcnt, vr_nh_type_name(old->cfg.type));
	struct vr_nh *nh = calloc(1, sizeof(*nh));
	if (!nh)
		return vr_errf(e, -ENOMEM, "cannot allocate nexthop %u", cfg.id);
	nh->cfg = cfg;
	if (cfg.type == VR_NH_TUNNEL) {
		rc = vr_nh_build_tunnel(r, nh, e);
		if (rc < 0) {
			free(nh);
			return rc;
		}
	}
	nh_refs(r, &nh->cfg, +1);
	if (old) {
		nh->refcnt = old->refcnt;
		nh_refs(r, &old->cfg, -1);
		free(old);
	} else {
		r->n_nhs++;
	}
	r->nhs[cfg.id] = nh;
	return 0;
}

int vr_nh_del(struct vr_router *r, uint32_t id, struct vr_err *e)
{
	struct vr_nh *nh = vr_nh_get(r, id);
	if (!nh)
		return vr_errf(e, -ENOENT, "no nexthop %u", id);
	if (nh->refcnt)
		return vr_errf(e, -EBUSY, "nexthop %u is used by %u route(s), label(s), bridge "
			       "entries, composites or vrfs; delete those first", id, nh->refcnt);
	nh_refs(r, &nh->cfg, -1);
	r->nhs[id] = NULL;
	r->n_nhs--;
	free(nh);
	return 0;
}
