/*
 * DOC: ctl_out.c — see ctl_out.h. One column table per object type says what
 * to print and how (format kind, field, width in lists; width 0 = shown by
 * get only). Table, detail and JSON output all walk the same table.
 */
#include "ctl_out.h"
#include "tern_mac.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* How a column's value is shown. */
enum fmt {
	F_NUM,      /* unsigned integer of the field's width */
	F_STR,
	F_MAC,
	F_ADDR,     /* struct vr_addr */
	F_PREFIX,   /* route prefix/plen */
	F_VIFTYPE, F_NHTYPE, F_ENCAP,
	F_ROLE,     /* memif server / client */
	F_LINK,     /* up / down; JSON boolean */
	F_FLAGS,    /* letters in a table, names in JSON */
	F_MEMBERS,  /* nexthop members, "1,2,3" / JSON array */
	F_UPTIME,   /* seconds: "2d 03:04:05" in a table */
	F_ACTION,   /* pass / deny */
	F_PROTO,    /* tcp, udp, icmp, icmp6, any or the number */
	F_STATE,    /* flow state name */
	F_ENDPOINT, /* flow address:port; sip with sport, dip with dport */
	F_RULE,     /* flow rule id; "default" for 0 when a policy decided */
	F_MS,       /* milliseconds shown as seconds */
	F_NATEP,    /* flow: the translated address:port */
	F_NBACKENDS, /* service: backend count */
	F_RXMODE,   /* vif port_rx: "frames", "blocks", "adaptive:frames", "adaptive:blocks" */
};

struct flag_desc {
	uint32_t bit;
	char letter;
	const char *name;  /* JSON and legend */
};

#define COL_ZERO_NONE 0x1  /* 0 means "none": shown as "-", left out of JSON */
#define COL_NO_JSON   0x2  /* a table convenience (JSON has the parts) */
#define COL_LIST_DASH 0x4  /* a list shows 0 as "-" (the few non-zero counters stand out);
			    * get and JSON show the number */

struct col {
	const char *head;
	const char *key;
	uint8_t width;      /* list column width; 0: get and JSON only */
	uint8_t fmt;
	uint8_t attr;       /* printed when the object has it */
	uint8_t opt;
	uint16_t off, size; /* the field in struct vr_object */
	const struct flag_desc *flags;
};

#define FSIZE(m) sizeof(((struct vr_object *)0)->u.m)
#define C(h, k, w, f, at, m) { h, k, w, f, at, 0, offsetof(struct vr_object, u.m), FSIZE(m), NULL }
#define CZ(h, k, w, f, at, m) { h, k, w, f, at, COL_ZERO_NONE, offsetof(struct vr_object, u.m), \
	FSIZE(m), NULL }
#define CN(h, k, w, f, at, m) { h, k, w, f, at, COL_NO_JSON, offsetof(struct vr_object, u.m), \
	FSIZE(m), NULL }
#define CD(h, k, w, f, at, m) { h, k, w, f, at, COL_LIST_DASH, offsetof(struct vr_object, u.m), \
	FSIZE(m), NULL }
#define CF(h, k, w, at, m, fl) { h, k, w, F_FLAGS, at, 0, offsetof(struct vr_object, u.m), \
	FSIZE(m), fl }

static const struct flag_desc vif_flags[] = { { VR_VIF_F_POLICY, 'P', "policy" }, { 0, 0, NULL } };
static const struct flag_desc vrf_flags[] = {
	{ VR_VRF_F_L3, 'R', "l3" }, { VR_VRF_F_L2, 'B', "l2" }, { 0, 0, NULL },
};
static const struct flag_desc nh_flags[] = { { VR_NH_F_L2, 'L', "l2" }, { 0, 0, NULL } };
static const struct flag_desc nat_flags[] = {
	{ VR_NAT_SRC, 'S', "snat" }, { VR_NAT_DST, 'D', "dnat" }, { 0, 0, NULL } };
static const struct flag_desc rt_flags[] = { { VR_RT_F_PROXY_ARP, 'P', "proxy-arp" }, { 0, 0, NULL } };

