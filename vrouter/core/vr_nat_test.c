/* DOC: vr_nat_test.c — services and floating IPs in the data path: a VIP
 * spread over local and remote backends within 15% of even, replies carrying
 * the VIP, checksums right after translation (IPv4 and IPv6, TCP and UDP),
 * existing connections pinned when a backend is added, a removed backend's
 * flows gone, no backend -> NO_BACKEND; a floating IP reachable from its
 * public VRF and used by the pod to reach it; refusals over the control
 * protocol; the flow dump with the translation. */
#include "vr_test_support.h"
#include "vr_internal.h"

#include <arpa/inet.h>
#include <stdio.h>

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 1, 1 };
static const uint8_t mac2[6] = { 0x02, 0, 0, 0, 1, 2 };
static const uint8_t mac3[6] = { 0x02, 0, 0, 0, 1, 3 };
static const uint8_t fab_mac[6] = { 0x02, 0xfa, 0, 0, 0, 1 };
static const uint8_t peer_mac[6] = { 0x02, 0xfa, 0, 0, 0, 2 };

enum { FAB = 0, POD1 = 1, POD2 = 2, POD3 = 3 };
enum { NH_TUN3 = 10, NH_TUN4 = 11, NH_TUN5 = 12 };
#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define SVC 7

/* The L4 checksum of an IPv4 or IPv6 packet's TCP/UDP/ICMPv6 segment:
 * 0xffff when right. */
static uint16_t l4_sum(const uint8_t *ip)
{
	bool v4 = ip[0] >> 4 == 4;
	uint8_t pseudo[40] = { 0 };
	size_t pl;
	uint32_t len, hl = v4 ? 20 : 40;
	if (v4) {
		len = vr_rd16(ip + 2) - hl;
		memcpy(pseudo, ip + 12, 8);
		pseudo[9] = ip[9];
		vr_wr16(pseudo + 10, (uint16_t)len);
		pl = 12;
	} else {
		len = vr_rd16(ip + 4);
		memcpy(pseudo, ip + 8, 32);
		vr_wr32(pseudo + 32, len);
		pseudo[39] = ip[6];
		pl = 40;
	}
	uint32_t s = (uint32_t)vt_sum16(pseudo, pl) + vt_sum16(ip + hl, len);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void fix_l4(uint8_t *ip)
{
	bool v4 = ip[0] >> 4 == 4;
	uint8_t proto = v4 ? ip[9] : ip[6];
	uint8_t *l4 = ip + (v4 ? 20 : 40);
	uint8_t *c = proto == 6 ? l4 + 16 : proto == 17 ? l4 + 6 : l4 + 2;
	vr_wr16(c, 0);
	vr_wr16(c, (uint16_t)~l4_sum(ip));
	if (v4) {
		vr_wr16(ip + 10, 0);
		vr_wr16(ip + 10, (uint16_t)~vt_sum16(ip, 20));
	}
}

/* A TCP (flags) or UDP (proto 17) packet from a pod, checksums valid. */
static size_t pod_frame(uint8_t *f, const uint8_t *smac, const char *src, const char *dst,
			uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
	bool v6 = strchr(src, ':') != NULL;
	size_t n = v6 ? vt_ipv6_udp(f, vt_router_mac, smac, src, dst, sport, dport, 24)
		      : vt_ipv4_udp(f, vt_router_mac, smac, src, dst, sport, dport, 24, 64);
	uint8_t *ip = f + 14;
	uint8_t *l4 = ip + (v6 ? 40 : 20);
	if (proto == 6) {
		if (v6)
			ip[6] = 6;
		else
			ip[9] = 6;
		memset(l4 + 4, 0, 8);
		l4[12] = 0x50;
		l4[13] = flags;
	}
	fix_l4(ip);
	return n;
}

struct got {
	bool sent;
	uint16_t vif;
	uint8_t ip[64];       /* the (inner) IP header and first L4 bytes as sent */
	bool csum_ok;
};

/* Run one frame in from a vif; what came out (the inner packet for tunnels). */
static struct got run(struct vr_router *r, struct vt_host *h, uint16_t in, const uint8_t *f, size_t n)
{
	struct got g = { 0 };
	unsigned before = h->n_sent;
	struct vr_pkt *p = vt_pkt(h, f, n);
	vr_pipeline_run(r, in, &p, 1);
	if (h->n_sent != before + 1)
		return g;
	const struct vt_sent *s = &h->sent[h->n_sent - 1];
	h->n_sent = 0; /* keep room */
	g.sent = true;
	g.vif = s->vif;
	size_t off = 14;
	if (s->vif == FAB) /* IPv4 outer + UDP + MPLS */
		off = 14 + 20 + 8 + 4;
	const uint8_t *ip = s->data + off;
	memcpy(g.ip, ip, sizeof(g.ip));
	bool v4 = ip[0] >> 4 == 4;
	g.csum_ok = l4_sum(ip) == 0xffff && (!v4 || vt_sum16(ip, 20) == 0xffff);
	return g;
}

static void add(struct vr_router *r, struct vr_object o)
{
	char msg[256];
	int rc = vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg));
	if (rc)
		fail_msg("%s: %s", vr_obj_name(o.obj), msg);
}

