/*
 * DOC: bgp_msg.c — messages and NLRI of the BGP codec (see bgp_msg.h); the
 * path attributes are in bgp_attr.c.
 */
#include "bgp_msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void bgp_err_clear(struct bgp_err *e)
{
	memset(e, 0, sizeof(*e));
}

void bgp_err_set(struct bgp_err *e, int action, uint8_t code, uint8_t subcode,
		 const void *data, size_t data_len, const char *fmt, ...)
{
	if (action <= e->action)
		return; /* a worse (or the same) outcome was already recorded */
	e->action = action;
	e->code = code;
	e->subcode = subcode;
	if (data_len > sizeof(e->data))
		data_len = sizeof(e->data);
	e->data_len = (uint16_t)data_len;
	if (data_len)
		memcpy(e->data, data, data_len);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* ---- families ---- */

const struct bgp_af_info bgp_af_table[BGP_AF_COUNT] = {
	[BGP_AF_IPV4] = { BGP_AFI_IPV4, BGP_SAFI_UNICAST, 4, false, false, "ipv4" },
	[BGP_AF_IPV6] = { BGP_AFI_IPV6, BGP_SAFI_UNICAST, 16, false, false, "ipv6" },
	[BGP_AF_VPNV4] = { BGP_AFI_IPV4, BGP_SAFI_VPN, 4, true, true, "vpnv4" },
	[BGP_AF_VPNV6] = { BGP_AFI_IPV6, BGP_SAFI_VPN, 16, true, true, "vpnv6" },
	/* EVPN: RD and labels sit inside its own NLRI format (bgp_evpn_*), so
	 * rd/label stay false here (they describe the generic format and the
	 * MP_REACH next hop, which has no RD). */
	[BGP_AF_EVPN] = { BGP_AFI_L2VPN, BGP_SAFI_EVPN, 16, false, false, "evpn" },
	/* RTC: a prefix of up to 96 bits (origin AS + route target, RFC 4684
	 * §4) in the generic format; the next hop is IPv4 or IPv6. */
	[BGP_AF_RTC] = { BGP_AFI_IPV4, BGP_SAFI_RTC, 12, false, false, "rtc" },
};

int bgp_af_lookup(uint16_t afi, uint8_t safi)
{
	for (int i = 0; i < BGP_AF_COUNT; i++)
		if (bgp_af_table[i].afi == afi && bgp_af_table[i].safi == safi)
			return i;
	return -1;
}

int bgp_af_by_name(const char *name)
{
	for (int i = 0; i < BGP_AF_COUNT; i++)
		if (strcmp(bgp_af_table[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- EVPN NLRI: <route type> <length> <route> (RFC 7432 §7, RFC 9136 §3) ---- */

#define EVPN_MAC_IP 2
#define EVPN_IMET 3
#define EVPN_IP_PREFIX 5

static int evpn_bad(char *err, size_t errlen, size_t at, unsigned type, unsigned len,
		    const char *why)
{
	snprintf(err, errlen, "evpn NLRI at %zu: route type %u, length %u: %s", at, type, len,
		 why);
	return -EBADMSG;
}

static uint32_t get_u24(struct tern_rbuf *r)
{
	uint8_t l[3] = { 0 };
	tern_get_bytes(r, l, 3);
	return (uint32_t)l[0] << 16 | (uint32_t)l[1] << 8 | l[2];
}

/* One route of a known type whose length was checked; r holds exactly it. */
static int evpn_route(struct tern_rbuf *r, unsigned type, unsigned len, struct bgp_nlri *n,
		      size_t at, char *err, size_t errlen)
{
	struct bgp_prefix *p = &n->p;
	p->evpn_type = (uint8_t)type;
	tern_get_bytes(r, p->rd, 8);
	if (type == EVPN_MAC_IP) {
		/* RD 8, ESI 10, tag 4, MAC length 1, MAC 6, IP length 1, IP, label1 3 [, label2 3] */
		if (len < 33)
			return evpn_bad(err, errlen, at, type, len, "shorter than 33");
		tern_get_bytes(r, p->esi, 10);
		tern_get_bytes(r, p->eth_tag, 4);
		if (tern_get_u8(r) != 48)
			return evpn_bad(err, errlen, at, type, len, "MAC length is not 48");
		tern_get_bytes(r, p->mac, 6);
		unsigned ipl = tern_get_u8(r);
		if (ipl != 0 && ipl != 32 && ipl != 128)
			return evpn_bad(err, errlen, at, type, len, "IP length not 0, 32 or 128");
		unsigned rest = len - 30 - ipl / 8;
		if (len < 30 + ipl / 8 || (rest != 3 && rest != 6))
			return evpn_bad(err, errlen, at, type, len,
					"length does not fit the IP and 1 or 2 labels");
		tern_get_bytes(r, p->addr, ipl / 8);
		p->plen = (uint8_t)ipl;
		n->label = get_u24(r);
		p->n_labels = 1;
		if (rest == 6) {
			tern_get_bytes(r, p->label2, 3);
			p->n_labels = 2;
		}
	} else if (type == EVPN_IMET) {
		/* RD 8, tag 4, IP length 1, originating router's IP 4 or 16 */
		if (len != 17 && len != 29)
			return evpn_bad(err, errlen, at, type, len, "not 17 or 29");
		tern_get_bytes(r, p->eth_tag, 4);
		unsigned ipl = tern_get_u8(r);
		if (ipl != (len == 17 ? 32u : 128u))
			return evpn_bad(err, errlen, at, type, len, "IP length does not match");
		tern_get_bytes(r, p->addr, ipl / 8);
		p->plen = (uint8_t)ipl;
	} else {
		/* RD 8, ESI 10, tag 4, prefix length 1, prefix 4|16, gateway 4|16, label 3 */
		if (len != 34 && len != 58)
			return evpn_bad(err, errlen, at, type, len, "not 34 (IPv4) or 58 (IPv6)");
		unsigned alen = len == 34 ? 4 : 16;
		tern_get_bytes(r, p->esi, 10);
		tern_get_bytes(r, p->eth_tag, 4);
		unsigned pl = tern_get_u8(r);
		if (pl > alen * 8)
			return evpn_bad(err, errlen, at, type, len, "prefix length too long");
		tern_get_bytes(r, p->addr, alen);
		for (unsigned bit = pl; bit < alen * 8; bit++) /* the key compares whole */
			p->addr[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
		tern_get_bytes(r, p->gw, alen);
		p->plen = (uint8_t)pl;
		p->evpn_v6 = alen == 16;
		n->label = get_u24(r);
	}
	return r->err ? evpn_bad(err, errlen, at, type, len, "truncated") : 1;
}

/* Next EVPN route; route types tern does not handle (1, 4, ...) are skipped
 * whole (RFC 7432 §7: their length is known). */
static int path_id_get(struct bgp_nlri_iter *it, uint32_t *id, char *err, size_t errlen);

static int evpn_next(struct bgp_nlri_iter *it, struct bgp_nlri *n, char *err, size_t errlen)
{
	struct tern_rbuf *r = &it->r;
	for (;;) {
		if (tern_rbuf_left(r) == 0)
			return 0;
		uint32_t id = 0;
		if (it->addpath && path_id_get(it, &id, err, errlen) < 0)
			return -EBADMSG;
		size_t at = r->off;
		unsigned type = tern_get_u8(r), len = tern_get_u8(r);
		if (r->err) {
			snprintf(err, errlen, "evpn NLRI at %zu: truncated route type/length", at);
			return -EBADMSG;
		}
		if (tern_rbuf_left(r) < len) {
			snprintf(err, errlen, "evpn NLRI at %zu: truncated (route length %u, %zu left)",
				 at, len, tern_rbuf_left(r));
			return -EBADMSG;
		}
		if (type != EVPN_MAC_IP && type != EVPN_IMET && type != EVPN_IP_PREFIX) {
			r->off += len;
			continue;
		}
		memset(n, 0, sizeof(*n));
		n->p.af = BGP_AF_EVPN;
		n->label = BGP_LABEL_NONE;
		n->path_id = id;
		struct tern_rbuf one;
		tern_rbuf_init(&one, r->buf + r->off, len);
		r->off += len;
		return evpn_route(&one, type, len, n, at, err, errlen);
	}
}

static size_t evpn_size(const struct bgp_nlri *n)
{
	const struct bgp_prefix *p = &n->p;
	switch (p->evpn_type) {
	case EVPN_MAC_IP:
		return 2 + 30 + p->plen / 8u + (p->n_labels == 2 ? 6u : 3u);
	case EVPN_IMET:
		return 2 + 13 + p->plen / 8u;
	default:
		return 2 + (p->evpn_v6 ? 58u : 34u);
	}
}

static void put_u24(struct tern_wbuf *w, uint32_t v)
{
	tern_put_u8(w, (uint8_t)(v >> 16));
	tern_put_u8(w, (uint8_t)(v >> 8));
	tern_put_u8(w, (uint8_t)v);
}

static void evpn_put(struct tern_wbuf *w, const struct bgp_nlri *n, bool withdraw)
{
	const struct bgp_prefix *p = &n->p;
	/* A withdrawal's label fields carry no meaning (RFC 7432 §7.2): zero. */
	uint32_t label = withdraw || n->label == BGP_LABEL_NONE ? 0 : n->label & 0xffffff;
	tern_put_u8(w, p->evpn_type);
	tern_put_u8(w, (uint8_t)(evpn_size(n) - 2));
	tern_put_bytes(w, p->rd, 8);
	if (p->evpn_type == EVPN_MAC_IP) {
		tern_put_bytes(w, p->esi, 10);
		tern_put_bytes(w, p->eth_tag, 4);
		tern_put_u8(w, 48);
		tern_put_bytes(w, p->mac, 6);
		tern_put_u8(w, p->plen);
		tern_put_bytes(w, p->addr, p->plen / 8u);
		put_u24(w, label);
		if (p->n_labels == 2)
			tern_put_bytes(w, withdraw ? (const uint8_t[3]){ 0 } : p->label2, 3);
	} else if (p->evpn_type == EVPN_IMET) {
		tern_put_bytes(w, p->eth_tag, 4);
		tern_put_u8(w, p->plen);
		tern_put_bytes(w, p->addr, p->plen / 8u);
	} else {
		size_t alen = p->evpn_v6 ? 16 : 4;
		tern_put_bytes(w, p->esi, 10);
		tern_put_bytes(w, p->eth_tag, 4);
		tern_put_u8(w, p->plen);
		tern_put_bytes(w, p->addr, alen);
		tern_put_bytes(w, p->gw, alen);
		put_u24(w, label);
	}
}

void bgp_evpn_format(const struct bgp_prefix *p, char *buf, size_t len)
{
	char rd[32], ip[INET6_ADDRSTRLEN] = "";
	bgp_rd_format(p->rd, rd, sizeof(rd));
	uint32_t tag = (uint32_t)p->eth_tag[0] << 24 | (uint32_t)p->eth_tag[1] << 16 |
		       (uint32_t)p->eth_tag[2] << 8 | p->eth_tag[3];
	bool v6 = p->evpn_type == EVPN_IP_PREFIX ? p->evpn_v6 : p->plen == 128;
	if (p->evpn_type != EVPN_MAC_IP || p->plen)
		inet_ntop(v6 ? AF_INET6 : AF_INET, p->addr, ip, sizeof(ip));
	if (p->evpn_type == EVPN_MAC_IP)
		snprintf(buf, len, "[2][%s][%u][%02x:%02x:%02x:%02x:%02x:%02x][%s]", rd, tag,
			 p->mac[0], p->mac[1], p->mac[2], p->mac[3], p->mac[4], p->mac[5], ip);
	else if (p->evpn_type == EVPN_IMET)
		snprintf(buf, len, "[3][%s][%u][%s]", rd, tag, ip);
	else
		snprintf(buf, len, "[5][%s][%u][%s/%u]", rd, tag, ip, p->plen);
}

/* ---- NLRI: <length in bits> [labels] [RD] <prefix> (RFC 4271, 8277, 4364) ---- */

void bgp_nlri_iter_init(struct bgp_nlri_iter *it, int af, const uint8_t *p, size_t len,
			bool withdraw)
{
	bgp_nlri_iter_init_ap(it, af, p, len, withdraw, false);
}

void bgp_nlri_iter_init_ap(struct bgp_nlri_iter *it, int af, const uint8_t *p, size_t len,
			   bool withdraw, bool addpath)
{
	tern_rbuf_init(&it->r, p, len);
	it->af = (uint8_t)af;
	it->withdraw = withdraw;
	it->addpath = addpath;
}

/* RFC 7911 §3: the path identifier in front of an NLRI. */
static int path_id_get(struct bgp_nlri_iter *it, uint32_t *id, char *err, size_t errlen)
{
	size_t at = it->r.off;
	*id = tern_get_u32(&it->r);
	if (it->r.err) {
		snprintf(err, errlen, "%s NLRI at %zu: truncated path identifier",
			 bgp_af_table[it->af].name, at);
		return -EBADMSG;
	}
	return 0;
}

static int nlri_next(struct bgp_nlri_iter *it, struct bgp_nlri *n, char *err, size_t errlen)
{
	if (it->af == BGP_AF_EVPN)
		return evpn_next(it, n, err, errlen);
	const struct bgp_af_info *f = &bgp_af_table[it->af];
	struct tern_rbuf *r = &it->r;
	if (tern_rbuf_left(r) == 0)
		return 0;
	uint32_t id = 0;
	if (it->addpath && path_id_get(it, &id, err, errlen) < 0)
		return -EBADMSG;
	memset(n, 0, sizeof(*n));
	n->p.af = it->af;
	n->label = BGP_LABEL_NONE;
	n->path_id = id;
	size_t at = r->off;
	unsigned bits = tern_get_u8(r);
	if (f->label) {
		if (bits < 24) {
			snprintf(err, errlen, "%s NLRI at %zu: length %u leaves no room for a label",
				 f->name, at, bits);
			return -EBADMSG;
		}
		uint8_t l[3];
		tern_get_bytes(r, l, 3);
		if (r->err) {
			snprintf(err, errlen, "%s NLRI at %zu: truncated label", f->name, at);
			return -EBADMSG;
		}
		n->label = ((uint32_t)l[0] << 12) | ((uint32_t)l[1] << 4) | (l[2] >> 4);
		/* One label only (no Multiple Labels capability, RFC 8277 §2.1): the
		 * bottom-of-stack bit must be set, except in a withdrawal, whose
		 * label field carries no meaning (0x800000 has it clear). */
		if (!it->withdraw && !(l[2] & 1)) {
			snprintf(err, errlen, "%s NLRI at %zu: label stack of more than one label "
				 "(bottom-of-stack bit clear in label %u)", f->name, at, n->label);
			return -EBADMSG;
		}
		bits -= 24;
	}
	if (f->rd) {
		if (bits < 64) {
			snprintf(err, errlen, "%s NLRI at %zu: length leaves no room for the RD",
				 f->name, at);
			return -EBADMSG;
		}
		tern_get_bytes(r, n->p.rd, 8);
		if (r->err) {
			snprintf(err, errlen, "%s NLRI at %zu: truncated in the RD", f->name, at);
			return -EBADMSG;
		}
		bits -= 64;
	}
	if (bits > (unsigned)f->addr_len * 8) {
		snprintf(err, errlen, "%s NLRI at %zu: prefix length %u longer than %u", f->name,
			 at, bits, f->addr_len * 8);
		return -EBADMSG;
	}
	size_t bytes = (bits + 7) / 8;
	tern_get_bytes(r, n->p.addr, bytes);
	if (r->err) {
		snprintf(err, errlen, "%s NLRI at %zu: truncated (%zu prefix bytes, %zu left)",
			 f->name, at, bytes, tern_rbuf_left(r));
		return -EBADMSG;
	}
	if (bits % 8) /* keys compare with memcmp: clear the host bits */
		n->p.addr[bytes - 1] &= (uint8_t)(0xff << (8 - bits % 8));
	n->p.plen = (uint8_t)bits;
	return 1;
}

int bgp_nlri_next(struct bgp_nlri_iter *it, struct bgp_nlri *n, char *err, size_t errlen)
{
	return nlri_next(it, n, err, errlen);
}

size_t bgp_nlri_size(const struct bgp_nlri *n)
{
	return bgp_nlri_size_ap(n, false);
}

void bgp_nlri_put(struct tern_wbuf *w, const struct bgp_nlri *n, bool withdraw)
{
	bgp_nlri_put_ap(w, n, withdraw, false);
}

size_t bgp_nlri_size_ap(const struct bgp_nlri *n, bool addpath)
{
	size_t id = addpath ? 4 : 0;
	if (n->p.af == BGP_AF_EVPN)
		return id + evpn_size(n);
	const struct bgp_af_info *f = &bgp_af_table[n->p.af];
	return id + 1 + (f->label ? 3 : 0) + (f->rd ? 8 : 0) + (n->p.plen + 7u) / 8;
}

void bgp_nlri_put_ap(struct tern_wbuf *w, const struct bgp_nlri *n, bool withdraw, bool addpath)
{
	if (addpath)
		tern_put_u32(w, n->path_id);
	if (n->p.af == BGP_AF_EVPN) {
		evpn_put(w, n, withdraw);
		return;
	}
	const struct bgp_af_info *f = &bgp_af_table[n->p.af];
	unsigned bits = n->p.plen + (f->label ? 24u : 0) + (f->rd ? 64u : 0);
	tern_put_u8(w, (uint8_t)bits);
	if (f->label) {
		uint32_t v = withdraw ? 0x800000u : ((n->label & 0xfffff) << 4) | 1u;
		tern_put_u8(w, (uint8_t)(v >> 16));
		tern_put_u8(w, (uint8_t)(v >> 8));
		tern_put_u8(w, (uint8_t)v);
	}
	if (f->rd)
		tern_put_bytes(w, n->p.rd, 8);
	tern_put_bytes(w, n->p.addr, (n->p.plen + 7u) / 8);
}

/* ---- header ---- */

int bgp_hdr_parse(const uint8_t *buf, size_t len, struct bgp_hdr *h, struct bgp_err *e)
{
	if (len < BGP_HDR_LEN)
		return -EAGAIN;
	struct tern_rbuf r;
	tern_rbuf_init(&r, buf, BGP_HDR_LEN);
	uint8_t marker[16];
	tern_get_bytes(&r, marker, 16);
	h->len = tern_get_u16(&r);
	h->type = tern_get_u8(&r);
	for (int i = 0; i < 16; i++) {
		if (marker[i] != 0xff) {
			bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_HEADER, BGP_HDR_SYNC, NULL, 0,
				    "header: marker is not all ones");
			return -EBADMSG;
		}
	}
	static const uint16_t min[] = { 0, BGP_OPEN_MIN, BGP_UPDATE_MIN, BGP_NOTIF_MIN,
					BGP_HDR_LEN, BGP_RR_LEN };
	if (h->type < BGP_OPEN || h->type > BGP_ROUTE_REFRESH) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_HEADER, BGP_HDR_BAD_TYPE, &h->type, 1,
			    "header: unknown message type %u", h->type);
		return -EBADMSG;
	}
	bool bad = h->len < min[h->type] || h->len > BGP_MAX_MSG ||
		   (h->type == BGP_KEEPALIVE && h->len != BGP_HDR_LEN) ||
		   (h->type == BGP_ROUTE_REFRESH && h->len != BGP_RR_LEN);
	if (bad) {
		uint8_t d[2] = { buf[16], buf[17] };
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_HEADER, BGP_HDR_BAD_LEN, d, 2,
			    "header: length %u is wrong for message type %u", h->len, h->type);
		return -EBADMSG;
	}
	return 0;
}

size_t bgp_msg_begin(struct tern_wbuf *w, uint8_t type)
{
	static const uint8_t marker[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	size_t start = w->len;
	tern_put_bytes(w, marker, 16);
	tern_put_u16(w, 0);
	tern_put_u8(w, type);
	return start;
}

int bgp_msg_end(struct tern_wbuf *w, size_t start)
{
	if (w->err)
		return w->err;
	size_t len = w->len - start;
	if (len > BGP_MAX_MSG) {
		w->err = -ENOSPC;
		return w->err;
	}
	w->buf[start + 16] = (uint8_t)(len >> 8);
	w->buf[start + 17] = (uint8_t)len;
	return (int)len;
}

/* ---- OPEN and capabilities ---- */

enum {
	CAP_MP = 1, CAP_RR = 2, CAP_GR = 64, CAP_AS4 = 65, CAP_ADDPATH = 69, CAP_ERR = 70,
	CAP_RR_OLD = 128,
};

static int parse_cap(uint8_t code, struct tern_rbuf *v, size_t len, struct bgp_caps *c,
		     struct bgp_err *e)
{
	switch (code) {
	case CAP_MP: {
		if (len != 4)
			goto bad_len;
		uint16_t afi = tern_get_u16(v);
		tern_get_u8(v);
		uint8_t safi = tern_get_u8(v);
		int af = bgp_af_lookup(afi, safi);
		c->mp = true;
		if (af < 0)
			c->unknown_afs++;
		else
			c->afs |= BGP_AF_BIT(af);
		return 0;
	}
	case CAP_RR:
	case CAP_RR_OLD:
		c->route_refresh = true;
		tern_get_bytes(v, (uint8_t[255]){ 0 }, len);
		return 0;
	case CAP_ERR:
		c->enhanced_rr = true;
		tern_get_bytes(v, (uint8_t[255]){ 0 }, len);
		return 0;
	case CAP_AS4:
		if (len != 4)
			goto bad_len;
		c->as4 = true;
		c->as4_value = tern_get_u32(v);
		return 0;
	case CAP_GR: {
		if (len < 2 || (len - 2) % 4)
			goto bad_len;
		uint16_t ft = tern_get_u16(v);
		c->gr = true;
		c->gr_restarting = (ft & 0x8000) != 0;
		c->gr_time = ft & 0x0fff;
		for (size_t i = 0; i < (len - 2) / 4; i++) {
			uint16_t afi = tern_get_u16(v);
			uint8_t safi = tern_get_u8(v);
			uint8_t fl = tern_get_u8(v);
			int af = bgp_af_lookup(afi, safi);
			if (af >= 0) {
				c->gr_afs |= BGP_AF_BIT(af);
				if (fl & 0x80)
					c->gr_fwd |= BGP_AF_BIT(af);
			}
		}
		return 0;
	}
	case CAP_ADDPATH: /* RFC 7911 §4: AFI, SAFI, Send/Receive (1 receive, 2 send, 3 both) */
		if (len == 0 || len % 4)
			goto bad_len;
		for (size_t i = 0; i < len / 4; i++) {
			uint16_t afi = tern_get_u16(v);
			uint8_t safi = tern_get_u8(v);
			uint8_t sr = tern_get_u8(v);
			int af = bgp_af_lookup(afi, safi);
			if (af < 0)
				continue;
			if (sr & 1)
				c->addpath_rx |= BGP_AF_BIT(af);
			if (sr & 2)
				c->addpath_tx |= BGP_AF_BIT(af);
		}
		return 0;
	default:
		c->unknown++;
		tern_get_bytes(v, (uint8_t[255]){ 0 }, len);
		return 0;
	}
bad_len:
	bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_OPEN, 0, NULL, 0,
		    "OPEN: capability %u has a wrong length %zu", code, len);
	return -EBADMSG;
}

int bgp_open_parse(const uint8_t *body, size_t len, struct bgp_open *o, struct bgp_err *e)
{
	struct tern_rbuf r;
	memset(o, 0, sizeof(*o));
	tern_rbuf_init(&r, body, len);
	o->version = tern_get_u8(&r);
	o->my_as = tern_get_u16(&r);
	o->hold = tern_get_u16(&r);
	o->router_id = tern_get_u32(&r);
	uint8_t plen = tern_get_u8(&r);
	if (r.err || plen != tern_rbuf_left(&r)) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_OPEN, 0, NULL, 0,
			    "OPEN: optional parameters length %u but %zu bytes follow", plen,
			    tern_rbuf_left(&r));
		return -EBADMSG;
	}
	if (o->version != BGP_VERSION) {
		uint8_t d[2] = { 0, BGP_VERSION };
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_VERSION, d, 2,
			    "OPEN: version %u, tern speaks 4", o->version);
		return -EBADMSG;
	}
	if (o->hold == 1 || o->hold == 2) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_HOLD, NULL, 0,
			    "OPEN: hold time %u (must be 0 or at least 3)", o->hold);
		return -EBADMSG;
	}
	if (o->router_id == 0) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_BAD_ID, NULL, 0,
			    "OPEN: BGP identifier 0.0.0.0");
		return -EBADMSG;
	}
	while (tern_rbuf_left(&r) > 0) {
		uint8_t ptype = tern_get_u8(&r);
		uint8_t pl = tern_get_u8(&r);
		if (r.err || pl > tern_rbuf_left(&r)) {
			bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_OPEN, 0, NULL, 0,
				    "OPEN: optional parameter runs past the message");
			return -EBADMSG;
		}
		if (ptype != 2) { /* only Capabilities (RFC 5492) */
			bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_BAD_PARAM, NULL, 0,
				    "OPEN: unsupported optional parameter type %u", ptype);
			return -EBADMSG;
		}
		struct tern_rbuf p;
		tern_rbuf_init(&p, r.buf + r.off, pl);
		tern_get_bytes(&r, (uint8_t[255]){ 0 }, pl);
		while (tern_rbuf_left(&p) > 0) {
			uint8_t code = tern_get_u8(&p);
			uint8_t cl = tern_get_u8(&p);
			if (p.err || cl > tern_rbuf_left(&p)) {
				bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_OPEN, 0, NULL, 0,
					    "OPEN: capability %u runs past its parameter", code);
				return -EBADMSG;
			}
			struct tern_rbuf v;
			tern_rbuf_init(&v, p.buf + p.off, cl);
			tern_get_bytes(&p, (uint8_t[255]){ 0 }, cl);
			if (parse_cap(code, &v, cl, &o->caps, e) < 0)
				return -EBADMSG;
		}
	}
	return 0;
}

