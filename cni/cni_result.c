/* DOC: cni_result.c — see cni_result.h. */
#include "cni_result.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int bad(struct cni_err *e, size_t i, const char *field, const char *why)
{
	return cni_errf(e, CNI_ERR_IO, "tern-agent sent an unusable plan: interfaces[%zu].%s %s",
			i, field, why);
}

/* Copy string field key of o into dst (size n). required: absent is an error. */
static int str_field(json_t *o, const char *key, bool required, char *dst, size_t n,
		     size_t i, struct cni_err *e)
{
	json_t *v = json_object_get(o, key);
	dst[0] = 0;
	if (!v || json_is_null(v))
		return required ? bad(e, i, key, "is missing") : 0;
	if (!json_is_string(v))
		return bad(e, i, key, "is not a string");
	if (json_string_length(v) >= n)
		return bad(e, i, key, "is too long");
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int addrs_parse(struct cni_iface *f, json_t *o, size_t i, struct cni_err *e)
{
	json_t *a = json_object_get(o, "addresses");
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return bad(e, i, "addresses", "is not a list");
	if (json_array_size(a) > CNI_MAX_ADDRS)
		return bad(e, i, "addresses", "has more than 8 entries");
	size_t k;
	json_t *s;
	json_array_foreach(a, k, s) {
		if (cni_prefix_parse(json_string_value(s), true, &f->addrs[k]) < 0)
			return bad(e, i, "addresses", "has an entry that is not ADDRESS/LENGTH");
	}
	f->n_addrs = (unsigned)json_array_size(a);
	return 0;
}

static int routes_parse(struct cni_iface *f, json_t *o, size_t i, struct cni_err *e)
{
	json_t *a = json_object_get(o, "routes");
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return bad(e, i, "routes", "is not a list");
	if (json_array_size(a) > CNI_MAX_ROUTES)
		return bad(e, i, "routes", "has more than 16 entries");
	size_t k;
	json_t *r;
	json_array_foreach(a, k, r) {
		struct cni_route *rt = &f->routes[k];
		if (cni_prefix_parse(json_string_value(json_object_get(r, "dst")), true,
				     &rt->dst) < 0)
			return bad(e, i, "routes", "has a dst that is not PREFIX/LENGTH");
		json_t *gw = json_object_get(r, "gw");
		if (gw && !json_is_null(gw)) {
			if (cni_prefix_parse(json_string_value(gw), false, &rt->gw) < 0 ||
			    rt->gw.family != rt->dst.family)
				return bad(e, i, "routes", "has a gw that is not an address of "
					   "the dst's family");
			rt->has_gw = true;
		}
	}
	f->n_routes = (unsigned)json_array_size(a);
	return 0;
}

static int iface_parse(struct cni_iface *f, json_t *o, enum cni_plan_kind kind, size_t i,
		       struct cni_err *e)
{
	memset(f, 0, sizeof(*f));
	if (!json_is_object(o))
		return cni_errf(e, CNI_ERR_IO, "tern-agent sent an unusable plan: interfaces[%zu] "
				"is not an object", i);
	if (str_field(o, "ifname", true, f->ifname, sizeof(f->ifname), i, e) < 0)
		return -EINVAL;
	if (!cni_ifname_valid(f->ifname))
		return bad(e, i, "ifname", "is not a valid interface name");
	if (str_field(o, "host_ifname", false, f->host_ifname, sizeof(f->host_ifname), i, e) < 0)
		return -EINVAL;
	if (f->host_ifname[0] && !cni_ifname_valid(f->host_ifname))
		return bad(e, i, "host_ifname", "is not a valid interface name");
	if (kind == CNI_PLAN_REMOVED)
		return 0;

	char kstr[16], mac[32];
	if (str_field(o, "vmi", true, f->vmi, sizeof(f->vmi), i, e) < 0 ||
	    str_field(o, "kind", true, kstr, sizeof(kstr), i, e) < 0 ||
	    str_field(o, "mac", true, mac, sizeof(mac), i, e) < 0 ||
	    str_field(o, "socket_path", false, f->socket_path, sizeof(f->socket_path), i, e) < 0)
		return -EINVAL;
	if (strcmp(kstr, "kernel") == 0)
		f->kind = CNI_KIND_KERNEL;
	else if (strcmp(kstr, "memif") == 0)
		f->kind = CNI_KIND_MEMIF;
	else if (strcmp(kstr, "vhost-user") == 0)
		f->kind = CNI_KIND_VHOST;
	else
		return bad(e, i, "kind", "is not kernel, memif or vhost-user");
	if (f->kind == CNI_KIND_KERNEL && !f->host_ifname[0])
		return bad(e, i, "host_ifname", "is missing (a kernel interface needs it)");
	if (f->kind != CNI_KIND_KERNEL && f->socket_path[0] != '/')
		return bad(e, i, "socket_path", "is missing or not absolute (a DPDK interface "
			   "needs it)");
	if (tern_mac_parse(mac, f->mac) < 0)
		return bad(e, i, "mac", "is not a MAC address");
	f->has_mac = true;
	json_t *mtu = json_object_get(o, "mtu");
	if (!json_is_integer(mtu) || json_integer_value(mtu) < 68 ||
	    json_integer_value(mtu) > 65535)
		return bad(e, i, "mtu", "is missing or not in 68..65535");
	f->mtu = (unsigned)json_integer_value(mtu);
	if (addrs_parse(f, o, i, e) < 0 || routes_parse(f, o, i, e) < 0)
		return -EINVAL;
	json_t *dns = json_object_get(o, "dns");
	if (dns && !json_is_null(dns) && !json_is_object(dns))
		return bad(e, i, "dns", "is not an object");
	f->dns = json_is_object(dns) ? dns : NULL;
	if (kind == CNI_PLAN_CHECK) {
		json_t *at = json_object_get(o, "attached");
		if (!json_is_boolean(at))
			return bad(e, i, "attached", "is missing or not true/false");
		f->attached = json_is_true(at);
	}
	return 0;
}

int cni_plan_parse(struct cni_plan *p, json_t *reply, enum cni_plan_kind kind,
		   struct cni_err *e)
{
	memset(p, 0, sizeof(*p));
	json_t *a = json_object_get(reply, "interfaces");
	if (!json_is_array(a))
		return cni_errf(e, CNI_ERR_IO, "tern-agent sent an unusable plan: no "
				"\"interfaces\" list");
	if (json_array_size(a) > CNI_MAX_IFACES)
		return cni_errf(e, CNI_ERR_IO, "tern-agent planned %zu interfaces; tern-cni handles "
				"at most %d", json_array_size(a), CNI_MAX_IFACES);
	size_t i;
	json_t *o;
	json_array_foreach(a, i, o) {
		if (iface_parse(&p->ifaces[i], o, kind, i, e) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++) {
			if (kind != CNI_PLAN_REMOVED &&
			    strcmp(p->ifaces[j].ifname, p->ifaces[i].ifname) == 0)
				return bad(e, i, "ifname", "is planned twice");
			if (p->ifaces[i].host_ifname[0] &&
			    strcmp(p->ifaces[j].host_ifname, p->ifaces[i].host_ifname) == 0)
				return bad(e, i, "host_ifname", "is planned twice");
		}
	}
	p->n = (unsigned)json_array_size(a);
	p->reply = json_incref(reply);
	return 0;
}

void cni_plan_free(struct cni_plan *p)
{
	json_decref(p->reply);
	p->reply = NULL;
	p->n = 0;
}

/* ---- the CNI result -------------------------------------------------------- */

static json_t *prefix_json(const struct cni_prefix *p, bool with_len)
{
	char buf[64];
	cni_prefix_format(p, buf, sizeof(buf));
	if (!with_len)
		*strchr(buf, '/') = 0;
	return json_string(buf);
}

static json_t *mac_json(const uint8_t mac[6])
{
	char buf[18];
	tern_mac_format(mac, buf, 18);
	return json_string(buf);
}

/* Only the keys the spec defines, so that whatever else the agent adds to
 * its dns object stays out of the result. */
static json_t *dns_json(const struct cni_plan *p)
{
	static const char *const keys[] = { "nameservers", "domain", "search", "options" };
	for (unsigned i = 0; i < p->n; i++) {
		json_t *d = p->ifaces[i].dns;
		if (!d || json_object_size(d) == 0)
			continue;
		json_t *out = json_object();
		for (unsigned k = 0; out && k < sizeof(keys) / sizeof(keys[0]); k++) {
			json_t *v = json_object_get(d, keys[k]);
			if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0) &&
			    !(json_is_string(v) && json_string_length(v) == 0))
				json_object_set(out, keys[k], v);
		}
		if (out && json_object_size(out) > 0)
			return out;
		json_decref(out);
	}
	return NULL;
}