/* vrf 1: pods 1 (10.1.0.1, fd00::1) and 2 (10.1.0.2, fd00::2), remote
 * 10.1.0.3-5 behind MPLSoUDP tunnels; vrf 2 (public): pod 3 (203.0.113.5). */
static struct vr_router *setup(struct vt_host *h)
{
	struct vr_router *r = vt_router_flows(h, 8192);
	struct vr_object o = vt_vif(FAB, VR_VIF_FABRIC, "fab0", 0, fab_mac);
	vt_addr(&o.u.vif.ip, "192.0.2.1");
	VR_SET(&o, VR_AT_IP);
	add(r, o);
	struct vr_object v = { .obj = VR_OBJ_VRF };
	v.u.vrf.id = 2;
	VR_SET(&v, VR_AT_ID);
	add(r, v);
	const uint8_t *macs[] = { NULL, mac1, mac2, mac3 };
	const char *a4[] = { NULL, "10.1.0.1", "10.1.0.2", "203.0.113.5" };
	const char *a6[] = { NULL, "fd00::1", "fd00::2", "2001:db8::5" };
	for (uint32_t i = 1; i <= 3; i++) {
		uint16_t vrf = i == 3 ? 2 : 1;
		add(r, vt_vif(i, VR_VIF_KERNEL, i == 1 ? "v1" : i == 2 ? "v2" : "v3", vrf, macs[i]));
		add(r, vt_nh_encap(i, i, vrf, macs[i]));
		add(r, vt_route(vrf, a4[i], 32, i));
		add(r, vt_route(vrf, a6[i], 128, i));
	}
	const char *remote[] = { "10.1.0.3", "10.1.0.4", "10.1.0.5" };
	const char *tdst[] = { "192.0.2.3", "192.0.2.4", "192.0.2.5" };
	for (uint32_t i = 0; i < 3; i++) {
		add(r, vt_nh_tunnel(NH_TUN3 + i, FAB, VR_ENCAP_MPLSOUDP, tdst[i], peer_mac, 100 + i));
		add(r, vt_route(1, remote[i], 32, NH_TUN3 + i));
	}
	vr_set_now(r, 1000);
	return r;
}

static void done(struct vr_router *r, struct vt_host *h)
{
	assert_int_equal(h->live, 0);
	vr_router_destroy(r);
}

static int service_set(struct vr_router *r, uint32_t id, uint16_t vrf, const char *vip, uint8_t proto,
		       uint16_t port, const char *const *be, unsigned n, uint16_t be_port, char *msg)
{
	static uint8_t recs[VR_SVC_MAX_BACKENDS * VR_BACKEND_LEN];
	struct vr_object o = { .obj = VR_OBJ_SERVICE };
	o.u.service.id = id;
	o.u.service.vrf = vrf;
	vt_addr(&o.u.service.ip, vip);
	o.u.service.proto = proto;
	o.u.service.dport = port;
	for (unsigned i = 0; i < n; i++) {
		struct vr_backend b = { .port = be_port };
		vt_addr(&b.addr, be[i]);
		vr_backend_pack(&b, b.addr.family, recs + i * VR_BACKEND_LEN); /* as given: may mismatch */
	}
	o.u.service.backends = (struct vr_recs){ recs, (uint16_t)n };
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_VRF);
	VR_SET(&o, VR_AT_IP);
	VR_SET(&o, VR_AT_PROTO);
	VR_SET(&o, VR_AT_DPORT);
	VR_SET(&o, VR_AT_BACKENDS);
	char buf[256];
	return vt_ctl_err(r, VR_OP_ADD, &o, msg ? msg : buf, 256);
}

