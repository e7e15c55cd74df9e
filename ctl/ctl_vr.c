/*
 * DOC: ctl_vr.c — `ternctl vr ...`: the vrouter's tables over its control
 * socket (see docs/CONTROL-PROTOCOL.md).
 *
 * One table lists every command: noun, verb, the options it accepts, how many
 * positional arguments, the function, the usage line. Options are parsed once
 * for all commands into struct args; a command then converts the ones it
 * needs, each conversion naming the option it complains about.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "tern_mac.h"

enum opt {
	O_TYPE, O_IFNAME, O_SOCKET, O_ROLE, O_MAC, O_VRF, O_MTU, O_IP, O_NAME, O_ID,
	O_L2, O_L3, O_FLOOD_NH, O_VNI, O_VIF, O_DMAC, O_ENCAP, O_SIP, O_DIP, O_LABEL,
	O_MEMBERS, O_FAMILY, O_NH, O_PROXY_ARP, O_ALL, O_HELP, O_POLICY, O_POLICY_IN,
	O_POLICY_OUT, O_DEFAULT, O_RULE, O_RULES_FILE, O_PORT, O_PROTO, O_BACKEND, O_NAT_IP, O_NEXT,
	O_MAX_,
};

static const struct option long_opts[] = {
	[O_TYPE] = { "type", required_argument, NULL, O_TYPE },
	[O_IFNAME] = { "ifname", required_argument, NULL, O_IFNAME },
	[O_SOCKET] = { "socket", required_argument, NULL, O_SOCKET },
	[O_ROLE] = { "role", required_argument, NULL, O_ROLE },
	[O_MAC] = { "mac", required_argument, NULL, O_MAC },
	[O_VRF] = { "vrf", required_argument, NULL, O_VRF },
	[O_MTU] = { "mtu", required_argument, NULL, O_MTU },
	[O_IP] = { "ip", required_argument, NULL, O_IP },
	[O_NAME] = { "name", required_argument, NULL, O_NAME },
	[O_ID] = { "id", required_argument, NULL, O_ID },
	[O_L2] = { "l2", no_argument, NULL, O_L2 },
	[O_L3] = { "l3", no_argument, NULL, O_L3 },
	[O_FLOOD_NH] = { "flood-nh", required_argument, NULL, O_FLOOD_NH },
	[O_VNI] = { "vni", required_argument, NULL, O_VNI },
	[O_VIF] = { "vif", required_argument, NULL, O_VIF },
	[O_DMAC] = { "dmac", required_argument, NULL, O_DMAC },
	[O_ENCAP] = { "encap", required_argument, NULL, O_ENCAP },
	[O_SIP] = { "sip", required_argument, NULL, O_SIP },
	[O_DIP] = { "dip", required_argument, NULL, O_DIP },
	[O_LABEL] = { "label", required_argument, NULL, O_LABEL },
	[O_MEMBERS] = { "members", required_argument, NULL, O_MEMBERS },
	[O_FAMILY] = { "family", required_argument, NULL, O_FAMILY },
	[O_NH] = { "nh", required_argument, NULL, O_NH },
	[O_PROXY_ARP] = { "proxy-arp", no_argument, NULL, O_PROXY_ARP },
	[O_ALL] = { "all", no_argument, NULL, O_ALL },
	[O_HELP] = { "help", no_argument, NULL, O_HELP },
	[O_POLICY] = { "policy", no_argument, NULL, O_POLICY },
	[O_POLICY_IN] = { "policy-in", required_argument, NULL, O_POLICY_IN },
	[O_POLICY_OUT] = { "policy-out", required_argument, NULL, O_POLICY_OUT },
	[O_DEFAULT] = { "default", required_argument, NULL, O_DEFAULT },
	[O_RULE] = { "rule", required_argument, NULL, O_RULE },
	[O_RULES_FILE] = { "rules-file", required_argument, NULL, O_RULES_FILE },
	[O_PORT] = { "port", required_argument, NULL, O_PORT },
	[O_PROTO] = { "proto", required_argument, NULL, O_PROTO },
	[O_BACKEND] = { "backend", required_argument, NULL, O_BACKEND },
	[O_NAT_IP] = { "nat-ip", required_argument, NULL, O_NAT_IP },
	[O_NEXT] = { "next", required_argument, NULL, O_NEXT },
	[O_MAX_] = { NULL, 0, NULL, 0 },
};

#define B(o) (1ull << (o))

struct cmd;

/* A parsed command line. */
struct args {
	const struct cmd *cmd;
	const char *val[O_MAX_];  /* option values ("" for flags), NULL when absent */
	const char *rules[VR_POLICY_MAX_RULES]; /* --rule, repeatable, in order */
	unsigned n_rules;
	const char *backends[VR_SVC_MAX_BACKENDS]; /* --backend, repeatable */
	unsigned n_backends;
	int npos;
	char **pos;
};

struct cmd {
	const char *noun;
	const char *verb;         /* NULL: the noun alone */
	uint16_t obj;
	uint64_t opts;            /* B(O_x) for each option accepted */
	uint8_t min_pos, max_pos;
	int (*fn)(struct ctl *c, struct args *a);
	const char *usage;        /* after "ternctl vr " */
};

/* ---- converting arguments: each error names the option, exit code 2 ---- */

