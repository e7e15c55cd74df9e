/* DOC: vr_vif.c — the vif table: ports added and removed at run time. */
#include "vr_internal.h"

#include <errno.h>
#include <stdlib.h>

static int vif_validate(const struct vr_router *r, const struct vr_obj_vif *v, struct vr_err *e)
{
	if (v->type == 0 || v->type >= VR_VIF_TYPE_MAX_)
		return vr_errf(e, -EINVAL, "vif type %u is not one of fabric, host, kernel, memif, vhost",
			       v->type);
	switch (v->type) {
	case VR_VIF_FABRIC:
		/* The NIC: a kernel interface (af_packet) or, for user-space fabrics
		 * and benchmarks, a memif socket. */
		if (!v->ifname[0] == !v->socket[0])
			return vr_errf(e, -EINVAL, "a fabric vif needs either a kernel interface (ifname) "
				       "or a memif socket, not %s", v->ifname[0] ? "both" : "neither");
		if (v->socket[0] && v->socket[0] != '/')
			return vr_errf(e, -EINVAL, "socket path '%s' must be absolute", v->socket);
		break;
	case VR_VIF_HOST:
	case VR_VIF_KERNEL:
		if (!v->ifname[0])
			return vr_errf(e, -EINVAL, "a %s vif needs the kernel interface it drives (ifname)",
				       vr_vif_type_name(v->type));
		break;
	case VR_VIF_MEMIF:
	case VR_VIF_VHOST:
		if (!v->socket[0])
			return vr_errf(e, -EINVAL, "a %s vif needs a socket path",
				       vr_vif_type_name(v->type));
		if (v->socket[0] != '/')
			return vr_errf(e, -EINVAL, "socket path '%s' must be absolute", v->socket);
		break;
	}
	if (v->type == VR_VIF_FABRIC) {
		if (v->ip.family != 4 && v->ip.family != 6)
			return vr_errf(e, -EINVAL, "a fabric vif needs the node's tunnel address (ip)");
		if (r->fabric_vif >= 0 && (uint32_t)r->fabric_vif != v->id)
			return vr_errf(e, -EEXIST, "vif %d is already the fabric vif; one per vrouter instance",
				       r->fabric_vif);
	}
	if (v->type == VR_VIF_HOST && r->host_vif >= 0 && (uint32_t)r->host_vif != v->id)
		return vr_errf(e, -EEXIST, "vif %d is already the host vif; one per vrouter instance",
			       r->host_vif);
	if (v->vrf >= r->cfg.max_vrfs)
		return vr_errf(e, -ERANGE, "vrf %u is out of range (0..%u)", v->vrf, r->cfg.max_vrfs - 1);
	if (v->mtu && (v->mtu < 576 || v->mtu > 9000))
		return vr_errf(e, -ERANGE, "mtu %u is out of range (576..9000)", v->mtu);
	if (v->mtu && r->cfg.max_frame && (uint32_t)v->mtu + ETH_HLEN > r->cfg.max_frame)
		return vr_errf(e, -ERANGE, "mtu %u needs %u-byte frames; this vrouter's packet "
			       "buffers hold frames up to %u bytes (start tern-vrouter with a larger "
			       "--mbuf-size, e.g. 9216 for mtu 9000)",
			       v->mtu, (uint32_t)v->mtu + ETH_HLEN, r->cfg.max_frame);
	if (v->role > 1)
		return vr_errf(e, -EINVAL, "memif role %u is neither 0 (server) nor 1 (client)", v->role);
	if (v->policy_in && !vr_policy_get(r, v->policy_in))
		return vr_errf(e, -ENOENT, "vif %u: policy_in %u does not exist; add the policy first",
			       v->id, v->policy_in);
	if (v->policy_out && !vr_policy_get(r, v->policy_out))
		return vr_errf(e, -ENOENT, "vif %u: policy_out %u does not exist; add the policy first",
			       v->id, v->policy_out);
	return 0;
}

