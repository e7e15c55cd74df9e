/*
 * DOC: bgp_msg.h — the BGP-4 wire codec: messages (RFC 4271), capabilities
 * (RFC 5492, 4760, 6793, 2918, 4724, 7911), path attributes (bgp_attr.c, one table)
 * and NLRI of every address family tern speaks (one table of families).
 *
 * Nothing here knows about sockets, sessions or the RIB. Parsers read only
 * through struct tern_rbuf and never past a length; every failure comes back
 * as a struct bgp_err holding the RFC 7606 outcome, the NOTIFICATION
 * code/subcode (and data) to send when the outcome is a session reset, and a
 * message for the log.
 *
 * Zero-copy parsing: a parsed UPDATE points into the message buffer
 * (struct bgp_bytes); it lives as long as that buffer. NLRI fields are
 * validated whole at parse time and then walked with bgp_nlri_next().
 */
#ifndef TERN_BGP_MSG_H
#define TERN_BGP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern_tlv.h"

#define BGP_HDR_LEN      19
#define BGP_MAX_MSG      4096
#define BGP_OPEN_MIN     29
#define BGP_UPDATE_MIN   23
#define BGP_NOTIF_MIN    21
#define BGP_RR_LEN       23
#define BGP_AS_TRANS     23456
#define BGP_VERSION      4
#define BGP_LABEL_NONE   0xffffffffu  /* family carries no label */
#define BGP_LABEL_WITHDRAW 0x80000u   /* RFC 8277 §2.4: label field of a withdrawal */

enum bgp_msg_type {
	BGP_OPEN = 1, BGP_UPDATE = 2, BGP_NOTIFICATION = 3, BGP_KEEPALIVE = 4,
	BGP_ROUTE_REFRESH = 5,
};

/* NOTIFICATION error codes (RFC 4271 §4.5) and the subcodes tern sends. */
enum bgp_notif_code {
	BGP_NOTIF_HEADER = 1, BGP_NOTIF_OPEN = 2, BGP_NOTIF_UPDATE = 3, BGP_NOTIF_HOLD = 4,
	BGP_NOTIF_FSM = 5, BGP_NOTIF_CEASE = 6,
};
enum {
	/* header */
	BGP_HDR_SYNC = 1, BGP_HDR_BAD_LEN = 2, BGP_HDR_BAD_TYPE = 3,
	/* OPEN */
	BGP_OPEN_VERSION = 1, BGP_OPEN_BAD_AS = 2, BGP_OPEN_BAD_ID = 3, BGP_OPEN_BAD_PARAM = 4,
	BGP_OPEN_HOLD = 6, BGP_OPEN_CAPABILITY = 7,
	/* UPDATE */
	BGP_UPD_ATTR_LIST = 1, BGP_UPD_WELLKNOWN = 2, BGP_UPD_MISSING = 3, BGP_UPD_FLAGS = 4,
	BGP_UPD_LENGTH = 5, BGP_UPD_ORIGIN = 6, BGP_UPD_NEXT_HOP = 8, BGP_UPD_OPTIONAL = 9,
	BGP_UPD_NETWORK = 10, BGP_UPD_AS_PATH = 11,
	/* Cease (RFC 4486) */
	BGP_CEASE_ADMIN_DOWN = 2, BGP_CEASE_DECONFIG = 3, BGP_CEASE_ADMIN_RESET = 4,
	BGP_CEASE_REJECTED = 5, BGP_CEASE_COLLISION = 7,
};

/*
 * RFC 7606 outcomes, ordered by severity so that the worst of several errors
 * in one UPDATE is the maximum.
 */
#define BGP_ERR_NONE     0  /* nothing wrong */
#define BGP_ERR_DISCARD  1  /* "attribute discard": drop that attribute, keep the routes */
#define BGP_ERR_WITHDRAW 2  /* "treat-as-withdraw": every NLRI of the UPDATE is withdrawn */
#define BGP_ERR_RESET    3  /* "session reset": send the NOTIFICATION, close */

