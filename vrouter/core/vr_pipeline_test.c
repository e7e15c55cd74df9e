/*
 * DOC: vr_pipeline_test.c — packets through the whole pipeline with a fake
 * host: local routing, the three encapsulations byte by byte, decapsulation,
 * ARP and ND proxy, ICMP errors, flooding, drop reasons, no leaked buffer.
 */
#include "vr_test_support.h"
#include "vr_internal.h"

#include <arpa/inet.h>

static const uint8_t fab_mac[6] = { 0x02, 0xfa, 0, 0, 0, 1 };
static const uint8_t peer_mac[6] = { 0x02, 0xfa, 0, 0, 0, 2 };
static const uint8_t pod1_mac[6] = { 0x02, 0, 0, 0, 1, 1 };
static const uint8_t pod2_mac[6] = { 0x02, 0, 0, 0, 1, 2 };

enum { FAB = 0, POD1 = 1, POD2 = 2, POD3 = 3 };

/* Node A: fabric 192.0.2.1, pods 1 and 2 in vrf 1 (10.1.0.1, .2), pod 3 in vrf 2;
 * 10.1.0.9 is on node B (192.0.2.2) behind MPLSoUDP label 100 (nh 10),
 * MPLSoGRE (nh 11) for 10.1.0.10, VXLAN VNI 5001 (nh 12) for 10.1.0.11. */
static struct vr_router *lab(struct vt_host *h)
{
	struct vr_router *r = vt_router(h);
	struct vr_object o = vt_vif(FAB, VR_VIF_FABRIC, "fab0", 0, fab_mac);
	vt_addr(&o.u.vif.ip, "192.0.2.1");
	VR_SET(&o, VR_AT_IP);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_vif(POD1, VR_VIF_KERNEL, "veth1", 1, pod1_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_vif(POD2, VR_VIF_KERNEL, "veth2", 1, pod2_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_vif(POD3, VR_VIF_KERNEL, "veth3", 2, pod1_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_encap(1, POD1, 1, pod1_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_encap(2, POD2, 1, pod2_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_encap(3, POD3, 2, pod1_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_tunnel(10, FAB, VR_ENCAP_MPLSOUDP, "192.0.2.2", peer_mac, 100);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_tunnel(11, FAB, VR_ENCAP_MPLSOGRE, "192.0.2.2", peer_mac, 101);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_tunnel(12, FAB, VR_ENCAP_VXLAN, "192.0.2.2", peer_mac, 5001);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	const struct { uint16_t vrf; const char *p; uint8_t plen; uint32_t nh; } rts[] = {
		{ 1, "10.1.0.1", 32, 1 }, { 1, "10.1.0.2", 32, 2 }, { 2, "10.1.0.1", 32, 3 },
		{ 1, "10.1.0.9", 32, 10 }, { 1, "10.1.0.10", 32, 11 }, { 1, "10.1.0.11", 32, 12 },
		{ 1, "fd00:1::1", 128, 1 }, { 1, "fd00:1::9", 128, 10 },
	};
	for (size_t i = 0; i < sizeof(rts) / sizeof(rts[0]); i++) {
		o = vt_route(rts[i].vrf, rts[i].p, rts[i].plen, rts[i].nh);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	}
	struct vr_object l = { .obj = VR_OBJ_MPLS };
	l.u.mpls.label = 200;
	l.u.mpls.nh = 1;
	VR_SET(&l, VR_AT_LABEL);
	VR_SET(&l, VR_AT_NH);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &l, NULL), 0);
	struct vr_object v = { .obj = VR_OBJ_VNI };
	v.u.vni.vni = 5001;
	v.u.vni.vrf = 1;
	VR_SET(&v, VR_AT_VNI);
	VR_SET(&v, VR_AT_VRF);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &v, NULL), 0);
	return r;
}

static void run(struct vr_router *r, struct vt_host *h, uint16_t vif, const uint8_t *f, size_t len)
{
	struct vr_pkt *p = vt_pkt(h, f, len);
	vr_pipeline_run(r, vif, &p, 1);
}

/* Send one small UDP packet from pod 1 to dst; exactly one frame must leave. */
static const struct vt_sent *send_one(struct vr_router *r, struct vt_host *h, const char *dst)
{
	uint8_t f[256];
	size_t n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", dst, 1000, 2000, 10, 64);
	run(r, h, POD1, f, n);
	assert_int_equal(h->n_sent, 1);
	return &h->sent[0];
}

static void done(struct vr_router *r, struct vt_host *h)
{
	assert_int_equal(h->live, 0); /* every buffer sent or freed */
	vr_router_destroy(r);
}


static void test_local_route(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[256];
	struct vr_router *r = lab(&h);
	size_t n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.2", 1000, 2000, 10, 64);
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 1);
	const struct vt_sent *s = &h.sent[0];
	assert_int_equal(s->vif, POD2);
	assert_memory_equal(s->data, pod2_mac, 6);
	assert_memory_equal(s->data + 6, vt_router_mac, 6);
	assert_int_equal(s->data[14 + 8], 63);                  /* TTL decremented */
	assert_int_equal(vt_sum16(s->data + 14, 20), 0xffff);      /* header checksum still right */
	done(r, &h);
}

static void check_outer_ipv4(const struct vt_sent *s, uint8_t proto)
{
	assert_int_equal(s->vif, FAB);
	assert_memory_equal(s->data, peer_mac, 6);
	assert_memory_equal(s->data + 6, fab_mac, 6);
	assert_int_equal(vr_rd16(s->data + 12), 0x0800);
	const uint8_t *ip = s->data + 14;
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[9], proto);
	assert_int_equal(vr_rd16(ip + 2), s->len - 14);
	assert_int_equal(vt_sum16(ip, 20), 0xffff);
	uint8_t a[4];
	inet_pton(AF_INET, "192.0.2.1", a);
	assert_memory_equal(ip + 12, a, 4);
	inet_pton(AF_INET, "192.0.2.2", a);
	assert_memory_equal(ip + 16, a, 4);
}

