/*
 * DOC: vr_nat.c — services (a virtual IP and port load-balanced over
 * backends), floating IPs (1:1 NAT between a public VRF and a pod's address)
 * and the NAT stage, which runs before the route lookup.
 *
 * Translation lives in the flow table. A NAT flow's two directions have keys
 * that are not mirror images: client -> VIP forward, backend -> client
 * reverse. A packet of one direction is rewritten to the mirror of the other
 * direction's key (and routed in that key's VRF), so a flow stores no
 * addresses beyond its two keys.
 *
 * The first packet of a connection in a VRF that holds a service or a
 * floating IP (or from a vif that owns floating IPs) creates its flow here,
 * translated or not, so later packets of every connection there cost one
 * bulk hash lookup. A service picks a backend with a Maglev table (consistent
 * hashing: adding a backend moves few new flows, and the flow table pins every
 * existing one); a backend reaching its own service is sent to another
 * backend (no hairpin). Changing or deleting a service or floating IP starts the
 * re-evaluation scan, which removes the flows whose backend or address is gone.
 */
#include "vr_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

#define NAT_SERVICE 1
#define NAT_FIP     2
#define NAT_VIP     3   /* a virtual IP, any port: how many services use it (proxy ARP) */

static size_t alen(uint8_t family)
{
	return family == 4 ? 4 : 16;
}

