/* DOC: vr_policy_test.c — policies in the data path: first match in rule
 * order, the default action, IPv4 and IPv6, port ranges, stateful replies,
 * denials counted under POLICY_DENY with the rule, policy_in on traffic from
 * the fabric, re-evaluation after a replace, refusals over the control
 * protocol (validation naming the rule, a policy in use), the flow dump,
 * chains (AND of the policies, the first deny recorded, loops, length and
 * deleting another's next refused), bridged IP in an l2_l3 VRF (local, flooded,
 * from the fabric over VXLAN) under the same policies. */
#include "vr_test_support.h"
#include "vr_internal.h"

#include <arpa/inet.h>
#include <stdio.h>

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 1, 1 };
static const uint8_t mac2[6] = { 0x02, 0, 0, 0, 1, 2 };
static const uint8_t fab_mac[6] = { 0x02, 0xfa, 0, 0, 0, 1 };
static const uint8_t peer_mac[6] = { 0x02, 0xfa, 0, 0, 0, 2 };

enum { FAB = 0, POD1 = 1, POD2 = 2 };
#define TCP_SYN 0x02
#define TCP_ACK 0x10

/* A rule from a compact description. */
static struct vr_rule rule(uint32_t id, uint8_t action, uint8_t proto, const char *src, uint8_t splen,
			   const char *dst, uint8_t dplen, uint16_t dlo, uint16_t dhi)
{
	struct vr_rule ru = { .id = id, .action = action, .proto = proto, .src_plen = splen,
			      .dst_plen = dplen, .sport_hi = 65535, .dport_lo = dlo, .dport_hi = dhi };
	ru.family = strchr(src, ':') ? 6 : 4;
	assert_int_equal(inet_pton(ru.family == 4 ? AF_INET : AF_INET6, src, ru.src), 1);
	assert_int_equal(inet_pton(ru.family == 4 ? AF_INET : AF_INET6, dst, ru.dst), 1);
	return ru;
}

/* ADD policy id with a next policy (0 none); the reply's error, the message in msg. */
static int policy_add_next(struct vr_router *r, uint32_t id, uint8_t dflt, const struct vr_rule *rules,
			   unsigned n, uint32_t next, char *msg)
{
	static uint8_t recs[VR_POLICY_MAX_RULES * VR_RULE_LEN];
	struct vr_object o = { .obj = VR_OBJ_POLICY };
	for (unsigned i = 0; i < n; i++)
		vr_rule_pack(&rules[i], recs + i * VR_RULE_LEN);
	o.u.policy.id = id;
	o.u.policy.action = dflt;
	o.u.policy.rules = (struct vr_recs){ recs, (uint16_t)n };
	o.u.policy.next = next;
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_ACTION);
	VR_SET(&o, VR_AT_RULES);
	if (next)
		VR_SET(&o, VR_AT_POLICY);
	char buf[256];
	return vt_ctl_err(r, VR_OP_ADD, &o, msg ? msg : buf, 256);
}

static int policy_add(struct vr_router *r, uint32_t id, uint8_t dflt, const struct vr_rule *rules,
		      unsigned n, char *msg)
{
	return policy_add_next(r, id, dflt, rules, n, 0, msg);
}

static int vif_policies(struct vr_router *r, uint32_t id, uint32_t pin, uint32_t pout, char *msg)
{
	struct vr_object o = vt_vif(id, VR_VIF_KERNEL, id == POD1 ? "v1" : "v2", 1, id == POD1 ? mac1 : mac2);
	o.u.vif.policy_in = pin;
	o.u.vif.policy_out = pout;
	VR_SET(&o, VR_AT_POLICY_IN);
	VR_SET(&o, VR_AT_POLICY_OUT);
	char buf[256];
	return vt_ctl_err(r, VR_OP_ADD, &o, msg ? msg : buf, 256);
}

/* pods 1 (10.1.0.1, fd00::1) and 2 (10.1.0.2, fd00::2) in vrf 1, a fabric
 * vif with label 200 -> pod 2; no policies yet. */
static struct vr_router *setup(struct vt_host *h)
{
	struct vr_router *r = vt_router_flows(h, 256);
	struct vr_object o = vt_vif(FAB, VR_VIF_FABRIC, "fab0", 0, fab_mac);
	vt_addr(&o.u.vif.ip, "192.0.2.1");
	VR_SET(&o, VR_AT_IP);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	for (uint32_t i = 1; i <= 2; i++) {
		o = vt_vif(i, VR_VIF_KERNEL, i == 1 ? "v1" : "v2", 1, i == 1 ? mac1 : mac2);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
		o = vt_nh_encap(i, i, 1, i == 1 ? mac1 : mac2);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
		o = vt_route(1, i == 1 ? "10.1.0.1" : "10.1.0.2", 32, i);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
		o = vt_route(1, i == 1 ? "fd00::1" : "fd00::2", 128, i);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	}
	struct vr_object l = { .obj = VR_OBJ_MPLS };
	l.u.mpls.label = 200;
	l.u.mpls.nh = POD2;
	VR_SET(&l, VR_AT_LABEL);
	VR_SET(&l, VR_AT_NH);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &l, NULL), 0);
	vr_set_now(r, 1000);
	return r;
}

/* A frame from pod `from` to the other pod: TCP (proto 6) or UDP / ICMP echo. */
static size_t frame(uint8_t *f, int from, int v6, uint8_t proto, uint16_t sport, uint16_t dport,
		    uint8_t flags)
{
	const uint8_t *smac = from == POD1 ? mac1 : mac2;
	size_t n;
	if (!v6) {
		n = vt_ipv4_udp(f, vt_router_mac, smac, from == POD1 ? "10.1.0.1" : "10.1.0.2",
				from == POD1 ? "10.1.0.2" : "10.1.0.1", sport, dport, 24, 64);
		f[14 + 9] = proto;
		f[14 + 10] = f[14 + 11] = 0;
		vr_wr16(f + 24, (uint16_t)~vt_sum16(f + 14, 20));
		if (proto == 6) {
			f[34 + 12] = 0x50;
			f[34 + 13] = flags;
		} else if (proto == 1) {
			f[34] = 8; /* echo request, identifier = sport */
			f[35] = 0;
			vr_wr16(f + 38, sport);
		}
	} else {
		n = vt_ipv6_udp(f, vt_router_mac, smac, from == POD1 ? "fd00::1" : "fd00::2",
				from == POD1 ? "fd00::2" : "fd00::1", sport, dport, 24);
		f[14 + 6] = proto;
		if (proto == 6) {
			f[54 + 12] = 0x50;
			f[54 + 13] = flags;
		}
	}
	return n;
}

