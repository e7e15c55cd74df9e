/* DOC: agent_sg_test.c — security-group rules of a port from a mirror of
 * tern-api objects (no tern-api, no vrouter): ingress rules with the remote
 * end as source and the port as destination, egress the reverse; ethertype,
 * ICMP only in its family, destination port ranges, a CIDR's host bits
 * cleared, a remote group standing for its members' instance IPs, rule ids
 * pointing back at group and rule, unknown groups allowing nothing; before
 * tern-api is synced a restored vif keeps the policies the vrouter holds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "agent_internal.h"

static struct agent *agent_new(void)
{
	struct agent *a = calloc(1, sizeof(*a));
	assert_non_null(a);
	tern_log_init(&a->log, "agent-sg-test", NULL, TERN_LOG_ERR);
	a->ports = calloc(AGENT_MAX_PORTS, sizeof(*a->ports));
	a->vrfs = calloc(AGENT_MAX_VRFS + 1, sizeof(*a->vrfs));
	assert_int_equal(agent_model_init(a), 0);
	a->api_synced = true;
	return a;
}

static void agent_del(struct agent *a)
{
	json_decref(a->model);
	agent_sg_free(a);
	free(a->ports);
	free(a->vrfs);
	free(a);
}

static void put(struct agent *a, const char *kind, const char *json)
{
	json_error_t je;
	json_t *o = json_loads(json, 0, &je);
	if (!o)
		fail_msg("bad test JSON: %s: %s", je.text, json);
	agent_model_put(a, kind, o);
	json_decref(o);
}

/* Groups web and db in project demo; w1's interface has web (10.1.0.2,
 * fd00::2), x1's has web too (10.1.0.7), o1's has db. */
static void fill(struct agent *a, struct agent_port *p)
{
	put(a, "security-group", "{\"uuid\": \"sg-web\", \"fq_name\": \"demo:web\", \"project\": \"demo\","
	    " \"rules\": ["
	    "  {\"direction\": \"ingress\", \"protocol\": \"tcp\", \"ports\": [{\"start\": 80, \"end\": 80},"
	    "   {\"start\": 8000, \"end\": 8080}]},"
	    "  {\"direction\": \"ingress\", \"protocol\": \"icmp\"},"
	    "  {\"direction\": \"egress\", \"protocol\": \"tcp\", \"cidr\": \"10.9.8.7/8\","
	    "   \"ports\": [{\"start\": 443, \"end\": 443}]},"
	    "  {\"direction\": \"egress\", \"ethertype\": \"IPv6\", \"protocol\": \"udp\"}]}");
	put(a, "security-group", "{\"uuid\": \"sg-db\", \"fq_name\": \"demo:db\", \"project\": \"demo\","
	    " \"rules\": [{\"direction\": \"ingress\", \"protocol\": \"tcp\", \"security_group\": \"web\","
	    "  \"ports\": [{\"start\": 5432, \"end\": 5432}]}]}");
	put(a, "virtual-machine-interface", "{\"uuid\": \"vmi-w1\", \"fq_name\": \"demo:w1\","
	    " \"project\": \"demo\", \"security_groups\": [\"web\"]}");
	put(a, "virtual-machine-interface", "{\"uuid\": \"vmi-x1\", \"fq_name\": \"demo:x1\","
	    " \"project\": \"demo\", \"security_groups\": [\"demo:web\"]}");
	put(a, "virtual-machine-interface", "{\"uuid\": \"vmi-o1\", \"fq_name\": \"demo:o1\","
	    " \"project\": \"demo\", \"security_groups\": [\"sg-db\", \"nosuch\"]}");
	put(a, "instance-ip", "{\"uuid\": \"iip-w1\", \"fq_name\": \"demo:w1-v4\", \"project\": \"demo\","
	    " \"virtual_machine_interface\": \"w1\", \"address\": \"10.1.0.2\"}");
	put(a, "instance-ip", "{\"uuid\": \"iip-w1-6\", \"fq_name\": \"demo:w1-v6\", \"project\": \"demo\","
	    " \"virtual_machine_interface\": \"vmi-w1\", \"address\": \"fd00::2\"}");
	put(a, "instance-ip", "{\"uuid\": \"iip-x1\", \"fq_name\": \"demo:x1-v4\", \"project\": \"demo\","
	    " \"virtual_machine_interface\": \"demo:x1\", \"address\": \"10.1.0.7\"}");
	put(a, "instance-ip", "{\"uuid\": \"iip-o1\", \"fq_name\": \"demo:o1-v4\", \"project\": \"demo\","
	    " \"virtual_machine_interface\": \"o1\", \"address\": \"10.1.0.3\"}");
	memset(p, 0, sizeof(*p));
	p->used = true;
	snprintf(p->i.vmi, sizeof(p->i.vmi), "vmi-w1");
	snprintf(p->i.ifname, sizeof(p->i.ifname), "eth0");
	p->i.n_addrs = 2;
	assert_int_equal(agent_ip_parse("10.1.0.2/24", &p->i.addrs[0]), 0);
	assert_int_equal(agent_ip_parse("fd00::2/64", &p->i.addrs[1]), 0);
}

