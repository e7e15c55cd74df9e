/* DOC: bgp_conf_test.c — the configuration file: a full example, and each
 * error naming file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bgp_conf.h"

static struct bgp_conf C;

static void test_full(void **state)
{
	(void)state;
	const char *t =
		"# tern-control\n"
		"router-id 10.0.0.1\n"
		"as 65000\n"
		"listen 127.0.0.1 1179\n"
		"listen ::1\n"
		"hold-time 30\n"
		"control-socket /tmp/x.sock\n"
		"graceful-restart restart-time 120\n"
		"state-dir /tmp/tern-state\n"
		"\n"
		"[neighbor 127.0.0.2]\n"
		"as 65000   # iBGP\n"
		"port 10179\n"
		"families ipv4 vpnv4\n"
		"rr-client\n"
		"passive\n"
		"add-path receive\n"
		"[neighbor fd00::2]\n"
		"as 65002\n"
		"local-address fd00::1\n"
		"password s3cret\n";
	char err[256] = "";
	assert_int_equal(bgp_conf_parse(&C, "t.conf", t, err, sizeof(err)), 0);
	assert_int_equal(C.router_id, 0x0a000001);
	assert_int_equal(C.cluster_id, 0x0a000001);
	assert_int_equal(C.n_listen, 2);
	assert_int_equal(C.n_nb, 2);
	assert_int_equal(C.nb[0].afs, BGP_AF_BIT(BGP_AF_IPV4) | BGP_AF_BIT(BGP_AF_VPNV4));
	assert_true(C.nb[0].passive && C.nb[0].rr_client);
	assert_int_equal(C.nb[0].hold, 30);
	assert_int_equal(C.nb[1].as, 65002);
	assert_string_equal(C.nb[1].password, "s3cret");
	assert_string_equal(C.nb[0].password, "");
	assert_int_equal(C.nb[0].addpath_off, BGP_CONF_AP_NO_TX);
	assert_int_equal(C.nb[1].addpath_off, 0);
	assert_string_equal(C.ctl_sock, "/tmp/x.sock");
	assert_int_equal(C.gr_restart_time, 120);
	assert_string_equal(C.state_dir, "/tmp/tern-state");
	char a[80];
	assert_string_equal(bgp_sockaddr_str(&C.nb[0].addr, a, sizeof(a)), "127.0.0.2:10179");
	assert_string_equal(bgp_sockaddr_str(&C.nb[1].addr, a, sizeof(a)), "[fd00::2]:179");
	bgp_conf_free(&C);
}

static void test_instances(void **state)
{
	(void)state;
	const char *t =
		"router-id 10.0.0.1\n"
		"as 65000\n"
		"[instance red]\n"
		"import-target 65000:1 10.0.0.1:5\n"
		"import-target 70000:2\n"
		"[neighbor 10.0.0.2]\n"
		"as 65000\n"
		"[instance blue]\n"
		"rd 65000:20\n"
		"import-target 65000:2\n"
		"export-target 65000:2\n"
		"route 10.20.0.0/24 label 1000 next-hop 10.0.0.1\n"
		"route 2001:db8:20::/64 label 1001 next-hop fd00::1\n";
	char err[256] = "";
	assert_int_equal(bgp_conf_parse(&C, "t.conf", t, err, sizeof(err)), 0);
	assert_int_equal(C.n_nb, 1);
	assert_int_equal(C.n_vrf, 2);
	assert_string_equal(C.vrf[0].name, "red");
	assert_int_equal(C.vrf[0].n_import, 3);
	assert_int_equal(C.vrf[0].n_export, 0);
	static const uint8_t rt_ip[8] = { 0x01, 0x02, 10, 0, 0, 1, 0, 5 };
	assert_memory_equal(C.vrf[0].import[1], rt_ip, 8);
	static const uint8_t rd[8] = { 0, 0, 0xfd, 0xe8, 0, 0, 0, 20 };
	assert_memory_equal(C.vrf[1].rd, rd, 8);
	assert_int_equal(C.vrf[1].n_routes, 2);
	assert_int_equal(C.vrf[1].routes[0].p.af, BGP_AF_IPV4);
	assert_int_equal(C.vrf[1].routes[0].p.plen, 24);
	assert_int_equal(C.vrf[1].routes[0].label, 1000);
	assert_int_equal(C.vrf[1].routes[0].nh_len, 4);
	assert_int_equal(C.vrf[1].routes[1].p.af, BGP_AF_IPV6);
	assert_int_equal(C.vrf[1].routes[1].nh_len, 16);
	bgp_conf_free(&C);
}

static void bad(const char *text, const char *want)
{
	char err[256] = "";
	assert_int_equal(bgp_conf_parse(&C, "b.conf", text, err, sizeof(err)), -22);
	print_message("%s\n", err);
	assert_non_null(strstr(err, want));
}

static void test_ranges(void **state)
{
	(void)state;
	struct bgp_conf c;
	char err[256];
	const char *t = "router-id 10.254.0.1\nas 64512\n[neighbor 10.254.0.2]\nas 64512\n"
			"[neighbors 10.254.0.0/24]\nas 64512\nfamilies vpnv4 vpnv6\nrr-client\n"
			"[neighbors fd00::/64]\nas 65001\n";
	assert_int_equal(bgp_conf_parse(&c, "r.conf", t, err, sizeof(err)), 0);
	assert_int_equal(c.n_nb, 1);
	assert_int_equal(c.n_range, 2);
	assert_string_equal(c.range[0].tmpl.name, "10.254.0.0/24");
	assert_true(c.range[0].tmpl.passive);
	assert_true(c.range[0].tmpl.rr_client);
	assert_int_equal(c.range[0].tmpl.afs, BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6));
	assert_int_equal(c.range[0].tmpl.hold, BGP_DEFAULT_HOLD);
	struct sockaddr_storage ss;
	socklen_t len;
	assert_int_equal(bgp_sock_addr("10.254.0.77", 40000, &ss, &len), 0);
	assert_ptr_equal(bgp_conf_range_of(&c, &ss), &c.range[0]);
	assert_int_equal(bgp_sock_addr("10.254.1.77", 179, &ss, &len), 0);
	assert_null(bgp_conf_range_of(&c, &ss));
	assert_int_equal(bgp_sock_addr("fd00::9", 179, &ss, &len), 0);
	assert_ptr_equal(bgp_conf_range_of(&c, &ss), &c.range[1]);
	assert_int_equal(bgp_sock_addr("fd01::9", 179, &ss, &len), 0);
	assert_null(bgp_conf_range_of(&c, &ss));
	bgp_conf_free(&c);
	bad("router-id 1.2.3.4\nas 1\n[neighbors 10.0.0.0]\n", "b.conf:3: neighbors: '10.0.0.0' is not a prefix");
	bad("router-id 1.2.3.4\nas 1\n[neighbors 10.0.0.0/33]\n", "b.conf:3: neighbors: bad prefix length");
	bad("router-id 1.2.3.4\nas 1\n[neighbors 10.0.0.0/8]\n", "b.conf:3: neighbors 10.0.0.0/8: as is missing");
}

static void test_errors(void **state)
{
	(void)state;
	bad("router-id 1.2.3.4\n", "b.conf:2: as (the local AS) is missing");
	bad("as 1\n", "router-id is missing");
	bad("router-id 1.2.3\nas 1\n", "b.conf:1: router-id: '1.2.3' is not");
	bad("router-id 1.2.3.4\nas 1\nfoo 2\n", "b.conf:3: unknown key 'foo'");
	bad("router-id 1.2.3.4\nas 1\nhold-time 2\n", "b.conf:3: hold-time: 0 or at least 3");
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\n", "b.conf:3: neighbor 1.2.3.5: as is missing");
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\nas 2\nfamilies mvpn\n",
	    "b.conf:5: families: unknown family 'mvpn'");
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\nas 2\n[neighbor 1.2.3.5]\n",
	    "b.conf:5: neighbor 1.2.3.5 is already defined at line 3");
	bad("router-id 1.2.3.4\nas 1\n[peer x]\n", "b.conf:3: unknown section");
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\nas 2\nlocal-address ::1\n",
	    "b.conf:5: local-address ::1: not of the neighbor's address family");
	bad("router-id 1.2.3.4\nas 1\ngraceful-restart 120\n",
	    "b.conf:3: graceful-restart takes 2 to 2 values, not 1");
	bad("router-id 1.2.3.4\nas 1\ngraceful-restart time 120\n",
	    "b.conf:3: graceful-restart: 'time' (write graceful-restart restart-time SECONDS)");
	bad("router-id 1.2.3.4\nas 1\ngraceful-restart restart-time 5000\n",
	    "b.conf:3: graceful-restart restart-time: '5000' is not a number from 0 to 4095");
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\nas 2\nadd-path all\n",
	    "b.conf:5: add-path: 'all' (use both, send, receive or off)");
	bad("router-id 1.2.3.4\nas x\n", "b.conf:2: as: 'x' is not a number");
	bad("router-id 1.2.3.4\nas 1 2\n", "b.conf:2: as takes 1 to 1 values, not 2");
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\nas 2\npassword "
	    "123456789012345678901234567890123456789012345678901234567890123456789012345678901\n",
	    "b.conf:5: password: at most 80 characters");
#define I "router-id 1.2.3.4\nas 1\n[instance a]\n"
	bad(I "rd 1\n", "b.conf:4: rd: '1' is not ASN:NN");
	bad(I "import-target 65000:1 x:2\n", "b.conf:4: import-target: 'x:2' is not");
	bad(I "route 10.0.0.0/24 label 100\n", "b.conf:4: route is written");
	bad(I "route 10.0.0.1/24 label 100 next-hop 1.1.1.1\n", "b.conf:4: route: 10.0.0.1/24 has bits");
	bad(I "route 10.0.0.0/33 label 100 next-hop 1.1.1.1\n", "b.conf:4: route prefix length");
	bad(I "route 10.0.0.0/24 label 3 next-hop 1.1.1.1\n", "b.conf:4: route label");
	bad(I "route 10.0.0.0/24 label 100 next-hop ::1\n", "b.conf:4: route: next-hop '::1'");
	bad(I "route 10.0.0.0/24 label 100 next-hop 1.1.1.1\n", "b.conf:3: instance a: routes need an rd");
	bad(I "rd 1:1\nroute 10.0.0.0/24 label 100 next-hop 1.1.1.1\n",
	    "b.conf:3: instance a: routes need an export-target");
	bad(I "[instance a]\n", "b.conf:4: instance a is already defined at line 3");
	bad(I "as 5\n", "b.conf:4: unknown key 'as' in an [instance] section");
#undef I
}

/* Which neighbours and instances a new configuration starts, stops, resets
 * or leaves alone. */