/* Send one packet; true when it was transmitted. */
static bool send_pkt(struct vr_router *r, struct vt_host *h, int from, int v6, uint8_t proto,
		 uint16_t sport, uint16_t dport, uint8_t flags)
{
	uint8_t f[256];
	size_t n = frame(f, from, v6, proto, sport, dport, flags);
	unsigned before = h->n_sent;
	struct vr_pkt *p = vt_pkt(h, f, n);
	vr_pipeline_run(r, (uint16_t)from, &p, 1);
	return h->n_sent == before + 1;
}

/* The connection whose first direction has these ports. */
static const struct vr_conn *find(const struct vr_router *r, uint16_t sport, uint16_t dport)
{
	uint32_t fid = vt_flow_find(r, NULL, sport, dport, true);
	return fid == VR_FLOW_NONE ? NULL : vr_flow_conn(&r->flow, fid);
}

static void done(struct vr_router *r, struct vt_host *h)
{
	assert_int_equal(h->live, 0);
	vr_router_destroy(r);
}

/* Rules with the log flag: one line per new flow they decide (not per
 * packet), naming the flow, the verdict, the policy and the rule; at most
 * 100 lines a second, the rest counted as suppressed. */
static void test_log_flag(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	struct vr_rule rules[] = {
		rule(10, VR_ACT_DENY, 6, "0.0.0.0", 0, "10.1.0.2", 32, 22, 22),
		rule(20, VR_ACT_PASS, 17, "10.1.0.0", 24, "10.1.0.0", 24, 0, 65535),
	};
	rules[0].flags = VR_RULE_F_LOG;
	rules[1].flags = VR_RULE_F_LOG;
	assert_int_equal(policy_add(r, 1, VR_ACT_PASS, rules, 2, NULL), 0);
	assert_int_equal(vif_policies(r, POD1, 0, 1, NULL), 0);
	FILE *out = tmpfile();
	assert_non_null(out);
	FILE *was = r->log->out;
	enum tern_log_level lvl = r->log->level;
	r->log->out = out;
	r->log->level = TERN_LOG_INFO;
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40000, 22, TCP_SYN));
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40000, 22, TCP_SYN)); /* the same flow: no line */
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40001, 80, TCP_SYN));  /* default: not logged */
	for (uint16_t i = 0; i < 110; i++) /* 112 connections: the table holds 128 */
		send_pkt(r, &h, POD1, 0, 17, (uint16_t)(1000 + i), 53, 0);
	r->log->out = was;
	r->log->level = lvl;
	assert_int_equal(r->flow.logged, 100);
	assert_int_equal(r->flow.log_suppressed, 11);
	char buf[4096] = "";
	rewind(out);
	size_t n = fread(buf, 1, sizeof(buf) - 1, out);
	buf[n] = 0;
	fclose(out);
	assert_non_null(strstr(buf, "flow vrf 1 proto 6 10.1.0.1:40000 -> 10.1.0.2:22 vif 1: deny by policy 1 rule 10"));
	assert_null(strstr(buf, ":80 vif"));
	done(r, &h);
}

static void test_first_match_and_default(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const struct vr_rule rules[] = {
		rule(10, VR_ACT_DENY, 6, "0.0.0.0", 0, "10.1.0.2", 32, 22, 22),
		rule(20, VR_ACT_PASS, 6, "10.1.0.0", 24, "10.1.0.0", 24, 1, 1000), /* also matches 22 */
		rule(30, VR_ACT_PASS, 17, "10.1.0.1", 32, "10.1.0.2", 32, 53, 53),
	};
	assert_int_equal(policy_add(r, 1, VR_ACT_DENY, rules, 3, NULL), 0);
	assert_int_equal(vif_policies(r, POD1, 0, 1, NULL), 0);
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40000, 22, TCP_SYN));   /* rule 10 first */
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40001, 80, TCP_SYN));    /* rule 20 */
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40002, 1001, TCP_SYN)); /* default */
	assert_true(send_pkt(r, &h, POD1, 0, 17, 5000, 53, 0));          /* rule 30 */
	assert_false(send_pkt(r, &h, POD1, 0, 17, 5000, 54, 0));         /* default */
	assert_false(send_pkt(r, &h, POD1, 0, 1, 7, 7, 0));              /* ICMP: default */
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40000, 22, TCP_SYN));   /* retransmit: same flow */
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 5);
	const struct vr_policy *p = vr_policy_get(r, 1);
	assert_int_equal(p->denied[0], 2);                           /* rule 10, both SYNs */
	assert_int_equal(p->hits[0], 1);                             /* one new flow */
	assert_int_equal(p->hits[1], 1);
	assert_int_equal(p->hits[2], 1);
	assert_int_equal(p->denied[3], 3);                           /* the default */
	assert_int_equal(vr_flow_rule_id(r, find(r, 40000, 22)), 10);
	assert_int_equal(find(r, 40000, 22)->policy, 1);
	assert_int_equal(vr_flow_rule_id(r, find(r, 40001, 80)), 20);
	assert_int_equal(find(r, 40001, 80)->action, VR_ACT_PASS);
	assert_int_equal(vr_flow_rule_id(r, find(r, 40002, 1001)), 0);
	/* a policy that denies by default but has no IPv6 rule: IPv6 gets the default */
	assert_false(send_pkt(r, &h, POD1, 1, 6, 40000, 80, TCP_SYN));
	done(r, &h);
}

static void test_ipv6_and_port_ranges(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	struct vr_rule rules[] = {
		rule(1, VR_ACT_PASS, 6, "fd00::", 64, "fd00::2", 128, 5432, 5433),
		rule(2, VR_ACT_PASS, 17, "fd00::1", 128, "::", 0, 0, 65535),
		rule(3, VR_ACT_DENY, 0, "::", 0, "::", 0, 0, 65535),
		rule(4, VR_ACT_PASS, 6, "10.1.0.1", 32, "10.1.0.2", 32, 0, 65535),
	};
	rules[1].sport_lo = 1000; /* UDP from source ports 1000-2000 only */
	rules[1].sport_hi = 2000;
	assert_int_equal(policy_add(r, 7, VR_ACT_PASS, rules, 4, NULL), 0);
	assert_int_equal(vif_policies(r, POD2, 7, 0, NULL), 0);      /* to pod 2 */
	assert_true(send_pkt(r, &h, POD1, 1, 6, 40000, 5432, TCP_SYN));
	assert_true(send_pkt(r, &h, POD1, 1, 6, 40001, 5433, TCP_SYN));
	assert_false(send_pkt(r, &h, POD1, 1, 6, 40002, 5431, TCP_SYN)); /* rule 3 */
	assert_false(send_pkt(r, &h, POD1, 1, 6, 40003, 5434, TCP_SYN));
	assert_true(send_pkt(r, &h, POD1, 1, 17, 1000, 9, 0));
	assert_true(send_pkt(r, &h, POD1, 1, 17, 2000, 9, 0));
	assert_false(send_pkt(r, &h, POD1, 1, 17, 2001, 9, 0));
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 1, TCP_SYN));     /* IPv4: rule 4 */
	assert_true(send_pkt(r, &h, POD1, 0, 17, 5, 5, 0));              /* IPv4: default pass */
	assert_int_equal(vr_flow_rule_id(r, find(r, 40002, 5431)), 3);
	assert_int_equal(vr_flow_rule_id(r, find(r, 2001, 9)), 3);
	assert_int_equal(vr_flow_rule_id(r, find(r, 1000, 9)), 2);
	assert_int_equal(vr_policy_get(r, 7)->denied[2], 3);
	done(r, &h);
}