static void test_mplsoudp_encap(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[256];
	struct vr_router *r = lab(&h);
	size_t n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.9", 1000, 2000, 10, 64);
	run(r, &h, POD1, f, n);
	n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.9", 1001, 2000, 10, 64);
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 2);
	const struct vt_sent *s = &h.sent[0];
	check_outer_ipv4(s, 17);
	const uint8_t *udp = s->data + 34;
	assert_int_equal(vr_rd16(udp + 2), 6635);
	assert_true(vr_rd16(udp) >= 49152);
	assert_int_equal(vr_rd16(udp + 4), s->len - 34);
	uint32_t lse = vr_rd32(udp + 8);
	assert_int_equal(lse >> 12, 100);
	assert_true(lse & 0x100);                          /* bottom of stack */
	assert_int_equal(s->data[46], 0x45);              /* inner IPv4 right after the label */
	assert_int_equal(s->data[46 + 8], 63);
	assert_int_equal(s->len, 46 + 38);
	/* another flow, another source port */
	assert_int_not_equal(vr_rd16(udp), vr_rd16(h.sent[1].data + 34));
	done(r, &h);
}

static void test_mplsogre_encap(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = lab(&h);
	const struct vt_sent *s = send_one(r, &h, "10.1.0.10");
	check_outer_ipv4(s, 47);
	assert_int_equal(vr_rd16(s->data + 34), 0);
	assert_int_equal(vr_rd16(s->data + 36), 0x8847);
	assert_int_equal(vr_rd32(s->data + 38) >> 12, 101);
	assert_int_equal(s->data[42], 0x45);
	done(r, &h);
}

static void test_vxlan_encap(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = lab(&h);
	const struct vt_sent *s = send_one(r, &h, "10.1.0.11");
	check_outer_ipv4(s, 17);
	assert_int_equal(vr_rd16(s->data + 36), 4789);
	assert_int_equal(s->data[42], 0x08);
	assert_int_equal(vr_rd32(s->data + 46) >> 8, 5001);
	assert_memory_equal(s->data + 50, vt_router_mac, 6); /* inner Ethernet to the remote vrouter */
	assert_int_equal(vr_rd16(s->data + 50 + 12), 0x0800);
	assert_int_equal(s->data[64], 0x45);
	done(r, &h);
}

