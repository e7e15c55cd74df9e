/*
 * DOC: vr_msg.h — encode and decode vrouter control messages (see vr_proto.h
 * for the wire format). Used on both ends: tern-vrouter decodes requests and
 * encodes replies; ternctl and tern-agent do the reverse.
 *
 * Decoding never trusts the input: every length is checked through the
 * bounds-checked reader of tern_tlv.h, and every failure returns a negative
 * errno with a message naming the attribute and what is wrong.
 */
#ifndef TERN_VR_MSG_H
#define TERN_VR_MSG_H

#include <stdint.h>
#include <stddef.h>
#include "vr_proto.h"
#include "tern_tlv.h"

/* An address of either family; family 0 means "not set". */
struct vr_addr {
	uint8_t family;   /* 0, 4 or 6 */
	uint8_t a[16];    /* IPv4 in a[0..3] */
};

struct vr_stats {
	uint64_t rx_pkts, rx_bytes, rx_errors;
	uint64_t tx_pkts, tx_bytes, tx_errors;
};

/* VR_AT_PORT_RX: nombuf + missed + bad = the vif's stats.rx_errors. */
struct vr_port_rx {
	uint64_t nombuf;              /* no packet buffer free */
	uint64_t missed;              /* the kernel's or the NIC's receive ring was full */
	uint64_t bad;                 /* too long for a buffer, bad memif descriptor, NIC error */
	uint64_t switches;            /* adaptive kernel vif: frames <-> blocks switches */
	uint8_t mode;                 /* enum vr_rx_mode; VR_RXM_NONE: not a kernel vif */
	uint8_t adaptive;             /* 1: the mode follows the rate */
};

struct vr_obj_vif {
	uint32_t id;
	uint8_t type;                 /* enum vr_vif_type */
	char name[VR_NAME_LEN];       /* the vrouter's label for it (e.g. the pod's) */
	char ifname[VR_NAME_LEN];     /* kernel interface, for fabric / host / kernel vifs */
	char socket[VR_PATH_LEN];     /* memif / vhost-user socket path */
	uint8_t role;                 /* memif: 0 server, 1 client */
	uint8_t mac[6];               /* the pod's MAC (kernel/memif/vhost) or the fabric MAC */
	uint16_t vrf;
	uint16_t mtu;
	struct vr_addr ip;            /* fabric vif: the node's tunnel address */
	uint32_t flags;
	uint32_t policy_in;           /* policy for packets delivered to the pod, 0 none */
	uint32_t policy_out;          /* policy for packets from the pod, 0 none */
	/* replies only */
	uint16_t port_id;
	uint8_t link;
	struct vr_stats stats;
	struct vr_port_rx port_rx;
};

struct vr_obj_vrf {
	uint32_t id;
	uint32_t flags;               /* VR_VRF_F_* */
	uint32_t nh;                  /* flood nexthop for BUM in L2 mode, 0 none */
	uint32_t vni;                 /* VXLAN VNI used when this VRF's traffic is sent, 0 none */
};

struct vr_obj_nh {
	uint32_t id;                  /* 1..VR_MAX_NEXTHOPS-1; 0 means "no nexthop" */
	uint8_t type;                 /* enum vr_nh_type */
	uint32_t flags;               /* VR_NH_F_* */
	uint32_t vif;                 /* ENCAP: the pod vif; TUNNEL: the fabric vif */
	uint16_t vrf;
	uint8_t dmac[6];              /* ENCAP: the pod's MAC; TUNNEL: the underlay next hop's MAC */
	uint8_t encap;                /* TUNNEL: enum vr_encap */
	struct vr_addr sip, dip;      /* TUNNEL: outer source and destination */
	uint32_t label;               /* TUNNEL MPLS*: the label pushed */
	uint32_t vni;                 /* TUNNEL VXLAN: the VNI */
	uint16_t n_members;           /* ECMP / FLOOD */
	uint32_t members[VR_MAX_ECMP];
	uint32_t refcnt;              /* replies only */
};

struct vr_obj_route {
	uint16_t vrf;
	struct vr_addr prefix;
	uint8_t plen;
	uint32_t nh;
	uint32_t flags;               /* VR_RT_F_* */
	uint8_t mac[6];               /* MAC to answer ARP with; zero: the vrouter's MAC */
};

struct vr_obj_mpls {
	uint32_t label;
	uint32_t nh;
};

struct vr_obj_vni {
	uint32_t vni;
	uint16_t vrf;
};

struct vr_obj_bridge {
	uint16_t vrf;
	uint8_t mac[6];
	uint32_t nh;
};

enum vr_info_count {
	VR_CNT_VIFS, VR_CNT_VRFS, VR_CNT_NHS, VR_CNT_ROUTES, VR_CNT_LABELS,
	VR_CNT_VNIS, VR_CNT_BRIDGE, VR_CNT_FLOWS, VR_CNT_MAX_
};

