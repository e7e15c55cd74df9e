/*
 * DOC: vr_ctl_test.c — control requests: bad ones get their error and change
 * nothing; dumps of large tables are paged, never truncated.
 */
#include "vr_test_support.h"
#include "vr_internal.h"

#include <stdio.h>

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 0, 1 };

/* A fingerprint of every table: counts and a few refcounts. */
static void snapshot(const struct vr_router *r, uint32_t *out)
{
	out[0] = r->n_vifs;
	out[1] = r->n_nhs;
	out[2] = r->fib.n_routes;
	out[3] = r->n_labels;
	out[4] = r->n_vnis;
	out[5] = r->n_vrfs;
	out[6] = r->nhs[1] ? r->nhs[1]->refcnt : 99;
	out[7] = r->vifs[1] ? r->vifs[1]->refcnt : 99;
}

static struct vr_router *base(struct vt_host *h)
{
	struct vr_router *r = vt_router(h);
	struct vr_object o = vt_vif(1, VR_VIF_KERNEL, "veth1", 1, mac1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_nh_encap(1, 1, 1, mac1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	o = vt_route(1, "10.0.0.1", 32, 1);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	return r;
}

/* Send raw bytes; return the reply's error code and message. */
static int raw(struct vr_router *r, const uint8_t *req, size_t len, char *msg, size_t n)
{
	static uint8_t rep[VR_MSG_MAX];
	struct vr_msg_view v;
	char err[256];
	size_t rl = vr_ctl_handle(r, req, len, rep, sizeof(rep));
	assert_true(rl > 0);
	assert_int_equal(vr_msg_parse(rep, rl, &v, err, sizeof(err)), 0);
	snprintf(msg, n, "%s", v.errmsg);
	return v.error;
}

static void test_bad_requests_change_nothing(void **state)
{
	(void)state;
	struct vt_host h;
	char msg[256];
	uint32_t before[8], after[8];
	struct vr_router *r = base(&h);
	snapshot(r, before);

	struct vr_object o = vt_nh_encap(2, 42, 1, mac1);                  /* unknown vif */
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ENOENT);
	assert_non_null(strstr(msg, "vif 42"));
	o = vt_route(4096, "10.0.0.0", 8, 1);                              /* vrf out of range */
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ERANGE);
	o = vt_vif(2, VR_VIF_KERNEL, "veth2", 9999, mac1);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ERANGE);
	o = vt_vif(2, VR_VIF_KERNEL, "fail0", 1, mac1);                    /* port cannot attach */
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -ENODEV);
	assert_non_null(strstr(msg, "no such interface"));
	o = vt_vif(2, VR_VIF_KERNEL, "veth1", 1, mac1);                    /* interface taken */
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EEXIST);
	static const uint32_t loop_members[] = { 1, 3 };                   /* nexthop loop */
	struct vr_object loop = vt_nh_composite(3, VR_NH_ECMP, loop_members, 2);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &loop, msg, sizeof(msg)), -ELOOP);
	struct vr_object lbl = { .obj = VR_OBJ_MPLS };                     /* label without nh */
	lbl.u.mpls.label = 100;
	VR_SET(&lbl, VR_AT_LABEL);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &lbl, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "needs a nexthop"));

	/* truncated messages: every prefix of a valid request */
	uint8_t req[512];
	struct tern_wbuf w;
	o = vt_route(1, "10.0.0.2", 32, 1);
	tern_wbuf_init(&w, req, sizeof(req));
	vr_msg_begin(&w, VR_OP_ADD, 9, VR_OBJ_ROUTE);
	vr_msg_put_object(&w, &o);
	int len = vr_msg_finish(&w);
	assert_true(len > 0);
	for (int l = 0; l < len; l++)
		assert_true(raw(r, req, (size_t)l, msg, sizeof(msg)) < 0);
	/* garbage */
	memset(req, 0xa5, sizeof(req));
	assert_true(raw(r, req, sizeof(req), msg, sizeof(msg)) < 0);

	snapshot(r, after);
	assert_memory_equal(before, after, sizeof(before));
	vr_router_destroy(r);
}

