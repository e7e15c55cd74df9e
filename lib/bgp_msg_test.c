/*
 * DOC: bgp_msg_test.c — the BGP codec against byte vectors written from the
 * RFCs (4271, 4760, 6793, 2918, 4360, 4364, 9012, 8277, 6514, 7911), and a library of
 * malformed messages, each with the RFC 7606 outcome and NOTIFICATION it
 * must produce.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bgp_msg.h"

#define M16 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, \
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff

static const struct bgp_peer_ctx ibgp = {
	.ebgp = false, .peer_as = 65001,
	.afs = BGP_AF_BIT(BGP_AF_IPV4) | BGP_AF_BIT(BGP_AF_IPV6) | BGP_AF_BIT(BGP_AF_VPNV4) |
	       BGP_AF_BIT(BGP_AF_VPNV6),
};

/* ---- header, KEEPALIVE, NOTIFICATION, ROUTE-REFRESH ---- */

static void test_keepalive(void **state)
{
	(void)state;
	static const uint8_t want[] = { M16, 0x00, 0x13, 0x04 };
	uint8_t b[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_keepalive_encode(&w), 19);
	assert_memory_equal(b, want, sizeof(want));
	struct bgp_hdr h;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_hdr_parse(want, sizeof(want), &h, &e), 0);
	assert_int_equal(h.type, BGP_KEEPALIVE);
	assert_int_equal(h.len, 19);
	assert_int_equal(bgp_hdr_parse(want, 18, &h, &e), -EAGAIN);
}

static void hdr_bad(const uint8_t *m, size_t len, uint8_t sub)
{
	struct bgp_hdr h;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_hdr_parse(m, len, &h, &e), -EBADMSG);
	assert_int_equal(e.action, BGP_ERR_RESET);
	assert_int_equal(e.code, BGP_NOTIF_HEADER);
	assert_int_equal(e.subcode, sub);
	assert_true(e.msg[0] != 0);
}

static void test_header_errors(void **state)
{
	(void)state;
	uint8_t m[] = { M16, 0x00, 0x13, 0x04 };
	m[3] = 0xfe;
	hdr_bad(m, sizeof(m), BGP_HDR_SYNC);
	m[3] = 0xff;
	m[17] = 0x12; /* 18 < 19 */
	hdr_bad(m, sizeof(m), BGP_HDR_BAD_LEN);
	m[17] = 0x14; /* KEEPALIVE of 20 bytes */
	hdr_bad(m, sizeof(m), BGP_HDR_BAD_LEN);
	m[16] = 0x10; /* 4116 > 4096 */
	m[17] = 0x14;
	m[18] = BGP_UPDATE;
	hdr_bad(m, sizeof(m), BGP_HDR_BAD_LEN);
	m[16] = 0;
	m[17] = 0x13;
	m[18] = 9;
	hdr_bad(m, sizeof(m), BGP_HDR_BAD_TYPE);
	m[18] = BGP_OPEN; /* OPEN shorter than 29 */
	hdr_bad(m, sizeof(m), BGP_HDR_BAD_LEN);
}

static void test_notification(void **state)
{
	(void)state;
	static const uint8_t want[] = { M16, 0x00, 0x17, 0x03, 0x03, 0x09, 0xaa, 0xbb };
	uint8_t b[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_notif_encode(&w, 3, 9, (uint8_t[]){ 0xaa, 0xbb }, 2), 23);
	assert_memory_equal(b, want, sizeof(want));
	struct bgp_notif n;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_notif_parse(want + 19, 4, &n, &e), 0);
	assert_int_equal(n.code, 3);
	assert_int_equal(n.subcode, 9);
	assert_int_equal(n.data_len, 2);
	char s[120];
	assert_string_equal(bgp_notif_name(3, 9, s, sizeof(s)),
			    "UPDATE Message Error / Optional Attribute Error (3/9)");
}

static void test_route_refresh(void **state)
{
	(void)state;
	static const uint8_t want[] = { M16, 0x00, 0x17, 0x05, 0x00, 0x01, 0x00, 0x80 };
	uint8_t b[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_rr_encode(&w, 1, 128), 23);
	assert_memory_equal(b, want, sizeof(want));
	struct bgp_route_refresh rr;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_rr_parse(want + 19, 4, &rr, &e), 0);
	assert_int_equal(rr.afi, 1);
	assert_int_equal(rr.safi, 128);
	assert_int_equal(bgp_rr_parse(want + 19, 3, &rr, &e), -EBADMSG);
}

/* ---- OPEN ---- */

/* AS 65001, hold 90, id 1.1.1.1; capabilities: MP ipv4/unicast, MP
 * ipv4/vpn, route refresh, 4-octet AS 65001 (RFC 5492 encoding). */
static const uint8_t open_vec[] = {
	M16, 0x00, 0x33, 0x01,
	0x04, 0xfd, 0xe9, 0x00, 0x5a, 0x01, 0x01, 0x01, 0x01,
	0x16, 0x02, 0x14,
	0x01, 0x04, 0x00, 0x01, 0x00, 0x01,
	0x01, 0x04, 0x00, 0x01, 0x00, 0x80,
	0x02, 0x00,
	0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9,
};

static void test_open_round_trip(void **state)
{
	(void)state;
	struct bgp_open o = {
		.version = 4, .my_as = 65001, .hold = 90, .router_id = 0x01010101,
		.caps = { .afs = BGP_AF_BIT(BGP_AF_IPV4) | BGP_AF_BIT(BGP_AF_VPNV4), .mp = true,
			  .route_refresh = true, .as4 = true, .as4_value = 65001 },
	};
	uint8_t b[128];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_open_encode(&w, &o), sizeof(open_vec));
	assert_memory_equal(b, open_vec, sizeof(open_vec));
	struct bgp_open p;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_open_parse(open_vec + 19, sizeof(open_vec) - 19, &p, &e), 0);
	assert_int_equal(p.hold, 90);
	assert_int_equal(p.router_id, 0x01010101);
	assert_int_equal(p.caps.afs, o.caps.afs);
	assert_true(p.caps.as4);
	assert_int_equal(bgp_open_as(&p), 65001);
	assert_true(p.caps.route_refresh);
}