struct vr_obj_info {
	char name[VR_NAME_LEN];       /* instance name */
	char version[VR_NAME_LEN];
	char lcores[VR_NAME_LEN];
	uint64_t uptime;
	uint64_t busy_cycles;         /* forwarding core: cycles of rounds that moved packets */
	uint64_t busy_pkts;           /* and the packets they received: capacity = cycles / pkts */
	uint64_t tsc_hz;
	uint16_t n_counts;
	uint32_t counts[VR_CNT_MAX_]; /* indexed by enum vr_info_count */
};

struct vr_obj_drops {
	uint32_t vif;                 /* request filter: with VR_AT_VIF, one vif's drops (future) */
	uint16_t n;
	uint64_t drops[VR_DROP_MAX_]; /* indexed by enum vr_drop_reason */
};

/*
 * A packed array of fixed-size records on the wire (VR_AT_RULES,
 * VR_AT_RULE_STATS), kept as the wire bytes: decoding points p into the
 * message buffer (valid as long as that buffer), encoding writes n records
 * from p. Records are read and written with vr_rule_unpack / vr_rule_pack.
 */
struct vr_recs {
	const uint8_t *p;
	uint16_t n;
};

/* One policy rule, host order (the record layout is in vr_proto.h). */
struct vr_rule {
	uint32_t id;
	uint8_t action;               /* enum vr_action */
	uint8_t flags;                /* VR_RULE_F_* */
	uint8_t proto;                /* 0 any */
	uint8_t family;               /* 4 or 6 */
	uint8_t src_plen, dst_plen;
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
	uint8_t src[16], dst[16];
};

struct vr_rule_stats {
	uint64_t hits;                /* new flows this rule decided (u32 on the wire, saturating) */
	uint64_t denied;              /* packets dropped because of it */
};

struct vr_obj_policy {
	uint32_t id;                  /* 1..VR_MAX_POLICIES-1 */
	uint8_t action;               /* default action: enum vr_action */
	struct vr_recs rules;         /* VR_RULE_LEN records, first match wins */
	struct vr_recs rule_stats;    /* replies only: n_rules + 1 records (last: default) */
	uint32_t n_rules;             /* replies only */
	uint32_t refcnt;              /* replies only: vifs using it */
	uint32_t next;                /* VR_AT_POLICY: the next policy of its chain, 0 none */
};

struct vr_obj_flow {
	uint16_t vrf;
	uint8_t proto;
	struct vr_addr sip, dip;      /* the direction of the first packet */
	uint16_t sport, dport;        /* ICMP echo: the identifier in both */
	uint8_t action;               /* enum vr_action */
	uint32_t policy;              /* the policy that decided, 0 none */
	uint32_t rule;                /* its rule id, 0: default action */
	uint8_t state;
	uint32_t vif;                 /* the vif the first packet came from */
	uint16_t n_stats;
	uint64_t stats[VR_FC_MAX_];   /* enum vr_flow_cnt */
	/* NAT (VR_AT_NAT set): what the first direction's packets become */
	uint8_t nat;                  /* VR_NAT_* */
	struct vr_addr nat_ip;        /* the translated address (backend, pod or floating IP) */
	uint16_t nat_port;
	uint16_t nat_vrf;             /* the VRF the translated packet is routed in */
	uint32_t service;             /* the service that chose the backend, 0 none */
	/* DUMP request filters */
	struct vr_addr ip;            /* either end (also the translated one) */
	uint16_t port;                /* either port */
};

/* One service backend, host order (the record layout is in vr_proto.h). */
struct vr_backend {
	struct vr_addr addr;
	uint16_t port;                /* 0: the service's port */
	uint8_t weight;               /* 1..255; 0 read as 1 */
};

struct vr_obj_service {
	uint32_t id;                  /* 1..VR_MAX_SERVICES-1 */
	uint16_t vrf;
	struct vr_addr ip;            /* the virtual IP */
	uint8_t proto;                /* 6 TCP or 17 UDP */
	uint16_t dport;               /* the service port */
	struct vr_recs backends;      /* VR_BACKEND_LEN records */
	struct vr_recs backend_stats; /* replies only: VR_BACKEND_STATS_LEN records */
};

struct vr_obj_fip {
	uint16_t vrf;                 /* the public network's VRF */
	struct vr_addr ip;            /* the floating address */
	uint32_t vif;                 /* the pod's vif */
	struct vr_addr nat_ip;        /* the pod's address (same family) */
	uint32_t refcnt;              /* replies only: flows translated through it */
};

/* One decoded object: which attributes were present, and their values. */
struct vr_object {
	uint16_t obj;                 /* enum vr_obj */
	uint64_t have;                /* bit (1 << VR_AT_x) for each attribute present */
	union {
		struct vr_obj_vif vif;
		struct vr_obj_vrf vrf;
		struct vr_obj_nh nh;
		struct vr_obj_route route;
		struct vr_obj_mpls mpls;
		struct vr_obj_vni vni;
		struct vr_obj_bridge bridge;
		struct vr_obj_info info;
		struct vr_obj_drops drops;
		struct vr_obj_policy policy;
		struct vr_obj_flow flow;
		struct vr_obj_service service;
		struct vr_obj_fip fip;
	} u;
};

