/*
 * DOC: vr_pkt_fuzz.c — libFuzzer target for the packet path: any frame, on a
 * pod, fabric or host vif, goes through the whole pipeline (classify and
 * decapsulate, ARP/ND proxy, lookups, encapsulation, ICMP errors, flooding).
 * The first input byte picks the vif. Every buffer must end sent or freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rte_eal.h>
#include "vr_core.h"
#include "vr_internal.h"

#define BUF 2304
#define HEADROOM 128

struct fz_host {
	long live;
};

struct fz_buf {
	struct vr_pkt pkt;
	uint8_t mem[BUF];
};

static void fz_free(void *host, struct vr_pkt *pkt)
{
	((struct fz_host *)host)->live--;
	free((struct fz_buf *)pkt);
}

static void fz_tx(void *host, uint16_t vif, struct vr_pkt *pkt)
{
	(void)vif;
	/* What leaves must lie inside its buffer. */
	struct fz_buf *b = (struct fz_buf *)pkt;
	if (pkt->data < b->mem || pkt->data + pkt->len > b->mem + BUF)
		abort();
	fz_free(host, pkt);
}

static struct vr_pkt *fz_copy(void *host, const struct vr_pkt *pkt, uint16_t headroom)
{
	struct fz_buf *b = malloc(sizeof(*b));
	if (!b || headroom + pkt->len > BUF) {
		free(b);
		return NULL;
	}
	b->pkt = *pkt;
	b->pkt.data = b->mem + headroom;
	b->pkt.headroom = headroom;
	b->pkt.tailroom = (uint16_t)(BUF - headroom - pkt->len);
	memcpy(b->pkt.data, pkt->data, pkt->len);
	((struct fz_host *)host)->live++;
	return &b->pkt;
}

static const struct vr_host_ops fz_ops = { .tx = fz_tx, .free = fz_free, .copy = fz_copy };
static struct fz_host host;
static struct vr_router *router;
static struct tern_log log_;

static void must(int rc, const char *what, const struct vr_err *e)
{
	if (rc < 0) {
		fprintf(stderr, "fuzz set-up: %s: %s\n", what, e->msg);
		abort();
	}
}

static void vif(uint32_t id, uint8_t type, const char *ifname, uint16_t vrf, const char *ip)
{
	struct vr_obj_vif v = { .id = id, .type = type, .vrf = vrf, .mac = { 2, 0, 0, 0, 0, (uint8_t)id } };
	struct vr_err e;
	snprintf(v.ifname, sizeof(v.ifname), "%s", ifname);
	if (ip) {
		v.ip.family = 4;
		v.ip.a[0] = 192, v.ip.a[1] = 0, v.ip.a[2] = 2, v.ip.a[3] = 1;
	}
	must(vr_vif_add(router, &v, &e), "vif", &e);
}

static void nh(struct vr_obj_nh n)
{
	struct vr_err e;
	must(vr_nh_add(router, &n, &e), "nexthop", &e);
}

