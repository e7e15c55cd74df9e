/*
 * DOC: vr_msg.c — the vrouter control message codec (see vr_msg.h).
 *
 * Two tables drive everything: at_table says what each attribute looks like
 * on the wire (kind, hence size), and one field list per object type says
 * which attributes that object allows and where each lands in its struct.
 * Encode and decode walk the same lists, so adding an attribute to an object
 * is one line.
 */
#include "vr_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* How an attribute looks on the wire. */
enum at_kind {
	K_NONE,   /* not an attribute (hole in the number space) */
	K_U8, K_U16, K_U32, K_U64,
	K_STR,    /* bytes without NUL; must fit the field with its NUL */
	K_MAC,    /* exactly 6 bytes */
	K_ADDR,   /* 4 or 16 bytes, the length gives the family */
	K_U32S,   /* array of u32, count in a separate field */
	K_U64S,   /* array of u64 */
	K_NEST,   /* nested integers of a struct, described by at_desc.nest */
	K_RECS,   /* packed fixed-size records (struct vr_recs), size in at_desc.rec */
};

/* One integer of a nested attribute (K_NEST), at its wire width in the struct too. */
struct nest_sub {
	const char *name;
	uint8_t wire;    /* 1 or 8 bytes */
	uint8_t max;     /* largest value allowed; 0: any */
	uint16_t off;    /* in the nested struct */
};

/* A nested attribute's own attributes: numbers first .. first + n - 1 (n at
 * most 32: decode_nest keeps a bit each), each at most once, any of them
 * absent (read as zero). */
struct nest_desc {
	const char *noun;            /* what one of them is called in messages */
	const char *hint;            /* the numbers and names allowed, for "unknown" */
	uint16_t first;
	uint8_t n;
	const struct nest_sub *subs;
};

#define NSUB(nm, st, m, mx) { nm, sizeof(((struct st *)0)->m), mx, offsetof(struct st, m) }
static const struct nest_sub stats_subs[] = { /* VR_AT_S_* order */
	NSUB("rx_pkts", vr_stats, rx_pkts, 0), NSUB("rx_bytes", vr_stats, rx_bytes, 0),
	NSUB("rx_errors", vr_stats, rx_errors, 0), NSUB("tx_pkts", vr_stats, tx_pkts, 0),
	NSUB("tx_bytes", vr_stats, tx_bytes, 0), NSUB("tx_errors", vr_stats, tx_errors, 0),
};
static const struct nest_sub port_rx_subs[] = { /* VR_PRX_* order */
	NSUB("nombuf", vr_port_rx, nombuf, 0), NSUB("missed", vr_port_rx, missed, 0),
	NSUB("bad", vr_port_rx, bad, 0), NSUB("mode", vr_port_rx, mode, VR_RXM_MAX_ - 1),
	NSUB("adaptive", vr_port_rx, adaptive, 1), NSUB("switches", vr_port_rx, switches, 0),
};
#define NEST(noun, hint, first, subs) { noun, hint, first, sizeof(subs) / sizeof(subs[0]), subs }
static const struct nest_desc stats_nest =
	NEST("counter", "only rx_/tx_ pkts, bytes, errors", VR_AT_S_RX_PKTS, stats_subs);
static const struct nest_desc port_rx_nest =
	NEST("field", "only 1 nombuf, 2 missed, 3 bad, 4 mode, 5 adaptive, 6 switches",
	     VR_PRX_NOMBUF, port_rx_subs);

struct at_desc {
	const char *name;
	uint8_t kind;
	uint8_t rec;     /* K_RECS: bytes per record */
	const struct nest_desc *nest; /* K_NEST */
};

