/*
 * DOC: bgp_ctl.c — tern-control's control socket: a UNIX stream socket; the
 * client writes one request line, the daemon answers one JSON document and
 * closes. Requests:
 *   neighbors          every peer: state, counters, families, last error
 *   rib FAMILY         the Loc-RIB of FAMILY (ipv4, ipv6, vpnv4, vpnv6, evpn, rtc):
 *                      every destination with every path, the best one marked
 *   rib FAMILY NAME    the Loc-RIB of routing instance NAME (ipv4, ipv6)
 *   instances          every routing instance: VNI, import and export targets,
 *                      routes held
 * An error is {"error": "..."}. This file is the only one that formats RIB
 * and peer data (ternctl prints it as columns).
 */
#include "bgp_daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int bgp_ctl_open(struct bgp_daemon *d, char *err, size_t errlen)
{
	const char *path = d->conf.ctl_sock;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* Create the directory (one level, as /run/tern/control) when missing. */
	char dir[sizeof(sa.sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		char parent[sizeof(dir)];
		snprintf(parent, sizeof(parent), "%s", dir);
		char *ps = strrchr(parent, '/');
		if (ps && ps != parent) {
			*ps = 0;
			mkdir(parent, 0755);
		}
		mkdir(dir, 0755);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -errno;
	}
	unlink(path); /* a socket left by an earlier run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		int e = errno;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	d->ctl_fd = fd;
	TLOG_INFO(&d->log, "control socket %s", path);
	return 0;
}

static void client_close(struct bgp_ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->reply);
	c->reply = NULL;
	c->rlen = c->reply_len = c->reply_off = 0;
}

void bgp_ctl_close(struct bgp_daemon *d)
{
	for (int i = 0; i < BGP_CTL_CLIENTS; i++)
		client_close(&d->ctl[i]);
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		unlink(d->conf.ctl_sock);
	}
	d->ctl_fd = -1;
}

void bgp_ctl_accept(struct bgp_daemon *d)
{
	int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < BGP_CTL_CLIENTS; i++) {
		if (d->ctl[i].fd < 0) {
			d->ctl[i].fd = fd;
			d->ctl[i].rlen = 0;
			return;
		}
	}
	TLOG_WARN(&d->log, "control socket: more than %d clients at once, one refused",
		  BGP_CTL_CLIENTS);
	close(fd);
}

/* ---- JSON ---- */

static json_t *addr_json(const uint8_t *a, unsigned len)
{
	char s[INET6_ADDRSTRLEN] = "";
	inet_ntop(len == 4 ? AF_INET : AF_INET6, a, s, sizeof(s));
	return json_string(s);
}

static json_t *id_json(uint32_t id)
{
	struct in_addr a = { htonl(id) };
	char s[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a, s, sizeof(s));
	return json_string(s);
}

static json_t *families_json(uint32_t afs)
{
	json_t *a = json_array();
	for (int af = 0; af < BGP_AF_COUNT; af++)
		if (afs & BGP_AF_BIT(af))
			json_array_append_new(a, json_string(bgp_af_table[af].name));
	return a;
}

static json_t *neighbors_json(struct bgp_daemon *d)
{
	json_t *arr = json_array();
	int64_t now = bgp_now_ms();
	for (int i = 0; i < d->n_peers; i++) {
		struct bgp_peer *p = d->peers[i];
		const struct bgp_conf_neighbor *nb = p->cfg;
		const struct bgp_rib_peer *rp = &d->rib.peers[i];
		if (nb->off)
			continue; /* removed from the configuration: a free slot */
		uint16_t port = nb->addr.ss_family == AF_INET ?
			ntohs(((const struct sockaddr_in *)&nb->addr)->sin_port) :
			ntohs(((const struct sockaddr_in6 *)&nb->addr)->sin6_port);
		json_t *prefixes = json_object();
		for (int af = 0; af < BGP_AF_COUNT; af++)
			if (p->afs & BGP_AF_BIT(af))
				json_object_set_new(prefixes, bgp_af_table[af].name,
						    json_integer(rp->count[af]));
		json_t *o = json_pack("{s:s, s:i, s:I, s:s, s:b, s:b, s:o, s:o, s:o, s:I, s:I, s:I, "
				      "s:I, s:I, s:I, s:s}",
			"address", nb->name, "port", port, "as", (json_int_t)nb->as,
			"state", bgp_state_name(bgp_peer_state(p)), "passive", nb->passive,
			"rr_client", nb->rr_client, "families", families_json(nb->afs),
			"negotiated", families_json(p->afs), "prefixes", prefixes,
			"uptime", (json_int_t)(p->est >= 0 ? (now - p->up_since) / 1000 : 0),
			"messages_in", (json_int_t)p->msgs_in, "messages_out", (json_int_t)p->msgs_out,
			"updates_in", (json_int_t)p->updates_in,
			"updates_out", (json_int_t)p->updates_out, "flaps", (json_int_t)p->flaps,
			"last_error", p->last_error);
		if (o && p->est >= 0)
			json_object_set_new(o, "router_id", id_json(rp->router_id));
		if (o && p->est >= 0 && (p->ap_tx | p->ap_rx)) /* ADD-PATH negotiated */
			json_object_set_new(o, "add_path", json_pack("{s:o, s:o}", "send",
				families_json(p->ap_tx), "receive", families_json(p->ap_rx)));
		if (o && nb->router[0])
			json_object_set_new(o, "router", json_string(nb->router));
		if (o)
			json_object_set_new(o, "source", json_string(
				nb->origin == BGP_NB_API ? "tern-api" :
				nb->origin == BGP_NB_RANGE ? "range" : "file"));
		if (o)
			json_array_append_new(arr, o);
	}
	/* graceful restart as the restarting speaker: restart_time 0 is off;
	 * restarting while the R bit goes out (routes deferred) */
	return json_pack("{s:o, s:o, s:I, s:{s:i, s:b, s:b}}", "router_id",
			 id_json(d->conf.router_id), "neighbors", arr, "as", (json_int_t)d->conf.as,
			 "graceful_restart", "restart_time", d->conf.gr_restart_time,
			 "restarting", d->restarting && !d->converged, "converged", d->converged);
}

static json_t *aspath_json(struct bgp_bytes p)
{
	json_t *a = json_array();
	struct tern_rbuf r;
	tern_rbuf_init(&r, p.p, p.len);
	while (tern_rbuf_left(&r) >= 2) {
		uint8_t type = tern_get_u8(&r), cnt = tern_get_u8(&r);
		json_t *seg = json_array();
		for (unsigned i = 0; i < cnt; i++)
			json_array_append_new(seg, json_integer(tern_get_u32(&r)));
		if (type == BGP_AS_SEQUENCE) {
			json_array_extend(a, seg);
			json_decref(seg);
		} else {
			json_array_append_new(a, seg); /* a set (or confederation part) nests */
		}
	}
	return a;
}

static json_t *u32_list_json(struct bgp_bytes b, bool as_ids)
{
	json_t *a = json_array();
	for (size_t i = 0; i + 4 <= b.len; i += 4) {
		uint32_t v = (uint32_t)b.p[i] << 24 | (uint32_t)b.p[i + 1] << 16 |
			     (uint32_t)b.p[i + 2] << 8 | b.p[i + 3];
		if (as_ids) {
			json_array_append_new(a, id_json(v));
		} else {
			char s[16];
			snprintf(s, sizeof(s), "%u:%u", v >> 16, v & 0xffff);
			json_array_append_new(a, json_string(s));
		}
	}
	return a;
}

static const char *peer_label(struct bgp_daemon *d, uint16_t peer)
{
	return peer == BGP_RIB_LOCAL ? "local" : d->peers[peer]->cfg->name;
}

static json_t *path_json(struct bgp_daemon *d, uint16_t peer, uint32_t label,
			 const struct bgp_rattrs *ra, bool best, bool stale)
{
	static const char *const origins[] = { "igp", "egp", "incomplete" };
	const struct bgp_attrs *a = &ra->a;
	json_t *o = json_object();
	json_object_set_new(o, "peer", json_string(peer_label(d, peer)));
	json_object_set_new(o, "best", json_boolean(best));
	if (stale)
		json_object_set_new(o, "stale", json_true());
	if (label != BGP_LABEL_NONE)
		json_object_set_new(o, "label", json_integer(label));
	if (a->nh_len == 4 || a->nh_len == 16 || a->nh_len == 32)
		json_object_set_new(o, "next_hop", addr_json(a->nh, a->nh_len == 4 ? 4 : 16));
	if (a->has & BGP_HAS(BGP_ATTR_ORIGIN))
		json_object_set_new(o, "origin", json_string(origins[a->origin % 3]));
	json_object_set_new(o, "as_path", aspath_json(a->as_path));
	if (a->has & BGP_HAS(BGP_ATTR_LOCAL_PREF))
		json_object_set_new(o, "local_pref", json_integer(a->local_pref));
	if (a->has & BGP_HAS(BGP_ATTR_MED))
		json_object_set_new(o, "med", json_integer(a->med));
	if (a->has & BGP_HAS(BGP_ATTR_COMMUNITIES))
		json_object_set_new(o, "communities", u32_list_json(a->communities, false));
	if (a->has & BGP_HAS(BGP_ATTR_EXT_COMMUNITIES)) {
		json_t *e = json_array();
		for (size_t i = 0; i + 8 <= a->ext_communities.len; i += 8) {
			char s[48];
			bgp_ext_format(a->ext_communities.p + i, s, sizeof(s));
			json_array_append_new(e, json_string(s));
		}
		json_object_set_new(o, "ext_communities", e);
	}
	if (a->has & BGP_HAS(BGP_ATTR_ORIGINATOR_ID))
		json_object_set_new(o, "originator_id", id_json(a->originator_id));
	if (a->has & BGP_HAS(BGP_ATTR_CLUSTER_LIST))
		json_object_set_new(o, "cluster_list", u32_list_json(a->cluster_list, true));
	if (a->unknown.len)
		json_object_set_new(o, "unknown_attrs_bytes", json_integer(a->unknown.len));
	return o;
}

static json_t *hex_json(const uint8_t *b, size_t n, char sep)
{
	char s[64];
	size_t off = 0;
	s[0] = 0;
	for (size_t i = 0; i < n && off + 4 < sizeof(s); i++) {
		if (i && sep)
			s[off++] = sep;
		off += (size_t)snprintf(s + off, sizeof(s) - off, "%02x", b[i]);
	}
	return json_string(s);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* An EVPN route's key fields, spelt out (RFC 7432 §7.2, §7.3; RFC 9136 §3.1),
 * and per path the label field read both ways: MPLS label and VNI. */
static json_t *evpn_dest_json(struct bgp_daemon *d, const struct bgp_dest *dst)
{
	const struct bgp_prefix *p = &dst->p;
	json_t *o = json_object();
	char rd[48], ip[INET6_ADDRSTRLEN], key[160];
	bgp_rd_format(p->rd, rd, sizeof(rd));
	bgp_evpn_format(p, key, sizeof(key));
	json_object_set_new(o, "key", json_string(key));
	json_object_set_new(o, "route_type", json_integer(p->evpn_type));
	json_object_set_new(o, "rd", json_string(rd));
	json_object_set_new(o, "eth_tag", json_integer(be32(p->eth_tag)));
	bool v6 = p->evpn_type == 5 ? p->evpn_v6 : p->plen == 128;
	if (p->evpn_type != 2 || p->plen) {
		inet_ntop(v6 ? AF_INET6 : AF_INET, p->addr, ip, sizeof(ip));
		if (p->evpn_type == 5) {
			char pfx[INET6_ADDRSTRLEN + 8];
			snprintf(pfx, sizeof(pfx), "%s/%u", ip, p->plen);
			json_object_set_new(o, "prefix", json_string(pfx));
		} else {
			json_object_set_new(o, "ip", json_string(ip));
		}
	}
	if (p->evpn_type == 2)
		json_object_set_new(o, "mac", hex_json(p->mac, 6, ':'));
	if (p->evpn_type == 2 || p->evpn_type == 5)
		json_object_set_new(o, "esi", hex_json(p->esi, 10, ':'));
	if (p->evpn_type == 5) {
		inet_ntop(v6 ? AF_INET6 : AF_INET, p->gw, ip, sizeof(ip));
		json_object_set_new(o, "gateway", json_string(ip));
	}
	json_t *paths = json_array();
	for (const struct bgp_path *pa = dst->paths; pa; pa = pa->next) {
		json_t *j = path_json(d, pa->peer, BGP_LABEL_NONE, pa->attrs, dst->best == pa,
					  pa->stale);
		if (pa->label != BGP_LABEL_NONE) {
			json_object_set_new(j, "label", json_integer(pa->label >> 4));
			json_object_set_new(j, "vni", json_integer(pa->label));
		}
		if (p->n_labels == 2)
			json_object_set_new(j, "label2_field", hex_json(p->label2, 3, 0));
		json_array_append_new(paths, j);
	}
	json_object_set_new(o, "paths", paths);
	return o;
}

static int dest_json(struct bgp_dest *dst, void *arg)
{
	void **v = arg;
	struct bgp_daemon *d = v[0];
	json_t *arr = v[1];
	if (!dst->paths)
		return 0;
	if (dst->p.af == BGP_AF_EVPN) {
		json_array_append_new(arr, evpn_dest_json(d, dst));
		return 0;
	}
	const struct bgp_af_info *f = &bgp_af_table[dst->p.af];
	char pfx[80], ip[INET6_ADDRSTRLEN];
	if (dst->p.af == BGP_AF_RTC) {
		bgp_rtc_format(&dst->p, pfx, sizeof(pfx));
	} else {
		inet_ntop(f->addr_len == 4 ? AF_INET : AF_INET6, dst->p.addr, ip, sizeof(ip));
		snprintf(pfx, sizeof(pfx), "%s/%u", ip, dst->p.plen);
	}
	json_t *o = json_object();
	json_object_set_new(o, "prefix", json_string(pfx));
	if (f->rd) {
		char rd[48];
		bgp_rd_format(dst->p.rd, rd, sizeof(rd));
		json_object_set_new(o, "rd", json_string(rd));
	}
	json_t *paths = json_array();
	for (const struct bgp_path *p = dst->paths; p; p = p->next) {
		json_t *j = path_json(d, p->peer, p->label, p->attrs, dst->best == p, p->stale);
		if (j && p->path_id) /* ADD-PATH: the sender's path identifier */
			json_object_set_new(j, "path_id", json_integer(p->path_id));
		json_array_append_new(paths, j);
	}
	json_object_set_new(o, "paths", paths);
	json_array_append_new(arr, o);
	return 0;
}

static json_t *rib_json(struct bgp_daemon *d, int af)
{
	json_t *arr = json_array();
	void *arg[2] = { d, arr };
	bgp_rib_walk(&d->rib, af, dest_json, arg);
	return json_pack("{s:s, s:o}", "family", bgp_af_table[af].name, "routes", arr);
}

static int vrf_dest_json(const struct bgp_vrf_dest *dst, void *arg)
{
	void **v = arg;
	struct bgp_daemon *d = v[0];
	json_t *arr = v[1];
	char pfx[INET6_ADDRSTRLEN + 8], ip[INET6_ADDRSTRLEN];
	inet_ntop(dst->p.af == BGP_AF_IPV4 ? AF_INET : AF_INET6, dst->p.addr, ip, sizeof(ip));
	snprintf(pfx, sizeof(pfx), "%s/%u", ip, dst->p.plen);
	json_t *paths = json_array();
	for (const struct bgp_vrf_path *p = dst->paths; p; p = p->next) {
		json_t *o = path_json(d, p->peer, p->label, p->attrs, dst->best == p, false);
		char rd[48];
		bgp_rd_format(p->rd, rd, sizeof(rd));
		json_object_set_new(o, "rd", json_string(rd)); /* where it was imported from */
		json_array_append_new(paths, o);
	}
	json_array_append_new(arr, json_pack("{s:s, s:o}", "prefix", pfx, "paths", paths));
	return 0;
}

/* An instance's Loc-RIB: family ipv4 or ipv6 (vpnv4/vpnv6 mean the same). */
static json_t *vrf_rib_json(struct bgp_daemon *d, int af, const char *name)
{
	if (af == BGP_AF_VPNV4)
		af = BGP_AF_IPV4;
	else if (af == BGP_AF_VPNV6)
		af = BGP_AF_IPV6;
	else if (af == BGP_AF_EVPN)
		return json_pack("{s:s}", "error", "routing instances hold ipv4 and ipv6 routes");
	for (int i = 0; i < d->n_vrf; i++) {
		if (strcmp(d->vrf[i]->cf->name, name) != 0)
			continue;
		json_t *arr = json_array();
		void *arg[2] = { d, arr };
		bgp_vrf_walk(d->vrf[i], af, vrf_dest_json, arg);
		return json_pack("{s:s, s:s, s:o}", "family", bgp_af_table[af].name, "instance",
				 name, "routes", arr);
	}
	char msg[200];
	snprintf(msg, sizeof(msg), "no routing instance '%.127s' in the configuration", name);
	return json_pack("{s:s}", "error", msg);
}

static json_t *rts_json(const uint8_t (*rt)[8], int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		char s[48];
		bgp_ext_format(rt[i], s, sizeof(s));
		json_array_append_new(a, json_string(s));
	}
	return a;
}

static json_t *instances_json(struct bgp_daemon *d)
{
	json_t *arr = json_array();
	for (int i = 0; i < d->n_vrf; i++) {
		const struct bgp_vrf_conf *cf = d->vrf[i]->cf;
		json_t *o = json_pack("{s:s, s:I, s:o, s:o, s:I}", "name", cf->name,
				      "vni", (json_int_t)cf->vni,
				      "import_targets", rts_json(cf->import, cf->n_import),
				      "export_targets", rts_json(cf->export, cf->n_export),
				      "routes", (json_int_t)d->vrf[i]->count);
		if (o)
			json_array_append_new(arr, o);
	}
	return json_pack("{s:o}", "instances", arr);
}

static json_t *handle(struct bgp_daemon *d, char *req)
{
	char *save = NULL;
	char *cmd = strtok_r(req, " \t\r\n", &save);
	char *arg = strtok_r(NULL, " \t\r\n", &save);
	char *inst = strtok_r(NULL, " \t\r\n", &save);
	if (cmd && strcmp(cmd, "neighbors") == 0)
		return neighbors_json(d);
	if (cmd && strcmp(cmd, "instances") == 0)
		return instances_json(d);
	if (cmd && strcmp(cmd, "rib") == 0) {
		int af = bgp_af_by_name(arg ? arg : "ipv4");
		if (af < 0)
			return json_pack("{s:s}", "error",
					 "unknown family (ipv4, ipv6, vpnv4, vpnv6, evpn, rtc)");
		return inst ? vrf_rib_json(d, af, inst) : rib_json(d, af);
	}
	return json_pack("{s:s}", "error",
			 "unknown request (neighbors, instances, rib FAMILY [INSTANCE])");
}

void bgp_ctl_io(struct bgp_daemon *d, struct bgp_ctl_client *c, short revents)
{
	if (!c->reply) {
		ssize_t n = read(c->fd, c->req + c->rlen, sizeof(c->req) - 1 - c->rlen);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				client_close(c);
			return;
		}
		c->rlen += (size_t)n;
		c->req[c->rlen] = 0;
		if (!strchr(c->req, '\n') && c->rlen < sizeof(c->req) - 1)
			return;
		json_t *j = handle(d, c->req);
		c->reply = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!c->reply) {
			TLOG_ERR(&d->log, "control socket: out of memory for a reply");
			client_close(c);
			return;
		}
		c->reply_len = strlen(c->reply);
		c->reply_off = 0;
		revents |= POLLOUT;
	}
	if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
		return;
	while (c->reply_off < c->reply_len) {
		ssize_t n = write(c->fd, c->reply + c->reply_off, c->reply_len - c->reply_off);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->reply_off += (size_t)n;
	}
	client_close(c);
}
