/*
 * DOC: bgp_attr.c — path attributes, driven by one table (bgp_attr_table):
 * for each known type code its expected Optional/Transitive flags, its
 * parser, its encoder, and the RFC 7606 outcome when it is malformed.
 *
 * The generic loop (bgp_attrs_parse) handles what is common: the attribute
 * header, lengths that overrun, flags that conflict, duplicates, unknown
 * attributes (well-known: reset; optional transitive: kept whole with the
 * Partial bit set, to pass through; optional non-transitive: dropped).
 */
#include "bgp_msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One attribute being parsed. */
struct attr_in {
	const uint8_t *whole;        /* flags, code, length, value */
	size_t whole_len;
	struct tern_rbuf v;          /* over the value */
	size_t len;                  /* value length */
	const struct bgp_peer_ctx *ctx;
	struct bgp_update *u;
	struct bgp_err *e;
};

struct attr_desc {
	uint8_t flags;               /* expected Optional | Transitive */
	int malformed;               /* RFC 7606 outcome when the parser refuses it */
	uint8_t subcode;             /* UPDATE error subcode for that outcome */
	const char *name;
	/* 0, or -1 with why filled: the attribute is malformed. */
	int (*parse)(struct attr_in *in, char *why, size_t n);
	/* NULL: never encoded from struct bgp_attrs (MP_*, AS4_*). */
	void (*put)(struct tern_wbuf *w, const struct bgp_attrs *a);
};

/* ---- encoding helpers ---- */

static void put_hdr(struct tern_wbuf *w, uint8_t flags, uint8_t code, size_t len)
{
	if (len > 255)
		flags |= BGP_AF_EXTLEN;
	else
		flags &= (uint8_t)~BGP_AF_EXTLEN;
	tern_put_u8(w, flags);
	tern_put_u8(w, code);
	if (flags & BGP_AF_EXTLEN)
		tern_put_u16(w, (uint16_t)len);
	else
		tern_put_u8(w, (uint8_t)len);
}

static void put_u32_attr(struct tern_wbuf *w, uint8_t flags, uint8_t code, uint32_t v)
{
	put_hdr(w, flags, code, 4);
	tern_put_u32(w, v);
}

static void put_bytes_attr(struct tern_wbuf *w, uint8_t flags, uint8_t code, struct bgp_bytes b)
{
	put_hdr(w, flags, code, b.len);
	tern_put_bytes(w, b.p, b.len);
}

/* ---- one parser and encoder per attribute ---- */

static int p_origin(struct attr_in *in, char *why, size_t n)
{
	if (in->len != 1) {
		snprintf(why, n, "length %zu, not 1", in->len);
		return -1;
	}
	uint8_t o = tern_get_u8(&in->v);
	if (o > BGP_ORIGIN_INCOMPLETE) {
		snprintf(why, n, "undefined value %u", o);
		return -1;
	}
	in->u->attrs.origin = o;
	return 0;
}

static void w_origin(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_hdr(w, BGP_AF_TRANSITIVE, BGP_ATTR_ORIGIN, 1);
	tern_put_u8(w, a->origin);
}

/* Segments of 4-octet ASes (RFC 6793): type 1..4, count >= 1. */
static int aspath_check(struct bgp_bytes p, char *why, size_t n)
{
	struct tern_rbuf r;
	tern_rbuf_init(&r, p.p, p.len);
	while (tern_rbuf_left(&r) > 0) {
		uint8_t type = tern_get_u8(&r);
		uint8_t cnt = tern_get_u8(&r);
		if (r.err) {
			snprintf(why, n, "truncated segment header");
			return -1;
		}
		if (type < BGP_AS_SET || type > BGP_AS_CONFED_SET) {
			snprintf(why, n, "segment type %u", type);
			return -1;
		}
		if (cnt == 0) {
			snprintf(why, n, "empty segment");
			return -1;
		}
		if (tern_rbuf_left(&r) < (size_t)cnt * 4) {
			snprintf(why, n, "segment of %u ASes overruns the attribute", cnt);
			return -1;
		}
		r.off += (size_t)cnt * 4;
	}
	return 0;
}

