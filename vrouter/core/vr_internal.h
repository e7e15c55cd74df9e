/*
 * DOC: vr_internal.h — the core's tables and the functions its files share.
 * Not for use outside vrouter/core/.
 */
#ifndef TERN_VR_INTERNAL_H
#define TERN_VR_INTERNAL_H

#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_prefetch.h>
#ifdef __SSE4_2__
#include <nmmintrin.h>
#else
#include <rte_hash_crc.h>
#endif
#include "vr_core.h"

#if RTE_BYTE_ORDER != RTE_LITTLE_ENDIAN
#error "vr_rd16 and friends swap bytes unconditionally: a big-endian host needs them without"
#endif

struct rte_lpm6;
struct rte_hash;
struct rte_acl_ctx;

#define ETH_HLEN 14
#define ETH_P_IPV4 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86dd
#define ETH_P_MPLS 0x8847
#define ETH_P_VLAN 0x8100
#define IPPROTO_GRE_ 47
#define UDP_PORT_MPLS 6635
#define UDP_PORT_VXLAN 4789
/* outer headers (IPv6 VXLAN: 70 bytes) and the inner Ethernet header a
 * routed VXLAN packet gets */
#define VR_TUNNEL_HDR_MAX 96

struct vr_vif {
	struct vr_obj_vif cfg;    /* as added (replies echo it) */
	uint16_t port_id;
	bool has_port;
	uint32_t refcnt;          /* nexthops pointing at it */
	uint32_t fip_head;        /* its floating IPs: index + 1 of the first, 0 none */
	uint32_t n_fips;
};

struct vr_vrf {
	bool used;
	uint32_t flags;           /* VR_VRF_F_* */
	uint32_t flood_nh;
	uint32_t vni;
	uint32_t n_nat;           /* services and floating IPs in it: its packets go through the
				   * flow table (the NAT stage) */
};

struct vr_nh {
	struct vr_obj_nh cfg;
	uint32_t refcnt;          /* routes, labels, bridge entries, composites, vrfs */
	/* TUNNEL: the outer headers, prebuilt; per packet only lengths,
	 * checksum and source port change. */
	uint8_t hdr[VR_TUNNEL_HDR_MAX];
	uint16_t hdr_len;         /* the outer headers */
	uint16_t inner_eth;       /* VXLAN: the inner Ethernet header of a routed packet
				   * follows them in hdr (ETH_HLEN), else 0 */
	uint16_t mtu;             /* of the fabric vif, for the path MTU check */
	uint16_t ip_room;         /* the largest routed IP packet that fits mtu encapsulated */
	uint8_t udp4;             /* MPLSoUDP or VXLAN in IPv4: the common case, fewer tests */
	uint32_t ip_csum_base;    /* IPv4 outer: the header's sum without its total length */
};

/* A route slot: the value stored in the FIB's LPMs (21 bits in rte_lpm6). */
struct vr_route {
	uint32_t nh;              /* 0: slot free */
	uint32_t flags;
	uint16_t vrf;
	uint8_t family;
	uint8_t plen;
	uint8_t prefix[16];
	uint8_t mac[6];
};

/* IPv4 /32 routes by exact match (vr_fib.c). */
struct vr_host4 {
	struct vr_host4_ent {
		uint64_t key;             /* vrf << 32 | address as stored in the packet */
		uint32_t slot;            /* the route's slot; 0: an empty place */
		uint32_t pad_;
	} *ent;
	uint32_t mask;                /* places - 1 (a power of 2) */
	uint32_t n;                   /* routes in it */
};

struct vr_fib {
	struct rte_lpm6 *lpm4;    /* key: vrf (16 bits) | IPv4 address, depth 16 + plen */
	struct rte_lpm6 *lpm6;    /* key: vrf (16 bits) | IPv6 bits 0..111, plen <= 112 */
	struct vr_host4 host4;    /* IPv4 /32 routes (not in lpm4) */
	struct rte_hash *host6;   /* key: vrf | IPv6 address, /128 routes (not in lpm6) */
	struct rte_hash *rib;     /* key: struct vr_route_key -> slot */
	struct vr_route *slots;
	uint32_t n_slots;
	uint32_t *free_slots;     /* stack of free slot indices */
	uint32_t n_free;
	uint32_t n_routes;
};