int bgp_open_encode(struct tern_wbuf *w, const struct bgp_open *o)
{
	size_t start = bgp_msg_begin(w, BGP_OPEN);
	const struct bgp_caps *c = &o->caps;
	tern_put_u8(w, BGP_VERSION);
	tern_put_u16(w, o->my_as);
	tern_put_u16(w, o->hold);
	tern_put_u32(w, o->router_id);
	size_t plen_off = w->len;
	tern_put_u8(w, 0);
	/* One Capabilities parameter holding every capability. */
	tern_put_u8(w, 2);
	size_t clen_off = w->len;
	tern_put_u8(w, 0);
	for (int af = 0; af < BGP_AF_COUNT; af++) {
		if (!(c->afs & BGP_AF_BIT(af)))
			continue;
		tern_put_u8(w, CAP_MP);
		tern_put_u8(w, 4);
		tern_put_u16(w, bgp_af_table[af].afi);
		tern_put_u8(w, 0);
		tern_put_u8(w, bgp_af_table[af].safi);
	}
	if (c->route_refresh) {
		tern_put_u8(w, CAP_RR);
		tern_put_u8(w, 0);
	}
	if (c->as4) {
		tern_put_u8(w, CAP_AS4);
		tern_put_u8(w, 4);
		tern_put_u32(w, c->as4_value);
	}
	if (c->gr) {
		tern_put_u8(w, CAP_GR);
		size_t gl = w->len;
		tern_put_u8(w, 0);
		tern_put_u16(w, (uint16_t)((c->gr_restarting ? 0x8000 : 0) | (c->gr_time & 0xfff)));
		for (int af = 0; af < BGP_AF_COUNT; af++) {
			if (!(c->gr_afs & BGP_AF_BIT(af)))
				continue;
			tern_put_u16(w, bgp_af_table[af].afi);
			tern_put_u8(w, bgp_af_table[af].safi);
			tern_put_u8(w, (c->gr_fwd & BGP_AF_BIT(af)) ? 0x80 : 0);
		}
		if (!w->err)
			w->buf[gl] = (uint8_t)(w->len - gl - 1);
	}
	if (c->addpath_rx | c->addpath_tx) {
		tern_put_u8(w, CAP_ADDPATH);
		size_t al = w->len;
		tern_put_u8(w, 0);
		for (int af = 0; af < BGP_AF_COUNT; af++) {
			uint8_t sr = (uint8_t)(((c->addpath_rx >> af) & 1) |
					       ((c->addpath_tx >> af) & 1) << 1);
			if (!sr)
				continue;
			tern_put_u16(w, bgp_af_table[af].afi);
			tern_put_u8(w, bgp_af_table[af].safi);
			tern_put_u8(w, sr);
		}
		if (!w->err)
			w->buf[al] = (uint8_t)(w->len - al - 1);
	}
	if (w->err)
		return w->err;
	size_t clen = w->len - clen_off - 1;
	if (clen > 255) {
		w->err = -ENOSPC;
		return w->err;
	}
	w->buf[clen_off] = (uint8_t)clen;
	w->buf[plen_off] = (uint8_t)(clen + 2);
	return bgp_msg_end(w, start);
}