static int p_as_path(struct attr_in *in, char *why, size_t n)
{
	struct bgp_bytes p = { in->v.buf, (uint16_t)in->len };
	if (aspath_check(p, why, n) < 0)
		return -1;
	/* RFC 4271 §6.3: an external peer puts its own AS first. */
	if (in->ctx->ebgp && bgp_aspath_first(p) != in->ctx->peer_as) {
		snprintf(why, n, "external peer AS %u is not the first AS of the path",
			 in->ctx->peer_as);
		return -1;
	}
	in->u->attrs.as_path = p;
	return 0;
}

static void w_as_path(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_bytes_attr(w, BGP_AF_TRANSITIVE, BGP_ATTR_AS_PATH, a->as_path);
}

static int p_next_hop(struct attr_in *in, char *why, size_t n)
{
	if (in->len != 4) {
		snprintf(why, n, "length %zu, not 4", in->len);
		return -1;
	}
	tern_get_bytes(&in->v, in->u->attrs.nh, 4);
	in->u->attrs.nh_len = 4;
	return 0;
}

static void w_next_hop(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_hdr(w, BGP_AF_TRANSITIVE, BGP_ATTR_NEXT_HOP, 4);
	tern_put_bytes(w, a->nh, 4);
}

static int p_u32(struct attr_in *in, uint32_t *out, char *why, size_t n)
{
	if (in->len != 4) {
		snprintf(why, n, "length %zu, not 4", in->len);
		return -1;
	}
	*out = tern_get_u32(&in->v);
	return 0;
}

static int p_med(struct attr_in *in, char *why, size_t n)
{
	return p_u32(in, &in->u->attrs.med, why, n);
}

static void w_med(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_u32_attr(w, BGP_AF_OPTIONAL, BGP_ATTR_MED, a->med);
}

static int p_local_pref(struct attr_in *in, char *why, size_t n)
{
	if (p_u32(in, &in->u->attrs.local_pref, why, n) < 0)
		return -1;
	if (in->ctx->ebgp) { /* RFC 7606 §7.5: from an external peer, discard */
		in->u->attrs.has &= ~BGP_HAS(BGP_ATTR_LOCAL_PREF);
		bgp_err_set(in->e, BGP_ERR_DISCARD, 0, 0, NULL, 0,
			    "UPDATE: LOCAL_PREF from an external peer discarded");
		return 1;
	}
	return 0;
}

static void w_local_pref(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_u32_attr(w, BGP_AF_TRANSITIVE, BGP_ATTR_LOCAL_PREF, a->local_pref);
}

static int p_atomic(struct attr_in *in, char *why, size_t n)
{
	if (in->len != 0) {
		snprintf(why, n, "length %zu, not 0", in->len);
		return -1;
	}
	return 0;
}

static void w_atomic(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	(void)a;
	put_hdr(w, BGP_AF_TRANSITIVE, BGP_ATTR_ATOMIC_AGG, 0);
}

static int p_aggregator(struct attr_in *in, char *why, size_t n)
{
	if (in->len != 8) {
		snprintf(why, n, "length %zu, not 8 (4-octet AS and address)", in->len);
		return -1;
	}
	in->u->attrs.aggregator = (struct bgp_bytes){ in->v.buf, 8 };
	return 0;
}

static void w_aggregator(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_bytes_attr(w, BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, BGP_ATTR_AGGREGATOR, a->aggregator);
}

/* A list of fixed-size items: non-zero length, a multiple of the size. */
static int p_list(struct attr_in *in, size_t item, struct bgp_bytes *out, char *why, size_t n)
{
	if (in->len == 0 || in->len % item) {
		snprintf(why, n, "length %zu is not a non-zero multiple of %zu", in->len, item);
		return -1;
	}
	*out = (struct bgp_bytes){ in->v.buf, (uint16_t)in->len };
	return 0;
}

static int p_communities(struct attr_in *in, char *why, size_t n)
{
	return p_list(in, 4, &in->u->attrs.communities, why, n);
}

static void w_communities(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_bytes_attr(w, BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, BGP_ATTR_COMMUNITIES,
		       a->communities);
}

