/*
 * DOC: agent_state.c — the agent's own memory across restarts: every port
 * attached (container, interface, the ids it holds in the vrouter, its L2
 * nexthop and label), the VRF of each network (and an L2 network's mode,
 * flood nexthop and flood label), the floating IPs (nexthop, label), and
 * the tern-api objects the agent created for pods. A
 * restarted agent programs exactly the same ids again (hitless: ADD replaces
 * in place) instead of flushing the vrouter.
 *
 * One JSON file, written to a temporary file, fsync'd and renamed over the
 * old one, so a crash leaves either the old or the new state, never half.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_internal.h"

#define STATE_VERSION 1

static void path_of(const struct agent *a, char *out, size_t len, const char *suffix)
{
	snprintf(out, len, "%s/state.json%s", a->conf.state_dir, suffix);
}

static json_t *ip_list(const struct agent_if *i)
{
	json_t *l = json_array();
	char buf[64];
	for (int k = 0; k < i->n_addrs; k++)
		json_array_append_new(l, json_string(agent_ip_str(&i->addrs[k], buf, sizeof(buf), true)));
	return l;
}

int agent_state_save(struct agent *a, char *err, size_t errlen)
{
	json_t *root = json_pack("{s:i, s:s}", "version", STATE_VERSION, "node", a->conf.node);
	json_t *ports = json_array(), *vrfs = json_object(), *created = json_array();
	char mac[32];
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		const struct agent_port *p = &a->ports[i];
		if (!p->used)
			continue;
		tern_mac_format(p->i.mac, mac, sizeof(mac));
		json_t *e = json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:i, s:i, s:i, s:i}",
			"container_id", p->container_id, "cni_network", p->cni_network,
			"vmi", p->i.vmi, "ifname", p->i.ifname,
			"kind", p->i.kind, "host_ifname", p->i.host_ifname, "network", p->i.network,
			"socket_path", p->i.socket_path, "mac", mac, "mtu", p->i.mtu,
			"addresses", ip_list(&p->i), "vrf", p->vrf, "vif", p->vif, "nh", p->nh,
			"label", p->label);
		agent_l2_state_port(a, p, e);
		json_array_append_new(ports, e);
	}
	for (int i = 1; i <= AGENT_MAX_VRFS; i++)
		if (a->vrfs[i].used)
			json_object_set_new(vrfs, a->vrfs[i].network, json_integer(a->vrfs[i].id));
	for (int i = 0; i < AGENT_MAX_CREATED; i++) {
		const struct agent_created *c = &a->created[i];
		if (!c->used)
			continue;
		json_t *objs = json_array();
		for (int k = 0; k < c->n; k++)
			json_array_append_new(objs, json_pack("{s:s, s:s}", "kind", c->kind[k],
							      "uuid", c->uuid[k]));
		json_array_append_new(created, json_pack("{s:s, s:o}", "container_id",
							 c->container_id, "objects", objs));
	}
	json_object_set_new(root, "ports", ports);
	json_object_set_new(root, "vrfs", vrfs);
	json_object_set_new(root, "created", created);
	json_object_set_new(root, "floating_ips", agent_fip_state_save(a));
	agent_l2_state_save(a, root);

	char tmp[300], final[300];
	path_of(a, tmp, sizeof(tmp), ".tmp");
	path_of(a, final, sizeof(final), "");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = 0;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
	} else {
		if (json_dumpfd(root, fd, JSON_INDENT(1) | JSON_SORT_KEYS) < 0 || fsync(fd) < 0) {
			rc = -EIO;
			snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		}
		close(fd);
		if (!rc && rename(tmp, final) < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
		}
	}
	json_decref(root);
	if (!rc)
		a->state_dirty = false;
	return rc;
}

static void copy_str(char *dst, size_t len, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(dst, len, "%s", s ? s : "");
}

int agent_state_load(struct agent *a, char *err, size_t errlen)
{
	char path[300];
	path_of(a, path, sizeof(path), "");
	if (mkdir(a->conf.state_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", a->conf.state_dir, strerror(errno));
		return -errno;
	}
	if (access(path, F_OK) < 0)
		return 0;  /* first start on this node */
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (!root) {
		snprintf(err, errlen, "%s:%d: %s (move the file away to start from scratch)", path,
			 je.line, je.text);
		return -EINVAL;
	}
	json_int_t ver = json_integer_value(json_object_get(root, "version"));
	if (ver != STATE_VERSION) {
		snprintf(err, errlen, "%s: state version %lld, this agent reads %d", path,
			 (long long)ver, STATE_VERSION);
		json_decref(root);
		return -EINVAL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(root, "vrfs"), k, v) {
		json_int_t id = json_integer_value(v);
		if (id < 1 || id > AGENT_MAX_VRFS)
			continue;
		struct agent_vrf *vrf = &a->vrfs[id];
		vrf->used = true;
		vrf->id = (uint16_t)id;
		snprintf(vrf->network, sizeof(vrf->network), "%s", k);
	}
	size_t i;
	int n = 0;
	json_array_foreach(json_object_get(root, "ports"), i, v) {
		if (n >= AGENT_MAX_PORTS)
			break;
		struct agent_port *p = &a->ports[n];
		memset(p, 0, sizeof(*p));
		copy_str(p->container_id, sizeof(p->container_id), v, "container_id");
		copy_str(p->cni_network, sizeof(p->cni_network), v, "cni_network");
		copy_str(p->i.vmi, sizeof(p->i.vmi), v, "vmi");
		copy_str(p->i.ifname, sizeof(p->i.ifname), v, "ifname");
		copy_str(p->i.kind, sizeof(p->i.kind), v, "kind");
		copy_str(p->i.host_ifname, sizeof(p->i.host_ifname), v, "host_ifname");
		copy_str(p->i.network, sizeof(p->i.network), v, "network");
		copy_str(p->i.socket_path, sizeof(p->i.socket_path), v, "socket_path");
		tern_mac_parse(json_string_value(json_object_get(v, "mac")), p->i.mac);
		p->i.mtu = (uint16_t)json_integer_value(json_object_get(v, "mtu"));
		size_t j;
		json_t *ip;
		json_array_foreach(json_object_get(v, "addresses"), j, ip)
			if (p->i.n_addrs < AGENT_MAX_ADDRS &&
			    agent_ip_parse(json_string_value(ip), &p->i.addrs[p->i.n_addrs]) == 0)
				p->i.n_addrs++;
		p->vrf = (uint16_t)json_integer_value(json_object_get(v, "vrf"));
		p->vif = (uint32_t)json_integer_value(json_object_get(v, "vif"));
		p->nh = (uint32_t)json_integer_value(json_object_get(v, "nh"));
		p->label = (uint32_t)json_integer_value(json_object_get(v, "label"));
		if (!p->container_id[0] || !p->vif || p->vif >= VR_MAX_VIFS || !p->nh ||
		    p->nh >= AGENT_NH_IDS || p->label >= AGENT_LABELS)
			continue;  /* not ours to trust: skipped, its objects stay unknown */
		p->used = true;
		a->vif_used[p->vif] = 1;
		a->nh_used[p->nh] = 1;
		a->label_used[p->label >> 3] |= (uint8_t)(1u << (p->label & 7));
		agent_l2_state_load_port(a, p, v);
		n++;
	}
	/* Before the vrouter is asked anything: these ids are claimed, the
	 * take-over's adopt and sweep leave them alone. */
	agent_l2_state_load(a, root);
	agent_fip_state_load(a, json_object_get(root, "floating_ips"));
	int nc = 0;
	json_array_foreach(json_object_get(root, "created"), i, v) {
		if (nc >= AGENT_MAX_CREATED)
			break;
		struct agent_created *c = &a->created[nc++];
		memset(c, 0, sizeof(*c));
		c->used = true;
		copy_str(c->container_id, sizeof(c->container_id), v, "container_id");
		size_t j;
		json_t *o;
		json_array_foreach(json_object_get(v, "objects"), j, o) {
			if (c->n >= 2 * AGENT_MAX_IFS)
				break;
			copy_str(c->kind[c->n], sizeof(c->kind[0]), o, "kind");
			copy_str(c->uuid[c->n], sizeof(c->uuid[0]), o, "uuid");
			c->n++;
		}
	}
	json_decref(root);
	TLOG_INFO(&a->log, "state %s: %d port(s), %d pod(s) with interfaces made by the agent",
		  path, n, nc);
	return 0;
}
