/*
 * DOC: bgp_rib.c — see bgp_rib.h. Chained hash tables (FNV-1a) that double
 * when their load passes 2; every allocation is checked and reported as
 * -ENOMEM to the caller.
 */
#include "bgp_rib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

#define FNV_INIT 2166136261u

/* ---- peer sets (bgp_pset) ---- */

/* Why a tagged word rather than update groups (peers of one outbound
 * policy sharing one Adj-RIB-Out): tern's export depends on the peer
 * itself (never back to the sender, RFC 4456 client or not, each peer's
 * RTC memberships, ADD-PATH or not), so groups would split down to single
 * peers in the case that matters (agents with their own route targets),
 * while the word keeps the few-peer RIB at the size it had (no allocation
 * up to 63 peers) and a test or set costs a shift. Past 63 peers a
 * destination held by a high peer pays 8 bytes per 64 peers. */
int bgp_pset_add(uint64_t *s, unsigned peer)
{
	if (!*s || (*s & 1)) {
		if (peer < 63) {
			*s |= 1 | (1ull << (peer + 1));
			return 0;
		}
		uint32_t nw = peer / 64 + 1;
		struct bgp_pbits *b = calloc(1, sizeof(*b) + nw * sizeof(b->w[0]));
		if (!b)
			return -ENOMEM;
		b->nw = nw;
		b->w[0] = *s >> 1;   /* peers 0..62 move to bits 0..62 */
		b->w[peer / 64] |= 1ull << (peer % 64);
		*s = (uint64_t)(uintptr_t)b;
		return 0;
	}
	struct bgp_pbits *b = (struct bgp_pbits *)(uintptr_t)*s;
	if (peer / 64 >= b->nw) {
		uint32_t nw = peer / 64 + 1;
		struct bgp_pbits *nb = realloc(b, sizeof(*b) + nw * sizeof(b->w[0]));
		if (!nb)
			return -ENOMEM;
		memset(&nb->w[nb->nw], 0, (nw - nb->nw) * sizeof(nb->w[0]));
		nb->nw = nw;
		b = nb;
		*s = (uint64_t)(uintptr_t)b;
	}
	b->w[peer / 64] |= 1ull << (peer % 64);
	return 0;
}

void bgp_pset_del(uint64_t *s, unsigned peer)
{
	if (*s & 1) {
		if (peer < 63)
			*s &= ~(1ull << (peer + 1));
		if (*s == 1)
			*s = 0;
		return;
	}
	if (!*s)
		return;
	struct bgp_pbits *b = (struct bgp_pbits *)(uintptr_t)*s;
	if (peer / 64 >= b->nw)
		return;
	b->w[peer / 64] &= ~(1ull << (peer % 64));
	if (b->w[peer / 64])
		return;
	for (uint32_t i = 0; i < b->nw; i++)
		if (b->w[i])
			return;
	free(b);
	*s = 0;
}

void bgp_pset_free(uint64_t *s)
{
	if (*s && !(*s & 1))
		free((struct bgp_pbits *)(uintptr_t)*s);
	*s = 0;
}

/* A destination and what it holds out of line (no path left). */
static void dest_free(struct bgp_dest *d)
{
	for (uint32_t i = 0; d->ap && i < d->ap->n; i++)
		bgp_pset_free(&d->ap->e[i].peers);
	free(d->ap);
	bgp_pset_free(&d->adv);
	free(d);
}

int bgp_rib_init(struct bgp_rib *rib, uint32_t local_as, uint32_t router_id, uint32_t cluster_id)
{
	memset(rib, 0, sizeof(*rib));
	rib->local_as = local_as;
	rib->router_id = router_id;
	rib->cluster_id = cluster_id;
	struct bgp_rib_peer *lp = &rib->peers[BGP_RIB_LOCAL];
	lp->used = lp->local = true;
	lp->as = local_as;
	lp->router_id = router_id;
	for (int af = 0; af < BGP_AF_COUNT; af++) {
		rib->t[af].nb = 256;
		rib->t[af].b = calloc(256, sizeof(*rib->t[af].b));
	}
	rib->anb = 256;
	rib->ab = calloc(256, sizeof(*rib->ab));
	for (int af = 0; af < BGP_AF_COUNT; af++)
		if (!rib->t[af].b)
			goto nomem;
	if (!rib->ab)
		goto nomem;
	return 0;
nomem:
	bgp_rib_free(rib);
	return -ENOMEM;
}