static int p_originator(struct attr_in *in, char *why, size_t n)
{
	return p_u32(in, &in->u->attrs.originator_id, why, n);
}

static void w_originator(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_u32_attr(w, BGP_AF_OPTIONAL, BGP_ATTR_ORIGINATOR_ID, a->originator_id);
}

static int p_cluster(struct attr_in *in, char *why, size_t n)
{
	return p_list(in, 4, &in->u->attrs.cluster_list, why, n);
}

static void w_cluster(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_bytes_attr(w, BGP_AF_OPTIONAL, BGP_ATTR_CLUSTER_LIST, a->cluster_list);
}

static int p_ext(struct attr_in *in, char *why, size_t n)
{
	return p_list(in, 8, &in->u->attrs.ext_communities, why, n);
}

static void w_ext(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	put_bytes_attr(w, BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, BGP_ATTR_EXT_COMMUNITIES,
		       a->ext_communities);
}

static void keep_unknown(struct bgp_update *u, const uint8_t *whole, size_t len);

/* RFC 6514 §5: flags, tunnel type, label (3 octets), tunnel identifier. An
 * ingress replication identifier is an IPv4 or IPv6 address (RFC 7432
 * §11.2); identifiers too long to keep are passed on whole, as unknown. */
static int p_pmsi(struct attr_in *in, char *why, size_t n)
{
	struct bgp_pmsi *m = &in->u->attrs.pmsi;
	if (in->len < 5) {
		snprintf(why, n, "length %zu, less than 5", in->len);
		return -1;
	}
	size_t id_len = in->len - 5;
	m->flags = tern_get_u8(&in->v);
	m->type = tern_get_u8(&in->v);
	m->label = (uint32_t)tern_get_u8(&in->v) << 16;
	m->label |= tern_get_u16(&in->v);
	if (m->type == BGP_PMSI_INGRESS_REPL && id_len != 4 && id_len != 16) {
		snprintf(why, n, "ingress replication tunnel identifier of %zu bytes", id_len);
		return -1;
	}
	if (id_len > BGP_PMSI_ID_MAX) {
		memset(m, 0, sizeof(*m));
		keep_unknown(in->u, in->whole, in->whole_len);
		return 1;
	}
	m->id_len = (uint8_t)id_len;
	tern_get_bytes(&in->v, m->id, id_len);
	return 0;
}

static void w_pmsi(struct tern_wbuf *w, const struct bgp_attrs *a)
{
	const struct bgp_pmsi *m = &a->pmsi;
	uint8_t id_len = m->id_len <= BGP_PMSI_ID_MAX ? m->id_len : BGP_PMSI_ID_MAX;
	put_hdr(w, BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, BGP_ATTR_PMSI_TUNNEL, 5u + id_len);
	tern_put_u8(w, m->flags);
	tern_put_u8(w, m->type);
	tern_put_u8(w, (uint8_t)(m->label >> 16));
	tern_put_u16(w, (uint16_t)m->label);
	tern_put_bytes(w, m->id, id_len);
}

/* AFI, SAFI of an MP attribute; -1 (and the attribute ignored) for a family
 * that was not negotiated. */
static int mp_family(struct attr_in *in, char *why, size_t n)
{
	uint16_t afi = tern_get_u16(&in->v);
	uint8_t safi = tern_get_u8(&in->v);
	if (in->v.err) {
		snprintf(why, n, "shorter than AFI and SAFI");
		return -2;
	}
	int af = bgp_af_lookup(afi, safi);
	if (af < 0 || !(in->ctx->afs & BGP_AF_BIT(af))) {
		bgp_err_set(in->e, BGP_ERR_DISCARD, 0, 0, NULL, 0,
			    "UPDATE: %s for AFI %u SAFI %u, not negotiated: ignored",
			    bgp_attr_name(in->whole[1]), afi, safi);
		return -1;
	}
	return af;
}

