/* DOC: cni_result_test.c — the agent's plan checked into structs, and the
 * exact CNI result built from it for each supported version. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cni_result.h"

/* The example of docs/AGENT.md: a kernel interface and a memif one. */
static const char *const PLAN =
	"{\"ok\":true,\"interfaces\":["
	"{\"vmi\":\"u1\",\"ifname\":\"eth0\",\"kind\":\"kernel\",\"host_ifname\":\"tn3f9a1c02e1\","
	"\"mac\":\"02:74:65:00:00:01\",\"mtu\":1450,\"network\":\"demo:red\","
	"\"addresses\":[\"10.1.0.2/24\",\"fd00:1::2/64\"],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},{\"dst\":\"::/0\",\"gw\":\"fd00:1::1\"}],"
	"\"dns\":{\"nameservers\":[\"10.1.0.2\"],\"domain\":\"demo.local\",\"search\":[],\"x\":1}},"
	"{\"vmi\":\"u2\",\"ifname\":\"net1\",\"kind\":\"memif\",\"mac\":\"02:74:65:00:00:02\","
	"\"mtu\":1450,\"socket_dir\":\"/run/tern/pods/c1\","
	"\"socket_path\":\"/run/tern/pods/c1/net1.sock\","
	"\"addresses\":[\"10.2.0.5/24\"],\"routes\":[],\"dns\":{}}]}";

static void plan_load(struct cni_plan *p, const char *text, enum cni_plan_kind kind)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	struct cni_err e;
	int r = cni_plan_parse(p, j, kind, &e);
	json_decref(j);
	if (r < 0)
		fail_msg("plan refused: %s", e.msg);
}

static void test_plan_parse(void **state)
{
	(void)state;
	struct cni_plan p;
	plan_load(&p, PLAN, CNI_PLAN_FULL);
	assert_int_equal(p.n, 2);
	const struct cni_iface *f = &p.ifaces[0];
	assert_string_equal(f->vmi, "u1");
	assert_string_equal(f->ifname, "eth0");
	assert_int_equal(f->kind, CNI_KIND_KERNEL);
	assert_string_equal(f->host_ifname, "tn3f9a1c02e1");
	assert_int_equal(f->mac[5], 1);
	assert_int_equal(f->mtu, 1450);
	assert_int_equal(f->n_addrs, 2);
	assert_int_equal(f->n_routes, 2);
	assert_true(f->routes[0].has_gw);
	assert_non_null(f->dns);
	f = &p.ifaces[1];
	assert_int_equal(f->kind, CNI_KIND_MEMIF);
	assert_string_equal(f->socket_path, "/run/tern/pods/c1/net1.sock");
	cni_plan_free(&p);
}

static void result_is(const struct cni_plan *p, const char *version, const char *want)
{
	json_t *r = cni_result_build(p, version, "/var/run/netns/p1");
	assert_non_null(r);
	char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(r);
	if (strcmp(s, want) != 0)
		fail_msg("result for %s:\n%s\nwanted:\n%s", version, s, want);
	free(s);
}

static void test_result_100(void **state)
{
	(void)state;
	struct cni_plan p;
	plan_load(&p, PLAN, CNI_PLAN_FULL);
	p.ifaces[0].has_host_mac = true;
	memcpy(p.ifaces[0].host_mac, "\xaa\xbb\xcc\x00\x00\x01", 6);
	result_is(&p, "1.0.0",
		"{\"cniVersion\":\"1.0.0\",\"interfaces\":["
		"{\"name\":\"tn3f9a1c02e1\",\"mac\":\"aa:bb:cc:00:00:01\"},"
		"{\"name\":\"eth0\",\"mac\":\"02:74:65:00:00:01\",\"sandbox\":\"/var/run/netns/p1\"},"
		"{\"name\":\"net1\",\"mac\":\"02:74:65:00:00:02\",\"sandbox\":\"/var/run/netns/p1\"}],"
		"\"ips\":[{\"address\":\"10.1.0.2/24\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
		"{\"address\":\"fd00:1::2/64\",\"gateway\":\"fd00:1::1\",\"interface\":1},"
		"{\"address\":\"10.2.0.5/24\",\"interface\":2}],"
		"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},{\"dst\":\"::/0\","
		"\"gw\":\"fd00:1::1\"}],"
		"\"dns\":{\"nameservers\":[\"10.1.0.2\"],\"domain\":\"demo.local\"}}");
	cni_plan_free(&p);
}

