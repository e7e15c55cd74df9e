/*
 * DOC: vr_core.h — the forwarding core of tern-vrouter: tables and pipeline.
 *
 * The core knows nothing of ports or DPDK I/O (as tf-vrouter's dp-core/): it
 * works on struct vr_pkt, a small view of a packet buffer that the I/O layer
 * fills on receive and reads back on transmit, and reaches the platform through
 * struct vr_host_ops. Its tables use DPDK's lookup libraries (rte_lpm6,
 * rte_hash), which are data structures, not I/O.
 *
 * Threading: the tables have one writer and one reader, the same thread. The
 * forwarding lcore runs the pipeline and, between bursts, the control requests
 * that the control thread hands it (vr_ctl_handle). No lock on the packet path,
 * no torn read of a table.
 */
#ifndef TERN_VR_CORE_H
#define TERN_VR_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "vr_proto.h"
#include "vr_msg.h"
#include "tern_log.h"

#define VR_BURST 32

/* What the classify stage decided a packet needs next. */
enum vr_pkt_kind {
	VR_K_NONE = 0,
	VR_K_ROUTE,      /* IP packet to look up in pkt->vrf */
	VR_K_BRIDGE,     /* Ethernet frame to look up by destination MAC in pkt->vrf */
	VR_K_NH,         /* nexthop already known (MPLS label): pkt->nh */
	VR_K_ARP,        /* ARP request to answer */
	VR_K_ND,         /* IPv6 neighbour solicitation to answer */
	VR_K_HOST,       /* for the node's kernel: to the host vif as is */
	VR_K_FABRIC,     /* from the host vif: out of the fabric vif as is */
	VR_K_TX,         /* ready: send out pkt->out_vif */
};

#define VR_PF_L2      0x01  /* payload is an Ethernet frame (bridged), not an IP packet */
#define VR_PF_ROUTED  0x02  /* routed here: decrement TTL */
#define VR_PF_FABRIC  0x04  /* came from the fabric (no flooding back to it) */
#define VR_PF_HOST    0x08  /* came from the host vif (the node's kernel) */

/*
 * A packet as the core sees it. The I/O layer keeps it in the buffer's private
 * area; data/len/headroom/tailroom describe the bytes, the rest is pipeline
 * state.
 */
struct vr_pkt {
	uint8_t *data;
	uint16_t len;
	uint16_t headroom;   /* bytes writable before data */
	uint16_t tailroom;   /* bytes writable after data + len */
	uint16_t in_vif;
	uint16_t out_vif;
	uint16_t vrf;
	uint16_t l3_off;     /* offset of the (inner) IP header from data */
	uint8_t kind;        /* enum vr_pkt_kind */
	uint8_t flags;       /* VR_PF_* */
	uint8_t l3;          /* 4, 6 or 0 */
	uint8_t pad_;
	uint32_t nh;
	uint32_t hash;       /* flow hash of the inner 5-tuple, 0 = not computed */
	uint32_t flow;       /* from the NAT stage: flow index + 1; VR_PKT_FLOW_NONE: untracked */
};
#define VR_PKT_FLOW_NONE 0u

/* The platform, as the core needs it. Every function is called on the forwarding lcore. */
struct vr_host_ops {
	/* Queue pkt for transmission on the vif's port; the host owns it afterwards
	 * (and frees it if the queue is full, counting a tx error). */
	void (*tx)(void *host, uint16_t vif, struct vr_pkt *pkt);
	/* Free a packet. */
	void (*free)(void *host, struct vr_pkt *pkt);
	/* A writable copy with at least `headroom` bytes before data; NULL when out of buffers. */
	struct vr_pkt *(*copy)(void *host, const struct vr_pkt *pkt, uint16_t headroom);
	/* Attach / detach the port behind a vif. attach returns 0 or a negative
	 * errno with a message in err. May be NULL (unit tests: no ports). */
	int (*vif_attach)(void *host, const struct vr_obj_vif *vif, uint16_t *port_id,
			  char *err, size_t errlen);
	void (*vif_detach)(void *host, uint16_t vif_id, uint16_t port_id);
	/* Port counters, receive details and link state for a vif, for dumps
	 * (rx: st->rx_errors is rx->nombuf + missed + bad); may be NULL. */
	void (*vif_stats)(void *host, uint16_t vif_id, uint16_t port_id,
			  struct vr_stats *st, struct vr_port_rx *rx, uint8_t *link);
	void (*vif_stats_clear)(void *host, uint16_t vif_id, uint16_t port_id);
};