static int p_mp_reach(struct attr_in *in, char *why, size_t n)
{
	int af = mp_family(in, why, n);
	if (af == -2)
		return -1;
	if (af < 0)
		return 1;
	const struct bgp_af_info *f = &bgp_af_table[af];
	uint8_t nhl = tern_get_u8(&in->v);
	size_t rd = f->rd ? 8 : 0;
	size_t ip = nhl >= rd ? nhl - rd : 0;
	/* EVPN: an IPv4 or IPv6 next hop (RFC 7432 §7, RFC 8365 §5.1.3). */
	bool ok = nhl >= rd && (ip == f->addr_len || (f->addr_len == 16 && ip == 32) ||
				(af == BGP_AF_EVPN && ip == 4) ||
				(af == BGP_AF_RTC && (ip == 4 || ip == 16)));
	if (in->v.err || !ok) {
		snprintf(why, n, "%s next hop length %u", f->name, nhl);
		return -1;
	}
	tern_get_bytes(&in->v, (uint8_t[8]){ 0 }, rd);
	tern_get_bytes(&in->v, in->u->mp_nh, ip);
	tern_get_u8(&in->v); /* reserved */
	if (in->v.err) {
		snprintf(why, n, "next hop runs past the attribute");
		return -1;
	}
	in->u->mp_nh_len = (uint8_t)ip;
	in->u->reach_af = af;
	in->u->reach = (struct bgp_bytes){ in->v.buf + in->v.off,
					   (uint16_t)tern_rbuf_left(&in->v) };
	struct bgp_nlri_iter it;
	struct bgp_nlri nl;
	int rc;
	bgp_nlri_iter_init_ap(&it, af, in->u->reach.p, in->u->reach.len, false,
			      in->ctx->addpath & BGP_AF_BIT(af));
	while ((rc = bgp_nlri_next(&it, &nl, why, n)) == 1)
		;
	return rc < 0 ? -1 : 0;
}

static int p_mp_unreach(struct attr_in *in, char *why, size_t n)
{
	int af = mp_family(in, why, n);
	if (af == -2)
		return -1;
	if (af < 0)
		return 1;
	in->u->unreach_af = af;
	in->u->unreach = (struct bgp_bytes){ in->v.buf + in->v.off,
					     (uint16_t)tern_rbuf_left(&in->v) };
	struct bgp_nlri_iter it;
	struct bgp_nlri nl;
	int rc;
	bgp_nlri_iter_init_ap(&it, af, in->u->unreach.p, in->u->unreach.len, true,
			      in->ctx->addpath & BGP_AF_BIT(af));
	while ((rc = bgp_nlri_next(&it, &nl, why, n)) == 1)
		;
	return rc < 0 ? -1 : 0;
}

/* RFC 6793 §4.2.2: AS4_PATH / AS4_AGGREGATOR between two 4-octet speakers
 * are discarded (tern requires the 4-octet AS capability of every peer). */
static int p_as4(struct attr_in *in, char *why, size_t n)
{
	(void)why;
	(void)n;
	bgp_err_set(in->e, BGP_ERR_DISCARD, 0, 0, NULL, 0,
		    "UPDATE: %s from a 4-octet AS speaker discarded", bgp_attr_name(in->whole[1]));
	return 1;
}

#define WK BGP_AF_TRANSITIVE
#define OT (BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE)
#define ON BGP_AF_OPTIONAL

