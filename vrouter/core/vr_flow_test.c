/* DOC: vr_flow_test.c — the flow table: both directions created by the first
 * packet, TCP state, counters, a full table refusing only new flows, ageing,
 * IPv6, and no tracking without the vif's policy flag. */
#include "vr_test_support.h"
#include "vr_internal.h"

#include <arpa/inet.h>

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 1, 1 };
static const uint8_t mac2[6] = { 0x02, 0, 0, 0, 1, 2 };

/* pods 1 (10.1.0.1, fd00::1) and 2 (10.1.0.2, fd00::2) in vrf 1, both with policy */
static struct vr_router *setup(struct vt_host *h, uint32_t max_flows, bool policy)
{
	struct vr_router *r = vt_router_flows(h, max_flows);
	for (uint32_t i = 1; i <= 2; i++) {
		struct vr_object o = vt_vif(i, VR_VIF_KERNEL, i == 1 ? "v1" : "v2", 1, i == 1 ? mac1 : mac2);
		o.u.vif.flags = policy ? VR_VIF_F_POLICY : 0;
		VR_SET(&o, VR_AT_FLAGS);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
		o = vt_nh_encap(i, i, 1, i == 1 ? mac1 : mac2);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
		o = vt_route(1, i == 1 ? "10.1.0.1" : "10.1.0.2", 32, i);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
		o = vt_route(1, i == 1 ? "fd00::1" : "fd00::2", 128, i);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	}
	vr_set_now(r, 1000);
	return r;
}

/* A TCP segment between the pods: from pod `from` (1 or 2). */
static void tcp(struct vr_router *r, struct vt_host *h, int from, uint16_t sport, uint16_t dport,
		uint8_t flags)
{
	uint8_t f[128];
	size_t n = vt_ipv4_udp(f, vt_router_mac, from == 1 ? mac1 : mac2, from == 1 ? "10.1.0.1" : "10.1.0.2",
			       from == 1 ? "10.1.0.2" : "10.1.0.1", sport, dport, 12, 64);
	f[14 + 9] = 6;
	f[14 + 10] = f[14 + 11] = 0;
	vr_wr16(f + 24, (uint16_t)~vt_sum16(f + 14, 20));
	f[34 + 12] = 0x50;
	f[34 + 13] = flags;
	struct vr_pkt *p = vt_pkt(h, f, n);
	vr_pipeline_run(r, (uint16_t)from, &p, 1);
}

static const struct vr_flow *find(const struct vr_router *r, int from, uint16_t sport, uint16_t dport)
{
	for (uint32_t i = 0; i < r->flow.max; i++) {
		const struct vr_flow *f = &r->flow.flows[i];
		uint8_t a[4];
		inet_pton(AF_INET, from == 1 ? "10.1.0.1" : "10.1.0.2", a);
		if (f->used && f->key.sport == sport && f->key.dport == dport && !memcmp(f->key.src, a, 4))
			return f;
	}
	return NULL;
}

static void test_tcp_lifecycle(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h, 64, true);
	tcp(r, &h, 1, 40000, 5432, 0x02);               /* SYN */
	assert_int_equal(r->flow.n_used, 2);            /* both directions at once */
	const struct vr_flow *f = find(r, 1, 40000, 5432), *rf = find(r, 2, 5432, 40000);
	assert_non_null(f);
	assert_non_null(rf);
	assert_int_equal(f->state, VR_FS_SYN);
	tcp(r, &h, 2, 5432, 40000, 0x12);               /* SYN-ACK: the reverse entry */
	tcp(r, &h, 1, 40000, 5432, 0x10);               /* ACK */
	assert_int_equal(f->state, VR_FS_ESTABLISHED);
	assert_int_equal(rf->state, VR_FS_ESTABLISHED);
	assert_int_equal(f->pkts, 2);
	assert_int_equal(rf->pkts, 1);
	assert_int_equal(r->flow.n_used, 2);
	assert_int_equal(h.n_sent, 3);                  /* all forwarded */
	tcp(r, &h, 1, 40000, 5432, 0x11);               /* FIN */
	assert_int_equal(f->state, VR_FS_FIN);
	tcp(r, &h, 2, 5432, 40000, 0x11);               /* FIN back */
	assert_int_equal(f->state, VR_FS_CLOSED);
	/* closed flows go quickly (5 s), established ones would stay */
	vr_set_now(r, 1000 + 4000);
	assert_int_equal(vr_flow_age(r, 64), 0);
	vr_set_now(r, 1000 + 6000);
	assert_int_equal(vr_flow_age(r, 64), 2);
	assert_int_equal(r->flow.n_used, 0);
	assert_int_equal(h.live, 0);
	vr_router_destroy(r);
}