/* A flow: one direction of a connection, keyed by VRF + 5-tuple. The working
 * form of a key (40 bytes, a multiple of 8: rte_hash_crc hashes it in 8-byte
 * words); the IPv4 table stores only its first 16 bytes' worth (vr_flow.c). */
struct vr_flow_key {
	uint16_t vrf;
	uint8_t family;
	uint8_t proto;
	uint16_t sport;          /* ICMP: the echo identifier, in both directions */
	uint16_t dport;
	uint8_t src[16];
	uint8_t dst[16];
};

enum vr_flow_state {
	VR_FS_NEW = 0, VR_FS_SYN = 1, VR_FS_ESTABLISHED = 2, VR_FS_FIN = 3, VR_FS_CLOSED = 4,
	VR_FS_OTHER = 5,          /* UDP, ICMP and the rest: no handshake to track */
};

#define VR_VIF_NONE 0xffffu

/* A flow id names one direction of a connection: conn index << 1 | dir, dir 0
 * the direction of the first packet (the initiator), so the reverse of flow
 * id f is f ^ 1. */
#define VR_FLOW_NONE UINT32_MAX
static inline uint32_t vr_flow_rev(uint32_t fid) { return fid ^ 1u; }
static inline unsigned vr_flow_dir(uint32_t fid) { return fid & 1u; }

#define VR_CONN_USED 0x01u
#define VR_CONN_V6   0x02u        /* its keys are in the IPv6 table */
#define VR_CONN_FIN0 0x04u        /* the initiator sent FIN */
#define VR_CONN_FIN1 0x08u        /* the responder sent FIN */

/*
 * A connection: both directions in one cache line. The keys are not here:
 * each lives once, in its family's rte_hash key store, found again by the
 * position the hash gave it. So a connection costs this record plus two hash
 * entries (key, bucket slot, free-slot ring). The verdict is shared by both
 * directions, so replies need no rule.
 */
struct vr_conn {
	uint32_t pos[2];         /* each direction's key position; pos[0] of a free
				  * record: the next free record + 1 (0: none) */
	uint8_t flags;           /* VR_CONN_* */
	uint8_t state;           /* enum vr_flow_state */
	uint8_t action;          /* enum vr_action: VR_ACT_PASS or VR_ACT_DENY; 0 not decided yet */
	uint8_t nat;             /* VR_NAT_* of the first direction: its packets are rewritten to
				  * the mirror of the other direction's key (the reply undoes it) */
	uint8_t proto;
	uint8_t spare_;
	uint16_t policy;         /* the policy that decided, 0 none */
	uint16_t rule_idx;       /* in that policy; n_rules = its default action */
	uint16_t in_vif;         /* where the first packet came from */
	uint16_t out_vif;        /* the local vif the first packet went to, VR_VIF_NONE */
	uint16_t spare2_;
	uint32_t last_ms;        /* r->now_ms of the last packet, either direction (mod 2^32:
				  * only differences, all under an hour, are used) */
	uint32_t first_s;        /* r->now_ms / 1000 of the first packet */
	uint64_t pkts[2], bytes[2];
};

/* The translation of a direction's packets: the reply undoes the first's. */
static inline uint8_t vr_conn_nat(const struct vr_conn *c, unsigned dir)
{
	if (!dir)
		return c->nat;
	return (uint8_t)((c->nat & VR_NAT_SRC ? VR_NAT_DST : 0) | (c->nat & VR_NAT_DST ? VR_NAT_SRC : 0));
}

/* A policy (vr_policy.c): ordered rules, one rte_acl context per family. */
struct vr_policy {
	uint32_t id;
	uint8_t action;              /* default, when no rule matches */
	uint32_t next;               /* the next policy of its chain (a flow must pass both), 0 none */
	uint32_t n_rules;
	struct vr_rule *rules;
	uint64_t *hits;              /* n_rules + 1 (last: the default action) */
	uint64_t *denied;
	struct rte_acl_ctx *acl[2];  /* IPv4, IPv6; NULL: no rule of that family */
};