/* Which backend (index in be[]) a transmitted packet went to; -1 none. */
static int backend_of(const struct got *g, const char *const *be, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t a[4];
		inet_pton(AF_INET, be[i], a);
		if (!memcmp(g->ip + 16, a, 4))
			return (int)i;
	}
	return -1;
}

static const char *const BE4[] = { "10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5" };

/* 900 connections to a service of three backends (one local, two remote):
 * within 15% of even, every packet translated with right checksums; each
 * connection's later packets stay on its backend; the reply of the local
 * backend reaches the client from the VIP. */
static void test_service_spread_and_reply(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 6, 80, BE4, 3, 8080, NULL), 0);
	int count[3] = { 0 }, first[900];
	uint8_t f[256];
	for (int c = 0; c < 900; c++) {
		size_t n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 6, (uint16_t)(20000 + c), 80, TCP_SYN);
		struct got g = run(r, &h, POD1, f, n);
		assert_true(g.sent);
		assert_true(g.csum_ok);
		int b = backend_of(&g, BE4, 3);
		assert_true(b >= 0);
		assert_int_equal(vr_rd16(g.ip + 22), 8080); /* the backend's port */
		assert_int_equal(g.vif, b == 0 ? POD2 : FAB);
		count[b]++;
		first[c] = b;
	}
	for (int b = 0; b < 3; b++)
		assert_true(count[b] >= 255 && count[b] <= 345);
	/* later packets of each connection: the same backend */
	for (int c = 0; c < 900; c += 7) {
		size_t n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 6, (uint16_t)(20000 + c), 80, TCP_ACK);
		struct got g = run(r, &h, POD1, f, n);
		assert_int_equal(backend_of(&g, BE4, 3), first[c]);
	}
	/* the local backend answers one of its clients: the client sees the VIP */
	int c0 = 0;
	while (first[c0] != 0)
		c0++;
	size_t n = pod_frame(f, mac2, "10.1.0.2", "10.1.0.1", 6, 8080, (uint16_t)(20000 + c0),
			     TCP_SYN | TCP_ACK);
	struct got g = run(r, &h, POD2, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD1);
	assert_true(g.csum_ok);
	uint8_t vip[4];
	inet_pton(AF_INET, "10.96.0.10", vip);
	assert_memory_equal(g.ip + 12, vip, 4);
	assert_int_equal(vr_rd16(g.ip + 20), 80);
	/* the service's counters: one new flow per connection */
	struct vr_object q = { .obj = VR_OBJ_SERVICE }, out;
	q.u.service.id = SVC;
	VR_SET(&q, VR_AT_ID);
	assert_int_equal(vt_ctl(r, VR_OP_GET, &q, &out), 0);
	assert_int_equal(out.u.service.backends.n, 3);
	uint64_t total = 0;
	for (int b = 0; b < 3; b++)
		total += vr_rd32(out.u.service.backend_stats.p + b * 8 + 4);
	assert_int_equal(total, 900);
	/* the client resolves the VIP (no route holds it): the vrouter answers */
	n = vt_arp_req(f, mac1, "10.1.0.1", "10.96.0.10");
	unsigned before = h.n_sent;
	struct vr_pkt *p = vt_pkt(&h, f, n);
	vr_pipeline_run(r, POD1, &p, 1);
	assert_int_equal(h.n_sent, before + 1);
	assert_memory_equal(h.sent[h.n_sent - 1].data + 22, vt_router_mac, 6); /* sender MAC */
	n = vt_arp_req(f, mac1, "10.1.0.1", "10.96.0.11");
	before = h.n_sent;
	p = vt_pkt(&h, f, n);
	vr_pipeline_run(r, POD1, &p, 1);
	assert_int_equal(h.n_sent, before); /* not a VIP: no answer */
	done(r, &h);
}

/* A fourth backend: no existing connection moves; new ones reach it too.
 * Removing a backend removes only its connections' flows. */
