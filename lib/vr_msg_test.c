/*
 * DOC: vr_msg_test.c — the vrouter control codec: round trips of every object
 * type, every rejection (error code and a message naming the attribute), and
 * truncation at every byte of valid messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vr_msg.h"

#define ERRLEN 256

/* ---- helpers ---- */

/* A message under construction whose object attributes a test writes raw. */
struct mb {
	struct tern_wbuf w;
	size_t obj_start;
	uint8_t buf[4096];
};

static void mb_begin(struct mb *m, uint16_t obj)
{
	tern_wbuf_init(&m->w, m->buf, sizeof(m->buf));
	vr_msg_begin(&m->w, VR_OP_ADD, 42, obj);
	m->obj_start = tern_tlv_begin(&m->w, VR_A_OBJECT);
}

static size_t mb_end(struct mb *m)
{
	tern_tlv_end(&m->w, m->obj_start);
	int n = vr_msg_finish(&m->w);
	assert_true(n > 0);
	return (size_t)n;
}

/* Parse and decode the first object; the first error, or next_object's rc. */
static int decode_first(const uint8_t *buf, size_t len, struct vr_object *o, char *err)
{
	struct vr_msg_view v;
	int rc = vr_msg_parse(buf, len, &v, err, ERRLEN);
	if (rc < 0)
		return rc;
	return vr_msg_next_object(&v, o, err, ERRLEN);
}

/* The object in m must be rejected with rc, and the message must say what. */
static void expect_reject(struct mb *m, int rc, const char *needle)
{
	size_t len = mb_end(m);
	struct vr_object o;
	char err[ERRLEN] = "";
	assert_int_equal(decode_first(m->buf, len, &o, err), rc);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

/* A nested attribute at of an obj, its own attributes written raw between
 * nest_begin and nest_reject, which expects the rejection. */
static size_t nest_begin(struct mb *m, uint16_t obj, uint16_t at)
{
	mb_begin(m, obj);
	return tern_tlv_begin(&m->w, at);
}

static void nest_reject(struct mb *m, size_t start, int rc, const char *needle)
{
	tern_tlv_end(&m->w, start);
	expect_reject(m, rc, needle);
}

static size_t encode_one(uint8_t *buf, size_t cap, uint16_t op, const struct vr_object *o)
{
	struct tern_wbuf w;
	tern_wbuf_init(&w, buf, cap);
	vr_msg_begin(&w, op, 7, o->obj);
	vr_msg_put_object(&w, o);
	int n = vr_msg_finish(&w);
	assert_true(n > 0);
	return (size_t)n;
}

static void set_addr(struct vr_addr *a, int family, uint8_t seed)
{
	a->family = (uint8_t)family;
	for (unsigned i = 0; i < (family == 4 ? 4u : 16u); i++)
		a->a[i] = (uint8_t)(seed + i);
}

static void set_all(struct vr_object *o, const unsigned *attrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		VR_SET(o, attrs[i]);
}
#define SET_ALL(o, ...) do { static const unsigned a_[] = { __VA_ARGS__ }; \
	set_all((o), a_, sizeof(a_) / sizeof(a_[0])); } while (0)

/* ---- one fully populated object of each type ---- */

static void fill(struct vr_object *o, uint16_t type)
{
	memset(o, 0, sizeof(*o));
	o->obj = type;
	switch (type) {
	case VR_OBJ_VIF: {
		struct vr_obj_vif *v = &o->u.vif;
		v->id = 3;
		v->type = VR_VIF_MEMIF;
		strcpy(v->name, "pod-a/eth0");
		strcpy(v->ifname, "veth1234567890abcdef0123456789a"); /* 31: the most that fits */
		strcpy(v->socket, "/run/tern/memif/pod-a.sock");
		v->role = 1;
		memcpy(v->mac, "\x02\x00\x00\xaa\xbb\xcc", 6);
		v->vrf = 2;
		v->mtu = 9000;
		set_addr(&v->ip, 6, 0x20);
		v->flags = VR_VIF_F_POLICY;
		v->port_id = 4;
		v->link = 1;
		v->stats = (struct vr_stats){ 1, 2, 3, 4, 5, UINT64_MAX };
		v->port_rx = (struct vr_port_rx){ .nombuf = 6, .missed = (uint64_t)1 << 40,
			.bad = UINT64_MAX, .switches = 9, .mode = VR_RXM_BLOCKS, .adaptive = 1 };
		v->policy_in = 7;
		v->policy_out = 65535;
		SET_ALL(o, VR_AT_ID, VR_AT_TYPE, VR_AT_NAME, VR_AT_IFNAME, VR_AT_SOCKET, VR_AT_ROLE,
			VR_AT_MAC, VR_AT_VRF, VR_AT_MTU, VR_AT_IP, VR_AT_FLAGS, VR_AT_PORT_ID,
			VR_AT_LINK, VR_AT_STATS, VR_AT_PORT_RX, VR_AT_POLICY_IN, VR_AT_POLICY_OUT);
		break;
	}
	case VR_OBJ_VRF:
		o->u.vrf = (struct vr_obj_vrf){ 65535, VR_VRF_F_L2 | VR_VRF_F_L3, 77, VR_MAX_VNI };
		SET_ALL(o, VR_AT_ID, VR_AT_FLAGS, VR_AT_NH, VR_AT_VNI);
		break;
	case VR_OBJ_NH: {
		struct vr_obj_nh *n = &o->u.nh;
		n->id = 65535;
		n->type = VR_NH_TUNNEL;
		n->flags = VR_NH_F_L2;
		n->vif = 1;
		n->vrf = 9;
		memcpy(n->dmac, "\x52\x54\x00\x01\x02\x03", 6);
		n->encap = VR_ENCAP_VXLAN;
		set_addr(&n->sip, 4, 10);
		set_addr(&n->dip, 6, 100);
		n->label = VR_MAX_LABEL;
		n->vni = 4096;
		n->n_members = VR_MAX_ECMP;
		for (unsigned i = 0; i < VR_MAX_ECMP; i++)
			n->members[i] = 1000 + i;
		n->refcnt = 0xfffffffeu;
		SET_ALL(o, VR_AT_ID, VR_AT_TYPE, VR_AT_FLAGS, VR_AT_VIF, VR_AT_VRF, VR_AT_DMAC,
			VR_AT_ENCAP, VR_AT_SIP, VR_AT_DIP, VR_AT_LABEL, VR_AT_VNI, VR_AT_MEMBERS,
			VR_AT_REFCNT);
		break;
	}
	case VR_OBJ_ROUTE:
		o->u.route.vrf = 5;
		set_addr(&o->u.route.prefix, 4, 10);
		o->u.route.plen = 24;
		o->u.route.nh = 12;
		o->u.route.flags = VR_RT_F_PROXY_ARP;
		memcpy(o->u.route.mac, "\x00\x01\x02\x03\x04\x05", 6);
		SET_ALL(o, VR_AT_VRF, VR_AT_PREFIX, VR_AT_PLEN, VR_AT_NH, VR_AT_FLAGS, VR_AT_MAC);
		break;
	case VR_OBJ_MPLS:
		o->u.mpls = (struct vr_obj_mpls){ 100, 3 };
		SET_ALL(o, VR_AT_LABEL, VR_AT_NH);
		break;
	case VR_OBJ_VNI:
		o->u.vni = (struct vr_obj_vni){ 5001, 3 };
		SET_ALL(o, VR_AT_VNI, VR_AT_VRF);
		break;
	case VR_OBJ_BRIDGE:
		o->u.bridge.vrf = 3;
		memcpy(o->u.bridge.mac, "\xff\xff\xff\xff\xff\xff", 6);
		o->u.bridge.nh = 9;
		SET_ALL(o, VR_AT_VRF, VR_AT_MAC, VR_AT_NH);
		break;
	case VR_OBJ_INFO:
		strcpy(o->u.info.name, "default");
		strcpy(o->u.info.version, "0.1.0");
		strcpy(o->u.info.lcores, "1-3");
		o->u.info.uptime = 86400ULL * 365;
		o->u.info.n_counts = VR_CNT_MAX_;
		for (unsigned i = 0; i < VR_CNT_MAX_; i++)
			o->u.info.counts[i] = i * 11;
		o->u.info.busy_cycles = 123456789012ULL;
		o->u.info.busy_pkts = 1000000;
		o->u.info.tsc_hz = 2100000000ULL;
		SET_ALL(o, VR_AT_NAME, VR_AT_VERSION, VR_AT_LCORES, VR_AT_UPTIME, VR_AT_COUNT,
			VR_AT_BUSY_CYCLES, VR_AT_BUSY_PKTS, VR_AT_TSC_HZ);
		break;
	case VR_OBJ_DROPSTATS:
		o->u.drops.vif = 2;
		o->u.drops.n = VR_DROP_MAX_;
		for (unsigned i = 0; i < VR_DROP_MAX_; i++)
			o->u.drops.drops[i] = (uint64_t)i << 40;
		SET_ALL(o, VR_AT_VIF, VR_AT_DROPS);
		break;
	case VR_OBJ_FLOW: {
		struct vr_obj_flow *f = &o->u.flow;
		f->vrf = 4;
		f->proto = 6;
		set_addr(&f->sip, 6, 1);
		set_addr(&f->dip, 6, 40);
		f->sport = 40000;
		f->dport = 5432;
		f->action = VR_ACT_DENY;
		f->policy = 12;
		f->rule = 0xfffffff0u;
		f->state = 2;
		f->vif = 3;
		f->n_stats = VR_FC_MAX_;
		for (unsigned i = 0; i < VR_FC_MAX_; i++)
			f->stats[i] = (uint64_t)(i + 1) << 33;
		set_addr(&f->ip, 4, 9);
		f->port = 443;
		f->nat = VR_NAT_DST;
		set_addr(&f->nat_ip, 6, 77);
		f->nat_port = 8080;
		f->nat_vrf = 65535;
		f->service = 0xfffffffeu;
		SET_ALL(o, VR_AT_VRF, VR_AT_PROTO, VR_AT_SIP, VR_AT_DIP, VR_AT_SPORT, VR_AT_DPORT,
			VR_AT_ACTION, VR_AT_POLICY, VR_AT_RULE, VR_AT_STATE, VR_AT_VIF, VR_AT_FLOW_STATS,
			VR_AT_IP, VR_AT_PORT, VR_AT_NAT, VR_AT_NAT_IP, VR_AT_NAT_PORT, VR_AT_NAT_VRF,
			VR_AT_SERVICE);
		break;
	}
	case VR_OBJ_FIP: {
		struct vr_obj_fip *f = &o->u.fip;
		f->vrf = 9;
		set_addr(&f->ip, 4, 200);
		f->vif = 1023;
		set_addr(&f->nat_ip, 4, 5);
		f->refcnt = 17;
		SET_ALL(o, VR_AT_VRF, VR_AT_IP, VR_AT_VIF, VR_AT_NAT_IP, VR_AT_REFCNT);
		break;
	}
	}
}