/* ---- KEEPALIVE, NOTIFICATION, ROUTE-REFRESH ---- */

int bgp_keepalive_encode(struct tern_wbuf *w)
{
	size_t start = bgp_msg_begin(w, BGP_KEEPALIVE);
	return bgp_msg_end(w, start);
}

int bgp_notif_parse(const uint8_t *body, size_t len, struct bgp_notif *n, struct bgp_err *e)
{
	if (len < 2 || len > BGP_MAX_MSG - BGP_HDR_LEN) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_HEADER, BGP_HDR_BAD_LEN, NULL, 0,
			    "NOTIFICATION: body of %zu bytes", len);
		return -EBADMSG;
	}
	n->code = body[0];
	n->subcode = body[1];
	n->data = body + 2;
	n->data_len = (uint16_t)(len - 2);
	return 0;
}

int bgp_notif_encode(struct tern_wbuf *w, uint8_t code, uint8_t subcode, const void *data,
		     size_t data_len)
{
	size_t start = bgp_msg_begin(w, BGP_NOTIFICATION);
	tern_put_u8(w, code);
	tern_put_u8(w, subcode);
	if (data_len)
		tern_put_bytes(w, data, data_len);
	return bgp_msg_end(w, start);
}

const char *bgp_notif_name(uint8_t code, uint8_t subcode, char *buf, size_t len)
{
	static const char *const codes[] = { "?", "Message Header Error", "OPEN Message Error",
		"UPDATE Message Error", "Hold Timer Expired", "FSM Error", "Cease" };
	static const char *const upd[] = { "unspecific", "Malformed Attribute List",
		"Unrecognized Well-known Attribute", "Missing Well-known Attribute",
		"Attribute Flags Error", "Attribute Length Error", "Invalid ORIGIN Attribute",
		"(deprecated)", "Invalid NEXT_HOP Attribute", "Optional Attribute Error",
		"Invalid Network Field", "Malformed AS_PATH" };
	static const char *const opn[] = { "unspecific", "Unsupported Version Number",
		"Bad Peer AS", "Bad BGP Identifier", "Unsupported Optional Parameter",
		"(deprecated)", "Unacceptable Hold Time", "Unsupported Capability" };
	static const char *const hdr[] = { "unspecific", "Connection Not Synchronized",
		"Bad Message Length", "Bad Message Type" };
	static const char *const cease[] = { "unspecific", "Maximum Prefixes Reached",
		"Administrative Shutdown", "Peer De-configured", "Administrative Reset",
		"Connection Rejected", "Other Configuration Change",
		"Connection Collision Resolution", "Out of Resources" };
	const char *c = code < 7 ? codes[code] : "?";
	const char *s = NULL;
	if (code == BGP_NOTIF_UPDATE && subcode < 12)
		s = upd[subcode];
	else if (code == BGP_NOTIF_OPEN && subcode < 8)
		s = opn[subcode];
	else if (code == BGP_NOTIF_HEADER && subcode < 4)
		s = hdr[subcode];
	else if (code == BGP_NOTIF_CEASE && subcode < 9)
		s = cease[subcode];
	if (s)
		snprintf(buf, len, "%s / %s (%u/%u)", c, s, code, subcode);
	else
		snprintf(buf, len, "%s (%u/%u)", c, code, subcode);
	return buf;
}