static void test_diff(void **state)
{
	(void)state;
	static struct bgp_conf a, b;
	char err[256];
	const char *from =
		"router-id 10.0.0.1\nas 65000\n"
		"[neighbor 10.0.0.2]\nas 65000\n"                 /* kept */
		"[neighbor 10.0.0.3]\nas 65000\n"                 /* removed */
		"[neighbor 10.0.0.4]\nas 65000\npassword x\n"     /* key changes */
		"[neighbor 10.0.0.5]\nas 65000\nport 1790\n"      /* port changes: another one */
		"[neighbor 10.0.0.6]\nas 65000\nfamilies vpnv4\n" /* families change */
		"[instance red]\nimport-target 1:1\n"
		"[instance green]\nimport-target 1:2\n";
	const char *to =
		"router-id 10.0.0.1\nas 65000\n"
		"[neighbor 10.0.0.6]\nas 65000\nfamilies vpnv4 evpn\n"
		"[neighbor 10.0.0.5]\nas 65000\n"
		"[neighbor 10.0.0.4]\nas 65000\npassword y\n"
		"[neighbor 10.0.0.2]\nas 65000\n"
		"[neighbor 10.0.0.7]\nas 65001\n"
		"[instance green]\nimport-target 1:3\n"
		"[instance red]\nimport-target 1:1\n"
		"[instance blue]\nimport-target 1:4\n";
	assert_int_equal(bgp_conf_parse(&a, "a.conf", from, err, sizeof(err)), 0);
	assert_int_equal(bgp_conf_parse(&b, "b.conf", to, err, sizeof(err)), 0);
	/* a speaker of a [neighbors] range and a removed slot are not compared */
	struct bgp_conf_neighbor n0 = a.nb[0], n1 = a.nb[1];
	*bgp_conf_nb_new(&a, NULL) = n0;
	a.nb[5].origin = BGP_NB_RANGE;
	*bgp_conf_nb_new(&a, NULL) = n1;
	a.nb[6].off = true;
	struct bgp_conf_diff df;
	assert_int_equal(bgp_conf_diff(&a, &b, &df), 0);
	static const uint8_t want[] = { BGP_CH_KEEP, BGP_CH_REMOVE, BGP_CH_RESET, BGP_CH_REMOVE,
					BGP_CH_RESET, BGP_CH_KEEP, BGP_CH_KEEP };
	static const int want_to[] = { 3, -1, 2, -1, 0, -1, -1 };
	for (int i = 0; i < 7; i++) {
		assert_int_equal(df.nb[i], want[i]);
		assert_int_equal(df.nb_to[i], want_to[i]);
	}
	static const bool want_add[] = { false, true, false, false, true };
	for (int j = 0; j < 5; j++)
		assert_int_equal(df.nb_add[j], want_add[j]);
	assert_int_equal(df.n_start, 2);
	assert_int_equal(df.n_stop, 2);
	assert_int_equal(df.n_reset, 2);
	assert_int_equal(df.vrf[0], BGP_CH_KEEP);
	assert_int_equal(df.vrf_to[0], 1);
	assert_int_equal(df.vrf[1], BGP_CH_RESET);
	assert_int_equal(df.vrf_to[1], 0);
	assert_true(df.vrf_add[2] && !df.vrf_add[0] && !df.vrf_add[1]);
	assert_int_equal(df.n_vrf_add + df.n_vrf_remove + df.n_vrf_change, 2);
	/* against itself: nothing */
	bgp_conf_diff_free(&df);
	assert_int_equal(bgp_conf_diff(&b, &b, &df), 0);
	assert_int_equal(df.n_start + df.n_stop + df.n_reset + df.n_vrf_add + df.n_vrf_remove +
			 df.n_vrf_change, 0);
	bgp_conf_diff_free(&df);
	bgp_conf_free(&a);
	bgp_conf_free(&b);
}