/* A service (vr_nat.c): virtual IP + port -> backends by a Maglev table. */
#define VR_MAGLEV_SIZE 4099      /* prime, >= 16 slots per backend at the most backends */
struct vr_service {
	uint32_t id;
	uint16_t vrf;
	uint8_t family, proto;
	uint16_t port;
	uint8_t vip[16];
	uint16_t n_backends;
	struct vr_backend *backends;
	uint64_t *flows;             /* new flows per backend */
	uint16_t *table;             /* VR_MAGLEV_SIZE backend indices; NULL without backends */
};

/* A floating IP (vr_nat.c). */
struct vr_fip {
	uint8_t used;
	uint8_t family;
	uint16_t vrf;                /* the public VRF */
	uint8_t addr[16];            /* the floating address */
	uint8_t pod[16];             /* the pod's own address */
	uint32_t vif;                /* the pod's vif */
	uint32_t next;               /* the vif's next floating IP: index + 1, 0 end */
};

/* Key of the NAT table (services and floating IPs), 24 bytes. */
struct vr_nat_key {
	uint16_t vrf;
	uint8_t family;
	uint8_t kind;                /* 1 service, 2 floating IP */
	uint8_t proto;               /* services; 0 for floating IPs */
	uint8_t pad_;
	uint16_t port;               /* services; 0 for floating IPs */
	uint8_t addr[16];
};

/* The flow of a datagram's first fragment, for the fragments after it (they
 * carry no ports): a direct-mapped table, entries valid 2 s. */
#define VR_NAT_FRAGS 1024
struct vr_frag_key {             /* a datagram: compared and hashed as bytes */
	uint16_t vrf;
	uint8_t family, proto;
	uint32_t id;                 /* IPv4 identification or IPv6 fragment header's */
	uint8_t src[16], dst[16];
};
struct vr_nat_frag {
	struct vr_frag_key key;
	uint32_t flow;
	uint8_t used;
	uint64_t t_ms;
};

struct vr_nat {
	struct rte_hash *hash;       /* key -> service id or floating IP index */
	struct vr_nat_frag frags[VR_NAT_FRAGS];
	struct vr_service *services[VR_MAX_SERVICES];
	uint32_t n_services;
	struct vr_fip *fips;         /* VR_MAX_FIPS, allocated with the first */
	uint32_t n_fips;
};

/* Room for either family's rte_acl search key. */
union vr_acl_key {
	uint8_t b[40];
	uint32_t align_;
};

struct vr_flows {
	struct rte_hash *hash[2];  /* IPv4 (16-byte keys), IPv6 (40-byte keys): key -> flow id */
	struct vr_conn *conns;
	uint32_t max;              /* entries: directions, 2 per connection */
	uint32_t max_conns;
	uint32_t free_head;        /* first free record + 1, 0 none */
	uint32_t n_used;           /* entries in use (2 per connection) */
	uint32_t age_pos;          /* where the incremental ageing scan resumes */
	uint32_t reeval_pos;       /* where the re-evaluation scan resumes */
	uint32_t reeval_left;      /* records still to re-evaluate (0: none pending) */
	uint32_t flush_pos, flush_left; /* a flush in progress: records still to remove */
	uint64_t created, aged, flushed; /* counters (connections) */
	/* rules with the log flag: one line per new flow they decide, at most
	 * VR_FLOW_LOG_PER_S a second (the rest counted as suppressed) */
	uint64_t log_sec, logged, log_suppressed;
	uint32_t log_in_sec;
};

struct vr_router {
	struct vr_config cfg;
	char name[VR_NAME_LEN];
	char lcores[VR_NAME_LEN];
	struct tern_log *log;
	const struct vr_host_ops *ops;
	void *host;
	time_t started;

	struct vr_vif *vifs[VR_MAX_VIFS];
	uint32_t n_vifs;
	int32_t fabric_vif;       /* -1: none */
	int32_t host_vif;

	struct vr_vrf *vrfs;      /* cfg.max_vrfs entries */
	uint32_t n_vrfs;

	struct vr_nh *nhs[VR_MAX_NEXTHOPS];
	uint32_t n_nhs;

