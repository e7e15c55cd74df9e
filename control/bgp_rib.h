/*
 * DOC: bgp_rib.h — routes: interned path attributes, one Loc-RIB table per
 * address family, the Adj-RIB-In of each peer, best-path selection (RFC 4271
 * §9.1.2 with RFC 4456's tie-breaks) and the export rules of a route
 * reflector (RFC 4456 §8).
 *
 * Layout: a destination (struct bgp_dest, one per prefix and family) holds
 * one path per peer that sent it; a peer's Adj-RIB-In is the list of its
 * paths (linked through the paths), so flushing a peer is a walk of its own
 * routes. Attributes are interned: paths with the same attributes share one
 * refcounted copy, and the session uses the pointer to pack prefixes with the
 * same attributes into one UPDATE. Adj-RIB-Out is one bit per peer in each
 * destination ("advertised to"), enough to send withdrawals exactly once.
 *
 * Routing instances (per virtual network tables, RT import/export) are in
 * bgp_vrf.[ch], fed from the VPN tables' dirty destinations; the routes they
 * originate are paths of the pseudo-peer BGP_RIB_LOCAL.
 */
#ifndef TERN_BGP_RIB_H
#define TERN_BGP_RIB_H

#include <stdbool.h>
#include <stdint.h>

#include "bgp_msg.h"

#define BGP_MAX_PEERS 64   /* Adj-RIB-Out is a 64-bit mask per destination */
/* The pseudo-peer of the routes tern originates itself (routing instances):
 * the last index, so sessions get 0 .. BGP_MAX_PEERS - 2. */
#define BGP_RIB_LOCAL (BGP_MAX_PEERS - 1)
#define BGP_DEFAULT_LOCAL_PREF 100

struct bgp_rattrs {                  /* interned attributes */
	struct bgp_rattrs *hnext;
	uint32_t hash, refcnt;
	struct bgp_attrs a;          /* byte views point into data */
	uint8_t data[];
};

struct bgp_dest;

struct bgp_path {
	struct bgp_path *next;       /* the destination's paths */
	struct bgp_path *pprev, *pnext; /* the peer's Adj-RIB-In */
	struct bgp_dest *dest;
	struct bgp_rattrs *attrs;
	uint32_t label;
	uint32_t path_id;            /* ADD-PATH: the peer's identifier (0 without) */
	uint32_t tx_id;              /* ADD-PATH: ours for it, unique in the destination */
	uint16_t peer;
	bool stale;                  /* graceful restart: kept from a session that went down */
};

/* ADD-PATH Adj-RIB-Out of a destination (RFC 7911): for each path
 * identifier sent, the peers that hold it (bit per peer). Allocated only
 * when a peer that negotiated ADD-PATH got a path of the destination. */
struct bgp_apout {
	uint32_t n, cap;
	struct bgp_apout_ent {
		uint32_t id;
		uint64_t peers;
	} e[];
};

struct bgp_dest {
	struct bgp_dest *hnext;
	struct bgp_dest *dnext;      /* dirty list */
	struct bgp_prefix p;
	struct bgp_path *paths;
	struct bgp_path *best;
	struct bgp_apout *ap;        /* ADD-PATH peers' Adj-RIB-Out; NULL: none */
	uint64_t adv;                /* Adj-RIB-Out: peers that have it (without ADD-PATH) */
	bool dirty;
};

struct bgp_table {
	struct bgp_dest **b;
	uint32_t nb, count;
};

/* What selection and export need to know about a peer. */
struct bgp_rib_peer {
	bool used;
	bool ebgp;
	bool rr_client;
	bool local;                  /* BGP_RIB_LOCAL: our own routes */
	uint32_t as;
	uint32_t router_id;          /* from its OPEN, host order */
	uint8_t addr[16];            /* IPv4 as ::ffff:a.b.c.d, for the last tie-break */
	struct bgp_path *paths;      /* Adj-RIB-In */
	uint32_t count[BGP_AF_COUNT];
};

struct bgp_rib {
	uint32_t local_as, router_id, cluster_id;
	struct bgp_table t[BGP_AF_COUNT];
	struct bgp_rattrs **ab;      /* attribute intern table */
	uint32_t anb, acount;
	struct bgp_rib_peer peers[BGP_MAX_PEERS];
	struct bgp_dest *dirty, *dirty_tail;
};

/* Returns 0 or -ENOMEM. */
int bgp_rib_init(struct bgp_rib *rib, uint32_t local_as, uint32_t router_id, uint32_t cluster_id);
/* Frees every destination, path and attribute. */
void bgp_rib_free(struct bgp_rib *rib);

/* One reference to the interned copy of a (fields of absent attributes are
 * ignored). NULL when out of memory. */
struct bgp_rattrs *bgp_rib_intern(struct bgp_rib *rib, const struct bgp_attrs *a);
void bgp_rib_unref(struct bgp_rib *rib, struct bgp_rattrs *ra);

