/*
 * DOC: vr_proto.h — the vrouter control protocol, shared by tern-vrouter,
 * ternctl and tern-agent.
 *
 * One request or reply is a 16-byte header followed by TLV attributes, all
 * integers in network byte order. The full format is documented in
 * docs/CONTROL-PROTOCOL.md; this header is its single source of truth in C.
 *
 *   header: u32 magic 'TERN' | u16 version | u16 op | u32 length | u32 seq
 *   body:   TLV*  (u16 type | u16 length of value | value, padded to 4 bytes)
 *
 * A request carries VR_A_OBJ (u16 object type) and one VR_A_OBJECT (nested
 * attributes of that object); a DUMP request carries VR_A_CURSOR instead of
 * (or besides, as a filter) the object. A reply carries VR_A_ERROR (i32,
 * 0 or a negative errno), VR_A_ERRMSG (text a user can act on) on error, zero
 * or more VR_A_OBJECT and, for a dump, VR_A_CURSOR (u64; 0 = dump complete).
 */
#ifndef TERN_VR_PROTO_H
#define TERN_VR_PROTO_H

#include <stdint.h>
#include <stddef.h>

#define VR_PROTO_MAGIC   0x5445524eu /* "TERN" */
#define VR_PROTO_VERSION 4 /* 2: policy, flow, policy_in/out, POLICY_DENY; 3: service, fip, NAT,
			    * policy chains; 4: vif port_rx */
#define VR_MSG_HDR_LEN   16
#define VR_MSG_MAX       (256 * 1024) /* largest request or reply, header included */

/* Limits the vrouter enforces; requests beyond them get -ERANGE / -EINVAL. */
#define VR_MAX_VIFS        1024
#define VR_MAX_NEXTHOPS    65536
#define VR_MAX_VRFS_LIMIT  65535       /* --vrfs may raise the default up to this */
#define VR_DEFAULT_VRFS    4096
#define VR_MAX_LABEL       ((1u << 20) - 1)
#define VR_MIN_LABEL       16          /* 0-15 are reserved (RFC 3032) */
#define VR_MAX_VNI         ((1u << 24) - 1)
#define VR_MAX_ECMP        64          /* members of one composite nexthop */
#define VR_NAME_LEN        32          /* names, including the NUL */
#define VR_PATH_LEN        108         /* a UNIX socket path, including the NUL */

enum vr_op {
	VR_OP_ADD = 1,   /* create, or replace an existing object of the same key */
	VR_OP_DEL = 2,
	VR_OP_GET = 3,
	VR_OP_DUMP = 4,
	VR_OP_REPLY = 5,
	VR_OP_CLEAR = 6, /* reset counters (vif, drop stats) */
};

enum vr_obj {
	VR_OBJ_INFO = 1,
	VR_OBJ_VIF = 2,
	VR_OBJ_VRF = 3,
	VR_OBJ_NH = 4,
	VR_OBJ_ROUTE = 5,
	VR_OBJ_MPLS = 6,
	VR_OBJ_VNI = 7,
	VR_OBJ_BRIDGE = 8,
	VR_OBJ_DROPSTATS = 9,
	VR_OBJ_POLICY = 10,  /* a stateful policy: ordered rules, evaluated per new flow */
	VR_OBJ_FLOW = 11,    /* a connection of the flow table (DUMP only) */
	VR_OBJ_SERVICE = 12, /* a virtual IP and port load-balanced over backends (DNAT) */
	VR_OBJ_FIP = 13,     /* a floating IP: 1:1 NAT between a public VRF and a pod's address */
};

/* Top-level attributes. */
enum vr_attr_top {
	VR_A_OBJ = 1,     /* u16 enum vr_obj */
	VR_A_OBJECT = 2,  /* nested: the object's attributes (below) */
	VR_A_CURSOR = 3,  /* u64 */
	VR_A_ERROR = 4,   /* i32 */
	VR_A_ERRMSG = 5,  /* string */
};

/* Object attributes: one number space for every object; each object uses the
 * subset listed in its struct below. Unknown attributes are an error (-EINVAL,
 * "unknown attribute N in <object>") so that a newer client is never silently
 * half-understood. */
