/*
 * DOC: cni_result.h — the agent's plan of a pod's interfaces (the reply to
 * `add`, `check`, `del`, `gc` in docs/AGENT.md), checked into fixed structs,
 * and the CNI result built from it. Pure: no socket, no netlink.
 *
 * The plan is checked whole before tern-cni touches the node, so a bad
 * reply (a MAC that does not parse, a name too long for the kernel) fails
 * before any veth exists.
 */
#ifndef TERN_CNI_RESULT_H
#define TERN_CNI_RESULT_H

#include <jansson.h>
#include <stdbool.h>

#include "cni_conf.h"

#define CNI_MAX_IFACES 32
#define CNI_MAX_ADDRS  8
#define CNI_MAX_ROUTES 16

enum cni_kind { CNI_KIND_KERNEL, CNI_KIND_MEMIF, CNI_KIND_VHOST };

struct cni_route {
	struct cni_prefix dst;
	bool has_gw;
	struct cni_prefix gw;        /* full-length prefix */
};

struct cni_iface {
	char vmi[64];
	char ifname[IFNAMSIZ];       /* in the pod */
	enum cni_kind kind;
	char host_ifname[IFNAMSIZ];  /* kernel: the veth's node end */
	bool has_mac;                /* del/gc replies carry no MAC */
	uint8_t mac[6];
	unsigned mtu;                /* 0: not given (del/gc) */
	char socket_path[108];       /* memif, vhost-user */
	unsigned n_addrs, n_routes;
	struct cni_prefix addrs[CNI_MAX_ADDRS];
	struct cni_route routes[CNI_MAX_ROUTES];
	json_t *dns;                 /* borrowed from the reply, or NULL */
	bool attached;               /* check */
	/* Filled by ADD once the veth exists, for the result. */
	bool has_host_mac;
	uint8_t host_mac[6];
};

enum cni_plan_kind {
	CNI_PLAN_FULL,               /* add: every field */
	CNI_PLAN_CHECK,              /* check: add's fields plus "attached" */
	CNI_PLAN_REMOVED,            /* del, gc: ifname and host_ifname only */
};

struct cni_plan {
	json_t *reply;               /* owned: dns points into it */
	unsigned n;
	struct cni_iface ifaces[CNI_MAX_IFACES];
};

/*
 * Check reply's "interfaces" into p (takes a reference on reply).
 * Returns 0, or -EINVAL with e (code 5: tern-agent sent something tern-cni
 * cannot use; msg names interfaces[i].field). Free with cni_plan_free.
 */
int cni_plan_parse(struct cni_plan *p, json_t *reply, enum cni_plan_kind kind,
		   struct cni_err *e);
void cni_plan_free(struct cni_plan *p);

/*
 * The CNI result of version (one of cni_versions) for plan p in namespace
 * netns: kernel interfaces give two entries (the node end, then the pod end
 * with "sandbox"), DPDK ones one (with "sandbox" and, from 1.1.0 on,
 * "socketPath"; "mtu" likewise only from 1.1.0, where the spec defines it).
 * Each address points at its pod end and gets as "gateway" the first route
 * gateway of its interface inside its prefix; routes are every interface's;
 * "dns" is the first non-empty one. 0.4.0 adds "version" to each ip.
 * Returns a new object, NULL when out of memory.
 */
json_t *cni_result_build(const struct cni_plan *p, const char *version, const char *netns);

#endif /* TERN_CNI_RESULT_H */