/* Add or replace the path of peer for n (label and attributes a); a peer
 * has one path per destination and path identifier (n->path_id, 0 without
 * ADD-PATH). Marks the destination dirty. Returns 0 or -ENOMEM. */
int bgp_rib_update(struct bgp_rib *rib, uint16_t peer, const struct bgp_nlri *n,
		   const struct bgp_attrs *a);
/* Remove the path of peer for p (path identifier 0), if any. Returns 1 when
 * one was removed. */
int bgp_rib_withdraw(struct bgp_rib *rib, uint16_t peer, const struct bgp_prefix *p);
/* The same for path identifier path_id (ADD-PATH). */
int bgp_rib_withdraw_id(struct bgp_rib *rib, uint16_t peer, const struct bgp_prefix *p,
			uint32_t path_id);
/* Graceful restart (RFC 4724 §4.2, receiving speaker): over the paths of
 * peer in the families afs (BGP_AF_BIT set), mark them stale, remove the
 * stale ones (End-of-RIB, timer), or remove them all. A stale path becomes
 * fresh again when the peer sends it anew (bgp_rib_update). Returns how many
 * paths it touched. */
enum bgp_sweep { BGP_SWEEP_MARK_STALE, BGP_SWEEP_STALE, BGP_SWEEP_ALL };
unsigned bgp_rib_peer_sweep(struct bgp_rib *rib, uint16_t peer, uint32_t afs,
			    enum bgp_sweep how);
/* Remove every path of peer (session down). Returns how many. */
unsigned bgp_rib_peer_flush(struct bgp_rib *rib, uint16_t peer);

struct bgp_dest *bgp_rib_lookup(struct bgp_rib *rib, const struct bgp_prefix *p);
/* The next dirty destination (taken off the list), NULL when none. */
struct bgp_dest *bgp_rib_dirty_pop(struct bgp_rib *rib);
/* Free d when it has no path and no peer holds it (after its withdrawals
 * went out). */
void bgp_rib_dest_gc(struct bgp_rib *rib, struct bgp_dest *d);

/* Walk a family's table; stops early when fn returns non-zero (returned). */
int bgp_rib_walk(struct bgp_rib *rib, int af, int (*fn)(struct bgp_dest *d, void *arg),
		 void *arg);

/* Negative when path a is better than b (RFC 4271 §9.1.2.2, RFC 4456 §9). */
int bgp_path_cmp(const struct bgp_rib *rib, const struct bgp_path *a, const struct bgp_path *b);
/* True when a and b are equal up to the IGP cost (§9.1.2.2 a-e: LOCAL_PREF,
 * AS_PATH length, ORIGIN, MED, eBGP/iBGP): equal-cost paths, what ADD-PATH
 * peers get besides the best one (ECMP). */
bool bgp_path_multipath(const struct bgp_rib *rib, const struct bgp_path *a,
			const struct bgp_path *b);

/* ADD-PATH Adj-RIB-Out (struct bgp_apout): record that the peers in mask
 * hold (on) or no longer hold (off) path identifier id of d. Returns 0 or
 * -ENOMEM (only when adding). */
int bgp_rib_ap_mark(struct bgp_dest *d, uint32_t id, uint64_t mask, bool on);
/* Forget that the peers in mask hold anything of d (they went down or were
 * removed): Adj-RIB-Out bits and ADD-PATH entries. */
void bgp_rib_dest_forget(struct bgp_dest *d, uint64_t mask);

/*
 * Export rule and attribute rewrite for path p towards peer `to`:
 * - never back to the peer it came from;
 * - iBGP to iBGP only as a route reflector: from a client to everyone, from
 *   a non-client to clients only; ORIGINATOR_ID set when absent, our cluster
 *   id prepended to CLUSTER_LIST;
 * - to eBGP: our AS prepended, LOCAL_PREF / ORIGINATOR_ID / CLUSTER_LIST
 *   removed; the next hop is kept (route-server behaviour: the label belongs
 *   to the next hop, tern forwards nothing);
 * - from eBGP or from BGP_RIB_LOCAL to iBGP: LOCAL_PREF 100 when absent
 *   (our own routes go to every peer, without ORIGINATOR_ID/CLUSTER_LIST).
 * Returns true and fills out (byte views in scratch, at least BGP_MAX_MSG
 * bytes) when the path is to be advertised.
 */
bool bgp_rib_export(const struct bgp_rib *rib, const struct bgp_path *p, uint16_t to,
		    struct bgp_attrs *out, uint8_t *scratch);

/* RFC 4456 §8 loop checks on a path received from an iBGP peer: true when
 * it carries our router id as ORIGINATOR_ID or our cluster id in
 * CLUSTER_LIST, or (from eBGP) our AS in AS_PATH. */
bool bgp_rib_is_loop(const struct bgp_rib *rib, uint16_t from, const struct bgp_attrs *a);

#endif /* TERN_BGP_RIB_H */