int bgp_rr_parse(const uint8_t *body, size_t len, struct bgp_route_refresh *rr,
		 struct bgp_err *e)
{
	struct tern_rbuf r;
	tern_rbuf_init(&r, body, len);
	rr->afi = tern_get_u16(&r);
	rr->subtype = tern_get_u8(&r);
	rr->safi = tern_get_u8(&r);
	if (r.err || len != 4) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_HEADER, BGP_HDR_BAD_LEN, NULL, 0,
			    "ROUTE-REFRESH: body of %zu bytes, not 4", len);
		return -EBADMSG;
	}
	return 0;
}

int bgp_rr_encode(struct tern_wbuf *w, uint16_t afi, uint8_t safi)
{
	size_t start = bgp_msg_begin(w, BGP_ROUTE_REFRESH);
	tern_put_u16(w, afi);
	tern_put_u8(w, 0);
	tern_put_u8(w, safi);
	return bgp_msg_end(w, start);
}

/* ---- UPDATE ---- */

/* Walk a whole NLRI field once so that later walks cannot fail. */
static int nlri_validate(int af, struct bgp_bytes b, bool withdraw, bool addpath, char *err,
			 size_t errlen)
{
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	int rc;
	bgp_nlri_iter_init_ap(&it, af, b.p, b.len, withdraw, addpath);
	while ((rc = bgp_nlri_next(&it, &n, err, errlen)) == 1)
		;
	return rc;
}

