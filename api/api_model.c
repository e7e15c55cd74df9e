/*
 * DOC: api_model.c — the schema table of every kind and the one walker that
 * validates any of them. See api_model.h.
 */
#include "api_model.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api_addr.h"

int api_errf(struct api_err *e, int status, const char *field, const char *fmt, ...)
{
	va_list ap;
	e->status = status;
	e->oldest = 0;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the schema ---------------------------------------------------------- */

#define F_STR(n, fl, mx)      { .name = n, .type = API_T_STRING, .flags = fl, .max = mx }
#define F_INT(n, fl, lo, hi)  { .name = n, .type = API_T_INT, .flags = fl, .min = lo, .max = hi }
#define F_BOOL(n)             { .name = n, .type = API_T_BOOL }
#define F_ENUM(n, fl, vals)   { .name = n, .type = API_T_ENUM, .flags = fl, .enums = vals }
#define F_IP(n, fl)           { .name = n, .type = API_T_IP, .flags = fl }
#define F_CIDR(n, fl)         { .name = n, .type = API_T_CIDR, .flags = fl }
#define F_MAC(n, fl)          { .name = n, .type = API_T_MAC, .flags = fl }
#define F_REF(n, fl, k)       { .name = n, .type = API_T_REF, .flags = fl, .ref_kind = k }
#define F_MAP(n)              { .name = n, .type = API_T_MAP, .max = 64 }
#define F_OBJ(n, fl, s)       { .name = n, .type = API_T_OBJECT, .flags = fl, .sub = s }
#define F_LIST(n, fl, mx, s)  { .name = n, .type = API_T_LIST, .flags = fl, .max = mx, .sub = s }
#define F_END                 { .name = NULL }

static const char *const fwd_modes[] = { "l2", "l3", "l2_l3", NULL };
static const char *const encaps[] = { "MPLSoUDP", "MPLSoGRE", "VXLAN", NULL };
static const char *const vmi_types[] = { "kernel", "vhost-user", "memif", NULL };
static const char *const owner_types[] = { "pod", "vm", NULL };
static const char *const actions[] = { "pass", "deny", NULL };
static const char *const protocols[] = { "any", "tcp", "udp", "icmp", "icmpv6", "sctp", NULL };
static const char *const directions[] = { "ingress", "egress", NULL };
static const char *const ethertypes[] = { "IPv4", "IPv6", NULL };
static const char *const families[] = { "v4", "v6", NULL };
static const char *const afis[] = { "inet", "inet6", "inet-vpn", "inet6-vpn", "e-vpn",
				    "route-target", NULL };
static const char *const router_types[] = { "control-node", "external-control-node", "router",
					    NULL };
static const char *const dns_methods[] = { "default", "virtual", "none", NULL };

static const struct api_field pool_fields[] = {
	F_IP("start", API_F_REQUIRED), F_IP("end", API_F_REQUIRED), F_END };
static const struct api_field pool_item[] = { F_OBJ("pool", 0, pool_fields) };
static const struct api_field subnet_fields[] = {
	F_CIDR("cidr", API_F_REQUIRED), F_IP("gateway", 0), F_IP("dns", 0),
	F_LIST("allocation_pools", 0, 32, pool_item), F_END };
static const struct api_field subnet_item[] = { F_OBJ("subnet", 0, subnet_fields) };
static const struct api_field rt_item[] = { { .name = "rt", .type = API_T_RT } };
static const struct api_field encap_item[] = { F_ENUM("encap", 0, encaps) };
static const struct api_field policy_ref_item[] = { F_REF("ref", 0, "network-policy") };
static const struct api_field sg_ref_item[] = { F_REF("ref", 0, "security-group") };
static const struct api_field bgp_ref_item[] = { F_REF("ref", 0, "bgp-router") };
static const struct api_field ip_item[] = { F_IP("ip", 0) };
static const struct api_field afi_item[] = { F_ENUM("family", 0, afis) };

static const struct api_field project_fields[] = { F_END };

static const struct api_field vn_fields[] = {
	F_LIST("subnets", 0, 64, subnet_item),
	F_REF("network_ipam", 0, "network-ipam"),
	F_LIST("route_target_import", API_F_ALLOC | API_F_UNIQUE, 64, rt_item),
	F_LIST("route_target_export", API_F_ALLOC | API_F_UNIQUE, 64, rt_item),
	F_INT("vni", API_F_ALLOC, 1, 16777215),
	F_ENUM("forwarding_mode", 0, fwd_modes),
	F_LIST("encapsulation", API_F_UNIQUE, 3, encap_item),
	F_LIST("network_policies", API_F_UNIQUE, 32, policy_ref_item),
	F_END };

static const struct api_field ipam_fields[] = {
	F_ENUM("dns_method", 0, dns_methods), F_LIST("dns_servers", 0, 8, ip_item),
	F_STR("domain", 0, 253), F_LIST("ntp_servers", 0, 8, ip_item), F_END };

static const struct api_field vmi_fields[] = {
	F_REF("virtual_network", API_F_REQUIRED, "virtual-network"),
	F_ENUM("owner_type", 0, owner_types), F_STR("owner", 0, 253),
	F_MAC("mac", API_F_ALLOC), F_STR("node", 0, 253),
	F_ENUM("interface_type", 0, vmi_types), F_STR("ifname", 0, 15),
	F_LIST("security_groups", API_F_UNIQUE, 16, sg_ref_item), F_END };

static const struct api_field iip_fields[] = {
	F_REF("virtual_network", API_F_REQUIRED, "virtual-network"),
	F_REF("virtual_machine_interface", 0, "virtual-machine-interface"),
	F_IP("address", API_F_ALLOC), F_CIDR("subnet", 0), F_ENUM("family", 0, families), F_END };

static const struct api_field fip_pool_fields[] = {
	F_REF("virtual_network", API_F_REQUIRED, "virtual-network"), F_END };
static const struct api_field fip_fields[] = {
	F_REF("floating_ip_pool", API_F_REQUIRED, "floating-ip-pool"),
	F_IP("address", API_F_ALLOC), F_REF("virtual_machine_interface", 0, "virtual-machine-interface"),
	F_IP("fixed_ip", 0), F_END };

static const struct api_field port_range_fields[] = {
	F_INT("start", API_F_REQUIRED, 0, 65535), F_INT("end", API_F_REQUIRED, 0, 65535), F_END };
static const struct api_field port_range_item[] = { F_OBJ("ports", 0, port_range_fields) };
static const struct api_field endpoint_fields[] = {
	F_REF("virtual_network", 0, "virtual-network"), F_CIDR("cidr", 0), F_MAP("labels"),
	F_LIST("ports", 0, 16, port_range_item), F_END };
static const struct api_field rule_fields[] = {
	F_ENUM("action", API_F_REQUIRED, actions), F_ENUM("protocol", 0, protocols),
	F_OBJ("source", 0, endpoint_fields), F_OBJ("destination", 0, endpoint_fields), F_END };
static const struct api_field rule_item[] = { F_OBJ("rule", 0, rule_fields) };
static const struct api_field policy_fields[] = { F_LIST("rules", 0, 1024, rule_item), F_END };

static const struct api_field sg_rule_fields[] = {
	F_ENUM("direction", API_F_REQUIRED, directions), F_ENUM("ethertype", 0, ethertypes),
	F_ENUM("protocol", 0, protocols), F_CIDR("cidr", 0),
	F_REF("security_group", 0, "security-group"),
	F_LIST("ports", 0, 16, port_range_item), F_END };
static const struct api_field sg_rule_item[] = { F_OBJ("rule", 0, sg_rule_fields) };
static const struct api_field sg_fields[] = { F_LIST("rules", 0, 1024, sg_rule_item), F_END };

static const struct api_field backend_fields[] = {
	F_IP("address", API_F_REQUIRED), F_INT("port", 0, 1, 65535), F_INT("weight", 0, 1, 255),
	F_END };
static const struct api_field backend_item[] = { F_OBJ("backend", 0, backend_fields) };
static const struct api_field service_fields[] = {
	F_REF("virtual_network", API_F_REQUIRED, "virtual-network"), F_IP("vip", API_F_ALLOC),
	F_INT("port", API_F_REQUIRED, 1, 65535), F_ENUM("protocol", 0, protocols),
	F_LIST("backends", 0, 1024, backend_item), F_END };

static const struct api_field bgp_fields[] = {
	F_IP("address", API_F_REQUIRED), F_INT("asn", API_F_REQUIRED, 1, 4294967295LL),
	F_ENUM("router_type", 0, router_types), F_LIST("address_families", API_F_UNIQUE, 6,
						       afi_item),
	F_STR("md5_key", 0, 80), F_INT("hold_time", 0, 3, 65535),
	F_LIST("peers", API_F_UNIQUE, 256, bgp_ref_item), F_END };

static const struct api_field vrouter_inst_fields[] = {
	F_STR("name", API_F_REQUIRED, 32), F_INT("numa_node", 0, 0, 63), F_STR("nic", 0, 64),
	F_STR("cores", 0, 128), F_END };
static const struct api_field vrouter_inst_item[] = { F_OBJ("vrouter", 0, vrouter_inst_fields) };
static const struct api_field vr_fields[] = {
	F_IP("fabric_address", API_F_REQUIRED), F_LIST("vrouters", 0, 16, vrouter_inst_item),
	F_REF("node_profile", 0, "node-profile"), F_END };

static const struct api_field np_fields[] = {
	F_MAP("node_selector"), F_INT("cpu_cores", 0, 1, 1024), F_INT("hugepages_mb", 0, 0, 1 << 24),
	F_BOOL("dpdk"), F_MAP("parameters"), F_END };

static int vn_check(json_t *obj, struct api_err *e);
static int vmi_check(json_t *obj, struct api_err *e);
static int generic_ports_check(json_t *obj, struct api_err *e);
static int vr_check(json_t *obj, struct api_err *e);

static const struct api_kind api_kinds[] = {
	{ "project", "proj", false, NULL, project_fields, NULL },
	{ "network-ipam", "ipam", true, NULL, ipam_fields, NULL },
	{ "virtual-network", "vn", true, NULL, vn_fields, vn_check },
	{ "virtual-machine-interface", "vmi", true, "virtual_network", vmi_fields, vmi_check },
	{ "instance-ip", "iip", true, "virtual_network", iip_fields, NULL },
	{ "floating-ip-pool", "fipp", true, "virtual_network", fip_pool_fields, NULL },
	{ "floating-ip", "fip", true, "floating_ip_pool", fip_fields, NULL },
	{ "network-policy", "np", true, NULL, policy_fields, generic_ports_check },
	{ "security-group", "sg", true, NULL, sg_fields, generic_ports_check },
	{ "service", "svc", true, "virtual_network", service_fields, NULL },
	{ "bgp-router", "bgp", false, NULL, bgp_fields, NULL },
	{ "virtual-router", "vr", false, NULL, vr_fields, vr_check },
	{ "node-profile", "nprof", false, NULL, np_fields, NULL },
};
#define N_KINDS (sizeof(api_kinds) / sizeof(api_kinds[0]))

const struct api_kind *api_kind_find(const char *name)
{
	for (unsigned i = 0; i < N_KINDS; i++)
		if (strcmp(name, api_kinds[i].name) == 0 || strcmp(name, api_kinds[i].alias) == 0)
			return &api_kinds[i];
	return NULL;
}

const struct api_kind *api_kind_at(unsigned i)
{
	return i < N_KINDS ? &api_kinds[i] : NULL;
}

/* ---- the walker ---------------------------------------------------------- */

static const char *type_name(enum api_ftype t)
{
	switch (t) {
	case API_T_STRING: return "a string";
	case API_T_INT: return "an integer";
	case API_T_BOOL: return "true or false";
	case API_T_ENUM: return "a string";
	case API_T_IP: return "an IP address string";
	case API_T_CIDR: return "a prefix string like 10.0.0.0/24";
	case API_T_MAC: return "a MAC string like 02:00:00:00:00:01";
	case API_T_RT: return "a route target string like target:64512:1";
	case API_T_REF: return "a reference string (name, project:name or UUID)";
	case API_T_MAP: return "an object of strings";
	case API_T_OBJECT: return "an object";
	case API_T_LIST: return "a list";
	}
	return "?";
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static void join(char *out, size_t len, const char *base, const char *name)
{
	if (base && *base)
		snprintf(out, len, "%s.%s", base, name);
	else
		snprintf(out, len, "%s", name);
}

static int check_fields(const struct api_field *fields, json_t *in, json_t *out,
			const char *path, struct api_err *e);

static int enum_list(char *buf, size_t len, const char *const *vals)
{
	size_t n = 0;
	buf[0] = 0;
	for (unsigned i = 0; vals[i] && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", vals[i]);
	return 0;
}

static int check_string(const struct api_field *f, json_t *v, const char *path,
			struct api_err *e)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (strlen(s) != n)
		return api_errf(e, 400, path, "contains a NUL character");
	struct api_prefix p;
	uint8_t mac[6];
	uint32_t a, b;
	switch (f->type) {
	case API_T_STRING:
		if (f->max && (int64_t)n > f->max)
			return api_errf(e, 400, path, "is %zu characters long; at most %lld allowed",
					n, (long long)f->max);
		return 0;
	case API_T_ENUM:
		for (unsigned i = 0; f->enums[i]; i++)
			if (strcmp(s, f->enums[i]) == 0)
				return 0;
		char vals[256];
		enum_list(vals, sizeof(vals), f->enums);
		return api_errf(e, 400, path, "'%.64s' is not one of: %s", s, vals);
	case API_T_IP:
		if (api_parse_ip(s, &p) < 0)
			return api_errf(e, 400, path, "'%.64s' is not an IPv4 or IPv6 address", s);
		return 0;
	case API_T_CIDR: {
		int rc = api_parse_cidr(s, &p);
		if (rc == -EDOM)
			return api_errf(e, 400, path, "'%.64s' has host bits set after the prefix "
					"length; write the network address", s);
		if (rc < 0)
			return api_errf(e, 400, path, "'%.64s' is not a prefix like 10.0.0.0/24 or "
					"fd00::/64", s);
		return 0;
	}
	case API_T_MAC:
		if (api_parse_mac(s, mac) < 0)
			return api_errf(e, 400, path, "'%.64s' is not a MAC address like "
					"02:00:00:00:00:01", s);
		if (mac[0] & 1)
			return api_errf(e, 400, path, "'%.64s' is a multicast MAC; a port needs a "
					"unicast one", s);
		return 0;
	case API_T_RT:
		if (api_parse_rt(s, &a, &b) < 0)
			return api_errf(e, 400, path, "'%.64s' is not a route target like "
					"target:64512:100 or target:10.0.0.1:100", s);
		return 0;
	case API_T_REF:
		if (n == 0 || n > 2 * API_NAME_MAX + 1)
			return api_errf(e, 400, path, "a reference is a name, project:name or UUID");
		return 0;
	default:
		return 0;
	}
}

static int check_value(const struct api_field *f, json_t *v, const char *path, json_t **out,
		       struct api_err *e)
{
	*out = NULL;
	switch (f->type) {
	case API_T_STRING: case API_T_ENUM: case API_T_IP: case API_T_CIDR:
	case API_T_MAC: case API_T_RT: case API_T_REF:
		if (!json_is_string(v))
			break;
		if (check_string(f, v, path, e) < 0)
			return -1;
		*out = json_incref(v);
		return 0;
	case API_T_INT:
		if (!json_is_integer(v))
			break;
		if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return api_errf(e, 400, path, "%lld is out of range %lld..%lld",
					(long long)json_integer_value(v), (long long)f->min,
					(long long)f->max);
		*out = json_incref(v);
		return 0;
	case API_T_BOOL:
		if (!json_is_boolean(v))
			break;
		*out = json_incref(v);
		return 0;
	case API_T_MAP: {
		if (!json_is_object(v))
			break;
		if ((int64_t)json_object_size(v) > f->max)
			return api_errf(e, 400, path, "has %zu entries; at most %lld allowed",
					json_object_size(v), (long long)f->max);
		const char *k;
		json_t *x;
		char sub[API_FIELD_LEN];
		json_object_foreach(v, k, x) {
			join(sub, sizeof(sub), path, k);
			if (!*k || strlen(k) > 253)
				return api_errf(e, 400, sub, "a key is 1 to 253 characters");
			if (!json_is_string(x))
				return api_errf(e, 400, sub, "must be a string, not %s",
						json_type_name(x));
			if (json_string_length(x) > 1024)
				return api_errf(e, 400, sub, "a value is at most 1024 characters");
		}
		*out = json_deep_copy(v);
		return *out ? 0 : api_errf(e, 500, path, "out of memory");
	}
	case API_T_OBJECT: {
		if (!json_is_object(v))
			break;
		json_t *o = json_object();
		if (!o)
			return api_errf(e, 500, path, "out of memory");
		if (check_fields(f->sub, v, o, path, e) < 0) {
			json_decref(o);
			return -1;
		}
		*out = o;
		return 0;
	}
	case API_T_LIST: {
		if (!json_is_array(v))
			break;
		if ((int64_t)json_array_size(v) > f->max)
			return api_errf(e, 400, path, "has %zu items; at most %lld allowed",
					json_array_size(v), (long long)f->max);
		json_t *a = json_array();
		if (!a)
			return api_errf(e, 500, path, "out of memory");
		size_t i;
		json_t *x, *nx;
		char sub[API_FIELD_LEN];
		json_array_foreach(v, i, x) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (check_value(&f->sub[0], x, sub, &nx, e) < 0) {
				json_decref(a);
				return -1;
			}
			if ((f->flags & API_F_UNIQUE)) {
				for (size_t j = 0; j < json_array_size(a); j++)
					if (json_equal(json_array_get(a, j), nx)) {
						json_decref(nx);
						json_decref(a);
						return api_errf(e, 400, sub, "repeats item %zu", j);
					}
			}
			json_array_append_new(a, nx);
		}
		*out = a;
		return 0;
	}
	}
	return api_errf(e, 400, path, "must be %s, not %s", type_name(f->type), json_type_name(v));
}

static const struct api_field *field_find(const struct api_field *fields, const char *name)
{
	for (const struct api_field *f = fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* Copy the known fields of in to out, checked; refuse unknown ones. Keys in
 * `skip` (metadata handled by the caller) are neither copied nor refused. */
static int check_fields_skip(const struct api_field *fields, json_t *in, json_t *out,
			     const char *path, const char *const *skip, struct api_err *e)
{
	const char *k;
	json_t *v;
	char sub[API_FIELD_LEN];
	json_object_foreach(in, k, v) {
		bool skipped = false;
		for (unsigned i = 0; skip && skip[i]; i++)
			skipped |= strcmp(k, skip[i]) == 0;
		if (skipped)
			continue;
		join(sub, sizeof(sub), path, k);
		const struct api_field *f = field_find(fields, k);
		if (!f)
			return api_errf(e, 400, sub, "unknown field");
		if (json_is_null(v))
			continue; /* null means absent: lets a client clear an allocated field */
		json_t *nv;
		if (check_value(f, v, sub, &nv, e) < 0)
			return -1;
		json_object_set_new(out, k, nv);
	}
	for (const struct api_field *f = fields; f->name; f++) {
		if ((f->flags & API_F_REQUIRED) && !json_object_get(out, f->name)) {
			join(sub, sizeof(sub), path, f->name);
			return api_errf(e, 400, sub, "is required (%s)", type_name(f->type));
		}
	}
	return 0;
}

static int check_fields(const struct api_field *fields, json_t *in, json_t *out,
			const char *path, struct api_err *e)
{
	return check_fields_skip(fields, in, out, path, NULL, e);
}

bool api_is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static int check_name(const char *field, json_t *v, struct api_err *e)
{
	if (!v)
		return api_errf(e, 400, field, "is required");
	if (!json_is_string(v))
		return api_errf(e, 400, field, "must be a string, not %s", json_type_name(v));
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0 || n > API_NAME_MAX || strlen(s) != n)
		return api_errf(e, 400, field, "must be 1 to %d characters", API_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || ((c == '-' || c == '_' || c == '.') && i > 0)))
			return api_errf(e, 400, field, "'%s': use letters, digits, '-', '_' and '.', "
					"starting with a letter or digit", s);
	}
	return 0;
}