static const struct col vif_cols[] = {
	C("Vif", "id", 4, F_NUM, VR_AT_ID, vif.id),
	C("Type", "type", 6, F_VIFTYPE, VR_AT_TYPE, vif.type),
	C("Name", "name", 16, F_STR, VR_AT_NAME, vif.name),
	C("Ifname", "ifname", 12, F_STR, VR_AT_IFNAME, vif.ifname),
	C("Socket", "socket", 0, F_STR, VR_AT_SOCKET, vif.socket),
	C("Role", "role", 0, F_ROLE, VR_AT_ROLE, vif.role),
	C("VRF", "vrf", 5, F_NUM, VR_AT_VRF, vif.vrf),
	C("MAC", "mac", 17, F_MAC, VR_AT_MAC, vif.mac),
	C("IP", "ip", 15, F_ADDR, VR_AT_IP, vif.ip),
	C("MTU", "mtu", 5, F_NUM, VR_AT_MTU, vif.mtu),
	C("Port", "port_id", 4, F_NUM, VR_AT_PORT_ID, vif.port_id),
	C("Link", "link", 4, F_LINK, VR_AT_LINK, vif.link),
	CF("Flags", "flags", 5, VR_AT_FLAGS, vif.flags, vif_flags),
	CZ("Pol in", "policy_in", 6, F_NUM, VR_AT_POLICY_IN, vif.policy_in),
	CZ("Pol out", "policy_out", 7, F_NUM, VR_AT_POLICY_OUT, vif.policy_out),
	C("RX pkts", "rx_pkts", 10, F_NUM, VR_AT_STATS, vif.stats.rx_pkts),
	C("RX bytes", "rx_bytes", 0, F_NUM, VR_AT_STATS, vif.stats.rx_bytes),
	C("RX errors", "rx_errors", 0, F_NUM, VR_AT_STATS, vif.stats.rx_errors),
	/* rx_errors broken down (port_rx), and how a kernel vif receives */
	CZ("RX mode", "rx_mode", 15, F_RXMODE, VR_AT_PORT_RX, vif.port_rx.mode),
	CD("RX nombuf", "rx_nombuf", 9, F_NUM, VR_AT_PORT_RX, vif.port_rx.nombuf),
	CD("RX missed", "rx_missed", 9, F_NUM, VR_AT_PORT_RX, vif.port_rx.missed),
	CD("RX bad", "rx_bad", 6, F_NUM, VR_AT_PORT_RX, vif.port_rx.bad),
	CD("RX switches", "rx_switches", 11, F_NUM, VR_AT_PORT_RX, vif.port_rx.switches),
	C("TX pkts", "tx_pkts", 10, F_NUM, VR_AT_STATS, vif.stats.tx_pkts),
	C("TX bytes", "tx_bytes", 0, F_NUM, VR_AT_STATS, vif.stats.tx_bytes),
	C("TX errors", "tx_errors", 0, F_NUM, VR_AT_STATS, vif.stats.tx_errors),
};
static const struct col vrf_cols[] = {
	C("VRF", "id", 5, F_NUM, VR_AT_ID, vrf.id),
	CF("Flags", "flags", 5, VR_AT_FLAGS, vrf.flags, vrf_flags),
	CZ("Flood NH", "flood_nh", 8, F_NUM, VR_AT_NH, vrf.nh),
	CZ("VNI", "vni", 8, F_NUM, VR_AT_VNI, vrf.vni),
};
static const struct col nh_cols[] = {
	C("NH", "id", 5, F_NUM, VR_AT_ID, nh.id),
	C("Type", "type", 7, F_NHTYPE, VR_AT_TYPE, nh.type),
	CF("Flags", "flags", 5, VR_AT_FLAGS, nh.flags, nh_flags),
	C("Vif", "vif", 4, F_NUM, VR_AT_VIF, nh.vif), /* vif 0 is the fabric: never omitted */
	C("VRF", "vrf", 5, F_NUM, VR_AT_VRF, nh.vrf),
	CZ("Encap", "encap", 8, F_ENCAP, VR_AT_ENCAP, nh.encap),
	C("DMAC", "dmac", 0, F_MAC, VR_AT_DMAC, nh.dmac),
	C("Source", "sip", 0, F_ADDR, VR_AT_SIP, nh.sip),
	C("Destination", "dip", 15, F_ADDR, VR_AT_DIP, nh.dip),
	CZ("Label", "label", 7, F_NUM, VR_AT_LABEL, nh.label),
	CZ("VNI", "vni", 8, F_NUM, VR_AT_VNI, nh.vni),
	C("Refs", "refcnt", 5, F_NUM, VR_AT_REFCNT, nh.refcnt),
	C("Members", "members", 7, F_MEMBERS, VR_AT_MEMBERS, nh.members),
};
static const struct col route_cols[] = {
	C("VRF", "vrf", 5, F_NUM, VR_AT_VRF, route.vrf),
	C("Prefix", "prefix", 43, F_PREFIX, VR_AT_PREFIX, route.prefix),
	C("NH", "nh", 5, F_NUM, VR_AT_NH, route.nh),
	CF("Flags", "flags", 5, VR_AT_FLAGS, route.flags, rt_flags),
	CZ("Proxy MAC", "mac", 17, F_MAC, VR_AT_MAC, route.mac),
};
static const struct col mpls_cols[] = {
	C("Label", "label", 7, F_NUM, VR_AT_LABEL, mpls.label),
	C("NH", "nh", 5, F_NUM, VR_AT_NH, mpls.nh),
};
static const struct col vni_cols[] = {
	C("VNI", "vni", 8, F_NUM, VR_AT_VNI, vni.vni),
	C("VRF", "vrf", 5, F_NUM, VR_AT_VRF, vni.vrf),
};
static const struct col bridge_cols[] = {
	C("VRF", "vrf", 5, F_NUM, VR_AT_VRF, bridge.vrf),
	C("MAC", "mac", 17, F_MAC, VR_AT_MAC, bridge.mac),
	C("NH", "nh", 5, F_NUM, VR_AT_NH, bridge.nh),
};
static const struct col info_cols[] = {
	C("Name", "name", 0, F_STR, VR_AT_NAME, info.name),
	C("Version", "version", 0, F_STR, VR_AT_VERSION, info.version),
	C("Lcores", "lcores", 0, F_STR, VR_AT_LCORES, info.lcores),
	C("Uptime", "uptime", 0, F_UPTIME, VR_AT_UPTIME, info.uptime),
	C("Busy cycles", "busy_cycles", 0, F_NUM, VR_AT_BUSY_CYCLES, info.busy_cycles),
	C("Busy packets", "busy_pkts", 0, F_NUM, VR_AT_BUSY_PKTS, info.busy_pkts),
	C("TSC Hz", "tsc_hz", 0, F_NUM, VR_AT_TSC_HZ, info.tsc_hz),
	C("Vifs", "vifs", 0, F_NUM, VR_AT_COUNT, info.counts[VR_CNT_VIFS]),
	C("VRFs", "vrfs", 0, F_NUM, VR_AT_COUNT, info.counts[VR_CNT_VRFS]),
	C("Nexthops", "nexthops", 0, F_NUM, VR_AT_COUNT, info.counts[VR_CNT_NHS]),
	C("Routes", "routes", 0, F_NUM, VR_AT_COUNT, info.counts[VR_CNT_ROUTES]),
	C("MPLS labels", "labels", 0, F_NUM, VR_AT_COUNT, info.counts[VR_CNT_LABELS]),
	C("VNIs", "vnis", 0, F_NUM, VR_AT_COUNT, info.counts[VR_CNT_VNIS]),
	C("Bridge entries", "bridge_entries", 0, F_NUM, VR_AT_COUNT, info.counts[VR_CNT_BRIDGE]),
	C("Flows", "flows", 0, F_NUM, VR_AT_COUNT, info.counts[VR_CNT_FLOWS]),
};