static int parse_num(const char *what, const char *s, unsigned long long max,
		     unsigned long long *out)
{
	char *end;
	if (!s) {
		ctl_err("%s: missing", what);
		return -EINVAL;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (!*s || *end || errno || s[0] == '-' || v > max) {
		ctl_err("%s: '%s' is not a number from 0 to %llu", what, s, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Option o as a number up to max, into *out (width bytes). 0 also when the
 * option is absent (then *out is untouched and *have is not set). */
static int opt_num(struct args *a, int o, unsigned long long max, void *out, size_t width)
{
	unsigned long long v;
	char what[32];
	if (!a->val[o])
		return 0;
	snprintf(what, sizeof(what), "--%s", long_opts[o].name);
	if (parse_num(what, a->val[o], max, &v) < 0)
		return -EINVAL;
	if (width == 1)
		*(uint8_t *)out = (uint8_t)v;
	else if (width == 2)
		*(uint16_t *)out = (uint16_t)v;
	else
		*(uint32_t *)out = (uint32_t)v;
	return 1;
}

/* The option must be given. */
static int need(struct args *a, int o, const char *meta)
{
	if (a->val[o])
		return 0;
	ctl_err("vr %s %s: --%s %s is required (usage: ternctl vr %s)", a->cmd->noun,
		a->cmd->verb ? a->cmd->verb : "", long_opts[o].name, meta, a->cmd->usage);
	return -EINVAL;
}

static int parse_mac(const char *what, const char *s, uint8_t mac[6])
{
	if (tern_mac_parse(s, mac) < 0) {
		ctl_err("%s: '%s' is not a MAC address like 02:00:00:00:00:01", what, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_addr(const char *what, const char *s, struct vr_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, s, addr->a) == 1)
		addr->family = 4;
	else if (inet_pton(AF_INET6, s, addr->a) == 1)
		addr->family = 6;
	else {
		ctl_err("%s: '%s' is not an IPv4 or IPv6 address", what, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_prefix(const char *s, struct vr_addr *addr, uint8_t *plen)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= INET6_ADDRSTRLEN) {
		ctl_err("PREFIX/LEN: '%s' is not a prefix like 10.1.0.0/24 or fd00::/64", s);
		return -EINVAL;
	}
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (parse_addr("PREFIX/LEN", buf, addr) < 0)
		return -EINVAL;
	unsigned long long v;
	if (parse_num("PREFIX/LEN: the length", slash + 1, addr->family == 4 ? 32 : 128, &v) < 0)
		return -EINVAL;
	*plen = (uint8_t)v;
	return 0;
}

static int opt_mac(struct args *a, int o, uint8_t mac[6])
{
	char what[32];
	snprintf(what, sizeof(what), "--%s", long_opts[o].name);
	return a->val[o] ? (parse_mac(what, a->val[o], mac) < 0 ? -EINVAL : 1) : 0;
}

static int opt_addr(struct args *a, int o, struct vr_addr *addr)
{
	char what[32];
	snprintf(what, sizeof(what), "--%s", long_opts[o].name);
	return a->val[o] ? (parse_addr(what, a->val[o], addr) < 0 ? -EINVAL : 1) : 0;
}

/* Option o as one of the names name(first) .. name(max - 1), into *out. */
static int opt_enum(struct args *a, int o, const char *(*name)(unsigned), unsigned first,
		    unsigned max, uint8_t *out)
{
	if (!a->val[o])
		return 0;
	for (unsigned i = first; i < max; i++)
		if (strcmp(a->val[o], name(i)) == 0) {
			*out = (uint8_t)i;
			return 1;
		}
	char list[128] = "";
	size_t k = 0;
	for (unsigned i = first; i < max && k < sizeof(list); i++)
		k += (size_t)snprintf(list + k, sizeof(list) - k, "%s%s", i > first ? "|" : "", name(i));
	ctl_err("--%s %s: unknown; one of %s", long_opts[o].name, a->val[o], list);
	return -EINVAL;
}

static const char *role_name(unsigned r)
{
	return r == 0 ? "server" : r == 1 ? "client" : "?";
}

/* Set attribute at in o when rc says the option was given; pass errors on. */
static int have(struct vr_object *o, unsigned at, int rc)
{
	if (rc > 0)
		VR_SET(o, at);
	return rc < 0 ? rc : 0;
}

/* ---- talking to the vrouter ---- */

static int request(struct ctl *c, uint16_t op, uint16_t obj, const struct vr_object *o,
		   uint64_t cursor, struct vr_msg_view *v)
{
	char err[512];
	if (!c->reply && !(c->reply = malloc(VR_MSG_MAX))) {
		ctl_err("out of memory");
		return -ENOMEM;
	}
	if (!c->vr) {
		c->vr = vr_client_open(c->sock_path, c->socket ? NULL : c->vrouter, err, sizeof(err));
		if (!c->vr) {
			int e = errno;
			ctl_err("%s", err);
			return -e;
		}
	}
	int rc = vr_client_request(c->vr, op, obj, o, cursor, c->reply, VR_MSG_MAX, v, err,
				   sizeof(err));
	if (rc < 0)
		ctl_err("%s", err);
	return rc;
}

/* The first object of a reply into *o; 0 when there is none. */
static int reply_object(struct vr_msg_view *v, struct vr_object *o)
{
	char err[256];
	int rc = vr_msg_next_object(v, o, err, sizeof(err));
	if (rc < 0)
		ctl_err("bad reply from the vrouter: %s", err);
	return rc;
}

/* DUMP page after page until the cursor comes back 0. */
static int dump(struct ctl *c, uint16_t obj, const struct vr_object *filter)
{
	uint64_t cursor = 0;
	int started = 0;
	do {
		struct vr_msg_view v;
		struct vr_object o;
		int rc = request(c, VR_OP_DUMP, obj, filter, cursor, &v);
		if (rc < 0)
			return CTL_ERR;
		if (!started++) /* no header above a connection error */
			out_list_begin(&c->out, obj);
		while ((rc = reply_object(&v, &o)) == 1)
			if (out_list_row(&c->out, &o) < 0) {
				ctl_err("out of memory");
				return CTL_ERR;
			}
		if (rc < 0)
			return CTL_ERR;
		uint64_t next = v.has_cursor ? v.cursor : 0;
		if (next && next == cursor && v.n_objects == 0) { /* would loop forever */
			ctl_err("the vrouter returned cursor %llu again with no objects",
				(unsigned long long)cursor);
			return CTL_ERR;
		}
		cursor = next;
	} while (cursor);
	out_list_end(&c->out);
	return CTL_OK;
}

/* ---- keys ---- */

/* The key of an object from the command line (positional argument, and
 * --vrf for routes and bridge entries). */
static int build_key(struct args *a, uint16_t obj, struct vr_object *o)
{
	memset(o, 0, sizeof(*o));
	o->obj = obj;
	unsigned long long v;
	const char *p = a->npos ? a->pos[0] : NULL;
	switch (obj) {
	case VR_OBJ_VIF:
		if (parse_num("vif ID", p, VR_MAX_VIFS - 1, &v) < 0)
			return -EINVAL;
		o->u.vif.id = (uint32_t)v;
		VR_SET(o, VR_AT_ID);
		return 0;
	case VR_OBJ_VRF:
		if (parse_num("VRF ID", p, VR_MAX_VRFS_LIMIT - 1, &v) < 0)
			return -EINVAL;
		o->u.vrf.id = (uint32_t)v;
		VR_SET(o, VR_AT_ID);
		return 0;
	case VR_OBJ_NH:
		if (parse_num("nexthop ID", p, VR_MAX_NEXTHOPS - 1, &v) < 0)
			return -EINVAL;
		o->u.nh.id = (uint32_t)v;
		VR_SET(o, VR_AT_ID);
		return 0;
	case VR_OBJ_MPLS:
		if (parse_num("LABEL", p, VR_MAX_LABEL, &v) < 0)
			return -EINVAL;
		o->u.mpls.label = (uint32_t)v;
		VR_SET(o, VR_AT_LABEL);
		return 0;
	case VR_OBJ_VNI:
		if (parse_num("VNI", p, VR_MAX_VNI, &v) < 0)
			return -EINVAL;
		o->u.vni.vni = (uint32_t)v;
		VR_SET(o, VR_AT_VNI);
		return 0;
	case VR_OBJ_POLICY:
		if (parse_num("policy ID", p, VR_MAX_POLICIES - 1, &v) < 0)
			return -EINVAL;
		o->u.policy.id = (uint32_t)v;
		VR_SET(o, VR_AT_ID);
		return 0;
	case VR_OBJ_SERVICE:
		if (parse_num("service ID", p, VR_MAX_SERVICES - 1, &v) < 0)
			return -EINVAL;
		o->u.service.id = (uint32_t)v;
		VR_SET(o, VR_AT_ID);
		return 0;
	case VR_OBJ_FIP:
		if (need(a, O_VRF, "N") < 0 || need(a, O_IP, "ADDR") < 0 ||
		    have(o, VR_AT_VRF, opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, &o->u.fip.vrf, 2)) < 0 ||
		    have(o, VR_AT_IP, opt_addr(a, O_IP, &o->u.fip.ip)) < 0)
			return -EINVAL;
		return 0;
	case VR_OBJ_ROUTE:
		if (need(a, O_VRF, "N") < 0 || have(o, VR_AT_VRF,
		    opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, &o->u.route.vrf, 2)) < 0)
			return -EINVAL;
		if (parse_prefix(p, &o->u.route.prefix, &o->u.route.plen) < 0)
			return -EINVAL;
		VR_SET(o, VR_AT_PREFIX);
		VR_SET(o, VR_AT_PLEN);
		return 0;
	case VR_OBJ_BRIDGE:
		if (need(a, O_VRF, "N") < 0 || have(o, VR_AT_VRF,
		    opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, &o->u.bridge.vrf, 2)) < 0)
			return -EINVAL;
		if (parse_mac("MAC", p, o->u.bridge.mac) < 0)
			return -EINVAL;
		VR_SET(o, VR_AT_MAC);
		return 0;
	}
	return -EINVAL;
}

/* ---- generic commands ---- */

static int cmd_list(struct ctl *c, struct args *a)
{
	struct vr_object f = { .obj = a->cmd->obj };
	int with_filter = 0;
	if (a->cmd->obj == VR_OBJ_ROUTE || a->cmd->obj == VR_OBJ_BRIDGE) {
		uint16_t *vrf = a->cmd->obj == VR_OBJ_ROUTE ? &f.u.route.vrf : &f.u.bridge.vrf;
		if (need(a, O_VRF, "N") < 0 ||
		    have(&f, VR_AT_VRF, opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, vrf, 2)) < 0)
			return CTL_USAGE;
		with_filter = 1;
	}
	if (a->val[O_FAMILY]) { /* a prefix with only the family set */
		const char *fam = a->val[O_FAMILY];
		if (strcmp(fam, "inet") && strcmp(fam, "inet6")) {
			ctl_err("--family %s: unknown; one of inet|inet6", fam);
			return CTL_USAGE;
		}
		f.u.route.prefix.family = strcmp(fam, "inet") == 0 ? 4 : 6;
		VR_SET(&f, VR_AT_PREFIX);
	}
	return dump(c, a->cmd->obj, with_filter ? &f : NULL);
}

static int cmd_get(struct ctl *c, struct args *a)
{
	struct vr_object k, o;
	struct vr_msg_view v;
	if (build_key(a, a->cmd->obj, &k) < 0)
		return CTL_USAGE;
	if (request(c, VR_OP_GET, k.obj, &k, 0, &v) < 0)
		return CTL_ERR;
	int rc = reply_object(&v, &o);
	if (rc == 0)
		ctl_err("the vrouter answered without the %s", vr_obj_name(k.obj));
	if (rc <= 0)
		return CTL_ERR;
	return out_detail(&c->out, &o) < 0 ? CTL_ERR : CTL_OK;
}

/* Send ADD, DEL or CLEAR of o and report the outcome. */
static int change(struct ctl *c, uint16_t op, const struct vr_object *o, const char *what)
{
	struct vr_msg_view v;
	struct vr_object r;
	if (request(c, op, o->obj, o, 0, &v) < 0)
		return CTL_ERR;
	int rc = reply_object(&v, &r);
	if (rc < 0)
		return CTL_ERR;
	return out_done(&c->out, o, rc == 1 ? &r : NULL, what) < 0 ? CTL_ERR : CTL_OK;
}

static int cmd_del(struct ctl *c, struct args *a)
{
	struct vr_object k;
	if (build_key(a, a->cmd->obj, &k) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_DEL, &k, "deleted");
}

/* ---- add ---- */

static int cmd_vif_add(struct ctl *c, struct args *a)
{
	struct vr_object o = { .obj = VR_OBJ_VIF };
	struct vr_obj_vif *v = &o.u.vif;
	static const struct { int opt; unsigned at; size_t off, size; } strs[] = {
		{ O_NAME, VR_AT_NAME, offsetof(struct vr_obj_vif, name), VR_NAME_LEN },
		{ O_IFNAME, VR_AT_IFNAME, offsetof(struct vr_obj_vif, ifname), VR_NAME_LEN },
		{ O_SOCKET, VR_AT_SOCKET, offsetof(struct vr_obj_vif, socket), VR_PATH_LEN },
	};
	if (need(a, O_TYPE, "fabric|host|kernel|memif|vhost") < 0 ||
	    have(&o, VR_AT_TYPE, opt_enum(a, O_TYPE, vr_vif_type_name, VR_VIF_FABRIC,
					  VR_VIF_TYPE_MAX_, &v->type)) < 0 ||
	    have(&o, VR_AT_ID, opt_num(a, O_ID, VR_MAX_VIFS - 1, &v->id, 4)) < 0 ||
	    have(&o, VR_AT_ROLE, opt_enum(a, O_ROLE, role_name, 0, 2, &v->role)) < 0 ||
	    have(&o, VR_AT_MAC, opt_mac(a, O_MAC, v->mac)) < 0 ||
	    have(&o, VR_AT_VRF, opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, &v->vrf, 2)) < 0 ||
	    have(&o, VR_AT_MTU, opt_num(a, O_MTU, 65535, &v->mtu, 2)) < 0 ||
	    have(&o, VR_AT_IP, opt_addr(a, O_IP, &v->ip)) < 0)
		return CTL_USAGE;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		const char *s = a->val[strs[i].opt];
		if (!s)
			continue;
		if (strlen(s) >= strs[i].size) {
			ctl_err("--%s: '%s' is longer than %zu characters", long_opts[strs[i].opt].name,
				s, strs[i].size - 1);
			return CTL_USAGE;
		}
		memcpy((char *)v + strs[i].off, s, strlen(s) + 1);
		VR_SET(&o, strs[i].at);
	}
	if ((v->type == VR_VIF_MEMIF || v->type == VR_VIF_VHOST) && !a->val[O_SOCKET]) {
		ctl_err("vr vif add: a %s vif needs --socket PATH", vr_vif_type_name(v->type));
		return CTL_USAGE;
	}
	if ((v->type == VR_VIF_KERNEL || v->type == VR_VIF_HOST) && !a->val[O_IFNAME]) {
		ctl_err("vr vif add: a %s vif needs --ifname IF", vr_vif_type_name(v->type));
		return CTL_USAGE;
	}
	if (v->type == VR_VIF_FABRIC && !a->val[O_IFNAME] == !a->val[O_SOCKET]) {
		ctl_err("vr vif add: a fabric vif needs either --ifname IF (a NIC) or --socket PATH (memif)");
		return CTL_USAGE;
	}
	if (a->val[O_POLICY])
		v->flags |= VR_VIF_F_POLICY; /* stateful: its packets go through the flow table */
	VR_SET(&o, VR_AT_FLAGS);
	if (have(&o, VR_AT_POLICY_IN, opt_num(a, O_POLICY_IN, VR_MAX_POLICIES - 1, &v->policy_in, 4)) < 0 ||
	    have(&o, VR_AT_POLICY_OUT, opt_num(a, O_POLICY_OUT, VR_MAX_POLICIES - 1, &v->policy_out,
						4)) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_ADD, &o, "added");
}