/* Metadata common to every kind; what the server sets (fq_name, parent) is
 * accepted and dropped so a client can PUT back what it got. */
static const char *const meta_keys[] = { "kind", "name", "project", "labels", "description",
					 "uuid", "version", "fq_name", "parent", NULL };
static const struct api_field labels_field = F_MAP("labels");
static const struct api_field desc_field = F_STR("description", 0, 1024);

static int check_meta(const struct api_kind *k, json_t *in, json_t *out, struct api_err *e)
{
	json_t *v = json_object_get(in, "kind");
	if (v && (!json_is_string(v) || (strcmp(json_string_value(v), k->name) != 0)))
		return api_errf(e, 400, "kind", "is '%s' but the request is for %s",
				json_is_string(v) ? json_string_value(v) : json_type_name(v),
				k->name);
	json_object_set_new(out, "kind", json_string(k->name));
	if (check_name("name", json_object_get(in, "name"), e) < 0)
		return -1;
	json_object_set(out, "name", json_object_get(in, "name"));
	v = json_object_get(in, "project");
	if (k->scoped) {
		if (check_name("project", v, e) < 0)
			return -1;
		json_object_set(out, "project", v);
	} else if (v && !json_is_null(v)) {
		return api_errf(e, 400, "project", "%s objects are global: remove project",
				k->name);
	}
	json_t *nv;
	v = json_object_get(in, "labels");
	if (v && !json_is_null(v)) {
		if (check_value(&labels_field, v, "labels", &nv, e) < 0)
			return -1;
		json_object_set_new(out, "labels", nv);
	} else {
		json_object_set_new(out, "labels", json_object());
	}
	v = json_object_get(in, "description");
	if (v && !json_is_null(v)) {
		if (check_value(&desc_field, v, "description", &nv, e) < 0)
			return -1;
		json_object_set_new(out, "description", nv);
	}
	v = json_object_get(in, "uuid");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || !api_is_uuid(json_string_value(v)))
			return api_errf(e, 400, "uuid", "must be a lowercase UUID like "
					"0b9e8a5c-6f2d-4c1e-9a57-3d2f1e0c4b7a");
		json_object_set(out, "uuid", v);
	}
	v = json_object_get(in, "version");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return api_errf(e, 400, "version", "must be a non-negative integer (the "
					"version you read)");
		json_object_set(out, "version", v);
	}
	v = json_object_get(in, "fq_name");
	if (v && !json_is_null(v) && !json_is_string(v))
		return api_errf(e, 400, "fq_name", "must be a string, not %s", json_type_name(v));
	v = json_object_get(in, "parent");
	if (v && !json_is_null(v) && !json_is_string(v))
		return api_errf(e, 400, "parent", "must be a string, not %s", json_type_name(v));
	return 0;
}