/* web (pod 1) may open to db (pod 2) on 5432; db may open nothing to web. */
static void test_stateful_reply(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const struct vr_rule db_in[] = { rule(10, VR_ACT_PASS, 6, "10.1.0.1", 32, "10.1.0.2", 32, 5432, 5432) };
	assert_int_equal(policy_add(r, 1, VR_ACT_DENY, db_in, 1, NULL), 0);
	assert_int_equal(policy_add(r, 2, VR_ACT_DENY, NULL, 0, NULL), 0); /* web: nothing in */
	assert_int_equal(vif_policies(r, POD2, 1, 0, NULL), 0);
	assert_int_equal(vif_policies(r, POD1, 2, 0, NULL), 0);
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 5432, TCP_SYN));
	assert_true(send_pkt(r, &h, POD2, 0, 6, 5432, 40000, TCP_SYN | TCP_ACK)); /* the reply passes */
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 5432, TCP_ACK));
	assert_int_equal(find(r, 40000, 5432)->state, VR_FS_ESTABLISHED);
	for (int i = 0; i < 3; i++)
		assert_true(send_pkt(r, &h, POD2, 0, 6, 5432, 40000, TCP_ACK));
	assert_false(send_pkt(r, &h, POD2, 0, 6, 5432, 41000, TCP_SYN)); /* db -> web: web's default */
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40001, 22, TCP_SYN));   /* web -> db other port */
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 2);
	assert_int_equal(vr_policy_get(r, 1)->denied[1], 1);
	assert_int_equal(vr_policy_get(r, 2)->denied[0], 1);
	assert_int_equal(r->flow.n_used, 6);
	done(r, &h);
}

/* MPLSoUDP from the fabric, label 200 -> pod 2 with a policy_in. */
static bool send_fabric(struct vr_router *r, struct vt_host *h, uint16_t sport, uint16_t dport)
{
	uint8_t inner[256], f[512];
	size_t in = frame(inner, POD1, 0, 6, sport, dport, TCP_SYN);
	inet_pton(AF_INET, "10.9.0.1", inner + 14 + 12); /* a remote pod */
	vr_wr16(inner + 24, 0);
	vr_wr16(inner + 24, (uint16_t)~vt_sum16(inner + 14, 20));
	size_t plen = in - 14;
	memset(f, 0, 46);
	memcpy(f, fab_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	vr_wr16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, "192.0.2.2", ip + 12);
	inet_pton(AF_INET, "192.0.2.1", ip + 16);
	vr_wr16(ip + 2, (uint16_t)(20 + 12 + plen));
	vr_wr16(ip + 10, (uint16_t)~vt_sum16(ip, 20));
	vr_wr16(f + 34, 50000);
	vr_wr16(f + 36, 6635);
	vr_wr16(f + 38, (uint16_t)(12 + plen));
	vr_wr32(f + 42, 200u << 12 | 0x100 | 64);
	memcpy(f + 46, inner + 14, plen);
	unsigned before = h->n_sent;
	struct vr_pkt *p = vt_pkt(h, f, 46 + plen);
	vr_pipeline_run(r, FAB, &p, 1);
	return h->n_sent == before + 1;
}

static void test_policy_in_from_fabric(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const struct vr_rule in[] = { rule(10, VR_ACT_PASS, 6, "10.9.0.0", 16, "10.1.0.2", 32, 5432, 5432) };
	assert_int_equal(policy_add(r, 3, VR_ACT_DENY, in, 1, NULL), 0);
	assert_int_equal(vif_policies(r, POD2, 3, 0, NULL), 0);
	assert_true(send_fabric(r, &h, 40000, 5432));
	assert_false(send_fabric(r, &h, 40000, 5433));
	const struct vr_conn *f = find(r, 40000, 5433);
	assert_non_null(f);
	assert_int_equal(f->in_vif, FAB);
	assert_int_equal(f->out_vif, POD2);
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 1);
	/* the fabric vif itself wants no flows: traffic to pod 1 is untracked */
	uint32_t used = r->flow.n_used;
	assert_int_equal(used, 4);
	done(r, &h);
}

static void test_reeval_after_replace(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const struct vr_rule v1[] = { rule(10, VR_ACT_PASS, 6, "10.1.0.0", 24, "10.1.0.2", 32, 0, 65535) };
	assert_int_equal(policy_add(r, 1, VR_ACT_DENY, v1, 1, NULL), 0);
	assert_int_equal(vif_policies(r, POD1, 0, 1, NULL), 0);
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 5432, TCP_SYN));
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40001, 80, TCP_SYN));
	assert_true(send_pkt(r, &h, POD2, 0, 6, 80, 40001, TCP_SYN | TCP_ACK));
	/* replace: 5432 stays allowed, the rest is now denied by rule 20 */
	const struct vr_rule v2[] = {
		rule(10, VR_ACT_PASS, 6, "10.1.0.0", 24, "10.1.0.2", 32, 5432, 5432),
		rule(20, VR_ACT_DENY, 6, "0.0.0.0", 0, "0.0.0.0", 0, 0, 65535),
	};
	assert_int_equal(policy_add(r, 1, VR_ACT_DENY, v2, 2, NULL), 0);
	assert_true(vr_flow_busy(r));
	/* incremental: 256 entries at 4 x 64 per call */
	vr_flow_age(r, 64);
	assert_false(vr_flow_busy(r));
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 5432, TCP_ACK));
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40001, 80, TCP_ACK));
	assert_false(send_pkt(r, &h, POD2, 0, 6, 80, 40001, TCP_ACK));  /* the reply stops too */
	assert_int_equal(vr_flow_rule_id(r, find(r, 40001, 80)), 20);
	assert_int_equal(vr_policy_get(r, 1)->denied[1], 2);
	assert_int_equal(vr_policy_get(r, 1)->hits[1], 0);        /* re-evaluation is no new flow */
	/* removing the policy from the vif lets the flow through again */
	assert_int_equal(vif_policies(r, POD1, 0, 0, NULL), 0);
	vr_flow_age(r, 64);
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40001, 80, TCP_ACK)); /* no vif wants flows */
	done(r, &h);
}