void bgp_rib_free(struct bgp_rib *rib)
{
	for (int af = 0; af < BGP_AF_COUNT; af++) {
		struct bgp_table *t = &rib->t[af];
		for (uint32_t i = 0; t->b && i < t->nb; i++) {
			struct bgp_dest *d = t->b[i];
			while (d) {
				struct bgp_dest *dn = d->hnext;
				struct bgp_path *p = d->paths;
				while (p) {
					struct bgp_path *pn = p->next;
					free(p);
					p = pn;
				}
				dest_free(d);
				d = dn;
			}
		}
		free(t->b);
		t->b = NULL;
	}
	for (uint32_t i = 0; rib->ab && i < rib->anb; i++) {
		struct bgp_rattrs *ra = rib->ab[i];
		while (ra) {
			struct bgp_rattrs *n = ra->hnext;
			free(ra);
			ra = n;
		}
	}
	free(rib->ab);
	rib->ab = NULL;
}

/* ---- attribute interning ---- */

/* The byte views of struct bgp_attrs, for hashing, comparing and copying. */
#define N_VIEWS 6
static void views(const struct bgp_attrs *a, const struct bgp_bytes *v[N_VIEWS])
{
	v[0] = &a->as_path;
	v[1] = &a->aggregator;
	v[2] = &a->communities;
	v[3] = &a->ext_communities;
	v[4] = &a->cluster_list;
	v[5] = &a->unknown;
}

/* Fixed fields with those of absent attributes zeroed, so that equal
 * attribute sets compare equal. */
struct attrs_fixed {
	uint32_t has, med, local_pref, originator_id;
	uint8_t origin, nh_len, nh[32];
	struct bgp_pmsi pmsi;         /* EVPN type 3: each node's own tunnel */
};

static void fixed_of(const struct bgp_attrs *a, struct attrs_fixed *f)
{
	memset(f, 0, sizeof(*f));
	f->has = a->has;
	f->origin = (a->has & BGP_HAS(BGP_ATTR_ORIGIN)) ? a->origin : 0;
	f->med = (a->has & BGP_HAS(BGP_ATTR_MED)) ? a->med : 0;
	f->local_pref = (a->has & BGP_HAS(BGP_ATTR_LOCAL_PREF)) ? a->local_pref : 0;
	f->originator_id = (a->has & BGP_HAS(BGP_ATTR_ORIGINATOR_ID)) ? a->originator_id : 0;
	f->nh_len = a->nh_len <= 32 ? a->nh_len : 32;
	memcpy(f->nh, a->nh, f->nh_len);
	if (a->has & BGP_HAS(BGP_ATTR_PMSI_TUNNEL)) { /* field by field: no padding compared */
		f->pmsi.flags = a->pmsi.flags;
		f->pmsi.type = a->pmsi.type;
		f->pmsi.label = a->pmsi.label;
		f->pmsi.id_len = a->pmsi.id_len <= BGP_PMSI_ID_MAX ? a->pmsi.id_len : BGP_PMSI_ID_MAX;
		memcpy(f->pmsi.id, a->pmsi.id, f->pmsi.id_len);
	}
}

static uint32_t attrs_hash(const struct bgp_attrs *a)
{
	struct attrs_fixed f;
	const struct bgp_bytes *v[N_VIEWS];
	fixed_of(a, &f);
	views(a, v);
	uint32_t h = fnv(FNV_INIT, &f, sizeof(f));
	for (int i = 0; i < N_VIEWS; i++) {
		h = fnv(h, &v[i]->len, sizeof(v[i]->len));
		if (v[i]->len)
			h = fnv(h, v[i]->p, v[i]->len);
	}
	return h;
}

static bool attrs_equal(const struct bgp_attrs *a, const struct bgp_attrs *b)
{
	struct attrs_fixed fa, fb;
	const struct bgp_bytes *va[N_VIEWS], *vb[N_VIEWS];
	fixed_of(a, &fa);
	fixed_of(b, &fb);
	if (memcmp(&fa, &fb, sizeof(fa)) != 0)
		return false;
	views(a, va);
	views(b, vb);
	for (int i = 0; i < N_VIEWS; i++)
		if (va[i]->len != vb[i]->len ||
		    (va[i]->len && memcmp(va[i]->p, vb[i]->p, va[i]->len) != 0))
			return false;
	return true;
}