static const uint16_t all_objs[] = {
	VR_OBJ_INFO, VR_OBJ_VIF, VR_OBJ_VRF, VR_OBJ_NH, VR_OBJ_ROUTE, VR_OBJ_MPLS,
	VR_OBJ_VNI, VR_OBJ_BRIDGE, VR_OBJ_DROPSTATS, VR_OBJ_FLOW, VR_OBJ_FIP,
};
#define N_OBJS (sizeof(all_objs) / sizeof(all_objs[0]))

/* With VR_MSG_CORPUS set to a directory, every valid message a round trip
 * test builds is also written there: the fuzzer's seed corpus
 * (fuzz/corpus/vr_msg/) comes from here. */
static void corpus_save(const char *tag, const uint8_t *buf, size_t len)
{
	const char *dir = getenv("VR_MSG_CORPUS");
	if (!dir)
		return;
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, tag);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}


/* ---- policy: rule records ---- */

static struct vr_rule mk_rule(uint32_t id, uint8_t family)
{
	struct vr_rule r = { .id = id, .action = VR_ACT_PASS, .proto = 6, .family = family,
			     .src_plen = family == 4 ? 24 : 64, .dst_plen = family == 4 ? 32 : 128,
			     .sport_lo = 0, .sport_hi = 65535, .dport_lo = 5432, .dport_hi = 5433 };
	if (family == 4) {
		memcpy(r.src, "\x0a\x01\x00\x00", 4);
		memcpy(r.dst, "\x0a\x02\x00\x05", 4);
	} else {
		memcpy(r.src, "\xfd\x00\x00\x01\x00\x00\x00\x00", 8);
		memset(r.dst, 0xfd, 16);
	}
	return r;
}

static void test_rule_record_layout(void **state)
{
	(void)state;
	struct vr_rule r = mk_rule(0x01020304, 4), back;
	r.flags = VR_RULE_F_LOG;
	uint8_t rec[VR_RULE_LEN];
	vr_rule_pack(&r, rec);
	static const uint8_t want_head[20] = { 1, 2, 3, 4, VR_ACT_PASS, VR_RULE_F_LOG, 6, 4, 24, 32,
					       0, 0, 0, 0, 0xff, 0xff, 0x15, 0x38, 0x15, 0x39 };
	assert_memory_equal(rec, want_head, sizeof(want_head));
	assert_memory_equal(rec + 20, "\x0a\x01\x00\x00", 4);
	assert_memory_equal(rec + 36, "\x0a\x02\x00\x05", 4);
	vr_rule_unpack(rec, &back);
	/* field by field: the struct's padding bytes are not part of it */
	uint8_t rec2[VR_RULE_LEN];
	vr_rule_pack(&back, rec2);
	assert_memory_equal(rec2, rec, VR_RULE_LEN);
	assert_int_equal(back.id, r.id);
	assert_int_equal(back.flags, r.flags);
	assert_memory_equal(back.dst, r.dst, 16);
	struct vr_rule_stats st = { 7, UINT64_MAX }, st2;
	uint8_t srec[VR_RULE_STATS_LEN];
	vr_rule_stats_pack(&st, srec);
	vr_rule_stats_unpack(srec, &st2);
	assert_memory_equal(&st, &st2, sizeof(st));
	assert_int_equal(srec[3], 7);
	assert_string_equal(vr_action_name(VR_ACT_DENY), "deny");
	assert_string_equal(vr_action_name(0), "?");
	assert_string_equal(vr_flow_state_name(2), "established");
}

/* A service with the most backends and their counters round-trips; backend
 * records are checked against the service's family. */
