/*
 * DOC: vr_fib.c — the IPv4 and IPv6 FIBs of every VRF.
 *
 * rte_lpm and rte_lpm6 give each table a 64 MiB first level (2^24 entries),
 * so one table per VRF would cost 256 GiB for 4,096 VRFs. Instead all VRFs
 * share two rte_lpm6 tables whose keys start with the 16-bit VRF id:
 *   IPv4: vrf | address            depth 16 + plen  (one table for 65,535 VRFs)
 *   IPv6: vrf | address bits 0-111 depth 16 + plen  (plen <= 112)
 * plus exact-match hashes for IPv4 /32 and IPv6 /128 host routes (the common
 * case for pods), checked first since nothing is longer: such a route lives
 * in its hash only, never in the LPM, so every add, replace, delete and flush
 * keeps the two apart and the LPM walk (the VRF-prefixed key, one table read
 * per byte past the third) is only for what the hash missed. IPv6 prefixes
 * /113../127 are refused. The LPM value is a route slot (flags, MAC for ARP proxy,
 * nexthop), so a route's nexthop changes without touching the LPM.
 */
#include "vr_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_jhash.h>
#include <rte_lpm6.h>
#include <rte_prefetch.h>

#define LPM6_MAX_NH ((1u << 21) - 1)

struct rib_key {
	uint16_t vrf;
	uint8_t family;
	uint8_t plen;
	uint8_t prefix[16];
};

/*
 * The IPv4 host routes: an open-addressing table (linear probing) of 16-byte
 * entries, key vrf << 32 | address, value the route slot (0: empty; slot 0 is
 * never a route). Written by hand because rte_hash's bulk lookup costs ~140
 * instructions a key here (measured, callgrind) against ~60 for the lpm6
 * walk it is meant to save; this costs ~35 with the key building. It also
 * spares lpm4 the tbl8 groups a /32 took. At most max_routes entries in
 * twice as many places: a probe finds its key or an empty place within a
 * few entries, and an add always finds room. A delete moves later entries
 * of the run back (no tombstones), so lookups stop at the first empty place.
 * Only the forwarding lcore reads or writes it (control requests run there).
 */

/* The place holding key, or the empty place that ends its run. */
static inline uint32_t host4_find(const struct vr_host4 *t, uint64_t key, uint32_t i)
{
	while (t->ent[i].slot && t->ent[i].key != key)
		i = (i + 1) & t->mask;
	return i;
}

static int host4_init(struct vr_host4 *t, uint32_t max, int socket)
{
	uint32_t cap = rte_align32pow2(max < 32 ? 64 : 2 * max);
	t->ent = rte_zmalloc_socket("vr_host4", (size_t)cap * sizeof(*t->ent), RTE_CACHE_LINE_SIZE,
				    socket);
	t->mask = cap - 1;
	t->n = 0;
	return t->ent ? 0 : -ENOMEM;
}

static int host4_add(struct vr_host4 *t, uint64_t key, uint32_t slot)
{
	uint32_t i = host4_find(t, key, vr_host4_home(t, key));
	if (!t->ent[i].slot) {
		if (t->n > t->mask / 2) /* more than the table was sized for: never with max_routes */
			return -ENOSPC;
		t->n++;
	}
	t->ent[i].key = key;
	t->ent[i].slot = slot;
	return 0;
}

static void host4_del(struct vr_host4 *t, uint64_t key)
{
	uint32_t i = host4_find(t, key, vr_host4_home(t, key));
	if (!t->ent[i].slot)
		return;
	/* Close the gap: an entry further along the run moves into it unless
	 * its home lies cyclically in (gap, entry], where a lookup would no
	 * longer pass the gap to reach it. */
	for (uint32_t j = (i + 1) & t->mask; t->ent[j].slot; j = (j + 1) & t->mask) {
		uint32_t home = vr_host4_home(t, t->ent[j].key);
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			t->ent[i] = t->ent[j];
			i = j;
		}
	}
	t->ent[i].slot = 0;
	t->ent[i].key = 0;
	t->n--;
}

/* A multiple of 4 bytes: rte_jhash reads whole 32-bit words. */
struct host6_key {
	uint16_t vrf;
	uint16_t zero;
	uint8_t addr[16];
};

static void lpm_key(uint8_t key[16], uint16_t vrf, uint8_t family, const uint8_t *addr)
{
	key[0] = (uint8_t)(vrf >> 8);
	key[1] = (uint8_t)vrf;
	if (family == 4) {
		memcpy(key + 2, addr, 4);
		memset(key + 6, 0, 10);
	} else {
		memcpy(key + 2, addr, 14);
	}
}