int api_validate(const struct api_kind *k, json_t *in, json_t **out, struct api_err *e)
{
	*out = NULL;
	if (!json_is_object(in))
		return api_errf(e, 400, "", "the body must be a JSON object, not %s",
				json_type_name(in));
	json_t *o = json_object();
	if (!o)
		return api_errf(e, 500, "", "out of memory");
	if (check_meta(k, in, o, e) < 0 || check_fields_skip(k->fields, in, o, "", meta_keys, e) < 0 ||
	    (k->check && k->check(o, e) < 0)) {
		json_decref(o);
		return -1;
	}
	*out = o;
	return 0;
}

int api_parse(const char *body, size_t len, json_t **out, struct api_err *e)
{
	*out = NULL;
	if (len > API_BODY_MAX)
		return api_errf(e, 413, "", "the body is %zu bytes; at most %d allowed", len,
				API_BODY_MAX);
	json_error_t je;
	/* Duplicate keys are refused: which one wins would be a guess. */
	*out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!*out)
		return api_errf(e, 400, "", "malformed JSON at line %d column %d: %s", je.line,
				je.column, je.text);
	return 0;
}

int api_decode(const struct api_kind *k, const char *body, size_t len, json_t **out,
	       struct api_err *e)
{
	json_t *in;
	*out = NULL;
	if (api_parse(body, len, &in, e) < 0)
		return -1;
	int rc = api_validate(k, in, out, e);
	json_decref(in);
	return rc;
}