static void test_control_refusals(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	char msg[256];
	struct vr_rule rules[] = {
		rule(10, VR_ACT_PASS, 6, "10.1.0.0", 24, "10.1.0.2", 32, 0, 65535),
		rule(11, VR_ACT_PASS, 6, "10.1.0.0", 24, "10.1.0.2", 32, 0, 65535),
	};
	rules[1].dst_plen = 33;
	assert_int_equal(policy_add(r, 1, VR_ACT_PASS, rules, 2, msg), -EINVAL);
	assert_non_null(strstr(msg, "rule 1 (id 11): dst: prefix length 33"));
	rules[1].dst_plen = 32;
	rules[1].id = 10;
	assert_int_equal(policy_add(r, 1, VR_ACT_PASS, rules, 2, msg), -EINVAL);
	assert_non_null(strstr(msg, "rule 1: id: 10 is also the id of rule 0"));
	assert_int_equal(policy_add(r, 0, VR_ACT_PASS, NULL, 0, msg), -ERANGE);
	assert_int_equal(policy_add(r, 1, 0, NULL, 0, msg), -EINVAL);
	assert_non_null(strstr(msg, "default action"));
	assert_null(vr_policy_get(r, 1));
	/* a vif may only name an existing policy */
	assert_int_equal(vif_policies(r, POD2, 1, 0, msg), -ENOENT);
	assert_non_null(strstr(msg, "policy_in 1 does not exist"));
	rules[1].id = 11;
	assert_int_equal(policy_add(r, 1, VR_ACT_PASS, rules, 2, msg), 0);
	assert_int_equal(vif_policies(r, POD2, 0, 1, NULL), 0);
	struct vr_object k = { .obj = VR_OBJ_POLICY }, out;
	k.u.policy.id = 1;
	VR_SET(&k, VR_AT_ID);
	assert_int_equal(vt_ctl_err(r, VR_OP_DEL, &k, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "policy 1 is the policy_out of vif 2"));
	/* GET returns the rules and their counters */
	assert_int_equal(vt_ctl(r, VR_OP_GET, &k, &out), 0);
	assert_int_equal(out.u.policy.rules.n, 2);
	assert_int_equal(out.u.policy.rule_stats.n, 3);
	assert_int_equal(out.u.policy.refcnt, 1);
	struct vr_rule back;
	vr_rule_unpack(out.u.policy.rules.p + VR_RULE_LEN, &back);
	assert_int_equal(back.id, 11);
	/* a failed replace changes nothing */
	rules[0].sport_lo = 9;
	rules[0].sport_hi = 8;
	assert_int_equal(policy_add(r, 1, VR_ACT_DENY, rules, 2, msg), -EINVAL);
	assert_non_null(strstr(msg, "rule 0 (id 10): sport"));
	assert_int_equal(vr_policy_get(r, 1)->action, VR_ACT_PASS);
	assert_int_equal(vif_policies(r, POD2, 0, 0, NULL), 0);
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &k, NULL), 0);
	assert_int_equal(vt_ctl(r, VR_OP_GET, &k, NULL), -ENOENT);
	done(r, &h);
}

static void test_flow_dump(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const struct vr_rule rules[] = { rule(10, VR_ACT_DENY, 6, "0.0.0.0", 0, "0.0.0.0", 0, 22, 22) };
	assert_int_equal(policy_add(r, 4, VR_ACT_PASS, rules, 1, NULL), 0);
	assert_int_equal(vif_policies(r, POD1, 0, 4, NULL), 0);
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 80, TCP_SYN));
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40001, 22, TCP_SYN));
	vr_set_now(r, 3000);
	struct vr_object f = { .obj = VR_OBJ_FLOW }, out;
	f.u.flow.port = 22;
	VR_SET(&f, VR_AT_PORT);
	assert_int_equal(vt_ctl(r, VR_OP_DUMP, &f, &out), 0);
	assert_int_equal(out.u.flow.dport, 22);
	assert_int_equal(out.u.flow.action, VR_ACT_DENY);
	assert_int_equal(out.u.flow.rule, 10);
	assert_int_equal(out.u.flow.policy, 4);
	assert_int_equal(out.u.flow.state, VR_FS_SYN);
	assert_int_equal(out.u.flow.stats[VR_FC_FWD_PKTS], 1);
	assert_int_equal(out.u.flow.stats[VR_FC_AGE_MS], 2000);
	assert_int_equal(out.u.flow.vif, POD1);
	done(r, &h);
}

/* Chains: a security-group-like policy (allow TCP 80, default deny) in
 * front of a network-like policy (deny 22.., default pass): a flow passes
 * only when both pass it; the first deny is recorded and counted. */