static const struct attr_desc bgp_attr_table[256] = {
	[BGP_ATTR_ORIGIN] = { WK, BGP_ERR_WITHDRAW, BGP_UPD_ORIGIN, "ORIGIN", p_origin, w_origin },
	[BGP_ATTR_AS_PATH] = { WK, BGP_ERR_WITHDRAW, BGP_UPD_AS_PATH, "AS_PATH", p_as_path,
			       w_as_path },
	[BGP_ATTR_NEXT_HOP] = { WK, BGP_ERR_WITHDRAW, BGP_UPD_NEXT_HOP, "NEXT_HOP", p_next_hop,
				w_next_hop },
	[BGP_ATTR_MED] = { ON, BGP_ERR_WITHDRAW, BGP_UPD_LENGTH, "MULTI_EXIT_DISC", p_med, w_med },
	[BGP_ATTR_LOCAL_PREF] = { WK, BGP_ERR_WITHDRAW, BGP_UPD_LENGTH, "LOCAL_PREF",
				  p_local_pref, w_local_pref },
	[BGP_ATTR_ATOMIC_AGG] = { WK, BGP_ERR_DISCARD, BGP_UPD_LENGTH, "ATOMIC_AGGREGATE",
				  p_atomic, w_atomic },
	[BGP_ATTR_AGGREGATOR] = { OT, BGP_ERR_DISCARD, BGP_UPD_LENGTH, "AGGREGATOR",
				  p_aggregator, w_aggregator },
	[BGP_ATTR_COMMUNITIES] = { OT, BGP_ERR_WITHDRAW, BGP_UPD_OPTIONAL, "COMMUNITIES",
				   p_communities, w_communities },
	[BGP_ATTR_ORIGINATOR_ID] = { ON, BGP_ERR_WITHDRAW, BGP_UPD_LENGTH, "ORIGINATOR_ID",
				     p_originator, w_originator },
	[BGP_ATTR_CLUSTER_LIST] = { ON, BGP_ERR_WITHDRAW, BGP_UPD_LENGTH, "CLUSTER_LIST",
				    p_cluster, w_cluster },
	/* RFC 4760 §7 / RFC 7606 §5.3: NLRI that cannot be located → reset. */
	[BGP_ATTR_MP_REACH] = { ON, BGP_ERR_RESET, BGP_UPD_OPTIONAL, "MP_REACH_NLRI", p_mp_reach,
				NULL },
	[BGP_ATTR_MP_UNREACH] = { ON, BGP_ERR_RESET, BGP_UPD_OPTIONAL, "MP_UNREACH_NLRI",
				  p_mp_unreach, NULL },
	[BGP_ATTR_EXT_COMMUNITIES] = { OT, BGP_ERR_WITHDRAW, BGP_UPD_OPTIONAL,
				       "EXTENDED_COMMUNITIES", p_ext, w_ext },
	[BGP_ATTR_AS4_PATH] = { OT, BGP_ERR_DISCARD, BGP_UPD_OPTIONAL, "AS4_PATH", p_as4, NULL },
	[BGP_ATTR_AS4_AGGREGATOR] = { OT, BGP_ERR_DISCARD, BGP_UPD_OPTIONAL, "AS4_AGGREGATOR",
				      p_as4, NULL },
	/* Not in RFC 7606's list; it decides where BUM traffic goes, so a
	 * malformed one withdraws the route (RFC 7606 §2). */
	[BGP_ATTR_PMSI_TUNNEL] = { OT, BGP_ERR_WITHDRAW, BGP_UPD_OPTIONAL, "PMSI_TUNNEL", p_pmsi,
				   w_pmsi },
};

const char *bgp_attr_name(uint8_t code)
{
	return bgp_attr_table[code].name ? bgp_attr_table[code].name : "unknown attribute";
}

/* Keep an unknown optional transitive attribute whole, Partial bit set
 * (RFC 4271 §5: we pass it on without having understood it). */
static void keep_unknown(struct bgp_update *u, const uint8_t *whole, size_t len)
{
	struct bgp_attrs *a = &u->attrs;
	if ((size_t)a->unknown.len + len > sizeof(u->unknown_buf))
		return; /* cannot happen: the attributes came in one message */
	uint8_t *d = u->unknown_buf + a->unknown.len;
	memcpy(d, whole, len);
	d[0] |= BGP_AF_PARTIAL;
	a->unknown.p = u->unknown_buf;
	a->unknown.len = (uint16_t)(a->unknown.len + len);
}