enum vr_attr {
	VR_AT_ID = 1,        /* u32: vif id, nexthop id, vrf id */
	VR_AT_TYPE = 2,      /* u8: vif type or nexthop type */
	VR_AT_NAME = 3,      /* string < VR_NAME_LEN */
	VR_AT_IFNAME = 4,    /* string < VR_NAME_LEN: kernel interface (af_packet, tap) */
	VR_AT_SOCKET = 5,    /* string < VR_PATH_LEN: memif / vhost-user socket path */
	VR_AT_MAC = 6,       /* 6 bytes */
	VR_AT_VRF = 7,       /* u16 */
	VR_AT_MTU = 8,       /* u16 */
	VR_AT_IP = 9,        /* 4 or 16 bytes (the length gives the family) */
	VR_AT_FLAGS = 10,    /* u32 */
	VR_AT_VIF = 11,      /* u32: a vif id */
	VR_AT_NH = 12,       /* u32: a nexthop id */
	VR_AT_ENCAP = 13,    /* u8 enum vr_encap */
	VR_AT_SIP = 14,      /* 4 or 16 bytes: tunnel source */
	VR_AT_DIP = 15,      /* 4 or 16 bytes: tunnel destination */
	VR_AT_LABEL = 16,    /* u32 (20 bits used) */
	VR_AT_VNI = 17,      /* u32 (24 bits used) */
	VR_AT_MEMBERS = 18,  /* u32 array: composite nexthop members */
	VR_AT_PREFIX = 19,   /* 4 or 16 bytes */
	VR_AT_PLEN = 20,     /* u8 */
	VR_AT_DMAC = 21,     /* 6 bytes */
	VR_AT_REFCNT = 22,   /* u32, replies only */
	VR_AT_ROLE = 23,     /* u8: memif 0 = server (vrouter listens), 1 = client */
	VR_AT_STATS = 24,    /* nested counters, replies only: VR_AT_S_* */
	VR_AT_DROPS = 25,    /* u64 array indexed by enum vr_drop_reason, replies only */
	VR_AT_VERSION = 26,  /* string, replies only */
	VR_AT_COUNT = 27,    /* u32 array: object counts, replies only (INFO) */
	VR_AT_UPTIME = 28,   /* u64 seconds, replies only */
	VR_AT_LCORES = 29,   /* string, replies only */
	VR_AT_PORT_ID = 30,  /* u16 DPDK port id, replies only */
	VR_AT_LINK = 31,     /* u8 link up, replies only */
	VR_AT_BACKENDS = 32, /* service: packed VR_BACKEND_LEN-byte backend records */
	VR_AT_BACKEND_STATS = 33, /* service, replies only: u64 new flows per backend (8-byte records) */
	VR_AT_NAT_IP = 34,   /* fip: the pod's own address; flow: the translated address */
	VR_AT_NAT_PORT = 35, /* u16 flow: the translated port */
	VR_AT_SERVICE = 36,  /* u32 flow: the service that chose its backend, 0 none */
	VR_AT_NAT_VRF = 37,  /* u16 flow: the VRF of the translated side */
	VR_AT_NAT = 38,      /* u8 flow: VR_NAT_* bits of the first packet's direction */
	VR_AT_PORT_RX = 39,  /* nested, replies only (vif): why the port lost received
			      * packets and how a kernel vif receives: VR_PRX_* */
	VR_AT_S_RX_PKTS = 40, /* u64 each */
	VR_AT_S_RX_BYTES = 41,
	VR_AT_S_RX_ERRORS = 42,
	VR_AT_S_TX_PKTS = 43,
	VR_AT_S_TX_BYTES = 44,
	VR_AT_S_TX_ERRORS = 45,
	VR_AT_BUSY_CYCLES = 46, /* u64, replies only (INFO): TSC cycles of loop rounds that moved packets */
	VR_AT_BUSY_PKTS = 47,   /* u64, replies only (INFO): packets received in those rounds */
	VR_AT_TSC_HZ = 48,      /* u64, replies only (INFO): TSC frequency */
	VR_AT_POLICY_IN = 49,  /* u32: vif: policy for packets delivered to the pod, 0 none */
	VR_AT_POLICY_OUT = 50, /* u32: vif: policy for packets from the pod, 0 none */
	VR_AT_RULES = 51,      /* policy: packed array of VR_RULE_LEN-byte rule records */
	VR_AT_RULE_STATS = 52, /* policy, replies only: VR_RULE_STATS_LEN-byte records, one
				* per rule then one for the default action */
	VR_AT_ACTION = 53,     /* u8 enum vr_action: policy default action; flow verdict */
	VR_AT_PROTO = 54,      /* u8 IP protocol (flow) */
	VR_AT_SPORT = 55,      /* u16 (flow) */
	VR_AT_DPORT = 56,      /* u16 (flow) */
	VR_AT_RULE = 57,       /* u32 rule id that decided a flow (0: the default action) */
	VR_AT_STATE = 58,      /* u8 (flow): 0 new, 1 syn, 2 established, 3 fin, 4 closed, 5 other */
	VR_AT_FLOW_STATS = 59, /* u64 array indexed by enum vr_flow_cnt, replies only */
	VR_AT_N_RULES = 60,    /* u32: policy rule count, replies only */
	VR_AT_POLICY = 61,     /* u32: the policy that decided a flow (0: none); on a policy:
				* the next policy of its chain (0: none), which a flow must
				* pass as well (chains of at most VR_POLICY_MAX_CHAIN) */
	VR_AT_PORT = 62,       /* u16: flow dump filter, either port */
	VR_AT_MAX_ = 63,       /* attributes live in a 64-bit presence mask: at most 63 */
};

