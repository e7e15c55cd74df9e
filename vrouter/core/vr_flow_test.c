/* DOC: vr_flow_test.c — the flow table: both directions created by the first
 * packet, TCP state, counters, a full table refusing only new flows, ageing,
 * IPv6 and its share of the table, a large table filling to its size, an
 * incremental flush, and no tracking without the vif's policy flag. */
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

static uint32_t find(const struct vr_router *r, int from, uint16_t sport, uint16_t dport)
{
	return vt_flow_find(r, from == 1 ? "10.1.0.1" : "10.1.0.2", sport, dport, false);
}

static void test_tcp_lifecycle(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h, 64, true);
	tcp(r, &h, 1, 40000, 5432, 0x02);               /* SYN */
	assert_int_equal(r->flow.n_used, 2);            /* both directions at once */
	uint32_t fid = find(r, 1, 40000, 5432), rfid = find(r, 2, 5432, 40000);
	assert_int_not_equal(fid, VR_FLOW_NONE);
	assert_int_equal(vr_flow_dir(fid), 0);           /* the first packet's direction */
	assert_int_equal(rfid, vr_flow_rev(fid));        /* one connection, two directions */
	const struct vr_conn *f = vr_flow_conn(&r->flow, fid);
	assert_int_equal(f->state, VR_FS_SYN);
	tcp(r, &h, 2, 5432, 40000, 0x12);               /* SYN-ACK: the reverse entry */
	tcp(r, &h, 1, 40000, 5432, 0x10);               /* ACK */
	assert_int_equal(f->state, VR_FS_ESTABLISHED);
	assert_int_equal(f->pkts[0], 2);
	assert_int_equal(f->pkts[1], 1);
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
	assert_int_not_equal(find(r, 1, 1003, 80), VR_FLOW_NONE);
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

/* A key between two addresses of 10/8 or fd00::/8 built from n. */
static void key_n(struct vr_flow_key *k, uint8_t family, uint32_t n)
{
	memset(k, 0, sizeof(*k));
	k->vrf = 1;
	k->family = family;
	k->proto = 17;
	k->sport = (uint16_t)(1024 + (n & 0x3fff));
	k->dport = 53;
	k->src[0] = family == 4 ? 10 : 0xfd;
	vr_wr16(k->src + 2, (uint16_t)(n >> 14));
	k->dst[0] = family == 4 ? 10 : 0xfd;
	k->dst[1] = 1;
}

/* Create connections of one family until refused; how many were made. */
static uint32_t fill(struct vr_router *r, uint8_t family, uint32_t from, uint32_t limit)
{
	uint32_t made = 0;
	for (uint32_t n = from; made < limit; n++) {
		struct vr_flow_key k, rk;
		uint32_t fid, sig;
		enum vr_drop_reason why;
		key_n(&k, family, n);
		vr_flow_reverse_key(&k, &rk);
		vr_flow_lookup_bulk(&r->flow, &k, 1, &fid, &sig);
		assert_int_equal(fid, VR_FLOW_NONE);
		if (vr_flow_create(r, &k, sig, &rk, &why) == VR_FLOW_NONE) {
			assert_int_equal(why, VR_DROP_FLOW_TABLE_FULL);
			break;
		}
		made++;
	}
	return made;
}

static void test_large_table_and_ipv6_share(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h, 1u << 17, true); /* 65,536 connections, 8,192 IPv6 */
	/* IPv6 takes its share (an eighth of the entries) and no more */
	uint32_t v6 = fill(r, 6, 0, UINT32_MAX);
	assert_true(v6 >= 8192 * 95 / 100 && v6 <= 8192);
	/* IPv4 fills the rest: the buckets take at least 95% of the size */
	uint32_t v4 = fill(r, 4, 0, UINT32_MAX);
	assert_true(v6 + v4 >= 65536 * 95 / 100);
	assert_int_equal(r->flow.n_used, 2 * (v4 + v6));
	/* every key still finds its own connection and direction */
	for (uint32_t n = 0; n < v4; n += 977) {
		struct vr_flow_key k, rk, got;
		uint32_t fid, sig;
		key_n(&k, 4, n);
		vr_flow_lookup_bulk(&r->flow, &k, 1, &fid, &sig);
		assert_int_not_equal(fid, VR_FLOW_NONE);
		assert_int_equal(vr_flow_dir(fid), 0);
		vr_flow_reverse_key(&k, &rk);
		vr_flow_key_get(&r->flow, vr_flow_rev(fid), &got);
		assert_memory_equal(&got, &rk, sizeof(rk));
	}
	vr_router_destroy(r);
}

static void test_flush_is_incremental(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h, 4096, true);  /* 2,048 records */
	assert_int_equal(fill(r, 4, 0, 1000), 1000);
	tcp(r, &h, 1, 40000, 5432, 0x02);
	struct vr_object o = { .obj = VR_OBJ_FLOW };
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &o, NULL), 0);
	/* each step removes a bounded number: the forwarding loop never pauses */
	assert_true(vr_flow_busy(r));
	vr_flow_age(r, 64);
	assert_true(r->flow.n_used > 0 && r->flow.n_used < 2002);
	unsigned steps = 1;
	while (vr_flow_busy(r) && steps < 100) {
		tcp(r, &h, 2, 5432, 40000, 0x12);           /* traffic goes on meanwhile */
		vr_flow_age(r, 64);
		steps++;
	}
	assert_false(vr_flow_busy(r));
	assert_true(steps >= 2048 / 256);
	assert_int_equal(h.n_sent, steps);               /* every packet went through */
	/* what was there is gone; at most the connection that kept talking came back */
	assert_true(r->flow.flushed >= 1000);
	assert_true(r->flow.n_used <= 2);
	for (uint32_t n = 0; n < 1000; n++) {
		struct vr_flow_key k;
		uint32_t fid, sig;
		key_n(&k, 4, n);
		vr_flow_lookup_bulk(&r->flow, &k, 1, &fid, &sig);
		assert_int_equal(fid, VR_FLOW_NONE);
	}
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
		cmocka_unit_test(test_large_table_and_ipv6_share),
		cmocka_unit_test(test_flush_is_incremental),
		cmocka_unit_test(test_no_policy_no_flows),
	};
	return cmocka_run_group_tests_name("vr_flow", tests, NULL, NULL);
}
