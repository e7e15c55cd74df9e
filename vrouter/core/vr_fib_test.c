/* DOC: vr_fib_test.c — the shared-LPM FIB: longest match, VRF isolation, IPv6
 * host routes, refusals, 4,096 VRFs in one table, and the IPv4 host route
 * table (kept apart from the LPM through add, replace, delete and flush). */
#include "vr_test_support.h"
#include "vr_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <rte_lpm6.h>

static const uint8_t pod_mac[6] = { 0x02, 0, 0, 0, 0, 1 };

static struct vr_router *setup_router(struct vt_host *h)
{
	struct vr_router *r = vt_router(h);
	struct vr_object o = vt_vif(1, VR_VIF_KERNEL, "veth1", 1, pod_mac);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	for (uint32_t nh = 1; nh <= 4; nh++) {
		o = vt_nh_encap(nh, 1, 1, pod_mac);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	}
	return r;
}

static uint32_t lookup(struct vr_router *r, uint16_t vrf, const char *addr)
{
	struct vr_addr a;
	vt_addr(&a, addr);
	const struct vr_route *rt = vr_route_lookup(r, vrf, a.family, a.a);
	return rt ? rt->nh : 0;
}

static void add(struct vr_router *r, uint16_t vrf, const char *p, uint8_t plen, uint32_t nh)
{
	struct vr_object o = vt_route(vrf, p, plen, nh);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
}

static void test_longest_match_v4(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	add(r, 1, "10.1.0.0", 16, 1);
	add(r, 1, "10.1.2.0", 24, 2);
	add(r, 1, "10.1.2.3", 32, 3);
	add(r, 1, "0.0.0.0", 0, 4);
	assert_int_equal(lookup(r, 1, "10.1.2.3"), 3);
	assert_int_equal(lookup(r, 1, "10.1.2.4"), 2);
	assert_int_equal(lookup(r, 1, "10.1.9.9"), 1);
	assert_int_equal(lookup(r, 1, "192.0.2.1"), 4);
	struct vr_object o = vt_route(1, "10.1.2.3", 32, 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &o, NULL), 0);
	assert_int_equal(lookup(r, 1, "10.1.2.3"), 2);
	o = vt_route(1, "10.1.2.0", 24, 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &o, NULL), 0);
	assert_int_equal(lookup(r, 1, "10.1.2.3"), 1);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &o, NULL), -ENOENT);
	vr_router_destroy(r);
}

static void test_vrf_isolation(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	/* Two tenants, the same overlapping subnet. */
	add(r, 1, "10.0.0.5", 32, 1);
	add(r, 2, "10.0.0.5", 32, 2);
	assert_int_equal(lookup(r, 1, "10.0.0.5"), 1);
	assert_int_equal(lookup(r, 2, "10.0.0.5"), 2);
	assert_int_equal(lookup(r, 3, "10.0.0.5"), 0);
	/* vrf 0 and vrf 256 differ only in the high byte of the key */
	add(r, 256, "10.0.0.0", 8, 3);
	assert_int_equal(lookup(r, 0, "10.0.0.1"), 0);
	assert_int_equal(lookup(r, 256, "10.0.0.1"), 3);
	vr_router_destroy(r);
}

static void test_ipv6(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	add(r, 1, "fd00:1::", 64, 1);
	add(r, 1, "fd00:1::5", 128, 2);
	add(r, 1, "fd00:1::100:0", 112, 3);
	assert_int_equal(lookup(r, 1, "fd00:1::5"), 2);
	assert_int_equal(lookup(r, 1, "fd00:1::6"), 1);
	assert_int_equal(lookup(r, 1, "fd00:1::100:7"), 3);
	assert_int_equal(lookup(r, 2, "fd00:1::5"), 0);
	char msg[256];
	struct vr_object o = vt_route(1, "fd00:1::", 120, 1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "/113 to /127"));
	o = vt_route(1, "fd00:1::5", 128, 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &o, NULL), 0);
	assert_int_equal(lookup(r, 1, "fd00:1::5"), 1);
	vr_router_destroy(r);
}

static void test_refusals(void **state)
{
	(void)state;
	struct vt_host h;
	char msg[256];
	struct vr_router *r = setup_router(&h);
	struct vr_object o = vt_route(1, "10.1.2.3", 24, 1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "bits set beyond /24"));
	o = vt_route(1, "10.1.2.0", 33, 1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	o = vt_route(5000, "10.1.2.0", 24, 1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ERANGE);
	assert_non_null(strstr(msg, "vrf 5000 is out of range"));
	o = vt_route(1, "10.1.2.0", 24, 99);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ENOENT);
	assert_non_null(strstr(msg, "nexthop 99"));
	assert_int_equal(r->fib.n_routes, 0);
	vr_router_destroy(r);
}