static struct vr_nat *nat_get(struct vr_router *r, struct vr_err *e)
{
	if (r->nat)
		return r->nat;
	struct vr_nat *n = calloc(1, sizeof(*n));
	char name[32];
	snprintf(name, sizeof(name), "nat_%lx", (unsigned long)(uintptr_t)r);
	struct rte_hash_parameters p = {
		.name = name, .entries = 2 * VR_MAX_SERVICES + VR_MAX_FIPS, /* + one VIP each */
		.key_len = sizeof(struct vr_nat_key), .hash_func = rte_hash_crc,
		.socket_id = r->cfg.socket_id, .extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	if (n)
		n->hash = rte_hash_create(&p);
	if (!n || !n->hash) {
		free(n);
		vr_errf(e, -ENOMEM, "cannot allocate the NAT table; give the EAL more memory (-m)");
		return NULL;
	}
	r->nat = n;
	return n;
}

void vr_nat_fini(struct vr_router *r)
{
	struct vr_nat *n = r->nat;
	if (!n)
		return;
	for (uint32_t i = 0; i < VR_MAX_SERVICES; i++) {
		struct vr_service *s = n->services[i];
		if (s) {
			free(s->backends);
			free(s->flows);
			free(s->table);
			free(s);
		}
	}
	free(n->fips);
	rte_hash_free(n->hash);
	free(n);
	r->nat = NULL;
}

static void nat_key(struct vr_nat_key *k, uint8_t kind, uint16_t vrf, uint8_t family,
		    uint8_t proto, uint16_t port, const uint8_t *addr)
{
	memset(k, 0, sizeof(*k));
	k->vrf = vrf;
	k->family = family;
	k->kind = kind;
	k->proto = proto;
	k->port = port;
	memcpy(k->addr, addr, alen(family));
}

/* The value of a NAT key: service id or floating IP index; -1 absent. */
static int64_t nat_find(const struct vr_router *r, const struct vr_nat_key *k)
{
	void *d;
	if (!r->nat || rte_hash_lookup_data(r->nat->hash, k, &d) < 0)
		return -1;
	return (int64_t)(uintptr_t)d;
}

/* Count a service's virtual IP in or out of the VIP entries (no failure
 * below the table's size, which has room for every service). */
static void vip_ref(struct vr_router *r, uint16_t vrf, uint8_t family, const uint8_t *vip, int d)
{
	struct vr_nat_key k;
	nat_key(&k, NAT_VIP, vrf, family, 0, 0, vip);
	int64_t n = nat_find(r, &k);
	n = (n < 0 ? 0 : n) + d;
	if (n > 0)
		rte_hash_add_key_data(r->nat->hash, &k, (void *)(uintptr_t)n);
	else
		rte_hash_del_key(r->nat->hash, &k);
}

bool vr_nat_owns(const struct vr_router *r, uint16_t vrf, uint8_t family, const uint8_t *addr)
{
	struct vr_nat_key k;
	if (!r->nat || !r->vrfs[vrf].n_nat)
		return false;
	nat_key(&k, NAT_VIP, vrf, family, 0, 0, addr);
	if (nat_find(r, &k) > 0)
		return true;
	nat_key(&k, NAT_FIP, vrf, family, 0, 0, addr);
	return nat_find(r, &k) >= 0;
}

/* ---- services ---- */

/*
 * Maglev (Eisenbud et al., NSDI 2016): every backend walks its own
 * permutation of the table's slots (offset + j * skip, M prime) and takes the
 * next free slot in turn; a backend of weight w takes w turns per round.
 * Each backend ends with its share of the slots, and a change of the set
 * moves few slots.
 */
static uint16_t *maglev_build(const struct vr_backend *b, uint16_t n)
{
	const uint32_t m = VR_MAGLEV_SIZE;
	uint16_t *t = malloc(m * sizeof(*t));
	uint32_t *off = malloc(n * sizeof(*off)), *skip = malloc(n * sizeof(*skip));
	uint32_t *next = calloc(n, sizeof(*next));
	if (!t || !off || !skip || !next) {
		free(t);
		t = NULL;
		goto out;
	}
	for (uint16_t i = 0; i < n; i++) {
		uint8_t id[18];
		memcpy(id, b[i].addr.a, 16);
		vr_wr16(id + 16, b[i].port);
		off[i] = rte_hash_crc(id, sizeof(id), 0x5bd1e995u) % m;
		skip[i] = rte_hash_crc(id, sizeof(id), 0x1b873593u) % (m - 1) + 1;
	}
	for (uint32_t j = 0; j < m; j++)
		t[j] = UINT16_MAX;
	uint32_t filled = 0;
	while (filled < m) {
		for (uint16_t i = 0; i < n && filled < m; i++) {
			unsigned turns = b[i].weight ? b[i].weight : 1;
			for (unsigned w = 0; w < turns && filled < m; w++) {
				uint32_t c;
				do {
					c = (uint32_t)(((uint64_t)off[i] + (uint64_t)next[i] * skip[i]) % m);
					next[i]++;
				} while (t[c] != UINT16_MAX);
				t[c] = i;
				filled++;
			}
		}
	}
out:
	free(off);
	free(skip);
	free(next);
	return t;
}

static int service_check(const struct vr_router *r, const struct vr_obj_service *in,
			 struct vr_err *e)
{
	if (!in->id || in->id >= VR_MAX_SERVICES)
		return vr_errf(e, -ERANGE, "service id %u is out of range (1..%u)", in->id,
			       VR_MAX_SERVICES - 1);
	int rc = vr_vrf_check(r, in->vrf, e);
	if (rc < 0)
		return rc;
	if (in->ip.family != 4 && in->ip.family != 6)
		return vr_errf(e, -EINVAL, "service %u: ip: the virtual IP is missing or not IPv4/IPv6",
			       in->id);
	if (in->proto != 6 && in->proto != 17)
		return vr_errf(e, -EINVAL, "service %u: proto: %u is neither tcp (6) nor udp (17)",
			       in->id, in->proto);
	if (!in->dport)
		return vr_errf(e, -EINVAL, "service %u: dport: the service port is missing or 0",
			       in->id);
	if (in->backends.n > VR_SVC_MAX_BACKENDS)
		return vr_errf(e, -ERANGE, "service %u: %u backends, at most %u", in->id,
			       in->backends.n, VR_SVC_MAX_BACKENDS);
	for (uint16_t i = 0; i < in->backends.n; i++) {
		struct vr_backend b;
		vr_backend_unpack(in->backends.p + (size_t)i * VR_BACKEND_LEN, in->ip.family, &b);
		if ((rc = vr_backend_check(&b, i, e->msg, sizeof(e->msg))) < 0)
			return rc;
		for (uint16_t j = 0; j < i; j++) {
			struct vr_backend o;
			vr_backend_unpack(in->backends.p + (size_t)j * VR_BACKEND_LEN, in->ip.family, &o);
			if (!memcmp(o.addr.a, b.addr.a, 16) && o.port == b.port)
				return vr_errf(e, -EINVAL, "service %u: backend %u repeats backend %u",
					       in->id, i, j);
		}
	}
	return 0;
}

int vr_service_add(struct vr_router *r, const struct vr_obj_service *in, struct vr_err *e)
{
	int rc = service_check(r, in, e);
	if (rc < 0)
		return rc;
	struct vr_nat *n = nat_get(r, e);
	if (!n)
		return -ENOMEM;
	struct vr_nat_key k;
	nat_key(&k, NAT_SERVICE, in->vrf, in->ip.family, in->proto, in->dport, in->ip.a);
	int64_t other = nat_find(r, &k);
	if (other >= 0 && other != in->id)
		return vr_errf(e, -EEXIST, "service %u: vrf %u %s port %u already belongs to service "
			       "%u", in->id, in->vrf, in->proto == 6 ? "tcp" : "udp", in->dport,
			       (unsigned)other);
	/* Build everything new first: a failed replace changes nothing. */
	struct vr_service *s = calloc(1, sizeof(*s));
	uint16_t nb = in->backends.n;
	if (s) {
		s->backends = calloc(nb ? nb : 1, sizeof(*s->backends));
		s->flows = calloc(nb ? nb : 1, sizeof(*s->flows));
	}
	if (!s || !s->backends || !s->flows)
		goto nomem;
	for (uint16_t i = 0; i < nb; i++)
		vr_backend_unpack(in->backends.p + (size_t)i * VR_BACKEND_LEN, in->ip.family,
				  &s->backends[i]);
	if (nb && !(s->table = maglev_build(s->backends, nb)))
		goto nomem;
	s->id = in->id;
	s->vrf = in->vrf;
	s->family = in->ip.family;
	s->proto = in->proto;
	s->port = in->dport;
	s->n_backends = nb;
	memcpy(s->vip, in->ip.a, 16);

	struct vr_service *old = n->services[in->id];
	if (old) {
		/* counters follow the backends that stay */
		for (uint16_t i = 0; i < nb; i++)
			for (uint16_t j = 0; j < old->n_backends; j++)
				if (!memcmp(&old->backends[j].addr, &s->backends[i].addr,
					    sizeof(s->backends[i].addr)) &&
				    old->backends[j].port == s->backends[i].port)
					s->flows[i] = old->flows[j];
	}
	/* the NAT table has room for every service id: adding cannot fail */
	if (rte_hash_add_key_data(n->hash, &k, (void *)(uintptr_t)in->id) < 0)
		goto nomem;
	if (old) {
		struct vr_nat_key ok;
		nat_key(&ok, NAT_SERVICE, old->vrf, old->family, old->proto, old->port, old->vip);
		if (memcmp(&ok, &k, sizeof(k)))
			rte_hash_del_key(n->hash, &ok);
		r->vrfs[old->vrf].n_nat--;
		vip_ref(r, old->vrf, old->family, old->vip, -1);
	}
	vip_ref(r, in->vrf, in->ip.family, in->ip.a, +1);
	r->vrfs[in->vrf].n_nat++;
	n->services[in->id] = s;
	if (old) {
		free(old->backends);
		free(old->flows);
		free(old->table);
		free(old);
		vr_flow_reeval_all(r); /* flows of removed backends go */
	} else {
		n->n_services++;
	}
	return 0;
nomem:
	if (s) {
		free(s->backends);
		free(s->flows);
		free(s->table);
		free(s);
	}
	return vr_errf(e, -ENOMEM, "service %u: out of memory", in->id);
}

int vr_service_del(struct vr_router *r, uint32_t id, struct vr_err *e)
{
	struct vr_service *s = vr_service_get(r, id);
	if (!s)
		return vr_errf(e, -ENOENT, "no service %u", id);
	struct vr_nat_key k;
	nat_key(&k, NAT_SERVICE, s->vrf, s->family, s->proto, s->port, s->vip);
	rte_hash_del_key(r->nat->hash, &k);
	vip_ref(r, s->vrf, s->family, s->vip, -1);
	r->vrfs[s->vrf].n_nat--;
	r->nat->services[id] = NULL;
	r->nat->n_services--;
	free(s->backends);
	free(s->flows);
	free(s->table);
	free(s);
	vr_flow_reeval_all(r);
	return 0;
}

/* ---- floating IPs ---- */

static int fip_check(const struct vr_router *r, const struct vr_obj_fip *in, struct vr_err *e)
{
	int rc = vr_vrf_check(r, in->vrf, e);
	if (rc < 0)
		return rc;
	if (in->ip.family != 4 && in->ip.family != 6)
		return vr_errf(e, -EINVAL, "floating IP: ip: the floating address is missing or not "
			       "IPv4/IPv6");
	if (in->nat_ip.family != in->ip.family)
		return vr_errf(e, -EINVAL, "floating IP: nat_ip: the pod's address is missing or not "
			       "of the floating address's family");
	const struct vr_vif *v = vr_vif_get(r, in->vif);
	if (!v)
		return vr_errf(e, -ENOENT, "floating IP: vif %u does not exist", in->vif);
	if (v->cfg.type == VR_VIF_FABRIC || v->cfg.type == VR_VIF_HOST)
		return vr_errf(e, -EINVAL, "floating IP: vif %u is not a pod's vif", in->vif);
	if (v->cfg.vrf == in->vrf)
		return vr_errf(e, -EINVAL, "floating IP: vrf %u is the pod's own vrf; a floating IP "
			       "joins another network", in->vrf);
	return 0;
}

static void fip_unlink(struct vr_router *r, uint32_t idx)
{
	struct vr_fip *f = &r->nat->fips[idx];
	struct vr_vif *v = vr_vif_get(r, f->vif);
	if (!v)
		return;
	uint32_t *pp = &v->fip_head;
	while (*pp && *pp != idx + 1)
		pp = &r->nat->fips[*pp - 1].next;
	if (*pp)
		*pp = f->next;
	v->n_fips--;
}

int vr_fip_add(struct vr_router *r, const struct vr_obj_fip *in, struct vr_err *e)
{
	int rc = fip_check(r, in, e);
	if (rc < 0)
		return rc;
	struct vr_nat *n = nat_get(r, e);
	if (!n)
		return -ENOMEM;
	if (!n->fips && !(n->fips = calloc(VR_MAX_FIPS, sizeof(*n->fips))))
		return vr_errf(e, -ENOMEM, "floating IP: out of memory");
	struct vr_nat_key k;
	nat_key(&k, NAT_FIP, in->vrf, in->ip.family, 0, 0, in->ip.a);
	int64_t idx = nat_find(r, &k);
	bool replace = idx >= 0;
	if (!replace) {
		if (n->n_fips >= VR_MAX_FIPS)
			return vr_errf(e, -ENOSPC, "floating IP: the table is full (%u)", VR_MAX_FIPS);
		for (idx = 0; n->fips[idx].used; idx++)
			;
		if (rte_hash_add_key_data(n->hash, &k, (void *)(uintptr_t)idx) < 0)
			return vr_errf(e, -ENOSPC, "floating IP: the NAT table is full");
		n->n_fips++;
		r->vrfs[in->vrf].n_nat++;
	} else {
		fip_unlink(r, (uint32_t)idx);
	}
	struct vr_fip *f = &n->fips[idx];
	memset(f, 0, sizeof(*f));
	f->used = 1;
	f->family = in->ip.family;
	f->vrf = in->vrf;
	memcpy(f->addr, in->ip.a, 16);
	memcpy(f->pod, in->nat_ip.a, 16);
	f->vif = in->vif;
	struct vr_vif *v = vr_vif_get(r, in->vif);
	f->next = v->fip_head;
	v->fip_head = (uint32_t)idx + 1;
	v->n_fips++;
	if (replace)
		vr_flow_reeval_all(r);
	return 0;
}

int vr_fip_del(struct vr_router *r, const struct vr_obj_fip *in, struct vr_err *e)
{
	struct vr_nat_key k;
	if (in->ip.family != 4 && in->ip.family != 6)
		return vr_errf(e, -EINVAL, "floating IP: ip: the floating address is missing");
	nat_key(&k, NAT_FIP, in->vrf, in->ip.family, 0, 0, in->ip.a);
	int64_t idx = nat_find(r, &k);
	if (idx < 0)
		return vr_errf(e, -ENOENT, "no floating IP with that address in vrf %u", in->vrf);
	fip_unlink(r, (uint32_t)idx);
	rte_hash_del_key(r->nat->hash, &k);
	memset(&r->nat->fips[idx], 0, sizeof(r->nat->fips[idx]));
	r->nat->n_fips--;
	r->vrfs[in->vrf].n_nat--;
	vr_flow_reeval_all(r);
	return 0;
}

/* ---- flows ---- */

const struct vr_service *vr_nat_flow_service(const struct vr_router *r, const struct vr_conn *c,
					     const struct vr_flow_key *k)
{
	struct vr_nat_key nk;
	if (!(c->nat & VR_NAT_DST) || (k->proto != 6 && k->proto != 17))
		return NULL;
	nat_key(&nk, NAT_SERVICE, k->vrf, k->family, k->proto, k->dport, k->dst);
	int64_t id = nat_find(r, &nk);
	return id >= 0 ? vr_service_get(r, (uint32_t)id) : NULL;
}

bool vr_nat_flow_valid(const struct vr_router *r, uint32_t fid)
{
	const struct vr_conn *c = vr_flow_conn(&r->flow, fid);
	struct vr_flow_key fk, rk;
	struct vr_nat_key k;
	int64_t i;
	if (!c->nat)
		return true;
	vr_flow_key_get(&r->flow, fid & ~1u, &fk);
	vr_flow_key_get(&r->flow, fid | 1u, &rk);
	size_t n = alen(fk.family);
	const struct vr_service *s = vr_nat_flow_service(r, c, &fk);
	if (s) {
		for (uint16_t b = 0; b < s->n_backends; b++)
			if (!memcmp(s->backends[b].addr.a, rk.src, n) &&
			    (s->backends[b].port ? s->backends[b].port : s->port) == rk.sport)
				return true;
		return false;
	}
	/* a floating IP: inbound (forward key's destination) or outbound (reverse key's) */
	bool inbound = c->nat & VR_NAT_DST;
	const struct vr_flow_key *pub = inbound ? &fk : &rk;
	const uint8_t *pod = inbound ? rk.src : fk.src;
	nat_key(&k, NAT_FIP, pub->vrf, pub->family, 0, 0, pub->dst);
	if ((i = nat_find(r, &k)) < 0)
		return false;
	return !memcmp(r->nat->fips[i].pod, pod, n);
}

/* ---- the stage ---- */

/* One's-complement update of a checksum field for a change of n bytes (even). */
static void csum_replace(uint8_t *csum, const uint8_t *old, const uint8_t *new, size_t n)
{
	uint32_t sum = (uint16_t)~vr_rd16(csum);
	for (size_t i = 0; i < n; i += 2) {
		sum += (uint16_t)~vr_rd16(old + i);
		sum += vr_rd16(new + i);
	}
	vr_wr16(csum, vr_csum_fold(sum));
}

/*
 * Rewrite the packet's source (VR_NAT_SRC) or destination (VR_NAT_DST) to the
 * mirror of the other direction's key o: the new source is o's destination,
 * the new destination o's source. IPv4 header, TCP, UDP and ICMPv6 checksums
 * follow; ICMP echo identifiers never change (floating IPs keep ports). A
 * fragment after the first (frag_rest) has no L4 header: addresses only (the
 * first fragment's L4 checksum already covers the whole datagram).
 */
static void nat_rewrite(struct vr_pkt *pkt, uint8_t nat, const struct vr_flow_key *o,
			const struct vr_l4 *l4h)
{
	uint8_t *ip = pkt->data + pkt->l3_off;
	bool frag_rest = l4h->frag == VR_FRAG_REST;
	uint32_t avail = frag_rest ? 0 : (uint32_t)(pkt->len - pkt->l3_off);
	bool v4 = pkt->l3 == 4;
	size_t n = v4 ? 4 : 16;
	uint32_t l4 = l4h->off;
	uint8_t proto = l4h->proto;
	uint8_t *csum = NULL;
	bool ports = (proto == 6 || proto == 17) && !frag_rest;
	if (proto == 6 && avail >= l4 + 18)
		csum = ip + l4 + 16;
	else if (proto == 17 && avail >= l4 + 8)
		csum = ip + l4 + 6;
	else if (proto == 58 && avail >= l4 + 4)
		csum = ip + l4 + 2;
	bool udp0 = proto == 17 && v4 && csum && vr_rd16(csum) == 0; /* no checksum: keep none */
	if (udp0)
		csum = NULL;
	for (int dir = 0; dir < 2; dir++) {
		uint8_t bit = dir ? VR_NAT_DST : VR_NAT_SRC;
		if (!(nat & bit))
			continue;
		uint8_t *a = ip + (v4 ? (dir ? 16 : 12) : (dir ? 24 : 8));
		const uint8_t *na = dir ? o->src : o->dst;
		uint16_t np = dir ? o->sport : o->dport;
		if (v4)
			csum_replace(ip + 10, a, na, 4);
		if (csum)
			csum_replace(csum, a, na, n);
		memcpy(a, na, n);
		if (ports && avail >= l4 + 4) {
			uint8_t *p = ip + l4 + (dir ? 2 : 0);
			uint8_t np_b[2];
			vr_wr16(np_b, np);
			if (csum)
				csum_replace(csum, p, np_b, 2);
			memcpy(p, np_b, 2);
		}
	}
	if (csum && proto == 17 && vr_rd16(csum) == 0)
		vr_wr16(csum, 0xffff); /* a computed 0 is sent as all ones (RFC 768) */
}

/*
 * The first packet of a connection in a NAT VRF (or from a vif with floating
 * IPs): decide its translation and create the flow. A service's VIP and port
 * take a backend; a floating IP's address takes the pod's; a pod with
 * floating IPs reaching an address its own VRF has no route for, but a
 * floating IP's VRF has, goes out as that floating IP. Returns the flow index,
 * or VR_FLOW_NONE with *why.
 */
static uint32_t nat_new(struct vr_router *r, const struct vr_vif *in, struct vr_pkt *pkt,
			const struct vr_flow_key *k, uint32_t ksig, enum vr_drop_reason *why)
{
	struct vr_flow_key rk;
	uint8_t nat = 0;
	struct vr_nat_key nk;
	int64_t v;
	size_t n = alen(k->family);
	vr_flow_reverse_key(k, &rk);
	if (r->vrfs[k->vrf].n_nat && (k->proto == 6 || k->proto == 17)) {
		nat_key(&nk, NAT_SERVICE, k->vrf, k->family, k->proto, k->dport, k->dst);
		if ((v = nat_find(r, &nk)) >= 0) {
			struct vr_service *s = r->nat->services[v];
			if (!s->table) {
				*why = VR_DROP_NO_BACKEND;
				return VR_FLOW_NONE;
			}
			if (!pkt->hash)
				pkt->hash = vr_flow_hash(pkt);
			uint32_t slot = pkt->hash % VR_MAGLEV_SIZE;
			uint16_t b = s->table[slot];
			/* A backend reaching its own service goes to another backend: its
			 * own address as source and destination would not come back. */
			for (unsigned t = 0; s->n_backends > 1 && t < VR_MAGLEV_SIZE &&
			     !memcmp(s->backends[b].addr.a, k->src, n); t++)
				b = s->table[(slot + t + 1) % VR_MAGLEV_SIZE];
			memcpy(rk.src, s->backends[b].addr.a, n);
			rk.sport = s->backends[b].port ? s->backends[b].port : s->port;
			s->flows[b]++;
			nat = VR_NAT_DST;
		}
	}
	if (!nat && r->vrfs[k->vrf].n_nat) {
		nat_key(&nk, NAT_FIP, k->vrf, k->family, 0, 0, k->dst);
		if ((v = nat_find(r, &nk)) >= 0) {
			const struct vr_fip *f = &r->nat->fips[v];
			const struct vr_vif *pv = vr_vif_get(r, f->vif);
			memcpy(rk.src, f->pod, n);
			rk.vrf = pv ? pv->cfg.vrf : k->vrf;
			nat = VR_NAT_DST;
		}
	}
	if (!nat && in->n_fips && !vr_route_lookup(r, k->vrf, k->family, k->dst)) {
		for (uint32_t i = in->fip_head; i; i = r->nat->fips[i - 1].next) {
			const struct vr_fip *f = &r->nat->fips[i - 1];
			if (f->family == k->family && !memcmp(f->pod, k->src, n) &&
			    vr_route_lookup(r, f->vrf, f->family, k->dst)) {
				memcpy(rk.dst, f->addr, n);
				rk.vrf = f->vrf;
				nat = VR_NAT_SRC;
				break;
			}
		}
	}
	uint32_t fid = vr_flow_create(r, k, ksig, &rk, why);
	if (fid == VR_FLOW_NONE)
		return fid;
	struct vr_conn *c = vr_flow_conn(&r->flow, fid);
	c->nat = nat; /* the reply undoes it (vr_conn_nat) */
	c->in_vif = (uint16_t)in->cfg.id;
	return fid;
}

/* Fragments (IPv4 and IPv6): the first one's flow, found again by the ones
 * after it. TCP is left out (it avoids fragmenting, and its state tracking
 * reads the L4 header). */
static void frag_key(struct vr_frag_key *k, const struct vr_pkt *pkt, const struct vr_l4 *l4)
{
	memset(k, 0, sizeof(*k));
	k->vrf = pkt->vrf;
	k->family = pkt->l3;
	k->proto = l4->proto;
	k->id = l4->id;
	vr_pkt_addrs(pkt, k->src, k->dst);
}

static struct vr_nat_frag *frag_slot(struct vr_nat *nat, const struct vr_frag_key *k)
{
	return &nat->frags[rte_hash_crc(k, sizeof(*k), 0) % VR_NAT_FRAGS];
}

static void frag_note(struct vr_router *r, const struct vr_pkt *pkt, const struct vr_l4 *l4,
		      uint32_t flow)
{
	struct vr_frag_key k;
	frag_key(&k, pkt, l4);
	struct vr_nat_frag *e = frag_slot(r->nat, &k);
	e->key = k;
	e->used = 1;
	e->flow = flow;
	e->t_ms = r->now_ms;
}

/* The flow of a fragment after the first, VR_FLOW_NONE when unknown. */
static uint32_t frag_flow(struct vr_router *r, const struct vr_pkt *pkt, const struct vr_l4 *l4)
{
	struct vr_frag_key k;
	frag_key(&k, pkt, l4);
	const struct vr_nat_frag *e = frag_slot(r->nat, &k);
	if (!e->used || memcmp(&e->key, &k, sizeof(k)) || r->now_ms - e->t_ms > 2000 ||
	    !(vr_flow_conn(&r->flow, e->flow)->flags & VR_CONN_USED))
		return VR_FLOW_NONE;
	return e->flow;
}

/* The packet belongs to flow fi: translate it when the flow says so. */
static void nat_apply(struct vr_router *r, struct vr_pkt *pkt, uint32_t fi, const struct vr_l4 *l4)
{
	uint8_t nat = vr_conn_nat(vr_flow_conn(&r->flow, fi), vr_flow_dir(fi));
	pkt->flow = fi + 1;
	if (!nat)
		return;
	struct vr_flow_key o;
	vr_flow_key_get(&r->flow, vr_flow_rev(fi), &o);
	nat_rewrite(pkt, nat, &o, l4);
	if ((nat & VR_NAT_DST) || pkt->vrf != o.vrf)
		pkt->kind = VR_K_ROUTE; /* a new destination or VRF: route it again */
	pkt->vrf = o.vrf;
}

/*
 * Before the route lookup: packets in a VRF with services or floating IPs, or
 * from a vif with floating IPs, are looked up in the flow table in bulk; new
 * connections get their flow (and translation) here; translated packets are
 * rewritten and move to their new VRF, to be routed there. pkt->flow tells the
 * flow stage which flow a packet belongs to.
 */
void vr_stage_nat(struct vr_router *r, const struct vr_vif *in, struct vr_pkt **pkts, uint16_t n)
{
	if (!r->nat || (!r->nat->n_services && !r->nat->n_fips))
		return;
	struct vr_flows *ft = &r->flow;
	struct vr_flow_key keys[VR_BURST];
	struct vr_l4 l4[VR_BURST];
	uint32_t sig[VR_BURST], found[VR_BURST];
	uint16_t idx[VR_BURST];
	unsigned m = 0, made = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct vr_pkt *pkt = pkts[i];
		/* Routed packets only: a service VIP and a floating IP are reached
		 * through the router (the proxy answers ARP/ND for them with the
		 * vrouter MAC, and a floating IP lives in another VRF), so a bridged
		 * frame is addressed to a pod's own address and has nothing to
		 * translate; the flow stage still applies policies to it. */
		if (!pkt || (pkt->kind != VR_K_ROUTE && pkt->kind != VR_K_NH) ||
		    (pkt->flags & VR_PF_L2) || (pkt->l3 != 4 && pkt->l3 != 6))
			continue;
		if (!r->vrfs[pkt->vrf].n_nat && !in->n_fips)
			continue;
		if (!vr_pkt_l4(pkt, &l4[m]))
			continue;
		if (l4[m].frag == VR_FRAG_REST) {
			/* a fragment after the first: its datagram's flow, if the first came */
			uint32_t fi = l4[m].proto != 6 ? frag_flow(r, pkt, &l4[m]) : VR_FLOW_NONE;
			if (fi != VR_FLOW_NONE)
				nat_apply(r, pkt, fi, &l4[m]);
			continue;
		}
		if (!vr_flow_key_from(pkt, &l4[m], &keys[m]))
			continue;
		idx[m++] = i;
	}
	if (!m)
		return;
	vr_flow_lookup_bulk(ft, keys, m, found, sig);
	for (unsigned j = 0; j < m; j++) {
		struct vr_pkt *pkt = pkts[idx[j]];
		uint32_t fi = found[j];
		if (fi == VR_FLOW_NONE && made) /* an earlier packet of the burst made it? */
			fi = vr_flow_lookup(ft, &keys[j], sig[j]);
		if (fi == VR_FLOW_NONE) {
			enum vr_drop_reason why = VR_DROP_NONE;
			fi = nat_new(r, in, pkt, &keys[j], sig[j], &why);
			made++;
			if (fi == VR_FLOW_NONE) {
				vr_pkt_drop(r, pkt, why);
				pkts[idx[j]] = NULL;
				continue;
			}
		}
		if (l4[j].frag == VR_FRAG_FIRST && l4[j].proto != 6)
			frag_note(r, pkt, &l4[j], fi); /* the rest follow its flow */
		nat_apply(r, pkt, fi, &l4[j]);
	}
}