/* 1.1.0 adds mtu and socketPath; 0.4.0 puts "version" in each ip. */
static void test_result_110_040(void **state)
{
	(void)state;
	struct cni_plan p;
	plan_load(&p, PLAN, CNI_PLAN_FULL);
	result_is(&p, "1.1.0",
		"{\"cniVersion\":\"1.1.0\",\"interfaces\":["
		"{\"name\":\"tn3f9a1c02e1\",\"mtu\":1450},"
		"{\"name\":\"eth0\",\"mac\":\"02:74:65:00:00:01\",\"mtu\":1450,"
		"\"sandbox\":\"/var/run/netns/p1\"},"
		"{\"name\":\"net1\",\"mac\":\"02:74:65:00:00:02\",\"mtu\":1450,"
		"\"sandbox\":\"/var/run/netns/p1\",\"socketPath\":\"/run/tern/pods/c1/net1.sock\"}],"
		"\"ips\":[{\"address\":\"10.1.0.2/24\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
		"{\"address\":\"fd00:1::2/64\",\"gateway\":\"fd00:1::1\",\"interface\":1},"
		"{\"address\":\"10.2.0.5/24\",\"interface\":2}],"
		"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},{\"dst\":\"::/0\","
		"\"gw\":\"fd00:1::1\"}],"
		"\"dns\":{\"nameservers\":[\"10.1.0.2\"],\"domain\":\"demo.local\"}}");
	result_is(&p, "0.4.0",
		"{\"cniVersion\":\"0.4.0\",\"interfaces\":["
		"{\"name\":\"tn3f9a1c02e1\"},"
		"{\"name\":\"eth0\",\"mac\":\"02:74:65:00:00:01\",\"sandbox\":\"/var/run/netns/p1\"},"
		"{\"name\":\"net1\",\"mac\":\"02:74:65:00:00:02\",\"sandbox\":\"/var/run/netns/p1\"}],"
		"\"ips\":[{\"version\":\"4\",\"address\":\"10.1.0.2/24\",\"gateway\":\"10.1.0.1\","
		"\"interface\":1},"
		"{\"version\":\"6\",\"address\":\"fd00:1::2/64\",\"gateway\":\"fd00:1::1\","
		"\"interface\":1},"
		"{\"version\":\"4\",\"address\":\"10.2.0.5/24\",\"interface\":2}],"
		"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},{\"dst\":\"::/0\","
		"\"gw\":\"fd00:1::1\"}],"
		"\"dns\":{\"nameservers\":[\"10.1.0.2\"],\"domain\":\"demo.local\"}}");
	cni_plan_free(&p);
}

/* No interfaces (nothing planned): empty lists, no dns. */
static void test_result_empty(void **state)
{
	(void)state;
	struct cni_plan p;
	plan_load(&p, "{\"ok\":true,\"interfaces\":[]}", CNI_PLAN_FULL);
	result_is(&p, "1.0.0", "{\"cniVersion\":\"1.0.0\",\"interfaces\":[],\"ips\":[],"
		  "\"routes\":[]}");
	cni_plan_free(&p);
}

