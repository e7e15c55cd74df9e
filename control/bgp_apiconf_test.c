/* DOC: bgp_apiconf_test.c — tern-control's configuration from tern-api
 * objects: identity, neighbours from "peers" either way, their settings,
 * instances from virtual networks, the file winning a clash, and what
 * changes when objects change (bgp_conf_diff over two builds). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bgp_apiconf.h"

static struct bgp_conf base, out, out2;
static char warn[1024], err[256];

static json_t *obj(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad JSON in the test: %s: %s", je.text, text);
	return j;
}

static json_t *routers_of(const char *const *objs)
{
	json_t *t = json_object();
	for (int i = 0; objs[i]; i++) {
		json_t *o = obj(objs[i]);
		json_object_set_new(t, json_string_value(json_object_get(o, "uuid")), o);
	}
	return t;
}

static int build(json_t *routers, json_t *vns, const char *self, struct bgp_conf *c)
{
	return bgp_apiconf_build(&base, routers, vns, self, c, warn, sizeof(warn), err,
				 sizeof(err));
}

static void parse_base(const char *text)
{
	bgp_conf_free(&base);
	assert_int_equal(bgp_conf_parse_flags(&base, "b.conf", text, BGP_CONF_API, err,
					      sizeof(err)), 0);
}

static const char *const fabric[] = {
	"{\"uuid\":\"u-ctl1\",\"name\":\"ctl1\",\"fq_name\":\"ctl1\",\"address\":\"10.0.0.1\","
	"\"asn\":64512,\"address_families\":[\"inet-vpn\",\"e-vpn\",\"route-target\"],"
	"\"md5_key\":\"fabric\",\"peers\":[\"gw1\"]}",
	/* listed by ctl1 */
	"{\"uuid\":\"u-gw1\",\"name\":\"gw1\",\"fq_name\":\"gw1\",\"address\":\"10.0.0.9\","
	"\"asn\":65001,\"address_families\":[\"inet-vpn\",\"inet6-vpn\"],\"hold_time\":30}",
	/* lists ctl1 */
	"{\"uuid\":\"u-ctl2\",\"name\":\"ctl2\",\"fq_name\":\"ctl2\",\"address\":\"fd00::2\","
	"\"asn\":64512,\"md5_key\":\"other\",\"peers\":[\"ctl1\"]}",
	/* neither */
	"{\"uuid\":\"u-gw2\",\"name\":\"gw2\",\"fq_name\":\"gw2\",\"address\":\"10.0.0.10\","
	"\"asn\":65002,\"peers\":[\"gw1\"]}",
	NULL,
};

static const struct bgp_conf_neighbor *nb_named(const struct bgp_conf *c, const char *name)
{
	for (int i = 0; i < c->n_nb; i++)
		if (strcmp(c->nb[i].name, name) == 0)
			return &c->nb[i];
	return NULL;
}

static void test_neighbors(void **state)
{
	(void)state;
	parse_base("listen 10.0.0.1\nhold-time 60\n");
	json_t *r = routers_of(fabric), *v = json_object();
	assert_int_equal(build(r, v, "ctl1", &out), 0);
	assert_string_equal(warn, "");
	assert_int_equal(out.as, 64512);
	assert_int_equal(out.router_id, 0x0a000001);
	assert_int_equal(out.cluster_id, 0x0a000001);
	assert_int_equal(out.n_nb, 2);
	const struct bgp_conf_neighbor *gw = nb_named(&out, "10.0.0.9");
	assert_non_null(gw);
	assert_int_equal(gw->as, 65001);
	assert_string_equal(gw->router, "gw1");
	assert_int_equal(gw->origin, BGP_NB_API);
	assert_int_equal(gw->afs, BGP_AF_BIT(BGP_AF_VPNV4)); /* the common ones */
	assert_int_equal(gw->hold, 30);
	assert_string_equal(gw->password, "fabric");         /* ours: it has none */
	const struct bgp_conf_neighbor *c2 = nb_named(&out, "fd00::2");
	assert_non_null(c2);
	assert_int_equal(c2->afs, BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_EVPN) |
			 BGP_AF_BIT(BGP_AF_RTC));             /* ours: it names none */
	assert_int_equal(c2->hold, 60);                      /* the file's */
	assert_string_equal(c2->password, "other");
	/* by UUID too; an unknown name */
	assert_int_equal(build(r, v, "u-ctl1", &out), 0);
	assert_int_equal(build(r, v, "ctl9", &out), -ENOENT);
	assert_non_null(strstr(err, "bgp-router ctl9 is not in tern-api"));
	/* an IPv6 router needs the file's router-id */
	assert_int_equal(build(r, v, "ctl2", &out), -EINVAL);
	assert_non_null(strstr(err, "give router-id in the configuration file"));
	parse_base("router-id 10.0.0.2\n");
	assert_int_equal(build(r, v, "ctl2", &out), 0);
	assert_int_equal(out.router_id, 0x0a000002);
	assert_int_equal(out.n_nb, 1);                       /* ctl1 */
	assert_int_equal(out.nb[0].afs, BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_EVPN) |
			 BGP_AF_BIT(BGP_AF_RTC));
	json_decref(r);
	json_decref(v);
}

