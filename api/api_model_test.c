/*
 * DOC: api_model_test.c — every class of bad input gets its status and a
 * message naming the field; good input is normalised with its defaults;
 * the address helpers the validator and allocator rely on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "api_addr.h"
#include "api_model.h"

/* Decode body as kind; expect failure with status and field; the message
 * must contain want. */
static void bad(const char *kind, const char *body, int status, const char *field,
		const char *want)
{
	struct api_err e = { 0 };
	json_t *o = NULL;
	const struct api_kind *k = api_kind_find(kind);
	assert_non_null(k);
	int rc = api_decode(k, body, strlen(body), &o, &e);
	if (rc == 0)
		fail_msg("accepted: %s", body);
	assert_null(o);
	if (e.status != status || strcmp(e.field, field) != 0 || !strstr(e.msg, want))
		fail_msg("%s\n -> %d field '%s': %s\n wanted %d '%s' containing '%s'", body,
			 e.status, e.field, e.msg, status, field, want);
}

static json_t *good(const char *kind, const char *body)
{
	struct api_err e = { 0 };
	json_t *o = NULL;
	if (api_decode(api_kind_find(kind), body, strlen(body), &o, &e) < 0)
		fail_msg("%s\n refused: %d %s: %s", body, e.status, e.field, e.msg);
	return o;
}

#define VN "\"name\":\"vn1\",\"project\":\"demo\""

static void test_malformed_json(void **state)
{
	(void)state;
	bad("vn", "{\"name\":", 400, "", "malformed JSON at line 1");
	bad("vn", "", 400, "", "malformed JSON");
	bad("vn", "[1,2]", 400, "", "must be a JSON object");
	bad("vn", "{" VN ",\"name\":\"x\"}", 400, "", "malformed JSON"); /* duplicate key */
}

static void test_wrong_types(void **state)
{
	(void)state;
	bad("vn", "{" VN ",\"vni\":\"5000\"}", 400, "vni", "must be an integer, not a string");
	bad("vn", "{" VN ",\"vni\":1.5}", 400, "vni", "not a number with a fraction");
	bad("vn", "{" VN ",\"subnets\":{}}", 400, "subnets", "must be a list");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":10}]}", 400, "subnets[0].cidr", "must be a prefix");
	bad("vn", "{\"name\":5,\"project\":\"demo\"}", 400, "name", "must be a string");
	bad("vn", "{" VN ",\"labels\":{\"a\":1}}", 400, "labels.a", "must be a string");
	bad("nprof", "{\"name\":\"p\",\"dpdk\":\"yes\"}", 400, "dpdk", "true or false");
}

static void test_unknown_and_missing(void **state)
{
	(void)state;
	bad("vn", "{" VN ",\"colour\":\"blue\"}", 400, "colour", "unknown field");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.0/24\",\"gw\":\"10.0.0.1\"}]}", 400,
	    "subnets[0].gw", "unknown field");
	bad("vmi", "{\"name\":\"p1\",\"project\":\"demo\"}", 400, "virtual_network", "is required");
	bad("vn", "{\"project\":\"demo\"}", 400, "name", "is required");
	bad("vn", "{\"name\":\"vn1\"}", 400, "project", "is required");
	bad("vr", "{\"name\":\"n1\",\"project\":\"demo\",\"fabric_address\":\"10.0.0.1\"}", 400,
	    "project", "global");
	bad("vn", "{\"kind\":\"project\"," VN "}", 400, "kind", "request is for virtual-network");
	bad("vn", "{\"name\":\"a:b\",\"project\":\"demo\"}", 400, "name", "use letters");
}

static void test_oversized(void **state)
{
	(void)state;
	size_t n = API_BODY_MAX + 100;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, "{" VN "}", strlen("{" VN "}"));
	big[n] = 0;
	struct api_err e;
	json_t *o;
	assert_int_equal(api_decode(api_kind_find("vn"), big, n, &o, &e), -1);
	assert_int_equal(e.status, 413);
	assert_non_null(strstr(e.msg, "at most"));
	free(big);
	/* the list size limits are per field */
	char buf[8192];
	strcpy(buf, "{" VN ",\"encapsulation\":[\"VXLAN\",\"MPLSoUDP\",\"MPLSoGRE\",\"VXLAN\"]}");
	bad("vn", buf, 400, "encapsulation", "at most 3");
}