static void test_service_round_trip(void **state)
{
	(void)state;
	static uint8_t recs[VR_SVC_MAX_BACKENDS * VR_BACKEND_LEN];
	static uint8_t stats[VR_SVC_MAX_BACKENDS * VR_BACKEND_STATS_LEN];
	static uint8_t buf[VR_MSG_MAX];
	for (unsigned i = 0; i < VR_SVC_MAX_BACKENDS; i++) {
		struct vr_backend b = { .port = (uint16_t)(8000 + i), .weight = (uint8_t)i };
		set_addr(&b.addr, 6, (uint8_t)i);
		vr_backend_pack(&b, 6, recs + i * VR_BACKEND_LEN);
		struct vr_backend c;
		vr_backend_unpack(recs + i * VR_BACKEND_LEN, 6, &c);
		assert_memory_equal(&b.addr, &c.addr, sizeof(b.addr));
		assert_int_equal(b.port, c.port);
		assert_int_equal(b.weight, c.weight);
		stats[i * VR_BACKEND_STATS_LEN + 7] = (uint8_t)i;
	}
	struct vr_object in = { .obj = VR_OBJ_SERVICE }, out;
	in.u.service.id = VR_MAX_SERVICES - 1;
	in.u.service.vrf = 3;
	set_addr(&in.u.service.ip, 6, 99);
	in.u.service.proto = 6;
	in.u.service.dport = 443;
	in.u.service.backends = (struct vr_recs){ recs, VR_SVC_MAX_BACKENDS };
	in.u.service.backend_stats = (struct vr_recs){ stats, VR_SVC_MAX_BACKENDS };
	SET_ALL(&in, VR_AT_ID, VR_AT_VRF, VR_AT_IP, VR_AT_PROTO, VR_AT_DPORT, VR_AT_BACKENDS,
		VR_AT_BACKEND_STATS);
	size_t len = encode_one(buf, sizeof(buf), VR_OP_REPLY, &in);
	char err[ERRLEN] = "";
	assert_int_equal(decode_first(buf, len, &out, err), 1);
	assert_int_equal(out.have, in.have);
	assert_int_equal(out.u.service.id, VR_MAX_SERVICES - 1);
	assert_int_equal(out.u.service.dport, 443);
	assert_int_equal(out.u.service.backends.n, VR_SVC_MAX_BACKENDS);
	assert_memory_equal(out.u.service.backends.p, recs, sizeof(recs));
	assert_memory_equal(out.u.service.backend_stats.p, stats, sizeof(stats));
	/* checks: an IPv6 address in an IPv4 service, the unspecified address */
	struct vr_backend b;
	vr_backend_unpack(recs + VR_BACKEND_LEN, 4, &b);
	assert_int_equal(vr_backend_check(&b, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "backend 1: addr"));
	memset(&b, 0, sizeof(b));
	b.addr.family = 4;
	assert_int_equal(vr_backend_check(&b, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unspecified"));
	b.addr.a[0] = 10;
	b.weight = 255;
	assert_int_equal(vr_backend_check(&b, 0, err, sizeof(err)), 0);
}

/* 1,000 rules in one policy with their counters: the largest GET reply fits
 * one object (16-bit TLV length) and so a 128 KiB page. */
static void test_policy_round_trip_max(void **state)
{
	(void)state;
	static uint8_t recs[VR_POLICY_MAX_RULES * VR_RULE_LEN];
	static uint8_t stats[(VR_POLICY_MAX_RULES + 1) * VR_RULE_STATS_LEN];
	assert_true(VR_POLICY_MAX_RULES >= 1000);
	static uint8_t buf[VR_MSG_MAX];
	for (unsigned i = 0; i < VR_POLICY_MAX_RULES; i++) {
		struct vr_rule r = mk_rule(i + 1, i & 1 ? 6 : 4);
		vr_rule_pack(&r, recs + i * VR_RULE_LEN);
	}
	for (unsigned i = 0; i <= VR_POLICY_MAX_RULES; i++) {
		struct vr_rule_stats st = { i, (uint64_t)i << 32 };
		vr_rule_stats_pack(&st, stats + i * VR_RULE_STATS_LEN);
	}
	struct vr_object in = { .obj = VR_OBJ_POLICY }, out;
	in.u.policy.id = 65535;
	in.u.policy.action = VR_ACT_DENY;
	in.u.policy.rules = (struct vr_recs){ recs, VR_POLICY_MAX_RULES };
	in.u.policy.rule_stats = (struct vr_recs){ stats, VR_POLICY_MAX_RULES + 1 };
	in.u.policy.n_rules = VR_POLICY_MAX_RULES;
	in.u.policy.refcnt = 3;
	in.u.policy.next = 4097; /* the next policy of its chain */
	SET_ALL(&in, VR_AT_ID, VR_AT_ACTION, VR_AT_RULES, VR_AT_RULE_STATS, VR_AT_N_RULES,
		VR_AT_REFCNT, VR_AT_POLICY);
	size_t len = encode_one(buf, sizeof(buf), VR_OP_REPLY, &in);
	assert_true(len <= 128 * 1024);
	char err[ERRLEN] = "";
	assert_int_equal(decode_first(buf, len, &out, err), 1);
	assert_int_equal(out.have, in.have);
	assert_int_equal(out.u.policy.id, 65535);
	assert_int_equal(out.u.policy.action, VR_ACT_DENY);
	assert_int_equal(out.u.policy.next, 4097);
	assert_int_equal(out.u.policy.rules.n, VR_POLICY_MAX_RULES);
	assert_int_equal(out.u.policy.rule_stats.n, VR_POLICY_MAX_RULES + 1);
	assert_memory_equal(out.u.policy.rules.p, recs, sizeof(recs));
	assert_memory_equal(out.u.policy.rule_stats.p, stats, sizeof(stats));
	/* an empty rule list is valid: only the default action */
	in.u.policy.rules.n = 0;
	len = encode_one(buf, sizeof(buf), VR_OP_ADD, &in);
	assert_int_equal(decode_first(buf, len, &out, err), 1);
	assert_true(VR_HAVE(&out, VR_AT_RULES));
	assert_int_equal(out.u.policy.rules.n, 0);
}

static void test_policy_reject_records(void **state)
{
	(void)state;
	struct mb m;
	uint8_t junk[VR_RULE_LEN + 1] = { 0 };
	mb_begin(&m, VR_OBJ_POLICY);
	tern_tlv_put(&m.w, VR_AT_RULES, junk, sizeof(junk));
	expect_reject(&m, -EINVAL, "policy attribute 'rules' has 53 bytes, not a multiple of its "
		      "52-byte records");
	mb_begin(&m, VR_OBJ_POLICY);
	tern_tlv_put(&m.w, VR_AT_RULE_STATS, junk, 8);
	expect_reject(&m, -EINVAL, "'rule_stats' has 8 bytes");
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_put(&m.w, VR_AT_RULES, junk, VR_RULE_LEN);
	expect_reject(&m, -EINVAL, "attribute 'rules' does not apply to a vif");
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_u16(&m.w, VR_AT_POLICY_IN, 1);
	expect_reject(&m, -EINVAL, "vif attribute 'policy_in' has 2 bytes, expected 4");
}

static void expect_rule_bad(struct vr_rule r, const char *needle)
{
	char err[ERRLEN] = "";
	assert_int_equal(vr_rule_check(&r, 7, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_rule_check(void **state)
{
	(void)state;
	char err[ERRLEN];
	struct vr_rule r = mk_rule(10, 4);
	assert_int_equal(vr_rule_check(&r, 0, err, sizeof(err)), 0);
	r = mk_rule(10, 6);
	assert_int_equal(vr_rule_check(&r, 0, err, sizeof(err)), 0);
	r = mk_rule(0, 4);
	expect_rule_bad(r, "rule 7: id: 0 is reserved");
	r = mk_rule(10, 4); r.action = 3;
	expect_rule_bad(r, "rule 7 (id 10): action: 3");
	r = mk_rule(10, 4); r.family = 5;
	expect_rule_bad(r, "rule 7 (id 10): family: 5");
	r = mk_rule(10, 4); r.proto = 132;
	expect_rule_bad(r, "rule 7 (id 10): proto: 132");
	r = mk_rule(10, 6); r.proto = 1; r.dport_lo = 0; r.dport_hi = 65535;
	expect_rule_bad(r, "proto: icmp with family 6");
	r = mk_rule(10, 4); r.src_plen = 33;
	expect_rule_bad(r, "rule 7 (id 10): src: prefix length 33 is above 32");
	r = mk_rule(10, 6); r.dst_plen = 129;
	expect_rule_bad(r, "dst: prefix length 129 is above 128");
	r = mk_rule(10, 4); r.src_plen = 8;
	expect_rule_bad(r, "src: address bits set beyond /8");
	r = mk_rule(10, 4); r.dst_plen = 24;
	expect_rule_bad(r, "dst: address bits set beyond /24");
	r = mk_rule(10, 4); r.dport_lo = 6000;
	expect_rule_bad(r, "dport: range 6000-5433 is empty");
	r = mk_rule(10, 4); r.sport_lo = 2; r.sport_hi = 1;
	expect_rule_bad(r, "sport: range 2-1");
	r = mk_rule(10, 4); r.proto = 0;
	expect_rule_bad(r, "ports: port ranges need proto tcp or udp");
	r = mk_rule(10, 4); r.flags = 0x80;
	expect_rule_bad(r, "flags: unknown bits 0x80");
	r = mk_rule(10, 4); r.proto = 1; r.dport_lo = 0; r.dport_hi = 65535;
	assert_int_equal(vr_rule_check(&r, 0, err, sizeof(err)), 0);
}

/* ---- names ---- */

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(vr_obj_name(VR_OBJ_VIF), "vif");
	assert_string_equal(vr_obj_name(VR_OBJ_DROPSTATS), "dropstats");
	assert_string_equal(vr_obj_name(0), "?");
	assert_string_equal(vr_obj_name(99), "?");
	assert_string_equal(vr_attr_name(VR_AT_LABEL), "label");
	assert_string_equal(vr_attr_name(VR_AT_S_TX_ERRORS), "tx_errors");
	assert_string_equal(vr_attr_name(VR_AT_PORT_RX), "port_rx");
	assert_string_equal(vr_attr_name(0), "?");
	assert_string_equal(vr_rx_mode_name(VR_RXM_NONE), "-");
	assert_string_equal(vr_rx_mode_name(VR_RXM_FRAMES), "frames");
	assert_string_equal(vr_rx_mode_name(VR_RXM_BLOCKS), "blocks");
	assert_string_equal(vr_rx_mode_name(VR_RXM_MAX_), "?");
	assert_string_equal(vr_attr_name(VR_AT_MAX_), "?");
	static const char *const vt[] = { "fabric", "host", "kernel", "memif", "vhost" };
	for (unsigned i = 0; i < 5; i++)
		assert_string_equal(vr_vif_type_name(VR_VIF_FABRIC + i), vt[i]);
	static const char *const nt[] = { "discard", "receive", "encap", "tunnel", "ecmp", "flood" };
	for (unsigned i = 0; i < 6; i++)
		assert_string_equal(vr_nh_type_name(VR_NH_DISCARD + i), nt[i]);
	assert_string_equal(vr_vif_type_name(0), "?");
	assert_string_equal(vr_nh_type_name(VR_NH_TYPE_MAX_), "?");
	assert_string_equal(vr_encap_name(VR_ENCAP_NONE), "none");
	assert_string_equal(vr_encap_name(VR_ENCAP_MPLSOUDP), "mplsoudp");
	assert_string_equal(vr_encap_name(VR_ENCAP_MPLSOGRE), "mplsogre");
	assert_string_equal(vr_encap_name(VR_ENCAP_VXLAN), "vxlan");
	assert_string_equal(vr_encap_name(VR_ENCAP_MAX_), "?");
}

/* ---- round trips ---- */

static void test_round_trip_every_object(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OBJS; i++) {
		struct vr_object in, out;
		uint8_t buf[4096];
		char err[ERRLEN] = "";
		fill(&in, all_objs[i]);
		size_t len = encode_one(buf, sizeof(buf), VR_OP_ADD, &in);
		char tag[32];
		snprintf(tag, sizeof(tag), "add-%s", vr_obj_name(all_objs[i]));
		corpus_save(tag, buf, len);
		int rc = decode_first(buf, len, &out, err);
		if (rc != 1)
			fail_msg("%s: rc %d: %s", vr_obj_name(all_objs[i]), rc, err);
		assert_int_equal(out.have, in.have);
		assert_memory_equal(&out, &in, sizeof(in));
	}
}

/* Only attributes marked in ->have go on the wire and come back. */
static void test_round_trip_partial(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OBJS; i++) {
		struct vr_object in, out;
		uint8_t buf[4096];
		char err[ERRLEN];
		fill(&in, all_objs[i]);
		uint64_t all = in.have;
		/* every other attribute, both phases */
		for (int phase = 0; phase < 2; phase++) {
			in.have = 0;
			unsigned k = 0;
			for (unsigned at = 0; at < 64; at++)
				if ((all >> at) & 1 && (k++ & 1) == (unsigned)phase)
					VR_SET(&in, at);
			size_t len = encode_one(buf, sizeof(buf), VR_OP_GET, &in);
			assert_int_equal(decode_first(buf, len, &out, err), 1);
			assert_true(out.have == in.have);
			/* the re-encoding of what came back is byte-identical */
			uint8_t buf2[4096];
			size_t len2 = encode_one(buf2, sizeof(buf2), VR_OP_GET, &out);
			assert_int_equal(len2, len);
			assert_memory_equal(buf2, buf, len);
		}
	}
}

static void test_round_trip_ipv4_ipv6_route(void **state)
{
	(void)state;
	struct vr_object in, out;
	uint8_t buf[512];
	char err[ERRLEN];
	fill(&in, VR_OBJ_ROUTE);
	set_addr(&in.u.route.prefix, 6, 0xfd);
	in.u.route.plen = 128;
	size_t len = encode_one(buf, sizeof(buf), VR_OP_ADD, &in);
	assert_int_equal(decode_first(buf, len, &out, err), 1);
	assert_int_equal(out.u.route.prefix.family, 6);
	assert_memory_equal(&out, &in, sizeof(in));
	/* A route dump filter: vrf and a family-only prefix (all zero). */
	memset(&in, 0, sizeof(in));
	in.obj = VR_OBJ_ROUTE;
	in.u.route.vrf = 4;
	in.u.route.prefix.family = 6;
	SET_ALL(&in, VR_AT_VRF, VR_AT_PREFIX);
	len = encode_one(buf, sizeof(buf), VR_OP_DUMP, &in);
	corpus_save("dump-route-filter", buf, len);
	assert_int_equal(decode_first(buf, len, &out, err), 1);
	assert_int_equal(out.u.route.prefix.family, 6);
	/* family 0 with the have bit set: nothing to send */
	in.u.route.prefix.family = 0;
	len = encode_one(buf, sizeof(buf), VR_OP_DUMP, &in);
	assert_int_equal(decode_first(buf, len, &out, err), 1);
	assert_false(VR_HAVE(&out, VR_AT_PREFIX));
}

/* A dump reply: error 0, several objects, a cursor after them. */
static void test_dump_reply(void **state)
{
	(void)state;
	static uint8_t buf[VR_MSG_MAX];
	struct tern_wbuf w;
	tern_wbuf_init(&w, buf, sizeof(buf));
	vr_msg_begin(&w, VR_OP_REPLY, 0xfffffff0u, VR_OBJ_MPLS);
	vr_msg_put_error(&w, 0, NULL);
	for (uint32_t i = 0; i < 1000; i++) {
		struct vr_object o = { .obj = VR_OBJ_MPLS };
		o.u.mpls.label = 16 + i;
		o.u.mpls.nh = i;
		SET_ALL(&o, VR_AT_LABEL, VR_AT_NH);
		vr_msg_put_object(&w, &o);
	}
	vr_msg_put_cursor(&w, 1016);
	int len = vr_msg_finish(&w);
	assert_true(len > 0);

	struct vr_msg_view v;
	char err[ERRLEN];
	assert_int_equal(vr_msg_parse(buf, (size_t)len, &v, err, sizeof(err)), 0);
	assert_int_equal(v.op, VR_OP_REPLY);
	assert_int_equal(v.seq, 0xfffffff0u);
	assert_int_equal(v.obj, VR_OBJ_MPLS);
	assert_true(v.has_error);
	assert_int_equal(v.error, 0);
	assert_string_equal(v.errmsg, "");
	assert_true(v.has_cursor);
	assert_true(v.cursor == 1016);
	assert_int_equal(v.n_objects, 1000);
	struct vr_object o;
	uint32_t n = 0;
	int rc;
	while ((rc = vr_msg_next_object(&v, &o, err, sizeof(err))) == 1) {
		assert_int_equal(o.obj, VR_OBJ_MPLS);
		assert_int_equal(o.u.mpls.label, 16 + n);
		assert_int_equal(o.u.mpls.nh, n);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1000);
	assert_int_equal(vr_msg_next_object(&v, &o, err, sizeof(err)), 0); /* stays done */
}

static void test_error_reply(void **state)
{
	(void)state;
	uint8_t buf[1024];
	char longmsg[400];
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	struct tern_wbuf w;
	tern_wbuf_init(&w, buf, sizeof(buf));
	vr_msg_begin(&w, VR_OP_REPLY, 1, VR_OBJ_NH);
	vr_msg_put_error(&w, -ENOENT, longmsg); /* cut to the 255 the receiver keeps */
	int len = vr_msg_finish(&w);
	assert_true(len > 0);
	corpus_save("reply-error", buf, (size_t)len);
	struct vr_msg_view v;
	char err[ERRLEN];
	assert_int_equal(vr_msg_parse(buf, (size_t)len, &v, err, sizeof(err)), 0);
	assert_int_equal(v.error, -ENOENT);
	assert_int_equal(strlen(v.errmsg), 255);
	assert_false(v.has_cursor);
	assert_int_equal(v.n_objects, 0);
	struct vr_object o;
	assert_int_equal(vr_msg_next_object(&v, &o, err, sizeof(err)), 0);
}

/* A request without object (DUMP of all) and a message of header only. */
static void test_minimal_messages(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, buf, sizeof(buf));
	vr_msg_begin(&w, VR_OP_DUMP, 3, 0);
	int len = vr_msg_finish(&w);
	assert_int_equal(len, VR_MSG_HDR_LEN);
	struct vr_msg_view v;
	char err[ERRLEN];
	assert_int_equal(vr_msg_parse(buf, (size_t)len, &v, err, sizeof(err)), 0);
	assert_int_equal(v.obj, 0);
	uint32_t flen;
	assert_int_equal(vr_msg_frame(buf, (size_t)len, &flen), 0);
	assert_int_equal(flen, VR_MSG_HDR_LEN);
}

static void test_encode_enospc(void **state)
{
	(void)state;
	uint8_t buf[100];
	struct vr_object o;
	fill(&o, VR_OBJ_NH);
	struct tern_wbuf w;
	tern_wbuf_init(&w, buf, sizeof(buf));
	vr_msg_begin(&w, VR_OP_ADD, 1, VR_OBJ_NH);
	vr_msg_put_object(&w, &o);
	assert_int_equal(vr_msg_finish(&w), -ENOSPC);
	/* An object of no known type is a caller bug, refused. */
	uint8_t big[256];
	tern_wbuf_init(&w, big, sizeof(big));
	vr_msg_begin(&w, VR_OP_ADD, 1, VR_OBJ_NH);
	o.obj = 0;
	vr_msg_put_object(&w, &o);
	assert_true(vr_msg_finish(&w) < 0);
}

/* ---- header rejections ---- */

static size_t valid_msg(uint8_t *buf, size_t cap)
{
	struct vr_object o;
	fill(&o, VR_OBJ_VRF);
	return encode_one(buf, cap, VR_OP_ADD, &o);
}

static void test_frame(void **state)
{
	(void)state;
	uint8_t buf[256];
	size_t len = valid_msg(buf, sizeof(buf));
	uint32_t flen;
	assert_int_equal(vr_msg_frame(buf, len, &flen), 0);
	assert_int_equal(flen, len);
	assert_int_equal(vr_msg_frame(buf, VR_MSG_HDR_LEN - 1, &flen), -EMSGSIZE);
	assert_int_equal(vr_msg_frame(NULL, 0, &flen), -EMSGSIZE);

	uint8_t b[VR_MSG_HDR_LEN];
	memcpy(b, buf, sizeof(b));
	b[0] = 'X';
	assert_int_equal(vr_msg_frame(b, sizeof(b), &flen), -EPROTO);
	memcpy(b, buf, sizeof(b));
	b[5] = 9;
	assert_int_equal(vr_msg_frame(b, sizeof(b), &flen), -EPROTONOSUPPORT);
	memcpy(b, buf, sizeof(b));
	b[8] = b[9] = b[10] = 0;
	b[11] = VR_MSG_HDR_LEN - 1;
	assert_int_equal(vr_msg_frame(b, sizeof(b), &flen), -EMSGSIZE);
	b[9] = 0x04; /* 256 KiB + 15 */
	b[11] = 0x0f;
	assert_int_equal(vr_msg_frame(b, sizeof(b), &flen), -EMSGSIZE);
}

static void test_parse_header_errors(void **state)
{
	(void)state;
	uint8_t buf[256], b[256];
	size_t len = valid_msg(buf, sizeof(buf));
	struct vr_msg_view v;
	char err[ERRLEN];

	memcpy(b, buf, len);
	b[3] = 'n';
	assert_int_equal(vr_msg_parse(b, len, &v, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "magic"));
	memcpy(b, buf, len);
	b[5] = 9;
	assert_int_equal(vr_msg_parse(b, len, &v, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "version 9"));
	/* header length and buffer length disagree */
	assert_int_equal(vr_msg_parse(buf, len - 4, &v, err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "header says"));
	memcpy(b, buf, len);
	b[len] = 0;
	assert_int_equal(vr_msg_parse(b, len + 1, &v, err, sizeof(err)), -EMSGSIZE);
	/* unknown op */
	memcpy(b, buf, len);
	b[7] = 0;
	assert_int_equal(vr_msg_parse(b, len, &v, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "op 0"));
	b[7] = VR_OP_CLEAR + 1;
	assert_int_equal(vr_msg_parse(b, len, &v, err, sizeof(err)), -EBADMSG);
}

/* ---- top-level rejections: a message from raw TLVs ---- */

static size_t raw_msg(uint8_t *buf, size_t cap, void (*body)(struct tern_wbuf *))
{
	struct tern_wbuf w;
	tern_wbuf_init(&w, buf, cap);
	vr_msg_begin(&w, VR_OP_REPLY, 1, 0);
	body(&w);
	int n = vr_msg_finish(&w);
	assert_true(n > 0);
	return (size_t)n;
}

static void expect_top_reject(void (*body)(struct tern_wbuf *), int rc, const char *needle)
{
	uint8_t buf[1024];
	size_t len = raw_msg(buf, sizeof(buf), body);
	struct vr_msg_view v;
	char err[ERRLEN] = "";
	assert_int_equal(vr_msg_parse(buf, len, &v, err, sizeof(err)), rc);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void body_dup_obj(struct tern_wbuf *w)
{
	tern_tlv_u16(w, VR_A_OBJ, VR_OBJ_VIF);
	tern_tlv_u16(w, VR_A_OBJ, VR_OBJ_VIF);
}
static void body_dup_cursor(struct tern_wbuf *w)
{
	tern_tlv_u64(w, VR_A_CURSOR, 1);
	tern_tlv_u64(w, VR_A_CURSOR, 2);
}
static void body_dup_error(struct tern_wbuf *w)
{
	vr_msg_put_error(w, 0, NULL);
	vr_msg_put_error(w, -1, NULL);
}
static void body_dup_errmsg(struct tern_wbuf *w)
{
	tern_tlv_str(w, VR_A_ERRMSG, "a");
	tern_tlv_str(w, VR_A_ERRMSG, "b");
}
static void body_unknown_top(struct tern_wbuf *w)
{
	tern_tlv_u32(w, 6, 0);
}
static void body_unknown_top0(struct tern_wbuf *w)
{
	tern_tlv_u32(w, 0, 0);
}
static void body_obj_size(struct tern_wbuf *w)
{
	tern_tlv_u32(w, VR_A_OBJ, VR_OBJ_VIF);
}
static void body_cursor_size(struct tern_wbuf *w)
{
	tern_tlv_u32(w, VR_A_CURSOR, 0);
}
static void body_error_size(struct tern_wbuf *w)
{
	tern_tlv_u16(w, VR_A_ERROR, 0);
}
static void body_unknown_obj(struct tern_wbuf *w)
{
	tern_tlv_u16(w, VR_A_OBJ, 99);
}
static void body_object_without_obj(struct tern_wbuf *w)
{
	size_t s = tern_tlv_begin(w, VR_A_OBJECT);
	tern_tlv_end(w, s);
}
static void body_errmsg_long(struct tern_wbuf *w)
{
	char m[257];
	memset(m, 'e', 256);
	m[256] = 0;
	tern_tlv_str(w, VR_A_ERRMSG, m);
}
static void body_errmsg_nul(struct tern_wbuf *w)
{
	tern_tlv_put(w, VR_A_ERRMSG, "a\0b", 3);
}
static void body_past_end(struct tern_wbuf *w)
{
	tern_tlv_u64(w, VR_A_CURSOR, 5);
	w->buf[w->len - 10] = 9; /* cursor length 8 -> 9: runs past the end */
}

static void test_top_level_rejections(void **state)
{
	(void)state;
	expect_top_reject(body_dup_obj, -EBADMSG, "'obj' appears twice");
	expect_top_reject(body_dup_cursor, -EBADMSG, "'cursor' appears twice");
	expect_top_reject(body_dup_error, -EBADMSG, "'error' appears twice");
	expect_top_reject(body_dup_errmsg, -EBADMSG, "'errmsg' appears twice");
	expect_top_reject(body_unknown_top, -EBADMSG, "unknown top-level attribute 6");
	expect_top_reject(body_unknown_top0, -EBADMSG, "unknown top-level attribute 0");
	expect_top_reject(body_obj_size, -EBADMSG, "'obj' has 4 bytes, expected 2");
	expect_top_reject(body_cursor_size, -EBADMSG, "'cursor' has 4 bytes, expected 8");
	expect_top_reject(body_error_size, -EBADMSG, "'error' has 2 bytes, expected 4");
	expect_top_reject(body_unknown_obj, -EBADMSG, "unknown object type 99");
	expect_top_reject(body_object_without_obj, -EBADMSG, "no 'obj'");
	expect_top_reject(body_errmsg_long, -EBADMSG, "'errmsg' is 256 bytes");
	expect_top_reject(body_errmsg_nul, -EBADMSG, "'errmsg' contains a NUL");
	expect_top_reject(body_past_end, -EBADMSG, "'cursor' at offset 16 runs past the end");
}

/* ---- object rejections ---- */

static void test_reject_unknown_attr(void **state)
{
	(void)state;
	struct mb m;
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_u32(&m.w, 99, 1);
	expect_reject(&m, -EINVAL, "unknown attribute 99 in vif");
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_u32(&m.w, 0, 1);
	expect_reject(&m, -EINVAL, "unknown attribute 0 in vif");
	mb_begin(&m, VR_OBJ_VIF); /* 1..62 are all taken: 63 is the first unknown */
	tern_tlv_u32(&m.w, 63, 1);
	expect_reject(&m, -EINVAL, "unknown attribute 63 in vif");
	mb_begin(&m, VR_OBJ_NH);
	tern_tlv_u32(&m.w, VR_AT_MAX_, 1);
	{
		char want[64];
		snprintf(want, sizeof(want), "unknown attribute %d in nh", VR_AT_MAX_);
		expect_reject(&m, -EINVAL, want);
	}
}

/* Every attribute an object does not list is refused, by name. */
static void test_reject_not_applicable(void **state)
{
	(void)state;
	struct mb m;
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_u32(&m.w, VR_AT_LABEL, 16);
	expect_reject(&m, -EINVAL, "attribute 'label' does not apply to a vif");
	/* stats counters belong inside 'stats' only */
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_u64(&m.w, VR_AT_S_RX_PKTS, 1);
	expect_reject(&m, -EINVAL, "attribute 'rx_pkts' does not apply to a vif");

	for (size_t i = 0; i < N_OBJS; i++) {
		struct vr_object full;
		fill(&full, all_objs[i]);
		for (unsigned at = 1; at < VR_AT_MAX_; at++) {
			if (VR_HAVE(&full, at) || strcmp(vr_attr_name(at), "?") == 0)
				continue;
			char want[96];
			snprintf(want, sizeof(want), "attribute '%s' does not apply to a %s",
				 vr_attr_name(at), vr_obj_name(all_objs[i]));
			mb_begin(&m, all_objs[i]);
			tern_tlv_u32(&m.w, (uint16_t)at, 1);
			expect_reject(&m, -EINVAL, want);
		}
	}
}

static void test_reject_wrong_size(void **state)
{
	(void)state;
	struct mb m;
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_u32(&m.w, VR_AT_MTU, 1500);
	expect_reject(&m, -EINVAL, "vif attribute 'mtu' has 4 bytes, expected 2");
	mb_begin(&m, VR_OBJ_NH);
	tern_tlv_u16(&m.w, VR_AT_ID, 1);
	expect_reject(&m, -EINVAL, "nh attribute 'id' has 2 bytes, expected 4");
	mb_begin(&m, VR_OBJ_NH);
	tern_tlv_u16(&m.w, VR_AT_TYPE, 1);
	expect_reject(&m, -EINVAL, "'type' has 2 bytes, expected 1");
	mb_begin(&m, VR_OBJ_INFO);
	tern_tlv_u32(&m.w, VR_AT_UPTIME, 1);
	expect_reject(&m, -EINVAL, "'uptime' has 4 bytes, expected 8");
	mb_begin(&m, VR_OBJ_BRIDGE);
	tern_tlv_put(&m.w, VR_AT_MAC, "\1\2\3\4\5", 5);
	expect_reject(&m, -EINVAL, "'mac' has 5 bytes, expected 6");
	mb_begin(&m, VR_OBJ_NH);
	tern_tlv_put(&m.w, VR_AT_DMAC, "\1\2\3\4\5\6\7", 7);
	expect_reject(&m, -EINVAL, "'dmac' has 7 bytes, expected 6");
	mb_begin(&m, VR_OBJ_MPLS);
	tern_tlv_put(&m.w, VR_AT_LABEL, NULL, 0);
	expect_reject(&m, -EINVAL, "'label' has 0 bytes, expected 4");
}

static void test_reject_strings(void **state)
{
	(void)state;
	struct mb m;
	char s[VR_PATH_LEN + 1];
	memset(s, 'n', sizeof(s));
	s[VR_NAME_LEN] = '\0'; /* 32 bytes: no room for the NUL */
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_str(&m.w, VR_AT_NAME, s);
	expect_reject(&m, -EINVAL, "'name' is 32 bytes long, at most 31 fit");
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_str(&m.w, VR_AT_IFNAME, s);
	expect_reject(&m, -EINVAL, "'ifname' is 32 bytes long");
	mb_begin(&m, VR_OBJ_INFO);
	tern_tlv_str(&m.w, VR_AT_LCORES, s);
	expect_reject(&m, -EINVAL, "'lcores' is 32 bytes long");
	memset(s, 's', sizeof(s));
	s[VR_PATH_LEN] = '\0';
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_str(&m.w, VR_AT_SOCKET, s);
	expect_reject(&m, -EINVAL, "'socket' is 108 bytes long, at most 107 fit");
	mb_begin(&m, VR_OBJ_INFO);
	tern_tlv_put(&m.w, VR_AT_VERSION, "1.0\0x", 5);
	expect_reject(&m, -EINVAL, "'version' contains a NUL byte");
	/* 31 bytes is fine; an empty string too */
	s[VR_PATH_LEN - 1] = '\0';
	mb_begin(&m, VR_OBJ_VIF);
	tern_tlv_str(&m.w, VR_AT_SOCKET, s);
	tern_tlv_str(&m.w, VR_AT_NAME, "");
	size_t len = mb_end(&m);
	struct vr_object o;
	char err[ERRLEN];
	assert_int_equal(decode_first(m.buf, len, &o, err), 1);
	assert_int_equal(strlen(o.u.vif.socket), VR_PATH_LEN - 1);
	assert_true(VR_HAVE(&o, VR_AT_NAME));
}

static void test_reject_addresses(void **state)
{
	(void)state;
	static const struct { uint16_t obj, at; const char *name; } c[] = {
		{ VR_OBJ_VIF, VR_AT_IP, "'ip'" }, { VR_OBJ_NH, VR_AT_SIP, "'sip'" },
		{ VR_OBJ_NH, VR_AT_DIP, "'dip'" }, { VR_OBJ_ROUTE, VR_AT_PREFIX, "'prefix'" },
	};
	static const size_t bad[] = { 0, 3, 5, 6, 8, 15, 17 };
	uint8_t z[17] = { 0 };
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			struct mb m;
			char want[80];
			snprintf(want, sizeof(want), "%s has %zu bytes, expected 4 (IPv4) or 16 (IPv6)",
				 c[i].name, bad[j]);
			mb_begin(&m, c[i].obj);
			tern_tlv_put(&m.w, c[i].at, z, bad[j]);
			expect_reject(&m, -EINVAL, want);
		}
	}
}