static const struct col policy_cols[] = {
	C("Policy", "id", 6, F_NUM, VR_AT_ID, policy.id),
	C("Default", "default", 7, F_ACTION, VR_AT_ACTION, policy.action),
	C("Rules", "rules", 5, F_NUM, VR_AT_N_RULES, policy.n_rules),
	C("Refs", "refcnt", 4, F_NUM, VR_AT_REFCNT, policy.refcnt),
	CZ("Next", "next", 6, F_NUM, VR_AT_POLICY, policy.next),
};
static const struct col flow_cols[] = {
	C("VRF", "vrf", 5, F_NUM, VR_AT_VRF, flow.vrf),
	C("Proto", "proto", 5, F_PROTO, VR_AT_PROTO, flow.proto),
	CN("Source", "source", 30, F_ENDPOINT, VR_AT_SIP, flow.sip),
	CN("Destination", "destination", 30, F_ENDPOINT, VR_AT_DIP, flow.dip),
	C("Source IP", "sip", 0, F_ADDR, VR_AT_SIP, flow.sip),
	C("Source port", "sport", 0, F_NUM, VR_AT_SPORT, flow.sport),
	C("Destination IP", "dip", 0, F_ADDR, VR_AT_DIP, flow.dip),
	C("Destination port", "dport", 0, F_NUM, VR_AT_DPORT, flow.dport),
	C("Action", "action", 6, F_ACTION, VR_AT_ACTION, flow.action),
	CZ("Policy", "policy", 6, F_NUM, VR_AT_POLICY, flow.policy),
	C("Rule", "rule", 8, F_RULE, VR_AT_RULE, flow.rule),
	C("State", "state", 11, F_STATE, VR_AT_STATE, flow.state),
	C("Vif", "vif", 4, F_NUM, VR_AT_VIF, flow.vif),
	C("Pkts", "pkts", 8, F_NUM, VR_AT_FLOW_STATS, flow.stats[VR_FC_FWD_PKTS]),
	C("Bytes", "bytes", 10, F_NUM, VR_AT_FLOW_STATS, flow.stats[VR_FC_FWD_BYTES]),
	C("RPkts", "reverse_pkts", 8, F_NUM, VR_AT_FLOW_STATS, flow.stats[VR_FC_REV_PKTS]),
	C("RBytes", "reverse_bytes", 10, F_NUM, VR_AT_FLOW_STATS, flow.stats[VR_FC_REV_BYTES]),
	C("Age", "age_ms", 8, F_MS, VR_AT_FLOW_STATS, flow.stats[VR_FC_AGE_MS]),
	C("Idle", "idle_ms", 0, F_MS, VR_AT_FLOW_STATS, flow.stats[VR_FC_IDLE_MS]),
	CF("NAT", "nat", 3, VR_AT_NAT, flow.nat, nat_flags),
	CN("Translated to", "translated", 30, F_NATEP, VR_AT_NAT_IP, flow.nat_ip),
	C("NAT IP", "nat_ip", 0, F_ADDR, VR_AT_NAT_IP, flow.nat_ip),
	C("NAT port", "nat_port", 0, F_NUM, VR_AT_NAT_PORT, flow.nat_port),
	C("NAT VRF", "nat_vrf", 0, F_NUM, VR_AT_NAT_VRF, flow.nat_vrf),
	CZ("Service", "service", 0, F_NUM, VR_AT_SERVICE, flow.service),
};
static const struct col service_cols[] = {
	C("Service", "id", 7, F_NUM, VR_AT_ID, service.id),
	C("VRF", "vrf", 5, F_NUM, VR_AT_VRF, service.vrf),
	C("Proto", "proto", 5, F_PROTO, VR_AT_PROTO, service.proto),
	C("Virtual IP", "vip", 39, F_ADDR, VR_AT_IP, service.ip),
	C("Port", "port", 5, F_NUM, VR_AT_DPORT, service.dport),
	CN("Backends", "n_backends", 8, F_NBACKENDS, VR_AT_BACKENDS, service.backends),
};
static const struct col fip_cols[] = {
	C("VRF", "vrf", 5, F_NUM, VR_AT_VRF, fip.vrf),
	C("Floating IP", "ip", 39, F_ADDR, VR_AT_IP, fip.ip),
	C("Vif", "vif", 4, F_NUM, VR_AT_VIF, fip.vif),
	C("Pod IP", "pod_ip", 39, F_ADDR, VR_AT_NAT_IP, fip.nat_ip),
};

