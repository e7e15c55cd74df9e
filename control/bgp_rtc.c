/*
 * DOC: bgp_rtc.c — see bgp_rtc.h. The memberships of a peer are collected
 * again from the rtc table whenever that peer's rtc routes change; they are
 * few (one per imported target of the peer), so the match is a plain scan.
 */
#include "bgp_rtc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct collect_arg {
	uint16_t peer;
	struct bgp_rtc_set *s;
};

static int collect_one(struct bgp_dest *d, void *arg)
{
	struct collect_arg *c = arg;
	struct bgp_rtc_set *s = c->s;
	for (const struct bgp_path *p = d->paths; p; p = p->next) {
		if (p->peer != c->peer)
			continue;
		/* Lengths 1..31 cut into the origin AS: RFC 4684 §4 gives them no
		 * meaning; like the default, they constrain nothing. */
		if (d->p.plen < 32 || s->n == BGP_RTC_MAX) {
			s->all = true;
			return 0;
		}
		s->m[s->n].plen = d->p.plen;
		memcpy(s->m[s->n].key, d->p.addr, 12);
		s->n++;
	}
	return 0;
}

void bgp_rtc_collect(struct bgp_rib *rib, uint16_t peer, struct bgp_rtc_set *s)
{
	s->all = false;
	s->n = 0;
	struct collect_arg c = { peer, s };
	bgp_rib_walk(rib, BGP_AF_RTC, collect_one, &c);
}

static bool is_rt(const uint8_t *ec)
{
	return ec[1] == 0x02 && (ec[0] == 0x00 || ec[0] == 0x01 || ec[0] == 0x02);
}

/* The first bits of rt equal to those of the membership's target part. */
static bool prefix_match(const struct bgp_rtc_member *m, const uint8_t *rt)
{
	unsigned bits = m->plen - 32u;
	const uint8_t *k = m->key + 4;
	if (memcmp(k, rt, bits / 8) != 0)
		return false;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
		if ((k[bits / 8] & mask) != (rt[bits / 8] & mask))
			return false;
	}
	return true;
}

bool bgp_rtc_match(const struct bgp_rtc_set *s, const struct bgp_attrs *a)
{
	if (s->all)
		return true;
	if (!(a->has & BGP_HAS(BGP_ATTR_EXT_COMMUNITIES)))
		return false;
	for (size_t i = 0; i + 8 <= a->ext_communities.len; i += 8) {
		const uint8_t *ec = a->ext_communities.p + i;
		if (!is_rt(ec))
			continue;
		for (unsigned k = 0; k < s->n; k++)
			if (prefix_match(&s->m[k], ec))
				return true;
	}
	return false;
}

int bgp_rtc_originate_default(struct bgp_rib *rib, uint32_t router_id)
{
	struct bgp_attrs a = { 0 };
	static const uint8_t none[1] = { 0 };
	a.has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) | BGP_HAS(BGP_ATTR_LOCAL_PREF);
	a.origin = BGP_ORIGIN_IGP;
	a.as_path = (struct bgp_bytes){ none, 0 };
	a.local_pref = BGP_DEFAULT_LOCAL_PREF;
	a.nh_len = 4;
	a.nh[0] = (uint8_t)(router_id >> 24);
	a.nh[1] = (uint8_t)(router_id >> 16);
	a.nh[2] = (uint8_t)(router_id >> 8);
	a.nh[3] = (uint8_t)router_id;
	struct bgp_nlri n = { .p = { .af = BGP_AF_RTC }, .label = BGP_LABEL_NONE };
	return bgp_rib_update(rib, BGP_RIB_LOCAL, &n, &a) < 0 ? -ENOMEM : 0;
}

void bgp_rtc_format(const struct bgp_prefix *p, char *buf, size_t len)
{
	if (p->plen == 0) {
		snprintf(buf, len, "default");
		return;
	}
	uint32_t as = (uint32_t)p->addr[0] << 24 | (uint32_t)p->addr[1] << 16 |
		      (uint32_t)p->addr[2] << 8 | p->addr[3];
	char rt[48];
	if (p->plen == 96)
		bgp_ext_format(p->addr + 4, rt, sizeof(rt));
	else
		snprintf(rt, sizeof(rt), "%02x%02x%02x%02x%02x%02x%02x%02x", p->addr[4],
			 p->addr[5], p->addr[6], p->addr[7], p->addr[8], p->addr[9], p->addr[10],
			 p->addr[11]);
	snprintf(buf, len, "%u:%s/%u", as, rt, p->plen);
}