static void test_reject_arrays(void **state)
{
	(void)state;
	struct mb m;
	mb_begin(&m, VR_OBJ_NH);
	size_t s = tern_tlv_begin(&m.w, VR_AT_MEMBERS);
	for (unsigned i = 0; i <= VR_MAX_ECMP; i++)
		tern_put_u32(&m.w, i);
	tern_tlv_end(&m.w, s);
	expect_reject(&m, -EINVAL, "'members' has 65 entries, at most 64 fit");

	mb_begin(&m, VR_OBJ_NH);
	tern_tlv_put(&m.w, VR_AT_MEMBERS, "\0\0\0\1\0\0", 6);
	expect_reject(&m, -EINVAL, "'members' has 6 bytes, not a multiple of 4");

	mb_begin(&m, VR_OBJ_INFO);
	s = tern_tlv_begin(&m.w, VR_AT_COUNT);
	for (unsigned i = 0; i <= VR_CNT_MAX_; i++)
		tern_put_u32(&m.w, i);
	tern_tlv_end(&m.w, s);
	{
		char want[64];
		snprintf(want, sizeof(want), "'count' has %d entries, at most %d fit", VR_CNT_MAX_ + 1,
			 VR_CNT_MAX_);
		expect_reject(&m, -EINVAL, want);
	}

	mb_begin(&m, VR_OBJ_DROPSTATS);
	s = tern_tlv_begin(&m.w, VR_AT_DROPS);
	for (unsigned i = 0; i <= VR_DROP_MAX_; i++)
		tern_put_u64(&m.w, i);
	tern_tlv_end(&m.w, s);
	expect_reject(&m, -EINVAL, "'drops' has");

	mb_begin(&m, VR_OBJ_DROPSTATS);
	tern_tlv_put(&m.w, VR_AT_DROPS, "\0\0\0\1", 4);
	expect_reject(&m, -EINVAL, "'drops' has 4 bytes, not a multiple of 8");

	/* An empty array is zero entries, and fewer than the maximum is fine. */
	mb_begin(&m, VR_OBJ_NH);
	tern_tlv_put(&m.w, VR_AT_MEMBERS, NULL, 0);
	size_t len = mb_end(&m);
	struct vr_object o;
	char err[ERRLEN];
	assert_int_equal(decode_first(m.buf, len, &o, err), 1);
	assert_true(VR_HAVE(&o, VR_AT_MEMBERS));
	assert_int_equal(o.u.nh.n_members, 0);
	mb_begin(&m, VR_OBJ_DROPSTATS);
	s = tern_tlv_begin(&m.w, VR_AT_DROPS);
	tern_put_u64(&m.w, 5);
	tern_put_u64(&m.w, 6);
	tern_tlv_end(&m.w, s);
	len = mb_end(&m);
	assert_int_equal(decode_first(m.buf, len, &o, err), 1);
	assert_int_equal(o.u.drops.n, 2);
	assert_true(o.u.drops.drops[1] == 6);
}

