/* DOC: bgp_rtc_test.c — route-target constraint (RFC 4684): the NLRI
 * (origin AS + route-target prefix, RFC 4684 §4) byte for byte, memberships
 * collected per peer, and the match of a route's targets against them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bgp_rtc.h"

static struct bgp_rib R;
static struct bgp_rtc_set S;

static const uint8_t RT1[8] = { 0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 1 };   /* 65000:1 */
static const uint8_t RT2[8] = { 0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 2 };   /* 65000:2 */
static const uint8_t ENC[8] = { 0x03, 0x0c, 0, 0, 0, 0, 0, 0x0d };       /* MPLSoUDP */

/* 96 bits: origin AS 65000, route target 65000:1; then the default (0 bits)
 * and a 48-bit prefix: AS 65000 + the type and 2-octet AS of the target. */
static const uint8_t nlri[] = {
	96, 0x00, 0x00, 0xfd, 0xe8, 0x00, 0x02, 0xfd, 0xe8, 0x00, 0x00, 0x00, 0x01,
	0,
	48, 0x00, 0x00, 0xfd, 0xe8, 0x00, 0x02,
};

static void test_nlri(void **state)
{
	(void)state;
	struct bgp_nlri_iter it;
	struct bgp_nlri n[3];
	char err[128];
	bgp_nlri_iter_init(&it, BGP_AF_RTC, nlri, sizeof(nlri), false);
	for (int i = 0; i < 3; i++)
		assert_int_equal(bgp_nlri_next(&it, &n[i], err, sizeof(err)), 1);
	assert_int_equal(bgp_nlri_next(&it, &(struct bgp_nlri){ 0 }, err, sizeof(err)), 0);
	assert_int_equal(n[0].p.plen, 96);
	assert_memory_equal(n[0].p.addr + 4, RT1, 8);
	assert_int_equal(n[1].p.plen, 0);
	assert_int_equal(n[2].p.plen, 48);
	char s[80];
	bgp_rtc_format(&n[0].p, s, sizeof(s));
	assert_string_equal(s, "65000:rt:65000:1/96");
	bgp_rtc_format(&n[1].p, s, sizeof(s));
	assert_string_equal(s, "default");
	uint8_t out[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, out, sizeof(out));
	for (int i = 0; i < 3; i++)
		bgp_nlri_put(&w, &n[i], false);
	assert_int_equal(w.len, sizeof(nlri));
	assert_memory_equal(out, nlri, sizeof(nlri));
	/* longer than 96 bits */
	static const uint8_t bad[] = { 97, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	bgp_nlri_iter_init(&it, BGP_AF_RTC, bad, sizeof(bad), false);
	assert_int_equal(bgp_nlri_next(&it, &n[0], err, sizeof(err)), -EBADMSG);
	assert_int_equal(bgp_af_lookup(1, 132), BGP_AF_RTC);
}

static struct bgp_attrs with(const uint8_t *ec, int n)
{
	struct bgp_attrs a = { .has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH),
			       .nh_len = 4, .nh = { 10, 0, 0, 2 } };
	if (n) {
		a.has |= BGP_HAS(BGP_ATTR_EXT_COMMUNITIES);
		a.ext_communities = (struct bgp_bytes){ ec, (uint16_t)(8 * n) };
	}
	return a;
}

static void member(uint16_t peer, const uint8_t *b, size_t len)
{
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	char err[128];
	bgp_nlri_iter_init(&it, BGP_AF_RTC, b, len, false);
	assert_int_equal(bgp_nlri_next(&it, &n, err, sizeof(err)), 1);
	struct bgp_attrs a = with(NULL, 0);
	assert_int_equal(bgp_rib_update(&R, peer, &n, &a), 0);
}

static void test_match(void **state)
{
	(void)state;
	assert_int_equal(bgp_rib_init(&R, 65000, 0x0a000001, 0x0a000001), 0);
	R.peers[0].used = R.peers[1].used = true;
	uint8_t both[16], enc_rt2[16];
	memcpy(both, RT1, 8);
	memcpy(both + 8, RT2, 8);
	memcpy(enc_rt2, ENC, 8);
	memcpy(enc_rt2 + 8, RT2, 8);
	struct bgp_attrs a1 = with(RT1, 1), a2 = with(enc_rt2, 2), a12 = with(both, 2),
			 aenc = with(ENC, 1), anone = with(NULL, 0);

	bgp_rtc_collect(&R, 0, &S); /* nothing announced: nothing wanted */
	assert_false(S.all);
	assert_false(bgp_rtc_match(&S, &a1));

	member(0, nlri, 13); /* 65000:rt:65000:1/96 */
	bgp_rtc_collect(&R, 0, &S);
	assert_int_equal(S.n, 1);
	assert_true(bgp_rtc_match(&S, &a1));
	assert_false(bgp_rtc_match(&S, &a2));
	assert_true(bgp_rtc_match(&S, &a12));
	assert_false(bgp_rtc_match(&S, &aenc)); /* not a route target */
	assert_false(bgp_rtc_match(&S, &anone));

	member(1, nlri + 14, 7); /* 48 bits: every 65000:x target */
	bgp_rtc_collect(&R, 1, &S);
	assert_int_equal(S.n, 1);
	assert_true(bgp_rtc_match(&S, &a1));
	assert_true(bgp_rtc_match(&S, &a2));
	assert_false(bgp_rtc_match(&S, &aenc));

	member(1, nlri + 13, 1); /* the default: everything */
	bgp_rtc_collect(&R, 1, &S);
	assert_true(S.all);
	assert_true(bgp_rtc_match(&S, &anone));

	/* Our own default, for the peers to send us everything. */
	assert_int_equal(bgp_rtc_originate_default(&R, 0x0a000001), 0);
	struct bgp_prefix def = { .af = BGP_AF_RTC };
	struct bgp_dest *d = bgp_rib_lookup(&R, &def);
	assert_non_null(d);
	bool local = false;
	for (struct bgp_path *p = d->paths; p; p = p->next)
		local |= p->peer == BGP_RIB_LOCAL && p->attrs->a.nh[3] == 1;
	assert_true(local);
	bgp_rib_free(&R);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nlri),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