static void test_chain_and(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	const struct vr_rule net[] = {
		rule(1, VR_ACT_DENY, 6, "0.0.0.0", 0, "0.0.0.0", 0, 80, 80),  /* the network says no */
		rule(2, VR_ACT_PASS, 0, "0.0.0.0", 0, "0.0.0.0", 0, 0, 65535),
	};
	const struct vr_rule sg[] = {
		rule(10, VR_ACT_PASS, 6, "0.0.0.0", 0, "10.1.0.2", 32, 80, 81),
		rule(11, VR_ACT_PASS, 17, "0.0.0.0", 0, "10.1.0.2", 32, 53, 53),
	};
	assert_int_equal(policy_add(r, 1, VR_ACT_PASS, net, 2, NULL), 0);
	assert_int_equal(policy_add_next(r, 4097, VR_ACT_DENY, sg, 2, 1, NULL), 0);
	assert_int_equal(vif_policies(r, POD2, 4097, 0, NULL), 0);
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 81, TCP_SYN));  /* both pass */
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40001, 80, TCP_SYN)); /* sg passes, network denies */
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40002, 82, TCP_SYN)); /* sg's default denies */
	assert_true(send_pkt(r, &h, POD1, 0, 17, 5000, 53, 0));
	assert_true(send_pkt(r, &h, POD2, 0, 6, 81, 40000, TCP_SYN | TCP_ACK)); /* stateful reply */
	/* the denial is the second policy's rule 1 */
	assert_int_equal(find(r, 40001, 80)->policy, 1);
	assert_int_equal(vr_flow_rule_id(r, find(r, 40001, 80)), 1);
	assert_int_equal(find(r, 40002, 82)->policy, 4097);
	assert_int_equal(vr_flow_rule_id(r, find(r, 40002, 82)), 0);
	assert_int_equal(find(r, 40000, 81)->policy, 1);              /* the last that passed */
	assert_int_equal(vr_flow_rule_id(r, find(r, 40000, 81)), 2);
	assert_int_equal(vr_policy_get(r, 1)->denied[0], 1);
	assert_int_equal(vr_policy_get(r, 1)->hits[0], 1);
	assert_int_equal(vr_policy_get(r, 1)->hits[1], 2);           /* rule 2: 81 and 53 */
	assert_int_equal(vr_policy_get(r, 1)->hits[2], 0);           /* its default */
	assert_int_equal(vr_policy_get(r, 4097)->hits[0], 2);
	assert_int_equal(vr_policy_get(r, 4097)->denied[2], 1);      /* the default */
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 2);
	/* the same chain as pod 1's policy_out: both sides' chains apply */
	assert_int_equal(vif_policies(r, POD1, 0, 4097, NULL), 0);
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40003, 81, TCP_SYN));
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40004, 22, TCP_SYN));
	assert_int_equal(find(r, 40004, 22)->policy, 4097);
	/* the chain's last policy replaced: flows are decided again */
	const struct vr_rule net2[] = { rule(3, VR_ACT_DENY, 6, "0.0.0.0", 0, "0.0.0.0", 0, 81, 81) };
	assert_int_equal(policy_add(r, 1, VR_ACT_PASS, net2, 1, NULL), 0);
	assert_true(vr_flow_busy(r));
	vr_flow_age(r, 64);
	assert_false(vr_flow_busy(r));
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40000, 81, TCP_ACK));
	assert_int_equal(find(r, 40000, 81)->policy, 1);
	assert_int_equal(vr_flow_rule_id(r, find(r, 40000, 81)), 3);
	/* the first's next removed: the network policy no longer applies */
	assert_int_equal(policy_add_next(r, 4097, VR_ACT_DENY, sg, 2, 0, NULL), 0);
	vr_flow_age(r, 64);
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 81, TCP_ACK));
	assert_int_equal(find(r, 40000, 81)->policy, 4097);
	/* IPv6: the first has no IPv6 rule, so its default denies; with one, the chain goes on */
	assert_false(send_pkt(r, &h, POD1, 1, 6, 40010, 81, TCP_SYN));
	assert_int_equal(find(r, 40010, 81)->policy, 4097);
	const struct vr_rule sg6[] = { sg[0], sg[1],
				       rule(12, VR_ACT_PASS, 6, "::", 0, "fd00::2", 128, 81, 81) };
	assert_int_equal(policy_add_next(r, 4097, VR_ACT_DENY, sg6, 3, 1, NULL), 0);
	vr_flow_age(r, 64);
	assert_true(send_pkt(r, &h, POD1, 1, 6, 40010, 81, TCP_ACK));
	assert_int_equal(find(r, 40010, 81)->policy, 1);  /* no IPv6 rule there: its default */
	assert_int_equal(vr_flow_rule_id(r, find(r, 40010, 81)), 0);
	done(r, &h);
}

static void test_chain_refusals(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	char msg[256];
	assert_int_equal(policy_add_next(r, 1, VR_ACT_PASS, NULL, 0, 2, msg), -ENOENT);
	assert_non_null(strstr(msg, "next policy 2 does not exist"));
	assert_int_equal(policy_add_next(r, 1, VR_ACT_PASS, NULL, 0, 1, msg), -ELOOP);
	assert_non_null(strstr(msg, "its own next"));
	/* 1 -> 2 -> 3; 3 -> 1 would loop */
	assert_int_equal(policy_add(r, 3, VR_ACT_PASS, NULL, 0, NULL), 0);
	assert_int_equal(policy_add_next(r, 2, VR_ACT_PASS, NULL, 0, 3, NULL), 0);
	assert_int_equal(policy_add_next(r, 1, VR_ACT_PASS, NULL, 0, 2, NULL), 0);
	assert_int_equal(policy_add_next(r, 3, VR_ACT_PASS, NULL, 0, 1, msg), -ELOOP);
	assert_non_null(strstr(msg, "policy 3: next policy 1 leads back to policy 3"));
	assert_int_equal(vr_policy_get(r, 3)->next, 0);  /* refused: unchanged */
	/* a policy that is another's next cannot go */
	struct vr_object k = { .obj = VR_OBJ_POLICY }, out;
	k.u.policy.id = 3;
	VR_SET(&k, VR_AT_ID);
	assert_int_equal(vt_ctl_err(r, VR_OP_DEL, &k, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "policy 3 is the next policy of policy 2"));
	/* GET and DUMP show the next */
	k.u.policy.id = 1;
	assert_int_equal(vt_ctl(r, VR_OP_GET, &k, &out), 0);
	assert_true(VR_HAVE(&out, VR_AT_POLICY));
	assert_int_equal(out.u.policy.next, 2);
	/* 8 policies in a chain at most: 10 -> 11 -> ... -> 17 is fine, 9 -> 10 not,
	 * nor a link that makes a longer chain from an existing start */
	assert_int_equal(policy_add(r, 17, VR_ACT_PASS, NULL, 0, NULL), 0);
	for (uint32_t id = 16; id >= 10; id--)
		assert_int_equal(policy_add_next(r, id, VR_ACT_PASS, NULL, 0, id + 1, msg), 0);
	assert_int_equal(policy_add_next(r, 9, VR_ACT_PASS, NULL, 0, 10, msg), -EINVAL);
	assert_non_null(strstr(msg, "more than 8 policies"));
	assert_null(vr_policy_get(r, 9));
	assert_int_equal(policy_add_next(r, 17, VR_ACT_PASS, NULL, 0, 1, msg), -EINVAL);
	assert_non_null(strstr(msg, "the chain from policy 10 would have more than 8"));
	/* unlinked, it can go */
	assert_int_equal(policy_add(r, 2, VR_ACT_PASS, NULL, 0, NULL), 0);
	k.u.policy.id = 3;
	assert_int_equal(vt_ctl(r, VR_OP_DEL, &k, NULL), 0);
	done(r, &h);
}