static void test_reject_duplicate_attr(void **state)
{
	(void)state;
	struct mb m;
	mb_begin(&m, VR_OBJ_ROUTE);
	tern_tlv_u16(&m.w, VR_AT_VRF, 1);
	tern_tlv_u32(&m.w, VR_AT_NH, 1);
	tern_tlv_u16(&m.w, VR_AT_VRF, 2);
	expect_reject(&m, -EINVAL, "attribute 'vrf' appears twice in a route");
}

static void test_reject_stats(void **state)
{
	(void)state;
	struct mb m;
	size_t s;
	s = nest_begin(&m, VR_OBJ_VIF, VR_AT_STATS);
	tern_tlv_u64(&m.w, VR_AT_ID, 1);
	nest_reject(&m, s, -EINVAL, "vif attribute 'stats': unknown counter 1");

	s = nest_begin(&m, VR_OBJ_VIF, VR_AT_STATS);
	tern_tlv_u32(&m.w, VR_AT_S_TX_BYTES, 1);
	nest_reject(&m, s, -EINVAL, "'stats': counter 'tx_bytes' has 4 bytes, expected 8");

	s = nest_begin(&m, VR_OBJ_VIF, VR_AT_STATS);
	tern_tlv_u64(&m.w, VR_AT_S_RX_ERRORS, 1);
	tern_tlv_u64(&m.w, VR_AT_S_RX_ERRORS, 1);
	nest_reject(&m, s, -EINVAL, "'stats': counter 'rx_errors' appears twice");

	s = nest_begin(&m, VR_OBJ_VIF, VR_AT_STATS);
	tern_tlv_u64(&m.w, VR_AT_S_RX_PKTS, 1);
	m.w.buf[m.w.len - 9] = 12; /* counter length 8 -> 12 */
	nest_reject(&m, s, -EBADMSG, "'stats': counter 'rx_pkts' runs past its end");

	/* Counters may be partial: the rest read as zero. */
	mb_begin(&m, VR_OBJ_VIF);
	s = tern_tlv_begin(&m.w, VR_AT_STATS);
	tern_tlv_u64(&m.w, VR_AT_S_TX_ERRORS, 9);
	tern_tlv_end(&m.w, s);
	size_t len = mb_end(&m);
	struct vr_object o;
	char err[ERRLEN];
	assert_int_equal(decode_first(m.buf, len, &o, err), 1);
	assert_true(o.u.vif.stats.tx_errors == 9 && o.u.vif.stats.rx_pkts == 0);
}