static void one_attr(struct attr_in *in, uint8_t flags, uint8_t code)
{
	const struct attr_desc *d = &bgp_attr_table[code];
	struct bgp_attrs *a = &in->u->attrs;
	struct bgp_err *e = in->e;
	char why[160];

	if (!d->name) {
		if (!(flags & BGP_AF_OPTIONAL))
			bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_UPDATE, BGP_UPD_WELLKNOWN, in->whole,
				    in->whole_len, "UPDATE: unrecognized well-known attribute %u",
				    code);
		else if (flags & BGP_AF_TRANSITIVE)
			keep_unknown(in->u, in->whole, in->whole_len);
		return; /* unknown optional non-transitive: quietly ignored */
	}
	if (code < 32 && (a->has & BGP_HAS(code))) {
		/* RFC 7606 §3 g */
		if (code == BGP_ATTR_MP_REACH || code == BGP_ATTR_MP_UNREACH)
			bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_UPDATE, BGP_UPD_ATTR_LIST, NULL, 0,
				    "UPDATE: %s appears twice", d->name);
		else
			bgp_err_set(e, BGP_ERR_DISCARD, 0, 0, NULL, 0,
				    "UPDATE: %s appears twice, later copies discarded", d->name);
		return;
	}
	if ((flags & (BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE)) != d->flags) {
		/* RFC 7606 §3 c: treat-as-withdraw; the MP attributes carry the NLRI
		 * themselves, so for them nothing can be withdrawn: reset. */
		int act = d->malformed == BGP_ERR_RESET ? BGP_ERR_RESET : BGP_ERR_WITHDRAW;
		bgp_err_set(e, act, BGP_NOTIF_UPDATE, BGP_UPD_FLAGS, in->whole, in->whole_len,
			    "UPDATE: %s with flags 0x%02x (expected 0x%02x)", d->name,
			    flags & 0xf0, d->flags);
		return;
	}
	if (code < 32)
		a->has |= BGP_HAS(code);
	int rc = d->parse(in, why, sizeof(why));
	if (rc < 0) {
		if (code < 32)
			a->has &= ~BGP_HAS(code);
		bgp_err_set(e, d->malformed, BGP_NOTIF_UPDATE, d->subcode, in->whole, in->whole_len,
			    "UPDATE: malformed %s: %s", d->name, why);
	} else if (rc > 0 && code < 32) {
		a->has &= ~BGP_HAS(code); /* parsed but not kept */
	}
}

int bgp_attrs_parse(struct tern_rbuf *r, const struct bgp_peer_ctx *ctx, struct bgp_update *u,
		    struct bgp_err *e)
{
	while (tern_rbuf_left(r) > 0) {
		size_t start = r->off;
		uint8_t flags = tern_get_u8(r);
		uint8_t code = tern_get_u8(r);
		size_t len = (flags & BGP_AF_EXTLEN) ? tern_get_u16(r) : tern_get_u8(r);
		if (r->err || len > tern_rbuf_left(r)) {
			/* RFC 7606 §4: treat-as-withdraw; the total attribute length
			 * still locates the NLRI. */
			bgp_err_set(e, BGP_ERR_WITHDRAW, BGP_NOTIF_UPDATE, BGP_UPD_LENGTH, NULL, 0,
				    "UPDATE: attribute %u at offset %zu runs past the path "
				    "attributes (%zu bytes left)", code, start,
				    r->err ? 0 : tern_rbuf_left(r));
			break;
		}
		struct attr_in in = {
			.whole = r->buf + start, .whole_len = r->off - start + len,
			.len = len, .ctx = ctx, .u = u, .e = e,
		};
		tern_rbuf_init(&in.v, r->buf + r->off, len);
		r->off += len;
		one_attr(&in, flags, code);
		if (e->action == BGP_ERR_RESET)
			return -EBADMSG;
	}
	return 0;
}

void bgp_attrs_put(struct tern_wbuf *w, const struct bgp_attrs *a, bool with_next_hop)
{
	for (unsigned code = 1; code < 32; code++) {
		const struct attr_desc *d = &bgp_attr_table[code];
		if (!d->put || !(a->has & BGP_HAS(code)))
			continue;
		if (code == BGP_ATTR_NEXT_HOP && !with_next_hop)
			continue;
		d->put(w, a);
	}
	/* An IPv4 route from an MP-only source still needs NEXT_HOP. */
	if (with_next_hop && !(a->has & BGP_HAS(BGP_ATTR_NEXT_HOP)) && a->nh_len == 4)
		w_next_hop(w, a);
	if (a->unknown.len)
		tern_put_bytes(w, a->unknown.p, a->unknown.len);
}

/* ---- AS_PATH helpers (the path was checked by aspath_check) ---- */