int vr_vif_add(struct vr_router *r, struct vr_obj_vif *v, struct vr_err *e)
{
	if (v->id == UINT32_MAX) { /* the caller did not choose: the lowest free id */
		uint32_t i;
		for (i = 0; i < VR_MAX_VIFS && r->vifs[i]; i++)
			;
		if (i == VR_MAX_VIFS)
			return vr_errf(e, -ENOSPC, "the vif table is full (%u vifs)", VR_MAX_VIFS);
		v->id = i;
	}
	if (v->id >= VR_MAX_VIFS)
		return vr_errf(e, -ERANGE, "vif id %u is out of range (0..%u)", v->id, VR_MAX_VIFS - 1);
	int rc = vif_validate(r, v, e);
	if (rc < 0)
		return rc;
	if (!v->mtu)
		v->mtu = 1500;

	struct vr_vif *old = r->vifs[v->id];
	if (old) {
		/* Replacing a vif keeps its port when the port's identity is unchanged:
		 * only the forwarding attributes (vrf, mac, mtu, ip, flags, name) move. */
		if (old->cfg.type != v->type || strcmp(old->cfg.ifname, v->ifname) ||
		    strcmp(old->cfg.socket, v->socket) || old->cfg.role != v->role)
			return vr_errf(e, -EEXIST, "vif %u exists with another port (%s %s%s); delete it first",
				       v->id, vr_vif_type_name(old->cfg.type), old->cfg.ifname,
				       old->cfg.socket);
		bool policies_changed = old->cfg.policy_in != v->policy_in ||
					old->cfg.policy_out != v->policy_out;
		r->n_policy_vifs += (uint32_t)vr_vif_wants_flows(v) - (uint32_t)vr_vif_wants_flows(&old->cfg);
		old->cfg = *v;
		if (policies_changed) /* existing flows follow the vif's new policies */
			vr_flow_reeval_all(r);
		return 0;
	}
	for (uint32_t i = 0; i < VR_MAX_VIFS; i++) {
		const struct vr_vif *o = r->vifs[i];
		if (!o)
			continue;
		if (v->ifname[0] && !strcmp(o->cfg.ifname, v->ifname))
			return vr_errf(e, -EEXIST, "interface %s is already vif %u", v->ifname, i);
		if (v->socket[0] && !strcmp(o->cfg.socket, v->socket))
			return vr_errf(e, -EEXIST, "socket %s is already vif %u", v->socket, i);
	}
	struct vr_vif *n = calloc(1, sizeof(*n));
	if (!n)
		return vr_errf(e, -ENOMEM, "cannot allocate vif %u", v->id);
	n->cfg = *v;
	if (r->ops->vif_attach) {
		char err[200] = "";
		rc = r->ops->vif_attach(r->host, v, &n->port_id, err, sizeof(err));
		if (rc < 0) {
			free(n);
			return vr_errf(e, rc, "cannot attach the port of vif %u: %s", v->id, err);
		}
		n->has_port = true;
	}
	r->vifs[v->id] = n;
	r->n_vifs++;
	r->n_policy_vifs += vr_vif_wants_flows(v);
	if (v->type == VR_VIF_FABRIC)
		r->fabric_vif = (int32_t)v->id;
	if (v->type == VR_VIF_HOST)
		r->host_vif = (int32_t)v->id;
	r->vif_tx_drops[v->id] = 0;
	return 0;
}

int vr_vif_del(struct vr_router *r, uint32_t id, struct vr_err *e)
{
	struct vr_vif *v = vr_vif_get(r, id);
	if (!v)
		return vr_errf(e, -ENOENT, "no vif %u", id);
	if (v->refcnt)
		return vr_errf(e, -EBUSY, "vif %u is used by %u nexthop(s); delete them first", id, v->refcnt);
	if (v->n_fips)
		return vr_errf(e, -EBUSY, "vif %u has %u floating IP(s); delete them first", id, v->n_fips);
	if (v->has_port && r->ops->vif_detach)
		r->ops->vif_detach(r->host, (uint16_t)id, v->port_id);
	if (r->fabric_vif == (int32_t)id)
		r->fabric_vif = -1;
	if (r->host_vif == (int32_t)id)
		r->host_vif = -1;
	r->n_policy_vifs -= vr_vif_wants_flows(&v->cfg);
	r->vifs[id] = NULL;
	r->n_vifs--;
	free(v);
	return 0;
}

void vr_vif_fill(const struct vr_router *r, const struct vr_vif *v, struct vr_obj_vif *out)
{
	*out = v->cfg;
	out->port_id = v->port_id;
	memset(&out->stats, 0, sizeof(out->stats));
	memset(&out->port_rx, 0, sizeof(out->port_rx));
	out->link = 0;
	if (v->has_port && r->ops->vif_stats)
		r->ops->vif_stats(r->host, (uint16_t)v->cfg.id, v->port_id, &out->stats,
				  &out->port_rx, &out->link);
	out->stats.tx_errors += r->vif_tx_drops[v->cfg.id];
}