/*
 * VR_AT_PORT_RX: a vif port's receive details, nested attributes of their own
 * number space. The three loss counters add up to the vif's rx_errors
 * (VR_AT_STATS), which keeps its meaning; this is its breakdown.
 */
enum vr_port_rx_attr {
	VR_PRX_NOMBUF = 1,   /* u64: no packet buffer free (tern's kernel and memif I/O: a
			      * burst left in the ring; DPDK's PMDs: frames lost) */
	VR_PRX_MISSED = 2,   /* u64: the kernel's or the NIC's receive ring was full */
	VR_PRX_BAD = 3,      /* u64: refused: longer than a packet buffer, a malformed
			      * memif descriptor, a NIC's receive error */
	VR_PRX_MODE = 4,     /* u8 enum vr_rx_mode: how a kernel vif receives now */
	VR_PRX_ADAPTIVE = 5, /* u8 0 or 1: the mode follows the rate (--kernel-rx adaptive) */
	VR_PRX_SWITCHES = 6, /* u64: adaptive: switches between frames and blocks since the
			      * vif was added (not reset by CLEAR: a state's history) */
	VR_PRX_MAX_ = 7,
};

/* VR_PRX_MODE: which af_packet ring the kernel hands a kernel vif's frames to. */
enum vr_rx_mode {
	VR_RXM_NONE = 0,     /* not a kernel vif of tern's own I/O (memif, DPDK PMDs) */
	VR_RXM_FRAMES = 1,   /* TPACKET_V2: frame by frame */
	VR_RXM_BLOCKS = 2,   /* TPACKET_V3: in blocks */
	VR_RXM_MAX_ = 3,
};

/* Policy: rule actions and the default action. */
enum vr_action {
	VR_ACT_PASS = 1,
	VR_ACT_DENY = 2,
	VR_ACT_MAX_ = 3,
};
#define VR_RULE_F_LOG      0x1u  /* count and log the match (flags of a rule record) */

#define VR_MAX_POLICIES    65536 /* policy ids 1..VR_MAX_POLICIES-1 */
/* Rules of one policy: the rules and their counters must fit one object, whose
 * TLV length is 16 bits (1000 x 52 + 1001 x 12 = 64,012 bytes). */
#define VR_POLICY_MAX_RULES 1000
#define VR_POLICY_MAX_CHAIN 8    /* policies in one chain (a policy and its nexts) */