/* Graceful restart (RFC 4724 §3): R bit, 120 s, vpnv4 with forwarding state;
 * a 4-octet AS above 65535 goes out as AS_TRANS in the 2-octet field. */
static void test_open_gr_as4(void **state)
{
	(void)state;
	struct bgp_open o = {
		.version = 4, .my_as = BGP_AS_TRANS, .hold = 0, .router_id = 0x0a000001,
		.caps = { .as4 = true, .as4_value = 4200000000u, .gr = true, .gr_restarting = true,
			  .gr_time = 120, .gr_afs = BGP_AF_BIT(BGP_AF_VPNV4),
			  .gr_fwd = BGP_AF_BIT(BGP_AF_VPNV4) },
	};
	static const uint8_t want_caps[] = {
		0x41, 0x04, 0xfa, 0x56, 0xea, 0x00,
		0x40, 0x06, 0x80, 0x78, 0x00, 0x01, 0x80, 0x80,
	};
	uint8_t b[128];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	int len = bgp_open_encode(&w, &o);
	assert_int_equal(len, 19 + 10 + 2 + sizeof(want_caps));
	assert_int_equal(b[20], 0x5b); /* 23456 */
	assert_int_equal(b[21], 0xa0);
	assert_memory_equal(b + 31, want_caps, sizeof(want_caps));
	struct bgp_open p;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_open_parse(b + 19, (size_t)len - 19, &p, &e), 0);
	assert_int_equal(bgp_open_as(&p), 4200000000u);
	assert_true(p.caps.gr && p.caps.gr_restarting);
	assert_int_equal(p.caps.gr_time, 120);
	assert_int_equal(p.caps.gr_fwd, BGP_AF_BIT(BGP_AF_VPNV4));
	assert_false(p.caps.mp);
}

static void open_bad(const uint8_t *body, size_t len, uint8_t sub)
{
	struct bgp_open p;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_open_parse(body, len, &p, &e), -EBADMSG);
	assert_int_equal(e.code, BGP_NOTIF_OPEN);
	assert_int_equal(e.subcode, sub);
	assert_true(e.msg[0] != 0);
}

static void test_open_errors(void **state)
{
	(void)state;
	uint8_t b[sizeof(open_vec) - 19];
	memcpy(b, open_vec + 19, sizeof(b));
	b[0] = 3;
	open_bad(b, sizeof(b), BGP_OPEN_VERSION);
	b[0] = 4;
	b[4] = 2; /* hold 2 */
	b[3] = 0;
	open_bad(b, sizeof(b), BGP_OPEN_HOLD);
	b[4] = 90;
	memset(b + 5, 0, 4);
	open_bad(b, sizeof(b), BGP_OPEN_BAD_ID);
	memcpy(b, open_vec + 19, sizeof(b));
	b[10] = 1; /* parameter type 1 (authentication, deprecated) */
	open_bad(b, sizeof(b), BGP_OPEN_BAD_PARAM);
	memcpy(b, open_vec + 19, sizeof(b));
	b[9] = 30; /* optional parameters length larger than what follows */
	open_bad(b, sizeof(b), 0);
	memcpy(b, open_vec + 19, sizeof(b));
	b[13] = 3; /* MP capability of length 3 */
	open_bad(b, sizeof(b), 0);
}

/* ---- UPDATE ---- */

/* IPv4 unicast: ORIGIN IGP, AS_PATH (65001), NEXT_HOP 10.0.0.1, MED 5,
 * LOCAL_PREF 200; NLRI 10.1.0.0/16 (RFC 4271 §4.3). */
static const uint8_t upd4[] = {
	M16, 0x00, 0x3c, 0x02,
	0x00, 0x00,
	0x00, 0x22,
	0x40, 0x01, 0x01, 0x00,
	0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9,
	0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01,
	0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x05,
	0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0xc8,
	0x10, 0x0a, 0x01,
};

static struct bgp_update *U;

static int setup(void **state)
{
	(void)state;
	U = malloc(sizeof(*U));
	return U ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(U);
	return 0;
}

static void test_update_ipv4(void **state)
{
	(void)state;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(upd4 + 19, sizeof(upd4) - 19, &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	const struct bgp_attrs *a = &U->attrs;
	assert_int_equal(a->origin, BGP_ORIGIN_IGP);
	assert_int_equal(a->med, 5);
	assert_int_equal(a->local_pref, 200);
	assert_int_equal(bgp_aspath_length(a->as_path), 1);
	assert_int_equal(bgp_aspath_first(a->as_path), 65001);
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	char err[128];
	bgp_nlri_iter_init(&it, BGP_AF_IPV4, U->nlri.p, U->nlri.len, false);
	assert_int_equal(bgp_nlri_next(&it, &n, err, sizeof(err)), 1);
	assert_int_equal(n.p.plen, 16);
	assert_int_equal(n.p.addr[0], 10);
	assert_int_equal(n.p.addr[1], 1);
	assert_int_equal(bgp_nlri_next(&it, &n, err, sizeof(err)), 0);
	/* Encode back: the same bytes. */
	uint8_t b[BGP_MAX_MSG];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_update_encode(&w, BGP_AF_IPV4, a, &n, 1, NULL, 0), sizeof(upd4));
	assert_memory_equal(b, upd4, sizeof(upd4));
	assert_int_equal(bgp_attrs_size(a, BGP_AF_IPV4) + 19 + 4 + bgp_nlri_size(&n), sizeof(upd4));
}

