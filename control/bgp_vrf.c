/*
 * DOC: bgp_vrf.c — see bgp_vrf.h. An instance's table is a small chained
 * hash of destinations keyed by the plain prefix; its paths are copies
 * (attributes shared by reference) of the VPN paths that carry an import
 * target, tagged with the RD they came from so that a change of one VPN
 * destination replaces exactly its own contribution.
 */
#include "bgp_vrf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

int bgp_vrf_parse_rt(const char *s, uint8_t out[8], bool rd)
{
	char left[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(left) || colon == s || !colon[1])
		return -EINVAL;
	memcpy(left, s, (size_t)(colon - s));
	left[colon - s] = 0;
	char *end;
	unsigned long long val = strtoull(colon + 1, &end, 10);
	if (*end || colon[1] == '-')
		return -EINVAL;
	memset(out, 0, 8);
	struct in_addr ip;
	if (inet_pton(AF_INET, left, &ip) == 1) {
		if (val > 0xffff)
			return -EINVAL;
		/* type 1: IPv4 address + 2-octet number */
		out[0] = rd ? 0x00 : 0x01;
		out[1] = rd ? 0x01 : 0x02;
		memcpy(out + 2, &ip, 4);
		put16(out + 6, (uint16_t)val);
		return 0;
	}
	unsigned long long as = strtoull(left, &end, 10);
	if (*end || left[0] == '-' || as > 0xffffffffull)
		return -EINVAL;
	if (as <= 0xffff) {
		if (val > 0xffffffffull)
			return -EINVAL;
		/* type 0: 2-octet AS + 4-octet number */
		out[1] = rd ? 0x00 : 0x02;
		put16(out + 2, (uint16_t)as);
		put32(out + 4, (uint32_t)val);
		return 0;
	}
	if (val > 0xffff)
		return -EINVAL;
	/* type 2: 4-octet AS + 2-octet number */
	out[0] = rd ? 0x00 : 0x02;
	out[1] = 0x02;
	put32(out + 2, (uint32_t)as);
	put16(out + 6, (uint16_t)val);
	return 0;
}

int bgp_vrf_init(struct bgp_vrf *v, const struct bgp_vrf_conf *cf)
{
	memset(v, 0, sizeof(*v));
	v->cf = cf;
	v->nb = 64;
	v->b = calloc(v->nb, sizeof(*v->b));
	return v->b ? 0 : -ENOMEM;
}

static void path_free(struct bgp_rib *rib, struct bgp_vrf_path *p)
{
	bgp_rib_unref(rib, p->attrs);
	free(p);
}

void bgp_vrf_free(struct bgp_rib *rib, struct bgp_vrf *v)
{
	for (uint32_t i = 0; v->b && i < v->nb; i++) {
		struct bgp_vrf_dest *d = v->b[i];
		while (d) {
			struct bgp_vrf_dest *dn = d->hnext;
			while (d->paths) {
				struct bgp_vrf_path *pn = d->paths->next;
				path_free(rib, d->paths);
				d->paths = pn;
			}
			free(d);
			d = dn;
		}
	}
	free(v->b);
	v->b = NULL;
	v->count = 0;
}

bool bgp_vrf_imports(const struct bgp_vrf_conf *cf, const struct bgp_attrs *a)
{
	if (!(a->has & BGP_HAS(BGP_ATTR_EXT_COMMUNITIES)))
		return false;
	for (size_t i = 0; i + 8 <= a->ext_communities.len; i += 8)
		for (int k = 0; k < cf->n_import; k++)
			if (memcmp(a->ext_communities.p + i, cf->import[k], 8) == 0)
				return true;
	return false;
}