/* Wrap an inner IP packet (from a frame) in outer headers addressed to node A. */
static size_t fabric_frame(uint8_t *out, const uint8_t *inner_frame, size_t inner_len, uint8_t encap,
			   uint32_t id)
{
	uint8_t hdr[80] = { 0 };
	size_t h = 0;
	memcpy(hdr, fab_mac, 6);
	memcpy(hdr + 6, peer_mac, 6);
	vr_wr16(hdr + 12, 0x0800);
	uint8_t *ip = hdr + 14;
	ip[0] = 0x45;
	ip[8] = 64;
	ip[9] = encap == VR_ENCAP_MPLSOGRE ? 47 : 17;
	inet_pton(AF_INET, "192.0.2.2", ip + 12);
	inet_pton(AF_INET, "192.0.2.1", ip + 16);
	h = 34;
	const uint8_t *payload = inner_frame + 14;
	size_t plen = inner_len - 14;
	if (encap == VR_ENCAP_MPLSOGRE) {
		vr_wr16(hdr + h + 2, 0x8847);
		vr_wr32(hdr + h + 4, id << 12 | 0x100 | 64);
		h += 8;
	} else if (encap == VR_ENCAP_MPLSOUDP) {
		vr_wr16(hdr + h, 50000);
		vr_wr16(hdr + h + 2, 6635);
		vr_wr16(hdr + h + 4, (uint16_t)(8 + 4 + plen));
		vr_wr32(hdr + h + 8, id << 12 | 0x100 | 64);
		h += 12;
	} else {
		vr_wr16(hdr + h, 50000);
		vr_wr16(hdr + h + 2, 4789);
		vr_wr16(hdr + h + 4, (uint16_t)(16 + inner_len));
		hdr[h + 8] = 0x08;
		vr_wr32(hdr + h + 12, id << 8);
		h += 16;
		payload = inner_frame;
		plen = inner_len;
	}
	vr_wr16(ip + 2, (uint16_t)(h - 14 + plen));
	vr_wr16(ip + 10, (uint16_t)~vt_sum16(ip, 20));
	memcpy(out, hdr, h);
	memcpy(out + h, payload, plen);
	return h + plen;
}

static void test_decap(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t inner[256], f[512];
	struct vr_router *r = lab(&h);
	size_t in = vt_ipv4_udp(inner, vt_router_mac, peer_mac, "10.1.0.9", "10.1.0.1", 7, 8, 20, 40);
	run(r, &h, FAB, f, fabric_frame(f, inner, in, VR_ENCAP_MPLSOUDP, 200));
	run(r, &h, FAB, f, fabric_frame(f, inner, in, VR_ENCAP_MPLSOGRE, 200));
	run(r, &h, FAB, f, fabric_frame(f, inner, in, VR_ENCAP_VXLAN, 5001));
	assert_int_equal(h.n_sent, 3);
	for (unsigned i = 0; i < 3; i++) {
		const struct vt_sent *s = &h.sent[i];
		assert_int_equal(s->vif, POD1);
		assert_memory_equal(s->data, pod1_mac, 6);
		assert_int_equal(s->len, in);
		assert_int_equal(s->data[14 + 8], 39);
		assert_memory_equal(s->data + 14 + 20, inner + 14 + 20, 28); /* UDP and payload intact */
	}
	/* unknown label, unknown VNI, tunnel for another node */
	run(r, &h, FAB, f, fabric_frame(f, inner, in, VR_ENCAP_MPLSOUDP, 999));
	run(r, &h, FAB, f, fabric_frame(f, inner, in, VR_ENCAP_VXLAN, 77));
	assert_int_equal(r->drops[VR_DROP_NO_LABEL], 1);
	assert_int_equal(r->drops[VR_DROP_NO_VNI], 1);
	size_t n = fabric_frame(f, inner, in, VR_ENCAP_MPLSOUDP, 200);
	f[14 + 19] = 99; /* outer destination 192.0.2.99 */
	run(r, &h, FAB, f, n);
	assert_int_equal(r->drops[VR_DROP_NO_HOST_VIF], 1); /* not ours: for the kernel, none here */
	/* truncated tunnel header */
	n = fabric_frame(f, inner, in, VR_ENCAP_MPLSOUDP, 200);
	vr_wr16(f + 16, 20 + 8 + 2);
	run(r, &h, FAB, f, 14 + 30);
	assert_int_equal(r->drops[VR_DROP_BAD_ENCAP], 1);
	done(r, &h);
}

static void test_isolation(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[256];
	struct vr_router *r = lab(&h);
	/* pod 3 (vrf 2) has the same address as pod 1 but reaches nothing in vrf 1 */
	size_t n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.2", 1, 2, 0, 64);
	run(r, &h, POD3, f, n);
	assert_int_equal(h.n_sent, 0);
	assert_int_equal(r->drops[VR_DROP_NO_ROUTE], 1);
	done(r, &h);
}

