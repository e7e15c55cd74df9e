/* DOC: bgp_rib_test.c — interning, best path, Adj-RIB-In flush, reflection,
 * ADD-PATH paths and equal-cost (multipath) selection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bgp_rib.h"

static struct bgp_rib R;

static int setup(void **state)
{
	(void)state;
	if (bgp_rib_init(&R, 65000, 0x0a000001, 0x0a000001) < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		R.peers[i].used = true;
		R.peers[i].as = 65000;
		R.peers[i].router_id = 0x0a000010u + (uint32_t)i;
		R.peers[i].addr[15] = (uint8_t)(i + 1);
		R.peers[i].rr_client = true;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bgp_rib_free(&R);
	return 0;
}

static struct bgp_attrs base(uint32_t lp)
{
	struct bgp_attrs a = { .has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
				      BGP_HAS(BGP_ATTR_LOCAL_PREF),
			       .local_pref = lp, .nh_len = 4, .nh = { 10, 0, 0, 2 } };
	return a;
}

static struct bgp_nlri vpn(uint8_t third)
{
	struct bgp_nlri n = { .p = { .af = BGP_AF_VPNV4, .plen = 24, .rd = { 0, 0, 0, 1, 0, 0, 0, 1 },
				     .addr = { 10, 2, third } }, .label = 100 };
	return n;
}

static void test_intern_shares(void **state)
{
	(void)state;
	struct bgp_attrs a = base(100), b = base(100);
	a.med = 77; /* MED absent: the value must not matter */
	struct bgp_rattrs *x = bgp_rib_intern(&R, &a), *y = bgp_rib_intern(&R, &b);
	assert_ptr_equal(x, y);
	assert_int_equal(x->refcnt, 2);
	b.local_pref = 200;
	struct bgp_rattrs *z = bgp_rib_intern(&R, &b);
	assert_ptr_not_equal(x, z);
	bgp_rib_unref(&R, x);
	bgp_rib_unref(&R, y);
	bgp_rib_unref(&R, z);
	assert_int_equal(R.acount, 0);
}

static void test_best_path_and_flush(void **state)
{
	(void)state;
	struct bgp_nlri n = vpn(0);
	struct bgp_attrs lo = base(100), hi = base(200);
	assert_int_equal(bgp_rib_update(&R, 0, &n, &lo), 0);
	assert_int_equal(bgp_rib_update(&R, 1, &n, &hi), 0);
	struct bgp_dest *d = bgp_rib_lookup(&R, &n.p);
	assert_non_null(d);
	assert_int_equal(d->best->peer, 1); /* higher LOCAL_PREF */
	/* equal attributes: the lower router id (peer 0) wins */
	assert_int_equal(bgp_rib_update(&R, 1, &n, &lo), 0);
	assert_int_equal(d->best->peer, 0);
	/* shorter AS_PATH beats it */
	uint8_t asp[6] = { 2, 1, 0, 0, 0xfd, 0xe9 };
	struct bgp_attrs longer = base(100);
	longer.as_path = (struct bgp_bytes){ asp, 6 };
	assert_int_equal(bgp_rib_update(&R, 0, &n, &longer), 0);
	assert_int_equal(d->best->peer, 1);
	assert_int_equal(R.peers[0].count[BGP_AF_VPNV4], 1);
	assert_int_equal(bgp_rib_peer_flush(&R, 1), 1);
	assert_int_equal(d->best->peer, 0);
	assert_int_equal(bgp_rib_withdraw(&R, 0, &n.p), 1);
	assert_null(d->paths);
	while ((d = bgp_rib_dirty_pop(&R)))
		bgp_rib_dest_gc(&R, d);
	assert_null(bgp_rib_lookup(&R, &n.p));
	assert_int_equal(R.acount, 0);
}

/* RFC 4456: client to client with ORIGINATOR_ID and CLUSTER_LIST; not back
 * to the sender; non-client to non-client not at all; loops detected. */
