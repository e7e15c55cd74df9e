/*
 * DOC: agent_cni.c — the socket tern-cni talks to (protocol: docs/AGENT.md):
 * one JSON request per connection, one JSON reply. Requests are served one
 * at a time in the agent's loop; each is short (tern-api and vrouter calls
 * with timeouts), and one at a time means no two requests ever race on the
 * same pod.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_internal.h"

#define CNI_REQ_MAX (64 * 1024)
#define CNI_E_CONFIG 7
#define CNI_E_AGAIN 11
#define CNI_E_UNAVAILABLE 50
#define CNI_E_VROUTER 100

int agent_cni_listen(struct agent *a, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(a->conf.cni_socket) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path %s is too long", a->conf.cni_socket);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, a->conf.cni_socket);
	char dir[sizeof(sun.sun_path)];
	snprintf(dir, sizeof(dir), "%s", a->conf.cni_socket);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return -errno;
		}
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	/* A socket file left by an agent that died: nobody answers on it. */
	unlink(sun.sun_path);
	mode_t old = umask(0177);  /* root only: the socket hands out pod interfaces */
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", sun.sun_path, strerror(errno));
		close(fd);
		return -errno;
	}
	a->cni_fd = fd;
	return 0;
}

static json_t *fail(int code, const char *msg)
{
	return json_pack("{s:b, s:i, s:s}", "ok", 0, "code", code, "msg", msg);
}

static void req_fields(json_t *req, struct agent_req *r)
{
	memset(r, 0, sizeof(*r));
	r->op = json_string_value(json_object_get(req, "op"));
	r->container_id = json_string_value(json_object_get(req, "container_id"));
	r->cni_network = json_string_value(json_object_get(req, "cni_network"));
	r->netns = json_string_value(json_object_get(req, "netns"));
	r->ifname = json_string_value(json_object_get(req, "ifname"));
	r->pod_namespace = json_string_value(json_object_get(req, "pod_namespace"));
	r->pod_name = json_string_value(json_object_get(req, "pod_name"));
	r->project = json_string_value(json_object_get(req, "project"));
	r->network = json_string_value(json_object_get(req, "network"));
	r->networks = json_object_get(req, "networks");
}

static json_t *plan_reply(struct agent *a, const struct agent_req *r, bool create, bool check)
{
	struct agent_if ifs[AGENT_MAX_IFS];
	char err[1024];
	int n = agent_plan(a, r, create, ifs, AGENT_MAX_IFS, err, sizeof(err));
	if (n < 0)
		return fail(-n, err);
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = agent_if_json(&ifs[i]);
		if (check)
			json_object_set_new(o, "attached",
				json_boolean(agent_port_find(a, r->container_id, ifs[i].vmi) != NULL));
		json_array_append_new(list, o);
	}
	agent_if_free(ifs, n);
	return json_pack("{s:b, s:o}", "ok", 1, "interfaces", list);
}

static json_t *do_attach(struct agent *a, const struct agent_req *r, json_t *req)
{
	struct agent_if ifs[AGENT_MAX_IFS];
	char err[1024];
	int n = agent_plan(a, r, false, ifs, AGENT_MAX_IFS, err, sizeof(err));
	if (n < 0)
		return fail(-n, err);
	json_t *given = json_object_get(req, "interfaces");
	/* The plugin says which veths it made; they must be the plan's. */
	for (int i = 0; i < n; i++) {
		bool found = false;
		size_t k;
		json_t *g;
		json_array_foreach(given, k, g) {
			const char *vmi = json_string_value(json_object_get(g, "vmi"));
			const char *hn = json_string_value(json_object_get(g, "host_ifname"));
			if (!vmi || strcmp(vmi, ifs[i].vmi))
				continue;
			found = true;
			if (ifs[i].host_ifname[0] && (!hn || strcmp(hn, ifs[i].host_ifname))) {
				snprintf(err, sizeof(err), "%s: host interface %s is not the planned %s",
					 ifs[i].ifname, hn ? hn : "(none)", ifs[i].host_ifname);
				agent_if_free(ifs, n);
				return fail(CNI_E_CONFIG, err);
			}
		}
		if (!found) {
			snprintf(err, sizeof(err), "%s: not in the attach request", ifs[i].ifname);
			agent_if_free(ifs, n);
			return fail(CNI_E_CONFIG, err);
		}
	}
	int rc = agent_vr_attach(a, r, ifs, n, err, sizeof(err));
	agent_if_free(ifs, n);
	if (rc < 0)
		return fail(a->vr ? CNI_E_VROUTER : CNI_E_AGAIN, err);
	return json_pack("{s:b}", "ok", 1);
}

