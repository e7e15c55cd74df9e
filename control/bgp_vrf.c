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
#include <stddef.h>
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

/* bgp_vrf_import, and how many paths src gave v (*n). */
static int import_n(struct bgp_rib *rib, struct bgp_vrf *v, const struct bgp_dest *src, int *n)
{
	*n = 0;
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
		(*n)++;
	}
	if (d && !d->paths)
		dest_unlink(v, d);
	else if (d)
		select_best(rib, d);
	return rc;
}

int bgp_vrf_import(struct bgp_rib *rib, struct bgp_vrf *v, const struct bgp_dest *src)
{
	int n;
	return import_n(rib, v, src, &n);
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

/* ---- the index: route target -> instances, VPN prefix -> instances ---- */

/* A list of instances (unordered; a few per key). */
struct vlist {
	struct bgp_vrf **v;
	uint32_t n, cap;
};

struct bgp_vrf_tent {
	struct bgp_vrf_tent *hnext;
};

struct bgp_vrf_rtent {
	struct bgp_vrf_tent h;
	uint8_t rt[8];
	struct vlist l;
};

struct bgp_vrf_held {
	struct bgp_vrf_tent h;
	struct bgp_prefix key;         /* the VPN prefix, BGP_PREFIX_KEY_LEN bytes compared */
	struct vlist l;
};

static int vlist_add(struct vlist *l, struct bgp_vrf *v)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i] == v)
			return 0;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 2;
		struct bgp_vrf **nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = v;
	return 0;
}

static void vlist_del(struct vlist *l, const struct bgp_vrf *v)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i] == v) {
			l->v[i] = l->v[--l->n];
			return;
		}
}

/* The two tables (chained, grown at load 2) differ only by their key, so
 * they are written once over offsets; an entry starts with its chain
 * link (struct bgp_vrf_tent). */
struct tdesc {
	size_t size, key_off, key_len, list_off;
};

static const struct tdesc RT_T = { sizeof(struct bgp_vrf_rtent),
				   offsetof(struct bgp_vrf_rtent, rt), 8,
				   offsetof(struct bgp_vrf_rtent, l) };
static const struct tdesc HELD_T = { sizeof(struct bgp_vrf_held),
				     offsetof(struct bgp_vrf_held, key), BGP_PREFIX_KEY_LEN,
				     offsetof(struct bgp_vrf_held, l) };

static uint32_t bhash(const void *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 16777619u;
	return h;
}

static struct vlist *tlist(const struct tdesc *t, struct bgp_vrf_tent *e)
{
	return (struct vlist *)((char *)e + t->list_off);
}