static void attrs_grow(struct bgp_rib *rib)
{
	uint32_t nb = rib->anb * 2;
	struct bgp_rattrs **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* keep the smaller table: slower, still correct */
	for (uint32_t i = 0; i < rib->anb; i++) {
		struct bgp_rattrs *ra = rib->ab[i];
		while (ra) {
			struct bgp_rattrs *n = ra->hnext;
			ra->hnext = b[ra->hash & (nb - 1)];
			b[ra->hash & (nb - 1)] = ra;
			ra = n;
		}
	}
	free(rib->ab);
	rib->ab = b;
	rib->anb = nb;
}

struct bgp_rattrs *bgp_rib_intern(struct bgp_rib *rib, const struct bgp_attrs *a)
{
	uint32_t h = attrs_hash(a);
	for (struct bgp_rattrs *ra = rib->ab[h & (rib->anb - 1)]; ra; ra = ra->hnext) {
		if (ra->hash == h && attrs_equal(&ra->a, a)) {
			ra->refcnt++;
			return ra;
		}
	}
	const struct bgp_bytes *v[N_VIEWS];
	views(a, v);
	size_t total = 0;
	for (int i = 0; i < N_VIEWS; i++)
		total += v[i]->len;
	struct bgp_rattrs *ra = malloc(sizeof(*ra) + total);
	if (!ra)
		return NULL;
	ra->hash = h;
	ra->refcnt = 1;
	ra->a = *a;
	struct attrs_fixed f;
	fixed_of(a, &f);
	ra->a.origin = f.origin;
	ra->a.med = f.med;
	ra->a.local_pref = f.local_pref;
	ra->a.originator_id = f.originator_id;
	/* Copy the variable parts into data and point the copy's views there. */
	struct bgp_bytes *dv[N_VIEWS];
	views(&ra->a, (const struct bgp_bytes **)dv);
	size_t off = 0;
	for (int i = 0; i < N_VIEWS; i++) {
		if (v[i]->len)
			memcpy(ra->data + off, v[i]->p, v[i]->len);
		dv[i]->p = v[i]->len ? ra->data + off : NULL;
		off += v[i]->len;
	}
	uint32_t slot = h & (rib->anb - 1);
	ra->hnext = rib->ab[slot];
	rib->ab[slot] = ra;
	if (++rib->acount > rib->anb * 2)
		attrs_grow(rib);
	return ra;
}

void bgp_rib_unref(struct bgp_rib *rib, struct bgp_rattrs *ra)
{
	if (!ra || --ra->refcnt > 0)
		return;
	struct bgp_rattrs **pp = &rib->ab[ra->hash & (rib->anb - 1)];
	while (*pp && *pp != ra)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = ra->hnext;
	rib->acount--;
	free(ra);
}

/* ---- destinations ---- */

static uint32_t prefix_hash(const struct bgp_prefix *p)
{
	return fnv(FNV_INIT, p, BGP_PREFIX_KEY_LEN);
}

struct bgp_dest *bgp_rib_lookup(struct bgp_rib *rib, const struct bgp_prefix *p)
{
	struct bgp_table *t = &rib->t[p->af];
	for (struct bgp_dest *d = t->b[prefix_hash(p) & (t->nb - 1)]; d; d = d->hnext)
		if (memcmp(&d->p, p, BGP_PREFIX_KEY_LEN) == 0)
			return d;
	return NULL;
}