static void test_backend_added_and_removed(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 6, 80, BE4, 3, 0, NULL), 0);
	uint8_t f[256];
	int first[300];
	for (int c = 0; c < 300; c++) {
		size_t n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 6, (uint16_t)(30000 + c), 80, TCP_SYN);
		struct got g = run(r, &h, POD1, f, n);
		first[c] = backend_of(&g, BE4, 4);
		assert_int_equal(vr_rd16(g.ip + 22), 80); /* port 0: the service's */
	}
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 6, 80, BE4, 4, 0, NULL), 0);
	while (vr_flow_busy(r))
		vr_flow_age(r, 64);
	for (int c = 0; c < 300; c++) {
		size_t n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 6, (uint16_t)(30000 + c), 80, TCP_ACK);
		struct got g = run(r, &h, POD1, f, n);
		assert_int_equal(backend_of(&g, BE4, 4), first[c]);
	}
	int fourth = 0;
	for (int c = 0; c < 300; c++) {
		size_t n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 6, (uint16_t)(40000 + c), 80, TCP_SYN);
		struct got g = run(r, &h, POD1, f, n);
		fourth += backend_of(&g, BE4, 4) == 3;
	}
	assert_true(fourth > 40); /* about a quarter */
	/* remove backend 10.1.0.3 (index 1): only its flows go */
	const char *const left[] = { "10.1.0.2", "10.1.0.4", "10.1.0.5" };
	uint32_t before = r->flow.n_used;
	int had = 0;
	for (int c = 0; c < 300; c++)
		had += first[c] == 1;
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 6, 80, left, 3, 0, NULL), 0);
	while (vr_flow_busy(r))
		vr_flow_age(r, 64);
	assert_true(r->flow.n_used < before);
	assert_true(before - r->flow.n_used >= (uint32_t)had * 2);
	for (int c = 0; c < 300; c++) {
		if (first[c] == 1)
			continue;
		size_t n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 6, (uint16_t)(30000 + c), 80, TCP_ACK);
		struct got g = run(r, &h, POD1, f, n);
		assert_int_equal(backend_of(&g, BE4, 4), first[c]);
	}
	done(r, &h);
}

/* IPv6 and UDP; a service without backends drops under NO_BACKEND. */
static void test_ipv6_udp_and_no_backend(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const char *const be6[] = { "fd00::2" };
	assert_int_equal(service_set(r, 8, 1, "fd00:96::10", 17, 53, be6, 1, 5353, NULL), 0);
	uint8_t f[256];
	size_t n = pod_frame(f, mac1, "fd00::1", "fd00:96::10", 17, 40000, 53, 0);
	struct got g = run(r, &h, POD1, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD2);
	assert_true(g.csum_ok);
	uint8_t a[16];
	inet_pton(AF_INET6, "fd00::2", a);
	assert_memory_equal(g.ip + 24, a, 16);
	assert_int_equal(vr_rd16(g.ip + 42), 5353);
	n = pod_frame(f, mac2, "fd00::2", "fd00::1", 17, 5353, 40000, 0);
	g = run(r, &h, POD2, f, n);
	assert_true(g.sent);
	assert_true(g.csum_ok);
	inet_pton(AF_INET6, "fd00:96::10", a);
	assert_memory_equal(g.ip + 8, a, 16);
	assert_int_equal(vr_rd16(g.ip + 40), 53);
	/* no backends */
	assert_int_equal(service_set(r, 9, 1, "10.96.0.11", 6, 443, NULL, 0, 0, NULL), 0);
	n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.11", 6, 40000, 443, TCP_SYN);
	g = run(r, &h, POD1, f, n);
	assert_false(g.sent);
	assert_int_equal(r->drops[VR_DROP_NO_BACKEND], 1);
	done(r, &h);
}

/* A backend reaching its own service is sent to another backend. */
static void test_no_hairpin(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const char *const be[] = { "10.1.0.1", "10.1.0.2" };
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 6, 80, be, 2, 0, NULL), 0);
	uint8_t f[256];
	for (int c = 0; c < 50; c++) {
		size_t n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 6, (uint16_t)(20000 + c), 80, TCP_SYN);
		struct got g = run(r, &h, POD1, f, n);
		assert_true(g.sent);
		assert_int_equal(g.vif, POD2);
	}
	done(r, &h);
}

/* A UDP datagram to a service in two IPv4 fragments: both reach the same
 * backend, the second (no ports) translated by its first fragment's flow. */
