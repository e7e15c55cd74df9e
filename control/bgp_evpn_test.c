/* DOC: bgp_evpn_test.c — the EVPN NLRI (AFI 25 / SAFI 70): route types 2
 * (MAC/IP advertisement, RFC 7432 §7.2), 3 (inclusive multicast Ethernet
 * tag, §7.3) and 5 (IP prefix, RFC 9136 §3.1) byte for byte as the RFCs lay
 * them out, unknown route types skipped, malformed ones refused, and a whole
 * UPDATE parsed and re-encoded identically. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bgp_msg.h"

#define RD_65000_100 0x00, 0x00, 0xfd, 0xe8, 0x00, 0x00, 0x00, 0x64
#define ESI0 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define ESI1 0x00, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11

/* Type 2: RD, ESI, Ethernet tag 0, MAC length 48, MAC 00:11:22:33:44:55,
 * IP length 32, 10.0.0.1, MPLS label 100 (0x00 0x06 0x41: 100 << 4 | S). */
static const uint8_t t2_ip4[] = {
	0x02, 37, RD_65000_100, ESI1, 0, 0, 0, 0,
	48, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
	32, 10, 0, 0, 1,
	0x00, 0x06, 0x41,
};
/* Type 2, MAC only, two label fields (VNI 10100 = 0x002774 and 0x0003e8). */
static const uint8_t t2_mac_2labels[] = {
	0x02, 36, RD_65000_100, ESI0, 0, 0, 0, 7,
	48, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0,
	0x00, 0x27, 0x74, 0x00, 0x03, 0xe8,
};
/* Type 2 with an IPv6 address. */
static const uint8_t t2_ip6[] = {
	0x02, 49, RD_65000_100, ESI0, 0, 0, 0, 0,
	48, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
	128, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0x00, 0x06, 0x41,
};
/* Type 3: RD, Ethernet tag 10, IP length 32, originating router 10.0.0.3. */
static const uint8_t t3[] = {
	0x03, 17, RD_65000_100, 0, 0, 0, 10, 32, 10, 0, 0, 3,
};
/* Type 5: RD, ESI, tag 0, prefix length 24, 10.1.2.0, gateway 0.0.0.0,
 * label 0x000641. */
static const uint8_t t5_ip4[] = {
	0x05, 34, RD_65000_100, ESI0, 0, 0, 0, 0,
	24, 10, 1, 2, 0,
	0, 0, 0, 0,
	0x00, 0x06, 0x41,
};
/* Type 5 IPv6: 2001:db8:5::/48, gateway 2001:db8::1, label field 0x0007d1. */
static const uint8_t t5_ip6[] = {
	0x05, 58, RD_65000_100, ESI0, 0, 0, 0, 0,
	48, 0x20, 0x01, 0x0d, 0xb8, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0x00, 0x07, 0xd1,
};
/* Type 1 (Ethernet auto-discovery): not handled, skipped whole. */
static const uint8_t t1[] = {
	0x01, 25, RD_65000_100, ESI1, 0, 0, 0, 0, 0x00, 0x06, 0x41,
};

static int parse_one(const uint8_t *b, size_t len, struct bgp_nlri *n)
{
	struct bgp_nlri_iter it;
	char err[160];
	bgp_nlri_iter_init(&it, BGP_AF_EVPN, b, len, false);
	int rc = bgp_nlri_next(&it, n, err, sizeof(err));
	if (rc == 1)
		assert_int_equal(bgp_nlri_next(&it, &(struct bgp_nlri){ 0 }, err, sizeof(err)), 0);
	else
		print_message("%s\n", err);
	return rc;
}

static void round_trip(const uint8_t *b, size_t len)
{
	struct bgp_nlri n;
	assert_int_equal(parse_one(b, len, &n), 1);
	assert_int_equal(bgp_nlri_size(&n), len);
	uint8_t out[128];
	struct tern_wbuf w;
	tern_wbuf_init(&w, out, sizeof(out));
	bgp_nlri_put(&w, &n, false);
	assert_int_equal(w.len, len);
	assert_memory_equal(out, b, len);
}