static void test_arp_proxy(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[64];
	struct vr_router *r = lab(&h);
	run(r, &h, POD1, f, vt_arp_req(f, pod1_mac, "10.1.0.1", "10.1.0.9"));
	assert_int_equal(h.n_sent, 1);
	const struct vt_sent *s = &h.sent[0];
	assert_int_equal(s->vif, POD1);
	assert_memory_equal(s->data, pod1_mac, 6);
	assert_int_equal(vr_rd16(s->data + 20), 2);                 /* reply */
	assert_memory_equal(s->data + 22, vt_router_mac, 6);       /* sender hw: the vrouter */
	uint8_t a[4];
	inet_pton(AF_INET, "10.1.0.9", a);
	assert_memory_equal(s->data + 28, a, 4);
	assert_memory_equal(s->data + 32, pod1_mac, 6);
	/* no route: no answer; own address: no answer */
	run(r, &h, POD1, f, vt_arp_req(f, pod1_mac, "10.1.0.1", "10.1.0.200"));
	run(r, &h, POD1, f, vt_arp_req(f, pod1_mac, "10.1.0.5", "10.1.0.1"));
	assert_int_equal(h.n_sent, 1);
	assert_int_equal(r->drops[VR_DROP_ARP_NOT_ME], 2);
	/* the fabric address on the fabric */
	run(r, &h, FAB, f, vt_arp_req(f, peer_mac, "192.0.2.2", "192.0.2.1"));
	assert_int_equal(h.n_sent, 2);
	assert_int_equal(h.sent[1].vif, FAB);
	assert_memory_equal(h.sent[1].data + 22, fab_mac, 6);
	done(r, &h);
}

static void test_nd_proxy(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[128] = { 0 };
	struct vr_router *r = lab(&h);
	static const uint8_t mc[6] = { 0x33, 0x33, 0xff, 0, 0, 9 };
	memcpy(f, mc, 6);
	memcpy(f + 6, pod1_mac, 6);
	vr_wr16(f + 12, 0x86dd);
	uint8_t *ip = f + 14;
	ip[0] = 0x60;
	vr_wr16(ip + 4, 32);
	ip[6] = 58;
	ip[7] = 255;
	inet_pton(AF_INET6, "fd00:1::1", ip + 8);
	inet_pton(AF_INET6, "ff02::1:ff00:9", ip + 24);
	uint8_t *icmp = ip + 40;
	icmp[0] = 135;
	inet_pton(AF_INET6, "fd00:1::9", icmp + 8);
	icmp[24] = 1;
	icmp[25] = 1;
	memcpy(icmp + 26, pod1_mac, 6);
	run(r, &h, POD1, f, 14 + 40 + 32);
	assert_int_equal(h.n_sent, 1);
	const struct vt_sent *s = &h.sent[0];
	assert_int_equal(s->vif, POD1);
	assert_memory_equal(s->data, pod1_mac, 6);
	const uint8_t *rip = s->data + 14, *ricmp = rip + 40;
	assert_int_equal(ricmp[0], 136);
	assert_memory_equal(rip + 8, icmp + 8, 16);                 /* from the target */
	assert_memory_equal(ricmp + 26, vt_router_mac, 6);
	/* checksum over the pseudo-header verifies to 0xffff */
	uint32_t sum = 0;
	for (int i = 8; i < 40; i += 2) sum += vr_rd16(rip + i);
	sum += 32 + 58;
	for (int i = 0; i < 32; i += 2) sum += vr_rd16(ricmp + i);
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
	done(r, &h);
}

static void test_ipv6_encap(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[256];
	struct vr_router *r = lab(&h);
	size_t n = vt_ipv6_udp(f, vt_router_mac, pod1_mac, "fd00:1::1", "fd00:1::9", 5, 6, 16);
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 1);
	const struct vt_sent *s = &h.sent[0];
	check_outer_ipv4(s, 17);
	assert_int_equal(s->data[46] >> 4, 6);
	assert_int_equal(s->data[46 + 7], 63); /* hop limit */
	done(r, &h);
}