struct obj_cols {
	const struct col *cols;
	unsigned n;
};
#define OC(t) { t, sizeof(t) / sizeof(t[0]) }
static const struct obj_cols obj_cols[] = {
	[VR_OBJ_INFO] = OC(info_cols), [VR_OBJ_VIF] = OC(vif_cols), [VR_OBJ_VRF] = OC(vrf_cols),
	[VR_OBJ_NH] = OC(nh_cols), [VR_OBJ_ROUTE] = OC(route_cols), [VR_OBJ_MPLS] = OC(mpls_cols),
	[VR_OBJ_VNI] = OC(vni_cols), [VR_OBJ_BRIDGE] = OC(bridge_cols),
	[VR_OBJ_POLICY] = OC(policy_cols), [VR_OBJ_FLOW] = OC(flow_cols),
	[VR_OBJ_SERVICE] = OC(service_cols), [VR_OBJ_FIP] = OC(fip_cols),
};

static const struct obj_cols *cols_of(unsigned obj)
{
	static const struct obj_cols none = { NULL, 0 };
	return obj < sizeof(obj_cols) / sizeof(obj_cols[0]) ? &obj_cols[obj] : &none;
}

int out_parse_fmt(const char *s, enum out_fmt *fmt)
{
	if (strcmp(s, "table") == 0 || strcmp(s, "wide") == 0)
		*fmt = OUT_TABLE;
	else if (strcmp(s, "json") == 0)
		*fmt = OUT_JSON;
	else
		return -EINVAL;
	return 0;
}

void out_init(struct out *o, enum out_fmt fmt, FILE *f)
{
	memset(o, 0, sizeof(*o));
	o->fmt = fmt;
	o->f = f;
}

/* ---- one value ---- */

static uint64_t load_num(const struct vr_object *obj, const struct col *c)
{
	const uint8_t *p = (const uint8_t *)obj + c->off;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	switch (c->size) {
	case 1: memcpy(&v8, p, 1); return v8;
	case 2: memcpy(&v16, p, 2); return v16;
	case 4: memcpy(&v32, p, 4); return v32;
	default: memcpy(&v64, p, 8); return v64;
	}
}

static int is_zero(const struct vr_object *obj, const struct col *c)
{
	const uint8_t *p = (const uint8_t *)obj + c->off;
	for (unsigned i = 0; i < c->size; i++)
		if (p[i])
			return 0;
	return 1;
}

static void fmt_addr(const struct vr_addr *a, char *buf, size_t n)
{
	if (a->family != 4 && a->family != 6) {
		snprintf(buf, n, "-");
		return;
	}
	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, buf, (socklen_t)n))
		snprintf(buf, n, "?");
}

static void fmt_flags(uint32_t v, const struct flag_desc *fl, char *buf, size_t n)
{
	size_t k = 0;
	for (; fl->letter && k + 1 < n; fl++)
		if (v & fl->bit)
			buf[k++] = fl->letter;
	buf[k] = '\0';
	if (!k)
		snprintf(buf, n, "-");
}

static const char *role_name(unsigned r)
{
	return r == 0 ? "server" : r == 1 ? "client" : "?";
}

static void fmt_proto(unsigned p, char *buf, size_t n)
{
	const char *s = p == 0 ? "any" : p == 1 ? "icmp" : p == 6 ? "tcp" : p == 17 ? "udp"
		      : p == 58 ? "icmp6" : NULL;
	if (s)
		snprintf(buf, n, "%s", s);
	else
		snprintf(buf, n, "%u", p);
}

/* "10.1.0.1:80", "[fd00::1]:80" */
static void fmt_endpoint(const struct vr_addr *a, unsigned port, char *buf, size_t n)
{
	char t[INET6_ADDRSTRLEN];
	fmt_addr(a, t, sizeof(t));
	snprintf(buf, n, a->family == 6 ? "[%s]:%u" : "%s:%u", t, port);
}