int bgp_update_parse(const uint8_t *body, size_t len, const struct bgp_peer_ctx *ctx,
		     struct bgp_update *u, struct bgp_err *e)
{
	struct tern_rbuf r;
	char why[160];
	memset(&u->attrs, 0, sizeof(u->attrs));
	u->withdrawn = (struct bgp_bytes){ NULL, 0 };
	u->nlri = (struct bgp_bytes){ NULL, 0 };
	u->reach = u->unreach = (struct bgp_bytes){ NULL, 0 };
	u->reach_af = u->unreach_af = -1;
	tern_rbuf_init(&r, body, len);
	uint16_t wlen = tern_get_u16(&r);
	if (r.err || wlen > tern_rbuf_left(&r) || tern_rbuf_left(&r) - wlen < 2) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_UPDATE, BGP_UPD_ATTR_LIST, NULL, 0,
			    "UPDATE: withdrawn routes length %u overruns the message (%zu bytes)",
			    wlen, len);
		return -EBADMSG;
	}
	u->withdrawn = (struct bgp_bytes){ body + r.off, wlen };
	r.off += wlen;
	uint16_t alen = tern_get_u16(&r);
	if (alen > tern_rbuf_left(&r)) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_UPDATE, BGP_UPD_ATTR_LIST, NULL, 0,
			    "UPDATE: total path attribute length %u overruns the message "
			    "(%zu bytes left)", alen, tern_rbuf_left(&r));
		return -EBADMSG;
	}
	struct tern_rbuf ar;
	tern_rbuf_init(&ar, body + r.off, alen);
	r.off += alen;
	u->nlri = (struct bgp_bytes){ body + r.off, (uint16_t)tern_rbuf_left(&r) };
	/* RFC 7606 §5.3: an NLRI field that cannot be parsed means a reset. */
	bool ap4 = ctx->addpath & BGP_AF_BIT(BGP_AF_IPV4);
	if (nlri_validate(BGP_AF_IPV4, u->withdrawn, true, ap4, why, sizeof(why)) < 0) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_UPDATE, BGP_UPD_NETWORK, NULL, 0,
			    "UPDATE withdrawn routes: %s", why);
		return -EBADMSG;
	}
	if (nlri_validate(BGP_AF_IPV4, u->nlri, false, ap4, why, sizeof(why)) < 0) {
		bgp_err_set(e, BGP_ERR_RESET, BGP_NOTIF_UPDATE, BGP_UPD_NETWORK, NULL, 0,
			    "UPDATE NLRI: %s", why);
		return -EBADMSG;
	}
	if (bgp_attrs_parse(&ar, ctx, u, e) < 0)
		return -EBADMSG;
	const struct bgp_attrs *a = &u->attrs;
	/* Well-known mandatory attributes, when there is something to reach
	 * (RFC 4271 §5, RFC 4760 §3); missing ones: treat-as-withdraw (RFC 7606 §3 d). */
	bool reach = u->nlri.len > 0 || (a->has & BGP_HAS(BGP_ATTR_MP_REACH));
	if (reach) {
		uint8_t missing = 0;
		if (!(a->has & BGP_HAS(BGP_ATTR_ORIGIN)))
			missing = BGP_ATTR_ORIGIN;
		else if (!(a->has & BGP_HAS(BGP_ATTR_AS_PATH)))
			missing = BGP_ATTR_AS_PATH;
		else if (u->nlri.len > 0 && !(a->has & BGP_HAS(BGP_ATTR_NEXT_HOP)))
			missing = BGP_ATTR_NEXT_HOP;
		if (missing)
			bgp_err_set(e, BGP_ERR_WITHDRAW, BGP_NOTIF_UPDATE, BGP_UPD_MISSING, &missing,
				    1, "UPDATE: missing well-known attribute %s",
				    bgp_attr_name(missing));
	}
	if (u->nlri.len > 0 && !(ctx->afs & BGP_AF_BIT(BGP_AF_IPV4))) {
		/* NLRI of a family not negotiated: ignore it (RFC 4760 §6). */
		u->nlri.len = 0;
	}
	return 0;
}