/* port_rx: its own attribute numbers, each known, once, of its width and range. */
static void test_reject_port_rx(void **state)
{
	(void)state;
	struct mb m;
	size_t s;
	/* one field each: its wire width (1, 4 or 8 bytes), number and value */
	static const struct {
		uint8_t width;
		uint16_t t;
		uint64_t v;
		const char *needle;
	} one[] = {
		{ 8, VR_PRX_MAX_, 1, "vif attribute 'port_rx': unknown field 7 (only 1 nombuf" },
		/* a counter of the vif's stats is not one of port_rx's */
		{ 8, VR_AT_S_RX_ERRORS, 1, "vif attribute 'port_rx': unknown field 42" },
		{ 4, VR_PRX_MISSED, 1, "'port_rx': field 'missed' has 4 bytes, expected 8" },
		{ 8, VR_PRX_MODE, 1, "'port_rx': field 'mode' has 8 bytes, expected 1" },
		{ 1, VR_PRX_MODE, 3, "'port_rx': field 'mode' is 3, at most 2" },
		{ 1, VR_PRX_ADAPTIVE, 2, "'port_rx': field 'adaptive' is 2, at most 1" },
		{ 1, VR_PRX_ADAPTIVE, 1, "'port_rx': 'adaptive' without a 'mode'" },
	};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		s = nest_begin(&m, VR_OBJ_VIF, VR_AT_PORT_RX);
		if (one[i].width == 1)
			tern_tlv_u8(&m.w, one[i].t, (uint8_t)one[i].v);
		else if (one[i].width == 4)
			tern_tlv_u32(&m.w, one[i].t, (uint32_t)one[i].v);
		else
			tern_tlv_u64(&m.w, one[i].t, one[i].v);
		nest_reject(&m, s, -EINVAL, one[i].needle);
	}

	s = nest_begin(&m, VR_OBJ_VIF, VR_AT_PORT_RX);
	tern_tlv_u64(&m.w, VR_PRX_SWITCHES, 1);
	tern_tlv_u64(&m.w, VR_PRX_NOMBUF, 2);
	tern_tlv_u64(&m.w, VR_PRX_SWITCHES, 3);
	nest_reject(&m, s, -EINVAL, "'port_rx': field 'switches' appears twice");

	s = nest_begin(&m, VR_OBJ_VIF, VR_AT_PORT_RX);
	tern_tlv_u64(&m.w, VR_PRX_BAD, 1);
	m.w.buf[m.w.len - 9] = 12; /* length 8 -> 12: past the end of port_rx */
	nest_reject(&m, s, -EBADMSG, "'port_rx': field 'bad' runs past its end");

	mb_begin(&m, VR_OBJ_VIF);
	s = tern_tlv_begin(&m.w, VR_AT_PORT_RX);
	tern_tlv_end(&m.w, s);
	s = tern_tlv_begin(&m.w, VR_AT_PORT_RX);
	tern_tlv_end(&m.w, s);
	expect_reject(&m, -EINVAL, "attribute 'port_rx' appears twice in a vif");

	/* port_rx belongs to a vif only */
	s = nest_begin(&m, VR_OBJ_NH, VR_AT_PORT_RX);
	nest_reject(&m, s, -EINVAL, "attribute 'port_rx' does not apply to a nh");

	/* Fields may be partial: the rest read as zero (mode: none); the last
	 * one may come without its padding. */
	mb_begin(&m, VR_OBJ_VIF);
	s = tern_tlv_begin(&m.w, VR_AT_PORT_RX);
	tern_tlv_u64(&m.w, VR_PRX_NOMBUF, 5);
	tern_tlv_u8(&m.w, VR_PRX_MODE, VR_RXM_FRAMES);
	m.w.len -= 3; /* the u8's padding */
	tern_tlv_end(&m.w, s);
	size_t len = mb_end(&m);
	struct vr_object o;
	char err[ERRLEN];
	assert_int_equal(decode_first(m.buf, len, &o, err), 1);
	assert_true(VR_HAVE(&o, VR_AT_PORT_RX));
	assert_true(o.u.vif.port_rx.nombuf == 5 && o.u.vif.port_rx.missed == 0);
	assert_int_equal(o.u.vif.port_rx.mode, VR_RXM_FRAMES);
	assert_int_equal(o.u.vif.port_rx.adaptive, 0);
}