/* VPNv4 (RFC 4364 §4.3.4, RFC 4760, RFC 8277): ORIGIN, empty AS_PATH,
 * LOCAL_PREF 100, EXTENDED_COMMUNITIES route target 65001:100 (RFC 4360 §4)
 * and encapsulation MPLS-in-UDP (RFC 9012 §4.1, type 13), MP_REACH_NLRI with
 * next hop RD 0 + 127.0.0.2 and 65001:100:10.2.0.0/24 label 200. */
static const uint8_t upd_vpn[] = {
	M16, 0x00, 0x5c, 0x02,
	0x00, 0x00,
	0x00, 0x45,
	0x40, 0x01, 0x01, 0x00,
	0x40, 0x02, 0x00,
	0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64,
	0xc0, 0x10, 0x10, 0x00, 0x02, 0xfd, 0xe9, 0x00, 0x00, 0x00, 0x64,
	0x03, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d,
	0x90, 0x0e, 0x00, 0x20, 0x00, 0x01, 0x80, 0x0c,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x00, 0x02,
	0x00,
	0x70, 0x00, 0x0c, 0x81, 0x00, 0x00, 0xfd, 0xe9, 0x00, 0x00, 0x00, 0x64, 0x0a, 0x02, 0x00,
};

static void test_update_vpnv4(void **state)
{
	(void)state;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(upd_vpn + 19, sizeof(upd_vpn) - 19, &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	assert_int_equal(U->reach_af, BGP_AF_VPNV4);
	assert_int_equal(U->mp_nh_len, 4);
	assert_int_equal(U->mp_nh[0], 127);
	assert_int_equal(U->attrs.ext_communities.len, 16);
	char s[48];
	bgp_ext_format(U->attrs.ext_communities.p, s, sizeof(s));
	assert_string_equal(s, "rt:65001:100");
	bgp_ext_format(U->attrs.ext_communities.p + 8, s, sizeof(s));
	assert_string_equal(s, "encap:mpls-in-udp");
	uint8_t ext[16];
	bgp_ext_rt_as2(ext, 65001, 100);
	bgp_ext_encap(ext + 8, BGP_TUNNEL_MPLS_UDP);
	assert_memory_equal(ext, U->attrs.ext_communities.p, 16);
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	char err[128];
	bgp_nlri_iter_init(&it, BGP_AF_VPNV4, U->reach.p, U->reach.len, false);
	assert_int_equal(bgp_nlri_next(&it, &n, err, sizeof(err)), 1);
	assert_int_equal(n.label, 200);
	assert_int_equal(n.p.plen, 24);
	bgp_rd_format(n.p.rd, s, sizeof(s));
	assert_string_equal(s, "65001:100");
	/* Re-encode as the session does: next hop from MP_REACH. */
	struct bgp_attrs a = U->attrs;
	a.nh_len = U->mp_nh_len;
	memcpy(a.nh, U->mp_nh, 4);
	uint8_t b[BGP_MAX_MSG];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_update_encode(&w, BGP_AF_VPNV4, &a, &n, 1, NULL, 0), sizeof(upd_vpn));
	assert_memory_equal(b, upd_vpn, sizeof(upd_vpn));
}

/* Withdrawal of the same route (MP_UNREACH, label 0x800000, RFC 8277 §2.4)
 * and the End-of-RIB markers (RFC 4724 §2). */
static void test_withdraw_and_eor(void **state)
{
	(void)state;
	static const uint8_t want[] = {
		M16, 0x00, 0x2d, 0x02, 0x00, 0x00, 0x00, 0x16,
		0x90, 0x0f, 0x00, 0x12, 0x00, 0x01, 0x80,
		0x70, 0x80, 0x00, 0x00, 0x00, 0x00, 0xfd, 0xe9, 0x00, 0x00, 0x00, 0x64,
		0x0a, 0x02, 0x00,
	};
	struct bgp_nlri n = { .p = { .af = BGP_AF_VPNV4, .plen = 24,
				      .rd = { 0, 0, 0xfd, 0xe9, 0, 0, 0, 0x64 },
				      .addr = { 10, 2, 0 } }, .label = 200 };
	uint8_t b[256];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_update_encode(&w, BGP_AF_VPNV4, NULL, NULL, 0, &n, 1), sizeof(want));
	assert_memory_equal(b, want, sizeof(want));
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(want + 19, sizeof(want) - 19, &ibgp, U, &e), 0);
	assert_int_equal(U->unreach_af, BGP_AF_VPNV4);
	assert_int_equal(bgp_update_eor(U, sizeof(want) - 19), -1);

	static const uint8_t eor4[] = { M16, 0x00, 0x17, 0x02, 0, 0, 0, 0 };
	static const uint8_t eor_vpn[] = { M16, 0x00, 0x1e, 0x02, 0, 0, 0, 0x07,
					   0x90, 0x0f, 0x00, 0x03, 0x00, 0x01, 0x80 };
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_eor_encode(&w, BGP_AF_IPV4), sizeof(eor4));
	assert_memory_equal(b, eor4, sizeof(eor4));
	tern_wbuf_init(&w, b, sizeof(b));
	assert_int_equal(bgp_eor_encode(&w, BGP_AF_VPNV4), sizeof(eor_vpn));
	assert_memory_equal(b, eor_vpn, sizeof(eor_vpn));
	assert_int_equal(bgp_update_parse(eor_vpn + 19, sizeof(eor_vpn) - 19, &ibgp, U, &e), 0);
	assert_int_equal(bgp_update_eor(U, sizeof(eor_vpn) - 19), BGP_AF_VPNV4);
	assert_int_equal(bgp_update_parse(eor4 + 19, 4, &ibgp, U, &e), 0);
	assert_int_equal(bgp_update_eor(U, 4), BGP_AF_IPV4);
}