static void test_paged_dump(void **state)
{
	(void)state;
	struct vt_host h;
	char a[32];
	struct vr_router *r = base(&h);
	for (unsigned i = 0; i < 6000; i++) {
		snprintf(a, sizeof(a), "10.%u.%u.0", 1 + i / 256, i % 256);
		struct vr_object o = vt_route(1, a, 24, 1);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	}
	static uint8_t req[512], rep[VR_MSG_MAX];
	static uint8_t seen[7000];
	uint64_t cursor = 0;
	unsigned total = 0, pages = 0;
	do {
		struct tern_wbuf w;
		struct vr_msg_view v;
		struct vr_object o = { .obj = VR_OBJ_ROUTE };
		char err[256];
		o.u.route.vrf = 1;
		VR_SET(&o, VR_AT_VRF);
		tern_wbuf_init(&w, req, sizeof(req));
		vr_msg_begin(&w, VR_OP_DUMP, 1, VR_OBJ_ROUTE);
		vr_msg_put_object(&w, &o);
		vr_msg_put_cursor(&w, cursor);
		int len = vr_msg_finish(&w);
		size_t rl = vr_ctl_handle(r, req, (size_t)len, rep, sizeof(rep));
		assert_int_equal(vr_msg_parse(rep, rl, &v, err, sizeof(err)), 0);
		assert_int_equal(v.error, 0);
		assert_true(v.has_cursor);
		struct vr_object got;
		while (vr_msg_next_object(&v, &got, err, sizeof(err)) == 1) {
			unsigned idx = got.u.route.plen == 32 ? 6999u
				     : (got.u.route.prefix.a[1] - 1u) * 256 + got.u.route.prefix.a[2];
			assert_true(idx < 7000);
			assert_int_equal(seen[idx], 0); /* never twice */
			seen[idx] = 1;
			total++;
		}
		cursor = v.cursor;
		pages++;
	} while (cursor);
	assert_int_equal(total, 6001);
	assert_true(pages > 1);
	vr_router_destroy(r);
}

static void test_get_and_info(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = base(&h);
	struct vr_object o = { .obj = VR_OBJ_INFO }, out;
	assert_int_equal(vt_ctl(r, VR_OP_GET, &o, &out), 0);
	assert_string_equal(out.u.info.name, "t");
	assert_int_equal(out.u.info.counts[VR_CNT_ROUTES], 1);
	assert_int_equal(out.u.info.counts[VR_CNT_NHS], 1);
	o = (struct vr_object){ .obj = VR_OBJ_NH };
	o.u.nh.id = 1;
	VR_SET(&o, VR_AT_ID);
	assert_int_equal(vt_ctl(r, VR_OP_GET, &o, &out), 0);
	assert_int_equal(out.u.nh.type, VR_NH_ENCAP);
	assert_int_equal(out.u.nh.refcnt, 1);
	assert_memory_equal(out.u.nh.dmac, mac1, 6);
	o = vt_route(1, "10.0.0.1", 32, 0);
	assert_int_equal(vt_ctl(r, VR_OP_GET, &o, &out), 0);
	assert_int_equal(out.u.route.nh, 1);
	struct vr_object d = { .obj = VR_OBJ_DROPSTATS };
	assert_int_equal(vt_ctl(r, VR_OP_GET, &d, &out), 0);
	assert_int_equal(out.u.drops.n, VR_DROP_MAX_);
	vr_router_destroy(r);
}

static void test_fabric_vif_kinds(void **state)
{
	(void)state;
	struct vt_host h;
	char msg[256];
	struct vr_router *r = vt_router(&h);
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 9 };
	struct vr_object o = vt_vif(0, VR_VIF_FABRIC, "", 0, mac);
	vt_addr(&o.u.vif.ip, "192.0.2.1");
	VR_SET(&o, VR_AT_IP);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "neither"));
	snprintf(o.u.vif.ifname, sizeof(o.u.vif.ifname), "eth1");
	snprintf(o.u.vif.socket, sizeof(o.u.vif.socket), "/run/fab.sock");
	VR_SET(&o, VR_AT_SOCKET);
	assert_int_equal(vt_ctl_err(r, VR_OP_ADD, &o, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "both"));
	o.u.vif.ifname[0] = 0;
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0); /* a memif fabric */
	assert_int_equal(r->fabric_vif, 0);
	vr_router_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_requests_change_nothing),
		cmocka_unit_test(test_paged_dump),
		cmocka_unit_test(test_get_and_info),
		cmocka_unit_test(test_fabric_vif_kinds),
	};
	return cmocka_run_group_tests_name("vr_ctl", tests, NULL, NULL);
}