static uint32_t key_hash(const struct bgp_prefix *p)
{
	uint32_t h = 2166136261u;
	const uint8_t *b = (const uint8_t *)p;
	for (size_t i = 0; i < BGP_PREFIX_KEY_LEN; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* The instance key of a VPN prefix: the plain family, no RD. */
static void plain_key(const struct bgp_prefix *vpn, struct bgp_prefix *out)
{
	*out = *vpn;
	out->af = vpn->af == BGP_AF_VPNV4 ? BGP_AF_IPV4 : BGP_AF_IPV6;
	memset(out->rd, 0, sizeof(out->rd));
}

struct bgp_vrf_dest *bgp_vrf_lookup(const struct bgp_vrf *v, const struct bgp_prefix *p)
{
	for (struct bgp_vrf_dest *d = v->b[key_hash(p) & (v->nb - 1)]; d; d = d->hnext)
		if (memcmp(&d->p, p, BGP_PREFIX_KEY_LEN) == 0)
			return d;
	return NULL;
}

static void grow(struct bgp_vrf *v)
{
	uint32_t nb = v->nb * 2;
	struct bgp_vrf_dest **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i < v->nb; i++) {
		struct bgp_vrf_dest *d = v->b[i];
		while (d) {
			struct bgp_vrf_dest *n = d->hnext;
			uint32_t k = key_hash(&d->p) & (nb - 1);
			d->hnext = b[k];
			b[k] = d;
			d = n;
		}
	}
	free(v->b);
	v->b = b;
	v->nb = nb;
}

static void dest_unlink(struct bgp_vrf *v, struct bgp_vrf_dest *d)
{
	struct bgp_vrf_dest **pp = &v->b[key_hash(&d->p) & (v->nb - 1)];
	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	v->count--;
	free(d);
}

static void select_best(const struct bgp_rib *rib, struct bgp_vrf_dest *d)
{
	d->best = NULL;
	struct bgp_path pa = { 0 }, pb = { 0 };
	for (struct bgp_vrf_path *p = d->paths; p; p = p->next) {
		if (d->best) {
			pa.attrs = p->attrs;
			pa.peer = p->peer;
			pb.attrs = d->best->attrs;
			pb.peer = d->best->peer;
			int c = bgp_path_cmp(rib, &pa, &pb);
			/* Equal paths from two RDs: the lower RD, so that the choice
			 * does not depend on the order of arrival. */
			if (c > 0 || (c == 0 && memcmp(p->rd, d->best->rd, 8) >= 0))
				continue;
		}
		d->best = p;
	}
}

int bgp_vrf_import(struct bgp_rib *rib, struct bgp_vrf *v, const struct bgp_dest *src)
{
	if (src->p.af != BGP_AF_VPNV4 && src->p.af != BGP_AF_VPNV6)
		return 0;
	struct bgp_prefix key;
	plain_key(&src->p, &key);
	struct bgp_vrf_dest *d = bgp_vrf_lookup(v, &key);
	if (d) { /* drop what src contributed before */
		struct bgp_vrf_path **pp = &d->paths;
		while (*pp) {
			struct bgp_vrf_path *p = *pp;
			if (memcmp(p->rd, src->p.rd, 8) == 0) {
				*pp = p->next;
				path_free(rib, p);
			} else {
				pp = &p->next;
			}
		}
	}
	int rc = 0;
	for (const struct bgp_path *sp = src->paths; sp; sp = sp->next) {
		if (!bgp_vrf_imports(v->cf, &sp->attrs->a))
			continue;
		if (!d) {
			if (v->count >= v->nb)
				grow(v);
			d = calloc(1, sizeof(*d));
			if (!d) {
				rc = -ENOMEM;
				break;
			}
			d->p = key;
			uint32_t k = key_hash(&key) & (v->nb - 1);
			d->hnext = v->b[k];
			v->b[k] = d;
			v->count++;
		}
		struct bgp_vrf_path *p = calloc(1, sizeof(*p));
		if (!p) {
			rc = -ENOMEM;
			break;
		}
		memcpy(p->rd, src->p.rd, 8);
		p->peer = sp->peer;
		p->label = sp->label;
		p->attrs = sp->attrs;
		sp->attrs->refcnt++;
		p->next = d->paths;
		d->paths = p;
	}
	if (d && !d->paths)
		dest_unlink(v, d);
	else if (d)
		select_best(rib, d);
	return rc;
}

int bgp_vrf_walk(const struct bgp_vrf *v, int af,
		 int (*fn)(const struct bgp_vrf_dest *d, void *arg), void *arg)
{
	for (uint32_t i = 0; i < v->nb; i++)
		for (const struct bgp_vrf_dest *d = v->b[i]; d; d = d->hnext) {
			if (d->p.af != af)
				continue;
			int rc = fn(d, arg);
			if (rc)
				return rc;
		}
	return 0;
}

int bgp_vrf_originate(struct bgp_rib *rib, const struct bgp_vrf_conf *cf)
{
	uint8_t ext[BGP_VRF_MAX_RT * 8];
	for (int k = 0; k < cf->n_export; k++)
		memcpy(ext + 8 * k, cf->export[k], 8);
	for (int i = 0; i < cf->n_routes; i++) {
		const struct bgp_vrf_route *r = &cf->routes[i];
		struct bgp_attrs a = { 0 };
		a.has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
			BGP_HAS(BGP_ATTR_LOCAL_PREF);
		a.origin = BGP_ORIGIN_IGP;
		a.as_path = (struct bgp_bytes){ ext, 0 }; /* empty: originated here */
		a.local_pref = BGP_DEFAULT_LOCAL_PREF;
		if (cf->n_export) {
			a.has |= BGP_HAS(BGP_ATTR_EXT_COMMUNITIES);
			a.ext_communities = (struct bgp_bytes){ ext, (uint16_t)(8 * cf->n_export) };
		}
		struct bgp_nlri n = { .p = r->p, .label = r->label };
		n.p.af = r->p.af == BGP_AF_IPV4 ? BGP_AF_VPNV4 : BGP_AF_VPNV6;
		memcpy(n.p.rd, cf->rd, 8);
		/* VPNv6 with an IPv4 next hop: the IPv4-mapped form (RFC 4659 §3.2.1.2). */
		if (n.p.af == BGP_AF_VPNV6 && r->nh_len == 4) {
			a.nh_len = 16;
			a.nh[10] = a.nh[11] = 0xff;
			memcpy(a.nh + 12, r->nh, 4);
		} else if (n.p.af == BGP_AF_VPNV4 && r->nh_len == 16) {
			return -EINVAL; /* refused by the config parser already */
		} else {
			a.nh_len = r->nh_len;
			memcpy(a.nh, r->nh, r->nh_len);
		}
		if (bgp_rib_update(rib, BGP_RIB_LOCAL, &n, &a) < 0)
			return -ENOMEM;
	}
	return 0;
}

void bgp_vrf_withdraw(struct bgp_rib *rib, const struct bgp_vrf_conf *cf)
{
	for (int i = 0; i < cf->n_routes; i++) {
		struct bgp_prefix p = cf->routes[i].p;
		p.af = p.af == BGP_AF_IPV4 ? BGP_AF_VPNV4 : BGP_AF_VPNV6;
		memcpy(p.rd, cf->rd, 8);
		bgp_rib_withdraw(rib, BGP_RIB_LOCAL, &p);
	}
}

static int import_one(struct bgp_dest *d, void *arg)
{
	void **a = arg;
	return bgp_vrf_import(a[0], a[1], d) < 0 ? -ENOMEM : 0;
}

int bgp_vrf_import_all(struct bgp_rib *rib, struct bgp_vrf *v)
{
	void *arg[2] = { rib, v };
	int rc = bgp_rib_walk(rib, BGP_AF_VPNV4, import_one, arg);
	if (rc == 0)
		rc = bgp_rib_walk(rib, BGP_AF_VPNV6, import_one, arg);
	return rc;
}