/* The sub-attributes go out in VR_PRX_* order, each at its own width. */
static void test_port_rx_wire(void **state)
{
	(void)state;
	struct vr_object in = { .obj = VR_OBJ_VIF };
	in.u.vif.port_rx = (struct vr_port_rx){ .nombuf = 1, .missed = 2, .bad = 3,
		.switches = 0x0102030405060708ull, .mode = VR_RXM_BLOCKS, .adaptive = 1 };
	VR_SET(&in, VR_AT_PORT_RX);
	uint8_t buf[256];
	size_t len = encode_one(buf, sizeof(buf), VR_OP_REPLY, &in);
	static const uint8_t want[] = {
		0x00, 0x27, 0x00, 0x40,                                        /* port_rx, 64 bytes */
		0x00, 0x01, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 1,                 /* nombuf */
		0x00, 0x02, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 2,                 /* missed */
		0x00, 0x03, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 3,                 /* bad */
		0x00, 0x04, 0x00, 0x01, 2, 0, 0, 0,                             /* mode blocks */
		0x00, 0x05, 0x00, 0x01, 1, 0, 0, 0,                             /* adaptive */
		0x00, 0x06, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,                 /* switches */
	};
	/* header (16), obj (8), object TLV header (4), then port_rx */
	assert_int_equal(len, 16 + 8 + 4 + sizeof(want));
	assert_memory_equal(buf + 28, want, sizeof(want));
}