static void test_icmp_errors(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[2048];
	struct vr_router *r = lab(&h);
	/* 1480-byte IP packet with DF: 1480 + 32 > 1500 */
	size_t n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.9", 1, 2, 1452, 64);
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 1);
	const struct vt_sent *s = &h.sent[0];
	assert_int_equal(s->vif, POD1);
	assert_memory_equal(s->data, pod1_mac, 6);
	const uint8_t *ip = s->data + 14, *icmp = ip + 20;
	assert_int_equal(ip[9], 1);
	assert_int_equal(icmp[0], 3);
	assert_int_equal(icmp[1], 4);
	assert_int_equal(vr_rd16(icmp + 6), 1500 - 32);
	assert_int_equal(vt_sum16(ip, 20), 0xffff);
	assert_int_equal(vt_sum16(icmp, s->len - 34u), 0xffff);
	assert_int_equal(r->drops[VR_DROP_FRAG_NEEDED], 1);
	/* TTL 1: time exceeded */
	n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.2", 1, 2, 10, 1);
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 2);
	assert_int_equal(h.sent[1].data[34], 11);
	assert_int_equal(r->drops[VR_DROP_TTL_EXCEEDED], 1);
	done(r, &h);
}

static void test_icmp_vxlan_l2l3(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[2048];
	struct vr_router *r = lab(&h);
	struct vr_object v = vt_vrf(1, VR_VRF_F_L2 | VR_VRF_F_L3, 0);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &v, NULL), 0);
	/* 1500-byte IP packet with DF to 10.1.0.11 (VXLAN): 1500 + 14 + 36 > 1500 */
	size_t n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.11", 1, 2, 1472, 64);
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 1);
	const struct vt_sent *s = &h.sent[0];
	assert_int_equal(s->vif, POD1);
	assert_memory_equal(s->data, pod1_mac, 6);
	assert_int_equal(vr_rd16(s->data + 12), 0x0800);
	const uint8_t *ip = s->data + 14, *icmp = ip + 20;
	assert_int_equal(ip[9], 1);
	assert_int_equal(icmp[0], 3);
	assert_int_equal(vr_rd16(icmp + 6), 1450);
	assert_int_equal(vr_rd16(ip + 2), s->len - 14u);
	assert_int_equal(vt_sum16(ip, 20), 0xffff);
	assert_int_equal(vt_sum16(icmp, s->len - 34u), 0xffff);
	assert_memory_equal(icmp + 8, f + 14, 20);   /* the quoted header is the original's */
	/* a ping (echo request) gets its error too; an ICMP error does not */
	uint8_t *ip_in = f + 14;
	ip_in[9] = 1;
	ip_in[10] = ip_in[11] = 0;
	vr_wr16(ip_in + 10, (uint16_t)~vt_sum16(ip_in, 20));
	ip_in[20] = 8;
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 2);
	ip_in[20] = 3;
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 2);
	assert_int_equal(r->drops[VR_DROP_FRAG_NEEDED], 3);
	done(r, &h);
}

/* An IPv6 underlay: outer IPv6 with a UDP checksum, and decapsulation of it. */
static void test_ipv6_underlay(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[512], t[512];
	struct vr_router *r = vt_router(&h);
	struct vr_object o = vt_vif(FAB, VR_VIF_FABRIC, "fab0", 0, fab_mac);
	vt_addr(&o.u.vif.ip, "2001:db8::1");
	VR_SET(&o, VR_AT_IP);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_vif(POD1, VR_VIF_KERNEL, "veth1", 1, pod1_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_encap(1, POD1, 1, pod1_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_tunnel(10, FAB, VR_ENCAP_MPLSOUDP, "2001:db8::2", peer_mac, 100);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_route(1, "10.1.0.9", 32, 10);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	struct vr_object l = { .obj = VR_OBJ_MPLS };
	l.u.mpls.label = 200;
	l.u.mpls.nh = 1;
	VR_SET(&l, VR_AT_LABEL);
	VR_SET(&l, VR_AT_NH);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &l, NULL), 0);

	size_t n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.9", 1000, 2000, 10, 64);
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 1);
	const struct vt_sent *s = &h.sent[0];
	assert_int_equal(vr_rd16(s->data + 12), 0x86dd);
	const uint8_t *ip6 = s->data + 14, *udp = ip6 + 40;
	assert_int_equal(ip6[6], 17);
	assert_int_equal(vr_rd16(ip6 + 4), s->len - 54u);
	assert_int_equal(vr_rd16(udp + 2), 6635);
	assert_int_equal(vr_rd32(udp + 8) >> 12, 100);
	/* the UDP checksum verifies over the pseudo-header */
	uint32_t sum = 0;
	for (int i = 8; i < 40; i += 2) sum += vr_rd16(ip6 + i);
	uint32_t ulen = s->len - 54u;
	sum += ulen + 17;
	for (uint32_t i = 0; i + 1 < ulen; i += 2) sum += vr_rd16(udp + i);
	if (ulen & 1) sum += (uint32_t)udp[ulen - 1] << 8;
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);

	/* decapsulation: the same frame turned around, label 200 to pod 1 */
	memcpy(t, s->data, s->len);
	memcpy(t, fab_mac, 6);
	memcpy(t + 6, peer_mac, 6);
	uint8_t tmp[16];
	memcpy(tmp, t + 14 + 8, 16);
	memcpy(t + 14 + 8, t + 14 + 24, 16);
	memcpy(t + 14 + 24, tmp, 16);
	vr_wr32(t + 54 + 8, 200u << 12 | 0x100 | 64);
	run(r, &h, FAB, t, s->len);
	assert_int_equal(h.n_sent, 2);
	assert_int_equal(h.sent[1].vif, POD1);
	assert_int_equal(h.sent[1].data[14], 0x45);
	done(r, &h);
}

