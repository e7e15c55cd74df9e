/* DOC: cni_netlink.c — see cni_netlink.h. */
#include "cni_netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NL_BUF 8192

static int fail(char *err, size_t errlen, int r, const char *fmt, const char *what)
{
	char head[160];
	snprintf(head, sizeof(head), fmt, what);
	snprintf(err, errlen, "%s: %s", head, strerror(-r));
	return r;
}

int cni_nl_open(struct cni_nl *nl, int netns_fd, char *err, size_t errlen)
{
	memset(nl, 0, sizeof(*nl));
	nl->ioctl_fd = -1;
	int self = -1;
	if (netns_fd >= 0) {
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0)
			return fail(err, errlen, -errno, "%s", "open /proc/self/ns/net");
		if (setns(netns_fd, CLONE_NEWNET) < 0) {
			int r = -errno;
			close(self);
			return fail(err, errlen, r, "%s", "entering the pod's network namespace");
		}
	}
	int r = 0;
	nl->sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sk || mnl_socket_bind(nl->sk, 0, MNL_SOCKET_AUTOPID) < 0)
		r = -errno;
	if (!r) {
		nl->ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (nl->ioctl_fd < 0)
			r = -errno;
	}
	if (self >= 0) {
		if (setns(self, CLONE_NEWNET) < 0) {
			int r2 = -errno;
			close(self);
			cni_nl_close(nl);
			return fail(err, errlen, r2, "%s", "returning to the node's network namespace "
				    "(tern-cni must exit)");
		}
		close(self);
	}
	if (r < 0) {
		cni_nl_close(nl);
		return fail(err, errlen, r, "%s", "opening a netlink socket");
	}
	nl->portid = mnl_socket_get_portid(nl->sk);
	nl->seq = (unsigned)time(NULL);
	return 0;
}

void cni_nl_close(struct cni_nl *nl)
{
	if (nl->sk)
		mnl_socket_close(nl->sk);
	if (nl->ioctl_fd >= 0)
		close(nl->ioctl_fd);
	nl->sk = NULL;
	nl->ioctl_fd = -1;
}

static struct nlmsghdr *msg_start(struct cni_nl *nl, void *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = ++nl->seq;
	return h;
}

/* Send h and run cb on every reply until the ACK (or the end of a dump).
 * 0 or -errno (the kernel's). */
static int talk(struct cni_nl *nl, struct nlmsghdr *h, mnl_cb_t cb, void *arg)
{
	/* NLM_F_DUMP shares bits with NLM_F_EXCL: compare the whole of it, and
	 * only on the one dump tern-cni makes. */
	bool dump = (h->nlmsg_type == RTM_GETADDR || h->nlmsg_type == RTM_GETROUTE) &&
		    (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	if (!dump)
		h->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sk, h, h->nlmsg_len) < 0)
		return -errno;
	char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	if (!buf)
		return -ENOMEM;
	int r;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sk, buf, MNL_SOCKET_BUFFER_SIZE);
		if (n < 0) {
			r = -errno;
			break;
		}
		r = mnl_cb_run(buf, (size_t)n, h->nlmsg_seq, nl->portid, cb, arg);
		if (r <= 0) {
			r = r < 0 ? -errno : 0;
			break;
		}
	}
	free(buf);
	return r;
}

/* ---- links ------------------------------------------------------------------ */

struct link_arg {
	struct cni_link *l;
};

static int link_cb(const struct nlmsghdr *h, void *data)
{
	struct link_arg *a = data;
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
	struct nlattr *attr;
	a->l->index = ifi->ifi_index;
	a->l->flags = ifi->ifi_flags;
	mnl_attr_for_each(attr, h, sizeof(*ifi)) {
		switch (mnl_attr_get_type(attr)) {
		case IFLA_MTU:
			if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
				a->l->mtu = mnl_attr_get_u32(attr);
			break;
		case IFLA_ADDRESS:
			if (mnl_attr_get_payload_len(attr) == 6) {
				memcpy(a->l->mac, mnl_attr_get_payload(attr), 6);
				a->l->has_mac = true;
			}
			break;
		}
	}
	return MNL_CB_OK;
}