static void test_replace_moves_refs(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	add(r, 1, "10.9.0.0", 16, 1);
	assert_int_equal(r->nhs[1]->refcnt, 1);
	add(r, 1, "10.9.0.0", 16, 2);
	assert_int_equal(r->nhs[1]->refcnt, 0);
	assert_int_equal(r->nhs[2]->refcnt, 1);
	assert_int_equal(r->fib.n_routes, 1);
	assert_int_equal(lookup(r, 1, "10.9.1.1"), 2);
	vr_router_destroy(r);
}

static void test_4096_vrfs(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	char a[32];
	for (uint16_t vrf = 0; vrf < 4096; vrf++) {
		snprintf(a, sizeof(a), "10.%u.%u.1", vrf >> 8, vrf & 0xff);
		add(r, vrf, a, 32, 1 + vrf % 4);
		add(r, vrf, "172.16.0.0", 12, 1 + (vrf + 1) % 4);
	}
	for (uint16_t vrf = 0; vrf < 4096; vrf++) {
		snprintf(a, sizeof(a), "10.%u.%u.1", vrf >> 8, vrf & 0xff);
		assert_int_equal(lookup(r, vrf, a), 1 + vrf % 4);
		assert_int_equal(lookup(r, vrf, "172.20.1.1"), 1 + (vrf + 1) % 4);
		/* another VRF's host route is invisible here */
		snprintf(a, sizeof(a), "10.%u.%u.1", ((vrf + 1) & 4095) >> 8, (vrf + 1) & 0xff);
		assert_int_equal(lookup(r, vrf, a), 0);
	}
	assert_int_equal(r->fib.n_routes, 8192);
	struct vr_object o = { .obj = VR_OBJ_VRF };
	o.u.vrf.id = 77;
	VR_SET(&o, VR_AT_ID);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &o, NULL), 0); /* flushes its routes */
	assert_int_equal(r->fib.n_routes, 8190);
	assert_int_equal(lookup(r, 77, "172.20.1.1"), 0);
	vr_router_destroy(r);
}

/* Is this IPv4 prefix in the shared LPM itself (not the host table)? */
static bool in_lpm4(struct vr_router *r, uint16_t vrf, const char *p, uint8_t plen)
{
	uint8_t key[16] = { (uint8_t)(vrf >> 8), (uint8_t)vrf };
	uint32_t nh;
	assert_int_equal(inet_pton(AF_INET, p, key + 2), 1);
	return rte_lpm6_is_rule_present(r->fib.lpm4, key, (uint8_t)(16 + plen), &nh) == 1;
}

static void del(struct vr_router *r, uint16_t vrf, const char *p, uint8_t plen)
{
	struct vr_object o = vt_route(vrf, p, plen, 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &o, NULL), 0);
}

/* A /32 lives in the host table only; every change there is seen by the next
 * lookup, and a shorter route takes over when it goes. */
static void test_host4_apart_from_lpm(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	add(r, 1, "10.1.2.0", 24, 1);
	add(r, 1, "10.1.2.3", 32, 2);
	add(r, 2, "10.1.2.3", 32, 3);
	assert_int_equal(r->fib.host4.n, 2);
	assert_false(in_lpm4(r, 1, "10.1.2.3", 32));
	assert_true(in_lpm4(r, 1, "10.1.2.0", 24));
	assert_int_equal(lookup(r, 1, "10.1.2.3"), 2);
	assert_int_equal(lookup(r, 2, "10.1.2.3"), 3);
	assert_int_equal(lookup(r, 2, "10.1.2.4"), 0);
	add(r, 1, "10.1.2.3", 32, 4); /* replace: the same place, the new nexthop */
	assert_int_equal(r->fib.host4.n, 2);
	assert_int_equal(lookup(r, 1, "10.1.2.3"), 4);
	del(r, 1, "10.1.2.3", 32);
	assert_int_equal(r->fib.host4.n, 1);
	assert_int_equal(lookup(r, 1, "10.1.2.3"), 1);
	assert_int_equal(lookup(r, 2, "10.1.2.3"), 3);
	/* 0.0.0.0/32 in VRF 0: a key of all zeros is a route like any other */
	add(r, 0, "0.0.0.0", 32, 1);
	assert_int_equal(lookup(r, 0, "0.0.0.0"), 1);
	assert_int_equal(lookup(r, 0, "0.0.0.1"), 0);
	/* a VRF's deletion flushes its host routes too */
	struct vr_object o = { .obj = VR_OBJ_VRF };
	o.u.vrf.id = 2;
	VR_SET(&o, VR_AT_ID);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &o, NULL), 0);
	assert_int_equal(lookup(r, 2, "10.1.2.3"), 0);
	assert_int_equal(r->fib.host4.n, 1);
	vr_router_destroy(r);
}