static void test_type2(void **state)
{
	(void)state;
	struct bgp_nlri n;
	assert_int_equal(parse_one(t2_ip4, sizeof(t2_ip4), &n), 1);
	assert_int_equal(n.p.af, BGP_AF_EVPN);
	assert_int_equal(n.p.evpn_type, 2);
	assert_int_equal(n.p.plen, 32);
	static const uint8_t mac[6] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };
	assert_memory_equal(n.p.mac, mac, 6);
	assert_int_equal(n.p.addr[0], 10);
	assert_int_equal(n.p.addr[3], 1);
	assert_int_equal(n.label >> 4, 100);
	assert_int_equal(n.p.esi[1], 0x11);
	assert_int_equal(n.p.n_labels, 1);
	char s[160];
	bgp_evpn_format(&n.p, s, sizeof(s));
	assert_string_equal(s, "[2][65000:100][0][00:11:22:33:44:55][10.0.0.1]");
	round_trip(t2_ip4, sizeof(t2_ip4));

	assert_int_equal(parse_one(t2_mac_2labels, sizeof(t2_mac_2labels), &n), 1);
	assert_int_equal(n.p.plen, 0);
	assert_int_equal(n.label, 10100);            /* a VNI: the field whole */
	assert_int_equal(n.p.n_labels, 2);
	assert_int_equal(n.p.eth_tag[3], 7);
	bgp_evpn_format(&n.p, s, sizeof(s));
	assert_string_equal(s, "[2][65000:100][7][02:00:00:00:00:01][]");
	round_trip(t2_mac_2labels, sizeof(t2_mac_2labels));

	assert_int_equal(parse_one(t2_ip6, sizeof(t2_ip6), &n), 1);
	assert_int_equal(n.p.plen, 128);
	round_trip(t2_ip6, sizeof(t2_ip6));

	/* A withdrawal carries zero label fields. */
	assert_int_equal(parse_one(t2_mac_2labels, sizeof(t2_mac_2labels), &n), 1);
	uint8_t out[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, out, sizeof(out));
	bgp_nlri_put(&w, &n, true);
	assert_int_equal(w.len, sizeof(t2_mac_2labels));
	assert_memory_equal(out, t2_mac_2labels, sizeof(t2_mac_2labels) - 6);
	static const uint8_t zero[6] = { 0 };
	assert_memory_equal(out + w.len - 6, zero, 6);
}

static void test_type3_type5(void **state)
{
	(void)state;
	struct bgp_nlri n;
	char s[160];
	assert_int_equal(parse_one(t3, sizeof(t3), &n), 1);
	assert_int_equal(n.p.evpn_type, 3);
	assert_int_equal(n.label, BGP_LABEL_NONE);
	bgp_evpn_format(&n.p, s, sizeof(s));
	assert_string_equal(s, "[3][65000:100][10][10.0.0.3]");
	round_trip(t3, sizeof(t3));

	assert_int_equal(parse_one(t5_ip4, sizeof(t5_ip4), &n), 1);
	assert_int_equal(n.p.evpn_type, 5);
	assert_int_equal(n.p.plen, 24);
	assert_false(n.p.evpn_v6);
	assert_int_equal(n.label >> 4, 100);
	bgp_evpn_format(&n.p, s, sizeof(s));
	assert_string_equal(s, "[5][65000:100][0][10.1.2.0/24]");
	round_trip(t5_ip4, sizeof(t5_ip4));

	assert_int_equal(parse_one(t5_ip6, sizeof(t5_ip6), &n), 1);
	assert_true(n.p.evpn_v6);
	assert_int_equal(n.p.plen, 48);
	assert_int_equal(n.p.gw[15], 1);
	bgp_evpn_format(&n.p, s, sizeof(s));
	assert_string_equal(s, "[5][65000:100][0][2001:db8:5::/48]");
	round_trip(t5_ip6, sizeof(t5_ip6));
}