static void test_table_full_refuses_only_new(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h, 8, true);       /* room for 4 connections */
	for (uint16_t p = 0; p < 4; p++)
		tcp(r, &h, 1, (uint16_t)(1000 + p), 80, 0x02);
	assert_int_equal(r->flow.n_used, 8);
	tcp(r, &h, 1, 2000, 80, 0x02);                  /* a fifth: refused */
	assert_int_equal(r->drops[VR_DROP_FLOW_TABLE_FULL], 1);
	assert_int_equal(h.n_sent, 4);
	tcp(r, &h, 2, 80, 1002, 0x12);                  /* existing flows keep working */
	tcp(r, &h, 1, 1003, 80, 0x10);
	assert_int_equal(h.n_sent, 6);
	assert_int_equal(r->drops[VR_DROP_FLOW_TABLE_FULL], 1);
	/* ageing frees room: SYN-state flows time out after 30 s; the one that
	 * reached ESTABLISHED (port 1003) stays */
	vr_set_now(r, 1000 + 31000);
	assert_int_equal(vr_flow_age(r, 1000), 6);
	assert_non_null(find(r, 1, 1003, 80));
	tcp(r, &h, 1, 2000, 80, 0x02);
	assert_int_equal(h.n_sent, 7);
	assert_int_equal(h.live, 0);
	vr_router_destroy(r);
}

static void test_udp_icmp_ipv6(void **state)
{
	(void)state;
	struct vt_host h;
	uint8_t f[256];
	struct vr_router *r = setup(&h, 64, true);
	size_t n = vt_ipv4_udp(f, vt_router_mac, mac1, "10.1.0.1", "10.1.0.2", 5000, 53, 8, 64);
	struct vr_pkt *p = vt_pkt(&h, f, n);
	vr_pipeline_run(r, 1, &p, 1);
	n = vt_ipv6_udp(f, vt_router_mac, mac1, "fd00::1", "fd00::2", 5000, 53, 8);
	p = vt_pkt(&h, f, n);
	vr_pipeline_run(r, 1, &p, 1);
	assert_int_equal(r->flow.n_used, 4);
	assert_int_equal(h.n_sent, 2);
	/* UDP lives 120 s idle; a reply at 100 s keeps it alive */
	vr_set_now(r, 1000 + 100000);
	n = vt_ipv4_udp(f, vt_router_mac, mac2, "10.1.0.2", "10.1.0.1", 53, 5000, 8, 64);
	p = vt_pkt(&h, f, n);
	vr_pipeline_run(r, 2, &p, 1);
	assert_int_equal(r->flow.n_used, 4);
	vr_set_now(r, 1000 + 150000);
	assert_int_equal(vr_flow_age(r, 1000), 2);       /* the IPv6 flow went, the IPv4 one stays */
	vr_set_now(r, 1000 + 230000);
	assert_int_equal(vr_flow_age(r, 1000), 2);
	assert_int_equal(r->flow.n_used, 0);
	vr_router_destroy(r);
}

static void test_no_policy_no_flows(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h, 64, false);
	tcp(r, &h, 1, 40000, 5432, 0x02);
	assert_int_equal(r->flow.n_used, 0);
	assert_int_equal(h.n_sent, 1);
	vr_router_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_lifecycle),
		cmocka_unit_test(test_table_full_refuses_only_new),
		cmocka_unit_test(test_udp_icmp_ipv6),
		cmocka_unit_test(test_no_policy_no_flows),
	};
	return cmocka_run_group_tests_name("vr_flow", tests, NULL, NULL);
}