int bgp_update_eor(const struct bgp_update *u, size_t body_len)
{
	if (body_len == 4)
		return BGP_AF_IPV4;
	if (u->unreach_af >= 0 && u->unreach.len == 0 && u->attrs.has == BGP_HAS(BGP_ATTR_MP_UNREACH) &&
	    u->withdrawn.len == 0 && u->nlri.len == 0)
		return u->unreach_af;
	return -1;
}

static size_t mp_nh_size(const struct bgp_attrs *a, int af)
{
	return (bgp_af_table[af].rd ? 8u : 0u) + a->nh_len;
}

size_t bgp_attrs_size(const struct bgp_attrs *a, int af)
{
	uint8_t tmp[BGP_MAX_MSG];
	struct tern_wbuf w;
	tern_wbuf_init(&w, tmp, sizeof(tmp));
	bgp_attrs_put(&w, a, af == BGP_AF_IPV4);
	size_t n = w.len;
	if (af != BGP_AF_IPV4)
		n += 4 + 2 + 3 + 1 + mp_nh_size(a, af) + 1; /* MP_REACH header, ext length */
	return n;
}

/* The MP_REACH or MP_UNREACH attribute, always with an extended length so
 * that its size can be patched after the NLRI are written. */
static void put_mp(struct tern_wbuf *w, int af, const struct bgp_attrs *a,
		   const struct bgp_nlri *n, size_t cnt, bool reach, bool addpath)
{
	const struct bgp_af_info *f = &bgp_af_table[af];
	tern_put_u8(w, BGP_AF_OPTIONAL | BGP_AF_EXTLEN);
	tern_put_u8(w, reach ? BGP_ATTR_MP_REACH : BGP_ATTR_MP_UNREACH);
	size_t loff = w->len;
	tern_put_u16(w, 0);
	tern_put_u16(w, f->afi);
	tern_put_u8(w, f->safi);
	if (reach) {
		tern_put_u8(w, (uint8_t)mp_nh_size(a, af));
		if (f->rd)
			tern_put_bytes(w, (uint8_t[8]){ 0 }, 8);
		tern_put_bytes(w, a->nh, a->nh_len);
		tern_put_u8(w, 0); /* reserved */
	}
	for (size_t i = 0; i < cnt; i++)
		bgp_nlri_put_ap(w, &n[i], !reach, addpath);
	if (!w->err) {
		size_t l = w->len - loff - 2;
		w->buf[loff] = (uint8_t)(l >> 8);
		w->buf[loff + 1] = (uint8_t)l;
	}
}