static void table_grow(struct bgp_table *t)
{
	uint32_t nb = t->nb * 2;
	struct bgp_dest **b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	for (uint32_t i = 0; i < t->nb; i++) {
		struct bgp_dest *d = t->b[i];
		while (d) {
			struct bgp_dest *n = d->hnext;
			uint32_t s = prefix_hash(&d->p) & (nb - 1);
			d->hnext = b[s];
			b[s] = d;
			d = n;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static struct bgp_dest *dest_get(struct bgp_rib *rib, const struct bgp_prefix *p)
{
	struct bgp_dest *d = bgp_rib_lookup(rib, p);
	if (d)
		return d;
	struct bgp_table *t = &rib->t[p->af];
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->p = *p;
	uint32_t s = prefix_hash(p) & (t->nb - 1);
	d->hnext = t->b[s];
	t->b[s] = d;
	if (++t->count > t->nb * 2)
		table_grow(t);
	return d;
}

void bgp_rib_dest_gc(struct bgp_rib *rib, struct bgp_dest *d)
{
	if (d->paths || d->adv || d->dnext || (d->ap && d->ap->n))
		return;
	struct bgp_table *t = &rib->t[d->p.af];
	struct bgp_dest **pp = &t->b[prefix_hash(&d->p) & (t->nb - 1)];
	while (*pp && *pp != d)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = d->hnext;
	t->count--;
	dest_free(d);
}

/* The dirty list's end marker: any address no destination has (never
 * dereferenced). */
#define DIRTY_END(rib) ((struct bgp_dest *)(void *)(rib))

static void mark_dirty(struct bgp_rib *rib, struct bgp_dest *d)
{
	if (d->dnext)
		return;
	d->dnext = DIRTY_END(rib);
	if (rib->dirty_tail)
		rib->dirty_tail->dnext = d;
	else
		rib->dirty = d;
	rib->dirty_tail = d;
}

struct bgp_dest *bgp_rib_dirty_pop(struct bgp_rib *rib)
{
	struct bgp_dest *d = rib->dirty;
	if (!d)
		return NULL;
	rib->dirty = d->dnext == DIRTY_END(rib) ? NULL : d->dnext;
	if (!rib->dirty)
		rib->dirty_tail = NULL;
	d->dnext = NULL;
	return d;
}

int bgp_rib_walk(struct bgp_rib *rib, int af, int (*fn)(struct bgp_dest *d, void *arg), void *arg)
{
	struct bgp_table *t = &rib->t[af];
	for (uint32_t i = 0; i < t->nb; i++) {
		for (struct bgp_dest *d = t->b[i]; d; d = d->hnext) {
			int rc = fn(d, arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- best path ---- */

static uint32_t eff_local_pref(const struct bgp_attrs *a)
{
	return (a->has & BGP_HAS(BGP_ATTR_LOCAL_PREF)) ? a->local_pref : BGP_DEFAULT_LOCAL_PREF;
}

#define CMP(x, y) do { if ((x) != (y)) return (x) < (y) ? -1 : 1; } while (0)

/* §9.1.2.2 a) to e): what makes paths equal-cost. */
static int cmp_cost(const struct bgp_rib *rib, const struct bgp_path *a, const struct bgp_path *b)
{
	const struct bgp_attrs *x = &a->attrs->a, *y = &b->attrs->a;
	const struct bgp_rib_peer *pa = &rib->peers[a->peer], *pb = &rib->peers[b->peer];
	CMP(eff_local_pref(y), eff_local_pref(x));
	CMP(bgp_aspath_length(x->as_path), bgp_aspath_length(y->as_path));
	CMP(x->origin, y->origin);
	if (bgp_aspath_first(x->as_path) == bgp_aspath_first(y->as_path))
		CMP(x->med, y->med);
	CMP(pa->ebgp ? 0 : 1, pb->ebgp ? 0 : 1);
	return 0;
}

bool bgp_path_multipath(const struct bgp_rib *rib, const struct bgp_path *a,
			const struct bgp_path *b)
{
	return cmp_cost(rib, a, b) == 0;
}

int bgp_path_cmp(const struct bgp_rib *rib, const struct bgp_path *a, const struct bgp_path *b)
{
	const struct bgp_attrs *x = &a->attrs->a, *y = &b->attrs->a;
	const struct bgp_rib_peer *pa = &rib->peers[a->peer], *pb = &rib->peers[b->peer];
	/* a) highest LOCAL_PREF */
	CMP(eff_local_pref(y), eff_local_pref(x));
	/* b) shortest AS_PATH */
	CMP(bgp_aspath_length(x->as_path), bgp_aspath_length(y->as_path));
	/* c) lowest ORIGIN */
	CMP(x->origin, y->origin);
	/* d) lowest MED, among paths from the same neighbouring AS (absent = 0) */
	if (bgp_aspath_first(x->as_path) == bgp_aspath_first(y->as_path))
		CMP(x->med, y->med);
	/* e) eBGP over iBGP */
	CMP(pa->ebgp ? 0 : 1, pb->ebgp ? 0 : 1);
	/* f) IGP cost to the next hop: tern has no IGP; all equal. */
	/* g) lowest BGP identifier, the ORIGINATOR_ID standing in for it (RFC 4456 §9) */
	uint32_t ia = (x->has & BGP_HAS(BGP_ATTR_ORIGINATOR_ID)) ? x->originator_id : pa->router_id;
	uint32_t ib = (y->has & BGP_HAS(BGP_ATTR_ORIGINATOR_ID)) ? y->originator_id : pb->router_id;
	CMP(ia, ib);
	/* RFC 4456 §9: then the shorter CLUSTER_LIST */
	CMP(x->cluster_list.len, y->cluster_list.len);
	/* h) lowest peer address */
	int c = memcmp(pa->addr, pb->addr, sizeof(pa->addr));
	if (c)
		return c < 0 ? -1 : 1;
	return 0;
}

static void select_best(struct bgp_rib *rib, struct bgp_dest *d)
{
	struct bgp_path *best = NULL;
	for (struct bgp_path *p = d->paths; p; p = p->next)
		if (!best || bgp_path_cmp(rib, p, best) < 0)
			best = p;
	d->best = best;
}

/* ---- paths ---- */

static struct bgp_path **path_find(struct bgp_dest *d, uint16_t peer, uint32_t path_id)
{
	struct bgp_path **pp = &d->paths;
	while (*pp && ((*pp)->peer != peer || (*pp)->path_id != path_id))
		pp = &(*pp)->next;
	return pp;
}

/* The smallest identifier from 1 that no path of d has (a few paths per
 * destination: a scan). */
static uint32_t tx_id_alloc(const struct bgp_dest *d)
{
	uint64_t used = 0;
	uint32_t max = 0;
	for (const struct bgp_path *p = d->paths; p; p = p->next) {
		if (p->tx_id >= 1 && p->tx_id <= 64)
			used |= 1ull << (p->tx_id - 1);
		if (p->tx_id > max)
			max = p->tx_id;
	}
	if (~used)
		return (uint32_t)__builtin_ctzll(~used) + 1;
	return max + 1;
}

int bgp_rib_ap_mark(struct bgp_dest *d, uint32_t id, uint16_t peer, bool on)
{
	struct bgp_apout *ap = d->ap;
	uint32_t i = 0;
	while (ap && i < ap->n && ap->e[i].id != id)
		i++;
	if (!ap || i == ap->n) {
		if (!on)
			return 0;
		if (!ap || ap->n == ap->cap) {
			uint32_t cap = ap ? ap->cap * 2 : 2;
			struct bgp_apout *na = realloc(ap, sizeof(*ap) + cap * sizeof(ap->e[0]));
			if (!na)
				return -ENOMEM;
			if (!ap)
				na->n = 0;
			na->cap = cap;
			d->ap = ap = na;
		}
		ap->e[ap->n++] = (struct bgp_apout_ent){ .id = id };
	}
	if (on) {
		int rc = bgp_pset_add(&ap->e[i].peers, peer);
		if (rc < 0 && !ap->e[i].peers)
			ap->e[i] = ap->e[--ap->n];
		return rc;
	}
	bgp_pset_del(&ap->e[i].peers, peer);
	if (!ap->e[i].peers)
		ap->e[i] = ap->e[--ap->n];
	return 0;
}

void bgp_rib_dest_forget(struct bgp_dest *d, uint16_t peer)
{
	bgp_pset_del(&d->adv, peer);
	for (uint32_t i = 0; d->ap && i < d->ap->n;) {
		bgp_pset_del(&d->ap->e[i].peers, peer);
		if (!d->ap->e[i].peers)
			d->ap->e[i] = d->ap->e[--d->ap->n];
		else
			i++;
	}
}

int bgp_rib_update(struct bgp_rib *rib, uint16_t peer, const struct bgp_nlri *n,
		   const struct bgp_attrs *a)
{
	struct bgp_rattrs *ra = bgp_rib_intern(rib, a);
	if (!ra)
		return -ENOMEM;
	struct bgp_dest *d = dest_get(rib, &n->p);
	if (!d) {
		bgp_rib_unref(rib, ra);
		return -ENOMEM;
	}
	/* The non-key EVPN fields (ESI, gateway, second label) follow the
	 * latest update of the destination. */
	bool tail_changed = false;
	if (n->p.af == BGP_AF_EVPN) { /* other families have no such fields */
		const size_t tail = sizeof(n->p) - BGP_PREFIX_KEY_LEN;
		const uint8_t *src_tail = (const uint8_t *)&n->p + BGP_PREFIX_KEY_LEN;
		uint8_t *dst_tail = (uint8_t *)&d->p + BGP_PREFIX_KEY_LEN;
		tail_changed = memcmp(dst_tail, src_tail, tail) != 0;
		if (tail_changed)
			memcpy(dst_tail, src_tail, tail);
	}
	struct bgp_path **pp = path_find(d, peer, n->path_id);
	struct bgp_path *p = *pp;
	if (p) {
		if (p->attrs == ra && p->label == n->label && !p->stale && !tail_changed) {
			bgp_rib_unref(rib, ra); /* the same again: nothing changes */
			return 0;
		}
		bgp_rib_unref(rib, p->attrs);
	} else {
		p = calloc(1, sizeof(*p));
		if (!p) {
			bgp_rib_unref(rib, ra);
			bgp_rib_dest_gc(rib, d);
			return -ENOMEM;
		}
		p->peer = peer;
		p->path_id = n->path_id;
		p->tx_id = tx_id_alloc(d);
		p->dest = d;
		p->next = d->paths;
		d->paths = p;
		struct bgp_rib_peer *rp = &rib->peers[peer];
		p->pnext = rp->paths;
		if (rp->paths)
			rp->paths->pprev = p;
		rp->paths = p;
		rp->count[n->p.af]++;
	}
	p->attrs = ra;
	p->label = n->label;
	p->stale = false;
	select_best(rib, d);
	mark_dirty(rib, d);
	return 0;
}

static void path_remove(struct bgp_rib *rib, struct bgp_path *p)
{
	struct bgp_dest *d = p->dest;
	struct bgp_rib_peer *rp = &rib->peers[p->peer];
	*path_find(d, p->peer, p->path_id) = p->next;
	if (p->pprev)
		p->pprev->pnext = p->pnext;
	else
		rp->paths = p->pnext;
	if (p->pnext)
		p->pnext->pprev = p->pprev;
	rp->count[d->p.af]--;
	bgp_rib_unref(rib, p->attrs);
	free(p);
	select_best(rib, d);
	mark_dirty(rib, d);
}

int bgp_rib_withdraw(struct bgp_rib *rib, uint16_t peer, const struct bgp_prefix *p)
{
	return bgp_rib_withdraw_id(rib, peer, p, 0);
}

int bgp_rib_withdraw_id(struct bgp_rib *rib, uint16_t peer, const struct bgp_prefix *p,
			uint32_t path_id)
{
	struct bgp_dest *d = bgp_rib_lookup(rib, p);
	if (!d)
		return 0;
	struct bgp_path *path = *path_find(d, peer, path_id);
	if (!path)
		return 0;
	path_remove(rib, path);
	return 1;
}

unsigned bgp_rib_peer_sweep(struct bgp_rib *rib, uint16_t peer, uint32_t afs,
			    enum bgp_sweep how)
{
	unsigned n = 0;
	struct bgp_path *p = rib->peers[peer].paths;
	while (p) {
		struct bgp_path *next = p->pnext;
		if (afs & BGP_AF_BIT(p->dest->p.af)) {
			if (how == BGP_SWEEP_MARK_STALE) {
				p->stale = true;
				n++;
			} else if (how == BGP_SWEEP_ALL || p->stale) {
				path_remove(rib, p);
				n++;
			}
		}
		p = next;
	}
	return n;
}

unsigned bgp_rib_peer_flush(struct bgp_rib *rib, uint16_t peer)
{
	unsigned n = 0;
	while (rib->peers[peer].paths) {
		path_remove(rib, rib->peers[peer].paths);
		n++;
	}
	return n;
}

/* ---- loop checks and export ---- */

static bool list_contains(struct bgp_bytes l, uint32_t v)
{
	for (size_t i = 0; i + 4 <= l.len; i += 4) {
		uint32_t x = (uint32_t)l.p[i] << 24 | (uint32_t)l.p[i + 1] << 16 |
			     (uint32_t)l.p[i + 2] << 8 | l.p[i + 3];
		if (x == v)
			return true;
	}
	return false;
}

bool bgp_rib_is_loop(const struct bgp_rib *rib, uint16_t from, const struct bgp_attrs *a)
{
	if (rib->peers[from].ebgp)
		return bgp_aspath_contains(a->as_path, rib->local_as);
	if ((a->has & BGP_HAS(BGP_ATTR_ORIGINATOR_ID)) && a->originator_id == rib->router_id)
		return true;
	return (a->has & BGP_HAS(BGP_ATTR_CLUSTER_LIST)) &&
	       list_contains(a->cluster_list, rib->cluster_id);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Prepend as to the path in scratch: to the first AS_SEQUENCE when it has
 * room, else as a new segment (RFC 4271 §5.1.2). */
static struct bgp_bytes aspath_prepend(struct bgp_bytes p, uint32_t as, uint8_t *s)
{
	size_t n = 0;
	if (p.len >= 2 && p.p[0] == BGP_AS_SEQUENCE && p.p[1] < 255) {
		s[0] = BGP_AS_SEQUENCE;
		s[1] = (uint8_t)(p.p[1] + 1);
		put32(s + 2, as);
		memcpy(s + 6, p.p + 2, p.len - 2u);
		n = p.len + 4u;
	} else {
		s[0] = BGP_AS_SEQUENCE;
		s[1] = 1;
		put32(s + 2, as);
		if (p.len)
			memcpy(s + 6, p.p, p.len);
		n = p.len + 6u;
	}
	return (struct bgp_bytes){ s, (uint16_t)n };
}

bool bgp_rib_export(const struct bgp_rib *rib, const struct bgp_path *p, uint16_t to,
		    struct bgp_attrs *out, uint8_t *scratch)
{
	const struct bgp_rib_peer *from = &rib->peers[p->peer], *dst = &rib->peers[to];
	if (p->peer == to || !dst->used)
		return false;
	*out = p->attrs->a;
	if (dst->ebgp) {
		if (out->as_path.len + 6u > BGP_MAX_MSG / 2)
			return false; /* absurdly long path: not worth a message */
		out->as_path = aspath_prepend(out->as_path, rib->local_as, scratch);
		out->has |= BGP_HAS(BGP_ATTR_AS_PATH);
		out->has &= ~(BGP_HAS(BGP_ATTR_LOCAL_PREF) | BGP_HAS(BGP_ATTR_ORIGINATOR_ID) |
			      BGP_HAS(BGP_ATTR_CLUSTER_LIST));
		out->cluster_list = (struct bgp_bytes){ NULL, 0 };
		if (!from->ebgp)
			return true;
		/* RFC 4271 §5.1.4: MED learned from one AS is not passed to another. */
		out->has &= ~BGP_HAS(BGP_ATTR_MED);
		return true;
	}
	if (from->ebgp || from->local) {
		if (!(out->has & BGP_HAS(BGP_ATTR_LOCAL_PREF))) {
			out->has |= BGP_HAS(BGP_ATTR_LOCAL_PREF);
			out->local_pref = BGP_DEFAULT_LOCAL_PREF;
		}
		return true;
	}
	/* iBGP to iBGP: reflection (RFC 4456 §6). */
	if (!from->rr_client && !dst->rr_client)
		return false;
	if (!(out->has & BGP_HAS(BGP_ATTR_ORIGINATOR_ID))) {
		out->has |= BGP_HAS(BGP_ATTR_ORIGINATOR_ID);
		out->originator_id = from->router_id;
	}
	if (out->cluster_list.len + 4u > BGP_MAX_MSG / 2)
		return false;
	put32(scratch, rib->cluster_id);
	if (out->cluster_list.len)
		memcpy(scratch + 4, out->cluster_list.p, out->cluster_list.len);
	out->cluster_list = (struct bgp_bytes){ scratch, (uint16_t)(out->cluster_list.len + 4) };
	out->has |= BGP_HAS(BGP_ATTR_CLUSTER_LIST);
	if (!(out->has & BGP_HAS(BGP_ATTR_LOCAL_PREF))) {
		out->has |= BGP_HAS(BGP_ATTR_LOCAL_PREF);
		out->local_pref = BGP_DEFAULT_LOCAL_PREF;
	}
	return true;
}