static int cmd_vrf_add(struct ctl *c, struct args *a)
{
	struct vr_object o;
	if (build_key(a, VR_OBJ_VRF, &o) < 0)
		return CTL_USAGE;
	struct vr_obj_vrf *v = &o.u.vrf;
	v->flags = (a->val[O_L3] ? VR_VRF_F_L3 : 0) | (a->val[O_L2] ? VR_VRF_F_L2 : 0);
	if (!v->flags) /* the common case: a routed VRF */
		v->flags = VR_VRF_F_L3;
	VR_SET(&o, VR_AT_FLAGS);
	if (have(&o, VR_AT_NH, opt_num(a, O_FLOOD_NH, VR_MAX_NEXTHOPS - 1, &v->nh, 4)) < 0 ||
	    have(&o, VR_AT_VNI, opt_num(a, O_VNI, VR_MAX_VNI, &v->vni, 4)) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_ADD, &o, "added");
}

static int parse_members(const char *s, struct vr_obj_nh *nh)
{
	char buf[1024];
	if (strlen(s) >= sizeof(buf)) {
		ctl_err("--members: list too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	nh->n_members = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned long long v;
		if (nh->n_members == VR_MAX_ECMP) {
			ctl_err("--members: more than %d members", VR_MAX_ECMP);
			return -EINVAL;
		}
		if (parse_num("--members", t, VR_MAX_NEXTHOPS - 1, &v) < 0)
			return -EINVAL;
		nh->members[nh->n_members++] = (uint32_t)v;
	}
	return 1;
}

static int cmd_nh_add(struct ctl *c, struct args *a)
{
	struct vr_object o;
	if (build_key(a, VR_OBJ_NH, &o) < 0)
		return CTL_USAGE;
	struct vr_obj_nh *n = &o.u.nh;
	if (need(a, O_TYPE, "discard|receive|encap|tunnel|ecmp|flood") < 0 ||
	    have(&o, VR_AT_TYPE, opt_enum(a, O_TYPE, vr_nh_type_name, VR_NH_DISCARD,
					  VR_NH_TYPE_MAX_, &n->type)) < 0 ||
	    have(&o, VR_AT_VIF, opt_num(a, O_VIF, VR_MAX_VIFS - 1, &n->vif, 4)) < 0 ||
	    have(&o, VR_AT_VRF, opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, &n->vrf, 2)) < 0 ||
	    have(&o, VR_AT_DMAC, opt_mac(a, O_DMAC, n->dmac)) < 0 ||
	    have(&o, VR_AT_ENCAP, opt_enum(a, O_ENCAP, vr_encap_name, VR_ENCAP_MPLSOUDP,
					   VR_ENCAP_MAX_, &n->encap)) < 0 ||
	    have(&o, VR_AT_SIP, opt_addr(a, O_SIP, &n->sip)) < 0 ||
	    have(&o, VR_AT_DIP, opt_addr(a, O_DIP, &n->dip)) < 0 ||
	    have(&o, VR_AT_LABEL, opt_num(a, O_LABEL, VR_MAX_LABEL, &n->label, 4)) < 0 ||
	    have(&o, VR_AT_VNI, opt_num(a, O_VNI, VR_MAX_VNI, &n->vni, 4)) < 0 ||
	    have(&o, VR_AT_MEMBERS, a->val[O_MEMBERS] ? parse_members(a->val[O_MEMBERS], n) : 0) < 0)
		return CTL_USAGE;
	n->flags = a->val[O_L2] ? VR_NH_F_L2 : 0;
	VR_SET(&o, VR_AT_FLAGS);
	if (n->type == VR_NH_TUNNEL && (!a->val[O_ENCAP] || !a->val[O_DIP])) {
		ctl_err("vr nh add: a tunnel nexthop needs --encap and --dip (and --vif, --sip, --dmac)");
		return CTL_USAGE;
	}
	if ((n->type == VR_NH_ECMP || n->type == VR_NH_FLOOD) && !a->val[O_MEMBERS]) {
		ctl_err("vr nh add: an %s nexthop needs --members N,N,...", vr_nh_type_name(n->type));
		return CTL_USAGE;
	}
	return change(c, VR_OP_ADD, &o, "added");
}