/* ---- references ---------------------------------------------------------- */

static int walk(const struct api_field *f, json_t *holder, const char *key, size_t index,
		json_t *v, const char *path, api_ref_cb cb, void *arg)
{
	char sub[API_FIELD_LEN];
	switch (f->type) {
	case API_T_REF:
		return cb(arg, path, f, holder, key, index);
	case API_T_OBJECT:
		for (const struct api_field *s = f->sub; s->name; s++) {
			json_t *x = json_object_get(v, s->name);
			if (!x)
				continue;
			join(sub, sizeof(sub), path, s->name);
			int rc = walk(s, v, s->name, 0, x, sub, cb, arg);
			if (rc)
				return rc;
		}
		return 0;
	case API_T_LIST: {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			int rc = walk(&f->sub[0], v, NULL, i, x, sub, cb, arg);
			if (rc)
				return rc;
		}
		return 0;
	}
	default:
		return 0;
	}
}

int api_refs_walk(const struct api_kind *k, json_t *obj, api_ref_cb cb, void *arg)
{
	const struct api_field top = { .name = "", .type = API_T_OBJECT, .sub = k->fields };
	return walk(&top, NULL, NULL, 0, obj, "", cb, arg);
}

/* ---- rules across fields --------------------------------------------------- */

static void set_default(json_t *obj, const char *key, json_t *v)
{
	if (!json_object_get(obj, key))
		json_object_set_new(obj, key, v);
	else
		json_decref(v);
}