struct bgp_err {
	int action;            /* BGP_ERR_*: the worst outcome seen */
	uint8_t code, subcode; /* NOTIFICATION when action == BGP_ERR_RESET */
	uint16_t data_len;
	uint8_t data[64];      /* NOTIFICATION data (the offending attribute, truncated) */
	char msg[200];         /* for the log: what was wrong, where */
};

void bgp_err_clear(struct bgp_err *e);
/* Record an outcome; the most severe wins (its codes and message are kept). */
void bgp_err_set(struct bgp_err *e, int action, uint8_t code, uint8_t subcode,
		 const void *data, size_t data_len, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* ---- address families: one table (EVPN, RT constraint add rows) ---- */

enum bgp_af { BGP_AF_IPV4, BGP_AF_IPV6, BGP_AF_VPNV4, BGP_AF_VPNV6, BGP_AF_EVPN,
	      BGP_AF_RTC, BGP_AF_COUNT };
#define BGP_AF_BIT(af) (1u << (af))
#define BGP_AFI_IPV4 1
#define BGP_AFI_IPV6 2
#define BGP_SAFI_UNICAST 1
#define BGP_SAFI_VPN 128
#define BGP_AFI_L2VPN 25
#define BGP_SAFI_EVPN 70
#define BGP_SAFI_RTC 132   /* route-target constraint, RFC 4684 (AFI 1) */

struct bgp_af_info {
	uint16_t afi;
	uint8_t safi;
	uint8_t addr_len;      /* 4 or 16 */
	bool rd;               /* NLRI carries a route distinguisher */
	bool label;            /* NLRI carries a label stack */
	const char *name;      /* "ipv4", "vpnv4", ... (config, ternctl, logs) */
};
extern const struct bgp_af_info bgp_af_table[BGP_AF_COUNT];

/* The family for AFI/SAFI; -1 when tern does not speak it. */
int bgp_af_lookup(uint16_t afi, uint8_t safi);
/* The family named "ipv4"...; -1 when unknown. */
int bgp_af_by_name(const char *name);

/*
 * One destination. The route key is the first BGP_PREFIX_KEY_LEN bytes,
 * comparable with memcmp (build with memset 0 first): the bits past plen are
 * zero. EVPN fields that RFC 7432 §7.2 and RFC 9136 §3.1 leave out of the
 * route key (ESI, gateway IP, second label) follow it: they travel with the
 * destination and are refreshed by each update of it.
 */
struct bgp_prefix {
	uint8_t af;            /* enum bgp_af */
	uint8_t plen;          /* bits of addr; EVPN: IP length (types 2, 3: 0, 32 or
				* 128) or IP prefix length (type 5) */
	uint8_t evpn_type;     /* EVPN route type: 2, 3 or 5; else 0 */
	uint8_t evpn_v6;       /* EVPN type 5: an IPv6 prefix */
	uint8_t rd[8];         /* route distinguisher (VPN families, EVPN), else zero */
	uint8_t addr[16];      /* EVPN: IP address (2), originating router (3), prefix (5);
				* RTC: origin AS (4 bytes) + route target (8), plen 0..96 */
	uint8_t eth_tag[4];    /* EVPN Ethernet tag ID */
	uint8_t mac[6];        /* EVPN type 2 */
	uint8_t pad2[2];
	/* ---- not part of the route key ---- */
	uint8_t esi[10];       /* EVPN types 2 and 5 */
	uint8_t gw[16];        /* EVPN type 5 gateway IP (4 bytes used for IPv4) */
	uint8_t n_labels;      /* EVPN type 2: 1 or 2 label fields */
	uint8_t label2[3];     /* EVPN type 2: the second label field, as on the wire */
};
#define BGP_PREFIX_KEY_LEN offsetof(struct bgp_prefix, esi)

struct bgp_nlri {
	struct bgp_prefix p;
	uint32_t label;        /* 20-bit label, BGP_LABEL_NONE for unlabelled families;
				* EVPN types 2 and 5: the 24-bit label field as on the
				* wire (an MPLS label << 4 | S, or a VNI, RFC 8365 §5.1.3) */
	uint32_t path_id;      /* ADD-PATH (RFC 7911) path identifier: set by an
				* iterator with addpath (else 0); written only by the
				* _ap encoders with addpath */
};

/* Walks a validated NLRI field. withdraw: MP_UNREACH / withdrawn routes,
 * where the label field is not checked (RFC 8277 §2.4). */
struct bgp_nlri_iter {
	struct tern_rbuf r;
	uint8_t af;
	bool withdraw;
	bool addpath;          /* each NLRI starts with a 4-byte path identifier */
};
void bgp_nlri_iter_init(struct bgp_nlri_iter *it, int af, const uint8_t *p, size_t len,
			bool withdraw);
/* The same for a field whose NLRI carry path identifiers when addpath
 * (RFC 7911 §3: the session negotiated receiving them for af). */
void bgp_nlri_iter_init_ap(struct bgp_nlri_iter *it, int af, const uint8_t *p, size_t len,
			   bool withdraw, bool addpath);
/* Next NLRI: 1 when one was read, 0 at the end, -EBADMSG on a malformed one
 * (message in err: bad prefix length, truncated, label stack without bottom
 * of stack, truncated path identifier). n->path_id is the path identifier
 * (0 without addpath). */
int bgp_nlri_next(struct bgp_nlri_iter *it, struct bgp_nlri *n, char *err, size_t errlen);
/* "[2][65000:1][0][00:11:22:33:44:55][10.0.0.1]"-like text of an EVPN key,
 * for logs; the control socket spells the fields out. */
void bgp_evpn_format(const struct bgp_prefix *p, char *buf, size_t len);
/* Bytes one NLRI takes on the wire. */
size_t bgp_nlri_size(const struct bgp_nlri *n);
void bgp_nlri_put(struct tern_wbuf *w, const struct bgp_nlri *n, bool withdraw);
/* The same with n->path_id in front when addpath (RFC 7911 §3: 4 bytes more). */
size_t bgp_nlri_size_ap(const struct bgp_nlri *n, bool addpath);
void bgp_nlri_put_ap(struct tern_wbuf *w, const struct bgp_nlri *n, bool withdraw, bool addpath);

/* ---- header ---- */

struct bgp_hdr {
	uint16_t len;          /* whole message, header included */
	uint8_t type;
};

/*
 * Check the header at buf. Returns 0 (h filled), -EAGAIN when fewer than 19
 * bytes are there, -EBADMSG with e set (Message Header Error: marker, length
 * for the type, unknown type).
 */
int bgp_hdr_parse(const uint8_t *buf, size_t len, struct bgp_hdr *h, struct bgp_err *e);
/* Write marker, a length to patch, type; bgp_msg_end patches the length.
 * Both return the offset / the final length, or -ENOSPC (w->err). */
size_t bgp_msg_begin(struct tern_wbuf *w, uint8_t type);
int bgp_msg_end(struct tern_wbuf *w, size_t start);

/* ---- OPEN ---- */

struct bgp_caps {
	uint32_t afs;          /* BGP_AF_BIT of each multiprotocol family */
	bool mp;               /* any multiprotocol capability was present */
	bool as4;              /* 4-octet AS (RFC 6793) */
	uint32_t as4_value;
	bool route_refresh;    /* RFC 2918 (code 2; the old Cisco code 128 counts too) */
	bool enhanced_rr;      /* RFC 7313, parsed only */
	bool gr;               /* graceful restart (RFC 4724) */
	bool gr_restarting;    /* R bit */
	uint16_t gr_time;      /* restart time, seconds (12 bits) */
	uint32_t gr_afs;       /* families listed in the GR capability */
	uint32_t gr_fwd;       /* ... with the forwarding-state bit set */
	/* ADD-PATH (RFC 7911, code 69): the families for which the speaker can
	 * receive, and can send, several paths with path identifiers. */
	uint32_t addpath_rx, addpath_tx;
	uint16_t unknown;      /* capabilities tern does not know (counted, ignored) */
	uint16_t unknown_afs;  /* multiprotocol families tern does not speak */
};

struct bgp_open {
	uint8_t version;
	uint16_t my_as;        /* the 2-octet field (AS_TRANS for large ASes) */
	uint16_t hold;
	uint32_t router_id;    /* host order */
	struct bgp_caps caps;
};

/* The speaker's AS: the 4-octet capability when present, else the field. */
static inline uint32_t bgp_open_as(const struct bgp_open *o)
{
	return o->caps.as4 ? o->caps.as4_value : o->my_as;
}

/*
 * Parse an OPEN body (after the header). Checks the syntax and the version,
 * hold time (0 or >= 3) and identifier (non-zero); the AS is checked by the
 * caller, which knows whom it expects. Returns 0 or -EBADMSG with e (OPEN
 * Message Error and subcode).
 */
int bgp_open_parse(const uint8_t *body, size_t len, struct bgp_open *o, struct bgp_err *e);
/* Encode an OPEN with the capabilities in o->caps (multiprotocol for each
 * family, route refresh, 4-octet AS, graceful restart when gr, ADD-PATH
 * when addpath_rx or addpath_tx). Returns the message length or -ENOSPC. */
int bgp_open_encode(struct tern_wbuf *w, const struct bgp_open *o);

/* ---- KEEPALIVE, NOTIFICATION, ROUTE-REFRESH ---- */

int bgp_keepalive_encode(struct tern_wbuf *w);

struct bgp_notif {
	uint8_t code, subcode;
	uint16_t data_len;
	const uint8_t *data;   /* points into the message */
};
int bgp_notif_parse(const uint8_t *body, size_t len, struct bgp_notif *n, struct bgp_err *e);
int bgp_notif_encode(struct tern_wbuf *w, uint8_t code, uint8_t subcode, const void *data,
		     size_t data_len);
/* "UPDATE Message Error / Optional Attribute Error" */
const char *bgp_notif_name(uint8_t code, uint8_t subcode, char *buf, size_t len);

struct bgp_route_refresh {
	uint16_t afi;
	uint8_t subtype;       /* RFC 7313: 0 request, 1 BoRR, 2 EoRR */
	uint8_t safi;
};
int bgp_rr_parse(const uint8_t *body, size_t len, struct bgp_route_refresh *rr,
		 struct bgp_err *e);
int bgp_rr_encode(struct tern_wbuf *w, uint16_t afi, uint8_t safi);

/* ---- path attributes (bgp_attr.c) ---- */

enum bgp_attr_code {
	BGP_ATTR_ORIGIN = 1, BGP_ATTR_AS_PATH = 2, BGP_ATTR_NEXT_HOP = 3, BGP_ATTR_MED = 4,
	BGP_ATTR_LOCAL_PREF = 5, BGP_ATTR_ATOMIC_AGG = 6, BGP_ATTR_AGGREGATOR = 7,
	BGP_ATTR_COMMUNITIES = 8, BGP_ATTR_ORIGINATOR_ID = 9, BGP_ATTR_CLUSTER_LIST = 10,
	BGP_ATTR_MP_REACH = 14, BGP_ATTR_MP_UNREACH = 15, BGP_ATTR_EXT_COMMUNITIES = 16,
	BGP_ATTR_AS4_PATH = 17, BGP_ATTR_AS4_AGGREGATOR = 18, BGP_ATTR_PMSI_TUNNEL = 22,
};
#define BGP_AF_OPTIONAL   0x80
#define BGP_AF_TRANSITIVE 0x40
#define BGP_AF_PARTIAL    0x20
#define BGP_AF_EXTLEN     0x10
#define BGP_HAS(code) (1u << (code))

enum bgp_origin { BGP_ORIGIN_IGP = 0, BGP_ORIGIN_EGP = 1, BGP_ORIGIN_INCOMPLETE = 2 };
enum bgp_seg { BGP_AS_SET = 1, BGP_AS_SEQUENCE = 2, BGP_AS_CONFED_SEQ = 3, BGP_AS_CONFED_SET = 4 };

struct bgp_bytes {
	const uint8_t *p;
	uint16_t len;
};

/* PMSI_TUNNEL (RFC 6514 §5): how a PE wants its broadcast, unknown unicast
 * and multicast traffic, carried by EVPN type 3 routes (RFC 7432 §11.2). */
#define BGP_PMSI_INGRESS_REPL 6      /* tunnel type: ingress replication */
#define BGP_PMSI_F_LEAF_INFO  0x01   /* flags: leaf information required */
#define BGP_PMSI_ID_MAX       40     /* longer identifiers pass through as unknown */
struct bgp_pmsi {
	uint8_t flags;
	uint8_t type;                /* tunnel type (BGP_PMSI_*) */
	uint32_t label;              /* the 3-octet label field as on the wire: an MPLS
				      * label << 4, or a VNI (RFC 8365 §5.1.3) */
	uint8_t id_len;              /* ingress replication: 4 or 16 (the endpoint) */
	uint8_t id[BGP_PMSI_ID_MAX];
};

/*
 * The attributes of a path, MP_REACH/MP_UNREACH excepted: those become the
 * family's NLRI plus nh. nh is the next hop whatever the family (NEXT_HOP for
 * IPv4 unicast, the MP_REACH next hop without its RD otherwise), so that one
 * struct describes a path of any family.
 */
struct bgp_attrs {
	uint32_t has;                /* BGP_HAS(code) of each attribute present */
	uint8_t origin;
	uint8_t nh_len;              /* 0, 4, 16 or 32 (IPv6 global + link-local) */
	uint8_t nh[32];
	uint32_t med, local_pref, originator_id;
	struct bgp_bytes as_path;    /* 4-octet AS segments, as on the wire */
	struct bgp_bytes aggregator; /* 8 bytes: AS, address */
	struct bgp_bytes communities;      /* n * 4 */
	struct bgp_bytes ext_communities;  /* n * 8 */
	struct bgp_bytes cluster_list;     /* n * 4 */
	struct bgp_bytes unknown;    /* optional transitive attributes tern does not know,
				      * whole (flags with Partial set, code, length, value) */
	struct bgp_pmsi pmsi;        /* with BGP_HAS(BGP_ATTR_PMSI_TUNNEL) */
};

/* What the parser must know about the session. */
struct bgp_peer_ctx {
	bool ebgp;
	uint32_t peer_as;
	uint32_t afs;                /* negotiated families */
	uint32_t addpath;            /* families whose NLRI carry path identifiers
				      * (ADD-PATH negotiated for receiving) */
};
/* ADD-PATH directions of a session for each family (RFC 7911 §5): we send
 * path identifiers where we offered to send and the peer to receive. */
static inline uint32_t bgp_addpath_tx(const struct bgp_caps *ours, const struct bgp_caps *theirs)
{
	return ours->addpath_tx & theirs->addpath_rx;
}
static inline uint32_t bgp_addpath_rx(const struct bgp_caps *ours, const struct bgp_caps *theirs)
{
	return ours->addpath_rx & theirs->addpath_tx;
}

struct bgp_update {
	struct bgp_bytes withdrawn;  /* IPv4 unicast withdrawn routes, validated */
	struct bgp_bytes nlri;       /* IPv4 unicast NLRI, validated */
	struct bgp_attrs attrs;
	int reach_af, unreach_af;    /* -1 when absent */
	struct bgp_bytes reach, unreach; /* MP NLRI fields, validated */
	uint8_t mp_nh_len;           /* MP_REACH next hop without its RD: 4, 16 or 32 */
	uint8_t mp_nh[32];
	/* Scratch for the unknown attributes (Partial bit set): a parsed UPDATE
	 * owns this copy, the rest points into the message. */
	uint8_t unknown_buf[BGP_MAX_MSG];
};

/*
 * Parse an UPDATE body. Returns 0 when the UPDATE is to be applied: e->action
 * then says BGP_ERR_NONE, BGP_ERR_DISCARD (some attributes were dropped) or
 * BGP_ERR_WITHDRAW (apply withdrawn routes; every reachable NLRI of the
 * message is to be withdrawn). Returns -EBADMSG for a session reset, e holding
 * the NOTIFICATION. An UPDATE with no NLRI and no withdrawn routes at all is
 * an End-of-RIB marker for IPv4 unicast (RFC 4724); an MP_UNREACH with an
 * empty NLRI field and no other attribute is one for its family.
 */
int bgp_update_parse(const uint8_t *body, size_t len, const struct bgp_peer_ctx *ctx,
		     struct bgp_update *u, struct bgp_err *e);
/* -1, or the family whose End-of-RIB this parsed UPDATE is. */
int bgp_update_eor(const struct bgp_update *u, size_t body_len);

/* Bytes the attributes take when encoded for family af (MP_REACH header and
 * next hop included, NLRI not). */
size_t bgp_attrs_size(const struct bgp_attrs *a, int af);

/*
 * Encode one UPDATE of family af: the n_unreach withdrawals, then, when
 * n_reach > 0, attributes a with the n_reach NLRI. Returns the message length
 * or -ENOSPC (the caller sizes batches with bgp_attrs_size/bgp_nlri_size so
 * that a message stays within BGP_MAX_MSG).
 */
int bgp_update_encode(struct tern_wbuf *w, int af, const struct bgp_attrs *a,
		      const struct bgp_nlri *reach, size_t n_reach,
		      const struct bgp_nlri *unreach, size_t n_unreach);
/* The same for a session with ADD-PATH (send) for af when addpath: every
 * NLRI goes out with its path_id. */
int bgp_update_encode_ap(struct tern_wbuf *w, int af, const struct bgp_attrs *a,
			 const struct bgp_nlri *reach, size_t n_reach,
			 const struct bgp_nlri *unreach, size_t n_unreach, bool addpath);
/* End-of-RIB for af (RFC 4724 §2). */
int bgp_eor_encode(struct tern_wbuf *w, int af);

/* Attribute parsing and encoding (bgp_attr.c), used by the UPDATE codec. */
int bgp_attrs_parse(struct tern_rbuf *r, const struct bgp_peer_ctx *ctx, struct bgp_update *u,
		    struct bgp_err *e);
void bgp_attrs_put(struct tern_wbuf *w, const struct bgp_attrs *a, bool with_next_hop);
const char *bgp_attr_name(uint8_t code);

/* AS_PATH helpers over the 4-octet encoding. */
unsigned bgp_aspath_length(struct bgp_bytes p);        /* RFC 4271 §9.1.2.2 a) */
bool bgp_aspath_contains(struct bgp_bytes p, uint32_t as);
uint32_t bgp_aspath_first(struct bgp_bytes p);         /* 0 when none */

/* Extended communities (RFC 4360, RFC 9012). */
#define BGP_EXT_RT_AS2     0x0002  /* type 0x00, subtype 0x02 */
#define BGP_EXT_RT_IP4     0x0102
#define BGP_EXT_RT_AS4     0x0202
#define BGP_EXT_ENCAP      0x030c  /* opaque, subtype 0x0c */
enum bgp_tunnel { BGP_TUNNEL_VXLAN = 8, BGP_TUNNEL_MPLS_GRE = 11, BGP_TUNNEL_MPLS_UDP = 13 };
void bgp_ext_rt_as2(uint8_t out[8], uint16_t as, uint32_t val);
void bgp_ext_encap(uint8_t out[8], uint16_t tunnel);
/* "rt:65001:100", "rt:1.2.3.4:7", "encap:mpls-in-udp", else "0x..." */
void bgp_ext_format(const uint8_t ext[8], char *buf, size_t len);
/* "65001:100" or "1.2.3.4:7" for a type 0/1/2 RD */
void bgp_rd_format(const uint8_t rd[8], char *buf, size_t len);

#endif /* TERN_BGP_MSG_H */