static int cmd_route_add(struct ctl *c, struct args *a)
{
	struct vr_object o;
	if (build_key(a, VR_OBJ_ROUTE, &o) < 0)
		return CTL_USAGE;
	if (need(a, O_NH, "N") < 0 ||
	    have(&o, VR_AT_NH, opt_num(a, O_NH, VR_MAX_NEXTHOPS - 1, &o.u.route.nh, 4)) < 0 ||
	    have(&o, VR_AT_MAC, opt_mac(a, O_MAC, o.u.route.mac)) < 0)
		return CTL_USAGE;
	o.u.route.flags = a->val[O_PROXY_ARP] ? VR_RT_F_PROXY_ARP : 0;
	VR_SET(&o, VR_AT_FLAGS);
	return change(c, VR_OP_ADD, &o, "added");
}

static int cmd_mpls_add(struct ctl *c, struct args *a)
{
	struct vr_object o;
	if (build_key(a, VR_OBJ_MPLS, &o) < 0 || need(a, O_NH, "N") < 0 ||
	    have(&o, VR_AT_NH, opt_num(a, O_NH, VR_MAX_NEXTHOPS - 1, &o.u.mpls.nh, 4)) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_ADD, &o, "added");
}

static int cmd_vni_add(struct ctl *c, struct args *a)
{
	struct vr_object o;
	if (build_key(a, VR_OBJ_VNI, &o) < 0 || need(a, O_VRF, "N") < 0 ||
	    have(&o, VR_AT_VRF, opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, &o.u.vni.vrf, 2)) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_ADD, &o, "added");
}

static int cmd_bridge_add(struct ctl *c, struct args *a)
{
	struct vr_object o;
	if (build_key(a, VR_OBJ_BRIDGE, &o) < 0 || need(a, O_NH, "N") < 0 ||
	    have(&o, VR_AT_NH, opt_num(a, O_NH, VR_MAX_NEXTHOPS - 1, &o.u.bridge.nh, 4)) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_ADD, &o, "added");
}


/* ---- policies and flows ---- */

static int parse_proto(const char *what, const char *s, uint8_t *proto)
{
	static const struct { const char *n; uint8_t p; } names[] = {
		{ "any", 0 }, { "icmp", 1 }, { "tcp", 6 }, { "udp", 17 }, { "icmp6", 58 },
		{ "icmpv6", 58 },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].n) == 0) {
			*proto = names[i].p;
			return 0;
		}
	unsigned long long v;
	if (parse_num(what, s, 255, &v) < 0)
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}