/* VPNv6 with an IPv6 next hop, COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST:
 * round trip through parse and encode. */
static void test_vpnv6_rr_attrs_round_trip(void **state)
{
	(void)state;
	uint8_t comm[8] = { 0xfd, 0xe9, 0x00, 0x01, 0xff, 0xff, 0xff, 0x01 };
	uint8_t cl[8] = { 10, 0, 0, 9, 10, 0, 0, 8 };
	uint8_t asp[14] = { 2, 1, 0, 0, 0xfd, 0xe9, 1, 1, 0, 0, 0xfd, 0xea };
	struct bgp_attrs a = {
		.has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
		       BGP_HAS(BGP_ATTR_COMMUNITIES) | BGP_HAS(BGP_ATTR_ORIGINATOR_ID) |
		       BGP_HAS(BGP_ATTR_CLUSTER_LIST) | BGP_HAS(BGP_ATTR_LOCAL_PREF),
		.origin = BGP_ORIGIN_INCOMPLETE, .local_pref = 100, .originator_id = 0x0a000005,
		.nh_len = 16, .nh = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 },
		.as_path = { asp, 12 }, .communities = { comm, 8 }, .cluster_list = { cl, 8 },
	};
	struct bgp_nlri n[2] = {
		{ .p = { .af = BGP_AF_VPNV6, .plen = 64, .rd = { 0, 1, 10, 0, 0, 1, 0, 7 },
			 .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2 } }, .label = 1048575 },
		{ .p = { .af = BGP_AF_VPNV6, .plen = 128, .rd = { 0, 2, 0, 1, 0, 0, 0, 7 },
			 .addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } }, .label = 16 },
	};
	uint8_t b[BGP_MAX_MSG];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	int len = bgp_update_encode(&w, BGP_AF_VPNV6, &a, n, 2, NULL, 0);
	assert_true(len > 0);
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(b + 19, (size_t)len - 19, &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	assert_int_equal(U->reach_af, BGP_AF_VPNV6);
	assert_int_equal(U->mp_nh_len, 16);
	assert_memory_equal(U->mp_nh, a.nh, 16);
	assert_int_equal(U->attrs.originator_id, 0x0a000005);
	assert_memory_equal(U->attrs.cluster_list.p, cl, 8);
	assert_memory_equal(U->attrs.communities.p, comm, 8);
	assert_int_equal(bgp_aspath_length(U->attrs.as_path), 2); /* sequence 1 + set 1 */
	struct bgp_nlri_iter it;
	struct bgp_nlri got;
	char err[128];
	bgp_nlri_iter_init(&it, BGP_AF_VPNV6, U->reach.p, U->reach.len, false);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 1);
		assert_memory_equal(&got, &n[i], sizeof(got));
	}
	char rd[48];
	bgp_rd_format(n[0].p.rd, rd, sizeof(rd));
	assert_string_equal(rd, "10.0.0.1:7");
	bgp_rd_format(n[1].p.rd, rd, sizeof(rd));
	assert_string_equal(rd, "65536:7");
}

/* An unknown optional transitive attribute passes through, Partial set. */
static void test_unknown_transitive(void **state)
{
	(void)state;
	uint8_t body[] = {
		0x00, 0x00, 0x00, 0x13,
		0x40, 0x01, 0x01, 0x02,
		0x40, 0x02, 0x00,
		0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01,
		0xc0, 0x63, 0x02, 0xbe, 0xef,
		0x18, 0x0a, 0x09, 0x08,
	};
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(body, sizeof(body), &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	static const uint8_t kept[] = { 0xe0, 0x63, 0x02, 0xbe, 0xef };
	assert_int_equal(U->attrs.unknown.len, sizeof(kept));
	assert_memory_equal(U->attrs.unknown.p, kept, sizeof(kept));
	uint8_t b[256];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	struct bgp_nlri n = { .p = { .af = BGP_AF_IPV4, .plen = 24, .addr = { 10, 9, 8 } },
			      .label = BGP_LABEL_NONE };
	int len = bgp_update_encode(&w, BGP_AF_IPV4, &U->attrs, &n, 1, NULL, 0);
	assert_int_equal(len, 19 + sizeof(body));
	assert_memory_equal(b + len - 4 - sizeof(kept), kept, sizeof(kept));
	/* An unknown optional non-transitive one is dropped quietly. */
	body[18] = 0x80;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(body, sizeof(body), &ibgp, U, &e), 0);
	assert_int_equal(U->attrs.unknown.len, 0);
}

/* PMSI_TUNNEL (RFC 6514 §5), as an EVPN type 3 route carries it (RFC 7432
 * §11.2, RFC 8365 §5.1.3): ingress replication, VNI 3000 in the label
 * field, the endpoint 10.255.0.1. Parsed, re-encoded byte for byte; a short
 * identifier withdraws; an identifier too long to keep passes through. */