/* The value as text, for tables and detail lines. */
static void cell_text(const struct vr_object *obj, const struct col *c, char *buf, size_t n)
{
	const void *p = (const uint8_t *)obj + c->off;
	uint64_t v = 0;
	if (!VR_HAVE(obj, c->attr) || ((c->opt & COL_ZERO_NONE) && is_zero(obj, c))) {
		snprintf(buf, n, "-");
		return;
	}
	if (c->fmt != F_STR && c->fmt != F_MAC && c->fmt != F_ADDR && c->fmt != F_PREFIX &&
	    c->fmt != F_MEMBERS && c->fmt != F_ENDPOINT && c->fmt != F_NATEP && c->fmt != F_NBACKENDS)
		v = load_num(obj, c);
	switch (c->fmt) {
	case F_NUM: snprintf(buf, n, "%" PRIu64, v); break;
	case F_STR: snprintf(buf, n, "%s", *(const char *)p ? (const char *)p : "-"); break;
	case F_MAC: tern_mac_format(p, buf, n); break;
	case F_ADDR: fmt_addr(p, buf, n); break;
	case F_PREFIX: {
		char a[INET6_ADDRSTRLEN];
		fmt_addr(p, a, sizeof(a));
		snprintf(buf, n, "%s/%u", a, obj->u.route.plen);
		break;
	}
	case F_VIFTYPE: snprintf(buf, n, "%s", vr_vif_type_name((unsigned)v)); break;
	case F_NHTYPE: snprintf(buf, n, "%s", vr_nh_type_name((unsigned)v)); break;
	case F_ENCAP: snprintf(buf, n, "%s", vr_encap_name((unsigned)v)); break;
	case F_ROLE: snprintf(buf, n, "%s", role_name((unsigned)v)); break;
	case F_LINK: snprintf(buf, n, "%s", v ? "up" : "down"); break;
	case F_FLAGS: fmt_flags((uint32_t)v, c->flags, buf, n); break;
	case F_MEMBERS: {
		size_t k = 0;
		buf[0] = '\0';
		for (unsigned i = 0; i < obj->u.nh.n_members && k < n; i++) {
			int w = snprintf(buf + k, n - k, "%s%" PRIu32, i ? "," : "", obj->u.nh.members[i]);
			k += w > 0 ? (size_t)w : 0;
		}
		if (!obj->u.nh.n_members)
			snprintf(buf, n, "-");
		break;
	}
	case F_UPTIME:
		snprintf(buf, n, "%" PRIu64 "d %02u:%02u:%02u", v / 86400, (unsigned)(v % 86400 / 3600),
			 (unsigned)(v % 3600 / 60), (unsigned)(v % 60));
		break;
	case F_ACTION: snprintf(buf, n, "%s", vr_action_name((unsigned)v)); break;
	case F_PROTO: fmt_proto((unsigned)v, buf, n); break;
	case F_STATE: snprintf(buf, n, "%s", vr_flow_state_name((unsigned)v)); break;
	case F_ENDPOINT:
		fmt_endpoint(p, c->attr == VR_AT_SIP ? obj->u.flow.sport : obj->u.flow.dport, buf, n);
		break;
	case F_RULE:
		if (v || !obj->u.flow.policy)
			snprintf(buf, n, v ? "%" PRIu64 : "-", v);
		else
			snprintf(buf, n, "default");
		break;
	case F_MS: snprintf(buf, n, "%" PRIu64 ".%01" PRIu64 "s", v / 1000, v % 1000 / 100); break;
	case F_NATEP: fmt_endpoint(p, obj->u.flow.nat_port, buf, n); break;
	case F_NBACKENDS: snprintf(buf, n, "%u", obj->u.service.backends.n); break;
	case F_RXMODE:
		snprintf(buf, n, "%s%s", obj->u.vif.port_rx.adaptive ? "adaptive:" : "",
			 vr_rx_mode_name((unsigned)v));
		break;
	}
}

/* The value as JSON; NULL when absent (left out) or out of memory. */
static json_t *cell_json(const struct vr_object *obj, const struct col *c)
{
	if (!VR_HAVE(obj, c->attr) || ((c->opt & COL_ZERO_NONE) && is_zero(obj, c)))
		return NULL;
	char text[512];
	if (c->opt & COL_NO_JSON)
		return NULL;
	switch (c->fmt) {
	case F_NUM:
	case F_MS:
	case F_RULE:
	case F_UPTIME: /* counters stay below 2^63 in practice; jansson ints are signed */
		return json_integer((json_int_t)load_num(obj, c));
	case F_LINK:
		return json_boolean(load_num(obj, c) != 0);
	case F_FLAGS: {
		json_t *a = json_array();
		uint32_t v = (uint32_t)load_num(obj, c);
		for (const struct flag_desc *fl = c->flags; a && fl->letter; fl++)
			if ((v & fl->bit) && json_array_append_new(a, json_string(fl->name)) < 0) {
				json_decref(a);
				return NULL;
			}
		return a;
	}
	case F_MEMBERS: {
		json_t *a = json_array();
		for (unsigned i = 0; a && i < obj->u.nh.n_members; i++)
			if (json_array_append_new(a, json_integer(obj->u.nh.members[i])) < 0) {
				json_decref(a);
				return NULL;
			}
		return a;
	}
	default:
		cell_text(obj, c, text, sizeof(text));
		return json_string(text);
	}
}