/* "5432" or "1000-2000" */
static int parse_range(const char *what, const char *s, uint16_t *lo, uint16_t *hi)
{
	char buf[32];
	unsigned long long a, b;
	const char *dash = strchr(s, '-');
	if (!dash)
		dash = s + strlen(s);
	if ((size_t)(dash - s) >= sizeof(buf)) {
		ctl_err("%s: '%s' is not a port or a range like 1000-2000", what, s);
		return -EINVAL;
	}
	memcpy(buf, s, (size_t)(dash - s));
	buf[dash - s] = '\0';
	if (parse_num(what, buf, 65535, &a) < 0 || parse_num(what, *dash ? dash + 1 : buf, 65535, &b) < 0)
		return -EINVAL;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* "10.1.0.0/24", "fd00::/64", a bare address (host prefix) or "any". */
static int parse_rule_prefix(const char *what, const char *s, uint8_t *family, uint8_t *addr,
			     uint8_t *plen)
{
	struct vr_addr a;
	if (strcmp(s, "any") == 0) {
		*plen = 0;
		return 0;
	}
	if (strchr(s, '/')) {
		if (parse_prefix(s, &a, plen) < 0) {
			ctl_err("%s: '%s'", what, s);
			return -EINVAL;
		}
	} else {
		if (parse_addr(what, s, &a) < 0)
			return -EINVAL;
		*plen = a.family == 4 ? 32 : 128;
	}
	if (*family && *family != a.family) {
		ctl_err("%s: '%s' is IPv%u but the rule is IPv%u", what, s, a.family, *family);
		return -EINVAL;
	}
	*family = a.family;
	memcpy(addr, a.a, 16);
	return 0;
}

/*
 * One rule: comma-separated key=value, e.g.
 * "id=10,action=pass,proto=tcp,src=10.1.0.0/24,dst=10.2.0.5/32,dport=5432".
 * Keys: id (required), action pass|deny (default pass), log, proto any|tcp|
 * udp|icmp|icmp6|N, src, dst (prefix, address or any), sport, dport (N or
 * LO-HI), family 4|6 (needed only when neither src nor dst gives it; default 4).
 */
static int parse_rule(const char *spec, unsigned idx, struct vr_rule *ru)
{
	char buf[512], what[64];
	memset(ru, 0, sizeof(*ru));
	ru->action = VR_ACT_PASS;
	ru->sport_hi = ru->dport_hi = 65535;
	if (strlen(spec) >= sizeof(buf)) {
		ctl_err("rule %u: too long", idx);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	uint8_t family = 0;
	int have_id = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		const char *val = eq ? eq + 1 : "";
		if (eq)
			*eq = '\0';
		snprintf(what, sizeof(what), "rule %u: %s", idx, t);
		int rc = 0;
		unsigned long long v;
		if (strcmp(t, "log") == 0 && !eq) {
			ru->flags |= VR_RULE_F_LOG;
		} else if (!eq) {
			ctl_err("rule %u: '%s' is not key=value", idx, t);
			return -EINVAL;
		} else if (strcmp(t, "id") == 0) {
			rc = parse_num(what, val, UINT32_MAX, &v);
			ru->id = (uint32_t)v;
			have_id = 1;
		} else if (strcmp(t, "action") == 0) {
			if (strcmp(val, "pass") == 0 || strcmp(val, "allow") == 0)
				ru->action = VR_ACT_PASS;
			else if (strcmp(val, "deny") == 0 || strcmp(val, "drop") == 0)
				ru->action = VR_ACT_DENY;
			else if (strcmp(val, "log") == 0)
				ru->flags |= VR_RULE_F_LOG;
			else {
				ctl_err("%s: '%s' is not one of pass|deny|log", what, val);
				return -EINVAL;
			}
		} else if (strcmp(t, "proto") == 0) {
			rc = parse_proto(what, val, &ru->proto);
		} else if (strcmp(t, "family") == 0) {
			uint8_t f = strcmp(val, "4") == 0 || strcmp(val, "inet") == 0 ? 4
				  : strcmp(val, "6") == 0 || strcmp(val, "inet6") == 0 ? 6 : 0;
			if (!f || (family && family != f)) {
				ctl_err("%s: '%s' is not 4|6 or contradicts an address", what, val);
				return -EINVAL;
			}
			family = f;
		} else if (strcmp(t, "src") == 0) {
			rc = parse_rule_prefix(what, val, &family, ru->src, &ru->src_plen);
		} else if (strcmp(t, "dst") == 0) {
			rc = parse_rule_prefix(what, val, &family, ru->dst, &ru->dst_plen);
		} else if (strcmp(t, "sport") == 0) {
			rc = parse_range(what, val, &ru->sport_lo, &ru->sport_hi);
		} else if (strcmp(t, "dport") == 0) {
			rc = parse_range(what, val, &ru->dport_lo, &ru->dport_hi);
		} else {
			ctl_err("rule %u: unknown key '%s' (id, action, log, proto, family, src, dst, "
				"sport, dport)", idx, t);
			return -EINVAL;
		}
		if (rc < 0)
			return -EINVAL;
	}
	if (!have_id) {
		ctl_err("rule %u: id=N is required ('%s')", idx, spec);
		return -EINVAL;
	}
	ru->family = family ? family : ru->proto == 58 ? 6 : 4;
	char err[256];
	if (vr_rule_check(ru, idx, err, sizeof(err)) < 0) {
		ctl_err("%s ('%s')", err, spec);
		return -EINVAL;
	}
	return 0;
}

/* --rules-file: one rule per line as for --rule; blank lines and # comments skipped. */
static int read_rules_file(const char *path, struct vr_rule *rules, unsigned *n)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		ctl_err("--rules-file %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	char line[600];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *s = line;
		s[strcspn(s, "\r\n")] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		if (*n == VR_POLICY_MAX_RULES) {
			ctl_err("--rules-file %s: more than %d rules", path, VR_POLICY_MAX_RULES);
			rc = -EINVAL;
			break;
		}
		rc = parse_rule(s, *n, &rules[*n]);
		(*n)++;
	}
	fclose(f);
	return rc;
}

static int cmd_policy_add(struct ctl *c, struct args *a)
{
	static struct vr_rule rules[VR_POLICY_MAX_RULES];
	static uint8_t recs[VR_POLICY_MAX_RULES * VR_RULE_LEN];
	struct vr_object o;
	unsigned n = 0;
	if (build_key(a, VR_OBJ_POLICY, &o) < 0 || need(a, O_DEFAULT, "pass|deny") < 0)
		return CTL_USAGE;
	if (strcmp(a->val[O_DEFAULT], "pass") == 0 || strcmp(a->val[O_DEFAULT], "allow") == 0) {
		o.u.policy.action = VR_ACT_PASS;
	} else if (strcmp(a->val[O_DEFAULT], "deny") == 0 || strcmp(a->val[O_DEFAULT], "drop") == 0) {
		o.u.policy.action = VR_ACT_DENY;
	} else {
		ctl_err("--default %s: unknown; one of pass|deny", a->val[O_DEFAULT]);
		return CTL_USAGE;
	}
	for (unsigned i = 0; i < a->n_rules; i++)
		if (parse_rule(a->rules[i], n, &rules[n]) < 0)
			return CTL_USAGE;
		else
			n++;
	if (a->val[O_RULES_FILE] && read_rules_file(a->val[O_RULES_FILE], rules, &n) < 0)
		return CTL_USAGE;
	for (unsigned i = 0; i < n; i++)
		vr_rule_pack(&rules[i], recs + (size_t)i * VR_RULE_LEN);
	o.u.policy.rules = (struct vr_recs){ recs, (uint16_t)n };
	int rc = opt_num(a, O_NEXT, VR_MAX_POLICIES - 1, &o.u.policy.next, 4);
	if (rc < 0)
		return CTL_USAGE;
	if (rc > 0)
		VR_SET(&o, VR_AT_POLICY);
	VR_SET(&o, VR_AT_ACTION);
	VR_SET(&o, VR_AT_RULES);
	return change(c, VR_OP_ADD, &o, "added");
}

static int cmd_policy_get(struct ctl *c, struct args *a)
{
	struct vr_object k, o;
	struct vr_msg_view v;
	if (build_key(a, VR_OBJ_POLICY, &k) < 0)
		return CTL_USAGE;
	if (request(c, VR_OP_GET, k.obj, &k, 0, &v) < 0)
		return CTL_ERR;
	int rc = reply_object(&v, &o);
	if (rc == 0)
		ctl_err("the vrouter answered without the policy");
	if (rc <= 0)
		return CTL_ERR;
	return out_policy(&c->out, &o) < 0 ? CTL_ERR : CTL_OK;
}

static int cmd_policy_clear(struct ctl *c, struct args *a)
{
	struct vr_object k = { .obj = VR_OBJ_POLICY };
	if (a->npos && build_key(a, VR_OBJ_POLICY, &k) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_CLEAR, &k, "counters cleared");
}

