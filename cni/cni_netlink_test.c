/*
 * DOC: cni_netlink_test.c — veths, moves, renames, MAC/MTU, addresses,
 * routes, offloads and deletion against the real kernel, in two private
 * network namespaces ("node" and "pod") that vanish with the process.
 * Needs root (CAP_SYS_ADMIN to unshare, CAP_NET_ADMIN inside): skipped,
 * saying so, without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "cni_netlink.h"
#include "cni_pod.h"

struct ns {
	bool ok;
	char why[320];
	int node_fd, pod_fd;
	struct cni_nl host, pod;
};

static int setup(void **state)
{
	struct ns *s = calloc(1, sizeof(*s));
	*state = s;
	char err[256];
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(s->why, sizeof(s->why), "unshare(CLONE_NEWNET): %s (needs root: "
			 "CAP_SYS_ADMIN)", strerror(errno));
		return 0;
	}
	s->node_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	s->pod_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (s->node_fd < 0 || s->pod_fd < 0 || setns(s->node_fd, CLONE_NEWNET) < 0)
		return -1;
	if (cni_nl_open(&s->host, -1, err, sizeof(err)) < 0 ||
	    cni_nl_open(&s->pod, s->pod_fd, err, sizeof(err)) < 0) {
		snprintf(s->why, sizeof(s->why), "netlink: %s (needs CAP_NET_ADMIN)", err);
		return 0;
	}
	s->ok = true;
	return 0;
}

static int teardown(void **state)
{
	struct ns *s = *state;
	if (s->ok) {
		cni_nl_close(&s->host);
		cni_nl_close(&s->pod);
		close(s->node_fd);
		close(s->pod_fd);
	}
	free(s);
	return 0;
}

static struct ns *need(void **state)
{
	struct ns *s = *state;
	if (!s->ok) {
		print_message("# skipped: %s\n", s->why);
		skip();
	}
	return s;
}

#define OK(call) do { \
	char err_[256] = ""; \
	int r_ = (call); \
	if (r_ < 0) \
		fail_msg("%s: %d %s", #call, r_, err_); \
} while (0)

static struct cni_prefix pfx(const char *s)
{
	struct cni_prefix p;
	assert_int_equal(cni_prefix_parse(s, strchr(s, '/') != NULL, &p), 0);
	return p;
}

static uint32_t ethtool_get(struct cni_nl *nl, const char *name, uint32_t cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&ev;
	assert_int_equal(ioctl(nl->ioctl_fd, SIOCETHTOOL, &ifr), 0);
	return ev.data;
}

/* How many tx-*segmentation features are active (the legacy TSO call does
 * not reach all of them, tx-tcp-accecn-segmentation for one). */
static int seg_features_on(struct cni_nl *nl, const char *name)
{
	struct { struct ethtool_sset_info h; uint32_t n; } ss = {
		.h = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_FEATURES } };
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&ss;
	assert_int_equal(ioctl(nl->ioctl_fd, SIOCETHTOOL, &ifr), 0);
	uint32_t n = ss.n, blocks = (n + 31) / 32;
	struct ethtool_gstrings *gs = calloc(1, sizeof(*gs) + (size_t)n * ETH_GSTRING_LEN);
	struct ethtool_gfeatures *gf = calloc(1, sizeof(*gf) + blocks * sizeof(gf->features[0]));
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_FEATURES;
	gs->len = n;
	ifr.ifr_data = (void *)gs;
	assert_int_equal(ioctl(nl->ioctl_fd, SIOCETHTOOL, &ifr), 0);
	gf->cmd = ETHTOOL_GFEATURES;
	gf->size = blocks;
	ifr.ifr_data = (void *)gf;
	assert_int_equal(ioctl(nl->ioctl_fd, SIOCETHTOOL, &ifr), 0);
	int on = 0;
	for (uint32_t i = 0; i < n; i++) {
		const char *fname = (const char *)gs->data + (size_t)i * ETH_GSTRING_LEN;
		if (strncmp(fname, "tx-", 3) == 0 && strstr(fname, "segmentation") &&
		    (gf->features[i / 32].active & (1u << (i % 32))))
			on++;
	}
	free(gs);
	free(gf);
	return on;
}