static void test_fragments(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 17, 53, BE4, 3, 5353, NULL), 0);
	uint8_t f[256], vip[4];
	inet_pton(AF_INET, "10.96.0.10", vip);
	size_t n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 17, 40000, 53, 0);
	uint8_t *ip = f + 14;
	vr_wr16(ip + 4, 0x4242);   /* identification */
	vr_wr16(ip + 6, 0x2000);   /* more fragments, offset 0 */
	fix_l4(ip);
	struct got g1 = run(r, &h, POD1, f, n);
	assert_true(g1.sent);
	int b = backend_of(&g1, BE4, 3);
	assert_true(b >= 0);
	/* the rest of the datagram: offset 32 bytes, the last fragment */
	n = pod_frame(f, mac1, "10.1.0.1", "10.96.0.10", 17, 40000, 53, 0);
	vr_wr16(ip + 4, 0x4242);
	vr_wr16(ip + 6, 4);
	memset(ip + 20, 0xab, 8); /* payload bytes where a header would be */
	vr_wr16(ip + 10, 0);
	vr_wr16(ip + 10, (uint16_t)~vt_sum16(ip, 20));
	struct got g2 = run(r, &h, POD1, f, n);
	assert_true(g2.sent);
	assert_int_equal(backend_of(&g2, BE4, 3), b);
	assert_int_equal(g2.vif, g1.vif);
	assert_int_equal(vt_sum16(g2.ip, 20), 0xffff);     /* header checksum right */
	assert_int_equal(g2.ip[20], 0xab);                 /* the payload untouched */
	/* another datagram's later fragment, whose first never came: not translated */
	vr_wr16(ip + 4, 0x4343);
	vr_wr16(ip + 10, 0);
	vr_wr16(ip + 10, (uint16_t)~vt_sum16(ip, 20));
	struct got g3 = run(r, &h, POD1, f, n);
	assert_false(g3.sent && backend_of(&g3, BE4, 3) >= 0);
	done(r, &h);
}

/* Make an IPv6 frame (Ethernet + IPv6 + L4) a fragment: a fragment header
 * after the IPv6 header; a later fragment's bytes become 0xab payload. */
static size_t v6_fragment(uint8_t *f, size_t n, uint32_t id, uint16_t offset, bool more)
{
	uint8_t *ip = f + 14;
	memmove(ip + 48, ip + 40, n - 14 - 40);
	ip[40] = ip[6];            /* next header: the transport */
	ip[41] = 0;
	vr_wr16(ip + 42, (uint16_t)(offset << 3 | (more ? 1 : 0)));
	vr_wr32(ip + 44, id);
	ip[6] = 44;
	vr_wr16(ip + 4, (uint16_t)(vr_rd16(ip + 4) + 8));
	if (offset)
		memset(ip + 48, 0xab, n - 14 - 40);
	return n + 8;
}

/* A UDP datagram to an IPv6 service in two fragments, and the reply in two:
 * each later fragment (no ports) is translated by its first fragment's flow. */
static void test_ipv6_fragments(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const char *const be6[] = { "fd00::2" };
	assert_int_equal(service_set(r, 8, 1, "fd00:96::10", 17, 53, be6, 1, 5353, NULL), 0);
	uint8_t f[256], be[16], vip[16], cl[16];
	inet_pton(AF_INET6, "fd00::2", be);
	inet_pton(AF_INET6, "fd00:96::10", vip);
	inet_pton(AF_INET6, "fd00::1", cl);
	size_t n = pod_frame(f, mac1, "fd00::1", "fd00:96::10", 17, 40000, 53, 0);
	n = v6_fragment(f, n, 0x11223344, 0, true);
	struct got g = run(r, &h, POD1, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD2);
	assert_memory_equal(g.ip + 24, be, 16);
	assert_int_equal(g.ip[6], 44);                     /* still a fragment */
	assert_int_equal(vr_rd16(g.ip + 48 + 2), 5353);    /* the port past the fragment header */
	n = pod_frame(f, mac1, "fd00::1", "fd00:96::10", 17, 40000, 53, 0);
	n = v6_fragment(f, n, 0x11223344, 4, false);
	g = run(r, &h, POD1, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD2);
	assert_memory_equal(g.ip + 24, be, 16);            /* followed its first fragment */
	assert_int_equal(g.ip[48], 0xab);                  /* the payload untouched */
	/* the reply, fragmented: its source goes back to the virtual IP */
	n = pod_frame(f, mac2, "fd00::2", "fd00::1", 17, 5353, 40000, 0);
	n = v6_fragment(f, n, 0x55667788, 0, true);
	g = run(r, &h, POD2, f, n);
	assert_true(g.sent);
	assert_memory_equal(g.ip + 8, vip, 16);
	assert_int_equal(vr_rd16(g.ip + 48), 53);
	n = pod_frame(f, mac2, "fd00::2", "fd00::1", 17, 5353, 40000, 0);
	n = v6_fragment(f, n, 0x55667788, 4, false);
	g = run(r, &h, POD2, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD1);
	assert_memory_equal(g.ip + 8, vip, 16);
	assert_memory_equal(g.ip + 24, cl, 16);
	/* a later fragment of a datagram whose first never came: not translated */
	n = pod_frame(f, mac1, "fd00::1", "fd00:96::10", 17, 40000, 53, 0);
	n = v6_fragment(f, n, 0x99, 4, false);
	g = run(r, &h, POD1, f, n);
	assert_false(g.sent && !memcmp(g.ip + 24, be, 16));
	done(r, &h);
}