struct vr_config {
	const char *name;         /* instance name */
	uint32_t max_vrfs;        /* default VR_DEFAULT_VRFS */
	uint32_t max_routes;      /* IPv4 + IPv6 routes, default 262144 */
	uint32_t fib_tbl8s;       /* rte_lpm6 tbl8 groups per family, default 65536 */
	uint32_t max_bridge;      /* bridge entries, default 65536 */
	uint8_t mac[6];           /* the vrouter's MAC for routed traffic */
	const char *lcores;       /* for the info reply */
	int socket_id;            /* NUMA node for table memory */
	uint32_t max_flows;       /* flow table entries (forward and reverse count apart), default 65536 */
	uint32_t max_flows6;      /* of which IPv6 at most; default max_flows / 8 */
	uint32_t max_frame;       /* the largest Ethernet frame a port takes whole (0: no limit):
				   * a vif's MTU must fit it */
};

struct vr_router;

/*
 * Create a router: allocates every table. Returns NULL with a message in err
 * (e.g. "cannot allocate the IPv4 FIB (rte_lpm6, 65536 tbl8s): Cannot allocate
 * memory — give the EAL more memory (-m) or lower --fib-tbl8s").
 * DPDK's EAL must be initialised (rte_lpm6 and rte_hash allocate from it).
 */
struct vr_router *vr_router_create(const struct vr_config *cfg, struct tern_log *log,
				   const struct vr_host_ops *ops, void *host,
				   char *err, size_t errlen);
/* Detach every vif and free every table. */
void vr_router_destroy(struct vr_router *r);

/*
 * Run one burst received on vif `in_vif` through the pipeline: classify, ARP/ND
 * proxy, route/bridge lookup, flow table and policy, nexthop,
 * rewrite/encapsulate, transmit. Every packet ends transmitted or dropped under a reason.
 */
void vr_pipeline_run(struct vr_router *r, uint16_t in_vif, struct vr_pkt **pkts, uint16_t n);

/* Count a packet the I/O layer could not hand to the pipeline, and free it. */
void vr_drop(struct vr_router *r, struct vr_pkt *pkt, enum vr_drop_reason why);

/* Add n to rx counters of a vif (the I/O layer's view). */
const uint64_t *vr_drop_counters(const struct vr_router *r);

/*
 * Handle one control request (a complete message) and write the reply into
 * `reply` (capacity cap, at least VR_MSG_MAX). Returns the reply length; never
 * fails: errors are replies. A request that fails changes nothing.
 */
size_t vr_ctl_handle(struct vr_router *r, const uint8_t *req, size_t len,
		     uint8_t *reply, size_t cap);

/*
 * The slow part of a request that needs none of the router's tables (today:
 * a policy's rules decoded and its rte_acl classifiers built), made on the
 * control thread before the request goes to the forwarding core, which then
 * only swaps it in: forwarding does not pause for a classifier build. NULL:
 * nothing to prepare (or no memory: the forwarding core then does it all).
 * Reads only r's configuration; safe beside the forwarding loop.
 */
struct vr_ctl_prep;
struct vr_ctl_prep *vr_ctl_prepare(struct vr_router *r, const uint8_t *req, size_t len);
/* vr_ctl_handle with what vr_ctl_prepare made for this request (or NULL). */
size_t vr_ctl_handle_prepared(struct vr_router *r, const uint8_t *req, size_t len,
			      struct vr_ctl_prep *prep, uint8_t *reply, size_t cap);
/* Free what the request did not use (any thread). */
void vr_ctl_prep_free(struct vr_ctl_prep *prep);

/* The forwarding loop's own accounting, reported by INFO: TSC cycles of the
 * rounds that moved packets and the packets they received (busy cycles per
 * packet = capacity, as dpdk-testpmd --record-core-cycles reports it). A
 * round moved packets when it received some or transmitted some: a kernel
 * port gathers packets over rounds, and the round that sends them pays the
 * system call. */
struct vr_loop_stats {
	uint64_t busy_cycles;
	uint64_t busy_pkts;
	uint64_t busy_rounds;   /* busy_pkts / busy_rounds: the mean burst */
	uint64_t tsc_hz;
};
struct vr_loop_stats *vr_loop_stats(struct vr_router *r);

/* The time the flow stage stamps and ages flows with, in milliseconds of a
 * monotonic clock; the I/O loop sets it once per round (no clock in the core). */
void vr_set_now(struct vr_router *r, uint64_t now_ms);
/* Age out idle flows: look at up to `budget` entries from where the last call
 * stopped. Returns the flow entries removed (two per connection). Cheap
 * enough for every idle round. */
unsigned vr_flow_age(struct vr_router *r, unsigned budget);
/* True while flows are being re-evaluated after a policy change: the loop
 * should call vr_flow_age every round and not sleep, so that flows the new
 * rules deny stop within a second. */
bool vr_flow_busy(const struct vr_router *r);

/* The vifs that have ports, for the I/O loop: fills ids, returns the count. */
unsigned vr_vif_list_ports(const struct vr_router *r, uint16_t *vif_ids, uint16_t *port_ids,
			   unsigned max);

#endif /* TERN_VR_CORE_H */