static void test_reflection(void **state)
{
	(void)state;
	struct bgp_nlri n = vpn(1);
	struct bgp_attrs a = base(100);
	assert_int_equal(bgp_rib_update(&R, 0, &n, &a), 0);
	struct bgp_dest *d = bgp_rib_lookup(&R, &n.p);
	struct bgp_attrs out;
	uint8_t scratch[BGP_MAX_MSG];
	assert_false(bgp_rib_export(&R, d->best, 0, &out, scratch));
	assert_true(bgp_rib_export(&R, d->best, 1, &out, scratch));
	assert_true(out.has & BGP_HAS(BGP_ATTR_ORIGINATOR_ID));
	assert_int_equal(out.originator_id, 0x0a000010);
	assert_int_equal(out.cluster_list.len, 4);
	assert_memory_equal(out.cluster_list.p, ((uint8_t[]){ 10, 0, 0, 1 }), 4);
	assert_true(bgp_rib_is_loop(&R, 1, &out)); /* our cluster id in the list */
	R.peers[0].rr_client = R.peers[2].rr_client = false;
	assert_false(bgp_rib_export(&R, d->best, 2, &out, scratch));
	R.peers[0].rr_client = R.peers[2].rr_client = true;
	/* to eBGP: our AS first, no LOCAL_PREF */
	R.peers[2].ebgp = true;
	assert_true(bgp_rib_export(&R, d->best, 2, &out, scratch));
	assert_int_equal(bgp_aspath_first(out.as_path), 65000);
	assert_false(out.has & BGP_HAS(BGP_ATTR_LOCAL_PREF));
	assert_true(bgp_rib_is_loop(&R, 2, &out));
	R.peers[2].ebgp = false;
	bgp_rib_peer_flush(&R, 0);
	while ((d = bgp_rib_dirty_pop(&R)))
		bgp_rib_dest_gc(&R, d);
}

/* Many routes: tables grow, everything is found and freed. */
static void test_many(void **state)
{
	(void)state;
	struct bgp_attrs a = base(100);
	for (unsigned i = 0; i < 5000; i++) {
		struct bgp_nlri n = vpn(0);
		n.p.addr[1] = (uint8_t)(i >> 8);
		n.p.addr[2] = (uint8_t)i;
		assert_int_equal(bgp_rib_update(&R, 2, &n, &a), 0);
	}
	assert_int_equal(R.t[BGP_AF_VPNV4].count, 5000);
	assert_int_equal(R.acount, 1);
	assert_int_equal(bgp_rib_peer_flush(&R, 2), 5000);
	struct bgp_dest *d;
	while ((d = bgp_rib_dirty_pop(&R)))
		bgp_rib_dest_gc(&R, d);
	assert_int_equal(R.t[BGP_AF_VPNV4].count, 0);
}

/* RFC 4724 §4.2 receiving speaker: the families kept are marked stale, the
 * others go at once; a route sent again is fresh; End-of-RIB sweeps the rest. */
static void test_graceful_restart(void **state)
{
	(void)state;
	struct bgp_attrs a = base(100);
	struct bgp_nlri v1 = vpn(50), v2 = vpn(51);
	struct bgp_nlri u4 = { .p = { .af = BGP_AF_IPV4, .plen = 16, .addr = { 10, 50 } },
			       .label = BGP_LABEL_NONE };
	assert_int_equal(bgp_rib_update(&R, 2, &v1, &a), 0);
	assert_int_equal(bgp_rib_update(&R, 2, &v2, &a), 0);
	assert_int_equal(bgp_rib_update(&R, 2, &u4, &a), 0);
	uint32_t keep = BGP_AF_BIT(BGP_AF_VPNV4);
	assert_int_equal(bgp_rib_peer_sweep(&R, 2, ~keep, BGP_SWEEP_ALL), 1);
	assert_null(bgp_rib_lookup(&R, &u4.p) ? bgp_rib_lookup(&R, &u4.p)->paths : NULL);
	assert_int_equal(bgp_rib_peer_sweep(&R, 2, keep, BGP_SWEEP_MARK_STALE), 2);
	struct bgp_dest *d1 = bgp_rib_lookup(&R, &v1.p), *d2 = bgp_rib_lookup(&R, &v2.p);
	assert_true(d1->paths->stale && d2->paths->stale);
	assert_ptr_equal(d1->best, d1->paths); /* stale routes stay in use */
	assert_int_equal(bgp_rib_update(&R, 2, &v1, &a), 0); /* refreshed */
	assert_false(d1->paths->stale);
	assert_int_equal(bgp_rib_peer_sweep(&R, 2, keep, BGP_SWEEP_STALE), 1); /* End-of-RIB */
	assert_non_null(bgp_rib_lookup(&R, &v1.p)->paths);
	d2 = bgp_rib_lookup(&R, &v2.p);
	assert_true(d2 == NULL || d2->paths == NULL);
	assert_int_equal(R.peers[2].count[BGP_AF_VPNV4], 1);
	bgp_rib_peer_flush(&R, 2);
	struct bgp_dest *d;
	while ((d = bgp_rib_dirty_pop(&R)))
		bgp_rib_dest_gc(&R, d);
}