static const struct at_desc at_table[VR_AT_MAX_] = {
	[VR_AT_ID] = { .name = "id", .kind = K_U32 },
	[VR_AT_TYPE] = { .name = "type", .kind = K_U8 },
	[VR_AT_NAME] = { .name = "name", .kind = K_STR },
	[VR_AT_IFNAME] = { .name = "ifname", .kind = K_STR },
	[VR_AT_SOCKET] = { .name = "socket", .kind = K_STR },
	[VR_AT_MAC] = { .name = "mac", .kind = K_MAC },
	[VR_AT_VRF] = { .name = "vrf", .kind = K_U16 },
	[VR_AT_MTU] = { .name = "mtu", .kind = K_U16 },
	[VR_AT_IP] = { .name = "ip", .kind = K_ADDR },
	[VR_AT_FLAGS] = { .name = "flags", .kind = K_U32 },
	[VR_AT_VIF] = { .name = "vif", .kind = K_U32 },
	[VR_AT_NH] = { .name = "nh", .kind = K_U32 },
	[VR_AT_ENCAP] = { .name = "encap", .kind = K_U8 },
	[VR_AT_SIP] = { .name = "sip", .kind = K_ADDR },
	[VR_AT_DIP] = { .name = "dip", .kind = K_ADDR },
	[VR_AT_LABEL] = { .name = "label", .kind = K_U32 },
	[VR_AT_VNI] = { .name = "vni", .kind = K_U32 },
	[VR_AT_MEMBERS] = { .name = "members", .kind = K_U32S },
	[VR_AT_PREFIX] = { .name = "prefix", .kind = K_ADDR },
	[VR_AT_PLEN] = { .name = "plen", .kind = K_U8 },
	[VR_AT_DMAC] = { .name = "dmac", .kind = K_MAC },
	[VR_AT_REFCNT] = { .name = "refcnt", .kind = K_U32 },
	[VR_AT_ROLE] = { .name = "role", .kind = K_U8 },
	[VR_AT_STATS] = { .name = "stats", .kind = K_NEST, .nest = &stats_nest },
	[VR_AT_DROPS] = { .name = "drops", .kind = K_U64S },
	[VR_AT_VERSION] = { .name = "version", .kind = K_STR },
	[VR_AT_COUNT] = { .name = "count", .kind = K_U32S },
	[VR_AT_UPTIME] = { .name = "uptime", .kind = K_U64 },
	[VR_AT_LCORES] = { .name = "lcores", .kind = K_STR },
	[VR_AT_BUSY_CYCLES] = { .name = "busy_cycles", .kind = K_U64 },
	[VR_AT_BUSY_PKTS] = { .name = "busy_pkts", .kind = K_U64 },
	[VR_AT_TSC_HZ] = { .name = "tsc_hz", .kind = K_U64 },
	[VR_AT_PORT_ID] = { .name = "port_id", .kind = K_U16 },
	[VR_AT_LINK] = { .name = "link", .kind = K_U8 },
	[VR_AT_S_RX_PKTS] = { .name = "rx_pkts", .kind = K_U64 },
	[VR_AT_S_RX_BYTES] = { .name = "rx_bytes", .kind = K_U64 },
	[VR_AT_S_RX_ERRORS] = { .name = "rx_errors", .kind = K_U64 },
	[VR_AT_S_TX_PKTS] = { .name = "tx_pkts", .kind = K_U64 },
	[VR_AT_S_TX_BYTES] = { .name = "tx_bytes", .kind = K_U64 },
	[VR_AT_S_TX_ERRORS] = { .name = "tx_errors", .kind = K_U64 },
	[VR_AT_POLICY_IN] = { .name = "policy_in", .kind = K_U32 },
	[VR_AT_POLICY_OUT] = { .name = "policy_out", .kind = K_U32 },
	[VR_AT_RULES] = { .name = "rules", .kind = K_RECS, .rec = VR_RULE_LEN },
	[VR_AT_RULE_STATS] = { .name = "rule_stats", .kind = K_RECS, .rec = VR_RULE_STATS_LEN },
	[VR_AT_ACTION] = { .name = "action", .kind = K_U8 },
	[VR_AT_PROTO] = { .name = "proto", .kind = K_U8 },
	[VR_AT_SPORT] = { .name = "sport", .kind = K_U16 },
	[VR_AT_DPORT] = { .name = "dport", .kind = K_U16 },
	[VR_AT_RULE] = { .name = "rule", .kind = K_U32 },
	[VR_AT_STATE] = { .name = "state", .kind = K_U8 },
	[VR_AT_FLOW_STATS] = { .name = "flow_stats", .kind = K_U64S },
	[VR_AT_N_RULES] = { .name = "n_rules", .kind = K_U32 },
	[VR_AT_POLICY] = { .name = "policy", .kind = K_U32 },
	[VR_AT_PORT] = { .name = "port", .kind = K_U16 },
	[VR_AT_BACKENDS] = { .name = "backends", .kind = K_RECS, .rec = VR_BACKEND_LEN },
	[VR_AT_BACKEND_STATS] = { .name = "backend_stats", .kind = K_RECS, .rec = VR_BACKEND_STATS_LEN },
	[VR_AT_NAT_IP] = { .name = "nat_ip", .kind = K_ADDR },
	[VR_AT_NAT_PORT] = { .name = "nat_port", .kind = K_U16 },
	[VR_AT_SERVICE] = { .name = "service", .kind = K_U32 },
	[VR_AT_NAT_VRF] = { .name = "nat_vrf", .kind = K_U16 },
	[VR_AT_NAT] = { .name = "nat", .kind = K_U8 },
	[VR_AT_PORT_RX] = { .name = "port_rx", .kind = K_NEST, .nest = &port_rx_nest },
};

/* Wire size of the fixed-size kinds (0: variable). */
static const uint8_t kind_size[] = {
	[K_U8] = 1, [K_U16] = 2, [K_U32] = 4, [K_U64] = 8, [K_MAC] = 6,
	[K_U32S] = 4, [K_U64S] = 8, /* element size */
};

/* Where an allowed attribute lands in struct vr_object. */
struct vr_field {
	uint8_t attr;
	uint16_t off;    /* of the value (first element for arrays) */
	uint16_t size;   /* of the value field (whole array for arrays) */
	uint16_t n_off;  /* arrays: offset of the u16 element count */
};

#define MEMBER_SIZE(m) sizeof(((struct vr_object *)0)->u.m)
#define F(at, m) { (at), offsetof(struct vr_object, u.m), MEMBER_SIZE(m), 0 }
/* Arrays: the count field must be a u16 (checked at compile time). */
#define FA(at, m, n) { (at), offsetof(struct vr_object, u.m), MEMBER_SIZE(m), \
	offsetof(struct vr_object, u.n) + 0 * sizeof(char[MEMBER_SIZE(n) == 2 ? 1 : -1]) }