static void test_key_excludes_esi(void **state)
{
	(void)state;
	/* RFC 7432 §7.2: the ESI and labels are not part of the route key. */
	struct bgp_nlri a, b;
	assert_int_equal(parse_one(t2_ip4, sizeof(t2_ip4), &a), 1);
	uint8_t other[sizeof(t2_ip4)];
	memcpy(other, t2_ip4, sizeof(other));
	other[10 + 9] = 0x99;          /* last ESI byte */
	other[sizeof(other) - 2] = 0x07; /* label */
	assert_int_equal(parse_one(other, sizeof(other), &b), 1);
	assert_memory_equal(&a.p, &b.p, BGP_PREFIX_KEY_LEN);
	assert_memory_not_equal(&a.p, &b.p, sizeof(a.p));
}

static void test_skip_unknown_type(void **state)
{
	(void)state;
	uint8_t b[sizeof(t1) + sizeof(t3) + sizeof(t1)];
	memcpy(b, t1, sizeof(t1));
	memcpy(b + sizeof(t1), t3, sizeof(t3));
	memcpy(b + sizeof(t1) + sizeof(t3), t1, sizeof(t1));
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	char err[160];
	bgp_nlri_iter_init(&it, BGP_AF_EVPN, b, sizeof(b), false);
	assert_int_equal(bgp_nlri_next(&it, &n, err, sizeof(err)), 1);
	assert_int_equal(n.p.evpn_type, 3);
	assert_int_equal(bgp_nlri_next(&it, &n, err, sizeof(err)), 0);
}

static void bad(const uint8_t *b, size_t len, const char *want)
{
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	char err[160] = "";
	bgp_nlri_iter_init(&it, BGP_AF_EVPN, b, len, false);
	assert_int_equal(bgp_nlri_next(&it, &n, err, sizeof(err)), -EBADMSG);
	print_message("%s\n", err);
	assert_non_null(strstr(err, want));
}

static void test_malformed(void **state)
{
	(void)state;
	uint8_t b[80];
	memcpy(b, t2_ip4, sizeof(t2_ip4));
	b[24] = 47;     /* MAC length */
	bad(b, sizeof(t2_ip4), "MAC length is not 48");
	memcpy(b, t2_ip4, sizeof(t2_ip4));
	b[31] = 24;     /* IP length */
	bad(b, sizeof(t2_ip4), "IP length not 0, 32 or 128");
	memcpy(b, t2_ip4, sizeof(t2_ip4));
	b[1] = 38;      /* one byte more than IP + one label */
	b[sizeof(t2_ip4)] = 0;
	bad(b, sizeof(t2_ip4) + 1, "does not fit the IP and 1 or 2 labels");
	bad(t2_ip4, 20, "truncated (route length 37, 18 left)");
	bad(t2_ip4, 1, "truncated");
	memcpy(b, t3, sizeof(t3));
	b[1] = 18;
	b[sizeof(t3)] = 0;
	bad(b, sizeof(t3) + 1, "route type 3, length 18: not 17 or 29");
	memcpy(b, t3, sizeof(t3));
	b[14] = 128;    /* IP length 128 in a 17-byte route */
	bad(b, sizeof(t3), "IP length does not match");
	memcpy(b, t5_ip4, sizeof(t5_ip4));
	b[24] = 33;     /* prefix length */
	bad(b, sizeof(t5_ip4), "prefix length too long");
	memcpy(b, t5_ip4, sizeof(t5_ip4));
	b[1] = 35;
	b[sizeof(t5_ip4)] = 0;
	bad(b, sizeof(t5_ip4) + 1, "not 34 (IPv4) or 58 (IPv6)");
	memcpy(b, t2_ip4, sizeof(t2_ip4));
	b[1] = 20;      /* shorter than the fixed part */
	bad(b, 22, "shorter than 33");
}