/* ADD-PATH: one peer sends two paths of one destination (path ids 1 and
 * 2), a second peer a third; each gets its own tx id; equal-cost paths are
 * multipath, a lower LOCAL_PREF is not; withdrawal by path id; the ADD-PATH
 * Adj-RIB-Out keeps a destination until its withdrawals went out. */
static void test_addpath_multipath(void **state)
{
	(void)state;
	struct bgp_nlri n = vpn(9);
	struct bgp_attrs a1 = base(100), a2 = base(100), a3 = base(100), low = base(50);
	a2.nh[3] = 3;
	a3.nh[3] = 4;
	low.nh[3] = 5;
	n.path_id = 1;
	assert_int_equal(bgp_rib_update(&R, 0, &n, &a1), 0);
	n.path_id = 2;
	n.label = 200;
	assert_int_equal(bgp_rib_update(&R, 0, &n, &a2), 0);
	n.path_id = 0;
	assert_int_equal(bgp_rib_update(&R, 1, &n, &a3), 0);
	assert_int_equal(bgp_rib_update(&R, 2, &n, &low), 0);
	struct bgp_dest *d = bgp_rib_lookup(&R, &n.p);
	assert_non_null(d);
	int cnt = 0, multi = 0;
	uint64_t ids = 0;
	for (struct bgp_path *p = d->paths; p; p = p->next) {
		cnt++;
		assert_true(p->tx_id >= 1 && p->tx_id <= 4);
		assert_false(ids & (1ull << p->tx_id)); /* unique */
		ids |= 1ull << p->tx_id;
		multi += bgp_path_multipath(&R, p, d->best);
	}
	assert_int_equal(cnt, 4);
	assert_int_equal(multi, 3);            /* the LOCAL_PREF 50 path is not equal-cost */
	assert_int_equal(R.peers[0].count[BGP_AF_VPNV4], 2);
	/* the same path id again replaces, a withdrawal of another id removes it */
	n.path_id = 2;
	assert_int_equal(bgp_rib_update(&R, 0, &n, &a2), 0);
	assert_int_equal(bgp_rib_withdraw_id(&R, 0, &n.p, 7), 0);
	assert_int_equal(bgp_rib_withdraw_id(&R, 0, &n.p, 2), 1);
	assert_int_equal(bgp_rib_withdraw(&R, 0, &n.p), 0);   /* id 0: none from peer 0 */
	assert_int_equal(R.peers[0].count[BGP_AF_VPNV4], 1);
	/* a new path takes the freed tx id back */
	n.path_id = 5;
	assert_int_equal(bgp_rib_update(&R, 0, &n, &a2), 0);
	uint64_t ids2 = 0;
	for (struct bgp_path *p = d->paths; p; p = p->next)
		ids2 |= 1ull << p->tx_id;
	assert_int_equal(ids2, ids);
	/* Adj-RIB-Out of ADD-PATH peers */
	assert_int_equal(bgp_rib_ap_mark(d, 1, 1, true), 0);
	assert_int_equal(bgp_rib_ap_mark(d, 2, 1, true), 0);
	assert_int_equal(bgp_rib_ap_mark(d, 3, 1, true), 0);
	assert_int_equal(bgp_rib_ap_mark(d, 1, 2, true), 0);
	assert_int_equal(bgp_rib_ap_mark(d, 1, 700, true), 0);  /* out of line */
	assert_int_equal(d->ap->n, 3);
	assert_int_equal(bgp_rib_ap_mark(d, 2, 1, false), 0);
	assert_int_equal(d->ap->n, 2);
	bgp_rib_peer_flush(&R, 0);
	bgp_rib_peer_flush(&R, 1);
	bgp_rib_peer_flush(&R, 2);
	while (bgp_rib_dirty_pop(&R))
		;
	bgp_rib_dest_gc(&R, d);
	assert_ptr_equal(bgp_rib_lookup(&R, &n.p), d);  /* peers 1 and 2 still hold ids */
	bgp_rib_dest_forget(d, 1);
	bgp_rib_dest_forget(d, 2);
	assert_int_equal(d->ap->n, 1);                  /* peer 700 still holds id 1 */
	bgp_rib_dest_forget(d, 700);
	assert_int_equal(d->ap->n, 0);
	bgp_rib_dest_gc(&R, d);
	assert_null(bgp_rib_lookup(&R, &n.p));
}

