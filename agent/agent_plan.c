/*
 * DOC: agent_plan.c — what a pod gets: its interfaces on this node, in order,
 * each with MAC, addresses, routes, MTU and DNS, read from tern-api's
 * virtual-machine-interfaces and instance-ips. When the CNI call names
 * networks (the NPWG annotation, the netconf's default network) for which
 * the pod has no interface, the agent creates the interface and its
 * addresses in tern-api and remembers that it did, so that DEL removes them.
 *
 * A plan is derived again on every request from the mirror, so add, attach
 * and check always agree on the same data.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"

/* CNI error codes (spec) and tern's own. */
#define CNI_E_CONFIG 7
#define CNI_E_AGAIN 11
#define CNI_E_API 101

void agent_if_free(struct agent_if *ifs, int n)
{
	for (int i = 0; i < n; i++) {
		json_decref(ifs[i].dns);
		ifs[i].dns = NULL;
	}
}

json_t *agent_if_json(const struct agent_if *i)
{
	char buf[64];
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "vmi", i->vmi, "ifname", i->ifname,
			      "kind", i->kind, "network", i->network, "mtu", i->mtu);
	json_object_set_new(o, "mac", json_string(tern_mac_format(i->mac, buf, sizeof(buf))));
	if (i->host_ifname[0])
		json_object_set_new(o, "host_ifname", json_string(i->host_ifname));
	if (i->socket_path[0]) {
		json_object_set_new(o, "socket_path", json_string(i->socket_path));
		char dir[256];
		snprintf(dir, sizeof(dir), "%s", i->socket_path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		json_object_set_new(o, "socket_dir", json_string(dir));
	}
	json_t *addrs = json_array(), *routes = json_array();
	for (int k = 0; k < i->n_addrs; k++)
		json_array_append_new(addrs, json_string(agent_ip_str(&i->addrs[k], buf,
								      sizeof(buf), true)));
	if (i->default_route) {
		if (i->gw4.family) {
			json_array_append_new(routes, json_pack("{s:s, s:s}", "dst", "0.0.0.0/0",
				"gw", agent_ip_str(&i->gw4, buf, sizeof(buf), false)));
		}
		if (i->gw6.family) {
			json_array_append_new(routes, json_pack("{s:s, s:s}", "dst", "::/0",
				"gw", agent_ip_str(&i->gw6, buf, sizeof(buf), false)));
		}
	}
	json_object_set_new(o, "addresses", addrs);
	json_object_set_new(o, "routes", routes);
	json_object_set(o, "dns", i->dns ? i->dns : json_object());
	if (!i->dns)
		json_decref(json_object_get(o, "dns"));
	return o;
}

/* ---- the pod's interfaces in the mirror ---- */

static void owner_of(const struct agent_req *r, char *out, size_t len)
{
	if (r->pod_namespace && r->pod_name && *r->pod_namespace && *r->pod_name)
		snprintf(out, len, "%s/%s", r->pod_namespace, r->pod_name);
	else
		snprintf(out, len, "%s", r->container_id);
}

static bool vmi_is_ours(struct agent *a, json_t *vmi, const char *owner)
{
	const char *o = json_string_value(json_object_get(vmi, "owner"));
	const char *n = json_string_value(json_object_get(vmi, "node"));
	return o && n && !strcmp(o, owner) && !strcmp(n, a->conf.node);
}

/* tern-api names: letters, digits, '-', '_', '.' (not first), up to 63. */
static void api_name(char *out, size_t len, const char *owner, const char *ifname,
		     const char *suffix)
{
	char raw[256];
	snprintf(raw, sizeof(raw), "%s-%s%s", owner, ifname, suffix);
	size_t j = 0;
	for (size_t i = 0; raw[i] && j + 1 < len && j < 63; i++) {
		char c = raw[i];
		bool ok = isalnum((unsigned char)c) || c == '-' || c == '_' || (c == '.' && j > 0);
		out[j++] = ok ? c : '-';
	}
	out[j] = 0;
}