static const struct vr_field vif_fields[] = {
	F(VR_AT_ID, vif.id), F(VR_AT_TYPE, vif.type), F(VR_AT_NAME, vif.name),
	F(VR_AT_IFNAME, vif.ifname), F(VR_AT_SOCKET, vif.socket), F(VR_AT_ROLE, vif.role),
	F(VR_AT_MAC, vif.mac), F(VR_AT_VRF, vif.vrf), F(VR_AT_MTU, vif.mtu),
	F(VR_AT_IP, vif.ip), F(VR_AT_FLAGS, vif.flags), F(VR_AT_PORT_ID, vif.port_id),
	F(VR_AT_LINK, vif.link), F(VR_AT_STATS, vif.stats), F(VR_AT_PORT_RX, vif.port_rx),
	F(VR_AT_POLICY_IN, vif.policy_in), F(VR_AT_POLICY_OUT, vif.policy_out),
};
static const struct vr_field vrf_fields[] = {
	F(VR_AT_ID, vrf.id), F(VR_AT_FLAGS, vrf.flags), F(VR_AT_NH, vrf.nh), F(VR_AT_VNI, vrf.vni),
};
static const struct vr_field nh_fields[] = {
	F(VR_AT_ID, nh.id), F(VR_AT_TYPE, nh.type), F(VR_AT_FLAGS, nh.flags),
	F(VR_AT_VIF, nh.vif), F(VR_AT_VRF, nh.vrf), F(VR_AT_DMAC, nh.dmac),
	F(VR_AT_ENCAP, nh.encap), F(VR_AT_SIP, nh.sip), F(VR_AT_DIP, nh.dip),
	F(VR_AT_LABEL, nh.label), F(VR_AT_VNI, nh.vni),
	FA(VR_AT_MEMBERS, nh.members, nh.n_members), F(VR_AT_REFCNT, nh.refcnt),
};
static const struct vr_field route_fields[] = {
	F(VR_AT_VRF, route.vrf), F(VR_AT_PREFIX, route.prefix), F(VR_AT_PLEN, route.plen),
	F(VR_AT_NH, route.nh), F(VR_AT_FLAGS, route.flags), F(VR_AT_MAC, route.mac),
};
static const struct vr_field mpls_fields[] = {
	F(VR_AT_LABEL, mpls.label), F(VR_AT_NH, mpls.nh),
};
static const struct vr_field vni_fields[] = {
	F(VR_AT_VNI, vni.vni), F(VR_AT_VRF, vni.vrf),
};
static const struct vr_field bridge_fields[] = {
	F(VR_AT_VRF, bridge.vrf), F(VR_AT_MAC, bridge.mac), F(VR_AT_NH, bridge.nh),
};
static const struct vr_field info_fields[] = {
	F(VR_AT_NAME, info.name), F(VR_AT_VERSION, info.version), F(VR_AT_LCORES, info.lcores),
	F(VR_AT_UPTIME, info.uptime), FA(VR_AT_COUNT, info.counts, info.n_counts),
	F(VR_AT_BUSY_CYCLES, info.busy_cycles), F(VR_AT_BUSY_PKTS, info.busy_pkts),
	F(VR_AT_TSC_HZ, info.tsc_hz),
};
static const struct vr_field drops_fields[] = {
	F(VR_AT_VIF, drops.vif), FA(VR_AT_DROPS, drops.drops, drops.n),
};

static const struct vr_field policy_fields[] = {
	F(VR_AT_ID, policy.id), F(VR_AT_ACTION, policy.action), F(VR_AT_RULES, policy.rules),
	F(VR_AT_RULE_STATS, policy.rule_stats), F(VR_AT_N_RULES, policy.n_rules),
	F(VR_AT_REFCNT, policy.refcnt), F(VR_AT_POLICY, policy.next),
};
static const struct vr_field flow_fields[] = {
	F(VR_AT_VRF, flow.vrf), F(VR_AT_PROTO, flow.proto), F(VR_AT_SIP, flow.sip),
	F(VR_AT_DIP, flow.dip), F(VR_AT_SPORT, flow.sport), F(VR_AT_DPORT, flow.dport),
	F(VR_AT_ACTION, flow.action), F(VR_AT_POLICY, flow.policy), F(VR_AT_RULE, flow.rule),
	F(VR_AT_STATE, flow.state), F(VR_AT_VIF, flow.vif),
	FA(VR_AT_FLOW_STATS, flow.stats, flow.n_stats), F(VR_AT_IP, flow.ip),
	F(VR_AT_PORT, flow.port), F(VR_AT_NAT, flow.nat), F(VR_AT_NAT_IP, flow.nat_ip),
	F(VR_AT_NAT_PORT, flow.nat_port), F(VR_AT_NAT_VRF, flow.nat_vrf),
	F(VR_AT_SERVICE, flow.service),
};
static const struct vr_field service_fields[] = {
	F(VR_AT_ID, service.id), F(VR_AT_VRF, service.vrf), F(VR_AT_IP, service.ip),
	F(VR_AT_PROTO, service.proto), F(VR_AT_DPORT, service.dport),
	F(VR_AT_BACKENDS, service.backends), F(VR_AT_BACKEND_STATS, service.backend_stats),
};
static const struct vr_field fip_fields[] = {
	F(VR_AT_VRF, fip.vrf), F(VR_AT_IP, fip.ip), F(VR_AT_VIF, fip.vif),
	F(VR_AT_NAT_IP, fip.nat_ip), F(VR_AT_REFCNT, fip.refcnt),
};

struct obj_desc {
	const char *name;
	const struct vr_field *fields;
	unsigned n_fields;
};

#define OBJ(nm, f) { nm, f, sizeof(f) / sizeof(f[0]) }
static const struct obj_desc obj_table[] = {
	[VR_OBJ_INFO] = OBJ("info", info_fields),
	[VR_OBJ_VIF] = OBJ("vif", vif_fields),
	[VR_OBJ_VRF] = OBJ("vrf", vrf_fields),
	[VR_OBJ_NH] = OBJ("nh", nh_fields),
	[VR_OBJ_ROUTE] = OBJ("route", route_fields),
	[VR_OBJ_MPLS] = OBJ("mpls", mpls_fields),
	[VR_OBJ_VNI] = OBJ("vni", vni_fields),
	[VR_OBJ_BRIDGE] = OBJ("bridge", bridge_fields),
	[VR_OBJ_DROPSTATS] = OBJ("dropstats", drops_fields),
	[VR_OBJ_POLICY] = OBJ("policy", policy_fields),
	[VR_OBJ_FLOW] = OBJ("flow", flow_fields),
	[VR_OBJ_SERVICE] = OBJ("service", service_fields),
	[VR_OBJ_FIP] = OBJ("fip", fip_fields),
};
#define N_OBJ (sizeof(obj_table) / sizeof(obj_table[0]))

static const char *const top_names[] = {
	[VR_A_OBJ] = "obj", [VR_A_OBJECT] = "object", [VR_A_CURSOR] = "cursor",
	[VR_A_ERROR] = "error", [VR_A_ERRMSG] = "errmsg",
};
#define N_TOP (sizeof(top_names) / sizeof(top_names[0]))

/* ---- names ---- */

#define NAME_OF(tab, i) ((i) < sizeof(tab) / sizeof(tab[0]) && (tab)[i] ? (tab)[i] : "?")

const char *vr_obj_name(unsigned obj)
{
	return obj < N_OBJ && obj_table[obj].name ? obj_table[obj].name : "?";
}