static int fip_op(struct vr_router *r, uint16_t op, uint16_t vrf, const char *fip, uint32_t vif,
		  const char *pod, char *msg)
{
	struct vr_object o = { .obj = VR_OBJ_FIP };
	o.u.fip.vrf = vrf;
	vt_addr(&o.u.fip.ip, fip);
	VR_SET(&o, VR_AT_VRF);
	VR_SET(&o, VR_AT_IP);
	if (pod) {
		o.u.fip.vif = vif;
		vt_addr(&o.u.fip.nat_ip, pod);
		VR_SET(&o, VR_AT_VIF);
		VR_SET(&o, VR_AT_NAT_IP);
	}
	char buf[256];
	return vt_ctl_err(r, op, &o, msg ? msg : buf, 256);
}

/* Pod 2 gets 203.0.113.10 in the public vrf: pod 3 reaches it there (and
 * gets replies from it), and pod 2 reaches pod 3 as 203.0.113.10. */
static void test_floating_ip(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	assert_int_equal(fip_op(r, VR_OP_ADD, 2, "203.0.113.10", POD2, "10.1.0.2", NULL), 0);
	uint8_t f[256], pod2[4], fip[4], pub[4];
	inet_pton(AF_INET, "10.1.0.2", pod2);
	inet_pton(AF_INET, "203.0.113.10", fip);
	inet_pton(AF_INET, "203.0.113.5", pub);
	/* inbound */
	size_t n = pod_frame(f, mac3, "203.0.113.5", "203.0.113.10", 6, 41000, 22, TCP_SYN);
	struct got g = run(r, &h, POD3, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD2);
	assert_true(g.csum_ok);
	assert_memory_equal(g.ip + 16, pod2, 4);
	assert_memory_equal(g.ip + 12, pub, 4);
	n = pod_frame(f, mac2, "10.1.0.2", "203.0.113.5", 6, 22, 41000, TCP_SYN | TCP_ACK);
	g = run(r, &h, POD2, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD3);
	assert_true(g.csum_ok);
	assert_memory_equal(g.ip + 12, fip, 4);
	/* outbound: vrf 1 has no route to 203.0.113.5, the floating IP's vrf has */
	n = pod_frame(f, mac2, "10.1.0.2", "203.0.113.5", 17, 5000, 53, 0);
	g = run(r, &h, POD2, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD3);
	assert_true(g.csum_ok);
	assert_memory_equal(g.ip + 12, fip, 4);
	n = pod_frame(f, mac3, "203.0.113.5", "203.0.113.10", 17, 53, 5000, 0);
	g = run(r, &h, POD3, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD2);
	assert_memory_equal(g.ip + 16, pod2, 4);
	/* pod 2 -> pod 1 (same vrf) stays untranslated */
	n = pod_frame(f, mac2, "10.1.0.2", "10.1.0.1", 6, 5001, 80, TCP_SYN);
	g = run(r, &h, POD2, f, n);
	assert_true(g.sent);
	assert_int_equal(g.vif, POD1);
	assert_memory_equal(g.ip + 12, pod2, 4);
	/* the flow dump shows the translation */
	struct vr_object q = { .obj = VR_OBJ_FLOW }, out;
	vt_addr(&q.u.flow.ip, "203.0.113.10");
	VR_SET(&q, VR_AT_IP);
	assert_int_equal(vt_ctl(r, VR_OP_DUMP, &q, &out), 0);
	assert_true(VR_HAVE(&out, VR_AT_NAT));
	assert_int_equal(out.u.flow.nat_vrf, out.u.flow.nat & VR_NAT_DST ? 1 : 2);
	/* deleting the floating IP removes its flows */
	uint32_t used = r->flow.n_used;
	assert_int_equal(fip_op(r, VR_OP_DEL, 2, "203.0.113.10", 0, NULL, NULL), 0);
	while (vr_flow_busy(r))
		vr_flow_age(r, 64);
	assert_int_equal(r->flow.n_used, used - 4);
	n = pod_frame(f, mac3, "203.0.113.5", "203.0.113.10", 6, 41001, 22, TCP_SYN);
	g = run(r, &h, POD3, f, n);
	assert_false(g.sent);
	done(r, &h);
}