static struct agent_created *created_slot(struct agent *a, const char *cid, bool make)
{
	struct agent_created *free_slot = NULL;
	for (int i = 0; i < AGENT_MAX_CREATED; i++) {
		struct agent_created *c = &a->created[i];
		if (c->used && !strcmp(c->container_id, cid))
			return c;
		if (!c->used && !free_slot)
			free_slot = c;
	}
	if (!make || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	snprintf(free_slot->container_id, sizeof(free_slot->container_id), "%s", cid);
	return free_slot;
}

static void created_note(struct agent *a, const char *cid, const char *kind, json_t *obj)
{
	struct agent_created *c = created_slot(a, cid, true);
	const char *uuid = json_string_value(json_object_get(obj, "uuid"));
	if (!c || !uuid || c->n >= 2 * AGENT_MAX_IFS)
		return;
	snprintf(c->kind[c->n], sizeof(c->kind[0]), "%s", kind);
	snprintf(c->uuid[c->n], sizeof(c->uuid[0]), "%s", uuid);
	c->n++;
	a->state_dirty = true;
}

void agent_created_forget(struct agent *a, const char *cid, bool delete_in_api)
{
	struct agent_created *c = created_slot(a, cid, false);
	if (!c)
		return;
	/* Last made, first deleted: addresses before their interface. */
	for (int i = c->n - 1; delete_in_api && i >= 0; i--) {
		char err[256];
		int rc = agent_api_delete(a->api, c->kind[i], c->uuid[i], err, sizeof(err));
		if (rc < 0 && rc != -ENOENT)
			TLOG_WARN(&a->log, "container %s: deleting %s %s in tern-api: %s", cid,
				  c->kind[i], c->uuid[i], err);
	}
	c->used = false;
	a->state_dirty = true;
}

/* Add to items the interface (and an address per family of the network's
 * subnets) of network vn for the pod; the addresses name the interface by
 * its fq_name, so that one tern-api batch creates them all. */
static void plan_vmi(struct agent *a, const char *owner, json_t *vn, const char *ifname,
		     json_t *items)
{
	const char *project = json_string_value(json_object_get(vn, "project"));
	const char *vn_fq = json_string_value(json_object_get(vn, "fq_name"));
	char name[64], vmi_fq[200];
	api_name(name, sizeof(name), owner, ifname, "");
	snprintf(vmi_fq, sizeof(vmi_fq), "%s:%s", project ? project : "", name);
	json_array_append_new(items, json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
		"kind", "virtual-machine-interface", "object", "name", name, "project", project,
		"virtual_network", vn_fq, "owner_type", "pod", "owner", owner, "node",
		a->conf.node, "ifname", ifname, "interface_type", "kernel"));
	bool fam[2] = { false, false };
	size_t i;
	json_t *sn;
	json_array_foreach(json_object_get(vn, "subnets"), i, sn) {
		struct agent_ip net;
		if (agent_ip_parse(json_string_value(json_object_get(sn, "cidr")), &net) == 0)
			fam[net.family == 6] = true;
	}
	for (int f = 0; f < 2; f++) {
		if (!fam[f])
			continue;
		char iname[64];
		api_name(iname, sizeof(iname), owner, ifname, f ? "-v6" : "-v4");
		json_array_append_new(items, json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s}}",
			"kind", "instance-ip", "object", "name", iname, "project", project,
			"virtual_network", vn_fq, "virtual_machine_interface", vmi_fq,
			"family", f ? "v6" : "v4"));
	}
}

/* Create items in tern-api: one batch (one transaction), or one request
 * each from a tern-api that has no batch (404). Remembers what was created,
 * for DEL, and puts it in the mirror before the watch brings it. */
static int create_items(struct agent *a, const struct agent_req *r, json_t *items, char *err,
			size_t errlen)
{
	char e[512];
	json_t *made = NULL;
	int rc = agent_api_create_batch(a->api, items, &made, e, sizeof(e));
	if (rc == -ENOENT) {
		made = json_array();
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it) {
			json_t *o = NULL;
			rc = agent_api_create(a->api, json_string_value(json_object_get(it, "kind")),
					      json_object_get(it, "object"), &o, e, sizeof(e));
			if (rc < 0)
				break;
			json_array_append_new(made, o);
		}
	}
	size_t i;
	json_t *o;
	json_array_foreach(made, i, o) {
		const char *kind = json_string_value(json_object_get(json_array_get(items, i),
								     "kind"));
		created_note(a, r->container_id, kind, o);
		agent_model_put(a, kind, o);
	}
	json_decref(made);
	if (rc < 0) {
		snprintf(err, errlen, "creating the pod's interfaces and addresses in tern-api: %s",
			 e);
		return rc == -ECONNREFUSED || rc == -ETIMEDOUT ? -CNI_E_AGAIN : -CNI_E_API;
	}
	return 0;
}

/* DNS of a subnet: its own DNS address, else the network IPAM's servers. */
static json_t *dns_of(struct agent *a, json_t *vn, json_t *subnet)
{
	json_t *d = json_object(), *ns = json_array();
	const char *own = json_string_value(json_object_get(subnet, "dns"));
	json_t *ipam = agent_model_ref(a, "network-ipam",
		json_string_value(json_object_get(vn, "network_ipam")),
		json_string_value(json_object_get(vn, "project")));
	if (own)
		json_array_append_new(ns, json_string(own));
	else if (ipam) {
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(ipam, "dns_servers"), i, s)
			json_array_append(ns, s);
	}
	json_object_set_new(d, "nameservers", ns);
	const char *domain = ipam ? json_string_value(json_object_get(ipam, "domain")) : NULL;
	if (domain)
		json_object_set_new(d, "domain", json_string(domain));
	return d;
}