/* "10.1.0.2", "10.1.0.2:8080", "[fd00::2]:8080", each with an optional "@WEIGHT". */
static int parse_backend(const char *spec, unsigned idx, struct vr_backend *b)
{
	char buf[128], *at, *host = buf, *port = NULL;
	unsigned long long v;
	memset(b, 0, sizeof(*b));
	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf)) {
		ctl_err("--backend %s: too long", spec);
		return -EINVAL;
	}
	if ((at = strchr(buf, '@'))) {
		*at++ = '\0';
		if (parse_num("--backend weight", at, 255, &v) < 0 || v == 0) {
			ctl_err("--backend %s: the weight after @ is 1..255", spec);
			return -EINVAL;
		}
		b->weight = (uint8_t)v;
	}
	if (buf[0] == '[') { /* [v6]:port */
		char *end = strchr(buf, ']');
		if (!end || (end[1] && end[1] != ':')) {
			ctl_err("--backend %s: write an IPv6 backend as [ADDR] or [ADDR]:PORT", spec);
			return -EINVAL;
		}
		*end = '\0';
		host = buf + 1;
		port = end[1] ? end + 2 : NULL;
	} else if (strchr(buf, ':') == strrchr(buf, ':') && strchr(buf, ':')) { /* v4:port */
		port = strchr(buf, ':');
		*port++ = '\0';
	}
	if (parse_addr("--backend", host, &b->addr) < 0)
		return -EINVAL;
	if (port) {
		if (parse_num("--backend port", port, 65535, &v) < 0 || v == 0)
			return -EINVAL;
		b->port = (uint16_t)v;
	}
	(void)idx;
	return 0;
}

static int cmd_service_add(struct ctl *c, struct args *a)
{
	static uint8_t recs[VR_SVC_MAX_BACKENDS * VR_BACKEND_LEN];
	struct vr_object o;
	struct vr_obj_service *s = &o.u.service;
	if (build_key(a, VR_OBJ_SERVICE, &o) < 0 || need(a, O_VRF, "N") < 0 ||
	    need(a, O_IP, "VIP") < 0 || need(a, O_PROTO, "tcp|udp") < 0 || need(a, O_PORT, "N") < 0)
		return CTL_USAGE;
	if (have(&o, VR_AT_VRF, opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, &s->vrf, 2)) < 0 ||
	    have(&o, VR_AT_IP, opt_addr(a, O_IP, &s->ip)) < 0 ||
	    have(&o, VR_AT_DPORT, opt_num(a, O_PORT, 65535, &s->dport, 2)) < 0 ||
	    parse_proto("--proto", a->val[O_PROTO], &s->proto) < 0)
		return CTL_USAGE;
	VR_SET(&o, VR_AT_PROTO);
	for (unsigned i = 0; i < a->n_backends; i++) {
		struct vr_backend b;
		if (parse_backend(a->backends[i], i, &b) < 0)
			return CTL_USAGE;
		if (b.addr.family != s->ip.family) {
			ctl_err("--backend %s: not of the virtual IP's family (one service per family)",
				a->backends[i]);
			return CTL_USAGE;
		}
		vr_backend_pack(&b, s->ip.family, recs + (size_t)i * VR_BACKEND_LEN);
	}
	s->backends = (struct vr_recs){ recs, (uint16_t)a->n_backends };
	VR_SET(&o, VR_AT_BACKENDS);
	return change(c, VR_OP_ADD, &o, "set");
}

static int cmd_service_get(struct ctl *c, struct args *a)
{
	struct vr_object k, o;
	struct vr_msg_view v;
	if (build_key(a, VR_OBJ_SERVICE, &k) < 0)
		return CTL_USAGE;
	if (request(c, VR_OP_GET, k.obj, &k, 0, &v) < 0)
		return CTL_ERR;
	int rc = reply_object(&v, &o);
	if (rc == 0)
		ctl_err("the vrouter answered without the service");
	if (rc <= 0)
		return CTL_ERR;
	return out_service(&c->out, &o) < 0 ? CTL_ERR : CTL_OK;
}

static int cmd_service_clear(struct ctl *c, struct args *a)
{
	struct vr_object k = { .obj = VR_OBJ_SERVICE };
	if (a->npos && build_key(a, VR_OBJ_SERVICE, &k) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_CLEAR, &k, "counters cleared");
}

static int cmd_fip_add(struct ctl *c, struct args *a)
{
	struct vr_object o;
	if (build_key(a, VR_OBJ_FIP, &o) < 0 || need(a, O_VIF, "N") < 0 ||
	    need(a, O_NAT_IP, "ADDR") < 0 ||
	    have(&o, VR_AT_VIF, opt_num(a, O_VIF, VR_MAX_VIFS - 1, &o.u.fip.vif, 4)) < 0 ||
	    have(&o, VR_AT_NAT_IP, opt_addr(a, O_NAT_IP, &o.u.fip.nat_ip)) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_ADD, &o, "set");
}

static int cmd_flow_list(struct ctl *c, struct args *a)
{
	struct vr_object f = { .obj = VR_OBJ_FLOW };
	if (have(&f, VR_AT_VRF, opt_num(a, O_VRF, VR_MAX_VRFS_LIMIT - 1, &f.u.flow.vrf, 2)) < 0 ||
	    have(&f, VR_AT_IP, opt_addr(a, O_IP, &f.u.flow.ip)) < 0 ||
	    have(&f, VR_AT_PORT, opt_num(a, O_PORT, 65535, &f.u.flow.port, 2)) < 0)
		return CTL_USAGE;
	return dump(c, VR_OBJ_FLOW, f.have ? &f : NULL);
}

static int cmd_flow_flush(struct ctl *c, struct args *a)
{
	(void)a;
	struct vr_object f = { .obj = VR_OBJ_FLOW };
	return change(c, VR_OP_DEL, &f, "flushing (removed in the background)");
}

/* After the drop counters: which policy rules denied packets (table only). */
static int policy_denies(struct ctl *c)
{
	static uint32_t ids[VR_MAX_POLICIES];
	unsigned n = 0, shown = 0;
	uint64_t cursor = 0;
	do {
		struct vr_msg_view v;
		struct vr_object o;
		int rc;
		if (request(c, VR_OP_DUMP, VR_OBJ_POLICY, NULL, cursor, &v) < 0)
			return CTL_ERR;
		while ((rc = reply_object(&v, &o)) == 1)
			if (n < VR_MAX_POLICIES)
				ids[n++] = o.u.policy.id;
		if (rc < 0)
			return CTL_ERR;
		uint64_t next = v.has_cursor ? v.cursor : 0;
		if (next && next == cursor)
			break;
		cursor = next;
	} while (cursor);
	for (unsigned i = 0; i < n; i++) {
		struct vr_object k = { .obj = VR_OBJ_POLICY }, o;
		struct vr_msg_view v;
		k.u.policy.id = ids[i];
		VR_SET(&k, VR_AT_ID);
		if (request(c, VR_OP_GET, VR_OBJ_POLICY, &k, 0, &v) < 0)
			continue; /* deleted meanwhile */
		if (reply_object(&v, &o) == 1)
			out_policy_denies(&c->out, &o, &shown);
	}
	return CTL_OK;
}

/* ---- info, counters, drops ---- */

static int cmd_info(struct ctl *c, struct args *a)
{
	struct vr_msg_view v;
	struct vr_object o;
	(void)a;
	if (request(c, VR_OP_GET, VR_OBJ_INFO, NULL, 0, &v) < 0)
		return CTL_ERR;
	int rc = reply_object(&v, &o);
	if (rc == 0)
		ctl_err("the vrouter answered without its info");
	if (rc <= 0)
		return CTL_ERR;
	return out_detail(&c->out, &o) < 0 ? CTL_ERR : CTL_OK;
}