#define VR_HAVE(o, at) (((o)->have >> (at)) & 1u)
#define VR_SET(o, at)  ((o)->have |= (uint64_t)1 << (at))

/* A parsed message: the header and the top-level attributes. Objects are read
 * one at a time with vr_msg_next_object(). Points into the caller's buffer. */
struct vr_msg_view {
	uint16_t op;
	uint32_t seq;
	uint16_t obj;                 /* 0 when absent */
	int has_error;
	int32_t error;
	char errmsg[256];
	int has_cursor;
	uint64_t cursor;
	unsigned n_objects;
	const uint8_t *buf;           /* the whole message */
	size_t len;
	size_t next_obj;              /* offset of the next VR_A_OBJECT TLV to read */
};

/* Name of an object type ("vif") or attribute ("label"); "?" when unknown. */
const char *vr_obj_name(unsigned obj);
const char *vr_attr_name(unsigned attr);
const char *vr_vif_type_name(unsigned type);
const char *vr_nh_type_name(unsigned type);
const char *vr_encap_name(unsigned encap);
/* "frames", "blocks"; "-" for VR_RXM_NONE, "?" when unknown. */
const char *vr_rx_mode_name(unsigned mode);

/*
 * Check a 16-byte header and return the whole message length in *len.
 * Errors: -EPROTO bad magic, -EPROTONOSUPPORT other version, -EMSGSIZE length
 * below the header or above VR_MSG_MAX.
 */
int vr_msg_frame(const uint8_t *hdr, size_t hdr_len, uint32_t *len);

/*
 * Parse a complete message. Returns 0, or a negative errno with a message in
 * err: -EPROTO/-EPROTONOSUPPORT/-EMSGSIZE (header), -EBADMSG (a TLV runs past
 * the end, a top-level attribute has the wrong size or appears twice, an
 * unknown top-level attribute, unknown op or object type).
 */
int vr_msg_parse(const uint8_t *buf, size_t len, struct vr_msg_view *v,
		 char *err, size_t errlen);

/*
 * Decode the next VR_A_OBJECT of a parsed message into *o (zeroed first,
 * o->obj = v->obj). Returns 1 when an object was decoded, 0 when there are no
 * more, or a negative errno: -EBADMSG (malformed), -EINVAL (an attribute that
 * does not belong to this object type, a value of the wrong size, a string
 * without room for its NUL, more than VR_MAX_ECMP members, an address that is
 * neither 4 nor 16 bytes, a nested field (stats, port_rx) unknown,
 * repeated, of the wrong size or out of range).
 */
int vr_msg_next_object(struct vr_msg_view *v, struct vr_object *o,
		       char *err, size_t errlen);

/* Policy rule records: pack writes VR_RULE_LEN bytes, unpack reads them. */
void vr_rule_pack(const struct vr_rule *rule, uint8_t *rec);
void vr_rule_unpack(const uint8_t *rec, struct vr_rule *rule);
void vr_rule_stats_pack(const struct vr_rule_stats *st, uint8_t *rec);
void vr_rule_stats_unpack(const uint8_t *rec, struct vr_rule_stats *st);
void vr_backend_pack(const struct vr_backend *b, uint8_t family, uint8_t *rec);
/* Unpack for a service of the given family (the address length). */
void vr_backend_unpack(const uint8_t *rec, uint8_t family, struct vr_backend *b);
/* Check one backend (index idx) against its service: family, weight. 0 or -EINVAL. */
int vr_backend_check(const struct vr_backend *b, unsigned idx, char *err, size_t errlen);
/* Name of an action ("pass", "deny"); "?" when unknown. */
const char *vr_action_name(unsigned action);
/* Name of a flow state ("established"); "?" when unknown. */
const char *vr_flow_state_name(unsigned state);

/*
 * Check one rule (index idx in its policy, for the message): known action,
 * family 4/6, protocol 0/1/6/17/58 (1 only with IPv4, 58 only with IPv6),
 * prefix lengths within the family, no address bits beyond the prefix length,
 * port ranges lo <= hi and only for TCP/UDP, flags known, id not 0.
 * Returns 0 or -EINVAL with "rule N (id I): field: what is wrong" in err.
 */
int vr_rule_check(const struct vr_rule *rule, unsigned idx, char *err, size_t errlen);

/* Encoding. Errors accumulate in w->err (-ENOSPC); check vr_msg_finish(). */
void vr_msg_begin(struct tern_wbuf *w, uint16_t op, uint32_t seq, uint16_t obj);
void vr_msg_put_object(struct tern_wbuf *w, const struct vr_object *o); /* only attrs in o->have */
void vr_msg_put_error(struct tern_wbuf *w, int32_t error, const char *msg);
void vr_msg_put_cursor(struct tern_wbuf *w, uint64_t cursor);
/* Patch the header length. Returns the message length, or -ENOSPC. */
int vr_msg_finish(struct tern_wbuf *w);

#endif /* TERN_VR_MSG_H */