static json_t *obj_json(const struct vr_object *obj)
{
	const struct obj_cols *oc = cols_of(obj->obj);
	json_t *j = json_object();
	for (unsigned i = 0; j && i < oc->n; i++) {
		json_t *v = cell_json(obj, &oc->cols[i]);
		if (v && json_object_set_new(j, oc->cols[i].key, v) < 0) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

/* Print and free j; -ENOMEM when it could not be built. */
static int emit_json(struct out *o, json_t *j, size_t flags)
{
	if (!j)
		return -ENOMEM;
	int rc = json_dumpf(j, o->f, flags | JSON_PRESERVE_ORDER);
	json_decref(j);
	return rc < 0 ? -EIO : 0;
}

/* ---- lists ---- */

static void print_legend(struct out *o, const struct obj_cols *oc)
{
	for (unsigned i = 0; i < oc->n; i++) {
		const struct col *c = &oc->cols[i];
		if (c->fmt != F_FLAGS || !c->width)
			continue;
		fprintf(o->f, "Flags:");
		for (const struct flag_desc *fl = c->flags; fl->letter; fl++)
			fprintf(o->f, "%s %c=%s", fl == c->flags ? "" : ",", fl->letter, fl->name);
		fprintf(o->f, "\n\n");
	}
}

/* The list columns of a row: each padded to its width, the last unpadded. */
static void print_row(struct out *o, const struct obj_cols *oc, const struct vr_object *obj)
{
	int last = -1;
	for (unsigned i = 0; i < oc->n; i++)
		if (oc->cols[i].width)
			last = (int)i;
	for (unsigned i = 0; i < oc->n; i++) {
		const struct col *c = &oc->cols[i];
		char text[512];
		if (!c->width)
			continue;
		if (obj && (c->opt & COL_LIST_DASH) && VR_HAVE(obj, c->attr) && is_zero(obj, c))
			snprintf(text, sizeof(text), "-");
		else if (obj)
			cell_text(obj, c, text, sizeof(text));
		else
			snprintf(text, sizeof(text), "%s", c->head);
		if ((int)i == last)
			fprintf(o->f, "%s\n", text);
		else
			fprintf(o->f, "%-*s ", c->width, text);
	}
}

void out_list_begin(struct out *o, uint16_t obj)
{
	o->obj = obj;
	o->rows = 0;
	if (o->fmt == OUT_JSON) {
		fprintf(o->f, "[");
		return;
	}
	const struct obj_cols *oc = cols_of(obj);
	print_legend(o, oc);
	print_row(o, oc, NULL);
}

int out_list_row(struct out *o, const struct vr_object *obj)
{
	if (o->fmt == OUT_JSON) {
		/* one compact object per line: valid JSON, and easy to grep */
		fprintf(o->f, "%s\n  ", o->rows ? "," : "");
		o->rows++;
		return emit_json(o, obj_json(obj), JSON_COMPACT);
	}
	o->rows++;
	print_row(o, cols_of(obj->obj), obj);
	return 0;
}

void out_list_end(struct out *o)
{
	if (o->fmt == OUT_JSON)
		fprintf(o->f, "%s]\n", o->rows ? "\n" : "");
	else if (o->rows == 0)
		fprintf(o->f, "(no %s entries)\n", vr_obj_name(o->obj));
	fflush(o->f);
}

/* ---- one object ---- */

int out_detail(struct out *o, const struct vr_object *obj)
{
	if (o->fmt == OUT_JSON) {
		int rc = emit_json(o, obj_json(obj), JSON_INDENT(2));
		fprintf(o->f, "\n");
		return rc;
	}
	const struct obj_cols *oc = cols_of(obj->obj);
	unsigned w = 0;
	for (unsigned i = 0; i < oc->n; i++)
		if (strlen(oc->cols[i].head) > w)
			w = (unsigned)strlen(oc->cols[i].head);
	for (unsigned i = 0; i < oc->n; i++) {
		const struct col *c = &oc->cols[i];
		char text[512];
		if (!VR_HAVE(obj, c->attr))
			continue;
		cell_text(obj, c, text, sizeof(text));
		char names[128] = ""; /* flag letters spelled out: " (l3,l2)" */
		if (c->fmt == F_FLAGS) {
			size_t k = 0;
			uint32_t v = (uint32_t)load_num(obj, c);
			for (const struct flag_desc *fl = c->flags; fl->letter; fl++)
				if ((v & fl->bit) && k + 1 < sizeof(names))
					k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s",
							      k ? "," : " (", fl->name);
			if (k && k + 1 < sizeof(names))
				snprintf(names + k, sizeof(names) - k, ")");
		}
		fprintf(o->f, "%s:%*s %s%s\n", c->head, (int)(w - strlen(c->head)), "", text, names);
	}
	return 0;
}

int out_drops(struct out *o, const struct vr_object *obj, int all)
{
	const struct vr_obj_drops *d = &obj->u.drops;
	json_t *arr = o->fmt == OUT_JSON ? json_array() : NULL;
	if (o->fmt == OUT_JSON && !arr)
		return -ENOMEM;
	unsigned shown = 0;
	if (o->fmt == OUT_TABLE)
		fprintf(o->f, "%-18s %14s  %s\n", "Reason", "Packets", "Description");
	for (unsigned i = 0; i < d->n && i < VR_DROP_MAX_; i++) {
		if (!d->drops[i] && !all)
			continue;
		shown++;
		if (o->fmt == OUT_TABLE) {
			fprintf(o->f, "%-18s %14" PRIu64 "  %s\n", vr_drop_name(i), d->drops[i],
				vr_drop_text(i));
			continue;
		}
		json_t *e = json_pack("{s:s, s:I, s:s}", "reason", vr_drop_name(i), "packets",
				      (json_int_t)d->drops[i], "description", vr_drop_text(i));
		if (!e || json_array_append_new(arr, e) < 0) {
			json_decref(arr);
			return -ENOMEM;
		}
	}
	if (o->fmt == OUT_JSON) {
		int rc = emit_json(o, arr, JSON_INDENT(2));
		fprintf(o->f, "\n");
		return rc;
	}
	if (!shown)
		fprintf(o->f, "(no packets dropped; --all shows every counter)\n");
	return 0;
}

/* "3", "vrf 2 10.0.0.0/24", ...: how a user names the object. */
static void key_text(const struct vr_object *k, char *buf, size_t n)
{
	char a[128];
	switch (k->obj) {
	case VR_OBJ_ROUTE:
		cell_text(k, &route_cols[1], a, sizeof(a));
		snprintf(buf, n, "vrf %u %s", k->u.route.vrf, a);
		break;
	case VR_OBJ_BRIDGE:
		cell_text(k, &bridge_cols[1], a, sizeof(a));
		snprintf(buf, n, "vrf %u %s", k->u.bridge.vrf, a);
		break;
	case VR_OBJ_FIP:
		cell_text(k, &fip_cols[1], a, sizeof(a));
		snprintf(buf, n, "vrf %u %s", k->u.fip.vrf, a);
		break;
	default: {
		/* the first column is the key of every other object */
		const struct obj_cols *oc = cols_of(k->obj);
		if (oc->n && VR_HAVE(k, oc->cols[0].attr))
			cell_text(k, &oc->cols[0], buf, n);
		else
			snprintf(buf, n, "%s", k->obj == VR_OBJ_VIF ? "(all)" : "");
	}
	}
}

int out_done(struct out *o, const struct vr_object *key, const struct vr_object *reply,
	     const char *what)
{
	if (o->fmt == OUT_JSON && reply)
		return out_detail(o, reply);
	char k[160];
	key_text(reply ? reply : key, k, sizeof(k));
	if (o->fmt == OUT_JSON) {
		int rc = emit_json(o, json_pack("{s:s, s:s, s:s}", "object", vr_obj_name(key->obj),
						"key", k, "result", what), JSON_INDENT(2));
		fprintf(o->f, "\n");
		return rc;
	}
	fprintf(o->f, "%s%s%s %s\n", vr_obj_name(key->obj), k[0] ? " " : "", k, what);
	return 0;
}

/* ---- policies ---- */

/* A rule's ports ("any", "5432", "1000-2000"), protocol and prefixes as text. */
static void port_text(uint16_t lo, uint16_t hi, char *buf, size_t n)
{
	if (lo == 0 && hi == 65535)
		snprintf(buf, n, "any");
	else if (lo == hi)
		snprintf(buf, n, "%u", lo);
	else
		snprintf(buf, n, "%u-%u", lo, hi);
}

static void prefix_text(uint8_t family, const uint8_t *addr, uint8_t plen, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, a, sizeof(a));
	snprintf(buf, n, "%s/%u", a, plen);
}