	uint32_t *labels;         /* label -> nexthop id, 0 = none */
	uint32_t n_labels;
	struct rte_hash *vnis;    /* VNI -> vrf */
	uint32_t n_vnis;
	struct rte_hash *bridge;  /* vrf | MAC -> nexthop id */
	uint32_t n_bridge;

	struct vr_fib fib;
	struct vr_flows flow;
	uint32_t n_policy_vifs;   /* vifs whose packets go through the flow table */
	struct vr_policy *policies[VR_MAX_POLICIES];
	uint32_t n_policies;
	_Atomic uint32_t acl_seq; /* makes rte_acl context names unique (also from the
				   * control thread: vr_policy_prepare) */
	uint64_t now_ms;
	struct vr_nat *nat;       /* services and floating IPs, allocated with the first */

	uint64_t drops[VR_DROP_MAX_];
	struct vr_loop_stats loop;
	/* per-vif counters the core keeps (the port's own are in the I/O layer) */
	uint64_t vif_tx_drops[VR_MAX_VIFS];
};

/* Errors with a message: all table functions take a struct vr_err. */
struct vr_err {
	char msg[256];
};
int vr_errf(struct vr_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline struct vr_nh *vr_nh_get(const struct vr_router *r, uint32_t id)
{
	return id < VR_MAX_NEXTHOPS ? r->nhs[id] : NULL;
}

static inline struct vr_vif *vr_vif_get(const struct vr_router *r, uint32_t id)
{
	return id < VR_MAX_VIFS ? r->vifs[id] : NULL;
}

static inline bool vr_mac_is_zero(const uint8_t *m)
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
}

static inline bool vr_mac_is_mcast(const uint8_t *m)
{
	return m[0] & 1;
}

/* Read/write big-endian integers at unaligned addresses: one load or store
 * and a byte swap each (byte by byte cost 4-10 instructions a field). The
 * compiler's byte swap, not rte_be_to_cpu_*: DPDK's x86 versions are
 * `asm volatile`, which the compiler may neither fold into a comparison
 * with a constant (swapped at build time instead), nor merge, nor move. */
static inline uint16_t vr_rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return __builtin_bswap16(v);
}
static inline uint32_t vr_rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}
static inline void vr_wr16(uint8_t *p, uint16_t v)
{
	v = __builtin_bswap16(v);
	memcpy(p, &v, 2);
}
static inline void vr_wr32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

/* CRC32C steps of the hashes (flow hash, host route table). The instruction
 * itself when the build targets it: DPDK's rte_hash_crc_* check at run time
 * which one to use and are `asm volatile`, one branch and one barrier a word. */
static inline uint32_t vr_crc8(uint64_t v, uint32_t h)
{
#ifdef __SSE4_2__
	return (uint32_t)_mm_crc32_u64(h, v);
#else
	return rte_hash_crc_8byte(v, h);
#endif
}
static inline uint32_t vr_crc4(uint32_t v, uint32_t h)
{
#ifdef __SSE4_2__
	return _mm_crc32_u32(h, v);
#else
	return rte_hash_crc_4byte(v, h);
#endif
}

/* vr_pkt.c: checksums, hashing, buffer edits */
/* The one's complement of a folded one's complement sum. Inline: the
 * tunnel header's IPv4 checksum folds once a packet. */
static inline uint16_t vr_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}
uint32_t vr_csum_partial(const uint8_t *p, size_t n, uint32_t sum);
uint16_t vr_ipv4_csum(const uint8_t *ip, size_t ihl_bytes);
/* The L4 checksum over an IPv6 pseudo-header and payload. */
uint16_t vr_ipv6_l4_csum(const uint8_t *ip6, const uint8_t *l4, uint32_t l4_len, uint8_t proto);
/* Hash of the inner 5-tuple, never 0 (vr_pkt.c says how). Inline: the
 * common case, an unfragmented IPv4 packet with ports, is ~40 instructions
 * and a call cost a fifth of that. */
