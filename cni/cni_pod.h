/*
 * DOC: cni_pod.h — one kernel interface of a pod, from plan to working
 * veth (ADD), and compared with the plan (CHECK). Built on cni_netlink.h;
 * the caller (cni_main.c) loops over the plan and undoes on failure.
 */
#ifndef TERN_CNI_POD_H
#define TERN_CNI_POD_H

#include <stddef.h>

#include "cni_netlink.h"
#include "cni_result.h"

/* Lets ADD refuse before it creates anything. -EBUSY when f->host_ifname
 * exists on the node (an earlier ADD of the same attachment is in place:
 * undoing this ADD must not tear it down), -EEXIST when f->ifname is taken
 * in the pod ("interface name already exists in the pod's namespace"). */
int cni_pod_names_free(struct cni_nl *host, struct cni_nl *pod, const struct cni_iface *f,
		       char *err, size_t errlen);

/*
 * Create the veth of f: node end host_ifname (IPv6 off, up), pod end made
 * under a temporary name, moved into pod_ns_fd, renamed to ifname, with
 * f's MAC, MTU (both ends), addresses, TX checksum/TSO/GSO off, up, and
 * f's routes. Fills f->host_mac. On failure the pair is deleted again and
 * err names the step; the caller prefixes the interface name.
 */
int cni_pod_add(struct cni_nl *host, struct cni_nl *pod, int pod_ns_fd, struct cni_iface *f,
		char *err, size_t errlen);

/* Compare the pod end of f with the plan: exists, up, MAC, MTU, every
 * planned address present. -ENOENT (missing) or -EIO (differs) with err
 * naming what differs. */
int cni_pod_check(struct cni_nl *pod, const struct cni_iface *f, char *err, size_t errlen);

/* Delete the node end name (and so the pair). Absent is fine: 0. */
int cni_pod_del(struct cni_nl *host, const char *name, char *err, size_t errlen);

#endif /* TERN_CNI_POD_H */