static int add_iface(json_t *ifs, const char *name, const uint8_t *mac, unsigned mtu,
		     const char *sandbox, const char *socket_path)
{
	json_t *o = json_object();
	if (!o || json_array_append_new(ifs, o) < 0)
		return -ENOMEM;
	int r = json_object_set_new(o, "name", json_string(name));
	if (mac)
		r |= json_object_set_new(o, "mac", mac_json(mac));
	if (mtu)
		r |= json_object_set_new(o, "mtu", json_integer(mtu));
	if (sandbox)
		r |= json_object_set_new(o, "sandbox", json_string(sandbox));
	if (socket_path)
		r |= json_object_set_new(o, "socketPath", json_string(socket_path));
	return r ? -ENOMEM : 0;
}

json_t *cni_result_build(const struct cni_plan *p, const char *version, const char *netns)
{
	bool v11 = cni_version_index(version) >= cni_version_index("1.1.0");
	bool v04 = strcmp(version, "0.4.0") == 0;
	json_t *res = json_object(), *ifs = json_array(), *ips = json_array(),
	       *routes = json_array();
	int r = !res || !ifs || !ips || !routes;
	if (!r)
		r = json_object_set_new(res, "cniVersion", json_string(version)) |
		    json_object_set(res, "interfaces", ifs) | json_object_set(res, "ips", ips) |
		    json_object_set(res, "routes", routes);
	for (unsigned i = 0; !r && i < p->n; i++) {
		const struct cni_iface *f = &p->ifaces[i];
		if (f->kind == CNI_KIND_KERNEL)
			r = add_iface(ifs, f->host_ifname, f->has_host_mac ? f->host_mac : NULL,
				      v11 ? f->mtu : 0, NULL, NULL);
		int pod_idx = (int)json_array_size(ifs);
		r = r ? r : add_iface(ifs, f->ifname, f->mac, v11 ? f->mtu : 0, netns,
				      v11 && f->kind != CNI_KIND_KERNEL ? f->socket_path : NULL);
		for (unsigned a = 0; !r && a < f->n_addrs; a++) {
			json_t *ip = json_object();
			r = !ip || json_array_append_new(ips, ip) < 0;
			if (r)
				break;
			if (v04)
				r |= json_object_set_new(ip, "version", json_string(
					f->addrs[a].family == AF_INET ? "4" : "6"));
			r |= json_object_set_new(ip, "address", prefix_json(&f->addrs[a], true));
			for (unsigned k = 0; k < f->n_routes; k++) {
				const struct cni_route *rt = &f->routes[k];
				if (rt->has_gw && cni_prefix_contains(&f->addrs[a], &rt->gw)) {
					r |= json_object_set_new(ip, "gateway",
								 prefix_json(&rt->gw, false));
					break;
				}
			}
			r |= json_object_set_new(ip, "interface", json_integer(pod_idx));
		}
		for (unsigned k = 0; !r && k < f->n_routes; k++) {
			json_t *ro = json_object();
			r = !ro || json_array_append_new(routes, ro) < 0;
			if (r)
				break;
			r |= json_object_set_new(ro, "dst", prefix_json(&f->routes[k].dst, true));
			if (f->routes[k].has_gw)
				r |= json_object_set_new(ro, "gw", prefix_json(&f->routes[k].gw, false));
		}
	}
	json_t *dns = r ? NULL : dns_json(p);
	if (dns)
		r = json_object_set_new(res, "dns", dns);
	json_decref(ifs);
	json_decref(ips);
	json_decref(routes);
	if (r) {
		json_decref(res);
		return NULL;
	}
	return res;
}