static json_t *rule_json(const struct vr_rule *ru, const struct vr_rule_stats *st)
{
	char src[64], dst[64], proto[16];
	prefix_text(ru->family, ru->src, ru->src_plen, src, sizeof(src));
	prefix_text(ru->family, ru->dst, ru->dst_plen, dst, sizeof(dst));
	fmt_proto(ru->proto, proto, sizeof(proto));
	return json_pack("{s:I, s:s, s:b, s:s, s:i, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I}",
			 "id", (json_int_t)ru->id, "action", vr_action_name(ru->action),
			 "log", (ru->flags & VR_RULE_F_LOG) != 0, "proto", proto, "family", ru->family,
			 "src", src, "dst", dst, "sport_lo", ru->sport_lo, "sport_hi", ru->sport_hi,
			 "dport_lo", ru->dport_lo, "dport_hi", ru->dport_hi,
			 "hits", (json_int_t)st->hits, "denied", (json_int_t)st->denied);
}

int out_policy(struct out *o, const struct vr_object *obj)
{
	const struct vr_obj_policy *p = &obj->u.policy;
	unsigned n = VR_HAVE(obj, VR_AT_RULES) ? p->rules.n : 0;
	unsigned ns = VR_HAVE(obj, VR_AT_RULE_STATS) ? p->rule_stats.n : 0;
	struct vr_rule_stats none = { 0, 0 };
	if (o->fmt == OUT_JSON) {
		json_t *j = obj_json(obj), *arr = json_array();
		for (unsigned i = 0; j && arr && i < n; i++) {
			struct vr_rule ru;
			struct vr_rule_stats st = none;
			vr_rule_unpack(p->rules.p + (size_t)i * VR_RULE_LEN, &ru);
			if (i < ns)
				vr_rule_stats_unpack(p->rule_stats.p + (size_t)i * VR_RULE_STATS_LEN, &st);
			if (json_array_append_new(arr, rule_json(&ru, &st)) < 0) {
				json_decref(arr);
				arr = NULL;
			}
		}
		struct vr_rule_stats dst = none;
		if (ns > n)
			vr_rule_stats_unpack(p->rule_stats.p + (size_t)n * VR_RULE_STATS_LEN, &dst);
		if (!j || !arr || json_object_set_new(j, "rule_list", arr) < 0 ||
		    json_object_set_new(j, "default_stats", json_pack("{s:I, s:I}", "hits",
					(json_int_t)dst.hits, "denied", (json_int_t)dst.denied)) < 0) {
			json_decref(j);
			return -ENOMEM;
		}
		int rc = emit_json(o, j, JSON_INDENT(2));
		fprintf(o->f, "\n");
		return rc;
	}
	int rc = out_detail(o, obj);
	if (rc < 0)
		return rc;
	fprintf(o->f, "\n%-5s %-10s %-8s %-5s %-43s %-43s %-11s %-11s %10s %12s\n", "#", "Rule",
		"Action", "Proto", "Source", "Destination", "Sport", "Dport", "Hits", "Denied");
	for (unsigned i = 0; i <= n; i++) {
		struct vr_rule_stats st = none;
		if (i < ns)
			vr_rule_stats_unpack(p->rule_stats.p + (size_t)i * VR_RULE_STATS_LEN, &st);
		if (i == n) {
			fprintf(o->f, "%-5s %-10s %-8s %-5s %-43s %-43s %-11s %-11s %10" PRIu64 " %12" PRIu64
				"\n", "-", "default", vr_action_name(p->action), "any", "any", "any", "any",
				"any", st.hits, st.denied);
			break;
		}
		struct vr_rule ru;
		char src[64], dst[64], sp[16], dp[16], proto[16], act[16];
		vr_rule_unpack(p->rules.p + (size_t)i * VR_RULE_LEN, &ru);
		prefix_text(ru.family, ru.src, ru.src_plen, src, sizeof(src));
		prefix_text(ru.family, ru.dst, ru.dst_plen, dst, sizeof(dst));
		port_text(ru.sport_lo, ru.sport_hi, sp, sizeof(sp));
		port_text(ru.dport_lo, ru.dport_hi, dp, sizeof(dp));
		fmt_proto(ru.proto, proto, sizeof(proto));
		snprintf(act, sizeof(act), "%s%s", vr_action_name(ru.action),
			 ru.flags & VR_RULE_F_LOG ? "+log" : "");
		fprintf(o->f, "%-5u %-10u %-8s %-5s %-43s %-43s %-11s %-11s %10" PRIu64 " %12" PRIu64 "\n",
			i, ru.id, act, proto, src, dst, sp, dp, st.hits, st.denied);
	}
	return 0;
}