static void test_subnets(void **state)
{
	(void)state;
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.0/24\"},{\"cidr\":\"10.0.0.128/25\"}]}",
	    400, "subnets[1]", "overlaps subnets[0] 10.0.0.0/24");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.0/33\"}]}", 400, "subnets[0].cidr",
	    "not a prefix");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.1/24\"}]}", 400, "subnets[0].cidr",
	    "host bits");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"banana\"}]}", 400, "subnets[0].cidr",
	    "not a prefix");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.1.1\"}]}", 400,
	    "subnets[0].gateway", "not a host address of subnet 10.0.0.0/24");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.0.255\"}]}",
	    400, "subnets[0].gateway", "not a host address");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.0/24\",\"allocation_pools\":"
	    "[{\"start\":\"10.0.0.10\",\"end\":\"10.0.1.20\"}]}]}", 400,
	    "subnets[0].allocation_pools[0]", "host addresses of subnet");
	bad("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.0/24\",\"allocation_pools\":"
	    "[{\"start\":\"10.0.0.30\",\"end\":\"10.0.0.20\"}]}]}", 400,
	    "subnets[0].allocation_pools[0]", "start is after end");
	/* v4 and v6 side by side do not overlap */
	json_decref(good("vn", "{" VN ",\"subnets\":[{\"cidr\":\"10.0.0.0/24\"},"
			 "{\"cidr\":\"fd00::/64\",\"dns\":\"fd00::53\"}]}"));
}

static void test_formats(void **state)
{
	(void)state;
	const char *vmi = "{\"name\":\"p1\",\"project\":\"demo\",\"virtual_network\":\"vn1\",";
	char b[512];
	snprintf(b, sizeof(b), "%s\"mac\":\"02:00:00:00:00\"}", vmi);
	bad("vmi", b, 400, "mac", "not a MAC address");
	snprintf(b, sizeof(b), "%s\"mac\":\"02:00:00:00:00:zz\"}", vmi);
	bad("vmi", b, 400, "mac", "not a MAC address");
	snprintf(b, sizeof(b), "%s\"mac\":\"03:00:00:00:00:01\"}", vmi);
	bad("vmi", b, 400, "mac", "multicast");
	snprintf(b, sizeof(b), "%s\"interface_type\":\"sriov\"}", vmi);
	bad("vmi", b, 400, "interface_type", "kernel, vhost-user, memif");
	snprintf(b, sizeof(b), "%s\"ifname\":\"a-very-long-ifname\"}", vmi);
	bad("vmi", b, 400, "ifname", "at most 15");
	bad("iip", "{\"name\":\"i\",\"project\":\"demo\",\"virtual_network\":\"vn1\","
	    "\"address\":\"10.0.0.300\"}", 400, "address", "not an IPv4 or IPv6 address");
	bad("vn", "{" VN ",\"vni\":0}", 400, "vni", "out of range 1..16777215");
	bad("vn", "{" VN ",\"forwarding_mode\":\"l4\"}", 400, "forwarding_mode", "l2, l3, l2_l3");
	bad("vn", "{" VN ",\"route_target_import\":[\"64512:1\"]}", 400, "route_target_import[0]",
	    "not a route target");
	bad("vn", "{" VN ",\"route_target_import\":[\"target:1:1\",\"target:1:1\"]}", 400,
	    "route_target_import[1]", "repeats item 0");
	bad("np", "{\"name\":\"p\",\"project\":\"demo\",\"rules\":[{\"action\":\"pass\","
	    "\"source\":{\"ports\":[{\"start\":90,\"end\":80}]}}]}", 400,
	    "rules[0].source.ports[0]", "start is after end");
	bad("vr", "{\"name\":\"n1\",\"fabric_address\":\"10.0.0.1\",\"vrouters\":[{\"name\":\"a\"},"
	    "{\"name\":\"a\"}]}", 400, "vrouters[1].name", "repeats");
	bad("vn", "{" VN ",\"uuid\":\"nope\"}", 400, "uuid", "lowercase UUID");
	bad("bgp", "{\"name\":\"gw\",\"address\":\"10.0.0.1\",\"asn\":0}", 400, "asn", "out of range");
}