static void test_no_policy_no_flows(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	assert_int_equal(policy_add(r, 1, VR_ACT_DENY, NULL, 0, NULL), 0); /* unused */
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 22, TCP_SYN));
	assert_int_equal(r->flow.n_used, 0);
	assert_int_equal(r->n_policy_vifs, 0);
	done(r, &h);
}

/* The largest policy builds and classifies; the build time is printed. */
static void test_thousand_rules(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	static struct vr_rule rules[VR_POLICY_MAX_RULES];
	for (unsigned i = 0; i < VR_POLICY_MAX_RULES; i++) {
		char src[32];
		snprintf(src, sizeof(src), "10.%u.%u.0", 100 + i / 256, i % 256);
		rules[i] = rule(i + 1, VR_ACT_PASS, 6, src, 24, "10.1.0.0", 16,
				(uint16_t)(1000 + i), (uint16_t)(1000 + i));
		if (i % 2)
			rules[i] = rule(i + 1, VR_ACT_PASS, 17, "fd00::", 64, "fd01::", 64, (uint16_t)i,
					(uint16_t)(i + 10));
	}
	rules[VR_POLICY_MAX_RULES - 2] = rule(VR_POLICY_MAX_RULES - 1, VR_ACT_PASS, 6, "10.1.0.1", 32,
					      "10.1.0.2", 32, 443, 443);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(policy_add(r, 9, VR_ACT_DENY, rules, VR_POLICY_MAX_RULES, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("policy of %u rules built in %.1f ms\n", VR_POLICY_MAX_RULES,
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	assert_int_equal(vif_policies(r, POD1, 0, 9, NULL), 0);
	assert_true(send_pkt(r, &h, POD1, 0, 6, 40000, 443, TCP_SYN));
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40000, 444, TCP_SYN));
	assert_int_equal(vr_flow_rule_id(r, find(r, 40000, 443)), VR_POLICY_MAX_RULES - 1);
	done(r, &h);
}

/* Classifiers built ahead (as the control thread does) are taken as they
 * are; a prepared refusal is the add's answer; a preparation for another
 * request is ignored and the add builds its own. */
static void test_prepared_classifiers(void **state)
{
	(void)state;
	struct vt_host h;
	struct vr_router *r = setup(&h);
	static uint8_t recs[2 * VR_RULE_LEN];
	const struct vr_rule in[] = { rule(10, VR_ACT_PASS, 6, "10.1.0.0", 16, "10.1.0.2", 32, 22, 22),
				      rule(11, VR_ACT_PASS, 6, "fd00::", 64, "fd00::2", 128, 22, 22) };
	for (unsigned i = 0; i < 2; i++)
		vr_rule_pack(&in[i], recs + i * VR_RULE_LEN);
	struct vr_obj_policy o = { .id = 5, .action = VR_ACT_DENY, .rules = { recs, 2 } };
	struct vr_policy_prep pp;
	struct vr_err e;
	vr_policy_prepare(r, &o, &pp);
	assert_int_equal(pp.rc, 0);
	struct rte_acl_ctx *a4 = pp.acl[0], *a6 = pp.acl[1];
	assert_non_null(a4);
	assert_non_null(a6);
	assert_int_equal(vr_policy_add(r, &o, &pp, &e), 0);
	const struct vr_policy *p = vr_policy_get(r, 5);
	assert_ptr_equal(p->acl[0], a4);
	assert_ptr_equal(p->acl[1], a6);
	assert_null(pp.acl[0]);                 /* taken: nothing left to free */
	vr_policy_prep_release(&pp);
	/* prepared for policy 6: policy 5's replace builds its own */
	struct vr_obj_policy o6 = o;
	o6.id = 6;
	vr_policy_prepare(r, &o6, &pp);
	assert_int_equal(vr_policy_add(r, &o, &pp, &e), 0);
	assert_ptr_not_equal(vr_policy_get(r, 5)->acl[0], pp.acl[0]);
	assert_non_null(pp.acl[0]);
	vr_policy_prep_release(&pp);
	/* a bad rule found ahead: the add refuses with that message, changes nothing */
	struct vr_rule bad = in[0];
	bad.src_plen = 40;
	vr_rule_pack(&bad, recs);
	vr_policy_prepare(r, &o, &pp);
	assert_true(pp.rc < 0);
	assert_int_equal(vr_policy_add(r, &o, &pp, &e), pp.rc);
	assert_string_equal(e.msg, pp.err.msg);
	assert_non_null(strstr(e.msg, "policy 5"));
	assert_int_equal(vr_policy_get(r, 5)->n_rules, 2);
	vr_policy_prep_release(&pp);
	done(r, &h);
}

/* VRF 1 bridges and routes (l2_l3): bridge entries for both pods, a flood
 * list of both, VNI 5001 for VXLAN from the fabric. */
static void make_l2l3(struct vr_router *r)
{
	static const uint32_t members[] = { POD1, POD2 };
	struct vr_object o = vt_nh_composite(20, VR_NH_FLOOD, members, 2);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	struct vr_object v = vt_vrf(1, VR_VRF_F_L2 | VR_VRF_F_L3, 20);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &v, NULL), 0);
	for (uint32_t i = 1; i <= 2; i++) {
		struct vr_object b = { .obj = VR_OBJ_BRIDGE };
		b.u.bridge.vrf = 1;
		memcpy(b.u.bridge.mac, i == POD1 ? mac1 : mac2, 6);
		b.u.bridge.nh = i;
		VR_SET(&b, VR_AT_VRF);
		VR_SET(&b, VR_AT_MAC);
		VR_SET(&b, VR_AT_NH);
		assert_int_equal(vt_ctl(r, VR_OP_ADD, &b, NULL), 0);
	}
	struct vr_object n = { .obj = VR_OBJ_VNI };
	n.u.vni.vni = 5001;
	n.u.vni.vrf = 1;
	VR_SET(&n, VR_AT_VNI);
	VR_SET(&n, VR_AT_VRF);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &n, NULL), 0);
}

/* Send a frame from pod `from` to dmac as is; true when exactly one frame left
 * (a copy in *out, if given). */
static bool send_raw(struct vr_router *r, struct vt_host *h, uint16_t from, const uint8_t *f,
		     size_t n, struct vt_sent *out)
{
	unsigned before = h->n_sent;
	struct vr_pkt *p = vt_pkt(h, f, n);
	vr_pipeline_run(r, from, &p, 1);
	if (out && h->n_sent > before)
		*out = h->sent[h->n_sent - 1];
	return h->n_sent == before + 1;
}