static void route(uint16_t vrf, uint8_t family, uint8_t plen, uint32_t nh_id, uint8_t last)
{
	struct vr_obj_route rt = { .vrf = vrf, .plen = plen, .nh = nh_id };
	struct vr_err e;
	rt.prefix.family = family;
	if (family == 4) {
		rt.prefix.a[0] = 10, rt.prefix.a[1] = 1, rt.prefix.a[3] = last;
	} else {
		rt.prefix.a[0] = 0xfd, rt.prefix.a[15] = last;
	}
	must(vr_route_add(router, &rt, &e), "route", &e);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char *args[] = { "fz", "--no-huge", "-m", "400", "--no-pci", "--no-shconf", "-l", "0",
			 "--log-level", "error", NULL };
	char err[256];
	if (rte_eal_init(10, args) < 0)
		abort();
	struct vr_config cfg = { .name = "fz", .max_routes = 1024, .fib_tbl8s = 1024, .max_bridge = 1024 };
	tern_log_init(&log_, "fz", NULL, TERN_LOG_ERR);
	router = vr_router_create(&cfg, &log_, &fz_ops, &host, err, sizeof(err));
	if (!router)
		abort();
	vif(0, VR_VIF_FABRIC, "fab", 0, "192.0.2.1");
	vif(1, VR_VIF_KERNEL, "p1", 1, NULL);
	vif(2, VR_VIF_KERNEL, "p2", 2, NULL);
	vif(3, VR_VIF_HOST, "vhost0", 0, NULL);
	struct vr_err e;
	struct vr_obj_vrf l2 = { .id = 2, .flags = VR_VRF_F_L2 | VR_VRF_F_L3 };
	nh((struct vr_obj_nh){ .id = 1, .type = VR_NH_ENCAP, .vif = 1, .vrf = 1 });
	nh((struct vr_obj_nh){ .id = 2, .type = VR_NH_ENCAP, .vif = 2, .vrf = 2 });
	nh((struct vr_obj_nh){ .id = 3, .type = VR_NH_RECEIVE });
	nh((struct vr_obj_nh){ .id = 4, .type = VR_NH_DISCARD });
	for (uint8_t enc = VR_ENCAP_MPLSOUDP; enc < VR_ENCAP_MAX_; enc++) {
		struct vr_obj_nh t = { .id = (uint32_t)(10 + enc), .type = VR_NH_TUNNEL, .vif = 0, .encap = enc,
				       .label = 100, .vni = 5000, .dmac = { 2, 1, 1, 1, 1, 1 } };
		t.dip.family = 4;
		t.dip.a[0] = 192, t.dip.a[1] = 0, t.dip.a[2] = 2, t.dip.a[3] = 2;
		nh(t);
		struct vr_obj_nh t6 = t;
		t6.id += 10;
		t6.flags = VR_NH_F_L2;
		nh(t6);
	}
	nh((struct vr_obj_nh){ .id = 30, .type = VR_NH_ECMP, .n_members = 3, .members = { 11, 12, 13 } });
	nh((struct vr_obj_nh){ .id = 31, .type = VR_NH_FLOOD, .n_members = 3, .members = { 2, 21, 23 } });
	l2.nh = 31;
	must(vr_vrf_add(router, &l2, &e), "vrf", &e);
	route(1, 4, 32, 1, 1);
	route(1, 4, 32, 11, 2);
	route(1, 4, 32, 12, 3);
	route(1, 4, 32, 13, 4);
	route(1, 4, 24, 30, 0);
	route(1, 4, 32, 3, 254);
	route(1, 4, 32, 4, 253);
	route(1, 6, 128, 1, 1);
	route(1, 6, 64, 11, 0);
	route(2, 4, 32, 2, 1);
	route(0, 4, 32, 1, 1);
	must(vr_mpls_add(router, 100, 1, &e), "label", &e);
	must(vr_mpls_add(router, 101, 31, &e), "label", &e);
	must(vr_vni_add(router, 5000, 2, &e), "vni", &e);
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 9 };
	must(vr_bridge_add(router, 2, mac, 2, &e), "bridge", &e);
	/* NAT: a TCP and a UDP service in vrf 1 (a local and a remote backend),
	 * and a floating IP of vif 1 in vrf 2: the NAT stage sees every frame */
	uint8_t recs[2 * VR_BACKEND_LEN];
	struct vr_backend b1 = { .addr = { 4, { 10, 1, 0, 1 } }, .port = 8080 };
	struct vr_backend b2 = { .addr = { 4, { 10, 1, 0, 2 } }, .weight = 3 };
	vr_backend_pack(&b1, 4, recs);
	vr_backend_pack(&b2, 4, recs + VR_BACKEND_LEN);
	for (uint8_t proto = 6; proto <= 17; proto += 11) {
		struct vr_obj_service svc = { .id = proto, .vrf = 1, .ip = { 4, { 10, 1, 0, 100 } },
					      .proto = proto, .dport = proto == 6 ? 80 : 53,
					      .backends = { recs, 2 } };
		must(vr_service_add(router, &svc, &e), "service", &e);
	}
	struct vr_obj_fip fip = { .vrf = 2, .ip = { 4, { 10, 1, 0, 77 } }, .vif = 1,
				  .nat_ip = { 4, { 10, 1, 0, 1 } } };
	must(vr_fip_add(router, &fip, &e), "floating IP", &e);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > BUF - HEADROOM)
		return 0;
	struct fz_buf *b = malloc(sizeof(*b));
	if (!b)
		return 0;
	size_t len = size - 1;
	memset(&b->pkt, 0, sizeof(b->pkt));
	b->pkt.data = b->mem + HEADROOM;
	b->pkt.len = (uint16_t)len;
	b->pkt.headroom = HEADROOM;
	b->pkt.tailroom = (uint16_t)(BUF - HEADROOM - len);
	memcpy(b->pkt.data, data + 1, len);
	host.live++;
	struct vr_pkt *p = &b->pkt;
	vr_pipeline_run(router, data[0] % 5, &p, 1); /* 4: a vif that does not exist */
	if (host.live != 0)
		abort(); /* a buffer was leaked or freed twice */
	return 0;
}