static void expect_prefix(const uint8_t *a, uint8_t plen, uint8_t family, const char *want,
			  uint8_t want_plen)
{
	uint8_t b[16] = { 0 };
	assert_int_equal(inet_pton(family == 4 ? AF_INET : AF_INET6, want, b), 1);
	assert_memory_equal(a, b, 16);
	assert_int_equal(plen, want_plen);
}

static void test_ingress_egress(void **state)
{
	(void)state;
	struct agent *a = agent_new();
	struct agent_port p;
	fill(a, &p);
	json_t *vmi = agent_model_get(a, "virtual-machine-interface", "vmi-w1");
	struct vr_rule r[16];
	bool trunc;
	/* ingress: TCP 80 and 8000-8080 from anywhere (v4 and v6), ICMP v4 only */
	int n = agent_sg_rules(a, &p, vmi, AGENT_SG_INGRESS, r, 16, &trunc);
	assert_false(trunc);
	assert_int_equal(n, 5);
	assert_int_equal(r[0].id, 10001000);
	assert_int_equal(r[0].action, VR_ACT_PASS);
	assert_int_equal(r[0].proto, 6);
	assert_int_equal(r[0].family, 4);
	expect_prefix(r[0].src, r[0].src_plen, 4, "0.0.0.0", 0);
	expect_prefix(r[0].dst, r[0].dst_plen, 4, "10.1.0.2", 32);
	assert_int_equal(r[0].dport_lo, 80);
	assert_int_equal(r[0].dport_hi, 80);
	assert_int_equal(r[0].sport_lo, 0);
	assert_int_equal(r[0].sport_hi, 65535);
	assert_int_equal(r[1].id, 10001001);
	assert_int_equal(r[1].dport_lo, 8000);
	assert_int_equal(r[1].dport_hi, 8080);
	assert_int_equal(r[2].family, 6);
	expect_prefix(r[2].dst, r[2].dst_plen, 6, "fd00::2", 128);
	assert_int_equal(r[4].id, 10002000);
	assert_int_equal(r[4].proto, 1);
	assert_int_equal(r[4].family, 4);
	assert_int_equal(r[4].dport_lo, 0);
	assert_int_equal(r[4].dport_hi, 65535);
	/* egress: TCP 443 to 10.0.0.0/8 (host bits cleared), UDP over IPv6 only */
	n = agent_sg_rules(a, &p, vmi, AGENT_SG_EGRESS, r, 16, &trunc);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].id, 10003000);
	expect_prefix(r[0].src, r[0].src_plen, 4, "10.1.0.2", 32);
	expect_prefix(r[0].dst, r[0].dst_plen, 4, "10.0.0.0", 8);
	assert_int_equal(r[0].dport_lo, 443);
	assert_int_equal(r[1].id, 10004000);
	assert_int_equal(r[1].proto, 17);
	assert_int_equal(r[1].family, 6);
	expect_prefix(r[1].src, r[1].src_plen, 6, "fd00::2", 128);
	expect_prefix(r[1].dst, r[1].dst_plen, 6, "::", 0);
	/* too few slots: truncated (fewer allowed, never more) */
	n = agent_sg_rules(a, &p, vmi, AGENT_SG_INGRESS, r, 3, &trunc);
	assert_int_equal(n, 3);
	assert_true(trunc);
	agent_del(a);
}

