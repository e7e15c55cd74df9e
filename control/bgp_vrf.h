/*
 * DOC: bgp_vrf.h — routing instances (one per virtual network): a Loc-RIB
 * of plain IPv4/IPv6 prefixes fed from the VPN tables by route target, and
 * the routes the instance originates, exported as VPN routes with its RD and
 * export targets.
 *
 * Import: every time a VPNv4/VPNv6 destination changes (the dirty list of
 * the RIB), bgp_vrf_import() replaces what that destination contributed to
 * each instance: one instance path per VPN path that carries one of the
 * instance's import targets. An instance destination (prefix without RD)
 * may thus hold paths from several RDs; its best path is chosen with the
 * same rules as the VPN table. Instance paths hold their own reference to
 * the interned attributes, so they never point at a freed VPN path.
 *
 * Export: bgp_vrf_originate() puts the configured routes of an instance in
 * the VPN table as paths of the local pseudo-peer BGP_RIB_LOCAL; from there
 * they go out like any route, and are imported by every instance (this one
 * included) whose import targets they carry.
 */
#ifndef TERN_BGP_VRF_H
#define TERN_BGP_VRF_H

#include <stdbool.h>
#include <stdint.h>

#include "bgp_rib.h"

#define BGP_VRF_MAX 16384       /* instances (allocated as configured) */
#define BGP_VRF_MAX_RT 16       /* import or export targets per instance */
#define BGP_VRF_MAX_ROUTES 64   /* originated routes per instance */

struct bgp_vrf_route {
	struct bgp_prefix p;    /* af IPv4 or IPv6, rd zero */
	uint32_t label;
	uint8_t nh_len;         /* 4 or 16 */
	uint8_t nh[16];
};

struct bgp_vrf_conf {
	char name[128];                 /* a virtual network's fq_name fits (project:name) */
	uint32_t vni;                   /* of the virtual network (tern-api); 0: none */
	uint8_t rd[8];
	bool has_rd;
	uint8_t import[BGP_VRF_MAX_RT][8];   /* route-target extended communities */
	uint8_t export[BGP_VRF_MAX_RT][8];
	int n_import, n_export;
	struct bgp_vrf_route routes[BGP_VRF_MAX_ROUTES];
	int n_routes;
	int line;
};

struct bgp_vrf_path {
	struct bgp_vrf_path *next;
	uint8_t rd[8];                 /* of the VPN route it was imported from */
	uint16_t peer;
	uint32_t label;
	struct bgp_rattrs *attrs;      /* one reference */
};

struct bgp_vrf_dest {
	struct bgp_vrf_dest *hnext;
	struct bgp_prefix p;           /* BGP_AF_IPV4 / BGP_AF_IPV6, rd zero */
	struct bgp_vrf_path *paths, *best;
};

struct bgp_vrf {
	const struct bgp_vrf_conf *cf;
	struct bgp_vrf_dest **b;
	uint32_t nb, count;
	uint64_t mark;                 /* bgp_vrf_index: taken in this round */
	bool indexed;                  /* in a bgp_vrf_index */
};

/*
 * Which instances a changed VPN destination concerns, found without a scan
 * of every instance (there is one per virtual network, thousands): a hash
 * of route target -> the instances importing it, and one of VPN prefix
 * (with its RD) -> the instances holding paths imported from it (they must
 * drop them when the route loses its targets). Per route, the cost is one
 * lookup per extended community plus the instances really concerned.
 */
struct bgp_vrf_tent;                   /* bgp_vrf.c: an entry of either table */
struct bgp_vrf_index {
	struct bgp_vrf_tent **rt;
	uint32_t rt_nb, rt_count;
	struct bgp_vrf_tent **held;
	uint32_t held_nb, held_count;
	uint64_t gen;
	int n_vrf;                     /* instances indexed */
	struct bgp_vrf **cand;         /* scratch: this round's instances */
	int *cand_n;
	uint32_t cand_cap;
};

/* Parse "ASN:NN" or "a.b.c.d:NN" into a route-target extended community
 * (type 0x00, 0x02 for a 4-octet ASN, or 0x01) or, with rd, into a route
 * distinguisher (types 0, 2, 1). Returns 0 or -EINVAL. */
int bgp_vrf_parse_rt(const char *s, uint8_t out[8], bool rd);

/* Returns 0 or -ENOMEM. */
int bgp_vrf_init(struct bgp_vrf *v, const struct bgp_vrf_conf *cf);
void bgp_vrf_free(struct bgp_rib *rib, struct bgp_vrf *v);

/* True when the ext communities of a carry one of cf's import targets. */
bool bgp_vrf_imports(const struct bgp_vrf_conf *cf, const struct bgp_attrs *a);

/* Re-import VPN destination src (af VPNv4/VPNv6; other families are
 * ignored) into v. Returns 0 or -ENOMEM (the instance then lacks the route
 * until src changes again). */
int bgp_vrf_import(struct bgp_rib *rib, struct bgp_vrf *v, const struct bgp_dest *src);

/* The instance's destination for p (af IPv4/IPv6), NULL when none. */
struct bgp_vrf_dest *bgp_vrf_lookup(const struct bgp_vrf *v, const struct bgp_prefix *p);

/* Walk the instance's destinations of family af (BGP_AF_IPV4/IPV6); stops
 * early when fn returns non-zero (returned). */
int bgp_vrf_walk(const struct bgp_vrf *v, int af,
		 int (*fn)(const struct bgp_vrf_dest *d, void *arg), void *arg);

/* Put cf's routes in rib's VPN tables as paths of BGP_RIB_LOCAL. Returns 0
 * or -ENOMEM. */
int bgp_vrf_originate(struct bgp_rib *rib, const struct bgp_vrf_conf *cf);
/* Withdraw what bgp_vrf_originate(cf) put in the VPN tables (an instance
 * removed or changed). */
void bgp_vrf_withdraw(struct bgp_rib *rib, const struct bgp_vrf_conf *cf);
/* Import every VPNv4/VPNv6 destination of rib into v (a new or changed
 * instance). Returns 0 or -ENOMEM. */
int bgp_vrf_import_all(struct bgp_rib *rib, struct bgp_vrf *v);

/* The index (struct bgp_vrf_index) starts zeroed. Add v (by its import
 * targets, v->cf) before it imports anything; take it out before it is
 * freed or its configuration changes. add returns 0 or -ENOMEM (v then not
 * indexed). */
int bgp_vrf_index_add(struct bgp_vrf_index *x, struct bgp_vrf *v);
void bgp_vrf_index_del(struct bgp_vrf_index *x, struct bgp_vrf *v);
void bgp_vrf_index_free(struct bgp_vrf_index *x);
/* Re-import VPN destination src into every indexed instance it concerns
 * (bgp_vrf_import). Returns 0, or -ENOMEM with *failed the first instance
 * that lacks the route until src changes again. */
int bgp_vrf_index_import(struct bgp_vrf_index *x, struct bgp_rib *rib,
			 const struct bgp_dest *src, const struct bgp_vrf **failed);
/* bgp_vrf_import_all for an indexed instance. Returns 0 or -ENOMEM. */
int bgp_vrf_index_import_all(struct bgp_vrf_index *x, struct bgp_rib *rib, struct bgp_vrf *v);

#endif /* TERN_BGP_VRF_H */