const char *vr_attr_name(unsigned attr)
{
	return attr < VR_AT_MAX_ && at_table[attr].name ? at_table[attr].name : "?";
}

const char *vr_vif_type_name(unsigned type)
{
	static const char *const n[] = {
		[VR_VIF_FABRIC] = "fabric", [VR_VIF_HOST] = "host", [VR_VIF_KERNEL] = "kernel",
		[VR_VIF_MEMIF] = "memif", [VR_VIF_VHOST] = "vhost",
	};
	return NAME_OF(n, type);
}

const char *vr_nh_type_name(unsigned type)
{
	static const char *const n[] = {
		[VR_NH_DISCARD] = "discard", [VR_NH_RECEIVE] = "receive", [VR_NH_ENCAP] = "encap",
		[VR_NH_TUNNEL] = "tunnel", [VR_NH_ECMP] = "ecmp", [VR_NH_FLOOD] = "flood",
	};
	return NAME_OF(n, type);
}

const char *vr_encap_name(unsigned encap)
{
	static const char *const n[] = {
		[VR_ENCAP_NONE] = "none", [VR_ENCAP_MPLSOUDP] = "mplsoudp",
		[VR_ENCAP_MPLSOGRE] = "mplsogre", [VR_ENCAP_VXLAN] = "vxlan",
	};
	return NAME_OF(n, encap);
}

const char *vr_rx_mode_name(unsigned mode)
{
	static const char *const n[] = {
		[VR_RXM_NONE] = "-", [VR_RXM_FRAMES] = "frames", [VR_RXM_BLOCKS] = "blocks",
	};
	return NAME_OF(n, mode);
}

/* ---- helpers ---- */

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static const struct obj_desc *obj_desc(unsigned obj)
{
	return obj < N_OBJ && obj_table[obj].name ? &obj_table[obj] : NULL;
}

static const struct vr_field *find_field(const struct obj_desc *od, unsigned attr)
{
	for (unsigned i = 0; i < od->n_fields; i++)
		if (od->fields[i].attr == attr)
			return &od->fields[i];
	return NULL;
}

/* Integers are stored through memcpy at the field's own width: the fields
 * have different sizes and the union members no common alignment. */
static uint64_t load_uint(const uint8_t *p, size_t size)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	switch (size) {
	case 1: memcpy(&v8, p, 1); return v8;
	case 2: memcpy(&v16, p, 2); return v16;
	case 4: memcpy(&v32, p, 4); return v32;
	default: memcpy(&v64, p, 8); return v64;
	}
}

static void store_uint(uint8_t *p, size_t size, uint64_t v)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;
	switch (size) {
	case 1: memcpy(p, &v8, 1); break;
	case 2: memcpy(p, &v16, 2); break;
	case 4: memcpy(p, &v32, 4); break;
	default: memcpy(p, &v, 8); break;
	}
}

static uint64_t get_uint(struct tern_rbuf *r, size_t wire)
{
	switch (wire) {
	case 1: return tern_get_u8(r);
	case 2: return tern_get_u16(r);
	case 4: return tern_get_u32(r);
	default: return tern_get_u64(r);
	}
}

static void put_uint(struct tern_wbuf *w, size_t wire, uint64_t v)
{
	switch (wire) {
	case 1: tern_put_u8(w, (uint8_t)v); break;
	case 2: tern_put_u16(w, (uint16_t)v); break;
	case 4: tern_put_u32(w, (uint32_t)v); break;
	default: tern_put_u64(w, v); break;
	}
}

/* ---- framing and top level ---- */