/* An attribute whose length runs past the end of its object. */
static void test_reject_attr_past_object(void **state)
{
	(void)state;
	struct mb m;
	mb_begin(&m, VR_OBJ_VRF);
	tern_tlv_u32(&m.w, VR_AT_ID, 1);
	tern_tlv_u32(&m.w, VR_AT_VNI, 1);
	m.w.buf[m.w.len - 5] = 8; /* vni length 4 -> 8 */
	expect_reject(&m, -EBADMSG, "vrf attribute 'vni' runs past the end of the object");

	mb_begin(&m, VR_OBJ_VRF);
	tern_tlv_u32(&m.w, VR_AT_ID, 1);
	tern_put_u16(&m.w, VR_AT_NH); /* half a header */
	expect_reject(&m, -EBADMSG, "vrf attribute 'nh' runs past the end");
}

/* ---- truncation ---- */

/* Offsets where a top-level TLV of buf ends (its padding may be cut, the
 * last TLV's padding is optional): only there a cut message is well-formed
 * again, with fewer attributes. */
static int is_boundary(const uint8_t *buf, size_t len, size_t cut)
{
	struct tern_rbuf r;
	struct tern_rbuf v;
	uint16_t t;
	tern_rbuf_init(&r, buf, len);
	r.off = VR_MSG_HDR_LEN;
	if (cut == r.off)
		return 1;
	while (tern_tlv_next(&r, &t, &v) == 1) {
		size_t value_end = (size_t)(v.buf - buf) + v.len;
		if (cut >= value_end && cut <= r.off)
			return 1;
	}
	return 0;
}

static void check_truncations(const uint8_t *full, size_t len)
{
	static uint8_t b[VR_MSG_MAX];
	for (size_t cut = 0; cut < len; cut++) {
		struct vr_msg_view v;
		struct vr_object o;
		char err[ERRLEN];
		/* The cut buffer exactly, so that ASan sees any read past it. */
		uint8_t *p = b + sizeof(b) - cut;
		memcpy(p, full, cut);
		/* as received: the header promises more than there is */
		int rc = vr_msg_parse(p, cut, &v, err, sizeof(err));
		assert_true(rc < 0);
		if (cut < VR_MSG_HDR_LEN)
			continue;
		/* a header that agrees with the cut: the TLVs must catch it */
		p[8] = (uint8_t)(cut >> 24);
		p[9] = (uint8_t)(cut >> 16);
		p[10] = (uint8_t)(cut >> 8);
		p[11] = (uint8_t)cut;
		rc = vr_msg_parse(p, cut, &v, err, sizeof(err));
		if (!is_boundary(full, len, cut)) {
			if (rc != -EBADMSG)
				fail_msg("cut at %zu of %zu: rc %d", cut, len, rc);
			continue;
		}
		assert_int_equal(rc, 0);
		while ((rc = vr_msg_next_object(&v, &o, err, sizeof(err))) == 1)
			;
		assert_int_equal(rc, 0);
	}
}

static void test_truncation_every_offset(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OBJS; i++) {
		uint8_t buf[4096];
		struct vr_object o;
		fill(&o, all_objs[i]);
		struct tern_wbuf w;
		tern_wbuf_init(&w, buf, sizeof(buf));
		vr_msg_begin(&w, VR_OP_REPLY, 9, o.obj);
		vr_msg_put_error(&w, -EEXIST, "exists");
		vr_msg_put_object(&w, &o);
		vr_msg_put_object(&w, &o);
		vr_msg_put_cursor(&w, 3);
		int len = vr_msg_finish(&w);
		assert_true(len > 0);
		char tag[32];
		snprintf(tag, sizeof(tag), "reply-%s", vr_obj_name(o.obj));
		corpus_save(tag, buf, (size_t)len);
		check_truncations(buf, (size_t)len);
	}
}

/* Cutting inside an object but fixing up every enclosing length: the object
 * decoder, not the framing, must catch it, and never read past the end. */
static void test_truncation_inside_object(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OBJS; i++) {
		uint8_t buf[4096];
		struct vr_object o, out;
		fill(&o, all_objs[i]);
		size_t len = encode_one(buf, sizeof(buf), VR_OP_ADD, &o);
		size_t obj_at = VR_MSG_HDR_LEN + 8; /* after VR_A_OBJ */
		for (size_t cut = obj_at + TERN_TLV_HDR; cut < len; cut++) {
			uint8_t b[4096];
			memcpy(b, buf, cut);
			size_t vlen = cut - obj_at - TERN_TLV_HDR;
			b[obj_at + 2] = (uint8_t)(vlen >> 8);
			b[obj_at + 3] = (uint8_t)vlen;
			b[10] = (uint8_t)(cut >> 8);
			b[11] = (uint8_t)cut;
			char err[ERRLEN];
			int rc = decode_first(b, cut, &out, err);
			assert_true(rc == 1 || rc == -EBADMSG || rc == -EINVAL);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_rule_record_layout),
		cmocka_unit_test(test_policy_round_trip_max),
		cmocka_unit_test(test_service_round_trip),
		cmocka_unit_test(test_policy_reject_records),
		cmocka_unit_test(test_rule_check),
		cmocka_unit_test(test_round_trip_every_object),
		cmocka_unit_test(test_round_trip_partial),
		cmocka_unit_test(test_round_trip_ipv4_ipv6_route),
		cmocka_unit_test(test_dump_reply),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_minimal_messages),
		cmocka_unit_test(test_encode_enospc),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_parse_header_errors),
		cmocka_unit_test(test_top_level_rejections),
		cmocka_unit_test(test_reject_unknown_attr),
		cmocka_unit_test(test_reject_not_applicable),
		cmocka_unit_test(test_reject_wrong_size),
		cmocka_unit_test(test_reject_strings),
		cmocka_unit_test(test_reject_addresses),
		cmocka_unit_test(test_reject_arrays),
		cmocka_unit_test(test_reject_duplicate_attr),
		cmocka_unit_test(test_reject_stats),
		cmocka_unit_test(test_reject_port_rx),
		cmocka_unit_test(test_port_rx_wire),
		cmocka_unit_test(test_reject_attr_past_object),
		cmocka_unit_test(test_truncation_every_offset),
		cmocka_unit_test(test_truncation_inside_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
