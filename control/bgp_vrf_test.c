/* DOC: bgp_vrf_test.c — routing instances: RT/RD parsing, import by route
 * target into the right instances only, replacement and withdrawal, best
 * path across RDs, export of originated routes with RD and export targets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "bgp_vrf.h"

static struct bgp_rib R;
static struct bgp_vrf_conf CRED, CBLUE;
static struct bgp_vrf RED, BLUE;

static const uint8_t RT1[8] = { 0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 1 };   /* 65000:1 */
static const uint8_t RT2[8] = { 0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 2 };   /* 65000:2 */
static const uint8_t RT9[8] = { 0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 9 };   /* 65000:9 */

static int setup(void **state)
{
	(void)state;
	if (bgp_rib_init(&R, 65000, 0x0a000001, 0x0a000001) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		R.peers[i].used = true;
		R.peers[i].as = 65000;
		R.peers[i].router_id = 0x0a000010u + (uint32_t)i;
		R.peers[i].addr[15] = (uint8_t)(i + 1);
		R.peers[i].rr_client = true;
	}
	memset(&CRED, 0, sizeof(CRED));
	memset(&CBLUE, 0, sizeof(CBLUE));
	strcpy(CRED.name, "red");
	memcpy(CRED.import[0], RT1, 8);
	CRED.n_import = 1;
	strcpy(CBLUE.name, "blue");
	memcpy(CBLUE.import[0], RT2, 8);
	memcpy(CBLUE.import[1], RT9, 8);
	CBLUE.n_import = 2;
	if (bgp_vrf_init(&RED, &CRED) < 0 || bgp_vrf_init(&BLUE, &CBLUE) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bgp_vrf_free(&R, &RED);
	bgp_vrf_free(&R, &BLUE);
	bgp_rib_free(&R);
	return 0;
}

/* Feed every dirty destination to both instances, as the session does. */
static void drain(void)
{
	struct bgp_dest *d;
	while ((d = bgp_rib_dirty_pop(&R))) {
		assert_int_equal(bgp_vrf_import(&R, &RED, d), 0);
		assert_int_equal(bgp_vrf_import(&R, &BLUE, d), 0);
		bgp_rib_dest_gc(&R, d);
	}
}

static void announce(uint16_t peer, uint8_t rd, uint8_t third, uint32_t label, uint32_t lp,
		     const uint8_t *rts, int n_rt)
{
	struct bgp_attrs a = { .has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
				      BGP_HAS(BGP_ATTR_LOCAL_PREF),
			       .local_pref = lp, .nh_len = 4, .nh = { 10, 0, 0, 2 } };
	if (n_rt) {
		a.has |= BGP_HAS(BGP_ATTR_EXT_COMMUNITIES);
		a.ext_communities = (struct bgp_bytes){ rts, (uint16_t)(8 * n_rt) };
	}
	struct bgp_nlri n = { .p = { .af = BGP_AF_VPNV4, .plen = 24,
				     .rd = { 0, 0, 0xfd, 0xe8, 0, 0, 0, rd },
				     .addr = { 10, 2, third } }, .label = label };
	assert_int_equal(bgp_rib_update(&R, peer, &n, &a), 0);
}

static struct bgp_prefix plain(uint8_t third)
{
	struct bgp_prefix p = { .af = BGP_AF_IPV4, .plen = 24, .addr = { 10, 2, third } };
	return p;
}

static int npaths(const struct bgp_vrf_dest *d)
{
	int n = 0;
	for (const struct bgp_vrf_path *p = d ? d->paths : NULL; p; p = p->next)
		n++;
	return n;
}

static void test_parse_rt(void **state)
{
	(void)state;
	uint8_t o[8];
	assert_int_equal(bgp_vrf_parse_rt("65000:1", o, false), 0);
	assert_memory_equal(o, RT1, 8);
	static const uint8_t rd0[8] = { 0, 0, 0xfd, 0xe8, 0, 0, 0, 1 };
	assert_int_equal(bgp_vrf_parse_rt("65000:1", o, true), 0);
	assert_memory_equal(o, rd0, 8);
	static const uint8_t rt1[8] = { 0x01, 0x02, 10, 0, 0, 1, 0, 7 };
	assert_int_equal(bgp_vrf_parse_rt("10.0.0.1:7", o, false), 0);
	assert_memory_equal(o, rt1, 8);
	static const uint8_t rd1[8] = { 0x00, 0x01, 10, 0, 0, 1, 0, 7 };
	assert_int_equal(bgp_vrf_parse_rt("10.0.0.1:7", o, true), 0);
	assert_memory_equal(o, rd1, 8);
	static const uint8_t rt2[8] = { 0x02, 0x02, 0x00, 0x01, 0x11, 0x70, 0, 5 };
	assert_int_equal(bgp_vrf_parse_rt("70000:5", o, false), 0);  /* 4-octet AS */
	assert_memory_equal(o, rt2, 8);
	static const uint8_t rd2[8] = { 0x00, 0x02, 0x00, 0x01, 0x11, 0x70, 0, 5 };
	assert_int_equal(bgp_vrf_parse_rt("70000:5", o, true), 0);
	assert_memory_equal(o, rd2, 8);
	assert_int_equal(bgp_vrf_parse_rt("70000:70000", o, false), -EINVAL);
	assert_int_equal(bgp_vrf_parse_rt("10.0.0.1:70000", o, false), -EINVAL);
	assert_int_equal(bgp_vrf_parse_rt("65000", o, false), -EINVAL);
	assert_int_equal(bgp_vrf_parse_rt(":1", o, false), -EINVAL);
	assert_int_equal(bgp_vrf_parse_rt("65000:", o, false), -EINVAL);
	assert_int_equal(bgp_vrf_parse_rt("x:1", o, false), -EINVAL);
	assert_int_equal(bgp_vrf_parse_rt("65000:-1", o, false), -EINVAL);
}

static void test_import_by_target(void **state)
{
	(void)state;
	uint8_t both[16];
	memcpy(both, RT1, 8);
	memcpy(both + 8, RT9, 8);
	announce(0, 1, 1, 101, 100, RT1, 1);   /* red only */
	announce(0, 2, 2, 102, 100, RT2, 1);   /* blue only */
	announce(0, 3, 3, 103, 100, both, 2);  /* both (RT9 is blue's second) */
	announce(0, 4, 4, 104, 100, NULL, 0);  /* no target: nowhere */
	drain();
	assert_int_equal(RED.count, 2);
	assert_int_equal(BLUE.count, 2);
	struct bgp_prefix p1 = plain(1), p2 = plain(2), p3 = plain(3), p4 = plain(4);
	assert_non_null(bgp_vrf_lookup(&RED, &p1));
	assert_null(bgp_vrf_lookup(&RED, &p2));
	assert_non_null(bgp_vrf_lookup(&RED, &p3));
	assert_null(bgp_vrf_lookup(&BLUE, &p1));
	assert_non_null(bgp_vrf_lookup(&BLUE, &p2));
	assert_non_null(bgp_vrf_lookup(&BLUE, &p3));
	assert_null(bgp_vrf_lookup(&RED, &p4));
	assert_null(bgp_vrf_lookup(&BLUE, &p4));
	struct bgp_vrf_dest *d = bgp_vrf_lookup(&BLUE, &p2);
	assert_int_equal(d->best->label, 102);
	assert_int_equal(d->best->rd[7], 2);
	assert_int_equal(d->best->peer, 0);

	/* New targets replace the old contribution: 10.2.1 moves to blue. */
	announce(0, 1, 1, 101, 100, RT2, 1);
	drain();
	assert_null(bgp_vrf_lookup(&RED, &p1));
	assert_int_equal(npaths(bgp_vrf_lookup(&BLUE, &p1)), 1);

	/* Withdrawal removes it. */
	struct bgp_prefix v1 = { .af = BGP_AF_VPNV4, .plen = 24,
				 .rd = { 0, 0, 0xfd, 0xe8, 0, 0, 0, 1 }, .addr = { 10, 2, 1 } };
	assert_int_equal(bgp_rib_withdraw(&R, 0, &v1), 1);
	drain();
	assert_null(bgp_vrf_lookup(&BLUE, &p1));
	assert_int_equal(BLUE.count, 2);

	/* A peer going down empties what it fed. */
	bgp_rib_peer_flush(&R, 0);
	drain();
	assert_int_equal(RED.count, 0);
	assert_int_equal(BLUE.count, 0);
}

static void test_best_across_rds(void **state)
{
	(void)state;
	/* The same prefix under two RDs from two peers: one instance dest with
	 * two paths; the higher LOCAL_PREF wins, then the lower RD on a tie. */
	announce(0, 5, 9, 501, 100, RT1, 1);
	announce(1, 6, 9, 601, 200, RT1, 1);
	drain();
	struct bgp_prefix p = plain(9);
	struct bgp_vrf_dest *d = bgp_vrf_lookup(&RED, &p);
	assert_int_equal(npaths(d), 2);
	assert_int_equal(d->best->label, 601);
	announce(1, 6, 9, 601, 100, RT1, 1);
	drain();
	d = bgp_vrf_lookup(&RED, &p);
	/* equal but for the originator: peer 0 has the lower router id */
	assert_int_equal(d->best->label, 501);
	/* two paths of one peer under one RD? impossible: one path per (dest, peer) */
	bgp_rib_peer_flush(&R, 0);
	bgp_rib_peer_flush(&R, 1);
	drain();
	assert_null(bgp_vrf_lookup(&RED, &p));
}

static void test_originate_export(void **state)
{
	(void)state;
	struct bgp_vrf_conf c = { 0 };
	strcpy(c.name, "blue");
	assert_int_equal(bgp_vrf_parse_rt("65000:77", c.rd, true), 0);
	memcpy(c.export[0], RT2, 8);
	memcpy(c.export[1], RT1, 8);
	c.n_export = 2;
	c.routes[0] = (struct bgp_vrf_route){ .p = { .af = BGP_AF_IPV4, .plen = 24,
						      .addr = { 10, 20, 0 } },
					      .label = 1000, .nh_len = 4, .nh = { 10, 0, 0, 1 } };
	c.routes[1] = (struct bgp_vrf_route){ .p = { .af = BGP_AF_IPV6, .plen = 64,
						      .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x20 } },
					      .label = 1001, .nh_len = 4, .nh = { 10, 0, 0, 1 } };
	c.n_routes = 2;
	assert_int_equal(bgp_vrf_originate(&R, &c), 0);
	assert_int_equal(R.peers[BGP_RIB_LOCAL].count[BGP_AF_VPNV4], 1);
	assert_int_equal(R.peers[BGP_RIB_LOCAL].count[BGP_AF_VPNV6], 1);
	struct bgp_prefix v = { .af = BGP_AF_VPNV4, .plen = 24, .addr = { 10, 20, 0 } };
	memcpy(v.rd, c.rd, 8);
	struct bgp_dest *d = bgp_rib_lookup(&R, &v);
	assert_non_null(d);
	assert_int_equal(d->best->peer, BGP_RIB_LOCAL);
	assert_int_equal(d->best->label, 1000);
	const struct bgp_attrs *a = &d->best->attrs->a;
	assert_int_equal(a->ext_communities.len, 16);
	assert_memory_equal(a->ext_communities.p, RT2, 8);
	assert_memory_equal(a->ext_communities.p + 8, RT1, 8);
	assert_int_equal(a->nh_len, 4);
	/* VPNv6 with an IPv4 next hop: IPv4-mapped. */
	struct bgp_prefix v6 = { .af = BGP_AF_VPNV6, .plen = 64,
				 .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x20 } };
	memcpy(v6.rd, c.rd, 8);
	d = bgp_rib_lookup(&R, &v6);
	assert_non_null(d);
	static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1 };
	assert_int_equal(d->best->attrs->a.nh_len, 16);
	assert_memory_equal(d->best->attrs->a.nh, mapped, 16);

	/* Imported by both instances (RT1 red, RT2 blue), IPv6 too. */
	drain();
	struct bgp_prefix p = { .af = BGP_AF_IPV4, .plen = 24, .addr = { 10, 20, 0 } };
	assert_non_null(bgp_vrf_lookup(&RED, &p));
	assert_non_null(bgp_vrf_lookup(&BLUE, &p));
	struct bgp_prefix p6 = { .af = BGP_AF_IPV6, .plen = 64,
				 .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x20 } };
	assert_non_null(bgp_vrf_lookup(&RED, &p6));

	/* Exported: to an iBGP client without ORIGINATOR_ID / CLUSTER_LIST, with
	 * LOCAL_PREF; to eBGP with our AS prepended. */
	uint8_t scratch[BGP_MAX_MSG];
	struct bgp_attrs out;
	d = bgp_rib_lookup(&R, &v);
	assert_true(bgp_rib_export(&R, d->best, 0, &out, scratch));
	assert_false(out.has & BGP_HAS(BGP_ATTR_ORIGINATOR_ID));
	assert_false(out.has & BGP_HAS(BGP_ATTR_CLUSTER_LIST));
	assert_true(out.has & BGP_HAS(BGP_ATTR_LOCAL_PREF));
	R.peers[1].ebgp = true;
	R.peers[1].as = 65001;
	assert_true(bgp_rib_export(&R, d->best, 1, &out, scratch));
	assert_int_equal(bgp_aspath_first(out.as_path), 65000);
	R.peers[1].ebgp = false;
	R.peers[1].as = 65000;
	bgp_rib_peer_flush(&R, BGP_RIB_LOCAL);
	drain();
	assert_int_equal(RED.count, 0);
	assert_int_equal(BLUE.count, 0);
}