/* Pod `from`'s packet to the other pod bridged: to its MAC, not the router's. */
static bool send_bridged(struct vr_router *r, struct vt_host *h, int from, uint8_t proto,
			 uint16_t sport, uint16_t dport, uint8_t flags, struct vt_sent *out)
{
	uint8_t f[256];
	size_t n = frame(f, from, 0, proto, sport, dport, flags);
	memcpy(f, from == POD1 ? mac2 : mac1, 6);
	return send_raw(r, h, (uint16_t)from, f, n, out);
}

/* In an l2_l3 VRF, IP between two local pods' own MACs is bridged (the frame
 * unchanged, TTL too) and goes through the flow stage: a flow for both
 * directions with TCP tracking, the destination's policy_in denying by rule
 * (counted under POLICY_DENY and for the rule), the same connection routed
 * meets the same verdict; non-IP frames and an unpoliced VRF make no flow. */
static void test_bridged_ip_policies(void **state)
{
	(void)state;
	struct vt_host h;
	struct vt_sent s;
	struct vr_router *r = setup(&h);
	make_l2l3(r);
	/* no vif with a policy: bridged, untracked */
	assert_true(send_bridged(r, &h, POD1, 6, 40000, 80, TCP_SYN, &s));
	assert_int_equal(r->flow.n_used, 0);

	const struct vr_rule in[] = { rule(10, VR_ACT_DENY, 6, "10.1.0.1", 32, "10.1.0.2", 32, 22, 22) };
	assert_int_equal(policy_add(r, 3, VR_ACT_PASS, in, 1, NULL), 0);
	assert_int_equal(vif_policies(r, POD2, 3, 0, NULL), 0);

	uint8_t f[256];
	size_t n = frame(f, POD1, 0, 6, 40001, 80, TCP_SYN);
	memcpy(f, mac2, 6);
	assert_true(send_raw(r, &h, POD1, f, n, &s));
	assert_int_equal(s.vif, POD2);
	assert_int_equal(s.len, n);
	assert_memory_equal(s.data, f, n); /* bridged: not rewritten, TTL kept */
	const struct vr_conn *c = find(r, 40001, 80);
	assert_non_null(c);
	assert_int_equal(c->in_vif, POD1);
	assert_int_equal(c->out_vif, POD2);
	assert_int_equal(c->action, VR_ACT_PASS);
	assert_int_equal(c->state, VR_FS_SYN);
	assert_int_equal(r->flow.n_used, 2); /* both directions */
	/* the reply, bridged back, finds the same connection */
	assert_true(send_bridged(r, &h, POD2, 6, 80, 40001, TCP_SYN | TCP_ACK, &s));
	assert_int_equal(s.vif, POD1);
	assert_true(send_bridged(r, &h, POD1, 6, 40001, 80, TCP_ACK, NULL));
	assert_int_equal(c->state, VR_FS_ESTABLISHED);
	assert_int_equal(c->pkts[0], 2);
	assert_int_equal(c->pkts[1], 1);
	assert_int_equal(r->flow.n_used, 2);

	/* denied by the rule, bridged, then routed: the same connection */
	assert_false(send_bridged(r, &h, POD1, 6, 40002, 22, TCP_SYN, NULL));
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 1);
	assert_int_equal(vr_policy_get(r, 3)->denied[0], 1);
	c = find(r, 40002, 22);
	assert_non_null(c);
	assert_int_equal(c->action, VR_ACT_DENY);
	assert_int_equal(vr_flow_rule_id(r, c), 10);
	assert_false(send_pkt(r, &h, POD1, 0, 6, 40002, 22, TCP_SYN));
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 2);
	assert_int_equal(r->flow.n_used, 4);

	/* a non-IP frame to pod 2's MAC: bridged, untracked */
	memset(f, 0, 64);
	memcpy(f, mac2, 6);
	memcpy(f + 6, mac1, 6);
	vr_wr16(f + 12, 0x88b5);
	assert_true(send_raw(r, &h, POD1, f, 64, &s));
	assert_int_equal(s.vif, POD2);
	assert_int_equal(s.len, 64);
	assert_int_equal(r->flow.n_used, 4);
	done(r, &h);
}

/* Flooded IP: a unicast IP packet in a broadcast frame meets the policy_in
 * of the pod its address is routed to; a broadcast address only the
 * sender's policy_out. */
static void test_flooded_ip_policies(void **state)
{
	(void)state;
	struct vt_host h;
	struct vt_sent s;
	struct vr_router *r = setup(&h);
	make_l2l3(r);
	const struct vr_rule in[] = { rule(10, VR_ACT_DENY, 6, "10.1.0.1", 32, "10.1.0.2", 32, 22, 22) };
	assert_int_equal(policy_add(r, 3, VR_ACT_PASS, in, 1, NULL), 0);
	assert_int_equal(vif_policies(r, POD2, 3, 0, NULL), 0);
	uint8_t f[256];
	size_t n = frame(f, POD1, 0, 6, 40003, 22, TCP_SYN);
	memset(f, 0xff, 6);
	assert_false(send_raw(r, &h, POD1, f, n, NULL));
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 1);
	const struct vr_conn *c = find(r, 40003, 22);
	assert_non_null(c);
	assert_int_equal(c->out_vif, POD2);
	/* to the subnet's broadcast address: no destination vif, pod 1 has no
	 * policy_out: flooded (to pod 2, not back to pod 1) */
	n = vt_ipv4_udp(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", mac1, "10.1.0.1",
			"10.1.0.255", 5000, 5001, 4, 64);
	assert_int_equal(vif_policies(r, POD1, 0, 0, NULL), 0);
	assert_true(send_raw(r, &h, POD1, f, n, &s));
	assert_int_equal(s.vif, POD2);
	/* pod 1 with a deny-all policy_out: the broadcast is dropped too */
	assert_int_equal(policy_add(r, 4, VR_ACT_DENY, NULL, 0, NULL), 0);
	assert_int_equal(vif_policies(r, POD1, 0, 4, NULL), 0);
	vr_flow_flush(r);
	vr_flow_age(r, 256);
	assert_false(send_raw(r, &h, POD1, f, n, NULL));
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 2);
	done(r, &h);
}

/* VXLAN and MPLSoUDP (an L2 label) from the fabric, bridged to pod 2's MAC:
 * the inner IP is parsed (the key is the inner tuple) and pod 2's policy_in
 * applies; a non-IP inner frame is bridged as before. */
/* From the fabric to this node: an inner frame from a remote pod to pod 2's
 * MAC behind an outer IPv4/UDP header to dport whose payload header is tun
 * (tlen bytes); true when exactly the inner frame came out, on *out_vif. */
