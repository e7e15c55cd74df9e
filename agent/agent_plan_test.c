/* DOC: agent_plan_test.c — a pod's plan from a mirror of tern-api objects
 * (no tern-api, no vrouter): order and names of interfaces, addresses with
 * their subnet's length, gateway and default route on the first interface
 * only, DNS from the IPAM, veth names and socket paths, the errors; and the
 * state file's round trip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent_internal.h"

static struct agent *agent_new(void)
{
	struct agent *a = calloc(1, sizeof(*a));
	assert_non_null(a);
	snprintf(a->conf.node, sizeof(a->conf.node), "h1");
	snprintf(a->conf.pod_dir, sizeof(a->conf.pod_dir), "/run/tern/pods");
	a->conf.pod_mtu = 1400;
	tern_log_init(&a->log, "agent-test", NULL, TERN_LOG_ERR);
	a->ports = calloc(AGENT_MAX_PORTS, sizeof(*a->ports));
	a->vrfs = calloc(AGENT_MAX_VRFS + 1, sizeof(*a->vrfs));
	a->created = calloc(AGENT_MAX_CREATED, sizeof(*a->created));
	a->nh_used = calloc(AGENT_NH_IDS, 1);
	a->vif_used = calloc(VR_MAX_VIFS, 1);
	a->label_used = calloc(AGENT_LABELS / 8, 1);
	assert_int_equal(agent_model_init(a), 0);
	a->api_synced = true;
	return a;
}

static void agent_del(struct agent *a)
{
	json_decref(a->model);
	free(a->ports); free(a->vrfs); free(a->created); free(a->nh_used); free(a->vif_used);
	free(a->label_used);
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

/* demo:red (v4 + v6), demo:blue, an IPAM with DNS; pod demo/p1 on h1 with
 * net1 (blue), eth0 (red, two addresses), net2 (memif, red); another pod's
 * interface on another node. */
static void fill(struct agent *a)
{
	put(a, "network-ipam", "{\"uuid\": \"i1\", \"fq_name\": \"demo:ipam\", \"project\": \"demo\","
	    " \"dns_servers\": [\"10.9.9.9\"], \"domain\": \"demo.local\", \"version\": 2}");
	put(a, "virtual-network", "{\"uuid\": \"vn1\", \"fq_name\": \"demo:red\", \"project\": \"demo\","
	    " \"network_ipam\": \"demo:ipam\", \"subnets\": [{\"cidr\": \"10.1.0.0/24\", \"gateway\":"
	    " \"10.1.0.1\"}, {\"cidr\": \"fd00:1::/64\", \"gateway\": \"fd00:1::1\"}], \"version\": 3}");
	put(a, "virtual-network", "{\"uuid\": \"vn2\", \"fq_name\": \"demo:blue\", \"project\": \"demo\","
	    " \"subnets\": [{\"cidr\": \"10.2.0.0/16\", \"gateway\": \"10.2.0.1\", \"dns\": \"10.2.0.2\"}],"
	    " \"version\": 4}");
	put(a, "virtual-machine-interface", "{\"uuid\": \"m1\", \"fq_name\": \"demo:p1-net1\","
	    " \"project\": \"demo\", \"virtual_network\": \"demo:blue\", \"owner\": \"demo/p1\","
	    " \"node\": \"h1\", \"ifname\": \"net1\", \"mac\": \"02:74:65:00:00:02\", \"version\": 5}");
	put(a, "virtual-machine-interface", "{\"uuid\": \"m0\", \"fq_name\": \"demo:p1-eth0\","
	    " \"project\": \"demo\", \"virtual_network\": \"demo:red\", \"owner\": \"demo/p1\","
	    " \"node\": \"h1\", \"ifname\": \"eth0\", \"mac\": \"02:74:65:00:00:01\", \"version\": 6}");
	put(a, "virtual-machine-interface", "{\"uuid\": \"m2\", \"fq_name\": \"demo:p1-dpdk\","
	    " \"project\": \"demo\", \"virtual_network\": \"demo:red\", \"owner\": \"demo/p1\","
	    " \"node\": \"h1\", \"ifname\": \"net2\", \"interface_type\": \"memif\","
	    " \"mac\": \"02:74:65:00:00:03\", \"version\": 7}");
	put(a, "virtual-machine-interface", "{\"uuid\": \"m9\", \"fq_name\": \"demo:p9-eth0\","
	    " \"project\": \"demo\", \"virtual_network\": \"demo:red\", \"owner\": \"demo/p1\","
	    " \"node\": \"h2\", \"ifname\": \"eth0\", \"mac\": \"02:74:65:00:00:09\", \"version\": 8}");
	put(a, "instance-ip", "{\"uuid\": \"a0\", \"virtual_machine_interface\": \"demo:p1-eth0\","
	    " \"address\": \"10.1.0.5\", \"version\": 9}");
	put(a, "instance-ip", "{\"uuid\": \"a1\", \"virtual_machine_interface\": \"demo:p1-eth0\","
	    " \"address\": \"fd00:1::5\", \"version\": 10}");
	put(a, "instance-ip", "{\"uuid\": \"a2\", \"virtual_machine_interface\": \"demo:p1-net1\","
	    " \"address\": \"10.2.3.4\", \"version\": 11}");
	put(a, "instance-ip", "{\"uuid\": \"a3\", \"virtual_machine_interface\": \"demo:p1-dpdk\","
	    " \"address\": \"10.1.0.6\", \"version\": 12}");
}