/* Each primitive, step by step, as cni_pod_add chains them. */
static void test_primitives(void **state)
{
	struct ns *s = need(state);
	char err[256];
	struct cni_link h, p;
	OK(cni_nl_veth_add(&s->host, "tnh1", "tnt1", -1, 1400, err_, sizeof(err_)));
	assert_int_equal(cni_nl_veth_add(&s->host, "tnh1", "tnt9", -1, 0, err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "tnh1"));
	OK(cni_nl_link_get(&s->host, "tnh1", &h, err_, sizeof(err_)));
	assert_int_equal(h.mtu, 1400);
	OK(cni_nl_link_get(&s->host, "tnt1", &p, err_, sizeof(err_)));
	OK(cni_nl_link_move(&s->host, p.index, s->pod_fd, err_, sizeof(err_)));
	assert_int_equal(cni_nl_link_get(&s->host, "tnt1", &p, err, sizeof(err)), -ENODEV);
	OK(cni_nl_link_get(&s->pod, "tnt1", &p, err_, sizeof(err_)));

	const uint8_t mac[6] = { 0x02, 0x74, 0x65, 0, 0, 0x01 };
	OK(cni_nl_link_set(&s->pod, p.index, "eth0", mac, 1450, err_, sizeof(err_)));
	assert_int_equal(cni_nl_link_get(&s->pod, "tnt1", &p, err, sizeof(err)), -ENODEV);
	OK(cni_nl_link_get(&s->pod, "eth0", &p, err_, sizeof(err_)));
	assert_int_equal(p.mtu, 1450);
	assert_true(p.has_mac);
	assert_memory_equal(p.mac, mac, 6);
	assert_false(p.flags & IFF_UP);

	assert_int_not_equal(ethtool_get(&s->pod, "eth0", ETHTOOL_GTXCSUM), 0);
	assert_int_not_equal(seg_features_on(&s->pod, "eth0"), 0);
	OK(cni_nl_offload_off(&s->pod, "eth0", err_, sizeof(err_)));
	assert_int_equal(ethtool_get(&s->pod, "eth0", ETHTOOL_GTXCSUM), 0);
	assert_int_equal(ethtool_get(&s->pod, "eth0", ETHTOOL_GTSO), 0);
	assert_int_equal(ethtool_get(&s->pod, "eth0", ETHTOOL_GGSO), 0);
	assert_int_equal(seg_features_on(&s->pod, "eth0"), 0);

	struct cni_prefix a4 = pfx("10.1.0.2/24"), a6 = pfx("fd00:1::2/64");
	OK(cni_nl_addr_add(&s->pod, p.index, &a4, err_, sizeof(err_)));
	OK(cni_nl_addr_add(&s->pod, p.index, &a6, err_, sizeof(err_)));
	assert_int_equal(cni_nl_addr_add(&s->pod, p.index, &a4, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "10.1.0.2/24"));
	OK(cni_nl_link_up(&s->pod, p.index, err_, sizeof(err_)));
	struct cni_route d4 = { .dst = pfx("0.0.0.0/0"), .has_gw = true, .gw = pfx("10.1.0.1") };
	struct cni_route d6 = { .dst = pfx("::/0"), .has_gw = true, .gw = pfx("fd00:1::1") };
	struct cni_route net = { .dst = pfx("10.7.0.0/16") };
	OK(cni_nl_route_add(&s->pod, p.index, &d4, err_, sizeof(err_)));
	OK(cni_nl_route_add(&s->pod, p.index, &d6, err_, sizeof(err_)));
	OK(cni_nl_route_add(&s->pod, p.index, &net, err_, sizeof(err_)));
	/* Added means a second add finds it there. */
	assert_int_equal(cni_nl_route_add(&s->pod, p.index, &d4, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "0.0.0.0/0 via 10.1.0.1"));

	struct cni_prefix have[16];
	int n = cni_nl_addr_list(&s->pod, p.index, have, 16, err, sizeof(err));
	int found = 0;
	for (int i = 0; i < n; i++) {
		char b[64];
		cni_prefix_format(&have[i], b, sizeof(b));
		found += strcmp(b, "10.1.0.2/24") == 0 || strcmp(b, "fd00:1::2/64") == 0;
	}
	assert_int_equal(found, 2);

	/* The node end: IPv6 off, and deleting it takes the pod end along. */
	OK(cni_ipv6_disable("tnh1", err_, sizeof(err_)));
	char v[4] = "";
	FILE *fp = fopen("/proc/sys/net/ipv6/conf/tnh1/disable_ipv6", "r");
	assert_non_null(fp);
	assert_non_null(fgets(v, sizeof(v), fp));
	fclose(fp);
	assert_int_equal(v[0], '1');
	OK(cni_nl_link_del(&s->host, "tnh1", err_, sizeof(err_)));
	assert_int_equal(cni_nl_link_get(&s->pod, "eth0", &p, err, sizeof(err)), -ENODEV);
	assert_int_equal(cni_nl_link_del(&s->host, "tnh1", err, sizeof(err)), -ENODEV);
}