void out_policy_denies(struct out *o, const struct vr_object *obj, unsigned *shown)
{
	const struct vr_obj_policy *p = &obj->u.policy;
	for (unsigned i = 0; i < p->rule_stats.n; i++) {
		struct vr_rule_stats st;
		vr_rule_stats_unpack(p->rule_stats.p + (size_t)i * VR_RULE_STATS_LEN, &st);
		if (!st.denied)
			continue;
		if (!(*shown)++)
			fprintf(o->f, "\nPOLICY_DENY by rule:\n%-8s %-10s %14s\n", "Policy", "Rule", "Packets");
		char rule[16];
		if (i < p->rules.n) {
			struct vr_rule ru;
			vr_rule_unpack(p->rules.p + (size_t)i * VR_RULE_LEN, &ru);
			snprintf(rule, sizeof(rule), "%u", ru.id);
		} else {
			snprintf(rule, sizeof(rule), "default");
		}
		fprintf(o->f, "%-8u %-10s %14" PRIu64 "\n", p->id, rule, st.denied);
	}
}

/* ---- services ---- */

int out_service(struct out *o, const struct vr_object *obj)
{
	const struct vr_obj_service *s = &obj->u.service;
	unsigned n = VR_HAVE(obj, VR_AT_BACKENDS) ? s->backends.n : 0;
	unsigned ns = VR_HAVE(obj, VR_AT_BACKEND_STATS) ? s->backend_stats.n : 0;
	json_t *j = NULL, *arr = NULL;
	if (o->fmt == OUT_JSON) {
		j = obj_json(obj);
		arr = json_array();
		if (!j || !arr || json_object_set(j, "backends", arr) < 0) {
			json_decref(j);
			json_decref(arr);
			return -ENOMEM;
		}
	} else {
		int rc = out_detail(o, obj);
		if (rc < 0)
			return rc;
		fprintf(o->f, "\n%-4s %-46s %6s %12s\n", "#", "Backend", "Weight", "New flows");
	}
	for (unsigned i = 0; i < n; i++) {
		struct vr_backend b;
		uint64_t flows = 0;
		char ep[64], a[INET6_ADDRSTRLEN];
		vr_backend_unpack(s->backends.p + (size_t)i * VR_BACKEND_LEN, s->ip.family, &b);
		for (unsigned k = 0; i < ns && k < 8; k++)
			flows = flows << 8 | s->backend_stats.p[(size_t)i * VR_BACKEND_STATS_LEN + k];
		unsigned port = b.port ? b.port : s->dport;
		fmt_addr(&b.addr, a, sizeof(a));
		fmt_endpoint(&b.addr, port, ep, sizeof(ep));
		if (arr) {
			if (json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:I}", "ip", a, "port",
						  (int)port, "weight", b.weight ? b.weight : 1,
						  "flows", (json_int_t)flows)) < 0)
				break;
		} else {
			fprintf(o->f, "%-4u %-46s %6u %12" PRIu64 "\n", i, ep, b.weight ? b.weight : 1, flows);
		}
	}
	if (j) {
		json_decref(arr);
		int rc = emit_json(o, j, JSON_INDENT(2));
		fprintf(o->f, "\n");
		return rc;
	}
	return 0;
}