#define VR_FLOW_HASH_SEED 0x9747b28cu
uint32_t vr_flow_hash_parsed(const struct vr_pkt *pkt);
/* 1 for the protocols whose header begins with the two ports (TCP, UDP, SCTP). */
extern const uint8_t vr_proto_has_ports[256];
/* An unfragmented IPv4 packet whose header (avail bytes from ip) is whole. */
static inline uint32_t vr_flow_hash_ip4(const uint8_t *ip, uint32_t avail)
{
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	uint8_t proto = ip[9];
	uint64_t a;
	memcpy(&a, ip + 12, 8);
	uint32_t h = vr_crc8(a, VR_FLOW_HASH_SEED);
	if (vr_proto_has_ports[proto] && avail >= ihl + 4) {
		uint32_t p;
		memcpy(&p, ip + ihl, 4);
		h = vr_crc4(p, h);
	}
	h = vr_crc4(proto, h);
	h ^= h >> 16;
	return h ? h : 1;
}
static inline uint32_t vr_flow_hash(const struct vr_pkt *pkt)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	uint32_t avail = pkt->len > pkt->l3_off ? (uint32_t)(pkt->len - pkt->l3_off) : 0;

	/* The common case without the general parser: an unfragmented IPv4 packet. */
	if (pkt->l3 == 4 && avail >= 20 && !(vr_rd16(ip + 6) & 0x3fff))
		return vr_flow_hash_ip4(ip, avail);
	return vr_flow_hash_parsed(pkt);
}
/* The same for a routed packet, whose IP header classify checked whole
 * (l3_off + header <= len): fewer tests. */
static inline uint32_t vr_flow_hash_routed(const struct vr_pkt *pkt)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	if (pkt->l3 == 4 && !(vr_rd16(ip + 6) & 0x3fff))
		return vr_flow_hash_ip4(ip, (uint32_t)(pkt->len - pkt->l3_off));
	return vr_flow_hash_parsed(pkt);
}

/* Where a packet's transport header is, past IPv6 extension headers
 * (hop-by-hop, routing, destination options, fragment). */
struct vr_l4 {
	uint8_t proto;           /* the transport protocol */
	uint8_t frag;            /* VR_FRAG_*: 0 a whole datagram */
	uint16_t off;            /* its offset from the IP header */
	uint32_t id;             /* fragments: the datagram's identification */
};
#define VR_FRAG_FIRST 1      /* the first fragment: it has the transport header */
#define VR_FRAG_REST 2       /* a later one: no transport header */
/* false: not IP, or its headers are truncated or too many. */
bool vr_pkt_l4(const struct vr_pkt *pkt, struct vr_l4 *l4);
/* An IP packet's source and destination addresses (4 or 16 bytes each). */
static inline void vr_pkt_addrs(const struct vr_pkt *pkt, uint8_t *src, uint8_t *dst)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	size_t n = pkt->l3 == 4 ? 4 : 16;
	memcpy(src, ip + (pkt->l3 == 4 ? 12 : 8), n);
	memcpy(dst, ip + (pkt->l3 == 4 ? 16 : 24), n);
}
/* Grow the packet by n bytes at the front; false when there is no headroom. */
static inline bool vr_pkt_push(struct vr_pkt *pkt, uint16_t n)
{
	if (pkt->headroom < n)
		return false;
	pkt->data -= n;
	pkt->headroom = (uint16_t)(pkt->headroom - n);
	pkt->len = (uint16_t)(pkt->len + n);
	return true;
}

/* Remove n bytes from the front; false when the packet is shorter. */
static inline bool vr_pkt_pull(struct vr_pkt *pkt, uint16_t n)
{
	if (pkt->len < n)
		return false;
	pkt->data += n;
	pkt->headroom = (uint16_t)(pkt->headroom + n);
	pkt->len = (uint16_t)(pkt->len - n);
	return true;
}

/* Drop with a reason (counts it and frees the buffer). */
void vr_pkt_drop(struct vr_router *r, struct vr_pkt *pkt, enum vr_drop_reason why);

/* vr_vif.c */
int vr_vif_add(struct vr_router *r, struct vr_obj_vif *vif, struct vr_err *e);
int vr_vif_del(struct vr_router *r, uint32_t id, struct vr_err *e);
void vr_vif_fill(const struct vr_router *r, const struct vr_vif *v, struct vr_obj_vif *out);