static json_t *do_del(struct agent *a, const char *cid, json_t *list)
{
	agent_vr_detach(a, cid, list);
	agent_created_forget(a, cid, true);
	return list;
}

static json_t *do_gc(struct agent *a, json_t *req)
{
	json_t *valid = json_object_get(req, "valid"), *list = json_array();
	const char *net = json_string_value(json_object_get(req, "cni_network"));
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		struct agent_port *p = &a->ports[i];
		if (!p->used)
			continue;
		/* Only what was attached under this network configuration. */
		if (net && *net && p->cni_network[0] && strcmp(net, p->cni_network))
			continue;
		bool keep = false;
		size_t k;
		json_t *v;
		json_array_foreach(valid, k, v) {
			const char *cid = json_string_value(json_object_get(v, "container_id"));
			keep |= cid && !strcmp(cid, p->container_id);
		}
		if (!keep) {
			char cid[128];
			snprintf(cid, sizeof(cid), "%s", p->container_id);
			TLOG_INFO(&a->log, "gc: container %.12s is not valid any more", cid);
			do_del(a, cid, list);
		}
	}
	return json_pack("{s:b, s:o}", "ok", 1, "interfaces", list);
}

static json_t *do_status(struct agent *a)
{
	char why[512];
	if (!a->vr)
		snprintf(why, sizeof(why), "not connected to the vrouter at %s", a->conf.vr_socket);
	else if (!a->api_synced)
		snprintf(why, sizeof(why), "not synchronised with tern-api at %s yet", a->conf.api_url);
	else
		why[0] = 0;
	if (why[0])
		return fail(CNI_E_UNAVAILABLE, why);
	json_t *r = json_pack("{s:b, s:s}", "ok", 1, "node", a->conf.node);
	int ports = 0;
	for (int i = 0; i < AGENT_MAX_PORTS; i++)
		ports += a->ports[i].used;
	json_object_set_new(r, "ports", json_integer(ports));
	if (a->bgp) {
		struct agent_bgp_peer_status st[AGENT_BGP_MAX_PEERS];
		int n = agent_bgp_status(a->bgp, st, AGENT_BGP_MAX_PEERS);
		json_t *c = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(c, json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}",
				"address", st[i].addr, "state", st[i].state,
				"paths_in", (json_int_t)st[i].paths_in,
				"paths_out", (json_int_t)st[i].paths_out,
				"flaps", (json_int_t)st[i].flaps, "last_error", st[i].last_error));
		json_object_set_new(r, "controllers", c);
	}
	return r;
}

/* Every attached interface, for ternctl agent ports. */
static json_t *do_ports(struct agent *a)
{
	json_t *list = json_array();
	char buf[64];
	for (int i = 0; i < AGENT_MAX_PORTS; i++) {
		const struct agent_port *p = &a->ports[i];
		if (!p->used)
			continue;
		json_t *addrs = json_array();
		for (int k = 0; k < p->i.n_addrs; k++)
			json_array_append_new(addrs, json_string(agent_ip_str(&p->i.addrs[k], buf,
									     sizeof(buf), true)));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:o}",
			"container_id", p->container_id, "ifname", p->i.ifname, "kind", p->i.kind,
			"host_ifname", p->i.host_ifname, "socket_path", p->i.socket_path,
			"network", p->i.network, "vif", (int)p->vif, "vrf", (int)p->vrf,
			"label", (int)p->label, "addresses", addrs));
	}
	return json_pack("{s:b, s:o}", "ok", 1, "ports", list);
}

