/*
 * DOC: cni_netlink.h — the few rtnetlink operations tern-cni needs (libmnl),
 * each on a handle bound to one network namespace.
 *
 * A netlink (and an ioctl) socket belongs to the namespace it was created
 * in, so cni_nl_open enters the target namespace only long enough to
 * create its sockets; every later call works there while the process stays
 * in the node's namespace. No setns() window spans a multi-step operation.
 *
 * Every function returns 0 (or a documented positive value) or a negative
 * errno, and fills err with the step and the kernel's reason.
 */
#ifndef TERN_CNI_NETLINK_H
#define TERN_CNI_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cni_conf.h"
#include "cni_result.h"

struct mnl_socket;

struct cni_nl {
	struct mnl_socket *sk;
	unsigned portid, seq;
	int ioctl_fd;                /* AF_INET datagram socket for SIOCETHTOOL */
};

/* Sockets in the namespace netns_fd (-1: the caller's). -errno from
 * setns/socket; if returning to the caller's namespace fails the process
 * is left in the wrong one and must exit (the message says so). */
int cni_nl_open(struct cni_nl *nl, int netns_fd, char *err, size_t errlen);
void cni_nl_close(struct cni_nl *nl);

struct cni_link {
	int index;
	unsigned mtu;
	unsigned flags;              /* IFF_* */
	bool has_mac;
	uint8_t mac[6];
};

/* The link called name: 0 with *l, -ENODEV when there is none. */
int cni_nl_link_get(struct cni_nl *nl, const char *name, struct cni_link *l, char *err,
		    size_t errlen);

/* A veth pair name <-> peer, both with mtu (0: default), down; name here,
 * peer here too or, when peer_netns_fd >= 0, created in that namespace.
 * -EEXIST when either name is taken. */
int cni_nl_veth_add(struct cni_nl *nl, const char *name, const char *peer, int peer_netns_fd,
		    unsigned mtu, char *err, size_t errlen);
/* Move link ifindex into the namespace netns_fd. */
int cni_nl_link_move(struct cni_nl *nl, int ifindex, int netns_fd, char *err, size_t errlen);
/* Set any of name (NULL: keep), mac (NULL: keep), mtu (0: keep) on a down
 * link. -EEXIST when name is taken. */
int cni_nl_link_set(struct cni_nl *nl, int ifindex, const char *name, const uint8_t *mac,
		    unsigned mtu, char *err, size_t errlen);
int cni_nl_link_up(struct cni_nl *nl, int ifindex, char *err, size_t errlen);
/* Delete link name (a veth: both ends). -ENODEV when there is none. */
int cni_nl_link_del(struct cni_nl *nl, const char *name, char *err, size_t errlen);

/* Add address p to ifindex; IPv6 ones without duplicate address detection
 * (IFA_F_NODAD) so that they are usable at once. */
int cni_nl_addr_add(struct cni_nl *nl, int ifindex, const struct cni_prefix *p, char *err,
		    size_t errlen);
/* The addresses of ifindex (link-local IPv6 ones included): the count
 * (at most max, the rest dropped) or -errno. */
int cni_nl_addr_list(struct cni_nl *nl, int ifindex, struct cni_prefix *out, unsigned max,
		     char *err, size_t errlen);
/* The main table's routes out of ifindex (at most max). Returns how many, or
 * a negative errno. */
int cni_nl_route_list(struct cni_nl *nl, int ifindex, struct cni_route *out, unsigned max,
		      char *err, size_t errlen);
/* Route r through ifindex in the main table; a gateway the interface's
 * prefixes do not cover is added on-link. */
int cni_nl_route_add(struct cni_nl *nl, int ifindex, const struct cni_route *r, char *err,
		     size_t errlen);

/* Turn off TX checksum offload, TSO and GSO on name (SIOCETHTOOL). */
int cni_nl_offload_off(struct cni_nl *nl, const char *name, char *err, size_t errlen);

/* Write "1" to /proc/sys/net/ipv6/conf/<name>/disable_ipv6 in the caller's
 * namespace. A kernel without IPv6 (no such file) is fine. */
int cni_ipv6_disable(const char *name, char *err, size_t errlen);

#endif /* TERN_CNI_NETLINK_H */