static bool send_tunneled(struct vr_router *r, struct vt_host *h, uint16_t dport,
			  const uint8_t *tun, size_t tlen, uint16_t type, uint16_t sport,
			  uint16_t iport, uint16_t *out_vif)
{
	uint8_t inner[256], f[512];
	size_t in = frame(inner, POD1, 0, 6, sport, iport, TCP_SYN);
	memcpy(inner, mac2, 6);
	memcpy(inner + 6, peer_mac, 6); /* a remote pod's MAC */
	inet_pton(AF_INET, "10.9.0.1", inner + 14 + 12);
	vr_wr16(inner + 24, 0);
	vr_wr16(inner + 24, (uint16_t)~vt_sum16(inner + 14, 20));
	vr_wr16(inner + 12, type);
	size_t hl = 42 + tlen;
	memset(f, 0, hl);
	memcpy(f, fab_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	vr_wr16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, "192.0.2.2", ip + 12);
	inet_pton(AF_INET, "192.0.2.1", ip + 16);
	vr_wr16(ip + 2, (uint16_t)(28 + tlen + in));
	vr_wr16(ip + 10, (uint16_t)~vt_sum16(ip, 20));
	vr_wr16(f + 34, 50000);
	vr_wr16(f + 36, dport);
	vr_wr16(f + 38, (uint16_t)(8 + tlen + in));
	memcpy(f + 42, tun, tlen);
	memcpy(f + hl, inner, in);
	unsigned before = h->n_sent;
	struct vr_pkt *p = vt_pkt(h, f, hl + in);
	vr_pipeline_run(r, FAB, &p, 1);
	if (h->n_sent != before + 1)
		return false;
	*out_vif = h->sent[before].vif;
	return memcmp(h->sent[before].data, inner, in) == 0 && h->sent[before].len == in;
}

/* VXLAN with VNI 5001. */
static bool send_vxlan(struct vr_router *r, struct vt_host *h, uint16_t type, uint16_t sport,
		       uint16_t dport, uint16_t *out_vif)
{
	uint8_t vx[8] = { 0x08 };
	vr_wr32(vx + 4, 5001u << 8);
	return send_tunneled(r, h, 4789, vx, sizeof(vx), type, sport, dport, out_vif);
}

/* MPLSoUDP with label 201 (pod 2's L2 label). */
static bool send_mpls_l2(struct vr_router *r, struct vt_host *h, uint16_t type, uint16_t sport,
			 uint16_t dport, uint16_t *out_vif)
{
	uint8_t lse[4];
	vr_wr32(lse, 201u << 12 | 0x100 | 64);
	return send_tunneled(r, h, 6635, lse, sizeof(lse), type, sport, dport, out_vif);
}

static void test_bridged_from_fabric(void **state)
{
	(void)state;
	struct vt_host h;
	uint16_t out = 0;
	struct vr_router *r = setup(&h);
	make_l2l3(r);
	const struct vr_rule in[] = { rule(10, VR_ACT_PASS, 6, "10.9.0.0", 16, "10.1.0.2", 32, 5432, 5432) };
	assert_int_equal(policy_add(r, 3, VR_ACT_DENY, in, 1, NULL), 0);
	assert_int_equal(vif_policies(r, POD2, 3, 0, NULL), 0);
	assert_true(send_vxlan(r, &h, 0x0800, 40000, 5432, &out));
	assert_int_equal(out, POD2);
	uint32_t fid = vt_flow_find(r, "10.9.0.1", 40000, 5432, true);
	assert_int_not_equal(fid, VR_FLOW_NONE);
	assert_int_equal(vr_flow_conn(&r->flow, fid)->in_vif, FAB);
	assert_int_equal(vr_flow_conn(&r->flow, fid)->out_vif, POD2);
	assert_false(send_vxlan(r, &h, 0x0800, 40000, 5433, &out));
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 1);
	assert_int_not_equal(vt_flow_find(r, "10.9.0.1", 40000, 5433, true), VR_FLOW_NONE);
	/* the same bytes as a non-IP frame: bridged, untracked */
	uint32_t used = r->flow.n_used;
	assert_true(send_vxlan(r, &h, 0x88b5, 40000, 5433, &out));
	assert_int_equal(out, POD2);
	assert_int_equal(r->flow.n_used, used);
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 1);

	/* MPLSoUDP with pod 2's L2 label (an L2 encap nexthop): the same */
	struct vr_object o = vt_nh_encap(5, POD2, 1, mac2);
	o.u.nh.flags = VR_NH_F_L2;
	VR_SET(&o, VR_AT_FLAGS);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &o, NULL), 0);
	struct vr_object l = { .obj = VR_OBJ_MPLS };
	l.u.mpls.label = 201;
	l.u.mpls.nh = 5;
	VR_SET(&l, VR_AT_LABEL);
	VR_SET(&l, VR_AT_NH);
	assert_int_equal(vt_ctl(r, VR_OP_ADD, &l, NULL), 0);
	assert_true(send_mpls_l2(r, &h, 0x0800, 40001, 5432, &out));
	assert_int_equal(out, POD2);
	assert_int_not_equal(vt_flow_find(r, "10.9.0.1", 40001, 5432, true), VR_FLOW_NONE);
	assert_false(send_mpls_l2(r, &h, 0x0800, 40001, 5434, &out));
	assert_int_equal(r->drops[VR_DROP_POLICY_DENY], 2);
	used = r->flow.n_used;
	assert_true(send_mpls_l2(r, &h, 0x88b5, 40001, 5434, &out));
	assert_int_equal(r->flow.n_used, used);
	done(r, &h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_match_and_default),
		cmocka_unit_test(test_log_flag),
		cmocka_unit_test(test_ipv6_and_port_ranges),
		cmocka_unit_test(test_stateful_reply),
		cmocka_unit_test(test_policy_in_from_fabric),
		cmocka_unit_test(test_reeval_after_replace),
		cmocka_unit_test(test_control_refusals),
		cmocka_unit_test(test_flow_dump),
		cmocka_unit_test(test_chain_and),
		cmocka_unit_test(test_chain_refusals),
		cmocka_unit_test(test_no_policy_no_flows),
		cmocka_unit_test(test_thousand_rules),
		cmocka_unit_test(test_prepared_classifiers),
		cmocka_unit_test(test_bridged_ip_policies),
		cmocka_unit_test(test_flooded_ip_policies),
		cmocka_unit_test(test_bridged_from_fabric),
	};
	return cmocka_run_group_tests_name("vr_policy", tests, NULL, NULL);
}