static struct cni_iface iface(const char *ifname, const char *host)
{
	struct cni_iface f;
	memset(&f, 0, sizeof(f));
	snprintf(f.ifname, sizeof(f.ifname), "%s", ifname);
	snprintf(f.host_ifname, sizeof(f.host_ifname), "%s", host);
	f.kind = CNI_KIND_KERNEL;
	assert_int_equal(tern_mac_parse("02:74:65:00:00:07", f.mac), 0);
	f.has_mac = true;
	f.mtu = 1450;
	f.n_addrs = 2;
	f.addrs[0] = pfx("10.2.0.7/24");
	f.addrs[1] = pfx("fd00:2::7/64");
	f.n_routes = 2;
	f.routes[0] = (struct cni_route){ .dst = pfx("0.0.0.0/0"), .has_gw = true,
					  .gw = pfx("10.2.0.1") };
	f.routes[1] = (struct cni_route){ .dst = pfx("::/0"), .has_gw = true,
					  .gw = pfx("fd00:2::1") };
	return f;
}

/* The whole interface, then CHECK: clean, then with each kind of drift. */
static void test_pod_add_check(void **state)
{
	struct ns *s = need(state);
	char err[256];
	struct cni_iface f = iface("eth0", "tnhost2");
	OK(cni_pod_names_free(&s->host, &s->pod, &f, err_, sizeof(err_)));
	OK(cni_pod_add(&s->host, &s->pod, s->pod_fd, &f, err_, sizeof(err_)));
	assert_true(f.has_host_mac);
	struct cni_link h, p;
	OK(cni_nl_link_get(&s->host, "tnhost2", &h, err_, sizeof(err_)));
	assert_true(h.flags & IFF_UP);
	assert_int_equal(h.mtu, 1450);
	assert_memory_equal(h.mac, f.host_mac, 6);
	OK(cni_nl_link_get(&s->pod, "eth0", &p, err_, sizeof(err_)));
	assert_true(p.flags & IFF_UP);
	assert_int_equal(ethtool_get(&s->pod, "eth0", ETHTOOL_GTXCSUM), 0);
	OK(cni_pod_check(&s->pod, &f, err_, sizeof(err_)));

	/* A second ADD of the same attachment finds its node end: -EBUSY (its
	 * undo must leave the first alone); another name clash is -EEXIST. */
	assert_int_equal(cni_pod_names_free(&s->host, &s->pod, &f, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "tnhost2"));
	struct cni_iface g = iface("eth0", "tnhost9");
	assert_int_equal(cni_pod_names_free(&s->host, &s->pod, &g, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "interface name already exists in the pod's namespace");

	struct cni_iface d = f;
	d.mtu = 1400;
	assert_int_equal(cni_pod_check(&s->pod, &d, err, sizeof(err)), -EIO);
	assert_string_equal(err, "MTU is 1450, the plan says 1400");
	d = f;
	d.mac[5] = 8;
	assert_int_equal(cni_pod_check(&s->pod, &d, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "MAC is 02:74:65:00:00:07"));
	d = f;
	d.addrs[1] = pfx("fd00:2::8/64");
	assert_int_equal(cni_pod_check(&s->pod, &d, err, sizeof(err)), -EIO);
	assert_string_equal(err, "address fd00:2::8/64 is missing");
	/* a route the plan has and the pod does not */
	d = f;
	assert_true(d.n_routes < CNI_MAX_ROUTES);
	d.routes[d.n_routes].dst = pfx("10.9.0.0/16");
	d.routes[d.n_routes].has_gw = true;
	d.routes[d.n_routes].gw = pfx("10.1.0.1/32");
	d.n_routes++;
	assert_int_equal(cni_pod_check(&s->pod, &d, err, sizeof(err)), -EIO);
	assert_string_equal(err, "route 10.9.0.0/16 via 10.1.0.1 is missing");
	d = f;
	strcpy(d.ifname, "net5");
	assert_int_equal(cni_pod_check(&s->pod, &d, err, sizeof(err)), -ENOENT);

	OK(cni_pod_del(&s->host, "tnhost2", err_, sizeof(err_)));
	OK(cni_pod_del(&s->host, "tnhost2", err_, sizeof(err_))); /* twice is fine */
	assert_int_equal(cni_nl_link_get(&s->pod, "eth0", &p, err, sizeof(err)), -ENODEV);
	assert_int_equal(cni_pod_check(&s->pod, &f, err, sizeof(err)), -ENOENT);
}

/* The pod already has the name: refused, and nothing stays on the node. */
static void test_name_taken(void **state)
{
	struct ns *s = need(state);
	char err[256];
	OK(cni_nl_veth_add(&s->pod, "net2", "other2", -1, 0, err_, sizeof(err_)));
	struct cni_iface f = iface("net2", "tnhost3");
	assert_int_equal(cni_pod_names_free(&s->host, &s->pod, &f, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "interface name already exists in the pod's namespace");
	/* Even past the early check, the rename refuses and ADD undoes itself. */
	assert_int_equal(cni_pod_add(&s->host, &s->pod, s->pod_fd, &f, err, sizeof(err)),
			 -EEXIST);
	assert_string_equal(err, "interface name already exists in the pod's namespace");
	struct cni_link l;
	assert_int_equal(cni_nl_link_get(&s->host, "tnhost3", &l, err, sizeof(err)), -ENODEV);
	OK(cni_nl_link_del(&s->pod, "net2", err_, sizeof(err_)));
}

/* A failing step (a route the kernel refuses) deletes the pair. */
static void test_add_undo(void **state)
{
	struct ns *s = need(state);
	char err[256];
	struct cni_iface f = iface("eth1", "tnhost4");
	f.routes[1] = f.routes[0]; /* the same default route twice: EEXIST */
	assert_int_equal(cni_pod_add(&s->host, &s->pod, s->pod_fd, &f, err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "adding route 0.0.0.0/0 via 10.2.0.1"));
	struct cni_link l;
	assert_int_equal(cni_nl_link_get(&s->host, "tnhost4", &l, err, sizeof(err)), -ENODEV);
	assert_int_equal(cni_nl_link_get(&s->pod, "eth1", &l, err, sizeof(err)), -ENODEV);
}

/* A gateway outside every prefix of the interface is added on-link. */
static void test_route_onlink(void **state)
{
	struct ns *s = need(state);
	struct cni_iface f = iface("eth3", "tnhost5");
	f.n_addrs = 1;
	f.addrs[0] = pfx("10.3.0.9/32");
	f.n_routes = 1;
	f.routes[0] = (struct cni_route){ .dst = pfx("0.0.0.0/0"), .has_gw = true,
					  .gw = pfx("169.254.1.1") };
	OK(cni_pod_add(&s->host, &s->pod, s->pod_fd, &f, err_, sizeof(err_)));
	OK(cni_pod_del(&s->host, "tnhost5", err_, sizeof(err_)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primitives),
		cmocka_unit_test(test_pod_add_check),
		cmocka_unit_test(test_name_taken),
		cmocka_unit_test(test_add_undo),
		cmocka_unit_test(test_route_onlink),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