static void test_flood_and_ecmp(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[256];
	struct vr_router *r = lab(&h);
	/* vrf 1 becomes l2+l3 with a flood list: pod1, pod2, node B */
	static const uint32_t flood_members[] = { 1, 2, 12 };
	struct vr_object o = vt_nh_composite(20, VR_NH_FLOOD, flood_members, 3);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	struct vr_object v = vt_vrf(1, VR_VRF_F_L2 | VR_VRF_F_L3, 20);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &v, NULL), 0);
	/* broadcast from pod1: to pod2 and node B, not back to pod1 */
	size_t n = vt_ipv4_udp(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", pod1_mac, "10.1.0.1",
			       "10.1.0.255", 1, 2, 4, 64);
	run(r, &h, POD1, f, n);
	assert_int_equal(h.n_sent, 2);
	assert_int_equal(h.sent[0].vif, POD2);
	assert_int_equal(h.sent[0].len, n);
	assert_int_equal(h.sent[1].vif, FAB);
	assert_int_equal(vr_rd16(h.sent[1].data + 36), 4789);
	assert_memory_equal(h.sent[1].data + 50, f, n);     /* the whole frame, bridged */
	/* ECMP over two tunnels spreads flows */
	static const uint32_t ecmp_members[] = { 10, 11 };
	o = vt_nh_composite(21, VR_NH_ECMP, ecmp_members, 2);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_route(1, "10.7.0.0", 16, 21);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	unsigned udp = 0, gre = 0;
	h.n_sent = 0;
	for (uint16_t p = 0; p < 40; p++) {
		n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.7.0.1", (uint16_t)(1000 + p), 80, 4, 64);
		run(r, &h, POD1, f, n);
		if (h.sent[h.n_sent - 1].data[23] == 17)
			udp++;
		else
			gre++;
	}
	assert_true(udp >= 8 && gre >= 8);
	done(r, &h);
}

static void test_malformed_never_leaks(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[256];
	struct vr_router *r = lab(&h);
	size_t n = vt_ipv4_udp(f, vt_router_mac, pod1_mac, "10.1.0.1", "10.1.0.9", 1, 2, 20, 64);
	/* every truncation of a good packet, on a pod vif and as tunnel payload */
	for (size_t l = 0; l <= n; l++)
		run(r, &h, POD1, f, l);
	uint8_t t[512];
	size_t tn = fabric_frame(t, f, n, VR_ENCAP_MPLSOUDP, 200);
	for (size_t l = 0; l <= tn; l++)
		run(r, &h, FAB, t, l);
	/* a vif that does not exist */
	run(r, &h, 77, f, n);
	assert_int_equal(r->drops[VR_DROP_INVALID_VIF], 1);
	done(r, &h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_route),
		cmocka_unit_test(test_mplsoudp_encap),
		cmocka_unit_test(test_mplsogre_encap),
		cmocka_unit_test(test_vxlan_encap),
		cmocka_unit_test(test_decap),
		cmocka_unit_test(test_isolation),
		cmocka_unit_test(test_arp_proxy),
		cmocka_unit_test(test_nd_proxy),
		cmocka_unit_test(test_ipv6_encap),
		cmocka_unit_test(test_icmp_errors),
		cmocka_unit_test(test_icmp_vxlan_l2l3),
		cmocka_unit_test(test_ipv6_underlay),
		cmocka_unit_test(test_flood_and_ecmp),
		cmocka_unit_test(test_malformed_never_leaks),
	};
	return cmocka_run_group_tests_name("vr_pipeline", tests, NULL, NULL);
}
