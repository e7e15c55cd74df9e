/*
 * DOC: bgp_rtc.h — route-target constraint (RFC 4684): the membership a peer
 * announced (its routes of family rtc: origin AS + route-target prefix) and
 * the test of a VPN route against it. A peer that negotiated rtc gets a
 * VPN/EVPN route only when one of the route's targets matches one of its
 * membership prefixes (length 0, the default, matches every route).
 */
#ifndef TERN_BGP_RTC_H
#define TERN_BGP_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "bgp_rib.h"

#define BGP_RTC_MAX 256   /* memberships kept per peer; more: treated as "all" */

struct bgp_rtc_member {
	uint8_t plen;         /* 0, or 32..96 */
	uint8_t key[12];      /* origin AS, route target */
};

struct bgp_rtc_set {
	bool all;             /* a default (or too many) membership: no constraint */
	uint16_t n;
	struct bgp_rtc_member m[BGP_RTC_MAX];
};

/* The memberships peer holds in rib's rtc table. */
void bgp_rtc_collect(struct bgp_rib *rib, uint16_t peer, struct bgp_rtc_set *s);
/* True when a route with attributes a may go to a peer with memberships s:
 * one of its route targets (RFC 4360 types 0x00, 0x01, 0x02, subtype 0x02)
 * matches the route-target part of one membership prefix. */
bool bgp_rtc_match(const struct bgp_rtc_set *s, const struct bgp_attrs *a);
/* Families whose routes the constraint filters. */
static inline bool bgp_rtc_filtered(int af)
{
	return af == BGP_AF_VPNV4 || af == BGP_AF_VPNV6 || af == BGP_AF_EVPN;
}
/* Originate the default membership (prefix length 0) as BGP_RIB_LOCAL, next
 * hop router_id (host order): as a route reflector, tern wants every VPN
 * route (RFC 4684 §3.2). Returns 0 or -ENOMEM. */
int bgp_rtc_originate_default(struct bgp_rib *rib, uint32_t router_id);
/* "65000:rt:65000:1/96", "default" for length 0. */
void bgp_rtc_format(const struct bgp_prefix *p, char *buf, size_t len);

#endif /* TERN_BGP_RTC_H */