/* Peer sets (Adj-RIB-Out) past 64 peers: inline up to peer 62, then a
 * bitmap; every member exactly once, empty is 0 again. */
static void test_pset_many_peers(void **state)
{
	(void)state;
	uint64_t s = 0;
	assert_int_equal(bgp_pset_add(&s, 0), 0);
	assert_int_equal(bgp_pset_add(&s, 62), 0);
	assert_true(s & 1);                        /* still inline */
	assert_true(bgp_pset_has(s, 0) && bgp_pset_has(s, 62) && !bgp_pset_has(s, 1));
	assert_false(bgp_pset_has(s, 63));
	assert_int_equal(bgp_pset_add(&s, 63), 0);   /* spills */
	assert_false(s & 1);
	for (unsigned i = 64; i < 1024; i += 3)
		assert_int_equal(bgp_pset_add(&s, i), 0);
	assert_int_equal(bgp_pset_add(&s, BGP_MAX_PEERS - 2), 0);
	for (unsigned i = 0; i < BGP_MAX_PEERS; i++) {
		bool want = i == 0 || i == 62 || i == 63 || i == BGP_MAX_PEERS - 2 ||
			    (i >= 64 && i < 1024 && (i - 64) % 3 == 0);
		assert_int_equal(bgp_pset_has(s, i), want);
	}
	bgp_pset_del(&s, 5);                         /* not a member: nothing */
	bgp_pset_del(&s, 0);
	bgp_pset_del(&s, 62);
	bgp_pset_del(&s, 63);
	for (unsigned i = 64; i < 1024; i += 3)
		bgp_pset_del(&s, i);
	assert_true(s != 0);
	bgp_pset_del(&s, BGP_MAX_PEERS - 2);
	assert_true(s == 0);                         /* the bitmap freed */
	bgp_pset_add(&s, 3);
	bgp_pset_del(&s, 3);
	assert_true(s == 0);
	assert_int_equal(bgp_pset_add(&s, 200), 0);
	bgp_pset_free(&s);
	assert_true(s == 0);
}

/* A destination held by 300 peers: Adj-RIB-Out bits per peer, forgotten
 * peer by peer, then the destination collected. */
static void test_adj_out_many_peers(void **state)
{
	(void)state;
	struct bgp_attrs a = base(100);
	struct bgp_nlri n = { .p = { .af = BGP_AF_IPV4, .plen = 24, .addr = { 10, 9, 9 } } };
	assert_int_equal(bgp_rib_update(&R, 0, &n, &a), 0);
	struct bgp_dest *d = bgp_rib_lookup(&R, &n.p);
	assert_non_null(d);
	for (unsigned i = 1; i <= 300; i++)
		assert_int_equal(bgp_pset_add(&d->adv, i), 0);
	assert_true(bgp_pset_has(d->adv, 300) && bgp_pset_has(d->adv, 1));
	assert_false(bgp_pset_has(d->adv, 0) || bgp_pset_has(d->adv, 301));
	bgp_rib_withdraw(&R, 0, &n.p);
	while (bgp_rib_dirty_pop(&R))
		;
	bgp_rib_dest_gc(&R, d);
	assert_ptr_equal(bgp_rib_lookup(&R, &n.p), d);  /* peers still hold it */
	for (unsigned i = 1; i <= 300; i++)
		bgp_rib_dest_forget(d, (uint16_t)i);
	assert_true(d->adv == 0);
	bgp_rib_dest_gc(&R, d);
	assert_null(bgp_rib_lookup(&R, &n.p));
	/* and one left behind is freed with the RIB (teardown, leak-checked) */
	assert_int_equal(bgp_rib_update(&R, 0, &n, &a), 0);
	d = bgp_rib_lookup(&R, &n.p);
	assert_int_equal(bgp_pset_add(&d->adv, 2000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intern_shares),
		cmocka_unit_test(test_best_path_and_flush),
		cmocka_unit_test(test_reflection),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_graceful_restart),
		cmocka_unit_test(test_addpath_multipath),
		cmocka_unit_test(test_pset_many_peers),
		cmocka_unit_test(test_adj_out_many_peers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