static void test_remote_group(void **state)
{
	(void)state;
	struct agent *a = agent_new();
	struct agent_port p;
	fill(a, &p);
	snprintf(p.i.vmi, sizeof(p.i.vmi), "vmi-o1");
	p.i.n_addrs = 1;
	assert_int_equal(agent_ip_parse("10.1.0.3", &p.i.addrs[0]), 0);
	json_t *vmi = agent_model_get(a, "virtual-machine-interface", "vmi-o1");
	struct vr_rule r[16];
	bool trunc;
	/* db: TCP 5432 from web's members w1 (10.1.0.2; its fd00::2 has no
	 * IPv6 address here to pair with) and x1 (10.1.0.7); "nosuch" adds nothing */
	int n = agent_sg_rules(a, &p, vmi, AGENT_SG_INGRESS, r, 16, &trunc);
	assert_int_equal(n, 2);
	uint8_t w1[4], x1[4];
	inet_pton(AF_INET, "10.1.0.2", w1);
	inet_pton(AF_INET, "10.1.0.7", x1);
	bool seen_w1 = false, seen_x1 = false;
	for (int i = 0; i < n; i++) {
		assert_int_equal(r[i].src_plen, 32);
		assert_int_equal(r[i].dport_lo, 5432);
		seen_w1 |= !memcmp(r[i].src, w1, 4);
		seen_x1 |= !memcmp(r[i].src, x1, 4);
		expect_prefix(r[i].dst, r[i].dst_plen, 4, "10.1.0.3", 32);
	}
	assert_true(seen_w1 && seen_x1);
	assert_int_equal(r[0].id, 10001000);
	assert_int_equal(r[1].id, 10001001);
	/* no egress rule: nothing (the policy's default denies) */
	assert_int_equal(agent_sg_rules(a, &p, vmi, AGENT_SG_EGRESS, r, 16, &trunc), 0);
	/* x1 leaves web: one member less */
	put(a, "virtual-machine-interface", "{\"uuid\": \"vmi-x1\", \"fq_name\": \"demo:x1\","
	    " \"project\": \"demo\", \"security_groups\": []}");
	assert_int_equal(agent_sg_rules(a, &p, vmi, AGENT_SG_INGRESS, r, 16, &trunc), 1);
	assert_memory_equal(r[0].src, w1, 4);
	assert_true(a->sg_dirty); /* the main loop re-derives the ports */
	agent_del(a);
}

/* A restarted agent writes its ports' vifs again before tern-api is synced:
 * they keep naming the policies the vrouter holds (a network's, a group's),
 * never none. */
static void test_takeover_keeps_policies(void **state)
{
	(void)state;
	struct agent *a = agent_new();
	a->api_synced = false;
	struct agent_port *p = &a->ports[0];
	*p = (struct agent_port){ .used = true, .vif = 3, .vrf = 1 };
	struct vr_object o;
	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_VIF;
	o.u.vif.id = 3;
	o.u.vif.policy_in = 1;   /* its network's policy (id = VRF id) */
	o.u.vif.policy_out = 1;
	agent_sg_adopt_vif(a, &o);
	uint32_t pol[2];
	char err[256];
	assert_int_equal(agent_sg_port_program(a, p, 0, pol, err, sizeof(err)), 0);
	assert_int_equal(pol[0], 1);
	assert_int_equal(pol[1], 1);
	/* a group's policy in, the network's out */
	o.u.vif.policy_in = AGENT_SG_POLICY_MIN + 2;
	agent_sg_adopt_vif(a, &o);
	assert_int_equal(agent_sg_port_program(a, p, 0, pol, err, sizeof(err)), 0);
	assert_int_equal(pol[0], AGENT_SG_POLICY_MIN + 2);
	assert_int_equal(pol[1], 1);
	assert_true(a->sg_dirty);  /* settled by agent_sg_sync once synced */
	/* a vif without policy stays without */
	memset(p->vr_policy, 0, sizeof(p->vr_policy));
	memset(p->sg_policy, 0, sizeof(p->sg_policy));
	assert_int_equal(agent_sg_port_program(a, p, 0, pol, err, sizeof(err)), 0);
	assert_int_equal(pol[0], 0);
	assert_int_equal(pol[1], 0);
	agent_del(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ingress_egress),
		cmocka_unit_test(test_remote_group),
		cmocka_unit_test(test_takeover_keeps_policies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