static void test_pmsi_tunnel(void **state)
{
	(void)state;
	uint8_t body[] = {
		0x00, 0x00, 0x00, 0x1a,
		0x40, 0x01, 0x01, 0x00,
		0x40, 0x02, 0x00,
		0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01,
		0xc0, 0x16, 0x09, 0x00, 0x06, 0x00, 0x0b, 0xb8, 10, 255, 0, 1,
		0x18, 0x0a, 0x09, 0x08,
	};
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(body, sizeof(body), &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	assert_true(U->attrs.has & BGP_HAS(BGP_ATTR_PMSI_TUNNEL));
	assert_int_equal(U->attrs.pmsi.type, BGP_PMSI_INGRESS_REPL);
	assert_int_equal(U->attrs.pmsi.flags, 0);
	assert_int_equal(U->attrs.pmsi.label, 3000);
	assert_int_equal(U->attrs.pmsi.id_len, 4);
	assert_memory_equal(U->attrs.pmsi.id, ((uint8_t[]){ 10, 255, 0, 1 }), 4);
	assert_int_equal(U->attrs.unknown.len, 0);
	assert_string_equal(bgp_attr_name(BGP_ATTR_PMSI_TUNNEL), "PMSI_TUNNEL");
	uint8_t b[256];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	struct bgp_nlri n = { .p = { .af = BGP_AF_IPV4, .plen = 24, .addr = { 10, 9, 8 } },
			      .label = BGP_LABEL_NONE };
	int len = bgp_update_encode(&w, BGP_AF_IPV4, &U->attrs, &n, 1, NULL, 0);
	assert_int_equal(len, 19 + sizeof(body));
	assert_memory_equal(b + 19, body, sizeof(body));
	assert_int_equal(bgp_attrs_size(&U->attrs, BGP_AF_IPV4), 26);

	/* Built from scratch, an IPv6 endpoint and an MPLS label (label << 4). */
	struct bgp_attrs a;
	memset(&a, 0, sizeof(a));
	a.has = BGP_HAS(BGP_ATTR_PMSI_TUNNEL);
	a.pmsi = (struct bgp_pmsi){ .type = BGP_PMSI_INGRESS_REPL, .label = 17u << 4,
				    .id_len = 16, .id = { 0xfd, 0, [15] = 1 } };
	tern_wbuf_init(&w, b, sizeof(b));
	bgp_attrs_put(&w, &a, false);
	static const uint8_t want6[] = { 0xc0, 0x16, 21, 0x00, 0x06, 0x00, 0x01, 0x10,
					 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	assert_int_equal(w.len, sizeof(want6));
	assert_memory_equal(b, want6, sizeof(want6));

	/* Ingress replication with a 3-byte identifier: treat-as-withdraw. */
	uint8_t bad[] = {
		0x00, 0x00, 0x00, 0x19,
		0x40, 0x01, 0x01, 0x00,
		0x40, 0x02, 0x00,
		0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01,
		0xc0, 0x16, 0x08, 0x00, 0x06, 0x00, 0x0b, 0xb8, 10, 255, 0,
		0x18, 0x0a, 0x09, 0x08,
	};
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(bad, sizeof(bad), &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_WITHDRAW);
	assert_false(U->attrs.has & BGP_HAS(BGP_ATTR_PMSI_TUNNEL));
	/* Shorter than its fixed part: the same. */
	bad[3] = 0x15;
	bad[20] = 0x04;
	uint8_t shortp[4 + 14 + 7 + 4];
	memcpy(shortp, bad, 4 + 14 + 3 + 4);
	memcpy(shortp + 4 + 14 + 3 + 4, bad + sizeof(bad) - 4, 4);
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(shortp, sizeof(shortp), &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_WITHDRAW);
	/* Flags other than optional transitive: treat-as-withdraw too. */
	body[18] = 0x80;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(body, sizeof(body), &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_WITHDRAW);

	/* Another tunnel type with a 45-byte identifier: kept whole, Partial set. */
	uint8_t big[4 + 14 + 3 + 50 + 4];
	memcpy(big, body, 18);
	big[3] = 14 + 3 + 50;
	uint8_t *p = big + 18;
	p[0] = 0xc0; p[1] = 0x16; p[2] = 50; p[3] = 0; p[4] = 2; /* mLDP P2MP */
	p[5] = p[6] = p[7] = 0;
	for (int i = 0; i < 45; i++)
		p[8 + i] = (uint8_t)i;
	memcpy(p + 53, body + sizeof(body) - 4, 4);
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(big, sizeof(big), &ibgp, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	assert_false(U->attrs.has & BGP_HAS(BGP_ATTR_PMSI_TUNNEL));
	assert_int_equal(U->attrs.unknown.len, 53);
	assert_int_equal(U->attrs.unknown.p[0], 0xe0);
}

/* ---- the malformed library ---- */

struct bad {
	const char *what;
	const struct bgp_peer_ctx *ctx;
	int action;
	uint8_t subcode;                /* UPDATE error subcode (when reset) */
	size_t len;
	uint8_t body[96];
};

static const struct bgp_peer_ctx ebgp = { .ebgp = true, .peer_as = 65001,
					   .afs = BGP_AF_BIT(BGP_AF_IPV4) };

#define ATTRS_OK 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00, 0x40, 0x03, 0x04, 10, 0, 0, 1
#define VPN_NLRI_HDR 0x90, 0x0e

static const struct bad bads[] = {
	{ "withdrawn length overruns", &ibgp, BGP_ERR_RESET, BGP_UPD_ATTR_LIST, 4,
	  { 0x00, 0x09, 0x00, 0x00 } },
	{ "total attribute length overruns", &ibgp, BGP_ERR_RESET, BGP_UPD_ATTR_LIST, 6,
	  { 0x00, 0x00, 0x00, 0x09, 0x40, 0x01 } },
	{ "ORIGIN length 2", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_ORIGIN, 20,
	  { 0, 0, 0, 0x0f, 0x40, 0x01, 0x02, 0x00, 0x00, 0x40, 0x02, 0x00, 0x40, 0x03, 0x04,
	    10, 0, 0, 1, 0x00 } },
	{ "ORIGIN value 3", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_ORIGIN, 20,
	  { 0, 0, 0, 0x0e, 0x40, 0x01, 0x01, 0x03, 0x40, 0x02, 0x00, 0x40, 0x03, 0x04,
	    10, 0, 0, 1, 0x08, 10 } },
	{ "ORIGIN flagged optional", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_FLAGS, 20,
	  { 0, 0, 0, 0x0e, 0xc0, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00, 0x40, 0x03, 0x04,
	    10, 0, 0, 1, 0x08, 10 } },
	{ "AS_PATH segment type 5", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_AS_PATH, 26,
	  { 0, 0, 0, 0x14, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x06, 0x05, 0x01, 0, 0, 0xfd, 0xe9,
	    0x40, 0x03, 0x04, 10, 0, 0, 1, 0x08, 10 } },
	{ "AS_PATH segment overruns", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_AS_PATH, 26,
	  { 0, 0, 0, 0x14, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x06, 0x02, 0x02, 0, 0, 0xfd, 0xe9,
	    0x40, 0x03, 0x04, 10, 0, 0, 1, 0x08, 10 } },
	{ "AS_PATH of an eBGP peer not starting with its AS", &ebgp, BGP_ERR_WITHDRAW,
	  BGP_UPD_AS_PATH, 26,
	  { 0, 0, 0, 0x14, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x06, 0x02, 0x01, 0, 0, 0xfd, 0xea,
	    0x40, 0x03, 0x04, 10, 0, 0, 1, 0x08, 10 } },
	{ "NEXT_HOP length 5", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_NEXT_HOP, 21,
	  { 0, 0, 0, 0x0f, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00, 0x40, 0x03, 0x05,
	    10, 0, 0, 1, 1, 0x08, 10 } },
	{ "NEXT_HOP missing", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_MISSING, 13,
	  { 0, 0, 0, 0x07, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00, 0x08, 10 } },
	{ "attribute runs past the attributes", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_LENGTH, 19,
	  { 0, 0, 0, 0x0d, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00, 0x40, 0x03, 0x04, 10, 0, 0,
	    0x08, 10 } },
	{ "COMMUNITIES length 3", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_OPTIONAL, 26,
	  { 0, 0, 0, 0x14, ATTRS_OK, 0xc0, 0x08, 0x03, 1, 2, 3, 0x08, 10 } },
	{ "EXTENDED_COMMUNITIES length 9", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_OPTIONAL, 32,
	  { 0, 0, 0, 0x1a, ATTRS_OK, 0xc0, 0x10, 0x09, 0, 2, 0, 1, 0, 0, 0, 1, 9, 0x08, 10 } },
	{ "MED length 2", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_LENGTH, 25,
	  { 0, 0, 0, 0x13, ATTRS_OK, 0x80, 0x04, 0x02, 0, 1, 0x08, 10 } },
	{ "ORIGINATOR_ID length 3", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_LENGTH, 26,
	  { 0, 0, 0, 0x14, ATTRS_OK, 0x80, 0x09, 0x03, 1, 1, 1, 0x08, 10 } },
	{ "CLUSTER_LIST empty", &ibgp, BGP_ERR_WITHDRAW, BGP_UPD_LENGTH, 23,
	  { 0, 0, 0, 0x11, ATTRS_OK, 0x80, 0x0a, 0x00, 0x08, 10 } },
	{ "ATOMIC_AGGREGATE length 1", &ibgp, BGP_ERR_DISCARD, 0, 24,
	  { 0, 0, 0, 0x12, ATTRS_OK, 0x40, 0x06, 0x01, 0, 0x08, 10 } },
	{ "AGGREGATOR length 6 (2-octet AS)", &ibgp, BGP_ERR_DISCARD, 0, 29,
	  { 0, 0, 0, 0x17, ATTRS_OK, 0xc0, 0x07, 0x06, 0xfd, 0xe9, 1, 1, 1, 1, 0x08, 10 } },
	{ "LOCAL_PREF from an eBGP peer", &ebgp, BGP_ERR_DISCARD, 0, 33,
	  { 0, 0, 0, 0x1b, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x06, 0x02, 0x01, 0, 0, 0xfd, 0xe9,
	    0x40, 0x03, 0x04, 10, 0, 0, 1, 0x40, 0x05, 0x04, 0, 0, 0, 100, 0x08, 10 } },
	{ "MED twice", &ibgp, BGP_ERR_DISCARD, 0, 34,
	  { 0, 0, 0, 0x1c, ATTRS_OK, 0x80, 0x04, 0x04, 0, 0, 0, 1, 0x80, 0x04, 0x04, 0, 0, 0, 2,
	    0x08, 10 } },
	{ "unrecognized well-known attribute", &ibgp, BGP_ERR_RESET, BGP_UPD_WELLKNOWN, 23,
	  { 0, 0, 0, 0x11, ATTRS_OK, 0x40, 0x63, 0x00, 0x08, 10 } },
	{ "NLRI prefix length 33", &ibgp, BGP_ERR_RESET, BGP_UPD_NETWORK, 23,
	  { 0, 0, 0, 0x0e, ATTRS_OK, 0x21, 10, 0, 0, 0 } },
	{ "NLRI truncated", &ibgp, BGP_ERR_RESET, BGP_UPD_NETWORK, 20,
	  { 0, 0, 0, 0x0e, ATTRS_OK, 0x18, 10 } },
	{ "withdrawn route truncated", &ibgp, BGP_ERR_RESET, BGP_UPD_NETWORK, 6,
	  { 0, 2, 0x10, 10, 0, 0 } },
	{ "MP_REACH twice", &ibgp, BGP_ERR_RESET, BGP_UPD_ATTR_LIST, 37,
	  { 0, 0, 0, 0x21, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00,
	    0x90, 0x0e, 0x00, 0x09, 0, 1, 1, 4, 10, 0, 0, 1, 0,
	    0x90, 0x0e, 0x00, 0x09, 0, 1, 1, 4, 10, 0, 0, 1, 0 } },
	{ "MP_REACH flagged transitive", &ibgp, BGP_ERR_RESET, BGP_UPD_FLAGS, 24,
	  { 0, 0, 0, 0x14, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00,
	    0xd0, 0x0e, 0x00, 0x09, 0, 1, 1, 4, 10, 0, 0, 1, 0 } },
	{ "MP_REACH VPNv4 next hop of 4 bytes", &ibgp, BGP_ERR_RESET, BGP_UPD_OPTIONAL, 25,
	  { 0, 0, 0, 0x15, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00,
	    0x90, 0x0e, 0x00, 0x08, 0, 1, 128, 4, 10, 0, 0, 1, 0 } },
	{ "MP_REACH next hop runs past the attribute", &ibgp, BGP_ERR_RESET, BGP_UPD_OPTIONAL, 22,
	  { 0, 0, 0, 0x12, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00,
	    0x90, 0x0e, 0x00, 0x05, 0, 1, 1, 4, 10, 0 } },
	{ "VPNv4 label stack without bottom of stack", &ibgp, BGP_ERR_RESET, BGP_UPD_OPTIONAL, 48,
	  { 0, 0, 0, 0x2c, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00,
	    0x90, 0x0e, 0x00, 0x1f, 0, 1, 128, 12, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1, 0,
	    0x70, 0x00, 0x0c, 0x80, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0x64, 10, 2, 0 } },
	{ "VPNv4 NLRI too short for label and RD", &ibgp, BGP_ERR_RESET, BGP_UPD_OPTIONAL, 44,
	  { 0, 0, 0, 0x28, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00,
	    0x90, 0x0e, 0x00, 0x1b, 0, 1, 128, 12, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1, 0,
	    0x50, 0x00, 0x0c, 0x81, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0x64 } },
	{ "VPNv4 NLRI truncated in the RD", &ibgp, BGP_ERR_RESET, BGP_UPD_OPTIONAL, 40,
	  { 0, 0, 0, 0x24, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00,
	    0x90, 0x0e, 0x00, 0x17, 0, 1, 128, 12, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1, 0,
	    0x70, 0x00, 0x0c, 0x81, 0, 0, 0xfd, 0xe9 } },
	{ "MP_UNREACH VPNv6 prefix length 129", &ibgp, BGP_ERR_RESET, BGP_UPD_OPTIONAL, 29,
	  { 0, 0, 0, 0x19, 0x90, 0x0f, 0x00, 0x15, 0, 2, 128,
	    0xd9, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0 } },
};

static void test_malformed_library(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct bgp_err e;
		bgp_err_clear(&e);
		int rc = bgp_update_parse(b->body, b->len, b->ctx, U, &e);
		print_message("%s: rc %d action %d %u/%u: %s\n", b->what, rc, e.action, e.code,
			      e.subcode, e.msg);
		assert_int_equal(e.action, b->action);
		assert_int_equal(rc, b->action == BGP_ERR_RESET ? -EBADMSG : 0);
		assert_true(e.msg[0] != 0);
		if (b->action != BGP_ERR_DISCARD) {
			assert_int_equal(e.code, BGP_NOTIF_UPDATE);
			assert_int_equal(e.subcode, b->subcode);
		}
	}
}

/* An MP_REACH of a family that was not negotiated is ignored (logged). */
static void test_mp_not_negotiated(void **state)
{
	(void)state;
	struct bgp_err e;
	bgp_err_clear(&e);
	const uint8_t *body = upd_vpn + 19;
	const struct bgp_peer_ctx v4only = { .afs = BGP_AF_BIT(BGP_AF_IPV4) };
	assert_int_equal(bgp_update_parse(body, sizeof(upd_vpn) - 19, &v4only, U, &e), 0);
	assert_int_equal(e.action, BGP_ERR_DISCARD);
	assert_int_equal(U->reach_af, -1);
}

/* ---- ADD-PATH (RFC 7911) ---- */

/* Capability 69: vpnv4 send+receive, vpnv6 receive; parsed back per
 * direction, and the directions of a session. */
static void test_open_addpath(void **state)
{
	(void)state;
	struct bgp_open o = {
		.version = 4, .my_as = 65001, .hold = 90, .router_id = 0x01010101,
		.caps = { .as4 = true, .as4_value = 65001,
			  .addpath_rx = BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6),
			  .addpath_tx = BGP_AF_BIT(BGP_AF_VPNV4) },
	};
	static const uint8_t want_caps[] = {
		0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9,
		0x45, 0x08, 0x00, 0x01, 0x80, 0x03, 0x00, 0x02, 0x80, 0x01,
	};
	uint8_t b[128];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	int len = bgp_open_encode(&w, &o);
	assert_int_equal(len, 19 + 10 + 2 + sizeof(want_caps));
	assert_memory_equal(b + 31, want_caps, sizeof(want_caps));
	struct bgp_open p;
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_open_parse(b + 19, (size_t)len - 19, &p, &e), 0);
	assert_int_equal(p.caps.addpath_rx, o.caps.addpath_rx);
	assert_int_equal(p.caps.addpath_tx, o.caps.addpath_tx);
	/* a peer that only receives, on vpnv4 and ipv4 */
	struct bgp_caps peer = { .addpath_rx = BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_IPV4) };
	assert_int_equal(bgp_addpath_tx(&o.caps, &peer), BGP_AF_BIT(BGP_AF_VPNV4));
	assert_int_equal(bgp_addpath_rx(&o.caps, &peer), 0);
	/* a length that is not a multiple of 4: OPEN Message Error */
	uint8_t bad[] = { 4, 0xfd, 0xe9, 0, 90, 1, 1, 1, 1, 7, 2, 5, 0x45, 3, 0, 1, 128 };
	bgp_err_clear(&e);
	assert_int_equal(bgp_open_parse(bad, sizeof(bad), &p, &e), -EBADMSG);
	assert_int_equal(e.code, BGP_NOTIF_OPEN);
}