static void test_control_refusals(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	char msg[256];
	const char *const be[] = { "10.1.0.2", "fd00::2" };
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 1, 80, be, 1, 0, msg), -EINVAL);
	assert_non_null(strstr(msg, "proto"));
	assert_int_equal(service_set(r, SVC, 9999, "10.96.0.10", 6, 80, be, 1, 0, msg), -ERANGE);
	assert_non_null(strstr(msg, "9999"));
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 6, 80, be + 1, 1, 0, msg), -EINVAL);
	assert_non_null(strstr(msg, "backend 0"));
	assert_int_equal(service_set(r, SVC, 1, "10.96.0.10", 6, 80, be, 1, 0, msg), 0);
	assert_int_equal(service_set(r, SVC + 1, 1, "10.96.0.10", 6, 80, be, 1, 0, msg), -EEXIST);
	assert_non_null(strstr(msg, "service 7"));
	/* the same VIP on another port or protocol is another service */
	assert_int_equal(service_set(r, SVC + 1, 1, "10.96.0.10", 17, 80, be, 1, 0, msg), 0);
	/* floating IPs */
	assert_int_equal(fip_op(r, VR_OP_ADD, 1, "10.1.9.9", POD2, "10.1.0.2", msg), -EINVAL);
	assert_non_null(strstr(msg, "own vrf"));
	assert_int_equal(fip_op(r, VR_OP_ADD, 2, "203.0.113.10", FAB, "10.1.0.2", msg), -EINVAL);
	assert_int_equal(fip_op(r, VR_OP_ADD, 2, "203.0.113.10", POD2, "fd00::2", msg), -EINVAL);
	assert_int_equal(fip_op(r, VR_OP_ADD, 2, "203.0.113.10", POD2, "10.1.0.2", msg), 0);
	/* the vrf is in use */
	struct vr_object vrf = { .obj = VR_OBJ_VRF };
	vrf.u.vrf.id = 2;
	VR_SET(&vrf, VR_AT_ID);
	assert_int_equal(vt_ctl_err(r, VR_OP_DEL, &vrf, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "floating IP"));
	assert_int_equal(fip_op(r, VR_OP_DEL, 2, "203.0.113.10", 0, NULL, NULL), 0);
	assert_int_equal(fip_op(r, VR_OP_DEL, 2, "203.0.113.10", 0, NULL, msg), -ENOENT);
	assert_int_equal(vt_ctl_err(r, VR_OP_DEL, &vrf, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "vif 3")); /* now only the pod holds it */
	struct vr_object s = { .obj = VR_OBJ_SERVICE };
	s.u.service.id = SVC;
	VR_SET(&s, VR_AT_ID);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &s, NULL), 0);
	assert_int_equal(vt_ctl_err(r, VR_OP_DEL, &s, msg, sizeof(msg)), -ENOENT);
	done(r, &h);
}

int main(void)
{
	vt_eal_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_spread_and_reply),
		cmocka_unit_test(test_backend_added_and_removed),
		cmocka_unit_test(test_ipv6_udp_and_no_backend),
		cmocka_unit_test(test_ipv6_fragments),
		cmocka_unit_test(test_no_hairpin),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_floating_ip),
		cmocka_unit_test(test_control_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