/* vr_vrf.c: VRFs and the VNI table */
int vr_vrf_init(struct vr_router *r, struct vr_err *e);
void vr_vrf_fini(struct vr_router *r);
int vr_vrf_add(struct vr_router *r, const struct vr_obj_vrf *vrf, struct vr_err *e);
int vr_vrf_del(struct vr_router *r, uint32_t id, struct vr_err *e);
int vr_vrf_check(const struct vr_router *r, uint32_t id, struct vr_err *e);
int vr_vni_add(struct vr_router *r, uint32_t vni, uint16_t vrf, struct vr_err *e);
int vr_vni_del(struct vr_router *r, uint32_t vni, struct vr_err *e);
int vr_vni_lookup(const struct vr_router *r, uint32_t vni, uint16_t *vrf);
/* Iterate VNIs from *pos; returns 1 with an entry, 0 at the end. */
int vr_vni_next(const struct vr_router *r, uint32_t *pos, uint32_t *vni, uint16_t *vrf);

/* vr_nh.c */
int vr_nh_add(struct vr_router *r, const struct vr_obj_nh *nh, struct vr_err *e);
int vr_nh_del(struct vr_router *r, uint32_t id, struct vr_err *e);
/* Take / drop a reference; ref fails with -ENOENT when the nexthop is missing. */
int vr_nh_ref(struct vr_router *r, uint32_t id, struct vr_err *e, const char *who);
void vr_nh_unref(struct vr_router *r, uint32_t id);

/* vr_fib.c */
int vr_fib_init(struct vr_router *r, struct vr_err *e);
void vr_fib_fini(struct vr_router *r);
int vr_route_add(struct vr_router *r, const struct vr_obj_route *rt, struct vr_err *e);
int vr_route_del(struct vr_router *r, const struct vr_obj_route *rt, struct vr_err *e);
/* Exact-match get (vrf, prefix, plen). NULL when absent. */
const struct vr_route *vr_route_get(const struct vr_router *r, const struct vr_obj_route *key);
/* Longest-prefix match of one address; NULL when no route. */
const struct vr_route *vr_route_lookup(const struct vr_router *r, uint16_t vrf, uint8_t family,
				       const uint8_t *addr);
/* IPv4 by key, for a stage that gathers a burst's keys itself: the key of
 * (vrf, address as the packet holds it), and where its exact-match search
 * starts, prefetched (the misses of a burst's places overlap). */
#define VR_HOST4_SEED 0x6b43a9b5u
static inline uint64_t vr_route4_key(uint16_t vrf, const uint8_t *addr)
{
	uint32_t a;
	memcpy(&a, addr, 4);
	return (uint64_t)vrf << 32 | a;
}
static inline uint32_t vr_host4_home(const struct vr_host4 *t, uint64_t key)
{
	return vr_crc8(key, VR_HOST4_SEED) & t->mask;
}
static inline uint32_t vr_route4_start(const struct vr_router *r, uint64_t key)
{
	const struct vr_host4 *t = &r->fib.host4;
	uint32_t at = vr_host4_home(t, key);
	rte_prefetch0(&t->ent[at]);
	return at;
}
/* For n keys with their starts: route slot or NULL. */
void vr_route4_lookup_keyed(const struct vr_router *r, const uint64_t *key, const uint32_t *at,
			    const struct vr_route **out, unsigned n);
/* Bulk lookup: for n addresses of one family, route slot or NULL. */
void vr_route_lookup_bulk(const struct vr_router *r, uint8_t family, const uint16_t *vrf,
			  const uint8_t *const *addr, const struct vr_route **out, unsigned n);
/* Remove every route of a VRF (VRF delete). */
void vr_route_flush_vrf(struct vr_router *r, uint16_t vrf);
uint32_t vr_route_count_vrf(const struct vr_router *r, uint16_t vrf);

/* vr_flow.c */
int vr_flow_init(struct vr_router *r, struct vr_err *e);
void vr_flow_fini(struct vr_router *r);
/* Idle timeout of a connection in its state, in ms. */
uint64_t vr_flow_timeout_ms(const struct vr_conn *c);

/* Start a re-evaluation of every flow (a policy or a vif's policies changed):
 * done incrementally by vr_flow_age. */