/*
 * One rule record of VR_AT_RULES, VR_RULE_LEN bytes, integers in network order:
 *
 *   0  u32 id          the operator's / agent's rule id (unique in the policy, not 0)
 *   4  u8  action      enum vr_action
 *   5  u8  flags       VR_RULE_F_*
 *   6  u8  proto       0 any, 1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6
 *   7  u8  family      4 or 6
 *   8  u8  src_plen    <= 32 / 128
 *   9  u8  dst_plen
 *  10  u16 reserved    0
 *  12  u16 sport_lo    port ranges, inclusive; TCP and UDP only (0..65535 otherwise)
 *  14  u16 sport_hi
 *  16  u16 dport_lo
 *  18  u16 dport_hi
 *  20  16  src         IPv4 in the first 4 bytes, the rest zero
 *  36  16  dst
 */
#define VR_RULE_LEN        52
/* One record of VR_AT_RULE_STATS: u32 hits (new flows the rule decided,
 * saturating), u64 denied (packets dropped under POLICY_DENY because of it). */
#define VR_RULE_STATS_LEN  12

/* Flow counters (VR_AT_FLOW_STATS). */
enum vr_flow_cnt {
	VR_FC_FWD_PKTS, VR_FC_FWD_BYTES, VR_FC_REV_PKTS, VR_FC_REV_BYTES,
	VR_FC_AGE_MS,   /* since the first packet */
	VR_FC_IDLE_MS,  /* since the last packet of either direction */
	VR_FC_MAX_
};

/*
 * Services and NAT. A service (VR_OBJ_SERVICE) is keyed by vrf + protocol +
 * virtual IP + port (VR_AT_ID is the operator's handle for it); a new flow to
 * it picks a backend by a consistent (Maglev) hash of its 5-tuple, and the
 * flow table pins the choice. One backend record of VR_AT_BACKENDS,
 * VR_BACKEND_LEN bytes, network order:
 *
 *   0  16  addr        IPv4 in the first 4 bytes, the rest zero (the service's family)
 *  16  u16 port        the backend's port (the service's port when 0)
 *  18  u8  weight      1..255 (0 means 1): share of the hash table
 *  19  u8  reserved    0
 */
#define VR_BACKEND_LEN        20
#define VR_BACKEND_STATS_LEN  8
#define VR_SVC_MAX_BACKENDS   256
#define VR_MAX_SERVICES       65536   /* service ids 1..VR_MAX_SERVICES-1 */
#define VR_MAX_FIPS           65536   /* floating IPs per vrouter */

/* VR_AT_NAT: what a flow's packets of the first direction have rewritten */
#define VR_NAT_SRC  0x1u   /* source address (and port): floating IP outbound */
#define VR_NAT_DST  0x2u   /* destination address (and port): service, floating IP inbound */

enum vr_vif_type {
	VR_VIF_FABRIC = 1,  /* the physical NIC (af_packet on a kernel interface in the lab) */
	VR_VIF_HOST = 2,    /* vhost0: TAP to the node's kernel stack */
	VR_VIF_KERNEL = 3,  /* a pod's veth, host end driven with af_packet */
	VR_VIF_MEMIF = 4,   /* a DPDK pod on memif */
	VR_VIF_VHOST = 5,   /* a DPDK pod on vhost-user (the vrouter is the server) */
	VR_VIF_TYPE_MAX_ = 6,
};

/* vif flags */
#define VR_VIF_F_POLICY   0x1u  /* packets from this vif go through the flow table (stateful),
				 * even without a policy_in / policy_out */

enum vr_nh_type {
	VR_NH_DISCARD = 1,  /* drop, counted as VR_DROP_DISCARD_NH */
	VR_NH_RECEIVE = 2,  /* for the node itself: to the host vif */
	VR_NH_ENCAP = 3,    /* a local vif: rewrite Ethernet (dmac = the pod's MAC) and send */
	VR_NH_TUNNEL = 4,   /* to another node: MPLSoUDP, MPLSoGRE or VXLAN out of the fabric vif */
	VR_NH_ECMP = 5,     /* composite: one member chosen by the flow hash */
	VR_NH_FLOOD = 6,    /* composite: every member gets a copy (L2 broadcast, ingress replication) */
	VR_NH_TYPE_MAX_ = 7,
};

