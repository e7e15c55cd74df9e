/* DOC: vr_test_support.h — for the core's unit tests: EAL set-up, a fake host
 * that records what the pipeline transmits, packet builders. */
#ifndef TERN_VR_TEST_SUPPORT_H
#define TERN_VR_TEST_SUPPORT_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "vr_core.h"
#include "vr_msg.h"

#define VT_MAX_SENT 64
#define VT_BUF 2304
#define VT_HEADROOM 128

struct vt_sent {
	uint16_t vif;
	uint16_t len;
	uint8_t data[VT_BUF];
};

struct vt_host {
	struct vt_sent sent[VT_MAX_SENT];
	unsigned n_sent;
	unsigned live;        /* packets allocated and not yet sent or freed */
	unsigned attached;
};

extern const struct vr_host_ops vt_host_ops;

/* Initialise DPDK's EAL once per process (no hugepages, no devices). */
void vt_eal_init(void);
struct vr_router *vt_router(struct vt_host *h);
struct vr_router *vt_router_flows(struct vt_host *h, uint32_t max_flows);
struct vr_pkt *vt_pkt(struct vt_host *h, const uint8_t *frame, size_t len);

/* Send a control request; returns the reply's error (0 or negative errno) and
 * fills *view and the object (first object of the reply), if given. */
int vt_ctl(struct vr_router *r, uint16_t op, const struct vr_object *obj, struct vr_object *out);
int vt_ctl_err(struct vr_router *r, uint16_t op, const struct vr_object *obj, char *msg, size_t n);

/* Builders. */
size_t vt_ipv4_udp(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, const char *src,
		   const char *dst, uint16_t sport, uint16_t dport, size_t payload, uint8_t ttl);
size_t vt_ipv6_udp(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, const char *src,
		   const char *dst, uint16_t sport, uint16_t dport, size_t payload);
size_t vt_arp_req(uint8_t *buf, const uint8_t *smac, const char *spa, const char *tpa);
void vt_addr(struct vr_addr *a, const char *s);

/* Object helpers for requests. */
struct vr_object vt_vif(uint32_t id, uint8_t type, const char *ifname, uint16_t vrf, const uint8_t *mac);
struct vr_object vt_nh_encap(uint32_t id, uint32_t vif, uint16_t vrf, const uint8_t *dmac);
struct vr_object vt_nh_tunnel(uint32_t id, uint32_t vif, uint8_t encap, const char *dip,
			      const uint8_t *dmac, uint32_t label_or_vni);
struct vr_object vt_nh_composite(uint32_t id, uint8_t type, const uint32_t *members, unsigned n);
/* A VRF with VR_VRF_F_* flags and, when flood_nh is not 0, its flood nexthop. */
struct vr_object vt_vrf(uint16_t id, uint32_t flags, uint32_t flood_nh);
/* The ones'-complement sum (not inverted): 0xffff over data with a valid checksum. */
uint16_t vt_sum16(const uint8_t *p, size_t n);
struct vr_object vt_route(uint16_t vrf, const char *prefix, uint8_t plen, uint32_t nh);

/* The flow id of the direction with these ports (and this source address, if
 * src; only first directions, if initiator), VR_FLOW_NONE when none. */
uint32_t vt_flow_find(const struct vr_router *r, const char *src, uint16_t sport, uint16_t dport,
		      bool initiator);

extern const uint8_t vt_router_mac[6];

#endif