void vr_flow_reeval_all(struct vr_router *r);
/* Remove every connection, incrementally (as ageing does): forwarding never
 * pauses; new flows are made again by their next packet. */
void vr_flow_flush(struct vr_router *r);

/* The key of a packet in the direction it travels, its transport header
 * found by vr_pkt_l4; false: untracked (a fragment after the first, a
 * truncated header). */
bool vr_flow_key_from(const struct vr_pkt *pkt, const struct vr_l4 *l4, struct vr_flow_key *k);
/* Look up n (<= VR_BURST) keys in bulk: fid[i] = their flow id or
 * VR_FLOW_NONE; sig[i] = their hash, for vr_flow_lookup and vr_flow_create. */
void vr_flow_lookup_bulk(const struct vr_flows *ft, const struct vr_flow_key *k, unsigned n,
			 uint32_t *fid, uint32_t *sig);
uint32_t vr_flow_lookup(const struct vr_flows *ft, const struct vr_flow_key *k, uint32_t sig);
/* Create a connection with the keys of its two directions; the flow id of
 * the first (direction 0), or VR_FLOW_NONE with *why (FLOW_TABLE_FULL,
 * NAT_CONFLICT). ksig: k's hash from vr_flow_lookup_bulk. */
uint32_t vr_flow_create(struct vr_router *r, const struct vr_flow_key *k, uint32_t ksig,
			const struct vr_flow_key *rk, enum vr_drop_reason *why);
/* The key of a flow's direction. */
void vr_flow_key_get(const struct vr_flows *ft, uint32_t fid, struct vr_flow_key *k);
static inline struct vr_conn *vr_flow_conn(const struct vr_flows *ft, uint32_t fid)
{
	return &ft->conns[fid >> 1];
}
void vr_flow_free(struct vr_flows *ft, uint32_t conn);
/* The id of the rule that decided a connection: 0 for a default action (or
 * a rule replaced since, until the re-evaluation reaches it). */
uint32_t vr_flow_rule_id(const struct vr_router *r, const struct vr_conn *c);
/* The key of the other direction of a connection without translation. */
void vr_flow_reverse_key(const struct vr_flow_key *k, struct vr_flow_key *rk);

/* vr_nat.c: services, floating IPs and the NAT stage */
int vr_service_add(struct vr_router *r, const struct vr_obj_service *in, struct vr_err *e);
int vr_service_del(struct vr_router *r, uint32_t id, struct vr_err *e);
static inline struct vr_service *vr_service_get(const struct vr_router *r, uint32_t id)
{
	return r->nat && id < VR_MAX_SERVICES ? r->nat->services[id] : NULL;
}
int vr_fip_add(struct vr_router *r, const struct vr_obj_fip *in, struct vr_err *e);
int vr_fip_del(struct vr_router *r, const struct vr_obj_fip *in, struct vr_err *e);
void vr_nat_fini(struct vr_router *r);
/* The service a flow's first direction was sent to (its key's destination), or NULL. */
const struct vr_service *vr_nat_flow_service(const struct vr_router *r, const struct vr_conn *c,
					     const struct vr_flow_key *k);
/* Whether addr is a service's virtual IP or a floating IP in vrf (the proxy
 * answers ARP / ND for it). */
bool vr_nat_owns(const struct vr_router *r, uint16_t vrf, uint8_t family, const uint8_t *addr);
/* Whether a NAT flow still has its service backend or floating IP (re-evaluation). */
bool vr_nat_flow_valid(const struct vr_router *r, uint32_t fid);

/* vr_policy.c */
static inline struct vr_policy *vr_policy_get(const struct vr_router *r, uint32_t id)
{
	return id < VR_MAX_POLICIES ? r->policies[id] : NULL;
}
/* Add or replace (in place) a policy. Errors: -ERANGE id or too many rules,
 * -EINVAL a bad rule (index and field named), a duplicate rule id or a chain
 * longer than VR_POLICY_MAX_CHAIN, -ENOENT a next policy that does not exist,
 * -ELOOP a next that leads back to the policy, -ENOMEM. */
/* A policy's rules decoded and checked and its classifiers built, from the
 * request alone: made by vr_policy_prepare on the control thread, taken by
 * vr_policy_add on the forwarding core. */
