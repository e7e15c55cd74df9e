/* DOC: vr_vrf.c — VRFs and the VXLAN VNI table (VNI -> VRF). */
#include "vr_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <rte_hash.h>
#include <rte_jhash.h>

int vr_vrf_init(struct vr_router *r, struct vr_err *e)
{
	r->vrfs = calloc(r->cfg.max_vrfs, sizeof(*r->vrfs));
	if (!r->vrfs)
		return vr_errf(e, -ENOMEM, "cannot allocate %u VRFs", r->cfg.max_vrfs);
	char name[32];
	snprintf(name, sizeof(name), "vni_%lx", (unsigned long)(uintptr_t)r);
	struct rte_hash_parameters p = {
		.name = name, .entries = 65536, .key_len = sizeof(uint32_t),
		.hash_func = rte_jhash, .socket_id = r->cfg.socket_id,
	};
	r->vnis = rte_hash_create(&p);
	if (!r->vnis)
		return vr_errf(e, -ENOMEM, "cannot allocate the VNI table (rte_hash, 65536 entries): "
			       "give the EAL more memory (-m)");
	return 0;
}

void vr_vrf_fini(struct vr_router *r)
{
	rte_hash_free(r->vnis);
	free(r->vrfs);
}

int vr_vrf_check(const struct vr_router *r, uint32_t id, struct vr_err *e)
{
	if (id >= r->cfg.max_vrfs)
		return vr_errf(e, -ERANGE, "vrf %u is out of range (0..%u)", id, r->cfg.max_vrfs - 1);
	return 0;
}

int vr_vrf_add(struct vr_router *r, const struct vr_obj_vrf *v, struct vr_err *e)
{
	int rc = vr_vrf_check(r, v->id, e);
	if (rc < 0)
		return rc;
	if (v->flags & ~(VR_VRF_F_L2 | VR_VRF_F_L3))
		return vr_errf(e, -EINVAL, "unknown vrf flags 0x%x", v->flags);
	if (v->vni > VR_MAX_VNI)
		return vr_errf(e, -ERANGE, "vni %u is out of range (1..%u)", v->vni, VR_MAX_VNI);
	struct vr_vrf *vrf = &r->vrfs[v->id];
	if (v->nh != vrf->flood_nh) {
		if (v->nh) {
			struct vr_nh *nh = vr_nh_get(r, v->nh);
			if (!nh)
				return vr_errf(e, -ENOENT, "flood nexthop %u does not exist", v->nh);
			if (nh->cfg.type != VR_NH_FLOOD)
				return vr_errf(e, -EINVAL, "flood nexthop %u is a %s nexthop, not flood", v->nh,
					       vr_nh_type_name(nh->cfg.type));
			rc = vr_nh_ref(r, v->nh, e, "vrf");
			if (rc < 0)
				return rc;
		}
		if (vrf->flood_nh)
			vr_nh_unref(r, vrf->flood_nh);
	}
	if (!vrf->used)
		r->n_vrfs++;
	vrf->used = true;
	vrf->flags = v->flags ? v->flags : VR_VRF_F_L3;
	vrf->flood_nh = v->nh;
	vrf->vni = v->vni;
	return 0;
}

int vr_vrf_del(struct vr_router *r, uint32_t id, struct vr_err *e)
{
	int rc = vr_vrf_check(r, id, e);
	if (rc < 0)
		return rc;
	struct vr_vrf *vrf = &r->vrfs[id];
	if (!vrf->used)
		return vr_errf(e, -ENOENT, "no vrf %u", id);
	if (vrf->n_nat)
		return vr_errf(e, -EBUSY, "vrf %u holds %u service(s) or floating IP(s); delete them "
			       "first", id, vrf->n_nat);
	for (uint32_t i = 0; i < VR_MAX_VIFS; i++)
		if (r->vifs[i] && r->vifs[i]->cfg.vrf == id && r->vifs[i]->cfg.type != VR_VIF_FABRIC &&
		    r->vifs[i]->cfg.type != VR_VIF_HOST)
			return vr_errf(e, -EBUSY, "vrf %u is used by vif %u; move or delete the vif first", id, i);
	vr_route_flush_vrf(r, (uint16_t)id);
	vr_bridge_flush_vrf(r, (uint16_t)id);
	if (vrf->flood_nh)
		vr_nh_unref(r, vrf->flood_nh);
	memset(vrf, 0, sizeof(*vrf));
	r->n_vrfs--;
	return 0;
}

int vr_vni_add(struct vr_router *r, uint32_t vni, uint16_t vrf, struct vr_err *e)
{
	if (vni == 0 || vni > VR_MAX_VNI)
		return vr_errf(e, -ERANGE, "vni %u is out of range (1..%u)", vni, VR_MAX_VNI);
	int rc = vr_vrf_check(r, vrf, e);
	if (rc < 0)
		return rc;
	bool existed = rte_hash_lookup(r->vnis, &vni) >= 0;
	rc = rte_hash_add_key_data(r->vnis, &vni, (void *)(uintptr_t)vrf);
	if (rc < 0)
		return vr_errf(e, -ENOSPC, "the VNI table is full");
	if (!existed)
		r->n_vnis++;
	return 0;
}

int vr_vni_del(struct vr_router *r, uint32_t vni, struct vr_err *e)
{
	if (rte_hash_del_key(r->vnis, &vni) < 0)
		return vr_errf(e, -ENOENT, "no vni %u", vni);
	r->n_vnis--;
	return 0;
}

int vr_vni_lookup(const struct vr_router *r, uint32_t vni, uint16_t *vrf)
{
	void *d;
	if (rte_hash_lookup_data(r->vnis, &vni, &d) < 0)
		return -ENOENT;
	*vrf = (uint16_t)(uintptr_t)d;
	return 0;
}

int vr_vni_next(const struct vr_router *r, uint32_t *pos, uint32_t *vni, uint16_t *vrf)
{
	const void *k;
	void *d;
	if (rte_hash_iterate(r->vnis, &k, &d, pos) < 0)
		return 0;
	memcpy(vni, k, sizeof(*vni));
	*vrf = (uint16_t)(uintptr_t)d;
	return 1;
}
