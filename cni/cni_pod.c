/* DOC: cni_pod.c — see cni_pod.h. */
#include "cni_pod.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int cni_pod_names_free(struct cni_nl *host, struct cni_nl *pod, const struct cni_iface *f,
		       char *err, size_t errlen)
{
	/* The node end first: the agent names it per attachment, so if it exists
	 * an earlier ADD of this very pod is in place. */
	struct cni_link l;
	int r = cni_nl_link_get(host, f->host_ifname, &l, err, errlen);
	if (r == 0) {
		snprintf(err, errlen, "node interface %s already exists (an earlier ADD of this "
			 "pod is still in place: DEL it first)", f->host_ifname);
		return -EBUSY;
	}
	if (r != -ENODEV)
		return r;
	r = cni_nl_link_get(pod, f->ifname, &l, err, errlen);
	if (r == 0) {
		snprintf(err, errlen, "interface name already exists in the pod's namespace");
		return -EEXIST;
	}
	return r == -ENODEV ? 0 : r;
}

/* A name for the pod end while it is on the node: random, so that two
 * plugins running at once do not collide. */
static void temp_name(char name[IFNAMSIZ])
{
	unsigned v;
	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (unsigned)getpid() ^ (unsigned)time(NULL);
	snprintf(name, IFNAMSIZ, "tnt%08x", v);
}

static int pod_end(struct cni_nl *pod, struct cni_iface *f, const char *tmp, char *err,
		   size_t errlen)
{
	struct cni_link l;
	int r = cni_nl_link_get(pod, tmp, &l, err, errlen);
	if (r == -ENODEV)
		snprintf(err, errlen, "the moved veth end %s is not in the pod's namespace", tmp);
	if (r < 0)
		return r;
	r = cni_nl_link_set(pod, l.index, f->ifname, f->mac, f->mtu, err, errlen);
	if (r == -EEXIST)
		snprintf(err, errlen, "interface name already exists in the pod's namespace");
	if (r < 0)
		return r;
	/* The vrouter reads these frames with af_packet: they must be whole
	 * packets with real checksums, not offload stubs. */
	if ((r = cni_nl_offload_off(pod, f->ifname, err, errlen)) < 0)
		return r;
	for (unsigned i = 0; i < f->n_addrs; i++)
		if ((r = cni_nl_addr_add(pod, l.index, &f->addrs[i], err, errlen)) < 0)
			return r;
	/* Up before routes: a gateway is reachable only through a link that is up. */
	if ((r = cni_nl_link_up(pod, l.index, err, errlen)) < 0)
		return r;
	for (unsigned i = 0; i < f->n_routes; i++)
		if ((r = cni_nl_route_add(pod, l.index, &f->routes[i], err, errlen)) < 0)
			return r;
	return 0;
}

int cni_pod_add(struct cni_nl *host, struct cni_nl *pod, int pod_ns_fd, struct cni_iface *f,
		char *err, size_t errlen)
{
	char tmp[IFNAMSIZ];
	temp_name(tmp);
	int r = cni_nl_veth_add(host, f->host_ifname, tmp, pod_ns_fd, f->mtu, err, errlen);
	if (r < 0)
		return r;
	struct cni_link l;
	if ((r = pod_end(pod, f, tmp, err, errlen)) < 0 ||
	    (r = cni_ipv6_disable(f->host_ifname, err, errlen)) < 0 ||
	    (r = cni_nl_link_get(host, f->host_ifname, &l, err, errlen)) < 0 ||
	    (r = cni_nl_link_up(host, l.index, err, errlen)) < 0) {
		char ignore[128];
		cni_nl_link_del(host, f->host_ifname, ignore, sizeof(ignore));
		return r;
	}
	f->has_host_mac = l.has_mac;
	memcpy(f->host_mac, l.mac, 6);
	return 0;
}

int cni_pod_check(struct cni_nl *pod, const struct cni_iface *f, char *err, size_t errlen)
{
	struct cni_link l;
	int r = cni_nl_link_get(pod, f->ifname, &l, err, errlen);
	if (r == -ENODEV) {
		snprintf(err, errlen, "not in the pod's namespace");
		return -ENOENT;
	}
	if (r < 0)
		return r;
	char want[18], have[18];
	tern_mac_format(f->mac, want, 18);
	tern_mac_format(l.mac, have, 18);
	if (!l.has_mac || memcmp(l.mac, f->mac, 6) != 0) {
		snprintf(err, errlen, "MAC is %s, the plan says %s", have, want);
		return -EIO;
	}
	if (l.mtu != f->mtu) {
		snprintf(err, errlen, "MTU is %u, the plan says %u", l.mtu, f->mtu);
		return -EIO;
	}
	if (!(l.flags & IFF_UP)) {
		snprintf(err, errlen, "the link is down");
		return -EIO;
	}
	struct cni_prefix have_a[64];
	int n = cni_nl_addr_list(pod, l.index, have_a, 64, err, errlen);
	if (n < 0)
		return n;
	for (unsigned i = 0; i < f->n_addrs; i++) {
		int k;
		for (k = 0; k < n; k++)
			if (have_a[k].family == f->addrs[i].family &&
			    have_a[k].plen == f->addrs[i].plen &&
			    memcmp(have_a[k].addr, f->addrs[i].addr, 16) == 0)
				break;
		if (k == n) {
			char a[64];
			cni_prefix_format(&f->addrs[i], a, sizeof(a));
			snprintf(err, errlen, "address %s is missing", a);
			return -EIO;
		}
	}
	struct cni_route have_r[64];
	n = cni_nl_route_list(pod, l.index, have_r, 64, err, errlen);
	if (n < 0)
		return n;
	for (unsigned i = 0; i < f->n_routes; i++) {
		const struct cni_route *w = &f->routes[i];
		int k;
		for (k = 0; k < n; k++)
			if (have_r[k].dst.family == w->dst.family && have_r[k].dst.plen == w->dst.plen &&
			    memcmp(have_r[k].dst.addr, w->dst.addr, 16) == 0 &&
			    have_r[k].has_gw == w->has_gw &&
			    (!w->has_gw || memcmp(have_r[k].gw.addr, w->gw.addr, 16) == 0))
				break;
		if (k == n) {
			char d[64], g[64] = "";
			cni_prefix_format(&w->dst, d, sizeof(d));
			if (w->has_gw) {
				cni_prefix_format(&w->gw, g, sizeof(g));
				*strrchr(g, '/') = 0;
			}
			snprintf(err, errlen, "route %s%s%s is missing", d, w->has_gw ? " via " : "", g);
			return -EIO;
		}
	}
	return 0;
}

int cni_pod_del(struct cni_nl *host, const char *name, char *err, size_t errlen)
{
	int r = cni_nl_link_del(host, name, err, errlen);
	return r == -ENODEV ? 0 : r;
}