static void tgrow(const struct tdesc *t, struct bgp_vrf_tent ***tab, uint32_t *nb)
{
	uint32_t n = *nb ? *nb * 2 : 64;
	struct bgp_vrf_tent **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i < *nb; i++) {
		struct bgp_vrf_tent *e = (*tab)[i];
		while (e) {
			struct bgp_vrf_tent *next = e->hnext;
			uint32_t k = bhash((char *)e + t->key_off, t->key_len) & (n - 1);
			e->hnext = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(*tab);
	*tab = b;
	*nb = n;
}

static struct bgp_vrf_tent **tfind(const struct tdesc *t, struct bgp_vrf_tent **tab, uint32_t nb,
			   const void *key)
{
	if (!nb)
		return NULL;
	struct bgp_vrf_tent **pp = &tab[bhash(key, t->key_len) & (nb - 1)];
	while (*pp && memcmp((char *)*pp + t->key_off, key, t->key_len) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static struct vlist *tget(const struct tdesc *t, struct bgp_vrf_tent ***tab, uint32_t *nb,
			  uint32_t *count, const void *key)
{
	struct bgp_vrf_tent **pp = tfind(t, *tab, *nb, key);
	if (pp && *pp)
		return tlist(t, *pp);
	if (*count >= 2 * *nb)
		tgrow(t, tab, nb);
	if (!*nb)
		return NULL;
	struct bgp_vrf_tent *e = calloc(1, t->size);
	if (!e)
		return NULL;
	memcpy((char *)e + t->key_off, key, t->key_len);
	pp = &(*tab)[bhash(key, t->key_len) & (*nb - 1)];
	e->hnext = *pp;
	*pp = e;
	(*count)++;
	return tlist(t, e);
}

/* Drop the entry of key when its list is empty. */
static void tput(const struct tdesc *t, struct bgp_vrf_tent **tab, uint32_t nb, uint32_t *count,
		 const void *key)
{
	struct bgp_vrf_tent **pp = tfind(t, tab, nb, key);
	if (!pp || !*pp || tlist(t, *pp)->n)
		return;
	struct bgp_vrf_tent *e = *pp;
	*pp = e->hnext;
	free(tlist(t, e)->v);
	free(e);
	(*count)--;
}

static void tfree(const struct tdesc *t, struct bgp_vrf_tent ***tab, uint32_t *nb, uint32_t *count)
{
	for (uint32_t i = 0; i < *nb; i++) {
		struct bgp_vrf_tent *e = (*tab)[i];
		while (e) {
			struct bgp_vrf_tent *next = e->hnext;
			free(tlist(t, e)->v);
			free(e);
			e = next;
		}
	}
	free(*tab);
	*tab = NULL;
	*nb = *count = 0;
}

#define RT_TAB(x) &(x)->rt, &(x)->rt_nb
#define HELD_TAB(x) &(x)->held, &(x)->held_nb

int bgp_vrf_index_add(struct bgp_vrf_index *x, struct bgp_vrf *v)
{
	if (v->indexed)
		return 0;
	x->n_vrf++;
	v->indexed = true;
	for (int k = 0; k < v->cf->n_import; k++) {
		struct vlist *l = tget(&RT_T, RT_TAB(x), &x->rt_count, v->cf->import[k]);
		if (!l || vlist_add(l, v) < 0) {
			bgp_vrf_index_del(x, v); /* what was added, taken out again */
			return -ENOMEM;
		}
	}
	return 0;
}

static void held_del(struct bgp_vrf_index *x, const struct bgp_prefix *key,
		     const struct bgp_vrf *v)
{
	struct bgp_vrf_tent **pp = tfind(&HELD_T, x->held, x->held_nb, key);
	if (!pp || !*pp)
		return;
	vlist_del(tlist(&HELD_T, *pp), v);
	tput(&HELD_T, x->held, x->held_nb, &x->held_count, key);
}

void bgp_vrf_index_del(struct bgp_vrf_index *x, struct bgp_vrf *v)
{
	if (!v->indexed)
		return;
	for (int k = 0; k < v->cf->n_import; k++) {
		struct bgp_vrf_tent **pp = tfind(&RT_T, x->rt, x->rt_nb, v->cf->import[k]);
		if (!pp || !*pp)
			continue;
		vlist_del(tlist(&RT_T, *pp), v);
		tput(&RT_T, x->rt, x->rt_nb, &x->rt_count, v->cf->import[k]);
	}
	/* The VPN prefixes it holds paths of: its own table tells them. */
	for (uint32_t i = 0; v->b && i < v->nb; i++)
		for (const struct bgp_vrf_dest *d = v->b[i]; d; d = d->hnext)
			for (const struct bgp_vrf_path *p = d->paths; p; p = p->next) {
				struct bgp_prefix key = d->p;
				key.af = d->p.af == BGP_AF_IPV4 ? BGP_AF_VPNV4 : BGP_AF_VPNV6;
				memcpy(key.rd, p->rd, 8);
				held_del(x, &key, v);
			}
	x->n_vrf--;
	v->indexed = false;
}

void bgp_vrf_index_free(struct bgp_vrf_index *x)
{
	tfree(&RT_T, RT_TAB(x), &x->rt_count);
	tfree(&HELD_T, HELD_TAB(x), &x->held_count);
	free(x->cand);
	free(x->cand_n);
	memset(x, 0, sizeof(*x));
}

/* Take v as a candidate of this round (once). */
static int cand_add(struct bgp_vrf_index *x, struct bgp_vrf *v, uint32_t *n)
{
	if (v->mark == x->gen)
		return 0;
	if (*n == x->cand_cap) {
		uint32_t cap = x->cand_cap ? x->cand_cap * 2 : 16;
		struct bgp_vrf **c = realloc(x->cand, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		x->cand = c;
		int *cn = realloc(x->cand_n, cap * sizeof(*cn));
		if (!cn)
			return -ENOMEM;
		x->cand_n = cn;
		x->cand_cap = cap;
	}
	v->mark = x->gen;
	x->cand[(*n)++] = v;
	return 0;
}

static int held_set(struct bgp_vrf_index *x, const struct bgp_prefix *key, struct bgp_vrf *v)
{
	struct vlist *l = tget(&HELD_T, HELD_TAB(x), &x->held_count, key);
	return l ? vlist_add(l, v) : -ENOMEM;
}

int bgp_vrf_index_import(struct bgp_vrf_index *x, struct bgp_rib *rib,
			 const struct bgp_dest *src, const struct bgp_vrf **failed)
{
	if (!x->n_vrf || (src->p.af != BGP_AF_VPNV4 && src->p.af != BGP_AF_VPNV6))
		return 0;
	x->gen++;
	uint32_t n = 0;
	int rc = 0;
	/* Those that hold paths of it, and those importing one of its targets. */
	struct bgp_vrf_tent **pp = tfind(&HELD_T, x->held, x->held_nb, &src->p);
	struct vlist *held = pp && *pp ? tlist(&HELD_T, *pp) : NULL;
	for (uint32_t i = 0; held && i < held->n && rc == 0; i++)
		rc = cand_add(x, held->v[i], &n);
	for (const struct bgp_path *sp = src->paths; sp && rc == 0; sp = sp->next) {
		const struct bgp_attrs *a = &sp->attrs->a;
		if (!(a->has & BGP_HAS(BGP_ATTR_EXT_COMMUNITIES)))
			continue;
		for (size_t i = 0; i + 8 <= a->ext_communities.len && rc == 0; i += 8) {
			pp = tfind(&RT_T, x->rt, x->rt_nb, a->ext_communities.p + i);
			struct vlist *l = pp && *pp ? tlist(&RT_T, *pp) : NULL;
			for (uint32_t k = 0; l && k < l->n && rc == 0; k++)
				rc = cand_add(x, l->v[k], &n);
		}
	}
	if (rc < 0) {
		*failed = NULL;
		return rc;
	}
	for (uint32_t i = 0; i < n; i++) {
		int r = import_n(rib, x->cand[i], src, &x->cand_n[i]);
		if (r < 0 && rc == 0) {
			rc = r;
			*failed = x->cand[i];
		}
	}
	/* The holders now: those that got a path. */
	if (held)
		held->n = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (x->cand_n[i] > 0 && held_set(x, &src->p, x->cand[i]) < 0 && rc == 0) {
			rc = -ENOMEM;
			*failed = x->cand[i];
		}
	}
	if (held && !held->n)
		tput(&HELD_T, x->held, x->held_nb, &x->held_count, &src->p);
	return rc;
}

static int index_one(struct bgp_dest *d, void *arg)
{
	void **a = arg;
	struct bgp_vrf_index *x = a[0];
	int n;
	if (import_n(a[1], a[2], d, &n) < 0 || (n > 0 && held_set(x, &d->p, a[2]) < 0))
		return -ENOMEM;
	return 0;
}

int bgp_vrf_index_import_all(struct bgp_vrf_index *x, struct bgp_rib *rib, struct bgp_vrf *v)
{
	void *arg[3] = { x, rib, v };
	int rc = bgp_rib_walk(rib, BGP_AF_VPNV4, index_one, arg);
	if (rc == 0)
		rc = bgp_rib_walk(rib, BGP_AF_VPNV6, index_one, arg);
	return rc;
}
