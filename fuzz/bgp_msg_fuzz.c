/*
 * DOC: bgp_msg_fuzz.c — libFuzzer target for the shared BGP codec (lib/bgp_msg.c).
 *
 * The input is a stream of BGP messages, as a socket would deliver it. Each
 * framed message goes to its parser (OPEN, UPDATE under an iBGP, an eBGP and
 * an ADD-PATH context, NOTIFICATION, ROUTE-REFRESH). Whatever the input, nothing may
 * crash or read past a length; every UPDATE that parses must have NLRI
 * fields that walk cleanly, and its attributes must encode again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bgp_msg.h"

static struct bgp_update U;

static void walk(int af, struct bgp_bytes b, bool withdraw, const struct bgp_peer_ctx *ctx)
{
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	char err[160];
	int rc;
	bool ap = ctx->addpath & BGP_AF_BIT(af);
	bgp_nlri_iter_init_ap(&it, af, b.p, b.len, withdraw, ap);
	while ((rc = bgp_nlri_next(&it, &n, err, sizeof(err))) == 1)
		if (bgp_nlri_size_ap(&n, ap) > b.len)
			abort();
	if (rc < 0)
		abort(); /* validated at parse time: must walk cleanly */
}

static void update(const uint8_t *body, size_t len, const struct bgp_peer_ctx *ctx)
{
	struct bgp_err e;
	bgp_err_clear(&e);
	if (bgp_update_parse(body, len, ctx, &U, &e) < 0) {
		if (e.action != BGP_ERR_RESET || !e.msg[0])
			abort();
		return;
	}
	walk(BGP_AF_IPV4, U.withdrawn, true, ctx);
	walk(BGP_AF_IPV4, U.nlri, false, ctx);
	if (U.reach_af >= 0)
		walk(U.reach_af, U.reach, false, ctx);
	if (U.unreach_af >= 0)
		walk(U.unreach_af, U.unreach, true, ctx);
	(void)bgp_update_eor(&U, len);
	/* Encode the attributes again: must not overflow a message buffer
	 * more than the input could. */
	static uint8_t out[3 * BGP_MAX_MSG];
	struct tern_wbuf w;
	tern_wbuf_init(&w, out, sizeof(out));
	bgp_attrs_put(&w, &U.attrs, true);
	if (w.err)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct bgp_peer_ctx ibgp = { .ebgp = false, .peer_as = 65001,
						  .afs = (1u << BGP_AF_COUNT) - 1 };
	static const struct bgp_peer_ctx ebgp = { .ebgp = true, .peer_as = 65001, .afs = 0x5 };
	static const struct bgp_peer_ctx addpath = { .ebgp = false, .peer_as = 65001,
						     .afs = (1u << BGP_AF_COUNT) - 1,
						     .addpath = (1u << BGP_AF_COUNT) - 1 };
	size_t off = 0;
	while (off < size) {
		struct bgp_hdr h;
		struct bgp_err e;
		bgp_err_clear(&e);
		if (bgp_hdr_parse(data + off, size - off, &h, &e) < 0 || h.len > size - off)
			return 0;
		const uint8_t *body = data + off + BGP_HDR_LEN;
		size_t blen = h.len - BGP_HDR_LEN;
		switch (h.type) {
		case BGP_OPEN: {
			struct bgp_open o;
			if (bgp_open_parse(body, blen, &o, &e) == 0) {
				uint8_t b[BGP_MAX_MSG];
				struct tern_wbuf w;
				tern_wbuf_init(&w, b, sizeof(b));
				if (bgp_open_encode(&w, &o) < 0)
					abort();
			}
			break;
		}
		case BGP_UPDATE:
			update(body, blen, &ibgp);
			update(body, blen, &ebgp);
			update(body, blen, &addpath);
			break;
		case BGP_NOTIFICATION: {
			struct bgp_notif n;
			bgp_notif_parse(body, blen, &n, &e);
			break;
		}
		case BGP_ROUTE_REFRESH: {
			struct bgp_route_refresh rr;
			bgp_rr_parse(body, blen, &rr, &e);
			break;
		}
		}
		off += h.len;
	}
	return 0;
}