/* A whole UPDATE: ORIGIN IGP, empty AS_PATH, LOCAL_PREF 100, extended
 * communities RT 65000:100 and encapsulation VXLAN (RFC 9012 §4.1, type 8),
 * MP_REACH_NLRI AFI 25 SAFI 70 with next hop 10.0.0.3 (4 bytes, no RD) and
 * a type 2 and a type 5 route. */
static const uint8_t upd_evpn[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x00, 0x90, 0x02,
	0x00, 0x00,
	0x00, 0x79,
	0x40, 0x01, 0x01, 0x00,
	0x40, 0x02, 0x00,
	0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64,
	0xc0, 0x10, 0x10, 0x00, 0x02, 0xfd, 0xe8, 0x00, 0x00, 0x00, 0x64,
	0x03, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
	0x90, 0x0e, 0x00, 0x54, 0x00, 0x19, 0x46, 0x04, 10, 0, 0, 3, 0x00,
	0x02, 37, RD_65000_100, ESI1, 0, 0, 0, 0,
	48, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 32, 10, 0, 0, 1, 0x00, 0x06, 0x41,
	0x05, 34, RD_65000_100, ESI0, 0, 0, 0, 0,
	24, 10, 1, 2, 0, 0, 0, 0, 0, 0x00, 0x06, 0x41,
};

static void test_update_round_trip(void **state)
{
	(void)state;
	struct bgp_update *u = malloc(sizeof(*u));
	assert_non_null(u);
	struct bgp_err e;
	bgp_err_clear(&e);
	struct bgp_peer_ctx ctx = { .ebgp = false, .peer_as = 65000,
				    .afs = BGP_AF_BIT(BGP_AF_EVPN) };
	assert_int_equal(bgp_update_parse(upd_evpn + 19, sizeof(upd_evpn) - 19, &ctx, u, &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	assert_int_equal(u->reach_af, BGP_AF_EVPN);
	assert_int_equal(u->mp_nh_len, 4);
	struct bgp_nlri n[2];
	struct bgp_nlri_iter it;
	char err[160];
	bgp_nlri_iter_init(&it, BGP_AF_EVPN, u->reach.p, u->reach.len, false);
	assert_int_equal(bgp_nlri_next(&it, &n[0], err, sizeof(err)), 1);
	assert_int_equal(bgp_nlri_next(&it, &n[1], err, sizeof(err)), 1);
	assert_int_equal(bgp_nlri_next(&it, &(struct bgp_nlri){ 0 }, err, sizeof(err)), 0);
	assert_int_equal(n[0].p.evpn_type, 2);
	assert_int_equal(n[1].p.evpn_type, 5);
	struct bgp_attrs a = u->attrs;
	a.nh_len = u->mp_nh_len;
	memcpy(a.nh, u->mp_nh, 4);
	uint8_t b[BGP_MAX_MSG];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_update_encode(&w, BGP_AF_EVPN, &a, n, 2, NULL, 0), sizeof(upd_evpn));
	assert_memory_equal(b, upd_evpn, sizeof(upd_evpn));
	/* Not negotiated: the family is refused (treat-as-withdraw or reset,
	 * as for any MP family; here only that it is not accepted as EVPN). */
	ctx.afs = BGP_AF_BIT(BGP_AF_VPNV4);
	bgp_err_clear(&e);
	int rc = bgp_update_parse(upd_evpn + 19, sizeof(upd_evpn) - 19, &ctx, u, &e);
	assert_true(rc < 0 || u->reach_af != BGP_AF_EVPN || e.action != BGP_ERR_NONE);
	free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type2),
		cmocka_unit_test(test_type3_type5),
		cmocka_unit_test(test_key_excludes_esi),
		cmocka_unit_test(test_skip_unknown_type),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_update_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