static void test_normalised(void **state)
{
	(void)state;
	json_t *o = good("virtual-network", "{\"kind\":\"virtual-network\"," VN ",\"fq_name\":\"x\","
			 "\"subnets\":[{\"cidr\":\"10.1.0.0/24\"}],\"vni\":null}");
	assert_string_equal(json_string_value(json_object_get(o, "forwarding_mode")), "l2_l3");
	assert_int_equal(json_array_size(json_object_get(o, "encapsulation")), 3);
	assert_null(json_object_get(o, "vni"));     /* null = absent: allocate */
	assert_null(json_object_get(o, "fq_name")); /* set by the server */
	assert_true(json_is_object(json_object_get(o, "labels")));
	json_decref(o);
	o = good("vmi", "{\"name\":\"p1\",\"project\":\"demo\",\"virtual_network\":\"vn1\"}");
	assert_string_equal(json_string_value(json_object_get(o, "interface_type")), "kernel");
	json_decref(o);
	/* every kind decodes its minimal object */
	const struct api_kind *k;
	for (unsigned i = 0; (k = api_kind_at(i)); i++)
		assert_non_null(api_kind_find(k->alias));
}

static void test_addr(void **state)
{
	(void)state;
	struct api_prefix n, a, b;
	uint64_t off;
	char s[64];
	assert_int_equal(api_parse_cidr("10.0.0.0/24", &n), 0);
	assert_int_equal(api_parse_ip("10.0.0.77", &a), 0);
	assert_true(api_prefix_contains(&n, &a));
	assert_int_equal(api_prefix_offset(&n, &a, &off), 0);
	assert_int_equal(off, 77);
	assert_int_equal(api_prefix_last(&n), 254);
	api_prefix_at(&n, 200, s, sizeof(s));
	assert_string_equal(s, "10.0.0.200");
	assert_int_equal(api_parse_cidr("fd00:1::/64", &n), 0);
	assert_int_equal(api_parse_ip("fd00:1::1:2", &a), 0);
	assert_int_equal(api_prefix_offset(&n, &a, &off), 0);
	assert_int_equal(off, 0x10002);
	api_prefix_at(&n, 0x10002, s, sizeof(s));
	assert_string_equal(s, "fd00:1::1:2");
	assert_int_equal(api_parse_cidr("10.0.0.0/8", &a), 0);
	assert_int_equal(api_parse_cidr("10.200.0.0/16", &b), 0);
	assert_true(api_prefix_overlap(&a, &b));
	assert_int_equal(api_parse_cidr("11.0.0.0/8", &b), 0);
	assert_false(api_prefix_overlap(&a, &b));
	assert_int_equal(api_parse_cidr("10.0.0.0/", &a), -EINVAL);
	assert_int_equal(api_parse_cidr("10.0.0.0/+8", &a), -EINVAL);
	uint32_t asn, num;
	assert_int_equal(api_parse_rt("target:64512:8000001", &asn, &num), 0);
	assert_int_equal(asn, 64512);
	assert_int_equal(num, 8000001);
	assert_int_equal(api_parse_rt("target:4200000000:70000", &asn, &num), -EINVAL);
	assert_int_equal(api_parse_rt("target:10.0.0.1:7", &asn, &num), 0);
	uint8_t mac[6];
	assert_int_equal(api_parse_mac("02:AB:cd:00:00:01", mac), 0);
	api_format_mac(mac, s);
	assert_string_equal(s, "02:ab:cd:00:00:01");
	assert_int_equal(api_parse_mac("02:ab:cd:00:00:+1", mac), -EINVAL);
	assert_int_equal(api_parse_mac("02-ab-cd-00-00-01", mac), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_unknown_and_missing),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_subnets),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_normalised),
		cmocka_unit_test(test_addr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