int bgp_update_encode(struct tern_wbuf *w, int af, const struct bgp_attrs *a,
		      const struct bgp_nlri *reach, size_t n_reach,
		      const struct bgp_nlri *unreach, size_t n_unreach)
{
	return bgp_update_encode_ap(w, af, a, reach, n_reach, unreach, n_unreach, false);
}

int bgp_update_encode_ap(struct tern_wbuf *w, int af, const struct bgp_attrs *a,
			 const struct bgp_nlri *reach, size_t n_reach,
			 const struct bgp_nlri *unreach, size_t n_unreach, bool addpath)
{
	size_t start = bgp_msg_begin(w, BGP_UPDATE);
	size_t woff = w->len;
	tern_put_u16(w, 0);
	if (af == BGP_AF_IPV4)
		for (size_t i = 0; i < n_unreach; i++)
			bgp_nlri_put_ap(w, &unreach[i], true, addpath);
	if (!w->err) {
		size_t l = w->len - woff - 2;
		w->buf[woff] = (uint8_t)(l >> 8);
		w->buf[woff + 1] = (uint8_t)l;
	}
	size_t aoff = w->len;
	tern_put_u16(w, 0);
	if (af != BGP_AF_IPV4 && n_unreach)
		put_mp(w, af, a, unreach, n_unreach, false, addpath);
	if (n_reach) {
		bgp_attrs_put(w, a, af == BGP_AF_IPV4);
		if (af != BGP_AF_IPV4)
			put_mp(w, af, a, reach, n_reach, true, addpath);
	}
	if (!w->err) {
		size_t l = w->len - aoff - 2;
		w->buf[aoff] = (uint8_t)(l >> 8);
		w->buf[aoff + 1] = (uint8_t)l;
	}
	if (af == BGP_AF_IPV4)
		for (size_t i = 0; i < n_reach; i++)
			bgp_nlri_put_ap(w, &reach[i], false, addpath);
	return bgp_msg_end(w, start);
}

int bgp_eor_encode(struct tern_wbuf *w, int af)
{
	if (af == BGP_AF_IPV4) {
		size_t start = bgp_msg_begin(w, BGP_UPDATE);
		tern_put_u32(w, 0);
		return bgp_msg_end(w, start);
	}
	/* An MP_UNREACH for the family with an empty NLRI field. */
	size_t start = bgp_msg_begin(w, BGP_UPDATE);
	tern_put_u16(w, 0);
	tern_put_u16(w, 7); /* flags, code, 2-byte length, AFI, SAFI */
	put_mp(w, af, NULL, NULL, 0, false, false);
	return bgp_msg_end(w, start);
}
