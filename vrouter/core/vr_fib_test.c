/* DOC: vr_fib_test.c — the shared-LPM FIB: longest match, VRF isolation, IPv6
 * host routes, refusals, and 4,096 VRFs in one table. */
#include "vr_test_support.h"
#include "vr_internal.h"

#include <arpa/inet.h>
#include <stdio.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_longest_match_v4),
		cmocka_unit_test(test_vrf_isolation),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_replace_moves_refs),
		cmocka_unit_test(test_4096_vrfs),
	};
	return cmocka_run_group_tests_name("vr_fib", tests, NULL, NULL);
}