int vr_msg_frame(const uint8_t *hdr, size_t hdr_len, uint32_t *len)
{
	if (!hdr || hdr_len < VR_MSG_HDR_LEN)
		return -EMSGSIZE;
	struct tern_rbuf r;
	tern_rbuf_init(&r, hdr, VR_MSG_HDR_LEN);
	uint32_t magic = tern_get_u32(&r);
	uint16_t version = tern_get_u16(&r);
	(void)tern_get_u16(&r); /* op */
	uint32_t l = tern_get_u32(&r);
	if (magic != VR_PROTO_MAGIC)
		return -EPROTO;
	if (version != VR_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (l < VR_MSG_HDR_LEN || l > VR_MSG_MAX)
		return -EMSGSIZE;
	*len = l;
	return 0;
}

static int frame_error(int rc, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	switch (rc) {
	case -EPROTO:
		return fail(err, errlen, rc, "bad magic: not a tern vrouter control message");
	case -EPROTONOSUPPORT: {
		struct tern_rbuf r;
		tern_rbuf_init(&r, buf, len);
		r.off = 4;
		return fail(err, errlen, rc, "protocol version %u not supported (this side speaks %u)",
			    tern_get_u16(&r), VR_PROTO_VERSION);
	}
	default:
		if (len < VR_MSG_HDR_LEN)
			return fail(err, errlen, rc, "message of %zu bytes is shorter than the %d-byte header",
				    len, VR_MSG_HDR_LEN);
		return fail(err, errlen, rc, "header length outside %d..%d bytes", VR_MSG_HDR_LEN,
			    VR_MSG_MAX);
	}
}

/* Name of the TLV at r's offset, for "runs past the end" messages. */
static unsigned peek_type(const struct tern_rbuf *r)
{
	struct tern_rbuf p = *r;
	uint16_t t = tern_get_u16(&p);
	return p.err ? 0 : t;
}

static int parse_top_attr(struct vr_msg_view *v, uint16_t type, struct tern_rbuf *val,
			  unsigned *seen, char *err, size_t errlen)
{
	size_t n = tern_rbuf_left(val);
	static const uint8_t want[] = { [VR_A_OBJ] = 2, [VR_A_CURSOR] = 8, [VR_A_ERROR] = 4 };
	if (type == 0 || type >= N_TOP)
		return fail(err, errlen, -EBADMSG, "unknown top-level attribute %u", type);
	if (type == VR_A_OBJECT)
		return 0;
	if (*seen & (1u << type))
		return fail(err, errlen, -EBADMSG, "top-level attribute '%s' appears twice",
			    top_names[type]);
	*seen |= 1u << type;
	if (type < sizeof(want) && want[type] && n != want[type])
		return fail(err, errlen, -EBADMSG, "top-level attribute '%s' has %zu bytes, expected %u",
			    top_names[type], n, want[type]);
	switch (type) {
	case VR_A_OBJ:
		v->obj = tern_get_u16(val);
		if (!obj_desc(v->obj))
			return fail(err, errlen, -EBADMSG, "top-level attribute 'obj': unknown object type %u",
				    v->obj);
		break;
	case VR_A_CURSOR:
		v->has_cursor = 1;
		v->cursor = tern_get_u64(val);
		break;
	case VR_A_ERROR:
		v->has_error = 1;
		v->error = (int32_t)tern_get_u32(val);
		break;
	case VR_A_ERRMSG:
		if (n >= sizeof(v->errmsg))
			return fail(err, errlen, -EBADMSG,
				    "top-level attribute 'errmsg' is %zu bytes, at most %zu fit", n,
				    sizeof(v->errmsg) - 1);
		tern_get_bytes(val, v->errmsg, n);
		if (memchr(v->errmsg, 0, n))
			return fail(err, errlen, -EBADMSG, "top-level attribute 'errmsg' contains a NUL byte");
		break;
	}
	return 0;
}

int vr_msg_parse(const uint8_t *buf, size_t len, struct vr_msg_view *v,
		 char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	uint32_t mlen;
	int rc = vr_msg_frame(buf, len, &mlen);
	if (rc < 0)
		return frame_error(rc, buf, len, err, errlen);
	if (mlen != len)
		return fail(err, errlen, -EMSGSIZE, "header says %u bytes but the message has %zu",
			    mlen, len);
	struct tern_rbuf r;
	tern_rbuf_init(&r, buf, len);
	r.off = 6;
	v->op = tern_get_u16(&r);
	r.off = 12;
	v->seq = tern_get_u32(&r);
	if (v->op < VR_OP_ADD || v->op > VR_OP_CLEAR)
		return fail(err, errlen, -EBADMSG, "unknown op %u", v->op);

	unsigned seen = 0;
	size_t first_obj = len;
	for (;;) {
		size_t at = r.off;
		unsigned peek = peek_type(&r);
		uint16_t type;
		struct tern_rbuf val;
		rc = tern_tlv_next(&r, &type, &val);
		if (rc == 0)
			break;
		if (rc < 0)
			return fail(err, errlen, -EBADMSG,
				    "top-level attribute '%s' at offset %zu runs past the end of the message",
				    peek < N_TOP && top_names[peek] ? top_names[peek] : "?", at);
		rc = parse_top_attr(v, type, &val, &seen, err, errlen);
		if (rc < 0)
			return rc;
		if (type == VR_A_OBJECT && v->n_objects++ == 0)
			first_obj = at;
	}
	if (v->n_objects && !v->obj)
		return fail(err, errlen, -EBADMSG, "message carries objects but no 'obj' attribute");
	v->buf = buf;
	v->len = len;
	v->next_obj = first_obj;
	return 0;
}

/* ---- object decoding ---- */

static const char *nest_sub_name(const struct nest_desc *nd, unsigned t)
{
	return t >= nd->first && t < nd->first + nd->n ? nd->subs[t - nd->first].name : "?";
}

/* A nested attribute (K_NEST) into the struct at base: each of its own
 * attributes known, once, of its width and within its range. */
static int decode_nest(uint8_t *base, const struct nest_desc *nd, struct tern_rbuf *val,
		       const char *on, const char *an, char *err, size_t errlen)
{
	uint32_t seen = 0;
	for (;;) {
		unsigned peek = peek_type(val);
		uint16_t t;
		struct tern_rbuf sv;
		int rc = tern_tlv_next(val, &t, &sv);
		if (rc == 0)
			return 0;
		if (rc < 0)
			return fail(err, errlen, -EBADMSG, "%s attribute '%s': %s '%s' runs past its end",
				    on, an, nd->noun, nest_sub_name(nd, peek));
		if (t < nd->first || t >= nd->first + nd->n)
			return fail(err, errlen, -EINVAL, "%s attribute '%s': unknown %s %u (%s)", on, an,
				    nd->noun, t, nd->hint);
		unsigned i = t - nd->first;
		const struct nest_sub *s = &nd->subs[i];
		if (seen & (1u << i))
			return fail(err, errlen, -EINVAL, "%s attribute '%s': %s '%s' appears twice",
				    on, an, nd->noun, s->name);
		seen |= 1u << i;
		if (tern_rbuf_left(&sv) != s->wire)
			return fail(err, errlen, -EINVAL, "%s attribute '%s': %s '%s' has %zu bytes, "
				    "expected %u", on, an, nd->noun, s->name, tern_rbuf_left(&sv), s->wire);
		uint64_t v = get_uint(&sv, s->wire);
		if (s->max && v > s->max)
			return fail(err, errlen, -EINVAL, "%s attribute '%s': %s '%s' is %" PRIu64
				    ", at most %u", on, an, nd->noun, s->name, v, s->max);
		store_uint(base + s->off, s->wire, v);
	}
}

/* What the sub-attributes cannot say one by one. */
static int check_port_rx(const struct vr_port_rx *prx, const char *on, char *err, size_t errlen)
{
	if (prx->adaptive && prx->mode == VR_RXM_NONE)
		return fail(err, errlen, -EINVAL, "%s attribute 'port_rx': 'adaptive' without a "
			    "'mode' (only kernel vifs receive adaptively)", on);
	return 0;
}

static int decode_array(struct vr_object *o, const struct vr_field *f, unsigned kind,
			struct tern_rbuf *val, const char *on, char *err, size_t errlen)
{
	const char *an = vr_attr_name(f->attr);
	size_t esz = kind_size[kind];
	size_t n = tern_rbuf_left(val);
	if (n % esz)
		return fail(err, errlen, -EINVAL, "%s attribute '%s' has %zu bytes, not a multiple of %zu",
			    on, an, n, esz);
	size_t cnt = n / esz, cap = f->size / esz;
	if (cnt > cap)
		return fail(err, errlen, -EINVAL, "%s attribute '%s' has %zu entries, at most %zu fit",
			    on, an, cnt, cap);
	uint8_t *p = (uint8_t *)o + f->off;
	for (size_t i = 0; i < cnt; i++)
		store_uint(p + i * esz, esz, get_uint(val, esz));
	store_uint((uint8_t *)o + f->n_off, 2, cnt);
	return 0;
}

static int decode_attr(struct vr_object *o, const struct vr_field *f, struct tern_rbuf *val,
		       const char *on, char *err, size_t errlen)
{
	const char *an = vr_attr_name(f->attr);
	unsigned kind = at_table[f->attr].kind;
	uint8_t *p = (uint8_t *)o + f->off;
	size_t n = tern_rbuf_left(val);
	switch (kind) {
	case K_U8: case K_U16: case K_U32: case K_U64: case K_MAC:
		if (n != kind_size[kind])
			return fail(err, errlen, -EINVAL, "%s attribute '%s' has %zu bytes, expected %u",
				    on, an, n, kind_size[kind]);
		if (kind == K_MAC)
			tern_get_bytes(val, p, n);
		else
			store_uint(p, f->size, get_uint(val, n));
		return 0;
	case K_STR:
		if (n >= f->size)
			return fail(err, errlen, -EINVAL, "%s attribute '%s' is %zu bytes long, at most %u fit",
				    on, an, n, f->size - 1u);
		tern_get_bytes(val, p, n);
		if (memchr(p, 0, n))
			return fail(err, errlen, -EINVAL, "%s attribute '%s' contains a NUL byte", on, an);
		return 0;
	case K_ADDR: {
		struct vr_addr *a = (struct vr_addr *)p;
		if (n != 4 && n != 16)
			return fail(err, errlen, -EINVAL,
				    "%s attribute '%s' has %zu bytes, expected 4 (IPv4) or 16 (IPv6)",
				    on, an, n);
		a->family = n == 4 ? 4 : 6;
		tern_get_bytes(val, a->a, n);
		return 0;
	}
	case K_U32S: case K_U64S:
		return decode_array(o, f, kind, val, on, err, errlen);
	case K_NEST: {
		int rc = decode_nest(p, at_table[f->attr].nest, val, on, an, err, errlen);
		if (rc == 0 && f->attr == VR_AT_PORT_RX)
			rc = check_port_rx((const struct vr_port_rx *)p, on, err, errlen);
		return rc;
	}
	case K_RECS: {
		struct vr_recs rs;
		unsigned rec = at_table[f->attr].rec;
		if (n % rec)
			return fail(err, errlen, -EINVAL,
				    "%s attribute '%s' has %zu bytes, not a multiple of its %u-byte records",
				    on, an, n, rec);
		rs.p = val->buf + val->off; /* zero copy: the records stay in the message */
		rs.n = (uint16_t)(n / rec);
		memcpy(p, &rs, sizeof(rs));
		return 0;
	}
	default:
		return fail(err, errlen, -EINVAL, "%s attribute '%s' cannot be decoded", on, an);
	}
}

static int decode_object(struct vr_object *o, const struct obj_desc *od, struct tern_rbuf *r,
			 char *err, size_t errlen)
{
	for (;;) {
		unsigned peek = peek_type(r);
		uint16_t t;
		struct tern_rbuf val;
		int rc = tern_tlv_next(r, &t, &val);
		if (rc == 0)
			return 1;
		if (rc < 0)
			return fail(err, errlen, -EBADMSG, "%s attribute '%s' runs past the end of the object",
				    od->name, vr_attr_name(peek));
		if (t == 0 || t >= VR_AT_MAX_ || at_table[t].kind == K_NONE)
			return fail(err, errlen, -EINVAL, "unknown attribute %u in %s", t, od->name);
		const struct vr_field *f = find_field(od, t);
		if (!f)
			return fail(err, errlen, -EINVAL, "attribute '%s' does not apply to a %s",
				    vr_attr_name(t), od->name);
		if (VR_HAVE(o, t))
			return fail(err, errlen, -EINVAL, "attribute '%s' appears twice in a %s",
				    vr_attr_name(t), od->name);
		rc = decode_attr(o, f, &val, od->name, err, errlen);
		if (rc < 0)
			return rc;
		VR_SET(o, t);
	}
}

int vr_msg_next_object(struct vr_msg_view *v, struct vr_object *o,
		       char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->obj = v->obj;
	if (!v->buf || v->next_obj >= v->len)
		return 0;
	struct tern_rbuf r;
	tern_rbuf_init(&r, v->buf, v->len);
	r.off = v->next_obj;
	for (;;) {
		uint16_t t;
		struct tern_rbuf val;
		int rc = tern_tlv_next(&r, &t, &val);
		v->next_obj = rc < 0 ? v->len : r.off;
		if (rc < 0)
			return fail(err, errlen, -EBADMSG, "object runs past the end of the message");
		if (rc == 0)
			return 0;
		if (t != VR_A_OBJECT)
			continue;
		const struct obj_desc *od = obj_desc(v->obj);
		if (!od)
			return fail(err, errlen, -EBADMSG, "object of unknown type %u", v->obj);
		return decode_object(o, od, &val, err, errlen);
	}
}

/* ---- encoding ---- */

void vr_msg_begin(struct tern_wbuf *w, uint16_t op, uint32_t seq, uint16_t obj)
{
	tern_put_u32(w, VR_PROTO_MAGIC);
	tern_put_u16(w, VR_PROTO_VERSION);
	tern_put_u16(w, op);
	tern_put_u32(w, 0); /* length, patched by vr_msg_finish */
	tern_put_u32(w, seq);
	if (obj)
		tern_tlv_u16(w, VR_A_OBJ, obj);
}

static void encode_attr(struct tern_wbuf *w, const struct vr_object *o, const struct vr_field *f)
{
	unsigned kind = at_table[f->attr].kind;
	const uint8_t *p = (const uint8_t *)o + f->off;
	size_t start, cnt;
	switch (kind) {
	case K_U8: case K_U16: case K_U32: case K_U64:
		start = tern_tlv_begin(w, f->attr);
		put_uint(w, kind_size[kind], load_uint(p, f->size));
		tern_tlv_end(w, start);
		break;
	case K_STR: /* never more than fits the receiver's field, NUL included */
		tern_tlv_put(w, f->attr, p, strnlen((const char *)p, f->size - 1u));
		break;
	case K_MAC:
		tern_tlv_put(w, f->attr, p, 6);
		break;
	case K_ADDR: {
		const struct vr_addr *a = (const struct vr_addr *)p;
		if (a->family == 4 || a->family == 6) /* family 0: nothing to say */
			tern_tlv_put(w, f->attr, a->a, a->family == 4 ? 4 : 16);
		break;
	}
	case K_U32S: case K_U64S:
		cnt = load_uint((const uint8_t *)o + f->n_off, 2);
		if (cnt > f->size / kind_size[kind])
			cnt = f->size / kind_size[kind];
		start = tern_tlv_begin(w, f->attr);
		for (size_t i = 0; i < cnt; i++)
			put_uint(w, kind_size[kind], load_uint(p + i * kind_size[kind], kind_size[kind]));
		tern_tlv_end(w, start);
		break;
	case K_RECS: {
		struct vr_recs rs;
		memcpy(&rs, p, sizeof(rs));
		size_t bytes = (size_t)rs.n * at_table[f->attr].rec;
		if (bytes > 65535) { /* a TLV length is 16 bits: a caller bug */
			if (!w->err)
				w->err = -EMSGSIZE;
			break;
		}
		tern_tlv_put(w, f->attr, rs.n ? (const void *)rs.p : "", bytes);
		break;
	}
	case K_NEST: {
		const struct nest_desc *nd = at_table[f->attr].nest;
		start = tern_tlv_begin(w, f->attr);
		for (unsigned i = 0; i < nd->n; i++) {
			const struct nest_sub *s = &nd->subs[i];
			size_t sub = tern_tlv_begin(w, (uint16_t)(nd->first + i));
			put_uint(w, s->wire, load_uint(p + s->off, s->wire));
			tern_tlv_end(w, sub);
		}
		tern_tlv_end(w, start);
		break;
	}
	}
}

void vr_msg_put_object(struct tern_wbuf *w, const struct vr_object *o)
{
	const struct obj_desc *od = obj_desc(o->obj);
	if (!od) { /* a caller bug; refuse rather than send an empty object */
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	size_t start = tern_tlv_begin(w, VR_A_OBJECT);
	for (unsigned i = 0; i < od->n_fields; i++)
		if (VR_HAVE(o, od->fields[i].attr))
			encode_attr(w, o, &od->fields[i]);
	tern_tlv_end(w, start);
}

void vr_msg_put_error(struct tern_wbuf *w, int32_t error, const char *msg)
{
	tern_tlv_u32(w, VR_A_ERROR, (uint32_t)error);
	if (msg && *msg) /* the receiver keeps at most 255 bytes */
		tern_tlv_put(w, VR_A_ERRMSG, msg, strnlen(msg, 255));
}

void vr_msg_put_cursor(struct tern_wbuf *w, uint64_t cursor)
{
	tern_tlv_u64(w, VR_A_CURSOR, cursor);
}

int vr_msg_finish(struct tern_wbuf *w)
{
	if (w->err)
		return w->err;
	if (w->len < VR_MSG_HDR_LEN || w->len > VR_MSG_MAX)
		return -ENOSPC;
	tern_patch_u32(w, 8, (uint32_t)w->len);
	return w->err ? w->err : (int)w->len;
}

/* ---- policy rule records ---- */

void vr_rule_pack(const struct vr_rule *rule, uint8_t *rec)
{
	struct tern_wbuf w;
	tern_wbuf_init(&w, rec, VR_RULE_LEN);
	tern_put_u32(&w, rule->id);
	tern_put_u8(&w, rule->action);
	tern_put_u8(&w, rule->flags);
	tern_put_u8(&w, rule->proto);
	tern_put_u8(&w, rule->family);
	tern_put_u8(&w, rule->src_plen);
	tern_put_u8(&w, rule->dst_plen);
	tern_put_u16(&w, 0);
	tern_put_u16(&w, rule->sport_lo);
	tern_put_u16(&w, rule->sport_hi);
	tern_put_u16(&w, rule->dport_lo);
	tern_put_u16(&w, rule->dport_hi);
	tern_put_bytes(&w, rule->src, 16);
	tern_put_bytes(&w, rule->dst, 16);
}

void vr_rule_unpack(const uint8_t *rec, struct vr_rule *rule)
{
	struct tern_rbuf r;
	tern_rbuf_init(&r, rec, VR_RULE_LEN);
	rule->id = tern_get_u32(&r);
	rule->action = tern_get_u8(&r);
	rule->flags = tern_get_u8(&r);
	rule->proto = tern_get_u8(&r);
	rule->family = tern_get_u8(&r);
	rule->src_plen = tern_get_u8(&r);
	rule->dst_plen = tern_get_u8(&r);
	(void)tern_get_u16(&r); /* reserved */
	rule->sport_lo = tern_get_u16(&r);
	rule->sport_hi = tern_get_u16(&r);
	rule->dport_lo = tern_get_u16(&r);
	rule->dport_hi = tern_get_u16(&r);
	tern_get_bytes(&r, rule->src, 16);
	tern_get_bytes(&r, rule->dst, 16);
}

void vr_rule_stats_pack(const struct vr_rule_stats *st, uint8_t *rec)
{
	struct tern_wbuf w;
	tern_wbuf_init(&w, rec, VR_RULE_STATS_LEN);
	tern_put_u32(&w, st->hits > UINT32_MAX ? UINT32_MAX : (uint32_t)st->hits);
	tern_put_u64(&w, st->denied);
}

void vr_rule_stats_unpack(const uint8_t *rec, struct vr_rule_stats *st)
{
	struct tern_rbuf r;
	tern_rbuf_init(&r, rec, VR_RULE_STATS_LEN);
	st->hits = tern_get_u32(&r);
	st->denied = tern_get_u64(&r);
}

void vr_backend_pack(const struct vr_backend *b, uint8_t family, uint8_t *rec)
{
	struct tern_wbuf w;
	uint8_t a[16] = { 0 };
	memcpy(a, b->addr.a, family == 4 ? 4 : 16);
	tern_wbuf_init(&w, rec, VR_BACKEND_LEN);
	tern_put_bytes(&w, a, 16);
	tern_put_u16(&w, b->port);
	tern_put_u8(&w, b->weight);
	tern_put_u8(&w, 0);
}

void vr_backend_unpack(const uint8_t *rec, uint8_t family, struct vr_backend *b)
{
	struct tern_rbuf r;
	tern_rbuf_init(&r, rec, VR_BACKEND_LEN);
	memset(b, 0, sizeof(*b));
	b->addr.family = family;
	tern_get_bytes(&r, b->addr.a, 16);
	b->port = tern_get_u16(&r);
	b->weight = tern_get_u8(&r);
	/* an IPv4 record must leave bytes 4..15 zero: vr_backend_check sees them */
}

int vr_backend_check(const struct vr_backend *b, unsigned idx, char *err, size_t errlen)
{
	static const uint8_t zero[16];
	if (b->addr.family == 4 && memcmp(b->addr.a + 4, zero, 12))
		return fail(err, errlen, -EINVAL, "backend %u: addr: an IPv4 service's backend has "
			    "bytes set beyond the first 4 (an IPv6 address?)", idx);
	if (!memcmp(b->addr.a, zero, 16))
		return fail(err, errlen, -EINVAL, "backend %u: addr: the unspecified address", idx);
	return 0;
}

const char *vr_action_name(unsigned action)
{
	static const char *const n[] = { [VR_ACT_PASS] = "pass", [VR_ACT_DENY] = "deny" };
	return NAME_OF(n, action);
}

const char *vr_flow_state_name(unsigned state)
{
	static const char *const n[] = { "new", "syn", "established", "fin", "closed", "other" };
	return NAME_OF(n, state);
}

/* Are the address bits after plen all zero? */
static bool host_bits_clear(const uint8_t *a, unsigned plen, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
		uint8_t mask = (uint8_t)(keep ? 0xffu << (8 - keep) : 0);
		if (a[i] & (uint8_t)~mask)
			return false;
	}
	return true;
}

int vr_rule_check(const struct vr_rule *rule, unsigned idx, char *err, size_t errlen)
{
	unsigned id = rule->id;
	unsigned max = rule->family == 4 ? 32 : 128;
	if (!rule->id)
		return fail(err, errlen, -EINVAL, "rule %u: id: 0 is reserved for the default action",
			    idx);
	if (rule->action != VR_ACT_PASS && rule->action != VR_ACT_DENY)
		return fail(err, errlen, -EINVAL, "rule %u (id %u): action: %u is neither pass (1) "
			    "nor deny (2)", idx, id, rule->action);
	if (rule->flags & ~VR_RULE_F_LOG)
		return fail(err, errlen, -EINVAL, "rule %u (id %u): flags: unknown bits 0x%x", idx, id,
			    rule->flags & ~VR_RULE_F_LOG);
	if (rule->family != 4 && rule->family != 6)
		return fail(err, errlen, -EINVAL, "rule %u (id %u): family: %u is neither 4 nor 6", idx,
			    id, rule->family);
	if (rule->proto != 0 && rule->proto != 1 && rule->proto != 6 && rule->proto != 17 &&
	    rule->proto != 58)
		return fail(err, errlen, -EINVAL, "rule %u (id %u): proto: %u is not one of 0 (any), "
			    "1 (icmp), 6 (tcp), 17 (udp), 58 (icmpv6)", idx, id, rule->proto);
	if ((rule->proto == 1 && rule->family != 4) || (rule->proto == 58 && rule->family != 6))
		return fail(err, errlen, -EINVAL, "rule %u (id %u): proto: %s with family %u",
			    idx, id, rule->proto == 1 ? "icmp" : "icmpv6", rule->family);
	if (rule->src_plen > max || rule->dst_plen > max)
		return fail(err, errlen, -EINVAL, "rule %u (id %u): %s: prefix length %u is above %u",
			    idx, id, rule->src_plen > max ? "src" : "dst",
			    rule->src_plen > max ? rule->src_plen : rule->dst_plen, max);
	/* 16 bytes whatever the family: an IPv4 record leaves bytes 4..15 zero */
	if (!host_bits_clear(rule->src, rule->src_plen, 16))
		return fail(err, errlen, -EINVAL, "rule %u (id %u): src: address bits set beyond /%u",
			    idx, id, rule->src_plen);
	if (!host_bits_clear(rule->dst, rule->dst_plen, 16))
		return fail(err, errlen, -EINVAL, "rule %u (id %u): dst: address bits set beyond /%u",
			    idx, id, rule->dst_plen);
	if (rule->sport_lo > rule->sport_hi || rule->dport_lo > rule->dport_hi)
		return fail(err, errlen, -EINVAL, "rule %u (id %u): %s: range %u-%u is empty (lo > hi)",
			    idx, id, rule->sport_lo > rule->sport_hi ? "sport" : "dport",
			    rule->sport_lo > rule->sport_hi ? rule->sport_lo : rule->dport_lo,
			    rule->sport_lo > rule->sport_hi ? rule->sport_hi : rule->dport_hi);
	bool all_ports = rule->sport_lo == 0 && rule->sport_hi == 65535 && rule->dport_lo == 0 &&
			 rule->dport_hi == 65535;
	if (!all_ports && rule->proto != 6 && rule->proto != 17)
		return fail(err, errlen, -EINVAL, "rule %u (id %u): ports: port ranges need proto tcp "
			    "or udp", idx, id);
	return 0;
}