/* nexthop flags */
#define VR_NH_F_L2        0x1u  /* tunnel carries Ethernet frames (bridging), not IP packets */

enum vr_encap {
	VR_ENCAP_NONE = 0,
	VR_ENCAP_MPLSOUDP = 1,  /* RFC 7510, UDP 6635 */
	VR_ENCAP_MPLSOGRE = 2,  /* RFC 4023, GRE protocol 0x8847 */
	VR_ENCAP_VXLAN = 3,     /* RFC 7348, UDP 4789 */
	VR_ENCAP_MAX_ = 4,
};

/* vrf flags */
#define VR_VRF_F_L3       0x1u  /* route IP packets addressed to the vrouter MAC */
#define VR_VRF_F_L2       0x2u  /* bridge by destination MAC, flood BUM via the vrf's flood nh */

/* route flags */
#define VR_RT_F_PROXY_ARP 0x1u  /* answer ARP / neighbour solicitation for this host */

/*
 * Every dropped packet is counted under exactly one reason. One list makes the
 * enum, the names that ternctl prints and the counters (X-macro).
 */
#define VR_DROP_REASONS(X) \
	X(NONE,              "none")                                           \
	X(INVALID_VIF,       "packet arrived on a vif that no longer exists")  \
	X(NO_VRF,            "the vif or VNI maps to no VRF")                  \
	X(SHORT_PKT,         "truncated header")                               \
	X(BAD_L2,            "unsupported Ethernet type or frame")             \
	X(BAD_IP,            "malformed IP header")                            \
	X(BAD_ENCAP,         "malformed tunnel header")                        \
	X(NO_LABEL,          "MPLS label not in the label table")              \
	X(NO_VNI,            "VXLAN VNI not in the VNI table")                 \
	X(NOT_FOR_US,        "tunnel packet addressed to another node")        \
	X(NO_ROUTE,          "no route in the VRF")                            \
	X(NO_NH,             "route or label points at a missing nexthop")    \
	X(DISCARD_NH,        "discard nexthop")                                \
	X(NO_BRIDGE_ENTRY,   "unknown destination MAC and no flood nexthop")   \
	X(TTL_EXCEEDED,      "TTL or hop limit exhausted")                     \
	X(FRAG_NEEDED,       "larger than the path MTU (ICMP sent when DF)")   \
	X(NO_HEADROOM,       "no room to push the tunnel header")              \
	X(ARP_NOT_ME,        "ARP for an address the vrouter does not proxy")  \
	X(ARP_INVALID,       "malformed ARP")                                  \
	X(ND_NOT_ME,         "neighbour solicitation the vrouter does not answer") \
	X(MCAST,             "multicast the vrouter does not forward")         \
	X(NO_HOST_VIF,       "for the host but no host vif")                   \
	X(TX_FULL,           "transmit queue full")                            \
	X(VIF_DOWN,          "output vif has no port")                         \
	X(NO_MEMORY,         "no buffer for a copy (flood or ICMP)")           \
	X(LOOP,              "packet would go back out the vif it came from")  \
	X(FLOW_DENY,         "denied by the flow stage (policy)")              \
	X(FLOW_TABLE_FULL,   "new flow refused: the flow table is full")       \
	X(SRC_MISMATCH,      "tunnel source is not a known node")              \
	X(MULTI_SEG,         "multi-segment buffer (jumbo) not supported")      \
	X(POLICY_DENY,       "denied by a policy rule or default action")        \
	X(NO_BACKEND,        "service without a backend of the packet's family") \
	X(NAT_CONFLICT,      "NAT: the translated connection already exists")

enum vr_drop_reason {
#define VR_DROP_ENUM_(name, text) VR_DROP_##name,
	VR_DROP_REASONS(VR_DROP_ENUM_)
#undef VR_DROP_ENUM_
	VR_DROP_MAX_
};

/* Short name ("NO_ROUTE") and description of a drop reason; NULL when out of range. */
const char *vr_drop_name(unsigned reason);
const char *vr_drop_text(unsigned reason);

#endif /* TERN_VR_PROTO_H */