static json_t *handle(struct agent *a, json_t *req)
{
	struct agent_req r;
	req_fields(req, &r);
	if (!r.op)
		return fail(CNI_E_CONFIG, "request without \"op\"");
	if (!strcmp(r.op, "status"))
		return do_status(a);
	if (!strcmp(r.op, "gc"))
		return do_gc(a, req);
	if (!strcmp(r.op, "ports"))
		return do_ports(a);
	if (!r.container_id || !*r.container_id)
		return fail(CNI_E_CONFIG, "request without \"container_id\"");
	if (!strcmp(r.op, "add"))
		return plan_reply(a, &r, true, false);
	if (!strcmp(r.op, "check"))
		return plan_reply(a, &r, false, true);
	if (!strcmp(r.op, "attach"))
		return do_attach(a, &r, req);
	if (!strcmp(r.op, "del")) {
		json_t *list = do_del(a, r.container_id, json_array());
		return json_pack("{s:b, s:o}", "ok", 1, "interfaces", list);
	}
	char msg[128];
	snprintf(msg, sizeof(msg), "unknown op \"%.32s\"", r.op);
	return fail(CNI_E_CONFIG, msg);
}

/* After an add's reply: program the VRFs of the pod's networks now, while
 * the plugin makes the veths, so that its attach finds them made. When the
 * ADD fails after all, such a VRF stays (one per network at most, reused by
 * the next pod on it, released with the last port that leaves it). */
static void prepare_vrfs(struct agent *a, json_t *reply)
{
	size_t i;
	json_t *f;
	if (!a->vr || !json_is_true(json_object_get(reply, "ok")))
		return;
	json_array_foreach(json_object_get(reply, "interfaces"), i, f) {
		const char *net = json_string_value(json_object_get(f, "network"));
		char err[512];
		if (net && !agent_vrf_ensure(a, net, err, sizeof(err)))
			TLOG_DEBUG(&a->log, "vrf of %s, before the attach: %s", net, err);
	}
}

void agent_cni_accept(struct agent *a)
{
	int fd;
	while ((fd = accept4(a->cni_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		struct timeval tv = { .tv_sec = 2 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		char *buf = malloc(CNI_REQ_MAX + 1);
		size_t len = 0;
		ssize_t n = 0;
		while (buf && len < CNI_REQ_MAX && (n = read(fd, buf + len, CNI_REQ_MAX - len)) > 0)
			len += (size_t)n;
		json_t *reply;
		bool was_add = false;
		if (!buf) {
			reply = fail(CNI_E_AGAIN, "agent out of memory");
		} else if (n < 0) {
			reply = fail(CNI_E_CONFIG, "request not received whole within 2 s");
		} else if (len >= CNI_REQ_MAX) {
			reply = fail(CNI_E_CONFIG, "request larger than 64 KiB");
		} else {
			json_error_t je;
			buf[len] = 0;
			json_t *req = json_loadb(buf, len, 0, &je);
			if (!req || !json_is_object(req)) {
				char msg[256];
				snprintf(msg, sizeof(msg), "request is not a JSON object: %s",
					 req ? "wrong type" : je.text);
				reply = fail(CNI_E_CONFIG, msg);
			} else {
				a->cni_requests++;
				reply = handle(a, req);
				was_add = !strcmp(json_string_value(json_object_get(req, "op")) ?: "",
						  "add");
				const char *op = json_string_value(json_object_get(req, "op"));
				const char *cid = json_string_value(json_object_get(req, "container_id"));
				if (json_is_true(json_object_get(reply, "ok")))
					TLOG_DEBUG(&a->log, "cni %s %.12s: ok", op ? op : "?", cid ? cid : "");
				else
					TLOG_WARN(&a->log, "cni %s %.12s: %s", op ? op : "?", cid ? cid : "",
						  json_string_value(json_object_get(reply, "msg")));
			}
			json_decref(req);
		}
		free(buf);
		char *out = json_dumps(reply, JSON_COMPACT);
		if (out) {
			size_t off = 0, total = strlen(out);
			while (off < total) {
				ssize_t w = write(fd, out + off, total - off);
				if (w <= 0)
					break;
				off += (size_t)w;
			}
			free(out);
		}
		close(fd);
		if (was_add)
			prepare_vrfs(a, reply);
		json_decref(reply);
		/* An add is followed within milliseconds by the same pod's attach:
		 * its fsync'd save would delay that attach, so the loop saves a
		 * little later (after the attach, which saves both). */
		if (a->state_dirty && was_add) {
			a->state_defer = true;
		} else if (a->state_dirty) {
			char err[512];
			if (agent_state_save(a, err, sizeof(err)) < 0)
				TLOG_ERR(&a->log, "saving state: %s", err);
			a->state_defer = false;
		}
	}
}