static const struct agent_req p1 = {
	.op = "add", .container_id = "cid-1", .ifname = "eth0", .pod_namespace = "demo",
	.pod_name = "p1",
};

static void test_plan(void **state)
{
	(void)state;
	struct agent *a = agent_new();
	fill(a);
	struct agent_if ifs[AGENT_MAX_IFS];
	char err[512], buf[64];
	int n = agent_plan(a, &p1, false, ifs, AGENT_MAX_IFS, err, sizeof(err));
	assert_int_equal(n, 3);
	assert_string_equal(ifs[0].ifname, "eth0");
	assert_string_equal(ifs[1].ifname, "net1");
	assert_string_equal(ifs[2].ifname, "net2");
	assert_string_equal(ifs[0].network, "demo:red");
	assert_string_equal(ifs[1].network, "demo:blue");
	assert_int_equal(ifs[0].n_addrs, 2);
	assert_string_equal(agent_ip_str(&ifs[0].addrs[0], buf, sizeof(buf), true), "10.1.0.5/24");
	assert_string_equal(agent_ip_str(&ifs[0].addrs[1], buf, sizeof(buf), true), "fd00:1::5/64");
	assert_string_equal(agent_ip_str(&ifs[1].addrs[0], buf, sizeof(buf), true), "10.2.3.4/16");
	assert_true(ifs[0].default_route);
	assert_false(ifs[1].default_route);
	assert_string_equal(agent_ip_str(&ifs[0].gw4, buf, sizeof(buf), false), "10.1.0.1");
	assert_string_equal(agent_ip_str(&ifs[0].gw6, buf, sizeof(buf), false), "fd00:1::1");
	assert_int_equal(ifs[0].mtu, 1400);
	char want_host[16];
	agent_host_ifname("cid-1", "eth0", want_host);
	assert_string_equal(ifs[0].host_ifname, want_host);
	assert_string_equal(ifs[2].kind, "memif");
	assert_string_equal(ifs[2].host_ifname, "");
	assert_string_equal(ifs[2].socket_path, "/run/tern/pods/cid-1/net2.sock");

	/* The plan's JSON, as the plugin gets it. */
	json_t *j0 = agent_if_json(&ifs[0]), *j1 = agent_if_json(&ifs[1]);
	char *s0 = json_dumps(j0, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(strstr(s0, "\"addresses\":[\"10.1.0.5/24\",\"fd00:1::5/64\"],"
				  "\"dns\":{\"domain\":\"demo.local\",\"nameservers\":[\"10.9.9.9\"]}"));
	assert_non_null(strstr(s0, "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},"
				  "{\"dst\":\"::/0\",\"gw\":\"fd00:1::1\"}]"));
	assert_non_null(strstr(s0, "\"mac\":\"02:74:65:00:00:01\""));
	free(s0);
	json_decref(j0);
	char *s1 = json_dumps(j1, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(strstr(s1, "\"routes\":[]"));  /* no default route on net1 */
	assert_non_null(strstr(s1, "\"nameservers\":[\"10.2.0.2\"]"));  /* the subnet's own DNS */
	free(s1);
	json_decref(j1);
	agent_if_free(ifs, n);

	/* The runtime's interface name first, even when tern-api calls it otherwise. */
	struct agent_req r = p1;
	r.ifname = "net1";
	n = agent_plan(a, &r, false, ifs, AGENT_MAX_IFS, err, sizeof(err));
	assert_int_equal(n, 3);
	assert_string_equal(ifs[0].ifname, "net1");
	assert_true(ifs[0].default_route);
	agent_if_free(ifs, n);
	agent_del(a);
}

static void test_plan_errors(void **state)
{
	(void)state;
	struct agent *a = agent_new();
	struct agent_if ifs[AGENT_MAX_IFS];
	char err[512];
	a->api_synced = false;
	assert_int_equal(agent_plan(a, &p1, false, ifs, AGENT_MAX_IFS, err, sizeof(err)), -11);
	assert_non_null(strstr(err, "not synchronised"));
	a->api_synced = true;
	assert_int_equal(agent_plan(a, &p1, false, ifs, AGENT_MAX_IFS, err, sizeof(err)), -7);
	assert_non_null(strstr(err, "names no network"));
	fill(a);
	struct agent_req r = p1;
	r.network = "nope";
	r.project = "demo";
	assert_int_equal(agent_plan(a, &r, false, ifs, AGENT_MAX_IFS, err, sizeof(err)), -7);
	assert_non_null(strstr(err, "nope does not exist"));
	/* A requested network the pod has no interface on, without creating. */
	r.network = NULL;
	json_t *ann = json_string("blue@net7");
	r.networks = ann;
	assert_int_equal(agent_plan(a, &r, false, ifs, AGENT_MAX_IFS, err, sizeof(err)), -7);
	assert_non_null(strstr(err, "net7: no interface on demo:blue"));
	json_decref(ann);
	/* An interface whose address is not there yet: try again later. */
	put(a, "virtual-machine-interface", "{\"uuid\": \"m5\", \"fq_name\": \"demo:p1-net5\","
	    " \"project\": \"demo\", \"virtual_network\": \"demo:blue\", \"owner\": \"demo/p1\","
	    " \"node\": \"h1\", \"ifname\": \"net5\", \"mac\": \"02:74:65:00:00:05\", \"version\": 20}");
	assert_int_equal(agent_plan(a, &p1, false, ifs, AGENT_MAX_IFS, err, sizeof(err)), -11);
	assert_non_null(strstr(err, "no instance-ip"));
	/* No container id: a bad request. */
	r = p1;
	r.container_id = "";
	assert_int_equal(agent_plan(a, &r, false, ifs, AGENT_MAX_IFS, err, sizeof(err)), -7);
	agent_del(a);
}

static void test_model_versions(void **state)
{
	(void)state;
	struct agent *a = agent_new();
	fill(a);
	/* An older write of an object the agent has newer never goes back. */
	put(a, "virtual-network", "{\"uuid\": \"vn2\", \"fq_name\": \"demo:blue\", \"project\": \"demo\","
	    " \"subnets\": [], \"version\": 1}");
	json_t *vn = agent_model_get(a, "virtual-network", "vn2");
	assert_int_equal(json_integer_value(json_object_get(vn, "version")), 4);
	assert_ptr_equal(agent_model_ref(a, "virtual-network", "blue", "demo"), vn);
	assert_ptr_equal(agent_model_ref(a, "virtual-network", "demo:blue", NULL), vn);
	assert_ptr_equal(agent_model_ref(a, "virtual-network", "vn2", NULL), vn);
	assert_null(agent_model_ref(a, "virtual-network", "blue", "other"));
	agent_del(a);
}

static void test_state_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/tern-agent-state.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct agent *a = agent_new();
	snprintf(a->conf.state_dir, sizeof(a->conf.state_dir), "%s", dir);
	struct agent_port *p = &a->ports[3];
	p->used = true;
	snprintf(p->container_id, sizeof(p->container_id), "cid-7");
	snprintf(p->i.vmi, sizeof(p->i.vmi), "m0");
	snprintf(p->i.ifname, sizeof(p->i.ifname), "eth0");
	snprintf(p->i.kind, sizeof(p->i.kind), "kernel");
	snprintf(p->i.network, sizeof(p->i.network), "demo:red");
	agent_host_ifname("cid-7", "eth0", p->i.host_ifname);
	tern_mac_parse("02:74:65:00:00:01", p->i.mac);
	p->i.mtu = 1400;
	agent_ip_parse("10.1.0.5/24", &p->i.addrs[0]);
	p->i.n_addrs = 1;
	p->vrf = 2; p->vif = 5; p->nh = 40; p->label = 77;
	a->vrfs[2].used = true;
	a->vrfs[2].id = 2;
	snprintf(a->vrfs[2].network, sizeof(a->vrfs[2].network), "demo:red");
	a->created[0].used = true;
	snprintf(a->created[0].container_id, sizeof(a->created[0].container_id), "cid-7");
	a->created[0].n = 1;
	snprintf(a->created[0].kind[0], sizeof(a->created[0].kind[0]), "virtual-machine-interface");
	snprintf(a->created[0].uuid[0], sizeof(a->created[0].uuid[0]), "m0");
	char err[512];
	assert_int_equal(agent_state_save(a, err, sizeof(err)), 0);

	struct agent *b = agent_new();
	snprintf(b->conf.state_dir, sizeof(b->conf.state_dir), "%s", dir);
	assert_int_equal(agent_state_load(b, err, sizeof(err)), 0);
	struct agent_port *q = &b->ports[0];
	assert_true(q->used);
	assert_string_equal(q->container_id, "cid-7");
	assert_string_equal(q->i.host_ifname, p->i.host_ifname);
	assert_memory_equal(q->i.mac, p->i.mac, 6);
	assert_int_equal(q->i.n_addrs, 1);
	assert_int_equal(q->i.addrs[0].plen, 24);
	assert_int_equal(q->vrf, 2);
	assert_int_equal(q->vif, 5);
	assert_int_equal(q->nh, 40);
	assert_int_equal(q->label, 77);
	assert_true(b->nh_used[40] && b->vif_used[5]);
	assert_true(b->vrfs[2].used);
	assert_string_equal(b->vrfs[2].network, "demo:red");
	assert_true(b->created[0].used);
	assert_string_equal(b->created[0].kind[0], "virtual-machine-interface");

	/* A damaged file is refused with its name, not half-read. */
	char path[300];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"version\": 1, \"ports\": [", f);
	fclose(f);
	struct agent *c = agent_new();
	snprintf(c->conf.state_dir, sizeof(c->conf.state_dir), "%s", dir);
	assert_int_equal(agent_state_load(c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "state.json"));
	unlink(path);
	rmdir(dir);
	agent_del(a);
	agent_del(b);
	agent_del(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_errors),
		cmocka_unit_test(test_model_versions),
		cmocka_unit_test(test_state_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