/* One bulk lookup mixing host routes, prefixes and misses, in two VRFs. */
static void test_host4_bulk_mixed(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	add(r, 1, "10.0.0.0", 8, 1);
	add(r, 3, "10.0.0.0", 8, 4);
	uint16_t vrf[VR_BURST];
	uint8_t a[VR_BURST][4];
	const uint8_t *ap[VR_BURST];
	const struct vr_route *out[VR_BURST];
	for (unsigned i = 0; i < VR_BURST; i++) {
		vrf[i] = i % 3 ? 1 : 3;
		a[i][0] = i % 4 ? 10 : 11; /* 11/8: no route */
		a[i][1] = 0;
		a[i][2] = (uint8_t)(i / 8);
		a[i][3] = (uint8_t)i;
		ap[i] = a[i];
		if (i % 2 == 0 && vrf[i] == 1) {
			char s[32];
			snprintf(s, sizeof(s), "%u.0.%u.%u", a[i][0], a[i][2], a[i][3]);
			add(r, 1, s, 32, 2 + i % 2);
		}
	}
	vr_route_lookup_bulk(r, 4, vrf, ap, out, VR_BURST);
	for (unsigned i = 0; i < VR_BURST; i++) {
		uint32_t want = (i % 2 == 0 && vrf[i] == 1) ? 2 : a[i][0] == 11 ? 0 : vrf[i] == 1 ? 1 : 4;
		assert_int_equal(out[i] ? out[i]->nh : 0, want);
	}
	vr_router_destroy(r);
}

/* Fill the table to --routes with host routes, delete and add at random and
 * check every route after each round against what was configured: deletes
 * inside runs of colliding entries must keep the rest of the run reachable. */
static void test_host4_full_random(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	enum { N = 16384 }; /* vt_router's --routes */
	static struct { uint16_t vrf; uint8_t a[4]; uint32_t nh; } rt[N];
	uint64_t x = 88172645463325252ull;
	char s[32];
	for (unsigned i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		rt[i].vrf = (uint16_t)(x % 8);
		rt[i].a[0] = 10;
		rt[i].a[1] = (uint8_t)(i >> 8); /* distinct: i in the low 16 bits */
		rt[i].a[2] = (uint8_t)i;
		rt[i].a[3] = (uint8_t)(x >> 32);
		rt[i].nh = 1 + (uint32_t)(x >> 40) % 4;
		snprintf(s, sizeof(s), "10.%u.%u.%u", rt[i].a[1], rt[i].a[2], rt[i].a[3]);
		add(r, rt[i].vrf, s, 32, rt[i].nh);
	}
	assert_int_equal(r->fib.host4.n, N);
	struct vr_object o = vt_route(0, "192.0.2.1", 32, 1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), -ENOSPC);
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < N; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			snprintf(s, sizeof(s), "10.%u.%u.%u", rt[i].a[1], rt[i].a[2], rt[i].a[3]);
			if (rt[i].nh && x % 3 == 0) {
				del(r, rt[i].vrf, s, 32);
				rt[i].nh = 0;
			} else if (!rt[i].nh && x % 2 == 0) {
				rt[i].nh = 1 + (uint32_t)(x >> 40) % 4;
				add(r, rt[i].vrf, s, 32, rt[i].nh);
			}
		}
		unsigned live = 0;
		for (unsigned i = 0; i < N; i++) {
			const struct vr_route *got = vr_route_lookup(r, rt[i].vrf, 4, rt[i].a);
			assert_int_equal(got ? got->nh : 0, rt[i].nh);
			/* never in another VRF */
			got = vr_route_lookup(r, (uint16_t)(rt[i].vrf + 8), 4, rt[i].a);
			assert_null(got);
			live += rt[i].nh != 0;
		}
		assert_int_equal(r->fib.host4.n, live);
		assert_int_equal(r->fib.n_routes, live);
	}
	vr_router_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_longest_match_v4),
		cmocka_unit_test(test_vrf_isolation),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_replace_moves_refs),
		cmocka_unit_test(test_4096_vrfs),
		cmocka_unit_test(test_host4_apart_from_lpm),
		cmocka_unit_test(test_host4_bulk_mixed),
		cmocka_unit_test(test_host4_full_random),
	};
	return cmocka_run_group_tests_name("vr_fib", tests, NULL, NULL);
}