struct vr_policy_prep {
	uint32_t id;
	int rc;                      /* 0: ready; < 0: the request is bad (err says why) */
	struct vr_err err;
	struct vr_rule *rules;
	uint32_t n_rules;
	struct rte_acl_ctx *acl[2];
};
void vr_policy_prepare(struct vr_router *r, const struct vr_obj_policy *in, struct vr_policy_prep *pp);
void vr_policy_prep_release(struct vr_policy_prep *pp);
int vr_policy_add(struct vr_router *r, const struct vr_obj_policy *in, struct vr_policy_prep *pp,
		  struct vr_err *e);
/* -ENOENT absent, -EBUSY used by a vif or the next of another policy (named). */
int vr_policy_del(struct vr_router *r, uint32_t id, struct vr_err *e);
void vr_policy_fini(struct vr_router *r);
/* References from vifs (policy_in and policy_out count apart). */
uint32_t vr_policy_refcnt(const struct vr_router *r, uint32_t id);
/* Classify n (<= VR_BURST) flow keys of one family: idx[i] = the first
 * matching rule's index, or p->n_rules when none matches (the default). */
void vr_policy_classify(const struct vr_policy *p, uint8_t family,
			const struct vr_flow_key *const *k, uint32_t *idx, unsigned n);

static inline bool vr_vif_wants_flows(const struct vr_obj_vif *c)
{
	return (c->flags & VR_VIF_F_POLICY) || c->policy_in || c->policy_out;
}

/* vr_mpls.c */
int vr_mpls_init(struct vr_router *r, struct vr_err *e);
void vr_mpls_fini(struct vr_router *r);
int vr_mpls_add(struct vr_router *r, uint32_t label, uint32_t nh, struct vr_err *e);
int vr_mpls_del(struct vr_router *r, uint32_t label, struct vr_err *e);

/* vr_bridge.c */
int vr_bridge_init(struct vr_router *r, struct vr_err *e);
void vr_bridge_fini(struct vr_router *r);
int vr_bridge_add(struct vr_router *r, uint16_t vrf, const uint8_t *mac, uint32_t nh, struct vr_err *e);
int vr_bridge_del(struct vr_router *r, uint16_t vrf, const uint8_t *mac, struct vr_err *e);
/* Bulk lookup of n (vrf, mac); nh 0 on a miss. */
void vr_bridge_lookup_bulk(const struct vr_router *r, const uint16_t *vrf,
			   const uint8_t *const *mac, uint32_t *nh, unsigned n);
int vr_bridge_next(const struct vr_router *r, uint32_t *pos, uint16_t *vrf, uint8_t *mac, uint32_t *nh);
void vr_bridge_flush_vrf(struct vr_router *r, uint16_t vrf);

/* Pipeline stages (vr_classify.c, vr_arp.c, vr_lookup.c, vr_encap.c). Each
 * takes the burst and handles the packets of its kind; packets it drops or
 * sends are set to NULL. */
/* Returns the kinds it gave the packets it kept, a bit each (VR_KIND_BIT):
 * stages no packet of the burst needs are skipped. */
#define VR_KIND_BIT(k) (1u << (k))
unsigned vr_stage_classify(struct vr_router *r, const struct vr_vif *in, struct vr_pkt **pkts,
			   uint16_t n);
void vr_stage_nat(struct vr_router *r, const struct vr_vif *in, struct vr_pkt **pkts, uint16_t n);
void vr_stage_flow(struct vr_router *r, const struct vr_vif *in, struct vr_pkt **pkts, uint16_t n);
void vr_stage_proxy(struct vr_router *r, struct vr_pkt **pkts, uint16_t n);
void vr_stage_lookup(struct vr_router *r, struct vr_pkt **pkts, uint16_t n);
void vr_stage_nexthop(struct vr_router *r, struct vr_pkt **pkts, uint16_t n);
void vr_stage_tx(struct vr_router *r, struct vr_pkt **pkts, uint16_t n);

/* Prebuild a tunnel nexthop's outer header. */
int vr_nh_build_tunnel(struct vr_router *r, struct vr_nh *nh, struct vr_err *e);

#endif /* TERN_VR_INTERNAL_H */
