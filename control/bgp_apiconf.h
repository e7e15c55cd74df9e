/*
 * DOC: bgp_apiconf.h — tern-control's configuration from tern-api objects:
 * the file's configuration (the process settings, and any [neighbor] and
 * [instance] sections) plus what the objects say. Pure: JSON in, struct
 * bgp_conf out; the watch that feeds it is bgp_api.c.
 *
 * - Identity: the own bgp-router object (named by --name: its name, fq_name
 *   or UUID) gives the AS (asn) and the router id (its address when IPv4;
 *   else the file's router-id). cluster-id is the file's, else the router id.
 * - Neighbours: every bgp-router that the own object lists in "peers", or
 *   that lists the own object in its "peers" (a peering is written once, on
 *   either side). Address (port 179), asn, families (address_families of the
 *   peer, of the own object when the peer has none; both: the common ones;
 *   neither: vpnv4 vpnv6 evpn), hold_time (the peer's, the own object's, the
 *   file's), md5_key (the peer's, else the own object's).
 * - Instances: one per virtual-network, named by its fq_name
 *   (project:name), with its route_target_import / route_target_export and
 *   vni; no route distinguisher and no routes of its own (the agents
 *   originate a network's routes).
 * - The file wins a clash: a neighbour address or instance name it already
 *   has is skipped, with a warning.
 */
#ifndef TERN_BGP_APICONF_H
#define TERN_BGP_APICONF_H

#include <jansson.h>
#include <stddef.h>

#include "bgp_conf.h"

/* Families used when neither side names any. */
#define BGP_APICONF_DEFAULT_AFS \
	(BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6) | BGP_AF_BIT(BGP_AF_EVPN))

/*
 * out = base + what routers (uuid -> bgp-router object) and vns (uuid ->
 * virtual-network object) say for the router named self. Objects are as
 * tern-api stores them (validated). Returns 0, with anything skipped in warn
 * ("; "-separated, "" when nothing: one line for the log); -ENOENT when self
 * is not among routers; -EINVAL when the identity is unusable (an IPv6
 * address and no router-id in the file); -ENOMEM. err says which. out holds
 * nothing or an earlier result (its arrays are freed first, bgp_conf_free);
 * on failure it holds nothing.
 */
int bgp_apiconf_build(const struct bgp_conf *base, json_t *routers, json_t *vns,
		      const char *self, struct bgp_conf *out, char *warn, size_t warnlen,
		      char *err, size_t errlen);

/* Families of an address_families list (inet, inet6, inet-vpn, inet6-vpn,
 * e-vpn, route-target) as BGP_AF_BIT()s; unknown names are ignored. */
uint32_t bgp_apiconf_families(json_t *list);

#endif /* TERN_BGP_APICONF_H */