/* Fill one planned interface from its VMI. */
static int fill_if(struct agent *a, json_t *vmi, struct agent_if *f, char *err, size_t errlen)
{
	const char *uuid = json_string_value(json_object_get(vmi, "uuid"));
	const char *fq = json_string_value(json_object_get(vmi, "fq_name"));
	const char *project = json_string_value(json_object_get(vmi, "project"));
	json_t *vn = agent_model_ref(a, "virtual-network",
		json_string_value(json_object_get(vmi, "virtual_network")), project);
	if (!vn) {
		snprintf(err, errlen, "%s: its network %s is not known (yet) to the agent", fq,
			 json_string_value(json_object_get(vmi, "virtual_network")));
		return -CNI_E_AGAIN;
	}
	snprintf(f->vmi, sizeof(f->vmi), "%s", uuid);
	snprintf(f->network, sizeof(f->network), "%s",
		 json_string_value(json_object_get(vn, "fq_name")));
	const char *kind = json_string_value(json_object_get(vmi, "interface_type"));
	snprintf(f->kind, sizeof(f->kind), "%s", kind ? kind : "kernel");
	if (tern_mac_parse(json_string_value(json_object_get(vmi, "mac")), f->mac) < 0) {
		snprintf(err, errlen, "%s: no MAC address in tern-api", fq);
		return -CNI_E_AGAIN;
	}
	f->mtu = a->conf.pod_mtu;
	const char *k;
	json_t *iip;
	json_object_foreach(json_object_get(a->model, "instance-ip"), k, iip) {
		const char *ref = json_string_value(json_object_get(iip, "virtual_machine_interface"));
		if (!ref || (strcmp(ref, fq) && strcmp(ref, uuid)))
			continue;
		struct agent_ip ip;
		if (agent_ip_parse(json_string_value(json_object_get(iip, "address")), &ip) < 0)
			continue;
		if (f->n_addrs >= AGENT_MAX_ADDRS)
			break;
		size_t i;
		json_t *sn;
		json_array_foreach(json_object_get(vn, "subnets"), i, sn) {
			struct agent_ip net, gw;
			if (agent_ip_parse(json_string_value(json_object_get(sn, "cidr")), &net) < 0 ||
			    !agent_ip_contains(&net, &ip))
				continue;
			ip.plen = net.plen;
			if (agent_ip_parse(json_string_value(json_object_get(sn, "gateway")), &gw) == 0) {
				if (gw.family == 4 && !f->gw4.family)
					f->gw4 = gw;
				if (gw.family == 6 && !f->gw6.family)
					f->gw6 = gw;
			}
			if (!f->dns)
				f->dns = dns_of(a, vn, sn);
			break;
		}
		f->addrs[f->n_addrs++] = ip;
	}
	if (!f->n_addrs) {
		snprintf(err, errlen, "%s: no instance-ip in tern-api yet", fq);
		return -CNI_E_AGAIN;
	}
	return 0;
}

static int cmp_ifname(const void *x, const void *y)
{
	const struct agent_if *a = x, *b = y;
	return strcmp(a->ifname, b->ifname);
}

int agent_plan(struct agent *a, const struct agent_req *r, bool create,
	       struct agent_if *out, int max, char *err, size_t errlen)
{
	char owner[300];
	struct agent_want want[AGENT_MAX_IFS + 1];
	int n_want = 0, rc;
	const char *first = r->ifname && *r->ifname ? r->ifname : "eth0";
	const char *project = r->project && *r->project ? r->project : r->pod_namespace;
	if (!r->container_id || !*r->container_id) {
		snprintf(err, errlen, "container_id missing");
		return -CNI_E_CONFIG;
	}
	if (!a->api_synced) {
		snprintf(err, errlen, "the agent has not synchronised with tern-api yet");
		return -CNI_E_AGAIN;
	}
	owner_of(r, owner, sizeof(owner));
	if (r->network && *r->network &&
	    (rc = agent_want_add(want, &n_want, NULL, r->network, first, err, errlen)) < 0)
		return rc;
	if ((rc = agent_parse_networks(r->networks, want, &n_want, err, errlen)) < 0)
		return rc;
	/* Annotation entries without an interface name get net1, net2, ... */
	for (int i = 0, k = 1; i < n_want; i++)
		if (!want[i].ifname[0])
			snprintf(want[i].ifname, sizeof(want[i].ifname), "net%d", k++);