static int subnet_check(json_t *sn, const char *path, struct api_prefix *net,
			struct api_err *e)
{
	char sub[2 * API_FIELD_LEN]; /* e->field truncates if it must */
	api_parse_cidr(json_string_value(json_object_get(sn, "cidr")), net);
	uint64_t last = api_prefix_last(net), off;
	static const char *const hosts[] = { "gateway", "dns" };
	for (unsigned i = 0; i < 2; i++) {
		json_t *v = json_object_get(sn, hosts[i]);
		struct api_prefix a;
		if (!v)
			continue;
		join(sub, sizeof(sub), path, hosts[i]);
		api_parse_ip(json_string_value(v), &a);
		if (!api_prefix_contains(net, &a) || api_prefix_offset(net, &a, &off) < 0 ||
		    off == 0 || off > last)
			return api_errf(e, 400, sub, "%s is not a host address of subnet %s",
					json_string_value(v),
					json_string_value(json_object_get(sn, "cidr")));
	}
	json_t *pools = json_object_get(sn, "allocation_pools"), *p;
	size_t i;
	json_array_foreach(pools, i, p) {
		struct api_prefix s, t;
		uint64_t so, to;
		snprintf(sub, sizeof(sub), "%s.allocation_pools[%zu]", path, i);
		api_parse_ip(json_string_value(json_object_get(p, "start")), &s);
		api_parse_ip(json_string_value(json_object_get(p, "end")), &t);
		if (!api_prefix_contains(net, &s) || !api_prefix_contains(net, &t) ||
		    api_prefix_offset(net, &s, &so) < 0 || api_prefix_offset(net, &t, &to) < 0 ||
		    so == 0 || to > last)
			return api_errf(e, 400, sub, "start and end must be host addresses of "
					"subnet %s", json_string_value(json_object_get(sn, "cidr")));
		if (so > to)
			return api_errf(e, 400, sub, "start is after end");
	}
	return 0;
}