/* Two VPNv4 paths of one RD:prefix with path ids 1 and 2 in one UPDATE
 * (RFC 7911 §3: the id in front of each NLRI), then the withdrawal of id 2;
 * a session without ADD-PATH for the family reads the same bytes as other
 * NLRI and fails on them. */
static void test_update_addpath(void **state)
{
	(void)state;
	struct bgp_attrs a = {
		.has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
		       BGP_HAS(BGP_ATTR_LOCAL_PREF),
		.origin = BGP_ORIGIN_IGP, .local_pref = 100, .nh_len = 4, .nh = { 10, 0, 0, 3 },
	};
	struct bgp_nlri n[2] = {
		{ .p = { .af = BGP_AF_VPNV4, .plen = 32, .rd = { 0, 0, 0xfd, 0xe8, 0, 0, 0, 7 },
			 .addr = { 10, 9, 0, 1 } }, .label = 100, .path_id = 1 },
		{ .p = { .af = BGP_AF_VPNV4, .plen = 32, .rd = { 0, 0, 0xfd, 0xe8, 0, 0, 0, 7 },
			 .addr = { 10, 9, 0, 1 } }, .label = 200, .path_id = 2 },
	};
	assert_int_equal(bgp_nlri_size_ap(&n[0], true), 4 + 1 + 3 + 8 + 4);
	assert_int_equal(bgp_nlri_size(&n[0]), 1 + 3 + 8 + 4);
	static const uint8_t want_nlri[] = {
		0, 0, 0, 1, 0x78, 0x00, 0x06, 0x41, 0, 0, 0xfd, 0xe8, 0, 0, 0, 7, 10, 9, 0, 1,
		0, 0, 0, 2, 0x78, 0x00, 0x0c, 0x81, 0, 0, 0xfd, 0xe8, 0, 0, 0, 7, 10, 9, 0, 1,
	};
	uint8_t b[BGP_MAX_MSG];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	int len = bgp_update_encode_ap(&w, BGP_AF_VPNV4, &a, n, 2, NULL, 0, true);
	assert_true(len > (int)sizeof(want_nlri));
	assert_memory_equal(b + len - sizeof(want_nlri), want_nlri, sizeof(want_nlri));
	struct bgp_peer_ctx ap = ibgp;
	ap.addpath = BGP_AF_BIT(BGP_AF_VPNV4);
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(b + 19, (size_t)len - 19, &ap, U, &e), 0);
	assert_int_equal(U->reach_af, BGP_AF_VPNV4);
	struct bgp_nlri_iter it;
	struct bgp_nlri got;
	char err[128];
	bgp_nlri_iter_init_ap(&it, BGP_AF_VPNV4, U->reach.p, U->reach.len, false, true);
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 1);
	assert_int_equal(got.path_id, 1);
	assert_int_equal(got.label, 100);
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 1);
	assert_int_equal(got.path_id, 2);
	assert_int_equal(got.label, 200);
	assert_memory_equal(&got.p, &n[1].p, BGP_PREFIX_KEY_LEN);
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 0);
	/* the same bytes without ADD-PATH: a malformed MP_REACH, 3/9 */
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(b + 19, (size_t)len - 19, &ibgp, U, &e), -EBADMSG);
	assert_int_equal(e.subcode, BGP_UPD_OPTIONAL);

	/* withdrawal of path 2 */
	tern_wbuf_init(&w, b, sizeof(b));
	len = bgp_update_encode_ap(&w, BGP_AF_VPNV4, NULL, NULL, 0, &n[1], 1, true);
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(b + 19, (size_t)len - 19, &ap, U, &e), 0);
	assert_int_equal(U->unreach_af, BGP_AF_VPNV4);
	bgp_nlri_iter_init_ap(&it, BGP_AF_VPNV4, U->unreach.p, U->unreach.len, true, true);
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 1);
	assert_int_equal(got.path_id, 2);

	/* a path identifier cut short */
	static const uint8_t cut[] = { 0, 0, 0 };
	bgp_nlri_iter_init_ap(&it, BGP_AF_VPNV4, cut, sizeof(cut), false, true);
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated path identifier"));
	/* IPv4 unicast in the plain NLRI field, path id 7 */
	static const uint8_t v4[] = { 0, 0, 0, 7, 24, 10, 1, 2 };
	bgp_nlri_iter_init_ap(&it, BGP_AF_IPV4, v4, sizeof(v4), false, true);
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 1);
	assert_int_equal(got.path_id, 7);
	assert_int_equal(got.p.plen, 24);
	/* EVPN: an unknown route type (1) skipped with its id, then a type 3 */
	static const uint8_t ev[] = {
		0, 0, 0, 1, 1, 2, 0xaa, 0xbb,
		0, 0, 0, 9, 3, 17, 0, 0, 0xfd, 0xe8, 0, 0, 0, 1, 0, 0, 0, 0, 32, 10, 0, 0, 3,
	};
	bgp_nlri_iter_init_ap(&it, BGP_AF_EVPN, ev, sizeof(ev), false, true);
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 1);
	assert_int_equal(got.path_id, 9);
	assert_int_equal(got.p.evpn_type, 3);
	assert_int_equal(bgp_nlri_size_ap(&got, true), sizeof(ev) - 8); /* id + type 3 */
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_notification),
		cmocka_unit_test(test_route_refresh),
		cmocka_unit_test(test_open_round_trip),
		cmocka_unit_test(test_open_gr_as4),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_open_addpath),
		cmocka_unit_test(test_update_addpath),
		cmocka_unit_test(test_update_ipv4),
		cmocka_unit_test(test_update_vpnv4),
		cmocka_unit_test(test_withdraw_and_eor),
		cmocka_unit_test(test_vpnv6_rr_attrs_round_trip),
		cmocka_unit_test(test_unknown_transitive),
		cmocka_unit_test(test_pmsi_tunnel),
		cmocka_unit_test(test_malformed_library),
		cmocka_unit_test(test_mp_not_negotiated),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
