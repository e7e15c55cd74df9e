/* DOC: bgp_conf_test.c — the configuration file: a full example, and each
 * error naming file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
		"\n"
		"[neighbor 127.0.0.2]\n"
		"as 65000   # iBGP\n"
		"port 10179\n"
		"families ipv4 vpnv4\n"
		"rr-client\n"
		"passive\n"
		"[neighbor fd00::2]\n"
		"as 65002\n"
		"local-address fd00::1\n";
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
	assert_string_equal(C.ctl_sock, "/tmp/x.sock");
	char a[80];
	assert_string_equal(bgp_sockaddr_str(&C.nb[0].addr, a, sizeof(a)), "127.0.0.2:10179");
	assert_string_equal(bgp_sockaddr_str(&C.nb[1].addr, a, sizeof(a)), "[fd00::2]:179");
}

static void bad(const char *text, const char *want)
{
	char err[256] = "";
	assert_int_equal(bgp_conf_parse(&C, "b.conf", text, err, sizeof(err)), -22);
	print_message("%s\n", err);
	assert_non_null(strstr(err, want));
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
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\nas 2\nfamilies evpn\n",
	    "b.conf:5: families: unknown family 'evpn'");
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\nas 2\n[neighbor 1.2.3.5]\n",
	    "b.conf:5: neighbor 1.2.3.5 is already defined at line 3");
	bad("router-id 1.2.3.4\nas 1\n[peer x]\n", "b.conf:3: unknown section");
	bad("router-id 1.2.3.4\nas 1\n[neighbor 1.2.3.5]\nas 2\nlocal-address ::1\n",
	    "b.conf:5: local-address ::1: not of the neighbor's address family");
	bad("router-id 1.2.3.4\nas x\n", "b.conf:2: as: 'x' is not a number");
	bad("router-id 1.2.3.4\nas 1 2\n", "b.conf:2: as takes 1 to 1 values, not 2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