/* Past the old limits (63 neighbours, 32 instances): 1,000 neighbours and
 * 4,096 instances parse; a new file with one more of each, one removed and
 * one changed diffs to exactly those, the rest KEEP. */
static char *many_text(int n_nb, int n_vrf, int skip_nb, int skip_vrf, int change_vrf)
{
	size_t cap = (size_t)(n_nb + n_vrf) * 64 + 64, len = 0;
	char *t = malloc(cap);
	assert_non_null(t);
	len += (size_t)snprintf(t + len, cap - len, "router-id 10.0.0.1\nas 65000\n");
	for (int i = 0; i < n_nb; i++)
		if (i != skip_nb)
			len += (size_t)snprintf(t + len, cap - len,
						"[neighbor 10.1.%d.%d]\nas 65000\n", i / 250,
						i % 250 + 1);
	for (int i = 0; i < n_vrf; i++)
		if (i != skip_vrf)
			len += (size_t)snprintf(t + len, cap - len,
						"[instance vn%d]\nimport-target 65000:%d\n", i,
						i == change_vrf ? 99999 : i + 1);
	return t;
}

static void test_many(void **state)
{
	(void)state;
	static struct bgp_conf a, b;
	char err[256];
	char *ta = many_text(1000, 4096, 1000, 4096, -1);
	char *tb = many_text(1001, 4097, 17, 33, 40);
	assert_int_equal(bgp_conf_parse(&a, "a.conf", ta, err, sizeof(err)), 0);
	assert_int_equal(bgp_conf_parse(&b, "b.conf", tb, err, sizeof(err)), 0);
	assert_int_equal(a.n_nb, 1000);
	assert_int_equal(a.n_vrf, 4096);
	assert_string_equal(a.vrf[4095].name, "vn4095");
	struct bgp_conf_diff df;
	assert_int_equal(bgp_conf_diff(&a, &b, &df), 0);
	assert_int_equal(df.n_start, 1);
	assert_int_equal(df.n_stop, 1);
	assert_int_equal(df.n_reset, 0);
	assert_int_equal(df.nb[17], BGP_CH_REMOVE);
	assert_true(df.nb_add[999]);                 /* 10.1.4.1, the 1001st */
	assert_int_equal(df.nb_to[18], 17);
	assert_int_equal(df.n_vrf_add, 1);
	assert_int_equal(df.n_vrf_remove, 1);
	assert_int_equal(df.n_vrf_change, 1);
	assert_int_equal(df.vrf[33], BGP_CH_REMOVE);
	assert_int_equal(df.vrf[40], BGP_CH_RESET);
	assert_int_equal(df.vrf[4095], BGP_CH_KEEP);
	assert_true(df.vrf_add[4095]);
	bgp_conf_diff_free(&df);
	/* a deep copy compares equal and owns its arrays */
	static struct bgp_conf c;
	assert_int_equal(bgp_conf_copy(&c, &a), 0);
	assert_int_equal(bgp_conf_diff(&a, &c, &df), 0);
	assert_int_equal(df.n_start + df.n_stop + df.n_reset + df.n_vrf_add + df.n_vrf_remove +
			 df.n_vrf_change, 0);
	assert_ptr_not_equal(c.nb, a.nb);
	bgp_conf_diff_free(&df);
	bgp_conf_free(&c);
	bgp_conf_free(&a);
	bgp_conf_free(&b);
	free(ta);
	free(tb);
}

/* With tern-api giving the identity, router-id and as may be left out. */
static void test_api_flags(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(bgp_conf_parse_flags(&C, "a.conf", "listen 127.0.0.1\n", BGP_CONF_API,
					      err, sizeof(err)), 0);
	assert_int_equal(C.as, 0);
	assert_int_equal(C.cluster_id, 0);
	bgp_conf_free(&C);
	assert_int_equal(bgp_conf_parse_flags(&C, "a.conf", "listen 127.0.0.1\n", 0, err,
					      sizeof(err)), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_instances),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_api_flags),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