static void test_file_wins(void **state)
{
	(void)state;
	parse_base("[neighbor 10.0.0.9]\nas 65009\n[instance demo:blue]\nimport-target 1:1\n");
	json_t *r = routers_of(fabric);
	json_t *v = obj("{\"u-vn1\":{\"uuid\":\"u-vn1\",\"fq_name\":\"demo:blue\",\"vni\":5}}");
	assert_int_equal(build(r, v, "ctl1", &out), 0);
	assert_int_equal(out.n_nb, 2);
	assert_int_equal(nb_named(&out, "10.0.0.9")->as, 65009);
	assert_int_equal(nb_named(&out, "10.0.0.9")->origin, BGP_NB_FILE);
	assert_int_equal(out.n_vrf, 1);
	assert_int_equal(out.vrf[0].vni, 0);
	assert_non_null(strstr(warn, "neighbor 10.0.0.9 is in the configuration file too"));
	assert_non_null(strstr(warn, "virtual-network demo:blue: the configuration file has"));
	json_decref(r);
	json_decref(v);
}

static void test_instances(void **state)
{
	(void)state;
	parse_base("");
	json_t *r = routers_of(fabric);
	json_t *v = obj("{\"u1\":{\"fq_name\":\"demo:red\",\"vni\":4096,"
			"\"route_target_import\":[\"target:64512:8000001\",\"target:10.0.0.1:7\"],"
			"\"route_target_export\":[\"target:64512:8000001\"]},"
			"\"u2\":{\"fq_name\":\"demo:green\",\"vni\":4097,"
			"\"route_target_import\":[\"target:64512:8000002\"],"
			"\"route_target_export\":[\"target:64512:8000002\"]}}");
	assert_int_equal(build(r, v, "ctl1", &out), 0);
	assert_int_equal(out.n_vrf, 2);
	assert_string_equal(out.vrf[0].name, "demo:red");
	assert_int_equal(out.vrf[0].vni, 4096);
	assert_int_equal(out.vrf[0].n_import, 2);
	assert_int_equal(out.vrf[0].n_export, 1);
	uint8_t rt[8];
	assert_int_equal(bgp_vrf_parse_rt("64512:8000001", rt, false), 0);
	assert_memory_equal(out.vrf[0].import[0], rt, 8);
	assert_memory_equal(out.vrf[0].export[0], rt, 8);
	assert_int_equal(bgp_vrf_parse_rt("10.0.0.1:7", rt, false), 0);
	assert_memory_equal(out.vrf[0].import[1], rt, 8);

	/* green's targets change, red goes, blue comes: the sessions stay */
	json_t *v2 = obj("{\"u2\":{\"fq_name\":\"demo:green\",\"vni\":4097,"
			 "\"route_target_import\":[\"target:64512:9\"],"
			 "\"route_target_export\":[\"target:64512:8000002\"]},"
			 "\"u3\":{\"fq_name\":\"demo:blue\",\"vni\":4098}}");
	assert_int_equal(build(r, v2, "ctl1", &out2), 0);
	struct bgp_conf_diff df = { 0 };
	bgp_conf_diff_free(&df);
	assert_int_equal(bgp_conf_diff(&out, &out2, &df), 0);
	assert_int_equal(df.vrf[0], BGP_CH_REMOVE);
	assert_int_equal(df.vrf[1], BGP_CH_RESET);
	assert_int_equal(df.vrf_to[1], 0);
	assert_false(df.vrf_add[0]);
	assert_true(df.vrf_add[1]);
	assert_int_equal(df.n_vrf_add + df.n_vrf_remove + df.n_vrf_change, 3);
	assert_int_equal(df.n_start + df.n_stop + df.n_reset, 0);
	bgp_conf_diff_free(&df);
	json_decref(v2);
	json_decref(r);
	json_decref(v);
}

/* A second gateway peered, the first one's key changed, ctl2 unpeered. */
static void test_changes(void **state)
{
	(void)state;
	parse_base("");
	json_t *r = routers_of(fabric), *v = json_object();
	assert_int_equal(build(r, v, "ctl1", &out), 0);
	/* the same objects again: nothing to do */
	assert_int_equal(build(r, v, "ctl1", &out2), 0);
	struct bgp_conf_diff df = { 0 };
	bgp_conf_diff_free(&df);
	assert_int_equal(bgp_conf_diff(&out, &out2, &df), 0);
	assert_int_equal(df.n_start + df.n_stop + df.n_reset, 0);

	json_object_set_new(json_object_get(r, "u-ctl1"), "peers", obj("[\"gw1\",\"gw2\"]"));
	json_object_set_new(json_object_get(r, "u-gw1"), "md5_key", json_string("new"));
	json_object_set_new(json_object_get(r, "u-ctl2"), "peers", json_array());
	assert_int_equal(build(r, v, "ctl1", &out2), 0);
	bgp_conf_diff_free(&df);
	assert_int_equal(bgp_conf_diff(&out, &out2, &df), 0);
	assert_int_equal(df.n_start, 1);
	assert_int_equal(df.n_stop, 1);
	assert_int_equal(df.n_reset, 1);
	for (int i = 0; i < out.n_nb; i++) {
		if (strcmp(out.nb[i].name, "10.0.0.9") == 0)
			assert_int_equal(df.nb[i], BGP_CH_RESET);
		else
			assert_int_equal(df.nb[i], BGP_CH_REMOVE);
	}
	for (int j = 0; j < out2.n_nb; j++)
		assert_int_equal(df.nb_add[j], strcmp(out2.nb[j].name, "10.0.0.10") == 0);
	bgp_conf_diff_free(&df);
	json_decref(r);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neighbors),
		cmocka_unit_test(test_file_wins),
		cmocka_unit_test(test_instances),
		cmocka_unit_test(test_changes),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	bgp_conf_free(&base);
	bgp_conf_free(&out);
	bgp_conf_free(&out2);
	return rc;
}