int cni_nl_link_get(struct cni_nl *nl, const char *name, struct cni_link *l, char *err,
		    size_t errlen)
{
	char buf[NL_BUF];
	memset(l, 0, sizeof(*l));
	struct nlmsghdr *h = msg_start(nl, buf, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	struct link_arg a = { l };
	int r = talk(nl, h, link_cb, &a);
	if (r == -ENODEV || (r == 0 && l->index == 0))
		return -ENODEV;
	if (r < 0)
		return fail(err, errlen, r, "looking up %s", name);
	return 0;
}

int cni_nl_veth_add(struct cni_nl *nl, const char *name, const char *peer, int peer_netns_fd,
		    unsigned mtu, char *err, size_t errlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = msg_start(nl, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	if (mtu)
		mnl_attr_put_u32(h, IFLA_MTU, mtu);
	struct nlattr *li = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
	struct nlattr *pa = mnl_attr_nest_start(h, VETH_INFO_PEER);
	/* The peer's attributes follow its own ifinfomsg inside the nest. */
	struct ifinfomsg *pifi = mnl_nlmsg_put_extra_header(h, sizeof(*pifi));
	memset(pifi, 0, sizeof(*pifi));
	mnl_attr_put_strz(h, IFLA_IFNAME, peer);
	if (mtu)
		mnl_attr_put_u32(h, IFLA_MTU, mtu);
	/* Born in the pod's namespace: moving a link later costs the kernel a
	 * network-wide synchronisation (about 20 ms here, most of an ADD). */
	if (peer_netns_fd >= 0)
		mnl_attr_put_u32(h, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	mnl_attr_nest_end(h, pa);
	mnl_attr_nest_end(h, data);
	mnl_attr_nest_end(h, li);
	int r = talk(nl, h, NULL, NULL);
	if (r < 0) {
		char what[64];
		snprintf(what, sizeof(what), "%s/%s", name, peer);
		return fail(err, errlen, r, "creating the veth pair %s", what);
	}
	return 0;
}

/* RTM_NEWLINK on an existing ifindex, with the attributes fill adds. */
static struct nlmsghdr *setlink_start(struct cni_nl *nl, void *buf, int ifindex)
{
	struct nlmsghdr *h = msg_start(nl, buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return h;
}

int cni_nl_link_move(struct cni_nl *nl, int ifindex, int netns_fd, char *err, size_t errlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = setlink_start(nl, buf, ifindex);
	mnl_attr_put_u32(h, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	int r = talk(nl, h, NULL, NULL);
	return r < 0 ? fail(err, errlen, r, "%s", "moving the veth into the pod's namespace") : 0;
}

int cni_nl_link_set(struct cni_nl *nl, int ifindex, const char *name, const uint8_t *mac,
		    unsigned mtu, char *err, size_t errlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = setlink_start(nl, buf, ifindex);
	if (name)
		mnl_attr_put_strz(h, IFLA_IFNAME, name);
	if (mac)
		mnl_attr_put(h, IFLA_ADDRESS, 6, mac);
	if (mtu)
		mnl_attr_put_u32(h, IFLA_MTU, mtu);
	int r = talk(nl, h, NULL, NULL);
	if (r == -EEXIST && name)
		return fail(err, errlen, r, "renaming to %s", name);
	return r < 0 ? fail(err, errlen, r, "%s", "setting name, MAC and MTU") : 0;
}

int cni_nl_link_up(struct cni_nl *nl, int ifindex, char *err, size_t errlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = msg_start(nl, buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	int r = talk(nl, h, NULL, NULL);
	return r < 0 ? fail(err, errlen, r, "%s", "setting the link up") : 0;
}

int cni_nl_link_del(struct cni_nl *nl, const char *name, char *err, size_t errlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = msg_start(nl, buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	int r = talk(nl, h, NULL, NULL);
	if (r == -ENODEV)
		return r;
	return r < 0 ? fail(err, errlen, r, "deleting %s", name) : 0;
}

/* ---- addresses and routes ---------------------------------------------------- */

int cni_nl_addr_add(struct cni_nl *nl, int ifindex, const struct cni_prefix *p, char *err,
		    size_t errlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = msg_start(nl, buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
	size_t alen = p->family == AF_INET ? 4 : 16;
	ifa->ifa_family = (uint8_t)p->family;
	ifa->ifa_prefixlen = p->plen;
	ifa->ifa_index = (unsigned)ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put(h, IFA_LOCAL, alen, p->addr);
	mnl_attr_put(h, IFA_ADDRESS, alen, p->addr);
	if (p->family == AF_INET6) {
		ifa->ifa_flags = IFA_F_NODAD;
		mnl_attr_put_u32(h, IFA_FLAGS, IFA_F_NODAD);
	}
	int r = talk(nl, h, NULL, NULL);
	if (r < 0) {
		char a[64];
		cni_prefix_format(p, a, sizeof(a));
		return fail(err, errlen, r, "adding address %s", a);
	}
	return 0;
}

struct addr_arg {
	int ifindex;
	struct cni_prefix *out;
	unsigned max, n;
};

static int addr_cb(const struct nlmsghdr *h, void *data)
{
	struct addr_arg *a = data;
	struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(h);
	if ((int)ifa->ifa_index != a->ifindex || a->n >= a->max ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return MNL_CB_OK;
	size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
	const void *addr = NULL;
	struct nlattr *attr;
	mnl_attr_for_each(attr, h, sizeof(*ifa)) {
		int t = mnl_attr_get_type(attr);
		if ((t == IFA_LOCAL || (t == IFA_ADDRESS && !addr)) &&
		    mnl_attr_get_payload_len(attr) == alen)
			addr = mnl_attr_get_payload(attr);
	}
	if (!addr)
		return MNL_CB_OK;
	struct cni_prefix *p = &a->out[a->n++];
	memset(p, 0, sizeof(*p));
	p->family = ifa->ifa_family;
	p->plen = ifa->ifa_prefixlen;
	memcpy(p->addr, addr, alen);
	return MNL_CB_OK;
}

int cni_nl_addr_list(struct cni_nl *nl, int ifindex, struct cni_prefix *out, unsigned max,
		     char *err, size_t errlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = msg_start(nl, buf, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	struct addr_arg a = { ifindex, out, max, 0 };
	int r = talk(nl, h, addr_cb, &a);
	return r < 0 ? fail(err, errlen, r, "%s", "listing addresses") : (int)a.n;
}

struct route_arg {
	int ifindex;
	struct cni_route *out;
	unsigned max, n;
};

static int route_cb(const struct nlmsghdr *h, void *data)
{
	struct route_arg *a = data;
	struct rtmsg *rtm = mnl_nlmsg_get_payload(h);
	if (a->n >= a->max || rtm->rtm_table != RT_TABLE_MAIN ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
		return MNL_CB_OK;
	size_t alen = rtm->rtm_family == AF_INET ? 4 : 16;
	const void *dst = NULL, *gw = NULL;
	int oif = -1;
	struct nlattr *attr;
	mnl_attr_for_each(attr, h, sizeof(*rtm)) {
		int t = mnl_attr_get_type(attr);
		if (t == RTA_OIF && mnl_attr_get_payload_len(attr) == 4)
			oif = (int)mnl_attr_get_u32(attr);
		else if (t == RTA_DST && mnl_attr_get_payload_len(attr) == alen)
			dst = mnl_attr_get_payload(attr);
		else if (t == RTA_GATEWAY && mnl_attr_get_payload_len(attr) == alen)
			gw = mnl_attr_get_payload(attr);
	}
	if (oif != a->ifindex)
		return MNL_CB_OK;
	struct cni_route *r = &a->out[a->n++];
	memset(r, 0, sizeof(*r));
	r->dst.family = rtm->rtm_family;
	r->dst.plen = rtm->rtm_dst_len;
	if (dst)
		memcpy(r->dst.addr, dst, alen);
	if (gw) {
		r->has_gw = true;
		r->gw.family = rtm->rtm_family;
		r->gw.plen = (uint8_t)(alen * 8);
		memcpy(r->gw.addr, gw, alen);
	}
	return MNL_CB_OK;
}

int cni_nl_route_list(struct cni_nl *nl, int ifindex, struct cni_route *out, unsigned max,
		      char *err, size_t errlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = msg_start(nl, buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(h, sizeof(*rtm));
	rtm->rtm_family = AF_UNSPEC;
	struct route_arg a = { ifindex, out, max, 0 };
	int r = talk(nl, h, route_cb, &a);
	return r < 0 ? fail(err, errlen, r, "%s", "listing routes") : (int)a.n;
}

static int route_try(struct cni_nl *nl, int ifindex, const struct cni_route *rt, bool onlink)
{
	char buf[NL_BUF];
	struct nlmsghdr *h = msg_start(nl, buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rm = mnl_nlmsg_put_extra_header(h, sizeof(*rm));
	size_t alen = rt->dst.family == AF_INET ? 4 : 16;
	rm->rtm_family = (uint8_t)rt->dst.family;
	rm->rtm_dst_len = rt->dst.plen;
	rm->rtm_table = RT_TABLE_MAIN;
	rm->rtm_protocol = RTPROT_BOOT;
	rm->rtm_type = RTN_UNICAST;
	rm->rtm_scope = rt->has_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	if (onlink)
		rm->rtm_flags = RTNH_F_ONLINK;
	mnl_attr_put(h, RTA_DST, alen, rt->dst.addr);
	if (rt->has_gw)
		mnl_attr_put(h, RTA_GATEWAY, alen, rt->gw.addr);
	mnl_attr_put_u32(h, RTA_OIF, (uint32_t)ifindex);
	return talk(nl, h, NULL, NULL);
}

int cni_nl_route_add(struct cni_nl *nl, int ifindex, const struct cni_route *rt, char *err,
		     size_t errlen)
{
	int r = route_try(nl, ifindex, rt, false);
	/* A gateway outside the interface's prefixes (169.254.1.1 style) is
	 * reachable on the link all the same: say so. */
	if (rt->has_gw && (r == -ENETUNREACH || r == -EHOSTUNREACH || r == -EINVAL))
		r = route_try(nl, ifindex, rt, true);
	if (r < 0) {
		char d[64], g[64] = "";
		cni_prefix_format(&rt->dst, d, sizeof(d));
		if (rt->has_gw) {
			strcpy(g, " via ");
			cni_prefix_format(&rt->gw, g + 5, sizeof(g) - 5);
			*strrchr(g, '/') = 0;
		}
		strncat(d, g, sizeof(d) - strlen(d) - 1);
		return fail(err, errlen, r, "adding route %s", d);
	}
	return 0;
}

/* ---- offloads and sysctl ------------------------------------------------------ */

/* The legacy calls name TSO as the kernel knew it when they were made;
 * newer segmentation features (tx-tcp-accecn-segmentation, UDP, SCTP,
 * tunnels, fraglist) are off only by name, through ETHTOOL_SFEATURES. */
static bool seg_feature(const char *name)
{
	return strncmp(name, "tx-", 3) == 0 &&
	       (strstr(name, "segmentation") || strcmp(name, "tx-gso-list") == 0);
}

static int eth_ioctl(struct cni_nl *nl, const char *name, void *data)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = data;
	return ioctl(nl->ioctl_fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

static int seg_features_off(struct cni_nl *nl, const char *name, char *err, size_t errlen)
{
	struct { struct ethtool_sset_info h; uint32_t n; } ss = {
		.h = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_FEATURES } };
	if (eth_ioctl(nl, name, &ss) < 0 || !(ss.h.sset_mask & (1ULL << ETH_SS_FEATURES)) ||
	    ss.n == 0 || ss.n > 1024)
		return 0; /* no feature names: the legacy calls were all there is */
	uint32_t n = ss.n, blocks = (n + 31) / 32;
	struct ethtool_gstrings *gs = calloc(1, sizeof(*gs) + (size_t)n * ETH_GSTRING_LEN);
	struct ethtool_sfeatures *sf = calloc(1, sizeof(*sf) +
					      blocks * sizeof(struct ethtool_set_features_block));
	int r = gs && sf ? 0 : -ENOMEM;
	if (!r) {
		gs->cmd = ETHTOOL_GSTRINGS;
		gs->string_set = ETH_SS_FEATURES;
		gs->len = n;
		r = eth_ioctl(nl, name, gs);
	}
	if (!r) {
		sf->cmd = ETHTOOL_SFEATURES;
		sf->size = blocks;
		for (uint32_t i = 0; i < n; i++) {
			char fname[ETH_GSTRING_LEN + 1] = "";
			memcpy(fname, gs->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
			if (seg_feature(fname))
				sf->features[i / 32].valid |= 1u << (i % 32);
		}
		r = eth_ioctl(nl, name, sf);
	}
	free(gs);
	free(sf);
	return r < 0 ? fail(err, errlen, r, "%s", "turning off segmentation offloads") : 0;
}

int cni_nl_offload_off(struct cni_nl *nl, const char *name, char *err, size_t errlen)
{
	static const struct { uint32_t cmd; const char *what; } offs[] = {
		{ ETHTOOL_STXCSUM, "turning off TX checksum offload" },
		{ ETHTOOL_STSO, "turning off TSO" },
		{ ETHTOOL_SGSO, "turning off GSO" },
	};
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		struct ethtool_value ev = { .cmd = offs[i].cmd, .data = 0 };
		int r = eth_ioctl(nl, name, &ev);
		if (r < 0)
			return fail(err, errlen, r, "%s", offs[i].what);
	}
	return seg_features_off(nl, name, err, errlen);
}

int cni_ipv6_disable(const char *name, char *err, size_t errlen)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || write(fd, "1", 1) != 1) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return fail(err, errlen, r, "writing %s", path);
	}
	close(fd);
	return 0;
}