int vr_fib_init(struct vr_router *r, struct vr_err *e)
{
	struct vr_fib *f = &r->fib;
	char name[32];
	if (r->cfg.max_routes >= LPM6_MAX_NH)
		return vr_errf(e, -ERANGE, "--routes %u is above the limit of %u", r->cfg.max_routes,
			       LPM6_MAX_NH - 1);
	struct rte_lpm6_config lc = { .max_rules = r->cfg.max_routes, .number_tbl8s = r->cfg.fib_tbl8s };
	snprintf(name, sizeof(name), "fib4_%lx", (unsigned long)(uintptr_t)r);
	f->lpm4 = rte_lpm6_create(name, r->cfg.socket_id, &lc);
	snprintf(name, sizeof(name), "fib6_%lx", (unsigned long)(uintptr_t)r);
	f->lpm6 = rte_lpm6_create(name, r->cfg.socket_id, &lc);
	if (!f->lpm4 || !f->lpm6)
		return vr_errf(e, -ENOMEM, "cannot allocate the FIBs (rte_lpm6, %u tbl8 groups, %u rules "
			       "each): give the EAL more memory (-m) or lower --fib-tbl8s/--routes",
			       r->cfg.fib_tbl8s, r->cfg.max_routes);
	snprintf(name, sizeof(name), "h6_%lx", (unsigned long)(uintptr_t)r);
	/* The extendable bucket table: all --routes fit however the keys collide
	 * (without it a full bucket pair refused adds before the table was full). */
	struct rte_hash_parameters hp = {
		.name = name, .entries = r->cfg.max_routes, .key_len = sizeof(struct host6_key),
		.hash_func = rte_jhash, .socket_id = r->cfg.socket_id,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	f->host6 = rte_hash_create(&hp);
	int h4 = host4_init(&f->host4, r->cfg.max_routes, r->cfg.socket_id);
	snprintf(name, sizeof(name), "rib_%lx", (unsigned long)(uintptr_t)r);
	hp.name = name;
	hp.key_len = sizeof(struct rib_key);
	f->rib = rte_hash_create(&hp);
	f->n_slots = r->cfg.max_routes + 1; /* slot 0 is never used */
	f->slots = calloc(f->n_slots, sizeof(*f->slots));
	f->free_slots = malloc(f->n_slots * sizeof(*f->free_slots));
	if (h4 < 0 || !f->host6 || !f->rib || !f->slots || !f->free_slots)
		return vr_errf(e, -ENOMEM, "cannot allocate the route tables (%u routes): give the EAL "
			       "more memory (-m) or lower --routes", r->cfg.max_routes);
	/* Lowest slots on top of the stack: dumps come out in insertion order. */
	for (uint32_t i = f->n_slots - 1; i >= 1; i--)
		f->free_slots[f->n_free++] = i;
	return 0;
}

void vr_fib_fini(struct vr_router *r)
{
	struct vr_fib *f = &r->fib;
	rte_lpm6_free(f->lpm4);
	rte_lpm6_free(f->lpm6);
	rte_free(f->host4.ent);
	rte_hash_free(f->host6);
	rte_hash_free(f->rib);
	free(f->slots);
	free(f->free_slots);
}

static int route_key(const struct vr_router *r, const struct vr_obj_route *rt, struct rib_key *k,
		     struct vr_err *e)
{
	int rc = vr_vrf_check(r, rt->vrf, e);
	if (rc < 0)
		return rc;
	if (rt->prefix.family != 4 && rt->prefix.family != 6)
		return vr_errf(e, -EINVAL, "a route needs a prefix (IPv4 or IPv6)");
	unsigned bits = rt->prefix.family == 4 ? 32 : 128;
	if (rt->plen > bits)
		return vr_errf(e, -EINVAL, "prefix length /%u is longer than %u bits", rt->plen, bits);
	if (rt->prefix.family == 6 && rt->plen > 112 && rt->plen < 128)
		return vr_errf(e, -EINVAL, "IPv6 prefix lengths /113 to /127 are not supported; use "
			       "/128 host routes or /112 and shorter");
	memset(k, 0, sizeof(*k));
	k->vrf = rt->vrf;
	k->family = rt->prefix.family;
	k->plen = rt->plen;
	memcpy(k->prefix, rt->prefix.a, bits / 8);
	for (unsigned b = rt->plen; b < bits; b++) {
		if (k->prefix[b / 8] & (0x80 >> (b % 8)))
			return vr_errf(e, -EINVAL, "the prefix has bits set beyond /%u; give the network "
				       "address", rt->plen);
	}
	return 0;
}

static bool is_host4(const struct vr_route *s)
{
	return s->family == 4 && s->plen == 32;
}

/* Put a new route in its table: a host route's hash, or the LPM. */
static int lpm_set(struct vr_fib *f, const struct vr_route *s, uint32_t slot)
{
	if (is_host4(s))
		return host4_add(&f->host4, vr_route4_key(s->vrf, s->prefix), slot);
	if (s->family == 6 && s->plen == 128) {
		struct host6_key hk = { .vrf = s->vrf };
		memcpy(hk.addr, s->prefix, 16);
		return rte_hash_add_key_data(f->host6, &hk, (void *)(uintptr_t)slot);
	}
	uint8_t key[16];
	lpm_key(key, s->vrf, s->family, s->prefix);
	return rte_lpm6_add(s->family == 4 ? f->lpm4 : f->lpm6, key, (uint8_t)(16 + s->plen), slot);
}

static void lpm_clear(struct vr_fib *f, const struct vr_route *s)
{
	if (is_host4(s)) {
		host4_del(&f->host4, vr_route4_key(s->vrf, s->prefix));
		return;
	}
	if (s->family == 6 && s->plen == 128) {
		struct host6_key hk = { .vrf = s->vrf };
		memcpy(hk.addr, s->prefix, 16);
		rte_hash_del_key(f->host6, &hk);
		return;
	}
	uint8_t key[16];
	lpm_key(key, s->vrf, s->family, s->prefix);
	rte_lpm6_delete(s->family == 4 ? f->lpm4 : f->lpm6, key, (uint8_t)(16 + s->plen));
}

int vr_route_add(struct vr_router *r, const struct vr_obj_route *rt, struct vr_err *e)
{
	struct vr_fib *f = &r->fib;
	struct rib_key k;
	int rc = route_key(r, rt, &k, e);
	if (rc < 0)
		return rc;
	if (rt->flags & ~VR_RT_F_PROXY_ARP)
		return vr_errf(e, -EINVAL, "unknown route flags 0x%x", rt->flags);
	rc = vr_nh_ref(r, rt->nh, e, "the route");
	if (rc < 0)
		return rc;
	void *d;
	if (rte_hash_lookup_data(f->rib, &k, &d) >= 0) { /* replace: same slot, new nexthop */
		struct vr_route *s = &f->slots[(uintptr_t)d];
		vr_nh_unref(r, s->nh);
		s->nh = rt->nh;
		s->flags = rt->flags;
		memcpy(s->mac, rt->mac, 6);
		return 0;
	}
	if (!f->n_free) {
		vr_nh_unref(r, rt->nh);
		return vr_errf(e, -ENOSPC, "the route table is full (%u routes); start the vrouter "
			       "with a larger --routes", r->cfg.max_routes);
	}
	uint32_t slot = f->free_slots[f->n_free - 1];
	struct vr_route *s = &f->slots[slot];
	s->vrf = k.vrf;
	s->family = k.family;
	s->plen = k.plen;
	memcpy(s->prefix, k.prefix, 16);
	s->flags = rt->flags;
	memcpy(s->mac, rt->mac, 6);
	rc = lpm_set(f, s, slot);
	if (rc < 0) {
		/* read before the slot is cleared: which table was full says which
		 * option makes room */
		bool host = is_host4(s) || s->plen == 128;
		vr_nh_unref(r, rt->nh);
		memset(s, 0, sizeof(*s));
		return vr_errf(e, -ENOSPC, "no room in the FIB for this prefix (%s: %s); start the "
			       "vrouter with a larger %s", host ? "host route table" : "rte_lpm6",
			       strerror(-rc), host ? "--routes" : "--fib-tbl8s");
	}
	if (rte_hash_add_key_data(f->rib, &k, (void *)(uintptr_t)slot) < 0) {
		lpm_clear(f, s);
		vr_nh_unref(r, rt->nh);
		memset(s, 0, sizeof(*s));
		return vr_errf(e, -ENOSPC, "the route table is full (%u routes)", r->cfg.max_routes);
	}
	s->nh = rt->nh; /* last: a slot with nh != 0 is a live route */
	f->n_free--;
	f->n_routes++;
	return 0;
}

static void slot_free(struct vr_router *r, uint32_t slot)
{
	struct vr_fib *f = &r->fib;
	struct vr_route *s = &f->slots[slot];
	struct rib_key k = { .vrf = s->vrf, .family = s->family, .plen = s->plen };
	memcpy(k.prefix, s->prefix, 16);
	lpm_clear(f, s);
	rte_hash_del_key(f->rib, &k);
	vr_nh_unref(r, s->nh);
	memset(s, 0, sizeof(*s));
	f->free_slots[f->n_free++] = slot;
	f->n_routes--;
}

int vr_route_del(struct vr_router *r, const struct vr_obj_route *rt, struct vr_err *e)
{
	struct rib_key k;
	int rc = route_key(r, rt, &k, e);
	if (rc < 0)
		return rc;
	void *d;
	if (rte_hash_lookup_data(r->fib.rib, &k, &d) < 0)
		return vr_errf(e, -ENOENT, "no such route in vrf %u", rt->vrf);
	slot_free(r, (uint32_t)(uintptr_t)d);
	return 0;
}

const struct vr_route *vr_route_get(const struct vr_router *r, const struct vr_obj_route *key)
{
	struct rib_key k;
	struct vr_err e;
	void *d;
	if (route_key(r, key, &k, &e) < 0 || rte_hash_lookup_data(r->fib.rib, &k, &d) < 0)
		return NULL;
	return &r->fib.slots[(uintptr_t)d];
}

/* The exact-match misses (out[idx[j]] for their m LPM keys) by longest prefix. */
static void lpm_resolve(const struct vr_fib *f, struct rte_lpm6 *lpm, uint8_t (*keys)[16],
			const unsigned *idx, unsigned m, const struct vr_route **out)
{
	int32_t nh[VR_BURST];
	if (!m)
		return;
	rte_lpm6_lookup_bulk_func(lpm, keys, nh, m);
	for (unsigned j = 0; j < m; j++)
		out[idx[j]] = nh[j] >= 0 ? &f->slots[nh[j]] : NULL;
}

void vr_route4_lookup_keyed(const struct vr_router *r, const uint64_t *key, const uint32_t *at,
			    const struct vr_route **out, unsigned n)
{
	const struct vr_fib *f = &r->fib;
	const struct vr_host4 *t = &f->host4;
	uint8_t keys[VR_BURST][16];
	unsigned idx[VR_BURST], m = 0;

	for (unsigned i = 0; i < n; i++) {
		uint32_t slot = t->ent[host4_find(t, key[i], at[i])].slot;
		if (slot) {
			out[i] = &f->slots[slot];
		} else {
			uint32_t a = (uint32_t)key[i];
			lpm_key(keys[m], (uint16_t)(key[i] >> 32), 4, (const uint8_t *)&a);
			idx[m++] = i;
		}
	}
	lpm_resolve(f, f->lpm4, keys, idx, m, out);
}

void vr_route_lookup_bulk(const struct vr_router *r, uint8_t family, const uint16_t *vrf,
			  const uint8_t *const *addr, const struct vr_route **out, unsigned n)
{
	const struct vr_fib *f = &r->fib;

	if (!n)
		return;
	/* Host routes first: an exact match is the longest one there can be. */
	if (family == 4) {
		uint64_t key[VR_BURST];
		uint32_t at[VR_BURST];
		for (unsigned i = 0; i < n; i++) {
			key[i] = vr_route4_key(vrf[i], addr[i]);
			at[i] = vr_route4_start(r, key[i]);
		}
		vr_route4_lookup_keyed(r, key, at, out, n);
		return;
	}
	struct host6_key hk[VR_BURST];
	const void *kp[VR_BURST];
	void *data[VR_BURST];
	uint64_t hits = 0;
	uint8_t keys[VR_BURST][16];
	unsigned idx[VR_BURST], m = 0;
	for (unsigned i = 0; i < n; i++) {
		hk[i].vrf = vrf[i];
		hk[i].zero = 0;
		memcpy(hk[i].addr, addr[i], 16);
		kp[i] = &hk[i];
	}
	rte_hash_lookup_bulk_data(f->host6, kp, n, &hits, data);
	for (unsigned i = 0; i < n; i++) {
		if ((hits >> i) & 1) {
			out[i] = &f->slots[(uintptr_t)data[i]];
		} else {
			lpm_key(keys[m], vrf[i], 6, addr[i]);
			idx[m++] = i;
		}
	}
	lpm_resolve(f, f->lpm6, keys, idx, m, out);
}

const struct vr_route *vr_route_lookup(const struct vr_router *r, uint16_t vrf, uint8_t family,
				       const uint8_t *addr)
{
	const struct vr_route *out = NULL;
	vr_route_lookup_bulk(r, family, &vrf, &addr, &out, 1);
	return out;
}

void vr_route_flush_vrf(struct vr_router *r, uint16_t vrf)
{
	for (uint32_t i = 1; i < r->fib.n_slots; i++)
		if (r->fib.slots[i].nh && r->fib.slots[i].vrf == vrf)
			slot_free(r, i);
}

uint32_t vr_route_count_vrf(const struct vr_router *r, uint16_t vrf)
{
	uint32_t n = 0;
	for (uint32_t i = 1; i < r->fib.n_slots; i++)
		n += r->fib.slots[i].nh && r->fib.slots[i].vrf == vrf;
	return n;
}