static int cmd_vif_clear(struct ctl *c, struct args *a)
{
	struct vr_object k = { .obj = VR_OBJ_VIF };
	if (a->npos && build_key(a, VR_OBJ_VIF, &k) < 0)
		return CTL_USAGE;
	return change(c, VR_OP_CLEAR, &k, "counters cleared");
}

static int cmd_drop(struct ctl *c, struct args *a)
{
	struct vr_msg_view v;
	struct vr_object o;
	if (request(c, VR_OP_GET, VR_OBJ_DROPSTATS, NULL, 0, &v) < 0)
		return CTL_ERR;
	int rc = reply_object(&v, &o);
	if (rc == 0)
		ctl_err("the vrouter answered without drop statistics");
	if (rc <= 0)
		return CTL_ERR;
	if (out_drops(&c->out, &o, a->val[O_ALL] != NULL) < 0)
		return CTL_ERR;
	if (c->out.fmt == OUT_TABLE && o.u.drops.n > VR_DROP_POLICY_DENY &&
	    o.u.drops.drops[VR_DROP_POLICY_DENY])
		return policy_denies(c);
	return CTL_OK;
}

static int cmd_drop_clear(struct ctl *c, struct args *a)
{
	struct vr_object k = { .obj = VR_OBJ_DROPSTATS };
	(void)a;
	return change(c, VR_OP_CLEAR, &k, "cleared");
}

/* ---- the command table ---- */

#define VIF_ADD_OPTS (B(O_TYPE) | B(O_IFNAME) | B(O_SOCKET) | B(O_ROLE) | B(O_MAC) | B(O_VRF) | \
		      B(O_MTU) | B(O_IP) | B(O_NAME) | B(O_ID) | B(O_POLICY) | B(O_POLICY_IN) | \
		      B(O_POLICY_OUT))
#define NH_ADD_OPTS (B(O_TYPE) | B(O_VIF) | B(O_VRF) | B(O_DMAC) | B(O_ENCAP) | B(O_SIP) | \
		     B(O_DIP) | B(O_LABEL) | B(O_VNI) | B(O_MEMBERS) | B(O_L2))

