/* DOC: vr_mpls.c — the incoming MPLS label table: label -> nexthop, a flat
 * array indexed by the 20-bit label (4 MiB), one load per packet. */
#include "vr_internal.h"

#include <errno.h>
#include <stdlib.h>

int vr_mpls_init(struct vr_router *r, struct vr_err *e)
{
	r->labels = calloc(VR_MAX_LABEL + 1, sizeof(*r->labels));
	if (!r->labels)
		return vr_errf(e, -ENOMEM, "cannot allocate the MPLS label table");
	return 0;
}

void vr_mpls_fini(struct vr_router *r)
{
	free(r->labels);
}

int vr_mpls_add(struct vr_router *r, uint32_t label, uint32_t nh, struct vr_err *e)
{
	if (label < VR_MIN_LABEL || label > VR_MAX_LABEL)
		return vr_errf(e, -ERANGE, "label %u is out of range (%u..%u)", label, VR_MIN_LABEL,
			       VR_MAX_LABEL);
	const struct vr_nh *n = vr_nh_get(r, nh);
	if (!n)
		return vr_errf(e, -ENOENT, "label %u points at nexthop %u, which does not exist", label, nh);
	if (n->cfg.type == VR_NH_TUNNEL)
		return vr_errf(e, -EINVAL, "label %u: nexthop %u is a tunnel; an incoming label must end "
			       "at this node (encap, ecmp, flood, receive or discard)", label, nh);
	int rc = vr_nh_ref(r, nh, e, "label");
	if (rc < 0)
		return rc;
	if (r->labels[label])
		vr_nh_unref(r, r->labels[label]);
	else
		r->n_labels++;
	r->labels[label] = nh;
	return 0;
}

int vr_mpls_del(struct vr_router *r, uint32_t label, struct vr_err *e)
{
	if (label > VR_MAX_LABEL || !r->labels[label])
		return vr_errf(e, -ENOENT, "no label %u", label);
	vr_nh_unref(r, r->labels[label]);
	r->labels[label] = 0;
	r->n_labels--;
	return 0;
}