unsigned bgp_aspath_length(struct bgp_bytes p)
{
	unsigned n = 0;
	size_t off = 0;
	while (off + 2 <= p.len) {
		uint8_t type = p.p[off], cnt = p.p[off + 1];
		if (type == BGP_AS_SEQUENCE)
			n += cnt;
		else if (type == BGP_AS_SET)
			n += 1;
		off += 2 + (size_t)cnt * 4;
	}
	return n;
}

bool bgp_aspath_contains(struct bgp_bytes p, uint32_t as)
{
	struct tern_rbuf r;
	tern_rbuf_init(&r, p.p, p.len);
	while (tern_rbuf_left(&r) >= 2) {
		tern_get_u8(&r);
		uint8_t cnt = tern_get_u8(&r);
		for (unsigned i = 0; i < cnt; i++)
			if (tern_get_u32(&r) == as && !r.err)
				return true;
	}
	return false;
}

uint32_t bgp_aspath_first(struct bgp_bytes p)
{
	struct tern_rbuf r;
	tern_rbuf_init(&r, p.p, p.len);
	uint8_t type = tern_get_u8(&r);
	tern_get_u8(&r);
	uint32_t as = tern_get_u32(&r);
	return (r.err || type != BGP_AS_SEQUENCE) ? 0 : as;
}

/* ---- extended communities ---- */

void bgp_ext_rt_as2(uint8_t out[8], uint16_t as, uint32_t val)
{
	out[0] = 0x00;
	out[1] = 0x02;
	out[2] = (uint8_t)(as >> 8);
	out[3] = (uint8_t)as;
	out[4] = (uint8_t)(val >> 24);
	out[5] = (uint8_t)(val >> 16);
	out[6] = (uint8_t)(val >> 8);
	out[7] = (uint8_t)val;
}

void bgp_ext_encap(uint8_t out[8], uint16_t tunnel)
{
	memset(out, 0, 8);
	out[0] = 0x03;
	out[1] = 0x0c;
	out[6] = (uint8_t)(tunnel >> 8);
	out[7] = (uint8_t)tunnel;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Type 0/1/2 "administrator:assigned" of an RD or a route target. */
static void admin_format(uint8_t type, const uint8_t *v, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	switch (type) {
	case 0:
		snprintf(buf, len, "%u:%u", be16(v), be32(v + 2));
		break;
	case 1:
		inet_ntop(AF_INET, v, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, be16(v + 4));
		break;
	default:
		snprintf(buf, len, "%u:%u", be32(v), be16(v + 4));
		break;
	}
}

void bgp_ext_format(const uint8_t e[8], char *buf, size_t len)
{
	uint16_t ts = be16(e);
	char a[40];
	if (ts == BGP_EXT_RT_AS2 || ts == BGP_EXT_RT_IP4 || ts == BGP_EXT_RT_AS4) {
		admin_format(e[0], e + 2, a, sizeof(a));
		snprintf(buf, len, "rt:%s", a);
		return;
	}
	if (ts == BGP_EXT_ENCAP) {
		uint16_t t = be16(e + 6);
		const char *name = t == BGP_TUNNEL_VXLAN ? "vxlan" :
				   t == BGP_TUNNEL_MPLS_GRE ? "mpls-in-gre" :
				   t == BGP_TUNNEL_MPLS_UDP ? "mpls-in-udp" : NULL;
		if (name)
			snprintf(buf, len, "encap:%s", name);
		else
			snprintf(buf, len, "encap:%u", t);
		return;
	}
	snprintf(buf, len, "0x%02x%02x%02x%02x%02x%02x%02x%02x", e[0], e[1], e[2], e[3], e[4], e[5],
		 e[6], e[7]);
}

void bgp_rd_format(const uint8_t rd[8], char *buf, size_t len)
{
	uint16_t type = be16(rd);
	if (type > 2) {
		snprintf(buf, len, "%u:0x%02x%02x%02x%02x%02x%02x", type, rd[2], rd[3], rd[4], rd[5],
			 rd[6], rd[7]);
		return;
	}
	admin_format((uint8_t)type, rd + 2, buf, len);
}
