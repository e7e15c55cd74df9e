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
 * destination ("advertised to"), enough to send withdrawals exactly once: a
 * peer set (bgp_pset below) that costs one inline 64-bit word while only
 * peers 0..62 hold the destination, and spills to an out-of-line bitmap
 * past that (why not update groups: docs/ARCHITECTURE.md, tern-control).
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

/* Peer indexes (uint16_t in paths). The daemon allocates its peers as they
 * are configured; only struct bgp_rib_peer (64 bytes) is a table of
 * this size. */
#define BGP_MAX_PEERS 4096
/* The pseudo-peer of the routes tern originates itself (routing instances):
 * the last index, so sessions get 0 .. BGP_MAX_PEERS - 2. */
#define BGP_RIB_LOCAL (BGP_MAX_PEERS - 1)
#define BGP_DEFAULT_LOCAL_PREF 100

/*
 * A set of peers, as held in each destination's Adj-RIB-Out (and in each
 * ADD-PATH entry): one 64-bit word.
 * - 0: the empty set;
 * - bit 0 set: peers 0..62 inline, peer i in bit i + 1 (no allocation: what
 *   a destination costs with up to 63 peers, the common case);
 * - else: a pointer to a malloc'd struct bgp_pbits (bit i of word i / 64 is
 *   peer i), once a peer from 63 up holds the destination.
 * Peers that went down are taken out one by one (bgp_pset_del), and a
 * bitmap left empty is freed, so "empty" is always 0.
 */
struct bgp_pbits {
	uint32_t nw;                 /* words in w */
	uint64_t w[];
};

static inline bool bgp_pset_has(uint64_t s, unsigned peer)
{
	if (s & 1)
		return peer < 63 && ((s >> (peer + 1)) & 1);
	if (!s)
		return false;
	const struct bgp_pbits *b = (const struct bgp_pbits *)(uintptr_t)s;
	return peer / 64 < b->nw && ((b->w[peer / 64] >> (peer % 64)) & 1);
}
/* Add peer to *s. Returns 0 or -ENOMEM (*s unchanged). */
int bgp_pset_add(uint64_t *s, unsigned peer);
/* Take peer out of *s (frees a bitmap left empty). */
void bgp_pset_del(uint64_t *s, unsigned peer);
/* Empty *s, freeing its bitmap. */
void bgp_pset_free(uint64_t *s);

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
 * identifier sent, the peers that hold it (a bgp_pset). Allocated only
 * when a peer that negotiated ADD-PATH got a path of the destination. */
struct bgp_apout {
	uint32_t n, cap;
	struct bgp_apout_ent {
		uint32_t id;
		uint64_t peers;      /* bgp_pset */
	} e[];
};

struct bgp_dest {
	struct bgp_dest *hnext;
	struct bgp_dest *dnext;      /* dirty list; non-NULL iff dirty (the last one holds
				      * an end marker): no flag, so that a destination is
				      * 120 bytes, one 128-byte malloc chunk */
	struct bgp_prefix p;
	struct bgp_path *paths;
	struct bgp_path *best;
	struct bgp_apout *ap;        /* ADD-PATH peers' Adj-RIB-Out; NULL: none */
	uint64_t adv;                /* Adj-RIB-Out: peers that have it (without ADD-PATH),
				      * a bgp_pset */
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

/* ADD-PATH Adj-RIB-Out (struct bgp_apout): record that peer holds (on) or
 * no longer holds (off) path identifier id of d. Returns 0 or -ENOMEM (only
 * when adding). */
int bgp_rib_ap_mark(struct bgp_dest *d, uint32_t id, uint16_t peer, bool on);
/* Forget that peer holds anything of d (it went down or was removed):
 * Adj-RIB-Out bit and ADD-PATH entries. */
void bgp_rib_dest_forget(struct bgp_dest *d, uint16_t peer);

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