	/* The pod's interfaces on this node, as tern-api has them. */
	json_t *vmis[AGENT_MAX_IFS];
	int n = 0;
	const char *k;
	json_t *vmi;
	json_object_foreach(json_object_get(a->model, "virtual-machine-interface"), k, vmi) {
		if (!vmi_is_ours(a, vmi, owner))
			continue;
		if (n >= AGENT_MAX_IFS || n >= max) {
			snprintf(err, errlen, "pod %s has more than %d interfaces", owner,
				 AGENT_MAX_IFS);
			return -CNI_E_CONFIG;
		}
		vmis[n++] = vmi;
	}
	/* Requested networks the pod has no interface on: create them. */
	json_t *items = NULL;
	for (int w = 0; w < n_want; w++) {
		json_t *vn = agent_model_ref(a, "virtual-network", want[w].ref, project);
		if (!vn) {
			json_decref(items);
			snprintf(err, errlen, "%s: network %s does not exist in tern-api",
				 want[w].ifname, want[w].ref);
			return -CNI_E_CONFIG;
		}
		const char *vn_fq = json_string_value(json_object_get(vn, "fq_name"));
		bool have = false;
		for (int i = 0; i < n && !have; i++) {
			json_t *v = agent_model_ref(a, "virtual-network",
				json_string_value(json_object_get(vmis[i], "virtual_network")),
				json_string_value(json_object_get(vmis[i], "project")));
			const char *ifn = json_string_value(json_object_get(vmis[i], "ifname"));
			have = v == vn && (!ifn || !strcmp(ifn, want[w].ifname));
		}
		if (have)
			continue;
		if (!create) {
			json_decref(items);
			snprintf(err, errlen, "%s: no interface on %s for pod %s", want[w].ifname,
				 vn_fq, owner);
			return -CNI_E_CONFIG;
		}
		bool again = false; /* the annotation names it twice: one interface */
		for (int p = 0; p < w && !again; p++)
			again = !strcmp(want[p].ifname, want[w].ifname) &&
				agent_model_ref(a, "virtual-network", want[p].ref, project) == vn;
		if (again)
			continue;
		if (!items)
			items = json_array();
		plan_vmi(a, owner, vn, want[w].ifname, items);
	}
	if (items) {
		rc = create_items(a, r, items, err, errlen);
		json_decref(items);
		return rc < 0 ? rc : agent_plan(a, r, false, out, max, err, errlen);
	}
	if (!n) {
		snprintf(err, errlen, "pod %s has no interface on node %s in tern-api, and the "
			 "network configuration names no network", owner, a->conf.node);
		return -CNI_E_CONFIG;
	}

	memset(out, 0, sizeof(*out) * (size_t)n);
	for (int i = 0; i < n; i++) {
		const char *ifn = json_string_value(json_object_get(vmis[i], "ifname"));
		snprintf(out[i].ifname, sizeof(out[i].ifname), "%s", ifn ? ifn : "");
		if ((rc = fill_if(a, vmis[i], &out[i], err, errlen)) < 0) {
			agent_if_free(out, n);
			return rc;
		}
	}
	/* Interfaces tern-api gives no name get the runtime's, then net1, ... */
	for (int i = 0; i < n; i++) {
		if (out[i].ifname[0])
			continue;
		for (int k = 0; !out[i].ifname[0]; k++) {
			char cand[16];
			if (k == 0)
				snprintf(cand, sizeof(cand), "%s", first);
			else
				snprintf(cand, sizeof(cand), "net%d", k);
			bool taken = false;
			for (int j = 0; j < n; j++)
				taken |= !strcmp(out[j].ifname, cand);
			if (!taken)
				memcpy(out[i].ifname, cand, sizeof(cand));
		}
	}
	/* Order: the runtime's interface, the annotation's order, then names. */
	qsort(out, (size_t)n, sizeof(*out), cmp_ifname);
	struct agent_if tmp;
	int pos = 0;
	for (int w = -1; w < n_want; w++) {
		const char *want_if = w < 0 ? first : want[w].ifname;
		for (int i = pos; i < n; i++) {
			if (strcmp(out[i].ifname, want_if))
				continue;
			tmp = out[pos]; out[pos] = out[i]; out[i] = tmp;
			pos++;
			break;
		}
	}
	for (int i = 0; i < n; i++) {
		for (int j = i + 1; j < n; j++) {
			if (!strcmp(out[i].ifname, out[j].ifname)) {
				snprintf(err, errlen, "two interfaces of pod %s are named %s", owner,
					 out[i].ifname);
				agent_if_free(out, n);
				return -CNI_E_CONFIG;
			}
		}
		out[i].default_route = i == 0;
		if (!strcmp(out[i].kind, "kernel"))
			agent_host_ifname(r->container_id, out[i].ifname, out[i].host_ifname);
		else
			snprintf(out[i].socket_path, sizeof(out[i].socket_path), "%s/%s/%s.sock",
				 a->conf.pod_dir, r->container_id, out[i].ifname);
	}
	return n;
}