static void test_plan_removed_and_check(void **state)
{
	(void)state;
	struct cni_plan p;
	plan_load(&p, "{\"ok\":true,\"interfaces\":[{\"ifname\":\"eth0\",\"host_ifname\":\"tn1\"},"
		  "{\"ifname\":\"net1\"}]}", CNI_PLAN_REMOVED);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.ifaces[0].host_ifname, "tn1");
	assert_string_equal(p.ifaces[1].host_ifname, "");
	cni_plan_free(&p);

	json_t *j = json_loads(PLAN, 0, NULL);
	json_object_set_new(json_array_get(json_object_get(j, "interfaces"), 0), "attached",
			    json_true());
	json_object_set_new(json_array_get(json_object_get(j, "interfaces"), 1), "attached",
			    json_false());
	struct cni_err e;
	assert_int_equal(cni_plan_parse(&p, j, CNI_PLAN_CHECK, &e), 0);
	assert_true(p.ifaces[0].attached);
	assert_false(p.ifaces[1].attached);
	cni_plan_free(&p);
	json_decref(j);
}

/* Replace field key of interface 0 of PLAN (NULL: remove) and expect a refusal
 * naming it. */
static void plan_bad(const char *key, json_t *v, const char *needle)
{
	json_t *j = json_loads(PLAN, 0, NULL);
	json_t *f = json_array_get(json_object_get(j, "interfaces"), 0);
	if (v)
		json_object_set_new(f, key, v);
	else
		json_object_del(f, key);
	struct cni_plan p;
	struct cni_err e;
	assert_int_equal(cni_plan_parse(&p, j, CNI_PLAN_FULL, &e), -EINVAL);
	json_decref(j);
	assert_int_equal(e.code, 5);
	if (!strstr(e.msg, needle))
		fail_msg("message '%s' does not name '%s'", e.msg, needle);
}

static void test_plan_invalid(void **state)
{
	(void)state;
	plan_bad("ifname", NULL, "interfaces[0].ifname is missing");
	plan_bad("ifname", json_string("a/b"), "interfaces[0].ifname");
	plan_bad("ifname", json_string("net1"), "interfaces[1].ifname is planned twice");
	plan_bad("host_ifname", NULL, "interfaces[0].host_ifname");
	plan_bad("host_ifname", json_string("0123456789abcdefgh"), "host_ifname is too long");
	plan_bad("kind", json_string("tap"), "interfaces[0].kind");
	plan_bad("mac", json_string("02:74:65"), "interfaces[0].mac");
	plan_bad("mtu", json_integer(20), "interfaces[0].mtu");
	plan_bad("mtu", NULL, "interfaces[0].mtu");
	plan_bad("vmi", json_integer(1), "interfaces[0].vmi is not a string");
	plan_bad("addresses", json_pack("[s]", "10.1.0.2"), "interfaces[0].addresses");
	plan_bad("routes", json_pack("[{s:s}]", "dst", "10.0.0.0"), "interfaces[0].routes");
	plan_bad("routes", json_pack("[{s:s,s:s}]", "dst", "0.0.0.0/0", "gw", "fd00::1"),
		 "interfaces[0].routes");
	plan_bad("dns", json_string("x"), "interfaces[0].dns");

	struct cni_plan p;
	struct cni_err e;
	json_t *j = json_loads("{\"ok\":true}", 0, NULL);
	assert_int_equal(cni_plan_parse(&p, j, CNI_PLAN_FULL, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "\"interfaces\""));
	json_decref(j);
	/* memif without its socket */
	j = json_loads(PLAN, 0, NULL);
	json_object_del(json_array_get(json_object_get(j, "interfaces"), 1), "socket_path");
	assert_int_equal(cni_plan_parse(&p, j, CNI_PLAN_FULL, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "interfaces[1].socket_path"));
	/* check without attached */
	json_object_set_new(json_array_get(json_object_get(j, "interfaces"), 1), "socket_path",
			    json_string("/s"));
	assert_int_equal(cni_plan_parse(&p, j, CNI_PLAN_CHECK, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "interfaces[0].attached"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_parse),
		cmocka_unit_test(test_result_100),
		cmocka_unit_test(test_result_110_040),
		cmocka_unit_test(test_result_empty),
		cmocka_unit_test(test_plan_removed_and_check),
		cmocka_unit_test(test_plan_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
