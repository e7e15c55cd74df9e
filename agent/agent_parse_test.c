/* DOC: agent_parse_test.c — addresses, route targets, MACs, veth names and
 * the NPWG network annotation in each of its forms, good and bad. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agent_parse.h"

static void test_ip(void **state)
{
	(void)state;
	struct agent_ip ip, net;
	char buf[64];
	assert_int_equal(agent_ip_parse("10.1.0.2/24", &ip), 0);
	assert_int_equal(ip.family, 4);
	assert_int_equal(ip.plen, 24);
	assert_string_equal(agent_ip_str(&ip, buf, sizeof(buf), true), "10.1.0.2/24");
	assert_int_equal(agent_ip_parse("fd00:3::5", &ip), 0);
	assert_int_equal(ip.family, 6);
	assert_int_equal(ip.plen, 128);
	assert_string_equal(agent_ip_str(&ip, buf, sizeof(buf), false), "fd00:3::5");
	static const char *const bad[] = { "", "10.1.0.2/33", "10.1.0.2/", "10.1.0/24", "fd00::/129",
					   "10.1.0.2/2x", "host", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(agent_ip_parse(bad[i], &ip), -EINVAL);
	assert_int_equal(agent_ip_parse(NULL, &ip), -EINVAL);
	assert_int_equal(agent_ip_parse("10.1.0.0/23", &net), 0);
	assert_int_equal(agent_ip_parse("10.1.1.200", &ip), 0);
	assert_true(agent_ip_contains(&net, &ip));
	assert_int_equal(agent_ip_parse("10.1.2.1", &ip), 0);
	assert_false(agent_ip_contains(&net, &ip));
	assert_int_equal(agent_ip_parse("fd00:3::/64", &net), 0);
	assert_false(agent_ip_contains(&net, &ip));  /* other family */
}

static void test_rt(void **state)
{
	(void)state;
	uint8_t rt[8];
	static const uint8_t as2[8] = { 0x00, 0x02, 0xfc, 0x00, 0x00, 0x7a, 0x12, 0x01 };
	assert_int_equal(agent_rt_parse("target:64512:8000001", rt), 0);
	assert_memory_equal(rt, as2, 8);
	static const uint8_t ip4[8] = { 0x01, 0x02, 10, 0, 0, 1, 0x00, 0x07 };
	assert_int_equal(agent_rt_parse("target:10.0.0.1:7", rt), 0);
	assert_memory_equal(rt, ip4, 8);
	static const uint8_t as4[8] = { 0x02, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05 };
	assert_int_equal(agent_rt_parse("target:65536:5", rt), 0);
	assert_memory_equal(rt, as4, 8);
	static const char *const bad[] = { "64512:1", "target:", "target:64512", "target:x:1",
					   "target:65536:70000", "target:10.0.0.1:70000",
					   "target:64512:", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(agent_rt_parse(bad[i], rt), -EINVAL);
}

static void test_mac_ifname(void **state)
{
	(void)state;
	uint8_t mac[6];
	static const uint8_t want[6] = { 0x02, 0x74, 0x65, 0x00, 0x00, 0x1f };
	assert_int_equal(tern_mac_parse("02:74:65:00:00:1f", mac), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_equal(tern_mac_parse("02:74:65:00:00", mac), -EINVAL);
	assert_int_equal(tern_mac_parse("02:74:65:00:00:1f:00", mac), -EINVAL);
	assert_int_equal(tern_mac_parse("02:74:65:00:00:100", mac), -EINVAL);
	char a[16], b[16], c[16];
	agent_host_ifname("cid-1", "eth0", a);
	agent_host_ifname("cid-1", "eth0", b);
	agent_host_ifname("cid-1", "net1", c);
	assert_string_equal(a, b);       /* the same for the same pod and interface */
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 13); /* fits IFNAMSIZ with room */
	assert_memory_equal(a, "tn", 2);
}

static int parse_str(const char *s, struct agent_want *w, int *n, char *err, size_t len)
{
	json_t *j = json_string(s);
	int rc = agent_parse_networks(j, w, n, err, len);
	json_decref(j);
	return rc;
}

static void test_networks(void **state)
{
	(void)state;
	struct agent_want w[AGENT_MAX_IFS];
	char err[256];
	int n = 0;
	assert_int_equal(parse_str(" blue , other/green@net5,red ", w, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(w[0].ref, "blue");
	assert_string_equal(w[0].ifname, "");
	assert_string_equal(w[1].ref, "other:green");
	assert_string_equal(w[1].ifname, "net5");
	assert_string_equal(w[2].ref, "red");

	n = 0;
	json_t *list = json_loads("[{\"name\": \"a\", \"namespace\": \"p\", \"interface\": \"x1\"},"
				  " {\"name\": \"b\"}]", 0, NULL);
	assert_int_equal(agent_parse_networks(list, w, &n, err, sizeof(err)), 0);
	json_decref(list);
	assert_int_equal(n, 2);
	assert_string_equal(w[0].ref, "p:a");
	assert_string_equal(w[0].ifname, "x1");
	assert_string_equal(w[1].ref, "b");

	n = 0;  /* the JSON form inside a string, as annotations carry it */
	assert_int_equal(parse_str("[{\"name\": \"c\"}]", w, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(w[0].ref, "c");

	n = 0;
	assert_int_equal(agent_parse_networks(NULL, w, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);

	n = 0;
	assert_int_equal(parse_str("[{\"name\": 3}]", w, &n, err, sizeof(err)), -7);
	assert_non_null(strstr(err, "without a name"));
	n = 0;
	assert_int_equal(parse_str("[1]", w, &n, err, sizeof(err)), -7);
	assert_non_null(strstr(err, "networks[0]"));
	n = 0;
	assert_int_equal(parse_str("[{\"name\": \"a\"", w, &n, err, sizeof(err)), -7);
	assert_non_null(strstr(err, "annotation"));
	n = 0;
	assert_int_equal(parse_str("a@averyveryverylongname", w, &n, err, sizeof(err)), -7);
	assert_non_null(strstr(err, "longer than 15"));
	n = 0;
	char many[512] = "";
	for (int i = 0; i <= AGENT_MAX_IFS; i++)
		strcat(many, "n,");
	assert_int_equal(parse_str(many, w, &n, err, sizeof(err)), -7);
	assert_non_null(strstr(err, "more than"));
	json_t *num = json_integer(1);
	n = 0;
	assert_int_equal(agent_parse_networks(num, w, &n, err, sizeof(err)), -7);
	json_decref(num);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_rt),
		cmocka_unit_test(test_mac_ifname),
		cmocka_unit_test(test_networks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