static const struct cmd cmds[] = {
	{ "info", NULL, VR_OBJ_INFO, 0, 0, 0, cmd_info, "info" },
	{ "vif", "list", VR_OBJ_VIF, 0, 0, 0, cmd_list, "vif list" },
	{ "vif", "get", VR_OBJ_VIF, 0, 1, 1, cmd_get, "vif get ID" },
	{ "vif", "add", VR_OBJ_VIF, VIF_ADD_OPTS, 0, 0, cmd_vif_add,
	  "vif add --type fabric|host|kernel|memif|vhost [--ifname IF] [--socket PATH]\n"
	  "          [--role server|client] [--mac MAC] [--vrf N] [--mtu N] [--ip ADDR]\n"
	  "          [--name NAME] [--id N] [--policy] [--policy-in ID] [--policy-out ID]" },
	{ "vif", "del", VR_OBJ_VIF, 0, 1, 1, cmd_del, "vif del ID" },
	{ "vif", "clear", VR_OBJ_VIF, 0, 0, 1, cmd_vif_clear, "vif clear [ID]" },
	{ "vrf", "list", VR_OBJ_VRF, 0, 0, 0, cmd_list, "vrf list" },
	{ "vrf", "get", VR_OBJ_VRF, 0, 1, 1, cmd_get, "vrf get ID" },
	{ "vrf", "add", VR_OBJ_VRF, B(O_L2) | B(O_L3) | B(O_FLOOD_NH) | B(O_VNI), 1, 1, cmd_vrf_add,
	  "vrf add ID [--l2] [--l3] [--flood-nh N] [--vni N]   (neither --l2 nor --l3: --l3)" },
	{ "vrf", "del", VR_OBJ_VRF, 0, 1, 1, cmd_del, "vrf del ID" },
	{ "nh", "list", VR_OBJ_NH, 0, 0, 0, cmd_list, "nh list" },
	{ "nh", "get", VR_OBJ_NH, 0, 1, 1, cmd_get, "nh get ID" },
	{ "nh", "add", VR_OBJ_NH, NH_ADD_OPTS, 1, 1, cmd_nh_add,
	  "nh add ID --type discard|receive|encap|tunnel|ecmp|flood [--vif N] [--vrf N]\n"
	  "          [--dmac MAC] [--encap mplsoudp|mplsogre|vxlan] [--sip A] [--dip A]\n"
	  "          [--label N] [--vni N] [--members 1,2,3] [--l2]" },
	{ "nh", "del", VR_OBJ_NH, 0, 1, 1, cmd_del, "nh del ID" },
	{ "route", "list", VR_OBJ_ROUTE, B(O_VRF) | B(O_FAMILY), 0, 0, cmd_list,
	  "route list --vrf N [--family inet|inet6]" },
	{ "route", "get", VR_OBJ_ROUTE, B(O_VRF), 1, 1, cmd_get, "route get --vrf N PREFIX/LEN" },
	{ "route", "add", VR_OBJ_ROUTE, B(O_VRF) | B(O_NH) | B(O_PROXY_ARP) | B(O_MAC), 1, 1,
	  cmd_route_add, "route add --vrf N PREFIX/LEN --nh N [--proxy-arp] [--mac MAC]" },
	{ "route", "del", VR_OBJ_ROUTE, B(O_VRF), 1, 1, cmd_del, "route del --vrf N PREFIX/LEN" },
	{ "mpls", "list", VR_OBJ_MPLS, 0, 0, 0, cmd_list, "mpls list" },
	{ "mpls", "get", VR_OBJ_MPLS, 0, 1, 1, cmd_get, "mpls get LABEL" },
	{ "mpls", "add", VR_OBJ_MPLS, B(O_NH), 1, 1, cmd_mpls_add, "mpls add LABEL --nh N" },
	{ "mpls", "del", VR_OBJ_MPLS, 0, 1, 1, cmd_del, "mpls del LABEL" },
	{ "vni", "list", VR_OBJ_VNI, 0, 0, 0, cmd_list, "vni list" },
	{ "vni", "get", VR_OBJ_VNI, 0, 1, 1, cmd_get, "vni get VNI" },
	{ "vni", "add", VR_OBJ_VNI, B(O_VRF), 1, 1, cmd_vni_add, "vni add VNI --vrf N" },
	{ "vni", "del", VR_OBJ_VNI, 0, 1, 1, cmd_del, "vni del VNI" },
	{ "bridge", "list", VR_OBJ_BRIDGE, B(O_VRF), 0, 0, cmd_list, "bridge list --vrf N" },
	{ "bridge", "add", VR_OBJ_BRIDGE, B(O_VRF) | B(O_NH), 1, 1, cmd_bridge_add,
	  "bridge add --vrf N MAC --nh N" },
	{ "bridge", "del", VR_OBJ_BRIDGE, B(O_VRF), 1, 1, cmd_del, "bridge del --vrf N MAC" },
	{ "policy", "list", VR_OBJ_POLICY, 0, 0, 0, cmd_list, "policy list" },
	{ "policy", "get", VR_OBJ_POLICY, 0, 1, 1, cmd_policy_get,
	  "policy get ID            rules with hit and deny counters" },
	{ "policy", "add", VR_OBJ_POLICY, B(O_DEFAULT) | B(O_RULE) | B(O_RULES_FILE) | B(O_NEXT), 1, 1,
	  cmd_policy_add,
	  "policy add ID --default pass|deny [--rule SPEC]... [--rules-file FILE] [--next ID]\n"
	  "          SPEC: id=N[,action=pass|deny][,log][,proto=any|tcp|udp|icmp|icmp6|N]\n"
	  "                [,src=PREFIX|any][,dst=PREFIX|any][,sport=N[-M]][,dport=N[-M]][,family=4|6]\n"
	  "          (first match wins; FILE: one SPEC per line; replacing re-evaluates flows;\n"
	  "          --next: a flow must pass that policy (and its chain) too)" },
	{ "policy", "del", VR_OBJ_POLICY, 0, 1, 1, cmd_del, "policy del ID" },
	{ "policy", "clear", VR_OBJ_POLICY, 0, 0, 1, cmd_policy_clear, "policy clear [ID]" },
	{ "service", "list", VR_OBJ_SERVICE, 0, 0, 0, cmd_list, "service list" },
	{ "service", "get", VR_OBJ_SERVICE, 0, 1, 1, cmd_service_get,
	  "service get ID           backends with their new-flow counters" },
	{ "service", "add", VR_OBJ_SERVICE, B(O_VRF) | B(O_IP) | B(O_PROTO) | B(O_PORT) | B(O_BACKEND),
	  1, 1, cmd_service_add,
	  "service add ID --vrf N --ip VIP --proto tcp|udp --port N [--backend B]...\n"
	  "          B: ADDR[:PORT][@WEIGHT] or [V6ADDR]:PORT; no port: the service's\n"
	  "          (new connections by a consistent hash; existing ones stay on their backend)" },
	{ "service", "del", VR_OBJ_SERVICE, 0, 1, 1, cmd_del, "service del ID" },
	{ "service", "clear", VR_OBJ_SERVICE, 0, 0, 1, cmd_service_clear, "service clear [ID]" },
	{ "fip", "list", VR_OBJ_FIP, 0, 0, 0, cmd_list, "fip list" },
	{ "fip", "add", VR_OBJ_FIP, B(O_VRF) | B(O_IP) | B(O_VIF) | B(O_NAT_IP), 0, 0, cmd_fip_add,
	  "fip add --vrf N --ip FLOATING --vif N --nat-ip POD_ADDR   (N: the public network's vrf)" },
	{ "fip", "del", VR_OBJ_FIP, B(O_VRF) | B(O_IP), 0, 0, cmd_del, "fip del --vrf N --ip FLOATING" },
	{ "flow", "list", VR_OBJ_FLOW, B(O_VRF) | B(O_IP) | B(O_PORT), 0, 0, cmd_flow_list,
	  "flow list [--vrf N] [--ip ADDR] [--port N]   connections, both directions" },
	{ "flow", "flush", VR_OBJ_FLOW, 0, 0, 0, cmd_flow_flush,
	  "flow flush              remove every connection (in the background: forwarding goes on;\n"
	  "          their next packets make them again, through today's policies)" },
	{ "drop", NULL, VR_OBJ_DROPSTATS, B(O_ALL), 0, 0, cmd_drop,
	  "drop [--all]            drop counters (non-zero only unless --all)" },
	{ "drop", "clear", VR_OBJ_DROPSTATS, 0, 0, 0, cmd_drop_clear, "drop clear" },
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage_of(FILE *f, const char *noun)
{
	for (unsigned i = 0; i < N_CMDS; i++)
		if (!noun || strcmp(cmds[i].noun, noun) == 0)
			fprintf(f, "  ternctl vr %s\n", cmds[i].usage);
}

void ctl_vr_usage(FILE *f)
{
	fprintf(f, "usage:\n");
	usage_of(f, NULL);
	fprintf(f, "\nEvery list, get, info and drop takes -o json.\n");
}

/* Parse argv (after noun and verb) against cmd's options. */
static int parse_args(const struct cmd *cmd, int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	optind = 0; /* GNU: restart, and permute so options may follow arguments */
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		const char *cur = argv[optind - 1];
		if (ch == 'h' || ch == O_HELP) {
			printf("usage: ternctl vr %s\n", cmd->usage);
			return -1;
		}
		if (ch == '?' || ch == ':' || ch < 0 || ch >= O_MAX_ || !(cmd->opts & B(ch))) {
			ctl_err("vr %s%s%s: %s %s (usage: ternctl vr %s)", cmd->noun, cmd->verb ? " " : "",
				cmd->verb ? cmd->verb : "", cur,
				ch == ':' ? "needs a value" : "is not an option of this command",
				cmd->usage);
			return -EINVAL;
		}
		a->val[ch] = optarg ? optarg : "";
		if (ch == O_RULE) {
			if (a->n_rules == VR_POLICY_MAX_RULES) {
				ctl_err("--rule: more than %d rules", VR_POLICY_MAX_RULES);
				return -EINVAL;
			}
			a->rules[a->n_rules++] = optarg;
		}
		if (ch == O_BACKEND) {
			if (a->n_backends == VR_SVC_MAX_BACKENDS) {
				ctl_err("--backend: more than %d backends", VR_SVC_MAX_BACKENDS);
				return -EINVAL;
			}
			a->backends[a->n_backends++] = optarg;
		}
	}
	a->npos = argc - optind;
	a->pos = argv + optind;
	if (a->npos < cmd->min_pos || a->npos > cmd->max_pos) {
		ctl_err("vr %s%s%s: %s (usage: ternctl vr %s)", cmd->noun, cmd->verb ? " " : "",
			cmd->verb ? cmd->verb : "",
			a->npos < cmd->min_pos ? "missing argument" : "too many arguments", cmd->usage);
		return -EINVAL;
	}
	return 0;
}

int ctl_vr_main(struct ctl *c, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		ctl_vr_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_USAGE : CTL_OK;
	}
	const char *noun = argv[1];
	const char *verb = argc > 2 && argv[2][0] != '-' ? argv[2] : NULL;
	const struct cmd *found = NULL, *bare = NULL;
	for (unsigned i = 0; i < N_CMDS; i++) {
		if (strcmp(cmds[i].noun, noun) != 0)
			continue;
		if (!cmds[i].verb)
			bare = &cmds[i];
		else if (verb && strcmp(cmds[i].verb, verb) == 0)
			found = &cmds[i];
	}
	int skip = 2; /* argv[0] "vr", argv[1] the noun, then the verb if any */
	if (found)
		skip = 3;
	else if (bare && (!verb || bare->max_pos))
		found = bare;
	if (!found) {
		int known = 0;
		for (unsigned i = 0; i < N_CMDS; i++)
			known |= strcmp(cmds[i].noun, noun) == 0;
		if (known && verb)
			ctl_err("vr %s: unknown command '%s'; one of:", noun, verb);
		else if (known)
			ctl_err("vr %s: missing command; one of:", noun);
		else
			ctl_err("vr: unknown table '%s'; one of:", noun);
		usage_of(stderr, known ? noun : NULL);
		return CTL_USAGE;
	}
	struct args a;
	/* getopt wants argv[0] to be the program: pass the word before the options */
	int rc = parse_args(found, argc - skip + 1, argv + skip - 1, &a);
	if (rc == -1)
		return CTL_OK;
	if (rc < 0)
		return CTL_USAGE;
	return found->fn(c, &a);
}