static int vn_check(json_t *obj, struct api_err *e)
{
	json_t *subnets = json_object_get(obj, "subnets"), *sn;
	struct api_prefix nets[64];
	size_t i;
	char path[API_FIELD_LEN];
	json_array_foreach(subnets, i, sn) {
		snprintf(path, sizeof(path), "subnets[%zu]", i);
		if (subnet_check(sn, path, &nets[i], e) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (api_prefix_overlap(&nets[i], &nets[j]))
				return api_errf(e, 400, path, "%s overlaps subnets[%zu] %s",
						json_string_value(json_object_get(sn, "cidr")), j,
						json_string_value(json_object_get(
							json_array_get(subnets, j), "cidr")));
	}
	set_default(obj, "subnets", json_array());
	set_default(obj, "forwarding_mode", json_string("l2_l3"));
	set_default(obj, "encapsulation", json_pack("[sss]", "MPLSoUDP", "MPLSoGRE", "VXLAN"));
	return 0;
}

static int vmi_check(json_t *obj, struct api_err *e)
{
	json_t *ifn = json_object_get(obj, "ifname");
	if (ifn && (json_string_length(ifn) == 0 || strchr(json_string_value(ifn), '/') ||
		    strchr(json_string_value(ifn), ' ')))
		return api_errf(e, 400, "ifname", "'%s' is not an interface name (1 to 15 "
				"characters, no '/' or space)", json_string_value(ifn));
	if (json_object_get(obj, "owner") && !json_object_get(obj, "owner_type"))
		return api_errf(e, 400, "owner_type", "is required with owner (pod or vm)");
	set_default(obj, "interface_type", json_string("kernel"));
	return 0;
}

/* Port ranges anywhere in rules: start <= end. */
static int ranges_check(json_t *ports, const char *path, struct api_err *e)
{
	size_t i;
	json_t *p;
	char sub[2 * API_FIELD_LEN];
	json_array_foreach(ports, i, p) {
		if (json_integer_value(json_object_get(p, "start")) >
		    json_integer_value(json_object_get(p, "end"))) {
			snprintf(sub, sizeof(sub), "%s.ports[%zu]", path, i);
			return api_errf(e, 400, sub, "start is after end");
		}
	}
	return 0;
}

static int generic_ports_check(json_t *obj, struct api_err *e)
{
	json_t *rules = json_object_get(obj, "rules"), *r;
	size_t i;
	char path[API_FIELD_LEN];
	static const char *const ends[] = { "source", "destination" };
	json_array_foreach(rules, i, r) {
		snprintf(path, sizeof(path), "rules[%zu]", i);
		if (ranges_check(json_object_get(r, "ports"), path, e) < 0)
			return -1;
		for (unsigned j = 0; j < 2; j++) {
			char sub[2 * API_FIELD_LEN];
			json_t *ep = json_object_get(r, ends[j]);
			snprintf(sub, sizeof(sub), "%s.%s", path, ends[j]);
			if (ep && ranges_check(json_object_get(ep, "ports"), sub, e) < 0)
				return -1;
		}
	}
	return 0;
}

static int vr_check(json_t *obj, struct api_err *e)
{
	json_t *list = json_object_get(obj, "vrouters");
	for (size_t i = 0; i < json_array_size(list); i++)
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_object_get(json_array_get(list, i), "name"),
				       json_object_get(json_array_get(list, j), "name"))) {
				char path[API_FIELD_LEN];
				snprintf(path, sizeof(path), "vrouters[%zu].name", i);
				return api_errf(e, 400, path, "repeats the name of vrouters[%zu]", j);
			}
	return 0;
}
