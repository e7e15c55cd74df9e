/* DOC: vr_nh_test.c — nexthops: validation, references, loops. */
#include "vr_test_support.h"
#include "vr_internal.h"

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 0, 1 };
static const uint8_t gw[6] = { 0x02, 0, 0, 0, 0, 0xfe };

static struct vr_router *setup_router(struct vt_host *h)
{
	struct vr_router *r = vt_router(h);
	struct vr_object o = vt_vif(0, VR_VIF_FABRIC, "fab0", 0, mac1);
	vt_addr(&o.u.vif.ip, "192.0.2.1");
	VR_SET(&o, VR_AT_IP);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_vif(1, VR_VIF_KERNEL, "veth1", 1, mac1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	return r;
}


static void test_validation(void **state)
{
	(void)state;
	struct vt_host h;
	char msg[256];
	struct vr_router *r = setup_router(&h);
	struct vr_object o = vt_nh_encap(1, 9, 1, mac1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ENOENT);
	assert_non_null(strstr(msg, "vif 9 does not exist"));
	o = vt_nh_encap(1, 0, 1, mac1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "tunnel nexthop"));
	o = vt_nh_tunnel(2, 1, VR_ENCAP_MPLSOUDP, "192.0.2.2", gw, 100);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "fabric"));
	o = vt_nh_tunnel(2, 0, VR_ENCAP_MPLSOUDP, "192.0.2.2", gw, 5);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ERANGE);
	assert_non_null(strstr(msg, "label 5"));
	o = vt_nh_tunnel(2, 0, VR_ENCAP_VXLAN, "192.0.2.2", gw, 1u << 24);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ERANGE);
	o = vt_nh_tunnel(2, 0, VR_ENCAP_MPLSOUDP, "2001:db8::2", gw, 100);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "different families"));
	o = vt_nh_encap(0, 1, 1, mac1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ERANGE);
	assert_int_equal(r->n_nhs, 0);
	vr_router_destroy(r);
}

static void test_refs_and_busy(void **state)
{
	(void)state;
	struct vt_host h;
	char msg[256];
	struct vr_router *r = setup_router(&h);
	struct vr_object o = vt_nh_encap(1, 1, 1, mac1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	struct vr_object rt = vt_route(1, "10.0.0.1", 32, 1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &rt, NULL), 0);
	struct vr_object del = { .obj = VR_OBJ_NH };
	del.u.nh.id = 1;
	VR_SET(&del, VR_AT_ID);
	assert_int_equal(vt_ctl_err(r, VR_OP_DEL, &del, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "delete those first"));
	struct vr_object vd = { .obj = VR_OBJ_VIF };
	vd.u.vif.id = 1;
	VR_SET(&vd, VR_AT_ID);
	assert_int_equal(vt_ctl_err(r, VR_OP_DEL, &vd, msg, sizeof(msg)), -EBUSY);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &rt, NULL), 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &del, NULL), 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &vd, NULL), 0);
	assert_int_equal(h.attached, 1);
	vr_router_destroy(r);
	assert_int_equal(h.attached, 0);
}

static void test_loops(void **state)
{
	(void)state;
	struct vt_host h;
	char msg[256];
	struct vr_router *r = setup_router(&h);
	struct vr_object o = vt_nh_encap(1, 1, 1, mac1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	uint32_t m[] = { 1, 5 };
	o = vt_nh_composite(5, VR_NH_ECMP, m, 2);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ELOOP);
	assert_non_null(strstr(msg, "member of itself"));
	o = vt_nh_composite(5, VR_NH_ECMP, m, 1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	uint32_t m2[] = { 5 };
	o = vt_nh_composite(6, VR_NH_FLOOD, m2, 1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ELOOP);
	assert_non_null(strstr(msg, "cannot nest"));
	o = vt_nh_composite(6, VR_NH_ECMP, m2, 0);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(r->nhs[1]->refcnt, 1);
	assert_null(r->nhs[6]);
	vr_router_destroy(r);
}

static void test_replace_keeps_members(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup_router(&h);
	struct vr_object o = vt_nh_encap(1, 1, 1, mac1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_encap(2, 1, 1, mac1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	uint32_t m[] = { 1, 2 };
	o = vt_nh_composite(3, VR_NH_ECMP, m, 2);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_composite(3, VR_NH_ECMP, m, 1); /* drop member 2 */
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	assert_int_equal(r->nhs[1]->refcnt, 1);
	assert_int_equal(r->nhs[2]->refcnt, 0);
	assert_int_equal(r->vifs[1]->refcnt, 2);
	vr_router_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_refs_and_busy),
		cmocka_unit_test(test_loops),
		cmocka_unit_test(test_replace_keeps_members),
	};
	return cmocka_run_group_tests_name("vr_nh", tests, NULL, NULL);
}