/* Past the old limit of 32: 100 instances in the route-target index, each
 * importing its own target (65000:100+i), instances 0 and 50 a shared one
 * too. A route reaches exactly the instances of its targets; when its
 * targets change it leaves the old ones (the index of holders); an
 * instance added later imports what is there; one removed takes its paths
 * out of the index. */
#define N_MANY 100
static struct bgp_vrf_conf MCF[N_MANY];
static struct bgp_vrf MV[N_MANY];
static struct bgp_vrf_index X;

static void rt_of(int i, uint8_t out[8])
{
	memcpy(out, RT1, 8);
	out[6] = (uint8_t)((100 + i) >> 8);
	out[7] = (uint8_t)(100 + i);
}

static void drain_index(void)
{
	struct bgp_dest *d;
	const struct bgp_vrf *bad;
	while ((d = bgp_rib_dirty_pop(&R))) {
		assert_int_equal(bgp_vrf_index_import(&X, &R, d, &bad), 0);
		bgp_rib_dest_gc(&R, d);
	}
}

static void test_index_many(void **state)
{
	(void)state;
	memset(&X, 0, sizeof(X));
	for (int i = 0; i < N_MANY; i++) {
		memset(&MCF[i], 0, sizeof(MCF[i]));
		snprintf(MCF[i].name, sizeof(MCF[i].name), "vn%d", i);
		rt_of(i, MCF[i].import[0]);
		MCF[i].n_import = 1;
		if (i == 0 || i == 50) {
			memcpy(MCF[i].import[1], RT9, 8);
			MCF[i].n_import = 2;
		}
		if (i == N_MANY - 1)
			continue; /* added later */
		assert_int_equal(bgp_vrf_init(&MV[i], &MCF[i]), 0);
		assert_int_equal(bgp_vrf_index_add(&X, &MV[i]), 0);
	}
	uint8_t rts[3][8];
	rt_of(7, rts[0]);
	announce(0, 1, 1, 100, 100, rts[0], 1);              /* 10.2.1.0/24 -> vn7 */
	rt_of(70, rts[0]);
	memcpy(rts[1], RT9, 8);
	announce(1, 2, 2, 200, 100, rts[0], 2);              /* 10.2.2.0/24 -> vn70, 0, 50 */
	rt_of(N_MANY - 1, rts[0]);
	announce(1, 3, 3, 300, 100, rts[0], 1);              /* for the late one */
	drain_index();
	struct bgp_prefix p1 = plain(1), p2 = plain(2);
	for (int i = 0; i < N_MANY - 1; i++) {
		assert_int_equal(bgp_vrf_lookup(&MV[i], &p1) != NULL, i == 7);
		assert_int_equal(bgp_vrf_lookup(&MV[i], &p2) != NULL, i == 0 || i == 50 || i == 70);
	}
	/* 10.2.1.0/24 now carries vn8's target: it leaves vn7 */
	rt_of(8, rts[0]);
	announce(0, 1, 1, 100, 100, rts[0], 1);
	drain_index();
	assert_null(bgp_vrf_lookup(&MV[7], &p1));
	assert_non_null(bgp_vrf_lookup(&MV[8], &p1));
	/* the late instance imports what is there already */
	assert_int_equal(bgp_vrf_init(&MV[N_MANY - 1], &MCF[N_MANY - 1]), 0);
	assert_int_equal(bgp_vrf_index_add(&X, &MV[N_MANY - 1]), 0);
	assert_int_equal(bgp_vrf_index_import_all(&X, &R, &MV[N_MANY - 1]), 0);
	assert_int_equal(MV[N_MANY - 1].count, 1);
	/* vn50 removed: out of the index before it is freed */
	bgp_vrf_index_del(&X, &MV[50]);
	bgp_vrf_free(&R, &MV[50]);
	bgp_rib_withdraw(&R, 1, &(struct bgp_prefix){ .af = BGP_AF_VPNV4, .plen = 24,
			 .rd = { 0, 0, 0xfd, 0xe8, 0, 0, 0, 2 }, .addr = { 10, 2, 2 } });
	drain_index();
	assert_null(bgp_vrf_lookup(&MV[0], &p2));
	assert_null(bgp_vrf_lookup(&MV[70], &p2));
	bgp_rib_peer_flush(&R, 0);
	bgp_rib_peer_flush(&R, 1);
	drain_index();
	for (int i = 0; i < N_MANY; i++) {
		if (i == 50)
			continue;
		assert_int_equal(MV[i].count, 0);
		bgp_vrf_index_del(&X, &MV[i]);
		bgp_vrf_free(&R, &MV[i]);
	}
	assert_int_equal(X.n_vrf, 0);
	assert_int_equal(X.held_count, 0);
	assert_int_equal(X.rt_count, 0);
	bgp_vrf_index_free(&X);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rt),
		cmocka_unit_test_setup_teardown(test_import_by_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_best_across_rds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_originate_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
