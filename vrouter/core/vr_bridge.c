/* DOC: vr_bridge.c — the bridge table of L2 networks: (vrf, MAC) -> nexthop. */
#include "vr_internal.h"

#include <errno.h>
#include <stdio.h>
#include <rte_hash.h>
#include <rte_jhash.h>

struct bridge_key {
	uint16_t vrf;
	uint8_t mac[6];
};

int vr_bridge_init(struct vr_router *r, struct vr_err *e)
{
	char name[32];
	snprintf(name, sizeof(name), "br_%lx", (unsigned long)(uintptr_t)r);
	struct rte_hash_parameters p = {
		.name = name, .entries = r->cfg.max_bridge, .key_len = sizeof(struct bridge_key),
		.hash_func = rte_jhash, .socket_id = r->cfg.socket_id,
	};
	r->bridge = rte_hash_create(&p);
	if (!r->bridge)
		return vr_errf(e, -ENOMEM, "cannot allocate the bridge table (%u entries): give the "
			       "EAL more memory (-m)", r->cfg.max_bridge);
	return 0;
}

void vr_bridge_fini(struct vr_router *r)
{
	rte_hash_free(r->bridge);
}

int vr_bridge_add(struct vr_router *r, uint16_t vrf, const uint8_t *mac, uint32_t nh, struct vr_err *e)
{
	int rc = vr_vrf_check(r, vrf, e);
	if (rc < 0)
		return rc;
	if (vr_mac_is_mcast(mac) || vr_mac_is_zero(mac))
		return vr_errf(e, -EINVAL, "a bridge entry needs a unicast MAC; broadcast and unknown "
			       "destinations use the vrf's flood nexthop");
	struct bridge_key k = { .vrf = vrf };
	memcpy(k.mac, mac, 6);
	void *old;
	bool existed = rte_hash_lookup_data(r->bridge, &k, &old) >= 0;
	rc = vr_nh_ref(r, nh, e, "bridge entry");
	if (rc < 0)
		return rc;
	if (rte_hash_add_key_data(r->bridge, &k, (void *)(uintptr_t)nh) < 0) {
		vr_nh_unref(r, nh);
		return vr_errf(e, -ENOSPC, "the bridge table is full (%u entries)", r->cfg.max_bridge);
	}
	if (existed)
		vr_nh_unref(r, (uint32_t)(uintptr_t)old);
	else
		r->n_bridge++;
	return 0;
}

int vr_bridge_del(struct vr_router *r, uint16_t vrf, const uint8_t *mac, struct vr_err *e)
{
	struct bridge_key k = { .vrf = vrf };
	memcpy(k.mac, mac, 6);
	void *old;
	if (rte_hash_lookup_data(r->bridge, &k, &old) < 0)
		return vr_errf(e, -ENOENT, "no bridge entry for %02x:%02x:%02x:%02x:%02x:%02x in vrf %u",
			       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], vrf);
	rte_hash_del_key(r->bridge, &k);
	vr_nh_unref(r, (uint32_t)(uintptr_t)old);
	r->n_bridge--;
	return 0;
}

void vr_bridge_lookup_bulk(const struct vr_router *r, const uint16_t *vrf,
			   const uint8_t *const *mac, uint32_t *nh, unsigned n)
{
	struct bridge_key keys[VR_BURST];
	const void *kp[VR_BURST];
	void *data[VR_BURST];
	uint64_t hits = 0;
	for (unsigned i = 0; i < n; i++) {
		keys[i].vrf = vrf[i];
		memcpy(keys[i].mac, mac[i], 6);
		kp[i] = &keys[i];
	}
	if (n)
		rte_hash_lookup_bulk_data(r->bridge, kp, n, &hits, data);
	for (unsigned i = 0; i < n; i++)
		nh[i] = (hits >> i) & 1 ? (uint32_t)(uintptr_t)data[i] : 0;
}

int vr_bridge_next(const struct vr_router *r, uint32_t *pos, uint16_t *vrf, uint8_t *mac, uint32_t *nh)
{
	const void *k;
	void *d;
	if (rte_hash_iterate(r->bridge, &k, &d, pos) < 0)
		return 0;
	const struct bridge_key *bk = k;
	*vrf = bk->vrf;
	memcpy(mac, bk->mac, 6);
	*nh = (uint32_t)(uintptr_t)d;
	return 1;
}

void vr_bridge_flush_vrf(struct vr_router *r, uint16_t vrf)
{
	uint32_t pos = 0;
	uint16_t v;
	uint8_t mac[6];
	uint32_t nh;
	struct vr_err e;
	/* Deleting during iteration is safe in rte_hash: positions do not move. */
	while (vr_bridge_next(r, &pos, &v, mac, &nh))
		if (v == vrf)
			vr_bridge_del(r, v, mac, &e);
}
